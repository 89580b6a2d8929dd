//! # files-ftp
//!
//! The FTP and FTPS adapter of the `files` storage SDK: a directory on an FTP server used as
//! an object store. Keys are `/`-separated paths under a root directory (`backups/db.tar` is
//! `<root>/backups/db.tar`); directories are created as needed (`MKD`) and removed when a
//! delete leaves them empty. It speaks plain FTP or explicit FTPS (`AUTH TLS`, rustls with the
//! system's roots plus any CA file you trust), always in passive mode and binary type.
//!
//! ```no_run
//! # async fn demo() -> files_core::Result<()> {
//! use files_core::{Body, Files};
//! use files_ftp::{FtpAdapter, Security};
//! let adapter = FtpAdapter::builder("ftp.example.com")
//!     .user("alice")
//!     .password("s3cret") // or leave it out and set FILES_FTP_PASSWORD
//!     .security(Security::ExplicitTls)
//!     .root("backups")
//!     .build()?;
//! let files = Files::new(adapter);
//! files.upload("db/2026-01-01.tar", Body::from_path("db.tar").await?).await?;
//! # Ok(()) }
//! ```
//!
//! It is registered for the `ftp` and `ftps` URL schemes (see [`FACTORY`] for the URL form):
//! `Files::from_url("ftps://alice@ftp.example.com/backups")`.
//!
//! ## Connections
//!
//! A control connection runs one command at a time, so the adapter keeps a small pool (4 by
//! default, [`FtpBuilder::max_connections`]) of logged-in connections and lends one to each
//! operation; a connection whose operation ended abnormally (a dropped future, a broken data
//! transfer, a connection error) is closed rather than reused. A download holds its connection
//! until its stream ends or is dropped. Data connections always go to the control connection's
//! peer address: the address a server names in its `PASV` reply is ignored (some servers name
//! an internal one).
//!
//! ## Writes are atomic
//!
//! [`put`](files_core::Adapter::put) stores to a temporary name (`.fls-tmp-*`) next to the key
//! and renames it over the key (`RNFR`/`RNTO`): readers never see half a file. A put cut short
//! may leave the temporary file behind; listings hide such names.
//!
//! ## Resumable uploads, across processes
//!
//! The adapter implements the growing-offset family ([`files_core::OffsetUpload`]). The bytes
//! of an upload to `dir/name` go to the *part file* `dir/name.fls-part`, whose path is derived
//! from the key alone (the token's session is empty, so a doctored token cannot point the
//! adapter at another file). `begin` creates an empty part file; each chunk is appended with
//! `APPE` after `SIZE` confirmed the part file holds exactly the chunk's offset — so a retried
//! chunk whose first attempt half-landed is refused (`Conflict`) instead of appended twice, and
//! the scheduler re-probes and continues from the real size. `finish` renames the part file over
//! the key; `cancel` deletes it. To resume in a later process, `probe` asks the part file's
//! `SIZE`: that is the truth, whatever the token says.
//!
//! ## Confinement and command injection
//!
//! Keys are refused with [`ErrorKind::InvalidInput`] before any command when they break the
//! lexical rules of [`files_core::adapter::validate_key_default`] (absolute, `.`/`..`, NUL,
//! backslash, empty segments, over 1024 bytes), end with `/`, contain CR, LF or any other
//! control character (a line break in a path would smuggle a second FTP command), have a segment
//! that starts or ends with a space (servers trim arguments), or use the reserved names
//! `*.fls-part` and `.fls-tmp-*`. Every command names an absolute path under the root. The
//! root itself may not contain `..`. Symbolic links on the server are the server's business:
//! FTP servers usually confine a session themselves (chroot).
//!
//! ## Secrets
//!
//! The password is sent only in the `PASS` command. It never appears in `Debug` output, errors,
//! this crate's logs, [`Adapter::target`](files_core::Adapter::target) or resume tokens. Note
//! that suppaftp itself logs every control-connection line, `PASS` included, through the `log`
//! crate at `trace` level (target `suppaftp`): do not route `log` trace output of that target
//! anywhere it could be read.
//!
//! ## Not supported
//!
//! Content types, user metadata and cache-control (FTP has nowhere to keep them), presigned
//! and public URLs, and server-side copy (`copy` streams the object down and up again). ETags
//! are derived from `MDTM` and `SIZE`, not from the content.
#![deny(missing_docs)]

