//! Configuration: the builder, credentials, and `gs://` URLs.

use std::fmt;
use std::sync::Arc;

use files_core::{Error, Result};
use files_http::Auth;
use serde_json::Value;

use crate::adapter::{GcsAdapter, Inner};
use crate::resumable::ResumableProtocol;
use crate::{
    ACCESS_TOKEN_ENV, DEFAULT_ENDPOINT, EMULATOR_ENV, EMULATOR_QUIRKS_ENV, credentials, firebase,
    sign,
};

pub(crate) enum AuthChoice {
    Default,
    Anonymous,
    Token(String),
    ServiceAccount(Value),
    ApplicationDefault,
    Source(credentials::TokenSource),
}

/// Configures a [`GcsAdapter`].
pub struct GcsBuilder {
    pub(crate) provider: &'static str,
    pub(crate) bucket: Option<String>,
    pub(crate) endpoint: Option<String>,
    pub(crate) auth: AuthChoice,
    pub(crate) quirks: Option<bool>,
    pub(crate) firebase_endpoint: Option<String>,
    pub(crate) env: bool,
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
        let mut signer = None;
        let auth = match self.auth {
            AuthChoice::Anonymous => Auth::None,
            AuthChoice::Token(t) => Auth::Token(credentials::TokenSource::fixed(t)?),
            AuthChoice::ServiceAccount(v) => {
                signer = sign::Signer::from_service_account(&v)?;
                Auth::Token(service_account(&v)?)
            }
            AuthChoice::ApplicationDefault => Auth::Token(application_default()?),
            AuthChoice::Source(source) => Auth::Token(source),
            AuthChoice::Default if emulator.is_some() && self.endpoint.is_none() => Auth::None,
            AuthChoice::Default => Auth::Token(application_default()?),
        };
        let firebase_endpoint = match self.firebase_endpoint {
            Some(e) => url::Url::parse(&e).map_err(|e| {
                Error::invalid_input(format!("the Firebase endpoint is not a URL: {e}"))
            })?,
            None if custom_endpoint => endpoint.clone(),
            None => url::Url::parse(firebase::DEFAULT_FIREBASE_ENDPOINT).expect("a valid URL"),
        };
        let http = files_http::client(&files_http::ClientOptions::default())?;
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

/// The OAuth 2.0 scope of service-account and application default credentials.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Application default credentials (a key file through the JWT-bearer flow, anything else
/// through google-cloud-auth with the `google-auth` feature).
pub(crate) fn application_default() -> Result<credentials::TokenSource> {
    credentials::application_default(&[CLOUD_PLATFORM_SCOPE])
}

/// A service-account key's token source: through google-cloud-auth with the `google-auth`
/// feature (as the library reads keys), else the kit's JWT-bearer flow.
pub(crate) fn service_account(v: &Value) -> Result<credentials::TokenSource> {
    #[cfg(feature = "google-auth")]
    {
        files_http::google::library::service_account(v)
    }
    #[cfg(not(feature = "google-auth"))]
    {
        credentials::service_account(
            credentials::ServiceAccountKey::from_value(v)?,
            &[CLOUD_PLATFORM_SCOPE],
        )
    }
}

pub(crate) fn check_bucket(bucket: &str) -> Result<()> {
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

pub(crate) fn adapter_for_url(url: &url::Url) -> Result<GcsAdapter> {
    let params = files_core::registry::url_params(url, &["endpoint"])?;
    let bucket = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::invalid_input("a gs:// URL names a bucket: gs://bucket/key"))?;
    let mut b = GcsAdapter::builder().bucket(bucket);
    if let Some(endpoint) = params.get("endpoint") {
        b = b.endpoint(endpoint);
    }
    if let Ok(t) = std::env::var(ACCESS_TOKEN_ENV)
        && !t.is_empty()
    {
        b = b.access_token(t);
    }
    b.build()
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

    /// The adapter for `gs://bucket[/key]` (the key is ignored). Configuration comes from the
    /// environment ([`EMULATOR_ENV`], [`EMULATOR_QUIRKS_ENV`], [`ACCESS_TOKEN_ENV`],
    /// application default credentials); the one URL parameter is `endpoint=URL`.
    pub fn from_url(url: &str) -> Result<GcsAdapter> {
        let parsed =
            url::Url::parse(url).map_err(|e| Error::invalid_input(format!("not a URL: {e}")))?;
        adapter_for_url(&parsed)
    }
}

impl files_core::FromUrl for GcsAdapter {
    /// `gs://bucket/...` (with `?endpoint=URL`) or `firebase://project-or-bucket/...`;
    /// credentials from the environment.
    fn from_url(url: &url::Url) -> Result<GcsAdapter> {
        match url.scheme() {
            "firebase" => firebase::adapter_for_url(url),
            _ => adapter_for_url(url),
        }
    }
}
