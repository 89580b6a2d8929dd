//! Configuration: the builder, credentials from the environment, and `box://` URLs.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use files_core::{Error, PartRules, Result};
use files_http::token::ClientCredentials;
use files_http::{Auth, ClientOptions, Secret, TokenSource};

use crate::adapter::{BoxAdapter, Inner};
use crate::{
    ACCESS_TOKEN_ENV, API_BASE, CLIENT_ID_ENV, CLIENT_SECRET_ENV, ENDPOINT_ENV, ENTERPRISE_ID_ENV,
    MIN_SESSION_SIZE, STATE_DIR_ENV, TOKEN_URL, TOKEN_URL_ENV, UPLOAD_BASE,
};

enum AuthChoice {
    FromEnv,
    Token(Secret),
    Client {
        id: String,
        secret: Secret,
        enterprise: String,
    },
}

/// Configures a [`BoxAdapter`]. `Debug` never shows a token or a client secret.
pub struct BoxBuilder {
    folder: String,
    endpoint: Option<String>,
    token_url: Option<String>,
    auth: AuthChoice,
    env: bool,
    part_unit: u64,
    default_part_size: u64,
    min_session_size: u64,
    commit_waits: u32,
    state_dir: Option<Option<std::path::PathBuf>>,
}

impl fmt::Debug for BoxBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            AuthChoice::FromEnv => "from the environment".to_string(),
            AuthChoice::Token(_) => "access token <redacted>".to_string(),
            AuthChoice::Client { id, .. } => format!("client credentials of {id}"),
        };
        f.debug_struct("BoxBuilder")
            .field("folder", &self.folder)
            .field("endpoint", &self.endpoint)
            .field("auth", &auth)
            .field("part_unit", &self.part_unit)
            .finish_non_exhaustive()
    }
}

impl Default for BoxBuilder {
    fn default() -> Self {
        BoxBuilder {
            folder: "0".into(),
            endpoint: None,
            token_url: None,
            auth: AuthChoice::FromEnv,
            env: true,
            part_unit: 8 << 20,
            default_part_size: 32 << 20,
            min_session_size: MIN_SESSION_SIZE,
            commit_waits: 10,
            state_dir: None,
        }
    }
}

