//! Resumable uploads (the growing-offset family) over partial PUT: its detection, the part
//! file `<key>.fls-part`, and the offsets written into it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header;
use reqwest::{Method, StatusCode};

use files_core::{
    Adapter, Error, ErrorKind, ObjectMeta, OffsetState, OffsetUpload, PartRules, Result,
    Resumability, Session, UploadSpec,
};
use files_http::headers::parse_http_date;

use crate::adapter::{WebDavAdapter, check_options};
use crate::http::{href_path, move_method, refused, refuses_partial_put, transport_error};

/// The suffix of part files (`<key>.fls-part`), where resumable uploads collect their bytes.
pub const PART_SUFFIX: &str = files_core::part_file::PART_SUFFIX;

/// The suffix of the scratch files of the partial-PUT detection.
pub const PROBE_SUFFIX: &str = ".fls-probe";

/// A detection scratch file older than this was left by a process that died mid-detection
/// (a detection takes milliseconds): the next detection in its directory deletes it.
const STALE_PROBE_AGE: Duration = Duration::from_secs(600);

/// Partial PUT not asked about yet.
pub(crate) const PARTIAL_UNKNOWN: u8 = 0;
/// Partial PUT works on this server.
pub(crate) const PARTIAL_YES: u8 = 1;
/// The server refuses or ignores partial PUT.
pub(crate) const PARTIAL_NO: u8 = 2;

/// Whether a key segment is reserved (a part file or a detection scratch file).
pub(crate) fn is_reserved(segment: &str) -> bool {
    segment.ends_with(PART_SUFFIX) || segment.ends_with(PROBE_SUFFIX)
}

/// A scratch file name no other detection (in this process or another) uses.
fn scratch_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(".fls-{}-{n}-{nanos:x}{PROBE_SUFFIX}", std::process::id())
}

fn expired(key: &str) -> Error {
    Error::new(
        ErrorKind::SessionExpired,
        format!("no part file for `{key}`: the upload was finished, cancelled or never begun"),
    )
}

impl WebDavAdapter {
    /// What the adapter declares: none once partial PUT is known to be missing (or resumable
    /// uploads are off), else cross-process.
    pub(crate) fn resumability(&self) -> Resumability {
        if !self.inner.resumable || self.inner.partial_put.load(Ordering::Acquire) == PARTIAL_NO {
            Resumability::None
        } else {
            Resumability::CrossProcess
        }
    }

    /// Whether the server honours `Content-Range` on PUT, asked once with a scratch file in the
    /// collection `dir` (which must exist).
    pub(crate) async fn detect(&self, dir: &[String]) -> Result<bool> {
        match self.inner.partial_put.load(Ordering::Acquire) {
            PARTIAL_YES => return Ok(true),
            PARTIAL_NO => return Ok(false),
            _ => {}
        }
        let _one_at_a_time = self.inner.detect_lock.lock().await;
        match self.inner.partial_put.load(Ordering::Acquire) {
            PARTIAL_YES => return Ok(true),
            PARTIAL_NO => return Ok(false),
            _ => {}
        }
        let mut segs = dir.to_vec();
        segs.push(scratch_name());
        let url = self.url_of(&segs, false);
        let op = "detect partial put";
        let what = "(scratch file)";
        let result = async {
            let resp = self
                .send(self.request(Method::PUT, &url).body("fls"), op, what)
                .await?;
            if !resp.status().is_success() {
                return Err(refused(&resp, op, what));
            }
            let resp = self
                .send(
                    self.request(Method::PUT, &url)
                        .header(header::CONTENT_RANGE, "bytes 3-5/*")
                        .body("-ok"),
                    op,
                    what,
                )
                .await?;
            let status = resp.status();
            if refuses_partial_put(status) {
                return Ok(false);
            }
            if !status.is_success() {
                return Err(refused(&resp, op, what));
            }
            let resp = self.send(self.request(Method::GET, &url), op, what).await?;
            if !resp.status().is_success() {
                return Err(refused(&resp, op, what));
            }
            let body = resp
                .bytes()
                .await
                .map_err(|e| transport_error(e, op, what))?;
            Ok(&body[..] == b"fls-ok")
        }
        .await;
        // Best effort: the scratch file is hidden from listings if it stays.
        let _ = self
            .send(
                self.request(Method::DELETE, &url).header("Depth", "0"),
                op,
                what,
            )
            .await;
        self.sweep_stale_probes(dir).await;
        let supported = result?;
        self.inner.partial_put.store(
            if supported { PARTIAL_YES } else { PARTIAL_NO },
            Ordering::Release,
        );
        tracing::info!(
            target = %self.inner.target,
            supported,
            "WebDAV partial PUT (Content-Range) detection"
        );
        Ok(supported)
    }

