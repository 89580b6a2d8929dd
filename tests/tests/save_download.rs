//! `download(..).save(path)`: a download into a file that survives interruption across
//! processes. Each test checks the file's bytes (SHA-256) and what was fetched again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use files::memory::MemoryAdapter;
use files::{Adapter, Body, CancellationToken, Discarded, ErrorKind, Files, RetryPolicy, Save};
use files_testkit::util::{random_bytes, sha256_hex, unique_prefix};
use files_testkit::{FaultConfig, FaultyAdapter};

fn store() -> Arc<dyn Adapter> {
    Arc::new(MemoryAdapter::named(
        unique_prefix("save").replace('/', "-"),
    ))
}

async fn put(files: &Files, key: &str, body: &[u8]) {
    files
        .upload(key, Body::from_bytes(body.to_vec()))
        .await
        .unwrap();
}

fn sha_file(path: &std::path::Path) -> String {
    sha256_hex(&std::fs::read(path).unwrap())
}

/// Saves `key` to `path` slowly and cancels once the file holds at least `at_least` bytes;
/// returns the bytes the partial file kept.
async fn cancelled_save(files: &Files, key: &str, path: &std::path::Path, at_least: u64) -> u64 {
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let err = files
        .download(key)
        .save(path)
        .rate_limit(8 << 20)
        .cancellation(cancel)
        .on_progress(move |pos, _| {
            if pos >= at_least {
                trigger.cancel();
            }
        })
        .await
        .expect_err("cancelled");
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    std::fs::metadata(Save::partial_path(path)).unwrap().len()
}

#[tokio::test]
async fn a_cancelled_save_is_continued_by_the_next() {
    let files = Files::from_arc(store());
    let body = random_bytes(1, (5 << 20) + 333);
    put(&files, "a/big.bin", &body).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");

    let kept = cancelled_save(&files, "a/big.bin", &path, 1 << 20).await;
    assert!(kept >= 1 << 20);
    assert!(!path.exists(), "nothing in place before the file is whole");
    let saved = files.download("a/big.bin").save(&path).await.unwrap();
    assert_eq!(
        saved.bytes_resumed, kept,
        "every kept byte is trusted in this boot"
    );
    assert_eq!(saved.bytes, body.len() as u64);
    assert_eq!(saved.discarded, None);
    assert_eq!(sha_file(&path), sha256_hex(&body));
    assert!(!Save::partial_path(&path).exists());

    // Nothing left to continue: the next save downloads everything again.
    let again = files.download("a/big.bin").save(&path).await.unwrap();
    assert_eq!((again.bytes_resumed, again.discarded), (0, None));
    assert_eq!(sha_file(&path), sha256_hex(&body));
}

