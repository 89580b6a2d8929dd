//! Servers without partial PUT: WsgiDAV (refuses `Content-Range` on PUT with `400`) and
//! `rclone serve webdav` (ignores it and replaces the file with the chunk). The adapter must
//! detect both, report resumable uploads as not supported, never lose data, and still upload
//! in one PUT.
//!
//! The whole conformance suite runs against WsgiDAV with adapters that detected the server
//! first (so they declare no resumable primitive, and the suite checks that `control` is
//! refused before any request).

use std::process::Command;

use files_core::{Adapter, Body, ErrorKind, Files, Resumability, UploadControl};
use files_testkit::davd::{DAV_PASSWORD, DAV_USER, DavServer, wsgidav_or_skip};
use files_testkit::require_server;
use files_testkit::servers::{ServerProcess, answers_http, ensure_installed, unavailable};
use files_testkit::util::{FnFixture, assert_object_eq, random_bytes, unique_prefix};
use files_webdav::WebDavAdapter;

fn adapter_for(endpoint: &str, user: &str, password: &str) -> WebDavAdapter {
    WebDavAdapter::builder()
        .endpoint(endpoint)
        .basic_auth(user, password)
        .build()
        .expect("a WebDAV adapter")
}

fn adapter(server: &DavServer) -> WebDavAdapter {
    adapter_for(server.endpoint(), DAV_USER, DAV_PASSWORD)
}

/// An adapter that asked the server about partial PUT (from a synchronous fixture closure on
/// the multi-threaded test runtime).
fn detected(server: &DavServer) -> WebDavAdapter {
    let a = adapter(server);
    let supported = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(a.detect_partial_put())
    })
    .expect("partial PUT detection");
    assert!(!supported, "WsgiDAV has no partial PUT");
    a
}

fn fixture() -> Option<FnFixture> {
    let server = wsgidav_or_skip()?;
    Some(
        FnFixture::new("webdav (wsgidav)", move || Files::new(detected(server)))
            .with_leftovers(move |token| Some(server.leftovers_of(&token.key))),
    )
}

files_testkit::conformance_tests!(match fixture() {
    Some(f) => f,
    None => return,
});

/// A fresh adapter (nothing detected yet) declares resumability, so `control` reaches
/// `begin`: the detection there fails it with `NotSupported`, nothing is written at the key
/// (the old object stays), no part file is left, and from then on the adapter declares no
/// resumable primitive while plain uploads work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_is_not_supported_and_the_target_is_untouched() {
    let server = require_server!(wsgidav_or_skip());
    let key = format!("{}dir/target.bin", unique_prefix("wsgi-control"));
    let old = random_bytes(1, 1000);
    Files::new(adapter(server))
        .upload(&key, Body::from_bytes(old.clone()))
        .await
        .unwrap();

    let a = adapter(server);
    assert_eq!(a.capabilities().resumable, Resumability::CrossProcess);
    let files = Files::new(a.clone());
    let body = random_bytes(2, 300_000);
    let e = files
        .upload(&key, Body::from_bytes(body.clone()))
        .part_size(100_000)
        .control(UploadControl::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotSupported, "{e}");
    assert!(e.message().contains("partial PUT"), "{e}");
    assert_eq!(server.stored(&key).unwrap(), old, "the target is untouched");
    assert!(
        server.leftovers_of(&key).is_empty(),
        "{:?}",
        server.leftovers_of(&key)
    );

    // Known now: no resumable primitive, refused before any request.
    assert_eq!(a.capabilities().resumable, Resumability::None);
    let e = files
        .upload(&key, Body::from_bytes(body.clone()))
        .checkpoint(tempfile::tempdir().unwrap().path().join("cp.json"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotSupported, "{e}");
    assert_eq!(server.stored(&key).unwrap(), old);

    // Plain uploads, larger than the default part size, go in one PUT.
    let big = random_bytes(3, (9 << 20) + 5);
    files
        .upload(&key, Body::from_bytes(big.clone()))
        .await
        .unwrap();
    assert_eq!(server.stored(&key).unwrap(), big);
    assert_object_eq(&files, &key, &big).await;
}

/// `resumable(false)` (URL `?resumable=false`) declares no resumable primitive up front.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumable_false_uploads_in_one_put() {
    let server = require_server!(wsgidav_or_skip());
    let a = WebDavAdapter::builder()
        .endpoint(server.endpoint())
        .basic_auth(DAV_USER, DAV_PASSWORD)
        .resumable(false)
        .build()
        .unwrap();
    assert_eq!(a.capabilities().resumable, Resumability::None);
    let files = Files::new(a);
    let key = format!("{}big.bin", unique_prefix("wsgi-off"));
    let big = random_bytes(4, (9 << 20) + 1);
    files
        .upload(&key, Body::from_bytes(big.clone()))
        .await
        .unwrap();
    assert_eq!(server.stored(&key).unwrap(), big);
}

/// A plain upload (no `control`, no `checkpoint`) larger than the part size, through an
/// adapter that has not detected the server yet: `begin` finds partial PUT unsupported, and the
/// scheduler falls back to one PUT (it may: nobody asked for resumability).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_upload_on_a_fresh_adapter_falls_back_to_one_put() {
    let server = require_server!(wsgidav_or_skip());
    let files = Files::new(adapter(server));
    let key = format!("{}big.bin", unique_prefix("wsgi-fresh"));
    let big = random_bytes(5, (9 << 20) + 1);
    files
        .upload(&key, Body::from_bytes(big.clone()))
        .await
        .unwrap();
    assert_eq!(server.stored(&key).unwrap(), big);
}

/// `rclone serve webdav` answers a partial PUT with success but writes only the chunk: the
/// detection reads the scratch file back and sees it; no upload ever loses data there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rclone_truncating_server_is_detected() {
    let installed = match ensure_installed() {
        Ok(i) => i,
        Err(why) => return unavailable::<()>("rclone serve webdav", &why).unwrap_or(()),
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let (user, pass) = ("rc-user", "rc-secret-pass-41");
    let conf = dir.path().join("rclone.conf");
    let server = match ServerProcess::start(
        "rclone-webdav",
        |port| {
            let mut c = Command::new(&installed.rclone);
            c.env("RCLONE_CONFIG", &conf)
                .args(["serve", "webdav", "--addr"])
                .arg(format!("127.0.0.1:{port}"))
                .args(["--user", user, "--pass", pass])
                .arg(&data);
            c
        },
        answers_http,
    ) {
        Ok(s) => s,
        Err(why) => return unavailable::<()>("rclone serve webdav", &why).unwrap_or(()),
    };
    let endpoint = format!("http://127.0.0.1:{}/", server.port());
    let key = "d/target.bin";
    let files = Files::new(adapter_for(&endpoint, user, pass));
    files.upload(key, Body::from("old content")).await.unwrap();

    let a = adapter_for(&endpoint, user, pass);
    let e = Files::new(a.clone())
        .upload(key, Body::from_bytes(random_bytes(6, 250_000)))
        .part_size(100_000)
        .control(UploadControl::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotSupported, "{e}");
    assert_eq!(
        std::fs::read(data.join("d/target.bin")).unwrap(),
        b"old content"
    );
    assert!(!data.join("d/target.bin.fls-part").exists());
    assert_eq!(a.capabilities().resumable, Resumability::None);
    assert!(
        !adapter_for(&endpoint, user, pass)
            .detect_partial_put()
            .await
            .unwrap()
    );
}
