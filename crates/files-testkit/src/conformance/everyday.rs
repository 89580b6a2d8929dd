//! The everyday operations: round trips, overwrite, `head`/`exists`, delete, copy and rename,
//! key validation, metadata and content type.

use std::collections::BTreeMap;
use std::sync::Arc;

use files_core::{Body, Bytes, ErrorKind, Files};
use futures::TryStreamExt;

use super::Fixture;
use super::support::*;
use crate::fault::FaultyAdapter;
use crate::util::{assert_object_eq, random_bytes};

/// Round trips of 0 bytes, 1 byte, less than a part, an exact multiple of the part size and
/// several parts with a tail, from memory and from a file, compared by SHA-256; `head` agrees.
pub async fn round_trips(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "round-trips").await;
    let ps = c.ps;
    let sizes = [0, 1, ps - 1, ps * 2, ps * 3 + ps / 3 + 7];
    for (i, &size) in sizes.iter().enumerate() {
        let body = Bytes::from(random_bytes(1000 + i as u64, size as usize));
        let key = c.key(&format!("obj-{size}"));
        let out = upload_plain(&c, &key, &body).await;
        assert_eq!(out.meta.size, size, "outcome size of {key}");
        assert_eq!(
            out.bytes_sent, size,
            "bytes_sent of a fresh upload of {key}"
        );
        assert_eq!(out.bytes_resumed, 0, "bytes_resumed of a fresh upload");
        assert!(!out.resumed, "a fresh upload is not resumed");
        let head = expect_ok(c.files.head(&key).await, "head after upload");
        assert_eq!(head.size, size, "head size of {key}");
        assert_eq!(head.key, key, "head key");
        assert_object_eq(&c.files, &key, &body).await;
    }

    // A file body (read by position).
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("body.bin");
    let body = c.body(77, 2, 1234);
    std::fs::write(&path, &body).expect("write body file");
    let key = c.key("from-file");
    let out = no_hang(
        "file upload",
        c.files
            .upload(
                &key,
                expect_ok(Body::from_path(&path).await, "open body file"),
            )
            .part_size(ps)
            .concurrency(2),
    )
    .await;
    assert_eq!(
        expect_ok(out, "upload from a file").meta.size,
        body.len() as u64
    );
    assert_object_eq(&c.files, &key, &body).await;

    // A new client over the same store sees the same bytes.
    let other = fixture.client().await;
    assert_object_eq(&other, &key, &body).await;
}

/// Uploading to an existing key replaces the object entirely (a shorter body leaves no stale
/// tail), for single-request and multi-part uploads.
pub async fn overwrite_replaces(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "overwrite").await;
    let key = c.key("obj");
    let big = c.body(1, 4, 100);
    let small = Bytes::from(random_bytes(2, 10));
    let medium = c.body(3, 2, 5);
    upload_plain(&c, &key, &big).await;
    assert_object_eq(&c.files, &key, &big).await;
    upload_plain(&c, &key, &small).await;
    assert_object_eq(&c.files, &key, &small).await;
    upload_plain(&c, &key, &medium).await;
    assert_object_eq(&c.files, &key, &medium).await;
    let head = expect_ok(c.files.head(&key).await, "head");
    assert_eq!(head.size, medium.len() as u64);
}

/// `head` of a missing key is not found and `exists` is false; `exists` is false *only* on not
/// found (an invalid key is an error, not `false`); after an upload both agree.
pub async fn head_and_exists(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "head-exists").await;
    let key = c.key("obj");
    expect_kind(
        c.files.head(&key).await,
        ErrorKind::NotFound,
        "head of a missing key",
    );
    assert!(!expect_ok(
        c.files.exists(&key).await,
        "exists of a missing key"
    ));
    expect_kind(
        c.files.download(&key).await,
        ErrorKind::NotFound,
        "download of a missing key",
    );
    expect_kind(
        c.files.exists(&c.key("a//b")).await,
        ErrorKind::InvalidInput,
        "exists with an invalid key must be an error, not false",
    );
    let body = Bytes::from(random_bytes(5, 4321));
    upload_plain(&c, &key, &body).await;
    assert!(expect_ok(c.files.exists(&key).await, "exists after upload"));
    let meta = expect_ok(c.files.head(&key).await, "head after upload");
    assert_eq!(meta.size, 4321);
    assert_eq!(meta.key, key);
    // A key that is a prefix of an existing key is not an object.
    assert!(!expect_ok(
        c.files.exists(&c.key("ob")).await,
        "exists of a key prefix"
    ));
    let dl = expect_ok(c.files.download(&key).await, "download");
    assert_eq!(dl.meta().size, 4321, "download meta size");
    assert_eq!(dl.range(), 0..4321, "a full download's range");
}

