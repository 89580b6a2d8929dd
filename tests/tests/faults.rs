//! Uploads through a hostile provider: every adapter under `FaultyAdapter`, with seeded faults
//! of every kind (failed before sending, landed but answer lost, half-landed appends, stalls
//! cut by the per-request timeout, ambiguous completes), must end with the object
//! byte-identical to the body. Non-transient faults are not retried.
//!
//! 200 seeded uploads per adapter: each of ten tests runs a group of 20 seeds, ten at a
//! time, so nextest spreads them over the cores and stalls overlap.

use std::sync::Arc;
use std::time::Duration;

use files::fs::FsAdapter;
use files::memory::MemoryAdapter;
use files::{Adapter, Body, CancellationToken, ErrorKind, Files, RetryPolicy, UploadControl};
use files_testkit::util::{assert_object_eq, random_bytes, unique_prefix};
use files_testkit::{FaultConfig, FaultCounts, FaultyAdapter};

const PART: u64 = 64 * 1024;
/// Per-request timeout of faulted uploads: stalls (10 s) are cut after this.
const TIMEOUT: Duration = Duration::from_millis(400);
/// Probability that a part request is faulted.
const RATE: f64 = 0.45;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Fs,
    Memory,
}

/// An adapter over a fresh store, and what keeps that store alive.
fn store(kind: Kind) -> (Arc<dyn Adapter>, Option<tempfile::TempDir>) {
    match kind {
        Kind::Fs => {
            let dir = tempfile::tempdir().expect("tempdir");
            let a = FsAdapter::new(dir.path()).expect("fs adapter");
            (Arc::new(a), Some(dir))
        }
        Kind::Memory => {
            let name = format!("faults-{}", unique_prefix("m").replace('/', "-"));
            (Arc::new(MemoryAdapter::named(name)), None)
        }
    }
}

/// Fast backoff, and enough retries to outlast `max_faults_per_request` on the parts family
/// and runs of consecutive faulted appends (which the offset scheduler counts together, see
/// the report) on the offset family.
fn retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 20,
        initial_backoff: Duration::from_millis(2),
        max_backoff: Duration::from_millis(40),
        deadline: Duration::from_secs(120),
    }
}

fn mixed(seed: u64) -> FaultConfig {
    FaultConfig {
        stall_for: Duration::from_secs(10),
        ..FaultConfig::mixed(seed, RATE)
    }
}

fn body_for(seed: u64) -> Vec<u8> {
    let len = (1 << 20) + (seed.wrapping_mul(7919) % PART) as usize + 1;
    random_bytes(seed, len)
}

#[derive(Default, Debug)]
struct Totals {
    uploads: u64,
    retries: u64,
    counts: Vec<FaultCounts>,
}

impl Totals {
    fn sum(&self, f: impl Fn(&FaultCounts) -> u64) -> u64 {
        self.counts.iter().map(f).sum()
    }
}

/// Uploads one seeded body through a `FaultyAdapter` and checks the object byte for byte.
async fn faulted_upload(inner: &Arc<dyn Adapter>, seed: u64, config: FaultConfig, t: &mut Totals) {
    let faulty = Arc::new(FaultyAdapter::new(inner.clone(), config));
    let files = Files::from_arc(faulty.clone());
    let body = body_for(seed);
    let key = format!("{}obj", unique_prefix(&format!("seed-{seed}")));
    let out = files
        .upload(&key, Body::from_bytes(body.clone()))
        .part_size(PART)
        .concurrency(4)
        .timeout(TIMEOUT)
        .retry(retry())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "seed {seed}: upload under faults failed: {e}; counts {:?}",
                faulty.counts()
            )
        });
    assert_eq!(out.meta.size, body.len() as u64, "seed {seed}: size");
    assert_object_eq(&Files::from_arc(inner.clone()), &key, &body).await;
    t.uploads += 1;
    t.retries += out.retries;
    t.counts.push(faulty.counts());
}

/// Seeds a group runs at a time: the uploads mostly wait (stalls end at the timeout).
const GROUP_PARALLEL: usize = 10;

