//! Upload bodies: bytes, a file read by position, or a one-shot stream.
//!
//! Resuming an upload re-reads bytes the first run already sent (to check them against what the
//! provider holds) and reads the rest from where the provider stopped. Only a body that can be
//! read again at any position can do that: [`Body::from_bytes`] and [`Body::from_path`] /
//! [`Body::from_file`]. A [`Body::from_stream`] is consumed as it is sent, so it cannot be
//! replayed: it uploads with bounded memory but refuses `control` and `checkpoint`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};

use crate::error::{Error, ErrorKind, Result};

/// A stream of byte chunks, as downloads return and stream bodies take.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// What to upload.
pub struct Body {
    inner: Inner,
}

enum Inner {
    Bytes(Bytes),
    File {
        path: Option<PathBuf>,
        file: Arc<std::fs::File>,
        len: u64,
    },
    Stream {
        stream: Mutex<Option<ByteStream>>,
        len: Option<u64>,
    },
}

impl Body {
    /// A body held in memory.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        Body {
            inner: Inner::Bytes(bytes.into()),
        }
    }

    /// Opens the file at `path`; its length is taken now, and parts are read by position when
    /// they are sent. If the file changes length or content while an upload runs, the upload
    /// fails with [`ErrorKind::BodyChanged`] where that can be seen (see the resumable-uploads
    /// guide for exactly what is detected).
    pub async fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let p2 = path.clone();
        let file = tokio::task::spawn_blocking(move || std::fs::File::open(&p2))
            .await
            .map_err(|e| Error::new(ErrorKind::Other, format!("open task failed: {e}")))?
            .map_err(|e| {
                Error::from_io(e)
                    .with_key(path.display().to_string())
                    .with_operation("open body")
            })?;
        let mut body = Self::from_file(file)?;
        if let Inner::File { path: p, .. } = &mut body.inner {
            *p = Some(path);
        }
        Ok(body)
    }

    /// Uses an open file; its current length is the body's length.
    pub fn from_file(file: std::fs::File) -> Result<Self> {
        let meta = file.metadata().map_err(Error::from_io)?;
        if !meta.is_file() {
            return Err(Error::invalid_input("the body path is not a regular file"));
        }
        Ok(Body {
            inner: Inner::File {
                path: None,
                file: Arc::new(file),
                len: meta.len(),
            },
        })
    }

    /// A one-shot stream of chunks. `len` is its exact length if known (some providers need it
    /// up front). It cannot be re-read, so uploads with `control` or `checkpoint` refuse it.
    pub fn from_stream(stream: ByteStream, len: Option<u64>) -> Self {
        Body {
            inner: Inner::Stream {
                stream: Mutex::new(Some(stream)),
                len,
            },
        }
    }

    /// The body's length, when known.
    pub fn len(&self) -> Option<u64> {
        match &self.inner {
            Inner::Bytes(b) => Some(b.len() as u64),
            Inner::File { len, .. } => Some(*len),
            Inner::Stream { len, .. } => *len,
        }
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// Whether any byte range can be read again (bytes and files can; streams cannot).
    pub fn is_replayable(&self) -> bool {
        !matches!(self.inner, Inner::Stream { .. })
    }

    /// Reads `len` bytes at `offset` of a replayable body. A file that became shorter gives
    /// [`ErrorKind::BodyChanged`]. Runs file I/O on the blocking pool; dropping the future
    /// abandons the read.
    pub async fn read_range(&self, offset: u64, len: u64) -> Result<Bytes> {
        self.positional()?.read_range(offset, len).await
    }

    /// [`Body::read_range`] with the CRC32C of the bytes (see `Replay::read_range_crc`).
    pub(crate) async fn read_range_crc(&self, offset: u64, len: u64) -> Result<(Bytes, u32)> {
        self.positional()?.read_range_crc(offset, len).await
    }

    /// [`Body::replay`], or the error of reading a stream by position.
    fn positional(&self) -> Result<Replay> {
        self.replay()
            .ok_or_else(|| Error::invalid_input("a stream body cannot be read by position"))
    }

    /// A cheap handle that reads this body by position from other tasks (`None` for streams).
    pub(crate) fn replay(&self) -> Option<Replay> {
        match &self.inner {
            Inner::Bytes(b) => Some(Replay::Bytes(b.clone())),
            Inner::File { file, len, .. } => Some(Replay::File(
                file.clone(),
                *len,
                Arc::new(BufferPool::default()),
            )),
            Inner::Stream { .. } => None,
        }
    }

    /// Takes the body as a stream of chunks of at most `chunk` bytes (bytes and files are
    /// sliced; a stream is handed over as it is, once).
    pub fn into_stream(self, chunk: usize) -> Result<ByteStream> {
        let chunk = chunk.max(1) as u64;
        match self.inner {
            Inner::Stream { stream, .. } => stream
                .lock()
                .expect("body stream lock")
                .take()
                .ok_or_else(|| Error::invalid_input("the stream body was already consumed")),
            inner => {
                let body = Arc::new(Body { inner });
                let total = body.len().unwrap_or(0);
                let offsets = (0..total.div_ceil(chunk)).map(move |i| i * chunk);
                Ok(futures::stream::iter(offsets)
                    .then(move |off| {
                        let body = body.clone();
                        async move { body.read_range(off, chunk.min(total - off)).await }
                    })
                    .boxed())
            }
        }
    }

    /// Takes a one-shot stream out of the body, if it is one (used by the one-shot path).
    pub(crate) fn take_stream(&self) -> Option<ByteStream> {
        match &self.inner {
            Inner::Stream { stream, .. } => stream.lock().expect("body stream lock").take(),
            _ => None,
        }
    }
}

