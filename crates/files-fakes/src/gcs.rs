//! [`FakeGcs`]: a protocol-faithful fake of the parts of the Google Cloud Storage JSON API the
//! `files-gcs` adapter uses, on the [`kit`](crate::kit). It behaves like the real service where
//! gcp-storage-emulator does not (that emulator's harness stays in `files-testkit`).
//!
//! Follows these documentation pages:
//! * <https://cloud.google.com/storage/docs/json_api/v1/objects/insert> (`uploadType=media|
//!   multipart|resumable`), `objects/get` (metadata, and `alt=media` with `Range`),
//!   `objects/patch` (metadata merged; an empty value removes a key), `objects/delete`,
//!   `objects/list` (`prefix`, `delimiter`, `pageToken`, `maxResults` counting items and
//!   prefixes together), `objects/rewrite` (always answered in two calls, so the
//!   `rewriteToken` loop is exercised);
//! * <https://cloud.google.com/storage/docs/performing-resumable-uploads> and
//!   <https://cloud.google.com/storage/docs/resumable-uploads>:
//!   * status query (`Content-Range: bytes */T`): `308` **without** `Range` when nothing is
//!     persisted, `308` with `Range: bytes=0-N` otherwise, `200` with the resource once
//!     complete (a session holding every byte of a known total is finalized by the query);
//!   * chunks: every chunk that does not end the upload must be a multiple of 256 KiB (else
//!     `400`); a chunk starting after the persisted offset is `400`; a chunk overlapping
//!     persisted bytes has the overlap ignored; a chunk whose body the kit cut
//!     ([`FaultAction::CutBodyAfter`](crate::kit::FaultAction::CutBodyAfter)) persists the
//!     received bytes rounded down to 256 KiB, as the service may;
//!   * `DELETE` answers `499`; a cancelled or unknown session then answers `404`;
//!   * a session expires one week after it was started, by the fake's [`FakeClock`]
//!     (then `410`); [`FakeGcs::expire_session`] expires one at once;
//! * Firebase download-token URLs (`/v0/b/B/o/K?alt=media&token=T`, the token one of the
//!   object's `firebaseStorageDownloadTokens`).
//!
//! Fault hooks of its own: [`FakeGcs::fail_next_chunks`] (answer `503` to the next N chunks
//! without persisting) and [`FakeGcs::persist_partially`] (the next chunk persists only its
//! first 256 KiB, answering `308` with the shorter range, as the real service may); the kit's
//! knobs ([`FakeGcs::server`]) work on every route.
//!
//! Not modelled: authentication (any or no `Authorization` is accepted), buckets' own API,
//! preconditions (`ifGenerationMatch`...), `fields`/`projection`, `md5Hash`/`crc32c` in
//! resources, object versioning, ACLs, XML API and signed URLs, compose, quotas and rate
//! limits (use the kit's faults), `updated` times (always `2026-01-01T00:00:00.000Z`).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::kit::{
    Blob, FakeClock, FakeRequest, FakeServer, Reply, parse_multipart, pct_encode, query_decode,
};

const ALIGN: usize = 256 * 1024;
/// How long a resumable session lives.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Clone, Debug)]
struct Object {
    blob: Blob,
    generation: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum SessionState {
    Active,
    Cancelled,
    Expired,
    Done(String),
}

#[derive(Debug)]
struct UploadSession {
    bucket: String,
    name: String,
    resource: Value,
    data: Vec<u8>,
    total: Option<u64>,
    state: SessionState,
    created: SystemTime,
}

#[derive(Default, Debug)]
struct Db {
    buckets: HashMap<String, BTreeMap<String, Object>>,
    sessions: HashMap<String, UploadSession>,
    generation: u64,
    fail_chunks: u32,
    partial_next: bool,
}

impl Db {
    /// Marks the sessions past their lifetime expired.
    fn expire_due(&mut self, now: SystemTime) {
        for s in self.sessions.values_mut() {
            if s.state == SessionState::Active && now >= s.created + SESSION_LIFETIME {
                s.state = SessionState::Expired;
            }
        }
    }
}

#[derive(Clone)]
struct App {
    st: Arc<Mutex<Db>>,
    endpoint: String,
    clock: FakeClock,
}

impl App {
    fn lock(&self) -> std::sync::MutexGuard<'_, Db> {
        let mut st = self.st.lock().unwrap();
        st.expire_due(self.clock.now());
        st
    }
}

