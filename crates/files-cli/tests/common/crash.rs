//! Crash scaffolding for the `files` CLI: start `files upload --checkpoint` in a child
//! process, `kill -9` it at a chosen point, resume it from the checkpoint in a new process,
//! and check what the server holds (SHA-256 of the object, no session left) and the bound on
//! re-sent bytes. Also the Ctrl-C pause and the `files abort` checks, for any [`Store`].
//!
//! The seeded matrix ([`matrix`]) runs `FILES_CRASH_RUNS` (default 50) seeds from
//! `FILES_CRASH_SEED` (default 1) per store, and names every failing seed with the command that
//! replays it alone.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use files::ResumeToken;
use files_testkit::crash::{read_checkpoint, sha256_bytes, sha256_file, write_random_file};

use super::stores::{Shape, Store};
use super::{json_line, s, sidecar, stderr, stdout};

/// How often the checkpoint is read while waiting for a kill point.
const POLL: Duration = Duration::from_millis(1);

/// How long a child may take to reach its kill point before the run fails (generous: it only
/// keeps a broken child from hanging the suite).
const GIVE_UP: Duration = Duration::from_secs(120);

/// A small deterministic generator (SplitMix64): the same seed gives the same plan.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Where the child is killed.
#[derive(Debug, Clone, Copy)]
pub enum KillAt {
    /// This long after it was spawned, whatever the checkpoint says (the checkpoint may not
    /// exist yet: the session is being created).
    AfterSpawn(Duration),
    /// `then` after the checkpoint first shows at least `loaded` confirmed bytes (`0`: once it
    /// exists; the body's size: every part landed, the complete or finish is under way).
    Loaded { loaded: u64, then: Duration },
    /// `then` after the checkpoint says the provider is being asked to assemble the parts
    /// (`completing`: every part landed, the complete request is going out).
    Completing { then: Duration },
}

/// How a child that was to be killed ended.
#[derive(Debug)]
pub struct ChildEnd {
    /// Its exit status.
    pub status: ExitStatus,
    /// Whether the kill landed (false: it exited on its own first).
    pub killed: bool,
    /// What it wrote on stderr (for diagnostics).
    pub stderr: String,
}

/// Spawns `cmd` (stdout and stderr go to files in `dir`), waits for `at`, then kills it with
/// `SIGKILL` and reaps it. A child that exits first is reaped and reported (`killed: false`).
pub fn run_and_kill(mut cmd: Command, cp: &Path, at: KillAt, dir: &Path) -> ChildEnd {
    let err_path = dir.join("child.stderr");
    cmd.stdout(Stdio::null())
        .stderr(File::create(&err_path).expect("a stderr file"));
    let started = Instant::now();
    let mut child: Child = cmd.spawn().expect("spawn files");
    let mut deadline: Option<Instant> = match at {
        KillAt::AfterSpawn(d) => Some(started + d),
        KillAt::Loaded { .. } | KillAt::Completing { .. } => None,
    };
    let killed = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break (status, false);
        }
        if deadline.is_none()
            && let KillAt::Loaded { loaded, then } = at
            && read_checkpoint(cp).is_some_and(|t| t.loaded >= loaded)
        {
            deadline = Some(Instant::now() + then);
        }
        if deadline.is_none()
            && let KillAt::Completing { then } = at
            && read_checkpoint(cp).is_some_and(|t| t.completing)
        {
            deadline = Some(Instant::now() + then);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // Kill (it may have exited meanwhile: then `kill` fails harmlessly) and reap.
            let _ = child.kill();
            break (child.wait().expect("wait"), true);
        }
        if started.elapsed() > GIVE_UP {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the child did not reach the kill point {at:?} within {GIVE_UP:?} (checkpoint: {:?})",
                read_checkpoint(cp).map(|t| t.loaded)
            );
        }
        std::thread::sleep(POLL);
    };
    let (status, mut killed) = killed;
    // A kill that raced with a normal exit: the status says which won.
    if status.success() || status.code().is_some() {
        killed = false;
    }
    ChildEnd {
        status,
        killed,
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// One upload to a store: a seeded random body, its key, its checkpoint.
pub struct Upload<'a> {
    pub store: &'a dyn Store,
    pub dir: PathBuf,
    pub src: PathBuf,
    pub size: u64,
    pub key: String,
    pub cp: PathBuf,
}

