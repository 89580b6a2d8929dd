//! Replays every input of the fuzzers' corpora through the fuzz checks, so a regression shows in
//! every test run, not only when someone fuzzes. For each target, `fuzz/seeds/<target>` holds
//! hand-made inputs and real server answers, and `fuzz/corpus/<target>` what
//! `cargo fuzz run <target>` kept after `cargo fuzz cmin`. The checks themselves:
//! `fuzz/src/<target>_check.rs`.

#[path = "../../fuzz/src/token_check.rs"]
mod token_check;

#[path = "../../fuzz/src/webdav_xml_check.rs"]
mod webdav_xml_check;

#[path = "../../fuzz/src/ftp_list_check.rs"]
mod ftp_list_check;

#[path = "../../fuzz/src/azure_xml_check.rs"]
mod azure_xml_check;

#[path = "../../fuzz/src/range_headers_check.rs"]
mod range_headers_check;

use std::path::PathBuf;

/// Every input of `fuzz/seeds/<target>` and `fuzz/corpus/<target>`, each directory holding at
/// least `min` files.
fn inputs(target: &str, min: usize) -> Vec<PathBuf> {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut inputs = Vec::new();
    for dir in [
        fuzz.join("seeds").join(target),
        fuzz.join("corpus").join(target),
    ] {
        let found: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("the corpus {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        assert!(found.len() >= min, "{} lost its inputs", dir.display());
        inputs.extend(found);
    }
    inputs.sort();
    inputs
}

/// Runs `check` on every input of `target`, naming the first input that fails.
fn replay(target: &str, min: usize, check: fn(&[u8])) {
    for path in inputs(target, min) {
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(
            outcome.is_ok(),
            "corpus input {} fails the {target} check",
            path.display()
        );
    }
}

#[test]
fn token_corpus_replays_without_a_finding() {
    replay("token", 10, token_check::check);
}

#[test]
fn webdav_xml_corpus_replays_without_a_finding() {
    replay("webdav_xml", 5, webdav_xml_check::check);
}

#[test]
fn ftp_list_corpus_replays_without_a_finding() {
    replay("ftp_list", 5, ftp_list_check::check);
}

#[test]
fn azure_xml_corpus_replays_without_a_finding() {
    replay("azure_xml", 5, azure_xml_check::check);
}

#[test]
fn range_headers_corpus_replays_without_a_finding() {
    replay("range_headers", 5, range_headers_check::check);
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

/// The real server answers among the seeds are understood, not merely survived: the parsers
/// read the entries the capture made (Apache PROPFIND, pyftpdlib MLSD/LIST, vsftpd LIST,
/// Azurite List Blobs and Get Block List).
#[test]
fn real_server_seeds_parse_to_their_entries() {
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    let read = |p: &str| std::fs::read_to_string(seeds.join(p)).unwrap();

    let dav =
        files_webdav::fuzzing::multistatus(&read("webdav_xml/apache-sub-depth1.xml")).unwrap();
    let hrefs: Vec<_> = dav.iter().map(|e| e.href.as_str()).collect();
    assert_eq!(
        hrefs,
        [
            "/sub%20dir/",
            "/sub%20dir/%c3%bc/",
            "/sub%20dir/b&c%20%3cx%3e.bin"
        ]
    );
    assert_eq!(
        files_webdav::fuzzing::href_path(hrefs[2]).as_deref(),
        Some("/sub dir/b&c <x>.bin")
    );
    assert!(dav[0].collection && !dav[2].collection);
    assert_eq!(dav[2].size, Some(1234));

    let mlsd = read("ftp_list/pyftpdlib-MLSD.txt");
    let names: Vec<_> = mlsd
        .lines()
        .filter_map(files_ftp::fuzzing::parse_mlsd)
        .map(|e| (e.0, e.1, e.2))
        .collect();
    assert!(
        names.contains(&("with space; semi=x.bin".into(), false, 4321)),
        "{names:?}"
    );
    assert!(names.contains(&("sub dir".into(), true, 4096)), "{names:?}");
    for list in ["ftp_list/pyftpdlib-LIST.txt", "ftp_list/vsftpd-LIST-a.txt"] {
        let names: Vec<_> = read(list)
            .lines()
            .filter_map(files_ftp::fuzzing::parse_list)
            .map(|e| e.0)
            .collect();
        assert!(names.contains(&"ü.txt".to_string()), "{list}: {names:?}");
        assert!(
            !names.iter().any(|n| n == "link" || n == "." || n == ".."),
            "{names:?}"
        );
    }

    let az = read("azure_xml/azurite-list-delim.xml");
    let page = files_azure::fuzzing::list_blobs(&az).unwrap();
    assert_eq!(page.objects[0].key, "a.txt");
    let blocks = files_azure::fuzzing::parse_blocks(
        &read("azure_xml/azurite-blocklist-all.xml"),
        "UncommittedBlocks",
    );
    assert_eq!(
        blocks,
        [
            ("YmxvY2stMDAwMDE=".to_string(), 10),
            ("YmxvY2stMDAwMDI=".to_string(), 11)
        ]
    );
    assert_eq!(
        files_webdav::fuzzing::content_range(b"bytes 1-3/5"),
        Some((1, 4, 5))
    );
}
