//! One backend connection: read a head, route it, read or drain the body, answer, and loop while
//! the client keeps the connection alive (requests may be pipelined: bytes after a body stay in
//! the read buffer). Signatures are not checked. Big bodies are written from the stored `Bytes`
//! without copying (generated ones from a buffer refilled per write); a small body rides in the
//! same write as the head.

use std::rc::Rc;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use thiserror::Error;

use super::endpoint::{Endpoint, ListParams};
use super::store::{Content, MultipartError, Store};
use super::{xml, Storage};
use crate::chunked::{ChunkDecoder, ChunkError, Step};
use crate::http::{decode_request, InBuf, RequestHead};
use crate::pattern::{fill_segments, Checker, Segment};

/// Read buffer per connection (also the unit in which drained bodies are read).
pub const READ_BUF: usize = 64 * 1024;
/// Bodies up to this size are copied into the head's buffer and sent in one write.
pub const SMALL_BODY: usize = 16 * 1024;
/// Largest object held in memory in `memory` mode (bigger PUTs want `--storage blackhole`).
pub const MAX_MEMORY_OBJECT: u64 = 2 << 30;
/// Largest `CompleteMultipartUpload` body read (10,000 parts take about 1 MiB).
pub const MAX_XML_BODY: usize = 2 << 20;
/// The size of the shared zero buffer that blackhole GETs are written from (and of the buffer
/// generated GETs are written from).
pub const ZERO_CHUNK: usize = 1 << 20;

/// What every connection of a thread shares.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The store.
    pub store: Arc<Store>,
    /// Where bodies go.
    pub storage: Storage,
    /// [`ZERO_CHUNK`] zero bytes.
    pub zeros: Bytes,
}

/// Why a request body could not be read.
#[derive(Debug, Error)]
enum BodyError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("connection closed mid-body")]
    Eof,
    #[error("bad chunked body: {0}")]
    Chunk(#[from] ChunkError),
    #[error("body too large")]
    TooLarge,
    #[error("the body differs from the generated data at byte {0}")]
    NotGenerated(u64),
}

/// What [`read_body`] does with the bytes.
#[derive(Debug, Clone, Copy)]
enum Collect {
    /// Keep them (at most this many).
    Keep(u64),
    /// Drain and count them.
    Drain,
    /// Drain them, checking them against the generator.
    Check,
}

/// A response body.
enum Body {
    Empty,
    Text(String),
    Shared(Bytes),
    Zeros(u64),
    /// Bytes `start..end` of generated segments.
    Generated(Arc<[Segment]>, u64, u64),
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Text(s) => s.len() as u64,
            Body::Shared(b) => b.len() as u64,
            Body::Zeros(n) => *n,
            Body::Generated(_, start, end) => end - start,
        }
    }
}

/// A response: status, extra header lines (each ending CRLF), body, and whether to send the
/// body (not for HEAD).
struct Reply {
    status: u16,
    headers: String,
    body: Body,
    send_body: bool,
}

impl Reply {
    fn new(status: u16, headers: String, body: Body) -> Reply {
        Reply {
            status,
            headers,
            body,
            send_body: true,
        }
    }

    fn empty(status: u16) -> Reply {
        Reply::new(status, String::new(), Body::Empty)
    }

    fn xml(status: u16, doc: String) -> Reply {
        Reply::new(status, "Content-Type: application/xml\r\n".into(), Body::Text(doc))
    }

    fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::xml(status, xml::error(code, message))
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        400 => "Bad Request",
        404 => "Not Found",
        411 => "Length Required",
        413 => "Payload Too Large",
        416 => "Range Not Satisfiable",
        501 => "Not Implemented",
        _ => "Status",
    }
}

