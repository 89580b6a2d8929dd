//! The one table from an HTTP status to an [`ErrorKind`], and the error of an answer.
//!
//! | status | kind | retried |
//! |---|---|---|
//! | 400, 411, 413, 414, 415, 416, 422 | `invalid_input` | no |
//! | 401, 403 | `unauthorized` | no |
//! | 404, 410 | `not_found` | no |
//! | 405, 501 | `not_supported` | no |
//! | 408 | `timeout` | yes |
//! | 409, 412, 423 | `conflict` | no |
//! | 429 | `transient` | yes, after `Retry-After` if given |
//! | 507 | `storage_full` | no |
//! | other 5xx | `transient` | yes, after `Retry-After` if given |
//! | anything else | `other` | no |
//!
//! A provider refines this with its error body ([`Detail`]): Azure's `x-ms-error-code`,
//! Dropbox's tagged 409s, Graph's `error.code`. A kind from the body wins over the table; the
//! retry flag follows the final kind, except that a 429/503 stays retryable. Messages quote
//! the provider's text through [`Error::redacted`], never a URL or a header.

use bytes::Bytes;
use files_core::{Error, ErrorKind};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

/// The kind of an unsuccessful HTTP status.
pub fn kind_of(status: u16) -> ErrorKind {
    match status {
        400 | 411 | 413 | 414 | 415 | 416 | 422 => ErrorKind::InvalidInput,
        401 | 403 => ErrorKind::Unauthorized,
        404 | 410 => ErrorKind::NotFound,
        405 | 501 => ErrorKind::NotSupported,
        408 => ErrorKind::Timeout,
        409 | 412 | 423 => ErrorKind::Conflict,
        429 => ErrorKind::Transient,
        507 => ErrorKind::StorageFull,
        500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Other,
    }
}

/// Whether a request answered `status` is worth sending again.
pub fn is_retryable(status: u16) -> bool {
    matches!(status, 408 | 429) || (500..=599).contains(&status) && !matches!(status, 501 | 507)
}

/// What a provider's error body says, read by the provider's hook.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail {
    /// A kind that overrides the status table (`BlobNotFound`, `path/not_found`...).
    pub kind: Option<ErrorKind>,
    /// The provider's error code, quoted in the message (`ServerBusy`).
    pub code: Option<String>,
    /// The provider's message (first line; redacted before use).
    pub message: Option<String>,
}

impl Detail {
    /// A detail with only a message.
    pub fn message(message: impl Into<String>) -> Self {
        Detail {
            message: Some(message.into()),
            ..Detail::default()
        }
    }
}

/// The error of an answer with `status` and `headers` to the operation `op` (`"upload a
/// chunk"`), refined by `detail`: the kind from the table unless the detail names one,
/// `Retry-After` carried into [`Error::retry_after`], a message with the status, the
/// provider's code and its (redacted, shortened) message.
pub fn error_for_status(
    op: &str,
    status: StatusCode,
    headers: &HeaderMap,
    detail: Option<Detail>,
) -> Error {
    let code = status.as_u16();
    let detail = detail.unwrap_or_default();
    let kind = detail.kind.unwrap_or_else(|| kind_of(code));
    let mut text = format!("could not {op}: the service answered {code}");
    if let Some(reason) = status.canonical_reason() {
        text.push(' ');
        text.push_str(reason);
    }
    if let Some(c) = detail.code.as_deref().filter(|c| !c.is_empty()) {
        text.push_str(&format!(" ({})", Error::redacted(c)));
    }
    if let Some(m) = detail
        .message
        .as_deref()
        .and_then(|m| m.lines().map(str::trim).find(|l| !l.is_empty()))
    {
        let short: String = m.chars().take(300).collect();
        text.push_str(": ");
        text.push_str(&Error::redacted(&short));
    }
    match kind {
        ErrorKind::StorageFull => text.push_str(" (the store has no room left for these bytes)"),
        ErrorKind::Unauthorized if code == 401 => {
            text.push_str(" (the credentials are missing, wrong or expired)")
        }
        _ => {}
    }
    let retryable = if matches!(code, 429 | 503) {
        true
    } else if detail.kind.is_some() {
        kind.default_retryable()
    } else {
        is_retryable(code)
    };
    let mut e = Error::new(kind, text).with_retryable(retryable);
    if retryable && let Some(wait) = crate::retry_after::from_headers(headers) {
        e = e.with_retry_after(wait);
    }
    e
}

