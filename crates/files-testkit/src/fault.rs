//! [`FaultyAdapter`]: an adapter wrapper that injects seeded, reproducible faults into upload
//! primitives, to prove the scheduler turns a hostile provider into correct objects.
//!
//! Faults, each with its own probability ([`FaultConfig`]):
//!
//! * **before**: a part or append fails before it reaches the provider (nothing landed);
//! * **after**: the request is delegated and lands, then its answer is "lost" (an error is
//!   returned anyway);
//! * **partial** (offset family): only a prefix of the chunk is appended, then the call fails
//!   (a half-landed append); on the parts family it acts like **after**;
//! * **stall**: the call sleeps for [`FaultConfig::stall_for`] before delegating (cut by the
//!   call's timeout, or, without one, merely slow);
//! * **ambiguous complete**: `complete` / `finish` succeeds inside, then an error is returned;
//! * **cut download**: a `get`'s body breaks off after a drawn prefix (a connection reset in
//!   the middle of a download); only where the wrapper reports reading ranges, since that is what
//!   lets a client resume the rest;
//! * **lost rename**: a native `rename` is applied, then its answer is "lost" (an error is
//!   returned anyway), so the retry finds no source.
//!
//! Decisions are deterministic per seed: each request is identified by its operation, its part
//! number (or offset) and how many times it was tried, and that identity seeds the draw, so the
//! same seed injects the same faults whatever order concurrent parts run in. At most
//! [`FaultConfig::max_faults_per_request`] faults hit one request identity, so a faulted upload
//! always finishes under a retry policy with more retries than that.
//!
//! Every call is counted ([`FaultyAdapter::counts`]): calls reaching the wrapper, calls
//! delegated to the inner adapter, and injected faults by kind.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use files_core::{
    Adapter, ByteRange, ByteStream, Bytes, Capabilities, Error, ErrorKind, GetResponse, LandedPart,
    ListPage, ListRequest, ObjectMeta, OffsetState, OffsetUpload, Part, PartRules, PartUpload,
    PresignMethod, PutOptions, Result, Resumability, Session, UploadFamily, UploadSpec,
};

/// What to inject and how often. Probabilities are per request attempt, in `0.0..=1.0`; the
/// part-level ones (`fail_before`, `fail_after`, `partial_append`, `stall`) are exclusive and
/// their sum should not exceed 1.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// Seed of every decision.
    pub seed: u64,
    /// A part / append fails before it reaches the provider.
    pub fail_before: f64,
    /// A part / append lands, then fails anyway (the answer was lost).
    pub fail_after: f64,
    /// An append lands only a prefix of its chunk, then fails (parts family: like `fail_after`).
    pub partial_append: f64,
    /// A part / append sleeps `stall_for` before it is delegated.
    pub stall: f64,
    /// How long a stall sleeps; make it longer than the upload's per-request timeout.
    pub stall_for: Duration,
    /// `complete` / `finish` succeeds inside, then fails anyway.
    pub ambiguous_complete: f64,
    /// A `get`'s body breaks off (with an injected error) after a drawn number of bytes.
    pub cut_download: f64,
    /// A `rename` is applied, then fails anyway (the answer was lost).
    pub lost_rename: f64,
    /// The kind of every injected error (default [`ErrorKind::Transient`]); a non-retryable
    /// kind (e.g. [`ErrorKind::Unauthorized`]) checks that such errors are not retried.
    pub error_kind: ErrorKind,
    /// Most faults injected into one request identity (operation, part or offset); later
    /// attempts of it go through.
    pub max_faults_per_request: u32,
}

impl FaultConfig {
    /// No fault at all: the wrapper only counts calls.
    pub fn none() -> Self {
        FaultConfig {
            seed: 0,
            fail_before: 0.0,
            fail_after: 0.0,
            partial_append: 0.0,
            stall: 0.0,
            stall_for: Duration::from_secs(30),
            ambiguous_complete: 0.0,
            cut_download: 0.0,
            lost_rename: 0.0,
            error_kind: ErrorKind::Transient,
            max_faults_per_request: 3,
        }
    }

