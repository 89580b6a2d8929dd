//! `files-azure` against Azurite (started by the test harness, one per test process; see
//! `files_testkit::azurite`): the whole conformance suite, each check in a fresh container,
//! with what an upload session leaves behind observed on the server (Get Block List asked of
//! Azurite directly); then wrong keys, SAS URLs, block-id recognition on resume, and secrets.
//!
//! Without Azurite these tests skip with a loud message, except in CI (`CI=true`).

use std::sync::Arc;
use std::time::Duration;

use files_azure::{AzureAdapter, block_id};
use files_core::{
    Adapter, Body, Bytes, ErrorKind, Files, Part, PartUpload, PresignMethod, ResumeToken,
    RetryPolicy, UploadControl, UploadSpec,
};
use files_testkit::azurite::{ACCOUNT_KEY, AzuriteServer, azurite_or_skip};
use files_testkit::util::{FnFixture, random_bytes, sha256_hex};

fn adapter(az: &AzuriteServer, container: &str) -> AzureAdapter {
    AzureAdapter::builder()
        .connection_string(az.connection_string())
        .container(container)
        .build()
        .expect("an Azure adapter for Azurite")
}

/// What Azurite still holds of the session a token names: our uncommitted blocks of its key.
fn leftovers(
    az: &'static AzuriteServer,
    container: String,
) -> impl Fn(&ResumeToken) -> Option<Vec<String>> + Send + Sync + 'static {
    move |token| {
        let ours = format!("fls1-{}-", token.session.id);
        let blocks = az
            .uncommitted_blocks(&container, &token.key)
            .unwrap_or_else(|e| panic!("Get Block List on Azurite: {e}"));
        Some(
            blocks
                .into_iter()
                .filter(|(id, _)| id.starts_with(&ours))
                .map(|(id, size)| format!("uncommitted block {id} ({size} bytes)"))
                .collect(),
        )
    }
}

fn fixture() -> Option<FnFixture> {
    let az = azurite_or_skip()?;
    let container = az.new_container("conformance").expect("create a container");
    let c = container.clone();
    Some(
        FnFixture::new("azure (azurite)", move || Files::new(adapter(az, &c)))
            .with_leftovers(leftovers(az, container)),
    )
}

files_testkit::conformance_tests!(match fixture() {
    Some(f) => f,
    None => return,
});

/// The whole suite again with a container SAS instead of the account key: every request,
/// the official client's (blocks, block lists, properties, copy, delete) and the hand-built
/// ones (listing, Put Blob, ranged reads), is authorized by the SAS alone.
mod with_container_sas {
    use super::*;

    fn fixture() -> Option<FnFixture> {
        let az = azurite_or_skip()?;
        let container = az
            .new_container("conformance-sas")
            .expect("create a container");
        let sas = adapter(az, &container)
            .container_sas("racwdl", Duration::from_secs(3600))
            .expect("a container SAS");
        let c = container.clone();
        Some(
            FnFixture::new("azure (azurite, container SAS)", move || {
                let a = AzureAdapter::builder()
                    .endpoint(az.endpoint())
                    .container(&c)
                    .sas_token(&sas)
                    .build()
                    .expect("a SAS-authorized adapter");
                assert_eq!(a.auth_kind(), "sas");
                Files::new(a)
            })
            .with_leftovers(leftovers(az, container)),
        )
    }

    files_testkit::conformance_tests!(match fixture() {
        Some(f) => f,
        None => return,
    });
}

