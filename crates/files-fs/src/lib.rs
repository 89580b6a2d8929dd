//! # files-fs
//!
//! The local-disk adapter of the `files` storage SDK: a directory on the local file system
//! used as an object store. Keys are `/`-separated paths relative to the root directory
//! (`backups/db.tar` is `<root>/backups/db.tar`); directories are created as needed and pruned
//! when they become empty, and are never objects themselves.
//!
//! ```no_run
//! # async fn demo() -> files_core::Result<()> {
//! use files_core::{Body, Files};
//! let files = Files::new(files_fs::FsAdapter::new("/srv/store")?);
//! files.upload("a/b.txt", Body::from("hello")).await?;
//! let bytes = files.download("a/b.txt").await?.bytes().await?;
//! assert_eq!(&bytes[..], b"hello");
//! # Ok(()) }
//! ```
//!
//! It is also registered for the `file` URL scheme: `Files::from_url("file:///srv/store")`
//! opens the store rooted at `/srv/store`, and `file:///srv/store/a/b.txt?root=/srv/store`
//! names the object `a/b.txt` in it (see [`FACTORY`]).
//!
//! ## Writes are atomic
//!
//! [`put`](files_core::Adapter::put) and [`copy`](files_core::Adapter::copy) write a temporary
//! file (named `.fls-tmp-*`) in the destination directory, `fsync` it, and rename it over the
//! key: an object is never visible half-written, and a failed or dropped write leaves the old
//! object (if any) in place.
//!
//! ## Resumable uploads: the part file
//!
//! The adapter implements the growing-offset family ([`files_core::OffsetUpload`]), resumable
//! **across processes**. The bytes of an upload to `dir/name` go to the *part file*
//! `dir/name.fls-part`, next to the target; its path is derived from the key alone, never from
//! the resume token (the token's session is empty), so a token cannot point the adapter at
//! another file. `begin` creates (or truncates) the part file; every chunk is written at the
//! offset the part file has reached and `fdatasync`ed before it is confirmed; `finish` syncs the
//! part file and renames it over the key.
//!
//! To resume, the scheduler asks how many bytes the part file holds (its length is the truth,
//! whatever the token says), checks the body's already-sent prefix against the fingerprint in
//! the token, and appends only the missing tail. If the part file is gone but an object of the
//! body's length sits at the key, the upload had finished; otherwise the session is expired.
//! An append at an offset the part file has not reached (or has passed) is refused with
//! [`ErrorKind::Conflict`] and the scheduler re-probes.
//!
//! Two concurrent uploads to the same key share one part file and corrupt each other: don't
//! do that.
//!
//! ## Confinement
//!
//! No operation touches a path outside the root. Keys are refused with
//! [`ErrorKind::InvalidInput`], before any I/O, when they:
//!
//! * break the lexical rules of [`files_core::adapter::validate_key_default`] (absolute, `.` or
//!   `..` segments, NUL bytes, backslashes, empty segments, over 1024 bytes), or end with `/`;
//! * have a segment ending in `.fls-part` or starting with `.fls-tmp-` (reserved for part and
//!   temporary files, which listings hide);
//! * reach outside the root through a symbolic link: before every operation that touches a path
//!   (and again after creating parent directories, and before the final rename of an upload),
//!   the deepest existing ancestor of the path is resolved with `canonicalize` (dangling links
//!   are followed by hand) and must lie inside the canonical root.
//!
//! Symbolic links *inside* the root that stay inside it work as usual (writing to a key that
//! is a link replaces the link, atomically, and leaves what it pointed at alone; deleting it
//! removes the link). Listings never follow links to directories. The check is made against the file system as it is at the time of the
//! call: it keeps keys from escaping the root, but it is no defence against another local user
//! who can swap links inside the root between the check and the use.
//!
//! ## Not supported
//!
//! Content types, user metadata and cache-control (the file system has nowhere to keep them:
//! uploads with those options fail with `NotSupported`), presigned URLs, and keys naming
//! directories. [`public_url`](files_core::Adapter::public_url) gives a `file://` URL, usable
//! only on this machine. ETags are derived from the modification time and the size, not from the
//! content.
#![deny(missing_docs)]

use files_core::listing::{Flow, PageBuilder};
use files_core::part_file::{is_reserved, temp_name};
use std::fs;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use files_core::{
    Adapter, ByteRange, ByteStream, Capabilities, Error, ErrorKind, GetResponse, ListPage,
    ListRequest, ObjectMeta, OffsetState, OffsetUpload, PartRules, PutOptions, Result,
    Resumability, Session, UploadFamily, UploadSpec,
};

/// The suffix of part files (`<key>.fls-part`), where resumable uploads collect their bytes.
pub const PART_SUFFIX: &str = files_core::part_file::PART_SUFFIX;

