//! End-to-end crash test of the `files` binary against the protocol-faithful fake GCS server
//! (`files_testkit::gcs::FakeGcs`, run inside this test process on a loopback port): an upload
//! to a `gs://` URL killed with `SIGKILL` mid-way, resumed by a new process from its
//! checkpoint, compared by SHA-256 on the server side; then `files abort` of a second
//! interrupted upload cancels its session on the server.
//!
//! The children find the server through `STORAGE_EMULATOR_HOST` (anonymous auth, as for an
//! emulator). Run with `cargo test -p files-cli --features gcs --test gcs --offline`.
#![cfg(feature = "gcs")]

use std::path::Path;
use std::process::{Command, Stdio};

use files_testkit::crash::write_random_file;
use files_testkit::crash::{kill_when_loaded, read_checkpoint, sha256_bytes, sha256_file};
use files_testkit::gcs::FakeGcs;

mod common;
use common::{json_line, ok, s};

const MIB: u64 = 1 << 20;

fn files(gcs: &FakeGcs) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_files"));
    c.env_remove("FILES_LOG")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("FILES_GCS_EMULATOR_QUIRKS")
        .env("STORAGE_EMULATOR_HOST", gcs.endpoint())
        .stdin(Stdio::null());
    c
}

fn upload(gcs: &FakeGcs, src: &Path, url: &str, cp: &Path, slow: bool) -> Command {
    let mut c = files(gcs);
    c.arg("upload")
        .arg(src)
        .arg(url)
        .args(["--part-size", "1MiB"]);
    if slow {
        c.args(["--concurrency", "1", "--bwlimit", "2MiB"]);
    }
    c.arg("--checkpoint").arg(cp).arg("--json");
    c
}

#[test]
fn crash_then_resume_sends_only_the_missing_bytes() {
    let gcs = FakeGcs::start().expect("the fake GCS server");
    let bucket = gcs.new_bucket("cli-crash");
    let dir = tempfile::tempdir().unwrap();
    let size: u64 = 8 * MIB + 4321;
    let src = dir.path().join("big.bin");
    write_random_file(&src, size, 78).unwrap();
    let key = "dir/big.bin";
    let url = format!("gs://{bucket}/{key}");
    let cp = dir.path().join("big.upload.json");

    let crash = kill_when_loaded(
        || {
            let mut c = upload(&gcs, &src, &url, &cp, true);
            c.stdout(Stdio::null()).stderr(Stdio::null());
            c
        },
        &cp,
        2 * MIB,
    )
    .unwrap();
    assert!(!crash.status.success());
    assert!(crash.token.loaded >= 2 * MIB && crash.token.loaded < size);
    // The session survives the crash on the server; nothing is finalized yet.
    assert_eq!(gcs.open_sessions(&bucket, key).len(), 1);
    assert_eq!(gcs.object(&bucket, key), None);
    let token = read_checkpoint(&cp).unwrap();
    assert_eq!(token.key, key);
    assert!(
        token.is_sensitive(),
        "a GCS session URL is a bearer credential"
    );

    let o = ok(upload(&gcs, &src, &url, &cp, false).output().unwrap());
    let j = json_line(&o);
    assert_eq!(j["size"], size);
    assert_eq!(j["resumed"], true);
    let resumed = j["bytes_resumed"].as_u64().unwrap();
    let sent = j["bytes_sent"].as_u64().unwrap();
    assert!(resumed >= crash.token.loaded, "{j}");
    assert_eq!(resumed + sent, size, "{j}");
    assert!(!cp.exists(), "the checkpoint is removed on success");

    let stored = gcs.object(&bucket, key).expect("the object exists");
    assert_eq!(sha256_bytes(&stored), sha256_file(&src).unwrap());
    assert!(gcs.open_sessions(&bucket, key).is_empty());

    let back = dir.path().join("back.bin");
    ok(files(&gcs)
        .args(["download", &url, &s(&back)])
        .output()
        .unwrap());
    assert_eq!(sha256_file(&src).unwrap(), sha256_file(&back).unwrap());
}

#[test]
fn abort_from_a_checkpoint_cancels_the_session() {
    let gcs = FakeGcs::start().expect("the fake GCS server");
    let bucket = gcs.new_bucket("cli-abort");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big.bin");
    write_random_file(&src, 6 * MIB, 79).unwrap();
    let key = "a/big.bin";
    let url = format!("gs://{bucket}/{key}");
    let cp = dir.path().join("a.upload.json");
    kill_when_loaded(
        || {
            let mut c = upload(&gcs, &src, &url, &cp, true);
            c.stdout(Stdio::null()).stderr(Stdio::null());
            c
        },
        &cp,
        MIB,
    )
    .unwrap();
    assert_eq!(gcs.open_sessions(&bucket, key).len(), 1);
    ok(files(&gcs)
        .arg("abort")
        .arg("--checkpoint")
        .arg(&cp)
        .output()
        .unwrap());
    assert!(
        gcs.open_sessions(&bucket, key).is_empty(),
        "the session is cancelled"
    );
    assert_eq!(gcs.object(&bucket, key), None);
    assert!(!cp.exists());
}
