//! The hand-built requests to the Blob service: URL building, Shared Key signing and sending
//! (over the kit's percent-encoding and HTTP dates), for what the official client lacks.
//!
//! A failed answer is mapped by [`crate::errors`]; errors never quote the request URL (which
//! may carry a SAS), its headers, or the account key.

use std::time::SystemTime;

use azure_core::credentials::Secret;
use bytes::Bytes;
use files_core::{ByteStream, Error, ErrorKind, Result};
use files_http::encode;
use files_http::headers::http_date;
use futures::StreamExt;
use reqwest::Method;

use crate::config::Credential;
use crate::errors::{error_from_response, transport_error};
// `blocks.rs` reads Get Block List with the old scanner under this path; it moved to `scan`.

/// The REST API version every request asks for (`x-ms-version`).
pub const API_VERSION: &str = "2025-01-05";

/// The body of a request.
pub(crate) enum ReqBody {
    /// No body.
    Empty,
    /// Bytes in memory.
    Bytes(Bytes),
    /// A stream of exactly this many bytes.
    Stream(ByteStream, u64),
}

impl ReqBody {
    fn len(&self) -> u64 {
        match self {
            ReqBody::Empty => 0,
            ReqBody::Bytes(b) => b.len() as u64,
            ReqBody::Stream(_, n) => *n,
        }
    }
}

/// One request to the service, relative to the adapter's container.
pub(crate) struct Req<'a> {
    pub method: Method,
    /// The blob, or `None` for a container-level request.
    pub key: Option<&'a str>,
    /// Query parameters (raw values; encoded when sent).
    pub query: Vec<(&'static str, String)>,
    /// Headers, lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: ReqBody,
}

impl<'a> Req<'a> {
    pub fn new(method: Method, key: Option<&'a str>) -> Self {
        Req {
            method,
            key,
            query: Vec::new(),
            headers: Vec::new(),
            body: ReqBody::Empty,
        }
    }
    pub fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }
    pub fn body(mut self, body: ReqBody) -> Self {
        self.body = body;
        self
    }
}

/// The URL path of `container` (and `key`) under an endpoint path (`""` or `/account`).
pub(crate) fn resource_path(endpoint_path: &str, container: &str, key: Option<&str>) -> String {
    let mut p = format!("{endpoint_path}/{}", encode::segment(container));
    if let Some(k) = key {
        p.push('/');
        p.push_str(&encode::path(k));
    }
    p
}

/// The Shared Key string to sign of a request (Blob service, version 2015-02-21 and later).
pub(crate) fn string_to_sign(
    method: &str,
    account: &str,
    path: &str,
    query: &[(&str, String)],
    headers: &[(String, String)],
    content_length: u64,
) -> String {
    let h = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let length = if content_length == 0 {
        String::new()
    } else {
        content_length.to_string()
    };
    let mut s = format!(
        "{method}\n{}\n{}\n{length}\n{}\n{}\n\n{}\n{}\n{}\n{}\n{}\n",
        h("content-encoding"),
        h("content-language"),
        h("content-md5"),
        h("content-type"),
        h("if-modified-since"),
        h("if-match"),
        h("if-none-match"),
        h("if-unmodified-since"),
        h("range"),
    );
    let mut ms: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(n, _)| n.starts_with("x-ms-"))
        .map(|(n, v)| (n.as_str(), v.trim()))
        .collect();
    ms.sort();
    for (n, v) in ms {
        s.push_str(&format!("{n}:{v}\n"));
    }
    s.push_str(&format!("/{account}{path}"));
    let mut q: Vec<(String, &str)> = query
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.as_str()))
        .collect();
    q.sort();
    for (n, v) in q {
        s.push_str(&format!("\n{n}:{v}"));
    }
    s
}

/// HMAC-SHA256 of `data` with the base64 account key, base64-encoded.
pub(crate) fn hmac(data: &str, key: &Secret) -> Result<String> {
    azure_core::hmac::hmac_sha256(data, key).map_err(|_| {
        Error::invalid_input("the Azure account key is not valid base64 (check AZURE_STORAGE_KEY)")
    })
}

/// The transport and credentials: sends signed requests.
pub(crate) struct Transport {
    pub http: reqwest::Client,
    /// `scheme://host[:port]`.
    pub origin: String,
    /// The endpoint's path: `""`, or `/account` for path-style endpoints (Azurite).
    pub base_path: String,
    pub account: String,
    pub container: String,
    pub credential: Credential,
}

impl Transport {
    /// The full URL of `key` (or of the container), without credentials.
    pub fn url(&self, key: Option<&str>) -> String {
        format!(
            "{}{}",
            self.origin,
            resource_path(&self.base_path, &self.container, key)
        )
    }

