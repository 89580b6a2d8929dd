//! # files-webdav
//!
//! The WebDAV adapter of the `files` storage SDK, over `reqwest` (rustls with aws-lc-rs). A
//! collection on a WebDAV server (Apache `mod_dav_fs`, nginx, Nextcloud, WsgiDAV, rclone, ...)
//! is used as an object store: keys are `/`-separated paths under the adapter's root
//! collection, parent collections are created (`MKCOL`) as needed, and collections are never
//! objects themselves.
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
//! every request as a sensitive header. Credentials never appear in `Debug` output, error
//! messages, logs, [`Adapter::target`] or resume tokens (a session carries nothing: the part
//! file is named by the key). `401` is `Unauthorized` and never retried; `403` is
//! `Unauthorized` too (permission denied).
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

mod xml;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};

use files_core::{
    Adapter, ByteRange, ByteStream, Capabilities, Error, ErrorKind, GetResponse, ListPage,
    ListRequest, ObjectMeta, OffsetState, OffsetUpload, PartRules, PutOptions, Result,
    Resumability, Session, UploadFamily, UploadSpec,
};

use crate::xml::{Entry, PROPFIND_BODY, parse_multistatus};

/// The suffix of part files (`<key>.fls-part`), where resumable uploads collect their bytes.
pub const PART_SUFFIX: &str = files_core::part_file::PART_SUFFIX;

/// The suffix of the scratch files of the partial-PUT detection.
pub const PROBE_SUFFIX: &str = ".fls-probe";

/// A detection scratch file older than this was left by a process that died mid-detection
/// (a detection takes milliseconds): the next detection in its directory deletes it.
const STALE_PROBE_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// The environment variable the URL factory reads a Basic password from (when the URL has a
/// user but no password).
pub const PASSWORD_ENV: &str = "FILES_WEBDAV_PASSWORD";

/// The environment variable the URL factory reads a bearer token from (when the URL has no
/// user and [`USER_ENV`] is not set).
pub const TOKEN_ENV: &str = "FILES_WEBDAV_TOKEN";

/// The environment variable the URL factory reads a Basic user name from when the URL has none
/// (tools such as the CLI drop the user info of URLs they store).
pub const USER_ENV: &str = "FILES_WEBDAV_USER";

/// Default page size of [`Adapter::list`].
const DEFAULT_LIMIT: usize = 1000;

const PARTIAL_UNKNOWN: u8 = 0;
const PARTIAL_YES: u8 = 1;
const PARTIAL_NO: u8 = 2;

// ---------------------------------------------------------------------- configuration

/// How requests authenticate.
#[derive(Clone, Default)]
enum Auth {
    #[default]
    None,
    Basic {
        user: String,
        password: String,
    },
    Bearer(String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { user, .. } => write!(f, "Basic(user={user:?}, password=<redacted>)"),
            Auth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

impl Auth {
    fn header(&self) -> Result<Option<HeaderValue>> {
        let text = match self {
            Auth::None => return Ok(None),
            Auth::Basic { user, password } => {
                if user.contains(':') {
                    return Err(Error::invalid_input(
                        "a Basic auth user name must not contain ':'",
                    ));
                }
                format!(
                    "Basic {}",
                    base64_encode(format!("{user}:{password}").as_bytes())
                )
            }
            Auth::Bearer(token) => format!("Bearer {token}"),
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| {
            Error::invalid_input("the credentials contain characters an HTTP header cannot carry")
        })?;
        value.set_sensitive(true);
        Ok(Some(value))
    }
}

/// Builds a [`WebDavAdapter`]: an endpoint (required), a root collection under it, and
/// credentials. Nothing here makes a request.
#[derive(Debug, Clone)]
pub struct WebDavBuilder {
    endpoint: Option<String>,
    root: String,
    auth: Auth,
    resumable: bool,
    connect_timeout: Duration,
}

impl Default for WebDavBuilder {
    fn default() -> Self {
        WebDavBuilder {
            endpoint: None,
            root: String::new(),
            auth: Auth::None,
            resumable: true,
            connect_timeout: Duration::from_secs(30),
        }
    }
}

impl WebDavBuilder {
    /// The server's WebDAV URL (`http://` or `https://`, with the path of the DAV area, e.g.
    /// `https://cloud.example.com/remote.php/dav/files/alice/`). It must not carry credentials,
    /// a query or a fragment.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The root collection of the store, a `/`-separated path under the endpoint (decoded, not
    /// percent-encoded); created on the first write if missing. Default: the endpoint itself.
    pub fn root(mut self, path: impl Into<String>) -> Self {
        self.root = path.into();
        self
    }

    /// HTTP Basic authentication.
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Auth::Basic {
            user: user.into(),
            password: password.into(),
        };
        self
    }

    /// Bearer token authentication (`Authorization: Bearer ...`).
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.auth = Auth::Bearer(token.into());
        self
    }

    /// Whether resumable uploads are offered (default `true`: detected on first use, see the
    /// [crate docs](crate)). `false` declares no resumable primitive at all: every upload is one
    /// `PUT`, and `control`/`checkpoint` are refused.
    pub fn resumable(mut self, on: bool) -> Self {
        self.resumable = on;
        self
    }

    /// How long establishing a connection may take (default 30 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Checks the configuration and builds the adapter (no request is made).
    pub fn build(self) -> Result<WebDavAdapter> {
        let raw = self
            .endpoint
            .as_deref()
            .ok_or_else(|| Error::invalid_input("a WebDAV adapter needs an endpoint URL"))?;
        let mut endpoint = url::Url::parse(raw).map_err(|e| {
            Error::invalid_input(format!("the WebDAV endpoint is not a valid URL: {e}"))
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(Error::invalid_input(format!(
                "the WebDAV endpoint must be an http:// or https:// URL, not `{}://`",
                endpoint.scheme()
            )));
        }
        if !endpoint.username().is_empty() || endpoint.password().is_some() {
            return Err(Error::invalid_input(
                "the WebDAV endpoint URL must not carry credentials; use basic_auth or bearer_token",
            ));
        }
        if endpoint.query().is_some() || endpoint.fragment().is_some() {
            return Err(Error::invalid_input(
                "the WebDAV endpoint URL must not have a query or a fragment",
            ));
        }
        if endpoint.host_str().is_none_or(str::is_empty) {
            return Err(Error::invalid_input("the WebDAV endpoint URL has no host"));
        }
        if !endpoint.path().ends_with('/') {
            let p = format!("{}/", endpoint.path());
            endpoint.set_path(&p);
        }
        let root = split_root(&self.root)?;
        let auth_header = self.auth.header()?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .user_agent(concat!("files-webdav/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Other,
                    format!("cannot build the HTTP client: {e}"),
                )
            })?;
        let mut target = endpoint.as_str().to_string();
        for seg in &root {
            target.push_str(&encode_segment(seg));
            target.push('/');
        }
        Ok(WebDavAdapter {
            inner: Arc::new(Inner {
                client,
                endpoint,
                root,
                target,
                auth: self.auth,
                auth_header,
                resumable: self.resumable,
                partial_put: AtomicU8::new(PARTIAL_UNKNOWN),
                detect_lock: tokio::sync::Mutex::new(()),
                collections: Mutex::new(HashSet::new()),
            }),
        })
    }
}

