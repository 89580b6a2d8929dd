//! Resumable uploads: pause and resume, resume from a token in a new client, abort, cancel
//! while paused, progress, checkpoint files, stream bodies, one control per upload.

use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use files_core::token::ResumeToken;
use files_core::{
    Body, Bytes, CancellationToken, ErrorKind, Progress, Resumability, UploadControl, UploadStatus,
};
use futures::TryStreamExt;

use super::Fixture;
use super::support::*;
use crate::util::{assert_object_eq, random_bytes};

/// Pause from the progress callback after the first part: the upload settles as paused,
/// `loaded` stays put while paused, and after `resume` it completes with the exact bytes,
/// nothing sent twice.
pub async fn pause_resume(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "pause").await;
    if refused_without_resume(&c).await {
        return;
    }
    let key = c.key("obj");
    let body = c.body(31, 10, 4321);
    let total = body.len() as u64;
    let control = UploadControl::new();
    let paused_once = Arc::new(AtomicBool::new(false));
    let requested = Arc::new(tokio::sync::Notify::new());
    let events = Arc::new(AtomicU64::new(0));
    let (ctl, flag, note, ev) = (
        control.clone(),
        paused_once.clone(),
        requested.clone(),
        events.clone(),
    );
    let task = tokio::spawn(
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .part_size(c.ps)
            .concurrency(2)
            .control(control.clone())
            .on_progress(move |p| {
                ev.fetch_add(1, Ordering::SeqCst);
                if p.loaded > 0 && !flag.swap(true, Ordering::SeqCst) {
                    ctl.pause();
                    note.notify_one();
                }
            })
            .into_future(),
    );
    no_hang("the pause request", requested.notified()).await;
    let status = no_hang("settling after pause", control.settled()).await;
    assert_eq!(status, UploadStatus::Paused, "status after pause settled");
    let loaded = control.loaded();
    assert!(
        loaded > 0 && loaded < total,
        "loaded while paused: {loaded} of {total}"
    );
    assert!(control.token().is_some(), "a paused upload has a token");
    let seen = events.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(control.loaded(), loaded, "loaded moved while paused");
    assert_eq!(
        events.load(Ordering::SeqCst),
        seen,
        "progress reported while paused"
    );
    assert_eq!(control.status(), UploadStatus::Paused);
    assert!(!task.is_finished(), "a paused upload's call stays pending");
    assert_absent(&c.files, &key, "a paused upload").await;

    control.resume();
    let out = no_hang("the resumed upload", task)
        .await
        .expect("upload task")
        .unwrap_or_else(|e| panic!("paused upload failed after resume: {e}"));
    assert_eq!(out.meta.size, total);
    assert_eq!(
        out.bytes_sent, total,
        "a paused and resumed call sends every byte once"
    );
    assert_eq!(control.status(), UploadStatus::Completed);
    assert!(control.token().is_none(), "no token after completion");
    assert_eq!(control.loaded(), total);
    assert_object_eq(&c.files, &key, &body).await;
}

/// Cancel an upload after some parts (a `CancellationToken`): cancelled, status error, token
/// kept; then resume from the token on a fresh client: completes, sending only what did not
/// land, with the exact bytes.
pub async fn resume_from_token_in_new_client(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "resume-token").await;
    if refused_without_resume(&c).await {
        return;
    }
    let key = c.key("obj");
    let body = c.body(41, 12, 777);
    let total = body.len() as u64;
    let token = cancelled_upload(&c, &key, &body, 3 * c.ps).await;
    assert!(
        landed_offset_in_token(&token) > 0,
        "the token records landed bytes: {token:?}"
    );
    assert_absent(&c.files, &key, "a cancelled upload").await;

    let fresh = fixture.client().await;
    let control = UploadControl::from_token(ResumeToken::from_json(&token.to_json()).unwrap());
    let out = no_hang(
        "resume",
        fresh
            .upload(&key, Body::from_bytes(body.clone()))
            .control(control.clone())
            .concurrency(2),
    )
    .await
    .unwrap_or_else(|e| panic!("resume from a token in a new client failed: {e}"));
    assert!(out.resumed, "the outcome says resumed");
    assert!(
        out.bytes_resumed > 0,
        "bytes_resumed: {}",
        out.bytes_resumed
    );
    assert!(
        out.bytes_sent < total,
        "bytes_sent {} of {total}",
        out.bytes_sent
    );
    assert_eq!(
        out.bytes_resumed + out.bytes_sent,
        total,
        "resumed + sent must be the body (only missing bytes sent)"
    );
    assert_eq!(out.meta.size, total);
    assert_eq!(control.status(), UploadStatus::Completed);
    assert_object_eq(&fresh, &key, &body).await;
    assert_object_eq(&c.files, &key, &body).await;
}

