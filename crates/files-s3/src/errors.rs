//! The one mapping from aws-sdk-s3 errors to [`files_core::Error`].
//!
//! Messages are built from the operation, the HTTP status, the S3 error code and the S3 error
//! message (passed through [`Error::redacted`]); never from the request URL, its query, its
//! headers or the credentials. The SDK error is not attached as a source, because its
//! `Display` of a dispatch failure may quote the request.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use files_core::{Error, ErrorKind};

/// The [`ErrorKind`] of an S3 answer with HTTP `status` and S3 error `code`. Codes win over
/// statuses (a `RequestTimeout` is a 400, a `NoSuchUpload` a 404).
pub fn classify(status: Option<u16>, code: Option<&str>) -> ErrorKind {
    if let Some(code) = code {
        let kind = match code {
            "NoSuchUpload" => Some(ErrorKind::SessionExpired),
            "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "AccessDenied"
            | "ExpiredToken"
            | "InvalidToken"
            | "TokenRefreshRequired"
            | "AllAccessDisabled"
            | "AccountProblem"
            | "InvalidSecurity" => Some(ErrorKind::Unauthorized),
            "NoSuchKey" | "NoSuchBucket" | "NotFound" | "NoSuchVersion" => {
                Some(ErrorKind::NotFound)
            }
            "PreconditionFailed"
            | "ConditionalRequestConflict"
            | "OperationAborted"
            | "BucketAlreadyExists"
            | "BucketAlreadyOwnedByYou"
            | "InvalidObjectState" => Some(ErrorKind::Conflict),
            "SlowDown"
            | "RequestTimeout"
            | "InternalError"
            | "ServiceUnavailable"
            | "Throttling"
            | "ThrottlingException"
            | "RequestThrottled"
            | "TooManyRequests"
            | "BadDigest"
            | "InvalidDigest"
            | "XAmzContentSHA256Mismatch"
            | "IncompleteBody" => Some(ErrorKind::Transient),
            "EntityTooSmall"
            | "EntityTooLarge"
            | "InvalidPart"
            | "InvalidPartOrder"
            | "InvalidArgument"
            | "InvalidRange"
            | "InvalidRequest"
            | "KeyTooLongError"
            | "MalformedXML"
            | "InvalidBucketName"
            | "MetadataTooLarge"
            | "InvalidStorageClass"
            | "InvalidPartNumber"
            | "MissingContentLength" => Some(ErrorKind::InvalidInput),
            _ => None,
        };
        if let Some(kind) = kind {
            return kind;
        }
    }
    match status {
        Some(401 | 403) => ErrorKind::Unauthorized,
        Some(404) => ErrorKind::NotFound,
        Some(409 | 412) => ErrorKind::Conflict,
        Some(416) => ErrorKind::InvalidInput,
        Some(408 | 429) => ErrorKind::Transient,
        Some(s) if s >= 500 => ErrorKind::Transient,
        Some(400 | 405 | 411 | 413 | 414) => ErrorKind::InvalidInput,
        _ => ErrorKind::Other,
    }
}

/// Builds the error of an S3 answer (status, code, message) for operation `op`.
pub fn service_error(
    op: &str,
    status: Option<u16>,
    code: Option<&str>,
    message: Option<&str>,
) -> Error {
    let kind = classify(status, code);
    let mut text = format!("S3 {op} failed");
    if let Some(s) = status {
        text.push_str(&format!(": HTTP {s}"));
    }
    if let Some(c) = code.filter(|c| !c.is_empty()) {
        text.push_str(&format!(" {}", Error::redacted(c)));
    }
    if let Some(m) = message.filter(|m| !m.is_empty()) {
        text.push_str(&format!(": {}", Error::redacted(m)));
    }
    let hint = match kind {
        ErrorKind::SessionExpired => {
            " (the multipart upload no longer exists: it was completed, aborted, or expired)"
        }
        ErrorKind::Unauthorized if code == Some("SignatureDoesNotMatch") => {
            " (check the secret key, the region, and the addressing style of the endpoint)"
        }
        _ => "",
    };
    text.push_str(hint);
    Error::new(kind, text)
}

