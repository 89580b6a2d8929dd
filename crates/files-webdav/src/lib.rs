//! # files-webdav
//!
//! The WebDAV adapter of the `files` storage SDK, over `reqwest` (rustls with aws-lc-rs) and
//! the `files-http` kit. A collection on a WebDAV server (Apache `mod_dav_fs`, nginx,
//! Nextcloud, WsgiDAV, rclone, ...) is used as an object store: keys are `/`-separated paths
//! under the adapter's root collection, parent collections are created (`MKCOL`) as needed,
//! and collections are never objects themselves.
//!
//! ```no_run
//! # async fn demo() -> files_core::Result<()> {
//! use files_core::{Body, Files};
//! use files_webdav::WebDavAdapter;
//!
//! let dav = WebDavAdapter::builder()
//!     .endpoint("https://dav.example.com/remote/")
//!     .root("backups")
//!     .basic_auth("alice", std::env::var("DAV_PASSWORD").unwrap_or_default())
//!     .build()?;
//! let files = Files::new(dav);
//! files.upload("db.tar", Body::from_path("db.tar").await?).checkpoint("db.tar.json").await?;
//! # Ok(()) }
//! ```
//!
//! ## Operations
//!
//! `put` is one `PUT` (the server writes a temporary file and renames it, on Apache); `get`
//! is a `GET` with `Range` (a `206` answer is checked against the range asked for; a server
//! that ignores `Range` and answers `200` has its bytes sliced locally, never passed on
//! unsliced); `head` and `list` use `PROPFIND` (`Depth: 0` and `Depth: 1`; a recursive
//! listing walks the collections in key order, and pages continue after a cursor, the last key
//! of the previous page); `delete` is `DELETE` (absent is fine); `copy` and `rename` are
//! server-side `COPY` and `MOVE` with `Overwrite: T`. `DELETE`, `COPY` and `MOVE` are sent with
//! `Depth: 0`, which servers refuse for collections: a key naming a collection cannot delete or
//! move a whole tree. Content types, cache-control and user metadata are not stored (uploads
//! with them fail with `NotSupported`).
//!
//! ## Resumable uploads: partial PUT
//!
//! The adapter implements the growing-offset family ([`files_core::OffsetUpload`]) where the
//! server supports *partial PUT*: a `PUT` with `Content-Range: bytes START-END/*` that writes
//! into an existing file at `START` (Apache `mod_dav` does). The bytes of an upload to `key`
//! go to the part file `<key>.fls-part` (named from the key only, never from the token);
//! `begin` writes it empty, every chunk is a partial PUT at the offset the part file has
//! reached (its size is checked before, and again after: it must have grown to exactly
//! `start + len`), `finish` `MOVE`s it over the key, and `cancel` deletes it. Resuming, in this
//! process or a later one, asks the server the part file's size (`PROPFIND`) and sends the
//! rest.
//!
//! Support is **detected, not assumed**: a server that ignores `Content-Range` silently
//! replaces the file with the chunk (rclone's WebDAV server does), which would lose data. So
//! before the first chunk an adapter writes a 3-byte scratch file (`*.fls-probe`, next to the
//! target), sends 3 more bytes to it with `Content-Range: bytes 3-5/*`, reads it back, and
//! deletes it. Only `fls-ok` there means support; a refusal (WsgiDAV answers `400`, others
//! `405`/`501`) or any other content means none. The answer is kept for the adapter's life;
//! [`WebDavAdapter::detect_partial_put`] asks up front.
//!
//! Where the server has no partial PUT, `begin` fails with `NotSupported` (nothing is written)
//! and from then on the adapter declares no resumable primitive: `control` and `checkpoint` are
//! refused with `NotSupported` before any request, and uploads go in one `PUT`. Before the
//! answer is known the adapter declares cross-process resumability (it cannot know without
//! asking): call [`WebDavAdapter::detect_partial_put`] first, or build with
//! [`WebDavBuilder::resumable`]`(false)` (URL `?resumable=false`), to have plain uploads larger
//! than the part size go in one `PUT` on such servers.
//!
//! ## Authentication
//!
//! Basic ([`WebDavBuilder::basic_auth`]) or Bearer ([`WebDavBuilder::bearer_token`]), sent on
//! every request as a sensitive header ([`files_http::Auth`]). Credentials never appear in
//! `Debug` output, error messages, logs, [`Adapter::target`] or resume tokens (a session
//! carries nothing: the part file is named by the key). `401` is `Unauthorized` and never
//! retried; `403` is `Unauthorized` too (permission denied).
//!
//! ## Errors
//!
//! Answers are read with the status table every HTTP provider shares ([`files_http::status`]):
//! `404`/`410` are `NotFound`, `409`/`412`/`423 Locked` are `Conflict`, `405`/`501` are
//! `NotSupported`, `408` is a retried `Timeout`, `429` and other `5xx` are retried (after
//! `Retry-After` when the server sends one), and `507 Insufficient Storage` is `StorageFull`.
//! Messages name the operation and the key, never a URL or a header.
//!
//! ## URLs
//!
//! `webdav://user[:password]@host[:port]/path` (plain http) and `webdavs://...` (https). The
//! password comes from the URL's userinfo (percent-encoded, as curl takes it) or else from
//! `FILES_WEBDAV_PASSWORD`; a URL without user info takes its user from `FILES_WEBDAV_USER`;
//! without any user, a bearer token comes from `FILES_WEBDAV_TOKEN`.
//! A store URL names the root collection: `webdav://alice@host:8080/dav/backups` is the store
//! rooted at `/dav/backups`. An object URL is split like `file://` URLs: the `root` query
//! parameter names the store's root and the rest of the path is the key
//! (`webdav://alice@host/dav/backups/db.tar?root=/dav/backups` is `db.tar` in that store);
//! without `root` the root is `/` and the key the whole path. Parameters: `root`,
//! `resumable` (`true`/`false`). Credentials in the query are refused.
//!
//! ## Keys
//!
//! The default key rules ([`files_core::adapter::validate_key_default`]: no `..` or `.`
//! segments, not absolute, no NUL, no empty segment), plus: no trailing `/`, and no segment
//! ending in `.fls-part` or `.fls-probe` (reserved; listings hide them). Every segment is
//! percent-encoded (everything but `A-Z a-z 0-9 - . _ ~`), so a key cannot leave the root.
#![deny(missing_docs)]

mod adapter;
mod config;
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod upload;
mod xml;

#[cfg(doc)]
use files_core::Adapter;

pub use adapter::WebDavAdapter;
pub use config::{PASSWORD_ENV, TOKEN_ENV, USER_ENV, WebDavBuilder};
pub use upload::{PART_SUFFIX, PROBE_SUFFIX};

/// The factory of the `webdav` scheme (WebDAV over http): `webdav://user@host:port/root`
/// opens the store rooted at `/root`; `webdav://user@host/root/a/b?root=/root` the object
/// `a/b` in it.
pub const FACTORY: files_core::AdapterFactory = files_core::AdapterFactory {
    scheme: "webdav",
    provider: "webdav",
    store: config::open_store,
    object: config::open_object,
};

/// The factory of the `webdavs` scheme (WebDAV over https), like [`FACTORY`].
pub const FACTORY_TLS: files_core::AdapterFactory = files_core::AdapterFactory {
    scheme: "webdavs",
    ..FACTORY
};

files_core::register_factories!(FACTORY, FACTORY_TLS);