fn counting_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 5,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        deadline: Duration::from_secs(60),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_is_unauthorized_and_not_retried() {
    let Some(az) = azurite_or_skip() else { return };
    let container = az.new_container("wrong-key").unwrap();
    // A valid base64 key that is not the account's.
    let wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==";
    let a = AzureAdapter::builder()
        .endpoint(az.endpoint())
        .container(&container)
        .access_key(wrong)
        .build()
        .unwrap();
    let counter = Arc::new(files_testkit::FaultyAdapter::counting(Arc::new(a.clone())));
    let files = Files::from_arc(counter.clone()).with_retry(counting_retry());
    let e = files
        .upload("k", Body::from_bytes(Bytes::from_static(b"data")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert!(!e.is_retryable());
    assert_eq!(
        counter.counts().provider_calls(),
        1,
        "retried: {:?}",
        counter.counts()
    );
    let e = a.head("k").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    let text = format!("{e} {e:?} {a:?}");
    assert!(
        !text.contains(wrong) && !text.contains(ACCOUNT_KEY),
        "{text}"
    );
    assert_eq!(az.get_blob(&container, "k").unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sas_urls_round_trip_with_a_plain_http_client() {
    let Some(az) = azurite_or_skip() else { return };
    let container = az.new_container("sas").unwrap();
    let a = adapter(az, &container);
    let body = random_bytes(7, 300_000);
    let http = reqwest::Client::new();
    let put_url = a
        .presign(
            "dir/up load.bin",
            PresignMethod::Put,
            Duration::from_secs(300),
        )
        .await
        .unwrap();
    assert!(!put_url.contains(ACCOUNT_KEY));
    let r = http
        .put(&put_url)
        .header("x-ms-blob-type", "BlockBlob")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
    let stored = az.get_blob(&container, "dir/up load.bin").unwrap().unwrap();
    assert_eq!(sha256_hex(&stored), sha256_hex(&body));
    let get_url = a
        .presign(
            "dir/up load.bin",
            PresignMethod::Get,
            Duration::from_secs(300),
        )
        .await
        .unwrap();
    let got = http.get(&get_url).send().await.unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(sha256_hex(&got.bytes().await.unwrap()), sha256_hex(&body));
    // A read SAS does not allow writing, and a tampered signature is refused.
    let r = http
        .put(&get_url)
        .header("x-ms-blob-type", "BlockBlob")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let tampered = get_url.replace("sp=r", "sp=rw");
    assert_eq!(
        http.get(&tampered).send().await.unwrap().status().as_u16(),
        403
    );
    // A SAS-authorized adapter reads the same bytes.
    let sas = get_url.split_once('?').unwrap().1.to_string();
    let reader = AzureAdapter::builder()
        .endpoint(az.endpoint())
        .container(&container)
        .sas_token(&sas)
        .build()
        .unwrap();
    let mut dl = reader.get("dir/up load.bin", None).await.unwrap();
    let mut data = Vec::new();
    use futures::StreamExt;
    while let Some(chunk) = dl.stream.next().await {
        data.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(sha256_hex(&data), sha256_hex(&body));
    // Get Blob Properties goes through the official client, the SAS in its container URL.
    let meta = reader.head("dir/up load.bin").await.unwrap();
    assert_eq!(meta.size, body.len() as u64);
    assert!(!format!("{reader:?}").contains("sig="));
}

/// Resume recognises our blocks by id, ignores foreign blocks of the same blob, and sends only
/// the missing parts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_recognises_our_blocks_among_foreign_ones() {
    let Some(az) = azurite_or_skip() else { return };
    let container = az.new_container("block-ids").unwrap();
    let a = adapter(az, &container);
    let key = "big/file.bin";
    let ps: u64 = 64 * 1024;
    let body = Bytes::from(random_bytes(11, (ps * 5 + 123) as usize));
    let spec = UploadSpec {
        key: key.into(),
        total: body.len() as u64,
        part_size: ps,
        options: Default::default(),
    };
    // An upload cancelled after two parts landed leaves a token (as a crash would).
    let control = UploadControl::new();
    let cancel = files_core::CancellationToken::new();
    let trigger = cancel.clone();
    let e = Files::new(a.clone())
        .upload(key, Body::from_bytes(body.clone()))
        .part_size(ps)
        .concurrency(1)
        .control(control.clone())
        .cancellation(cancel)
        .on_progress(move |p| {
            if p.loaded >= 2 * ps {
                trigger.cancel();
            }
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    let token = control.token().expect("a token after cancel");
    let session = token.session.clone();
    let in_token = token.landed_parts();
    assert!(in_token.len() >= 2 && in_token.len() < 6, "{in_token:?}");
    // A foreign writer's block (same id length, as the service demands) and a block of another
    // session of ours.
    use base64::Engine as _;
    let foreign = base64::engine::general_purpose::STANDARD.encode("foreign-writer-block-id-027");
    let foreign = foreign.as_str();
    assert_eq!(foreign.len(), block_id(&session.id, 1).len());
    let put = az
        .request(
            "PUT",
            &format!("/{container}/big/file.bin"),
            &[("comp", "block"), ("blockid", foreign)],
            &[],
            b"foreign",
        )
        .unwrap();
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
    let other = block_id("ffffffffffffffff", 2);
    let put = az
        .request(
            "PUT",
            &format!("/{container}/big/file.bin"),
            &[("comp", "block"), ("blockid", &other)],
            &[],
            b"other session",
        )
        .unwrap();
    assert_eq!(put.status, 201);
    let landed = a.probe(&spec, &session).await.unwrap();
    let numbers: Vec<u32> = landed.iter().map(|p| p.number).collect();
    assert_eq!(
        numbers, in_token,
        "the probe maps our block ids back to part numbers"
    );
    assert!(landed.iter().all(|p| p.size == ps && p.crc32c.is_none()));

    // Resume in a new client: only the missing parts are sent.
    let counter = Arc::new(files_testkit::FaultyAdapter::counting(Arc::new(adapter(
        az, &container,
    ))));
    let files = Files::from_arc(counter.clone());
    files
        .upload(key, Body::from_bytes(body.clone()))
        .control(UploadControl::from_token(token))
        .await
        .unwrap();
    let stored = az.get_blob(&container, key).unwrap().unwrap();
    assert_eq!(sha256_hex(&stored), sha256_hex(&body));
    let c = counter.counts();
    assert_eq!(
        c.part_requests,
        6 - in_token.len() as u64,
        "only the missing parts were sent: {c:?}"
    );
    // The commit discarded every uncommitted block, foreign ones included (a service rule).
    assert!(az.uncommitted_blocks(&container, key).unwrap().is_empty());
    assert_eq!(
        a.probe(&spec, &session).await.unwrap_err().kind(),
        ErrorKind::SessionExpired
    );
}

/// Abort over an existing blob keeps the blob intact and ends the session; the blocks stay
/// (reported truthfully) until the service drops them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_over_an_existing_blob_keeps_it() {
    let Some(az) = azurite_or_skip() else { return };
    let container = az.new_container("abort-existing").unwrap();
    let a = adapter(az, &container);
    let files = Files::new(a.clone());
    files
        .upload("k", Body::from_bytes(Bytes::from_static(b"original")))
        .await
        .unwrap();
    let spec = UploadSpec {
        key: "k".into(),
        total: 10,
        part_size: 5,
        options: Default::default(),
    };
    let session = a.begin(&spec).await.unwrap();
    a.put_part(
        &spec,
        &session,
        Part {
            number: 1,
            offset: 0,
            crc32c: 0,
            data: Bytes::from_static(b"01234"),
        },
    )
    .await
    .unwrap();
    a.abort(&spec, &session).await.unwrap();
    assert_eq!(az.get_blob(&container, "k").unwrap().unwrap(), b"original");
    assert_eq!(
        a.probe(&spec, &session).await.unwrap_err().kind(),
        ErrorKind::SessionExpired
    );
    let left = az.uncommitted_blocks(&container, "k").unwrap();
    assert_eq!(
        left.len(),
        2,
        "the tombstoned marker and the part stay: {left:?}"
    );
    a.abort(&spec, &session).await.unwrap();
}

/// The modification time a block upload returns is the service's (Put Block List's
/// `Last-Modified`), not this machine's clock: exactly what a later HEAD reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_upload_returns_the_stores_last_modified() {
    let Some(az) = azurite_or_skip() else { return };
    let container = az.new_container("last-modified").unwrap();
    let files = Files::new(adapter(az, &container));
    let ps: u64 = 64 * 1024;
    let body = Bytes::from(random_bytes(12, (ps * 3 + 5) as usize));
    let outcome = files
        .upload("lm/file.bin", Body::from_bytes(body.clone()))
        .part_size(ps)
        .await
        .unwrap();
    assert!(outcome.parts_sent > 1, "a block upload: {outcome:?}");
    let head = files.head("lm/file.bin").await.unwrap();
    assert!(head.last_modified.is_some(), "{head:?}");
    assert_eq!(
        outcome.meta.last_modified, head.last_modified,
        "the upload's last_modified is the store's"
    );
    assert_eq!(outcome.meta.etag, head.etag);
}
