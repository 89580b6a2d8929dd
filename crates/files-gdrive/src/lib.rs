//! # files-gdrive
//!
//! The Google Drive adapter of the `files` storage SDK, over the Drive v3 REST API with
//! `reqwest`.
//!
//! ```no_run
//! # async fn demo() -> files_core::Result<()> {
//! use files_core::{Body, Files};
//! use files_gdrive::GDriveAdapter;
//!
//! let drive = GDriveAdapter::builder()
//!     .access_token("ya29....")
//!     .root_folder("1AbCdEf...") // default: "root", the user's My Drive
//!     .build()?;
//! let files = Files::new(drive);
//! files.upload("backups/db.tar", Body::from_path("db.tar").await?).await?;
//! # Ok(()) }
//! ```
//!
//! ## Keys and file ids
//!
//! Drive names files by id; a key is a `/`-separated path under the root folder. Each segment
//! is resolved with `files.list` (`name = '…' and '<parent>' in parents and trashed = false`);
//! folders (`application/vnd.google-apps.folder`) are created on upload. Drive allows several
//! files of one name in one folder: **the oldest (smallest `createdTime`, then smallest id)
//! wins** for every read, write, copy and rename, listings show the key once, and `delete`
//! removes every file of that name. A file and a folder of one name coexist (like `a` and
//! `a/b` in an object store).
//!
//! ## Uploads and resume tokens
//!
//! Small bodies go in one `uploadType=multipart` request; larger ones, and resumable uploads,
//! run in a Drive resumable session (`uploadType=resumable`) started with `POST` (new file) or
//! `PATCH` of the existing file id (so an overwrite never makes a duplicate). The session
//! protocol (256 KiB-aligned chunks, `308`/`Range` status, `DELETE` to cancel, `404`/`410` =
//! expired) is shared with Cloud Storage: [`files_gcs::resumable`]. The token's session is
//! the **session URL, a bearer credential**: it is marked sensitive (redacted in `Debug`,
//! never in an error), a token whose session URL is not on the configured endpoint is refused,
//! and tokens must be stored like secrets.
//!
//! ## Delete
//!
//! `delete` deletes **permanently** (`DELETE files/{id}`, skipping the trash) by default;
//! [`GDriveBuilder::trash_on_delete`] moves files to the trash instead.

#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use files_core::{
    Adapter, ByteRange, ByteStream, Capabilities, Error, ErrorKind, GetResponse, ListPage,
    ListRequest, ObjectMeta, OffsetState, OffsetUpload, PartRules, PutOptions, Result,
    Resumability, Session, UploadFamily, UploadSpec,
};
use files_gcs::credentials::{ServiceAccountKey, TokenSource};
use files_gcs::resumable::{
    self, CancelOutcome, ResumableProtocol, SessionStatus, SessionUrl, error_from_status, transport,
};
use futures::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, RANGE};
use serde_json::{Map, Value, json};

/// Google's endpoint of the Drive API (`/drive/v3/...` and `/upload/drive/v3/...`).
pub const DEFAULT_ENDPOINT: &str = "https://www.googleapis.com";
/// The OAuth 2.0 scope service-account and application default credentials ask for: full
/// access to the user's (or the service account's) Drive.
pub const DRIVE_SCOPE: &str = "https://www.googleapis.com/auth/drive";
/// The MIME type Drive gives folders.
pub const FOLDER_MIME: &str = "application/vnd.google-apps.folder";
/// The environment variable holding the OAuth 2.0 access token of URL-opened adapters.
pub const ACCESS_TOKEN_ENV: &str = "GDRIVE_ACCESS_TOKEN";
/// The environment variable overriding the endpoint of URL-opened adapters.
pub const ENDPOINT_ENV: &str = "GDRIVE_ENDPOINT";

/// Bodies up to this size go in one multipart request; larger ones in a resumable session.
const SMALL: u64 = 5 * 1024 * 1024;
const FILE_FIELDS: &str =
    "id,name,mimeType,size,md5Checksum,modifiedTime,createdTime,appProperties,parents,trashed";

/// A folder tree of Google Drive, addressed by paths under a root folder id.
#[derive(Clone)]
pub struct GDriveAdapter {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: url::Url,
    root: String,
    auth: TokenSource,
    protocol: ResumableProtocol,
    trash: bool,
}

impl fmt::Debug for GDriveAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GDriveAdapter")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("root", &self.inner.root)
            .field("auth", &self.inner.auth)
            .field("trash_on_delete", &self.inner.trash)
            .finish()
    }
}

/// Configures a [`GDriveAdapter`].
#[derive(Default)]
pub struct GDriveBuilder {
    auth: AuthChoice,
    subject: Option<String>,
    root: Option<String>,
    endpoint: Option<String>,
    trash: bool,
}

#[derive(Default)]
enum AuthChoice {
    /// An access token from [`ACCESS_TOKEN_ENV`] (URL-opened adapters set it), else
    /// application default credentials.
    #[default]
    Default,
    Token(String),
    ServiceAccount(ServiceAccountKey),
    ApplicationDefault,
    Source(TokenSource),
}

