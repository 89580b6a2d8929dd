//! What a new user meets first, with nothing configured: missing credentials (one line,
//! `unauthorized`, not retried, naming what to set), wrong credentials (`unauthorized` after one
//! request), an unreachable endpoint (each retry shown as it happens, then a clear error within
//! `--retries`), `ls URL` and `ls URL/` listing the same "directory" with names relative to it,
//! for every provider of the default build (the matrix is below, one section per provider); a
//! bad Azure container name, and `--json` on every command.
//!
//! Servers: moto, sshd, pyftpdlib, Apache and Azurite through `files_testkit` (skipped without
//! them, started with `CI=true`); the fakes of `files-fakes` for GCS, Drive, OneDrive, Dropbox
//! and Box, in this process, whose request logs count the requests.
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
#[cfg(any(
    feature = "s3",
    feature = "sftp",
    feature = "ftp",
    feature = "webdav",
    feature = "azure",
    feature = "gcs",
    feature = "gdrive",
    feature = "onedrive",
    feature = "dropbox",
    feature = "box"
))]
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

// ------------------------------------------------------------- the matrix, provider by provider
//
// For each provider of the default build: missing credentials (one line, `unauthorized`, not
// retried, naming what to set), wrong credentials (`unauthorized`, one request where the server
// keeps a log, else no retry line), an unreachable endpoint (a closed loopback port: two retry
// lines under `--retries 2`, then one error line saying so), and `ls` with and without a
// trailing slash. fs and memory have no credentials and no endpoint: only `ls` applies (above).

/// `--retries 2 --timeout 2s`: the budget of the unreachable-endpoint cases.
#[cfg(any(
    feature = "s3",
    feature = "sftp",
    feature = "ftp",
    feature = "azure",
    feature = "gcs",
    feature = "gdrive",
    feature = "onedrive",
    feature = "dropbox",
    feature = "box"
))]
const BUDGET: [&str; 4] = ["--retries", "2", "--timeout", "2s"];

/// An unreachable endpoint under [`BUDGET`]: exactly two retry lines (`1/2`, `2/2`) naming the
/// refused connection, then one error line saying so and how many retries were made; exit 1.
/// Returns the error line.
#[cfg(any(
    feature = "s3",
    feature = "sftp",
    feature = "ftp",
    feature = "azure",
    feature = "gcs",
    feature = "gdrive",
    feature = "onedrive",
    feature = "dropbox",
    feature = "box"
))]
#[track_caller]
fn gave_up_after_two_retries(o: &Output) -> String {
    let text = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    let retries = retry_lines(o);
    assert_eq!(retries.len(), 2, "{text}");
    assert!(retries[0].starts_with("retry 1/2 in "), "{text}");
    assert!(retries[1].starts_with("retry 2/2 in "), "{text}");
    for r in &retries {
        assert!(r.to_lowercase().contains("refused"), "no cause: {r}");
    }
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 3, "not two retries and one error:\n{text}");
    let last = lines[2];
    assert!(last.starts_with("error: "), "{text}");
    assert!(last.to_lowercase().contains("refused"), "{text}");
    assert!(last.contains("gave up after 2 retries"), "{text}");
    last.to_string()
}

/// Refused credentials: one `unauthorized` line, no retry line, exit 1, the secret not echoed.
#[track_caller]
fn refused(o: &Output, secret: &str) -> String {
    assert_eq!(o.status.code(), Some(1), "{}", stderr(o));
    assert!(retry_lines(o).is_empty(), "retried:\n{}", stderr(o));
    let line = one_error_line(o);
    assert!(line.starts_with("error: unauthorized: "), "{line}");
    assert!(!stderr(o).contains(secret), "secret echoed: {}", stderr(o));
    line
}

/// `dir/a.txt` and `dir/sub/b.txt` uploaded through the CLI, then `ls` of `dir` and `dir/`
/// (plain and `-r`): the same listing, names relative to `dir`.
#[cfg(any(
    feature = "s3",
    feature = "ftp",
    feature = "webdav",
    feature = "azure",
    feature = "gcs",
    feature = "onedrive",
    feature = "dropbox",
    feature = "box"
))]
fn ls_both_ways(files: &dyn Fn() -> Command, url: &dyn Fn(&str) -> String) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("x.txt");
    std::fs::write(&src, b"x").unwrap();
    for key in ["dir/a.txt", "dir/sub/b.txt"] {
        ok(files()
            .args(["upload", &s(&src), &url(key)])
            .output()
            .unwrap());
    }
    assert_same_listing(files, &url("dir"), &url("dir/"));
}

