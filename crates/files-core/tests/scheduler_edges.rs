//! Scheduler edge cases that need a scripted provider: an abort racing session creation, a
//! panicking progress callback, a provider that refuses a part size, cancel while paused.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use files_core::*;

mod common;
use common::Scripted;

fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

#[tokio::test]
async fn abort_while_the_session_is_being_created_discards_it() {
    let adapter = Arc::new(Scripted {
        begin_delay_ms: 200,
        ..Scripted::default()
    });
    let files = Files::from_arc(adapter.clone());
    let control = UploadControl::new();
    let task = tokio::spawn(
        files
            .upload("k", body(100))
            .part_size(16)
            .control(control.clone())
            .into_future(),
    );
    // Abort while begin() sleeps: the session it creates must still be discarded.
    tokio::time::sleep(Duration::from_millis(50)).await;
    control.abort();
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Aborted);
    assert_eq!(adapter.begins.load(Ordering::SeqCst), 1);
    assert_eq!(
        adapter.aborts.load(Ordering::SeqCst),
        1,
        "the new session was leaked"
    );
    assert!(adapter.sessions.lock().unwrap().is_empty());
    assert_eq!(control.status(), UploadStatus::Aborted);
    assert!(control.token().is_none());
}

#[tokio::test]
async fn a_panicking_progress_callback_changes_nothing() {
    let adapter = Arc::new(Scripted::default());
    let files = Files::from_arc(adapter.clone());
    let data = body(100);
    let out = files
        .upload("k", data.clone())
        .part_size(16)
        .control(UploadControl::new())
        .on_progress(|p| {
            if p.loaded > 0 {
                panic!("callback bug")
            }
        })
        .await
        .unwrap();
    assert_eq!(out.meta.size, 100);
    // 7 parts, each sent exactly once.
    assert_eq!(adapter.puts.load(Ordering::SeqCst), 7);
    assert_eq!(&adapter.objects.lock().unwrap()["k"][..], &data[..]);
}

#[tokio::test]
async fn part_sizes_the_provider_refuses_fail_before_any_call() {
    let adapter = Arc::new(Scripted::default());
    let files = Files::from_arc(adapter.clone());
    for bad in [0, 3, 2 << 20] {
        let err = files
            .upload("k", body(100))
            .part_size(bad)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}: {err}");
    }
    // 1000 bytes in 4-byte parts is 250 parts; the provider allows 100.
    let err = files
        .upload("k", body(1000))
        .part_size(4)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("at most 100"), "{err}");
    assert_eq!(adapter.begins.load(Ordering::SeqCst), 0);
    assert_eq!(adapter.puts.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn cancel_while_paused_returns_and_keeps_the_session() {
    let adapter = Arc::new(Scripted::default());
    let files = Files::from_arc(adapter.clone());
    let control = UploadControl::new();
    let cancel = CancellationToken::new();
    let c2 = control.clone();
    let task = tokio::spawn(
        files
            .upload("k", body(100))
            .part_size(16)
            .concurrency(1)
            .control(control.clone())
            .cancellation(cancel.clone())
            .on_progress(move |p| {
                if p.loaded >= 16 {
                    c2.pause();
                }
            })
            .into_future(),
    );
    assert_eq!(control.settled().await, UploadStatus::Paused);
    cancel.cancel();
    let err = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("cancel while paused must not hang")
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert_eq!(control.status(), UploadStatus::Error);
    assert_eq!(adapter.aborts.load(Ordering::SeqCst), 0);
    let token = control.token().expect("a resumable token");
    assert_eq!(adapter.sessions.lock().unwrap().len(), 1);

    // A new control from the token finishes it, sending only what is missing.
    let sent_before = adapter.puts.load(Ordering::SeqCst);
    let out = files
        .upload("k", body(100))
        .control(UploadControl::from_json(&token.to_json()).unwrap())
        .await
        .unwrap();
    assert!(out.resumed);
    assert_eq!(out.bytes_resumed + out.bytes_sent, 100);
    assert_eq!(
        adapter.puts.load(Ordering::SeqCst) - sent_before,
        out.parts_sent as u32
    );
    assert_eq!(&adapter.objects.lock().unwrap()["k"][..], &body(100)[..]);
}
