//! A provider's `Retry-After` honoured by every retry loop of the scheduler, a rate limit that
//! holds for one-shot and streamed bodies, and a native rename whose answer was lost.
//!
//! Timing is asserted on tokio's paused clock (virtual time), never on the wall clock.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use files_core::*;
use futures::StreamExt;
use tokio::time::Instant;

#[macro_use]
mod common;
use common::{Scripted, SlowAppends};

/// A retry policy whose own backoff is a millisecond or two, so that any long wait comes from
/// the provider's `Retry-After`.
fn quick(deadline: Duration) -> RetryPolicy {
    RetryPolicy {
        max_retries: 5,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        deadline,
    }
}

fn throttled(wait: Duration) -> Error {
    Error::transient("429 Too Many Requests").with_retry_after(wait)
}

// ------------------------------------------------------------------------ Retry-After

/// A parts provider whose first `put_part` of part 1 and / or first `complete` are throttled
/// (refused with a `Retry-After`, nothing stored).
#[derive(Debug, Default)]
struct ThrottledParts {
    part_wait: Option<Duration>,
    complete_wait: Option<Duration>,
    sessions: Mutex<BTreeMap<String, BTreeMap<u32, Bytes>>>,
    objects: Mutex<BTreeMap<String, Bytes>>,
    part1_tries: AtomicU32,
    completes: AtomicU32,
}

#[async_trait]
impl PartUpload for ThrottledParts {
    fn rules(&self) -> PartRules {
        PartRules {
            min_part_size: 4,
            max_part_size: 1 << 20,
            alignment: 1,
            max_parts: 100,
            default_part_size: 16,
        }
    }
    fn resumability(&self) -> Resumability {
        Resumability::CrossProcess
    }
    async fn begin(&self, _spec: &UploadSpec) -> Result<Session> {
        self.sessions
            .lock()
            .unwrap()
            .insert("s".into(), BTreeMap::new());
        Ok(Session::new("s"))
    }
    async fn put_part(
        &self,
        _spec: &UploadSpec,
        session: &Session,
        part: Part,
    ) -> Result<LandedPart> {
        if part.number == 1
            && self.part1_tries.fetch_add(1, Ordering::SeqCst) == 0
            && let Some(wait) = self.part_wait
        {
            return Err(throttled(wait));
        }
        let mut s = self.sessions.lock().unwrap();
        let parts = s
            .get_mut(&session.id)
            .ok_or_else(|| Error::new(ErrorKind::SessionExpired, "gone"))?;
        parts.insert(part.number, part.data.clone());
        Ok(LandedPart {
            number: part.number,
            size: part.data.len() as u64,
            etag: None,
            crc32c: Some(part.crc32c),
        })
    }
    async fn probe(&self, _spec: &UploadSpec, session: &Session) -> Result<Vec<LandedPart>> {
        let s = self.sessions.lock().unwrap();
        let parts = s
            .get(&session.id)
            .ok_or_else(|| Error::new(ErrorKind::SessionExpired, "gone"))?;
        Ok(parts
            .iter()
            .map(|(n, d)| LandedPart {
                number: *n,
                size: d.len() as u64,
                etag: None,
                crc32c: Some(crc32c::crc32c(d)),
            })
            .collect())
    }
    async fn complete(
        &self,
        spec: &UploadSpec,
        session: &Session,
        parts: &[LandedPart],
    ) -> Result<ObjectMeta> {
        if self.completes.fetch_add(1, Ordering::SeqCst) == 0
            && let Some(wait) = self.complete_wait
        {
            return Err(throttled(wait));
        }
        let stored = self
            .sessions
            .lock()
            .unwrap()
            .remove(&session.id)
            .ok_or_else(|| Error::new(ErrorKind::SessionExpired, "gone"))?;
        let mut all = Vec::new();
        for p in parts {
            all.extend_from_slice(&stored[&p.number]);
        }
        let size = all.len() as u64;
        self.objects
            .lock()
            .unwrap()
            .insert(spec.key.clone(), Bytes::from(all));
        Ok(ObjectMeta::new(spec.key.clone(), size))
    }
    async fn abort(&self, _spec: &UploadSpec, session: &Session) -> Result<()> {
        self.sessions.lock().unwrap().remove(&session.id);
        Ok(())
    }
}

test_adapter!(ThrottledParts, "throttled-parts", Parts);

/// An offset provider whose first append is throttled (refused with a `Retry-After`).
#[derive(Debug, Default)]
struct ThrottledAppends {
    wait: Duration,
    held: Mutex<Vec<u8>>,
    appends: AtomicU32,
    objects: Mutex<BTreeMap<String, Bytes>>,
}

