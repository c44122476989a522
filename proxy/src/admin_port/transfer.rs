//! The two streamed UI routes. `GET {ui}/api/download` streams an object from its backend to
//! the browser; `POST {ui}/api/upload` streams the `file` part of a `multipart/form-data` body
//! into a new object exactly as a PutObject does (placement and quota reservation first, a fresh
//! physical key, one durable commit, orphans queued on failure), never buffering it whole.
//!
//! A form's file length must be known before its first byte reaches a backend: the `key` field
//! comes first and the `file` part last, so the file is everything between its part headers
//! and the closing delimiter `CRLF--boundary--CRLF` that ends the body (what curl and browsers
//! send). The delimiter is checked after the bytes were stored; if it is not there the object is
//! never committed.

use bytes::Bytes;
use md5::{Digest, Md5};
use s3o_admin::stream::{download_headers, download_key, multipart_boundary, upload_ok, upload_too_large};
use s3o_admin::{ObjectKey, Request, Response, Route, MAX_UPLOAD_BODY};
use s3o_store::{physical_key_for, ObjectMeta, WriteCondition};

use super::conn::{Conn, IO_TIMEOUT};
use super::stream::IoFailure;
use super::AdminService;
use crate::backend::{BodySource, PhysicalMeta, BODY_BUF};
use crate::error::ProxyError;
use crate::http::{BodyKind, RequestHead, ResponseHead};
use crate::s3::object::{commit_version, queue_orphan, Placed};

/// Room for the form around the file (the key field, part headers, delimiters).
const MAX_FORM_OVERHEAD: u64 = 1 << 20;
/// Longest part header block.
const MAX_PART_HEAD: usize = 16 * 1024;
/// Longest value of a plain form field.
const MAX_FIELD: usize = 64 * 1024;

/// Serves an upload or download; `Ok(true)` when the connection may carry another request.
pub(super) async fn serve(
    svc: &AdminService,
    conn: &mut Conn,
    head: &RequestHead,
    req: &Request,
    route: Route,
    kind: BodyKind,
    keep: bool,
) -> Result<bool, IoFailure> {
    if let Err(resp) = svc.auth.authenticate(req, route) {
        let reusable = keep && kind == BodyKind::Empty;
        conn.respond(&resp, reusable, false).await?;
        return Ok(reusable);
    }
    match route {
        Route::UiDownload => download(svc, conn, req, keep && kind == BodyKind::Empty).await,
        _ => {
            let outcome = upload(svc, conn, head, kind).await;
            let (resp, reusable) = match outcome {
                Ok(Ok(etag)) => (upload_ok(&etag), keep),
                Ok(Err(resp)) => (resp, false),
                Err(IoFailure::TimedOut) => (Response::error(408, "upload body timed out"), false),
                Err(e) => return Err(e),
            };
            conn.respond(&resp, reusable, false).await?;
            Ok(reusable)
        }
    }
}

/// `GET {ui}/api/download?key=bucket/key`.
async fn download(svc: &AdminService, conn: &mut Conn, req: &Request, keep: bool) -> Result<bool, IoFailure> {
    let key = match download_key(req) {
        Ok(k) => k,
        Err(resp) => {
            conn.respond(&resp, keep, false).await?;
            return Ok(keep);
        }
    };
    let opened = open_object(svc, &key).await;
    let (meta, mut body) = match opened {
        Ok(Some(o)) => o,
        Ok(None) => {
            conn.respond(&Response::error(404, "object not found"), keep, false)
                .await?;
            return Ok(keep);
        }
        Err(e) => {
            let resp = Response::error(500, &format!("failed to read object: {e}"));
            conn.respond(&resp, keep, false).await?;
            return Ok(keep);
        }
    };
    let content_type = meta.content_type.as_deref().unwrap_or("");
    let mut head = ResponseHead::new(200);
    for (n, v) in download_headers(&key, meta.size, content_type) {
        head.push(n, v);
    }
    head.push("etag", &meta.etag);
    head.push("connection", if keep { "keep-alive" } else { "close" });
    let mut out = Vec::with_capacity(1024);
    head.write_to(&mut out);
    conn.stream.write_all(out, IO_TIMEOUT).await?;
    let mut buf = Vec::with_capacity(BODY_BUF.min(usize::try_from(meta.size).unwrap_or(BODY_BUF)).max(1));
    while body.remaining() > 0 {
        let (r, filled) = body.read(buf).await;
        if let Err(e) = r {
            // Headers went out: cutting the connection is the only honest signal left.
            tracing::warn!(component = "admin", bucket = %key.bucket, key = %key.key, error = %e, "download cut short");
            return Ok(false);
        }
        if filled.is_empty() {
            return Ok(false);
        }
        buf = conn.stream.write_all(filled, IO_TIMEOUT).await?;
    }
    Ok(keep)
}

