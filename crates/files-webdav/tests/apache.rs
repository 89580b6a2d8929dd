//! The conformance suite and the WebDAV-specific checks against Debian's Apache with
//! `mod_dav_fs` (started by the test harness, one per test process; see
//! `files_testkit::davd`), where partial PUT works, so uploads are resumable across processes.
//!
//! What an upload leaves behind is observed on the server's disk (the served directory), not
//! through the adapter. Without Apache these tests skip loudly, except in CI (`CI=true`), where
//! they fail.

use std::sync::Arc;

use files_core::{
    Adapter, Body, Bytes, ErrorKind, Files, OffsetState, OffsetUpload, PutOptions, Resumability,
    UploadControl, UploadSpec,
};
use files_testkit::FaultyAdapter;
use files_testkit::davd::{DAV_PASSWORD, DAV_USER, DavServer, apache_or_skip};
use files_testkit::require_server;
use files_testkit::util::{FnFixture, assert_object_eq, random_bytes, unique_prefix};
use files_webdav::WebDavAdapter;

fn adapter(server: &DavServer) -> WebDavAdapter {
    WebDavAdapter::builder()
        .endpoint(server.endpoint())
        .basic_auth(DAV_USER, DAV_PASSWORD)
        .build()
        .expect("a WebDAV adapter for the test server")
}

fn fixture() -> Option<FnFixture> {
    let server = apache_or_skip()?;
    Some(
        FnFixture::new("webdav (apache mod_dav_fs)", move || {
            Files::new(adapter(server))
        })
        .with_leftovers(move |token| Some(server.leftovers_of(&token.key))),
    )
}

files_testkit::conformance_tests!(match fixture() {
    Some(f) => f,
    None => return,
});

#[tokio::test]
async fn partial_put_is_detected_as_supported() {
    let server = require_server!(apache_or_skip());
    let a = adapter(server);
    assert_eq!(a.capabilities().resumable, Resumability::CrossProcess);
    assert!(a.detect_partial_put().await.unwrap());
    assert_eq!(a.capabilities().resumable, Resumability::CrossProcess);
    assert!(
        server
            .all_leftovers()
            .iter()
            .all(|l| !l.ends_with(".fls-probe"))
    );
}

/// A process killed mid-detection leaves its scratch file behind; the next detection in that
/// collection deletes scratch files older than ten minutes (and leaves a fresh one, which may
/// be another process's detection in progress).
#[tokio::test]
async fn detection_sweeps_stale_scratch_files() {
    let server = require_server!(apache_or_skip());
    let stale = server.data_dir().join(".fls-1-1-dead.fls-probe");
    let fresh = server.data_dir().join(".fls-1-2-beef.fls-probe");
    for (path, age) in [(&stale, 3600), (&fresh, 5)] {
        let f = std::fs::File::create(path).unwrap();
        f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(age))
            .unwrap();
    }
    assert!(adapter(server).detect_partial_put().await.unwrap());
    assert!(!stale.exists(), "the stale scratch file was swept");
    assert!(fresh.exists(), "a recent scratch file is left alone");
    std::fs::remove_file(&fresh).unwrap();
}

