//! Several byte pieces written with one `writev`: an aws-chunked upload decodes into one piece
//! per chunk (often 64 KiB), and sending each with its own write costs a system call and a
//! wake-up of the backend per chunk.

#![allow(unsafe_code)]

use bytes::{Buf, Bytes};
use monoio::buf::IoVecBuf;

/// Owned pieces and the `iovec`s that point into them.
pub struct Pieces {
    bufs: Vec<Bytes>,
    iov: Vec<libc::iovec>,
}

impl Pieces {
    /// The pieces, in order.
    pub fn new(bufs: Vec<Bytes>) -> Pieces {
        let mut p = Pieces { bufs, iov: Vec::new() };
        p.rebuild();
        p
    }

    /// Bytes left to write.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.bufs.iter().map(Bytes::len).sum()
    }

    /// Whether everything was written.
    pub fn is_empty(&self) -> bool {
        // `rebuild` keeps only pieces with bytes left.
        self.bufs.is_empty()
    }

    /// Drops the first `n` bytes (written).
    pub fn advance(&mut self, mut n: usize) {
        for b in &mut self.bufs {
            if n == 0 {
                break;
            }
            let k = n.min(b.len());
            b.advance(k);
            n -= k;
        }
        self.rebuild();
    }

    /// Drops the written pieces and points the iovecs at what is left.
    fn rebuild(&mut self) {
        self.bufs.retain(|b| !b.is_empty());
        self.iov = self
            .bufs
            .iter()
            .map(|b| libc::iovec {
                iov_base: b.as_ptr() as *mut libc::c_void,
                iov_len: b.len(),
            })
            .collect();
    }
}

// SAFETY: every iovec points into a `Bytes` owned by the same value, whose heap data never moves
// or changes while it is alive; `iov` and `bufs` are only replaced in `advance`, which takes
// `&mut self` and so cannot run while the runtime holds the value for a write. Moving `Pieces`
// moves neither heap allocation, so the pointers stay valid while the runtime owns it.
unsafe impl IoVecBuf for Pieces {
    fn read_iovec_ptr(&self) -> *const libc::iovec {
        self.iov.as_ptr()
    }

    fn read_iovec_len(&self) -> usize {
        self.iov.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_across_pieces() {
        let mut p = Pieces::new(vec![
            Bytes::from_static(b"abc"),
            Bytes::new(),
            Bytes::from_static(b"defgh"),
        ]);
        assert_eq!(p.len(), 8);
        assert_eq!(p.read_iovec_len(), 2);
        p.advance(4);
        assert_eq!(p.len(), 4);
        assert_eq!(p.read_iovec_len(), 1);
        // SAFETY: one valid iovec, checked above.
        let first = unsafe { &*p.read_iovec_ptr() };
        // SAFETY: the iovec points at the 4 remaining bytes of the second piece.
        let rest = unsafe { std::slice::from_raw_parts(first.iov_base as *const u8, first.iov_len) };
        assert_eq!(rest, b"efgh");
        p.advance(4);
        assert!(p.is_empty());
        assert_eq!(p.read_iovec_len(), 0);
    }
}
