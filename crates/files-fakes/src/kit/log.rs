//! [`RequestLog`]: every request a fake received, in arrival order.

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::http::{ContentRange, parse_content_range, query_decode};

/// What became of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Still being served (or the client went away before the handler answered).
    Pending,
    /// The handler answered with this status.
    Answered(u16),
    /// A fault answered with this status; the handler never saw the request.
    Injected(u16),
    /// The handler ran on the whole body, then the connection was closed without an answer.
    AnswerDropped,
    /// The handler saw only a prefix of the body, then the connection was closed without an
    /// answer.
    BodyCut,
}

/// One request as received. Accessors give the raw values; `Debug` redacts credentials
/// (`Authorization`, cookies, signatures, bearer query parameters such as `upload_id`).
#[derive(Clone)]
pub struct RecordedRequest {
    /// 0 for the first request of the server, then 1, 2, ...
    pub seq: u64,
    /// When it arrived, by the server's [`FakeClock`](super::FakeClock).
    pub at: SystemTime,
    /// `GET`, `PUT`, ...
    pub method: String,
    /// The path as sent (percent-encoded).
    pub path: String,
    /// The query as sent, without `?` (empty if none).
    pub query: String,
    /// Every header, names in lower case, values lossily as text.
    pub headers: Vec<(String, String)>,
    /// The `Content-Length` the client declared, if any.
    pub declared_len: Option<u64>,
    /// How many body bytes the handler received (a cut body counts only its prefix; a body
    /// the handler never read counts 0).
    pub body_len: u64,
    /// What became of it.
    pub outcome: Outcome,
}

/// Header names whose values never appear in `Debug`.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-goog-signature",
    "x-amz-security-token",
    "x-ms-copy-source-authorization",
];

/// Query parameter names whose values never appear in `Debug` (compared case-insensitively).
const SECRET_PARAMS: &[&str] = &[
    "upload_id",
    "token",
    "access_token",
    "key",
    "sig",
    "signature",
    "x-goog-signature",
    "x-amz-signature",
    "x-amz-security-token",
    "assertion",
];

impl std::fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let v = if SECRET_HEADERS.contains(&k.as_str()) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("RecordedRequest")
            .field("seq", &self.seq)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &redact_query(&self.query))
            .field("headers", &headers)
            .field("declared_len", &self.declared_len)
            .field("body_len", &self.body_len)
            .field("outcome", &self.outcome)
            .finish()
    }
}

/// The query with the values of [`SECRET_PARAMS`] replaced.
fn redact_query(q: &str) -> String {
    q.split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if SECRET_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(k)) => {
                format!("{k}=<redacted>")
            }
            _ => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl RecordedRequest {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first query parameter named `name`, percent-decoded (`+` as a space).
    pub fn param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (query_decode(k) == name).then(|| query_decode(v))
        })
    }

    /// `METHOD path`, as the old fakes' request lists had it.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The `Content-Range` of an upload chunk (see [`parse_content_range`]); `None` without
    /// the header or if it does not parse.
    pub fn content_range(&self) -> Option<ContentRange> {
        parse_content_range(self.header("content-range")?.trim()).ok()
    }

    /// The byte range of the upload this request's body actually delivered: from the
    /// `Content-Range` start, [`body_len`](Self::body_len) bytes. `None` if it carries no
    /// `Content-Range` with a start or delivered no byte.
    pub fn received_range(&self) -> Option<Range<u64>> {
        let (Some((start, _)), _) = self.content_range()? else {
            return None;
        };
        (self.body_len > 0).then(|| start..start + self.body_len)
    }
}

/// Every request a server received, in arrival order; clones share one log.
#[derive(Clone, Default)]
pub struct RequestLog {
    inner: Arc<Mutex<Vec<RecordedRequest>>>,
}

impl std::fmt::Debug for RequestLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestLog")
            .field("len", &self.len())
            .finish()
    }
}

impl RequestLog {
    /// A snapshot of every request so far.
    pub fn all(&self) -> Vec<RecordedRequest> {
        self.inner.lock().unwrap().clone()
    }

    /// How many requests arrived.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap().len()
    }

    /// Whether none arrived.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The requests `keep` accepts.
    pub fn filter(&self, keep: impl Fn(&RecordedRequest) -> bool) -> Vec<RecordedRequest> {
        self.inner
            .lock()
            .unwrap()
            .iter()
            .filter(|r| keep(r))
            .cloned()
            .collect()
    }

    /// Forgets every request (sequence numbers go on).
    pub fn clear(&self) {
        self.inner.lock().unwrap().clear();
    }

    /// The upload byte ranges that arrived more than once among the requests `keep` accepts
    /// (e.g. one upload session's chunks: `|r| r.param("upload_id") == Some(id)`), merged and
    /// in order. Each request contributes its [`received_range`](RecordedRequest::received_range).
    pub fn ranges_received_twice(
        &self,
        keep: impl Fn(&RecordedRequest) -> bool,
    ) -> Vec<Range<u64>> {
        let ranges: Vec<Range<u64>> = self
            .filter(keep)
            .iter()
            .filter_map(RecordedRequest::received_range)
            .collect();
        // Sweep the boundaries, keeping where coverage is at least 2.
        let mut edges: Vec<(u64, i64)> = Vec::new();
        for r in &ranges {
            edges.push((r.start, 1));
            edges.push((r.end, -1));
        }
        edges.sort();
        let mut out: Vec<Range<u64>> = Vec::new();
        let mut depth = 0i64;
        let mut since = 0u64;
        for (at, d) in edges {
            let before = depth;
            depth += d;
            if before < 2 && depth >= 2 {
                since = at;
            } else if before >= 2 && depth < 2 && at > since {
                match out.last_mut() {
                    Some(last) if last.end == since => last.end = at,
                    _ => out.push(since..at),
                }
            }
        }
        out
    }

    /// Appends a request; its index.
    pub(crate) fn push(&self, r: RecordedRequest) -> usize {
        let mut v = self.inner.lock().unwrap();
        v.push(r);
        v.len() - 1
    }

    /// Changes the request with sequence number `seq` (if still in the log).
    pub(crate) fn update(&self, seq: u64, f: impl FnOnce(&mut RecordedRequest)) {
        let mut v = self.inner.lock().unwrap();
        if let Some(r) = v.iter_mut().rev().find(|r| r.seq == seq) {
            f(r);
        }
    }
}
