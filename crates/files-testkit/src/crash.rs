//! Crash helpers: prove that an upload survives `kill -9` and resumes in a later process.
//!
//! The pattern: start a child process that uploads with a checkpoint file (the `files` CLI, an
//! example binary, a test binary re-invoking itself...), watch the checkpoint until it shows
//! enough progress, kill the child with `SIGKILL` (no destructor, no flush, no goodbye), then
//! run the upload again and check that it resumed, sent only the missing bytes, and produced
//! exactly the source bytes.
//!
//! ```no_run
//! use std::process::Command;
//! use files_testkit::crash::{kill_when_loaded, sha256_file, write_random_file};
//!
//! # fn main() -> std::io::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let src = dir.path().join("src.bin");
//! write_random_file(&src, 48 << 20, 7)?;
//! let checkpoint = dir.path().join("upload.json");
//! let upload = || {
//!     let mut c = Command::new("files");
//!     c.arg("upload").arg(&src).arg(dir.path().join("store/dst.bin"))
//!         .args(["--part-size", "1MiB", "--bwlimit", "8MiB", "--checkpoint"])
//!         .arg(&checkpoint);
//!     c
//! };
//! let crash = kill_when_loaded(upload, &checkpoint, 12 << 20)?;
//! assert!(crash.token.loaded >= 12 << 20);
//! assert!(upload().status()?.success()); // resumes from the checkpoint
//! assert_eq!(sha256_file(&src)?, sha256_file(dir.path().join("store/dst.bin"))?);
//! # Ok(()) }
//! ```
//!
//! Everything here is independent of any adapter: it only reads checkpoint files (resume tokens
//! as JSON) and files on disk.

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use files_core::ResumeToken;
use sha2::{Digest, Sha256};

/// How often the checkpoint is read while waiting for the kill point.
pub const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// How long [`kill_when`] waits for the kill point before giving up (and killing the child
/// anyway). Generous: it only exists so that a broken child cannot hang a test run forever.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(600);

/// What a crash left behind.
#[derive(Debug)]
pub struct Crash {
    /// The checkpoint's token as it was read when the kill point was reached. The file may
    /// have advanced a little further before the kill landed; re-read it for the final state.
    pub token: ResumeToken,
    /// The child's exit status (killed by a signal on unix).
    pub status: ExitStatus,
}

/// Reads the checkpoint at `path`: `None` while it does not exist or does not parse as a
/// token (checkpoints are replaced atomically, so a torn read should not happen, but a
/// checkpoint written by another tool may be).
pub fn read_checkpoint(path: impl AsRef<Path>) -> Option<ResumeToken> {
    let text = std::fs::read_to_string(path).ok()?;
    ResumeToken::from_json(&text).ok()
}

/// Polls the checkpoint at `checkpoint` every [`POLL_INTERVAL`] until `when` accepts its
/// token, and returns that token.
///
/// Fails if the child exits first (the error names its exit status) or after
/// [`GIVE_UP_AFTER`]. The child is left running in every case.
pub fn wait_for_checkpoint(
    child: &mut Child,
    checkpoint: impl AsRef<Path>,
    mut when: impl FnMut(&ResumeToken) -> bool,
) -> io::Result<ResumeToken> {
    let checkpoint = checkpoint.as_ref();
    let started = Instant::now();
    loop {
        if let Some(token) = read_checkpoint(checkpoint)
            && when(&token)
        {
            return Ok(token);
        }
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!(
                "the child exited ({status}) before the checkpoint {} reached the kill point{}",
                checkpoint.display(),
                match read_checkpoint(checkpoint) {
                    Some(t) => format!(" (last seen: {} of {} bytes)", t.loaded, t.total),
                    None => " (no checkpoint was written)".to_string(),
                }
            )));
        }
        if started.elapsed() > GIVE_UP_AFTER {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the checkpoint {} did not reach the kill point within {:?}",
                    checkpoint.display(),
                    GIVE_UP_AFTER
                ),
            ));
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Spawns the command `make` builds, waits until the checkpoint at `checkpoint` satisfies
/// `when`, then kills the child with `SIGKILL` ([`Child::kill`] on unix) and reaps it.
///
/// The command's stdio is left as `make` configured it. If the child exits before the kill
/// point, or the kill point is not reached within [`GIVE_UP_AFTER`], the child is killed and
/// an error is returned.
pub fn kill_when(
    make: impl FnOnce() -> Command,
    checkpoint: impl AsRef<Path>,
    when: impl FnMut(&ResumeToken) -> bool,
) -> io::Result<Crash> {
    let mut child = make().spawn()?;
    let found = wait_for_checkpoint(&mut child, checkpoint, when);
    // Kill (a child that already exited makes `kill` fail harmlessly) and reap it.
    let _ = child.kill();
    let status = child.wait()?;
    Ok(Crash {
        token: found?,
        status,
    })
}

/// [`kill_when`] with the usual kill point: the checkpoint reports at least `min_loaded`
/// confirmed bytes.
pub fn kill_when_loaded(
    make: impl FnOnce() -> Command,
    checkpoint: impl AsRef<Path>,
    min_loaded: u64,
) -> io::Result<Crash> {
    kill_when(make, checkpoint, |t| t.loaded >= min_loaded)
}

/// Sends `SIGINT` (what Ctrl-C sends) to a child process, through the system's `kill`
/// command. Unix only.
#[cfg(unix)]
pub fn interrupt(child: &Child) -> io::Result<()> {
    let status = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "`kill -INT {}` failed ({status})",
            child.id()
        )))
    }
}

/// The SHA-256 of a file's content, as 64 lowercase hex digits.
pub fn sha256_file(path: impl AsRef<Path>) -> io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// The SHA-256 of bytes, as 64 lowercase hex digits.
pub fn sha256_bytes(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `len` pseudo-random bytes to `path` (created or truncated). The same `seed` gives
/// the same bytes; the content is incompressible enough for upload tests, not for crypto.
pub fn write_random_file(path: impl AsRef<Path>, len: u64, seed: u64) -> io::Result<()> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut f = io::BufWriter::new(std::fs::File::create(path)?);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        rng.fill(&mut buf[..n]);
        f.write_all(&buf[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    f.into_inner().map_err(|e| e.into_error())?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_files_are_reproducible() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        write_random_file(&a, 3 << 20 | 17, 1).unwrap();
        write_random_file(&b, 3 << 20 | 17, 1).unwrap();
        write_random_file(&c, 3 << 20 | 17, 2).unwrap();
        assert_eq!(std::fs::metadata(&a).unwrap().len(), 3 << 20 | 17);
        assert_eq!(sha256_file(&a).unwrap(), sha256_file(&b).unwrap());
        assert_ne!(sha256_file(&a).unwrap(), sha256_file(&c).unwrap());
        let bytes = std::fs::read(&a).unwrap();
        assert_eq!(sha256_file(&a).unwrap(), sha256_bytes(&bytes));
    }

    #[test]
    fn sha256_known_value() {
        assert_eq!(
            sha256_bytes(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[cfg(unix)]
    #[test]
    fn child_exiting_early_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let cp = dir.path().join("never.json");
        let err = kill_when(
            || {
                let mut c = Command::new("sh");
                c.args(["-c", "exit 3"]);
                c
            },
            &cp,
            |_| true,
        )
        .unwrap_err();
        assert!(err.to_string().contains("exited"), "{err}");
    }
}