/// The prefix of the temporary files that atomic writes rename into place.
pub const TEMP_PREFIX: &str = files_core::part_file::TEMP_PREFIX;

/// Largest chunk a download stream yields.
const READ_CHUNK: u64 = 1024 * 1024;

/// Default page size of [`Adapter::list`].
const DEFAULT_LIMIT: usize = 1000;

/// How many symbolic links the confinement check follows by hand before giving up.
const MAX_LINK_HOPS: u32 = 40;

/// A directory on the local disk used as an object store. See the [crate docs](crate).
///
/// Cheap to clone: clones share the root.
#[derive(Debug, Clone)]
pub struct FsAdapter {
    root: Arc<PathBuf>,
    target: Arc<str>,
}

impl FsAdapter {
    /// An adapter over the directory `root`, created (with its parents) if missing and then
    /// canonicalized: [`Adapter::target`] is the canonical path.
    pub fn new(root: impl AsRef<Path>) -> Result<FsAdapter> {
        let root = root.as_ref();
        if root.as_os_str().is_empty() {
            return Err(Error::invalid_input("the root directory path is empty"));
        }
        fs::create_dir_all(root).map_err(|e| {
            Error::from_io(e)
                .with_operation("open store")
                .with_provider("fs")
        })?;
        let canonical = fs::canonicalize(root).map_err(|e| {
            Error::from_io(e)
                .with_operation("open store")
                .with_provider("fs")
        })?;
        if !canonical.is_dir() {
            return Err(Error::invalid_input(format!(
                "the root `{}` is not a directory",
                canonical.display()
            )));
        }
        let target: Arc<str> = canonical.to_string_lossy().into();
        Ok(FsAdapter {
            root: Arc::new(canonical),
            target,
        })
    }

