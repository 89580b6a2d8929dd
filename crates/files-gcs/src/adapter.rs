//! The adapter: everyday operations on a bucket.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use files_core::ByteStream;
use files_core::{
    Adapter, ByteRange, Capabilities, Error, ErrorKind, GetResponse, ListPage, ListRequest,
    ObjectMeta, PresignMethod, PutOptions, Result, Resumability, Session, UploadFamily,
};
use files_http::Auth;
use files_http::encode::segment as encode;
use futures::{StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_TYPE, RANGE};
use serde_json::Value;

use crate::api::{base, meta_from_resource, status_error, transport};
use crate::resumable::{self, ResumableProtocol};
use crate::sign;

/// A Google Cloud Storage bucket (or a Firebase Storage bucket, see [`firebase`]).
#[derive(Clone)]
pub struct GcsAdapter {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) provider: &'static str,
    pub(crate) bucket: String,
    pub(crate) endpoint: url::Url,
    pub(crate) auth: Auth,
    pub(crate) protocol: ResumableProtocol,
    pub(crate) quirks: bool,
    pub(crate) signer: Option<sign::Signer>,
    pub(crate) firebase_endpoint: url::Url,
}

impl fmt::Debug for GcsAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcsAdapter")
            .field("provider", &self.inner.provider)
            .field("bucket", &self.inner.bucket)
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("auth", &self.inner.auth)
            .field("emulator_quirks", &self.inner.quirks)
            .field("signer", &self.inner.signer.is_some())
            .finish()
    }
}

