//! The store's errors: an absent key is `NotFound`, an unknown session `SessionExpired`.

use files_core::{Error, ErrorKind, Session};

pub(crate) fn not_found(key: &str) -> Error {
    Error::not_found(format!("no object at key `{key}`"))
}

pub(crate) fn session_expired(session: &Session) -> Error {
    Error::new(
        ErrorKind::SessionExpired,
        format!(
            "upload session `{}` does not exist in this memory store (completed, aborted, or begun in another store or process)",
            session.display_id()
        ),
    )
}
