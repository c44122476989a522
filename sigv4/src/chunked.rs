//! The aws-chunked body decoder: a sans-IO state machine fed arbitrary byte slices that hands back
//! the payload as sub-ranges of its input (no copy) and checks the framing on the way.
//!
//! ```text
//! STREAMING-AWS4-HMAC-SHA256-PAYLOAD:          hex(size);chunk-signature=sig\r\n data \r\n ... 0;chunk-signature=sig\r\n\r\n
//! STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER:  ... 0;chunk-signature=sig\r\n x-amz-checksum-x:v\r\n x-amz-trailer-signature:sig\r\n\r\n
//! STREAMING-UNSIGNED-PAYLOAD-TRAILER:          hex(size)\r\n data \r\n ... 0\r\n x-amz-checksum-x:v\r\n\r\n
//! ```
//!
//! Each chunk signature signs the chunk's SHA-256 chained on the previous signature (the seed is
//! the request signature); the trailer signature chains on the final chunk's. A chunk's data is
//! handed out before the chunk's signature can be checked (it needs the whole chunk), so callers
//! must treat the payload as unverified until [`ChunkedDecoder::finish`] returns `Ok`.

use std::ops::Range;

use ring::digest;

use crate::checksum::{ChecksumAlgorithm, Checksummer, ComputedChecksum};
use crate::encode::unhex;
use crate::signing_key::SigningKey;
use crate::string_to_sign::{chunk_string_to_sign, trailer_string_to_sign};
use crate::{ct_eq, SigError};

/// Longest chunk header line (`hex;chunk-signature=<64>\r\n` is 87 bytes at most).
pub const MAX_CHUNK_HEADER_LEN: usize = 256;
/// Most bytes of trailing headers (names, values and line ends) accepted after the last chunk.
pub const MAX_TRAILER_LEN: usize = 4 * 1024;
/// Most trailing header lines accepted.
pub const MAX_TRAILER_LINES: usize = 8;
/// Largest chunk size accepted: the largest single PUT S3 allows (5 GiB).
pub const MAX_CHUNK_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// Which aws-chunked flavour the body uses (from `x-amz-content-sha256`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamingMode {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: signed chunks, no trailer.
    Signed,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks and a signed trailer.
    SignedTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: plain chunks and an unsigned trailer.
    UnsignedTrailer,
}

impl StreamingMode {
    /// Whether chunks carry signatures.
    pub fn signed(self) -> bool {
        !matches!(self, StreamingMode::UnsignedTrailer)
    }

    /// Whether trailing headers follow the last chunk.
    pub fn has_trailer(self) -> bool {
        !matches!(self, StreamingMode::Signed)
    }
}

/// What is needed to check a chunk signature chain.
#[derive(Debug, Clone)]
pub struct ChainKey {
    /// The signing key of the request.
    pub key: SigningKey,
    /// The request's `x-amz-date`.
    pub amz_date: String,
    /// The credential scope.
    pub scope: String,
    /// The seed: the request's own signature.
    pub seed: [u8; 32],
}

/// How a streaming body must be decoded and checked.
#[derive(Debug, Clone)]
pub struct StreamingAuth {
    /// The flavour.
    pub mode: StreamingMode,
    /// The signature chain (signed modes only).
    pub chain: Option<ChainKey>,
    /// `x-amz-decoded-content-length`: the exact payload length.
    pub decoded_length: u64,
    /// The checksum announced in `x-amz-trailer`, if any.
    pub trailer: Option<ChecksumAlgorithm>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Data,
    DataEnd(u8),
    FinalEnd(u8),
    Trailer,
    Done,
}

/// Progress of one [`ChunkedDecoder::decode`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// How many input bytes were used; the next call starts at `input[consumed..]`.
    pub consumed: usize,
    /// The payload bytes within `input` (possibly empty); always ends at `consumed`.
    pub payload: Range<usize>,
}

