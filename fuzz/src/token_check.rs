//! The token fuzz check, shared by the `token` fuzz target (`fuzz/fuzz_targets/token.rs`) and
//! the corpus regression test (`tests/tests/fuzz_corpus.rs`), which replays every input of
//! `fuzz/corpus/token` on every test run.
//!
//! For any input it asserts: parsing never panics; a token that parses survives a JSON round
//! trip unchanged; `Debug` never shows a sensitive session; and resuming an upload from the
//! token (resealed, so that doctored fields get past the self-checksum and reach the adapter's
//! checks) against a local-disk store and a memory store either works or fails with a typed
//! error, never panics or hangs, and never writes outside the store's root.

use std::path::Path;
use std::time::Duration;

use files::{Adapter, Body, Files, ResumeToken, UploadControl};

/// The body every resume is tried with (a token's `total` rarely matches it: that path is
/// checked too).
const BODY: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Runs the check on one input.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(token) = ResumeToken::from_json(text) {
        round_trip(&token);
    }
    // Reseal whatever deserializes, so that the validation behind the checksum is reached.
    let Ok(mut token) = serde_json::from_str::<ResumeToken>(text) else {
        return;
    };
    token.seal();
    if token.check_self().is_err() {
        return;
    }
    round_trip(&token);
    resume(&token);
}

fn round_trip(token: &ResumeToken) {
    let again = ResumeToken::from_json(&token.to_json()).expect("a token's own JSON parses");
    assert_eq!(&again, token, "JSON round trip changed the token");
    if token.session.sensitive && !token.session.id.is_empty() {
        let shown = format!("{token:?}");
        assert!(
            !shown.contains(&token.session.id) || token.session.id.len() < 4,
            "Debug shows a sensitive session id"
        );
    }
}

fn resume(token: &ResumeToken) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let outer = tempfile::tempdir().expect("a temp dir");
    let root = outer.path().join("root");
    std::fs::create_dir(&root).expect("the store root");
    rt.block_on(async {
        let fs = files::fs::FsAdapter::new(&root).expect("an fs store");
        let mem = files::memory::MemoryAdapter::named("fuzz");
        let stores: [std::sync::Arc<dyn Adapter>; 2] =
            [std::sync::Arc::new(fs), std::sync::Arc::new(mem)];
        for adapter in stores {
            // As it is (a foreign store or provider must be refused), and aimed at this store
            // (resealed), so that the key, session and progress checks behind it are reached.
            let mut aimed = token.clone();
            aimed.provider = adapter.provider().to_string();
            aimed.target = adapter.target();
            aimed.seal();
            let files = Files::from_arc(adapter);
            for t in [token.clone(), aimed] {
                let upload = files
                    .upload(t.key.clone(), Body::from_bytes(BODY.to_vec()))
                    .control(UploadControl::from_token(t))
                    .into_future();
                // A hang guard, not a speed assertion: nothing here waits on a network.
                let _ = tokio::time::timeout(Duration::from_secs(20), upload)
                    .await
                    .expect("a resume from any token ends");
            }
        }
    });
    // Nothing may appear beside the root.
    let beside: Vec<_> = std::fs::read_dir(outer.path())
        .expect("the temp dir")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    assert_eq!(
        beside,
        vec![std::ffi::OsString::from("root")],
        "wrote outside the root"
    );
    assert_no_escape(&root);
}

/// Every entry under `root` is a plain file or directory inside it (no symlink was made).
fn assert_no_escape(root: &Path) {
    for entry in std::fs::read_dir(root).expect("the root").flatten() {
        let ty = entry.file_type().expect("a file type");
        assert!(!ty.is_symlink(), "a symlink appeared in the store");
        if ty.is_dir() {
            assert_no_escape(&entry.path());
        }
    }
}
