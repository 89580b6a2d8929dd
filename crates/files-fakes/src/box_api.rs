//! [`FakeBox`]: a protocol-faithful fake of the parts of the Box Platform API (2.0) that the
//! `files-box` adapter uses, on the [`kit`](crate::kit). One base URL serves what Box splits
//! over `https://api.box.com/2.0`, `https://upload.box.com/api/2.0` and
//! `https://api.box.com/oauth2/token` (the adapter's `endpoint=` points all three here).
//!
//! Follows these documentation pages (developer.box.com):
//! * `reference/get-folders-id-items` (`limit`/`offset` paging, `total_count`),
//!   `reference/post-folders` (`409 item_name_in_use`), `reference/get-files-id`,
//!   `reference/delete-files-id`, `reference/post-files-id-copy`, `reference/put-files-id`
//!   (move and rename by `parent.id` and `name`), `reference/get-files-id-content` (a `302`
//!   to a short-lived download URL, served here under `/dl/...`, honouring `Range`);
//! * `reference/post-files-content` (a `multipart/form-data` body: `attributes` JSON then
//!   `file`; `409 item_name_in_use` when the name exists) and
//!   `reference/post-files-id-content` (a new version);
//! * the chunked upload guides and `reference/post-files-upload-sessions` (also
//!   `/files/{id}/upload_sessions` for a new version), `put-files-upload-sessions-id`
//!   (`Content-Range` aligned to `part_size`, exact size but for the last part, `Digest:
//!   sha=BASE64` checked; a part overlapping a stored one is `416
//!   range_overlaps_existing_part`: parts are immutable), `get-files-upload-sessions-id`,
//!   `get-files-upload-sessions-id-parts` (`offset`/`limit` paging),
//!   `post-files-upload-sessions-id-commit` (the parts list must match what was stored and
//!   the whole-file `Digest` must match; the first [`FakeBox::set_commit_accepted`] calls
//!   answer `202 Accepted` with `Retry-After`), `delete-files-upload-sessions-id`;
//! * the client-credentials grant (`POST /oauth2/token`, `grant_type=client_credentials`,
//!   `box_subject_type=enterprise`, `box_subject_id`): tokens it issues are accepted as
//!   bearer tokens, as is the fixed [`FakeBox::token`].
//!
//! Errors have Box's shape: `{"type":"error","status":N,"code":"...","message":"..."}`.
//! Sessions live seven days on the kit's [`FakeClock`] (`session_expires_at`), then answer
//! `404`; an aborted or committed session answers `404` too.
//!
//! Choices of the fake: the server-chosen `part_size` is [`FakeBox::set_part_size`] (default
//! 64 KiB, where Box chooses 8 MiB and more) and sessions are allowed below Box's 20 MB
//! minimum unless [`FakeBox::set_min_session_size`] says otherwise, so tests stay fast.
//!
//! Not modelled: `fields` (every answer carries the fields the adapter reads), trash (a
//! delete removes at once), file version history (a new version replaces the bytes),
//! `If-Match`, shared links, metadata templates, collaboration and permissions, storage
//! quotas (see [`FakeBox::set_storage_limit`] for a crude one), `marker` paging, the session's
//! `log_event` endpoint and the `/plan` endpoint. A part body cut by the kit stores nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::kit::{FakeClock, FakeRequest, FakeServer, Reply, parse_multipart, parse_query};

/// How long an upload session lives.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a download URL (the `Location` of `/files/{id}/content`) lives.
pub const DOWNLOAD_URL_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// The client id the token endpoint accepts by default.
pub const CLIENT_ID: &str = "fake-box-client";
/// The client secret the token endpoint accepts by default.
pub const CLIENT_SECRET: &str = "fake-box-secret";
/// The enterprise id the token endpoint accepts by default.
pub const ENTERPRISE_ID: &str = "424242";

#[derive(Clone, Debug)]
enum Kind {
    Folder,
    File { data: Bytes, version: u64 },
}

#[derive(Clone, Debug)]
struct Item {
    name: String,
    parent: Option<String>,
    kind: Kind,
    modified: SystemTime,
}

