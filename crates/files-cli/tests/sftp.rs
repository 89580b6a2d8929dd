//! End-to-end tests of the `files` binary against Debian's OpenSSH `sshd` (started by the test
//! harness; see `files_testkit::sshd`). Run with
//! `cargo test -p files-cli --features sftp --test sftp`.
//!
//! The child processes get the test user, its password and the `known_hosts` file through
//! environment variables (`FILES_SFTP_USER`, `FILES_SFTP_PASSWORD`, `FILES_SFTP_KNOWN_HOSTS`),
//! never on the command line. What landed is checked on the server's disk (the part file and
//! the object, byte for byte). None asserts on timing: the crash tests wait for the checkpoint
//! to show progress, then act.
#![cfg(feature = "sftp")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use files_testkit::crash::{kill_when_loaded, read_checkpoint, sha256_file, write_random_file};
use files_testkit::require_server;
use files_testkit::sshd::{SFTP_PASSWORD, SFTP_USER, SshServer, sshd_or_skip};

mod common;
use common::{json_line, ok, s, stderr, stdout};

const MIB: u64 = 1 << 20;

/// The `files` binary with the SFTP login in its environment.
fn files(sshd: &SshServer) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_files"));
    c.env_remove("FILES_LOG")
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("FILES_SFTP_KEY")
        .env("FILES_SFTP_USER", SFTP_USER)
        .env("FILES_SFTP_PASSWORD", SFTP_PASSWORD)
        .env("FILES_SFTP_KNOWN_HOSTS", sshd.known_hosts_path())
        .stdin(Stdio::null());
    c
}

fn run(sshd: &SshServer, args: &[&str]) -> Output {
    files(sshd).args(args).output().expect("run files")
}

fn sidecar(cp: &Path) -> PathBuf {
    PathBuf::from(format!("{}.dest", cp.display()))
}

/// The `sftp://` URL of `key` under `root` on the test server (no password in it).
fn sftp_url(sshd: &SshServer, root: &str, key: &str) -> String {
    format!(
        "sftp://{SFTP_USER}@127.0.0.1:{}{root}/{key}?root={root}",
        sshd.port()
    )
}

#[track_caller]
fn assert_no_secret(what: &str, text: &str) {
    assert!(
        !text.contains(SFTP_PASSWORD),
        "{what} holds the password: {text}"
    );
}