/// The in-process fake GCS server. Dropping it stops it.
pub struct FakeGcs {
    server: FakeServer,
    app: App,
}

impl std::fmt::Debug for FakeGcs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGcs")
            .field("port", &self.server.port())
            .finish()
    }
}

impl FakeGcs {
    /// Starts the fake on a free 127.0.0.1 port.
    pub fn start() -> io::Result<FakeGcs> {
        FakeGcs::start_on(0)
    }

    /// Starts the fake on 127.0.0.1:`port` (0: a free one).
    pub fn start_on(port: u16) -> io::Result<FakeGcs> {
        let st: Arc<Mutex<Db>> = Arc::default();
        let mut app = None;
        let server = FakeServer::builder("fake-gcs").port(port).start(|ctx| {
            let a = App {
                st: st.clone(),
                endpoint: ctx.endpoint.clone(),
                clock: ctx.clock.clone(),
            };
            app = Some(a.clone());
            router(a)
        })?;
        let app = app.expect("the router was built");
        Ok(FakeGcs { server, app })
    }

    /// Its endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The kit's server: request log, clock, fault knobs.
    pub fn server(&self) -> &FakeServer {
        &self.server
    }

    /// Its clock (sessions expire [`SESSION_LIFETIME`] after they started).
    pub fn clock(&self) -> &FakeClock {
        self.server.clock()
    }

    /// Creates a bucket named `t-{tag}-...` and returns its name.
    pub fn new_bucket(&self, tag: &str) -> String {
        let name = unique_bucket_name(tag);
        self.create_bucket(&name);
        name
    }

    /// Creates a bucket (any name).
    pub fn create_bucket(&self, name: &str) {
        self.app.lock().buckets.entry(name.to_string()).or_default();
    }

    /// The bytes of an object, read directly.
    pub fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let st = self.app.lock();
        st.buckets
            .get(bucket)?
            .get(key)
            .map(|o| o.blob.data.to_vec())
    }

    /// Sessions of `key` that are still open (active, not cancelled/expired/done).
    pub fn open_sessions(&self, bucket: &str, key: &str) -> Vec<String> {
        let st = self.app.lock();
        st.sessions
            .iter()
            .filter(|(_, s)| s.bucket == bucket && s.name == key && s.state == SessionState::Active)
            .map(|(id, s)| format!("session {id} of {} ({} bytes)", s.name, s.data.len()))
            .collect()
    }

    /// Whether the session a session URL names is still open.
    pub fn session_open(&self, session_url: &str) -> bool {
        let Some(id) = upload_id_of(session_url) else {
            return false;
        };
        let st = self.app.lock();
        st.sessions
            .get(&id)
            .is_some_and(|s| s.state == SessionState::Active)
    }

    /// Makes the session a session URL names expire: it answers `410 Gone` from now on.
    /// Returns whether such a session existed.
    pub fn expire_session(&self, session_url: &str) -> bool {
        let Some(id) = upload_id_of(session_url) else {
            return false;
        };
        let mut st = self.app.lock();
        match st.sessions.get_mut(&id) {
            Some(s) => {
                s.state = SessionState::Expired;
                true
            }
            None => false,
        }
    }

    /// The next `n` chunk uploads fail with `503` (nothing persisted).
    pub fn fail_next_chunks(&self, n: u32) {
        self.app.lock().fail_chunks = n;
    }

    /// The next chunk longer than 256 KiB persists only its first 256 KiB (answer `308`).
    pub fn persist_partially(&self) {
        self.app.lock().partial_next = true;
    }

    /// Every request line served so far (`METHOD path`, the path as sent), for tests that
    /// assert what was sent.
    pub fn requests(&self) -> Vec<String> {
        self.server.log().all().iter().map(|r| r.line()).collect()
    }
}

