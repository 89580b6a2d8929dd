//! Configuration: the builder, credentials, and `gdrive://` URLs.

use std::fmt;
use std::sync::Arc;

use files_core::{Error, Result};
use files_http::TokenSource;
use files_http::google::ServiceAccountKey;
use files_http::session::RangeSession;

use crate::adapter::{GDriveAdapter, Inner};
use crate::{ACCESS_TOKEN_ENV, DEFAULT_ENDPOINT, DRIVE_SCOPE, ENDPOINT_ENV};

/// Configures a [`GDriveAdapter`].
#[derive(Default)]
pub struct GDriveBuilder {
    pub(crate) auth: AuthChoice,
    pub(crate) subject: Option<String>,
    pub(crate) root: Option<String>,
    pub(crate) endpoint: Option<String>,
    pub(crate) trash: bool,
}

#[derive(Default)]
pub(crate) enum AuthChoice {
    /// An access token from [`ACCESS_TOKEN_ENV`] (URL-opened adapters set it), else
    /// application default credentials.
    #[default]
    Default,
    Token(String),
    ServiceAccount(ServiceAccountKey),
    ApplicationDefault,
    Source(TokenSource),
}

impl fmt::Debug for GDriveBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GDriveBuilder")
            .field("root", &self.root)
            .field("endpoint", &self.endpoint)
            .field("trash_on_delete", &self.trash)
            .finish_non_exhaustive()
    }
}

impl GDriveBuilder {
    /// Authorizes with a fixed OAuth 2.0 access token (scope `drive` or `drive.file`); it is
    /// not refreshed.
    pub fn access_token(mut self, token: impl Into<String>) -> Self {
        self.auth = AuthChoice::Token(token.into());
        self
    }
    /// Authorizes as a service account, from its JSON key (the file's content): access tokens
    /// for [`DRIVE_SCOPE`] are obtained with the OAuth 2.0 JWT-bearer flow at the key's
    /// `token_uri`, cached, and refreshed before they expire ([`files_http::google`]).
    /// The service account sees its own files and those shared with it; see
    /// [`subject`](Self::subject) to act for a Workspace user.
    pub fn service_account_json(mut self, json: &str) -> Result<Self> {
        self.auth = AuthChoice::ServiceAccount(ServiceAccountKey::from_json(json)?);
        Ok(self)
    }
    /// As [`service_account_json`](Self::service_account_json), from the key file at `path`.
    pub fn service_account_file(mut self, path: impl AsRef<std::path::Path>) -> Result<Self> {
        self.auth = AuthChoice::ServiceAccount(ServiceAccountKey::from_file(path)?);
        Ok(self)
    }
    /// With a service account: act for the Google Workspace user `email` (domain-wide
    /// delegation, granted by the domain's administrator for [`DRIVE_SCOPE`]).
    pub fn subject(mut self, email: impl Into<String>) -> Self {
        self.subject = Some(email.into());
        self
    }
    /// Application default credentials for [`DRIVE_SCOPE`]: a service-account key file named
    /// by `GOOGLE_APPLICATION_CREDENTIALS` (JWT-bearer flow); other credentials (gcloud's user
    /// credentials, the metadata server) need the `google-auth` feature (on by default).
    pub fn application_default(mut self) -> Self {
        self.auth = AuthChoice::ApplicationDefault;
        self
    }
    /// Authorizes with a [`TokenSource`] of the HTTP kit (it must grant a Drive scope; one
    /// source can be shared with a Cloud Storage adapter).
    pub fn token_source(mut self, source: TokenSource) -> Self {
        self.auth = AuthChoice::Source(source);
        self
    }
    /// The folder id keys are resolved under (default `root`, the user's My Drive).
    pub fn root_folder(mut self, id: impl Into<String>) -> Self {
        self.root = Some(id.into());
        self
    }
    /// The API endpoint (default `https://www.googleapis.com`), e.g. a test server.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }
    /// Moves deleted files to the trash instead of deleting them permanently (the default).
    pub fn trash_on_delete(mut self, on: bool) -> Self {
        self.trash = on;
        self
    }

    /// Builds the adapter. Makes no network call.
    pub fn build(self) -> Result<GDriveAdapter> {
        let auth = match self.auth {
            AuthChoice::Token(t) => TokenSource::fixed(t)?,
            AuthChoice::ServiceAccount(key) => {
                let key = match self.subject {
                    Some(s) => key.with_subject(s),
                    None => key,
                };
                files_http::google::service_account(key, &[DRIVE_SCOPE])?
            }
            AuthChoice::Source(source) => source,
            AuthChoice::Default | AuthChoice::ApplicationDefault => {
                if self.subject.is_some() {
                    return Err(Error::invalid_input(
                        "`subject` needs a service-account key (service_account_json/file)",
                    ));
                }
                files_http::google::application_default(&[DRIVE_SCOPE]).map_err(|e| {
                    Error::new(
                        e.kind(),
                        format!(
                            "a Google Drive adapter needs an access token, a service-account key or application default credentials: {}",
                            e.message()
                        ),
                    )
                })?
            }
        };
        let endpoint_text = self
            .endpoint
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let endpoint = url::Url::parse(&endpoint_text)
            .map_err(|e| Error::invalid_input(format!("the endpoint is not a URL: {e}")))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.query().is_some() {
            return Err(Error::invalid_input(
                "the endpoint must be an http(s) URL without a query",
            ));
        }
        let root = self.root.unwrap_or_else(|| "root".to_string());
        if root.is_empty() || root.contains(['\'', '\\', '/']) {
            return Err(Error::invalid_input("the root folder id is not a Drive id"));
        }
        let http = files_http::client(&files_http::ClientOptions::default())?;
        Ok(GDriveAdapter {
            inner: Arc::new(Inner {
                endpoint,
                root,
                auth,
                protocol: RangeSession::new(http),
                trash: self.trash,
            }),
        })
    }
}

pub(crate) fn adapter_for_url(url: &url::Url) -> Result<GDriveAdapter> {
    let params = files_core::registry::url_params(url, &["endpoint"])?;
    let root = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| {
        Error::invalid_input("a gdrive:// URL names a root folder: gdrive://root/key")
    })?;
    let mut b = GDriveAdapter::builder().root_folder(root);
    if let Ok(t) = std::env::var(ACCESS_TOKEN_ENV)
        && !t.is_empty()
    {
        b = b.access_token(t);
    }
    if let Some(e) = params.get("endpoint") {
        b = b.endpoint(e);
    } else if let Ok(e) = std::env::var(ENDPOINT_ENV)
        && !e.is_empty()
    {
        b = b.endpoint(e);
    }
    b.build()
}

impl GDriveAdapter {
    /// A builder.
    pub fn builder() -> GDriveBuilder {
        GDriveBuilder::default()
    }

    /// The adapter for `gdrive://ROOT/key` (`gdrive://root/...` for My Drive; the key is
    /// ignored). The token comes from [`ACCESS_TOKEN_ENV`], the endpoint from `?endpoint=URL`
    /// or [`ENDPOINT_ENV`].
    pub fn from_url(url: &str) -> Result<GDriveAdapter> {
        let parsed =
            url::Url::parse(url).map_err(|e| Error::invalid_input(format!("not a URL: {e}")))?;
        adapter_for_url(&parsed)
    }
}

impl files_core::FromUrl for GDriveAdapter {
    /// `gdrive://ROOT/...` (with `?endpoint=URL`); credentials from the environment.
    fn from_url(url: &url::Url) -> Result<GDriveAdapter> {
        adapter_for_url(url)
    }
}