/// Maps any aws-sdk-s3 error of operation `op`.
pub fn map_sdk_error<E, R>(op: &str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: HasStatus + std::fmt::Debug + 'static,
{
    if let Some(e) = credentials_error(op, &err) {
        return e;
    }
    match &err {
        SdkError::ServiceError(se) => {
            let status = se.raw().status_code();
            let e = se.err();
            service_error(op, status, e.code(), e.message())
        }
        SdkError::TimeoutError(_) => Error::new(
            ErrorKind::Timeout,
            format!("S3 {op} failed: the request timed out"),
        ),
        SdkError::DispatchFailure(d) => {
            let (kind, what) = if d.is_timeout() {
                (ErrorKind::Timeout, "the connection timed out")
            } else if d.is_io() {
                (ErrorKind::Transient, "a network error occurred")
            } else if d.is_user() {
                (ErrorKind::Other, "the request could not be sent")
            } else {
                (ErrorKind::Transient, "the request could not be dispatched")
            };
            let cause = innermost(&err).map(|c| format!(" ({})", Error::redacted(&c)));
            Error::new(
                kind,
                format!("S3 {op} failed: {what}{}", cause.unwrap_or_default()),
            )
        }
        SdkError::ResponseError(r) => {
            let status = r.raw().status_code();
            let kind = match status {
                Some(s) if (400..500).contains(&s) => classify(Some(s), None),
                _ => ErrorKind::Transient,
            };
            Error::new(
                kind,
                format!(
                    "S3 {op} failed: the response{} could not be read{}",
                    status.map(|s| format!(" (HTTP {s})")).unwrap_or_default(),
                    innermost(&err)
                        .map(|c| format!(": {}", Error::redacted(&c)))
                        .unwrap_or_default()
                ),
            )
        }
        SdkError::ConstructionFailure(_) => Error::new(
            ErrorKind::InvalidInput,
            format!(
                "S3 {op} failed: the request could not be built{}",
                innermost(&err)
                    .map(|c| format!(": {}", Error::redacted(&c)))
                    .unwrap_or_default()
            ),
        ),
        _ => Error::new(ErrorKind::Other, format!("S3 {op} failed")),
    }
}

/// How credentials can be given, for an error that found none.
pub const CREDENTIALS_HINT: &str = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus \
AWS_SESSION_TOKEN for temporary credentials), or AWS_PROFILE to use a profile of \
~/.aws/config or ~/.aws/credentials (an SSO profile after `aws sso login`), or \
AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN; on EC2, ECS or EKS the instance or task \
role is used";

/// A request that failed because the credentials provider (the AWS chain: environment,
/// profile, SSO, web identity, ECS, IMDS) gave no credentials: [`ErrorKind::Unauthorized`],
/// never retried, saying how to give credentials. `None` for any other failure.
///
/// The SDK reports a provider failure as a dispatch failure whose source chain holds the
/// provider's [`CredentialsError`](aws_credential_types::provider::error::CredentialsError);
/// retrying it only asks the same empty chain again (the instance metadata service with its
/// own retries included), so it fails at once.
fn credentials_error(op: &str, err: &(dyn std::error::Error + 'static)) -> Option<Error> {
    use aws_credential_types::provider::error::CredentialsError;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(ce) = e.downcast_ref::<CredentialsError>() {
            let what = match ce {
                CredentialsError::CredentialsNotLoaded(_) => "no AWS credentials were found",
                CredentialsError::ProviderTimedOut(_) => {
                    "no AWS credentials were found in time (the credential providers timed out)"
                }
                CredentialsError::InvalidConfiguration(_) => {
                    "the AWS credentials configuration is invalid"
                }
                CredentialsError::ProviderError(_) => "no AWS credentials could be loaded",
                _ => return None,
            };
            // The cause of a provider that tried and failed (an expired SSO session, an
            // instance metadata service that refused): its own text, which quotes no secret.
            let cause = match ce {
                CredentialsError::CredentialsNotLoaded(_)
                | CredentialsError::ProviderTimedOut(_) => None,
                _ => innermost(ce).or_else(|| Some(ce.to_string())),
            };
            let cause = cause
                .map(|c| format!(" ({})", Error::redacted(&c)))
                .unwrap_or_default();
            return Some(Error::new(
                ErrorKind::Unauthorized,
                format!("S3 {op} failed: {what}{cause}; {CREDENTIALS_HINT}"),
            ));
        }
        cur = e.source();
    }
    None
}

