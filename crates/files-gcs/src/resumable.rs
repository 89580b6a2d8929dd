//! Google's resumable-upload session protocol, shared by Cloud Storage and Drive.
//!
//! A session is started with a provider-specific request (GCS: `POST
//! .../upload/storage/v1/b/BUCKET/o?uploadType=resumable`; Drive: `POST
//! .../upload/drive/v3/files?uploadType=resumable`) whose answer carries the **session URL** in
//! `Location`. Everything after that is the same for both services and lives here:
//!
//! * a chunk is a `PUT` of bytes to the session URL with `Content-Range: bytes S-E/TOTAL`
//!   (`bytes S-E/*` while the total is unknown); every chunk but the last must be a multiple of
//!   [`CHUNK_ALIGNMENT`] (256 KiB);
//! * the status query is an empty `PUT` with `Content-Range: bytes */TOTAL` (or `bytes */*`);
//! * `308` **without** a `Range` header means **zero** bytes persisted; `308` with
//!   `Range: bytes=0-N` means `N + 1`; `200`/`201` means the upload is complete (the body is
//!   the created resource);
//! * cancel is a `DELETE` of the session URL, answered `499` on success;
//! * `404`/`410` on the session mean it is gone (cancelled, expired after a week, or unknown):
//!   [`ErrorKind::SessionExpired`].
//!
//! The session URL **is a bearer credential**: whoever has it can write the object without any
//! other authorization. [`SessionUrl`] therefore redacts itself in `Debug`, errors from this
//! module never quote it (reqwest errors are stripped of their URL), and
//! [`check_same_origin`] lets an adapter refuse a session URL (from a resume token) that does
//! not point at the configured endpoint, so a doctored token cannot send bytes elsewhere.
//!
//! A session is also **bound to its key**: [`Session::bind_to_key`] records the key in the
//! session's `extra` when it is started, and [`Session::check_bound_to`] refuses (token invalid), before any
//! request, a session recorded for another key (a resealed token carrying another upload's
//! session would otherwise write this body into that upload's object). The token's seal is a
//! checksum, not a signature: the binding catches mixed-up tokens, not someone who edits the
//! binding too (whoever holds a session URL can write to it directly anyway).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use files_core::{Error, ErrorKind, PartRules, Result};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, HeaderMap, LOCATION, RANGE};

/// Every chunk but the last must be a multiple of this: 256 KiB.
pub const CHUNK_ALIGNMENT: u64 = 256 * 1024;

/// How long a session lives at Google: one week from its creation.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Chunk rules of Google's resumable sessions: 256 KiB-aligned chunks (except the last), a
/// default of 8 MiB (Google's recommended minimum for throughput), at most 5 GiB per chunk
/// (chunks are held in memory, two at a time).
pub const fn chunk_rules() -> PartRules {
    PartRules {
        min_part_size: CHUNK_ALIGNMENT,
        max_part_size: 5 * 1024 * 1024 * 1024,
        alignment: CHUNK_ALIGNMENT,
        max_parts: u64::MAX,
        default_part_size: 8 * 1024 * 1024,
    }
}

/// A resumable session URL. A bearer credential: `Debug` prints `SessionUrl(<redacted>)`.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionUrl(String);

impl SessionUrl {
    /// Wraps a session URL (e.g. one loaded from a resume token).
    pub fn new(url: impl Into<String>) -> Self {
        SessionUrl(url.into())
    }
    /// The URL itself. Treat it like a password.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionUrl(<redacted>)")
    }
}

/// What a session holds after a chunk or a status query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStatus {
    /// The service persisted the first `n` bytes; the upload is not complete.
    Persisted(u64),
    /// The upload is complete; the body is the created resource (JSON).
    Complete(Bytes),
}

/// The protocol, over one HTTP client.
#[derive(Clone, Debug)]
pub struct ResumableProtocol {
    http: reqwest::Client,
    /// Read `Range: bytes=0-0` as zero bytes (gcp-storage-emulator answers it for a fresh
    /// session). Off for the real services, where it means one byte.
    zero_zero_is_empty: bool,
    /// Tolerate a `DELETE` answered `501 Not Implemented` (gcp-storage-emulator cannot cancel).
    tolerate_delete_501: bool,
}

