//! The conformance suite every adapter runs.
//!
//! Each check is a plain `pub async fn(&dyn Fixture)` that panics on a violation, so an adapter
//! can run them one per test (see [`conformance_tests!`](crate::conformance_tests)) or all at
//! once with [`run_all`]. Checks work under their own unique key prefix, so they can share a
//! store and run in parallel.
//!
//! Checks are gated by the adapter's declared [`Capabilities`]: where a capability is absent,
//! the check asserts the operation fails with [`ErrorKind::NotSupported`] **before any provider
//! call** (it counts calls through a [`FaultyAdapter`] that injects nothing). Part sizes follow
//! the adapter's `upload_family().rules()`, kept small (64 KiB where allowed) so the suite is
//! fast.
//!
//! Waits use a generous 60 s [`hang guard`](HANG_GUARD): it catches a hang, it is not a speed
//! assertion.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::future::IntoFuture;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use files_core::token::{ResumeToken, TOKEN_VERSION, TokenFamily};
use files_core::{
    Body, ByteStream, Bytes, CancellationToken, Capabilities, Error, ErrorKind, Files, ListRequest,
    PartRules, Progress, Result, Resumability, UploadControl, UploadFamily, UploadOutcome,
    UploadSpec, UploadStatus,
};
use futures::{FutureExt, StreamExt, TryStreamExt};

use crate::fault::FaultyAdapter;
use crate::util::{assert_object_eq, part_size_for, random_bytes, sha256_hex, unique_prefix};

/// How long any single wait of the suite may take before it is called a hang.
pub const HANG_GUARD: Duration = Duration::from_secs(60);

/// What the suite needs from an adapter's test: a name and fresh clients over one store.
#[async_trait]
pub trait Fixture: Send + Sync {
    /// A name for messages (`fs`, `memory`, ...).
    fn name(&self) -> &str;

    /// A **new** client over the same store on every call, built as a new process would build
    /// it (a resume "in a new process" uses one).
    async fn client(&self) -> Files;

    /// What the store still holds of the upload session `token` names (part files, staging
    /// objects...): names of leftovers, empty when nothing remains, `None` when this fixture
    /// cannot observe it. The default cannot.
    async fn leftovers(&self, token: &ResumeToken) -> Option<Vec<String>> {
        let _ = token;
        None
    }
}

/// The names of every check, in the order [`run_all`] runs them.
pub const CHECKS: &[&str] = &[
    "round_trips",
    "overwrite_replaces",
    "head_and_exists",
    "ranges",
    "parallel_download",
    "delete",
    "copy_and_rename",
    "list_prefix_and_delimiter",
    "list_pagination",
    "list_all_stream",
    "key_validation",
    "metadata_and_content_type",
    "capability_gates",
    "pause_resume",
    "resume_from_token_in_new_client",
    "abort_cleans_session",
    "cancel_while_paused",
    "changed_body_on_resume",
    "tampered_tokens",
    "progress_monotonic",
    "checkpoint_file",
    "stream_bodies",
    "refused_part_sizes",
    "concurrent_control_use",
    "refused_input_keeps_earlier_object",
    "doctored_session_tokens",
];

/// Runs every check (each under its own prefix, one after the other), then panics listing every
/// check that failed, with its message.
pub async fn run_all(fixture: &dyn Fixture) {
    let mut failed: Vec<(&str, String)> = Vec::new();
    macro_rules! run {
        ($($check:ident),* $(,)?) => {$(
            if let Err(panic) = AssertUnwindSafe($check(fixture)).catch_unwind().await {
                failed.push((stringify!($check), panic_message(&*panic)));
            }
        )*};
    }
    run!(
        round_trips,
        overwrite_replaces,
        head_and_exists,
        ranges,
        parallel_download,
        delete,
        copy_and_rename,
        list_prefix_and_delimiter,
        list_pagination,
        list_all_stream,
        key_validation,
        metadata_and_content_type,
        capability_gates,
        pause_resume,
        resume_from_token_in_new_client,
        abort_cleans_session,
        cancel_while_paused,
        changed_body_on_resume,
        tampered_tokens,
        progress_monotonic,
        checkpoint_file,
        stream_bodies,
        refused_part_sizes,
        concurrent_control_use,
        refused_input_keeps_earlier_object,
        doctored_session_tokens,
    );
    if !failed.is_empty() {
        let list: Vec<String> = failed
            .iter()
            .map(|(name, msg)| format!("  {name}: {msg}"))
            .collect();
        panic!(
            "{} of {} conformance checks failed for `{}`:\n{}",
            failed.len(),
            CHECKS.len(),
            fixture.name(),
            list.join("\n")
        );
    }
}

/// Generates one `#[tokio::test]` per conformance check, each building its own fixture with
/// `$fixture` (an expression evaluated once per test). The calling crate needs `tokio` with the
/// `macros` and `rt-multi-thread` features.
///
/// ```ignore
/// files_testkit::conformance_tests!(my_fixture());
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($fixture:expr) => {
        $crate::conformance_tests!(@each $fixture;
            round_trips,
            overwrite_replaces,
            head_and_exists,
            ranges,
            parallel_download,
            delete,
            copy_and_rename,
            list_prefix_and_delimiter,
            list_pagination,
            list_all_stream,
            key_validation,
            metadata_and_content_type,
            capability_gates,
            pause_resume,
            resume_from_token_in_new_client,
            abort_cleans_session,
            cancel_while_paused,
            changed_body_on_resume,
            tampered_tokens,
            progress_monotonic,
            checkpoint_file,
            stream_bodies,
            refused_part_sizes,
            concurrent_control_use,
            refused_input_keeps_earlier_object,
            doctored_session_tokens,
        );
    };
    (@each $fixture:expr; $($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            let fixture = $fixture;
            $crate::conformance::$check(&fixture).await;
        }
    )*};
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "(non-string panic)".to_string()
    }
}

// ------------------------------------------------------------------------------------ helpers

/// Everything a check needs: a client, what the adapter says about itself, a part size, and a
/// unique prefix.
struct Ctx {
    name: String,
    files: Files,
    caps: Capabilities,
    rules: PartRules,
    family: &'static str,
    resumable: Resumability,
    /// A small part size the adapter accepts.
    ps: u64,
    prefix: String,
}

impl Ctx {
    /// The context of `check`. Panics first if the adapter's declared resumability disagrees
    /// with its upload family: every check gates on one or the other, so such an adapter would
    /// otherwise pass checks it never ran.
    async fn new(fixture: &dyn Fixture, check: &str) -> Ctx {
        let files = fixture.client().await;
        let adapter = files.adapter().clone();
        let family = adapter.upload_family();
        let rules = family.rules();
        assert_declared_resumability(fixture.name(), &files.capabilities(), &family);
        Ctx {
            name: fixture.name().to_string(),
            caps: files.capabilities(),
            family: family.name(),
            resumable: family.resumability(),
            ps: part_size_for(&rules, 64 * 1024),
            rules,
            prefix: unique_prefix(check),
            files,
        }
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A client whose calls are counted (nothing injected).
    fn counting(&self) -> (Files, Arc<FaultyAdapter>) {
        let fa = Arc::new(FaultyAdapter::counting(self.files.adapter().clone()));
        (Files::from_arc(fa.clone()), fa)
    }

    fn resumable(&self) -> bool {
        self.resumable != Resumability::None
    }

    fn multi_part(&self) -> bool {
        self.family != "one_shot"
    }

    /// A seeded body of `parts` full parts and a tail of `tail` bytes.
    fn body(&self, seed: u64, parts: u64, tail: u64) -> Bytes {
        Bytes::from(random_bytes(seed, (self.ps * parts + tail) as usize))
    }
}

/// Panics unless `Capabilities::resumable` says what the upload family does. A one-shot
/// adapter has no session to pause, resume or discard: declaring resumable uploads on one tells
/// callers (the CLI decides whether to offer a checkpoint from it) something the scheduler then
/// refuses, and would let the resumable checks pass by skipping everything they check.
#[track_caller]
fn assert_declared_resumability(name: &str, caps: &Capabilities, family: &UploadFamily<'_>) {
    let declared = caps.resumable;
    let actual = family.resumability();
    if declared == actual {
        return;
    }
    if matches!(family, UploadFamily::OneShot) {
        panic!(
            "[{name}] the adapter declares resumable uploads (`Capabilities::resumable` = \
             {declared:?}) but its upload family is one-shot (`Adapter::upload_family` returns \
             `UploadFamily::OneShot`), which has no session to resume: implement the parts or \
             offset family, or declare `Resumability::None`"
        );
    }
    panic!(
        "[{name}] the adapter declares `Capabilities::resumable` = {declared:?} but its `{}` \
         upload family says {actual:?} (`resumability()`): the two must agree",
        family.name()
    );
}

/// Waits for `fut`, failing the check if it takes longer than [`HANG_GUARD`].
async fn no_hang<T>(what: &str, fut: impl IntoFuture<Output = T>) -> T {
    match tokio::time::timeout(HANG_GUARD, fut.into_future()).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within {HANG_GUARD:?} (hang)"),
    }
}

/// Asserts `result` failed with `kind`; returns the error.
#[track_caller]
fn expect_kind<T: Debug>(result: Result<T>, kind: ErrorKind, what: &str) -> Error {
    match result {
        Ok(v) => panic!("{what}: expected an error of kind {kind}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(
                e.kind(),
                kind,
                "{what}: expected an error of kind {kind}, got {e}"
            );
            e
        }
    }
}

