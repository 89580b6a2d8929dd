//! 200 seeded uploads to Azurite through the fault-injecting HTTP proxy
//! (`files_testkit::proxy`), with at least 20% of the part requests (Put Block, `comp=block`)
//! faulted: connections reset mid-body, `500 InternalError` / `500 OperationTimedOut` /
//! `503 ServerBusy` answers, stalls past the request timeout, answers cut after the block
//! landed, delays. Every upload must end with the blob byte-identical to its body (SHA-256 of
//! what Azurite holds, asked directly, not through the proxy), and the run reports the retries
//! it took. Then: a wrong key is `Unauthorized` after exactly one request (no retry).
//!
//! A failure names the seed; `FILES_PROXY_SEED` replays a run, `FILES_PROXY_UPLOADS` changes
//! the count for a quick local run.

use crate::proxy_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use files::{Body, ErrorKind, Files};
use files_azure::AzureAdapter;
use files_testkit::azurite::{ACCOUNT, ACCOUNT_KEY, azurite_or_skip};
use files_testkit::proxy::{ErrorDialect, Fault, FaultProxy, ProxyConfig, RequestHead};
use files_testkit::util::{random_bytes, sha256_hex};
use proxy_common::{Tally, blocking, faults_on, query_param, retry, run_uploads, upload_or_panic};

const PART: usize = 64 << 10;
/// Per-request timeout; stalls last longer.
const TIMEOUT: Duration = Duration::from_secs(2);

fn adapter(endpoint: &str, container: &str, key: &str) -> AzureAdapter {
    AzureAdapter::builder()
        .account(ACCOUNT)
        .endpoint(format!("{endpoint}/{ACCOUNT}"))
        .access_key(key)
        .container(container)
        .build()
        .expect("an Azure adapter")
}

/// A Put Block of a part: the adapter's session marker (block 0, staged by `begin`) is one
/// byte long; part blocks are longer (the bodies below are sized so).
fn is_part_block(head: &RequestHead) -> bool {
    head.method == "PUT"
        && query_param(&head.target, "comp") == Some("block")
        && head.content_length().unwrap_or(0) > 1
}

