//! Chunked-upload protocol tests against the fake Box server: what the adapter does with each
//! answer Box's documentation describes, checked by the bytes stored and the fake's log.

use std::time::{Duration, Instant};

use base64::Engine as _;
use files_box::BoxAdapter;
use files_core::token::ResumeToken;
use files_core::{
    Body, Bytes, CancellationToken, ErrorKind, Files, Part, PartUpload, UploadControl, UploadSpec,
};
use files_fakes::box_api::{self, FakeBox};
use files_fakes::kit::{Fault, Match, Outcome};
use files_testkit::util::{random_bytes, sha256_hex};
use sha1::Digest as _;

const KIB64: u64 = 64 * 1024;

fn builder(fake: &FakeBox) -> files_box::BoxBuilder {
    BoxAdapter::builder()
        .ignore_env()
        .endpoint(fake.endpoint())
        .access_token(fake.token())
        .part_unit(KIB64)
        .default_part_size(KIB64)
        .min_session_size(0)
        .state_dir(None)
}

fn spec(key: &str, total: u64, part_size: u64) -> UploadSpec {
    UploadSpec {
        key: key.into(),
        total,
        part_size,
        options: Default::default(),
    }
}

fn is_part_put(r: &files_fakes::kit::RecordedRequest) -> bool {
    r.method == "PUT" && r.path.starts_with("/files/upload_sessions/")
}

/// Starts an upload of `body` in parts of `part_size` and cancels it once `after` bytes
/// landed; returns the token.
async fn cancelled(
    files: &Files,
    key: &str,
    body: &Bytes,
    part_size: u64,
    after: u64,
) -> ResumeToken {
    let control = UploadControl::new();
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let r = files
        .upload(key, Body::from_bytes(body.clone()))
        .part_size(part_size)
        .concurrency(1)
        .control(control.clone())
        .cancellation(cancel)
        .on_progress(move |p| {
            if p.loaded >= after {
                c.cancel();
            }
        })
        .await;
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Cancelled);
    control.token().expect("a token after cancel")
}

#[tokio::test]
async fn commit_202_is_retried_after_retry_after() {
    let fake = FakeBox::start().unwrap();
    fake.set_commit_accepted(1, 1);
    let files = Files::new(builder(&fake).build().unwrap());
    let body = Bytes::from(random_bytes(1, 4 * KIB64 as usize + 99));
    let started = Instant::now();
    let out = files
        .upload("wait/obj", Body::from_bytes(body.clone()))
        .part_size(KIB64)
        .await
        .unwrap();
    assert_eq!(out.meta.size, body.len() as u64);
    let commits = fake
        .server()
        .log()
        .filter(|r| r.method == "POST" && r.path.ends_with("/commit"));
    assert_eq!(commits.len(), 2, "one 202, then the commit again");
    assert_eq!(commits[0].outcome, Outcome::Answered(202));
    assert_eq!(commits[1].outcome, Outcome::Answered(201));
    let gap = commits[1].at.duration_since(commits[0].at).unwrap();
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After honoured: {gap:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    let stored = fake.object("wait/obj").expect("the file exists");
    assert_eq!(sha256_hex(&stored), sha256_hex(&body));
}

#[tokio::test]
async fn commit_carries_the_whole_file_sha1() {
    let fake = FakeBox::start().unwrap();
    let files = Files::new(builder(&fake).build().unwrap());
    let body = Bytes::from(random_bytes(2, 5 * KIB64 as usize + 7));
    files
        .upload("dig/obj", Body::from_bytes(body.clone()))
        .part_size(2 * KIB64)
        .concurrency(3)
        .await
        .unwrap();
    let want = format!(
        "sha={}",
        base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(&body))
    );
    let commits = fake
        .server()
        .log()
        .filter(|r| r.method == "POST" && r.path.ends_with("/commit"));
    assert!(!commits.is_empty());
    for c in &commits {
        assert_eq!(c.header("digest"), Some(want.as_str()));
    }
    // Each part carries its own SHA-1, and Box parts are the fake's 64 KiB (a core part of
    // 128 KiB is two Box parts).
    let puts = fake.server().log().filter(is_part_put);
    assert_eq!(puts.len(), 6);
    for p in &puts {
        let r = p.received_range().unwrap();
        assert_eq!(r.start % KIB64, 0);
        let d = &body[r.start as usize..r.end as usize];
        let want = format!(
            "sha={}",
            base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(d))
        );
        assert_eq!(p.header("digest"), Some(want.as_str()));
    }
    assert_eq!(
        sha256_hex(&fake.object("dig/obj").unwrap()),
        sha256_hex(&body)
    );
}

