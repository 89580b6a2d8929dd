//! Dropbox's content hash (<https://www.dropbox.com/developers/reference/content-hash>): the
//! body split into 4 MiB blocks (the last one shorter, none for an empty body), SHA-256 of
//! each block, SHA-256 of the concatenated block hashes, in lower-case hex.

use sha2::{Digest, Sha256};

/// The block size of the content hash: 4 MiB.
pub const BLOCK: usize = 4 * 1024 * 1024;

/// The content hash of `data`.
pub fn content_hash(data: &[u8]) -> String {
    combine(&block_hashes(data))
}

/// The SHA-256 of each 4 MiB block of `data`.
pub fn block_hashes(data: &[u8]) -> Vec<[u8; 32]> {
    data.chunks(BLOCK)
        .map(|b| Sha256::digest(b).into())
        .collect()
}

/// The content hash of a body whose blocks hash to `blocks`, in order.
pub fn combine(blocks: &[[u8; 32]]) -> String {
    let mut h = Sha256::new();
    for b in blocks {
        h.update(b);
    }
    hex(&h.finalize())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The content hash of a body fed in pieces of any size.
#[derive(Clone, Default)]
pub struct ContentHasher {
    blocks: Vec<[u8; 32]>,
    current: Sha256,
    in_block: usize,
}

impl std::fmt::Debug for ContentHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentHasher")
            .field("blocks", &self.blocks.len())
            .field("in_block", &self.in_block)
            .finish()
    }
}

impl ContentHasher {
    /// An empty hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the body.
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let n = (BLOCK - self.in_block).min(data.len());
            self.current.update(&data[..n]);
            self.in_block += n;
            data = &data[n..];
            if self.in_block == BLOCK {
                let done = std::mem::take(&mut self.current);
                self.blocks.push(done.finalize().into());
                self.in_block = 0;
            }
        }
    }

    /// The content hash of everything fed.
    pub fn finish(mut self) -> String {
        if self.in_block > 0 {
            self.blocks.push(self.current.finalize().into());
        }
        combine(&self.blocks)
    }
}
