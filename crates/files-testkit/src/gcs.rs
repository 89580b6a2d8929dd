//! GCS test servers: gcp-storage-emulator ([`GcsEmulator`]) and [`FakeGcs`], a
//! protocol-faithful fake of the parts of the JSON API the `files-gcs` adapter uses, written
//! from Google's documentation, that behaves like the real service where the emulator does not.
//!
//! The fake (in-process, std threads, HTTP/1.1 on a 127.0.0.1 port) implements: objects insert
//! (`uploadType=media|multipart|resumable`), get (metadata, and `alt=media` with `Range`),
//! patch (metadata merge), delete, list (`prefix`, `delimiter`, `pageToken`, `maxResults`,
//! counting items and prefixes together), rewrite (always in two calls, so the
//! `rewriteToken` loop is exercised), Firebase download-token URLs (`/v0/b/B/o/K?alt=media&
//! token=T`), and resumable sessions as documented:
//!
//! * status query (`Content-Range: bytes */T`): `308` **without** `Range` when nothing is
//!   persisted, `308` with `Range: bytes=0-N` otherwise, `200` with the resource once complete
//!   (a session holding every byte of a known total is finalized by the query);
//! * chunks: every chunk that does not end the upload must be a multiple of 256 KiB (else
//!   `400`); a chunk starting after the persisted offset is `400`; a chunk overlapping persisted
//!   bytes has the overlap ignored;
//! * `DELETE` answers `499`; a cancelled or unknown session then answers `404`;
//! * [`FakeGcs::expire_session`] makes a session answer `410` (what an expired one does).
//!
//! Fault hooks: [`FakeGcs::fail_next_chunks`] (answer `503` to the next N chunks without
//! persisting) and [`FakeGcs::persist_partially`] (the next chunk persists only its first 256
//! KiB, answering `308` with the shorter range, as the real service may).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::httpd::{Dialect, Request, Response, Server, path_decode, pct_decode};
use crate::servers::{self, ServerProcess};

const ALIGN: usize = 256 * 1024;

#[derive(Clone, Debug)]
struct Object {
    data: Vec<u8>,
    content_type: Option<String>,
    cache_control: Option<String>,
    metadata: BTreeMap<String, String>,
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
}

#[derive(Default, Debug)]
struct State {
    buckets: HashMap<String, BTreeMap<String, Object>>,
    sessions: HashMap<String, UploadSession>,
    generation: u64,
    fail_chunks: u32,
    partial_next: bool,
    requests: Vec<String>,
}

/// The in-process fake GCS server. Dropping it stops it.
pub struct FakeGcs {
    server: Server,
    state: Arc<Mutex<State>>,
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
        let state: Arc<Mutex<State>> = Arc::default();
        let st = state.clone();
        let server = Server::start("fake-gcs", DIALECT, move |port| {
            move |req: &Request| handle(req, port, &st)
        })?;
        Ok(FakeGcs { server, state })
    }

    /// Its endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.server.port())
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Creates a bucket named `t-{tag}-...` and returns its name.
    pub fn new_bucket(&self, tag: &str) -> String {
        let name = servers::unique_bucket_name(tag);
        self.create_bucket(&name);
        name
    }

    /// Creates a bucket (any name).
    pub fn create_bucket(&self, name: &str) {
        self.state
            .lock()
            .unwrap()
            .buckets
            .entry(name.to_string())
            .or_default();
    }

    /// The bytes of an object, read directly.
    pub fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let st = self.state.lock().unwrap();
        st.buckets.get(bucket)?.get(key).map(|o| o.data.clone())
    }

    /// Sessions of `key` that are still open (active, not cancelled/expired/done).
    pub fn open_sessions(&self, bucket: &str, key: &str) -> Vec<String> {
        let st = self.state.lock().unwrap();
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
        let st = self.state.lock().unwrap();
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
        let mut st = self.state.lock().unwrap();
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
        self.state.lock().unwrap().fail_chunks = n;
    }

    /// The next chunk longer than 256 KiB persists only its first 256 KiB (answer `308`).
    pub fn persist_partially(&self) {
        self.state.lock().unwrap().partial_next = true;
    }

    /// Every request line served so far (`METHOD path`), for tests that assert what was sent.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn upload_id_of(url: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "upload_id")
        .map(|(_, v)| pct_decode(v))
}

// ------------------------------------------------------------------------------- HTTP plumbing

/// How the fake's HTTP differs from [`FakeDrive`](crate::gdrive::FakeDrive)'s: segments are
/// decoded by [`handle`] (so `+` stays `+` in a path), and `HEAD` gets no body.
const DIALECT: Dialect = Dialect {
    decode_path: false,
    head_without_body: true,
};

