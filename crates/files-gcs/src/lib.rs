//! # files-gcs
//!
//! The Google Cloud Storage adapter of the `files` storage SDK, over GCS's JSON API with
//! `reqwest`, and the Firebase Storage preset on the same machinery ([`GcsAdapter::firebase`]).
//!
//! ```no_run
//! # async fn demo() -> files_core::Result<()> {
//! use files_core::{Body, Files};
//! use files_gcs::GcsAdapter;
//!
//! // Application default credentials ...
//! let gcs = GcsAdapter::builder().bucket("backups").build()?;
//! // ... or a URL: gs://bucket/key (credentials from the environment).
//! let (files, key) = files_core::registry::open_object("gs://backups/db.tar")?;
//! files
//!     .upload(key, Body::from_path("db.tar").await?)
//!     .checkpoint("db.tar.upload.json")
//!     .await?;
//! # let _ = gcs; Ok(()) }
//! ```
//!
//! ## Authentication
//!
//! In order: [`GcsBuilder::access_token`] (a fixed OAuth 2.0 token, not refreshed),
//! [`GcsBuilder::service_account_json`] / [`GcsBuilder::service_account_file`],
//! [`GcsBuilder::anonymous`] (emulators, public buckets), else application default
//! credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's file, the metadata server) through
//! google-cloud-auth (feature `google-auth`, on by default). With `STORAGE_EMULATOR_HOST` set
//! and nothing else configured, requests go anonymously to the emulator. Building the adapter
//! makes no network call.
//!
//! ## Uploads and resume tokens
//!
//! A body up to the part size (default 8 MiB) is one multipart media upload
//! (`uploadType=multipart`). A larger one runs in a **resumable session**
//! ([`resumable`]): chunks that are multiples of 256 KiB, each `PUT` with
//! `Content-Range: bytes S-E/TOTAL`; resume asks the session where it stands with
//! `Content-Range: bytes */TOTAL`. The token's session is the **session URL, a bearer
//! credential**: anyone holding it can write the object until the session ends (one week).
//! It is marked sensitive (redacted in `Debug`, never in an error or log), and a token whose
//! session URL is not on the configured endpoint is refused before any request. Store tokens
//! and checkpoint files like secrets.

#![deny(missing_docs)]

mod auth;
pub mod credentials;
pub mod firebase;
pub mod resumable;
mod sign;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use files_core::{
    Adapter, ByteRange, ByteStream, Capabilities, Error, ErrorKind, GetResponse, ListPage,
    ListRequest, ObjectMeta, OffsetState, OffsetUpload, PartRules, PresignMethod, PutOptions,
    Result, Resumability, Session, UploadFamily, UploadSpec,
};
use futures::{StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, RANGE};
use serde_json::{Value, json};

use crate::auth::Auth;
use crate::resumable::{
    CancelOutcome, ResumableProtocol, SessionStatus, SessionUrl, status_error, transport,
};

/// Google's public endpoint of the JSON API.
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";
/// The environment variable naming an emulator (`host:port` or a URL).
pub const EMULATOR_ENV: &str = "STORAGE_EMULATOR_HOST";
/// The environment variable that turns the gcp-storage-emulator workarounds on (`1`/`true`).
pub const EMULATOR_QUIRKS_ENV: &str = "FILES_GCS_EMULATOR_QUIRKS";
/// The environment variable holding a fixed OAuth 2.0 access token (URL-opened adapters).
pub const ACCESS_TOKEN_ENV: &str = "GCS_ACCESS_TOKEN";

/// A Google Cloud Storage bucket (or a Firebase Storage bucket, see [`firebase`]).
#[derive(Clone)]
pub struct GcsAdapter {
    inner: Arc<Inner>,
}

struct Inner {
    provider: &'static str,
    bucket: String,
    endpoint: url::Url,
    auth: Auth,
    protocol: ResumableProtocol,
    quirks: bool,
    signer: Option<sign::Signer>,
    firebase_endpoint: url::Url,
}

impl fmt::Debug for GcsAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcsAdapter")
            .field("provider", &self.inner.provider)
            .field("bucket", &self.inner.bucket)
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("auth", &self.inner.auth)
            .field("emulator_quirks", &self.inner.quirks)
            .field("signer", &self.inner.signer.is_some())
            .finish()
    }
}

