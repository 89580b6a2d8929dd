//! Graph-specific behaviour against the fake Graph server: `416` after a lost answer, expired
//! sessions, cross-process resume sending only the missing bytes, no `Authorization` on the
//! upload URL, the client-credentials flow, foreign upload hosts refused from a token, paging,
//! copy monitors, and secrets kept out of `Debug` and errors.

use std::sync::Arc;

use bytes::Bytes;
use files_core::{
    Adapter, Body, CancellationToken, ErrorKind, Files, ListRequest, OffsetState, OffsetUpload,
    ResumeToken, UploadControl, UploadFamily, UploadSpec,
};
use files_fakes::graph::{FakeGraph, TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TENANT, TEST_TOKEN};
use files_fakes::kit::{Fault, Match};
use files_onedrive::{FRAGMENT_ALIGN, OneDriveAdapter};
use sha2::{Digest, Sha256};

const F: usize = FRAGMENT_ALIGN as usize;

fn fake() -> Arc<FakeGraph> {
    Arc::new(FakeGraph::start().expect("start the fake Graph server"))
}

fn adapter(g: &FakeGraph) -> OneDriveAdapter {
    OneDriveAdapter::builder()
        .endpoint(g.endpoint())
        .access_token(TEST_TOKEN)
        .build()
        .expect("an adapter")
}

fn offset(a: &OneDriveAdapter) -> &dyn OffsetUpload {
    match a.upload_family() {
        UploadFamily::Offset(o) => o,
        _ => panic!("OneDrive is an offset-family adapter"),
    }
}

