//! The client side of a connection: the socket, its read buffer, response writing, and the
//! request body reader that undoes HTTP framing and aws-chunked encoding and verifies hashes and
//! checksums as the bytes stream through (never buffering a whole body).

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use s3o_sigv4::{BodyCheck, BodyDigests, ChecksumAlgorithm, ChunkedDecoder, Payload};

use crate::backend::{BodySource, SourceIntegrity, BODY_BUF};
use crate::error::ProxyError;
use crate::http::{BodyKind, ChunkedBody, ResponseHead, CONTINUE_100};
use crate::stream::ClientStream;

/// Read room for request heads (most heads are well under 2 KiB; longer ones grow the buffer).
pub const HEAD_BUF: usize = 16 * 1024;

/// The window a body's minimum rate is measured over: long enough to ride out a Wi-Fi or
/// mobile-link stall of a few seconds, short enough that a dripper is cut soon after the grace.
pub const RATE_WINDOW: Duration = Duration::from_secs(5);

/// The shortest read timeout the rate check asks for (a window ending in a few microseconds is
/// checked after this instead of spinning through zero-length timeouts).
const MIN_READ_WAIT: Duration = Duration::from_millis(1);

/// The operation name of a request that never reached an S3 operation (a bad head, a method S3
/// does not have).
pub const UNROUTED: &str = "Unrouted";

/// The status code of a response that starts with `bytes` (`HTTP/1.1 200 ...`); 0 if none.
fn status_of(bytes: &[u8]) -> u16 {
    bytes
        .get(9..12)
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
}

/// A client connection: the socket and the bytes read but not yet used.
pub struct ClientIo {
    /// The socket (plain or TLS).
    pub stream: ClientStream,
    /// Bytes received and not yet consumed.
    pub buf: BytesMut,
    /// Whether any part of a response to the current request has been written.
    pub response_started: bool,
    /// Timeout for body progress.
    pub body_timeout: Duration,
    /// Whether the response to the current request must say `Connection: keep-alive` (an
    /// HTTP/1.0 request that asked to keep the connection; HTTP/1.0 closes otherwise).
    pub announce_keep_alive: bool,
    /// The current request body's progress against the minimum rate.
    pub pace: BodyPace,
    /// The status of the response written to the current request (0: none yet), for metrics.
    pub status: u16,
    /// The S3 operation of the current request, for metrics.
    pub operation: &'static str,
    /// What the audit log records of the current request, when it changes data.
    pub audit: Option<crate::access::AuditNote>,
    /// CORS header lines every response to the current request carries (a browser's request
    /// that one of the bucket's CORS rules admits), errors included.
    pub cors: Vec<u8>,
}

/// The slowest request body accepted (`[limits] body_min_bytes_per_sec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinRate {
    /// Bytes per second of waiting for the client, averaged over each [`RATE_WINDOW`]; 0 = none.
    pub bytes_per_sec: u64,
    /// Waiting before the rate applies.
    pub grace: Duration,
}

impl MinRate {
    /// No minimum rate (only the progress timeout applies).
    pub const NONE: MinRate = MinRate {
        bytes_per_sec: 0,
        grace: Duration::ZERO,
    };
}

/// A request body's progress: how long the proxy has waited for the client's bytes (time spent
/// writing to a backend does not count, so a slow backend never makes a client look slow) and
/// how many arrived. Once the grace period is over, every [`RATE_WINDOW`] of waiting must bring
/// at least `bytes_per_sec × window` bytes; and no wait may go without any byte for longer than
/// the body timeout.
#[derive(Debug, Clone)]
pub struct BodyPace {
    rule: MinRate,
    /// Total time waited for this body.
    waited: Duration,
    /// Time waited in the current window (after the grace period).
    window_waited: Duration,
    /// Bytes received in the current window.
    window_bytes: u64,
    /// Time waited since the last byte arrived.
    stalled: Duration,
}