/// Reads an unsuccessful answer's body (at most what it sends; a failed read counts as an empty
/// body), lets `read_detail` parse it, and builds the error with [`error_for_status`].
/// Cancel-safe: dropping the future drops the body.
pub async fn error_from_response(
    resp: reqwest::Response,
    op: &str,
    read_detail: impl FnOnce(StatusCode, &HeaderMap, &Bytes) -> Option<Detail>,
) -> Error {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap_or_default();
    let detail = read_detail(status, &headers, &body);
    error_for_status(op, status, &headers, detail)
}

/// A detail hook for JSON bodies of the common `{"error": {"code", "message"}}` shape (Google,
/// Microsoft Graph), `{"error": "...", "error_description": "..."}` (OAuth) and `{"message"}`.
pub fn json_detail(_: StatusCode, _: &HeaderMap, body: &Bytes) -> Option<Detail> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = |p: &str| v.pointer(p).and_then(|m| m.as_str()).map(str::to_string);
    let code = text("/error/code")
        .or_else(|| text("/error/status"))
        .or_else(|| text("/error").filter(|_| v.get("error").is_some_and(|e| e.is_string())))
        .or_else(|| text("/code"));
    let message = text("/error/message")
        .or_else(|| text("/error_description"))
        .or_else(|| text("/message"));
    (code.is_some() || message.is_some()).then_some(Detail {
        kind: None,
        code,
        message,
    })
}

/// A detail hook that reads nothing from the body.
pub fn no_detail(_: StatusCode, _: &HeaderMap, _: &Bytes) -> Option<Detail> {
    None
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reqwest::header::{HeaderValue, RETRY_AFTER};

    use super::*;

    fn err(code: u16) -> Error {
        error_for_status(
            "do it",
            StatusCode::from_u16(code).unwrap(),
            &HeaderMap::new(),
            None,
        )
    }

    #[test]
    fn the_table() {
        for (code, kind, retry) in [
            (400, ErrorKind::InvalidInput, false),
            (401, ErrorKind::Unauthorized, false),
            (403, ErrorKind::Unauthorized, false),
            (404, ErrorKind::NotFound, false),
            (405, ErrorKind::NotSupported, false),
            (408, ErrorKind::Timeout, true),
            (409, ErrorKind::Conflict, false),
            (410, ErrorKind::NotFound, false),
            (412, ErrorKind::Conflict, false),
            (416, ErrorKind::InvalidInput, false),
            (423, ErrorKind::Conflict, false),
            (429, ErrorKind::Transient, true),
            (500, ErrorKind::Transient, true),
            (501, ErrorKind::NotSupported, false),
            (502, ErrorKind::Transient, true),
            (503, ErrorKind::Transient, true),
            (507, ErrorKind::StorageFull, false),
            (302, ErrorKind::Other, false),
        ] {
            let e = err(code);
            assert_eq!((e.kind(), e.is_retryable()), (kind, retry), "{code}");
            assert!(e.to_string().contains(&code.to_string()), "{e}");
        }
        assert!(
            err(507).to_string().contains("no room left"),
            "{}",
            err(507)
        );
    }

    #[test]
    fn retry_after_is_carried() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let e = error_for_status("list", StatusCode::TOO_MANY_REQUESTS, &h, None);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        let e = error_for_status("list", StatusCode::SERVICE_UNAVAILABLE, &h, None);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        // Not on an answer that is not retried.
        let e = error_for_status("list", StatusCode::FORBIDDEN, &h, None);
        assert_eq!(e.retry_after(), None);
    }

    #[test]
    fn detail_refines_and_is_redacted() {
        let body = Bytes::from_static(
            br#"{"error":{"code":"itemNotFound","message":"see https://h/x?sig=SECRET for more"}}"#,
        );
        let d = json_detail(StatusCode::NOT_FOUND, &HeaderMap::new(), &body).unwrap();
        assert_eq!(d.code.as_deref(), Some("itemNotFound"));
        let e = error_for_status("head", StatusCode::NOT_FOUND, &HeaderMap::new(), Some(d));
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let text = e.to_string();
        assert!(
            text.contains("itemNotFound") && !text.contains("SECRET"),
            "{text}"
        );
        let d = Detail {
            kind: Some(ErrorKind::SessionExpired),
            ..Detail::default()
        };
        let e = error_for_status("put", StatusCode::BAD_REQUEST, &HeaderMap::new(), Some(d));
        assert_eq!(
            (e.kind(), e.is_retryable()),
            (ErrorKind::SessionExpired, false)
        );
        let oauth = Bytes::from_static(br#"{"error":"invalid_grant","error_description":"bad"}"#);
        let d = json_detail(StatusCode::BAD_REQUEST, &HeaderMap::new(), &oauth).unwrap();
        assert_eq!(
            (d.code.as_deref(), d.message.as_deref()),
            (Some("invalid_grant"), Some("bad"))
        );
    }
}
