//! The `ftp_list` fuzz check, shared by the fuzz target (`fuzz/fuzz_targets/ftp_list.rs`) and
//! the corpus replay test (`tests/tests/fuzz_corpus.rs`).
//!
//! Every line of the input goes through the FTP adapter's `MLSD` and `LIST` line parsers and
//! its `MDTM` timestamp parser (`files_ftp::fuzzing`). Invariants:
//! * no parser panics;
//! * an `MLSD` entry's name is exactly the text after the first space, non-empty, and the
//!   entry is a directory exactly when the `type` fact says `dir`;
//! * a `LIST` entry's name is non-empty and not `.` or `..`, and a directory has no
//!   symlink arrow;
//! * the first 8 bytes, as a time up to year 9999, written `YYYYMMDDHHMMSS` (and with a
//!   fraction) parse back to that time.
//!
//! Names with `/` are returned by the parsers and dropped by the listing walk (`read_dir`),
//! which needs a connection and is not fuzzed here.

use std::time::{Duration, UNIX_EPOCH};

const MAX_SECS: u64 = 253_402_300_799;

/// Runs the check on one input.
pub fn check(data: &[u8]) {
    mdtm_round_trip(data);
    let text = String::from_utf8_lossy(data);
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        mlsd(line);
        list(line);
        let _ = files_ftp::fuzzing::parse_mdtm(line);
    }
}

fn mlsd(line: &str) {
    let Some((name, dir, _size, _modified)) = files_ftp::fuzzing::parse_mlsd(line) else {
        return;
    };
    assert!(!name.is_empty(), "MLSD {line:?} gave an empty name");
    let (facts, after) = line
        .split_once(' ')
        .expect("a parsed MLSD line has a space");
    assert_eq!(
        name, after,
        "MLSD {line:?}: name is not the text after the space"
    );
    let kind = facts
        .split(';')
        .filter_map(|f| f.split_once('='))
        .filter(|(k, _)| k.eq_ignore_ascii_case("type"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .next_back();
    assert_eq!(
        dir,
        kind.as_deref() == Some("dir"),
        "MLSD {line:?}: directory flag disagrees with the type fact"
    );
}

fn list(line: &str) {
    let Some((name, _dir, _size, _modified)) = files_ftp::fuzzing::parse_list(line) else {
        return;
    };
    assert!(!name.is_empty(), "LIST {line:?} gave an empty name");
    assert!(name != "." && name != "..", "LIST {line:?} gave {name:?}");
}

fn mdtm_round_trip(data: &[u8]) {
    let Some(head) = data.get(..8) else { return };
    let secs = u64::from_le_bytes(head.try_into().expect("8 bytes")) % (MAX_SECS + 1);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let text = format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    let t = UNIX_EPOCH + Duration::from_secs(secs);
    assert_eq!(
        files_ftp::fuzzing::parse_mdtm(&text),
        Some(t),
        "MDTM {text:?}"
    );
    let millis = u64::from(data.get(8).copied().unwrap_or(0)) % 1000;
    let with_frac = format!("{text}.{millis:03}");
    assert_eq!(
        files_ftp::fuzzing::parse_mdtm(&with_frac),
        Some(t + Duration::from_millis(millis)),
        "MDTM {with_frac:?}"
    );
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}