/// Serves one connection until the peer closes, asks to close, or sends something unusable.
pub async fn serve<S: AsyncReadRent + AsyncWriteRent>(mut io: S, ctx: Rc<Ctx>) {
    let mut inb = InBuf::new(READ_BUF);
    loop {
        let (n, head) = loop {
            match decode_request(inb.data()) {
                Ok(Some(found)) => break found,
                Ok(None) => match inb.fill(&mut io, usize::MAX).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                },
                Err(e) => {
                    let _ = write_reply(&mut io, &ctx, Reply::error(400, "BadRequest", &e.to_string())).await;
                    return;
                }
            }
        };
        inb.consume(n);
        match handle(&mut io, &mut inb, &ctx, &head).await {
            Ok(reply) => {
                // A refused body (413) was not read, so the connection cannot be reused.
                let fatal = reply.status == 413;
                if write_reply(&mut io, &ctx, reply).await.is_err() || fatal || head.close {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

/// Answers one request whose head was read; the body (if any) is read here.
async fn handle<S: AsyncReadRent + AsyncWriteRent>(
    io: &mut S,
    inb: &mut InBuf,
    ctx: &Ctx,
    head: &RequestHead,
) -> Result<Reply, BodyError> {
    let endpoint = Endpoint::from_request(&head.method, &head.path, &head.query);
    let has_body = head.chunked || head.aws_chunked || head.content_length.unwrap_or(0) > 0;
    if has_body && head.expect_continue {
        let (res, _) = io.write_all(&b"HTTP/1.1 100 Continue\r\n\r\n"[..]).await;
        res?;
    }
    let collect = match ctx.storage {
        Storage::Memory => Collect::Keep(MAX_MEMORY_OBJECT),
        Storage::Blackhole => Collect::Drain,
        Storage::Pattern => Collect::Check,
    };
    let reply = match endpoint {
        Endpoint::PutObject { bucket, key } => match read_body(io, inb, head, collect).await {
            Ok(content) => {
                let tag = ctx.store.put(&bucket, &key, content, None);
                Reply::new(200, format!("ETag: {tag}\r\n"), Body::Empty)
            }
            Err(BodyError::TooLarge) => Reply::error(413, "EntityTooLarge", "use --storage blackhole"),
            Err(e @ BodyError::NotGenerated(_)) => Reply::error(400, "BadDigest", &e.to_string()),
            Err(e) => return Err(e),
        },
        Endpoint::UploadPart {
            bucket,
            key,
            upload_id,
            part,
        } => match read_body(io, inb, head, collect).await {
            Ok(content) => match ctx.store.put_part(&bucket, &key, &upload_id, part, content) {
                Ok(tag) => Reply::new(200, format!("ETag: {tag}\r\n"), Body::Empty),
                Err(_) => Reply::error(404, "NoSuchUpload", "no such upload"),
            },
            Err(BodyError::TooLarge) => Reply::error(413, "EntityTooLarge", "use --storage blackhole"),
            Err(e @ BodyError::NotGenerated(_)) => Reply::error(400, "BadDigest", &e.to_string()),
            Err(e) => return Err(e),
        },
        Endpoint::CompleteMultipartUpload { bucket, key, upload_id } => {
            let listed = match read_body(io, inb, head, Collect::Keep(MAX_XML_BODY as u64)).await {
                Ok(Content::Stored(b)) => xml::part_numbers(&b),
                Ok(_) => Vec::new(),
                Err(BodyError::TooLarge) => return Ok(Reply::error(413, "EntityTooLarge", "body too large")),
                Err(e) => return Err(e),
            };
            match ctx.store.complete(&bucket, &key, &upload_id, &listed) {
                Ok(tag) => Reply::xml(200, xml::complete(&bucket, &key, &tag)),
                Err(MultipartError::NoSuchUpload) => Reply::error(404, "NoSuchUpload", "no such upload"),
                Err(MultipartError::InvalidPart) => Reply::error(400, "InvalidPart", "a listed part is missing"),
            }
        }
        other => {
            if has_body {
                read_body(io, inb, head, Collect::Drain).await?;
            }
            answer(ctx, other, head)
        }
    };
    Ok(reply)
}

/// Answers the operations that carry no body worth keeping.
fn answer(ctx: &Ctx, endpoint: Endpoint, head: &RequestHead) -> Reply {
    let store = &ctx.store;
    match endpoint {
        Endpoint::GetObject { bucket, key } | Endpoint::HeadObject { bucket, key } => {
            let Some(obj) = store.get(&bucket, &key) else {
                let mut r = Reply::error(404, "NoSuchKey", "no such key");
                r.send_body = head.method != "HEAD";
                return r;
            };
            let total = obj.content.len();
            let mut headers = format!(
                "ETag: {}\r\nLast-Modified: {}\r\nContent-Type: application/octet-stream\r\nAccept-Ranges: bytes\r\n",
                obj.etag, obj.last_modified
            );
            let (status, start, end) = match head.range.as_deref().map(|r| parse_range(r, total)) {
                None | Some(RangeSpec::Ignored) => (200, 0, total),
                Some(RangeSpec::Unsatisfiable) => {
                    let mut r = Reply::error(416, "InvalidRange", "the range is not satisfiable");
                    r.headers = format!("Content-Range: bytes */{total}\r\n");
                    return r;
                }
                Some(RangeSpec::Bytes(s, e)) => {
                    headers.push_str(&format!("Content-Range: bytes {s}-{}/{total}\r\n", e - 1));
                    (206, s, e)
                }
            };
            let body = match obj.content {
                Content::Stored(b) if start == 0 && end == total => Body::Shared(b),
                Content::Stored(b) => Body::Shared(b.slice(start as usize..end as usize)),
                Content::Zeros(_) => Body::Zeros(end - start),
                Content::Generated(segs) => Body::Generated(segs, start, end),
            };
            let mut r = Reply::new(status, headers, body);
            r.send_body = head.method != "HEAD";
            r
        }
        Endpoint::DeleteObject { bucket, key } => {
            store.delete(&bucket, &key);
            Reply::empty(204)
        }
        Endpoint::CreateMultipartUpload { bucket, key } => {
            let id = store.create_upload(&bucket, &key);
            Reply::xml(200, xml::initiate(&bucket, &key, &id))
        }
        Endpoint::AbortMultipartUpload { upload_id, .. } => match store.abort(&upload_id) {
            Ok(()) => Reply::empty(204),
            Err(_) => Reply::error(404, "NoSuchUpload", "no such upload"),
        },
        Endpoint::CreateBucket { bucket } => {
            store.create_bucket(&bucket);
            Reply::new(200, format!("Location: /{bucket}\r\n"), Body::Empty)
        }
        Endpoint::HeadBucket { .. } => Reply::empty(200),
        Endpoint::DeleteBucket { bucket } => {
            store.delete_bucket(&bucket);
            Reply::empty(204)
        }
        Endpoint::ListBuckets => Reply::xml(200, xml::buckets(&store.buckets())),
        Endpoint::ListObjects {
            bucket,
            params: ListParams {
                prefix,
                after,
                max_keys,
            },
        } => {
            let (page, more) = store.list(&bucket, &prefix, &after, max_keys);
            Reply::xml(200, xml::list_v2(&bucket, &prefix, max_keys, &page, more))
        }
        Endpoint::PutObject { .. } | Endpoint::UploadPart { .. } | Endpoint::CompleteMultipartUpload { .. } => {
            Reply::error(500, "InternalError", "routed twice")
        }
        Endpoint::Unsupported => Reply::error(501, "NotImplemented", "not supported by the loadtest backend"),
    }
}

/// A parsed `Range` header against an object of a known size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// Bytes `start..end` (end exclusive).
    Bytes(u64, u64),
    /// A well-formed range that lies wholly past the end.
    Unsatisfiable,
    /// Not a single byte range: the whole object is sent, as S3 does.
    Ignored,
}

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against `total` bytes.
pub fn parse_range(value: &str, total: u64) -> RangeSpec {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignored;
    };
    if spec.contains(',') {
        return RangeSpec::Ignored;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeSpec::Ignored;
    };
    let (a, b) = (a.trim(), b.trim());
    let parsed = match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(s), Ok(e)) if s <= e => Some((s, e.saturating_add(1).min(total))),
        (Ok(s), Err(_)) if b.is_empty() => Some((s, total)),
        (Err(_), Ok(n)) if a.is_empty() && n > 0 => Some((total.saturating_sub(n), total)),
        (Err(_), Ok(_)) if a.is_empty() => return RangeSpec::Unsatisfiable,
        _ => None,
    };
    match parsed {
        None => RangeSpec::Ignored,
        Some((s, _)) if s >= total => RangeSpec::Unsatisfiable,
        Some((s, e)) => RangeSpec::Bytes(s, e),
    }
}

