//! SSH and SFTP errors mapped onto [`ErrorKind`]: connection failures are `Transient`
//! (retryable), SFTP statuses `NotFound`, `Unauthorized` (permission denied), `NotSupported` and
//! `Other`; secrets never reach a message.

use files_core::{Error, ErrorKind};
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::StatusCode;

/// A key-loading error without the key material (only its kind).
pub(crate) fn key_error_text(e: &russh::keys::Error) -> String {
    match e {
        russh::keys::Error::IO(io) => io.to_string(),
        other => {
            let t = other.to_string();
            // Messages name the problem (wrong passphrase, unsupported format); keep them short.
            t.chars().take(200).collect()
        }
    }
}

/// Maps a russh (SSH layer) error.
pub(crate) fn ssh_error(e: russh::Error, what: &str) -> Error {
    use russh::Error as E;
    let kind = match &e {
        E::IO(io) => return Error::from_io(io_clone(io)).with_operation_text(what),
        E::ConnectionTimeout | E::KeepaliveTimeout | E::InactivityTimeout | E::Elapsed(_) => {
            ErrorKind::Timeout
        }
        E::Disconnect | E::HUP | E::SendError | E::RecvError | E::Pending => ErrorKind::Transient,
        E::UnknownKey | E::KeyChanged { .. } | E::WrongServerSig => ErrorKind::Unauthorized,
        E::NoCommonAlgo { .. } | E::UnsupportedAuthMethod | E::NoAuthMethod => {
            ErrorKind::NotSupported
        }
        E::ChannelOpenFailure(_) | E::RequestDenied => ErrorKind::Unauthorized,
        _ => ErrorKind::Other,
    };
    Error::new(kind, format!("{what}: SSH: {e}"))
}

fn io_clone(e: &std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), e.to_string())
}

trait WithText {
    fn with_operation_text(self, what: &str) -> Self;
}

impl WithText for Error {
    fn with_operation_text(self, what: &str) -> Self {
        let retryable = self.is_retryable();
        Error::new(self.kind(), format!("{what}: {}", self.message())).with_retryable(retryable)
    }
}

/// Maps an SFTP error: the status codes onto kinds, a lost session onto a retryable
/// transient error.
pub(crate) fn sftp_error(e: SftpError, what: &str, path: &str) -> Error {
    let on = if path.is_empty() {
        String::new()
    } else {
        format!(" `{path}`")
    };
    match e {
        SftpError::Status(st) => {
            let kind = match st.status_code {
                StatusCode::NoSuchFile => ErrorKind::NotFound,
                StatusCode::PermissionDenied => ErrorKind::Unauthorized,
                StatusCode::NoConnection | StatusCode::ConnectionLost => ErrorKind::Transient,
                StatusCode::OpUnsupported => ErrorKind::NotSupported,
                StatusCode::Ok | StatusCode::Eof | StatusCode::Failure | StatusCode::BadMessage => {
                    ErrorKind::Other
                }
            };
            let detail = if st.error_message.is_empty() {
                st.status_code.to_string()
            } else {
                Error::redacted(&st.error_message)
            };
            Error::new(kind, format!("SFTP {what}{on}: {detail}"))
        }
        SftpError::Timeout => Error::new(
            ErrorKind::Timeout,
            format!("SFTP {what}{on}: the server did not answer in time"),
        ),
        SftpError::Limited(m) => Error::invalid_input(format!("SFTP {what}{on}: {m}")),
        SftpError::IO(m) => Error::transient(format!("SFTP {what}{on}: connection: {m}")),
        SftpError::UnexpectedPacket => Error::transient(format!(
            "SFTP {what}{on}: unexpected packet from the server"
        )),
        SftpError::UnexpectedBehavior(m) => {
            Error::transient(format!("SFTP {what}{on}: session lost ({m})"))
        }
    }
}

pub(crate) fn expired(key: &str) -> Error {
    Error::new(
        ErrorKind::SessionExpired,
        format!("no part file for `{key}`: the upload was finished, cancelled or never begun"),
    )
}
