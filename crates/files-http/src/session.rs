//! The `Content-Range` session driver.
//!
//! Several providers upload a large body through a *session URL*: each chunk is a request
//! carrying `Content-Range: bytes S-E/TOTAL` (`/*` while the total is unknown), a status query
//! asks the session which bytes it holds, and a `DELETE` discards it. Google Cloud Storage and
//! Drive (resumable uploads), Microsoft Graph (upload sessions), Box (chunked-upload parts) and
//! Appwrite (chunked creates) all speak a form of it. [`RangeSession`] sends the requests; a
//! [`SessionDialect`] says how the provider answers: which answer means "continue from N",
//! which means "complete", how the status is asked, and what a cancel returns.
//!
//! A session URL **is often a bearer credential** (Google's and Graph's are): whoever has it
//! can write the object. [`SessionUrl`] redacts itself in `Debug`, errors from this module never
//! quote it (transport errors are stripped of their URL), and [`check_same_origin`] lets an
//! adapter refuse a session URL from a resume token that does not point at the configured
//! endpoint, so a doctored token cannot send bytes to another host.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use files_core::{Error, ErrorKind, PartRules, Result};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, HeaderMap, LOCATION, RANGE};
use reqwest::{Method, StatusCode};

use crate::client::transport_error;
use crate::headers::ContentRange;
use crate::status::{error_from_response, json_detail};

/// A session URL. Often a bearer credential: `Debug` prints `SessionUrl(<redacted>)`.
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
    /// The upload is complete; the body is the created resource.
    Complete(Bytes),
}

/// How a cancel ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The service discarded the session.
    Cancelled,
    /// The session was already gone.
    AlreadyGone,
    /// The server cannot cancel sessions.
    Unsupported,
}

/// How one provider answers on a session URL.
pub trait SessionDialect: Send + Sync + fmt::Debug {
    /// Reads the answer to a chunk or a status query (`what` names it for messages). The
    /// default errors path is [`RangeSession::error`]'s; a dialect returns `Ok(None)` to use it.
    fn read(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &Bytes,
        what: &str,
    ) -> Result<Option<SessionStatus>>;
    /// The status query: its method and headers (Google: an empty `PUT` with
    /// `Content-Range: bytes */TOTAL`; Graph: a `GET`).
    fn status_query(&self, total: Option<u64>) -> (Method, HeaderMap);
    /// How a `DELETE`'s answer ends a cancel; `None`: an error.
    fn cancel_outcome(&self, status: StatusCode) -> Option<CancelOutcome>;
}

/// The driver: one HTTP client, one dialect.
#[derive(Clone, Debug)]
pub struct RangeSession<D> {
    http: reqwest::Client,
    dialect: D,
}

impl<D: SessionDialect> RangeSession<D> {
    /// A driver speaking `dialect` over `http` (build it with redirects off:
    /// [`ClientOptions::no_redirects`](crate::ClientOptions::no_redirects), since a `308` may
    /// be an answer).
    pub fn with_dialect(http: reqwest::Client, dialect: D) -> Self {
        RangeSession { http, dialect }
    }

    /// The HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The dialect.
    pub fn dialect(&self) -> &D {
        &self.dialect
    }