impl fmt::Debug for GDriveBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GDriveBuilder")
            .field("root", &self.root)
            .field("endpoint", &self.endpoint)
            .field("trash_on_delete", &self.trash)
            .finish_non_exhaustive()
    }
}

impl GDriveBuilder {
    /// Authorizes with a fixed OAuth 2.0 access token (scope `drive` or `drive.file`); it is
    /// not refreshed.
    pub fn access_token(mut self, token: impl Into<String>) -> Self {
        self.auth = AuthChoice::Token(token.into());
        self
    }
    /// Authorizes as a service account, from its JSON key (the file's content): access tokens
    /// for [`DRIVE_SCOPE`] are obtained with the OAuth 2.0 JWT-bearer flow at the key's
    /// `token_uri`, cached, and refreshed before they expire ([`files_gcs::credentials`]).
    /// The service account sees its own files and those shared with it; see
    /// [`subject`](Self::subject) to act for a Workspace user.
    pub fn service_account_json(mut self, json: &str) -> Result<Self> {
        self.auth = AuthChoice::ServiceAccount(ServiceAccountKey::from_json(json)?);
        Ok(self)
    }
    /// As [`service_account_json`](Self::service_account_json), from the key file at `path`.
    pub fn service_account_file(mut self, path: impl AsRef<std::path::Path>) -> Result<Self> {
        self.auth = AuthChoice::ServiceAccount(ServiceAccountKey::from_file(path)?);
        Ok(self)
    }
    /// With a service account: act for the Google Workspace user `email` (domain-wide
    /// delegation, granted by the domain's administrator for [`DRIVE_SCOPE`]).
    pub fn subject(mut self, email: impl Into<String>) -> Self {
        self.subject = Some(email.into());
        self
    }
    /// Application default credentials for [`DRIVE_SCOPE`]: a service-account key file named
    /// by `GOOGLE_APPLICATION_CREDENTIALS` (JWT-bearer flow); other credentials (gcloud's user
    /// credentials, the metadata server) need the `google-auth` feature (on by default).
    pub fn application_default(mut self) -> Self {
        self.auth = AuthChoice::ApplicationDefault;
        self
    }
    /// Authorizes with a [`TokenSource`] of files-gcs (it must grant a Drive scope).
    pub fn token_source(mut self, source: TokenSource) -> Self {
        self.auth = AuthChoice::Source(source);
        self
    }
    /// The folder id keys are resolved under (default `root`, the user's My Drive).
    pub fn root_folder(mut self, id: impl Into<String>) -> Self {
        self.root = Some(id.into());
        self
    }
    /// The API endpoint (default `https://www.googleapis.com`), e.g. a test server.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }
    /// Moves deleted files to the trash instead of deleting them permanently (the default).
    pub fn trash_on_delete(mut self, on: bool) -> Self {
        self.trash = on;
        self
    }

    /// Builds the adapter. Makes no network call.
    pub fn build(self) -> Result<GDriveAdapter> {
        let auth = match self.auth {
            AuthChoice::Token(t) => TokenSource::access_token(&t)?,
            AuthChoice::ServiceAccount(key) => {
                let key = match self.subject {
                    Some(s) => key.with_subject(s),
                    None => key,
                };
                TokenSource::service_account(key, &[DRIVE_SCOPE])?
            }
            AuthChoice::Source(source) => source,
            AuthChoice::Default | AuthChoice::ApplicationDefault => {
                if self.subject.is_some() {
                    return Err(Error::invalid_input(
                        "`subject` needs a service-account key (service_account_json/file)",
                    ));
                }
                TokenSource::application_default(&[DRIVE_SCOPE]).map_err(|e| {
                    Error::new(
                        e.kind(),
                        format!(
                            "a Google Drive adapter needs an access token, a service-account key or application default credentials: {}",
                            e.message()
                        ),
                    )
                })?
            }
        };
        let endpoint_text = self
            .endpoint
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let endpoint = url::Url::parse(&endpoint_text)
            .map_err(|e| Error::invalid_input(format!("the endpoint is not a URL: {e}")))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.query().is_some() {
            return Err(Error::invalid_input(
                "the endpoint must be an http(s) URL without a query",
            ));
        }
        let root = self.root.unwrap_or_else(|| "root".to_string());
        if root.is_empty() || root.contains(['\'', '\\', '/']) {
            return Err(Error::invalid_input("the root folder id is not a Drive id"));
        }
        let http = resumable::http_client(None)?;
        Ok(GDriveAdapter {
            inner: Arc::new(Inner {
                endpoint,
                root,
                auth,
                protocol: ResumableProtocol::new(http),
                trash: self.trash,
            }),
        })
    }
}

