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

/// The longest file name (in bytes) the file systems behind these stores accept: 255 on
/// ext4, XFS, btrfs, APFS, NTFS (in UTF-16 units there), and what POSIX servers report.
pub const MAX_NAME_BYTES: usize = 255;

/// Refuses a key with a segment longer than [`MAX_NAME_BYTES`], or whose last segment has no
/// room left for [`PART_SUFFIX`] (the part file of a resumable upload is `<name>.fls-part`), as
/// invalid input before anything is written; the server would refuse it anyway, with an
/// answer that tells nothing (FTP `550`, a bare `ENAMETOOLONG`).
pub fn check_name_lengths(key: &str) -> Result<()> {
    let mut segments = key.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        let max = if last {
            MAX_NAME_BYTES - PART_SUFFIX.len()
        } else {
            MAX_NAME_BYTES
        };
        if segment.len() > max {
            let shown: String = segment.chars().take(24).collect();
            return Err(Error::invalid_input(format!(
                "the key segment `{shown}…` is {} bytes; file-based stores allow {MAX_NAME_BYTES} bytes per name, and {} for the last one (its part file adds `{PART_SUFFIX}` while uploading)",
                segment.len(),
                MAX_NAME_BYTES - PART_SUFFIX.len()
            )));
        }
    }
    Ok(())
}

/// Whether a key segment names a part file or a temporary file (reserved: not a valid key).
pub fn is_reserved(segment: &str) -> bool {
    segment.ends_with(PART_SUFFIX) || segment.starts_with(TEMP_PREFIX)
}

/// The key rules of a part-file adapter named `name` (as users know it: `fs`, `SFTP` ...):
/// the default lexical rules ([`validate_key_default`](crate::adapter::validate_key_default)), the
/// name lengths ([`check_name_lengths`]), no trailing `/` (a directory is not a file), and no
/// segment reserved for part or temporary files ([`is_reserved`]).
pub fn validate_file_key(key: &str, name: &str) -> Result<()> {
    check_file_key(key, name, "directory", is_reserved, || {
        format!(
            "names ending in `{PART_SUFFIX}` or starting with `{TEMP_PREFIX}` are reserved for the {name} adapter's part and temporary files"
        )
    })
}

/// [`validate_file_key`] for an adapter with its own word for a directory (`collection`) and
/// its own reserved names: `reserved` says whether a segment is reserved, `why` what is.
pub fn check_file_key(
    key: &str,
    name: &str,
    directory: &str,
    reserved: impl Fn(&str) -> bool,
    why: impl FnOnce() -> String,
) -> Result<()> {
    crate::adapter::validate_key_default(key)?;
    check_name_lengths(key)?;
    if key.ends_with('/') {
        return Err(Error::invalid_input(format!(
            "a key ending in '/' names a {directory}; the {name} adapter stores files only"
        )));
    }
    if key.split('/').any(reserved) {
        return Err(Error::invalid_input(why()));
    }
    Ok(())
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
mod name_length_tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn names_up_to_the_limit_pass_and_longer_ones_are_invalid_input() {
        let dir = "d".repeat(MAX_NAME_BYTES);
        let last = "f".repeat(MAX_NAME_BYTES - PART_SUFFIX.len());
        check_name_lengths(&format!("{dir}/{last}")).unwrap();
        for key in [
            format!("{dir}d/x"),
            format!("{dir}/{last}f"),
            "é".repeat(124), // 248 bytes in one (last) segment
        ] {
            let err = check_name_lengths(&key).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{key}: {err}");
        }
    }
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
