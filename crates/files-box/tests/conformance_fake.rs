//! The conformance suite against the protocol-faithful fake Box server of `files-fakes` (one
//! fake per test, in-process). The fake chooses 64 KiB parts; the adapter is told so
//! (`part_unit`) and opens sessions for any size. What an upload session leaves behind is
//! asked of the fake directly (its open sessions).

use std::sync::Arc;

use files_box::BoxAdapter;
use files_core::Files;
use files_fakes::box_api::FakeBox;
use files_testkit::util::FnFixture;

fn fixture() -> FnFixture {
    let fake = Arc::new(FakeBox::start().expect("start the fake Box server"));
    let f = fake.clone();
    FnFixture::new("box (fake)", move || {
        Files::new(
            BoxAdapter::builder()
                .ignore_env()
                .endpoint(f.endpoint())
                .access_token(f.token())
                .part_unit(64 << 10)
                .default_part_size(64 << 10)
                .min_session_size(0)
                .build()
                .expect("a Box adapter for the fake"),
        )
    })
    .with_leftovers(move |token| {
        let name = token.key.rsplit('/').next().unwrap_or_default();
        Some(fake.open_sessions(name))
    })
}

files_testkit::conformance_tests!(fixture());
