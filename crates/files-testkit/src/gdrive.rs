//! [`FakeDrive`]: a protocol-faithful fake of the parts of the Google Drive v3 API the
//! `files-gdrive` adapter uses, written from Drive's documentation (no emulator of Drive
//! exists). In-process, std threads, HTTP/1.1 on a 127.0.0.1 port (the crate's `httpd`), std +
//! `serde_json` only (so an adapter's tests may also include this file directly with `#[path]`,
//! with `httpd.rs` as the crate's `httpd` module).
//!
//! Implemented, as documented:
//!
//! * every request but a session URL needs `Authorization: Bearer <token>` (else `401`);
//! * `files.list` with `q` (clauses joined by `and`: `name = '…'`, `'<id>' in parents`,
//!   `trashed = false|true`, `mimeType = '…'`, `mimeType != '…'`; literals escape `'` and `\`
//!   with `\`; anything else is `400`), `pageSize` (default 100, max 1000, or the cap set by
//!   [`FakeDrive::max_page_size`]) and `pageToken`;
//! * `files.create` (metadata only, `uploadType=multipart|media|resumable`), `files.get`
//!   (metadata, `alt=media` with `Range` → `206`), `files.update` (`PATCH` metadata with
//!   `addParents`/`removeParents`, `appProperties` merged, `null` removes a key; media via
//!   `/upload/...` with `uploadType=multipart|media|resumable`), `files.delete` (`204`, a
//!   folder takes its descendants), `files.copy`;
//! * **duplicate names** are allowed, as in Drive; `createdTime` grows strictly with every
//!   creation (milliseconds) so "oldest wins" is observable;
//! * resumable sessions: the session URL is returned in `Location` (`POST` for a new file,
//!   `PATCH /upload/drive/v3/files/ID` for an existing one); chunks are `PUT`s with
//!   `Content-Range: bytes S-E/T` (`T` may be `*`); every chunk that does not end the upload
//!   must be a multiple of 256 KiB (else `400`); a chunk starting after the persisted offset is
//!   `400`; overlap with persisted bytes is ignored; a status query (`bytes */T`) answers `308`
//!   **without** `Range` when nothing is persisted, `308` with `Range: bytes=0-N` otherwise,
//!   and `200` with the file resource once complete (a session holding every byte of a known
//!   total is finalized by it); `DELETE` answers `499` and the session then answers `404`;
//!   [`FakeDrive::expire_session`] makes it answer `410`.
//!
//! * an OAuth 2.0 token endpoint (`POST /token`, off until [`FakeDrive::accept_jwt_grants`])
//!   for the service-account JWT-bearer flow: `grant_type=urn:ietf:params:oauth:grant-type:
//!   jwt-bearer` and an `assertion` whose header is `RS256`/`JWT`, whose claims carry the
//!   expected `iss` and `scope`, `aud` = the endpoint's URL, `iat` not in the future and `exp`
//!   at most an hour later and not past, and whose signature the caller's check accepts,
//!   answers `{access_token: <the fake's token>, expires_in: 3600}`; anything else is `400
//!   invalid_grant`, as Google answers.
//!
//! Where it may differ from Drive: `fields` is ignored (every field is returned), there is no
//! eventual consistency of `files.list`, no quotas, no shared drives, no revisions.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::httpd::{Dialect, Request, Response, Server, pct_decode};

const ALIGN: usize = 256 * 1024;
const FOLDER: &str = "application/vnd.google-apps.folder";