#[track_caller]
fn expect_ok<T>(result: Result<T>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Asserts no call reached the provider through `counter`.
#[track_caller]
fn assert_no_provider_call(counter: &FaultyAdapter, what: &str) {
    let c = counter.counts();
    assert_eq!(
        c.provider_calls(),
        0,
        "{what}: the request should fail before any provider call, but calls were made: {c:?}"
    );
}

async fn upload_plain(c: &Ctx, key: &str, body: &Bytes) -> UploadOutcome {
    no_hang(
        "upload",
        c.files
            .upload(key, Body::from_bytes(body.clone()))
            .part_size(c.ps)
            .concurrency(3),
    )
    .await
    .unwrap_or_else(|e| panic!("[{}] upload of {key} failed: {e}", c.name))
}

async fn upload_small(c: &Ctx, key: &str, data: &[u8]) {
    upload_plain(c, key, &Bytes::copy_from_slice(data)).await;
}

/// Starts an upload of `body` to `key` with `control` and `cancel`, cancels it from the progress
/// callback once `after` bytes landed, and returns the token it leaves.
async fn cancelled_upload(c: &Ctx, key: &str, body: &Bytes, after: u64) -> ResumeToken {
    let control = UploadControl::new();
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let result = no_hang(
        "cancelled upload",
        c.files
            .upload(key, Body::from_bytes(body.clone()))
            .part_size(c.ps)
            .concurrency(2)
            .control(control.clone())
            .cancellation(cancel.clone())
            .on_progress(move |p| {
                if p.loaded >= after {
                    trigger.cancel();
                }
            }),
    )
    .await;
    expect_kind(result, ErrorKind::Cancelled, "an upload cancelled mid-way");
    assert_eq!(
        control.status(),
        UploadStatus::Error,
        "status after a cancelled upload"
    );
    let token = control
        .token()
        .expect("a cancelled upload keeps its session: control.token() must be Some");
    assert_eq!(token.key, key, "the token names the upload's key");
    assert_eq!(token.total, body.len() as u64);
    // Tokens are data: they survive a JSON round trip unchanged.
    let back = ResumeToken::from_json(&token.to_json()).expect("the token parses back");
    assert_eq!(back.key, token.key);
    back
}

fn landed_offset_in_token(token: &ResumeToken) -> u64 {
    match token.family {
        TokenFamily::Offset => token.landed.parse().unwrap_or(0),
        TokenFamily::Parts => token
            .landed_parts()
            .iter()
            .map(|n| {
                let off = u64::from(n - 1) * token.part_size;
                token.part_size.min(token.total - off)
            })
            .sum(),
    }
}

/// A byte offset inside a part the token says landed.
fn offset_inside_landed(token: &ResumeToken) -> u64 {
    match token.family {
        TokenFamily::Offset => {
            let landed: u64 = token.landed.parse().unwrap_or(0);
            assert!(landed > 0, "the token says nothing landed: {token:?}");
            landed / 2
        }
        TokenFamily::Parts => {
            let n = *token
                .landed_parts()
                .first()
                .unwrap_or_else(|| panic!("the token says no part landed: {token:?}"));
            u64::from(n - 1) * token.part_size + token.part_size / 2
        }
    }
}

fn spec_of(token: &ResumeToken) -> UploadSpec {
    UploadSpec {
        key: token.key.clone(),
        total: token.total,
        part_size: token.part_size,
        options: Default::default(),
    }
}

/// Asks the provider directly whether the session a token names still exists; it must not.
async fn assert_session_gone(files: &Files, token: &ResumeToken, what: &str) {
    let spec = spec_of(token);
    let adapter = files.adapter();
    let probe: Result<String> = match adapter.upload_family() {
        UploadFamily::Parts(p) => p
            .probe(&spec, &token.session)
            .await
            .map(|v| format!("{} parts", v.len())),
        UploadFamily::Offset(o) => o
            .probe(&spec, &token.session)
            .await
            .map(|s| format!("{s:?}")),
        // A token with a session, from an adapter whose family has none: nothing can tell
        // whether that session is gone, and passing silently would hide the inconsistency.
        UploadFamily::OneShot => panic!(
            "{what}: the upload left a resume token, but the adapter's upload family is \
             one-shot, so its session cannot be probed (an adapter that hands out tokens must \
             implement the parts or offset family)"
        ),
    };
    match probe {
        Ok(state) => panic!("{what}: the aborted session still exists at the provider ({state})"),
        Err(e) => assert!(
            matches!(e.kind(), ErrorKind::SessionExpired | ErrorKind::NotFound),
            "{what}: probing an aborted session should say it is gone (session_expired or not_found), got {e}"
        ),
    }
}

async fn assert_absent(files: &Files, key: &str, what: &str) {
    let exists = expect_ok(files.exists(key).await, what);
    assert!(!exists, "{what}: {key} should not exist");
}

fn stream_of(data: &Bytes, chunk: usize) -> ByteStream {
    let chunks: Vec<Result<Bytes>> = (0..data.len())
        .step_by(chunk.max(1))
        .map(|off| Ok(data.slice(off..(off + chunk).min(data.len()))))
        .collect();
    futures::stream::iter(chunks).boxed()
}

// ------------------------------------------------------------------------------------- checks

/// Round trips of 0 bytes, 1 byte, less than a part, an exact multiple of the part size and
/// several parts with a tail, from memory and from a file, compared by SHA-256; `head` agrees.
pub async fn round_trips(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "round-trips").await;
    let ps = c.ps;
    let sizes = [0, 1, ps - 1, ps * 2, ps * 3 + ps / 3 + 7];
    for (i, &size) in sizes.iter().enumerate() {
        let body = Bytes::from(random_bytes(1000 + i as u64, size as usize));
        let key = c.key(&format!("obj-{size}"));
        let out = upload_plain(&c, &key, &body).await;
        assert_eq!(out.meta.size, size, "outcome size of {key}");
        assert_eq!(
            out.bytes_sent, size,
            "bytes_sent of a fresh upload of {key}"
        );
        assert_eq!(out.bytes_resumed, 0, "bytes_resumed of a fresh upload");
        assert!(!out.resumed, "a fresh upload is not resumed");
        let head = expect_ok(c.files.head(&key).await, "head after upload");
        assert_eq!(head.size, size, "head size of {key}");
        assert_eq!(head.key, key, "head key");
        assert_object_eq(&c.files, &key, &body).await;
    }

    // A file body (read by position).
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("body.bin");
    let body = c.body(77, 2, 1234);
    std::fs::write(&path, &body).expect("write body file");
    let key = c.key("from-file");
    let out = no_hang(
        "file upload",
        c.files
            .upload(
                &key,
                expect_ok(Body::from_path(&path).await, "open body file"),
            )
            .part_size(ps)
            .concurrency(2),
    )
    .await;
    assert_eq!(
        expect_ok(out, "upload from a file").meta.size,
        body.len() as u64
    );
    assert_object_eq(&c.files, &key, &body).await;

    // A new client over the same store sees the same bytes.
    let other = fixture.client().await;
    assert_object_eq(&other, &key, &body).await;
}

/// Uploading to an existing key replaces the object entirely (a shorter body leaves no stale
/// tail), for single-request and multi-part uploads.
pub async fn overwrite_replaces(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "overwrite").await;
    let key = c.key("obj");
    let big = c.body(1, 4, 100);
    let small = Bytes::from(random_bytes(2, 10));
    let medium = c.body(3, 2, 5);
    upload_plain(&c, &key, &big).await;
    assert_object_eq(&c.files, &key, &big).await;
    upload_plain(&c, &key, &small).await;
    assert_object_eq(&c.files, &key, &small).await;
    upload_plain(&c, &key, &medium).await;
    assert_object_eq(&c.files, &key, &medium).await;
    let head = expect_ok(c.files.head(&key).await, "head");
    assert_eq!(head.size, medium.len() as u64);
}

/// `head` of a missing key is not found and `exists` is false; `exists` is false *only* on not
/// found (an invalid key is an error, not `false`); after an upload both agree.
pub async fn head_and_exists(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "head-exists").await;
    let key = c.key("obj");
    expect_kind(
        c.files.head(&key).await,
        ErrorKind::NotFound,
        "head of a missing key",
    );
    assert!(!expect_ok(
        c.files.exists(&key).await,
        "exists of a missing key"
    ));
    expect_kind(
        c.files.download(&key).await,
        ErrorKind::NotFound,
        "download of a missing key",
    );
    expect_kind(
        c.files.exists(&c.key("a//b")).await,
        ErrorKind::InvalidInput,
        "exists with an invalid key must be an error, not false",
    );
    let body = Bytes::from(random_bytes(5, 4321));
    upload_plain(&c, &key, &body).await;
    assert!(expect_ok(c.files.exists(&key).await, "exists after upload"));
    let meta = expect_ok(c.files.head(&key).await, "head after upload");
    assert_eq!(meta.size, 4321);
    assert_eq!(meta.key, key);
    // A key that is a prefix of an existing key is not an object.
    assert!(!expect_ok(
        c.files.exists(&c.key("ob")).await,
        "exists of a key prefix"
    ));
    let dl = expect_ok(c.files.download(&key).await, "download");
    assert_eq!(dl.meta().size, 4321, "download meta size");
    assert_eq!(dl.range(), 0..4321, "a full download's range");
}

/// Byte ranges: start, middle, tail, open-ended, inclusive, clipped; out-of-range and empty
/// ranges are invalid input. Without `range_read`, any range is refused before a provider call.
pub async fn ranges(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "ranges").await;
    let key = c.key("obj");
    let body = Bytes::from(random_bytes(9, 10_000));
    upload_plain(&c, &key, &body).await;
    if !c.caps.range_read {
        let (files, counter) = c.counting();
        expect_kind(
            files.download(&key).range(0..10).await,
            ErrorKind::NotSupported,
            "range download without range_read",
        );
        assert_no_provider_call(&counter, "range download without range_read");
        return;
    }
    let cases: Vec<(files_core::ByteRange, std::ops::Range<u64>)> = vec![
        ((0..10).into(), 0..10),
        ((4000..4100).into(), 4000..4100),
        ((9990..10_000).into(), 9990..10_000),
        ((9000..).into(), 9000..10_000),
        ((0..=0).into(), 0..1),
        ((9999..).into(), 9999..10_000),
        ((5000..20_000).into(), 5000..10_000),
    ];
    for (range, expected) in cases {
        let dl = expect_ok(
            c.files.download(&key).range(range).await,
            &format!("download of range {range:?}"),
        );
        assert_eq!(dl.range(), expected, "served range of {range:?}");
        assert_eq!(dl.meta().size, 10_000, "meta size of a range download");
        let got = expect_ok(dl.bytes().await, "range bytes");
        assert_eq!(
            &got[..],
            &body[expected.start as usize..expected.end as usize],
            "bytes of range {range:?}"
        );
    }
    for bad in [
        files_core::ByteRange::from(10_000..),
        (20_000..20_010).into(),
        (5..5).into(),
        files_core::ByteRange {
            start: 7,
            end: Some(3),
        },
    ] {
        expect_kind(
            c.files.download(&key).range(bad).await.map(|_| ()),
            ErrorKind::InvalidInput,
            &format!("unsatisfiable range {bad:?}"),
        );
    }
    expect_kind(
        c.files.download(c.key("missing")).range(0..1).await,
        ErrorKind::NotFound,
        "range of a missing key",
    );
}

