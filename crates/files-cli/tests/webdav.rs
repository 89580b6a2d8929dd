//! End-to-end tests of the `files` binary against Apache with `mod_dav_fs` (partial PUT), one
//! server per test (see `files_testkit::davd`). Run with
//! `cargo nextest run -p files-cli --test suites webdav::`.
//!
//! The children get the test user's password through `FILES_WEBDAV_PASSWORD`, never on the
//! command line. What landed is checked on the server's disk (the served directory), not
//! through the adapter. The crash, Ctrl-C and abort tests are in `crash_matrix.rs`
//! (`webdav_*`).
#![cfg(feature = "webdav")]

use std::process::Output;

use files_testkit::davd::own_apache_or_skip;
use files_testkit::require_server;

use crate::common;
use common::stores::{dav_files, dav_url};
use common::{s, stderr};

#[test]
fn wrong_password_is_a_clear_error() {
    let server = require_server!(own_apache_or_skip());
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("small.txt");
    std::fs::write(&src, b"hello").unwrap();
    let o: Output = dav_files()
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
