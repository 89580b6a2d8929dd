//! The minimal HTTP/1.1 server the in-process fakes ([`FakeGcs`](crate::gcs::FakeGcs),
//! [`FakeDrive`](crate::gdrive::FakeDrive)) run on: std threads on a 127.0.0.1 port, one thread a
//! connection, keep-alive until the client closes (or an I/O error), request bodies by
//! `Content-Length` or `Transfer-Encoding: chunked`, responses always with `Content-Length`
//! (never chunked). Where the fakes' plumbing differs, [`Dialect`](crate::httpd::Dialect) says
//! which way. The protocol (routes, JSON bodies, error dialects) stays in each fake.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Where the fakes' HTTP handling differs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dialect {
    /// [`Request::path`] is percent-decoded (`+` as a space too, as [`pct_decode`] does); else it
    /// is the path as sent (the fake decodes its segments itself).
    pub(crate) decode_path: bool,
    /// A `HEAD` request is answered without the body (its `Content-Length` still that of the
    /// body); else the body is sent whatever the method.
    pub(crate) head_without_body: bool,
}

/// A request as read off the connection.
pub(crate) struct Request {
    pub(crate) method: String,
    /// The target's path: as sent, or decoded if [`Dialect::decode_path`].
    pub(crate) path: String,
    /// The query, split on `&` and `=`, names and values percent-decoded (`+` as a space).
    pub(crate) query: Vec<(String, String)>,
    /// The request target exactly as sent (path and query).
    pub(crate) raw_target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    /// The first header named `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first query parameter named `name` (exact match), decoded.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response; `Content-Length` is added when it is written.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// No headers, no body.
    pub(crate) fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub(crate) fn header(mut self, k: &str, v: impl Into<String>) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// A running server; dropping it stops accepting connections (those open are served on).
pub(crate) struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Binds a free 127.0.0.1 port and serves every request with the handler `make(port)`
    /// returns, on an accept thread named `{name}-{port}`.
    pub(crate) fn start<H>(
        name: &str,
        dialect: Dialect,
        make: impl FnOnce(u16) -> H,
    ) -> io::Result<Server>
    where
        H: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let sp = stop.clone();
        let handler = Arc::new(make(port));
        std::thread::Builder::new()
            .name(format!("{name}-{port}"))
            .spawn(move || {
                for conn in listener.incoming() {
                    if sp.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let handler = handler.clone();
                    std::thread::spawn(move || {
                        let _ = serve(conn, dialect, &*handler);
                    });
                }
            })?;
        Ok(Server { port, stop })
    }

    /// Its port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

fn serve(
    conn: TcpStream,
    dialect: Dialect,
    handler: &dyn Fn(&Request) -> Response,
) -> io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut writer = conn;
    loop {
        let Some(req) = read_request(&mut reader, dialect)? else {
            return Ok(());
        };
        let resp = handler(&req);
        let reason = match resp.status {
            200 => "OK",
            204 => "No Content",
            206 => "Partial Content",
            308 => "Resume Incomplete",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            410 => "Gone",
            499 => "Client Closed Request",
            _ => "Status",
        };
        let mut head = format!("HTTP/1.1 {} {reason}\r\n", resp.status);
        for (k, v) in &resp.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", resp.body.len()));
        writer.write_all(head.as_bytes())?;
        if !(dialect.head_without_body && req.method == "HEAD") {
            writer.write_all(&resp.body)?;
        }
        writer.flush()?;
    }
}

/// The next request, or `None` at the end of the stream (also mid-head).
fn read_request(r: &mut BufReader<TcpStream>, dialect: Dialect) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            return Ok(None);
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let find = |n: &str| {
        headers
            .iter()
            .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| io::Error::other("bad chunk size"))?;
            if n == 0 {
                let mut end = String::new();
                r.read_line(&mut end)?;
                break;
            }
            let start = body.len();
            body.resize(start + n, 0);
            r.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
        }
    } else if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        r.read_exact(&mut body)?;
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target.as_str(), ""),
    };
    let path = if dialect.decode_path {
        pct_decode(path)
    } else {
        path.to_string()
    };
    let query = query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (pct_decode(k), pct_decode(v)),
            None => (pct_decode(kv), String::new()),
        })
        .collect();
    Ok(Some(Request {
        method,
        path,
        query,
        raw_target: target,
        headers,
        body,
    }))
}

/// Percent-decodes a query component (`+` is a space); a `%` not followed by two hex digits
/// stays, invalid UTF-8 is replaced.
pub(crate) fn pct_decode(s: &str) -> String {
    decode(s, true)
}

/// Percent-decodes a path segment (`+` stays `+`), otherwise as [`pct_decode`].
pub(crate) fn path_decode(s: &str) -> String {
    decode(s, false)
}

fn decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        } else if plus_is_space && b[i] == b'+' {
            out.push(b' ');
            i += 1;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