/// A parallel download (`.concurrency(4)` over small ranges) yields exactly the object's bytes,
/// in order, for the whole object and for sub-ranges; an unsatisfiable range is still invalid
/// input and a missing key still not found. Where the provider cannot read ranges it is one
/// request, with the same bytes.
pub async fn parallel_download(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "parallel-download").await;
    let key = c.key("obj");
    let size = 100_003u64;
    let body = Bytes::from(random_bytes(10, size as usize));
    upload_plain(&c, &key, &body).await;
    let mut cases: Vec<(Option<files_core::ByteRange>, std::ops::Range<u64>)> =
        vec![(None, 0..size)];
    if c.caps.range_read {
        cases.push((Some((1_000..90_001).into()), 1_000..90_001));
        cases.push((Some((99_000..).into()), 99_000..size));
        cases.push((Some((5..7_000).into()), 5..7_000));
    }
    for (range, expected) in cases {
        let what = format!("parallel download of {range:?}");
        let mut dl = c.files.download(&key).concurrency(4).chunk_size(7_919);
        if let Some(r) = range {
            dl = dl.range(r);
        }
        let dl = expect_ok(no_hang(&what, dl).await, &what);
        assert_eq!(dl.range(), expected, "[{}] served range of {what}", c.name);
        assert_eq!(dl.meta().size, size, "[{}] meta size of {what}", c.name);
        let got = expect_ok(no_hang(&what, dl.bytes()).await, &what);
        assert_eq!(
            sha256_hex(&got),
            sha256_hex(&body[expected.start as usize..expected.end as usize]),
            "[{}] bytes of {what} ({} bytes)",
            c.name,
            got.len()
        );
    }
    if c.caps.range_read {
        expect_kind(
            c.files
                .download(&key)
                .concurrency(4)
                .range(200_000..)
                .await
                .map(|_| ()),
            ErrorKind::InvalidInput,
            "an unsatisfiable range, in parallel",
        );
    }
    expect_kind(
        c.files.download(c.key("missing")).concurrency(4).await,
        ErrorKind::NotFound,
        "a parallel download of a missing key",
    );
}

/// Deleting removes the object (head, exists, download agree) and nothing else; deleting an
/// absent key succeeds.
pub async fn delete(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "delete").await;
    let key = c.key("a");
    let sibling = c.key("ab");
    expect_ok(c.files.delete(&key).await, "delete of an absent key");
    upload_small(&c, &key, b"to be deleted").await;
    upload_small(&c, &sibling, b"stays").await;
    expect_ok(c.files.delete(&key).await, "delete");
    assert_absent(&c.files, &key, "after delete").await;
    expect_kind(
        c.files.head(&key).await,
        ErrorKind::NotFound,
        "head after delete",
    );
    expect_kind(
        c.files.download(&key).await,
        ErrorKind::NotFound,
        "download after delete",
    );
    expect_ok(c.files.delete(&key).await, "second delete");
    assert_object_eq(&c.files, &sibling, b"stays").await;
}

/// Copy keeps the source and writes the same bytes; rename moves (source gone); both overwrite
/// an existing destination; a missing source is not found.
pub async fn copy_and_rename(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "copy-rename").await;
    let src = c.key("src");
    let dst = c.key("sub/dst");
    let moved = c.key("moved/here");
    let body = c.body(11, 2, 333);
    upload_plain(&c, &src, &body).await;
    upload_small(&c, &dst, b"old destination content, longer than nothing").await;

    let meta = expect_ok(no_hang("copy", c.files.copy(&src, &dst)).await, "copy");
    assert_eq!(meta.size, body.len() as u64, "copy's meta size");
    assert_object_eq(&c.files, &src, &body).await;
    assert_object_eq(&c.files, &dst, &body).await;

    expect_ok(
        no_hang("rename", c.files.rename(&dst, &moved)).await,
        "rename",
    );
    assert_absent(&c.files, &dst, "rename source").await;
    assert_object_eq(&c.files, &moved, &body).await;
    assert_object_eq(&c.files, &src, &body).await;

    // Rename onto an existing object replaces it.
    let small = Bytes::from_static(b"replacement");
    let src2 = c.key("src2");
    upload_plain(&c, &src2, &small).await;
    expect_ok(
        c.files.rename(&src2, &moved).await,
        "rename onto an existing key",
    );
    assert_object_eq(&c.files, &moved, &small).await;
    assert_absent(&c.files, &src2, "rename source").await;

    // Without server-side copy and native rename, the client streams the object through
    // itself: the same results, for an object larger than the default part size too.
    let mut caps = c.caps.clone();
    caps.server_side_copy = false;
    caps.native_rename = false;
    let fallback = Files::from_arc(Arc::new(
        FaultyAdapter::counting(c.files.adapter().clone()).with_capabilities(caps),
    ));
    let mut sizes = vec![body.len()];
    if c.multi_part() && c.rules.default_part_size <= (16 << 20) {
        sizes.push(c.rules.default_part_size as usize + 1000);
    }
    for size in sizes {
        let data = Bytes::from(random_bytes(size as u64, size));
        let a = c.key(&format!("fallback/{size}/a"));
        let b = c.key(&format!("fallback/{size}/b"));
        let d = c.key(&format!("fallback/{size}/d"));
        upload_plain(&c, &a, &data).await;
        let meta = expect_ok(
            no_hang("fallback copy", fallback.copy(&a, &b)).await,
            &format!("copy by streaming ({size} bytes, no server-side copy)"),
        );
        assert_eq!(meta.size, size as u64);
        assert_object_eq(&c.files, &a, &data).await;
        assert_object_eq(&c.files, &b, &data).await;
        expect_ok(
            no_hang("fallback rename", fallback.rename(&b, &d)).await,
            &format!("rename by copy and delete ({size} bytes)"),
        );
        assert_absent(&c.files, &b, "fallback rename source").await;
        assert_object_eq(&c.files, &d, &data).await;
    }

    expect_kind(
        c.files.copy(&c.key("missing"), &c.key("x")).await,
        ErrorKind::NotFound,
        "copy of a missing key",
    );
    expect_kind(
        c.files.rename(&c.key("missing"), &c.key("y")).await,
        ErrorKind::NotFound,
        "rename of a missing key",
    );
    assert_absent(&c.files, &c.key("x"), "copy of a missing key").await;
    assert_absent(&c.files, &c.key("y"), "rename of a missing key").await;
}

async fn make_tree(c: &Ctx, names: &[&str]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let key = c.key(name);
        let data = random_bytes(i as u64, i + 1);
        upload_small(c, &key, &data).await;
        out.insert(key, data.len() as u64);
    }
    out
}

/// Listing by prefix (string prefix, recursive, ordered, with sizes), and with a `/` delimiter
/// (objects directly under the prefix plus common prefixes), or refused without
/// `list_delimiter`.
pub async fn list_prefix_and_delimiter(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "list").await;
    let names = ["a.txt", "b/1", "b/2", "c/d/e", "z"];
    let expected = make_tree(&c, &names).await;
    // A sibling that shares the prefix as a string but not as a directory.
    let stem = c.prefix.trim_end_matches('/').to_string();
    let sibling = format!("{stem}-sibling/x");
    upload_small(&c, &sibling, b"sibling").await;

    let page = expect_ok(
        c.files
            .list(&ListRequest {
                prefix: c.prefix.clone(),
                ..ListRequest::default()
            })
            .await,
        "list by prefix",
    );
    let got: Vec<(String, u64)> = page
        .objects
        .iter()
        .map(|o| (o.key.clone(), o.size))
        .collect();
    let want: Vec<(String, u64)> = expected.clone().into_iter().collect();
    assert_eq!(
        got, want,
        "listing of {} (recursive, in key order, sizes)",
        c.prefix
    );
    assert!(
        page.prefixes.is_empty(),
        "no common prefixes without a delimiter"
    );
    assert!(page.cursor.is_none(), "a short listing has one page");

    // A prefix that is not on a `/` boundary is a plain string prefix.
    let page = expect_ok(
        c.files
            .list(&ListRequest {
                prefix: stem.clone(),
                ..ListRequest::default()
            })
            .await,
        "list by a string prefix",
    );
    let keys: BTreeSet<String> = page.objects.iter().map(|o| o.key.clone()).collect();
    let mut want: BTreeSet<String> = expected.keys().cloned().collect();
    want.insert(sibling.clone());
    assert_eq!(keys, want, "listing of the string prefix {stem}");

    // Nothing under an unused prefix.
    let page = expect_ok(
        c.files
            .list(&ListRequest {
                prefix: c.key("nothing-here/"),
                ..ListRequest::default()
            })
            .await,
        "list of an empty prefix",
    );
    assert!(page.objects.is_empty() && page.prefixes.is_empty() && page.cursor.is_none());

    let delimited = ListRequest {
        prefix: c.prefix.clone(),
        delimiter: Some("/".into()),
        ..ListRequest::default()
    };
    if !c.caps.list_delimiter {
        let (files, counter) = c.counting();
        expect_kind(
            files.list(&delimited).await,
            ErrorKind::NotSupported,
            "list with a delimiter without list_delimiter",
        );
        assert_no_provider_call(&counter, "list with a delimiter");
        return;
    }
    let page = expect_ok(c.files.list(&delimited).await, "list with a delimiter");
    let objects: Vec<String> = page.objects.iter().map(|o| o.key.clone()).collect();
    assert_eq!(
        objects,
        vec![c.key("a.txt"), c.key("z")],
        "objects directly under the prefix"
    );
    assert_eq!(
        page.prefixes,
        vec![c.key("b/"), c.key("c/")],
        "common prefixes"
    );
    assert!(page.cursor.is_none());

    let page = expect_ok(
        c.files
            .list(&ListRequest {
                prefix: c.key("c/"),
                delimiter: Some("/".into()),
                ..ListRequest::default()
            })
            .await,
        "list a nested prefix with a delimiter",
    );
    assert!(page.objects.is_empty(), "no object directly under c/");
    assert_eq!(page.prefixes, vec![c.key("c/d/")]);
}