#[derive(Clone, Debug)]
struct DFile {
    id: String,
    name: String,
    mime: String,
    parents: Vec<String>,
    data: Vec<u8>,
    created: u64,
    modified: u64,
    props: BTreeMap<String, String>,
    trashed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum SState {
    Active,
    Cancelled,
    Expired,
    Done(String),
}

#[derive(Debug)]
struct DSession {
    /// The file a `PATCH` session updates; `None` creates one from `meta`.
    existing: Option<String>,
    meta: Value,
    upload_type: Option<String>,
    data: Vec<u8>,
    total: Option<u64>,
    state: SState,
}

/// A signature check: `(signing input "header.claims", signature bytes)` → valid.
pub type VerifySignature = Box<dyn Fn(&[u8], &[u8]) -> bool + Send + Sync>;

/// What the token endpoint accepts (see [`FakeDrive::accept_jwt_grants`]).
pub struct JwtGrantCheck {
    /// The expected `iss` (the service account's email).
    pub iss: String,
    /// The expected `scope` (space-separated).
    pub scope: String,
    /// Checks the RS256 signature: `(signing input "header.claims", signature bytes)`.
    pub verify: VerifySignature,
}

impl std::fmt::Debug for JwtGrantCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtGrantCheck")
            .field("iss", &self.iss)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

#[derive(Default, Debug)]
struct State {
    grant: Option<JwtGrantCheck>,
    grants_issued: u64,
    grants_refused: Vec<String>,
    files: BTreeMap<String, DFile>,
    sessions: HashMap<String, DSession>,
    seq: u64,
    max_page: Option<usize>,
    reset_next: bool,
    requests: u64,
}

/// The in-process fake Drive server. Dropping it stops it.
pub struct FakeDrive {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for FakeDrive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeDrive")
            .field("port", &self.server.port())
            .finish()
    }
}

impl FakeDrive {
    /// Starts the fake on a free 127.0.0.1 port; requests must carry `Bearer <token>`.
    pub fn start(token: &str) -> io::Result<FakeDrive> {
        let state: Arc<Mutex<State>> = Arc::default();
        let st = state.clone();
        let auth = format!("Bearer {token}");
        let server = Server::start("fake-drive", DIALECT, move |port| {
            move |req: &Request| handle(req, port, &auth, &st)
        })?;
        Ok(FakeDrive { server, state })
    }

