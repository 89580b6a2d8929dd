//! The one public error type.
//!
//! Every failure of every adapter surfaces as an [`Error`] with an [`ErrorKind`] a caller can
//! `match` on, a retryable flag the part scheduler obeys, and context (operation, key, provider,
//! upload id) for the person reading it. An error never carries a credential or a bearer session
//! URL: adapters build messages from status codes and provider error codes, never from request
//! headers or URLs with query strings, and [`Error::redacted`] exists for the rare message that
//! must quote something that might be sensitive.

use std::fmt;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The object, container or session does not exist.
    NotFound,
    /// Credentials are missing, wrong, or lack permission.
    Unauthorized,
    /// The operation conflicts with the current state (precondition failed, wrong offset,
    /// concurrent writer).
    Conflict,
    /// The adapter cannot do this (a capability it does not declare).
    NotSupported,
    /// The caller's input is invalid (bad key, part size out of range, bad URL, bad option).
    InvalidInput,
    /// The body given to resume an upload is not the body the upload started with.
    BodyChanged,
    /// A resume token is malformed, tampered with, from another version, provider, target or
    /// key, or names a session this adapter must not trust.
    TokenInvalid,
    /// The provider-side upload session no longer exists (expired, aborted or completed
    /// elsewhere); the upload must start again.
    SessionExpired,
    /// The upload was aborted through [`UploadControl::abort`](crate::UploadControl::abort).
    Aborted,
    /// The call was cancelled through its cancellation token. The provider session is kept.
    Cancelled,
    /// A request took longer than its timeout, or retries exceeded their deadline.
    Timeout,
    /// A transient provider or network failure (5xx, throttling, reset connection).
    Transient,
    /// The store (or the local disk) has no room left for the bytes: `ENOSPC`, FTP `552`,
    /// WebDAV/HTTP `507 Insufficient Storage`, a quota exceeded. Not retried: room must be made
    /// first. An upload that fails with it keeps its session, so it resumes once there is room.
    StorageFull,
    /// Anything else: a provider answer that fits no other kind, a local I/O failure.
    Other,
}