    /// Sends a session-starting request (built by the adapter, with its auth and metadata) and
    /// returns the session URL from the answer's `Location` header.
    pub async fn start_from_location(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<SessionUrl> {
        let what = "start an upload session";
        let resp = request.send().await.map_err(|e| transport_error(e, what))?;
        if !resp.status().is_success() {
            return Err(error_from_response(resp, what, json_detail).await);
        }
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Other,
                    "the service started an upload session but sent no Location header",
                )
            })?;
        Ok(SessionUrl(location.to_string()))
    }

    /// Uploads `data` at `offset` with `Content-Range: bytes S-E/TOTAL` (`/*` when `total` is
    /// `None`; `bytes */TOTAL` for an empty `data`, which finalizes a session holding every
    /// byte). `auth` adds headers (none for a pre-authenticated URL). Cancel-safe in the
    /// protocol's sense: a dropped chunk is asked about with [`query`](Self::query).
    pub async fn put_chunk(
        &self,
        session: &SessionUrl,
        auth: Option<&HeaderMap>,
        offset: u64,
        data: Bytes,
        total: Option<u64>,
    ) -> Result<SessionStatus> {
        let range = ContentRange::header(offset, offset + data.len() as u64, total);
        let mut req = self
            .http
            .put(session.expose())
            .header(CONTENT_RANGE, range)
            .header(CONTENT_LENGTH, data.len());
        if let Some(h) = auth {
            req = req.headers(h.clone());
        }
        let what = "upload a chunk";
        let resp = req
            .body(data)
            .send()
            .await
            .map_err(|e| transport_error(e, what))?;
        self.read(resp, what).await
    }

    /// Asks where the session stands (the dialect's status query).
    pub async fn query(
        &self,
        session: &SessionUrl,
        auth: Option<&HeaderMap>,
        total: Option<u64>,
    ) -> Result<SessionStatus> {
        let (method, headers) = self.dialect.status_query(total);
        let mut req = self.http.request(method, session.expose()).headers(headers);
        if let Some(h) = auth {
            req = req.headers(h.clone());
        }
        let what = "query an upload session";
        let resp = req.send().await.map_err(|e| transport_error(e, what))?;
        self.read(resp, what).await
    }

    /// Discards the session (`DELETE`). A session already gone is fine.
    pub async fn cancel(
        &self,
        session: &SessionUrl,
        auth: Option<&HeaderMap>,
    ) -> Result<CancelOutcome> {
        let mut req = self.http.delete(session.expose()).header(CONTENT_LENGTH, 0);
        if let Some(h) = auth {
            req = req.headers(h.clone());
        }
        let what = "cancel an upload session";
        let resp = req.send().await.map_err(|e| transport_error(e, what))?;
        match self.dialect.cancel_outcome(resp.status()) {
            Some(outcome) => Ok(outcome),
            None => Err(error_from_response(resp, what, json_detail).await),
        }
    }

    async fn read(&self, resp: reqwest::Response, what: &str) -> Result<SessionStatus> {
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| transport_error(e, what))?;
        if let Some(s) = self.dialect.read(status, &headers, &body, what)? {
            return Ok(s);
        }
        if matches!(status.as_u16(), 404 | 410) {
            return Err(session_gone(status));
        }
        let detail = json_detail(status, &headers, &body);
        Err(crate::status::error_for_status(
            what, status, &headers, detail,
        ))
    }
}

/// The error for a session the service no longer knows (`404`/`410`).
pub fn session_gone(status: StatusCode) -> Error {
    Error::new(
        ErrorKind::SessionExpired,
        format!(
            "session expired: the upload session is gone at the service ({}): cancelled, completed elsewhere, or past its lifetime; the upload must start again",
            status.as_u16()
        ),
    )
}

// ------------------------------------------------------------------------- Google's dialect

/// Every chunk of a Google resumable upload but the last is a multiple of this: 256 KiB.
pub const GOOGLE_CHUNK_ALIGNMENT: u64 = 256 * 1024;

/// How long a Google resumable session lives: one week from its creation.
pub const GOOGLE_SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Chunk rules of Google's resumable sessions: 256 KiB-aligned chunks (except the last), a
/// default of 8 MiB (Google's recommended minimum for throughput), at most 5 GiB per chunk.
pub const fn google_chunk_rules() -> PartRules {
    PartRules {
        min_part_size: GOOGLE_CHUNK_ALIGNMENT,
        max_part_size: 5 * 1024 * 1024 * 1024,
        alignment: GOOGLE_CHUNK_ALIGNMENT,
        max_parts: u64::MAX,
        default_part_size: 8 * 1024 * 1024,
    }
}

/// Google's resumable-upload protocol (Cloud Storage and Drive): `308` without a `Range`
/// header means **zero** bytes persisted, `308` with `Range: bytes=0-N` means `N + 1`,
/// `200`/`201` completes (the body is the created resource), `400` is a wrong offset or a
/// misaligned chunk ([`ErrorKind::Conflict`], so the caller asks where the session stands),
/// `404`/`410` is a session gone; the status query is an empty `PUT` with `bytes */TOTAL`;
/// cancel is answered `499`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Google {
    /// Read `Range: bytes=0-0` as zero bytes (gcp-storage-emulator answers it for a fresh
    /// session). Off for the real services, where it means one byte.
    pub zero_zero_is_empty: bool,
    /// Take a `DELETE` answered `501 Not Implemented` as [`CancelOutcome::Unsupported`]
    /// (gcp-storage-emulator cannot cancel).
    pub tolerate_delete_501: bool,
}

impl SessionDialect for Google {
    fn read(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &Bytes,
        what: &str,
    ) -> Result<Option<SessionStatus>> {
        match status.as_u16() {
            308 => {
                let range = headers.get(RANGE).and_then(|v| v.to_str().ok());
                persisted_from_range(range, self.zero_zero_is_empty)
                    .map(|n| Some(SessionStatus::Persisted(n)))
            }
            200 | 201 => Ok(Some(SessionStatus::Complete(body.clone()))),
            400 => Err(Error::conflict(format!(
                "the service refused the request to {what} (400): wrong offset or a chunk that is not a multiple of 256 KiB"
            ))
            .with_retryable(false)),
            _ => Ok(None),
        }
    }

