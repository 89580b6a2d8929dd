//! End-to-end tests of the `files` binary against Debian's OpenSSH `sshd` (started by the test
//! harness; see `files_testkit::sshd`). Run with
//! `cargo nextest run -p files-cli --test suites sftp::`.
//!
//! The child processes get the test user, its password and the `known_hosts` file through
//! environment variables (`FILES_SFTP_USER`, `FILES_SFTP_PASSWORD`, `FILES_SFTP_KNOWN_HOSTS`),
//! never on the command line. What landed is checked on the server's disk (the part file and
//! the object, byte for byte). The seeded crash, Ctrl-C and abort matrix is in
//! `crash_matrix.rs` (`sftp_*`).
#![cfg(feature = "sftp")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use files_testkit::require_server;
use files_testkit::sshd::{SFTP_PASSWORD, SFTP_USER, SshServer, sshd_or_skip};

use crate::common;
use common::crash::{self, Upload};
use common::stores::{self, Store};
use common::{json_line, ok, s, sidecar, stderr, stdout};

fn files(sshd: &SshServer) -> Command {
    stores::sftp_files(sshd)
}

fn run(sshd: &SshServer, args: &[&str]) -> Output {
    files(sshd).args(args).output().expect("run files")
}

fn sftp_url(sshd: &SshServer, root: &str, key: &str) -> String {
    stores::sftp_url(sshd, root, key)
}

#[track_caller]
fn assert_no_secret(what: &str, text: &str) {
    assert!(
        !text.contains(SFTP_PASSWORD),
        "{what} holds the password: {text}"
    );
}

#[test]
fn abort_deletes_the_part_file_and_prunes_its_directory() {
    let store = require_server!(stores::sftp("cli-abort"));
    let base = tempfile::tempdir().unwrap();
    let sh = store.shape();
    let up = Upload::new(&store, base.path(), "a/big.bin", 3 * sh.part_size + 7, 3);
    let part = PathBuf::from(format!("{}/a/big.bin.fls-part", store.root()));

    up.crash_at(sh.part_size);
    assert!(part.exists());
    let o = crash::abort(&up);
    assert!(stderr(&o).contains("aborted"), "{}", stderr(&o));
    assert!(!up.cp.exists() && !sidecar(&up.cp).exists());
    assert!(!part.exists(), "the part file survived the abort");
    up.assert_no_leftovers();
    assert_eq!(store.stored("a/big.bin"), None);
    // The emptied directory is pruned too.
    assert!(!Path::new(&format!("{}/a", store.root())).exists());
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
