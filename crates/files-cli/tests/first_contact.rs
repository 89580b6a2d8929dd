//! What a new user meets first, with nothing configured: missing credentials (one line,
//! `unauthorized`, not retried, naming what to set), an unreachable endpoint (each retry shown
//! as it happens, then a clear error within `--retries`), `ls URL` and `ls URL/` listing the
//! same "directory" with names relative to it, a bad Azure container name, and `--json` on
//! every command.
//!
//! Nothing here asserts on wall time: "not retried" is the count of retry lines, which the
//! CLI prints when stderr is a terminal (forced with `FILES_PROGRESS=always`) or with `-v`.

use std::path::Path;
use std::process::{Command, Output};

use crate::common;
use common::stores::files_bin;
use common::{json_line, ok, s, stderr, stdout};

/// The `files` binary with an empty environment: no credentials, no configuration files
/// (HOME is an empty directory), retry lines forced on.
fn bare(home: &Path) -> Command {
    let mut c = files_bin();
    c.env_clear()
        .env("HOME", home)
        .env("PATH", "/usr/bin:/bin")
        .env("FILES_PROGRESS", "always");
    c
}

fn retry_lines(o: &Output) -> Vec<String> {
    stderr(o)
        .lines()
        .filter(|l| l.starts_with("retry "))
        .map(str::to_string)
        .collect()
}

/// The one line on stderr, asserting there is exactly one and the command failed.
#[track_caller]
fn one_error_line(o: &Output) -> String {
    assert!(!o.status.success(), "succeeded: {}", stdout(o));
    let text = stderr(o);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "not one line on stderr:\n{text}");
    assert!(lines[0].starts_with("error: "), "{text}");
    lines[0].to_string()
}

#[cfg(feature = "s3")]
#[test]
fn s3_without_credentials_is_one_unauthorized_line_naming_what_to_set() {
    let home = tempfile::tempdir().unwrap();
    let o = bare(home.path())
        .args(["ls", "s3://files-first-contact-bucket/"])
        .output()
        .unwrap();
    assert!(retry_lines(&o).is_empty(), "retried:\n{}", stderr(&o));
    let line = one_error_line(&o);
    assert!(line.starts_with("error: unauthorized: "), "{line}");
    assert!(line.contains("no AWS credentials"), "{line}");
    for what in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "sso",
    ] {
        assert!(line.contains(what), "{what} not named: {line}");
    }
    // The SDK's own credential-chain chatter stays quiet (it is FILES_LOG's to turn on).
    assert!(!stderr(&o).contains("WARN"), "{}", stderr(&o));
}

/// On a Google Cloud machine the metadata server may hold credentials: nothing to test.
#[cfg(any(feature = "gdrive", feature = "gcs"))]
fn on_google_cloud() -> bool {
    [
        "/sys/class/dmi/id/product_name",
        "/sys/class/dmi/id/bios_vendor",
    ]
    .iter()
    .any(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("Google")))
}

#[cfg(feature = "gdrive")]
#[test]
fn gdrive_without_credentials_is_unauthorized_and_not_retried() {
    if on_google_cloud() {
        eprintln!("skipped: on Google Cloud, the metadata server may answer");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let o = bare(home.path())
        .args(["ls", "gdrive://root/"])
        .output()
        .unwrap();
    assert!(retry_lines(&o).is_empty(), "retried:\n{}", stderr(&o));
    let line = one_error_line(&o);
    assert!(line.starts_with("error: unauthorized: "), "{line}");
    assert!(
        line.contains("GDRIVE_ACCESS_TOKEN") && line.contains("GOOGLE_APPLICATION_CREDENTIALS"),
        "{line}"
    );
}

#[cfg(feature = "gcs")]
#[test]
fn gcs_without_credentials_is_unauthorized_and_not_retried() {
    if on_google_cloud() {
        eprintln!("skipped: on Google Cloud, the metadata server may answer");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let o = bare(home.path())
        .args(["ls", "gs://files-first-contact/"])
        .output()
        .unwrap();
    assert!(retry_lines(&o).is_empty(), "retried:\n{}", stderr(&o));
    let line = one_error_line(&o);
    assert!(line.starts_with("error: unauthorized: "), "{line}");
    assert!(line.contains("GCS_ACCESS_TOKEN"), "{line}");
}

/// A loopback port nothing listens on (bound, then closed).
#[cfg(feature = "webdav")]
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[cfg(feature = "webdav")]
#[test]
fn an_unreachable_endpoint_shows_each_retry_then_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let url = format!("webdav://127.0.0.1:{}/x/", closed_port());
    let args = ["ls", &url, "--retries", "2", "--timeout", "2s"];

    // stderr "a terminal" (forced): every retry shows, with its attempt, wait and cause.
    let o = bare(home.path()).args(args).output().unwrap();
    let text = stderr(&o);
    let retries = retry_lines(&o);
    assert_eq!(retries.len(), 2, "{text}");
    assert!(retries[0].starts_with("retry 1/2 in "), "{text}");
    assert!(retries[1].starts_with("retry 2/2 in "), "{text}");
    for r in &retries {
        assert!(r.contains(" ms: ") || r.contains(" s: "), "no wait: {r}");
        assert!(r.to_lowercase().contains("refused"), "no cause: {r}");
    }
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("error: transient: "), "{text}");
    assert!(last.to_lowercase().contains("refused"), "{text}");
    assert!(last.contains("gave up after 2 retries"), "{text}");
    assert_eq!(text.lines().count(), 3, "{text}");

    // -v shows them when stderr is not a terminal too.
    let o = bare(home.path())
        .env("FILES_PROGRESS", "never")
        .args(args)
        .arg("-v")
        .output()
        .unwrap();
    assert_eq!(retry_lines(&o).len(), 2, "{}", stderr(&o));

    // Neither: just the error line, which still says how many retries were made.
    let o = bare(home.path())
        .env("FILES_PROGRESS", "never")
        .args(args)
        .output()
        .unwrap();
    assert!(retry_lines(&o).is_empty(), "{}", stderr(&o));
    let line = one_error_line(&o);
    assert!(line.contains("gave up after 2 retries"), "{line}");

    // --retries 0: one attempt, no retry.
    let o = bare(home.path())
        .args(["ls", &url, "--retries", "0"])
        .output()
        .unwrap();
    assert!(retry_lines(&o).is_empty(), "{}", stderr(&o));
    let line = one_error_line(&o);
    assert!(line.starts_with("error: transient: "), "{line}");
}

