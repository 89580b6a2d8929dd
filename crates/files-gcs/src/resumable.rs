//! Google's resumable-upload session protocol, shared by Cloud Storage and Drive: the HTTP
//! kit's `Content-Range` session driver with Google's dialect
//! ([`files_http::session::Google`]), re-exported under the names this crate always used.
//!
//! A session is started with a provider-specific request (GCS: `POST
//! .../upload/storage/v1/b/BUCKET/o?uploadType=resumable`) whose answer carries the **session
//! URL** in `Location`; chunks are `PUT`s with `Content-Range`, the status query an empty `PUT`
//! with `bytes */TOTAL`, cancel a `DELETE`. The session URL **is a bearer credential**:
//! [`SessionUrl`] redacts itself, and [`check_same_origin`] refuses a token's session URL that
//! is not on the configured endpoint.

pub use files_http::session::{
    CancelOutcome, GOOGLE_CHUNK_ALIGNMENT as CHUNK_ALIGNMENT,
    GOOGLE_SESSION_LIFETIME as SESSION_LIFETIME, Google, RangeSession, SessionStatus, SessionUrl,
    check_same_origin, google_chunk_rules as chunk_rules, persisted_from_range, session_gone,
    session_url_param,
};

/// The protocol over one HTTP client: `ResumableProtocol::new(http)`, optionally
/// `.with_emulator_quirks(true)` for gcp-storage-emulator.
pub type ResumableProtocol = RangeSession<Google>;
