//! # files-onedrive
//!
//! The OneDrive and SharePoint adapter of the `files` storage SDK, over the Microsoft Graph
//! drive API (v1.0) with `reqwest`.
//!
//! ```no_run
//! # async fn demo() -> files_core::Result<()> {
//! use files_core::{Body, Files};
//! use files_onedrive::OneDriveAdapter;
//!
//! let drive = OneDriveAdapter::builder()
//!     .access_token("eyJ0eXAi...")
//!     .me() // or .drive_id("b!...") or .site_id("contoso.sharepoint.com,GUID,GUID")
//!     .build()?;
//! let files = Files::new(drive);
//! files.upload("backups/db.tar", Body::from_path("db.tar").await?).await?;
//! # Ok(()) }
//! ```
//!
//! ## URLs
//!
//! * `onedrive://me/path/key`: the signed-in user's drive (`/me/drive`; a delegated token);
//! * `onedrive://DRIVE_ID/path/key`: a drive by id (`/drives/{id}`);
//! * `sharepoint://SITE_ID/path/key`: a site's default document library (`/sites/{id}/drive`).
//!
//! Parameters: `?endpoint=URL` (default `https://graph.microsoft.com/v1.0`; also
//! [`ENDPOINT_ENV`]) and `?token_endpoint=URL` (also [`TOKEN_ENDPOINT_ENV`]; `{tenant}` in it is
//! replaced).
//!
//! ## Credentials
//!
//! An access token from [`ACCESS_TOKEN_ENV`] (`MS_GRAPH_ACCESS_TOKEN`), else the OAuth 2.0
//! client-credentials grant of the Microsoft identity platform from [`TENANT_ENV`],
//! [`CLIENT_ID_ENV`] and [`CLIENT_SECRET_ENV`] (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//! `AZURE_CLIENT_SECRET`): tokens for `https://graph.microsoft.com/.default` from
//! `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`, cached and refreshed before
//! they expire (the HTTP kit's `TokenSource`). App-only tokens have no `/me`: use a drive or a
//! site id. The token and the secret never appear in `Debug`, errors or logs.
//!
//! ## Keys, folders and listing
//!
//! A key is a `/`-separated path under the drive's root. Folders are created as needed
//! (a simple upload by path creates them; copy and rename create the target's). A key names a
//! file: a folder of that name is not an object (`head` is `not_found`; `delete` leaves it).
//! A file and a folder cannot share a name in one folder (unlike an object store: `a` and
//! `a/b` cannot both exist). Names cannot hold `" * : < > ? \ |` (refused as invalid input).
//! Listing walks `children` pages (`@odata.nextLink`): with the `/` delimiter, folders are
//! common prefixes (an empty folder is not listed); without it, folders are walked.
//!
//! ## Uploads and resume tokens
//!
//! Bodies up to 4 MiB go in one `PUT root:/{path}:/content`. Larger ones, and every resumable
//! upload, run in an upload session (`createUploadSession`, replacing an existing file):
//! fragments are sent in order, each a multiple of 320 KiB (327,680 bytes) except the last and
//! under 60 MiB; the default fragment is **32 × 320 KiB = 10 MiB** (Microsoft recommends 5–10
//! MiB). The status query (`GET` on the upload URL, `nextExpectedRanges`) is the truth after a
//! failure: a request cut short keeps none of its bytes; a `416` (a fragment the service
//! already has, after a lost answer) re-queries rather than failing; a session gone (`404`:
//! cancelled, expired, or committed) is `session_expired`, unless the file at the key has the
//! body's size and was written since the session began (a commit whose answer was lost).
//! Empty bodies are written with a simple `PUT`.
//!
//! The token's session is the **upload URL, a bearer credential** (anyone holding it can write
//! the file): the session is marked sensitive (redacted in `Debug`, never quoted in errors),
//! the URL gets no `Authorization` header, and tokens and checkpoints must be stored like
//! secrets. Before a token's upload URL is used it is checked: it must be on the configured
//! endpoint's origin or — with Graph's default endpoint only, since real upload URLs live on
//! storage hosts — an `https` URL on `*.sharepoint.com`, `*.sharepoint-df.com`,
//! `api.onedrive.com`, `*.files.1drv.com` or `*.up.1drv.com`; anything else is `token_invalid`
//! before any request. Session expiry: Graph extends `expirationDateTime` with every fragment;
//! the token records the expiry known at `begin`, the service decides.
//!
//! ## Everyday operations
//!
//! Downloads fetch the item (size, `eTag`, `lastModifiedDateTime`, `file.mimeType`) and read its
//! `@microsoft.graph.downloadUrl` (pre-authenticated, no `Authorization`) with `Range`.
//! `presign_get` returns that download URL: it lives **about an hour** whatever is asked (a
//! longer expiry is refused as not supported); Graph has no presigned upload URL. `copy` is
//! Graph's asynchronous copy (`202` + a monitor URL polled until `completed`/`failed`, at most
//! [`adapter::COPY_WAIT`]); `rename` is a `PATCH` of `parentReference` and `name`. Both replace
//! a file at the target. Content type, cache control and metadata are not stored. `429`/`503`
//! honour `Retry-After` (the core's retry policy); Graph's error codes map to kinds
//! (`itemNotFound` → not_found, `nameAlreadyExists` → conflict, `quotaLimitReached` →
//! storage_full, `accessDenied` → unauthorized, `activityLimitReached` → transient).

