//! Configuration: the builder, credentials, and `onedrive://` / `sharepoint://` URLs.

use std::fmt;
use std::sync::Arc;

use files_core::{Error, ErrorKind, Result};
use files_http::token::ClientCredentials;
use files_http::{Secret, TokenSource};

use crate::adapter::{Inner, OneDriveAdapter};
use crate::{
    ACCESS_TOKEN_ENV, CLIENT_ID_ENV, CLIENT_SECRET_ENV, DEFAULT_ENDPOINT, DEFAULT_TOKEN_ENDPOINT,
    ENDPOINT_ENV, GRAPH_SCOPE, TENANT_ENV, TOKEN_ENDPOINT_ENV,
};

/// Which drive keys live in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriveRef {
    /// The signed-in user's OneDrive (`/me/drive`; needs a delegated token).
    Me,
    /// A drive by id (`/drives/{id}`): a user's OneDrive or a document library.
    Drive(String),
    /// A SharePoint site's default document library (`/sites/{id}/drive`).
    Site(String),
}

impl DriveRef {
    /// The API path of the drive under the endpoint (`/me/drive`, `/drives/ID`...).
    pub fn api_path(&self) -> String {
        use files_http::encode::segment;
        match self {
            DriveRef::Me => "/me/drive".to_string(),
            DriveRef::Drive(id) => format!("/drives/{}", segment(id)),
            DriveRef::Site(id) => format!("/sites/{}/drive", segment(id)),
        }
    }
    fn describe(&self) -> String {
        match self {
            DriveRef::Me => "me".to_string(),
            DriveRef::Drive(id) => id.clone(),
            DriveRef::Site(id) => format!("site:{id}"),
        }
    }
}

#[derive(Default)]
pub(crate) enum AuthChoice {
    /// [`ACCESS_TOKEN_ENV`], else the client-credentials variables.
    #[default]
    Default,
    Token(Secret),
    ClientCredentials {
        tenant: String,
        client_id: String,
        secret: Secret,
    },
    Source(TokenSource),
}

/// Configures a [`OneDriveAdapter`]. `Debug` never shows a token or a secret.
pub struct OneDriveBuilder {
    pub(crate) auth: AuthChoice,
    pub(crate) drive: DriveRef,
    pub(crate) endpoint: Option<String>,
    pub(crate) token_endpoint: Option<String>,
}

impl Default for OneDriveBuilder {
    fn default() -> Self {
        OneDriveBuilder {
            auth: AuthChoice::Default,
            drive: DriveRef::Me,
            endpoint: None,
            token_endpoint: None,
        }
    }
}

impl fmt::Debug for OneDriveBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            AuthChoice::Default => "environment".to_string(),
            AuthChoice::Token(_) => "access token (redacted)".to_string(),
            AuthChoice::ClientCredentials {
                tenant, client_id, ..
            } => format!("client credentials of {client_id} in {tenant} (secret redacted)"),
            AuthChoice::Source(s) => format!("{s:?}"),
        };
        f.debug_struct("OneDriveBuilder")
            .field("drive", &self.drive)
            .field("endpoint", &self.endpoint)
            .field("token_endpoint", &self.token_endpoint)
            .field("auth", &auth)
            .finish()
    }
}

impl OneDriveBuilder {
    /// Authorizes with a fixed Microsoft Graph access token (scope `Files.ReadWrite.All` or
    /// `Sites.ReadWrite.All`); it is not refreshed.
    pub fn access_token(mut self, token: impl Into<String>) -> Self {
        self.auth = AuthChoice::Token(Secret::new(token.into()));
        self
    }
    /// Authorizes an application with the OAuth 2.0 client-credentials grant of the Microsoft
    /// identity platform (`https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`, scope
    /// `https://graph.microsoft.com/.default`); tokens are cached and refreshed before they
    /// expire. App-only tokens have no `/me`: name a drive or a site.
    pub fn client_credentials(
        mut self,
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.auth = AuthChoice::ClientCredentials {
            tenant: tenant.into(),
            client_id: client_id.into(),
            secret: Secret::new(client_secret.into()),
        };
        self
    }
    /// Authorizes with a [`TokenSource`] of the HTTP kit.
    pub fn token_source(mut self, source: TokenSource) -> Self {
        self.auth = AuthChoice::Source(source);
        self
    }
    /// The token endpoint of the client-credentials grant (default
    /// `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`; `{tenant}` is replaced).
    pub fn token_endpoint(mut self, url: impl Into<String>) -> Self {
        self.token_endpoint = Some(url.into());
        self
    }
    /// The signed-in user's drive (`/me/drive`, the default).
    pub fn me(mut self) -> Self {
        self.drive = DriveRef::Me;
        self
    }
    /// A drive by id (`/drives/{id}`).
    pub fn drive_id(mut self, id: impl Into<String>) -> Self {
        self.drive = DriveRef::Drive(id.into());
        self
    }
    /// A SharePoint site's default document library (`/sites/{id}/drive`).
    pub fn site_id(mut self, id: impl Into<String>) -> Self {
        self.drive = DriveRef::Site(id.into());
        self
    }
    /// The Graph endpoint (default `https://graph.microsoft.com/v1.0`), e.g. a test server.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Builds the adapter. Makes no network call.
    pub fn build(self) -> Result<OneDriveAdapter> {
        match &self.drive {
            DriveRef::Drive(id) | DriveRef::Site(id) if id.is_empty() || id.contains('/') => {
                return Err(Error::invalid_input(
                    "a drive or site id is empty or has a '/'",
                ));
            }
            _ => {}
        }
        let endpoint_text = self
            .endpoint
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let endpoint = url::Url::parse(endpoint_text.trim_end_matches('/'))
            .map_err(|e| Error::invalid_input(format!("the endpoint is not a URL: {e}")))?;
        if !matches!(endpoint.scheme(), "http" | "https")
            || endpoint.query().is_some()
            || !endpoint.username().is_empty()
        {
            return Err(Error::invalid_input(
                "the endpoint must be an http(s) URL without a query or user",
            ));
        }
        let auth = match self.auth {
            AuthChoice::Token(t) => TokenSource::fixed(t)?,
            AuthChoice::Source(s) => s,
            AuthChoice::ClientCredentials {
                tenant,
                client_id,
                secret,
            } => client_credentials(&tenant, client_id, secret, self.token_endpoint)?,
            AuthChoice::Default => from_env(self.token_endpoint)?,
        };
        let default_endpoint = endpoint.as_str().trim_end_matches('/') == DEFAULT_ENDPOINT;
        let http = files_http::client(&files_http::ClientOptions::default())?;
        let plain = files_http::client(&files_http::ClientOptions::no_redirects())?;
        Ok(OneDriveAdapter {
            inner: Arc::new(Inner {
                endpoint,
                default_endpoint,
                drive: self.drive,
                auth,
                http,
                plain,
            }),
        })
    }
}

