//! Configuration: the builder, credentials from the environment, and `dropbox://` URLs.

use std::fmt;
use std::sync::{Arc, Mutex};

use files_core::{Error, Result};
use files_http::{Auth, Secret, TokenSource};

use crate::adapter::{DropboxAdapter, Inner};
use crate::{
    ACCESS_TOKEN_ENV, APP_KEY_ENV, APP_SECRET_ENV, CONTENT_ENDPOINT, ENDPOINT_ENV,
    REFRESH_TOKEN_ENV, RPC_ENDPOINT, TOKEN_URL, TOKEN_URL_ENV,
};

#[derive(Default)]
enum AuthChoice {
    /// From the environment ([`ACCESS_TOKEN_ENV`], else the refresh-token variables).
    #[default]
    Env,
    Token(Secret),
    Refresh {
        refresh_token: Secret,
        app_key: String,
        app_secret: Option<Secret>,
    },
    Source(TokenSource),
}

/// Configures a [`DropboxAdapter`]. `Debug` shows no credential.
#[derive(Default)]
pub struct DropboxBuilder {
    root: String,
    endpoint: Option<String>,
    token_url: Option<String>,
    auth: AuthChoice,
    ignore_env: bool,
}

impl fmt::Debug for DropboxBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            AuthChoice::Env => "environment",
            AuthChoice::Token(_) => "access token (redacted)",
            AuthChoice::Refresh { .. } => "refresh token (redacted)",
            AuthChoice::Source(_) => "token source",
        };
        f.debug_struct("DropboxBuilder")
            .field("root", &self.root)
            .field("endpoint", &self.endpoint)
            .field("token_url", &self.token_url)
            .field("auth", &auth)
            .finish()
    }
}

impl DropboxBuilder {
    /// The folder keys live under (`backups` or `/backups/db`; empty: the top of what the
    /// token reaches, the app folder for app-folder apps).
    pub fn root(mut self, root: impl Into<String>) -> Self {
        self.root = root.into();
        self
    }
    /// One base URL for the RPC and content routes (`{endpoint}/2/files/...`) and, unless
    /// [`token_url`](Self::token_url) is set, the token endpoint (`{endpoint}/oauth2/token`):
    /// a fake, a proxy. Default: Dropbox's two hosts.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }
    /// The OAuth 2.0 token endpoint used with a refresh token (default [`TOKEN_URL`]).
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }
    /// A fixed access token (not refreshed; Dropbox's short-lived tokens last 4 hours).
    pub fn access_token(mut self, token: impl Into<String>) -> Self {
        self.auth = AuthChoice::Token(Secret::new(token.into()));
        self
    }
    /// A refresh token with the app's key (and secret, unless the token came from a PKCE
    /// flow): access tokens are obtained and refreshed before they expire.
    pub fn refresh_token(
        mut self,
        refresh_token: impl Into<String>,
        app_key: impl Into<String>,
        app_secret: Option<String>,
    ) -> Self {
        self.auth = AuthChoice::Refresh {
            refresh_token: Secret::new(refresh_token.into()),
            app_key: app_key.into(),
            app_secret: app_secret.map(Secret::new),
        };
        self
    }
    /// Tokens from a [`TokenSource`] of the HTTP kit.
    pub fn token_source(mut self, source: TokenSource) -> Self {
        self.auth = AuthChoice::Source(source);
        self
    }
    /// Ignores the environment (credentials and endpoints must be set on the builder).
    pub fn ignore_env(mut self) -> Self {
        self.ignore_env = true;
        self
    }

    /// Builds the adapter. Makes no network call.
    pub fn build(self) -> Result<DropboxAdapter> {
        let env = |name: &str| {
            if self.ignore_env {
                None
            } else {
                std::env::var(name).ok().filter(|v| !v.is_empty())
            }
        };
        let root = normalize_root(&self.root)?;
        let endpoint = self.endpoint.clone().or_else(|| env(ENDPOINT_ENV));
        let (rpc, content) = match &endpoint {
            Some(e) => {
                let e = parse_base(e, "endpoint")?;
                (e.clone(), e)
            }
            None => (
                parse_base(RPC_ENDPOINT, "endpoint")?,
                parse_base(CONTENT_ENDPOINT, "endpoint")?,
            ),
        };
        let token_url = match self.token_url.clone().or_else(|| env(TOKEN_URL_ENV)) {
            Some(t) => t,
            None if endpoint.is_some() => {
                format!("{}/oauth2/token", rpc.as_str().trim_end_matches('/'))
            }
            None => TOKEN_URL.to_string(),
        };
        let token_url = url::Url::parse(&token_url)
            .map_err(|e| Error::invalid_input(format!("the token URL is not a URL: {e}")))?;
        let http = files_http::client(&files_http::ClientOptions::default())?;
        let refreshing = |refresh_token: Secret, client_id: String, client_secret| {
            TokenSource::refreshing(files_http::token::RefreshToken {
                token_url: token_url.clone(),
                refresh_token,
                client_id,
                client_secret,
                http: http.clone(),
            })
        };
        let auth = match self.auth {
            AuthChoice::Token(t) => Auth::Token(TokenSource::fixed(t)?),
            AuthChoice::Refresh {
                refresh_token,
                app_key,
                app_secret,
            } => Auth::Token(refreshing(refresh_token, app_key, app_secret)),
            AuthChoice::Source(s) => Auth::Token(s),
            AuthChoice::Env => {
                if let Some(t) = env(ACCESS_TOKEN_ENV) {
                    Auth::Token(TokenSource::fixed(Secret::new(t))?)
                } else if let Some(r) = env(REFRESH_TOKEN_ENV) {
                    let key = env(APP_KEY_ENV).ok_or_else(|| {
                        Error::invalid_input(format!(
                            "{REFRESH_TOKEN_ENV} is set but {APP_KEY_ENV} is not: a refresh token needs the app key"
                        ))
                    })?;
                    Auth::Token(refreshing(
                        Secret::new(r),
                        key,
                        env(APP_SECRET_ENV).map(Secret::new),
                    ))
                } else {
                    return Err(Error::new(
                        files_core::ErrorKind::Unauthorized,
                        format!(
                            "no Dropbox credentials: set {ACCESS_TOKEN_ENV}, or {REFRESH_TOKEN_ENV} with {APP_KEY_ENV} and {APP_SECRET_ENV}"
                        ),
                    ));
                }
            }
        };
        Ok(DropboxAdapter {
            inner: Arc::new(Inner {
                root,
                rpc,
                content,
                auth,
                http,
                uploads: Mutex::default(),
            }),
        })
    }
}

