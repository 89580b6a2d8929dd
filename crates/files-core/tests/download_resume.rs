//! A single-stream download whose body breaks off is resumed from the first byte not yet
//! yielded, under the retry policy, and only while the object is the same version.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use files_core::*;
use futures::StreamExt;
use sha2::{Digest, Sha256};

/// What one `get` does.
#[derive(Debug, Clone)]
enum Act {
    /// Serves the whole requested range.
    Serve,
    /// Serves `n` bytes of it, then fails the body with `kind`.
    BreakAfter(usize, ErrorKind),
    /// Serves `n` bytes of it, then ends the body (shorter than announced).
    EndAfter(usize),
    /// The request itself fails with `kind`.
    Refuse(ErrorKind),
    /// Serves the range from another version (another ETag and modification time).
    NewVersion,
    /// Serves `n` bytes of it, then goes silent (never ends).
    StallAfter(usize),
    /// Serves all of it, each 1000-byte piece after a pause of this many milliseconds.
    Slowly(u64),
    /// Serves `n` bytes of it, then fails the body with a transient error that asks the client
    /// to wait this long before asking again (a `Retry-After`).
    Throttle(usize, Duration),
    /// The request itself is refused as throttled, with a `Retry-After` of this long.
    RefuseFor(Duration),
}

#[derive(Debug)]
struct Breaking {
    data: Bytes,
    etag: Option<String>,
    modified: Option<SystemTime>,
    range_read: bool,
    /// One act per `get`, in order; `Serve` once the script is spent.
    script: Mutex<VecDeque<Act>>,
    /// The range each `get` asked for.
    asked: Mutex<Vec<Option<Range<u64>>>>,
}

impl Breaking {
    fn new(data: Vec<u8>, script: impl IntoIterator<Item = Act>) -> Self {
        Breaking {
            data: Bytes::from(data),
            etag: Some("\"v1\"".into()),
            modified: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            range_read: true,
            script: Mutex::new(script.into_iter().collect()),
            asked: Mutex::new(Vec::new()),
        }
    }
    fn meta(&self, new_version: bool) -> ObjectMeta {
        let mut m = ObjectMeta::new("k", self.data.len() as u64);
        m.etag = self.etag.as_ref().map(|e| {
            if new_version {
                "\"v2\"".into()
            } else {
                e.clone()
            }
        });
        m.last_modified = self.modified.map(|t| {
            if new_version {
                t + Duration::from_secs(1)
            } else {
                t
            }
        });
        m
    }
}

/// A stream of `data` in 1000-byte pieces, ending with `tail` (an error) if given.
fn pieces(data: Bytes, tail: Option<Error>) -> ByteStream {
    let mut items: Vec<Result<Bytes>> = (0..data.len())
        .step_by(1000)
        .map(|i| Ok(data.slice(i..(i + 1000).min(data.len()))))
        .collect();
    items.extend(tail.map(Err));
    Box::pin(futures::stream::iter(items))
}

