//! The crash matrix of the `files` CLI, over every store whose uploads resume across
//! processes: fs, S3 (moto), SFTP (sshd), FTP (pyftpdlib), WebDAV (Apache), Azure (Azurite),
//! GCS (FakeGcs) and Google Drive (FakeDrive, reached through `GDRIVE_ENDPOINT`).
//!
//! Per store:
//! - `<store>_kill9`: 50 seeded runs (`FILES_CRASH_SEED`, default 1; `FILES_CRASH_RUNS`, default
//!   50) that start `files upload --checkpoint` in a child, `kill -9` it at the seed's point
//!   (from before the first checkpoint exists to after every part landed, around the
//!   complete/finish), resume in a new process, and compare the SHA-256 of what the server
//!   holds with the source; no session is left on the server. The bound: the resume starts
//!   at or past the last checkpoint's `loaded` (its `--json` `bytes_resumed`), and where the
//!   server shows what landed, at most `concurrency` parts (one for appending stores) had
//!   landed past the checkpoint and at most that many are sent again.
//! - `<store>_sigint_pause_then_resume`: Ctrl-C pauses (exit 130, resume command printed);
//!   the printed command resumes.
//! - `<store>_abort_and_expired`: `files abort --checkpoint` leaves no session on the server;
//!   a resume of the discarded (or server-expired) session says `session_expired`.
//!
//! A failing run names its seed and the command that replays it alone. Run with
//! `cargo nextest run -p files-cli --test suites crash_matrix::`.

use crate::common;

use common::crash::{abort_and_expired, matrix, seeds, sigint_pause_then_resume};
use common::stores;

/// Runs per store by default.
const RUNS: u64 = 50;
/// Runs of one store in flight at once: they mostly wait on the rate limit.
const JOBS: usize = 3;

macro_rules! store_tests {
    ($feature:literal, $kill:ident, $pause:ident, $abort:ident, $make:expr) => {
        #[cfg(feature = $feature)]
        #[test]
        fn $kill() {
            let store = files_testkit::require_server!($make);
            matrix(&store, stringify!($kill), seeds(RUNS), JOBS);
        }

        #[cfg(all(unix, feature = $feature))]
        #[test]
        fn $pause() {
            let store = files_testkit::require_server!($make);
            sigint_pause_then_resume(&store);
        }

        #[cfg(feature = $feature)]
        #[test]
        fn $abort() {
            let store = files_testkit::require_server!($make);
            abort_and_expired(&store);
        }
    };
}

store_tests!(
    "fs",
    fs_kill9,
    fs_sigint_pause_then_resume,
    fs_abort_and_expired,
    stores::fs()
);
store_tests!(
    "s3",
    s3_kill9,
    s3_sigint_pause_then_resume,
    s3_abort_and_expired,
    stores::s3("crash-matrix")
);

/// The S3 complete race: each run kills the child just after its checkpoint says
/// `completing` (the CompleteMultipartUpload request is going out, or being served), with a
/// 15-20 MiB body so that moto takes a while to assemble it, then resumes at once.
///
/// moto (like any S3 whose complete takes time) removes the multipart upload before the
/// object is visible, so the resume's ListParts answers `NoSuchUpload` while the object is
/// still being assembled. A `completing` token whose session is gone waits (bounded) for the
/// object and takes the upload as completed when it appears with the body's size; before
/// that fix, seeds 4, 13, 15 and 22 of `s3_kill9` said `session_expired` here.
#[cfg(feature = "s3")]
#[test]
fn s3_kill9_during_complete() {
    use common::crash::{KillAt, Rng, crash_run_at, matrix_with};
    use common::stores::Store;
    use std::time::Duration;

    let store = files_testkit::require_server!(stores::s3("crash-complete"));
    let sh = store.shape();
    matrix_with(
        &store,
        "s3_kill9_during_complete",
        seeds(20),
        2,
        |base, seed| {
            let mut rng = Rng::new(seed);
            let size = 3 * sh.part_size + 1 + rng.below(sh.part_size);
            let at = KillAt::Completing {
                then: Duration::from_millis(rng.below(5)),
            };
            crash_run_at(&store, base, seed, size, at)
        },
    );
}
store_tests!(
    "sftp",
    sftp_kill9,
    sftp_sigint_pause_then_resume,
    sftp_abort_and_expired,
    stores::sftp("crash-matrix")
);
store_tests!(
    "ftp",
    ftp_kill9,
    ftp_sigint_pause_then_resume,
    ftp_abort_and_expired,
    files_testkit::ftpd::pyftpdlib_or_skip().map(|s| stores::ftp(s, "crash-matrix"))
);
store_tests!(
    "webdav",
    webdav_kill9,
    webdav_sigint_pause_then_resume,
    webdav_abort_and_expired,
    stores::webdav()
);
store_tests!(
    "azure",
    azure_kill9,
    azure_sigint_pause_then_resume,
    azure_abort_and_expired,
    stores::azure("crash-matrix")
);
store_tests!(
    "gcs",
    gcs_kill9,
    gcs_sigint_pause_then_resume,
    gcs_abort_and_expired,
    stores::gcs("crash-matrix")
);
store_tests!(
    "gdrive",
    gdrive_kill9,
    gdrive_sigint_pause_then_resume,
    gdrive_abort_and_expired,
    stores::gdrive("crash-matrix")
);
store_tests!(
    "onedrive",
    onedrive_kill9,
    onedrive_sigint_pause_then_resume,
    onedrive_abort_and_expired,
    stores::onedrive("crash-matrix")
);
