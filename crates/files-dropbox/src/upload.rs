//! Uploads: the offset family over Dropbox upload sessions, and streamed bodies.
//!
//! Dropbox has no status call: `probe` appends nothing at offset 0 and reads the session's
//! offset from the `incorrect_offset` answer. An append that meets `incorrect_offset`
//! continues from `correct_offset` when the session holds exactly what this append sent (its
//! earlier answer was lost) or a prefix of it; any other offset is `conflict`, so the core
//! re-probes and continues from the truth.

use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use files_core::Adapter;
use files_core::{
    ByteStream, Error, ErrorKind, ObjectMeta, OffsetState, OffsetUpload, PartRules, Result,
    Resumability, Session, UploadSpec,
};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::adapter::{DropboxAdapter, check_hash};
use crate::api::{ApiError, FileMeta};
use crate::content_hash::{BLOCK, ContentHasher, content_hash};

/// Bodies up to this size go in one `files/upload`.
pub const SMALL_UPLOAD: u64 = 8 * 1024 * 1024;
/// The largest chunk: the biggest multiple of 4 MiB under Dropbox's 150 MiB per request.
pub const MAX_CHUNK: u64 = 148 * 1024 * 1024;
/// The largest file an upload session takes (2^41 − 2^22 bytes).
pub const MAX_FILE: u64 = (1 << 41) - (1 << 22);
/// How long Dropbox keeps an upload session.
pub const SESSION_LIFETIME_SECS: u64 = 7 * 24 * 3600;

/// What this process knows a session holds: the content hash of its first `upto` bytes, fed
/// from every append this process saw accepted, in order from byte 0 (a session begun in
/// another process, or with a gap, has none). Once finished, the whole file's hash stays so
/// that a retried finish (its answer lost) can recognise the file.
#[derive(Debug, Clone)]
pub(crate) enum Tracked {
    Appending {
        hasher: ContentHasher,
        upto: u64,
    },
    /// Finished by this process: the file's content hash if known, and the `rev` the finish
    /// answered.
    Finished {
        hash: Option<String>,
        rev: Option<String>,
    },
    /// Being finished without a whole-file hash: the file's `rev` at the key before the first
    /// finish attempt (`None`: no file).
    Unproven {
        rev_before: Option<String>,
    },
}

impl Default for Tracked {
    fn default() -> Self {
        Tracked::Appending {
            hasher: ContentHasher::new(),
            upto: 0,
        }
    }
}

/// How many finished uploads' hashes an adapter remembers.
const FINISHED_KEPT: usize = 256;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[async_trait]
impl OffsetUpload for DropboxAdapter {
    fn rules(&self) -> PartRules {
        PartRules {
            min_part_size: BLOCK as u64,
            max_part_size: MAX_CHUNK,
            alignment: BLOCK as u64,
            max_parts: MAX_FILE / BLOCK as u64,
            default_part_size: 2 * BLOCK as u64,
        }
    }

    fn resumability(&self) -> Resumability {
        Resumability::CrossProcess
    }