    /// Deletes scratch files of earlier detections that were never removed (a process killed
    /// mid-detection leaves one): those in `dir` older than [`STALE_PROBE_AGE`]. Best effort.
    async fn sweep_stale_probes(&self, dir: &[String]) {
        let url = self.url_of(dir, true);
        let Ok(Some(entries)) = self
            .propfind(&url, "1", "detect partial put", "(scratch file)")
            .await
        else {
            return;
        };
        let now = SystemTime::now();
        for e in entries {
            let Some(path) = href_path(&e.href) else {
                continue;
            };
            let name = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            let stale = e
                .last_modified
                .as_deref()
                .and_then(parse_http_date)
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > STALE_PROBE_AGE);
            if e.collection || !name.ends_with(PROBE_SUFFIX) || !stale {
                continue;
            }
            let mut segs = dir.to_vec();
            segs.push(name.to_string());
            let _ = self
                .send(
                    self.request(Method::DELETE, &self.url_of(&segs, false))
                        .header("Depth", "0"),
                    "detect partial put",
                    "(stale scratch file)",
                )
                .await;
        }
    }

    fn partial_put_unsupported(&self) -> Error {
        Error::not_supported(format!(
            "the WebDAV server at {} does not support partial PUT (Content-Range on PUT), so \
             resumable uploads (`control`, `checkpoint`) are not supported there; upload without \
             them (one PUT request)",
            self.inner.target
        ))
    }

    fn mark_unsupported(&self) -> Error {
        self.inner.partial_put.store(PARTIAL_NO, Ordering::Release);
        self.partial_put_unsupported()
    }

    async fn require_partial_put(&self, key: &str) -> Result<()> {
        if !self.inner.resumable {
            return Err(self.partial_put_unsupported());
        }
        if self.detect(&self.parent_segments(key)).await? {
            Ok(())
        } else {
            Err(self.partial_put_unsupported())
        }
    }
}

#[async_trait]
impl OffsetUpload for WebDavAdapter {
    fn rules(&self) -> PartRules {
        PartRules::unconstrained()
    }

    fn resumability(&self) -> Resumability {
        WebDavAdapter::resumability(self)
    }

    /// Creates the parent collections, makes sure the server supports partial PUT
    /// (`NotSupported` otherwise, before anything is written at the key), and writes an empty
    /// `<key>.fls-part`.
    async fn begin(&self, spec: &UploadSpec) -> Result<Session> {
        let key = spec.key.as_str();
        self.validate_key(key)?;
        check_options(&spec.options)?;
        if !self.inner.resumable {
            return Err(self.partial_put_unsupported());
        }
        self.ensure_collections(&self.parent_segments(key), key)
            .await?;
        self.require_partial_put(key).await?;
        let resp = self
            .send(
                self.request(Method::PUT, &self.part_url(key))
                    .header(header::CONTENT_LENGTH, 0)
                    .body(Bytes::new()),
                "begin",
                key,
            )
            .await?;
        let status = resp.status();
        if status == StatusCode::CONFLICT {
            return Err(self.parent_conflict(key, "begin").await);
        }
        if !status.is_success() {
            return Err(refused(&resp, "begin", key));
        }
        Ok(Session::default())
    }

    /// The part file's size; `Finished` if it is gone and an object of the upload's length is
    /// at the key; otherwise the session expired.
    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<OffsetState> {
        let key = spec.key.as_str();
        self.validate_key(key)?;
        self.check_session(session)?;
        if let Some(n) = self.size_of(&self.part_url(key), "probe", key).await? {
            return Ok(OffsetState::Offset(n));
        }
        match self.head_object(key, "probe").await {
            Ok(meta) if meta.size == spec.total => Ok(OffsetState::Finished(meta)),
            Ok(_) => Err(expired(key)),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(expired(key)),
            Err(e) => Err(e),
        }
    }