/// Abort discards the session: the call ends aborted, status aborted, no token, the old token
/// cannot be resumed (session expired), the provider holds nothing of it, no object appears.
/// Also abort-before-start with a token and `Files::abort_upload`.
pub async fn abort_cleans_session(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "abort").await;
    if refused_without_resume(&c).await {
        return;
    }
    let key = c.key("obj");
    let body = c.body(51, 8, 10);
    let control = UploadControl::new();
    let captured: Arc<Mutex<Option<ResumeToken>>> = Arc::default();
    let (ctl, cap) = (control.clone(), captured.clone());
    let result = no_hang(
        "aborted upload",
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .part_size(c.ps)
            .concurrency(2)
            .control(control.clone())
            .on_progress(move |p| {
                if p.loaded > 0 {
                    let mut slot = cap.lock().unwrap();
                    if slot.is_none() {
                        *slot = p.token.clone();
                        ctl.abort();
                    }
                }
            }),
    )
    .await;
    expect_kind(result, ErrorKind::Aborted, "an aborted upload");
    assert_eq!(control.status(), UploadStatus::Aborted);
    assert!(control.token().is_none(), "no token after abort");
    let old = captured
        .lock()
        .unwrap()
        .clone()
        .expect("the progress callback saw a token");
    assert_session_gone(&c.files, &old, "after abort").await;
    if let Some(left) = fixture.leftovers(&old).await {
        assert!(left.is_empty(), "the aborted session left: {left:?}");
    }
    assert_absent(&c.files, &key, "an aborted upload").await;
    let listed: Vec<String> = expect_ok(
        c.files
            .list_all(c.prefix.clone())
            .map_ok(|o| o.key)
            .try_collect()
            .await,
        "list",
    );
    assert!(
        listed.is_empty(),
        "an aborted upload left objects: {listed:?}"
    );

    let resumed = no_hang(
        "resume of an aborted session",
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .control(UploadControl::from_token(old.clone())),
    )
    .await;
    expect_kind(
        resumed,
        ErrorKind::SessionExpired,
        "resuming an aborted session",
    );
    assert_absent(&c.files, &key, "a resume of an aborted session").await;

    // Abort before the call starts, with a token: the session is discarded at once.
    let key2 = c.key("obj2");
    let token2 = cancelled_upload(&c, &key2, &body, 2 * c.ps).await;
    let control2 = UploadControl::from_token(token2.clone());
    control2.abort();
    let result = no_hang(
        "abort before start",
        c.files
            .upload(&key2, Body::from_bytes(body.clone()))
            .control(control2.clone()),
    )
    .await;
    expect_kind(
        result,
        ErrorKind::Aborted,
        "an upload aborted before it started",
    );
    assert_eq!(control2.status(), UploadStatus::Aborted);
    assert!(control2.token().is_none());
    assert_session_gone(&c.files, &token2, "after abort before start").await;
    if let Some(left) = fixture.leftovers(&token2).await {
        assert!(left.is_empty(), "the aborted session left: {left:?}");
    }

    // Files::abort_upload discards a session by token; again is fine.
    let key3 = c.key("obj3");
    let token3 = cancelled_upload(&c, &key3, &body, 2 * c.ps).await;
    expect_ok(c.files.abort_upload(&token3).await, "abort_upload");
    assert_session_gone(&c.files, &token3, "after abort_upload").await;
    expect_ok(
        c.files.abort_upload(&token3).await,
        "abort_upload of a gone session",
    );
    let resumed = c
        .files
        .upload(&key3, Body::from_bytes(body.clone()))
        .control(UploadControl::from_token(token3))
        .await;
    expect_kind(
        resumed,
        ErrorKind::SessionExpired,
        "resuming after abort_upload",
    );
    assert_absent(&c.files, &key3, "after abort_upload").await;
}

