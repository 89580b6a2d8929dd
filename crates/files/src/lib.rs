//! # files
//!
//! One small API over every object and file store, with **uploads that survive anything**: a
//! large upload can be paused, resumed and aborted, and — after a crash — resumed in a *later
//! process* from a small serializable token, sending only the bytes that did not land.
//!
//! This is the crate applications depend on: `cargo add files-storage` (the package is named
//! `files-storage`, because `files` on crates.io is another project; its library is `files`, so
//! the code says `use files::...`). It re-exports the whole of
//! [`files-core`](files_core) (the [`Files`] client, [`Body`], [`UploadControl`],
//! [`ResumeToken`], [`Error`] / [`ErrorKind`], the [`adapter`] contract ...) and, behind cargo
//! features, the adapter crates, whose URL schemes it registers so that
//! [`Files::from_url`] can open them.
//!
//! ## Quick start
//!
//! ```
//! use files::{Body, Files, ListRequest, UploadControl};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> files::Result<()> {
//! # if !cfg!(feature = "fs") { return Ok(()); } // this example needs the `fs` adapter
//! # let tmp = tempfile::tempdir()?;
//! # let (dir, work) = (tmp.path().join("store"), tmp.path().to_path_buf());
//! # std::fs::create_dir_all(&dir)?;
//! // A store on the local disk (`dir` is a directory).
//! let files = Files::from_url(&format!("file://{}", dir.display()))?;
//!
//! // An upload that can be paused, resumed and aborted through `control`, and that persists
//! // its resume token to a checkpoint file: if the process dies, running the same upload
//! // again (same key, same body, same checkpoint) continues where it stopped.
//! let data: Vec<u8> = (0..3_500_000u32).map(|i| (i % 251) as u8).collect();
//! let control = UploadControl::new();
//! let outcome = files
//!     .upload("backups/data.bin", Body::from_bytes(data.clone()))
//!     .part_size(1 << 20)
//!     .control(control.clone())
//!     .checkpoint(work.join("data.bin.upload.json"))
//!     .await?;
//! assert_eq!(outcome.meta.size, data.len() as u64);
//! assert!(!work.join("data.bin.upload.json").exists()); // removed on success
//!
//! // Download it (or a byte range of it).
//! let bytes = files.download("backups/data.bin").await?.bytes().await?;
//! assert_eq!(bytes, data);
//! let head = files.download("backups/data.bin").range(0..10).await?.bytes().await?;
//! assert_eq!(&head[..], &data[..10]);
//!
//! // List what is under a prefix.
//! let page = files
//!     .list(&ListRequest { prefix: "backups/".into(), ..ListRequest::default() })
//!     .await?;
//! assert_eq!(page.objects[0].key, "backups/data.bin");
//! # Ok(()) }
//! ```
//!
//! Elsewhere in the program, `control.pause()`, `control.resume()` and `control.abort()` drive
//! the upload, and `control.token()` is its [`ResumeToken`]: serialize it
//! ([`ResumeToken::to_json`]) and resume later with [`UploadControl::from_json`] and the same
//! body. Cancelling the upload's [`CancellationToken`] stops it but keeps the provider session;
//! aborting discards it.
//!
//! ## Providers
//!
//! | Provider | Scheme | Crate / feature | Resumable uploads |
//! |----------|--------|-----------------|-------------------|
//! | Local disk | `file:///abs/root` | [`files-fs`](fs) / `fs` | **Across processes**: pause, resume, abort, and resume after a crash from a token or a checkpoint file. |
//! | Memory | `memory://name` | [`files-memory`](memory) / `memory` | **In-process only**: pause, resume and abort, and a token resumed by another client in the same process; tokens are refused in another process and `checkpoint` is not supported. |
//! | S3 and S3-compatible stores | `s3://bucket`, `r2://`, `oss://`, `minio://` ... | `files-s3` / `s3` | **Across processes**: multipart upload, ListParts is the truth. |
//! | SFTP | `sftp://user@host/path` | `files-sftp` / `sftp` | **Across processes**: `<target>.fls-part`, remote size re-checked before each append. |
//! | FTP / FTPS | `ftp://`, `ftps://` | `files-ftp` / `ftp` | **Across processes**: `<target>.fls-part`, SIZE re-checked before each APPE. |
//! | WebDAV | `webdav://`, `webdavs://` | `files-webdav` / `webdav` | **Across processes where the server honours partial PUT** (detected); elsewhere `control` is not supported. |
//! | Azure Blob | `az://container` | `files-azure` / `azure` | **Across processes**: staged blocks, Get Block List is the truth. |
//! | Google Drive | `gdrive://ROOT_FOLDER_ID` | `files-gdrive` / `gdrive` | **Across processes**: resumable session (same protocol as GCS; bearer session URL). |
//! | Google Cloud Storage, Firebase Storage | `gs://bucket`, `firebase://project` | `files-gcs` / `gcs` | **Across processes**: resumable session (its URL is a bearer credential: store tokens like secrets). |
//! | OneDrive, SharePoint (Microsoft Graph) | `onedrive://me`, `onedrive://DRIVE_ID`, `sharepoint://SITE_ID` | `files-onedrive` / `onedrive` | **Across processes**: upload session, `nextExpectedRanges` is the truth (its URL is a bearer credential). |
//! | Dropbox | `dropbox://ROOT_FOLDER` | `files-dropbox` / `dropbox` | **Across processes**: upload session; the server's offset (`incorrect_offset`) is the truth. |
//! | Box | `box://FOLDER_ID` | `files-box` / `box` | **Across processes**: chunked upload session, its parts list is the truth; commit carries the whole file's SHA-1. |
//!
//! What each provider can do beyond the basics (ranges, metadata, server-side copy, presigned
//! URLs ...) is described by [`Files::capabilities`]; asking for something a provider cannot
//! do fails with [`ErrorKind::NotSupported`] before any request is sent.
//!
//! ## Opening stores by URL
//!
//! [`Files::from_url`] picks the adapter registered for the URL's scheme;
//! [`registry::schemes`] lists the schemes of this build, and an unknown scheme fails with
//! [`ErrorKind::NotSupported`] naming them. Adapter crates register themselves when they are
//! linked; this crate links every enabled one. Where a build links adapters some other way and
//! the registration is lost, call [`register_all`] once at startup.
//!
//! ## Feature flags
//!
//! | Feature | Default | Enables |
//! |---------|---------|---------|
//! | `fs` | yes | the local-disk adapter, as [`files::fs`](fs), scheme `file` |
//! | `memory` | yes | the in-memory adapter, as [`files::memory`](memory), scheme `memory` |
//! | `s3` | no | the S3 adapter (`files-s3`), as `files::s3`, schemes `s3`, `r2`, `minio`, `oss`, ... |
//! | `sftp` | no | the SFTP adapter (`files-sftp`), as `files::sftp`, scheme `sftp` |
//! | `ftp` | no | the FTP / FTPS adapter (`files-ftp`), as `files::ftp`, schemes `ftp`, `ftps` |
//! | `webdav` | no | the WebDAV adapter (`files-webdav`), as `files::webdav`, schemes `webdav`, `webdavs` |
//! | `azure` | no | the Azure Blob Storage adapter (`files-azure`), as `files::azure`, scheme `az` |
//! | `gcs` | no | the Google Cloud Storage adapter (`files-gcs`), as `files::gcs`, schemes `gs`, `firebase` |
//! | `gdrive` | no | the Google Drive adapter (`files-gdrive`), as `files::gdrive`, scheme `gdrive` |
//! | `onedrive` | no | the OneDrive / SharePoint adapter (`files-onedrive`), as `files::onedrive`, schemes `onedrive`, `sharepoint` |
//! | `dropbox` | no | the Dropbox adapter (`files-dropbox`), as `files::dropbox`, scheme `dropbox` |
//! | `box` | no | the Box adapter (`files-box`), as `files::box_`, scheme `box` |
//!
//! With `default-features = false` only the core is built; adapters can still be plugged in
//! with [`Files::new`] and any type that implements [`Adapter`].
#![deny(missing_docs)]