    /// An adapter over the directory a `file://` URL names (`file:///srv/store`); the same as
    /// [`Files::from_url`](files_core::Files::from_url) with the `file` scheme.
    pub fn from_url(url: &str) -> Result<FsAdapter> {
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::invalid_input(format!(
                "`{}` is not a valid URL: {e}",
                Error::redacted(url)
            ))
        })?;
        if parsed.scheme() != "file" {
            return Err(Error::invalid_input(format!(
                "the fs adapter opens `file://` URLs, not `{}://`",
                parsed.scheme()
            )));
        }
        Self::from_parsed_url(&parsed)
    }

    fn from_parsed_url(url: &url::Url) -> Result<FsAdapter> {
        check_local_host(url)?;
        let root = PathBuf::from(files_core::registry::percent_decode(url.path())?);
        FsAdapter::new(root)
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the object `key` lives on disk (the key is checked first, lexically only).
    pub fn path_of(&self, key: &str) -> Result<PathBuf> {
        self.validate_key(key)?;
        Ok(self.key_path(key))
    }

    /// Where a resumable upload to `key` collects its bytes: `<path of key>.fls-part`, derived
    /// from the key only.
    pub fn part_path_of(&self, key: &str) -> Result<PathBuf> {
        self.validate_key(key)?;
        Ok(self.part_path(key))
    }

    fn key_path(&self, key: &str) -> PathBuf {
        let mut p = PathBuf::from(self.root.as_path());
        for segment in key.split('/') {
            p.push(segment);
        }
        p
    }

    fn part_path(&self, key: &str) -> PathBuf {
        let mut p = self.key_path(key);
        let mut name = p
            .file_name()
            .expect("a checked key has a name")
            .to_os_string();
        name.push(PART_SUFFIX);
        p.set_file_name(name);
        p
    }

    // ------------------------------------------------------------------ confinement

    /// Refuses `path` unless it (or, if it does not exist, its deepest existing ancestor)
    /// resolves to a place inside the canonical root.
    fn confine(&self, path: &Path) -> Result<()> {
        self.confine_hops(path, 0)
    }

    fn confine_hops(&self, path: &Path, hops: u32) -> Result<()> {
        let mut cur = path.to_path_buf();
        loop {
            match fs::symlink_metadata(&cur) {
                Ok(meta) => {
                    return match fs::canonicalize(&cur) {
                        Ok(canonical) => {
                            if canonical.starts_with(self.root.as_path()) {
                                Ok(())
                            } else {
                                Err(escape())
                            }
                        }
                        // Only a dangling symbolic link exists but cannot be resolved: follow it
                        // by hand, since creating through it would land where it points.
                        Err(e)
                            if e.kind() == io::ErrorKind::NotFound
                                && meta.file_type().is_symlink() =>
                        {
                            if hops >= MAX_LINK_HOPS {
                                return Err(Error::invalid_input(
                                    "the key resolves through too many symbolic links",
                                ));
                            }
                            let link = fs::read_link(&cur).map_err(Error::from_io)?;
                            let next = match cur.parent() {
                                Some(parent) => parent.join(link),
                                None => link,
                            };
                            self.confine_hops(&next, hops + 1)
                        }
                        Err(e) => Err(Error::from_io(e)),
                    };
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) =>
                {
                    // Walking up over a `..` that the OS could not resolve is ambiguous
                    // (it only comes from a link target): refuse rather than guess.
                    if matches!(cur.components().next_back(), Some(Component::ParentDir)) {
                        return Err(escape());
                    }
                    if !cur.pop() {
                        return Err(escape());
                    }
                }
                Err(e) => return Err(Error::from_io(e)),
            }
        }
    }

    // ------------------------------------------------------------------ helpers (blocking)

    fn meta_of(&self, key: &str, m: &fs::Metadata) -> ObjectMeta {
        let mut meta = ObjectMeta::new(key, m.len());
        let modified = m.modified().ok();
        meta.last_modified = modified;
        let nanos = modified
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        meta.etag = Some(format!("\"{nanos:x}-{:x}\"", m.len()));
        meta
    }

    fn head_blocking(&self, key: &str) -> Result<ObjectMeta> {
        let path = self.key_path(key);
        self.confine(&path)?;
        match fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(self.meta_of(key, &m)),
            Ok(_) => Err(Error::not_found(format!(
                "no object at `{key}` (a directory is there)"
            ))),
            Err(e) => Err(not_found_or(e, key)),
        }
    }

    /// Creates the parent directories of `path` and re-checks confinement.
    fn make_parents(&self, path: &Path, key: &str) -> Result<()> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory => Error::conflict(
                    format!("a file is in the way of the directories of `{key}`"),
                )
                .with_source(e),
                _ => Error::from_io(e),
            })?;
        }
        self.confine(path)
    }

    /// Creates the parent directories of `path` (re-checking confinement) and runs `op`, again
    /// if it fails with "not found" because a concurrent delete pruned the fresh directory.
    fn in_parent_dir<T>(
        &self,
        path: &Path,
        key: &str,
        mut op: impl FnMut() -> io::Result<T>,
    ) -> Result<io::Result<T>> {
        let mut attempts = 0;
        loop {
            self.make_parents(path, key)?;
            match op() {
                Err(e) if attempts < 8 && e.kind() == io::ErrorKind::NotFound => attempts += 1,
                other => return Ok(other),
            }
        }
    }

    /// Creates a fresh temporary file next to `path` (creating parents as needed).
    fn temp_next_to(&self, path: &Path, key: &str) -> Result<(fs::File, TempFile)> {
        let dir = path
            .parent()
            .expect("a key path has a parent")
            .to_path_buf();
        let mut clashes = 0;
        loop {
            let tmp = dir.join(temp_name());
            let opened = self.in_parent_dir(path, key, || {
                fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&tmp)
            })?;
            match opened {
                Ok(f) => return Ok((f, TempFile::new(tmp))),
                Err(e) if clashes < 8 && e.kind() == io::ErrorKind::AlreadyExists => clashes += 1,
                Err(e) => return Err(Error::from_io(e)),
            }
        }
    }

    fn check_not_dir(path: &Path, key: &str) -> Result<()> {
        match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => Err(Error::conflict(format!(
                "`{key}` is a directory holding other objects; it cannot be overwritten by an object"
            ))),
            _ => Ok(()),
        }
    }

    /// Renames a finished temporary (or part) file over the key, re-checking confinement.
    fn commit(&self, from: &Path, key: &str) -> Result<ObjectMeta> {
        let path = self.key_path(key);
        self.confine(&path)?;
        Self::check_not_dir(&path, key)?;
        fs::rename(from, &path).map_err(Error::from_io)?;
        sync_dir(path.parent());
        self.head_blocking(key)
    }

    /// Removes empty directories from `dir` up to (not including) the root.
    fn prune(&self, dir: Option<&Path>) {
        let mut cur = dir.map(Path::to_path_buf);
        while let Some(d) = cur {
            if d == *self.root || !d.starts_with(self.root.as_path()) {
                break;
            }
            if fs::remove_dir(&d).is_err() {
                break;
            }
            cur = d.parent().map(Path::to_path_buf);
        }
    }

    fn delete_blocking(&self, key: &str) -> Result<()> {
        let path = self.key_path(key);
        self.confine(&path)?;
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => return Ok(()), // directories are not objects
            Ok(_) => {}
            Err(e) if is_absent(&e) => return Ok(()),
            Err(e) => return Err(Error::from_io(e)),
        }
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if is_absent(&e) => return Ok(()),
            Err(e) => return Err(Error::from_io(e)),
        }
        sync_dir(path.parent());
        self.prune(path.parent());
        Ok(())
    }

    fn copy_blocking(&self, from: &str, to: &str) -> Result<ObjectMeta> {
        let src = self.key_path(from);
        let dst = self.key_path(to);
        self.confine(&src)?;
        self.confine(&dst)?;
        let mut input = match fs::File::open(&src) {
            Ok(f) => f,
            Err(e) => return Err(not_found_or(e, from)),
        };
        let m = input.metadata().map_err(Error::from_io)?;
        if !m.is_file() {
            return Err(Error::not_found(format!(
                "no object at `{from}` (a directory is there)"
            )));
        }
        Self::check_not_dir(&dst, to)?;
        let (mut out, tmp) = self.temp_next_to(&dst, to)?;
        io::copy(&mut input, &mut out).map_err(Error::from_io)?;
        out.sync_all().map_err(Error::from_io)?;
        drop(out);
        let meta = self.commit(tmp.path(), to)?;
        tmp.disarm();
        Ok(meta)
    }

    fn rename_blocking(&self, from: &str, to: &str) -> Result<()> {
        let src = self.key_path(from);
        let dst = self.key_path(to);
        self.confine(&src)?;
        self.confine(&dst)?;
        match fs::symlink_metadata(&src) {
            Ok(m) if m.is_dir() => {
                return Err(Error::not_found(format!(
                    "no object at `{from}` (a directory is there)"
                )));
            }
            Ok(_) => {}
            Err(e) => return Err(not_found_or(e, from)),
        }
        if from == to {
            return Ok(());
        }
        Self::check_not_dir(&dst, to)?;
        self.in_parent_dir(&dst, to, || fs::rename(&src, &dst))?
            .map_err(|e| not_found_or(e, from))?;
        sync_dir(dst.parent());
        sync_dir(src.parent());
        self.prune(src.parent());
        Ok(())
    }

    fn list_blocking(&self, request: &ListRequest) -> Result<ListPage> {
        let mut lister = Lister {
            adapter: self,
            prefix: &request.prefix,
            delimiter: request.delimiter.as_deref().filter(|d| !d.is_empty()),
            page: PageBuilder::new(
                request.cursor.as_deref(),
                request.limit.unwrap_or(DEFAULT_LIMIT),
            ),
        };
        lister.walk(&self.root, "")?;
        Ok(lister.page.finish())
    }

    // ------------------------------------------------------------------ part file (blocking)

    fn begin_blocking(&self, key: &str) -> Result<()> {
        let path = self.key_path(key);
        let part = self.part_path(key);
        self.confine(&path)?;
        self.confine(&part)?;
        // Remove whatever is there (without following a link) and create a fresh file that
        // cannot be a link: `create_new` refuses existing names.
        let f = self
            .in_parent_dir(&part, key, || {
                match fs::remove_file(&part) {
                    Err(e) if !is_absent(&e) => return Err(e),
                    _ => {}
                }
                fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&part)
            })?
            .map_err(Error::from_io)?;
        f.sync_all().map_err(Error::from_io)?;
        sync_dir(part.parent());
        Ok(())
    }

    fn probe_blocking(&self, spec: &UploadSpec) -> Result<OffsetState> {
        let key = spec.key.as_str();
        let part = self.part_path(key);
        self.confine(&part)?;
        match fs::metadata(&part) {
            Ok(m) if m.is_file() => return Ok(OffsetState::Offset(m.len())),
            Ok(_) => {
                return Err(Error::conflict(format!(
                    "the part file of `{key}` is not a regular file"
                )));
            }
            Err(e) if is_absent(&e) => {}
            Err(e) => return Err(Error::from_io(e)),
        }
        match self.head_blocking(key) {
            Ok(meta) if meta.size == spec.total => Ok(OffsetState::Finished(meta)),
            Ok(_) => Err(expired(key)),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(expired(key)),
            Err(e) => Err(e),
        }
    }

    fn append_blocking(&self, key: &str, offset: u64, data: &[u8]) -> Result<OffsetState> {
        let part = self.part_path(key);
        self.confine(&part)?;
        let mut f = match fs::OpenOptions::new().write(true).open(&part) {
            Ok(f) => f,
            Err(e) if is_absent(&e) => return Err(expired(key)),
            Err(e) => return Err(Error::from_io(e)),
        };
        let len = f.metadata().map_err(Error::from_io)?.len();
        if len != offset {
            return Err(Error::conflict(format!(
                "append at offset {offset}, but the part file holds {len} bytes"
            )));
        }
        f.seek(SeekFrom::Start(offset)).map_err(Error::from_io)?;
        f.write_all(data).map_err(Error::from_io)?;
        f.sync_data().map_err(Error::from_io)?;
        Ok(OffsetState::Offset(offset + data.len() as u64))
    }

    fn finish_blocking(&self, spec: &UploadSpec) -> Result<ObjectMeta> {
        let key = spec.key.as_str();
        let part = self.part_path(key);
        self.confine(&part)?;
        let f = match fs::OpenOptions::new().read(true).write(true).open(&part) {
            Ok(f) => f,
            Err(e) if is_absent(&e) => {
                // Finished before (a retried finish): the object is in place.
                return match self.head_blocking(key) {
                    Ok(meta) if meta.size == spec.total => Ok(meta),
                    Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
                    _ => Err(expired(key)),
                };
            }
            Err(e) => return Err(Error::from_io(e)),
        };
        let len = f.metadata().map_err(Error::from_io)?.len();
        if len != spec.total {
            return Err(Error::conflict(format!(
                "the part file holds {len} bytes, but the upload is {} bytes",
                spec.total
            )));
        }
        f.sync_all().map_err(Error::from_io)?;
        drop(f);
        self.commit(&part, key)
    }

    fn cancel_blocking(&self, key: &str) -> Result<()> {
        let part = self.part_path(key);
        self.confine(&part)?;
        match fs::remove_file(&part) {
            Ok(()) => {}
            Err(e) if is_absent(&e) => return Ok(()),
            Err(e) => return Err(Error::from_io(e)),
        }
        sync_dir(part.parent());
        self.prune(part.parent());
        Ok(())
    }
}