/// The part file on the server's disk holds exactly the bytes appended, at their offsets; a
/// new adapter (a new process) probes its size and finishes; the MOVE puts it in place.
#[tokio::test]
async fn offset_primitives_against_the_disk() {
    let server = require_server!(apache_or_skip());
    let key = format!("{}dir/sub/obj.bin", unique_prefix("offsets"));
    let body = random_bytes(5, 300_000);
    let spec = UploadSpec {
        key: key.clone(),
        total: body.len() as u64,
        part_size: 100_000,
        options: PutOptions::default(),
    };
    let a = adapter(server);
    let session = a.begin(&spec).await.unwrap();
    assert_eq!(server.stored(&format!("{key}.fls-part")).unwrap().len(), 0);
    let st = a
        .append(
            &spec,
            &session,
            0,
            Bytes::copy_from_slice(&body[..100_000]),
            false,
        )
        .await
        .unwrap();
    assert_eq!(st, OffsetState::Offset(100_000));
    // A wrong offset is a conflict, and writes nothing.
    let e = a
        .append(&spec, &session, 150_000, Bytes::from_static(b"x"), false)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    // Another adapter (another process) picks it up from the server's truth.
    let b = adapter(server);
    assert_eq!(
        b.probe(&spec, &session).await.unwrap(),
        OffsetState::Offset(100_000)
    );
    b.append(
        &spec,
        &session,
        100_000,
        Bytes::copy_from_slice(&body[100_000..]),
        true,
    )
    .await
    .unwrap();
    assert_eq!(server.stored(&format!("{key}.fls-part")).unwrap(), body);
    assert!(
        server.stored(&key).is_none(),
        "nothing at the key before finish"
    );
    let meta = b.finish(&spec, &session).await.unwrap();
    assert_eq!(meta.size, body.len() as u64);
    assert_eq!(server.stored(&key).unwrap(), body);
    assert!(server.leftovers_of(&key).is_empty());
    // After finish, a probe says finished; a retried finish succeeds.
    assert!(matches!(
        b.probe(&spec, &session).await.unwrap(),
        OffsetState::Finished(_)
    ));
    b.finish(&spec, &session).await.unwrap();
    b.cancel(&spec, &session).await.unwrap();
}

#[tokio::test]
async fn wrong_password_is_unauthorized_and_not_retried() {
    let server = require_server!(apache_or_skip());
    let bad = WebDavAdapter::builder()
        .endpoint(server.endpoint())
        .basic_auth(DAV_USER, "wrong-password-123")
        .build()
        .unwrap();
    let counting = Arc::new(FaultyAdapter::counting(Arc::new(bad)));
    let files = Files::from_arc(counting.clone());
    let e = files.head("some/key").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert!(!e.is_retryable());
    assert_eq!(counting.counts().provider_calls(), 1, "not retried");
    let e = files
        .upload("some/key", Body::from_bytes(vec![1u8; 1000]))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert_eq!(counting.counts().provider_calls(), 2, "not retried");
    for text in [e.to_string(), format!("{e:?}")] {
        assert!(!text.contains("wrong-password-123"), "{text}");
    }
    // No credentials at all.
    let none = WebDavAdapter::builder()
        .endpoint(server.endpoint())
        .build()
        .unwrap();
    let e = Files::new(none).download("k").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
}

#[tokio::test]
async fn keys_cannot_escape_the_root() {
    let server = require_server!(apache_or_skip());
    let prefix = unique_prefix("escape");
    let outside = format!("{prefix}outside.txt");
    let files = Files::new(adapter(server));
    files.upload(&outside, Body::from("outside")).await.unwrap();
    let rooted = Files::new(
        WebDavAdapter::builder()
            .endpoint(server.endpoint())
            .root(format!("{prefix}store"))
            .basic_auth(DAV_USER, DAV_PASSWORD)
            .build()
            .unwrap(),
    );
    for bad in [
        "../outside.txt",
        "a/../../outside.txt",
        "/outside.txt",
        "a\0b",
        "x.fls-part",
    ] {
        let e = rooted.head(bad).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}: {e}");
        let e = rooted.delete(bad).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}: {e}");
    }
    // Encoded-looking names are names, not escapes.
    for odd in ["%2e%2e/x", "..%2Foutside.txt", "a?b#c", "sp ace+plus&amp;"] {
        rooted
            .upload(odd, Body::from(odd.to_string()))
            .await
            .unwrap();
        assert_object_eq(&rooted, odd, odd.as_bytes()).await;
        assert!(
            server.stored(&format!("{prefix}store/{odd}")).is_some(),
            "{odd}"
        );
    }
    let e = rooted
        .list(&files_core::ListRequest {
            prefix: "../".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert_object_eq(&files, &outside, b"outside").await;
}

#[tokio::test]
async fn secrets_never_show() {
    let server = require_server!(apache_or_skip());
    let a = adapter(server);
    let files = Files::new(a.clone());
    let mut texts = vec![format!("{a:?}"), format!("{files:?}"), a.target()];
    let e = files.head("missing/key").await.unwrap_err();
    texts.push(e.to_string());
    texts.push(format!("{e:?}"));
    let control = UploadControl::new();
    let cancel = files_core::CancellationToken::new();
    let key = format!("{}obj", unique_prefix("secrets"));
    let result = files
        .upload(&key, Body::from_bytes(random_bytes(1, 300_000)))
        .part_size(100_000)
        .control(control.clone())
        .cancellation(cancel.clone())
        .on_progress(move |p| {
            if p.loaded >= 100_000 {
                cancel.cancel();
            }
        })
        .await;
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Cancelled);
    if let Some(t) = control.token() {
        texts.push(t.to_json());
        texts.push(format!("{t:?}"));
    }
    let bearer = WebDavAdapter::builder()
        .endpoint(server.endpoint())
        .bearer_token("tok-very-secret-99")
        .build()
        .unwrap();
    texts.push(format!("{bearer:?}"));
    let e = Files::new(bearer).head("k").await.unwrap_err();
    texts.push(e.to_string());
    for t in &texts {
        assert!(!t.contains(DAV_PASSWORD), "{t}");
        assert!(!t.contains("tok-very-secret-99"), "{t}");
    }
}

