//! The part scheduler: the one place that drives upload primitives.
//!
//! It owns, for every adapter: bounded concurrency (memory stays within part size x
//! concurrency), per-part retries with backoff and a deadline (the payload is re-read from the
//! body), pause / resume / abort / cancellation, progress that never goes backwards, checkpoint
//! persistence, changed-body detection, the reconciliation of a token with what the provider
//! reports, and a "complete" that is never retried blindly.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use futures::StreamExt;
use md5::Digest as _;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::adapter::{
    Adapter, LandedPart, ObjectMeta, OffsetState, Part, PutOptions, Resumability, Session,
    UploadFamily, UploadSpec,
};
use crate::body::{Body, ByteStream};
use crate::checkpoint;
use crate::control::{Command, UploadControl, UploadStatus};
use crate::error::{Error, ErrorKind, Result};
use crate::ratelimit::RateLimiter;
use crate::retry::{RetryPolicy, within};
use crate::token::{Fingerprint, ResumeToken, TOKEN_VERSION, TokenFamily, format_ranges};

/// A progress report, sent after every confirmed part and once when an upload starts.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Bytes the provider confirmed, including bytes that landed before a resume. Never
    /// decreases during one call.
    pub loaded: u64,
    /// The body's length, if known.
    pub total: Option<u64>,
    /// Bytes sent and confirmed by this call.
    pub bytes_sent: u64,
    /// The current resume token (as in Alibaba OSS's `progress(percentage, checkpoint)`);
    /// `None` for single-request uploads.
    pub token: Option<ResumeToken>,
}

impl Progress {
    /// `loaded / total` in `0.0..=1.0`, when the total is known.
    pub fn fraction(&self) -> Option<f64> {
        self.total.map(|t| {
            if t == 0 {
                1.0
            } else {
                self.loaded as f64 / t as f64
            }
        })
    }
}

/// A progress callback. A panic inside it is caught and logged; it never disturbs the upload.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// What a finished upload reports.
#[derive(Debug, Clone)]
pub struct UploadOutcome {
    /// The stored object.
    pub meta: ObjectMeta,
    /// Bytes that had already landed before this call (resumed, not re-sent).
    pub bytes_resumed: u64,
    /// Bytes this call sent and the provider confirmed (retries not counted twice).
    pub bytes_sent: u64,
    /// Requests this call retried.
    pub retries: u64,
    /// Whether this call continued an existing session.
    pub resumed: bool,
    /// Parts (or chunks) this call sent.
    pub parts_sent: u64,
}

pub(crate) struct Job {
    pub adapter: Arc<dyn Adapter>,
    pub key: String,
    pub body: Body,
    pub options: PutOptions,
    pub part_size: Option<u64>,
    pub concurrency: usize,
    pub control: Option<UploadControl>,
    pub checkpoint: Option<PathBuf>,
    pub on_progress: Option<ProgressFn>,
    pub retry: RetryPolicy,
    pub timeout: Option<Duration>,
    pub cancel: CancellationToken,
    pub rate_limit: Option<u64>,
}

/// Runs an upload job to its end.
pub(crate) async fn run(job: Job) -> Result<UploadOutcome> {
    let control = job.control.clone().unwrap_or_default();
    let _guard = control.attach()?;
    let provider = job.adapter.provider();
    let key = job.key.clone();
    let mut runner = Runner {
        job,
        control: control.clone(),
        commands: control.commands(),
        loaded: 0,
        bytes_sent: 0,
        retries: 0,
        parts_sent: 0,
        token: None,
        rate: None,
    };
    runner.rate = runner.job.rate_limit.map(|r| Arc::new(RateLimiter::new(r)));
    let result = runner.run().await;
    let status = match &result {
        Ok(_) => UploadStatus::Completed,
        Err(e) if e.kind() == ErrorKind::Aborted => UploadStatus::Aborted,
        Err(_) => UploadStatus::Error,
    };
    control.set_status(status);
    result.map_err(|e| {
        let upload_id = runner
            .token
            .as_ref()
            .filter(|t| !t.session.sensitive && !t.session.id.is_empty())
            .map(|t| t.session.id.clone());
        let e = e
            .with_operation("upload")
            .with_provider(provider)
            .with_key(key);
        match upload_id {
            Some(id) => e.with_upload_id(id),
            None => e,
        }
    })
}