#[derive(Clone, Debug)]
struct StoredPart {
    part_id: String,
    size: u64,
    sha1: String,
    data: Bytes,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum SessionState {
    Active,
    Gone,
}

#[derive(Debug)]
struct UploadSession {
    folder_id: String,
    file_id: Option<String>,
    name: String,
    size: u64,
    part_size: u64,
    parts: BTreeMap<u64, StoredPart>,
    created: SystemTime,
    state: SessionState,
    accepted_left: u32,
}

#[derive(Debug)]
struct Db {
    items: HashMap<String, Item>,
    sessions: HashMap<String, UploadSession>,
    downloads: HashMap<String, (String, SystemTime)>,
    tokens: HashSet<String>,
    next_id: u64,
    part_size: u64,
    min_session_size: u64,
    commit_accepted: u32,
    retry_after: u64,
    storage_limit: Option<u64>,
    client: (String, String, String),
}

impl Db {
    fn new(token: &str) -> Db {
        let mut items = HashMap::new();
        items.insert(
            "0".to_string(),
            Item {
                name: "All Files".into(),
                parent: None,
                kind: Kind::Folder,
                modified: SystemTime::UNIX_EPOCH,
            },
        );
        Db {
            items,
            sessions: HashMap::new(),
            downloads: HashMap::new(),
            tokens: HashSet::from([token.to_string()]),
            next_id: 1000,
            part_size: 64 * 1024,
            min_session_size: 0,
            commit_accepted: 1,
            retry_after: 0,
            storage_limit: None,
            client: (CLIENT_ID.into(), CLIENT_SECRET.into(), ENTERPRISE_ID.into()),
        }
    }

    fn id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    fn expire_due(&mut self, now: SystemTime) {
        for s in self.sessions.values_mut() {
            if s.state == SessionState::Active && now >= s.created + SESSION_LIFETIME {
                s.state = SessionState::Gone;
            }
        }
    }

    fn child(&self, folder: &str, name: &str) -> Option<String> {
        self.items
            .iter()
            .find(|(_, it)| it.parent.as_deref() == Some(folder) && it.name == name)
            .map(|(id, _)| id.clone())
    }

    fn used(&self) -> u64 {
        self.items
            .values()
            .map(|i| match &i.kind {
                Kind::File { data, .. } => data.len() as u64,
                Kind::Folder => 0,
            })
            .sum()
    }

    fn remove_tree(&mut self, id: &str) {
        let children: Vec<String> = self
            .items
            .iter()
            .filter(|(_, it)| it.parent.as_deref() == Some(id))
            .map(|(k, _)| k.clone())
            .collect();
        for c in children {
            self.remove_tree(&c);
        }
        self.items.remove(id);
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
        let mut st = self.st.lock().unwrap_or_else(|e| e.into_inner());
        st.expire_due(self.clock.now());
        st
    }
}

/// The in-process fake Box server. Dropping it stops it.
pub struct FakeBox {
    server: FakeServer,
    app: App,
    token: String,
}

impl std::fmt::Debug for FakeBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeBox")
            .field("port", &self.server.port())
            .finish()
    }
}

impl FakeBox {
    /// Starts the fake on a free 127.0.0.1 port.
    pub fn start() -> io::Result<FakeBox> {
        FakeBox::start_on(0)
    }

    /// Starts the fake on 127.0.0.1:`port` (0: a free one).
    pub fn start_on(port: u16) -> io::Result<FakeBox> {
        let token = "box-fake-token".to_string();
        let st = Arc::new(Mutex::new(Db::new(&token)));
        let mut app = None;
        let server = FakeServer::builder("fake-box").port(port).start(|ctx| {
            let a = App {
                st: st.clone(),
                endpoint: ctx.endpoint.clone(),
                clock: ctx.clock.clone(),
            };
            app = Some(a.clone());
            Router::new().fallback(handle).with_state(a)
        })?;
        let app = app.expect("the router was built");
        Ok(FakeBox { server, app, token })
    }

    /// Its endpoint, `http://127.0.0.1:PORT` (API, upload and token endpoint in one).
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// The fixed access token it accepts.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The kit's server: request log, clock, fault knobs.
    pub fn server(&self) -> &FakeServer {
        &self.server
    }

    /// Its clock (sessions expire [`SESSION_LIFETIME`] after they started).
    pub fn clock(&self) -> &FakeClock {
        self.server.clock()
    }

    /// The `part_size` it chooses for new sessions (default 64 KiB).
    pub fn set_part_size(&self, bytes: u64) {
        self.app.lock().part_size = bytes.max(1);
    }

    /// The smallest file a session is created for (default 0; Box's is 20,000,000 bytes):
    /// below it, `400 file_size_too_small`.
    pub fn set_min_session_size(&self, bytes: u64) {
        self.app.lock().min_session_size = bytes;
    }

    /// How many commit calls of each session answer `202 Accepted` before the commit is done
    /// (default 1), and the `Retry-After` seconds they carry (default 0).
    pub fn set_commit_accepted(&self, times: u32, retry_after_secs: u64) {
        let mut st = self.app.lock();
        st.commit_accepted = times;
        st.retry_after = retry_after_secs;
    }

