//! The parts family on Box's chunked upload sessions.
//!
//! A core part of `part_size` bytes is sent as `part_size / box_part_size` Box parts (Box
//! chooses its part size when the session is created; the rules keep the core's parts
//! multiples of it). The commit needs the whole file's SHA-1, which this process computes as
//! parts pass through [`put_part`](files_core::PartUpload::put_part) (see the crate docs for
//! why `probe` reports only parts hashed here, and how the others are skipped without a
//! request).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use files_core::{
    Error, ErrorKind, LandedPart, ObjectMeta, Part, PartRules, PartUpload, Result, Resumability,
    Session, UploadSpec,
};
use futures::StreamExt;
use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE, HeaderName};
use serde_json::json;
use sha1::digest::common::hazmat::{SerializableState, SerializedState};
use sha1::{Digest as _, Sha1};
use std::path::PathBuf;

use crate::adapter::{BoxAdapter, split_key};
use crate::api::{BoxPart, Entries, PartAnswer, Parts, UploadSession, json, status_error_code};

/// The session field holding the part size Box chose.
pub(crate) const PART_SIZE_FIELD: &str = "box_part_size";
/// The session field marking a stream of unknown length, held in memory until its end (Box
/// needs the file size to open a session).
const DEFERRED_FIELD: &str = "deferred";
const DIGEST: HeaderName = HeaderName::from_static("digest");
/// The longest `Retry-After` of a `202` commit that is honoured as it is.
const MAX_COMMIT_WAIT: Duration = Duration::from_secs(60);

/// The running SHA-1 of one session's body, and the parts Box listed for it.
#[derive(Default)]
pub(crate) struct Hashing {
    /// Where the hashed prefix's SHA-1 state is kept for a resume in another process.
    state_file: Option<PathBuf>,
    sha: Sha1,
    /// Bytes `0..next` are hashed.
    next: u64,
    /// Parts that arrived before the gap in front of them was filled.
    pending: BTreeMap<u64, Bytes>,
    /// Box's parts by offset, as listed or answered.
    known: HashMap<u64, BoxPart>,
    /// A deferred (stream) session's parts.
    deferred: BTreeMap<u64, Bytes>,
    /// The file a commit of this process made.
    committed: Option<ObjectMeta>,
    /// A deferred session's real Box session, once opened.
    real: Option<Session>,
}

impl Hashing {
    fn feed(&mut self, offset: u64, data: Bytes) {
        if offset + data.len() as u64 <= self.next || offset < self.next {
            return;
        }
        if offset > self.next {
            self.pending.entry(offset).or_insert(data);
            return;
        }
        self.sha.update(&data);
        self.next += data.len() as u64;
        while let Some(d) = self.pending.remove(&self.next) {
            self.sha.update(&d);
            self.next += d.len() as u64;
        }
        let next = self.next;
        self.pending.retain(|o, _| *o >= next);
        self.save();
    }

    /// Writes the SHA-1 state of the hashed prefix (`{"next", "state"}`, written to a
    /// temporary file then renamed). A failure only costs a resume elsewhere a re-read.
    fn save(&self) {
        let Some(path) = &self.state_file else {
            return;
        };
        let state = self.sha.serialize();
        let v = json!({"next": self.next, "state": b64(state.as_slice())});
        let tmp = path.with_extension("tmp");
        let ok = std::fs::write(&tmp, v.to_string()).and_then(|_| std::fs::rename(&tmp, path));
        if ok.is_err() {
            tracing::debug!("could not keep the upload's SHA-1 state on disk");
        }
    }

