//! The adapter: everyday operations on a Box folder tree.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use files_core::{
    Adapter, ByteRange, ByteStream, Capabilities, Error, ErrorKind, GetResponse, ListPage,
    ListRequest, ObjectMeta, PartRules, PutOptions, Result, Resumability, Session, UploadFamily,
};
use files_http::Auth;
use futures::{StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_TYPE, RANGE};
use serde_json::json;

use crate::api::{Entries, Item, Items, json, status_error, status_error_code, transport};
use crate::upload::Hashing;

const FIELDS: &str = "type,id,name,size,sha1,etag,modified_at";
const PAGE: u64 = 1000;

/// A Box folder tree (the root folder `0`, or another folder by id).
#[derive(Clone)]
pub struct BoxAdapter {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) folder: String,
    pub(crate) api: String,
    pub(crate) upload: String,
    pub(crate) http: reqwest::Client,
    pub(crate) auth: Auth,
    pub(crate) rules: PartRules,
    pub(crate) min_session_size: u64,
    pub(crate) commit_waits: u32,
    /// Where sessions' SHA-1 states are kept (`None`: only in memory).
    pub(crate) state_dir: Option<std::path::PathBuf>,
    /// The whole-file SHA-1 of each session this process sends parts of.
    pub(crate) hashes: Mutex<HashMap<String, Arc<Mutex<Hashing>>>>,
}

impl fmt::Debug for BoxAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoxAdapter")
            .field("folder", &self.inner.folder)
            .field("api", &self.inner.api)
            .field("upload", &self.inner.upload)
            .field("auth", &self.inner.auth)
            .field("rules", &self.inner.rules)
            .finish()
    }
}

/// A key split into its folder names and its file name.
pub(crate) fn split_key(key: &str) -> (Vec<&str>, &str) {
    let mut segs: Vec<&str> = key.split('/').collect();
    let name = segs.pop().unwrap_or_default();
    (segs, name)
}

impl BoxAdapter {
    /// A builder (credentials from the environment unless given).
    pub fn builder() -> crate::BoxBuilder {
        crate::BoxBuilder::default()
    }