/// `ls` of the two URLs lists `a.txt` and `sub/`, `ls -r` `a.txt` and `sub/b.txt`, the same for
/// both.
fn assert_same_listing(files: &dyn Fn() -> Command, without: &str, with: &str) {
    let ls = |args: &[&str]| ok(files().args(args).output().unwrap());
    let a = ls(&["ls", with]);
    let b = ls(&["ls", without]);
    assert_eq!(names(&a), ["a.txt", "sub/"], "{with}: {}", stdout(&a));
    assert_eq!(names(&b), ["a.txt", "sub/"], "{without}: {}", stdout(&b));
    assert_eq!(stdout(&a), stdout(&b));
    let a = ls(&["ls", "-r", with]);
    let b = ls(&["ls", "-r", without]);
    assert_eq!(names(&a), ["a.txt", "sub/b.txt"], "{with}: {}", stdout(&a));
    assert_eq!(stdout(&a), stdout(&b));
}

// ------------------------------------------------------------------------------------- S3

// S3 missing credentials: `s3_without_credentials_is_one_unauthorized_line_naming_what_to_set`.

/// A loopback HTTP server answering every request as S3 does an unknown access key (`403
/// InvalidAccessKeyId`), counting them: moto accepts any key pair (it checks no signature).
#[cfg(feature = "s3")]
fn s3_refusing_every_key() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    // The request line and headers, up to the empty line.
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    seen.fetch_add(1, Ordering::SeqCst);
                    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\
                        <Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you \
                        provided does not exist in our records.</Message>\
                        <RequestId>first-contact</RequestId></Error>";
                    let answer = format!(
                        "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\n\
                         x-amz-request-id: first-contact\r\nContent-Length: {}\r\n\r\n{xml}",
                        xml.len()
                    );
                    if conn.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (endpoint, count)
}

