//! The WebDAV requests: URLs, sending, `PROPFIND`, `MKCOL`, `COPY`/`MOVE`, and the reading
//! of their answers (statuses through the `files-http` table, with WebDAV's refinements).

use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};

use files_core::{Error, ErrorKind, ObjectMeta, Result};
use files_http::Detail;
use files_http::headers::{ContentRange, normalize_etag, parse_http_date};

use crate::adapter::WebDavAdapter;
use crate::upload::PART_SUFFIX;
use crate::xml::{Entry, PROPFIND_BODY, parse_multistatus};

pub(crate) fn propfind_method() -> Method {
    Method::from_bytes(b"PROPFIND").expect("a valid method")
}
pub(crate) fn mkcol_method() -> Method {
    Method::from_bytes(b"MKCOL").expect("a valid method")
}
pub(crate) fn copy_method() -> Method {
    Method::from_bytes(b"COPY").expect("a valid method")
}
pub(crate) fn move_method() -> Method {
    Method::from_bytes(b"MOVE").expect("a valid method")
}

impl WebDavAdapter {
    // ------------------------------------------------------------------ URLs and requests

    /// The URL of the path made of `segments` (relative to the endpoint), optionally ending
    /// with `/` (a collection).
    pub(crate) fn url_of(&self, segments: &[String], collection: bool) -> String {
        let mut s = self.inner.endpoint.as_str().to_string();
        s.push_str(&rel_path(segments));
        if collection && !segments.is_empty() {
            s.push('/');
        }
        s
    }

    /// The segments (relative to the endpoint) of `key`, with `suffix` added to the last one.
    pub(crate) fn key_segments(&self, key: &str, suffix: &str) -> Vec<String> {
        let mut segs = self.inner.root.clone();
        segs.extend(key.split('/').map(str::to_string));
        if let Some(last) = segs.last_mut() {
            last.push_str(suffix);
        }
        segs
    }

    pub(crate) fn key_url(&self, key: &str) -> String {
        self.url_of(&self.key_segments(key, ""), false)
    }

    pub(crate) fn part_url(&self, key: &str) -> String {
        self.url_of(&self.key_segments(key, PART_SUFFIX), false)
    }

    /// The segments of the collection holding `key` (root included).
    pub(crate) fn parent_segments(&self, key: &str) -> Vec<String> {
        let mut segs = self.key_segments(key, "");
        segs.pop();
        segs
    }

