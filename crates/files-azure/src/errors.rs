//! The Blob service's error answers to the core's kinds.
//!
//! Azure names the reason of a failure in an error code (the `x-ms-error-code` header, and
//! `<Error><Code>` of the body). That code is the provider's protocol, so its table lives here;
//! a code the table does not know falls back to the kit's status table
//! ([`files_http::status::kind_of`]), and the error itself is built by
//! [`files_http::error_for_status`], which carries `Retry-After` and words every HTTP provider's
//! errors alike.
//!
//! Messages quote the operation, the status, the service's code and the first line of its
//! message, with anything signature-like redacted (a SAS `sig=` as well as what
//! [`Error::redacted`] covers); never the request URL (which may carry a SAS), its headers, or
//! the account key.

use files_core::{Error, ErrorKind};
use files_http::Detail;
use files_http::reqwest::StatusCode;
use files_http::reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use serde::Deserialize;

/// The kind Azure's error `code` names on an answer with `status`; `None` for a code the table
/// does not know (the status decides).
fn code_kind(status: u16, code: &str) -> Option<ErrorKind> {
    Some(match code {
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
        | "KeyBasedAuthenticationNotPermitted" => ErrorKind::Unauthorized,
        // The copy's source could not be read: missing (404), or not authorized (403).
        "CannotVerifyCopySource" if status == 404 => ErrorKind::NotFound,
        "CannotVerifyCopySource" => ErrorKind::Unauthorized,
        "BlobNotFound" | "ContainerNotFound" | "ResourceNotFound" => ErrorKind::NotFound,
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
        | "BlobArchived" => ErrorKind::Conflict,
        "ServerBusy" | "InternalError" | "OperationTimedOut" | "Md5Mismatch" | "Crc64Mismatch" => {
            ErrorKind::Transient
        }
        "InvalidBlockList" => ErrorKind::SessionExpired,
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
        | "InvalidInput" => ErrorKind::InvalidInput,
        _ => return None,
    })
}

/// The [`ErrorKind`] of a Blob service answer with HTTP `status` and error `code`: the code's,
/// if the table knows it, else the status's ([`files_http::status::kind_of`]).
pub fn classify(status: u16, code: Option<&str>) -> ErrorKind {
    code.and_then(|c| code_kind(status, c))
        .unwrap_or_else(|| files_http::status::kind_of(status))
}

/// The error of a Blob service answer (status, code, message) for operation `op` (`GetBlob`).
/// Without the answer's headers: no `Retry-After` is carried.
pub fn service_error(op: &str, status: u16, code: Option<&str>, message: Option<&str>) -> Error {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    answer_error(op, status, &HeaderMap::new(), code, message)
}

/// The error of an answer with `status` and `headers` to operation `op`, with the service's
/// error `code` and `message` (from the `x-ms-error-code` header or the body).
pub(crate) fn answer_error(
    op: &str,
    status: StatusCode,
    headers: &HeaderMap,
    code: Option<&str>,
    message: Option<&str>,
) -> Error {
    let code = code.map(str::trim).filter(|c| !c.is_empty());
    let detail = Detail {
        kind: code.and_then(|c| code_kind(status.as_u16(), c)),
        code: code.map(clean),
        message: message
            .and_then(|m| m.lines().map(str::trim).find(|l| !l.is_empty()))
            .map(clean),
    };
    let e = files_http::error_for_status(&doing(op), status, headers, Some(detail));
    if code == Some("AuthenticationFailed") {
        // Not retryable, so no `Retry-After` to keep.
        return Error::new(
            e.kind(),
            format!(
                "{} (check the account name and key, or the SAS token and its expiry)",
                e.message()
            ),
        )
        .with_retryable(e.is_retryable());
    }
    e
}

/// The phrase an error message starts from: "could not {doing(op)}".
pub(crate) fn doing(op: &str) -> String {
    format!("run Azure {op}")
}

/// A failure to reach the service (no HTTP answer) during operation `op`.
pub(crate) fn transport_error(op: &str, e: files_http::reqwest::Error) -> Error {
    files_http::transport_error(e, &doing(op))
}