async fn seeded_group(kind: Kind, seeds: std::ops::Range<u64>) {
    use futures::StreamExt;
    let (inner, _dir) = store(kind);
    let mut t = Totals::default();
    let inner = &inner;
    let each: Vec<Totals> = futures::stream::iter(seeds.clone())
        .map(|seed| async move {
            let mut one = Totals::default();
            faulted_upload(inner, seed, mixed(seed), &mut one).await;
            one
        })
        .buffer_unordered(GROUP_PARALLEL)
        .collect()
        .await;
    for one in each {
        t.uploads += one.uploads;
        t.retries += one.retries;
        t.counts.extend(one.counts);
    }
    assert_eq!(t.uploads, seeds.end - seeds.start, "{kind:?}: uploads");
    let requests = t.sum(|c| c.part_requests);
    let faults = t.sum(|c| c.part_faults());
    assert!(faults > 0, "{kind:?}: no fault was injected: {t:?}");
    assert!(
        faults as f64 >= 0.2 * requests as f64,
        "{kind:?}: only {faults} of {requests} part requests were faulted (< 20%)"
    );
    assert!(
        t.retries > 0,
        "{kind:?}: faults were injected but no upload reports a retry: {t:?}"
    );
}

/// Seeds per test: ten tests per adapter make 200 seeded uploads.
const SEEDS_PER_TEST: u64 = 20;

macro_rules! seeded_tests {
    ($($name:ident: $kind:expr, $from:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            seeded_group($kind, $from..$from + SEEDS_PER_TEST).await;
        }
    )*};
}

seeded_tests! {
    fs_seeds_000: Kind::Fs, 0;
    fs_seeds_020: Kind::Fs, 20;
    fs_seeds_040: Kind::Fs, 40;
    fs_seeds_060: Kind::Fs, 60;
    fs_seeds_080: Kind::Fs, 80;
    fs_seeds_100: Kind::Fs, 100;
    fs_seeds_120: Kind::Fs, 120;
    fs_seeds_140: Kind::Fs, 140;
    fs_seeds_160: Kind::Fs, 160;
    fs_seeds_180: Kind::Fs, 180;
    memory_seeds_000: Kind::Memory, 0;
    memory_seeds_020: Kind::Memory, 20;
    memory_seeds_040: Kind::Memory, 40;
    memory_seeds_060: Kind::Memory, 60;
    memory_seeds_080: Kind::Memory, 80;
    memory_seeds_100: Kind::Memory, 100;
    memory_seeds_120: Kind::Memory, 120;
    memory_seeds_140: Kind::Memory, 140;
    memory_seeds_160: Kind::Memory, 160;
    memory_seeds_180: Kind::Memory, 180;
}