/// A cloneable reader of a replayable body, so parts can be read inside their own tasks.
///
/// A file replay reads into buffers from its own [`BufferPool`]: the clones one upload hands to
/// its part tasks share it, so the upload reuses a handful of part-sized buffers instead of
/// allocating (and freeing) one per part.
#[derive(Clone)]
pub(crate) enum Replay {
    Bytes(Bytes),
    File(Arc<std::fs::File>, u64, Arc<BufferPool>),
}

/// Part buffers of one upload, returned here when the last [`Bytes`] viewing them is dropped
/// (after the adapter sent the part) and handed out again for the next part.
///
/// Why: an upload allocates a part-sized buffer per part on whichever runtime thread reads it,
/// and frees it on whichever thread the HTTP client drops it. Under glibc, buffers of that size
/// churned through per-thread malloc arenas stay resident long after they are freed (measured:
/// a 1 GiB S3 upload with 8 MiB x 4 parts peaked at 85 MiB RSS, 45 MiB with
/// `MALLOC_ARENA_MAX=1`). Reusing buffers keeps the peak at what is really in flight. The pool
/// keeps at most [`BufferPool::KEEP`] idle buffers and is freed with the upload.
#[derive(Default)]
pub(crate) struct BufferPool {
    idle: Mutex<Vec<Vec<u8>>>,
}

impl BufferPool {
    /// The most idle buffers kept (more than any upload has in flight at once by default).
    const KEEP: usize = 16;

    /// A buffer of exactly `len` bytes (contents unspecified: the caller overwrites them).
    fn take(&self, len: usize) -> Vec<u8> {
        let reused = {
            let mut idle = self.idle.lock().expect("buffer pool lock");
            idle.iter()
                .position(|b| b.capacity() >= len)
                .map(|i| idle.swap_remove(i))
        };
        match reused {
            Some(mut buf) => {
                // Shrinking keeps the old contents (no fill); growing within the capacity
                // zero-fills only the difference.
                buf.resize(len, 0);
                buf
            }
            None => vec![0u8; len],
        }
    }

    fn give_back(&self, buf: Vec<u8>) {
        let mut idle = self.idle.lock().expect("buffer pool lock");
        if idle.len() < Self::KEEP {
            idle.push(buf);
        }
    }
}

