//! End-to-end tests of the `files` binary against real FTP daemons (pyftpdlib and vsftpd,
//! started by the test harness; see `files_testkit::ftpd`). Run with
//! `cargo nextest run -p files-cli --test suites ftp::`.
//!
//! The child processes get the user and password through `FILES_FTP_USER` /
//! `FILES_FTP_PASSWORD`, never on the command line. What landed is checked on the server's disk
//! (the part file and the object), not through the adapter. The crash tests here run once per
//! daemon; the seeded matrix (pyftpdlib) is in `crash_matrix.rs` (`ftp_*`).
#![cfg(feature = "ftp")]

use std::process::{Command, Output};

use files_testkit::ftpd::{self, FtpServer};

use crate::common;
use common::crash::{self, Upload};
use common::stores::{self, Store};
use common::{json_line, ok, s, sidecar, stderr, stdout};

fn files(server: &FtpServer) -> Command {
    stores::ftp_files(server)
}

fn url(server: &FtpServer, root: &str, key: &str) -> String {
    stores::ftp_url(server, root, key)
}

fn servers() -> Vec<&'static FtpServer> {
    let mut out = Vec::new();
    out.extend(ftpd::pyftpdlib_or_skip());
    out.extend(ftpd::vsftpd_or_skip());
    out.extend(ftpd::vsftpd_tls_or_skip());
    out
}

/// One crash and resume per daemon (the seeded matrix runs pyftpdlib only): the part file
/// survives the kill on the server, the resume starts at or past the checkpoint and stores
/// exactly the source.
#[test]
fn crash_then_resume_in_a_new_process() {
    for server in servers() {
        let store = stores::ftp(server, "cli-crash");
        let base = tempfile::tempdir().unwrap();
        let sh = store.shape();
        let key = "dir/big.bin";
        let up = Upload::new(&store, base.path(), key, 3 * sh.part_size + 4321, 42);
        let token = up.crash_at(sh.part_size);
        let part = store.disk().join("dir/big.bin.fls-part");
        assert!(part.exists(), "{server:?}: no part file after the crash");
        assert!(std::fs::metadata(&part).unwrap().len() >= token.loaded);
        assert_eq!(store.stored(key), None);

        let j = up.finish();
        assert_eq!(j["resumed"], true, "{server:?}: {j}");
        let resumed = j["bytes_resumed"].as_u64().unwrap();
        assert!(resumed >= token.loaded, "{server:?}: {j}");
        assert_eq!(resumed + j["bytes_sent"].as_u64().unwrap(), up.size, "{j}");
        up.assert_stored();
        up.assert_no_leftovers();
    }
}

#[test]
fn abort_removes_the_part_file() {
    for server in servers() {
        let store = stores::ftp(server, "cli-abort");
        let base = tempfile::tempdir().unwrap();
        let sh = store.shape();
        let up = Upload::new(&store, base.path(), "big.bin", 3 * sh.part_size + 7, 3);
        up.crash_at(sh.part_size);
        assert!(!store.leftovers("big.bin").is_empty());
        let o = crash::abort(&up);
        assert!(stderr(&o).contains("aborted"), "{}", stderr(&o));
        assert!(!up.cp.exists() && !sidecar(&up.cp).exists());
        up.assert_no_leftovers();
        assert_eq!(store.stored("big.bin"), None, "{server:?}");
    }
}

#[test]
fn small_objects_round_trip_through_ftp_urls() {
    let Some(server) = ftpd::pyftpdlib_or_skip() else {
        return;
    };
    let root = server.new_root("cli-small");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("note.txt");
    std::fs::write(&src, b"hello, ftp").unwrap();
    let u = url(server, &root, "notes/note.txt");
    let run = |args: &[&str]| -> Output { files(server).args(args).output().unwrap() };

    let j = json_line(&ok(run(&["upload", &s(&src), &u, "--json"])));
    assert_eq!(j["size"], 10);
    assert_eq!(
        std::fs::read(server.dir().join(&root).join("notes/note.txt")).unwrap(),
        b"hello, ftp"
    );
    let o = ok(run(&["download", &u, "-"]));
    assert_eq!(o.stdout, b"hello, ftp");
    let copy = url(server, &root, "notes/copy.txt");
    ok(run(&["cp", &u, &copy]));
    let o = ok(run(&["ls", &url(server, &root, "notes/")]));
    let listing = stdout(&o);
    assert!(
        listing.contains("note.txt") && listing.contains("copy.txt"),
        "{listing}"
    );
    ok(run(&["rm", &copy]));
    assert!(!server.dir().join(&root).join("notes/copy.txt").exists());

    // A wrong password is an authentication error, and never printed.
    let o = files(server)
        .env("FILES_FTP_PASSWORD", "wrong-pw-for-cli")
        .args(["download", &u, "-"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("unauthorized"), "{err}");
    assert!(!err.contains("wrong-pw-for-cli"), "{err}");
}
