//! Access tokens: fixed, or fetched and refreshed before they expire.
//!
//! A [`TokenSource`] answers "what `Authorization` goes on this request". A fixed token is
//! sent as it is. A refreshing source asks its [`FetchToken`] for a token on first use, caches
//! it, and fetches a new one [`REFRESH_MARGIN`] before the old one expires (or at half its
//! lifetime, for short-lived tokens), so a long upload never sends an expired token. One fetch
//! at a time: concurrent requests wait for the same token rather than each fetching one.
//!
//! The OAuth 2.0 grants that Microsoft Graph, Dropbox and Box use are built in
//! ([`ClientCredentials`], [`RefreshToken`]); Google's JWT-bearer flow lives in `files-gcs`
//! and implements [`FetchToken`] itself, posting through [`post_token_form`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use files_core::{Error, ErrorKind, Result};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::Value;
use tokio::time::Instant;

use crate::auth::bearer;
use files_core::Secret;

/// How long before its expiry a cached token is replaced.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// A token and how long it lives from now (`None`: the endpoint did not say; taken as an hour).
#[derive(Debug, Clone, Default)]
pub struct AccessToken {
    /// The access token (sent as `Authorization: Bearer ...`).
    pub token: Secret,
    /// Its lifetime from now.
    pub expires_in: Option<Duration>,
    /// Further headers that go with the token on every request (Google's
    /// `x-goog-user-project`), marked sensitive.
    pub extra: HeaderMap,
}

/// A grant that fetches access tokens.
#[async_trait]
pub trait FetchToken: Send + Sync + 'static {
    /// Fetches a new token. Cancel-safe: dropping the future drops the request.
    async fn fetch(&self) -> Result<AccessToken>;
    /// A description for `Debug` (who the token is for); never a secret.
    fn describe(&self) -> String;
}

/// Where a provider's access tokens come from. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Source>,
}

enum Source {
    Fixed(HeaderValue),
    Refreshing {
        fetcher: Box<dyn FetchToken>,
        cache: tokio::sync::Mutex<Option<(HeaderMap, Instant)>>,
    },
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.inner {
            Source::Fixed(_) => f.write_str("TokenSource::AccessToken(<redacted>)"),
            Source::Refreshing { fetcher, .. } => f
                .debug_tuple("TokenSource::Refreshing")
                .field(&fetcher.describe())
                .finish(),
        }
    }
}

impl TokenSource {
    /// A fixed access token, never refreshed. An empty token or one a header cannot carry is
    /// refused (without quoting it).
    pub fn fixed(token: impl Into<Secret>) -> Result<TokenSource> {
        Ok(TokenSource {
            inner: Arc::new(Source::Fixed(bearer(&token.into())?)),
        })
    }