/// [`Error::redacted`], and also any word that carries a SAS signature (`sig=`), which it does
/// not cover.
pub(crate) fn clean(text: &str) -> String {
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

/// The body of an error answer: `<Error><Code>..</Code><Message>..</Message>...</Error>`.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

impl ErrorBody {
    /// Reads an error body; one that is empty (a `HEAD`) or not the service's XML reads as
    /// nothing.
    pub(crate) fn parse(body: &[u8]) -> ErrorBody {
        if body.iter().all(u8::is_ascii_whitespace) {
            return ErrorBody::default();
        }
        quick_xml::de::from_str(&String::from_utf8_lossy(body)).unwrap_or_default()
    }
}

/// Reads an unsuccessful answer of a hand-built request (its body, at most what it sends) and
/// maps it for operation `op`. Cancel-safe: dropping the future drops the body.
pub(crate) async fn error_from_response(op: &str, resp: files_http::reqwest::Response) -> Error {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap_or_default();
    let parsed = ErrorBody::parse(&body);
    let code = files_http::headers::text(&headers, "x-ms-error-code")
        .filter(|c| !c.is_empty())
        .or(parsed.code);
    answer_error(
        op,
        status,
        &headers,
        code.as_deref(),
        parsed.message.as_deref(),
    )
}

/// Maps an answer the official client reported as an error: status, `x-ms-error-code` (as the
/// client read it, else the body's), the body's message, and `Retry-After`.
pub(crate) fn sdk_answer_error(
    op: &str,
    status: u16,
    error_code: Option<&str>,
    raw: Option<&azure_core::http::RawResponse>,
) -> Error {
    let parsed = raw
        .map(|r| ErrorBody::parse(r.body().as_ref()))
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    if let Some(wait) = raw.and_then(|r| {
        r.headers()
            .get_optional_str(&azure_core::http::headers::HeaderName::from_static(
                "retry-after",
            ))
            .and_then(|v| HeaderValue::from_str(v).ok())
    }) {
        headers.insert(RETRY_AFTER, wait);
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let code = error_code.map(str::to_string).or(parsed.code);
    answer_error(
        op,
        status,
        &headers,
        code.as_deref(),
        parsed.message.as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn codes_win_over_statuses() {
        use ErrorKind::*;
        for (status, code, kind) in [
            (403, Some("AuthenticationFailed"), Unauthorized),
            (403, None, Unauthorized),
            (401, None, Unauthorized),
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
            // Statuses as every other HTTP provider reads them.
            (408, None, Timeout),
            (507, None, StorageFull),
            (503, Some("SomethingNew"), Transient),
        ] {
            assert_eq!(classify(status, code), kind, "{status} {code:?}");
        }
    }

    #[test]
    fn errors_follow_the_kit() {
        let e = service_error("PutBlock", 408, None, None);
        assert_eq!((e.kind(), e.is_retryable()), (ErrorKind::Timeout, true));
        let e = service_error("PutBlock", 507, None, None);
        assert_eq!(
            (e.kind(), e.is_retryable()),
            (ErrorKind::StorageFull, false)
        );
        let e = service_error("PutBlock", 503, Some("ServerBusy"), Some("busy"));
        assert_eq!((e.kind(), e.is_retryable()), (ErrorKind::Transient, true));
        let text = e.to_string();
        assert!(
            text.contains("503") && text.contains("ServerBusy") && text.contains("PutBlock"),
            "{text}"
        );

        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let e = answer_error(
            "PutBlock",
            StatusCode::SERVICE_UNAVAILABLE,
            &h,
            Some("ServerBusy"),
            None,
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(e.is_retryable());
        let e = answer_error("PutBlock", StatusCode::SERVICE_UNAVAILABLE, &h, None, None);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));

        let e = service_error(
            "GetBlob",
            403,
            Some("AuthenticationFailed"),
            Some("Server failed to authenticate the request. sig=abc\nRequestId:x"),
        );
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(!e.is_retryable());
        let text = e.to_string();
        assert!(
            !text.contains("abc") && !text.contains("RequestId"),
            "{text}"
        );
        assert!(text.contains("check the account name and key"), "{text}");
        assert!(
            !service_error("GetBlob", 403, Some("x&sig=abc"), None)
                .to_string()
                .contains("abc")
        );
    }

    #[test]
    fn error_bodies() {
        let body = br#"<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code><Message>Server failed to authenticate the request.
RequestId:4f8e
Time:2026-01-01T00:00:00.0000000Z</Message><AuthenticationErrorDetail>The MAC signature found in the HTTP request 'x' is not the same as any computed signature.</AuthenticationErrorDetail></Error>"#;
        let b = ErrorBody::parse(body);
        assert_eq!(b.code.as_deref(), Some("AuthenticationFailed"));
        assert!(
            b.message
                .as_deref()
                .unwrap()
                .starts_with("Server failed to authenticate the request.\nRequestId:4f8e")
        );
        let b = ErrorBody::parse(b"<Error><Code>A&amp;B</Code></Error>");
        assert_eq!((b.code.as_deref(), b.message), (Some("A&B"), None));
        assert_eq!(ErrorBody::parse(b""), ErrorBody::default());
        assert_eq!(ErrorBody::parse(b"<html>oops"), ErrorBody::default());
        assert_eq!(ErrorBody::parse(b"not xml at all"), ErrorBody::default());
    }
}
