//! [`FakeDropbox`]: a protocol-faithful fake of the parts of the Dropbox API v2 the
//! `files-dropbox` adapter uses, on the [`kit`](crate::kit). One base serves both the RPC
//! routes (`{endpoint}/2/files/...` with a JSON body) and the content routes (the same paths,
//! arguments in the `Dropbox-API-Arg` header, metadata answered in `Dropbox-API-Result`).
//!
//! Follows these documentation pages:
//! * <https://www.dropbox.com/developers/documentation/http/documentation> ("Formats": RPC,
//!   content-upload and content-download endpoints; "Errors": `400` bad input, `401` bad
//!   token, `409` endpoint-specific errors as `{"error_summary", "error": {".tag": ...}}`,
//!   `429` with `Retry-After`) and the routes `files/upload`, `files/download` (with `Range`),
//!   `files/get_metadata`, `files/delete_v2`, `files/copy_v2`, `files/move_v2`,
//!   `files/list_folder` and `files/list_folder/continue`, `files/get_temporary_link`,
//!   `files/upload_session/start`, `files/upload_session/append_v2`,
//!   `files/upload_session/finish`, as specified in `dropbox/dropbox-api-spec` (`files.stone`);
//! * <https://www.dropbox.com/developers/reference/content-hash>: every file's
//!   `content_hash` (SHA-256 of the concatenated SHA-256s of its 4 MiB blocks), checked when a
//!   request carries one (`content_hash_mismatch`);
//! * <https://www.dropbox.com/developers/reference/json-encoding>: a `Dropbox-API-Arg` is
//!   ASCII (non-ASCII characters escaped as `\uXXXX`); a header with raw non-ASCII bytes is
//!   refused with `400`;
//! * the OAuth guide: `POST /oauth2/token` with `grant_type=refresh_token`, `refresh_token`,
//!   `client_id` and `client_secret` answers a short-lived access token.
//!
//! State: files keyed by their lower-cased path (Dropbox is case-insensitive and
//! case-preserving: the first spelling of a path is kept in `path_display`), folders implicit
//! (a folder exists while a file is under it), a new `rev` per write. Upload sessions keep
//! their bytes and offset: an append at another offset is `409 incorrect_offset` with
//! `correct_offset` (what a client sees after a lost answer), a body cut by a fault appends
//! nothing (Dropbox discards incomplete requests), more than 150 MiB in one request is
//! `payload_too_large`, a `concurrent` session needs every non-final append to be a multiple
//! of 4 MiB at a 4 MiB offset (the docs ask that only of concurrent sessions; sequential ones
//! take any length), a session `close`d refuses appends (`closed`), and a session older than
//! 7 days by the fake's [`FakeClock`] is `not_found` (so is a finished one). There is no abort
//! route: sessions are only dropped by expiry.
//!
//! Not modelled: folders as objects (`create_folder`, empty folders), `mode: update`,
//! `autorename`, `strict_conflict`, the batch routes, `id:`/`rev:`/namespace paths, shared
//! links, team spaces, `client_modified`/`server_modified` beyond the fake's clock, rate
//! limits (use the kit's faults), expiry of access tokens (an issued token stays valid).
//! SHA-256 here is an independent implementation (the kit has no SHA-256 dependency); the
//! adapter's tests check it against the `sha2` crate.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::kit::{Blob, FakeClock, FakeRequest, FakeServer, Reply, parse_query};

/// How long an upload session lives.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a temporary link works.
pub const TEMPORARY_LINK_LIFETIME: Duration = Duration::from_secs(4 * 3600);
/// The most bytes one upload request may carry.
pub const MAX_REQUEST: usize = 150 * 1024 * 1024;
/// The block of the content hash, and the unit of concurrent sessions.
pub const BLOCK: usize = 4 * 1024 * 1024;
/// The access token the fake accepts from the start.
pub const TEST_TOKEN: &str = "sl.files-fake-token";
/// The app key the token endpoint accepts.
pub const APP_KEY: &str = "files-fake-app-key";
/// The app secret the token endpoint accepts.
pub const APP_SECRET: &str = "files-fake-app-secret";
/// The refresh token the token endpoint accepts.
pub const REFRESH_TOKEN: &str = "files-fake-refresh-token";

