//! The adapter: its connection pool and I/O watchdog, and the everyday operations (`put`,
//! `head`, `get`, `delete`, `list`, `rename`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use bytes::Bytes;
use files_core::part_file::temp_name;
use files_core::{
    Adapter, ByteRange, ByteStream, Capabilities, Error, ErrorKind, GetResponse, ListPage,
    ListRequest, ObjectMeta, PutOptions, Result, Resumability, Session, UploadFamily,
};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::commands::{
    Transfer, WRITE_CHUNK, delete_path, head_path, join, key_path, meta_of, open_write, parent,
    prune, rename_path, size,
};
use crate::config::{Config, FtpBuilder, Security};
use crate::errors::On550;
use crate::list;
use crate::pool::{Lease, Pool};

/// Largest chunk a download stream yields.
const READ_CHUNK: u64 = 256 * 1024;

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

    /// Whether FTPS is used.
    pub fn security(&self) -> Security {
        self.inner.config.security
    }

    pub(crate) async fn lease(&self) -> Result<Lease> {
        self.inner.pool.get().await
    }

    /// Runs `op` on a pooled connection; the connection goes back to the pool afterwards unless
    /// `op` marked it broken (or was cancelled).
    pub(crate) async fn with_conn<T>(
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

pub(crate) fn check_options(options: &PutOptions) -> Result<()> {
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
    fn target_and_debug_hold_no_password() {
        let a = adapter();
        assert_eq!(a.target(), "ftp://u@127.0.0.1:21/");
        assert!(!format!("{a:?}").contains("pw-in-test"));
        let a = FtpAdapter::builder("::1").root("/srv").build().unwrap();
        assert_eq!(a.target(), "ftp://anonymous@[::1]:21//srv");
    }
}