impl<'a> Upload<'a> {
    /// Writes a body of `size` bytes (from `seed`) in a fresh directory under `base`.
    pub fn new(store: &'a dyn Store, base: &Path, key: &str, size: u64, seed: u64) -> Self {
        let dir = base.join(key.replace('/', "_"));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("src.bin");
        write_random_file(&src, size, seed).unwrap();
        let cp = dir.join("upload.json");
        Upload {
            store,
            dir,
            src,
            size,
            key: key.to_string(),
            cp,
        }
    }

    /// `files upload SRC URL --part-size .. --concurrency .. [--bwlimit ..] --checkpoint CP
    /// --json`; `slow` adds the store's rate limit.
    pub fn command(&self, slow: bool) -> Command {
        let sh = self.store.shape();
        let mut c = self.store.files();
        c.arg("upload")
            .arg(&self.src)
            .arg(self.store.url(&self.key))
            .args(["--part-size", &sh.part_size.to_string()])
            .args(["--concurrency", &sh.concurrency.to_string()]);
        if slow {
            c.args(["--bwlimit", &sh.bwlimit.to_string()]);
        }
        c.arg("--checkpoint").arg(&self.cp).arg("--json");
        c
    }

    /// The source's SHA-256.
    pub fn sha256(&self) -> String {
        sha256_file(&self.src).unwrap()
    }

    /// Asserts that the server holds exactly the source at the key.
    #[track_caller]
    pub fn assert_stored(&self) {
        let stored = self
            .store
            .stored(&self.key)
            .unwrap_or_else(|| panic!("no object at {} on the server", self.key));
        assert_eq!(
            stored.len() as u64,
            self.size,
            "stored size of {}",
            self.key
        );
        assert_eq!(
            sha256_bytes(&stored),
            self.sha256(),
            "stored bytes of {}",
            self.key
        );
    }

    /// Asserts that the server holds no session leftovers for the key.
    #[track_caller]
    pub fn assert_no_leftovers(&self) {
        let left = self.store.leftovers(&self.key);
        assert!(left.is_empty(), "leftovers of {}: {left:?}", self.key);
    }

    /// Asserts that no credential of the store appears in `text`.
    #[track_caller]
    pub fn assert_no_secret(&self, what: &str, text: &str) {
        for secret in self.store.secrets() {
            assert!(!text.contains(&secret), "{what} holds a credential: {text}");
        }
    }

    /// Asserts that the checkpoint and its sidecar hold no credential (when they exist).
    #[track_caller]
    pub fn assert_checkpoint_clean(&self) {
        for p in [self.cp.clone(), sidecar(&self.cp)] {
            if let Ok(text) = std::fs::read_to_string(&p) {
                self.assert_no_secret(&p.display().to_string(), &text);
            }
        }
    }

    /// Runs the upload (full speed) and asserts it succeeded; returns its JSON line.
    #[track_caller]
    pub fn finish(&self) -> serde_json::Value {
        self.try_finish().unwrap_or_else(|o| {
            panic!(
                "the upload failed: exit {:?}\nstdout: {}\nstderr: {}\ncheckpoint: {}",
                o.status.code(),
                stdout(&o),
                stderr(&o),
                std::fs::read_to_string(&self.cp).unwrap_or_else(|e| e.to_string())
            )
        })
    }

    /// Runs the upload (full speed): its JSON line if it succeeded (the checkpoint and the
    /// sidecar then removed), else its output. No credential in either case.
    #[track_caller]
    pub fn try_finish(&self) -> Result<serde_json::Value, Output> {
        let o = self.command(false).output().unwrap();
        self.assert_no_secret("stdout", &stdout(&o));
        self.assert_no_secret("stderr", &stderr(&o));
        if !o.status.success() {
            return Err(o);
        }
        let j = json_line(&o);
        assert_eq!(j["size"], self.size, "{j}");
        assert!(!self.cp.exists(), "the checkpoint is removed on success");
        assert!(
            !sidecar(&self.cp).exists(),
            "the sidecar is removed on success"
        );
        Ok(j)
    }

