//! A seeded, fault-injecting TCP proxy on loopback, between an SDK and a real server that does
//! not speak HTTP (SFTP, FTP).
//!
//! The SDK dials the proxy instead of the server; the proxy opens one server connection per
//! client connection and carries the bytes both ways, except that, for the connections it may
//! fault and with a seeded chance, it injects one [`TcpFault`] once the client has sent a
//! seeded number N of bytes through it (drawn from [`TcpProxyConfig::fault_bytes`]):
//!
//! - [`TcpFault::Reset`]: after N client bytes reached the server, both sides are reset (RST);
//! - [`TcpFault::Stall`]: after N client bytes, the connection goes silent for
//!   [`TcpProxyConfig::stall`] (longer than the client's timeout), then is reset;
//! - [`TcpFault::Cut`]: after N client bytes, both sides are closed cleanly (FIN): the server
//!   sees an ordinary end of stream, so what it got **lands** (an FTP upload is stored short);
//! - [`TcpFault::CutReply`]: client bytes are carried; once N of them have been, the server's
//!   next bytes (the answer to what just landed) are swallowed and both sides are closed: the
//!   client cannot know that its last writes landed;
//! - [`TcpFault::Delay`]: the server connection is opened after [`TcpProxyConfig::delay`]
//!   (not a failure).
//!
//! With [`TcpProxyConfig::server_bytes`], N counts the server's bytes instead (a download broken
//! off after N bytes of its body).
//!
//! With [`TcpProxyConfig::ftp`], the proxy also carries FTP's passive data connections: it
//! rewrites the `227` (`PASV`) and `229` (`EPSV`) replies on the control connection so that the
//! client dials a proxy listener, which forwards to the server's data port. Then only the data
//! connections (where an upload's bytes flow) may be faulted; control connections are carried
//! as they are.
//!
//! Every decision comes from one seeded generator, taken in the order connections arrive, and
//! every fault is logged ([`RunningProxy::log`]), so a failing run names what it injected.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::proxy_kit::{self, RunningProxy};

/// One injected fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpFault {
    /// Both sides are reset after N client bytes.
    Reset,
    /// Silence for [`TcpProxyConfig::stall`] after N client bytes, then a reset.
    Stall,
    /// Both sides are closed cleanly after N client bytes (what was sent lands).
    Cut,
    /// After N client bytes, the server's next answer is swallowed and both sides closed.
    CutReply,
    /// The server connection is opened late (not a failure).
    Delay,
}

impl TcpFault {
    /// Whether the client sees a failure when the fault triggers (all but [`TcpFault::Delay`]).
    pub fn fails(self) -> bool {
        !matches!(self, TcpFault::Delay)
    }

    fn name(self) -> &'static str {
        match self {
            TcpFault::Reset => "reset",
            TcpFault::Stall => "stall",
            TcpFault::Cut => "cut",
            TcpFault::CutReply => "cut-reply",
            TcpFault::Delay => "delay",
        }
    }
}

/// What the proxy injects, and where.
#[derive(Clone, Debug)]
pub struct TcpProxyConfig {
    /// Seed of every random decision.
    pub seed: u64,
    /// Chance, per connection that may be faulted, of a fault (0.0 ..= 1.0).
    pub rate: f64,
    /// The faults to choose from, with weights.
    pub faults: Vec<(TcpFault, u32)>,
    /// Client bytes after which a fault triggers: drawn uniformly from this range per faulted
    /// connection (start it past a connection's handshake to fault only the bytes after it).
    pub fault_bytes: Range<u64>,
    /// How long a stall lasts (make it longer than the client's request timeout).
    pub stall: Duration,
    /// How long a delay lasts.
    pub delay: Duration,
    /// Carry FTP passive data connections (and fault only those).
    pub ftp: bool,
    /// `fault_bytes` counts the bytes the server sent (downloads), not the client's;
    /// [`TcpFault::CutReply`] still counts the client's.
    pub server_bytes: bool,
}

impl TcpProxyConfig {
    /// Every fault kind with equal weight at `rate`, triggering after a number of client bytes
    /// drawn from `fault_bytes`.
    pub fn all_faults(seed: u64, rate: f64, fault_bytes: Range<u64>) -> Self {
        TcpProxyConfig {
            seed,
            rate,
            faults: vec![
                (TcpFault::Reset, 1),
                (TcpFault::Stall, 1),
                (TcpFault::Cut, 1),
                (TcpFault::CutReply, 1),
                (TcpFault::Delay, 1),
            ],
            fault_bytes,
            stall: Duration::from_secs(3),
            delay: Duration::from_millis(50),
            ftp: false,
            server_bytes: false,
        }
    }