#[async_trait]
impl Adapter for Breaking {
    fn provider(&self) -> &'static str {
        "breaking"
    }
    fn target(&self) -> String {
        "breaking:1".into()
    }
    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::minimal();
        c.range_read = self.range_read;
        c
    }
    async fn put(
        &self,
        _key: &str,
        _body: ByteStream,
        _len: Option<u64>,
        _o: &PutOptions,
    ) -> Result<ObjectMeta> {
        Err(Error::not_supported("put"))
    }
    async fn head(&self, _key: &str) -> Result<ObjectMeta> {
        Ok(self.meta(false))
    }
    async fn get(&self, _key: &str, range: Option<ByteRange>) -> Result<GetResponse> {
        let act = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Act::Serve);
        let size = self.data.len() as u64;
        let r = match range {
            Some(r) => r.resolve(size)?,
            None => 0..size,
        };
        self.asked.lock().unwrap().push(range.map(|_| r.clone()));
        let body = self.data.slice(r.start as usize..r.end as usize);
        let (meta, stream) = match act {
            Act::Serve => (self.meta(false), pieces(body, None)),
            Act::BreakAfter(n, kind) => (
                self.meta(false),
                pieces(
                    body.slice(..n.min(body.len())),
                    Some(Error::new(kind, "connection reset mid-body")),
                ),
            ),
            Act::EndAfter(n) => (self.meta(false), pieces(body.slice(..n), None)),
            Act::Refuse(kind) => return Err(Error::new(kind, "refused")),
            Act::RefuseFor(wait) => {
                return Err(Error::transient("503 Slow Down").with_retry_after(wait));
            }
            Act::Throttle(n, wait) => (
                self.meta(false),
                pieces(
                    body.slice(..n.min(body.len())),
                    Some(Error::transient("throttled mid-body").with_retry_after(wait)),
                ),
            ),
            Act::NewVersion => (self.meta(true), pieces(body, None)),
            Act::Slowly(ms) => (
                self.meta(false),
                Box::pin(pieces(body, None).then(move |p| async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    p
                })) as ByteStream,
            ),
            Act::StallAfter(n) => (
                self.meta(false),
                Box::pin(pieces(body.slice(..n), None).chain(futures::stream::pending()))
                    as ByteStream,
            ),
        };
        Ok(GetResponse {
            meta,
            range: r,
            stream,
        })
    }
    async fn delete(&self, _key: &str) -> Result<()> {
        Ok(())
    }
    async fn list(&self, _r: &ListRequest) -> Result<ListPage> {
        Ok(ListPage::default())
    }
}

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n).map(|_| rng.u8(..)).collect()
}