/// Splits a root path into its segments, refusing ones that could leave the endpoint.
fn split_root(root: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for seg in root.split('/') {
        if seg.is_empty() {
            continue;
        }
        if seg == "." || seg == ".." || seg.contains('\0') || seg.contains('\\') {
            return Err(Error::invalid_input(
                "the WebDAV root must not contain `.` or `..` segments, NUL bytes or backslashes",
            ));
        }
        out.push(seg.to_string());
    }
    Ok(out)
}

// ---------------------------------------------------------------------- the adapter

/// A collection on a WebDAV server used as an object store. See the [crate docs](crate).
///
/// Cheap to clone: clones share the HTTP client, the partial-PUT answer and the cache of
/// collections known to exist.
#[derive(Clone)]
pub struct WebDavAdapter {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    /// The endpoint, ending with `/`, without credentials.
    endpoint: url::Url,
    /// Root segments under the endpoint (decoded).
    root: Vec<String>,
    target: String,
    auth: Auth,
    auth_header: Option<HeaderValue>,
    resumable: bool,
    partial_put: AtomicU8,
    detect_lock: tokio::sync::Mutex<()>,
    /// Paths (relative to the endpoint, encoded, ending with `/`) of collections known to exist.
    collections: Mutex<HashSet<String>>,
}

impl fmt::Debug for WebDavAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("WebDavAdapter")
            .field("target", &i.target)
            .field("auth", &i.auth)
            .field("resumable", &i.resumable)
            .field(
                "partial_put",
                &match i.partial_put.load(Ordering::Relaxed) {
                    PARTIAL_YES => "supported",
                    PARTIAL_NO => "not supported",
                    _ => "not yet detected",
                },
            )
            .finish()
    }
}

/// A directory entry of a listing.
enum Kind {
    Dir,
    File(ObjectMeta),
}

/// What the walk of a listing still has to visit.
enum Node {
    Dir(String),
    Prefix(String),
    File(ObjectMeta),
}

impl WebDavAdapter {
    /// A builder; see [`WebDavBuilder`].
    pub fn builder() -> WebDavBuilder {
        WebDavBuilder::default()
    }

    /// The adapter for a `webdav://` or `webdavs://` store URL (see the [crate docs](crate)),
    /// the same as [`Files::from_url`](files_core::Files::from_url) with those schemes.
    pub fn from_url(url: &str) -> Result<WebDavAdapter> {
        let parsed = url::Url::parse(url)
            .map_err(|e| Error::invalid_input(format!("not a valid webdav:// URL: {e}")))?;
        let (builder, path) = builder_from_url(&parsed)?;
        builder.root(path).build()
    }

    /// The URL of the root collection (ends with `/`; no credentials). The same as
    /// [`Adapter::target`].
    pub fn root_url(&self) -> &str {
        &self.inner.target
    }

    /// Whether the server supports partial PUT (`Content-Range` on PUT), which resumable
    /// uploads need: asked once (with a scratch file in the root collection, which is created
    /// if missing) and remembered for this adapter and its clones. Returns `Ok(false)` at once
    /// when built with `resumable(false)`.
    ///
    /// Cancellation: dropping the future may leave the scratch file (`*.fls-probe`) behind.
    pub async fn detect_partial_put(&self) -> Result<bool> {
        if !self.inner.resumable {
            return Ok(false);
        }
        let dir = self.inner.root.clone();
        self.ensure_collections(&dir, "").await?;
        self.detect(&dir).await
    }

    // ------------------------------------------------------------------ URLs and requests

    /// The URL of the path made of `segments` (relative to the endpoint), optionally ending
    /// with `/` (a collection).
    fn url_of(&self, segments: &[String], collection: bool) -> String {
        let mut s = self.inner.endpoint.as_str().to_string();
        s.push_str(&rel_path(segments));
        if collection && !segments.is_empty() {
            s.push('/');
        }
        s
    }

    /// The segments (relative to the endpoint) of `key`, with `suffix` added to the last one.
    fn key_segments(&self, key: &str, suffix: &str) -> Vec<String> {
        let mut segs = self.inner.root.clone();
        segs.extend(key.split('/').map(str::to_string));
        if let Some(last) = segs.last_mut() {
            last.push_str(suffix);
        }
        segs
    }

    fn key_url(&self, key: &str) -> String {
        self.url_of(&self.key_segments(key, ""), false)
    }

    fn part_url(&self, key: &str) -> String {
        self.url_of(&self.key_segments(key, PART_SUFFIX), false)
    }

    fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        let mut r = self.inner.client.request(method, url);
        if let Some(h) = &self.inner.auth_header {
            r = r.header(header::AUTHORIZATION, h.clone());
        }
        r
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        op: &'static str,
        key: &str,
    ) -> Result<reqwest::Response> {
        req.send().await.map_err(|e| transport_error(e, op, key))
    }

    // ------------------------------------------------------------------ PROPFIND

    /// PROPFIND `url` at `depth`; `None` when it does not exist.
    async fn propfind(
        &self,
        url: &str,
        depth: &str,
        op: &'static str,
        key: &str,
    ) -> Result<Option<Vec<Entry>>> {
        let req = self
            .request(propfind_method(), url)
            .header("Depth", depth)
            .header(header::CONTENT_TYPE, "application/xml; charset=utf-8")
            .body(PROPFIND_BODY);
        let resp = self.send(req, op, key).await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
            return Ok(None);
        }
        if status != StatusCode::MULTI_STATUS {
            return Err(status_error(status, op, key));
        }
        let text = resp.text().await.map_err(|e| transport_error(e, op, key))?;
        parse_multistatus(&text)
            .map(Some)
            .map_err(|m| Error::new(ErrorKind::Other, format!("{op} of `{key}`: {m}")))
    }

    /// The resource at `url` (Depth 0), `None` when absent.
    async fn stat(&self, url: &str, op: &'static str, key: &str) -> Result<Option<Entry>> {
        Ok(self
            .propfind(url, "0", op, key)
            .await?
            .and_then(|v| v.into_iter().next()))
    }

    /// The object at `key`: not found when absent or when a collection is there.
    async fn head_object(&self, key: &str, op: &'static str) -> Result<ObjectMeta> {
        match self.stat(&self.key_url(key), op, key).await? {
            Some(e) if !e.collection => Ok(meta_of(key, &e)),
            Some(_) => Err(Error::not_found(format!(
                "no object at `{key}` (a collection is there)"
            ))),
            None => Err(Error::not_found(format!("no object at `{key}`"))),
        }
    }

    /// The size of the file at `url`, `None` when absent.
    async fn size_of(&self, url: &str, op: &'static str, key: &str) -> Result<Option<u64>> {
        match self.stat(url, op, key).await? {
            Some(e) if e.collection => Err(Error::conflict(format!(
                "a collection is where the part file of `{key}` should be"
            ))),
            Some(e) => Ok(Some(e.size.unwrap_or(0))),
            None => Ok(None),
        }
    }

    // ------------------------------------------------------------------ collections

    /// Makes sure the collections `segments[..1]`, `segments[..2]`, ... `segments` exist
    /// (relative to the endpoint, which is assumed to exist): `MKCOL` from the deepest up until
    /// one exists or is created, then down again. Remembers what exists.
    async fn ensure_collections(&self, segments: &[String], key: &str) -> Result<()> {
        let known = |n: usize| {
            let path = format!("{}/", rel_path(&segments[..n]));
            self.inner
                .collections
                .lock()
                .expect("collections lock")
                .contains(&path)
        };
        let remember = |n: usize| {
            let path = format!("{}/", rel_path(&segments[..n]));
            self.inner
                .collections
                .lock()
                .expect("collections lock")
                .insert(path);
        };
        let mut n = segments.len();
        let mut missing = Vec::new();
        while n > 0 && !known(n) {
            let url = self.url_of(&segments[..n], true);
            let resp = self
                .send(self.request(mkcol_method(), &url), "mkcol", key)
                .await?;
            match resp.status().as_u16() {
                // 405: something exists there (a collection, or a file that the write will
                // then trip over).
                200..=299 | 405 => {
                    remember(n);
                    break;
                }
                409 => {
                    missing.push(n);
                    n -= 1;
                }
                _ => return Err(status_error(resp.status(), "mkcol", key)),
            }
        }
        for n in missing.into_iter().rev() {
            let url = self.url_of(&segments[..n], true);
            let resp = self
                .send(self.request(mkcol_method(), &url), "mkcol", key)
                .await?;
            match resp.status().as_u16() {
                200..=299 | 405 => remember(n),
                409 => {
                    return Err(Error::transient(format!(
                        "a parent collection of `{key}` vanished while it was being created"
                    )));
                }
                _ => return Err(status_error(resp.status(), "mkcol", key)),
            }
        }
        Ok(())
    }

    /// The segments of the collection holding `key` (root included).
    fn parent_segments(&self, key: &str) -> Vec<String> {
        let mut segs = self.key_segments(key, "");
        segs.pop();
        segs
    }

    /// After a `409` on a write to `key`: forgets the cached parents and says why.
    async fn parent_conflict(&self, key: &str, op: &'static str) -> Error {
        self.inner
            .collections
            .lock()
            .expect("collections lock")
            .clear();
        let parent = self.parent_segments(key);
        match self.stat(&self.url_of(&parent, true), op, key).await {
            Ok(None) => Error::transient(format!(
                "the parent collection of `{key}` is missing (removed meanwhile?)"
            )),
            Ok(Some(e)) if !e.collection => Error::conflict(format!(
                "a file is in the way of the collections of `{key}`"
            )),
            Ok(Some(_)) => {
                Error::conflict(format!("{op} of `{key}`: the server answered 409 Conflict"))
            }
            Err(e) => e,
        }
    }

    // ------------------------------------------------------------------ partial PUT detection

    /// Whether the server honours `Content-Range` on PUT, asked once with a scratch file in the
    /// collection `dir` (which must exist).
    async fn detect(&self, dir: &[String]) -> Result<bool> {
        match self.inner.partial_put.load(Ordering::Acquire) {
            PARTIAL_YES => return Ok(true),
            PARTIAL_NO => return Ok(false),
            _ => {}
        }
        let _one_at_a_time = self.inner.detect_lock.lock().await;
        match self.inner.partial_put.load(Ordering::Acquire) {
            PARTIAL_YES => return Ok(true),
            PARTIAL_NO => return Ok(false),
            _ => {}
        }
        let mut segs = dir.to_vec();
        segs.push(scratch_name());
        let url = self.url_of(&segs, false);
        let op = "detect partial put";
        let what = "(scratch file)";
        let result = async {
            let resp = self
                .send(self.request(Method::PUT, &url).body("fls"), op, what)
                .await?;
            if !resp.status().is_success() {
                return Err(status_error(resp.status(), op, what));
            }
            let resp = self
                .send(
                    self.request(Method::PUT, &url)
                        .header(header::CONTENT_RANGE, "bytes 3-5/*")
                        .body("-ok"),
                    op,
                    what,
                )
                .await?;
            let status = resp.status();
            if refuses_partial_put(status) {
                return Ok(false);
            }
            if !status.is_success() {
                return Err(status_error(status, op, what));
            }
            let resp = self.send(self.request(Method::GET, &url), op, what).await?;
            if !resp.status().is_success() {
                return Err(status_error(resp.status(), op, what));
            }
            let body = resp
                .bytes()
                .await
                .map_err(|e| transport_error(e, op, what))?;
            Ok(&body[..] == b"fls-ok")
        }
        .await;
        // Best effort: the scratch file is hidden from listings if it stays.
        let _ = self
            .send(
                self.request(Method::DELETE, &url).header("Depth", "0"),
                op,
                what,
            )
            .await;
        self.sweep_stale_probes(dir).await;
        let supported = result?;
        self.inner.partial_put.store(
            if supported { PARTIAL_YES } else { PARTIAL_NO },
            Ordering::Release,
        );
        tracing::info!(
            target = %self.inner.target,
            supported,
            "WebDAV partial PUT (Content-Range) detection"
        );
        Ok(supported)
    }

    /// Deletes scratch files of earlier detections that were never removed (a process killed
    /// mid-detection leaves one): those in `dir` older than [`STALE_PROBE_AGE`]. Best effort.
    async fn sweep_stale_probes(&self, dir: &[String]) {
        let url = self.url_of(dir, true);
        let Ok(Some(entries)) = self
            .propfind(&url, "1", "detect partial put", "(scratch file)")
            .await
        else {
            return;
        };
        let now = SystemTime::now();
        for e in entries {
            let Some(path) = href_path(&e.href) else {
                continue;
            };
            let name = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            let stale = e
                .last_modified
                .as_deref()
                .and_then(parse_http_date)
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > STALE_PROBE_AGE);
            if e.collection || !name.ends_with(PROBE_SUFFIX) || !stale {
                continue;
            }
            let mut segs = dir.to_vec();
            segs.push(name.to_string());
            let _ = self
                .send(
                    self.request(Method::DELETE, &self.url_of(&segs, false))
                        .header("Depth", "0"),
                    "detect partial put",
                    "(stale scratch file)",
                )
                .await;
        }
    }

    fn partial_put_unsupported(&self) -> Error {
        Error::not_supported(format!(
            "the WebDAV server at {} does not support partial PUT (Content-Range on PUT), so \
             resumable uploads (`control`, `checkpoint`) are not supported there; upload without \
             them (one PUT request)",
            self.inner.target
        ))
    }

    fn mark_unsupported(&self) -> Error {
        self.inner.partial_put.store(PARTIAL_NO, Ordering::Release);
        self.partial_put_unsupported()
    }

    async fn require_partial_put(&self, key: &str) -> Result<()> {
        if !self.inner.resumable {
            return Err(self.partial_put_unsupported());
        }
        if self.detect(&self.parent_segments(key)).await? {
            Ok(())
        } else {
            Err(self.partial_put_unsupported())
        }
    }

    // ------------------------------------------------------------------ listing

    /// The children of the collection `rel` (a key prefix ending with `/`, or empty for the
    /// root), sorted so that a depth-first walk yields keys in byte order.
    async fn children(&self, rel: &str) -> Result<Vec<(String, Kind)>> {
        let mut segs = self.inner.root.clone();
        segs.extend(rel.split('/').filter(|s| !s.is_empty()).map(str::to_string));
        let url = self.url_of(&segs, true);
        let Some(entries) = self.propfind(&url, "1", "list", rel).await? else {
            return Ok(Vec::new());
        };
        let own = percent_decode(
            url::Url::parse(&url)
                .map(|u| u.path().to_string())
                .unwrap_or_default()
                .as_str(),
        );
        let own = own.trim_end_matches('/').to_string();
        let mut out = Vec::new();
        for e in entries {
            let Some(path) = href_path(&e.href) else {
                continue;
            };
            let path = path.trim_end_matches('/');
            let Some(name) = path
                .strip_prefix(own.as_str())
                .and_then(|r| r.strip_prefix('/'))
            else {
                continue; // the collection itself, or something outside it
            };
            if name.is_empty() || name.contains('/') || is_reserved(name) {
                continue;
            }
            if e.collection {
                out.push((name.to_string(), Kind::Dir));
            } else {
                let key = format!("{rel}{name}");
                let meta = meta_of(&key, &e);
                out.push((name.to_string(), Kind::File(meta)));
            }
        }
        out.sort_by_cached_key(|(name, kind)| match kind {
            Kind::Dir => format!("{name}/"),
            Kind::File(_) => name.clone(),
        });
        Ok(out)
    }

    /// Whether the collection `rel` holds at least one object, at any depth.
    async fn has_object(&self, rel: &str) -> Result<bool> {
        let mut todo = vec![rel.to_string()];
        while let Some(dir) = todo.pop() {
            for (name, kind) in self.children(&dir).await? {
                match kind {
                    Kind::File(_) => return Ok(true),
                    Kind::Dir => todo.push(format!("{dir}{name}/")),
                }
            }
        }
        Ok(false)
    }

    async fn list_impl(&self, request: &ListRequest) -> Result<ListPage> {
        let prefix = request.prefix.as_str();
        let delimiter = request.delimiter.as_deref().filter(|d| !d.is_empty());
        let cursor = request.cursor.as_deref();
        let limit = request.limit.unwrap_or(DEFAULT_LIMIT).max(1);
        let start = &prefix[..prefix.rfind('/').map(|i| i + 1).unwrap_or(0)];
        if start
            .split('/')
            .rev()
            .skip(1)
            .any(|s| s.is_empty() || s == "." || s == ".." || s.contains('\0') || s.contains('\\'))
            || start.starts_with('/')
        {
            return Err(Error::invalid_input(
                "the listing prefix must be a relative key prefix (no `.`, `..` or empty segments)",
            ));
        }
        let mut page = ListPage::default();
        let mut count = 0usize;
        let mut last: Option<String> = None;
        let mut more = false;
        let mut stack = vec![Node::Dir(start.to_string())];
        // Adds an entry unless the cursor or the previous entry covers it; `false` once the page
        // is full and one more entry is known to exist.
        let mut emit = |name: String, meta: Option<ObjectMeta>, page: &mut ListPage| -> bool {
            if cursor.is_some_and(|c| name.as_str() <= c) || last.as_deref() == Some(&name) {
                return true;
            }
            if count == limit {
                more = true;
                return false;
            }
            count += 1;
            last = Some(name.clone());
            match meta {
                Some(m) => page.objects.push(m),
                None => page.prefixes.push(name),
            }
            true
        };
        while let Some(node) = stack.pop() {
            match node {
                Node::Dir(rel) => {
                    let mut next = Vec::new();
                    for (name, kind) in self.children(&rel).await? {
                        match kind {
                            Kind::Dir => {
                                let dk = format!("{rel}{name}/");
                                if !(dk.starts_with(prefix) || prefix.starts_with(&dk)) {
                                    continue;
                                }
                                if let Some(c) = cursor
                                    && dk.as_str() < c
                                    && !c.starts_with(&dk)
                                {
                                    continue; // every key under it sorts before the cursor
                                }
                                if delimiter == Some("/")
                                    && dk.starts_with(prefix)
                                    && dk.len() > prefix.len()
                                {
                                    next.push(Node::Prefix(dk));
                                } else {
                                    next.push(Node::Dir(dk));
                                }
                            }
                            Kind::File(meta) => {
                                if meta.key.starts_with(prefix) {
                                    next.push(Node::File(meta));
                                }
                            }
                        }
                    }
                    stack.extend(next.into_iter().rev());
                }
                Node::Prefix(dk) => {
                    if cursor.is_some_and(|c| dk.as_str() <= c) {
                        continue;
                    }
                    if self.has_object(&dk).await? && !emit(dk, None, &mut page) {
                        break;
                    }
                }
                Node::File(meta) => {
                    let rolled = delimiter.and_then(|d| {
                        meta.key[prefix.len()..]
                            .find(d)
                            .map(|i| meta.key[..prefix.len() + i + d.len()].to_string())
                    });
                    let go = match rolled {
                        Some(p) => emit(p, None, &mut page),
                        None => emit(meta.key.clone(), Some(meta), &mut page),
                    };
                    if !go {
                        break;
                    }
                }
            }
        }
        if more {
            page.cursor = last;
        }
        Ok(page)
    }

    // ------------------------------------------------------------------ COPY / MOVE

    async fn copy_or_move(&self, method: Method, from: &str, to: &str) -> Result<()> {
        let op = if method.as_str() == "MOVE" {
            "rename"
        } else {
            "copy"
        };
        self.ensure_collections(&self.parent_segments(to), to)
            .await?;
        let req = self
            .request(method, &self.key_url(from))
            .header("Destination", self.key_url(to))
            .header("Overwrite", "T")
            .header("Depth", "0");
        let resp = self.send(req, op, from).await?;
        let status = resp.status();
        match status.as_u16() {
            200..=299 => Ok(()),
            404 => Err(Error::not_found(format!("no object at `{from}`"))),
            // Depth: 0 on a collection.
            400 => match self.stat(&self.key_url(from), op, from).await? {
                Some(e) if e.collection => Err(Error::not_found(format!(
                    "no object at `{from}` (a collection is there)"
                ))),
                _ => Err(status_error(status, op, from)),
            },
            409 => Err(self.parent_conflict(to, op).await),
            _ => Err(status_error(status, op, from)),
        }
    }
}

