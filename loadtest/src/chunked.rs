//! A sans-IO decoder of chunked bodies: HTTP/1.1 `Transfer-Encoding: chunked` and S3's
//! aws-chunked (`content-encoding: aws-chunked`), which share one framing:
//!
//! ```text
//! hex-size [;extension...] CRLF  data CRLF  ...  0 [;extension...] CRLF  [trailer CRLF]...  CRLF
//! ```
//!
//! Chunk extensions (aws-chunked's `chunk-signature=`) and trailers (`x-amz-checksum-*`) are
//! skipped unchecked: the backend of this crate does not verify signatures or checksums.
//! The decoder never buffers; it says how much of the caller's buffer it consumed.

use thiserror::Error;

/// Longest chunk-size line accepted (a signed aws-chunked line is about 90 bytes).
pub const MAX_CHUNK_LINE: usize = 4096;
/// Most trailer bytes accepted after the last chunk.
pub const MAX_TRAILER: usize = 16 * 1024;

/// Malformed chunked framing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChunkError {
    /// A chunk-size line is not hex digits (and optional extensions).
    #[error("bad chunk size line")]
    BadSize,
    /// A chunk's data is not followed by CRLF.
    #[error("chunk data not followed by CRLF")]
    MissingCrlf,
    /// A chunk-size line longer than [`MAX_CHUNK_LINE`].
    #[error("chunk size line too long")]
    LineTooLong,
    /// Trailers longer than [`MAX_TRAILER`].
    #[error("trailer too long")]
    TrailerTooLong,
}

/// What the front of the input holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The first `n` bytes are body data (and were consumed).
    Data(usize),
    /// Framing was consumed; call again.
    Skip,
    /// More input is needed before anything can be consumed.
    NeedMore,
    /// The body ended (the final CRLF was consumed).
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

/// The decoder's position in the framing.
#[derive(Debug, Clone)]
pub struct ChunkDecoder {
    state: State,
    trailer_bytes: usize,
}

impl Default for ChunkDecoder {
    fn default() -> Self {
        ChunkDecoder::new()
    }
}

/// The position of the first CRLF in `input`, looking no further than `limit` bytes.
fn find_crlf(input: &[u8], limit: usize) -> Option<usize> {
    let end = input.len().min(limit + 2);
    input[..end].windows(2).position(|w| w == b"\r\n")
}

impl ChunkDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> ChunkDecoder {
        ChunkDecoder {
            state: State::Size,
            trailer_bytes: 0,
        }
    }

    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from the front of `input`, returning how many bytes were consumed and what they
    /// were. Call repeatedly, dropping the consumed bytes, until [`Step::Done`]; on
    /// [`Step::NeedMore`] append input and call again.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Step), ChunkError> {
        match self.state {
            State::Size => {
                let Some(end) = find_crlf(input, MAX_CHUNK_LINE) else {
                    if input.len() > MAX_CHUNK_LINE {
                        return Err(ChunkError::LineTooLong);
                    }
                    return Ok((0, Step::NeedMore));
                };
                let line = &input[..end];
                let hex_end = line.iter().position(|&c| c == b';').unwrap_or(line.len());
                let digits = line[..hex_end].trim_ascii();
                if digits.is_empty() || digits.len() > 15 {
                    return Err(ChunkError::BadSize);
                }
                let mut size = 0u64;
                for &c in digits {
                    let d = (c as char).to_digit(16).ok_or(ChunkError::BadSize)?;
                    size = size * 16 + u64::from(d);
                }
                self.state = if size == 0 { State::Trailer } else { State::Data(size) };
                Ok((end + 2, Step::Skip))
            }
            State::Data(left) => {
                if input.is_empty() {
                    return Ok((0, Step::NeedMore));
                }
                let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                let left = left - n as u64;
                self.state = if left == 0 { State::DataEnd } else { State::Data(left) };
                Ok((n, Step::Data(n)))
            }
            State::DataEnd => {
                if input.len() < 2 {
                    return Ok((0, Step::NeedMore));
                }
                if &input[..2] != b"\r\n" {
                    return Err(ChunkError::MissingCrlf);
                }
                self.state = State::Size;
                Ok((2, Step::Skip))
            }
            State::Trailer => {
                let room = MAX_TRAILER - self.trailer_bytes;
                let Some(end) = find_crlf(input, room) else {
                    if input.len() > room {
                        return Err(ChunkError::TrailerTooLong);
                    }
                    return Ok((0, Step::NeedMore));
                };
                if end == 0 {
                    self.state = State::Done;
                    return Ok((2, Step::Done));
                }
                self.trailer_bytes += end + 2;
                if self.trailer_bytes > MAX_TRAILER {
                    return Err(ChunkError::TrailerTooLong);
                }
                Ok((end + 2, Step::Skip))
            }
            State::Done => Ok((0, Step::Done)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces cut at `cuts`, as a connection loop would, returning the data and
    /// how many bytes were left after the body.
    fn run(input: &[u8], cut: usize) -> Result<(Vec<u8>, usize), ChunkError> {
        let mut dec = ChunkDecoder::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        let mut out = Vec::new();
        let mut step_size = cut.max(1);
        loop {
            let (n, step) = dec.decode(&buf)?;
            match step {
                Step::Data(k) => out.extend_from_slice(&buf[..k]),
                Step::Skip => {}
                Step::Done => {
                    buf.drain(..n);
                    return Ok((out, buf.len() + input.len() - fed));
                }
                Step::NeedMore => {
                    assert!(fed < input.len(), "ran out of input");
                    let take = step_size.min(input.len() - fed);
                    buf.extend_from_slice(&input[fed..fed + take]);
                    fed += take;
                    step_size = input.len();
                    continue;
                }
            }
            buf.drain(..n);
        }
    }

    #[test]
    fn decodes_http_chunked_at_every_split() {
        let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nNEXT";
        for cut in 0..body.len() {
            let (data, left) = run(body, cut).unwrap();
            assert_eq!(data, b"hello world");
            assert_eq!(left, 4, "the next request's bytes stay");
        }
    }

    #[test]
    fn decodes_aws_chunked_with_trailer() {
        let body = b"A;chunk-signature=abc\r\n0123456789\r\n0\r\nx-amz-checksum-crc32c:AAAAAA==\r\n\r\n";
        for cut in 0..body.len() {
            assert_eq!(run(body, cut).unwrap(), (b"0123456789".to_vec(), 0));
        }
        let enc = s3o_sigv4::ChunkedEncoder::new(
            s3o_sigv4::StreamingMode::UnsignedTrailer,
            None,
            Some(s3o_sigv4::Checksummer::new(s3o_sigv4::ChecksumAlgorithm::Crc32c)),
        );
        let payload: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let framed = enc.encode_all(&payload, 65536);
        assert_eq!(run(&framed, 1000).unwrap(), (payload, 0));
    }

    #[test]
    fn rejects_bad_framing() {
        assert_eq!(run(b"zz\r\n", 0), Err(ChunkError::BadSize));
        assert_eq!(run(b"\r\n", 0), Err(ChunkError::BadSize));
        assert_eq!(run(b"2\r\nabXY", 0), Err(ChunkError::MissingCrlf));
        let long = vec![b'1'; MAX_CHUNK_LINE + 10];
        assert_eq!(run(&long, 0), Err(ChunkError::LineTooLong));
        let mut trailer = b"0\r\n".to_vec();
        for _ in 0..1000 {
            trailer.extend_from_slice(b"x-a: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n");
        }
        assert_eq!(run(&trailer, 0), Err(ChunkError::TrailerTooLong));
    }
}
