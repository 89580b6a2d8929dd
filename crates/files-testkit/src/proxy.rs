//! A fault-injecting HTTP/1.1 proxy on loopback, between an SDK and a real server.
//!
//! The SDK is pointed at the proxy's endpoint instead of the server's; the proxy forwards each
//! request to the server and its answer back, except that, for the requests a predicate picks
//! (say, S3 `UploadPart` calls) and with a seeded chance, it injects one [`Fault`]:
//!
//! - [`Fault::ResetMidBody`]: reads part of the request body, then resets the connection (the
//!   server never sees the request);
//! - [`Fault::Status`]: answers `500`, `503`, or S3's `503 SlowDown`, without forwarding;
//! - [`Fault::Stall`]: holds the connection silent for longer than the client's timeout;
//! - [`Fault::CutResponse`]: forwards the request (it **lands** on the server), then sends only
//!   the first bytes of the answer and closes — the client cannot know it landed;
//! - [`Fault::Delay`]: waits, then forwards normally (not a failure).
//!
//! Every decision comes from one seeded generator, and every injected fault is logged
//! ([`FaultProxy::log`]), so a failing run can be replayed with its seed. The proxy speaks just
//! enough HTTP/1.1 to find message boundaries (`Content-Length` and chunked bodies, keep-alive
//! on the client side, one fresh server connection per request).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

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
}

impl ProxyConfig {
    /// Every fault kind with equal weight (S3's `SlowDown` as the throttling answer), at
    /// `rate`, for the requests `pick` selects.
    pub fn all_faults(
        seed: u64,
        rate: f64,
        pick: impl Fn(&RequestHead) -> bool + Send + Sync + 'static,
    ) -> Self {
        ProxyConfig {
            seed,
            rate,
            faults: vec![
                (Fault::ResetMidBody, 1),
                (Fault::Status(500, "InternalError"), 1),
                (Fault::Status(503, "ServiceUnavailable"), 1),
                (Fault::Status(503, "SlowDown"), 1),
                (Fault::Stall, 1),
                (Fault::CutResponse, 1),
                (Fault::Delay, 1),
            ],
            stall: Duration::from_secs(3),
            delay: Duration::from_millis(50),
            pick: Arc::new(pick),
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

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    stats: Arc<ProxyStats>,
    log: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    upstream: SocketAddr,
    config: ProxyConfig,
    rng: Mutex<fastrand::Rng>,
    stats: Arc<ProxyStats>,
    log: Arc<Mutex<Vec<String>>>,
}

impl FaultProxy {
    /// Starts a proxy on a free 127.0.0.1 port in front of `upstream` (`host:port`).
    pub async fn start(upstream: SocketAddr, config: ProxyConfig) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(ProxyStats::default());
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared {
            upstream,
            rng: Mutex::new(fastrand::Rng::with_seed(config.seed)),
            config,
            stats: stats.clone(),
            log: log.clone(),
        });
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    continue;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(conn, shared).await;
                });
            }
        });
        Ok(FaultProxy {
            addr,
            stats,
            log,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`, to point the client at.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Counters.
    pub fn stats(&self) -> &ProxyStats {
        &self.stats
    }

    /// One line per injected fault: `<fault> <method> <target>`.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("proxy log").clone()
    }

    /// Injected faults by kind.
    pub fn counts(&self) -> std::collections::BTreeMap<String, u64> {
        let mut out = std::collections::BTreeMap::new();
        for line in self.log() {
            let kind = line.split(' ').next().unwrap_or_default().to_string();
            *out.entry(kind).or_insert(0) += 1;
        }
        out
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
            let mut rng = shared.rng.lock().expect("proxy rng");
            if rng.f64() < shared.config.rate {
                let total: u32 = shared.config.faults.iter().map(|f| f.1).sum();
                let mut pick = rng.u32(0..total.max(1));
                shared
                    .config
                    .faults
                    .iter()
                    .find(|(_, w)| {
                        if pick < *w {
                            true
                        } else {
                            pick -= w;
                            false
                        }
                    })
                    .map(|f| f.0)
            } else {
                None
            }
        } else {
            None
        };
        if let Some(f) = fault {
            if f.fails() {
                shared.stats.failures.fetch_add(1, Ordering::Relaxed);
            }
            shared.log.lock().expect("proxy log").push(format!(
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
                let text = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{name}</Code><Message>injected by the fault proxy</Message></Error>"
                );
                let reason = if code == 500 {
                    "Internal Server Error"
                } else {
                    "Service Unavailable"
                };
                let answer = format!(
                    "HTTP/1.1 {code} {reason}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{text}",
                    text.len()
                );
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
        wr.write_all(&resp_head).await?;
        copy_body(&mut up_rd, &mut wr, &body).await?;
        if body == BodyLen::UntilClose {
            return Ok(());
        }
    }
}

fn fault_name(f: Fault) -> String {
    match f {
        Fault::ResetMidBody => "reset-mid-body".into(),
        Fault::Status(code, name) => format!("status-{code}-{name}"),
        Fault::Stall => "stall".into(),
        Fault::CutResponse => "cut-response".into(),
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
    Ok(Request {
        head: RequestHead { method, target },
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
}
