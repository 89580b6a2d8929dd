//! How a request is authorized.

use std::fmt;

use files_core::{Error, Result};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

use crate::token::TokenSource;
use files_core::Secret;

/// The credentials of a provider's requests. `Debug` names the scheme, never the secret.
#[derive(Clone, Default)]
pub enum Auth {
    /// No `Authorization` header (emulators, public buckets, pre-authenticated URLs).
    #[default]
    None,
    /// `Authorization: Bearer TOKEN`, a fixed token.
    Bearer(Secret),
    /// `Authorization: Basic base64(USER:PASSWORD)`.
    Basic {
        /// The user name (not secret).
        user: String,
        /// The password.
        password: Secret,
    },
    /// An API key in a header of the provider's choosing (`AccessKey: ...`, `x-api-key: ...`),
    /// sent as it is.
    ApiKey {
        /// The header's name.
        header: HeaderName,
        /// The key.
        key: Secret,
    },
    /// Tokens from a [`TokenSource`] (fixed or refreshed before expiry).
    Token(TokenSource),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("Auth::None"),
            Auth::Bearer(_) => f.write_str("Auth::Bearer(<redacted>)"),
            Auth::Basic { user, .. } => f
                .debug_struct("Auth::Basic")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            Auth::ApiKey { header, .. } => f
                .debug_struct("Auth::ApiKey")
                .field("header", header)
                .field("key", &"<redacted>")
                .finish(),
            Auth::Token(source) => f.debug_tuple("Auth::Token").field(source).finish(),
        }
    }
}

impl Auth {
    /// Whether requests carry any credential.
    pub fn is_none(&self) -> bool {
        matches!(self, Auth::None)
    }

    /// The headers that authorize one request, each marked sensitive (HTTP/2 never indexes
    /// them, and `reqwest` never prints them). A token source may fetch a token first
    /// (cancel-safe: dropping the future drops at most that request).
    pub async fn headers(&self) -> Result<HeaderMap> {
        let mut map = HeaderMap::new();
        match self {
            Auth::None => {}
            Auth::Bearer(token) => {
                map.insert(AUTHORIZATION, bearer(token)?);
            }
            Auth::Basic { user, password } => {
                use base64::Engine as _;
                let raw = format!("{user}:{}", password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
                map.insert(AUTHORIZATION, sensitive(&format!("Basic {encoded}"))?);
            }
            Auth::ApiKey { header, key } => {
                map.insert(header.clone(), sensitive(key.expose())?);
            }
            Auth::Token(source) => {
                map.insert(AUTHORIZATION, source.authorization().await?);
            }
        }
        Ok(map)
    }

    /// Adds [`headers`](Self::headers) to a request.
    pub async fn apply(&self, request: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder> {
        Ok(if self.is_none() {
            request
        } else {
            request.headers(self.headers().await?)
        })
    }
}

/// `Bearer TOKEN` as a sensitive header value.
pub fn bearer(token: &Secret) -> Result<HeaderValue> {
    if token.is_empty() {
        return Err(Error::invalid_input("the access token is empty"));
    }
    sensitive(&format!("Bearer {}", token.expose()))
}

/// A header value marked sensitive; a value a header cannot carry is refused without quoting it.
pub fn sensitive(value: &str) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        Error::invalid_input("a credential has characters an HTTP header cannot carry")
    })?;
    v.set_sensitive(true);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn headers_and_debug() {
        let basic = Auth::Basic {
            user: "alice".into(),
            password: Secret::new("open sesame"),
        };
        let h = basic.headers().await.unwrap();
        let v = h.get(AUTHORIZATION).unwrap();
        assert!(v.is_sensitive());
        assert_eq!(v.to_str().unwrap(), "Basic YWxpY2U6b3BlbiBzZXNhbWU=");
        assert!(!format!("{basic:?}").contains("sesame"));
        let key = Auth::ApiKey {
            header: HeaderName::from_static("accesskey"),
            key: Secret::new("k-123"),
        };
        assert_eq!(key.headers().await.unwrap()["accesskey"], "k-123");
        assert!(!format!("{key:?}").contains("k-123"));
        let b = Auth::Bearer(Secret::new("tok"));
        assert_eq!(b.headers().await.unwrap()[AUTHORIZATION], "Bearer tok");
        assert!(Auth::None.headers().await.unwrap().is_empty());
        assert!(
            Auth::Bearer(Secret::new("a\nb"))
                .headers()
                .await
                .unwrap_err()
                .to_string()
                .contains("cannot carry")
        );
    }
}
