//! [`FakeDrive`]: a protocol-faithful fake of the parts of the Google Drive v3 API the
//! `files-gdrive` adapter uses, on the [`kit`](crate::kit) (no emulator of Drive exists).
//!
//! Follows these documentation pages, as documented:
//!
//! * <https://developers.google.com/drive/api/guides/about-auth>: every request but a session
//!   URL needs `Authorization: Bearer <token>` (else `401`);
//! * <https://developers.google.com/drive/api/reference/rest/v3/files/list> and
//!   <https://developers.google.com/drive/api/guides/search-files>: `q` (clauses joined by
//!   `and`: `name = '…'`, `'<id>' in parents`, `trashed = false|true`, `mimeType = '…'`,
//!   `mimeType != '…'`; literals escape `'` and `\` with `\`; anything else is `400`),
//!   `pageSize` (default 100, max 1000, or the cap set by [`FakeDrive::max_page_size`]) and
//!   `pageToken`;
//! * `files.create` (metadata only, `uploadType=multipart|media|resumable`), `files.get`
//!   (metadata, `alt=media` with `Range` → `206`), `files.update` (`PATCH` metadata with
//!   `addParents`/`removeParents`, `appProperties` merged, `null` removes a key; media via
//!   `/upload/...` with `uploadType=multipart|media|resumable`), `files.delete` (`204`, a
//!   folder takes its descendants), `files.copy`;
//! * **duplicate names** are allowed, as in Drive; `createdTime` grows strictly with every
//!   creation (milliseconds) so "oldest wins" is observable;
//! * <https://developers.google.com/drive/api/guides/manage-uploads#resumable>: the session
//!   URL is returned in `Location` (`POST` for a new file, `PATCH /upload/drive/v3/files/ID`
//!   for an existing one); chunks are `PUT`s with `Content-Range: bytes S-E/T` (`T` may be
//!   `*`); every chunk that does not end the upload must be a multiple of 256 KiB (else
//!   `400`); a chunk starting after the persisted offset is `400`; overlap with persisted
//!   bytes is ignored; a status query (`bytes */T`) answers `308` **without** `Range` when
//!   nothing is persisted, `308` with `Range: bytes=0-N` otherwise, and `200` with the file
//!   resource once complete (a session holding every byte of a known total is finalized by
//!   it); `DELETE` answers `499` and the session then answers `404`; a session expires one
//!   week after it started, by the fake's [`FakeClock`] (then `410`);
//!   [`FakeDrive::expire_session`] expires one at once;
//! * <https://developers.google.com/identity/protocols/oauth2/service-account#httprest>: an
//!   OAuth 2.0 token endpoint (`POST /token`, off until [`FakeDrive::accept_jwt_grants`]) for
//!   the service-account JWT-bearer flow: `grant_type=urn:ietf:params:oauth:grant-type:
//!   jwt-bearer` and an `assertion` whose header is `RS256`/`JWT`, whose claims carry the
//!   expected `iss` and `scope`, `aud` = the endpoint's URL, `iat` not in the future and
//!   `exp` at most an hour later and not past (by the fake's clock), and whose signature the
//!   caller's check accepts, answers `{access_token: <the fake's token>, expires_in: 3600}`;
//!   anything else is `400 invalid_grant`, as Google answers.
//!
//! Not modelled (where it may differ from Drive): `fields` is ignored (every field is
//! returned), no eventual consistency of `files.list`, no quotas or rate limits (use the kit's
//! faults), no shared drives, no revisions, no permissions, no Google Docs export, a cut chunk
//! body persists nothing.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Value, json};

pub use crate::kit::md5_hex;
use crate::kit::{
    FakeClock, FakeRequest, FakeServer, RangeRequest, Reply, parse_multipart, parse_query,
    parse_range,
};

