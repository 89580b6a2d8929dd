//! Requests to the Blob service: URL building, Shared Key signing, error mapping, and the few
//! XML and date helpers the adapter needs.
//!
//! Error messages are built from the operation, the HTTP status and the service's error code
//! and message (passed through [`Error::redacted`]); never from the request URL (which may
//! carry a SAS), its headers, or the account key.

use std::time::{SystemTime, UNIX_EPOCH};

use azure_core::credentials::Secret;
use bytes::Bytes;
use files_core::{ByteStream, Error, ErrorKind, Result, time};
use futures::StreamExt;
use reqwest::Method;

use crate::config::Credential;

/// The REST API version every request asks for (`x-ms-version`).
pub const API_VERSION: &str = "2025-01-05";

/// The body of a request.
pub(crate) enum ReqBody {
    /// No body.
    Empty,
    /// Bytes in memory.
    Bytes(Bytes),
    /// A stream of exactly this many bytes.
    Stream(ByteStream, u64),
}

impl ReqBody {
    fn len(&self) -> u64 {
        match self {
            ReqBody::Empty => 0,
            ReqBody::Bytes(b) => b.len() as u64,
            ReqBody::Stream(_, n) => *n,
        }
    }
}

/// One request to the service, relative to the adapter's container.
pub(crate) struct Req<'a> {
    pub method: Method,
    /// The blob, or `None` for a container-level request.
    pub key: Option<&'a str>,
    /// Query parameters (raw values; encoded when sent).
    pub query: Vec<(&'static str, String)>,
    /// Headers, lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: ReqBody,
}

impl<'a> Req<'a> {
    pub fn new(method: Method, key: Option<&'a str>) -> Self {
        Req {
            method,
            key,
            query: Vec::new(),
            headers: Vec::new(),
            body: ReqBody::Empty,
        }
    }
    pub fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }
    pub fn body(mut self, body: ReqBody) -> Self {
        self.body = body;
        self
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (and `/` when `keep_slash`).
pub(crate) fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else if b == b'/' && keep_slash {
            out.push('/');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URL path of `container` (and `key`) under an endpoint path (`""` or `/account`).
pub(crate) fn resource_path(endpoint_path: &str, container: &str, key: Option<&str>) -> String {
    let mut p = format!("{endpoint_path}/{}", encode(container, false));
    if let Some(k) = key {
        p.push('/');
        p.push_str(&encode(k, true));
    }
    p
}

/// The Shared Key string to sign of a request (Blob service, version 2015-02-21 and later).
pub(crate) fn string_to_sign(
    method: &str,
    account: &str,
    path: &str,
    query: &[(&str, String)],
    headers: &[(String, String)],
    content_length: u64,
) -> String {
    let h = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let length = if content_length == 0 {
        String::new()
    } else {
        content_length.to_string()
    };
    let mut s = format!(
        "{method}\n{}\n{}\n{length}\n{}\n{}\n\n{}\n{}\n{}\n{}\n{}\n",
        h("content-encoding"),
        h("content-language"),
        h("content-md5"),
        h("content-type"),
        h("if-modified-since"),
        h("if-match"),
        h("if-none-match"),
        h("if-unmodified-since"),
        h("range"),
    );
    let mut ms: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(n, _)| n.starts_with("x-ms-"))
        .map(|(n, v)| (n.as_str(), v.trim()))
        .collect();
    ms.sort();
    for (n, v) in ms {
        s.push_str(&format!("{n}:{v}\n"));
    }
    s.push_str(&format!("/{account}{path}"));
    let mut q: Vec<(String, &str)> = query
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.as_str()))
        .collect();
    q.sort();
    for (n, v) in q {
        s.push_str(&format!("\n{n}:{v}"));
    }
    s
}

/// HMAC-SHA256 of `data` with the base64 account key, base64-encoded.
pub(crate) fn hmac(data: &str, key: &Secret) -> Result<String> {
    azure_core::hmac::hmac_sha256(data, key).map_err(|_| {
        Error::invalid_input("the Azure account key is not valid base64 (check AZURE_STORAGE_KEY)")
    })
}

