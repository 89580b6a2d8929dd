//! The part scheduler: the one place that drives upload primitives.
//!
//! It owns, for every adapter: bounded concurrency (memory stays within part size x
//! concurrency), per-part retries with backoff and a deadline (the payload is re-read from the
//! body), pause / resume / abort / cancellation, progress that never goes backwards, checkpoint
//! persistence, changed-body detection, the reconciliation of a token with what the provider
//! reports, and a "complete" that is never retried blindly.
//!
//! Split by role: this module holds the job, the entry point and the machinery every family
//! shares (progress, pause / abort / cancellation, checkpoints, retries); one submodule per
//! way of sending a body:
//!
//! * `one_shot`: one request;
//! * `parts`: numbered parts in parallel (probe, verify landed parts, send the rest, complete);
//! * `streamed`: a body of unknown length cut into parts as it arrives;
//! * `offset`: a byte offset that only grows (probe, verify the prefix, append).

mod offset;
mod one_shot;
mod parts;
mod streamed;

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::adapter::{
    Adapter, ObjectMeta, PutOptions, Resumability, Session, UploadFamily, UploadSpec,
};
use crate::body::Body;
use crate::checkpoint;
use crate::control::{Command, UploadControl, UploadStatus};
use crate::error::{Error, ErrorKind, Result};
use crate::ratelimit::RateLimiter;
use crate::retry::RetryPolicy;
use crate::token::{Fingerprint, ResumeToken, TOKEN_VERSION, TokenFamily};

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

/// How long a cancelled call waits, at most, for the part requests in flight to finish (it
/// should return promptly; a request still running after this is dropped).
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// Lets the part tasks in flight finish, for at most `grace`, then stops the rest.
async fn drain<T: 'static>(tasks: &mut JoinSet<T>, grace: Duration) {
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    settle(tasks).await;
}

fn spec_of(token: &ResumeToken, options: &PutOptions) -> UploadSpec {
    UploadSpec {
        key: token.key.clone(),
        total: token.total,
        part_size: token.part_size,
        options: options.clone(),
    }
}