// ---------------------------------------------------------------------- the Adapter impl

#[async_trait]
impl Adapter for WebDavAdapter {
    fn provider(&self) -> &'static str {
        "webdav"
    }

    fn target(&self) -> String {
        self.inner.target.clone()
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::minimal();
        c.range_read = true;
        c.server_side_copy = true;
        c.native_rename = true;
        c.list_delimiter = true;
        c.resumable = self.resumability();
        c
    }

    /// The default lexical rules, plus: no trailing `/` (a collection is not an object) and no
    /// segment ending in `.fls-part` or `.fls-probe` (reserved).
    fn validate_key(&self, key: &str) -> Result<()> {
        files_core::part_file::check_file_key(key, "WebDAV", "collection", is_reserved, || {
            format!(
                "names ending in `{PART_SUFFIX}` or `{PROBE_SUFFIX}` are reserved for the WebDAV adapter's part and scratch files"
            )
        })
    }

    /// A session of this adapter carries nothing (the part file is named by the key).
    fn check_session(&self, session: &Session) -> Result<()> {
        files_core::part_file::check_keyless_session(session, "WebDAV")
    }

    fn upload_family(&self) -> UploadFamily<'_> {
        if self.resumability() == Resumability::None {
            UploadFamily::OneShot
        } else {
            UploadFamily::Offset(self)
        }
    }

    async fn put(
        &self,
        key: &str,
        body: ByteStream,
        len: Option<u64>,
        options: &PutOptions,
    ) -> Result<ObjectMeta> {
        self.validate_key(key)?;
        check_options(options)?;
        self.ensure_collections(&self.parent_segments(key), key)
            .await?;
        let mut req = self
            .request(Method::PUT, &self.key_url(key))
            .body(reqwest::Body::wrap_stream(body));
        if let Some(len) = len {
            req = req.header(header::CONTENT_LENGTH, len);
        }
        let resp = self.send(req, "put", key).await?;
        let status = resp.status();
        if status == StatusCode::CONFLICT {
            return Err(self.parent_conflict(key, "put").await);
        }
        if !status.is_success() {
            return Err(status_error(status, "put", key));
        }
        let meta = self.head_object(key, "put").await?;
        if let Some(len) = len
            && meta.size != len
        {
            return Err(Error::transient(format!(
                "the server stored {} bytes for `{key}`, not the {len} sent",
                meta.size
            )));
        }
        Ok(meta)
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        self.validate_key(key)?;
        self.head_object(key, "head").await
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResponse> {
        self.validate_key(key)?;
        if let Some(r) = range {
            // Empty or reversed ranges are refused whatever the size.
            r.resolve(u64::MAX)?;
        }
        let url = self.key_url(key);
        let mut req = self.request(Method::GET, &url);
        if let Some(r) = range {
            let value = match r.end {
                Some(end) => format!("bytes={}-{}", r.start, end - 1),
                None => format!("bytes={}-", r.start),
            };
            req = req.header(header::RANGE, value);
        }
        let resp = self.send(req, "get", key).await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let mut meta = meta_from_headers(key, &headers);
        let (served, want) = match status.as_u16() {
            206 => {
                let (start, end, total) = content_range(&headers).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Other,
                        format!(
                            "the server answered 206 for `{key}` without a usable Content-Range"
                        ),
                    )
                })?;
                meta.size = total;
                let want = range
                    .unwrap_or(ByteRange {
                        start: 0,
                        end: None,
                    })
                    .resolve(total)?;
                if start > want.start || end < want.end {
                    return Err(Error::new(
                        ErrorKind::Other,
                        format!(
                            "the server sent bytes {start}..{end} of `{key}` for the range {}..{} asked",
                            want.start, want.end
                        ),
                    ));
                }
                (start..end, want)
            }
            200 => {
                let total = content_length(&headers).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Other,
                        format!("the server sent `{key}` without a Content-Length"),
                    )
                })?;
                meta.size = total;
                // A server that ignores Range sends the whole object: slice it here.
                let want = match range {
                    Some(r) => r.resolve(total)?,
                    None => 0..total,
                };
                (0..total, want)
            }
            301 | 302 | 307 | 308 => {
                return Err(Error::not_found(format!(
                    "no object at `{key}` (the server redirects: a collection is there)"
                )));
            }
            416 => {
                let total = headers
                    .get(header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes */"))
                    .and_then(|v| v.trim().parse::<u64>().ok());
                if let (Some(total), Some(r)) = (total, range) {
                    r.resolve(total)?;
                    if total == 0 {
                        // `0..` of an empty object: the whole (empty) object.
                        return self.get(key, None).await;
                    }
                }
                return Err(Error::invalid_input(format!(
                    "the range asked of `{key}` is not satisfiable"
                )));
            }
            _ => return Err(status_error(status, "get", key)),
        };
        let skip = want.start - served.start;
        let take = want.end - want.start;
        let stream = sliced(resp.bytes_stream(), skip, take, key.to_string());
        Ok(GetResponse {
            meta,
            range: want,
            stream,
        })
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.validate_key(key)?;
        let url = self.key_url(key);
        let resp = self
            .send(
                self.request(Method::DELETE, &url).header("Depth", "0"),
                "delete",
                key,
            )
            .await?;
        let status = resp.status();
        match status.as_u16() {
            200..=299 | 404 | 410 => Ok(()),
            // `Depth: 0` on a collection: a collection is not an object, nothing to delete.
            400 => match self.stat(&url, "delete", key).await? {
                Some(e) if e.collection => Ok(()),
                _ => Err(status_error(status, "delete", key)),
            },
            _ => Err(status_error(status, "delete", key)),
        }
    }

    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        self.list_impl(request).await
    }

    async fn copy(&self, from: &str, to: &str) -> Result<ObjectMeta> {
        self.validate_key(from)?;
        self.validate_key(to)?;
        if from == to {
            return self.head_object(from, "copy").await;
        }
        self.copy_or_move(copy_method(), from, to).await?;
        self.head_object(to, "copy").await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.validate_key(from)?;
        self.validate_key(to)?;
        if from == to {
            return self.head_object(from, "rename").await.map(|_| ());
        }
        self.copy_or_move(move_method(), from, to).await
    }
}