impl BoxBuilder {
    /// The folder keys are relative to (default `0`, the root "All Files").
    pub fn folder(mut self, id: impl Into<String>) -> Self {
        self.folder = id.into();
        self
    }
    /// One base URL for the API, the upload API and the token endpoint (a fake, a proxy).
    /// Default: `BOX_ENDPOINT`, else Box's (`https://api.box.com/2.0`,
    /// `https://upload.box.com/api/2.0`).
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }
    /// The OAuth 2.0 token endpoint of the client-credentials grant (default: `BOX_TOKEN_URL`,
    /// else `ENDPOINT/oauth2/token` when an endpoint is set, else Box's).
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }
    /// A fixed access token (a developer token, or one your app obtained); not refreshed.
    pub fn access_token(mut self, token: impl Into<String>) -> Self {
        self.auth = AuthChoice::Token(Secret::new(token.into()));
        self
    }
    /// The client-credentials grant of a Box app for an enterprise's service account: tokens
    /// are fetched and refreshed before they expire.
    pub fn client_credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        enterprise_id: impl Into<String>,
    ) -> Self {
        self.auth = AuthChoice::Client {
            id: client_id.into(),
            secret: Secret::new(client_secret.into()),
            enterprise: enterprise_id.into(),
        };
        self
    }
    /// Ignores the environment (`BOX_*` variables).
    pub fn ignore_env(mut self) -> Self {
        self.env = false;
        self
    }
    /// The unit of the server's part size: upload parts must be multiples of it (default
    /// 8 MiB, Box's smallest `part_size`). A fake choosing smaller parts needs a smaller unit.
    pub fn part_unit(mut self, bytes: u64) -> Self {
        self.part_unit = bytes.max(1);
        self
    }
    /// The part size used when the caller chooses none (default 32 MiB: a multiple of each
    /// `part_size` Box is known to choose, 8, 16 and 32 MiB).
    pub fn default_part_size(mut self, bytes: u64) -> Self {
        self.default_part_size = bytes.max(1);
        self
    }
    /// The smallest body Box accepts in an upload session (default 20,000,000 bytes): a
    /// smaller body goes in one request.
    pub fn min_session_size(mut self, bytes: u64) -> Self {
        self.min_session_size = bytes;
        self
    }
    /// How many `202 Accepted` answers a commit waits through (default 10).
    pub fn commit_waits(mut self, n: u32) -> Self {
        self.commit_waits = n;
        self
    }

    /// Where the SHA-1 state of each session's hashed prefix is kept, so that a resume in
    /// another process on this machine need not read those parts of the body again (`None`:
    /// memory only). Default: `BOX_STATE_DIR`, else `files-box` in the temporary directory.
    pub fn state_dir(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.state_dir = Some(dir);
        self
    }

    /// Builds the adapter. Makes no network call.
    pub fn build(self) -> Result<BoxAdapter> {
        let env = |name: &str| {
            if self.env {
                std::env::var(name).ok().filter(|v| !v.is_empty())
            } else {
                None
            }
        };
        if self.folder.is_empty() || !self.folder.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid_input(
                "a Box folder id is a number (`0` is the root folder)",
            ));
        }
        let endpoint = self.endpoint.clone().or_else(|| env(ENDPOINT_ENV));
        let (api, upload) = match &endpoint {
            Some(e) => {
                let e = e.trim_end_matches('/').to_string();
                check_url(&e)?;
                (e.clone(), e)
            }
            None => (API_BASE.to_string(), UPLOAD_BASE.to_string()),
        };
        let token_url = self
            .token_url
            .clone()
            .or_else(|| env(TOKEN_URL_ENV))
            .unwrap_or_else(|| match &endpoint {
                Some(_) => format!("{api}/oauth2/token"),
                None => TOKEN_URL.to_string(),
            });
        let http = files_http::client(&ClientOptions::default())?;
        let auth = match self.auth {
            AuthChoice::Token(t) => Auth::Token(TokenSource::fixed(t)?),
            AuthChoice::Client {
                id,
                secret,
                enterprise,
            } => client_auth(&token_url, id, secret, enterprise)?,
            AuthChoice::FromEnv => {
                if let Some(t) = self
                    .env
                    .then(|| Secret::from_env(ACCESS_TOKEN_ENV))
                    .flatten()
                {
                    Auth::Token(TokenSource::fixed(t)?)
                } else if let (Some(id), Some(secret), Some(ent)) = (
                    env(CLIENT_ID_ENV),
                    self.env
                        .then(|| Secret::from_env(CLIENT_SECRET_ENV))
                        .flatten(),
                    env(ENTERPRISE_ID_ENV),
                ) {
                    client_auth(&token_url, id, secret, ent)?
                } else {
                    return Err(Error::new(
                        files_core::ErrorKind::Unauthorized,
                        format!(
                            "no Box credentials: set {ACCESS_TOKEN_ENV}, or {CLIENT_ID_ENV}, {CLIENT_SECRET_ENV} and {ENTERPRISE_ID_ENV}"
                        ),
                    ));
                }
            }
        };
        let unit = self.part_unit;
        let default = self.default_part_size.div_ceil(unit) * unit;
        let rules = PartRules {
            min_part_size: unit,
            max_part_size: 4 << 30,
            alignment: unit,
            max_parts: 10_000,
            default_part_size: default,
        };
        Ok(BoxAdapter {
            inner: Arc::new(Inner {
                folder: self.folder,
                api,
                upload,
                http,
                auth,
                rules,
                min_session_size: self.min_session_size,
                commit_waits: self.commit_waits,
                state_dir: match self.state_dir {
                    Some(d) => d,
                    None => Some(
                        env(STATE_DIR_ENV)
                            .map(std::path::PathBuf::from)
                            .unwrap_or_else(|| std::env::temp_dir().join("files-box")),
                    ),
                },
                hashes: Mutex::default(),
            }),
        })
    }
}

fn check_url(u: &str) -> Result<()> {
    let parsed =
        url::Url::parse(u).map_err(|_| Error::invalid_input("the Box endpoint is not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
        return Err(Error::invalid_input(
            "the Box endpoint must be an http(s) URL without a query",
        ));
    }
    Ok(())
}

fn client_auth(token_url: &str, id: String, secret: Secret, enterprise: String) -> Result<Auth> {
    let token_url = url::Url::parse(token_url)
        .map_err(|_| Error::invalid_input("the Box token URL is not a URL"))?;
    let grant = ClientCredentials {
        token_url,
        client_id: id,
        client_secret: secret,
        scope: None,
        extra: vec![
            ("box_subject_type".into(), "enterprise".into()),
            ("box_subject_id".into(), enterprise),
        ],
        http: files_http::client(&ClientOptions::with_timeout(Duration::from_secs(60)))?,
    };
    Ok(Auth::Token(TokenSource::refreshing(grant)))
}

impl files_core::FromUrl for BoxAdapter {
    /// `box://FOLDER_ID/key` with `?endpoint=URL`; credentials from the environment.
    fn from_url(url: &url::Url) -> Result<BoxAdapter> {
        let params = files_core::registry::url_params(url, &["endpoint", "token_url"])?;
        let folder = url.host_str().unwrap_or("0");
        let mut b = BoxAdapter::builder().folder(folder);
        if let Some(e) = params.get("endpoint") {
            b = b.endpoint(e);
        }
        if let Some(t) = params.get("token_url") {
            b = b.token_url(t);
        }
        b.build()
    }
}
