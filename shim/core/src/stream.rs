//! The frozen deterministic byte stream.
//!
//! ```text
//! block(key, i) = SHA-256(key u64le(i))            32 bytes, i = 0, 1, 2, ...
//! ```
//!
//! A request for `len` bytes reserves `ceil(len / 32)` consecutive blocks and takes the first
//! `len` bytes of their concatenation; the rest of the last block is discarded. Because a block
//! depends only on `(key, i)`, reserving blocks is a single atomic add: no lock, no buffer, safe
//! in signal handlers and across threads, and a fork re-keys by switching keys.
//!
//! A random *file* (an opened `/dev/urandom`) is the infinite concatenation of its blocks, so
//! the byte at offset `o` is `block(key, o / 32)[o % 32]` and reads may start anywhere.

use crate::key::Key;
use sha2::{Digest, Sha256};

/// Bytes per block.
pub const BLOCK: usize = 32;

/// Block `i` of the stream `key`.
#[inline]
pub fn block(key: &Key, i: u64) -> [u8; BLOCK] {
    let mut h = Sha256::new();
    h.update(key);
    h.update(i.to_le_bytes());
    h.finalize().into()
}

/// Blocks needed for a request of `len` bytes.
#[inline]
pub fn blocks_for(len: usize) -> u64 {
    len.div_ceil(BLOCK) as u64
}

/// Fills `buf` from the blocks starting at `first` (the caller reserved `blocks_for(buf.len())`).
pub fn fill(key: &Key, first: u64, buf: &mut [u8]) {
    for (n, chunk) in buf.chunks_mut(BLOCK).enumerate() {
        let b = block(key, first.wrapping_add(n as u64));
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
}

/// Fills `buf` with the file stream `key` starting at byte `offset`.
pub fn fill_at(key: &Key, offset: u64, buf: &mut [u8]) {
    let mut i = offset / BLOCK as u64;
    let mut skip = (offset % BLOCK as u64) as usize;
    let mut out = buf;
    while !out.is_empty() {
        let b = block(key, i);
        let n = (BLOCK - skip).min(out.len());
        out[..n].copy_from_slice(&b[skip..skip + n]);
        out = &mut out[n..];
        skip = 0;
        i = i.wrapping_add(1);
    }
}

/// A uniform value in `0..bound` from a source of uniform `u32`s, by rejection as in
/// OpenBSD's `arc4random_uniform`: values below `2^32 mod bound` are redrawn. `bound` of 0
/// or 1 gives 0 without drawing.
pub fn uniform(bound: u32, mut draw: impl FnMut() -> u32) -> u32 {
    if bound < 2 {
        return 0;
    }
    let min = bound.wrapping_neg() % bound;
    loop {
        let r = draw();
        if r >= min {
            return r % bound;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{root_key, to_hex};

    #[test]
    fn block_is_frozen() {
        // Pinned to Python: hashlib.sha256(root + struct.pack("<Q", 0)).
        let b = block(&root_key(b"1700000000"), 0);
        assert_eq!(&to_hex(&b)[..16], b"530aa9686d570ea6");
    }

    #[test]
    fn fill_discards_partial_tail() {
        let k = root_key(b"k");
        let mut a = [0u8; 40];
        fill(&k, 0, &mut a);
        assert_eq!(&a[..32], &block(&k, 0));
        assert_eq!(&a[32..], &block(&k, 1)[..8]);
        assert_eq!(blocks_for(40), 2);
        assert_eq!(blocks_for(0), 0);
        assert_eq!(blocks_for(32), 1);
    }

    #[test]
    fn file_stream_is_random_access() {
        let k = root_key(b"f");
        let mut whole = [0u8; 100];
        fill_at(&k, 0, &mut whole);
        for start in [0usize, 1, 31, 32, 33, 70] {
            let mut part = [0u8; 20];
            let n = part.len().min(100 - start);
            fill_at(&k, start as u64, &mut part[..n]);
            assert_eq!(&part[..n], &whole[start..start + n], "offset {start}");
        }
    }

    #[test]
    fn uniform_rejects_the_biased_range() {
        // 2^32 mod 3 == 1: a draw of 0 is rejected, then 7 % 3 == 1.
        let mut draws = [0u32, 7].into_iter();
        assert_eq!(uniform(3, || draws.next().unwrap()), 1);
        assert_eq!(uniform(1, || unreachable!()), 0);
        assert_eq!(uniform(0, || unreachable!()), 0);
        let mut x = 0u32;
        for _ in 0..1000 {
            let v = uniform(10, || {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                x
            });
            assert!(v < 10);
        }
    }
}