    /// Its endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.server.port())
    }

    /// Creates a folder under `parent` (`root` for the top) and returns its id.
    pub fn create_folder(&self, parent: &str, name: &str) -> String {
        let mut st = self.state.lock().unwrap();
        new_file(&mut st, name, FOLDER, parent, Vec::new(), BTreeMap::new())
    }

    /// Creates a file directly (e.g. a duplicate name) and returns its id.
    pub fn create_file(&self, parent: &str, name: &str, data: &[u8]) -> String {
        let mut st = self.state.lock().unwrap();
        new_file(
            &mut st,
            name,
            "application/octet-stream",
            parent,
            data.to_vec(),
            BTreeMap::new(),
        )
    }

    /// The bytes of every non-trashed file named `name` in folder `parent`, oldest first.
    pub fn files_named(&self, parent: &str, name: &str) -> Vec<(String, Vec<u8>)> {
        let st = self.state.lock().unwrap();
        let mut v: Vec<&DFile> = st
            .files
            .values()
            .filter(|f| f.name == name && f.parents.iter().any(|p| p == parent) && !f.trashed)
            .collect();
        v.sort_by_key(|f| f.created);
        v.into_iter()
            .map(|f| (f.id.clone(), f.data.clone()))
            .collect()
    }

    /// Whether the file `id` exists and whether it is trashed.
    pub fn file_state(&self, id: &str) -> Option<bool> {
        self.state.lock().unwrap().files.get(id).map(|f| f.trashed)
    }

    /// Upload ids of the active sessions that would write a file named like the key's last
    /// segment (the leftovers of an upload to that key).
    pub fn open_sessions(&self, key: &str) -> Vec<String> {
        let name = key.rsplit('/').next().unwrap_or(key);
        let st = self.state.lock().unwrap();
        st.sessions
            .iter()
            .filter(|(_, s)| s.state == SState::Active)
            .filter(|(_, s)| {
                let target = match &s.existing {
                    Some(id) => st.files.get(id).map(|f| f.name.clone()),
                    None => s
                        .meta
                        .get("name")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                };
                target.as_deref() == Some(name)
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Makes the session answer `410 Gone`, as an expired one does. False if unknown.
    pub fn expire_session(&self, session_url: &str) -> bool {
        let mut st = self.state.lock().unwrap();
        match upload_id_of(session_url).and_then(|id| st.sessions.get_mut(&id)) {
            Some(s) => {
                s.state = SState::Expired;
                true
            }
            None => false,
        }
    }

    /// The next chunk is answered `308` **without** `Range` and the session loses every byte
    /// it held (what a service that persisted nothing reports).
    pub fn lose_next_chunk(&self) {
        self.state.lock().unwrap().reset_next = true;
    }

    /// Caps `pageSize` of `files.list` (to exercise `nextPageToken`).
    pub fn max_page_size(&self, n: usize) {
        self.state.lock().unwrap().max_page = Some(n.max(1));
    }

    /// Turns on the OAuth token endpoint ([`token_uri`](Self::token_uri)): JWT-bearer grants
    /// that pass `check` get the fake's access token.
    pub fn accept_jwt_grants(&self, check: JwtGrantCheck) {
        self.state.lock().unwrap().grant = Some(check);
    }

    /// The token endpoint's URL, `http://127.0.0.1:PORT/token`.
    pub fn token_uri(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.server.port())
    }

    /// How many access tokens the token endpoint issued, and why it refused the others.
    pub fn token_grants(&self) -> (u64, Vec<String>) {
        let st = self.state.lock().unwrap();
        (st.grants_issued, st.grants_refused.clone())
    }

    /// How many requests the fake received.
    pub fn request_count(&self) -> u64 {
        self.state.lock().unwrap().requests
    }
}

/// Checks a JWT-bearer grant against the configured [`JwtGrantCheck`]; `Err` says why not.
fn jwt_grant(st: &State, req: &Request, token_uri: &str) -> Result<(), String> {
    let check = st.grant.as_ref().ok_or("the token endpoint is off")?;
    if !req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    {
        return Err("not a form".into());
    }
    let form: Vec<(String, String)> = String::from_utf8_lossy(&req.body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (pct_decode(k), pct_decode(v)))
        .collect();
    let field = |n: &str| form.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    if field("grant_type") != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return Err("wrong grant_type".into());
    }
    let jwt = field("assertion").ok_or("no assertion")?;
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, sig] = parts.as_slice() else {
        return Err("the assertion is not a JWS".into());
    };
    let json_of = |p: &str| -> Result<Value, String> {
        let raw = b64url_decode(p).ok_or("bad base64url")?;
        serde_json::from_slice(&raw).map_err(|_| "not JSON".to_string())
    };
    let (header, claims) = (json_of(h)?, json_of(c)?);
    if header["alg"] != "RS256" || header["typ"] != "JWT" {
        return Err(format!("header {header}"));
    }
    for (name, want) in [
        ("iss", check.iss.as_str()),
        ("scope", check.scope.as_str()),
        ("aud", token_uri),
    ] {
        if claims[name].as_str() != Some(want) {
            return Err(format!("claim {name} is {}, not {want}", claims[name]));
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (iat, exp) = (claims["iat"].as_u64(), claims["exp"].as_u64());
    let (Some(iat), Some(exp)) = (iat, exp) else {
        return Err("no iat/exp".into());
    };
    if iat > now + 60 || exp <= now || exp <= iat || exp - iat > 3600 {
        return Err(format!("bad times iat={iat} exp={exp} now={now}"));
    }
    let sig = b64url_decode(sig).ok_or("bad signature encoding")?;
    if !(check.verify)(format!("{h}.{c}").as_bytes(), &sig) {
        return Err("the signature does not verify".into());
    }
    Ok(())
}

/// Unpadded base64url (RFC 4648 §5), as JWTs use.
fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for ch in s.bytes() {
        let v = match ch {
            b'A'..=b'Z' => ch - b'A',
            b'a'..=b'z' => ch - b'a' + 26,
            b'0'..=b'9' => ch - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn upload_id_of(url: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    q.split('&')
        .find_map(|kv| kv.strip_prefix("upload_id="))
        .map(pct_decode)
}

fn new_file(
    st: &mut State,
    name: &str,
    mime: &str,
    parent: &str,
    data: Vec<u8>,
    props: BTreeMap<String, String>,
) -> String {
    st.seq += 1;
    let id = format!("f{:06}x{:08x}", st.seq, hash_of(&(name, st.seq)));
    let f = DFile {
        id: id.clone(),
        name: name.to_string(),
        mime: mime.to_string(),
        parents: vec![parent.to_string()],
        data,
        created: st.seq,
        modified: st.seq,
        props,
        trashed: false,
    };
    st.files.insert(id.clone(), f);
    id
}

fn hash_of<T: std::hash::Hash>(t: &T) -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(t)
}

fn time_of(ms: u64) -> String {
    format!(
        "2026-01-01T{:02}:{:02}:{:02}.{:03}Z",
        ms / 3_600_000 % 24,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

fn resource(f: &DFile) -> Value {
    let mut v = json!({
        "kind": "drive#file",
        "id": f.id,
        "name": f.name,
        "mimeType": f.mime,
        "parents": f.parents,
        "createdTime": time_of(f.created),
        "modifiedTime": time_of(f.modified),
        "trashed": f.trashed,
    });
    if f.mime != FOLDER {
        v["size"] = json!(f.data.len().to_string());
        v["md5Checksum"] = json!(md5_hex(&f.data));
    }
    if !f.props.is_empty() {
        v["appProperties"] = json!(f.props);
    }
    v
}

/// How the fake's HTTP differs from [`FakeGcs`](crate::gcs::FakeGcs)'s: the path is decoded
/// whole (`+` as a space too) before routing, and `HEAD` is answered with the body.
const DIALECT: Dialect = Dialect {
    decode_path: true,
    head_without_body: false,
};

fn resp(status: u16, v: Value) -> Response {
    Response {
        status,
        headers: vec![(
            "Content-Type".into(),
            "application/json; charset=UTF-8".into(),
        )],
        body: v.to_string().into_bytes(),
    }
}

fn error(status: u16, message: &str) -> Response {
    resp(
        status,
        json!({ "error": { "code": status, "message": message, "errors": [{ "message": message }] } }),
    )
}

fn handle(req: &Request, port: u16, auth: &str, state: &Mutex<State>) -> Response {
    let mut st = state.lock().unwrap();
    st.requests += 1;
    let session = req.param("upload_id").map(str::to_string);
    if let Some(id) = session {
        // The session URL is its own credential.
        return match req.method.as_str() {
            "PUT" => chunk(&mut st, req, &id),
            "DELETE" => match st.sessions.get_mut(&id) {
                Some(s) if s.state == SState::Active => {
                    s.state = SState::Cancelled;
                    resp(499, json!({}))
                }
                Some(s) if s.state == SState::Expired => error(410, "Gone"),
                _ => error(404, "Not Found"),
            },
            _ => error(405, "Method not allowed"),
        };
    }
    if req.method == "POST" && req.path == "/token" {
        let token = auth.strip_prefix("Bearer ").unwrap_or(auth);
        let uri = format!("http://127.0.0.1:{port}/token");
        return match jwt_grant(&st, req, &uri) {
            Ok(()) => {
                st.grants_issued += 1;
                resp(
                    200,
                    json!({ "access_token": token, "expires_in": 3600, "token_type": "Bearer" }),
                )
            }
            Err(why) => {
                st.grants_refused.push(why.clone());
                resp(
                    400,
                    json!({ "error": "invalid_grant", "error_description": why }),
                )
            }
        };
    }
    if req.header("authorization") != Some(auth) {
        return error(401, "Request had invalid authentication credentials.");
    }
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["drive", "v3", "files"]) => list(&st, req),
        ("POST", ["drive", "v3", "files"]) => create(&mut st, req, None, Vec::new()),
        ("GET", ["drive", "v3", "files", id]) => get(&st, req, id),
        ("PATCH", ["drive", "v3", "files", id]) => update(&mut st, req, id, None),
        ("DELETE", ["drive", "v3", "files", id]) => {
            if !st.files.contains_key(*id) {
                return error(404, &format!("File not found: {id}."));
            }
            remove_tree(&mut st, id);
            Response {
                status: 204,
                headers: Vec::new(),
                body: Vec::new(),
            }
        }
        ("POST", ["drive", "v3", "files", id, "copy"]) => copy(&mut st, req, id),
        ("POST", ["upload", "drive", "v3", "files"]) => upload(&mut st, req, None, port),
        ("PATCH", ["upload", "drive", "v3", "files", id]) => upload(&mut st, req, Some(id), port),
        _ => error(404, "Not Found"),
    }
}

fn remove_tree(st: &mut State, id: &str) {
    let children: Vec<String> = st
        .files
        .values()
        .filter(|f| f.parents.iter().any(|p| p == id))
        .map(|f| f.id.clone())
        .collect();
    for c in children {
        remove_tree(st, &c);
    }
    st.files.remove(id);
}

fn live(st: &State, id: &str) -> bool {
    id == "root" || st.files.get(id).is_some_and(|f| f.mime == FOLDER)
}

fn get(st: &State, req: &Request, id: &str) -> Response {
    let Some(f) = st.files.get(id) else {
        return error(404, &format!("File not found: {id}."));
    };
    if req.param("alt") != Some("media") {
        return resp(200, resource(f));
    }
    if f.mime == FOLDER {
        return error(403, "Only files with binary content can be downloaded.");
    }
    let len = f.data.len();
    if let Some(r) = req.header("range").and_then(|r| r.strip_prefix("bytes=")) {
        let (s, e) = r.split_once('-').unwrap_or((r, ""));
        let s: usize = s.parse().unwrap_or(usize::MAX);
        let e: usize = e
            .parse()
            .unwrap_or(len.saturating_sub(1))
            .min(len.saturating_sub(1));
        if s >= len || e < s {
            return error(416, "Requested range not satisfiable");
        }
        return Response {
            status: 206,
            headers: vec![("Content-Range".into(), format!("bytes {s}-{e}/{len}"))],
            body: f.data[s..=e].to_vec(),
        };
    }
    Response {
        status: 200,
        headers: vec![("Content-Type".into(), f.mime.clone())],
        body: f.data.clone(),
    }
}

// ------------------------------------------------------------------------------ files.list

#[derive(Debug, PartialEq)]
enum Tok {
    Str(String),
    Word(String),
    Eq,
    Ne,
}

fn tokenize(q: &str) -> Option<Vec<Tok>> {
    let c: Vec<char> = q.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        match c[i] {
            ' ' => i += 1,
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match c.get(i)? {
                        '\\' => {
                            s.push(*c.get(i + 1)?);
                            i += 2;
                        }
                        '\'' => {
                            i += 1;
                            break;
                        }
                        ch => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            '=' => {
                out.push(Tok::Eq);
                i += 1;
            }
            '!' if c.get(i + 1) == Some(&'=') => {
                out.push(Tok::Ne);
                i += 2;
            }
            ch if ch.is_ascii_alphanumeric() => {
                let mut w = String::new();
                while i < c.len() && c[i].is_ascii_alphanumeric() {
                    w.push(c[i]);
                    i += 1;
                }
                out.push(Tok::Word(w));
            }
            _ => return None,
        }
    }
    Some(out)
}

type Pred = Box<dyn Fn(&DFile) -> bool>;

fn parse_query(q: &str) -> Option<Vec<Pred>> {
    let toks = tokenize(q)?;
    let mut preds: Vec<Pred> = Vec::new();
    for clause in toks.split(|t| *t == Tok::Word("and".into())) {
        let p: Pred = match clause {
            [Tok::Str(id), Tok::Word(a), Tok::Word(b)] if a == "in" && b == "parents" => {
                let id = id.clone();
                Box::new(move |f| f.parents.contains(&id))
            }
            [Tok::Word(n), Tok::Eq, Tok::Str(v)] if n == "name" => {
                let v = v.clone();
                Box::new(move |f| f.name == v)
            }
            [Tok::Word(n), op @ (Tok::Eq | Tok::Ne), Tok::Str(v)] if n == "mimeType" => {
                let (v, eq) = (v.clone(), *op == Tok::Eq);
                Box::new(move |f| (f.mime == v) == eq)
            }
            [Tok::Word(n), Tok::Eq, Tok::Word(b)] if n == "trashed" => {
                let want = match b.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return None,
                };
                Box::new(move |f| f.trashed == want)
            }
            _ => return None,
        };
        preds.push(p);
    }
    Some(preds)
}

fn list(st: &State, req: &Request) -> Response {
    let preds = match req.param("q") {
        Some(q) => match parse_query(q) {
            Some(p) => p,
            None => return error(400, "Invalid Value"),
        },
        None => Vec::new(),
    };
    let mut matched: Vec<&DFile> = st
        .files
        .values()
        .filter(|f| preds.iter().all(|p| p(f)))
        .collect();
    matched.sort_by_key(|f| f.created);
    let size = req
        .param("pageSize")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 1000)
        .min(st.max_page.unwrap_or(1000));
    let start = match req.param("pageToken") {
        Some(t) => match t.strip_prefix("p").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => return error(400, "Invalid pageToken"),
        },
        None => 0,
    };
    let page: Vec<Value> = matched
        .iter()
        .skip(start)
        .take(size)
        .map(|f| resource(f))
        .collect();
    let mut v = json!({ "kind": "drive#fileList", "files": page });
    if start + size < matched.len() {
        v["nextPageToken"] = json!(format!("p{}", start + size));
    }
    resp(200, v)
}

