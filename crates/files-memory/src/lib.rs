//! # files-memory
//!
//! An in-memory store for the `files` storage SDK: objects live in the process's memory, with
//! the semantics of a real object store (content type, cache control, user metadata, entity
//! tags, byte ranges, delimiter listings with cursors, server-side copy, rename) and a
//! numbered-parts upload family, so that tests and examples exercise the same code paths a
//! cloud provider does.
//!
//! * [`MemoryAdapter::new`] makes a fresh anonymous store.
//! * [`MemoryAdapter::named`] opens the process-global store of that name: every adapter built
//!   with the same name, by any client in the process, sees the same objects and the same
//!   upload sessions. Named stores live until the process exits.
//! * The URL scheme is `memory`: `memory://name` is the store `name` (`memory:///` is the store
//!   `default`), `memory://name/some/key` an object in it.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> files_core::Result<()> {
//! use files_core::{Body, Files};
//! use files_memory::MemoryAdapter;
//!
//! let files = Files::new(MemoryAdapter::named("docs-example"));
//! files.upload("greeting.txt", Body::from("hello")).await?;
//! let again = Files::new(MemoryAdapter::named("docs-example")); // same store
//! assert_eq!(&again.download("greeting.txt").await?.bytes().await?[..], b"hello");
//! # Ok(()) }
//! ```
//!
//! ## Limits
//!
//! * **Resumable in-process only** ([`Resumability::InProcess`]). Uploads can be paused,
//!   resumed and aborted with an [`UploadControl`](files_core::UploadControl), and a token from
//!   [`UploadControl::token`](files_core::UploadControl::token) can be resumed by another
//!   client (over `MemoryAdapter::named(same name)`) *in the same process*. The store vanishes
//!   with the process, so a token is stamped with the id of the process that made it and is
//!   refused elsewhere with [`ErrorKind::NotSupported`] ("not supported across processes"), and
//!   `checkpoint(...)` files are refused with [`ErrorKind::NotSupported`] before anything runs.
//! * No presigned or public URLs.
//! * Everything is held in memory: an object, or an upload session's parts, costs its size in
//!   RAM until it is deleted (or completed / aborted).
//! * Upload sessions never expire on their own; a call on a session that was completed or
//!   aborted fails with [`ErrorKind::SessionExpired`].
//!
//! [`Resumability::InProcess`]: files_core::Resumability::InProcess
//! [`ErrorKind::NotSupported`]: files_core::ErrorKind::NotSupported
//! [`ErrorKind::SessionExpired`]: files_core::ErrorKind::SessionExpired
#![deny(missing_docs)]

mod adapter;
mod config;
mod errors;
mod store;
mod upload;

pub use adapter::MemoryAdapter;

/// The store's provider name.
pub const PROVIDER: &str = "memory";
/// The factory of the `memory` scheme: `memory://name` opens [`MemoryAdapter::named`]`(name)`
/// (an empty host is the store `default`); `memory://name/a/b` is the object `a/b` in it.
pub const FACTORY: files_core::AdapterFactory = files_core::AdapterFactory {
    object: config::open_object,
    ..files_core::AdapterFactory::of::<MemoryAdapter>("memory", PROVIDER)
};

files_core::register_factories!(FACTORY);
