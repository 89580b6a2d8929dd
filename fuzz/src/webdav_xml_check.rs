//! The `webdav_xml` fuzz check, shared by the fuzz target (`fuzz/fuzz_targets/webdav_xml.rs`)
//! and the corpus replay test (`tests/tests/fuzz_corpus.rs`).
//!
//! The input goes through the WebDAV adapter's PROPFIND `multistatus` parser and what the
//! listing does with each entry (`files_webdav::fuzzing`: href decoding, ETag normalization,
//! HTTP dates). Invariants:
//! * nothing panics; malformed XML is an `Err`, not a panic;
//! * every entry has a non-empty, trimmed `href`; a decoded href holds no replacement character;
//!   a normalized ETag is quoted or weak;
//! * a one-response answer built from the input's first line (escaped as a server would) parses
//!   back to that href, size and collection flag, under any `DAV:` prefix.

use files_webdav::fuzzing;

/// Runs the check on one input.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(entries) = fuzzing::multistatus(&text) {
        for e in entries {
            assert!(!e.href.is_empty(), "an entry without href: {e:?}");
            assert_eq!(e.href.trim(), e.href, "an untrimmed href: {e:?}");
            if let Some(path) = fuzzing::href_path(&e.href) {
                assert!(!path.contains('\u{FFFD}'), "href {:?} -> {path:?}", e.href);
            }
            if let Some(tag) = e.etag.as_deref() {
                let n = fuzzing::normalize_etag(tag);
                assert!(
                    n.starts_with('"') || n.starts_with("W/"),
                    "ETag {tag:?} -> {n:?}"
                );
            }
            if let Some(d) = e.last_modified.as_deref() {
                let _ = fuzzing::parse_http_date(d);
            }
        }
    }
    let _ = fuzzing::percent_decode(&text);
    built(&text, data.first().copied().unwrap_or(0));
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A well-formed answer with one response whose href comes from the input.
fn built(text: &str, flags: u8) {
    let href: String = text
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control() && *c != '\u{FFFD}')
        .collect::<String>()
        .trim()
        .to_string();
    if href.is_empty() {
        return;
    }
    let prefix = ["D:", "d:", "ns0:", ""][usize::from(flags % 4)];
    let bind = if prefix.is_empty() {
        "xmlns=\"DAV:\"".to_string()
    } else {
        format!("xmlns:{}=\"DAV:\"", prefix.trim_end_matches(':'))
    };
    let collection = flags & 4 != 0;
    let size = u64::from(flags) * 1_000_003;
    let resourcetype = if collection {
        format!("<{prefix}resourcetype><{prefix}collection/></{prefix}resourcetype>")
    } else {
        format!("<{prefix}resourcetype/>")
    };
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<{prefix}multistatus {bind}>\
         <{prefix}response><{prefix}href>{}</{prefix}href><{prefix}propstat><{prefix}prop>\
         {resourcetype}<{prefix}getcontentlength>{size}</{prefix}getcontentlength>\
         </{prefix}prop><{prefix}status>HTTP/1.1 200 OK</{prefix}status></{prefix}propstat>\
         </{prefix}response></{prefix}multistatus>",
        escape(&href)
    );
    let entries = fuzzing::multistatus(&xml)
        .unwrap_or_else(|e| panic!("a well-formed answer fails: {e}\n{xml}"));
    assert_eq!(entries.len(), 1, "{xml}");
    assert_eq!(entries[0].href, href, "{xml}");
    assert_eq!(entries[0].collection, collection, "{xml}");
    assert_eq!(entries[0].size, Some(size), "{xml}");
}
