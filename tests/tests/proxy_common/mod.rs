//! What the proxy suites (`proxy_*.rs`) share: the seed and count overrides, the retry policy,
//! the driver that runs seeded uploads a few at a time, and the report with its checks.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use files::{RetryPolicy, UploadOutcome};
use files_testkit::proxy::FaultProxy;
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

impl Tally {
    /// The tally of an HTTP proxy run.
    pub fn of_http(
        name: &'static str,
        seed: u64,
        uploads: u64,
        proxy: &FaultProxy,
        outcomes: &[UploadOutcome],
    ) -> Tally {
        let stats = proxy.stats();
        Tally {
            name,
            seed,
            uploads,
            landed: outcomes.len() as u64,
            picked: stats.picked.load(Ordering::Relaxed),
            faulted: proxy.log().len() as u64,
            failures: stats.failures.load(Ordering::Relaxed),
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
