//! The sealed chunk format of encryption at rest, pure: a body is stored as one or more
//! *segments* (the whole body, or each part of a multipart upload), each a STREAM of AES-256-GCM
//! chunks of [`s3o_store::Sealed::chunk`] plaintext bytes followed by their 16-byte tag. An empty
//! segment is one empty chunk (its tag alone), so every segment's end is authenticated.
//!
//! Chunk `i` of segment `s`: nonce = the segment's random 12-byte base with its last 8 bytes
//! XORed with `i` (big-endian); associated data = `"s3o-seal-1"`, then the object's bucket and
//! key (each a 4-byte big-endian length and the bytes), its version (8 bytes), `s` (4 bytes),
//! `i` (8 bytes) and a last-chunk flag (1 byte). Chunks therefore cannot be reordered (index),
//! truncated (flag), moved between segments (segment number) or objects (identity), and a
//! changed byte fails the tag.

use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, AES_256_GCM, NONCE_LEN};

use super::SealError;

/// Bytes of a chunk's tag.
pub const TAG: usize = 16;
/// Plaintext bytes per chunk by default: 64 KiB keeps the tags' overhead at 0.02% and a Range
/// read at most 128 KiB away from the bytes it asked for.
pub const DEFAULT_CHUNK: u32 = 64 * 1024;
/// The associated data's leading label (the format's version).
const LABEL: &[u8] = b"s3o-seal-1";

/// The object a chunk belongs to, bound into its associated data.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    /// Logical bucket.
    pub bucket: &'a str,
    /// Logical key.
    pub key: &'a str,
    /// Version number.
    pub version: u64,
}

/// An object's data key.
pub struct DataKey(LessSafeKey);

impl DataKey {
    /// The key of these 32 bytes.
    pub fn new(bytes: &[u8; 32]) -> DataKey {
        // AES-256 takes exactly 32 bytes: `new` cannot fail on an array of that length.
        match UnboundKey::new(&AES_256_GCM, bytes) {
            Ok(k) => DataKey(LessSafeKey::new(k)),
            Err(_) => unreachable!("AES-256-GCM takes a 32-byte key"),
        }
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// Seals or opens the chunks of one segment.
pub struct SegmentCipher<'k> {
    key: &'k DataKey,
    nonce: [u8; NONCE_LEN],
    /// The associated data up to the segment number; the chunk index and flag are appended.
    aad: Vec<u8>,
    prefix: usize,
}

impl<'k> SegmentCipher<'k> {
    /// The cipher of segment `number` of `id`, with nonce base `nonce`.
    pub fn new(key: &'k DataKey, id: Identity<'_>, number: u32, nonce: [u8; NONCE_LEN]) -> SegmentCipher<'k> {
        let mut aad = Vec::with_capacity(LABEL.len() + 8 + id.bucket.len() + id.key.len() + 12 + 9);
        aad.extend_from_slice(LABEL);
        for part in [id.bucket.as_bytes(), id.key.as_bytes()] {
            aad.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
            aad.extend_from_slice(part);
        }
        aad.extend_from_slice(&id.version.to_be_bytes());
        aad.extend_from_slice(&number.to_be_bytes());
        let prefix = aad.len();
        SegmentCipher {
            key,
            nonce,
            aad,
            prefix,
        }
    }

    fn nonce_aad(&mut self, index: u64, last: bool) -> (Nonce, Aad<&[u8]>) {
        let mut n = self.nonce;
        for (b, x) in n[NONCE_LEN - 8..].iter_mut().zip(index.to_be_bytes()) {
            *b ^= x;
        }
        self.aad.truncate(self.prefix);
        self.aad.extend_from_slice(&index.to_be_bytes());
        self.aad.push(u8::from(last));
        (Nonce::assume_unique_for_key(n), Aad::from(&self.aad[..]))
    }

    /// Encrypts chunk `index` (`last` when it ends the segment) in place; returns its tag.
    pub fn seal(&mut self, index: u64, last: bool, chunk: &mut [u8]) -> Result<[u8; TAG], SealError> {
        let key = self.key;
        let (nonce, aad) = self.nonce_aad(index, last);
        let tag: Tag = key
            .0
            .seal_in_place_separate_tag(nonce, aad, chunk)
            .map_err(|_| SealError::Crypto)?;
        let mut out = [0u8; TAG];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Decrypts and authenticates chunk `index`, whose ciphertext and tag are `in_out[src..]`,
    /// writing its plaintext to the front of `in_out` in the same pass (no separate move);
    /// returns the plaintext's length.
    pub fn open_within(&mut self, index: u64, last: bool, in_out: &mut [u8], src: usize) -> Result<usize, SealError> {
        let key = self.key;
        let (nonce, aad) = self.nonce_aad(index, last);
        key.0
            .open_within(nonce, aad, in_out, src..)
            .map(|p| p.len())
            .map_err(|_| SealError::Tampered)
    }

    /// Decrypts and authenticates chunk `index` (ciphertext then tag) in place; returns the
    /// length of its plaintext, at the front of `sealed`.
    pub fn open(&mut self, index: u64, last: bool, sealed: &mut [u8]) -> Result<usize, SealError> {
        let key = self.key;
        let (nonce, aad) = self.nonce_aad(index, last);
        key.0
            .open_in_place(nonce, aad, sealed)
            .map(|p| p.len())
            .map_err(|_| SealError::Tampered)
    }
}

/// Where the chunks of a sealed body lie: its segments' plaintext sizes and the chunk size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    chunk: u64,
    sizes: Vec<u64>,
}

