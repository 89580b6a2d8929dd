//! End-to-end tests of the memory adapter through the `Files` client and its primitives.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use files_core::{
    Adapter, Body, ErrorKind, Files, LandedPart, ListRequest, ObjectMeta, Part, PartUpload,
    PutOptions, Session, UploadControl, UploadSpec, UploadStatus,
};
use files_memory::MemoryAdapter;
use futures::{StreamExt, TryStreamExt};

/// Deterministic pseudo-random bytes (xorshift), so a misplaced byte cannot go unnoticed.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

async fn fetch(files: &Files, key: &str) -> Vec<u8> {
    files
        .download(key)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn round_trip_exact_bytes() {
    let files = Files::new(MemoryAdapter::new());
    let data = pattern(300 * 1024 + 7, 1);
    let out = files
        .upload("dir/blob.bin", Body::from_bytes(data.clone()))
        .await
        .unwrap();
    assert_eq!(out.meta.size, data.len() as u64);
    assert_eq!(out.meta.key, "dir/blob.bin");

    // Streamed in several chunks, and every byte equal.
    let dl = files.download("dir/blob.bin").await.unwrap();
    assert_eq!(dl.range(), 0..data.len() as u64);
    let chunks: Vec<_> = dl.into_stream().try_collect().await.unwrap();
    assert!(chunks.len() > 1, "expected several chunks");
    let joined: Vec<u8> = chunks.iter().flat_map(|c| c.to_vec()).collect();
    assert_eq!(joined, data);

    // An empty object.
    files
        .upload("empty", Body::from_bytes(Vec::new()))
        .await
        .unwrap();
    assert_eq!(files.head("empty").await.unwrap().size, 0);
    assert!(fetch(&files, "empty").await.is_empty());

    // Overwrite replaces.
    files
        .upload("dir/blob.bin", Body::from("short"))
        .await
        .unwrap();
    assert_eq!(fetch(&files, "dir/blob.bin").await, b"short");

    // Missing objects.
    let err = files.head("nope").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        files.download("nope").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(!files.exists("nope").await.unwrap());
    assert!(files.exists("empty").await.unwrap());
}

#[tokio::test]
async fn stream_bodies_and_announced_lengths() {
    let adapter = MemoryAdapter::new();
    let files = Files::new(adapter.clone());
    let data = pattern(20_000, 2);
    let chunks: Vec<files_core::Result<bytes::Bytes>> = data
        .chunks(3000)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let stream = futures::stream::iter(chunks).boxed();
    files
        .upload("s", Body::from_stream(stream, None))
        .await
        .unwrap();
    assert_eq!(fetch(&files, "s").await, data);

    // A body shorter than announced is refused and stores nothing.
    let short = futures::stream::iter(vec![Ok(bytes::Bytes::from_static(b"abc"))]).boxed();
    let err = adapter
        .put("t", short, Some(10), &PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        files.head("t").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn ranges() {
    let files = Files::new(MemoryAdapter::new());
    let data = pattern(200 * 1024, 3);
    files
        .upload("r", Body::from_bytes(data.clone()))
        .await
        .unwrap();
    let get = |r: files_core::ByteRange| {
        let files = files.clone();
        async move {
            let dl = files.download("r").range(r).await?;
            let range = dl.range();
            assert_eq!(dl.meta().size, 200 * 1024, "meta is the whole object's");
            let bytes = dl.bytes().await?;
            assert_eq!(bytes.len() as u64, range.end - range.start);
            Ok::<_, files_core::Error>((range, bytes.to_vec()))
        }
    };
    let (r, b) = get((10..20).into()).await.unwrap();
    assert_eq!((r, b), (10..20, data[10..20].to_vec()));
    let (r, b) = get((100_000..).into()).await.unwrap();
    assert_eq!((r, b), (100_000..204_800, data[100_000..].to_vec()));
    let (r, b) = get((65_530..=131_080).into()).await.unwrap();
    assert_eq!((r, b), (65_530..131_081, data[65_530..131_081].to_vec()));
    // A range past the end is cut to the object.
    let (r, b) = get((204_000..999_999).into()).await.unwrap();
    assert_eq!((r, b), (204_000..204_800, data[204_000..].to_vec()));
    // Unsatisfiable ranges.
    let reversed = files_core::ByteRange {
        start: 9,
        end: Some(3),
    };
    for bad in [(204_800..).into(), (5..5).into(), reversed] {
        let err = get(bad).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
    }
}

#[tokio::test]
async fn metadata_copy_rename_delete() {
    let adapter = MemoryAdapter::new();
    let files = Files::new(adapter.clone());
    let out = files
        .upload("docs/a.json", Body::from("{\"a\":1}"))
        .content_type("application/json")
        .cache_control("max-age=60")
        .metadata("owner", "ana")
        .metadata("purpose", "test")
        .await
        .unwrap();
    let head = files.head("docs/a.json").await.unwrap();
    assert_eq!(head, out.meta);
    assert_eq!(head.content_type.as_deref(), Some("application/json"));
    assert_eq!(head.cache_control.as_deref(), Some("max-age=60"));
    assert_eq!(head.metadata.get("owner").map(String::as_str), Some("ana"));
    assert_eq!(head.metadata.len(), 2);
    assert!(head.last_modified.is_some());
    let etag = format!("{:08x}", crc32c_of(b"{\"a\":1}"));
    assert_eq!(head.etag.as_deref(), Some(etag.as_str()));

    // The download carries the metadata too.
    let dl = files.download("docs/a.json").await.unwrap();
    assert_eq!(dl.meta().content_type.as_deref(), Some("application/json"));

    // Copy keeps bytes and metadata; the source stays.
    let copied = files.copy("docs/a.json", "docs/b.json").await.unwrap();
    assert_eq!(copied.key, "docs/b.json");
    let b = files.head("docs/b.json").await.unwrap();
    assert_eq!(b.metadata, head.metadata);
    assert_eq!(b.content_type, head.content_type);
    assert_eq!(b.cache_control, head.cache_control);
    assert_eq!(fetch(&files, "docs/b.json").await, b"{\"a\":1}");
    assert!(files.exists("docs/a.json").await.unwrap());

    // Rename moves.
    files.rename("docs/b.json", "docs/c.json").await.unwrap();
    assert!(!files.exists("docs/b.json").await.unwrap());
    assert_eq!(fetch(&files, "docs/c.json").await, b"{\"a\":1}");
    assert_eq!(
        files.head("docs/c.json").await.unwrap().metadata,
        head.metadata
    );
    assert_eq!(
        files.rename("docs/b.json", "x").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        files.copy("docs/b.json", "x").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );

    // Delete, and deleting again is fine.
    files.delete("docs/c.json").await.unwrap();
    files.delete("docs/c.json").await.unwrap();
    assert!(!files.exists("docs/c.json").await.unwrap());

    // Capabilities as documented.
    let caps = files.capabilities();
    assert!(caps.range_read && caps.content_type && caps.metadata && caps.cache_control);
    assert!(caps.server_side_copy && caps.native_rename && caps.list_delimiter);
    assert!(!caps.presign_get && !caps.presign_put && !caps.public_url);
    assert_eq!(caps.resumable, files_core::Resumability::InProcess);
    assert_eq!(
        files
            .presign_get("docs/a.json", std::time::Duration::from_secs(1))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotSupported
    );
    assert_eq!(
        files.url("docs/a.json").unwrap_err().kind(),
        ErrorKind::NotSupported
    );
}

fn crc32c_of(data: &[u8]) -> u32 {
    // Bitwise CRC32C (Castagnoli, reflected 0x82F63B78), independent of the adapter's crate.
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[tokio::test]
async fn list_paging_with_delimiter() {
    let files = Files::new(MemoryAdapter::new());
    let keys = [
        "a/1", "a/2", "b/x/1", "b/x/2", "b/y", "b/z/9", "c", "d/e", "da", "e/",
    ];
    for k in keys {
        files.upload(k, Body::from(k.to_string())).await.unwrap();
    }

    // Delimiter at the root, two entries per page.
    let mut req = ListRequest {
        delimiter: Some("/".into()),
        limit: Some(2),
        ..ListRequest::default()
    };
    let mut objects = Vec::new();
    let mut prefixes = Vec::new();
    let mut pages = 0;
    loop {
        let page = files.list(&req).await.unwrap();
        pages += 1;
        assert!(page.objects.len() + page.prefixes.len() <= 2);
        objects.extend(page.objects.iter().map(|o| o.key.clone()));
        prefixes.extend(page.prefixes.clone());
        match page.cursor {
            Some(c) => req.cursor = Some(c),
            None => break,
        }
        assert!(pages < 20, "listing does not end");
    }
    assert_eq!(objects, ["c", "da"]);
    assert_eq!(prefixes, ["a/", "b/", "d/", "e/"]);
    assert_eq!(pages, 3);

    // Under a prefix, one entry per page.
    let mut req = ListRequest {
        prefix: "b/".into(),
        delimiter: Some("/".into()),
        limit: Some(1),
        ..ListRequest::default()
    };
    let mut entries = Vec::new();
    loop {
        let page = files.list(&req).await.unwrap();
        entries.extend(page.prefixes.clone());
        entries.extend(page.objects.iter().map(|o| o.key.clone()));
        match page.cursor {
            Some(c) => req.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(entries, ["b/x/", "b/y", "b/z/"]);

    // Without a delimiter: every key under the prefix, in order, across pages.
    let page = files
        .list(&ListRequest {
            prefix: "b/".into(),
            ..ListRequest::default()
        })
        .await
        .unwrap();
    let got: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(got, ["b/x/1", "b/x/2", "b/y", "b/z/9"]);
    assert!(page.cursor.is_none() && page.prefixes.is_empty());
    assert_eq!(page.objects[2].size, 3);

    let all: Vec<ObjectMeta> = files.list_all("").try_collect().await.unwrap();
    let all: Vec<_> = all.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(all, keys);

    // Paging without a delimiter, three per page.
    let mut req = ListRequest {
        limit: Some(3),
        ..ListRequest::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = files.list(&req).await.unwrap();
        seen.extend(page.objects.iter().map(|o| o.key.clone()));
        match page.cursor {
            Some(c) => req.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, keys);

    // A prefix that matches nothing.
    let page = files
        .list(&ListRequest {
            prefix: "zz".into(),
            ..ListRequest::default()
        })
        .await
        .unwrap();
    assert!(page.objects.is_empty() && page.cursor.is_none());
}

#[tokio::test]
async fn default_page_size_is_1000() {
    let files = Files::new(MemoryAdapter::new());
    for i in 0..1001 {
        files
            .upload(format!("k/{i:05}"), Body::from("x"))
            .await
            .unwrap();
    }
    let page = files.list(&ListRequest::default()).await.unwrap();
    assert_eq!(page.objects.len(), 1000);
    assert_eq!(page.cursor.as_deref(), Some("k/00999"));
    let next = files
        .list(&ListRequest {
            cursor: page.cursor,
            ..ListRequest::default()
        })
        .await
        .unwrap();
    let keys: Vec<_> = next.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["k/01000"]);
    assert!(next.cursor.is_none());
}

const PART: u64 = 64 * 1024;

/// Starts an 11-part upload that pauses itself once 3 parts landed; returns once it is paused.
async fn start_paused_upload(
    files: &Files,
    key: &str,
    data: &[u8],
    cancel: files_core::CancellationToken,
) -> (
    UploadControl,
    tokio::task::JoinHandle<files_core::Result<files_core::UploadOutcome>>,
) {
    let control = UploadControl::new();
    let c = control.clone();
    let once = Arc::new(AtomicBool::new(false));
    let upload = files
        .upload(key, Body::from_bytes(data.to_vec()))
        .part_size(PART)
        .concurrency(2)
        .control(control.clone())
        .cancellation(cancel)
        .content_type("application/octet-stream")
        .metadata("k", "v")
        .on_progress(move |p| {
            if p.loaded >= 3 * PART && !once.swap(true, Ordering::SeqCst) {
                c.pause();
            }
        });
    let handle = tokio::spawn(upload.send());
    let status = control
        .wait_for(|s| {
            matches!(
                s,
                UploadStatus::Paused | UploadStatus::Completed | UploadStatus::Error
            )
        })
        .await;
    assert_eq!(status, UploadStatus::Paused);
    assert_eq!(control.settled().await, UploadStatus::Paused);
    (control, handle)
}

fn spec(key: &str, total: u64) -> UploadSpec {
    UploadSpec {
        key: key.into(),
        total,
        part_size: PART,
        options: PutOptions::default(),
    }
}

#[tokio::test]
async fn multipart_pause_then_resume() {
    let adapter = MemoryAdapter::new();
    let files = Files::new(adapter.clone());
    let data = pattern(10 * PART as usize + 1000, 4);
    let (control, handle) = start_paused_upload(&files, "big.bin", &data, Default::default()).await;

    // While paused: nothing in flight, the object is not there yet, some parts landed.
    assert!(!files.exists("big.bin").await.unwrap());
    let token = control.token().expect("a session exists");
    assert_eq!(token.provider, "memory");
    assert_eq!(token.target, adapter.target());
    assert!(token.process.is_some());
    let landed = adapter
        .probe(&spec("big.bin", data.len() as u64), &token.session)
        .await
        .unwrap();
    assert!(
        (3..=5).contains(&landed.len()),
        "{} parts landed before the pause",
        landed.len()
    );
    assert_eq!(control.loaded(), landed.iter().map(|p| p.size).sum::<u64>());
    let expected_crc: Vec<u32> = landed
        .iter()
        .map(|p| {
            let off = (p.number as usize - 1) * PART as usize;
            crc32c_of(&data[off..off + PART as usize])
        })
        .collect();
    assert_eq!(
        landed.iter().map(|p| p.crc32c.unwrap()).collect::<Vec<_>>(),
        expected_crc
    );
    assert!(!handle.is_finished());

    control.resume();
    let out = handle.await.unwrap().unwrap();
    assert_eq!(control.status(), UploadStatus::Completed);
    assert_eq!(out.meta.size, data.len() as u64);
    assert_eq!(out.parts_sent, 11);
    assert_eq!(out.bytes_sent, data.len() as u64);
    assert_eq!(fetch(&files, "big.bin").await, data);
    let head = files.head("big.bin").await.unwrap();
    assert_eq!(
        head.content_type.as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(head.metadata.get("k").map(String::as_str), Some("v"));
    assert_eq!(adapter.open_sessions(), 0, "complete removes the session");
    assert!(control.token().is_none());
}

#[tokio::test]
async fn token_resumed_by_a_new_client_sends_only_missing_parts() {
    let name = "resume-by-new-client";
    let first = Files::new(MemoryAdapter::named(name));
    let data = pattern(10 * PART as usize + 1000, 5);
    let cancel = files_core::CancellationToken::new();
    let (control, handle) = start_paused_upload(&first, "obj", &data, cancel.clone()).await;
    let token = control.token().unwrap();
    // Stop the first upload but keep its session.
    cancel.cancel();
    let err = handle.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    let landed_before = token.landed_parts().len() as u64;
    assert!(landed_before >= 3);

    // The token survives JSON, and a brand-new client over the same named store resumes it.
    let json = token.to_json();
    drop(first);
    let second = Files::new(MemoryAdapter::named(name));
    let control2 = UploadControl::from_json(&json).unwrap();
    let out = second
        .upload("obj", Body::from_bytes(data.clone()))
        .control(control2.clone())
        .content_type("application/octet-stream")
        .await
        .unwrap();
    assert!(out.resumed);
    assert!(out.bytes_resumed > 0);
    assert_eq!(out.bytes_resumed, landed_before * PART);
    assert_eq!(out.bytes_sent, data.len() as u64 - out.bytes_resumed);
    assert_eq!(out.parts_sent, 11 - landed_before);
    assert_eq!(fetch(&second, "obj").await, data);
    assert_eq!(MemoryAdapter::named(name).open_sessions(), 0);

    // The session is gone now: the same token cannot be resumed again.
    let err = second
        .upload("obj", Body::from_bytes(data.clone()))
        .control(UploadControl::from_json(&json).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionExpired);
}

#[tokio::test]
async fn token_from_another_process_is_not_supported() {
    let adapter = MemoryAdapter::new();
    let files = Files::new(adapter.clone());
    let data = pattern(10 * PART as usize + 1000, 6);
    let cancel = files_core::CancellationToken::new();
    let (control, handle) = start_paused_upload(&files, "p", &data, cancel.clone()).await;
    cancel.cancel();
    assert_eq!(
        handle.await.unwrap().unwrap_err().kind(),
        ErrorKind::Cancelled
    );
    let mut token = control.token().unwrap();
    token.process = Some("0000000000000000-1".into());
    token.seal();
    let err = files
        .upload("p", Body::from_bytes(data.clone()))
        .control(UploadControl::from_token(token.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported);
    assert!(
        err.message().contains("not supported across processes"),
        "{err}"
    );
    assert!(!files.exists("p").await.unwrap());
    // abort_upload refuses it as well.
    assert_eq!(
        files.abort_upload(&token).await.unwrap_err().kind(),
        ErrorKind::NotSupported
    );
    // The genuine token still aborts the session.
    files.abort_upload(&control.token().unwrap()).await.unwrap();
    assert_eq!(adapter.open_sessions(), 0);
}

#[tokio::test]
async fn checkpoint_is_not_supported() {
    let files = Files::new(MemoryAdapter::new());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cp.json");
    let err = files
        .upload("c", Body::from_bytes(pattern(3 * PART as usize, 7)))
        .part_size(PART)
        .checkpoint(&path)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported);
    assert!(!path.exists());
    assert!(!files.exists("c").await.unwrap());
}

#[tokio::test]
async fn abort_through_control_discards_the_session() {
    let adapter = MemoryAdapter::new();
    let files = Files::new(adapter.clone());
    let data = pattern(10 * PART as usize + 1000, 8);
    let (control, handle) = start_paused_upload(&files, "a", &data, Default::default()).await;
    assert_eq!(adapter.open_sessions(), 1);
    control.abort();
    let err = handle.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Aborted);
    assert_eq!(control.status(), UploadStatus::Aborted);
    assert_eq!(adapter.open_sessions(), 0);
    assert!(!files.exists("a").await.unwrap());
}

#[tokio::test]
async fn part_primitives() {
    let adapter = MemoryAdapter::new();
    let spec = spec("prim", 5);
    let part = |number: u32, data: &'static [u8]| Part {
        number,
        offset: 0,
        data: bytes::Bytes::from_static(data),
        crc32c: crc32c_of(data),
    };
    let s = adapter.begin(&spec).await.unwrap();
    assert!(s.id.starts_with("mem-"));
    let s2 = adapter.begin(&spec).await.unwrap();
    assert_ne!(s.id, s2.id);
    adapter.abort(&spec, &s2).await.unwrap();

    let p1 = adapter.put_part(&spec, &s, part(1, b"xx")).await.unwrap();
    assert_eq!(p1.crc32c, Some(crc32c_of(b"xx")));
    // Putting the same number again replaces it.
    let p1 = adapter.put_part(&spec, &s, part(1, b"ab")).await.unwrap();
    assert_eq!((p1.size, p1.crc32c), (2, Some(crc32c_of(b"ab"))));
    let p2 = adapter.put_part(&spec, &s, part(2, b"cde")).await.unwrap();
    let probed = adapter.probe(&spec, &s).await.unwrap();
    assert_eq!(probed, vec![p1.clone(), p2.clone()]);

    // A part that is missing, parts out of order, no parts: invalid input.
    let missing = LandedPart {
        number: 3,
        size: 1,
        etag: None,
        crc32c: None,
    };
    for bad in [
        vec![p1.clone(), missing],
        vec![p2.clone(), p1.clone()],
        vec![p1.clone(), p1.clone()],
        vec![],
    ] {
        let err = adapter.complete(&spec, &s, &bad).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
    }
    // A failed complete keeps the session.
    assert_eq!(adapter.probe(&spec, &s).await.unwrap().len(), 2);

    let meta = adapter
        .complete(&spec, &s, &[p1.clone(), p2.clone()])
        .await
        .unwrap();
    assert_eq!(meta.size, 5);
    let got = adapter.get("prim", None).await.unwrap();
    let bytes: Vec<_> = got.stream.try_collect::<Vec<_>>().await.unwrap();
    assert_eq!(bytes.concat(), b"abcde");

    // Every call on an unknown session: session expired; abort is fine.
    for gone in [s.clone(), Session::new("mem-999999999")] {
        assert_eq!(
            adapter
                .put_part(&spec, &gone, part(1, b"a"))
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::SessionExpired
        );
        assert_eq!(
            adapter.probe(&spec, &gone).await.unwrap_err().kind(),
            ErrorKind::SessionExpired
        );
        assert_eq!(
            adapter
                .complete(&spec, &gone, std::slice::from_ref(&p1))
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::SessionExpired
        );
        adapter.abort(&spec, &gone).await.unwrap();
    }

    // A session of another store is unknown here.
    let other = MemoryAdapter::new();
    let s3 = other.begin(&spec).await.unwrap();
    assert_eq!(
        adapter.probe(&spec, &s3).await.unwrap_err().kind(),
        ErrorKind::SessionExpired
    );
    other.abort(&spec, &s3).await.unwrap();
    assert_eq!(adapter.open_sessions() + other.open_sessions(), 0);

    // Sessions that are not memory sessions are not trusted.
    assert!(adapter.check_session(&Session::new("mem-12")).is_ok());
    assert_eq!(
        adapter
            .check_session(&Session::new("https://x/y"))
            .unwrap_err()
            .kind(),
        ErrorKind::TokenInvalid
    );
}

#[tokio::test]
async fn stores_by_name() {
    let a = MemoryAdapter::named("shared-store");
    let b = MemoryAdapter::named("shared-store");
    assert_eq!(a.target(), "memory:shared-store");
    assert_eq!(a.provider(), "memory");
    Files::new(a.clone())
        .upload("k", Body::from("v"))
        .await
        .unwrap();
    assert_eq!(fetch(&Files::new(b), "k").await, b"v");

    let x = MemoryAdapter::new();
    let y = MemoryAdapter::new();
    assert_ne!(x.target(), y.target());
    assert!(x.target().starts_with("memory:"));
    Files::new(x.clone())
        .upload("k", Body::from("x"))
        .await
        .unwrap();
    assert!(!Files::new(y).exists("k").await.unwrap());
    // While it lives, an anonymous store is reachable by its name.
    assert_eq!(
        fetch(&Files::new(MemoryAdapter::named(x.name())), "k").await,
        b"x"
    );

    assert_eq!(MemoryAdapter::named("").name(), "default");
}

#[tokio::test]
async fn registered_scheme() {
    assert!(files_core::registry::schemes().contains(&"memory"));
    let files = Files::from_url("memory://url-store").unwrap();
    assert_eq!(files.adapter().target(), "memory:url-store");
    files.upload("a b/c", Body::from("hi")).await.unwrap();

    let (files2, key) = files_core::registry::open_object("memory://url-store/a%20b/c").unwrap();
    assert_eq!(key, "a b/c");
    assert_eq!(fetch(&files2, &key).await, b"hi");

    let d = Files::from_url("memory:///").unwrap();
    assert_eq!(d.adapter().target(), "memory:default");
    let err = files_core::registry::open_object("memory://url-store/").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);

    // The explicit fallback registration is harmless next to inventory's.
    files_memory::register();
    files_memory::register();
    let count = files_core::registry::factories()
        .iter()
        .filter(|f| f.scheme == "memory")
        .count();
    assert_eq!(count, 1);
}

/// A memory adapter whose first `put_part` answer carries a wrong checksum, as if the part had
/// been damaged on the way.
#[derive(Debug)]
struct DamagedOnce {
    inner: MemoryAdapter,
    damaged: AtomicBool,
}

#[async_trait::async_trait]
impl Adapter for DamagedOnce {
    fn provider(&self) -> &'static str {
        self.inner.provider()
    }
    fn target(&self) -> String {
        self.inner.target()
    }
    fn capabilities(&self) -> files_core::Capabilities {
        self.inner.capabilities()
    }
    fn upload_family(&self) -> files_core::UploadFamily<'_> {
        files_core::UploadFamily::Parts(self)
    }
    async fn put(
        &self,
        key: &str,
        body: files_core::ByteStream,
        len: Option<u64>,
        options: &PutOptions,
    ) -> files_core::Result<ObjectMeta> {
        self.inner.put(key, body, len, options).await
    }
    async fn head(&self, key: &str) -> files_core::Result<ObjectMeta> {
        self.inner.head(key).await
    }
    async fn get(
        &self,
        key: &str,
        range: Option<files_core::ByteRange>,
    ) -> files_core::Result<files_core::GetResponse> {
        self.inner.get(key, range).await
    }
    async fn delete(&self, key: &str) -> files_core::Result<()> {
        self.inner.delete(key).await
    }
    async fn list(&self, request: &ListRequest) -> files_core::Result<files_core::ListPage> {
        self.inner.list(request).await
    }
}

#[async_trait::async_trait]
impl PartUpload for DamagedOnce {
    fn rules(&self) -> files_core::PartRules {
        PartUpload::rules(&self.inner)
    }
    fn resumability(&self) -> files_core::Resumability {
        PartUpload::resumability(&self.inner)
    }
    async fn begin(&self, spec: &UploadSpec) -> files_core::Result<Session> {
        self.inner.begin(spec).await
    }
    async fn put_part(
        &self,
        spec: &UploadSpec,
        session: &Session,
        part: Part,
    ) -> files_core::Result<LandedPart> {
        let mut landed = self.inner.put_part(spec, session, part).await?;
        if !self.damaged.swap(true, Ordering::SeqCst) {
            landed.crc32c = landed.crc32c.map(|c| c ^ 1);
        }
        Ok(landed)
    }
    async fn probe(
        &self,
        spec: &UploadSpec,
        session: &Session,
    ) -> files_core::Result<Vec<LandedPart>> {
        self.inner.probe(spec, session).await
    }
    async fn complete(
        &self,
        spec: &UploadSpec,
        session: &Session,
        parts: &[LandedPart],
    ) -> files_core::Result<ObjectMeta> {
        self.inner.complete(spec, session, parts).await
    }
    async fn abort(&self, spec: &UploadSpec, session: &Session) -> files_core::Result<()> {
        self.inner.abort(spec, session).await
    }
}

/// files-core's `send_part` marks a checksum mismatch as transient, but checks it after the
/// retry loop, so the damaged part is never sent again and the whole upload fails.
#[tokio::test(start_paused = true)]
async fn damaged_part_is_sent_again() {
    let files = Files::new(DamagedOnce {
        inner: MemoryAdapter::new(),
        damaged: AtomicBool::new(false),
    });
    let data = pattern(3 * PART as usize, 9);
    let out = files
        .upload("d", Body::from_bytes(data.clone()))
        .part_size(PART)
        .await
        .unwrap();
    assert_eq!(out.retries, 1);
    assert_eq!(fetch(&files, "d").await, data);
}
