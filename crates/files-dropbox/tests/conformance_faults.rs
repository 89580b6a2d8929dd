//! The conformance suite again under faults, at both levels: every client goes through a
//! `FaultyAdapter` (appends failing before or after they land, appends landing a prefix,
//! lost finish answers, cut downloads), and the fake drops the answer of every 5th append
//! that carries bytes after storing them (the retry or the probe then meets
//! `incorrect_offset`) and answers `503` to every 13th upload-session request. The API must
//! behave exactly as without faults.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use files_core::{Files, RetryPolicy};
use files_dropbox::DropboxAdapter;
use files_fakes::dropbox::FakeDropbox;
use files_fakes::kit::{Fault, Match};
use files_testkit::util::FnFixture;
use files_testkit::{FaultConfig, FaultyAdapter};

/// Every `n`-th upload-session request, not counting the empty appends that probe or close
/// a session (only appends carrying bytes if `appends_only`).
fn every(n: u64, appends_only: bool) -> Match {
    let seen = AtomicU64::new(0);
    Match::any().when(move |r| {
        let append = r.path == "/2/files/upload_session/append_v2";
        let empty = r.declared_len.unwrap_or(0) == 0;
        if !r.path.starts_with("/2/files/upload_session/")
            || append && empty
            || appends_only && !append
        {
            return false;
        }
        seen.fetch_add(1, Ordering::SeqCst) % n == n - 1
    })
}

fn fixture() -> FnFixture {
    let fake = Arc::new(FakeDropbox::start().expect("start the fake Dropbox"));
    fake.server()
        .faults()
        .add(Fault::drop_answer().on(every(5, true)).times(u64::MAX));
    fake.server()
        .faults()
        .add(Fault::unavailable(0).on(every(13, false)).times(u64::MAX));
    let seed = AtomicU64::new(7000);
    FnFixture::new("dropbox (fake) under faults", move || {
        let inner = DropboxAdapter::builder()
            .ignore_env()
            .root("faults")
            .endpoint(fake.endpoint())
            .access_token(fake.token())
            .build()
            .expect("a Dropbox adapter for the fake");
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
}

files_testkit::conformance_tests!(fixture());
