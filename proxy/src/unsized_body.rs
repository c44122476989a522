//! Request bodies whose length the client did not state: a `Transfer-Encoding: chunked` upload
//! without `Content-Length` or `x-amz-decoded-content-length`. Every backend needs the length
//! before the first byte (an S3 backend signs it, placement reserves it against a quota), so such
//! a body is read whole and verified into memory first, then stored like any other. Memory stays
//! bounded twice: one body may hold at most `limits.unsized_body_max_bytes` (a longer one is
//! refused 411 with a message naming the fix), and all bodies buffered at once over every core at
//! most `limits.unsized_body_total_bytes` (past that, 503 SlowDown: the client retries).

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};

use crate::backend::{BodySource, BODY_BUF};
use crate::client::{ClientBodySource, ClientIo, RequestBody};
use crate::config::Limits;
use crate::error::ProxyError;

/// The bytes all unsized bodies may hold at once, shared by every core.
#[derive(Debug)]
pub struct BufferBudget {
    used: AtomicU64,
    total: u64,
}

impl BufferBudget {
    /// A budget of `total` bytes.
    pub fn new(total: u64) -> BufferBudget {
        BufferBudget {
            used: AtomicU64::new(0),
            total,
        }
    }

    /// Takes `n` more bytes, or none if that would pass the total.
    fn take(&self, n: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|&t| t <= self.total)
            })
            .is_ok()
    }

    fn give_back(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// Bytes held now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }
}

/// A whole, verified request body held in memory, in one buffer of its own (the pieces it
/// arrived in are copied out, so neither the wire buffers nor chunk framing stay alive); its
/// bytes count against the budget until it is dropped. Read it as a [`BodySource`].
pub struct BufferedBody<'a> {
    bytes: Bytes,
    held: u64,
    budget: &'a BufferBudget,
}

impl BufferedBody<'_> {
    /// The body's length (of what is left to read).
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn next(&mut self) -> Option<Bytes> {
        let n = self.bytes.len().min(BODY_BUF);
        (n > 0).then(|| self.bytes.split_to(n))
    }
}

impl Drop for BufferedBody<'_> {
    fn drop(&mut self) {
        self.budget.give_back(self.held);
    }
}

impl BodySource for BufferedBody<'_> {
    async fn next_piece(&mut self) -> Result<Option<Bytes>, ProxyError> {
        Ok(self.next())
    }

    fn next_buffered(&mut self) -> Result<Option<Bytes>, ProxyError> {
        Ok(self.next())
    }
}

/// Reads `body` whole (every check of it passed) into memory, at most `max` bytes, taking its
/// bytes from `budget` as they arrive.
pub async fn read_whole<'a>(
    io: &mut ClientIo,
    body: &mut RequestBody,
    max: u64,
    budget: &'a BufferBudget,
) -> Result<BufferedBody<'a>, ProxyError> {
    let mut held = Held { n: 0, budget };
    let mut buf = BytesMut::new();
    while let Some(piece) = body.next_verified(io).await? {
        let n = piece.len() as u64;
        if buf.len() as u64 + n > max {
            return Err(ProxyError::UnsizedBodyTooLarge(max));
        }
        if !budget.take(n) {
            return Err(ProxyError::SlowDown);
        }
        held.n += n;
        buf.extend_from_slice(&piece);
    }
    let held = std::mem::replace(&mut held.n, 0);
    Ok(BufferedBody {
        bytes: buf.freeze(),
        held,
        budget,
    })
}

/// Budget taken while a body is being read, given back if reading fails.
struct Held<'a> {
    n: u64,
    budget: &'a BufferBudget,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.budget.give_back(self.n);
    }
}

/// An upload's length, stated by the client or, for a chunked body of unstated length, learnt
/// by reading it whole into memory (returned too; its MD5 is computed on the way).
pub async fn upload_length<'a>(
    io: &mut ClientIo,
    body: &mut RequestBody,
    declared: bool,
    limits: &Limits,
    budget: &'a BufferBudget,
) -> Result<(u64, Option<BufferedBody<'a>>), ProxyError> {
    if !declared {
        return Err(ProxyError::MissingContentLength);
    }
    if let Some(n) = body.payload_len() {
        return Ok((n, None));
    }
    body.compute_md5();
    let whole = read_whole(io, body, limits.unsized_body_max_bytes, budget).await?;
    Ok((whole.len(), Some(whole)))
}

/// Where an upload's bytes come from: the client's connection, or a body read whole first.
pub enum UploadSource<'a, 'b> {
    /// Streamed from the client as they arrive.
    Client(ClientBodySource<'a>),
    /// Held in memory (see [`read_whole`]).
    Buffered(&'a mut BufferedBody<'b>),
}

impl<'a, 'b> UploadSource<'a, 'b> {
    /// The buffered body if there is one, else the client's.
    pub fn new(
        io: &'a mut ClientIo,
        body: &'a mut RequestBody,
        buffered: &'a mut Option<BufferedBody<'b>>,
    ) -> UploadSource<'a, 'b> {
        match buffered {
            Some(b) => UploadSource::Buffered(b),
            None => UploadSource::Client(ClientBodySource { io, body }),
        }
    }
}

impl BodySource for UploadSource<'_, '_> {
    async fn next_piece(&mut self) -> Result<Option<Bytes>, ProxyError> {
        match self {
            UploadSource::Client(c) => c.next_piece().await,
            UploadSource::Buffered(b) => b.next_piece().await,
        }
    }

    fn next_buffered(&mut self) -> Result<Option<Bytes>, ProxyError> {
        match self {
            UploadSource::Client(c) => c.next_buffered(),
            UploadSource::Buffered(b) => b.next_buffered(),
        }
    }

    fn integrity(&self) -> crate::backend::SourceIntegrity {
        match self {
            UploadSource::Client(c) => c.integrity(),
            UploadSource::Buffered(b) => b.integrity(),
        }
    }

    fn trailer_value(&self) -> Option<String> {
        match self {
            UploadSource::Client(c) => c.trailer_value(),
            UploadSource::Buffered(b) => b.trailer_value(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_never_passes_its_total_and_is_given_back() {
        let b = BufferBudget::new(10);
        assert!(b.take(6));
        assert!(!b.take(5), "11 > 10");
        assert!(b.take(4));
        assert_eq!(b.used(), 10);
        {
            let mut body = BufferedBody {
                bytes: Bytes::from(vec![7u8; BODY_BUF + 10]),
                held: 10,
                budget: &b,
            };
            assert_eq!(body.len(), BODY_BUF as u64 + 10);
            assert_eq!(
                body.next().map(|p| p.len()),
                Some(BODY_BUF),
                "handed out in BODY_BUF pieces"
            );
            assert_eq!(body.next().map(|p| p.len()), Some(10));
            assert!(body.next().is_none() && body.is_empty());
        }
        assert_eq!(b.used(), 0, "dropping the body gives its bytes back");
    }
}