// ------------------------------------------------------------------- create, update, copy

fn props_of(meta: &Value, base: &mut BTreeMap<String, String>) {
    if let Some(Value::Object(m)) = meta.get("appProperties") {
        for (k, v) in m {
            match v {
                Value::Null => {
                    base.remove(k);
                }
                Value::String(s) => {
                    base.insert(k.clone(), s.clone());
                }
                other => {
                    base.insert(k.clone(), other.to_string());
                }
            }
        }
    }
}

/// Creates a file from metadata and content; `media_type` is the media part's type.
fn create(st: &mut State, req: &Request, media_type: Option<String>, data: Vec<u8>) -> Response {
    let meta: Value = if req.body.is_empty() || media_type.is_some() || !data.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(_) => return error(400, "Invalid JSON payload"),
        }
    };
    create_from(st, &meta, media_type, data)
}

fn create_from(
    st: &mut State,
    meta: &Value,
    media_type: Option<String>,
    data: Vec<u8>,
) -> Response {
    let parent = meta
        .pointer("/parents/0")
        .and_then(Value::as_str)
        .unwrap_or("root")
        .to_string();
    if !live(st, &parent) {
        return error(404, &format!("File not found: {parent}."));
    }
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("Untitled")
        .to_string();
    let mime = meta
        .get("mimeType")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or(media_type)
        .unwrap_or_else(|| "application/octet-stream".into());
    let mut props = BTreeMap::new();
    props_of(meta, &mut props);
    let id = new_file(st, &name, &mime, &parent, data, props);
    resp(200, resource(&st.files[&id]))
}