/// The transport and credentials: sends signed requests.
pub(crate) struct Transport {
    pub http: reqwest::Client,
    /// `scheme://host[:port]`.
    pub origin: String,
    /// The endpoint's path: `""`, or `/account` for path-style endpoints (Azurite).
    pub base_path: String,
    pub account: String,
    pub container: String,
    pub credential: Credential,
}

impl Transport {
    /// The full URL of `key` (or of the container), without credentials.
    pub fn url(&self, key: Option<&str>) -> String {
        format!(
            "{}{}",
            self.origin,
            resource_path(&self.base_path, &self.container, key)
        )
    }

    /// Sends `req` and returns the response when its status is a success; otherwise the
    /// mapped error of operation `op`. Never retried here: the core's retry policy decides.
    pub async fn send(&self, op: &'static str, req: Req<'_>) -> Result<reqwest::Response> {
        let Req {
            method,
            key,
            query,
            mut headers,
            body,
        } = req;
        let path = resource_path(&self.base_path, &self.container, key);
        let length = body.len();
        headers.push(("x-ms-version".into(), API_VERSION.into()));
        headers.push(("x-ms-date".into(), http_date(SystemTime::now())));
        let mut url = format!("{}{path}", self.origin);
        let mut sep = '?';
        for (n, v) in &query {
            url.push(sep);
            url.push_str(&format!("{n}={}", encode(v, false)));
            sep = '&';
        }
        match &self.credential {
            Credential::SharedKey(key) => {
                let sts = string_to_sign(
                    method.as_str(),
                    &self.account,
                    &path,
                    &query,
                    &headers,
                    length,
                );
                let sig = hmac(&sts, key)?;
                headers.push((
                    "authorization".into(),
                    format!("SharedKey {}:{sig}", self.account),
                ));
            }
            Credential::Sas(sas) => {
                url.push(sep);
                url.push_str(sas.secret());
            }
            Credential::Token(cred) => {
                let token = cred
                    .get_token(&["https://storage.azure.com/.default"], None)
                    .await
                    .map_err(|e| {
                        Error::new(
                            ErrorKind::Unauthorized,
                            format!(
                                "Azure {op} failed: no Entra ID token: {}",
                                Error::redacted(&e.to_string())
                            ),
                        )
                    })?;
                headers.push((
                    "authorization".into(),
                    format!("Bearer {}", token.token.secret()),
                ));
            }
            Credential::Anonymous => {}
        }
        let mut rb = self.http.request(method.clone(), &url);
        for (n, v) in &headers {
            rb = rb.header(n.as_str(), v.as_str());
        }
        let needs_length = length > 0 || method == Method::PUT || method == Method::POST;
        if needs_length {
            rb = rb.header("content-length", length.to_string());
        }
        rb = match body {
            ReqBody::Empty => rb,
            ReqBody::Bytes(b) => rb.body(b),
            ReqBody::Stream(s, n) => rb.body(reqwest::Body::wrap_stream(sized(s, n))),
        };
        let resp = rb.send().await.map_err(|e| transport_error(op, e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(error_from_response(op, resp).await)
    }
}

/// A stream that fails unless it yields exactly `len` bytes.
fn sized(stream: ByteStream, len: u64) -> impl futures::Stream<Item = Result<Bytes>> + Send {
    let mut seen = 0u64;
    let mut done = false;
    stream
        .map(Some)
        .chain(futures::stream::once(async { None }))
        .filter_map(move |item| {
            let out = match item {
                Some(Ok(b)) => {
                    seen += b.len() as u64;
                    if seen > len {
                        Some(Err(Error::invalid_input(format!(
                            "the body is longer than the announced {len} bytes"
                        ))))
                    } else {
                        Some(Ok(b))
                    }
                }
                Some(Err(e)) => Some(Err(e)),
                None if !done && seen != len => Some(Err(Error::invalid_input(format!(
                    "the body ended after {seen} of the announced {len} bytes"
                )))),
                None => None,
            };
            done = done || out.as_ref().is_some_and(|r| r.is_err());
            async move { out }
        })
}

/// Maps a failure to reach the service (no HTTP answer).
pub(crate) fn transport_error(op: &str, e: reqwest::Error) -> Error {
    let e = e.without_url();
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_builder() {
        ErrorKind::InvalidInput
    } else {
        ErrorKind::Transient
    };
    let mut cause = String::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
    while let Some(c) = cur {
        cause = c.to_string();
        cur = c.source();
    }
    let what = if cause.is_empty() {
        e.to_string()
    } else {
        cause
    };
    Error::new(
        kind,
        format!(
            "Azure {op} failed: the service could not be reached ({})",
            Error::redacted(&what)
        ),
    )
}

/// The [`ErrorKind`] of a Blob service answer with HTTP `status` and error `code`. Codes win
/// over statuses.
pub fn classify(status: u16, code: Option<&str>) -> ErrorKind {
    if let Some(code) = code {
        let kind = match code {
            "AuthenticationFailed"
            | "AuthorizationFailure"
            | "AuthorizationPermissionMismatch"
            | "AuthorizationProtocolMismatch"
            | "AuthorizationResourceTypeMismatch"
            | "AuthorizationServiceMismatch"
            | "AuthorizationSourceIPMismatch"
            | "InsufficientAccountPermissions"
            | "InvalidAuthenticationInfo"
            | "NoAuthenticationInformation"
            | "AccountIsDisabled"
            | "KeyBasedAuthenticationNotPermitted" => Some(ErrorKind::Unauthorized),
            // The copy's source could not be read: missing (404), or not authorized (403).
            "CannotVerifyCopySource" if status == 404 => Some(ErrorKind::NotFound),
            "CannotVerifyCopySource" => Some(ErrorKind::Unauthorized),
            "BlobNotFound" | "ContainerNotFound" | "ResourceNotFound" => Some(ErrorKind::NotFound),
            "ConditionNotMet"
            | "TargetConditionNotMet"
            | "SourceConditionNotMet"
            | "BlobAlreadyExists"
            | "ContainerAlreadyExists"
            | "LeaseIdMissing"
            | "LeaseIdMismatchWithBlobOperation"
            | "LeaseNotPresentWithBlobOperation"
            | "PendingCopyOperation"
            | "ContainerBeingDeleted"
            | "BlobBeingRehydrated"
            | "BlobArchived" => Some(ErrorKind::Conflict),
            "ServerBusy" | "InternalError" | "OperationTimedOut" | "Md5Mismatch"
            | "Crc64Mismatch" => Some(ErrorKind::Transient),
            "InvalidBlockList" => Some(ErrorKind::SessionExpired),
            "InvalidRange"
            | "InvalidBlobOrBlock"
            | "InvalidBlockId"
            | "RequestBodyTooLarge"
            | "InvalidHeaderValue"
            | "InvalidQueryParameterValue"
            | "InvalidResourceName"
            | "InvalidMetadata"
            | "MissingRequiredHeader"
            | "OutOfRangeInput"
            | "BlockCountExceedsLimit"
            | "BlockListTooLong"
            | "InvalidXmlDocument"
            | "UnsupportedHeader"
            | "InvalidInput" => Some(ErrorKind::InvalidInput),
            _ => None,
        };
        if let Some(kind) = kind {
            return kind;
        }
    }
    match status {
        401 | 403 => ErrorKind::Unauthorized,
        404 => ErrorKind::NotFound,
        409 | 412 => ErrorKind::Conflict,
        416 => ErrorKind::InvalidInput,
        408 | 429 => ErrorKind::Transient,
        s if s >= 500 => ErrorKind::Transient,
        400 | 405 | 411 | 413 | 414 => ErrorKind::InvalidInput,
        _ => ErrorKind::Other,
    }
}

/// The error of a Blob service answer (status, code, message) for operation `op`.
pub fn service_error(op: &str, status: u16, code: Option<&str>, message: Option<&str>) -> Error {
    let kind = classify(status, code);
    let mut text = format!("Azure {op} failed: HTTP {status}");
    if let Some(c) = code.filter(|c| !c.is_empty()) {
        text.push_str(&format!(" {}", Error::redacted(c)));
    }
    if let Some(m) = message
        .and_then(|m| m.lines().next())
        .filter(|m| !m.is_empty())
    {
        text.push_str(&format!(": {}", clean(m.trim())));
    }
    if kind == ErrorKind::Unauthorized && code == Some("AuthenticationFailed") {
        text.push_str(" (check the account name and key, or the SAS token and its expiry)");
    }
    Error::new(kind, text)
}

/// [`Error::redacted`], and also any word that carries a SAS signature (`sig=`).
fn clean(text: &str) -> String {
    Error::redacted(text)
        .split(' ')
        .map(|w| {
            if w.to_ascii_lowercase().contains("sig=") {
                "<redacted>"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn error_from_response(op: &str, resp: reqwest::Response) -> Error {
    let status = resp.status().as_u16();
    let header_code = resp
        .headers()
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.bytes().await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let code = header_code.or_else(|| xml_first(&text, "Code"));
    let message = xml_first(&text, "Message");
    service_error(op, status, code.as_deref(), message.as_deref())
}

// ----------------------------------------------------------------------------------- XML

/// The inner texts of every `<tag>...</tag>` (or `<tag attr=..>...</tag>`) in `xml`.
pub(crate) fn xml_all<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    xml_elements(xml, tag).into_iter().map(|(_, t)| t).collect()
}

/// `(attributes, inner text)` of every `tag` element (not nested in one another).
fn xml_elements<'a>(xml: &'a str, tag: &str) -> Vec<(&'a str, &'a str)> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        // `<Name>`, `<Name attr="..">` or `<Name/>`, not `<NameSomething>`.
        if !matches!(after.chars().next(), Some('>' | ' ' | '/')) {
            rest = after;
            continue;
        }
        let Some(gt) = after.find('>') else { break };
        let attrs = &after[..gt];
        if attrs.ends_with('/') {
            out.push((attrs, &after[..0]));
            rest = &after[gt + 1..];
            continue;
        }
        let body = &after[gt + 1..];
        let Some(end) = body.find(&close) else { break };
        out.push((attrs, &body[..end]));
        rest = &body[end + close.len()..];
    }
    out
}

/// The first element's text, unescaped; an `Encoded="true"` name is percent-decoded.
pub(crate) fn xml_first(xml: &str, tag: &str) -> Option<String> {
    let (attrs, text) = xml_elements(xml, tag).into_iter().next()?;
    let text = xml_unescape(text);
    Some(if attrs.contains("Encoded=\"true\"") {
        percent_decode(&text)
    } else {
        text
    })
}

pub(crate) fn xml_unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let Some(semi) = after.find(';') else {
            out.push_str(after);
            return out;
        };
        let ent = &after[1..semi];
        let ch = match ent {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => out.push(c),
            None => out.push_str(&after[..=semi]),
        }
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    out
}

pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// --------------------------------------------------------------------------------- dates

// The dates are `files_core::time`'s. As before that module, a time before 1970 is written as
// the epoch, and a `Last-Modified` is read with its month in exact case and whatever follows
// the time ignored.

/// RFC 1123 (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) fn http_date(t: SystemTime) -> String {
    time::http_date(t.max(UNIX_EPOCH))
}

