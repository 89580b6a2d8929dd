//! 200 seeded uploads to Apache `mod_dav_fs` (`files_testkit::davd`) through the
//! fault-injecting HTTP proxy (`files_testkit::proxy`), with at least 20% of the part requests
//! (the partial `PUT`s with `Content-Range`) faulted: connections reset mid-body, `500` /
//! `502` / `503` answers, stalls past the request timeout, answers cut after the bytes landed,
//! delays. Every upload must end with the file byte-identical to its body (SHA-256 of what
//! Apache stored on disk, read directly, not through the proxy), with no part file left
//! behind, and the run reports the retries it took.
//!
//! A failure names the seed; `FILES_PROXY_SEED` replays a run, `FILES_PROXY_UPLOADS` changes
//! the count for a quick local run.

use crate::proxy_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use files::Files;
use files_testkit::davd::{DAV_PASSWORD, DAV_USER, apache_or_skip};
use files_testkit::proxy::{ErrorDialect, FaultProxy, ProxyConfig, RequestHead};
use files_testkit::util::{random_bytes, sha256_hex, unique_prefix};
use files_webdav::WebDavAdapter;
use proxy_common::{Tally, faults_on, run_uploads, upload_or_panic};

const PART: usize = 64 << 10;
/// Per-request timeout; stalls last longer.
const TIMEOUT: Duration = Duration::from_secs(2);

/// A partial `PUT`: it carries `Content-Range`.
fn is_partial_put(head: &RequestHead) -> bool {
    head.method == "PUT" && head.header("content-range").is_some()
}

fn adapter(endpoint: &str) -> WebDavAdapter {
    WebDavAdapter::builder()
        .endpoint(endpoint)
        .basic_auth(DAV_USER, DAV_PASSWORD)
        .build()
        .expect("a WebDAV adapter")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_faulted_webdav_uploads_land_byte_identical() {
    let server = files_testkit::require_server!(apache_or_skip());
    let seed = proxy_common::seed(0xDA_75EED);
    let uploads = proxy_common::uploads(200);
    let upstream: SocketAddr = format!("127.0.0.1:{}", server.port()).parse().unwrap();
    let mut config = ProxyConfig::all_faults_for(ErrorDialect::Plain, seed, 0.25, is_partial_put);
    config.stall = TIMEOUT + Duration::from_millis(500);
    let proxy = FaultProxy::start(upstream, config)
        .await
        .expect("the proxy");
    let files = Arc::new(Files::new(adapter(&format!("{}/", proxy.endpoint()))));
    let direct = Files::new(adapter(server.endpoint()));
    let prefix = unique_prefix("proxy");

    let outcomes = run_uploads(uploads, 4, |i| {
        let files = files.clone();
        let (proxy, direct, prefix) = (&proxy, &direct, &prefix);
        async move {
            let body = random_bytes(seed ^ i, 3 * PART + 1 + (i as usize * 997) % PART);
            // One directory per upload: the leftover check looks at the key's directory.
            let key = format!("{prefix}{i}/faulted.bin");
            let out = upload_or_panic(&files, &key, &body, PART, 1, TIMEOUT, || {
                format!(
                    "upload {i} (seed {seed:#x}); faults injected on it: {:?}",
                    faults_on(proxy, &format!("/{i}/faulted.bin"))
                )
            })
            .await;
            let stored = server
                .stored(&key)
                .unwrap_or_else(|| panic!("upload {i} (seed {seed:#x}): no file"));
            assert_eq!(
                sha256_hex(&stored),
                sha256_hex(&body),
                "upload {i} (seed {seed:#x}): the file differs from the body"
            );
            let left = server.leftovers_of(&key);
            assert!(
                left.is_empty(),
                "upload {i} (seed {seed:#x}): left behind {left:?}"
            );
            direct.delete(&key).await.expect("delete the verified file");
            out
        }
    })
    .await;
    Tally::of("webdav", seed, uploads, &proxy, &outcomes).report_and_check("partial PUT requests");
}

/// GETs whose bodies the proxy cuts half-way still yield the file byte for byte (the client
/// asks for the rest with a `Range` request, after checking the ETag).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_downloads_cut_mid_body_resume_byte_identical() {
    let server = files_testkit::require_server!(apache_or_skip());
    let seed = proxy_common::seed(0xDA_7C07);
    let upstream: SocketAddr = format!("127.0.0.1:{}", server.port()).parse().unwrap();
    let proxy = proxy_common::body_cutting_proxy(upstream, seed, |h| h.method == "GET").await;
    let direct = Files::new(adapter(server.endpoint()));
    let through = Files::new(adapter(&format!("{}/", proxy.endpoint())));
    let key = format!("{}cut.bin", unique_prefix("proxy-get"));
    proxy_common::cut_downloads_suite(&direct, &through, &proxy, &key, seed).await;
}
