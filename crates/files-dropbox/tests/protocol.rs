//! Upload-session protocol tests against the fake Dropbox: what the adapter does with each
//! answer the API reference describes, checked by the bytes that end up stored and by what
//! the fake received.

use std::time::Duration;

use files_core::token::ResumeToken;
use files_core::{
    Adapter, Body, Bytes, CancellationToken, ErrorKind, Files, OffsetState, OffsetUpload,
    UploadControl, UploadSpec,
};
use files_dropbox::DropboxAdapter;
use files_dropbox::content_hash::{BLOCK, ContentHasher, block_hashes, combine, content_hash};
use files_fakes::dropbox::{self as fake_dropbox, FakeDropbox};
use files_fakes::kit::{Fault, Match, RecordedRequest};
use files_testkit::util::{random_bytes, sha256_hex};
use serde_json::Value;
use sha2::{Digest, Sha256};

const MIB4: usize = BLOCK;
const APPEND: &str = "/2/files/upload_session/append_v2";
const FINISH: &str = "/2/files/upload_session/finish";

fn adapter(fake: &FakeDropbox) -> DropboxAdapter {
    DropboxAdapter::builder()
        .ignore_env()
        .root("proto")
        .endpoint(fake.endpoint())
        .access_token(fake.token())
        .build()
        .unwrap()
}

fn spec(key: &str, total: u64) -> UploadSpec {
    UploadSpec {
        key: key.into(),
        total,
        part_size: MIB4 as u64,
        options: Default::default(),
    }
}

fn arg(r: &RecordedRequest) -> Value {
    serde_json::from_str(r.header("dropbox-api-arg").unwrap_or("null")).unwrap()
}

/// The (offset, length) of every append that carried bytes.
fn appended(fake: &FakeDropbox) -> Vec<(u64, u64)> {
    fake.server()
        .log()
        .filter(|r| r.path == APPEND && r.body_len > 0)
        .iter()
        .map(|r| (arg(r)["cursor"]["offset"].as_u64().unwrap(), r.body_len))
        .collect()
}

/// Asserts the appended ranges tile `0..total` exactly: no byte twice, none skipped.
fn assert_each_byte_once(fake: &FakeDropbox, total: u64) {
    let mut ranges = appended(fake);
    ranges.sort();
    let mut next = 0;
    for (off, len) in &ranges {
        assert_eq!(
            *off, next,
            "appends {ranges:?}: a byte sent twice or skipped"
        );
        next += len;
    }
    assert_eq!(next, total, "appends {ranges:?} do not cover the body");
}

