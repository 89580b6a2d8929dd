//! [`FakeGraph`]: a protocol-faithful fake of the Microsoft Graph drive API (OneDrive and
//! SharePoint document libraries) as the `files-onedrive` adapter uses it, on the
//! [`kit`](crate::kit).
//!
//! Follows these documentation pages (learn.microsoft.com/graph/api/...):
//! * `driveitem-get` (item metadata by path `root:/a/b` or by id, `@microsoft.graph.downloadUrl`
//!   on files), `driveitem-get-content` (`GET .../content` answers `302` to a pre-authenticated
//!   download URL, which serves `Range`), `driveitem-list-children` (pages of
//!   [`FakeGraph::set_page_size`] items, default 2, continued by `@odata.nextLink`),
//!   `driveitem-put-content` (simple upload of at most 4 MiB; parent folders are created),
//!   `driveitem-delete` (`204`), `driveitem-update` / `driveitem-move` (`PATCH` with `name` and
//!   `parentReference.id`; a target name that exists is `409 nameAlreadyExists`: the move page
//!   documents no conflict behaviour), `driveitem-copy` (`?@microsoft.graph.conflictBehavior=replace` replaces a file at the
//!   target, else `409 nameAlreadyExists`; `202` with a `Location` monitor
//!   URL; the monitor answers `202 inProgress` to the first poll and `200 completed` with
//!   `resourceId` to the next, when the copy lands), `driveitem-post-children` (folders);
//! * `driveitem-createuploadsession` and the `uploadsession` resource:
//!   * `POST root:/{path}:/createUploadSession` → `200 {uploadUrl, expirationDateTime,
//!     nextExpectedRanges: ["0-"]}`; the upload URL is on this host (`/uploadSession?token=..`);
//!   * fragments: `PUT uploadUrl` with `Content-Range: bytes S-E/TOTAL`: **401 if it carries
//!     `Authorization`**; the total must stay the same (else `400`); a fragment above 60 MiB is
//!     `413`; a fragment that does not end the file must be a multiple of 320 KiB (else `400
//!     invalidRequest`); a fragment the session already holds (wholly or partly) is **`416`**;
//!     one that starts after the received bytes is `400 invalidRange` (out of order); a
//!     request whose body the kit cut keeps **no byte** (Graph ignores a fragment that did not
//!     arrive whole); a fragment moves the session's expiry to now + [`SESSION_LIFETIME`]; the
//!     answer is `202 {expirationDateTime, nextExpectedRanges: ["N-"]}`, and the last fragment
//!     commits the file (`201` with the driveItem; `409 nameAlreadyExists` with the session
//!     kept when the session was created with `conflictBehavior: fail` and the file exists);
//!   * `GET uploadUrl` → `200 {expirationDateTime, nextExpectedRanges}`; `DELETE` → `204`;
//!     a deleted, committed, unknown or expired session (by the fake's clock) is `404
//!     itemNotFound`;
//! * the Microsoft identity platform's client-credentials grant
//!   (`POST /{tenant}/oauth2/v2.0/token`, `scope=https://graph.microsoft.com/.default`): it
//!   issues one-hour tokens to [`TEST_CLIENT_ID`]/[`TEST_CLIENT_SECRET`] of [`TEST_TENANT`].
//!
//! Every API route (under `/v1.0`) needs `Authorization: Bearer` with [`TEST_TOKEN`] (or the
//! token given to [`FakeGraph::start_with_token`]) or an issued token (`401
//! InvalidAuthenticationToken` otherwise). Drives: `/me/drive` always exists; `/drives/{id}`
//! and `/sites/{id}/drive` after [`FakeGraph::create_drive`] / [`FakeGraph::create_site`].
//! Errors use Graph's body `{"error": {"code", "message"}}`.
//!
//! Not modelled: `deferCommit`, the `@microsoft.graph.sourceUrl` commit of a session, `If-Match`
//! preconditions, `fileSize` quota checks (`507`), item versions, hashes (`quickXorHash`),
//! `$select`/`$expand`/`$top`, `rename` conflict behaviour, search and delta, permissions and
//! sharing links, thumbnails, throttling (use the kit's faults), shared drives across tenants,
//! OneDrive Personal's differences (`api.onedrive.com`). Item times advance with the fake's clock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::Method;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::kit::{
    Blob, FakeClock, FakeRequest, FakeServer, Reply, parse_content_range, parse_query, path_decode,
    pct_encode,
};

