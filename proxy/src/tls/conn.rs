//! One server-side TLS connection over a monoio TCP socket, driven by hand around a rustls
//! [`ServerConnection`]: ciphertext is read into a buffer this struct owns (with the same
//! cancel-then-await read as plain connections, so a read that times out loses nothing and the
//! connection stays usable: the idle loop between requests and the body-rate windows rely on
//! reads that time out), handed to rustls, and the plaintext copied into the caller's buffer;
//! writes are encrypted in batches of up to [`WRITE_BATCH`] bytes and sent as one write each.
//! (monoio-rustls keeps its state inside the read future, which a timeout would drop.)

use std::io::{BufRead, ErrorKind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use rustls::ServerConnection;

use crate::error::ProxyError;
use crate::stream::{read_spare, ReadFail};

/// Room for received ciphertext: a few maximal TLS records (16 KiB of plaintext each, plus
/// overhead), so a large body needs few reads.
const CIPHER_BUF: usize = 64 * 1024;
/// Most plaintext rustls encrypts before it is sent: one write per batch keeps syscalls few,
/// while the ciphertext a connection holds stays bounded.
pub const WRITE_BATCH: usize = 256 * 1024;
/// How long a closing connection waits to send its `close_notify` or alert.
const CLOSE_TIME: Duration = Duration::from_millis(500);

/// An established TLS connection.
pub struct TlsConn {
    tcp: TcpStream,
    session: ServerConnection,
    /// Ciphertext received and not yet handed to rustls.
    incoming: BytesMut,
    /// Ciphertext to send (its allocation is reused).
    outgoing: Vec<u8>,
}

impl TlsConn {
    /// The client's address.
    pub fn peer_ip(&self) -> Option<std::net::IpAddr> {
        self.tcp.peer_addr().ok().map(|a| a.ip())
    }
}

impl TlsConn {
    /// Runs the server handshake on `tcp` with `config`, all of it within `limit`.
    pub async fn accept(
        tcp: TcpStream,
        config: Arc<rustls::ServerConfig>,
        limit: Duration,
    ) -> Result<TlsConn, std::io::Error> {
        let mut session = ServerConnection::new(config).map_err(std::io::Error::other)?;
        session.set_buffer_limit(Some(WRITE_BATCH));
        let mut conn = TlsConn {
            tcp,
            session,
            incoming: BytesMut::with_capacity(CIPHER_BUF),
            outgoing: Vec::new(),
        };
        let deadline = Instant::now() + limit;
        let left = || deadline.saturating_duration_since(Instant::now());
        loop {
            conn.flush(left()).await?;
            if !conn.session.is_handshaking() {
                break;
            }
            if conn.incoming.is_empty() {
                match read_spare(&mut conn.tcp, &mut conn.incoming, left()).await {
                    Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                    Ok(_) => {}
                    Err(ReadFail::TimedOut) => return Err(ErrorKind::TimedOut.into()),
                    Err(ReadFail::Io(e)) => return Err(e),
                }
            }
            if let Err(e) = conn.feed() {
                // The alert rustls queued tells the client why.
                let _ = conn.flush(CLOSE_TIME.min(left())).await;
                return Err(e);
            }
        }
        Ok(conn)
    }

    /// Hands buffered ciphertext to rustls until some plaintext is ready or none is left.
    fn feed(&mut self) -> Result<(), std::io::Error> {
        while !self.incoming.is_empty() {
            let mut rd = &self.incoming[..];
            let n = match self.session.read_tls(&mut rd) {
                Ok(n) => n,
                // Its plaintext buffer is full: drained by the caller first.
                Err(e) if e.kind() == ErrorKind::Other && !self.session.is_handshaking() => return Ok(()),
                Err(e) => return Err(e),
            };
            if n == 0 {
                // close_notify received: what follows is not part of the stream.
                self.incoming.clear();
            }
            self.incoming.advance(n);
            let state = self
                .session
                .process_new_packets()
                .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))?;
            if state.plaintext_bytes_to_read() > 0 {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Copies the plaintext ready now into the spare capacity of `buf`; how many bytes, and
    /// whether the stream has ended (cleanly or not: the HTTP framing tells a cut body).
    fn take_plaintext(&mut self, buf: &mut BytesMut) -> Result<(usize, bool), std::io::Error> {
        let mut taken = 0;
        loop {
            let room = buf.capacity() - buf.len();
            if room == 0 {
                return Ok((taken, false));
            }
            let mut reader = self.session.reader();
            match reader.fill_buf() {
                Ok([]) => return Ok((taken, true)),
                Ok(chunk) => {
                    let n = chunk.len().min(room);
                    buf.extend_from_slice(&chunk[..n]);
                    reader.consume(n);
                    taken += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if self.incoming.is_empty() {
                        return Ok((taken, false));
                    }
                    let before = self.incoming.len();
                    self.feed()?;
                    if self.incoming.len() == before {
                        // Nothing consumed: wait for more bytes.
                        return Ok((taken, false));
                    }
                }
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok((taken, true)),
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads plaintext into the spare capacity of `buf` (the caller makes room), waiting at
    /// most `timeout` for the client; `Ok(0)` when the client closed.
    pub async fn read_into(&mut self, buf: &mut BytesMut, timeout: Duration) -> Result<usize, ReadFail> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.take_plaintext(buf) {
                Ok((0, true)) => return Ok(0),
                Ok((0, false)) => {}
                Ok((n, _)) => return Ok(n),
                Err(e) => {
                    let _ = self.flush(CLOSE_TIME).await;
                    return Err(ReadFail::Io(e));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ReadFail::TimedOut);
            }
            if self.incoming.capacity() - self.incoming.len() < CIPHER_BUF / 4 {
                self.incoming.reserve(CIPHER_BUF);
            }
            if read_spare(&mut self.tcp, &mut self.incoming, left).await? == 0 {
                // The end of the TCP stream: rustls decides whether it was a clean close.
                let _ = self.session.read_tls(&mut &[][..]);
                let _ = self.session.process_new_packets();
                return match self.take_plaintext(buf) {
                    Ok((n, _)) => Ok(n),
                    Err(e) => Err(ReadFail::Io(e)),
                };
            }
            if let Err(e) = self.feed() {
                let _ = self.flush(CLOSE_TIME).await;
                return Err(ReadFail::Io(e));
            }
        }
    }

    /// Encrypts and sends all of `data`, each socket write waiting at most `timeout`.
    pub async fn write_all(&mut self, data: &[u8], timeout: Duration) -> Result<(), ProxyError> {
        let mut rest = data;
        while !rest.is_empty() {
            let n = std::io::Write::write(&mut self.session.writer(), rest).map_err(ProxyError::ClientIo)?;
            rest = &rest[n..];
            self.flush(timeout).await.map_err(|e| match e.kind() {
                ErrorKind::TimedOut => ProxyError::RequestTimeout,
                _ => ProxyError::ClientIo(e),
            })?;
        }
        Ok(())
    }

    /// Sends every TLS record rustls has ready.
    async fn flush(&mut self, timeout: Duration) -> Result<(), std::io::Error> {
        while self.session.wants_write() {
            self.outgoing.clear();
            self.session.write_tls(&mut self.outgoing)?;
            let out = std::mem::take(&mut self.outgoing);
            let (res, out) = monoio::time::timeout(timeout, self.tcp.write_all(out))
                .await
                .map_err(|_| std::io::Error::from(ErrorKind::TimedOut))?;
            self.outgoing = out;
            res?;
        }
        Ok(())
    }

    /// Sends `close_notify` and stops sending.
    pub async fn shutdown(&mut self) {
        self.session.send_close_notify();
        let _ = self.flush(CLOSE_TIME).await;
        let _ = self.tcp.shutdown().await;
    }
}