fn escape() -> Error {
    Error::invalid_input("the key resolves to a place outside the store's root directory")
}

fn expired(key: &str) -> Error {
    Error::new(
        ErrorKind::SessionExpired,
        format!("no part file for `{key}`: the upload was finished, cancelled or never begun"),
    )
}

fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

fn not_found_or(e: io::Error, key: &str) -> Error {
    if is_absent(&e) {
        Error::not_found(format!("no object at `{key}`")).with_source(e)
    } else {
        Error::from_io(e)
    }
}

/// Makes a rename or removal in `dir` durable; best effort (not every platform can open a
/// directory).
fn sync_dir(dir: Option<&Path>) {
    if let Some(dir) = dir
        && let Ok(d) = fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
}

fn check_local_host(url: &url::Url) -> Result<()> {
    match url.host_str() {
        None | Some("") | Some("localhost") => Ok(()),
        Some(host) => Err(Error::invalid_input(format!(
            "a `file://` URL must name a local path, not host `{host}`"
        ))),
    }
}

/// Runs blocking file-system work on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::new(ErrorKind::Other, format!("file-system task failed: {e}")))?
}

/// A temporary file removed on drop unless disarmed (after it was renamed into place).
struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    fn new(path: PathBuf) -> Self {
        TempFile { path: Some(path) }
    }
    fn path(&self) -> &Path {
        self.path.as_deref().expect("armed")
    }
    fn disarm(mut self) {
        self.path = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = fs::remove_file(p);
        }
    }
}

