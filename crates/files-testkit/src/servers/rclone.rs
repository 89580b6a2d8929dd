//! `rclone serve s3` over a directory, the fastest local S3, as a test server
//! ([`RcloneServer`]).
//!
//! std only: it sits with the files `xtask` compiles (see `common.rs`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::common::*;

/// `rclone serve s3` over a directory on 127.0.0.1, killed on drop. Buckets are the
/// directory's subdirectories; it checks signatures against [`ACCESS_KEY_ID`] /
/// [`SECRET_ACCESS_KEY`].
#[derive(Debug)]
pub struct RcloneServer {
    endpoint: String,
    dir: PathBuf,
    process: ServerProcess,
}

impl RcloneServer {
    /// Installs rclone if needed and serves `dir` (created if missing) over S3 on a free port,
    /// waiting until it answers.
    pub fn start(dir: impl Into<PathBuf>) -> Result<RcloneServer, String> {
        RcloneServer::start_with(dir, &[])
    }

    /// [`RcloneServer::start`] with extra `rclone serve s3` flags (the benchmark's
    /// `--ignore-checksum`, say).
    pub fn start_with(dir: impl Into<PathBuf>, flags: &[&str]) -> Result<RcloneServer, String> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let installed = ensure_installed()?;
        let config = servers_dir().join("rclone.conf");
        let process = ServerProcess::start(
            "rclone",
            |port| {
                let mut c = Command::new(&installed.rclone);
                c.env("RCLONE_CONFIG", &config)
                    .args(["serve", "s3", "--addr"])
                    .arg(format!("127.0.0.1:{port}"))
                    .arg("--auth-key")
                    .arg(format!("{ACCESS_KEY_ID},{SECRET_ACCESS_KEY}"))
                    .args(flags)
                    .arg(&dir);
                c
            },
            answers_http,
        )?;
        Ok(RcloneServer {
            endpoint: format!("http://127.0.0.1:{}", process.port()),
            dir,
            process,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The port it serves on.
    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// The directory it serves.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The process.
    pub fn process(&self) -> &ServerProcess {
        &self.process
    }

    /// Creates the bucket `name` (a subdirectory of the served directory).
    pub fn create_bucket(&self, name: &str) -> Result<(), String> {
        let path = self.dir.join(name);
        fs::create_dir_all(&path).map_err(|e| format!("create bucket {name}: {e}"))
    }

    /// Creates a bucket with a unique name made from `tag` and returns the name.
    pub fn new_bucket(&self, tag: &str) -> Result<String, String> {
        let name = unique_bucket_name(tag);
        self.create_bucket(&name)?;
        Ok(name)
    }
}

/// [`RcloneServer::start`] over `dir`, or `None` after [`unavailable`] reported why (it panics
/// in CI).
#[track_caller]
pub fn rclone_or_skip(dir: impl Into<PathBuf>) -> Option<RcloneServer> {
    match RcloneServer::start(dir) {
        Ok(server) => Some(server),
        Err(why) => unavailable("rclone serve s3", &why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rclone_serves_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let Some(rclone) = rclone_or_skip(dir.path().join("data")) else {
            return;
        };
        let bucket = rclone.new_bucket("rc").unwrap();
        assert!(rclone.dir().join(&bucket).is_dir());
        // Badly signed requests are refused: it checks the credentials.
        let answer = http(rclone.port(), "GET", &format!("/{bucket}"), b"").unwrap();
        assert!(
            answer.status == 403 || answer.status == 400,
            "{}",
            answer.status
        );
        let port = rclone.port();
        drop(rclone);
        assert!(!answers_http(port));
    }
}