    /// A mix of every fault kind: a part request is faulted with probability `rate` (split
    /// 30% before, 30% after, 25% partial, 15% stall), and `complete` with probability 0.5.
    pub fn mixed(seed: u64, rate: f64) -> Self {
        FaultConfig {
            seed,
            fail_before: rate * 0.30,
            fail_after: rate * 0.30,
            partial_append: rate * 0.25,
            stall: rate * 0.15,
            ambiguous_complete: 0.5,
            ..FaultConfig::none()
        }
    }
}

/// A snapshot of a [`FaultyAdapter`]'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// `put_part` and `append` attempts that reached the wrapper.
    pub part_requests: u64,
    /// `put_part` and `append` calls delegated to the inner adapter (partial appends included).
    pub inner_part_calls: u64,
    /// `begin` calls.
    pub begins: u64,
    /// `probe` calls.
    pub probes: u64,
    /// `complete` / `finish` attempts.
    pub completes: u64,
    /// `abort` / `cancel` calls.
    pub aborts: u64,
    /// Every other provider call: put, head, get, delete, list, copy, rename, presign.
    pub other_calls: u64,
    /// Injected: failed before delegating.
    pub injected_before: u64,
    /// Injected: delegated, then failed.
    pub injected_after: u64,
    /// Injected: a prefix appended, then failed.
    pub injected_partial: u64,
    /// Injected: stalled.
    pub injected_stall: u64,
    /// Injected: `complete` / `finish` succeeded, then failed.
    pub injected_ambiguous: u64,
    /// Injected: a download's body broke off.
    pub injected_cut: u64,
    /// Injected: a rename was applied, then failed.
    pub injected_lost_rename: u64,
}

impl FaultCounts {
    /// Faults injected into part / append requests (before, after, partial, stall).
    pub fn part_faults(&self) -> u64 {
        self.injected_before + self.injected_after + self.injected_partial + self.injected_stall
    }

    /// Every injected fault.
    pub fn total_faults(&self) -> u64 {
        self.part_faults() + self.injected_ambiguous + self.injected_cut + self.injected_lost_rename
    }

    /// Every call that reached the wrapper and would reach a provider (key validation and
    /// capability questions are local and not counted).
    pub fn provider_calls(&self) -> u64 {
        self.part_requests
            + self.begins
            + self.probes
            + self.completes
            + self.aborts
            + self.other_calls
    }

    /// The fraction of part requests that were faulted (0 when there were none).
    pub fn part_fault_rate(&self) -> f64 {
        if self.part_requests == 0 {
            0.0
        } else {
            self.part_faults() as f64 / self.part_requests as f64
        }
    }
}

#[derive(Default)]
struct Counters {
    part_requests: AtomicU64,
    inner_part_calls: AtomicU64,
    begins: AtomicU64,
    probes: AtomicU64,
    completes: AtomicU64,
    aborts: AtomicU64,
    other_calls: AtomicU64,
    injected_before: AtomicU64,
    injected_after: AtomicU64,
    injected_partial: AtomicU64,
    injected_stall: AtomicU64,
    injected_ambiguous: AtomicU64,
    injected_cut: AtomicU64,
    injected_lost_rename: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::SeqCst);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    PutPart,
    Append,
    Complete,
    Finish,
    Get,
    Rename,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    Before,
    After,
    Partial,
    Stall,
}

#[derive(Default)]
struct History {
    attempts: u32,
    faults: u32,
}