    pub(crate) async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let req = self.inner.auth.apply(req).await?;
        req.send().await.map_err(transport)
    }

    pub(crate) fn api(&self, path: &str) -> String {
        format!("{}{path}", self.inner.api)
    }

    pub(crate) fn upload_url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.upload)
    }

    /// One page of a folder's items.
    async fn items_page(&self, folder: &str, offset: u64) -> Result<Items> {
        let url = self.api(&format!(
            "/folders/{}/items?fields={FIELDS}&limit={PAGE}&offset={offset}",
            files_http::encode::segment(folder)
        ));
        let resp = self.send(self.inner.http.get(url)).await?;
        if !resp.status().is_success() {
            return Err(status_error(resp, "list a folder").await);
        }
        json(resp, "a folder listing").await
    }

    /// Every item of a folder (all pages).
    pub(crate) async fn children(&self, folder: &str) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let page = self.items_page(folder, offset).await?;
            let n = page.entries.len() as u64;
            out.extend(page.entries);
            offset += n;
            if n == 0 || page.total_count.is_none_or(|t| offset >= t) {
                return Ok(out);
            }
        }
    }

    /// The item named `name` in `folder`, if any (pages until found).
    pub(crate) async fn find_child(&self, folder: &str, name: &str) -> Result<Option<Item>> {
        let mut offset = 0;
        loop {
            let page = self.items_page(folder, offset).await?;
            let n = page.entries.len() as u64;
            if let Some(it) = page.entries.into_iter().find(|i| i.name == name) {
                return Ok(Some(it));
            }
            offset += n;
            if n == 0 || page.total_count.is_none_or(|t| offset >= t) {
                return Ok(None);
            }
        }
    }

    /// The id of the folder `dirs` below the root, creating missing folders if `create`.
    pub(crate) async fn folder_of(&self, dirs: &[&str], create: bool) -> Result<Option<String>> {
        let mut cur = self.inner.folder.clone();
        for d in dirs {
            match self.find_child(&cur, d).await? {
                Some(it) if it.is_folder() => cur = it.id,
                Some(_) => {
                    return Err(Error::conflict(format!(
                        "`{d}` is a file, so it cannot hold other keys"
                    )));
                }
                None if create => cur = self.create_folder(&cur, d).await?,
                None => return Ok(None),
            }
        }
        Ok(Some(cur))
    }

    async fn create_folder(&self, parent: &str, name: &str) -> Result<String> {
        let body = json!({"name": name, "parent": {"id": parent}});
        let resp = self
            .send(self.inner.http.post(self.api("/folders")).json(&body))
            .await?;
        if resp.status().is_success() {
            let it: Item = json(resp, "a folder").await?;
            return Ok(it.id);
        }
        let (e, code) = status_error_code(resp, "create a folder").await;
        if code.as_deref() == Some("item_name_in_use") {
            // Created meanwhile by another writer: use it if it is a folder.
            if let Some(it) = self.find_child(parent, name).await?
                && it.is_folder()
            {
                return Ok(it.id);
            }
        }
        Err(e)
    }

    /// The folder id and file item of `key`, if it exists.
    pub(crate) async fn resolve(&self, key: &str) -> Result<Option<(String, Item)>> {
        let (dirs, name) = split_key(key);
        let Some(folder) = self.folder_of(&dirs, false).await? else {
            return Ok(None);
        };
        Ok(self
            .find_child(&folder, name)
            .await?
            .filter(Item::is_file)
            .map(|it| (folder, it)))
    }

    async fn file_info(&self, id: &str, key: &str) -> Result<ObjectMeta> {
        let url = self.api(&format!(
            "/files/{}?fields=size,etag,sha1,modified_at,name",
            files_http::encode::segment(id)
        ));
        let resp = self.send(self.inner.http.get(url)).await?;
        if !resp.status().is_success() {
            return Err(status_error(resp, "read a file's metadata").await);
        }
        let mut it: Item = json(resp, "a file").await?;
        if it.kind.is_empty() {
            it.kind = "file".into();
        }
        Ok(it.meta(key))
    }

    async fn delete_id(&self, id: &str) -> Result<()> {
        let url = self.api(&format!("/files/{}", files_http::encode::segment(id)));
        let resp = self.send(self.inner.http.delete(url)).await?;
        match resp.status().as_u16() {
            200..=299 | 404 => Ok(()),
            _ => Err(status_error(resp, "delete a file").await),
        }
    }

    /// Every file below `folder` (whose path is `path`, ending in `/` or empty) that may
    /// match `prefix`, as (key, item).
    async fn walk(
        &self,
        folder: String,
        path: String,
        prefix: &str,
    ) -> Result<Vec<(String, Item)>> {
        let mut out = Vec::new();
        let mut stack = vec![(folder, path)];
        while let Some((id, path)) = stack.pop() {
            for it in self.children(&id).await? {
                let full = format!("{path}{}", it.name);
                if it.is_folder() {
                    let dir = format!("{full}/");
                    if dir.starts_with(prefix) || prefix.starts_with(&dir) {
                        stack.push((it.id.clone(), dir));
                    }
                } else if it.is_file() && full.starts_with(prefix) {
                    out.push((full, it));
                }
            }
        }
        Ok(out)
    }

    /// Plain upload (`multipart/form-data`: `attributes`, then `file`) of a new file in
    /// `folder`, or of a new version of `existing`.
    async fn plain_upload(
        &self,
        folder: &str,
        name: &str,
        existing: Option<&str>,
        data: Bytes,
    ) -> Result<Item> {
        let boundary = format!(
            "files-box-{:016x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        );
        let attrs = match existing {
            Some(_) => json!({"name": name}),
            None => json!({"name": name, "parent": {"id": folder}}),
        };
        let mut body = Vec::with_capacity(data.len() + 512);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"attributes\"\r\n\r\n{attrs}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                name.replace(['"', '\r', '\n'], "_")
            )
            .as_bytes(),
        );
        body.extend_from_slice(&data);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let path = match existing {
            Some(id) => format!("/files/{}/content", files_http::encode::segment(id)),
            None => "/files/content".to_string(),
        };
        let req = self
            .inner
            .http
            .post(self.upload_url(&path))
            .header(
                CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        let resp = self.send(req).await?;
        if !resp.status().is_success() {
            return Err(status_error(resp, "upload a file").await);
        }
        let e: Entries = json(resp, "an uploaded file").await?;
        e.entries
            .into_iter()
            .next()
            .ok_or_else(|| Error::new(ErrorKind::Other, "Box answered an upload with no file"))
    }

    /// Removes a file at `to` (Box forbids duplicate names) before a copy or a move there.
    async fn clear_destination(&self, to: &str) -> Result<String> {
        let (dirs, name) = split_key(to);
        let folder = self
            .folder_of(&dirs, true)
            .await?
            .expect("created folders exist");
        if let Some(it) = self.find_child(&folder, name).await? {
            if !it.is_file() {
                return Err(Error::conflict(format!("`{to}` is a folder")));
            }
            self.delete_id(&it.id).await?;
        }
        Ok(folder)
    }
}