fn json_response(status: u16, v: &Value) -> Response {
    let mut r = Response::new(status);
    r.headers
        .push(("Content-Type".into(), "application/json".into()));
    r.body = v.to_string().into_bytes();
    r
}

fn error(status: u16, message: &str) -> Response {
    json_response(
        status,
        &json!({"error": {"code": status, "message": message}}),
    )
}

fn pct_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ------------------------------------------------------------------------------- the API

fn resource(bucket: &str, name: &str, o: &Object) -> Value {
    let mut v = json!({
        "kind": "storage#object",
        "bucket": bucket,
        "name": name,
        "size": o.data.len().to_string(),
        "generation": o.generation.to_string(),
        "etag": format!("gen-{}", o.generation),
        "updated": "2026-01-01T00:00:00.000Z",
    });
    if let Some(ct) = &o.content_type {
        v["contentType"] = json!(ct);
    }
    if let Some(cc) = &o.cache_control {
        v["cacheControl"] = json!(cc);
    }
    if !o.metadata.is_empty() {
        v["metadata"] = json!(o.metadata);
    }
    v
}

fn object_from_resource(meta: &Value, data: Vec<u8>, default_ct: Option<String>) -> Object {
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
        data,
        content_type: s("contentType").or(default_ct),
        cache_control: s("cacheControl"),
        metadata,
        generation: 0,
    }
}

fn store(st: &mut State, bucket: &str, name: &str, mut o: Object) -> Option<Value> {
    st.generation += 1;
    o.generation = st.generation;
    let b = st.buckets.get_mut(bucket)?;
    let v = resource(bucket, name, &o);
    b.insert(name.to_string(), o);
    Some(v)
}

fn handle(req: &Request, port: u16, state: &Mutex<State>) -> Response {
    let mut st = state.lock().unwrap();
    st.requests.push(format!("{} {}", req.method, req.path));
    let segs: Vec<String> = req
        .path
        .trim_start_matches('/')
        .split('/')
        .map(path_decode)
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (req.method.as_str(), s.as_slice()) {
        ("GET", [""]) => json_response(200, &json!({"fake": "gcs"})),
        ("POST", ["upload", "storage", "v1", "b", bucket, "o"]) => {
            insert(&mut st, req, bucket, port)
        }
        ("PUT", ["upload", "storage", "v1", "b", _, "o"]) => chunk(&mut st, req),
        ("DELETE", ["upload", "storage", "v1", "b", _, "o"]) => {
            let Some(id) = req.param("upload_id") else {
                return error(400, "no upload_id");
            };
            match st.sessions.get_mut(id) {
                Some(s) if s.state == SessionState::Active => {
                    s.state = SessionState::Cancelled;
                    Response::new(499)
                }
                Some(s) if s.state == SessionState::Expired => error(410, "gone"),
                _ => error(404, "no such upload session"),
            }
        }
        ("GET", ["storage", "v1", "b", bucket, "o"]) => list(&st, req, bucket),
        (
            "POST",
            [
                "storage",
                "v1",
                "b",
                sb,
                "o",
                sk,
                "rewriteTo",
                "b",
                db,
                "o",
                dk,
            ],
        ) => rewrite(&mut st, req, sb, sk, db, dk),
        ("GET", ["storage", "v1", "b", bucket, "o", key]) => {
            let Some(b) = st.buckets.get(*bucket) else {
                return error(404, "no such bucket");
            };
            let Some(o) = b.get(*key) else {
                return error(404, "no such object");
            };
            if req.param("alt") == Some("media") {
                media(req, o)
            } else {
                json_response(200, &resource(bucket, key, o))
            }
        }
        ("PATCH", ["storage", "v1", "b", bucket, "o", key]) => {
            let patch: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let Some(o) = st.buckets.get_mut(*bucket).and_then(|b| b.get_mut(*key)) else {
                return error(404, "no such object");
            };
            if let Some(m) = patch.get("metadata").and_then(Value::as_object) {
                for (k, v) in m {
                    match v.as_str() {
                        Some(s) if !s.is_empty() => {
                            o.metadata.insert(k.clone(), s.to_string());
                        }
                        _ => {
                            o.metadata.remove(k);
                        }
                    }
                }
            }
            let o = o.clone();
            json_response(200, &resource(bucket, key, &o))
        }
        ("DELETE", ["storage", "v1", "b", bucket, "o", key]) => {
            match st.buckets.get_mut(*bucket).and_then(|b| b.remove(*key)) {
                Some(_) => Response::new(204),
                None => error(404, "no such object"),
            }
        }
        ("GET", ["v0", "b", bucket, "o", key]) => {
            let Some(o) = st.buckets.get(*bucket).and_then(|b| b.get(*key)) else {
                return error(404, "not found");
            };
            let token = req.param("token").unwrap_or("");
            let ok = !token.is_empty()
                && o.metadata
                    .get("firebaseStorageDownloadTokens")
                    .is_some_and(|t| t.split(',').any(|t| t.trim() == token));
            if ok && req.param("alt") == Some("media") {
                media(req, o)
            } else {
                error(403, "permission denied")
            }
        }
        _ => error(404, &format!("no route for {} {}", req.method, req.path)),
    }
}

