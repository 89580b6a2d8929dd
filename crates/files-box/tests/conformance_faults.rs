//! The conformance suite again under faults, at both levels: every client goes through a
//! `FaultyAdapter` (parts failing before or after they land, lost commit answers, cut
//! downloads), and the fake drops the answer of every 5th part upload after storing it (the
//! retry then meets `416 range_overlaps_existing_part`) and answers `503` to every 13th
//! request to an upload session (everyday operations are not all retried by the core). The API must behave exactly as without faults.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use files_box::BoxAdapter;
use files_core::{Files, RetryPolicy};
use files_fakes::box_api::FakeBox;
use files_fakes::kit::{Fault, Match};
use files_testkit::util::FnFixture;
use files_testkit::{FaultConfig, FaultyAdapter};

/// Every `n`-th request to an upload session (only part uploads if `part_puts_only`).
fn every(n: u64, part_puts_only: bool) -> Match {
    let seen = AtomicU64::new(0);
    Match::any().when(move |r| {
        if !r.path.starts_with("/files/upload_sessions/") || part_puts_only && r.method != "PUT" {
            return false;
        }
        seen.fetch_add(1, Ordering::SeqCst) % n == n - 1
    })
}

fn fixture() -> FnFixture {
    let fake = Arc::new(FakeBox::start().expect("start the fake Box server"));
    fake.server()
        .faults()
        .add(Fault::drop_answer().on(every(5, true)).times(u64::MAX));
    fake.server()
        .faults()
        .add(Fault::unavailable(0).on(every(13, false)).times(u64::MAX));
    let f = fake.clone();
    let seed = AtomicU64::new(4000);
    FnFixture::new("box (fake) under faults", move || {
        let inner = BoxAdapter::builder()
            .ignore_env()
            .endpoint(f.endpoint())
            .access_token(f.token())
            .part_unit(64 << 10)
            .default_part_size(64 << 10)
            .min_session_size(0)
            .build()
            .expect("a Box adapter for the fake");
        let config = FaultConfig {
            stall: 0.0,
            cut_download: 0.3,
            ..FaultConfig::mixed(seed.fetch_add(1, Ordering::SeqCst), 0.2)
        };
        Files::from_arc(Arc::new(FaultyAdapter::new(Arc::new(inner), config))).with_retry(
            RetryPolicy {
                max_retries: 10,
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(20),
                deadline: Duration::from_secs(60),
            },
        )
    })
    .with_leftovers(move |token| {
        let name = token.key.rsplit('/').next().unwrap_or_default();
        Some(fake.open_sessions(name))
    })
}

files_testkit::conformance_tests!(fixture());