    /// Kills a slow upload once the checkpoint shows `loaded` bytes (immediately), asserting
    /// that the kill landed before the upload finished; returns the final checkpoint.
    #[track_caller]
    pub fn crash_at(&self, loaded: u64) -> ResumeToken {
        let end = run_and_kill(
            self.command(true),
            &self.cp,
            KillAt::Loaded {
                loaded,
                then: Duration::ZERO,
            },
            &self.dir,
        );
        assert!(end.killed, "the upload ended before the kill: {end:?}");
        let token = read_checkpoint(&self.cp).expect("the checkpoint survives the kill");
        assert!(
            token.loaded >= loaded && token.loaded < self.size,
            "{token:?}"
        );
        assert!(sidecar(&self.cp).exists());
        self.assert_checkpoint_clean();
        token
    }
}

/// What one seeded crash run did (for the summary line).
#[derive(Debug, Clone, Copy, Default)]
pub struct RunStats {
    /// The child exited on its own before the kill point.
    pub finished_first: bool,
    /// The kill landed before the first checkpoint was written (the rerun starts afresh).
    pub before_checkpoint: bool,
    /// The kill landed after every part had landed (the checkpoint says so).
    pub all_landed: bool,
    /// Bytes landed on the server past the checkpoint when the child died (where observable).
    pub past_checkpoint: u64,
    /// Bytes that had landed and that the resume sent again (where observable).
    pub resent_landed: u64,
    /// Orphan sessions of a kill before the first checkpoint (the rerun cannot know them).
    pub orphans: usize,
}

/// The plan of seed `seed` for a store of shape `sh`: the body's size and the kill point.
pub fn plan(sh: Shape, seed: u64) -> (u64, KillAt) {
    let mut rng = Rng::new(seed);
    let ps = sh.part_size;
    let size = sh.parts * ps + 1 + rng.below(ps / 2);
    let parts = sh.parts + 1;
    // The time between two part starts at the rate limit.
    let gap_ms = ps * 1000 / sh.bwlimit;
    let at = match rng.below(parts + 2) {
        0 => KillAt::AfterSpawn(Duration::from_millis(rng.below(120))),
        p => {
            let j = p - 1;
            if j == parts {
                KillAt::Loaded {
                    loaded: size,
                    then: Duration::from_millis(rng.below(3)),
                }
            } else {
                let then = if rng.below(2) == 0 {
                    rng.below(25)
                } else {
                    rng.below(gap_ms + 20)
                };
                KillAt::Loaded {
                    loaded: j * ps,
                    then: Duration::from_millis(then),
                }
            }
        }
    };
    (size, at)
}

/// One seeded crash run: upload in a child, kill it at the seed's point, resume in a new
/// process, check the bytes on the server, the leftovers and the bound on re-sent bytes.
pub fn crash_run(store: &dyn Store, base: &Path, seed: u64) -> RunStats {
    let sh = store.shape();
    let (size, at) = plan(sh, seed);
    crash_run_at(store, base, seed, size, at)
}

