//! Response headers to [`ObjectMeta`], and HTTP dates.

use std::time::SystemTime;

use files_core::ObjectMeta;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, HeaderMap, HeaderName,
    LAST_MODIFIED,
};

/// A header's value as text, trimmed; `None` if absent or not visible ASCII.
pub fn text(h: &HeaderMap, name: impl reqwest::header::AsHeaderName) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
}

/// `Content-Length`.
pub fn content_length(h: &HeaderMap) -> Option<u64> {
    text(h, CONTENT_LENGTH)?.parse().ok()
}

/// `ETag`, normalized to its quoted form (`W/"x"` stays weak; a bare `x` becomes `"x"`).
pub fn etag(h: &HeaderMap) -> Option<String> {
    text(h, ETAG)
        .filter(|t| !t.is_empty())
        .map(|t| normalize_etag(&t))
}

/// An entity tag in its quoted form: `"x"` and `W/"x"` as they are, a bare `x` as `"x"`.
pub fn normalize_etag(tag: &str) -> String {
    let tag = tag.trim();
    if tag.starts_with('"') || tag.starts_with("W/") {
        tag.to_string()
    } else {
        format!("\"{tag}\"")
    }
}

/// `Last-Modified`.
pub fn last_modified(h: &HeaderMap) -> Option<SystemTime> {
    parse_http_date(&text(h, LAST_MODIFIED)?)
}

/// Parses an HTTP date (IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, and the obsolete RFC 850
/// and asctime forms) with the `httpdate` crate.
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s.trim()).ok()
}

/// Formats an HTTP date (IMF-fixdate); a time before 1970 is written as the epoch.
pub fn http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t.max(SystemTime::UNIX_EPOCH))
}

/// A `Content-Range: bytes A-B/TOTAL` (or `bytes A-B/*`, or `bytes */TOTAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// The first byte and one past the last (`None` for `bytes */TOTAL`).
    pub range: Option<(u64, u64)>,
    /// The complete length, if known.
    pub total: Option<u64>,
}

impl ContentRange {
    /// Parses a header value; `None` if it is not a valid byte range (an end before its start,
    /// or past the total, is invalid).
    pub fn parse(value: &str) -> Option<ContentRange> {
        let v = value.trim().strip_prefix("bytes")?.trim_start();
        let (range, total) = v.split_once('/')?;
        let total = match total.trim() {
            "*" => None,
            t => Some(t.parse::<u64>().ok()?),
        };
        let range = match range.trim() {
            "*" => None,
            r => {
                let (a, b) = r.split_once('-')?;
                let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b || total.is_some_and(|t| b >= t) {
                    return None;
                }
                Some((a, b.checked_add(1)?))
            }
        };
        if range.is_none() && total.is_none() {
            return None;
        }
        Some(ContentRange { range, total })
    }

    /// The header value for bytes `start..end` of `total` (`*` when unknown); an empty range
    /// is `bytes */TOTAL`.
    pub fn header(start: u64, end: u64, total: Option<u64>) -> String {
        let total = total.map_or_else(|| "*".to_string(), |t| t.to_string());
        if end <= start {
            format!("bytes */{total}")
        } else {
            format!("bytes {start}-{}/{total}", end - 1)
        }
    }
}

/// The answer's `Content-Range`, if it has a valid one.
pub fn content_range(h: &HeaderMap) -> Option<ContentRange> {
    ContentRange::parse(&text(h, CONTENT_RANGE)?)
}

/// The object's whole size from an answer: the total of its `Content-Range` (a ranged answer),
/// else its `Content-Length`.
pub fn object_size(h: &HeaderMap) -> Option<u64> {
    content_range(h)
        .and_then(|r| r.total)
        .or_else(|| content_length(h))
}

/// [`ObjectMeta`] from an answer's headers: size ([`object_size`]), `ETag`, `Last-Modified`,
/// `Content-Type`, `Cache-Control`, and user metadata from headers starting with
/// `meta_prefix` (`x-amz-meta-`, `x-ms-meta-`; `None`: none read).
pub fn meta_from_headers(key: &str, h: &HeaderMap, meta_prefix: Option<&str>) -> ObjectMeta {
    let mut m = ObjectMeta::new(key, object_size(h).unwrap_or(0));
    m.etag = etag(h);
    m.last_modified = last_modified(h);
    m.content_type = text(h, CONTENT_TYPE).filter(|t| !t.is_empty());
    m.cache_control = text(h, CACHE_CONTROL).filter(|t| !t.is_empty());
    if let Some(prefix) = meta_prefix {
        for (name, value) in h {
            if let Some(k) = name.as_str().strip_prefix(prefix)
                && let Ok(v) = value.to_str()
            {
                m.metadata.insert(k.to_string(), v.to_string());
            }
        }
    }
    m
}

/// A header name from a static lower-case string.
pub const fn name(s: &'static str) -> HeaderName {
    HeaderName::from_static(s)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn content_ranges() {
        let p = ContentRange::parse;
        assert_eq!(
            p("bytes 0-9/100"),
            Some(ContentRange {
                range: Some((0, 10)),
                total: Some(100)
            })
        );
        assert_eq!(p("bytes 5-9/*").unwrap().range, Some((5, 10)));
        assert_eq!(
            p("bytes */42").unwrap(),
            ContentRange {
                range: None,
                total: Some(42)
            }
        );
        for bad in [
            "bytes 9-5/100",
            "bytes 0-100/100",
            "bytes */*",
            "0-9/10",
            "bytes a-b/1",
            "",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
        assert_eq!(p(&format!("bytes 0-{}/*", u64::MAX)), None);
        assert_eq!(ContentRange::header(0, 10, Some(100)), "bytes 0-9/100");
        assert_eq!(ContentRange::header(10, 10, Some(10)), "bytes */10");
        assert_eq!(ContentRange::header(5, 7, None), "bytes 5-6/*");
    }

    #[test]
    fn meta() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_LENGTH, HeaderValue::from_static("10"));
        h.insert(CONTENT_RANGE, HeaderValue::from_static("bytes 0-9/300"));
        h.insert(ETAG, HeaderValue::from_static("abc"));
        h.insert(
            LAST_MODIFIED,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        h.insert("x-amz-meta-colour", HeaderValue::from_static("blue"));
        let m = meta_from_headers("k", &h, Some("x-amz-meta-"));
        assert_eq!(m.size, 300);
        assert_eq!(m.etag.as_deref(), Some("\"abc\""));
        assert_eq!(
            m.last_modified,
            Some(UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
        assert_eq!(m.content_type.as_deref(), Some("text/plain"));
        assert_eq!(m.metadata.get("colour").map(String::as_str), Some("blue"));
        assert_eq!(normalize_etag("W/\"x\""), "W/\"x\"");
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(784_111_777)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }
}