/// Escapes a string for a single-quoted literal of a Drive query (`\` and `'`).
pub fn escape_query(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// A file resource and the folder it was found in.
struct Found {
    parent: String,
    file: Value,
}

impl GDriveAdapter {
    /// A builder.
    pub fn builder() -> GDriveBuilder {
        GDriveBuilder::default()
    }

    /// The root folder id.
    pub fn root_folder(&self) -> &str {
        &self.inner.root
    }

    /// The adapter for `gdrive://ROOT/key` (`gdrive://root/...` for My Drive; the key is
    /// ignored). The token comes from [`ACCESS_TOKEN_ENV`], the endpoint from [`ENDPOINT_ENV`].
    pub fn from_url(url: &str) -> Result<GDriveAdapter> {
        let parsed =
            url::Url::parse(url).map_err(|e| Error::invalid_input(format!("not a URL: {e}")))?;
        adapter_for_url(&parsed)
    }

    fn base(&self) -> String {
        let s = self.inner.endpoint.as_str();
        if s.ends_with('/') {
            s.to_string()
        } else {
            format!("{s}/")
        }
    }

    fn api(&self, path: &str) -> String {
        format!("{}drive/v3/{path}", self.base())
    }

    fn upload_url(&self, path: &str) -> String {
        format!("{}upload/drive/v3/{path}", self.base())
    }

    fn session_path_prefix(&self) -> String {
        let ep = self.inner.endpoint.path().trim_end_matches('/');
        format!("{ep}/upload/drive/v3/files")
    }

    fn http(&self) -> &reqwest::Client {
        self.inner.protocol.http()
    }

    async fn send(&self, req: reqwest::RequestBuilder, what: &str) -> Result<reqwest::Response> {
        let resp = req
            .headers(self.inner.auth.headers().await?)
            .send()
            .await
            .map_err(transport)?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        let e = error_from_status(status, &body, what);
        // Drive answers rate limits with 403 and a reason.
        let text = String::from_utf8_lossy(&body);
        if status.as_u16() == 403 && text.contains("RateLimitExceeded") {
            return Err(Error::transient(e.to_string()));
        }
        Err(e)
    }

    async fn json(&self, req: reqwest::RequestBuilder, what: &str) -> Result<Value> {
        self.send(req, what).await?.json().await.map_err(transport)
    }

    /// Every file matching `q` (all pages).
    async fn query(&self, q: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = url::Url::parse(&self.api("files"))
                .map_err(|e| Error::invalid_input(e.to_string()))?;
            {
                let mut p = url.query_pairs_mut();
                p.append_pair("q", q);
                p.append_pair("pageSize", "1000");
                p.append_pair("fields", &format!("nextPageToken,files({FILE_FIELDS})"));
                p.append_pair("supportsAllDrives", "true");
                p.append_pair("includeItemsFromAllDrives", "true");
                if let Some(t) = &token {
                    p.append_pair("pageToken", t);
                }
            }
            let v = self.json(self.http().get(url), "list files").await?;
            if let Some(Value::Array(files)) = v.get("files") {
                out.extend(files.iter().cloned());
            }
            token = v
                .get("nextPageToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// The files (or folders) named `name` in `parent`, oldest first (the first one wins).
    async fn named(&self, parent: &str, name: &str, folder: bool) -> Result<Vec<Value>> {
        let op = if folder { "=" } else { "!=" };
        let q = format!(
            "name = '{}' and '{}' in parents and trashed = false and mimeType {op} '{FOLDER_MIME}'",
            escape_query(name),
            escape_query(parent)
        );
        let mut files = self.query(&q).await?;
        files.sort_by(oldest_first);
        Ok(files)
    }

    /// Resolves folder segments to a folder id; with `create`, missing folders are created.
    async fn folder(&self, segments: &[&str], create: bool) -> Result<Option<String>> {
        let mut parent = self.inner.root.clone();
        for seg in segments {
            let found = self.named(&parent, seg, true).await?;
            parent = match found.first().and_then(id_of) {
                Some(id) => id,
                None if create => self.create_folder(&parent, seg).await?,
                None => return Ok(None),
            };
        }
        Ok(Some(parent))
    }

    /// Creates a folder, then settles a race with a concurrent creator: the oldest folder of
    /// that name wins and ours, if it lost, is removed (it is still empty: nobody else
    /// resolves to a folder that is not the oldest).
    async fn create_folder(&self, parent: &str, name: &str) -> Result<String> {
        let req = self
            .http()
            .post(format!("{}?fields=id", self.api("files")))
            .json(&json!({ "name": name, "parents": [parent], "mimeType": FOLDER_MIME }));
        let v = self.json(req, "create a folder").await?;
        let mine = id_of(&v).ok_or_else(|| Error::new(ErrorKind::Other, "a folder without id"))?;
        let all = self.named(parent, name, true).await?;
        match all.first().and_then(id_of) {
            Some(winner) if winner != mine => {
                let _ = self.remove(&mine, false).await;
                Ok(winner)
            }
            _ => Ok(mine),
        }
    }

    /// The file a key names (the oldest of duplicates).
    async fn find(&self, key: &str) -> Result<Option<Found>> {
        let (dirs, name) = split_key(key);
        let Some(parent) = self.folder(&dirs, false).await? else {
            return Ok(None);
        };
        let files = self.named(&parent, name, false).await?;
        Ok(files.into_iter().next().map(|file| Found { parent, file }))
    }

    async fn find_or_not_found(&self, key: &str, op: &'static str) -> Result<Found> {
        self.find(key)
            .await
            .map_err(|e| e.with_operation(op).with_key(key))?
            .ok_or_else(|| {
                Error::new(ErrorKind::NotFound, format!("no file at `{key}`"))
                    .with_operation(op)
                    .with_key(key)
            })
    }

    /// Deletes (or trashes) one file id; an id already gone is fine.
    async fn remove(&self, id: &str, trash: bool) -> Result<()> {
        let url = format!(
            "{}?supportsAllDrives=true",
            self.api(&format!("files/{}", enc(id)))
        );
        let req = if trash {
            self.http().patch(url).json(&json!({ "trashed": true }))
        } else {
            self.http().delete(url)
        };
        match self.send(req, "delete a file").await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The resource of a new file or of an update of `existing`.
    fn resource(
        &self,
        name: Option<&str>,
        parent: Option<&str>,
        options: &PutOptions,
        existing: Option<&Value>,
    ) -> Value {
        let mut m = Map::new();
        if let Some(n) = name {
            m.insert("name".into(), json!(n));
        }
        if let Some(p) = parent {
            m.insert("parents".into(), json!([p]));
        }
        if let Some(ct) = &options.content_type {
            m.insert("mimeType".into(), json!(ct));
        }
        let mut props = Map::new();
        if let Some(Value::Object(old)) = existing.and_then(|f| f.get("appProperties")) {
            for k in old.keys() {
                props.insert(k.clone(), Value::Null);
            }
        }
        for (k, v) in &options.metadata {
            props.insert(k.clone(), json!(v));
        }
        if !props.is_empty() {
            m.insert("appProperties".into(), Value::Object(props));
        }
        Value::Object(m)
    }

    /// Where an upload to `key` goes: the parent folder (created) and the existing file.
    async fn target_of(&self, key: &str) -> Result<(String, Option<Value>)> {
        let (dirs, name) = split_key(key);
        let parent = self
            .folder(&dirs, true)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::Other, "a folder could not be created"))?;
        let existing = self.named(&parent, name, false).await?.into_iter().next();
        Ok((parent, existing))
    }

    async fn put_small(&self, key: &str, data: Bytes, options: &PutOptions) -> Result<ObjectMeta> {
        let (parent, existing) = self.target_of(key).await?;
        let (_, name) = split_key(key);
        let boundary = format!("files-gdrive-{:032x}", random_u128());
        let (url, meta, method) = match &existing {
            Some(f) => (
                self.upload_url(&format!("files/{}", enc(&id_of(f).unwrap_or_default()))),
                self.resource(None, None, options, Some(f)),
                reqwest::Method::PATCH,
            ),
            None => (
                self.upload_url("files"),
                self.resource(Some(name), Some(&parent), options, None),
                reqwest::Method::POST,
            ),
        };
        let mut body = BytesMut::with_capacity(data.len() + 512);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n--{boundary}\r\nContent-Type: {}\r\n\r\n",
                options.content_type.as_deref().unwrap_or("application/octet-stream")
            )
            .as_bytes(),
        );
        body.extend_from_slice(&data);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let body = body.freeze();
        let req = self
            .http()
            .request(
                method,
                format!("{url}?uploadType=multipart&supportsAllDrives=true&fields={FILE_FIELDS}"),
            )
            .header(
                CONTENT_TYPE,
                format!("multipart/related; boundary={boundary}"),
            )
            .header(CONTENT_LENGTH, body.len())
            .body(body);
        let v = self.json(req, "upload the file").await?;
        Ok(meta_from_file(key, &v))
    }

    async fn start_session(
        &self,
        key: &str,
        total: Option<u64>,
        options: &PutOptions,
    ) -> Result<SessionUrl> {
        let (parent, existing) = self.target_of(key).await?;
        let (_, name) = split_key(key);
        let q = format!("?uploadType=resumable&supportsAllDrives=true&fields={FILE_FIELDS}");
        let mut req = match &existing {
            Some(f) => self
                .http()
                .patch(format!(
                    "{}{q}",
                    self.upload_url(&format!("files/{}", enc(&id_of(f).unwrap_or_default())))
                ))
                .json(&self.resource(None, None, options, Some(f))),
            None => self
                .http()
                .post(format!("{}{q}", self.upload_url("files")))
                .json(&self.resource(Some(name), Some(&parent), options, None)),
        };
        if let Some(t) = total {
            req = req.header("X-Upload-Content-Length", t);
        }
        if let Some(ct) = &options.content_type {
            req = req.header("X-Upload-Content-Type", ct);
        }
        self.inner
            .protocol
            .start(req.headers(self.inner.auth.headers().await?))
            .await
    }

    /// Streams a body of unknown or large length into a session, in aligned chunks (`/*`), the
    /// last one with the total.
    async fn put_streamed(
        &self,
        key: &str,
        mut body: ByteStream,
        options: &PutOptions,
    ) -> Result<ObjectMeta> {
        let chunk = resumable::chunk_rules().default_part_size as usize;
        let mut buf = BytesMut::new();
        let mut offset = 0u64;
        let mut done = false;
        let mut session: Option<SessionUrl> = None;
        let auth_headers = self.inner.auth.headers().await?;
        let auth = Some(&auth_headers);
        loop {
            while !done && buf.len() < chunk + 1 {
                match body.next().await {
                    Some(Ok(b)) => buf.extend_from_slice(&b),
                    Some(Err(e)) => {
                        if let Some(s) = &session {
                            let _ = self.inner.protocol.cancel(s, auth).await;
                        }
                        return Err(e);
                    }
                    None => done = true,
                }
            }
            let session = match &session {
                Some(s) => s.clone(),
                None if done && buf.len() as u64 <= SMALL => {
                    return self.put_small(key, buf.freeze(), options).await;
                }
                None => {
                    let s = self.start_session(key, None, options).await?;
                    session = Some(s.clone());
                    s
                }
            };
            let (data, total) = if done && buf.len() <= chunk {
                let data = buf.split().freeze();
                let t = offset + data.len() as u64;
                (data, Some(t))
            } else {
                (buf.split_to(chunk).freeze(), None)
            };
            let len = data.len() as u64;
            match self
                .inner
                .protocol
                .put_chunk(&session, auth, offset, data, total)
                .await?
            {
                SessionStatus::Complete(body) => return meta_from_body(key, &body, None),
                SessionStatus::Persisted(n) if n == offset + len => offset = n,
                SessionStatus::Persisted(n) => {
                    return Err(Error::transient(format!(
                        "Drive persisted {n} bytes of a streamed upload, expected {}",
                        offset + len
                    )));
                }
            }
        }
    }

    /// The session URL of a token's session: refused when the session is past its lifetime,
    /// not on the configured endpoint, or not started for `spec.key` (the key recorded at
    /// `begin`), before any request with it.
    fn session_url(&self, spec: &UploadSpec, session: &Session) -> Result<SessionUrl> {
        if let Some(exp) = session.expires_at
            && exp <= now_secs()
        {
            return Err(Error::new(
                ErrorKind::SessionExpired,
                "session expired: the resumable upload session is older than a week; the upload must start again",
            ));
        }
        self.check_session(session)?;
        session.check_bound_to(&spec.key)?;
        Ok(SessionUrl::new(session.id.clone()))
    }

    /// Every listed entry under `dir_key` (a key prefix ending in `/` or empty) whose name
    /// starts with `stem`: files as objects, folders as prefixes (with `/`) or walked.
    async fn walk(
        &self,
        folder: String,
        dir_key: String,
        stem: &str,
        delimited: bool,
    ) -> Result<Vec<(String, Option<ObjectMeta>)>> {
        let mut out = Vec::new();
        let mut stack = vec![(folder, dir_key, stem.to_string())];
        while let Some((id, dir, stem)) = stack.pop() {
            let q = format!("'{}' in parents and trashed = false", escape_query(&id));
            let mut children = self.query(&q).await?;
            children.sort_by(oldest_first);
            let mut seen_files = std::collections::HashSet::new();
            let mut seen_dirs = std::collections::HashSet::new();
            for c in &children {
                let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
                if name.is_empty() || !name.starts_with(stem.as_str()) {
                    continue;
                }
                let key = format!("{dir}{name}");
                if is_folder(c) {
                    if !seen_dirs.insert(name.to_string()) {
                        continue; // a shadowed duplicate folder
                    }
                    if delimited {
                        out.push((format!("{key}/"), None));
                    } else if let Some(cid) = id_of(c) {
                        stack.push((cid, format!("{key}/"), String::new()));
                    }
                } else if seen_files.insert(name.to_string()) {
                    out.push((key.clone(), Some(meta_from_file(&key, c))));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

fn oldest_first(a: &Value, b: &Value) -> std::cmp::Ordering {
    let t = |v: &Value| {
        v.get("createdTime")
            .and_then(Value::as_str)
            .and_then(parse_rfc3339)
            .unwrap_or(UNIX_EPOCH)
    };
    t(a).cmp(&t(b)).then_with(|| id_of(a).cmp(&id_of(b)))
}

fn id_of(v: &Value) -> Option<String> {
    v.get("id").and_then(Value::as_str).map(str::to_string)
}

fn is_folder(v: &Value) -> bool {
    v.get("mimeType").and_then(Value::as_str) == Some(FOLDER_MIME)
}

fn split_key(key: &str) -> (Vec<&str>, &str) {
    let mut segs: Vec<&str> = key.split('/').collect();
    let name = segs.pop().unwrap_or_default();
    (segs, name)
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn meta_from_body(key: &str, body: &[u8], total: Option<u64>) -> Result<ObjectMeta> {
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        Error::new(
            ErrorKind::Other,
            "Drive answered an unreadable file resource",
        )
    })?;
    let mut meta = meta_from_file(key, &v);
    if v.get("size").is_none()
        && let Some(t) = total
    {
        meta.size = t;
    }
    Ok(meta)
}

fn meta_from_file(key: &str, v: &Value) -> ObjectMeta {
    let s = |name: &str| v.get(name).and_then(Value::as_str).map(str::to_string);
    let size = match v.get("size") {
        Some(Value::String(t)) => t.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    };
    let mut meta = ObjectMeta::new(key, size);
    meta.etag = s("md5Checksum");
    meta.content_type = s("mimeType");
    meta.last_modified = s("modifiedTime").as_deref().and_then(parse_rfc3339);
    if let Some(Value::Object(m)) = v.get("appProperties") {
        meta.metadata = m
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|t| (k.clone(), t.to_string())))
            .collect::<BTreeMap<_, _>>();
    }
    meta
}

fn random_u128() -> u128 {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).expect("system randomness");
    u128::from_le_bytes(b)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Parses `2024-05-06T07:08:09.123Z` (Drive's times are UTC). As before the shared parser,
/// the fields are not checked and whatever follows the seconds is ignored (an offset too).
fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let rules = files_core::time::Rfc3339Rules {
        unchecked_fields: true,
        ignore_offset: true,
    };
    files_core::time::parse_rfc3339_with(s, rules)
}

#[async_trait]
impl Adapter for GDriveAdapter {
    fn provider(&self) -> &'static str {
        "gdrive"
    }

    fn target(&self) -> String {
        let ep = &self.inner.endpoint;
        match ep.port() {
            Some(p) => format!("{}@{}:{p}", self.inner.root, ep.host_str().unwrap_or("")),
            None => format!("{}@{}", self.inner.root, ep.host_str().unwrap_or("")),
        }
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::minimal();
        c.range_read = true;
        c.content_type = true;
        c.metadata = true;
        c.server_side_copy = true;
        c.native_rename = true;
        c.list_delimiter = true;
        c.resumable = Resumability::CrossProcess;
        c
    }

    fn validate_key(&self, key: &str) -> Result<()> {
        files_core::adapter::validate_key_default(key)?;
        if key.ends_with('/') {
            return Err(Error::invalid_input(
                "a Drive key names a file: it must not end with '/'",
            ));
        }
        Ok(())
    }

    fn check_session(&self, session: &Session) -> Result<()> {
        if session.id.is_empty() {
            return Err(Error::token_invalid("the token names no resumable session"));
        }
        resumable::check_same_origin(
            &session.id,
            &self.inner.endpoint,
            &self.session_path_prefix(),
        )
    }

    fn upload_family(&self) -> UploadFamily<'_> {
        UploadFamily::Offset(self)
    }

    async fn put(
        &self,
        key: &str,
        body: ByteStream,
        len: Option<u64>,
        options: &PutOptions,
    ) -> Result<ObjectMeta> {
        if options.cache_control.is_some() {
            return Err(Error::not_supported("Google Drive stores no cache control"));
        }
        let _ = len;
        self.put_streamed(key, body, options)
            .await
            .map_err(|e| e.with_operation("put").with_key(key))
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        let found = self.find_or_not_found(key, "head").await?;
        Ok(meta_from_file(key, &found.file))
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResponse> {
        let found = self.find_or_not_found(key, "get").await?;
        let meta = meta_from_file(key, &found.file);
        let range = match range {
            Some(r) => r.resolve(meta.size)?,
            None => 0..meta.size,
        };
        let id = id_of(&found.file).unwrap_or_default();
        let mut req = self.http().get(format!(
            "{}?alt=media&supportsAllDrives=true",
            self.api(&format!("files/{}", enc(&id)))
        ));
        let partial = range != (0..meta.size);
        if partial {
            req = req.header(RANGE, format!("bytes={}-{}", range.start, range.end - 1));
        }
        let resp = self
            .send(req, "download the file")
            .await
            .map_err(|e| e.with_operation("get").with_key(key))?;
        if partial && resp.status().as_u16() != 206 {
            return Err(Error::new(
                ErrorKind::Other,
                "Drive ignored the Range header",
            ));
        }
        let stream = resp.bytes_stream().map(|r| r.map_err(transport)).boxed();
        Ok(GetResponse {
            meta,
            range,
            stream,
        })
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let run = async {
            let (dirs, name) = split_key(key);
            let Some(parent) = self.folder(&dirs, false).await? else {
                return Ok(());
            };
            for f in self.named(&parent, name, false).await? {
                if let Some(id) = id_of(&f) {
                    self.remove(&id, self.inner.trash).await?;
                }
            }
            Ok(())
        };
        run.await
            .map_err(|e: Error| e.with_operation("delete").with_key(key))
    }

    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        let delimited = match request.delimiter.as_deref() {
            None => false,
            Some("/") => true,
            Some(_) => {
                return Err(Error::not_supported(
                    "Google Drive lists with the '/' delimiter only",
                ));
            }
        };
        let (dir_key, stem) = match request.prefix.rfind('/') {
            Some(i) => request.prefix.split_at(i + 1),
            None => ("", request.prefix.as_str()),
        };
        let dirs: Vec<&str> = dir_key.split('/').filter(|s| !s.is_empty()).collect();
        let Some(folder) = self
            .folder(&dirs, false)
            .await
            .map_err(|e| e.with_operation("list"))?
        else {
            return Ok(ListPage::default());
        };
        let entries = self
            .walk(folder, dir_key.to_string(), stem, delimited)
            .await
            .map_err(|e| e.with_operation("list"))?;
        // The cursor is the last key returned: the next page starts after it.
        let after = request.cursor.as_deref().unwrap_or("");
        let limit = request.limit.unwrap_or(usize::MAX).max(1);
        let mut rest = entries.into_iter().filter(|(k, _)| k.as_str() > after);
        let mut page = ListPage::default();
        let mut last = None;
        for (k, m) in rest.by_ref().take(limit) {
            match m {
                Some(m) => page.objects.push(m),
                None => page.prefixes.push(k.clone()),
            }
            last = Some(k);
        }
        if rest.next().is_some() {
            page.cursor = last;
        }
        Ok(page)
    }

    async fn copy(&self, from: &str, to: &str) -> Result<ObjectMeta> {
        let src = self.find_or_not_found(from, "copy").await?;
        let run = async {
            let (parent, _) = self.target_of(to).await?;
            let (_, name) = split_key(to);
            let req = self
                .http()
                .post(format!(
                    "{}?supportsAllDrives=true&fields={FILE_FIELDS}",
                    self.api(&format!(
                        "files/{}/copy",
                        enc(&id_of(&src.file).unwrap_or_default())
                    ))
                ))
                .json(&json!({ "name": name, "parents": [parent] }));
            let v = self.json(req, "copy the file").await?;
            let new_id = id_of(&v);
            // The copy replaces what was at `to` (older files of that name would win).
            for f in self.named(&parent, name, false).await? {
                if id_of(&f) != new_id
                    && let Some(id) = id_of(&f)
                {
                    self.remove(&id, self.inner.trash).await?;
                }
            }
            Ok(meta_from_file(to, &v))
        };
        run.await
            .map_err(|e: Error| e.with_operation("copy").with_key(from))
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let src = self.find_or_not_found(from, "rename").await?;
        let run = async {
            let (parent, _) = self.target_of(to).await?;
            let (_, name) = split_key(to);
            let src_id = id_of(&src.file).unwrap_or_default();
            let mut url = url::Url::parse(&self.api(&format!("files/{}", enc(&src_id))))
                .map_err(|e| Error::invalid_input(e.to_string()))?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("supportsAllDrives", "true");
                q.append_pair("fields", "id");
                if parent != src.parent {
                    q.append_pair("addParents", &parent);
                    q.append_pair("removeParents", &src.parent);
                }
            }
            self.json(
                self.http().patch(url).json(&json!({ "name": name })),
                "move the file",
            )
            .await?;
            // The moved file replaces what was at `to`.
            for f in self.named(&parent, name, false).await? {
                if let Some(id) = id_of(&f)
                    && id != src_id
                {
                    self.remove(&id, self.inner.trash).await?;
                }
            }
            Ok(())
        };
        run.await
            .map_err(|e: Error| e.with_operation("rename").with_key(from))
    }
}

