//! The admin port's connection: a plain or TLS (rustls) stream with the few owned-buffer
//! operations the admin connection loop needs. A read that times out closes the connection, so
//! a dropped read never loses bytes of a request that is still to be served.

use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio_rustls::ServerTlsStream;

/// One accepted admin connection.
pub enum AdminStream {
    /// Plain HTTP.
    Plain(TcpStream),
    /// HTTPS.
    Tls(Box<ServerTlsStream<TcpStream>>),
}

/// A read or write that failed or took longer than allowed.
#[derive(Debug)]
pub enum IoFailure {
    /// Nothing arrived (or left) in time.
    TimedOut,
    /// The socket failed (or the peer reset it).
    Io,
}

impl AdminStream {
    /// Whether this is a TLS connection.
    pub fn is_tls(&self) -> bool {
        matches!(self, AdminStream::Tls(_))
    }

    /// Reads into the spare capacity of `buf` (after the bytes it holds) within `limit`;
    /// `Ok(0)` when the peer closed.
    pub async fn read(&mut self, buf: Vec<u8>, limit: Duration) -> (Result<usize, IoFailure>, Vec<u8>) {
        // monoio fills a buffer from its start: hand it only the spare part.
        let (len, cap) = (buf.len(), buf.capacity());
        let spare = monoio::buf::IoBufMut::slice_mut(buf, len..cap);
        let outcome = match self {
            AdminStream::Plain(s) => monoio::time::timeout(limit, s.read(spare)).await,
            AdminStream::Tls(s) => monoio::time::timeout(limit, s.read(spare)).await,
        };
        match outcome {
            Ok((Ok(n), slice)) => (Ok(n), slice.into_inner()),
            Ok((Err(_), slice)) => (Err(IoFailure::Io), slice.into_inner()),
            Err(_) => (Err(IoFailure::TimedOut), Vec::new()),
        }
    }

    /// Writes all of `bytes` within `limit`.
    pub async fn write_all(&mut self, bytes: Vec<u8>, limit: Duration) -> Result<Vec<u8>, IoFailure> {
        let outcome = match self {
            AdminStream::Plain(s) => monoio::time::timeout(limit, s.write_all(bytes)).await,
            AdminStream::Tls(s) => monoio::time::timeout(limit, s.write_all(bytes)).await,
        };
        match outcome {
            Ok((Ok(_), bytes)) => Ok(bytes),
            Ok((Err(_), _)) => Err(IoFailure::Io),
            Err(_) => Err(IoFailure::TimedOut),
        }
    }

    /// Flushes and closes the sending side.
    pub async fn shutdown(&mut self) {
        let _ = match self {
            AdminStream::Plain(s) => s.shutdown().await,
            AdminStream::Tls(s) => s.shutdown().await,
        };
    }
}