/// With a high rate, every fault kind the family supports is injected, and uploads still end
/// byte-identical.
async fn every_kind(kind: Kind) {
    let (inner, _dir) = store(kind);
    let mut t = Totals::default();
    for seed in 100..103 {
        let config = FaultConfig {
            ambiguous_complete: 1.0,
            ..FaultConfig {
                stall_for: Duration::from_secs(10),
                ..FaultConfig::mixed(seed, RATE)
            }
        };
        faulted_upload(&inner, seed, config, &mut t).await;
    }
    assert!(t.sum(|c| c.injected_before) > 0, "{kind:?}: {t:?}");
    assert!(t.sum(|c| c.injected_after) > 0, "{kind:?}: {t:?}");
    assert!(t.sum(|c| c.injected_stall) > 0, "{kind:?}: {t:?}");
    assert_eq!(
        t.sum(|c| c.injected_ambiguous),
        3,
        "{kind:?}: one ambiguous complete per upload: {t:?}"
    );
    if matches!(kind, Kind::Fs) {
        assert!(t.sum(|c| c.injected_partial) > 0, "{kind:?}: {t:?}");
    }
    assert!(t.retries > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_every_fault_kind() {
    every_kind(Kind::Fs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_every_fault_kind() {
    every_kind(Kind::Memory).await;
}

/// A non-transient error (unauthorized) is not retried: exactly one request reaches the
/// provider, whether the fault hits before or after delegating.
async fn unauthorized_not_retried(kind: Kind) {
    let (inner, _dir) = store(kind);
    for after in [false, true] {
        let config = FaultConfig {
            fail_before: if after { 0.0 } else { 1.0 },
            fail_after: if after { 1.0 } else { 0.0 },
            error_kind: ErrorKind::Unauthorized,
            ..FaultConfig::none()
        };
        let faulty = Arc::new(FaultyAdapter::new(inner.clone(), config));
        let files = Files::from_arc(faulty.clone());
        let key = format!("{}obj", unique_prefix("unauthorized"));
        let err = files
            .upload(&key, Body::from_bytes(body_for(1)))
            .part_size(PART)
            .concurrency(1)
            .retry(retry())
            .await
            .expect_err("an unauthorized part must fail the upload");
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{kind:?}: {err}");
        let c = faulty.counts();
        assert_eq!(
            c.part_requests, 1,
            "{kind:?} (fault after: {after}): an unauthorized request was retried: {c:?}"
        );
        assert_eq!(
            c.inner_part_calls,
            u64::from(after),
            "{kind:?}: inner calls: {c:?}"
        );
        assert_eq!(c.completes, 0, "{kind:?}: completed despite a failed part");
        assert!(
            !files.exists(&key).await.unwrap(),
            "{kind:?}: object exists"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_unauthorized_is_not_retried() {
    unauthorized_not_retried(Kind::Fs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_unauthorized_is_not_retried() {
    unauthorized_not_retried(Kind::Memory).await;
}

/// `complete` (or `finish`) succeeds at the provider but its answer is lost: the upload still
/// ends with the right object, and complete is not blindly called again.
async fn ambiguous_complete(kind: Kind) {
    let (inner, _dir) = store(kind);
    let config = FaultConfig {
        ambiguous_complete: 1.0,
        ..FaultConfig::none()
    };
    let faulty = Arc::new(FaultyAdapter::new(inner.clone(), config));
    let files = Files::from_arc(faulty.clone());
    let body = body_for(3);
    let key = format!("{}obj", unique_prefix("ambiguous"));
    let out = files
        .upload(&key, Body::from_bytes(body.clone()))
        .part_size(PART)
        .retry(retry())
        .timeout(TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{kind:?}: an ambiguous complete failed the upload: {e}"));
    assert_eq!(out.meta.size, body.len() as u64);
    let c = faulty.counts();
    assert_eq!(c.injected_ambiguous, 1, "{kind:?}: {c:?}");
    assert_eq!(
        c.completes, 1,
        "{kind:?}: complete was called again after it had succeeded: {c:?}"
    );
    assert_object_eq(&Files::from_arc(inner), &key, &body).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_ambiguous_complete() {
    ambiguous_complete(Kind::Fs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_ambiguous_complete() {
    ambiguous_complete(Kind::Memory).await;
}

/// An upload cancelled under faults resumes from its token under other faults, sending only
/// what did not land, and ends byte-identical.
async fn cancel_and_resume_under_faults(kind: Kind) {
    let (inner, _dir) = store(kind);
    let body = body_for(42);
    let total = body.len() as u64;
    let key = format!("{}obj", unique_prefix("cancel-resume"));
    let first = Arc::new(FaultyAdapter::new(inner.clone(), mixed(42)));
    let control = UploadControl::new();
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let err = Files::from_arc(first.clone())
        .upload(&key, Body::from_bytes(body.clone()))
        .part_size(PART)
        .concurrency(3)
        .timeout(TIMEOUT)
        .retry(retry())
        .control(control.clone())
        .cancellation(cancel)
        .on_progress(move |p| {
            if p.loaded >= total / 2 {
                trigger.cancel();
            }
        })
        .await
        .expect_err("cancelled");
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    let token = control.token().expect("a cancelled upload keeps its token");
    let second = Arc::new(FaultyAdapter::new(inner.clone(), mixed(43)));
    let out = Files::from_arc(second.clone())
        .upload(&key, Body::from_bytes(body.clone()))
        .timeout(TIMEOUT)
        .retry(retry())
        .control(UploadControl::from_token(token))
        .await
        .unwrap_or_else(|e| panic!("{kind:?}: resume under faults failed: {e}"));
    assert!(out.bytes_resumed > 0, "{kind:?}: nothing was resumed");
    assert_eq!(
        out.bytes_resumed + out.bytes_sent,
        total,
        "{kind:?}: {out:?}"
    );
    assert!(first.counts().part_faults() + second.counts().part_faults() > 0);
    assert_object_eq(&Files::from_arc(inner), &key, &body).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_cancel_and_resume_under_faults() {
    cancel_and_resume_under_faults(Kind::Fs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_cancel_and_resume_under_faults() {
    cancel_and_resume_under_faults(Kind::Memory).await;
}

/// The same seed injects the same faults: two runs of one upload (same key, one part at a
/// time, no stalls so no timing enters) see identical counters.
async fn deterministic(kind: Kind) {
    let (inner, _dir) = store(kind);
    let key = format!("{}obj", unique_prefix("determinism"));
    let body = body_for(9);
    let config = FaultConfig {
        stall: 0.0,
        ..mixed(9)
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let faulty = Arc::new(FaultyAdapter::new(inner.clone(), config.clone()));
        Files::from_arc(faulty.clone())
            .upload(&key, Body::from_bytes(body.clone()))
            .part_size(PART)
            .concurrency(1)
            .retry(retry())
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        runs.push((faulty.counts(), faulty.fault_log()));
    }
    assert!(runs[0].0.part_faults() > 0, "{kind:?}: {:?}", runs[0].0);
    assert_eq!(
        runs[0], runs[1],
        "{kind:?}: the same seed injected different faults"
    );
    let other = Arc::new(FaultyAdapter::new(
        inner.clone(),
        FaultConfig {
            stall: 0.0,
            ..mixed(10)
        },
    ));
    Files::from_arc(other.clone())
        .upload(&key, Body::from_bytes(body.clone()))
        .part_size(PART)
        .concurrency(1)
        .retry(retry())
        .await
        .unwrap();
    assert_ne!(
        other.fault_log(),
        runs[0].1,
        "{kind:?}: another seed injected exactly the same faults"
    );
    assert_object_eq(&Files::from_arc(inner), &key, &body).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_faults_are_deterministic_per_seed() {
    deterministic(Kind::Fs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_faults_are_deterministic_per_seed() {
    deterministic(Kind::Memory).await;
}

/// A provider that lands only part of every append, then drops the connection, still makes
/// progress on every request; the upload must complete. Each failed append is a different
/// request (a new offset), so a per-request retry budget is never exhausted.
///
/// Fails today: the offset engine counts failures consecutively across offsets and resets the
/// count only when an append answers successfully, not when the probe after a failure shows
/// progress; after `max_retries` half-landed appends the upload gives up (see the report).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_half_landed_appends_with_progress_complete() {
    let (inner, _dir) = store(Kind::Fs);
    let config = FaultConfig {
        seed: 5,
        partial_append: 1.0,
        ..FaultConfig::none()
    };
    let faulty = Arc::new(FaultyAdapter::new(inner.clone(), config));
    let body = random_bytes(5, 8 * PART as usize + 100);
    let key = format!("{}obj", unique_prefix("half-landed"));
    let out = Files::from_arc(faulty.clone())
        .upload(&key, Body::from_bytes(body.clone()))
        .part_size(PART)
        .retry(RetryPolicy {
            max_retries: 10,
            ..retry()
        })
        .await
        .unwrap_or_else(|e| {
            panic!(
                "every append made progress, yet the upload gave up: {e}; {:?}",
                faulty.counts()
            )
        });
    assert_eq!(out.meta.size, body.len() as u64);
    assert!(faulty.counts().injected_partial > 10);
    assert_object_eq(&Files::from_arc(inner), &key, &body).await;
}

/// Downloads whose bodies break off at a seeded point (every `get` is cut, each request
/// identity at most three times) still yield the object byte for byte: the client asks for
/// the rest from the first byte it has not yielded. Whole, ranged, into a file, and parallel.
async fn downloads_survive_cut_bodies(kind: Kind) {
    let (inner, _dir) = store(kind);
    let body = random_bytes(77, (3 << 20) + 12_345);
    let key = format!("{}obj", unique_prefix("cut-downloads"));
    Files::from_arc(inner.clone())
        .upload(&key, Body::from_bytes(body.clone()))
        .await
        .unwrap();
    let faulty = Arc::new(FaultyAdapter::new(
        inner.clone(),
        FaultConfig {
            seed: 77,
            cut_download: 1.0,
            ..FaultConfig::none()
        },
    ));
    let files = Files::from_arc(faulty.clone()).with_retry(retry());

    assert_object_eq(&files, &key, &body).await;
    let whole_cuts = faulty.counts().injected_cut;
    assert!(whole_cuts >= 3, "{kind:?}: {:?}", faulty.counts());

    let part = files
        .download(&key)
        .range(1_000_000..2_500_000)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(part[..] == body[1_000_000..2_500_000], "{kind:?}: range");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out");
    let n = files.download(&key).await.unwrap().to_file(&path).await;
    assert_eq!(n.unwrap(), body.len() as u64);
    assert!(std::fs::read(&path).unwrap() == body, "{kind:?}: file");

    let parallel = files
        .download(&key)
        .concurrency(3)
        .chunk_size(1 << 20)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(parallel[..] == body[..], "{kind:?}: parallel");
    assert!(faulty.counts().injected_cut > whole_cuts, "{kind:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_downloads_survive_cut_bodies() {
    downloads_survive_cut_bodies(Kind::Fs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_downloads_survive_cut_bodies() {
    downloads_survive_cut_bodies(Kind::Memory).await;
}
