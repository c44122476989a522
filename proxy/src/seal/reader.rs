//! [`OpenReader`]: the plaintext of a sealed body (or of a range of it) read from a backend
//! stream of its stored chunks. Each chunk is authenticated before any of its bytes are handed
//! out, so a changed, reordered, truncated or moved chunk ends the read with an error (the
//! client sees a cut transfer, never wrong bytes).

use super::format::{ChunkAt, DataKey, Layout, SegmentCipher, TAG};
use super::{decode_nonce, Identity, SealError};
use crate::backend::stream::GetStream;
use crate::error::{BackendError, ProxyError};

/// The plaintext of a sealed body, read through its stored chunks.
pub struct OpenReader {
    inner: GetStream,
    key: DataKey,
    /// Bucket, key and version (owned: the reader outlives the request's borrows).
    bucket: String,
    object: String,
    version: u64,
    nonces: Vec<[u8; 12]>,
    numbers: Vec<u32>,
    layout: Layout,
    /// The next chunk to open.
    at: ChunkAt,
    /// Plaintext bytes to drop from the front of the first chunk (a range's start).
    skip: u64,
    /// Plaintext bytes still to hand out.
    left: u64,
    /// Stored bytes read but not yet opened (less than a chunk, or a chunk not yet complete).
    pending: Vec<u8>,
    /// Where a chunk that fails authentication is reported (the copy is a suspect).
    report: Option<std::sync::Arc<crate::state::Shared>>,
}

impl std::fmt::Debug for OpenReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenReader").field("left", &self.left).finish()
    }
}

/// What an [`OpenReader`] needs to know of the object.
pub struct Opening<'a> {
    /// The object's identity.
    pub id: Identity<'a>,
    /// Its data key.
    pub key: DataKey,
    /// Its segments' numbers and nonce bases (base64), in order.
    pub segments: &'a [s3o_store::SealSegment],
    /// Its layout.
    pub layout: Layout,
    /// Where a chunk that fails authentication is reported.
    pub report: Option<std::sync::Arc<crate::state::Shared>>,
}

impl OpenReader {
    /// Reads plaintext bytes `first..=last` (all of them when `None`) of the body described by
    /// `o` from `inner`, which must be the stored bytes [`OpenReader::stored_range`] gave.
    pub fn new(inner: GetStream, o: Opening<'_>, range: Option<(u64, u64)>) -> Result<OpenReader, SealError> {
        let nonces = o
            .segments
            .iter()
            .map(|s| decode_nonce(&s.nonce))
            .collect::<Result<Vec<_>, _>>()?;
        let total: u64 = o.layout.sizes().iter().sum();
        let (at, skip, left) = match range {
            Some((first, last)) => {
                let at = o.layout.locate(first);
                (at, first - at.plain, last - first + 1)
            }
            None => (o.layout.first(), 0, total),
        };
        Ok(OpenReader {
            inner,
            key: o.key,
            bucket: o.id.bucket.to_string(),
            object: o.id.key.to_string(),
            version: o.id.version,
            nonces,
            numbers: o.segments.iter().map(|s| s.number).collect(),
            layout: o.layout,
            at,
            skip,
            left,
            pending: Vec::new(),
            report: o.report,
        })
    }

    /// The stored bytes (`start..=end`) to fetch for plaintext `first..=last` of `layout`, `None`
    /// for all of them.
    pub fn stored_range(layout: &Layout, range: Option<(u64, u64)>) -> Option<(u64, u64)> {
        range.map(|(first, last)| {
            let (_, start, end) = layout.stored_range(first, last);
            (start, end)
        })
    }

    /// Plaintext bytes left to read.
    pub fn remaining(&self) -> u64 {
        self.left
    }

    /// Stored bytes of the chunk `self.at`.
    fn sealed_len(&self) -> usize {
        self.layout.plain_len(self.at.segment, self.at.index) as usize + TAG
    }

