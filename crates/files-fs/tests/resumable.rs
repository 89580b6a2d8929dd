//! Resumable uploads through the part file: primitives, pause/resume, resume in a new client,
//! changed bodies and abort.

mod common;

use std::future::IntoFuture as _;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::{Env, MIB, body, tree};
use files_core::{
    Adapter, Body, CancellationToken, ErrorKind, OffsetState, PutOptions, ResumeToken, Session,
    UploadControl, UploadFamily, UploadSpec, UploadStatus,
};

fn spec(key: &str, total: u64) -> UploadSpec {
    UploadSpec {
        key: key.into(),
        total,
        part_size: 4,
        options: PutOptions::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_file_primitives() {
    let env = Env::new();
    let UploadFamily::Offset(o) = env.adapter.upload_family() else {
        panic!("the fs adapter is an offset-family adapter")
    };
    assert_eq!(o.rules(), files_core::PartRules::unconstrained());
    let s = spec("dir/f.bin", 10);
    let part = env.root().join("dir").join("f.bin.fls-part");
    assert_eq!(env.adapter.part_path_of("dir/f.bin").unwrap(), part);

    let session = o.begin(&s).await.unwrap();
    assert_eq!(session, Session::default(), "the session carries nothing");
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 0);
    assert_eq!(o.probe(&s, &session).await.unwrap(), OffsetState::Offset(0));

    let st = o
        .append(&s, &session, 0, Bytes::from_static(b"0123"), false)
        .await
        .unwrap();
    assert_eq!(st, OffsetState::Offset(4));
    // Appends at an offset the part file does not hold are conflicts naming both numbers.
    for bad in [8u64, 0, 3] {
        let e = o
            .append(&s, &session, bad, Bytes::from_static(b"xx"), false)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert!(
            e.message().contains(&bad.to_string()) && e.message().contains('4'),
            "{e}"
        );
    }
    assert_eq!(std::fs::read(&part).unwrap(), b"0123");
    assert_eq!(o.probe(&s, &session).await.unwrap(), OffsetState::Offset(4));
    o.append(&s, &session, 4, Bytes::from_static(b"4567"), false)
        .await
        .unwrap();
    // Finishing early is refused and keeps the bytes.
    assert_eq!(
        o.finish(&s, &session).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    let st = o
        .append(&s, &session, 8, Bytes::from_static(b"89"), true)
        .await
        .unwrap();
    assert_eq!(st, OffsetState::Offset(10));
    assert!(
        !env.root().join("dir/f.bin").exists(),
        "not visible before finish"
    );
    let meta = o.finish(&s, &session).await.unwrap();
    assert_eq!(meta.size, 10);
    assert!(!part.exists());
    assert_eq!(env.read("dir/f.bin").await, b"0123456789");
    // After finish: probe says finished, a repeated finish is fine, cancel is a no-op.
    match o.probe(&s, &session).await.unwrap() {
        OffsetState::Finished(m) => assert_eq!(m.size, 10),
        other => panic!("{other:?}"),
    }
    assert_eq!(o.finish(&s, &session).await.unwrap().size, 10);
    o.cancel(&s, &session).await.unwrap();
    assert_eq!(env.read("dir/f.bin").await, b"0123456789");
    // No part file and no object of that size: expired.
    let e = o.probe(&spec("dir/f.bin", 11), &session).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SessionExpired);
    let e = o
        .append(
            &spec("nope", 10),
            &session,
            0,
            Bytes::from_static(b"x"),
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SessionExpired);
    assert!(
        !env.root().join("nope.fls-part").exists(),
        "append never creates"
    );

    // begin truncates a stale part file; cancel removes it and prunes empty directories.
    let s2 = spec("other/g", 10);
    let part2 = env.root().join("other/g.fls-part");
    o.begin(&s2).await.unwrap();
    o.append(&s2, &session, 0, Bytes::from_static(b"abc"), false)
        .await
        .unwrap();
    o.begin(&s2).await.unwrap();
    assert_eq!(std::fs::metadata(&part2).unwrap().len(), 0);
    o.cancel(&s2, &session).await.unwrap();
    assert!(!part2.exists());
    assert!(!env.root().join("other").exists());
    o.cancel(&s2, &session).await.unwrap();

    // A session with an id was not made by this adapter.
    assert_eq!(
        env.adapter
            .check_session(&Session::new("../../etc/passwd"))
            .unwrap_err()
            .kind(),
        ErrorKind::TokenInvalid
    );
}

// Pauses happen once, at an exact offset: a callback that paused on every later progress
// report would pause again right after each resume.

/// Body of 5 MiB + 123 bytes sent in 1 MiB chunks.
fn big() -> Vec<u8> {
    body(5 * MIB + 123, 42)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_in_process() {
    let env = Env::new();
    let data = big();
    let control = UploadControl::new();
    let c2 = control.clone();
    let task = tokio::spawn(
        env.files
            .upload("up/big.bin", Body::from_bytes(data.clone()))
            .part_size(MIB as u64)
            .control(control.clone())
            .on_progress(move |p| {
                if p.loaded == 2 * MIB as u64 {
                    c2.pause();
                }
            })
            .into_future(),
    );
    control.wait_for(|s| s == UploadStatus::Paused).await;
    let part = env.root().join("up/big.bin.fls-part");
    assert_eq!(std::fs::read(&part).unwrap(), data[..2 * MIB]);
    assert!(!env.root().join("up/big.bin").exists());
    let token = control.token().expect("a token once the session exists");
    assert_eq!(token.provider, "fs");
    assert_eq!(token.target, env.adapter.target());
    assert_eq!(token.session, Session::default());
    assert_eq!(token.landed, (2 * MIB).to_string());
    assert_eq!(control.loaded(), 2 * MIB as u64);

    control.resume();
    let out = task.await.unwrap().unwrap();
    assert_eq!(out.meta.size, data.len() as u64);
    assert_eq!(out.bytes_sent, data.len() as u64);
    assert_eq!(out.bytes_resumed, 0);
    assert_eq!(control.status(), UploadStatus::Completed);
    assert!(control.token().is_none());
    assert!(!part.exists());
    assert_eq!(env.read("up/big.bin").await, data);
}

/// Starts an upload of `data` to `key`, stops it (as a crash would, keeping the part file)
/// once `stop_at` bytes landed, and returns the latest token and the one seen at `early_at`.
async fn interrupted(
    env: &Env,
    key: &str,
    data: &[u8],
    early_at: u64,
    stop_at: u64,
) -> (ResumeToken, ResumeToken) {
    let control = UploadControl::new();
    let cancel = CancellationToken::new();
    let early: Arc<Mutex<Option<ResumeToken>>> = Arc::default();
    let (e2, c2) = (early.clone(), cancel.clone());
    let err = env
        .files
        .upload(key, Body::from_bytes(data.to_vec()))
        .part_size(MIB as u64)
        .control(control.clone())
        .cancellation(cancel)
        .on_progress(move |p| {
            if p.loaded == early_at {
                *e2.lock().unwrap() = p.token.clone();
            }
            if p.loaded >= stop_at {
                c2.cancel();
            }
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    let part = env.adapter.part_path_of(key).unwrap();
    assert_eq!(std::fs::read(&part).unwrap(), data[..stop_at as usize]);
    assert!(!env.root().join(key).exists());
    let latest = control.token().unwrap();
    let early = early.lock().unwrap().clone().unwrap();
    (latest, early)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_in_a_new_client_sends_only_the_missing_tail() {
    let env = Env::new();
    let data = big();
    let total = data.len() as u64;
    let body_path = env.dir.path().join("body.bin");
    std::fs::write(&body_path, &data).unwrap();
    let landed = 3 * MIB as u64;

    // The latest token, through JSON, in a new client (a new process would do the same).
    let (latest, _) = interrupted(&env, "k/latest", &data, MIB as u64, landed).await;
    let json = latest.to_json();
    let files = env.new_client();
    let out = files
        .upload("k/latest", Body::from_path(&body_path).await.unwrap())
        .control(UploadControl::from_json(&json).unwrap())
        .await
        .unwrap();
    assert!(out.resumed);
    assert_eq!(out.bytes_resumed, landed);
    assert_eq!(out.bytes_sent, total - landed, "only the tail was sent");
    assert_eq!(out.meta.size, total);
    assert_eq!(env.read("k/latest").await, data);

    // A token older than the part file (the crash came after an append landed but before
    // its token was saved): the part file is the truth, and it only grows by what is missing.
    let (_, early) = interrupted(&env, "k/early", &data, MIB as u64, landed).await;
    assert_eq!(early.landed, MIB.to_string());
    let out = env
        .new_client()
        .upload("k/early", Body::from_path(&body_path).await.unwrap())
        .control(UploadControl::from_token(early))
        .await
        .unwrap();
    assert_eq!(out.bytes_resumed, landed);
    assert_eq!(out.bytes_sent, total - landed);
    assert_eq!(env.read("k/early").await, data);

    // Through a checkpoint file.
    let ckpt = env.dir.path().join("upload.json");
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    let err = env
        .files
        .upload("k/ckpt", Body::from_bytes(data.clone()))
        .part_size(MIB as u64)
        .checkpoint(&ckpt)
        .cancellation(cancel)
        .on_progress(move |p| {
            if p.loaded >= 4 * MIB as u64 {
                c2.cancel();
            }
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert!(ckpt.exists());
    let out = env
        .new_client()
        .upload("k/ckpt", Body::from_path(&body_path).await.unwrap())
        .checkpoint(&ckpt)
        .await
        .unwrap();
    assert_eq!(out.bytes_resumed, 4 * MIB as u64);
    assert_eq!(out.bytes_sent, total - 4 * MIB as u64);
    assert!(!ckpt.exists());
    assert_eq!(env.read("k/ckpt").await, data);
    assert!(tree(&env.root()).iter().all(|p| !p.contains(".fls-")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_the_object_finished_reports_it() {
    let env = Env::new();
    let data = big();
    let (latest, _) = interrupted(&env, "done", &data, MIB as u64, 2 * MIB as u64).await;
    // Another client finishes the upload; the old token then finds the object in place.
    env.new_client()
        .upload("done", Body::from_bytes(data.clone()))
        .control(UploadControl::from_token(latest.clone()))
        .await
        .unwrap();
    let out = env
        .files
        .upload("done", Body::from_bytes(data.clone()))
        .control(UploadControl::from_token(latest))
        .await
        .unwrap();
    assert_eq!(out.bytes_sent, 0);
    assert_eq!(out.meta.size, data.len() as u64);
    assert_eq!(env.read("done").await, data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_body_is_refused_and_the_part_file_untouched() {
    let env = Env::new();
    let data = big();
    let landed = 2 * MIB as u64;
    let (latest, _) = interrupted(&env, "cb", &data, MIB as u64, landed).await;
    let part = env.adapter.part_path_of("cb").unwrap();
    let before = std::fs::read(&part).unwrap();
    let mtime = std::fs::metadata(&part).unwrap().modified().unwrap();

    // Same length, one byte changed in the part already sent.
    let mut changed = data.clone();
    changed[100] ^= 0xff;
    let err = env
        .new_client()
        .upload("cb", Body::from_bytes(changed))
        .control(UploadControl::from_token(latest.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BodyChanged, "{err}");
    // Another length.
    let err = env
        .new_client()
        .upload("cb", Body::from_bytes(data[..data.len() - 1].to_vec()))
        .control(UploadControl::from_token(latest.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BodyChanged, "{err}");

    assert_eq!(std::fs::read(&part).unwrap(), before);
    assert_eq!(std::fs::metadata(&part).unwrap().modified().unwrap(), mtime);
    assert!(!env.root().join("cb").exists());

    // The session survived: the right body still resumes it.
    let out = env
        .new_client()
        .upload("cb", Body::from_bytes(data.clone()))
        .control(UploadControl::from_token(latest))
        .await
        .unwrap();
    assert_eq!(out.bytes_resumed, landed);
    assert_eq!(env.read("cb").await, data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_deletes_the_part_file() {
    let env = Env::new();
    let data = big();

    // Abort while paused.
    let control = UploadControl::new();
    let c2 = control.clone();
    let task = tokio::spawn(
        env.files
            .upload("ab/one", Body::from_bytes(data.clone()))
            .part_size(MIB as u64)
            .control(control.clone())
            .on_progress(move |p| {
                if p.loaded == MIB as u64 {
                    c2.pause();
                }
            })
            .into_future(),
    );
    control.wait_for(|s| s == UploadStatus::Paused).await;
    let part = env.adapter.part_path_of("ab/one").unwrap();
    assert_eq!(std::fs::metadata(&part).unwrap().len(), MIB as u64);
    control.abort();
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Aborted);
    assert_eq!(control.status(), UploadStatus::Aborted);
    assert!(!part.exists());
    assert!(!env.root().join("ab").exists(), "empty directories pruned");

    // Abort from a token before resuming, in a new client.
    let (latest, _) = interrupted(&env, "ab/two", &data, MIB as u64, 2 * MIB as u64).await;
    let part = env.adapter.part_path_of("ab/two").unwrap();
    assert!(part.exists());
    let control = UploadControl::from_token(latest.clone());
    control.abort();
    let err = env
        .new_client()
        .upload("ab/two", Body::from_bytes(data.clone()))
        .control(control)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Aborted);
    assert!(!part.exists());

    // Files::abort_upload with a token.
    let (latest, _) = interrupted(&env, "ab/three", &data, MIB as u64, 2 * MIB as u64).await;
    let part = env.adapter.part_path_of("ab/three").unwrap();
    env.new_client().abort_upload(&latest).await.unwrap();
    assert!(!part.exists());
    // Resuming an aborted session is an expired session.
    let err = env
        .files
        .upload("ab/three", Body::from_bytes(data.clone()))
        .control(UploadControl::from_token(latest))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionExpired, "{err}");
    assert!(tree(&env.root()).is_empty(), "{:?}", tree(&env.root()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_for_another_store_or_key_are_refused() {
    let env = Env::new();
    let data = big();
    let (latest, _) = interrupted(&env, "tk", &data, MIB as u64, MIB as u64).await;
    // Another key.
    let err = env
        .files
        .upload("tk2", Body::from_bytes(data.clone()))
        .control(UploadControl::from_token(latest.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TokenInvalid);
    // Another root.
    let other = Env::new();
    let err = other
        .files
        .upload("tk", Body::from_bytes(data.clone()))
        .control(UploadControl::from_token(latest.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TokenInvalid);
    // A session id smuggled into the token.
    let mut forged = latest;
    forged.session = Session::new("/etc/passwd");
    forged.seal();
    let err = env
        .files
        .upload("tk", Body::from_bytes(data.clone()))
        .control(UploadControl::from_token(forged))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TokenInvalid);
    assert_eq!(
        std::fs::metadata(env.adapter.part_path_of("tk").unwrap())
            .unwrap()
            .len(),
        MIB as u64
    );
}
