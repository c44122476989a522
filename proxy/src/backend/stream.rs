//! Reading an object's bytes from a backend as owned buffers, so the GET path moves each buffer
//! from the backend read straight to the client write without copying it.

use std::rc::Rc;

use monoio::fs::File;

use super::s3::{Conn, Pool};
use crate::error::{BackendError, ProxyError};

/// The bytes of one GET (whole object or one range), to be read to the end.
#[derive(Debug)]
pub struct GetStream {
    backend: String,
    remaining: u64,
    inner: Inner,
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
        }
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
        let b = std::mem::take(leftover);
        self.remaining -= b.len() as u64;
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

    /// Reads the next bytes into `buf` (cleared first, filled up to its capacity). Returns the
    /// buffer with the bytes; an empty buffer means the end.
    pub async fn read(&mut self, mut buf: Vec<u8>) -> (Result<(), ProxyError>, Vec<u8>) {
        buf.clear();
        if self.remaining == 0 {
            return (Ok(()), buf);
        }
        let want = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.capacity().max(1));
        match &mut self.inner {
            Inner::File { file, pos } => {
                // Read exactly `want` bytes into a slice of the buffer's capacity.
                let (res, slice) = file
                    .read_exact_at(monoio::buf::IoBufMut::slice_mut(buf, 0..want), *pos)
                    .await;
                buf = slice.into_inner();
                match res {
                    Ok(()) => {
                        *pos += want as u64;
                        self.remaining -= want as u64;
                        (Ok(()), buf)
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
                    let read = monoio::time::timeout(*timeout, c.read(monoio::buf::IoBufMut::slice_mut(buf, 0..want)));
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
                self.release_if_done();
                (Ok(()), buf)
            }
        }
    }
}