/// The access token the fake accepts on every API route (besides issued ones).
pub const TEST_TOKEN: &str = "graph-test-token";
/// The tenant of the fake's token endpoint.
pub const TEST_TENANT: &str = "test-tenant";
/// The client id the token endpoint issues tokens to.
pub const TEST_CLIENT_ID: &str = "test-client-id";
/// That client's secret.
pub const TEST_CLIENT_SECRET: &str = "test-client-secret-value";
/// The scope the token endpoint requires.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
/// Every fragment but the last is a multiple of this (320 KiB).
pub const FRAGMENT_ALIGN: u64 = 327_680;
/// The largest fragment accepted.
pub const MAX_FRAGMENT: u64 = 60 * 1024 * 1024;
/// The largest simple upload (`PUT .../content`).
pub const SIMPLE_UPLOAD_LIMIT: u64 = 4 * 1024 * 1024;
/// How long a session lives after its creation and after each fragment (the fake's choice:
/// Graph extends the expiry on every fragment but documents no lifetime).
pub const SESSION_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// How long a download URL works.
pub const DOWNLOAD_URL_LIFETIME: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug)]
struct Node {
    id: String,
    folder: bool,
    data: Bytes,
    version: u64,
    created: u64,
    modified: u64,
}

#[derive(Debug, Default)]
struct Drive {
    /// Items by path ("" is the root folder; "a/b" a child of folder "a").
    items: BTreeMap<String, Node>,
}

#[derive(Debug)]
struct UploadSession {
    drive: String,
    path: String,
    total: Option<u64>,
    data: Vec<u8>,
    expires: SystemTime,
    replace: bool,
    open: bool,
}

#[derive(Debug)]
struct Monitor {
    polls: u32,
    drive: String,
    dest: String,
    data: Bytes,
    result: Option<String>,
}

#[derive(Debug)]
struct Db {
    drives: HashMap<String, Drive>,
    sessions: HashMap<String, UploadSession>,
    monitors: HashMap<String, Monitor>,
    downloads: HashMap<String, (String, String, SystemTime)>,
    tokens: HashSet<String>,
    issued: HashMap<String, SystemTime>,
    page_size: usize,
    next: u64,
}

impl Db {
    fn fresh_id(&mut self, tag: &str) -> String {
        self.next += 1;
        let salt = hash_of(&(self.next, tag, std::process::id()));
        format!("{tag}{:016X}{}", salt, self.next)
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
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn now_secs(&self) -> u64 {
        self.clock.unix_secs()
    }
}

/// The in-process fake Graph server. Dropping it stops it.
pub struct FakeGraph {
    server: FakeServer,
    app: App,
}

impl std::fmt::Debug for FakeGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGraph")
            .field("port", &self.server.port())
            .finish()
    }
}

impl FakeGraph {
    /// Starts the fake on a free 127.0.0.1 port, accepting [`TEST_TOKEN`].
    pub fn start() -> io::Result<FakeGraph> {
        FakeGraph::start_on(TEST_TOKEN, 0)
    }

    /// Starts the fake accepting `token` as well as issued tokens.
    pub fn start_with_token(token: &str) -> io::Result<FakeGraph> {
        FakeGraph::start_on(token, 0)
    }

    /// Starts the fake on 127.0.0.1:`port` (0: a free one), accepting `token`.
    pub fn start_on(token: &str, port: u16) -> io::Result<FakeGraph> {
        let mut drives = HashMap::new();
        drives.insert("me".to_string(), Drive::default());
        let st = Arc::new(Mutex::new(Db {
            drives,
            sessions: HashMap::new(),
            monitors: HashMap::new(),
            downloads: HashMap::new(),
            tokens: HashSet::from([token.to_string()]),
            issued: HashMap::new(),
            page_size: 2,
            next: 0,
        }));
        let mut app = None;
        let server = FakeServer::builder("fake-graph").port(port).start(|ctx| {
            let a = App {
                st: st.clone(),
                endpoint: ctx.endpoint.clone(),
                clock: ctx.clock.clone(),
            };
            app = Some(a.clone());
            Router::new().fallback(dispatch).with_state(a)
        })?;
        let app = app.expect("the router was built");
        {
            let now = app.now_secs();
            let mut st = app.lock();
            let id = st.fresh_id("ROOT");
            st.drives
                .get_mut("me")
                .expect("me")
                .items
                .insert(String::new(), folder_node(id, now));
        }
        Ok(FakeGraph { server, app })
    }

    /// The API endpoint, `http://127.0.0.1:PORT/v1.0`.
    pub fn endpoint(&self) -> String {
        format!("{}/v1.0", self.server.endpoint())
    }