/// How a cancel ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The service cancelled the session (`499`, or `2xx`).
    Cancelled,
    /// The session was already gone (`404`/`410`).
    AlreadyGone,
    /// The server cannot cancel sessions (`501`; only with the emulator quirks on).
    Unsupported,
}

impl ResumableProtocol {
    /// The protocol as Google's services speak it.
    pub fn new(http: reqwest::Client) -> Self {
        ResumableProtocol {
            http,
            zero_zero_is_empty: false,
            tolerate_delete_501: false,
        }
    }

    /// Turns on the workarounds for gcp-storage-emulator (`bytes=0-0` for a fresh session,
    /// `501` to DELETE). Never for the real services.
    pub fn with_emulator_quirks(mut self, on: bool) -> Self {
        self.zero_zero_is_empty = on;
        self.tolerate_delete_501 = on;
        self
    }

    /// The HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends a session-starting request (built by the service's adapter, with its auth and
    /// metadata) and returns the session URL from `Location`.
    pub async fn start(&self, request: reqwest::RequestBuilder) -> Result<SessionUrl> {
        let resp = request.send().await.map_err(transport)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(status_error(resp, "start a resumable session").await);
        }
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Other,
                    "the service started a resumable session but sent no Location header",
                )
            })?;
        Ok(SessionUrl(location.to_string()))
    }

    /// Uploads `data` at `offset` (`Content-Range: bytes S-E/TOTAL`, or `/*` when `total` is
    /// `None`). With known total, the chunk that reaches it completes the upload. `auth` adds
    /// headers (GCS needs none: the URL is the credential; Drive may want its bearer token).
    ///
    /// An empty `data` with a known total finalizes a session that holds every byte.
    /// Errors: gone session → `SessionExpired`; `400` (wrong offset, misaligned chunk) →
    /// `Conflict`, so the caller asks [`query`](Self::query) where the session stands.
    pub async fn put_chunk(
        &self,
        session: &SessionUrl,
        auth: Option<&HeaderMap>,
        offset: u64,
        data: Bytes,
        total: Option<u64>,
    ) -> Result<SessionStatus> {
        let total_text = total.map_or_else(|| "*".to_string(), |t| t.to_string());
        let range = if data.is_empty() {
            format!("bytes */{total_text}")
        } else {
            format!(
                "bytes {offset}-{}/{total_text}",
                offset + data.len() as u64 - 1
            )
        };
        let mut req = self
            .http
            .put(session.expose())
            .header(CONTENT_RANGE, range)
            .header(CONTENT_LENGTH, data.len());
        if let Some(h) = auth {
            req = req.headers(h.clone());
        }
        let resp = req.body(data).send().await.map_err(transport)?;
        self.read_status(resp, "upload a chunk").await
    }

    /// Asks where the session stands: an empty `PUT` with `Content-Range: bytes */TOTAL`
    /// (`*/*` for an unknown total). Note that with a known total a session that holds every
    /// byte is finalized by this query (the answer is then [`SessionStatus::Complete`]).
    pub async fn query(
        &self,
        session: &SessionUrl,
        auth: Option<&HeaderMap>,
        total: Option<u64>,
    ) -> Result<SessionStatus> {
        let total_text = total.map_or_else(|| "*".to_string(), |t| t.to_string());
        let mut req = self
            .http
            .put(session.expose())
            .header(CONTENT_RANGE, format!("bytes */{total_text}"))
            .header(CONTENT_LENGTH, 0);
        if let Some(h) = auth {
            req = req.headers(h.clone());
        }
        let resp = req.send().await.map_err(transport)?;
        self.read_status(resp, "query a resumable session").await
    }

    /// Cancels the session (`DELETE`; `499` is success). A session already gone is fine.
    pub async fn cancel(
        &self,
        session: &SessionUrl,
        auth: Option<&HeaderMap>,
    ) -> Result<CancelOutcome> {
        let mut req = self.http.delete(session.expose()).header(CONTENT_LENGTH, 0);
        if let Some(h) = auth {
            req = req.headers(h.clone());
        }
        let resp = req.send().await.map_err(transport)?;
        match resp.status().as_u16() {
            499 | 200..=299 => Ok(CancelOutcome::Cancelled),
            404 | 410 => Ok(CancelOutcome::AlreadyGone),
            501 if self.tolerate_delete_501 => Ok(CancelOutcome::Unsupported),
            _ => Err(status_error(resp, "cancel a resumable session").await),
        }
    }

    async fn read_status(&self, resp: reqwest::Response, what: &str) -> Result<SessionStatus> {
        let status = resp.status();
        match status.as_u16() {
            308 => {
                let range = resp.headers().get(RANGE).and_then(|v| v.to_str().ok());
                persisted_from_range(range, self.zero_zero_is_empty).map(SessionStatus::Persisted)
            }
            200 | 201 => {
                let body = resp.bytes().await.map_err(transport)?;
                Ok(SessionStatus::Complete(body))
            }
            404 | 410 => Err(session_gone(status)),
            400 => Err(
                Error::conflict(format!(
                    "the service refused the request to {what} (400): wrong offset or a chunk that is not a multiple of 256 KiB"
                ))
                .with_retryable(false),
            ),
            _ => Err(status_error(resp, what).await),
        }
    }
}

