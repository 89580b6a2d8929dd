//! [`Files`]: the client every operation starts from.

use std::future::{Future, IntoFuture};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::adapter::{
    Adapter, ByteRange, Capabilities, GetResponse, ListPage, ListRequest, ObjectMeta,
    PresignMethod, PutOptions, UploadFamily, UploadSpec,
};
use crate::body::{Body, ByteStream};
use crate::control::UploadControl;
use crate::download;
use crate::error::{Error, ErrorKind, Result};
use crate::retry::{RetryPolicy, within};
use crate::save::Save;
#[cfg(doc)]
use crate::save::Saved;
use crate::scheduler::{self, Job, Progress, ProgressFn, UploadOutcome};
use crate::token::ResumeToken;

/// One client over one store. Cheap to clone (an `Arc` inside).
///
/// ```
/// # async fn demo(files: files_core::Files) -> files_core::Result<()> {
/// use files_core::{Body, UploadControl};
/// let control = UploadControl::new();
/// let done = files
///     .upload("backups/db.tar", Body::from_bytes(vec![0u8; 1024]))
///     .part_size(16 * 1024 * 1024)
///     .concurrency(8)
///     .control(control.clone())
///     .on_progress(|p| eprintln!("{} / {:?}", p.loaded, p.total))
///     .await?;
/// assert_eq!(done.meta.size, 1024);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Files {
    adapter: Arc<dyn Adapter>,
    retry: RetryPolicy,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Files")
            .field("adapter", &self.adapter)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Files {
    /// A client over `adapter`.
    pub fn new(adapter: impl Adapter) -> Self {
        Self::from_arc(Arc::new(adapter))
    }

    /// A client over a shared adapter.
    pub fn from_arc(adapter: Arc<dyn Adapter>) -> Self {
        Files {
            adapter,
            retry: RetryPolicy::default(),
            timeout: None,
        }
    }

    /// A client for the store a URL names (`file:///srv/store`, `memory://name`, `s3://bucket`
    /// ...), built by the adapter registered for its scheme.
    pub fn from_url(url: &str) -> Result<Self> {
        crate::registry::open_store(url)
    }

    /// The default retry policy of this client's calls.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The default per-request timeout of this client's calls (none by default). On a
    /// download it also bounds each wait for the next piece of the body: a body silent for
    /// longer is treated as broken off, and resumed.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The adapter underneath.
    pub fn adapter(&self) -> &Arc<dyn Adapter> {
        &self.adapter
    }

    /// What the adapter can do.
    pub fn capabilities(&self) -> Capabilities {
        self.adapter.capabilities()
    }

    fn ctx(&self, op: &'static str, key: &str) -> impl Fn(Error) -> Error + '_ {
        let key = key.to_string();
        move |e| {
            e.with_operation(op)
                .with_provider(self.adapter.provider())
                .with_key(key.clone())
        }
    }

    async fn retried<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.retry.run(self.timeout, op).await.map(|(v, _)| v)
    }

    /// One `get` of `key` (retried), whose body, on a provider that reads ranges, resumes
    /// from the first byte not yet yielded when it breaks off ([`download::resuming`]).
    /// Errors carry `op` as their operation.
    async fn get_resuming(
        &self,
        op: &'static str,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<GetResponse> {
        let resp = self
            .retried(|_| self.adapter.get(key, range))
            .await
            .map_err(self.ctx(op, key))?;
        if !self.capabilities().range_read {
            return Ok(resp);
        }
        let (provider, owned_key) = (self.adapter.provider(), key.to_string());
        let resumer = download::Resumer {
            adapter: self.adapter.clone(),
            key: owned_key.clone(),
            retry: self.retry,
            timeout: self.timeout,
            ctx: Box::new(move |e: Error| {
                e.with_operation(op)
                    .with_provider(provider)
                    .with_key(owned_key.clone())
            }),
        };
        Ok(download::resuming(resp, resumer))
    }

    /// Starts an upload of `body` to `key`; configure it, then `.await` it.
    pub fn upload(&self, key: impl Into<String>, body: impl Into<Body>) -> UploadBuilder {
        UploadBuilder {
            files: self.clone(),
            job: Job {
                adapter: self.adapter.clone(),
                key: key.into(),
                body: body.into(),
                options: PutOptions::default(),
                part_size: None,
                concurrency: 4,
                control: None,
                checkpoint: None,
                on_progress: None,
                retry: self.retry,
                timeout: self.timeout,
                cancel: CancellationToken::new(),
                rate_limit: None,
            },
        }
    }

    /// The object's metadata.
    pub async fn head(&self, key: &str) -> Result<ObjectMeta> {
        self.adapter
            .validate_key(key)
            .map_err(self.ctx("head", key))?;
        self.retried(|_| self.adapter.head(key))
            .await
            .map_err(self.ctx("head", key))
    }

    /// Whether the object exists: `false` only on not-found; any other failure is an error.
    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.head(key).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.with_operation("exists")),
        }
    }

    /// Starts a download; add `.range(..)` for part of the object, then `.await` it.
    ///
    /// A single-stream download survives its body breaking off: on a provider that reads
    /// ranges, a retryable failure mid-body (a reset connection, a body shorter than announced,
    /// a body silent for longer than the [timeout](Files::with_timeout)) asks for the rest,
    /// from the first byte not yet yielded, under the retry policy (breaks without progress in
    /// between share one budget). It resumes only while the object is provably the same
    /// version (same ETag, else same size and modification time); a new version fails the
    /// stream with [`ErrorKind::Conflict`], and nothing to compare fails it with the break
    /// itself, so versions are never spliced.
    pub fn download(&self, key: impl Into<String>) -> DownloadBuilder {
        DownloadBuilder {
            files: self.clone(),
            key: key.into(),
            range: None,
            concurrency: 1,
            chunk_size: DEFAULT_DOWNLOAD_CHUNK,
        }
    }

    /// Deletes the object; deleting an absent key succeeds.
    pub async fn delete(&self, key: &str) -> Result<()> {
        self.adapter
            .validate_key(key)
            .map_err(self.ctx("delete", key))?;
        self.retried(|_| self.adapter.delete(key))
            .await
            .map_err(self.ctx("delete", key))
    }

    /// Copies `from` to `to`: server-side where the adapter can
    /// ([`Capabilities::server_side_copy`]), otherwise by streaming the object through the
    /// client with bounded memory.
    pub async fn copy(&self, from: &str, to: &str) -> Result<ObjectMeta> {
        self.adapter
            .validate_key(from)
            .map_err(self.ctx("copy", from))?;
        self.adapter
            .validate_key(to)
            .map_err(self.ctx("copy", to))?;
        if self.capabilities().server_side_copy {
            return self
                .retried(|_| self.adapter.copy(from, to))
                .await
                .map_err(self.ctx("copy", from));
        }
        let got = self.get_resuming("copy", from, None).await?;
        let len = got.range.end - got.range.start;
        let mut options = PutOptions::default();
        let caps = self.capabilities();
        if caps.content_type {
            options.content_type = got.meta.content_type.clone();
        }
        if caps.metadata {
            options.metadata = got.meta.metadata.clone();
        }
        if caps.cache_control {
            options.cache_control = got.meta.cache_control.clone();
        }
        self.upload(to, Body::from_stream(got.stream, Some(len)))
            .options(options)
            .await
            .map(|o| o.meta)
            .map_err(self.ctx("copy", to))
    }

    /// Moves `from` to `to`: a native rename where the adapter has one
    /// ([`Capabilities::native_rename`]), otherwise copy then delete.
    ///
    /// A native rename is retried like any request, and, like an upload's complete, never
    /// trusted blindly after an ambiguous failure: a rename that failed with a retryable error
    /// may have been applied with only its answer lost, and then its retry finds no source. So
    /// when a retry answers [`ErrorKind::NotFound`] after such a failure, the source and the
    /// destination are looked at (`head`): the source gone and the destination there (with the
    /// source's size, when it was seen before the retry) means the rename landed, and it
    /// succeeds; anything else is the not-found it is.
    pub async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.adapter
            .validate_key(from)
            .map_err(self.ctx("rename", from))?;
        self.adapter
            .validate_key(to)
            .map_err(self.ctx("rename", to))?;
        if self.capabilities().native_rename {
            return self
                .native_rename(from, to)
                .await
                .map_err(self.ctx("rename", from));
        }
        self.copy(from, to).await?;
        self.delete(from).await
    }

    /// [`Files::rename`] with the adapter's native rename, retried, with the ambiguity of a
    /// lost answer resolved by looking at both keys.
    async fn native_rename(&self, from: &str, to: &str) -> Result<()> {
        // Set once an attempt failed in a way that may have applied the rename; then the
        // source's size, if it is still there before the next attempt.
        let ambiguous = std::sync::atomic::AtomicBool::new(false);
        let source_size = std::sync::Mutex::new(None::<u64>);
        // Each request is bounded by the timeout here rather than the attempt as a whole, so
        // that a rename cut by the timeout (the classic lost answer) counts as ambiguous too.
        let timeout = self.timeout;
        let attempts = self.retry.run(None, |_| {
            let (ambiguous, source_size) = (&ambiguous, &source_size);
            async move {
                use std::sync::atomic::Ordering;
                if ambiguous.load(Ordering::SeqCst) {
                    // Before trying again: is the source (still) there, and how big is it?
                    if let Ok(meta) = within(timeout, self.adapter.head(from)).await {
                        *source_size.lock().expect("rename lock") = Some(meta.size);
                    }
                }
                match within(timeout, self.adapter.rename(from, to)).await {
                    Ok(()) => Ok(()),
                    Err(e)
                        if e.kind() == ErrorKind::NotFound && ambiguous.load(Ordering::SeqCst) =>
                    {
                        let size = *source_size.lock().expect("rename lock");
                        if self.rename_landed(from, to, size).await {
                            tracing::debug!(
                                from,
                                to,
                                "a rename whose answer was lost had landed; not reporting not_found"
                            );
                            Ok(())
                        } else {
                            Err(e)
                        }
                    }
                    Err(e) => {
                        if e.is_retryable() {
                            ambiguous.store(true, Ordering::SeqCst);
                        }
                        Err(e)
                    }
                }
            }
        });
        attempts.await.map(|((), _)| ())
    }

    /// Whether a rename of `from` (of `size` bytes, if known) to `to` provably landed: the
    /// source is gone and the destination is there, with that size.
    async fn rename_landed(&self, from: &str, to: &str, size: Option<u64>) -> bool {
        let source_gone = matches!(
            within(self.timeout, self.adapter.head(from)).await,
            Err(e) if e.kind() == ErrorKind::NotFound
        );
        if !source_gone {
            return false;
        }
        match within(self.timeout, self.adapter.head(to)).await {
            Ok(meta) => size.is_none_or(|s| s == meta.size),
            Err(_) => false,
        }
    }

    /// One page of a listing.
    pub async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        if request.delimiter.is_some() && !self.capabilities().list_delimiter {
            return Err(
                Error::not_supported("listing with a delimiter is not supported")
                    .with_operation("list")
                    .with_provider(self.adapter.provider()),
            );
        }
        self.retried(|_| self.adapter.list(request))
            .await
            .map_err(self.ctx("list", &request.prefix))
    }

    /// Every object under `prefix`, across all pages, as a stream.
    pub fn list_all(&self, prefix: impl Into<String>) -> BoxStream<'static, Result<ObjectMeta>> {
        let files = self.clone();
        let first = ListRequest {
            prefix: prefix.into(),
            ..ListRequest::default()
        };
        stream::try_unfold(Some(first), move |req| {
            let files = files.clone();
            async move {
                let Some(req) = req else {
                    return Ok::<_, Error>(None);
                };
                let page = files.list(&req).await?;
                let next = page.cursor.clone().map(|c| ListRequest {
                    cursor: Some(c),
                    ..req.clone()
                });
                Ok(Some((stream::iter(page.objects.into_iter().map(Ok)), next)))
            }
        })
        .try_flatten()
        .boxed()
    }

    /// A presigned download URL valid for `expires`.
    pub async fn presign_get(&self, key: &str, expires: Duration) -> Result<String> {
        self.presign(key, PresignMethod::Get, expires).await
    }

    /// A presigned upload URL (signed upload URL) valid for `expires`.
    pub async fn presign_put(&self, key: &str, expires: Duration) -> Result<String> {
        self.presign(key, PresignMethod::Put, expires).await
    }

    async fn presign(&self, key: &str, method: PresignMethod, expires: Duration) -> Result<String> {
        let caps = self.capabilities();
        let ok = match method {
            PresignMethod::Get => caps.presign_get,
            PresignMethod::Put => caps.presign_put,
        };
        if !ok {
            return Err(Error::not_supported(format!(
                "provider `{}` cannot presign {} URLs",
                self.adapter.provider(),
                if method == PresignMethod::Get {
                    "download"
                } else {
                    "upload"
                }
            ))
            .with_operation("presign")
            .with_key(key));
        }
        self.adapter
            .validate_key(key)
            .map_err(self.ctx("presign", key))?;
        self.adapter
            .presign(key, method, expires)
            .await
            .map_err(self.ctx("presign", key))
    }

    /// A stable public URL of the object, where the provider has one.
    pub fn url(&self, key: &str) -> Result<String> {
        if !self.capabilities().public_url {
            return Err(Error::not_supported(format!(
                "provider `{}` has no public URLs",
                self.adapter.provider()
            ))
            .with_operation("url")
            .with_key(key));
        }
        self.adapter
            .validate_key(key)
            .map_err(self.ctx("url", key))?;
        self.adapter.public_url(key).map_err(self.ctx("url", key))
    }

    /// Discards the provider session a token names (what `files abort --checkpoint` does).
    /// The token must belong to this client's provider and store.
    pub async fn abort_upload(&self, token: &ResumeToken) -> Result<()> {
        token.check_self()?;
        let a = &self.adapter;
        let ctx = self.ctx("abort", &token.key);
        if token.provider != a.provider() || token.target != a.target() {
            return Err(ctx(Error::token_invalid(format!(
                "the token belongs to `{}` at `{}`, not this client's `{}` at `{}`",
                token.provider,
                token.target,
                a.provider(),
                a.target()
            ))));
        }
        a.validate_key(&token.key).map_err(&ctx)?;
        a.check_session(&token.session)
            .map_err(|e| ctx(Error::token_invalid(e.message().to_string())))?;
        if let Some(p) = &token.process
            && p != crate::token::process_instance_id()
        {
            return Err(ctx(Error::not_supported(
                "this token's session lives in another process (not supported across processes)",
            )));
        }
        let spec = UploadSpec {
            key: token.key.clone(),
            total: token.total,
            part_size: token.part_size,
            options: PutOptions::default(),
        };
        match a.upload_family() {
            UploadFamily::Parts(p) => self.retried(|_| p.abort(&spec, &token.session)).await,
            UploadFamily::Offset(o) => self.retried(|_| o.cancel(&spec, &token.session)).await,
            UploadFamily::OneShot => {
                Err(Error::not_supported("this provider has no upload sessions"))
            }
        }
        .map_err(ctx)
    }
}