    /// The hashing of a session, from its state file when one is readable.
    fn load(state_file: Option<PathBuf>) -> Hashing {
        let mut h = Hashing {
            state_file,
            ..Hashing::default()
        };
        let read = || -> Option<(u64, Sha1)> {
            let text = std::fs::read_to_string(h.state_file.as_ref()?).ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            let next = v["next"].as_u64()?;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(v["state"].as_str()?)
                .ok()?;
            let state = SerializedState::<Sha1>::try_from(raw.as_slice()).ok()?;
            Some((next, Sha1::deserialize(&state).ok()?))
        };
        if let Some((next, sha)) = read() {
            h.next = next;
            h.sha = sha;
        }
        h
    }
    fn hashed(&self, offset: u64, len: u64) -> bool {
        offset + len <= self.next
            || self
                .pending
                .get(&offset)
                .is_some_and(|d| d.len() as u64 == len)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn expired(what: &str) -> Error {
    Error::new(
        ErrorKind::SessionExpired,
        format!(
            "the Box upload session is gone (expired after 7 days, aborted or committed) while trying to {what}"
        ),
    )
}

fn body_changed(offset: u64) -> Error {
    Error::body_changed(format!(
        "Box holds other bytes at offset {offset} of this upload session (parts are immutable): abort the upload and start again"
    ))
}

impl BoxAdapter {
    /// What names one upload: the store, the session, the key and the length (a state
    /// file of another upload is never read).
    fn upload_name(&self, spec: &UploadSpec, session: &Session) -> String {
        hex(&Sha1::digest(format!(
            "{}\n{}\n{}\n{}\n{}",
            self.inner.api,
            self.inner.folder,
            session.id,
            spec.key,
            // A stream's length is known only at `complete`.
            if is_deferred(session) { 0 } else { spec.total }
        )))
    }

    /// The state file of an upload (`None` when disabled).
    fn state_file(&self, name: &str) -> Option<PathBuf> {
        let dir = self.inner.state_dir.as_ref()?;
        std::fs::create_dir_all(dir).ok()?;
        Some(dir.join(format!("{name}.sha1")))
    }

    fn hashing(&self, spec: &UploadSpec, session: &Session) -> Arc<Mutex<Hashing>> {
        let name = self.upload_name(spec, session);
        let mut map = self.inner.hashes.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(name.clone())
            .or_insert_with(|| Arc::new(Mutex::new(Hashing::load(self.state_file(&name)))))
            .clone()
    }

    fn forget(&self, spec: &UploadSpec, session: &Session) {
        let name = self.upload_name(spec, session);
        let mut map = self.inner.hashes.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&name);
        if let Some(f) = self.state_file(&name) {
            let _ = std::fs::remove_file(f);
        }
    }

    fn session_url(&self, session: &Session, tail: &str) -> String {
        self.upload_url(&format!(
            "/files/upload_sessions/{}{tail}",
            files_http::encode::segment(&session.id)
        ))
    }

    /// Every part Box holds for the session (all pages).
    pub(crate) async fn list_parts(&self, session: &Session) -> Result<Vec<BoxPart>> {
        let mut out: Vec<BoxPart> = Vec::new();
        let mut offset = 0u64;
        loop {
            let url = self.session_url(session, &format!("/parts?offset={offset}&limit=1000"));
            let resp = self.send(self.inner.http.get(url)).await?;
            if resp.status().as_u16() == 404 {
                return Err(expired("list its parts"));
            }
            if !resp.status().is_success() {
                return Err(status_error_code(resp, "list the upload session's parts")
                    .await
                    .0);
            }
            let page: Parts = json(resp, "a parts list").await?;
            let n = page.entries.len() as u64;
            out.extend(page.entries);
            offset += n;
            if n == 0 || page.total_count.is_none_or(|t| offset >= t) {
                break;
            }
        }
        out.sort_by_key(|p| p.offset);
        out.dedup_by_key(|p| p.offset);
        Ok(out)
    }

    /// Sends one Box part (bytes `offset..offset+len` of the file).
    async fn put_box_part(
        &self,
        spec: &UploadSpec,
        session: &Session,
        offset: u64,
        chunk: Bytes,
        sha: &[u8],
    ) -> Result<BoxPart> {
        let len = chunk.len() as u64;
        let req = self
            .inner
            .http
            .put(self.session_url(session, ""))
            .header(
                CONTENT_RANGE,
                format!("bytes {offset}-{}/{}", offset + len - 1, spec.total),
            )
            .header(DIGEST, format!("sha={}", b64(sha)))
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(chunk);
        let resp = self.send(req).await?;
        let status = resp.status().as_u16();
        if status == 404 {
            return Err(expired("upload a part"));
        }
        if (200..300).contains(&status) {
            let a: PartAnswer = json(resp, "a part").await?;
            return Ok(a.part);
        }
        let (e, code) = status_error_code(resp, "upload a part").await;
        if status == 416 && code.as_deref() == Some("range_overlaps_existing_part") {
            // Box already holds a part here (an answer lost on the way back): the same bytes
            // count as landed.
            let parts = self.list_parts(session).await?;
            return match parts.into_iter().find(|p| p.offset == offset) {
                Some(p) if p.size == len && p.sha1.eq_ignore_ascii_case(&hex(sha)) => Ok(p),
                _ => Err(body_changed(offset)),
            };
        }
        Err(e)
    }

    /// Completes a stream (deferred) session: every byte is in memory now. The bytes and the
    /// real session are kept until it succeeds, so that after a retryable failure the core's
    /// next `complete` continues where this one stopped (parts Box holds are not sent again).
    async fn complete_deferred(&self, spec: &UploadSpec, session: &Session) -> Result<ObjectMeta> {
        let h = self.hashing(spec, session);
        let (data, real_session) = {
            let g = h.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(meta) = &g.committed {
                return Ok(meta.clone());
            }
            let data: Vec<u8> = g
                .deferred
                .values()
                .flat_map(|b| b.iter().copied())
                .collect();
            (Bytes::from(data), g.real.clone())
        };
        let total = data.len() as u64;
        let result = if total < self.inner.min_session_size {
            let one = futures::stream::once(async move { Ok(data) }).boxed();
            files_core::Adapter::put(self, &spec.key, one, Some(total), &spec.options).await
        } else {
            let real = UploadSpec {
                total,
                ..spec.clone()
            };
            let s = match real_session {
                Some(s) => s,
                None => {
                    let s = self.begin(&real).await?;
                    h.lock().unwrap_or_else(|e| e.into_inner()).real = Some(s.clone());
                    s
                }
            };
            let ps = real.part_size as usize;
            let mut sent = Ok(());
            for (i, start) in (0..data.len()).step_by(ps).enumerate() {
                let part = Part {
                    number: i as u32 + 1,
                    offset: start as u64,
                    crc32c: 0,
                    data: data.slice(start..(start + ps).min(data.len())),
                };
                if let Err(e) = self.put_part(&real, &s, part).await {
                    sent = Err(e);
                    break;
                }
            }
            let r = match sent {
                Ok(()) => self.complete(&real, &s, &[]).await,
                Err(e) => Err(e),
            };
            if r.as_ref().is_err_and(|e| !e.is_retryable()) {
                let _ = self.abort(&real, &s).await;
            }
            r
        };
        match &result {
            Ok(meta) => {
                let mut g = h.lock().unwrap_or_else(|e| e.into_inner());
                g.deferred.clear();
                g.real = None;
                g.committed = Some(meta.clone());
            }
            Err(e) if !e.is_retryable() => self.forget(spec, session),
            Err(_) => {}
        }
        result
    }
}

fn part_size_of(session: &Session) -> Result<u64> {
    session
        .extra
        .get(PART_SIZE_FIELD)
        .and_then(|p| p.parse().ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| Error::token_invalid("the token's session names no Box part size"))
}

fn is_deferred(session: &Session) -> bool {
    session.extra.contains_key(DEFERRED_FIELD)
}

#[async_trait]
impl PartUpload for BoxAdapter {
    fn rules(&self) -> PartRules {
        self.inner.rules
    }

