//! The conformance suite against the protocol-faithful fake Dropbox (one fake per test,
//! in-process). No leftovers hook: Dropbox cannot discard an upload session (an aborted
//! upload's session stays until it expires), so the suite cannot expect none.

use std::sync::Arc;

use files_core::Files;
use files_dropbox::DropboxAdapter;
use files_fakes::dropbox::FakeDropbox;
use files_testkit::util::FnFixture;

fn fixture() -> FnFixture {
    let fake = Arc::new(FakeDropbox::start().expect("start the fake Dropbox"));
    FnFixture::new("dropbox (fake)", move || {
        Files::new(
            DropboxAdapter::builder()
                .ignore_env()
                .root("conformance")
                .endpoint(fake.endpoint())
                .access_token(fake.token())
                .build()
                .expect("a Dropbox adapter for the fake"),
        )
    })
}

files_testkit::conformance_tests!(fixture());