    /// Sends `req` and returns the response when its status is a success; otherwise the
    /// mapped error of operation `op`. Never retried here: the core's retry policy decides.
    pub async fn send(&self, op: &'static str, req: Req<'_>) -> Result<reqwest::Response> {
        let Req {
            method,
            key,
            query,
            mut headers,
            body,
        } = req;
        let path = resource_path(&self.base_path, &self.container, key);
        let length = body.len();
        headers.push(("x-ms-version".into(), API_VERSION.into()));
        headers.push(("x-ms-date".into(), http_date(SystemTime::now())));
        let mut url = format!("{}{path}", self.origin);
        let mut sep = '?';
        for (n, v) in &query {
            url.push(sep);
            url.push_str(&format!("{n}={}", encode::segment(v)));
            sep = '&';
        }
        match &self.credential {
            Credential::SharedKey(key) => {
                let sts = string_to_sign(
                    method.as_str(),
                    &self.account,
                    &path,
                    &query,
                    &headers,
                    length,
                );
                let sig = hmac(&sts, key)?;
                headers.push((
                    "authorization".into(),
                    format!("SharedKey {}:{sig}", self.account),
                ));
            }
            Credential::Sas(sas) => {
                url.push(sep);
                url.push_str(sas.secret());
            }
            Credential::Token(cred) => {
                let token = cred
                    .get_token(&["https://storage.azure.com/.default"], None)
                    .await
                    .map_err(|e| {
                        Error::new(
                            ErrorKind::Unauthorized,
                            format!(
                                "could not {}: no Entra ID token: {}",
                                crate::errors::doing(op),
                                crate::errors::clean(&e.to_string())
                            ),
                        )
                    })?;
                headers.push((
                    "authorization".into(),
                    format!("Bearer {}", token.token.secret()),
                ));
            }
            Credential::Anonymous => {}
        }
        let mut rb = self.http.request(method.clone(), &url);
        for (n, v) in &headers {
            rb = rb.header(n.as_str(), v.as_str());
        }
        let needs_length = length > 0 || method == Method::PUT || method == Method::POST;
        if needs_length {
            rb = rb.header("content-length", length.to_string());
        }
        rb = match body {
            ReqBody::Empty => rb,
            ReqBody::Bytes(b) => rb.body(b),
            ReqBody::Stream(s, n) => rb.body(reqwest::Body::wrap_stream(sized(s, n))),
        };
        let resp = rb.send().await.map_err(|e| transport_error(op, e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(error_from_response(op, resp).await)
    }
}

/// A stream that fails unless it yields exactly `len` bytes.
fn sized(stream: ByteStream, len: u64) -> impl futures::Stream<Item = Result<Bytes>> + Send {
    let mut seen = 0u64;
    let mut done = false;
    stream
        .map(Some)
        .chain(futures::stream::once(async { None }))
        .filter_map(move |item| {
            let out = match item {
                Some(Ok(b)) => {
                    seen += b.len() as u64;
                    if seen > len {
                        Some(Err(Error::invalid_input(format!(
                            "the body is longer than the announced {len} bytes"
                        ))))
                    } else {
                        Some(Ok(b))
                    }
                }
                Some(Err(e)) => Some(Err(e)),
                None if !done && seen != len => Some(Err(Error::invalid_input(format!(
                    "the body ended after {seen} of the announced {len} bytes"
                )))),
                None => None,
            };
            done = done || out.as_ref().is_some_and(|r| r.is_err());
            async move { out }
        })
}

/// ISO 8601 in UTC to the second (`2026-01-01T00:00:00Z`), as SAS tokens want it; a time
/// before 1970 is written as the epoch.
pub(crate) fn iso_date(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t.max(SystemTime::UNIX_EPOCH));
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn dates() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(iso_date(t), "1994-11-06T08:49:37Z");
        let t2 = UNIX_EPOCH + Duration::from_secs(1_709_251_199); // 2024-02-29T23:59:59Z
        assert_eq!(iso_date(t2), "2024-02-29T23:59:59Z");
        assert_eq!(
            iso_date(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            iso_date(t2 + Duration::from_millis(999)),
            "2024-02-29T23:59:59Z"
        );
    }

    #[test]
    fn resource_paths() {
        assert_eq!(
            resource_path("/acct", "ctr", Some("dir/a b+ç~.txt")),
            "/acct/ctr/dir/a%20b%2B%C3%A7~.txt"
        );
        assert_eq!(resource_path("", "ctr", None), "/ctr");
    }

    #[test]
    fn shared_key_string() {
        let headers = vec![
            ("x-ms-version".to_string(), API_VERSION.to_string()),
            ("x-ms-date".to_string(), "D".to_string()),
            ("content-type".to_string(), "application/xml".to_string()),
        ];
        let s = string_to_sign(
            "PUT",
            "acct",
            "/acct/c/a%20b",
            &[("comp", "blocklist".into())],
            &headers,
            12,
        );
        assert_eq!(
            s,
            format!(
                "PUT\n\n\n12\n\napplication/xml\n\n\n\n\n\n\nx-ms-date:D\nx-ms-version:{API_VERSION}\n/acct/acct/c/a%20b\ncomp:blocklist"
            )
        );
    }
}
