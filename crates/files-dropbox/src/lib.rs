//! # files-dropbox
//!
//! The Dropbox adapter of the `files` storage SDK, over the Dropbox API v2 with `reqwest`.
//!
//! ```no_run
//! # async fn demo() -> files_core::Result<()> {
//! use files_core::{Body, Files};
//!
//! // dropbox://backups/db.tar names /backups/db.tar (credentials from the environment).
//! let (files, key) = files_core::registry::open_object("dropbox://backups/db.tar")?;
//! files
//!     .upload(key, Body::from_path("db.tar").await?)
//!     .checkpoint("db.tar.upload.json")
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! ## URLs and paths
//!
//! `dropbox://ROOT/key`: the host is the root folder, the path is the key, so
//! `dropbox://backups/db/x.tar` names the Dropbox path `/backups/db/x.tar` with the key
//! `db/x.tar`; `dropbox:///x.tar` has no root folder (the path is `/x.tar`). Paths are relative to
//! what the token reaches: an **app-folder** app's `/` is its app folder
//! (`/Apps/<app name>/` in the user's Dropbox), a **full Dropbox** app's `/` is the top of the
//! user's Dropbox. Dropbox is case-insensitive and case-preserving: `A.txt` and `a.txt` are one
//! object. Folders are implicit: an upload creates the folders it needs, and listing shows
//! folders (also empty ones left behind by deletes) as common prefixes. Parameters:
//! `endpoint=URL` (one base for every route: a fake, a proxy) and `token_url=URL`.
//!
//! ## Authentication
//!
//! [`DropboxBuilder::access_token`] or `DROPBOX_ACCESS_TOKEN` (a fixed token, not refreshed);
//! or [`DropboxBuilder::refresh_token`] / `DROPBOX_REFRESH_TOKEN` with `DROPBOX_APP_KEY` and
//! `DROPBOX_APP_SECRET`: access tokens are obtained from the token endpoint ([`TOKEN_URL`],
//! `DROPBOX_TOKEN_URL` or `token_url=` to override) and refreshed before they expire. No
//! credential appears in `Debug`, an error or a log line. A `401` is `unauthorized` naming
//! `DROPBOX_ACCESS_TOKEN`.
//!
//! ## Uploads and resume tokens
//!
//! A body of at most 8 MiB is one `files/upload` (mode `overwrite`) carrying its
//! [content hash](content_hash); the hash Dropbox answers is compared too. A larger or
//! resumable upload runs in an **upload session** (`upload_session/start`, `append_v2`,
//! `finish` with mode `overwrite`): chunks are multiples of 4 MiB (at most 148 MiB, under the
//! 150 MiB request limit), each append carries the content hash of its own bytes (Dropbox
//! refuses an append whose bytes arrived altered), and `finish` carries the whole file's hash
//! when this process appended every byte (it saw them all; a resumed upload did not, and then
//! `finish` is sent without one: what landed before the resume is vouched for by the core's
//! fingerprint of the body's prefix and by each append's own hash, not by a whole-file hash).
//!
//! Dropbox has **no status call**: where a session stands is learnt by appending. `probe`
//! sends an empty `append_v2` at offset 0: a session holding N > 0 bytes answers
//! `incorrect_offset` with `correct_offset = N`. An append that meets `incorrect_offset`
//! (what a retry after a lost answer gets) continues from `correct_offset` when it lies in the
//! chunk just sent, and otherwise fails with `conflict` so that the core re-probes: no byte is
//! sent twice and none is skipped. A session lives 7 days (then `not_found`:
//! `session_expired`; a token older than that is refused before any request). There is **no
//! abort**: cancelling an upload *closes* its session (an empty `append_v2` with
//! `close: true`, after which it takes no more bytes and a probe says it is gone), and Dropbox
//! keeps the bytes until the session expires (logged with `tracing::info`). The session id in
//! a token is not a credential (every call needs the OAuth token).
//!
//! A `finish` whose answer is lost leaves no session to ask. The file at the key is then taken
//! as the upload's when this process can tell: its `rev` is the one an earlier finish of this
//! process answered, or its content hash is the one of every byte this process appended
//! (both proofs); for a resumed upload finished without a whole-file hash, by evidence: its
//! size is the upload's and its `rev` differs from the one before the first finish attempt.
//!
//! ## Other operations
//!
//! Downloads with ranges (`files/download` with `Range`), `head` (`files/get_metadata`: size,
//! `rev` as the ETag, `server_modified`, and the content hash as the metadata entry
//! `content_hash`), delete (`delete_v2`, absent is fine), server-side copy and native rename
//! (`copy_v2`, `move_v2`; an existing destination is deleted first, so they replace it but
//! not atomically), listing (`list_folder` recursive and `list_folder/continue`; Dropbox's
//! order is not sorted, so each page request reads the whole folder under the prefix and pages
//! in key order itself: fine for thousands of keys, slow for millions), presigned GET
//! (`files/get_temporary_link`: Dropbox's links always last **4 hours**, whatever shorter
//! lifetime is asked; a longer one is refused).

#![deny(missing_docs)]

mod adapter;
mod api;
mod config;
pub mod content_hash;
mod upload;

pub use adapter::DropboxAdapter;
pub use config::DropboxBuilder;

/// Dropbox's RPC endpoint.
pub const RPC_ENDPOINT: &str = "https://api.dropboxapi.com";
/// Dropbox's content endpoint (uploads and downloads).
pub const CONTENT_ENDPOINT: &str = "https://content.dropboxapi.com";
/// Dropbox's OAuth 2.0 token endpoint.
pub const TOKEN_URL: &str = "https://api.dropboxapi.com/oauth2/token";
/// A fixed access token.
pub const ACCESS_TOKEN_ENV: &str = "DROPBOX_ACCESS_TOKEN";
/// A refresh token (with [`APP_KEY_ENV`] and [`APP_SECRET_ENV`]).
pub const REFRESH_TOKEN_ENV: &str = "DROPBOX_REFRESH_TOKEN";
/// The app key used with a refresh token.
pub const APP_KEY_ENV: &str = "DROPBOX_APP_KEY";
/// The app secret used with a refresh token.
pub const APP_SECRET_ENV: &str = "DROPBOX_APP_SECRET";
/// One base URL for every route (as `endpoint=`).
pub const ENDPOINT_ENV: &str = "DROPBOX_ENDPOINT";
/// The token endpoint (as `token_url=`).
pub const TOKEN_URL_ENV: &str = "DROPBOX_TOKEN_URL";

/// The factory of the `dropbox` scheme: `dropbox://ROOT/key`.
pub const FACTORY: files_core::AdapterFactory =
    files_core::AdapterFactory::of::<DropboxAdapter>("dropbox", "dropbox");

files_core::register_factories!(FACTORY);