#[cfg(feature = "azure")]
#[test]
fn a_bad_azure_container_name_is_named() {
    let home = tempfile::tempdir().unwrap();
    for url in ["az://c/", "az://c/key", "az://Bad_Name/"] {
        let o = bare(home.path()).args(["ls", url]).output().unwrap();
        let line = one_error_line(&o);
        assert!(line.starts_with("error: invalid_input: "), "{line}");
        assert!(line.contains("is not a valid container name"), "{line}");
        assert!(line.contains("3-63"), "{line}");
        assert!(!line.contains("names no object"), "{line}");
    }
}

/// The names `ls` printed (the last column of each line).
fn names(o: &Output) -> Vec<String> {
    stdout(o)
        .lines()
        .map(|l| l.rsplit("  ").next().unwrap().trim().to_string())
        .collect()
}

#[cfg(feature = "fs")]
#[test]
fn ls_with_and_without_a_trailing_slash_on_the_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("srv/store");
    std::fs::create_dir_all(store.join("sub")).unwrap();
    std::fs::write(store.join("b.txt"), b"bee").unwrap();
    std::fs::write(store.join("sub/c.txt"), b"sea").unwrap();
    let url = format!("file://{}", s(&store));
    let run = |args: &[&str]| ok(files_bin().args(args).output().unwrap());

    let with = run(&["ls", &format!("{url}/")]);
    let without = run(&["ls", &url]);
    assert_eq!(stdout(&with), stdout(&without));
    assert_eq!(names(&with), ["b.txt", "sub/"], "{}", stdout(&with));
    // A local path, with and without the slash, the same.
    assert_eq!(stdout(&run(&["ls", &s(&store)])), stdout(&with));
    assert_eq!(
        stdout(&run(&["ls", &format!("{}/", s(&store))])),
        stdout(&with)
    );
    // Recursive: relative paths under the listed directory.
    let r = run(&["ls", "-r", &format!("{url}/")]);
    assert_eq!(names(&r), ["b.txt", "sub/c.txt"], "{}", stdout(&r));
    // A URL naming an object shows it, by its name.
    let one = run(&["ls", &format!("{url}/b.txt")]);
    assert_eq!(names(&one), ["b.txt"]);

    // --json: `name` relative, `url` a full URL that pastes back into the CLI.
    let j = run(&["ls", "-r", &url, "--json"]);
    let entries: Vec<serde_json::Value> = stdout(&j)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["name"], "sub/c.txt");
    assert_eq!(entries[1]["url"], format!("{url}/sub/c.txt"));
    let back = run(&["download", entries[1]["url"].as_str().unwrap(), "-"]);
    assert_eq!(back.stdout, b"sea");
    let j = run(&["ls", &url, "--json"]);
    let entries: Vec<serde_json::Value> = stdout(&j)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries[1]["name"], "sub/");
    assert_eq!(entries[1]["url"], format!("{url}/sub/"));
}

#[cfg(feature = "memory")]
#[test]
fn ls_with_and_without_a_trailing_slash_on_memory() {
    // The memory store lives in one process: each run's is empty, but every form lists.
    for url in [
        "memory://m",
        "memory://m/",
        "memory://m/dir",
        "memory://m/dir/",
        "memory://m/a/b/",
    ] {
        let o = ok(files_bin().args(["ls", url]).output().unwrap());
        assert_eq!(stdout(&o), "", "{url}");
        let o = ok(files_bin()
            .args(["ls", "-r", url, "--json"])
            .output()
            .unwrap());
        assert_eq!(stdout(&o), "", "{url}");
    }
}