#[derive(Clone, Copy, Debug)]
enum Interrupt {
    Abort,
    Cancel,
}

struct Runner {
    job: Job,
    control: UploadControl,
    commands: watch::Receiver<Command>,
    loaded: u64,
    bytes_sent: u64,
    retries: u64,
    parts_sent: u64,
    token: Option<ResumeToken>,
    rate: Option<Arc<RateLimiter>>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn cancelled() -> Error {
    Error::new(
        ErrorKind::Cancelled,
        "the upload was cancelled; the provider session is kept and can be resumed",
    )
}

fn aborted() -> Error {
    Error::new(
        ErrorKind::Aborted,
        "the upload was aborted and its provider session discarded",
    )
}

impl Runner {
    fn adapter(&self) -> Arc<dyn Adapter> {
        self.job.adapter.clone()
    }

    async fn run(&mut self) -> Result<UploadOutcome> {
        let adapter = self.adapter();
        adapter.validate_key(&self.job.key)?;
        self.check_options()?;
        let family = adapter.upload_family();
        let resumability = family.resumability();
        let wants_resume = self.job.control.is_some() || self.job.checkpoint.is_some();
        if wants_resume {
            if !self.job.body.is_replayable() {
                return Err(Error::invalid_input(
                    "`control` and `checkpoint` need a body that can be read again (bytes or a file); a one-shot stream cannot be replayed on resume",
                ));
            }
            if resumability == Resumability::None {
                return Err(Error::not_supported(format!(
                    "provider `{}` has no resumable upload primitive, so `control` and `checkpoint` are not supported",
                    adapter.provider()
                )));
            }
            if self.job.checkpoint.is_some() && resumability == Resumability::InProcess {
                return Err(Error::not_supported(format!(
                    "provider `{}` resumes uploads only inside one process; a checkpoint file could not be resumed, so `checkpoint` is not supported (use `control` to pause and resume in-process)",
                    adapter.provider()
                )));
            }
        }

        // The token to resume: the control's, else the checkpoint file's.
        let mut token = self.control.token();
        if token.is_none()
            && let Some(path) = &self.job.checkpoint
        {
            token = checkpoint::load(path).await?;
        }
        let total = self.job.body.len();
        if let Some(total) = total {
            self.control.set_progress(0, Some(total));
        }

        if *self.commands.borrow() == Command::Abort {
            if let Some(t) = token {
                self.discard(&t).await?;
            }
            return Err(aborted());
        }

        if let Some(t) = token {
            let total = total.expect("replayable bodies have a length");
            self.validate_token(&t, total)?;
            self.control.reset_progress(t.loaded);
            self.token = Some(t.clone());
            return match (family, t.family) {
                (UploadFamily::Parts(_), TokenFamily::Parts) => self.run_parts(t).await,
                (UploadFamily::Offset(_), TokenFamily::Offset) => self.run_offset(t).await,
                _ => Err(Error::token_invalid(
                    "the token's upload family does not match this provider",
                )),
            };
        }

        let rules = family.rules();
        let part_size = match (self.job.part_size, total) {
            (Some(ps), Some(total)) => {
                rules.check(ps, total)?;
                ps
            }
            (Some(ps), None) => {
                rules.check(ps, ps)?;
                ps
            }
            (None, Some(total)) => rules.default_for(total)?,
            (None, None) => rules.default_part_size.max(rules.min_part_size),
        };
        // A stream cannot be re-read by position: parts providers cut it into parts as it
        // arrives (one request if it is short); the others take it in one request.
        if !self.job.body.is_replayable() {
            return match family {
                UploadFamily::Parts(_) => self.streamed_parts(part_size).await,
                _ => self.one_shot(total).await,
            };
        }
        let total_len = total.expect("replayable bodies have a length");
        if matches!(family, UploadFamily::OneShot) || total_len <= part_size {
            return self.one_shot(total).await;
        }
        let token = ResumeToken {
            completing: false,
            version: TOKEN_VERSION,
            provider: adapter.provider().to_string(),
            target: adapter.target(),
            key: self.job.key.clone(),
            total: total_len,
            part_size,
            family: match family {
                UploadFamily::Parts(_) => TokenFamily::Parts,
                _ => TokenFamily::Offset,
            },
            session: Session::default(),
            created_at: now_secs(),
            process: (resumability == Resumability::InProcess)
                .then(|| crate::token::process_instance_id().to_string()),
            landed: String::new(),
            loaded: 0,
            fingerprint: Fingerprint::default(),
            checksum: 0,
        };
        match family {
            UploadFamily::Parts(_) => self.run_parts_fresh(token).await,
            UploadFamily::Offset(_) => self.run_offset_fresh(token).await,
            UploadFamily::OneShot => unreachable!("handled above"),
        }
    }