/// Cancelling a paused upload ends the call promptly with cancelled, keeping the session: the
/// token then resumes to a correct object.
pub async fn cancel_while_paused(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "cancel-paused").await;
    if refused_without_resume(&c).await {
        return;
    }
    let key = c.key("obj");
    let body = c.body(61, 6, 61);
    let control = UploadControl::new();
    let cancel = CancellationToken::new();
    let requested = Arc::new(tokio::sync::Notify::new());
    let once = Arc::new(AtomicBool::new(false));
    let (ctl, note, flag) = (control.clone(), requested.clone(), once.clone());
    let task = tokio::spawn(
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .part_size(c.ps)
            .concurrency(2)
            .control(control.clone())
            .cancellation(cancel.clone())
            .on_progress(move |p| {
                if p.loaded > 0 && !flag.swap(true, Ordering::SeqCst) {
                    ctl.pause();
                    note.notify_one();
                }
            })
            .into_future(),
    );
    no_hang("the pause request", requested.notified()).await;
    assert_eq!(
        no_hang("settle", control.settled()).await,
        UploadStatus::Paused
    );
    cancel.cancel();
    let result = no_hang(
        "cancel while paused (hang: a paused upload ignored cancel)",
        task,
    )
    .await
    .expect("upload task");
    expect_kind(result, ErrorKind::Cancelled, "cancel while paused");
    assert_eq!(control.status(), UploadStatus::Error);
    let token = control.token().expect("cancel keeps the session");
    let out = no_hang(
        "resume after cancel",
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .control(UploadControl::from_token(token)),
    )
    .await
    .unwrap_or_else(|e| panic!("resume after cancel-while-paused failed: {e}"));
    assert!(out.bytes_resumed > 0);
    assert_object_eq(&c.files, &key, &body).await;
}

/// Progress events seen by a callback: (loaded, bytes_sent, total).
type Events = Arc<Mutex<Vec<(u64, u64, Option<u64>)>>>;

fn check_progress(events: &[(u64, u64, Option<u64>)], total: u64, what: &str) {
    assert!(!events.is_empty(), "{what}: no progress reported");
    for w in events.windows(2) {
        assert!(
            w[1].0 >= w[0].0,
            "{what}: loaded went backwards: {events:?}"
        );
        assert!(
            w[1].1 >= w[0].1,
            "{what}: bytes_sent went backwards: {events:?}"
        );
    }
    for e in events {
        assert!(e.0 <= total, "{what}: loaded {} above total {total}", e.0);
        assert_eq!(e.2, Some(total), "{what}: progress total");
    }
    assert_eq!(
        events.last().unwrap().0,
        total,
        "{what}: the last progress is the total"
    );
}

/// Progress never goes backwards, stays within the total, and ends at the total, for a fresh
/// upload and for a resumed one.
pub async fn progress_monotonic(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "progress").await;
    let key = c.key("obj");
    let body = c.body(91, 9, 12345);
    let total = body.len() as u64;
    let events: Events = Arc::default();
    let ev = events.clone();
    let out = no_hang(
        "upload",
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .part_size(c.ps)
            .concurrency(4)
            .on_progress(move |p: &Progress| {
                ev.lock().unwrap().push((p.loaded, p.bytes_sent, p.total));
            }),
    )
    .await;
    expect_ok(out, "upload with progress");
    check_progress(&events.lock().unwrap(), total, "fresh upload");
    assert_object_eq(&c.files, &key, &body).await;

    // Tiny and empty bodies report their end too.
    for size in [0usize, 1] {
        let events: Events = Arc::default();
        let ev = events.clone();
        let k = c.key(&format!("tiny-{size}"));
        expect_ok(
            c.files
                .upload(&k, Body::from_bytes(random_bytes(1, size)))
                .on_progress(move |p| ev.lock().unwrap().push((p.loaded, p.bytes_sent, p.total)))
                .await,
            "tiny upload",
        );
        check_progress(&events.lock().unwrap(), size as u64, "tiny upload");
    }

    if !c.resumable() || !c.multi_part() {
        return;
    }
    let key = c.key("resumed");
    let token = cancelled_upload(&c, &key, &body, 4 * c.ps).await;
    let events: Events = Arc::default();
    let ev = events.clone();
    let out = no_hang(
        "resume",
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .control(UploadControl::from_token(token))
            .on_progress(move |p| ev.lock().unwrap().push((p.loaded, p.bytes_sent, p.total))),
    )
    .await;
    let out = expect_ok(out, "resumed upload with progress");
    let events = events.lock().unwrap().clone();
    check_progress(&events, total, "resumed upload");
    assert!(
        events[0].0 >= out.bytes_resumed,
        "the first progress of a resume includes what already landed"
    );
    assert_object_eq(&c.files, &key, &body).await;
}