#[async_trait]
impl OffsetUpload for GDriveAdapter {
    fn rules(&self) -> PartRules {
        resumable::chunk_rules()
    }

    fn resumability(&self) -> Resumability {
        Resumability::CrossProcess
    }

    async fn begin(&self, spec: &UploadSpec) -> Result<Session> {
        if spec.options.cache_control.is_some() {
            return Err(Error::not_supported("Google Drive stores no cache control"));
        }
        let url = self
            .start_session(&spec.key, Some(spec.total), &spec.options)
            .await
            .map_err(|e| e.with_operation("begin").with_key(&spec.key))?;
        let mut session = Session::new(url.expose());
        session.sensitive = true;
        session.expires_at = Some(now_secs() + resumable::SESSION_LIFETIME.as_secs());
        session.bind_to_key(&spec.key);
        Ok(session)
    }

    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<OffsetState> {
        let run = async {
            let url = self.session_url(spec, session)?;
            match self
                .inner
                .protocol
                .query(
                    &url,
                    Some(&self.inner.auth.headers().await?),
                    Some(spec.total),
                )
                .await?
            {
                SessionStatus::Persisted(n) => Ok(OffsetState::Offset(n)),
                SessionStatus::Complete(body) => Ok(OffsetState::Finished(meta_from_body(
                    &spec.key,
                    &body,
                    Some(spec.total),
                )?)),
            }
        };
        run.await
            .map_err(|e: Error| e.with_operation("probe").with_key(&spec.key))
    }

