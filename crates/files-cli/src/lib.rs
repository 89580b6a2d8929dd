//! # files-cli
//!
//! The `files` command-line tool over the `files` storage SDK: resumable uploads with a progress
//! bar, downloads (whole or a byte range), listing, metadata, delete, copy and move, against any
//! store whose adapter is linked into the build (`file://` and `memory://` by default).
//!
//! ```text
//! files upload <SRC> <DEST_URL> [--part-size 8MiB] [--concurrency N] [--checkpoint FILE]
//!                               [--bwlimit 20MiB] [--json] [--content-type T] [--restart]
//! files abort --checkpoint FILE [--dest URL]
//! files download <SRC_URL> <DEST> [--range START-END] [--concurrency N] [--chunk-size 8MiB]
//!                                 [--bwlimit 20MiB] [--restart]
//! files ls <URL> [--recursive] [--json]
//! files stat <URL> [--json]
//! files rm <URL> [--force] [--json]
//! files cp <SRC_URL> <DEST_URL> [--json]
//! files mv <SRC_URL> <DEST_URL> [--json]
//! (every command) [--retries N] [--timeout DURATION] [-v]
//! ```
//!
//! `ls URL` and `ls URL/` list the same "directory" on every provider, and print names
//! relative to it (as `aws s3 ls` does); `--json` adds each entry's full `url`.
//!
//! **Retries.** A request that fails in a way that may pass (a refused connection, a 503, a
//! timeout) is retried up to `--retries N` times (default 10) with a growing wait; each
//! attempt is bounded by `--timeout`. On a terminal (or with `-v`, or `FILES_PROGRESS=always`)
//! each retry prints `retry 2/10 in 400 ms: <error>` as it happens. Missing or refused
//! credentials are never retried.
//!
//! A location without a scheme is a local path: it means the `file://` URL of its absolute
//! path, so `files upload a.bin /tmp/store/a.bin` writes to local disk.
//!
//! **Resume.** `upload --checkpoint FILE` saves the resume token to `FILE` after every confirmed
//! part and writes the destination URL (without credentials) to `FILE.dest`. Running the same
//! command again resumes, sending only the bytes that did not land; `files abort --checkpoint
//! FILE` discards the session instead, and `upload --restart` discards it and starts over from
//! byte 0 in one step (the way on after `session_expired` or `body_changed`; without an
//! existing checkpoint it just uploads). Ctrl-C pauses (in-flight parts settle, the checkpoint is
//! current), prints both commands and exits with 130; without `--checkpoint` Ctrl-C aborts the
//! upload, since nothing could resume it. A second Ctrl-C exits at once.
//!
//! A download to a file writes `.NAME.fls-download` beside DEST (with a record of the object's
//! version in `.NAME.fls-download.json`) and renames it into place once whole. Ctrl-C, a kill,
//! a reboot or a connection that stays broken leave it; running the same command again
//! continues from it with a range request if the object is still the same version (ETag, else
//! size and modification time), and starts over if not (`--restart` starts over anyway).
//!
//! **Errors** are one line on stderr, `error: <kind>: <message>`, with exit code 1; usage
//! errors exit with 2. `FILES_LOG` (e.g. `FILES_LOG=debug`) turns on diagnostics on stderr;
//! without it, the libraries underneath (the AWS SDK, HTTP clients) print nothing.
#![deny(missing_docs)]

pub mod args;
mod commands;
mod logging;
pub mod parse;
mod upload;

use std::io::Write;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

use clap::Parser;

use crate::args::{Cli, Command};

/// The exit code of an interrupted command (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Runs the tool with the process's arguments and returns its exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.verbose);
    let _ = OPTIONS.set(ClientOptions {
        retries: cli.retries,
        timeout: cli.timeout,
    });
    files::register_all();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: other: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(dispatch(cli));
    // Nothing is in flight when a command returns; do not wait on idle blocking threads.
    runtime.shutdown_background();
    let _ = std::io::stdout().flush();
    code
}

/// The options every client of the command gets (`--retries`, `--timeout`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ClientOptions {
    pub(crate) retries: Option<u32>,
    pub(crate) timeout: Option<Duration>,
}

static OPTIONS: OnceLock<ClientOptions> = OnceLock::new();

/// A client with the command line's retry policy and per-request timeout.
pub(crate) fn configure(files: files::Files) -> files::Files {
    let o = OPTIONS.get().copied().unwrap_or_default();
    let mut files = files;
    if let Some(n) = o.retries {
        files = files.with_retry(files::RetryPolicy {
            max_retries: n,
            ..files::RetryPolicy::default()
        });
    }
    if let Some(t) = o.timeout {
        files = files.with_timeout(t);
    }
    files
}

