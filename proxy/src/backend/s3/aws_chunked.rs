//! An upload to an `s3` backend framed as `aws-chunked` with a trailing checksum
//! (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`), so the backend verifies the bytes it stores: the
//! client's own trailer checksum forwarded once we verified it, or else a CRC32C we compute while
//! the bytes stream. Chunk boundaries sit at fixed offsets of the body, whatever the pieces it
//! arrives in, so the encoded length (sent as `Content-Length`) is known before the first byte.

use bytes::Bytes;
use s3o_sigv4::{ChecksumAlgorithm, Checksummer};

/// Decoded bytes per chunk (the last one may be shorter).
const CHUNK: u64 = 1 << 20;
/// The payload hash that announces this framing.
pub(super) const PAYLOAD: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/// Frames the pieces of one body of a known length.
pub(super) struct Framer {
    /// Decoded bytes not framed yet.
    remaining: u64,
    /// Bytes left in the open chunk (0: the next byte starts a chunk).
    in_chunk: u64,
    alg: ChecksumAlgorithm,
    /// Our own running checksum; `None` when the value is forwarded from the client.
    crc: Option<Checksummer>,
}

/// Length of `n` in lowercase hex.
fn hex_len(n: u64) -> u64 {
    u64::from((64 - n.leading_zeros()).div_ceil(4).max(1))
}

/// The trailer's header name for `alg`.
pub(super) fn trailer_name(alg: ChecksumAlgorithm) -> String {
    format!("x-amz-checksum-{}", alg.name())
}

/// The encoded length of a `len`-byte body with an `alg` trailer.
pub(super) fn encoded_len(len: u64, alg: ChecksumAlgorithm) -> u64 {
    let framed = |size: u64| hex_len(size) + 2 + size + 2;
    let (full, rest) = (len / CHUNK, len % CHUNK);
    let chunks = full * framed(CHUNK) + if rest > 0 { framed(rest) } else { 0 };
    let value = (alg.digest_len() as u64).div_ceil(3) * 4;
    // "0\r\n", the trailer line, the closing "\r\n".
    chunks + 3 + (trailer_name(alg).len() as u64 + 1 + value + 2) + 2
}

impl Framer {
    /// A framer for a body of `len` bytes whose trailer carries the client's verified `forward`
    /// checksum, or our own CRC32C when it has none.
    pub(super) fn new(len: u64, forward: Option<ChecksumAlgorithm>) -> Framer {
        Framer {
            remaining: len,
            in_chunk: 0,
            alg: forward.unwrap_or(ChecksumAlgorithm::Crc32c),
            crc: forward.is_none().then(|| Checksummer::new(ChecksumAlgorithm::Crc32c)),
        }
    }

    /// The trailer's algorithm.
    pub(super) fn algorithm(&self) -> ChecksumAlgorithm {
        self.alg
    }

