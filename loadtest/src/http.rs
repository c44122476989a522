//! The HTTP/1.1 pieces both sides share: sans-IO decoding of request heads (for the backend) and
//! response heads (for the load generator) with httparse into small owned structs, the
//! connection's read buffer, and HTTP dates.

use monoio::buf::IoBufMut;
use monoio::io::AsyncReadRent;
use thiserror::Error;

/// Longest request or response head accepted.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most header lines accepted in one head.
pub const MAX_HEADERS: usize = 64;

/// A head that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeadError {
    /// httparse refused it.
    #[error("malformed HTTP head: {0}")]
    Malformed(String),
    /// Longer than [`MAX_HEAD`].
    #[error("HTTP head longer than {MAX_HEAD} bytes")]
    TooLong,
    /// A `Content-Length` that is not a number.
    #[error("bad Content-Length")]
    BadLength,
}

/// A decoded request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The method, as sent.
    pub method: String,
    /// The path, still percent-encoded, without the query.
    pub path: String,
    /// The raw query string, without `?` (empty when none).
    pub query: String,
    /// `Content-Length`, if sent.
    pub content_length: Option<u64>,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// `content-encoding` includes `aws-chunked`.
    pub aws_chunked: bool,
    /// `x-amz-decoded-content-length`, if sent.
    pub decoded_length: Option<u64>,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
    /// `Connection: close`, or HTTP/1.0 without keep-alive.
    pub close: bool,
    /// The `Range` header, if sent.
    pub range: Option<String>,
}

/// A decoded response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// `Content-Length`, if sent.
    pub content_length: Option<u64>,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// `Connection: close`.
    pub close: bool,
    /// The `ETag`, if sent.
    pub etag: Option<String>,
}

fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&c| c == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

fn number(value: &[u8]) -> Result<u64, HeadError> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or(HeadError::BadLength)
}

/// Decodes a request head from the front of `buf`: `Ok(None)` when more bytes are needed,
/// otherwise the head and its length in bytes.
pub fn decode_request(buf: &[u8]) -> Result<Option<(usize, RequestHead)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(HeadError::TooLong),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HeadError::Malformed(e.to_string())),
    };
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut head = RequestHead {
        method: req.method.unwrap_or("GET").to_string(),
        path: path.to_string(),
        query: query.to_string(),
        content_length: None,
        chunked: false,
        aws_chunked: false,
        decoded_length: None,
        expect_continue: false,
        close: req.version == Some(0),
        range: None,
    };
    for h in req.headers.iter() {
        let (name, v) = (h.name, h.value);
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("content-length") {
            head.content_length = Some(number(v)?);
        } else if is("transfer-encoding") {
            head.chunked = has_token(v, "chunked");
        } else if is("content-encoding") {
            head.aws_chunked = has_token(v, "aws-chunked");
        } else if is("x-amz-decoded-content-length") {
            head.decoded_length = Some(number(v)?);
        } else if is("expect") {
            head.expect_continue = has_token(v, "100-continue");
        } else if is("connection") {
            head.close = has_token(v, "close") || (head.close && !has_token(v, "keep-alive"));
        } else if is("range") {
            head.range = Some(String::from_utf8_lossy(v).into_owned());
        }
    }
    Ok(Some((len, head)))
}

