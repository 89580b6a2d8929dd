//! The numbered-parts family: probe the session, verify the parts that landed, send the rest
//! in parallel, complete (never blindly retried).

use std::sync::Arc;
use std::time::Duration;

use md5::Digest as _;
use tokio::task::JoinSet;

use super::{Interrupt, Runner, UploadOutcome, drain, settle, spec_of};
use crate::adapter::{Adapter, LandedPart, ObjectMeta, Part, Session, UploadFamily, UploadSpec};
use crate::control::{Command, UploadStatus};
use crate::error::{Error, ErrorKind, Result};
use crate::ratelimit::RateLimiter;
use crate::retry::{RetryPolicy, within};
use crate::token::{ResumeToken, format_ranges};

impl Runner {
    pub(super) async fn run_parts_fresh(
        &mut self,
        mut token: ResumeToken,
    ) -> Result<UploadOutcome> {
        if let Some(i) = self.interrupt_now() {
            return Err(self.handle_interrupt(i).await);
        }
        let Some(session) = self.begin_session(&token).await? else {
            return self.one_shot(Some(token.total)).await;
        };
        token.session = session;
        self.publish_token(token.clone()).await?;
        self.parts_engine(token, Vec::new(), false, 0).await
    }

    pub(super) async fn run_parts(&mut self, mut token: ResumeToken) -> Result<UploadOutcome> {
        self.control.set_status(UploadStatus::Uploading);
        let adapter = self.adapter();
        let spec = spec_of(&token, &self.job.options);
        let UploadFamily::Parts(p) = adapter.upload_family() else {
            unreachable!()
        };
        let (retry, timeout) = (self.job.retry, self.job.timeout);
        let probe = retry.run(timeout, |_| p.probe(&spec, &token.session));
        let landed = match self.guard(probe).await {
            Ok(Ok((parts, r))) => {
                self.retries += u64::from(r);
                parts
            }
            Ok(Err(e))
                if e.kind() == ErrorKind::SessionExpired || e.kind() == ErrorKind::NotFound =>
            {
                if token.completing {
                    // Every part had landed and the provider was asked to assemble them; the
                    // session is gone. If the object appears (the provider may still be
                    // assembling it: a process killed during its complete), that complete
                    // landed.
                    match self.await_completed_object(token.total).await {
                        Ok(Some(meta)) => {
                            tracing::debug!(
                                "the session was completed before the token was cleared"
                            );
                            self.loaded = token.total;
                            return self.finished(meta, token.total, true).await;
                        }
                        Ok(None) => {}
                        Err(i) => return Err(self.handle_interrupt(i).await),
                    }
                }
                return Err(self.expired_message(e).await);
            }
            Ok(Err(e)) => return Err(e),
            Err(i) => return Err(self.handle_interrupt(i).await),
        };
        // Reconcile: keep landed parts that have the right size and whose bytes we can vouch
        // for; a part whose checksum differs from the body means the body changed.
        let count = token.part_count();
        let mut keep: Vec<LandedPart> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for part in landed {
            if part.number == 0 || u64::from(part.number) > count || !seen.insert(part.number) {
                continue;
            }
            let (off, len) = part_range(&token, part.number);
            if part.size != len {
                continue;
            }
            let expected = part
                .crc32c
                .or_else(|| token.fingerprint.parts.get(&part.number).copied());
            let Some(expected) = expected else {
                if let Some(md5) = part.etag.as_deref().and_then(etag_md5)
                    && p.etags_are_md5()
                {
                    let data = self.job.body.read_range(off, len).await?;
                    let actual: [u8; 16] = md5::Md5::digest(&data).into();
                    if actual == md5 {
                        // The bytes the provider holds are the body's: keep the part, and
                        // fingerprint it so that later resumes check it by CRC32C.
                        token
                            .fingerprint
                            .parts
                            .insert(part.number, crc32c::crc32c(&data));
                        keep.push(part);
                    } else {
                        tracing::debug!(
                            part = part.number,
                            "landed part's ETag is not the MD5 of the body's bytes; sending it again"
                        );
                    }
                    continue;
                }
                tracing::debug!(
                    part = part.number,
                    "landed part cannot be verified; sending it again"
                );
                continue;
            };
            let (_, crc) = self.job.body.read_range_crc(off, len).await?;
            if crc != expected {
                return Err(Error::body_changed(format!(
                    "part {} (bytes {off}..{}) differs from what was uploaded before; the body changed since the upload started",
                    part.number,
                    off + len
                )));
            }
            keep.push(part);
        }
        let resumed_bytes: u64 = keep.iter().map(|p| p.size).sum();
        self.parts_engine(token, keep, true, resumed_bytes).await
    }

