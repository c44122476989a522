//! One keep-alive client connection: write a request (head and small body in one write, big
//! body pieces straight from their shared `Bytes`), then read the response head and body,
//! noting when the first response byte arrived. Bodies are counted and dropped, or kept (up to a
//! bound) when the caller needs them (listings, upload IDs, error messages), or handed piece by
//! piece to a caller's sink (downloads that check every byte).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use thiserror::Error;

use super::request::Outgoing;
use crate::chunked::{ChunkDecoder, ChunkError, Step};
use crate::http::{decode_response, HeadError, InBuf};

/// Read buffer per connection.
pub const READ_BUF: usize = 128 * 1024;
/// Bodies up to this size are copied behind the head and sent in one write.
pub const SMALL_BODY: usize = 16 * 1024;
/// Most bytes of a response body kept for the caller (a 1000-key listing is about 300 KiB).
pub const MAX_KEPT_BODY: usize = 8 << 20;
/// Most bytes of an error body kept for the report.
pub const MAX_KEPT_ERROR: usize = 4096;

/// Why an exchange failed (the connection is then dropped).
#[derive(Debug, Error)]
pub enum ClientError {
    /// Connect, read or write failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The server closed the connection mid-response.
    #[error("connection closed by the server")]
    Eof,
    /// An unusable response head.
    #[error("{0}")]
    Head(#[from] HeadError),
    /// A malformed chunked response body.
    #[error("chunked response: {0}")]
    Chunk(#[from] ChunkError),
    /// The operation took longer than the operation timeout.
    #[error("timed out")]
    Timeout,
}

/// Where a caller takes a response body, piece by piece.
pub type BodySink<'s> = dyn FnMut(&[u8]) + 's;

/// A response as the load generator needs it.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Body bytes received.
    pub body_len: u64,
    /// When the first response byte arrived.
    pub first_byte: Instant,
    /// The `ETag` header.
    pub etag: Option<String>,
    /// The `Content-Length` header (for a HEAD: the object's size).
    pub content_length: Option<u64>,
    /// The body, when asked for (or, bounded, for errors).
    pub body: Vec<u8>,
    /// Whether the connection must not be reused.
    pub close: bool,
}

/// A connection to the endpoint.
#[derive(Debug)]
pub struct Conn {
    io: TcpStream,
    inb: InBuf,
}

impl Conn {
    /// Connects (with `TCP_NODELAY`).
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Conn> {
        let io = TcpStream::connect_addr(addr).await?;
        io.set_nodelay(true)?;
        Ok(Conn {
            io,
            inb: InBuf::new(READ_BUF),
        })
    }

    /// Sends `req` and reads the whole response; `keep_body` keeps the body's bytes.
    pub async fn exchange(&mut self, req: Outgoing, keep_body: bool) -> Result<Response, ClientError> {
        self.send(req, keep_body, None).await
    }

    /// Sends `req` and reads the whole response, handing every piece of a 2xx response's body
    /// to `sink` in order (the body is not kept).
    pub async fn exchange_into(&mut self, req: Outgoing, sink: &mut BodySink<'_>) -> Result<Response, ClientError> {
        self.send(req, false, Some(sink)).await
    }

    async fn send(
        &mut self,
        req: Outgoing,
        keep_body: bool,
        sink: Option<&mut BodySink<'_>>,
    ) -> Result<Response, ClientError> {
        let Outgoing { method, mut head, body } = req;
        let body_len: usize = body.iter().map(|b| b.len()).sum();
        if body_len <= SMALL_BODY {
            for b in &body {
                head.extend_from_slice(b);
            }
            let (res, _) = self.io.write_all(head).await;
            res?;
        } else {
            let (res, _) = self.io.write_all(head).await;
            res?;
            for b in body {
                let (res, _) = self.io.write_all(b).await;
                res?;
            }
        }
        self.read_response(method == "HEAD", keep_body, sink).await
    }

