//! HTTP/1.1 for the server side of the proxy port, sans-IO: the request head decoder ([`head`]),
//! the `Transfer-Encoding: chunked` request body decoder ([`body`]) and response heads, reason
//! phrases and HTTP dates ([`response`]), MIME encoded-words in header values ([`rfc2047`]). Nothing here touches a socket or the runtime: the
//! connection loop feeds bytes in and writes the bytes handed back, so every parser is tested with
//! byte fixtures, including the same input split at every offset.
//!
//! Every limit is a named constant next to the code that enforces it. Any [`HttpError`] means the
//! message framing can no longer be trusted: answer with [`HttpError::status`] and close the
//! connection.

pub mod body;
pub mod head;
pub mod query;
pub mod response;
pub mod rfc2047;

pub use body::{BodyKind, ChunkedBody, Decoded};
pub use head::{decode_head, HeadDecoder, RequestHead};
pub use query::{parse_query, percent_decode, Query};
pub use response::{http_date, parse_http_date, reason_phrase, with_keep_alive, ResponseHead, CONTINUE_100};

/// Why a request could not be read; each variant knows the status to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The request line, a header field or the body framing is malformed (400).
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The head does not fit the limits on size or field count (431).
    #[error("request header fields too large: {0}")]
    HeadTooLarge(&'static str),
    /// The request line or target is longer than we parse (414).
    #[error("request target too long")]
    UriTooLong,
    /// A transfer coding other than `chunked` (501).
    #[error("transfer coding not implemented: {0}")]
    UnsupportedTransferCoding(&'static str),
    /// An HTTP version other than 1.0 and 1.1 (505).
    #[error("HTTP version not supported")]
    UnsupportedVersion,
    /// The chunked body framing is malformed, too long or truncated (400).
    #[error("bad chunked body: {0}")]
    BadChunk(&'static str),
}

impl HttpError {
    /// The HTTP status to answer with before closing the connection.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::BadRequest(_) | HttpError::BadChunk(_) => 400,
            HttpError::UriTooLong => 414,
            HttpError::HeadTooLarge(_) => 431,
            HttpError::UnsupportedTransferCoding(_) => 501,
            HttpError::UnsupportedVersion => 505,
        }
    }

    /// A short, static description of what was wrong (for the error body and logs).
    pub fn message(&self) -> &'static str {
        match self {
            HttpError::BadRequest(m)
            | HttpError::HeadTooLarge(m)
            | HttpError::UnsupportedTransferCoding(m)
            | HttpError::BadChunk(m) => m,
            HttpError::UriTooLong => "request target too long",
            HttpError::UnsupportedVersion => "HTTP version not supported",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_messages() {
        let cases = [
            (HttpError::BadRequest("x"), 400, "x"),
            (HttpError::BadChunk("y"), 400, "y"),
            (HttpError::UriTooLong, 414, "request target too long"),
            (HttpError::HeadTooLarge("z"), 431, "z"),
            (HttpError::UnsupportedTransferCoding("gzip"), 501, "gzip"),
            (HttpError::UnsupportedVersion, 505, "HTTP version not supported"),
        ];
        for (e, status, msg) in cases {
            assert_eq!(e.status(), status);
            assert_eq!(e.message(), msg);
            assert!(!e.to_string().is_empty());
        }
    }
}