/// A bucket name unique across processes: `t-{tag}-{time}-{pid}-{n}`.
fn unique_bucket_name(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut tag: String = tag
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while tag.contains("--") {
        tag = tag.replace("--", "-");
    }
    tag.truncate(24);
    let tag = tag.trim_matches('-');
    let tag = if tag.is_empty() { "b" } else { tag };
    format!(
        "t-{tag}-{:x}-{:x}-{n}",
        (nanos as u64) & 0xffff_ffff_ffff,
        std::process::id()
    )
}

fn upload_id_of(url: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "upload_id")
        .map(|(_, v)| query_decode(v))
}

// ------------------------------------------------------------------------------- routes

fn router(app: App) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { json_response(200, &json!({"fake": "gcs"})) }),
        )
        .route(
            "/upload/storage/v1/b/{bucket}/o",
            post(insert).put(chunk).delete(cancel),
        )
        .route("/storage/v1/b/{bucket}/o", get(list))
        .route(
            "/storage/v1/b/{sb}/o/{sk}/rewriteTo/b/{db}/o/{dk}",
            post(rewrite),
        )
        .route(
            "/storage/v1/b/{bucket}/o/{key}",
            get(get_object).patch(patch).delete(delete),
        )
        .route("/v0/b/{bucket}/o/{key}", get(firebase))
        .fallback(no_route)
        .method_not_allowed_fallback(no_route)
        .with_state(app)
}

fn json_response(status: u16, v: &Value) -> Reply {
    Reply::json(status, v)
}

fn error(status: u16, message: &str) -> Reply {
    json_response(
        status,
        &json!({"error": {"code": status, "message": message}}),
    )
}

async fn no_route(req: FakeRequest) -> Reply {
    error(404, &format!("no route for {} {}", req.method, req.path))
}

fn resource(bucket: &str, name: &str, o: &Object) -> Value {
    let mut v = json!({
        "kind": "storage#object",
        "bucket": bucket,
        "name": name,
        "size": o.blob.len().to_string(),
        "generation": o.generation.to_string(),
        "etag": format!("gen-{}", o.generation),
        "updated": "2026-01-01T00:00:00.000Z",
    });
    if let Some(ct) = &o.blob.content_type {
        v["contentType"] = json!(ct);
    }
    if let Some(cc) = &o.blob.cache_control {
        v["cacheControl"] = json!(cc);
    }
    if !o.blob.metadata.is_empty() {
        v["metadata"] = json!(o.blob.metadata);
    }
    v
}

fn object_from_resource(meta: &Value, data: Bytes, default_ct: Option<String>) -> Object {
    let s = |k: &str| meta.get(k).and_then(Value::as_str).map(str::to_string);
    let metadata = meta
        .get("metadata")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Object {
        blob: Blob {
            data,
            content_type: s("contentType").or(default_ct),
            cache_control: s("cacheControl"),
            metadata,
        },
        generation: 0,
    }
}

fn store(st: &mut Db, bucket: &str, name: &str, mut o: Object) -> Option<Value> {
    st.generation += 1;
    o.generation = st.generation;
    let b = st.buckets.get_mut(bucket)?;
    let v = resource(bucket, name, &o);
    b.insert(name.to_string(), o);
    Some(v)
}

async fn get_object(
    State(app): State<App>,
    Path((bucket, key)): Path<(String, String)>,
    req: FakeRequest,
) -> Reply {
    let st = app.lock();
    let Some(b) = st.buckets.get(&bucket) else {
        return error(404, "no such bucket");
    };
    let Some(o) = b.get(&key) else {
        return error(404, "no such object");
    };
    if req.param("alt") == Some("media") {
        media(&req, o)
    } else {
        json_response(200, &resource(&bucket, &key, o))
    }
}

async fn patch(
    State(app): State<App>,
    Path((bucket, key)): Path<(String, String)>,
    req: FakeRequest,
) -> Reply {
    let patch: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let mut st = app.lock();
    let Some(o) = st.buckets.get_mut(&bucket).and_then(|b| b.get_mut(&key)) else {
        return error(404, "no such object");
    };
    if let Some(m) = patch.get("metadata").and_then(Value::as_object) {
        for (k, v) in m {
            match v.as_str() {
                Some(s) if !s.is_empty() => {
                    o.blob.metadata.insert(k.clone(), s.to_string());
                }
                _ => {
                    o.blob.metadata.remove(k);
                }
            }
        }
    }
    json_response(200, &resource(&bucket, &key, o))
}