/// Deleting removes the object (head, exists, download agree) and nothing else; deleting an
/// absent key succeeds.
pub async fn delete(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "delete").await;
    let key = c.key("a");
    let sibling = c.key("ab");
    expect_ok(c.files.delete(&key).await, "delete of an absent key");
    upload_small(&c, &key, b"to be deleted").await;
    upload_small(&c, &sibling, b"stays").await;
    expect_ok(c.files.delete(&key).await, "delete");
    assert_absent(&c.files, &key, "after delete").await;
    expect_kind(
        c.files.head(&key).await,
        ErrorKind::NotFound,
        "head after delete",
    );
    expect_kind(
        c.files.download(&key).await,
        ErrorKind::NotFound,
        "download after delete",
    );
    expect_ok(c.files.delete(&key).await, "second delete");
    assert_object_eq(&c.files, &sibling, b"stays").await;
}

/// Copy keeps the source and writes the same bytes; rename moves (source gone); both overwrite
/// an existing destination; a missing source is not found.
pub async fn copy_and_rename(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "copy-rename").await;
    let src = c.key("src");
    let dst = c.key("sub/dst");
    let moved = c.key("moved/here");
    let body = c.body(11, 2, 333);
    upload_plain(&c, &src, &body).await;
    upload_small(&c, &dst, b"old destination content, longer than nothing").await;

    let meta = expect_ok(no_hang("copy", c.files.copy(&src, &dst)).await, "copy");
    assert_eq!(meta.size, body.len() as u64, "copy's meta size");
    assert_object_eq(&c.files, &src, &body).await;
    assert_object_eq(&c.files, &dst, &body).await;

    expect_ok(
        no_hang("rename", c.files.rename(&dst, &moved)).await,
        "rename",
    );
    assert_absent(&c.files, &dst, "rename source").await;
    assert_object_eq(&c.files, &moved, &body).await;
    assert_object_eq(&c.files, &src, &body).await;

    // Rename onto an existing object replaces it.
    let small = Bytes::from_static(b"replacement");
    let src2 = c.key("src2");
    upload_plain(&c, &src2, &small).await;
    expect_ok(
        c.files.rename(&src2, &moved).await,
        "rename onto an existing key",
    );
    assert_object_eq(&c.files, &moved, &small).await;
    assert_absent(&c.files, &src2, "rename source").await;

    // Without server-side copy and native rename, the client streams the object through
    // itself: the same results, for an object larger than the default part size too.
    let mut caps = c.caps.clone();
    caps.server_side_copy = false;
    caps.native_rename = false;
    let fallback = Files::from_arc(Arc::new(
        FaultyAdapter::counting(c.files.adapter().clone()).with_capabilities(caps),
    ));
    let mut sizes = vec![body.len()];
    if c.multi_part() && c.rules.default_part_size <= (16 << 20) {
        sizes.push(c.rules.default_part_size as usize + 1000);
    }
    for size in sizes {
        let data = Bytes::from(random_bytes(size as u64, size));
        let a = c.key(&format!("fallback/{size}/a"));
        let b = c.key(&format!("fallback/{size}/b"));
        let d = c.key(&format!("fallback/{size}/d"));
        upload_plain(&c, &a, &data).await;
        let meta = expect_ok(
            no_hang("fallback copy", fallback.copy(&a, &b)).await,
            &format!("copy by streaming ({size} bytes, no server-side copy)"),
        );
        assert_eq!(meta.size, size as u64);
        assert_object_eq(&c.files, &a, &data).await;
        assert_object_eq(&c.files, &b, &data).await;
        expect_ok(
            no_hang("fallback rename", fallback.rename(&b, &d)).await,
            &format!("rename by copy and delete ({size} bytes)"),
        );
        assert_absent(&c.files, &b, "fallback rename source").await;
        assert_object_eq(&c.files, &d, &data).await;
    }

    expect_kind(
        c.files.copy(&c.key("missing"), &c.key("x")).await,
        ErrorKind::NotFound,
        "copy of a missing key",
    );
    expect_kind(
        c.files.rename(&c.key("missing"), &c.key("y")).await,
        ErrorKind::NotFound,
        "rename of a missing key",
    );
    assert_absent(&c.files, &c.key("x"), "copy of a missing key").await;
    assert_absent(&c.files, &c.key("y"), "rename of a missing key").await;
}