fn update(
    st: &mut State,
    req: &Request,
    id: &str,
    media: Option<(Option<String>, Vec<u8>)>,
) -> Response {
    let meta: Value = if media.is_some() || req.body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(_) => return error(400, "Invalid JSON payload"),
        }
    };
    update_from(st, req, id, &meta, media)
}

fn update_from(
    st: &mut State,
    req: &Request,
    id: &str,
    meta: &Value,
    media: Option<(Option<String>, Vec<u8>)>,
) -> Response {
    let add = req.param("addParents").map(str::to_string);
    if let Some(p) = &add
        && !live(st, p)
    {
        return error(404, &format!("File not found: {p}."));
    }
    st.seq += 1;
    let seq = st.seq;
    let Some(f) = st.files.get_mut(id) else {
        return error(404, &format!("File not found: {id}."));
    };
    if let Some(n) = meta.get("name").and_then(Value::as_str) {
        f.name = n.to_string();
    }
    if let Some(t) = meta.get("trashed").and_then(Value::as_bool) {
        f.trashed = t;
    }
    let mut mime = meta
        .get("mimeType")
        .and_then(Value::as_str)
        .map(str::to_string);
    props_of(meta, &mut f.props);
    if let Some(remove) = req.param("removeParents") {
        f.parents.retain(|p| !remove.split(',').any(|r| r == p));
    }
    if let Some(p) = add {
        f.parents.push(p);
    }
    if let Some((media_type, data)) = media {
        f.data = data;
        mime = mime.or(media_type);
    }
    if let Some(m) = mime {
        f.mime = m;
    }
    f.modified = seq;
    resp(200, resource(f))
}