    async fn append(
        &self,
        spec: &UploadSpec,
        session: &Session,
        offset: u64,
        data: Bytes,
        _last: bool,
    ) -> Result<OffsetState> {
        let run = async {
            let url = self.session_url(spec, session)?;
            match self
                .inner
                .protocol
                .put_chunk(
                    &url,
                    Some(&self.inner.auth.headers().await?),
                    offset,
                    data,
                    Some(spec.total),
                )
                .await?
            {
                SessionStatus::Persisted(n) => Ok(OffsetState::Offset(n)),
                SessionStatus::Complete(body) => Ok(OffsetState::Finished(meta_from_body(
                    &spec.key,
                    &body,
                    Some(spec.total),
                )?)),
            }
        };
        run.await
            .map_err(|e: Error| e.with_operation("append").with_key(&spec.key))
    }

    async fn finish(&self, spec: &UploadSpec, session: &Session) -> Result<ObjectMeta> {
        // The last chunk completes the session; if every byte is there but no answer said
        // so, the status query finalizes it.
        match self.probe(spec, session).await? {
            OffsetState::Finished(meta) => Ok(meta),
            OffsetState::Offset(n) => Err(Error::conflict(format!(
                "the session holds {n} of {} bytes; it cannot be finished",
                spec.total
            ))
            .with_operation("finish")
            .with_key(&spec.key)),
        }
    }