/// The sans-IO aws-chunked decoder. See the module docs.
pub struct ChunkedDecoder {
    auth: StreamingAuth,
    state: State,
    line: Vec<u8>,
    remaining: u64,
    decoded: u64,
    prev_sig: [u8; 32],
    chunk_sig: [u8; 32],
    chunk_hash: Option<digest::Context>,
    checksum: Option<Checksummer>,
    trailer_lines: Vec<(String, String)>,
    trailer_sig: Option<[u8; 32]>,
    trailer_len: usize,
    scratch: Vec<u8>,
    verified: Option<ComputedChecksum>,
}

impl std::fmt::Debug for ChunkedDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkedDecoder")
            .field("mode", &self.auth.mode)
            .field("state", &self.state)
            .field("decoded", &self.decoded)
            .finish_non_exhaustive()
    }
}

impl ChunkedDecoder {
    /// A decoder for a body described by `auth`. A signed mode without a chain is rejected.
    pub fn new(auth: StreamingAuth) -> Result<ChunkedDecoder, SigError> {
        if auth.mode.signed() != auth.chain.is_some() {
            return Err(SigError::InvalidChunk("signed streaming needs the seed signature"));
        }
        if auth.trailer.is_some() && !auth.mode.has_trailer() {
            return Err(SigError::InvalidChunk("x-amz-trailer needs a *-TRAILER payload"));
        }
        let prev_sig = auth.chain.as_ref().map_or([0; 32], |c| c.seed);
        Ok(ChunkedDecoder {
            checksum: auth.trailer.map(Checksummer::new),
            auth,
            state: State::Header,
            line: Vec::with_capacity(96),
            remaining: 0,
            decoded: 0,
            prev_sig,
            chunk_sig: [0; 32],
            chunk_hash: None,
            trailer_lines: Vec::new(),
            trailer_sig: None,
            trailer_len: 0,
            scratch: Vec::new(),
            verified: None,
        })
    }

    /// Payload bytes handed out so far.
    pub fn decoded_len(&self) -> u64 {
        self.decoded
    }

