//! Parallel downloads (`download(..).concurrency(n)`) beyond what the conformance check covers
//! (there, every adapter against its server): an object replaced mid-download fails with
//! `Conflict` instead of mixing versions, and sizes around the range size match a plain
//! download byte for byte.

use files::memory::MemoryAdapter;
use files::{Body, ErrorKind, Files};
use files_testkit::util::{random_bytes, sha256_hex};
use futures::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_replaced_mid_download_is_a_conflict_not_a_mix() {
    let files = Files::new(MemoryAdapter::new());
    let old = random_bytes(1, 64 << 10);
    files
        .upload("obj", Body::from_bytes(old.clone()))
        .await
        .unwrap();
    let dl = files
        .download("obj")
        .concurrency(2)
        .chunk_size(4 << 10)
        .await
        .unwrap();
    let mut stream = dl.into_stream();
    // The first range, then a new version under the key: two ranges are at most in flight,
    // so later ones are read from the new version.
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(&first[..], &old[..4 << 10]);
    let new = random_bytes(2, 64 << 10);
    files.upload("obj", Body::from_bytes(new)).await.unwrap();
    let mut got = first.to_vec();
    let mut failed = None;
    while let Some(piece) = stream.next().await {
        match piece {
            Ok(b) => got.extend_from_slice(&b),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let e = failed.expect("the download noticed the new version");
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    // Whatever was yielded before is the old version's, in order.
    assert_eq!(&got[..], &old[..got.len()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parallel_download_matches_a_plain_one_byte_for_byte() {
    let files = Files::new(MemoryAdapter::new());
    for size in [0usize, 1, 4095, 4096, 4097, 100_000] {
        let body = random_bytes(size as u64, size);
        let key = format!("obj-{size}");
        files
            .upload(&key, Body::from_bytes(body.clone()))
            .await
            .unwrap();
        for n in [1, 2, 3, 8] {
            let dl = files
                .download(&key)
                .concurrency(n)
                .chunk_size(4096)
                .await
                .unwrap();
            assert_eq!(dl.range(), 0..size as u64);
            let got = dl.bytes().await.unwrap();
            assert_eq!(
                sha256_hex(&got),
                sha256_hex(&body),
                "size {size}, {n} at a time"
            );
        }
    }
}