#[cfg(feature = "s3")]
#[test]
fn s3_wrong_credentials_are_unauthorized_in_one_request() {
    let (endpoint, requests) = s3_refusing_every_key();
    let home = tempfile::tempdir().unwrap();
    let url =
        format!("s3://files-first-contact/?endpoint={endpoint}&path_style=true&region=us-east-1");
    let o = bare(home.path())
        .env("AWS_ACCESS_KEY_ID", "AKIANOTAKEYATALL000")
        .env("AWS_SECRET_ACCESS_KEY", "not-the-s3-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["ls", &url, "--retries", "2"])
        .output()
        .unwrap();
    refused(&o, "not-the-s3-secret");
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[cfg(feature = "s3")]
#[test]
fn s3_unreachable_endpoint_retries_then_gives_up() {
    let home = tempfile::tempdir().unwrap();
    let url = format!(
        "s3://files-first-contact/?endpoint=http://127.0.0.1:{}&path_style=true&region=us-east-1",
        closed_port()
    );
    let o = bare(home.path())
        .env("AWS_ACCESS_KEY_ID", "AKIAFIRSTCONTACT")
        .env("AWS_SECRET_ACCESS_KEY", "first-contact-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["ls", &url])
        .args(BUDGET)
        .output()
        .unwrap();
    let line = gave_up_after_two_retries(&o);
    assert!(line.starts_with("error: transient: "), "{line}");
}

#[cfg(feature = "s3")]
#[test]
fn s3_ls_with_and_without_a_trailing_slash() {
    use common::stores::Store;
    let store = files_testkit::require_server!(common::stores::s3("first-contact-ls"));
    ls_both_ways(&|| store.files(), &|k| store.url(k));
}

// ------------------------------------------------------------------------------------ SFTP

#[cfg(feature = "sftp")]
#[test]
fn sftp_with_no_password_key_or_agent_is_unauthorized_and_not_retried() {
    // SFTP falls back to ssh-agent and ~/.ssh keys, so "missing" means none of them either (an
    // empty HOME, no SSH_AUTH_SOCK, no FILES_SFTP_PASSWORD or FILES_SFTP_KEY).
    use files_testkit::sshd::SFTP_USER;
    let sshd = files_testkit::require_server!(files_testkit::sshd::sshd_or_skip());
    let home = tempfile::tempdir().unwrap();
    let url = format!("sftp://{SFTP_USER}@127.0.0.1:{}/tmp/", sshd.port());
    let o = bare(home.path())
        .env("FILES_SFTP_KNOWN_HOSTS", sshd.known_hosts_path())
        .args(["ls", &url, "--retries", "2"])
        .output()
        .unwrap();
    let line = refused(&o, files_testkit::sshd::SFTP_PASSWORD);
    for what in ["FILES_SFTP_PASSWORD", "FILES_SFTP_KEY", "ssh-agent"] {
        assert!(line.contains(what), "{what} not named: {line}");
    }
}

#[cfg(feature = "sftp")]
#[test]
fn sftp_wrong_password_is_unauthorized_and_not_retried() {
    // sshd keeps no request log here: "one attempt" is the absence of retry lines.
    let store = files_testkit::require_server!(common::stores::sftp("first-contact-auth"));
    let sshd = files_testkit::sshd::sshd_or_skip().unwrap();
    let o = common::stores::sftp_files(sshd)
        .env("FILES_PROGRESS", "always")
        .env("FILES_SFTP_PASSWORD", "not-the-sftp-password")
        .args([
            "ls",
            &common::stores::sftp_url(sshd, store.root(), ""),
            "--retries",
            "2",
        ])
        .output()
        .unwrap();
    refused(&o, "not-the-sftp-password");
}

#[cfg(feature = "sftp")]
#[test]
fn sftp_unreachable_endpoint_retries_then_gives_up() {
    let home = tempfile::tempdir().unwrap();
    let url = format!("sftp://u@127.0.0.1:{}/x/", closed_port());
    let o = bare(home.path())
        .env("FILES_SFTP_PASSWORD", "p")
        .args(["ls", &url])
        .args(BUDGET)
        .output()
        .unwrap();
    let line = gave_up_after_two_retries(&o);
    assert!(line.starts_with("error: transient: "), "{line}");
}

// SFTP ls with and without a trailing slash: `ls_with_and_without_a_trailing_slash_over_sftp`.

// ------------------------------------------------------------------------------------- FTP

#[cfg(feature = "ftp")]
#[test]
fn ftp_without_credentials_is_unauthorized_and_not_retried() {
    // No user and no password is an anonymous login, which the test server refuses.
    let server = files_testkit::require_server!(files_testkit::ftpd::pyftpdlib_or_skip());
    let home = tempfile::tempdir().unwrap();
    let url = format!("ftp://127.0.0.1:{}/", server.port());
    let o = bare(home.path())
        .args(["ls", &url, "--retries", "2"])
        .output()
        .unwrap();
    let line = refused(&o, server.password());
    assert!(line.contains("FILES_FTP_USER"), "{line}");
    assert!(line.contains("FILES_FTP_PASSWORD"), "{line}");
}

#[cfg(feature = "ftp")]
#[test]
fn ftp_wrong_password_is_unauthorized_and_not_retried() {
    // pyftpdlib keeps no request log here: "one attempt" is the absence of retry lines.
    let server = files_testkit::require_server!(files_testkit::ftpd::pyftpdlib_or_skip());
    let store = common::stores::ftp(server, "first-contact-auth");
    let o = common::stores::ftp_files(server)
        .env("FILES_PROGRESS", "always")
        .env("FILES_FTP_PASSWORD", "not-the-ftp-password")
        .args([
            "ls",
            &common::stores::Store::url(&store, ""),
            "--retries",
            "2",
        ])
        .output()
        .unwrap();
    refused(&o, "not-the-ftp-password");
}

#[cfg(feature = "ftp")]
#[test]
fn ftp_unreachable_endpoint_retries_then_gives_up() {
    let home = tempfile::tempdir().unwrap();
    let url = format!("ftp://127.0.0.1:{}/x/", closed_port());
    let o = bare(home.path())
        .args(["ls", &url])
        .args(BUDGET)
        .output()
        .unwrap();
    gave_up_after_two_retries(&o);
}

#[cfg(feature = "ftp")]
#[test]
fn ftp_ls_with_and_without_a_trailing_slash() {
    use common::stores::Store;
    let server = files_testkit::require_server!(files_testkit::ftpd::pyftpdlib_or_skip());
    let store = common::stores::ftp(server, "first-contact-ls");
    ls_both_ways(&|| store.files(), &|k| store.url(k));
}

// ---------------------------------------------------------------------------------- WebDAV

#[cfg(feature = "webdav")]
#[test]
fn webdav_without_credentials_is_unauthorized_and_not_retried() {
    let server = files_testkit::require_server!(files_testkit::davd::own_apache_or_skip());
    let home = tempfile::tempdir().unwrap();
    let url = format!("webdav://127.0.0.1:{}/", server.port());
    let o = bare(home.path())
        .args(["ls", &url, "--retries", "2"])
        .output()
        .unwrap();
    let line = refused(&o, files_testkit::davd::DAV_PASSWORD);
    assert!(line.contains("FILES_WEBDAV_USER"), "{line}");
    assert!(line.contains("FILES_WEBDAV_PASSWORD"), "{line}");
}

#[cfg(feature = "webdav")]
#[test]
fn webdav_wrong_password_is_unauthorized_and_not_retried() {
    // Apache keeps no request log here: "one attempt" is the absence of retry lines.
    let server = files_testkit::require_server!(files_testkit::davd::own_apache_or_skip());
    let o = common::stores::dav_files()
        .env("FILES_PROGRESS", "always")
        .env("FILES_WEBDAV_PASSWORD", "not-the-dav-password")
        .args([
            "ls",
            &common::stores::dav_url(&server, ""),
            "--retries",
            "2",
        ])
        .output()
        .unwrap();
    refused(&o, "not-the-dav-password");
}

// WebDAV unreachable: `an_unreachable_endpoint_shows_each_retry_then_a_clear_error`.

#[cfg(feature = "webdav")]
#[test]
fn webdav_ls_with_and_without_a_trailing_slash() {
    use common::stores::Store;
    let store = files_testkit::require_server!(common::stores::webdav());
    ls_both_ways(&|| store.files(), &|k| store.url(k));
}

// ----------------------------------------------------------------------------------- Azure

#[cfg(feature = "azure")]
#[test]
fn azure_without_an_account_names_what_to_set() {
    // With no account, endpoint or connection string there is nothing to send a request to.
    let home = tempfile::tempdir().unwrap();
    let o = bare(home.path())
        .args(["ls", "az://files-first-contact/", "--retries", "2"])
        .output()
        .unwrap();
    assert!(retry_lines(&o).is_empty(), "retried:\n{}", stderr(&o));
    let line = one_error_line(&o);
    assert!(line.contains("AZURE_STORAGE_ACCOUNT"), "{line}");
    assert!(line.contains("connection string"), "{line}");
}

#[cfg(feature = "azure")]
#[test]
fn azure_without_a_key_is_unauthorized_and_not_retried() {
    // An account but no key is an anonymous request, which a private container refuses.
    use common::stores::Store;
    let store = files_testkit::require_server!(common::stores::azure("first-contact-anon"));
    let o = common::stores::az_files()
        .env_remove("AZURE_STORAGE_KEY")
        .env("FILES_PROGRESS", "always")
        .args(["ls", &store.url(""), "--retries", "2"])
        .output()
        .unwrap();
    let line = refused(&o, files_testkit::azurite::ACCOUNT_KEY);
    for what in [
        "AZURE_STORAGE_KEY",
        "AZURE_STORAGE_SAS_TOKEN",
        "AZURE_STORAGE_CONNECTION_STRING",
    ] {
        assert!(line.contains(what), "{what} not named: {line}");
    }
}

#[cfg(feature = "azure")]
#[test]
fn azure_wrong_key_is_unauthorized_and_not_retried() {
    // Azurite keeps no request log here: "one attempt" is the absence of retry lines.
    use common::stores::Store;
    let store = files_testkit::require_server!(common::stores::azure("first-contact-auth"));
    // Valid base64, not the account's key.
    let wrong = "bm90LXRoZS1henVyaXRlLWFjY291bnQta2V5LWF0LWFsbA==";
    let o = common::stores::az_files()
        .env("AZURE_STORAGE_KEY", wrong)
        .env("FILES_PROGRESS", "always")
        .args(["ls", &store.url(""), "--retries", "2"])
        .output()
        .unwrap();
    refused(&o, wrong);
}

#[cfg(feature = "azure")]
#[test]
fn azure_unreachable_endpoint_retries_then_gives_up() {
    let home = tempfile::tempdir().unwrap();
    let url = format!(
        "az://files-first-contact/?endpoint=http://127.0.0.1:{}/devstoreaccount1",
        closed_port()
    );
    let o = bare(home.path())
        .env("AZURE_STORAGE_KEY", "Zmlyc3QtY29udGFjdA==")
        .args(["ls", &url])
        .args(BUDGET)
        .output()
        .unwrap();
    let line = gave_up_after_two_retries(&o);
    assert!(line.starts_with("error: transient: "), "{line}");
}

#[cfg(feature = "azure")]
#[test]
fn azure_ls_with_and_without_a_trailing_slash() {
    use common::stores::Store;
    let store = files_testkit::require_server!(common::stores::azure("first-contact-ls"));
    ls_both_ways(&|| store.files(), &|k| store.url(k));
}

// ------------------------------------------------------------------------------------- GCS

// GCS missing credentials: `gcs_without_credentials_is_unauthorized_and_not_retried`.

#[cfg(feature = "gcs")]
#[test]
fn gcs_wrong_token_is_unauthorized_in_one_request() {
    use files_fakes::kit::Fault;
    // The fake accepts any token: a 401 on every request stands in for GCS refusing it.
    let gcs = files_fakes::gcs::FakeGcs::start().unwrap();
    let bucket = gcs.new_bucket("first-contact-auth");
    gcs.server().faults().add(Fault::status(401).times(100));
    let home = tempfile::tempdir().unwrap();
    let o = bare(home.path())
        .env("GCS_ACCESS_TOKEN", "ya29.not-the-gcs-token")
        .args(["ls", &format!("gs://{bucket}/?endpoint={}", gcs.endpoint())])
        .args(["--retries", "2"])
        .output()
        .unwrap();
    refused(&o, "ya29.not-the-gcs-token");
    assert_eq!(gcs.server().log().len(), 1, "{:?}", gcs.requests());
}

#[cfg(feature = "gcs")]
#[test]
fn gcs_unreachable_endpoint_retries_then_gives_up() {
    let home = tempfile::tempdir().unwrap();
    let url = format!(
        "gs://files-first-contact/?endpoint=http://127.0.0.1:{}",
        closed_port()
    );
    let o = bare(home.path())
        .env("GCS_ACCESS_TOKEN", "ya29.first-contact")
        .args(["ls", &url])
        .args(BUDGET)
        .output()
        .unwrap();
    let line = gave_up_after_two_retries(&o);
    assert!(line.starts_with("error: transient: "), "{line}");
}

#[cfg(feature = "gcs")]
#[test]
fn gcs_ls_with_and_without_a_trailing_slash() {
    use common::stores::Store;
    let store = files_testkit::require_server!(common::stores::gcs("first-contact-ls"));
    ls_both_ways(&|| store.files(), &|k| store.url(k));
}

// ---------------------------------------------------------------------------- Google Drive

// Drive missing credentials: `gdrive_without_credentials_is_unauthorized_and_not_retried`.

#[cfg(feature = "gdrive")]
#[test]
fn gdrive_wrong_token_is_unauthorized_in_one_request() {
    let drive = files_fakes::gdrive::FakeDrive::start(common::stores::DRIVE_TOKEN).unwrap();
    let home = tempfile::tempdir().unwrap();
    let o = bare(home.path())
        .env("GDRIVE_ACCESS_TOKEN", "ya29.not-the-drive-token")
        .env("GDRIVE_ENDPOINT", drive.endpoint())
        .args(["ls", "gdrive://root/", "--retries", "2"])
        .output()
        .unwrap();
    refused(&o, "ya29.not-the-drive-token");
    assert_eq!(
        drive.server().log().len(),
        1,
        "{:?}",
        drive.server().log().all()
    );
}

#[cfg(feature = "gdrive")]
#[test]
fn gdrive_unreachable_endpoint_retries_then_gives_up() {
    let home = tempfile::tempdir().unwrap();
    let url = format!("gdrive://root/?endpoint=http://127.0.0.1:{}", closed_port());
    let o = bare(home.path())
        .env("GDRIVE_ACCESS_TOKEN", "ya29.first-contact")
        .args(["ls", &url])
        .args(BUDGET)
        .output()
        .unwrap();
    let line = gave_up_after_two_retries(&o);
    assert!(line.starts_with("error: transient: "), "{line}");
}

#[cfg(feature = "gdrive")]
#[test]
fn gdrive_ls_with_and_without_a_trailing_slash() {
    let token = common::stores::DRIVE_TOKEN;
    let drive = files_fakes::gdrive::FakeDrive::start(token).unwrap();
    let root = drive.create_folder("root", "first-contact-ls");
    let dir = drive.create_folder(&root, "dir");
    drive.create_file(&dir, "a.txt", b"a");
    let sub = drive.create_folder(&dir, "sub");
    drive.create_file(&sub, "b.txt", b"b");
    let endpoint = drive.endpoint();
    let files = || {
        let mut c = files_bin();
        c.env("GDRIVE_ACCESS_TOKEN", token)
            .env("GDRIVE_ENDPOINT", &endpoint);
        c
    };
    assert_same_listing(
        &files,
        &format!("gdrive://{root}/dir"),
        &format!("gdrive://{root}/dir/"),
    );
}

// ---------------------------------------------------------------------------------- OneDrive

#[cfg(feature = "onedrive")]
#[test]
fn onedrive_without_credentials_is_unauthorized_and_not_retried() {
    let graph = files_fakes::graph::FakeGraph::start().unwrap();
    let home = tempfile::tempdir().unwrap();
    let o = bare(home.path())
        .env("MS_GRAPH_ENDPOINT", graph.endpoint())
        .args(["ls", "onedrive://me/x/", "--retries", "2"])
        .output()
        .unwrap();
    let line = refused(&o, files_fakes::graph::TEST_TOKEN);
    for what in [
        "MS_GRAPH_ACCESS_TOKEN",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
    ] {
        assert!(line.contains(what), "{what} not named: {line}");
    }
    assert_eq!(graph.server().log().len(), 0, "{:?}", graph.requests());
}

#[cfg(feature = "onedrive")]
#[test]
fn onedrive_wrong_token_is_unauthorized_in_one_request() {
    let graph = files_fakes::graph::FakeGraph::start().unwrap();
    let home = tempfile::tempdir().unwrap();
    let o = bare(home.path())
        .env("MS_GRAPH_ACCESS_TOKEN", "not-the-graph-token")
        .env("MS_GRAPH_ENDPOINT", graph.endpoint())
        .args(["ls", "onedrive://me/x/", "--retries", "2"])
        .output()
        .unwrap();
    refused(&o, "not-the-graph-token");
    assert_eq!(graph.server().log().len(), 1, "{:?}", graph.requests());
}

#[cfg(feature = "onedrive")]
#[test]
fn onedrive_unreachable_endpoint_retries_then_gives_up() {
    let home = tempfile::tempdir().unwrap();
    let o = bare(home.path())
        .env("MS_GRAPH_ACCESS_TOKEN", "first-contact")
        .env(
            "MS_GRAPH_ENDPOINT",
            format!("http://127.0.0.1:{}", closed_port()),
        )
        .args(["ls", "onedrive://me/x/"])
        .args(BUDGET)
        .output()
        .unwrap();
    let line = gave_up_after_two_retries(&o);
    assert!(line.starts_with("error: transient: "), "{line}");
}

#[cfg(feature = "onedrive")]
#[test]
fn onedrive_ls_with_and_without_a_trailing_slash() {
    let graph = files_fakes::graph::FakeGraph::start().unwrap();
    let endpoint = graph.endpoint();
    let files = || {
        let mut c = files_bin();
        c.env("MS_GRAPH_ACCESS_TOKEN", files_fakes::graph::TEST_TOKEN)
            .env("MS_GRAPH_ENDPOINT", &endpoint);
        c
    };
    ls_both_ways(&files, &|k| format!("onedrive://me/first-contact/{k}"));
}

// ----------------------------------------------------------------------------------- Dropbox

#[cfg(feature = "dropbox")]
#[test]
fn dropbox_without_credentials_is_unauthorized_and_not_retried() {
    let dbx = files_fakes::dropbox::FakeDropbox::start().unwrap();
    let home = tempfile::tempdir().unwrap();
    let url = format!("dropbox:///x/?endpoint={}", dbx.endpoint());
    let o = bare(home.path())
        .args(["ls", &url, "--retries", "2"])
        .output()
        .unwrap();
    let line = refused(&o, dbx.token());
    for what in [
        "DROPBOX_ACCESS_TOKEN",
        "DROPBOX_REFRESH_TOKEN",
        "DROPBOX_APP_KEY",
        "DROPBOX_APP_SECRET",
    ] {
        assert!(line.contains(what), "{what} not named: {line}");
    }
    assert_eq!(dbx.server().log().len(), 0, "{:?}", dbx.requests());
}

#[cfg(feature = "dropbox")]
#[test]
fn dropbox_wrong_token_is_unauthorized_in_one_request() {
    let dbx = files_fakes::dropbox::FakeDropbox::start().unwrap();
    let home = tempfile::tempdir().unwrap();
    let url = format!("dropbox:///x/?endpoint={}", dbx.endpoint());
    let o = bare(home.path())
        .env("DROPBOX_ACCESS_TOKEN", "sl.not-the-dropbox-token")
        .args(["ls", &url, "--retries", "2"])
        .output()
        .unwrap();
    refused(&o, "sl.not-the-dropbox-token");
    assert_eq!(dbx.server().log().len(), 1, "{:?}", dbx.requests());
}

#[cfg(feature = "dropbox")]
#[test]
fn dropbox_unreachable_endpoint_retries_then_gives_up() {
    let home = tempfile::tempdir().unwrap();
    let url = format!("dropbox:///x/?endpoint=http://127.0.0.1:{}", closed_port());
    let o = bare(home.path())
        .env("DROPBOX_ACCESS_TOKEN", "sl.first-contact")
        .args(["ls", &url])
        .args(BUDGET)
        .output()
        .unwrap();
    let line = gave_up_after_two_retries(&o);
    assert!(line.starts_with("error: transient: "), "{line}");
}

#[cfg(feature = "dropbox")]
#[test]
fn dropbox_ls_with_and_without_a_trailing_slash() {
    let dbx = files_fakes::dropbox::FakeDropbox::start().unwrap();
    let endpoint = dbx.endpoint();
    let files = || {
        let mut c = files_bin();
        c.env("DROPBOX_ACCESS_TOKEN", files_fakes::dropbox::TEST_TOKEN);
        c
    };
    ls_both_ways(&files, &|k| {
        format!("dropbox://first-contact/{k}?endpoint={endpoint}")
    });
}

// --------------------------------------------------------------------------------------- Box

#[cfg(feature = "box")]
#[test]
fn box_without_credentials_is_unauthorized_and_not_retried() {
    let bx = files_fakes::box_api::FakeBox::start().unwrap();
    let home = tempfile::tempdir().unwrap();
    let url = format!("box://0/?endpoint={}", bx.endpoint());
    let o = bare(home.path())
        .args(["ls", &url, "--retries", "2"])
        .output()
        .unwrap();
    let line = refused(&o, bx.token());
    for what in [
        "BOX_ACCESS_TOKEN",
        "BOX_CLIENT_ID",
        "BOX_CLIENT_SECRET",
        "BOX_ENTERPRISE_ID",
    ] {
        assert!(line.contains(what), "{what} not named: {line}");
    }
    assert_eq!(bx.server().log().len(), 0, "{:?}", bx.server().log().all());
}

#[cfg(feature = "box")]
#[test]
fn box_wrong_token_is_unauthorized_in_one_request() {
    let bx = files_fakes::box_api::FakeBox::start().unwrap();
    let home = tempfile::tempdir().unwrap();
    let url = format!("box://0/?endpoint={}", bx.endpoint());
    let o = bare(home.path())
        .env("BOX_ACCESS_TOKEN", "not-the-box-token")
        .args(["ls", &url, "--retries", "2"])
        .output()
        .unwrap();
    refused(&o, "not-the-box-token");
    assert_eq!(bx.server().log().len(), 1, "{:?}", bx.server().log().all());
}

#[cfg(feature = "box")]
#[test]
fn box_unreachable_endpoint_retries_then_gives_up() {
    let home = tempfile::tempdir().unwrap();
    let url = format!("box://0/?endpoint=http://127.0.0.1:{}", closed_port());
    let o = bare(home.path())
        .env("BOX_ACCESS_TOKEN", "first-contact")
        .args(["ls", &url])
        .args(BUDGET)
        .output()
        .unwrap();
    let line = gave_up_after_two_retries(&o);
    assert!(line.starts_with("error: transient: "), "{line}");
}

#[cfg(feature = "box")]
#[test]
fn box_ls_with_and_without_a_trailing_slash() {
    let bx = files_fakes::box_api::FakeBox::start().unwrap();
    let root = bx.create_folder("0", "first-contact-ls");
    let endpoint = bx.endpoint();
    let token = bx.token().to_string();
    let files = || {
        let mut c = files_bin();
        c.env("BOX_ACCESS_TOKEN", &token);
        c
    };
    ls_both_ways(&files, &|k| format!("box://{root}/{k}?endpoint={endpoint}"));
}