/// The Put Block that stages the session marker (what `begin` sends).
fn is_marker_block(head: &RequestHead) -> bool {
    head.method == "PUT"
        && query_param(&head.target, "comp") == Some("block")
        && head.content_length() == Some(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_faulted_azure_uploads_land_byte_identical() {
    let az = files_testkit::require_server!(azurite_or_skip());
    let container = az.new_container("proxy").expect("a container");
    let seed = proxy_common::seed(0xA2_0E5EED);
    let uploads = proxy_common::uploads(200);
    let upstream: SocketAddr = format!("127.0.0.1:{}", az.port()).parse().unwrap();
    let mut config = ProxyConfig::all_faults_for(ErrorDialect::Azure, seed, 0.25, is_part_block);
    config.stall = TIMEOUT + Duration::from_millis(500);
    let proxy = FaultProxy::start(upstream, config)
        .await
        .expect("the proxy");
    let files = Arc::new(Files::new(adapter(
        &proxy.endpoint(),
        &container,
        ACCOUNT_KEY,
    )));

    let outcomes = run_uploads(uploads, 4, |i| {
        let files = files.clone();
        let container = container.clone();
        let proxy = &proxy;
        async move {
            let body = random_bytes(seed ^ i, 3 * PART + 2 + (i as usize * 997) % PART);
            let key = format!("faulted/{i}.bin");
            let out = upload_or_panic(&files, &key, &body, PART, 2, TIMEOUT, || {
                format!(
                    "upload {i} (seed {seed:#x}); faults injected on it: {:?}",
                    faults_on(proxy, &key)
                )
            })
            .await;
            let stored = blocking(|| az.get_blob(&container, &key))
                .expect("GET from Azurite")
                .unwrap_or_else(|| panic!("upload {i} (seed {seed:#x}): no blob"));
            assert_eq!(
                sha256_hex(&stored),
                sha256_hex(&body),
                "upload {i} (seed {seed:#x}): the blob differs from the body"
            );
            out
        }
    })
    .await;
    Tally::of("azure", seed, uploads, &proxy, &outcomes).report_and_check("Put Block requests");
}

/// A wrong account key is `Unauthorized` after exactly one request: the proxy (which injects
/// nothing here) counts what reaches the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_fails_after_exactly_one_request() {
    let az = files_testkit::require_server!(azurite_or_skip());
    let container = az.new_container("proxy-auth").expect("a container");
    let upstream: SocketAddr = format!("127.0.0.1:{}", az.port()).parse().unwrap();
    let proxy = FaultProxy::start(
        upstream,
        ProxyConfig::all_faults_for(ErrorDialect::Azure, 1, 0.0, |_| false),
    )
    .await
    .expect("the proxy");
    // A valid base64 key that is not the account's.
    let wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==";
    let files = Files::new(adapter(&proxy.endpoint(), &container, wrong));
    // Small enough for one request, then large enough for a parts upload.
    for len in [1000, 3 * PART] {
        let before = proxy.stats().requests.load(Ordering::Relaxed);
        let err = files
            .upload("denied.bin", Body::from_bytes(random_bytes(7, len)))
            .part_size(PART as u64)
            .retry(retry())
            .timeout(TIMEOUT)
            .await
            .expect_err("a wrong key must fail the upload");
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{len} bytes: {err}");
        assert!(!err.is_retryable(), "{err}");
        let requests = proxy.stats().requests.load(Ordering::Relaxed) - before;
        assert_eq!(
            requests, 1,
            "{len} bytes: an unauthorized request was retried ({requests} requests)"
        );
    }
    let err = files.head("denied.bin").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert_eq!(
        blocking(|| az.get_blob(&container, "denied.bin")).unwrap(),
        None
    );
}

/// One `503 ServerBusy` on the request that starts the session (the marker block `begin`
/// stages) costs a retry, not the upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_session_start_is_retried() {
    let az = files_testkit::require_server!(azurite_or_skip());
    let container = az.new_container("proxy-begin").expect("a container");
    let upstream: SocketAddr = format!("127.0.0.1:{}", az.port()).parse().unwrap();
    let mut config = ProxyConfig::all_faults_for(ErrorDialect::Azure, 3, 1.0, is_marker_block);
    config.faults = vec![(Fault::Status(503, "ServerBusy"), 1)];
    config.max_faults = Some(1);
    let proxy = FaultProxy::start(upstream, config)
        .await
        .expect("the proxy");
    let files = Files::new(adapter(&proxy.endpoint(), &container, ACCOUNT_KEY));
    let body = random_bytes(3, 3 * PART + 5);
    let out = files
        .upload("begin.bin", Body::from_bytes(body.clone()))
        .part_size(PART as u64)
        .retry(retry())
        .timeout(TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("one throttled session start failed the upload: {e}"));
    assert_eq!(proxy.log().len(), 1, "{:?}", proxy.log());
    assert!(out.retries >= 1, "{out:?}");
    let stored = blocking(|| az.get_blob(&container, "begin.bin")).unwrap();
    assert_eq!(stored.map(|s| sha256_hex(&s)), Some(sha256_hex(&body)));
}

/// Blob reads whose bodies the proxy cuts half-way still yield the blob byte for byte (the
/// client asks for the rest with a ranged Get Blob, after checking the ETag).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_downloads_cut_mid_body_resume_byte_identical() {
    let az = files_testkit::require_server!(azurite_or_skip());
    let container = az.new_container("proxy-get").expect("a container");
    let seed = proxy_common::seed(0xA2_C07);
    let upstream: SocketAddr = format!("127.0.0.1:{}", az.port()).parse().unwrap();
    let proxy = proxy_common::body_cutting_proxy(upstream, seed, |h| {
        h.method == "GET" && query_param(&h.target, "comp").is_none()
    })
    .await;
    let direct = Files::new(adapter(
        &format!("http://{upstream}"),
        &container,
        ACCOUNT_KEY,
    ));
    let through = Files::new(adapter(&proxy.endpoint(), &container, ACCOUNT_KEY));
    proxy_common::cut_downloads_suite(&direct, &through, &proxy, "cut/blob.bin", seed).await;
}
