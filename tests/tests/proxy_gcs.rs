//! 200 seeded uploads to the fake GCS server (`files_fakes::gcs::FakeGcs`) through the
//! fault-injecting HTTP proxy (`files_testkit::proxy`), with at least 20% of the part requests
//! (the resumable session's chunk `PUT`s) faulted: connections reset mid-body, `500` / `503`
//! `backendError` and `429 rateLimitExceeded` answers, stalls past the request timeout,
//! answers cut after the chunk landed, delays. The proxy rewrites the session URL the server
//! returns (`Location`) so every chunk goes through it. Every upload must end with the object
//! byte-identical to its body (SHA-256 of what the fake holds, read in-process, not through
//! the proxy), and the run reports the retries it took.
//!
//! A failure names the seed; `FILES_PROXY_SEED` replays a run, `FILES_PROXY_UPLOADS` changes
//! the count for a quick local run.

use crate::proxy_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use files::Files;
use files_fakes::gcs::FakeGcs;
use files_gcs::GcsAdapter;
use files_testkit::proxy::{ErrorDialect, FaultProxy, ProxyConfig, RequestHead};
use files_testkit::util::{random_bytes, sha256_hex};
use proxy_common::{Tally, faults_on, query_param, run_uploads, upload_or_panic};

/// GCS chunks are multiples of 256 KiB.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_faulted_gcs_uploads_land_byte_identical() {
    let fake = FakeGcs::start().expect("the fake GCS server");
    let bucket = fake.new_bucket("proxy");
    let seed = proxy_common::seed(0x6C5_5EED);
    let uploads = proxy_common::uploads(200);
    let upstream: SocketAddr = format!("127.0.0.1:{}", fake.port()).parse().unwrap();
    let mut config = ProxyConfig::all_faults_for(ErrorDialect::Google, seed, 0.25, is_chunk);
    config.stall = TIMEOUT + Duration::from_millis(500);
    let proxy = FaultProxy::start(upstream, config)
        .await
        .expect("the proxy");
    let files = Arc::new(Files::new(
        GcsAdapter::builder()
            .bucket(&bucket)
            .ignore_env()
            .endpoint(proxy.endpoint())
            .anonymous()
            .build()
            .expect("a GCS adapter"),
    ));

    let outcomes = run_uploads(uploads, 4, |i| {
        let files = files.clone();
        let (fake, bucket, proxy) = (&fake, &bucket, &proxy);
        async move {
            let body = random_bytes(seed ^ i, 3 * CHUNK + 1 + (i as usize * 7919) % CHUNK);
            let key = format!("faulted/{i}.bin");
            let out = upload_or_panic(&files, &key, &body, CHUNK, 1, TIMEOUT, || {
                format!(
                    "upload {i} (seed {seed:#x}); faults injected: {:?}",
                    faults_on(proxy, &format!("name=faulted%2F{i}.bin"))
                )
            })
            .await;
            let stored = fake
                .object(bucket, &key)
                .unwrap_or_else(|| panic!("upload {i} (seed {seed:#x}): no object"));
            assert_eq!(
                sha256_hex(&stored),
                sha256_hex(&body),
                "upload {i} (seed {seed:#x}): the object differs from the body"
            );
            assert!(
                fake.open_sessions(bucket, &key).is_empty(),
                "upload {i} (seed {seed:#x}): a session is left open"
            );
            out
        }
    })
    .await;
    Tally::of("gcs", seed, uploads, &proxy, &outcomes).report_and_check("chunk requests");
}

/// Media downloads whose bodies the proxy cuts half-way still yield the object byte for byte
/// (the client asks for the rest with a `Range` request, after checking the ETag).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_downloads_cut_mid_body_resume_byte_identical() {
    let fake = FakeGcs::start().expect("the fake GCS server");
    let bucket = fake.new_bucket("proxy-get");
    let seed = proxy_common::seed(0x6C5_C07);
    let upstream: SocketAddr = format!("127.0.0.1:{}", fake.port()).parse().unwrap();
    let proxy = proxy_common::body_cutting_proxy(upstream, seed, |h| {
        h.method == "GET" && query_param(&h.target, "alt") == Some("media")
    })
    .await;
    let client = |endpoint: String| {
        Files::new(
            GcsAdapter::builder()
                .bucket(&bucket)
                .ignore_env()
                .endpoint(endpoint)
                .anonymous()
                .build()
                .expect("a GCS adapter"),
        )
    };
    let (direct, through) = (
        client(format!("http://{upstream}")),
        client(proxy.endpoint()),
    );
    proxy_common::cut_downloads_suite(&direct, &through, &proxy, "cut/obj.bin", seed).await;
}