/// Ranges come back exact, checked against the bytes on the server's disk.
#[tokio::test]
async fn ranges_match_the_stored_bytes() {
    let server = require_server!(apache_or_skip());
    let files = Files::new(adapter(server));
    let key = format!("{}r.bin", unique_prefix("ranges"));
    let body = random_bytes(9, 3 << 20);
    files
        .upload(&key, Body::from_bytes(body.clone()))
        .await
        .unwrap();
    assert_eq!(server.stored(&key).unwrap(), body);
    for (a, b) in [
        (0u64, 1u64),
        (1 << 20, (2 << 20) + 17),
        ((3 << 20) - 5, 3 << 20),
    ] {
        let got = files
            .download(&key)
            .range(a..b)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&got[..], &body[a as usize..b as usize]);
    }
    let e = files.download(&key).range(5u64..5).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

/// A collection is not an object: head/download say not found, delete does not remove it (nor
/// what it holds), and rename refuses it.
#[tokio::test]
async fn collections_are_not_objects() {
    let server = require_server!(apache_or_skip());
    let files = Files::new(adapter(server));
    let prefix = unique_prefix("colls");
    let inner = format!("{prefix}dir/inner.txt");
    files.upload(&inner, Body::from("keep me")).await.unwrap();
    let dir = format!("{prefix}dir");
    assert_eq!(
        files.head(&dir).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        files.download(&dir).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    files.delete(&dir).await.unwrap();
    assert_object_eq(&files, &inner, b"keep me").await;
    let e = files
        .rename(&dir, &format!("{prefix}moved"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_object_eq(&files, &inner, b"keep me").await;
}

/// `webdav://` URLs through the registry: the store and object forms, the password from the
/// URL's user info.
#[tokio::test]
async fn urls_open_the_same_store() {
    let server = require_server!(apache_or_skip());
    files_webdav::register();
    let prefix = unique_prefix("urls");
    let host = server
        .endpoint()
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let store = Files::from_url(&format!(
        "webdav://{DAV_USER}:{DAV_PASSWORD}@{host}/{prefix}store"
    ))
    .unwrap();
    store
        .upload("a/b.txt", Body::from("via url"))
        .await
        .unwrap();
    assert_eq!(
        server.stored(&format!("{prefix}store/a/b.txt")).unwrap(),
        b"via url"
    );
    let (files, key) = files_core::registry::open_object(&format!(
        "webdav://{DAV_USER}:{DAV_PASSWORD}@{host}/{prefix}store/a/b.txt?root=/{prefix}store"
    ))
    .unwrap();
    assert_eq!(key, "a/b.txt");
    assert_object_eq(&files, &key, b"via url").await;
    assert!(!format!("{files:?}").contains(DAV_PASSWORD));
}