impl WebDavAdapter {
    fn resumability(&self) -> Resumability {
        if !self.inner.resumable || self.inner.partial_put.load(Ordering::Acquire) == PARTIAL_NO {
            Resumability::None
        } else {
            Resumability::CrossProcess
        }
    }
}

fn check_options(options: &PutOptions) -> Result<()> {
    if options.content_type.is_some()
        || options.cache_control.is_some()
        || !options.metadata.is_empty()
    {
        return Err(Error::not_supported(
            "the WebDAV adapter stores no content type, cache-control or user metadata",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------- resumable uploads

#[async_trait]
impl OffsetUpload for WebDavAdapter {
    fn rules(&self) -> PartRules {
        PartRules::unconstrained()
    }

    fn resumability(&self) -> Resumability {
        WebDavAdapter::resumability(self)
    }

    /// Creates the parent collections, makes sure the server supports partial PUT
    /// (`NotSupported` otherwise, before anything is written at the key), and writes an empty
    /// `<key>.fls-part`.
    async fn begin(&self, spec: &UploadSpec) -> Result<Session> {
        let key = spec.key.as_str();
        self.validate_key(key)?;
        check_options(&spec.options)?;
        if !self.inner.resumable {
            return Err(self.partial_put_unsupported());
        }
        self.ensure_collections(&self.parent_segments(key), key)
            .await?;
        self.require_partial_put(key).await?;
        let resp = self
            .send(
                self.request(Method::PUT, &self.part_url(key))
                    .header(header::CONTENT_LENGTH, 0)
                    .body(Bytes::new()),
                "begin",
                key,
            )
            .await?;
        let status = resp.status();
        if status == StatusCode::CONFLICT {
            return Err(self.parent_conflict(key, "begin").await);
        }
        if !status.is_success() {
            return Err(status_error(status, "begin", key));
        }
        Ok(Session::default())
    }

    /// The part file's size; `Finished` if it is gone and an object of the upload's length is
    /// at the key; otherwise the session expired.
    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<OffsetState> {
        let key = spec.key.as_str();
        self.validate_key(key)?;
        self.check_session(session)?;
        if let Some(n) = self.size_of(&self.part_url(key), "probe", key).await? {
            return Ok(OffsetState::Offset(n));
        }
        match self.head_object(key, "probe").await {
            Ok(meta) if meta.size == spec.total => Ok(OffsetState::Finished(meta)),
            Ok(_) => Err(expired(key)),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(expired(key)),
            Err(e) => Err(e),
        }
    }

    /// Checks the part file holds exactly `offset` bytes (else `Conflict`), writes `data` at
    /// `offset` with `Content-Range`, and checks it grew to `offset + len`. A server found to
    /// ignore or refuse `Content-Range` is `NotSupported` (the part file, which it may have
    /// truncated, is deleted; the object at the key is untouched).
    async fn append(
        &self,
        spec: &UploadSpec,
        session: &Session,
        offset: u64,
        data: Bytes,
        _last: bool,
    ) -> Result<OffsetState> {
        let key = spec.key.as_str();
        self.validate_key(key)?;
        self.check_session(session)?;
        let len = data.len() as u64;
        if offset.saturating_add(len) > spec.total {
            return Err(Error::invalid_input(format!(
                "append of {len} bytes at offset {offset} goes past the upload's {} bytes",
                spec.total
            )));
        }
        self.require_partial_put(key).await?;
        let url = self.part_url(key);
        match self.size_of(&url, "append", key).await? {
            None => return Err(expired(key)),
            Some(n) if n != offset => {
                return Err(Error::conflict(format!(
                    "append at offset {offset}, but the part file holds {n} bytes"
                )));
            }
            Some(_) => {}
        }
        if len == 0 {
            return Ok(OffsetState::Offset(offset));
        }
        let range = format!("bytes {}-{}/*", offset, offset + len - 1);
        let resp = self
            .send(
                self.request(Method::PUT, &url)
                    .header(header::CONTENT_RANGE, range)
                    .header(header::CONTENT_LENGTH, len)
                    .body(data),
                "append",
                key,
            )
            .await?;
        let status = resp.status();
        if refuses_partial_put(status) {
            return Err(self.mark_unsupported());
        }
        if !status.is_success() {
            return Err(status_error(status, "append", key));
        }
        match self.size_of(&url, "append", key).await? {
            None => Err(expired(key)),
            Some(n) if n == offset + len => Ok(OffsetState::Offset(n)),
            Some(n) if offset > 0 && n == len => {
                // The server ignored Content-Range and replaced the part file with the chunk.
                let _ = self
                    .send(
                        self.request(Method::DELETE, &url).header("Depth", "0"),
                        "append",
                        key,
                    )
                    .await;
                Err(self.mark_unsupported())
            }
            Some(n) if n > offset && n < offset + len => Ok(OffsetState::Offset(n)),
            Some(n) => Err(Error::conflict(format!(
                "after writing {len} bytes at offset {offset}, the part file of `{key}` holds {n} bytes"
            ))),
        }
    }

    /// Moves `<key>.fls-part` over the key (`MOVE`, `Overwrite: T`) once it holds every byte.
    async fn finish(&self, spec: &UploadSpec, session: &Session) -> Result<ObjectMeta> {
        let key = spec.key.as_str();
        self.validate_key(key)?;
        self.check_session(session)?;
        match self.size_of(&self.part_url(key), "finish", key).await? {
            None => {
                // Finished before (a retried finish): the object is in place.
                return match self.head_object(key, "finish").await {
                    Ok(meta) if meta.size == spec.total => Ok(meta),
                    Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
                    _ => Err(expired(key)),
                };
            }
            Some(n) if n != spec.total => {
                return Err(Error::conflict(format!(
                    "the part file holds {n} bytes, but the upload is {} bytes",
                    spec.total
                )));
            }
            Some(_) => {}
        }
        let req = self
            .request(move_method(), &self.part_url(key))
            .header("Destination", self.key_url(key))
            .header("Overwrite", "T")
            .header("Depth", "0");
        let resp = self.send(req, "finish", key).await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(status_error(status, "finish", key));
        }
        self.head_object(key, "finish").await
    }

    /// Deletes the part file (a missing one is fine).
    async fn cancel(&self, spec: &UploadSpec, session: &Session) -> Result<()> {
        let key = spec.key.as_str();
        self.validate_key(key)?;
        self.check_session(session)?;
        let resp = self
            .send(
                self.request(Method::DELETE, &self.part_url(key))
                    .header("Depth", "0"),
                "cancel",
                key,
            )
            .await?;
        match resp.status().as_u16() {
            200..=299 | 404 | 410 => Ok(()),
            _ => Err(status_error(resp.status(), "cancel", key)),
        }
    }
}

// ---------------------------------------------------------------------- helpers

fn propfind_method() -> Method {
    Method::from_bytes(b"PROPFIND").expect("a valid method")
}
fn mkcol_method() -> Method {
    Method::from_bytes(b"MKCOL").expect("a valid method")
}
fn copy_method() -> Method {
    Method::from_bytes(b"COPY").expect("a valid method")
}
fn move_method() -> Method {
    Method::from_bytes(b"MOVE").expect("a valid method")
}

/// The answers of a server that does not take `Content-Range` on PUT.
fn refuses_partial_put(status: StatusCode) -> bool {
    matches!(status.as_u16(), 400 | 405 | 411 | 416 | 422 | 501)
}

fn expired(key: &str) -> Error {
    Error::new(
        ErrorKind::SessionExpired,
        format!("no part file for `{key}`: the upload was finished, cancelled or never begun"),
    )
}

fn is_reserved(segment: &str) -> bool {
    segment.ends_with(PART_SUFFIX) || segment.ends_with(PROBE_SUFFIX)
}

fn scratch_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(".fls-{}-{n}-{nanos:x}{PROBE_SUFFIX}", std::process::id())
}

/// Maps an HTTP status to an error of the right kind. The message names the operation, the key
/// and the status, never a URL or a header.
fn status_error(status: StatusCode, op: &'static str, key: &str) -> Error {
    let code = status.as_u16();
    let reason = status.canonical_reason().unwrap_or("");
    let msg = format!("{op} of `{key}`: the WebDAV server answered {code} {reason}");
    match code {
        401 => Error::new(
            ErrorKind::Unauthorized,
            format!("{msg} (wrong or missing credentials)"),
        )
        .with_retryable(false),
        403 => Error::new(
            ErrorKind::Unauthorized,
            format!("{msg} (permission denied)"),
        ),
        404 | 410 => Error::not_found(msg),
        409 | 412 => Error::conflict(msg),
        423 => Error::conflict(format!("{msg} (the resource is locked)")),
        408 => Error::new(ErrorKind::Timeout, msg),
        405 | 501 => Error::not_supported(msg),
        400 | 411 | 413 | 414 | 415 | 416 | 422 => Error::invalid_input(msg),
        429 => Error::transient(msg),
        507 => Error::new(
            ErrorKind::Other,
            format!("{msg} (the server is out of space)"),
        ),
        500..=599 => Error::transient(msg),
        _ => Error::new(ErrorKind::Other, msg),
    }
}

/// Maps a transport failure (connection refused or reset, timeout, broken body).
fn transport_error(e: reqwest::Error, op: &'static str, key: &str) -> Error {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_builder() {
        ErrorKind::InvalidInput
    } else {
        ErrorKind::Transient
    };
    // reqwest's message names the URL, which never carries credentials here.
    Error::new(kind, format!("{op} of `{key}`: {e}"))
}

/// Percent-encodes one path segment: everything but `A-Z a-z 0-9 - . _ ~`.
fn encode_segment(seg: &str) -> String {
    let mut out = String::with_capacity(seg.len());
    for b in seg.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn rel_path(segments: &[String]) -> String {
    segments
        .iter()
        .map(|s| encode_segment(s))
        .collect::<Vec<_>>()
        .join("/")
}

/// Decodes `%XX` escapes; invalid UTF-8 is replaced.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(v) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The decoded path of an `href` (a path, or an absolute URL); `None` if it is not UTF-8.
fn href_path(href: &str) -> Option<String> {
    let path = if href.starts_with('/') {
        href.split(['?', '#']).next().unwrap_or("").to_string()
    } else {
        url::Url::parse(href).ok()?.path().to_string()
    };
    let decoded = percent_decode(&path);
    (!decoded.contains('\u{FFFD}')).then_some(decoded)
}

fn normalize_etag(tag: &str) -> String {
    let tag = tag.trim();
    if tag.starts_with('"') || tag.starts_with("W/") {
        tag.to_string()
    } else {
        format!("\"{tag}\"")
    }
}

fn meta_of(key: &str, e: &Entry) -> ObjectMeta {
    let mut m = ObjectMeta::new(key, e.size.unwrap_or(0));
    m.etag = e.etag.as_deref().map(normalize_etag);
    m.last_modified = e.last_modified.as_deref().and_then(parse_http_date);
    m.content_type = e.content_type.clone();
    m
}

fn meta_from_headers(key: &str, h: &HeaderMap) -> ObjectMeta {
    let text = |name: header::HeaderName| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut m = ObjectMeta::new(key, content_length(h).unwrap_or(0));
    m.etag = text(header::ETAG).as_deref().map(normalize_etag);
    m.last_modified = text(header::LAST_MODIFIED)
        .as_deref()
        .and_then(parse_http_date);
    m.content_type = text(header::CONTENT_TYPE);
    m
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `Content-Range: bytes A-B/TOTAL` as `(A, B + 1, TOTAL)`.
fn content_range(h: &HeaderMap) -> Option<(u64, u64, u64)> {
    let v = h.get(header::CONTENT_RANGE)?.to_str().ok()?.trim();
    let v = v.strip_prefix("bytes ")?;
    let (range, total) = v.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    let total: u64 = total.trim().parse().ok()?;
    // `then`, not `then_some`: `b + 1` overflows for `b == u64::MAX`, which the test excludes.
    (a <= b && b < total).then(|| (a, b + 1, total))
}

/// Skips `skip` bytes of a response body and yields the next `take`; a body that ends early
/// fails (retryable) rather than passing on a short object.
fn sliced(
    body: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    skip: u64,
    take: u64,
    key: String,
) -> ByteStream {
    futures::stream::try_unfold(
        (Box::pin(body), skip, take, key),
        |(mut body, mut skip, mut take, key)| async move {
            loop {
                if take == 0 {
                    return Ok(None);
                }
                let Some(chunk) = body.next().await else {
                    return Err(Error::transient(format!(
                        "the download of `{key}` ended {take} bytes early"
                    )));
                };
                let mut chunk = chunk.map_err(|e| transport_error(e, "get", &key))?;
                if skip > 0 {
                    let n = skip.min(chunk.len() as u64);
                    chunk = chunk.slice(n as usize..);
                    skip -= n;
                }
                if chunk.is_empty() {
                    continue;
                }
                if chunk.len() as u64 > take {
                    chunk = chunk.slice(..take as usize);
                }
                take -= chunk.len() as u64;
                return Ok(Some((chunk, (body, skip, take, key))));
            }
        },
    )
    .boxed()
}

/// Parses an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn parse_http_date(s: &str) -> Option<SystemTime> {
    files_core::time::parse_http_date(s)
}

fn base64_encode(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

// ---------------------------------------------------------------------- URLs and registration

/// A builder for a `webdav://` / `webdavs://` URL, and the URL's decoded path. The user comes
/// from the URL or `FILES_WEBDAV_USER`; the password from the URL or `FILES_WEBDAV_PASSWORD`;
/// without a user, a bearer token from `FILES_WEBDAV_TOKEN`.
fn builder_from_url(url: &url::Url) -> Result<(WebDavBuilder, String)> {
    let http = match url.scheme() {
        "webdav" => "http",
        "webdavs" => "https",
        other => {
            return Err(Error::invalid_input(format!(
                "the WebDAV adapter opens webdav:// and webdavs:// URLs, not `{other}://`"
            )));
        }
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::invalid_input("a webdav:// URL needs a host"))?;
    let mut endpoint = format!("{http}://{host}");
    if let Some(port) = url.port() {
        endpoint.push_str(&format!(":{port}"));
    }
    endpoint.push('/');
    let mut builder = WebDavBuilder::default().endpoint(endpoint);
    let mut user = percent_decode(url.username());
    if user.is_empty() && url.password().is_none() {
        user = std::env::var(USER_ENV).unwrap_or_default();
    }
    if !user.is_empty() {
        let password = match url.password() {
            Some(p) => percent_decode(p),
            None => std::env::var(PASSWORD_ENV).unwrap_or_default(),
        };
        builder = builder.basic_auth(user, password);
    } else if url.password().is_some() {
        return Err(Error::invalid_input(
            "a webdav:// URL with a password needs a user name",
        ));
    } else if let Ok(token) = std::env::var(TOKEN_ENV)
        && !token.is_empty()
    {
        builder = builder.bearer_token(token);
    }
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "root" => {}
            "resumable" => {
                builder = builder.resumable(match v.as_ref() {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    _ => {
                        return Err(Error::invalid_input(
                            "the `resumable` parameter of a webdav:// URL is `true` or `false`",
                        ));
                    }
                });
            }
            "password" | "token" | "pass" | "secret" | "auth" | "access_token" => {
                return Err(Error::invalid_input(format!(
                    "credentials are never read from a URL query (`{k}`): put the password in the URL's user info or in {PASSWORD_ENV}, a token in {TOKEN_ENV}"
                )));
            }
            other => {
                return Err(Error::invalid_input(format!(
                    "unknown parameter `{other}` in a webdav:// URL (known: root, resumable)"
                )));
            }
        }
    }
    let path = files_core::registry::percent_decode(url.path())?;
    Ok((builder, path))
}

fn open_store(url: &url::Url) -> Result<std::sync::Arc<dyn Adapter>> {
    let (builder, path) = builder_from_url(url)?;
    Ok(Arc::new(builder.root(path).build()?))
}

fn open_object(url: &url::Url) -> Result<(std::sync::Arc<dyn Adapter>, String)> {
    let (builder, path) = builder_from_url(url)?;
    let root = url
        .query_pairs()
        .find(|(k, _)| k == "root")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| "/".to_string());
    let root_segs = split_root(&root)?;
    let path_segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if path_segs.len() <= root_segs.len()
        || path_segs[..root_segs.len()]
            .iter()
            .zip(&root_segs)
            .any(|(a, b)| *a != b.as_str())
    {
        return Err(Error::invalid_input(format!(
            "the URL path `{path}` does not name an object under the root `{root}`"
        )));
    }
    let key = path_segs[root_segs.len()..].join("/");
    let adapter = builder.root(root).build()?;
    adapter.validate_key(&key)?;
    Ok((Arc::new(adapter), key))
}