    fn resumability(&self) -> Resumability {
        Resumability::CrossProcess
    }

    async fn begin(&self, spec: &UploadSpec) -> Result<Session> {
        if spec.total == 0 {
            // A stream of unknown length: Box needs the size to open a session, so the parts
            // are held in memory and sent at `complete`.
            static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut s = Session::new(format!("deferred{n}p{}", std::process::id()));
            s.extra.insert(DEFERRED_FIELD.into(), "1".into());
            s.extra
                .insert(PART_SIZE_FIELD.into(), spec.part_size.to_string());
            s.bind_to_key(&spec.key);
            return Ok(s);
        }
        if spec.total < self.inner.min_session_size {
            return Err(Error::not_supported(format!(
                "Box opens upload sessions for files of {} bytes or more; this body goes in one request (without control or checkpoint), or choose a part size of at least its length",
                self.inner.min_session_size
            )));
        }
        let (dirs, name) = split_key(&spec.key);
        let folder = self
            .folder_of(&dirs, true)
            .await?
            .expect("created folders exist");
        let existing = self.find_child(&folder, name).await?;
        let (url, body) = match &existing {
            Some(it) if it.is_file() => (
                self.upload_url(&format!(
                    "/files/{}/upload_sessions",
                    files_http::encode::segment(&it.id)
                )),
                json!({"file_size": spec.total, "file_name": name}),
            ),
            Some(_) => return Err(Error::conflict(format!("`{}` is a folder", spec.key))),
            None => (
                self.upload_url("/files/upload_sessions"),
                json!({"folder_id": folder, "file_size": spec.total, "file_name": name}),
            ),
        };
        let resp = self.send(self.inner.http.post(url).json(&body)).await?;
        if !resp.status().is_success() {
            let (e, code) = status_error_code(resp, "create an upload session").await;
            return Err(match code.as_deref() {
                Some("file_size_too_small") => Error::not_supported(e.message().to_string()),
                _ => e,
            });
        }
        let s: UploadSession = json(resp, "an upload session").await?;
        let mut session = Session::new(s.id);
        session.expires_at = s
            .session_expires_at
            .as_deref()
            .and_then(files_http::time::parse_rfc3339)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        session
            .extra
            .insert(PART_SIZE_FIELD.into(), s.part_size.to_string());
        session.bind_to_key(&spec.key);
        if s.part_size == 0 || !spec.part_size.is_multiple_of(s.part_size) {
            let _ = self.abort(spec, &session).await;
            return Err(Error::invalid_input(format!(
                "Box chose parts of {} bytes for this file; the part size {} is not a multiple of it: upload again with a part size that is",
                s.part_size, spec.part_size
            )));
        }
        Ok(session)
    }

