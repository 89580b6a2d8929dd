//! Property test: any interleaving of pause/resume, cancel, abort and part failures (before a
//! part lands, after it lands with the answer lost, around complete) ends in a consistent state
//! with no lost or duplicated byte.
//!
//! - Completed: the object is exactly the body and no session is left open.
//! - Aborted: no session is left open, the control holds no token, status `aborted`.
//! - Cancelled or failed: the control holds a token; resuming it (with faults off) in a fresh
//!   control completes with exactly the body, sending only what had not landed.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::Scripted;
use files_core::*;
use proptest::prelude::*;

const PART: u64 = 16;

#[derive(Debug, Clone, Copy)]
enum Action {
    PauseResume,
    Cancel,
    Abort,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => Just(Action::PauseResume),
        1 => Just(Action::Cancel),
        1 => Just(Action::Abort),
    ]
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 8,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(4),
        deadline: Duration::from_secs(30),
    }
}

async fn scenario(
    size: usize,
    concurrency: usize,
    fault_per_mille: u32,
    seed: u64,
    actions: Vec<(u64, Action)>,
) -> std::result::Result<(), TestCaseError> {
    let body: Vec<u8> = (0..size).map(|i| (i as u64 * 7 + seed) as u8).collect();
    let adapter = Arc::new(Scripted::default());
    *adapter.faults.lock().unwrap() = Some((fastrand::Rng::with_seed(seed), fault_per_mille));
    let files = Files::from_arc(adapter.clone()).with_retry(fast_retry());
    let control = UploadControl::new();
    let cancel = CancellationToken::new();

    // Actions fire from the progress callback (on confirmed bytes) through a channel to a driver.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Action>();
    let pending = std::sync::Mutex::new(actions);
    let upload = files
        .upload("k", body.clone())
        .part_size(PART)
        .concurrency(concurrency)
        .control(control.clone())
        .cancellation(cancel.clone())
        .on_progress(move |p| {
            let mut pending = pending.lock().unwrap();
            while let Some(&(at, a)) = pending.first() {
                if p.loaded < at {
                    break;
                }
                pending.remove(0);
                let _ = tx.send(a);
            }
        });
    let task = tokio::spawn(upload.into_future());
    let driver = {
        let control = control.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            while let Some(a) = rx.recv().await {
                match a {
                    Action::PauseResume => {
                        control.pause();
                        let s = control.settled().await;
                        assert_ne!(s, UploadStatus::Uploading);
                        if s == UploadStatus::Paused {
                            // Paused means nothing in flight: loaded must stay put.
                            let before = control.loaded();
                            tokio::task::yield_now().await;
                            assert_eq!(before, control.loaded());
                        }
                        control.resume();
                    }
                    Action::Cancel => cancel.cancel(),
                    Action::Abort => control.abort(),
                }
            }
        })
    };
    let result = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .map_err(|_| TestCaseError::fail("the upload hung"))?
        .expect("upload task");
    driver.abort();

    match result {
        Ok(out) => {
            prop_assert_eq!(control.status(), UploadStatus::Completed);
            prop_assert_eq!(out.meta.size, size as u64);
            prop_assert_eq!(&adapter.objects.lock().unwrap()["k"][..], &body[..]);
            prop_assert!(
                adapter.sessions.lock().unwrap().is_empty(),
                "session left open"
            );
        }
        Err(e) if e.kind() == ErrorKind::Aborted => {
            prop_assert_eq!(control.status(), UploadStatus::Aborted);
            prop_assert!(control.token().is_none());
            prop_assert!(
                adapter.sessions.lock().unwrap().is_empty(),
                "abort leaked a session"
            );
        }
        Err(e) => {
            prop_assert_eq!(control.status(), UploadStatus::Error);
            let Some(token) = control.token() else {
                // Failed before a session existed (begin itself failed): nothing to resume.
                prop_assert!(adapter.sessions.lock().unwrap().is_empty(), "{e}");
                return Ok(());
            };
            *adapter.faults.lock().unwrap() = None;
            let puts_before = adapter.puts.load(Ordering::SeqCst);
            let out = files
                .upload("k", body.clone())
                .control(UploadControl::from_json(&token.to_json()).unwrap())
                .await
                .map_err(|e2| TestCaseError::fail(format!("resume after `{e}` failed: {e2}")))?;
            prop_assert!(out.resumed);
            prop_assert_eq!(out.bytes_resumed + out.bytes_sent, size as u64);
            prop_assert_eq!(
                u64::from(adapter.puts.load(Ordering::SeqCst) - puts_before),
                out.parts_sent
            );
            prop_assert_eq!(&adapter.objects.lock().unwrap()["k"][..], &body[..]);
            prop_assert!(adapter.sessions.lock().unwrap().is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_interleaving_ends_consistent(
        parts in 2usize..12,
        tail in 0usize..16,
        concurrency in 1usize..5,
        fault_per_mille in prop_oneof![Just(0u32), 0u32..350],
        seed in any::<u64>(),
        actions in proptest::collection::vec((0u64..200, action()), 0..4),
    ) {
        let size = parts * PART as usize + tail;
        let mut actions = actions;
        actions.sort_by_key(|(at, _)| *at);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(scenario(size, concurrency, fault_per_mille, seed, actions))?;
    }
}
