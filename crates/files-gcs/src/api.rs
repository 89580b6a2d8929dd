//! The JSON API's requests and answers: URLs, authorization, the object resource, small
//! uploads and session starts, and errors through the HTTP kit.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use files_core::{Error, ErrorKind, ObjectMeta, PutOptions, Result};
use files_http::encode::segment as encode;
use files_http::status::json_detail;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};

use crate::adapter::GcsAdapter;
use crate::resumable::SessionUrl;

/// The error of an unsuccessful JSON API answer (the kit's status table, Google's JSON error
/// body for the detail).
pub(crate) async fn status_error(resp: reqwest::Response, what: &str) -> Error {
    files_http::error_from_response(resp, what, json_detail).await
}

/// A request that failed before an answer (its URL never quoted).
pub(crate) fn transport(e: reqwest::Error) -> Error {
    files_http::transport_error(e, "reach Cloud Storage")
}

pub(crate) fn base(endpoint: &url::Url) -> String {
    let s = endpoint.as_str();
    if s.ends_with('/') {
        s.to_string()
    } else {
        format!("{s}/")
    }
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn resource_json(key: &str, options: &PutOptions) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("name".into(), Value::String(key.to_string()));
    if let Some(ct) = &options.content_type {
        m.insert("contentType".into(), Value::String(ct.clone()));
    }
    if let Some(cc) = &options.cache_control {
        m.insert("cacheControl".into(), Value::String(cc.clone()));
    }
    if !options.metadata.is_empty() {
        m.insert("metadata".into(), json!(options.metadata));
    }
    Value::Object(m)
}

pub(crate) fn meta_from_resource(v: &Value) -> Result<ObjectMeta> {
    let s = |name: &str| v.get(name).and_then(Value::as_str).map(str::to_string);
    let key = s("name").ok_or_else(|| {
        Error::new(
            ErrorKind::Other,
            "the service answered an object resource without a name",
        )
    })?;
    let size = match v.get("size") {
        Some(Value::String(t)) => t.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    };
    let mut meta = ObjectMeta::new(key, size);
    meta.etag = s("etag").or_else(|| s("generation"));
    meta.content_type = s("contentType");
    meta.cache_control = s("cacheControl");
    meta.last_modified = s("updated").as_deref().and_then(parse_rfc3339);
    if let Some(Value::Object(m)) = v.get("metadata") {
        for (k, val) in m {
            if let Some(t) = val.as_str() {
                meta.metadata.insert(k.clone(), t.to_string());
            }
        }
    }
    Ok(meta)
}

/// Parses the JSON API's `updated` (`2024-05-06T07:08:09.123Z`).
pub(crate) use files_http::time::parse_rfc3339;

impl GcsAdapter {
    pub(crate) fn object_path(&self, key: &str) -> String {
        format!(
            "{}storage/v1/b/{}/o/{}",
            base(&self.inner.endpoint),
            self.inner.bucket,
            encode(key)
        )
    }

    pub(crate) fn upload_base(&self) -> String {
        format!(
            "{}upload/storage/v1/b/{}/o",
            base(&self.inner.endpoint),
            self.inner.bucket
        )
    }

    pub(crate) fn session_path_prefix(&self) -> String {
        let ep = self.inner.endpoint.path().trim_end_matches('/');
        format!("{ep}/upload/storage/v1/b/{}/o", self.inner.bucket)
    }

    pub(crate) async fn auth(&self) -> Result<HeaderMap> {
        self.inner.auth.headers().await
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        self.inner.protocol.http()
    }

    pub(crate) async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let headers = self.auth().await?;
        req.headers(headers).send().await.map_err(transport)
    }

    /// Uploads a small body in one multipart request (metadata + media).
    pub(crate) async fn put_small(
        &self,
        key: &str,
        data: Bytes,
        options: &PutOptions,
    ) -> Result<ObjectMeta> {
        let meta = resource_json(key, options);
        let (content_type, body) = files_http::multipart::related(
            &meta.to_string(),
            options.content_type.as_deref(),
            &data,
        );
        let req = self
            .http()
            .post(format!("{}?uploadType=multipart", self.upload_base()))
            .header(CONTENT_TYPE, content_type)
            .header(CONTENT_LENGTH, body.len())
            .body(body);
        let resp = self.send(req).await?;
        if !resp.status().is_success() {
            return Err(status_error(resp, "upload the object").await);
        }
        let v: Value = resp.json().await.map_err(transport)?;
        meta_from_resource(&v)
    }

    pub(crate) async fn start_session(
        &self,
        key: &str,
        total: Option<u64>,
        options: &PutOptions,
    ) -> Result<SessionUrl> {
        let meta = resource_json(key, options);
        let mut req = self
            .http()
            .post(format!(
                "{}?uploadType=resumable&name={}",
                self.upload_base(),
                encode(key)
            ))
            .header(CONTENT_TYPE, "application/json; charset=UTF-8")
            .body(meta.to_string());
        if let Some(t) = total {
            req = req.header("X-Upload-Content-Length", t);
        }
        if let Some(ct) = &options.content_type {
            req = req.header("X-Upload-Content-Type", ct);
        }
        let req = req.headers(self.auth().await?);
        self.inner.protocol.start(req).await
    }

    pub(crate) fn meta_from_body(&self, body: &[u8]) -> Result<ObjectMeta> {
        let v: Value = serde_json::from_slice(body).map_err(|_| {
            Error::new(
                ErrorKind::Other,
                "the service answered an unreadable object resource",
            )
        })?;
        meta_from_resource(&v)
    }

    /// Patches user metadata of an object (merged with what it has).
    pub(crate) async fn patch_metadata(
        &self,
        key: &str,
        metadata: BTreeMap<String, String>,
    ) -> Result<ObjectMeta> {
        let req = self
            .http()
            .patch(self.object_path(key))
            .json(&json!({ "metadata": metadata }));
        let resp = self.send(req).await?;
        if !resp.status().is_success() {
            return Err(status_error(resp, "update the object's metadata").await);
        }
        let v: Value = resp.json().await.map_err(transport)?;
        meta_from_resource(&v)
    }
}