mod config;
mod errors;
mod list;
mod pool;

#[doc(hidden)]
pub use list::fuzzing;

pub(crate) use files_core::part_file::is_reserved;
use files_core::part_file::temp_name;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use suppaftp::Status;
use suppaftp::tokio::{AsyncRustlsStream, TransferStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use files_core::{
    Adapter, ByteRange, ByteStream, Capabilities, Error, ErrorKind, GetResponse, ListPage,
    ListRequest, ObjectMeta, OffsetState, OffsetUpload, PartRules, PutOptions, Result,
    Resumability, Session, UploadFamily, UploadSpec,
};

pub use config::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_CONNECTIONS, FtpBuilder, PASSWORD_ENV, PassiveMode,
    Security, USER_ENV,
};

use config::{Config, Root};
use errors::{On550, code};
use pool::{Lease, Pool};

/// The suffix of part files (`<key>.fls-part`), where resumable uploads collect their bytes.
pub const PART_SUFFIX: &str = files_core::part_file::PART_SUFFIX;

/// The prefix of the temporary files that atomic writes rename into place.
pub const TEMP_PREFIX: &str = files_core::part_file::TEMP_PREFIX;

/// Largest chunk a download stream yields.
const READ_CHUNK: u64 = 256 * 1024;

/// Data is written in slices of this size, each one a sign of progress for the I/O timeout.
const WRITE_CHUNK: usize = 64 * 1024;

type Transfer = TransferStream<AsyncRustlsStream>;

/// A directory on an FTP or FTPS server used as an object store. See the [crate docs](crate).
///
/// Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct FtpAdapter {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    pool: Arc<Pool>,
    target: String,
}

impl fmt::Debug for FtpAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FtpAdapter")
            .field("target", &self.inner.target)
            .field("config", &self.inner.config)
            .finish()
    }
}

impl FtpAdapter {
    /// A builder for the server at `host`.
    pub fn builder(host: impl Into<String>) -> FtpBuilder {
        FtpBuilder::new(host)
    }

    pub(crate) fn from_config(config: Config) -> FtpAdapter {
        let host = if config.host.contains(':') {
            format!("[{}]", config.host)
        } else {
            config.host.clone()
        };
        let target = format!(
            "ftp://{}@{host}:{}/{}",
            config.user,
            config.port,
            config.root.display()
        );
        let config = Arc::new(config);
        FtpAdapter {
            inner: Arc::new(Inner {
                pool: Pool::new(config.clone()),
                config,
                target,
            }),
        }
    }

    /// The adapter for the store an `ftp://` or `ftps://` URL names; the same as
    /// [`Files::from_url`](files_core::Files::from_url) with these schemes (see [`FACTORY`]).
    pub fn from_url(url: &str) -> Result<FtpAdapter> {
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::invalid_input(format!(
                "`{}` is not a valid URL: {e}",
                Error::redacted(url)
            ))
        })?;
        store_from_url(&parsed)
    }

    /// Whether FTPS is used.
    pub fn security(&self) -> Security {
        self.inner.config.security
    }

    async fn lease(&self) -> Result<Lease> {
        self.inner.pool.get().await
    }

    /// Runs `op` on a pooled connection; the connection goes back to the pool afterwards unless
    /// `op` marked it broken (or was cancelled).
    async fn with_conn<T>(
        &self,
        op: impl for<'a> FnOnce(&'a mut Lease) -> futures::future::BoxFuture<'a, Result<T>>,
    ) -> Result<T> {
        let mut lease = self.lease().await?;
        let progress = lease.progress.clone();
        let io_timeout = self.inner.pool.config.io_timeout;
        let result = {
            let mut fut = op(&mut lease);
            let mut seen = progress.load(Ordering::Relaxed);
            loop {
                tokio::select! {
                    r = &mut fut => break r,
                    () = tokio::time::sleep(io_timeout) => {
                        let now = progress.load(Ordering::Relaxed);
                        if now == seen {
                            // Dropping the operation and the lease (unreleased) closes the
                            // connection: a late reply can never meet the next operation.
                            return Err(stalled(io_timeout));
                        }
                        seen = now;
                    }
                }
            }
        };
        lease.release();
        result
    }
}

/// Runs `fut`, or fails with [`stalled`] when it takes longer than `io_timeout`.
async fn within<T>(
    io_timeout: std::time::Duration,
    op: &'static str,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(io_timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(stalled(io_timeout).with_operation(op)),
    }
}