#[derive(Clone, Debug)]
struct File {
    display: String,
    blob: Blob,
    rev: String,
    modified: u64,
    hash: String,
}

#[derive(Debug)]
struct UploadSession {
    data: Vec<u8>,
    created: SystemTime,
    closed: bool,
    concurrent: bool,
}

#[derive(Default, Debug)]
struct Db {
    files: BTreeMap<String, File>,
    sessions: HashMap<String, UploadSession>,
    tokens: HashSet<String>,
    cursors: HashMap<String, (Vec<Value>, usize)>,
    links: HashMap<String, (String, SystemTime)>,
    counter: u64,
    page_size: usize,
    issued: u64,
}

impl Db {
    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
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
        let now = self.clock.now();
        let mut st = self.st.lock().unwrap();
        st.sessions
            .retain(|_, s| now < s.created + SESSION_LIFETIME);
        st
    }
}

/// The in-process fake Dropbox server. Dropping it stops it.
pub struct FakeDropbox {
    server: FakeServer,
    app: App,
}

impl std::fmt::Debug for FakeDropbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeDropbox")
            .field("port", &self.server.port())
            .finish()
    }
}

impl FakeDropbox {
    /// Starts the fake on a free 127.0.0.1 port.
    pub fn start() -> io::Result<FakeDropbox> {
        FakeDropbox::start_on(0)
    }

    /// Starts the fake on 127.0.0.1:`port` (0: a free one).
    pub fn start_on(port: u16) -> io::Result<FakeDropbox> {
        let st: Arc<Mutex<Db>> = Arc::new(Mutex::new(Db {
            page_size: 3,
            ..Db::default()
        }));
        st.lock().unwrap().tokens.insert(TEST_TOKEN.to_string());
        let mut app = None;
        let server = FakeServer::builder("fake-dropbox")
            .port(port)
            .start(|ctx| {
                let a = App {
                    st: st.clone(),
                    endpoint: ctx.endpoint.clone(),
                    clock: ctx.clock.clone(),
                };
                app = Some(a.clone());
                router(a)
            })?;
        let app = app.expect("the router was built");
        Ok(FakeDropbox { server, app })
    }

    /// Its endpoint, `http://127.0.0.1:PORT` (RPC and content routes, and `/oauth2/token`).
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// The token endpoint, `{endpoint}/oauth2/token`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/token", self.server.endpoint())
    }

    /// The access token it accepts from the start ([`TEST_TOKEN`]).
    pub fn token(&self) -> &'static str {
        TEST_TOKEN
    }

    /// How many access tokens the token endpoint issued.
    pub fn tokens_issued(&self) -> u64 {
        self.app.lock().issued
    }

    /// Revokes every access token (issued ones and [`TEST_TOKEN`]).
    pub fn revoke_tokens(&self) {
        self.app.lock().tokens.clear();
    }

    /// The kit's server: request log, clock, fault knobs.
    pub fn server(&self) -> &FakeServer {
        &self.server
    }

    /// Its clock (sessions expire [`SESSION_LIFETIME`] after they started).
    pub fn clock(&self) -> &FakeClock {
        self.server.clock()
    }

    /// Entries per `list_folder` page (default 3, so paging is exercised).
    pub fn set_page_size(&self, n: usize) {
        self.app.lock().page_size = n.max(1);
    }

    /// The bytes of the file at `path` (`/folder/name`, any case), read directly.
    pub fn object(&self, path: &str) -> Option<Vec<u8>> {
        let st = self.app.lock();
        st.files
            .get(&path.to_lowercase())
            .map(|f| f.blob.data.to_vec())
    }

    /// The content hash the fake stores for the file at `path`.
    pub fn content_hash_of(&self, path: &str) -> Option<String> {
        let st = self.app.lock();
        st.files.get(&path.to_lowercase()).map(|f| f.hash.clone())
    }

    /// The ids of the upload sessions still open (not finished, not expired), with their
    /// offsets.
    pub fn open_sessions(&self) -> Vec<(String, u64)> {
        let st = self.app.lock();
        let mut v: Vec<_> = st
            .sessions
            .iter()
            .map(|(id, s)| (id.clone(), s.data.len() as u64))
            .collect();
        v.sort();
        v
    }

    /// The offset of an open session.
    pub fn session_offset(&self, id: &str) -> Option<u64> {
        self.app
            .lock()
            .sessions
            .get(id)
            .map(|s| s.data.len() as u64)
    }

    /// Makes a session expire now (it answers `not_found` from now on). Returns whether it
    /// was open.
    pub fn expire_session(&self, id: &str) -> bool {
        self.app.lock().sessions.remove(id).is_some()
    }

    /// Closes a session as `close: true` would (appends then answer `closed`).
    pub fn close_session(&self, id: &str) -> bool {
        match self.app.lock().sessions.get_mut(id) {
            Some(s) => {
                s.closed = true;
                true
            }
            None => false,
        }
    }

    /// Every request line served so far (`METHOD path`).
    pub fn requests(&self) -> Vec<String> {
        self.server.log().all().iter().map(|r| r.line()).collect()
    }
}

