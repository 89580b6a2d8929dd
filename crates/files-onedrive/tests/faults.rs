//! Under faults: the conformance suite through the testkit's `FaultyAdapter` (failed,
//! half-landed and answer-lost appends, lost completes, cut downloads), and seeded uploads with
//! wire faults on the fake Graph server's upload URL (bodies cut mid-fragment, which Graph
//! discards whole; answers lost after the fragment landed; `503`/`429` with `Retry-After`):
//! every upload ends byte-identical (SHA-256 of what the fake holds) with no session left.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use files_core::{Adapter, Body, Files, RetryPolicy, UploadControl};
use files_fakes::graph::{FakeGraph, TEST_TOKEN};
use files_fakes::kit::{Fault, Match};
use files_onedrive::{FRAGMENT_ALIGN, OneDriveAdapter};
use files_testkit::util::{FnFixture, random_bytes, sha256_hex};
use files_testkit::{FaultConfig, FaultyAdapter};

fn retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 10,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
        deadline: Duration::from_secs(60),
    }
}

fn adapter(g: &FakeGraph) -> OneDriveAdapter {
    OneDriveAdapter::builder()
        .endpoint(g.endpoint())
        .access_token(TEST_TOKEN)
        .build()
        .expect("an adapter")
}

mod under_faulty_adapter {
    use super::*;

    fn fixture() -> FnFixture {
        let g = Arc::new(FakeGraph::start().expect("the fake"));
        let seed = AtomicU64::new(4000);
        let f = g.clone();
        FnFixture::new("onedrive (fake) under faults", move || {
            let mixed = FaultConfig::mixed(seed.fetch_add(1, Ordering::SeqCst), 0.2);
            // No half-landed appends here: a well-formed unaligned fragment is refused by
            // Graph (and a cut request keeps nothing); cuts are modelled on the wire below.
            let config = FaultConfig {
                stall: 0.0,
                cut_download: 0.3,
                fail_after: mixed.fail_after + mixed.partial_append,
                partial_append: 0.0,
                ..mixed
            };
            let inner: Arc<dyn Adapter> = Arc::new(adapter(&f));
            Files::from_arc(Arc::new(FaultyAdapter::new(inner, config))).with_retry(retry())
        })
        .with_leftovers(move |token| Some(g.open_sessions("me", &token.key)))
    }

    files_testkit::conformance_tests!(fixture());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_uploads_with_wire_faults_land_byte_identical() {
    let g = FakeGraph::start().expect("the fake");
    let files = Files::new(adapter(&g)).with_retry(retry());
    let seed: u64 = std::env::var("FILES_GRAPH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6_2A9B);
    let mut faults_fired = 0;
    for i in 0..24u64 {
        let mut x = seed ^ (i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let len = 3 * FRAGMENT_ALIGN as usize + 1 + (next() % FRAGMENT_ALIGN) as usize;
        let body = random_bytes(seed ^ i, len);
        let frag = Match::method("PUT").path("/uploadSession");
        g.server().faults().clear();
        let handles: Vec<_> = (0..2)
            .map(|k| {
                let nth = 1 + (next() % 4) + k * 2;
                let fault = match next() % 4 {
                    0 => Fault::cut_body_after(1 + next() % (FRAGMENT_ALIGN - 1)),
                    1 => Fault::drop_answer(),
                    2 => Fault::unavailable(0),
                    _ => Fault::too_many_requests(0),
                };
                g.server().faults().add(fault.on(frag.clone()).nth(nth))
            })
            .collect();
        let key = format!("faulted/{i}.bin");
        let out = files
            .upload(&key, Body::from_bytes(Bytes::from(body.clone())))
            .part_size(FRAGMENT_ALIGN)
            .control(UploadControl::new())
            .timeout(Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("upload {i} (seed {seed:#x}): {e}"));
        assert_eq!(out.meta.size, len as u64);
        let stored = g.object("me", &key).expect("the file exists");
        assert_eq!(
            sha256_hex(&stored),
            sha256_hex(&body),
            "upload {i} (seed {seed:#x}) differs"
        );
        assert!(g.open_sessions("me", &key).is_empty());
        faults_fired += handles.iter().map(|h| h.fired()).sum::<u64>();
    }
    assert!(faults_fired >= 24, "only {faults_fired} faults fired");
    // Fragments never overlapped what the session held: Graph would have answered 416, and
    // every 416 must be followed by a status query (the adapter re-queries).
    eprintln!("graph wire faults: {faults_fired} fired over 24 uploads (seed {seed:#x})");
}
