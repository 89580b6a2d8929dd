//! FTP replies and connection failures → `files_core::Error`.
//!
//! Messages carry the reply code and the server's text (passed through
//! [`Error::redacted`]), never a command line: the `PASS` line is the one place a secret
//! travels, and it is never quoted.

use files_core::{Error, ErrorKind};
use suppaftp::FtpError;

/// What a `550` means for the command that got it: most commands get it for a missing file,
/// some (MKD, STOR) for anything the server refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum On550 {
    /// A missing file or directory.
    NotFound,
    /// The server refused the action (permissions, a file in the way, ...).
    Refused,
}

/// The reply code of a failed command, if the server answered.
pub(crate) fn code(err: &FtpError) -> Option<u32> {
    match err {
        FtpError::UnexpectedResponse(r) => Some(r.status.code()),
        _ => None,
    }
}

/// Whether the control connection is still usable after `err`: the server refused the command
/// with a complete negative reply (4xx/5xx other than 421), so both sides agree on where the
/// conversation is. A positive reply that is not the one the command expects means the
/// conversation is out of step (a late reply of an earlier transfer, say): the connection is
/// not reused.
pub(crate) fn connection_survives(err: &FtpError) -> bool {
    matches!(err, FtpError::UnexpectedResponse(r) if r.status.code() >= 400 && r.status.code() != 421)
}

fn reply_text(err: &FtpError) -> String {
    match err {
        FtpError::UnexpectedResponse(r) => {
            let text = String::from_utf8_lossy(&r.body);
            let text = text.trim();
            let text: String = text.chars().take(300).collect();
            Error::redacted(&text)
        }
        other => Error::redacted(&other.to_string()),
    }
}

/// Maps a suppaftp error of `operation` to a `files` error.
pub(crate) fn map(err: FtpError, operation: &'static str, on550: On550) -> Error {
    let text = reply_text(&err);
    let e = match &err {
        FtpError::ConnectionError(io) => {
            let kind = if io.kind() == std::io::ErrorKind::TimedOut {
                ErrorKind::Timeout
            } else {
                ErrorKind::Transient
            };
            Error::new(kind, format!("FTP connection failed: {io}")).with_retryable(true)
        }
        FtpError::SecureError(s) => {
            let lower = s.to_ascii_lowercase();
            if lower.contains("certificate") || lower.contains("unknownissuer") {
                Error::new(
                    ErrorKind::Other,
                    format!(
                        "the FTPS server's certificate is not trusted ({}); trust its CA with `ca_file` / `?ca=PATH`",
                        Error::redacted(s)
                    ),
                )
                .with_retryable(false)
            } else {
                Error::transient(format!("TLS failure: {}", Error::redacted(s)))
            }
        }
        FtpError::UnexpectedResponse(r) => {
            let code = r.status.code();
            match code {
                530 | 331 | 332 => Error::new(
                    ErrorKind::Unauthorized,
                    format!("the FTP server refused the login ({code} {text})"),
                )
                .with_retryable(false),
                // The server's disk (or the account's quota) is full: 552 "exceeded storage
                // allocation", and a 452 / 451 / 426 whose text says the space ran out
                // ("insufficient storage", "No space left on device"). Not retried: room has to
                // be made first.
                552 => storage_full(code, &text),
                426 | 451 | 452 if hints_full(&text) => storage_full(code, &text),
                421 | 425 | 426 | 450 | 451 | 452 => {
                    Error::transient(format!("the FTP server answered {code} {text}"))
                }
                550 if on550 == On550::NotFound && !hints_permission(&text) => {
                    Error::not_found(format!("no such file ({code} {text})"))
                }
                550 if hints_not_found(&text) => {
                    Error::not_found(format!("no such file or directory ({code} {text})"))
                }
                550 | 532 => Error::new(
                    ErrorKind::Unauthorized,
                    format!("the FTP server refused the action ({code} {text})"),
                ),
                // A transfer-complete reply where a transfer was to start: the server lost
                // (or closed) the data connection before the transfer began. pyftpdlib 2.2.0
                // does this now and then under concurrent sessions (docs/ftp.md).
                226 | 250 if matches!(operation, "get" | "put" | "append" | "list" | "begin") => {
                    Error::transient(format!(
                        "the FTP server closed the data connection before the transfer began ({code} {text})"
                    ))
                }
                c if c < 400 => Error::transient(format!(
                    "the FTP server's reply was out of step with the command ({code} {text}); the connection is dropped"
                )),
                553 => Error::invalid_input(format!(
                    "the FTP server refused the file name ({code} {text})"
                )),
                500 | 501 | 502 | 504 => Error::not_supported(format!(
                    "the FTP server does not support the command ({code} {text})"
                )),
                c if (400..500).contains(&c) => {
                    Error::transient(format!("the FTP server answered {code} {text}"))
                }
                _ => Error::new(
                    ErrorKind::Other,
                    format!("unexpected FTP reply {code} {text}"),
                ),
            }
        }
        FtpError::BadResponse => Error::transient("the FTP server sent a malformed reply"),
        FtpError::InvalidAddress(a) => {
            Error::transient(format!("the FTP server sent a bad data address: {a}"))
        }
        FtpError::DataConnectionAlreadyOpen => Error::new(
            ErrorKind::Other,
            "internal error: an FTP data connection is already open",
        ),
    };
    e.with_operation(operation).with_provider("ftp")
}