impl BodyPace {
    /// A fresh body's pace under `rule`.
    pub fn new(rule: MinRate) -> BodyPace {
        BodyPace {
            rule,
            waited: Duration::ZERO,
            window_waited: Duration::ZERO,
            window_bytes: 0,
            stalled: Duration::ZERO,
        }
    }

    /// Starts measuring a new request body.
    pub fn reset(&mut self) {
        *self = BodyPace::new(self.rule);
    }

    /// How long the next read may wait: the rest of the body timeout, and no longer than the end
    /// of the current rate window (so a stalled client is judged when the window ends).
    pub fn next_wait(&self, body_timeout: Duration) -> Duration {
        let mut wait = body_timeout.saturating_sub(self.stalled);
        if self.rule.bytes_per_sec > 0 {
            let window_end = if self.waited < self.rule.grace {
                self.rule.grace - self.waited + RATE_WINDOW
            } else {
                RATE_WINDOW.saturating_sub(self.window_waited)
            };
            wait = wait.min(window_end.max(MIN_READ_WAIT));
        }
        wait
    }

    /// Records a read that waited `took` and brought `n` bytes (0: it timed out); an error when
    /// the body is now too slow or has stalled past `body_timeout`.
    pub fn record(&mut self, n: usize, took: Duration, body_timeout: Duration) -> Result<(), ProxyError> {
        if n > 0 {
            self.stalled = Duration::ZERO;
        } else {
            self.stalled += took;
            if self.stalled >= body_timeout {
                return Err(ProxyError::RequestTimeout);
            }
        }
        if self.rule.bytes_per_sec == 0 {
            return Ok(());
        }
        let before = self.waited;
        self.waited += took;
        if self.waited <= self.rule.grace {
            return Ok(());
        }
        self.window_waited += self.waited - before.max(self.rule.grace);
        self.window_bytes += n as u64;
        if self.window_waited >= RATE_WINDOW {
            let window_ms = u64::try_from(self.window_waited.as_millis()).unwrap_or(u64::MAX);
            let needed = self.rule.bytes_per_sec.saturating_mul(window_ms) / 1000;
            if self.window_bytes < needed {
                return Err(ProxyError::RequestTimeout);
            }
            self.window_waited = Duration::ZERO;
            self.window_bytes = 0;
        }
        Ok(())
    }
}

impl ClientIo {
    /// Wraps an accepted socket.
    pub fn new(stream: ClientStream, body_timeout: Duration) -> ClientIo {
        ClientIo {
            stream,
            buf: BytesMut::with_capacity(HEAD_BUF),
            response_started: false,
            status: 0,
            operation: UNROUTED,
            audit: None,
            cors: Vec::new(),
            body_timeout,
            announce_keep_alive: false,
            pace: BodyPace::new(MinRate::NONE),
        }
    }