impl ErrorKind {
    /// A short stable name, used by the CLI and in logs (`not_found`, `body_changed`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Conflict => "conflict",
            ErrorKind::NotSupported => "not_supported",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::BodyChanged => "body_changed",
            ErrorKind::TokenInvalid => "token_invalid",
            ErrorKind::SessionExpired => "session_expired",
            ErrorKind::Aborted => "aborted",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Transient => "transient",
            ErrorKind::StorageFull => "storage_full",
            ErrorKind::Other => "other",
        }
    }

    /// Whether an error of this kind is, by default, worth retrying.
    pub fn default_retryable(self) -> bool {
        matches!(self, ErrorKind::Timeout | ErrorKind::Transient)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Context attached to an error: which operation on which key of which provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorContext {
    /// The operation, e.g. `upload`, `put_part`, `head`.
    pub operation: Option<&'static str>,
    /// The provider name, e.g. `fs`, `s3`.
    pub provider: Option<String>,
    /// The object key.
    pub key: Option<String>,
    /// The provider's upload id, when it is not itself a credential.
    pub upload_id: Option<String>,
}

/// The error of every `files` operation.
///
/// Match on [`Error::kind`]; ask [`Error::is_retryable`] before retrying yourself (the SDK
/// already retried what it could under the call's retry policy).
pub struct Error(Box<Inner>);

struct Inner {
    kind: ErrorKind,
    retryable: bool,
    message: String,
    context: ErrorContext,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    /// How long the provider asked the client to wait before trying again (`Retry-After`).
    retry_after: Option<std::time::Duration>,
}

/// `Result<T, files_core::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a human message. The message must not contain secrets.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(Inner {
            kind,
            retryable: kind.default_retryable(),
            message: message.into(),
            context: ErrorContext::default(),
            source: None,
            retry_after: None,
        }))
    }

    /// Shorthand for [`ErrorKind::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    /// Shorthand for [`ErrorKind::InvalidInput`].
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }
    /// Shorthand for [`ErrorKind::NotSupported`].
    pub fn not_supported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotSupported, message)
    }
    /// Shorthand for [`ErrorKind::TokenInvalid`].
    pub fn token_invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::TokenInvalid, message)
    }
    /// Shorthand for [`ErrorKind::BodyChanged`].
    pub fn body_changed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BodyChanged, message)
    }
    /// Shorthand for [`ErrorKind::Transient`] (retryable).
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }
    /// Shorthand for [`ErrorKind::Conflict`].
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// Maps a local I/O error: `NotFound` stays not found, `PermissionDenied` is unauthorized,
    /// `AlreadyExists` a conflict, a full disk (`ENOSPC`, a quota exceeded, a file too large)
    /// [`ErrorKind::StorageFull`] with a message that starts "no space left on the disk",
    /// interruptions and timeouts transient, the rest `Other`.
    pub fn from_io(err: std::io::Error) -> Self {
        let kind = Self::kind_of_io(err.kind());
        let message = match kind {
            // The OS's words ("No space left on device", "Disk quota exceeded", "File too
            // large") vary; say plainly what a person has to act on, and keep them as detail.
            ErrorKind::StorageFull => format!("no space left on the disk: {err}"),
            _ => err.to_string(),
        };
        Error::new(kind, message).with_source(err)
    }

    /// The [`ErrorKind`] [`Error::from_io`] gives a local I/O error of kind `kind`.
    pub(crate) fn kind_of_io(kind: std::io::ErrorKind) -> ErrorKind {
        use std::io::ErrorKind as K;
        match kind {
            K::NotFound => ErrorKind::NotFound,
            K::PermissionDenied => ErrorKind::Unauthorized,
            K::AlreadyExists => ErrorKind::Conflict,
            K::InvalidInput | K::InvalidFilename => ErrorKind::InvalidInput,
            K::TimedOut => ErrorKind::Timeout,
            K::StorageFull | K::QuotaExceeded | K::FileTooLarge => ErrorKind::StorageFull,
            K::Interrupted
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::BrokenPipe
            | K::UnexpectedEof
            | K::WouldBlock
            // A server that is down or restarting refuses connections for a while.
            | K::ConnectionRefused
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::NetworkDown
            | K::AddrNotAvailable => ErrorKind::Transient,
            _ => ErrorKind::Other,
        }
    }

    /// Records how long the provider asked the client to wait before the next attempt (an HTTP
    /// `Retry-After`, a throttling error's own hint). If the error is retryable, the retry
    /// policy waits exactly this long instead of its own backoff; if that wait would pass the
    /// policy's deadline, it gives up with this error rather than sleep past the deadline
    /// ([`RetryPolicy::wait_before_retry`](crate::RetryPolicy::wait_before_retry)).
    pub fn with_retry_after(mut self, wait: std::time::Duration) -> Self {
        self.0.retry_after = Some(wait);
        self
    }
    /// How long the provider asked the client to wait before trying again, if it said.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.0.retry_after
    }

    /// Overrides whether the scheduler may retry this error.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.0.retryable = retryable;
        self
    }
    /// Attaches the underlying cause (its `Display` must not contain secrets either).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.0.source = Some(Box::new(source));
        self
    }
    /// Sets the operation, unless one is already set (the innermost operation wins).
    pub fn with_operation(mut self, operation: &'static str) -> Self {
        self.0.context.operation.get_or_insert(operation);
        self
    }
    /// Sets the provider name, unless one is already set.
    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        if self.0.context.provider.is_none() {
            self.0.context.provider = Some(provider.into());
        }
        self
    }
    /// Sets the key, unless one is already set.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        if self.0.context.key.is_none() {
            self.0.context.key = Some(key.into());
        }
        self
    }
    /// Sets the provider upload id. Do not pass a bearer session URL here.
    pub fn with_upload_id(mut self, upload_id: impl Into<String>) -> Self {
        if self.0.context.upload_id.is_none() {
            self.0.context.upload_id = Some(upload_id.into());
        }
        self
    }

    /// The kind to match on.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }
    /// Whether retrying the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        self.0.retryable
    }
    /// The human message, without context.
    pub fn message(&self) -> &str {
        &self.0.message
    }
    /// The context: operation, provider, key, upload id.
    pub fn context(&self) -> &ErrorContext {
        &self.0.context
    }

    /// Replaces anything in `text` that looks like a credential-bearing URL query or an
    /// `Authorization`-style value with `<redacted>`; for adapters that must quote a provider's
    /// free-text answer.
    pub fn redacted(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut redact_next = false;
        for (i, word) in text.split(' ').enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let lower = word.to_ascii_lowercase();
            if std::mem::take(&mut redact_next) {
                out.push_str("<redacted>");
            } else if let Some(q) = word.find('?').filter(|_| lower.contains("://")) {
                out.push_str(&word[..q]);
                out.push_str("?<redacted>");
            } else if [
                "signature=",
                "token=",
                "key=",
                "secret",
                "password",
                "bearer",
            ]
            .iter()
            .any(|needle| lower.contains(needle))
            {
                redact_next = lower == "bearer" || lower.ends_with(':');
                out.push_str("<redacted>");
            } else {
                out.push_str(word);
            }
        }
        out
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0.kind, self.0.message)?;
        let c = &self.0.context;
        let mut parts = Vec::new();
        if let Some(op) = c.operation {
            parts.push(format!("operation={op}"));
        }
        if let Some(p) = &c.provider {
            parts.push(format!("provider={p}"));
        }
        if let Some(k) = &c.key {
            parts.push(format!("key={k}"));
        }
        if let Some(u) = &c.upload_id {
            parts.push(format!("upload_id={u}"));
        }
        if !parts.is_empty() {
            write!(f, " ({})", parts.join(", "))?;
        }
        if let Some(source) = &self.0.source {
            let s = source.to_string();
            if !s.is_empty() && !self.0.message.contains(&s) {
                write!(f, ": {s}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("retryable", &self.0.retryable)
            .field("message", &self.0.message)
            .field("context", &self.0.context)
            .field("retry_after", &self.0.retry_after)
            .field("source", &self.0.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::from_io(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_kind_and_context() {
        let e = Error::not_found("no such object")
            .with_operation("head")
            .with_provider("fs")
            .with_key("a/b");
        assert_eq!(
            e.to_string(),
            "not_found: no such object (operation=head, provider=fs, key=a/b)"
        );
        assert!(!e.is_retryable());
        assert!(Error::transient("503").is_retryable());
    }

    #[test]
    fn a_full_disk_is_storage_full_and_says_so() {
        for (io, detail) in [
            (std::io::Error::from_raw_os_error(28), "os error 28"), // ENOSPC
            (std::io::Error::from(std::io::ErrorKind::StorageFull), ""),
            (std::io::Error::from(std::io::ErrorKind::QuotaExceeded), ""),
            (std::io::Error::from(std::io::ErrorKind::FileTooLarge), ""),
        ] {
            let e = Error::from_io(io);
            assert_eq!(e.kind(), ErrorKind::StorageFull, "{e}");
            assert_eq!(e.kind().as_str(), "storage_full");
            assert!(!e.is_retryable(), "a full disk is not retried: {e}");
            assert!(
                e.message().starts_with("no space left on the disk: "),
                "{}",
                e.message()
            );
            assert!(e.message().contains(detail), "{}", e.message());
            assert!(
                e.to_string().starts_with("storage_full: no space left"),
                "{e}"
            );
        }
        assert!(!ErrorKind::StorageFull.default_retryable());
        assert_eq!(ErrorKind::StorageFull.to_string(), "storage_full");
    }

    #[test]
    fn a_refused_connection_is_transient() {
        let e = Error::from_io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!((e.kind(), e.is_retryable()), (ErrorKind::Transient, true));
    }

    #[test]
    fn redacts_query_strings_and_secrets() {
        let s = Error::redacted("PUT https://h/upload?upload_id=abc&sig=x failed Bearer xyz");
        assert!(!s.contains("abc"));
        assert!(!s.contains("sig=x"));
        assert!(s.contains("https://h/upload?<redacted>"));
        assert!(!s.contains("xyz"));
    }
}
