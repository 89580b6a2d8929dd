//! End-to-end tests of the `files` binary against real FTP daemons (pyftpdlib and vsftpd,
//! started by the test harness; see `files_testkit::ftpd`). Run with
//! `cargo test -p files-cli --features ftp --test ftp`.
//!
//! The child processes get the user and password through `FILES_FTP_USER` /
//! `FILES_FTP_PASSWORD`, never on the command line. What landed is checked on the server's disk
//! (the part file and the object), not through the adapter. None asserts on timing: the crash
//! tests wait for the checkpoint to show progress, then `kill -9` the child.
#![cfg(feature = "ftp")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use files_testkit::crash::{kill_when_loaded, read_checkpoint, sha256_file, write_random_file};
use files_testkit::ftpd::{self, FTP_PASSWORD, FtpServer};

mod common;
use common::{json_line, ok, s, stderr, stdout};

const MIB: u64 = 1 << 20;

/// The `files` binary with the server's user and password in its environment.
fn files(server: &FtpServer) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_files"));
    c.env_remove("FILES_LOG")
        .env("FILES_FTP_USER", server.user())
        .env("FILES_FTP_PASSWORD", server.password())
        .stdin(Stdio::null());
    c
}

/// `ftp(s)://127.0.0.1:PORT/<root>/<key>?root=<root>[&ca=...]`: no credential in it.
fn url(server: &FtpServer, root: &str, key: &str) -> String {
    let scheme = if server.tls() { "ftps" } else { "ftp" };
    let mut u = format!(
        "{scheme}://127.0.0.1:{}/{root}/{key}?root={root}",
        server.port()
    );
    if let Some(ca) = server.ca_file() {
        u.push_str(&format!("&ca={}", ca.display()));
    }
    u
}

fn sidecar(cp: &Path) -> PathBuf {
    PathBuf::from(format!("{}.dest", cp.display()))
}

#[track_caller]
fn assert_no_secret(what: &str, text: &str) {
    assert!(
        !text.contains(FTP_PASSWORD),
        "{what} holds the password: {text}"
    );
}

/// 1 MiB chunks, rate-limited, so that a kill lands mid-upload.
fn slow_upload(server: &FtpServer, src: &Path, url: &str, cp: &Path) -> Command {
    let mut c = files(server);
    c.arg("upload")
        .arg(src)
        .arg(url)
        .args(["--part-size", "1MiB", "--bwlimit", "3MiB", "--checkpoint"])
        .arg(cp)
        .arg("--json");
    c
}

fn fast_upload(server: &FtpServer, src: &Path, url: &str, cp: &Path) -> Command {
    let mut c = files(server);
    c.arg("upload")
        .arg(src)
        .arg(url)
        .args(["--part-size", "1MiB", "--checkpoint"])
        .arg(cp)
        .arg("--json");
    c
}

/// Starts `slow_upload` and kills it (`SIGKILL`) once the checkpoint shows 2 MiB confirmed.
fn crash_upload(server: &FtpServer, src: &Path, url: &str, cp: &Path, size: u64) -> u64 {
    let crash = kill_when_loaded(
        || {
            let mut c = slow_upload(server, src, url, cp);
            c.stdout(Stdio::null()).stderr(Stdio::null());
            c
        },
        cp,
        2 * MIB,
    )
    .unwrap();
    assert!(!crash.status.success());
    assert!(crash.token.loaded >= 2 * MIB);
    assert!(
        crash.token.loaded < size,
        "the upload finished before the kill"
    );
    crash.token.loaded
}

fn servers() -> Vec<&'static FtpServer> {
    let mut out = Vec::new();
    out.extend(ftpd::pyftpdlib_or_skip());
    out.extend(ftpd::vsftpd_or_skip());
    out.extend(ftpd::vsftpd_tls_or_skip());
    out
}

#[test]
fn crash_then_resume_in_a_new_process() {
    for server in servers() {
        let root = server.new_root("cli-crash");
        let dir = tempfile::tempdir().unwrap();
        let size: u64 = 9 * MIB + 4321;
        let src = dir.path().join("big.bin");
        write_random_file(&src, size, 42).unwrap();
        let key = "dir/big.bin";
        let u = url(server, &root, key);
        let cp = dir.path().join("big.upload.json");
        let on_disk = server.dir().join(&root).join(key);
        let part = server.dir().join(&root).join("dir/big.bin.fls-part");

        let loaded = crash_upload(server, &src, &u, &cp, size);
        // The part file survives the crash on the server; the object is not visible yet.
        assert!(part.exists(), "{server:?}: no part file after the crash");
        assert!(std::fs::metadata(&part).unwrap().len() >= loaded);
        assert!(!on_disk.exists());
        assert_no_secret("the checkpoint", &std::fs::read_to_string(&cp).unwrap());
        assert_no_secret(
            "the sidecar",
            &std::fs::read_to_string(sidecar(&cp)).unwrap(),
        );
        let token = read_checkpoint(&cp).unwrap();
        assert_eq!(token.key, key);

        let o = ok(fast_upload(server, &src, &u, &cp).output().unwrap());
        assert_no_secret("stdout", &stdout(&o));
        assert_no_secret("stderr", &stderr(&o));
        let j = json_line(&o);
        assert_eq!(j["size"], size);
        assert_eq!(j["resumed"], true, "{j}");
        let resumed = j["bytes_resumed"].as_u64().unwrap();
        let sent = j["bytes_sent"].as_u64().unwrap();
        assert!(resumed >= loaded, "{j}");
        assert_eq!(resumed + sent, size, "{j}");
        assert!(!cp.exists() && !sidecar(&cp).exists());
        assert!(!part.exists(), "the part file is renamed into place");
        assert_eq!(sha256_file(&on_disk).unwrap(), sha256_file(&src).unwrap());

        // And back through the CLI.
        let back = dir.path().join("back.bin");
        ok(files(server)
            .args(["download", &u, &s(&back)])
            .output()
            .unwrap());
        assert_eq!(sha256_file(&src).unwrap(), sha256_file(&back).unwrap());
    }
}

#[test]
fn abort_removes_the_part_file() {
    for server in servers() {
        let root = server.new_root("cli-abort");
        let dir = tempfile::tempdir().unwrap();
        let size: u64 = 8 * MIB + 7;
        let src = dir.path().join("big.bin");
        write_random_file(&src, size, 3).unwrap();
        let key = "big.bin";
        let u = url(server, &root, key);
        let cp = dir.path().join("cp.json");
        let part = server.dir().join(&root).join("big.bin.fls-part");

        crash_upload(server, &src, &u, &cp, size);
        assert!(part.exists());
        let o = ok(files(server)
            .args(["abort", "--checkpoint", &s(&cp)])
            .output()
            .unwrap());
        assert!(stderr(&o).contains("aborted"), "{}", stderr(&o));
        assert_no_secret("stderr", &stderr(&o));
        assert!(!cp.exists() && !sidecar(&cp).exists());
        assert!(!part.exists(), "{server:?}: abort left the part file");
        assert!(!server.dir().join(&root).join(key).exists());
        assert!(server.part_files(&root).is_empty());
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
