//! `memory://` URLs: the host names the store, the path the object.

use std::sync::Arc;

use files_core::adapter::validate_key_default;
use files_core::{Adapter, Error, Result};

use crate::adapter::MemoryAdapter;

fn store_name(url: &url::Url) -> Result<String> {
    let host = files_core::registry::percent_decode(url.host_str().unwrap_or(""))?;
    Ok(if host.is_empty() {
        "default".to_string()
    } else {
        host
    })
}
impl files_core::FromUrl for MemoryAdapter {
    /// `memory://name/...`: [`MemoryAdapter::named`]`(name)` (an empty host is `default`).
    fn from_url(url: &url::Url) -> Result<MemoryAdapter> {
        Ok(MemoryAdapter::named(store_name(url)?))
    }
}

pub(crate) fn open_object(url: &url::Url) -> Result<(Arc<dyn Adapter>, String)> {
    let key = files_core::registry::url_key(url)?;
    if key.is_empty() {
        return Err(Error::invalid_input(
            "the memory URL names no object (expected memory://store/key)",
        ));
    }
    validate_key_default(&key)?;
    Ok((Arc::new(MemoryAdapter::named(store_name(url)?)), key))
}
