//! The adapter: the shared connection and the everyday operations on the remote directory tree
//! (atomic writes through temporary files, pipelined reads, deletes with pruning, renames).

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::BytesMut;
use files_core::part_file::temp_name;
use files_core::{
    Adapter, ByteRange, ByteStream, Capabilities, Error, ErrorKind, GetResponse, ListPage,
    ListRequest, ObjectMeta, PutOptions, Result, Resumability, Session, UploadFamily,
};
use futures::StreamExt;
use russh_sftp::protocol::{FileAttributes, OpenFlags};

use crate::config::{HostKeyPolicy, Settings};
use crate::conn::Conn;
use crate::{PART_SUFFIX, PROVIDER, SftpBuilder, list};

/// Bytes of a `put` body gathered before they are written (pipelined) to the server.
const PUT_BATCH: usize = 1024 * 1024;

/// Largest chunk a download stream yields (one read request each, several in flight).
const READS_IN_FLIGHT: usize = 8;

/// A directory on an SFTP server used as an object store. See the [crate docs](crate).
///
/// Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct SftpAdapter {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    settings: Settings,
    target: String,
    slot: Mutex<Option<Arc<Conn>>>,
    connecting: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for SftpAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.inner.settings;
        f.debug_struct("SftpAdapter")
            .field("host", &s.host)
            .field("port", &s.port)
            .field("user", &s.user)
            .field("password", &s.password.as_ref().map(|_| "<redacted>"))
            .field("key_file", &s.key_file)
            .field("agent", &s.agent)
            .field("host_keys", &s.host_keys)
            .field("root", &s.root)
            .field("timeout", &s.timeout)
            .finish()
    }
}
impl SftpAdapter {
    /// A builder.
    pub fn builder() -> SftpBuilder {
        SftpBuilder::new()
    }