    async fn put_part(
        &self,
        spec: &UploadSpec,
        session: &Session,
        part: Part,
    ) -> Result<LandedPart> {
        session.check_bound_to(&spec.key)?;
        let size = part.data.len() as u64;
        let h = self.hashing(spec, session);
        if is_deferred(session) {
            let mut g = h.lock().unwrap_or_else(|e| e.into_inner());
            g.deferred.insert(part.offset, part.data);
            return Ok(LandedPart {
                number: part.number,
                size,
                etag: None,
                crc32c: None,
            });
        }
        let bps = part_size_of(session)? as usize;
        let mut at = 0usize;
        while at < part.data.len() {
            let chunk = part.data.slice(at..(at + bps).min(part.data.len()));
            let offset = part.offset + at as u64;
            let sha = Sha1::digest(&chunk);
            let known = h
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .known
                .get(&offset)
                .cloned();
            match known {
                Some(k)
                    if k.size == chunk.len() as u64 && k.sha1.eq_ignore_ascii_case(&hex(&sha)) =>
                {
                    // Box holds these bytes already: no request.
                }
                Some(_) => return Err(body_changed(offset)),
                None => {
                    let p = self
                        .put_box_part(spec, session, offset, chunk, &sha)
                        .await
                        .map_err(|e| e.with_upload_id(session.id.clone()))?;
                    h.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .known
                        .insert(p.offset, p);
                }
            }
            at += bps;
        }
        h.lock()
            .unwrap_or_else(|e| e.into_inner())
            .feed(part.offset, part.data);
        Ok(LandedPart {
            number: part.number,
            size,
            etag: None,
            crc32c: None,
        })
    }

    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<Vec<LandedPart>> {
        session.check_bound_to(&spec.key)?;
        if is_deferred(session) {
            // A stream's parts are held here until `complete` sends them: they are the truth
            // while this process keeps them.
            let h = self.hashing(spec, session);
            let g = h.lock().unwrap_or_else(|e| e.into_inner());
            if g.deferred.is_empty() && g.committed.is_none() {
                return Err(expired("resume a stream upload"));
            }
            let ps = spec.part_size.max(1);
            return Ok(g
                .deferred
                .iter()
                .map(|(o, d)| LandedPart {
                    number: (o / ps) as u32 + 1,
                    size: d.len() as u64,
                    etag: None,
                    crc32c: None,
                })
                .collect());
        }
        let bps = part_size_of(session)?;
        let parts = self.list_parts(session).await?;
        let h = self.hashing(spec, session);
        let mut g = h.lock().unwrap_or_else(|e| e.into_inner());
        g.known = parts.into_iter().map(|p| (p.offset, p)).collect();
        let (ps, total) = (spec.part_size.max(1), spec.total);
        let mut landed = Vec::new();
        for (i, start) in (0..total).step_by(ps as usize).enumerate() {
            let end = (start + ps).min(total);
            let mut off = start;
            let mut whole = true;
            while off < end {
                let want = bps.min(total - off);
                if g.known.get(&off).is_none_or(|p| p.size != want) {
                    whole = false;
                    break;
                }
                off += want;
            }
            // Only parts hashed in this process count: the others go through `put_part`
            // again, which skips the request when Box holds the same bytes.
            if whole && g.hashed(start, end - start) {
                landed.push(LandedPart {
                    number: i as u32 + 1,
                    size: end - start,
                    etag: None,
                    crc32c: None,
                });
            }
        }
        Ok(landed)
    }

