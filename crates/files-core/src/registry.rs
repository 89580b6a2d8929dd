//! URL schemes → adapters. Each adapter crate registers an [`AdapterFactory`] with
//! [`inventory::submit!`]; [`Files::from_url`](crate::Files::from_url) finds it.
//!
//! A crate nothing names is not linked, and its registration vanishes with it: the umbrella
//! crate `files` names every enabled adapter crate for that reason, and [`register`] is the
//! explicit fallback for builds that link adapters some other way.

use std::sync::{Arc, Mutex};

use crate::adapter::Adapter;
use crate::client::Files;
use crate::error::{Error, Result};

/// Builds adapters for one URL scheme.
#[derive(Debug)]
pub struct AdapterFactory {
    /// The scheme, e.g. `file`, `s3`.
    pub scheme: &'static str,
    /// The provider name the adapters report.
    pub provider: &'static str,
    /// Builds the adapter for the store a URL names (`s3://bucket`, `file:///srv/store`).
    pub store: fn(&url::Url) -> Result<Arc<dyn Adapter>>,
    /// Splits an object URL (`s3://bucket/key`, `file:///srv/store/key`) into the store's
    /// adapter and the key.
    pub object: ObjectOpener,
}

/// Splits an object URL into its store's adapter and the key.
pub type ObjectOpener = fn(&url::Url) -> Result<(Arc<dyn Adapter>, String)>;

inventory::collect!(AdapterFactory);

static EXPLICIT: Mutex<Vec<&'static AdapterFactory>> = Mutex::new(Vec::new());

/// Registers a factory at run time (for builds where the linker dropped the `inventory` entry).
pub fn register(factory: &'static AdapterFactory) {
    let mut list = EXPLICIT.lock().expect("registry lock");
    if !list.iter().any(|f| std::ptr::eq(*f, factory)) {
        list.push(factory);
    }
}

/// Every registered factory: explicit registrations first, then `inventory`'s.
pub fn factories() -> Vec<&'static AdapterFactory> {
    let mut out: Vec<&'static AdapterFactory> = EXPLICIT.lock().expect("registry lock").clone();
    for f in inventory::iter::<AdapterFactory> {
        if !out.iter().any(|g| g.scheme == f.scheme) {
            out.push(f);
        }
    }
    out
}

/// The schemes that can be opened in this build.
pub fn schemes() -> Vec<&'static str> {
    let mut s: Vec<_> = factories().iter().map(|f| f.scheme).collect();
    s.sort_unstable();
    s.dedup();
    s
}

fn parse(url: &str) -> Result<(url::Url, &'static AdapterFactory)> {
    let parsed = url::Url::parse(url).map_err(|e| {
        Error::invalid_input(format!(
            "`{}` is not a valid URL: {e}",
            Error::redacted(url)
        ))
    })?;
    let factory = factories()
        .into_iter()
        .find(|f| f.scheme == parsed.scheme())
        .ok_or_else(|| {
            Error::not_supported(format!(
                "no adapter for URL scheme `{}` in this build (available: {})",
                parsed.scheme(),
                schemes().join(", ")
            ))
        })?;
    Ok((parsed, factory))
}

/// Opens the store a URL names.
pub fn open_store(url: &str) -> Result<Files> {
    let (parsed, factory) = parse(url)?;
    (factory.store)(&parsed).map(Files::from_arc)
}

/// Opens an object URL: the client for its store, and the key.
pub fn open_object(url: &str) -> Result<(Files, String)> {
    let (parsed, factory) = parse(url)?;
    let (adapter, key) = (factory.object)(&parsed)?;
    Ok((Files::from_arc(adapter), key))
}

/// The URL's path without its leading `/`, percent-decoded: the key of `scheme://store/key`.
pub fn url_key(url: &url::Url) -> Result<String> {
    let path = url.path().trim_start_matches('/');
    percent_decode(path)
}

/// Decodes `%XX` escapes (UTF-8).
pub fn percent_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| Error::invalid_input("the URL path is not valid UTF-8"))
}