// ---------------------------------------------------------------------- listing

struct Lister<'a> {
    adapter: &'a FsAdapter,
    prefix: &'a str,
    delimiter: Option<&'a str>,
    page: PageBuilder<'a>,
}

enum Kind {
    Dir,
    File(fs::Metadata),
}

impl Lister<'_> {
    /// The children of `dir` that may be objects or hold objects, sorted so that a depth-first
    /// walk yields keys in byte order (a directory sorts as `name/`).
    fn children(&self, dir: &Path) -> Result<Vec<(String, PathBuf, Kind)>> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if is_absent(&e) && dir != self.adapter.root.as_path() => {
                return Ok(Vec::new()); // removed while we walked
            }
            Err(e) => return Err(Error::from_io(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) if is_absent(&e) => continue,
                Err(e) => return Err(Error::from_io(e)),
            };
            let Ok(name) = entry.file_name().into_string() else {
                continue; // not UTF-8: cannot be a key
            };
            if is_reserved(&name) {
                continue;
            }
            let Ok(ft) = entry.file_type() else { continue };
            let path = entry.path();
            let kind = if ft.is_dir() {
                Kind::Dir
            } else if ft.is_file() {
                match entry.metadata() {
                    Ok(m) => Kind::File(m),
                    Err(_) => continue,
                }
            } else if ft.is_symlink() {
                // A link is an object if it resolves to a file inside the root; links to
                // directories are not followed.
                match fs::metadata(&path) {
                    Ok(m) if m.is_file() && self.adapter.confine(&path).is_ok() => Kind::File(m),
                    _ => continue,
                }
            } else {
                continue;
            };
            out.push((name, path, kind));
        }
        out.sort_by_cached_key(|a| sort_name(&a.0, &a.2));
        Ok(out)
    }

    fn walk(&mut self, dir: &Path, rel: &str) -> Result<Flow> {
        for (name, path, kind) in self.children(dir)? {
            match kind {
                Kind::Dir => {
                    let dk = format!("{rel}{name}/");
                    if !(dk.starts_with(self.prefix) || self.prefix.starts_with(&dk)) {
                        continue;
                    }
                    // Every key under `dk` sorts before the cursor: skip the subtree.
                    if let Some(c) = self.page.cursor()
                        && dk.as_str() < c
                        && !c.starts_with(&dk)
                    {
                        continue;
                    }
                    if self.delimiter == Some("/")
                        && dk.starts_with(self.prefix)
                        && dk.len() > self.prefix.len()
                    {
                        // The whole subtree rolls up into the common prefix `dk`.
                        if self.page.cursor().is_some_and(|c| dk.as_str() <= c) {
                            continue;
                        }
                        if self.has_object(&path)? && self.emit(dk, None) == Flow::Stop {
                            return Ok(Flow::Stop);
                        }
                        continue;
                    }
                    if self.walk(&path, &dk)? == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
                Kind::File(m) => {
                    let key = format!("{rel}{name}");
                    if !key.starts_with(self.prefix) {
                        continue;
                    }
                    let rolled = self.delimiter.and_then(|d| {
                        key[self.prefix.len()..]
                            .find(d)
                            .map(|i| key[..self.prefix.len() + i + d.len()].to_string())
                    });
                    let flow = match rolled {
                        Some(p) => self.emit(p, None),
                        None => {
                            let meta = self.adapter.meta_of(&key, &m);
                            self.emit(key, Some(meta))
                        }
                    };
                    if flow == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
            }
        }
        Ok(Flow::Go)
    }

    /// Whether the directory holds at least one (visible) object, at any depth.
    fn has_object(&self, dir: &Path) -> Result<bool> {
        for (_, path, kind) in self.children(dir)? {
            match kind {
                Kind::File(_) => return Ok(true),
                Kind::Dir => {
                    if self.has_object(&path)? {
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }

    fn emit(&mut self, name: String, meta: Option<ObjectMeta>) -> Flow {
        self.page.emit(name, meta)
    }
}

fn sort_name(name: &str, kind: &Kind) -> String {
    match kind {
        Kind::Dir => format!("{name}/"),
        Kind::File(_) => name.to_string(),
    }
}

// ---------------------------------------------------------------------- the adapter

#[async_trait]
impl Adapter for FsAdapter {
    fn provider(&self) -> &'static str {
        "fs"
    }

    fn target(&self) -> String {
        self.target.to_string()
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::minimal();
        c.range_read = true;
        c.server_side_copy = true;
        c.native_rename = true;
        c.list_delimiter = true;
        c.public_url = true;
        c.resumable = Resumability::CrossProcess;
        c
    }

    /// The default lexical rules, plus: no trailing `/` (a directory is not an object) and no
    /// segment reserved for part files (`*.fls-part`) or temporary files (`.fls-tmp-*`).
    fn validate_key(&self, key: &str) -> Result<()> {
        files_core::part_file::validate_file_key(key, "fs")
    }

    /// A session of this adapter carries nothing (the part file is named by the key); a token
    /// whose session has an id or fields was not made by it.
    fn check_session(&self, session: &Session) -> Result<()> {
        files_core::part_file::check_keyless_session(session, "fs")
    }

    fn upload_family(&self) -> UploadFamily<'_> {
        UploadFamily::Offset(self)
    }

    async fn put(
        &self,
        key: &str,
        mut body: ByteStream,
        len: Option<u64>,
        options: &PutOptions,
    ) -> Result<ObjectMeta> {
        self.validate_key(key)?;
        check_options(options)?;
        let this = self.clone();
        let k = key.to_string();
        let (file, tmp) = blocking(move || {
            let path = this.key_path(&k);
            this.confine(&path)?;
            Self::check_not_dir(&path, &k)?;
            this.temp_next_to(&path, &k)
        })
        .await?;
        let mut file = tokio::fs::File::from_std(file);
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            file.write_all(&chunk).await.map_err(Error::from_io)?;
            written += chunk.len() as u64;
        }
        if let Some(len) = len
            && written != len
        {
            return Err(Error::invalid_input(format!(
                "the body was {written} bytes, not the {len} announced"
            )));
        }
        file.flush().await.map_err(Error::from_io)?;
        file.sync_all().await.map_err(Error::from_io)?;
        drop(file);
        let this = self.clone();
        let k = key.to_string();
        blocking(move || {
            let meta = this.commit(tmp.path(), &k)?;
            tmp.disarm();
            Ok(meta)
        })
        .await
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        self.validate_key(key)?;
        let this = self.clone();
        let k = key.to_string();
        blocking(move || this.head_blocking(&k)).await
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResponse> {
        self.validate_key(key)?;
        let this = self.clone();
        let k = key.to_string();
        let (file, meta) = blocking(move || {
            let path = this.key_path(&k);
            this.confine(&path)?;
            let file = fs::File::open(&path).map_err(|e| not_found_or(e, &k))?;
            let m = file.metadata().map_err(Error::from_io)?;
            if !m.is_file() {
                return Err(Error::not_found(format!(
                    "no object at `{k}` (a directory is there)"
                )));
            }
            let meta = this.meta_of(&k, &m);
            Ok((file, meta))
        })
        .await?;
        let range = match range {
            Some(r) => r.resolve(meta.size)?,
            None => 0..meta.size,
        };
        let mut file = tokio::fs::File::from_std(file);
        if range.start > 0 {
            file.seek(SeekFrom::Start(range.start))
                .await
                .map_err(Error::from_io)?;
        }
        let stream = futures::stream::try_unfold(
            (file, range.start, range.end),
            |(mut file, pos, end)| async move {
                if pos >= end {
                    return Ok(None);
                }
                let want = (end - pos).min(READ_CHUNK) as usize;
                let mut buf = vec![0u8; want];
                let mut filled = 0;
                while filled < want {
                    let n = file
                        .read(&mut buf[filled..])
                        .await
                        .map_err(Error::from_io)?;
                    if n == 0 {
                        return Err(Error::conflict(format!(
                            "the object ended at {} bytes while being read (it changed during the download)",
                            pos + filled as u64
                        )));
                    }
                    filled += n;
                }
                Ok(Some((Bytes::from(buf), (file, pos + want as u64, end))))
            },
        )
        .boxed();
        Ok(GetResponse {
            meta,
            range,
            stream,
        })
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.validate_key(key)?;
        let this = self.clone();
        let k = key.to_string();
        blocking(move || this.delete_blocking(&k)).await
    }

    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        let this = self.clone();
        let request = request.clone();
        blocking(move || this.list_blocking(&request)).await
    }

    async fn copy(&self, from: &str, to: &str) -> Result<ObjectMeta> {
        self.validate_key(from)?;
        self.validate_key(to)?;
        let this = self.clone();
        let (f, t) = (from.to_string(), to.to_string());
        blocking(move || this.copy_blocking(&f, &t)).await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.validate_key(from)?;
        self.validate_key(to)?;
        let this = self.clone();
        let (f, t) = (from.to_string(), to.to_string());
        blocking(move || this.rename_blocking(&f, &t)).await
    }

    /// The object's `file://` URL (no I/O; only the key's lexical rules are checked).
    fn public_url(&self, key: &str) -> Result<String> {
        self.validate_key(key)?;
        url::Url::from_file_path(self.key_path(key))
            .map(|u| u.to_string())
            .map_err(|()| Error::invalid_input("the object's path cannot be written as a URL"))
    }
}

fn check_options(options: &PutOptions) -> Result<()> {
    if options.content_type.is_some()
        || options.cache_control.is_some()
        || !options.metadata.is_empty()
    {
        return Err(Error::not_supported(
            "the fs adapter stores no content type, cache-control or user metadata",
        ));
    }
    Ok(())
}

#[async_trait]
impl OffsetUpload for FsAdapter {
    fn rules(&self) -> PartRules {
        PartRules::unconstrained()
    }

    fn resumability(&self) -> Resumability {
        Resumability::CrossProcess
    }

    /// Creates (or truncates) `<key>.fls-part`, creating parent directories.
    async fn begin(&self, spec: &UploadSpec) -> Result<Session> {
        self.validate_key(&spec.key)?;
        check_options(&spec.options)?;
        let this = self.clone();
        let k = spec.key.clone();
        blocking(move || this.begin_blocking(&k)).await?;
        Ok(Session::default())
    }

    /// The part file's length; `Finished` if it is gone and an object of the upload's length
    /// is at the key; otherwise the session expired.
    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<OffsetState> {
        self.validate_key(&spec.key)?;
        self.check_session(session)?;
        let this = self.clone();
        let spec = spec.clone();
        blocking(move || this.probe_blocking(&spec)).await
    }

    /// Writes `data` at `offset` of the existing part file and `fdatasync`s it; the part file's
    /// length must be exactly `offset` (else `Conflict`).
    async fn append(
        &self,
        spec: &UploadSpec,
        session: &Session,
        offset: u64,
        data: Bytes,
        _last: bool,
    ) -> Result<OffsetState> {
        self.validate_key(&spec.key)?;
        self.check_session(session)?;
        if offset.saturating_add(data.len() as u64) > spec.total {
            return Err(Error::invalid_input(format!(
                "append of {} bytes at offset {offset} goes past the upload's {} bytes",
                data.len(),
                spec.total
            )));
        }
        let this = self.clone();
        let k = spec.key.clone();
        blocking(move || this.append_blocking(&k, offset, &data)).await
    }

    /// Syncs the part file and renames it over the key.
    async fn finish(&self, spec: &UploadSpec, session: &Session) -> Result<ObjectMeta> {
        self.validate_key(&spec.key)?;
        self.check_session(session)?;
        let this = self.clone();
        let spec = spec.clone();
        blocking(move || this.finish_blocking(&spec)).await
    }

    /// Deletes the part file (a missing one is fine).
    async fn cancel(&self, spec: &UploadSpec, session: &Session) -> Result<()> {
        self.validate_key(&spec.key)?;
        self.check_session(session)?;
        let this = self.clone();
        let k = spec.key.clone();
        blocking(move || this.cancel_blocking(&k)).await
    }
}

// ---------------------------------------------------------------------- registration

fn open_store(url: &url::Url) -> Result<Arc<dyn Adapter>> {
    Ok(Arc::new(FsAdapter::from_parsed_url(url)?))
}

/// `file:///abs/path/key[?root=/abs/path]`: the root is the `root` query parameter (the path
/// must be under it) or `/`; the key is the rest of the path.
fn open_object(url: &url::Url) -> Result<(Arc<dyn Adapter>, String)> {
    check_local_host(url)?;
    let path = PathBuf::from(files_core::registry::percent_decode(url.path())?);
    let root = url
        .query_pairs()
        .find(|(k, _)| k == "root")
        .map(|(_, v)| PathBuf::from(v.into_owned()))
        .unwrap_or_else(|| PathBuf::from("/"));
    if !root.is_absolute() {
        return Err(Error::invalid_input(
            "the `root` parameter of a `file://` URL must be an absolute path",
        ));
    }
    let rest = path.strip_prefix(&root).map_err(|_| {
        Error::invalid_input(format!(
            "the path `{}` is not under the root `{}`",
            path.display(),
            root.display()
        ))
    })?;
    let mut segments = Vec::new();
    for c in rest.components() {
        match c {
            Component::Normal(s) => segments.push(
                s.to_str()
                    .ok_or_else(|| Error::invalid_input("the URL path is not valid UTF-8"))?
                    .to_string(),
            ),
            _ => {
                return Err(Error::invalid_input(
                    "the object path must not contain `.` or `..` segments",
                ));
            }
        }
    }
    if segments.is_empty() {
        return Err(Error::invalid_input(
            "the URL names the root directory, not an object in it",
        ));
    }
    let key = segments.join("/");
    let adapter = FsAdapter::new(&root)?;
    adapter.validate_key(&key)?;
    Ok((Arc::new(adapter), key))
}

/// The factory of the `file` scheme: `file:///srv/store` opens the store rooted at
/// `/srv/store`; `file:///srv/store/a/b?root=/srv/store` opens the object `a/b` in it (without
/// `root`, the root is `/` and the key the whole path).
pub const FACTORY: files_core::AdapterFactory = files_core::AdapterFactory {
    scheme: "file",
    provider: "fs",
    store: open_store,
    object: open_object,
};

files_core::inventory::submit!(FACTORY);

/// Registers this adapter explicitly (fallback for builds where the linker dropped it).
pub fn register() {
    static F: files_core::AdapterFactory = FACTORY;
    files_core::registry::register(&F);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_path_is_next_to_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let a = FsAdapter::new(dir.path()).unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        assert_eq!(
            a.part_path_of("x/y.bin").unwrap(),
            root.join("x").join("y.bin.fls-part")
        );
        assert_eq!(a.path_of("x/y.bin").unwrap(), root.join("x").join("y.bin"));
        assert!(a.part_path_of("x/../y").is_err());
    }

    #[test]
    fn reserved_names() {
        assert!(is_reserved("a.fls-part"));
        assert!(is_reserved(".fls-tmp-1-2-3"));
        assert!(!is_reserved("a.fls-parts"));
        assert!(!is_reserved("fls-tmp-"));
        assert!(is_reserved(&temp_name()));
    }

    #[test]
    fn dir_sorting_gives_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let a = FsAdapter::new(dir.path()).unwrap();
        for k in ["a/b", "a-c", "a0", "a/c/d", "b"] {
            let p = a.key_path(k);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, k).unwrap();
        }
        let page = a.list_blocking(&ListRequest::default()).unwrap();
        let keys: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(keys, ["a-c", "a/b", "a/c/d", "a0", "b"]);
    }
}