/// The error for a session the service no longer knows.
pub fn session_gone(status: StatusCode) -> Error {
    Error::new(
        ErrorKind::SessionExpired,
        format!(
            "session expired: the resumable upload session is gone at the service ({}): cancelled, completed elsewhere, or older than a week; the upload must start again",
            status.as_u16()
        ),
    )
}

/// Bytes persisted according to a `308` answer's `Range` header: none without the header,
/// `N + 1` for `bytes=0-N`. With `zero_zero_is_empty`, `bytes=0-0` counts as zero (an emulator
/// quirk). A range that does not start at 0 is an error.
pub fn persisted_from_range(range: Option<&str>, zero_zero_is_empty: bool) -> Result<u64> {
    let Some(range) = range.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(0);
    };
    let bad = || {
        Error::new(
            ErrorKind::Other,
            format!("the service answered an unreadable Range header `{range}`"),
        )
    };
    let spec = range.strip_prefix("bytes=").ok_or_else(bad)?;
    let (start, end) = spec.split_once('-').ok_or_else(bad)?;
    let start: u64 = start.trim().parse().map_err(|_| bad())?;
    let end: u64 = end.trim().parse().map_err(|_| bad())?;
    if start != 0 || end < start {
        return Err(bad());
    }
    if end == 0 && zero_zero_is_empty {
        return Ok(0);
    }
    end.checked_add(1).ok_or_else(bad)
}

/// The HTTP client the Google adapters (GCS, Firebase, Drive) and their token flows use: a
/// 30 s connect timeout, and `total` as the whole-request timeout when given (none for
/// transfers: the core's per-request timeout bounds them). Errors never carry a URL.
pub fn http_client(total: Option<Duration>) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder().connect_timeout(Duration::from_secs(30));
    if let Some(t) = total {
        b = b.timeout(t);
    }
    b.build().map_err(|e| {
        Error::new(
            ErrorKind::Other,
            format!("HTTP client: {}", e.without_url()),
        )
    })
}

