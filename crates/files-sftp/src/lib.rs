//! # files-sftp
//!
//! The SFTP (SSH File Transfer Protocol) adapter of the `files` storage SDK, on `russh` and
//! `russh-sftp`: a directory on an SSH server used as an object store. Keys are `/`-separated
//! paths relative to a root directory on the server (`backups/db.tar` is
//! `<root>/backups/db.tar`); directories are created as needed and pruned when they become
//! empty, and are never objects themselves.
//!
//! ```no_run
//! # async fn demo() -> files_core::Result<()> {
//! use files_core::{Body, Files};
//! use files_sftp::SftpAdapter;
//!
//! let sftp = SftpAdapter::builder()
//!     .host("files.example.org")
//!     .user("backup")
//!     .private_key_file("/home/backup/.ssh/id_ed25519")
//!     .root("/srv/backups")
//!     .build()?;
//! let files = Files::new(sftp);
//! files
//!     .upload("db.tar", Body::from_path("db.tar").await?)
//!     .checkpoint("db.tar.upload.json")
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! ## Authentication
//!
//! In this order, as configured: a private key file ([`SftpBuilder::private_key_file`], URL
//! `?key=PATH`, or `FILES_SFTP_KEY`; passphrase from `FILES_SFTP_KEY_PASSPHRASE`), the keys of
//! the ssh-agent at `SSH_AUTH_SOCK` (by default only when neither a key file nor a password is
//! configured; [`SftpBuilder::use_agent`] / `?agent=`), and a password
//! ([`SftpBuilder::password`], the URL's user info, or `FILES_SFTP_PASSWORD`). A refused login
//! is [`ErrorKind::Unauthorized`] and is not retried.
//!
//! Secrets never reach `Debug` output, error messages, logs or resume tokens.
//!
//! ## Host keys
//!
//! The server's host key is checked against a `known_hosts` file before anything else is sent:
//! [`SftpBuilder::known_hosts`] or `?known_hosts=PATH`, else `FILES_SFTP_KNOWN_HOSTS`, else
//! `~/.ssh/known_hosts` (plain and hashed host names, `[host]:port` for ports other than 22).
//! An unknown host, or a key that differs from the recorded one, is refused with
//! [`ErrorKind::Unauthorized`]; the message names the host and the presented key's SHA-256
//! fingerprint. [`SftpBuilder::insecure_accept_any_host_key`] (`?insecure_host_key=true`)
//! turns the check off, for throw-away test servers only.
//!
//! ## URLs
//!
//! `sftp://user[:password]@host[:port]/path` (without a user: `FILES_SFTP_USER`, then `USER`).
//! As a store URL the path is the root directory
//! (`sftp://u@h/srv/data`); as an object URL it is the object's full remote path, split like
//! `file://` URLs: the root is `?root=` (default `/`) and the key is the rest of the path
//! (`sftp://u@h/srv/data/a/b.txt?root=/srv/data` is the key `a/b.txt`). Parameters:
//! `known_hosts`, `insecure_host_key`, `key`, `root`, `agent`, `timeout` (seconds).
//!
//! ## Writes are atomic
//!
//! [`put`](files_core::Adapter::put) writes a temporary file (`.fls-tmp-*`) next to the target
//! and renames it over the key with `posix-rename@openssh.com` (atomic, replaces the target)
//! where the server offers it; elsewhere it removes the target first and uses the plain SFTP
//! rename, so a reader may briefly see no object. Readers never see half a file.
//!
//! ## Resumable uploads: the part file
//!
//! The adapter implements the growing-offset family ([`files_core::OffsetUpload`]), resumable
//! **across processes**. The bytes of an upload to `dir/name` go to `dir/name.fls-part`; its
//! path is derived from the key alone (the token's session is empty). Every append opens the
//! part file for writing, **reads its remote size first** and refuses with
//! [`ErrorKind::Conflict`] unless it equals the offset to write at (so an append that
//! half-landed before a retry is never written twice: the scheduler re-probes and sends only
//! what is missing), writes at that explicit offset (OpenSSH ignores offsets on files opened
//! with APPEND, so the adapter never uses it), and `fsync`s where the server offers
//! `fsync@openssh.com`. Writes are pipelined; if one fails while a later one landed, the part
//! file is truncated back to the bytes known to be contiguous. Resume asks the server for the
//! part file's size, which is the truth whatever the token says. `finish` renames the part
//! file over the key; `cancel` (abort) deletes it.
//!
//! ## Confinement
//!
//! Keys follow [`files_core::adapter::validate_key_default`] (relative, no `.` or `..`
//! segments, no NUL, no backslash), must not end with `/`, and must not use the reserved names
//! `*.fls-part` and `.fls-tmp-*`; they are refused with [`ErrorKind::InvalidInput`] before any
//! request. The check is lexical: a symbolic link *on the server* that points outside the root
//! is followed by the server. Use the server's own confinement (`ChrootDirectory`, file
//! permissions) when the root must be a hard boundary.
//!
//! ## Connections
//!
//! One SSH connection with one SFTP session per adapter (and its clones), opened on first use
//! and shared by concurrent operations (SFTP multiplexes requests). A connection that fails is
//! dropped and a new one is opened by the next operation. Failures of the connection are
//! [`ErrorKind::Transient`] (retryable); SFTP statuses map to `NotFound`, `Unauthorized`
//! (permission denied), `NotSupported` and `Other`.
//!
//! ## Not supported
//!
//! Content types, user metadata, cache-control (`NotSupported`), server-side copy (`copy`
//! streams the object down and up again), presigned and public URLs. ETags are derived from
//! the modification time (seconds) and the size, not from the content.
#![deny(missing_docs)]

