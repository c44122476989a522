//! Request body framing: [`BodyKind`] says how the body of a request ends (RFC 9112 §6.3), and
//! [`ChunkedBody`] decodes a `Transfer-Encoding: chunked` body (RFC 9112 §7.1) as a sans-IO state
//! machine fed arbitrary byte slices. Payload bytes are handed back as sub-ranges of the input (no
//! copy); only the short framing lines (chunk-size lines, trailer fields) are buffered, within the
//! named limits below.
//!
//! ```text
//! chunked-body = *chunk last-chunk trailer-section CRLF
//! chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! last-chunk   = 1*("0") [ chunk-ext ] CRLF
//! ```
//!
//! Bytes after the final CRLF belong to the next request on the connection: the decoder stops
//! there and leaves them unconsumed.

use std::ops::Range;

use http::Version;

use super::head::RequestHead;
use super::HttpError;

/// Longest chunk-size line, extensions and CRLF included: a size needs at most 18 bytes, and we
/// give extensions (which we ignore) a little room without letting a client stream them forever.
pub const MAX_CHUNK_LINE_BYTES: usize = 1024;
/// Most hex digits in a chunk size: 16 digits hold any u64; more is hostile or an overflow.
pub const MAX_CHUNK_SIZE_DIGITS: usize = 16;
/// Most bytes of trailer fields (line ends included) after the last chunk: trailers carry a few
/// checksums, and they are buffered.
pub const MAX_TRAILER_BYTES: usize = 8 * 1024;
/// Most trailer fields after the last chunk.
pub const MAX_TRAILER_FIELDS: usize = 32;

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body (no framing header, or `Content-Length: 0`).
    Empty,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// A `Transfer-Encoding: chunked` body; decode it with [`ChunkedBody`].
    Chunked,
}

impl BodyKind {
    /// The framing of `head`'s body. Refuses `Content-Length` together with `Transfer-Encoding`
    /// and `Transfer-Encoding` in HTTP/1.0 (both 400: request smuggling vectors, RFC 9112 §6.1),
    /// codings other than `chunked` (501), and invalid or conflicting lengths (400).
    pub fn from_head(head: &RequestHead) -> Result<BodyKind, HttpError> {
        let has_te = head.header("transfer-encoding").is_some();
        if has_te && head.header("content-length").is_some() {
            return Err(HttpError::BadRequest("both Content-Length and Transfer-Encoding"));
        }
        if has_te && head.version == Version::HTTP_10 {
            return Err(HttpError::BadRequest("Transfer-Encoding in HTTP/1.0"));
        }
        if head.is_chunked()? {
            return Ok(BodyKind::Chunked);
        }
        Ok(match head.content_length()? {
            None | Some(0) => BodyKind::Empty,
            Some(n) => BodyKind::Length(n),
        })
    }
}

/// Progress of one [`ChunkedBody::decode`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// How many input bytes were used; the next call starts at `input[consumed..]`.
    pub consumed: usize,
    /// The payload bytes within `input` (possibly empty); always ends at `consumed`.
    pub payload: Range<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a `chunk-size [ext] CRLF` line.
    SizeLine,
    /// Inside chunk data.
    Data,
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// Reading trailer fields; the empty line ends the body.
    Trailer,
    /// The final CRLF has been read.
    Done,
}

/// The sans-IO chunked request body decoder. See the module docs.
#[derive(Debug, Clone)]
pub struct ChunkedBody {
    state: State,
    line: Vec<u8>,
    remaining: u64,
    decoded: u64,
    trailer_bytes: usize,
    trailers: Vec<(String, String)>,
}

impl Default for ChunkedBody {
    fn default() -> Self {
        ChunkedBody::new()
    }
}

impl ChunkedBody {
    /// A decoder at the start of a chunked body.
    pub fn new() -> ChunkedBody {
        ChunkedBody {
            state: State::SizeLine,
            line: Vec::new(),
            remaining: 0,
            decoded: 0,
            trailer_bytes: 0,
            trailers: Vec::new(),
        }
    }

    /// Whether the whole body, trailer section and final CRLF included, has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Payload bytes handed out so far.
    pub fn decoded_len(&self) -> u64 {
        self.decoded
    }

    /// The trailer fields received (names as sent, values trimmed).
    pub fn trailers(&self) -> &[(String, String)] {
        &self.trailers
    }

    /// Call when the input ends (the peer closed): a body that is not done is truncated.
    pub fn finish(&self) -> Result<(), HttpError> {
        if self.is_done() {
            Ok(())
        } else {
            Err(HttpError::BadChunk("truncated chunked body"))
        }
    }

