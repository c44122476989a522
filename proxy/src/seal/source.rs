//! [`StoredSource`]: what goes to a backend for a body or a part: the bytes of another
//! [`BodySource`], sealed in whole chunks (batched into pieces of about [`BODY_BUF`]) when the
//! object is encrypted, and hashed (BLAKE3) as they pass when content hashes are kept, so the
//! hash costs no extra pass over the body.

use bytes::Bytes;

use super::format::{SegmentCipher, TAG};
use super::{Identity, WriteSeal};
use crate::backend::{BodySource, SourceIntegrity, BODY_BUF};
use crate::error::ProxyError;

/// The sealing state of one segment.
struct Sealer<'a> {
    cipher: SegmentCipher<'a>,
    chunk: usize,
    /// Plaintext bytes still to take from the inner source.
    left: u64,
    /// Chunks of the segment, and the next one's index.
    chunks: u64,
    index: u64,
    /// Plaintext taken beyond what was sealed so far.
    carry: Bytes,
}

/// BLAKE3 digests of a run of bytes, one per segment of the given lengths (one for all of them
/// without lengths).
#[derive(Clone)]
struct SegmentHasher {
    bounds: Option<Vec<u64>>,
    at: usize,
    done: u64,
    parts: Vec<String>,
    hasher: blake3::Hasher,
}

impl SegmentHasher {
    fn new(bounds: Option<Vec<u64>>) -> SegmentHasher {
        SegmentHasher {
            bounds,
            at: 0,
            done: 0,
            parts: Vec::new(),
            hasher: blake3::Hasher::new(),
        }
    }

    fn close_part(&mut self) {
        self.parts.push(self.hasher.finalize().to_hex().to_string());
        self.hasher.reset();
        self.at += 1;
        self.done = 0;
    }

    fn update(&mut self, mut b: &[u8]) {
        while !b.is_empty() {
            let Some(len) = self.bounds.as_ref().and_then(|v| v.get(self.at).copied()) else {
                self.hasher.update(b);
                return;
            };
            let room = len - self.done;
            if room == 0 {
                self.close_part();
                continue;
            }
            let n = usize::try_from(room).unwrap_or(usize::MAX).min(b.len());
            self.hasher.update(&b[..n]);
            self.done += n as u64;
            b = &b[n..];
            if self.done == len {
                self.close_part();
            }
        }
    }

    fn digests(&self) -> Vec<String> {
        let mut end = self.clone();
        match end.bounds.as_ref().map(Vec::len) {
            None => vec![end.hasher.finalize().to_hex().to_string()],
            Some(n) => {
                while end.at < n {
                    end.close_part();
                }
                end.parts
            }
        }
    }
}

/// The bytes a backend stores for `len` plaintext bytes of `inner`.
pub struct StoredSource<'a, S> {
    inner: &'a mut S,
    sealer: Option<Sealer<'a>>,
    hasher: Option<SegmentHasher>,
    stored_len: u64,
}

impl<'a, S: BodySource> StoredSource<'a, S> {
    /// `len` bytes of `inner` for object `id`, sealed as `seal` says (as they are without),
    /// hashed when `hash`.
    pub fn new(inner: &'a mut S, seal: Option<&'a WriteSeal>, id: Identity<'_>, len: u64, hash: bool) -> Self {
        let sealer = seal.map(|w| {
            let chunk = w.chunk.max(1) as usize;
            Sealer {
                cipher: SegmentCipher::new(&w.key, id, w.number, w.nonce),
                chunk,
                left: len,
                chunks: len.div_ceil(chunk as u64).max(1),
                index: 0,
                carry: Bytes::new(),
            }
        });
        StoredSource {
            inner,
            stored_len: seal.map_or(len, |w| w.stored_len(len)),
            sealer,
            hasher: hash.then(|| SegmentHasher::new(None)),
        }
    }

    /// Hashes the stored bytes in segments of these lengths (the parts of an object stored as
    /// sent) instead of as one.
    pub fn segmented(mut self, stored_sizes: Vec<u64>) -> Self {
        if let Some(h) = &mut self.hasher {
            *h = SegmentHasher::new(Some(stored_sizes));
        }
        self
    }

    /// Bytes the backend is given.
    pub fn stored_len(&self) -> u64 {
        self.stored_len
    }

    /// The digest of every byte given so far, lowercase hex (`None` when not hashing).
    pub fn hash_hex(&self) -> Option<String> {
        self.hash_parts().and_then(|p| p.into_iter().next())
    }

    /// The digests of the segments (see [`StoredSource::segmented`]), lowercase hex.
    pub fn hash_parts(&self) -> Option<Vec<String>> {
        self.hasher.as_ref().map(SegmentHasher::digests)
    }

    fn hash(&mut self, p: &Option<Bytes>) {
        if let (Some(h), Some(b)) = (&mut self.hasher, p) {
            h.update(b);
        }
    }
}

impl Sealer<'_> {
    /// The next whole sealed chunks, about one body buffer's worth; `None` after the last.
    async fn next<S: BodySource>(&mut self, inner: &mut S) -> Result<Option<Bytes>, ProxyError> {
        if self.index >= self.chunks {
            return Ok(None);
        }
        let per = self.chunk + TAG;
        let chunks_now = ((BODY_BUF / per).max(1) as u64).min(self.chunks - self.index);
        let plain_now = (chunks_now * self.chunk as u64).min(self.left);
        let mut out = Vec::with_capacity(usize::try_from(plain_now).unwrap_or(0) + TAG * chunks_now as usize);
        for _ in 0..chunks_now {
            let start = out.len();
            let want = (self.chunk as u64).min(self.left) as usize;
            while out.len() - start < want {
                if self.carry.is_empty() {
                    match inner.next_piece().await? {
                        Some(b) => self.carry = b,
                        None => return Err(ProxyError::Internal("the body ended before its declared length".into())),
                    }
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
        if self.index == self.chunks {
            // Let the source see its end (and verify what it verifies at the end) before the
            // last sealed bytes go out.
            let extra = !self.carry.is_empty() || inner.next_piece().await?.is_some_and(|b| !b.is_empty());
            if extra {
                return Err(ProxyError::Internal(
                    "the body is longer than its declared length".into(),
                ));
            }
        }
        Ok(Some(Bytes::from(out)))
    }
}

impl<S: BodySource> BodySource for StoredSource<'_, S> {
    async fn next_piece(&mut self) -> Result<Option<Bytes>, ProxyError> {
        let p = match &mut self.sealer {
            Some(s) => s.next(self.inner).await?,
            None => self.inner.next_piece().await?,
        };
        self.hash(&p);
        Ok(p)
    }

    fn next_buffered(&mut self) -> Result<Option<Bytes>, ProxyError> {
        if self.sealer.is_some() {
            return Ok(None);
        }
        let p = self.inner.next_buffered()?;
        self.hash(&p);
        Ok(p)
    }

    fn integrity(&self) -> SourceIntegrity {
        match self.sealer {
            Some(_) => SourceIntegrity::None,
            None => self.inner.integrity(),
        }
    }

    fn trailer_value(&self) -> Option<String> {
        match self.sealer {
            Some(_) => None,
            None => self.inner.trailer_value(),
        }
    }
}