/// The error of an operation that made no progress for `io_timeout`.
fn stalled(io_timeout: std::time::Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("the FTP server made no progress for {io_timeout:?}; the connection was dropped"),
    )
    .with_retryable(true)
    .with_provider("ftp")
}

// ---------------------------------------------------------------------- path helpers

/// `dir/name`, with no doubled `/`; `dir` when `name` is empty.
pub(crate) fn join(dir: &str, name: &str) -> String {
    if name.is_empty() {
        dir.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "",
    }
}

fn key_path(lease: &Lease, key: &str) -> String {
    join(&lease.info.root, key)
}

fn part_path(lease: &Lease, key: &str) -> String {
    format!("{}{PART_SUFFIX}", key_path(lease, key))
}

fn check_options(options: &PutOptions) -> Result<()> {
    if options.content_type.is_some()
        || options.cache_control.is_some()
        || !options.metadata.is_empty()
    {
        return Err(Error::not_supported(
            "the FTP adapter stores no content type, cache-control or user metadata",
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

// ---------------------------------------------------------------------- protocol steps

/// `SIZE path`: `None` when the server says 550 (missing, or a directory).
async fn size(lease: &mut Lease, path: &str, op: &'static str) -> Result<Option<u64>> {
    let r = lease.ftp().size(path).await;
    match r {
        Ok(n) => Ok(Some(n as u64)),
        Err(e) if code(&e) == Some(550) => Ok(None),
        Err(e) => lease.check(Err(e), op, On550::NotFound),
    }
}

/// `MDTM path`, parsed; `None` when the server does not say.
async fn mdtm(lease: &mut Lease, path: &str) -> Option<SystemTime> {
    let r = lease
        .ftp()
        .custom_command(format!("MDTM {path}"), &[Status::File])
        .await;
    let reply = lease.check(r, "head", On550::NotFound).ok()?;
    let text = String::from_utf8_lossy(&reply.body);
    let stamp = text.trim().strip_prefix("213").unwrap_or(&text).trim();
    list::parse_mdtm(stamp)
}

async fn meta_of(lease: &mut Lease, key: &str, path: &str, size: u64) -> ObjectMeta {
    let mut meta = ObjectMeta::new(key, size);
    meta.last_modified = mdtm(lease, path).await;
    let secs = meta
        .last_modified
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    meta.etag = Some(format!("\"{secs:x}-{size:x}\""));
    meta
}

async fn head_path(lease: &mut Lease, key: &str, path: &str) -> Result<ObjectMeta> {
    match size(lease, path, "head").await? {
        Some(n) => Ok(meta_of(lease, key, path, n).await),
        None => Err(Error::not_found(format!("no object at `{key}`"))),
    }
}

/// `MKD` of every directory from the top down to `dir` (absolute); directories that exist
/// (and any other refusal) are skipped: the command that needed them reports the real error.
async fn make_dirs(lease: &mut Lease, dir: &str) -> Result<()> {
    let mut cur = String::new();
    for segment in dir.split('/').filter(|s| !s.is_empty()) {
        cur.push('/');
        cur.push_str(segment);
        let r = lease.ftp().mkdir(&cur).await;
        if let Err(e) = r
            && !errors::connection_survives(&e)
        {
            return lease.check(Err(e), "mkdir", On550::Refused);
        }
    }
    Ok(())
}

/// Removes empty directories from `dir` up to (not including) the root; stops at the first
/// one that is not empty (or cannot be removed).
async fn prune(lease: &mut Lease, dir: &str) {
    let root = lease.info.root.clone();
    let mut cur = dir.to_string();
    while cur.len() > root.len() && cur.starts_with(&root) && cur != "/" {
        let r = lease.ftp().rmdir(&cur).await;
        if let Err(e) = r {
            if !errors::connection_survives(&e) {
                lease.mark_broken();
            }
            return;
        }
        cur = parent(&cur).to_string();
    }
}

/// Opens `STOR path` (or `APPE path`), creating the parent directories and trying again when
/// the server refuses because they are missing.
async fn open_write(
    lease: &mut Lease,
    path: &str,
    append: bool,
    op: &'static str,
) -> Result<Transfer> {
    for attempt in 0..2 {
        let r = if append {
            lease.ftp().append_with_stream(path).await
        } else {
            lease.ftp().put_with_stream(path).await
        };
        match r {
            Ok(s) => return Ok(s),
            Err(e) if attempt == 0 && !append && matches!(code(&e), Some(550 | 553)) => {
                make_dirs(lease, parent(path)).await?;
            }
            Err(e) => return lease.check(Err(e), op, On550::Refused),
        }
    }
    unreachable!("the loop returns")
}

/// Writes `data` to an open upload and completes it; any failure marks the connection broken.
async fn write_all(
    lease: &mut Lease,
    mut stream: Transfer,
    data: &[u8],
    op: &'static str,
) -> Result<()> {
    let mut written = Ok(());
    for chunk in data.chunks(WRITE_CHUNK) {
        lease.touch();
        written = stream.write_all(chunk).await;
        if written.is_err() {
            break;
        }
    }
    lease.touch();
    if let Err(e) = written {
        lease.mark_broken();
        drop(stream);
        return Err(Error::from_io(e)
            .with_retryable(true)
            .with_operation(op)
            .with_provider("ftp"));
    }
    let r = stream.finish().await;
    lease.check(r, op, On550::Refused)
}

/// `RNFR from` / `RNTO to`, creating the parent directories of `to` when needed.
async fn rename_path(lease: &mut Lease, from: &str, to: &str, op: &'static str) -> Result<()> {
    for attempt in 0..2 {
        let r = lease.ftp().rename(from, to).await;
        match r {
            Ok(()) => return Ok(()),
            Err(e) if attempt == 0 && matches!(code(&e), Some(550 | 553)) => {
                make_dirs(lease, parent(to)).await?;
            }
            Err(e) => return lease.check(Err(e), op, On550::Refused),
        }
    }
    unreachable!("the loop returns")
}

/// `DELE path`; a missing file is fine (a 550 is checked with `SIZE`: only a file that is
/// still there makes it an error).
async fn delete_path(lease: &mut Lease, path: &str, op: &'static str) -> Result<bool> {
    let r = lease.ftp().rm(path).await;
    match r {
        Ok(()) => Ok(true),
        Err(e) if code(&e) == Some(550) => match size(lease, path, op).await? {
            None => Ok(false),
            Some(_) => lease.check(Err(e), op, On550::Refused),
        },
        Err(e) => lease.check(Err(e), op, On550::Refused),
    }
}

// ---------------------------------------------------------------------- downloads

struct Reading {
    io_timeout: std::time::Duration,
    lease: Option<Lease>,
    stream: Option<Transfer>,
    remaining: u64,
    to_eof: bool,
}

async fn read_step(mut r: Reading) -> Result<Option<(Bytes, Reading)>> {
    if r.remaining == 0 {
        return Ok(None);
    }
    let want = r.remaining.min(READ_CHUNK) as usize;
    let mut buf = vec![0u8; want];
    let mut filled = 0;
    let stream = r.stream.as_mut().expect("a reading holds its transfer");
    while filled < want {
        let read = match tokio::time::timeout(r.io_timeout, stream.read(&mut buf[filled..])).await {
            Ok(read) => read,
            Err(_) => {
                r.lease.as_mut().map(Lease::mark_broken);
                return Err(stalled(r.io_timeout).with_operation("get"));
            }
        };
        match read {
            Ok(0) => {
                r.lease.as_mut().map(Lease::mark_broken);
                // The data connection closed early: dropped, or the file shrank. Retryable:
                // the client asks for the rest and compares versions (MDTM and SIZE).
                return Err(Error::transient(format!(
                    "the data connection ended {} bytes early (it dropped, or the object changed)",
                    r.remaining - filled as u64
                ))
                .with_operation("get")
                .with_provider("ftp"));
            }
            Ok(n) => filled += n,
            Err(e) => {
                r.lease.as_mut().map(Lease::mark_broken);
                return Err(Error::from_io(e)
                    .with_retryable(true)
                    .with_operation("get")
                    .with_provider("ftp"));
            }
        }
    }
    r.remaining -= filled as u64;
    if r.remaining == 0 {
        let stream = r.stream.take().expect("a reading holds its transfer");
        let mut lease = r.lease.take().expect("a reading holds its lease");
        if r.to_eof {
            let Ok(done) = tokio::time::timeout(r.io_timeout, stream.finish()).await else {
                return Err(stalled(r.io_timeout).with_operation("get"));
            };
            lease.check(done, "get", On550::NotFound)?;
            lease.release();
        } else {
            // Stopped before the end of the file: close the data connection and the control
            // connection with it (servers answer an early close in different ways, and a
            // stray late reply must not meet the next operation).
            drop(stream);
            lease.mark_broken();
            drop(lease);
        }
    }
    Ok(Some((Bytes::from(buf), r)))
}

// ---------------------------------------------------------------------- the adapter

#[async_trait]
impl Adapter for FtpAdapter {
    fn provider(&self) -> &'static str {
        "ftp"
    }

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

    /// The default lexical rules, plus: no trailing `/`, no control characters (CR/LF would
    /// inject FTP commands), no segment starting or ending with a space, and no segment
    /// reserved for part files (`*.fls-part`) or temporary files (`.fls-tmp-*`).
    fn validate_key(&self, key: &str) -> Result<()> {
        files_core::part_file::validate_file_key(key, "FTP")?;
        if key.chars().any(char::is_control) {
            return Err(Error::invalid_input(
                "the key contains a control character (CR/LF would inject FTP commands)",
            ));
        }
        if key
            .split('/')
            .any(|s| s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace))
        {
            return Err(Error::invalid_input(
                "a key segment must not start or end with white space (FTP servers trim it)",
            ));
        }
        Ok(())
    }

    /// A session of this adapter carries nothing (the part file is named by the key); a token
    /// whose session has an id or fields was not made by it.
    fn check_session(&self, session: &Session) -> Result<()> {
        files_core::part_file::check_keyless_session(session, "FTP")
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
        let t = self.inner.pool.config.io_timeout;
        // Every step that waits on the server is bounded by the I/O timeout (waiting for the
        // body is not). A lease dropped unreleased closes its connection.
        let mut lease = self.lease().await?;
        let path = key_path(&lease, key);
        let tmp = join(parent(&path), &temp_name());
        let mut stream = within(t, "put", open_write(&mut lease, &tmp, false, "put")).await?;
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    // The body failed: the server keeps what it got under the temporary name;
                    // closing the connection ends the transfer, the temporary file stays.
                    lease.mark_broken();
                    return Err(e);
                }
            };
            for piece in chunk.chunks(WRITE_CHUNK) {
                let w = within(t, "put", async {
                    stream.write_all(piece).await.map_err(|e| {
                        Error::from_io(e)
                            .with_retryable(true)
                            .with_operation("put")
                            .with_provider("ftp")
                    })
                })
                .await;
                if let Err(e) = w {
                    lease.mark_broken();
                    return Err(e.with_key(key));
                }
            }
            written += chunk.len() as u64;
        }
        let done = match tokio::time::timeout(t, stream.finish()).await {
            Ok(done) => done,
            Err(_) => return Err(stalled(t).with_operation("put").with_key(key)),
        };
        let done = lease
            .check(done, "put", On550::Refused)
            .and_then(|()| match len {
                Some(len) if len != written => Err(Error::invalid_input(format!(
                    "the body was {written} bytes, not the {len} announced"
                ))),
                _ => Ok(()),
            });
        let result = match done {
            Ok(()) => within(t, "put", rename_path(&mut lease, &tmp, &path, "put")).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            if e.kind() != ErrorKind::Timeout {
                let _ = within(t, "put", delete_path(&mut lease, &tmp, "put")).await;
                lease.release();
            }
            return Err(e.with_key(key));
        }
        let meta = within(t, "put", async {
            Ok(meta_of(&mut lease, key, &path, written).await)
        })
        .await?;
        lease.release();
        Ok(meta)
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        self.validate_key(key)?;
        let key = key.to_string();
        self.with_conn(move |lease| {
            Box::pin(async move {
                let path = key_path(lease, &key);
                head_path(lease, &key, &path).await
            })
        })
        .await
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResponse> {
        self.validate_key(key)?;
        let mut lease = self.lease().await?;
        let path = key_path(&lease, key);
        let io_timeout = self.inner.pool.config.io_timeout;
        // Each step of opening the download is bounded; a dropped (unreleased) lease closes
        // its connection.
        let bounded = |r: std::result::Result<Result<ObjectMeta>, tokio::time::error::Elapsed>| {
            r.unwrap_or_else(|_| Err(stalled(io_timeout).with_operation("get")))
        };
        let meta = match bounded(
            tokio::time::timeout(io_timeout, head_path(&mut lease, key, &path)).await,
        ) {
            Ok(m) => m,
            Err(e) => {
                lease.release();
                return Err(e);
            }
        };
        let range = match range {
            Some(r) => match r.resolve(meta.size) {
                Ok(r) => r,
                Err(e) => {
                    lease.release();
                    return Err(e);
                }
            },
            None => 0..meta.size,
        };
        if range.is_empty() {
            lease.release();
            return Ok(GetResponse {
                meta,
                range,
                stream: futures::stream::empty().boxed(),
            });
        }
        if range.start > 0 {
            let Ok(r) = tokio::time::timeout(
                io_timeout,
                lease.ftp().resume_transfer(range.start as usize),
            )
            .await
            else {
                return Err(stalled(io_timeout).with_operation("get"));
            };
            lease.check(r, "get", On550::NotFound)?;
        }
        let Ok(r) = tokio::time::timeout(io_timeout, lease.ftp().retr_as_stream(&path)).await
        else {
            return Err(stalled(io_timeout).with_operation("get"));
        };
        let stream = match lease.check(r, "get", On550::NotFound) {
            Ok(s) => s,
            Err(e) => {
                lease.release();
                return Err(e.with_key(key));
            }
        };
        let reading = Reading {
            io_timeout: self.inner.pool.config.io_timeout,
            lease: Some(lease),
            stream: Some(stream),
            remaining: range.end - range.start,
            to_eof: range.end == meta.size,
        };
        let stream = futures::stream::try_unfold(reading, read_step).boxed();
        Ok(GetResponse {
            meta,
            range,
            stream,
        })
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.validate_key(key)?;
        let key = key.to_string();
        self.with_conn(move |lease| {
            Box::pin(async move {
                let path = key_path(lease, &key);
                if delete_path(lease, &path, "delete").await? {
                    prune(lease, parent(&path)).await;
                }
                Ok(())
            })
        })
        .await
    }

    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        let request = request.clone();
        self.with_conn(move |lease| Box::pin(async move { list::list_page(lease, &request).await }))
            .await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.validate_key(from)?;
        self.validate_key(to)?;
        let (from, to) = (from.to_string(), to.to_string());
        self.with_conn(move |lease| {
            Box::pin(async move {
                let src = key_path(lease, &from);
                let dst = key_path(lease, &to);
                if size(lease, &src, "rename").await?.is_none() {
                    return Err(Error::not_found(format!("no object at `{from}`")));
                }
                if from == to {
                    return Ok(());
                }
                rename_path(lease, &src, &dst, "rename").await?;
                prune(lease, parent(&src)).await;
                Ok(())
            })
        })
        .await
    }
}