/// Pagination with a small limit: every page within the limit, the cursor carried across pages
/// until it is `None`, every key exactly once, in order; the same with a delimiter.
pub async fn list_pagination(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "paging").await;
    let names = [
        "k0", "k1", "k2", "k3", "k4", "k5", "k6", "sub/x", "sub/y", "tub/z",
    ];
    let expected = make_tree(&c, &names).await;

    for limit in [1usize, 2, 3] {
        let mut seen: Vec<String> = Vec::new();
        let mut req = ListRequest {
            prefix: c.prefix.clone(),
            limit: Some(limit),
            ..ListRequest::default()
        };
        let mut pages = 0;
        loop {
            pages += 1;
            assert!(
                pages <= 100,
                "limit {limit}: the listing never ends (cursor loop)"
            );
            let page = expect_ok(c.files.list(&req).await, "list page");
            assert!(
                page.objects.len() + page.prefixes.len() <= limit,
                "limit {limit}: a page holds {} entries",
                page.objects.len() + page.prefixes.len()
            );
            assert!(
                !page.objects.is_empty() || page.cursor.is_none(),
                "limit {limit}: an empty page must be the last"
            );
            seen.extend(page.objects.iter().map(|o| o.key.clone()));
            match page.cursor {
                Some(cursor) => req.cursor = Some(cursor),
                None => break,
            }
        }
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "limit {limit}: duplicates across pages: {seen:?}"
        );
        let want: Vec<String> = expected.keys().cloned().collect();
        assert_eq!(
            seen, want,
            "limit {limit}: keys across pages (missing, extra or out of order)"
        );
    }

    if c.caps.list_delimiter {
        let full = expect_ok(
            c.files
                .list(&ListRequest {
                    prefix: c.prefix.clone(),
                    delimiter: Some("/".into()),
                    ..ListRequest::default()
                })
                .await,
            "delimited listing",
        );
        let mut objects = Vec::new();
        let mut prefixes = Vec::new();
        let mut req = ListRequest {
            prefix: c.prefix.clone(),
            delimiter: Some("/".into()),
            limit: Some(2),
            ..ListRequest::default()
        };
        for _ in 0..100 {
            let page = expect_ok(c.files.list(&req).await, "delimited page");
            assert!(page.objects.len() + page.prefixes.len() <= 2);
            objects.extend(page.objects.into_iter().map(|o| o.key));
            prefixes.extend(page.prefixes);
            match page.cursor {
                Some(cursor) => req.cursor = Some(cursor),
                None => {
                    req.cursor = None;
                    break;
                }
            }
        }
        assert!(req.cursor.is_none(), "the delimited listing never ends");
        let full_objects: Vec<String> = full.objects.into_iter().map(|o| o.key).collect();
        assert_eq!(objects, full_objects, "delimited objects across pages");
        assert_eq!(
            prefixes, full.prefixes,
            "common prefixes across pages (each once)"
        );
        assert_eq!(prefixes, vec![c.key("sub/"), c.key("tub/")]);
    }
}

/// `list_all` streams every object under the prefix, across pages, once each.
pub async fn list_all_stream(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "list-all").await;
    let names: Vec<String> = (0..25).map(|i| format!("d{}/f{i:02}", i % 3)).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let expected = make_tree(&c, &refs).await;
    let got: Vec<files_core::ObjectMeta> = expect_ok(
        no_hang("list_all", c.files.list_all(c.prefix.clone()).try_collect()).await,
        "list_all",
    );
    let got: BTreeMap<String, u64> = got.into_iter().map(|o| (o.key, o.size)).collect();
    assert_eq!(got, expected, "list_all of {}", c.prefix);
    let none: Vec<files_core::ObjectMeta> = expect_ok(
        c.files.list_all(c.key("nope/")).try_collect().await,
        "list_all of an empty prefix",
    );
    assert!(none.is_empty());
}

/// Invalid keys (`..`, absolute, NUL, `a//b`, 1025 bytes, empty) are invalid input for every
/// operation, before any provider call; unusual but valid keys round trip.
pub async fn key_validation(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "keys").await;
    let good = c.key("good");
    upload_small(&c, &good, b"good").await;
    let long = "x".repeat(1025);
    let bad_keys = [
        c.key("a/../b"),
        "../escape".to_string(),
        c.key(".."),
        "/absolute/key".to_string(),
        c.key("nul\0byte"),
        c.key("a//b"),
        c.key("back\\slash"),
        c.key("./dot"),
        c.key("dot/."),
        long,
        String::new(),
    ];
    let (files, counter) = c.counting();
    for bad in &bad_keys {
        let what = |op: &str| format!("{op} with invalid key {bad:?}");
        expect_kind(
            files.upload(bad.clone(), Body::from("x")).await,
            ErrorKind::InvalidInput,
            &what("upload"),
        );
        expect_kind(
            files.head(bad).await,
            ErrorKind::InvalidInput,
            &what("head"),
        );
        expect_kind(
            files.exists(bad).await,
            ErrorKind::InvalidInput,
            &what("exists"),
        );
        expect_kind(
            files.download(bad.clone()).await,
            ErrorKind::InvalidInput,
            &what("download"),
        );
        expect_kind(
            files.delete(bad).await,
            ErrorKind::InvalidInput,
            &what("delete"),
        );
        expect_kind(
            files.copy(&good, bad).await,
            ErrorKind::InvalidInput,
            &what("copy to"),
        );
        expect_kind(
            files.copy(bad, &good).await,
            ErrorKind::InvalidInput,
            &what("copy from"),
        );
        expect_kind(
            files.rename(&good, bad).await,
            ErrorKind::InvalidInput,
            &what("rename to"),
        );
        expect_kind(
            files.rename(bad, &good).await,
            ErrorKind::InvalidInput,
            &what("rename from"),
        );
    }
    assert_no_provider_call(&counter, "operations on invalid keys");
    assert_object_eq(&c.files, &good, b"good").await;

    // Unusual but valid keys.
    let mut long_ok = c.prefix.clone();
    while long_ok.len() < 1024 {
        let room = 1024 - long_ok.len();
        let seg = room.min(120);
        if room > seg {
            long_ok.push_str(&"k".repeat(seg - 1));
            long_ok.push('/');
        } else {
            long_ok.push_str(&"k".repeat(seg));
        }
    }
    assert_eq!(long_ok.len(), 1024);
    for key in [
        c.key("ünïcødé/ñame.txt"),
        c.key("a..b"),
        c.key("with space"),
        c.key("dots.in.name.tar.gz"),
        long_ok,
    ] {
        let data = key.as_bytes().to_vec();
        upload_small(&c, &key, &data).await;
        assert_object_eq(&c.files, &key, &data).await;
        let listed: Vec<String> = expect_ok(
            c.files
                .list_all(key.clone())
                .map_ok(|o| o.key)
                .try_collect()
                .await,
            "list_all of a valid unusual key",
        );
        assert!(
            listed.contains(&key),
            "{key:?} is listed under itself: {listed:?}"
        );
    }

    // One segment longer than most file systems allow (255 bytes): stored byte-exact, or
    // refused as invalid input, never another kind of failure or a damaged neighbour.
    let long_segment = c.key(&"n".repeat(300));
    let data = Bytes::from(random_bytes(7, 1000));
    match no_hang(
        "a 300-byte segment",
        c.files
            .upload(long_segment.clone(), Body::from_bytes(data.clone())),
    )
    .await
    {
        Ok(_) => assert_object_eq(&c.files, &long_segment, &data).await,
        Err(e) => assert_eq!(
            e.kind(),
            ErrorKind::InvalidInput,
            "[{}] a 300-byte key segment: expected success or invalid input, got {e}",
            c.name
        ),
    }
    assert_object_eq(&c.files, &good, b"good").await;
}

/// Content type, cache control and user metadata round trip through `head` and downloads where
/// supported (single request and multi-part); where not, they are refused before any call.
pub async fn metadata_and_content_type(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "metadata").await;
    let small = Bytes::from_static(b"{\"hello\":\"world\"}");
    let multi = c.body(21, 2, 99);
    for (label, body) in [("small", &small), ("multi", &multi)] {
        let key = c.key(&format!("ct-{label}"));
        let upload = c
            .files
            .upload(&key, Body::from_bytes(body.clone()))
            .part_size(c.ps)
            .content_type("application/json");
        if c.caps.content_type {
            expect_ok(
                no_hang("upload", upload).await,
                "upload with a content type",
            );
            let head = expect_ok(c.files.head(&key).await, "head");
            assert_eq!(
                head.content_type.as_deref(),
                Some("application/json"),
                "{label}: content type"
            );
            let dl = expect_ok(c.files.download(&key).await, "download");
            assert_eq!(dl.meta().content_type.as_deref(), Some("application/json"));
            assert_object_eq(&c.files, &key, body).await;
        } else {
            let (files, counter) = c.counting();
            expect_kind(
                files
                    .upload(&key, Body::from_bytes(body.clone()))
                    .part_size(c.ps)
                    .content_type("application/json")
                    .await,
                ErrorKind::NotSupported,
                "content type without the capability",
            );
            assert_no_provider_call(&counter, "content type without the capability");
            drop(upload);
        }

        let key = c.key(&format!("md-{label}"));
        let build = |files: &Files| {
            files
                .upload(&key, Body::from_bytes(body.clone()))
                .part_size(c.ps)
                .metadata("owner", "alice")
                .metadata("purpose", "conformance")
        };
        if c.caps.metadata {
            expect_ok(
                no_hang("upload", build(&c.files)).await,
                "upload with metadata",
            );
            let head = expect_ok(c.files.head(&key).await, "head");
            let want: BTreeMap<String, String> = [("owner", "alice"), ("purpose", "conformance")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(head.metadata, want, "{label}: user metadata");
            assert_object_eq(&c.files, &key, body).await;
        } else {
            let (files, counter) = c.counting();
            expect_kind(
                build(&files).await,
                ErrorKind::NotSupported,
                "metadata without the capability",
            );
            assert_no_provider_call(&counter, "metadata without the capability");
            assert_absent(&c.files, &key, "refused metadata upload").await;
        }

        let key = c.key(&format!("cc-{label}"));
        if c.caps.cache_control {
            expect_ok(
                no_hang(
                    "upload",
                    c.files
                        .upload(&key, Body::from_bytes(body.clone()))
                        .part_size(c.ps)
                        .cache_control("max-age=60"),
                )
                .await,
                "upload with cache control",
            );
            let head = expect_ok(c.files.head(&key).await, "head");
            assert_eq!(head.cache_control.as_deref(), Some("max-age=60"));
        } else {
            let (files, counter) = c.counting();
            expect_kind(
                files
                    .upload(&key, Body::from_bytes(body.clone()))
                    .cache_control("max-age=60")
                    .await,
                ErrorKind::NotSupported,
                "cache control without the capability",
            );
            assert_no_provider_call(&counter, "cache control without the capability");
        }
    }

    // A copy keeps what the store keeps.
    if c.caps.metadata || c.caps.content_type {
        let src = c.key("copy-src");
        let dst = c.key("copy-dst");
        let mut up = c.files.upload(&src, Body::from_bytes(small.clone()));
        if c.caps.metadata {
            up = up.metadata("k", "v");
        }
        if c.caps.content_type {
            up = up.content_type("text/x-test");
        }
        expect_ok(up.await, "upload");
        expect_ok(c.files.copy(&src, &dst).await, "copy");
        let head = expect_ok(c.files.head(&dst).await, "head of the copy");
        if c.caps.metadata {
            assert_eq!(
                head.metadata.get("k").map(String::as_str),
                Some("v"),
                "metadata survives copy"
            );
        }
        if c.caps.content_type {
            assert_eq!(
                head.content_type.as_deref(),
                Some("text/x-test"),
                "content type survives copy"
            );
        }
    }
}