    /// Refuses uploads that would store more than `bytes` in all (`507`
    /// `storage_limit_exceeded`).
    pub fn set_storage_limit(&self, bytes: Option<u64>) {
        self.app.lock().storage_limit = bytes;
    }

    /// The client id, secret and enterprise id the token endpoint accepts.
    pub fn set_client(&self, id: &str, secret: &str, enterprise: &str) {
        self.app.lock().client = (id.into(), secret.into(), enterprise.into());
    }

    /// The bytes of the file at `path` (`a/b/c.txt`) under the root folder `0`.
    pub fn object(&self, path: &str) -> Option<Vec<u8>> {
        self.object_in("0", path)
    }

    /// The bytes of the file at `path` under the folder `folder`.
    pub fn object_in(&self, folder: &str, path: &str) -> Option<Vec<u8>> {
        let st = self.app.lock();
        let mut cur = folder.to_string();
        for seg in path.split('/') {
            cur = st.child(&cur, seg)?;
        }
        match &st.items.get(&cur)?.kind {
            Kind::File { data, .. } => Some(data.to_vec()),
            Kind::Folder => None,
        }
    }

    /// Creates a folder named `name` in `parent` and returns its id.
    pub fn create_folder(&self, parent: &str, name: &str) -> String {
        let mut st = self.app.lock();
        if let Some(id) = st.child(parent, name) {
            return id;
        }
        let id = st.id();
        let now = self.app.clock.now();
        st.items.insert(
            id.clone(),
            Item {
                name: name.into(),
                parent: Some(parent.into()),
                kind: Kind::Folder,
                modified: now,
            },
        );
        id
    }

    /// Open (active, unexpired) sessions whose file name is `name`, as descriptions.
    pub fn open_sessions(&self, name: &str) -> Vec<String> {
        let st = self.app.lock();
        st.sessions
            .iter()
            .filter(|(_, s)| s.state == SessionState::Active && s.name == name)
            .map(|(id, s)| format!("session {id} of {} ({} parts)", s.name, s.parts.len()))
            .collect()
    }

