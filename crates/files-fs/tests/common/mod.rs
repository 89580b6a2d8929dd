//! Helpers shared by the fs adapter's tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use files_core::{Files, ListRequest};
use files_fs::FsAdapter;

pub const MIB: usize = 1024 * 1024;

/// Deterministic pseudo-random bytes (xorshift), different for each seed.
pub fn body(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A temporary directory holding `store/` (the root) and `outside/` (must stay untouched).
pub struct Env {
    pub dir: tempfile::TempDir,
    pub adapter: FsAdapter,
    pub files: Files,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("outside")).unwrap();
        let adapter = FsAdapter::new(dir.path().join("store")).unwrap();
        let files = Files::new(adapter.clone());
        Env {
            dir,
            adapter,
            files,
        }
    }

    pub fn root(&self) -> PathBuf {
        self.adapter.root().to_path_buf()
    }

    pub fn outside(&self) -> PathBuf {
        std::fs::canonicalize(self.dir.path().join("outside")).unwrap()
    }

    /// A new client over the same root, as a later process would open it.
    pub fn new_client(&self) -> Files {
        Files::new(FsAdapter::new(self.dir.path().join("store")).unwrap())
    }

    pub async fn read(&self, key: &str) -> Vec<u8> {
        self.files
            .download(key)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    }

    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let page = self
            .files
            .list(&ListRequest {
                prefix: prefix.into(),
                limit: Some(100_000),
                ..ListRequest::default()
            })
            .await
            .unwrap();
        assert!(page.cursor.is_none());
        page.objects.into_iter().map(|o| o.key).collect()
    }
}

/// Every file and directory under `dir`, as relative paths, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
