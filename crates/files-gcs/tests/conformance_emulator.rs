//! The conformance suite against gcp-storage-emulator (one emulator per test process, started
//! by the harness; a fresh bucket per test), with the adapter's emulator quirks on. Whether an
//! aborted session still exists is asked of the emulator directly (a `bytes */*` status query).
//!
//! Without the emulator these tests skip with a loud message, except in CI (`CI=true`), where
//! they fail.

use files_core::Files;
use files_gcs::GcsAdapter;
use files_testkit::gcs::emulator_or_skip;
use files_testkit::util::FnFixture;

fn fixture() -> Option<FnFixture> {
    let emu = emulator_or_skip()?;
    let bucket = emu.new_bucket("conformance").expect("create a bucket");
    let (e, b) = (emu.clone(), bucket.clone());
    Some(
        FnFixture::new("gcs (gcp-storage-emulator)", move || {
            Files::new(
                GcsAdapter::builder()
                    .ignore_env()
                    .bucket(&b)
                    .endpoint(e.endpoint())
                    .anonymous()
                    .emulator_quirks(true)
                    .build()
                    .expect("a GCS adapter for the emulator"),
            )
        })
        .with_leftovers(move |token| {
            Some(if emu.session_open(&token.session.id) {
                vec![format!("an open session for {}", token.key)]
            } else {
                vec![]
            })
        }),
    )
}

files_testkit::conformance_tests!(match fixture() {
    Some(f) => f,
    None => return,
});
