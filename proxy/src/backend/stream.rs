//! Reading an object's bytes from a backend as owned buffers, so the GET path moves each buffer
//! from the backend read straight to the client write without copying it.

use std::rc::Rc;

use monoio::fs::File;
use s3o_sigv4::{ChecksumAlgorithm, Checksummer};
use tracing::error;

use super::s3::{Conn, Pool};
use crate::error::{BackendError, ProxyError};

/// The bytes of one GET (whole object or one range), to be read to the end.
#[derive(Debug)]
pub struct GetStream {
    backend: String,
    remaining: u64,
    inner: Inner,
    /// The checksum the bytes must have, and the running one.
    check: Option<Box<Check>>,
}

// A `Check` lives behind the `Box` of `GetStream::check`: its variants' sizes cost nothing.
#[allow(clippy::large_enum_variant)]
enum Check {
    /// A checksum the backend stored, over all the bytes.
    Sum { expected: Vec<u8>, running: Checksummer },
    /// Our content hash: one digest per segment of the stored bytes.
    Hash(super::hashed::HashCheck),
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Check::Sum { running, .. } => f
                .debug_struct("Check")
                .field("algorithm", &running.algorithm())
                .finish(),
            Check::Hash(_) => f.write_str("Check(blake3)"),
        }
    }
}

#[derive(Debug)]
enum Inner {
    File {
        file: File,
        pos: u64,
    },
    Http {
        conn: Option<Conn>,
        pool: Rc<Pool>,
        leftover: Vec<u8>,
        reusable: bool,
        timeout: std::time::Duration,
    },
}

impl GetStream {
    /// Bytes `start..end` of an open file.
    pub fn file(backend: String, file: File, start: u64, end: u64) -> GetStream {
        GetStream {
            backend,
            remaining: end.saturating_sub(start),
            inner: Inner::File { file, pos: start },
            check: None,
        }
    }

    /// A response body of `len` bytes on `conn`, the first bytes already read into `leftover`;
    /// the connection goes back to `pool` at the end when `reusable` (no `Connection: close`).
    /// Each read must make progress within `timeout`.
    pub fn http(
        backend: String,
        conn: Conn,
        pool: Rc<Pool>,
        leftover: Vec<u8>,
        len: u64,
        reusable: bool,
        timeout: std::time::Duration,
    ) -> GetStream {
        GetStream {
            backend,
            remaining: len,
            inner: Inner::Http {
                conn: Some(conn),
                pool,
                leftover,
                reusable,
                timeout,
            },
            check: None,
        }
    }

    /// Checks the bytes read against `expected`, a digest of `alg` over all of them: the read
    /// that would hand out the last bytes fails instead when they do not match, so a client never
    /// receives a complete copy of corrupt bytes (it sees the connection cut short).
    pub fn verified(mut self, alg: ChecksumAlgorithm, expected: Vec<u8>) -> GetStream {
        self.check = Some(Box::new(Check::Sum {
            expected,
            running: Checksummer::new(alg),
        }));
        self
    }

    /// Checks the bytes read against our content hash `check` (which replaces a backend's
    /// checksum): a segment whose bytes do not match fails the read that completes it, so the
    /// last bytes of a corrupt copy never go out.
    pub fn hashed(mut self, check: super::hashed::HashCheck) -> GetStream {
        self.check = Some(Box::new(Check::Hash(check)));
        self
    }