/// Serves this fake for the `files-fake` binary on `port` (0: a free one): the running fake,
/// kept alive by the caller, and the JSON line to print (`provider`, `endpoint`, `env`, `url`).
pub fn serve_cli(port: u16) -> std::io::Result<(Box<dyn std::any::Any>, serde_json::Value)> {
    let fake = FakeDropbox::start_on(port)?;
    let endpoint = fake.endpoint();
    let line = json!({
        "provider": "dropbox",
        "endpoint": endpoint,
        "env": {
            "DROPBOX_ACCESS_TOKEN": TEST_TOKEN,
            "DROPBOX_ENDPOINT": endpoint,
            "DROPBOX_TOKEN_URL": fake.token_url(),
        },
        "url": "dropbox://files-fake/",
    });
    Ok((Box::new(fake), line))
}

fn router(app: App) -> Router {
    Router::new()
        .route("/oauth2/token", post(oauth_token))
        .route("/2/files/{*route}", post(files_route))
        .route("/temp/{id}", get(temp_link))
        .fallback(|| async { Reply::new(404).body("unknown route") })
        .with_state(app)
}

// ---------------------------------------------------------------------------------------
// Error shapes

fn api_error(summary_tags: &[&str], error: Value) -> Reply {
    let summary = format!("{}/...", summary_tags.join("/"));
    Reply::json(409, &json!({"error_summary": summary, "error": error}))
}

fn tagged(tag: &str) -> Value {
    json!({".tag": tag})
}

fn nested(outer: &str, inner: Value) -> Value {
    let mut m = serde_json::Map::new();
    m.insert(".tag".into(), Value::String(outer.into()));
    m.insert(outer.into(), inner);
    Value::Object(m)
}

/// `{".tag": outer, outer: {".tag": inner}}` with the summary `outer/inner/...`.
fn path_error(outer: &str, inner: &str) -> Reply {
    api_error(&[outer, inner], nested(outer, tagged(inner)))
}

fn bad_input(text: &str) -> Reply {
    Reply::new(400)
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(format!("Error in call: {text}"))
}

fn unauthorized(tag: &str) -> Reply {
    Reply::json(
        401,
        &json!({"error_summary": format!("{tag}/..."), "error": tagged(tag)}),
    )
}

// ---------------------------------------------------------------------------------------
// Routes

async fn oauth_token(State(app): State<App>, req: FakeRequest) -> Reply {
    let form = parse_query(std::str::from_utf8(&req.body).unwrap_or(""));
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let oauth_err =
        |e: &str, d: &str| Reply::json(400, &json!({"error": e, "error_description": d}));
    if get("grant_type") != "refresh_token" {
        return oauth_err("unsupported_grant_type", "only refresh_token is served");
    }
    if get("client_id") != APP_KEY || get("client_secret") != APP_SECRET {
        return oauth_err("invalid_client", "Invalid client_id or client_secret");
    }
    if get("refresh_token") != REFRESH_TOKEN {
        return oauth_err("invalid_grant", "refresh token is malformed");
    }
    let mut st = app.lock();
    let n = st.next();
    st.issued += 1;
    let token = format!("sl.issued-{n}");
    st.tokens.insert(token.clone());
    Reply::json(
        200,
        &json!({"access_token": token, "token_type": "bearer", "expires_in": 14400}),
    )
}