    /// Decodes from `input` up to and including the next run of payload bytes, consuming (and
    /// buffering when split) the framing before it. Once done, consumes nothing more: what
    /// follows is the next request. Any non-empty input is consumed at least partly until done.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, HttpError> {
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                State::SizeLine | State::Trailer => {
                    let rest = &input[pos..];
                    let limit = if self.state == State::SizeLine {
                        MAX_CHUNK_LINE_BYTES
                    } else {
                        MAX_TRAILER_BYTES - self.trailer_bytes
                    };
                    let (take, complete) = match rest.iter().position(|&b| b == b'\n') {
                        Some(i) => (i + 1, true),
                        None => (rest.len(), false),
                    };
                    if self.line.len() + take > limit {
                        return Err(self.too_long());
                    }
                    self.line.extend_from_slice(&rest[..take]);
                    pos += take;
                    if complete {
                        let line = std::mem::take(&mut self.line);
                        let r = if self.state == State::SizeLine {
                            self.on_size_line(&line)
                        } else {
                            self.on_trailer_line(&line)
                        };
                        self.line = line;
                        self.line.clear();
                        r?;
                    }
                }
                State::Data => {
                    let n = (input.len() - pos).min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                    self.remaining -= n as u64;
                    self.decoded += n as u64;
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                    return Ok(Decoded {
                        consumed: pos + n,
                        payload: pos..pos + n,
                    });
                }
                State::DataCr | State::DataLf => {
                    let want = if self.state == State::DataCr { b'\r' } else { b'\n' };
                    if input[pos] != want {
                        return Err(HttpError::BadChunk("chunk data longer than its size"));
                    }
                    pos += 1;
                    self.state = if self.state == State::DataCr {
                        State::DataLf
                    } else {
                        State::SizeLine
                    };
                }
                State::Done => break,
            }
        }
        Ok(Decoded {
            consumed: pos,
            payload: pos..pos,
        })
    }

    fn too_long(&self) -> HttpError {
        if self.state == State::SizeLine {
            HttpError::BadChunk("chunk-size line too long")
        } else {
            HttpError::BadChunk("trailer section too large")
        }
    }

    /// A complete `chunk-size [ chunk-ext ] CRLF` line.
    fn on_size_line(&mut self, line: &[u8]) -> Result<(), HttpError> {
        let line = strip_crlf(line).ok_or(HttpError::BadChunk("chunk-size line must end with CRLF"))?;
        let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        if digits == 0 {
            return Err(HttpError::BadChunk("missing chunk size"));
        }
        if digits > MAX_CHUNK_SIZE_DIGITS {
            return Err(HttpError::BadChunk("chunk size too large"));
        }
        let mut size: u64 = 0;
        for &b in &line[..digits] {
            let d = (b as char).to_digit(16).ok_or(HttpError::BadChunk("bad chunk size"))?;
            size = (size << 4) | u64::from(d);
        }
        // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ): ignored, but only
        // whitespace may precede the first ';', and no control bytes anywhere.
        let ext = &line[digits..];
        let first = ext.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(ext.len());
        if first < ext.len() && ext[first] != b';' {
            return Err(HttpError::BadChunk("bad chunk size"));
        }
        if ext.iter().any(|&b| is_ctl(b)) {
            return Err(HttpError::BadChunk("control byte in chunk extension"));
        }
        if self.decoded.checked_add(size).is_none() {
            return Err(HttpError::BadChunk("body length overflows"));
        }
        if size == 0 {
            self.state = State::Trailer;
        } else {
            self.remaining = size;
            self.state = State::Data;
        }
        Ok(())
    }

    /// A complete trailer line; the empty line ends the body.
    fn on_trailer_line(&mut self, line: &[u8]) -> Result<(), HttpError> {
        self.trailer_bytes += line.len();
        let line = strip_crlf(line).ok_or(HttpError::BadChunk("trailer line must end with CRLF"))?;
        if line.is_empty() {
            self.state = State::Done;
            return Ok(());
        }
        if self.trailers.len() >= MAX_TRAILER_FIELDS {
            return Err(HttpError::BadChunk("too many trailer fields"));
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(HttpError::BadChunk("trailer field without ':' (or obs-fold)"))?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(HttpError::BadChunk("invalid trailer field name"));
        }
        if value.iter().any(|&b| is_ctl(b)) {
            return Err(HttpError::BadChunk("invalid trailer field value"));
        }
        let value = std::str::from_utf8(value).map_err(|_| HttpError::BadChunk("trailer value is not UTF-8"))?;
        let name = std::str::from_utf8(name).map_err(|_| HttpError::BadChunk("invalid trailer field name"))?;
        self.trailers
            .push((name.to_string(), value.trim_matches([' ', '\t']).to_string()));
        Ok(())
    }
}

/// The line without its CRLF; `None` when it does not end in CRLF or has another CR inside.
fn strip_crlf(line: &[u8]) -> Option<&[u8]> {
    let body = line.strip_suffix(b"\r\n")?;
    (!body.contains(&b'\r')).then_some(body)
}

/// Control bytes other than HTAB (not allowed in field values or extensions).
fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