    /// After a complete was sent and the session is gone: waits (bounded by the request
    /// timeout, else [`COMPLETE_SETTLE`]; cancellable) for an object of `total` bytes at the
    /// key. `None` when none appears in time.
    async fn await_completed_object(
        &mut self,
        total: u64,
    ) -> Result<Option<ObjectMeta>, Interrupt> {
        let settle = self.job.timeout.unwrap_or(COMPLETE_SETTLE);
        let started = tokio::time::Instant::now();
        let mut delay = Duration::from_millis(100);
        loop {
            let adapter = self.job.adapter.clone();
            let key = self.job.key.clone();
            match self.guard(async move { adapter.head(&key).await }).await? {
                Ok(meta) if meta.size == total => return Ok(Some(meta)),
                // Not there yet, or an older object still in place: wait for the assembly.
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(_) => return Ok(None),
            }
            if started.elapsed() + delay > settle {
                return Ok(None);
            }
            self.guard(tokio::time::sleep(delay)).await?;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }
    async fn parts_engine(
        &mut self,
        mut token: ResumeToken,
        landed: Vec<LandedPart>,
        resumed: bool,
        resumed_bytes: u64,
    ) -> Result<UploadOutcome> {
        let adapter = self.adapter();
        let spec = Arc::new(spec_of(&token, &self.job.options));
        let session = Arc::new(token.session.clone());
        let count = token.part_count() as u32;
        let mut done: std::collections::BTreeMap<u32, LandedPart> =
            landed.into_iter().map(|p| (p.number, p)).collect();
        token.landed = format_ranges(done.keys().copied());
        self.loaded = done.values().map(|p| p.size).sum();
        self.control.reset_progress(self.loaded);
        self.publish_token(token.clone()).await?;
        self.emit_progress();

        let replay =
            self.job.body.replay().ok_or_else(|| {
                Error::invalid_input("a resumable upload needs a re-readable body")
            })?;
        let mut pending: std::collections::VecDeque<u32> =
            (1..=count).filter(|n| !done.contains_key(n)).collect();
        let mut tasks: JoinSet<PartResult> = JoinSet::new();
        let concurrency = self.job.concurrency.max(1);
        loop {
            if let Some(i) = self.interrupt_now() {
                // A part request whose body was sent lands even if the call drops it; let the
                // ones in flight finish (bounded), so that none lands after the call returned
                // (or after an abort discarded the session: Azure would keep such a block).
                let grace = self.grace(i);
                drain(&mut tasks, grace).await;
                return Err(self.handle_interrupt(i).await);
            }
            let paused = *self.commands.borrow() == Command::Pause;
            if paused && tasks.is_empty() {
                if let Err(i) = self.wait_while_paused().await {
                    return Err(self.handle_interrupt(i).await);
                }
                continue;
            }
            if !paused {
                self.control.set_status(UploadStatus::Uploading);
            }
            while !paused && tasks.len() < concurrency {
                let Some(number) = pending.pop_front() else {
                    break;
                };
                let (off, len) = part_range(&token, number);
                // The part is read inside its task, so reads overlap sends; a slot holds at
                // most one part, which bounds memory by part size x concurrency.
                let (adapter, spec, session) = (adapter.clone(), spec.clone(), session.clone());
                let (replay, retry, timeout, rate) = (
                    replay.clone(),
                    self.job.retry,
                    self.job.timeout,
                    self.rate.clone(),
                );
                tasks.spawn(async move {
                    let (data, crc32c) = match replay.read_range_crc(off, len).await {
                        Ok(d) => d,
                        Err(e) => return (number, 0, Err(e)),
                    };
                    let part = Part {
                        number,
                        offset: off,
                        crc32c,
                        data,
                    };
                    send_part(adapter, spec, session, part, retry, timeout, rate).await
                });
            }
            if tasks.is_empty() && pending.is_empty() {
                break;
            }
            let cancel = self.job.cancel.clone();
            tokio::select! {
                joined = tasks.join_next() => {
                    let Some(joined) = joined else { continue };
                    let (number, crc, result) = joined.map_err(|e| Error::new(ErrorKind::Other, format!("part task failed: {e}")))?;
                    match result {
                        Ok((landed, r)) => {
                            self.retries += u64::from(r);
                            self.bytes_sent += landed.size;
                            self.loaded += landed.size;
                            self.parts_sent += 1;
                            if landed.crc32c.is_none() {
                                token.fingerprint.parts.insert(number, crc);
                            }
                            done.insert(number, landed);
                            token.landed = format_ranges(done.keys().copied());
                            self.publish_token(token.clone()).await?;
                            self.emit_progress();
                        }
                        Err(e) => {
                            settle(&mut tasks).await;
                            return Err(e);
                        }
                    }
                }
                _ = cancel.cancelled() => {}
                _ = self.commands.changed() => {}
            }
        }

        let parts: Vec<LandedPart> = done.into_values().collect();
        // Say so before asking: a complete that lands just before a crash (or a cancel) leaves
        // a token whose session is gone, and this tells the resume why.
        token.completing = true;
        self.publish_token(token.clone()).await?;
        let meta = self.complete_parts(&spec, &session, &parts).await?;
        self.finished(meta, resumed_bytes, resumed).await
    }

    /// Completes a parts session, never blindly retried: after an ambiguous failure the
    /// session is probed; if it is still open completing again is safe, if it is gone the
    /// object must be in place with the body's size.
    pub(super) async fn complete_parts(
        &mut self,
        spec: &UploadSpec,
        session: &Session,
        parts: &[LandedPart],
    ) -> Result<ObjectMeta> {
        let adapter = self.adapter();
        let UploadFamily::Parts(p) = adapter.upload_family() else {
            unreachable!()
        };
        let retry = self.job.retry;
        let started = tokio::time::Instant::now();
        let mut attempt = 0u32;
        loop {
            let complete = within(self.job.timeout, p.complete(spec, session, parts));
            let result = match self.guard(complete).await {
                Ok(r) => r,
                Err(i) => return Err(self.handle_interrupt(i).await),
            };
            let e = match result {
                Ok(meta) => return Ok(meta),
                Err(e) if !e.is_retryable() => return Err(e),
                Err(e) => e,
            };
            attempt += 1;
            let Some(wait) = retry.wait_before_retry(&e, attempt, started.elapsed()) else {
                return Err(e);
            };
            self.retries += 1;
            if let Err(i) = self.guard(tokio::time::sleep(wait)).await {
                return Err(self.handle_interrupt(i).await);
            }
            // Ambiguous: did the complete land? Ask the provider.
            match within(self.job.timeout, p.probe(spec, session)).await {
                Ok(_) => continue, // the session is still open: completing again is safe
                Err(pe) if matches!(pe.kind(), ErrorKind::SessionExpired | ErrorKind::NotFound) => {
                    // The session is gone: this complete (or another process's, still being
                    // assembled) landed if the object appears.
                    let found = match self.await_completed_object(spec.total).await {
                        Ok(found) => found,
                        Err(i) => return Err(self.handle_interrupt(i).await),
                    };
                    return match found {
                        Some(meta) => Ok(meta),
                        None => Err(Error::new(
                            ErrorKind::SessionExpired,
                            format!(
                                "completing the upload failed ambiguously ({e}) and the session is gone without the object in place"
                            ),
                        )),
                    };
                }
                Err(_) => continue,
            }
        }
    }
}

/// A part task's answer: its number, the CRC32C of what was sent, and the landed part with the
/// retries it took.
pub(super) type PartResult = (u32, u32, Result<(LandedPart, u32)>);

pub(super) async fn send_part(
    adapter: Arc<dyn Adapter>,
    spec: Arc<UploadSpec>,
    session: Arc<Session>,
    part: Part,
    retry: RetryPolicy,
    timeout: Option<Duration>,
    rate: Option<Arc<RateLimiter>>,
) -> PartResult {
    let number = part.number;
    let crc = part.crc32c;
    let UploadFamily::Parts(p) = adapter.upload_family() else {
        return (
            number,
            crc,
            Err(Error::new(ErrorKind::Other, "adapter changed family")),
        );
    };
    if let Some(rate) = &rate {
        rate.acquire(part.data.len() as u64).await;
    }
    // The checks run inside the retry loop: a part the provider stored damaged is sent again.
    let result = retry
        .run(timeout, |_| {
            let p = &p;
            let spec = &spec;
            let session = &session;
            let part = part.clone();
            async move {
                let len = part.data.len() as u64;
                let landed = p.put_part(spec, session, part).await?;
                if landed.size != len {
                    return Err(Error::transient(format!(
                        "the provider stored {} bytes of part {number}, not {len}",
                        landed.size
                    )));
                }
                if landed.crc32c.is_some_and(|c| c != crc) {
                    return Err(Error::transient(format!(
                        "the provider's checksum of part {number} does not match what was sent"
                    )));
                }
                Ok(LandedPart { number, ..landed })
            }
        })
        .await;
    (number, crc, result)
}

/// How long a resume whose checkpoint says the complete was sent waits, at most (without a
/// request timeout), for the assembled object to appear once the session is gone.
const COMPLETE_SETTLE: Duration = Duration::from_secs(30);

/// The MD5 an S3-style ETag (`"<32 hex digits>"`, quotes optional) names, if it names one.
fn etag_md5(etag: &str) -> Option<[u8; 16]> {
    let hex = etag.trim().trim_matches('"');
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Offset and length of part `number` (1-based).
fn part_range(token: &ResumeToken, number: u32) -> (u64, u64) {
    let off = u64::from(number - 1) * token.part_size;
    (off, token.part_size.min(token.total - off))
}
