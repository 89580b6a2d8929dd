//! The kit every HTTP provider of `files` shares.
//!
//! A provider crate maps its protocol onto these pieces and onto one upload family of
//! `files-core`; nothing here knows any provider's routes. What lives here, one concern a module:
//!
//! * [`client`]: the one `reqwest` client builder (timeouts, user agent, redirect policy,
//!   rustls on aws-lc-rs). Errors of a request never quote its URL ([`transport_error`]): a
//!   session URL or a signed URL is a bearer credential.
//! * [`auth`]: core's [`Secret`] (a credential that never prints) and the ways a request is
//!   authorized (bearer, basic, an API-key header, a refreshing [`TokenSource`]).
//! * [`token`]: the refreshing token source (OAuth 2.0 access tokens with an expiry, cached and
//!   refreshed before they run out) with the client-credentials and refresh-token grants built
//!   in; a provider with its own grant (Google's JWT bearer flow) implements [`FetchToken`].
//! * [`status`]: the one table from an HTTP status to an [`ErrorKind`](files_core::ErrorKind)
//!   and whether it is retried, with a hook for a provider's error body, and `Retry-After`
//!   ([`retry_after`]) carried into the error for the core's retry policy.
//! * [`headers`]: `ETag`, `Last-Modified`, `Content-Length`, `Content-Range` and `Content-Type`
//!   to [`ObjectMeta`](files_core::ObjectMeta); HTTP dates through `httpdate`.
//! * [`time`]: RFC 3339 timestamps of JSON APIs through the `time` crate.
//! * [`multipart`]: `multipart/related` bodies (metadata and media in one request).
//! * [`encode`]: percent-encoding through the `percent-encoding` crate (path segments, paths,
//!   query values) and decoding.
//! * [`session`]: the `Content-Range` session driver (a chunk is a `PUT` of bytes at an offset
//!   to a session URL; a status query asks where the session stands; cancel is a `DELETE`),
//!   with the provider's reading of the answers behind [`session::SessionDialect`]. Google's
//!   resumable protocol (Cloud Storage, Drive) is [`session::Google`].
//!
//! * [`google`] (feature `google`): Google's service-account keys, JWT-bearer flow and
//!   application default credentials, for Cloud Storage, Firebase and Drive.
//!
//! Why a kit and not a trait with defaults in `files-core`: the core stays transport-free (a
//! third-party adapter over a custom protocol builds against `files-core` alone), while every
//! HTTP provider gets the same answers to the same questions (is a `408` retried? how long does
//! a `429` wait?) instead of its own copy.
#![deny(missing_docs)]

pub mod auth;
pub mod client;
pub mod encode;
#[cfg(feature = "google")]
pub mod google;
pub mod headers;
pub mod multipart;
pub mod retry_after;

pub mod session;
pub mod status;
pub mod time;
pub mod token;

pub use auth::Auth;
pub use client::{ClientOptions, client, transport_error};
pub use files_core::Secret;
pub use status::{Detail, error_for_status, error_from_response};
pub use token::{AccessToken, FetchToken, TokenSource};

/// The `reqwest` this kit is built on, so a provider crate names one version.
pub use reqwest;
