//! Deterministic, random-access test data. A *stream* is an endless byte sequence: its 8-byte
//! word `i` (little-endian) is `fmix64((stream << 40 | i) ^ SEED)` (MurmurHash3's finalizer, a
//! bijection). Any byte of any stream can be made or checked without the bytes before it, at
//! a few GB/s, so a backend can drain a body and still check every byte of it, regenerate an
//! object for a GET instead of keeping it, and a client can check every byte of a ranged read.
//!
//! The data describe themselves: the first word of a stream decodes back to its stream number
//! ([`stream_of_first_word`]), so a backend checking a body (a PUT, or one part of a multipart
//! upload) needs no side channel to know which stream the client sent. Load-generator bodies
//! are stream 0 (`PayloadData`); `transfer --data unique` sends part `n` as stream `n`.

use bytes::Bytes;

/// Mixed into every word, so that stream 0 does not start with a zero word.
const SEED: u64 = 0x5e3d_0c4a_11ad_7e57;
/// Bits of the word index inside a stream (a stream is 8 TiB long).
const INDEX_BITS: u32 = 40;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
/// The largest stream number.
pub const MAX_STREAM: u64 = (1 << (64 - INDEX_BITS)) - 1;

const M1: u64 = 0xff51_afd7_ed55_8ccd;
const M2: u64 = 0xc4ce_b9fe_1a85_ec53;

/// The inverse of odd `a` modulo 2^64 (Newton's iteration: each step doubles the correct bits).
const fn inverse(a: u64) -> u64 {
    let mut x = a;
    let mut i = 0;
    while i < 6 {
        x = x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)));
        i += 1;
    }
    x
}

const M1_INV: u64 = inverse(M1);
const M2_INV: u64 = inverse(M2);

#[inline]
fn fmix(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(M1);
    k ^= k >> 33;
    k = k.wrapping_mul(M2);
    k ^ (k >> 33)
}

/// `fmix`'s inverse (`x ^= x >> 33` is its own inverse: the shift is at least half the width).
fn unfmix(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(M2_INV);
    k ^= k >> 33;
    k = k.wrapping_mul(M1_INV);
    k ^ (k >> 33)
}

/// Word `index` of `stream`.
#[inline]
pub fn word(stream: u64, index: u64) -> u64 {
    fmix((((stream & MAX_STREAM) << INDEX_BITS) | (index & INDEX_MASK)) ^ SEED)
}

/// The stream whose word 0 is `w`, if `w` is the first word of a stream.
pub fn stream_of_first_word(w: u64) -> Option<u64> {
    let x = unfmix(w) ^ SEED;
    (x & INDEX_MASK == 0).then_some(x >> INDEX_BITS)
}

/// Fills `buf` with the bytes of `stream` from byte `offset` on.
pub fn fill(stream: u64, offset: u64, buf: &mut [u8]) {
    let lead = ((8 - offset % 8) % 8) as usize;
    let lead = lead.min(buf.len());
    if lead > 0 {
        let r = (offset % 8) as usize;
        buf[..lead].copy_from_slice(&word(stream, offset / 8).to_le_bytes()[r..r + lead]);
    }
    let mut index = (offset + lead as u64) / 8;
    let rest = &mut buf[lead..];
    let whole = rest.len() / 8 * 8;
    let (body, tail) = rest.split_at_mut(whole);
    for c in body.chunks_exact_mut(8) {
        c.copy_from_slice(&word(stream, index).to_le_bytes());
        index += 1;
    }
    if !tail.is_empty() {
        let n = tail.len();
        tail.copy_from_slice(&word(stream, index).to_le_bytes()[..n]);
    }
}

/// `len` bytes of `stream` from byte `offset` on.
pub fn bytes(stream: u64, offset: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    fill(stream, offset, &mut v);
    v
}