#[tokio::test]
async fn an_expired_session_is_session_expired() {
    let fake = FakeBox::start().unwrap();
    let a = builder(&fake).build().unwrap();
    let body = Bytes::from(random_bytes(3, 3 * KIB64 as usize));
    let s = spec("exp/obj", body.len() as u64, KIB64);
    let session = a.begin(&s).await.unwrap();
    let part = |n: u32| Part {
        number: n,
        offset: u64::from(n - 1) * KIB64,
        data: body.slice((n as usize - 1) * KIB64 as usize..n as usize * KIB64 as usize),
        crc32c: 0,
    };
    a.put_part(&s, &session, part(1)).await.unwrap();
    assert_eq!(a.probe(&s, &session).await.unwrap().len(), 1);
    fake.clock()
        .advance(box_api::SESSION_LIFETIME + Duration::from_secs(1));
    let e = a.probe(&s, &session).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SessionExpired, "{e}");
    let e = a.put_part(&s, &session, part(2)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SessionExpired, "{e}");
    // Aborting a gone session succeeds.
    a.abort(&s, &session).await.unwrap();
}

#[tokio::test]
async fn an_expired_session_fails_a_resume_with_session_expired() {
    let fake = FakeBox::start().unwrap();
    let files = Files::new(builder(&fake).build().unwrap());
    let body = Bytes::from(random_bytes(4, 8 * KIB64 as usize));
    let token = cancelled(&files, "exp2/obj", &body, KIB64, 2 * KIB64).await;
    fake.clock()
        .advance(box_api::SESSION_LIFETIME + Duration::from_secs(1));
    let fresh = Files::new(builder(&fake).build().unwrap());
    let e = fresh
        .upload("exp2/obj", Body::from_bytes(body))
        .control(UploadControl::from_token(token))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SessionExpired, "{e}");
}

/// A resume in a new client (its own memory, the SHA-1 state on disk) lists the parts and
/// sends only the missing ones.
#[tokio::test]
async fn resume_in_a_new_client_sends_only_missing_parts() {
    let fake = FakeBox::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let make = || {
        Files::new(
            builder(&fake)
                .state_dir(Some(dir.path().to_path_buf()))
                .build()
                .unwrap(),
        )
    };
    let body = Bytes::from(random_bytes(5, 10 * KIB64 as usize + 5));
    let token = cancelled(&make(), "res/obj", &body, 2 * KIB64, 4 * KIB64).await;
    let landed_before = fake.open_session_ids();
    assert_eq!(landed_before.len(), 1);
    let before = fake.session_parts(&landed_before[0]);
    assert!(before.len() >= 4, "{before:?}");
    fake.server().log().clear();
    let out = make()
        .upload("res/obj", Body::from_bytes(body.clone()))
        .control(UploadControl::from_token(token))
        .await
        .unwrap();
    assert!(out.resumed && out.bytes_resumed > 0, "{out:?}");
    assert_eq!(out.bytes_resumed + out.bytes_sent, body.len() as u64);
    let log = fake.server().log();
    assert!(
        !log.filter(|r| r.method == "GET" && r.path.ends_with("/parts"))
            .is_empty(),
        "the resume listed the session's parts"
    );
    for p in log.filter(is_part_put) {
        let start = p.received_range().unwrap().start;
        assert!(!before.contains(&start), "part at {start} sent again");
    }
    assert_eq!(
        sha256_hex(&fake.object("res/obj").unwrap()),
        sha256_hex(&body)
    );
    assert!(fake.open_session_ids().is_empty());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "state file removed"
    );
}

