//! Uploads: simple `PUT`s for small bodies, and the offset family over Graph upload sessions.

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use files_core::{
    ByteStream, Error, ErrorKind, ObjectMeta, OffsetState, OffsetUpload, PartRules, Result,
    Resumability, Session, UploadSpec,
};
use files_http::reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE};
use files_http::session::{SessionUrl, session_gone};
use futures::StreamExt;
use serde_json::json;

use crate::adapter::OneDriveAdapter;
use crate::api::*;
use crate::{FRAGMENT_ALIGN, MAX_FRAGMENT, SIMPLE_UPLOAD_LIMIT};

/// The `extra` field of a session holding when it began (Unix seconds).
const STARTED: &str = "started";

/// What a fragment or a status query says.
enum Answer {
    /// The session expects this byte next.
    Next(u64),
    /// The file is committed; the body is the driveItem.
    Done(Bytes),
}

/// Chunk rules of Graph upload sessions: fragments that are multiples of 320 KiB (except the
/// last), under 60 MiB; default 32 × 320 KiB = 10 MiB, the top of Microsoft's recommended
/// 5–10 MiB.
pub const fn graph_fragment_rules() -> PartRules {
    PartRules {
        min_part_size: FRAGMENT_ALIGN,
        max_part_size: MAX_FRAGMENT,
        alignment: FRAGMENT_ALIGN,
        max_parts: u64::MAX,
        default_part_size: 32 * FRAGMENT_ALIGN,
    }
}

#[async_trait]
impl OffsetUpload for OneDriveAdapter {
    fn rules(&self) -> PartRules {
        graph_fragment_rules()
    }

    fn resumability(&self) -> Resumability {
        Resumability::CrossProcess
    }

    async fn begin(&self, spec: &UploadSpec) -> Result<Session> {
        let run = async {
            let o = &spec.options;
            if o.cache_control.is_some() || o.content_type.is_some() || !o.metadata.is_empty() {
                return Err(Error::not_supported(
                    "OneDrive stores no content type, cache control or metadata",
                ));
            }
            let (url, expires) = self.create_session(&spec.key).await?;
            let mut session = Session::new(url.expose());
            session.sensitive = true;
            session.expires_at = expires;
            session
                .extra
                .insert(STARTED.to_string(), now_secs().to_string());
            session.bind_to_key(&spec.key);
            Ok(session)
        };
        run.await
            .map_err(|e: Error| e.with_operation("begin").with_key(&spec.key))
    }

    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<OffsetState> {
        let run = async {
            let url = self.session_url(spec, session)?;
            match self.query(&url, spec.total).await {
                Ok(Answer::Next(n)) => Ok(OffsetState::Offset(n)),
                Ok(Answer::Done(body)) => {
                    Ok(OffsetState::Finished(meta_from_body(&spec.key, &body)?))
                }
                Err(e) if e.kind() == ErrorKind::SessionExpired => {
                    // A committed session is gone too: if the file at the key is this
                    // upload's (the body's size, written since the session began), it is done.
                    self.committed_since(spec, session)
                        .await?
                        .map(OffsetState::Finished)
                        .ok_or(e)
                }
                Err(e) => Err(e),
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
            let answer = match self.put_fragment(&url, offset, data, spec.total).await? {
                Some(a) => a,
                // 416: the session already has (some of) these bytes: ask where it stands.
                None => self.query(&url, spec.total).await?,
            };
            match answer {
                Answer::Next(n) => Ok(OffsetState::Offset(n)),
                Answer::Done(body) => Ok(OffsetState::Finished(meta_from_body(&spec.key, &body)?)),
            }
        };
        run.await
            .map_err(|e: Error| e.with_operation("append").with_key(&spec.key))
    }

    async fn finish(&self, spec: &UploadSpec, session: &Session) -> Result<ObjectMeta> {
        if spec.total == 0 {
            // A session cannot take an empty file: write it in one request, drop the session.
            let meta = self
                .put_simple(&spec.key, Bytes::new())
                .await
                .map_err(|e| e.with_operation("finish").with_key(&spec.key))?;
            let _ = self.cancel(spec, session).await;
            return Ok(meta);
        }
        // The last fragment commits the file; if every byte is there but no answer said so,
        // the status query (or the committed file) does.
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
            self.check_session_url(session)?;
            session.check_bound_to(&spec.key)?;
            let what = "cancel an upload session";
            let resp = self
                .inner
                .plain
                .delete(session.id.as_str())
                .header(CONTENT_LENGTH, 0)
                .send()
                .await
                .map_err(|e| files_http::transport_error(e, what))?;
            match resp.status().as_u16() {
                200..=299 | 404 | 410 => Ok(()),
                _ => Err(files_http::error_from_response(resp, what, graph_detail).await),
            }
        };
        run.await
            .map_err(|e: Error| e.with_operation("cancel").with_key(&spec.key))
    }
}