#[async_trait]
impl OffsetUpload for FtpAdapter {
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
        let key = spec.key.clone();
        self.with_conn(move |lease| {
            Box::pin(async move {
                let part = part_path(lease, &key);
                let stream = open_write(lease, &part, false, "begin").await?;
                write_all(lease, stream, &[], "begin").await
            })
        })
        .await?;
        Ok(Session::default())
    }

    /// The part file's `SIZE`; `Finished` if it is gone and an object of the upload's length is
    /// at the key; otherwise the session expired.
    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<OffsetState> {
        self.validate_key(&spec.key)?;
        self.check_session(session)?;
        let spec = spec.clone();
        self.with_conn(move |lease| {
            Box::pin(async move {
                let part = part_path(lease, &spec.key);
                if let Some(n) = size(lease, &part, "probe").await? {
                    return Ok(OffsetState::Offset(n));
                }
                let path = key_path(lease, &spec.key);
                match size(lease, &path, "probe").await? {
                    Some(n) if n == spec.total => Ok(OffsetState::Finished(
                        meta_of(lease, &spec.key, &path, n).await,
                    )),
                    _ => Err(expired(&spec.key)),
                }
            })
        })
        .await
    }

    /// Re-checks the part file's `SIZE` (it must be exactly `offset`, else `Conflict`: a
    /// retried append must never duplicate bytes), then appends `data` with `APPE`.
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
        let key = spec.key.clone();
        self.with_conn(move |lease| {
            Box::pin(async move {
                let part = part_path(lease, &key);
                match size(lease, &part, "append").await? {
                    None => return Err(expired(&key)),
                    Some(n) if n != offset => {
                        return Err(Error::conflict(format!(
                            "append at offset {offset}, but the part file holds {n} bytes"
                        )));
                    }
                    Some(_) => {}
                }
                let stream = open_write(lease, &part, true, "append").await?;
                write_all(lease, stream, &data, "append").await?;
                // A `226` does not prove every byte arrived: in stream mode a data connection
                // cut short looks like the end of the file, and some servers (pyftpdlib)
                // answer `226` anyway. The part file's size says how far it really got; the
                // scheduler sends the rest from there.
                let end = offset + data.len() as u64;
                match size(lease, &part, "append").await? {
                    Some(n) if n > end => Err(Error::conflict(format!(
                        "the part file holds {n} bytes after an append that should end at {end}"
                    ))),
                    Some(n) => Ok(OffsetState::Offset(n)),
                    None => Err(expired(&key)),
                }
            })
        })
        .await
    }

    /// Checks the part file holds every byte and renames it over the key.
    async fn finish(&self, spec: &UploadSpec, session: &Session) -> Result<ObjectMeta> {
        self.validate_key(&spec.key)?;
        self.check_session(session)?;
        let spec = spec.clone();
        self.with_conn(move |lease| {
            Box::pin(async move {
                let part = part_path(lease, &spec.key);
                let path = key_path(lease, &spec.key);
                match size(lease, &part, "finish").await? {
                    Some(n) if n != spec.total => Err(Error::conflict(format!(
                        "the part file holds {n} bytes, but the upload is {} bytes",
                        spec.total
                    ))),
                    Some(n) => {
                        rename_path(lease, &part, &path, "finish").await?;
                        Ok(meta_of(lease, &spec.key, &path, n).await)
                    }
                    // Finished before (a retried finish): the object is in place.
                    None => match size(lease, &path, "finish").await? {
                        Some(n) if n == spec.total => Ok(meta_of(lease, &spec.key, &path, n).await),
                        _ => Err(expired(&spec.key)),
                    },
                }
            })
        })
        .await
    }

    /// Deletes the part file (a missing one is fine).
    async fn cancel(&self, spec: &UploadSpec, session: &Session) -> Result<()> {
        self.validate_key(&spec.key)?;
        self.check_session(session)?;
        let key = spec.key.clone();
        self.with_conn(move |lease| {
            Box::pin(async move {
                let part = part_path(lease, &key);
                if delete_path(lease, &part, "cancel").await? {
                    prune(lease, parent(&part)).await;
                }
                Ok(())
            })
        })
        .await
    }
}