/// An adapter that wraps another and injects faults into its upload primitives. It implements
/// the same upload family as the inner adapter, and delegates everything else unchanged (its
/// provider name, target and capabilities are the inner adapter's, so resume tokens are
/// interchangeable between the two).
pub struct FaultyAdapter {
    inner: Arc<dyn Adapter>,
    config: FaultConfig,
    history: Mutex<HashMap<(Op, String, u64), History>>,
    log: Mutex<Vec<String>>,
    counters: Counters,
    enabled: std::sync::atomic::AtomicBool,
    capabilities: Option<Capabilities>,
}

impl fmt::Debug for FaultyAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyAdapter")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .field("counts", &self.counts())
            .finish()
    }
}

/// SplitMix64 finalizer: spreads the bits of a request identity into a seed.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn str_hash(s: &str) -> u64 {
    // FNV-1a: stable across runs and platforms (unlike std's RandomState).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl FaultyAdapter {
    /// Wraps `inner` with `config`.
    pub fn new(inner: Arc<dyn Adapter>, config: FaultConfig) -> Self {
        FaultyAdapter {
            inner,
            config,
            history: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            counters: Counters::default(),
            enabled: std::sync::atomic::AtomicBool::new(true),
            capabilities: None,
        }
    }

    /// Declares `capabilities` instead of the inner adapter's (e.g. without server-side copy,
    /// to exercise the client's fallback paths). Declare only what the inner adapter can do.
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = Some(capabilities);
        self
    }

    /// A wrapper that injects nothing and only counts calls.
    pub fn counting(inner: Arc<dyn Adapter>) -> Self {
        Self::new(inner, FaultConfig::none())
    }

    /// The wrapped adapter.
    pub fn inner(&self) -> &Arc<dyn Adapter> {
        &self.inner
    }

    /// The configuration.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// Turns injection on or off (counting goes on either way).
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::SeqCst);
    }

    /// The counters now.
    pub fn counts(&self) -> FaultCounts {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(Ordering::SeqCst);
        FaultCounts {
            part_requests: g(&c.part_requests),
            inner_part_calls: g(&c.inner_part_calls),
            begins: g(&c.begins),
            probes: g(&c.probes),
            completes: g(&c.completes),
            aborts: g(&c.aborts),
            other_calls: g(&c.other_calls),
            injected_before: g(&c.injected_before),
            injected_after: g(&c.injected_after),
            injected_partial: g(&c.injected_partial),
            injected_stall: g(&c.injected_stall),
            injected_ambiguous: g(&c.injected_ambiguous),
            injected_cut: g(&c.injected_cut),
            injected_lost_rename: g(&c.injected_lost_rename),
        }
    }

    /// One seeded draw for attempt number n of the request `(op, key, id)`.
    fn draw(&self, op: Op, key: &str, id: u64) -> (f64, fastrand::Rng, bool) {
        let mut history = self.history.lock().expect("fault history lock");
        let h = history.entry((op, key.to_string(), id)).or_default();
        let attempt = h.attempts;
        h.attempts += 1;
        let allowed =
            h.faults < self.config.max_faults_per_request && self.enabled.load(Ordering::SeqCst);
        let op_tag = match op {
            Op::PutPart => 1u64,
            Op::Append => 2,
            Op::Complete => 3,
            Op::Finish => 4,
            Op::Get => 5,
            Op::Rename => 6,
        };
        let seed = mix(mix(mix(self.config.seed ^ mix(op_tag)) ^ str_hash(key))
            ^ mix(id)
            ^ u64::from(attempt).wrapping_mul(0x1000_0000_01b3));
        let mut rng = fastrand::Rng::with_seed(seed);
        (rng.f64(), rng, allowed)
    }

    fn note_fault(&self, op: Op, key: &str, id: u64) {
        let mut history = self.history.lock().expect("fault history lock");
        let h = history.entry((op, key.to_string(), id)).or_default();
        h.faults += 1;
        self.log
            .lock()
            .expect("fault log lock")
            .push(format!("{op:?} {key} {id} attempt {}", h.attempts));
    }

    /// Every injected fault as `op key part-or-offset attempt`, sorted (parallel parts fault in
    /// any order; the set is what a seed determines).
    pub fn fault_log(&self) -> Vec<String> {
        let mut log = self.log.lock().expect("fault log lock").clone();
        log.sort();
        log
    }

    fn decide_part(&self, op: Op, key: &str, id: u64) -> (Fault, fastrand::Rng) {
        let (r, rng, allowed) = self.draw(op, key, id);
        if !allowed {
            return (Fault::None, rng);
        }
        let c = &self.config;
        let table = [
            (c.fail_before, Fault::Before),
            (c.fail_after, Fault::After),
            (c.partial_append, Fault::Partial),
            (c.stall, Fault::Stall),
        ];
        let mut edge = 0.0;
        let mut fault = Fault::None;
        for (p, f) in table {
            edge += p.max(0.0);
            if r < edge {
                fault = f;
                break;
            }
        }
        if fault != Fault::None {
            self.note_fault(op, key, id);
        }
        (fault, rng)
    }

    fn decide_complete(&self, op: Op, key: &str) -> bool {
        let (r, _, allowed) = self.draw(op, key, 0);
        let hit = allowed && r < self.config.ambiguous_complete;
        if hit {
            self.note_fault(op, key, 0);
        }
        hit
    }

    fn injected(&self, what: &str) -> Error {
        Error::new(
            self.config.error_kind,
            format!("injected fault: {what} (FaultyAdapter)"),
        )
    }

    fn parts(&self) -> Result<&dyn PartUpload> {
        match self.inner.upload_family() {
            UploadFamily::Parts(p) => Ok(p),
            _ => Err(Error::new(
                ErrorKind::Other,
                "the inner adapter has no parts family",
            )),
        }
    }

    fn offset(&self) -> Result<&dyn OffsetUpload> {
        match self.inner.upload_family() {
            UploadFamily::Offset(o) => Ok(o),
            _ => Err(Error::new(
                ErrorKind::Other,
                "the inner adapter has no offset family",
            )),
        }
    }

    fn other(&self) {
        bump(&self.counters.other_calls);
    }

    /// A call counted in `counter` and delegated as it is to the upload family's `call` (an
    /// error if the inner adapter has no such family).
    async fn counted<T>(
        &self,
        counter: &AtomicU64,
        call: Result<impl Future<Output = Result<T>>>,
    ) -> Result<T> {
        bump(counter);
        call?.await
    }

    /// A part or append request (`what`: "part 3", "append at 4096") under `fault`, delegated
    /// with `call`. A partial fault the caller did not carry out acts like `After` (the parts
    /// family).
    async fn part_request<T, Fut>(
        &self,
        fault: Fault,
        what: &str,
        call: impl FnOnce() -> Fut,
    ) -> Result<T>
    where
        Fut: Future<Output = Result<T>>,
    {
        let c = &self.counters;
        match fault {
            Fault::Before => {
                bump(&c.injected_before);
                Err(self.injected(&format!("{what} failed before sending")))
            }
            Fault::After | Fault::Partial => {
                bump(&c.injected_after);
                bump(&c.inner_part_calls);
                call().await?;
                Err(self.injected(&format!("{what} landed but its answer was lost")))
            }
            Fault::Stall => {
                bump(&c.injected_stall);
                tokio::time::sleep(self.config.stall_for).await;
                bump(&c.inner_part_calls);
                call().await
            }
            Fault::None => {
                bump(&c.inner_part_calls);
                call().await
            }
        }
    }

    /// `complete` / `finish` (`what`), counted and delegated with `call` (an error if the inner
    /// adapter has no such family); with the seeded chance, an error is returned after it
    /// succeeded.
    async fn ambiguous_end<T>(
        &self,
        op: Op,
        key: &str,
        what: &str,
        call: Result<impl Future<Output = Result<T>>>,
    ) -> Result<T> {
        bump(&self.counters.completes);
        let call = call?;
        let ambiguous = self.decide_complete(op, key);
        let meta = call.await?;
        if ambiguous {
            bump(&self.counters.injected_ambiguous);
            return Err(self.injected(&format!("{what} succeeded but its answer was lost")));
        }
        Ok(meta)
    }
}

