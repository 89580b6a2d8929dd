//! The command line, as clap parses it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::parse::{RangeArg, parse_duration, parse_range, parse_size};

/// `files`: upload, download, list, copy and move objects in any store the build supports.
///
/// Locations are URLs (`file:///srv/store/key`, `memory://name/key`, ...). A location without a
/// scheme is a local path and means the `file://` URL of its absolute path.
#[derive(Debug, Parser)]
#[command(name = "files", version, about, long_about = None)]
#[command(
    after_help = "Retries: a failed request is retried (--retries, default 10) with a growing wait; \
on a terminal, and always with -v, each retry prints `retry N/MAX in WAIT: <error>` on stderr \
(FILES_PROGRESS=always shows them when stderr is not a terminal too, FILES_PROGRESS=never hides \
them and the progress bar).\n\
Logging: set FILES_LOG (e.g. FILES_LOG=debug, FILES_LOG=aws_config=debug) for diagnostics on \
stderr; without it only the tool's own warnings show.\n\
Output: --json prints one JSON line per result on stdout (for `download ... -`, on stderr).\n\
Exit codes: 0 success, 1 error, 2 usage error, 130 interrupted (Ctrl-C)."
)]
pub struct Cli {
    /// Retries of a failed request before giving up (0: try once). Default 10.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub retries: Option<u32>,
    /// The longest one request may take (e.g. 30s, 500ms, 2m); a request that takes longer is
    /// retried. Default: none. On downloads, the longest wait for the next piece of the body.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Show each retry as it happens (it does anyway on a terminal); -vv also shows the
    /// storage library's diagnostics.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Upload a local file; resumable with --checkpoint (run the same command again to resume,
    /// or add --restart to discard the checkpoint's session and start over).
    Upload(UploadArgs),
    /// Discard the interrupted upload a checkpoint names, and delete the checkpoint.
    Abort(AbortArgs),
    /// Download an object (or a byte range of it) to a local file (`-` for stdout).
    Download(DownloadArgs),
    /// List objects under a URL: `ls URL` (or `ls URL/`) lists what is under that
    /// "directory", one line per object (size, time, name) or common prefix (DIR, name/);
    /// names are relative to the listed URL (as `aws s3 ls` prints them), and `--json` adds
    /// each entry's full `url`.
    Ls(LsArgs),
    /// Show an object's metadata.
    Stat(StatArgs),
    /// Delete an object.
    Rm(RmArgs),
    /// Copy an object (server-side when source and destination are in the same store).
    Cp(CopyArgs),
    /// Move an object (a native rename where the store has one).
    Mv(CopyArgs),
}

/// `files upload`.
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The local file to upload.
    pub src: String,
    /// Destination URL (or local path). A destination ending in `/` (or an existing local
    /// directory) gets the source's file name appended.
    pub dest: String,
    /// Part (chunk) size, e.g. 8MiB. Default: the provider's. Ignored when resuming (the
    /// session's part size is kept).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub part_size: Option<u64>,
    /// Parts in flight at once (default 4).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: Option<u32>,
    /// Save a resume checkpoint to FILE after every confirmed part; if FILE exists, resume from
    /// it. Removed when the upload completes.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Cap the average upload rate, in bytes per second (e.g. 20MiB).
    #[arg(long, value_name = "RATE", value_parser = parse_size)]
    pub bwlimit: Option<u64>,
    /// Print one JSON line with the result on stdout (and no progress bar).
    #[arg(long)]
    pub json: bool,
    /// MIME type to store with the object.
    #[arg(long, value_name = "TYPE")]
    pub content_type: Option<String>,
    /// Start over from byte 0 instead of resuming: discard the provider session the
    /// --checkpoint FILE names (one that has already expired or gone is fine), delete FILE and
    /// its FILE.dest, then upload the whole file. For a checkpoint that cannot resume (e.g.
    /// `session_expired`, `body_changed`). Without an existing checkpoint it just uploads.
    #[arg(long)]
    pub restart: bool,
}

