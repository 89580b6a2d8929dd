//! A fault-injecting HTTP/1.1 proxy on loopback, between an SDK and a real server.
//!
//! The SDK is pointed at the proxy's endpoint instead of the server's; the proxy forwards each
//! request to the server and its answer back, except that, for the requests a predicate picks
//! (say, S3 `UploadPart` calls) and with a seeded chance, it injects one [`Fault`]:
//!
//! - [`Fault::ResetMidBody`]: reads part of the request body, then resets the connection (the
//!   server never sees the request);
//! - [`Fault::Status`]: answers `500`, `503`, or the provider's throttling answer (S3's
//!   `503 SlowDown`, Azure's `503 ServerBusy`, Google's `429 rateLimitExceeded`), without
//!   forwarding, with an error body in the provider's dialect ([`ErrorDialect`]);
//! - [`Fault::Stall`]: holds the connection silent for longer than the client's timeout;
//! - [`Fault::CutResponse`]: forwards the request (it **lands** on the server), then sends only
//!   the first bytes of the answer and closes — the client cannot know it landed;
//! - [`Fault::CutBody`]: forwards the request, then sends the answer's head and the first half
//!   of its body (a body with a `Content-Length`) and resets the connection: a download broken
//!   off in the middle;
//! - [`Fault::Delay`]: waits, then forwards normally (not a failure).
//!
//! Every decision comes from one seeded generator, and every injected fault is logged
//! ([`RunningProxy::log`]), so a failing run can be replayed with its seed. The proxy speaks just
//! enough HTTP/1.1 to find message boundaries (`Content-Length` and chunked bodies, keep-alive
//! on the client side, one fresh server connection per request).
//!
//! A `Location` header naming the server (`http://127.0.0.1:SERVER_PORT/...`, as a resumable
//! session URL does) is rewritten to name the proxy, so the requests that follow it (the
//! session's chunks) go through the proxy too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::proxy_kit::{self, RunningProxy};

/// One injected fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The connection is reset after part of the request body was read.
    ResetMidBody,
    /// An error status is answered without forwarding (`500`, `503`, `503 SlowDown`).
    Status(u16, &'static str),
    /// The connection goes silent for [`ProxyConfig::stall`].
    Stall,
    /// The request is forwarded and lands; the answer is cut after a few bytes.
    CutResponse,
    /// The request is forwarded; the answer's head and half its body are sent, then the
    /// connection is reset.
    CutBody,
    /// The request is forwarded after [`ProxyConfig::delay`] (not a failure).
    Delay,
}

impl Fault {
    /// Whether the client sees a failure (everything but [`Fault::Delay`]).
    pub fn fails(self) -> bool {
        !matches!(self, Fault::Delay)
    }
}

/// The head of a request, as the predicate sees it.
#[derive(Clone, Debug)]
pub struct RequestHead {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// Path and query, as sent (`/bucket/key?partNumber=2&uploadId=...`).
    pub target: String,
    /// The header fields, names as sent, values trimmed.
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The value of the first header field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The declared `Content-Length`, if any.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.parse().ok()
    }
}

/// How an injected error answer is written, so that the client parses it as its provider's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorDialect {
    /// S3's XML `<Error><Code>NAME</Code>...`.
    S3,
    /// Azure's XML `<Error><Code>NAME</Code>...` and the `x-ms-error-code: NAME` header.
    Azure,
    /// Google's JSON `{"error": {"code": N, "message": ..., "errors": [{"reason": NAME}]}}`.
    Google,
    /// A `text/plain` body naming the status (WebDAV servers).
    Plain,
}

impl ErrorDialect {
    /// The error answers a provider gives for an internal error, an outage and throttling.
    pub fn statuses(self) -> Vec<(u16, &'static str)> {
        match self {
            ErrorDialect::S3 => vec![
                (500, "InternalError"),
                (503, "ServiceUnavailable"),
                (503, "SlowDown"),
            ],
            ErrorDialect::Azure => vec![
                (500, "InternalError"),
                (503, "ServerBusy"),
                (500, "OperationTimedOut"),
            ],
            ErrorDialect::Google => vec![
                (500, "backendError"),
                (503, "backendError"),
                (429, "rateLimitExceeded"),
            ],
            ErrorDialect::Plain => vec![
                (500, "InternalServerError"),
                (503, "ServiceUnavailable"),
                (502, "BadGateway"),
            ],
        }
    }
}