/// A configured upload; `.await` it (or call [`UploadBuilder::send`]).
#[must_use = "an upload does nothing until it is awaited"]
pub struct UploadBuilder {
    files: Files,
    job: Job,
}

impl UploadBuilder {
    /// Part (or chunk) size. Checked against the provider's rules before anything is sent;
    /// by default the provider's default, grown so the body fits its part-count limit. On
    /// resume the token's part size is used.
    pub fn part_size(mut self, bytes: u64) -> Self {
        self.job.part_size = Some(bytes);
        self
    }
    /// Parts in flight at once (default 4). Memory stays within part size x concurrency.
    /// Offset-family providers send one chunk at a time.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.job.concurrency = n;
        self
    }
    /// Drive this upload with `control` (pause, resume, abort, token). Needs a re-readable body.
    pub fn control(mut self, control: UploadControl) -> Self {
        self.job.control = Some(control);
        self
    }
    /// Persists the resume token to `path` after every confirmed part (atomically) and removes
    /// it on success; if a checkpoint already exists there, the upload resumes from it.
    pub fn checkpoint(mut self, path: impl Into<PathBuf>) -> Self {
        self.job.checkpoint = Some(path.into());
        self
    }
    /// Called after every confirmed part, with the current token. It runs on the upload's
    /// task: keep it short. (A callback that calls `control.pause()` on a condition that stays
    /// true, such as `loaded >= x`, pauses again after every resume.)
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.job.on_progress = Some(Arc::new(f) as ProgressFn);
        self
    }
    /// MIME type to store.
    pub fn content_type(mut self, value: impl Into<String>) -> Self {
        self.job.options.content_type = Some(value.into());
        self
    }
    /// Cache-Control to store.
    pub fn cache_control(mut self, value: impl Into<String>) -> Self {
        self.job.options.cache_control = Some(value.into());
        self
    }
    /// One user metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.job.options.metadata.insert(key.into(), value.into());
        self
    }
    /// All object options at once.
    pub fn options(mut self, options: PutOptions) -> Self {
        self.job.options = options;
        self
    }
    /// Retry policy for each request of this upload.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.job.retry = retry;
        self
    }
    /// Timeout of each provider request (a stalled part is cut and retried).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.job.timeout = Some(timeout);
        self
    }
    /// Cancelling `token` ends the call with [`ErrorKind::Cancelled`] and keeps the provider
    /// session (resume it later with the token).
    pub fn cancellation(mut self, token: CancellationToken) -> Self {
        self.job.cancel = token;
        self
    }
    /// Caps the average send rate, in bytes per second. A body sent in one request, and a
    /// stream body, is paced as it is read (in pieces of at most 64 KiB, each waiting its turn);
    /// the parts (or chunks) of a resumable upload each wait their turn before they are sent.
    pub fn rate_limit(mut self, bytes_per_sec: u64) -> Self {
        self.job.rate_limit = Some(bytes_per_sec.max(1));
        self
    }
    /// Runs the upload.
    pub async fn send(self) -> Result<UploadOutcome> {
        let _files = self.files;
        scheduler::run(self.job).await
    }
}

