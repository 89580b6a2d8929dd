//! Resumable-session protocol tests against the fake GCS server: what the adapter does with
//! each answer the documentation describes, checked by the bytes that end up stored.

use files_core::token::ResumeToken;
use files_core::{
    Adapter, Body, Bytes, CancellationToken, ErrorKind, Files, OffsetState, OffsetUpload,
    UploadControl, UploadSpec,
};
use files_fakes::gcs::FakeGcs;
use files_gcs::GcsAdapter;
use files_gcs::resumable::{ResumableProtocol, SessionStatus, SessionUrl};
use files_testkit::util::{random_bytes, sha256_hex};

const KIB256: usize = 256 * 1024;

fn adapter(fake: &FakeGcs, bucket: &str) -> GcsAdapter {
    GcsAdapter::builder()
        .ignore_env()
        .bucket(bucket)
        .endpoint(fake.endpoint())
        .anonymous()
        .build()
        .unwrap()
}

fn spec(key: &str, total: u64) -> UploadSpec {
    UploadSpec {
        key: key.into(),
        total,
        part_size: KIB256 as u64,
        options: Default::default(),
    }
}

/// Starts an upload of `body` and cancels it once `after` bytes landed; returns the token.
async fn cancelled(files: &Files, key: &str, body: &Bytes, after: u64) -> ResumeToken {
    let control = UploadControl::new();
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let r = files
        .upload(key, Body::from_bytes(body.clone()))
        .part_size(KIB256 as u64)
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
async fn status_308_without_range_means_zero_bytes() {
    let fake = FakeGcs::start().unwrap();
    let bucket = fake.new_bucket("zero");
    let a = adapter(&fake, &bucket);
    let body = Bytes::from(random_bytes(1, 3 * KIB256 + 100));
    let s = spec("zero/obj", body.len() as u64);
    let session = a.begin(&s).await.unwrap();
    // A fresh session: 308 with no Range header. That is zero bytes, not one.
    assert_eq!(a.probe(&s, &session).await.unwrap(), OffsetState::Offset(0));
    // The raw protocol says the same.
    let proto = ResumableProtocol::new(reqwest::Client::new());
    let url = SessionUrl::new(session.id.clone());
    assert_eq!(
        proto
            .query(&url, None, Some(body.len() as u64))
            .await
            .unwrap(),
        SessionStatus::Persisted(0)
    );
    // A chunk, then the status says bytes=0-(256K-1).
    let st = a
        .append(&s, &session, 0, body.slice(0..KIB256), false)
        .await
        .unwrap();
    assert_eq!(st, OffsetState::Offset(KIB256 as u64));
    assert_eq!(
        a.probe(&s, &session).await.unwrap(),
        OffsetState::Offset(KIB256 as u64)
    );
    // The rest, in one last chunk: done, and finish does not send anything again.
    let st = a
        .append(&s, &session, KIB256 as u64, body.slice(KIB256..), true)
        .await
        .unwrap();
    assert!(matches!(st, OffsetState::Finished(ref m) if m.size == body.len() as u64));
    let before = fake.requests().len();
    let meta = a.finish(&s, &session).await.unwrap();
    assert_eq!(meta.size, body.len() as u64);
    let after: Vec<String> = fake.requests()[before..].to_vec();
    assert_eq!(after.len(), 1, "finish sends one status query: {after:?}");
    assert_eq!(
        sha256_hex(&fake.object(&bucket, "zero/obj").unwrap()),
        sha256_hex(&body)
    );
}

#[tokio::test]
async fn partial_persistence_and_faults_still_give_exact_bytes() {
    let fake = FakeGcs::start().unwrap();
    let bucket = fake.new_bucket("partial");
    let files = Files::new(adapter(&fake, &bucket));
    let body = Bytes::from(random_bytes(2, 6 * KIB256 + 7));
    fake.persist_partially();
    fake.fail_next_chunks(2);
    files
        .upload("p/obj", Body::from_bytes(body.clone()))
        .part_size(2 * KIB256 as u64)
        .await
        .unwrap();
    assert_eq!(
        sha256_hex(&fake.object(&bucket, "p/obj").unwrap()),
        sha256_hex(&body)
    );
}

#[tokio::test]
async fn expired_session_is_session_expired() {
    let fake = FakeGcs::start().unwrap();
    let bucket = fake.new_bucket("expired");
    let files = Files::new(adapter(&fake, &bucket));
    let body = Bytes::from(random_bytes(3, 8 * KIB256));
    let token = cancelled(&files, "e/obj", &body, 2 * KIB256 as u64).await;
    assert!(fake.expire_session(&token.session.id));
    let err = files
        .upload("e/obj", Body::from_bytes(body.clone()))
        .control(UploadControl::from_token(token.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionExpired, "{err}");
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(fake.object(&bucket, "e/obj").is_none());

    // A session older than a week is expired without asking the service.
    let token = cancelled(&files, "e/obj2", &body, 2 * KIB256 as u64).await;
    let mut old = token.clone();
    old.session.expires_at = Some(1);
    let a = adapter(&fake, &bucket);
    let before = fake.requests().len();
    let e = a
        .probe(&spec("e/obj2", body.len() as u64), &old.session)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SessionExpired);
    assert_eq!(
        fake.requests().len(),
        before,
        "no request for an expired session"
    );
}

#[tokio::test]
async fn doctored_session_host_is_refused_before_any_request() {
    let fake = FakeGcs::start().unwrap();
    let bucket = fake.new_bucket("doctored");
    let files = Files::new(adapter(&fake, &bucket));
    let body = Bytes::from(random_bytes(4, 8 * KIB256));
    let token = cancelled(&files, "d/obj", &body, 2 * KIB256 as u64).await;
    // A second server that would receive the bytes if the token were trusted.
    let evil = FakeGcs::start().unwrap();
    evil.create_bucket(&bucket);
    for doctored_url in [
        token.session.id.replace(&fake.endpoint(), &evil.endpoint()),
        token.session.id.replace("127.0.0.1", "localhost"),
        token.session.id.replace("http://", "https://"),
        token
            .session
            .id
            .replace(&format!("/b/{bucket}/"), "/b/other-bucket/"),
    ] {
        let mut doctored = token.clone();
        doctored.session.id = doctored_url.clone();
        // Re-seal the token as a tamperer with the format would.
        let doctored = ResumeToken::from_json(&reseal(&doctored)).unwrap();
        let before = (fake.requests().len(), evil.requests().len());
        let err = files
            .upload("d/obj", Body::from_bytes(body.clone()))
            .control(UploadControl::from_token(doctored))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TokenInvalid, "{err}");
        assert!(!err.to_string().contains("upload_id"), "{err}");
        assert_eq!(
            (fake.requests().len(), evil.requests().len()),
            before,
            "no request may be sent for a doctored session URL"
        );
    }
    assert!(evil.requests().is_empty());
}

