//! The conformance suite against the protocol-faithful fake GCS server of files-testkit (one
//! fake per test, in-process), for the GCS adapter and for the Firebase preset. What an
//! upload session leaves behind is asked of the fake directly (its open sessions).

use files_core::Files;
use files_fakes::gcs::FakeGcs;
use files_gcs::GcsAdapter;
use files_testkit::util::FnFixture;
use std::sync::Arc;

fn fixture(firebase: bool) -> FnFixture {
    let fake = Arc::new(FakeGcs::start().expect("start the fake GCS server"));
    let bucket = if firebase {
        let b = "proj-conf.firebasestorage.app".to_string();
        fake.create_bucket(&b);
        b
    } else {
        fake.new_bucket("conformance")
    };
    let (f, b) = (fake.clone(), bucket.clone());
    let name = if firebase {
        "firebase (fake)"
    } else {
        "gcs (fake)"
    };
    FnFixture::new(name, move || {
        let builder = if firebase {
            GcsAdapter::firebase_bucket(&b)
        } else {
            GcsAdapter::builder().bucket(&b)
        };
        Files::new(
            builder
                .ignore_env()
                .endpoint(f.endpoint())
                .anonymous()
                .build()
                .expect("a GCS adapter for the fake"),
        )
    })
    .with_leftovers(move |token| Some(fake.open_sessions(&bucket, &token.key)))
}

mod gcs {
    files_testkit::conformance_tests!(super::fixture(false));
}

mod firebase {
    files_testkit::conformance_tests!(super::fixture(true));
}
