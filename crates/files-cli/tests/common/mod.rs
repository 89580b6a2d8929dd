//! Helpers shared by the CLI test binaries: output checks, and the crash scaffolding
//! ([`crash`]: kill a `files upload` child mid-way, resume it in a new process, check the
//! bytes and the bound on re-sent bytes) over every store the CLI reaches ([`stores`]: the
//! command's environment, URLs, and what the server holds, asked of the server directly).
#![allow(dead_code)]

pub mod crash;
pub mod stores;

use std::path::{Path, PathBuf};
use std::process::Output;

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
pub fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    o
}

pub fn s(p: &Path) -> String {
    p.to_str().expect("utf-8 temp path").to_string()
}

pub fn json_line(o: &Output) -> serde_json::Value {
    let text = stdout(o);
    let line = text.lines().last().expect("a JSON line on stdout");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The file next to a checkpoint that names the upload's destination (`<checkpoint>.dest`).
pub fn sidecar(cp: &Path) -> PathBuf {
    PathBuf::from(format!("{}.dest", cp.display()))
}