/// The token as a tamperer would re-seal it (`to_json` recomputes the checksum).
fn reseal(t: &ResumeToken) -> String {
    t.to_json()
}

#[tokio::test]
async fn session_url_never_in_debug_or_errors() {
    let fake = FakeGcs::start().unwrap();
    let bucket = fake.new_bucket("secret");
    let files = Files::new(adapter(&fake, &bucket));
    let body = Bytes::from(random_bytes(5, 8 * KIB256));
    let token = cancelled(&files, "s/obj", &body, 2 * KIB256 as u64).await;
    let url = token.session.id.clone();
    let upload_id = url.split("upload_id=").nth(1).unwrap().to_string();
    assert!(token.session.sensitive);
    assert!(token.is_sensitive());
    for text in [format!("{token:?}"), format!("{:?}", token.session)] {
        assert!(!text.contains(&upload_id), "leaked in Debug: {text}");
    }
    // Errors that involve the session: expired, and a connection failure.
    fake.expire_session(&url);
    let a = adapter(&fake, &bucket);
    let s = spec("s/obj", body.len() as u64);
    let errors = vec![
        a.probe(&s, &token.session).await.unwrap_err(),
        a.append(&s, &token.session, 0, body.slice(0..KIB256), false)
            .await
            .unwrap_err(),
    ];
    let mut dead = token.session.clone();
    let port = fake.port();
    drop(fake);
    dead.id = url.clone();
    let _ = port;
    let mut errors = errors;
    if let Err(e) = a.probe(&s, &dead).await {
        errors.push(e);
    }
    for e in errors {
        for text in [e.to_string(), format!("{e:?}")] {
            assert!(!text.contains(&upload_id), "leaked in an error: {text}");
        }
    }
}

