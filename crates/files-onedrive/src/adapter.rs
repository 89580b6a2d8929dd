//! The adapter: everyday operations on a drive's folder tree.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use files_core::{
    Adapter, ByteRange, ByteStream, Capabilities, Error, ErrorKind, GetResponse, ListPage,
    ListRequest, ObjectMeta, PresignMethod, PutOptions, Result, Resumability, Session,
    UploadFamily,
};
use files_http::TokenSource;
use files_http::reqwest::{self, header::RANGE};
use futures::StreamExt;
use serde_json::json;

use crate::api::*;
use crate::config::DriveRef;

/// A OneDrive or SharePoint drive of Microsoft Graph, addressed by paths under its root.
#[derive(Clone)]
pub struct OneDriveAdapter {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) endpoint: url::Url,
    /// Whether `endpoint` is Graph's own (upload URLs on Microsoft's storage hosts are trusted).
    pub(crate) default_endpoint: bool,
    pub(crate) drive: DriveRef,
    pub(crate) auth: TokenSource,
    /// API requests (redirects followed).
    pub(crate) http: reqwest::Client,
    /// Pre-authenticated URLs (upload sessions, downloads, copy monitors): never an
    /// `Authorization` header, no redirect followed.
    pub(crate) plain: reqwest::Client,
}

impl fmt::Debug for OneDriveAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneDriveAdapter")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("drive", &self.inner.drive)
            .field("auth", &self.inner.auth)
            .finish()
    }
}

/// How long `copy` waits for Graph's asynchronous copy to complete.
pub const COPY_WAIT: Duration = Duration::from_secs(600);