#[async_trait]
impl OffsetUpload for ThrottledAppends {
    fn rules(&self) -> PartRules {
        PartRules::unconstrained()
    }
    fn resumability(&self) -> Resumability {
        Resumability::CrossProcess
    }
    async fn begin(&self, _spec: &UploadSpec) -> Result<Session> {
        self.held.lock().unwrap().clear();
        Ok(Session::default())
    }
    async fn probe(&self, _spec: &UploadSpec, _session: &Session) -> Result<OffsetState> {
        Ok(OffsetState::Offset(self.held.lock().unwrap().len() as u64))
    }
    async fn append(
        &self,
        _spec: &UploadSpec,
        _session: &Session,
        offset: u64,
        data: Bytes,
        _last: bool,
    ) -> Result<OffsetState> {
        if self.appends.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(throttled(self.wait));
        }
        let mut held = self.held.lock().unwrap();
        if offset != held.len() as u64 {
            return Err(Error::conflict("wrong offset"));
        }
        held.extend_from_slice(&data);
        Ok(OffsetState::Offset(held.len() as u64))
    }
    async fn finish(&self, spec: &UploadSpec, _session: &Session) -> Result<ObjectMeta> {
        let held = Bytes::from(self.held.lock().unwrap().clone());
        let size = held.len() as u64;
        self.objects.lock().unwrap().insert(spec.key.clone(), held);
        Ok(ObjectMeta::new(spec.key.clone(), size))
    }
    async fn cancel(&self, _spec: &UploadSpec, _session: &Session) -> Result<()> {
        Ok(())
    }
}

test_adapter!(ThrottledAppends, "throttled-appends", Offset);

fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn assert_waited(elapsed: Duration, wanted: Duration) {
    assert!(
        elapsed >= wanted && elapsed < wanted + Duration::from_millis(100),
        "waited {elapsed:?}; the provider asked for {wanted:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_part_waits_for_the_providers_retry_after() {
    let a = std::sync::Arc::new(ThrottledParts {
        part_wait: Some(Duration::from_secs(3)),
        ..ThrottledParts::default()
    });
    let files = Files::from_arc(a.clone()).with_retry(quick(Duration::from_secs(60)));
    let start = Instant::now();
    let out = files
        .upload("k", body(64))
        .part_size(16)
        .concurrency(1)
        .await
        .unwrap();
    assert_waited(start.elapsed(), Duration::from_secs(3));
    assert_eq!(out.meta.size, 64);
    assert_eq!(out.retries, 1);
    assert_eq!(a.objects.lock().unwrap()["k"], Bytes::from(body(64)));
}

#[tokio::test(start_paused = true)]
async fn a_throttled_complete_waits_for_the_providers_retry_after() {
    let a = std::sync::Arc::new(ThrottledParts {
        complete_wait: Some(Duration::from_secs(5)),
        ..ThrottledParts::default()
    });
    let files = Files::from_arc(a.clone()).with_retry(quick(Duration::from_secs(60)));
    let start = Instant::now();
    let out = files.upload("k", body(64)).part_size(16).await.unwrap();
    assert_waited(start.elapsed(), Duration::from_secs(5));
    assert_eq!(out.meta.size, 64);
    assert_eq!(a.completes.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_deadline_fails_at_once() {
    let a = std::sync::Arc::new(ThrottledParts {
        part_wait: Some(Duration::from_secs(120)),
        ..ThrottledParts::default()
    });
    let files = Files::from_arc(a.clone()).with_retry(quick(Duration::from_secs(60)));
    let start = Instant::now();
    let err = files
        .upload("k", body(64))
        .part_size(16)
        .concurrency(1)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(a.part1_tries.load(Ordering::SeqCst), 1, "not retried");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "gave up without sleeping toward the deadline: {:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn an_append_waits_for_the_providers_retry_after() {
    let a = std::sync::Arc::new(ThrottledAppends {
        wait: Duration::from_secs(4),
        ..ThrottledAppends::default()
    });
    let files = Files::from_arc(a.clone()).with_retry(quick(Duration::from_secs(60)));
    let start = Instant::now();
    let out = files.upload("k", body(64)).part_size(16).await.unwrap();
    assert_waited(start.elapsed(), Duration::from_secs(4));
    assert_eq!(out.meta.size, 64);
    assert_eq!(a.objects.lock().unwrap()["k"], Bytes::from(body(64)));

    // Past the deadline: the append's error, at once.
    let a = std::sync::Arc::new(ThrottledAppends {
        wait: Duration::from_secs(61),
        ..ThrottledAppends::default()
    });
    let files = Files::from_arc(a.clone()).with_retry(quick(Duration::from_secs(60)));
    let start = Instant::now();
    let err = files.upload("k", body(64)).part_size(16).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(61)), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

// ------------------------------------------------------------------------ rate limit

const MIB: usize = 1 << 20;
const RATE: u64 = 256 * 1024;
/// 1 MiB at 256 KiB/s, paced in 64 KiB pieces: the last piece may go once the 15 before it
/// had their time, 15 x 0.25 s.
const PACED: Duration = Duration::from_millis(3750);

fn assert_paced(elapsed: Duration) {
    assert!(
        elapsed >= PACED && elapsed < Duration::from_secs(5),
        "1 MiB at 256 KiB/s took {elapsed:?} of virtual time; expected at least {PACED:?}"
    );
}

/// `data` as a stream of `chunk`-byte pieces.
fn stream_of(data: Vec<u8>, chunk: usize) -> ByteStream {
    let data = Bytes::from(data);
    let pieces: Vec<Result<Bytes>> = (0..data.len())
        .step_by(chunk)
        .map(|o| Ok(data.slice(o..(o + chunk).min(data.len()))))
        .collect();
    futures::stream::iter(pieces).boxed()
}

#[tokio::test(start_paused = true)]
async fn a_one_shot_upload_is_paced() {
    let a = std::sync::Arc::new(Scripted::default());
    let files = Files::from_arc(a.clone());
    let start = Instant::now();
    let out = files
        .upload("k", body(MIB))
        .part_size(MIB as u64)
        .rate_limit(RATE)
        .await
        .unwrap();
    assert_paced(start.elapsed());
    assert_eq!(out.parts_sent, 1, "one request");
    assert_eq!(a.objects.lock().unwrap()["k"], Bytes::from(body(MIB)));
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_in_one_request_is_paced() {
    // A stream on an offset-family provider goes in one `put`.
    let a = std::sync::Arc::new(SlowAppends::default());
    let files = Files::from_arc(a.clone());
    let start = Instant::now();
    let out = files
        .upload(
            "k",
            Body::from_stream(stream_of(body(MIB), MIB), Some(MIB as u64)),
        )
        .rate_limit(RATE)
        .await
        .unwrap();
    assert_paced(start.elapsed());
    assert_eq!(out.meta.size, MIB as u64);

    // A short stream of unknown length on a parts provider: one `put` too.
    let a = std::sync::Arc::new(Scripted::default());
    let files = Files::from_arc(a.clone());
    let start = Instant::now();
    files
        .upload("k", Body::from_stream(stream_of(body(MIB), 100_000), None))
        .part_size(MIB as u64)
        .rate_limit(RATE)
        .await
        .unwrap();
    assert_paced(start.elapsed());
    assert_eq!(a.objects.lock().unwrap()["k"], Bytes::from(body(MIB)));
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_in_parts_is_paced() {
    let a = std::sync::Arc::new(Scripted::default());
    let files = Files::from_arc(a.clone());
    let start = Instant::now();
    let out = files
        .upload("k", Body::from_stream(stream_of(body(MIB), 300_000), None))
        .part_size(256 * 1024)
        .concurrency(4)
        .rate_limit(RATE)
        .await
        .unwrap();
    assert_paced(start.elapsed());
    assert_eq!(out.parts_sent, 4);
    assert_eq!(a.objects.lock().unwrap()["k"], Bytes::from(body(MIB)));
}

// ------------------------------------------------------------------------ rename

/// What one `rename` does.
#[derive(Debug, Clone, Copy)]
enum Rename {
    /// Renames and answers.
    Apply,
    /// Renames, then the answer is lost (a transient error).
    LoseAnswer,
    /// Fails with a transient error before renaming anything.
    FailBefore,
    /// Renames, then answers only after a minute (cut by the request timeout).
    ApplyThenStall,
    /// Someone else moves the source away and writes 5 bytes at the destination; this one
    /// finds no source.
    Vanish,
}

/// A store with a native rename that follows a script.
#[derive(Debug, Default)]
struct Renaming {
    objects: Mutex<BTreeMap<String, Bytes>>,
    script: Mutex<VecDeque<Rename>>,
    renames: AtomicU32,
}

impl Renaming {
    fn with(objects: &[(&str, &[u8])], script: &[Rename]) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Renaming {
            objects: Mutex::new(
                objects
                    .iter()
                    .map(|(k, v)| (k.to_string(), Bytes::copy_from_slice(v)))
                    .collect(),
            ),
            script: Mutex::new(script.iter().copied().collect()),
            renames: AtomicU32::new(0),
        })
    }
    fn has(&self, key: &str) -> bool {
        self.objects.lock().unwrap().contains_key(key)
    }
}

#[async_trait]
impl Adapter for Renaming {
    fn provider(&self) -> &'static str {
        "renaming"
    }
    fn target(&self) -> String {
        "renaming:1".into()
    }
    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::minimal();
        c.native_rename = true;
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
    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        let o = self.objects.lock().unwrap();
        o.get(key)
            .map(|b| ObjectMeta::new(key, b.len() as u64))
            .ok_or_else(|| Error::not_found("absent"))
    }
    async fn get(&self, _key: &str, _range: Option<ByteRange>) -> Result<GetResponse> {
        Err(Error::not_supported("get"))
    }
    async fn delete(&self, key: &str) -> Result<()> {
        self.objects.lock().unwrap().remove(key);
        Ok(())
    }
    async fn list(&self, _r: &ListRequest) -> Result<ListPage> {
        Ok(ListPage::default())
    }
    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.renames.fetch_add(1, Ordering::SeqCst);
        let act = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Rename::Apply);
        self.apply(act, from, to)?;
        if matches!(act, Rename::ApplyThenStall) {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        if matches!(act, Rename::LoseAnswer) {
            return Err(Error::transient(
                "connection reset after the request was sent",
            ));
        }
        Ok(())
    }
}

