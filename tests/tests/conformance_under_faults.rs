//! The conformance suite again, with every client going through a `FaultyAdapter` that fails
//! about one part request in five (before sending, after landing, half-landed appends) and
//! loses half of the completes' answers, and cuts about a third of the download bodies: the API
//! must behave exactly the same, because the client retries and resumes what it may. (No
//! stalls here: the suite sets no per-request timeout.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use files::fs::FsAdapter;
use files::memory::MemoryAdapter;
use files::{Adapter, Files, RetryPolicy};
use files_testkit::util::{FnFixture, unique_prefix};
use files_testkit::{FaultConfig, FaultyAdapter};

fn faulty_client(inner: Arc<dyn Adapter>, seed: u64) -> Files {
    let config = FaultConfig {
        stall: 0.0,
        cut_download: 0.3,
        ..FaultConfig::mixed(seed, 0.2)
    };
    Files::from_arc(Arc::new(FaultyAdapter::new(inner, config))).with_retry(RetryPolicy {
        max_retries: 10,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
        deadline: Duration::from_secs(60),
    })
}

mod fs {
    use super::*;

    fn fixture() -> FnFixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let seed = AtomicU64::new(1000);
        FnFixture::new("fs under faults", move || {
            let _keep_alive = &dir;
            let inner = Arc::new(FsAdapter::new(&root).expect("fs adapter"));
            faulty_client(inner, seed.fetch_add(1, Ordering::SeqCst))
        })
    }

    files_testkit::conformance_tests!(fixture());
}

mod memory {
    use super::*;

    fn fixture() -> FnFixture {
        let name = format!("faulty-{}", unique_prefix("m").replace('/', "-"));
        let seed = AtomicU64::new(2000);
        FnFixture::new("memory under faults", move || {
            let inner = Arc::new(MemoryAdapter::named(name.clone()));
            faulty_client(inner, seed.fetch_add(1, Ordering::SeqCst))
        })
    }

    files_testkit::conformance_tests!(fixture());
}