/// [`crash_run`] with the body's size and the kill point given.
pub fn crash_run_at(store: &dyn Store, base: &Path, seed: u64, size: u64, at: KillAt) -> RunStats {
    let sh = store.shape();
    // A directory per run: what a run leaves beside its key is its own.
    let key = if store.name() == "gdrive" {
        format!("crash-{seed}.bin")
    } else {
        format!("crash-{seed}/object.bin")
    };
    let up = Upload::new(store, base, &key, size, seed);
    let mut stats = RunStats::default();

    let end = run_and_kill(up.command(true), &up.cp, at, &up.dir);
    if !end.killed {
        // It finished before the kill point: it must have succeeded, and stored the body.
        assert!(end.status.success(), "the child failed on its own: {end:?}");
        stats.finished_first = true;
        assert!(!up.cp.exists() && !sidecar(&up.cp).exists());
        up.assert_stored();
        up.assert_no_leftovers();
        return stats;
    }
    up.assert_checkpoint_clean();
    let token = read_checkpoint(&up.cp);
    let in_flight = sh.in_flight() * sh.part_size;
    let landed = token.as_ref().and_then(|t| store.landed(&key, t));
    if let Some(t) = &token {
        assert_eq!(t.total, size);
        stats.all_landed = t.loaded == size;
        if let Some(l) = landed {
            // The child had at most `in_flight` bytes on the wire past its last checkpoint.
            stats.past_checkpoint = l.saturating_sub(t.loaded);
            assert!(
                stats.past_checkpoint <= in_flight,
                "{l} bytes landed, the checkpoint says {}: more than {} part(s) past it",
                t.loaded,
                sh.in_flight()
            );
        }
    } else {
        stats.before_checkpoint = true;
    }

    let j = match up.try_finish() {
        Ok(j) => j,
        Err(o) => {
            let err = stderr(&o);
            panic!(
                "the resume failed: exit {:?}\nstderr: {err}\ncheckpoint: {}",
                o.status.code(),
                std::fs::read_to_string(&up.cp).unwrap_or_else(|e| e.to_string())
            );
        }
    };
    let resumed = j["bytes_resumed"].as_u64().expect("bytes_resumed");
    let sent = j["bytes_sent"].as_u64().expect("bytes_sent");
    assert_eq!(resumed + sent, size, "{j}");
    match &token {
        Some(t) => {
            assert_eq!(j["resumed"], true, "{j}");
            // The resume starts no earlier than the last checkpoint: what it sends again is
            // at most what the child had in flight past it.
            assert!(
                resumed >= t.loaded,
                "resumed from {resumed}, but the checkpoint said {} had landed: {j}",
                t.loaded
            );
            if let Some(l) = landed {
                stats.resent_landed = l.saturating_sub(resumed);
                assert!(
                    stats.resent_landed <= in_flight,
                    "{l} bytes had landed, the resume kept {resumed}: {j}"
                );
            }
        }
        None => {
            assert_eq!(j["resumed"], false, "{j}");
            assert_eq!(sent, size, "{j}");
        }
    }
    up.assert_stored();
    let left = store.leftovers(&key);
    if token.is_some() {
        assert!(left.is_empty(), "leftovers of {key}: {left:?}");
    } else {
        // Killed between creating the session and saving the first checkpoint: nothing
        // names that session, so it can only be left to the provider's expiry.
        assert!(left.len() <= 1, "leftovers of {key}: {left:?}");
        stats.orphans = left.len();
    }
    stats
}

/// `FILES_CRASH_SEED` (default 1) and `FILES_CRASH_RUNS` (default `default_runs`).
pub fn seeds(default_runs: u64) -> std::ops::Range<u64> {
    let var = |n: &str| {
        std::env::var(n).ok().map(|v| {
            v.trim()
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{n}={v} is not a number"))
        })
    };
    let first = var("FILES_CRASH_SEED").unwrap_or(1);
    let runs = var("FILES_CRASH_RUNS").unwrap_or(default_runs);
    first..first + runs
}

/// Runs [`crash_run`] for every seed of `seeds`, `jobs` at a time (the runs mostly wait on
/// the rate limit), then fails naming every failing seed and how to replay it.
pub fn matrix(store: &dyn Store, test: &str, seeds: std::ops::Range<u64>, jobs: usize) {
    matrix_with(store, test, seeds, jobs, |base, seed| {
        crash_run(store, base, seed)
    })
}

