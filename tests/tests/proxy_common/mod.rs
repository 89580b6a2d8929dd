//! What the proxy suites (`proxy_*.rs`) share: the seed and count overrides, the retry policy,
//! the driver that runs seeded uploads a few at a time, the report with its checks, and the
//! check of downloads whose bodies the proxy cuts.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use files::{RetryPolicy, UploadOutcome};
use files_testkit::proxy::FaultProxy;
use files_testkit::proxy_kit::RunningProxy;
use files_testkit::tcp_proxy::TcpFaultProxy;
use files_testkit::util::{random_bytes, sha256_hex};
use futures::StreamExt;

/// `name` from the environment as a number (decimal, or hex with `0x`), else `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => v.parse().ok(),
        })
        .unwrap_or(default)
}

/// The seed of a run: `FILES_PROXY_SEED`, else `default`.
pub fn seed(default: u64) -> u64 {
    env_u64("FILES_PROXY_SEED", default)
}

/// How many uploads a run makes: `FILES_PROXY_UPLOADS`, else `default`.
pub fn uploads(default: u64) -> u64 {
    env_u64("FILES_PROXY_UPLOADS", default)
}

/// Fast backoff, and enough retries to outlast a run of faulted attempts of one request.
pub fn retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 30,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(100),
        deadline: Duration::from_secs(300),
    }
}

/// Runs `make(i)` for every `i` in `0..uploads`, `parallel` at a time (so that stalls
/// overlap), and collects the outcomes in the order the uploads ended.
pub async fn run_uploads<F, Fut>(uploads: u64, parallel: usize, make: F) -> Vec<UploadOutcome>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = UploadOutcome>,
{
    futures::stream::iter(0..uploads)
        .map(make)
        .buffer_unordered(parallel)
        .collect()
        .await
}

/// What a run did, as reported and checked at its end.
#[derive(Debug)]
pub struct Tally {
    /// Which suite.
    pub name: &'static str,
    /// Its seed.
    pub seed: u64,
    /// Uploads asked for.
    pub uploads: u64,
    /// Uploads that ended byte-identical.
    pub landed: u64,
    /// Requests (or connections) that could be faulted.
    pub picked: u64,
    /// Of those, how many were faulted (delays included).
    pub faulted: u64,
    /// Faults the client saw as failures (delays excluded).
    pub failures: u64,
    /// Retries the uploads report.
    pub retries: u64,
    /// Faults by kind.
    pub counts: BTreeMap<String, u64>,
    /// Whether every failing fault must show as a retry (HTTP: each faulted request fails).
    /// Not for a TCP-level fault that may land after the bytes it would have cut.
    pub every_failure_costs_a_retry: bool,
}

/// What a [`Tally`] reads from a fault proxy: how many requests (HTTP) or connections (TCP)
/// could be faulted, how many of them were (delays included), how many faults the client saw
/// as failures.
pub trait Counters {
    /// `[picked, faulted, failures]`.
    fn counters(&self) -> [u64; 3];
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// HTTP: every request given a fault is in the log.
impl Counters for FaultProxy {
    fn counters(&self) -> [u64; 3] {
        let s = self.stats();
        [load(&s.picked), self.log().len() as u64, load(&s.failures)]
    }
}

/// TCP: the proxy counts the connections it gave a fault.
impl Counters for TcpFaultProxy {
    fn counters(&self) -> [u64; 3] {
        let s = self.stats();
        [load(&s.picked), load(&s.faulted), load(&s.failures)]
    }
}

impl Tally {
    /// The tally of a run through `proxy` (HTTP or TCP): the retries are the ones the uploads
    /// report, and every failure must cost one (override both where that does not hold).
    pub fn of<S>(
        name: &'static str,
        seed: u64,
        uploads: u64,
        proxy: &RunningProxy<S>,
        outcomes: &[UploadOutcome],
    ) -> Tally
    where
        RunningProxy<S>: Counters,
    {
        let [picked, faulted, failures] = proxy.counters();
        Tally {
            name,
            seed,
            uploads,
            landed: outcomes.len() as u64,
            picked,
            faulted,
            failures,
            retries: outcomes.iter().map(|o| o.retries).sum(),
            counts: proxy.counts(),
            every_failure_costs_a_retry: true,
        }
    }

    /// Prints the report line, then checks that every upload landed, that at least 20% of the
    /// picked requests were faulted, and that every failure the client saw cost a retry.
    pub fn report_and_check(&self, what: &str) {
        let t = self;
        eprintln!(
            "{} proxy run (seed {:#x}): {} uploads, {} {what}, {} faulted ({:.0}%), {} seen as \
             failures, {} retries; by kind: {:?}",
            t.name,
            t.seed,
            t.uploads,
            t.picked,
            t.faulted,
            100.0 * t.faulted as f64 / t.picked.max(1) as f64,
            t.failures,
            t.retries,
            t.counts
        );
        assert_eq!(t.landed, t.uploads, "{}: seed {:#x}", t.name, t.seed);
        assert!(
            t.failures > 0 && t.faulted * 5 >= t.picked,
            "{} (seed {:#x}): fewer than 20% of the {what} were faulted ({} of {})",
            t.name,
            t.seed,
            t.faulted,
            t.picked
        );
        if t.every_failure_costs_a_retry {
            assert!(
                t.retries >= t.failures,
                "{} (seed {:#x}): {} retries for {} injected failures",
                t.name,
                t.seed,
                t.retries,
                t.failures
            );
        } else {
            assert!(
                t.retries > 0,
                "{} (seed {:#x}): no retry or recovery for {} injected failures",
                t.name,
                t.seed,
                t.failures
            );
        }
    }
}

/// Runs blocking inspection code (a server's own client) without stalling the runtime.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// The value of the query parameter `name` in a request target (raw, not decoded).
pub fn query_param<'a>(target: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = target.split_once('?')?;
    query.split('&').find_map(|pair| {
        let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
        (n == name).then_some(v)
    })
}

