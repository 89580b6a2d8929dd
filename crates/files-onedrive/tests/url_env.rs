//! URL opening with credentials from the environment (one test in this binary: it sets
//! process environment variables).

use bytes::Bytes;
use files_core::{Adapter, Body, ErrorKind, Files};
use files_fakes::graph::{FakeGraph, TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TENANT, TEST_TOKEN};
use files_onedrive::OneDriveAdapter;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_and_environment() {
    let g = FakeGraph::start().unwrap();
    g.create_site("site-1");
    let ep = g.endpoint();
    // SAFETY: the only test of this binary; no other thread reads the environment meanwhile.
    unsafe {
        for v in [
            "MS_GRAPH_ACCESS_TOKEN",
            "MS_GRAPH_ENDPOINT",
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
            "MS_GRAPH_TOKEN_ENDPOINT",
        ] {
            std::env::remove_var(v);
        }
    }
    let err = OneDriveAdapter::from_url(&format!("onedrive://me/x?endpoint={ep}")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(OneDriveAdapter::from_url("onedrive://me/x?bogus=1").is_err());

    unsafe { std::env::set_var("MS_GRAPH_ACCESS_TOKEN", TEST_TOKEN) };
    let me = OneDriveAdapter::from_url(&format!("onedrive://me/x?endpoint={ep}")).unwrap();
    assert_eq!(me.provider(), "onedrive");
    Files::new(me.clone())
        .upload("u/me.txt", Body::from_bytes(Bytes::from_static(b"me")))
        .await
        .unwrap();
    assert_eq!(g.object("me", "u/me.txt").unwrap(), b"me");
    assert!(!format!("{me:?}").contains(TEST_TOKEN));

    // sharepoint:// with the client-credentials grant from the environment.
    unsafe {
        std::env::remove_var("MS_GRAPH_ACCESS_TOKEN");
        std::env::set_var("MS_GRAPH_ENDPOINT", &ep);
        std::env::set_var("AZURE_TENANT_ID", TEST_TENANT);
        std::env::set_var("AZURE_CLIENT_ID", TEST_CLIENT_ID);
        std::env::set_var("AZURE_CLIENT_SECRET", TEST_CLIENT_SECRET);
        std::env::set_var("MS_GRAPH_TOKEN_ENDPOINT", g.token_endpoint("{tenant}"));
    }
    let site = OneDriveAdapter::from_url("sharepoint://site-1/docs").unwrap();
    assert_eq!(site.provider(), "sharepoint");
    assert!(!format!("{site:?}").contains(TEST_CLIENT_SECRET));
    Files::new(site)
        .upload("s/x.bin", Body::from_bytes(Bytes::from_static(b"site")))
        .await
        .unwrap();
    assert_eq!(g.object("site:site-1", "s/x.bin").unwrap(), b"site");
}