// ---------------------------------------------------------------------- registration

fn store_from_url(url: &url::Url) -> Result<FtpAdapter> {
    let parsed = config::parse_url(url)?;
    let root = parsed.root_param.unwrap_or_else(|| parsed.path.join("/"));
    parsed.builder.root(root).build()
}

fn open_store(url: &url::Url) -> Result<Arc<dyn Adapter>> {
    Ok(Arc::new(store_from_url(url)?))
}

fn open_object(url: &url::Url) -> Result<(Arc<dyn Adapter>, String)> {
    let parsed = config::parse_url(url)?;
    let (root, rest) = match &parsed.root_param {
        Some(r) => {
            let root = Root::parse(r)?;
            if !parsed.path.starts_with(&root.segments) {
                return Err(Error::invalid_input(format!(
                    "the URL path is not under the root `{}`",
                    root.display()
                )));
            }
            (r.clone(), &parsed.path[root.segments.len()..])
        }
        None => (String::new(), &parsed.path[..]),
    };
    if rest.is_empty() {
        return Err(Error::invalid_input(
            "the URL names the root directory, not an object in it",
        ));
    }
    let key = rest.join("/");
    let adapter = parsed.builder.root(root).build()?;
    adapter.validate_key(&key)?;
    Ok((Arc::new(adapter), key))
}

