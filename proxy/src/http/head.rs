//! The request head: [`decode_head`] turns the bytes at the start of a connection's read buffer
//! into a [`RequestHead`] (method, raw path and query, version, header fields as sent) once the
//! whole head has arrived, and checks the framing rules of RFC 9112 that decide where the body
//! ends, so a request with ambiguous framing is refused before any body byte is read.
//!
//! [`HeadDecoder`] is the incremental front end the connection loop uses: it remembers how far it
//! has looked for the blank line that ends the head, so a client sending one byte at a time costs
//! linear, not quadratic, parsing work.

use http::{Method, Version};

use super::body::BodyKind;
use super::HttpError;

/// Largest request head (request line and all header fields) we buffer: S3 requests need a few
/// KiB at most (user metadata is capped at 2 KiB), and it bounds memory per connection.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Longest request target: S3 keys are at most 1 KiB, even fully percent-encoded with a query.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most header fields in one request: generous for SDKs, bounded for the parser's stack array.
pub const MAX_HEADERS: usize = 128;

/// A parsed request head. The target is kept raw (still percent-encoded) as SigV4 needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The request method.
    pub method: Method,
    /// The path of the target exactly as sent, starting with `/` and still percent-encoded.
    pub path: String,
    /// The query of the target exactly as sent, without the `?` (empty when none).
    pub query: String,
    /// `HTTP_10` or `HTTP_11`.
    pub version: Version,
    /// Header fields in order, names as sent, values without surrounding whitespace.
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The first value of the header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of the header `name` (case-insensitive), in order.
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Content-Length`, if sent. Repeated fields or list members must agree (RFC 9112 §6.3)
    /// and be plain decimal digits fitting a u64.
    pub fn content_length(&self) -> Result<Option<u64>, HttpError> {
        let mut length = None;
        for value in self.header_all("content-length") {
            for member in value.split(',') {
                let n = parse_decimal(member.trim_matches([' ', '\t']))
                    .ok_or(HttpError::BadRequest("invalid Content-Length"))?;
                match length {
                    Some(prev) if prev != n => return Err(HttpError::BadRequest("conflicting Content-Length")),
                    _ => length = Some(n),
                }
            }
        }
        Ok(length)
    }

    /// Whether the body is chunked. Only `chunked` alone is supported: other codings are 501, and
    /// a coding list whose final member is not a single `chunked` is 400 (RFC 9112 §6.1).
    pub fn is_chunked(&self) -> Result<bool, HttpError> {
        let mut chunked = 0usize;
        let mut other = false;
        let mut any = false;
        let mut after_chunked = false;
        for value in self.header_all("transfer-encoding") {
            any = true;
            for member in value.split(',').map(|m| m.trim_matches([' ', '\t'])) {
                if member.is_empty() {
                    continue;
                }
                if chunked > 0 {
                    after_chunked = true;
                }
                if member.eq_ignore_ascii_case("chunked") {
                    chunked += 1;
                } else {
                    other = true;
                }
            }
        }
        if !any {
            return Ok(false);
        }
        if chunked == 0 && !other {
            return Err(HttpError::BadRequest("empty Transfer-Encoding"));
        }
        if chunked > 1 || after_chunked {
            return Err(HttpError::BadRequest(
                "chunked is not the final, single transfer coding",
            ));
        }
        if other {
            return Err(HttpError::UnsupportedTransferCoding("only chunked is supported"));
        }
        Ok(true)
    }

    /// Whether the client waits for `100 Continue` before sending the body (HTTP/1.1 only; an
    /// HTTP/1.0 client cannot ask for it, RFC 9110 §10.1.1).
    pub fn expect_continue(&self) -> bool {
        self.version == Version::HTTP_11
            && self
                .header("expect")
                .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    }

    /// Whether the connection stays open after this exchange: HTTP/1.1 unless `Connection: close`,
    /// HTTP/1.0 only with `Connection: keep-alive` (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        let has = |token: &str| {
            self.header_all("connection")
                .flat_map(|v| v.split(','))
                .any(|t| t.trim_matches([' ', '\t']).eq_ignore_ascii_case(token))
        };
        if has("close") {
            return false;
        }
        self.version == Version::HTTP_11 || has("keep-alive")
    }

    /// Whether the request says how long its body is (`Content-Length` or `Transfer-Encoding`).
    /// S3 refuses an upload that does not with 411 MissingContentLength, where an HTTP server
    /// would take it for an empty body (RFC 9112 §6.3).
    pub fn declares_body_length(&self) -> bool {
        self.header("content-length").is_some() || self.header("transfer-encoding").is_some()
    }

    /// The `Host` header (authority of the request; virtual-host buckets live here).
    pub fn host(&self) -> Option<&str> {
        self.header("host")
    }
}

/// Decimal digits only (no sign, no spaces), fitting a u64.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u64, |acc, b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

fn map_parse_error(e: httparse::Error, window: &[u8]) -> HttpError {
    match e {
        httparse::Error::TooManyHeaders => HttpError::HeadTooLarge("too many header fields"),
        httparse::Error::Version if is_request_line_of_another_version(window) => HttpError::UnsupportedVersion,
        httparse::Error::Version => HttpError::BadRequest("invalid request line"),
        httparse::Error::HeaderName => HttpError::BadRequest("invalid header name (or obs-fold)"),
        httparse::Error::HeaderValue => HttpError::BadRequest("invalid header value"),
        httparse::Error::NewLine => HttpError::BadRequest("invalid line ending"),
        httparse::Error::Token | httparse::Error::Status => HttpError::BadRequest("invalid request line"),
    }
}

/// Whether the request line is exactly `method SP target SP HTTP/d.d` (so a version error is
/// 505). Anything else is a malformed line and 400: a doubled space, or a space inside the target
/// (`GET /a b HTTP/1.1`), which S3 refuses as a bad request too.
fn is_request_line_of_another_version(window: &[u8]) -> bool {
    let start = window.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(0);
    let line = &window[start..];
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(v), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !method.is_empty()
        && !target.is_empty()
        && v.len() == 8
        && v.starts_with(b"HTTP/")
        && v[5].is_ascii_digit()
        && v[6] == b'.'
        && v[7].is_ascii_digit()
}

/// The first byte of a TLS record carrying a handshake (RFC 8446 §5.1): what a client speaking
/// TLS to the plain-HTTP port sends first.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Refuses at once a head whose first byte (after the empty lines RFC 9112 §2.2 lets us skip)
/// cannot start a method token: no later byte can make it a request, and a TLS ClientHello
/// would otherwise wait out the head timeout, since it never contains the blank line we wait for.
fn check_first_byte(window: &[u8]) -> Result<(), HttpError> {
    match window.iter().find(|&&b| b != b'\r' && b != b'\n') {
        Some(&TLS_HANDSHAKE_RECORD) => Err(HttpError::BadRequest("TLS handshake on the plain HTTP port")),
        Some(&b) if !is_tchar(b) => Err(HttpError::BadRequest("invalid request line")),
        _ => Ok(()),
    }
}

/// A token character (RFC 9110 §5.6.2), of which methods are made.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Splits a request target into raw path and query. Origin-form `/p?q` as is; absolute-form
/// `http://host/p?q` by taking its path (RFC 9112 §3.2.2); anything else is refused.
fn split_target(target: &str) -> Result<(&str, &str), HttpError> {
    if target.contains('#') {
        return Err(HttpError::BadRequest("fragment in request target"));
    }
    let path_and_query = if target.starts_with('/') {
        target
    } else {
        let rest = strip_prefix_ignore_case(target, "http://")
            .or_else(|| strip_prefix_ignore_case(target, "https://"))
            .ok_or(HttpError::BadRequest(
                "request target must be origin-form or absolute-form",
            ))?;
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if authority_end == 0 {
            return Err(HttpError::BadRequest("absolute-form target without authority"));
        }
        &rest[authority_end..]
    };
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    Ok((if path.is_empty() { "/" } else { path }, query))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// The head at the start of `buf`, and how many bytes it took; `Ok(None)` while incomplete.
/// Refuses heads over [`MAX_HEAD_BYTES`], targets over [`MAX_URI_BYTES`], more than
/// [`MAX_HEADERS`] fields, malformed syntax, and framing that is ambiguous (see [`BodyKind`]);
/// a first byte that cannot start a method (a TLS handshake, say) is refused before the head ends.
pub fn decode_head(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HttpError> {
    let window = &buf[..buf.len().min(MAX_HEAD_BYTES)];
    check_first_byte(window)?;
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    let consumed = match req.parse(window).map_err(|e| map_parse_error(e, window))? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => {
            if req.path.is_some_and(|p| p.len() > MAX_URI_BYTES) {
                return Err(HttpError::UriTooLong);
            }
            if buf.len() < MAX_HEAD_BYTES {
                return Ok(None);
            }
            let line_start = window.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(0);
            if !window[line_start..].contains(&b'\n') {
                return Err(HttpError::UriTooLong);
            }
            return Err(HttpError::HeadTooLarge("request head too large"));
        }
    };
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(HttpError::BadRequest("incomplete request line"));
    };
    if target.len() > MAX_URI_BYTES {
        return Err(HttpError::UriTooLong);
    }
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| HttpError::BadRequest("invalid method"))?;
    let version = match minor {
        0 => Version::HTTP_10,
        1 => Version::HTTP_11,
        _ => return Err(HttpError::UnsupportedVersion),
    };
    let (path, query) = split_target(target)?;
    let mut headers = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value).map_err(|_| HttpError::BadRequest("header value is not UTF-8"))?;
        headers.push((h.name.to_string(), value.trim_matches([' ', '\t']).to_string()));
    }
    let head = RequestHead {
        method,
        path: path.to_string(),
        query: query.to_string(),
        version,
        headers,
    };
    // RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one in HTTP/1.0.
    match head.header_all("host").count() {
        0 if version == Version::HTTP_11 => return Err(HttpError::BadRequest("missing Host")),
        0 | 1 => {}
        _ => return Err(HttpError::BadRequest("more than one Host")),
    }
    BodyKind::from_head(&head)?;
    Ok(Some((head, consumed)))
}

