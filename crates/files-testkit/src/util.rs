//! Helpers shared by the conformance suite and the cross-crate tests: seeded random bodies,
//! SHA-256 digests, unique key prefixes, part-size choice, and [`FnFixture`], a
//! [`Fixture`] built from closures.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use files_core::token::ResumeToken;
use files_core::{Bytes, Files, PartRules};
use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::conformance::Fixture;

/// `len` pseudo-random bytes, the same for the same `seed`.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = vec![0u8; len];
    rng.fill(&mut out);
    out
}

/// The SHA-256 of `bytes`, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A key prefix no other call of this process (nor, practically, of another process) returns:
/// `t/{tag}-{time}-{counter}-{random}/`. Checks that share a store each work under their own.
pub fn unique_prefix(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tag: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!(
        "t/{tag}-{nanos:08x}-{n}-{:06x}/",
        fastrand::u32(..0xff_ffff)
    )
}

/// A part size near `want` that `rules` accept for bodies of several parts: at least the
/// minimum, aligned, at most the maximum.
pub fn part_size_for(rules: &PartRules, want: u64) -> u64 {
    let align = rules.alignment.max(1);
    let mut size = want.max(rules.min_part_size).max(1);
    size = size.div_ceil(align).saturating_mul(align);
    size.min(rules.max_part_size)
}

/// Downloads the whole object at `key` and collects its bytes; panics on failure.
pub async fn download_all(files: &Files, key: &str) -> Bytes {
    let dl = files
        .download(key)
        .await
        .unwrap_or_else(|e| panic!("download of {key} failed: {e}"));
    let mut out = Vec::new();
    let mut stream = dl.into_stream();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap_or_else(|e| panic!("download of {key} broke: {e}")));
    }
    Bytes::from(out)
}

/// Asserts that the object at `key` holds exactly `expected` (SHA-256 and length).
pub async fn assert_object_eq(files: &Files, key: &str, expected: &[u8]) {
    let got = download_all(files, key).await;
    assert_eq!(
        got.len(),
        expected.len(),
        "object {key}: {} bytes stored, {} expected",
        got.len(),
        expected.len()
    );
    assert_eq!(
        sha256_hex(&got),
        sha256_hex(expected),
        "object {key}: content differs from the body"
    );
}

type ClientFn = dyn Fn() -> Files + Send + Sync;
type LeftoversFn = dyn Fn(&ResumeToken) -> Option<Vec<String>> + Send + Sync;

/// A [`Fixture`] made of closures: `client` builds a new client over the same store each time
/// (as a new process would), `leftovers` (optional) lists what the store still holds of an
/// upload session.
///
/// ```no_run
/// # fn adapter() -> files_core::Files { unimplemented!() }
/// use files_testkit::util::FnFixture;
/// let fixture = FnFixture::new("mine", adapter);
/// # let _ = fixture;
/// ```
#[derive(Clone)]
pub struct FnFixture {
    name: String,
    client: Arc<ClientFn>,
    leftovers: Option<Arc<LeftoversFn>>,
}

impl FnFixture {
    /// A fixture named `name` whose clients `client` builds.
    pub fn new(
        name: impl Into<String>,
        client: impl Fn() -> Files + Send + Sync + 'static,
    ) -> Self {
        FnFixture {
            name: name.into(),
            client: Arc::new(client),
            leftovers: None,
        }
    }

    /// Adds a way to observe what the store still holds of the session a token names (e.g.
    /// part files on disk): the closure returns their names (empty when nothing remains), or
    /// `None` when it cannot tell.
    pub fn with_leftovers(
        mut self,
        f: impl Fn(&ResumeToken) -> Option<Vec<String>> + Send + Sync + 'static,
    ) -> Self {
        self.leftovers = Some(Arc::new(f));
        self
    }
}

impl fmt::Debug for FnFixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnFixture")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Fixture for FnFixture {
    fn name(&self) -> &str {
        &self.name
    }

    async fn client(&self) -> Files {
        (self.client)()
    }

    async fn leftovers(&self, token: &ResumeToken) -> Option<Vec<String>> {
        self.leftovers.as_ref().and_then(|f| f(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bytes_are_seeded() {
        assert_eq!(random_bytes(7, 100), random_bytes(7, 100));
        assert_ne!(random_bytes(7, 100), random_bytes(8, 100));
        assert_eq!(random_bytes(1, 0).len(), 0);
    }

    #[test]
    fn sha256_known_value() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn prefixes_are_unique_and_valid_keys() {
        let a = unique_prefix("x y");
        let b = unique_prefix("x y");
        assert_ne!(a, b);
        assert!(files_core::adapter::validate_key_default(&format!("{a}k")).is_ok());
    }

    #[test]
    fn part_size_respects_rules() {
        let rules = PartRules {
            min_part_size: 100 << 10,
            max_part_size: 1 << 30,
            alignment: 256 << 10,
            max_parts: 10_000,
            default_part_size: 8 << 20,
        };
        let ps = part_size_for(&rules, 64 << 10);
        assert_eq!(ps, 256 << 10);
        assert!(rules.check(ps, 10 * ps + 1).is_ok());
        assert_eq!(
            part_size_for(&PartRules::unconstrained(), 64 << 10),
            64 << 10
        );
    }
}
