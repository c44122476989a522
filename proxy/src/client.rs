//! The client side of a connection: the socket, its read buffer, response writing, and the
//! request body reader that undoes HTTP framing and aws-chunked encoding and verifies hashes and
//! checksums as the bytes stream through (never buffering a whole body).

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use monoio::buf::IoBufMut;
use monoio::io::{AsyncWriteRentExt, CancelableAsyncReadRent, Canceller};
use monoio::net::TcpStream;
use s3o_sigv4::{BodyCheck, BodyDigests, ChecksumAlgorithm, ChunkedDecoder, Payload};

use crate::backend::{BodySource, BODY_BUF};
use crate::error::ProxyError;
use crate::http::{BodyKind, ChunkedBody, ResponseHead, CONTINUE_100};

/// Read room for request heads (most heads are well under 2 KiB; longer ones grow the buffer).
pub const HEAD_BUF: usize = 16 * 1024;

/// A client connection: the socket and the bytes read but not yet used.
pub struct ClientIo {
    /// The socket.
    pub stream: TcpStream,
    /// Bytes received and not yet consumed.
    pub buf: BytesMut,
    /// Whether any part of a response to the current request has been written.
    pub response_started: bool,
    /// Timeout for body progress.
    pub body_timeout: Duration,
    /// Whether the response to the current request must say `Connection: keep-alive` (an
    /// HTTP/1.0 request that asked to keep the connection; HTTP/1.0 closes otherwise).
    pub announce_keep_alive: bool,
}

impl ClientIo {
    /// Wraps an accepted socket.
    pub fn new(stream: TcpStream, body_timeout: Duration) -> ClientIo {
        ClientIo {
            stream,
            buf: BytesMut::with_capacity(HEAD_BUF),
            response_started: false,
            body_timeout,
            announce_keep_alive: false,
        }
    }

    /// Reads more bytes into the buffer; `Ok(0)` is end of stream. On timeout the read is
    /// cancelled and then awaited, so bytes that arrived meanwhile are kept (a dropped io_uring
    /// read could lose them).
    pub async fn fill(&mut self, timeout: Duration) -> Result<usize, ProxyError> {
        self.fill_up_to(timeout, HEAD_BUF).await
    }

    /// Like [`ClientIo::fill`], with room for at least `room` bytes (small for request heads,
    /// [`BODY_BUF`] while a body streams). An empty buffer reuses its allocation.
    pub async fn fill_up_to(&mut self, timeout: Duration, room: usize) -> Result<usize, ProxyError> {
        if self.buf.capacity() - self.buf.len() < room.min(4096) {
            self.buf.reserve(room);
        }
        let buf = std::mem::take(&mut self.buf);
        // monoio reads into the start of a buffer: read into the spare capacity to append.
        let (len, cap) = (buf.len(), buf.capacity());
        let canceller = Canceller::new();
        let read = self.stream.cancelable_read(buf.slice_mut(len..cap), canceller.handle());
        let mut read = std::pin::pin!(read);
        let mut timed_out = false;
        let (res, slice) = monoio::select! {
            r = &mut read => r,
            _ = monoio::time::sleep(timeout) => {
                timed_out = true;
                let _ = canceller.cancel();
                read.await
            }
        };
        self.buf = slice.into_inner();
        match res {
            Ok(n) if n > 0 || !timed_out => Ok(n),
            Ok(_) => Err(ProxyError::RequestTimeout),
            Err(_) if timed_out => Err(ProxyError::RequestTimeout),
            Err(e) => Err(ProxyError::ClientIo(e)),
        }
    }

    /// Writes bytes to the client (the first write of a response starts with its head).
    pub async fn write<B: monoio::buf::IoBuf + AsRef<[u8]>>(&mut self, b: B) -> Result<B, ProxyError> {
        if self.announce_keep_alive && !self.response_started {
            if let Some(with) = crate::http::with_keep_alive(b.as_ref()) {
                self.write_raw(with).await?;
                return Ok(b);
            }
        }
        self.write_raw(b).await
    }