#[async_trait]
impl Adapter for FaultyAdapter {
    fn provider(&self) -> &'static str {
        self.inner.provider()
    }

    fn target(&self) -> String {
        self.inner.target()
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
            .clone()
            .unwrap_or_else(|| self.inner.capabilities())
    }

    fn validate_key(&self, key: &str) -> Result<()> {
        self.inner.validate_key(key)
    }

    fn check_session(&self, session: &Session) -> Result<()> {
        self.inner.check_session(session)
    }

    fn upload_family(&self) -> UploadFamily<'_> {
        match self.inner.upload_family() {
            UploadFamily::Parts(_) => UploadFamily::Parts(self),
            UploadFamily::Offset(_) => UploadFamily::Offset(self),
            UploadFamily::OneShot => UploadFamily::OneShot,
        }
    }

    async fn put(
        &self,
        key: &str,
        body: ByteStream,
        len: Option<u64>,
        options: &PutOptions,
    ) -> Result<ObjectMeta> {
        self.other();
        self.inner.put(key, body, len, options).await
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        self.other();
        self.inner.head(key).await
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<GetResponse> {
        self.other();
        let mut resp = self.inner.get(key, range).await?;
        let len = resp.range.end - resp.range.start;
        if self.config.cut_download <= 0.0 || len == 0 || !self.capabilities().range_read {
            return Ok(resp);
        }
        let (r, mut rng, allowed) = self.draw(Op::Get, key, resp.range.start);
        if !allowed || r >= self.config.cut_download {
            return Ok(resp);
        }
        self.note_fault(Op::Get, key, resp.range.start);
        bump(&self.counters.injected_cut);
        let keep = rng.u64(0..len);
        let error = self.injected("download body cut");
        resp.stream = cut_after(resp.stream, keep, error);
        Ok(resp)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.other();
        self.inner.delete(key).await
    }

    async fn list(&self, request: &ListRequest) -> Result<ListPage> {
        self.other();
        self.inner.list(request).await
    }

    async fn copy(&self, from: &str, to: &str) -> Result<ObjectMeta> {
        self.other();
        self.inner.copy(from, to).await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.other();
        if self.config.lost_rename <= 0.0 {
            return self.inner.rename(from, to).await;
        }
        let (r, _, allowed) = self.draw(Op::Rename, from, str_hash(to));
        self.inner.rename(from, to).await?;
        if allowed && r < self.config.lost_rename {
            self.note_fault(Op::Rename, from, str_hash(to));
            bump(&self.counters.injected_lost_rename);
            return Err(self.injected(&format!(
                "rename of {from} to {to} landed but its answer was lost"
            )));
        }
        Ok(())
    }

    async fn presign(&self, key: &str, method: PresignMethod, expires: Duration) -> Result<String> {
        self.other();
        self.inner.presign(key, method, expires).await
    }

    fn public_url(&self, key: &str) -> Result<String> {
        self.other();
        self.inner.public_url(key)
    }
}

