//! The conformance suite against the protocol-faithful fake Graph server: the signed-in
//! user's drive (`onedrive://me/`) and a SharePoint site's library (`sharepoint://SITE/`).
//! What an upload session leaves behind is asked of the fake (its open sessions).

use std::sync::Arc;

use files_core::Files;
use files_fakes::graph::{FakeGraph, TEST_TOKEN};
use files_onedrive::OneDriveAdapter;
use files_testkit::util::FnFixture;

fn fixture(site: bool) -> FnFixture {
    let graph = Arc::new(FakeGraph::start().expect("start the fake Graph server"));
    let (name, drive) = if site {
        graph.create_site("contoso-site");
        ("sharepoint (fake)", "site:contoso-site")
    } else {
        ("onedrive (fake)", "me")
    };
    let g = graph.clone();
    FnFixture::new(name, move || {
        let b = OneDriveAdapter::builder()
            .endpoint(g.endpoint())
            .access_token(TEST_TOKEN);
        let b = if site {
            b.site_id("contoso-site")
        } else {
            b.me()
        };
        Files::new(b.build().expect("an adapter for the fake"))
    })
    .with_leftovers(move |token| Some(graph.open_sessions(drive, &token.key)))
}

mod me {
    files_testkit::conformance_tests!(super::fixture(false));
}

mod site {
    files_testkit::conformance_tests!(super::fixture(true));
}
