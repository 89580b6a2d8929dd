//! End-to-end tests of the `files` binary against the local-disk store.
//!
//! Every test checks bytes (SHA-256 or exact content), not only exit codes. None asserts on
//! timing: the crash and Ctrl-C tests wait for the checkpoint to show progress, then act.
//! The seeded kill -9 / Ctrl-C / abort matrix of the local disk (and of every other store)
//! is in `crash_matrix.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use files_testkit::crash::{kill_when_loaded, sha256_bytes, sha256_file, write_random_file};

use crate::common;
use common::{json_line, ok, s, sidecar, stderr, stdout};

fn files() -> Command {
    common::stores::files_bin()
}

fn run(args: &[&str]) -> Output {
    files().args(args).output().expect("run files")
}

/// The `.fls-part` files anywhere under `dir`.
fn part_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".fls-part") {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn upload_download_round_trip_with_json() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    write_random_file(&src, (3 << 20) + 12_345, 1).unwrap();
    let dest = dir.path().join("store/sub/a.bin");

    let o = ok(run(&[
        "upload",
        &s(&src),
        &s(&dest),
        "--part-size",
        "512KiB",
        "--concurrency",
        "2",
        "--json",
    ]));
    let j = json_line(&o);
    let size = (3u64 << 20) + 12_345;
    assert_eq!(j["size"], size);
    assert_eq!(j["bytes_sent"], size);
    assert_eq!(j["bytes_resumed"], 0);
    assert_eq!(j["resumed"], false);
    assert_eq!(j["retries"], 0);
    assert!(
        j["key"].as_str().unwrap().ends_with("store/sub/a.bin"),
        "{j}"
    );
    assert!(j.get("etag").is_some(), "{j}");
    assert_eq!(sha256_file(&src).unwrap(), sha256_file(&dest).unwrap());
    assert!(part_files(dir.path()).is_empty());

    // Download back, through a file:// URL this time.
    let back = dir.path().join("back.bin");
    let url = format!("file://{}", s(&dest));
    ok(run(&["download", &url, &s(&back)]));
    assert_eq!(sha256_file(&src).unwrap(), sha256_file(&back).unwrap());

    // Download into a directory keeps the object's name; `-` writes to stdout.
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    ok(run(&["download", &s(&dest), &s(&out_dir)]));
    assert_eq!(
        sha256_file(&src).unwrap(),
        sha256_file(out_dir.join("a.bin")).unwrap()
    );
    let o = ok(run(&["download", &s(&dest), "-"]));
    assert_eq!(sha256_bytes(&o.stdout), sha256_file(&src).unwrap());
}

#[test]
fn small_upload_to_a_directory_and_human_output() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("note.txt");
    std::fs::write(&src, b"hello, files").unwrap();
    let store = dir.path().join("store");
    std::fs::create_dir(&store).unwrap();
    let o = ok(run(&["upload", &s(&src), &s(&store)]));
    assert!(stdout(&o).contains("uploaded"), "{}", stdout(&o));
    assert_eq!(
        std::fs::read(store.join("note.txt")).unwrap(),
        b"hello, files"
    );
}

