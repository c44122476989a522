//! A sans-IO, bounded `multipart/form-data` decoder (RFC 7578 over RFC 2046 §5.1) for browser
//! POST uploads. Feed it the request body as it arrives; [`FormDecoder::decode`] hands back one
//! [`Event`] at a time or asks for more. The fields before the `file` part are returned whole
//! (bounded below); the `file` part's content is handed out in pieces as it arrives, holding
//! back only the bytes that could be the start of the next delimiter, so a file of any size
//! passes with bounded memory; the parts after the file are read and dropped, as S3 ignores them.
//!
//! ```text
//! body      = [preamble CRLF] "--" boundary *LWSP CRLF part
//!             *(CRLF "--" boundary *LWSP CRLF part) CRLF "--" boundary "--" [epilogue]
//! part      = *(header CRLF) CRLF content
//! ```

use bytes::{Buf, Bytes, BytesMut};

use crate::error::ProxyError;

/// Longest boundary: RFC 2046 §5.1.1 allows 1 to 70 characters.
pub const MAX_BOUNDARY_BYTES: usize = 70;
/// Most bytes before the first delimiter: browsers and curl send none; a long preamble is a
/// body that is not the form it claims to be.
pub const MAX_PREAMBLE_BYTES: usize = 1024;
/// Longest header block of one part: a part has two or three short headers.
pub const MAX_PART_HEADER_BYTES: usize = 8 * 1024;
/// Longest value of one field before the file: the largest real field is the policy (a few
/// KiB); S3 caps the fields before the file at 20 KB in all.
pub const MAX_FIELD_BYTES: usize = 20 * 1024;
/// Most bytes of all field names and values before the file, held in memory until the file
/// starts (S3 answers `MaxPostPreDataLengthExceeded` past its own 20 KB; we allow a little more
/// room for long tag sets and metadata).
pub const MAX_FIELDS_BYTES: usize = 64 * 1024;
/// Most parts in one form: an S3 form has about a dozen fields.
pub const MAX_PARTS: usize = 100;
/// Most transport padding (spaces, tabs) allowed after a delimiter (RFC 2046 `LWSP`).
const MAX_PADDING: usize = 64;

/// What the decoder found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A field before the file, whole.
    Field {
        /// The field name as sent.
        name: String,
        /// Its value.
        value: String,
    },
    /// The `file` part starts.
    File {
        /// Its `filename` parameter, if any.
        filename: Option<String>,
        /// Its `Content-Type` header, if any.
        content_type: Option<String>,
    },
    /// A piece of the file's content.
    Data(Bytes),
    /// The file's content ended.
    FileEnd,
    /// The closing delimiter: the form is complete.
    End,
}

/// A decoder's answer: an event, or the input so far ends before the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<T> {
    /// More input is needed.
    NeedMore,
    /// One item.
    Item(T),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Preamble,
    AfterDelimiter,
    Headers,
    Field(String),
    File,
    Ignored,
    Epilogue,
}

/// Decodes one form (see the module doc).
#[derive(Debug)]
pub struct FormDecoder {
    /// `CRLF--boundary`.
    delimiter: Vec<u8>,
    state: State,
    parts: usize,
    fields_bytes: usize,
    seen_file: bool,
    consumed: u64,
}

/// The boundary of a `multipart/form-data` content type, if it is one with a valid boundary.
pub fn boundary(content_type: &str) -> Option<&str> {
    let mut params = content_type.split(';');
    let mime = params.next()?.trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let b = params
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"'))?;
    (!b.is_empty() && b.len() <= MAX_BOUNDARY_BYTES && b.bytes().all(|c| (b' '..=b'~').contains(&c))).then_some(b)
}