    /// Whether a session that could not begin because the provider found out (at run time)
    /// that it cannot resume may be replaced by one request: only when the caller asked for
    /// no resumability (no `control`, no `checkpoint`). `begin` wrote nothing in that case.
    fn may_fall_back(&self, e: &Error) -> bool {
        e.kind() == ErrorKind::NotSupported
            && self.job.control.is_none()
            && self.job.checkpoint.is_none()
    }

    fn check_options(&self) -> Result<()> {
        let caps = self.job.adapter.capabilities();
        let o = &self.job.options;
        let p = self.job.adapter.provider();
        if o.content_type.is_some() && !caps.content_type {
            return Err(Error::not_supported(format!(
                "provider `{p}` does not store a content type"
            )));
        }
        if o.cache_control.is_some() && !caps.cache_control {
            return Err(Error::not_supported(format!(
                "provider `{p}` does not store cache-control"
            )));
        }
        if !o.metadata.is_empty() && !caps.metadata {
            return Err(Error::not_supported(format!(
                "provider `{p}` does not store user metadata"
            )));
        }
        if self.job.concurrency == 0 {
            return Err(Error::invalid_input("concurrency must be at least 1"));
        }
        Ok(())
    }

    fn validate_token(&self, t: &ResumeToken, total: u64) -> Result<()> {
        t.check_self()?;
        let a = &self.job.adapter;
        if t.provider != a.provider() {
            return Err(Error::token_invalid(format!(
                "the token belongs to provider `{}`, not `{}`",
                t.provider,
                a.provider()
            )));
        }
        if let Some(p) = &t.process
            && p != crate::token::process_instance_id()
        {
            return Err(Error::not_supported(format!(
                "provider `{}` resumes uploads only in the process that started them; this token comes from another process (not supported across processes)",
                t.provider
            )));
        }
        if t.target != a.target() {
            return Err(Error::token_invalid(format!(
                "the token is for another store (`{}`), not `{}`",
                t.target,
                a.target()
            )));
        }
        if t.key != self.job.key {
            return Err(Error::token_invalid(format!(
                "the token is for key `{}`, not `{}`",
                t.key, self.job.key
            )));
        }
        if t.total != total {
            return Err(Error::body_changed(format!(
                "the body is {total} bytes but the upload being resumed is {} bytes",
                t.total
            )));
        }
        let rules = a.upload_family().rules();
        rules.check(t.part_size, t.total).map_err(|e| {
            Error::token_invalid(format!(
                "the token's part size is unusable: {}",
                e.message()
            ))
        })?;
        a.check_session(&t.session)
            .map_err(|e| Error::token_invalid(e.message().to_string()))?;
        if let Some(part_size) = self.job.part_size
            && part_size != t.part_size
        {
            tracing::info!(
                requested = part_size,
                token = t.part_size,
                "resuming with the token's part size; the requested one is ignored"
            );
        }
        Ok(())
    }

    /// Discards the session a token names (used by abort before or during an upload).
    async fn discard(&mut self, t: &ResumeToken) -> Result<()> {
        let adapter = self.adapter();
        let spec = spec_of(t, &self.job.options);
        let retry = self.job.retry;
        let timeout = self.job.timeout;
        let (_, r) = match adapter.upload_family() {
            UploadFamily::Parts(p) => retry.run(timeout, |_| p.abort(&spec, &t.session)).await?,
            UploadFamily::Offset(o) => retry.run(timeout, |_| o.cancel(&spec, &t.session)).await?,
            UploadFamily::OneShot => ((), 0),
        };
        self.retries += u64::from(r);
        if let Some(path) = &self.job.checkpoint {
            checkpoint::remove(path).await?;
        }
        self.control.set_token(None);
        self.token = None;
        Ok(())
    }

