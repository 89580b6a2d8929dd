//! OAuth 2.0 access tokens for Google APIs: a [`TokenSource`] that the Cloud Storage adapter
//! and the Drive adapter (`files-gdrive`) share.
//!
//! A token source is a fixed access token, a service-account key, or application default
//! credentials:
//!
//! * **service-account key** ([`ServiceAccountKey`], the JSON key file): the OAuth 2.0
//!   JWT-bearer flow (RFC 7523, Google's "server to server" flow). A JWT (`RS256`, header
//!   `kid` = the key id; claims `iss` = the client email, `scope` = the scopes, `aud` = the
//!   key's `token_uri`, `iat`, `exp` one hour later, and `sub` when a user is impersonated
//!   through domain-wide delegation) is signed with the key and POSTed to `token_uri`
//!   (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`); the access token it answers
//!   is cached and fetched again five minutes before it expires. It needs no feature: the
//!   signing is aws-lc-rs, the request reqwest.
//! * **application default credentials** ([`TokenSource::application_default`]): a
//!   service-account key named by `GOOGLE_APPLICATION_CREDENTIALS` takes the flow above;
//!   anything else (gcloud's user credentials, the metadata server, workload identity) goes
//!   through google-cloud-auth and needs the `google-auth` feature.
//!
//! Secrets stay inside: `Debug` shows the kind, the client email and the scopes, never the
//! private key, the signed assertion or an access token; errors quote the token endpoint's
//! `error`/`error_description` (redacted), never a request or a token; headers are marked
//! sensitive.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::RsaKeyPair;
use base64::Engine as _;
use files_core::{Error, ErrorKind, Result};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Value, json};

/// Google's OAuth 2.0 token endpoint, used when a key file names none.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The environment variable naming a credentials file (application default credentials).
pub const CREDENTIALS_ENV: &str = "GOOGLE_APPLICATION_CREDENTIALS";
/// The grant type of the JWT-bearer flow.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// How long a signed assertion asks the token to live (Google's maximum).
const ASSERTION_LIFETIME: u64 = 3600;
/// An access token is fetched again this long before it expires.
const REFRESH_MARGIN: u64 = 300;

/// A service-account key: the client email, the RSA private key, the key id and the token
/// endpoint of a Google JSON key file. `Debug` shows the email only.
pub struct ServiceAccountKey {
    email: String,
    key_id: Option<String>,
    key: RsaKeyPair,
    token_uri: url::Url,
    subject: Option<String>,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.email)
            .field("token_uri", &self.token_uri.as_str())
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl ServiceAccountKey {
    /// Parses a JSON key file's content. Refuses JSON whose `type` is not `service_account`,
    /// without `client_email` or `private_key`, with a key that is not RSA PKCS#8 PEM, or
    /// with a `token_uri` that is not an http(s) URL. Errors never quote the key.
    pub fn from_json(json: &str) -> Result<ServiceAccountKey> {
        let v: Value = serde_json::from_str(json)
            .map_err(|_| Error::invalid_input("the service-account key is not JSON"))?;
        Self::from_value(&v)
    }

    /// Reads and parses the JSON key file at `path`.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<ServiceAccountKey> {
        let text = std::fs::read_to_string(path.as_ref()).map_err(Error::from_io)?;
        Self::from_json(&text)
    }

    /// As [`from_json`](Self::from_json), from parsed JSON.
    pub fn from_value(v: &Value) -> Result<ServiceAccountKey> {
        if v.get("type").and_then(Value::as_str) != Some("service_account") {
            return Err(Error::invalid_input(
                "the JSON is not a service-account key (its `type` is not `service_account`)",
            ));
        }
        let field = |name: &str| {
            v.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let email = field("client_email")
            .ok_or_else(|| Error::invalid_input("the service-account key has no client_email"))?;
        let pem = field("private_key")
            .ok_or_else(|| Error::invalid_input("the service-account key has no private_key"))?;
        let token_uri = url::Url::parse(field("token_uri").unwrap_or(DEFAULT_TOKEN_URI))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                Error::invalid_input("the service-account key's token_uri is not an http(s) URL")
            })?;
        Ok(ServiceAccountKey {
            email: email.to_string(),
            key_id: field("private_key_id").map(str::to_string),
            key: crate::sign::rsa_key_from_pem(pem)?,
            token_uri,
            subject: None,
        })
    }

    /// Acts for the user `email` (the JWT's `sub`): domain-wide delegation, which a Google
    /// Workspace administrator must have granted to this service account for the scopes.
    pub fn with_subject(mut self, email: impl Into<String>) -> Self {
        self.subject = Some(email.into());
        self
    }

    /// The service account's email (`client_email`).
    pub fn client_email(&self) -> &str {
        &self.email
    }

    /// The token endpoint the assertion is sent to (`token_uri`).
    pub fn token_uri(&self) -> &url::Url {
        &self.token_uri
    }

    /// The signed JWT assertion asking for `scopes` at `now` (seconds since the Unix epoch).
    fn assertion(&self, scopes: &[String], now: u64) -> Result<String> {
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let mut header = json!({ "alg": "RS256", "typ": "JWT" });
        if let Some(kid) = &self.key_id {
            header["kid"] = json!(kid);
        }
        let mut claims = json!({
            "iss": self.email,
            "scope": scopes.join(" "),
            "aud": self.token_uri.as_str(),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        });
        if let Some(sub) = &self.subject {
            claims["sub"] = json!(sub);
        }
        let signing_input = format!("{}.{}", b64(&header), b64(&claims));
        let sig = crate::sign::rs256(&self.key, signing_input.as_bytes())?;
        Ok(format!(
            "{signing_input}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
        ))
    }
}