/// The offset of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(i) = hay.get(from..)?.iter().position(|&b| b == first) {
        let at = from + i;
        if hay.len() - at < needle.len() {
            return None;
        }
        if &hay[at..at + needle.len()] == needle {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn malformed(why: &'static str) -> ProxyError {
    ProxyError::MalformedPostRequest(why)
}

impl FormDecoder {
    /// A decoder for the form delimited by `boundary` (see [`boundary`]).
    pub fn new(boundary: &str) -> FormDecoder {
        FormDecoder {
            delimiter: format!("\r\n--{boundary}").into_bytes(),
            state: State::Preamble,
            parts: 0,
            fields_bytes: 0,
            seen_file: false,
            consumed: 0,
        }
    }

    /// Body bytes consumed so far (those handed back as events or dropped as framing).
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Whether the closing delimiter was seen (what follows it is ignored).
    pub fn is_complete(&self) -> bool {
        self.state == State::Epilogue
    }

    /// The closing delimiter with the CRLF browsers and curl end a form with: what follows the
    /// file when it is the last part.
    pub fn closing_len(&self) -> u64 {
        self.delimiter.len() as u64 + 4
    }

    fn take(&mut self, buf: &mut BytesMut, n: usize) -> BytesMut {
        self.consumed += n as u64;
        buf.split_to(n)
    }

    /// Decodes the next event from `buf`, consuming what it used.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded<Event>, ProxyError> {
        loop {
            match self.state.clone() {
                State::Preamble => {
                    // The first delimiter may open the body without the CRLF before it.
                    let dash = &self.delimiter[2..];
                    let at = if buf.starts_with(dash) {
                        Some((0, dash.len()))
                    } else {
                        find(buf, &self.delimiter).map(|i| (i, self.delimiter.len()))
                    };
                    match at {
                        Some((i, n)) if i <= MAX_PREAMBLE_BYTES => {
                            self.take(buf, i + n);
                            self.state = State::AfterDelimiter;
                        }
                        Some(_) => return Err(malformed("the form does not start with its boundary")),
                        None if buf.len() > MAX_PREAMBLE_BYTES + self.delimiter.len() => {
                            return Err(malformed("the form does not start with its boundary"))
                        }
                        None => return Ok(Decoded::NeedMore),
                    }
                }
                State::AfterDelimiter => {
                    if buf.len() < 2 {
                        return Ok(Decoded::NeedMore);
                    }
                    if buf.starts_with(b"--") {
                        self.take(buf, 2);
                        self.state = State::Epilogue;
                        return Ok(Decoded::Item(Event::End));
                    }
                    let pad = buf.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
                    if pad > MAX_PADDING {
                        return Err(malformed("a boundary line is too long"));
                    }
                    if buf.len() < pad + 2 {
                        return Ok(Decoded::NeedMore);
                    }
                    if &buf[pad..pad + 2] != b"\r\n" {
                        return Err(malformed("a boundary is followed by something other than CRLF"));
                    }
                    self.take(buf, pad + 2);
                    self.parts += 1;
                    if self.parts > MAX_PARTS {
                        return Err(malformed("too many parts in the form"));
                    }
                    self.state = State::Headers;
                }
                State::Headers => {
                    let end = if buf.starts_with(b"\r\n") {
                        Some(0)
                    } else {
                        find(buf, b"\r\n\r\n").map(|i| i + 2)
                    };
                    let Some(end) = end else {
                        if buf.len() > MAX_PART_HEADER_BYTES {
                            return Err(malformed("a part's headers are too long"));
                        }
                        return Ok(Decoded::NeedMore);
                    };
                    if end > MAX_PART_HEADER_BYTES {
                        return Err(malformed("a part's headers are too long"));
                    }
                    let block = self.take(buf, end + 2);
                    let h = PartHeaders::parse(&block[..end])?;
                    let name = h.name.ok_or(malformed("a part has no name"))?;
                    if self.seen_file {
                        self.state = State::Ignored;
                    } else if name.eq_ignore_ascii_case("file") {
                        self.seen_file = true;
                        self.state = State::File;
                        return Ok(Decoded::Item(Event::File {
                            filename: h.filename,
                            content_type: h.content_type,
                        }));
                    } else {
                        self.state = State::Field(name);
                    }
                }
                State::Field(name) => {
                    let Some(i) = find(buf, &self.delimiter) else {
                        if buf.len() > MAX_FIELD_BYTES + self.delimiter.len() {
                            return Err(ProxyError::PostFieldsTooLarge);
                        }
                        return Ok(Decoded::NeedMore);
                    };
                    self.fields_bytes += name.len() + i;
                    if i > MAX_FIELD_BYTES || self.fields_bytes > MAX_FIELDS_BYTES {
                        return Err(ProxyError::PostFieldsTooLarge);
                    }
                    let value = self.take(buf, i);
                    self.take(buf, self.delimiter.len());
                    self.state = State::AfterDelimiter;
                    let value = String::from_utf8(value.to_vec()).map_err(|_| malformed("a field is not UTF-8"))?;
                    return Ok(Decoded::Item(Event::Field { name, value }));
                }
                State::File | State::Ignored => {
                    let file = self.state == State::File;
                    let (data, ended) = match find(buf, &self.delimiter) {
                        Some(i) => (i, true),
                        // Hold back what could be the start of a delimiter split across reads.
                        None => (buf.len().saturating_sub(self.delimiter.len() - 1), false),
                    };
                    if data > 0 {
                        let piece = self.take(buf, data);
                        if file {
                            return Ok(Decoded::Item(Event::Data(piece.freeze())));
                        }
                        continue;
                    }
                    if !ended {
                        return Ok(Decoded::NeedMore);
                    }
                    self.take(buf, self.delimiter.len());
                    self.state = State::AfterDelimiter;
                    if file {
                        return Ok(Decoded::Item(Event::FileEnd));
                    }
                }
                State::Epilogue => {
                    let n = buf.len();
                    self.consumed += n as u64;
                    buf.advance(n);
                    return Ok(Decoded::NeedMore);
                }
            }
        }
    }
}

