//! The file system's errors mapped onto [`ErrorKind`]: an absent path is `NotFound` (or, for a
//! part file, `SessionExpired`).

use std::io;

use files_core::{Error, ErrorKind};

pub(crate) fn expired(key: &str) -> Error {
    Error::new(
        ErrorKind::SessionExpired,
        format!("no part file for `{key}`: the upload was finished, cancelled or never begun"),
    )
}

pub(crate) fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

pub(crate) fn not_found_or(e: io::Error, key: &str) -> Error {
    if is_absent(&e) {
        Error::not_found(format!("no object at `{key}`")).with_source(e)
    } else {
        Error::from_io(e)
    }
}