fn copy(st: &mut State, req: &Request, id: &str) -> Response {
    let meta: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let Some(src) = st.files.get(id).cloned() else {
        return error(404, &format!("File not found: {id}."));
    };
    if src.mime == FOLDER {
        return error(403, "This file cannot be copied by the user.");
    }
    let parent = meta
        .pointer("/parents/0")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            src.parents
                .first()
                .cloned()
                .unwrap_or_else(|| "root".into())
        });
    if !live(st, &parent) {
        return error(404, &format!("File not found: {parent}."));
    }
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("Copy of {}", src.name));
    let mut props = src.props.clone();
    props_of(&meta, &mut props);
    let new = new_file(st, &name, &src.mime, &parent, src.data.clone(), props);
    resp(200, resource(&st.files[&new]))
}

/// Splits a `multipart/related` body into its JSON metadata and its media (with its type).
fn parse_multipart(req: &Request) -> Option<(Value, Option<String>, Vec<u8>)> {
    let ct = req.header("content-type")?;
    let boundary = ct
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?;
    let boundary = boundary.trim_matches('"');
    let delim = format!("--{boundary}");
    let body = &req.body;
    let find = |from: usize, pat: &[u8]| {
        body.get(from..)?
            .windows(pat.len())
            .position(|w| w == pat)
            .map(|p| p + from)
    };
    let mut parts = Vec::new();
    let mut pos = find(0, delim.as_bytes())? + delim.len();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            break;
        }
        let head_end = find(pos, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&body[pos..head_end]).to_string();
        let next = find(head_end + 4, format!("\r\n{delim}").as_bytes())?;
        parts.push((head, body[head_end + 4..next].to_vec()));
        pos = next + 2 + delim.len();
    }
    if parts.len() != 2 {
        return None;
    }
    let meta: Value = serde_json::from_slice(&parts[0].1).ok()?;
    let media_type = parts[1].0.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-type")
            .then(|| v.trim().to_string())
    });
    Some((meta, media_type, parts[1].1.clone()))
}