/// `checkpoint(path)`: for cross-process adapters the file exists during the upload, holds a
/// valid token for the key, is removed on success, and a second call with the same path resumes
/// from it; for in-process adapters it is refused with not supported before any call.
pub async fn checkpoint_file(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "checkpoint").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("upload.json");
    let key = c.key("obj");
    let body = c.body(101, 6, 6);
    if c.resumable != Resumability::CrossProcess || !c.multi_part() {
        if c.multi_part() || !c.resumable() {
            let (files, counter) = c.counting();
            expect_kind(
                files
                    .upload(&key, Body::from_bytes(body.clone()))
                    .part_size(c.ps)
                    .checkpoint(&path)
                    .await,
                ErrorKind::NotSupported,
                "checkpoint on an adapter that cannot resume across processes",
            );
            assert_no_provider_call(&counter, "refused checkpoint");
            assert!(!path.exists(), "a refused checkpoint wrote a file");
            assert_absent(&c.files, &key, "refused checkpoint").await;
        }
        return;
    }
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let (p2, s2, k2) = (path.clone(), seen.clone(), key.clone());
    let out = no_hang(
        "checkpointed upload",
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .part_size(c.ps)
            .concurrency(2)
            .checkpoint(&path)
            .on_progress(move |p| {
                if p.loaded == 0 || Some(p.loaded) == p.total {
                    return;
                }
                let verdict = match std::fs::read_to_string(&p2) {
                    Err(e) => format!("missing: {e}"),
                    Ok(text) => match ResumeToken::from_json(&text) {
                        Ok(t) if t.key == k2 => "ok".to_string(),
                        Ok(t) => format!("token for another key {}", t.key),
                        Err(e) => format!("invalid: {e}"),
                    },
                };
                s2.lock().unwrap().push(verdict);
            }),
    )
    .await;
    expect_ok(out, "checkpointed upload");
    let seen = seen.lock().unwrap().clone();
    assert!(
        !seen.is_empty(),
        "no progress seen during the checkpointed upload"
    );
    assert!(
        seen.iter().all(|v| v == "ok"),
        "the checkpoint during the upload: {seen:?}"
    );
    assert!(!path.exists(), "the checkpoint is removed on success");
    assert_object_eq(&c.files, &key, &body).await;

    // Cancel with a checkpoint, then resume from the file alone in a new client.
    let key2 = c.key("obj2");
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let after = 2 * c.ps;
    let result = no_hang(
        "checkpointed cancel",
        c.files
            .upload(&key2, Body::from_bytes(body.clone()))
            .part_size(c.ps)
            .concurrency(2)
            .checkpoint(&path)
            .cancellation(cancel)
            .on_progress(move |p| {
                if p.loaded >= after {
                    trigger.cancel();
                }
            }),
    )
    .await;
    expect_kind(
        result,
        ErrorKind::Cancelled,
        "a cancelled checkpointed upload",
    );
    let text = std::fs::read_to_string(&path).expect("the checkpoint stays after a cancel");
    let token = ResumeToken::from_json(&text).expect("a valid checkpoint");
    assert_eq!(token.key, key2);
    let fresh = fixture.client().await;
    let out = no_hang(
        "resume from a checkpoint",
        fresh
            .upload(&key2, Body::from_bytes(body.clone()))
            .checkpoint(&path),
    )
    .await
    .unwrap_or_else(|e| panic!("resume from the checkpoint file failed: {e}"));
    assert!(
        out.resumed && out.bytes_resumed > 0,
        "resumed from the checkpoint: {out:?}"
    );
    assert!(
        !path.exists(),
        "the checkpoint is removed after the resumed upload"
    );
    assert_object_eq(&fresh, &key2, &body).await;
}