impl OneDriveAdapter {
    /// `POST root:/{key}:/createUploadSession` (replace on conflict): the upload URL and its
    /// expiry.
    async fn create_session(&self, key: &str) -> Result<(SessionUrl, Option<u64>)> {
        let req = self
            .inner
            .http
            .post(self.action_url(key, "createUploadSession"))
            .json(&json!({ "item": { "@microsoft.graph.conflictBehavior": "replace" } }));
        let info: UploadSessionInfo = self.json(req, "start an upload session").await?;
        let url = info.upload_url.ok_or_else(|| {
            Error::new(
                ErrorKind::Other,
                "Graph started an upload session but sent no uploadUrl",
            )
        })?;
        // Checked before the first byte goes there, as a token's would be.
        self.check_upload_url(&url)?;
        let expires = info
            .expiration_date_time
            .as_deref()
            .and_then(files_http::time::parse_rfc3339)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        Ok((SessionUrl::new(url), expires))
    }

    /// `PUT` one fragment (no `Authorization`: the upload URL is pre-authenticated).
    /// `Ok(None)`: `416`, the session already holds these bytes.
    async fn put_fragment(
        &self,
        url: &SessionUrl,
        offset: u64,
        data: Bytes,
        total: u64,
    ) -> Result<Option<Answer>> {
        let what = "upload a fragment";
        let end = offset + data.len() as u64;
        if data.is_empty() || end > total {
            return Err(Error::invalid_input(
                "a fragment is empty or runs past the body",
            ));
        }
        let resp = self
            .inner
            .plain
            .put(url.expose())
            .header(CONTENT_LENGTH, data.len())
            .header(CONTENT_RANGE, format!("bytes {offset}-{}/{total}", end - 1))
            .body(data)
            .send()
            .await
            .map_err(|e| files_http::transport_error(e, what))?;
        match resp.status().as_u16() {
            416 => Ok(None),
            400 => {
                let err = files_http::error_from_response(resp, what, graph_detail).await;
                if err.message().contains("invalidRange") {
                    // Out of order: the caller asks where the session stands.
                    Err(Error::conflict(err.message().to_string()).with_retryable(false))
                } else {
                    Err(err)
                }
            }
            _ => self.read_answer(resp, what, total).await.map(Some),
        }
    }

    /// `GET` the upload URL: where the session stands.
    async fn query(&self, url: &SessionUrl, total: u64) -> Result<Answer> {
        let what = "query an upload session";
        let resp = self
            .inner
            .plain
            .get(url.expose())
            .send()
            .await
            .map_err(|e| files_http::transport_error(e, what))?;
        self.read_answer(resp, what, total).await
    }

    async fn read_answer(
        &self,
        resp: files_http::reqwest::Response,
        what: &str,
        total: u64,
    ) -> Result<Answer> {
        let status = resp.status();
        if matches!(status.as_u16(), 404 | 410) {
            return Err(session_gone(status));
        }
        if !status.is_success() {
            return Err(files_http::error_from_response(resp, what, graph_detail).await);
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| files_http::transport_error(e, what))?;
        let info: Option<UploadSessionInfo> = serde_json::from_slice(&body).ok();
        match info.and_then(|i| i.next_expected_ranges) {
            Some(ranges) => Ok(Answer::Next(first_expected(&ranges, total)?)),
            None if status.as_u16() == 202 => Err(Error::new(
                ErrorKind::Other,
                format!("could not {what}: Graph answered 202 without nextExpectedRanges"),
            )),
            None => Ok(Answer::Done(body)),
        }
    }

    /// After a `404` from the session: the file at the key if it is this upload's result.
    async fn committed_since(
        &self,
        spec: &UploadSpec,
        session: &Session,
    ) -> Result<Option<ObjectMeta>> {
        let Some(started) = session
            .extra
            .get(STARTED)
            .and_then(|s| s.parse::<u64>().ok())
        else {
            return Ok(None);
        };
        let Some(item) = self.item(&spec.key).await? else {
            return Ok(None);
        };
        if item.folder.is_some() {
            return Ok(None);
        }
        let meta = meta_of(&spec.key, &item);
        let modified = meta
            .last_modified
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        // Two seconds of clock skew between this host and the service are tolerated.
        let fresh = modified.is_some_and(|m| m + 2 >= started);
        Ok((meta.size == spec.total && fresh).then_some(meta))
    }