/// The current version of `key` and a stream of its bytes; `None` when it does not exist.
async fn open_object(
    svc: &AdminService,
    key: &ObjectKey,
) -> Result<Option<(ObjectMeta, crate::seal::reader::ObjectReader)>, ProxyError> {
    let core = svc.control.core();
    let Some(meta) = core.shared.store.get_object(&key.bucket, &key.key).await? else {
        return Ok(None);
    };
    let stream = crate::s3::read::open_copy(core, &core.snapshot(), (&key.bucket, &key.key), &meta, None).await?;
    Ok(Some((meta, stream)))
}

/// `POST {ui}/api/upload`: the new object's ETag, or the error response (after which the
/// connection closes: the rest of the body may be unread).
async fn upload(
    svc: &AdminService,
    conn: &mut Conn,
    head: &RequestHead,
    kind: BodyKind,
) -> Result<Result<String, Response>, IoFailure> {
    let total = match kind {
        BodyKind::Length(n) => n,
        BodyKind::Chunked => return Ok(Err(Response::error(411, "Content-Length required"))),
        BodyKind::Empty => return Ok(Err(Response::error(400, "multipart form body required"))),
    };
    if total > MAX_UPLOAD_BODY + MAX_FORM_OVERHEAD {
        return Ok(Err(upload_too_large()));
    }
    let (file, file_len, closing) = match read_to_file(conn, head, total).await? {
        Ok(f) => f,
        Err(FormProblem::NotAForm) => {
            return Ok(Err(Response::error(
                400,
                "Content-Type must be multipart/form-data with a boundary",
            )))
        }
        Err(FormProblem::NoFile(resp)) => return Ok(Err(resp)),
        Err(FormProblem::Malformed) => return Ok(Err(Response::error(400, "malformed multipart body"))),
    };
    if file_len > MAX_UPLOAD_BODY {
        return Ok(Err(upload_too_large()));
    }
    let key = match file.key.as_deref().map(ObjectKey::parse) {
        Some(Ok(k)) => k,
        Some(Err(e)) => return Ok(Err(Response::from_error(&e))),
        None => return Ok(Err(Response::error(400, "the key field must come before the file"))),
    };
    let core = svc.control.core();
    match core.shared.store.bucket(&key.bucket).await {
        Ok(Some(_)) => {}
        Ok(None) => return Ok(Err(Response::error(400, &format!("unknown bucket {:?}", key.bucket)))),
        Err(e) => return Ok(Err(Response::error(500, &e.to_string()))),
    }
    let target = (key.bucket.as_str(), key.key.as_str());
    let stored = store_file(
        svc,
        conn,
        target,
        file_len,
        file.content_type,
        &closing,
        &WriteCondition::None,
    )
    .await
    .map(|meta| meta.etag);
    Ok(stored.map_err(|e| match e {
        ProxyError::InsufficientStorage => Response::error(507, "no backend has room for the upload"),
        ProxyError::InvalidRequest(why) => Response::error(400, &why),
        other => Response::error(500, &format!("upload failed: {other}")),
    }))
}

/// Why a body is no upload form.
pub(super) enum FormProblem {
    /// No `multipart/form-data` boundary.
    NotAForm,
    /// No file part (the reader's answer).
    NoFile(Response),
    /// The lengths do not add up.
    Malformed,
}

/// Reads a `multipart/form-data` body of `total` bytes up to its file part: the fields before
/// it, the file's length (what is left but the closing delimiter) and that delimiter.
pub(super) async fn read_to_file(
    conn: &mut Conn,
    head: &RequestHead,
    total: u64,
) -> Result<Result<(FilePart, u64, Vec<u8>), FormProblem>, IoFailure> {
    let Some(boundary) = head.header("content-type").and_then(multipart_boundary) else {
        return Ok(Err(FormProblem::NotAForm));
    };
    let mut form = FormReader {
        conn,
        delimiter: format!("--{boundary}").into_bytes(),
        consumed: 0,
        total,
    };
    let file = match form.until_file().await? {
        Ok(f) => f,
        Err(resp) => return Ok(Err(FormProblem::NoFile(resp))),
    };
    let closing = format!("\r\n--{boundary}--\r\n").into_bytes();
    match total
        .checked_sub(form.consumed)
        .and_then(|n| n.checked_sub(closing.len() as u64))
    {
        Some(len) => Ok(Ok((file, len, closing))),
        None => Ok(Err(FormProblem::Malformed)),
    }
}

