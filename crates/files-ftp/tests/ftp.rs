//! FTP-specific behaviour against real daemons (pyftpdlib and vsftpd, plain and FTPS, started by
//! the test harness): authentication errors, secrets, key confinement, the size re-check that
//! keeps a half-landed append from duplicating bytes, the connection pool, and the conformance
//! suite again under injected faults (partial appends included).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use files_core::{
    Adapter, Body, Bytes, ErrorKind, Files, OffsetState, RetryPolicy, Session, UploadControl,
    UploadFamily, UploadSpec,
};
use files_ftp::{FtpAdapter, Security};
use files_testkit::ftpd::{self, FTP_PASSWORD, FtpServer};
use files_testkit::util::{FnFixture, assert_object_eq, random_bytes, sha256_hex};
use files_testkit::{FaultConfig, FaultyAdapter, require_server};

fn builder(server: &FtpServer, root: &str) -> files_ftp::FtpBuilder {
    let mut b = FtpAdapter::builder(server.host())
        .port(server.port())
        .user(server.user())
        .password(server.password())
        .root(root)
        // vsftpd's FTPS now and then stops answering under parallel load (docs/ftp.md): a
        // short I/O timeout turns that into one retried request.
        .io_timeout(std::time::Duration::from_secs(10));
    if let Some(ca) = server.ca_file() {
        b = b.security(Security::ExplicitTls).ca_file(ca);
    }
    b
}

fn adapter(server: &FtpServer, root: &str) -> FtpAdapter {
    builder(server, root).build().expect("an FTP adapter")
}