    async fn begin(&self, spec: &UploadSpec) -> Result<Session> {
        if spec.total > MAX_FILE {
            return Err(Error::invalid_input(format!(
                "Dropbox takes files of at most {MAX_FILE} bytes"
            )));
        }
        let id = self
            .start_session()
            .await
            .map_err(|e| e.with_operation("begin").with_key(&spec.key))?;
        self.inner
            .uploads
            .lock()
            .unwrap()
            .insert(id.clone(), Tracked::default());
        let mut session = Session::new(id);
        session.expires_at = Some(now_secs() + SESSION_LIFETIME_SECS);
        session.bind_to_key(&spec.key);
        Ok(session)
    }

    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<OffsetState> {
        self.check_usable(spec, session)
            .map_err(|e| e.with_operation("probe").with_key(&spec.key))?;
        match self.append_raw(session, 0, Bytes::new(), false).await {
            Ok(()) => Ok(OffsetState::Offset(0)),
            Err((_, Some(api))) if api.correct_offset.is_some() && api.has("incorrect_offset") => {
                Ok(OffsetState::Offset(api.correct_offset.unwrap_or(0)))
            }
            Err((e, _)) if e.kind() == ErrorKind::SessionExpired => {
                // A finish whose answer was lost leaves no session: the file is the upload's
                // only if its content hash is the one of every byte this process appended.
                match self.finished_here(spec, session).await {
                    Some(meta) => Ok(OffsetState::Finished(meta)),
                    None => Err(e),
                }
            }
            Err((e, _)) => Err(e),
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
        self.check_usable(spec, session)
            .map_err(|e| e.with_operation("append").with_key(&spec.key))?;
        let end = offset + data.len() as u64;
        match self.append_raw(session, offset, data.clone(), false).await {
            Ok(()) => {
                self.track(session, offset, &data);
                Ok(OffsetState::Offset(end))
            }
            Err((e, Some(api))) if api.has("incorrect_offset") => {
                match api.correct_offset {
                    // These bytes landed already (a lost answer): Dropbox checked their hash.
                    Some(n) if n == end && n > offset => {
                        self.track(session, offset, &data);
                        tracing::debug!(offset, correct_offset = n, "append had landed already");
                        Ok(OffsetState::Offset(n))
                    }
                    Some(n) if n > offset && n < end => {
                        self.track(session, offset, &data[..(n - offset) as usize]);
                        Ok(OffsetState::Offset(n))
                    }
                    _ => Err(e),
                }
            }
            Err((e, _)) => Err(e),
        }
        .map_err(|e| e.with_operation("append").with_key(&spec.key))
    }

    async fn finish(&self, spec: &UploadSpec, session: &Session) -> Result<ObjectMeta> {
        self.check_usable(spec, session)
            .map_err(|e| e.with_operation("finish").with_key(&spec.key))?;
        let whole = self.whole_hash(session, spec.total);
        let mut args = json!({
            "cursor": {"session_id": session.id, "offset": spec.total},
            "commit": {
                "path": self.path_of(&spec.key),
                "mode": "overwrite",
                "autorename": false,
                "mute": true,
                "strict_conflict": false,
            },
        });
        match &whole {
            Some(h) => args["content_hash"] = Value::String(h.clone()),
            None => self
                .record_rev_before(spec, session)
                .await
                .map_err(|e| e.with_operation("finish").with_key(&spec.key))?,
        }
        let result = match self
            .upload_raw(
                "upload_session/finish",
                &args,
                Bytes::new(),
                "finish the upload",
            )
            .await
        {
            Ok(v) => {
                let m = FileMeta::from_value(&v)?;
                if let Some(h) = &whole {
                    check_hash(&m, h)?;
                }
                if m.size != spec.total {
                    return Err(Error::conflict(format!(
                        "Dropbox finished a file of {} bytes, not {}",
                        m.size, spec.total
                    )));
                }
                Ok(self.meta(&spec.key, &m))
            }
            Err((e, _)) if e.kind() == ErrorKind::SessionExpired => {
                match self.finished_here(spec, session).await {
                    Some(meta) => Ok(meta),
                    None => Err(e),
                }
            }
            Err((e, _)) => Err(e),
        };
        if let Ok(meta) = &result {
            self.mark_finished(session, whole, meta.etag.clone());
        }
        result.map_err(|e| e.with_operation("finish").with_key(&spec.key))
    }

    async fn cancel(&self, spec: &UploadSpec, session: &Session) -> Result<()> {
        session
            .check_bound_to(&spec.key)
            .map_err(|e| e.with_operation("cancel").with_key(&spec.key))?;
        self.inner.uploads.lock().unwrap().remove(&session.id);
        // No abort exists: close the session (it then takes no more bytes, and a probe says
        // it is gone); its bytes stay at Dropbox until it expires.
        let close = async {
            let offset = match self.append_raw(session, 0, Bytes::new(), false).await {
                Ok(()) => 0,
                Err((_, Some(api))) if api.has("incorrect_offset") => {
                    api.correct_offset.unwrap_or(0)
                }
                Err((e, _)) => return Err(e),
            };
            self.append_raw(session, offset, Bytes::new(), true)
                .await
                .map_err(|(e, _)| e)
        };
        match close.await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::SessionExpired => {}
            Err(e) => return Err(e.with_operation("cancel").with_key(&spec.key)),
        }
        tracing::info!(
            key = %spec.key,
            "Dropbox cannot discard an upload session: it was closed and is left to expire (7 days after it started)"
        );
        Ok(())
    }
}