#![deny(missing_docs)]

pub mod adapter;
mod api;
mod config;
mod upload;

pub use adapter::OneDriveAdapter;
pub use config::{DriveRef, OneDriveBuilder};
pub use upload::graph_fragment_rules;

/// Graph's endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://graph.microsoft.com/v1.0";
/// The Microsoft identity platform's token endpoint (`{tenant}` is replaced).
pub const DEFAULT_TOKEN_ENDPOINT: &str =
    "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token";
/// The scope of client-credentials tokens.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
/// Every fragment of an upload session but the last is a multiple of this (320 KiB).
pub const FRAGMENT_ALIGN: u64 = 327_680;
/// The largest fragment: the largest multiple of 320 KiB under 60 MiB.
pub const MAX_FRAGMENT: u64 = 191 * FRAGMENT_ALIGN;
/// Bodies up to this size go in one simple `PUT` (4 MiB).
pub const SIMPLE_UPLOAD_LIMIT: u64 = 4 * 1024 * 1024;
/// The environment variable holding an access token.
pub const ACCESS_TOKEN_ENV: &str = "MS_GRAPH_ACCESS_TOKEN";
/// The environment variable overriding the endpoint of URL-opened adapters.
pub const ENDPOINT_ENV: &str = "MS_GRAPH_ENDPOINT";
/// The environment variable overriding the token endpoint (`{tenant}` is replaced).
pub const TOKEN_ENDPOINT_ENV: &str = "MS_GRAPH_TOKEN_ENDPOINT";
/// The tenant of the client-credentials grant.
pub const TENANT_ENV: &str = "AZURE_TENANT_ID";
/// The client (application) id of the client-credentials grant.
pub const CLIENT_ID_ENV: &str = "AZURE_CLIENT_ID";
/// The client secret of the client-credentials grant.
pub const CLIENT_SECRET_ENV: &str = "AZURE_CLIENT_SECRET";

/// The factory of `onedrive://me/key` and `onedrive://DRIVE_ID/key`.
pub const FACTORY: files_core::AdapterFactory =
    files_core::AdapterFactory::of::<OneDriveAdapter>("onedrive", "onedrive");
/// The factory of `sharepoint://SITE_ID/key`.
pub const SHAREPOINT_FACTORY: files_core::AdapterFactory =
    files_core::AdapterFactory::of::<OneDriveAdapter>("sharepoint", "sharepoint");

files_core::register_factories!(FACTORY, SHAREPOINT_FACTORY);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_has_no_secret() {
        let a = OneDriveAdapter::builder()
            .access_token("eyJ.SECRET")
            .build()
            .unwrap();
        assert!(!format!("{a:?}").contains("SECRET"));
        let b = OneDriveAdapter::builder()
            .client_credentials("t", "app", "CLIENT-SECRET")
            .site_id("s");
        assert!(!format!("{b:?}").contains("CLIENT-SECRET"), "{b:?}");
        let a = b.build().unwrap();
        assert!(!format!("{a:?}").contains("CLIENT-SECRET"), "{a:?}");
    }

    #[test]
    fn rules() {
        let r = graph_fragment_rules();
        assert_eq!(r.default_part_size % FRAGMENT_ALIGN, 0);
        const { assert!(MAX_FRAGMENT < 60 * 1024 * 1024) };
        assert!(r.check(FRAGMENT_ALIGN * 3, 10 * FRAGMENT_ALIGN).is_ok());
        assert!(r.check(FRAGMENT_ALIGN + 1, 10 * FRAGMENT_ALIGN).is_err());
    }

    #[test]
    fn upload_urls_from_tokens() {
        let graph = OneDriveAdapter::builder()
            .access_token("t")
            .build()
            .unwrap();
        for ok in [
            "https://contoso.sharepoint.com/sites/x/_api/v2.0/uploadSession?guid=1",
            "https://api.onedrive.com/rup/abc",
            "https://x.files.1drv.com/up/abc",
        ] {
            assert!(graph.check_upload_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://evil.example/up?sharepoint.com",
            "http://contoso.sharepoint.com/up",
            "https://contoso.sharepoint.com.evil.example/up",
            "https://u@contoso.sharepoint.com/up",
        ] {
            let e = graph.check_upload_url(bad).unwrap_err();
            assert_eq!(e.kind(), files_core::ErrorKind::TokenInvalid);
        }
        let custom = OneDriveAdapter::builder()
            .access_token("t")
            .endpoint("http://127.0.0.1:9/v1.0")
            .build()
            .unwrap();
        assert!(
            custom
                .check_upload_url("http://127.0.0.1:9/uploadSession?token=x")
                .is_ok()
        );
        assert!(
            custom
                .check_upload_url("https://contoso.sharepoint.com/up")
                .is_err()
        );
    }
}