/// Options the adapter does not declare fail with not supported before any provider call:
/// presigned URLs, public URLs, `control` without a resumable primitive.
pub async fn capability_gates(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "gates").await;
    let key = c.key("obj");
    upload_small(&c, &key, b"gates").await;
    let (files, counter) = c.counting();
    let hour = Duration::from_secs(3600);
    if !c.caps.presign_get {
        expect_kind(
            files.presign_get(&key, hour).await,
            ErrorKind::NotSupported,
            "presign_get",
        );
    } else {
        let url = expect_ok(c.files.presign_get(&key, hour).await, "presign_get");
        assert!(!url.is_empty());
    }
    if !c.caps.presign_put {
        expect_kind(
            files.presign_put(&key, hour).await,
            ErrorKind::NotSupported,
            "presign_put",
        );
    } else {
        let url = expect_ok(c.files.presign_put(&key, hour).await, "presign_put");
        assert!(!url.is_empty());
    }
    if !c.caps.public_url {
        expect_kind(files.url(&key), ErrorKind::NotSupported, "public url");
    } else {
        assert!(!expect_ok(c.files.url(&key), "public url").is_empty());
    }
    if !c.resumable() {
        expect_kind(
            files
                .upload(c.key("ctl"), Body::from_bytes(c.body(1, 3, 0)))
                .control(UploadControl::new())
                .await,
            ErrorKind::NotSupported,
            "control without a resumable primitive",
        );
    }
    assert_no_provider_call(&counter, "unsupported options");
    // `concurrency(0)` is invalid input.
    expect_kind(
        files
            .upload(c.key("c0"), Body::from("x"))
            .concurrency(0)
            .await,
        ErrorKind::InvalidInput,
        "concurrency 0",
    );
    assert_no_provider_call(&counter, "concurrency 0");
}

/// Returns true (after asserting `control` is refused with not supported) when the adapter has
/// no resumable primitive; resumable checks then have nothing more to do.
async fn refused_without_resume(c: &Ctx) -> bool {
    if c.resumable() && c.multi_part() {
        return false;
    }
    if !c.resumable() {
        let (files, counter) = c.counting();
        expect_kind(
            files
                .upload(c.key("no-resume"), Body::from_bytes(c.body(3, 3, 1)))
                .control(UploadControl::new())
                .await,
            ErrorKind::NotSupported,
            "control without a resumable primitive",
        );
        assert_no_provider_call(&counter, "control without a resumable primitive");
    }
    true
}

/// Pause from the progress callback after the first part: the upload settles as paused,
/// `loaded` stays put while paused, and after `resume` it completes with the exact bytes,
/// nothing sent twice.
pub async fn pause_resume(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "pause").await;
    if refused_without_resume(&c).await {
        return;
    }
    let key = c.key("obj");
    let body = c.body(31, 10, 4321);
    let total = body.len() as u64;
    let control = UploadControl::new();
    let paused_once = Arc::new(AtomicBool::new(false));
    let requested = Arc::new(tokio::sync::Notify::new());
    let events = Arc::new(AtomicU64::new(0));
    let (ctl, flag, note, ev) = (
        control.clone(),
        paused_once.clone(),
        requested.clone(),
        events.clone(),
    );
    let task = tokio::spawn(
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .part_size(c.ps)
            .concurrency(2)
            .control(control.clone())
            .on_progress(move |p| {
                ev.fetch_add(1, Ordering::SeqCst);
                if p.loaded > 0 && !flag.swap(true, Ordering::SeqCst) {
                    ctl.pause();
                    note.notify_one();
                }
            })
            .into_future(),
    );
    no_hang("the pause request", requested.notified()).await;
    let status = no_hang("settling after pause", control.settled()).await;
    assert_eq!(status, UploadStatus::Paused, "status after pause settled");
    let loaded = control.loaded();
    assert!(
        loaded > 0 && loaded < total,
        "loaded while paused: {loaded} of {total}"
    );
    assert!(control.token().is_some(), "a paused upload has a token");
    let seen = events.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(control.loaded(), loaded, "loaded moved while paused");
    assert_eq!(
        events.load(Ordering::SeqCst),
        seen,
        "progress reported while paused"
    );
    assert_eq!(control.status(), UploadStatus::Paused);
    assert!(!task.is_finished(), "a paused upload's call stays pending");
    assert_absent(&c.files, &key, "a paused upload").await;

    control.resume();
    let out = no_hang("the resumed upload", task)
        .await
        .expect("upload task")
        .unwrap_or_else(|e| panic!("paused upload failed after resume: {e}"));
    assert_eq!(out.meta.size, total);
    assert_eq!(
        out.bytes_sent, total,
        "a paused and resumed call sends every byte once"
    );
    assert_eq!(control.status(), UploadStatus::Completed);
    assert!(control.token().is_none(), "no token after completion");
    assert_eq!(control.loaded(), total);
    assert_object_eq(&c.files, &key, &body).await;
}

/// Cancel an upload after some parts (a `CancellationToken`): cancelled, status error, token
/// kept; then resume from the token on a fresh client: completes, sending only what did not
/// land, with the exact bytes.
pub async fn resume_from_token_in_new_client(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "resume-token").await;
    if refused_without_resume(&c).await {
        return;
    }
    let key = c.key("obj");
    let body = c.body(41, 12, 777);
    let total = body.len() as u64;
    let token = cancelled_upload(&c, &key, &body, 3 * c.ps).await;
    assert!(
        landed_offset_in_token(&token) > 0,
        "the token records landed bytes: {token:?}"
    );
    assert_absent(&c.files, &key, "a cancelled upload").await;

    let fresh = fixture.client().await;
    let control = UploadControl::from_token(ResumeToken::from_json(&token.to_json()).unwrap());
    let out = no_hang(
        "resume",
        fresh
            .upload(&key, Body::from_bytes(body.clone()))
            .control(control.clone())
            .concurrency(2),
    )
    .await
    .unwrap_or_else(|e| panic!("resume from a token in a new client failed: {e}"));
    assert!(out.resumed, "the outcome says resumed");
    assert!(
        out.bytes_resumed > 0,
        "bytes_resumed: {}",
        out.bytes_resumed
    );
    assert!(
        out.bytes_sent < total,
        "bytes_sent {} of {total}",
        out.bytes_sent
    );
    assert_eq!(
        out.bytes_resumed + out.bytes_sent,
        total,
        "resumed + sent must be the body (only missing bytes sent)"
    );
    assert_eq!(out.meta.size, total);
    assert_eq!(control.status(), UploadStatus::Completed);
    assert_object_eq(&fresh, &key, &body).await;
    assert_object_eq(&c.files, &key, &body).await;
}