/// Where the OAuth 2.0 access tokens of a Google API client come from: a fixed token, a
/// service-account key (JWT-bearer flow, tokens cached and refreshed), or application default
/// credentials. Cheap to clone (clones share the cached token). See the module docs.
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Source>,
}

enum Source {
    Fixed(HeaderValue),
    ServiceAccount(Box<Flow>),
    #[cfg(feature = "google-auth")]
    Library(std::sync::Arc<crate::auth::LazyGoogle>),
}

struct Flow {
    key: ServiceAccountKey,
    scopes: Vec<String>,
    http: reqwest::Client,
    cache: tokio::sync::Mutex<Option<(HeaderValue, Instant)>>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.inner {
            Source::Fixed(_) => f.write_str("TokenSource::AccessToken(<redacted>)"),
            Source::ServiceAccount(flow) => f
                .debug_struct("TokenSource::ServiceAccount")
                .field("client_email", &flow.key.email)
                .field("scopes", &flow.scopes)
                .finish_non_exhaustive(),
            #[cfg(feature = "google-auth")]
            Source::Library(_) => f.write_str("TokenSource::ApplicationDefault"),
        }
    }
}

impl TokenSource {
    /// A fixed OAuth 2.0 access token (`Authorization: Bearer ...`), never refreshed.
    pub fn access_token(token: &str) -> Result<TokenSource> {
        if token.is_empty() {
            return Err(Error::invalid_input("the access token is empty"));
        }
        let mut v = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            Error::invalid_input("the access token has characters a header cannot carry")
        })?;
        v.set_sensitive(true);
        Ok(TokenSource {
            inner: Arc::new(Source::Fixed(v)),
        })
    }

    /// Tokens for `scopes` from a service-account key (JWT-bearer flow). Makes no network
    /// call until the first [`headers`](Self::headers).
    pub fn service_account(key: ServiceAccountKey, scopes: &[&str]) -> Result<TokenSource> {
        if scopes.is_empty() {
            return Err(Error::invalid_input(
                "a service-account token source needs at least one scope",
            ));
        }
        let http = crate::resumable::http_client(Some(Duration::from_secs(60)))?;
        Ok(TokenSource {
            inner: Arc::new(Source::ServiceAccount(Box::new(Flow {
                key,
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                http,
                cache: tokio::sync::Mutex::new(None),
            }))),
        })
    }

    /// As [`service_account`](Self::service_account), from a JSON key file's content.
    pub fn service_account_json(json: &str, scopes: &[&str]) -> Result<TokenSource> {
        Self::service_account(ServiceAccountKey::from_json(json)?, scopes)
    }

    /// As [`service_account`](Self::service_account), from the JSON key file at `path`.
    pub fn service_account_file(
        path: impl AsRef<std::path::Path>,
        scopes: &[&str],
    ) -> Result<TokenSource> {
        Self::service_account(ServiceAccountKey::from_file(path)?, scopes)
    }

    /// Application default credentials for `scopes`: a service-account key file named by
    /// `GOOGLE_APPLICATION_CREDENTIALS` uses the JWT-bearer flow; any other credentials (that
    /// file holding user credentials, gcloud's file, the metadata server) need the
    /// `google-auth` feature and are resolved on first use. Makes no network call.
    pub fn application_default(scopes: &[&str]) -> Result<TokenSource> {
        if let Some(path) = std::env::var_os(CREDENTIALS_ENV).filter(|p| !p.is_empty()) {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Error::from_io(e).with_operation("read GOOGLE_APPLICATION_CREDENTIALS")
            })?;
            let v: Value = serde_json::from_str(&text).map_err(|_| {
                Error::invalid_input("the file named by GOOGLE_APPLICATION_CREDENTIALS is not JSON")
            })?;
            if v.get("type").and_then(Value::as_str) == Some("service_account") {
                return Self::service_account(ServiceAccountKey::from_value(&v)?, scopes);
            }
        }
        #[cfg(feature = "google-auth")]
        {
            let scopes = scopes.iter().map(|s| s.to_string()).collect();
            Ok(TokenSource {
                inner: Arc::new(Source::Library(crate::auth::application_default_scoped(
                    Some(scopes),
                ))),
            })
        }
        #[cfg(not(feature = "google-auth"))]
        {
            Err(Error::not_supported(
                "application default credentials other than a service-account key file need the `google-auth` feature of files-gcs",
            ))
        }
    }

    /// The headers that authorize one request (`Authorization: Bearer ...`, marked
    /// sensitive), fetching a token first when none is cached or it expires within five
    /// minutes. Cancel-safe: dropping the future drops at most one token request.
    pub async fn headers(&self) -> Result<HeaderMap> {
        let mut map = HeaderMap::new();
        match &*self.inner {
            Source::Fixed(v) => {
                map.insert(AUTHORIZATION, v.clone());
            }
            Source::ServiceAccount(flow) => {
                map.insert(AUTHORIZATION, flow.token().await?);
            }
            #[cfg(feature = "google-auth")]
            Source::Library(creds) => return creds.headers().await,
        }
        Ok(map)
    }
}