/// Without a state file (another machine), the parts Box holds are read from the body again
/// and compared by SHA-1, but still not sent.
#[tokio::test]
async fn resume_without_state_reads_locally_but_sends_only_missing_parts() {
    let fake = FakeBox::start().unwrap();
    let body = Bytes::from(random_bytes(6, 7 * KIB64 as usize + 1));
    let token = cancelled(
        &Files::new(builder(&fake).build().unwrap()),
        "res2/obj",
        &body,
        KIB64,
        3 * KIB64,
    )
    .await;
    let before = fake.session_parts(&fake.open_session_ids()[0]);
    fake.server().log().clear();
    let out = Files::new(builder(&fake).build().unwrap())
        .upload("res2/obj", Body::from_bytes(body.clone()))
        .control(UploadControl::from_token(token))
        .await
        .unwrap();
    assert!(out.resumed, "{out:?}");
    let puts = fake.server().log().filter(is_part_put);
    assert_eq!(
        puts.len() + before.len(),
        8,
        "only the missing parts were sent"
    );
    for p in puts {
        assert!(!before.contains(&p.received_range().unwrap().start));
    }
    assert_eq!(
        sha256_hex(&fake.object("res2/obj").unwrap()),
        sha256_hex(&body)
    );
}

/// A part whose answer was lost is sent again; Box answers `416 range_overlaps_existing_part`
/// and the part counts as landed since Box holds the same bytes.
#[tokio::test]
async fn an_overlap_after_a_lost_answer_counts_as_landed() {
    let fake = FakeBox::start().unwrap();
    fake.server().faults().add(
        Fault::drop_answer()
            .on(Match::method("PUT").path_prefix("/files/upload_sessions/"))
            .nth(2),
    );
    let files = Files::new(builder(&fake).build().unwrap());
    let body = Bytes::from(random_bytes(7, 4 * KIB64 as usize + 3));
    files
        .upload("lost/obj", Body::from_bytes(body.clone()))
        .part_size(KIB64)
        .concurrency(1)
        .await
        .unwrap();
    let puts = fake.server().log().filter(is_part_put);
    assert!(puts.iter().any(|r| r.outcome == Outcome::AnswerDropped));
    assert!(
        puts.iter().any(|r| r.outcome == Outcome::Answered(416)),
        "the part was sent again and Box said it holds it"
    );
    assert_eq!(
        sha256_hex(&fake.object("lost/obj").unwrap()),
        sha256_hex(&body)
    );
}

#[tokio::test]
async fn other_bytes_at_a_landed_offset_are_body_changed() {
    let fake = FakeBox::start().unwrap();
    let a = builder(&fake).build().unwrap();
    let s = spec("chg/obj", 2 * KIB64, KIB64);
    let session = a.begin(&s).await.unwrap();
    let data = Bytes::from(random_bytes(8, KIB64 as usize));
    let part = |d: Bytes| Part {
        number: 1,
        offset: 0,
        data: d,
        crc32c: 0,
    };
    a.put_part(&s, &session, part(data.clone())).await.unwrap();
    // The same bytes again: landed (the overlap is Box holding them).
    let fresh = builder(&fake).build().unwrap();
    fresh.put_part(&s, &session, part(data)).await.unwrap();
    let other = Bytes::from(random_bytes(9, KIB64 as usize));
    let e = fresh.put_part(&s, &session, part(other)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BodyChanged, "{e}");
    a.abort(&s, &session).await.unwrap();
    assert!(fake.open_session_ids().is_empty());
}

#[tokio::test]
async fn a_part_size_box_cannot_take_is_refused_and_the_session_deleted() {
    let fake = FakeBox::start().unwrap();
    fake.set_part_size(2 * KIB64);
    let files = Files::new(builder(&fake).build().unwrap());
    let body = Bytes::from(random_bytes(10, 6 * KIB64 as usize));
    let e = files
        .upload("ps/obj", Body::from_bytes(body))
        .part_size(3 * KIB64)
        .control(UploadControl::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("131072"), "{e}");
    assert!(fake.open_session_ids().is_empty());
}