/// A pooled buffer viewed by [`Bytes`]; goes back to its pool when the last view is dropped.
struct Pooled {
    buf: Vec<u8>,
    pool: Arc<BufferPool>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

impl Replay {
    fn len(&self) -> u64 {
        match self {
            Replay::Bytes(b) => b.len() as u64,
            Replay::File(_, len, _) => *len,
        }
    }

    /// Reads `len` bytes at `offset`; see [`Body::read_range`].
    pub(crate) async fn read_range(&self, offset: u64, len: u64) -> Result<Bytes> {
        Ok(self.read(offset, len, false).await?.0)
    }

    /// Reads like [`Replay::read_range`] and gives the CRC32C of the bytes too. From a file,
    /// the checksum is taken on the blocking thread that reads, one chunk at a time right after
    /// the chunk lands, while it is still in the CPU's cache: one pass over memory instead of
    /// two, and no part-sized hashing on a runtime worker thread.
    pub(crate) async fn read_range_crc(&self, offset: u64, len: u64) -> Result<(Bytes, u32)> {
        let (data, crc) = self.read(offset, len, true).await?;
        Ok((data, crc.expect("asked for")))
    }

    async fn read(&self, offset: u64, len: u64, crc: bool) -> Result<(Bytes, Option<u32>)> {
        let total = self.len();
        if offset.checked_add(len).is_none_or(|end| end > total) {
            return Err(Error::invalid_input(format!(
                "range {offset}+{len} is outside the body of {total} bytes"
            )));
        }
        match self {
            Replay::Bytes(b) => {
                let data = b.slice(offset as usize..(offset + len) as usize);
                let crc = crc.then(|| crc32c::crc32c(&data));
                Ok((data, crc))
            }
            Replay::File(file, _, pool) => {
                let file = file.clone();
                // The buffer is taken here, on the caller's (runtime worker) thread, not on a
                // blocking-pool thread: glibc gives every thread that allocates its own arena
                // (see `BufferPool`).
                let buf = pool.take(len as usize);
                let (buf, crc) = tokio::task::spawn_blocking(move || {
                    let mut sum = crc.then_some(0u32);
                    let buf = read_at(&file, offset, buf, |chunk| {
                        if let Some(sum) = &mut sum {
                            *sum = crc32c::crc32c_append(*sum, chunk);
                        }
                    })?;
                    Ok::<_, Error>((buf, sum))
                })
                .await
                .map_err(|e| Error::new(ErrorKind::Other, format!("read task failed: {e}")))??;
                let data = Bytes::from_owner(Pooled {
                    buf,
                    pool: pool.clone(),
                });
                Ok((data, crc))
            }
        }
    }
}

/// How much a file body's read asks for at once: small enough that the chunk is still in the
/// CPU's cache when `on_read` (the CRC32C) goes over it.
const READ_CHUNK: usize = 256 * 1024;

/// Fills `buf` from `file` at `offset`, `READ_CHUNK` bytes at a time, handing each chunk to
/// `on_read` as it lands. A file that ends early is [`ErrorKind::BodyChanged`].
fn read_at(
    file: &std::fs::File,
    offset: u64,
    mut buf: Vec<u8>,
    mut on_read: impl FnMut(&[u8]),
) -> Result<Vec<u8>> {
    let len = buf.len();
    let mut done = 0;
    while done < len {
        let end = len.min(done + READ_CHUNK);
        match read_once(file, &mut buf[done..end], offset + done as u64) {
            Ok(0) => {
                return Err(Error::body_changed(format!(
                    "the body file ended at {} bytes, shorter than when the upload started",
                    offset + done as u64
                )));
            }
            Ok(n) => {
                on_read(&buf[done..done + n]);
                done += n;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::from_io(e).with_operation("read body")),
        }
    }
    Ok(buf)
}

#[cfg(unix)]
fn read_once(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_once(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Bytes(b) => f
                .debug_struct("Body::Bytes")
                .field("len", &b.len())
                .finish(),
            Inner::File { path, len, .. } => f
                .debug_struct("Body::File")
                .field("path", path)
                .field("len", len)
                .finish(),
            Inner::Stream { len, .. } => f.debug_struct("Body::Stream").field("len", len).finish(),
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::from_bytes(b)
    }
}
impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Self {
        Body::from_bytes(b)
    }
}
impl From<&'static [u8]> for Body {
    fn from(b: &'static [u8]) -> Self {
        Body::from_bytes(b)
    }
}
impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::from_bytes(s.as_bytes())
    }
}
impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::from_bytes(s.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_ranges_and_shrink_detection() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b");
        std::fs::write(&p, b"0123456789").unwrap();
        let body = Body::from_path(&p).await.unwrap();
        assert_eq!(body.len(), Some(10));
        assert_eq!(&body.read_range(3, 4).await.unwrap()[..], b"3456");
        std::fs::write(&p, b"01234").unwrap();
        let err = body.read_range(3, 4).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BodyChanged);
        assert_eq!(
            body.read_range(8, 4).await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }

    #[tokio::test]
    async fn reads_with_crc_match_the_bytes_across_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b");
        // Three and a bit read chunks, so a range spans whole and partial chunks.
        let data: Vec<u8> = (0..3 * READ_CHUNK + 12_345)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        std::fs::write(&p, &data).unwrap();
        let file = Body::from_path(&p).await.unwrap().replay().unwrap();
        let bytes = Body::from_bytes(data.clone()).replay().unwrap();
        for (off, len) in [
            (0, data.len()),
            (7, READ_CHUNK),
            (READ_CHUNK - 1, 2 * READ_CHUNK + 9),
            (5, 0),
        ] {
            let want = &data[off..off + len];
            for replay in [&file, &bytes] {
                let (got, crc) = replay.read_range_crc(off as u64, len as u64).await.unwrap();
                assert_eq!(&got[..], want, "range {off}+{len}");
                assert_eq!(crc, crc32c::crc32c(want), "range {off}+{len}");
            }
        }
        // A file cut short mid-range is a changed body, with or without the checksum.
        std::fs::write(&p, &data[..READ_CHUNK + 10]).unwrap();
        let err = file
            .read_range_crc(0, 2 * READ_CHUNK as u64)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BodyChanged);
    }

    #[tokio::test]
    async fn file_part_buffers_are_reused_and_never_mixed_up() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b");
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let body = Body::from_path(&p).await.unwrap();
        let replay = body.replay().unwrap();
        let Replay::File(_, _, pool) = &replay else {
            panic!("a file body replays from its file")
        };
        // Two parts alive at once use two buffers; both read right.
        let a = replay.read_range(0, 4096).await.unwrap();
        let b = replay.read_range(4096, 4096).await.unwrap();
        assert_eq!(&a[..], &data[..4096]);
        assert_eq!(&b[..], &data[4096..8192]);
        assert!(pool.idle.lock().unwrap().is_empty());
        // A part sent and dropped gives its buffer back; a clone keeps it out until it drops.
        let b2 = b.clone();
        drop(a);
        drop(b);
        assert_eq!(pool.idle.lock().unwrap().len(), 1);
        drop(b2);
        assert_eq!(pool.idle.lock().unwrap().len(), 2);
        // The next parts reuse them (the shorter last part too) and read their own bytes.
        let c = replay.read_range(8192, 1808).await.unwrap();
        let d = replay.read_range(0, 4096).await.unwrap();
        assert_eq!(&c[..], &data[8192..]);
        assert_eq!(&d[..], &data[..4096]);
        assert!(pool.idle.lock().unwrap().is_empty());
        drop((c, d));
        assert_eq!(pool.idle.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn bytes_stream_chunks() {
        let body = Body::from("hello world");
        let chunks: Vec<_> = body.into_stream(4).unwrap().collect().await;
        let joined: Vec<u8> = chunks
            .into_iter()
            .flat_map(|c| c.unwrap().to_vec())
            .collect();
        assert_eq!(joined, b"hello world");
    }
}
