//! What the two fault-injecting proxies share: the HTTP one ([`crate::proxy`]) and the TCP one
//! ([`crate::tcp_proxy`]) both run as a [`RunningProxy`] (a loopback listener, counters, a log
//! of the faults given), and take every decision from one seeded generator with the same
//! weighted draw.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::net::{TcpListener, TcpStream};

/// A running fault proxy with counters `S` ([`crate::proxy::ProxyStats`] or
/// [`crate::tcp_proxy::TcpProxyStats`]); stops accepting when dropped (connections in flight run
/// to their end).
pub struct RunningProxy<S> {
    addr: SocketAddr,
    stats: Arc<S>,
    log: FaultLog,
    task: tokio::task::JoinHandle<()>,
}

impl<S> Drop for RunningProxy<S> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<S> RunningProxy<S> {
    /// Counters.
    pub fn stats(&self) -> &S {
        &self.stats
    }

    /// One line per fault given, its kind first: `<fault> <method> <target>` (HTTP),
    /// `<fault> <connection> after <N> bytes` (TCP).
    pub fn log(&self) -> Vec<String> {
        self.log.lines()
    }

    /// Faults given, by kind.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for line in self.log() {
            let kind = line.split(' ').next().unwrap_or_default().to_string();
            *out.entry(kind).or_insert(0) += 1;
        }
        out
    }

    /// The proxy's own address.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl<S: Default + Send + Sync + 'static> RunningProxy<S> {
    /// Listens on a free 127.0.0.1 port in front of `upstream` and hands every client
    /// connection to `serve`, on a task of its own, with the state they all share (its
    /// generator seeded with `seed`).
    pub(crate) async fn spawn<C, F, Fut>(
        upstream: SocketAddr,
        seed: u64,
        config: C,
        serve: F,
    ) -> std::io::Result<Self>
    where
        C: Send + Sync + 'static,
        F: Fn(TcpStream, Arc<Shared<C, S>>) -> Fut + Send + 'static,
        Fut: Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(S::default());
        let log = FaultLog::default();
        let shared = Arc::new(Shared {
            upstream,
            addr,
            dice: Dice::new(seed),
            config,
            stats: stats.clone(),
            log: log.clone(),
        });
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve(conn, shared.clone()));
            }
        });
        Ok(RunningProxy {
            addr,
            stats,
            log,
            task,
        })
    }
}

/// What every connection of a proxy shares.
pub(crate) struct Shared<C, S> {
    /// The server.
    pub upstream: SocketAddr,
    /// The proxy's own address.
    pub addr: SocketAddr,
    /// What to inject, and where.
    pub config: C,
    /// Every random decision.
    pub dice: Dice,
    /// Counters.
    pub stats: Arc<S>,
    /// The faults given.
    pub log: FaultLog,
}

/// One line per fault given.
#[derive(Clone, Default)]
pub(crate) struct FaultLog(Arc<Mutex<Vec<String>>>);

impl FaultLog {
    fn lock(&self) -> MutexGuard<'_, Vec<String>> {
        self.0.lock().expect("fault proxy log")
    }

    /// Logs one fault.
    pub fn push(&self, line: String) {
        self.lock().push(line);
    }

    /// How many faults were logged.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lock().clone()
    }
}

/// The seeded generator a proxy takes every decision from, in the order they are asked for.
pub(crate) struct Dice(Mutex<fastrand::Rng>);

impl Dice {
    fn new(seed: u64) -> Self {
        Dice(Mutex::new(fastrand::Rng::with_seed(seed)))
    }

    /// Whether to fault, and with what: under the generator's lock, asks `spent` (no more
    /// faults may be given), draws against `rate` (always, spent or not), and on a hit that is
    /// not spent, draws one of `faults` by weight. The lock comes back with the fault, for the
    /// caller's further draws.
    pub fn roll<F: Copy>(
        &self,
        rate: f64,
        faults: &[(F, u32)],
        spent: impl FnOnce() -> bool,
    ) -> Option<(F, MutexGuard<'_, fastrand::Rng>)> {
        let mut rng = self.0.lock().expect("fault proxy rng");
        let spent = spent();
        let hit = rng.f64() < rate;
        if !hit || spent {
            return None;
        }
        let total: u32 = faults.iter().map(|f| f.1).sum();
        let mut pick = rng.u32(0..total.max(1));
        let fault = faults
            .iter()
            .find(|(_, w)| {
                if pick < *w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })?
            .0;
        Some((fault, rng))
    }
}
