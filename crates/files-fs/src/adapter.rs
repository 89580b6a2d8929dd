//! The adapter: everyday operations on the directory tree under the root (atomic writes through
//! temporary files, reads, deletes with pruning, copies, renames).

use std::fs;
use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use async_trait::async_trait;
use bytes::Bytes;
use files_core::part_file::temp_name;
use files_core::{
    Adapter, ByteRange, ByteStream, Capabilities, Error, ErrorKind, GetResponse, ListPage,
    ListRequest, ObjectMeta, PutOptions, Result, Resumability, Session, UploadFamily,
};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::PART_SUFFIX;
use crate::errors::{is_absent, not_found_or};

/// Largest chunk a download stream yields.
const READ_CHUNK: u64 = 1024 * 1024;

/// A directory on the local disk used as an object store. See the [crate docs](crate).
///
/// Cheap to clone: clones share the root.
#[derive(Debug, Clone)]
pub struct FsAdapter {
    pub(crate) root: Arc<PathBuf>,
    pub(crate) target: Arc<str>,
}

impl FsAdapter {
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

    pub(crate) fn key_path(&self, key: &str) -> PathBuf {
        let mut p = PathBuf::from(self.root.as_path());
        for segment in key.split('/') {
            p.push(segment);
        }
        p
    }

    pub(crate) fn part_path(&self, key: &str) -> PathBuf {
        let mut p = self.key_path(key);
        let mut name = p
            .file_name()
            .expect("a checked key has a name")
            .to_os_string();
        name.push(PART_SUFFIX);
        p.set_file_name(name);
        p
    }

    // ------------------------------------------------------------------ helpers (blocking)

    pub(crate) fn meta_of(&self, key: &str, m: &fs::Metadata) -> ObjectMeta {
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

    pub(crate) fn head_blocking(&self, key: &str) -> Result<ObjectMeta> {
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
    pub(crate) fn in_parent_dir<T>(
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
    pub(crate) fn commit(&self, from: &Path, key: &str) -> Result<ObjectMeta> {
        let path = self.key_path(key);
        self.confine(&path)?;
        Self::check_not_dir(&path, key)?;
        fs::rename(from, &path).map_err(Error::from_io)?;
        sync_dir(path.parent());
        self.head_blocking(key)
    }

    /// Removes empty directories from `dir` up to (not including) the root.
    pub(crate) fn prune(&self, dir: Option<&Path>) {
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
}

/// Makes a rename or removal in `dir` durable; best effort (not every platform can open a
/// directory).
pub(crate) fn sync_dir(dir: Option<&Path>) {
    if let Some(dir) = dir
        && let Ok(d) = fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
}

/// Runs blocking file-system work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
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

pub(crate) fn check_options(options: &PutOptions) -> Result<()> {
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
