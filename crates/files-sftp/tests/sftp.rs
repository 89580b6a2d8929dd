//! SFTP-specific behaviour against Debian's OpenSSH `sshd` (started by the harness, see
//! `files_testkit::sshd`): host-key checking (unknown and changed keys refused, the insecure
//! opt-out), authentication (password, key file, wrong password refused and not retried),
//! confinement of keys, secrets kept out of `Debug` and errors, the append-offset check that
//! keeps a half-landed append from duplicating bytes, and concurrent use of one connection.
//!
//! What landed is checked on the server's disk (the tests run beside `sshd`), byte for byte.

use std::path::Path;
use std::sync::Arc;

use files_core::{
    Body, Bytes, CancellationToken, ErrorKind, Files, OffsetState, OffsetUpload, PutOptions,
    UploadControl, UploadSpec,
};
use files_sftp::SftpAdapter;
use files_testkit::FaultyAdapter;
use files_testkit::require_server;
use files_testkit::sshd::{SFTP_PASSWORD, SFTP_USER, SshServer, sshd_or_skip};
use files_testkit::util::{random_bytes, sha256_hex};
use russh::keys::{HashAlg, PublicKey};

fn builder(sshd: &SshServer, root: &str) -> files_sftp::SftpBuilder {
    SftpAdapter::builder()
        .host(sshd.host())
        .port(sshd.port())
        .user(SFTP_USER)
        .root(root)
}

fn with_password(sshd: &SshServer, root: &str) -> SftpAdapter {
    builder(sshd, root)
        .password(SFTP_PASSWORD)
        .known_hosts(sshd.known_hosts_path())
        .build()
        .unwrap()
}

fn fingerprint(public_key_line: &str) -> String {
    PublicKey::from_openssh(public_key_line.trim())
        .unwrap()
        .fingerprint(HashAlg::Sha256)
        .to_string()
}

/// Asserts that `text` holds none of the test secrets.
#[track_caller]
fn assert_no_secret(what: &str, text: &str) {
    assert!(
        !text.contains(SFTP_PASSWORD),
        "{what} holds the password: {text}"
    );
}