/// `files abort`.
#[derive(Debug, Args)]
pub struct AbortArgs {
    /// The checkpoint file of the upload to discard.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: PathBuf,
    /// The upload's destination URL; by default read from `FILE.dest`, which `upload` writes.
    #[arg(long, value_name = "URL")]
    pub dest: Option<String>,
    /// Print one JSON line with the result on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `files download`.
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// Source URL (or local path).
    pub src: String,
    /// Local destination file, a directory, or `-` for stdout.
    pub dest: String,
    /// Only these bytes: START-END (inclusive), START- (to the end) or -N (the last N bytes).
    #[arg(long, value_name = "START-END", value_parser = parse_range, allow_hyphen_values = true)]
    pub range: Option<RangeArg>,
    /// Ranged requests in flight at once (default 1: one request). With N > 1 the object is
    /// read in `--chunk-size` ranges, N at a time, and still written in order.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: Option<u32>,
    /// The range size of a parallel download (default 8MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub chunk_size: Option<u64>,
    /// Cap the average download rate, in bytes per second (e.g. 20MiB).
    #[arg(long, value_name = "RATE", value_parser = parse_size)]
    pub bwlimit: Option<u64>,
    /// Discard the partial file an earlier, interrupted download of DEST left, instead of
    /// continuing it.
    #[arg(long)]
    pub restart: bool,
    /// Print one JSON line with the result (on stderr when DEST is `-`, whose stdout is the
    /// object).
    #[arg(long)]
    pub json: bool,
}

/// `files ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// URL of a "directory" (prefix) or object; `URL` and `URL/` list the same "directory"
    /// (a URL naming an object shows that object).
    pub url: String,
    /// List every object under the prefix, not only the first level.
    #[arg(long, short = 'r')]
    pub recursive: bool,
    /// One JSON object per line on stdout (`name` relative to the URL, `url`, `key`, ...).
    #[arg(long)]
    pub json: bool,
}

/// `files stat`.
#[derive(Debug, Args)]
pub struct StatArgs {
    /// Object URL (or local path).
    pub url: String,
    /// One JSON line on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `files rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Object URL (or local path).
    pub url: String,
    /// Succeed even if the object does not exist.
    #[arg(long, short = 'f')]
    pub force: bool,
    /// Print one JSON line with the result on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `files cp` and `files mv`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Source object URL (or local path).
    pub src: String,
    /// Destination URL (or local path); ending in `/`, the source's name is appended.
    pub dest: String,
    /// Print one JSON line with the result on stdout.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_upload_options() {
        let cli = Cli::try_parse_from([
            "files",
            "upload",
            "a.bin",
            "/tmp/s/a.bin",
            "--part-size",
            "1MiB",
            "--bwlimit",
            "8MiB",
            "--concurrency",
            "3",
            "--checkpoint",
            "cp.json",
            "--json",
        ])
        .unwrap();
        let Command::Upload(u) = cli.command else {
            panic!("not upload")
        };
        assert_eq!(u.part_size, Some(1 << 20));
        assert_eq!(u.bwlimit, Some(8 << 20));
        assert_eq!(u.concurrency, Some(3));
        assert!(u.json);
        assert!(!u.restart);
        let r = Cli::try_parse_from(["files", "upload", "a", "b", "--restart"]).unwrap();
        let Command::Upload(r) = r.command else {
            panic!("not upload")
        };
        assert!(r.restart);
        assert!(Cli::try_parse_from(["files", "upload", "a", "b", "--part-size", "x"]).is_err());
        let d = Cli::try_parse_from(["files", "download", "u", "d", "--range", "-5"]).unwrap();
        let Command::Download(d) = d.command else {
            panic!("not download")
        };
        assert_eq!(d.range, Some(RangeArg::Suffix(5)));
    }

    #[test]
    fn parses_global_options_anywhere() {
        let cli = Cli::try_parse_from([
            "files",
            "ls",
            "memory://m/",
            "--retries",
            "2",
            "--timeout",
            "1500ms",
            "-vv",
        ])
        .unwrap();
        assert_eq!(cli.retries, Some(2));
        assert_eq!(cli.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(cli.verbose, 2);
        let cli = Cli::try_parse_from(["files", "--retries", "0", "rm", "u", "--json"]).unwrap();
        assert_eq!(cli.retries, Some(0));
        let Command::Rm(r) = cli.command else {
            panic!("not rm")
        };
        assert!(r.json);
        assert!(Cli::try_parse_from(["files", "ls", "u", "--timeout", "soon"]).is_err());
    }
}
