//! Box's answers as types, and its error body read into a [`Detail`].

use bytes::Bytes;
use files_core::{Error, ErrorKind, ObjectMeta};
use files_http::Detail;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;

/// A file or folder (the fields the adapter asks for).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Item {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub modified_at: Option<String>,
}

impl Item {
    pub fn is_folder(&self) -> bool {
        self.kind == "folder"
    }
    pub fn is_file(&self) -> bool {
        self.kind == "file"
    }
    /// The metadata of a file item at `key`. The ETag joins the file id and Box's etag (a
    /// version counter per file), so a file deleted and uploaded again differs.
    pub fn meta(&self, key: &str) -> ObjectMeta {
        let mut m = ObjectMeta::new(key, self.size.unwrap_or(0));
        m.etag = Some(format!(
            "\"{}-{}\"",
            self.id,
            self.etag.as_deref().unwrap_or("0")
        ));
        m.last_modified = self
            .modified_at
            .as_deref()
            .and_then(files_http::time::parse_rfc3339);
        m
    }
}

/// A page of folder items.
#[derive(Debug, Deserialize)]
pub(crate) struct Items {
    #[serde(default)]
    pub entries: Vec<Item>,
    #[serde(default)]
    pub total_count: Option<u64>,
}

/// `{entries: [file]}` of an upload or a commit.
#[derive(Debug, Deserialize)]
pub(crate) struct Entries {
    #[serde(default)]
    pub entries: Vec<Item>,
}

/// A created upload session.
#[derive(Debug, Deserialize)]
pub(crate) struct UploadSession {
    pub id: String,
    pub part_size: u64,
    #[serde(default)]
    pub session_expires_at: Option<String>,
}

/// One part of a session.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub(crate) struct BoxPart {
    pub part_id: String,
    pub offset: u64,
    pub size: u64,
    #[serde(default)]
    pub sha1: String,
}

/// The answer to a part upload.
#[derive(Debug, Deserialize)]
pub(crate) struct PartAnswer {
    pub part: BoxPart,
}

/// A page of a session's parts.
#[derive(Debug, Deserialize)]
pub(crate) struct Parts {
    #[serde(default)]
    pub entries: Vec<BoxPart>,
    #[serde(default)]
    pub total_count: Option<u64>,
}

/// Box's error body: `{"type":"error","status":404,"code":"not_found","message":"..."}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// The kind a Box error code means, if it says more than the status.
pub(crate) fn kind_of_code(code: &str) -> Option<ErrorKind> {
    Some(match code {
        "not_found" | "item_not_found" | "trashed" => ErrorKind::NotFound,
        "item_name_in_use" | "operation_blocked_temporary" | "range_overlaps_existing_part" => {
            ErrorKind::Conflict
        }
        "storage_limit_exceeded" | "file_size_limit_exceeded" => ErrorKind::StorageFull,
        "rate_limit_exceeded" => ErrorKind::Transient,
        "unauthorized"
        | "access_denied_insufficient_permissions"
        | "access_denied_item_locked"
        | "insufficient_scope"
        | "forbidden" => ErrorKind::Unauthorized,
        "session_expired" | "upload_session_not_found" => ErrorKind::SessionExpired,
        "item_name_invalid" | "item_name_too_long" | "bad_request" | "bad_digest" => {
            ErrorKind::InvalidInput
        }
        _ => return None,
    })
}

/// The detail hook: Box's error body to a kind, code and message.
pub(crate) fn detail(_: StatusCode, _: &HeaderMap, body: &Bytes) -> Option<Detail> {
    let e: ErrorBody = serde_json::from_slice(body).ok()?;
    Some(Detail {
        kind: e.code.as_deref().and_then(kind_of_code),
        code: e.code,
        message: e.message,
    })
}

/// The error of an unsuccessful answer.
pub(crate) async fn status_error(resp: reqwest::Response, op: &str) -> Error {
    files_http::error_from_response(resp, op, detail).await
}

/// The error of an unsuccessful answer plus Box's error code (to tell `416` overlaps and `409`
/// conflicts apart).
pub(crate) async fn status_error_code(
    resp: reqwest::Response,
    op: &str,
) -> (Error, Option<String>) {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap_or_default();
    let d = detail(status, &headers, &body);
    let code = d.as_ref().and_then(|d| d.code.clone());
    (files_http::error_for_status(op, status, &headers, d), code)
}

/// A transport error (never quoting a URL).
pub(crate) fn transport(e: reqwest::Error) -> Error {
    files_http::transport_error(e, "reach Box")
}

/// Reads a JSON answer.
pub(crate) async fn json<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
    what: &str,
) -> files_core::Result<T> {
    let bytes = resp.bytes().await.map_err(transport)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::new(
            ErrorKind::Other,
            format!("Box answered {what} that could not be read: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        let d = |b: &str| {
            detail(
                StatusCode::NOT_FOUND,
                &HeaderMap::new(),
                &Bytes::from(b.to_string()),
            )
        };
        let x = d(r#"{"type":"error","status":409,"code":"item_name_in_use","message":"Item with the same name already exists"}"#).unwrap();
        assert_eq!(x.kind, Some(ErrorKind::Conflict));
        assert_eq!(x.code.as_deref(), Some("item_name_in_use"));
        for (code, kind) in [
            ("not_found", ErrorKind::NotFound),
            ("storage_limit_exceeded", ErrorKind::StorageFull),
            ("rate_limit_exceeded", ErrorKind::Transient),
            (
                "access_denied_insufficient_permissions",
                ErrorKind::Unauthorized,
            ),
            ("unauthorized", ErrorKind::Unauthorized),
            ("session_expired", ErrorKind::SessionExpired),
        ] {
            assert_eq!(kind_of_code(code), Some(kind), "{code}");
        }
        assert!(d("not json").is_none());
        let e = files_http::error_for_status(
            "do",
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            d(r#"{"code":"rate_limit_exceeded"}"#),
        );
        assert!(e.is_retryable());
    }
}