fn media(req: &Request, o: &Object) -> Response {
    let len = o.data.len();
    if let Some(r) = req.header("range").and_then(|r| r.strip_prefix("bytes=")) {
        let (a, b) = r.split_once('-').unwrap_or((r, ""));
        let start: usize = a.parse().unwrap_or(0);
        let end: usize = b.parse().map(|e: usize| e + 1).unwrap_or(len).min(len);
        if start >= len || end <= start {
            return error(416, "range not satisfiable");
        }
        let mut r = Response::new(206);
        r.body = o.data[start..end].to_vec();
        return r.header("Content-Range", format!("bytes {start}-{}/{len}", end - 1));
    }
    let mut r = Response::new(200);
    r.body = o.data.clone();
    r
}

fn insert(st: &mut State, req: &Request, bucket: &str, port: u16) -> Response {
    if !st.buckets.contains_key(bucket) {
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
            let v = store(st, bucket, name, o).expect("bucket exists");
            json_response(200, &v)
        }
        Some("multipart") => {
            let Some((meta, data, ct)) = parse_multipart(req) else {
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
            let v = store(st, bucket, &name, o).expect("bucket exists");
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
                    bucket: bucket.to_string(),
                    name: name.clone(),
                    resource: meta,
                    data: Vec::new(),
                    total,
                    state: SessionState::Active,
                },
            );
            let location = format!(
                "http://127.0.0.1:{port}/upload/storage/v1/b/{bucket}/o?uploadType=resumable&name={}&upload_id={id}",
                pct_encode(&name)
            );
            Response::new(200).header("Location", location)
        }
        _ => error(400, "unsupported uploadType"),
    }
}

fn parse_multipart(req: &Request) -> Option<(Value, Vec<u8>, Option<String>)> {
    let ct = req.header("content-type")?;
    let boundary = ct.split("boundary=").nth(1)?.trim_matches('"').to_string();
    let delim = format!("--{boundary}");
    let body = &req.body;
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let mut parts = Vec::new();
    let mut pos = find(body, delim.as_bytes(), 0)? + delim.len();
    loop {
        if body[pos..].starts_with(b"--") {
            break;
        }
        pos += 2; // CRLF after the delimiter
        let head_end = find(body, b"\r\n\r\n", pos)?;
        let head = String::from_utf8_lossy(&body[pos..head_end]).into_owned();
        let start = head_end + 4;
        let next = find(body, format!("\r\n{delim}").as_bytes(), start)?;
        parts.push((head, body[start..next].to_vec()));
        pos = next + 2 + delim.len();
    }
    if parts.len() != 2 {
        return None;
    }
    let meta: Value = serde_json::from_slice(&parts[0].1).ok()?;
    let media_ct = parts[1]
        .0
        .lines()
        .find_map(|l| {
            l.strip_prefix("Content-Type:")
                .or_else(|| l.strip_prefix("content-type:"))
        })
        .map(|s| s.trim().to_string());
    Some((meta, parts[1].1.clone(), media_ct))
}

fn finalize(st: &mut State, id: &str) -> Response {
    let s = st.sessions.get(id).expect("session exists");
    let (bucket, name) = (s.bucket.clone(), s.name.clone());
    let o = object_from_resource(&s.resource, s.data.clone(), None);
    let Some(v) = store(st, &bucket, &name, o) else {
        return error(404, "no such bucket");
    };
    let s = st.sessions.get_mut(id).expect("session exists");
    s.state = SessionState::Done(v.to_string());
    s.data = Vec::new();
    json_response(200, &v)
}

fn incomplete(persisted: usize) -> Response {
    let r = Response::new(308);
    if persisted == 0 {
        r
    } else {
        r.header("Range", format!("bytes=0-{}", persisted - 1))
    }
}