/// Reads a request body: kept (up to a limit), drained, or drained and checked against the
/// generator (see [`Collect`]).
async fn read_body<S: AsyncReadRent>(
    io: &mut S,
    inb: &mut InBuf,
    head: &RequestHead,
    collect: Collect,
) -> Result<Content, BodyError> {
    if head.chunked || head.aws_chunked {
        return read_chunked(io, inb, head, collect).await;
    }
    let n = head.content_length.unwrap_or(0);
    let buffered = inb.data().len().min(usize::try_from(n).unwrap_or(usize::MAX));
    match collect {
        Collect::Keep(limit) => {
            if n > limit {
                return Err(BodyError::TooLarge);
            }
            let n = n as usize;
            let mut body = BytesMut::with_capacity(n);
            body.extend_from_slice(&inb.data()[..buffered]);
            inb.consume(buffered);
            while body.len() < n {
                let len = body.len();
                let (res, slice) = io.read(body.slice_mut(len..n)).await;
                body = slice.into_inner();
                if res? == 0 {
                    return Err(BodyError::Eof);
                }
            }
            Ok(Content::Stored(body.freeze()))
        }
        Collect::Drain | Collect::Check => {
            let mut checker = matches!(collect, Collect::Check).then(Checker::new);
            if let Some(c) = &mut checker {
                c.update(&inb.data()[..buffered]);
            }
            inb.consume(buffered);
            let mut left = n - buffered as u64;
            while left > 0 {
                let got = inb.fill(io, usize::try_from(left).unwrap_or(usize::MAX)).await?;
                if got == 0 {
                    return Err(BodyError::Eof);
                }
                if let Some(c) = &mut checker {
                    c.update(&inb.data()[..got]);
                }
                inb.consume(got);
                left -= got as u64;
            }
            finish(checker, n)
        }
    }
}