    /// Opens the whole chunks at the front of `buf` in place, moving their plaintext to the front;
    /// returns (plaintext bytes, stored bytes consumed).
    fn open_chunks(&mut self, buf: &mut [u8]) -> Result<(usize, usize), ProxyError> {
        let (mut out, mut used) = (0usize, 0usize);
        // One cipher (and its associated data) per segment, not per chunk.
        let mut cipher: Option<(usize, SegmentCipher<'_>)> = None;
        while self.left > 0 && self.at.segment < self.numbers.len() {
            let n = self.sealed_len();
            if buf.len() - used < n {
                break;
            }
            let s = self.at.segment;
            let cipher = match &mut cipher {
                Some((seg, c)) if *seg == s => c,
                slot => {
                    let id = Identity {
                        bucket: &self.bucket,
                        key: &self.object,
                        version: self.version,
                    };
                    &mut slot
                        .insert((s, SegmentCipher::new(&self.key, id, self.numbers[s], self.nonces[s])))
                        .1
                }
            };
            let last = self.layout.is_last(s, self.at.index);
            // Opened straight to where its plaintext belongs, after what is already out.
            let plain = cipher
                .open_within(self.at.index, last, &mut buf[out..used + n], used - out)
                .map_err(|e| self.tampered(e))?;
            // Drop a range's leading bytes (its first chunk only), keep at most what is left.
            let skip = (self.skip as usize).min(plain);
            self.skip -= skip as u64;
            let keep = ((plain - skip) as u64).min(self.left) as usize;
            if skip > 0 {
                buf.copy_within(out + skip..out + skip + keep, out);
            }
            out += keep;
            self.left -= keep as u64;
            used += n;
            self.at = self.layout.next(self.at);
        }
        Ok((out, used))
    }

    fn tampered(&self, e: SealError) -> ProxyError {
        tracing::error!(bucket = %self.bucket, key = %self.object, version = self.version, error = %e, "a sealed chunk failed authentication: read cut short");
        if let (Some(shared), SealError::Tampered) = (&self.report, &e) {
            shared.suspects.push(crate::integrity::Suspect {
                bucket: self.bucket.clone(),
                key: self.object.clone(),
                version: self.version,
                backend: self.inner.backend().to_string(),
            });
            crate::integrity::IntegrityCounters::bump(&shared.metrics.integrity.read_failures);
        }
        BackendError::Protocol {
            backend: self.inner.backend().to_string(),
            detail: e.to_string(),
        }
        .into()
    }

    /// Reads the next plaintext bytes into `buf` (its capacity a hint); an empty buffer means
    /// the end.
    pub async fn read(&mut self, buf: Vec<u8>) -> (Result<(), ProxyError>, Vec<u8>) {
        let mut buf = buf;
        buf.clear();
        if self.left == 0 {
            return (Ok(()), buf);
        }
        // `buf` becomes the stored bytes: first those pending, then more from the backend.
        let chunk = self.layout.chunk() as usize + TAG;
        let room = buf.capacity().max(chunk + self.pending.len());
        buf.reserve(room);
        buf.extend_from_slice(&self.pending);
        self.pending.clear();
        loop {
            if buf.len() >= self.sealed_len() || self.inner.remaining() == 0 {
                let (out, used) = match self.open_chunks(&mut buf) {
                    Ok(x) => x,
                    Err(e) => return (Err(e), Vec::new()),
                };
                if used > 0 || self.left == 0 {
                    self.pending.extend_from_slice(&buf[used..]);
                    buf.truncate(out);
                    if out > 0 || self.left == 0 {
                        return (Ok(()), buf);
                    }
                    // Only empty chunks (empty parts) were opened: read on.
                    buf.clear();
                    let p = std::mem::take(&mut self.pending);
                    buf.extend_from_slice(&p);
                    continue;
                }
                if self.inner.remaining() == 0 {
                    let e = self.tampered(SealError::BadRecord("the stored body ended inside a chunk"));
                    return (Err(e), Vec::new());
                }
            }
            if buf.len() == buf.capacity() {
                buf.reserve(chunk);
            }
            let (res, b) = self.inner.read_more(buf).await;
            buf = b;
            if let Err(e) = res {
                return (Err(e), Vec::new());
            }
        }
    }
}

/// An object's plaintext as a read hands it out: the stored bytes as they are, or opened.
#[derive(Debug)]
pub enum ObjectReader {
    /// Stored as sent.
    Plain(GetStream),
    /// Sealed.
    Sealed(Box<OpenReader>),
}

impl ObjectReader {
    /// Plaintext bytes left to read.
    pub fn remaining(&self) -> u64 {
        match self {
            ObjectReader::Plain(s) => s.remaining(),
            ObjectReader::Sealed(r) => r.remaining(),
        }
    }

    /// The body bytes that came with the backend's head, to send with the response head
    /// (none for a sealed body: its bytes are handed out as they are opened).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        match self {
            ObjectReader::Plain(s) => s.take_buffered(),
            ObjectReader::Sealed(_) => Vec::new(),
        }
    }

    /// Reads the next bytes into `buf` (cleared first); an empty buffer means the end.
    pub async fn read(&mut self, buf: Vec<u8>) -> (Result<(), ProxyError>, Vec<u8>) {
        match self {
            ObjectReader::Plain(s) => s.read(buf).await,
            ObjectReader::Sealed(r) => r.read(buf).await,
        }
    }
}
