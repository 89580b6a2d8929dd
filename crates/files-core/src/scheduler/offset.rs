//! The byte-offset family: probe the offset, verify the prefix against the token's
//! fingerprint, append one chunk at a time (re-probing after a failed append), finish.

use std::time::Duration;

use super::{Runner, UploadOutcome, spec_of};
use crate::adapter::{ObjectMeta, OffsetState, Session, UploadFamily, UploadSpec};
use crate::control::UploadStatus;
use crate::error::{Error, ErrorKind, Result};
use crate::retry::within;
use crate::token::ResumeToken;

impl Runner {
    pub(super) async fn run_offset_fresh(
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
        token.landed = "0".into();
        self.publish_token(token.clone()).await?;
        self.offset_engine(token, 0, false).await
    }

    pub(super) async fn run_offset(&mut self, token: ResumeToken) -> Result<UploadOutcome> {
        self.control.set_status(UploadStatus::Uploading);
        let adapter = self.adapter();
        let spec = spec_of(&token, &self.job.options);
        let UploadFamily::Offset(o) = adapter.upload_family() else {
            unreachable!()
        };
        let (retry, timeout) = (self.job.retry, self.job.timeout);
        let probe = retry.run(timeout, |_| o.probe(&spec, &token.session));
        let state = match self.guard(probe).await {
            Ok(Ok((s, r))) => {
                self.retries += u64::from(r);
                s
            }
            Ok(Err(e)) if matches!(e.kind(), ErrorKind::SessionExpired | ErrorKind::NotFound) => {
                return Err(self.expired_message(e).await);
            }
            Ok(Err(e)) => return Err(e),
            Err(i) => return Err(self.handle_interrupt(i).await),
        };
        let offset = match state {
            OffsetState::Finished(meta) => {
                self.verify_prefix(&token, token.fingerprint.prefix_len)
                    .await?;
                return self.finished(meta, token.total, true).await;
            }
            OffsetState::Offset(n) => n,
        };
        if offset > token.total {
            return Err(Error::conflict(format!(
                "the provider holds {offset} bytes, more than the body's {}",
                token.total
            )));
        }
        let verified = token
            .fingerprint
            .prefix_len
            .min(offset.max(token.fingerprint.prefix_len));
        self.verify_prefix(&token, verified).await?;
        let mut token = token;
        if offset > token.fingerprint.prefix_len {
            // Bytes landed past what the token vouches for (a token older than the session):
            // extend the fingerprint from the body; they cannot be checked.
            let extra = self
                .job
                .body
                .read_range(
                    token.fingerprint.prefix_len,
                    offset - token.fingerprint.prefix_len,
                )
                .await?;
            token.fingerprint.prefix_crc32c =
                crc32c::crc32c_append(token.fingerprint.prefix_crc32c, &extra);
            token.fingerprint.prefix_len = offset;
        }
        self.offset_engine(token, offset, true).await
    }

    /// Checks that the body's first `len` bytes still have the fingerprint recorded.
    async fn verify_prefix(&self, token: &ResumeToken, len: u64) -> Result<()> {
        if len == 0 || len != token.fingerprint.prefix_len {
            return Ok(());
        }
        let mut crc = 0u32;
        let step = 8 << 20;
        let mut off = 0;
        while off < len {
            let n = step.min(len - off);
            let data = self.job.body.read_range(off, n).await?;
            crc = crc32c::crc32c_append(crc, &data);
            off += n;
        }
        if crc != token.fingerprint.prefix_crc32c {
            return Err(Error::body_changed(format!(
                "the body's first {len} bytes differ from the upload being resumed; the body changed since the upload started"
            )));
        }
        Ok(())
    }