    /// `PUT root:/{key}:/content`: a small file in one request (parent folders are created).
    pub(crate) async fn put_simple(&self, key: &str, data: Bytes) -> Result<ObjectMeta> {
        let req = self
            .inner
            .http
            .put(self.action_url(key, "content"))
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(data);
        let item: Item = self.json(req, "upload the file").await?;
        Ok(meta_of(key, &item))
    }

    /// A one-shot upload: a simple `PUT` up to 4 MiB, else a session fed in fragments (a body
    /// of unknown length above 4 MiB is held in memory first: Graph needs the total).
    pub(crate) async fn put_streamed(
        &self,
        key: &str,
        mut body: ByteStream,
        len: Option<u64>,
    ) -> Result<ObjectMeta> {
        let chunk = graph_fragment_rules().default_part_size as usize;
        let mut buf = BytesMut::new();
        let mut done = false;
        // Up to the simple-upload limit, plus one byte to know whether the body is larger.
        while !done && buf.len() as u64 <= SIMPLE_UPLOAD_LIMIT {
            match body.next().await {
                Some(Ok(b)) => buf.extend_from_slice(&b),
                Some(Err(e)) => return Err(e),
                None => done = true,
            }
        }
        if done && buf.len() as u64 <= SIMPLE_UPLOAD_LIMIT {
            return self.put_simple(key, buf.freeze()).await;
        }
        let total = match len {
            Some(t) => t,
            None => {
                while let Some(b) = body.next().await {
                    buf.extend_from_slice(&b?);
                }
                done = true;
                buf.len() as u64
            }
        };
        let (url, _) = self.create_session(key).await?;
        let mut offset = 0u64;
        let result = async {
            loop {
                while !done && buf.len() < chunk {
                    match body.next().await {
                        Some(Ok(b)) => buf.extend_from_slice(&b),
                        Some(Err(e)) => return Err(e),
                        None => done = true,
                    }
                }
                let n = buf.len().min(chunk);
                if n == 0 || offset + n as u64 > total || (n < chunk && offset + (n as u64) < total)
                {
                    return Err(Error::invalid_input(format!(
                        "the body's length differs from the declared {total} bytes"
                    )));
                }
                let data = buf.split_to(n).freeze();
                match self.put_fragment(&url, offset, data, total).await? {
                    Some(Answer::Done(body)) => return meta_from_body(key, &body),
                    Some(Answer::Next(next)) if next == offset + n as u64 => offset = next,
                    other => {
                        let got = match other {
                            Some(Answer::Next(x)) => x.to_string(),
                            _ => "an overlap".to_string(),
                        };
                        return Err(Error::transient(format!(
                            "Graph expected byte {got} after a fragment ending at {}",
                            offset + n as u64
                        )));
                    }
                }
            }
        }
        .await;
        if result.is_err() {
            let _ = self.inner.plain.delete(url.expose()).send().await;
        }
        result
    }

    /// The upload URL of a token's session, checked before any request with it.
    fn session_url(&self, spec: &UploadSpec, session: &Session) -> Result<SessionUrl> {
        self.check_session_url(session)?;
        session.check_bound_to(&spec.key)?;
        Ok(SessionUrl::new(session.id.clone()))
    }

    fn check_session_url(&self, session: &Session) -> Result<()> {
        if session.id.is_empty() {
            return Err(Error::token_invalid("the token names no upload session"));
        }
        self.check_upload_url(&session.id)
    }

    /// An upload URL is trusted on the configured endpoint's origin or, with Graph's own
    /// endpoint only, on Microsoft's storage hosts (`*.sharepoint.com`, `*.sharepoint-df.com`,
    /// `api.onedrive.com`, `*.files.1drv.com`, `*.up.1drv.com`) over HTTPS. Never quotes it.
    pub(crate) fn check_upload_url(&self, url: &str) -> Result<()> {
        if files_http::session::check_same_origin(url, &self.inner.endpoint, "/").is_ok() {
            return Ok(());
        }
        let refuse = || {
            Error::token_invalid(
                "the token's upload URL is not on the configured endpoint or a Microsoft storage host; refusing to send bytes to another host",
            )
        };
        if !self.inner.default_endpoint {
            return Err(refuse());
        }
        let u = url::Url::parse(url).map_err(|_| refuse())?;
        let host = u.host_str().unwrap_or("").to_ascii_lowercase();
        let microsoft = host.ends_with(".sharepoint.com")
            || host.ends_with(".sharepoint-df.com")
            || host == "api.onedrive.com"
            || host.ends_with(".files.1drv.com")
            || host.ends_with(".up.1drv.com");
        if u.scheme() == "https"
            && microsoft
            && u.username().is_empty()
            && u.password().is_none()
            && u.port().is_none()
        {
            Ok(())
        } else {
            Err(refuse())
        }
    }
}