/// Stores `len` bytes of the connection as `bucket`/`key` and commits them (if `condition`
/// holds) once the closing delimiter checked out; returns the version committed.
pub(super) async fn store_file(
    svc: &AdminService,
    conn: &mut Conn,
    (bucket, key): (&str, &str),
    len: u64,
    content_type: Option<String>,
    closing: &[u8],
    condition: &WriteCondition,
) -> Result<ObjectMeta, ProxyError> {
    let key = &ObjectKey {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
    };
    let core = svc.control.core();
    let snap = core.snapshot();
    let seal = crate::seal::write::seal_for(core, &snap, &key.bucket)?;
    let stored_len = seal.as_ref().map_or(len, |w| w.stored_len(len));
    let (target, factor) = crate::s3::placement::choose_one(core, &snap, &key.bucket, stored_len).await?;
    let (backend, reservation) = (target.backend, target.reservation);
    let store = &core.shared.store;
    let version = store.next_version().await?;
    let physical = physical_key_for(&key.bucket, &key.key, version);
    let pmeta = PhysicalMeta {
        bucket: key.bucket.clone(),
        key: key.key.clone(),
        version,
        content_type: content_type.clone(),
        integrity: Vec::new(),
        sealed: seal.is_some(),
    };
    let mut src = FileSource::form_file(conn, len, closing);
    let id = crate::seal::Identity {
        bucket: &key.bucket,
        key: &key.key,
        version,
    };
    let hash = core.shared.cfg.integrity.hash;
    let mut out = crate::seal::source::StoredSource::new(&mut src, seal.as_ref(), id, len, hash);
    let put = backend.put(&physical, stored_len, &pmeta, &mut out).await;
    let facts = crate::seal::write::body_facts(seal.as_ref(), stored_len, out.hash_hex());
    drop(target.permit);
    let etag = format!("\"{}\"", src.md5_hex());
    if let Err(e) = put {
        drop(reservation);
        queue_orphan(core, backend.name(), &physical).await;
        return Err(e);
    }
    let retention = match core.shared.store.bucket(&key.bucket).await {
        Ok(Some(b)) => crate::s3::lock::default_retention(&b),
        _ => None,
    };
    let mut meta = ObjectMeta {
        retention,
        size: len,
        etag: etag.clone(),
        content_type,
        copies_wanted: u32::try_from(factor).unwrap_or(u32::MAX),
        ..ObjectMeta::default()
    };
    facts.apply(&mut meta);
    let backends = [backend.name().to_string()];
    let placed = Placed {
        backends: &backends,
        physical: &physical,
        version,
    };
    commit_version(
        core,
        &key.bucket,
        &key.key,
        &mut meta,
        condition,
        vec![reservation],
        &placed,
    )
    .await?;
    Ok(meta)
}

/// Reads the form's closing delimiter: `Err` when the body holds something else.
pub(super) async fn read_tail(conn: &mut Conn, closing: &[u8]) -> Result<(), ProxyError> {
    if read_exact(conn, closing.len()).await? == closing {
        Ok(())
    } else {
        Err(ProxyError::InvalidRequest(
            "malformed multipart body: the file must be the last part".into(),
        ))
    }
}

/// Reads exactly `n` more bytes of the body.
async fn read_exact(conn: &mut Conn, n: usize) -> Result<Vec<u8>, ProxyError> {
    while conn.buf.len() < n {
        match conn.fill(IO_TIMEOUT).await {
            Ok(0) => {
                return Err(ProxyError::InvalidRequest(
                    "body shorter than its Content-Length".into(),
                ))
            }
            Ok(_) => {}
            Err(_) => return Err(ProxyError::RequestTimeout),
        }
    }
    let rest = conn.buf.split_off(n);
    Ok(std::mem::replace(&mut conn.buf, rest))
}

/// The fields that precede the file part, and the part's own head.
pub(super) struct FilePart {
    /// The `key` field.
    pub key: Option<String>,
    /// The file part's `Content-Type`.
    pub content_type: Option<String>,
    /// The file part's `filename`.
    pub filename: Option<String>,
    /// Every other field before the file, by name.
    pub fields: Vec<(String, String)>,
}

/// Reads a `multipart/form-data` body up to the start of its `file` part.
pub(super) struct FormReader<'c> {
    /// The connection.
    pub conn: &'c mut Conn,
    /// `--boundary`.
    pub delimiter: Vec<u8>,
    /// Body bytes consumed so far.
    pub consumed: u64,
    /// The body's length.
    pub total: u64,
}