/// ISO 8601 in UTC to the second (`2026-01-01T00:00:00Z`), as SAS tokens want it.
pub(crate) fn iso_date(t: SystemTime) -> String {
    time::rfc3339(t.max(UNIX_EPOCH))
}

/// Parses an RFC 1123 date (`Last-Modified`).
pub(crate) fn parse_http_date(s: &str) -> Option<SystemTime> {
    let rules = time::HttpDateRules {
        month_case_sensitive: true,
        ignore_zone: true,
    };
    time::parse_http_date_with(s, rules)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn dates() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(iso_date(t), "1994-11-06T08:49:37Z");
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
        let t2 = UNIX_EPOCH + Duration::from_secs(1_709_251_199); // 2024-02-29T23:59:59Z
        assert_eq!(iso_date(t2), "2024-02-29T23:59:59Z");
        assert_eq!(parse_http_date(&http_date(t2)), Some(t2));
    }

    #[test]
    fn xml() {
        let x = r#"<R><Blobs><Blob><Name>a&amp;b</Name><Properties><Content-Length>5</Content-Length></Properties></Blob><Blob><Name Encoded="true">%E2%98%83</Name></Blob><BlobPrefix><Name>d/</Name></BlobPrefix></Blobs><NextMarker/></R>"#;
        let blobs = xml_all(x, "Blob");
        assert_eq!(blobs.len(), 2);
        assert_eq!(xml_first(blobs[0], "Name").unwrap(), "a&b");
        assert_eq!(xml_first(blobs[1], "Name").unwrap(), "☃");
        assert_eq!(xml_first(blobs[0], "Content-Length").as_deref(), Some("5"));
        let prefixes = xml_all(x, "BlobPrefix");
        assert_eq!(xml_first(prefixes[0], "Name").unwrap(), "d/");
        assert_eq!(xml_first(x, "NextMarker").as_deref(), Some(""));
        assert_eq!(xml_unescape("&#x41;&#66;&lt;"), "AB<");
    }

    #[test]
    fn shared_key_string() {
        let headers = vec![
            ("x-ms-version".to_string(), API_VERSION.to_string()),
            ("x-ms-date".to_string(), "D".to_string()),
            ("content-type".to_string(), "application/xml".to_string()),
        ];
        let s = string_to_sign(
            "PUT",
            "acct",
            "/acct/c/a%20b",
            &[("comp", "blocklist".into())],
            &headers,
            12,
        );
        assert_eq!(
            s,
            format!(
                "PUT\n\n\n12\n\napplication/xml\n\n\n\n\n\n\nx-ms-date:D\nx-ms-version:{API_VERSION}\n/acct/acct/c/a%20b\ncomp:blocklist"
            )
        );
    }

    #[test]
    fn classification() {
        use ErrorKind::*;
        for (status, code, kind) in [
            (403, Some("AuthenticationFailed"), Unauthorized),
            (403, None, Unauthorized),
            (404, Some("BlobNotFound"), NotFound),
            (404, Some("ContainerNotFound"), NotFound),
            (409, Some("BlobAlreadyExists"), Conflict),
            (412, Some("ConditionNotMet"), Conflict),
            (503, Some("ServerBusy"), Transient),
            (500, Some("InternalError"), Transient),
            (500, None, Transient),
            (400, Some("InvalidBlockList"), SessionExpired),
            (400, Some("InvalidBlobOrBlock"), InvalidInput),
            (416, Some("InvalidRange"), InvalidInput),
            (418, None, Other),
            (404, Some("CannotVerifyCopySource"), NotFound),
            (403, Some("CannotVerifyCopySource"), Unauthorized),
        ] {
            assert_eq!(classify(status, code), kind, "{status} {code:?}");
        }
        let e = service_error(
            "GetBlob",
            403,
            Some("AuthenticationFailed"),
            Some("Server failed to authenticate the request. sig=abc\nRequestId:x"),
        );
        assert!(!e.is_retryable());
        assert!(!e.to_string().contains("abc"), "{e}");
        assert!(service_error("PutBlock", 503, Some("ServerBusy"), None).is_retryable());
    }
}
