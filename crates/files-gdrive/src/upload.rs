//! Uploads: the offset family over Google's resumable sessions, and streamed bodies.

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use files_core::Adapter;
use files_core::{
    ByteStream, Error, ErrorKind, ObjectMeta, OffsetState, OffsetUpload, PartRules, PutOptions,
    Result, Resumability, Session, UploadSpec,
};
use files_http::session::{self as resumable, CancelOutcome, SessionStatus, SessionUrl};
use futures::StreamExt;

use crate::adapter::GDriveAdapter;
use crate::api::*;

#[async_trait]
impl OffsetUpload for GDriveAdapter {
    fn rules(&self) -> PartRules {
        resumable::google_chunk_rules()
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
        session.expires_at = Some(now_secs() + resumable::GOOGLE_SESSION_LIFETIME.as_secs());
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

impl GDriveAdapter {
    /// Streams a body of unknown or large length into a session, in aligned chunks (`/*`), the
    /// last one with the total.
    pub(crate) async fn put_streamed(
        &self,
        key: &str,
        mut body: ByteStream,
        options: &PutOptions,
    ) -> Result<ObjectMeta> {
        let chunk = resumable::google_chunk_rules().default_part_size as usize;
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
    pub(crate) fn session_url(&self, spec: &UploadSpec, session: &Session) -> Result<SessionUrl> {
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
}
