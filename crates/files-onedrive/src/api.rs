//! Typed answers of the Graph drive API, the error-body hook, and request helpers.

use bytes::Bytes;
use files_core::{Error, ErrorKind, ObjectMeta, Result};
use files_http::Detail;
use files_http::reqwest::{self, StatusCode, header::HeaderMap};
use serde::Deserialize;

use crate::adapter::OneDriveAdapter;

/// A `driveItem` (the fields this crate reads).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Item {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default, rename = "eTag")]
    pub etag: Option<String>,
    #[serde(default)]
    pub last_modified_date_time: Option<String>,
    #[serde(default)]
    pub file: Option<FileFacet>,
    #[serde(default)]
    pub folder: Option<FolderFacet>,
    #[serde(default)]
    pub parent_reference: Option<ParentReference>,
    #[serde(default, rename = "@microsoft.graph.downloadUrl")]
    pub download_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FileFacet {
    #[serde(default)]
    pub mime_type: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FolderFacet {
    #[serde(default)]
    pub child_count: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ParentReference {
    #[serde(default)]
    pub drive_id: Option<String>,
}

/// A page of `children`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Children {
    #[serde(default)]
    pub value: Vec<Item>,
    #[serde(default, rename = "@odata.nextLink")]
    pub next_link: Option<String>,
}

/// An upload session (`createUploadSession`, a fragment's `202`, the status query).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UploadSessionInfo {
    #[serde(default)]
    pub upload_url: Option<String>,
    #[serde(default)]
    pub expiration_date_time: Option<String>,
    #[serde(default)]
    pub next_expected_ranges: Option<Vec<String>>,
}

/// The copy monitor's answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CopyStatus {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

/// The first byte a session expects: the start of the first of `nextExpectedRanges`
/// (`"N-"` or `"N-M"`); an empty list means every byte arrived (`total`).
pub(crate) fn first_expected(ranges: &[String], total: u64) -> Result<u64> {
    let Some(first) = ranges.first() else {
        return Ok(total);
    };
    first
        .split('-')
        .next()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Other,
                format!(
                    "Graph answered an unreadable nextExpectedRanges ({})",
                    Error::redacted(first)
                ),
            )
        })
}

/// Graph's error body `{"error": {"code", "message"}}`, with its codes mapped to kinds.
pub(crate) fn graph_detail(
    status: StatusCode,
    headers: &HeaderMap,
    body: &Bytes,
) -> Option<Detail> {
    let mut d = files_http::status::json_detail(status, headers, body)?;
    d.kind = match d.code.as_deref() {
        Some("itemNotFound") => Some(ErrorKind::NotFound),
        Some("nameAlreadyExists") => Some(ErrorKind::Conflict),
        Some("quotaLimitReached") | Some("insufficientStorage") => Some(ErrorKind::StorageFull),
        Some("accessDenied")
        | Some("unauthenticated")
        | Some("InvalidAuthenticationToken")
        | Some("notAllowed") => Some(ErrorKind::Unauthorized),
        Some("activityLimitReached") | Some("serviceNotAvailable") => Some(ErrorKind::Transient),
        _ => None,
    };
    Some(d)
}

pub(crate) fn meta_of(key: &str, item: &Item) -> ObjectMeta {
    let mut m = ObjectMeta::new(key, item.size.unwrap_or(0));
    m.etag = item.etag.clone();
    m.last_modified = item
        .last_modified_date_time
        .as_deref()
        .and_then(files_http::time::parse_rfc3339);
    m.content_type = item.file.as_ref().and_then(|f| f.mime_type.clone());
    m
}

pub(crate) fn meta_from_body(key: &str, body: &[u8]) -> Result<ObjectMeta> {
    let item: Item = serde_json::from_slice(body).map_err(|e| {
        Error::new(
            ErrorKind::Other,
            format!("Graph answered an unreadable driveItem: {e}"),
        )
    })?;
    Ok(meta_of(key, &item))
}