/// The faults the proxy injected on requests whose target holds `needle` (a key).
pub fn faults_on(proxy: &FaultProxy, needle: &str) -> Vec<String> {
    proxy
        .log()
        .into_iter()
        .filter(|line| line.contains(needle))
        .collect()
}

/// The fault rate of a run: `FILES_PROXY_RATE` (for measuring a clean run), else `default`.
pub fn rate(default: f64) -> f64 {
    std::env::var("FILES_PROXY_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Uploads `body` to `key` in `part`-byte parts (`concurrency` at a time) under [`retry`] and
/// `timeout`; a failure panics with the error and `context()` (which upload, which faults).
pub async fn upload_or_panic(
    files: &files::Files,
    key: &str,
    body: &[u8],
    part: usize,
    concurrency: usize,
    timeout: std::time::Duration,
    context: impl FnOnce() -> String,
) -> files::UploadOutcome {
    files
        .upload(key, files::Body::from_bytes(body.to_vec()))
        .part_size(part as u64)
        .concurrency(concurrency)
        .retry(retry())
        .timeout(timeout)
        .await
        .unwrap_or_else(|e| panic!("{} failed: {e}", context()))
}

/// A run of uploads through the TCP proxy ([`TcpFaultProxy`]), each checked on the server's
/// disk.
pub struct DiskRun<'a> {
    /// The proxy the uploads go through.
    pub proxy: &'a TcpFaultProxy,
    /// The run's seed.
    pub seed: u64,
    /// Part size.
    pub part: usize,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl DiskRun<'_> {
    /// Upload `i`: a seeded body of three parts and a bit, to `faulted-{i}.bin` through `files`
    /// one part at a time; then the file on the server's disk (`on_disk(key)`, read directly)
    /// must be byte-identical to the body, and is removed.
    pub async fn upload(
        &self,
        files: &files::Files,
        i: u64,
        on_disk: impl FnOnce(&str) -> PathBuf,
    ) -> UploadOutcome {
        let (seed, part) = (self.seed, self.part);
        let body = random_bytes(seed ^ i, 3 * part + 1 + (i as usize * 997) % part);
        let key = format!("faulted-{i}.bin");
        let out = upload_or_panic(files, &key, &body, part, 1, self.timeout, || {
            format!(
                "upload {i} (seed {seed:#x}); {} faults given so far",
                self.proxy.log().len()
            )
        })
        .await;
        let path = on_disk(&key);
        let stored = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("upload {i} (seed {seed:#x}): {}: {e}", path.display()));
        assert_eq!(
            sha256_hex(&stored),
            sha256_hex(&body),
            "upload {i} (seed {seed:#x}): the file differs from the body"
        );
        std::fs::remove_file(&path).expect("remove the verified file");
        out
    }
}

/// A proxy in front of `upstream` that cuts half the requests `pick` selects (downloads)
/// half-way through their answer's body, then resets the connection.
pub async fn body_cutting_proxy(
    upstream: std::net::SocketAddr,
    seed: u64,
    pick: impl Fn(&files_testkit::proxy::RequestHead) -> bool + Send + Sync + 'static,
) -> FaultProxy {
    let mut config = files_testkit::proxy::ProxyConfig::all_faults(seed, 0.5, pick);
    config.faults = vec![(files_testkit::proxy::Fault::CutBody, 1)];
    FaultProxy::start(upstream, config)
        .await
        .expect("the proxy")
}

/// Stores a seeded body at `key` with `direct` (not through the proxy), then
/// [`check_cut_downloads`] through `through` (whose proxy cuts bodies), and checks that the
/// proxy cut some.
pub async fn cut_downloads_suite(
    direct: &files::Files,
    through: &files::Files,
    proxy: &FaultProxy,
    key: &str,
    seed: u64,
) {
    let body = random_bytes(seed, (3 << 20) + 4321);
    direct
        .upload(key, files::Body::from_bytes(body.clone()))
        .await
        .unwrap();
    let through = through.clone().with_retry(retry());
    check_cut_downloads(&through, key, &body, 700_000..2_900_000, seed).await;
    let cuts = proxy.log().len();
    eprintln!("{cuts} download bodies cut (seed {seed:#x})");
    assert!(cuts >= 3, "only {cuts} bodies were cut: {:?}", proxy.log());
}

/// Downloads `key` (holding `body`) six times whole and once as `range` through a proxy that
/// cuts download bodies; each must yield exactly the object's bytes (SHA-256).
pub async fn check_cut_downloads(
    files: &files::Files,
    key: &str,
    body: &[u8],
    range: std::ops::Range<u64>,
    seed: u64,
) {
    let want = sha256_hex(body);
    for round in 0..6 {
        let got = files.download(key).await;
        let got = got.unwrap().bytes().await;
        let got = got.unwrap_or_else(|e| panic!("round {round} (seed {seed:#x}): {e}"));
        assert_eq!(sha256_hex(&got), want, "round {round} (seed {seed:#x})");
    }
    let got = files.download(key).range(range.clone()).await;
    let got = got.unwrap().bytes().await.unwrap();
    let (start, end) = (range.start as usize, range.end as usize);
    assert_eq!(
        sha256_hex(&got),
        sha256_hex(&body[start..end]),
        "the range {range:?} (seed {seed:#x})"
    );
}