    /// Tokens from `fetcher`, cached and refreshed before expiry. Makes no request until the
    /// first [`authorization`](Self::authorization).
    pub fn refreshing(fetcher: impl FetchToken) -> TokenSource {
        TokenSource {
            inner: Arc::new(Source::Refreshing {
                fetcher: Box::new(fetcher),
                cache: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// The `Authorization` value for one request (`Bearer ...`, marked sensitive), fetching a
    /// token first when none is cached or the cached one is within its refresh margin.
    /// Cancel-safe: dropping the future drops at most one token request.
    pub async fn authorization(&self) -> Result<HeaderValue> {
        let headers = self.headers().await?;
        headers
            .get(reqwest::header::AUTHORIZATION)
            .cloned()
            .ok_or_else(|| Error::new(ErrorKind::Unauthorized, "no access token was obtained"))
    }

    /// The headers that authorize one request: `Authorization` and whatever the grant adds,
    /// each marked sensitive. Fetches as [`authorization`](Self::authorization) does.
    pub async fn headers(&self) -> Result<HeaderMap> {
        match &*self.inner {
            Source::Fixed(v) => {
                let mut map = HeaderMap::new();
                map.insert(reqwest::header::AUTHORIZATION, v.clone());
                Ok(map)
            }
            Source::Refreshing { fetcher, cache } => {
                let mut cache = cache.lock().await;
                if let Some((headers, refresh_at)) = &*cache
                    && Instant::now() < *refresh_at
                {
                    return Ok(headers.clone());
                }
                let token = fetcher.fetch().await?;
                let value = bearer(&token.token).map_err(|_| {
                    Error::new(
                        ErrorKind::Unauthorized,
                        "the token endpoint answered an access token a header cannot carry",
                    )
                })?;
                let mut headers = token.extra;
                for v in headers.values_mut() {
                    v.set_sensitive(true);
                }
                headers.insert(reqwest::header::AUTHORIZATION, value);
                let lifetime = token.expires_in.unwrap_or(Duration::from_secs(3600));
                let keep = lifetime
                    .saturating_sub(REFRESH_MARGIN)
                    .max(lifetime / 2)
                    .max(Duration::from_secs(1));
                *cache = Some((headers.clone(), Instant::now() + keep));
                Ok(headers)
            }
        }
    }

    /// Forgets the cached token, so the next request fetches a new one (after a `401` that
    /// says the token was revoked).
    pub async fn invalidate(&self) {
        if let Source::Refreshing { cache, .. } = &*self.inner {
            *cache.lock().await = None;
        }
    }
}

/// POSTs an `application/x-www-form-urlencoded` token request and reads an OAuth 2.0 token
/// answer (`access_token`, `expires_in`). `who` names the credential in errors (a client id,
/// an e-mail), never a secret. A `4xx` is [`ErrorKind::Unauthorized`] (not retried), quoting
/// the endpoint's redacted `error`/`error_description`; `429` and `5xx` are transient.
pub async fn post_token_form(
    http: &reqwest::Client,
    token_url: &url::Url,
    form: &[(&str, &str)],
    who: &str,
) -> Result<AccessToken> {
    let body = {
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in form {
            body.append_pair(k, v);
        }
        body.finish()
    };
    let resp = http
        .post(token_url.clone())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| {
            crate::client::transport_error(e, &format!("obtain an access token for {who}"))
        })?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.map_err(|e| {
        crate::client::transport_error(e, &format!("obtain an access token for {who}"))
    })?;
    if !status.is_success() {
        let detail = crate::status::json_detail(status, &headers, &bytes);
        let code = status.as_u16();
        let transient = code == 429 || code >= 500;
        let mut e = crate::status::error_for_status(
            &format!("obtain an access token for {who}"),
            status,
            &headers,
            detail,
        );
        if !transient {
            e = Error::new(ErrorKind::Unauthorized, e.message().to_string()).with_retryable(false);
        }
        return Err(e);
    }
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let token = v
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Unauthorized,
                format!("the token endpoint answered no access_token for {who}"),
            )
        })?;
    let expires_in = v
        .get("expires_in")
        .and_then(|e| e.as_u64().or_else(|| e.as_str()?.parse().ok()))
        .map(Duration::from_secs);
    Ok(AccessToken {
        token: Secret::new(token),
        expires_in,
        extra: HeaderMap::new(),
    })
}

/// The OAuth 2.0 client-credentials grant (Microsoft identity platform, Box CCG): `client_id`
/// and `client_secret` POSTed to the token endpoint with a scope and provider-specific fields
/// (Box: `box_subject_type`, `box_subject_id`).
#[derive(Clone)]
pub struct ClientCredentials {
    /// The token endpoint.
    pub token_url: url::Url,
    /// The client (application) id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: Secret,
    /// The scope asked for (Graph: `https://graph.microsoft.com/.default`), if any.
    pub scope: Option<String>,
    /// Further form fields.
    pub extra: Vec<(String, String)>,
    /// The client that posts (see [`ClientOptions::with_timeout`](crate::ClientOptions)).
    pub http: reqwest::Client,
}

#[async_trait]
impl FetchToken for ClientCredentials {
    async fn fetch(&self) -> Result<AccessToken> {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
        ];
        if let Some(scope) = &self.scope {
            form.push(("scope", scope));
        }
        for (k, v) in &self.extra {
            form.push((k, v));
        }
        post_token_form(&self.http, &self.token_url, &form, &self.client_id).await
    }
    fn describe(&self) -> String {
        format!("client credentials of {}", self.client_id)
    }
}

/// The OAuth 2.0 refresh-token grant (Dropbox, Microsoft): a long-lived refresh token
/// exchanged for short-lived access tokens, with the app's id (and secret, for confidential
/// clients).
#[derive(Clone)]
pub struct RefreshToken {
    /// The token endpoint.
    pub token_url: url::Url,
    /// The refresh token.
    pub refresh_token: Secret,
    /// The client (app key) id.
    pub client_id: String,
    /// The client secret (app secret), for confidential clients.
    pub client_secret: Option<Secret>,
    /// The client that posts.
    pub http: reqwest::Client,
}

