//! The adapter: everyday operations under a root folder.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use files_core::{
    Adapter, ByteRange, ByteStream, Capabilities, Error, ErrorKind, GetResponse, ListPage,
    ListRequest, ObjectMeta, PresignMethod, PutOptions, Result, Resumability, Session,
    UploadFamily,
};
use files_http::Auth;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use crate::api::{FileMeta, transport};
use crate::content_hash::content_hash;
use crate::upload::{SMALL_UPLOAD, Tracked};

/// A Dropbox account's files under a root folder (see the crate docs for the URL mapping).
#[derive(Clone)]
pub struct DropboxAdapter {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) root: String,
    pub(crate) rpc: url::Url,
    pub(crate) content: url::Url,
    pub(crate) auth: Auth,
    pub(crate) http: reqwest::Client,
    /// Block hashes of what this process appended, per session id.
    pub(crate) uploads: Mutex<HashMap<String, Tracked>>,
}

impl fmt::Debug for DropboxAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DropboxAdapter")
            .field("root", &self.inner.root)
            .field("rpc", &self.inner.rpc.as_str())
            .field("content", &self.inner.content.as_str())
            .field("auth", &self.inner.auth)
            .finish()
    }
}

/// Longest lifetime of a temporary link.
pub const TEMPORARY_LINK_LIFETIME: Duration = Duration::from_secs(4 * 3600);

#[async_trait]
impl Adapter for DropboxAdapter {
    fn provider(&self) -> &'static str {
        "dropbox"
    }

    fn target(&self) -> String {
        let ep = &self.inner.rpc;
        let host = ep.host_str().unwrap_or("");
        match ep.port() {
            Some(p) => format!("{}@{host}:{p}", self.inner.root.to_lowercase()),
            None => format!("{}@{host}", self.inner.root.to_lowercase()),
        }
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::minimal();
        c.range_read = true;
        c.server_side_copy = true;
        c.native_rename = true;
        c.list_delimiter = true;
        c.presign_get = true;
        c.resumable = Resumability::CrossProcess;
        c
    }

    fn check_session(&self, session: &Session) -> Result<()> {
        let ok = !session.id.is_empty()
            && session.id.len() <= 512
            && session.id.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(())
        } else {
            Err(Error::token_invalid(
                "the token does not name a Dropbox upload session",
            ))
        }
    }

    fn upload_family(&self) -> UploadFamily<'_> {
        UploadFamily::Offset(self)
    }

    async fn put(
        &self,
        key: &str,
        body: ByteStream,
        len: Option<u64>,
        _options: &PutOptions,
    ) -> Result<ObjectMeta> {
        match len {
            Some(n) if n <= SMALL_UPLOAD => {
                let data: Vec<Bytes> = body.try_collect().await?;
                let mut buf = BytesMut::with_capacity(n as usize);
                for b in data {
                    buf.extend_from_slice(&b);
                }
                if buf.len() as u64 != n {
                    return Err(Error::invalid_input(format!(
                        "the body has {} bytes, not the {n} announced",
                        buf.len()
                    )));
                }
                self.put_small(key, buf.freeze()).await
            }
            _ => self.put_streamed(key, body).await,
        }
        .map_err(|e| e.with_operation("put").with_key(key))
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        let v = self
            .rpc(
                "get_metadata",
                &json!({"path": self.path_of(key)}),
                "read the file's metadata",
            )
            .await
            .map_err(|e| e.with_operation("head").with_key(key))?;
        let m = FileMeta::from_value(&v)?;
        if !m.is_file() {
            return Err(Error::not_found(format!("`{key}` is a folder, not a file"))
                .with_operation("head")
                .with_key(key));
        }
        Ok(self.meta(key, &m))
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResponse> {
        let meta = self.head(key).await?;
        let range = match range {
            Some(r) => r.resolve(meta.size)?,
            None => 0..meta.size,
        };
        let header = (range != (0..meta.size) && !range.is_empty())
            .then(|| format!("bytes={}-{}", range.start, range.end - 1));
        let partial = header.is_some();
        let (resp, m) = self
            .download_raw(&json!({"path": self.path_of(key)}), header)
            .await
            .map_err(|e| e.with_operation("get").with_key(key))?;
        if m.rev != meta.etag {
            return Err(Error::conflict(
                "the file changed between reading its metadata and downloading it",
            )
            .with_operation("get")
            .with_key(key));
        }
        if partial && resp.status().as_u16() != 206 {
            return Err(Error::new(
                ErrorKind::Other,
                "Dropbox ignored the Range header",
            ));
        }
        let stream = if range.is_empty() {
            futures::stream::empty().boxed()
        } else {
            resp.bytes_stream().map(|r| r.map_err(transport)).boxed()
        };
        Ok(GetResponse {
            meta,
            range,
            stream,
        })
    }

    async fn delete(&self, key: &str) -> Result<()> {
        match self
            .rpc_raw(
                "delete_v2",
                &json!({"path": self.path_of(key)}),
                "delete the file",
            )
            .await
        {
            Ok(_) => Ok(()),
            Err((e, _)) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err((e, _)) => Err(e.with_operation("delete").with_key(key)),
        }
    }

    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        self.list_page(request)
            .await
            .map_err(|e| e.with_operation("list"))
    }

    async fn copy(&self, from: &str, to: &str) -> Result<ObjectMeta> {
        self.relocate("copy_v2", from, to)
            .await
            .map_err(|e| e.with_operation("copy").with_key(from))
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.relocate("move_v2", from, to)
            .await
            .map(|_| ())
            .map_err(|e| e.with_operation("rename").with_key(from))
    }

    async fn presign(&self, key: &str, method: PresignMethod, expires: Duration) -> Result<String> {
        if method != PresignMethod::Get {
            return Err(Error::not_supported(
                "Dropbox has no presigned upload URLs here",
            ));
        }
        if expires > TEMPORARY_LINK_LIFETIME {
            return Err(Error::invalid_input(
                "Dropbox temporary links last 4 hours; a longer lifetime cannot be asked for",
            ));
        }
        let v = self
            .rpc(
                "get_temporary_link",
                &json!({"path": self.path_of(key)}),
                "get a temporary link",
            )
            .await
            .map_err(|e| e.with_operation("presign").with_key(key))?;
        v.get("link")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error::new(ErrorKind::Other, "Dropbox answered no link"))
    }
}