fn servers() -> Vec<&'static FtpServer> {
    let mut out = Vec::new();
    out.extend(ftpd::pyftpdlib_or_skip());
    out.extend(ftpd::pyftpdlib_tls_or_skip());
    out.extend(ftpd::vsftpd_or_skip());
    out.extend(ftpd::vsftpd_tls_or_skip());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_unauthorized_and_not_retried() {
    for server in servers() {
        let root = server.new_root("badpw");
        let bad = builder(server, &root)
            .password("definitely-wrong-pw-77")
            .build()
            .unwrap();
        let counter = Arc::new(FaultyAdapter::counting(Arc::new(bad)));
        let files = Files::from_arc(counter.clone()).with_retry(RetryPolicy {
            max_retries: 5,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            deadline: Duration::from_secs(60),
        });
        let err = files.head("x").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{server:?}: {err}");
        assert!(!err.is_retryable(), "{err}");
        assert_eq!(
            counter.counts().provider_calls(),
            1,
            "an authentication failure must not be retried"
        );
        let text = format!("{err} {err:?}");
        assert!(!text.contains("definitely-wrong-pw-77"), "{text}");
        let err = files
            .upload("k", Body::from("data"))
            .await
            .expect_err("upload with a wrong password");
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_never_shows() {
    let server = require_server!(ftpd::pyftpdlib_or_skip());
    let root = server.new_root("secret");
    let a = adapter(server, &root);
    let files = Files::new(a.clone());
    let mut texts = vec![format!("{a:?}"), a.target(), format!("{files:?}")];
    files.upload("k", Body::from("hello")).await.unwrap();
    for e in [
        files.head("missing").await.unwrap_err(),
        files.download("missing").await.unwrap_err(),
        files.upload("a\r\nb", Body::from("x")).await.unwrap_err(),
    ] {
        texts.push(format!("{e} {e:?}"));
    }
    // A token of an interrupted upload carries no credential either.
    let control = UploadControl::new();
    let cancel = files_core::CancellationToken::new();
    let c2 = cancel.clone();
    let body = Bytes::from(random_bytes(1, 300_000));
    let _ = files
        .upload("resumable", Body::from_bytes(body))
        .part_size(64 * 1024)
        .control(control.clone())
        .cancellation(cancel)
        .on_progress(move |p| {
            if p.loaded > 0 {
                c2.cancel();
            }
        })
        .await;
    let token = control.token().expect("a token");
    texts.push(token.to_json());
    texts.push(format!("{token:?}"));
    for t in texts {
        assert!(!t.contains(FTP_PASSWORD), "a password leaked: {t}");
    }
    files.abort_upload(&token).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injection_and_escape_keys_are_refused_before_any_command() {
    let server = require_server!(ftpd::vsftpd_or_skip());
    let root = server.new_root("inject");
    let counter = Arc::new(FaultyAdapter::counting(Arc::new(adapter(server, &root))));
    let files = Files::from_arc(counter.clone());
    for bad in [
        "a\r\nDELE victim",
        "a\nRMD /",
        "a\rb",
        "../escape",
        "a/../../b",
        "/etc/passwd",
        "..",
        "x\0y",
        "dir/",
        "part.fls-part",
    ] {
        for result in [
            files.head(bad).await.map(|_| ()),
            files.delete(bad).await,
            files.upload(bad, Body::from("x")).await.map(|_| ()),
            files.rename("a", bad).await,
        ] {
            let e = result.expect_err(bad);
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}: {e}");
        }
    }
    assert_eq!(counter.counts().provider_calls(), 0);
    // A root that tries to climb is refused when the adapter is built.
    let e = builder(server, "../..").build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    // URLs too.
    for url in [
        format!("ftp://127.0.0.1:{}/a%0D%0ADELE%20x", server.port()),
        format!("ftp://127.0.0.1:{}/a/..%2F..%2Fx", server.port()),
    ] {
        let e = files_core::registry::open_object(&url)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{url}: {e}");
    }
}

/// A chunk whose first attempt half-landed is refused, not appended twice: the part file is
/// grown behind the adapter's back (as a dropped APPE would), and the next append at the old
/// offset must fail with a conflict; a probe then tells the real size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_landed_append_is_never_duplicated() {
    for server in servers() {
        let root = server.new_root("halfappend");
        let a = adapter(server, &root);
        let UploadFamily::Offset(o) = a.upload_family() else {
            panic!("offset family")
        };
        let body = random_bytes(9, 3000);
        let spec = UploadSpec {
            key: "d/obj".into(),
            total: body.len() as u64,
            part_size: 1000,
            options: Default::default(),
        };
        let s = o.begin(&spec).await.unwrap();
        assert_eq!(s, Session::default(), "the session carries nothing");
        let st = o
            .append(&spec, &s, 0, Bytes::copy_from_slice(&body[..1000]), false)
            .await
            .unwrap();
        assert_eq!(st, OffsetState::Offset(1000));
        // The next chunk half-lands: 400 of its bytes reach the part file.
        let part = server.dir().join(&root).join("d/obj.fls-part");
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&part)
                .unwrap();
            f.write_all(&body[1000..1400]).unwrap();
        }
        // Retrying the chunk at its old offset is refused...
        let e = o
            .append(
                &spec,
                &s,
                1000,
                Bytes::copy_from_slice(&body[1000..2000]),
                false,
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
        assert_eq!(
            std::fs::metadata(&part).unwrap().len(),
            1400,
            "nothing appended"
        );
        // ...the probe tells the truth, and the upload continues from there.
        assert_eq!(o.probe(&spec, &s).await.unwrap(), OffsetState::Offset(1400));
        o.append(&spec, &s, 1400, Bytes::copy_from_slice(&body[1400..]), true)
            .await
            .unwrap();
        let meta = o.finish(&spec, &s).await.unwrap();
        assert_eq!(meta.size, 3000);
        assert!(!part.exists());
        let stored = std::fs::read(server.dir().join(&root).join("d/obj")).unwrap();
        assert_eq!(sha256_hex(&stored), sha256_hex(&body));
        // A token naming a session id was not made here.
        let foreign = Session::new("/etc/passwd");
        assert_eq!(
            a.check_session(&foreign).unwrap_err().kind(),
            ErrorKind::TokenInvalid
        );
        // Finished: probe says so; cancel of a finished upload is fine.
        assert!(matches!(
            o.probe(&spec, &s).await.unwrap(),
            OffsetState::Finished(_)
        ));
        o.cancel(&spec, &s).await.unwrap();
        assert!(server.dir().join(&root).join("d/obj").exists());
    }
}