#[tokio::test]
async fn client_credentials_flow_and_no_secret_shown() {
    let fake = FakeBox::start().unwrap();
    let make = |secret: &str| {
        BoxAdapter::builder()
            .ignore_env()
            .endpoint(fake.endpoint())
            .client_credentials(box_api::CLIENT_ID, secret, box_api::ENTERPRISE_ID)
            .part_unit(KIB64)
            .min_session_size(0)
    };
    let b = make(box_api::CLIENT_SECRET);
    assert!(!format!("{b:?}").contains(box_api::CLIENT_SECRET));
    let a = b.build().unwrap();
    assert!(!format!("{a:?}").contains(box_api::CLIENT_SECRET));
    let files = Files::new(a);
    let body = Bytes::from(random_bytes(11, 3 * KIB64 as usize));
    files
        .upload("ccg/obj", Body::from_bytes(body.clone()))
        .part_size(KIB64)
        .await
        .unwrap();
    let got = files.download("ccg/obj").await.unwrap();
    let mut bytes = Vec::new();
    let mut stream = got.into_stream();
    use futures::StreamExt as _;
    while let Some(c) = stream.next().await {
        bytes.extend_from_slice(&c.unwrap());
    }
    assert_eq!(sha256_hex(&bytes), sha256_hex(&body));
    let tokens = fake
        .server()
        .log()
        .filter(|r| r.method == "POST" && r.path == "/oauth2/token");
    assert_eq!(tokens.len(), 1, "one token, cached");
    // Every API call carried the issued token.
    for r in fake
        .server()
        .log()
        .filter(|r| r.path.starts_with("/files") || r.path.starts_with("/folders"))
    {
        assert!(
            r.header("authorization")
                .is_some_and(|h| h.starts_with("Bearer box-ccg-")),
            "{}",
            r.line()
        );
    }
    // A wrong secret: unauthorized, the secret in no message.
    let files = Files::new(make("wrong-SECRET-value").build().unwrap());
    let e = files.head("ccg/obj").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    let text = format!("{e} {e:?}");
    assert!(!text.contains("wrong-SECRET-value"), "{text}");
}

#[tokio::test]
async fn a_fixed_token_is_not_shown_and_a_bad_one_is_unauthorized() {
    let fake = FakeBox::start().unwrap();
    let b = builder(&fake).access_token("tok-SECRET-1");
    assert!(!format!("{b:?}").contains("tok-SECRET-1"));
    let a = b.build().unwrap();
    assert!(!format!("{a:?}").contains("tok-SECRET-1"));
    let e = Files::new(a).head("x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(!format!("{e} {e:?}").contains("tok-SECRET-1"));
}

#[tokio::test]
async fn small_bodies_go_in_one_request_and_overwrite_as_new_versions() {
    let fake = FakeBox::start().unwrap();
    let files = Files::new(builder(&fake).min_session_size(20_000_000).build().unwrap());
    fake.set_min_session_size(20_000_000);
    let one = Bytes::from(random_bytes(12, 3 * KIB64 as usize));
    // Above the part size but below Box's session minimum: one request.
    files
        .upload("a/b/small", Body::from_bytes(one.clone()))
        .part_size(KIB64)
        .await
        .unwrap();
    let two = Bytes::from_static(b"second version");
    files
        .upload("a/b/small", Body::from_bytes(two.clone()))
        .await
        .unwrap();
    assert_eq!(fake.object("a/b/small").unwrap(), two.to_vec());
    let log = fake.server().log();
    assert!(log.filter(is_part_put).is_empty());
    assert_eq!(
        log.filter(|r| r.method == "POST" && r.path.ends_with("/content"))
            .len(),
        2
    );
    // The second upload was a new version of the same file.
    assert_eq!(
        log.filter(|r| r.method == "POST"
            && r.path.starts_with("/files/")
            && r.path.ends_with("/content")
            && r.path != "/files/content")
            .len(),
        1
    );
}

#[tokio::test]
async fn box_error_bodies_map_to_kinds() {
    let fake = FakeBox::start().unwrap();
    fake.set_storage_limit(Some(10));
    let files = Files::new(builder(&fake).build().unwrap());
    let e = files
        .upload(
            "full/obj",
            Body::from_bytes(Bytes::from_static(b"more than ten bytes")),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::StorageFull, "{e}");
    assert!(e.to_string().contains("storage_limit_exceeded"), "{e}");
    let e = files.head("missing/obj").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    fake.server()
        .faults()
        .add(Fault::too_many_requests(0).on(Match::any().path_prefix("/folders")));
    // A 429 is retried by the core; the listing then succeeds.
    let page = files
        .list(&files_core::ListRequest::default())
        .await
        .unwrap();
    assert!(page.objects.is_empty());
}