    /// A request without credentials; [`send`](Self::send) adds them.
    pub(crate) fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        self.inner.client.request(method, url)
    }

    /// Sends `req` with the adapter's credentials; a transport failure names `op` and `key`.
    /// Cancel-safe: dropping the future drops the request.
    pub(crate) async fn send(
        &self,
        req: reqwest::RequestBuilder,
        op: &str,
        key: &str,
    ) -> Result<reqwest::Response> {
        let req = self.inner.auth.apply(req).await?;
        req.send().await.map_err(|e| transport_error(e, op, key))
    }

    // ------------------------------------------------------------------ PROPFIND

    /// PROPFIND `url` at `depth`; `None` when it does not exist.
    pub(crate) async fn propfind(
        &self,
        url: &str,
        depth: &str,
        op: &str,
        key: &str,
    ) -> Result<Option<Vec<Entry>>> {
        let req = self
            .request(propfind_method(), url)
            .header("Depth", depth)
            .header(header::CONTENT_TYPE, "application/xml; charset=utf-8")
            .body(PROPFIND_BODY);
        let resp = self.send(req, op, key).await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
            return Ok(None);
        }
        if status != StatusCode::MULTI_STATUS {
            return Err(refused(&resp, op, key));
        }
        let text = resp.text().await.map_err(|e| transport_error(e, op, key))?;
        parse_multistatus(&text)
            .map(Some)
            .map_err(|m| Error::new(ErrorKind::Other, format!("{op} of `{key}`: {m}")))
    }

    /// The resource at `url` (Depth 0), `None` when absent.
    pub(crate) async fn stat(&self, url: &str, op: &str, key: &str) -> Result<Option<Entry>> {
        Ok(self
            .propfind(url, "0", op, key)
            .await?
            .and_then(|v| v.into_iter().next()))
    }

    /// The object at `key`: not found when absent or when a collection is there.
    pub(crate) async fn head_object(&self, key: &str, op: &str) -> Result<ObjectMeta> {
        match self.stat(&self.key_url(key), op, key).await? {
            Some(e) if !e.collection => Ok(meta_of(key, &e)),
            Some(_) => Err(Error::not_found(format!(
                "no object at `{key}` (a collection is there)"
            ))),
            None => Err(Error::not_found(format!("no object at `{key}`"))),
        }
    }

    /// The size of the file at `url`, `None` when absent.
    pub(crate) async fn size_of(&self, url: &str, op: &str, key: &str) -> Result<Option<u64>> {
        match self.stat(url, op, key).await? {
            Some(e) if e.collection => Err(Error::conflict(format!(
                "a collection is where the part file of `{key}` should be"
            ))),
            Some(e) => Ok(Some(e.size.unwrap_or(0))),
            None => Ok(None),
        }
    }

    // ------------------------------------------------------------------ collections

    /// Makes sure the collections `segments[..1]`, `segments[..2]`, ... `segments` exist
    /// (relative to the endpoint, which is assumed to exist): `MKCOL` from the deepest up until
    /// one exists or is created, then down again. Remembers what exists.
    pub(crate) async fn ensure_collections(&self, segments: &[String], key: &str) -> Result<()> {
        let known = |n: usize| {
            let path = format!("{}/", rel_path(&segments[..n]));
            self.inner
                .collections
                .lock()
                .expect("collections lock")
                .contains(&path)
        };
        let remember = |n: usize| {
            let path = format!("{}/", rel_path(&segments[..n]));
            self.inner
                .collections
                .lock()
                .expect("collections lock")
                .insert(path);
        };
        let mut n = segments.len();
        let mut missing = Vec::new();
        while n > 0 && !known(n) {
            let url = self.url_of(&segments[..n], true);
            let resp = self
                .send(self.request(mkcol_method(), &url), "mkcol", key)
                .await?;
            match resp.status().as_u16() {
                // 405: something exists there (a collection, or a file that the write will
                // then trip over).
                200..=299 | 405 => {
                    remember(n);
                    break;
                }
                409 => {
                    missing.push(n);
                    n -= 1;
                }
                _ => return Err(refused(&resp, "mkcol", key)),
            }
        }
        for n in missing.into_iter().rev() {
            let url = self.url_of(&segments[..n], true);
            let resp = self
                .send(self.request(mkcol_method(), &url), "mkcol", key)
                .await?;
            match resp.status().as_u16() {
                200..=299 | 405 => remember(n),
                409 => {
                    return Err(Error::transient(format!(
                        "a parent collection of `{key}` vanished while it was being created"
                    )));
                }
                _ => return Err(refused(&resp, "mkcol", key)),
            }
        }
        Ok(())
    }

    /// After a `409` on a write to `key`: forgets the cached parents and says why.
    pub(crate) async fn parent_conflict(&self, key: &str, op: &str) -> Error {
        self.inner
            .collections
            .lock()
            .expect("collections lock")
            .clear();
        let parent = self.parent_segments(key);
        match self.stat(&self.url_of(&parent, true), op, key).await {
            Ok(None) => Error::transient(format!(
                "the parent collection of `{key}` is missing (removed meanwhile?)"
            )),
            Ok(Some(e)) if !e.collection => Error::conflict(format!(
                "a file is in the way of the collections of `{key}`"
            )),
            Ok(Some(_)) => {
                Error::conflict(format!("{op} of `{key}`: the server answered 409 Conflict"))
            }
            Err(e) => e,
        }
    }

    // ------------------------------------------------------------------ COPY / MOVE

    /// A server-side `COPY` or `MOVE` of `from` over `to` (`Overwrite: T`, `Depth: 0`).
    pub(crate) async fn copy_or_move(&self, method: Method, from: &str, to: &str) -> Result<()> {
        let op = if method.as_str() == "MOVE" {
            "rename"
        } else {
            "copy"
        };
        self.ensure_collections(&self.parent_segments(to), to)
            .await?;
        let req = self
            .request(method, &self.key_url(from))
            .header("Destination", self.key_url(to))
            .header("Overwrite", "T")
            .header("Depth", "0");
        let resp = self.send(req, op, from).await?;
        match resp.status().as_u16() {
            200..=299 => Ok(()),
            404 => Err(Error::not_found(format!("no object at `{from}`"))),
            // Depth: 0 on a collection.
            400 => match self.stat(&self.key_url(from), op, from).await? {
                Some(e) if e.collection => Err(Error::not_found(format!(
                    "no object at `{from}` (a collection is there)"
                ))),
                _ => Err(refused(&resp, op, from)),
            },
            409 => Err(self.parent_conflict(to, op).await),
            _ => Err(refused(&resp, op, from)),
        }
    }
}

