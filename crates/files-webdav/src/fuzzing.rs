//! The parsers this crate reads server answers with, exposed for the fuzz targets in `fuzz/`
//! and their corpus replay test; not a stable API. Most are the `files-http` kit's, as this
//! adapter calls them.

use reqwest::header::{CONTENT_RANGE, HeaderMap, HeaderValue};

/// One `<D:response>` of a PROPFIND answer, as the adapter reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DavEntry {
    /// The `href`, as sent.
    pub href: String,
    /// `resourcetype` holds `collection`.
    pub collection: bool,
    /// `getcontentlength`.
    pub size: Option<u64>,
    /// `getetag`.
    pub etag: Option<String>,
    /// `getlastmodified`.
    pub last_modified: Option<String>,
    /// `getcontenttype`.
    pub content_type: Option<String>,
}

/// Parses a `207 Multi-Status` body (the adapter's own parser).
pub fn multistatus(xml: &str) -> Result<Vec<DavEntry>, String> {
    Ok(crate::xml::parse_multistatus(xml)?
        .into_iter()
        .map(|e| DavEntry {
            href: e.href,
            collection: e.collection,
            size: e.size,
            etag: e.etag,
            last_modified: e.last_modified,
            content_type: e.content_type,
        })
        .collect())
}

/// The decoded path of an `href`; `None` if it is not UTF-8 or not a URL.
pub fn href_path(href: &str) -> Option<String> {
    crate::http::href_path(href)
}

/// `%XX` decoding, an ETag as the adapter reports it, and HTTP dates: the kit's own, which the
/// adapter calls.
pub use files_http::encode::decode_lossy as percent_decode;
pub use files_http::headers::{normalize_etag, parse_http_date};

/// A `Content-Range` header value as `(start, end + 1, total)`; `None` when it is not a
/// valid header value or not a usable range.
pub fn content_range(value: &[u8]) -> Option<(u64, u64, u64)> {
    let mut h = HeaderMap::new();
    h.insert(CONTENT_RANGE, HeaderValue::from_bytes(value).ok()?);
    crate::http::full_content_range(&h)
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn the_parsers_the_adapter_uses() {
        assert_eq!(percent_decode("a%20b%2F%C3%BC%25"), "a b/ü%");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(normalize_etag("abc"), "\"abc\"");
        assert_eq!(normalize_etag("W/\"x\""), "W/\"x\"");
        let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(t.duration_since(UNIX_EPOCH).unwrap().as_secs(), 784_111_777);
        assert!(parse_http_date("yesterday").is_none());
        assert_eq!(content_range(b"bytes 1-3/5"), Some((1, 4, 5)));
        assert_eq!(content_range(b"bytes 1-5/5"), None);
        assert_eq!(content_range(b"bytes 1-3/5\n"), None);
        assert_eq!(href_path("/x%20y/").as_deref(), Some("/x y/"));
        let xml = r#"<D:multistatus xmlns:D="DAV:"><D:response><D:href>/a</D:href><D:propstat><D:prop><D:getcontentlength>3</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>"#;
        let entries = multistatus(xml).unwrap();
        assert_eq!((entries[0].href.as_str(), entries[0].size), ("/a", Some(3)));
    }
}
