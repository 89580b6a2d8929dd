//! Local test servers: installed into a project-local folder, started on a free loopback port,
//! stopped when the test is done. One file per server, the machinery they share in `common.rs`:
//!
//! - **moto** ([`MotoServer`], `moto.rs`): the most faithful local S3 (ListParts paging,
//!   AbortMultipartUpload, UploadPartCopy, EntityTooSmall), in memory. Pinned to
//!   [`MOTO_REQUIREMENT`]: moto 5.2.x answers ListParts with a `<ListPartsResponse>` root that
//!   aws-sdk-s3 rejects, 5.1.22 still writes `<ListPartsResult>`.
//! - **`rclone serve s3`** ([`RcloneServer`], `rclone.rs`): the fastest local S3, over a
//!   directory; for large uploads and benchmarks (it streams parts in order and has no
//!   UploadPartCopy).
//! - **Azurite** ([`azurite`]), Azure's blob emulator; **sshd** ([`sshd`]), OpenSSH for SFTP;
//!   **pyftpdlib and vsftpd** ([`ftpd`]); **Apache `mod_dav_fs` and WsgiDAV** ([`davd`]);
//!   **gcp-storage-emulator** ([`gcs`]); and [`scratch`], their data folders that do not pile up.
//!
//! The Python servers run from a virtual environment at `<workspace>/target/test-servers/venv`
//! (never a global install): [`ensure_installed`] creates it and installs the pinned packages
//! from PyPI when they are missing (`cargo xtask servers` does the same ahead of time, and also
//! installs the Debian daemons and the npm packages: [`ensure_all_installed`]).
//!
//! Every server binds `127.0.0.1` on a free port, is probed until it answers (within
//! [`READY_GUARD`], a hang guard, not a speed assertion) and is killed when its handle is
//! dropped. On Linux, servers are also started with a parent-death signal, so one kept in a
//! `static` (see [`shared_moto`]) dies with the test process even though statics are never
//! dropped.
//!
//! When a server cannot be installed or started, [`unavailable`] decides: with `CI` set (to
//! anything but `false` / `0`) the test **panics** — a missing server fails CI, it is never
//! skipped there; otherwise it prints a loud `SKIPPED: ...` line and the test returns early:
//!
//! ```no_run
//! # async fn client_for(_: &str, _: &str) {}
//! #[tokio::test]
//! async fn my_s3_test() {
//!     let moto = files_testkit::require_server!(files_testkit::servers::moto_or_skip());
//!     let bucket = moto.new_bucket("my-test").unwrap();
//!     client_for(moto.endpoint(), &bucket).await;
//! }
//! ```
//!
//! All credentials here are fixed fakes ([`ACCESS_KEY_ID`], [`SECRET_ACCESS_KEY`]) that tests
//! can search for in outputs to prove a secret never leaks.
//!
//! # `common.rs`, `moto.rs` and `rclone.rs` stay std-only
//!
//! `xtask` compiles those three files into its own binary by path (an inline
//! `#[path = ".../servers"] mod servers { mod common; mod moto; ... }` in `xtask/src/main.rs`),
//! so that `cargo xtask servers` and `cargo xtask test` can install and start the servers
//! *before* the workspace is built: xtask must build in seconds, without the workspace's async
//! stack (tokio, files-core) or any of this crate's dependencies. So those files use `std` and
//! the dependency-free `percent-encoding` crate only (xtask depends on it too), and reach each
//! other through `super::`. The harnesses that need more (`sha2`, `tempfile`, `serde_json`:
//! Azurite, sshd, the FTP and WebDAV daemons, the GCS emulator, scratch folders) live next to
//! them and are compiled by this crate only.

mod common;
pub mod moto;
pub mod rclone;

pub mod azurite;
pub mod davd;
pub mod ftpd;
pub mod gcs;
pub mod scratch;
pub mod sshd;

pub use common::*;
pub use moto::*;
pub use rclone::*;
