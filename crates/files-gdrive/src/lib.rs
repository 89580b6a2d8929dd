//! # files-gdrive
//!
//! The Google Drive adapter of the `files` storage SDK, over the Drive v3 REST API with
//! `reqwest`.
//!
//! ```no_run
//! # async fn demo() -> files_core::Result<()> {
//! use files_core::{Body, Files};
//! use files_gdrive::GDriveAdapter;
//!
//! let drive = GDriveAdapter::builder()
//!     .access_token("ya29....")
//!     .root_folder("1AbCdEf...") // default: "root", the user's My Drive
//!     .build()?;
//! let files = Files::new(drive);
//! files.upload("backups/db.tar", Body::from_path("db.tar").await?).await?;
//! # Ok(()) }
//! ```
//!
//! ## Keys and file ids
//!
//! Drive names files by id; a key is a `/`-separated path under the root folder. Each segment
//! is resolved with `files.list` (`name = '…' and '<parent>' in parents and trashed = false`);
//! folders (`application/vnd.google-apps.folder`) are created on upload. Drive allows several
//! files of one name in one folder: **the oldest (smallest `createdTime`, then smallest id)
//! wins** for every read, write, copy and rename, listings show the key once, and `delete`
//! removes every file of that name. A file and a folder of one name coexist (like `a` and
//! `a/b` in an object store).
//!
//! ## Uploads and resume tokens
//!
//! Small bodies go in one `uploadType=multipart` request; larger ones, and resumable uploads,
//! run in a Drive resumable session (`uploadType=resumable`) started with `POST` (new file) or
//! `PATCH` of the existing file id (so an overwrite never makes a duplicate). The session
//! protocol (256 KiB-aligned chunks, `308`/`Range` status, `DELETE` to cancel, `404`/`410` =
//! expired) is shared with Cloud Storage: [`files_http::session::Google`] (the HTTP kit's `Content-Range` session driver). The token's session is
//! the **session URL, a bearer credential**: it is marked sensitive (redacted in `Debug`,
//! never in an error), a token whose session URL is not on the configured endpoint is refused,
//! and tokens must be stored like secrets.
//!
//! ## Delete
//!
//! `delete` deletes **permanently** (`DELETE files/{id}`, skipping the trash) by default;
//! [`GDriveBuilder::trash_on_delete`] moves files to the trash instead.

#![deny(missing_docs)]

mod adapter;
mod api;
mod config;
mod upload;

pub use adapter::GDriveAdapter;
pub use api::escape_query;
pub use config::GDriveBuilder;

/// Google's endpoint of the Drive API (`/drive/v3/...` and `/upload/drive/v3/...`).
pub const DEFAULT_ENDPOINT: &str = "https://www.googleapis.com";
/// The OAuth 2.0 scope service-account and application default credentials ask for: full
/// access to the user's (or the service account's) Drive.
pub const DRIVE_SCOPE: &str = "https://www.googleapis.com/auth/drive";
/// The MIME type Drive gives folders.
pub const FOLDER_MIME: &str = "application/vnd.google-apps.folder";
/// The environment variable holding the OAuth 2.0 access token of URL-opened adapters.
pub const ACCESS_TOKEN_ENV: &str = "GDRIVE_ACCESS_TOKEN";
/// The environment variable overriding the endpoint of URL-opened adapters.
pub const ENDPOINT_ENV: &str = "GDRIVE_ENDPOINT";

/// The factory of the `gdrive` scheme: `gdrive://ROOT_FOLDER_ID/key` (`gdrive://root/key`;
/// `?endpoint=URL` for a fake or another host).
pub const FACTORY: files_core::AdapterFactory =
    files_core::AdapterFactory::of::<GDriveAdapter>("gdrive", "gdrive");

files_core::register_factories!(FACTORY);

#[doc(hidden)]
pub mod fuzzing {
    //! The hand-written parsers of this crate, exposed for the fuzz targets in `fuzz/` and
    //! their corpus replay test; not a stable API.

    /// Parses an RFC 3339 time as Drive answers it.
    pub fn parse_rfc3339(s: &str) -> Option<std::time::SystemTime> {
        crate::api::parse_rfc3339(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_escaping() {
        assert_eq!(escape_query(r"it's a\b"), r"it\'s a\\b");
    }

    #[test]
    fn debug_has_no_token() {
        let a = GDriveAdapter::builder()
            .access_token("ya29.SECRET")
            .build()
            .unwrap();
        assert!(!format!("{a:?}").contains("SECRET"));
        let b = GDriveAdapter::builder().access_token("ya29.SECRET");
        assert!(!format!("{b:?}").contains("SECRET"));
    }
}