// ---------------------------------------------------------------------- answers

/// The error of an unsuccessful answer to `op` on `key` ([`status_error`]).
pub(crate) fn refused(resp: &reqwest::Response, op: &str, key: &str) -> Error {
    status_error(resp.status(), resp.headers(), op, key)
}

/// The error of an answer `status` to `op` on `key`: the kit's status table (`Retry-After`
/// carried for what is retried), refined by what a WebDAV status means (a `423` is a lock).
/// The message names the operation, the key and the status, never a URL or a header.
pub(crate) fn status_error(status: StatusCode, headers: &HeaderMap, op: &str, key: &str) -> Error {
    files_http::error_for_status(&format!("{op} `{key}`"), status, headers, detail(status))
}

/// What a WebDAV server means by a status, beyond the kit's table (RFC 4918 §11).
fn detail(status: StatusCode) -> Option<Detail> {
    let message = match status.as_u16() {
        403 => "permission denied",
        423 => "the resource is locked",
        507 => "the WebDAV server is out of space",
        _ => return None,
    };
    Some(Detail::message(message))
}

/// A transport failure (connection refused or reset, timeout, broken body) of `op` on `key`,
/// through the kit (no URL quoted).
pub(crate) fn transport_error(e: reqwest::Error, op: &str, key: &str) -> Error {
    files_http::transport_error(e, &format!("{op} `{key}`"))
}

/// The answers of a server that does not take `Content-Range` on PUT.
pub(crate) fn refuses_partial_put(status: StatusCode) -> bool {
    matches!(status.as_u16(), 400 | 405 | 411 | 416 | 422 | 501)
}

/// `Content-Range: bytes A-B/TOTAL` as `(A, B + 1, TOTAL)`; `None` unless both the range and
/// the total are there and consistent.
pub(crate) fn full_content_range(h: &HeaderMap) -> Option<(u64, u64, u64)> {
    match files_http::headers::content_range(h)? {
        ContentRange {
            range: Some((start, end)),
            total: Some(total),
        } => Some((start, end, total)),
        _ => None,
    }
}

/// The object's size a `416` names (`Content-Range: bytes */TOTAL`).
pub(crate) fn whole_size_416(h: &HeaderMap) -> Option<u64> {
    files_http::headers::content_range(h)
        .filter(|r| r.range.is_none())
        .and_then(|r| r.total)
}

/// The encoded path of `segments` (relative to the endpoint), `/`-joined.
pub(crate) fn rel_path(segments: &[String]) -> String {
    segments
        .iter()
        .map(|s| files_http::encode::segment(s))
        .collect::<Vec<_>>()
        .join("/")
}

/// The decoded path of an `href` (a path, or an absolute URL); `None` if it is not UTF-8.
pub(crate) fn href_path(href: &str) -> Option<String> {
    let path = if href.starts_with('/') {
        href.split(['?', '#']).next().unwrap_or("").to_string()
    } else {
        url::Url::parse(href).ok()?.path().to_string()
    };
    let decoded = files_http::encode::decode_lossy(&path);
    (!decoded.contains('\u{FFFD}')).then_some(decoded)
}