pub(crate) use files_core::part_file::is_reserved;
use files_core::part_file::temp_name;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use russh_sftp::protocol::{FileAttributes, OpenFlags};

use files_core::{
    Adapter, ByteRange, ByteStream, Capabilities, Error, ErrorKind, GetResponse, ListPage,
    ListRequest, ObjectMeta, OffsetState, OffsetUpload, PartRules, PutOptions, Result,
    Resumability, Session, UploadFamily, UploadSpec,
};

mod config;
mod conn;

pub use config::{
    DEFAULT_TIMEOUT, ENV_KEY, ENV_KEY_PASSPHRASE, ENV_KNOWN_HOSTS, ENV_PASSWORD, ENV_USER,
    SftpBuilder,
};

use crate::config::{HostKeyPolicy, Settings};
use crate::conn::Conn;

/// The provider name.
pub const PROVIDER: &str = "sftp";

/// The suffix of part files (`<key>.fls-part`), where resumable uploads collect their bytes.
pub const PART_SUFFIX: &str = files_core::part_file::PART_SUFFIX;

/// The prefix of the temporary files that atomic writes rename into place.
pub const TEMP_PREFIX: &str = files_core::part_file::TEMP_PREFIX;

/// Default page size of [`Adapter::list`].
const DEFAULT_LIMIT: usize = 1000;

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