/// FTPS: a round trip, a resume from a token in a new client, and the server's bytes on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftps_round_trip_and_resume() {
    for server in [ftpd::pyftpdlib_tls_or_skip(), ftpd::vsftpd_tls_or_skip()]
        .into_iter()
        .flatten()
    {
        let root = server.new_root("ftps");
        let files = Files::new(adapter(server, &root));
        let body = Bytes::from(random_bytes(4, 1_000_003));
        let control = UploadControl::new();
        let cancel = files_core::CancellationToken::new();
        let c2 = cancel.clone();
        let r = files
            .upload("big.bin", Body::from_bytes(body.clone()))
            .part_size(128 * 1024)
            .control(control.clone())
            .cancellation(cancel)
            .on_progress(move |p| {
                if p.loaded >= 300_000 {
                    c2.cancel();
                }
            })
            .await;
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Cancelled);
        let token = control.token().expect("a token");
        let part = server.dir().join(&root).join("big.bin.fls-part");
        let landed = std::fs::metadata(&part).unwrap().len();
        assert!(landed >= 300_000 && landed < body.len() as u64, "{landed}");

        // A new client, as in a new process.
        let files = Files::new(adapter(server, &root));
        let out = files
            .upload("big.bin", Body::from_bytes(body.clone()))
            .control(UploadControl::from_token(token))
            .await
            .unwrap();
        assert!(out.resumed);
        assert_eq!(out.bytes_resumed, landed);
        assert_eq!(out.bytes_sent + out.bytes_resumed, body.len() as u64);
        assert!(!part.exists());
        let stored = std::fs::read(server.dir().join(&root).join("big.bin")).unwrap();
        assert_eq!(sha256_hex(&stored), sha256_hex(&body));
        assert_object_eq(&files, "big.bin", &body).await;
        let dl = files.download("big.bin").range(999_000..).await.unwrap();
        assert_eq!(&dl.bytes().await.unwrap()[..], &body[999_000..]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_refused_clearly() {
    let server = require_server!(ftpd::pyftpdlib_tls_or_skip());
    let a = FtpAdapter::builder(server.host())
        .port(server.port())
        .user(server.user())
        .password(server.password())
        .security(Security::ExplicitTls)
        .build();
    let a = match a {
        Ok(a) => a,
        // No system roots in this environment: the builder already says so.
        Err(e) => return assert_eq!(e.kind(), ErrorKind::InvalidInput),
    };
    let e = Files::new(a).head("x").await.unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    assert!(e.to_string().contains("certificate"), "{e}");
}

/// More operations than connections, at once: they share the pool and all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_operations_share_a_small_pool() {
    for server in servers() {
        let root = server.new_root("pool");
        let files = Files::new(builder(server, &root).max_connections(2).build().unwrap());
        let tasks: Vec<_> = (0..8u64)
            .map(|i| {
                let files = files.clone();
                tokio::spawn(async move {
                    let data = random_bytes(i, 10_000 + i as usize);
                    let key = format!("p/{i}");
                    files.upload(&key, Body::from(data.clone())).await.unwrap();
                    let got = files.download(&key).await.unwrap().bytes().await.unwrap();
                    assert_eq!(sha256_hex(&got), sha256_hex(&data));
                    // A range that stops before the end drops its connection; the pool
                    // replaces it.
                    let part = files
                        .download(&key)
                        .range(10..20)
                        .await
                        .unwrap()
                        .bytes()
                        .await
                        .unwrap();
                    assert_eq!(&part[..], &data[10..20]);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let listed = files.list_all("p/").collect_keys().await;
        assert_eq!(listed.len(), 8);
    }
}

trait CollectKeys {
    async fn collect_keys(self) -> Vec<String>;
}

impl CollectKeys
    for futures::stream::BoxStream<'static, files_core::Result<files_core::ObjectMeta>>
{
    async fn collect_keys(self) -> Vec<String> {
        use futures::TryStreamExt;
        self.map_ok(|o| o.key).try_collect().await.unwrap()
    }
}

/// Directory entries the walk must cope with: a key that starts with a dot (vsftpd hides dot
/// files unless `force_dot_files`), an empty directory (not a common prefix), and a directory
/// left by a delete is removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_and_directories() {
    for server in servers() {
        let root = server.new_root("dirs");
        let files = Files::new(adapter(server, &root));
        files.upload(".hidden", Body::from("h")).await.unwrap();
        files.upload("a/b/c", Body::from("c")).await.unwrap();
        std::fs::create_dir_all(server.dir().join(&root).join("empty/deeper")).unwrap();
        if server.daemon() == ftpd::FtpDaemon::Vsftpd {
            // Created by root here: give it to the FTP user like the rest of the tree.
            let _ = std::process::Command::new("chown")
                .args(["-R", server.user()])
                .arg(server.dir().join(&root))
                .status();
        }
        let page = files
            .list(&files_core::ListRequest {
                delimiter: Some("/".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let objects: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(objects, [".hidden"], "{server:?}");
        assert_eq!(page.prefixes, ["a/"], "an empty directory is no prefix");
        files.delete("a/b/c").await.unwrap();
        assert!(
            !server.dir().join(&root).join("a").exists(),
            "emptied directories are removed"
        );
        assert!(files.list_all("").collect_keys().await == [".hidden"]);
    }
}

mod under_faults {
    use super::*;

    fn fixture(server: Option<&'static FtpServer>, name: &str) -> Option<FnFixture> {
        let server = server?;
        let root = server.new_root("faults");
        let r = root.clone();
        let seed = AtomicU64::new(7000);
        Some(
            FnFixture::new(name, move || {
                let config = FaultConfig {
                    stall: 0.0,
                    ..FaultConfig::mixed(seed.fetch_add(1, Ordering::SeqCst), 0.2)
                };
                Files::from_arc(Arc::new(FaultyAdapter::new(
                    Arc::new(adapter(server, &r)),
                    config,
                )))
                .with_retry(RetryPolicy {
                    max_retries: 10,
                    initial_backoff: Duration::from_millis(1),
                    max_backoff: Duration::from_millis(20),
                    deadline: Duration::from_secs(120),
                })
            })
            .with_leftovers(move |_| Some(server.part_files(&root))),
        )
    }

    mod pyftpdlib {
        use super::*;
        files_testkit::conformance_tests!(match fixture(
            ftpd::pyftpdlib_or_skip(),
            "ftp (pyftpdlib) under faults"
        ) {
            Some(f) => f,
            None => return,
        });
    }

    mod vsftpd {
        use super::*;
        files_testkit::conformance_tests!(match fixture(
            ftpd::vsftpd_or_skip(),
            "ftp (vsftpd) under faults"
        ) {
            Some(f) => f,
            None => return,
        });
    }
}

/// A minimal FTP server that logs anyone in and then never answers `SIZE`: the shape of the
/// vsftpd FTPS stall (a control connection that stops answering). Counts the connections it
/// accepted and the ones the client closed.
async fn silent_after_login() -> (u16, Arc<AtomicU64>, Arc<AtomicU64>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (accepted, closed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (a, c) = (accepted.clone(), closed.clone());
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            a.fetch_add(1, Ordering::SeqCst);
            let c = c.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 ready\r\n").await.unwrap();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "USER" => b"331 password please\r\n",
                        "PASS" => b"230 logged in\r\n",
                        "PWD" => b"257 \"/\" is the current directory\r\n",
                        "FEAT" => b"211-Features\r\n SIZE\r\n EPSV\r\n211 End\r\n",
                        "TYPE" | "OPTS" => b"200 ok\r\n",
                        "SIZE" => continue, // the stall: no answer, ever
                        _ => b"502 not implemented\r\n",
                    };
                    if w.write_all(reply).await.is_err() {
                        break;
                    }
                }
                c.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    (port, accepted, closed)
}

#[tokio::test]
async fn a_server_that_stops_answering_costs_a_timeout_not_a_hang() {
    let (port, accepted, closed) = silent_after_login().await;
    let adapter = FtpAdapter::builder("127.0.0.1")
        .port(port)
        .user("u")
        .password("p")
        .io_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    for round in 1..=2u64 {
        let err = adapter
            .head("a/b.bin")
            .await
            .expect_err("SIZE is never answered");
        assert_eq!(err.kind(), ErrorKind::Timeout, "round {round}: {err}");
        assert!(err.is_retryable(), "a stall is transient: {err}");
        // The stalled connection was dropped (a late reply must never meet the next
        // operation), so each round needs a new one.
        assert_eq!(accepted.load(Ordering::SeqCst), round);
        for _ in 0..200 {
            if closed.load(Ordering::SeqCst) == round {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            closed.load(Ordering::SeqCst),
            round,
            "the stalled connection is closed"
        );
    }
}