    /// For FTP: data connections are carried and faulted (reset, stall, cut, delay; a data
    /// connection of an upload carries no answer, so no cut reply), control connections are
    /// carried with their passive replies rewritten.
    pub fn ftp(seed: u64, rate: f64, fault_bytes: Range<u64>) -> Self {
        let mut config = Self::all_faults(seed, rate, fault_bytes);
        config.faults.retain(|(f, _)| *f != TcpFault::CutReply);
        config.ftp = true;
        config
    }
}

/// What the proxy did.
#[derive(Debug, Default)]
pub struct TcpProxyStats {
    /// Client connections accepted (FTP: control and data).
    pub connections: AtomicU64,
    /// Connections that could be faulted (FTP: the data connections; else all).
    pub picked: AtomicU64,
    /// Connections given a fault (delays included; a fault set to trigger after more bytes
    /// than the connection carried never triggers).
    pub faulted: AtomicU64,
    /// Faults that triggered and that the client sees as failures.
    pub failures: AtomicU64,
    /// Passive replies rewritten (FTP).
    pub passive_rewrites: AtomicU64,
    /// Client bytes carried by connections that ended without a fault (FTP: data only).
    pub clean_bytes_up: AtomicU64,
    /// Server bytes carried by connections that ended without a fault (FTP: data only).
    pub clean_bytes_down: AtomicU64,
}

/// A running TCP fault proxy; stops accepting when dropped (connections in flight run to their
/// end).
pub type TcpFaultProxy = RunningProxy<TcpProxyStats>;

type Shared = proxy_kit::Shared<TcpProxyConfig, TcpProxyStats>;

impl Shared {
    /// Counts a client connection (main listener or FTP data listener) and returns its id:
    /// connections are numbered from 0 in the order they arrive.
    fn arrived(&self) -> u64 {
        self.stats.connections.fetch_add(1, Ordering::Relaxed)
    }

    /// The seeded decision for one connection that may be faulted: a fault and its trigger.
    fn decide(&self, what: &str) -> Option<(TcpFault, u64)> {
        self.stats.picked.fetch_add(1, Ordering::Relaxed);
        let cfg = &self.config;
        let (fault, mut rng) = self.dice.roll(cfg.rate, &cfg.faults, || false)?;
        let range = &cfg.fault_bytes;
        let at = if range.is_empty() {
            range.start
        } else {
            rng.u64(range.clone())
        };
        drop(rng);
        self.stats.faulted.fetch_add(1, Ordering::Relaxed);
        self.log
            .push(format!("{} {what} after {at} bytes", fault.name()));
        Some((fault, at))
    }
}

impl RunningProxy<TcpProxyStats> {
    /// Starts a proxy on a free 127.0.0.1 port in front of `upstream`.
    pub async fn start(
        upstream: SocketAddr,
        config: TcpProxyConfig,
    ) -> std::io::Result<TcpFaultProxy> {
        RunningProxy::spawn(upstream, config.seed, config, accept).await
    }

    /// The proxy's address, to point the client at.
    pub fn addr(&self) -> SocketAddr {
        self.local_addr()
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }
}

/// Serves one client connection of the main listener.
async fn accept(client: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let id = shared.arrived();
    let _ = client.set_nodelay(true);
    if shared.config.ftp {
        let server = TcpStream::connect(shared.upstream).await?;
        let _ = server.set_nodelay(true);
        return ftp_control(client, server, shared).await;
    }
    let fault = shared.decide(&format!("connection {id}"));
    carry(client, shared.upstream, fault, shared).await
}

