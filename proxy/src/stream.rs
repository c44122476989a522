//! The socket of an S3 client connection: plain TCP or TLS ([`crate::tls::conn::TlsConn`]), one
//! type for both so the whole request path (heads, bodies, responses, limits and timeouts) is the
//! same code on either listener. The plain variant reads straight into the connection's buffer
//! and writes the caller's buffer as it is (the enum costs one branch per call, no copy and no
//! dynamic dispatch); every read with a timeout is cancelled and then awaited, so bytes that
//! arrived as the timer fired are never lost (a dropped io_uring read could lose them).

use std::time::Duration;

use bytes::BytesMut;
use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt, CancelableAsyncReadRent, Canceller};
use monoio::net::TcpStream;

use crate::error::ProxyError;
use crate::tls::conn::TlsConn;

/// One accepted client connection.
pub enum ClientStream {
    /// Plain HTTP on `listen`.
    Plain(TcpStream),
    /// HTTPS on `tls_listen` (handshake done).
    Tls(Box<TlsConn>),
}

/// How a read with a timeout ended without bytes.
#[derive(Debug)]
pub enum ReadFail {
    /// Nothing arrived in time.
    TimedOut,
    /// The socket failed.
    Io(std::io::Error),
}

impl From<ReadFail> for ProxyError {
    fn from(f: ReadFail) -> ProxyError {
        match f {
            ReadFail::TimedOut => ProxyError::RequestTimeout,
            ReadFail::Io(e) => ProxyError::ClientIo(e),
        }
    }
}

/// Reads from `tcp` into the spare capacity of `buf` (after the bytes it holds), waiting at most
/// `timeout`; `Ok(0)` is end of stream. On timeout the read is cancelled and then awaited: bytes
/// that arrived meanwhile are kept and returned.
pub async fn read_spare(tcp: &mut TcpStream, buf: &mut BytesMut, timeout: Duration) -> Result<usize, ReadFail> {
    let owned = std::mem::take(buf);
    let (len, cap) = (owned.len(), owned.capacity());
    let canceller = Canceller::new();
    let read = tcp.cancelable_read(owned.slice_mut(len..cap), canceller.handle());
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
    *buf = slice.into_inner();
    match res {
        Ok(n) if n > 0 || !timed_out => Ok(n),
        Ok(_) => Err(ReadFail::TimedOut),
        Err(_) if timed_out => Err(ReadFail::TimedOut),
        Err(e) => Err(ReadFail::Io(e)),
    }
}

impl ClientStream {
    /// The client's address (unspecified if the socket no longer knows it).
    pub fn peer_ip(&self) -> std::net::IpAddr {
        let ip = match self {
            ClientStream::Plain(tcp) => tcp.peer_addr().ok().map(|a| a.ip()),
            ClientStream::Tls(tls) => tls.peer_ip(),
        };
        ip.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    /// Whether this is an HTTPS connection.
    pub fn is_tls(&self) -> bool {
        matches!(self, ClientStream::Tls(_))
    }

    /// Reads more bytes into the spare capacity of `buf` (the caller makes room), waiting at
    /// most `timeout`; `Ok(0)` when the client closed.
    pub async fn read_into(&mut self, buf: &mut BytesMut, timeout: Duration) -> Result<usize, ReadFail> {
        match self {
            ClientStream::Plain(tcp) => read_spare(tcp, buf, timeout).await,
            ClientStream::Tls(tls) => tls.read_into(buf, timeout).await,
        }
    }

    /// Writes all of `b`, each write waiting at most `timeout`; gives `b` back.
    pub async fn write_all<B: IoBuf + AsRef<[u8]>>(&mut self, b: B, timeout: Duration) -> Result<B, ProxyError> {
        match self {
            ClientStream::Plain(tcp) => {
                let (res, b) = monoio::time::timeout(timeout, tcp.write_all(b))
                    .await
                    .map_err(|_| ProxyError::RequestTimeout)?;
                res.map_err(ProxyError::ClientIo)?;
                Ok(b)
            }
            ClientStream::Tls(tls) => {
                tls.write_all(b.as_ref(), timeout).await?;
                Ok(b)
            }
        }
    }

    /// Stops sending (TLS: after a `close_notify`); reading stays possible.
    pub async fn shutdown(&mut self) {
        match self {
            ClientStream::Plain(tcp) => {
                let _ = tcp.shutdown().await;
            }
            ClientStream::Tls(tls) => tls.shutdown().await,
        }
    }
}