/// A rate-limited upload in 1 MiB chunks, so that a kill lands mid-way.
fn slow_upload(sshd: &SshServer, src: &Path, url: &str, cp: &Path) -> Command {
    let mut c = files(sshd);
    c.arg("upload")
        .arg(src)
        .arg(url)
        .args([
            "--part-size",
            "1MiB",
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

fn fast_upload(sshd: &SshServer, src: &Path, url: &str, cp: &Path) -> Command {
    let mut c = files(sshd);
    c.arg("upload")
        .arg(src)
        .arg(url)
        .args(["--part-size", "1MiB", "--checkpoint"])
        .arg(cp)
        .arg("--json");
    c
}

/// Runs `slow_upload` in a child and kills it (`SIGKILL`) once the checkpoint shows at least
/// 3 MiB confirmed; returns the bytes confirmed then.
fn crash_upload(sshd: &SshServer, src: &Path, url: &str, cp: &Path, size: u64) -> u64 {
    let crash = kill_when_loaded(
        || {
            let mut c = slow_upload(sshd, src, url, cp);
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
fn crash_then_resume_in_a_new_process_sends_only_the_missing_bytes() {
    let sshd = require_server!(sshd_or_skip());
    let root = sshd.new_root("cli-crash").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let size: u64 = 12 * MIB + 4321;
    let src = dir.path().join("big.bin");
    write_random_file(&src, size, 42).unwrap();
    let key = "dir/big.bin";
    let url = sftp_url(sshd, &root, key);
    let cp = dir.path().join("big.upload.json");
    let part = PathBuf::from(format!("{root}/{key}.fls-part"));
    let object = PathBuf::from(format!("{root}/{key}"));

    let loaded = crash_upload(sshd, &src, &url, &cp, size);
    // The part file survives the crash on the server, holding at least what was confirmed;
    // nothing is visible at the key yet.
    let on_server = std::fs::metadata(&part).expect("the part file").len();
    assert!(on_server >= loaded && on_server < size, "{on_server}");
    assert!(!object.exists());
    assert_no_secret("the checkpoint", &std::fs::read_to_string(&cp).unwrap());
    assert_no_secret(
        "the sidecar",
        &std::fs::read_to_string(sidecar(&cp)).unwrap(),
    );
    let token = read_checkpoint(&cp).unwrap();
    assert_eq!(token.key, key);

    let o = ok(fast_upload(sshd, &src, &url, &cp).output().unwrap());
    assert_no_secret("stdout", &stdout(&o));
    assert_no_secret("stderr", &stderr(&o));
    let j = json_line(&o);
    assert_eq!(j["size"], size);
    assert_eq!(j["resumed"], true);
    let resumed = j["bytes_resumed"].as_u64().unwrap();
    let sent = j["bytes_sent"].as_u64().unwrap();
    assert!(resumed >= loaded, "{j}");
    assert_eq!(
        resumed, on_server,
        "resume starts at the part file's size: {j}"
    );
    assert_eq!(resumed + sent, size, "{j}");
    assert!(!cp.exists() && !sidecar(&cp).exists());

    // Server side: exactly the source, and no part file left.
    assert_eq!(sha256_file(&object).unwrap(), sha256_file(&src).unwrap());
    assert!(!part.exists());

    // And back through the CLI.
    let back = dir.path().join("back.bin");
    ok(run(sshd, &["download", &url, &s(&back)]));
    assert_eq!(sha256_file(&src).unwrap(), sha256_file(&back).unwrap());
}

#[test]
fn abort_deletes_the_part_file() {
    let sshd = require_server!(sshd_or_skip());
    let root = sshd.new_root("cli-abort").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let size: u64 = 10 * MIB + 7;
    let src = dir.path().join("big.bin");
    write_random_file(&src, size, 3).unwrap();
    let key = "a/big.bin";
    let url = sftp_url(sshd, &root, key);
    let cp = dir.path().join("cp.json");
    let part = PathBuf::from(format!("{root}/{key}.fls-part"));

    crash_upload(sshd, &src, &url, &cp, size);
    assert!(part.exists());
    let o = ok(run(sshd, &["abort", "--checkpoint", &s(&cp)]));
    assert!(stderr(&o).contains("aborted"), "{}", stderr(&o));
    assert_no_secret("stderr", &stderr(&o));
    assert!(!cp.exists() && !sidecar(&cp).exists());
    assert!(!part.exists(), "the part file survived the abort");
    assert!(!Path::new(&format!("{root}/{key}")).exists());
    // The emptied directory is pruned too.
    assert!(!Path::new(&format!("{root}/a")).exists());
}

#[test]
fn small_objects_round_trip_and_a_password_in_the_url_stays_out_of_outputs() {
    let sshd = require_server!(sshd_or_skip());
    let root = sshd.new_root("cli-small").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("note.txt");
    std::fs::write(&src, b"hello, sftp").unwrap();
    let url = sftp_url(sshd, &root, "notes/note.txt");
    ok(run(sshd, &["upload", &s(&src), &url]));
    assert_eq!(
        std::fs::read(format!("{root}/notes/note.txt")).unwrap(),
        b"hello, sftp"
    );
    let o = ok(run(sshd, &["download", &url, "-"]));
    assert_eq!(o.stdout, b"hello, sftp");

    // curl-style user info: accepted, never echoed.
    let with_pw = format!(
        "sftp://{SFTP_USER}:{SFTP_PASSWORD}@127.0.0.1:{}{root}/notes/note.txt?root={root}",
        sshd.port()
    );
    let o = ok(files(sshd)
        .env_remove("FILES_SFTP_PASSWORD")
        .args(["stat", &with_pw, "--json"])
        .output()
        .unwrap());
    assert_eq!(json_line(&o)["size"], 11);
    assert_no_secret("stdout", &stdout(&o));
    let o = files(sshd)
        .env_remove("FILES_SFTP_PASSWORD")
        .args([
            "stat",
            &with_pw.replace("notes/note.txt", "notes/missing.txt"),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not_found"), "{}", stderr(&o));
    assert_no_secret("stderr", &stderr(&o));
}