#[async_trait]
impl Adapter for OneDriveAdapter {
    fn provider(&self) -> &'static str {
        match self.inner.drive {
            DriveRef::Site(_) => "sharepoint",
            _ => "onedrive",
        }
    }

    fn target(&self) -> String {
        let ep = &self.inner.endpoint;
        let host = match ep.port() {
            Some(p) => format!("{}:{p}", ep.host_str().unwrap_or("")),
            None => ep.host_str().unwrap_or("").to_string(),
        };
        format!("{}@{host}", self.drive_label())
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

    fn validate_key(&self, key: &str) -> Result<()> {
        files_core::adapter::validate_key_default(key)?;
        if key.ends_with('/') {
            return Err(Error::invalid_input(
                "a OneDrive key names a file: it must not end with '/'",
            ));
        }
        for seg in key.split('/') {
            if seg.contains(['"', '*', ':', '<', '>', '?', '\\', '|']) {
                return Err(Error::invalid_input(
                    "OneDrive names cannot hold \" * : < > ? \\ |",
                ));
            }
            if seg.len() > 255 {
                return Err(Error::invalid_input(
                    "a OneDrive name is at most 255 characters",
                ));
            }
        }
        Ok(())
    }

    fn check_session(&self, session: &Session) -> Result<()> {
        self.check_upload_url(&session.id)
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
        if options.cache_control.is_some()
            || options.content_type.is_some()
            || !options.metadata.is_empty()
        {
            return Err(Error::not_supported(
                "OneDrive stores no content type, cache control or metadata",
            ));
        }
        self.put_streamed(key, body, len)
            .await
            .map_err(|e| e.with_operation("put").with_key(key))
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        Ok(meta_of(key, &self.file(key, "head").await?))
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResponse> {
        let item = self.file(key, "get").await?;
        let meta = meta_of(key, &item);
        let range = match range {
            Some(r) => r.resolve(meta.size)?,
            None => 0..meta.size,
        };
        let run = async {
            let url = item.download_url.clone().ok_or_else(|| {
                Error::new(ErrorKind::Other, "Graph gave the file no download URL")
            })?;
            // The download URL is pre-authenticated: no Authorization goes with it.
            let mut req = self.inner.plain.get(url);
            let partial = range != (0..meta.size);
            if partial {
                if range.is_empty() {
                    return Ok(futures::stream::empty().boxed());
                }
                req = req.header(RANGE, format!("bytes={}-{}", range.start, range.end - 1));
            }
            let what = "download the file";
            let resp = req
                .send()
                .await
                .map_err(|e| files_http::transport_error(e, what))?;
            if !resp.status().is_success() {
                return Err(files_http::error_from_response(resp, what, graph_detail).await);
            }
            if partial && resp.status().as_u16() != 206 {
                return Err(Error::new(
                    ErrorKind::Other,
                    "the download URL ignored the Range header",
                ));
            }
            Ok(resp.bytes_stream().map(|r| r.map_err(transport)).boxed())
        };
        let stream = run
            .await
            .map_err(|e: Error| e.with_operation("get").with_key(key))?;
        Ok(GetResponse {
            meta,
            range,
            stream,
        })
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let run = async {
            let Some(item) = self.item(key).await? else {
                return Ok(());
            };
            if item.folder.is_some() {
                // A key names a file; a folder of that name holds other keys.
                return Ok(());
            }
            let req = self.inner.http.delete(self.id_url(&item.id));
            match self.send(req, "delete the file").await {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            }
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
                    "OneDrive lists with the '/' delimiter only",
                ));
            }
        };
        let (dir_key, stem) = match request.prefix.rfind('/') {
            Some(i) => request.prefix.split_at(i + 1),
            None => ("", request.prefix.as_str()),
        };
        let folder = dir_key.trim_end_matches('/');
        let mut entries = Vec::new();
        self.walk(folder, dir_key, stem, delimited, &mut entries)
            .await
            .map_err(|e| e.with_operation("list"))?;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        // The cursor is the last key returned: the next page starts after it.
        let mut page = files_core::listing::PageBuilder::new(
            request.cursor.as_deref(),
            request.limit.unwrap_or(usize::MAX),
        );
        for (k, m) in entries {
            if page.emit(k, m) == files_core::listing::Flow::Stop {
                break;
            }
        }
        Ok(page.finish())
    }

    async fn copy(&self, from: &str, to: &str) -> Result<ObjectMeta> {
        let src = self.file(from, "copy").await?;
        let run = async {
            let (dirs, name) = split_key(to);
            let parent = self.ensure_folder(&dirs).await?;
            let mut parent_ref = json!({ "id": parent.id });
            if let Some(d) = src
                .parent_reference
                .as_ref()
                .and_then(|p| p.drive_id.clone())
            {
                parent_ref["driveId"] = json!(d);
            }
            let req = self
                .inner
                .http
                .post(format!(
                    "{}/copy?@microsoft.graph.conflictBehavior=replace",
                    self.id_url(&src.id)
                ))
                .json(&json!({ "parentReference": parent_ref, "name": name }));
            let resp = self.send(req, "copy the file").await?;
            let monitor = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Other,
                        "Graph accepted a copy but named no monitor",
                    )
                })?;
            self.await_copy(&monitor).await?;
            self.file(to, "copy").await.map(|i| meta_of(to, &i))
        };
        run.await
            .map_err(|e: Error| e.with_operation("copy").with_key(from))
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let src = self.file(from, "rename").await?;
        let run = async {
            let (dirs, name) = split_key(to);
            let parent = self.ensure_folder(&dirs).await?;
            let body = json!({ "parentReference": { "id": parent.id }, "name": name });
            let url = format!(
                "{}?@microsoft.graph.conflictBehavior=replace",
                self.id_url(&src.id)
            );
            match self
                .send(self.inner.http.patch(&url).json(&body), "move the file")
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    // A file is at `to` and the service would not replace it: replace it.
                    match self.item(to).await? {
                        Some(i) if i.folder.is_none() && i.id != src.id => {
                            self.send(
                                self.inner.http.delete(self.id_url(&i.id)),
                                "delete the file",
                            )
                            .await?;
                            self.send(self.inner.http.patch(&url).json(&body), "move the file")
                                .await
                                .map(|_| ())
                        }
                        _ => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        };
        run.await
            .map_err(|e: Error| e.with_operation("rename").with_key(from))
    }

    async fn presign(&self, key: &str, method: PresignMethod, expires: Duration) -> Result<String> {
        if method != PresignMethod::Get {
            return Err(Error::not_supported(
                "OneDrive has no presigned upload URL (upload sessions are the equivalent)",
            ));
        }
        if expires > Duration::from_secs(3600) {
            return Err(Error::not_supported(
                "a OneDrive download URL lives about an hour; it cannot be asked to live longer",
            ));
        }
        let item = self.file(key, "presign").await?;
        item.download_url.ok_or_else(|| {
            Error::new(ErrorKind::Other, "Graph gave the file no download URL")
                .with_operation("presign")
                .with_key(key)
        })
    }
}

