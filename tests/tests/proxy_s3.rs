//! 200 seeded uploads to a real S3 server (moto) through the fault-injecting HTTP proxy
//! (`files_testkit::proxy`), with at least 20% of the part requests (`UploadPart`) faulted:
//! connections reset mid-body, 500 / 503 / `SlowDown` answers, stalls past the request
//! timeout, answers cut after the part landed, delays. Every upload must end with the object
//! byte-identical to its body (SHA-256 of what moto holds, asked directly, not through the
//! proxy), and the run reports the retries it took.
//!
//! Downloads through the same proxy have their bodies cut half-way (head sent, half the body,
//! connection reset): each must still yield the object byte for byte.
//!
//! A failure names the seed; `FILES_PROXY_SEED` replays a run, `FILES_PROXY_UPLOADS` changes
//! the count for a quick local run.

use crate::proxy_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use files::{Body, Files, RetryPolicy};
use files_s3::S3Adapter;
use files_testkit::proxy::{Fault, FaultProxy, ProxyConfig};
use files_testkit::servers::{ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, moto_or_skip};
use files_testkit::util::{random_bytes, sha256_hex};
use futures::StreamExt;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_faulted_s3_uploads_land_byte_identical() {
    let moto = files_testkit::require_server!(moto_or_skip());
    let bucket = moto.new_bucket("proxy").expect("a bucket");
    let seed = env_u64("FILES_PROXY_SEED", 0x5EED_F11E5);
    let uploads = env_u64("FILES_PROXY_UPLOADS", 200);
    let upstream: SocketAddr = format!("127.0.0.1:{}", moto.port()).parse().unwrap();
    let mut config = ProxyConfig::all_faults(seed, 0.25, |head| {
        head.method == "PUT" && head.target.contains("partNumber=")
    });
    config.stall = Duration::from_secs(6);
    let proxy = FaultProxy::start(upstream, config)
        .await
        .expect("the proxy");
    let adapter = S3Adapter::builder()
        .bucket(&bucket)
        .region(REGION)
        .endpoint(proxy.endpoint())
        .path_style(true)
        .credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
        .build()
        .unwrap();
    let files = Arc::new(Files::new(adapter));
    let direct = Files::new(
        S3Adapter::builder()
            .bucket(&bucket)
            .region(REGION)
            .endpoint(moto.endpoint())
            .path_style(true)
            .credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
            .build()
            .unwrap(),
    );
    let retry = RetryPolicy {
        max_retries: 30,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(200),
        deadline: Duration::from_secs(300),
    };
    const PART: usize = 5 << 20;

    // Four uploads at a time, so that stalls overlap; each verified and deleted as it ends.
    let results: Vec<(u64, u64)> = futures::stream::iter(0..uploads)
        .map(|i| {
            let files = files.clone();
            let direct = &direct;
            let bucket = bucket.clone();
            async move {
                let body = random_bytes(seed ^ i, PART + 1024 + i as usize);
                let key = format!("faulted/{i}.bin");
                let out = files
                    .upload(&key, Body::from_bytes(body.clone()))
                    .part_size(PART as u64)
                    .concurrency(2)
                    .retry(retry)
                    .timeout(Duration::from_secs(5))
                    .await
                    .unwrap_or_else(|e| panic!("upload {i} (seed {seed:#x}) failed: {e}"));
                let stored = moto
                    .get_object(&bucket, &key)
                    .expect("GET from moto")
                    .unwrap_or_else(|| panic!("upload {i}: no object"));
                assert_eq!(
                    sha256_hex(&stored),
                    sha256_hex(&body),
                    "upload {i} (seed {seed:#x}): the object differs from the body"
                );
                direct.delete(&key).await.unwrap();
                (out.retries, out.parts_sent)
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;

    let retries: u64 = results.iter().map(|r| r.0).sum();
    let stats = proxy.stats();
    let picked = stats.picked.load(std::sync::atomic::Ordering::Relaxed);
    let failures = stats.failures.load(std::sync::atomic::Ordering::Relaxed);
    let faulted = proxy.log().len() as u64;
    eprintln!(
        "proxy run (seed {seed:#x}): {uploads} uploads, {picked} part requests, {faulted} faulted \
         ({:.0}%), {failures} seen as failures, {retries} retries; by kind: {:?}",
        100.0 * faulted as f64 / picked.max(1) as f64,
        proxy.counts()
    );
    assert_eq!(results.len() as u64, uploads);
    assert!(
        faulted * 5 >= picked,
        "fewer than 20% of the part requests were faulted ({faulted} of {picked})"
    );
    // Every failure the client saw cost at least one retry (a cut answer may cost more).
    assert!(
        retries >= failures,
        "{retries} retries for {failures} injected failures"
    );
}

/// Single-stream downloads whose bodies moto's answers are cut half-way through by the proxy
/// (half the GETs: head and half the body sent, then the connection reset) yield the object
/// byte for byte, whole, ranged and into a file: the client asks for the rest as a range.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_downloads_cut_mid_body_resume_byte_identical() {
    let moto = files_testkit::require_server!(moto_or_skip());
    let bucket = moto.new_bucket("proxy-get").expect("a bucket");
    let seed = env_u64("FILES_PROXY_SEED", 0xC07_B0D1);
    let upstream: SocketAddr = format!("127.0.0.1:{}", moto.port()).parse().unwrap();
    let mut config = ProxyConfig::all_faults(seed, 0.5, |head| head.method == "GET");
    config.faults = vec![(Fault::CutBody, 1)];
    let proxy = FaultProxy::start(upstream, config)
        .await
        .expect("the proxy");
    let client = |endpoint: String| {
        Files::new(
            S3Adapter::builder()
                .bucket(&bucket)
                .region(REGION)
                .endpoint(endpoint)
                .path_style(true)
                .credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
                .build()
                .unwrap(),
        )
        .with_retry(RetryPolicy {
            max_retries: 10,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
            deadline: Duration::from_secs(60),
        })
    };
    let (files, direct) = (
        client(proxy.endpoint()),
        client(moto.endpoint().to_string()),
    );
    let body = random_bytes(seed, (6 << 20) + 4321);
    direct
        .upload("cut/obj.bin", Body::from_bytes(body.clone()))
        .await
        .unwrap();
    proxy_common::check_cut_downloads(&files, "cut/obj.bin", &body, 1_000_000..5_000_000, seed)
        .await;
    let want = sha256_hex(&body);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("obj.bin");
    let n = files.download("cut/obj.bin").await.unwrap().to_file(&path);
    assert_eq!(n.await.unwrap(), body.len() as u64);
    assert_eq!(sha256_hex(&std::fs::read(&path).unwrap()), want, "the file");
    let cuts = proxy.log().len();
    eprintln!("{cuts} download bodies cut (seed {seed:#x})");
    assert!(cuts >= 4, "only {cuts} bodies were cut: {:?}", proxy.log());
}