/// The value of the query parameter `name` of a session URL, if it has one (GCS session URLs
/// carry the object name they were started for).
pub fn session_url_param(session: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(session).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Refuses a session URL whose scheme, host or port differ from `endpoint`'s, or whose path
/// does not start with `path_prefix`: a resume token's session URL is only trusted on the
/// configured endpoint.
pub fn check_same_origin(session: &str, endpoint: &url::Url, path_prefix: &str) -> Result<()> {
    let url = url::Url::parse(session)
        .map_err(|_| Error::token_invalid("the token's session is not a URL"))?;
    let same = url.scheme() == endpoint.scheme()
        && url.host_str().map(str::to_ascii_lowercase)
            == endpoint.host_str().map(str::to_ascii_lowercase)
        && url.port_or_known_default() == endpoint.port_or_known_default();
    if !same {
        return Err(Error::token_invalid(format!(
            "the token's session URL is not on the configured endpoint ({}); refusing to send bytes to another host",
            origin_of(endpoint)
        )));
    }
    if !url.path().starts_with(path_prefix) || !url.username().is_empty() {
        return Err(Error::token_invalid(
            "the token's session URL does not name an upload session of the configured bucket",
        ));
    }
    Ok(())
}

fn origin_of(u: &url::Url) -> String {
    match u.port() {
        Some(p) => format!("{}://{}:{p}", u.scheme(), u.host_str().unwrap_or("")),
        None => format!("{}://{}", u.scheme(), u.host_str().unwrap_or("")),
    }
}

/// Maps a reqwest error (its URL removed: it may be a session URL) onto a transient or
/// timeout error.
pub fn transport(e: reqwest::Error) -> Error {
    let e = e.without_url();
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_builder() {
        ErrorKind::InvalidInput
    } else {
        ErrorKind::Transient
    };
    let retryable = !e.is_builder();
    Error::new(kind, format!("HTTP request failed: {e}")).with_retryable(retryable)
}

/// Maps an unsuccessful answer onto an error of the right kind, quoting the service's
/// (redacted) error message from a Google JSON error body.
pub async fn status_error(resp: reqwest::Response, what: &str) -> Error {
    let status = resp.status();
    let body = resp.bytes().await.unwrap_or_default();
    error_from_status(status, &body, what)
}

/// As [`status_error`], from a status and a body already read.
pub fn error_from_status(status: StatusCode, body: &[u8], what: &str) -> Error {
    let detail = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let detail = Error::redacted(detail.chars().take(300).collect::<String>().as_str());
    let code = status.as_u16();
    let kind = match code {
        400 | 411 | 413 | 416 => ErrorKind::InvalidInput,
        401 | 403 => ErrorKind::Unauthorized,
        404 => ErrorKind::NotFound,
        409 | 412 => ErrorKind::Conflict,
        408 | 429 | 500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Other,
    };
    let mut message = format!("could not {what}: the service answered {code}");
    if !detail.is_empty() {
        message.push_str(": ");
        message.push_str(&detail);
    }
    let e = Error::new(kind, message);
    if code == 408 || code == 429 {
        e.with_retryable(true)
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_without_header_is_zero() {
        assert_eq!(persisted_from_range(None, false).unwrap(), 0);
        assert_eq!(persisted_from_range(Some(""), false).unwrap(), 0);
        assert_eq!(persisted_from_range(Some("bytes=0-0"), false).unwrap(), 1);
        assert_eq!(persisted_from_range(Some("bytes=0-0"), true).unwrap(), 0);
        assert_eq!(
            persisted_from_range(Some("bytes=0-262143"), false).unwrap(),
            262144
        );
        assert!(persisted_from_range(Some("bytes=5-9"), false).is_err());
        assert!(persisted_from_range(Some("0-9"), false).is_err());
    }

    #[test]
    fn origin_check() {
        let ep = url::Url::parse("https://storage.googleapis.com").unwrap();
        let ok = "https://storage.googleapis.com/upload/storage/v1/b/bk/o?uploadType=resumable&upload_id=x";
        assert!(check_same_origin(ok, &ep, "/upload/storage/v1/b/bk/o").is_ok());
        for bad in [
            "https://evil.example/upload/storage/v1/b/bk/o?upload_id=x",
            "http://storage.googleapis.com/upload/storage/v1/b/bk/o?upload_id=x",
            "https://storage.googleapis.com:8443/upload/storage/v1/b/bk/o?upload_id=x",
            "https://storage.googleapis.com/upload/storage/v1/b/other/o?upload_id=x",
            "https://u@storage.googleapis.com/upload/storage/v1/b/bk/o?upload_id=x",
            "not a url",
        ] {
            let e = check_same_origin(bad, &ep, "/upload/storage/v1/b/bk/o").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::TokenInvalid, "{bad}");
            assert!(!e.to_string().contains("upload_id"), "{e}");
        }
    }

    #[test]
    fn session_url_params() {
        assert_eq!(
            session_url_param(
                "https://h/u?uploadType=resumable&name=a%2Fb%20c&upload_id=x",
                "name"
            )
            .as_deref(),
            Some("a/b c")
        );
        assert_eq!(session_url_param("https://h/u?upload_id=x", "name"), None);
    }

    #[test]
    fn session_url_debug_is_redacted() {
        let s = SessionUrl::new("https://h/upload?upload_id=SECRET");
        assert!(!format!("{s:?}").contains("SECRET"));
    }
}