fn chunk(st: &mut State, req: &Request) -> Response {
    let Some(id) = req.param("upload_id").map(str::to_string) else {
        return error(400, "no upload_id");
    };
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
    if end < start || end - start + 1 != req.body.len() {
        return error(400, "the Content-Range does not match the body's length");
    }
    let ends_upload = total.is_some_and(|t| end as u64 + 1 == t);
    if let Some(t) = total
        && end as u64 >= t
    {
        return error(400, "the chunk goes past the total");
    }
    if !ends_upload && !req.body.len().is_multiple_of(ALIGN) {
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
    let partial = std::mem::take(&mut st.partial_next) && req.body.len() > ALIGN;
    let s = st.sessions.get_mut(&id).expect("session exists");
    let skip = persisted - start;
    let mut new = &req.body[skip.min(req.body.len())..];
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

fn list(st: &State, req: &Request, bucket: &str) -> Response {
    let Some(b) = st.buckets.get(bucket) else {
        return error(404, "no such bucket");
    };
    let prefix = req.param("prefix").unwrap_or("");
    let delimiter = req.param("delimiter").filter(|d| !d.is_empty());
    let max: usize = req
        .param("maxResults")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .clamp(1, 1000);
    let after = req.param("pageToken").map(pct_decode_token);
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
        .map(|(n, _)| resource(bucket, n, &b[n]))
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

fn pct_decode_token(t: &str) -> String {
    pct_decode(t.strip_prefix("tok:").unwrap_or(t))
}

fn rewrite(st: &mut State, req: &Request, sb: &str, sk: &str, db: &str, dk: &str) -> Response {
    let Some(src) = st.buckets.get(sb).and_then(|b| b.get(sk)).cloned() else {
        return error(404, "no such source object");
    };
    if !st.buckets.contains_key(db) {
        return error(404, "no such bucket");
    }
    let size = src.data.len();
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
    let v = store(st, db, dk, src).expect("bucket exists");
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

// ------------------------------------------------------------------------- the emulator

/// A gcp-storage-emulator process (in memory), killed on drop.
#[derive(Debug)]
pub struct GcsEmulator {
    process: ServerProcess,
}

impl GcsEmulator {
    /// Installs the test servers if needed and starts the emulator on a free port.
    pub fn start() -> Result<GcsEmulator, String> {
        servers::ensure_installed()?;
        let bin = servers::venv_bin("gcp-storage-emulator");
        let process = ServerProcess::start(
            "gcp-storage-emulator",
            |port| {
                let mut c = Command::new(&bin);
                c.args([
                    "start",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--in-memory",
                ]);
                c
            },
            servers::answers_http,
        )?;
        Ok(GcsEmulator { process })
    }

    /// Its endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.process.port())
    }

    /// The process.
    pub fn process(&self) -> &ServerProcess {
        &self.process
    }

    /// Creates a bucket and returns its name.
    pub fn new_bucket(&self, tag: &str) -> Result<String, String> {
        let name = servers::unique_bucket_name(tag);
        let body = json!({ "name": name }).to_string();
        let (status, answer) = raw_http(
            self.process.port(),
            "POST",
            "/storage/v1/b",
            "Content-Type: application/json\r\n",
            body.as_bytes(),
        )
        .ok_or_else(|| format!("create bucket {name}: no answer"))?;
        if status >= 300 {
            return Err(format!("create bucket {name}: {status} {answer}"));
        }
        Ok(name)
    }

    /// Whether the resumable session a session URL names still exists at the emulator (a
    /// status query that changes nothing: `bytes */*`).
    pub fn session_open(&self, session_url: &str) -> bool {
        let Some(path) = session_url
            .split_once("://")
            .and_then(|(_, r)| r.find('/').map(|i| &r[i..]))
        else {
            return false;
        };
        status_query(self.process.port(), path).is_some_and(|s| s == 308)
    }
}

fn status_query(port: u16, path: &str) -> Option<u16> {
    raw_http(port, "PUT", path, "Content-Range: bytes */*\r\n", b"").map(|(s, _)| s)
}

/// One HTTP/1.1 request (`extra` holds additional header lines); the status and the body text.
fn raw_http(
    port: u16,
    method: &str,
    path: &str,
    extra: &str,
    body: &[u8],
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

static SHARED_EMULATOR: Mutex<Option<Arc<GcsEmulator>>> = Mutex::new(None);

/// One emulator per test process (started on first use), or `None` after
/// [`servers::unavailable`] (which panics in CI).
pub fn emulator_or_skip() -> Option<Arc<GcsEmulator>> {
    let mut slot = SHARED_EMULATOR.lock().unwrap();
    if let Some(e) = slot.as_ref() {
        return Some(e.clone());
    }
    match GcsEmulator::start() {
        Ok(e) => {
            let e = Arc::new(e);
            *slot = Some(e.clone());
            Some(e)
        }
        Err(why) => servers::unavailable("gcp-storage-emulator", &why),
    }
}