impl FormReader<'_> {
    /// Drops `n` bytes of the buffer as consumed.
    fn consume(&mut self, n: usize) {
        self.conn.buf.drain(..n);
        self.consumed += n as u64;
    }

    /// Waits until `needle` is in the buffer (searching at most `limit` bytes); its offset.
    async fn find(&mut self, needle: &[u8], limit: usize) -> Result<Result<usize, Response>, IoFailure> {
        loop {
            if let Some(i) = self.conn.buf.windows(needle.len()).position(|w| w == needle) {
                return Ok(Ok(i));
            }
            if self.conn.buf.len() > limit || self.consumed + self.conn.buf.len() as u64 >= self.total {
                return Ok(Err(Response::error(400, "malformed multipart body: no file part")));
            }
            if self.conn.fill(IO_TIMEOUT).await? == 0 {
                return Ok(Err(Response::error(400, "truncated multipart body")));
            }
        }
    }

    /// Consumes the form up to the first byte of the `file` part, collecting the `key` field.
    pub async fn until_file(&mut self) -> Result<Result<FilePart, Response>, IoFailure> {
        let delimiter = self.delimiter.clone();
        let mut key = None;
        let mut fields = Vec::new();
        // The preamble, then each part: delimiter CRLF headers CRLF CRLF value.
        let at = match self.find(&delimiter, MAX_FIELD).await? {
            Ok(i) => i,
            Err(r) => return Ok(Err(r)),
        };
        self.consume(at + delimiter.len());
        loop {
            // `--` right after a delimiter closes the form: it had no file part.
            if self.conn.buf.starts_with(b"--") {
                return Ok(Err(Response::error(400, "the form has no file part")));
            }
            let end = match self.find(b"\r\n\r\n", MAX_PART_HEAD).await? {
                Ok(i) => i,
                Err(r) => return Ok(Err(r)),
            };
            let headers = String::from_utf8_lossy(&self.conn.buf[..end]).into_owned();
            self.consume(end + 4);
            let (name, content_type, filename) = part_headers(&headers);
            match name.as_deref() {
                Some("file") => {
                    return Ok(Ok(FilePart {
                        key,
                        content_type,
                        filename,
                        fields,
                    }))
                }
                None => return Ok(Err(Response::error(400, "a form part has no name"))),
                Some(field) => {
                    let mut end_marker = b"\r\n".to_vec();
                    end_marker.extend_from_slice(&delimiter);
                    let end = match self.find(&end_marker, MAX_FIELD).await? {
                        Ok(i) => i,
                        Err(r) => return Ok(Err(r)),
                    };
                    let value = String::from_utf8_lossy(&self.conn.buf[..end]).into_owned();
                    if field == "key" {
                        key = Some(value);
                    } else if fields.len() < 16 {
                        fields.push((field.to_owned(), value));
                    }
                    self.consume(end + end_marker.len());
                }
            }
        }
    }
}

/// The `name` and `filename` of a part's `Content-Disposition: form-data` and its
/// `Content-Type`.
fn part_headers(block: &str) -> (Option<String>, Option<String>, Option<String>) {
    let mut name = None;
    let mut content_type = None;
    let mut filename = None;
    for line in block.split("\r\n") {
        let Some((n, v)) = line.split_once(':') else { continue };
        if n.trim().eq_ignore_ascii_case("content-disposition") {
            let param = |want: &str| {
                v.split(';')
                    .skip(1)
                    .filter_map(|p| p.trim().split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case(want))
                    .map(|(_, v)| v.trim().trim_matches('"').to_owned())
            };
            name = param("name");
            filename = param("filename");
        } else if n.trim().eq_ignore_ascii_case("content-type") {
            content_type = Some(v.trim().to_owned());
        }
    }
    (name, content_type, filename)
}

/// A request's next `remaining` bytes as a [`BodySource`], hashed on the way; a form's file
/// part is also checked not to contain the form's delimiter.
pub(super) struct FileSource<'c> {
    conn: &'c mut Conn,
    remaining: u64,
    md5: Md5,
    scan: Option<DelimiterScan>,
    /// The form's closing delimiter, checked before the end of the file is announced: a
    /// backend never receives all of a file whose form turns out malformed.
    closing: Option<Vec<u8>>,
}

impl<'c> FileSource<'c> {
    /// The next `len` bytes of `conn`, as they are (a raw body).
    pub fn raw(conn: &'c mut Conn, len: u64) -> Self {
        FileSource {
            conn,
            remaining: len,
            md5: Md5::new(),
            scan: None,
            closing: None,
        }
    }

