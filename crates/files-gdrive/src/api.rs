//! Drive's requests and answers: URLs, authorization and errors through the HTTP kit, paths
//! resolved to file ids, the file resource, small uploads and session starts.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use files_core::{Error, ErrorKind, ObjectMeta, PutOptions, Result};
use files_http::encode::segment as enc;
use files_http::session::SessionUrl;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::{Map, Value, json};

use crate::FOLDER_MIME;
use crate::adapter::GDriveAdapter;

/// Bodies up to this size go in one multipart request; larger ones in a resumable session.
pub(crate) const SMALL: u64 = 5 * 1024 * 1024;

pub(crate) const FILE_FIELDS: &str =
    "id,name,mimeType,size,md5Checksum,modifiedTime,createdTime,appProperties,parents,trashed";

/// Escapes a string for a single-quoted literal of a Drive query (`\` and `'`).
pub fn escape_query(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// A file resource and the folder it was found in.
pub(crate) struct Found {
    pub(crate) parent: String,
    pub(crate) file: Value,
}

pub(crate) fn oldest_first(a: &Value, b: &Value) -> std::cmp::Ordering {
    let t = |v: &Value| {
        v.get("createdTime")
            .and_then(Value::as_str)
            .and_then(parse_rfc3339)
            .unwrap_or(UNIX_EPOCH)
    };
    t(a).cmp(&t(b)).then_with(|| id_of(a).cmp(&id_of(b)))
}

pub(crate) fn id_of(v: &Value) -> Option<String> {
    v.get("id").and_then(Value::as_str).map(str::to_string)
}

pub(crate) fn is_folder(v: &Value) -> bool {
    v.get("mimeType").and_then(Value::as_str) == Some(FOLDER_MIME)
}

pub(crate) fn split_key(key: &str) -> (Vec<&str>, &str) {
    let mut segs: Vec<&str> = key.split('/').collect();
    let name = segs.pop().unwrap_or_default();
    (segs, name)
}

/// A request that failed before an answer (its URL never quoted).
pub(crate) fn transport(e: reqwest::Error) -> Error {
    files_http::transport_error(e, "reach Google Drive")
}

/// Drive's JSON error body, and its one deviation from the status table: rate limits are
/// answered `403` with the reason `rateLimitExceeded` or `userRateLimitExceeded` (retried).
pub(crate) fn drive_detail(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &bytes::Bytes,
) -> Option<files_http::Detail> {
    let mut detail = files_http::status::json_detail(status, headers, body).unwrap_or_default();
    if status.as_u16() == 403 && String::from_utf8_lossy(body).contains("RateLimitExceeded") {
        detail.kind = Some(ErrorKind::Transient);
    }
    Some(detail)
}

pub(crate) fn meta_from_body(key: &str, body: &[u8], total: Option<u64>) -> Result<ObjectMeta> {
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

pub(crate) fn meta_from_file(key: &str, v: &Value) -> ObjectMeta {
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

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Parses Drive's `modifiedTime` (`2024-05-06T07:08:09.123Z`).
pub(crate) use files_http::time::parse_rfc3339;

impl GDriveAdapter {
    pub(crate) fn base(&self) -> String {
        let s = self.inner.endpoint.as_str();
        if s.ends_with('/') {
            s.to_string()
        } else {
            format!("{s}/")
        }
    }

    pub(crate) fn api(&self, path: &str) -> String {
        format!("{}drive/v3/{path}", self.base())
    }

    pub(crate) fn upload_url(&self, path: &str) -> String {
        format!("{}upload/drive/v3/{path}", self.base())
    }

    pub(crate) fn session_path_prefix(&self) -> String {
        let ep = self.inner.endpoint.path().trim_end_matches('/');
        format!("{ep}/upload/drive/v3/files")
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        self.inner.protocol.http()
    }

    pub(crate) async fn send(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<reqwest::Response> {
        let resp = req
            .headers(self.inner.auth.headers().await?)
            .send()
            .await
            .map_err(transport)?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(files_http::error_from_response(resp, what, drive_detail).await)
    }

    pub(crate) async fn json(&self, req: reqwest::RequestBuilder, what: &str) -> Result<Value> {
        self.send(req, what).await?.json().await.map_err(transport)
    }

    /// Every file matching `q` (all pages).
    pub(crate) async fn query(&self, q: &str) -> Result<Vec<Value>> {
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
    pub(crate) async fn named(&self, parent: &str, name: &str, folder: bool) -> Result<Vec<Value>> {
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
    pub(crate) async fn folder(&self, segments: &[&str], create: bool) -> Result<Option<String>> {
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
    pub(crate) async fn create_folder(&self, parent: &str, name: &str) -> Result<String> {
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
    pub(crate) async fn find(&self, key: &str) -> Result<Option<Found>> {
        let (dirs, name) = split_key(key);
        let Some(parent) = self.folder(&dirs, false).await? else {
            return Ok(None);
        };
        let files = self.named(&parent, name, false).await?;
        Ok(files.into_iter().next().map(|file| Found { parent, file }))
    }

    pub(crate) async fn find_or_not_found(&self, key: &str, op: &'static str) -> Result<Found> {
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
    pub(crate) async fn remove(&self, id: &str, trash: bool) -> Result<()> {
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
    pub(crate) fn resource(
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
    pub(crate) async fn target_of(&self, key: &str) -> Result<(String, Option<Value>)> {
        let (dirs, name) = split_key(key);
        let parent = self
            .folder(&dirs, true)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::Other, "a folder could not be created"))?;
        let existing = self.named(&parent, name, false).await?.into_iter().next();
        Ok((parent, existing))
    }

    pub(crate) async fn put_small(
        &self,
        key: &str,
        data: Bytes,
        options: &PutOptions,
    ) -> Result<ObjectMeta> {
        let (parent, existing) = self.target_of(key).await?;
        let (_, name) = split_key(key);
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
        let (content_type, body) = files_http::multipart::related(
            &meta.to_string(),
            options.content_type.as_deref(),
            &data,
        );
        let req = self
            .http()
            .request(
                method,
                format!("{url}?uploadType=multipart&supportsAllDrives=true&fields={FILE_FIELDS}"),
            )
            .header(CONTENT_TYPE, content_type)
            .header(CONTENT_LENGTH, body.len())
            .body(body);
        let v = self.json(req, "upload the file").await?;
        Ok(meta_from_file(key, &v))
    }

    pub(crate) async fn start_session(
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

    /// Every listed entry under `dir_key` (a key prefix ending in `/` or empty) whose name
    /// starts with `stem`: files as objects, folders as prefixes (with `/`) or walked.
    pub(crate) async fn walk(
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
