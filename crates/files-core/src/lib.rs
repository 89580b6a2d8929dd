//! # files-core
//!
//! The provider-independent core of the `files` storage SDK: one small API over every object
//! and file store, whose uploads survive anything. A large upload can be paused, resumed,
//! aborted, and resumed in a *later process* from a small serializable [`ResumeToken`], sending
//! only the bytes that did not land.
//!
//! This crate depends on no provider. Provider crates implement [`Adapter`] and one upload
//! family ([`PartUpload`], [`OffsetUpload`] or one-shot [`Adapter::put`]); everything that
//! makes uploads robust lives here, once:
//!
//! * **The part scheduler** drives the primitives with bounded concurrency, per-part retries
//!   ([`RetryPolicy`]), pause/resume/abort ([`UploadControl`]), cancellation (a
//!   `CancellationToken` keeps the session), progress, and checkpoints.
//! * **Resume tokens** name the provider session and hold no credential: a token is data you
//!   can put in a database row. Where a provider's session *is* a bearer URL, the token says so
//!   ([`ResumeToken::is_sensitive`]) and its `Debug` output redacts it.
//! * **The provider is the truth.** On resume the scheduler asks the provider what landed
//!   (`probe`); the token is only a hint. That is what makes a resume after a crash exact.
//! * **A resumed body must be the same body.** Why streams cannot be resumed: resuming re-reads
//!   bytes (to check landed parts against the provider's checksums or the token's fingerprints,
//!   and to send the rest), and a consumed stream cannot be read twice. So `control` and
//!   `checkpoint` need [`Body::from_bytes`] or [`Body::from_path`]; a stream still uploads, with
//!   bounded memory, just not resumably.
//!
//! ```
//! # async fn demo() -> files_core::Result<()> {
//! # use files_core::*;
//! # let files: Files = unimplemented!();
//! let control = UploadControl::new();
//! let upload = files
//!     .upload("backups/db.tar", Body::from_path("db.tar").await?)
//!     .part_size(16 << 20)
//!     .concurrency(8)
//!     .control(control.clone())
//!     .checkpoint("db.tar.upload.json");
//! // elsewhere: control.pause(); control.resume(); control.abort();
//! let outcome = upload.await?;
//! println!("{} bytes, {} resumed", outcome.meta.size, outcome.bytes_resumed);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod adapter;
pub mod body;
pub mod checkpoint;
mod client;
mod control;
mod download;
pub mod encode;
pub mod error;
pub mod listing;
pub mod part_file;
mod ratelimit;
pub mod registry;
pub mod retry;
mod save;
mod scheduler;
pub mod secret;
pub mod token;

pub use adapter::{
    Adapter, ByteRange, Capabilities, GetResponse, LandedPart, ListPage, ListRequest, ObjectMeta,
    OffsetState, OffsetUpload, Part, PartRules, PartUpload, PresignMethod, PutOptions,
    Resumability, Session, UploadFamily, UploadSpec,
};
pub use body::{Body, ByteStream};
pub use client::{DEFAULT_DOWNLOAD_CHUNK, Download, DownloadBuilder, Files, UploadBuilder};
pub use control::{UploadControl, UploadStatus};
pub use error::{Error, ErrorKind, Result};
pub use registry::{AdapterFactory, FromUrl};
pub use retry::RetryPolicy;
pub use save::{Discarded, Save, SaveProgressFn, Saved};
pub use scheduler::{Progress, ProgressFn, UploadOutcome};
pub use secret::Secret;
pub use token::ResumeToken;

pub use async_trait::async_trait;
pub use bytes::Bytes;
pub use inventory;
pub use tokio_util::sync::CancellationToken;

/// 1 KiB.
pub const KIB: u64 = 1024;
/// 1 MiB.
pub const MIB: u64 = 1024 * 1024;
/// 1 GiB.
pub const GIB: u64 = 1024 * 1024 * 1024;