const ALIGN: usize = 256 * 1024;
const FOLDER: &str = "application/vnd.google-apps.folder";
/// How long a resumable session lives.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Clone, Debug)]
struct DFile {
    id: String,
    name: String,
    mime: String,
    parents: Vec<String>,
    data: Bytes,
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
    created: SystemTime,
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
struct Db {
    grant: Option<JwtGrantCheck>,
    grants_issued: u64,
    grants_refused: Vec<String>,
    files: BTreeMap<String, DFile>,
    sessions: HashMap<String, DSession>,
    seq: u64,
    max_page: Option<usize>,
    reset_next: bool,
}

impl Db {
    /// Marks the sessions past their lifetime expired.
    fn expire_due(&mut self, now: SystemTime) {
        for s in self.sessions.values_mut() {
            if s.state == SState::Active && now >= s.created + SESSION_LIFETIME {
                s.state = SState::Expired;
            }
        }
    }
}

#[derive(Clone)]
struct App {
    st: Arc<Mutex<Db>>,
    /// `Bearer <token>`.
    auth: String,
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

/// The in-process fake Drive server. Dropping it stops it.
pub struct FakeDrive {
    server: FakeServer,
    app: App,
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
        FakeDrive::start_on(token, 0)
    }

    /// Starts the fake on 127.0.0.1:`port` (0: a free one).
    pub fn start_on(token: &str, port: u16) -> io::Result<FakeDrive> {
        let st: Arc<Mutex<Db>> = Arc::default();
        let mut app = None;
        let server = FakeServer::builder("fake-drive").port(port).start(|ctx| {
            let a = App {
                st: st.clone(),
                auth: format!("Bearer {token}"),
                endpoint: ctx.endpoint.clone(),
                clock: ctx.clock.clone(),
            };
            app = Some(a.clone());
            router(a)
        })?;
        let app = app.expect("the router was built");
        Ok(FakeDrive { server, app })
    }

    /// Its endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// The kit's server: request log, clock, fault knobs.
    pub fn server(&self) -> &FakeServer {
        &self.server
    }

    /// Its clock (sessions expire [`SESSION_LIFETIME`] after they started; JWT times).
    pub fn clock(&self) -> &FakeClock {
        self.server.clock()
    }

    /// Creates a folder under `parent` (`root` for the top) and returns its id.
    pub fn create_folder(&self, parent: &str, name: &str) -> String {
        let mut st = self.app.lock();
        new_file(&mut st, name, FOLDER, parent, Bytes::new(), BTreeMap::new())
    }

    /// Creates a file directly (e.g. a duplicate name) and returns its id.
    pub fn create_file(&self, parent: &str, name: &str, data: &[u8]) -> String {
        let mut st = self.app.lock();
        new_file(
            &mut st,
            name,
            "application/octet-stream",
            parent,
            Bytes::copy_from_slice(data),
            BTreeMap::new(),
        )
    }

    /// The bytes of every non-trashed file named `name` in folder `parent`, oldest first.
    pub fn files_named(&self, parent: &str, name: &str) -> Vec<(String, Vec<u8>)> {
        let st = self.app.lock();
        let mut v: Vec<&DFile> = st
            .files
            .values()
            .filter(|f| f.name == name && f.parents.iter().any(|p| p == parent) && !f.trashed)
            .collect();
        v.sort_by_key(|f| f.created);
        v.into_iter()
            .map(|f| (f.id.clone(), f.data.to_vec()))
            .collect()
    }

    /// Whether the file `id` exists and whether it is trashed.
    pub fn file_state(&self, id: &str) -> Option<bool> {
        self.app.lock().files.get(id).map(|f| f.trashed)
    }

    /// Upload ids of the active sessions that would write a file named like the key's last
    /// segment (the leftovers of an upload to that key).
    pub fn open_sessions(&self, key: &str) -> Vec<String> {
        let name = key.rsplit('/').next().unwrap_or(key);
        let st = self.app.lock();
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
        let mut st = self.app.lock();
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
        self.app.lock().reset_next = true;
    }

