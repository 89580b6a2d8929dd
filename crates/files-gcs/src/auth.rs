//! Credentials: how requests to the JSON API are authorized.

use std::fmt;

#[cfg(feature = "google-auth")]
use files_core::ErrorKind;
use files_core::{Error, Result};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

/// How the adapter authorizes its requests.
#[derive(Clone)]
pub(crate) enum Auth {
    /// No `Authorization` header (emulators, public buckets).
    Anonymous,
    /// A fixed OAuth 2.0 access token (`Authorization: Bearer ...`); it is not refreshed.
    Token(HeaderValue),
    /// google-cloud-auth credentials (service account JSON, application default credentials):
    /// tokens are fetched and refreshed by the library.
    #[cfg(feature = "google-auth")]
    Google(std::sync::Arc<LazyGoogle>),
    /// A caller-provided [`TokenSource`](crate::credentials::TokenSource).
    Source(crate::credentials::TokenSource),
}

/// google-cloud-auth credentials, built on first use: building them spawns a refresh task, so
/// it must happen inside a Tokio runtime (building the adapter need not).
#[cfg(feature = "google-auth")]
pub(crate) struct LazyGoogle {
    service_account: Option<serde_json::Value>,
    /// OAuth scopes for application default credentials (`None`: the library's default,
    /// `cloud-platform`).
    scopes: Option<Vec<String>>,
    cell: tokio::sync::OnceCell<
        std::result::Result<google_cloud_auth::credentials::Credentials, String>,
    >,
}

#[cfg(feature = "google-auth")]
impl LazyGoogle {
    async fn get(&self) -> Result<&google_cloud_auth::credentials::Credentials> {
        let built = self
            .cell
            .get_or_init(|| async {
                let r = match &self.service_account {
                    Some(v) => {
                        google_cloud_auth::credentials::service_account::Builder::new(v.clone())
                            .build()
                    }
                    None => match &self.scopes {
                        Some(scopes) => google_cloud_auth::credentials::Builder::default()
                            .with_scopes(scopes.clone())
                            .build(),
                        None => google_cloud_auth::credentials::Builder::default().build(),
                    },
                };
                r.map_err(|e| Error::redacted(&e.to_string()))
            })
            .await;
        built.as_ref().map_err(|e| {
            Error::new(
                ErrorKind::Unauthorized,
                format!("no usable Google credentials: {e}"),
            )
        })
    }
}

#[cfg(feature = "google-auth")]
impl LazyGoogle {
    /// The headers that authorize one request, from the library's (cached) token.
    pub(crate) async fn headers(&self) -> Result<HeaderMap> {
        use google_cloud_auth::credentials::CacheableResource;
        let mut map = HeaderMap::new();
        let creds = self.get().await?;
        match creds.headers(http::Extensions::new()).await {
            Ok(CacheableResource::New { data, .. }) => {
                for (name, value) in data.iter() {
                    let mut value = value.clone();
                    value.set_sensitive(true);
                    map.insert(name.clone(), value);
                }
                Ok(map)
            }
            Ok(CacheableResource::NotModified) => Err(Error::new(
                ErrorKind::Other,
                "the credentials returned no headers",
            )),
            Err(e) => {
                let retryable = e.is_transient();
                // The library's messages name files and endpoints, not secrets.
                Err(Error::new(
                    if retryable {
                        ErrorKind::Transient
                    } else {
                        ErrorKind::Unauthorized
                    },
                    format!(
                        "could not obtain a Google access token: {}",
                        Error::redacted(&e.to_string())
                    ),
                )
                .with_retryable(retryable))
            }
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Auth::Anonymous => "Anonymous",
            Auth::Token(_) => "Token(<redacted>)",
            #[cfg(feature = "google-auth")]
            Auth::Google(_) => "GoogleCredentials",
            Auth::Source(_) => "TokenSource",
        })
    }
}

impl Auth {
    pub(crate) fn token(token: &str) -> Result<Auth> {
        let mut v = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            Error::invalid_input("the access token has characters a header cannot carry")
        })?;
        v.set_sensitive(true);
        Ok(Auth::Token(v))
    }

    /// The headers that authorize one request.
    pub(crate) async fn headers(&self) -> Result<HeaderMap> {
        let mut map = HeaderMap::new();
        match self {
            Auth::Anonymous => {}
            Auth::Token(v) => {
                map.insert(AUTHORIZATION, v.clone());
            }
            Auth::Source(source) => return source.headers().await,
            #[cfg(feature = "google-auth")]
            Auth::Google(creds) => return creds.headers().await,
        }
        Ok(map)
    }
}

/// Credentials from a service-account key (the JSON file's content), built on first use.
#[cfg(feature = "google-auth")]
pub(crate) fn service_account(json: &serde_json::Value) -> Result<Auth> {
    if json.get("type").and_then(|t| t.as_str()) != Some("service_account") {
        return Err(Error::invalid_input(
            "the JSON is not a service-account key (its `type` is not `service_account`)",
        ));
    }
    Ok(Auth::Google(std::sync::Arc::new(LazyGoogle {
        service_account: Some(json.clone()),
        scopes: None,
        cell: tokio::sync::OnceCell::new(),
    })))
}

/// Application default credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's well-known
/// file, the metadata server), resolved on first use.
#[cfg(feature = "google-auth")]
pub(crate) fn application_default() -> Result<Auth> {
    Ok(Auth::Google(application_default_scoped(None)))
}

/// Application default credentials asking for `scopes` (`None`: the library's default).
#[cfg(feature = "google-auth")]
pub(crate) fn application_default_scoped(
    scopes: Option<Vec<String>>,
) -> std::sync::Arc<LazyGoogle> {
    std::sync::Arc::new(LazyGoogle {
        service_account: None,
        scopes,
        cell: tokio::sync::OnceCell::new(),
    })
}