impl IntoFuture for UploadBuilder {
    type Output = Result<UploadOutcome>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// A configured download; `.await` it.
#[must_use = "a download does nothing until it is awaited"]
pub struct DownloadBuilder {
    pub(crate) files: Files,
    pub(crate) key: String,
    pub(crate) range: Option<ByteRange>,
    pub(crate) concurrency: usize,
    pub(crate) chunk_size: u64,
}

/// The default range size of a parallel download ([`DownloadBuilder::concurrency`]): 8 MiB.
pub const DEFAULT_DOWNLOAD_CHUNK: u64 = 8 << 20;

impl DownloadBuilder {
    /// Only these bytes (`10..20`, `10..`, `10..=19`).
    pub fn range(mut self, range: impl Into<ByteRange>) -> Self {
        self.range = Some(range.into());
        self
    }

    /// Reads the object as ranges of [`chunk_size`](Self::chunk_size) bytes, `n` requests
    /// at a time (default 1: one request). The stream still yields the bytes in order; at
    /// most `n` ranges are held in memory. Each range is its own request, retried on its own
    /// under the client's retry policy (a range whose body breaks off is read again); the
    /// per-request timeout bounds each request and each wait for its body, not the whole
    /// range. The object's size and ETag are read first (a HEAD); a range served from another
    /// version (another ETag) fails the stream with [`ErrorKind::Conflict`] rather than mixing
    /// versions. An object no larger than one range, or a provider that cannot read ranges,
    /// is read in one request as without this option.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The range size of a parallel download (default [`DEFAULT_DOWNLOAD_CHUNK`]; at least 1).
    pub fn chunk_size(mut self, bytes: u64) -> Self {
        self.chunk_size = bytes.max(1);
        self
    }