    fn status_query(&self, total: Option<u64>) -> (Method, HeaderMap) {
        let mut h = HeaderMap::new();
        let value = ContentRange::header(0, 0, total);
        h.insert(
            CONTENT_RANGE,
            value
                .parse()
                .expect("a Content-Range is a valid header value"),
        );
        h.insert(CONTENT_LENGTH, 0.into());
        (Method::PUT, h)
    }

    fn cancel_outcome(&self, status: StatusCode) -> Option<CancelOutcome> {
        match status.as_u16() {
            499 | 200..=299 => Some(CancelOutcome::Cancelled),
            404 | 410 => Some(CancelOutcome::AlreadyGone),
            501 if self.tolerate_delete_501 => Some(CancelOutcome::Unsupported),
            _ => None,
        }
    }
}

impl RangeSession<Google> {
    /// Google's protocol as the real services speak it.
    pub fn new(http: reqwest::Client) -> Self {
        Self::with_dialect(http, Google::default())
    }

    /// Turns on the workarounds for gcp-storage-emulator (`bytes=0-0` for a fresh session,
    /// `501` to DELETE). Never for the real services.
    pub fn with_emulator_quirks(mut self, on: bool) -> Self {
        self.dialect.zero_zero_is_empty = on;
        self.dialect.tolerate_delete_501 = on;
        self
    }

    /// Starts a session: Google answers its URL in `Location`.
    pub async fn start(&self, request: reqwest::RequestBuilder) -> Result<SessionUrl> {
        self.start_from_location(request).await
    }
}

/// Bytes persisted according to a Google `308` answer's `Range` header: none without the
/// header, `N + 1` for `bytes=0-N`. With `zero_zero_is_empty`, `bytes=0-0` counts as zero (an
/// emulator quirk). A range that does not start at 0 is an error.
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

// ------------------------------------------------------------------------- session URLs

/// The value of the query parameter `name` of a session URL, if it has one (GCS session URLs
/// carry the object name they were started for).
pub fn session_url_param(session: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(session).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Refuses a session URL whose scheme, host or port differ from `endpoint`'s, whose path does
/// not start with `path_prefix`, or that carries user info: a resume token's session URL is
/// only trusted on the configured endpoint. Errors never quote the URL.
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
            "the token's session URL does not name an upload session of the configured store",
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
    fn google_answers() {
        let g = Google::default();
        let mut h = HeaderMap::new();
        let read = |g: &Google, code: u16, h: &HeaderMap| {
            g.read(StatusCode::from_u16(code).unwrap(), h, &Bytes::new(), "x")
        };
        assert_eq!(
            read(&g, 308, &h).unwrap(),
            Some(SessionStatus::Persisted(0))
        );
        h.insert(RANGE, "bytes=0-9".parse().unwrap());
        assert_eq!(
            read(&g, 308, &h).unwrap(),
            Some(SessionStatus::Persisted(10))
        );
        assert!(matches!(
            read(&g, 201, &h).unwrap(),
            Some(SessionStatus::Complete(_))
        ));
        assert_eq!(read(&g, 400, &h).unwrap_err().kind(), ErrorKind::Conflict);
        assert_eq!(read(&g, 503, &h).unwrap(), None);
        let (m, q) = g.status_query(Some(42));
        assert_eq!(
            (m, q[CONTENT_RANGE].to_str().unwrap()),
            (Method::PUT, "bytes */42")
        );
        assert_eq!(g.status_query(None).1[CONTENT_RANGE], "bytes */*");
        assert_eq!(
            g.cancel_outcome(StatusCode::from_u16(499).unwrap()),
            Some(CancelOutcome::Cancelled)
        );
        assert_eq!(
            g.cancel_outcome(StatusCode::GONE),
            Some(CancelOutcome::AlreadyGone)
        );
        assert_eq!(g.cancel_outcome(StatusCode::NOT_IMPLEMENTED), None);
        let quirky = Google {
            zero_zero_is_empty: true,
            tolerate_delete_501: true,
        };
        assert_eq!(
            quirky.cancel_outcome(StatusCode::NOT_IMPLEMENTED),
            Some(CancelOutcome::Unsupported)
        );
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
    fn session_url_params_and_debug() {
        assert_eq!(
            session_url_param(
                "https://h/u?uploadType=resumable&name=a%2Fb%20c&upload_id=x",
                "name"
            )
            .as_deref(),
            Some("a/b c")
        );
        assert_eq!(session_url_param("https://h/u?upload_id=x", "name"), None);
        let s = SessionUrl::new("https://h/upload?upload_id=SECRET");
        assert!(!format!("{s:?}").contains("SECRET"));
    }
}
