//! Connections to an S3 backend (plain TCP or rustls) and the per-core pool of idle keep-alive
//! connections they return to after a complete response.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio_rustls::ClientTlsStream;

use super::MAX_IDLE_PER_BACKEND;
use crate::backend::pieces::Pieces;

/// A connection to a backend, plain or TLS.
pub enum Conn {
    /// `http://`.
    Plain(TcpStream),
    /// `https://`.
    Tls(Box<ClientTlsStream<TcpStream>>),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::Plain(_) => "Conn::Plain",
            Conn::Tls(_) => "Conn::Tls",
        })
    }
}

impl Conn {
    /// Reads into `buf`'s spare capacity.
    pub async fn read<B: monoio::buf::IoBufMut>(&mut self, buf: B) -> monoio::BufResult<usize, B> {
        match self {
            Conn::Plain(s) => s.read(buf).await,
            Conn::Tls(s) => s.read(buf).await,
        }
    }

    /// Writes all of `buf`.
    pub async fn write_all<B: monoio::buf::IoBuf>(&mut self, buf: B) -> monoio::BufResult<usize, B> {
        match self {
            Conn::Plain(s) => s.write_all(buf).await,
            Conn::Tls(s) => s.write_all(buf).await,
        }
    }

    /// Writes all of `pieces` (one `writev` each round).
    pub async fn write_pieces(&mut self, mut pieces: Pieces) -> std::io::Result<()> {
        while !pieces.is_empty() {
            let (res, p) = match self {
                Conn::Plain(s) => s.writev(pieces).await,
                Conn::Tls(s) => s.writev(pieces).await,
            };
            pieces = p;
            match res {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => pieces.advance(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub(super) async fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush().await,
            Conn::Tls(s) => s.flush().await,
        }
    }
}

/// Idle keep-alive connections of one backend on one core.
#[derive(Debug, Default)]
pub struct Pool {
    idle: RefCell<Vec<(Conn, Instant)>>,
}

impl Pool {
    /// Returns a connection after a complete response.
    pub fn put_back(&self, c: Conn) {
        let mut idle = self.idle.borrow_mut();
        if idle.len() < MAX_IDLE_PER_BACKEND {
            idle.push((c, Instant::now()));
        }
    }

    pub(super) fn take(&self, max_idle: Duration) -> Option<Conn> {
        let mut idle = self.idle.borrow_mut();
        while let Some((c, t)) = idle.pop() {
            if t.elapsed() <= max_idle {
                return Some(c);
            }
        }
        None
    }
}