enum AuthChoice {
    Default,
    Anonymous,
    Token(String),
    ServiceAccount(Value),
    ApplicationDefault,
    Source(credentials::TokenSource),
}

/// Configures a [`GcsAdapter`].
pub struct GcsBuilder {
    provider: &'static str,
    bucket: Option<String>,
    endpoint: Option<String>,
    auth: AuthChoice,
    quirks: Option<bool>,
    firebase_endpoint: Option<String>,
    env: bool,
}

impl fmt::Debug for GcsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcsBuilder")
            .field("provider", &self.provider)
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl GcsAdapter {
    /// A builder for a GCS bucket.
    pub fn builder() -> GcsBuilder {
        GcsBuilder {
            provider: "gcs",
            bucket: None,
            endpoint: None,
            auth: AuthChoice::Default,
            quirks: None,
            firebase_endpoint: None,
            env: true,
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.inner.bucket
    }

    /// The JSON API endpoint requests go to.
    pub fn endpoint(&self) -> &url::Url {
        &self.inner.endpoint
    }

    /// The adapter for `gs://bucket[/key]` (the key is ignored). Configuration comes from the
    /// environment ([`EMULATOR_ENV`], [`EMULATOR_QUIRKS_ENV`], [`ACCESS_TOKEN_ENV`],
    /// application default credentials); URL query parameters are refused.
    pub fn from_url(url: &str) -> Result<GcsAdapter> {
        let parsed =
            url::Url::parse(url).map_err(|e| Error::invalid_input(format!("not a URL: {e}")))?;
        adapter_for_url(&parsed)
    }

    fn object_path(&self, key: &str) -> String {
        format!(
            "{}storage/v1/b/{}/o/{}",
            base(&self.inner.endpoint),
            self.inner.bucket,
            encode(key)
        )
    }

    fn upload_base(&self) -> String {
        format!(
            "{}upload/storage/v1/b/{}/o",
            base(&self.inner.endpoint),
            self.inner.bucket
        )
    }

    fn session_path_prefix(&self) -> String {
        let ep = self.inner.endpoint.path().trim_end_matches('/');
        format!("{ep}/upload/storage/v1/b/{}/o", self.inner.bucket)
    }

    async fn auth(&self) -> Result<HeaderMap> {
        self.inner.auth.headers().await
    }

    fn http(&self) -> &reqwest::Client {
        self.inner.protocol.http()
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let headers = self.auth().await?;
        req.headers(headers).send().await.map_err(transport)
    }

    /// Uploads a small body in one multipart request (metadata + media).
    async fn put_small(&self, key: &str, data: Bytes, options: &PutOptions) -> Result<ObjectMeta> {
        let boundary = format!("files-gcs-{:032x}", random_u128());
        let meta = resource_json(key, options);
        let mut body = BytesMut::with_capacity(data.len() + 512);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n--{boundary}\r\nContent-Type: {}\r\n\r\n",
                options.content_type.as_deref().unwrap_or("application/octet-stream")
            )
            .as_bytes(),
        );
        body.extend_from_slice(&data);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let body = body.freeze();
        let req = self
            .http()
            .post(format!("{}?uploadType=multipart", self.upload_base()))
            .header(
                CONTENT_TYPE,
                format!("multipart/related; boundary={boundary}"),
            )
            .header(CONTENT_LENGTH, body.len())
            .body(body);
        let resp = self.send(req).await?;
        if !resp.status().is_success() {
            return Err(status_error(resp, "upload the object").await);
        }
        let v: Value = resp.json().await.map_err(transport)?;
        meta_from_resource(&v)
    }

    async fn start_session(
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

    /// Streams a body of unknown (or large) length into a resumable session, in aligned chunks
    /// sent with `bytes S-E/*`, the last one with the total.
    async fn put_streamed(
        &self,
        key: &str,
        mut body: ByteStream,
        options: &PutOptions,
    ) -> Result<ObjectMeta> {
        let chunk = resumable::chunk_rules().default_part_size as usize;
        let mut buf = BytesMut::new();
        let mut offset = 0u64;
        let mut done = false;
        let mut session: Option<SessionUrl> = None;
        loop {
            while !done && buf.len() < chunk + 1 {
                match body.next().await {
                    Some(Ok(b)) => buf.extend_from_slice(&b),
                    Some(Err(e)) => {
                        if let Some(s) = &session {
                            let _ = self.inner.protocol.cancel(s, None).await;
                        }
                        return Err(e);
                    }
                    None => done = true,
                }
            }
            // The first chunk is read before the session starts: a body that fits in one
            // chunk goes in one request, and a source on the same single-threaded server
            // (an emulator) is drained before the next request is sent.
            let session = match &session {
                Some(s) => s.clone(),
                None if done && buf.len() <= chunk => {
                    return self.put_small(key, buf.freeze(), options).await;
                }
                None => {
                    let s = self.start_session(key, None, options).await?;
                    session = Some(s.clone());
                    s
                }
            };
            let (data, total) = if done && buf.len() <= chunk {
                let data = buf.split().freeze();
                (data.clone(), Some(offset + data.len() as u64))
            } else {
                (buf.split_to(chunk).freeze(), None)
            };
            let len = data.len() as u64;
            match self
                .inner
                .protocol
                .put_chunk(&session, None, offset, data, total)
                .await?
            {
                SessionStatus::Complete(body) => return self.meta_from_body(&body),
                SessionStatus::Persisted(n) if n == offset + len => offset = n,
                SessionStatus::Persisted(n) => {
                    return Err(Error::transient(format!(
                        "the service persisted {n} bytes of a streamed upload, expected {}",
                        offset + len
                    )));
                }
            }
        }
    }

    fn meta_from_body(&self, body: &[u8]) -> Result<ObjectMeta> {
        let v: Value = serde_json::from_slice(body).map_err(|_| {
            Error::new(
                ErrorKind::Other,
                "the service answered an unreadable object resource",
            )
        })?;
        meta_from_resource(&v)
    }

    /// The session URL of a token's session: refused when the session is past its lifetime or
    /// was not started for `spec.key` ([`Self::check_bound`]).
    fn session_url(&self, spec: &UploadSpec, session: &Session) -> Result<SessionUrl> {
        if let Some(exp) = session.expires_at
            && exp <= now_secs()
        {
            return Err(Error::new(
                ErrorKind::SessionExpired,
                "session expired: the resumable upload session is older than a week; the upload must start again",
            ));
        }
        self.check_bound(spec, session)?;
        Ok(SessionUrl::new(session.id.clone()))
    }

    /// Refuses a session that was not started for `spec.key`: the key recorded at `begin`
    /// must match, and so must the object name a GCS session URL carries (`name=`), when it
    /// carries one. Runs before any request with the session.
    fn check_bound(&self, spec: &UploadSpec, session: &Session) -> Result<()> {
        session.check_bound_to(&spec.key)?;
        match resumable::session_url_param(&session.id, "name") {
            Some(name) if name != spec.key => Err(Error::token_invalid(
                "the token's session URL names another object; refusing to send this key's bytes into it",
            )),
            _ => Ok(()),
        }
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

impl GcsBuilder {
    /// The bucket (required).
    pub fn bucket(mut self, bucket: impl Into<String>) -> Self {
        self.bucket = Some(bucket.into());
        self
    }
    /// The JSON API endpoint, e.g. `http://127.0.0.1:9023` for an emulator (default: the
    /// `STORAGE_EMULATOR_HOST` environment variable, else Google's).
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }
    /// Authorizes with a fixed OAuth 2.0 access token (not refreshed).
    pub fn access_token(mut self, token: impl Into<String>) -> Self {
        self.auth = AuthChoice::Token(token.into());
        self
    }
    /// Authorizes with a service-account key (the JSON key file's content). The key also
    /// enables V4 signed URLs.
    pub fn service_account_json(mut self, json: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(json)
            .map_err(|_| Error::invalid_input("the service-account key is not JSON"))?;
        self.auth = AuthChoice::ServiceAccount(v);
        Ok(self)
    }
    /// Authorizes with the service-account key file at `path`.
    pub fn service_account_file(self, path: impl AsRef<std::path::Path>) -> Result<Self> {
        let text = std::fs::read_to_string(path.as_ref()).map_err(Error::from_io)?;
        self.service_account_json(&text)
    }
    /// Authorizes with a [`TokenSource`](credentials::TokenSource) (e.g. a service-account
    /// key with other scopes, or shared with a Drive adapter). It does not enable signed URLs.
    pub fn token_source(mut self, source: credentials::TokenSource) -> Self {
        self.auth = AuthChoice::Source(source);
        self
    }
    /// Application default credentials (the default outside emulators).
    pub fn application_default(mut self) -> Self {
        self.auth = AuthChoice::ApplicationDefault;
        self
    }
    /// No credentials (emulators and public buckets).
    pub fn anonymous(mut self) -> Self {
        self.auth = AuthChoice::Anonymous;
        self
    }
    /// Works around gcp-storage-emulator's deviations from the real service (see the crate
    /// docs of [`resumable`] and `docs/gcs.md`). Default: the `FILES_GCS_EMULATOR_QUIRKS`
    /// environment variable. Never turn this on for Google's service.
    pub fn emulator_quirks(mut self, on: bool) -> Self {
        self.quirks = Some(on);
        self
    }
    /// The host serving Firebase download-token URLs (default
    /// `https://firebasestorage.googleapis.com`, or the endpoint when it is overridden).
    pub fn firebase_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.firebase_endpoint = Some(endpoint.into());
        self
    }
    /// Ignores the environment (`STORAGE_EMULATOR_HOST`, `FILES_GCS_EMULATOR_QUIRKS`).
    pub fn ignore_env(mut self) -> Self {
        self.env = false;
        self
    }

    /// Builds the adapter. Makes no network call.
    pub fn build(self) -> Result<GcsAdapter> {
        let env = |name: &str| {
            if self.env {
                std::env::var(name).ok().filter(|v| !v.is_empty())
            } else {
                None
            }
        };
        let bucket = self
            .bucket
            .clone()
            .ok_or_else(|| Error::invalid_input("a GCS adapter needs a bucket"))?;
        check_bucket(&bucket)?;
        let emulator = env(EMULATOR_ENV);
        let endpoint_text = self
            .endpoint
            .clone()
            .or_else(|| emulator.clone())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let endpoint_text = if endpoint_text.contains("://") {
            endpoint_text
        } else {
            format!("http://{endpoint_text}")
        };
        let endpoint = url::Url::parse(&endpoint_text)
            .map_err(|e| Error::invalid_input(format!("the endpoint is not a URL: {e}")))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.query().is_some() {
            return Err(Error::invalid_input(
                "the endpoint must be an http(s) URL without a query",
            ));
        }
        let custom_endpoint = self.endpoint.is_some() || emulator.is_some();
        let quirks = self.quirks.unwrap_or_else(|| {
            env(EMULATOR_QUIRKS_ENV).is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
        });
        #[cfg_attr(not(feature = "google-auth"), allow(unused_mut))]
        let mut signer = None;
        let auth = match self.auth {
            AuthChoice::Anonymous => Auth::Anonymous,
            AuthChoice::Token(t) => Auth::token(&t)?,
            #[cfg_attr(not(feature = "google-auth"), allow(unused_variables))]
            AuthChoice::ServiceAccount(v) => {
                #[cfg(feature = "google-auth")]
                {
                    signer = sign::Signer::from_service_account(&v)?;
                    auth::service_account(&v)?
                }
                #[cfg(not(feature = "google-auth"))]
                {
                    return Err(Error::not_supported(
                        "service-account keys need the `google-auth` feature of files-gcs",
                    ));
                }
            }
            AuthChoice::ApplicationDefault => application_default()?,
            AuthChoice::Source(source) => Auth::Source(source),
            AuthChoice::Default if emulator.is_some() && self.endpoint.is_none() => Auth::Anonymous,
            AuthChoice::Default => application_default()?,
        };
        let firebase_endpoint = match self.firebase_endpoint {
            Some(e) => url::Url::parse(&e).map_err(|e| {
                Error::invalid_input(format!("the Firebase endpoint is not a URL: {e}"))
            })?,
            None if custom_endpoint => endpoint.clone(),
            None => url::Url::parse(firebase::DEFAULT_FIREBASE_ENDPOINT).expect("a valid URL"),
        };
        let http = resumable::http_client(None)?;
        Ok(GcsAdapter {
            inner: Arc::new(Inner {
                provider: self.provider,
                bucket,
                endpoint,
                auth,
                protocol: ResumableProtocol::new(http).with_emulator_quirks(quirks),
                quirks,
                signer,
                firebase_endpoint,
            }),
        })
    }
}