#[test]
fn range_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    let dest = dir.path().join("store/r.bin");
    ok(run(&["upload", &s(&src), &s(&dest)]));

    let out = dir.path().join("part");
    ok(run(&[
        "download",
        &s(&dest),
        &s(&out),
        "--range",
        "100-199",
    ]));
    assert_eq!(std::fs::read(&out).unwrap(), &data[100..200]);
    ok(run(&["download", &s(&dest), &s(&out), "--range", "99990-"]));
    assert_eq!(std::fs::read(&out).unwrap(), &data[99_990..]);
    ok(run(&["download", &s(&dest), &s(&out), "--range", "-5"]));
    assert_eq!(std::fs::read(&out).unwrap(), &data[99_995..]);
    // An END past the object is clamped, like HTTP.
    ok(run(&[
        "download",
        &s(&dest),
        &s(&out),
        "--range",
        "99998-200000",
    ]));
    assert_eq!(std::fs::read(&out).unwrap(), &data[99_998..]);
    // Unsatisfiable: invalid input, and the previous file is untouched.
    let o = run(&["download", &s(&dest), &s(&out), "--range", "200000-"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with("error: invalid_input: "),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&out).unwrap(), &data[99_998..]);
    // Malformed: a usage error.
    let o = run(&["download", &s(&dest), &s(&out), "--range", "9-3"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // In parallel: 4 KiB ranges, 3 at a time, whole and ranged.
    let par_out = dir.path().join("par");
    let par = ["--concurrency", "3", "--chunk-size", "4KiB"];
    ok(run(
        &[&["download", &s(&dest), &s(&par_out)][..], &par[..]].concat()
    ));
    assert_eq!(
        sha256_bytes(&std::fs::read(&par_out).unwrap()),
        sha256_bytes(&data)
    );
    ok(run(&[
        &["download", &s(&dest), &s(&par_out), "--range", "1000-60000"][..],
        &par[..],
    ]
    .concat()));
    assert_eq!(std::fs::read(&par_out).unwrap(), &data[1000..60_001]);
}

#[test]
fn ls_stat_rm_cp_mv() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let src = dir.path().join("src.bin");
    let data = b"0123456789abcdef".repeat(1000);
    std::fs::write(&src, &data).unwrap();
    let a = store.join("a.bin");
    ok(run(&["upload", &s(&src), &s(&a)]));
    ok(run(&["upload", &s(&src), &s(&store.join("d/b.bin"))]));

    // stat
    let o = ok(run(&["stat", &s(&a), "--json"]));
    let j = json_line(&o);
    assert_eq!(j["size"], data.len());
    assert!(j["key"].as_str().unwrap().ends_with("store/a.bin"));
    assert!(j["last_modified"].as_str().unwrap().ends_with('Z'));
    let o = ok(run(&["stat", &s(&a)]));
    assert!(stdout(&o).contains(&format!("size:          {}", data.len())));

    // ls: first level, then recursive, then JSON.
    let o = ok(run(&["ls", &s(&store)]));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    // Names are relative to the listed directory.
    assert!(lines[0].ends_with("  a.bin") && lines[0].contains(&data.len().to_string()));
    assert!(
        lines[1].contains("DIR") && lines[1].ends_with("  d/"),
        "{text}"
    );
    let o = ok(run(&["ls", &s(&store), "--recursive"]));
    let keys: Vec<String> = stdout(&o)
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys, ["a.bin", "d/b.bin"]);
    let o = ok(run(&["ls", &format!("file://{}/", s(&store)), "--json"]));
    let entries: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["size"], data.len());
    assert!(entries[1]["prefix"].as_str().unwrap().ends_with("store/d/"));
    // ls of an object shows just it.
    let o = ok(run(&["ls", &s(&a)]));
    assert_eq!(stdout(&o).lines().count(), 1);

    // cp (same store: server-side), then cp into a directory, then mv.
    let c = store.join("c.bin");
    ok(run(&["cp", &s(&a), &s(&c)]));
    assert_eq!(std::fs::read(&c).unwrap(), data);
    ok(run(&[
        "cp",
        &s(&a),
        &format!("{}/", s(&store.join("copies"))),
    ]));
    assert_eq!(std::fs::read(store.join("copies/a.bin")).unwrap(), data);
    let m = store.join("moved/m.bin");
    ok(run(&["mv", &s(&c), &s(&m)]));
    assert!(!c.exists());
    assert_eq!(std::fs::read(&m).unwrap(), data);

    // Across stores (memory is per process, so copy in and straight out is not observable;
    // a file:// store with another root is a different store).
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let x = format!("file://{}/x.bin?root={}", s(&other), s(&other));
    ok(run(&["cp", &s(&a), &x]));
    assert_eq!(std::fs::read(other.join("x.bin")).unwrap(), data);
    ok(run(&["mv", &x, &s(&store.join("y.bin"))]));
    assert!(!other.join("x.bin").exists());
    assert_eq!(std::fs::read(store.join("y.bin")).unwrap(), data);

    // rm, then rm of a missing object fails unless --force.
    ok(run(&["rm", &s(&m)]));
    assert!(!m.exists());
    let o = run(&["rm", &s(&m)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: not_found: "),
        "{}",
        stderr(&o)
    );
    ok(run(&["rm", "--force", &s(&m)]));
    let o = run(&["stat", &s(&m)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: not_found: "),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&a).unwrap(), data, "the source is untouched");
}

#[test]
fn bad_input_is_reported_with_its_kind() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    std::fs::create_dir(&store).unwrap();
    let src = dir.path().join("src.bin");
    std::fs::write(&src, b"data").unwrap();

    // A key that escapes its root with `..` (encoded, so the URL parser keeps it).
    let url = format!(
        "file://{}/a%2F..%2F..%2Fescape.bin?root={}",
        s(&store),
        s(&store)
    );
    let o = run(&["upload", &s(&src), &url]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: invalid_input: "), "{err}");
    assert!(!dir.path().join("escape.bin").exists());
    let o = run(&["download", &url, &s(&dir.path().join("x"))]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: invalid_input: "),
        "{}",
        stderr(&o)
    );

    // A missing source file.
    let o = run(&["upload", &s(&dir.path().join("nope")), &s(&store.join("n"))]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: not_found: "),
        "{}",
        stderr(&o)
    );

    // An unknown scheme.
    let o = run(&["stat", "nosuch://bucket/key"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: not_supported: "),
        "{}",
        stderr(&o)
    );

    // Usage errors: exit code 2.
    for args in [
        vec!["upload", "a"],
        vec!["upload", "a", "b", "--part-size", "eight"],
        vec!["upload", "a", "b", "--concurrency", "0"],
        vec!["frobnicate"],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }

    // The memory store lives in one process: a checkpoint could never be resumed, so it is
    // refused as not supported (and no sidecar is left behind).
    let o = run(&[
        "upload",
        &s(&src),
        "memory://m/k",
        "--checkpoint",
        &s(&dir.path().join("cp.json")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: not_supported: "),
        "{}",
        stderr(&o)
    );
    assert!(!sidecar(&dir.path().join("cp.json")).exists());
}

/// The upload command of the abort test.
fn slow_upload(src: &Path, dest: &Path, cp: &Path) -> Command {
    let mut c = files();
    c.arg("upload")
        .arg(src)
        .arg(dest)
        .args(["--part-size", "1MiB", "--bwlimit", "8MiB", "--checkpoint"])
        .arg(cp)
        .arg("--json")
        .stdin(Stdio::null());
    c
}

#[cfg(unix)]
#[test]
fn ctrl_c_without_a_checkpoint_aborts() {
    let dir = tempfile::tempdir().unwrap();
    let size: u64 = 24 << 20;
    let src = dir.path().join("big.bin");
    write_random_file(&src, size, 8).unwrap();
    let dest = dir.path().join("store/big.bin");
    let part = PathBuf::from(format!("{}.fls-part", s(&dest)));

    let mut child = files()
        .arg("upload")
        .arg(&src)
        .arg(&dest)
        .args(["--part-size", "1MiB", "--bwlimit", "8MiB"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // No checkpoint to watch: wait until the part file holds bytes.
    while std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the upload ended early"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    files_testkit::crash::interrupt(&child).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(stderr(&o).contains("aborted"), "{}", stderr(&o));
    assert!(!part.exists(), "the partial upload is discarded");
    assert!(!dest.exists());
}

#[test]
fn abort_discards_the_session_of_a_crashed_upload() {
    let dir = tempfile::tempdir().unwrap();
    let size: u64 = 24 << 20;
    let src = dir.path().join("big.bin");
    write_random_file(&src, size, 3).unwrap();
    let dest = dir.path().join("store/big.bin");
    let cp = dir.path().join("cp.json");
    let part = PathBuf::from(format!("{}.fls-part", s(&dest)));

    // Without a checkpoint there is nothing to abort.
    let o = run(&["abort", "--checkpoint", &s(&cp)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: not_found: "),
        "{}",
        stderr(&o)
    );

    kill_when_loaded(
        || {
            let mut c = slow_upload(&src, &dest, &cp);
            c.stdout(Stdio::null()).stderr(Stdio::null());
            c
        },
        &cp,
        1 << 20,
    )
    .unwrap();
    assert!(part.exists() && cp.exists() && sidecar(&cp).exists());

    // Resuming with another body of the same length is refused, and the checkpoint is kept.
    let changed = dir.path().join("changed.bin");
    let mut bytes = std::fs::read(&src).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&changed, &bytes).unwrap();
    let o = slow_upload(&changed, &dest, &cp).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.starts_with("error: body_changed: "), "{err}");
    assert!(err.contains("abort --checkpoint"), "{err}");
    assert!(stdout(&o).is_empty());
    assert!(part.exists() && cp.exists() && sidecar(&cp).exists());
    assert!(!dest.exists());

    // Without the sidecar, abort refuses (and keeps everything).
    let side = sidecar(&cp);
    let moved = dir.path().join("sidecar.bak");
    std::fs::rename(&side, &moved).unwrap();
    let o = run(&["abort", "--checkpoint", &s(&cp)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("refusing to abort"), "{}", stderr(&o));
    assert!(part.exists() && cp.exists());
    std::fs::rename(&moved, &side).unwrap();

    ok(run(&["abort", "--checkpoint", &s(&cp)]));
    assert!(!cp.exists(), "the checkpoint is deleted");
    assert!(!side.exists(), "the sidecar is deleted");
    assert!(!part.exists(), "the part file is deleted");
    assert!(!dest.exists());
    assert!(part_files(dir.path()).is_empty());

    // The same command now starts a fresh upload.
    let o = ok(run(&[
        "upload",
        &s(&src),
        &s(&dest),
        "--part-size",
        "1MiB",
        "--checkpoint",
        &s(&cp),
        "--json",
    ]));
    let j = json_line(&o);
    assert_eq!(j["resumed"], false);
    assert_eq!(j["bytes_sent"], size);
    assert_eq!(sha256_file(&src).unwrap(), sha256_file(&dest).unwrap());
}

/// The partial file (and its record) a download to `out` keeps.
fn partial_of(out: &Path) -> (PathBuf, PathBuf) {
    let name = out.file_name().unwrap().to_string_lossy().into_owned();
    (
        out.with_file_name(format!(".{name}.fls-download")),
        out.with_file_name(format!(".{name}.fls-download.json")),
    )
}

/// A slow download of `src` to `out`, spawned; returns once its partial file holds at least
/// `at_least` bytes.
fn spawn_slow_download(src: &Path, out: &Path, at_least: u64) -> std::process::Child {
    let mut child = files()
        .arg("download")
        .arg(src)
        .arg(out)
        .args(["--bwlimit", "4MiB"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (data, _) = partial_of(out);
    while std::fs::metadata(&data).map(|m| m.len()).unwrap_or(0) < at_least {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the download ended early"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child
}

/// The byte count a resumed download says it started from.
fn resumed_from(o: &Output) -> u64 {
    let err = stderr(o);
    let line = err
        .lines()
        .find(|l| l.starts_with("resumed: "))
        .unwrap_or_else(|| panic!("no resume in: {err}"));
    line["resumed: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_killed_download_continues_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let object = dir.path().join("store/big.bin");
    std::fs::create_dir_all(object.parent().unwrap()).unwrap();
    write_random_file(&object, (16 << 20) + 4321, 21).unwrap();
    let out = dir.path().join("big.bin");
    let (data, record) = partial_of(&out);

    let mut child = spawn_slow_download(&object, &out, 2 << 20);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !out.exists(),
        "nothing in place before the download is whole"
    );
    assert!(data.exists() && record.exists());
    let kept = std::fs::metadata(&data).unwrap().len();

    let o = ok(run(&["download", &s(&object), &s(&out)]));
    let from = resumed_from(&o);
    assert!(from >= 2 << 20 && from <= kept, "{from} of {kept}");
    assert_eq!(sha256_file(&object).unwrap(), sha256_file(&out).unwrap());
    assert!(!data.exists() && !record.exists(), "the partial is gone");
}

#[cfg(unix)]
#[test]
fn ctrl_c_keeps_a_partial_download_and_a_range_continues() {
    let dir = tempfile::tempdir().unwrap();
    let object = dir.path().join("store/big.bin");
    std::fs::create_dir_all(object.parent().unwrap()).unwrap();
    write_random_file(&object, 12 << 20, 22).unwrap();
    let out = dir.path().join("part.bin");
    let (data, record) = partial_of(&out);
    let range = ["--range", "1000000-9999999"];

    let mut child = files()
        .arg("download")
        .arg(&object)
        .arg(&out)
        .args(range)
        .args(["--bwlimit", "4MiB"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while std::fs::metadata(&data).map(|m| m.len()).unwrap_or(0) < 1 << 20 {
        assert!(child.try_wait().unwrap().is_none(), "ended early");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    files_testkit::crash::interrupt(&child).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(stderr(&o).contains("kept in"), "{}", stderr(&o));
    assert!(record.exists());
    let kept = std::fs::metadata(&data).unwrap().len();

    let o = ok(run(
        &[&["download", &s(&object), &s(&out)][..], &range[..]].concat()
    ));
    assert_eq!(
        resumed_from(&o),
        kept,
        "everything kept is trusted in the same boot"
    );
    let want = std::fs::read(&object).unwrap();
    assert!(std::fs::read(&out).unwrap() == want[1_000_000..10_000_000]);
    assert!(!data.exists() && !record.exists());
}

#[test]
fn a_partial_of_another_version_or_request_is_not_continued() {
    let dir = tempfile::tempdir().unwrap();
    let object = dir.path().join("store/big.bin");
    std::fs::create_dir_all(object.parent().unwrap()).unwrap();
    write_random_file(&object, 12 << 20, 23).unwrap();
    let out = dir.path().join("big.bin");
    let (data, record) = partial_of(&out);

    // The object is replaced after a partial download: the next run starts over.
    let mut child = spawn_slow_download(&object, &out, 1 << 20);
    child.kill().unwrap();
    child.wait().unwrap();
    write_random_file(&object, 12 << 20, 24).unwrap();
    let o = ok(run(&["download", &s(&object), &s(&out)]));
    assert!(stderr(&o).contains("changed"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("resumed"), "{}", stderr(&o));
    assert_eq!(sha256_file(&object).unwrap(), sha256_file(&out).unwrap());

    // A partial of a range is not continued by a whole download, nor with --restart.
    std::fs::remove_file(&out).unwrap();
    let mut child = files()
        .arg("download")
        .arg(&object)
        .arg(&out)
        .args(["--range", "0-9999999", "--bwlimit", "4MiB"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while std::fs::metadata(&data).map(|m| m.len()).unwrap_or(0) < 1 << 20 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let o = ok(run(&["download", &s(&object), &s(&out)]));
    assert!(stderr(&o).contains("another download"), "{}", stderr(&o));
    assert_eq!(sha256_file(&object).unwrap(), sha256_file(&out).unwrap());

    let mut child = spawn_slow_download(&object, &out, 1 << 20);
    child.kill().unwrap();
    child.wait().unwrap();
    let o = ok(run(&["download", &s(&object), &s(&out), "--restart"]));
    assert!(!stderr(&o).contains("resumed"), "{}", stderr(&o));
    assert_eq!(sha256_file(&object).unwrap(), sha256_file(&out).unwrap());
    assert!(!data.exists() && !record.exists());
}

/// `files upload SRC DEST --part-size 1MiB --checkpoint CP --json --restart`, at full speed.
fn restart_upload(src: &Path, dest: &Path, cp: &Path) -> Output {
    files()
        .arg("upload")
        .arg(src)
        .arg(dest)
        .args(["--part-size", "1MiB", "--checkpoint"])
        .arg(cp)
        .args(["--json", "--restart"])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Kills a slow checkpointed upload of `src` to `dest` once 1 MiB is confirmed; asserts that
/// its part file, checkpoint and sidecar are left.
fn crash_upload(src: &Path, dest: &Path, cp: &Path) -> files::ResumeToken {
    let crash = kill_when_loaded(
        || {
            let mut c = slow_upload(src, dest, cp);
            c.stdout(Stdio::null()).stderr(Stdio::null());
            c
        },
        cp,
        1 << 20,
    )
    .unwrap();
    let part = PathBuf::from(format!("{}.fls-part", s(dest)));
    assert!(part.exists() && cp.exists() && sidecar(cp).exists());
    assert!(crash.token.loaded < std::fs::metadata(src).unwrap().len());
    crash.token
}

/// Asserts that `o` is a successful upload of all of `src` to `dest` that started from byte 0,
/// and that nothing of the upload is left beside it.
#[track_caller]
fn assert_started_over(o: &Output, src: &Path, dest: &Path, cp: &Path, restarted: bool) {
    let size = std::fs::metadata(src).unwrap().len();
    let j = json_line(o);
    assert_eq!(j["resumed"], false, "{j}");
    assert_eq!(j["restarted"], restarted, "{j}");
    assert_eq!(j["bytes_resumed"], 0, "{j}");
    assert_eq!(j["bytes_sent"], size, "the whole body is sent: {j}");
    assert_eq!(j["size"], size, "{j}");
    assert_eq!(sha256_file(src).unwrap(), sha256_file(dest).unwrap());
    assert!(!cp.exists(), "the checkpoint is removed");
    assert!(!sidecar(cp).exists(), "the sidecar is removed");
    assert!(!PathBuf::from(format!("{}.fls-part", s(dest))).exists());
}

#[test]
fn upload_restart_discards_the_session_and_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let size: u64 = (24 << 20) + 17;
    let src = dir.path().join("big.bin");
    write_random_file(&src, size, 11).unwrap();
    let cp = dir.path().join("cp.json");
    let store = dir.path().join("store");

    // Without a checkpoint, --restart just uploads.
    let fresh = store.join("fresh.bin");
    let o = ok(restart_upload(&src, &fresh, &cp));
    assert_started_over(&o, &src, &fresh, &cp, false);

    // An interrupted upload: --restart discards its session and sends the whole body again
    // (the same command without --restart would resume it).
    let dest = store.join("big.bin");
    crash_upload(&src, &dest, &cp);
    let o = ok(restart_upload(&src, &dest, &cp));
    assert!(
        stderr(&o).contains("restart: discarded the earlier upload session"),
        "{}",
        stderr(&o)
    );
    assert_started_over(&o, &src, &dest, &cp, true);
    assert!(part_files(dir.path()).is_empty());

    // The session discarded is the checkpoint's, even when the command now names another
    // destination (the sidecar says where the session is): its part file is deleted.
    let first = store.join("first.bin");
    let first_part = PathBuf::from(format!("{}.fls-part", s(&first)));
    crash_upload(&src, &first, &cp);
    let second = store.join("second.bin");
    let o = ok(restart_upload(&src, &second, &cp));
    assert!(
        !first_part.exists(),
        "the old session's part file is deleted"
    );
    assert!(!first.exists());
    assert_started_over(&o, &src, &second, &cp, true);
    assert!(part_files(dir.path()).is_empty());

    // After `session_expired` (the part file is gone), the plain command fails and points at
    // --restart; --restart then uploads from byte 0.
    let gone = store.join("gone.bin");
    crash_upload(&src, &gone, &cp);
    std::fs::remove_file(format!("{}.fls-part", s(&gone))).unwrap();
    let o = slow_upload(&src, &gone, &cp).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.starts_with("error: session_expired: "), "{err}");
    assert!(err.contains("--restart"), "{err}");
    assert!(cp.exists() && sidecar(&cp).exists());
    let o = ok(restart_upload(&src, &gone, &cp));
    assert_started_over(&o, &src, &gone, &cp, true);

    // A checkpoint that is not a resume token names no session: it is only deleted.
    std::fs::write(&cp, b"{ not a token").unwrap();
    let o = ok(restart_upload(&src, &fresh, &cp));
    assert!(stderr(&o).contains("cannot be discarded"), "{}", stderr(&o));
    assert_started_over(&o, &src, &fresh, &cp, true);
    assert!(part_files(dir.path()).is_empty());
}

#[cfg(unix)]
#[test]
fn checkpoint_sidecar_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big.bin");
    write_random_file(&src, 24 << 20, 12).unwrap();
    let cp = dir.path().join("cp.json");
    let dest = dir.path().join("store/big.bin");
    crash_upload(&src, &dest, &cp);
    let mode = std::fs::metadata(sidecar(&cp))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the sidecar's mode is {:o}",
        mode & 0o777
    );
    // Also when an existing (wider) sidecar is replaced by a new upload's.
    ok(run(&["abort", "--checkpoint", &s(&cp)]));
    std::fs::write(sidecar(&cp), b"file:///elsewhere\n").unwrap();
    std::fs::set_permissions(sidecar(&cp), std::fs::Permissions::from_mode(0o644)).unwrap();
    crash_upload(&src, &dest, &cp);
    let mode = std::fs::metadata(sidecar(&cp))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the sidecar's mode is {:o}",
        mode & 0o777
    );
}