    /// An adapter for the store an `sftp://user[:password]@host[:port]/root?..` URL names
    /// (the path is the root directory); the same as
    pub(crate) fn from_settings(settings: Settings) -> SftpAdapter {
        let target = format!(
            "sftp://{}@{}:{}{}",
            settings.user,
            host_for_url(&settings.host),
            settings.port,
            settings.root
        );
        SftpAdapter {
            inner: Arc::new(Inner {
                settings,
                target,
                slot: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The absolute remote root directory.
    pub fn root(&self) -> &str {
        &self.inner.settings.root
    }

    /// The server's host.
    pub fn host(&self) -> &str {
        &self.inner.settings.host
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.inner.settings.port
    }

    /// Whether host keys are checked (false only after
    /// [`SftpBuilder::insecure_accept_any_host_key`]).
    pub fn checks_host_keys(&self) -> bool {
        !matches!(
            self.inner.settings.host_keys,
            HostKeyPolicy::InsecureAcceptAny
        )
    }

    /// The remote path of the object `key` (the key is checked first, lexically).
    pub fn path_of(&self, key: &str) -> Result<String> {
        self.validate_key(key)?;
        Ok(self.key_path(key))
    }

    /// The remote path where a resumable upload to `key` collects its bytes:
    /// `<path of key>.fls-part`, derived from the key only.
    pub fn part_path_of(&self, key: &str) -> Result<String> {
        self.validate_key(key)?;
        Ok(self.part_path(key))
    }

    /// Connects now (checking the host key and the credentials) instead of on first use.
    pub async fn connect(&self) -> Result<()> {
        self.conn().await.map(|_| ())
    }

    pub(crate) fn key_path(&self, key: &str) -> String {
        join(&self.inner.settings.root, key)
    }

    pub(crate) fn part_path(&self, key: &str) -> String {
        format!("{}{PART_SUFFIX}", self.key_path(key))
    }

    pub(crate) fn err(&self, e: Error, op: &'static str, key: &str) -> Error {
        e.with_operation(op).with_provider(PROVIDER).with_key(key)
    }

    /// The shared connection, (re)connecting if there is none or it failed.
    pub(crate) async fn conn(&self) -> Result<Arc<Conn>> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let _guard = self.inner.connecting.lock().await;
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let conn = Arc::new(
            Conn::connect(&self.inner.settings)
                .await
                .map_err(|e| e.with_provider(PROVIDER).with_operation("connect"))?,
        );
        *self.inner.slot.lock().expect("connection slot") = Some(conn.clone());
        Ok(conn)
    }

    fn current(&self) -> Option<Arc<Conn>> {
        let mut slot = self.inner.slot.lock().expect("connection slot");
        match slot.as_ref() {
            Some(c) if c.usable() => Some(c.clone()),
            Some(_) => {
                *slot = None;
                None
            }
            None => None,
        }
    }

    // ------------------------------------------------------------------ helpers

    pub(crate) fn meta_of(key: &str, a: &FileAttributes) -> ObjectMeta {
        let mut meta = ObjectMeta::new(key, a.size.unwrap_or(0));
        meta.last_modified = a
            .mtime
            .map(|t| UNIX_EPOCH + Duration::from_secs(u64::from(t)));
        meta.etag = Some(format!(
            "\"{:x}-{:x}\"",
            a.mtime.unwrap_or(0),
            a.size.unwrap_or(0)
        ));
        meta
    }

    pub(crate) async fn head_with(&self, c: &Conn, key: &str) -> Result<ObjectMeta> {
        let path = self.key_path(key);
        match c.stat(&path).await {
            Ok(a) if a.is_regular() => Ok(Self::meta_of(key, &a)),
            Ok(_) => Err(Error::not_found(format!(
                "no object at `{key}` (a directory is there)"
            ))),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Err(Error::not_found(format!("no object at `{key}`")))
            }
            Err(e) => Err(e),
        }
    }

    /// `mkdir -p` of the directory holding `path` (never above or at the root's parent).
    pub(crate) async fn make_parents(&self, c: &Conn, path: &str, key: &str) -> Result<()> {
        let Some((dir, _)) = path.rsplit_once('/') else {
            return Ok(());
        };
        if dir.is_empty() {
            return Ok(());
        }
        // Walk up until an existing directory, then create downwards.
        let mut missing: Vec<&str> = Vec::new();
        let mut cur = dir;
        loop {
            match c.stat_opt(cur).await? {
                Some(a) if a.is_dir() => break,
                Some(_) => {
                    return Err(Error::conflict(format!(
                        "a file is in the way of the directories of `{key}`"
                    )));
                }
                None => {
                    missing.push(cur);
                    match cur.rsplit_once('/') {
                        Some((parent, _)) if !parent.is_empty() => cur = parent,
                        _ => break,
                    }
                }
            }
        }
        for d in missing.into_iter().rev() {
            if let Err(e) = c.mkdir(d).await {
                // Created meanwhile by a concurrent call: fine.
                match c.stat_opt(d).await? {
                    Some(a) if a.is_dir() => {}
                    _ => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Removes empty directories from the one holding `path` up to (not including) the root.
    pub(crate) async fn prune(&self, c: &Conn, path: &str) {
        let root = self.inner.settings.root.as_str();
        let mut cur = path.rsplit_once('/').map(|(d, _)| d.to_string());
        while let Some(d) = cur {
            if d.len() <= root.len() || !d.starts_with(root) {
                break;
            }
            if c.rmdir(&d).await.is_err() {
                break;
            }
            cur = d.rsplit_once('/').map(|(p, _)| p.to_string());
        }
    }

    /// Writes a whole body to a fresh temporary file next to `path` and returns its path.
    async fn write_temp(
        &self,
        c: &Conn,
        path: &str,
        key: &str,
        mut body: ByteStream,
        len: Option<u64>,
    ) -> Result<String> {
        self.make_parents(c, path, key).await?;
        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let tmp = format!("{dir}/{}", temp_name());
        let handle = c
            .open(
                &tmp,
                OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE | OpenFlags::EXCLUDE,
            )
            .await?;
        let result: Result<()> = async {
            let mut written = 0u64;
            let mut batch = BytesMut::new();
            loop {
                let next = body.next().await.transpose()?;
                if let Some(chunk) = &next {
                    batch.extend_from_slice(chunk);
                }
                if batch.len() >= PUT_BATCH || (next.is_none() && !batch.is_empty()) {
                    let data = batch.split().freeze();
                    c.write_at(&handle, written, &data, &tmp)
                        .await
                        .map_err(|(e, _, _)| e)?;
                    written += data.len() as u64;
                }
                if next.is_none() {
                    break;
                }
            }
            if let Some(len) = len
                && written != len
            {
                return Err(Error::invalid_input(format!(
                    "the body was {written} bytes, not the {len} announced"
                )));
            }
            c.fsync(&handle, &tmp).await
        }
        .await;
        let closed = c.close(&handle).await;
        match result.and(closed) {
            Ok(()) => Ok(tmp),
            Err(e) => {
                let _ = c.remove(&tmp).await;
                Err(e)
            }
        }
    }

    pub(crate) async fn check_not_dir(c: &Conn, path: &str, key: &str) -> Result<()> {
        match c.lstat(path).await {
            Ok(a) if a.is_dir() => Err(Error::conflict(format!(
                "`{key}` is a directory holding other objects; it cannot be overwritten by an object"
            ))),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

pub(crate) fn join(root: &str, key: &str) -> String {
    if root == "/" {
        format!("/{key}")
    } else {
        format!("{root}/{key}")
    }
}

fn host_for_url(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

pub(crate) fn check_options(options: &PutOptions) -> Result<()> {
    if options.content_type.is_some()
        || options.cache_control.is_some()
        || !options.metadata.is_empty()
    {
        return Err(Error::not_supported(
            "the SFTP adapter stores no content type, cache-control or user metadata",
        ));
    }
    Ok(())
}

/// Closes a remote file handle when dropped (from a spawned task), unless closed before.
pub(crate) struct HandleGuard {
    pub(crate) conn: Arc<Conn>,
    pub(crate) handle: Option<String>,
}

impl HandleGuard {
    pub(crate) fn disarm(mut self) {
        self.handle = None;
    }

    pub(crate) async fn close(mut self) {
        if let Some(h) = self.handle.take() {
            let _ = self.conn.close(&h).await;
        }
    }
}

impl Drop for HandleGuard {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let conn = self.conn.clone();
            rt.spawn(async move {
                let _ = conn.close(&h).await;
            });
        }
    }
}

// ---------------------------------------------------------------------- the adapter

#[async_trait]
impl Adapter for SftpAdapter {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    /// `sftp://user@host:port/root`: never a credential.
    fn target(&self) -> String {
        self.inner.target.clone()
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::minimal();
        c.range_read = true;
        c.native_rename = true;
        c.list_delimiter = true;
        c.resumable = Resumability::CrossProcess;
        c
    }

    /// The default lexical rules, plus: no trailing `/` and no segment reserved for part files
    /// (`*.fls-part`) or temporary files (`.fls-tmp-*`).
    fn validate_key(&self, key: &str) -> Result<()> {
        files_core::part_file::validate_file_key(key, "SFTP")
    }

    /// A session of this adapter carries nothing (the part file is named by the key); a token
    /// whose session has an id or fields was not made by it.
    fn check_session(&self, session: &Session) -> Result<()> {
        files_core::part_file::check_keyless_session(session, "SFTP")
    }

    fn upload_family(&self) -> UploadFamily<'_> {
        UploadFamily::Offset(self)
    }

    async fn put(
        &self,
        key: &str,
        body: ByteStream,
        len: Option<u64>,
        options: &PutOptions,
    ) -> Result<ObjectMeta> {
        self.validate_key(key)?;
        check_options(options)?;
        let r: Result<ObjectMeta> = async {
            let c = self.conn().await?;
            let path = self.key_path(key);
            Self::check_not_dir(&c, &path, key).await?;
            let tmp = self.write_temp(&c, &path, key, body, len).await?;
            if let Err(e) = c.rename_over(&tmp, &path).await {
                let _ = c.remove(&tmp).await;
                return Err(e);
            }
            self.head_with(&c, key).await
        }
        .await;
        r.map_err(|e| self.err(e, "put", key))
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        self.validate_key(key)?;
        let r: Result<ObjectMeta> = async {
            let c = self.conn().await?;
            self.head_with(&c, key).await
        }
        .await;
        r.map_err(|e| self.err(e, "head", key))
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResponse> {
        self.validate_key(key)?;
        let r: Result<GetResponse> = async {
            let c = self.conn().await?;
            let path = self.key_path(key);
            let handle = match c.open(&path, OpenFlags::READ).await {
                Ok(h) => h,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return Err(Error::not_found(format!("no object at `{key}`")));
                }
                Err(e) => return Err(e),
            };
            let guard = HandleGuard {
                conn: c.clone(),
                handle: Some(handle.clone()),
            };
            let attrs = c.fstat(&handle, &path).await?;
            if !attrs.is_regular() {
                return Err(Error::not_found(format!(
                    "no object at `{key}` (a directory is there)"
                )));
            }
            let meta = Self::meta_of(key, &attrs);
            let range = match range {
                Some(r) => r.resolve(meta.size)?,
                None => 0..meta.size,
            };
            let step = c.read_len as u64;
            let chunks: Vec<(u64, usize)> = (range.start..range.end)
                .step_by(step as usize)
                .map(|o| (o, (range.end - o).min(step) as usize))
                .collect();
            let reader = c.clone();
            let h = handle.clone();
            let p = path.clone();
            let body = futures::stream::iter(chunks)
                .map(move |(off, n)| {
                    let (reader, h, p) = (reader.clone(), h.clone(), p.clone());
                    async move { reader.read_exact_at(&h, off, n, &p).await }
                })
                .buffered(READS_IN_FLIGHT);
            let closer = futures::stream::once(async move {
                guard.close().await;
                None
            })
            .filter_map(futures::future::ready);
            let stream = body.chain(closer).boxed();
            Ok(GetResponse {
                meta,
                range,
                stream,
            })
        }
        .await;
        r.map_err(|e| self.err(e, "get", key))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.validate_key(key)?;
        let r: Result<()> = async {
            let c = self.conn().await?;
            let path = self.key_path(key);
            match c.lstat(&path).await {
                Ok(a) if a.is_dir() => return Ok(()), // directories are not objects
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            }
            match c.remove(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            }
            self.prune(&c, &path).await;
            Ok(())
        }
        .await;
        r.map_err(|e| self.err(e, "delete", key))
    }

    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        let r: Result<ListPage> = async {
            let c = self.conn().await?;
            list::list(self, &c, request).await
        }
        .await;
        r.map_err(|e| e.with_operation("list").with_provider(PROVIDER))
    }

    /// Renames with `posix-rename@openssh.com` (replacing the target atomically) where the
    /// server offers it, else removes the target and renames.
    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.validate_key(from)?;
        self.validate_key(to)?;
        let r: Result<()> = async {
            let c = self.conn().await?;
            let src = self.key_path(from);
            let dst = self.key_path(to);
            match c.lstat(&src).await {
                Ok(a) if a.is_dir() => {
                    return Err(Error::not_found(format!(
                        "no object at `{from}` (a directory is there)"
                    )));
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return Err(Error::not_found(format!("no object at `{from}`")));
                }
                Err(e) => return Err(e),
            }
            if from == to {
                return Ok(());
            }
            Self::check_not_dir(&c, &dst, to).await?;
            self.make_parents(&c, &dst, to).await?;
            c.rename_over(&src, &dst).await?;
            self.prune(&c, &src).await;
            Ok(())
        }
        .await;
        r.map_err(|e| self.err(e, "rename", from))
    }
}