#[async_trait]
impl PartUpload for FaultyAdapter {
    fn rules(&self) -> PartRules {
        self.inner.upload_family().rules()
    }

    fn resumability(&self) -> Resumability {
        self.inner.upload_family().resumability()
    }

    async fn begin(&self, spec: &UploadSpec) -> Result<Session> {
        let call = self.parts().map(|p| p.begin(spec));
        self.counted(&self.counters.begins, call).await
    }

    async fn put_part(
        &self,
        spec: &UploadSpec,
        session: &Session,
        part: Part,
    ) -> Result<LandedPart> {
        bump(&self.counters.part_requests);
        let p = self.parts()?;
        let (fault, _) = self.decide_part(Op::PutPart, &spec.key, u64::from(part.number));
        let what = format!("part {}", part.number);
        self.part_request(fault, &what, || p.put_part(spec, session, part))
            .await
    }

    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<Vec<LandedPart>> {
        let call = self.parts().map(|p| p.probe(spec, session));
        self.counted(&self.counters.probes, call).await
    }

    async fn complete(
        &self,
        spec: &UploadSpec,
        session: &Session,
        parts: &[LandedPart],
    ) -> Result<ObjectMeta> {
        let call = self.parts().map(|p| p.complete(spec, session, parts));
        self.ambiguous_end(Op::Complete, &spec.key, "complete", call)
            .await
    }