    async fn write_raw<B: monoio::buf::IoBuf>(&mut self, b: B) -> Result<B, ProxyError> {
        self.response_started = true;
        let (res, b) = match monoio::time::timeout(self.body_timeout, self.stream.write_all(b)).await {
            Ok(r) => r,
            Err(_) => return Err(ProxyError::RequestTimeout),
        };
        res.map_err(ProxyError::ClientIo)?;
        Ok(b)
    }

    /// Writes a response head, and `body` after it in the same write when small.
    pub async fn respond(&mut self, head: &ResponseHead, body: &[u8]) -> Result<(), ProxyError> {
        let mut out = Vec::with_capacity(512 + body.len());
        head.write_to(&mut out);
        out.extend_from_slice(body);
        self.write(out).await?;
        Ok(())
    }
}

/// How the request body arrives and what must be checked about it.
pub struct RequestBody {
    framing: Framing,
    aws: Option<ChunkedDecoder>,
    pending: Bytes,
    check: BodyCheck,
    expect_continue: bool,
    /// Payload length, when known up front.
    payload_len: Option<u64>,
    done: bool,
    result: Option<BodyDigests>,
}

enum Framing {
    Length(u64),
    Chunked(ChunkedBody),
}

impl RequestBody {
    /// Sets up the reader for a request with body framing `kind`, authenticated body `payload`,
    /// optional `Content-MD5` and `x-amz-checksum-*` header values.
    pub fn new(
        kind: BodyKind,
        payload: &Payload,
        content_md5: Option<&str>,
        checksum_header: Option<(ChecksumAlgorithm, &str)>,
        expect_continue: bool,
    ) -> Result<RequestBody, ProxyError> {
        let framing = match kind {
            BodyKind::Empty => Framing::Length(0),
            BodyKind::Length(n) => Framing::Length(n),
            BodyKind::Chunked => Framing::Chunked(ChunkedBody::new()),
        };
        let mut check = BodyCheck::new();
        if let Some(m) = content_md5 {
            check.expect_content_md5(m.as_bytes())?;
        }
        let (aws, payload_len) = match payload {
            Payload::Streaming(auth) => (Some(ChunkedDecoder::new(auth.clone())?), Some(auth.decoded_length)),
            Payload::Sha256(h) => {
                check.expect_sha256(*h);
                (None, known(&framing))
            }
            Payload::Unsigned => (None, known(&framing)),
        };
        if let Some((alg, v)) = checksum_header {
            check.expect_checksum(alg, alg.decode_value(v.as_bytes())?);
        }
        Ok(RequestBody {
            framing,
            aws,
            pending: Bytes::new(),
            check,
            expect_continue,
            payload_len,
            done: false,
            result: None,
        })
    }

    /// Also computes the body's MD5 (for an ETag); call before reading the body.
    pub fn compute_md5(&mut self) {
        self.check.compute_md5();
    }

    /// The payload length, if known before reading (Content-Length or x-amz-decoded-content-length).
    pub fn payload_len(&self) -> Option<u64> {
        self.payload_len
    }

    /// Whether the whole body has been read and verified.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The verified digests, once done.
    pub fn digests(&self) -> Option<&BodyDigests> {
        self.result.as_ref()
    }

    /// Next piece of wire body (after HTTP framing), `None` at the end.
    async fn next_wire(&mut self, io: &mut ClientIo) -> Result<Option<Bytes>, ProxyError> {
        if self.expect_continue {
            self.expect_continue = false;
            io.write(CONTINUE_100).await?;
            io.response_started = false;
        }
        loop {
            if let Some(w) = self.buffered_wire(io)? {
                return Ok(Some(w));
            }
            // Room for the rest of a small body, never more than BODY_BUF: a 4 KiB upload
            // does not allocate (and fault in) a 1 MiB buffer.
            let room = match &self.framing {
                Framing::Length(rem) => usize::try_from(*rem).unwrap_or(BODY_BUF).min(BODY_BUF),
                Framing::Chunked(dec) if dec.is_done() => 0,
                Framing::Chunked(_) => BODY_BUF,
            };
            if room == 0 {
                return Ok(None);
            }
            if io.fill_up_to(io.body_timeout, room).await? == 0 {
                return Err(s3o_sigv4::SigError::IncompleteBody.into());
            }
        }
    }