async fn temp_link(State(app): State<App>, Path(id): Path<String>, req: FakeRequest) -> Reply {
    let st = app.lock();
    let Some((path, until)) = st.links.get(&id) else {
        return Reply::new(404);
    };
    if app.clock.now() >= *until {
        return Reply::new(410);
    }
    match st.files.get(path) {
        Some(f) => f
            .blob
            .serve_range(req.header("range"), || Reply::new(416))
            .header("Content-Type", "application/octet-stream"),
        None => Reply::new(404),
    }
}

/// Reads the JSON arguments: the `Dropbox-API-Arg` header (content routes) or the body (RPC).
fn args_of(req: &FakeRequest, content: bool) -> Result<Value, Reply> {
    if content {
        let Some(raw) = req.headers.get("dropbox-api-arg") else {
            return Err(bad_input("Missing Dropbox-API-Arg header"));
        };
        let text = raw.to_str().map_err(|_| {
            bad_input("Dropbox-API-Arg must be ASCII (escape other characters as \\uXXXX)")
        })?;
        serde_json::from_str(text).map_err(|_| {
            bad_input("HTTP header \"Dropbox-API-Arg\": could not decode input as JSON")
        })
    } else {
        if req.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&req.body).map_err(|_| bad_input("could not decode input as JSON"))
    }
}

async fn files_route(State(app): State<App>, Path(route): Path<String>, req: FakeRequest) -> Reply {
    let auth = req.header("authorization").unwrap_or("");
    let Some(token) = auth.strip_prefix("Bearer ") else {
        return Reply::new(400).body("Error in call: missing the Authorization header (Bearer)");
    };
    if !app.lock().tokens.contains(token) {
        return unauthorized("invalid_access_token");
    }
    let content = matches!(
        route.as_str(),
        "upload"
            | "download"
            | "upload_session/start"
            | "upload_session/append_v2"
            | "upload_session/finish"
    );
    let args = match args_of(&req, content) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match route.as_str() {
        "upload" => upload(&app, &args, &req),
        "download" => download(&app, &args, &req),
        "get_metadata" => get_metadata(&app, &args),
        "delete_v2" => delete(&app, &args),
        "copy_v2" => relocate(&app, &args, false),
        "move_v2" => relocate(&app, &args, true),
        "list_folder" => list_folder(&app, &args),
        "list_folder/continue" => list_continue(&app, &args),
        "get_temporary_link" => temporary_link(&app, &args),
        "upload_session/start" => session_start(&app, &args, &req),
        "upload_session/append_v2" => session_append(&app, &args, &req),
        "upload_session/finish" => session_finish(&app, &args, &req),
        _ => Reply::new(404).body("unknown route"),
    }
}

fn str_arg<'a>(args: &'a Value, name: &str) -> Option<&'a str> {
    args.get(name).and_then(Value::as_str)
}

/// Checks a file path: `/a/b` (not the root, no empty segment, no trailing `/`).
fn check_path(path: &str) -> Result<String, Reply> {
    if !path.starts_with('/') || path == "/" || path.ends_with('/') || path.contains("//") {
        return Err(bad_input(&format!(
            "path: '{path}' did not match pattern '(/(.|[\\r\\n])*)|(ns:[0-9]+(/.*)?)|(id:.*)'"
        )));
    }
    Ok(path.to_string())
}