    async fn cancel(&self, spec: &UploadSpec, session: &Session) -> Result<()> {
        let run = async {
            self.check_session(session)?;
            session.check_bound_to(&spec.key)?;
            let url = SessionUrl::new(session.id.clone());
            match self
                .inner
                .protocol
                .cancel(&url, Some(&self.inner.auth.headers().await?))
                .await?
            {
                CancelOutcome::Cancelled | CancelOutcome::AlreadyGone => Ok(()),
                CancelOutcome::Unsupported => Err(Error::not_supported(
                    "the server cannot cancel resumable sessions",
                )),
            }
        };
        run.await
            .map_err(|e: Error| e.with_operation("cancel").with_key(&spec.key))
    }
}

// ------------------------------------------------------------------------------ URL schemes

fn adapter_for_url(url: &url::Url) -> Result<GDriveAdapter> {
    if url.query().is_some() {
        return Err(Error::invalid_input(
            "gdrive:// URLs take no parameters; set GDRIVE_ACCESS_TOKEN or GOOGLE_APPLICATION_CREDENTIALS (and GDRIVE_ENDPOINT)",
        ));
    }
    let root = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| {
        Error::invalid_input("a gdrive:// URL names a root folder: gdrive://root/key")
    })?;
    let mut b = GDriveAdapter::builder().root_folder(root);
    if let Ok(t) = std::env::var(ACCESS_TOKEN_ENV)
        && !t.is_empty()
    {
        b = b.access_token(t);
    }
    if let Ok(e) = std::env::var(ENDPOINT_ENV)
        && !e.is_empty()
    {
        b = b.endpoint(e);
    }
    b.build()
}

