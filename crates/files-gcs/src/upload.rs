//! Uploads: the offset family over Google's resumable sessions, and streamed bodies.

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use files_core::Adapter;
use files_core::{
    ByteStream, Error, ErrorKind, ObjectMeta, OffsetState, OffsetUpload, PartRules, PutOptions,
    Result, Resumability, Session, UploadSpec,
};
use futures::StreamExt;

use crate::adapter::GcsAdapter;
use crate::api::now_secs;
use crate::resumable::{self, CancelOutcome, SessionStatus, SessionUrl};

#[async_trait]
impl OffsetUpload for GcsAdapter {
    fn rules(&self) -> PartRules {
        resumable::chunk_rules()
    }

    fn resumability(&self) -> Resumability {
        Resumability::CrossProcess
    }

    async fn begin(&self, spec: &UploadSpec) -> Result<Session> {
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
        let url = self.session_url(spec, session)?;
        match self
            .inner
            .protocol
            .query(&url, None, Some(spec.total))
            .await
        {
            Ok(SessionStatus::Persisted(n)) => Ok(OffsetState::Offset(n)),
            Ok(SessionStatus::Complete(body)) => {
                Ok(OffsetState::Finished(self.meta_from_body(&body)?))
            }
            Err(e) if e.kind() == ErrorKind::SessionExpired && self.inner.quirks => {
                // gcp-storage-emulator forgets a session once it finalized it: a whole object
                // of the session's size at the key is taken as the finished upload.
                match self.head(&spec.key).await {
                    Ok(meta) if meta.size == spec.total => Ok(OffsetState::Finished(meta)),
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
        .map_err(|e| e.with_operation("probe").with_key(&spec.key))
    }

    async fn append(
        &self,
        spec: &UploadSpec,
        session: &Session,
        offset: u64,
        data: Bytes,
        _last: bool,
    ) -> Result<OffsetState> {
        let url = self.session_url(spec, session)?;
        match self
            .inner
            .protocol
            .put_chunk(&url, None, offset, data, Some(spec.total))
            .await
            .map_err(|e| e.with_operation("append").with_key(&spec.key))?
        {
            SessionStatus::Persisted(n) => Ok(OffsetState::Offset(n)),
            SessionStatus::Complete(body) => Ok(OffsetState::Finished(self.meta_from_body(&body)?)),
        }
    }

    async fn finish(&self, spec: &UploadSpec, session: &Session) -> Result<ObjectMeta> {
        // With a known total the session completes with its last chunk; if every byte is there
        // but no answer said so, the status query finalizes it (nothing is re-sent).
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
        self.check_bound(spec, session)
            .map_err(|e| e.with_operation("cancel").with_key(&spec.key))?;
        let url = SessionUrl::new(session.id.clone());
        match self
            .inner
            .protocol
            .cancel(&url, None)
            .await
            .map_err(|e| e.with_operation("cancel").with_key(&spec.key))?
        {
            CancelOutcome::Cancelled | CancelOutcome::AlreadyGone => Ok(()),
            CancelOutcome::Unsupported => self.emulator_cancel(spec, &url).await,
        }
    }
}

impl GcsAdapter {
    /// gcp-storage-emulator answers DELETE with 501. It does drop a session that it finalizes,
    /// so, when no object exists at the key (nothing to clobber), the session is finalized as
    /// an empty object (`bytes */0`) which is then deleted. With an object at the key the
    /// session is left to the emulator (and reported in the log).
    async fn emulator_cancel(&self, spec: &UploadSpec, url: &SessionUrl) -> Result<()> {
        match self.head(&spec.key).await {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                match self.inner.protocol.query(url, None, Some(0)).await {
                    Ok(SessionStatus::Complete(_)) => self.delete(&spec.key).await,
                    Ok(SessionStatus::Persisted(_)) => Ok(()),
                    Err(e) if e.kind() == ErrorKind::SessionExpired => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Ok(_) => {
                tracing::warn!(
                    key = %spec.key,
                    "the emulator cannot cancel resumable sessions; the session is left open"
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

impl GcsAdapter {
    /// Streams a body of unknown (or large) length into a resumable session, in aligned chunks
    /// sent with `bytes S-E/*`, the last one with the total.
    pub(crate) async fn put_streamed(
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
        loop {
            while !done && buf.len() < chunk + 1 {
                match body.next().await {
                    Some(Ok(b)) => buf.extend_from_slice(&b),
                    Some(Err(e)) => {
                        if let Some(s) = &session {
                            let _ = self.inner.protocol.cancel(s, None).await;
                        }
                        return Err(e);
                    }
                    None => done = true,
                }
            }
            // The first chunk is read before the session starts: a body that fits in one
            // chunk goes in one request, and a source on the same single-threaded server
            // (an emulator) is drained before the next request is sent.
            let session = match &session {
                Some(s) => s.clone(),
                None if done && buf.len() <= chunk => {
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
                (data.clone(), Some(offset + data.len() as u64))
            } else {
                (buf.split_to(chunk).freeze(), None)
            };
            let len = data.len() as u64;
            match self
                .inner
                .protocol
                .put_chunk(&session, None, offset, data, total)
                .await?
            {
                SessionStatus::Complete(body) => return self.meta_from_body(&body),
                SessionStatus::Persisted(n) if n == offset + len => offset = n,
                SessionStatus::Persisted(n) => {
                    return Err(Error::transient(format!(
                        "the service persisted {n} bytes of a streamed upload, expected {}",
                        offset + len
                    )));
                }
            }
        }
    }

    /// The session URL of a token's session: refused when the session is past its lifetime or
    /// was not started for `spec.key` ([`Self::check_bound`]).
    pub(crate) fn session_url(&self, spec: &UploadSpec, session: &Session) -> Result<SessionUrl> {
        if let Some(exp) = session.expires_at
            && exp <= now_secs()
        {
            return Err(Error::new(
                ErrorKind::SessionExpired,
                "session expired: the resumable upload session is older than a week; the upload must start again",
            ));
        }
        self.check_bound(spec, session)?;
        Ok(SessionUrl::new(session.id.clone()))
    }

    /// Refuses a session that was not started for `spec.key`: the key recorded at `begin`
    /// must match, and so must the object name a GCS session URL carries (`name=`), when it
    /// carries one. Runs before any request with the session.
    pub(crate) fn check_bound(&self, spec: &UploadSpec, session: &Session) -> Result<()> {
        session.check_bound_to(&spec.key)?;
        match resumable::session_url_param(&session.id, "name") {
            Some(name) if name != spec.key => Err(Error::token_invalid(
                "the token's session URL names another object; refusing to send this key's bytes into it",
            )),
            _ => Ok(()),
        }
    }
}