#[async_trait]
impl Adapter for BoxAdapter {
    fn provider(&self) -> &'static str {
        "box"
    }

    fn target(&self) -> String {
        format!("folder {} at {}", self.inner.folder, self.inner.api)
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::minimal();
        c.range_read = true;
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
                "a Box key names a file: it must not end with '/'",
            ));
        }
        Ok(())
    }

    fn check_session(&self, session: &Session) -> Result<()> {
        let ok = !session.id.is_empty()
            && session.id.len() <= 128
            && session.id.bytes().all(|b| b.is_ascii_alphanumeric());
        let ps = session
            .extra
            .get(crate::upload::PART_SIZE_FIELD)
            .and_then(|p| p.parse::<u64>().ok());
        if !ok || ps.is_none_or(|p| p == 0) {
            return Err(Error::token_invalid(
                "the token's session is not a Box upload session",
            ));
        }
        Ok(())
    }

    fn upload_family(&self) -> UploadFamily<'_> {
        UploadFamily::Parts(self)
    }

    async fn put(
        &self,
        key: &str,
        body: ByteStream,
        _len: Option<u64>,
        _options: &PutOptions,
    ) -> Result<ObjectMeta> {
        let chunks: Vec<Bytes> = body.try_collect().await?;
        let data = Bytes::from(chunks.concat());
        let (dirs, name) = split_key(key);
        let folder = self
            .folder_of(&dirs, true)
            .await?
            .expect("created folders exist");
        let existing = self.find_child(&folder, name).await?;
        if let Some(it) = &existing
            && !it.is_file()
        {
            return Err(Error::conflict(format!("`{key}` is a folder")).with_key(key));
        }
        let existing_id = existing.map(|i| i.id);
        let it = match self
            .plain_upload(&folder, name, existing_id.as_deref(), data.clone())
            .await
        {
            Err(e) if e.kind() == ErrorKind::Conflict && existing_id.is_none() => {
                // Another writer created it meanwhile: upload a new version of it.
                match self.find_child(&folder, name).await? {
                    Some(it) if it.is_file() => {
                        self.plain_upload(&folder, name, Some(&it.id), data).await?
                    }
                    _ => return Err(e.with_key(key)),
                }
            }
            r => r.map_err(|e| e.with_operation("put").with_key(key))?,
        };
        Ok(it.meta(key))
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        match self.resolve(key).await? {
            Some((_, it)) => self
                .file_info(&it.id, key)
                .await
                .map_err(|e| e.with_operation("head").with_key(key)),
            None => Err(Error::not_found(format!("no file at `{key}`"))
                .with_operation("head")
                .with_key(key)),
        }
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResponse> {
        let Some((_, it)) = self.resolve(key).await? else {
            return Err(Error::not_found(format!("no file at `{key}`"))
                .with_operation("get")
                .with_key(key));
        };
        let meta = self.file_info(&it.id, key).await?;
        let range = match range {
            Some(r) => r.resolve(meta.size)?,
            None => 0..meta.size,
        };
        if meta.size == 0 {
            return Ok(GetResponse {
                meta,
                range: 0..0,
                stream: futures::stream::empty().boxed(),
            });
        }
        let url = self.api(&format!(
            "/files/{}/content",
            files_http::encode::segment(&it.id)
        ));
        let mut req = self.inner.http.get(url);
        if range != (0..meta.size) {
            req = req.header(RANGE, format!("bytes={}-{}", range.start, range.end - 1));
        }
        // reqwest follows the 302 to the download URL (dropping Authorization across origins).
        let resp = self.send(req).await?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(status_error(resp, "download a file")
                .await
                .with_operation("get")
                .with_key(key));
        }
        if status == 200 && range != (0..meta.size) {
            return Err(Error::new(
                ErrorKind::Other,
                "Box's download server ignored the Range header",
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
        match self.resolve(key).await? {
            Some((_, it)) => self
                .delete_id(&it.id)
                .await
                .map_err(|e| e.with_operation("delete").with_key(key)),
            None => Ok(()),
        }
    }

    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        let prefix = request.prefix.as_str();
        let base_path = match prefix.rfind('/') {
            Some(i) => &prefix[..=i],
            None => "",
        };
        let dirs: Vec<&str> = base_path.split('/').filter(|s| !s.is_empty()).collect();
        let Some(base) = self.folder_of(&dirs, false).await? else {
            return Ok(ListPage::default());
        };
        let files = self.walk(base, base_path.to_string(), prefix).await?;
        // Key → Some(meta) for objects, None for common prefixes.
        let mut all: BTreeMap<String, Option<ObjectMeta>> = BTreeMap::new();
        for (key, it) in files {
            let rest = &key[prefix.len()..];
            match request
                .delimiter
                .as_deref()
                .filter(|d| !d.is_empty())
                .and_then(|d| rest.find(d).map(|i| i + d.len()))
            {
                Some(end) => {
                    all.insert(format!("{prefix}{}", &rest[..end]), None);
                }
                None => {
                    let meta = it.meta(&key);
                    all.insert(key, Some(meta));
                }
            }
        }
        let limit = request.limit.unwrap_or(1000).max(1);
        let mut page = ListPage::default();
        let mut last = None;
        let mut iter = all
            .into_iter()
            .filter(|(k, _)| request.cursor.as_deref().is_none_or(|c| k.as_str() > c))
            .peekable();
        let mut n = 0;
        while n < limit {
            let Some((k, v)) = iter.next() else { break };
            match v {
                Some(m) => page.objects.push(m),
                None => page.prefixes.push(k.clone()),
            }
            last = Some(k);
            n += 1;
        }
        if iter.peek().is_some() {
            page.cursor = last;
        }
        Ok(page)
    }

    async fn copy(&self, from: &str, to: &str) -> Result<ObjectMeta> {
        let Some((_, src)) = self.resolve(from).await? else {
            return Err(Error::not_found(format!("no file at `{from}`"))
                .with_operation("copy")
                .with_key(from));
        };
        if from == to {
            return self.file_info(&src.id, to).await;
        }
        let folder = self.clear_destination(to).await?;
        let (_, name) = split_key(to);
        let url = self.api(&format!(
            "/files/{}/copy",
            files_http::encode::segment(&src.id)
        ));
        let body = json!({"parent": {"id": folder}, "name": name});
        let resp = self.send(self.inner.http.post(url).json(&body)).await?;
        if !resp.status().is_success() {
            return Err(status_error(resp, "copy a file")
                .await
                .with_operation("copy")
                .with_key(to));
        }
        let it: Item = json(resp, "a copied file").await?;
        Ok(it.meta(to))
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let Some((_, src)) = self.resolve(from).await? else {
            return Err(Error::not_found(format!("no file at `{from}`"))
                .with_operation("rename")
                .with_key(from));
        };
        if from == to {
            return Ok(());
        }
        let folder = self.clear_destination(to).await?;
        let (_, name) = split_key(to);
        let url = self.api(&format!("/files/{}", files_http::encode::segment(&src.id)));
        let body = json!({"parent": {"id": folder}, "name": name});
        let resp = self.send(self.inner.http.put(url).json(&body)).await?;
        if !resp.status().is_success() {
            return Err(status_error(resp, "move a file")
                .await
                .with_operation("rename")
                .with_key(to));
        }
        Ok(())
    }
}
