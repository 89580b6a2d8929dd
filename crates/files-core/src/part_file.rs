//! Conventions shared by the adapters whose resumable uploads collect their bytes in a part
//! file beside the target (local disk, SFTP, FTP, WebDAV): the part file is `<key>.fls-part`,
//! derived from the key alone, so their sessions carry nothing; atomic writes go through a
//! temporary `.fls-tmp-*` name renamed into place. Keys may not use either name.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::adapter::Session;
use crate::error::{Error, Result};

/// The suffix of part files (`<key>.fls-part`), where resumable uploads collect their bytes.
pub const PART_SUFFIX: &str = ".fls-part";

/// The prefix of the temporary files that atomic writes rename into place.
pub const TEMP_PREFIX: &str = ".fls-tmp-";

/// Whether a key segment names a part file or a temporary file (reserved: not a valid key).
pub fn is_reserved(segment: &str) -> bool {
    segment.ends_with(PART_SUFFIX) || segment.starts_with(TEMP_PREFIX)
}

/// A fresh temporary file name (`.fls-tmp-<pid>-<n>-<nanos>`), unique within this process and
/// unlikely to collide with another's.
pub fn temp_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{TEMP_PREFIX}{}-{n}-{nanos:x}", std::process::id())
}

/// Checks a session loaded from a token for an adapter whose part file is named by the key:
/// such sessions carry nothing, so one with an id or fields was not made by the adapter
/// `name` (as users know it: `fs`, `SFTP` ...).
pub fn check_keyless_session(session: &Session, name: &str) -> Result<()> {
    if !session.id.is_empty() || session.sensitive || !session.extra.is_empty() {
        return Err(Error::token_invalid(format!(
            "{name} upload sessions carry no id: this token was not made by the {name} adapter"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_and_keyless_sessions() {
        assert!(is_reserved("a.fls-part"));
        assert!(is_reserved(&temp_name()));
        assert!(!is_reserved("a.fls-partx"));
        assert_ne!(temp_name(), temp_name());
        assert!(check_keyless_session(&Session::default(), "fs").is_ok());
        let e = check_keyless_session(&Session::new("x"), "SFTP").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::TokenInvalid);
        assert!(e.message().contains("SFTP upload sessions carry no id"));
    }
}