/// A full store: [`ErrorKind::StorageFull`], never retried, saying so first.
fn storage_full(code: u32, text: &str) -> Error {
    Error::new(
        ErrorKind::StorageFull,
        format!("no space left on the store: the FTP server answered {code} {text}"),
    )
    .with_retryable(false)
}

/// Whether a reply's text says the server ran out of space.
fn hints_full(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("no space")
        || t.contains("space left")
        || t.contains("insufficient storage")
        || t.contains("storage space")
        || t.contains("disk full")
        || t.contains("quota")
}

fn hints_permission(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("permission") || t.contains("denied") || t.contains("not allowed")
}

fn hints_not_found(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("no such") || t.contains("not found") || t.contains("does not exist")
}

#[cfg(test)]
mod tests {
    use super::*;
    use suppaftp::Status;
    use suppaftp::types::Response;

    fn reply(code: u32, text: &str) -> FtpError {
        FtpError::UnexpectedResponse(Response {
            status: Status::from(code),
            body: format!("{code} {text}").into_bytes(),
        })
    }

    #[test]
    fn kinds() {
        let e = map(reply(530, "Login incorrect."), "login", On550::Refused);
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(!e.is_retryable());
        let e = map(reply(550, "No such file."), "size", On550::NotFound);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = map(reply(550, "Permission denied."), "size", On550::NotFound);
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        let e = map(
            reply(550, "Create directory operation failed."),
            "mkd",
            On550::Refused,
        );
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        for c in [421, 425, 426, 450, 451] {
            let e = map(reply(c, "try later"), "stor", On550::Refused);
            assert!(e.is_retryable(), "{c}");
        }
        let io = FtpError::ConnectionError(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(map(io, "stor", On550::Refused).is_retryable());
        assert!(!connection_survives(&reply(421, "bye")));
        assert!(connection_survives(&reply(550, "no")));
        // A stray positive reply: the conversation is out of step, the connection is dropped
        // and the operation retried on a fresh one.
        assert!(!connection_survives(&reply(226, "Transfer complete.")));
        let e = map(reply(226, "Transfer complete."), "get", On550::NotFound);
        assert!(e.is_retryable());
        assert!(e.to_string().contains("before the transfer began"), "{e}");
        assert!(map(reply(213, "100"), "head", On550::NotFound).is_retryable());
    }

    #[test]
    fn a_full_store_is_storage_full() {
        for (c, text, op) in [
            (
                552,
                "Requested file action aborted. Exceeded storage allocation.",
                "put",
            ),
            (552, "Quota exceeded.", "append"),
            (452, "Insufficient storage space in system.", "put"),
            (
                451,
                "Error writing file: No space left on device.",
                "append",
            ),
            (
                426,
                "Transfer aborted; [Errno 28] No space left on device.",
                "put",
            ),
        ] {
            let e = map(reply(c, text), op, On550::Refused);
            assert_eq!(e.kind(), ErrorKind::StorageFull, "{c}: {e}");
            assert_eq!(e.kind().as_str(), "storage_full");
            assert!(!e.is_retryable(), "{c}: a full store is not retried");
            assert!(
                e.message().starts_with("no space left on the store"),
                "{}",
                e.message()
            );
            assert!(e.message().contains(&c.to_string()), "{}", e.message());
            assert_eq!(e.context().operation, Some(op));
        }
        // Transient 4xx replies that say nothing about space stay transient.
        for c in [426, 451, 452] {
            let e = map(reply(c, "try later"), "put", On550::Refused);
            assert_eq!(e.kind(), ErrorKind::Transient, "{c}");
        }
    }
}