/// The position in `data` of its first byte that differs from `stream` at `offset` on.
pub fn mismatch(stream: u64, offset: u64, data: &[u8]) -> Option<usize> {
    let first_diff = |got: &[u8], want: &[u8]| got.iter().zip(want).position(|(a, b)| a != b);
    let lead = (((8 - offset % 8) % 8) as usize).min(data.len());
    if lead > 0 {
        let r = (offset % 8) as usize;
        let w = word(stream, offset / 8).to_le_bytes();
        if let Some(i) = first_diff(&data[..lead], &w[r..r + lead]) {
            return Some(i);
        }
    }
    let mut index = (offset + lead as u64) / 8;
    let rest = &data[lead..];
    let whole = rest.len() / 8 * 8;
    let (body, tail) = rest.split_at(whole);
    for (k, c) in body.chunks_exact(8).enumerate() {
        let want = word(stream, index);
        let got = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        if got != want {
            let i = first_diff(c, &want.to_le_bytes()).unwrap_or(0);
            return Some(lead + k * 8 + i);
        }
        index += 1;
    }
    if !tail.is_empty() {
        let w = word(stream, index).to_le_bytes();
        if let Some(i) = first_diff(tail, &w[..tail.len()]) {
            return Some(lead + whole + i);
        }
    }
    None
}

/// A piece of a generated object: a stream's first `len` bytes, or (bodies too short to name
/// their stream) the bytes themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Bytes `0..len` of `stream`.
    Stream {
        /// The stream.
        stream: u64,
        /// Its length.
        len: u64,
    },
    /// Fewer than 8 bytes, kept as they are.
    Literal(Bytes),
}

impl Segment {
    /// The length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Segment::Stream { len, .. } => *len,
            Segment::Literal(b) => b.len() as u64,
        }
    }

    /// Whether the segment is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Fills `buf` with bytes `offset..` of the concatenation of `segments` (bytes past their end
/// are left as they are).
pub fn fill_segments(segments: &[Segment], offset: u64, buf: &mut [u8]) {
    let mut start = 0u64;
    let mut done = 0usize;
    for seg in segments {
        let end = start + seg.len();
        let at = offset + done as u64;
        if done == buf.len() {
            return;
        }
        if at < end {
            let within = at - start;
            let n = usize::try_from(end - at).unwrap_or(usize::MAX).min(buf.len() - done);
            let out = &mut buf[done..done + n];
            match seg {
                Segment::Stream { stream, .. } => fill(*stream, within, out),
                Segment::Literal(b) => out.copy_from_slice(&b[within as usize..within as usize + n]),
            }
            done += n;
        }
        start = end;
    }
}

/// Checks a body arriving in pieces: its first word names the stream, every later byte must
/// follow that stream. [`Checker::finish`] gives the segment the body was, or the position of
/// the first wrong byte.
#[derive(Debug, Default)]
pub struct Checker {
    head: [u8; 8],
    head_len: usize,
    stream: Option<u64>,
    len: u64,
    bad: Option<u64>,
}

impl Checker {
    /// A checker at the start of a body.
    pub fn new() -> Checker {
        Checker::default()
    }

    /// The next piece of the body.
    pub fn update(&mut self, mut data: &[u8]) {
        if self.bad.is_none() && self.stream.is_none() {
            let n = (8 - self.head_len).min(data.len());
            self.head[self.head_len..self.head_len + n].copy_from_slice(&data[..n]);
            self.head_len += n;
            self.len += n as u64;
            data = &data[n..];
            if self.head_len < 8 {
                return;
            }
            match stream_of_first_word(u64::from_le_bytes(self.head)) {
                Some(s) => self.stream = Some(s),
                None => self.bad = Some(0),
            }
        }
        if let (None, Some(s)) = (self.bad, self.stream) {
            if let Some(i) = mismatch(s, self.len, data) {
                self.bad = Some(self.len + i as u64);
            }
        }
        self.len += data.len() as u64;
    }

    /// The body as a segment, or the offset of its first byte that is not generated data.
    pub fn finish(self) -> Result<Segment, u64> {
        match (self.bad, self.stream) {
            (Some(at), _) => Err(at),
            (None, Some(stream)) => Ok(Segment::Stream { stream, len: self.len }),
            (None, None) => Ok(Segment::Literal(Bytes::copy_from_slice(&self.head[..self.head_len]))),
        }
    }
}

/// The layout of an object uploaded in parts of `part_size` (the last may be shorter) where
/// part `n` (from 1) is stream `n` (`unique`) or every part is stream 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The part size.
    pub part_size: u64,
    /// Part `n` is stream `n` (else all are stream 0).
    pub unique: bool,
}

impl Layout {
    /// The stream of part `n` (from 1).
    pub fn stream(&self, n: u64) -> u64 {
        if self.unique {
            n
        } else {
            0
        }
    }

