//! End-to-end tests of the `files` binary against Apache with `mod_dav_fs` (partial PUT), one
//! server per test (see `files_testkit::davd`). Run with
//! `cargo test -p files-cli --features webdav --test webdav`.
//!
//! The children get the test user's password through `FILES_WEBDAV_PASSWORD`, never on the
//! command line. What landed is checked on the server's disk (the served directory), not
//! through the adapter. None asserts on timing: the crash tests wait for the checkpoint to show
//! progress, then kill.
#![cfg(feature = "webdav")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use files_testkit::crash::write_random_file;
use files_testkit::crash::{kill_when_loaded, read_checkpoint, sha256_bytes, sha256_file};
use files_testkit::davd::{DAV_PASSWORD, DAV_USER, DavServer, own_apache_or_skip};
use files_testkit::require_server;

mod common;
use common::{json_line, ok, s, stderr, stdout};

const MIB: u64 = 1 << 20;

/// The `files` binary with the test password in its environment.
fn files() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_files"));
    c.env_remove("FILES_LOG")
        .env_remove("FILES_WEBDAV_TOKEN")
        .env_remove("FILES_WEBDAV_USER")
        .env("FILES_WEBDAV_PASSWORD", DAV_PASSWORD)
        .stdin(Stdio::null());
    c
}

fn sidecar(cp: &Path) -> PathBuf {
    PathBuf::from(format!("{}.dest", cp.display()))
}

/// `webdav://USER@127.0.0.1:PORT/key` (the password comes from the environment).
fn dav_url(server: &DavServer, key: &str) -> String {
    format!("webdav://{DAV_USER}@127.0.0.1:{}/{key}", server.port())
}

#[track_caller]
fn assert_no_secret(what: &str, text: &str) {
    assert!(
        !text.contains(DAV_PASSWORD),
        "{what} holds the password: {text}"
    );
}

fn upload_cmd(src: &Path, url: &str, cp: &Path, slow: bool) -> Command {
    let mut c = files();
    c.arg("upload")
        .arg(src)
        .arg(url)
        .args(["--part-size", "1MiB", "--concurrency", "1"]);
    if slow {
        c.args(["--bwlimit", "3MiB"]);
    }
    c.arg("--checkpoint").arg(cp).arg("--json");
    c
}

/// Starts a slow upload in a child and kills it (`SIGKILL`) once the checkpoint shows at least
/// 3 MiB confirmed; returns the bytes confirmed at that point.
fn crash_upload(src: &Path, url: &str, cp: &Path, size: u64) -> u64 {
    let crash = kill_when_loaded(
        || {
            let mut c = upload_cmd(src, url, cp, true);
            c.stdout(Stdio::null()).stderr(Stdio::null());
            c
        },
        cp,
        3 * MIB,
    )
    .unwrap();
    assert!(!crash.status.success());
    assert!(crash.token.loaded >= 3 * MIB);
    assert!(
        crash.token.loaded < size,
        "the upload finished before the kill"
    );
    crash.token.loaded
}

#[test]
fn crash_then_resume_in_a_new_process() {
    let server = require_server!(own_apache_or_skip());
    let dir = tempfile::tempdir().unwrap();
    let size: u64 = 12 * MIB + 12_345;
    let src = dir.path().join("big.bin");
    write_random_file(&src, size, 42).unwrap();
    let key = "dir/sub/big.bin";
    let url = dav_url(&server, key);
    let cp = dir.path().join("big.upload.json");

    let loaded = crash_upload(&src, &url, &cp, size);
    // The part file survives on the server; nothing is at the key yet.
    let part = server.path_of(&format!("{key}.fls-part"));
    let held = std::fs::metadata(&part)
        .expect("the part file exists")
        .len();
    assert!(
        held >= loaded && held < size,
        "part file {held}, loaded {loaded}"
    );
    assert!(server.stored(key).is_none());
    assert_no_secret("the checkpoint", &std::fs::read_to_string(&cp).unwrap());
    assert_no_secret(
        "the sidecar",
        &std::fs::read_to_string(sidecar(&cp)).unwrap(),
    );
    let token = read_checkpoint(&cp).unwrap();
    assert_eq!(token.key, key);
    assert_eq!(token.provider, "webdav");

    let o = ok(upload_cmd(&src, &url, &cp, false).output().unwrap());
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
    assert!(!cp.exists() && !sidecar(&cp).exists());

    // Server side: exactly the source, and no part file left.
    let stored = server.stored(key).expect("the object exists");
    assert_eq!(sha256_bytes(&stored), sha256_file(&src).unwrap());
    assert!(!part.exists());
    assert!(
        server.all_leftovers().is_empty(),
        "{:?}",
        server.all_leftovers()
    );

    // And back through the CLI.
    let back = dir.path().join("back.bin");
    ok(files()
        .args(["download", &url, &s(&back)])
        .output()
        .unwrap());
    assert_eq!(sha256_file(&src).unwrap(), sha256_file(&back).unwrap());
}

#[test]
fn abort_deletes_the_part_file() {
    let server = require_server!(own_apache_or_skip());
    let dir = tempfile::tempdir().unwrap();
    let size: u64 = 10 * MIB + 7;
    let src = dir.path().join("big.bin");
    write_random_file(&src, size, 3).unwrap();
    let key = "big.bin";
    let url = dav_url(&server, key);
    let cp = dir.path().join("cp.json");

    crash_upload(&src, &url, &cp, size);
    let part = server.path_of(&format!("{key}.fls-part"));
    assert!(part.exists());
    // The sidecar holds the URL without its user info: the user comes from the environment.
    let o = ok(files()
        .env("FILES_WEBDAV_USER", DAV_USER)
        .args(["abort", "--checkpoint", &s(&cp)])
        .output()
        .unwrap());
    assert!(stderr(&o).contains("aborted"), "{}", stderr(&o));
    assert_no_secret("stderr", &stderr(&o));
    assert!(!cp.exists() && !sidecar(&cp).exists());
    assert!(!part.exists(), "abort leaves no part file");
    assert!(server.stored(key).is_none());
    assert!(
        server.all_leftovers().is_empty(),
        "{:?}",
        server.all_leftovers()
    );
}

#[test]
fn wrong_password_is_a_clear_error() {
    let server = require_server!(own_apache_or_skip());
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("small.txt");
    std::fs::write(&src, b"hello").unwrap();
    let o: Output = files()
        .env("FILES_WEBDAV_PASSWORD", "not-the-password")
        .args(["upload", &s(&src), &dav_url(&server, "small.txt")])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("unauthorized"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");
    assert!(server.stored("small.txt").is_none());
}