/// The factory of the `ftp` scheme (plain FTP).
///
/// URL form: `ftp://[user[:password]@]host[:port]/path[?root=R&ca=PATH&connections=N&passive=auto|epsv|pasv]`.
/// The user and password come from the URL's userinfo (percent-encoded), else from
/// `FILES_FTP_USER` / `FILES_FTP_PASSWORD`, else the login is anonymous. The path is relative to
/// the login directory (as in RFC 1738 and curl).
///
/// * As a **store** URL, the path is the root directory (`ftp://host/backups`); `?root=` overrides
///   it (and may be absolute: `?root=/srv/files`).
/// * As an **object** URL, `?root=R` names the store's root and the path must start with it:
///   `ftp://host/backups/db/x.tar?root=backups` is the key `db/x.tar` in the store rooted at
///   `backups`. An absolute `root` makes the path absolute too
///   (`ftp://host/srv/files/a?root=/srv/files`). Without `root`, the root is the login directory
///   and the key is the whole path.
pub const FACTORY: files_core::AdapterFactory = files_core::AdapterFactory {
    scheme: "ftp",
    provider: "ftp",
    store: open_store,
    object: open_object,
};

/// The factory of the `ftps` scheme: explicit FTPS (`AUTH TLS`), otherwise like [`FACTORY`].
/// `?ca=PATH` trusts the CA certificates (PEM) in that file besides the system's roots.
pub const FACTORY_FTPS: files_core::AdapterFactory = files_core::AdapterFactory {
    scheme: "ftps",
    provider: "ftp",
    store: open_store,
    object: open_object,
};