fn sha(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

fn client(adapter: &std::sync::Arc<Breaking>, max_retries: u32) -> Files {
    Files::from_arc(adapter.clone()).with_retry(RetryPolicy {
        max_retries,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        deadline: Duration::from_secs(30),
    })
}

/// Drains a download: the bytes yielded, and the error that ended it, if any.
async fn drain(dl: Download) -> (Vec<u8>, Option<Error>) {
    let mut got = Vec::new();
    let mut s = dl.into_stream();
    while let Some(item) = s.next().await {
        match item {
            Ok(b) => got.extend_from_slice(&b),
            Err(e) => {
                assert!(s.next().await.is_none(), "nothing follows an error");
                return (got, Some(e));
            }
        }
    }
    (got, None)
}

fn asked(a: &Breaking) -> Vec<Option<Range<u64>>> {
    a.asked.lock().unwrap().clone()
}

#[tokio::test]
async fn a_body_that_breaks_off_is_resumed_from_the_current_offset() {
    let data = random_bytes(100_000, 1);
    let a = std::sync::Arc::new(Breaking::new(
        data.clone(),
        [
            Act::BreakAfter(30_000, ErrorKind::Transient),
            Act::BreakAfter(10_500, ErrorKind::Timeout),
        ],
    ));
    let (got, err) = drain(client(&a, 3).download("k").await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(sha(&got), sha(&data), "the bytes, end to end");
    assert_eq!(
        asked(&a),
        vec![None, Some(30_000..100_000), Some(40_500..100_000)]
    );
}

#[tokio::test]
async fn a_range_download_resumes_inside_its_range() {
    let data = random_bytes(60_000, 2);
    let a = std::sync::Arc::new(Breaking::new(
        data.clone(),
        [Act::BreakAfter(5_000, ErrorKind::Transient)],
    ));
    let dl = client(&a, 3)
        .download("k")
        .range(1_000..50_000)
        .await
        .unwrap();
    assert_eq!(dl.range(), 1_000..50_000);
    let (got, err) = drain(dl).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(sha(&got), sha(&data[1_000..50_000]));
    assert_eq!(asked(&a), vec![Some(1_000..50_000), Some(6_000..50_000)]);
}

#[tokio::test]
async fn a_body_that_ends_early_is_resumed_not_returned_short() {
    let data = random_bytes(20_000, 3);
    let a = std::sync::Arc::new(Breaking::new(data.clone(), [Act::EndAfter(7_000)]));
    let path = tempfile::tempdir().unwrap();
    let file = path.path().join("out");
    let n = client(&a, 3)
        .download("k")
        .await
        .unwrap()
        .to_file(&file)
        .await
        .unwrap();
    assert_eq!(n, 20_000);
    assert_eq!(sha(&std::fs::read(&file).unwrap()), sha(&data));
    assert_eq!(asked(&a), vec![None, Some(7_000..20_000)]);
}

#[tokio::test]
async fn a_short_body_fails_when_it_cannot_be_resumed() {
    let data = random_bytes(20_000, 4);
    let a = std::sync::Arc::new(Breaking::new(
        data.clone(),
        [Act::EndAfter(7_000), Act::Refuse(ErrorKind::NotFound)],
    ));
    let (got, err) = drain(client(&a, 3).download("k").await.unwrap()).await;
    assert_eq!(got, &data[..7_000]);
    let err = err.expect("a short body is an error, never a silent short download");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(err.context().operation, Some("download"));
}

#[tokio::test]
async fn a_new_version_mid_download_is_a_conflict_not_a_splice() {
    let data = random_bytes(50_000, 5);
    let a = std::sync::Arc::new(Breaking::new(
        data.clone(),
        [
            Act::BreakAfter(20_000, ErrorKind::Transient),
            Act::NewVersion,
        ],
    ));
    let (got, err) = drain(client(&a, 3).download("k").await.unwrap()).await;
    assert_eq!(got, &data[..20_000], "only the first version's bytes");
    let err = err.expect("conflict");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn without_an_etag_the_modification_time_and_size_decide() {
    let data = random_bytes(30_000, 6);
    let mut b = Breaking::new(
        data.clone(),
        [
            Act::BreakAfter(10_000, ErrorKind::Transient),
            Act::BreakAfter(5_000, ErrorKind::Transient),
            Act::NewVersion,
        ],
    );
    b.etag = None;
    let a = std::sync::Arc::new(b);
    let (got, err) = drain(client(&a, 5).download("k").await.unwrap()).await;
    assert_eq!(
        got,
        &data[..15_000],
        "resumed once (same mtime), then refused"
    );
    assert_eq!(err.expect("conflict").kind(), ErrorKind::Conflict);
}

#[tokio::test]
async fn nothing_to_tell_versions_apart_means_no_resume() {
    let data = random_bytes(30_000, 7);
    let mut b = Breaking::new(
        data.clone(),
        [Act::BreakAfter(10_000, ErrorKind::Transient)],
    );
    b.etag = None;
    b.modified = None;
    let a = std::sync::Arc::new(b);
    let (got, err) = drain(client(&a, 5).download("k").await.unwrap()).await;
    assert_eq!(got, &data[..10_000]);
    let err = err.expect("the break itself");
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert_eq!(err.message(), "connection reset mid-body");
    assert_eq!(asked(&a).len(), 2, "asked once, found nothing to compare");
}

#[tokio::test]
async fn a_permanent_error_mid_body_is_not_retried() {
    let data = random_bytes(30_000, 8);
    let a = std::sync::Arc::new(Breaking::new(
        data.clone(),
        [Act::BreakAfter(10_000, ErrorKind::Unauthorized)],
    ));
    let (got, err) = drain(client(&a, 5).download("k").await.unwrap()).await;
    assert_eq!(got, &data[..10_000]);
    let err = err.expect("unauthorized");
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_eq!(err.context().key.as_deref(), Some("k"));
    assert_eq!(asked(&a), vec![None]);
}

#[tokio::test]
async fn the_retry_policy_bounds_breaks_without_progress() {
    let data = random_bytes(30_000, 9);
    let a = std::sync::Arc::new(Breaking::new(
        data.clone(),
        [
            Act::BreakAfter(10_000, ErrorKind::Transient),
            Act::BreakAfter(0, ErrorKind::Transient),
            Act::Refuse(ErrorKind::Transient),
            Act::BreakAfter(0, ErrorKind::Transient),
            Act::Serve,
        ],
    ));
    let (got, err) = drain(client(&a, 3).download("k").await.unwrap()).await;
    assert_eq!(got, &data[..10_000]);
    assert_eq!(err.expect("spent").kind(), ErrorKind::Transient);
    assert_eq!(asked(&a).len(), 4, "the first request and three retries");

    // Progress resets the count: a break after every 4,000 bytes still completes.
    let script = std::iter::repeat_n(Act::BreakAfter(4_000, ErrorKind::Transient), 7);
    let a = std::sync::Arc::new(Breaking::new(data.clone(), script));
    let (got, err) = drain(client(&a, 1).download("k").await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(sha(&got), sha(&data));
    assert_eq!(asked(&a).len(), 8);
}

#[tokio::test]
async fn a_provider_that_cannot_read_ranges_is_not_resumed() {
    let data = random_bytes(30_000, 10);
    let mut b = Breaking::new(
        data.clone(),
        [Act::BreakAfter(10_000, ErrorKind::Transient)],
    );
    b.range_read = false;
    let a = std::sync::Arc::new(b);
    let (got, err) = drain(client(&a, 5).download("k").await.unwrap()).await;
    assert_eq!(got, &data[..10_000]);
    assert_eq!(err.expect("the break").kind(), ErrorKind::Transient);
    assert_eq!(asked(&a), vec![None]);
}

#[tokio::test]
async fn a_silent_body_is_a_break_under_the_request_timeout() {
    let data = random_bytes(40_000, 11);
    let a = std::sync::Arc::new(Breaking::new(
        data.clone(),
        [Act::StallAfter(12_000), Act::StallAfter(3_000)],
    ));
    let files = client(&a, 3).with_timeout(Duration::from_millis(100));
    let (got, err) = drain(files.download("k").await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(sha(&got), sha(&data));
    assert_eq!(
        asked(&a),
        vec![None, Some(12_000..40_000), Some(15_000..40_000)]
    );

    // Without a timeout nothing bounds the wait: the stream is still waiting after a while.
    let a = std::sync::Arc::new(Breaking::new(data.clone(), [Act::StallAfter(12_000)]));
    let mut s = client(&a, 3).download("k").await.unwrap().into_stream();
    let mut got = 0;
    while got < 12_000 {
        got += s.next().await.unwrap().unwrap().len();
    }
    let waited = tokio::time::timeout(Duration::from_millis(300), s.next()).await;
    assert!(waited.is_err(), "no timeout, no break");
}

#[tokio::test]
async fn the_timeout_bounds_each_wait_not_the_whole_body() {
    // Each range takes ~250 ms in all but never waits more than ~10 ms for a piece: a 100 ms
    // request timeout must not cut it, single-stream or in parallel.
    let data = random_bytes(50_000, 12);
    let slow = std::iter::repeat_n(Act::Slowly(10), 8);
    let a = std::sync::Arc::new(Breaking::new(data.clone(), slow));
    let files = client(&a, 0).with_timeout(Duration::from_millis(100));
    let (got, err) = drain(files.download("k").await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(sha(&got), sha(&data));
    let dl = files
        .download("k")
        .concurrency(2)
        .chunk_size(25_000)
        .await
        .unwrap();
    let (got, err) = drain(dl).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(sha(&got), sha(&data));
    assert_eq!(asked(&a).len(), 3, "one request each, no retry");
}

#[tokio::test(start_paused = true)]
async fn a_break_that_asks_to_wait_is_resumed_after_that_wait() {
    let data = random_bytes(30_000, 13);
    let a = std::sync::Arc::new(Breaking::new(
        data.clone(),
        [
            Act::Throttle(10_000, Duration::from_secs(4)),
            Act::RefuseFor(Duration::from_secs(2)),
        ],
    ));
    let start = tokio::time::Instant::now();
    let (got, err) = drain(client(&a, 3).download("k").await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(sha(&got), sha(&data));
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_secs(6) && elapsed < Duration::from_millis(6_100),
        "the provider asked for 4 s, then 2 s; waited {elapsed:?}"
    );
    assert_eq!(
        asked(&a),
        vec![None, Some(10_000..30_000), Some(10_000..30_000)]
    );

    // A wait past the policy's deadline (30 s here) ends the stream with the break, at once.
    let a = std::sync::Arc::new(Breaking::new(
        data.clone(),
        [Act::Throttle(10_000, Duration::from_secs(31))],
    ));
    let start = tokio::time::Instant::now();
    let (got, err) = drain(client(&a, 3).download("k").await.unwrap()).await;
    assert_eq!(got, &data[..10_000]);
    let err = err.expect("the break");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(31)), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(asked(&a), vec![None], "not asked again");
}