    /// Ids of every open session.
    pub fn open_session_ids(&self) -> Vec<String> {
        let st = self.app.lock();
        st.sessions
            .iter()
            .filter(|(_, s)| s.state == SessionState::Active)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Offsets of the parts a session holds.
    pub fn session_parts(&self, id: &str) -> Vec<u64> {
        let st = self.app.lock();
        st.sessions
            .get(id)
            .map(|s| s.parts.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Makes a session expire now; returns whether it was open.
    pub fn expire_session(&self, id: &str) -> bool {
        let mut st = self.app.lock();
        match st.sessions.get_mut(id) {
            Some(s) if s.state == SessionState::Active => {
                s.state = SessionState::Gone;
                true
            }
            _ => false,
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
    let fake = FakeBox::start_on(port)?;
    let endpoint = fake.endpoint();
    let line = json!({
        "provider": "box",
        "endpoint": endpoint,
        "env": {
            "BOX_ENDPOINT": endpoint,
            "BOX_ACCESS_TOKEN": fake.token(),
        },
        "url": "box://0/",
    });
    Ok((Box::new(fake), line))
}

// ------------------------------------------------------------------------------- helpers

/// Box's error body.
fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"type": "error", "status": status, "code": code, "message": message,
                "request_id": "fake"}),
    )
}

fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn file_json(id: &str, it: &Item) -> Value {
    match &it.kind {
        Kind::File { data, version } => json!({
            "type": "file", "id": id, "name": it.name, "size": data.len(),
            "sha1": sha1_hex(data), "etag": version.to_string(),
            "modified_at": rfc3339(it.modified),
            "parent": {"type": "folder", "id": it.parent},
        }),
        Kind::Folder => json!({
            "type": "folder", "id": id, "name": it.name,
            "modified_at": rfc3339(it.modified),
            "parent": it.parent.as_ref().map(|p| json!({"type": "folder", "id": p})),
        }),
    }
}

fn session_json(endpoint: &str, id: &str, s: &UploadSession) -> Value {
    let base = format!("{endpoint}/files/upload_sessions/{id}");
    json!({
        "id": id,
        "type": "upload_session",
        "session_expires_at": rfc3339(s.created + SESSION_LIFETIME),
        "part_size": s.part_size,
        "total_parts": s.size.div_ceil(s.part_size),
        "num_parts_processed": s.parts.len(),
        "session_endpoints": {
            "upload_part": base, "commit": format!("{base}/commit"), "abort": base,
            "list_parts": format!("{base}/parts"), "status": base,
            "log_event": format!("{base}/log"),
        },
    })
}

fn part_json(offset: u64, p: &StoredPart) -> Value {
    json!({"part_id": p.part_id, "offset": offset, "size": p.size, "sha1": p.sha1})
}

fn body_json(req: &FakeRequest) -> Option<Value> {
    serde_json::from_slice(&req.body).ok()
}

fn digest_of(req: &FakeRequest) -> Option<Vec<u8>> {
    let v = req.header("digest")?;
    let b64 = v
        .trim()
        .strip_prefix("sha=")
        .or_else(|| v.trim().strip_prefix("SHA="))?;
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

fn conflict(st: &Db, id: &str) -> Reply {
    let mut r = error(
        409,
        "item_name_in_use",
        "Item with the same name already exists",
    );
    if let Some(it) = st.items.get(id) {
        r = Reply::json(
            409,
            &json!({"type": "error", "status": 409, "code": "item_name_in_use",
                    "message": "Item with the same name already exists",
                    "context_info": {"conflicts": [file_json(id, it)]}}),
        );
    }
    r
}

// ------------------------------------------------------------------------------- routes

async fn handle(State(app): State<App>, req: FakeRequest) -> Reply {
    let segs: Vec<String> = req
        .path
        .trim_start_matches('/')
        .split('/')
        .map(crate::kit::path_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = req.method.as_str();
    // Routes without a bearer token.
    match (m, segs.as_slice()) {
        ("POST", ["oauth2", "token"]) => return token(&app, &req),
        ("GET", ["dl", t]) => return download(&app, &req, t),
        _ => {}
    }
    let bearer = req
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let authorized = bearer.is_some_and(|t| app.lock().tokens.contains(&t));
    if !authorized {
        return error(401, "unauthorized", "Unauthorized").header(
            "WWW-Authenticate",
            "Bearer realm=\"Service\", error=\"invalid_token\"",
        );
    }
    match (m, segs.as_slice()) {
        ("GET", ["folders", id, "items"]) => list_items(&app, &req, id),
        ("GET", ["folders", id]) => get_item(&app, id, true),
        ("POST", ["folders"]) => create_folder(&app, &req),
        ("POST", ["files", "content"]) => plain_upload(&app, &req, None),
        ("POST", ["files", "upload_sessions"]) => create_session(&app, &req, None),
        ("PUT", ["files", "upload_sessions", sid]) => upload_part(&app, &req, sid),
        ("GET", ["files", "upload_sessions", sid]) => session_status(&app, sid),
        ("DELETE", ["files", "upload_sessions", sid]) => abort_session(&app, sid),
        ("GET", ["files", "upload_sessions", sid, "parts"]) => list_parts(&app, &req, sid),
        ("POST", ["files", "upload_sessions", sid, "commit"]) => commit(&app, &req, sid),
        ("POST", ["files", id, "content"]) => plain_upload(&app, &req, Some(id)),
        ("POST", ["files", id, "upload_sessions"]) => create_session(&app, &req, Some(id)),
        ("GET", ["files", id, "content"]) => content(&app, id),
        ("POST", ["files", id, "copy"]) => copy(&app, &req, id),
        ("GET", ["files", id]) => get_item(&app, id, false),
        ("PUT", ["files", id]) => update(&app, &req, id),
        ("DELETE", ["files", id]) => delete(&app, id),
        _ => error(404, "not_found", &format!("no route for {m} {}", req.path)),
    }
}

fn token(app: &App, req: &FakeRequest) -> Reply {
    let form: HashMap<String, String> = parse_query(&String::from_utf8_lossy(&req.body))
        .into_iter()
        .collect();
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let mut st = app.lock();
    let (id, secret, enterprise) = st.client.clone();
    if get("grant_type") != "client_credentials" {
        return Reply::json(400, &json!({"error": "unsupported_grant_type"}));
    }
    if get("client_id") != id || get("client_secret") != secret {
        return Reply::json(
            400,
            &json!({"error": "invalid_client", "error_description": "The client credentials are invalid"}),
        );
    }
    if get("box_subject_type") != "enterprise" || get("box_subject_id") != enterprise {
        return Reply::json(
            400,
            &json!({"error": "invalid_grant", "error_description": "Grant credentials are invalid"}),
        );
    }
    let n = st.id();
    let t = format!("box-ccg-{n}");
    st.tokens.insert(t.clone());
    Reply::json(
        200,
        &json!({"access_token": t, "expires_in": 3600, "token_type": "bearer",
                "restricted_to": [], "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"}),
    )
}

fn list_items(app: &App, req: &FakeRequest, id: &str) -> Reply {
    let st = app.lock();
    match st.items.get(id) {
        Some(Item {
            kind: Kind::Folder, ..
        }) => {}
        _ => return error(404, "not_found", "Not Found"),
    }
    let limit: usize = req
        .param("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let offset: usize = req
        .param("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let mut children: Vec<(&String, &Item)> = st
        .items
        .iter()
        .filter(|(_, it)| it.parent.as_deref() == Some(id))
        .collect();
    // Box sorts by id by default; the fake sorts by name so that pages are stable.
    children.sort_by(|a, b| a.1.name.cmp(&b.1.name).then(a.0.cmp(b.0)));
    let total = children.len();
    let entries: Vec<Value> = children
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(k, it)| file_json(k, it))
        .collect();
    Reply::json(
        200,
        &json!({"total_count": total, "entries": entries, "offset": offset, "limit": limit,
                "order": [{"by": "name", "direction": "ASC"}]}),
    )
}

fn get_item(app: &App, id: &str, folder: bool) -> Reply {
    let st = app.lock();
    match st.items.get(id) {
        Some(it) if matches!(it.kind, Kind::Folder) == folder => {
            let mut r = Reply::json(200, &file_json(id, it));
            if let Kind::File { version, .. } = &it.kind {
                r = r.header("ETag", format!("\"{version}\""));
            }
            r
        }
        _ => error(404, "not_found", "Not Found"),
    }
}

fn create_folder(app: &App, req: &FakeRequest) -> Reply {
    let Some(v) = body_json(req) else {
        return error(400, "bad_request", "the body is not JSON");
    };
    let (Some(name), Some(parent)) = (
        v["name"].as_str(),
        v.pointer("/parent/id").and_then(Value::as_str),
    ) else {
        return error(400, "bad_request", "name and parent.id are required");
    };
    let mut st = app.lock();
    if !matches!(
        st.items.get(parent),
        Some(Item {
            kind: Kind::Folder,
            ..
        })
    ) {
        return error(404, "not_found", "the parent folder does not exist");
    }
    if let Some(existing) = st.child(parent, name) {
        return conflict(&st, &existing);
    }
    let id = st.id();
    let it = Item {
        name: name.into(),
        parent: Some(parent.into()),
        kind: Kind::Folder,
        modified: app.clock.now(),
    };
    let r = Reply::json(201, &file_json(&id, &it));
    st.items.insert(id, it);
    r
}

/// Stores `data` as a new file `name` in `folder`, or as a new version of `file_id`.
fn store_file(
    app: &App,
    st: &mut Db,
    folder: Option<&str>,
    file_id: Option<&str>,
    name: Option<&str>,
    data: Bytes,
) -> Result<String, Reply> {
    if let Some(limit) = st.storage_limit {
        let old = file_id
            .and_then(|f| st.items.get(f))
            .map(|i| match &i.kind {
                Kind::File { data, .. } => data.len() as u64,
                Kind::Folder => 0,
            })
            .unwrap_or(0);
        if st.used() - old + data.len() as u64 > limit {
            return Err(error(
                507,
                "storage_limit_exceeded",
                "Account storage limit reached",
            ));
        }
    }
    let now = app.clock.now();
    if let Some(fid) = file_id {
        let Some(it) = st.items.get_mut(fid) else {
            return Err(error(404, "not_found", "Not Found"));
        };
        let Kind::File { version, .. } = &it.kind else {
            return Err(error(404, "not_found", "Not Found"));
        };
        let version = version + 1;
        it.kind = Kind::File { data, version };
        it.modified = now;
        if let Some(n) = name {
            it.name = n.into();
        }
        return Ok(fid.to_string());
    }
    let folder = folder.unwrap_or("0");
    let name = name.unwrap_or_default();
    if !matches!(
        st.items.get(folder),
        Some(Item {
            kind: Kind::Folder,
            ..
        })
    ) {
        return Err(error(404, "not_found", "the parent folder does not exist"));
    }
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(error(400, "item_name_invalid", "Item name invalid"));
    }
    if let Some(existing) = st.child(folder, name) {
        return Err(conflict(st, &existing));
    }
    let id = st.id();
    st.items.insert(
        id.clone(),
        Item {
            name: name.into(),
            parent: Some(folder.into()),
            kind: Kind::File { data, version: 1 },
            modified: now,
        },
    );
    Ok(id)
}

fn plain_upload(app: &App, req: &FakeRequest, file_id: Option<&str>) -> Reply {
    let ct = req.header("content-type").unwrap_or_default().to_string();
    if !ct.starts_with("multipart/form-data") {
        return error(400, "bad_request", "expected multipart/form-data");
    }
    let Some(parts) = parse_multipart(&ct, &req.body) else {
        return error(400, "bad_request", "the multipart body could not be read");
    };
    let field = |name: &str| {
        parts.iter().find(|p| {
            p.header("content-disposition")
                .is_some_and(|d| d.contains(&format!("name=\"{name}\"")))
        })
    };
    let (Some(attrs), Some(file)) = (field("attributes"), field("file")) else {
        return error(
            400,
            "bad_request",
            "the attributes field must come before the file field",
        );
    };
    let a: Value = serde_json::from_slice(&attrs.body).unwrap_or(Value::Null);
    let name = a["name"].as_str();
    let folder = a.pointer("/parent/id").and_then(Value::as_str);
    let mut st = app.lock();
    match store_file(app, &mut st, folder, file_id, name, file.body.clone()) {
        Ok(id) => {
            let it = &st.items[&id];
            Reply::json(
                201,
                &json!({"total_count": 1, "entries": [file_json(&id, it)]}),
            )
        }
        Err(r) => r,
    }
}

fn create_session(app: &App, req: &FakeRequest, file_id: Option<&str>) -> Reply {
    let Some(v) = body_json(req) else {
        return error(400, "bad_request", "the body is not JSON");
    };
    let Some(size) = v["file_size"].as_u64() else {
        return error(400, "bad_request", "file_size is required");
    };
    let mut st = app.lock();
    if size < st.min_session_size {
        return error(
            400,
            "file_size_too_small",
            "File size is less than minimum allowed for this API",
        );
    }
    let (folder, name) = match file_id {
        Some(fid) => match st.items.get(fid) {
            Some(
                it @ Item {
                    kind: Kind::File { .. },
                    ..
                },
            ) => (
                it.parent.clone().unwrap_or_default(),
                v["file_name"].as_str().unwrap_or(&it.name).to_string(),
            ),
            _ => return error(404, "not_found", "Not Found"),
        },
        None => {
            let (Some(folder), Some(name)) = (v["folder_id"].as_str(), v["file_name"].as_str())
            else {
                return error(
                    400,
                    "missing_destination",
                    "folder_id and file_name are required",
                );
            };
            if !matches!(
                st.items.get(folder),
                Some(Item {
                    kind: Kind::Folder,
                    ..
                })
            ) {
                return error(404, "not_found", "the folder does not exist");
            }
            if let Some(existing) = st.child(folder, name) {
                return conflict(&st, &existing);
            }
            (folder.to_string(), name.to_string())
        }
    };
    if let Some(limit) = st.storage_limit
        && st.used() + size > limit
    {
        return error(
            507,
            "storage_limit_exceeded",
            "Account storage limit reached",
        );
    }
    st.next_id += 1;
    // Unique across fakes too (Box's ids are): the counter and the clock.
    let id = format!(
        "F{:0>15X}{:0>16X}",
        st.next_id,
        app.clock.unix_millis() ^ u64::from(std::process::id()) << 40
    );
    let s = UploadSession {
        folder_id: folder,
        file_id: file_id.map(str::to_string),
        name,
        size,
        part_size: st.part_size,
        parts: BTreeMap::new(),
        created: app.clock.now(),
        state: SessionState::Active,
        accepted_left: st.commit_accepted,
    };
    let r = Reply::json(201, &session_json(&app.endpoint, &id, &s));
    st.sessions.insert(id, s);
    r
}

fn gone() -> Reply {
    error(
        404,
        "not_found",
        "The upload session was not found (expired, aborted or committed)",
    )
}

fn upload_part(app: &App, req: &FakeRequest, sid: &str) -> Reply {
    if req.body_cut {
        return error(400, "bad_request", "the body was cut");
    }
    let mut st = app.lock();
    st.next_id += 1;
    let n = st.next_id;
    let Some(s) = st
        .sessions
        .get_mut(sid)
        .filter(|s| s.state == SessionState::Active)
    else {
        return gone();
    };
    let Some(cr) = req.header("content-range").and_then(|v| {
        let v = v.trim().strip_prefix("bytes ")?;
        let (r, t) = v.split_once('/')?;
        let (a, b) = r.split_once('-')?;
        Some((
            a.parse::<u64>().ok()?,
            b.parse::<u64>().ok()?,
            t.parse::<u64>().ok()?,
        ))
    }) else {
        return error(400, "bad_request", "Content-Range is missing or invalid");
    };
    let (start, end, total) = cr;
    if total != s.size || end < start || end >= total {
        return error(
            400,
            "bad_request",
            "Content-Range does not match the file size",
        );
    }
    let size = end - start + 1;
    if req.body.len() as u64 != size {
        return error(
            400,
            "bad_request",
            "the body length does not match Content-Range",
        );
    }
    if !start.is_multiple_of(s.part_size) || (size != s.part_size && end + 1 != total) {
        return error(
            416,
            "requested_range_not_satisfiable",
            "part boundaries must follow part_size",
        );
    }
    let Some(digest) = digest_of(req) else {
        return error(400, "bad_request", "the Digest header is missing");
    };
    let sha = sha1(&req.body);
    if digest != sha {
        return error(400, "bad_digest", "The digest does not match the part");
    }
    if s.parts.range(..=end).any(|(o, p)| o + p.size > start) {
        return error(
            416,
            "range_overlaps_existing_part",
            "Part overlaps with previously uploaded part",
        );
    }
    let p = StoredPart {
        part_id: format!("{n:08X}"),
        size,
        sha1: hex(&sha),
        data: req.body.clone(),
    };
    let v = json!({"part": part_json(start, &p)});
    s.parts.insert(start, p);
    Reply::json(200, &v)
}

fn session_status(app: &App, sid: &str) -> Reply {
    let st = app.lock();
    match st
        .sessions
        .get(sid)
        .filter(|s| s.state == SessionState::Active)
    {
        Some(s) => Reply::json(200, &session_json(&app.endpoint, sid, s)),
        None => gone(),
    }
}

fn abort_session(app: &App, sid: &str) -> Reply {
    let mut st = app.lock();
    match st
        .sessions
        .get_mut(sid)
        .filter(|s| s.state == SessionState::Active)
    {
        Some(s) => {
            s.state = SessionState::Gone;
            s.parts.clear();
            Reply::new(204)
        }
        None => gone(),
    }
}

fn list_parts(app: &App, req: &FakeRequest, sid: &str) -> Reply {
    let st = app.lock();
    let Some(s) = st
        .sessions
        .get(sid)
        .filter(|s| s.state == SessionState::Active)
    else {
        return gone();
    };
    let limit: usize = req
        .param("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let offset: usize = req
        .param("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    if offset > 10_000 {
        return error(400, "bad_request", "offset must not exceed 10000");
    }
    let entries: Vec<Value> = s
        .parts
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(o, p)| part_json(*o, p))
        .collect();
    Reply::json(
        200,
        &json!({"entries": entries, "offset": offset, "limit": limit,
                "total_count": s.parts.len()}),
    )
}

fn commit(app: &App, req: &FakeRequest, sid: &str) -> Reply {
    let mut st = app.lock();
    let retry_after = st.retry_after;
    let Some(s) = st
        .sessions
        .get_mut(sid)
        .filter(|s| s.state == SessionState::Active)
    else {
        return gone();
    };
    let Some(v) = body_json(req) else {
        return error(400, "bad_request", "the body is not JSON");
    };
    let Some(listed) = v["parts"].as_array() else {
        return error(400, "bad_request", "parts is required");
    };
    // The list must name every stored part, in order, covering the file.
    let mut expected = 0u64;
    for (p, (o, stored)) in listed.iter().zip(s.parts.iter()) {
        if p["offset"].as_u64() != Some(*o)
            || p["size"].as_u64() != Some(stored.size)
            || p["part_id"].as_str() != Some(stored.part_id.as_str())
            || *o != expected
        {
            return error(
                400,
                "bad_request",
                "The parts list does not match the uploaded parts",
            );
        }
        expected = o + stored.size;
    }
    if listed.len() != s.parts.len() || expected != s.size {
        return error(
            400,
            "bad_request",
            "The parts list does not cover the whole file",
        );
    }
    let mut data = Vec::with_capacity(s.size as usize);
    for p in s.parts.values() {
        data.extend_from_slice(&p.data);
    }
    match digest_of(req) {
        Some(d) if d == sha1(&data) => {}
        Some(_) => return error(422, "bad_digest", "The digest does not match the file"),
        None => return error(400, "bad_request", "the Digest header is missing"),
    }
    if s.accepted_left > 0 {
        s.accepted_left -= 1;
        return Reply::new(202).header("Retry-After", retry_after.to_string());
    }
    let (folder, file_id, name) = (s.folder_id.clone(), s.file_id.clone(), s.name.clone());
    let new_name = v.pointer("/attributes/name").and_then(Value::as_str);
    let stored = store_file(
        app,
        &mut st,
        Some(&folder),
        file_id.as_deref(),
        Some(new_name.unwrap_or(&name)),
        Bytes::from(data),
    );
    match stored {
        Ok(id) => {
            if let Some(s) = st.sessions.get_mut(sid) {
                s.state = SessionState::Gone;
                s.parts.clear();
            }
            let it = &st.items[&id];
            Reply::json(
                201,
                &json!({"total_count": 1, "entries": [file_json(&id, it)]}),
            )
        }
        Err(r) => r,
    }
}

fn content(app: &App, id: &str) -> Reply {
    let mut st = app.lock();
    if !matches!(
        st.items.get(id),
        Some(Item {
            kind: Kind::File { .. },
            ..
        })
    ) {
        return error(404, "not_found", "Not Found");
    }
    let n = st.id();
    let t = format!("d{n}x{}", app.clock.unix_millis());
    st.downloads.insert(
        t.clone(),
        (id.to_string(), app.clock.now() + DOWNLOAD_URL_LIFETIME),
    );
    Reply::new(302).header("Location", format!("{}/dl/{t}", app.endpoint))
}

fn download(app: &App, req: &FakeRequest, t: &str) -> Reply {
    let st = app.lock();
    let Some((id, until)) = st.downloads.get(t) else {
        return Reply::new(403);
    };
    if app.clock.now() >= *until {
        return Reply::new(403);
    }
    let Some(Item {
        kind: Kind::File { data, version },
        ..
    }) = st.items.get(id)
    else {
        return Reply::new(404);
    };
    let blob = crate::kit::Blob::new(data.clone());
    let len = blob.len();
    blob.serve_range(req.header("range"), || {
        Reply::new(416).header("Content-Range", format!("bytes */{len}"))
    })
    .header("ETag", format!("\"{version}\""))
    .header("Accept-Ranges", "bytes")
}

fn copy(app: &App, req: &FakeRequest, id: &str) -> Reply {
    let v = body_json(req).unwrap_or(Value::Null);
    let Some(parent) = v.pointer("/parent/id").and_then(Value::as_str) else {
        return error(400, "bad_request", "parent.id is required");
    };
    let mut st = app.lock();
    let Some(src) = st.items.get(id).cloned() else {
        return error(404, "not_found", "Not Found");
    };
    let Kind::File { data, .. } = src.kind else {
        return error(404, "not_found", "Not Found");
    };
    let name = v["name"].as_str().unwrap_or(&src.name).to_string();
    match store_file(app, &mut st, Some(parent), None, Some(&name), data) {
        Ok(nid) => Reply::json(201, &file_json(&nid, &st.items[&nid])),
        Err(r) => r,
    }
}

fn update(app: &App, req: &FakeRequest, id: &str) -> Reply {
    let v = body_json(req).unwrap_or(Value::Null);
    let mut st = app.lock();
    let Some(cur) = st.items.get(id).cloned() else {
        return error(404, "not_found", "Not Found");
    };
    let parent = v
        .pointer("/parent/id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or(cur.parent.clone())
        .unwrap_or_default();
    let name = v["name"].as_str().unwrap_or(&cur.name).to_string();
    if !matches!(
        st.items.get(&parent),
        Some(Item {
            kind: Kind::Folder,
            ..
        })
    ) {
        return error(404, "not_found", "the parent folder does not exist");
    }
    if let Some(existing) = st.child(&parent, &name)
        && existing != id
    {
        return conflict(&st, &existing);
    }
    let now = app.clock.now();
    let it = st.items.get_mut(id).expect("checked above");
    it.parent = Some(parent);
    it.name = name;
    it.modified = now;
    let it = it.clone();
    Reply::json(200, &file_json(id, &it))
}

fn delete(app: &App, id: &str) -> Reply {
    let mut st = app.lock();
    match st.items.get(id) {
        Some(Item {
            kind: Kind::File { .. },
            ..
        }) => {
            st.remove_tree(id);
            Reply::new(204)
        }
        _ => error(404, "not_found", "Not Found"),
    }
}

// ------------------------------------------------------------------------------- SHA-1

/// SHA-1 of `data` (the `sha1` crate): the fake checks Box's `Digest: sha=` headers with it.
pub fn sha1(data: &[u8]) -> Vec<u8> {
    use sha1::Digest as _;
    sha1::Sha1::digest(data).to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The hex SHA-1 of `data` (Box's `sha1` field).
pub fn sha1_hex(data: &[u8]) -> String {
    hex(&sha1(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_known_answers() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            sha1_hex(&vec![b'a'; 1_000_000]),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
        assert!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(784_111_777))
                .starts_with("1994-11-06T08:49:37")
        );
    }
}
