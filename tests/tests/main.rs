//! The cross-crate suites, as one test binary: each module was a test target of its own, and
//! every target links the whole SDK with all its providers (about 60 MiB each in a debug build).
//! One binary links once. Run one suite with a filter, e.g.
//! `cargo nextest run -p files-tests proxy_s3::`.

mod proxy_common;

mod conformance_fs;
mod conformance_memory;
mod conformance_s3;
mod conformance_under_faults;
mod faults;
mod fuzz_corpus;
mod parallel_download;
mod proxy_azure;
mod proxy_ftp;
mod proxy_gcs;
mod proxy_gdrive;
mod proxy_s3;
mod proxy_sftp;
mod proxy_webdav;
mod save_download;
mod secrets;
