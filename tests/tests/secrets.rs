//! Secret hygiene: every network adapter runs with recognizable credentials (and, where the
//! server's credentials are fixed, also with a WRONG recognizable one, so that error paths run)
//! through plain, paused and resumed, cancelled and aborted uploads, downloads, listings and
//! failing calls, while everything logged is captured at TRACE level, both `tracing` events (a
//! global fmt subscriber writing into a buffer) and `log` records (a global `log::Log`; suppaftp
//! logs its control connection through `log`). No secret may appear in a token's JSON, in the
//! `Debug` of a builder, adapter, client, token or error, in an error message, or in any
//! captured line. A GCS session URL is itself a bearer credential: it belongs in the token's
//! JSON, and nowhere else.
//!
//! Each adapter is one test with its own current-thread runtime, so every task it starts runs
//! on the test's thread; the subscriber and logger are global (this binary holds nothing else),
//! so output of tasks on other threads is captured too. Each test looks only for its own
//! secrets, so tests can run in parallel.

use std::fmt::Debug;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use files::{Body, Error, Files, ResumeToken, UploadControl, UploadStatus};
use files_testkit::util::{random_bytes, sha256_hex, unique_prefix};

// ------------------------------------------------------------------------------ capture

/// Every line logged by this process, through `tracing` and through `log`.
static CAPTURED: Mutex<Vec<u8>> = Mutex::new(Vec::new());

#[derive(Clone, Copy)]
struct Buffer;

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURED.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct LogCapture;

impl log::Log for LogCapture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = format!(
            "log {} {}: {}\n",
            record.level(),
            record.target(),
            record.args()
        );
        CAPTURED.lock().unwrap().extend_from_slice(line.as_bytes());
    }
    fn flush(&self) {}
}

/// Installs the global TRACE subscriber and logger (once).
fn capture() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(|| Buffer)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        static LOGGER: LogCapture = LogCapture;
        log::set_logger(&LOGGER).expect("the only logger");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

fn captured() -> String {
    String::from_utf8_lossy(&CAPTURED.lock().unwrap()).into_owned()
}

/// What a run produced that a person or a log could see: token JSON, `Debug` outputs and error
/// messages, each labelled.
#[derive(Default)]
struct Seen {
    items: Vec<(String, String)>,
    /// Tokens' JSON, where a session URL may (must) appear.
    tokens: Vec<(String, String)>,
}

impl Seen {
    fn debug(&mut self, what: &str, v: &impl Debug) {
        self.items
            .push((format!("Debug of {what}"), format!("{v:?}")));
        self.items
            .push((format!("alt Debug of {what}"), format!("{v:#?}")));
    }
    fn error(&mut self, what: &str, e: &Error) {
        self.items.push((format!("error of {what}"), e.to_string()));
        self.debug(&format!("error of {what}"), e);
    }
    fn token(&mut self, what: &str, t: &ResumeToken) {
        self.tokens.push((format!("JSON of {what}"), t.to_json()));
        self.debug(what, t);
    }
    /// Records `result`'s error, if any; returns its value.
    fn outcome<T>(&mut self, what: &str, result: files::Result<T>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(what, &e);
                None
            }
        }
    }

    /// Panics naming every place a secret appears. `secrets` may appear nowhere; `session`
    /// secrets (session URLs) only in token JSON.
    fn assert_clean(&self, adapter: &str, secrets: &[String], session: &[String]) {
        let log = captured();
        let mut leaks = Vec::new();
        for s in secrets.iter().chain(session).filter(|s| !s.is_empty()) {
            for (what, text) in &self.items {
                if text.contains(s.as_str()) {
                    leaks.push(format!("{what}: {}", excerpt(text, s)));
                }
            }
            for line in log.lines().filter(|l| l.contains(s.as_str())) {
                leaks.push(format!("log line: {}", excerpt(line, s)));
            }
        }
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            for (what, text) in &self.tokens {
                if text.contains(s.as_str()) {
                    leaks.push(format!("{what}: {}", excerpt(text, s)));
                }
            }
        }
        leaks.sort();
        leaks.dedup();
        assert!(
            leaks.is_empty(),
            "{adapter}: a secret leaked in {} place(s):\n  {}",
            leaks.len(),
            leaks
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        );
        // The capture works and saw TRACE output (else the test could not fail).
        assert!(
            !self.items.is_empty() && log.contains(" TRACE "),
            "{adapter}: nothing was captured at TRACE level"
        );
    }
}