pub(crate) fn transport(e: reqwest::Error) -> Error {
    files_http::transport_error(e, "read from Microsoft Graph")
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The parent segments and the name of a key.
pub(crate) fn split_key(key: &str) -> (Vec<&str>, &str) {
    let mut segs: Vec<&str> = key.split('/').filter(|s| !s.is_empty()).collect();
    let name = segs.pop().unwrap_or("");
    (segs, name)
}

impl OneDriveAdapter {
    /// `{endpoint}{drive}`.
    pub(crate) fn base(&self) -> String {
        format!(
            "{}{}",
            self.inner.endpoint.as_str().trim_end_matches('/'),
            self.inner.drive.api_path()
        )
    }

    /// The item at `path` (`""`: the root): `{base}/root:/{path}` or `{base}/root`.
    pub(crate) fn item_url(&self, path: &str) -> String {
        if path.is_empty() {
            format!("{}/root", self.base())
        } else {
            format!("{}/root:/{}", self.base(), files_http::encode::path(path))
        }
    }

    /// An action on the item at `path`: `{base}/root:/{path}:/{action}` or `{base}/root/{action}`.
    pub(crate) fn action_url(&self, path: &str, action: &str) -> String {
        if path.is_empty() {
            format!("{}/root/{action}", self.base())
        } else {
            format!(
                "{}/root:/{}:/{action}",
                self.base(),
                files_http::encode::path(path)
            )
        }
    }

    /// The item with id `id`: `{base}/items/{id}`.
    pub(crate) fn id_url(&self, id: &str) -> String {
        format!("{}/items/{}", self.base(), files_http::encode::segment(id))
    }

    /// Sends an API request with the `Authorization` of the token source; an unsuccessful
    /// answer is an error through the kit's table and [`graph_detail`].
    pub(crate) async fn send(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<reqwest::Response> {
        let req = req.headers(self.inner.auth.headers().await?);
        let resp = req
            .send()
            .await
            .map_err(|e| files_http::transport_error(e, what))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        if resp.status() == StatusCode::UNAUTHORIZED {
            self.inner.auth.invalidate().await;
        }
        Err(files_http::error_from_response(resp, what, graph_detail).await)
    }

    /// As [`send`](Self::send), reading a JSON answer.
    pub(crate) async fn json<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<T> {
        let resp = self.send(req, what).await?;
        let body = resp
            .bytes()
            .await
            .map_err(|e| files_http::transport_error(e, what))?;
        serde_json::from_slice(&body).map_err(|e| {
            Error::new(
                ErrorKind::Other,
                format!("could not {what}: Graph answered unreadable JSON ({e})"),
            )
        })
    }

    /// The item at `path`, `None` when Graph says it does not exist.
    pub(crate) async fn item(&self, path: &str) -> Result<Option<Item>> {
        match self
            .json::<Item>(self.inner.http.get(self.item_url(path)), "read an item")
            .await
        {
            Ok(i) => Ok(Some(i)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The file at `key`, or `not_found` (a folder is not a file).
    pub(crate) async fn file(&self, key: &str, op: &'static str) -> Result<Item> {
        match self.item(key).await {
            Ok(Some(i)) if i.folder.is_none() => Ok(i),
            Ok(_) => Err(Error::not_found(format!("no file at {key}"))
                .with_operation(op)
                .with_key(key)),
            Err(e) => Err(e.with_operation(op).with_key(key)),
        }
    }

    /// The id of the folder at `segments` (created when missing; one request when it exists).
    pub(crate) async fn ensure_folder(&self, segments: &[&str]) -> Result<Item> {
        let path = segments.join("/");
        if let Some(i) = self.item(&path).await? {
            return folder_or_conflict(i, &path);
        }
        let mut parent = match self.item("").await? {
            Some(root) => root,
            None => return Err(Error::not_found("the drive has no root folder")),
        };
        for i in 0..segments.len() {
            let sub = segments[..=i].join("/");
            parent = match self.item(&sub).await? {
                Some(it) => folder_or_conflict(it, &sub)?,
                None => {
                    let body = serde_json::json!({
                        "name": segments[i],
                        "folder": {},
                        "@microsoft.graph.conflictBehavior": "fail",
                    });
                    let req = self
                        .inner
                        .http
                        .post(format!("{}/children", self.id_url(&parent.id)))
                        .json(&body);
                    match self.json::<Item>(req, "create a folder").await {
                        Ok(it) => it,
                        // Created meanwhile by someone else.
                        Err(e) if e.kind() == ErrorKind::Conflict => match self.item(&sub).await? {
                            Some(it) => folder_or_conflict(it, &sub)?,
                            None => return Err(e),
                        },
                        Err(e) => return Err(e),
                    }
                }
            };
        }
        Ok(parent)
    }
}

fn folder_or_conflict(i: Item, path: &str) -> Result<Item> {
    if i.folder.is_some() {
        Ok(i)
    } else {
        Err(Error::conflict(format!(
            "{path} is a file, so it cannot hold other keys"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_ranges() {
        assert_eq!(first_expected(&["0-".into()], 9).unwrap(), 0);
        assert_eq!(
            first_expected(&["12345-55232".into(), "77829-99375".into()], 99376).unwrap(),
            12345
        );
        assert_eq!(first_expected(&[], 7).unwrap(), 7);
        assert!(first_expected(&["x".into()], 7).is_err());
    }

    #[test]
    fn codes_map_to_kinds() {
        for (code, kind) in [
            ("itemNotFound", ErrorKind::NotFound),
            ("nameAlreadyExists", ErrorKind::Conflict),
            ("quotaLimitReached", ErrorKind::StorageFull),
            ("accessDenied", ErrorKind::Unauthorized),
            ("unauthenticated", ErrorKind::Unauthorized),
            ("activityLimitReached", ErrorKind::Transient),
        ] {
            let body = Bytes::from(format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#));
            let d = graph_detail(StatusCode::BAD_REQUEST, &HeaderMap::new(), &body).unwrap();
            assert_eq!(d.kind, Some(kind), "{code}");
        }
        let body = Bytes::from_static(
            br#"{"error":{"code":"activityLimitReached","message":"slow down"}}"#,
        );
        let d = graph_detail(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), &body);
        let e = files_http::error_for_status(
            "list",
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            d,
        );
        assert!(e.is_retryable());
    }
}