/// Invalid keys (`..`, absolute, NUL, `a//b`, 1025 bytes, empty) are invalid input for every
/// operation, before any provider call; unusual but valid keys round trip.
pub async fn key_validation(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "keys").await;
    let good = c.key("good");
    upload_small(&c, &good, b"good").await;
    let long = "x".repeat(1025);
    let bad_keys = [
        c.key("a/../b"),
        "../escape".to_string(),
        c.key(".."),
        "/absolute/key".to_string(),
        c.key("nul\0byte"),
        c.key("a//b"),
        c.key("back\\slash"),
        c.key("./dot"),
        c.key("dot/."),
        long,
        String::new(),
    ];
    let (files, counter) = c.counting();
    for bad in &bad_keys {
        let what = |op: &str| format!("{op} with invalid key {bad:?}");
        expect_kind(
            files.upload(bad.clone(), Body::from("x")).await,
            ErrorKind::InvalidInput,
            &what("upload"),
        );
        expect_kind(
            files.head(bad).await,
            ErrorKind::InvalidInput,
            &what("head"),
        );
        expect_kind(
            files.exists(bad).await,
            ErrorKind::InvalidInput,
            &what("exists"),
        );
        expect_kind(
            files.download(bad.clone()).await,
            ErrorKind::InvalidInput,
            &what("download"),
        );
        expect_kind(
            files.delete(bad).await,
            ErrorKind::InvalidInput,
            &what("delete"),
        );
        expect_kind(
            files.copy(&good, bad).await,
            ErrorKind::InvalidInput,
            &what("copy to"),
        );
        expect_kind(
            files.copy(bad, &good).await,
            ErrorKind::InvalidInput,
            &what("copy from"),
        );
        expect_kind(
            files.rename(&good, bad).await,
            ErrorKind::InvalidInput,
            &what("rename to"),
        );
        expect_kind(
            files.rename(bad, &good).await,
            ErrorKind::InvalidInput,
            &what("rename from"),
        );
    }
    assert_no_provider_call(&counter, "operations on invalid keys");
    assert_object_eq(&c.files, &good, b"good").await;

    // Unusual but valid keys.
    let mut long_ok = c.prefix.clone();
    while long_ok.len() < 1024 {
        let room = 1024 - long_ok.len();
        let seg = room.min(120);
        if room > seg {
            long_ok.push_str(&"k".repeat(seg - 1));
            long_ok.push('/');
        } else {
            long_ok.push_str(&"k".repeat(seg));
        }
    }
    assert_eq!(long_ok.len(), 1024);
    for key in [
        c.key("ünïcødé/ñame.txt"),
        c.key("a..b"),
        c.key("with space"),
        c.key("dots.in.name.tar.gz"),
        long_ok,
    ] {
        let data = key.as_bytes().to_vec();
        upload_small(&c, &key, &data).await;
        assert_object_eq(&c.files, &key, &data).await;
        let listed: Vec<String> = expect_ok(
            c.files
                .list_all(key.clone())
                .map_ok(|o| o.key)
                .try_collect()
                .await,
            "list_all of a valid unusual key",
        );
        assert!(
            listed.contains(&key),
            "{key:?} is listed under itself: {listed:?}"
        );
    }

    // One segment longer than most file systems allow (255 bytes): stored byte-exact, or
    // refused as invalid input, never another kind of failure or a damaged neighbour.
    let long_segment = c.key(&"n".repeat(300));
    let data = Bytes::from(random_bytes(7, 1000));
    match no_hang(
        "a 300-byte segment",
        c.files
            .upload(long_segment.clone(), Body::from_bytes(data.clone())),
    )
    .await
    {
        Ok(_) => assert_object_eq(&c.files, &long_segment, &data).await,
        Err(e) => assert_eq!(
            e.kind(),
            ErrorKind::InvalidInput,
            "[{}] a 300-byte key segment: expected success or invalid input, got {e}",
            c.name
        ),
    }
    assert_object_eq(&c.files, &good, b"good").await;
}

