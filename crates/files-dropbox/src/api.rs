//! The API's wire conventions: RPC calls (JSON body), content calls (JSON in the
//! `Dropbox-API-Arg` header), metadata answers, and tagged `409` errors through the HTTP kit.

use bytes::Bytes;
use files_core::{Error, ErrorKind, ObjectMeta, Result};
use files_http::Detail;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::Value;

use crate::ACCESS_TOKEN_ENV;
use crate::adapter::DropboxAdapter;

/// A `409` error body read: the chain of `.tag`s (`["path", "not_found"]`) and, for
/// `incorrect_offset`, the offset the session holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub tags: Vec<String>,
    pub correct_offset: Option<u64>,
}

impl ApiError {
    pub(crate) fn parse(body: &[u8]) -> Option<ApiError> {
        let v: Value = serde_json::from_slice(body).ok()?;
        let mut e = v.get("error").unwrap_or(&Value::Null);
        let mut out = ApiError::default();
        while let Some(tag) = e.get(".tag").and_then(Value::as_str) {
            out.tags.push(tag.to_string());
            if let Some(n) = e.get("correct_offset").and_then(Value::as_u64) {
                out.correct_offset = Some(n);
            }
            match e.get(tag) {
                Some(inner) if inner.is_object() => e = inner,
                _ => break,
            }
        }
        if out.tags.is_empty() {
            // `error_summary` alone: `path/not_found/...`.
            let s = v.get("error_summary")?.as_str()?;
            out.tags = s
                .split('/')
                .filter(|t| !t.is_empty() && !t.starts_with('.'))
                .map(str::to_string)
                .collect();
        }
        Some(out)
    }