/// The content of a drained body: its size, or its checked segment.
fn finish(checker: Option<Checker>, len: u64) -> Result<Content, BodyError> {
    match checker {
        None => Ok(Content::Zeros(len)),
        Some(c) => match c.finish() {
            Ok(seg) => Ok(Content::Generated(vec![seg].into())),
            Err(at) => Err(BodyError::NotGenerated(at)),
        },
    }
}

/// Reads an HTTP-chunked or aws-chunked body (see [`crate::chunked`]).
async fn read_chunked<S: AsyncReadRent>(
    io: &mut S,
    inb: &mut InBuf,
    head: &RequestHead,
    collect: Collect,
) -> Result<Content, BodyError> {
    let limit = match collect {
        Collect::Keep(limit) => Some(limit),
        Collect::Drain | Collect::Check => None,
    };
    let hint = head
        .decoded_length
        .unwrap_or(0)
        .min(limit.unwrap_or(0))
        .min(MAX_MEMORY_OBJECT);
    let mut body = limit.map(|_| BytesMut::with_capacity(usize::try_from(hint).unwrap_or(0)));
    let mut checker = matches!(collect, Collect::Check).then(Checker::new);
    let mut total = 0u64;
    let mut dec = ChunkDecoder::new();
    loop {
        let (n, step) = dec.decode(inb.data())?;
        match step {
            Step::Data(k) => {
                total += k as u64;
                if let Some(b) = &mut body {
                    if total > limit.unwrap_or(0) {
                        return Err(BodyError::TooLarge);
                    }
                    b.extend_from_slice(&inb.data()[..k]);
                }
                if let Some(c) = &mut checker {
                    c.update(&inb.data()[..k]);
                }
                inb.consume(k);
            }
            Step::Skip => inb.consume(n),
            Step::Done => {
                inb.consume(n);
                break;
            }
            Step::NeedMore => {
                if inb.fill(io, usize::MAX).await? == 0 {
                    return Err(BodyError::Eof);
                }
            }
        }
    }
    match body {
        Some(b) => Ok(Content::Stored(b.freeze())),
        None => finish(checker, total),
    }
}

