//! Google's credentials (feature `google`): the Cloud Storage, Firebase and Drive adapters
//! share them.
//!
//! A Google token source is a fixed access token ([`TokenSource::fixed`]), a service-account
//! key, or application default credentials:
//!
//! * **service-account key** ([`ServiceAccountKey`], the JSON key file): the OAuth 2.0
//!   JWT-bearer flow (RFC 7523, Google's "server to server" flow). A JWT (`RS256`, header
//!   `kid` = the key id; claims `iss` = the client email, `scope` = the scopes, `aud` = the
//!   key's `token_uri`, `iat`, `exp` one hour later, and `sub` when a user is impersonated
//!   through domain-wide delegation) is signed with the key and POSTed to `token_uri`
//!   (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`); the kit's
//!   [`TokenSource`] caches the access token and fetches another five minutes before it
//!   expires. It needs no further feature: the signing is aws-lc-rs, the request reqwest.
//! * **application default credentials** ([`application_default`]): a service-account key
//!   named by `GOOGLE_APPLICATION_CREDENTIALS` takes the flow above; anything else (gcloud's
//!   user credentials, the metadata server, workload identity) goes through google-cloud-auth
//!   and needs the `google-auth` feature ([`library`]).
//!
//! Secrets stay inside: `Debug` shows the kind, the client email and the scopes, never the
//! private key, the signed assertion or an access token; errors quote the token endpoint's
//! `error`/`error_description` (redacted), never a request or a token.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use files_core::{Error, ErrorKind, Result};
use serde_json::{Value, json};

use crate::client::{ClientOptions, client};
use crate::token::{AccessToken, FetchToken, TokenSource, post_token_form};

/// Google's OAuth 2.0 token endpoint, used when a key file names none.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The environment variable naming a credentials file (application default credentials).
pub const CREDENTIALS_ENV: &str = "GOOGLE_APPLICATION_CREDENTIALS";
/// The grant type of the JWT-bearer flow.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// How long a signed assertion asks the token to live (Google's maximum).
const ASSERTION_LIFETIME: u64 = 3600;

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
            key: rsa_key_from_pem(pem)?,
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

    /// The RSA key pair (for signing URLs).
    pub fn key_pair(&self) -> &RsaKeyPair {
        &self.key
    }

    /// The signed JWT assertion asking for `scopes` at `now` (seconds since the Unix epoch).
    pub fn assertion(&self, scopes: &[String], now: u64) -> Result<String> {
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
        let sig = rs256(&self.key, signing_input.as_bytes())?;
        Ok(format!(
            "{signing_input}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
        ))
    }
}

/// The JWT-bearer grant of a service-account key, for the kit's [`TokenSource`].
pub struct JwtBearer {
    key: ServiceAccountKey,
    scopes: Vec<String>,
    http: reqwest::Client,
}

#[async_trait]
impl FetchToken for JwtBearer {
    async fn fetch(&self) -> Result<AccessToken> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let assertion = self.key.assertion(&self.scopes, now)?;
        let form = [
            ("grant_type", JWT_BEARER_GRANT),
            ("assertion", assertion.as_str()),
        ];
        let who = format!("the Google service account {}", self.key.email);
        post_token_form(&self.http, &self.key.token_uri, &form, &who).await
    }
    fn describe(&self) -> String {
        format!(
            "Google service account {} for {}",
            self.key.email,
            self.scopes.join(" ")
        )
    }
}

/// Tokens for `scopes` from a service-account key (JWT-bearer flow). Makes no network call
/// until the first request.
pub fn service_account(key: ServiceAccountKey, scopes: &[&str]) -> Result<TokenSource> {
    if scopes.is_empty() {
        return Err(Error::invalid_input(
            "a service-account token source needs at least one scope",
        ));
    }
    let http = client(&ClientOptions::with_timeout(Duration::from_secs(60)))?;
    Ok(TokenSource::refreshing(JwtBearer {
        key,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        http,
    }))
}

/// Application default credentials for `scopes`: a service-account key file named by
/// `GOOGLE_APPLICATION_CREDENTIALS` uses the JWT-bearer flow; any other credentials (that
/// file holding user credentials, gcloud's file, the metadata server) need the `google-auth`
/// feature and are resolved on first use. Makes no network call.
pub fn application_default(scopes: &[&str]) -> Result<TokenSource> {
    if let Some(path) = std::env::var_os(CREDENTIALS_ENV).filter(|p| !p.is_empty()) {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::from_io(e).with_operation("read GOOGLE_APPLICATION_CREDENTIALS"))?;
        let v: Value = serde_json::from_str(&text).map_err(|_| {
            Error::invalid_input("the file named by GOOGLE_APPLICATION_CREDENTIALS is not JSON")
        })?;
        if v.get("type").and_then(Value::as_str) == Some("service_account") {
            return service_account(ServiceAccountKey::from_value(&v)?, scopes);
        }
    }
    #[cfg(feature = "google-auth")]
    {
        Ok(library::application_default(Some(
            scopes.iter().map(|s| s.to_string()).collect(),
        )))
    }
    #[cfg(not(feature = "google-auth"))]
    {
        Err(Error::new(
            ErrorKind::Unauthorized,
            "no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or pass an access token (application default credentials other than a key file need the `google-auth` feature)",
        )
        .with_retryable(false))
    }
}