    fn interrupt_now(&self) -> Option<Interrupt> {
        if *self.commands.borrow() == Command::Abort {
            Some(Interrupt::Abort)
        } else if self.job.cancel.is_cancelled() {
            Some(Interrupt::Cancel)
        } else {
            None
        }
    }

    /// Runs `fut` unless an abort or a cancellation comes first.
    async fn guard<T>(&mut self, fut: impl Future<Output = T>) -> Result<T, Interrupt> {
        tokio::pin!(fut);
        loop {
            if let Some(i) = self.interrupt_now() {
                return Err(i);
            }
            let cancel = self.job.cancel.clone();
            tokio::select! {
                v = &mut fut => return Ok(v),
                _ = cancel.cancelled() => {}
                _ = self.commands.changed() => {}
            }
        }
    }

    /// Runs a request `fut` unless an abort or a cancellation comes first; if one does, the
    /// request is still let finish, for a bounded time (as the parts family does with the
    /// parts in flight): a request whose body was sent can land even when the call drops it,
    /// and it must not land after the call returned, nor after an abort discarded the session
    /// (a late append would bring a deleted part file back).
    async fn guard_settling<T>(&mut self, fut: impl Future<Output = T>) -> Result<T, Interrupt> {
        tokio::pin!(fut);
        let interrupt = loop {
            if let Some(i) = self.interrupt_now() {
                break i;
            }
            let cancel = self.job.cancel.clone();
            tokio::select! {
                v = &mut fut => return Ok(v),
                _ = cancel.cancelled() => {}
                _ = self.commands.changed() => {}
            }
        };
        let grace = self.grace(interrupt);
        let _ = tokio::time::timeout(grace, fut).await;
        Err(interrupt)
    }

    /// How long requests in flight may take to finish after `i`.
    fn grace(&self, i: Interrupt) -> Duration {
        match i {
            Interrupt::Abort => self.job.timeout.unwrap_or(ABORT_GRACE),
            Interrupt::Cancel => self.job.timeout.unwrap_or(CANCEL_GRACE).min(CANCEL_GRACE),
        }
    }

    /// Blocks while paused (status `paused`), until resumed, aborted or cancelled.
    async fn wait_while_paused(&mut self) -> Result<(), Interrupt> {
        loop {
            if let Some(i) = self.interrupt_now() {
                return Err(i);
            }
            if *self.commands.borrow() != Command::Pause {
                self.control.set_status(UploadStatus::Uploading);
                return Ok(());
            }
            self.control.set_status(UploadStatus::Paused);
            let cancel = self.job.cancel.clone();
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = self.commands.changed() => {}
            }
        }
    }

    async fn handle_interrupt(&mut self, i: Interrupt) -> Error {
        match i {
            Interrupt::Cancel => cancelled(),
            Interrupt::Abort => {
                if let Some(t) = self.token.clone()
                    && let Err(e) = self.discard(&t).await
                {
                    return Error::new(
                        ErrorKind::Aborted,
                        format!(
                            "the upload was aborted, but discarding its provider session failed: {e}"
                        ),
                    );
                }
                aborted()
            }
        }
    }

    fn emit_progress(&mut self) {
        let total = self.job.body.len();
        self.control.set_progress(self.loaded, total);
        self.loaded = self.loaded.max(self.control.loaded());
        if let Some(cb) = &self.job.on_progress {
            let p = Progress {
                loaded: self.loaded,
                total,
                bytes_sent: self.bytes_sent,
                token: self.token.clone(),
            };
            if std::panic::catch_unwind(AssertUnwindSafe(|| cb(&p))).is_err() {
                tracing::warn!("the progress callback panicked; the upload goes on");
            }
        }
    }

    async fn publish_token(&mut self, token: ResumeToken) -> Result<()> {
        let mut token = token;
        token.loaded = self.loaded.min(token.total);
        token.seal();
        self.control.set_token(Some(token.clone()));
        if let Some(path) = &self.job.checkpoint {
            checkpoint::save(path, &token).await?;
        }
        self.token = Some(token);
        Ok(())
    }