impl OneDriveAdapter {
    /// Lists `folder` (a path, `""` the root) into `out`: files as objects, folders as
    /// prefixes (`delimited`) or walked (not). Only names starting with `stem` count.
    pub(crate) async fn walk(
        &self,
        folder: &str,
        dir_key: &str,
        stem: &str,
        delimited: bool,
        out: &mut Vec<(String, Option<ObjectMeta>)>,
    ) -> Result<()> {
        let mut stack = vec![(folder.to_string(), dir_key.to_string(), stem.to_string())];
        while let Some((folder, dir_key, stem)) = stack.pop() {
            let mut next = Some(self.action_url(&folder, "children"));
            while let Some(url) = next.take() {
                self.check_api_url(&url)?;
                let page: Children =
                    match self.json(self.inner.http.get(&url), "list a folder").await {
                        Ok(p) => p,
                        Err(e) if e.kind() == ErrorKind::NotFound => break,
                        Err(e) => return Err(e),
                    };
                for item in page.value {
                    if !item.name.starts_with(&stem) {
                        continue;
                    }
                    let key = format!("{dir_key}{}", item.name);
                    match &item.folder {
                        Some(f) if delimited => {
                            if f.child_count.unwrap_or(1) > 0 {
                                out.push((format!("{key}/"), None));
                            }
                        }
                        Some(_) => {
                            let sub = if folder.is_empty() {
                                item.name.clone()
                            } else {
                                format!("{folder}/{}", item.name)
                            };
                            stack.push((sub, format!("{key}/"), String::new()));
                        }
                        None => out.push((key.clone(), Some(meta_of(&key, &item)))),
                    }
                }
                next = page.next_link;
            }
        }
        Ok(())
    }

    /// A URL from an API answer (`@odata.nextLink`) is only followed with the token on the
    /// configured endpoint.
    fn check_api_url(&self, url: &str) -> Result<()> {
        let u = url::Url::parse(url)
            .map_err(|_| Error::new(ErrorKind::Other, "Graph answered a link that is not a URL"))?;
        let ep = &self.inner.endpoint;
        if u.scheme() != ep.scheme()
            || u.host_str() != ep.host_str()
            || u.port_or_known_default() != ep.port_or_known_default()
        {
            return Err(Error::new(
                ErrorKind::Other,
                "Graph answered a next-page link on another host; the token is not sent there",
            ));
        }
        Ok(())
    }

    /// Polls a copy monitor (pre-authenticated: no `Authorization`) until it says
    /// `completed` or `failed`, at most [`COPY_WAIT`].
    async fn await_copy(&self, monitor: &str) -> Result<()> {
        let start = tokio::time::Instant::now();
        let mut wait = Duration::from_millis(50);
        loop {
            let what = "poll a copy";
            let resp = self
                .inner
                .plain
                .get(monitor)
                .send()
                .await
                .map_err(|e| files_http::transport_error(e, what))?;
            let code = resp.status().as_u16();
            if code == 303 {
                return Ok(());
            }
            if !resp.status().is_success() {
                return Err(files_http::error_from_response(resp, what, graph_detail).await);
            }
            let body = resp
                .bytes()
                .await
                .map_err(|e| files_http::transport_error(e, what))?;
            let st: CopyStatus = serde_json::from_slice(&body).map_err(|e| {
                Error::new(ErrorKind::Other, format!("unreadable copy status: {e}"))
            })?;
            match st.status.as_deref() {
                Some("completed") => return Ok(()),
                Some("failed") => {
                    let why = st
                        .error
                        .as_ref()
                        .and_then(|e| e.get("code").or_else(|| e.get("message")))
                        .and_then(|v| v.as_str())
                        .unwrap_or("no reason given");
                    return Err(Error::new(
                        ErrorKind::Other,
                        format!("Graph's copy failed: {}", Error::redacted(why)),
                    ));
                }
                _ => {}
            }
            if start.elapsed() + wait > COPY_WAIT {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "Graph's copy did not complete within {} s",
                        COPY_WAIT.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        }
    }
}