impl DropboxAdapter {
    /// The root folder (`/backups`, or empty).
    pub fn root(&self) -> &str {
        &self.inner.root
    }

    /// One `files/upload` (mode overwrite) with the body's content hash; the hash answered
    /// must be the same.
    pub(crate) async fn put_small(&self, key: &str, data: Bytes) -> Result<ObjectMeta> {
        let hash = content_hash(&data);
        let args = json!({
            "path": self.path_of(key),
            "mode": "overwrite",
            "autorename": false,
            "mute": true,
            "strict_conflict": false,
            "content_hash": hash,
        });
        let v = self
            .upload_raw("upload", &args, data, "upload the file")
            .await
            .map_err(|(e, _)| e)?;
        let m = FileMeta::from_value(&v)?;
        check_hash(&m, &hash)?;
        Ok(self.meta(key, &m))
    }

    /// `copy_v2` / `move_v2`, replacing an existing destination (deleted first).
    async fn relocate(&self, route: &str, from: &str, to: &str) -> Result<ObjectMeta> {
        // Same path: a copy is the file itself; a change of case only is a rename in place.
        if from.to_lowercase() == to.to_lowercase() && (route == "copy_v2" || from == to) {
            return self.head(from).await;
        }
        let args = json!({
            "from_path": self.path_of(from),
            "to_path": self.path_of(to),
            "autorename": false,
            "allow_ownership_transfer": false,
        });
        let op = if route == "copy_v2" {
            "copy the file"
        } else {
            "move the file"
        };
        let mut retried = false;
        loop {
            match self.rpc_raw(route, &args, op).await {
                Ok(v) => {
                    let m = FileMeta::from_value(&v)?;
                    return Ok(self.meta(to, &m));
                }
                Err((e, Some(api))) if !retried && api.has("to") && api.has("conflict") => {
                    // The source must exist before the destination goes.
                    self.head(from).await?;
                    self.delete(to).await?;
                    retried = true;
                    let _ = e;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Reads every file under the prefix's folder (`list_folder` recursive and its
    /// continuations), then pages in key order: Dropbox's own order is not sorted.
    async fn list_page(&self, request: &ListRequest) -> Result<ListPage> {
        let prefix = request.prefix.as_str();
        let folder_key = match prefix.rfind('/') {
            Some(i) => &prefix[..i],
            None => "",
        };
        let folder = if folder_key.is_empty() {
            self.inner.root.clone()
        } else {
            self.path_of(folder_key)
        };
        let mut keys: BTreeMap<String, ObjectMeta> = BTreeMap::new();
        let first = self
            .rpc_raw(
                "list_folder",
                &json!({"path": folder, "recursive": true, "include_deleted": false, "limit": 2000}),
                "list the folder",
            )
            .await;
        let mut v = match first {
            Ok(v) => v,
            Err((e, _)) if e.kind() == ErrorKind::NotFound => return Ok(ListPage::default()),
            Err((e, _)) => return Err(e),
        };
        loop {
            if let Some(Value::Array(entries)) = v.get("entries") {
                for entry in entries {
                    let m = FileMeta::from_value(entry)?;
                    if !m.is_file() {
                        continue;
                    }
                    if let Some(key) = self.key_of(&m)
                        && key.starts_with(prefix)
                    {
                        let meta = self.meta(&key, &m);
                        keys.insert(key, meta);
                    }
                }
            }
            if !v.get("has_more").and_then(Value::as_bool).unwrap_or(false) {
                break;
            }
            let cursor = v
                .get("cursor")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            v = self
                .rpc(
                    "list_folder/continue",
                    &json!({"cursor": cursor}),
                    "list the folder",
                )
                .await?;
        }
        // Group by the delimiter, then page after the cursor (the last entry of the page).
        let after = request.cursor.as_deref().unwrap_or("");
        let mut entries: BTreeMap<String, Option<ObjectMeta>> = BTreeMap::new();
        for (key, meta) in keys {
            match request
                .delimiter
                .as_deref()
                .filter(|d| !d.is_empty())
                .and_then(|d| key[prefix.len()..].find(d).map(|i| (i, d.len())))
            {
                Some((i, dl)) => {
                    let p = key[..prefix.len() + i + dl].to_string();
                    entries.entry(p).or_insert(None);
                }
                None => {
                    entries.insert(key, Some(meta));
                }
            }
        }
        let limit = request.limit.unwrap_or(usize::MAX).max(1);
        let mut page = ListPage::default();
        let mut last = None;
        let mut more = false;
        for (count, (name, meta)) in entries
            .into_iter()
            .filter(|(k, _)| after.is_empty() || k.as_str() > after)
            .enumerate()
        {
            if count == limit {
                more = true;
                break;
            }
            match meta {
                Some(m) => page.objects.push(m),
                None => page.prefixes.push(name.clone()),
            }
            last = Some(name);
        }
        page.cursor = if more { last } else { None };
        Ok(page)
    }
}

/// Refuses an answer whose content hash is not the one computed here.
pub(crate) fn check_hash(m: &FileMeta, expected: &str) -> Result<()> {
    match &m.content_hash {
        Some(h) if h != expected => Err(Error::conflict(format!(
            "Dropbox stored a file whose content hash ({h}) is not the body's ({expected})"
        ))),
        _ => Ok(()),
    }
}