    /// Downloads into the file at `path` in a way that survives interruption, across
    /// processes: the bytes go to a partial file beside it ([`Save::partial_path`]) with a
    /// record of the object's version, and the partial file is renamed to `path` once whole.
    /// If an earlier save of the same download was cut short (cancelled, killed, a reboot, an
    /// error the retry policy could not outlast), this one continues it with a range request,
    /// provided the object is the same version ([`ObjectMeta::same_version`]); otherwise it
    /// starts over and says why ([`Saved::discarded`]).
    ///
    /// ```no_run
    /// # async fn demo(files: files_core::Files) -> files_core::Result<()> {
    /// let saved = files.download("isos/big.iso").concurrency(4).save("big.iso").await?;
    /// println!("{} bytes, {} of them from an earlier run", saved.bytes, saved.bytes_resumed);
    /// # Ok(()) }
    /// ```
    pub fn save(self, path: impl Into<PathBuf>) -> Save {
        Save {
            download: self,
            path: path.into(),
            restart: false,
            cancel: CancellationToken::new(),
            rate_limit: None,
            on_progress: None,
        }
    }

    /// Starts the download.
    pub async fn send(self) -> Result<Download> {
        let files = &self.files;
        let key = self.key.as_str();
        files
            .adapter
            .validate_key(key)
            .map_err(files.ctx("download", key))?;
        if self.range.is_some() && !files.capabilities().range_read {
            return Err(files.ctx("download", key)(Error::not_supported(
                "this provider cannot read byte ranges",
            )));
        }
        if self.concurrency > 1 && files.capabilities().range_read {
            let meta = files
                .retried(|_| files.adapter.head(key))
                .await
                .map_err(files.ctx("download", key))?;
            let whole = self
                .range
                .unwrap_or(ByteRange {
                    start: 0,
                    end: None,
                })
                .resolve(meta.size)
                .map_err(files.ctx("download", key))?;
            if whole.end - whole.start > self.chunk_size {
                return Ok(self.ranged(meta, whole));
            }
        }
        Ok(Download {
            inner: files.get_resuming("download", key, self.range).await?,
        })
    }

