//! End-to-end tests of the `files` binary against a local S3 server (moto, started by the test
//! harness; see `files_testkit::servers`).
//!
//! The child processes get the fake test credentials through the standard AWS environment
//! variables, never on the command line. What landed is checked on the server side (the
//! object's bytes and ListMultipartUploads asked of moto directly, not through the adapter).
//! The crash, Ctrl-C, abort and session-expired tests are in `crash_matrix.rs` (`s3_*`).

#![cfg(feature = "s3")]

use std::process::Output;

use files_testkit::require_server;
use files_testkit::servers::{ACCESS_KEY_ID, SECRET_ACCESS_KEY, moto_or_skip};

use crate::common;
use common::stores::{s3_files, s3_url};
use common::{json_line, ok, s, stdout};

fn run(args: &[&str]) -> Output {
    s3_files().args(args).output().expect("run files")
}

/// Asserts that nothing the CLI leaves on disk or prints holds a credential.
#[track_caller]
fn assert_no_secret(what: &str, text: &str) {
    for secret in [SECRET_ACCESS_KEY, ACCESS_KEY_ID] {
        assert!(!text.contains(secret), "{what} holds a credential: {text}");
    }
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

/// A download killed half-way continues in a new process from its partial file (moto's ETag
/// vouches that the object is the same), and its record holds no credential; after the object
/// is replaced, the partial is not continued.
#[test]
fn a_killed_s3_download_continues_and_a_replaced_object_starts_over() {
    use files_testkit::crash::{sha256_bytes, sha256_file, write_random_file};
    let moto = require_server!(moto_or_skip());
    let bucket = moto.new_bucket("cli-get").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big.bin");
    write_random_file(&src, (12 << 20) + 999, 31).unwrap();
    let url = s3_url(moto, &bucket, "big.bin");
    ok(run(&["upload", &s(&src), &url]));

    let out = dir.path().join("out.bin");
    let data = dir.path().join(".out.bin.fls-download");
    let record = dir.path().join(".out.bin.fls-download.json");
    let kill_at = |min: u64| {
        let mut child = s3_files()
            .args(["download", &url, &s(&out), "--bwlimit", "4MiB"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        while std::fs::metadata(&data).map(|m| m.len()).unwrap_or(0) < min {
            assert!(child.try_wait().unwrap().is_none(), "ended early");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.kill().unwrap();
        child.wait().unwrap();
    };

    kill_at(1 << 20);
    assert_no_secret("the record", &std::fs::read_to_string(&record).unwrap());
    let o = ok(run(&["download", &url, &s(&out)]));
    let err = common::stderr(&o);
    assert!(err.contains("resumed: "), "{err}");
    assert_eq!(sha256_file(&out).unwrap(), sha256_file(&src).unwrap());
    assert!(!data.exists() && !record.exists());

    std::fs::remove_file(&out).unwrap();
    kill_at(1 << 20);
    let replacement = dir.path().join("new.bin");
    write_random_file(&replacement, 12 << 20, 32).unwrap();
    ok(run(&["upload", &s(&replacement), &url]));
    let o = ok(run(&["download", &url, &s(&out)]));
    let err = common::stderr(&o);
    assert!(err.contains("changed") && !err.contains("resumed"), "{err}");
    let stored = moto.get_object(&bucket, "big.bin").unwrap().unwrap();
    assert_eq!(sha256_file(&out).unwrap(), sha256_bytes(&stored));
    assert_eq!(
        sha256_file(&out).unwrap(),
        sha256_file(&replacement).unwrap()
    );
}