/// A chunk of a sealed body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkAt {
    /// Index of its segment in the layout.
    pub segment: usize,
    /// Its index in the segment.
    pub index: u64,
    /// Offset of its first plaintext byte in the body.
    pub plain: u64,
    /// Offset of its first stored byte.
    pub stored: u64,
}

impl Layout {
    /// The layout of segments of `sizes` plaintext bytes in chunks of `chunk`.
    pub fn new(chunk: u32, sizes: Vec<u64>) -> Layout {
        Layout {
            chunk: u64::from(chunk.max(1)),
            sizes,
        }
    }

    /// The segments' plaintext sizes.
    pub fn sizes(&self) -> &[u64] {
        &self.sizes
    }

    /// Plaintext bytes per chunk.
    pub fn chunk(&self) -> u64 {
        self.chunk
    }

    /// Chunks of segment `s` (an empty one has one).
    pub fn chunks(&self, s: usize) -> u64 {
        self.sizes.get(s).map_or(0, |n| n.div_ceil(self.chunk).max(1))
    }

    /// Plaintext bytes of chunk `index` of segment `s`.
    pub fn plain_len(&self, s: usize, index: u64) -> u64 {
        let size = self.sizes.get(s).copied().unwrap_or(0);
        size.saturating_sub(index * self.chunk).min(self.chunk)
    }

    /// Whether chunk `index` ends segment `s`.
    pub fn is_last(&self, s: usize, index: u64) -> bool {
        index + 1 >= self.chunks(s)
    }

    /// Stored bytes of segment `s`.
    pub fn stored_len(&self, s: usize) -> u64 {
        self.sizes.get(s).map_or(0, |&n| n + TAG as u64 * self.chunks(s))
    }

    /// Stored bytes of the whole body.
    pub fn total_stored(&self) -> u64 {
        (0..self.sizes.len()).map(|s| self.stored_len(s)).sum()
    }

    /// The first chunk of the body.
    pub fn first(&self) -> ChunkAt {
        ChunkAt {
            segment: 0,
            index: 0,
            plain: 0,
            stored: 0,
        }
    }

    /// The chunk holding plaintext byte `offset` (which must be inside the body).
    pub fn locate(&self, offset: u64) -> ChunkAt {
        let (mut plain, mut stored) = (0u64, 0u64);
        for (s, &size) in self.sizes.iter().enumerate() {
            if offset < plain + size {
                let index = (offset - plain) / self.chunk;
                return ChunkAt {
                    segment: s,
                    index,
                    plain: plain + index * self.chunk,
                    stored: stored + index * (self.chunk + TAG as u64),
                };
            }
            plain += size;
            stored += self.stored_len(s);
        }
        ChunkAt {
            segment: self.sizes.len(),
            index: 0,
            plain,
            stored,
        }
    }

    /// The chunk after `at`, in the same segment or the next one.
    pub fn next(&self, at: ChunkAt) -> ChunkAt {
        let stored = at.stored + self.plain_len(at.segment, at.index) + TAG as u64;
        let plain = at.plain + self.plain_len(at.segment, at.index);
        if self.is_last(at.segment, at.index) {
            ChunkAt {
                segment: at.segment + 1,
                index: 0,
                plain,
                stored,
            }
        } else {
            ChunkAt {
                segment: at.segment,
                index: at.index + 1,
                plain,
                stored,
            }
        }
    }

    /// The stored bytes `start..=end` to fetch for plaintext bytes `first..=last`, and the chunk
    /// they start with.
    pub fn stored_range(&self, first: u64, last: u64) -> (ChunkAt, u64, u64) {
        let a = self.locate(first);
        let b = self.locate(last);
        let end = b.stored + self.plain_len(b.segment, b.index) + TAG as u64 - 1;
        (a, a.stored, end)
    }
}

#[cfg(test)]
#[path = "format_tests.rs"]
mod tests;