    async fn abort(&self, spec: &UploadSpec, session: &Session) -> Result<()> {
        let call = self.parts().map(|p| p.abort(spec, session));
        self.counted(&self.counters.aborts, call).await
    }
}

#[async_trait]
impl OffsetUpload for FaultyAdapter {
    fn rules(&self) -> PartRules {
        self.inner.upload_family().rules()
    }

    fn resumability(&self) -> Resumability {
        self.inner.upload_family().resumability()
    }

    async fn begin(&self, spec: &UploadSpec) -> Result<Session> {
        let call = self.offset().map(|o| o.begin(spec));
        self.counted(&self.counters.begins, call).await
    }

    async fn probe(&self, spec: &UploadSpec, session: &Session) -> Result<OffsetState> {
        let call = self.offset().map(|o| o.probe(spec, session));
        self.counted(&self.counters.probes, call).await
    }

    async fn append(
        &self,
        spec: &UploadSpec,
        session: &Session,
        offset: u64,
        data: Bytes,
        last: bool,
    ) -> Result<OffsetState> {
        let c = &self.counters;
        bump(&c.part_requests);
        let o = self.offset()?;
        let (fault, mut rng) = self.decide_part(Op::Append, &spec.key, offset);
        let fault = match fault {
            Fault::Partial if data.len() >= 2 => {
                bump(&c.injected_partial);
                bump(&c.inner_part_calls);
                let keep = rng.usize(1..data.len());
                o.append(spec, session, offset, data.slice(..keep), false)
                    .await?;
                return Err(self.injected(&format!(
                    "append at {offset} landed {keep} of {} bytes, then the connection broke",
                    data.len()
                )));
            }
            // Too short to land a part of: it fails before sending.
            Fault::Partial => Fault::Before,
            f => f,
        };
        let what = format!("append at {offset}");
        self.part_request(fault, &what, || o.append(spec, session, offset, data, last))
            .await
    }

    async fn finish(&self, spec: &UploadSpec, session: &Session) -> Result<ObjectMeta> {
        let call = self.offset().map(|o| o.finish(spec, session));
        self.ambiguous_end(Op::Finish, &spec.key, "finish", call)
            .await
    }

    async fn cancel(&self, spec: &UploadSpec, session: &Session) -> Result<()> {
        let call = self.offset().map(|o| o.cancel(spec, session));
        self.counted(&self.counters.aborts, call).await
    }
}

/// `stream`'s first `keep` bytes, then `error` (the rest is never read).
fn cut_after(stream: ByteStream, keep: u64, error: Error) -> ByteStream {
    use futures::StreamExt as _;
    let state = (stream, keep, Some(error));
    Box::pin(futures::stream::unfold(
        state,
        |(mut stream, left, error)| async move {
            let error = error?;
            if left == 0 {
                return Some((Err(error), (stream, 0, None)));
            }
            match stream.next().await {
                Some(Ok(chunk)) => {
                    let n = (chunk.len() as u64).min(left);
                    let piece = chunk.slice(..n as usize);
                    Some((Ok(piece), (stream, left - n, Some(error))))
                }
                // The inner body ended or failed first: pass that on.
                Some(Err(e)) => Some((Err(e), (stream, 0, None))),
                None => None,
            }
        },
    ))
}