/// What the proxy injects, and where.
#[derive(Clone)]
pub struct ProxyConfig {
    /// Seed of every random decision.
    pub seed: u64,
    /// Chance, per picked request, of a fault (0.0 ..= 1.0).
    pub rate: f64,
    /// The faults to choose from, with weights.
    pub faults: Vec<(Fault, u32)>,
    /// How long a stall lasts (make it longer than the client's request timeout).
    pub stall: Duration,
    /// How long a delay lasts.
    pub delay: Duration,
    /// Which requests may be faulted.
    pub pick: Arc<dyn Fn(&RequestHead) -> bool + Send + Sync>,
    /// How injected error answers are written.
    pub dialect: ErrorDialect,
    /// At most this many faults are injected (`None`: no limit).
    pub max_faults: Option<u64>,
}

impl ProxyConfig {
    /// Every fault kind with equal weight (S3's `SlowDown` as the throttling answer), at
    /// `rate`, for the requests `pick` selects.
    pub fn all_faults(
        seed: u64,
        rate: f64,
        pick: impl Fn(&RequestHead) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self::all_faults_for(ErrorDialect::S3, seed, rate, pick)
    }

    /// Every fault kind with equal weight, the error answers being `dialect`'s
    /// ([`ErrorDialect::statuses`]), at `rate`, for the requests `pick` selects.
    pub fn all_faults_for(
        dialect: ErrorDialect,
        seed: u64,
        rate: f64,
        pick: impl Fn(&RequestHead) -> bool + Send + Sync + 'static,
    ) -> Self {
        let mut faults = vec![(Fault::ResetMidBody, 1)];
        faults.extend(
            dialect
                .statuses()
                .into_iter()
                .map(|(c, n)| (Fault::Status(c, n), 1)),
        );
        faults.extend([
            (Fault::Stall, 1),
            (Fault::CutResponse, 1),
            (Fault::Delay, 1),
        ]);
        ProxyConfig {
            seed,
            rate,
            faults,
            stall: Duration::from_secs(3),
            delay: Duration::from_millis(50),
            pick: Arc::new(pick),
            dialect,
            max_faults: None,
        }
    }
}

/// What the proxy did.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Requests seen.
    pub requests: AtomicU64,
    /// Requests the predicate picked.
    pub picked: AtomicU64,
    /// Faults injected that the client sees as failures.
    pub failures: AtomicU64,
}

/// A running HTTP fault proxy; stops accepting when dropped.
pub type FaultProxy = RunningProxy<ProxyStats>;

type Shared = proxy_kit::Shared<ProxyConfig, ProxyStats>;

impl RunningProxy<ProxyStats> {
    /// Starts a proxy on a free 127.0.0.1 port in front of `upstream` (`host:port`).
    pub async fn start(upstream: SocketAddr, config: ProxyConfig) -> std::io::Result<FaultProxy> {
        RunningProxy::spawn(upstream, config.seed, config, serve).await
    }

    /// `http://127.0.0.1:PORT`, to point the client at.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.local_addr())
    }
}

