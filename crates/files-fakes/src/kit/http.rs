//! HTTP helpers the fakes share: [`FakeRequest`] (an axum extractor holding the whole
//! request), [`Reply`] (a response built step by step), percent-coding, `Range`,
//! `Content-Range`, `multipart/related` and form bodies, MD5.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use md5::{Digest as _, Md5};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde_json::{Value, json};

/// Marks a request whose body the kit cut (see
/// [`FaultAction::CutBodyAfter`](super::FaultAction::CutBodyAfter)): the handler sees only
/// `after` bytes.
#[derive(Clone, Copy, Debug)]
pub struct BodyCut {
    /// How many bytes the handler sees.
    pub after: u64,
}

/// A whole request: method, path, decoded query, headers and the body read to its end.
/// As an axum extractor it must come last; a body the client broke off is refused (`400`,
/// which the client never reads). `Debug` shows no header value, query value or body byte.
#[derive(Clone)]
pub struct FakeRequest {
    /// The method.
    pub method: Method,
    /// The path as sent (percent-encoded).
    pub path: String,
    /// The query pairs, names and values percent-decoded (`+` as a space), in order.
    pub query: Vec<(String, String)>,
    /// The request target as sent (path and query).
    pub raw_target: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The body (only its prefix if [`body_cut`](Self::body_cut)).
    pub body: Bytes,
    /// Whether a fault cut the body: the client sent more, the connection will be dropped.
    pub body_cut: bool,
}

impl std::fmt::Debug for FakeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field(
                "query",
                &self.query.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_len", &self.body.len())
            .field("body_cut", &self.body_cut)
            .finish()
    }
}

impl FakeRequest {
    /// The first header named `name` (case-insensitive) if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first query parameter named `name` (exact match), decoded.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A request made up by a fake (e.g. to reuse a handler for an internal step).
    pub fn synthetic(method: Method) -> FakeRequest {
        FakeRequest {
            method,
            path: String::new(),
            query: Vec::new(),
            raw_target: String::new(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            body_cut: false,
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for FakeRequest {
    type Rejection = Reply;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let body_cut = parts.extensions.get::<BodyCut>().is_some();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .map_err(|_| Reply::new(400))?;
        let raw_target = parts.uri.path_and_query().map_or_else(
            || parts.uri.path().to_string(),
            |pq| pq.as_str().to_string(),
        );
        Ok(FakeRequest {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query: parse_query(parts.uri.query().unwrap_or("")),
            raw_target,
            headers: parts.headers,
            body,
            body_cut,
        })
    }
}

/// A query string (or an `application/x-www-form-urlencoded` body) as decoded pairs.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (query_decode(k), query_decode(v)),
            None => (query_decode(kv), String::new()),
        })
        .collect()
}

/// Percent-decodes a query component (`+` is a space); a `%` not followed by two hex digits
/// stays, invalid UTF-8 is replaced.
pub fn query_decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Percent-decodes a path segment (`+` stays `+`), otherwise as [`query_decode`].
pub fn path_decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Everything but RFC 3986 unreserved characters.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes everything but RFC 3986 unreserved characters (`/` becomes `%2F`).
pub fn pct_encode(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// A response built step by step; `Content-Length` is set when it is sent.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// No headers, no body.
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A JSON body with `Content-Type: content_type`.
    pub fn json_as(status: u16, content_type: &str, v: &Value) -> Reply {
        Reply::new(status)
            .header("Content-Type", content_type)
            .body(v.to_string())
    }

    /// A JSON body (`application/json`).
    pub fn json(status: u16, v: &Value) -> Reply {
        Reply::json_as(status, "application/json", v)
    }

    /// Google's JSON error shape `{"error": {"code", "message", "errors": [{"message"}]}}`.
    pub fn google_error(status: u16, message: &str) -> Reply {
        Reply::json(
            status,
            &json!({"error": {"code": status, "message": message, "errors": [{"message": message}]}}),
        )
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Reply {
        self.body = body.into();
        self
    }

    /// The body parsed as JSON (`Null` if it is not).
    pub fn body_json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut resp = Response::new(Body::from(self.body));
        *resp.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        for (k, v) in self.headers {
            if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
                resp.headers_mut().append(k, v);
            }
        }
        resp
    }
}

/// What a `Range` header asks of a body of `len` bytes (RFC 9110 §14, one range only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No `Range`, another unit, several ranges or bad syntax: the whole body (`200`).
    Full,
    /// Bytes `start..=end` (`206` with `Content-Range: bytes start-end/len`).
    Partial {
        /// The first byte.
        start: u64,
        /// The last byte (inclusive).
        end: u64,
    },
    /// A range that starts at or past the end (`416`).
    Unsatisfiable,
}

