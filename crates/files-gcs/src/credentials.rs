//! OAuth 2.0 access tokens for Google APIs, shared with the Drive adapter (`files-gdrive`):
//! they live in the HTTP kit ([`files_http::google`], [`files_http::TokenSource`]) and are
//! re-exported here.

pub use files_http::TokenSource;
pub use files_http::google::{
    CREDENTIALS_ENV, DEFAULT_TOKEN_URI, JWT_BEARER_GRANT, ServiceAccountKey, application_default,
    service_account,
};