/// A one-shot stream cannot be driven by `control` or `checkpoint` (invalid input, before any
/// call); plain stream uploads of unknown and known length, several parts long, store the exact
/// bytes; short and empty streams work.
pub async fn stream_bodies(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "streams").await;
    let body = c.body(111, 3, 777);
    let (files, counter) = c.counting();
    expect_kind(
        files
            .upload(
                c.key("ctl"),
                Body::from_stream(stream_of(&body, 10_000), None),
            )
            .control(UploadControl::new())
            .await,
        ErrorKind::InvalidInput,
        "a stream body with control",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    expect_kind(
        files
            .upload(
                c.key("ckpt"),
                Body::from_stream(stream_of(&body, 10_000), Some(body.len() as u64)),
            )
            .checkpoint(dir.path().join("cp.json"))
            .await,
        ErrorKind::InvalidInput,
        "a stream body with checkpoint",
    );
    assert_no_provider_call(&counter, "stream bodies with control or checkpoint");

    let key = c.key("unknown-len");
    let out = no_hang(
        "stream upload",
        c.files
            .upload(&key, Body::from_stream(stream_of(&body, 10_007), None))
            .part_size(c.ps)
            .concurrency(2),
    )
    .await;
    let out = expect_ok(out, "a stream of unknown length, several parts long");
    assert_eq!(out.meta.size, body.len() as u64);
    assert_object_eq(&c.files, &key, &body).await;

    for (label, data) in [
        ("short", Bytes::from_static(b"a short stream")),
        ("empty", Bytes::new()),
    ] {
        let key = c.key(label);
        let out = no_hang(
            "short stream",
            c.files
                .upload(&key, Body::from_stream(stream_of(&data, 3), None))
                .part_size(c.ps),
        )
        .await;
        expect_ok(out, &format!("a {label} stream"));
        assert_object_eq(&c.files, &key, &data).await;
    }

    let key = c.key("known-len");
    let out = no_hang(
        "stream upload of known length",
        c.files
            .upload(
                &key,
                Body::from_stream(stream_of(&body, 4096), Some(body.len() as u64)),
            )
            .part_size(c.ps)
            .concurrency(2),
    )
    .await;
    let out = expect_ok(out, "a stream of known length, several parts long");
    assert_eq!(out.meta.size, body.len() as u64);
    assert_object_eq(&c.files, &key, &body).await;
}

/// One control drives one upload at a time: passing it to a second concurrent upload fails with
/// invalid input (and does not disturb the first, which completes correctly).
pub async fn concurrent_control_use(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "control-twice").await;
    if refused_without_resume(&c).await {
        return;
    }
    let key = c.key("first");
    let body = c.body(131, 5, 5);
    let control = UploadControl::new();
    control.pause();
    let task = tokio::spawn(
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .part_size(c.ps)
            .control(control.clone())
            .into_future(),
    );
    let status = no_hang(
        "the pre-paused upload settling",
        control.wait_for(|s| s == UploadStatus::Paused || s == UploadStatus::Error),
    )
    .await;
    assert_eq!(
        status,
        UploadStatus::Paused,
        "an upload started paused waits paused"
    );
    let (files, counter) = c.counting();
    let second = no_hang(
        "second use",
        files
            .upload(c.key("second"), Body::from_bytes(body.clone()))
            .part_size(c.ps)
            .control(control.clone()),
    )
    .await;
    expect_kind(
        second,
        ErrorKind::InvalidInput,
        "a control used by two uploads at once",
    );
    assert_no_provider_call(&counter, "the second use of a control");
    assert_eq!(
        control.status(),
        UploadStatus::Paused,
        "the first upload is undisturbed"
    );
    control.resume();
    let out = no_hang("first upload", task)
        .await
        .expect("upload task")
        .unwrap_or_else(|e| panic!("the first upload failed: {e}"));
    assert_eq!(out.meta.size, body.len() as u64);
    assert_object_eq(&c.files, &key, &body).await;
    assert_absent(&c.files, &c.key("second"), "the refused second upload").await;
}