    /// The parallel download of `whole` (more than one chunk) of the object `meta` describes.
    /// Each range is read by its own task, so the `n` requests in flight progress while the
    /// caller consumes earlier bytes; dropping the download aborts them.
    fn ranged(self, meta: ObjectMeta, whole: std::ops::Range<u64>) -> Download {
        let chunk = self.chunk_size;
        let count = (whole.end - whole.start).div_ceil(chunk);
        let starts = (0..count).map(move |i| whole.start + i * chunk);
        let (files, key, etag) = (self.files, Arc::<str>::from(self.key), meta.etag.clone());
        let end = whole.end;
        let stream = stream::iter(starts)
            .map(move |start| {
                let (files, key, etag) = (files.clone(), key.clone(), etag.clone());
                let range = start..(start + chunk).min(end);
                AbortOnDrop(tokio::spawn(async move {
                    fetch_range(&files, &key, range, etag.as_deref())
                        .await
                        .map_err(files.ctx("download", &key))
                }))
            })
            .buffered(self.concurrency)
            .map(|joined| {
                let pieces = joined.map_err(|e| {
                    Error::new(ErrorKind::Other, format!("a download task failed: {e}"))
                })??;
                Ok::<_, Error>(stream::iter(pieces.into_iter().map(Ok)))
            })
            .try_flatten();
        Download {
            inner: GetResponse {
                meta,
                range: whole,
                stream: Box::pin(stream),
            },
        }
    }
}

/// A spawned task that is aborted when its handle is dropped (a parallel download dropped
/// half-way stops its range requests).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = std::result::Result<T, tokio::task::JoinError>;
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// One range of a parallel download, read whole (retried as a unit, so a body that breaks off
/// is read again) and checked: its length, and its ETag against the download's. The
/// per-request timeout bounds the request and each wait for the body's next piece, not the
/// whole range (a slow link still reads large ranges).
async fn fetch_range(
    files: &Files,
    key: &str,
    range: std::ops::Range<u64>,
    etag: Option<&str>,
) -> Result<Vec<Bytes>> {
    let want = range.end - range.start;
    let timeout = files.timeout;
    files
        .retry
        .run(None, |_| {
            let range = range.clone();
            async move {
                let get = files.adapter.get(
                    key,
                    Some(ByteRange {
                        start: range.start,
                        end: Some(range.end),
                    }),
                );
                let resp = crate::retry::within(timeout, get).await?;
                if let (Some(ours), Some(theirs)) = (etag, resp.meta.etag.as_deref())
                    && ours != theirs
                {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        "the object changed during the download (a range came from another version: its ETag differs)",
                    ));
                }
                // Kept as the pieces the provider gave (no copy into one buffer).
                let mut pieces = Vec::new();
                let mut got = 0u64;
                let mut s = resp.stream;
                while let Some(piece) = download::next_within(timeout, &mut s).await {
                    let piece = piece?;
                    got += piece.len() as u64;
                    pieces.push(piece);
                }
                if got != want {
                    return Err(Error::transient(format!(
                        "a range of {want} bytes came back with {got} bytes"
                    )));
                }
                Ok(pieces)
            }
        })
        .await
        .map(|(pieces, _)| pieces)
}