impl DropboxAdapter {
    async fn start_session(&self) -> Result<String> {
        let v = self
            .upload_raw(
                "upload_session/start",
                &json!({"close": false}),
                Bytes::new(),
                "start an upload session",
            )
            .await
            .map_err(|(e, _)| e)?;
        v.get("session_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| Error::new(ErrorKind::Other, "Dropbox answered no session_id"))
    }

    /// One `append_v2` carrying the content hash of its bytes.
    async fn append_raw(
        &self,
        session: &Session,
        offset: u64,
        data: Bytes,
        close: bool,
    ) -> std::result::Result<(), (Error, Option<ApiError>)> {
        let mut args = json!({
            "cursor": {"session_id": session.id, "offset": offset},
            "close": close,
        });
        if !data.is_empty() {
            args["content_hash"] = Value::String(content_hash(&data));
        }
        self.upload_raw(
            "upload_session/append_v2",
            &args,
            data,
            "append to the upload session",
        )
        .await
        .map(|_| ())
    }

    /// Refuses a session of another key, or one past its 7 days (before any request).
    fn check_usable(&self, spec: &UploadSpec, session: &Session) -> Result<()> {
        session.check_bound_to(&spec.key)?;
        if let Some(exp) = session.expires_at
            && exp <= now_secs()
        {
            return Err(Error::new(
                ErrorKind::SessionExpired,
                "session expired: Dropbox upload sessions last 7 days; the upload must start again",
            ));
        }
        Ok(())
    }

    /// Feeds the bytes of an accepted append (`data` landed at `offset`) to the session's
    /// hash, when they continue what it covers.
    fn track(&self, session: &Session, offset: u64, data: &[u8]) {
        let mut uploads = self.inner.uploads.lock().unwrap();
        let Some(Tracked::Appending { hasher, upto }) = uploads.get_mut(&session.id) else {
            return;
        };
        let end = offset + data.len() as u64;
        if offset <= *upto && *upto < end {
            hasher.update(&data[(*upto - offset) as usize..]);
            *upto = end;
        } else if offset > *upto {
            // A gap this process did not see: no whole-file hash for this session.
            uploads.remove(&session.id);
        }
    }

    /// The whole file's content hash, when this process saw every byte accepted.
    fn whole_hash(&self, session: &Session, total: u64) -> Option<String> {
        match self.inner.uploads.lock().unwrap().get(&session.id)? {
            Tracked::Appending { hasher, upto } if *upto == total => Some(hasher.clone().finish()),
            Tracked::Appending { .. } | Tracked::Unproven { .. } => None,
            Tracked::Finished { hash, .. } => hash.clone(),
        }
    }

    /// Remembers a finished upload (a few hundred at most).
    fn mark_finished(&self, session: &Session, hash: Option<String>, rev: Option<String>) {
        let mut uploads = self.inner.uploads.lock().unwrap();
        let finished = uploads
            .values()
            .filter(|t| matches!(t, Tracked::Finished { .. }))
            .count();
        if finished >= FINISHED_KEPT {
            uploads.retain(|_, t| !matches!(t, Tracked::Finished { .. }));
        }
        uploads.insert(session.id.clone(), Tracked::Finished { hash, rev });
    }

    /// Before the first finish without a whole-file hash: remembers the file's `rev` at the
    /// key, so that a finish whose answer is lost can be recognised afterwards.
    async fn record_rev_before(&self, spec: &UploadSpec, session: &Session) -> Result<()> {
        if matches!(
            self.inner.uploads.lock().unwrap().get(&session.id),
            Some(Tracked::Unproven { .. } | Tracked::Finished { .. })
        ) {
            return Ok(());
        }
        let rev_before = match self.head(&spec.key).await {
            Ok(m) => m.etag,
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        self.inner
            .uploads
            .lock()
            .unwrap()
            .insert(session.id.clone(), Tracked::Unproven { rev_before });
        Ok(())
    }

    /// The file at the key, when the session is gone because a finish of this process
    /// landed (its answer lost). Proven when this process saw every byte: the file's content
    /// hash is the one of those bytes. Otherwise (a resumed upload) recognised by evidence:
    /// the size is the upload's and the `rev` is not the one before the first finish attempt
    /// (a same-sized write by someone else in that window would be taken for it).
    async fn finished_here(&self, spec: &UploadSpec, session: &Session) -> Option<ObjectMeta> {
        let whole = self.whole_hash(session, spec.total);
        let (rev_before, finished_rev) = match self.inner.uploads.lock().unwrap().get(&session.id) {
            Some(Tracked::Unproven { rev_before }) => (Some(rev_before.clone()), None),
            Some(Tracked::Finished { rev, .. }) => (None, rev.clone()),
            _ => (None, None),
        };
        let meta = self.head(&spec.key).await.ok()?;
        if meta.size != spec.total {
            return None;
        }
        if finished_rev.is_some() && meta.etag == finished_rev {
            // The very revision this process's finish answered.
            return Some(meta);
        }
        match (whole, rev_before) {
            (Some(h), _) => (meta.metadata.get("content_hash") == Some(&h)).then_some(meta),
            (None, Some(before)) if meta.etag.is_some() && meta.etag != before => {
                tracing::warn!(
                    key = %spec.key,
                    "a finish answer was lost; the file is taken as this upload's by its size and new revision"
                );
                Some(meta)
            }
            _ => None,
        }
    }

    /// Streams a body of unknown (or large) length: one `files/upload` if it fits in 8 MiB,
    /// else a session in 8 MiB appends finished with the whole file's content hash.
    pub(crate) async fn put_streamed(&self, key: &str, mut body: ByteStream) -> Result<ObjectMeta> {
        let chunk = SMALL_UPLOAD as usize;
        let mut buf = BytesMut::new();
        let mut done = false;
        let mut offset = 0u64;
        let mut session: Option<String> = None;
        let mut hasher = ContentHasher::new();
        loop {
            while !done && buf.len() <= chunk {
                match body.next().await {
                    Some(Ok(b)) => buf.extend_from_slice(&b),
                    Some(Err(e)) => return Err(e),
                    None => done = true,
                }
            }
            let id = match &session {
                Some(s) => s.clone(),
                None if done && buf.len() <= chunk => {
                    return self.put_small(key, buf.freeze()).await;
                }
                None => {
                    let mut attempt = 0;
                    let s = loop {
                        match self.start_session().await {
                            Ok(s) => break s,
                            Err(e) => pause_before_retry(e, &mut attempt).await?,
                        }
                    };
                    session = Some(s.clone());
                    s
                }
            };
            let take = buf.len().min(chunk);
            let data = buf.split_to(take).freeze();
            if !data.is_empty() {
                hasher.update(&data);
                let s = Session::new(id.clone());
                let end = offset + data.len() as u64;
                let mut attempt = 0;
                loop {
                    match self.append_raw(&s, offset, data.clone(), false).await {
                        Ok(()) => break,
                        // An earlier attempt landed (its answer was lost).
                        Err((_, Some(api)))
                            if api.has("incorrect_offset") && api.correct_offset == Some(end) =>
                        {
                            break;
                        }
                        Err((e, _)) => pause_before_retry(e, &mut attempt).await?,
                    }
                }
                offset = end;
            }
            if done && buf.is_empty() {
                let whole = hasher.finish();
                let args = json!({
                    "cursor": {"session_id": id, "offset": offset},
                    "commit": {"path": self.path_of(key), "mode": "overwrite", "autorename": false, "mute": true},
                    "content_hash": whole,
                });
                let mut attempt = 0;
                let v = loop {
                    match self
                        .upload_raw(
                            "upload_session/finish",
                            &args,
                            Bytes::new(),
                            "finish the upload",
                        )
                        .await
                    {
                        Ok(v) => break v,
                        Err((e, _)) if e.kind() == ErrorKind::SessionExpired && attempt > 0 => {
                            // A lost answer: the file is ours if its hash is the body's.
                            match self.head(key).await {
                                Ok(meta)
                                    if meta.size == offset
                                        && meta.metadata.get("content_hash") == Some(&whole) =>
                                {
                                    return Ok(meta);
                                }
                                _ => return Err(e),
                            }
                        }
                        Err((e, _)) => pause_before_retry(e, &mut attempt).await?,
                    }
                };
                let m = FileMeta::from_value(&v)?;
                check_hash(&m, &whole)?;
                return Ok(self.meta(key, &m));
            }
        }
    }
}

/// A streamed `put` cannot be replayed by the core, so its requests (whose bytes are in
/// memory) are retried here: a retryable error waits (its `Retry-After`, else a short
/// backoff) and returns `Ok` for another attempt, at most 4 in all.
async fn pause_before_retry(e: Error, attempt: &mut u32) -> Result<()> {
    *attempt += 1;
    if !e.is_retryable() || *attempt >= 4 {
        return Err(e);
    }
    let wait = e
        .retry_after()
        .unwrap_or(std::time::Duration::from_millis(100 << *attempt));
    tokio::time::sleep(wait.min(std::time::Duration::from_secs(30))).await;
    Ok(())
}
