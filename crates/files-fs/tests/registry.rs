//! The `file` URL scheme.

mod common;

use common::{Env, body};
use files_core::{Adapter, Body, ErrorKind, Files};
use files_fs::FsAdapter;

fn file_url(path: &std::path::Path) -> String {
    url::Url::from_file_path(path).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_urls() {
    files_fs::register();
    assert!(files_core::registry::schemes().contains(&"file"));
    let env = Env::new();
    let root = env.root();

    let files = Files::from_url(&file_url(&root)).unwrap();
    assert_eq!(files.adapter().provider(), "fs");
    assert_eq!(files.adapter().target(), env.adapter.target());
    let data = body(1000, 3);
    files
        .upload("via/url", Body::from_bytes(data.clone()))
        .await
        .unwrap();
    assert_eq!(env.read("via/url").await, data);

    // A missing root is created; a URL with a space is decoded.
    let fresh = env.dir.path().join("new store");
    let a = FsAdapter::from_url(&file_url(&fresh)).unwrap();
    assert!(fresh.is_dir());
    assert_eq!(a.root(), std::fs::canonicalize(&fresh).unwrap());

    for bad in ["s3://bucket", "file://example.com/srv/store", "not a url"] {
        let e = FsAdapter::from_url(bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
    }
    let e = Files::from_url("file://example.com/srv/store").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_urls() {
    files_fs::register();
    let env = Env::new();
    let root = env.root();
    env.files
        .upload("a b/c.txt", Body::from("object bytes"))
        .await
        .unwrap();
    let root_param =
        url::form_urlencoded::byte_serialize(root.to_str().unwrap().as_bytes()).collect::<String>();

    // With `root`: the key is relative to it (percent-decoded).
    let url = format!("{}?root={root_param}", file_url(&root.join("a b/c.txt")));
    assert!(url.contains("a%20b"), "{url}");
    let (files, key) = files_core::registry::open_object(&url).unwrap();
    assert_eq!(key, "a b/c.txt");
    assert_eq!(files.adapter().target(), env.adapter.target());
    let got = files.download(&key).await.unwrap().bytes().await.unwrap();
    assert_eq!(&got[..], b"object bytes");

    // Without `root`: the root is `/` and the key the whole path.
    let (files, key) =
        files_core::registry::open_object(&file_url(&root.join("a b/c.txt"))).unwrap();
    assert_eq!(files.adapter().target(), "/");
    assert_eq!(
        key,
        root.join("a b/c.txt")
            .to_str()
            .unwrap()
            .trim_start_matches('/')
    );
    let got = files.download(&key).await.unwrap().bytes().await.unwrap();
    assert_eq!(&got[..], b"object bytes");

    // A path outside the root, the root itself, or a reserved name is refused.
    let outside = format!("{}?root={root_param}", file_url(&env.outside().join("x")));
    let bad = [
        outside,
        format!("{}?root={root_param}", file_url(&root)),
        format!("{}?root={root_param}", file_url(&root.join("x.fls-part"))),
        format!("{}?root=relative/dir", file_url(&root.join("x"))),
    ];
    for url in bad {
        let e = files_core::registry::open_object(&url).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{url}");
    }
}