    async fn finished(
        &mut self,
        meta: ObjectMeta,
        resumed_bytes: u64,
        resumed: bool,
    ) -> Result<UploadOutcome> {
        if let Some(path) = &self.job.checkpoint {
            checkpoint::remove(path).await?;
        }
        self.control.set_token(None);
        self.loaded = self.job.body.len().unwrap_or(self.loaded).max(self.loaded);
        self.emit_progress();
        Ok(UploadOutcome {
            meta,
            bytes_resumed: resumed_bytes,
            bytes_sent: self.bytes_sent,
            retries: self.retries,
            resumed,
            parts_sent: self.parts_sent,
        })
    }

    // ---------------------------------------------------------------- one shot

    async fn one_shot(&mut self, total: Option<u64>) -> Result<UploadOutcome> {
        if let Some(i) = self.interrupt_now() {
            return Err(self.handle_interrupt(i).await);
        }
        self.control.set_status(UploadStatus::Uploading);
        let adapter = self.adapter();
        let key = self.job.key.clone();
        let options = self.job.options.clone();
        let timeout = self.job.timeout;
        // With a rate limit the body is paced as the adapter reads it (each piece waits for
        // the limiter), not granted whole up front and then sent at full speed.
        let rate = self.rate.clone();
        let pace = move |stream: ByteStream| match &rate {
            Some(rate) => crate::ratelimit::paced(stream, rate.clone()),
            None => stream,
        };
        let result = if let Some(stream) = self.job.body.take_stream() {
            // A stream cannot be replayed: one attempt.
            let fut = adapter.put(&key, pace(stream), total, &options);
            match self.guard(within(timeout, fut)).await {
                Ok(r) => r,
                Err(i) => return Err(self.handle_interrupt(i).await),
            }
        } else {
            let total = total.unwrap_or(0);
            let body = &self.job.body;
            let retry = self.job.retry;
            let fut = retry.run(timeout, |_| {
                let adapter = adapter.clone();
                let key = key.clone();
                let options = options.clone();
                let pace = &pace;
                async move {
                    let data = body.read_range(0, total).await?;
                    let stream: ByteStream = futures::stream::once(async move { Ok(data) }).boxed();
                    adapter.put(&key, pace(stream), Some(total), &options).await
                }
            });
            let guarded = {
                let cancel = self.job.cancel.clone();
                let mut commands = self.commands.clone();
                async move {
                    tokio::pin!(fut);
                    loop {
                        if *commands.borrow() == Command::Abort {
                            return Err(Interrupt::Abort);
                        }
                        tokio::select! {
                            v = &mut fut => return Ok(v),
                            _ = cancel.cancelled() => return Err(Interrupt::Cancel),
                            _ = commands.changed() => {}
                        }
                    }
                }
            };
            match guarded.await {
                Ok(Ok((meta, r))) => {
                    self.retries += u64::from(r);
                    Ok(meta)
                }
                Ok(Err(e)) => Err(e),
                Err(i) => return Err(self.handle_interrupt(i).await),
            }
        };
        let meta = result?;
        self.bytes_sent = meta.size;
        self.parts_sent = 1;
        self.finished(meta, 0, false).await
    }

    // ---------------------------------------------------------------- parts family

    /// Starts the provider session of a fresh upload; `None` when the provider refused it in
    /// a way that lets the upload fall back to one request.
    ///
    /// Not raced against abort: an abort that arrives while the session is being created must
    /// still see the session, or it would leak a (billed) upload. Retried like any request (a
    /// throttled or dropped session start is transient); an ambiguous failure may leave a
    /// provider session nothing refers to, which the provider's expiry (or a lifecycle rule)
    /// removes.
    async fn begin_session(&mut self, token: &ResumeToken) -> Result<Option<Session>> {
        self.control.set_status(UploadStatus::Uploading);
        let adapter = self.adapter();
        let spec = spec_of(token, &self.job.options);
        let (retry, timeout) = (self.job.retry, self.job.timeout);
        let begun = match adapter.upload_family() {
            UploadFamily::Parts(p) => retry.run(timeout, |_| p.begin(&spec)).await,
            UploadFamily::Offset(o) => retry.run(timeout, |_| o.begin(&spec)).await,
            UploadFamily::OneShot => unreachable!("one-shot uploads have no session"),
        };
        match begun {
            Err(e) if self.may_fall_back(&e) => Ok(None),
            Err(e) => Err(e),
            Ok((session, r)) => {
                self.retries += u64::from(r);
                Ok(Some(session))
            }
        }
    }