struct Inner {
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
    /// [`Files::from_url`](files_core::Files::from_url) with the `sftp` scheme.
    pub fn from_url(url: &str) -> Result<SftpAdapter> {
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::invalid_input(format!("`{}` is not a valid URL: {e}", redact_url(url)))
        })?;
        let (builder, path) = config::builder_from_url(&parsed)?;
        let builder = if path.is_empty() || path == "/" {
            builder
        } else {
            builder.root(path)
        };
        builder.build()
    }

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

    fn key_path(&self, key: &str) -> String {
        join(&self.inner.settings.root, key)
    }

    fn part_path(&self, key: &str) -> String {
        format!("{}{PART_SUFFIX}", self.key_path(key))
    }

    fn err(&self, e: Error, op: &'static str, key: &str) -> Error {
        e.with_operation(op).with_provider(PROVIDER).with_key(key)
    }

    /// The shared connection, (re)connecting if there is none or it failed.
    async fn conn(&self) -> Result<Arc<Conn>> {
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

    fn meta_of(key: &str, a: &FileAttributes) -> ObjectMeta {
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

    async fn head_with(&self, c: &Conn, key: &str) -> Result<ObjectMeta> {
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
    async fn make_parents(&self, c: &Conn, path: &str, key: &str) -> Result<()> {
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
    async fn prune(&self, c: &Conn, path: &str) {
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

    async fn check_not_dir(c: &Conn, path: &str, key: &str) -> Result<()> {
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

fn join(root: &str, key: &str) -> String {
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

/// A URL as it may appear in a message: without its user info's password.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("redacted"));
            }
            Error::redacted(u.as_str())
        }
        Err(_) => match url.split_once('@') {
            Some((_, rest)) => format!("<redacted>@{}", Error::redacted(rest)),
            None => Error::redacted(url),
        },
    }
}

fn check_options(options: &PutOptions) -> Result<()> {
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

fn expired(key: &str) -> Error {
    Error::new(
        ErrorKind::SessionExpired,
        format!("no part file for `{key}`: the upload was finished, cancelled or never begun"),
    )
}

/// Closes a remote file handle when dropped (from a spawned task), unless closed before.
struct HandleGuard {
    conn: Arc<Conn>,
    handle: Option<String>,
}

impl HandleGuard {
    fn disarm(mut self) {
        self.handle = None;
    }

    async fn close(mut self) {
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

#[async_trait]
impl OffsetUpload for SftpAdapter {
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
        let key = spec.key.as_str();
        let r: Result<()> = async {
            let c = self.conn().await?;
            let part = self.part_path(key);
            Self::check_not_dir(&c, &self.key_path(key), key).await?;
            self.make_parents(&c, &part, key).await?;
            let h = c
                .open(
                    &part,
                    OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE,
                )
                .await?;
            c.close(&h).await
        }
        .await;
        r.map_err(|e| self.err(e, "begin", key))?;
        Ok(Session::default())
    }

    /// The part file's remote size; `Finished` if it is gone and an object of the upload's
    /// length is at the key; otherwise the session expired.
    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<OffsetState> {
        self.validate_key(&spec.key)?;
        self.check_session(session)?;
        let key = spec.key.as_str();
        let r: Result<OffsetState> = async {
            let c = self.conn().await?;
            match c.lstat(&self.part_path(key)).await {
                Ok(a) if a.is_regular() => return Ok(OffsetState::Offset(a.size.unwrap_or(0))),
                Ok(_) => {
                    return Err(Error::conflict(format!(
                        "the part file of `{key}` is not a regular file"
                    )));
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            match self.head_with(&c, key).await {
                Ok(meta) if meta.size == spec.total => Ok(OffsetState::Finished(meta)),
                Ok(_) => Err(expired(key)),
                Err(e) if e.kind() == ErrorKind::NotFound => Err(expired(key)),
                Err(e) => Err(e),
            }
        }
        .await;
        r.map_err(|e| self.err(e, "probe", key))
    }

    /// Opens the part file for writing, checks that its remote size is exactly `offset`
    /// (else `Conflict`), writes `data` at `offset` and `fsync`s where the server can.
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
        let key = spec.key.as_str();
        if offset.saturating_add(data.len() as u64) > spec.total {
            return Err(Error::invalid_input(format!(
                "append of {} bytes at offset {offset} goes past the upload's {} bytes",
                data.len(),
                spec.total
            )));
        }
        let r: Result<OffsetState> = async {
            let c = self.conn().await?;
            let part = self.part_path(key);
            // No CREATE: a part file that is gone means the session is gone.
            let handle = match c.open(&part, OpenFlags::WRITE).await {
                Ok(h) => h,
                Err(e) if e.kind() == ErrorKind::NotFound => return Err(expired(key)),
                Err(e) => return Err(e),
            };
            let guard = HandleGuard {
                conn: c.clone(),
                handle: Some(handle.clone()),
            };
            let size = c.fstat(&handle, &part).await?.size.unwrap_or(0);
            if size != offset {
                guard.close().await;
                return Err(Error::conflict(format!(
                    "append at offset {offset}, but the part file holds {size} bytes"
                )));
            }
            if let Err((e, contiguous, landed_beyond)) =
                c.write_at(&handle, offset, &data, &part).await
            {
                if landed_beyond && c.usable() {
                    // A later request landed after a failed one: cut the hole off, so that the
                    // part file's size stays the count of good bytes.
                    let _ = c.ftruncate(&handle, offset + contiguous, &part).await;
                }
                guard.close().await;
                return Err(e);
            }
            let synced = c.fsync(&handle, &part).await;
            let closed = c.close(&handle).await;
            guard.disarm(); // closed above
            synced?;
            closed?;
            Ok(OffsetState::Offset(offset + data.len() as u64))
        }
        .await;
        r.map_err(|e| self.err(e, "append", key))
    }

    /// Checks the part file holds every byte and renames it over the key.
    async fn finish(&self, spec: &UploadSpec, session: &Session) -> Result<ObjectMeta> {
        self.validate_key(&spec.key)?;
        self.check_session(session)?;
        let key = spec.key.as_str();
        let r: Result<ObjectMeta> = async {
            let c = self.conn().await?;
            let part = self.part_path(key);
            match c.lstat(&part).await {
                Ok(a) => {
                    let len = a.size.unwrap_or(0);
                    if len != spec.total {
                        return Err(Error::conflict(format!(
                            "the part file holds {len} bytes, but the upload is {} bytes",
                            spec.total
                        )));
                    }
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    // Finished before (a retried finish): the object is in place.
                    return match self.head_with(&c, key).await {
                        Ok(meta) if meta.size == spec.total => Ok(meta),
                        Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
                        _ => Err(expired(key)),
                    };
                }
                Err(e) => return Err(e),
            }
            let path = self.key_path(key);
            Self::check_not_dir(&c, &path, key).await?;
            c.rename_over(&part, &path).await?;
            self.head_with(&c, key).await
        }
        .await;
        r.map_err(|e| self.err(e, "finish", key))
    }

    /// Deletes the part file (a missing one is fine).
    async fn cancel(&self, spec: &UploadSpec, session: &Session) -> Result<()> {
        self.validate_key(&spec.key)?;
        self.check_session(session)?;
        let key = spec.key.as_str();
        let r: Result<()> = async {
            let c = self.conn().await?;
            let part = self.part_path(key);
            match c.remove(&part).await {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            }
            self.prune(&c, &part).await;
            Ok(())
        }
        .await;
        r.map_err(|e| self.err(e, "cancel", key))
    }
}

mod list;

// ---------------------------------------------------------------------- registration

fn open_store(url: &url::Url) -> Result<Arc<dyn Adapter>> {
    let (builder, path) = config::builder_from_url(url)?;
    let builder = if path.is_empty() || path == "/" {
        builder
    } else {
        builder.root(path)
    };
    Ok(Arc::new(builder.build()?))
}

/// `sftp://user@host/abs/path/key[?root=/abs/path]`: the root is the `root` parameter (the path
/// must be under it) or `/`; the key is the rest of the path.
fn open_object(url: &url::Url) -> Result<(Arc<dyn Adapter>, String)> {
    let (builder, path) = config::builder_from_url(url)?;
    let adapter = builder.build()?;
    let root = adapter.root().to_string();
    let rest = if root == "/" {
        path.strip_prefix('/')
    } else {
        path.strip_prefix(root.as_str())
            .and_then(|r| r.strip_prefix('/'))
    }
    .ok_or_else(|| {
        Error::invalid_input(format!("the path `{path}` is not under the root `{root}`"))
    })?;
    if rest.is_empty() {
        return Err(Error::invalid_input(
            "the URL names the root directory, not an object in it",
        ));
    }
    adapter.validate_key(rest)?;
    let key = rest.to_string();
    Ok((Arc::new(adapter), key))
}

/// The factory of the `sftp` scheme: `sftp://user@host:port/srv/store` opens the store rooted
/// at `/srv/store`; `sftp://user@host/srv/store/a/b?root=/srv/store` opens the object `a/b` in
/// it (without `root`, the root is `/` and the key the whole path).
pub const FACTORY: files_core::AdapterFactory = files_core::AdapterFactory {
    scheme: "sftp",
    provider: PROVIDER,
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

    fn adapter(root: &str) -> SftpAdapter {
        SftpAdapter::builder()
            .host("127.0.0.1")
            .port(2222)
            .user("u")
            .password("s3cret-pw")
            .known_hosts("/nonexistent/kh")
            .root(root)
            .build()
            .unwrap()
    }

    #[test]
    fn paths_and_target() {
        let a = adapter("/srv/data/");
        assert_eq!(a.path_of("x/y.bin").unwrap(), "/srv/data/x/y.bin");
        assert_eq!(
            a.part_path_of("x/y.bin").unwrap(),
            "/srv/data/x/y.bin.fls-part"
        );
        assert_eq!(a.target(), "sftp://u@127.0.0.1:2222/srv/data");
        assert_eq!(adapter("/").path_of("k").unwrap(), "/k");
        for bad in [
            "../x",
            "/abs",
            "a/../../b",
            "a\0b",
            "a/",
            "x.fls-part",
            "d/.fls-tmp-1",
        ] {
            let e = a.path_of(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_and_urls() {
        let a = adapter("/");
        let d = format!("{a:?}");
        assert!(!d.contains("s3cret-pw"), "{d}");
        assert!(!a.target().contains("s3cret-pw"));
        let e = SftpAdapter::from_url("sftp://u:s3cret-pw@h:99999/x").unwrap_err();
        assert!(!e.to_string().contains("s3cret-pw"), "{e}");
        let e = SftpAdapter::from_url("sftp://u:s3cret-pw@h/x?nope=1").unwrap_err();
        assert!(!e.to_string().contains("s3cret-pw"), "{e}");
    }

    #[test]
    fn object_urls_split_root_and_key() {
        let url = url::Url::parse(
            "sftp://u:pw@127.0.0.1:2200/srv/d/a/b.txt?root=/srv/d&insecure_host_key=true",
        )
        .unwrap();
        let (a, key) = open_object(&url).unwrap();
        assert_eq!(key, "a/b.txt");
        assert_eq!(a.target(), "sftp://u@127.0.0.1:2200/srv/d");
        let url = url::Url::parse("sftp://u@h/srv/d/a.txt?known_hosts=/k").unwrap();
        let (a, key) = open_object(&url).unwrap();
        assert_eq!(key, "srv/d/a.txt");
        assert_eq!(a.target(), "sftp://u@h:22/");
        for bad in [
            "sftp://u@h/other/a?root=/srv&known_hosts=/k",
            "sftp://u@h/srv?root=/srv&known_hosts=/k",
            "sftp://u@h/srv/..%2Fetc/passwd?root=/srv&known_hosts=/k",
        ] {
            let url = url::Url::parse(bad).unwrap();
            assert!(open_object(&url).is_err(), "{bad}");
        }
        let url = url::Url::parse("sftp://u@h:2022/srv/store?known_hosts=/k").unwrap();
        assert_eq!(
            open_store(&url).unwrap().target(),
            "sftp://u@h:2022/srv/store"
        );
    }
}