/// The innermost cause's text (an I/O error such as "Connection refused"), which does not
/// quote the request.
fn innermost(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur = err.source()?;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let text = cur.to_string();
    (!text.is_empty()).then_some(text)
}

/// The HTTP status of a raw response, for [`map_sdk_error`].
pub trait HasStatus {
    /// The status code, if there was a response.
    fn status_code(&self) -> Option<u16>;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> Option<u16> {
        Some(self.status().as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        use ErrorKind::*;
        let cases: &[(Option<u16>, Option<&str>, ErrorKind)] = &[
            (Some(401), None, Unauthorized),
            (Some(403), None, Unauthorized),
            (Some(403), Some("InvalidAccessKeyId"), Unauthorized),
            (Some(403), Some("SignatureDoesNotMatch"), Unauthorized),
            (Some(404), None, NotFound),
            (Some(404), Some("NoSuchKey"), NotFound),
            (Some(404), Some("NoSuchBucket"), NotFound),
            (Some(404), Some("NoSuchUpload"), SessionExpired),
            (Some(409), None, Conflict),
            (Some(412), Some("PreconditionFailed"), Conflict),
            (Some(429), None, Transient),
            (Some(500), Some("InternalError"), Transient),
            (Some(503), Some("SlowDown"), Transient),
            (Some(502), None, Transient),
            (Some(400), Some("RequestTimeout"), Transient),
            (Some(400), Some("EntityTooSmall"), InvalidInput),
            (Some(400), Some("InvalidPart"), InvalidInput),
            (Some(400), Some("InvalidPartOrder"), InvalidInput),
            (Some(400), Some("InvalidArgument"), InvalidInput),
            (Some(416), Some("InvalidRange"), InvalidInput),
            (Some(400), Some("BadDigest"), Transient),
            (Some(418), None, Other),
            (None, None, Other),
        ];
        for (status, code, kind) in cases {
            assert_eq!(classify(*status, *code), *kind, "{status:?} {code:?}");
        }
    }

    #[test]
    fn missing_credentials_are_unauthorized_and_say_how_to_give_them() {
        use aws_credential_types::provider::error::CredentialsError;
        use aws_sdk_s3::config::http::HttpResponse;
        use aws_sdk_s3::error::ConnectorError;
        use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
        let err: SdkError<ListObjectsV2Error, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::other(
                Box::new(CredentialsError::not_loaded("no providers in chain")),
                None,
            ));
        let e = map_sdk_error("list", err);
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(!e.is_retryable());
        assert!(e.message().contains("no AWS credentials were found"), "{e}");
        assert!(e.message().contains("AWS_ACCESS_KEY_ID") && e.message().contains("AWS_PROFILE"));
        let err: SdkError<ListObjectsV2Error, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::other(
                Box::new(CredentialsError::provider_error(
                    "request forbidden: IMDS is disabled",
                )),
                None,
            ));
        let e = map_sdk_error("list", err);
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(e.message().contains("IMDS is disabled"), "{e}");
    }

    #[test]
    fn retryable_follows_kind_and_messages_are_clean() {
        let e = service_error("upload_part", Some(503), Some("SlowDown"), Some("Reduce"));
        assert!(e.is_retryable());
        assert_eq!(e.kind(), ErrorKind::Transient);
        assert!(e.message().contains("503") && e.message().contains("SlowDown"));
        let e = service_error("list_parts", Some(404), Some("NoSuchUpload"), None);
        assert_eq!(e.kind(), ErrorKind::SessionExpired);
        assert!(!e.is_retryable());
        let e = service_error(
            "get",
            Some(403),
            Some("SignatureDoesNotMatch"),
            Some("see https://h/b/k?X-Amz-Signature=abc&X-Amz-Credential=AKIDSECRET"),
        );
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(!e.is_retryable());
        assert!(!e.to_string().contains("AKIDSECRET"), "{e}");
        assert!(!e.to_string().contains("abc"), "{e}");
    }
}