    async fn offset_engine(
        &mut self,
        mut token: ResumeToken,
        start: u64,
        resumed: bool,
    ) -> Result<UploadOutcome> {
        let adapter = self.adapter();
        let spec = spec_of(&token, &self.job.options);
        let UploadFamily::Offset(o) = adapter.upload_family() else {
            unreachable!()
        };
        let total = token.total;
        let resumed_bytes = start;
        let mut offset = start;
        self.loaded = start;
        self.control.reset_progress(start);
        token.landed = offset.to_string();
        self.publish_token(token.clone()).await?;
        self.emit_progress();
        let retry = self.job.retry;
        let replay =
            self.job.body.replay().ok_or_else(|| {
                Error::invalid_input("a resumable upload needs a re-readable body")
            })?;
        let mut prefetch: Option<(u64, u64, tokio::task::JoinHandle<Result<bytes::Bytes>>)> = None;
        let mut failures = 0u32;
        let mut first_failure: Option<tokio::time::Instant> = None;
        loop {
            if let Err(i) = self.wait_while_paused().await {
                return Err(self.handle_interrupt(i).await);
            }
            if offset == total {
                let timeout = self.job.timeout;
                let finish = retry.run(None, |_| finish_once(o, &spec, &token.session, timeout));
                let meta = match self.guard(finish).await {
                    Ok(r) => r,
                    Err(i) => return Err(self.handle_interrupt(i).await),
                };
                let (meta, r) = meta?;
                self.retries += u64::from(r);
                return self.finished(meta, resumed_bytes, resumed).await;
            }
            let end = (offset + token.part_size).min(total);
            let data = match prefetch.take() {
                Some((o, e, handle)) if o == offset && e == end => {
                    handle.await.map_err(|e| {
                        Error::new(ErrorKind::Other, format!("read task failed: {e}"))
                    })??
                }
                _ => replay.read_range(offset, end - offset).await?,
            };
            // Read the next chunk while this one is sent (two chunks in memory at most).
            if end < total {
                let next_end = (end + token.part_size).min(total);
                let r = replay.clone();
                prefetch = Some((
                    end,
                    next_end,
                    tokio::spawn(async move { r.read_range(end, next_end - end).await }),
                ));
            }
            if end > token.fingerprint.prefix_len {
                let from = (token.fingerprint.prefix_len - offset) as usize;
                token.fingerprint.prefix_crc32c =
                    crc32c::crc32c_append(token.fingerprint.prefix_crc32c, &data[from..]);
                token.fingerprint.prefix_len = end;
                // Persist the fingerprint before the bytes can land, so that any byte the
                // provider holds after a crash is covered by it.
                self.publish_token(token.clone()).await?;
            }
            if let Some(rate) = self.rate.clone()
                && let Err(i) = self.guard(rate.acquire(end - offset)).await
            {
                return Err(self.handle_interrupt(i).await);
            }
            let last = end == total;
            let append = within(
                self.job.timeout,
                o.append(&spec, &token.session, offset, data, last),
            );
            let result = match self.guard_settling(append).await {
                Ok(r) => r,
                Err(i) => {
                    if let Some((_, _, read)) = prefetch.take() {
                        read.abort();
                    }
                    return Err(self.handle_interrupt(i).await);
                }
            };
            // An answer that moved nothing forward is a failure too, or a provider that keeps
            // refusing bytes would loop forever.
            let result = match result {
                Ok(OffsetState::Offset(n)) if n <= offset => Err(Error::transient(format!(
                    "the provider accepted no bytes at offset {offset}"
                ))),
                other => other,
            };
            let state = match result {
                Ok(s) => {
                    failures = 0;
                    first_failure = None;
                    s
                }
                Err(e) if e.is_retryable() || e.kind() == ErrorKind::Conflict => {
                    failures += 1;
                    let began = *first_failure.get_or_insert_with(tokio::time::Instant::now);
                    // The provider's Retry-After if it gave one, else the backoff.
                    let Some(wait) = retry.wait_before_retry(&e, failures, began.elapsed()) else {
                        return Err(e);
                    };
                    self.retries += 1;
                    if let Err(i) = self.guard(tokio::time::sleep(wait)).await {
                        return Err(self.handle_interrupt(i).await);
                    }
                    // The truth after a failed append: how much did the provider keep?
                    let timeout = self.job.timeout;
                    let probe = retry.run(timeout, |_| o.probe(&spec, &token.session));
                    match self.guard(probe).await {
                        Ok(Ok((s, r))) => {
                            self.retries += u64::from(r);
                            // Bytes moved forward: the retry budget is per request that
                            // makes no progress, not per chunk.
                            if matches!(s, OffsetState::Offset(n) if n > offset)
                                || matches!(s, OffsetState::Finished(_))
                            {
                                failures = 0;
                                first_failure = None;
                            }
                            s
                        }
                        Ok(Err(pe)) => return Err(pe),
                        Err(i) => return Err(self.handle_interrupt(i).await),
                    }
                }
                Err(e) => return Err(e),
            };
            match state {
                OffsetState::Finished(meta) => {
                    self.bytes_sent += total - offset;
                    self.parts_sent += 1;
                    return self.finished(meta, resumed_bytes, resumed).await;
                }
                OffsetState::Offset(n) => {
                    if n > total {
                        return Err(Error::conflict(format!(
                            "the provider reports {n} bytes, more than the body's {total}"
                        )));
                    }
                    if n > offset {
                        self.bytes_sent += n - offset;
                        self.parts_sent += 1;
                    }
                    offset = n;
                    self.loaded = self.loaded.max(n);
                    token.landed = n.to_string();
                    self.publish_token(token.clone()).await?;
                    self.emit_progress();
                }
            }
        }
    }
}

async fn finish_once(
    o: &dyn crate::adapter::OffsetUpload,
    spec: &UploadSpec,
    session: &Session,
    timeout: Option<Duration>,
) -> Result<ObjectMeta> {
    match within(timeout, o.finish(spec, session)).await {
        Ok(meta) => Ok(meta),
        Err(e) if e.is_retryable() => {
            // Ambiguous: if the provider says the object is finished, it is.
            if let Ok(OffsetState::Finished(meta)) = within(timeout, o.probe(spec, session)).await {
                return Ok(meta);
            }
            Err(e)
        }
        Err(e) => Err(e),
    }
}
