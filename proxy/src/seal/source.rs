//! [`SealingSource`]: a [`BodySource`] that seals the bytes of another as they stream, in whole
//! chunks batched into pieces of about [`BODY_BUF`], and [`HashingSource`], which hashes what
//! passes through it (the stored bytes' content hash, computed on the way, no extra pass).

use bytes::Bytes;

use super::format::{SegmentCipher, TAG};
use super::{Identity, WriteSeal};
use crate::backend::{BodySource, BODY_BUF};
use crate::error::ProxyError;

/// Seals exactly `len` plaintext bytes of `inner` as one segment.
pub struct SealingSource<'a, S> {
    inner: &'a mut S,
    cipher: SegmentCipher<'a>,
    chunk: usize,
    /// Plaintext bytes still to take from `inner`.
    left: u64,
    /// Chunks of the segment, and the next one's index.
    chunks: u64,
    index: u64,
    /// Plaintext taken from `inner` beyond what was sealed so far.
    carry: Bytes,
}

impl<'a, S: BodySource> SealingSource<'a, S> {
    /// Seals the `len` bytes of `inner` for object `id` as `seal` says.
    pub fn new(inner: &'a mut S, seal: &'a WriteSeal, id: Identity<'_>, len: u64) -> SealingSource<'a, S> {
        let chunk = seal.chunk.max(1) as usize;
        SealingSource {
            inner,
            cipher: SegmentCipher::new(&seal.key, id, seal.number, seal.nonce),
            chunk,
            left: len,
            chunks: len.div_ceil(chunk as u64).max(1),
            index: 0,
            carry: Bytes::new(),
        }
    }

    /// Plaintext for the chunk being filled: the carried bytes, else the next piece.
    async fn more(&mut self) -> Result<bool, ProxyError> {
        if !self.carry.is_empty() {
            return Ok(true);
        }
        match self.inner.next_piece().await? {
            Some(b) if !b.is_empty() => {
                self.carry = b;
                Ok(true)
            }
            Some(_) => Ok(true),
            None => Ok(false),
        }
    }
}

impl<S: BodySource> BodySource for SealingSource<'_, S> {
    async fn next_piece(&mut self) -> Result<Option<Bytes>, ProxyError> {
        if self.index >= self.chunks {
            return Ok(None);
        }
        let per = self.chunk + TAG;
        // Whole sealed chunks, about one body buffer's worth (at least one chunk).
        let want_chunks = (BODY_BUF / per).max(1) as u64;
        let chunks_now = want_chunks.min(self.chunks - self.index);
        let plain_now = (chunks_now * self.chunk as u64).min(self.left);
        let mut out = Vec::with_capacity(usize::try_from(plain_now).unwrap_or(0) + TAG * chunks_now as usize);
        for _ in 0..chunks_now {
            let start = out.len();
            let want = (self.chunk as u64).min(self.left) as usize;
            while out.len() - start < want {
                if !self.more().await? {
                    return Err(ProxyError::Internal("the body ended before its declared length".into()));
                }
                let n = self.carry.len().min(want - (out.len() - start));
                out.extend_from_slice(&self.carry[..n]);
                let _ = self.carry.split_to(n);
            }
            self.left -= want as u64;
            let last = self.index + 1 == self.chunks;
            let tag = self.cipher.seal(self.index, last, &mut out[start..])?;
            out.extend_from_slice(&tag);
            self.index += 1;
        }
        if self.index == self.chunks && (!self.carry.is_empty() || self.inner.next_piece().await?.is_some_and(|b| !b.is_empty())) {
            return Err(ProxyError::Internal("the body is longer than its declared length".into()));
        }
        Ok(Some(Bytes::from(out)))
    }
}

/// Passes the pieces of `inner` on and, when on, hashes them (BLAKE3).
pub struct HashingSource<'a, S> {
    inner: &'a mut S,
    hasher: Option<blake3::Hasher>,
}

impl<'a, S: BodySource> HashingSource<'a, S> {
    /// Hashes what `inner` gives when `on`.
    pub fn new(inner: &'a mut S, on: bool) -> HashingSource<'a, S> {
        HashingSource {
            inner,
            hasher: on.then(blake3::Hasher::new),
        }
    }

    /// The digest of every byte given so far, lowercase hex (`None` when off).
    pub fn hex(&self) -> Option<String> {
        self.hasher.as_ref().map(|h| h.finalize().to_hex().to_string())
    }

    fn hash(&mut self, p: &Option<Bytes>) {
        if let (Some(h), Some(b)) = (&mut self.hasher, p) {
            h.update(b);
        }
    }
}

impl<S: BodySource> BodySource for HashingSource<'_, S> {
    async fn next_piece(&mut self) -> Result<Option<Bytes>, ProxyError> {
        let p = self.inner.next_piece().await?;
        self.hash(&p);
        Ok(p)
    }

    fn next_buffered(&mut self) -> Result<Option<Bytes>, ProxyError> {
        let p = self.inner.next_buffered()?;
        self.hash(&p);
        Ok(p)
    }

    fn integrity(&self) -> crate::backend::SourceIntegrity {
        self.inner.integrity()
    }

    fn trailer_value(&self) -> Option<String> {
        self.inner.trailer_value()
    }
}
