//! Replays every input of the token fuzzer's corpus (`fuzz/seeds/token`, hand-made seeds, and
//! `fuzz/corpus/token`, what `cargo fuzz run token` kept after `cargo fuzz cmin`) through the
//! fuzz check, so a regression shows in every test
//! run, not only when someone fuzzes. The check itself: `fuzz/src/token_check.rs`.

#[path = "../../fuzz/src/token_check.rs"]
mod token_check;

#[test]
fn token_corpus_replays_without_a_finding() {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut inputs = Vec::new();
    for dir in [fuzz.join("seeds/token"), fuzz.join("corpus/token")] {
        let found: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("the corpus {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        assert!(found.len() >= 10, "{} lost its inputs", dir.display());
        inputs.extend(found);
    }
    inputs.sort();
    for path in &inputs {
        let data = std::fs::read(path).unwrap();
        let outcome = std::panic::catch_unwind(|| token_check::check(&data));
        assert!(
            outcome.is_ok(),
            "corpus input {} fails the check",
            path.display()
        );
    }
}

/// The seeds reach the deep end of the check: a valid token resumes to completion on the
/// local disk (the check only asserts that resumes do not misbehave; this proves they run).
#[test]
fn a_seed_token_really_resumes() {
    use files::{Body, Files, ResumeToken, UploadControl};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/token");
    let text = std::fs::read_to_string(dir.join("seed-fs-small.json")).unwrap();
    let mut token: ResumeToken = serde_json::from_str(&text).unwrap();
    token.fingerprint = Default::default();
    token.landed.clear();
    token.loaded = 0;
    let tmp = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let adapter = files::fs::FsAdapter::new(tmp.path()).unwrap();
        token.target = files::Adapter::target(&adapter);
        token.seal();
        let files = Files::new(adapter);
        // The session a first run would have left: an (empty) part file.
        std::fs::write(tmp.path().join("k.fls-part"), b"").unwrap();
        let body = b"0123456789abcdefghijklmnopqrstuvwxyz".to_vec();
        files
            .upload("k", Body::from_bytes(body.clone()))
            .control(UploadControl::from_token(token))
            .await
            .unwrap();
        assert_eq!(std::fs::read(tmp.path().join("k")).unwrap(), body);
    });
}
