//! The adapter and its everyday operations: put, head, get, delete, list, copy, rename.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::header;
use reqwest::{Method, StatusCode};

use files_core::{
    Adapter, ByteRange, ByteStream, Capabilities, Error, ErrorKind, GetResponse, ListPage,
    ListRequest, ObjectMeta, PutOptions, Result, Resumability, Session, UploadFamily,
};
use files_http::Auth;

use crate::config::{WebDavBuilder, builder_from_url};
use crate::http::{
    copy_method, full_content_range, move_method, refused, transport_error, whole_size_416,
};
use crate::upload::{PART_SUFFIX, PARTIAL_NO, PARTIAL_YES, PROBE_SUFFIX, is_reserved};

/// Default page size of [`Adapter::list`].
const DEFAULT_LIMIT: usize = 1000;

/// A collection on a WebDAV server used as an object store. See the [crate docs](crate).
///
/// Cheap to clone: clones share the HTTP client, the partial-PUT answer and the cache of
/// collections known to exist.
#[derive(Clone)]
pub struct WebDavAdapter {
    pub(crate) inner: Arc<Inner>,
}

/// What the clones of an adapter share.
pub(crate) struct Inner {
    pub(crate) client: reqwest::Client,
    /// The endpoint, ending with `/`, without credentials.
    pub(crate) endpoint: url::Url,
    /// Root segments under the endpoint (decoded).
    pub(crate) root: Vec<String>,
    /// The root collection's URL ([`Adapter::target`]).
    pub(crate) target: String,
    pub(crate) auth: Auth,
    pub(crate) resumable: bool,
    /// What the partial-PUT detection found (`PARTIAL_*` of `upload`).
    pub(crate) partial_put: AtomicU8,
    pub(crate) detect_lock: tokio::sync::Mutex<()>,
    /// Paths (relative to the endpoint, encoded, ending with `/`) of collections known to exist.
    pub(crate) collections: Mutex<HashSet<String>>,
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
        let own = files_http::encode::decode_lossy(
            url::Url::parse(&url)
                .map(|u| u.path().to_string())
                .unwrap_or_default()
                .as_str(),
        );
        let own = own.trim_end_matches('/').to_string();
        let mut out = Vec::new();
        for e in entries {
            let Some(path) = crate::http::href_path(&e.href) else {
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
                let meta = crate::http::meta_of(&key, &e);
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
}

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
            return Err(refused(&resp, "put", key));
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
        let headers = resp.headers();
        let mut meta = files_http::headers::meta_from_headers(key, headers, None);
        // The adapter stores no cache-control: a server's caching header is not the object's.
        meta.cache_control = None;
        let (served, want) = match status.as_u16() {
            206 => {
                let (start, end, total) = full_content_range(headers).ok_or_else(|| {
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
                let total = files_http::headers::content_length(headers).ok_or_else(|| {
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
                if let (Some(total), Some(r)) = (whole_size_416(headers), range) {
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
            _ => return Err(refused(&resp, "get", key)),
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
        match resp.status().as_u16() {
            200..=299 | 404 | 410 => Ok(()),
            // `Depth: 0` on a collection: a collection is not an object, nothing to delete.
            400 => match self.stat(&url, "delete", key).await? {
                Some(e) if e.collection => Ok(()),
                _ => Err(refused(&resp, "delete", key)),
            },
            _ => Err(refused(&resp, "delete", key)),
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

/// Refuses what the adapter cannot store: content types, cache-control, user metadata.
pub(crate) fn check_options(options: &PutOptions) -> Result<()> {
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