    /// The next piece of wire body from bytes already received; `None` when more must be read
    /// (or at the end).
    fn buffered_wire(&mut self, io: &mut ClientIo) -> Result<Option<Bytes>, ProxyError> {
        loop {
            if io.buf.is_empty() {
                return Ok(None);
            }
            match &mut self.framing {
                Framing::Length(rem) => {
                    if *rem == 0 {
                        return Ok(None);
                    }
                    let n = usize::try_from(*rem).unwrap_or(usize::MAX).min(io.buf.len());
                    *rem -= n as u64;
                    return Ok(Some(io.buf.split_to(n).freeze()));
                }
                Framing::Chunked(dec) => {
                    if dec.is_done() {
                        return Ok(None);
                    }
                    let d = dec.decode(&io.buf)?;
                    let taken = io.buf.split_to(d.consumed).freeze();
                    if !d.payload.is_empty() {
                        return Ok(Some(taken.slice(d.payload)));
                    }
                    if d.consumed == 0 {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Reads, verifies and discards the body, up to `limit` bytes (so the connection can carry
    /// the next request); a longer body is refused.
    pub async fn drain(&mut self, io: &mut ClientIo, limit: u64) -> Result<(), ProxyError> {
        let mut seen = 0u64;
        while let Some(piece) = self.next_verified(io).await? {
            seen += piece.len() as u64;
            if seen > limit {
                return Err(ProxyError::InvalidRequest(format!(
                    "a body of more than {limit} bytes is not accepted here"
                )));
            }
        }
        Ok(())
    }

    /// The next piece of verified-so-far payload; `None` once the whole body was read and every
    /// check passed. An error means the body must not be stored.
    pub async fn next_verified(&mut self, io: &mut ClientIo) -> Result<Option<Bytes>, ProxyError> {
        loop {
            if let Some(p) = self.next_buffered(io)? {
                return Ok(Some(p));
            }
            if self.done {
                return Ok(None);
            }
            match self.next_wire(io).await? {
                Some(w) if self.aws.is_some() => self.pending = w,
                Some(w) => {
                    self.check.update(&w);
                    return Ok(Some(w));
                }
                None => {
                    let trailer = match &self.aws {
                        Some(aws) => aws.finish()?,
                        None => None,
                    };
                    let check = std::mem::take(&mut self.check);
                    let mut digests = check.finish()?;
                    if digests.checksum.is_none() {
                        digests.checksum = trailer;
                    }
                    self.result = Some(digests);
                    self.done = true;
                    return Ok(None);
                }
            }
        }
    }

    /// The next piece of verified-so-far payload from bytes already received, without reading;
    /// `None` when more must be read (the end is reported by [`RequestBody::next_verified`]).
    pub fn next_buffered(&mut self, io: &mut ClientIo) -> Result<Option<Bytes>, ProxyError> {
        if self.done || self.expect_continue {
            return Ok(None);
        }
        loop {
            if let Some(aws) = &mut self.aws {
                if !self.pending.is_empty() {
                    let d = aws.decode(&self.pending)?;
                    let payload = self.pending.slice(d.payload.clone());
                    self.pending.advance(d.consumed);
                    if !payload.is_empty() {
                        self.check.update(&payload);
                        return Ok(Some(payload));
                    }
                    continue;
                }
            }
            match self.buffered_wire(io)? {
                Some(w) if self.aws.is_some() => self.pending = w,
                Some(w) => {
                    self.check.update(&w);
                    return Ok(Some(w));
                }
                None => return Ok(None),
            }
        }
    }
}

fn known(f: &Framing) -> Option<u64> {
    match f {
        Framing::Length(n) => Some(*n),
        Framing::Chunked(_) => None,
    }
}

/// A [`BodySource`] over a client's request body.
pub struct ClientBodySource<'a> {
    /// The connection.
    pub io: &'a mut ClientIo,
    /// The body reader.
    pub body: &'a mut RequestBody,
}

impl BodySource for ClientBodySource<'_> {
    async fn next_piece(&mut self) -> Result<Option<Bytes>, ProxyError> {
        self.body.next_verified(self.io).await
    }

    fn next_buffered(&mut self) -> Result<Option<Bytes>, ProxyError> {
        self.body.next_buffered(self.io)
    }
}
