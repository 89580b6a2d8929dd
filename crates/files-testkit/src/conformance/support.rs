//! What every check shares: the per-check context [`Ctx`] (client, declared capabilities,
//! a small part size, a unique prefix) and the assertions and upload helpers the checks use.

use std::fmt::Debug;
use std::future::IntoFuture;
use std::sync::Arc;

use files_core::token::{ResumeToken, TokenFamily};
use files_core::{
    Body, ByteStream, Bytes, CancellationToken, Capabilities, Error, ErrorKind, Files, PartRules,
    Result, Resumability, UploadControl, UploadFamily, UploadOutcome, UploadSpec, UploadStatus,
};
use futures::StreamExt;

use super::{Fixture, HANG_GUARD};
use crate::fault::FaultyAdapter;
use crate::util::{part_size_for, random_bytes, unique_prefix};

/// Everything a check needs: a client, what the adapter says about itself, a part size, and a
/// unique prefix.
pub(super) struct Ctx {
    pub(super) name: String,
    pub(super) files: Files,
    pub(super) caps: Capabilities,
    pub(super) rules: PartRules,
    pub(super) family: &'static str,
    pub(super) resumable: Resumability,
    /// A small part size the adapter accepts.
    pub(super) ps: u64,
    pub(super) prefix: String,
}

impl Ctx {
    /// The context of `check`. Panics first if the adapter's declared resumability disagrees
    /// with its upload family: every check gates on one or the other, so such an adapter would
    /// otherwise pass checks it never ran.
    pub(super) async fn new(fixture: &dyn Fixture, check: &str) -> Ctx {
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

    pub(super) fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A client whose calls are counted (nothing injected).
    pub(super) fn counting(&self) -> (Files, Arc<FaultyAdapter>) {
        let fa = Arc::new(FaultyAdapter::counting(self.files.adapter().clone()));
        (Files::from_arc(fa.clone()), fa)
    }

    pub(super) fn resumable(&self) -> bool {
        self.resumable != Resumability::None
    }

    pub(super) fn multi_part(&self) -> bool {
        self.family != "one_shot"
    }

    /// A seeded body of `parts` full parts and a tail of `tail` bytes.
    pub(super) fn body(&self, seed: u64, parts: u64, tail: u64) -> Bytes {
        Bytes::from(random_bytes(seed, (self.ps * parts + tail) as usize))
    }
}

/// Panics unless `Capabilities::resumable` says what the upload family does. A one-shot
/// adapter has no session to pause, resume or discard: declaring resumable uploads on one tells
/// callers (the CLI decides whether to offer a checkpoint from it) something the scheduler then
/// refuses, and would let the resumable checks pass by skipping everything they check.
#[track_caller]
pub(super) fn assert_declared_resumability(
    name: &str,
    caps: &Capabilities,
    family: &UploadFamily<'_>,
) {
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
pub(super) async fn no_hang<T>(what: &str, fut: impl IntoFuture<Output = T>) -> T {
    match tokio::time::timeout(HANG_GUARD, fut.into_future()).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within {HANG_GUARD:?} (hang)"),
    }
}

/// Asserts `result` failed with `kind`; returns the error.
#[track_caller]
pub(super) fn expect_kind<T: Debug>(result: Result<T>, kind: ErrorKind, what: &str) -> Error {
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
pub(super) fn expect_ok<T>(result: Result<T>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Asserts no call reached the provider through `counter`.
#[track_caller]
pub(super) fn assert_no_provider_call(counter: &FaultyAdapter, what: &str) {
    let c = counter.counts();
    assert_eq!(
        c.provider_calls(),
        0,
        "{what}: the request should fail before any provider call, but calls were made: {c:?}"
    );
}

pub(super) async fn upload_plain(c: &Ctx, key: &str, body: &Bytes) -> UploadOutcome {
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

pub(super) async fn upload_small(c: &Ctx, key: &str, data: &[u8]) {
    upload_plain(c, key, &Bytes::copy_from_slice(data)).await;
}

/// Starts an upload of `body` to `key` with `control` and `cancel`, cancels it from the progress
/// callback once `after` bytes landed, and returns the token it leaves.
pub(super) async fn cancelled_upload(c: &Ctx, key: &str, body: &Bytes, after: u64) -> ResumeToken {
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

pub(super) fn landed_offset_in_token(token: &ResumeToken) -> u64 {
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
pub(super) fn offset_inside_landed(token: &ResumeToken) -> u64 {
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

pub(super) fn spec_of(token: &ResumeToken) -> UploadSpec {
    UploadSpec {
        key: token.key.clone(),
        total: token.total,
        part_size: token.part_size,
        options: Default::default(),
    }
}

/// Asks the provider directly whether the session a token names still exists; it must not.
pub(super) async fn assert_session_gone(files: &Files, token: &ResumeToken, what: &str) {
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

pub(super) async fn assert_absent(files: &Files, key: &str, what: &str) {
    let exists = expect_ok(files.exists(key).await, what);
    assert!(!exists, "{what}: {key} should not exist");
}

pub(super) fn stream_of(data: &Bytes, chunk: usize) -> ByteStream {
    let chunks: Vec<Result<Bytes>> = (0..data.len())
        .step_by(chunk.max(1))
        .map(|off| Ok(data.slice(off..(off + chunk).min(data.len()))))
        .collect();
    futures::stream::iter(chunks).boxed()
}

/// Returns true (after asserting `control` is refused with not supported) when the adapter has
/// no resumable primitive; resumable checks then have nothing more to do.
pub(super) async fn refused_without_resume(c: &Ctx) -> bool {
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