fn upload(st: &mut State, req: &Request, id: Option<&str>, port: u16) -> Response {
    match req.param("uploadType") {
        Some("media") => {
            let mt = req.header("content-type").map(str::to_string);
            match id {
                Some(id) => update(st, req, id, Some((mt, req.body.clone()))),
                None => create_from(st, &Value::Null, mt, req.body.clone()),
            }
        }
        Some("multipart") => {
            let Some((meta, mt, data)) = parse_multipart(req) else {
                return error(400, "Malformed multipart body.");
            };
            match id {
                Some(id) => update_from(st, req, id, &meta, Some((mt, data))),
                None => create_from(st, &meta, mt, data),
            }
        }
        Some("resumable") => {
            let meta: Value = if req.body.is_empty() {
                json!({})
            } else {
                match serde_json::from_slice(&req.body) {
                    Ok(v) => v,
                    Err(_) => return error(400, "Invalid JSON payload"),
                }
            };
            if let Some(id) = id {
                if !st.files.contains_key(id) {
                    return error(404, &format!("File not found: {id}."));
                }
            } else {
                let parent = meta
                    .pointer("/parents/0")
                    .and_then(Value::as_str)
                    .unwrap_or("root");
                if !live(st, parent) {
                    return error(404, &format!("File not found: {parent}."));
                }
            }
            let total = req
                .header("x-upload-content-length")
                .and_then(|v| v.parse::<u64>().ok());
            st.seq += 1;
            let upload_id = format!("ADPycd{:016x}{:06}", hash_of(&st.seq), st.seq);
            st.sessions.insert(
                upload_id.clone(),
                DSession {
                    existing: id.map(str::to_string),
                    meta,
                    upload_type: req.header("x-upload-content-type").map(str::to_string),
                    data: Vec::new(),
                    total,
                    state: SState::Active,
                },
            );
            let path = match id {
                Some(id) => format!("/upload/drive/v3/files/{id}"),
                None => "/upload/drive/v3/files".to_string(),
            };
            Response {
                status: 200,
                headers: vec![(
                    "Location".into(),
                    format!(
                        "http://127.0.0.1:{port}{path}?uploadType=resumable&upload_id={upload_id}"
                    ),
                )],
                body: Vec::new(),
            }
        }
        _ => error(400, "Invalid uploadType"),
    }
}

// --------------------------------------------------------------------- resumable sessions

fn incomplete(persisted: usize) -> Response {
    let mut headers = Vec::new();
    if persisted > 0 {
        headers.push(("Range".into(), format!("bytes=0-{}", persisted - 1)));
    }
    Response {
        status: 308,
        headers,
        body: Vec::new(),
    }
}