    /// Whether the whole stream, trailer included, has been read and checked.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input` up to and including the next run of payload bytes. Framing is
    /// consumed (and buffered internally when split across calls, within the named limits).
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, SigError> {
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                State::Header | State::Trailer => {
                    let rest = &input[pos..];
                    let limit = if self.state == State::Header {
                        MAX_CHUNK_HEADER_LEN
                    } else {
                        MAX_TRAILER_LEN
                    };
                    match rest.iter().position(|&b| b == b'\n') {
                        Some(i) => {
                            if self.line.len() + i + 1 > limit {
                                return Err(self.too_long());
                            }
                            self.line.extend_from_slice(&rest[..=i]);
                            pos += i + 1;
                            let line = std::mem::take(&mut self.line);
                            let r = if self.state == State::Header {
                                self.on_header(&line)
                            } else {
                                self.on_trailer_line(&line)
                            };
                            self.line = line;
                            self.line.clear();
                            r?;
                        }
                        None => {
                            if self.line.len() + rest.len() > limit {
                                return Err(self.too_long());
                            }
                            self.line.extend_from_slice(rest);
                            pos = input.len();
                        }
                    }
                }
                State::Data => {
                    let n = (input.len() - pos).min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                    let data = &input[pos..pos + n];
                    if let Some(h) = &mut self.chunk_hash {
                        h.update(data);
                    }
                    if let Some(c) = &mut self.checksum {
                        c.update(data);
                    }
                    self.remaining -= n as u64;
                    self.decoded += n as u64;
                    if self.remaining == 0 {
                        self.state = State::DataEnd(0);
                    }
                    return Ok(Decoded {
                        consumed: pos + n,
                        payload: pos..pos + n,
                    });
                }
                State::DataEnd(seen) | State::FinalEnd(seen) => {
                    let want = if seen == 0 { b'\r' } else { b'\n' };
                    if input[pos] != want {
                        return Err(SigError::InvalidChunk("chunk data is not followed by CRLF"));
                    }
                    pos += 1;
                    self.state = match (self.state, seen) {
                        (State::DataEnd(_), 0) => State::DataEnd(1),
                        (State::FinalEnd(_), 0) => State::FinalEnd(1),
                        (State::DataEnd(_), _) => {
                            self.end_of_chunk_data()?;
                            State::Header
                        }
                        _ => State::Done,
                    };
                }
                State::Done => return Err(SigError::InvalidChunk("data after the final chunk")),
            }
        }
        Ok(Decoded {
            consumed: input.len(),
            payload: input.len()..input.len(),
        })
    }

    fn too_long(&self) -> SigError {
        if self.state == State::Header {
            SigError::InvalidChunk("chunk header line too long")
        } else {
            SigError::InvalidChunk("trailer too long")
        }
    }

    /// A complete `size[;ext]\r\n` line.
    fn on_header(&mut self, line: &[u8]) -> Result<(), SigError> {
        let line = line
            .strip_suffix(b"\r\n")
            .ok_or(SigError::InvalidChunk("chunk header must end with CRLF"))?;
        let (size_hex, ext) = match line.iter().position(|&b| b == b';') {
            Some(i) => (&line[..i], Some(&line[i + 1..])),
            None => (line, None),
        };
        if size_hex.is_empty() || size_hex.len() > 16 {
            return Err(SigError::InvalidChunk("bad chunk size"));
        }
        let mut size: u64 = 0;
        for &b in size_hex {
            let d = (b as char)
                .to_digit(16)
                .ok_or(SigError::InvalidChunk("bad chunk size"))?;
            size = size
                .checked_mul(16)
                .and_then(|s| s.checked_add(u64::from(d)))
                .ok_or(SigError::InvalidChunk("bad chunk size"))?;
        }
        if size > MAX_CHUNK_SIZE || self.decoded + size > self.auth.decoded_length {
            return Err(SigError::InvalidChunk("chunk exceeds x-amz-decoded-content-length"));
        }
        if self.auth.mode.signed() {
            let sig = ext
                .and_then(|e| e.strip_prefix(b"chunk-signature="))
                .and_then(unhex::<32>)
                .ok_or(SigError::InvalidChunk("missing or malformed chunk-signature"))?;
            self.chunk_sig = sig;
            self.chunk_hash = Some(digest::Context::new(&digest::SHA256));
        }
        if size == 0 {
            if self.decoded != self.auth.decoded_length {
                return Err(SigError::IncompleteBody);
            }
            self.end_of_chunk_data()?;
            self.state = if self.auth.mode.has_trailer() {
                State::Trailer
            } else {
                State::FinalEnd(0)
            };
        } else {
            self.remaining = size;
            self.state = State::Data;
        }
        Ok(())
    }

    /// Checks the signature of the chunk just finished (signed modes).
    fn end_of_chunk_data(&mut self) -> Result<(), SigError> {
        let (Some(chain), Some(h)) = (&self.auth.chain, self.chunk_hash.take()) else {
            return Ok(());
        };
        chunk_string_to_sign(
            &mut self.scratch,
            &chain.amz_date,
            &chain.scope,
            &self.prev_sig,
            h.finish().as_ref(),
        );
        let expect = chain.key.sign(&self.scratch);
        if !ct_eq(&expect, &self.chunk_sig) {
            return Err(SigError::SignatureDoesNotMatch);
        }
        self.prev_sig = self.chunk_sig;
        Ok(())
    }

    /// A complete trailer line; the empty line ends the stream.
    fn on_trailer_line(&mut self, line: &[u8]) -> Result<(), SigError> {
        self.trailer_len += line.len();
        let line = line
            .strip_suffix(b"\r\n")
            .ok_or(SigError::InvalidChunk("trailer line must end with CRLF"))?;
        if !line.is_empty() {
            if self.trailer_lines.len() + usize::from(self.trailer_sig.is_some()) >= MAX_TRAILER_LINES {
                return Err(SigError::InvalidChunk("too many trailer lines"));
            }
            let text = std::str::from_utf8(line).map_err(|_| SigError::MalformedTrailer)?;
            let (name, value) = text.split_once(':').ok_or(SigError::MalformedTrailer)?;
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim();
            if name == "x-amz-trailer-signature" {
                if !self.auth.mode.signed() || self.trailer_sig.is_some() {
                    return Err(SigError::InvalidChunk("unexpected x-amz-trailer-signature"));
                }
                self.trailer_sig = Some(
                    unhex::<32>(value.as_bytes()).ok_or(SigError::InvalidChunk("malformed x-amz-trailer-signature"))?,
                );
            } else {
                if self.trailer_sig.is_some() {
                    return Err(SigError::InvalidChunk("trailer after x-amz-trailer-signature"));
                }
                self.trailer_lines.push((name, value.to_string()));
            }
            return Ok(());
        }
        self.end_of_trailer()
    }

    fn end_of_trailer(&mut self) -> Result<(), SigError> {
        if let Some(chain) = &self.auth.chain {
            let sig = self
                .trailer_sig
                .ok_or(SigError::InvalidChunk("missing x-amz-trailer-signature"))?;
            let mut canon = Vec::with_capacity(128);
            for (n, v) in &self.trailer_lines {
                canon.extend_from_slice(n.as_bytes());
                canon.push(b':');
                canon.extend_from_slice(v.as_bytes());
                canon.push(b'\n');
            }
            let h = digest::digest(&digest::SHA256, &canon);
            trailer_string_to_sign(
                &mut self.scratch,
                &chain.amz_date,
                &chain.scope,
                &self.prev_sig,
                h.as_ref(),
            );
            if !ct_eq(&chain.key.sign(&self.scratch), &sig) {
                return Err(SigError::SignatureDoesNotMatch);
            }
        }
        // Only the checksum `x-amz-trailer` announced may follow (S3: MalformedTrailerError).
        for (n, _) in &self.trailer_lines {
            match (ChecksumAlgorithm::from_header_name(n), self.auth.trailer) {
                (Some(a), Some(b)) if a == b => {}
                _ => return Err(SigError::MalformedTrailer),
            }
        }
        if let Some(c) = &self.checksum {
            let alg = c.algorithm();
            // Sent more than once, the last copy is the one checked, as S3 does: a wrong value
            // after a right one fails the body, a right one after a wrong one passes it.
            let (_, value) = self
                .trailer_lines
                .iter()
                .rfind(|(n, _)| n == alg.header_name())
                .ok_or(SigError::MalformedTrailer)?;
            let expected = alg
                .decode_value(value.as_bytes())
                .map_err(|_| SigError::InvalidTrailingChecksum(alg.name()))?;
            let got = c.finish();
            if got != expected {
                return Err(SigError::BadChecksum(alg.upper_name()));
            }
            self.verified = Some(ComputedChecksum {
                algorithm: alg,
                value: value.clone(),
            });
        }
        self.state = State::Done;
        Ok(())
    }

    /// Call at the end of the body: checks that the stream was complete and returns the verified
    /// trailing checksum, if one was announced.
    pub fn finish(&self) -> Result<Option<ComputedChecksum>, SigError> {
        if self.state != State::Done || self.decoded != self.auth.decoded_length {
            return Err(SigError::IncompleteBody);
        }
        Ok(self.verified.clone())
    }

    /// The trailing headers received (lower-case names), signature line excluded.
    pub fn trailers(&self) -> &[(String, String)] {
        &self.trailer_lines
    }

    /// Decodes a whole body held in memory (tests and tools); returns the payload.
    pub fn decode_all(&mut self, mut input: &[u8]) -> Result<Vec<u8>, SigError> {
        let mut out = Vec::new();
        while !input.is_empty() {
            let d = self.decode(input)?;
            out.extend_from_slice(&input[d.payload]);
            input = &input[d.consumed..];
        }
        self.finish()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::base64_encode;

    const PAYLOAD: &[u8] = b"hello trailer";

    fn crc32c(data: &[u8]) -> String {
        let mut c = Checksummer::new(ChecksumAlgorithm::Crc32c);
        c.update(data);
        base64_encode(&c.finish())
    }

    /// An unsigned-trailer body of [`PAYLOAD`] in one chunk, with these trailer lines.
    fn body(trailers: &[String]) -> Vec<u8> {
        let mut b = format!("{:x}\r\n", PAYLOAD.len()).into_bytes();
        b.extend_from_slice(PAYLOAD);
        b.extend_from_slice(b"\r\n0\r\n");
        for t in trailers {
            b.extend_from_slice(t.as_bytes());
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"\r\n");
        b
    }

    fn decoder(trailer: Option<ChecksumAlgorithm>) -> ChunkedDecoder {
        ChunkedDecoder::new(StreamingAuth {
            mode: StreamingMode::UnsignedTrailer,
            chain: None,
            decoded_length: PAYLOAD.len() as u64,
            trailer,
        })
        .unwrap()
    }

    /// Decodes `input` split at `at`, returning the payload or the first error.
    fn decode_split(trailer: Option<ChecksumAlgorithm>, input: &[u8], at: usize) -> Result<Vec<u8>, SigError> {
        let mut d = decoder(trailer);
        let mut out = Vec::new();
        for mut part in [&input[..at], &input[at..]] {
            while !part.is_empty() {
                let r = d.decode(part)?;
                out.extend_from_slice(&part[r.payload]);
                part = &part[r.consumed..];
            }
        }
        d.finish()?;
        Ok(out)
    }

    /// Every split of `input` gives the same result.
    fn decode_every_split(trailer: Option<ChecksumAlgorithm>, input: &[u8]) -> Result<Vec<u8>, SigError> {
        let whole = decode_split(trailer, input, 0);
        for at in 1..=input.len() {
            assert_eq!(decode_split(trailer, input, at), whole, "split at {at}");
        }
        whole
    }

    #[test]
    fn a_duplicated_checksum_trailer_is_judged_by_its_last_copy() {
        let alg = Some(ChecksumAlgorithm::Crc32c);
        let (good, bad) = (crc32c(PAYLOAD), crc32c(b"other"));
        let line = |v: &str| format!("x-amz-checksum-crc32c:{v}");
        // Right then wrong: refused, as S3 refuses it.
        let input = body(&[line(&good), line(&bad)]);
        assert_eq!(decode_every_split(alg, &input), Err(SigError::BadChecksum("CRC32C")));
        // Wrong then right: accepted, as S3 accepts it; the value kept is the verified one.
        let input = body(&[line(&bad), line(&good)]);
        assert_eq!(decode_every_split(alg, &input).as_deref(), Ok(PAYLOAD));
        let mut d = decoder(alg);
        d.decode_all(&input).unwrap();
        assert_eq!(d.finish().unwrap().map(|c| c.value), Some(good.clone()));
        // Both copies right: accepted.
        let input = body(&[line(&good), line(&good)]);
        assert_eq!(decode_every_split(alg, &input).as_deref(), Ok(PAYLOAD));
    }

    #[test]
    fn trailers_other_than_the_announced_one_are_malformed() {
        let good = crc32c(PAYLOAD);
        let crc = Some(ChecksumAlgorithm::Crc32c);
        for (announced, trailers) in [
            // Announced, never sent.
            (crc, vec![]),
            // Another algorithm than announced.
            (
                Some(ChecksumAlgorithm::Crc32),
                vec![format!("x-amz-checksum-crc32c:{good}")],
            ),
            // An extra field after the checksum.
            (
                crc,
                vec![format!("x-amz-checksum-crc32c:{good}"), "bonus: trailer".into()],
            ),
            // Nothing announced, something sent.
            (None, vec![format!("x-amz-checksum-crc32c:{good}")]),
            // Not a field.
            (crc, vec![format!("x-amz-checksum-crc32c{good}")]),
        ] {
            assert_eq!(
                decode_every_split(announced, &body(&trailers)),
                Err(SigError::MalformedTrailer),
                "{announced:?} {trailers:?}"
            );
        }
        let e = decode_every_split(crc, &body(&["x-amz-checksum-crc32c:not=base-64".into()])).unwrap_err();
        assert_eq!(e, SigError::InvalidTrailingChecksum("crc32c"));
        assert_eq!(
            e.to_string(),
            "Value for x-amz-checksum-crc32c trailing header is invalid."
        );
        assert_eq!(
            (
                SigError::MalformedTrailer.s3_code(),
                SigError::MalformedTrailer.http_status()
            ),
            ("MalformedTrailerError", 400)
        );
    }
}