    /// The token endpoint of `tenant` (`http://127.0.0.1:PORT/{tenant}/oauth2/v2.0/token`).
    pub fn token_endpoint(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.server.endpoint())
    }

    /// The kit's server: request log, clock, fault knobs.
    pub fn server(&self) -> &FakeServer {
        &self.server
    }

    /// Its clock.
    pub fn clock(&self) -> &FakeClock {
        self.server.clock()
    }

    /// Children pages hold at most `n` items (default 2).
    pub fn set_page_size(&self, n: usize) {
        self.app.lock().page_size = n.max(1);
    }

    /// Creates the drive `/drives/{id}` (empty).
    pub fn create_drive(&self, id: &str) {
        self.add_drive(id.to_string());
    }

    /// Creates the site `/sites/{id}` with its default document library `/sites/{id}/drive`.
    pub fn create_site(&self, id: &str) {
        self.add_drive(format!("site:{id}"));
    }

    fn add_drive(&self, key: String) {
        let now = self.app.now_secs();
        let mut st = self.app.lock();
        if st.drives.contains_key(&key) {
            return;
        }
        let id = st.fresh_id("ROOT");
        let mut d = Drive::default();
        d.items.insert(String::new(), folder_node(id, now));
        st.drives.insert(key, d);
    }

    /// The bytes of the file at `path` in `drive` (`"me"`, a drive id, or `"site:ID"`).
    pub fn object(&self, drive: &str, path: &str) -> Option<Vec<u8>> {
        let st = self.app.lock();
        let n = st.drives.get(drive)?.items.get(path.trim_matches('/'))?;
        (!n.folder).then(|| n.data.to_vec())
    }

    /// Every path in `drive` (folders end with `/`), for tests.
    pub fn paths(&self, drive: &str) -> Vec<String> {
        let st = self.app.lock();
        st.drives
            .get(drive)
            .map(|d| {
                d.items
                    .iter()
                    .filter(|(p, _)| !p.is_empty())
                    .map(|(p, n)| if n.folder { format!("{p}/") } else { p.clone() })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Upload sessions of `path` in `drive` that are open (not committed, deleted or expired).
    pub fn open_sessions(&self, drive: &str, path: &str) -> Vec<String> {
        let now = self.clock().now();
        let st = self.app.lock();
        st.sessions
            .values()
            .filter(|s| s.open && s.expires > now && s.drive == drive && s.path == path)
            .map(|s| format!("session of {} ({} bytes received)", s.path, s.data.len()))
            .collect()
    }

    /// How many bytes the session an upload URL names holds (`None`: unknown or closed).
    pub fn session_received(&self, upload_url: &str) -> Option<u64> {
        let id = token_param(upload_url)?;
        let st = self.app.lock();
        st.sessions
            .get(&id)
            .filter(|s| s.open)
            .map(|s| s.data.len() as u64)
    }

    /// Makes the session an upload URL names expire now. Returns whether it existed.
    pub fn expire_session(&self, upload_url: &str) -> bool {
        let Some(id) = token_param(upload_url) else {
            return false;
        };
        let now = self.clock().now();
        let mut st = self.app.lock();
        match st.sessions.get_mut(&id) {
            Some(s) => {
                s.expires = now;
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

fn token_param(url: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    parse_query(q)
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
}

fn hash_of<T: std::hash::Hash>(t: &T) -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(t)
}

fn folder_node(id: String, now: u64) -> Node {
    Node {
        id,
        folder: true,
        data: Bytes::new(),
        version: 1,
        created: now,
        modified: now,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix seconds.
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn secs_of(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

fn not_found() -> Reply {
    error(404, "itemNotFound", "The resource could not be found.")
}

fn mime_of(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()) {
        Some(e) if e == "txt" => "text/plain",
        Some(e) if e == "json" => "application/json",
        Some(e) if e == "png" => "image/png",
        _ => "application/octet-stream",
    }
}

fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

fn name_of(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, n)| n)
}

// ------------------------------------------------------------------------- dispatch

async fn dispatch(State(app): State<App>, req: FakeRequest) -> Reply {
    let path = req.path.clone();
    if path == "/uploadSession" {
        return upload_session(&app, &req);
    }
    if path == "/download" {
        return download(&app, &req);
    }
    if path == "/monitor" {
        return monitor(&app, &req);
    }
    if let Some(tenant) = path
        .strip_prefix('/')
        .and_then(|p| p.strip_suffix("/oauth2/v2.0/token"))
    {
        return token(&app, tenant, &req);
    }
    let Some(rest) = path.strip_prefix("/v1.0/") else {
        return error(400, "invalidRequest", "no such route");
    };
    if let Some(r) = check_auth(&app, &req) {
        return r;
    }
    let (drive, rest) = if let Some(r) = rest.strip_prefix("me/drive") {
        ("me".to_string(), r)
    } else if let Some(r) = rest.strip_prefix("drives/") {
        let (id, r) = match r.find('/') {
            Some(i) => (&r[..i], &r[i..]),
            None => (r, ""),
        };
        (path_decode(id), r)
    } else if let Some(r) = rest.strip_prefix("sites/") {
        let Some(i) = r.find("/drive") else {
            return error(400, "invalidRequest", "a site route names /drive");
        };
        (
            format!("site:{}", path_decode(&r[..i])),
            &r[i + "/drive".len()..],
        )
    } else {
        return error(400, "invalidRequest", "no such route");
    };
    if !app.lock().drives.contains_key(&drive) {
        return error(404, "itemNotFound", "no such drive");
    }
    // What the route names: an item by path or id, then an action.
    let (target, action) = if rest.is_empty() || rest == "/" {
        return Reply::json(200, &json!({"id": drive, "driveType": "business"}));
    } else if rest == "/root" || rest == "/root:" || rest == "/root:/" {
        (Target::Path(String::new()), "")
    } else if let Some(a) = rest.strip_prefix("/root/") {
        (Target::Path(String::new()), a)
    } else if let Some(r) = rest.strip_prefix("/root:/") {
        let (p, a) = match r.split_once(":/") {
            Some((p, a)) => (p, a),
            None => (r.strip_suffix(':').unwrap_or(r), ""),
        };
        let p = path_decode(p);
        let p = p.trim_matches('/').to_string();
        if p.split('/').any(|s| s.is_empty()) && !p.is_empty() {
            return error(400, "invalidRequest", "empty path segment");
        }
        (Target::Path(p), a)
    } else if let Some(r) = rest.strip_prefix("/items/") {
        let (id, a) = r.split_once('/').unwrap_or((r, ""));
        (Target::Id(path_decode(id)), a)
    } else {
        return error(400, "invalidRequest", "no such route");
    };
    let m = &req.method;
    match (action, m.clone()) {
        ("", Method::GET) => get_item(&app, &drive, &target),
        ("", Method::DELETE) => delete_item(&app, &drive, &target),
        ("", Method::PATCH) => patch_item(&app, &drive, &target, &req),
        ("content", Method::GET) => get_content(&app, &drive, &target),
        ("content", Method::PUT) => put_content(&app, &drive, &target, &req),
        ("children", Method::GET) => children(&app, &drive, &target, &req),
        ("children", Method::POST) => create_folder(&app, &drive, &target, &req),
        ("createUploadSession", Method::POST) => create_session(&app, &drive, &target, &req),
        ("copy", Method::POST) => copy(&app, &drive, &target, &req),
        _ => error(405, "invalidRequest", "method or action not supported"),
    }
}

enum Target {
    Path(String),
    Id(String),
}

fn check_auth(app: &App, req: &FakeRequest) -> Option<Reply> {
    let Some(tok) = req
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return Some(error(
            401,
            "InvalidAuthenticationToken",
            "Access token is empty.",
        ));
    };
    let now = app.clock.now();
    let st = app.lock();
    if st.tokens.contains(tok) || st.issued.get(tok).is_some_and(|exp| *exp > now) {
        None
    } else {
        Some(error(
            401,
            "InvalidAuthenticationToken",
            "Access token has expired or is not yet valid.",
        ))
    }
}

/// The path of a target in `d`.
fn resolve(d: &Drive, t: &Target) -> Option<String> {
    match t {
        Target::Path(p) => d.items.contains_key(p).then(|| p.clone()),
        Target::Id(id) => d
            .items
            .iter()
            .find(|(_, n)| &n.id == id)
            .map(|(p, _)| p.clone()),
    }
}

fn item_json(app: &App, st: &mut Db, drive: &str, path: &str, with_download: bool) -> Value {
    let d = &st.drives[drive];
    let n = d.items[path].clone();
    let parent = d.items.get(parent_of(path)).map(|p| p.id.clone());
    let parent_path = if path.is_empty() {
        None
    } else if parent_of(path).is_empty() {
        Some("/drive/root:".to_string())
    } else {
        Some(format!("/drive/root:/{}", parent_of(path)))
    };
    let name = if path.is_empty() {
        "root"
    } else {
        name_of(path)
    };
    let mut v = json!({
        "id": n.id,
        "name": name,
        "eTag": format!("\"{{{}}},{}\"", n.id, n.version),
        "cTag": format!("\"c:{{{}}},{}\"", n.id, n.version),
        "createdDateTime": rfc3339(n.created),
        "lastModifiedDateTime": rfc3339(n.modified),
        "size": if n.folder { subtree_size(d, path) } else { n.data.len() as u64 },
        "parentReference": {"driveId": drive, "id": parent, "path": parent_path},
    });
    if n.folder {
        let children = d
            .items
            .keys()
            .filter(|p| !p.is_empty() && p.as_str() != path && parent_of(p) == path)
            .count();
        v["folder"] = json!({"childCount": children});
        if path.is_empty() {
            v["root"] = json!({});
        }
    } else {
        v["file"] = json!({"mimeType": mime_of(name)});
        if with_download {
            let tok = st.fresh_id("dl");
            let exp = app.clock.now() + DOWNLOAD_URL_LIFETIME;
            st.downloads
                .insert(tok.clone(), (drive.to_string(), n.id.clone(), exp));
            v["@microsoft.graph.downloadUrl"] = json!(format!(
                "{}/download?token={}",
                app.endpoint,
                pct_encode(&tok)
            ));
        }
    }
    v
}

fn subtree_size(d: &Drive, path: &str) -> u64 {
    let pre = format!("{path}/");
    d.items
        .iter()
        .filter(|(p, n)| !n.folder && (path.is_empty() || p.starts_with(&pre)))
        .map(|(_, n)| n.data.len() as u64)
        .sum()
}

fn get_item(app: &App, drive: &str, t: &Target) -> Reply {
    let mut st = app.lock();
    let Some(path) = resolve(&st.drives[drive], t) else {
        return not_found();
    };
    Reply::json(200, &item_json(app, &mut st, drive, &path, true))
}

fn delete_item(app: &App, drive: &str, t: &Target) -> Reply {
    let mut st = app.lock();
    let d = st.drives.get_mut(drive).expect("drive");
    let Some(path) = resolve(d, t) else {
        return not_found();
    };
    if path.is_empty() {
        return error(403, "accessDenied", "the root cannot be deleted");
    }
    let pre = format!("{path}/");
    d.items.retain(|p, _| p != &path && !p.starts_with(&pre));
    Reply::new(204)
}

/// Creates the folders of `path`'s parents; `Err` when one of them is a file.
fn ensure_parents(st: &mut Db, drive: &str, path: &str, now: u64) -> Result<(), Reply> {
    let mut acc = String::new();
    let segs: Vec<&str> = path.split('/').collect();
    for s in &segs[..segs.len().saturating_sub(1)] {
        if !acc.is_empty() {
            acc.push('/');
        }
        acc.push_str(s);
        match st.drives[drive].items.get(&acc) {
            Some(n) if n.folder => {}
            Some(_) => {
                return Err(error(
                    409,
                    "nameAlreadyExists",
                    "a file has the name of a folder in the path",
                ));
            }
            None => {
                let id = st.fresh_id("F");
                st.drives
                    .get_mut(drive)
                    .expect("drive")
                    .items
                    .insert(acc.clone(), folder_node(id, now));
            }
        }
    }
    Ok(())
}

/// Stores a file at `path` (replacing a file there), creating parent folders.
fn store_file(
    app: &App,
    st: &mut Db,
    drive: &str,
    path: &str,
    data: Bytes,
    replace: bool,
) -> Result<(u16, Value), Reply> {
    let now = app.now_secs();
    ensure_parents(st, drive, path, now)?;
    let existing = st.drives[drive].items.get(path).cloned();
    let (status, node) = match existing {
        Some(n) if n.folder => {
            return Err(error(409, "nameAlreadyExists", "a folder has this name"));
        }
        Some(_) if !replace => {
            return Err(error(
                409,
                "nameAlreadyExists",
                "The specified item name already exists.",
            ));
        }
        Some(n) => (
            200,
            Node {
                data,
                version: n.version + 1,
                modified: now,
                ..n
            },
        ),
        None => {
            let id = st.fresh_id("I");
            (
                201,
                Node {
                    id,
                    folder: false,
                    data,
                    version: 1,
                    created: now,
                    modified: now,
                },
            )
        }
    };
    st.drives
        .get_mut(drive)
        .expect("drive")
        .items
        .insert(path.to_string(), node);
    Ok((status, item_json(app, st, drive, path, false)))
}

fn get_content(app: &App, drive: &str, t: &Target) -> Reply {
    let mut st = app.lock();
    let Some(path) = resolve(&st.drives[drive], t) else {
        return not_found();
    };
    let v = item_json(app, &mut st, drive, &path, true);
    match v["@microsoft.graph.downloadUrl"].as_str() {
        Some(u) => Reply::new(302).header("Location", u),
        None => error(400, "invalidRequest", "a folder has no content"),
    }
}

fn put_content(app: &App, drive: &str, t: &Target, req: &FakeRequest) -> Reply {
    if req.body_cut {
        return error(400, "invalidRequest", "the body was cut");
    }
    if req.body.len() as u64 > SIMPLE_UPLOAD_LIMIT {
        return error(
            413,
            "requestTooLarge",
            "simple uploads take at most 4 MiB; use an upload session",
        );
    }
    let mut st = app.lock();
    let path = match t {
        Target::Path(p) if !p.is_empty() => p.clone(),
        Target::Path(_) => return error(400, "invalidRequest", "the root has no content"),
        Target::Id(_) => match resolve(&st.drives[drive], t) {
            Some(p) => p,
            None => return not_found(),
        },
    };
    match store_file(app, &mut st, drive, &path, req.body.clone(), true) {
        Ok((s, v)) => Reply::json(s, &v),
        Err(r) => r,
    }
}

fn children(app: &App, drive: &str, t: &Target, req: &FakeRequest) -> Reply {
    let mut st = app.lock();
    let Some(path) = resolve(&st.drives[drive], t) else {
        return not_found();
    };
    if !st.drives[drive].items[&path].folder {
        return error(400, "invalidRequest", "not a folder");
    }
    let kids: Vec<String> = st.drives[drive]
        .items
        .keys()
        .filter(|p| !p.is_empty() && p.as_str() != path && parent_of(p) == path)
        .cloned()
        .collect();
    let skip: usize = req
        .param("$skiptoken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let size = st.page_size;
    let page: Vec<Value> = kids
        .iter()
        .skip(skip)
        .take(size)
        .map(|p| item_json(app, &mut st, drive, p, true))
        .collect();
    let mut v = json!({ "value": page });
    if skip + size < kids.len() {
        v["@odata.nextLink"] = json!(format!(
            "{}{}?$skiptoken={}",
            app.endpoint,
            req.path,
            skip + size
        ));
    }
    Reply::json(200, &v)
}

fn create_folder(app: &App, drive: &str, t: &Target, req: &FakeRequest) -> Reply {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let Some(name) = body["name"]
        .as_str()
        .filter(|n| !n.is_empty() && !n.contains('/'))
    else {
        return error(400, "invalidRequest", "a name is required");
    };
    if body.get("folder").is_none() {
        return error(400, "invalidRequest", "only folders are created here");
    }
    let now = app.now_secs();
    let mut st = app.lock();
    let Some(parent) = resolve(&st.drives[drive], t) else {
        return not_found();
    };
    if !st.drives[drive].items[&parent].folder {
        return error(400, "invalidRequest", "the parent is not a folder");
    }
    let path = if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    };
    if st.drives[drive].items.contains_key(&path) {
        return error(
            409,
            "nameAlreadyExists",
            "The specified item name already exists.",
        );
    }
    let id = st.fresh_id("F");
    st.drives
        .get_mut(drive)
        .expect("drive")
        .items
        .insert(path.clone(), folder_node(id, now));
    Reply::json(201, &item_json(app, &mut st, drive, &path, false))
}

fn conflict_replace(req: &FakeRequest) -> bool {
    req.param("@microsoft.graph.conflictBehavior") == Some("replace")
}

fn patch_item(app: &App, drive: &str, t: &Target, req: &FakeRequest) -> Reply {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let now = app.now_secs();
    let mut st = app.lock();
    let Some(from) = resolve(&st.drives[drive], t) else {
        return not_found();
    };
    if from.is_empty() {
        return error(403, "accessDenied", "the root cannot be moved");
    }
    let parent = match body["parentReference"]["id"].as_str() {
        Some(pid) => match resolve(&st.drives[drive], &Target::Id(pid.to_string())) {
            Some(p) if st.drives[drive].items[&p].folder => p,
            Some(_) => return error(400, "invalidRequest", "the parent is not a folder"),
            None => return not_found(),
        },
        None => parent_of(&from).to_string(),
    };
    let name = body["name"]
        .as_str()
        .unwrap_or_else(|| name_of(&from))
        .to_string();
    if name.is_empty() || name.contains('/') {
        return error(400, "invalidRequest", "bad name");
    }
    let to = if parent.is_empty() {
        name
    } else {
        format!("{parent}/{name}")
    };
    if to == from {
        return Reply::json(200, &item_json(app, &mut st, drive, &from, false));
    }
    if to.starts_with(&format!("{from}/")) {
        return error(400, "invalidRequest", "a folder cannot move into itself");
    }
    let d = st.drives.get_mut(drive).expect("drive");
    if d.items.contains_key(&to) {
        // driveitem-move documents no conflict behaviour: an existing name is a conflict.
        return error(
            409,
            "nameAlreadyExists",
            "The specified item name already exists.",
        );
    }
    let pre = format!("{from}/");
    let moved: Vec<String> = d
        .items
        .keys()
        .filter(|p| **p == from || p.starts_with(&pre))
        .cloned()
        .collect();
    for p in moved {
        let mut n = d.items.remove(&p).expect("listed");
        let np = format!("{to}{}", &p[from.len()..]);
        if p == from {
            n.modified = now;
        }
        d.items.insert(np, n);
    }
    Reply::json(200, &item_json(app, &mut st, drive, &to, false))
}

fn copy(app: &App, drive: &str, t: &Target, req: &FakeRequest) -> Reply {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let mut st = app.lock();
    let Some(from) = resolve(&st.drives[drive], t) else {
        return not_found();
    };
    let src = st.drives[drive].items[&from].clone();
    if src.folder {
        return error(400, "invalidRequest", "the fake copies files only");
    }
    let parent = match body["parentReference"]["id"].as_str() {
        Some(pid) => match resolve(&st.drives[drive], &Target::Id(pid.to_string())) {
            Some(p) => p,
            None => return not_found(),
        },
        None => parent_of(&from).to_string(),
    };
    let name = body["name"].as_str().unwrap_or_else(|| name_of(&from));
    let dest = if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    };
    if !conflict_replace(req) && st.drives[drive].items.contains_key(&dest) {
        return error(
            409,
            "nameAlreadyExists",
            "The specified item name already exists.",
        );
    }
    let id = st.fresh_id("mon");
    st.monitors.insert(
        id.clone(),
        Monitor {
            polls: 0,
            drive: drive.to_string(),
            dest,
            data: src.data.clone(),
            result: None,
        },
    );
    Reply::new(202).header(
        "Location",
        format!("{}/monitor?token={}", app.endpoint, pct_encode(&id)),
    )
}

fn monitor(app: &App, req: &FakeRequest) -> Reply {
    let Some(id) = req.param("token").map(str::to_string) else {
        return not_found();
    };
    let mut st = app.lock();
    let Some(m) = st.monitors.get_mut(&id) else {
        return not_found();
    };
    m.polls += 1;
    if m.polls == 1 {
        return Reply::json(
            202,
            &json!({"operation": "itemCopy", "status": "inProgress", "percentageComplete": 50.0}),
        );
    }
    if let Some(rid) = m.result.clone() {
        return Reply::json(
            200,
            &json!({"operation": "itemCopy", "status": "completed", "percentageComplete": 100.0, "resourceId": rid}),
        );
    }
    let (drive, dest, data) = (m.drive.clone(), m.dest.clone(), m.data.clone());
    match store_file(app, &mut st, &drive, &dest, data, true) {
        Ok((_, v)) => {
            let rid = v["id"].as_str().unwrap_or("").to_string();
            if let Some(m) = st.monitors.get_mut(&id) {
                m.result = Some(rid.clone());
            }
            Reply::json(
                200,
                &json!({"operation": "itemCopy", "status": "completed", "percentageComplete": 100.0, "resourceId": rid}),
            )
        }
        Err(_) => Reply::json(
            200,
            &json!({"operation": "itemCopy", "status": "failed", "error": {"code": "nameAlreadyExists", "message": "the destination is a folder"}}),
        ),
    }
}

fn download(app: &App, req: &FakeRequest) -> Reply {
    let now = app.clock.now();
    let st = app.lock();
    let Some((drive, id, exp)) = req
        .param("token")
        .and_then(|t| st.downloads.get(t))
        .cloned()
    else {
        return error(401, "unauthenticated", "bad download URL");
    };
    if exp <= now {
        return error(401, "unauthenticated", "the download URL expired");
    }
    let Some(d) = st.drives.get(&drive) else {
        return not_found();
    };
    let Some(n) = d.items.values().find(|n| n.id == id && !n.folder) else {
        return not_found();
    };
    let len = n.data.len();
    Blob::new(n.data.clone())
        .serve_range(req.header("range"), || {
            Reply::new(416).header("Content-Range", format!("bytes */{len}"))
        })
        .header("ETag", format!("\"{{{}}},{}\"", n.id, n.version))
        .header("Content-Type", "application/octet-stream")
}

fn token(app: &App, tenant: &str, req: &FakeRequest) -> Reply {
    if req.method != Method::POST {
        return error(405, "invalidRequest", "POST only");
    }
    let form: HashMap<String, String> = parse_query(std::str::from_utf8(&req.body).unwrap_or(""))
        .into_iter()
        .collect();
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let oauth = |status: u16, e: &str, d: &str| {
        Reply::json(status, &json!({"error": e, "error_description": d}))
    };
    if tenant != TEST_TENANT {
        return oauth(400, "invalid_request", "AADSTS90002: Tenant not found.");
    }
    if get("grant_type") != "client_credentials" {
        return oauth(400, "unsupported_grant_type", "only client_credentials");
    }
    if get("scope") != GRAPH_SCOPE {
        return oauth(400, "invalid_scope", "AADSTS70011: the scope is not valid.");
    }
    if get("client_id") != TEST_CLIENT_ID {
        return oauth(
            400,
            "unauthorized_client",
            "AADSTS700016: application not found.",
        );
    }
    if get("client_secret") != TEST_CLIENT_SECRET {
        return oauth(
            401,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    let mut st = app.lock();
    let tok = format!("eyJ0.{}", st.fresh_id("issued"));
    st.issued
        .insert(tok.clone(), app.clock.now() + Duration::from_secs(3600));
    Reply::json(
        200,
        &json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": tok}),
    )
}

// ------------------------------------------------------------------------- upload sessions

fn create_session(app: &App, drive: &str, t: &Target, req: &FakeRequest) -> Reply {
    let Target::Path(path) = t else {
        return error(400, "invalidRequest", "the fake starts sessions by path");
    };
    if path.is_empty() {
        return error(400, "invalidRequest", "a session names a file");
    }
    let body: Value = if req.body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(_) => return error(400, "invalidRequest", "the body is not JSON"),
        }
    };
    let behavior = body["item"]["@microsoft.graph.conflictBehavior"]
        .as_str()
        .unwrap_or("fail");
    if !matches!(behavior, "fail" | "replace" | "rename") {
        return error(400, "invalidRequest", "bad conflictBehavior");
    }
    let total = body["item"]["fileSize"].as_u64();
    let expires = app.clock.now() + SESSION_LIFETIME;
    let mut st = app.lock();
    if let Some(n) = st.drives[drive].items.get(path)
        && n.folder
    {
        return error(409, "nameAlreadyExists", "a folder has this name");
    }
    let id = st.fresh_id("up");
    st.sessions.insert(
        id.clone(),
        UploadSession {
            drive: drive.to_string(),
            path: path.clone(),
            total,
            data: Vec::new(),
            expires,
            replace: behavior == "replace",
            open: true,
        },
    );
    Reply::json(
        200,
        &json!({
            "uploadUrl": format!("{}/uploadSession?token={}", app.endpoint, pct_encode(&id)),
            "expirationDateTime": rfc3339(secs_of(expires)),
            "nextExpectedRanges": ["0-"],
        }),
    )
}

fn session_status(s: &UploadSession) -> Value {
    json!({
        "expirationDateTime": rfc3339(secs_of(s.expires)),
        "nextExpectedRanges": [format!("{}-", s.data.len())],
    })
}

fn upload_session(app: &App, req: &FakeRequest) -> Reply {
    if req.header("authorization").is_some() {
        return error(
            401,
            "unauthenticated",
            "the upload URL is pre-authenticated: do not send Authorization",
        );
    }
    let Some(id) = req.param("token").map(str::to_string) else {
        return not_found();
    };
    let now = app.clock.now();
    let mut st = app.lock();
    let Some(s) = st.sessions.get_mut(&id) else {
        return not_found();
    };
    if !s.open || s.expires <= now {
        return error(404, "itemNotFound", "The upload session was not found.");
    }
    match req.method {
        Method::GET => Reply::json(200, &session_status(s)),
        Method::DELETE => {
            s.open = false;
            s.data = Vec::new();
            Reply::new(204)
        }
        Method::PUT => fragment(app, &mut st, &id, req),
        _ => error(405, "invalidRequest", "GET, PUT or DELETE"),
    }
}

fn fragment(app: &App, st: &mut Db, id: &str, req: &FakeRequest) -> Reply {
    let now = app.clock.now();
    let s = st.sessions.get_mut(id).expect("checked");
    if req.body_cut {
        // Graph keeps nothing of a fragment that did not arrive whole.
        return error(400, "invalidRequest", "the fragment was cut short");
    }
    let Some(cr) = req.header("content-range") else {
        return error(400, "invalidRequest", "Content-Range is required");
    };
    let Ok((Some((start, end)), Some(total))) = parse_content_range(cr.trim()) else {
        return error(400, "invalidRange", "Content-Range must be bytes S-E/TOTAL");
    };
    let len = req.body.len() as u64;
    if end < start || end - start + 1 != len {
        return error(400, "invalidRange", "Content-Range does not match the body");
    }
    if len > MAX_FRAGMENT {
        return error(413, "requestTooLarge", "a fragment must be under 60 MiB");
    }
    if end >= total {
        return error(400, "invalidRange", "the range runs past the total");
    }
    match s.total {
        Some(t) if t != total => {
            return error(400, "invalidRange", "the total changed between fragments");
        }
        _ => s.total = Some(total),
    }
    let have = s.data.len() as u64;
    if start < have {
        return error(
            416,
            "invalidRange",
            "The uploaded fragment overlaps with data that has already been received.",
        );
    }
    if start > have {
        return error(
            400,
            "invalidRange",
            "fragments must be uploaded in order: this one starts after the expected range",
        );
    }
    let last = end + 1 == total;
    if !last && !len.is_multiple_of(FRAGMENT_ALIGN) {
        return error(
            400,
            "invalidRequest",
            "a fragment that does not end the file must be a multiple of 320 KiB",
        );
    }
    s.data.extend_from_slice(&req.body);
    s.expires = now + SESSION_LIFETIME;
    if !last {
        return Reply::json(202, &session_status(s));
    }
    let (drive, path, replace) = (s.drive.clone(), s.path.clone(), s.replace);
    let data = Bytes::from(std::mem::take(&mut s.data));
    match store_file(app, st, &drive, &path, data.clone(), replace) {
        Ok((status, v)) => {
            if let Some(s) = st.sessions.get_mut(id) {
                s.open = false;
            }
            Reply::json(status, &v)
        }
        Err(r) => {
            // The session survives (the bytes are kept) for a commit under another name.
            if let Some(s) = st.sessions.get_mut(id) {
                s.data = data.to_vec();
            }
            r
        }
    }
}

/// Serves this fake for the `files-fake` binary on `port` (0: a free one): the running fake,
/// kept alive by the caller, and the JSON line to print (`provider`, `endpoint`, `env`, `url`).
pub fn serve_cli(port: u16) -> std::io::Result<(Box<dyn std::any::Any>, serde_json::Value)> {
    let fake = FakeGraph::start_on(TEST_TOKEN, port)?;
    let endpoint = fake.endpoint();
    let line = json!({
        "provider": "onedrive",
        "endpoint": endpoint,
        "env": {
            "MS_GRAPH_ENDPOINT": endpoint,
            "MS_GRAPH_ACCESS_TOKEN": TEST_TOKEN,
        },
        "url": "onedrive://me/",
    });
    Ok((Box::new(fake), line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_line_points_at_the_fake() {
        let (fake, line) = serve_cli(0).unwrap();
        let fake = fake.downcast::<FakeGraph>().unwrap();
        assert_eq!(line["provider"], "onedrive");
        assert_eq!(line["endpoint"], fake.endpoint());
        assert_eq!(line["env"]["MS_GRAPH_ENDPOINT"], fake.endpoint());
        assert_eq!(line["env"]["MS_GRAPH_ACCESS_TOKEN"], TEST_TOKEN);
        assert_eq!(line["url"], "onedrive://me/");
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_300_000), "2026-11-21T22:26:40Z");
    }
}