    pub(crate) fn has(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    /// Whether the error is about the upload session (not the file's path).
    fn is_session_lookup(&self) -> bool {
        matches!(
            self.tags.first().map(String::as_str),
            Some("lookup_failed" | "not_found" | "closed" | "incorrect_offset")
        )
    }

    /// The kind a tag chain maps to.
    pub(crate) fn kind(&self) -> Option<ErrorKind> {
        let k = if self.has("incorrect_offset") {
            ErrorKind::Conflict
        } else if (self.has("not_found") || self.has("closed")) && self.is_session_lookup() {
            ErrorKind::SessionExpired
        } else if self.has("not_found") || self.has("not_file") || self.has("not_folder") {
            ErrorKind::NotFound
        } else if self.has("insufficient_space") {
            ErrorKind::StorageFull
        } else if self.has("too_many_write_operations")
            || self.has("too_many_requests")
            || self.has("internal_error")
            || self.has("content_hash_mismatch")
        {
            ErrorKind::Transient
        } else if self.has("conflict") || self.has("cant_copy_shared_folder") {
            ErrorKind::Conflict
        } else if self.has("no_write_permission")
            || self.has("team_folder")
            || self.has("restricted_content")
        {
            ErrorKind::Unauthorized
        } else if self.has("payload_too_large")
            || self.has("too_large")
            || self.has("malformed_path")
            || self.has("disallowed_name")
            || self.has("too_many_files")
        {
            ErrorKind::InvalidInput
        } else {
            return None;
        };
        Some(k)
    }
}

/// The detail hook: Dropbox's tagged `409` bodies, `400` plain-text bodies, and a `401` that
/// names the credential variable.
pub(crate) fn detail(status: StatusCode, _: &HeaderMap, body: &Bytes) -> Option<Detail> {
    let parsed = ApiError::parse(body);
    match status.as_u16() {
        401 => Some(Detail {
            kind: Some(ErrorKind::Unauthorized),
            code: parsed.map(|p| p.tags.join("/")),
            message: Some(format!(
                "the access token was refused: check {ACCESS_TOKEN_ENV} (or the refresh token and app key)"
            )),
        }),
        400 => Some(Detail::message(String::from_utf8_lossy(body).into_owned())),
        _ => {
            let p = parsed?;
            Some(Detail {
                kind: p.kind(),
                code: Some(p.tags.join("/")),
                message: p.kind().and_then(|k| match k {
                    ErrorKind::SessionExpired if p.has("closed") => Some(
                        "the upload session was closed and takes no more bytes; start the upload again".to_string(),
                    ),
                    ErrorKind::SessionExpired => Some(
                        "session expired: the upload session is gone (sessions last 7 days); start the upload again".to_string(),
                    ),
                    _ => None,
                }),
            })
        }
    }
}

/// Reads an unsuccessful answer: the error, and the parsed `409` body if any.
pub(crate) async fn read_error(resp: reqwest::Response, op: &str) -> (Error, Option<ApiError>) {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap_or_default();
    let parsed = if status.as_u16() == 409 {
        ApiError::parse(&body)
    } else {
        None
    };
    let e = files_http::error_for_status(op, status, &headers, detail(status, &headers, &body));
    (e, parsed)
}

pub(crate) fn transport(e: reqwest::Error) -> Error {
    files_http::transport_error(e, "reach Dropbox")
}

/// JSON with every character outside printable ASCII escaped as `\uXXXX` (UTF-16 units, so
/// surrogate pairs above the BMP), as Dropbox requires of `Dropbox-API-Arg`.
pub fn header_json(v: &Value) -> String {
    let text = v.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (' '..='~').contains(&c) {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// A `FileMetadata` answer (or a `{"metadata": ...}` wrapper).
#[derive(Debug, Clone)]
pub(crate) struct FileMeta {
    pub tag: String,
    pub path_display: String,
    pub path_lower: String,
    pub size: u64,
    pub rev: Option<String>,
    pub server_modified: Option<String>,
    pub content_hash: Option<String>,
}

impl FileMeta {
    pub(crate) fn from_value(v: &Value) -> Result<FileMeta> {
        let v = v.get("metadata").filter(|m| m.is_object()).unwrap_or(v);
        let s = |n: &str| v.get(n).and_then(Value::as_str).map(str::to_string);
        let path_lower = s("path_lower").unwrap_or_default();
        Ok(FileMeta {
            tag: s(".tag").unwrap_or_else(|| "file".into()),
            path_display: s("path_display").unwrap_or_else(|| path_lower.clone()),
            path_lower,
            size: v.get("size").and_then(Value::as_u64).unwrap_or(0),
            rev: s("rev"),
            server_modified: s("server_modified"),
            content_hash: s("content_hash"),
        })
    }

    pub(crate) fn is_file(&self) -> bool {
        self.tag == "file"
    }
}

impl DropboxAdapter {
    /// The Dropbox path of `key`.
    pub(crate) fn path_of(&self, key: &str) -> String {
        format!("{}/{key}", self.inner.root)
    }

    /// The key of a Dropbox path under the root (`None` when outside it).
    pub(crate) fn key_of(&self, m: &FileMeta) -> Option<String> {
        let root_lower = self.inner.root.to_lowercase();
        let rest_lower = m.path_lower.strip_prefix(&root_lower)?.strip_prefix('/')?;
        // The display spelling when it lines up with the lower-cased one.
        let display = &m.path_display;
        if display.len() == m.path_lower.len()
            && display.is_char_boundary(root_lower.len() + 1)
            && display[..root_lower.len()].to_lowercase() == root_lower
        {
            return Some(display[root_lower.len() + 1..].to_string());
        }
        Some(rest_lower.to_string())
    }

    pub(crate) fn meta(&self, key: &str, m: &FileMeta) -> ObjectMeta {
        let mut meta = ObjectMeta::new(key, m.size);
        meta.etag = m.rev.clone();
        meta.last_modified = m
            .server_modified
            .as_deref()
            .and_then(files_http::time::parse_rfc3339);
        if let Some(h) = &m.content_hash {
            meta.metadata.insert("content_hash".into(), h.clone());
        }
        meta
    }

    fn url(base: &url::Url, route: &str) -> String {
        format!("{}/2/files/{route}", base.as_str().trim_end_matches('/'))
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let headers = self.inner.auth.headers().await?;
        req.headers(headers).send().await.map_err(transport)
    }

    /// An RPC call: JSON arguments in the body, JSON answered. A failure is the error and
    /// the parsed `409` body.
    pub(crate) async fn rpc_raw(
        &self,
        route: &str,
        args: &Value,
        op: &str,
    ) -> std::result::Result<Value, (Error, Option<ApiError>)> {
        let req = self
            .inner
            .http
            .post(Self::url(&self.inner.rpc, route))
            .header(CONTENT_TYPE, "application/json")
            .body(args.to_string());
        let resp = self.send(req).await.map_err(|e| (e, None))?;
        if !resp.status().is_success() {
            return Err(read_error(resp, op).await);
        }
        let bytes = resp.bytes().await.map_err(|e| (transport(e), None))?;
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    pub(crate) async fn rpc(&self, route: &str, args: &Value, op: &str) -> Result<Value> {
        self.rpc_raw(route, args, op).await.map_err(|(e, _)| e)
    }

    /// A content-upload call: arguments in `Dropbox-API-Arg`, the bytes as the body.
    pub(crate) async fn upload_raw(
        &self,
        route: &str,
        args: &Value,
        data: Bytes,
        op: &str,
    ) -> std::result::Result<Value, (Error, Option<ApiError>)> {
        let req = self
            .inner
            .http
            .post(Self::url(&self.inner.content, route))
            .header("Dropbox-API-Arg", header_json(args))
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(data);
        let resp = self.send(req).await.map_err(|e| (e, None))?;
        if !resp.status().is_success() {
            return Err(read_error(resp, op).await);
        }
        let bytes = resp.bytes().await.map_err(|e| (transport(e), None))?;
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// A content-download call; the answer's metadata is in `Dropbox-API-Result`.
    pub(crate) async fn download_raw(
        &self,
        args: &Value,
        range: Option<String>,
    ) -> Result<(reqwest::Response, FileMeta)> {
        let mut req = self
            .inner
            .http
            .post(Self::url(&self.inner.content, "download"))
            .header("Dropbox-API-Arg", header_json(args));
        if let Some(r) = range {
            req = req.header(reqwest::header::RANGE, r);
        }
        let resp = self.send(req).await?;
        if !resp.status().is_success() {
            return Err(read_error(resp, "download the file").await.0);
        }
        let result = resp
            .headers()
            .get("dropbox-api-result")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Other,
                    "Dropbox answered a download without Dropbox-API-Result",
                )
            })?;
        let meta = FileMeta::from_value(&result)?;
        Ok((resp, meta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        let e = ApiError::parse(
            br#"{"error_summary":"incorrect_offset/..","error":{".tag":"incorrect_offset","correct_offset":8388608}}"#,
        )
        .unwrap();
        assert_eq!(e.correct_offset, Some(8_388_608));
        assert_eq!(e.kind(), Some(ErrorKind::Conflict));
        let e = ApiError::parse(
            br#"{"error":{".tag":"lookup_failed","lookup_failed":{".tag":"incorrect_offset","correct_offset":5}}}"#,
        )
        .unwrap();
        assert_eq!((e.tags.len(), e.correct_offset), (2, Some(5)));
        for (body, kind) in [
            (
                r#"{"error":{".tag":"path","path":{".tag":"not_found"}}}"#,
                ErrorKind::NotFound,
            ),
            (
                r#"{"error":{".tag":"path_lookup","path_lookup":{".tag":"not_found"}}}"#,
                ErrorKind::NotFound,
            ),
            (
                r#"{"error":{".tag":"not_found"}}"#,
                ErrorKind::SessionExpired,
            ),
            (
                r#"{"error":{".tag":"lookup_failed","lookup_failed":{".tag":"not_found"}}}"#,
                ErrorKind::SessionExpired,
            ),
            (r#"{"error":{".tag":"closed"}}"#, ErrorKind::SessionExpired),
            (
                r#"{"error":{".tag":"path","path":{".tag":"conflict","conflict":{".tag":"file"}}}}"#,
                ErrorKind::Conflict,
            ),
            (
                r#"{"error":{".tag":"path","path":{".tag":"insufficient_space"}}}"#,
                ErrorKind::StorageFull,
            ),
            (
                r#"{"error":{".tag":"too_many_write_operations"}}"#,
                ErrorKind::Transient,
            ),
            (
                r#"{"error_summary":"path/insufficient_space/."}"#,
                ErrorKind::StorageFull,
            ),
        ] {
            let e = ApiError::parse(body.as_bytes()).unwrap();
            assert_eq!(e.kind(), Some(kind), "{body}");
        }
    }

    #[test]
    fn header_json_escapes_non_ascii() {
        let v = serde_json::json!({"path": "/été/😀\u{7f}"});
        let h = header_json(&v);
        assert_eq!(h, r#"{"path":"/\u00e9t\u00e9/\ud83d\ude00\u007f"}"#);
        assert_eq!(serde_json::from_str::<Value>(&h).unwrap(), v);
    }
}