/// Decodes a response head from the front of `buf`: `Ok(None)` when more bytes are needed.
pub fn decode_response(buf: &[u8]) -> Result<Option<(usize, ResponseHead)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(HeadError::TooLong),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HeadError::Malformed(e.to_string())),
    };
    let mut head = ResponseHead {
        status: resp.code.unwrap_or(0),
        content_length: None,
        chunked: false,
        close: resp.version == Some(0),
        etag: None,
    };
    for h in resp.headers.iter() {
        let v = h.value;
        if h.name.eq_ignore_ascii_case("content-length") {
            head.content_length = Some(number(v)?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = has_token(v, "chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            head.close = has_token(v, "close");
        } else if h.name.eq_ignore_ascii_case("etag") {
            head.etag = Some(String::from_utf8_lossy(v).into_owned());
        }
    }
    Ok(Some((len, head)))
}

/// A connection's read buffer: bytes `pos..len` of a fixed-capacity `Vec` are unread. Reads
/// append into the spare capacity (monoio reads fill a buffer from its start, so the spare part
/// is lent as a `SliceMut`).
#[derive(Debug)]
pub struct InBuf {
    buf: Vec<u8>,
    pos: usize,
}

impl InBuf {
    /// A buffer of `capacity` bytes.
    pub fn new(capacity: usize) -> InBuf {
        InBuf {
            buf: Vec::with_capacity(capacity),
            pos: 0,
        }
    }

    /// The unread bytes.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Marks `n` unread bytes as read.
    pub fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Reads more bytes from `io`, at most `limit` (so a body read never takes the next
    /// request's bytes). Returns the count; 0 means the peer closed. Fails with `InvalidData`
    /// if the buffer is full of unread bytes.
    pub async fn fill<S: AsyncReadRent>(&mut self, io: &mut S, limit: usize) -> std::io::Result<usize> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos.., 0);
            self.buf.truncate(self.buf.len() - self.pos);
            self.pos = 0;
        }
        let start = self.buf.len();
        let end = self.buf.capacity().min(start.saturating_add(limit.max(1)));
        if start >= end {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "read buffer full"));
        }
        let buf = std::mem::take(&mut self.buf);
        let (res, slice) = io.read(buf.slice_mut(start..end)).await;
        self.buf = slice.into_inner();
        res
    }

    /// Whether the buffer was lost (a read was cancelled by a timeout while it held the buffer).
    pub fn is_lost(&self) -> bool {
        self.buf.capacity() == 0
    }
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Unix seconds as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(unix: i64) -> String {
    let d = s3o_sigv4::AmzDate::from_unix(unix);
    let s = d.as_str();
    let month = s[4..6].parse::<usize>().unwrap_or(1).clamp(1, 12);
    let weekday = DAYS[unix.div_euclid(86_400).rem_euclid(7) as usize];
    format!(
        "{weekday}, {} {} {} {}:{}:{} GMT",
        &s[6..8],
        MONTHS[month - 1],
        &s[0..4],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    )
}

/// Unix seconds as the ISO 8601 form of S3 listings (`2013-05-24T00:00:00.000Z`).
pub fn iso_date(unix: i64) -> String {
    let d = s3o_sigv4::AmzDate::from_unix(unix);
    let s = d.as_str();
    format!(
        "{}-{}-{}T{}:{}:{}.000Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_heads_at_every_split() {
        let raw = b"PUT /b/k%20x?partNumber=1&uploadId=u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\
            Expect: 100-continue\r\nRange: bytes=0-1\r\ncontent-encoding: aws-chunked\r\n\
            x-amz-decoded-content-length: 3\r\n\r\nhello";
        let head_len = raw.len() - 5;
        for cut in 0..head_len {
            assert_eq!(decode_request(&raw[..cut]), Ok(None), "cut {cut}");
        }
        let (n, h) = decode_request(raw).unwrap().unwrap();
        assert_eq!(n, head_len);
        assert_eq!((h.method.as_str(), h.path.as_str()), ("PUT", "/b/k%20x"));
        assert_eq!(h.query, "partNumber=1&uploadId=u");
        assert_eq!((h.content_length, h.decoded_length), (Some(5), Some(3)));
        assert!(h.expect_continue && h.aws_chunked && !h.chunked && !h.close);
        assert_eq!(h.range.as_deref(), Some("bytes=0-1"));
    }

    #[test]
    fn request_head_errors_and_connection() {
        let (_, h) = decode_request(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(h.close);
        let (_, h) = decode_request(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.close);
        let (_, h) = decode_request(b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.chunked && h.close);
        assert_eq!(
            decode_request(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
            Err(HeadError::BadLength)
        );
        assert!(matches!(
            decode_request(b"GET / HTTP/1.1\r\n\x01\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        let mut long = b"GET / HTTP/1.1\r\nx: ".to_vec();
        long.resize(MAX_HEAD, b'a');
        assert_eq!(decode_request(&long), Err(HeadError::TooLong));
    }

    #[test]
    fn response_heads() {
        let raw = b"HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\nETag: \"abc\"\r\n\r\n";
        for cut in 0..raw.len() {
            assert_eq!(decode_response(&raw[..cut]), Ok(None));
        }
        let (n, h) = decode_response(raw).unwrap().unwrap();
        assert_eq!(n, raw.len());
        assert_eq!(
            (h.status, h.content_length, h.etag.as_deref()),
            (206, Some(10), Some("\"abc\""))
        );
        let (_, h) = decode_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.chunked && h.close && h.content_length.is_none());
    }

    #[test]
    fn dates() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(iso_date(1_369_353_600), "2013-05-24T00:00:00.000Z");
    }
}