/// The metadata of `key` from its PROPFIND entry.
pub(crate) fn meta_of(key: &str, e: &Entry) -> ObjectMeta {
    let mut m = ObjectMeta::new(key, e.size.unwrap_or(0));
    m.etag = e.etag.as_deref().map(normalize_etag);
    m.last_modified = e.last_modified.as_deref().and_then(parse_http_date);
    m.content_type = e.content_type.clone();
    m
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use files_core::{Adapter, Body, Files};
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn statuses_webdav_refines() {
        let err = |code: u16| {
            status_error(
                StatusCode::from_u16(code).unwrap(),
                &HeaderMap::new(),
                "put",
                "a/b.txt",
            )
        };
        for (code, kind, retry, says) in [
            (401, ErrorKind::Unauthorized, false, "credentials"),
            (403, ErrorKind::Unauthorized, false, "permission denied"),
            (404, ErrorKind::NotFound, false, "404"),
            (405, ErrorKind::NotSupported, false, "405"),
            (408, ErrorKind::Timeout, true, "408"),
            (409, ErrorKind::Conflict, false, "409"),
            (412, ErrorKind::Conflict, false, "412"),
            (423, ErrorKind::Conflict, false, "locked"),
            (429, ErrorKind::Transient, true, "429"),
            (501, ErrorKind::NotSupported, false, "501"),
            (502, ErrorKind::Transient, true, "502"),
            (507, ErrorKind::StorageFull, false, "out of space"),
        ] {
            let e = err(code);
            assert_eq!((e.kind(), e.is_retryable()), (kind, retry), "{code}: {e}");
            let text = e.to_string();
            assert!(text.contains(says), "{code}: {text}");
            assert!(text.contains("could not put `a/b.txt`"), "{code}: {text}");
            assert!(text.contains(&code.to_string()), "{code}: {text}");
        }
        assert!(
            err(507).to_string().contains("no room left"),
            "{}",
            err(507)
        );
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("3"));
        let e = status_error(StatusCode::SERVICE_UNAVAILABLE, &h, "get", "k");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn content_ranges_and_hrefs() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_RANGE, HeaderValue::from_static(v));
            h
        };
        assert_eq!(full_content_range(&with("bytes 5-9/10")), Some((5, 10, 10)));
        assert_eq!(full_content_range(&with("bytes 5-10/10")), None);
        assert_eq!(full_content_range(&with("bytes 5-9/*")), None);
        assert_eq!(full_content_range(&with("bytes */10")), None);
        assert_eq!(whole_size_416(&with("bytes */10")), Some(10));
        assert_eq!(whole_size_416(&with("bytes 0-1/10")), None);
        assert_eq!(href_path("http://h:1/x%20y/").as_deref(), Some("/x y/"));
        assert_eq!(href_path("/a/b%C3%BC?q#f").as_deref(), Some("/a/bü"));
        assert_eq!(href_path("/a%FF"), None);
        assert_eq!(
            rel_path(&["a b".into(), "ü/%".into()]),
            "a%20b/%C3%BC%2F%25"
        );
    }

    /// A server that answers every request with `status` (and an empty body), on loopback.
    async fn answering(status: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/dav/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let reply = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = s.write_all(reply.as_bytes()).await;
                });
            }
        });
        endpoint
    }

    /// The whole path of an answer: a `PUT` refused with `status` fails with `kind`, its
    /// message naming the operation and the key, never the password.
    #[tokio::test]
    async fn answers_to_a_put() {
        for (status, kind, says) in [
            (
                "507 Insufficient Storage",
                ErrorKind::StorageFull,
                "out of space",
            ),
            ("423 Locked", ErrorKind::Conflict, "locked"),
            ("401 Unauthorized", ErrorKind::Unauthorized, "credentials"),
        ] {
            let adapter = WebDavAdapter::builder()
                .endpoint(answering(status).await)
                .basic_auth("alice", "pw-SECRET-3")
                .resumable(false)
                .build()
                .unwrap();
            let files = Files::new(adapter.clone());
            let e = files
                .upload("a.txt", Body::from(vec![1u8; 10]))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), kind, "{status}: {e}");
            let text = format!("{e} {e:?}");
            assert!(text.contains("could not put `a.txt`"), "{status}: {text}");
            assert!(text.contains(says), "{status}: {text}");
            assert!(!text.contains("pw-SECRET-3"), "{text}");
            let e = adapter.head("a.txt").await.unwrap_err();
            assert_eq!(e.kind(), kind, "{status}: {e}");
            assert!(e.to_string().contains("could not head `a.txt`"), "{e}");
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_transient_and_names_the_key() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let adapter = WebDavAdapter::builder()
            .endpoint(format!("http://127.0.0.1:{port}/"))
            .build()
            .unwrap();
        let e = adapter.head("x/y.bin").await.unwrap_err();
        assert_eq!((e.kind(), e.is_retryable()), (ErrorKind::Transient, true));
        assert!(e.to_string().contains("could not head `x/y.bin`"), "{e}");
    }
}