#[async_trait]
impl FetchToken for RefreshToken {
    async fn fetch(&self) -> Result<AccessToken> {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", self.refresh_token.expose()),
            ("client_id", self.client_id.as_str()),
        ];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret.expose()));
        }
        post_token_form(&self.http, &self.token_url, &form, &self.client_id).await
    }
    fn describe(&self) -> String {
        format!("refresh token of {}", self.client_id)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    struct Counting(Arc<AtomicU32>);

    #[async_trait]
    impl FetchToken for Counting {
        async fn fetch(&self) -> Result<AccessToken> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            Ok(AccessToken {
                token: Secret::new(format!("tok-{n}")),
                expires_in: Some(Duration::from_secs(3600)),
                extra: HeaderMap::new(),
            })
        }
        fn describe(&self) -> String {
            "counting".into()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn cached_then_refreshed_before_expiry() {
        let calls = Arc::new(AtomicU32::new(0));
        let source = TokenSource::refreshing(Counting(calls.clone()));
        assert_eq!(source.authorization().await.unwrap(), "Bearer tok-0");
        tokio::time::advance(Duration::from_secs(3600 - 301)).await;
        assert_eq!(source.authorization().await.unwrap(), "Bearer tok-0");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        let v = source.authorization().await.unwrap();
        assert_eq!(v, "Bearer tok-1");
        assert!(v.is_sensitive());
        source.invalidate().await;
        assert_eq!(
            source.clone().authorization().await.unwrap(),
            "Bearer tok-2"
        );
        assert_eq!(
            format!("{source:?}"),
            "TokenSource::Refreshing(\"counting\")"
        );
    }

    #[test]
    fn fixed_tokens_are_checked_and_redacted() {
        let t = TokenSource::fixed("ya29.SECRET").unwrap();
        assert!(!format!("{t:?}").contains("SECRET"));
        assert_eq!(
            TokenSource::fixed("").unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }

    /// A one-request token endpoint on loopback: records the form it got, answers `answer`.
    async fn endpoint(
        status: u16,
        answer: &'static str,
    ) -> (url::Url, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url =
            url::Url::parse(&format!("http://{}/token", listener.local_addr().unwrap())).unwrap();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = s.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        let reply = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                            answer.len()
                        );
                        s.write_all(reply.as_bytes()).await.unwrap();
                        return body.to_string();
                    }
                }
            }
        });
        (url, task)
    }

    #[tokio::test]
    async fn client_credentials_grant() {
        let (url, form) = endpoint(
            200,
            r#"{"access_token":"at-1","expires_in":"3599","token_type":"Bearer"}"#,
        )
        .await;
        let grant = ClientCredentials {
            token_url: url,
            client_id: "app".into(),
            client_secret: Secret::new("s3cr3t"),
            scope: Some("https://graph.microsoft.com/.default".into()),
            extra: vec![("box_subject_type".into(), "enterprise".into())],
            http: crate::client(&crate::ClientOptions::default()).unwrap(),
        };
        let t = grant.fetch().await.unwrap();
        assert_eq!(
            (t.token.expose(), t.expires_in),
            ("at-1", Some(Duration::from_secs(3599)))
        );
        let form = form.await.unwrap();
        for part in [
            "grant_type=client_credentials",
            "client_id=app",
            "client_secret=s3cr3t",
            "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
            "box_subject_type=enterprise",
        ] {
            assert!(form.contains(part), "{form}");
        }
    }

    #[tokio::test]
    async fn refresh_grant_refused_is_unauthorized_and_quiet() {
        let (url, form) = endpoint(
            400,
            r#"{"error":"invalid_grant","error_description":"refresh token r-SECRET is revoked"}"#,
        )
        .await;
        let grant = RefreshToken {
            token_url: url,
            refresh_token: Secret::new("r-SECRET"),
            client_id: "key".into(),
            client_secret: Some(Secret::new("app-secret")),
            http: crate::client(&crate::ClientOptions::default()).unwrap(),
        };
        let e = grant.fetch().await.unwrap_err();
        assert_eq!(
            (e.kind(), e.is_retryable()),
            (ErrorKind::Unauthorized, false)
        );
        let text = format!("{e} {e:?}");
        assert!(text.contains("invalid_grant"), "{text}");
        assert!(
            !text.contains("r-SECRET") && !text.contains("app-secret"),
            "{text}"
        );
        assert!(form.await.unwrap().contains("grant_type=refresh_token"));
    }
}
