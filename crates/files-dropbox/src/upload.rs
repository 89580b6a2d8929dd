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
    Appending { hasher: ContentHasher, upto: u64 },
    Finished(String),
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
        if let Some(h) = &whole {
            args["content_hash"] = Value::String(h.clone());
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
        if result.is_ok() {
            self.mark_finished(session, whole);
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
            Tracked::Appending { .. } => None,
            Tracked::Finished(h) => Some(h.clone()),
        }
    }

    /// Remembers a finished upload's hash (a few hundred at most).
    fn mark_finished(&self, session: &Session, hash: Option<String>) {
        let mut uploads = self.inner.uploads.lock().unwrap();
        match hash {
            Some(h) => {
                let finished = uploads
                    .values()
                    .filter(|t| matches!(t, Tracked::Finished(_)))
                    .count();
                if finished >= FINISHED_KEPT {
                    uploads.retain(|_, t| !matches!(t, Tracked::Finished(_)));
                }
                uploads.insert(session.id.clone(), Tracked::Finished(h));
            }
            None => {
                uploads.remove(&session.id);
            }
        }
    }

    /// The file at the key, if it is provably this upload's (its size and content hash are
    /// those of every byte this process appended).
    async fn finished_here(&self, spec: &UploadSpec, session: &Session) -> Option<ObjectMeta> {
        let whole = self.whole_hash(session, spec.total)?;
        let meta = self.head(&spec.key).await.ok()?;
        (meta.size == spec.total && meta.metadata.get("content_hash") == Some(&whole))
            .then_some(meta)
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
                    let s = self.start_session().await?;
                    session = Some(s.clone());
                    s
                }
            };
            let take = buf.len().min(chunk);
            let data = buf.split_to(take).freeze();
            if !data.is_empty() {
                hasher.update(&data);
                let s = Session::new(id.clone());
                self.append_raw(&s, offset, data.clone(), false)
                    .await
                    .map_err(|(e, _)| e)?;
                offset += data.len() as u64;
            }
            if done && buf.is_empty() {
                let whole = hasher.finish();
                let args = json!({
                    "cursor": {"session_id": id, "offset": offset},
                    "commit": {"path": self.path_of(key), "mode": "overwrite", "autorename": false, "mute": true},
                    "content_hash": whole,
                });
                let v = self
                    .upload_raw(
                        "upload_session/finish",
                        &args,
                        Bytes::new(),
                        "finish the upload",
                    )
                    .await
                    .map_err(|(e, _)| e)?;
                let m = FileMeta::from_value(&v)?;
                check_hash(&m, &whole)?;
                return Ok(self.meta(key, &m));
            }
        }
    }
}