/// Resolves a `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`) against `len`.
pub fn parse_range(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return RangeRequest::Full;
        };
        if n == 0 || len == 0 {
            return RangeRequest::Unsatisfiable;
        }
        return RangeRequest::Partial {
            start: len.saturating_sub(n),
            end: len - 1,
        };
    }
    let Ok(start) = a.parse::<u64>() else {
        return RangeRequest::Full;
    };
    let end = match b {
        "" => u64::MAX,
        b => match b.parse::<u64>() {
            Ok(e) if e >= start => e,
            _ => return RangeRequest::Full,
        },
    };
    if start >= len {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Partial {
        start,
        end: end.min(len - 1),
    }
}

/// An upload chunk's `Content-Range: bytes S-E/T`: the range `(S, E)` (`None` for `*`) and
/// the total (`None` for `*`).
pub type ContentRange = (Option<(u64, u64)>, Option<u64>);

/// Parses a `Content-Range` request header (`bytes S-E/T`, `bytes */T`, `bytes S-E/*`); `Err`
/// says what is wrong with it.
pub fn parse_content_range(v: &str) -> Result<ContentRange, &'static str> {
    let v = v
        .strip_prefix("bytes ")
        .ok_or("not a bytes Content-Range")?;
    let (range, total) = v.split_once('/').ok_or("bad Content-Range")?;
    let total = match total {
        "*" => None,
        t => Some(t.parse().map_err(|_| "bad Content-Range total")?),
    };
    let range = match range {
        "*" => None,
        r => {
            let (a, b) = r.split_once('-').ok_or("bad Content-Range")?;
            match (a.parse(), b.parse()) {
                (Ok(a), Ok(b)) => Some((a, b)),
                _ => return Err("bad Content-Range"),
            }
        }
    };
    Ok((range, total))
}

/// One part of a `multipart/related` body.
#[derive(Clone, Debug)]
pub struct Part {
    /// The part's header lines, as sent.
    pub head: String,
    /// The part's body.
    pub body: Bytes,
}

impl Part {
    /// The part header named `name` (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// Splits a `multipart/*` body by the `boundary` of its `Content-Type` (RFC 2046).
pub fn parse_multipart(content_type: &str, body: &Bytes) -> Option<Vec<Part>> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delim = format!("--{boundary}");
    let find = |from: usize, pat: &[u8]| {
        body.get(from..)?
            .windows(pat.len())
            .position(|w| w == pat)
            .map(|p| p + from)
    };
    let mut parts = Vec::new();
    let mut pos = find(0, delim.as_bytes())? + delim.len();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            break;
        }
        if body.get(pos..pos + 2) == Some(b"\r\n") {
            pos += 2;
        }
        let (head, start) = if body.get(pos..pos + 2) == Some(b"\r\n") {
            (String::new(), pos + 2)
        } else {
            let head_end = find(pos, b"\r\n\r\n")?;
            (
                String::from_utf8_lossy(&body[pos..head_end]).into_owned(),
                head_end + 4,
            )
        };
        let next = find(start, format!("\r\n{delim}").as_bytes())?;
        parts.push(Part {
            head,
            body: body.slice(start..next),
        });
        pos = next + 2 + delim.len();
    }
    Some(parts)
}

/// The hex MD5 of `data` (Drive's `md5Checksum`).
pub fn md5_hex(data: &[u8]) -> String {
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The base64 MD5 of `data` (GCS's `md5Hash`, `Content-MD5`).
pub fn md5_base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeRequest::*;
        assert_eq!(parse_range(None, 10), Full);
        assert_eq!(
            parse_range(Some("bytes=2-4"), 10),
            Partial { start: 2, end: 4 }
        );
        assert_eq!(
            parse_range(Some("bytes=2-"), 10),
            Partial { start: 2, end: 9 }
        );
        assert_eq!(
            parse_range(Some("bytes=-3"), 10),
            Partial { start: 7, end: 9 }
        );
        assert_eq!(
            parse_range(Some("bytes=5-100"), 10),
            Partial { start: 5, end: 9 }
        );
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=4-2"), 10), Full);
    }

    #[test]
    fn md5_vectors() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(md5_base64(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
    }

    #[test]
    fn multipart() {
        let body = Bytes::from_static(
            b"--xx\r\nContent-Type: application/json\r\n\r\n{\"name\":\"a\"}\r\n--xx\r\nContent-Type: text/plain\r\n\r\nhello\r\n--xx--\r\n",
        );
        let parts = parse_multipart("multipart/related; boundary=xx", &body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts[1].header("content-type").as_deref(),
            Some("text/plain")
        );
        assert_eq!(&parts[1].body[..], b"hello");
    }

    #[test]
    fn coding() {
        assert_eq!(pct_encode("a/b c"), "a%2Fb%20c");
        assert_eq!(query_decode("a+b%2F"), "a b/");
        assert_eq!(path_decode("a+b%2F"), "a+b/");
    }
}