/// Abort discards the session: the call ends aborted, status aborted, no token, the old token
/// cannot be resumed (session expired), the provider holds nothing of it, no object appears.
/// Also abort-before-start with a token and `Files::abort_upload`.
pub async fn abort_cleans_session(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "abort").await;
    if refused_without_resume(&c).await {
        return;
    }
    let key = c.key("obj");
    let body = c.body(51, 8, 10);
    let control = UploadControl::new();
    let captured: Arc<Mutex<Option<ResumeToken>>> = Arc::default();
    let (ctl, cap) = (control.clone(), captured.clone());
    let result = no_hang(
        "aborted upload",
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .part_size(c.ps)
            .concurrency(2)
            .control(control.clone())
            .on_progress(move |p| {
                if p.loaded > 0 {
                    let mut slot = cap.lock().unwrap();
                    if slot.is_none() {
                        *slot = p.token.clone();
                        ctl.abort();
                    }
                }
            }),
    )
    .await;
    expect_kind(result, ErrorKind::Aborted, "an aborted upload");
    assert_eq!(control.status(), UploadStatus::Aborted);
    assert!(control.token().is_none(), "no token after abort");
    let old = captured
        .lock()
        .unwrap()
        .clone()
        .expect("the progress callback saw a token");
    assert_session_gone(&c.files, &old, "after abort").await;
    if let Some(left) = fixture.leftovers(&old).await {
        assert!(left.is_empty(), "the aborted session left: {left:?}");
    }
    assert_absent(&c.files, &key, "an aborted upload").await;
    let listed: Vec<String> = expect_ok(
        c.files
            .list_all(c.prefix.clone())
            .map_ok(|o| o.key)
            .try_collect()
            .await,
        "list",
    );
    assert!(
        listed.is_empty(),
        "an aborted upload left objects: {listed:?}"
    );

    let resumed = no_hang(
        "resume of an aborted session",
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .control(UploadControl::from_token(old.clone())),
    )
    .await;
    expect_kind(
        resumed,
        ErrorKind::SessionExpired,
        "resuming an aborted session",
    );
    assert_absent(&c.files, &key, "a resume of an aborted session").await;

    // Abort before the call starts, with a token: the session is discarded at once.
    let key2 = c.key("obj2");
    let token2 = cancelled_upload(&c, &key2, &body, 2 * c.ps).await;
    let control2 = UploadControl::from_token(token2.clone());
    control2.abort();
    let result = no_hang(
        "abort before start",
        c.files
            .upload(&key2, Body::from_bytes(body.clone()))
            .control(control2.clone()),
    )
    .await;
    expect_kind(
        result,
        ErrorKind::Aborted,
        "an upload aborted before it started",
    );
    assert_eq!(control2.status(), UploadStatus::Aborted);
    assert!(control2.token().is_none());
    assert_session_gone(&c.files, &token2, "after abort before start").await;
    if let Some(left) = fixture.leftovers(&token2).await {
        assert!(left.is_empty(), "the aborted session left: {left:?}");
    }

    // Files::abort_upload discards a session by token; again is fine.
    let key3 = c.key("obj3");
    let token3 = cancelled_upload(&c, &key3, &body, 2 * c.ps).await;
    expect_ok(c.files.abort_upload(&token3).await, "abort_upload");
    assert_session_gone(&c.files, &token3, "after abort_upload").await;
    expect_ok(
        c.files.abort_upload(&token3).await,
        "abort_upload of a gone session",
    );
    let resumed = c
        .files
        .upload(&key3, Body::from_bytes(body.clone()))
        .control(UploadControl::from_token(token3))
        .await;
    expect_kind(
        resumed,
        ErrorKind::SessionExpired,
        "resuming after abort_upload",
    );
    assert_absent(&c.files, &key3, "after abort_upload").await;
}

/// Cancelling a paused upload ends the call promptly with cancelled, keeping the session: the
/// token then resumes to a correct object.
pub async fn cancel_while_paused(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "cancel-paused").await;
    if refused_without_resume(&c).await {
        return;
    }
    let key = c.key("obj");
    let body = c.body(61, 6, 61);
    let control = UploadControl::new();
    let cancel = CancellationToken::new();
    let requested = Arc::new(tokio::sync::Notify::new());
    let once = Arc::new(AtomicBool::new(false));
    let (ctl, note, flag) = (control.clone(), requested.clone(), once.clone());
    let task = tokio::spawn(
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .part_size(c.ps)
            .concurrency(2)
            .control(control.clone())
            .cancellation(cancel.clone())
            .on_progress(move |p| {
                if p.loaded > 0 && !flag.swap(true, Ordering::SeqCst) {
                    ctl.pause();
                    note.notify_one();
                }
            })
            .into_future(),
    );
    no_hang("the pause request", requested.notified()).await;
    assert_eq!(
        no_hang("settle", control.settled()).await,
        UploadStatus::Paused
    );
    cancel.cancel();
    let result = no_hang(
        "cancel while paused (hang: a paused upload ignored cancel)",
        task,
    )
    .await
    .expect("upload task");
    expect_kind(result, ErrorKind::Cancelled, "cancel while paused");
    assert_eq!(control.status(), UploadStatus::Error);
    let token = control.token().expect("cancel keeps the session");
    let out = no_hang(
        "resume after cancel",
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .control(UploadControl::from_token(token)),
    )
    .await
    .unwrap_or_else(|e| panic!("resume after cancel-while-paused failed: {e}"));
    assert!(out.bytes_resumed > 0);
    assert_object_eq(&c.files, &key, &body).await;
}

/// A resumed body that differs is refused with body changed: one byte flipped inside a part
/// that already landed (same length), or another length. Nothing is lost: the upload still
/// resumes with the right body afterwards.
pub async fn changed_body_on_resume(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "changed-body").await;
    if refused_without_resume(&c).await {
        return;
    }
    let key = c.key("obj");
    let body = c.body(71, 8, 100);
    let token = cancelled_upload(&c, &key, &body, 3 * c.ps).await;

    let mut flipped = body.to_vec();
    let at = offset_inside_landed(&token) as usize;
    flipped[at] ^= 0x5a;
    let result = no_hang(
        "resume with a flipped byte",
        c.files
            .upload(&key, Body::from_bytes(flipped))
            .control(UploadControl::from_token(token.clone())),
    )
    .await;
    expect_kind(
        result,
        ErrorKind::BodyChanged,
        "a byte flipped inside a landed part",
    );

    let mut longer = body.to_vec();
    longer.push(1);
    let result = c
        .files
        .upload(&key, Body::from_bytes(longer))
        .control(UploadControl::from_token(token.clone()))
        .await;
    expect_kind(result, ErrorKind::BodyChanged, "a body of another length");
    let shorter = body.slice(..body.len() - 1);
    let result = c
        .files
        .upload(&key, Body::from_bytes(shorter))
        .control(UploadControl::from_token(token.clone()))
        .await;
    expect_kind(result, ErrorKind::BodyChanged, "a shorter body");
    assert_absent(&c.files, &key, "refused resumes").await;

    let out = no_hang(
        "resume with the right body",
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .control(UploadControl::from_token(token)),
    )
    .await
    .unwrap_or_else(|e| panic!("resume with the right body after refused ones failed: {e}"));
    assert!(out.bytes_resumed > 0, "the landed parts were kept");
    assert_object_eq(&c.files, &key, &body).await;
}

/// Tampered tokens are refused with token invalid: an edited field without reseal, another key,
/// another target store, another provider, a future version, truncated or malformed JSON. The
/// genuine token still resumes afterwards.
pub async fn tampered_tokens(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "tampered").await;
    if refused_without_resume(&c).await {
        return;
    }
    let key = c.key("obj");
    let body = c.body(81, 6, 1);
    let token = cancelled_upload(&c, &key, &body, 2 * c.ps).await;
    let json = token.to_json();

    // Edited without reseal.
    let mut value = token.to_value();
    value["loaded"] = serde_json::json!(0);
    expect_kind(
        ResumeToken::from_value(value),
        ErrorKind::TokenInvalid,
        "edited loaded",
    );
    let mut value = token.to_value();
    value["part_size"] = serde_json::json!(token.part_size * 2);
    expect_kind(
        ResumeToken::from_value(value),
        ErrorKind::TokenInvalid,
        "edited part size",
    );
    let edited = json.replace(
        &format!("\"key\":\"{key}\""),
        &format!("\"key\":\"{key}x\""),
    );
    assert_ne!(edited, json);
    expect_kind(
        UploadControl::from_json(&edited),
        ErrorKind::TokenInvalid,
        "edited key",
    );
    let mut unsealed = token.clone();
    unsealed.created_at += 1;
    let try_token = |t: ResumeToken, k: String| {
        c.files
            .upload(k, Body::from_bytes(body.clone()))
            .control(UploadControl::from_token(t))
    };
    expect_kind(
        no_hang("unsealed", try_token(unsealed, key.clone())).await,
        ErrorKind::TokenInvalid,
        "a token edited in memory without reseal",
    );

    // Used for another key.
    expect_kind(
        no_hang("other key", try_token(token.clone(), c.key("other"))).await,
        ErrorKind::TokenInvalid,
        "a token used for another key",
    );
    let mut other_key = token.clone();
    other_key.key = c.key("other");
    other_key.seal();
    expect_kind(
        no_hang("other key", try_token(other_key, key.clone())).await,
        ErrorKind::TokenInvalid,
        "a resealed token of another key",
    );
    // Another target.
    let mut other_target = token.clone();
    other_target.target = format!("{}-elsewhere", token.target);
    other_target.seal();
    expect_kind(
        no_hang("other target", try_token(other_target, key.clone())).await,
        ErrorKind::TokenInvalid,
        "a token of another store",
    );
    // Another provider.
    let mut other_provider = token.clone();
    other_provider.provider = format!("not-{}", token.provider);
    other_provider.seal();
    expect_kind(
        no_hang("other provider", try_token(other_provider, key.clone())).await,
        ErrorKind::TokenInvalid,
        "a token of another provider",
    );
    // Another family.
    let mut other_family = token.clone();
    other_family.family = match token.family {
        TokenFamily::Parts => TokenFamily::Offset,
        TokenFamily::Offset => TokenFamily::Parts,
    };
    other_family.landed = String::new();
    other_family.seal();
    expect_kind(
        no_hang("other family", try_token(other_family, key.clone())).await,
        ErrorKind::TokenInvalid,
        "a token of another upload family",
    );
    // A future version.
    let mut future = token.clone();
    future.version = TOKEN_VERSION + 1;
    future.seal();
    expect_kind(
        ResumeToken::from_json(&future.to_json()),
        ErrorKind::TokenInvalid,
        "a future token version",
    );
    expect_kind(
        no_hang("future version", try_token(future, key.clone())).await,
        ErrorKind::TokenInvalid,
        "a future token version",
    );
    // Truncated or malformed JSON.
    for text in [
        &json[..json.len() / 2],
        &json[..json.len() - 1],
        "",
        "{}",
        "null",
        "not json",
    ] {
        expect_kind(
            ResumeToken::from_json(text),
            ErrorKind::TokenInvalid,
            &format!("malformed token text {text:?}"),
        );
    }
    assert_absent(&c.files, &key, "refused tokens").await;
    assert_absent(&c.files, &c.key("other"), "refused tokens").await;

    let out = no_hang(
        "genuine token",
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .control(UploadControl::from_json(&json).expect("the genuine token parses")),
    )
    .await
    .unwrap_or_else(|e| panic!("the genuine token no longer resumes after refused ones: {e}"));
    assert!(out.bytes_resumed > 0);
    assert_object_eq(&c.files, &key, &body).await;
}

/// Progress events seen by a callback: (loaded, bytes_sent, total).
type Events = Arc<Mutex<Vec<(u64, u64, Option<u64>)>>>;

