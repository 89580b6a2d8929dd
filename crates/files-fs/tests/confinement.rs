//! Keys never reach outside the root: lexical escapes, reserved names and symbolic links.

mod common;

use common::{Env, body, tree};
use files_core::{Adapter, Body, ErrorKind, ListRequest, PutOptions, UploadControl};
use futures::StreamExt;

fn empty() -> files_core::ByteStream {
    futures::stream::iter(vec![Ok(bytes::Bytes::from_static(b"x"))]).boxed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lexical_escapes_and_reserved_names_are_refused() {
    let env = Env::new();
    env.files.upload("ok", Body::from("fine")).await.unwrap();
    let bad = [
        "../x",
        "../outside/x",
        "a/../../x",
        "/etc/passwd",
        "a\0b",
        "a//b",
        "./a",
        "dir/",
        "a\\..\\b",
        "x.fls-part",
        "d/y.fls-part",
        "d.fls-part/y",
        ".fls-tmp-1-2-3",
        "d/.fls-tmp-x",
    ];
    for key in bad {
        let k = |e: files_core::Error| e.kind();
        let e = env.files.upload(key, Body::from("x")).await.unwrap_err();
        assert_eq!(k(e), ErrorKind::InvalidInput, "upload {key:?}");
        let e = env
            .files
            .upload(key, Body::from_bytes(body(4096, 1)))
            .part_size(1024)
            .control(UploadControl::new())
            .await
            .unwrap_err();
        assert_eq!(k(e), ErrorKind::InvalidInput, "resumable upload {key:?}");
        assert_eq!(
            k(env.files.head(key).await.unwrap_err()),
            ErrorKind::InvalidInput,
            "head {key:?}"
        );
        assert_eq!(
            k(env.files.download(key).await.unwrap_err()),
            ErrorKind::InvalidInput,
            "download {key:?}"
        );
        assert_eq!(
            k(env.files.delete(key).await.unwrap_err()),
            ErrorKind::InvalidInput,
            "delete {key:?}"
        );
        assert_eq!(
            k(env.files.copy("ok", key).await.unwrap_err()),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            k(env.files.rename("ok", key).await.unwrap_err()),
            ErrorKind::InvalidInput
        );
        assert_eq!(k(env.files.url(key).unwrap_err()), ErrorKind::InvalidInput);
        // The adapter refuses them itself too, when called directly.
        let a = &env.adapter;
        let opts = PutOptions::default();
        assert_eq!(
            k(a.put(key, empty(), None, &opts).await.unwrap_err()),
            ErrorKind::InvalidInput,
            "adapter put {key:?}"
        );
        assert_eq!(
            k(a.get(key, None).await.unwrap_err()),
            ErrorKind::InvalidInput
        );
        assert_eq!(k(a.head(key).await.unwrap_err()), ErrorKind::InvalidInput);
        assert_eq!(k(a.delete(key).await.unwrap_err()), ErrorKind::InvalidInput);
        assert_eq!(
            k(a.copy(key, "ok2").await.unwrap_err()),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            k(a.rename(key, "ok2").await.unwrap_err()),
            ErrorKind::InvalidInput
        );
    }
    assert_eq!(env.read("ok").await, b"fine");
    assert!(tree(&env.outside()).is_empty());
    assert_eq!(tree(env.dir.path()), vec!["outside", "store", "store/ok"]);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_out_of_the_root_are_refused() {
    use std::os::unix::fs::symlink;

    let env = Env::new();
    let root = env.root();
    let out = env.outside();
    std::fs::write(out.join("secret.txt"), b"secret").unwrap();
    symlink(&out, root.join("link")).unwrap(); // directory link out
    symlink(out.join("secret.txt"), root.join("flink")).unwrap(); // file link out
    symlink(out.join("newdir"), root.join("dangle")).unwrap(); // dangling directory link out
    symlink(out.join("new.txt"), root.join("dfile")).unwrap(); // dangling file link out
    symlink("../outside/rel.txt", root.join("rel")).unwrap(); // relative dangling link out
    // A part file planted as a link out of the root.
    symlink(out.join("evil"), root.join("t.fls-part")).unwrap();
    env.files.upload("a", Body::from("inside")).await.unwrap();
    let outside_before = tree(&out);

    let invalid = |r: files_core::Result<()>, what: &str| {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{what}: {e}");
    };

    // put (one-shot upload)
    for key in [
        "link/x",
        "link/secret.txt",
        "flink",
        "dangle/x",
        "dfile",
        "rel",
    ] {
        invalid(
            env.files.upload(key, Body::from("x")).await.map(|_| ()),
            &format!("put {key}"),
        );
        invalid(
            env.adapter
                .put(key, empty(), None, &PutOptions::default())
                .await
                .map(|_| ()),
            &format!("adapter put {key}"),
        );
    }
    // get / head
    for key in ["link/secret.txt", "flink"] {
        invalid(
            env.files.download(key).await.map(|_| ()),
            &format!("get {key}"),
        );
        invalid(
            env.files.head(key).await.map(|_| ()),
            &format!("head {key}"),
        );
    }
    // delete
    for key in ["link/secret.txt", "flink"] {
        invalid(env.files.delete(key).await, &format!("delete {key}"));
    }
    // resumable upload (offset family: begin creates the part file)
    for key in ["link/big", "dangle/big", "dfile", "t"] {
        let data = body(4096, 5);
        invalid(
            env.files
                .upload(key, Body::from_bytes(data))
                .part_size(1024)
                .control(UploadControl::new())
                .await
                .map(|_| ()),
            &format!("upload {key}"),
        );
    }
    // copy / rename in either direction
    invalid(
        env.files.copy("a", "link/c").await.map(|_| ()),
        "copy to link",
    );
    invalid(
        env.files.copy("flink", "c").await.map(|_| ()),
        "copy from link",
    );
    invalid(env.files.rename("a", "link/c").await, "rename to link");
    invalid(env.files.rename("flink", "c").await, "rename from link");

    // Nothing outside changed; the links are still there.
    assert_eq!(tree(&out), outside_before);
    assert_eq!(std::fs::read(out.join("secret.txt")).unwrap(), b"secret");
    assert!(root.join("flink").symlink_metadata().is_ok());
    assert!(root.join("link").symlink_metadata().is_ok());
    assert_eq!(env.read("a").await, b"inside");

    // Listings show neither the links out nor what they point at.
    let page = env.files.list(&ListRequest::default()).await.unwrap();
    let keys: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["a"]);

    // Links that stay inside the root work.
    std::fs::create_dir(root.join("real")).unwrap();
    std::fs::write(root.join("real/f"), b"real bytes").unwrap();
    symlink(root.join("real"), root.join("alias")).unwrap();
    symlink("real/f", root.join("fl")).unwrap();
    assert_eq!(env.read("alias/f").await, b"real bytes");
    assert_eq!(env.read("fl").await, b"real bytes");
    env.files.upload("alias/g", Body::from("g")).await.unwrap();
    assert_eq!(std::fs::read(root.join("real/g")).unwrap(), b"g");
    let keys = env.keys("").await;
    assert_eq!(keys, ["a", "fl", "real/f", "real/g"]);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_swapped_in_during_an_upload_is_refused() {
    use std::os::unix::fs::symlink;

    let env = Env::new();
    let root = env.root();
    let out = env.outside();
    let data = body(4096, 8);
    let control = UploadControl::new();
    let c2 = control.clone();
    let task = tokio::spawn(
        env.files
            .upload("d/big", Body::from_bytes(data.clone()))
            .part_size(1024)
            .control(control.clone())
            .on_progress(move |p| {
                if p.loaded == 2048 {
                    c2.pause();
                }
            })
            .into_future(),
    );
    control
        .wait_for(|s| s == files_core::UploadStatus::Paused)
        .await;
    // Replace the directory with a link out of the root (moving the part file along).
    std::fs::rename(root.join("d"), out.join("d")).unwrap();
    symlink(out.join("d"), root.join("d")).unwrap();
    control.resume();
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(!out.join("d/big").exists());
}

use std::future::IntoFuture as _;