    /// The `len` bytes of a form's file part, the last part: `closing` must follow them.
    pub fn form_file(conn: &'c mut Conn, len: u64, closing: &[u8]) -> Self {
        FileSource {
            conn,
            remaining: len,
            md5: Md5::new(),
            scan: Some(DelimiterScan::new(&closing[..closing.len().saturating_sub(4)])),
            closing: Some(closing.to_vec()),
        }
    }

    /// The MD5 of the bytes read so far.
    pub fn md5_hex(self) -> String {
        s3o_sigv4::encode::hex(&self.md5.finalize())
    }
}

/// Looks for a form delimiter (`CRLF--boundary`) across a stream of pieces: no part's content
/// may hold it, so finding it in the file means another part follows the file, which would
/// otherwise end up inside the object.
struct DelimiterScan {
    delimiter: Vec<u8>,
    /// The last bytes seen, shorter than the delimiter: one split between pieces is found too.
    carry: Vec<u8>,
}

impl DelimiterScan {
    fn new(delimiter: &[u8]) -> DelimiterScan {
        DelimiterScan {
            delimiter: delimiter.to_vec(),
            carry: Vec::new(),
        }
    }

    /// Whether the delimiter ends within `piece` (the bytes after those seen before).
    fn found_in(&mut self, piece: &[u8]) -> bool {
        let keep = self.delimiter.len() - 1;
        self.carry.extend_from_slice(&piece[..piece.len().min(keep)]);
        if contains(&self.carry, &self.delimiter) || contains(piece, &self.delimiter) {
            return true;
        }
        if piece.len() >= keep {
            self.carry.clear();
            self.carry.extend_from_slice(&piece[piece.len() - keep..]);
        } else {
            let excess = self.carry.len().saturating_sub(keep);
            self.carry.drain(..excess);
        }
        false
    }
}

/// Whether `hay` contains `needle` (which starts with `\r`, rare in most files).
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let mut from = 0;
    while let Some(i) = hay[from..].iter().position(|&b| b == needle[0]) {
        let at = from + i;
        if hay.len() - at < needle.len() {
            return false;
        }
        if &hay[at..at + needle.len()] == needle {
            return true;
        }
        from = at + 1;
    }
    false
}

impl BodySource for FileSource<'_> {
    async fn next_piece(&mut self) -> Result<Option<Bytes>, ProxyError> {
        if self.remaining == 0 {
            if let Some(closing) = self.closing.take() {
                read_tail(self.conn, &closing).await?;
            }
            return Ok(None);
        }
        if self.conn.buf.is_empty() {
            match self.conn.fill(IO_TIMEOUT).await {
                Ok(0) => {
                    return Err(ProxyError::InvalidRequest(
                        "body shorter than its Content-Length".into(),
                    ))
                }
                Ok(_) => {}
                Err(_) => return Err(ProxyError::RequestTimeout),
            }
        }
        let take = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(self.conn.buf.len());
        let piece = if take == self.conn.buf.len() {
            std::mem::take(&mut self.conn.buf)
        } else {
            let rest = self.conn.buf.split_off(take);
            std::mem::replace(&mut self.conn.buf, rest)
        };
        self.remaining -= take as u64;
        if self.scan.as_mut().is_some_and(|s| s.found_in(&piece)) {
            return Err(ProxyError::InvalidRequest(
                "malformed multipart body: the file must be the last part".into(),
            ));
        }
        self.md5.update(&piece);
        Ok(Some(Bytes::from(piece)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delimiter_is_found_however_the_pieces_split_it() {
        let delim = b"\r\n--BOUNDARY";
        let mut body = vec![b'x'; 100];
        body.extend_from_slice(delim);
        body.extend_from_slice(&[b'y'; 50]);
        for a in 0..body.len() {
            for b in a..body.len() {
                let mut scan = DelimiterScan::new(delim);
                let found = [&body[..a], &body[a..b], &body[b..]].iter().any(|p| scan.found_in(p));
                assert!(found, "cuts at {a}, {b}");
            }
        }
        let mut scan = DelimiterScan::new(delim);
        assert!(!scan.found_in(b"\r\n--BOUNDAR") && !scan.found_in(b"") && !scan.found_in(b"Z"));
        assert!(!contains(b"", delim));
    }

    #[test]
    fn part_headers_give_the_field_name_and_type() {
        let block = "Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain";
        assert_eq!(
            part_headers(block),
            (
                Some("file".to_owned()),
                Some("text/plain".to_owned()),
                Some("a.txt".to_owned())
            )
        );
        assert_eq!(
            part_headers("Content-Disposition: form-data; name=key"),
            (Some("key".to_owned()), None, None)
        );
        assert_eq!(part_headers("X: y"), (None, None, None));
    }
}