impl Renaming {
    /// What `act` does to the objects, before any answer.
    fn apply(&self, act: Rename, from: &str, to: &str) -> Result<()> {
        let mut o = self.objects.lock().unwrap();
        match act {
            Rename::FailBefore => return Err(Error::transient("connection reset")),
            Rename::Vanish => {
                o.remove(from);
                o.insert(to.into(), Bytes::from_static(b"other"));
                return Err(Error::not_found("no such source"));
            }
            Rename::Apply | Rename::LoseAnswer | Rename::ApplyThenStall => {}
        }
        let data = o
            .remove(from)
            .ok_or_else(|| Error::not_found("no such source"))?;
        o.insert(to.into(), data);
        Ok(())
    }
}

fn renamer(a: &std::sync::Arc<Renaming>) -> Files {
    Files::from_arc(a.clone()).with_retry(quick(Duration::from_secs(60)))
}

#[tokio::test(start_paused = true)]
async fn a_rename_whose_answer_was_lost_succeeds() {
    let a = Renaming::with(&[("a", b"0123456789")], &[Rename::LoseAnswer]);
    renamer(&a)
        .rename("a", "b")
        .await
        .expect("the rename landed; its lost answer must not turn into not_found");
    assert!(!a.has("a") && a.has("b"));
    assert_eq!(a.renames.load(Ordering::SeqCst), 2, "retried once");

    // The answer never came: the request timeout cut it, after the rename was applied.
    let a = Renaming::with(&[("a", b"0123456789")], &[Rename::ApplyThenStall]);
    renamer(&a)
        .with_timeout(Duration::from_secs(1))
        .rename("a", "b")
        .await
        .expect("a rename cut by the timeout after it landed is not not_found");
    assert!(!a.has("a") && a.has("b"));

    // Lost twice in a row (the retry's answer lost too): still the same verdict.
    let a = Renaming::with(
        &[("a", b"0123456789")],
        &[Rename::FailBefore, Rename::LoseAnswer],
    );
    renamer(&a).rename("a", "b").await.unwrap();
    assert!(!a.has("a") && a.has("b"));
}

#[tokio::test(start_paused = true)]
async fn a_rename_that_only_looks_landed_is_still_not_found() {
    // The first attempt failed before renaming; the source (10 bytes) was seen before the
    // retry; then someone else moved it away and wrote 5 other bytes at the destination.
    let a = Renaming::with(
        &[("a", b"0123456789")],
        &[Rename::FailBefore, Rename::Vanish],
    );
    let err = renamer(&a).rename("a", "b").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    // No ambiguity, no second look: a missing source is not found at once.
    let a = Renaming::with(&[], &[]);
    let err = renamer(&a).rename("a", "b").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(a.renames.load(Ordering::SeqCst), 1);

    // A failure before anything happened is simply retried.
    let a = Renaming::with(&[("a", b"x")], &[Rename::FailBefore]);
    renamer(&a).rename("a", "b").await.unwrap();
    assert!(!a.has("a") && a.has("b"));
}