fn iso(secs: u64) -> String {
    let days = secs / 86400;
    let rem = secs % 86400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn file_meta(f: &File) -> Value {
    let name = f.display.rsplit('/').next().unwrap_or("");
    json!({
        ".tag": "file",
        "name": name,
        "id": format!("id:{}", f.rev),
        "path_lower": f.display.to_lowercase(),
        "path_display": f.display,
        "rev": f.rev,
        "size": f.blob.len(),
        "client_modified": iso(f.modified),
        "server_modified": iso(f.modified),
        "content_hash": f.hash,
        "is_downloadable": true,
    })
}

fn folder_meta(display: &str) -> Value {
    json!({
        ".tag": "folder",
        "name": display.rsplit('/').next().unwrap_or(""),
        "id": format!("id:folder{}", display.len()),
        "path_lower": display.to_lowercase(),
        "path_display": display,
    })
}

/// The display spelling of the folder `lower` (from a file under it), if one exists.
fn folder_display(st: &Db, lower: &str) -> Option<String> {
    let prefix = format!("{lower}/");
    st.files
        .range(prefix.clone()..)
        .next()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, f)| f.display[..lower.len()].to_string())
}

/// Stores a file (`mode` add or overwrite); answers its metadata or the conflict.
fn write_file(app: &App, st: &mut Db, path: &str, data: Bytes, mode: &str) -> Result<Value, Reply> {
    let lower = path.to_lowercase();
    if folder_display(st, &lower).is_some() {
        return Err(path_conflict("folder"));
    }
    // A parent that is a file.
    let mut p = lower.as_str();
    while let Some(i) = p.rfind('/') {
        p = &p[..i];
        if !p.is_empty() && st.files.contains_key(p) {
            return Err(path_conflict("file"));
        }
    }
    let existing = st.files.get(&lower).cloned();
    if let Some(e) = &existing
        && mode == "add"
        && e.blob.data != data
    {
        return Err(path_conflict("file"));
    }
    let display = match &existing {
        Some(e) => e.display.clone(),
        None => {
            // Keep the spelling of existing parent folders.
            let mut display = path.to_string();
            if let Some(i) = lower.rfind('/')
                && i > 0
                && let Some(parent) = folder_display(st, &lower[..i])
            {
                display = format!("{parent}{}", &path[i..]);
            }
            display
        }
    };
    let n = st.next();
    let f = File {
        display,
        hash: content_hash(&data),
        blob: Blob::new(data),
        rev: format!("{n:015x}"),
        modified: app.clock.unix_secs(),
    };
    let meta = file_meta(&f);
    st.files.insert(lower, f);
    Ok(meta)
}

/// `path/conflict/<what>`: `{"path": {".tag": "conflict", "conflict": {".tag": what}}}`.
fn path_conflict(what: &str) -> Reply {
    api_error(
        &["path", "conflict", what],
        nested("path", nested("conflict", tagged(what))),
    )
}

fn mode_of(args: &Value) -> String {
    match args.get("mode") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(m)) => m
            .get(".tag")
            .and_then(Value::as_str)
            .unwrap_or("add")
            .to_string(),
        _ => "add".to_string(),
    }
}

fn result_reply(meta: &Value) -> Reply {
    Reply::json(200, meta)
}