    /// Caps `pageSize` of `files.list` (to exercise `nextPageToken`).
    pub fn max_page_size(&self, n: usize) {
        self.app.lock().max_page = Some(n.max(1));
    }

    /// Turns on the OAuth token endpoint ([`token_uri`](Self::token_uri)): JWT-bearer grants
    /// that pass `check` get the fake's access token.
    pub fn accept_jwt_grants(&self, check: JwtGrantCheck) {
        self.app.lock().grant = Some(check);
    }

    /// The token endpoint's URL, `http://127.0.0.1:PORT/token`.
    pub fn token_uri(&self) -> String {
        format!("{}/token", self.server.endpoint())
    }

    /// How many access tokens the token endpoint issued, and why it refused the others.
    pub fn token_grants(&self) -> (u64, Vec<String>) {
        let st = self.app.lock();
        (st.grants_issued, st.grants_refused.clone())
    }

    /// How many requests the fake received.
    pub fn request_count(&self) -> u64 {
        self.server.log().len() as u64
    }
}

/// Checks a JWT-bearer grant against the configured [`JwtGrantCheck`]; `Err` says why not.
fn jwt_grant(st: &Db, req: &FakeRequest, token_uri: &str, now: u64) -> Result<(), String> {
    let check = st.grant.as_ref().ok_or("the token endpoint is off")?;
    if !req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    {
        return Err("not a form".into());
    }
    let form = parse_query(&String::from_utf8_lossy(&req.body));
    let field = |n: &str| form.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    if field("grant_type") != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return Err("wrong grant_type".into());
    }
    let jwt = field("assertion").ok_or("no assertion")?;
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, sig] = parts.as_slice() else {
        return Err("the assertion is not a JWS".into());
    };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let json_of = |p: &str| -> Result<Value, String> {
        let raw = b64.decode(p).map_err(|_| "bad base64url")?;
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
    let (iat, exp) = (claims["iat"].as_u64(), claims["exp"].as_u64());
    let (Some(iat), Some(exp)) = (iat, exp) else {
        return Err("no iat/exp".into());
    };
    if iat > now + 60 || exp <= now || exp <= iat || exp - iat > 3600 {
        return Err(format!("bad times iat={iat} exp={exp} now={now}"));
    }
    let sig = b64.decode(sig).map_err(|_| "bad signature encoding")?;
    if !(check.verify)(format!("{h}.{c}").as_bytes(), &sig) {
        return Err("the signature does not verify".into());
    }
    Ok(())
}

fn upload_id_of(url: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    parse_query(q)
        .into_iter()
        .find(|(k, _)| k == "upload_id")
        .map(|(_, v)| v)
}

fn new_file(
    st: &mut Db,
    name: &str,
    mime: &str,
    parent: &str,
    data: Bytes,
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

fn resp(status: u16, v: Value) -> Reply {
    Reply::json_as(status, "application/json; charset=UTF-8", &v)
}

fn error(status: u16, message: &str) -> Reply {
    resp(
        status,
        json!({ "error": { "code": status, "message": message, "errors": [{ "message": message }] } }),
    )
}

// ----------------------------------------------------------------------------------- routes

fn router(app: App) -> Router {
    Router::new()
        .route("/drive/v3/files", get(list).post(create))
        .route(
            "/drive/v3/files/{id}",
            get(get_file).patch(update).delete(delete),
        )
        .route("/drive/v3/files/{id}/copy", post(copy))
        .route("/upload/drive/v3/files", post(upload_new))
        .route(
            "/upload/drive/v3/files/{id}",
            axum::routing::patch(upload_existing),
        )
        .route("/token", post(token))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), gate))
        .with_state(app)
}

async fn not_found() -> Reply {
    error(404, "Not Found")
}