/// Opens the server connection (late, for a delay) and carries the bytes, injecting `fault`.
async fn carry(
    mut client: TcpStream,
    upstream: SocketAddr,
    fault: Option<(TcpFault, u64)>,
    shared: Arc<Shared>,
) -> std::io::Result<()> {
    if let Some((TcpFault::Delay, _)) = fault {
        tokio::time::sleep(shared.config.delay).await;
    }
    let mut server = TcpStream::connect(upstream).await?;
    let _ = server.set_nodelay(true);
    let Some((kind, at)) = fault.filter(|(k, _)| k.fails()) else {
        let (up, down) = tokio::io::copy_bidirectional(&mut client, &mut server).await?;
        shared.stats.clean_bytes_up.fetch_add(up, Ordering::Relaxed);
        shared
            .stats
            .clean_bytes_down
            .fetch_add(down, Ordering::Relaxed);
        return Ok(());
    };
    // A cut reply lets every client byte through; once `at` of them have, the server's next
    // bytes (the answer to what just landed) are swallowed and the connection ends.
    let (up_limit, down_limit) = match kind {
        TcpFault::CutReply => (u64::MAX, u64::MAX),
        _ if shared.config.server_bytes => (u64::MAX, at),
        _ => (at, u64::MAX),
    };
    let reply_after = if kind == TcpFault::CutReply {
        at
    } else {
        u64::MAX
    };
    let up_seen = AtomicU64::new(0);
    let triggered = {
        let (mut cr, mut cw) = client.split();
        let (mut sr, mut sw) = server.split();
        let up = copy_until(&mut cr, &mut sw, up_limit, Some(&up_seen), None);
        let down = copy_until(
            &mut sr,
            &mut cw,
            down_limit,
            None,
            Some((&up_seen, reply_after)),
        );
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            tokio::select! {
                r = &mut up, if !up_done => match r {
                    Ok(true) => break true,
                    Ok(false) => up_done = true,
                    Err(_) => break false,
                },
                r = &mut down, if !down_done => match r {
                    Ok(true) => break true,
                    Ok(false) => down_done = true,
                    Err(_) => break false,
                },
            }
            if up_done && down_done {
                break false;
            }
        }
    };
    if !triggered {
        return Ok(());
    }
    shared.stats.failures.fetch_add(1, Ordering::Relaxed);
    match kind {
        TcpFault::Stall => {
            tokio::time::sleep(shared.config.stall).await;
            reset(client, server);
        }
        TcpFault::Reset => reset(client, server),
        TcpFault::Cut | TcpFault::CutReply => {
            let _ = server.shutdown().await;
            let _ = client.shutdown().await;
        }
        TcpFault::Delay => unreachable!("delays carry everything"),
    }
    Ok(())
}

/// Closes both streams with a reset (RST) rather than a clean end.
fn reset(client: TcpStream, server: TcpStream) {
    let _ = client.set_zero_linger();
    let _ = server.set_zero_linger();
}

/// Copies from `rd` to `wr` until `limit` bytes were copied (`Ok(true)`: the fault triggers)
/// or `rd` ends (`Ok(false)`, after passing the end on with a write shutdown). Counts what it
/// copied into `count`; with `stop_when = (seen, n)`, triggers instead of copying once `seen`
/// reached `n`.
async fn copy_until<R, W>(
    rd: &mut R,
    wr: &mut W,
    limit: u64,
    count: Option<&AtomicU64>,
    stop_when: Option<(&AtomicU64, u64)>,
) -> std::io::Result<bool>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 32 << 10];
    let mut copied = 0u64;
    loop {
        let n = rd.read(&mut buf).await?;
        if n == 0 {
            let _ = wr.shutdown().await;
            return Ok(false);
        }
        if let Some((seen, at)) = stop_when
            && seen.load(Ordering::Relaxed) >= at
        {
            return Ok(true);
        }
        let left = limit - copied;
        if n as u64 >= left {
            wr.write_all(&buf[..left as usize]).await?;
            wr.flush().await?;
            if let Some(c) = count {
                c.fetch_add(left, Ordering::Relaxed);
            }
            return Ok(true);
        }
        wr.write_all(&buf[..n]).await?;
        copied += n as u64;
        if let Some(c) = count {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}

/// Carries an FTP control connection: client bytes as they are; server replies line by line,
/// with `227`/`229` passive replies pointing at a fresh data listener of the proxy.
async fn ftp_control(
    client: TcpStream,
    server: TcpStream,
    shared: Arc<Shared>,
) -> std::io::Result<()> {
    let (mut cr, mut cw) = client.into_split();
    let (sr, mut sw) = server.into_split();
    let up = async move {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
        let _ = sw.shutdown().await;
    };
    let down = async move {
        let mut sr = BufReader::new(sr);
        loop {
            let mut line = Vec::new();
            let n = sr.read_until(b'\n', &mut line).await?;
            if n == 0 {
                let _ = cw.shutdown().await;
                return Ok::<(), std::io::Error>(());
            }
            let line = match passive_port(&line) {
                Some((code, port)) => {
                    let data_server = SocketAddr::new(shared.upstream.ip(), port);
                    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
                    let ours = listener.local_addr()?.port();
                    shared
                        .stats
                        .passive_rewrites
                        .fetch_add(1, Ordering::Relaxed);
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let accepted =
                            tokio::time::timeout(Duration::from_secs(60), listener.accept()).await;
                        let Ok(Ok((data_client, _))) = accepted else {
                            return;
                        };
                        let id = shared.arrived();
                        let _ = data_client.set_nodelay(true);
                        let fault = shared.decide(&format!("data connection {id}"));
                        let _ = carry(data_client, data_server, fault, shared).await;
                    });
                    passive_reply(code, ours)
                }
                None => line,
            };
            cw.write_all(&line).await?;
        }
    };
    let (_, r) = tokio::join!(up, down);
    r
}

