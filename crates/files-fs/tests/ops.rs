//! Everyday operations of the fs adapter: round trips, ranges, head, list, copy, rename, delete.

mod common;

use bytes::Bytes;
use common::{Env, MIB, body, tree};
use files_core::{
    Adapter, Body, ByteRange, ErrorKind, ListPage, ListRequest, PutOptions, Resumability,
};
use futures::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_exact_bytes() {
    let env = Env::new();
    for (i, len) in [0, 1, 5, MIB + 3, 3 * MIB + 7].into_iter().enumerate() {
        let key = format!("dir/sub/obj-{i}.bin");
        let data = body(len, i as u64 + 1);
        let out = env
            .files
            .upload(key.as_str(), Body::from_bytes(data.clone()))
            .await
            .unwrap();
        assert_eq!(out.meta.size, len as u64);
        assert_eq!(out.meta.key, key);
        assert_eq!(env.read(&key).await, data, "{key}");
        assert_eq!(std::fs::read(env.root().join(&key)).unwrap(), data);
        assert_eq!(env.files.head(&key).await.unwrap().size, len as u64);

        // The stream yields chunks of at most 1 MiB that add up to the object.
        let got = env.adapter.get(&key, None).await.unwrap();
        assert_eq!(got.range, 0..len as u64);
        let chunks: Vec<Bytes> = got.stream.map(|c| c.unwrap()).collect().await;
        assert!(chunks.iter().all(|c| c.len() <= MIB && !c.is_empty()));
        assert_eq!(chunks.concat(), data);
    }
    // Overwrite with other bytes.
    let data = body(1000, 99);
    env.files
        .upload("dir/sub/obj-1.bin", Body::from_bytes(data.clone()))
        .await
        .unwrap();
    assert_eq!(env.read("dir/sub/obj-1.bin").await, data);
    // No temporary file is left behind.
    assert!(
        tree(&env.root()).iter().all(|p| !p.contains(".fls-")),
        "{:?}",
        tree(&env.root())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_put_keeps_the_old_object() {
    let env = Env::new();
    env.files.upload("k", Body::from("old")).await.unwrap();
    let failing = futures::stream::iter(vec![
        Ok(Bytes::from_static(b"new new new")),
        Err(files_core::Error::transient("the body broke")),
    ])
    .boxed();
    let err = env
        .adapter
        .put("k", failing, None, &PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert_eq!(env.read("k").await, b"old");

    // A body shorter than announced is refused, and the old object stays.
    let short = futures::stream::iter(vec![Ok(Bytes::from_static(b"abc"))]).boxed();
    let err = env
        .adapter
        .put("k", short, Some(10), &PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(env.read("k").await, b"old");
    assert_eq!(tree(&env.root()), vec!["k".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges() {
    let env = Env::new();
    let data = body(3 * MIB + 11, 7);
    env.files
        .upload("r", Body::from_bytes(data.clone()))
        .await
        .unwrap();
    let n = data.len() as u64;
    let cases: Vec<(ByteRange, std::ops::Range<usize>)> = vec![
        ((2..5).into(), 2..5),
        ((5..).into(), 5..data.len()),
        ((2..=4).into(), 2..5),
        ((n - 3..n + 100).into(), data.len() - 3..data.len()),
        (
            (MIB as u64 - 1..2 * MIB as u64 + 1).into(),
            MIB - 1..2 * MIB + 1,
        ),
        ((0..).into(), 0..data.len()),
    ];
    for (range, want) in cases {
        let d = env.files.download("r").range(range).await.unwrap();
        assert_eq!(d.range(), want.start as u64..want.end as u64);
        assert_eq!(d.meta().size, n);
        assert_eq!(
            d.bytes().await.unwrap().to_vec(),
            data[want.clone()],
            "{range:?}"
        );
    }
    for bad in [
        ByteRange::from(n..),
        ByteRange::from(4..4),
        ByteRange {
            start: 9,
            end: Some(3),
        },
    ] {
        let err = env.files.download("r").range(bad).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
    }
    // An empty object reads as empty.
    env.files.upload("e", Body::from("")).await.unwrap();
    assert!(env.read("e").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_exists_and_etag() {
    let env = Env::new();
    env.files.upload("d/x", Body::from("12345")).await.unwrap();
    let h = env.files.head("d/x").await.unwrap();
    assert_eq!(h.size, 5);
    assert!(h.last_modified.is_some());
    let etag = h.etag.clone().unwrap();
    env.files.upload("d/x", Body::from("123456")).await.unwrap();
    let h2 = env.files.head("d/x").await.unwrap();
    assert_eq!(h2.size, 6);
    assert_ne!(h2.etag.unwrap(), etag);
    // Missing keys and directories are not found.
    for key in ["nope", "d", "d/x/y"] {
        let err = env.files.head(key).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{key}");
        assert!(!env.files.exists(key).await.unwrap());
        let err = env.files.download(key).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{key}");
    }
    assert!(env.files.exists("d/x").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capabilities_and_unsupported_options() {
    let env = Env::new();
    let c = env.files.capabilities();
    assert!(c.range_read && c.server_side_copy && c.native_rename);
    assert!(c.list_delimiter && c.public_url);
    assert!(!c.content_type && !c.metadata && !c.cache_control);
    assert!(!c.presign_get && !c.presign_put);
    assert_eq!(c.resumable, Resumability::CrossProcess);
    assert_eq!(env.adapter.provider(), "fs");
    assert_eq!(env.adapter.target(), env.root().to_string_lossy());

    let err = env
        .files
        .upload("a", Body::from("x"))
        .content_type("text/plain")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported);
    let err = env
        .adapter
        .put(
            "a",
            futures::stream::empty().boxed(),
            Some(0),
            &PutOptions {
                cache_control: Some("no-cache".into()),
                ..PutOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported);
    let err = env
        .files
        .presign_get("a", std::time::Duration::from_secs(60))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported);
    assert!(!env.root().join("a").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_url_is_a_file_url() {
    let env = Env::new();
    env.files
        .upload("a b/c.txt", Body::from("hi"))
        .await
        .unwrap();
    let u = env.files.url("a b/c.txt").unwrap();
    assert!(u.starts_with("file:///"), "{u}");
    assert!(u.ends_with("/a%20b/c.txt"), "{u}");
    let path = url::Url::parse(&u).unwrap().to_file_path().unwrap();
    assert_eq!(std::fs::read(path).unwrap(), b"hi");
    assert_eq!(
        env.files.url("../x").unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

const KEYS: &[&str] = &[
    "a-c", "a.txt", "a/b", "a/c/d", "a/c/e", "a0", "b/x", "b/y/z", "c",
];

async fn list_env() -> Env {
    let env = Env::new();
    for (i, k) in KEYS.iter().rev().enumerate() {
        env.files
            .upload(*k, Body::from_bytes(body(10 + i, i as u64)))
            .await
            .unwrap();
    }
    // Hidden things: a part file, a temp file, an empty directory tree.
    let spec = files_core::UploadSpec {
        key: "a/p".into(),
        total: 10,
        part_size: 4,
        options: PutOptions::default(),
    };
    let files_core::UploadFamily::Offset(o) = env.adapter.upload_family() else {
        panic!("offset family expected")
    };
    o.begin(&spec).await.unwrap();
    std::fs::write(env.root().join(".fls-tmp-123-4-5"), b"tmp").unwrap();
    std::fs::create_dir_all(env.root().join("empty/sub")).unwrap();
    env
}

async fn list(env: &Env, prefix: &str, delimiter: Option<&str>) -> (Vec<String>, Vec<String>) {
    let page = env
        .files
        .list(&ListRequest {
            prefix: prefix.into(),
            delimiter: delimiter.map(Into::into),
            ..ListRequest::default()
        })
        .await
        .unwrap();
    assert!(page.cursor.is_none());
    (
        page.objects.into_iter().map(|o| o.key).collect(),
        page.prefixes,
    )
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_order_prefix_and_delimiter() {
    let env = list_env().await;
    assert_eq!(list(&env, "", None).await, (s(KEYS), vec![]));
    assert_eq!(
        list(&env, "a/", None).await,
        (s(&["a/b", "a/c/d", "a/c/e"]), vec![])
    );
    assert_eq!(
        list(&env, "a/c", None).await,
        (s(&["a/c/d", "a/c/e"]), vec![])
    );
    assert_eq!(list(&env, "zz", None).await, (vec![], vec![]));
    assert_eq!(
        list(&env, "", Some("/")).await,
        (s(&["a-c", "a.txt", "a0", "c"]), s(&["a/", "b/"]))
    );
    assert_eq!(
        list(&env, "a", Some("/")).await,
        (s(&["a-c", "a.txt", "a0"]), s(&["a/"]))
    );
    assert_eq!(
        list(&env, "a/", Some("/")).await,
        (s(&["a/b"]), s(&["a/c/"]))
    );
    assert_eq!(list(&env, "b/y", Some("/")).await, (vec![], s(&["b/y/"])));
    assert_eq!(list(&env, "b/y/", Some("/")).await, (s(&["b/y/z"]), vec![]));
    // Another delimiter works too (without directory shortcuts).
    assert_eq!(
        list(&env, "", Some("-")).await,
        (
            s(&["a.txt", "a/b", "a/c/d", "a/c/e", "a0", "b/x", "b/y/z", "c"]),
            s(&["a-"])
        )
    );
    // Sizes and metadata come along.
    let page = env.files.list(&ListRequest::default()).await.unwrap();
    for o in &page.objects {
        let h = env.files.head(&o.key).await.unwrap();
        assert_eq!((o.size, &o.etag), (h.size, &h.etag), "{}", o.key);
    }
    // list_all agrees.
    let all: Vec<String> = env
        .files
        .list_all("")
        .map(|m| m.unwrap().key)
        .collect()
        .await;
    assert_eq!(all, s(KEYS));
}

fn entries(page: &ListPage) -> Vec<String> {
    let mut v: Vec<String> = page
        .objects
        .iter()
        .map(|o| o.key.clone())
        .chain(page.prefixes.iter().cloned())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pagination_with_cursor() {
    let env = list_env().await;
    for (prefix, delimiter) in [("", None), ("", Some("/")), ("a", Some("/")), ("a/", None)] {
        let whole = env
            .files
            .list(&ListRequest {
                prefix: prefix.into(),
                delimiter: delimiter.map(Into::into),
                ..ListRequest::default()
            })
            .await
            .unwrap();
        let whole = entries(&whole);
        assert!(!whole.is_empty());
        for limit in 1..=whole.len() + 1 {
            let mut got = Vec::new();
            let mut cursor = None;
            let mut pages = 0;
            loop {
                let page = env
                    .files
                    .list(&ListRequest {
                        prefix: prefix.into(),
                        delimiter: delimiter.map(Into::into),
                        cursor: cursor.clone(),
                        limit: Some(limit),
                    })
                    .await
                    .unwrap();
                pages += 1;
                let e = entries(&page);
                assert!(e.len() <= limit);
                if let Some(c) = &page.cursor {
                    // The cursor is the last entry returned.
                    assert_eq!(Some(c), e.last());
                    assert_eq!(e.len(), limit);
                }
                got.extend(e);
                cursor = page.cursor;
                if cursor.is_none() {
                    break;
                }
                assert!(pages <= whole.len(), "pagination does not end");
            }
            assert_eq!(
                got, whole,
                "prefix={prefix:?} delimiter={delimiter:?} limit={limit}"
            );
            assert_eq!(pages, whole.len().div_ceil(limit).max(1), "limit={limit}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_and_rename() {
    let env = Env::new();
    let data = body(2 * MIB + 1, 3);
    env.files
        .upload("src/a", Body::from_bytes(data.clone()))
        .await
        .unwrap();
    let meta = env.files.copy("src/a", "dst/deep/b").await.unwrap();
    assert_eq!(meta.size, data.len() as u64);
    assert_eq!(meta.key, "dst/deep/b");
    assert_eq!(env.read("dst/deep/b").await, data);
    assert_eq!(env.read("src/a").await, data);

    env.files.rename("dst/deep/b", "moved/c").await.unwrap();
    assert_eq!(env.read("moved/c").await, data);
    assert!(!env.files.exists("dst/deep/b").await.unwrap());
    assert!(!env.root().join("dst").exists(), "empty parents are pruned");

    // Rename over an existing object replaces it; copy over one too.
    env.files
        .upload("other", Body::from("other"))
        .await
        .unwrap();
    env.files.rename("other", "moved/c").await.unwrap();
    assert_eq!(env.read("moved/c").await, b"other");
    env.files.copy("src/a", "moved/c").await.unwrap();
    assert_eq!(env.read("moved/c").await, data);

    for (from, to) in [("missing", "x"), ("src", "x")] {
        let err = env.files.copy(from, to).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "copy {from}");
        let err = env.files.rename(from, to).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "rename {from}");
    }
    // A directory holding objects cannot be overwritten by one.
    let err = env.files.copy("moved/c", "src").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(env.read("src/a").await, data);
    assert!(tree(&env.root()).iter().all(|p| !p.contains(".fls-")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_prunes_empty_parents() {
    let env = Env::new();
    env.files.upload("x/y/z", Body::from("1")).await.unwrap();
    env.files.upload("x/w", Body::from("2")).await.unwrap();
    env.files.delete("x/y/z").await.unwrap();
    assert!(!env.root().join("x/y").exists());
    assert!(env.root().join("x").is_dir());
    env.files.delete("x/w").await.unwrap();
    assert!(!env.root().join("x").exists());
    assert!(env.root().is_dir(), "the root is never pruned");
    // Missing keys, and directories (not objects), delete fine.
    env.files.delete("x/w").await.unwrap();
    env.files.delete("never/was").await.unwrap();
    env.files.upload("d/k", Body::from("3")).await.unwrap();
    env.files.delete("d").await.unwrap();
    assert_eq!(env.read("d/k").await, b"3");
    // A key below an object is absent.
    env.files.delete("d/k/deeper").await.unwrap();
    let err = env
        .files
        .upload("d/k/deeper", Body::from("4"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(env.keys("").await, vec!["d/k".to_string()]);
}