    async fn run_parts_fresh(&mut self, mut token: ResumeToken) -> Result<UploadOutcome> {
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

    async fn run_parts(&mut self, mut token: ResumeToken) -> Result<UploadOutcome> {
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

    async fn expired_message(&self, e: Error) -> Error {
        let mut msg = format!(
            "the provider session no longer exists (expired, aborted or completed): {}",
            e.message()
        );
        if let (Ok(meta), Some(total)) = (
            self.job.adapter.head(&self.job.key).await,
            self.job.body.len(),
        ) && meta.size == total
        {
            msg.push_str("; an object of the body's size exists at the key, so the upload may have completed before its checkpoint was removed");
        }
        Error::new(ErrorKind::SessionExpired, msg)
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
    async fn complete_parts(
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

    /// A stream of unknown length on a parts provider: parts are cut from the stream as it
    /// arrives; each is kept in memory only until the provider confirms it. Not resumable.
    async fn streamed_parts(&mut self, part_size: u64) -> Result<UploadOutcome> {
        self.control.set_status(UploadStatus::Uploading);
        let adapter = self.adapter();
        let UploadFamily::Parts(p) = adapter.upload_family() else {
            unreachable!()
        };
        let mut stream = self
            .job
            .body
            .take_stream()
            .ok_or_else(|| Error::invalid_input("the stream body was already consumed"))?;
        // With a rate limit the stream is paced as it is read, and the parts cut from it are
        // not paced again: a part (or a short stream's one request) is sent as it is read.
        if let Some(rate) = &self.rate {
            stream = crate::ratelimit::paced(stream, rate.clone());
        }
        let rules = p.rules();
        let mut spec = UploadSpec {
            key: self.job.key.clone(),
            total: 0,
            part_size,
            options: self.job.options.clone(),
        };
        let mut buf = BytesMut::new();
        let mut first = Vec::new();
        // Read the first part: a short stream goes in one request.
        let mut ended = fill(&mut stream, &mut buf, part_size as usize + 1).await?;
        if ended {
            let data = buf.split().freeze();
            let len = data.len() as u64;
            let one: ByteStream = futures::stream::once(async move { Ok(data) }).boxed();
            let meta = within(
                self.job.timeout,
                adapter.put(&spec.key, one, Some(len), &spec.options),
            )
            .await?;
            self.bytes_sent = len;
            self.parts_sent = 1;
            return self.finished(meta, 0, false).await;
        }
        first.push(buf.split_to(part_size as usize).freeze());
        let (session, r) = self
            .job
            .retry
            .run(self.job.timeout, |_| p.begin(&spec))
            .await?;
        self.retries += u64::from(r);
        let session = Arc::new(session);
        let abort_session = |this: &mut Self, spec: UploadSpec, session: Arc<Session>| {
            let adapter = this.adapter();
            async move {
                if let UploadFamily::Parts(p) = adapter.upload_family() {
                    let _ = p.abort(&spec, &session).await;
                }
            }
        };
        let mut tasks: JoinSet<PartResult> = JoinSet::new();
        let mut done = std::collections::BTreeMap::new();
        let mut number = 0u32;
        let mut offset = 0u64;
        let shared_spec = Arc::new(spec.clone());
        loop {
            while tasks.len() < self.job.concurrency
                && !(ended && buf.is_empty() && first.is_empty())
            {
                let data = if let Some(d) = first.pop() {
                    d
                } else {
                    if !ended {
                        ended = fill(&mut stream, &mut buf, part_size as usize).await?;
                    }
                    let take = buf.len().min(part_size as usize);
                    buf.split_to(take).freeze()
                };
                if data.is_empty() {
                    break;
                }
                number += 1;
                if u64::from(number) > rules.max_parts {
                    settle(&mut tasks).await;
                    abort_session(self, spec.clone(), session.clone()).await;
                    return Err(Error::invalid_input(format!(
                        "the stream needs more than {} parts of {part_size} bytes; set a larger part size",
                        rules.max_parts
                    )));
                }
                let part = Part {
                    number,
                    offset,
                    crc32c: crc32c::crc32c(&data),
                    data,
                };
                offset += part.data.len() as u64;
                tasks.spawn(send_part(
                    adapter.clone(),
                    shared_spec.clone(),
                    session.clone(),
                    part,
                    self.job.retry,
                    self.job.timeout,
                    None, // paced as the stream was read
                ));
            }
            if tasks.is_empty() {
                break;
            }
            let cancel = self.job.cancel.clone();
            let joined = tokio::select! {
                j = tasks.join_next() => j,
                _ = cancel.cancelled() => {
                    settle(&mut tasks).await;
                    abort_session(self, spec.clone(), session.clone()).await;
                    return Err(Error::new(ErrorKind::Cancelled, "the upload was cancelled; a stream upload cannot be resumed, so its session was discarded"));
                }
            };
            let Some(joined) = joined else { continue };
            let (n, _, result) = joined
                .map_err(|e| Error::new(ErrorKind::Other, format!("part task failed: {e}")))?;
            match result {
                Ok((landed, r)) => {
                    self.retries += u64::from(r);
                    self.bytes_sent += landed.size;
                    self.loaded += landed.size;
                    self.parts_sent += 1;
                    done.insert(n, landed);
                    self.emit_progress();
                }
                Err(e) => {
                    settle(&mut tasks).await;
                    abort_session(self, spec.clone(), session.clone()).await;
                    return Err(e);
                }
            }
        }
        spec.total = offset;
        let parts: Vec<LandedPart> = done.into_values().collect();
        match self.complete_parts(&spec, &session, &parts).await {
            Ok(meta) => self.finished(meta, 0, false).await,
            Err(e) => {
                abort_session(self, spec.clone(), session.clone()).await;
                Err(e)
            }
        }
    }

    // ---------------------------------------------------------------- offset family

    async fn run_offset_fresh(&mut self, mut token: ResumeToken) -> Result<UploadOutcome> {
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

    async fn run_offset(&mut self, token: ResumeToken) -> Result<UploadOutcome> {
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

/// A part task's answer: its number, the CRC32C of what was sent, and the landed part with the
/// retries it took.
type PartResult = (u32, u32, Result<(LandedPart, u32)>);

async fn send_part(
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

/// Reads from `stream` into `buf` until it holds `want` bytes or the stream ends; returns
/// whether it ended.
async fn fill(stream: &mut ByteStream, buf: &mut BytesMut, want: usize) -> Result<bool> {
    while buf.len() < want {
        match stream.next().await {
            Some(chunk) => buf.extend_from_slice(&chunk?),
            None => return Ok(true),
        }
    }
    Ok(false)
}

/// Stops every part task and waits until each has stopped, so that no request of this call is
/// still running (and no part still landing) once the call returns. An aborted task stops at
/// its next await point, so this is prompt.
async fn settle<T: 'static>(tasks: &mut JoinSet<T>) {
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

/// How long an abort waits for the part requests in flight to finish when the upload has no
/// per-request timeout (a request still running after this is dropped).
const ABORT_GRACE: Duration = Duration::from_secs(30);

/// How long a resume whose checkpoint says the complete was sent waits, at most (without a
/// request timeout), for the assembled object to appear once the session is gone.
const COMPLETE_SETTLE: Duration = Duration::from_secs(30);

/// How long a cancelled call waits, at most, for the part requests in flight to finish (it
/// should return promptly; a request still running after this is dropped).
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// Lets the part tasks in flight finish, for at most `grace`, then stops the rest.
async fn drain<T: 'static>(tasks: &mut JoinSet<T>, grace: Duration) {
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    settle(tasks).await;
}

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

fn spec_of(token: &ResumeToken, options: &PutOptions) -> UploadSpec {
    UploadSpec {
        key: token.key.clone(),
        total: token.total,
        part_size: token.part_size,
        options: options.clone(),
    }
}

/// Offset and length of part `number` (1-based).
fn part_range(token: &ResumeToken, number: u32) -> (u64, u64) {
    let off = u64::from(number - 1) * token.part_size;
    (off, token.part_size.min(token.total - off))
}
