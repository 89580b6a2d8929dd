//! Helpers shared by the CLI test binaries.
#![allow(dead_code)]

use std::path::Path;
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
