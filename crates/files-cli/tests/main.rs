//! The integration tests of the `files` CLI, as one test binary (one link, one executable on
//! disk, instead of one per file). Each store's tests are a module; run one with a filter, for
//! example `cargo nextest run -p files-cli --test suites sftp::` or
//! `cargo nextest run -p files-cli --test suites crash_matrix::gdrive_`.

mod common;

mod cli;
// Only the stores whose uploads resume across processes have a crash matrix.
#[cfg(any(
    feature = "fs",
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
mod crash_matrix;
mod first_contact;
mod ftp;
mod s3;
mod sftp;
mod webdav;