async fn cancelled(files: &Files, key: &str, body: &Bytes, after: u64) -> ResumeToken {
    let control = UploadControl::new();
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let r = files
        .upload(key, Body::from_bytes(body.clone()))
        .part_size(MIB4 as u64)
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

#[test]
fn content_hash_published_vector_and_block_structure() {
    // The block hashes of milky-way-nasa.jpg published on Dropbox's content-hash page, and
    // the content hash the page gives for them.
    let hex = |s: &str| -> [u8; 32] {
        let v: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        v.try_into().unwrap()
    };
    let blocks = [
        hex("2a846fa617c3361fc117e1c5c1e1838c336b6a5cef982c1a2d9bdf68f2f1992a"),
        hex("c68469027410ea393eba6551b9fa1e26db775f00eae70a0c3c129a0011a39cf9"),
        hex("7376192de020925ce6c5ef5a8a0405e931b0a9a8c75517aacd9ca24a8a56818b"),
    ];
    assert_eq!(
        combine(&blocks),
        "485291fa0ee50c016982abbfa943957bcd231aae0492ccbaa22c58e3997b35e0"
    );
    // Two blocks (4 MiB + 1000 bytes), computed independently with sha2.
    let data = random_bytes(11, MIB4 + 1000);
    let mut outer = Sha256::new();
    outer.update(Sha256::digest(&data[..MIB4]));
    outer.update(Sha256::digest(&data[MIB4..]));
    let want: String = outer
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(content_hash(&data), want);
    assert_eq!(block_hashes(&data).len(), 2);
    // Streaming in odd pieces gives the same; the fake's own SHA-256 agrees.
    let mut h = ContentHasher::new();
    for piece in data.chunks(999_999) {
        h.update(piece);
    }
    assert_eq!(h.finish(), want);
    assert_eq!(fake_dropbox::content_hash(&data), want);
    // No block for an empty body: the hash of the empty string.
    assert_eq!(
        content_hash(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[tokio::test]
async fn lost_append_answer_continues_from_correct_offset() {
    let fake = FakeDropbox::start().unwrap();
    let a = adapter(&fake);
    let body = Bytes::from(random_bytes(1, 2 * MIB4 + 10));
    let s = spec("lost/one", body.len() as u64);
    let session = a.begin(&s).await.unwrap();
    assert_eq!(a.probe(&s, &session).await.unwrap(), OffsetState::Offset(0));
    // The first append lands but its answer is lost.
    fake.server()
        .faults()
        .add(Fault::drop_answer().on(Match::any().path(APPEND)));
    let first = body.slice(0..MIB4);
    assert!(
        a.append(&s, &session, 0, first.clone(), false)
            .await
            .is_err()
    );
    assert_eq!(fake.session_offset(&session.id), Some(MIB4 as u64));
    // Sending it again: Dropbox answers incorrect_offset with correct_offset = 4 MiB, which
    // is the end of this chunk: it landed, nothing is appended twice.
    assert_eq!(
        a.append(&s, &session, 0, first, false).await.unwrap(),
        OffsetState::Offset(MIB4 as u64)
    );
    assert_eq!(fake.session_offset(&session.id), Some(MIB4 as u64));
    // The probe reads the same offset from an empty append.
    assert_eq!(
        a.probe(&s, &session).await.unwrap(),
        OffsetState::Offset(MIB4 as u64)
    );
    // An append at an offset the session does not hold (behind it, not this chunk) is a
    // conflict: the core re-probes.
    let e = a
        .append(&s, &session, 0, body.slice(0..10), false)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    let e = a
        .append(&s, &session, 2 * MIB4 as u64, body.slice(2 * MIB4..), true)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert_eq!(fake.session_offset(&session.id), Some(MIB4 as u64));
    a.append(&s, &session, MIB4 as u64, body.slice(MIB4..2 * MIB4), false)
        .await
        .unwrap();
    a.append(&s, &session, 2 * MIB4 as u64, body.slice(2 * MIB4..), true)
        .await
        .unwrap();
    let meta = a.finish(&s, &session).await.unwrap();
    assert_eq!(meta.size, body.len() as u64);
    assert_eq!(
        sha256_hex(&fake.object("/proto/lost/one").unwrap()),
        sha256_hex(&body)
    );
    // Every block was seen accepted in this process: finish carried the whole-file hash.
    let finish = fake.server().log().filter(|r| r.path == FINISH);
    assert_eq!(
        arg(&finish[0])["content_hash"].as_str(),
        Some(content_hash(&body).as_str())
    );
}

#[tokio::test]
async fn lost_append_answer_in_an_upload_sends_no_byte_twice() {
    let fake = FakeDropbox::start().unwrap();
    let files = Files::new(adapter(&fake));
    let body = Bytes::from(random_bytes(2, 3 * MIB4 + 777));
    // The second data-carrying append lands, its answer is lost.
    let fault = fake.server().faults().add(
        Fault::drop_answer()
            .on(Match::any()
                .path(APPEND)
                .when(|r| r.declared_len.unwrap_or(0) > 0))
            .nth(2),
    );
    let control = UploadControl::new();
    let out = files
        .upload("lost/upload.bin", Body::from_bytes(body.clone()))
        .part_size(MIB4 as u64)
        .control(control)
        .await
        .unwrap();
    assert_eq!(fault.fired(), 1);
    assert_eq!(out.meta.size, body.len() as u64);
    assert_eq!(
        sha256_hex(&fake.object("/proto/lost/upload.bin").unwrap()),
        sha256_hex(&body)
    );
    assert_each_byte_once(&fake, body.len() as u64);
}

#[tokio::test]
async fn expired_session_is_session_expired() {
    let fake = FakeDropbox::start().unwrap();
    let a = adapter(&fake);
    let body = Bytes::from(random_bytes(3, MIB4 + 5));
    let s = spec("expired/obj", body.len() as u64);
    let session = a.begin(&s).await.unwrap();
    a.append(&s, &session, 0, body.slice(0..MIB4), false)
        .await
        .unwrap();
    fake.clock()
        .advance(fake_dropbox::SESSION_LIFETIME + Duration::from_secs(1));
    let e = a.probe(&s, &session).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SessionExpired, "{e}");
    let e = a
        .append(&s, &session, MIB4 as u64, body.slice(MIB4..), true)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SessionExpired, "{e}");
    assert!(fake.object("/proto/expired/obj").is_none());

    // Through the client: a token whose session expired fails with session_expired.
    let files = Files::new(adapter(&fake));
    let body = Bytes::from(random_bytes(4, 3 * MIB4));
    let token = cancelled(&files, "expired/two", &body, MIB4 as u64).await;
    fake.clock()
        .advance(fake_dropbox::SESSION_LIFETIME + Duration::from_secs(1));
    let r = files
        .upload("expired/two", Body::from_bytes(body))
        .control(UploadControl::from_token(token))
        .await;
    assert_eq!(r.unwrap_err().kind(), ErrorKind::SessionExpired);
}

#[tokio::test]
async fn closed_session_is_session_expired_and_cancel_closes() {
    let fake = FakeDropbox::start().unwrap();
    let a = adapter(&fake);
    let s = spec("closed/obj", 2 * MIB4 as u64);
    let session = a.begin(&s).await.unwrap();
    assert!(fake.close_session(&session.id));
    let e = a
        .append(&s, &session, 0, Bytes::from(vec![1u8; MIB4]), false)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SessionExpired, "{e}");
    assert!(e.to_string().contains("closed"), "{e}");
    // cancel: no abort exists; the session is closed and a probe says it is gone.
    let session = a.begin(&s).await.unwrap();
    a.append(&s, &session, 0, Bytes::from(vec![2u8; MIB4]), false)
        .await
        .unwrap();
    a.cancel(&s, &session).await.unwrap();
    assert_eq!(
        a.probe(&s, &session).await.unwrap_err().kind(),
        ErrorKind::SessionExpired
    );
    // Cancelling again, or a gone session, is fine.
    a.cancel(&s, &session).await.unwrap();
    fake.expire_session(&session.id);
    a.cancel(&s, &session).await.unwrap();
}

#[tokio::test]
async fn resume_from_token_in_a_new_client() {
    let fake = FakeDropbox::start().unwrap();
    let body = Bytes::from(random_bytes(5, 4 * MIB4 + 3));
    let token = {
        let files = Files::new(adapter(&fake));
        cancelled(&files, "resume/big.bin", &body, 2 * MIB4 as u64).await
    };
    let json = token.to_json();
    assert!(
        !json.contains(fake.token()),
        "the token holds no credential"
    );
    let landed: u64 = token.landed.parse().unwrap();
    assert!(landed >= 2 * MIB4 as u64);
    // A new adapter, as a new process would build.
    let files = Files::new(adapter(&fake));
    let out = files
        .upload("resume/big.bin", Body::from_bytes(body.clone()))
        .control(UploadControl::from_token(
            ResumeToken::from_json(&json).unwrap(),
        ))
        .await
        .unwrap();
    assert!(out.bytes_resumed >= 2 * MIB4 as u64, "{out:?}");
    assert_eq!(
        sha256_hex(&fake.object("/proto/resume/big.bin").unwrap()),
        sha256_hex(&body)
    );
    assert_each_byte_once(&fake, body.len() as u64);
    // The resuming process did not see the first blocks: its finish carries no whole-file
    // hash (each append carried its own).
    let finish = fake.server().log().filter(|r| r.path == FINISH);
    assert_eq!(finish.len(), 1);
    assert!(arg(&finish[0]).get("content_hash").is_none());
    for r in fake
        .server()
        .log()
        .filter(|r| r.path == APPEND && r.body_len > 0)
    {
        assert!(arg(&r)["content_hash"].is_string());
    }
}

#[tokio::test]
async fn refresh_token_flow_and_no_secret_leaks() {
    let fake = FakeDropbox::start().unwrap();
    let builder = DropboxAdapter::builder()
        .ignore_env()
        .root("refresh")
        .endpoint(fake.endpoint())
        .token_url(fake.token_url())
        .refresh_token(
            fake_dropbox::REFRESH_TOKEN,
            fake_dropbox::APP_KEY,
            Some(fake_dropbox::APP_SECRET.to_string()),
        );
    let shown = format!("{builder:?}");
    assert!(
        !shown.contains(fake_dropbox::REFRESH_TOKEN) && !shown.contains(fake_dropbox::APP_SECRET),
        "{shown}"
    );
    let a = builder.build().unwrap();
    let shown = format!("{a:?}");
    assert!(
        !shown.contains(fake_dropbox::REFRESH_TOKEN) && !shown.contains(fake_dropbox::APP_SECRET),
        "{shown}"
    );
    let files = Files::new(a);
    files
        .upload("a/b.txt", Body::from_bytes(Bytes::from_static(b"hello")))
        .await
        .unwrap();
    assert_eq!(files.head("a/b.txt").await.unwrap().size, 5);
    assert_eq!(fake.tokens_issued(), 1, "one token, cached");
    // The requests carried the issued token, not the refresh token.
    for r in fake.server().log().filter(|r| r.path.starts_with("/2/")) {
        let auth = r.header("authorization").unwrap();
        assert!(auth.starts_with("Bearer sl.issued-"), "{auth}");
    }
    assert_eq!(fake.object("/refresh/a/b.txt").unwrap(), b"hello");

    // A wrong secret: unauthorized, and neither secret in the error.
    let bad = DropboxAdapter::builder()
        .ignore_env()
        .root("refresh")
        .endpoint(fake.endpoint())
        .token_url(fake.token_url())
        .refresh_token(
            fake_dropbox::REFRESH_TOKEN,
            fake_dropbox::APP_KEY,
            Some("WRONG-SECRET-value".to_string()),
        )
        .build()
        .unwrap();
    let e = bad.head("a/b.txt").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    let text = format!("{e} {e:?}");
    assert!(
        !text.contains("WRONG-SECRET") && !text.contains(fake_dropbox::REFRESH_TOKEN),
        "{text}"
    );
}

#[tokio::test]
async fn unauthorized_names_the_variable_not_the_token() {
    let fake = FakeDropbox::start().unwrap();
    let a = DropboxAdapter::builder()
        .ignore_env()
        .endpoint(fake.endpoint())
        .access_token("sl.NOT-A-VALID-TOKEN")
        .build()
        .unwrap();
    assert!(!format!("{a:?}").contains("NOT-A-VALID"));
    let e = a.head("x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(!e.is_retryable());
    let text = format!("{e} {e:?}");
    assert!(text.contains("DROPBOX_ACCESS_TOKEN"), "{text}");
    assert!(!text.contains("NOT-A-VALID"), "{text}");
}

#[tokio::test]
async fn non_ascii_keys_and_case_insensitive_paths() {
    let fake = FakeDropbox::start().unwrap();
    let files = Files::new(adapter(&fake));
    let key = "Été/naïve 😀.txt";
    files
        .upload(key, Body::from_bytes(Bytes::from_static(b"unicode")))
        .await
        .unwrap();
    // The fake refuses a Dropbox-API-Arg that is not ASCII: the escape was needed.
    for r in fake.server().log().filter(|r| r.path == "/2/files/upload") {
        assert!(r.header("dropbox-api-arg").unwrap().is_ascii());
    }
    let got = files.download(key).await.unwrap().bytes().await.unwrap();
    assert_eq!(&got[..], b"unicode");
    // Another case names the same file; listing keeps the first spelling.
    assert_eq!(files.head("été/NAÏVE 😀.TXT").await.unwrap().size, 7);
    let page = files
        .adapter()
        .list(&files_core::ListRequest {
            prefix: "Été/".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.objects.len(), 1);
    assert_eq!(page.objects[0].key, key);
    let meta = files.head(key).await.unwrap();
    assert_eq!(
        meta.metadata.get("content_hash").map(String::as_str),
        Some(content_hash(b"unicode").as_str())
    );
}

#[tokio::test]
async fn temporary_link_serves_the_file_for_four_hours() {
    let fake = FakeDropbox::start().unwrap();
    let a = adapter(&fake);
    let files = Files::new(a.clone());
    files
        .upload(
            "link/f.bin",
            Body::from_bytes(Bytes::from_static(b"linked bytes")),
        )
        .await
        .unwrap();
    let url = a
        .presign(
            "link/f.bin",
            files_core::PresignMethod::Get,
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    let got = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    assert_eq!(&got[..], b"linked bytes");
    let e = a
        .presign(
            "link/f.bin",
            files_core::PresignMethod::Get,
            Duration::from_secs(5 * 3600),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    fake.clock().advance(Duration::from_secs(4 * 3600 + 1));
    assert_eq!(reqwest::get(&url).await.unwrap().status().as_u16(), 410);
}

#[tokio::test]
async fn rate_limit_is_retried_after_retry_after() {
    let fake = FakeDropbox::start().unwrap();
    let files = Files::new(adapter(&fake));
    files
        .upload("rl/f", Body::from_bytes(Bytes::from_static(b"x")))
        .await
        .unwrap();
    let f = fake
        .server()
        .faults()
        .add(Fault::too_many_requests(1).on(Match::any().path("/2/files/get_metadata")));
    assert_eq!(files.head("rl/f").await.unwrap().size, 1);
    assert_eq!(f.fired(), 1);
}

#[test]
fn url_parameters_are_checked() {
    let bad = url::Url::parse("dropbox://backups/x?region=eu").unwrap();
    let e = <DropboxAdapter as files_core::FromUrl>::from_url(&bad).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("region"), "{e}");
}