fn client_credentials(
    tenant: &str,
    client_id: String,
    secret: Secret,
    token_endpoint: Option<String>,
) -> Result<TokenSource> {
    if tenant.is_empty() || client_id.is_empty() || secret.is_empty() {
        return Err(Error::invalid_input(
            "the client-credentials grant needs a tenant, a client id and a client secret",
        ));
    }
    let template = token_endpoint.unwrap_or_else(|| DEFAULT_TOKEN_ENDPOINT.to_string());
    let token_url =
        url::Url::parse(&template.replace("{tenant}", &files_http::encode::segment(tenant)))
            .map_err(|e| Error::invalid_input(format!("the token endpoint is not a URL: {e}")))?;
    let http = files_http::client(&files_http::ClientOptions::with_timeout(
        std::time::Duration::from_secs(60),
    ))?;
    Ok(TokenSource::refreshing(ClientCredentials {
        token_url,
        client_id,
        client_secret: secret,
        scope: Some(GRAPH_SCOPE.to_string()),
        extra: Vec::new(),
        http,
    }))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// [`ACCESS_TOKEN_ENV`], else the client-credentials grant from [`TENANT_ENV`],
/// [`CLIENT_ID_ENV`] and [`CLIENT_SECRET_ENV`].
fn from_env(token_endpoint: Option<String>) -> Result<TokenSource> {
    if let Some(t) = Secret::from_env(ACCESS_TOKEN_ENV).filter(|s| !s.is_empty()) {
        return TokenSource::fixed(t);
    }
    match (
        env(TENANT_ENV),
        env(CLIENT_ID_ENV),
        Secret::from_env(CLIENT_SECRET_ENV).filter(|s| !s.is_empty()),
    ) {
        (Some(tenant), Some(id), Some(secret)) => client_credentials(
            &tenant,
            id,
            secret,
            token_endpoint.or_else(|| env(TOKEN_ENDPOINT_ENV)),
        ),
        _ => Err(Error::new(
            ErrorKind::Unauthorized,
            format!(
                "a OneDrive/SharePoint adapter needs an access token ({ACCESS_TOKEN_ENV}) or client credentials ({TENANT_ENV}, {CLIENT_ID_ENV}, {CLIENT_SECRET_ENV})"
            ),
        )),
    }
}

pub(crate) fn adapter_for_url(url: &url::Url) -> Result<OneDriveAdapter> {
    let params = files_core::registry::url_params(url, &["endpoint", "token_endpoint"])?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .map(files_http::encode::decode)
        .transpose()?;
    let mut b = OneDriveAdapter::builder();
    b = match (url.scheme(), host) {
        ("onedrive", Some(h)) if h == "me" => b.me(),
        ("onedrive", Some(h)) => b.drive_id(h),
        ("sharepoint", Some(h)) => b.site_id(h),
        (scheme, _) => {
            return Err(Error::invalid_input(format!(
                "a {scheme}:// URL names a drive: onedrive://me/key, onedrive://DRIVE_ID/key, sharepoint://SITE_ID/key"
            )));
        }
    };
    if let Some(e) = params
        .get("endpoint")
        .cloned()
        .or_else(|| env(ENDPOINT_ENV))
    {
        b = b.endpoint(e);
    }
    if let Some(t) = params.get("token_endpoint") {
        b = b.token_endpoint(t);
    }
    b.build()
}

impl OneDriveAdapter {
    /// A builder (the signed-in user's drive, credentials from the environment).
    pub fn builder() -> OneDriveBuilder {
        OneDriveBuilder::default()
    }

    /// The adapter for `onedrive://me/...`, `onedrive://DRIVE_ID/...` or
    /// `sharepoint://SITE_ID/...` (the key is ignored), with `?endpoint=URL` and
    /// `?token_endpoint=URL`; credentials from the environment.
    pub fn from_url(url: &str) -> Result<OneDriveAdapter> {
        let parsed =
            url::Url::parse(url).map_err(|e| Error::invalid_input(format!("not a URL: {e}")))?;
        adapter_for_url(&parsed)
    }

    /// The drive keys live in.
    pub fn drive(&self) -> &DriveRef {
        &self.inner.drive
    }

    pub(crate) fn drive_label(&self) -> String {
        self.inner.drive.describe()
    }
}

impl files_core::FromUrl for OneDriveAdapter {
    /// `onedrive://me/...`, `onedrive://DRIVE_ID/...`, `sharepoint://SITE_ID/...`.
    fn from_url(url: &url::Url) -> Result<OneDriveAdapter> {
        adapter_for_url(url)
    }
}