/// Writes a reply: the head with a small body in one write, a big body straight from its
/// shared bytes.
async fn write_reply<S: AsyncWriteRent>(io: &mut S, ctx: &Ctx, reply: Reply) -> std::io::Result<()> {
    let len = reply.body.len();
    let mut out = Vec::with_capacity(256 + reply.headers.len() + SMALL_BODY);
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} {}\r\nServer: s3o-loadtest\r\nContent-Length: {len}\r\n",
            reply.status,
            reason(reply.status)
        )
        .as_bytes(),
    );
    out.extend_from_slice(reply.headers.as_bytes());
    out.extend_from_slice(b"\r\n");
    let body = if reply.send_body { reply.body } else { Body::Empty };
    let small = len <= SMALL_BODY as u64;
    match &body {
        Body::Text(s) if small => out.extend_from_slice(s.as_bytes()),
        Body::Shared(b) if small => out.extend_from_slice(b),
        Body::Zeros(n) if small => out.resize(out.len() + *n as usize, 0),
        Body::Generated(segs, start, end) if small => {
            let at = out.len();
            out.resize(at + (end - start) as usize, 0);
            fill_segments(segs, *start, &mut out[at..]);
        }
        _ => {}
    }
    let (res, _) = io.write_all(out).await;
    res?;
    if small {
        return Ok(());
    }
    match body {
        Body::Empty => {}
        Body::Text(s) => {
            let (res, _) = io.write_all(s.into_bytes()).await;
            res?;
        }
        Body::Shared(b) => {
            let (res, _) = io.write_all(b).await;
            res?;
        }
        Body::Zeros(mut left) => {
            while left > 0 {
                let n = left.min(ZERO_CHUNK as u64) as usize;
                let (res, _) = io.write_all(ctx.zeros.slice(..n)).await;
                res?;
                left -= n as u64;
            }
        }
        Body::Generated(segs, start, end) => {
            let mut buf = Vec::with_capacity(ZERO_CHUNK);
            let mut at = start;
            while at < end {
                let n = (end - at).min(ZERO_CHUNK as u64) as usize;
                buf.resize(n, 0);
                fill_segments(&segs, at, &mut buf);
                let (res, back) = io.write_all(buf).await;
                res?;
                buf = back;
                at += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeSpec::Bytes(0, 10));
        assert_eq!(parse_range("bytes=90-200", 100), RangeSpec::Bytes(90, 100));
        assert_eq!(parse_range("bytes=10-", 100), RangeSpec::Bytes(10, 100));
        assert_eq!(parse_range("bytes=-10", 100), RangeSpec::Bytes(90, 100));
        assert_eq!(parse_range("bytes=-1000", 100), RangeSpec::Bytes(0, 100));
        assert_eq!(parse_range("bytes=100-", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), RangeSpec::Ignored);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeSpec::Ignored);
        assert_eq!(parse_range("items=0-1", 100), RangeSpec::Ignored);
    }
}