/// In front of every route: a session URL is its own credential (and routed by its
/// `upload_id` whatever its path); the token endpoint needs none; the rest needs the token.
async fn gate(State(app): State<App>, req: Request, next: Next) -> Response {
    let session = req
        .uri()
        .query()
        .and_then(|q| parse_query(q).into_iter().find(|(k, _)| k == "upload_id"))
        .map(|(_, v)| v);
    if let Some(id) = session {
        let req = match FakeRequest::from_request(req, &()).await {
            Ok(r) => r,
            Err(e) => return e.into_response(),
        };
        let mut st = app.lock();
        return match req.method {
            Method::PUT => chunk(&mut st, &req, &id),
            Method::DELETE => match st.sessions.get_mut(&id) {
                Some(s) if s.state == SState::Active => {
                    s.state = SState::Cancelled;
                    resp(499, json!({}))
                }
                Some(s) if s.state == SState::Expired => error(410, "Gone"),
                _ => error(404, "Not Found"),
            },
            _ => error(405, "Method not allowed"),
        }
        .into_response();
    }
    if req.method() == Method::POST && req.uri().path() == "/token" {
        return next.run(req).await;
    }
    let authorized = req
        .headers()
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == app.auth.as_bytes());
    if !authorized {
        return error(401, "Request had invalid authentication credentials.").into_response();
    }
    next.run(req).await
}

async fn token(State(app): State<App>, req: FakeRequest) -> Reply {
    let token = app
        .auth
        .strip_prefix("Bearer ")
        .unwrap_or(&app.auth)
        .to_string();
    let uri = format!("{}/token", app.endpoint);
    let now = app.clock.unix_secs();
    let mut st = app.lock();
    match jwt_grant(&st, &req, &uri, now) {
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
    }
}

async fn delete(State(app): State<App>, Path(id): Path<String>) -> Reply {
    let mut st = app.lock();
    if !st.files.contains_key(&id) {
        return error(404, &format!("File not found: {id}."));
    }
    remove_tree(&mut st, &id);
    Reply::new(204)
}