pub use files_core::*;
pub use files_core::{adapter, body, checkpoint, error, registry, retry, token};

/// The local-disk adapter (`files-fs`), scheme `file`.
#[cfg(feature = "fs")]
pub use files_fs as fs;
// Named so the crate is linked and its `inventory` registration kept.
#[cfg(feature = "fs")]
use files_fs as _;

/// The in-memory adapter (`files-memory`), scheme `memory`.
#[cfg(feature = "memory")]
pub use files_memory as memory;
// Named so the crate is linked and its `inventory` registration kept.
#[cfg(feature = "memory")]
use files_memory as _;

/// The S3 adapter (`files-s3`): S3 and every S3-compatible store, schemes `s3` and one per
/// preset (`r2`, `oss`, `minio`, ...).
#[cfg(feature = "s3")]
pub use files_s3 as s3;
// Named so the crate is linked and its `inventory` registration kept.
#[cfg(feature = "s3")]
use files_s3 as _;

/// The SFTP adapter (`files-sftp`), scheme `sftp`.
#[cfg(feature = "sftp")]
pub use files_sftp as sftp;
// Named so the crate is linked and its `inventory` registration kept.
#[cfg(feature = "sftp")]
use files_sftp as _;

/// The FTP adapter (`files-ftp`), schemes `ftp` and `ftps`.
#[cfg(feature = "ftp")]
pub use files_ftp as ftp;
// Named so the crate is linked and its `inventory` registration kept.
#[cfg(feature = "ftp")]
use files_ftp as _;

/// The WebDAV adapter (`files-webdav`), schemes `webdav` and `webdavs`.
#[cfg(feature = "webdav")]
pub use files_webdav as webdav;
// Named so the crate is linked and its `inventory` registration kept.
#[cfg(feature = "webdav")]
use files_webdav as _;

