//! The conformance suite against `files-memory`, one test per check, each over its own named
//! store.

use files::Files;
use files::memory::MemoryAdapter;
use files_testkit::util::{FnFixture, unique_prefix};

fn fixture() -> FnFixture {
    let name = format!("conformance-{}", unique_prefix("m").replace('/', "-"));
    let n2 = name.clone();
    FnFixture::new("memory", move || {
        Files::new(MemoryAdapter::named(name.clone()))
    })
    .with_leftovers(move |_token| {
        // Each test has its own store, so any open session there is a leftover.
        let open = MemoryAdapter::named(n2.clone()).open_sessions();
        Some(if open == 0 {
            Vec::new()
        } else {
            vec![format!("{open} open upload session(s)")]
        })
    })
}

files_testkit::conformance_tests!(fixture());

/// Every check in one run, as `run_all` does it (the per-check tests above cover the same
/// ground; run with `--ignored`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "duplicates the per-check tests"]
async fn run_all_in_one_store() {
    files_testkit::run_all(&fixture()).await;
}