#[tokio::test]
async fn firebase_round_trip_and_download_token_url() {
    let fake = FakeGcs::start().unwrap();
    let bucket = files_gcs::firebase::BucketNaming::FirebaseStorageApp.bucket("demo-proj");
    fake.create_bucket(&bucket);
    let a = GcsAdapter::firebase(
        "demo-proj",
        files_gcs::firebase::BucketNaming::FirebaseStorageApp,
    )
    .ignore_env()
    .endpoint(fake.endpoint())
    .anonymous()
    .build()
    .unwrap();
    assert_eq!(a.provider(), "firebase");
    assert_eq!(a.bucket(), "demo-proj.firebasestorage.app");
    let files = Files::new(a.clone());
    let body = Bytes::from(random_bytes(6, 3 * KIB256 + 11));
    files
        .upload("pics/cat one.jpg", Body::from_bytes(body.clone()))
        .part_size(KIB256 as u64)
        .content_type("image/jpeg")
        .await
        .unwrap();
    let got = files
        .download("pics/cat one.jpg")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha256_hex(&got), sha256_hex(&body));

    let url = files_gcs::firebase::download_url(&a, "pics/cat one.jpg")
        .await
        .unwrap();
    assert!(
        url.contains("/v0/b/demo-proj.firebasestorage.app/o/pics%2Fcat%20one.jpg?alt=media&token="),
        "{url}"
    );
    // The same token the second time.
    assert_eq!(
        files_gcs::firebase::download_url(&a, "pics/cat one.jpg")
            .await
            .unwrap(),
        url
    );
    let fetched = reqwest::get(&url).await.unwrap();
    assert_eq!(fetched.status().as_u16(), 200);
    assert_eq!(
        sha256_hex(&fetched.bytes().await.unwrap()),
        sha256_hex(&body)
    );
    // A wrong token is refused; revoking makes the URL stop working.
    let wrong = format!("{}x", url);
    assert_eq!(reqwest::get(&wrong).await.unwrap().status().as_u16(), 403);
    files_gcs::firebase::revoke_download_tokens(&a, "pics/cat one.jpg")
        .await
        .unwrap();
    assert_eq!(reqwest::get(&url).await.unwrap().status().as_u16(), 403);
}

#[test]
fn url_schemes_open_adapters() {
    files_gcs::register();
    // Credentials come from the environment: building succeeds (application default
    // credentials are resolved lazily) or fails for lack of credentials, never otherwise.
    match files_core::registry::open_object("gs://my-bucket/a/b%20c.txt") {
        Ok((files, key)) => {
            assert_eq!(key, "a/b c.txt");
            assert!(files.adapter().target().starts_with("my-bucket@"));
            assert_eq!(files.adapter().provider(), "gcs");
        }
        Err(e) => assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}"),
    }
    match files_core::registry::open_object("firebase://demo-proj/k") {
        Ok((files, key)) => {
            assert_eq!(key, "k");
            assert!(
                files
                    .adapter()
                    .target()
                    .starts_with("demo-proj.firebasestorage.app@")
            );
            assert_eq!(files.adapter().provider(), "firebase");
        }
        Err(e) => assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}"),
    }
    let e = files_core::registry::open_object("gs://my-bucket/k?token=x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

/// `gs://bucket/key?endpoint=URL` reaches that endpoint (a fake here), and so does
/// `firebase://bucket/key?endpoint=URL`; an unknown parameter is refused by name.
#[tokio::test]
async fn endpoint_parameter_reaches_the_fake() {
    // nextest runs each test in its own process, so this variable is this test's alone.
    unsafe { std::env::set_var("GCS_ACCESS_TOKEN", "fake-token") };
    let fake = FakeGcs::start().unwrap();
    let bucket = fake.new_bucket("endpoint-param");
    fake.create_bucket("endpoint-proj.firebasestorage.app");
    let endpoint = fake.endpoint();
    let body = Bytes::from(random_bytes(3 * 1024 + 7, 11));
    for url in [
        format!("gs://{bucket}/dir/a%20b.bin?endpoint={endpoint}"),
        format!("firebase://endpoint-proj/dir/a%20b.bin?endpoint={endpoint}"),
    ] {
        let (files, key) = files_core::registry::open_object(&url).unwrap();
        assert_eq!(key, "dir/a b.bin");
        files.upload(&key, Body::from(body.clone())).await.unwrap();
        let got = files.download(&key).await.unwrap().bytes().await.unwrap();
        assert_eq!(sha256_hex(&got), sha256_hex(&body), "{url}");
        files.delete(&key).await.unwrap();
    }
    let e = files_core::registry::open_object(&format!("gs://{bucket}/k?endpoit={endpoint}"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("endpoit"), "{e}");
}
