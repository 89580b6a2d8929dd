//! Drive-specific behaviour against the fake Drive server: the resumable protocol's edge cases
//! (308 without Range, expired and cancelled sessions, foreign session hosts), secrets kept out
//! of Debug and errors, the duplicate-name rule, query escaping, delete vs trash.

use std::sync::Arc;

use bytes::Bytes;
use files_core::{
    Adapter, Body, ErrorKind, Files, ListRequest, OffsetState, OffsetUpload, Session, UploadFamily,
    UploadSpec,
};
use files_gdrive::GDriveAdapter;

#[allow(dead_code)]
use files_fakes::gdrive as fake;

const TOKEN: &str = "ya29.SECRET-protocol-token";
const KIB256: usize = 256 * 1024;

struct Env {
    drive: Arc<fake::FakeDrive>,
    root: String,
    adapter: GDriveAdapter,
}

fn env() -> Env {
    let drive = Arc::new(fake::FakeDrive::start(TOKEN).expect("start the fake Drive server"));
    let root = drive.create_folder("root", "protocol-root");
    let adapter = adapter_for(&drive, &root, TOKEN, false);
    Env {
        drive,
        root,
        adapter,
    }
}

fn adapter_for(drive: &fake::FakeDrive, root: &str, token: &str, trash: bool) -> GDriveAdapter {
    GDriveAdapter::builder()
        .endpoint(drive.endpoint())
        .access_token(token)
        .root_folder(root)
        .trash_on_delete(trash)
        .build()
        .expect("an adapter")
}

fn offset(a: &GDriveAdapter) -> &dyn OffsetUpload {
    match a.upload_family() {
        UploadFamily::Offset(o) => o,
        _ => panic!("Drive is an offset-family adapter"),
    }
}

