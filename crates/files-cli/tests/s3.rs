//! End-to-end tests of the `files` binary against a local S3 server (moto, started by the test
//! harness; see `files_testkit::servers`).
//!
//! The child processes get the fake test credentials through the standard AWS environment
//! variables, never on the command line. What landed is checked on the server side (the
//! object's bytes and ListMultipartUploads asked of moto directly, not through the adapter).
//! None asserts on timing: the crash tests wait for the checkpoint to show progress, then act.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use files_testkit::crash::write_random_file;
use files_testkit::crash::{kill_when_loaded, read_checkpoint, sha256_bytes, sha256_file};
use files_testkit::require_server;
use files_testkit::servers::{ACCESS_KEY_ID, MotoServer, REGION, SECRET_ACCESS_KEY, moto_or_skip};

mod common;
use common::{json_line, ok, s, stderr, stdout};

const MIB: u64 = 1 << 20;

/// The `files` binary with the test credentials in its environment, and nothing else of the
/// machine's AWS set-up (no profile, no config files, no instance metadata).
fn files() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_files"));
    c.env_remove("FILES_LOG")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .env("AWS_REGION", REGION)
        .env("AWS_CONFIG_FILE", "/nonexistent/files-test/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/files-test/aws-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null());
    c
}

fn run(args: &[&str]) -> Output {
    files().args(args).output().expect("run files")
}

fn sidecar(cp: &Path) -> PathBuf {
    PathBuf::from(format!("{}.dest", cp.display()))
}

/// The `s3://` URL of `key` in `bucket` on the test server.
fn s3_url(moto: &MotoServer, bucket: &str, key: &str) -> String {
    format!(
        "s3://{bucket}/{key}?endpoint={}&path_style=true&region={REGION}",
        moto.endpoint()
    )
}

/// Asserts that nothing the CLI leaves on disk or prints holds a credential.
#[track_caller]
fn assert_no_secret(what: &str, text: &str) {
    for secret in [SECRET_ACCESS_KEY, ACCESS_KEY_ID] {
        assert!(!text.contains(secret), "{what} holds a credential: {text}");
    }
}

/// The upload command of the crash tests: 5 MiB parts (S3's minimum), one at a time and
/// rate-limited, so that a kill lands between parts.
fn slow_upload(src: &Path, url: &str, cp: &Path) -> Command {
    let mut c = files();
    c.arg("upload")
        .arg(src)
        .arg(url)
        .args([
            "--part-size",
            "5MiB",
            "--concurrency",
            "1",
            "--bwlimit",
            "4MiB",
            "--checkpoint",
        ])
        .arg(cp)
        .arg("--json");
    c
}

/// The same upload without the rate limit (what a resume runs).
fn fast_upload(src: &Path, url: &str, cp: &Path) -> Command {
    let mut c = files();
    c.arg("upload")
        .arg(src)
        .arg(url)
        .args(["--part-size", "5MiB", "--checkpoint"])
        .arg(cp)
        .arg("--json");
    c
}

/// Starts `slow_upload` in a child and kills it (`SIGKILL`) once the checkpoint shows at least
/// one confirmed part; returns the bytes confirmed at that point.
fn crash_upload(src: &Path, url: &str, cp: &Path, size: u64) -> u64 {
    let crash = kill_when_loaded(
        || {
            let mut c = slow_upload(src, url, cp);
            c.stdout(Stdio::null()).stderr(Stdio::null());
            c
        },
        cp,
        5 * MIB,
    )
    .unwrap();
    assert!(!crash.status.success());
    assert!(crash.token.loaded >= 5 * MIB);
    assert!(
        crash.token.loaded < size,
        "the upload finished before the kill"
    );
    crash.token.loaded
}

#[test]
fn crash_then_resume_sends_only_the_missing_bytes() {
    let moto = require_server!(moto_or_skip());
    let bucket = moto.new_bucket("cli-crash").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let size: u64 = 16 * MIB + 12_345;
    let src = dir.path().join("big.bin");
    write_random_file(&src, size, 42).unwrap();
    let key = "dir/big.bin";
    let url = s3_url(moto, &bucket, key);
    let cp = dir.path().join("big.upload.json");

    let loaded = crash_upload(&src, &url, &cp, size);
    // The session survives the crash on the server, and nothing is visible yet.
    assert!(cp.exists() && sidecar(&cp).exists());
    let open = moto.open_uploads(&bucket, key).unwrap();
    assert_eq!(open.len(), 1, "one open multipart upload: {open:?}");
    assert_eq!(open[0].0, key);
    assert_eq!(moto.get_object(&bucket, key).unwrap(), None);
    let token_text = std::fs::read_to_string(&cp).unwrap();
    assert_no_secret("the checkpoint", &token_text);
    assert_no_secret(
        "the sidecar",
        &std::fs::read_to_string(sidecar(&cp)).unwrap(),
    );
    let token = read_checkpoint(&cp).unwrap();
    assert_eq!(token.key, key);
    assert!(token.loaded >= loaded);

    let o = ok(fast_upload(&src, &url, &cp).output().unwrap());
    assert_no_secret("stdout", &stdout(&o));
    assert_no_secret("stderr", &stderr(&o));
    let j = json_line(&o);
    assert_eq!(j["size"], size);
    assert_eq!(j["resumed"], true);
    let resumed = j["bytes_resumed"].as_u64().unwrap();
    let sent = j["bytes_sent"].as_u64().unwrap();
    assert!(resumed >= loaded, "{j}");
    assert!(sent < size, "{j}");
    assert_eq!(resumed + sent, size, "{j}");
    assert!(!cp.exists(), "the checkpoint is removed on success");
    assert!(!sidecar(&cp).exists(), "the sidecar is removed on success");

    // Server side: the object holds exactly the source, and no multipart upload is left open.
    let stored = moto
        .get_object(&bucket, key)
        .unwrap()
        .expect("the object exists");
    assert_eq!(stored.len() as u64, size);
    assert_eq!(sha256_bytes(&stored), sha256_file(&src).unwrap());
    assert_eq!(moto.open_uploads(&bucket, key).unwrap(), vec![]);

    // And through the CLI.
    let back = dir.path().join("back.bin");
    ok(run(&["download", &url, &s(&back)]));
    assert_eq!(sha256_file(&src).unwrap(), sha256_file(&back).unwrap());
}

