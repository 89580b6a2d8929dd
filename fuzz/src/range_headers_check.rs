//! The `range_headers` fuzz check, shared by the fuzz target (`fuzz/fuzz_targets/range_headers.rs`)
//! and the corpus replay test (`tests/tests/fuzz_corpus.rs`).
//!
//! Parsers: WebDAV `Content-Range` (`files_webdav::fuzzing::content_range`), the GCS/Drive
//! resumable `Range` header (`files_gcs::fuzzing::persisted_from_range`), and the HTTP and
//! RFC 3339 date parsers of WebDAV, Azure, GCS and Drive. Each runs on the whole input, on every
//! line, and on every `Name: value` line's value. Invariants:
//! * no parser panics;
//! * a parsed `Content-Range` has `start <= end < total` and reads back the same once rewritten;
//! * a persisted count from `Range` is what `bytes=0-(n-1)` gives, and the `0-0` quirk only
//!   ever lowers it to zero;
//! * the first 8 bytes, as a time up to year 9999, survive Azure's RFC 1123 formatting and
//!   both RFC 1123 parsers (Azure's and WebDAV's).

use std::time::{Duration, UNIX_EPOCH};

/// The last second of year 9999.
const MAX_SECS: u64 = 253_402_300_799;

/// Runs the check on one input.
pub fn check(data: &[u8]) {
    round_trip_date(data);
    content_range_bytes(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    one(text);
    for line in text.lines() {
        one(line);
        if let Some((_, value)) = line.split_once(':') {
            one(value);
        }
    }
}

fn one(v: &str) {
    content_range_bytes(v.as_bytes());
    range(v);
    let _ = files_webdav::fuzzing::parse_http_date(v);
    let _ = files_azure::fuzzing::parse_http_date(v);
    let _ = files_gcs::fuzzing::parse_rfc3339(v);
    let _ = files_gdrive::fuzzing::parse_rfc3339(v);
}

fn content_range_bytes(v: &[u8]) {
    let Some((start, end, total)) = files_webdav::fuzzing::content_range(v) else {
        return;
    };
    // `end` is exclusive: the header's last byte is `end - 1`.
    assert!(
        start < end && end <= total,
        "Content-Range {:?} parsed to {start}..{end}/{total}",
        String::from_utf8_lossy(v)
    );
    let again = format!("bytes {start}-{}/{total}", end - 1);
    assert_eq!(
        files_webdav::fuzzing::content_range(again.as_bytes()),
        Some((start, end, total)),
        "rewritten Content-Range {again:?}"
    );
}

fn range(v: &str) {
    let plain = files_gcs::fuzzing::persisted_from_range(Some(v), false);
    let quirk = files_gcs::fuzzing::persisted_from_range(Some(v), true);
    match (&plain, &quirk) {
        (Ok(p), Ok(q)) => assert!(*q == *p || *q == 0, "quirk changed {v:?}: {p} vs {q}"),
        (Err(_), Err(_)) => {}
        _ => panic!("the 0-0 quirk changed whether {v:?} parses"),
    }
    if let Ok(n) = plain
        && n > 0
    {
        let again = format!("bytes=0-{}", n - 1);
        assert_eq!(
            files_gcs::fuzzing::persisted_from_range(Some(&again), false).ok(),
            Some(n),
            "Range {v:?} gave {n}, {again:?} does not"
        );
    }
    if let Err(e) = plain {
        assert_eq!(e.kind(), files::ErrorKind::Other, "Range {v:?}: {e}");
    }
}

fn round_trip_date(data: &[u8]) {
    let Some(head) = data.get(..8) else { return };
    let secs = u64::from_le_bytes(head.try_into().expect("8 bytes")) % (MAX_SECS + 1);
    let t = UNIX_EPOCH + Duration::from_secs(secs);
    let text = files_azure::fuzzing::http_date(t);
    assert_eq!(
        files_azure::fuzzing::parse_http_date(&text),
        Some(t),
        "Azure's RFC 1123 date {text:?} ({secs} s)"
    );
    assert_eq!(
        files_webdav::fuzzing::parse_http_date(&text),
        Some(t),
        "WebDAV's RFC 1123 parser on {text:?} ({secs} s)"
    );
}
