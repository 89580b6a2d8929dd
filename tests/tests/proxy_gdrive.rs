//! 200 seeded uploads to the fake Drive server (`files_fakes::gdrive::FakeDrive`) through
//! the fault-injecting HTTP proxy (`files_testkit::proxy`), with at least 20% of the part
//! requests (the resumable session's chunk `PUT`s) faulted: connections reset mid-body,
//! `500` / `503` `backendError` and `429 rateLimitExceeded` answers, stalls past the request
//! timeout, answers cut after the chunk landed, delays. The proxy rewrites the session URL the
//! server returns (`Location`) so every chunk goes through it. Every upload must end with
//! exactly one file of that name, byte-identical to its body (SHA-256 of what the fake holds,
//! read in-process, not through the proxy), and the run reports the retries it took. Then: a
//! wrong token is `Unauthorized` after exactly one request.
//!
//! A failure names the seed; `FILES_PROXY_SEED` replays a run, `FILES_PROXY_UPLOADS` changes
//! the count for a quick local run.

use crate::proxy_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use files::{Body, ErrorKind, Files};
use files_fakes::gdrive::FakeDrive;
use files_gdrive::GDriveAdapter;
use files_testkit::proxy::{ErrorDialect, FaultProxy, ProxyConfig, RequestHead};
use files_testkit::util::{random_bytes, sha256_hex};
use proxy_common::{Tally, query_param, retry, run_uploads, upload_or_panic};

const TOKEN: &str = "ya29.proxy-test-token";
/// Drive chunks are multiples of 256 KiB.
const CHUNK: usize = 256 << 10;
/// Per-request timeout; stalls last longer.
const TIMEOUT: Duration = Duration::from_secs(2);

/// A chunk of a resumable session: a `PUT` to the session URL that carries bytes (a status
/// query, `Content-Range: bytes */T`, carries none).
fn is_chunk(head: &RequestHead) -> bool {
    head.method == "PUT"
        && query_param(&head.target, "upload_id").is_some()
        && head.content_length().unwrap_or(0) > 0
}

fn adapter(endpoint: &str, token: &str, root: &str) -> GDriveAdapter {
    GDriveAdapter::builder()
        .endpoint(endpoint)
        .access_token(token)
        .root_folder(root)
        .build()
        .expect("a Drive adapter")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_faulted_gdrive_uploads_land_byte_identical() {
    let drive = FakeDrive::start(TOKEN).expect("the fake Drive server");
    let root = drive.create_folder("root", "proxy-root");
    let seed = proxy_common::seed(0xD_21E5EED);
    let uploads = proxy_common::uploads(200);
    let upstream = upstream(&drive);
    let mut config = ProxyConfig::all_faults_for(ErrorDialect::Google, seed, 0.25, is_chunk);
    config.stall = TIMEOUT + Duration::from_millis(500);
    let proxy = FaultProxy::start(upstream, config)
        .await
        .expect("the proxy");
    let files = Arc::new(Files::new(adapter(&proxy.endpoint(), TOKEN, &root)));
    // Deletes each verified file (not through the proxy), so lookups stay small.
    let direct = Files::new(adapter(&drive.endpoint(), TOKEN, &root));

    let outcomes = run_uploads(uploads, 4, |i| {
        let files = files.clone();
        let (drive, root, proxy, direct) = (&drive, &root, &proxy, &direct);
        async move {
            let body = random_bytes(seed ^ i, 3 * CHUNK + 1 + (i as usize * 7919) % CHUNK);
            let key = format!("faulted-{i}.bin");
            let out = upload_or_panic(&files, &key, &body, CHUNK, 1, TIMEOUT, || {
                format!(
                    "upload {i} (seed {seed:#x}); {} faults injected so far",
                    proxy.log().len()
                )
            })
            .await;
            let stored = drive.files_named(root, &key);
            assert_eq!(
                stored.len(),
                1,
                "upload {i} (seed {seed:#x}): {} files named {key}",
                stored.len()
            );
            assert_eq!(
                sha256_hex(&stored[0].1),
                sha256_hex(&body),
                "upload {i} (seed {seed:#x}): the file differs from the body"
            );
            assert!(
                drive.open_sessions(&key).is_empty(),
                "upload {i} (seed {seed:#x}): a session is left open"
            );
            direct.delete(&key).await.expect("delete the verified file");
            out
        }
    })
    .await;
    Tally::of("gdrive", seed, uploads, &proxy, &outcomes).report_and_check("chunk requests");
}

fn upstream(drive: &FakeDrive) -> SocketAddr {
    let endpoint = drive.endpoint();
    endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("the fake's endpoint {endpoint}: {e}"))
}

/// A wrong token is `Unauthorized` after exactly one request, for an upload and a download:
/// the proxy (which injects nothing here) counts what reaches the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_fails_after_exactly_one_request() {
    let drive = FakeDrive::start(TOKEN).expect("the fake Drive server");
    let root = drive.create_folder("root", "proxy-auth");
    let proxy = FaultProxy::start(
        upstream(&drive),
        ProxyConfig::all_faults_for(ErrorDialect::Google, 1, 0.0, |_| false),
    )
    .await
    .expect("the proxy");
    let files =
        Files::new(adapter(&proxy.endpoint(), "ya29.not-the-token", &root)).with_retry(retry());
    let before = proxy.stats().requests.load(Ordering::Relaxed);
    let err = files
        .upload("denied.bin", Body::from_bytes(random_bytes(9, 3 * CHUNK)))
        .part_size(CHUNK as u64)
        .retry(retry())
        .timeout(TIMEOUT)
        .await
        .expect_err("a wrong token must fail the upload");
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(!err.is_retryable(), "{err}");
    let requests = proxy.stats().requests.load(Ordering::Relaxed) - before;
    assert_eq!(
        requests, 1,
        "an unauthorized upload was retried ({requests} requests)"
    );
    assert!(drive.files_named(&root, "denied.bin").is_empty());
}

/// File downloads (`alt=media`) whose bodies the proxy cuts half-way still yield the file byte
/// for byte (the client asks for the rest with a `Range` request, after checking the version).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdrive_downloads_cut_mid_body_resume_byte_identical() {
    let drive = FakeDrive::start(TOKEN).expect("the fake Drive server");
    let root = drive.create_folder("root", "proxy-get");
    let seed = proxy_common::seed(0xD_21C07);
    let proxy = proxy_common::body_cutting_proxy(upstream(&drive), seed, |h| {
        h.method == "GET" && query_param(&h.target, "alt") == Some("media")
    })
    .await;
    let direct = Files::new(adapter(&drive.endpoint(), TOKEN, &root));
    let through = Files::new(adapter(&proxy.endpoint(), TOKEN, &root));
    proxy_common::cut_downloads_suite(&direct, &through, &proxy, "cut/file.bin", seed).await;
}