/// Serves one client connection: request after request (keep-alive).
async fn serve(client: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let _ = client.set_nodelay(true);
    let (rd, mut wr) = client.into_split();
    let mut rd = BufReader::with_capacity(64 << 10, rd);
    loop {
        let Some(head) = read_head(&mut rd).await? else {
            return Ok(());
        };
        let request = parse_request(&head)?;
        shared.stats.requests.fetch_add(1, Ordering::Relaxed);
        let fault = if (shared.config.pick)(&request.head) {
            shared.stats.picked.fetch_add(1, Ordering::Relaxed);
            let max_faults = shared.config.max_faults;
            let spent = || max_faults.is_some_and(|max| shared.log.len() as u64 >= max);
            let config = &shared.config;
            let fault = shared.dice.roll(config.rate, &config.faults, spent);
            fault.map(|(f, _)| f)
        } else {
            None
        };
        if let Some(f) = fault {
            if f.fails() {
                shared.stats.failures.fetch_add(1, Ordering::Relaxed);
            }
            shared.log.push(format!(
                "{} {} {}",
                fault_name(f),
                request.head.method,
                request.head.target
            ));
        }
        match fault {
            Some(Fault::ResetMidBody) => {
                // Read (and drop) part of the body, then close without an answer.
                let half = request.body.known_len().unwrap_or(0) / 2;
                let mut sink = tokio::io::sink();
                let _ = tokio::io::copy(&mut (&mut rd).take(half), &mut sink).await;
                let s = wr.reunite(rd.into_inner()).ok();
                if let Some(s) = s {
                    let _ = s.set_zero_linger();
                }
                return Ok(());
            }
            Some(Fault::Status(code, name)) => {
                // Consume the body so the connection stays in sync, then answer.
                let mut sink = tokio::io::sink();
                copy_body(&mut rd, &mut sink, &request.body).await?;
                let answer = error_answer(shared.config.dialect, code, name);
                wr.write_all(answer.as_bytes()).await?;
                continue;
            }
            Some(Fault::Stall) => {
                tokio::time::sleep(shared.config.stall).await;
                return Ok(());
            }
            Some(Fault::Delay) => tokio::time::sleep(shared.config.delay).await,
            _ => {}
        }
        // Forward the request to a fresh server connection.
        let mut up = TcpStream::connect(shared.upstream).await?;
        let _ = up.set_nodelay(true);
        up.write_all(&head).await?;
        copy_body(&mut rd, &mut up, &request.body).await?;
        let (up_rd, _up_wr) = up.into_split();
        let mut up_rd = BufReader::with_capacity(64 << 10, up_rd);
        let Some(resp_head) = read_head(&mut up_rd).await? else {
            return Ok(());
        };
        if fault == Some(Fault::CutResponse) {
            // The request landed; the client gets a few bytes of the answer and a closed
            // connection.
            let n = resp_head.len().min(12);
            wr.write_all(&resp_head[..n]).await?;
            return Ok(());
        }
        let body = response_body(&resp_head, &request.head.method)?;
        let resp_head = rewrite_location(resp_head, shared.upstream, shared.addr);
        wr.write_all(&resp_head).await?;
        if fault == Some(Fault::CutBody) {
            // Half the body, then a reset: the client has a head that promised more.
            if let BodyLen::Length(n) = body {
                tokio::io::copy(&mut (&mut up_rd).take(n / 2), &mut wr).await?;
            }
            wr.flush().await?;
            if let Ok(s) = wr.reunite(rd.into_inner()) {
                let _ = s.set_zero_linger();
            }
            return Ok(());
        }
        copy_body(&mut up_rd, &mut wr, &body).await?;
        if body == BodyLen::UntilClose {
            return Ok(());
        }
    }
}

/// An error answer in `dialect`, for status `code` and error name `name`.
fn error_answer(dialect: ErrorDialect, code: u16, name: &str) -> String {
    let reason = match code {
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        _ => "Service Unavailable",
    };
    let message = "injected by the fault proxy";
    let (content_type, extra, text) = match dialect {
        ErrorDialect::S3 | ErrorDialect::Azure => (
            "application/xml",
            if dialect == ErrorDialect::Azure {
                format!("x-ms-error-code: {name}\r\n")
            } else {
                String::new()
            },
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{name}</Code><Message>{message}</Message></Error>"
            ),
        ),
        ErrorDialect::Google => (
            "application/json; charset=UTF-8",
            String::new(),
            format!(
                "{{\"error\":{{\"code\":{code},\"message\":\"{message}\",\"errors\":[{{\"domain\":\"global\",\"reason\":\"{name}\",\"message\":\"{message}\"}}]}}}}"
            ),
        ),
        ErrorDialect::Plain => ("text/plain", String::new(), format!("{name}: {message}\n")),
    };
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {}\r\n\r\n{text}",
        text.len()
    )
}