async fn roundtrip(files: &Files, key: &str, data: &[u8]) {
    files
        .upload(key, Body::from_bytes(Bytes::copy_from_slice(data)))
        .await
        .unwrap();
    let back = files
        .download(key)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha256_hex(&back), sha256_hex(data));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_host_key_is_refused_with_host_and_fingerprint() {
    let sshd = require_server!(sshd_or_skip());
    let root = sshd.new_root("unknown-host").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("known_hosts");
    std::fs::write(&empty, "").unwrap();
    for known_hosts in [empty.clone(), dir.path().join("missing")] {
        let a = builder(sshd, &root)
            .password(SFTP_PASSWORD)
            .known_hosts(&known_hosts)
            .build()
            .unwrap();
        let e = Files::new(a.clone())
            .upload("k", Body::from("x"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
        assert!(!e.is_retryable(), "{e}");
        let text = e.to_string();
        assert!(
            text.contains(&format!("[127.0.0.1]:{}", sshd.port())),
            "{text}"
        );
        assert!(
            text.contains(&fingerprint(sshd.host_public_key())),
            "{text}"
        );
        assert!(text.contains("not in the known_hosts"), "{text}");
        assert_no_secret("the error", &text);
        assert_no_secret("the error's Debug", &format!("{e:?}"));
    }
    // Nothing was written: the password was never sent to the unknown server.
    assert!(!Path::new(&root).join("k").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_host_key_is_refused() {
    let sshd = require_server!(sshd_or_skip());
    let root = sshd.new_root("changed-host").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    let other = sshd.other_public_key("changed_host_key").unwrap();
    sshd.write_known_hosts(&kh, &other).unwrap();
    let a = builder(sshd, &root)
        .password(SFTP_PASSWORD)
        .known_hosts(&kh)
        .build()
        .unwrap();
    let e = a.connect().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    let text = e.to_string();
    assert!(text.contains("CHANGED"), "{text}");
    assert!(text.contains("line 1"), "{text}");
    assert!(
        text.contains(&fingerprint(sshd.host_public_key())),
        "{text}"
    );
    assert!(!text.contains(&fingerprint(&other)) || text.contains("differs"));
    assert_no_secret("the error", &text);
    // The same file with the right key works.
    sshd.write_known_hosts(&kh, sshd.host_public_key()).unwrap();
    let a = builder(sshd, &root)
        .password(SFTP_PASSWORD)
        .known_hosts(&kh)
        .build()
        .unwrap();
    a.connect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_insecure_opt_out_accepts_any_host_key() {
    let sshd = require_server!(sshd_or_skip());
    let root = sshd.new_root("insecure").unwrap();
    let a = builder(sshd, &root)
        .password(SFTP_PASSWORD)
        .known_hosts("/nonexistent/known_hosts")
        .insecure_accept_any_host_key()
        .build()
        .unwrap();
    assert!(!a.checks_host_keys());
    let files = Files::new(a);
    let data = random_bytes(1, 70_000);
    roundtrip(&files, "in/secure.bin", &data).await;
    assert_eq!(
        std::fs::read(format!("{root}/in/secure.bin")).unwrap(),
        data
    );
    // The same through a URL.
    let url = format!(
        "sftp://{SFTP_USER}:{SFTP_PASSWORD}@127.0.0.1:{}{root}?insecure_host_key=true&known_hosts=/nonexistent",
        sshd.port()
    );
    files_sftp::register();
    let files = Files::from_url(&url).unwrap();
    assert_no_secret(
        "Debug of the URL's adapter",
        &format!("{:?}", files.adapter()),
    );
    let back = files
        .download("in/secure.bin")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&back[..], &data[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_unauthorized_and_not_retried() {
    let sshd = require_server!(sshd_or_skip());
    let root = sshd.new_root("wrong-pw").unwrap();
    let wrong = "not-the-password-Zz9";
    let a = builder(sshd, &root)
        .password(wrong)
        .known_hosts(sshd.known_hosts_path())
        .build()
        .unwrap();
    let counting = Arc::new(FaultyAdapter::counting(Arc::new(a.clone())));
    let files = Files::from_arc(counting.clone());
    let e = files
        .upload("k.txt", Body::from("hello"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert!(!e.is_retryable());
    assert_eq!(
        counting.counts().provider_calls(),
        1,
        "the refused login was retried: {:?}",
        counting.counts()
    );
    let text = format!("{e} {e:?} {a:?}");
    assert!(!text.contains(wrong), "{text}");
    assert!(
        text.contains(SFTP_USER) && text.contains("password"),
        "{text}"
    );
    // Checking existence does not turn the refusal into "absent".
    let e = files.exists("k.txt").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(!Path::new(&root).join("k.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_key_file_logs_in() {
    let sshd = require_server!(sshd_or_skip());
    let root = sshd.new_root("key-auth").unwrap();
    let a = builder(sshd, &root)
        .private_key_file(sshd.client_key_path())
        .use_agent(false)
        .known_hosts(sshd.known_hosts_path())
        .build()
        .unwrap();
    let files = Files::new(a);
    let data = random_bytes(2, 300_001);
    roundtrip(&files, "key/auth.bin", &data).await;
    assert_eq!(std::fs::read(format!("{root}/key/auth.bin")).unwrap(), data);
    // A key that is not authorized is refused.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other_key");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    assert!(st.success());
    let a = builder(sshd, &root)
        .private_key_file(&other)
        .use_agent(false)
        .known_hosts(sshd.known_hosts_path())
        .build()
        .unwrap();
    let e = a.connect().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_cannot_escape_the_root() {
    let sshd = require_server!(sshd_or_skip());
    let parent = sshd.new_root("escape").unwrap();
    let root = format!("{parent}/inner");
    std::fs::create_dir_all(&root).unwrap();
    std::process::Command::new("chown")
        .arg(format!("{SFTP_USER}:{SFTP_USER}"))
        .arg(&root)
        .status()
        .unwrap();
    std::fs::write(format!("{parent}/secret.txt"), b"outside").unwrap();
    let a = with_password(sshd, &root);
    let files = Files::new(a.clone());
    for bad in [
        "../secret.txt",
        "a/../../secret.txt",
        "/etc/passwd",
        "a\0b",
        "dir/",
        "x.fls-part",
        "d/.fls-tmp-1",
    ] {
        let e = files.download(bad).send().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}: {e}");
        let e = files.upload(bad, Body::from("x")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}: {e}");
        let e = files.delete(bad).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}: {e}");
    }
    assert_eq!(
        std::fs::read(format!("{parent}/secret.txt")).unwrap(),
        b"outside"
    );
    // Refused before any request: an adapter whose server does not exist says the same.
    let nowhere = SftpAdapter::builder()
        .host("127.0.0.1")
        .port(1)
        .user("u")
        .password("pw")
        .known_hosts("/nonexistent")
        .root("/srv")
        .build()
        .unwrap();
    let e = Files::new(nowhere).head("../x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

/// Starts an upload with a checkpoint-less control, cancels it once `after` bytes landed, and
/// returns the control (holding the token).
async fn cancelled(files: &Files, key: &str, body: &Bytes, part: u64, after: u64) -> UploadControl {
    let control = UploadControl::new();
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let e = files
        .upload(key, Body::from_bytes(body.clone()))
        .part_size(part)
        .concurrency(1)
        .control(control.clone())
        .cancellation(cancel)
        .on_progress(move |p| {
            if p.loaded >= after {
                trigger.cancel();
            }
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    control
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_landed_append_is_not_written_twice() {
    let sshd = require_server!(sshd_or_skip());
    let root = sshd.new_root("half-landed").unwrap();
    let a = with_password(sshd, &root);
    let files = Files::new(a.clone());
    let part: u64 = 64 * 1024;
    let body = Bytes::from(random_bytes(3, (part * 6 + 123) as usize));
    let key = "half/landed.bin";
    let control = cancelled(&files, key, &body, part, 2 * part).await;
    let token = control.token().expect("a token");
    let part_path = a.part_path_of(key).unwrap();
    assert_eq!(part_path, format!("{root}/half/landed.bin.fls-part"));
    let landed = std::fs::metadata(&part_path).unwrap().len();
    assert!(landed >= 2 * part && landed < body.len() as u64, "{landed}");
    // The part file is not an object.
    let listed: Vec<_> = files
        .list(&files_core::ListRequest::default())
        .await
        .unwrap()
        .objects
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert!(listed.is_empty(), "{listed:?}");

    // An append whose bytes reached the server but whose answer was lost: half a chunk more,
    // written behind the adapter's back.
    let extra = part / 2;
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&part_path)
            .unwrap();
        f.write_all(&body[landed as usize..(landed + extra) as usize])
            .unwrap();
    }
    // The primitive refuses an append at the offset the caller believes in.
    let spec = UploadSpec {
        key: key.to_string(),
        total: body.len() as u64,
        part_size: part,
        options: PutOptions::default(),
    };
    let session = token.session.clone();
    let chunk = body.slice(landed as usize..(landed + part) as usize);
    let e = a
        .append(&spec, &session, landed, chunk, false)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert_eq!(
        a.probe(&spec, &session).await.unwrap(),
        OffsetState::Offset(landed + extra)
    );
    // Resume: only the missing tail is sent, and the object is exactly the body.
    let outcome = files
        .upload(key, Body::from_bytes(body.clone()))
        .control(UploadControl::from_token(token))
        .await
        .unwrap();
    assert!(outcome.resumed);
    assert_eq!(outcome.bytes_resumed, landed + extra);
    assert_eq!(outcome.bytes_sent, body.len() as u64 - landed - extra);
    let stored = std::fs::read(format!("{root}/{key}")).unwrap();
    assert_eq!(sha256_hex(&stored), sha256_hex(&body));
    assert!(!Path::new(&part_path).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_operations_share_one_connection() {
    let sshd = require_server!(sshd_or_skip());
    let root = sshd.new_root("parallel").unwrap();
    let files = Files::new(with_password(sshd, &root));
    let mut tasks = Vec::new();
    for i in 0..24u64 {
        let files = files.clone();
        tasks.push(tokio::spawn(async move {
            let data = random_bytes(100 + i, (i as usize) * 40_000 + 1);
            let key = format!("p/{}/obj-{i}", i % 3);
            roundtrip(&files, &key, &data).await;
            files.head(&key).await.unwrap().size
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), i as u64 * 40_000 + 1);
    }
    let all: Vec<_> = {
        use futures::TryStreamExt;
        files.list_all("p/").try_collect::<Vec<_>>().await.unwrap()
    };
    assert_eq!(all.len(), 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_runtime_reconnects() {
    // An adapter outlives the runtime its connection was opened on (as in a CLI that makes one
    // runtime per command): the dead connection is noticed and replaced.
    let sshd = require_server!(sshd_or_skip());
    let root = sshd.new_root("reconnect").unwrap();
    let a = with_password(sshd, &root);
    let a2 = a.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            Files::new(a2)
                .upload("r.txt", Body::from("one"))
                .await
                .unwrap();
        });
    })
    .join()
    .unwrap();
    let files = Files::new(a);
    let back = files
        .download("r.txt")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&back[..], b"one");
}