#[cfg(feature = "sftp")]
#[test]
fn ls_with_and_without_a_trailing_slash_over_sftp() {
    use files_testkit::require_server;
    use files_testkit::sshd::SFTP_USER;
    let store = require_server!(common::stores::sftp("first-contact-ls"));
    let root = store.root().to_string();
    let dir = Path::new(&root).join("dir");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("a.txt"), b"a").unwrap();
    std::fs::write(dir.join("sub/b.txt"), b"b").unwrap();
    let sshd = files_testkit::sshd::sshd_or_skip().unwrap();
    let files = || common::stores::sftp_files(sshd);
    let base = format!("sftp://{SFTP_USER}@127.0.0.1:{}", sshd.port());

    // The URL's path from the server's `/` (the issue's `sftp://u@host/dir/`), and under a
    // `?root=`; each with and without the trailing slash.
    let forms = [
        format!("{base}{root}/dir/"),
        format!("{base}{root}/dir"),
        format!("{base}{root}/dir/?root={root}"),
        format!("{base}{root}/dir?root={root}"),
    ];
    let mut outputs = Vec::new();
    for url in &forms {
        let o = ok(files().args(["ls", url]).output().unwrap());
        assert_eq!(names(&o), ["a.txt", "sub/"], "{url}: {}", stdout(&o));
        outputs.push(stdout(&o));
    }
    assert!(outputs.windows(2).all(|w| w[0] == w[1]), "{outputs:?}");
    // The root itself (`?root=` equal to the path), with the slash.
    let o = ok(files()
        .args(["ls", &format!("{base}{root}/?root={root}")])
        .output()
        .unwrap());
    assert_eq!(names(&o), ["dir/"], "{}", stdout(&o));
    // Recursive, and the URLs of --json paste back.
    let o = ok(files()
        .args(["ls", "-r", &forms[0], "--json"])
        .output()
        .unwrap());
    let entries: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 2, "{}", stdout(&o));
    assert_eq!(entries[1]["name"], "sub/b.txt");
    let url = entries[1]["url"].as_str().unwrap();
    let back = ok(files().args(["download", url, "-"]).output().unwrap());
    assert_eq!(back.stdout, b"b");
}

#[cfg(feature = "fs")]
#[test]
fn json_on_download_cp_mv_rm() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::write(store.join("a.txt"), b"hello json").unwrap();
    let url = |k: &str| format!("file://{}/{k}", s(&store));
    let run = |args: &[&str]| ok(files_bin().args(args).output().unwrap());

    // download to a file: the JSON line on stdout.
    let out = dir.path().join("out.txt");
    let j = json_line(&run(&["download", &url("a.txt"), &s(&out), "--json"]));
    assert_eq!(j["op"], "download");
    assert_eq!(j["size"], 10);
    assert_eq!(j["bytes_resumed"], 0);
    assert_eq!(j["dest"], s(&out));
    assert_eq!(std::fs::read(&out).unwrap(), b"hello json");
    // download to stdout: the object on stdout, the JSON line on stderr.
    let o = run(&["download", &url("a.txt"), "-", "--json"]);
    assert_eq!(o.stdout, b"hello json");
    let j: serde_json::Value = serde_json::from_str(stderr(&o).lines().last().unwrap()).unwrap();
    assert_eq!(
        (j["op"].as_str(), j["size"].as_u64()),
        (Some("download"), Some(10))
    );

    // cp, mv, rm.
    let j = json_line(&run(&["cp", &url("a.txt"), &url("b.txt"), "--json"]));
    assert_eq!(j["op"], "cp");
    assert_eq!(j["size"], 10);
    assert_eq!(j["dest"], url("b.txt"));
    assert!(store.join("b.txt").exists());
    let j = json_line(&run(&["mv", &url("b.txt"), &url("c.txt"), "--json"]));
    assert_eq!(j["op"], "mv");
    assert_eq!(j["src"], url("b.txt"));
    assert_eq!(j["dest"], url("c.txt"));
    assert_eq!(j["size"], 10);
    assert!(!store.join("b.txt").exists() && store.join("c.txt").exists());
    let j = json_line(&run(&["rm", &url("c.txt"), "--json"]));
    assert_eq!(
        (j["op"].as_str(), j["deleted"].as_bool()),
        (Some("rm"), Some(true))
    );
    assert!(!store.join("c.txt").exists());
    let j = json_line(&run(&["rm", "--force", &url("c.txt"), "--json"]));
    assert_eq!(j["deleted"], false);
}

#[cfg(all(feature = "fs", feature = "memory"))]
#[test]
fn json_on_a_copy_across_stores() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), b"across").unwrap();
    let o = ok(files_bin()
        .args([
            "cp",
            &format!("file://{}/a.txt", s(dir.path())),
            "memory://m/x/a.txt",
            "--json",
        ])
        .output()
        .unwrap());
    let j = json_line(&o);
    assert_eq!(j["op"], "cp");
    assert_eq!(j["server_side"], false);
    assert_eq!(j["size"], 6);
    assert_eq!(j["key"], "x/a.txt");
}