fn remove_tree(st: &mut Db, id: &str) {
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

fn live(st: &Db, id: &str) -> bool {
    id == "root" || st.files.get(id).is_some_and(|f| f.mime == FOLDER)
}

async fn get_file(State(app): State<App>, Path(id): Path<String>, req: FakeRequest) -> Reply {
    let st = app.lock();
    let Some(f) = st.files.get(&id) else {
        return error(404, &format!("File not found: {id}."));
    };
    if req.param("alt") != Some("media") {
        return resp(200, resource(f));
    }
    if f.mime == FOLDER {
        return error(403, "Only files with binary content can be downloaded.");
    }
    let len = f.data.len() as u64;
    match parse_range(req.header("range"), len) {
        RangeRequest::Full => Reply::new(200)
            .header("Content-Type", f.mime.clone())
            .body(f.data.clone()),
        RangeRequest::Partial { start, end } => Reply::new(206)
            .header("Content-Range", format!("bytes {start}-{end}/{len}"))
            .body(f.data.slice(start as usize..=end as usize)),
        RangeRequest::Unsatisfiable => error(416, "Requested range not satisfiable"),
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

fn parse_q(q: &str) -> Option<Vec<Pred>> {
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

async fn list(State(app): State<App>, req: FakeRequest) -> Reply {
    let preds = match req.param("q") {
        Some(q) => match parse_q(q) {
            Some(p) => p,
            None => return error(400, "Invalid Value"),
        },
        None => Vec::new(),
    };
    let st = app.lock();
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

/// `files.create` with metadata only.
async fn create(State(app): State<App>, req: FakeRequest) -> Reply {
    let meta: Value = if req.body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(_) => return error(400, "Invalid JSON payload"),
        }
    };
    create_from(&mut app.lock(), &meta, None, Bytes::new())
}

fn create_from(st: &mut Db, meta: &Value, media_type: Option<String>, data: Bytes) -> Reply {
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

/// `files.update` with metadata only.
async fn update(State(app): State<App>, Path(id): Path<String>, req: FakeRequest) -> Reply {
    let meta: Value = if req.body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(_) => return error(400, "Invalid JSON payload"),
        }
    };
    update_from(&mut app.lock(), &req, &id, &meta, None)
}

fn update_from(
    st: &mut Db,
    req: &FakeRequest,
    id: &str,
    meta: &Value,
    media: Option<(Option<String>, Bytes)>,
) -> Reply {
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

async fn copy(State(app): State<App>, Path(id): Path<String>, req: FakeRequest) -> Reply {
    let meta: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let mut st = app.lock();
    let st = &mut *st;
    let Some(src) = st.files.get(&id).cloned() else {
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
fn multipart(req: &FakeRequest) -> Option<(Value, Option<String>, Bytes)> {
    let parts = parse_multipart(req.header("content-type")?, &req.body)?;
    let [meta, media] = parts.as_slice() else {
        return None;
    };
    let meta: Value = serde_json::from_slice(&meta.body).ok()?;
    Some((meta, media.header("content-type"), media.body.clone()))
}

async fn upload_new(State(app): State<App>, req: FakeRequest) -> Reply {
    upload(&app, &req, None)
}

async fn upload_existing(
    State(app): State<App>,
    Path(id): Path<String>,
    req: FakeRequest,
) -> Reply {
    upload(&app, &req, Some(&id))
}

fn upload(app: &App, req: &FakeRequest, id: Option<&str>) -> Reply {
    let mut st = app.lock();
    let st = &mut *st;
    match req.param("uploadType") {
        Some("media") => {
            let mt = req.header("content-type").map(str::to_string);
            match id {
                Some(id) => update_from(st, req, id, &Value::Null, Some((mt, req.body.clone()))),
                None => create_from(st, &Value::Null, mt, req.body.clone()),
            }
        }
        Some("multipart") => {
            let Some((meta, mt, data)) = multipart(req) else {
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
                    created: app.clock.now(),
                },
            );
            let path = match id {
                Some(id) => format!("/upload/drive/v3/files/{id}"),
                None => "/upload/drive/v3/files".to_string(),
            };
            Reply::new(200).header(
                "Location",
                format!(
                    "{}{path}?uploadType=resumable&upload_id={upload_id}",
                    app.endpoint
                ),
            )
        }
        _ => error(400, "Invalid uploadType"),
    }
}

// --------------------------------------------------------------------- resumable sessions

fn incomplete(persisted: usize) -> Reply {
    let r = Reply::new(308);
    if persisted > 0 {
        r.header("Range", format!("bytes=0-{}", persisted - 1))
    } else {
        r
    }
}

fn finalize(st: &mut Db, upload_id: &str) -> Reply {
    let s = st.sessions.get_mut(upload_id).expect("a session");
    let (existing, meta, mt, data) = (
        s.existing.clone(),
        s.meta.clone(),
        s.upload_type.clone(),
        Bytes::from(std::mem::take(&mut s.data)),
    );
    let r = match existing {
        Some(id) => update_from(
            st,
            &FakeRequest::synthetic(Method::PATCH),
            &id,
            &meta,
            Some((mt, data)),
        ),
        None => create_from(st, &meta, mt, data),
    };
    if r.status == 200 {
        let v = r.body_json();
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        st.sessions.get_mut(upload_id).expect("a session").state = SState::Done(id);
    }
    r
}

fn chunk(st: &mut Db, req: &FakeRequest, upload_id: &str) -> Reply {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_language() {
        assert!(parse_q(r"name = 'it\'s' and 'root' in parents and trashed = false").is_some());
        assert!(parse_q("name = 'it's'").is_none());
        assert_eq!(
            tokenize(r"'a\\b\'c'").unwrap(),
            vec![Tok::Str(r"a\b'c".into())]
        );
    }
}