/// The Azure Blob Storage adapter (`files-azure`), scheme `az`.
#[cfg(feature = "azure")]
pub use files_azure as azure;
// Named so the crate is linked and its `inventory` registration kept.
#[cfg(feature = "azure")]
use files_azure as _;

/// The Google Cloud Storage adapter (`files-gcs`, with Firebase Storage presets), schemes `gs` and `firebase`.
#[cfg(feature = "gcs")]
pub use files_gcs as gcs;
// Named so the crate is linked and its `inventory` registration kept.
#[cfg(feature = "gcs")]
use files_gcs as _;

/// The Google Drive adapter (`files-gdrive`), scheme `gdrive`.
#[cfg(feature = "gdrive")]
pub use files_gdrive as gdrive;
// Named so the crate is linked and its `inventory` registration kept.
#[cfg(feature = "gdrive")]
use files_gdrive as _;

/// The OneDrive and SharePoint adapter (`files-onedrive`), schemes `onedrive`, `sharepoint`.
#[cfg(feature = "onedrive")]
pub use files_onedrive as onedrive;
#[cfg(feature = "onedrive")]
use files_onedrive as _;

/// The Dropbox adapter (`files-dropbox`), scheme `dropbox`.
#[cfg(feature = "dropbox")]
pub use files_dropbox as dropbox;
#[cfg(feature = "dropbox")]
use files_dropbox as _;

/// The Box adapter (`files-box`), scheme `box` (`box` is a keyword: the module is `box_`).
#[cfg(feature = "box")]
pub use files_box as box_;
#[cfg(feature = "box")]
use files_box as _;

/// Registers the URL scheme of every adapter enabled in this build, explicitly.
///
/// Adapters normally register themselves through `inventory` when they are linked, so this is
/// only a fallback for builds where the linker dropped those registrations. Calling it more
/// than once (or alongside the automatic registrations) is harmless: each scheme stays
/// registered once.
pub fn register_all() {
    #[cfg(feature = "fs")]
    files_fs::register();
    #[cfg(feature = "memory")]
    files_memory::register();
    #[cfg(feature = "s3")]
    files_s3::register();
    #[cfg(feature = "sftp")]
    files_sftp::register();
    #[cfg(feature = "ftp")]
    files_ftp::register();
    #[cfg(feature = "webdav")]
    files_webdav::register();
    #[cfg(feature = "azure")]
    files_azure::register();
    #[cfg(feature = "gcs")]
    files_gcs::register();
    #[cfg(feature = "gdrive")]
    files_gdrive::register();
    #[cfg(feature = "onedrive")]
    files_onedrive::register();
    #[cfg(feature = "dropbox")]
    files_dropbox::register();
    #[cfg(feature = "box")]
    files_box::register();
}

// The README and the guides in docs/ are compiled (and their `no_run` examples type-checked)
// as doc tests, so they cannot drift from the API.
#[cfg(all(doctest, feature = "fs"))]
#[doc = include_str!("../../../README.md")]
mod readme {}
#[cfg(all(doctest, feature = "fs"))]
#[doc = include_str!("../../../docs/resumable-uploads.md")]
mod guide_resumable_uploads {}
#[cfg(all(doctest, feature = "fs"))]
#[doc = include_str!("../../../docs/writing-an-adapter.md")]
mod guide_writing_an_adapter {}
#[cfg(all(doctest, feature = "s3"))]
#[doc = include_str!("../../../docs/s3.md")]
mod guide_s3 {}
#[cfg(all(doctest, feature = "sftp"))]
#[doc = include_str!("../../../docs/sftp.md")]
mod guide_sftp {}
#[cfg(all(doctest, feature = "ftp"))]
#[doc = include_str!("../../../docs/ftp.md")]
mod guide_ftp {}
#[cfg(all(doctest, feature = "webdav"))]
#[doc = include_str!("../../../docs/webdav.md")]
mod guide_webdav {}
#[cfg(all(doctest, feature = "azure"))]
#[doc = include_str!("../../../docs/azure.md")]
mod guide_azure {}
#[cfg(all(doctest, feature = "gcs"))]
#[doc = include_str!("../../../docs/gcs.md")]
mod guide_gcs {}
#[cfg(all(doctest, feature = "gcs"))]
#[doc = include_str!("../../../docs/firebase.md")]
mod guide_firebase {}
#[cfg(all(doctest, feature = "gdrive"))]
#[doc = include_str!("../../../docs/gdrive.md")]
mod guide_gdrive {}
#[cfg(all(doctest, feature = "onedrive"))]
#[doc = include_str!("../../../docs/onedrive.md")]
mod guide_onedrive {}
#[cfg(all(doctest, feature = "dropbox"))]
#[doc = include_str!("../../../docs/dropbox.md")]
mod guide_dropbox {}
#[cfg(all(doctest, feature = "box"))]
#[doc = include_str!("../../../docs/box.md")]
mod guide_box {}