files_core::inventory::submit!(FACTORY);
files_core::inventory::submit!(FACTORY_FTPS);

/// Registers this adapter's schemes explicitly (fallback for builds where the linker dropped
/// them).
pub fn register() {
    static F: files_core::AdapterFactory = FACTORY;
    static G: files_core::AdapterFactory = FACTORY_FTPS;
    files_core::registry::register(&F);
    files_core::registry::register(&G);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter() -> FtpAdapter {
        FtpAdapter::builder("127.0.0.1")
            .user("u")
            .password("pw-in-test")
            .build()
            .unwrap()
    }

    #[test]
    fn keys() {
        let a = adapter();
        for bad in [
            "a\r\nDELE x",
            "a\nb",
            "a\rb",
            "a\tb",
            "../x",
            "a/../b",
            "/abs",
            "dir/",
            "x.fls-part",
            "d/.fls-tmp-1",
            " lead",
            "trail /x",
        ] {
            assert_eq!(
                a.validate_key(bad).unwrap_err().kind(),
                ErrorKind::InvalidInput,
                "{bad:?}"
            );
        }
        for good in ["a", "a b/c d.txt", "ü/ñ", "a..b", "x.fls-parts"] {
            a.validate_key(good).unwrap();
        }
    }

    #[test]
    fn paths() {
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/r", "a/b"), "/r/a/b");
        assert_eq!(join("/r", ""), "/r");
        assert_eq!(parent("/r/a/b"), "/r/a");
        assert_eq!(parent("/a"), "/");
    }

    #[test]
    fn target_and_debug_hold_no_password() {
        let a = adapter();
        assert_eq!(a.target(), "ftp://u@127.0.0.1:21/");
        assert!(!format!("{a:?}").contains("pw-in-test"));
        let a = FtpAdapter::builder("::1").root("/srv").build().unwrap();
        assert_eq!(a.target(), "ftp://anonymous@[::1]:21//srv");
    }

    #[test]
    fn object_urls() {
        let u = url::Url::parse("ftp://u:p@h:2121/base/dir/k.bin?root=base").unwrap();
        let (a, key) = open_object(&u).unwrap();
        assert_eq!(key, "dir/k.bin");
        assert_eq!(a.target(), "ftp://u@h:2121/base");
        let u = url::Url::parse("ftp://u@h/dir/k.bin").unwrap();
        let (a, key) = open_object(&u).unwrap();
        assert_eq!(key, "dir/k.bin");
        assert_eq!(a.target(), "ftp://u@h:21/");
        let u = url::Url::parse("ftp://u@h/srv/x/k?root=/srv/x").unwrap();
        let (a, key) = open_object(&u).unwrap();
        assert_eq!(
            (a.target().as_str(), key.as_str()),
            ("ftp://u@h:21//srv/x", "k")
        );
        for bad in [
            "ftp://h/other/k?root=base",
            "ftp://h/base?root=base",
            "ftp://h/a/..%2F..%2Fx",
            "ftp://h/a%0D%0ADELE%20x",
        ] {
            assert!(
                open_object(&url::Url::parse(bad).unwrap()).is_err(),
                "{bad}"
            );
        }
        let a = store_from_url(&url::Url::parse("ftps://h/st/ore?ca=/nonexistent.pem").unwrap());
        assert_eq!(a.unwrap_err().kind(), ErrorKind::InvalidInput);
        let a = store_from_url(&url::Url::parse("ftp://h/st/ore").unwrap()).unwrap();
        assert_eq!(a.target(), "ftp://anonymous@h:21/st/ore");
    }
}
