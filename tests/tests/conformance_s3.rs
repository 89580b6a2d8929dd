//! The conformance suite against `files-s3` on a local moto server (started by the test
//! harness, one per test process; see `files_testkit::servers`), one test per check, each in a
//! fresh bucket; then again with every client going through a `FaultyAdapter`, like
//! `conformance_under_faults.rs` does for the local stores.
//!
//! What an upload session leaves behind is observed on the server side: ListMultipartUploads
//! asked of moto directly, not through the adapter.
//!
//! Without moto these tests skip with a loud message, except in CI (`CI=true`), where they
//! fail.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use files::{Adapter, Files, RetryPolicy};
use files_s3::S3Adapter;
use files_testkit::servers::{ACCESS_KEY_ID, MotoServer, REGION, SECRET_ACCESS_KEY, moto_or_skip};
use files_testkit::util::FnFixture;
use files_testkit::{FaultConfig, FaultyAdapter};

/// An adapter over `bucket` on the test server, built as a new process would build it.
fn adapter(moto: &MotoServer, bucket: &str) -> S3Adapter {
    S3Adapter::builder()
        .bucket(bucket)
        .region(REGION)
        .endpoint(moto.endpoint())
        .path_style(true)
        .credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
        .build()
        .expect("an S3 adapter for the test server")
}

/// What moto still holds of the session `token` names: its open multipart uploads for the
/// token's key.
fn open_uploads(
    moto: &'static MotoServer,
    bucket: String,
) -> impl Fn(&files::ResumeToken) -> Option<Vec<String>> + Send + Sync + 'static {
    move |token| {
        let open = moto
            .open_uploads(&bucket, &token.key)
            .unwrap_or_else(|e| panic!("ListMultipartUploads on moto: {e}"));
        Some(
            open.into_iter()
                .filter(|(key, _)| *key == token.key)
                .map(|(key, id)| format!("multipart upload {id} of {key}"))
                .collect(),
        )
    }
}

/// A fixture over a fresh bucket, or `None` (after a loud SKIPPED line) without moto.
fn fixture() -> Option<FnFixture> {
    let moto = moto_or_skip()?;
    let bucket = moto.new_bucket("conformance").expect("create a bucket");
    let b = bucket.clone();
    Some(
        FnFixture::new("s3 (moto)", move || Files::new(adapter(moto, &b)))
            .with_leftovers(open_uploads(moto, bucket)),
    )
}

files_testkit::conformance_tests!(match fixture() {
    Some(f) => f,
    None => return,
});

/// The copy check again with multipart copies (UploadPartCopy) for everything above 5 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_and_rename_with_part_copy() {
    let Some(moto) = moto_or_skip() else { return };
    let bucket = moto.new_bucket("part-copy").expect("create a bucket");
    let fixture = FnFixture::new("s3 (moto, UploadPartCopy)", move || {
        Files::new(
            S3Adapter::builder()
                .bucket(&bucket)
                .region(REGION)
                .endpoint(moto.endpoint())
                .path_style(true)
                .credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
                .multipart_copy_threshold(5 << 20)
                .copy_part_size(5 << 20)
                .build()
                .expect("an S3 adapter for the test server"),
        )
    });
    files_testkit::conformance::copy_and_rename(&fixture).await;
}

mod under_faults {
    use super::*;

    fn faulty_client(inner: Arc<dyn Adapter>, seed: u64) -> Files {
        let config = FaultConfig {
            stall: 0.0,
            ..FaultConfig::mixed(seed, 0.2)
        };
        Files::from_arc(Arc::new(FaultyAdapter::new(inner, config))).with_retry(RetryPolicy {
            max_retries: 10,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(20),
            deadline: Duration::from_secs(120),
        })
    }

    fn fixture() -> Option<FnFixture> {
        let moto = moto_or_skip()?;
        let bucket = moto.new_bucket("faults").expect("create a bucket");
        let b = bucket.clone();
        let seed = AtomicU64::new(3000);
        Some(
            FnFixture::new("s3 (moto) under faults", move || {
                let inner = Arc::new(adapter(moto, &b));
                faulty_client(inner, seed.fetch_add(1, Ordering::SeqCst))
            })
            .with_leftovers(open_uploads(moto, bucket)),
        )
    }

    files_testkit::conformance_tests!(match fixture() {
        Some(f) => f,
        None => return,
    });
}