/// The reply code (227 or 229) and the data port of a passive reply line.
fn passive_port(line: &[u8]) -> Option<(u16, u16)> {
    let text = std::str::from_utf8(line).ok()?;
    if let Some(rest) = text.strip_prefix("227 ") {
        // 227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).
        let inner = rest.split_once('(')?.1.split_once(')')?.0;
        let nums: Vec<u16> = inner
            .split(',')
            .map(|n| n.trim().parse().ok())
            .collect::<Option<_>>()?;
        if nums.len() != 6 || nums.iter().any(|&n| n > 255) {
            return None;
        }
        return Some((227, nums[4] * 256 + nums[5]));
    }
    if let Some(rest) = text.strip_prefix("229 ") {
        // 229 Entering Extended Passive Mode (|||port|)
        let inner = rest.split_once('(')?.1.split_once(')')?.0;
        let port = inner.trim_matches('|').parse().ok()?;
        return Some((229, port));
    }
    None
}

/// A passive reply of kind `code` naming the proxy's data listener on `port`.
fn passive_reply(code: u16, port: u16) -> Vec<u8> {
    if code == 227 {
        format!(
            "227 Entering Passive Mode (127,0,0,1,{},{}).\r\n",
            port / 256,
            port % 256
        )
        .into_bytes()
    } else {
        format!("229 Entering Extended Passive Mode (|||{port}|)\r\n").into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn passive_replies_parse_and_rewrite() {
        assert_eq!(
            passive_port(b"227 Entering Passive Mode (127,0,0,1,195,80).\r\n"),
            Some((227, 195 * 256 + 80))
        );
        assert_eq!(
            passive_port(b"229 Entering extended passive mode (|||50123|).\r\n"),
            Some((229, 50123))
        );
        assert_eq!(passive_port(b"226 Transfer complete.\r\n"), None);
        assert_eq!(passive_port(b"227 (1,2,3)\r\n"), None);
        assert_eq!(passive_port(&passive_reply(227, 40000)), Some((227, 40000)));
        assert_eq!(passive_port(&passive_reply(229, 40001)), Some((229, 40001)));
    }

    /// An echo server behind the proxy: a reset after N bytes delivers exactly N bytes to the
    /// server, a clean connection delivers everything.
    #[tokio::test]
    async fn resets_after_the_seeded_byte_count() {
        let server = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let upstream = server.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let r = received.clone();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = server.accept().await.unwrap();
                let r = r.clone();
                tokio::spawn(async move {
                    let mut all = Vec::new();
                    let _ = s.read_to_end(&mut all).await;
                    r.lock().unwrap().push(all.len());
                });
            }
        });
        let mut config = TcpProxyConfig::all_faults(7, 1.0, 1000..1001);
        config.faults = vec![(TcpFault::Reset, 1)];
        let proxy = TcpFaultProxy::start(upstream, config).await.unwrap();
        let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
        let data = vec![7u8; 100_000];
        let sent = c.write_all(&data).await;
        let mut rest = Vec::new();
        let read = c.read_to_end(&mut rest).await;
        assert!(sent.is_err() || read.is_err(), "the client saw no reset");
        for _ in 0..100 {
            if !received.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(*received.lock().unwrap(), vec![1000]);
        assert_eq!(proxy.stats().failures.load(Ordering::Relaxed), 1);
        assert_eq!(proxy.log(), vec!["reset connection 0 after 1000 bytes"]);
    }
}