fn spec(key: &str, total: u64) -> UploadSpec {
    UploadSpec {
        key: key.to_string(),
        total,
        part_size: KIB256 as u64,
        options: Default::default(),
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn read(files: &Files, key: &str) -> Vec<u8> {
    files
        .download(key)
        .await
        .expect("download")
        .bytes()
        .await
        .expect("bytes")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_session_status_is_308_without_range_meaning_zero() {
    let e = env();
    let s = spec("dir/fresh.bin", 3 * KIB256 as u64);
    let o = offset(&e.adapter);
    let session = o.begin(&s).await.expect("begin");
    // The raw answer: 308 and no Range header at all.
    let raw = reqwest::Client::new()
        .put(&session.id)
        .header("Content-Range", format!("bytes */{}", s.total))
        .header("Content-Length", 0)
        .send()
        .await
        .expect("status query");
    assert_eq!(raw.status().as_u16(), 308);
    assert!(raw.headers().get("range").is_none());
    assert_eq!(o.probe(&s, &session).await.unwrap(), OffsetState::Offset(0));

    // One chunk lands: 308 with bytes=0-262143.
    let data = pattern(3 * KIB256, 1);
    let st = o
        .append(
            &s,
            &session,
            0,
            Bytes::copy_from_slice(&data[..KIB256]),
            false,
        )
        .await
        .unwrap();
    assert_eq!(st, OffsetState::Offset(KIB256 as u64));
    // The service persists nothing of the next chunk and answers 308 without Range: that
    // means zero bytes, not "the chunk landed".
    e.drive.lose_next_chunk();
    let st = o
        .append(
            &s,
            &session,
            KIB256 as u64,
            Bytes::copy_from_slice(&data[KIB256..2 * KIB256]),
            false,
        )
        .await
        .unwrap();
    assert_eq!(st, OffsetState::Offset(0));
    assert_eq!(o.probe(&s, &session).await.unwrap(), OffsetState::Offset(0));
    // Resending from 0 completes the file with the exact bytes.
    let st = o
        .append(&s, &session, 0, Bytes::from(data.clone()), true)
        .await
        .unwrap();
    let OffsetState::Finished(meta) = st else {
        panic!("the last chunk completes the upload: {st:?}");
    };
    assert_eq!(meta.size, data.len() as u64);
    assert_eq!(meta.etag.as_deref(), Some(fake::md5_hex(&data).as_str()));
    let files = Files::new(e.adapter.clone());
    assert_eq!(read(&files, "dir/fresh.bin").await, data);
    // A probe of the finished session reports the finished file.
    assert!(matches!(
        o.probe(&s, &session).await.unwrap(),
        OffsetState::Finished(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_cancelled_sessions_are_session_expired() {
    let e = env();
    let o = offset(&e.adapter);
    let s = spec("exp.bin", 2 * KIB256 as u64);
    let session = o.begin(&s).await.unwrap();
    o.append(&s, &session, 0, Bytes::from(pattern(KIB256, 2)), false)
        .await
        .unwrap();
    assert!(e.drive.expire_session(&session.id));
    for err in [
        o.probe(&s, &session).await.unwrap_err(),
        o.append(
            &s,
            &session,
            KIB256 as u64,
            Bytes::from(pattern(KIB256, 3)),
            true,
        )
        .await
        .unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::SessionExpired, "{err}");
        assert!(!err.is_retryable(), "{err}");
        assert!(!err.to_string().contains("upload_id"), "{err}");
    }

    // Cancel: DELETE, then the session is gone; cancelling again succeeds.
    let session = o.begin(&s).await.unwrap();
    o.cancel(&s, &session).await.unwrap();
    let err = o.probe(&s, &session).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionExpired, "{err}");
    o.cancel(&s, &session).await.unwrap();
    assert!(e.drive.open_sessions("exp.bin").is_empty());
    assert!(e.drive.files_named(&e.root, "exp.bin").is_empty());

    // A token whose expiry passed is refused before any request.
    let mut old = o.begin(&s).await.unwrap();
    old.expires_at = Some(1);
    let before = e.drive.request_count();
    let err = o.probe(&s, &old).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionExpired);
    assert_eq!(e.drive.request_count(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_session_hosts_are_refused_before_any_request() {
    let e = env();
    let o = offset(&e.adapter);
    let s = spec("f.bin", KIB256 as u64);
    let real = o.begin(&s).await.unwrap();
    let port = e.drive.endpoint().rsplit(':').next().unwrap().to_string();
    let upload_id = real.id.split("upload_id=").nth(1).unwrap().to_string();
    let before = e.drive.request_count();
    for bad in [
        format!(
            "http://evil.example/upload/drive/v3/files?uploadType=resumable&upload_id={upload_id}"
        ),
        format!("https://127.0.0.1:{port}/upload/drive/v3/files?upload_id={upload_id}"),
        format!("http://localhost:{port}/upload/drive/v3/files?upload_id={upload_id}"),
        format!("http://127.0.0.1:{port}/drive/v3/files?upload_id={upload_id}"),
        "not a url".to_string(),
    ] {
        let mut session = Session::new(bad.clone());
        session.sensitive = true;
        let err = e.adapter.check_session(&session).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TokenInvalid, "{bad}");
        assert!(!err.to_string().contains(&upload_id), "{err}");
        for err in [
            o.probe(&s, &session).await.unwrap_err(),
            o.append(&s, &session, 0, Bytes::from(pattern(KIB256, 4)), true)
                .await
                .unwrap_err(),
            o.cancel(&s, &session).await.unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::TokenInvalid, "{bad}: {err}");
        }
    }
    assert_eq!(
        e.drive.request_count(),
        before,
        "no request may reach any server"
    );
    e.adapter
        .check_session(&real)
        .expect("the real session is accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_in_debug_or_errors() {
    let e = env();
    let o = offset(&e.adapter);
    let s = spec("secret.bin", KIB256 as u64);
    let session = o.begin(&s).await.unwrap();
    let upload_id = session.id.split("upload_id=").nth(1).unwrap().to_string();
    assert!(!format!("{session:?}").contains(&upload_id));
    assert!(!format!("{:?}", e.adapter).contains("SECRET"));

    // A wrong token: unauthorized, and neither token appears in the error.
    let wrong = adapter_for(&e.drive, &e.root, "ya29.WRONG-SECRET", false);
    let files = Files::new(wrong.clone());
    for err in [
        files.head("a/b").await.unwrap_err(),
        files.upload("a/b", Body::from("x")).await.unwrap_err(),
        offset(&wrong).begin(&s).await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
        let text = format!("{err} {err:?}");
        assert!(!text.contains("SECRET"), "{text}");
    }
    assert!(!format!("{wrong:?}").contains("SECRET"));
    // Errors about the session never quote its URL.
    e.drive.expire_session(&session.id);
    let err = o.probe(&s, &session).await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains(&upload_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_names_oldest_wins() {
    let e = env();
    let files = Files::new(e.adapter.clone());
    let dir = e.drive.create_folder(&e.root, "dup");
    let old = e.drive.create_file(&dir, "same.txt", b"oldest");
    let new = e.drive.create_file(&dir, "same.txt", b"newer!!");
    // A shadowed duplicate folder: its content is invisible.
    let shadow = e.drive.create_folder(&e.root, "dup");
    e.drive.create_file(&shadow, "hidden.txt", b"hidden");

    assert_eq!(read(&files, "dup/same.txt").await, b"oldest");
    assert_eq!(files.head("dup/same.txt").await.unwrap().size, 6);
    assert!(!files.exists("dup/hidden.txt").await.unwrap());
    let page = files
        .list(&ListRequest {
            prefix: "dup/".into(),
            ..ListRequest::default()
        })
        .await
        .unwrap();
    let keys: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["dup/same.txt"], "a duplicated key is listed once");

    // An upload updates the oldest file in place (no third file).
    files
        .upload("dup/same.txt", Body::from("replaced"))
        .await
        .unwrap();
    let all = e.drive.files_named(&dir, "same.txt");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], (old.clone(), b"replaced".to_vec()));
    assert_eq!(all[1], (new.clone(), b"newer!!".to_vec()));
    assert_eq!(read(&files, "dup/same.txt").await, b"replaced");

    // Delete removes every file of the name.
    files.delete("dup/same.txt").await.unwrap();
    assert!(e.drive.files_named(&dir, "same.txt").is_empty());
    assert!(!files.exists("dup/same.txt").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotes_in_names_and_resumable_overwrite_has_no_duplicates() {
    let e = env();
    let files = Files::new(e.adapter.clone());
    let key = "it's/o'brien \"x\".txt";
    files.upload(key, Body::from("first")).await.unwrap();
    assert_eq!(read(&files, key).await, b"first");
    let folder = e.drive.files_named(&e.root, "it's");
    assert_eq!(folder.len(), 1, "one folder named it's");
    let named = e.drive.files_named(&folder[0].0, "o'brien \"x\".txt");
    assert_eq!(named.len(), 1);

    // A resumable overwrite PATCHes the existing file id.
    let body = pattern(3 * KIB256 + 17, 9);
    files
        .upload(key, Body::from_bytes(Bytes::from(body.clone())))
        .part_size(KIB256 as u64)
        .control(files_core::UploadControl::new())
        .await
        .unwrap();
    let after = e.drive.files_named(&folder[0].0, "o'brien \"x\".txt");
    assert_eq!(after.len(), 1, "no duplicate after an overwrite");
    assert_eq!(after[0].0, named[0].0, "the same file id was updated");
    assert_eq!(after[0].1, body);
    assert_eq!(read(&files, key).await, body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_is_permanent_by_default_trash_on_request() {
    let e = env();
    let files = Files::new(e.adapter.clone());
    files.upload("p.txt", Body::from("p")).await.unwrap();
    let id = e.drive.files_named(&e.root, "p.txt")[0].0.clone();
    files.delete("p.txt").await.unwrap();
    assert_eq!(e.drive.file_state(&id), None, "permanently deleted");

    let trashing = Files::new(adapter_for(&e.drive, &e.root, TOKEN, true));
    trashing.upload("t.txt", Body::from("t")).await.unwrap();
    let id = e.drive.files_named(&e.root, "t.txt")[0].0.clone();
    trashing.delete("t.txt").await.unwrap();
    assert_eq!(e.drive.file_state(&id), Some(true), "in the trash");
    assert!(!trashing.exists("t.txt").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_follows_next_page_tokens() {
    let e = env();
    e.drive.max_page_size(2);
    let files = Files::new(e.adapter.clone());
    for i in 0..7 {
        files
            .upload(format!("pg/f{i}"), Body::from(format!("{i}")))
            .await
            .unwrap();
    }
    let page = files
        .list(&ListRequest {
            prefix: "pg/".into(),
            ..ListRequest::default()
        })
        .await
        .unwrap();
    let keys: Vec<String> = page.objects.into_iter().map(|o| o.key).collect();
    let want: Vec<String> = (0..7).map(|i| format!("pg/f{i}")).collect();
    assert_eq!(keys, want);
}