    /// Checks the part file holds exactly `offset` bytes (else `Conflict`), writes `data` at
    /// `offset` with `Content-Range`, and checks it grew to `offset + len`. A server found to
    /// ignore or refuse `Content-Range` is `NotSupported` (the part file, which it may have
    /// truncated, is deleted; the object at the key is untouched).
    async fn append(
        &self,
        spec: &UploadSpec,
        session: &Session,
        offset: u64,
        data: Bytes,
        _last: bool,
    ) -> Result<OffsetState> {
        let key = spec.key.as_str();
        self.validate_key(key)?;
        self.check_session(session)?;
        let len = data.len() as u64;
        if offset.saturating_add(len) > spec.total {
            return Err(Error::invalid_input(format!(
                "append of {len} bytes at offset {offset} goes past the upload's {} bytes",
                spec.total
            )));
        }
        self.require_partial_put(key).await?;
        let url = self.part_url(key);
        match self.size_of(&url, "append", key).await? {
            None => return Err(expired(key)),
            Some(n) if n != offset => {
                return Err(Error::conflict(format!(
                    "append at offset {offset}, but the part file holds {n} bytes"
                )));
            }
            Some(_) => {}
        }
        if len == 0 {
            return Ok(OffsetState::Offset(offset));
        }
        let range = format!("bytes {}-{}/*", offset, offset + len - 1);
        let resp = self
            .send(
                self.request(Method::PUT, &url)
                    .header(header::CONTENT_RANGE, range)
                    .header(header::CONTENT_LENGTH, len)
                    .body(data),
                "append",
                key,
            )
            .await?;
        let status = resp.status();
        if refuses_partial_put(status) {
            return Err(self.mark_unsupported());
        }
        if !status.is_success() {
            return Err(refused(&resp, "append", key));
        }
        match self.size_of(&url, "append", key).await? {
            None => Err(expired(key)),
            Some(n) if n == offset + len => Ok(OffsetState::Offset(n)),
            Some(n) if offset > 0 && n == len => {
                // The server ignored Content-Range and replaced the part file with the chunk.
                let _ = self
                    .send(
                        self.request(Method::DELETE, &url).header("Depth", "0"),
                        "append",
                        key,
                    )
                    .await;
                Err(self.mark_unsupported())
            }
            Some(n) if n > offset && n < offset + len => Ok(OffsetState::Offset(n)),
            Some(n) => Err(Error::conflict(format!(
                "after writing {len} bytes at offset {offset}, the part file of `{key}` holds {n} bytes"
            ))),
        }
    }

    /// Moves `<key>.fls-part` over the key (`MOVE`, `Overwrite: T`) once it holds every byte.
    async fn finish(&self, spec: &UploadSpec, session: &Session) -> Result<ObjectMeta> {
        let key = spec.key.as_str();
        self.validate_key(key)?;
        self.check_session(session)?;
        match self.size_of(&self.part_url(key), "finish", key).await? {
            None => {
                // Finished before (a retried finish): the object is in place.
                return match self.head_object(key, "finish").await {
                    Ok(meta) if meta.size == spec.total => Ok(meta),
                    Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
                    _ => Err(expired(key)),
                };
            }
            Some(n) if n != spec.total => {
                return Err(Error::conflict(format!(
                    "the part file holds {n} bytes, but the upload is {} bytes",
                    spec.total
                )));
            }
            Some(_) => {}
        }
        let req = self
            .request(move_method(), &self.part_url(key))
            .header("Destination", self.key_url(key))
            .header("Overwrite", "T")
            .header("Depth", "0");
        let resp = self.send(req, "finish", key).await?;
        if !resp.status().is_success() {
            return Err(refused(&resp, "finish", key));
        }
        self.head_object(key, "finish").await
    }

    /// Deletes the part file (a missing one is fine).
    async fn cancel(&self, spec: &UploadSpec, session: &Session) -> Result<()> {
        let key = spec.key.as_str();
        self.validate_key(key)?;
        self.check_session(session)?;
        let resp = self
            .send(
                self.request(Method::DELETE, &self.part_url(key))
                    .header("Depth", "0"),
                "cancel",
                key,
            )
            .await?;
        match resp.status().as_u16() {
            200..=299 | 404 | 410 => Ok(()),
            _ => Err(refused(&resp, "cancel", key)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_and_scratch_files() {
        assert!(is_reserved("a.fls-part") && is_reserved(".x.fls-probe"));
        assert!(!is_reserved("a.fls-part.txt"));
        let (a, b) = (scratch_name(), scratch_name());
        assert!(
            a != b && is_reserved(&a) && a.starts_with(".fls-"),
            "{a} {b}"
        );
    }
}