async fn delete(State(app): State<App>, Path((bucket, key)): Path<(String, String)>) -> Reply {
    match app
        .lock()
        .buckets
        .get_mut(&bucket)
        .and_then(|b| b.remove(&key))
    {
        Some(_) => Reply::new(204),
        None => error(404, "no such object"),
    }
}

async fn firebase(
    State(app): State<App>,
    Path((bucket, key)): Path<(String, String)>,
    req: FakeRequest,
) -> Reply {
    let st = app.lock();
    let Some(o) = st.buckets.get(&bucket).and_then(|b| b.get(&key)) else {
        return error(404, "not found");
    };
    let token = req.param("token").unwrap_or("");
    let ok = !token.is_empty()
        && o.blob
            .metadata
            .get("firebaseStorageDownloadTokens")
            .is_some_and(|t| t.split(',').any(|t| t.trim() == token));
    if ok && req.param("alt") == Some("media") {
        media(&req, o)
    } else {
        error(403, "permission denied")
    }
}

fn media(req: &FakeRequest, o: &Object) -> Reply {
    o.blob
        .serve_range(req.header("range"), || error(416, "range not satisfiable"))
}

async fn insert(State(app): State<App>, Path(bucket): Path<String>, req: FakeRequest) -> Reply {
    let mut st = app.lock();
    if !st.buckets.contains_key(&bucket) {
        return error(404, "no such bucket");
    }
    match req.param("uploadType") {
        Some("media") => {
            let Some(name) = req.param("name") else {
                return error(400, "no name");
            };
            let o = object_from_resource(
                &Value::Null,
                req.body.clone(),
                req.header("content-type").map(str::to_string),
            );
            let v = store(&mut st, &bucket, name, o).expect("bucket exists");
            json_response(200, &v)
        }
        Some("multipart") => {
            let Some((meta, data, ct)) = multipart(&req) else {
                return error(400, "bad multipart body");
            };
            let Some(name) = req
                .param("name")
                .map(str::to_string)
                .or_else(|| meta.get("name").and_then(Value::as_str).map(str::to_string))
            else {
                return error(400, "no name");
            };
            let o = object_from_resource(&meta, data, ct);
            let v = store(&mut st, &bucket, &name, o).expect("bucket exists");
            json_response(200, &v)
        }
        Some("resumable") => {
            let meta: Value = if req.body.is_empty() {
                json!({})
            } else {
                match serde_json::from_slice(&req.body) {
                    Ok(v) => v,
                    Err(_) => return error(400, "bad metadata"),
                }
            };
            let Some(name) = req
                .param("name")
                .map(str::to_string)
                .or_else(|| meta.get("name").and_then(Value::as_str).map(str::to_string))
            else {
                return error(400, "no name");
            };
            static NEXT: AtomicU64 = AtomicU64::new(1);
            let id = format!(
                "ABPnz{}x{:x}",
                NEXT.fetch_add(1, Ordering::SeqCst),
                std::process::id()
            );
            let total = req
                .header("x-upload-content-length")
                .and_then(|v| v.parse().ok());
            let mut meta = meta;
            if meta.get("contentType").is_none()
                && let Some(ct) = req.header("x-upload-content-type")
            {
                meta["contentType"] = json!(ct);
            }
            st.sessions.insert(
                id.clone(),
                UploadSession {
                    bucket: bucket.clone(),
                    name: name.clone(),
                    resource: meta,
                    data: Vec::new(),
                    total,
                    state: SessionState::Active,
                    created: app.clock.now(),
                },
            );
            let location = format!(
                "{}/upload/storage/v1/b/{bucket}/o?uploadType=resumable&name={}&upload_id={id}",
                app.endpoint,
                pct_encode(&name)
            );
            Reply::new(200).header("Location", location)
        }
        _ => error(400, "unsupported uploadType"),
    }
}

