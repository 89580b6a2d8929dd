//! [`UploadControl`]: pause, resume, abort and observe an upload from outside it.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::token::ResumeToken;

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UploadStatus {
    /// Not started (or between calls).
    Idle,
    /// Sending parts.
    Uploading,
    /// Paused: no part in flight, waiting for `resume()`.
    Paused,
    /// Done: the object exists.
    Completed,
    /// Aborted: the provider session was discarded. Terminal.
    Aborted,
    /// The last call failed (or was cancelled); the session is kept and can be resumed.
    Error,
}

impl UploadStatus {
    /// `completed`, `paused`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            UploadStatus::Idle => "idle",
            UploadStatus::Uploading => "uploading",
            UploadStatus::Paused => "paused",
            UploadStatus::Completed => "completed",
            UploadStatus::Aborted => "aborted",
            UploadStatus::Error => "error",
        }
    }
}

impl fmt::Display for UploadStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    Run,
    Pause,
    Abort,
}

/// A handle to drive an upload from outside: create one, pass a clone to
/// [`UploadBuilder::control`](crate::UploadBuilder::control), keep the other.
///
/// * [`pause`](Self::pause) stops dispatching parts; parts in flight settle, then the upload
///   call waits (its future stays pending) until [`resume`](Self::resume), an abort, or its
///   cancellation token.
/// * [`abort`](Self::abort) stops the upload **and discards the provider session**; terminal.
///   Cancelling the call's `CancellationToken` instead stops it and keeps the session.
/// * [`token`](Self::token) is the resume token once a session exists: persist it, and
///   [`UploadControl::from_token`] in a later process resumes with the same body.
///
/// A control drives one upload call at a time; passing it to a second concurrent call fails.
///
/// ```
/// use files_core::{UploadControl, UploadStatus};
/// let control = UploadControl::new();
/// assert_eq!(control.status(), UploadStatus::Idle);
/// control.pause();
/// control.resume();
/// assert!(control.token().is_none());
/// ```
#[derive(Clone)]
pub struct UploadControl {
    inner: Arc<Inner>,
}

struct Inner {
    command: watch::Sender<Command>,
    status: watch::Sender<UploadStatus>,
    token: Mutex<Option<ResumeToken>>,
    loaded: AtomicU64,
    total: AtomicU64,
    total_known: AtomicBool,
    running: AtomicBool,
}

impl Default for UploadControl {
    fn default() -> Self {
        Self::new()
    }
}

impl UploadControl {
    /// A fresh control: idle, no token.
    pub fn new() -> Self {
        UploadControl {
            inner: Arc::new(Inner {
                command: watch::Sender::new(Command::Run),
                status: watch::Sender::new(UploadStatus::Idle),
                token: Mutex::new(None),
                loaded: AtomicU64::new(0),
                total: AtomicU64::new(0),
                total_known: AtomicBool::new(false),
                running: AtomicBool::new(false),
            }),
        }
    }

    /// A control that resumes the session named by `token` when passed to an upload of the
    /// same key with the same body.
    pub fn from_token(token: ResumeToken) -> Self {
        let c = Self::new();
        c.inner.loaded.store(token.loaded, Ordering::SeqCst);
        c.inner.total.store(token.total, Ordering::SeqCst);
        c.inner.total_known.store(true, Ordering::SeqCst);
        *c.inner.token.lock().expect("token lock") = Some(token);
        c
    }

    /// Parses a token from JSON text (see [`ResumeToken::from_json`]) and wraps it.
    pub fn from_json(text: &str) -> Result<Self> {
        Ok(Self::from_token(ResumeToken::from_json(text)?))
    }

    /// Stops dispatching new parts; in-flight parts settle, then the upload waits.
    /// No effect once the upload has finished or was aborted.
    pub fn pause(&self) {
        self.inner.command.send_if_modified(|c| {
            if *c == Command::Run {
                *c = Command::Pause;
                true
            } else {
                false
            }
        });
    }