    /// Applies `rule` to every request body on this connection.
    pub fn with_min_rate(mut self, rule: MinRate) -> ClientIo {
        self.pace = BodyPace::new(rule);
        self
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
        Ok(self.stream.read_into(&mut self.buf, timeout).await?)
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

    async fn write_raw<B: monoio::buf::IoBuf + AsRef<[u8]>>(&mut self, b: B) -> Result<B, ProxyError> {
        if !self.response_started {
            self.status = status_of(b.as_ref());
        }
        self.response_started = true;
        self.stream.write_all(b, self.body_timeout).await
    }

    /// Writes a response head, and `body` after it in the same write when small.
    pub async fn respond(&mut self, head: &ResponseHead, body: &[u8]) -> Result<(), ProxyError> {
        let mut out = Vec::with_capacity(512 + body.len());
        head.write_to_with(&mut out, &self.cors);
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
    /// What the body is checked against, known up front.
    integrity: SourceIntegrity,
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
        let (aws, payload_len, integrity) = match payload {
            Payload::Streaming(auth) => (
                Some(ChunkedDecoder::new(auth.clone())?),
                Some(auth.decoded_length),
                auth.trailer.map_or(SourceIntegrity::None, SourceIntegrity::Trailer),
            ),
            Payload::Sha256(h) => {
                check.expect_sha256(*h);
                (None, known(&framing), SourceIntegrity::Sha256(*h))
            }
            Payload::Unsigned => (None, known(&framing), SourceIntegrity::None),
        };
        if let Some((alg, v)) = checksum_header {
            // A value that is not even a digest cannot match: S3 answers BadDigest.
            let expected = alg
                .decode_value(v.as_bytes())
                .map_err(|_| s3o_sigv4::SigError::BadChecksum(alg.upper_name()))?;
            check.expect_checksum(alg, expected);
        }
        Ok(RequestBody {
            framing,
            aws,
            pending: Bytes::new(),
            check,
            expect_continue,
            payload_len,
            integrity,
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
            let wait = io.pace.next_wait(io.body_timeout);
            let t0 = Instant::now();
            let n = match io.fill_up_to(wait, room).await {
                Ok(0) => return Err(s3o_sigv4::SigError::IncompleteBody.into()),
                Ok(n) => n,
                // Judged below: the end of a rate window, or the body timeout.
                Err(ProxyError::RequestTimeout) => 0,
                Err(e) => return Err(e),
            };
            io.pace.record(
                n,
                t0.elapsed().max(if n == 0 { wait } else { Duration::ZERO }),
                io.body_timeout,
            )?;
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

    fn integrity(&self) -> SourceIntegrity {
        self.body.integrity
    }

    fn trailer_value(&self) -> Option<String> {
        let SourceIntegrity::Trailer(alg) = self.body.integrity else {
            return None;
        };
        let c = self.body.digests()?.checksum.as_ref()?;
        (c.algorithm == alg).then(|| c.value.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);
    const TIMEOUT: Duration = Duration::from_secs(60);

    fn rule(bytes_per_sec: u64, grace_secs: u64) -> MinRate {
        MinRate {
            bytes_per_sec,
            grace: Duration::from_secs(grace_secs),
        }
    }

    #[test]
    fn a_dripping_body_fails_one_window_after_the_grace() {
        let mut p = BodyPace::new(rule(1000, 2));
        // One byte a second: fine through the grace and most of the first window.
        for _ in 0..(2 + 4) {
            p.record(1, S, TIMEOUT).unwrap();
        }
        assert!(matches!(p.record(1, S, TIMEOUT), Err(ProxyError::RequestTimeout)));
    }

    #[test]
    fn a_body_at_the_rate_passes_and_windows_restart() {
        let mut p = BodyPace::new(rule(1000, 1));
        for _ in 0..60 {
            p.record(1000, S, TIMEOUT).unwrap();
        }
        // A fast burst does not buy a long stall: the next window starts from zero.
        p.record(1_000_000, S, TIMEOUT).unwrap();
        let mut failed = false;
        for _ in 0..10 {
            failed |= p.record(1, S, TIMEOUT).is_err();
        }
        assert!(failed);
    }

    #[test]
    fn waits_end_with_the_window_and_the_timeout() {
        let mut p = BodyPace::new(rule(1000, 2));
        assert_eq!(p.next_wait(TIMEOUT), Duration::from_secs(2) + RATE_WINDOW);
        p.record(5000, Duration::from_secs(3), TIMEOUT).unwrap();
        assert_eq!(p.next_wait(TIMEOUT), RATE_WINDOW - S);
        let none = BodyPace::new(MinRate::NONE);
        assert_eq!(none.next_wait(TIMEOUT), TIMEOUT);
        // Stalls add up across reads cut short by windows.
        let mut p = BodyPace::new(MinRate::NONE);
        p.record(0, Duration::from_secs(30), TIMEOUT).unwrap();
        assert_eq!(p.next_wait(TIMEOUT), Duration::from_secs(30));
        assert!(p.record(0, Duration::from_secs(30), TIMEOUT).is_err());
    }
}