fn parse_base(text: &str, what: &str) -> Result<url::Url> {
    let text = if text.contains("://") {
        text.to_string()
    } else {
        format!("http://{text}")
    };
    let u = url::Url::parse(&text)
        .map_err(|e| Error::invalid_input(format!("the {what} is not a URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") || u.query().is_some() {
        return Err(Error::invalid_input(format!(
            "the {what} must be an http(s) URL without a query"
        )));
    }
    Ok(u)
}

/// `backups`, `/backups/`, `/a/b` → `/backups`, `/a/b`; empty or `/` → the empty root.
pub(crate) fn normalize_root(root: &str) -> Result<String> {
    let trimmed = root.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if trimmed
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
        || trimmed.contains('\\')
    {
        return Err(Error::invalid_input(format!(
            "`{root}` is not a valid Dropbox folder (no empty, `.` or `..` segments)"
        )));
    }
    Ok(format!("/{trimmed}"))
}

impl DropboxAdapter {
    /// A builder (credentials from the environment unless set on it).
    pub fn builder() -> DropboxBuilder {
        DropboxBuilder::default()
    }
}

/// The builder a `dropbox://ROOT/...` URL describes (credentials still from the environment).
pub(crate) fn builder_for_url(url: &url::Url) -> Result<DropboxBuilder> {
    let params = files_core::registry::url_params(url, &["endpoint", "token_url"])?;
    let root = files_http::encode::decode(url.host_str().unwrap_or(""))?;
    let mut b = DropboxAdapter::builder().root(root);
    if let Some(e) = params.get("endpoint") {
        b = b.endpoint(e);
    }
    if let Some(t) = params.get("token_url") {
        b = b.token_url(t);
    }
    Ok(b)
}

impl files_core::FromUrl for DropboxAdapter {
    /// `dropbox://ROOT/key` (`dropbox:///key` for no root folder), with `?endpoint=URL` and
    /// `?token_url=URL`; credentials from the environment.
    fn from_url(url: &url::Url) -> Result<DropboxAdapter> {
        builder_for_url(url)?.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_of(url: &str) -> Result<String> {
        let b = builder_for_url(&url::Url::parse(url).unwrap())?;
        let a = b.ignore_env().access_token("t").build()?;
        Ok(a.root().to_string())
    }

    #[test]
    fn url_host_is_the_root_folder() {
        assert_eq!(root_of("dropbox://backups/db.tar").unwrap(), "/backups");
        assert_eq!(root_of("dropbox:///db.tar").unwrap(), "");
        assert_eq!(
            root_of("dropbox://My%20Files/x?endpoint=http://127.0.0.1:1").unwrap(),
            "/My Files"
        );
        let e = root_of("dropbox://b/x?region=eu").unwrap_err();
        assert_eq!(e.kind(), files_core::ErrorKind::InvalidInput);
        assert_eq!(normalize_root("/a/b/").unwrap(), "/a/b");
        assert!(normalize_root("a/../b").is_err());
    }

    #[test]
    fn no_credentials_names_the_variables() {
        let e = DropboxAdapter::builder().ignore_env().build().unwrap_err();
        assert_eq!(e.kind(), files_core::ErrorKind::Unauthorized);
        assert!(e.to_string().contains("DROPBOX_ACCESS_TOKEN"), "{e}");
        assert!(e.to_string().contains("DROPBOX_REFRESH_TOKEN"), "{e}");
    }

    #[test]
    fn endpoint_is_one_base_and_token_url_follows_it() {
        let a = DropboxAdapter::builder()
            .ignore_env()
            .endpoint("http://127.0.0.1:9")
            .access_token("t")
            .build()
            .unwrap();
        assert_eq!(a.inner.rpc, a.inner.content);
        let a = DropboxAdapter::builder()
            .ignore_env()
            .access_token("t")
            .build()
            .unwrap();
        assert_eq!(a.inner.rpc.as_str(), "https://api.dropboxapi.com/");
        assert_eq!(a.inner.content.as_str(), "https://content.dropboxapi.com/");
    }
}