impl Flow {
    async fn token(&self) -> Result<HeaderValue> {
        let mut cache = self.cache.lock().await;
        if let Some((value, refresh_at)) = &*cache
            && Instant::now() < *refresh_at
        {
            return Ok(value.clone());
        }
        let (value, lifetime) = self.fetch().await?;
        let keep = lifetime
            .saturating_sub(REFRESH_MARGIN)
            .max(lifetime / 2)
            .max(1);
        *cache = Some((value.clone(), Instant::now() + Duration::from_secs(keep)));
        Ok(value)
    }

    /// One token request: the signed assertion POSTed to the key's token endpoint.
    async fn fetch(&self) -> Result<(HeaderValue, u64)> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let assertion = self.key.assertion(&self.scopes, now)?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", JWT_BEARER_GRANT)
            .append_pair("assertion", &assertion)
            .finish();
        let resp = self
            .http
            .post(self.key.token_uri.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(crate::resumable::transport)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(crate::resumable::transport)?;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            let text = |name: &str| v.get(name).and_then(Value::as_str).unwrap_or("");
            let detail = Error::redacted(
                &format!("{} {}", text("error"), text("error_description"))
                    .trim()
                    .chars()
                    .take(300)
                    .collect::<String>(),
            );
            let code = status.as_u16();
            let transient = code == 429 || code >= 500;
            return Err(Error::new(
                if transient {
                    ErrorKind::Transient
                } else {
                    ErrorKind::Unauthorized
                },
                format!(
                    "could not obtain a Google access token for {}: the token endpoint answered {code} {detail}",
                    self.key.email
                ),
            )
            .with_retryable(transient));
        }
        let token = v
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Unauthorized,
                    "the token endpoint answered no access_token",
                )
            })?;
        let lifetime = v.get("expires_in").and_then(Value::as_u64).unwrap_or(3600);
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            Error::new(
                ErrorKind::Unauthorized,
                "the token endpoint answered an access token a header cannot carry",
            )
        })?;
        value.set_sensitive(true);
        Ok((value, lifetime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = include_str!("../tests/fixtures/test_service_account.json");

    #[test]
    fn assertion_is_a_signed_jwt_with_the_claims() {
        let key = ServiceAccountKey::from_json(KEY)
            .unwrap()
            .with_subject("user@example.com");
        let jwt = key
            .assertion(&["s1".to_string(), "s2".to_string()], 1_000)
            .unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |p: &str| -> Value {
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .unwrap(),
            )
            .unwrap()
        };
        let (h, c) = (decode(parts[0]), decode(parts[1]));
        assert_eq!(h["alg"], "RS256");
        assert_eq!(h["kid"], "ffffffffffffffffffffffffffffffffffffffff");
        assert_eq!(
            c["iss"],
            "test-iam-credentials@dummy-project-id.iam.gserviceaccount.com"
        );
        assert_eq!(c["scope"], "s1 s2");
        assert_eq!(c["aud"], DEFAULT_TOKEN_URI);
        assert_eq!(c["sub"], "user@example.com");
        assert_eq!(
            (c["iat"].as_u64(), c["exp"].as_u64()),
            (Some(1_000), Some(4_600))
        );
        let public = aws_lc_rs::signature::KeyPair::public_key(&key.key)
            .as_ref()
            .to_vec();
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[2])
            .unwrap();
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            public,
        )
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .expect("an RS256 signature by the key");
    }

    #[test]
    fn debug_shows_no_secret() {
        let key = ServiceAccountKey::from_json(KEY).unwrap();
        let source = TokenSource::service_account(key, &["scope-a"]).unwrap();
        let text = format!("{source:?}");
        assert!(
            text.contains("test-iam-credentials@") && text.contains("scope-a"),
            "{text}"
        );
        assert!(
            !text.contains("PRIVATE") && !text.contains("MIIE"),
            "{text}"
        );
        let fixed = TokenSource::access_token("ya29.SECRET").unwrap();
        assert!(!format!("{fixed:?}").contains("SECRET"));
        let broken = KEY.replace("ryjQmPWocSEeGo7f7Q4", "ryjQmPWoc!!!!o7f7Q4");
        let e = ServiceAccountKey::from_json(&broken).unwrap_err();
        let text = format!("{e} {e:?}");
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(
            !text.contains("ryjQmPWoc") && !text.contains("MIIE"),
            "{text}"
        );
    }
}