/// [`matrix`] with the run given: `run(base_dir, seed)`.
pub fn matrix_with(
    store: &dyn Store,
    test: &str,
    seeds: std::ops::Range<u64>,
    jobs: usize,
    run: impl Fn(&Path, u64) -> RunStats + Sync,
) {
    let base = tempfile::tempdir().unwrap();
    let next = AtomicU64::new(seeds.start);
    let failures: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());
    let all: Mutex<Vec<RunStats>> = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::SeqCst);
                    if seed >= seeds.end {
                        break;
                    }
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        run(base.path(), seed)
                    }));
                    match r {
                        Ok(st) => all.lock().unwrap().push(st),
                        Err(p) => {
                            let msg = p
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default();
                            failures.lock().unwrap().push((seed, msg));
                        }
                    }
                }
            });
        }
    });
    let all = all.into_inner().unwrap();
    let count = |f: fn(&RunStats) -> bool| all.iter().filter(|s| f(s)).count();
    eprintln!(
        "{}: {} runs (seeds {}..{}) in {:.1?}: {} killed before the first checkpoint ({} orphan sessions), {} after every part landed, {} finished before the kill; max landed past the checkpoint {} B, max landed bytes re-sent {} B (bound {} B)",
        store.name(),
        seeds.end - seeds.start,
        seeds.start,
        seeds.end,
        started.elapsed(),
        count(|s| s.before_checkpoint),
        all.iter().map(|s| s.orphans).sum::<usize>(),
        count(|s| s.all_landed),
        count(|s| s.finished_first),
        all.iter().map(|s| s.past_checkpoint).max().unwrap_or(0),
        all.iter().map(|s| s.resent_landed).max().unwrap_or(0),
        store.shape().in_flight() * store.shape().part_size,
    );
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    if !failures.is_empty() {
        let lines: Vec<String> = failures
            .iter()
            .map(|(seed, msg)| {
                format!(
                    "seed {seed} (default plan: {:?}): {msg}\n  replay: FILES_CRASH_SEED={seed} FILES_CRASH_RUNS=1 cargo nextest run -p files-cli --test suites crash_matrix::{test}",
                    plan(store.shape(), *seed)
                )
            })
            .collect();
        panic!(
            "{}: {} of {} crash runs failed:\n{}",
            store.name(),
            failures.len(),
            seeds.end - seeds.start,
            lines.join("\n")
        );
    }
}

/// Ctrl-C (`SIGINT`) pauses a slow upload: exit 130, the checkpoint kept, the resume and
/// abort commands printed; running the printed resume command finishes the upload from the
/// checkpoint. Then the object is downloaded back through the CLI.
pub fn sigint_pause_then_resume(store: &dyn Store) {
    let base = tempfile::tempdir().unwrap();
    let sh = store.shape();
    let size = sh.parts * sh.part_size + 4321;
    let key = if store.name() == "gdrive" {
        "paused.bin"
    } else {
        "pause/paused.bin"
    };
    let up = Upload::new(store, base.path(), key, size, 130);
    let mut child = up
        .command(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let seen =
        files_testkit::crash::wait_for_checkpoint(&mut child, &up.cp, |t| t.loaded >= sh.part_size)
            .unwrap();
    assert!(seen.loaded < size);
    files_testkit::crash::interrupt(&child).unwrap();
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("upload paused"), "{err}");
    assert!(
        err.contains(&format!("abort --checkpoint {}", s(&up.cp))),
        "{err}"
    );
    assert!(stdout(&o).is_empty(), "no result line when interrupted");
    up.assert_no_secret("stderr", &err);
    let token = read_checkpoint(&up.cp).expect("the checkpoint is kept");
    // The pause lets the parts in flight land: all of them may have.
    assert!(
        token.loaded >= seen.loaded && token.loaded <= size,
        "{token:?}"
    );
    assert!(sidecar(&up.cp).exists());
    up.assert_checkpoint_clean();
    assert_eq!(
        up.store.stored(key),
        None,
        "nothing is visible before the end"
    );

    // The printed resume command, run as printed (with the store's environment).
    let printed = err
        .lines()
        .skip_while(|l| !l.starts_with("to resume, run the same command again:"))
        .nth(1)
        .unwrap_or_else(|| panic!("no resume command: {err}"))
        .trim()
        .to_string();
    assert!(!printed.contains("credentials were removed"), "{printed}");
    assert!(
        printed.starts_with(env!("CARGO_BIN_EXE_files")),
        "{printed}"
    );
    let mut sh_cmd = Command::new("sh");
    sh_cmd.arg("-c").arg(&printed).stdin(Stdio::null());
    for (k, v) in store.files().get_envs() {
        match v {
            Some(v) => sh_cmd.env(k, v),
            None => sh_cmd.env_remove(k),
        };
    }
    let o = sh_cmd.output().unwrap();
    assert!(
        o.status.success(),
        "the printed resume command failed: {printed}\n{}",
        stderr(&o)
    );
    let j = json_line(&o);
    assert_eq!(j["resumed"], true, "{j}");
    let resumed = j["bytes_resumed"].as_u64().unwrap();
    assert!(resumed >= token.loaded, "{j}");
    assert_eq!(resumed + j["bytes_sent"].as_u64().unwrap(), size, "{j}");
    assert!(!up.cp.exists() && !sidecar(&up.cp).exists());
    up.assert_stored();
    up.assert_no_leftovers();

    // And back through the CLI.
    let back = up.dir.join("back.bin");
    let o = store
        .files()
        .arg("download")
        .arg(store.url(key))
        .arg(&back)
        .output()
        .unwrap();
    super::ok(o);
    assert_eq!(sha256_file(&back).unwrap(), up.sha256());
}

