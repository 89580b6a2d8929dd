//! Scheduler edge cases that need a scripted provider: an abort racing session creation, a
//! panicking progress callback, a provider that refuses a part size, cancel while paused,
//! parts that landed after the last checkpoint verified by their MD5 ETags.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use files_core::*;

mod common;
use common::{Scripted, SlowAppends};

/// Starts an upload of 100 bytes in parts of 16 under `control` (and `cancel`) in a task.
fn spawn_upload(
    files: &Files,
    control: &UploadControl,
    cancel: Option<CancellationToken>,
) -> tokio::task::JoinHandle<Result<UploadOutcome>> {
    let mut upload = files
        .upload("k", body(100))
        .part_size(16)
        .control(control.clone());
    if let Some(cancel) = cancel {
        upload = upload.cancellation(cancel);
    }
    tokio::spawn(upload.into_future())
}

/// Uploads `data` in parts of 16, one at a time, pauses once `pause_at` bytes are loaded and
/// cancels while paused: the control (holding the token) and what the call returned.
async fn pause_then_cancel(
    files: &Files,
    data: Vec<u8>,
    pause_at: u64,
) -> (UploadControl, Result<UploadOutcome>) {
    let control = UploadControl::new();
    let cancel = CancellationToken::new();
    let c2 = control.clone();
    let task = tokio::spawn(
        files
            .upload("k", data)
            .part_size(16)
            .concurrency(1)
            .control(control.clone())
            .cancellation(cancel.clone())
            .on_progress(move |p| {
                if p.loaded >= pause_at {
                    c2.pause();
                }
            })
            .into_future(),
    );
    assert_eq!(control.settled().await, UploadStatus::Paused);
    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("cancel while paused must not hang")
        .unwrap();
    (control, result)
}

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
    let task = spawn_upload(&files, &control, None);
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
    let (control, result) = pause_then_cancel(&files, body(100), 16).await;
    let err = result.unwrap_err();
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

/// Parts that landed after the last checkpoint (so the token has no fingerprint of them) on a
/// provider that vouches no CRC32C but tags parts with their MD5 (S3-compatible stores): the
/// parts whose MD5 matches the body are kept, a part whose ETag does not match is sent again,
/// and the object ends up byte-identical to the body.
#[tokio::test]
async fn parts_landed_after_the_last_checkpoint_are_checked_by_md5_etag() {
    let adapter = Arc::new(Scripted {
        md5_etags: true,
        ..Scripted::default()
    });
    let files = Files::from_arc(adapter.clone());
    let data = body(160); // 10 parts of 16
    let (control, result) = pause_then_cancel(&files, data.clone(), 32).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    let token = control.token().expect("a resumable token");
    let confirmed = token.fingerprint.parts.len() as u32;
    assert!(confirmed >= 2, "two parts were confirmed before the pause");

    // Parts land behind the token's back, as if the process died before checkpointing them:
    // four with the body's bytes, one with other bytes.
    {
        let mut sessions = adapter.sessions.lock().unwrap();
        let parts = sessions.get_mut(&token.session.id).expect("the session");
        for n in confirmed + 1..=confirmed + 4 {
            let off = (n as usize - 1) * 16;
            parts.insert(n, Bytes::copy_from_slice(&data[off..off + 16]));
        }
        parts.insert(confirmed + 5, Bytes::from(vec![0xAB; 16]));
    }

    let sent_before = adapter.puts.load(Ordering::SeqCst);
    let out = files
        .upload("k", data.clone())
        .control(UploadControl::from_json(&token.to_json()).unwrap())
        .await
        .unwrap();
    let sent = adapter.puts.load(Ordering::SeqCst) - sent_before;
    // Everything but the confirmed parts and the four good ones is sent: 10 - confirmed - 4,
    // which includes the part whose ETag did not match.
    assert_eq!(sent, 10 - confirmed - 4, "parts sent on resume");
    assert_eq!(out.bytes_resumed, u64::from(confirmed + 4) * 16);
    assert_eq!(&adapter.objects.lock().unwrap()["k"][..], &data[..]);
}