/// The error line: `error: <kind>: <message>`, what to set when credentials were refused, and
/// the retries made before giving up.
fn error_line(e: &files::Error) -> String {
    let mut line = format!("error: {}", one_line(&e.to_string()));
    if let Some(hint) = credential_hint(e) {
        line.push_str("; ");
        line.push_str(hint);
    }
    match logging::retries() {
        0 => {}
        1 => line.push_str(" (gave up after 1 retry)"),
        n => line.push_str(&format!(" (gave up after {n} retries)")),
    }
    line
}

/// What to set for a store whose adapter does not say so itself when its credentials are
/// missing or refused (an anonymous FTP login, an unauthenticated WebDAV or Azure request, an
/// SSH login with nothing to offer): the variables the CLI's build reads them from.
fn credential_hint(e: &files::Error) -> Option<&'static str> {
    if e.kind() != files::ErrorKind::Unauthorized {
        return None;
    }
    let (named, hint) = match e.context().provider.as_deref()? {
        "ftp" => (
            "FILES_FTP_PASSWORD",
            "to log in, set FILES_FTP_USER and FILES_FTP_PASSWORD (without them the login is \
             anonymous)",
        ),
        "webdav" => (
            "FILES_WEBDAV_PASSWORD",
            "to log in, set FILES_WEBDAV_USER and FILES_WEBDAV_PASSWORD, or FILES_WEBDAV_TOKEN \
             (a bearer token)",
        ),
        "sftp" => (
            "FILES_SFTP_PASSWORD",
            "to log in, set FILES_SFTP_PASSWORD, or FILES_SFTP_KEY (a private key file), or run \
             an ssh-agent (SSH_AUTH_SOCK); the user comes from the URL or FILES_SFTP_USER",
        ),
        "azure" => (
            "AZURE_STORAGE_KEY",
            "to authenticate, set AZURE_STORAGE_KEY (the account key), AZURE_STORAGE_SAS_TOKEN \
             or AZURE_STORAGE_CONNECTION_STRING",
        ),
        _ => return None,
    };
    (!e.message().contains(named)).then_some(hint)
}

async fn dispatch(cli: Cli) -> ExitCode {
    let mut interrupts = match Interrupts::new() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: other: cannot listen for Ctrl-C: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Upload(a) => upload::upload(a, &mut interrupts).await,
        Command::Abort(a) => upload::abort(a).await,
        Command::Download(a) => commands::download(a, &mut interrupts).await,
        Command::Ls(a) => interruptible(commands::ls(a), &mut interrupts).await,
        Command::Stat(a) => interruptible(commands::stat(a), &mut interrupts).await,
        Command::Rm(a) => interruptible(commands::rm(a), &mut interrupts).await,
        Command::Cp(a) => interruptible(commands::cp(a, false), &mut interrupts).await,
        Command::Mv(a) => interruptible(commands::cp(a, true), &mut interrupts).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", error_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// Errors are printed on one line.
fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a command that has nothing to clean up; Ctrl-C ends it with exit code 130.
async fn interruptible(
    fut: impl Future<Output = files::Result<ExitCode>>,
    interrupts: &mut Interrupts,
) -> files::Result<ExitCode> {
    tokio::select! {
        r = fut => r,
        _ = interrupts.recv() => {
            eprintln!("interrupted");
            Ok(ExitCode::from(EXIT_INTERRUPTED))
        }
    }
}

/// SIGINT (Ctrl-C), listened to from the start so that it never kills the process mid-write.
pub(crate) struct Interrupts {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Interrupts {
    fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Interrupts {
                signal: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Interrupts {})
        }
    }

    /// Waits for the next Ctrl-C.
    pub(crate) async fn recv(&mut self) {
        #[cfg(unix)]
        {
            if self.signal.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_line_joins() {
        assert_eq!(super::one_line("a\nb\r\n\nc"), "a b c");
    }

    #[test]
    fn refused_credentials_name_what_to_set() {
        use files::{Error, ErrorKind};
        let refused = |provider: &str, message: &str| {
            super::credential_hint(
                &Error::new(ErrorKind::Unauthorized, message).with_provider(provider),
            )
        };
        assert!(refused("ftp", "530").unwrap().contains("FILES_FTP_USER"));
        assert!(
            refused("webdav", "401")
                .unwrap()
                .contains("FILES_WEBDAV_TOKEN")
        );
        assert!(
            refused("sftp", "no methods")
                .unwrap()
                .contains("FILES_SFTP_KEY")
        );
        assert!(
            refused("azure", "403")
                .unwrap()
                .contains("AZURE_STORAGE_SAS_TOKEN")
        );
        // Said already by the adapter, or another provider, or another kind: nothing added.
        assert_eq!(refused("ftp", "check FILES_FTP_PASSWORD"), None);
        assert_eq!(refused("s3", "no AWS credentials"), None);
        let other = Error::transient("refused").with_provider("ftp");
        assert_eq!(super::credential_hint(&other), None);
    }
}