    /// Continues a paused upload.
    pub fn resume(&self) {
        self.inner.command.send_if_modified(|c| {
            if *c == Command::Pause {
                *c = Command::Run;
                true
            } else {
                false
            }
        });
    }

    /// Cancels the upload and discards the provider-side session. Terminal: the token can no
    /// longer be resumed. Called before the upload starts, the upload discards the session
    /// named by this control's token (if any) and returns
    /// [`ErrorKind::Aborted`](crate::ErrorKind::Aborted).
    pub fn abort(&self) {
        self.inner.command.send_replace(Command::Abort);
    }

    /// Where the upload stands.
    pub fn status(&self) -> UploadStatus {
        *self.inner.status.borrow()
    }

    /// Bytes confirmed by the provider (including bytes that landed before a resume).
    pub fn loaded(&self) -> u64 {
        self.inner.loaded.load(Ordering::SeqCst)
    }

    /// The body's total length, once known.
    pub fn total(&self) -> Option<u64> {
        self.inner
            .total_known
            .load(Ordering::SeqCst)
            .then(|| self.inner.total.load(Ordering::SeqCst))
    }

    /// The resume token, once a provider session exists (`None` before, and for uploads that
    /// went in a single request).
    pub fn token(&self) -> Option<ResumeToken> {
        self.inner.token.lock().expect("token lock").clone()
    }

    /// Waits until the status satisfies `pred` (e.g. `|s| s == UploadStatus::Paused`).
    pub async fn wait_for(&self, mut pred: impl FnMut(UploadStatus) -> bool) -> UploadStatus {
        let mut rx = self.inner.status.subscribe();
        let result = rx.wait_for(|s| pred(*s)).await.map(|s| *s);
        result.unwrap_or_else(|_| self.status())
    }

    /// Waits until the upload driven by this control has no part in flight: paused,
    /// completed, aborted or failed. If no upload has started yet, it waits for one to start
    /// and settle (so `pause(); settled().await` right after spawning an upload is safe).
    pub async fn settled(&self) -> UploadStatus {
        self.wait_for(|s| !matches!(s, UploadStatus::Uploading | UploadStatus::Idle))
            .await
    }

    // ---- used by the scheduler ----

    pub(crate) fn attach(&self) -> Result<AttachGuard> {
        if self.inner.running.swap(true, Ordering::SeqCst) {
            return Err(Error::invalid_input(
                "this UploadControl is already driving another upload",
            ));
        }
        Ok(AttachGuard {
            control: self.clone(),
        })
    }

    pub(crate) fn commands(&self) -> watch::Receiver<Command> {
        self.inner.command.subscribe()
    }

    pub(crate) fn set_status(&self, status: UploadStatus) {
        self.inner.status.send_if_modified(|s| {
            if *s != status {
                *s = status;
                true
            } else {
                false
            }
        });
    }

    pub(crate) fn set_token(&self, token: Option<ResumeToken>) {
        *self.inner.token.lock().expect("token lock") = token;
    }

    pub(crate) fn set_progress(&self, loaded: u64, total: Option<u64>) {
        self.inner.loaded.fetch_max(loaded, Ordering::SeqCst);
        if let Some(t) = total {
            self.inner.total.store(t, Ordering::SeqCst);
            self.inner.total_known.store(true, Ordering::SeqCst);
        }
    }

    pub(crate) fn reset_progress(&self, loaded: u64) {
        self.inner.loaded.store(loaded, Ordering::SeqCst);
    }
}

pub(crate) struct AttachGuard {
    control: UploadControl,
}

impl Drop for AttachGuard {
    fn drop(&mut self) {
        self.control.inner.running.store(false, Ordering::SeqCst);
    }
}

impl fmt::Debug for UploadControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UploadControl")
            .field("status", &self.status())
            .field("loaded", &self.loaded())
            .field("total", &self.total())
            .field("token", &self.token())
            .finish()
    }
}