/// Rewrites a `Location` header that names the server (`127.0.0.1:PORT` or `localhost:PORT`)
/// so that it names the proxy; any other head is returned as is.
fn rewrite_location(head: Vec<u8>, upstream: SocketAddr, proxy: SocketAddr) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(&head) else {
        return head;
    };
    let port = upstream.port();
    let names = [
        format!("{}:{port}", upstream.ip()),
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
    ];
    let mut changed = false;
    let lines: Vec<String> = text
        .split("\r\n")
        .map(|line| {
            let is_location = line
                .split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case("location"));
            if !is_location {
                return line.to_string();
            }
            let mut out = line.to_string();
            for name in &names {
                for scheme in ["http://", "https://"] {
                    let from = format!("{scheme}{name}");
                    if out.contains(&from) {
                        out = out.replace(&from, &format!("{scheme}{proxy}"));
                        changed = true;
                    }
                }
            }
            out
        })
        .collect();
    if changed {
        lines.join("\r\n").into_bytes()
    } else {
        head
    }
}

fn fault_name(f: Fault) -> String {
    match f {
        Fault::ResetMidBody => "reset-mid-body".into(),
        Fault::Status(code, name) => format!("status-{code}-{name}"),
        Fault::Stall => "stall".into(),
        Fault::CutResponse => "cut-response".into(),
        Fault::CutBody => "cut-body".into(),
        Fault::Delay => "delay".into(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyLen {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

impl BodyLen {
    fn known_len(self) -> Option<u64> {
        match self {
            BodyLen::Length(n) => Some(n),
            BodyLen::None => Some(0),
            _ => None,
        }
    }
}

struct Request {
    head: RequestHead,
    body: BodyLen,
}

/// Reads a message head (through the blank line); `None` at a clean end of stream.
async fn read_head<R: AsyncRead + Unpin>(
    rd: &mut BufReader<R>,
) -> std::io::Result<Option<Vec<u8>>> {
    use tokio::io::AsyncBufReadExt;
    let mut head = Vec::new();
    loop {
        let n = rd.read_until(b'\n', &mut head).await?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the stream ended inside a message head",
                ))
            };
        }
        if head.ends_with(b"\r\n\r\n") || head == b"\r\n" {
            if head == b"\r\n" {
                head.clear();
                continue;
            }
            return Ok(Some(head));
        }
        if head.len() > 64 << 10 {
            return Err(bad("message head over 64 KiB"));
        }
    }
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn framing(head: &str) -> std::io::Result<Option<BodyLen>> {
    if header(head, "transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        return Ok(Some(BodyLen::Chunked));
    }
    match header(head, "content-length") {
        Some(v) => Ok(Some(BodyLen::Length(
            v.parse().map_err(|_| bad("bad Content-Length"))?,
        ))),
        None => Ok(None),
    }
}

fn parse_request(head: &[u8]) -> std::io::Result<Request> {
    let text = std::str::from_utf8(head).map_err(|_| bad("request head is not UTF-8"))?;
    let line = text.split("\r\n").next().unwrap_or_default();
    let mut it = line.split(' ');
    let method = it.next().unwrap_or_default().to_string();
    let target = it.next().unwrap_or_default().to_string();
    let body = framing(text)?.unwrap_or(BodyLen::None);
    let headers = text
        .split("\r\n")
        .skip(1)
        .filter_map(|line| {
            let (n, v) = line.split_once(':')?;
            Some((n.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    Ok(Request {
        head: RequestHead {
            method,
            target,
            headers,
        },
        body,
    })
}

fn response_body(head: &[u8], method: &str) -> std::io::Result<BodyLen> {
    let text = std::str::from_utf8(head).map_err(|_| bad("response head is not UTF-8"))?;
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    if method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(BodyLen::None);
    }
    Ok(framing(text)?.unwrap_or(BodyLen::UntilClose))
}

/// Copies one message body of the given framing from `rd` to `wr`.
async fn copy_body<R, W>(rd: &mut BufReader<R>, wr: &mut W, body: &BodyLen) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncBufReadExt;
    match *body {
        BodyLen::None => Ok(()),
        BodyLen::Length(n) => {
            let copied = tokio::io::copy(&mut rd.take(n), wr).await?;
            if copied != n {
                return Err(bad("the body ended early"));
            }
            Ok(())
        }
        BodyLen::UntilClose => {
            tokio::io::copy(rd, wr).await?;
            Ok(())
        }
        BodyLen::Chunked => loop {
            let mut line = Vec::new();
            rd.read_until(b'\n', &mut line).await?;
            wr.write_all(&line).await?;
            let size_text = std::str::from_utf8(&line)
                .map_err(|_| bad("bad chunk size"))?
                .trim();
            let size_text = size_text.split(';').next().unwrap_or_default();
            let size = u64::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                // Trailers, through the blank line.
                loop {
                    let mut t = Vec::new();
                    let n = rd.read_until(b'\n', &mut t).await?;
                    wr.write_all(&t).await?;
                    if n == 0 || t == b"\r\n" {
                        return Ok(());
                    }
                }
            }
            let copied = tokio::io::copy(&mut (&mut *rd).take(size + 2), wr).await?;
            if copied != size + 2 {
                return Err(bad("a chunk ended early"));
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse() {
        let r = parse_request(
            b"PUT /b/k?partNumber=2&uploadId=x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.head.method, "PUT");
        assert_eq!(r.head.target, "/b/k?partNumber=2&uploadId=x");
        assert_eq!(r.body, BodyLen::Length(10));
        assert_eq!(r.head.header("HOST"), Some("a"));
        assert_eq!(r.head.content_length(), Some(10));
        let r = parse_request(b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n").unwrap();
        assert_eq!(r.body, BodyLen::Chunked);
        assert_eq!(
            response_body(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD").unwrap(),
            BodyLen::None
        );
        assert_eq!(
            response_body(b"HTTP/1.1 200 OK\r\n\r\n", "GET").unwrap(),
            BodyLen::UntilClose
        );
    }

    #[test]
    fn locations_naming_the_server_name_the_proxy() {
        let up: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        let proxy: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let head = b"HTTP/1.1 200 OK\r\nLocation: http://127.0.0.1:9000/upload?upload_id=1\r\nContent-Length: 0\r\n\r\n".to_vec();
        assert_eq!(
            rewrite_location(head, up, proxy),
            b"HTTP/1.1 200 OK\r\nLocation: http://127.0.0.1:7000/upload?upload_id=1\r\nContent-Length: 0\r\n\r\n".to_vec()
        );
        let other = b"HTTP/1.1 200 OK\r\nLocation: http://example.com:9000/x\r\nX-Y: http://127.0.0.1:9000\r\n\r\n".to_vec();
        assert_eq!(rewrite_location(other.clone(), up, proxy), other);
    }

    #[test]
    fn error_answers_speak_the_dialect() {
        let a = error_answer(ErrorDialect::Azure, 503, "ServerBusy");
        assert!(a.starts_with("HTTP/1.1 503 "), "{a}");
        assert!(a.contains("x-ms-error-code: ServerBusy\r\n"), "{a}");
        assert!(a.contains("<Code>ServerBusy</Code>"), "{a}");
        let g = error_answer(ErrorDialect::Google, 429, "rateLimitExceeded");
        assert!(g.starts_with("HTTP/1.1 429 Too Many Requests\r\n"), "{g}");
        let body = g.split("\r\n\r\n").nth(1).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["errors"][0]["reason"], "rateLimitExceeded");
        let declared: usize = header(&g, "content-length").unwrap().parse().unwrap();
        assert_eq!(declared, body.len());
    }
}