/// Content type, cache control and user metadata round trip through `head` and downloads where
/// supported (single request and multi-part); where not, they are refused before any call.
pub async fn metadata_and_content_type(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "metadata").await;
    let small = Bytes::from_static(b"{\"hello\":\"world\"}");
    let multi = c.body(21, 2, 99);
    for (label, body) in [("small", &small), ("multi", &multi)] {
        let key = c.key(&format!("ct-{label}"));
        let upload = c
            .files
            .upload(&key, Body::from_bytes(body.clone()))
            .part_size(c.ps)
            .content_type("application/json");
        if c.caps.content_type {
            expect_ok(
                no_hang("upload", upload).await,
                "upload with a content type",
            );
            let head = expect_ok(c.files.head(&key).await, "head");
            assert_eq!(
                head.content_type.as_deref(),
                Some("application/json"),
                "{label}: content type"
            );
            let dl = expect_ok(c.files.download(&key).await, "download");
            assert_eq!(dl.meta().content_type.as_deref(), Some("application/json"));
            assert_object_eq(&c.files, &key, body).await;
        } else {
            let (files, counter) = c.counting();
            expect_kind(
                files
                    .upload(&key, Body::from_bytes(body.clone()))
                    .part_size(c.ps)
                    .content_type("application/json")
                    .await,
                ErrorKind::NotSupported,
                "content type without the capability",
            );
            assert_no_provider_call(&counter, "content type without the capability");
            drop(upload);
        }

        let key = c.key(&format!("md-{label}"));
        let build = |files: &Files| {
            files
                .upload(&key, Body::from_bytes(body.clone()))
                .part_size(c.ps)
                .metadata("owner", "alice")
                .metadata("purpose", "conformance")
        };
        if c.caps.metadata {
            expect_ok(
                no_hang("upload", build(&c.files)).await,
                "upload with metadata",
            );
            let head = expect_ok(c.files.head(&key).await, "head");
            let want: BTreeMap<String, String> = [("owner", "alice"), ("purpose", "conformance")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(head.metadata, want, "{label}: user metadata");
            assert_object_eq(&c.files, &key, body).await;
        } else {
            let (files, counter) = c.counting();
            expect_kind(
                build(&files).await,
                ErrorKind::NotSupported,
                "metadata without the capability",
            );
            assert_no_provider_call(&counter, "metadata without the capability");
            assert_absent(&c.files, &key, "refused metadata upload").await;
        }

        let key = c.key(&format!("cc-{label}"));
        if c.caps.cache_control {
            expect_ok(
                no_hang(
                    "upload",
                    c.files
                        .upload(&key, Body::from_bytes(body.clone()))
                        .part_size(c.ps)
                        .cache_control("max-age=60"),
                )
                .await,
                "upload with cache control",
            );
            let head = expect_ok(c.files.head(&key).await, "head");
            assert_eq!(head.cache_control.as_deref(), Some("max-age=60"));
        } else {
            let (files, counter) = c.counting();
            expect_kind(
                files
                    .upload(&key, Body::from_bytes(body.clone()))
                    .cache_control("max-age=60")
                    .await,
                ErrorKind::NotSupported,
                "cache control without the capability",
            );
            assert_no_provider_call(&counter, "cache control without the capability");
        }
    }

    // A copy keeps what the store keeps.
    if c.caps.metadata || c.caps.content_type {
        let src = c.key("copy-src");
        let dst = c.key("copy-dst");
        let mut up = c.files.upload(&src, Body::from_bytes(small.clone()));
        if c.caps.metadata {
            up = up.metadata("k", "v");
        }
        if c.caps.content_type {
            up = up.content_type("text/x-test");
        }
        expect_ok(up.await, "upload");
        expect_ok(c.files.copy(&src, &dst).await, "copy");
        let head = expect_ok(c.files.head(&dst).await, "head of the copy");
        if c.caps.metadata {
            assert_eq!(
                head.metadata.get("k").map(String::as_str),
                Some("v"),
                "metadata survives copy"
            );
        }
        if c.caps.content_type {
            assert_eq!(
                head.content_type.as_deref(),
                Some("text/x-test"),
                "content type survives copy"
            );
        }
    }
}