/// Runs `files abort --checkpoint CP` and asserts it succeeded.
#[track_caller]
pub fn abort(up: &Upload) -> Output {
    let o = up
        .store
        .files()
        .args(["abort", "--checkpoint", &s(&up.cp)])
        .output()
        .unwrap();
    up.assert_no_secret("stderr", &stderr(&o));
    super::ok(o)
}

/// Runs the upload and asserts it fails with `session_expired`, keeping the checkpoint and
/// storing nothing.
#[track_caller]
pub fn assert_resume_says_session_expired(up: &Upload) {
    let o = up.command(false).output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: session_expired: "), "{err}");
    assert!(err.contains("cannot resume"), "{err}");
    assert!(stdout(&o).is_empty());
    assert!(up.cp.exists(), "the checkpoint is kept");
    assert_eq!(up.store.stored(&up.key), None);
}

/// A crashed upload's session is on the server; `files abort --checkpoint` removes it (checked
/// on the server side) and the checkpoint; a resume from a copy of that checkpoint then says
/// `session_expired`; where the server can expire a session itself, a resume of an expired
/// one says so too; after an abort of the dead session the same command starts afresh.
pub fn abort_and_expired(store: &dyn Store) {
    let base = tempfile::tempdir().unwrap();
    let sh = store.shape();
    let size = sh.parts * sh.part_size + 7;
    let key = if store.name() == "gdrive" {
        "aborted.bin"
    } else {
        "abort/aborted.bin"
    };
    let up = Upload::new(store, base.path(), key, size, 6);

    // Without a checkpoint there is nothing to abort.
    let o = store
        .files()
        .args(["abort", "--checkpoint", &s(&up.cp)])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: not_found: "),
        "{}",
        stderr(&o)
    );

    up.crash_at(sh.part_size);
    let left = store.leftovers(key);
    assert!(
        !left.is_empty(),
        "the session survives the crash on the server"
    );
    let cp_copy = up.dir.join("cp.copy.json");
    std::fs::copy(&up.cp, &cp_copy).unwrap();
    std::fs::copy(sidecar(&up.cp), sidecar(&cp_copy)).unwrap();

    let o = abort(&up);
    assert!(stderr(&o).contains("aborted"), "{}", stderr(&o));
    assert!(!up.cp.exists(), "the checkpoint is deleted");
    assert!(!sidecar(&up.cp).exists(), "the sidecar is deleted");
    up.assert_no_leftovers();
    assert_eq!(store.stored(key), None);

    // A resume of the discarded session names the reason.
    std::fs::rename(&cp_copy, &up.cp).unwrap();
    std::fs::rename(sidecar(&cp_copy), sidecar(&up.cp)).unwrap();
    assert_resume_says_session_expired(&up);
    up.assert_no_leftovers();

    // Abort of the dead session is fine too.
    abort(&up);
    assert!(!up.cp.exists());

    // A session the server expired (where the test server can do that).
    let token = up.crash_at(sh.part_size);
    if store.expire(&token) {
        assert_resume_says_session_expired(&up);
        abort(&up);
        assert!(!up.cp.exists());
    } else {
        abort(&up);
    }
    up.assert_no_leftovers();

    // The same command then starts afresh.
    let j = up.finish();
    assert_eq!(j["resumed"], false, "{j}");
    assert_eq!(j["bytes_sent"], size, "{j}");
    up.assert_stored();
    up.assert_no_leftovers();
}