    async fn complete(
        &self,
        spec: &UploadSpec,
        session: &Session,
        _parts: &[LandedPart],
    ) -> Result<ObjectMeta> {
        if is_deferred(session) {
            return self.complete_deferred(spec, session).await;
        }
        let h = self.hashing(spec, session);
        let digest = {
            let g = h.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(meta) = &g.committed {
                // This process committed it already (the answer to the core was lost).
                return Ok(meta.clone());
            }
            (g.next == spec.total).then(|| b64(&g.sha.clone().finalize()))
        };
        // A session gone at this point may have been committed (by an earlier call whose
        // answer was lost, or another process): a retryable error makes the core ask the
        // session and look for the object.
        let maybe_landed = |e: Error| {
            if e.kind() == ErrorKind::SessionExpired {
                Error::transient(format!("{}; the commit may have landed", e.message()))
            } else {
                e
            }
        };
        let parts = self.list_parts(session).await.map_err(maybe_landed)?;
        let Some(digest) = digest else {
            let g = h.lock().unwrap_or_else(|e| e.into_inner());
            return Err(Error::new(
                ErrorKind::Other,
                format!(
                    "cannot commit: this process hashed {} of {} bytes of the body (Box needs the whole file's SHA-1)",
                    g.next, spec.total
                ),
            ));
        };
        let body = json!({ "parts": parts });
        let mut wait = Duration::from_secs(1);
        for _ in 0..=self.inner.commit_waits {
            let req = self
                .inner
                .http
                .post(self.session_url(session, "/commit"))
                .header(DIGEST, format!("sha={digest}"))
                .json(&body);
            let resp = self.send(req).await?;
            match resp.status().as_u16() {
                202 => {
                    // Parts still being processed: commit again after Retry-After.
                    wait = files_http::retry_after::from_headers(resp.headers())
                        .unwrap_or(Duration::from_secs(1))
                        .min(MAX_COMMIT_WAIT);
                    tokio::time::sleep(wait).await;
                }
                404 => return Err(maybe_landed(expired("commit it"))),
                200..=299 => {
                    let e: Entries = json(resp, "a committed file").await?;
                    let it = e.entries.into_iter().next().ok_or_else(|| {
                        Error::new(ErrorKind::Other, "Box answered a commit with no file")
                    })?;
                    let meta = it.meta(&spec.key);
                    // Kept (small) so that a second `complete` of this upload answers the same.
                    let mut g = h.lock().unwrap_or_else(|e| e.into_inner());
                    g.committed = Some(meta.clone());
                    g.known.clear();
                    g.pending.clear();
                    if let Some(f) = g.state_file.take() {
                        let _ = std::fs::remove_file(f);
                    }
                    return Ok(meta);
                }
                _ => {
                    return Err(status_error_code(resp, "commit the upload session")
                        .await
                        .0
                        .with_upload_id(session.id.clone()));
                }
            }
        }
        Err(Error::transient(format!(
            "Box was still processing the parts after {} commit attempts",
            self.inner.commit_waits + 1
        ))
        .with_retry_after(wait))
    }

    async fn abort(&self, spec: &UploadSpec, session: &Session) -> Result<()> {
        self.forget(spec, session);
        if is_deferred(session) {
            return Ok(());
        }
        let resp = self
            .send(self.inner.http.delete(self.session_url(session, "")))
            .await?;
        match resp.status().as_u16() {
            200..=299 | 404 => Ok(()),
            _ => Err(status_error_code(resp, "abort the upload session").await.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_in_any_order() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let mut h = Hashing::default();
        h.feed(600, Bytes::copy_from_slice(&data[600..]));
        h.feed(300, Bytes::copy_from_slice(&data[300..600]));
        assert!(h.hashed(600, 400) && !h.hashed(0, 300));
        h.feed(0, Bytes::copy_from_slice(&data[..300]));
        h.feed(300, Bytes::copy_from_slice(&data[300..600]));
        assert_eq!(h.next, 1000);
        assert_eq!(
            h.sha.clone().finalize().to_vec(),
            Sha1::digest(&data).to_vec()
        );
    }
}