fn upload(app: &App, args: &Value, req: &FakeRequest) -> Reply {
    if req.body_cut {
        return Reply::new(400);
    }
    let path = match check_path(str_arg(args, "path").unwrap_or("")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if req.body.len() > MAX_REQUEST {
        return api_error(&["payload_too_large"], tagged("payload_too_large"));
    }
    if let Some(h) = str_arg(args, "content_hash")
        && h != content_hash(&req.body)
    {
        return api_error(&["content_hash_mismatch"], tagged("content_hash_mismatch"));
    }
    let mode = mode_of(args);
    let mut st = app.lock();
    match write_file(app, &mut st, &path, req.body.clone(), &mode) {
        Ok(meta) => result_reply(&meta),
        Err(r) => r,
    }
}

fn download(app: &App, args: &Value, req: &FakeRequest) -> Reply {
    let path = match check_path(str_arg(args, "path").unwrap_or("")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let st = app.lock();
    let Some(f) = st.files.get(&path.to_lowercase()) else {
        return path_error("path", "not_found");
    };
    let meta = file_meta(f);
    f.blob
        .serve_range(req.header("range"), || {
            Reply::new(416).body("range not satisfiable")
        })
        .header("Content-Type", "application/octet-stream")
        .header("Dropbox-API-Result", escape_header_json(&meta))
        .header("ETag", format!("W/\"{}\"", f.rev))
}

fn get_metadata(app: &App, args: &Value) -> Reply {
    let path = str_arg(args, "path").unwrap_or("");
    let path = match check_path(path) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let st = app.lock();
    let lower = path.to_lowercase();
    if let Some(f) = st.files.get(&lower) {
        return Reply::json(200, &file_meta(f));
    }
    match folder_display(&st, &lower) {
        Some(d) => Reply::json(200, &folder_meta(&d)),
        None => path_error("path", "not_found"),
    }
}

fn delete(app: &App, args: &Value) -> Reply {
    let path = match check_path(str_arg(args, "path").unwrap_or("")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut st = app.lock();
    let lower = path.to_lowercase();
    if let Some(f) = st.files.remove(&lower) {
        let mut meta = file_meta(&f);
        meta[".tag"] = json!("file");
        return Reply::json(200, &json!({"metadata": meta}));
    }
    if let Some(d) = folder_display(&st, &lower) {
        let prefix = format!("{lower}/");
        st.files.retain(|k, _| !k.starts_with(&prefix));
        return Reply::json(200, &json!({"metadata": folder_meta(&d)}));
    }
    path_error("path_lookup", "not_found")
}

/// `copy_v2` and `move_v2` of a file (folders are not modelled as sources).
fn relocate(app: &App, args: &Value, remove: bool) -> Reply {
    let from = match check_path(str_arg(args, "from_path").unwrap_or("")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let to = match check_path(str_arg(args, "to_path").unwrap_or("")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut st = app.lock();
    let Some(src) = st.files.get(&from.to_lowercase()).cloned() else {
        return api_error(
            &["from_lookup", "not_found"],
            nested("from_lookup", tagged("not_found")),
        );
    };
    let to_lower = to.to_lowercase();
    if to_lower == from.to_lowercase() && !remove {
        return api_error(
            &["to", "conflict", "file"],
            nested("to", nested("conflict", tagged("file"))),
        );
    }
    if to_lower != from.to_lowercase()
        && (st.files.contains_key(&to_lower) || folder_display(&st, &to_lower).is_some())
    {
        return api_error(
            &["to", "conflict", "file"],
            nested("to", nested("conflict", tagged("file"))),
        );
    }
    if remove {
        st.files.remove(&from.to_lowercase());
    }
    match write_file(app, &mut st, &to, src.blob.data.clone(), "overwrite") {
        Ok(meta) => Reply::json(200, &json!({"metadata": meta})),
        Err(r) => {
            if remove {
                st.files.insert(from.to_lowercase(), src);
            }
            r
        }
    }
}

fn list_folder(app: &App, args: &Value) -> Reply {
    let path = str_arg(args, "path").unwrap_or("");
    if !(path.is_empty() || (path.starts_with('/') && path != "/" && !path.ends_with('/'))) {
        return bad_input(&format!(
            "path: '{path}' did not match pattern '(/(.|[\\r\\n])*)?|id:.*|(ns:[0-9]+(/.*)?)'"
        ));
    }
    let recursive = args
        .get("recursive")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut st = app.lock();
    let lower = path.to_lowercase();
    if !lower.is_empty() {
        if st.files.contains_key(&lower) {
            return path_error("path", "not_folder");
        }
        if folder_display(&st, &lower).is_none() {
            return path_error("path", "not_found");
        }
    }
    let prefix = format!("{lower}/");
    let mut entries: Vec<Value> = Vec::new();
    let mut folders: BTreeMap<String, String> = BTreeMap::new();
    for (k, f) in st.files.range(prefix.clone()..) {
        if !k.starts_with(&prefix) {
            break;
        }
        let rest = &k[prefix.len()..];
        let segments: Vec<&str> = rest.split('/').collect();
        // The folders between the listed one and the file.
        let depth = if recursive {
            segments.len() - 1
        } else {
            1.min(segments.len() - 1)
        };
        let mut end = prefix.len();
        for s in segments.iter().take(depth) {
            end += s.len();
            folders
                .entry(k[..end].to_string())
                .or_insert_with(|| f.display[..end].to_string());
            end += 1;
        }
        if recursive || segments.len() == 1 {
            entries.push(file_meta(f));
        }
    }
    entries.extend(folders.values().map(|d| folder_meta(d)));
    // The service's order is not a sort order: answer in reverse to keep clients honest.
    entries.reverse();
    page(&mut st, entries, 0)
}

fn page(st: &mut Db, entries: Vec<Value>, from: usize) -> Reply {
    let size = st.page_size;
    let end = (from + size).min(entries.len());
    let chunk: Vec<Value> = entries[from..end].to_vec();
    let has_more = end < entries.len();
    let n = st.next();
    let cursor = format!("cursor-{n:08}");
    st.cursors.insert(cursor.clone(), (entries, end));
    Reply::json(
        200,
        &json!({"entries": chunk, "cursor": cursor, "has_more": has_more}),
    )
}

fn list_continue(app: &App, args: &Value) -> Reply {
    let cursor = str_arg(args, "cursor").unwrap_or("");
    let mut st = app.lock();
    let Some((entries, from)) = st.cursors.get(cursor).cloned() else {
        return api_error(&["reset"], tagged("reset"));
    };
    page(&mut st, entries, from)
}

fn temporary_link(app: &App, args: &Value) -> Reply {
    let path = match check_path(str_arg(args, "path").unwrap_or("")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut st = app.lock();
    let lower = path.to_lowercase();
    let Some(f) = st.files.get(&lower) else {
        return path_error("path", "not_found");
    };
    let meta = file_meta(f);
    let n = st.next();
    let id = format!("t{n:08x}{:x}", app.clock.unix_millis());
    let until = app.clock.now() + TEMPORARY_LINK_LIFETIME;
    st.links.insert(id.clone(), (lower, until));
    Reply::json(
        200,
        &json!({"metadata": meta, "link": format!("{}/temp/{id}", app.endpoint)}),
    )
}

fn session_start(app: &App, args: &Value, req: &FakeRequest) -> Reply {
    if req.body_cut {
        return Reply::new(400);
    }
    if req.body.len() > MAX_REQUEST {
        return api_error(&["payload_too_large"], tagged("payload_too_large"));
    }
    let concurrent = args
        .get("session_type")
        .and_then(|t| t.as_str().or_else(|| t.get(".tag")?.as_str()))
        == Some("concurrent");
    if concurrent && !req.body.is_empty() {
        return api_error(
            &["concurrent_session_data_not_allowed"],
            tagged("concurrent_session_data_not_allowed"),
        );
    }
    if let Some(h) = str_arg(args, "content_hash")
        && h != content_hash(&req.body)
    {
        return api_error(&["content_hash_mismatch"], tagged("content_hash_mismatch"));
    }
    let mut st = app.lock();
    let n = st.next();
    let id = format!("pid_upload_session:fake{n:012x}");
    st.sessions.insert(
        id.clone(),
        UploadSession {
            data: req.body.to_vec(),
            created: app.clock.now(),
            closed: args.get("close").and_then(Value::as_bool).unwrap_or(false),
            concurrent,
        },
    );
    Reply::json(200, &json!({"session_id": id}))
}

/// The lookup checks shared by append and finish: `Err((tag, extra))`.
fn lookup(
    st: &Db,
    id: &str,
    offset: u64,
    len: usize,
    last: bool,
    finishing: bool,
) -> Result<(), Value> {
    let Some(s) = st.sessions.get(id) else {
        return Err(tagged("not_found"));
    };
    if s.closed && (!finishing || len > 0) {
        return Err(tagged("closed"));
    }
    if len > MAX_REQUEST {
        return Err(tagged("payload_too_large"));
    }
    if s.concurrent {
        if !offset.is_multiple_of(BLOCK as u64) {
            return Err(tagged("concurrent_session_invalid_offset"));
        }
        if !last && !len.is_multiple_of(BLOCK) {
            return Err(tagged("concurrent_session_invalid_data_size"));
        }
        if finishing && len > 0 {
            return Err(tagged("concurrent_session_not_closed"));
        }
    } else if offset != s.data.len() as u64 {
        return Err(json!({".tag": "incorrect_offset", "correct_offset": s.data.len()}));
    }
    Ok(())
}

fn cursor_of(args: &Value) -> Option<(String, u64)> {
    let c = args.get("cursor")?;
    Some((
        c.get("session_id")?.as_str()?.to_string(),
        c.get("offset")?.as_u64()?,
    ))
}

fn session_append(app: &App, args: &Value, req: &FakeRequest) -> Reply {
    if req.body_cut {
        // Dropbox keeps nothing of a request that did not arrive whole.
        return Reply::new(400);
    }
    let Some((id, offset)) = cursor_of(args) else {
        return bad_input("cursor: missing session_id or offset");
    };
    let close = args.get("close").and_then(Value::as_bool).unwrap_or(false);
    let mut st = app.lock();
    if let Err(e) = lookup(&st, &id, offset, req.body.len(), close, false) {
        let tag = e[".tag"].as_str().unwrap_or("other").to_string();
        return api_error(&[&tag], e);
    }
    if let Some(h) = str_arg(args, "content_hash")
        && h != content_hash(&req.body)
    {
        return api_error(&["content_hash_mismatch"], tagged("content_hash_mismatch"));
    }
    let s = st.sessions.get_mut(&id).expect("looked up");
    if s.concurrent {
        let end = offset as usize + req.body.len();
        if s.data.len() < end {
            s.data.resize(end, 0);
        }
        s.data[offset as usize..end].copy_from_slice(&req.body);
    } else {
        s.data.extend_from_slice(&req.body);
    }
    if close {
        s.closed = true;
    }
    Reply::json(200, &Value::Null)
}

fn session_finish(app: &App, args: &Value, req: &FakeRequest) -> Reply {
    if req.body_cut {
        return Reply::new(400);
    }
    let Some((id, offset)) = cursor_of(args) else {
        return bad_input("cursor: missing session_id or offset");
    };
    let commit = args.get("commit").cloned().unwrap_or(Value::Null);
    let path = match check_path(str_arg(&commit, "path").unwrap_or("")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut st = app.lock();
    if let Err(e) = lookup(&st, &id, offset, req.body.len(), true, true) {
        let tag = e[".tag"].as_str().unwrap_or("other").to_string();
        return api_error(&["lookup_failed", &tag], nested("lookup_failed", e));
    }
    let mut data = st.sessions[&id].data.clone();
    data.extend_from_slice(&req.body);
    if let Some(h) = str_arg(args, "content_hash")
        && h != content_hash(&data)
    {
        return api_error(&["content_hash_mismatch"], tagged("content_hash_mismatch"));
    }
    let mode = mode_of(&commit);
    match write_file(app, &mut st, &path, Bytes::from(data), &mode) {
        Ok(meta) => {
            st.sessions.remove(&id);
            result_reply(&meta)
        }
        Err(r) => {
            // A WriteError keeps the session (and the bytes of this request).
            if let Some(s) = st.sessions.get_mut(&id) {
                s.data.extend_from_slice(&req.body);
            }
            // The finish error `path: WriteError` has the shape of upload's.
            r
        }
    }
}

// ---------------------------------------------------------------------------------------
// JSON in headers and the content hash

/// JSON with every character outside printable ASCII escaped as `\uXXXX` (surrogate pairs
/// above the BMP), as HTTP headers carrying JSON need.
pub fn escape_header_json(v: &Value) -> String {
    let text = v.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (' '..='~').contains(&c) {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// Dropbox's content hash of `data`: SHA-256 over the SHA-256s of its 4 MiB blocks, in hex.
pub fn content_hash(data: &[u8]) -> String {
    let mut cat = Vec::with_capacity(data.len().div_ceil(BLOCK) * 32);
    for block in data.chunks(BLOCK) {
        cat.extend_from_slice(&sha256(block));
    }
    hex(&sha256(&cat))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SHA-256 of `data` (the `sha2` crate).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_vectors() {
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(
            hex(&sha256(long)),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn header_json_is_ascii() {
        let s = escape_header_json(&json!({"path": "/é/😀"}));
        assert!(s.is_ascii(), "{s}");
        assert_eq!(serde_json::from_str::<Value>(&s).unwrap()["path"], "/é/😀");
    }

    #[test]
    fn dates() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(1_709_204_400), "2024-02-29T11:00:00Z");
    }
}