fn spec(key: &str, total: u64) -> UploadSpec {
    UploadSpec {
        key: key.to_string(),
        total,
        part_size: FRAGMENT_ALIGN,
        options: Default::default(),
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

fn sha(b: &[u8]) -> Vec<u8> {
    Sha256::digest(b).to_vec()
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

fn upload_puts(g: &FakeGraph) -> Vec<files_fakes::kit::RecordedRequest> {
    g.server()
        .log()
        .filter(|r| r.method == "PUT" && r.path == "/uploadSession")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragment_already_held_416_after_a_lost_answer_resumes_exactly() {
    let g = fake();
    let a = adapter(&g);
    let o = offset(&a);
    let data = pattern(3 * F + 1000, 7);
    let s = spec("docs/lost.bin", data.len() as u64);
    let session = o.begin(&s).await.expect("begin");
    // The first fragment lands but its answer is lost.
    let lost = g.server().faults().add(
        Fault::drop_answer()
            .on(Match::method("PUT").path("/uploadSession"))
            .nth(1),
    );
    let err = o
        .append(&s, &session, 0, Bytes::copy_from_slice(&data[..F]), false)
        .await
        .unwrap_err();
    assert_eq!(lost.fired(), 1);
    assert!(err.is_retryable(), "{err}");
    assert_eq!(g.session_received(&session.id), Some(F as u64));
    // Sending it again: Graph answers 416 (it has these bytes); the adapter re-queries.
    let st = o
        .append(&s, &session, 0, Bytes::copy_from_slice(&data[..F]), false)
        .await
        .expect("a 416 re-queries, it is not an error");
    assert_eq!(st, OffsetState::Offset(F as u64));
    let statuses: Vec<String> = g
        .server()
        .log()
        .filter(|r| r.path == "/uploadSession")
        .iter()
        .map(|r| format!("{} {:?}", r.method, r.outcome))
        .collect();
    assert!(statuses.iter().any(|s| s.contains("416")), "{statuses:?}");
    // An out-of-order fragment is a conflict (the core then asks where the session stands).
    let err = o
        .append(
            &s,
            &session,
            2 * F as u64,
            Bytes::copy_from_slice(&data[2 * F..3 * F]),
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    // The rest, in order.
    let st = o
        .append(
            &s,
            &session,
            F as u64,
            Bytes::copy_from_slice(&data[F..3 * F]),
            false,
        )
        .await
        .unwrap();
    assert_eq!(st, OffsetState::Offset(3 * F as u64));
    let st = o
        .append(
            &s,
            &session,
            3 * F as u64,
            Bytes::copy_from_slice(&data[3 * F..]),
            true,
        )
        .await
        .unwrap();
    let OffsetState::Finished(meta) = st else {
        panic!("the last fragment commits: {st:?}");
    };
    assert_eq!(meta.size, data.len() as u64);
    assert_eq!(sha(&g.object("me", "docs/lost.bin").unwrap()), sha(&data));
    assert_eq!(
        sha(&read(&Files::new(a.clone()), "docs/lost.bin").await),
        sha(&data)
    );
    // The committed session is gone; a probe finds the committed file.
    assert!(matches!(
        o.probe(&s, &session).await.unwrap(),
        OffsetState::Finished(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answer_on_the_last_fragment_is_finished_by_probe() {
    let g = fake();
    let a = adapter(&g);
    let data = pattern(2 * F + 17, 3);
    g.server().faults().add(
        Fault::drop_answer()
            .on(Match::method("PUT").path("/uploadSession"))
            .nth(3),
    );
    let files = Files::new(a.clone());
    let out = files
        .upload("last.bin", Body::from_bytes(Bytes::from(data.clone())))
        .part_size(FRAGMENT_ALIGN)
        .control(UploadControl::new())
        .await
        .expect("the upload completes although the last answer was lost");
    assert_eq!(out.meta.size, data.len() as u64);
    assert_eq!(sha(&g.object("me", "last.bin").unwrap()), sha(&data));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_cancelled_sessions_are_session_expired() {
    let g = fake();
    let a = adapter(&g);
    let o = offset(&a);
    let s = spec("exp.bin", 2 * F as u64);
    let session = o.begin(&s).await.unwrap();
    assert!(session.sensitive);
    assert!(session.expires_at.is_some());
    o.append(&s, &session, 0, Bytes::from(pattern(F, 2)), false)
        .await
        .unwrap();
    assert!(g.expire_session(&session.id));
    for err in [
        o.probe(&s, &session).await.unwrap_err(),
        o.append(&s, &session, F as u64, Bytes::from(pattern(F, 3)), true)
            .await
            .unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::SessionExpired, "{err}");
        assert!(!err.is_retryable(), "{err}");
        assert!(!err.to_string().contains("token="), "{err}");
    }
    // Expiry by the fake's clock too: a day without fragments.
    let session = o.begin(&s).await.unwrap();
    g.clock().advance(files_fakes::graph::SESSION_LIFETIME);
    let err = o.probe(&s, &session).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionExpired, "{err}");
    // Cancel: DELETE, then the session is gone; cancelling again succeeds.
    let session = o.begin(&s).await.unwrap();
    o.cancel(&s, &session).await.unwrap();
    assert_eq!(
        o.probe(&s, &session).await.unwrap_err().kind(),
        ErrorKind::SessionExpired
    );
    o.cancel(&s, &session).await.unwrap();
    assert!(g.open_sessions("me", "exp.bin").is_empty());
    assert!(g.object("me", "exp.bin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_in_a_new_client_sends_only_the_missing_bytes_without_authorization() {
    let g = fake();
    let data = Bytes::from(pattern(6 * F + 4321, 9));
    let total = data.len() as u64;
    let first = Files::new(adapter(&g));
    let control = UploadControl::new();
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let err = first
        .upload("big/resume.bin", Body::from_bytes(data.clone()))
        .part_size(FRAGMENT_ALIGN)
        .control(control.clone())
        .cancellation(cancel)
        .on_progress(move |p| {
            if p.loaded >= 2 * FRAGMENT_ALIGN {
                trigger.cancel();
            }
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    let token = control
        .token()
        .expect("a cancelled upload keeps its session");
    let json = token.to_json();
    drop(first);
    let landed: u64 = token.landed.parse().unwrap();
    assert!(landed >= 2 * FRAGMENT_ALIGN && landed < total, "{landed}");
    assert_eq!(g.session_received(&token.session.id), Some(landed));
    let before = upload_puts(&g).len();
    g.server().log().clear();

    // A new client (another process, as far as the SDK knows) resumes from the JSON token.
    let second = Files::new(adapter(&g));
    let control = UploadControl::from_token(ResumeToken::from_json(&json).unwrap());
    let out = second
        .upload("big/resume.bin", Body::from_bytes(data.clone()))
        .control(control)
        .await
        .expect("resume");
    assert!(out.resumed);
    assert_eq!(out.bytes_resumed, landed);
    assert_eq!(out.bytes_sent, total - landed);
    let puts = upload_puts(&g);
    let sent: u64 = puts.iter().map(|r| r.body_len).sum();
    assert_eq!(
        sent,
        total - landed,
        "only the missing bytes went over the wire"
    );
    assert!(
        puts.iter()
            .all(|r| r.received_range().unwrap().start >= landed)
    );
    assert!(before > 0);
    // Nothing sent to the upload URL carried Authorization; every API call did.
    for r in g.server().log().all() {
        let has_auth = r.header("authorization").is_some();
        if r.path == "/uploadSession" || r.path == "/download" {
            assert!(!has_auth, "{} {} carried Authorization", r.method, r.path);
        } else if r.path.starts_with("/v1.0/") {
            assert!(has_auth, "{} {} without Authorization", r.method, r.path);
        }
    }
    assert_eq!(sha(&g.object("me", "big/resume.bin").unwrap()), sha(&data));
    assert_eq!(sha(&read(&second, "big/resume.bin").await), sha(&data));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_on_the_upload_url_is_refused_by_graph() {
    // The fake models Graph's 401 for an Authorization header on the upload URL; the adapter
    // never sends one (checked above), and this shows the fake would notice.
    let g = fake();
    let a = adapter(&g);
    let s = spec("auth.bin", 10);
    let session = offset(&a).begin(&s).await.unwrap();
    let resp = reqwest::Client::new()
        .put(&session.id)
        .header("Authorization", format!("Bearer {TEST_TOKEN}"))
        .header("Content-Range", "bytes 0-9/10")
        .body(vec![1u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(g.session_received(&session.id), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_upload_hosts_in_a_token_are_refused_before_any_request() {
    let g = fake();
    let a = adapter(&g);
    let o = offset(&a);
    let s = spec("f.bin", 2 * F as u64);
    let real = o.begin(&s).await.unwrap();
    let tok = real.id.split("token=").nth(1).unwrap().to_string();
    let port = g.server().port();
    let before = g.server().log().len();
    for bad in [
        format!("http://evil.example:{port}/uploadSession?token={tok}"),
        format!("https://127.0.0.1:{port}/uploadSession?token={tok}"),
        format!(
            "http://127.0.0.1:{}/uploadSession?token={tok}",
            port.wrapping_add(1)
        ),
        format!("https://contoso.sharepoint.com/uploadSession?token={tok}"),
        format!("http://user@127.0.0.1:{port}/uploadSession?token={tok}"),
        "not a url".to_string(),
    ] {
        let mut doctored = real.clone();
        doctored.id = bad.clone();
        for err in [
            o.probe(&s, &doctored).await.unwrap_err(),
            o.append(&s, &doctored, 0, Bytes::from(pattern(F, 1)), false)
                .await
                .unwrap_err(),
            o.cancel(&s, &doctored).await.unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::TokenInvalid, "{bad}: {err}");
            assert!(!err.to_string().contains(&tok), "{err}");
        }
        assert!(a.check_session(&doctored).is_err());
    }
    assert_eq!(g.server().log().len(), before, "no request was sent");
    // A session bound to another key is refused too.
    let other = spec("other.bin", 2 * F as u64);
    assert_eq!(
        o.probe(&other, &real).await.unwrap_err().kind(),
        ErrorKind::TokenInvalid
    );
    // The session is redacted in Debug.
    assert!(!format!("{real:?}").contains(&tok));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_obtain_and_use_a_token_and_keep_the_secret() {
    let g = fake();
    g.create_drive("b!drive-1");
    let a = OneDriveAdapter::builder()
        .endpoint(g.endpoint())
        .client_credentials(TEST_TENANT, TEST_CLIENT_ID, TEST_CLIENT_SECRET)
        .token_endpoint(g.token_endpoint("{tenant}"))
        .drive_id("b!drive-1")
        .build()
        .unwrap();
    assert!(!format!("{a:?}").contains(TEST_CLIENT_SECRET), "{a:?}");
    let files = Files::new(a.clone());
    let data = pattern(5 * F + 3, 4);
    files
        .upload("cc/one.bin", Body::from_bytes(Bytes::from(data.clone())))
        .part_size(FRAGMENT_ALIGN)
        .control(UploadControl::new())
        .await
        .expect("upload with a client-credentials token");
    assert_eq!(
        sha(&g.object("b!drive-1", "cc/one.bin").unwrap()),
        sha(&data)
    );
    assert_eq!(sha(&read(&files, "cc/one.bin").await), sha(&data));
    let token_posts = g
        .server()
        .log()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"));
    assert_eq!(token_posts.len(), 1, "one token, cached");
    let issued: Vec<_> = g
        .server()
        .log()
        .filter(|r| r.path.starts_with("/v1.0/"))
        .into_iter()
        .filter_map(|r| r.header("authorization").map(str::to_string))
        .collect();
    assert!(!issued.is_empty() && issued.iter().all(|h| h.starts_with("Bearer eyJ0.")));

    // A wrong secret: unauthorized, and the secret is in no error or Debug.
    let bad = OneDriveAdapter::builder()
        .endpoint(g.endpoint())
        .client_credentials(TEST_TENANT, TEST_CLIENT_ID, "WRONG-SECRET-value")
        .token_endpoint(g.token_endpoint(TEST_TENANT))
        .drive_id("b!drive-1")
        .build()
        .unwrap();
    let err = Files::new(bad.clone())
        .head("cc/one.bin")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    let text = format!("{err} {err:?} {bad:?}");
    assert!(
        !text.contains("WRONG-SECRET") && !text.contains(TEST_CLIENT_SECRET),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_copy_monitor_rename_and_wrong_token() {
    let g = fake();
    g.set_page_size(2);
    let a = adapter(&g);
    let files = Files::new(a.clone());
    for (i, k) in ["l/a", "l/b", "l/c", "l/d/e", "l/d/f", "l/g"]
        .iter()
        .enumerate()
    {
        files
            .upload(*k, Body::from_bytes(Bytes::from(vec![i as u8; i + 1])))
            .await
            .unwrap();
    }
    let page = a
        .list(&ListRequest {
            prefix: "l/".into(),
            delimiter: Some("/".into()),
            ..ListRequest::default()
        })
        .await
        .unwrap();
    let keys: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["l/a", "l/b", "l/c", "l/g"]);
    assert_eq!(page.prefixes, ["l/d/"]);
    let next_links = g
        .server()
        .log()
        .filter(|r| r.query.contains("skiptoken"))
        .len();
    assert!(
        next_links >= 2,
        "paged through @odata.nextLink ({next_links})"
    );
    let all = a
        .list(&ListRequest {
            prefix: "l/".into(),
            ..ListRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(all.objects.len(), 6);

    // Copy through the monitor (inProgress, then completed), then rename over it.
    files.copy("l/a", "m/n/copy").await.unwrap();
    let polls = g.server().log().filter(|r| r.path == "/monitor").len();
    assert_eq!(polls, 2, "the monitor was polled until completed");
    assert_eq!(g.object("me", "m/n/copy").unwrap(), vec![0u8; 1]);
    files.rename("l/b", "m/n/copy").await.unwrap();
    assert_eq!(g.object("me", "m/n/copy").unwrap(), vec![1u8; 2]);
    assert!(g.object("me", "l/b").is_none());
    // Presigned GET: the download URL, readable without a token.
    let url = files
        .presign_get("m/n/copy", std::time::Duration::from_secs(600))
        .await
        .unwrap();
    let body = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    assert_eq!(body.to_vec(), vec![1u8; 2]);

    // A wrong token: unauthorized, never quoted.
    let wrong = OneDriveAdapter::builder()
        .endpoint(g.endpoint())
        .access_token("WRONG-TOKEN-xyz")
        .build()
        .unwrap();
    let err = Files::new(wrong).head("l/a").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(!format!("{err} {err:?}").contains("WRONG-TOKEN"));
}