/// The text around the first occurrence of `needle`, the needle itself masked.
fn excerpt(text: &str, needle: &str) -> String {
    let at = text.find(needle).unwrap_or(0);
    let start = text.floor_char_boundary(at.saturating_sub(80));
    let end = text.ceil_char_boundary((at + needle.len() + 40).min(text.len()));
    text[start..end]
        .replace(needle, "<SECRET>")
        .replace('\n', " ")
}

fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// The forms a password sent with HTTP Basic takes: itself and the header's base64.
fn basic_forms(user: &str, password: &str) -> Vec<String> {
    vec![
        password.to_string(),
        base64(format!("{user}:{password}").as_bytes()),
    ]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

// ------------------------------------------------------------------------------ the work

/// Runs everything the SDK does with a good client: plain upload and download, a listing, a
/// resumable upload paused and resumed, one cancelled and resumed from its token in a new
/// client, one aborted, and calls that fail (missing object, invalid key, refused token).
/// Returns the session ids the tokens named.
async fn exercise(
    make: &dyn Fn() -> Files,
    resumable: bool,
    part_size: u64,
    seen: &mut Seen,
) -> Vec<String> {
    let files = make();
    seen.debug("the client", &files);
    seen.debug("the adapter", files.adapter());
    let prefix = unique_prefix("secrets");
    let key = |n: &str| format!("{prefix}{n}");
    let mut sessions = Vec::new();

    let small = random_bytes(1, 1000);
    seen.outcome(
        "a small upload",
        files
            .upload(key("small"), Body::from_bytes(small.clone()))
            .await,
    )
    .expect("a small upload");
    let got = read_all(&files, &key("small"), seen).await;
    assert_eq!(sha256_hex(&got), sha256_hex(&small), "the small object");
    let listed: Vec<String> = files
        .list(&files::ListRequest {
            prefix: prefix.clone(),
            ..Default::default()
        })
        .await
        .expect("a listing")
        .objects
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert!(listed.contains(&key("small")), "{listed:?}");
    seen.outcome("head", files.head(&key("small")).await);

    // Failing calls.
    seen.outcome("head of a missing key", files.head(&key("missing")).await);
    let missing = files.download(key("missing")).await.map(|_| ());
    seen.outcome("download of a missing key", missing);
    seen.outcome(
        "upload to an invalid key",
        files.upload("../escape", Body::from("x")).await,
    );
    seen.outcome("delete of an invalid key", files.delete("/abs").await);

    if !resumable {
        return sessions;
    }
    let body = random_bytes(2, (part_size * 5 + 7) as usize);

    // Paused from the progress callback, token looked at while paused, then resumed.
    let control = UploadControl::new();
    let c2 = control.clone();
    let paused_once = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let p2 = paused_once.clone();
    let upload = files
        .upload(key("paused"), Body::from_bytes(body.clone()))
        .part_size(part_size)
        .concurrency(1)
        .control(control.clone())
        .on_progress(move |p| {
            if p.loaded >= part_size && !p2.swap(true, std::sync::atomic::Ordering::SeqCst) {
                c2.pause();
            }
        })
        .into_future();
    let watcher = async {
        loop {
            if control.status() == UploadStatus::Paused {
                if let Some(t) = control.token() {
                    seen.token("a paused upload's token", &t);
                    sessions.push(t.session.id.clone());
                }
                seen.debug("a paused control", &control);
                control.resume();
                break;
            }
            if matches!(
                control.status(),
                UploadStatus::Completed | UploadStatus::Error
            ) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    let (result, ()) = tokio::join!(upload, watcher);
    let outcome = seen.outcome("a paused and resumed upload", result);
    seen.debug("an upload outcome", &outcome);
    outcome.expect("the paused upload completes");
    let got = read_all(&files, &key("paused"), seen).await;
    assert_eq!(sha256_hex(&got), sha256_hex(&body), "the paused object");

    // Cancelled, then resumed from the token's JSON in a new client.
    let token = cancelled(&files, &key("resumed"), &body, part_size, seen).await;
    sessions.push(token.session.id.clone());
    let json = token.to_json();
    let again = make();
    let resumed = again
        .upload(key("resumed"), Body::from_bytes(body.clone()))
        .control(UploadControl::from_json(&json).expect("the token parses"))
        .await;
    seen.outcome("a resume in a new client", resumed)
        .expect("the resume completes");
    let got = read_all(&again, &key("resumed"), seen).await;
    assert_eq!(sha256_hex(&got), sha256_hex(&body), "the resumed object");

    // Refused resumes: a changed body, a tampered token.
    let token = cancelled(&files, &key("aborted"), &body, part_size, seen).await;
    sessions.push(token.session.id.clone());
    let mut changed = body.clone();
    changed[1] ^= 1;
    let r = files
        .upload(key("aborted"), Body::from_bytes(changed))
        .control(UploadControl::from_token(token.clone()))
        .await;
    seen.outcome("a resume with a changed body", r);
    let mut tampered = token.clone();
    tampered.total += 1;
    let r = files
        .upload(key("aborted"), Body::from_bytes(body.clone()))
        .control(UploadControl::from_token(tampered))
        .await;
    seen.outcome("a resume with a tampered token", r);
    // Aborted, then resumed (session gone).
    seen.outcome("abort_upload", files.abort_upload(&token).await);
    let r = files
        .upload(key("aborted"), Body::from_bytes(body.clone()))
        .control(UploadControl::from_token(token))
        .await;
    seen.outcome("a resume after abort", r);
    sessions
}

async fn cancelled(
    files: &Files,
    key: &str,
    body: &[u8],
    part_size: u64,
    seen: &mut Seen,
) -> ResumeToken {
    let control = UploadControl::new();
    let cancel = files::CancellationToken::new();
    let trigger = cancel.clone();
    let r = files
        .upload(key, Body::from_bytes(body.to_vec()))
        .part_size(part_size)
        .concurrency(1)
        .control(control.clone())
        .cancellation(cancel)
        .on_progress(move |p| {
            if p.loaded >= 2 * part_size {
                trigger.cancel();
            }
        })
        .await;
    seen.outcome("a cancelled upload", r);
    let token = control.token().expect("a cancelled upload leaves a token");
    seen.token("a cancelled upload's token", &token);
    token
}

async fn read_all(files: &Files, key: &str, seen: &mut Seen) -> Vec<u8> {
    let resp = seen
        .outcome("download", files.download(key.to_string()).await)
        .expect("a download");
    let bytes = seen.outcome("download body", resp.bytes().await);
    bytes.expect("the body").to_vec()
}

/// Calls a client built with wrong credentials: every call fails, and its errors are seen.
async fn with_wrong_secret(files: Files, seen: &mut Seen) {
    seen.debug("a client with a wrong secret", &files);
    let prefix = unique_prefix("wrong");
    let r = files
        .upload(
            format!("{prefix}obj"),
            Body::from_bytes(random_bytes(3, 3000)),
        )
        .await;
    assert!(r.is_err(), "an upload with a wrong secret succeeded");
    seen.outcome("an upload with a wrong secret", r);
    let r = files
        .upload(format!("{prefix}obj2"), Body::from("x"))
        .control(UploadControl::new())
        .await;
    seen.outcome("a resumable upload with a wrong secret", r);
    let r = files.head(&format!("{prefix}obj")).await;
    seen.outcome("head with a wrong secret", r);
    let r = files
        .list(&files::ListRequest {
            prefix,
            ..Default::default()
        })
        .await;
    seen.outcome("list with a wrong secret", r);
}

// ------------------------------------------------------------------------------ adapters

#[test]
fn s3_credentials_do_not_leak() {
    capture();
    let Some(moto) = files_testkit::servers::moto_or_skip() else {
        return;
    };
    let bucket = moto.new_bucket("secrets").expect("a bucket");
    // moto takes any key pair: the secret is ours, recognizable.
    let secret = "S3CR3T-s3-7a1e9c-secret-access-key".to_string();
    let session_token = "S3CR3T-s3-session-token-3f8d".to_string();
    let endpoint = moto.endpoint();
    let build = |secret: &str| {
        files_s3::S3Adapter::builder()
            .bucket(&bucket)
            .region(files_testkit::servers::REGION)
            .endpoint(endpoint)
            .path_style(true)
            .credentials("AKIDS3CR3TKEYID", secret)
            .session_token(&session_token)
    };
    let mut seen = Seen::default();
    seen.debug("the builder", &build(&secret));
    let rt = runtime();
    rt.block_on(async {
        let make = || Files::new(build(&secret).build().expect("an S3 adapter"));
        exercise(&make, true, 5 << 20, &mut seen).await;
    });
    drop(rt);
    seen.assert_clean("s3", &[secret, session_token], &[]);
}

#[test]
fn sftp_password_does_not_leak() {
    use files_testkit::sshd::{SFTP_PASSWORD, SFTP_USER};
    capture();
    let Some(sshd) = files_testkit::sshd::sshd_or_skip() else {
        return;
    };
    let wrong = "S3CR3T-sftp-wrong-password-5c2b";
    let root = sshd.new_root("secrets").expect("a root");
    let build = |password: &str| {
        files_sftp::SftpAdapter::builder()
            .host(sshd.host())
            .port(sshd.port())
            .user(SFTP_USER)
            .password(password)
            .known_hosts(sshd.known_hosts_path())
            .root(&root)
    };
    let mut seen = Seen::default();
    seen.debug("the builder", &build(SFTP_PASSWORD));
    let rt = runtime();
    rt.block_on(async {
        let make = || Files::new(build(SFTP_PASSWORD).build().expect("an SFTP adapter"));
        exercise(&make, true, 64 << 10, &mut seen).await;
        let bad = build(wrong).build().expect("an SFTP adapter");
        with_wrong_secret(Files::new(bad), &mut seen).await;
    });
    drop(rt);
    seen.assert_clean("sftp", &[SFTP_PASSWORD.to_string(), wrong.to_string()], &[]);
}

#[test]
fn ftp_password_does_not_leak() {
    capture();
    let Some(server) = files_testkit::ftpd::pyftpdlib_or_skip() else {
        return;
    };
    let wrong = "S3CR3T-ftp-wrong-password-9e4d";
    let build = |password: &str| {
        files_ftp::FtpAdapter::builder(server.host())
            .port(server.port())
            .user(server.user())
            .password(password)
            .root(format!("secrets-{}", std::process::id()))
    };
    let mut seen = Seen::default();
    seen.debug("the builder", &build(server.password()));
    let rt = runtime();
    rt.block_on(async {
        let make = || Files::new(build(server.password()).build().expect("an FTP adapter"));
        exercise(&make, true, 64 << 10, &mut seen).await;
        let bad = build(wrong).build().expect("an FTP adapter");
        with_wrong_secret(Files::new(bad), &mut seen).await;
    });
    drop(rt);
    // suppaftp's own trace of the control connection was captured (through `log`), so a
    // `PASS <password>` line there would have been seen.
    assert!(
        captured().contains("log TRACE suppaftp"),
        "suppaftp's command trace was not captured"
    );
    seen.assert_clean(
        "ftp",
        &[server.password().to_string(), wrong.to_string()],
        &[],
    );
}

#[test]
fn webdav_password_does_not_leak() {
    use files_testkit::davd::{DAV_PASSWORD, DAV_USER};
    capture();
    let Some(server) = files_testkit::davd::apache_or_skip() else {
        return;
    };
    let wrong = "S3CR3T-webdav-wrong-password-1b7f";
    let build = |password: &str| {
        files_webdav::WebDavAdapter::builder()
            .endpoint(server.endpoint())
            .basic_auth(DAV_USER, password)
    };
    let mut seen = Seen::default();
    seen.debug("the builder", &build(DAV_PASSWORD));
    let rt = runtime();
    rt.block_on(async {
        let make = || Files::new(build(DAV_PASSWORD).build().expect("a WebDAV adapter"));
        exercise(&make, true, 64 << 10, &mut seen).await;
        let bad = build(wrong).build().expect("a WebDAV adapter");
        with_wrong_secret(Files::new(bad), &mut seen).await;
    });
    drop(rt);
    let mut secrets = basic_forms(DAV_USER, DAV_PASSWORD);
    secrets.extend(basic_forms(DAV_USER, wrong));
    seen.assert_clean("webdav", &secrets, &[]);
}

#[test]
fn azure_shared_key_does_not_leak() {
    use files_testkit::azurite::{ACCOUNT, ACCOUNT_KEY};
    capture();
    let Some(az) = files_testkit::azurite::azurite_or_skip() else {
        return;
    };
    let container = az.new_container("secrets").expect("a container");
    let wrong_key = base64(b"S3CR3T-azure-wrong-shared-key-0c6a-padding-to-64-bytes-long!!!!");
    let build = |key: &str| {
        files_azure::AzureAdapter::builder()
            .connection_string(format!(
                "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};BlobEndpoint={};",
                az.endpoint()
            ))
            .container(&container)
    };
    let mut seen = Seen::default();
    seen.debug("the builder", &build(ACCOUNT_KEY));
    let rt = runtime();
    rt.block_on(async {
        let make = || Files::new(build(ACCOUNT_KEY).build().expect("an Azure adapter"));
        exercise(&make, true, 64 << 10, &mut seen).await;
        let bad = build(&wrong_key).build().expect("an Azure adapter");
        with_wrong_secret(Files::new(bad), &mut seen).await;
    });
    drop(rt);
    seen.assert_clean("azure", &[ACCOUNT_KEY.to_string(), wrong_key], &[]);
}

#[test]
fn azure_sas_does_not_leak() {
    capture();
    let Some(az) = files_testkit::azurite::azurite_or_skip() else {
        return;
    };
    let container = az.new_container("secrets-sas").expect("a container");
    let keyed = files_azure::AzureAdapter::builder()
        .connection_string(az.connection_string())
        .container(&container)
        .build()
        .expect("an Azure adapter");
    let sas = keyed
        .container_sas("racwdl", std::time::Duration::from_secs(3600))
        .expect("a container SAS");
    // A SAS with a forged signature: as secret as a real one.
    let (unsigned, _) = sas.split_once("&sig=").expect("a signature");
    let forged = format!("{unsigned}&sig=S3CR3TforgedSASsignature0a1b2c3d4e5f6g7h8i9%3D");
    let build = |sas: &str| {
        files_azure::AzureAdapter::builder()
            .endpoint(az.endpoint())
            .container(&container)
            .sas_token(sas)
    };
    let mut seen = Seen::default();
    seen.debug("the builder", &build(&sas));
    let rt = runtime();
    rt.block_on(async {
        let make = || Files::new(build(&sas).build().expect("an Azure adapter"));
        exercise(&make, true, 64 << 10, &mut seen).await;
        let bad = build(&forged).build().expect("an Azure adapter");
        with_wrong_secret(Files::new(bad), &mut seen).await;
    });
    drop(rt);
    // The signature is the secret (the rest of a SAS is its public policy), in both its
    // encoded and decoded forms.
    let sig = |s: &str| s.split_once("&sig=").unwrap().1.to_string();
    let decoded = |s: &str| {
        s.replace("%2B", "+")
            .replace("%2F", "/")
            .replace("%3D", "=")
    };
    seen.assert_clean(
        "azure-sas",
        &[
            sig(&sas),
            decoded(&sig(&sas)),
            sig(&forged),
            decoded(&sig(&forged)),
        ],
        &[],
    );
}

#[test]
fn gcs_access_token_and_session_url_do_not_leak() {
    capture();
    let fake = files_fakes::gcs::FakeGcs::start().expect("the fake GCS server");
    let bucket = fake.new_bucket("secrets");
    let token = "S3CR3T-gcs-access-token-ya29-4e1c";
    let build = || {
        files_gcs::GcsAdapter::builder()
            .bucket(&bucket)
            .ignore_env()
            .endpoint(fake.endpoint())
            .access_token(token)
    };
    let mut seen = Seen::default();
    seen.debug("the builder", &build());
    let rt = runtime();
    let sessions = rt.block_on(async {
        let make = || Files::new(build().build().expect("a GCS adapter"));
        exercise(&make, true, 256 << 10, &mut seen).await
    });
    drop(rt);
    // The session URLs, and their upload ids alone.
    let mut session = Vec::new();
    for s in sessions.iter().filter(|s| !s.is_empty()) {
        session.push(s.clone());
        if let Some((_, id)) = s.split_once("upload_id=") {
            session.push(id.split('&').next().unwrap_or(id).to_string());
        }
    }
    assert!(!session.is_empty(), "no session URL was seen");
    // The search finds a session URL where it belongs (the token's JSON).
    assert!(
        seen.tokens
            .iter()
            .any(|(_, json)| json.contains(session[0].as_str())),
        "the session URL is not in the token's JSON"
    );
    seen.assert_clean("gcs", &[token.to_string()], &session);
}

#[test]
fn gdrive_access_token_does_not_leak() {
    capture();
    let token = "S3CR3T-gdrive-access-token-ya29-8b3a";
    let wrong = "S3CR3T-gdrive-wrong-token-2d9e";
    let drive = files_fakes::gdrive::FakeDrive::start(token).expect("the fake Drive server");
    let root = drive.create_folder("root", "secrets-root");
    let build = |t: &str| {
        files_gdrive::GDriveAdapter::builder()
            .endpoint(drive.endpoint())
            .access_token(t)
            .root_folder(&root)
    };
    let mut seen = Seen::default();
    seen.debug("the builder", &build(token));
    let rt = runtime();
    let sessions = rt.block_on(async {
        let make = || Files::new(build(token).build().expect("a Drive adapter"));
        let s = exercise(&make, true, 256 << 10, &mut seen).await;
        let bad = build(wrong).build().expect("a Drive adapter");
        with_wrong_secret(Files::new(bad), &mut seen).await;
        s
    });
    drop(rt);
    let session: Vec<String> = sessions.into_iter().filter(|s| !s.is_empty()).collect();
    seen.assert_clean("gdrive", &[token.to_string(), wrong.to_string()], &session);
}

#[test]
fn onedrive_token_client_secret_and_upload_urls_do_not_leak() {
    use files_fakes::graph::{FakeGraph, TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TENANT};
    capture();
    let token = "S3CR3T-graph-access-token-eyJ0-71c2";
    let wrong = "S3CR3T-graph-wrong-token-5d10";
    let graph = FakeGraph::start_with_token(token).expect("the fake Graph server");
    let with_token = |t: &str| {
        files_onedrive::OneDriveAdapter::builder()
            .endpoint(graph.endpoint())
            .access_token(t)
            .me()
    };
    let with_secret = || {
        files_onedrive::OneDriveAdapter::builder()
            .endpoint(graph.endpoint())
            .client_credentials(TEST_TENANT, TEST_CLIENT_ID, TEST_CLIENT_SECRET)
            .token_endpoint(graph.token_endpoint(TEST_TENANT))
            .me()
    };
    let mut seen = Seen::default();
    seen.debug("the builder", &with_token(token));
    seen.debug("the client-credentials builder", &with_secret());
    let rt = runtime();
    let sessions = rt.block_on(async {
        let make = || Files::new(with_token(token).build().expect("a OneDrive adapter"));
        let mut s = exercise(&make, true, 320 << 10, &mut seen).await;
        let make = || Files::new(with_secret().build().expect("a OneDrive adapter"));
        s.extend(exercise(&make, true, 320 << 10, &mut seen).await);
        let bad = with_token(wrong).build().expect("a OneDrive adapter");
        with_wrong_secret(Files::new(bad), &mut seen).await;
        s
    });
    drop(rt);
    // The upload URLs, and the bearer token each carries.
    let mut session = Vec::new();
    for s in sessions.iter().filter(|s| !s.is_empty()) {
        session.push(s.clone());
        if let Some((_, t)) = s.split_once("token=") {
            session.push(t.split('&').next().unwrap_or(t).to_string());
        }
    }
    assert!(!session.is_empty(), "no upload URL was seen");
    seen.assert_clean(
        "onedrive",
        &[
            token.to_string(),
            wrong.to_string(),
            TEST_CLIENT_SECRET.to_string(),
        ],
        &session,
    );
}

#[test]
fn box_token_and_client_secret_do_not_leak() {
    use files_fakes::box_api::{CLIENT_ID, CLIENT_SECRET, ENTERPRISE_ID, FakeBox};
    capture();
    let fake = FakeBox::start().expect("the fake Box server");
    fake.set_part_size(64 << 10);
    fake.set_min_session_size(0);
    let state = tempfile::tempdir().expect("a state folder");
    let base = || {
        files_box::BoxAdapter::builder()
            .ignore_env()
            .endpoint(fake.endpoint())
            .part_unit(64 << 10)
            .min_session_size(0)
            .state_dir(Some(state.path().to_path_buf()))
    };
    let wrong = "S3CR3T-box-wrong-token-7f3e";
    let mut seen = Seen::default();
    seen.debug("the builder", &base().access_token(fake.token()));
    seen.debug(
        "the client-credentials builder",
        &base().client_credentials(CLIENT_ID, CLIENT_SECRET, ENTERPRISE_ID),
    );
    let rt = runtime();
    let sessions = rt.block_on(async {
        let make = || {
            Files::new(
                base()
                    .access_token(fake.token())
                    .build()
                    .expect("a Box adapter"),
            )
        };
        let mut s = exercise(&make, true, 64 << 10, &mut seen).await;
        let make = || {
            Files::new(
                base()
                    .client_credentials(CLIENT_ID, CLIENT_SECRET, ENTERPRISE_ID)
                    .build()
                    .expect("a Box adapter"),
            )
        };
        s.extend(exercise(&make, true, 64 << 10, &mut seen).await);
        let bad = base().access_token(wrong).build().expect("a Box adapter");
        with_wrong_secret(Files::new(bad), &mut seen).await;
        s
    });
    drop(rt);
    // Box's session ids are not credentials: only the token and the secret must stay hidden.
    let _ = sessions;
    seen.assert_clean(
        "box",
        &[
            fake.token().to_string(),
            wrong.to_string(),
            CLIENT_SECRET.to_string(),
        ],
        &[],
    );
}

#[test]
fn dropbox_tokens_and_app_secret_do_not_leak() {
    use files_fakes::dropbox::{APP_KEY, APP_SECRET, FakeDropbox, REFRESH_TOKEN, TEST_TOKEN};
    capture();
    let fake = FakeDropbox::start().expect("the fake Dropbox server");
    let base = || {
        files_dropbox::DropboxAdapter::builder()
            .ignore_env()
            .endpoint(fake.endpoint())
            .token_url(fake.token_url())
            .root("secrets")
    };
    let wrong = "S3CR3T-dropbox-wrong-token-c0de";
    let mut seen = Seen::default();
    seen.debug("the builder", &base().access_token(TEST_TOKEN));
    seen.debug(
        "the refresh-token builder",
        &base().refresh_token(REFRESH_TOKEN, APP_KEY, Some(APP_SECRET.to_string())),
    );
    let rt = runtime();
    rt.block_on(async {
        let make = || Files::new(base().access_token(TEST_TOKEN).build().expect("an adapter"));
        exercise(&make, true, 4 << 20, &mut seen).await;
        let make = || {
            Files::new(
                base()
                    .refresh_token(REFRESH_TOKEN, APP_KEY, Some(APP_SECRET.to_string()))
                    .build()
                    .expect("an adapter"),
            )
        };
        exercise(&make, true, 4 << 20, &mut seen).await;
        let bad = base().access_token(wrong).build().expect("an adapter");
        with_wrong_secret(Files::new(bad), &mut seen).await;
    });
    drop(rt);
    // Dropbox's session ids are not credentials: the tokens and the app secret must stay hidden.
    seen.assert_clean(
        "dropbox",
        &[
            TEST_TOKEN.to_string(),
            REFRESH_TOKEN.to_string(),
            APP_SECRET.to_string(),
            wrong.to_string(),
        ],
        &[],
    );
}

/// The check finds a planted secret, in a `Debug` output and in a log line.
#[test]
fn a_planted_secret_is_found() {
    capture();
    let secret = "S3CR3T-planted-6d1f".to_string();
    let mut seen = Seen::default();
    seen.debug("a planted value", &format!("x{secret}x"));
    tracing::trace!("warming the capture");
    let caught = std::panic::catch_unwind(|| {
        seen.assert_clean("planted", std::slice::from_ref(&secret), &[])
    });
    assert!(caught.is_err(), "a secret in Debug output was not found");
    let clean = Seen {
        items: vec![("nothing".into(), "nothing".into())],
        ..Default::default()
    };
    log::trace!("a log line with {secret}");
    let caught = std::panic::catch_unwind(|| {
        clean.assert_clean("planted", std::slice::from_ref(&secret), &[])
    });
    assert!(caught.is_err(), "a secret in a `log` line was not found");
}