fn check_progress(events: &[(u64, u64, Option<u64>)], total: u64, what: &str) {
    assert!(!events.is_empty(), "{what}: no progress reported");
    for w in events.windows(2) {
        assert!(
            w[1].0 >= w[0].0,
            "{what}: loaded went backwards: {events:?}"
        );
        assert!(
            w[1].1 >= w[0].1,
            "{what}: bytes_sent went backwards: {events:?}"
        );
    }
    for e in events {
        assert!(e.0 <= total, "{what}: loaded {} above total {total}", e.0);
        assert_eq!(e.2, Some(total), "{what}: progress total");
    }
    assert_eq!(
        events.last().unwrap().0,
        total,
        "{what}: the last progress is the total"
    );
}

/// Progress never goes backwards, stays within the total, and ends at the total, for a fresh
/// upload and for a resumed one.
pub async fn progress_monotonic(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "progress").await;
    let key = c.key("obj");
    let body = c.body(91, 9, 12345);
    let total = body.len() as u64;
    let events: Events = Arc::default();
    let ev = events.clone();
    let out = no_hang(
        "upload",
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .part_size(c.ps)
            .concurrency(4)
            .on_progress(move |p: &Progress| {
                ev.lock().unwrap().push((p.loaded, p.bytes_sent, p.total));
            }),
    )
    .await;
    expect_ok(out, "upload with progress");
    check_progress(&events.lock().unwrap(), total, "fresh upload");
    assert_object_eq(&c.files, &key, &body).await;

    // Tiny and empty bodies report their end too.
    for size in [0usize, 1] {
        let events: Events = Arc::default();
        let ev = events.clone();
        let k = c.key(&format!("tiny-{size}"));
        expect_ok(
            c.files
                .upload(&k, Body::from_bytes(random_bytes(1, size)))
                .on_progress(move |p| ev.lock().unwrap().push((p.loaded, p.bytes_sent, p.total)))
                .await,
            "tiny upload",
        );
        check_progress(&events.lock().unwrap(), size as u64, "tiny upload");
    }

    if !c.resumable() || !c.multi_part() {
        return;
    }
    let key = c.key("resumed");
    let token = cancelled_upload(&c, &key, &body, 4 * c.ps).await;
    let events: Events = Arc::default();
    let ev = events.clone();
    let out = no_hang(
        "resume",
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .control(UploadControl::from_token(token))
            .on_progress(move |p| ev.lock().unwrap().push((p.loaded, p.bytes_sent, p.total))),
    )
    .await;
    let out = expect_ok(out, "resumed upload with progress");
    let events = events.lock().unwrap().clone();
    check_progress(&events, total, "resumed upload");
    assert!(
        events[0].0 >= out.bytes_resumed,
        "the first progress of a resume includes what already landed"
    );
    assert_object_eq(&c.files, &key, &body).await;
}

/// `checkpoint(path)`: for cross-process adapters the file exists during the upload, holds a
/// valid token for the key, is removed on success, and a second call with the same path resumes
/// from it; for in-process adapters it is refused with not supported before any call.
pub async fn checkpoint_file(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "checkpoint").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("upload.json");
    let key = c.key("obj");
    let body = c.body(101, 6, 6);
    if c.resumable != Resumability::CrossProcess || !c.multi_part() {
        if c.multi_part() || !c.resumable() {
            let (files, counter) = c.counting();
            expect_kind(
                files
                    .upload(&key, Body::from_bytes(body.clone()))
                    .part_size(c.ps)
                    .checkpoint(&path)
                    .await,
                ErrorKind::NotSupported,
                "checkpoint on an adapter that cannot resume across processes",
            );
            assert_no_provider_call(&counter, "refused checkpoint");
            assert!(!path.exists(), "a refused checkpoint wrote a file");
            assert_absent(&c.files, &key, "refused checkpoint").await;
        }
        return;
    }
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let (p2, s2, k2) = (path.clone(), seen.clone(), key.clone());
    let out = no_hang(
        "checkpointed upload",
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .part_size(c.ps)
            .concurrency(2)
            .checkpoint(&path)
            .on_progress(move |p| {
                if p.loaded == 0 || Some(p.loaded) == p.total {
                    return;
                }
                let verdict = match std::fs::read_to_string(&p2) {
                    Err(e) => format!("missing: {e}"),
                    Ok(text) => match ResumeToken::from_json(&text) {
                        Ok(t) if t.key == k2 => "ok".to_string(),
                        Ok(t) => format!("token for another key {}", t.key),
                        Err(e) => format!("invalid: {e}"),
                    },
                };
                s2.lock().unwrap().push(verdict);
            }),
    )
    .await;
    expect_ok(out, "checkpointed upload");
    let seen = seen.lock().unwrap().clone();
    assert!(
        !seen.is_empty(),
        "no progress seen during the checkpointed upload"
    );
    assert!(
        seen.iter().all(|v| v == "ok"),
        "the checkpoint during the upload: {seen:?}"
    );
    assert!(!path.exists(), "the checkpoint is removed on success");
    assert_object_eq(&c.files, &key, &body).await;

    // Cancel with a checkpoint, then resume from the file alone in a new client.
    let key2 = c.key("obj2");
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let after = 2 * c.ps;
    let result = no_hang(
        "checkpointed cancel",
        c.files
            .upload(&key2, Body::from_bytes(body.clone()))
            .part_size(c.ps)
            .concurrency(2)
            .checkpoint(&path)
            .cancellation(cancel)
            .on_progress(move |p| {
                if p.loaded >= after {
                    trigger.cancel();
                }
            }),
    )
    .await;
    expect_kind(
        result,
        ErrorKind::Cancelled,
        "a cancelled checkpointed upload",
    );
    let text = std::fs::read_to_string(&path).expect("the checkpoint stays after a cancel");
    let token = ResumeToken::from_json(&text).expect("a valid checkpoint");
    assert_eq!(token.key, key2);
    let fresh = fixture.client().await;
    let out = no_hang(
        "resume from a checkpoint",
        fresh
            .upload(&key2, Body::from_bytes(body.clone()))
            .checkpoint(&path),
    )
    .await
    .unwrap_or_else(|e| panic!("resume from the checkpoint file failed: {e}"));
    assert!(
        out.resumed && out.bytes_resumed > 0,
        "resumed from the checkpoint: {out:?}"
    );
    assert!(
        !path.exists(),
        "the checkpoint is removed after the resumed upload"
    );
    assert_object_eq(&fresh, &key2, &body).await;
}

/// A one-shot stream cannot be driven by `control` or `checkpoint` (invalid input, before any
/// call); plain stream uploads of unknown and known length, several parts long, store the exact
/// bytes; short and empty streams work.
pub async fn stream_bodies(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "streams").await;
    let body = c.body(111, 3, 777);
    let (files, counter) = c.counting();
    expect_kind(
        files
            .upload(
                c.key("ctl"),
                Body::from_stream(stream_of(&body, 10_000), None),
            )
            .control(UploadControl::new())
            .await,
        ErrorKind::InvalidInput,
        "a stream body with control",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    expect_kind(
        files
            .upload(
                c.key("ckpt"),
                Body::from_stream(stream_of(&body, 10_000), Some(body.len() as u64)),
            )
            .checkpoint(dir.path().join("cp.json"))
            .await,
        ErrorKind::InvalidInput,
        "a stream body with checkpoint",
    );
    assert_no_provider_call(&counter, "stream bodies with control or checkpoint");

    let key = c.key("unknown-len");
    let out = no_hang(
        "stream upload",
        c.files
            .upload(&key, Body::from_stream(stream_of(&body, 10_007), None))
            .part_size(c.ps)
            .concurrency(2),
    )
    .await;
    let out = expect_ok(out, "a stream of unknown length, several parts long");
    assert_eq!(out.meta.size, body.len() as u64);
    assert_object_eq(&c.files, &key, &body).await;

    for (label, data) in [
        ("short", Bytes::from_static(b"a short stream")),
        ("empty", Bytes::new()),
    ] {
        let key = c.key(label);
        let out = no_hang(
            "short stream",
            c.files
                .upload(&key, Body::from_stream(stream_of(&data, 3), None))
                .part_size(c.ps),
        )
        .await;
        expect_ok(out, &format!("a {label} stream"));
        assert_object_eq(&c.files, &key, &data).await;
    }

    let key = c.key("known-len");
    let out = no_hang(
        "stream upload of known length",
        c.files
            .upload(
                &key,
                Body::from_stream(stream_of(&body, 4096), Some(body.len() as u64)),
            )
            .part_size(c.ps)
            .concurrency(2),
    )
    .await;
    let out = expect_ok(out, "a stream of known length, several parts long");
    assert_eq!(out.meta.size, body.len() as u64);
    assert_object_eq(&c.files, &key, &body).await;
}

/// Part sizes the provider refuses (zero, below its minimum, misaligned, above its maximum, or
/// too many parts) are invalid input before anything is sent.
pub async fn refused_part_sizes(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "part-sizes").await;
    let r = c.rules;
    let key = c.key("obj");
    let body = c.body(121, 3, 1);
    let (files, counter) = c.counting();
    let mut cases: Vec<(String, u64, u64)> = vec![("zero".into(), 0, body.len() as u64)];
    if r.min_part_size > 1 {
        cases.push((
            "below the minimum".into(),
            r.min_part_size - 1,
            r.min_part_size * 2,
        ));
    }
    if r.alignment > 1 && r.alignment < (64 << 20) {
        let ps = part_size_for(&r, 64 << 10) + 1;
        cases.push(("misaligned".into(), ps, ps * 3));
    }
    if r.max_part_size < (1 << 40) {
        cases.push(("above the maximum".into(), r.max_part_size + 1, 10));
    }
    let ps = part_size_for(&r, 1);
    if r.max_parts < 100_000 && ps.saturating_mul(r.max_parts + 1) <= (16 << 20) {
        cases.push(("too many parts".into(), ps, ps * (r.max_parts + 1)));
    }
    for (label, part_size, len) in cases {
        if c.multi_part() || part_size == 0 {
            let data = Bytes::from(vec![7u8; len as usize]);
            expect_kind(
                files
                    .upload(&key, Body::from_bytes(data.clone()))
                    .part_size(part_size)
                    .await,
                ErrorKind::InvalidInput,
                &format!("part size {part_size} ({label}) for {len} bytes"),
            );
            if c.resumable() {
                expect_kind(
                    files
                        .upload(&key, Body::from_bytes(data))
                        .part_size(part_size)
                        .control(UploadControl::new())
                        .await,
                    ErrorKind::InvalidInput,
                    &format!("part size {part_size} ({label}) with control"),
                );
            }
        }
    }
    assert_no_provider_call(&counter, "refused part sizes");
    assert_absent(&c.files, &key, "refused part sizes").await;
}