/// The metadata, the media and the media's type of a `multipart/related` insert.
fn multipart(req: &FakeRequest) -> Option<(Value, Bytes, Option<String>)> {
    let parts = parse_multipart(req.header("content-type")?, &req.body)?;
    let [meta, media] = parts.as_slice() else {
        return None;
    };
    let meta: Value = serde_json::from_slice(&meta.body).ok()?;
    Some((meta, media.body.clone(), media.header("content-type")))
}

async fn cancel(State(app): State<App>, req: FakeRequest) -> Reply {
    let Some(id) = req.param("upload_id") else {
        return error(400, "no upload_id");
    };
    let mut st = app.lock();
    match st.sessions.get_mut(id) {
        Some(s) if s.state == SessionState::Active => {
            s.state = SessionState::Cancelled;
            Reply::new(499)
        }
        Some(s) if s.state == SessionState::Expired => error(410, "gone"),
        _ => error(404, "no such upload session"),
    }
}

fn finalize(st: &mut Db, id: &str) -> Reply {
    let s = st.sessions.get(id).expect("session exists");
    let (bucket, name) = (s.bucket.clone(), s.name.clone());
    let o = object_from_resource(&s.resource, Bytes::from(s.data.clone()), None);
    let Some(v) = store(st, &bucket, &name, o) else {
        return error(404, "no such bucket");
    };
    let s = st.sessions.get_mut(id).expect("session exists");
    s.state = SessionState::Done(v.to_string());
    s.data = Vec::new();
    json_response(200, &v)
}

fn incomplete(persisted: usize) -> Reply {
    let r = Reply::new(308);
    if persisted == 0 {
        r
    } else {
        r.header("Range", format!("bytes=0-{}", persisted - 1))
    }
}

async fn chunk(State(app): State<App>, req: FakeRequest) -> Reply {
    let Some(id) = req.param("upload_id").map(str::to_string) else {
        return error(400, "no upload_id");
    };
    let mut st = app.lock();
    let st = &mut *st;
    let Some(s) = st.sessions.get(&id) else {
        return error(404, "no such upload session");
    };
    match &s.state {
        SessionState::Cancelled => return error(404, "the upload session was cancelled"),
        SessionState::Expired => return error(410, "the upload session expired"),
        SessionState::Done(v) => {
            let v: Value = serde_json::from_str(v).unwrap_or(Value::Null);
            return json_response(200, &v);
        }
        SessionState::Active => {}
    }
    let Some(cr) = req
        .header("content-range")
        .and_then(|v| v.strip_prefix("bytes "))
    else {
        return error(400, "a chunk needs Content-Range");
    };
    let Some((range, total)) = cr.split_once('/') else {
        return error(400, "bad Content-Range");
    };
    let total: Option<u64> = match total {
        "*" => None,
        t => match t.parse() {
            Ok(t) => Some(t),
            Err(_) => return error(400, "bad Content-Range total"),
        },
    };
    if let (Some(a), Some(b)) = (total, s.total)
        && a != b
    {
        return error(400, "the total differs from the session's");
    }
    let persisted = s.data.len();
    if range == "*" {
        // Status query (or the finalizing request of an upload whose total was unknown).
        if req.body.is_empty()
            && let Some(t) = total
            && persisted as u64 == t
        {
            let s = st.sessions.get_mut(&id).expect("session exists");
            s.total = Some(t);
            return finalize(st, &id);
        }
        return incomplete(persisted);
    }
    let Some((a, b)) = range.split_once('-') else {
        return error(400, "bad Content-Range");
    };
    let (Ok(start), Ok(end)) = (a.parse::<usize>(), b.parse::<usize>()) else {
        return error(400, "bad Content-Range");
    };
    // A body the kit cut: what arrived, rounded down to 256 KiB, is what the service keeps.
    let body: &[u8] = if req.body_cut {
        &req.body[..req.body.len() / ALIGN * ALIGN]
    } else {
        &req.body
    };
    if !req.body_cut && (end < start || end - start + 1 != body.len()) {
        return error(400, "the Content-Range does not match the body's length");
    }
    let ends_upload = !req.body_cut && total.is_some_and(|t| end as u64 + 1 == t);
    if let Some(t) = total
        && end as u64 >= t
    {
        return error(400, "the chunk goes past the total");
    }
    if !ends_upload && !body.len().is_multiple_of(ALIGN) {
        return error(
            400,
            "chunks that do not end the upload must be a multiple of 256 KiB",
        );
    }
    if start > persisted {
        return error(400, "the chunk starts after the persisted bytes");
    }
    if st.fail_chunks > 0 {
        st.fail_chunks -= 1;
        return error(503, "injected failure");
    }
    let partial = std::mem::take(&mut st.partial_next) && body.len() > ALIGN;
    let s = st.sessions.get_mut(&id).expect("session exists");
    let skip = persisted - start;
    let mut new = &body[skip.min(body.len())..];
    if partial {
        let keep = (start + ALIGN).saturating_sub(persisted).min(new.len());
        new = &new[..keep];
    }
    s.data.extend_from_slice(new);
    if total.is_some() {
        s.total = total;
    }
    let have = s.data.len();
    if s.total.is_some_and(|t| have as u64 == t) {
        return finalize(st, &id);
    }
    incomplete(have)
}