#[tokio::test]
async fn a_save_broken_off_past_its_retries_is_continued_later() {
    let inner = store();
    let body = random_bytes(2, 3 << 20);
    put(&Files::from_arc(inner.clone()), "k", &body).await;
    // Every body is cut, and this client does not retry: the save fails, the partial stays.
    let cutting = Arc::new(FaultyAdapter::new(
        inner.clone(),
        FaultConfig {
            seed: 2,
            cut_download: 1.0,
            ..FaultConfig::none()
        },
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.bin");
    let err = Files::from_arc(cutting.clone())
        .with_retry(RetryPolicy::none())
        .download("k")
        .save(&path)
        .await
        .expect_err("cut, no retries");
    assert!(err.is_retryable(), "{err}");
    let kept = std::fs::metadata(Save::partial_path(&path)).unwrap().len();
    assert!(kept > 0 && kept < body.len() as u64, "{kept}");

    let saved = Files::from_arc(cutting)
        .with_retry(RetryPolicy {
            max_retries: 10,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            deadline: Duration::from_secs(30),
        })
        .download("k")
        .save(&path)
        .await
        .unwrap();
    assert_eq!(saved.bytes_resumed, kept);
    assert_eq!(sha_file(&path), sha256_hex(&body));
}

#[tokio::test]
async fn a_partial_of_another_version_request_or_a_restart_is_discarded() {
    let files = Files::from_arc(store());
    let body = random_bytes(3, 4 << 20);
    put(&files, "k", &body).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.bin");

    cancelled_save(&files, "k", &path, 1 << 20).await;
    let replaced = random_bytes(4, 4 << 20);
    put(&files, "k", &replaced).await;
    let saved = files.download("k").save(&path).await.unwrap();
    assert_eq!(saved.discarded, Some(Discarded::Changed));
    assert_eq!(saved.bytes_resumed, 0);
    assert_eq!(sha_file(&path), sha256_hex(&replaced));

    // An earlier complete file stays in place until the new one is whole.
    cancelled_save(&files, "k", &path, 1 << 20).await;
    assert_eq!(sha_file(&path), sha256_hex(&replaced));
    let saved = files
        .download("k")
        .range(1000u64..3_000_000)
        .save(&path)
        .await
        .unwrap();
    assert_eq!(saved.discarded, Some(Discarded::AnotherDownload));
    assert_eq!(sha_file(&path), sha256_hex(&replaced[1000..3_000_000]));

    cancelled_save(&files, "k", &path, 1 << 20).await;
    let saved = files.download("k").save(&path).restart().await.unwrap();
    assert_eq!(saved.discarded, Some(Discarded::Restart));
    assert_eq!(saved.bytes_resumed, 0);
    assert_eq!(sha_file(&path), sha256_hex(&replaced));
}

#[tokio::test]
async fn after_a_reboot_only_synced_bytes_are_trusted() {
    let files = Files::from_arc(store());
    let body = random_bytes(5, 4 << 20);
    put(&files, "k", &body).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.bin");
    let kept = cancelled_save(&files, "k", &path, 2 << 20).await;

    // As if the machine rebooted after only the first 1,000,000 bytes reached the disk: the
    // record is from another boot and counts that many synced (and the bytes after them are
    // garbage the continuation must overwrite).
    let record_path = {
        let mut p = Save::partial_path(&path).into_os_string();
        p.push(".json");
        std::path::PathBuf::from(p)
    };
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    assert_eq!(
        record["synced"], kept,
        "a cancel syncs and counts every byte"
    );
    record["boot"] = "an earlier boot".into();
    record["synced"] = 1_000_000.into();
    std::fs::write(&record_path, record.to_string()).unwrap();
    let data = Save::partial_path(&path);
    let mut garbage = std::fs::read(&data).unwrap();
    garbage[1_000_000..].fill(0xAA);
    std::fs::write(&data, garbage).unwrap();

    let saved = files.download("k").save(&path).await.unwrap();
    assert_eq!(saved.bytes_resumed, 1_000_000);
    assert_eq!(sha_file(&path), sha256_hex(&body));
}

#[tokio::test]
async fn progress_starts_at_the_kept_bytes_and_ends_at_the_total() {
    let files = Files::from_arc(store());
    let body = random_bytes(6, 3 << 20);
    put(&files, "k", &body).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.bin");
    let kept = cancelled_save(&files, "k", &path, 1 << 20).await;
    let first = Arc::new(AtomicU64::new(u64::MAX));
    let last = Arc::new(AtomicU64::new(0));
    let (f, l) = (first.clone(), last.clone());
    files
        .download("k")
        .save(&path)
        .on_progress(move |pos, total| {
            assert_eq!(total, 3 << 20);
            let _ = f.compare_exchange(u64::MAX, pos, Ordering::SeqCst, Ordering::SeqCst);
            assert!(pos >= l.swap(pos, Ordering::SeqCst), "never backwards");
        })
        .await
        .unwrap();
    assert_eq!(first.load(Ordering::SeqCst), kept);
    assert_eq!(last.load(Ordering::SeqCst), 3 << 20);
}

#[tokio::test]
async fn an_empty_object_and_a_missing_one() {
    let files = Files::from_arc(store());
    put(&files, "empty", b"").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.bin");
    let saved = files.download("empty").save(&path).await.unwrap();
    assert_eq!(saved.bytes, 0);
    assert_eq!(std::fs::read(&path).unwrap(), b"");

    let err = files
        .download("missing")
        .save(dir.path().join("missing.bin"))
        .await
        .expect_err("not found");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(!Save::partial_path(&dir.path().join("missing.bin")).exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only empty.bin"
    );
}

#[tokio::test]
async fn a_second_save_to_the_same_file_is_refused_while_the_first_runs() {
    let files = Files::from_arc(store());
    let body = random_bytes(7, 4 << 20);
    put(&files, "k", &body).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.bin");
    let started = Arc::new(tokio::sync::Notify::new());
    let first = {
        let (files, path, started) = (files.clone(), path.clone(), started.clone());
        tokio::spawn(async move {
            files
                .download("k")
                .save(&path)
                .rate_limit(8 << 20)
                .on_progress(move |pos, _| {
                    if pos > 0 {
                        started.notify_one();
                    }
                })
                .await
        })
    };
    started.notified().await;
    let err = files.download("k").save(&path).await.expect_err("locked");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(err.message().contains("in progress"), "{err}");
    let saved = first.await.unwrap().unwrap();
    assert_eq!(saved.bytes, body.len() as u64);
    assert_eq!(sha_file(&path), sha256_hex(&body));
    assert!(!Save::partial_path(&path).exists());
}

#[tokio::test]
async fn a_tampered_record_or_partial_file_is_not_trusted() {
    let files = Files::from_arc(store());
    let body = random_bytes(8, 3 << 20);
    put(&files, "k", &body).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.bin");
    let record_path = {
        let mut p = Save::partial_path(&path).into_os_string();
        p.push(".json");
        std::path::PathBuf::from(p)
    };

    // A record whose range starts past the object's end, and a partial file longer than the
    // download it records: both start over, with the right bytes, no panic.
    cancelled_save(&files, "k", &path, 1 << 20).await;
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    record["size"] = 10.into();
    record["start"] = 2_000_000.into();
    std::fs::write(&record_path, record.to_string()).unwrap();
    let saved = files
        .download("k")
        .range(2_000_000u64..)
        .save(&path)
        .await
        .unwrap();
    assert_eq!(saved.bytes_resumed, 0);
    assert_eq!(sha_file(&path), sha256_hex(&body[2_000_000..]));

    cancelled_save(&files, "k", &path, 1 << 20).await;
    let data = Save::partial_path(&path);
    std::fs::write(&data, vec![1u8; (3 << 20) + 5]).unwrap();
    let saved = files.download("k").save(&path).await.unwrap();
    assert_eq!(saved.discarded, Some(Discarded::AnotherDownload));
    assert_eq!(sha_file(&path), sha256_hex(&body));

    // Garbage in the record: ignored, started over.
    cancelled_save(&files, "k", &path, 1 << 20).await;
    std::fs::write(&record_path, b"{not json").unwrap();
    let saved = files.download("k").save(&path).await.unwrap();
    assert_eq!(saved.bytes_resumed, 0);
    assert_eq!(sha_file(&path), sha256_hex(&body));
}

#[tokio::test]
async fn a_parallel_save_continues_from_an_unaligned_offset() {
    let files = Files::from_arc(store());
    let body = random_bytes(9, (6 << 20) + 77);
    put(&files, "k", &body).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.bin");
    let kept = cancelled_save(&files, "k", &path, 1 << 20).await;
    // Cut the kept bytes to an offset that is no multiple of anything.
    let data = Save::partial_path(&path);
    let f = std::fs::OpenOptions::new().write(true).open(&data).unwrap();
    let odd = kept.min(1_234_567);
    f.set_len(odd).unwrap();
    drop(f);
    let saved = files
        .download("k")
        .concurrency(3)
        .chunk_size(1 << 20)
        .save(&path)
        .await
        .unwrap();
    assert_eq!(saved.bytes_resumed, odd);
    assert_eq!(sha_file(&path), sha256_hex(&body));
}
