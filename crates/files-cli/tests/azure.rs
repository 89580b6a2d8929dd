//! End-to-end crash test of the `files` binary against Azurite (started by the test harness;
//! see `files_testkit::azurite`): an upload to an `az://` URL killed with `SIGKILL` mid-way,
//! resumed by a new process from its checkpoint, compared by SHA-256 on the server side.
//!
//! The child processes get the account key through `AZURE_STORAGE_KEY`, never on the command
//! line. Run with `cargo test -p files-cli --features azure --test azure --offline`.
#![cfg(feature = "azure")]

use std::path::Path;
use std::process::{Command, Stdio};

use files_testkit::azurite::{ACCOUNT, ACCOUNT_KEY, AzuriteServer, azurite_or_skip};
use files_testkit::crash::write_random_file;
use files_testkit::crash::{kill_when_loaded, read_checkpoint, sha256_bytes, sha256_file};
use files_testkit::require_server;

mod common;
use common::{json_line, ok, s, stderr, stdout};

const MIB: u64 = 1 << 20;

fn files() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_files"));
    c.env_remove("FILES_LOG")
        .env_remove("AZURE_STORAGE_CONNECTION_STRING")
        .env_remove("AZURE_STORAGE_SAS_TOKEN")
        .env("AZURE_STORAGE_ACCOUNT", ACCOUNT)
        .env("AZURE_STORAGE_KEY", ACCOUNT_KEY)
        .stdin(Stdio::null());
    c
}

fn az_url(az: &AzuriteServer, container: &str, key: &str) -> String {
    format!("az://{container}/{key}?endpoint={}", az.endpoint())
}

fn upload(src: &Path, url: &str, cp: &Path, slow: bool) -> Command {
    let mut c = files();
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
    let az = require_server!(azurite_or_skip());
    let container = az.new_container("cli-crash").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let size: u64 = 8 * MIB + 4321;
    let src = dir.path().join("big.bin");
    write_random_file(&src, size, 77).unwrap();
    let key = "dir/big.bin";
    let url = az_url(az, &container, key);
    let cp = dir.path().join("big.upload.json");

    let crash = kill_when_loaded(
        || {
            let mut c = upload(&src, &url, &cp, true);
            c.stdout(Stdio::null()).stderr(Stdio::null());
            c
        },
        &cp,
        2 * MIB,
    )
    .unwrap();
    assert!(!crash.status.success());
    assert!(crash.token.loaded >= 2 * MIB && crash.token.loaded < size);
    // The blocks survive the crash on the server; nothing is committed yet.
    let ours = format!("fls1-{}-", crash.token.session.id);
    let staged = az.uncommitted_blocks(&container, key).unwrap();
    assert!(
        staged
            .iter()
            .filter(|(id, _)| id.starts_with(&ours))
            .count()
            >= 3,
        "marker and at least two blocks: {staged:?}"
    );
    assert_eq!(az.get_blob(&container, key).unwrap(), None);
    let text = std::fs::read_to_string(&cp).unwrap();
    assert!(!text.contains(ACCOUNT_KEY), "the checkpoint holds the key");
    let token = read_checkpoint(&cp).unwrap();
    assert_eq!(token.key, key);

    let o = ok(upload(&src, &url, &cp, false).output().unwrap());
    assert!(!stdout(&o).contains(ACCOUNT_KEY) && !stderr(&o).contains(ACCOUNT_KEY));
    let j = json_line(&o);
    assert_eq!(j["size"], size);
    assert_eq!(j["resumed"], true);
    let resumed = j["bytes_resumed"].as_u64().unwrap();
    let sent = j["bytes_sent"].as_u64().unwrap();
    assert!(resumed >= crash.token.loaded, "{j}");
    assert_eq!(resumed + sent, size, "{j}");
    assert!(!cp.exists(), "the checkpoint is removed on success");

    let stored = az
        .get_blob(&container, key)
        .unwrap()
        .expect("the blob exists");
    assert_eq!(stored.len() as u64, size);
    assert_eq!(sha256_bytes(&stored), sha256_file(&src).unwrap());
    assert!(az.uncommitted_blocks(&container, key).unwrap().is_empty());

    let back = dir.path().join("back.bin");
    ok(files()
        .args(["download", &url, &s(&back)])
        .output()
        .unwrap());
    assert_eq!(sha256_file(&src).unwrap(), sha256_file(&back).unwrap());
}