fn store_from_url(url: &url::Url) -> Result<Arc<dyn Adapter>> {
    Ok(Arc::new(adapter_for_url(url)?))
}

fn object_from_url(url: &url::Url) -> Result<(Arc<dyn Adapter>, String)> {
    let adapter = adapter_for_url(url)?;
    let key = files_core::registry::url_key(url)?;
    Ok((Arc::new(adapter), key))
}

/// The factory of the `gdrive` scheme: `gdrive://ROOT_FOLDER_ID/key` (`gdrive://root/key`).
pub const FACTORY: files_core::AdapterFactory = files_core::AdapterFactory {
    scheme: "gdrive",
    provider: "gdrive",
    store: store_from_url,
    object: object_from_url,
};
files_core::inventory::submit!(FACTORY);

/// Registers this adapter explicitly (fallback for builds where the linker dropped it).
pub fn register() {
    static F: files_core::AdapterFactory = FACTORY;
    files_core::registry::register(&F);
}

#[doc(hidden)]
pub mod fuzzing {
    //! The hand-written parsers of this crate, exposed for the fuzz targets in `fuzz/` and
    //! their corpus replay test; not a stable API.

    /// Parses an RFC 3339 time as Drive answers it.
    pub fn parse_rfc3339(s: &str) -> Option<std::time::SystemTime> {
        super::parse_rfc3339(s)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn query_escaping() {
        assert_eq!(escape_query(r"it's a\b"), r"it\'s a\\b");
    }

    #[test]
    fn times() {
        let t = parse_rfc3339("1970-01-02T00:00:01.5Z").unwrap();
        assert_eq!(t, UNIX_EPOCH + Duration::new(86401, 500_000_000));
    }

    #[test]
    fn debug_has_no_token() {
        let a = GDriveAdapter::builder()
            .access_token("ya29.SECRET")
            .build()
            .unwrap();
        assert!(!format!("{a:?}").contains("SECRET"));
        let b = GDriveAdapter::builder().access_token("ya29.SECRET");
        assert!(!format!("{b:?}").contains("SECRET"));
    }
}