fn finalize(st: &mut State, upload_id: &str) -> Response {
    let s = st.sessions.get_mut(upload_id).expect("a session");
    let (existing, meta, mt, data) = (
        s.existing.clone(),
        s.meta.clone(),
        s.upload_type.clone(),
        std::mem::take(&mut s.data),
    );
    let r = match existing {
        Some(id) => {
            let fake = Request {
                method: "PATCH".into(),
                path: String::new(),
                query: Vec::new(),
                raw_target: String::new(),
                headers: Vec::new(),
                body: Vec::new(),
            };
            update_from(st, &fake, &id, &meta, Some((mt, data)))
        }
        None => create_from(st, &meta, mt, data),
    };
    if r.status == 200 {
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        st.sessions.get_mut(upload_id).expect("a session").state = SState::Done(id);
    }
    r
}

fn chunk(st: &mut State, req: &Request, upload_id: &str) -> Response {
    let reset = std::mem::take(&mut st.reset_next);
    let Some(s) = st.sessions.get_mut(upload_id) else {
        return error(404, "Not Found");
    };
    match &s.state {
        SState::Active => {}
        SState::Expired => return error(410, "Gone"),
        SState::Cancelled => return error(404, "Not Found"),
        SState::Done(id) => {
            let id = id.clone();
            return match st.files.get(&id) {
                Some(f) => resp(200, resource(f)),
                None => error(404, "Not Found"),
            };
        }
    }
    let Some(cr) = req
        .header("content-range")
        .and_then(|v| v.strip_prefix("bytes "))
        .map(str::to_string)
    else {
        return error(400, "Missing Content-Range");
    };
    let Some((range, total)) = cr.split_once('/') else {
        return error(400, "Bad Content-Range");
    };
    let total: Option<u64> = match total {
        "*" => None,
        t => match t.parse() {
            Ok(n) => Some(n),
            Err(_) => return error(400, "Bad Content-Range"),
        },
    };
    if let (Some(a), Some(b)) = (s.total, total)
        && a != b
    {
        return error(400, "The total differs from the session's");
    }
    if total.is_some() {
        s.total = total;
    }
    if range == "*" {
        if !req.body.is_empty() {
            return error(400, "A status query has no body");
        }
        if s.total == Some(s.data.len() as u64) {
            return finalize(st, upload_id);
        }
        return incomplete(s.data.len());
    }
    let Some((a, b)) = range.split_once('-') else {
        return error(400, "Bad Content-Range");
    };
    let (Ok(start), Ok(end)) = (a.parse::<usize>(), b.parse::<usize>()) else {
        return error(400, "Bad Content-Range");
    };
    if end < start || end - start + 1 != req.body.len() {
        return error(400, "The body length does not match Content-Range");
    }
    if start > s.data.len() {
        return error(400, "The chunk starts after the persisted bytes");
    }
    let ends_upload = s.total == Some(end as u64 + 1);
    if !ends_upload && !req.body.len().is_multiple_of(ALIGN) {
        return error(
            400,
            "A chunk that does not end the upload must be a multiple of 256 KiB",
        );
    }
    if reset {
        s.data.clear();
        return incomplete(0);
    }
    let skip = s.data.len() - start;
    if skip < req.body.len() {
        s.data.extend_from_slice(&req.body[skip..]);
    }
    if s.total == Some(s.data.len() as u64) {
        return finalize(st, upload_id);
    }
    incomplete(s.data.len())
}

// ------------------------------------------------------------------------------------- MD5

/// The hex MD5 of `data` (Drive's `md5Checksum`).
pub fn md5_hex(data: &[u8]) -> String {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_le_bytes());
    let (mut a0, mut b0, mut c0, mut d0) =
        (0x67452301u32, 0xefcdab89u32, 0x98badcfeu32, 0x10325476u32);
    for block in msg.chunks(64) {
        let m: Vec<u32> = block
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    let mut out = String::with_capacity(32);
    for w in [a0, b0, c0, d0] {
        for byte in w.to_le_bytes() {
            out.push_str(&format!("{byte:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_vectors() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn query_language() {
        assert!(parse_query(r"name = 'it\'s' and 'root' in parents and trashed = false").is_some());
        assert!(parse_query("name = 'it's'").is_none());
        assert_eq!(
            tokenize(r"'a\\b\'c'").unwrap(),
            vec![Tok::Str(r"a\b'c".into())]
        );
    }
}
