//! Protocol-faithful fake HTTP servers of the `files` providers, written from each provider's
//! API documentation, all on one [`kit`]: the listener (an axum router on a 127.0.0.1 port,
//! its own thread and Tokio runtime, usable from sync tests, `#[tokio::test]`s of either
//! flavor and the `files-fake` binary), a controllable clock, a request log and fault knobs.
//!
//! * [`gcs::FakeGcs`]: the Google Cloud Storage JSON API (and Firebase download-token URLs);
//! * [`gdrive::FakeDrive`]: the Google Drive v3 API and its OAuth token endpoint;
//! * [`graph`]: Microsoft Graph's drive items and upload sessions (OneDrive, SharePoint);
//! * [`dropbox`]: the Dropbox API v2 (files, upload sessions);
//! * [`box_api`]: the Box API (folders, files, chunked upload sessions).
//!
//! ```no_run
//! use files_fakes::gcs::FakeGcs;
//! use files_fakes::kit::{Fault, Match};
//!
//! let gcs = FakeGcs::start().unwrap();
//! let bucket = gcs.new_bucket("demo");
//! // The 2nd chunk PUT is answered 503 with `Retry-After: 1`.
//! gcs.server().faults().add(Fault::unavailable(1).on(Match::method("PUT")).nth(2));
//! # let _ = bucket;
//! ```
//!
//! `cargo run -p files-fakes --bin files-fake -- gcs` serves one on the command line and prints
//! the environment that points the `files` CLI at it.
#![deny(missing_docs)]

pub mod box_api;
pub mod dropbox;
pub mod gcs;
pub mod gdrive;
pub mod graph;
pub mod kit;