fn application_default() -> Result<Auth> {
    #[cfg(feature = "google-auth")]
    {
        auth::application_default()
    }
    #[cfg(not(feature = "google-auth"))]
    {
        Err(Error::not_supported(
            "application default credentials need the `google-auth` feature of files-gcs; use an access token or anonymous access",
        ))
    }
}

fn check_bucket(bucket: &str) -> Result<()> {
    let ok = (3..=222).contains(&bucket.len())
        && bucket.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
        && bucket
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && bucket
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "`{bucket}` is not a valid bucket name (3-222 characters: a-z, 0-9, '-', '_', '.')"
        )))
    }
}

fn base(endpoint: &url::Url) -> String {
    let s = endpoint.as_str();
    if s.ends_with('/') {
        s.to_string()
    } else {
        format!("{s}/")
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (so `/` becomes `%2F`).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn random_u128() -> u128 {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).expect("system randomness");
    u128::from_le_bytes(b)
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn resource_json(key: &str, options: &PutOptions) -> Value {
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

fn meta_from_resource(v: &Value) -> Result<ObjectMeta> {
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

/// Parses `2024-05-06T07:08:09.123Z` (or with an offset) into a time. As before the shared
/// parser, the fields are not checked (each is whatever number stands at its place).
fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let rules = files_core::time::Rfc3339Rules {
        unchecked_fields: true,
        ignore_offset: false,
    };
    files_core::time::parse_rfc3339_with(s, rules)
}

#[async_trait]
impl Adapter for GcsAdapter {
    fn provider(&self) -> &'static str {
        self.inner.provider
    }

    fn target(&self) -> String {
        let ep = &self.inner.endpoint;
        match ep.port() {
            Some(p) => format!("{}@{}:{p}", self.inner.bucket, ep.host_str().unwrap_or("")),
            None => format!("{}@{}", self.inner.bucket, ep.host_str().unwrap_or("")),
        }
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::minimal();
        c.range_read = true;
        c.content_type = true;
        c.metadata = true;
        c.cache_control = true;
        c.server_side_copy = true;
        c.native_rename = false;
        c.list_delimiter = true;
        c.presign_get = self.inner.signer.is_some();
        c.presign_put = self.inner.signer.is_some();
        c.resumable = Resumability::CrossProcess;
        c
    }

    fn check_session(&self, session: &Session) -> Result<()> {
        if session.id.is_empty() {
            return Err(Error::token_invalid("the token names no resumable session"));
        }
        resumable::check_same_origin(
            &session.id,
            &self.inner.endpoint,
            &self.session_path_prefix(),
        )
    }

    fn upload_family(&self) -> UploadFamily<'_> {
        UploadFamily::Offset(self)
    }

    async fn put(
        &self,
        key: &str,
        body: ByteStream,
        len: Option<u64>,
        options: &PutOptions,
    ) -> Result<ObjectMeta> {
        let small = resumable::chunk_rules().default_part_size;
        match len {
            Some(n) if n <= small => {
                let data: Vec<Bytes> = body.try_collect().await?;
                let mut buf = BytesMut::with_capacity(n as usize);
                for b in data {
                    buf.extend_from_slice(&b);
                }
                if buf.len() as u64 != n {
                    return Err(Error::invalid_input(format!(
                        "the body has {} bytes, not the {n} announced",
                        buf.len()
                    )));
                }
                self.put_small(key, buf.freeze(), options).await
            }
            _ => self.put_streamed(key, body, options).await,
        }
        .map_err(|e| e.with_operation("put").with_key(key))
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        let resp = self.send(self.http().get(self.object_path(key))).await?;
        if !resp.status().is_success() {
            return Err(status_error(resp, "read the object's metadata")
                .await
                .with_operation("head")
                .with_key(key));
        }
        let v: Value = resp.json().await.map_err(transport)?;
        meta_from_resource(&v)
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResponse> {
        let meta = self.head(key).await?;
        let range = match range {
            Some(r) => r.resolve(meta.size)?,
            None => 0..meta.size,
        };
        let generation = meta.etag.clone();
        let mut req = self
            .http()
            .get(format!("{}?alt=media", self.object_path(key)));
        if range != (0..meta.size) {
            req = req.header(RANGE, format!("bytes={}-{}", range.start, range.end - 1));
        }
        let _ = generation;
        let resp = self.send(req).await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(status_error(resp, "download the object")
                .await
                .with_operation("get")
                .with_key(key));
        }
        if status.as_u16() == 200 && range != (0..meta.size) {
            return Err(Error::new(
                ErrorKind::Other,
                "the service ignored the Range header",
            ));
        }
        let stream = resp.bytes_stream().map(|r| r.map_err(transport)).boxed();
        Ok(GetResponse {
            meta,
            range,
            stream,
        })
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let resp = self.send(self.http().delete(self.object_path(key))).await?;
        match resp.status().as_u16() {
            200..=299 | 404 => Ok(()),
            _ => Err(status_error(resp, "delete the object")
                .await
                .with_operation("delete")
                .with_key(key)),
        }
    }

    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        // A cursor is the service's pageToken, or `fgcs:<skip>:<pageToken>` when a server
        // that ignores maxResults (gcp-storage-emulator) answered more than the limit.
        let (skip, server_token) = match request.cursor.as_deref() {
            Some(c) => match c.strip_prefix("fgcs:").and_then(|r| r.split_once(':')) {
                Some((n, t)) => (n.parse::<usize>().unwrap_or(0), t),
                None => (0, c),
            },
            None => (0, ""),
        };
        let mut url = url::Url::parse(&format!(
            "{}storage/v1/b/{}/o",
            base(&self.inner.endpoint),
            self.inner.bucket
        ))
        .map_err(|e| Error::invalid_input(format!("list URL: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            if !request.prefix.is_empty() {
                q.append_pair("prefix", &request.prefix);
            }
            if let Some(d) = &request.delimiter {
                q.append_pair("delimiter", d);
            }
            if !server_token.is_empty() {
                q.append_pair("pageToken", server_token);
            }
            if let Some(l) = request.limit {
                q.append_pair("maxResults", &l.clamp(1, 1000).to_string());
            }
        }
        let resp = self.send(self.http().get(url)).await?;
        if !resp.status().is_success() {
            return Err(status_error(resp, "list objects")
                .await
                .with_operation("list"));
        }
        let v: Value = resp.json().await.map_err(transport)?;
        let mut page = ListPage::default();
        let server_token: &str = server_token;
        if let Some(Value::Array(items)) = v.get("items") {
            for item in items {
                page.objects.push(meta_from_resource(item)?);
            }
        }
        if let Some(Value::Array(prefixes)) = v.get("prefixes") {
            page.prefixes = prefixes
                .iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect();
        }
        page.objects.sort_by(|a, b| a.key.cmp(&b.key));
        page.prefixes.sort();
        let next = v
            .get("nextPageToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let count = page.objects.len() + page.prefixes.len();
        let limit = request.limit.unwrap_or(usize::MAX).max(1);
        if skip == 0 && count <= limit {
            page.cursor = next;
            return Ok(page);
        }
        // Cut the page client-side: entries in name order, skip, take the limit.
        let mut entries: Vec<(String, Option<ObjectMeta>)> = page
            .objects
            .into_iter()
            .map(|o| (o.key.clone(), Some(o)))
            .chain(page.prefixes.into_iter().map(|p| (p, None)))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let rest: Vec<_> = entries.into_iter().skip(skip).collect();
        let more = rest.len() > limit;
        let mut out = ListPage::default();
        for (name, meta) in rest.into_iter().take(limit) {
            match meta {
                Some(m) => out.objects.push(m),
                None => out.prefixes.push(name),
            }
        }
        out.cursor = if more {
            Some(format!("fgcs:{}:{server_token}", skip + limit))
        } else {
            next
        };
        Ok(out)
    }

    async fn copy(&self, from: &str, to: &str) -> Result<ObjectMeta> {
        let url = format!(
            "{}/rewriteTo/b/{}/o/{}",
            self.object_path(from),
            self.inner.bucket,
            encode(to)
        );
        let mut token: Option<String> = None;
        for _ in 0..10_000 {
            let mut u = url::Url::parse(&url).map_err(|e| Error::invalid_input(e.to_string()))?;
            if let Some(t) = &token {
                u.query_pairs_mut().append_pair("rewriteToken", t);
            }
            let req = self
                .http()
                .post(u)
                .header(CONTENT_TYPE, "application/json")
                .body("{}");
            let resp = self.send(req).await?;
            if !resp.status().is_success() {
                return Err(status_error(resp, "copy the object")
                    .await
                    .with_operation("copy")
                    .with_key(from));
            }
            let v: Value = resp.json().await.map_err(transport)?;
            if v.get("done").and_then(Value::as_bool).unwrap_or(false) {
                let resource = v.get("resource").ok_or_else(|| {
                    Error::new(ErrorKind::Other, "a finished rewrite named no resource")
                })?;
                return meta_from_resource(resource);
            }
            token = v
                .get("rewriteToken")
                .and_then(Value::as_str)
                .map(str::to_string);
            if token.is_none() {
                return Err(Error::new(
                    ErrorKind::Other,
                    "an unfinished rewrite gave no rewriteToken",
                ));
            }
        }
        Err(Error::new(ErrorKind::Other, "the rewrite never finished"))
    }

    async fn presign(&self, key: &str, method: PresignMethod, expires: Duration) -> Result<String> {
        let signer = self.inner.signer.as_ref().ok_or_else(|| {
            Error::not_supported(
                "signed URLs need a service-account key (GcsBuilder::service_account_json)",
            )
        })?;
        signer.sign_url(
            &self.inner.endpoint,
            &self.inner.bucket,
            key,
            method,
            expires,
            SystemTime::now(),
        )
    }
}

#[async_trait]
impl OffsetUpload for GcsAdapter {
    fn rules(&self) -> PartRules {
        resumable::chunk_rules()
    }

    fn resumability(&self) -> Resumability {
        Resumability::CrossProcess
    }

    async fn begin(&self, spec: &UploadSpec) -> Result<Session> {
        let url = self
            .start_session(&spec.key, Some(spec.total), &spec.options)
            .await
            .map_err(|e| e.with_operation("begin").with_key(&spec.key))?;
        let mut session = Session::new(url.expose());
        session.sensitive = true;
        session.expires_at = Some(now_secs() + resumable::SESSION_LIFETIME.as_secs());
        session.bind_to_key(&spec.key);
        Ok(session)
    }

    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<OffsetState> {
        let url = self.session_url(spec, session)?;
        match self
            .inner
            .protocol
            .query(&url, None, Some(spec.total))
            .await
        {
            Ok(SessionStatus::Persisted(n)) => Ok(OffsetState::Offset(n)),
            Ok(SessionStatus::Complete(body)) => {
                Ok(OffsetState::Finished(self.meta_from_body(&body)?))
            }
            Err(e) if e.kind() == ErrorKind::SessionExpired && self.inner.quirks => {
                // gcp-storage-emulator forgets a session once it finalized it: a whole object
                // of the session's size at the key is taken as the finished upload.
                match self.head(&spec.key).await {
                    Ok(meta) if meta.size == spec.total => Ok(OffsetState::Finished(meta)),
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
        .map_err(|e| e.with_operation("probe").with_key(&spec.key))
    }

    async fn append(
        &self,
        spec: &UploadSpec,
        session: &Session,
        offset: u64,
        data: Bytes,
        _last: bool,
    ) -> Result<OffsetState> {
        let url = self.session_url(spec, session)?;
        match self
            .inner
            .protocol
            .put_chunk(&url, None, offset, data, Some(spec.total))
            .await
            .map_err(|e| e.with_operation("append").with_key(&spec.key))?
        {
            SessionStatus::Persisted(n) => Ok(OffsetState::Offset(n)),
            SessionStatus::Complete(body) => Ok(OffsetState::Finished(self.meta_from_body(&body)?)),
        }
    }

    async fn finish(&self, spec: &UploadSpec, session: &Session) -> Result<ObjectMeta> {
        // With a known total the session completes with its last chunk; if every byte is there
        // but no answer said so, the status query finalizes it (nothing is re-sent).
        match self.probe(spec, session).await? {
            OffsetState::Finished(meta) => Ok(meta),
            OffsetState::Offset(n) => Err(Error::conflict(format!(
                "the session holds {n} of {} bytes; it cannot be finished",
                spec.total
            ))
            .with_operation("finish")
            .with_key(&spec.key)),
        }
    }

    async fn cancel(&self, spec: &UploadSpec, session: &Session) -> Result<()> {
        self.check_bound(spec, session)
            .map_err(|e| e.with_operation("cancel").with_key(&spec.key))?;
        let url = SessionUrl::new(session.id.clone());
        match self
            .inner
            .protocol
            .cancel(&url, None)
            .await
            .map_err(|e| e.with_operation("cancel").with_key(&spec.key))?
        {
            CancelOutcome::Cancelled | CancelOutcome::AlreadyGone => Ok(()),
            CancelOutcome::Unsupported => self.emulator_cancel(spec, &url).await,
        }
    }
}

impl GcsAdapter {
    /// gcp-storage-emulator answers DELETE with 501. It does drop a session that it finalizes,
    /// so, when no object exists at the key (nothing to clobber), the session is finalized as
    /// an empty object (`bytes */0`) which is then deleted. With an object at the key the
    /// session is left to the emulator (and reported in the log).
    async fn emulator_cancel(&self, spec: &UploadSpec, url: &SessionUrl) -> Result<()> {
        match self.head(&spec.key).await {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                match self.inner.protocol.query(url, None, Some(0)).await {
                    Ok(SessionStatus::Complete(_)) => self.delete(&spec.key).await,
                    Ok(SessionStatus::Persisted(_)) => Ok(()),
                    Err(e) if e.kind() == ErrorKind::SessionExpired => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Ok(_) => {
                tracing::warn!(
                    key = %spec.key,
                    "the emulator cannot cancel resumable sessions; the session is left open"
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

// ------------------------------------------------------------------------------ URL schemes

fn adapter_for_url(url: &url::Url) -> Result<GcsAdapter> {
    if url.query().is_some() {
        return Err(Error::invalid_input(
            "gs:// URLs take no parameters; configure the endpoint and credentials in the environment",
        ));
    }
    let bucket = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::invalid_input("a gs:// URL names a bucket: gs://bucket/key"))?;
    let mut b = GcsAdapter::builder().bucket(bucket);
    if let Ok(t) = std::env::var(ACCESS_TOKEN_ENV)
        && !t.is_empty()
    {
        b = b.access_token(t);
    }
    b.build()
}

fn store_from_url(url: &url::Url) -> Result<Arc<dyn Adapter>> {
    Ok(Arc::new(adapter_for_url(url)?))
}

fn object_from_url(url: &url::Url) -> Result<(Arc<dyn Adapter>, String)> {
    let adapter = adapter_for_url(url)?;
    let key = files_core::registry::url_key(url)?;
    Ok((Arc::new(adapter), key))
}

/// The factory of the `gs` scheme: `gs://bucket/key`.
pub const FACTORY: files_core::AdapterFactory = files_core::AdapterFactory {
    scheme: "gs",
    provider: "gcs",
    store: store_from_url,
    object: object_from_url,
};
files_core::inventory::submit!(FACTORY);
files_core::inventory::submit!(firebase::FACTORY);

/// Registers this crate's schemes (`gs`, `firebase`) explicitly (fallback for builds where the
/// linker dropped them).
pub fn register() {
    static F: files_core::AdapterFactory = FACTORY;
    static FB: files_core::AdapterFactory = firebase::FACTORY;
    files_core::registry::register(&F);
    files_core::registry::register(&FB);
}

#[doc(hidden)]
pub mod fuzzing {
    //! The hand-written parsers of this crate, exposed for the fuzz targets in `fuzz/` and
    //! their corpus replay test; not a stable API.

    /// Bytes persisted according to a resumable session's `Range` header.
    pub use crate::resumable::persisted_from_range;

    /// Parses an RFC 3339 time as GCS answers it.
    pub fn parse_rfc3339(s: &str) -> Option<std::time::SystemTime> {
        super::parse_rfc3339(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        let t = parse_rfc3339("1970-01-02T00:00:01.5Z").unwrap();
        assert_eq!(t, UNIX_EPOCH + Duration::new(86401, 500_000_000));
        let t = parse_rfc3339("2024-02-29T12:00:00+01:00").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_709_204_400
        );
    }

    #[test]
    fn encoding() {
        assert_eq!(encode("a/b c.txt"), "a%2Fb%20c.txt");
        assert_eq!(encode("ü"), "%C3%BC");
    }

    #[test]
    fn debug_has_no_token() {
        let a = GcsAdapter::builder()
            .ignore_env()
            .bucket("bkt")
            .access_token("ya29.SECRET")
            .build()
            .unwrap();
        assert!(!format!("{a:?}").contains("SECRET"));
    }
}