/// A part nothing vouches for (no CRC32C, no ETag, no fingerprint in the token) is sent again
/// rather than trusted; the parts the token fingerprinted are checked by their fingerprints.
#[tokio::test]
async fn unverifiable_landed_parts_are_sent_again() {
    let adapter = Arc::new(Scripted {
        no_checksums: true,
        ..Scripted::default()
    });
    let files = Files::from_arc(adapter.clone());
    let data = body(64);
    let token = {
        let (control, _) = pause_then_cancel(&files, data.clone(), 16).await;
        control.token().unwrap()
    };
    // A part lands with the body's bytes but is reported with neither CRC32C nor ETag.
    let confirmed = token.fingerprint.parts.len() as u32;
    assert!(confirmed >= 1);
    {
        let mut sessions = adapter.sessions.lock().unwrap();
        let parts = sessions.get_mut(&token.session.id).unwrap();
        let n = confirmed + 1;
        let off = (n as usize - 1) * 16;
        parts.insert(n, Bytes::copy_from_slice(&data[off..off + 16]));
    }
    let sent_before = adapter.puts.load(Ordering::SeqCst);
    let out = files
        .upload("k", data.clone())
        .control(UploadControl::from_json(&token.to_json()).unwrap())
        .await
        .unwrap();
    let sent = adapter.puts.load(Ordering::SeqCst) - sent_before;
    assert_eq!(
        sent,
        4 - confirmed,
        "every part but the fingerprinted ones is sent"
    );
    assert_eq!(out.bytes_resumed, u64::from(confirmed) * 16);
    assert_eq!(&adapter.objects.lock().unwrap()["k"][..], &data[..]);
}

/// A process killed while its complete was in flight: the checkpoint says the complete was
/// sent, the provider has already dropped the session but is still assembling the object (moto
/// does exactly this; a large real S3 complete can too). The resume waits for the object to
/// appear instead of reporting `session_expired`; with no object appearing it does report it.
#[tokio::test]
async fn a_resume_during_the_providers_assembly_waits_for_the_object() {
    let adapter = Arc::new(Scripted::default());
    let files = Files::from_arc(adapter.clone());
    let data = body(64);
    let (control, result) = pause_then_cancel(&files, data.clone(), 16).await;
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Cancelled);
    let mut token = control.token().expect("a resumable token");
    token.completing = true;
    let json = token.to_json();

    // No object ever appears: session expired, after a bounded wait.
    adapter.sessions.lock().unwrap().clear();
    let err = files
        .upload("k", data.clone())
        .timeout(Duration::from_millis(400))
        .control(UploadControl::from_json(&json).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionExpired, "{err}");

    // The object appears while the resume waits: the upload is complete, nothing is sent.
    let late = adapter.clone();
    let expected = Bytes::from(data.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        late.objects.lock().unwrap().insert("k".into(), expected);
    });
    let sent_before = adapter.puts.load(Ordering::SeqCst);
    let out = files
        .upload("k", data.clone())
        .control(UploadControl::from_json(&json).unwrap())
        .await
        .expect("the complete that was in flight landed");
    assert_eq!(out.meta.size, 64);
    assert_eq!(
        adapter.puts.load(Ordering::SeqCst),
        sent_before,
        "nothing re-sent"
    );
    assert_eq!(&adapter.objects.lock().unwrap()["k"][..], &data[..]);
}

/// An append in flight when the upload is aborted finishes before the session is discarded,
/// and nothing runs after the call returned: a late append would bring a deleted part file
/// back (or land after the call said it stopped).
#[tokio::test]
async fn offset_abort_lets_the_append_in_flight_finish_before_discarding() {
    let adapter = Arc::new(SlowAppends::default());
    let files = Files::from_arc(adapter.clone());
    let control = UploadControl::new();
    let task = spawn_upload(&files, &control, None);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(adapter.events(), ["append-start"], "an append is in flight");
    control.abort();
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Aborted);
    let at_return = adapter.events();
    assert_eq!(at_return, ["append-start", "append-end", "cancel"]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        adapter.events(),
        at_return,
        "nothing ran after the call returned"
    );
}

/// The same for a cancelled call: it returns once the append in flight ended, keeps the
/// session, and nothing lands afterwards.
#[tokio::test]
async fn offset_cancel_lets_the_append_in_flight_finish() {
    let adapter = Arc::new(SlowAppends::default());
    let files = Files::from_arc(adapter.clone());
    let control = UploadControl::new();
    let cancel = CancellationToken::new();
    let task = spawn_upload(&files, &control, Some(cancel.clone()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    cancel.cancel();
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    let at_return = adapter.events();
    assert_eq!(at_return, ["append-start", "append-end"]);
    assert!(control.token().is_some(), "a cancel keeps the session");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        adapter.events(),
        at_return,
        "nothing ran after the call returned"
    );
}