    /// Adds `bytes` (just read) to the running checksum; at the end, compares it.
    fn checked(&mut self, bytes: &[u8]) -> Result<(), ProxyError> {
        let Some(c) = &mut self.check else { return Ok(()) };
        let (expected, running) = match &mut **c {
            Check::Hash(h) => return h.feed(bytes, &self.backend),
            Check::Sum { expected, running } => (expected, running),
        };
        running.update(bytes);
        if self.remaining > 0 {
            return Ok(());
        }
        let got = running.finish();
        if got == *expected {
            return Ok(());
        }
        let alg = running.algorithm().upper_name();
        error!(backend = %self.backend, algorithm = alg, "the backend's bytes do not match its checksum: response cut short");
        Err(BackendError::Protocol {
            backend: self.backend.clone(),
            detail: format!("{alg} of the object's bytes differs from the one the backend stored"),
        }
        .into())
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Takes the body bytes that arrived with the backend's response head (they come first), so
    /// they can leave with the client's response head without another copy.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let Inner::Http { leftover, .. } = &mut self.inner else {
            return Vec::new();
        };
        let hashed = matches!(self.check.as_deref(), Some(Check::Hash(_)));
        if hashed || (self.check.is_some() && leftover.len() as u64 >= self.remaining) {
            // The last bytes (any bytes, with per-segment hashes): `read` hands them out once
            // they are checked.
            return Vec::new();
        }
        let b = std::mem::take(leftover);
        self.remaining -= b.len() as u64;
        if let Some(Check::Sum { running, .. }) = self.check.as_deref_mut() {
            running.update(&b);
        }
        self.release_if_done();
        b
    }

    /// At the end of an HTTP body, returns the connection to the pool (when reusable).
    fn release_if_done(&mut self) {
        if let Inner::Http {
            conn, pool, reusable, ..
        } = &mut self.inner
        {
            if self.remaining == 0 {
                if let Some(c) = conn.take().filter(|_| *reusable) {
                    pool.put_back(c);
                }
            }
        }
    }

    /// The backend read from.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// Reads the next bytes into `buf` (cleared first, filled up to its capacity). Returns the
    /// buffer with the bytes; an empty buffer means the end.
    pub async fn read(&mut self, mut buf: Vec<u8>) -> (Result<(), ProxyError>, Vec<u8>) {
        buf.clear();
        self.read_more(buf).await
    }

    /// Reads the next bytes into `buf` after those it holds (up to its capacity, grown when it
    /// is full). Returns the buffer; nothing added means the end.
    pub async fn read_more(&mut self, mut buf: Vec<u8>) -> (Result<(), ProxyError>, Vec<u8>) {
        if self.remaining == 0 {
            return (Ok(()), buf);
        }
        if buf.capacity() == buf.len() {
            buf.reserve(
                usize::try_from(self.remaining)
                    .unwrap_or(usize::MAX)
                    .clamp(1, super::BODY_BUF),
            );
        }
        let at = buf.len();
        let want = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.capacity() - at);
        match &mut self.inner {
            Inner::File { file, pos } => {
                // Read exactly `want` bytes into a slice of the buffer's capacity.
                let (res, slice) = file
                    .read_exact_at(monoio::buf::IoBufMut::slice_mut(buf, at..at + want), *pos)
                    .await;
                buf = slice.into_inner();
                match res {
                    Ok(()) => {
                        *pos += want as u64;
                        self.remaining -= want as u64;
                        let checked = self.checked(&buf[at..]);
                        (checked, buf)
                    }
                    Err(e) => (
                        Err(BackendError::Io {
                            backend: self.backend.clone(),
                            source: e,
                        }
                        .into()),
                        buf,
                    ),
                }
            }
            Inner::Http {
                conn,
                leftover,
                timeout,
                ..
            } => {
                if !leftover.is_empty() {
                    let n = leftover.len().min(want);
                    buf.extend_from_slice(&leftover[..n]);
                    leftover.drain(..n);
                    self.remaining -= n as u64;
                } else {
                    let Some(c) = conn.as_mut() else {
                        return (Err(ProxyError::Internal("read after end".into())), buf);
                    };
                    let read =
                        monoio::time::timeout(*timeout, c.read(monoio::buf::IoBufMut::slice_mut(buf, at..at + want)));
                    let Ok((res, slice)) = read.await else {
                        *conn = None;
                        let e = BackendError::Timeout {
                            backend: self.backend.clone(),
                        };
                        return (Err(e.into()), Vec::new());
                    };
                    buf = slice.into_inner();
                    match res {
                        Ok(0) => {
                            let e = BackendError::Protocol {
                                backend: self.backend.clone(),
                                detail: "body ended early".into(),
                            };
                            *conn = None;
                            return (Err(e.into()), buf);
                        }
                        Ok(n) => self.remaining -= n as u64,
                        Err(e) => {
                            *conn = None;
                            let e = BackendError::Connect {
                                backend: self.backend.clone(),
                                detail: e.to_string(),
                            };
                            return (Err(e.into()), buf);
                        }
                    }
                }
                if let Err(e) = self.checked(&buf[at..]) {
                    // The connection is not given back: its response was not what it claimed.
                    if let Inner::Http { conn, .. } = &mut self.inner {
                        *conn = None;
                    }
                    return (Err(e), Vec::new());
                }
                self.release_if_done();
                (Ok(()), buf)
            }
        }
    }
}