/// The factory of the `webdav` scheme (WebDAV over http): `webdav://user@host:port/root`
/// opens the store rooted at `/root`; `webdav://user@host/root/a/b?root=/root` the object
/// `a/b` in it.
pub const FACTORY: files_core::AdapterFactory = files_core::AdapterFactory {
    scheme: "webdav",
    provider: "webdav",
    store: open_store,
    object: open_object,
};

/// The factory of the `webdavs` scheme (WebDAV over https), like [`FACTORY`].
pub const FACTORY_TLS: files_core::AdapterFactory = files_core::AdapterFactory {
    scheme: "webdavs",
    provider: "webdav",
    store: open_store,
    object: open_object,
};

files_core::inventory::submit!(FACTORY);
files_core::inventory::submit!(FACTORY_TLS);

/// Registers this adapter explicitly (fallback for builds where the linker dropped it).
pub fn register() {
    static F: files_core::AdapterFactory = FACTORY;
    static G: files_core::AdapterFactory = FACTORY_TLS;
    files_core::registry::register(&F);
    files_core::registry::register(&G);
}

#[doc(hidden)]
pub mod fuzzing {
    //! The hand-written parsers of this crate, exposed for the fuzz targets in `fuzz/` and
    //! their corpus replay test; not a stable API.

    use std::time::SystemTime;

