//! # files-azure
//!
//! The Azure Blob Storage adapter of the `files` storage SDK: block blobs in one container,
//! with uploads that survive a crash (staged blocks, resumed in a later process from a small
//! token that holds no credential).
//!
//! ```no_run
//! # async fn demo() -> files_core::Result<()> {
//! use files_core::{Body, Files};
//! use files_azure::AzureAdapter;
//!
//! // Shared Key ...
//! let azure = AzureAdapter::builder()
//!     .account("myaccount")
//!     .container("backups")
//!     .access_key(std::env::var("AZURE_STORAGE_KEY").unwrap_or_default())
//!     .build()?;
//! // ... or Azurite through its development connection string ...
//! let azurite = AzureAdapter::builder()
//!     .connection_string("UseDevelopmentStorage=true")
//!     .container("test")
//!     .build()?;
//! // ... or a URL (credentials always come from the environment).
//! let from_url = AzureAdapter::from_url("az://backups?account=myaccount")?;
//! let files = Files::new(azure);
//! files
//!     .upload("db.tar", Body::from_path("db.tar").await?)
//!     .checkpoint("db.tar.upload.json")
//!     .await?;
//! # let _ = (azurite, from_url); Ok(()) }
//! ```
//!
//! ## Authorization
//!
//! Shared Key (the account key; requests are signed here with HMAC-SHA256 from `azure_core`),
//! a SAS token, a connection string (including Azurite's `UseDevelopmentStorage=true` and
//! explicit `BlobEndpoint=...`), Microsoft Entra ID through any `azure_core`
//! `TokenCredential` ([`AzureBuilder::token_credential`]; feature `entra` adds
//! `azure_identity`'s developer-tools credential), or anonymous. Secrets never appear in
//! `Debug` output, errors, logs or tokens.
//!
//! ## The official client
//!
//! Block staging, block lists, commits, properties, deletes, copies and container creation go
//! through the official `azure_storage_blob` client, with no retries of its own (the core
//! decides), this adapter's reqwest client as its transport, and a Shared Key signing policy
//! (the official crate has none). What it lacks — listing with a delimiter, SAS generation
//! from an account key, a streamed Put Blob and a streamed ranged Get Blob — is sent over the
//! same client with the same signing (`x-ms-version` [`API_VERSION`]), over the HTTP kit
//! `files-http` (percent-encoding, dates, the status table, transport errors). See
//! `docs/azure.md`.
//!
//! ## Errors
//!
//! An answer's kind comes from the service's error code where Azure's table names one
//! ([`classify_error`]), else from the status as every HTTP provider reads it (`408` a timeout,
//! `507` storage full, `429` and `5xx` transient, with `Retry-After` carried).
//!
//! ## Uploads and tokens
//!
//! A body up to the part size (default 8 MiB) is one Put Blob. A larger one is staged as
//! blocks (Put Block, in parallel) and committed with Put Block List; see the [`blocks`]
//! module for block ids, the session marker, what resume checks and exactly what `abort`
//! does. Limits: blocks of at most 4000 MiB, at most 50,000 blocks.
#![deny(missing_docs)]

use std::sync::Arc;

use files_core::{Adapter, Error, Result};

mod adapter;
mod api;
pub mod blocks;
mod config;
mod errors;
mod http;
mod sdk;

pub use adapter::AzureAdapter;
pub use blocks::{BLOCK_ID_PREFIX, MAX_BLOCK_SIZE, MAX_BLOCKS, block_id, part_of_block_id};
pub use config::{
    AzureBuilder, DEFAULT_PART_SIZE, DEV_ACCOUNT, DEV_ACCOUNT_KEY, DEV_BLOB_ENDPOINT,
};
pub use errors::{classify as classify_error, service_error};
pub use http::API_VERSION;

pub(crate) use adapter::az_header;

/// The provider name of the Azure adapter.
pub const PROVIDER: &str = "azure";

// ---------------------------------------------------------------------------- URL schemes

impl files_core::FromUrl for AzureAdapter {
    /// `az://container/...` or `azure://container/...` with `account=`, `endpoint=`;
    /// credentials from the standard `AZURE_STORAGE_*` variables.
    fn from_url(url: &url::Url) -> Result<AzureAdapter> {
        config::builder_from_url(url)?.0.build()
    }
}

/// An object URL: the container's adapter and a key, which must not be empty.
fn open_object(url: &url::Url) -> Result<(Arc<dyn Adapter>, String)> {
    let (builder, key) = config::builder_from_url(url)?;
    if key.is_empty() {
        return Err(Error::invalid_input(format!(
            "the URL names no object (`{}://container/key`)",
            url.scheme()
        )));
    }
    Ok((Arc::new(builder.build()?), key))
}

/// The factory of the `az` scheme: `az://container/key?account=..&endpoint=..`.
pub const FACTORY: files_core::AdapterFactory = files_core::AdapterFactory {
    object: open_object,
    ..files_core::AdapterFactory::of::<AzureAdapter>("az", PROVIDER)
};

/// The factory of the `azure` scheme (same as `az`).
pub const FACTORY_AZURE: files_core::AdapterFactory = files_core::AdapterFactory {
    scheme: "azure",
    ..FACTORY
};

files_core::register_factories!(FACTORY, FACTORY_AZURE);

#[doc(hidden)]
pub mod fuzzing {
    //! The parsers of this crate's answers, exposed for the fuzz targets in `fuzz/` and their
    //! corpus replay test; not a stable API.
    //!
    //! [`list_blobs`], [`parse_blocks`] and [`error_body`] are what the adapter reads answers
    //! with (serde types over quick-xml).

    use std::time::SystemTime;

    use files_core::{ListPage, Result};

    /// A List Blobs answer as the adapter reads it: objects, prefixes and the cursor.
    pub fn list_blobs(xml: &str) -> Result<ListPage> {
        Ok(crate::api::EnumerationResults::parse(xml)?.into_page())
    }

    /// An error answer's body as the adapter reads it: `(Code, Message)`.
    pub fn error_body(body: &[u8]) -> (Option<String>, Option<String>) {
        let b = crate::errors::ErrorBody::parse(body);
        (b.code, b.message)
    }

    /// The `(id, size)` blocks of a Get Block List answer's `section`.
    pub fn parse_blocks(xml: &str, section: &str) -> Vec<(String, u64)> {
        crate::blocks::parse_blocks(xml, section)
    }

    /// Parses an HTTP date (`Last-Modified`), as the adapter does (the kit's parser).
    pub fn parse_http_date(s: &str) -> Option<SystemTime> {
        files_http::headers::parse_http_date(s)
    }

    /// Formats an HTTP date, as sent in `x-ms-date` (the kit's formatter).
    pub fn http_date(t: SystemTime) -> String {
        files_http::headers::http_date(t)
    }
}

#[cfg(test)]
mod tests {
    use files_core::ErrorKind;

    use super::*;

    #[test]
    fn urls() {
        register();
        let (files, key) = files_core::registry::open_object(
            "az://ctr/dir/a%20b.txt?account=acct&endpoint=http://127.0.0.1:9/acct",
        )
        .unwrap();
        assert_eq!(key, "dir/a b.txt");
        assert_eq!(files.adapter().target(), "acct/ctr@127.0.0.1:9/acct");
        for bad in [
            "az://ctr/k?account=acct&sig=abc",
            "az://ctr/k?account=acct&nope=1",
            "az://ctr?account=acct",
        ] {
            let e = files_core::registry::open_object(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
            assert!(!e.to_string().contains("abc"));
        }
    }
}