#[test]
fn abort_discards_the_multipart_upload_and_a_later_resume_says_session_expired() {
    let moto = require_server!(moto_or_skip());
    let bucket = moto.new_bucket("cli-abort").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let size: u64 = 12 * MIB + 7;
    let src = dir.path().join("big.bin");
    write_random_file(&src, size, 3).unwrap();
    let key = "big.bin";
    let url = s3_url(moto, &bucket, key);
    let cp = dir.path().join("cp.json");

    crash_upload(&src, &url, &cp, size);
    assert_eq!(moto.open_uploads(&bucket, key).unwrap().len(), 1);
    // Keep copies, to try a resume once the session is gone.
    let cp_copy = dir.path().join("cp.copy.json");
    let side_copy = dir.path().join("cp.copy.json.dest");
    std::fs::copy(&cp, &cp_copy).unwrap();
    std::fs::copy(sidecar(&cp), &side_copy).unwrap();

    let o = ok(run(&["abort", "--checkpoint", &s(&cp)]));
    assert!(stderr(&o).contains("aborted"), "{}", stderr(&o));
    assert_no_secret("stderr", &stderr(&o));
    assert!(!cp.exists(), "the checkpoint is deleted");
    assert!(!sidecar(&cp).exists(), "the sidecar is deleted");
    assert_eq!(
        moto.open_uploads(&bucket, key).unwrap(),
        vec![],
        "ListMultipartUploads still shows the aborted upload"
    );
    assert_eq!(moto.get_object(&bucket, key).unwrap(), None);

    // Resuming the aborted session names the reason, keeps the checkpoint, and stores nothing.
    std::fs::rename(&cp_copy, &cp).unwrap();
    std::fs::rename(&side_copy, sidecar(&cp)).unwrap();
    let o = fast_upload(&src, &url, &cp).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.starts_with("error: session_expired: "), "{err}");
    assert!(err.contains("cannot resume"), "{err}");
    assert!(stdout(&o).is_empty());
    assert!(cp.exists());
    assert_eq!(moto.get_object(&bucket, key).unwrap(), None);
    assert_eq!(moto.open_uploads(&bucket, key).unwrap(), vec![]);

    // Abort of the dead session is fine too, then the same command starts afresh.
    ok(run(&["abort", "--checkpoint", &s(&cp)]));
    assert!(!cp.exists());
    let o = ok(fast_upload(&src, &url, &cp).output().unwrap());
    let j = json_line(&o);
    assert_eq!(j["resumed"], false);
    assert_eq!(j["bytes_sent"], size);
    let stored = moto.get_object(&bucket, key).unwrap().expect("stored");
    assert_eq!(sha256_bytes(&stored), sha256_file(&src).unwrap());
    assert_eq!(moto.open_uploads(&bucket, key).unwrap(), vec![]);
}

#[test]
fn small_objects_round_trip_through_s3_urls() {
    let moto = require_server!(moto_or_skip());
    let bucket = moto.new_bucket("cli-small").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("note.txt");
    std::fs::write(&src, b"hello, s3").unwrap();
    let url = s3_url(moto, &bucket, "notes/note.txt");

    let o = ok(run(&["upload", &s(&src), &url, "--json"]));
    let j = json_line(&o);
    assert_eq!(j["size"], 9);
    assert_no_secret("stdout", &stdout(&o));
    assert_eq!(
        moto.get_object(&bucket, "notes/note.txt")
            .unwrap()
            .as_deref(),
        Some(&b"hello, s3"[..])
    );

    let o = ok(run(&["stat", &url, "--json"]));
    let j = json_line(&o);
    assert_eq!(j["size"], 9, "{j}");

    let o = ok(run(&["download", &url, "-"]));
    assert_eq!(o.stdout, b"hello, s3");

    let copy_url = s3_url(moto, &bucket, "notes/copy.txt");
    ok(run(&["cp", &url, &copy_url]));
    assert_eq!(
        moto.get_object(&bucket, "notes/copy.txt")
            .unwrap()
            .as_deref(),
        Some(&b"hello, s3"[..])
    );

    let o = ok(run(&["ls", &s3_url(moto, &bucket, "notes/")]));
    let listing = stdout(&o);
    assert!(
        listing.contains("note.txt") && listing.contains("copy.txt"),
        "{listing}"
    );

    ok(run(&["rm", &copy_url]));
    assert_eq!(moto.get_object(&bucket, "notes/copy.txt").unwrap(), None);
}