/// What a part's headers say.
#[derive(Debug, Default, PartialEq, Eq)]
struct PartHeaders {
    name: Option<String>,
    filename: Option<String>,
    content_type: Option<String>,
}

impl PartHeaders {
    /// Reads `Content-Disposition: form-data; name="..."; filename="..."` and `Content-Type`.
    fn parse(block: &[u8]) -> Result<PartHeaders, ProxyError> {
        let block = std::str::from_utf8(block).map_err(|_| malformed("a part's headers are not UTF-8"))?;
        let mut h = PartHeaders::default();
        for line in block.split("\r\n").filter(|l| !l.is_empty()) {
            let (n, v) = line.split_once(':').ok_or(malformed("a part header has no colon"))?;
            let n = n.trim();
            if n.eq_ignore_ascii_case("content-disposition") {
                for (k, val) in disposition_params(v) {
                    if k.eq_ignore_ascii_case("name") {
                        h.name = Some(val);
                    } else if k.eq_ignore_ascii_case("filename") {
                        h.filename = Some(val);
                    }
                }
            } else if n.eq_ignore_ascii_case("content-type") {
                h.content_type = Some(v.trim().to_string());
            }
        }
        Ok(h)
    }
}

/// The parameters of a `Content-Disposition` value (`form-data; name="a;b"; filename=x`), with
/// quoted strings unquoted (`\"` and `\\` escapes, as browsers write them).
fn disposition_params(v: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = v.split_once(';').map_or("", |(_, r)| r);
    while let Some((k, after)) = rest.split_once('=') {
        let k = k.trim().trim_start_matches(';').trim().to_string();
        let after = after.trim_start();
        let (val, next) = if let Some(q) = after.strip_prefix('"') {
            let mut val = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, e)) = chars.next() {
                            val.push(e);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => val.push(c),
                }
            }
            let next = q[end..].split_once(';').map_or("", |(_, r)| r);
            (val, next)
        } else {
            match after.split_once(';') {
                Some((val, next)) => (val.trim().to_string(), next),
                None => (after.trim().to_string(), ""),
            }
        };
        out.push((k, val));
        rest = next;
    }
    out
}

#[cfg(test)]
#[path = "form_tests.rs"]
mod tests;