impl IntoFuture for DownloadBuilder {
    type Output = Result<Download>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// A download: metadata, the range served, and a stream of bytes.
#[derive(Debug)]
pub struct Download {
    inner: GetResponse,
}

impl Download {
    /// The whole object's metadata.
    pub fn meta(&self) -> &ObjectMeta {
        &self.inner.meta
    }
    /// The byte range this download yields.
    pub fn range(&self) -> std::ops::Range<u64> {
        self.inner.range.clone()
    }
    /// The bytes as a stream.
    pub fn into_stream(self) -> ByteStream {
        self.inner.stream
    }
    /// Collects every byte in memory.
    pub async fn bytes(self) -> Result<Bytes> {
        let mut out = BytesMut::new();
        let mut s = self.inner.stream;
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out.freeze())
    }
    /// Writes the bytes to `path` (created or truncated); returns the byte count.
    pub async fn to_file(self, path: impl AsRef<std::path::Path>) -> Result<u64> {
        use tokio::io::AsyncWriteExt;
        let mut f = tokio::fs::File::create(path.as_ref()).await?;
        let mut n = 0u64;
        let mut s = self.inner.stream;
        while let Some(chunk) = s.next().await {
            let chunk = chunk?;
            f.write_all(&chunk).await?;
            n += chunk.len() as u64;
        }
        f.flush().await?;
        f.sync_all().await?;
        Ok(n)
    }
}

use futures::TryStreamExt as _;