/// The RSA key of a service-account key's `private_key` (PKCS#8 PEM). Errors never quote it.
pub fn rsa_key_from_pem(pem: &str) -> Result<RsaKeyPair> {
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| Error::invalid_input("the service-account private key is not PEM"))?;
    RsaKeyPair::from_pkcs8(&der).map_err(|_| {
        Error::invalid_input("the service-account private key is not an RSA PKCS#8 key")
    })
}

/// RSASSA-PKCS1-v1_5 with SHA-256 (`RS256`, `GOOG4-RSA-SHA256`) of `data`.
pub fn rs256(key: &RsaKeyPair, data: &[u8]) -> Result<Vec<u8>> {
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        data,
        &mut sig,
    )
    .map_err(|_| Error::new(ErrorKind::Other, "RSA signing failed"))?;
    Ok(sig)
}

/// Credentials through google-cloud-auth (feature `google-auth`): gcloud's user credentials,
/// the metadata server, workload identity, and service-account keys as the library reads them.
#[cfg(feature = "google-auth")]
pub mod library {
    use async_trait::async_trait;
    use files_core::{Error, ErrorKind, Result};
    use reqwest::header::{AUTHORIZATION, HeaderMap};
    use std::time::Duration;

    use crate::token::{AccessToken, FetchToken, TokenSource};
    use files_core::Secret;

    /// The library's credentials, built on first use: building them spawns a refresh task, so
    /// it must happen inside a Tokio runtime (building an adapter need not).
    struct Lazy {
        service_account: Option<serde_json::Value>,
        scopes: Option<Vec<String>>,
        cell: tokio::sync::OnceCell<
            std::result::Result<google_cloud_auth::credentials::Credentials, String>,
        >,
    }

    /// Application default credentials asking for `scopes` (`None`: the library's default,
    /// `cloud-platform`), resolved on first use.
    pub fn application_default(scopes: Option<Vec<String>>) -> TokenSource {
        TokenSource::refreshing(Lazy {
            service_account: None,
            scopes,
            cell: tokio::sync::OnceCell::new(),
        })
    }

    /// A service-account key (the JSON file's content) through the library.
    pub fn service_account(json: &serde_json::Value) -> Result<TokenSource> {
        if json.get("type").and_then(|t| t.as_str()) != Some("service_account") {
            return Err(Error::invalid_input(
                "the JSON is not a service-account key (its `type` is not `service_account`)",
            ));
        }
        Ok(TokenSource::refreshing(Lazy {
            service_account: Some(json.clone()),
            scopes: None,
            cell: tokio::sync::OnceCell::new(),
        }))
    }

    impl Lazy {
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
                    format!(
                        "no usable Google credentials: {e} (set GOOGLE_APPLICATION_CREDENTIALS to a key file, run `gcloud auth application-default login`, or pass an access token)"
                    ),
                )
                .with_retryable(false)
            })
        }
    }

    #[async_trait]
    impl FetchToken for Lazy {
        /// The library caches and refreshes its own token; this asks it for the current one
        /// and lets the kit keep it for 30 s.
        async fn fetch(&self) -> Result<AccessToken> {
            use google_cloud_auth::credentials::CacheableResource;
            let creds = self.get().await?;
            match creds.headers(http::Extensions::new()).await {
                Ok(CacheableResource::New { data, .. }) => {
                    let mut extra = HeaderMap::new();
                    let mut token = None;
                    for (name, value) in data.iter() {
                        if name == AUTHORIZATION {
                            token = value
                                .to_str()
                                .ok()
                                .and_then(|v| v.strip_prefix("Bearer "))
                                .map(str::to_string);
                        } else {
                            extra.insert(name.clone(), value.clone());
                        }
                    }
                    let token = token.ok_or_else(|| {
                        Error::new(
                            ErrorKind::Unauthorized,
                            "the Google credentials gave no bearer token",
                        )
                    })?;
                    Ok(AccessToken {
                        token: Secret::new(token),
                        expires_in: Some(Duration::from_secs(60)),
                        extra,
                    })
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
        fn describe(&self) -> String {
            match &self.service_account {
                Some(v) => format!(
                    "Google service account {}",
                    v.get("client_email")
                        .and_then(|e| e.as_str())
                        .unwrap_or("?")
                ),
                None => "Google application default credentials".to_string(),
            }
        }
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
        let source = service_account(key, &["scope-a"]).unwrap();
        let text = format!("{source:?}");
        assert!(
            text.contains("test-iam-credentials@") && text.contains("scope-a"),
            "{text}"
        );
        assert!(
            !text.contains("PRIVATE") && !text.contains("MIIE"),
            "{text}"
        );
        let fixed = TokenSource::fixed("ya29.SECRET").unwrap();
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
