//! # files-gcs
//!
//! The Google Cloud Storage adapter of the `files` storage SDK, over GCS's JSON API with
//! `reqwest`, and the Firebase Storage preset on the same machinery ([`GcsAdapter::firebase`]).
//!
//! ```no_run
//! # async fn demo() -> files_core::Result<()> {
//! use files_core::{Body, Files};
//! use files_gcs::GcsAdapter;
//!
//! // Application default credentials ...
//! let gcs = GcsAdapter::builder().bucket("backups").build()?;
//! // ... or a URL: gs://bucket/key (credentials from the environment).
//! let (files, key) = files_core::registry::open_object("gs://backups/db.tar")?;
//! files
//!     .upload(key, Body::from_path("db.tar").await?)
//!     .checkpoint("db.tar.upload.json")
//!     .await?;
//! # let _ = gcs; Ok(()) }
//! ```
//!
//! ## Authentication
//!
//! In order: [`GcsBuilder::access_token`] (a fixed OAuth 2.0 token, not refreshed),
//! [`GcsBuilder::service_account_json`] / [`GcsBuilder::service_account_file`],
//! [`GcsBuilder::anonymous`] (emulators, public buckets), else application default
//! credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's file, the metadata server) through
//! google-cloud-auth (feature `google-auth`, on by default). With `STORAGE_EMULATOR_HOST` set
//! and nothing else configured, requests go anonymously to the emulator. Building the adapter
//! makes no network call.
//!
//! ## Uploads and resume tokens
//!
//! A body up to the part size (default 8 MiB) is one multipart media upload
//! (`uploadType=multipart`). A larger one runs in a **resumable session**
//! ([`resumable`]): chunks that are multiples of 256 KiB, each `PUT` with
//! `Content-Range: bytes S-E/TOTAL`; resume asks the session where it stands with
//! `Content-Range: bytes */TOTAL`. The token's session is the **session URL, a bearer
//! credential**: anyone holding it can write the object until the session ends (one week).
//! It is marked sensitive (redacted in `Debug`, never in an error or log), and a token whose
//! session URL is not on the configured endpoint is refused before any request. Store tokens
//! and checkpoint files like secrets.

#![deny(missing_docs)]

mod adapter;
mod api;
mod config;
pub mod credentials;
pub mod firebase;
pub mod resumable;
mod sign;
mod upload;

pub use adapter::GcsAdapter;
pub use config::{CLOUD_PLATFORM_SCOPE, GcsBuilder};

/// Google's public endpoint of the JSON API.
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";
/// The environment variable naming an emulator (`host:port` or a URL).
pub const EMULATOR_ENV: &str = "STORAGE_EMULATOR_HOST";
/// The environment variable that turns the gcp-storage-emulator workarounds on (`1`/`true`).
pub const EMULATOR_QUIRKS_ENV: &str = "FILES_GCS_EMULATOR_QUIRKS";
/// The environment variable holding a fixed OAuth 2.0 access token (URL-opened adapters).
pub const ACCESS_TOKEN_ENV: &str = "GCS_ACCESS_TOKEN";

/// The factory of the `gs` scheme: `gs://bucket/key` (`?endpoint=URL` for an emulator, a fake
/// or another host).
pub const FACTORY: files_core::AdapterFactory =
    files_core::AdapterFactory::of::<GcsAdapter>("gs", "gcs");

files_core::register_factories!(FACTORY, firebase::FACTORY);

#[doc(hidden)]
pub mod fuzzing {
    //! The hand-written parsers of this crate, exposed for the fuzz targets in `fuzz/` and
    //! their corpus replay test; not a stable API.

    /// Bytes persisted according to a resumable session's `Range` header.
    pub use crate::resumable::persisted_from_range;

    /// Parses an RFC 3339 time as GCS answers it.
    pub fn parse_rfc3339(s: &str) -> Option<std::time::SystemTime> {
        crate::api::parse_rfc3339(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_has_no_token() {
        let a = GcsAdapter::builder()
            .ignore_env()
            .bucket("bkt")
            .access_token("ya29.SECRET")
            .build()
            .unwrap();
        assert!(!format!("{a:?}").contains("SECRET"));
    }
}