    async fn read_response(
        &mut self,
        head_request: bool,
        keep_body: bool,
        sink: Option<&mut BodySink<'_>>,
    ) -> Result<Response, ClientError> {
        let mut first_byte = None;
        let (status, resp) = loop {
            match decode_response(self.inb.data())? {
                Some((n, h)) => {
                    self.inb.consume(n);
                    if (100..200).contains(&h.status) {
                        continue;
                    }
                    break (h.status, h);
                }
                None => {
                    if self.inb.fill(&mut self.io, usize::MAX).await? == 0 {
                        return Err(ClientError::Eof);
                    }
                    first_byte.get_or_insert_with(Instant::now);
                }
            }
        };
        let first_byte = first_byte.unwrap_or_else(Instant::now);
        let keep = if keep_body {
            MAX_KEPT_BODY
        } else if status >= 300 {
            MAX_KEPT_ERROR
        } else {
            0
        };
        let mut body = Vec::new();
        let mut close = resp.close;
        let sink = sink.filter(|_| (200..300).contains(&status));
        let mut out = Out {
            keep: &mut body,
            limit: keep,
            sink,
        };
        let no_body = head_request || status == 204 || status == 304;
        let body_len = if no_body {
            0
        } else if resp.chunked {
            self.read_chunked(&mut out).await?
        } else if let Some(n) = resp.content_length {
            self.read_exact(n, &mut out).await?
        } else {
            close = true;
            self.read_to_end(&mut out).await?
        };
        Ok(Response {
            status,
            body_len,
            first_byte,
            etag: resp.etag,
            content_length: resp.content_length,
            body,
            close,
        })
    }

    async fn read_exact(&mut self, n: u64, out: &mut Out<'_, '_>) -> Result<u64, ClientError> {
        let mut left = n;
        loop {
            let avail = self.inb.data().len().min(usize::try_from(left).unwrap_or(usize::MAX));
            out.take(&self.inb.data()[..avail]);
            self.inb.consume(avail);
            left -= avail as u64;
            if left == 0 {
                return Ok(n);
            }
            if self
                .inb
                .fill(&mut self.io, usize::try_from(left).unwrap_or(usize::MAX))
                .await?
                == 0
            {
                return Err(ClientError::Eof);
            }
        }
    }

    async fn read_to_end(&mut self, out: &mut Out<'_, '_>) -> Result<u64, ClientError> {
        let mut total = 0u64;
        loop {
            let avail = self.inb.data().len();
            out.take(self.inb.data());
            self.inb.consume(avail);
            total += avail as u64;
            if self.inb.fill(&mut self.io, usize::MAX).await? == 0 {
                return Ok(total);
            }
        }
    }

    async fn read_chunked(&mut self, out: &mut Out<'_, '_>) -> Result<u64, ClientError> {
        let mut dec = ChunkDecoder::new();
        let mut total = 0u64;
        loop {
            let (n, step) = dec.decode(self.inb.data())?;
            match step {
                Step::Data(k) => {
                    out.take(&self.inb.data()[..k]);
                    total += k as u64;
                    self.inb.consume(k);
                }
                Step::Skip => self.inb.consume(n),
                Step::Done => {
                    self.inb.consume(n);
                    return Ok(total);
                }
                Step::NeedMore => {
                    if self.inb.fill(&mut self.io, usize::MAX).await? == 0 {
                        return Err(ClientError::Eof);
                    }
                }
            }
        }
    }
}

/// Where the body's bytes go: the first `limit` into `keep`, all of them to `sink`.
struct Out<'a, 's> {
    keep: &'a mut Vec<u8>,
    limit: usize,
    sink: Option<&'a mut BodySink<'s>>,
}

impl Out<'_, '_> {
    fn take(&mut self, data: &[u8]) {
        if self.keep.len() < self.limit {
            let room = (self.limit - self.keep.len()).min(data.len());
            self.keep.extend_from_slice(&data[..room]);
        }
        if let Some(s) = self.sink.as_mut() {
            s(data);
        }
    }
}

/// Runs `fut` with a timeout, mapping expiry to [`ClientError::Timeout`].
pub async fn with_timeout<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    monoio::time::timeout(limit, fut)
        .await
        .unwrap_or(Err(ClientError::Timeout))
}