#[async_trait]
impl Adapter for GcsAdapter {
    fn provider(&self) -> &'static str {
        self.inner.provider
    }

    fn target(&self) -> String {
        let ep = &self.inner.endpoint;
        match ep.port() {
            Some(p) => format!("{}@{}:{p}", self.inner.bucket, ep.host_str().unwrap_or("")),
            None => format!("{}@{}", self.inner.bucket, ep.host_str().unwrap_or("")),
        }
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::minimal();
        c.range_read = true;
        c.content_type = true;
        c.metadata = true;
        c.cache_control = true;
        c.server_side_copy = true;
        c.native_rename = false;
        c.list_delimiter = true;
        c.presign_get = self.inner.signer.is_some();
        c.presign_put = self.inner.signer.is_some();
        c.resumable = Resumability::CrossProcess;
        c
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
        let small = resumable::chunk_rules().default_part_size;
        match len {
            Some(n) if n <= small => {
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
                self.put_small(key, buf.freeze(), options).await
            }
            _ => self.put_streamed(key, body, options).await,
        }
        .map_err(|e| e.with_operation("put").with_key(key))
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        let resp = self.send(self.http().get(self.object_path(key))).await?;
        if !resp.status().is_success() {
            return Err(status_error(resp, "read the object's metadata")
                .await
                .with_operation("head")
                .with_key(key));
        }
        let v: Value = resp.json().await.map_err(transport)?;
        meta_from_resource(&v)
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResponse> {
        let meta = self.head(key).await?;
        let range = match range {
            Some(r) => r.resolve(meta.size)?,
            None => 0..meta.size,
        };
        let generation = meta.etag.clone();
        let mut req = self
            .http()
            .get(format!("{}?alt=media", self.object_path(key)));
        if range != (0..meta.size) {
            req = req.header(RANGE, format!("bytes={}-{}", range.start, range.end - 1));
        }
        let _ = generation;
        let resp = self.send(req).await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(status_error(resp, "download the object")
                .await
                .with_operation("get")
                .with_key(key));
        }
        if status.as_u16() == 200 && range != (0..meta.size) {
            return Err(Error::new(
                ErrorKind::Other,
                "the service ignored the Range header",
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
        let resp = self.send(self.http().delete(self.object_path(key))).await?;
        match resp.status().as_u16() {
            200..=299 | 404 => Ok(()),
            _ => Err(status_error(resp, "delete the object")
                .await
                .with_operation("delete")
                .with_key(key)),
        }
    }

    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        // A cursor is the service's pageToken, or `fgcs:<skip>:<pageToken>` when a server
        // that ignores maxResults (gcp-storage-emulator) answered more than the limit.
        let (skip, server_token) = match request.cursor.as_deref() {
            Some(c) => match c.strip_prefix("fgcs:").and_then(|r| r.split_once(':')) {
                Some((n, t)) => (n.parse::<usize>().unwrap_or(0), t),
                None => (0, c),
            },
            None => (0, ""),
        };
        let mut url = url::Url::parse(&format!(
            "{}storage/v1/b/{}/o",
            base(&self.inner.endpoint),
            self.inner.bucket
        ))
        .map_err(|e| Error::invalid_input(format!("list URL: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            if !request.prefix.is_empty() {
                q.append_pair("prefix", &request.prefix);
            }
            if let Some(d) = &request.delimiter {
                q.append_pair("delimiter", d);
            }
            if !server_token.is_empty() {
                q.append_pair("pageToken", server_token);
            }
            if let Some(l) = request.limit {
                q.append_pair("maxResults", &l.clamp(1, 1000).to_string());
            }
        }
        let resp = self.send(self.http().get(url)).await?;
        if !resp.status().is_success() {
            return Err(status_error(resp, "list objects")
                .await
                .with_operation("list"));
        }
        let v: Value = resp.json().await.map_err(transport)?;
        let mut page = ListPage::default();
        let server_token: &str = server_token;
        if let Some(Value::Array(items)) = v.get("items") {
            for item in items {
                page.objects.push(meta_from_resource(item)?);
            }
        }
        if let Some(Value::Array(prefixes)) = v.get("prefixes") {
            page.prefixes = prefixes
                .iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect();
        }
        page.objects.sort_by(|a, b| a.key.cmp(&b.key));
        page.prefixes.sort();
        let next = v
            .get("nextPageToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let count = page.objects.len() + page.prefixes.len();
        let limit = request.limit.unwrap_or(usize::MAX).max(1);
        if skip == 0 && count <= limit {
            page.cursor = next;
            return Ok(page);
        }
        // Cut the page client-side: entries in name order, skip, take the limit.
        let mut entries: Vec<(String, Option<ObjectMeta>)> = page
            .objects
            .into_iter()
            .map(|o| (o.key.clone(), Some(o)))
            .chain(page.prefixes.into_iter().map(|p| (p, None)))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let rest: Vec<_> = entries.into_iter().skip(skip).collect();
        let more = rest.len() > limit;
        let mut out = ListPage::default();
        for (name, meta) in rest.into_iter().take(limit) {
            match meta {
                Some(m) => out.objects.push(m),
                None => out.prefixes.push(name),
            }
        }
        out.cursor = if more {
            Some(format!("fgcs:{}:{server_token}", skip + limit))
        } else {
            next
        };
        Ok(out)
    }

    async fn copy(&self, from: &str, to: &str) -> Result<ObjectMeta> {
        let url = format!(
            "{}/rewriteTo/b/{}/o/{}",
            self.object_path(from),
            self.inner.bucket,
            encode(to)
        );
        let mut token: Option<String> = None;
        for _ in 0..10_000 {
            let mut u = url::Url::parse(&url).map_err(|e| Error::invalid_input(e.to_string()))?;
            if let Some(t) = &token {
                u.query_pairs_mut().append_pair("rewriteToken", t);
            }
            let req = self
                .http()
                .post(u)
                .header(CONTENT_TYPE, "application/json")
                .body("{}");
            let resp = self.send(req).await?;
            if !resp.status().is_success() {
                return Err(status_error(resp, "copy the object")
                    .await
                    .with_operation("copy")
                    .with_key(from));
            }
            let v: Value = resp.json().await.map_err(transport)?;
            if v.get("done").and_then(Value::as_bool).unwrap_or(false) {
                let resource = v.get("resource").ok_or_else(|| {
                    Error::new(ErrorKind::Other, "a finished rewrite named no resource")
                })?;
                return meta_from_resource(resource);
            }
            token = v
                .get("rewriteToken")
                .and_then(Value::as_str)
                .map(str::to_string);
            if token.is_none() {
                return Err(Error::new(
                    ErrorKind::Other,
                    "an unfinished rewrite gave no rewriteToken",
                ));
            }
        }
        Err(Error::new(ErrorKind::Other, "the rewrite never finished"))
    }

    async fn presign(&self, key: &str, method: PresignMethod, expires: Duration) -> Result<String> {
        let signer = self.inner.signer.as_ref().ok_or_else(|| {
            Error::not_supported(
                "signed URLs need a service-account key (GcsBuilder::service_account_json)",
            )
        })?;
        signer.sign_url(
            &self.inner.endpoint,
            &self.inner.bucket,
            key,
            method,
            expires,
            SystemTime::now(),
        )
    }
}

impl GcsAdapter {
    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.inner.bucket
    }

    /// The JSON API endpoint requests go to.
    pub fn endpoint(&self) -> &url::Url {
        &self.inner.endpoint
    }
}
