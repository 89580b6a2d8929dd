//! The conformance suite against `files-fs`, one test per check, each over its own tempdir.

use std::path::{Path, PathBuf};

use files::Files;
use files::fs::{FsAdapter, TEMP_PREFIX};
use files_testkit::util::FnFixture;

/// Files under `dir` whose name starts with the fs adapter's temporary prefix.
fn temp_files(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            temp_files(&path, out);
        } else if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            out.push(path.display().to_string());
        }
    }
}

fn fixture() -> FnFixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let root: PathBuf = dir.path().to_path_buf();
    let root2 = root.clone();
    FnFixture::new("fs", move || {
        let _keep_alive = &dir;
        Files::new(FsAdapter::new(&root).expect("fs adapter over a tempdir"))
    })
    .with_leftovers(move |token| {
        let adapter = FsAdapter::new(&root2).ok()?;
        let part = adapter.part_path_of(&token.key).ok()?;
        let mut left = Vec::new();
        if part.exists() {
            left.push(part.display().to_string());
        }
        temp_files(&root2, &mut left);
        Some(left)
    })
}

files_testkit::conformance_tests!(fixture());