/// One control drives one upload at a time: passing it to a second concurrent upload fails with
/// invalid input (and does not disturb the first, which completes correctly).
pub async fn concurrent_control_use(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "control-twice").await;
    if refused_without_resume(&c).await {
        return;
    }
    let key = c.key("first");
    let body = c.body(131, 5, 5);
    let control = UploadControl::new();
    control.pause();
    let task = tokio::spawn(
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .part_size(c.ps)
            .control(control.clone())
            .into_future(),
    );
    let status = no_hang(
        "the pre-paused upload settling",
        control.wait_for(|s| s == UploadStatus::Paused || s == UploadStatus::Error),
    )
    .await;
    assert_eq!(
        status,
        UploadStatus::Paused,
        "an upload started paused waits paused"
    );
    let (files, counter) = c.counting();
    let second = no_hang(
        "second use",
        files
            .upload(c.key("second"), Body::from_bytes(body.clone()))
            .part_size(c.ps)
            .control(control.clone()),
    )
    .await;
    expect_kind(
        second,
        ErrorKind::InvalidInput,
        "a control used by two uploads at once",
    );
    assert_no_provider_call(&counter, "the second use of a control");
    assert_eq!(
        control.status(),
        UploadStatus::Paused,
        "the first upload is undisturbed"
    );
    control.resume();
    let out = no_hang("first upload", task)
        .await
        .expect("upload task")
        .unwrap_or_else(|e| panic!("the first upload failed: {e}"));
    assert_eq!(out.meta.size, body.len() as u64);
    assert_object_eq(&c.files, &key, &body).await;
    assert_absent(&c.files, &c.key("second"), "the refused second upload").await;
}

/// Bad input aimed at a key that already holds an object damages nothing: part sizes out of
/// range (every adapter), then, where uploads resume, with an upload of a new body pending at
/// that key: a resume with a changed, longer or shorter body, with a token edited without reseal,
/// of another provider, of another store (another bucket or root), of another key, of a future
/// version, or truncated. Each is refused with its own error kind; after each the earlier object
/// still hashes the same, and at the end the genuine token still resumes to the new body.
pub async fn refused_input_keeps_earlier_object(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "keeps-earlier").await;
    let key = c.key("obj");
    let earlier = c.body(131, 2, 17);
    upload_plain(&c, &key, &earlier).await;

    // (part size, body length) as in `refused_part_sizes`: a body of one part needs no part
    // size, so a small one is refused only when the body spans several parts.
    let r = c.rules;
    let mut sizes = vec![(0, 10)];
    if r.min_part_size > 1 {
        sizes.push((r.min_part_size - 1, r.min_part_size * 2));
    }
    if r.max_part_size < (1 << 40) {
        sizes.push((r.max_part_size + 1, 10));
    }
    for (ps, len) in sizes {
        if ps != 0 && !c.multi_part() {
            continue;
        }
        let data = Bytes::from(vec![9u8; len as usize]);
        expect_kind(
            no_hang(
                "refused part size",
                c.files.upload(&key, Body::from_bytes(data)).part_size(ps),
            )
            .await,
            ErrorKind::InvalidInput,
            &format!("part size {ps} over an existing object"),
        );
        assert_object_eq(&c.files, &key, &earlier).await;
    }
    if refused_without_resume(&c).await {
        assert_object_eq(&c.files, &key, &earlier).await;
        return;
    }

    let body = c.body(132, 6, 3);
    let token = cancelled_upload(&c, &key, &body, 2 * c.ps).await;
    assert_object_eq(&c.files, &key, &earlier).await;

    let mut flipped = body.to_vec();
    flipped[offset_inside_landed(&token) as usize] ^= 0x21;
    let mut longer = body.to_vec();
    longer.push(0);
    let shorter = body.slice(..body.len() - 1);
    let mut unsealed = token.clone();
    unsealed.created_at += 1;
    let mut other_provider = token.clone();
    other_provider.provider = format!("{}-other", token.provider);
    other_provider.seal();
    let mut other_store = token.clone();
    other_store.target = format!("{}-other-bucket", token.target);
    other_store.seal();
    let mut other_key = token.clone();
    other_key.key = c.key("elsewhere");
    other_key.seal();
    let mut future = token.clone();
    future.version = TOKEN_VERSION + 1;
    future.seal();
    let attempts: Vec<(&str, Bytes, ResumeToken, ErrorKind)> = vec![
        (
            "a flipped byte",
            Bytes::from(flipped),
            token.clone(),
            ErrorKind::BodyChanged,
        ),
        (
            "a longer body",
            Bytes::from(longer),
            token.clone(),
            ErrorKind::BodyChanged,
        ),
        (
            "a shorter body",
            shorter,
            token.clone(),
            ErrorKind::BodyChanged,
        ),
        (
            "a token edited without reseal",
            body.clone(),
            unsealed,
            ErrorKind::TokenInvalid,
        ),
        (
            "a token of another provider",
            body.clone(),
            other_provider,
            ErrorKind::TokenInvalid,
        ),
        (
            "a token of another store",
            body.clone(),
            other_store,
            ErrorKind::TokenInvalid,
        ),
        (
            "a token of another key",
            body.clone(),
            other_key,
            ErrorKind::TokenInvalid,
        ),
        (
            "a future token version",
            body.clone(),
            future,
            ErrorKind::TokenInvalid,
        ),
    ];
    for (what, data, t, kind) in attempts {
        let result = no_hang(
            what,
            c.files
                .upload(&key, Body::from_bytes(data))
                .control(UploadControl::from_token(t)),
        )
        .await;
        expect_kind(result, kind, &format!("[{}] a resume with {what}", c.name));
        assert_object_eq(&c.files, &key, &earlier).await;
    }
    let json = token.to_json();
    for cut in [json.len() / 3, json.len() - 2] {
        expect_kind(
            UploadControl::from_json(&json[..cut]),
            ErrorKind::TokenInvalid,
            &format!("a token truncated to {cut} bytes"),
        );
    }
    assert_absent(&c.files, &c.key("elsewhere"), "refused tokens").await;

    let out = no_hang(
        "the genuine token",
        c.files
            .upload(&key, Body::from_bytes(body.clone()))
            .control(UploadControl::from_token(token)),
    )
    .await
    .unwrap_or_else(|e| panic!("[{}] the genuine token no longer resumes: {e}", c.name));
    assert!(out.bytes_resumed > 0, "the landed bytes were kept");
    assert_object_eq(&c.files, &key, &body).await;
}

/// A token whose session was swapped and resealed (as anyone holding tokens can: the seal is a
/// checksum, not a signature) is refused or harmless: another pending upload's session, a
/// session name that never existed, and a path-like name each end in token invalid, session
/// expired or not found, or, where the key alone names the session, in the right object. The
/// other upload's session is not damaged: both uploads then resume to their exact bytes.
pub async fn doctored_session_tokens(fixture: &dyn Fixture) {
    let c = Ctx::new(fixture, "doctored-session").await;
    if refused_without_resume(&c).await {
        return;
    }
    let (key_a, key_b) = (c.key("a"), c.key("b"));
    let (body_a, body_b) = (c.body(141, 5, 9), c.body(142, 5, 9));
    let token_a = cancelled_upload(&c, &key_a, &body_a, 2 * c.ps).await;
    let token_b = cancelled_upload(&c, &key_b, &body_b, 2 * c.ps).await;

    let mut never = token_a.session.clone();
    never.id = if never.id.is_empty() {
        "no-such-session".to_string()
    } else {
        let mut id = never.id.clone();
        let last = id.pop().map_or('x', |ch| if ch == 'x' { 'y' } else { 'x' });
        id.push(last);
        id
    };
    let mut path_like = token_a.session.clone();
    path_like.id = "../../../etc/escape".to_string();
    let mut a_done = false;
    for (what, session) in [
        ("another upload's session", token_b.session.clone()),
        ("a session that never existed", never),
        ("a path-like session", path_like),
    ] {
        let mut t = token_a.clone();
        t.session = session;
        t.seal();
        let result = no_hang(
            what,
            c.files
                .upload(&key_a, Body::from_bytes(body_a.clone()))
                .control(UploadControl::from_token(t)),
        )
        .await;
        match result {
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::TokenInvalid | ErrorKind::SessionExpired | ErrorKind::NotFound
                    ),
                    "[{}] a token with {what}: expected token invalid, session expired or not \
                     found, got {e}",
                    c.name
                );
                if !a_done {
                    assert_absent(&c.files, &key_a, what).await;
                }
            }
            Ok(_) => {
                // Only acceptable where the key alone names the session: then it was `a`'s.
                let there = expect_ok(c.files.exists(&key_a).await, what);
                assert!(
                    there,
                    "[{}] a token with {what} was reported uploaded to {key_a}, but no object \
                     is there: its bytes went to the session it named",
                    c.name
                );
                assert_object_eq(&c.files, &key_a, &body_a).await;
                a_done = true;
            }
        }
        assert_absent(&c.files, &key_b, what).await;
    }

    let out = no_hang(
        "b's own token",
        c.files
            .upload(&key_b, Body::from_bytes(body_b.clone()))
            .control(UploadControl::from_token(token_b)),
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "[{}] b's upload no longer resumes after doctored tokens: {e}",
            c.name
        )
    });
    assert!(out.bytes_resumed > 0, "b's landed bytes were kept");
    assert_object_eq(&c.files, &key_b, &body_b).await;
    if !a_done {
        let out = no_hang(
            "a's own token",
            c.files
                .upload(&key_a, Body::from_bytes(body_a.clone()))
                .control(UploadControl::from_token(token_a)),
        )
        .await
        .unwrap_or_else(|e| {
            panic!(
                "[{}] a's upload no longer resumes after doctored tokens: {e}",
                c.name
            )
        });
        assert!(out.bytes_resumed > 0, "a's landed bytes were kept");
    }
    assert_object_eq(&c.files, &key_a, &body_a).await;
}