    /// The position in `data` of its first byte that differs from the object at `offset` on.
    pub fn mismatch(&self, offset: u64, data: &[u8]) -> Option<usize> {
        let mut done = 0usize;
        while done < data.len() {
            let at = offset + done as u64;
            let part = at / self.part_size;
            let within = at % self.part_size;
            let n = usize::try_from(self.part_size - within)
                .unwrap_or(usize::MAX)
                .min(data.len() - done);
            if let Some(i) = mismatch(self.stream(part + 1), within, &data[done..done + n]) {
                return Some(done + i);
            }
            done += n;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_and_first_words() {
        assert_eq!(M1.wrapping_mul(M1_INV), 1);
        assert_eq!(M2.wrapping_mul(M2_INV), 1);
        for x in [0, 1, 42, u64::MAX, SEED] {
            assert_eq!(unfmix(fmix(x)), x);
        }
        for s in [0, 1, 7, 10_000, MAX_STREAM] {
            assert_eq!(stream_of_first_word(word(s, 0)), Some(s));
            assert_eq!(stream_of_first_word(word(s, 1)), None);
        }
        assert_ne!(word(0, 0), 0);
        assert_ne!(word(1, 0), word(0, 0));
    }

    #[test]
    fn fill_is_random_access_and_mismatch_finds_the_byte() {
        let all = bytes(3, 0, 1000);
        for (off, len) in [(0, 0), (0, 1000), (1, 7), (5, 3), (7, 100), (8, 8), (13, 500), (999, 1)] {
            let part = bytes(3, off, len);
            assert_eq!(part, all[off as usize..off as usize + len], "{off} {len}");
            assert_eq!(mismatch(3, off, &part), None);
            if len > 0 {
                let mut bad = part.clone();
                let i = len / 2;
                bad[i] ^= 0x40;
                assert_eq!(mismatch(3, off, &bad), Some(i), "{off} {len}");
                assert!(mismatch(4, off, &part).is_some());
            }
        }
    }

    #[test]
    fn checker_learns_the_stream_from_any_split() {
        let body = bytes(9, 0, 100);
        for split in [0, 1, 3, 8, 9, 50, 100] {
            let mut c = Checker::new();
            c.update(&body[..split]);
            c.update(&body[split..]);
            assert_eq!(c.finish(), Ok(Segment::Stream { stream: 9, len: 100 }), "{split}");
        }
        let mut bad = body.clone();
        bad[77] = !bad[77];
        let mut c = Checker::new();
        c.update(&bad[..40]);
        c.update(&bad[40..]);
        assert_eq!(c.finish(), Err(77));
        let mut c = Checker::new();
        c.update(&[0u8; 64]);
        assert_eq!(c.finish(), Err(0), "zeros are not generated data");
        let mut c = Checker::new();
        c.update(b"abc");
        assert_eq!(c.finish(), Ok(Segment::Literal(Bytes::from_static(b"abc"))));
    }

    #[test]
    fn segments_and_layouts() {
        let segs = [
            Segment::Stream { stream: 1, len: 10 },
            Segment::Literal(Bytes::from_static(b"xyz")),
            Segment::Stream { stream: 2, len: 20 },
        ];
        let whole: Vec<u8> = [bytes(1, 0, 10), b"xyz".to_vec(), bytes(2, 0, 20)].concat();
        let mut buf = vec![0u8; 33];
        fill_segments(&segs, 0, &mut buf);
        assert_eq!(buf, whole);
        let mut buf = vec![0u8; 15];
        fill_segments(&segs, 8, &mut buf);
        assert_eq!(buf, whole[8..23]);
        let layout = Layout {
            part_size: 10,
            unique: true,
        };
        let obj: Vec<u8> = [bytes(1, 0, 10), bytes(2, 0, 10), bytes(3, 0, 5)].concat();
        assert_eq!(layout.mismatch(0, &obj), None);
        assert_eq!(layout.mismatch(7, &obj[7..22]), None);
        let mut bad = obj.clone();
        bad[12] ^= 1;
        assert_eq!(layout.mismatch(5, &bad[5..]), Some(7));
        let shared = Layout {
            part_size: 10,
            unique: false,
        };
        assert_eq!(shared.mismatch(0, &[bytes(0, 0, 10), bytes(0, 0, 4)].concat()), None);
        assert!(shared.mismatch(0, &obj).is_some());
    }
}
