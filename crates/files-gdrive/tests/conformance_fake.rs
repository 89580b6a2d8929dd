//! The conformance suite against the protocol-faithful fake Drive server (one fake per test,
//! in-process). What an upload session leaves behind is asked of the fake (its open sessions).

use std::sync::Arc;

use files_core::Files;
use files_gdrive::GDriveAdapter;
use files_testkit::util::FnFixture;

#[allow(dead_code)]
use files_fakes::gdrive as fake;

const TOKEN: &str = "ya29.conformance-token";

fn fixture() -> FnFixture {
    let drive = Arc::new(fake::FakeDrive::start(TOKEN).expect("start the fake Drive server"));
    let root = drive.create_folder("root", "conformance-root");
    let d = drive.clone();
    FnFixture::new("gdrive (fake)", move || {
        Files::new(
            GDriveAdapter::builder()
                .endpoint(d.endpoint())
                .access_token(TOKEN)
                .root_folder(&root)
                .build()
                .expect("a Drive adapter for the fake"),
        )
    })
    .with_leftovers(move |token| Some(drive.open_sessions(&token.key)))
}

files_testkit::conformance_tests!(fixture());