    /// One `<D:response>` of a PROPFIND answer, as the adapter reads it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct DavEntry {
        /// The `href`, as sent.
        pub href: String,
        /// `resourcetype` holds `collection`.
        pub collection: bool,
        /// `getcontentlength`.
        pub size: Option<u64>,
        /// `getetag`.
        pub etag: Option<String>,
        /// `getlastmodified`.
        pub last_modified: Option<String>,
        /// `getcontenttype`.
        pub content_type: Option<String>,
    }

    /// Parses a `207 Multi-Status` body (the adapter's own parser).
    pub fn multistatus(xml: &str) -> Result<Vec<DavEntry>, String> {
        Ok(super::parse_multistatus(xml)?
            .into_iter()
            .map(|e| DavEntry {
                href: e.href,
                collection: e.collection,
                size: e.size,
                etag: e.etag,
                last_modified: e.last_modified,
                content_type: e.content_type,
            })
            .collect())
    }

    /// The decoded path of an `href`; `None` if it is not UTF-8 or not a URL.
    pub fn href_path(href: &str) -> Option<String> {
        super::href_path(href)
    }

    /// Decodes `%XX` escapes (invalid UTF-8 replaced).
    pub fn percent_decode(s: &str) -> String {
        super::percent_decode(s)
    }

    /// An ETag as the adapter reports it (quoted unless weak or already quoted).
    pub fn normalize_etag(tag: &str) -> String {
        super::normalize_etag(tag)
    }

    /// Parses an HTTP date (`getlastmodified`, `Last-Modified`).
    pub fn parse_http_date(s: &str) -> Option<SystemTime> {
        super::parse_http_date(s)
    }

    /// A `Content-Range` header value as `(start, end + 1, total)`; `None` when it is not a
    /// valid header value or not a usable range.
    pub fn content_range(value: &[u8]) -> Option<(u64, u64, u64)> {
        let mut h = super::HeaderMap::new();
        h.insert(
            super::header::CONTENT_RANGE,
            super::HeaderValue::from_bytes(value).ok()?,
        );
        super::content_range(&h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_and_decoding() {
        assert_eq!(encode_segment("a b/ü%"), "a%20b%2F%C3%BC%25");
        assert_eq!(percent_decode("a%20b%2F%C3%BC%25"), "a b/ü%");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(href_path("http://h:1/x%20y/").as_deref(), Some("/x y/"));
        assert_eq!(href_path("/a/b%C3%BC").as_deref(), Some("/a/bü"));
    }

    #[test]
    fn http_dates() {
        let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(t.duration_since(UNIX_EPOCH).unwrap().as_secs(), 784_111_777);
        assert!(parse_http_date("yesterday").is_none());
    }

    #[test]
    fn base64() {
        assert_eq!(base64_encode(b"alice:secret"), "YWxpY2U6c2VjcmV0");
        assert_eq!(base64_encode(b"a"), "YQ==");
        assert_eq!(base64_encode(b"ab"), "YWI=");
    }

    #[test]
    fn content_ranges() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_static("bytes 5-9/10"),
        );
        assert_eq!(content_range(&h), Some((5, 10, 10)));
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_static("bytes 5-10/10"),
        );
        assert_eq!(content_range(&h), None);
    }

    #[test]
    fn builder_and_urls() {
        let a = WebDavAdapter::builder()
            .endpoint("http://127.0.0.1:8080/dav")
            .root("/my store/x/")
            .basic_auth("alice", "s3cret-pw")
            .build()
            .unwrap();
        assert_eq!(a.target(), "http://127.0.0.1:8080/dav/my%20store/x/");
        assert_eq!(
            a.key_url("a b/c"),
            "http://127.0.0.1:8080/dav/my%20store/x/a%20b/c"
        );
        assert_eq!(
            a.part_url("c"),
            "http://127.0.0.1:8080/dav/my%20store/x/c.fls-part"
        );
        let dbg = format!("{a:?}");
        assert!(!dbg.contains("s3cret-pw"), "{dbg}");
        for bad in ["../x", "a/./b"] {
            assert!(
                WebDavAdapter::builder()
                    .endpoint("http://h/")
                    .root(bad)
                    .build()
                    .is_err()
            );
        }
        for bad in ["ftp://h/", "http://u:p@h/", "http://h/?x=1", "not a url"] {
            let e = WebDavAdapter::builder().endpoint(bad).build().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
            assert!(!e.to_string().contains(":p@"), "{e}");
        }
        for bad in ["a.fls-part", "d/x.fls-probe", "dir/", "../x", "a\0b"] {
            assert!(a.validate_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn url_split() {
        let url =
            url::Url::parse("webdav://bob:p%40ss@host:81/dav/st/a/b.txt?root=/dav/st").unwrap();
        let (adapter, key) = open_object(&url).unwrap();
        assert_eq!(key, "a/b.txt");
        assert_eq!(adapter.target(), "http://host:81/dav/st/");
        let dbg = format!("{adapter:?}");
        assert!(!dbg.contains("p@ss") && !dbg.contains("p%40ss"), "{dbg}");
        let url = url::Url::parse("webdavs://host/dav/st/a").unwrap();
        let (adapter, key) = open_object(&url).unwrap();
        assert_eq!(
            (adapter.target().as_str(), key.as_str()),
            ("https://host/", "dav/st/a")
        );
        let store = open_store(&url::Url::parse("webdavs://host/dav/st").unwrap()).unwrap();
        assert_eq!(store.target(), "https://host/dav/st/");
        for bad in [
            "webdav://host/a?password=x",
            "webdav://host/a?bogus=1",
            "webdav://host/x/a?root=/y",
            "webdav://host/y?root=/y",
        ] {
            let e = open_object(&url::Url::parse(bad).unwrap()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
        }
        let (a, _) =
            open_object(&url::Url::parse("webdav://h/a?resumable=false").unwrap()).unwrap();
        assert_eq!(a.capabilities().resumable, Resumability::None);
    }
}