    /// The wire pieces for the next `pieces` of the body. Errors if the pieces run past the
    /// announced length.
    pub(super) fn frame(&mut self, pieces: Vec<Bytes>) -> Result<Vec<Bytes>, &'static str> {
        let mut out = Vec::with_capacity(pieces.len() + 4);
        for mut piece in pieces {
            if let Some(c) = &mut self.crc {
                c.update(&piece);
            }
            while !piece.is_empty() {
                if self.remaining == 0 {
                    return Err("body longer than announced");
                }
                if self.in_chunk == 0 {
                    self.in_chunk = self.remaining.min(CHUNK);
                    out.push(Bytes::from(format!("{:x}\r\n", self.in_chunk)));
                }
                let take = usize::try_from(self.in_chunk).unwrap_or(usize::MAX).min(piece.len());
                out.push(piece.split_to(take));
                self.in_chunk -= take as u64;
                self.remaining -= take as u64;
                if self.in_chunk == 0 {
                    out.push(Bytes::from_static(b"\r\n"));
                }
            }
        }
        Ok(out)
    }

    /// The end of the body: the last chunk and the trailer, with `forwarded` (the client's
    /// verified value, base64) or our own checksum. Call once every byte was framed.
    pub(super) fn finish(&self, forwarded: Option<&str>) -> Result<Bytes, &'static str> {
        let value = match (&self.crc, forwarded) {
            (Some(c), _) => c.finish_base64(),
            (None, Some(v)) => v.to_string(),
            (None, None) => return Err("the forwarded checksum is missing"),
        };
        Ok(Bytes::from(format!("0\r\n{}:{value}\r\n\r\n", trailer_name(self.alg))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// Frames `data` cut into `piece`-byte pieces, then decodes it with the same decoder that
    /// checks clients' uploads.
    fn round_trip(data: &[u8], piece: usize) -> Vec<u8> {
        let mut f = Framer::new(data.len() as u64, None);
        let mut wire = Vec::new();
        for p in data.chunks(piece.max(1)) {
            for b in f.frame(vec![Bytes::copy_from_slice(p)]).unwrap() {
                wire.extend_from_slice(&b);
            }
        }
        wire.extend_from_slice(&f.finish(None).unwrap());
        assert_eq!(
            wire.len() as u64,
            encoded_len(data.len() as u64, ChecksumAlgorithm::Crc32c),
            "encoded length"
        );
        let mut dec = s3o_sigv4::ChunkedDecoder::new(s3o_sigv4::StreamingAuth {
            mode: s3o_sigv4::StreamingMode::UnsignedTrailer,
            chain: None,
            decoded_length: data.len() as u64,
            trailer: Some(ChecksumAlgorithm::Crc32c),
        })
        .unwrap();
        let out = dec.decode_all(&wire).unwrap();
        let trailer = dec.finish().unwrap().expect("a trailer checksum");
        let mut c = Checksummer::new(ChecksumAlgorithm::Crc32c);
        c.update(data);
        assert_eq!(trailer.value, c.finish_base64());
        out
    }

    #[test]
    fn every_length_and_piece_size_frames_and_decodes_back() {
        for (len, piece) in [
            (0, 1),
            (1, 1),
            (5, 2),
            (CHUNK as usize, 4096),
            (CHUNK as usize + 1, 65_536),
            (3 * CHUNK as usize - 7, 1_000_003),
            (2 * CHUNK as usize, 3 * CHUNK as usize),
        ] {
            let data = body(len);
            assert!(round_trip(&data, piece) == data, "len {len} piece {piece}");
        }
    }

    #[test]
    fn a_forwarded_checksum_goes_out_as_given_in_a_trailer_of_its_length() {
        for (alg, value) in [
            (ChecksumAlgorithm::Crc32, "AAAAAA=="),
            (ChecksumAlgorithm::Crc64Nvme, "AAAAAAAAAAA="),
            (
                ChecksumAlgorithm::Sha256,
                "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            ),
        ] {
            let mut f = Framer::new(5, Some(alg));
            let mut wire: Vec<u8> = f.frame(vec![Bytes::from_static(b"hello")]).unwrap().concat();
            assert!(f.finish(None).is_err(), "no value, no trailer");
            wire.extend_from_slice(&f.finish(Some(value)).unwrap());
            let want = format!("5\r\nhello\r\n0\r\nx-amz-checksum-{}:{value}\r\n\r\n", alg.name());
            assert_eq!(String::from_utf8(wire).unwrap(), want);
            assert_eq!(encoded_len(5, alg), want.len() as u64, "{alg:?}");
        }
    }

    #[test]
    fn more_bytes_than_announced_are_refused() {
        let mut f = Framer::new(3, None);
        assert!(f.frame(vec![Bytes::from_static(b"abcd")]).is_err());
    }

    #[test]
    fn hex_lengths() {
        assert_eq!((hex_len(0), hex_len(15), hex_len(16), hex_len(CHUNK)), (1, 1, 2, 6));
    }
}