async fn list(State(app): State<App>, Path(bucket): Path<String>, req: FakeRequest) -> Reply {
    let st = app.lock();
    let Some(b) = st.buckets.get(&bucket) else {
        return error(404, "no such bucket");
    };
    let prefix = req.param("prefix").unwrap_or("");
    let delimiter = req.param("delimiter").filter(|d| !d.is_empty());
    let max: usize = req
        .param("maxResults")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .clamp(1, 1000);
    let after = req
        .param("pageToken")
        .map(|t| query_decode(t.strip_prefix("tok:").unwrap_or(t)));
    // Entries in name order: objects, and prefixes at the position of their first object.
    let mut entries: Vec<(String, bool)> = Vec::new();
    for name in b.keys().filter(|k| k.starts_with(prefix)) {
        if let Some(d) = delimiter
            && let Some(i) = name[prefix.len()..].find(d)
        {
            let p = name[..prefix.len() + i + d.len()].to_string();
            if entries.last().map(|(n, _)| n) != Some(&p) {
                entries.push((p, true));
            }
            continue;
        }
        entries.push((name.clone(), false));
    }
    let start = match &after {
        Some(a) => entries
            .iter()
            .position(|(n, _)| n > a)
            .unwrap_or(entries.len()),
        None => 0,
    };
    let page = &entries[start..(start + max).min(entries.len())];
    let items: Vec<Value> = page
        .iter()
        .filter(|(_, p)| !p)
        .map(|(n, _)| resource(&bucket, n, &b[n]))
        .collect();
    let prefixes: Vec<&String> = page.iter().filter(|(_, p)| *p).map(|(n, _)| n).collect();
    let mut v = json!({"kind": "storage#objects"});
    if !items.is_empty() {
        v["items"] = json!(items);
    }
    if !prefixes.is_empty() {
        v["prefixes"] = json!(prefixes);
    }
    if start + max < entries.len()
        && let Some((last, _)) = page.last()
    {
        v["nextPageToken"] = json!(format!("tok:{}", pct_encode(last)));
    }
    json_response(200, &v)
}

async fn rewrite(
    State(app): State<App>,
    Path((sb, sk, db, dk)): Path<(String, String, String, String)>,
    req: FakeRequest,
) -> Reply {
    let mut st = app.lock();
    let Some(src) = st.buckets.get(&sb).and_then(|b| b.get(&sk)).cloned() else {
        return error(404, "no such source object");
    };
    if !st.buckets.contains_key(&db) {
        return error(404, "no such bucket");
    }
    let size = src.blob.len();
    // Like the real service with large objects: the first call returns a token.
    if req.param("rewriteToken").is_none() {
        return json_response(
            200,
            &json!({
                "kind": "storage#rewriteResponse",
                "totalBytesRewritten": (size / 2).to_string(),
                "objectSize": size.to_string(),
                "done": false,
                "rewriteToken": format!("rw-{}", pct_encode(&req.raw_target)),
            }),
        );
    }
    let v = store(&mut st, &db, &dk, src).expect("bucket exists");
    json_response(
        200,
        &json!({
            "kind": "storage#rewriteResponse",
            "totalBytesRewritten": size.to_string(),
            "objectSize": size.to_string(),
            "done": true,
            "resource": v,
        }),
    )
}