/// Incremental [`decode_head`] for a read buffer that grows between calls: it only runs the full
/// parser once the blank line ending the head has arrived (or a limit is reached), remembering
/// how far it has looked, so a slow client costs linear work.
#[derive(Debug, Default, Clone)]
pub struct HeadDecoder {
    scanned: usize,
}

impl HeadDecoder {
    /// A decoder for the next head.
    pub fn new() -> HeadDecoder {
        HeadDecoder::default()
    }

    /// Like [`decode_head`]. `buf` must start at the head and only grow between calls; the
    /// decoder resets itself after returning a head or an error (call [`HeadDecoder::reset`] when
    /// the buffer is replaced otherwise).
    pub fn decode(&mut self, buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HttpError> {
        if self.scanned > buf.len() {
            self.scanned = 0;
        }
        let window = &buf[..buf.len().min(MAX_HEAD_BYTES)];
        if let Err(e) = check_first_byte(window) {
            self.scanned = 0;
            return Err(e);
        }
        // Empty lines before the request line are skipped (RFC 9112 §2.2), so they end nothing.
        let Some(line_start) = window.iter().position(|&b| b != b'\r' && b != b'\n') else {
            return self.finish(buf, buf.len() >= MAX_HEAD_BYTES);
        };
        let mut i = self.scanned.max(line_start);
        loop {
            let Some(off) = window[i..].iter().position(|&b| b == b'\n') else {
                i = window.len();
                break;
            };
            let nl = i + off;
            match (window.get(nl + 1), window.get(nl + 2)) {
                (Some(b'\n'), _) | (Some(b'\r'), Some(b'\n')) => {
                    let r = decode_head(buf);
                    if !matches!(r, Ok(None)) {
                        self.scanned = 0;
                        return r;
                    }
                    i = nl + 1;
                }
                // Cannot tell yet: look at this line end again when more bytes arrive.
                (None, _) | (Some(b'\r'), None) => {
                    i = nl;
                    break;
                }
                _ => i = nl + 1,
            }
        }
        self.scanned = i;
        self.finish(buf, buf.len() >= MAX_HEAD_BYTES)
    }

    fn finish(&mut self, buf: &[u8], at_limit: bool) -> Result<Option<(RequestHead, usize)>, HttpError> {
        if !at_limit {
            return Ok(None);
        }
        self.scanned = 0;
        decode_head(buf)
    }

    /// Forgets the scanning progress (the buffer now starts at a new head).
    pub fn reset(&mut self) {
        self.scanned = 0;
    }
}

#[cfg(test)]
#[path = "head_tests.rs"]
mod tests;
