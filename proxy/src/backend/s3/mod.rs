//! The `s3` backend: an HTTP/1.1 client for S3-compatible services on monoio, with a per-core
//! keep-alive connection pool, rustls for `https://`, and our own SigV4 signing
//! (`UNSIGNED-PAYLOAD`: the body was already verified against the client's signature).
//! Native multipart uploads and server-side copies are in [`multipart`].

mod aws_chunked;
mod conn;
mod direct;
mod listing;
mod multipart;

pub use conn::{Conn, Pool};
pub use direct::{probe_service, DirectHead, DirectObject, DirectPage, MAX_DIRECT_PAGE};

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use monoio::net::TcpStream;
use monoio_rustls::TlsConnector;
use s3o_sigv4::encode::uri_encode;
use s3o_sigv4::{AmzDate, Signer};

use super::pieces::Pieces;
use super::stream::GetStream;
use super::{BodySource, ByteRange, PhysicalMeta, SourceIntegrity, BODY_BUF};
use crate::config::{BackendConfig, BackendKind};
use crate::error::{BackendError, ProxyError};
use crate::http::response::decimal;

/// The response headers kept beside `x-amz-meta-*` (an object's content headers).
const KEPT_HEADERS: [&str; 7] = [
    "content-type",
    "last-modified",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
];

/// Largest response head accepted from a backend.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// Largest error body read from a backend (to extract the S3 error code).
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Most pieces sent with one `writev` (Linux's IOV_MAX).
const MAX_PIECES: usize = 1024;
/// Idle connections kept per backend per core.
pub(super) const MAX_IDLE_PER_BACKEND: usize = 64;
/// A pooled connection idle longer than this is not reused for a request whose body cannot be
/// replayed (the server may have closed it meanwhile).
const REUSE_FOR_UPLOAD: Duration = Duration::from_secs(2);
/// A pooled connection idle longer than this is dropped.
const MAX_IDLE: Duration = Duration::from_secs(30);

/// How a backend checks an upload's bytes.
#[derive(Debug)]
enum BackendCheck {
    /// Nothing more than what the extra headers carry (a forwarded checksum header).
    None,
    /// The body's SHA-256 (hex), signed as the payload hash.
    Sha256(String),
    /// A trailer: the client's checksum of this algorithm, forwarded, or our own CRC32C.
    Trailer(Option<s3o_sigv4::ChecksumAlgorithm>),
}

/// A parsed backend response head.
#[derive(Debug)]
struct Response {
    status: u16,
    content_length: Option<u64>,
    close: bool,
    /// The `ETag` header, if any.
    etag: Option<String>,
    /// A full-object CRC the backend reports (`x-amz-checksum-crc*`, asked for with
    /// `x-amz-checksum-mode`), decoded; composite (`-N`) values are not kept.
    crc: Option<(s3o_sigv4::ChecksumAlgorithm, Vec<u8>)>,
    /// Body bytes read together with the head.
    leftover: Vec<u8>,
    /// The object's labels and metadata as the backend returned them: `x-amz-meta-*` and the
    /// [`KEPT_HEADERS`], names lowercased.
    labels: Vec<(String, String)>,
}

/// An S3-compatible backend on one core.
pub struct S3Backend {
    name: String,
    connect_addr: String,
    host_header: String,
    bucket: String,
    path_style: bool,
    tls: Option<(TlsConnector, rustls::pki_types::ServerName<'static>)>,
    signer: Signer,
    pool: Rc<Pool>,
    connect_timeout: Duration,
    io_timeout: Duration,
    etag_from_backend: bool,
    checksum_trailer: bool,
}

impl std::fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Backend")
            .field("name", &self.name)
            .field("addr", &self.connect_addr)
            .finish()
    }
}

/// The TLS client configuration: the web PKI roots plus the certificates of `ca_file`.
fn tls_config(backend: &str, ca_file: Option<&std::path::Path>) -> Result<Arc<rustls::ClientConfig>, ProxyError> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let bad = |e: String| ProxyError::Internal(format!("backend {backend}: ca_file {}: {e}", path.display()));
        let mut added = 0;
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
            roots
                .add(cert.map_err(|e| bad(e.to_string()))?)
                .map_err(|e| bad(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(bad("no certificate in the file".into()));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ProxyError::Internal(format!("backend {backend}: TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

impl S3Backend {
    /// The per-core client of an `s3` backend.
    pub fn new(cfg: &BackendConfig, connect_timeout: Duration, io_timeout: Duration) -> Result<S3Backend, ProxyError> {
        let BackendKind::S3 {
            endpoint,
            region,
            bucket,
            access_key,
            secret_key,
            path_style,
            etag_from_backend,
            checksum_trailer,
            ca_file,
        } = &cfg.kind
        else {
            return Err(ProxyError::Internal("not an s3 backend".into()));
        };
        let (https, rest) = match endpoint.split_once("://") {
            Some(("https", r)) => (true, r),
            Some(("http", r)) => (false, r),
            _ => return Err(ProxyError::Internal(format!("backend {}: bad endpoint", cfg.name))),
        };
        let authority = rest.trim_end_matches('/');
        let host = authority
            .rsplit_once(':')
            .map_or(authority, |(h, _)| h)
            .trim_matches(['[', ']']);
        let connect_addr = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            && !authority.ends_with(']')
        {
            authority.to_string()
        } else {
            format!("{authority}:{}", if https { 443 } else { 80 })
        };
        let tls = if https {
            let name = rustls::pki_types::ServerName::try_from(host.to_string())
                .map_err(|e| ProxyError::Internal(format!("backend {}: bad TLS server name: {e}", cfg.name)))?;
            Some((TlsConnector::from(tls_config(&cfg.name, ca_file.as_deref())?), name))
        } else {
            None
        };
        let host_header = if *path_style {
            authority.to_string()
        } else {
            format!("{bucket}.{authority}")
        };
        Ok(S3Backend {
            name: cfg.name.clone(),
            connect_addr,
            host_header,
            bucket: bucket.clone(),
            path_style: *path_style,
            tls,
            signer: Signer::new(access_key, secret_key, region, "s3"),
            pool: Rc::new(Pool::default()),
            connect_timeout,
            io_timeout,
            etag_from_backend: *etag_from_backend,
            checksum_trailer: *checksum_trailer,
        })
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this backend's PUT ETag is trusted as the body's MD5.
    pub fn etag_from_backend(&self) -> bool {
        self.etag_from_backend
    }

    /// Runs one backend I/O step with the progress timeout.
    async fn io<F: std::future::Future>(&self, f: F) -> Result<F::Output, BackendError> {
        monoio::time::timeout(self.io_timeout, f)
            .await
            .map_err(|_| BackendError::Timeout {
                backend: self.name.clone(),
            })
    }

    fn err_connect(&self, e: impl std::fmt::Display) -> BackendError {
        BackendError::Connect {
            backend: self.name.clone(),
            detail: e.to_string(),
        }
    }

    fn err_protocol(&self, detail: impl Into<String>) -> BackendError {
        BackendError::Protocol {
            backend: self.name.clone(),
            detail: detail.into(),
        }
    }

    async fn connect(&self) -> Result<Conn, BackendError> {
        let tcp =
            match monoio::time::timeout(self.connect_timeout, TcpStream::connect(self.connect_addr.as_str())).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(self.err_connect(e)),
                Err(_) => {
                    return Err(BackendError::Timeout {
                        backend: self.name.clone(),
                    })
                }
            };
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(Conn::Plain(tcp)),
            Some((connector, name)) => {
                let s = connector
                    .connect(name.clone(), tcp)
                    .await
                    // TlsError's own message is only "io error": name the cause (a certificate
                    // refused, a protocol alert) as the io::Error it wraps does.
                    .map_err(|e| self.err_connect(format!("TLS handshake: {}", std::io::Error::from(e))))?;
                Ok(Conn::Tls(Box::new(s)))
            }
        }
    }

    async fn conn(&self, replayable: bool) -> Result<Conn, BackendError> {
        let max_idle = if replayable { MAX_IDLE } else { REUSE_FOR_UPLOAD };
        match self.pool.take(max_idle) {
            Some(c) => Ok(c),
            None => self.connect().await,
        }
    }

    /// The request path of a physical key.
    fn path(&self, key: &str) -> String {
        let k = uri_encode(key.as_bytes(), true);
        if self.path_style {
            format!("/{}/{k}", uri_encode(self.bucket.as_bytes(), false))
        } else {
            format!("/{k}")
        }
    }

    /// A signed request head (`UNSIGNED-PAYLOAD`).
    fn head(&self, method: &str, path: &str, query: &str, extra: &[(&str, &str)]) -> Vec<u8> {
        self.head_with(method, path, query, extra, "UNSIGNED-PAYLOAD")
    }

    /// A signed request head announcing `payload` as its `x-amz-content-sha256`.
    fn head_with(&self, method: &str, path: &str, query: &str, extra: &[(&str, &str)], payload: &str) -> Vec<u8> {
        let date = AmzDate::from_unix(crate::clock::unix_now());
        let mut h: Vec<(&str, &str)> = Vec::with_capacity(extra.len() + 4);
        h.push(("host", &self.host_header));
        h.push(("x-amz-date", date.as_str()));
        h.push(("x-amz-content-sha256", payload));
        h.extend_from_slice(extra);
        self.signer.request_head(method, path, query, &h, &[], payload, &date)
    }

    async fn read_response(&self, conn: &mut Conn) -> Result<Response, BackendError> {
        let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
        loop {
            if buf.len() == buf.capacity() {
                if buf.len() >= MAX_RESPONSE_HEAD {
                    return Err(self.err_protocol("response head too large"));
                }
                buf.reserve(buf.len());
            }
            let spare = buf.len()..buf.capacity();
            let (res, slice) = self.io(conn.read(monoio::buf::IoBufMut::slice_mut(buf, spare))).await?;
            buf = slice.into_inner();
            match res {
                Ok(0) => return Err(self.err_connect("connection closed before a response")),
                Ok(_) => {}
                Err(e) => return Err(self.err_connect(e)),
            }
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&buf) {
                Ok(httparse::Status::Partial) => continue,
                Ok(httparse::Status::Complete(n)) => {
                    let status = resp.code.unwrap_or(0);
                    if (100..200).contains(&status) {
                        // An interim response (100 Continue): the final one follows.
                        buf.drain(..n);
                        continue;
                    }
                    let mut content_length = None;
                    let mut etag = None;
                    let mut crc = None;
                    let mut composite = false;
                    let mut close = resp.version == Some(0);
                    let mut labels = Vec::new();
                    for h in resp.headers.iter() {
                        let lower = h.name.to_ascii_lowercase();
                        if lower.starts_with("x-amz-meta-") || KEPT_HEADERS.contains(&lower.as_str()) {
                            labels.push((lower, String::from_utf8_lossy(h.value).trim().to_owned()));
                        }
                        if let Some(alg) = s3o_sigv4::ChecksumAlgorithm::from_header_name(h.name) {
                            use s3o_sigv4::ChecksumAlgorithm::{Crc32, Crc32c, Crc64Nvme};
                            if matches!(alg, Crc32 | Crc32c | Crc64Nvme) {
                                crc = alg.decode_value(h.value).ok().map(|v| (alg, v));
                            }
                        } else if h.name.eq_ignore_ascii_case("x-amz-checksum-type") {
                            composite |= h.value.eq_ignore_ascii_case(b"composite");
                        } else if h.name.eq_ignore_ascii_case("content-length") {
                            content_length = std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse().ok());
                        } else if h.name.eq_ignore_ascii_case("etag") {
                            etag = std::str::from_utf8(h.value).ok().map(|v| v.trim().to_string());
                        } else if h.name.eq_ignore_ascii_case("connection") {
                            close |= h
                                .value
                                .split(|&b| b == b',')
                                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            return Err(self.err_protocol("chunked responses are not supported from backends"));
                        }
                    }
                    // Body bytes read with the head stay in this buffer (moved to its front).
                    buf.drain(..n);
                    let leftover = buf;
                    return Ok(Response {
                        status,
                        content_length,
                        close,
                        etag,
                        crc: crc.filter(|_| !composite),
                        leftover,
                        labels,
                    });
                }
                Err(e) => return Err(self.err_protocol(format!("bad response head: {e}"))),
            }
        }
    }

    /// Reads the (small) rest of a response body and returns the connection to the pool.
    async fn finish(&self, conn: Conn, resp: &Response) -> Result<Vec<u8>, BackendError> {
        self.finish_within(conn, resp, MAX_ERROR_BODY).await
    }

    /// [`S3Backend::finish`] for a body of at most `max` bytes.
    async fn finish_within(&self, mut conn: Conn, resp: &Response, max: usize) -> Result<Vec<u8>, BackendError> {
        let len = usize::try_from(resp.content_length.unwrap_or(0)).unwrap_or(usize::MAX);
        if len > max {
            return Err(self.err_protocol("unexpectedly large response body"));
        }
        let mut body = resp.leftover.clone();
        while body.len() < len {
            body.reserve(len - body.len());
            let spare = body.len()..body.capacity().min(len);
            let (res, slice) = self
                .io(conn.read(monoio::buf::IoBufMut::slice_mut(body, spare)))
                .await?;
            body = slice.into_inner();
            match res {
                Ok(0) => return Err(self.err_connect("closed during response body")),
                Ok(_) => {}
                Err(e) => return Err(self.err_connect(e)),
            }
        }
        // Only a response whose end we know exactly leaves the connection reusable.
        let framed = resp.content_length.is_some() || matches!(resp.status, 204 | 304);
        if !resp.close && framed && body.len() == len {
            self.pool.put_back(conn);
        }
        Ok(body)
    }

    fn status_error(&self, status: u16, body: &[u8]) -> BackendError {
        let text = String::from_utf8_lossy(body);
        let code = text
            .split("<Code>")
            .nth(1)
            .and_then(|s| s.split("</Code>").next())
            .unwrap_or("")
            .to_string();
        BackendError::Status {
            backend: self.name.clone(),
            status,
            detail: code,
        }
    }

    /// A bodiless request (GET head part, HEAD, DELETE) with one retry on a stale pooled connection.
    async fn simple(
        &self,
        method: &str,
        key: &str,
        query: &str,
        extra: &[(&str, &str)],
    ) -> Result<(Conn, Response), BackendError> {
        self.simple_at(method, &self.path(key), query, extra).await
    }

    /// [`S3Backend::simple`] on a request path (for bucket-level requests).
    async fn simple_at(
        &self,
        method: &str,
        path: &str,
        query: &str,
        extra: &[(&str, &str)],
    ) -> Result<(Conn, Response), BackendError> {
        self.exchange(self.head(method, path, query, extra)).await
    }

    /// Sends a whole request (a head, and a small body with it) and reads the response head,
    /// with one retry on a fresh connection when a pooled one turns out stale.
    async fn exchange(&self, mut msg: Vec<u8>) -> Result<(Conn, Response), BackendError> {
        let mut last = None;
        for attempt in 0..2 {
            let mut conn = if attempt == 0 {
                self.conn(true).await?
            } else {
                self.connect().await?
            };
            // The write hands the request back, for the retry.
            let (res, m) = self.io(conn.write_all(msg)).await?;
            msg = m;
            if let Err(e) = res {
                last = Some(self.err_connect(e));
                continue;
            }
            match self.read_response(&mut conn).await {
                Ok(r) => return Ok((conn, r)),
                Err(e @ BackendError::Connect { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| self.err_connect("request failed")))
    }

    /// The headers that label a physical object with its logical bucket, key and version
    /// (design rule 6), in `out`'s buffers; `lkey` and `version` hold the encoded values.
    fn label_headers<'a>(
        meta: &'a PhysicalMeta,
        lkey: &'a mut String,
        version: &'a mut String,
    ) -> Vec<(&'a str, &'a str)> {
        // The logical key as base64url: header-safe, and at most 1366 bytes for a 1024-byte key
        // (percent-encoding could triple it past S3's 2 KB metadata limit).
        *lkey = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(meta.key.as_bytes());
        *version = decimal(meta.version);
        let mut extra: Vec<(&str, &str)> = vec![
            ("x-amz-meta-s3o-bucket", &meta.bucket),
            ("x-amz-meta-s3o-key", lkey.as_str()),
            ("x-amz-meta-s3o-version", version.as_str()),
        ];
        if let Some(ct) = &meta.content_type {
            extra.push(("content-type", ct));
        }
        if meta.sealed {
            extra.push(("x-amz-meta-s3o-sealed", "1"));
        }
        extra
    }

    /// Streams an upload of exactly `len` bytes; returns the backend's ETag.
    pub async fn put<B: BodySource>(
        &self,
        key: &str,
        len: u64,
        meta: &PhysicalMeta,
        body: &mut B,
    ) -> Result<Option<String>, ProxyError> {
        let (mut lkey, mut version) = (String::new(), String::new());
        let mut extra = Self::label_headers(meta, &mut lkey, &mut version);
        extra.extend(meta.integrity.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        // The backend checks what the client's body was checked against: its checksum header
        // (forwarded above), its signed SHA-256, or its trailer checksum; without any of these,
        // a CRC32C we compute, as a trailer.
        let has_checksum = meta
            .integrity
            .iter()
            .any(|(n, _)| s3o_sigv4::ChecksumAlgorithm::from_header_name(n).is_some());
        let check = match body.integrity() {
            _ if has_checksum || !self.checksum_trailer => BackendCheck::None,
            SourceIntegrity::Sha256(h) => BackendCheck::Sha256(s3o_sigv4::encode::hex(&h)),
            SourceIntegrity::Trailer(alg) => BackendCheck::Trailer(Some(alg)),
            SourceIntegrity::None => BackendCheck::Trailer(None),
        };
        let (resp, rbody) = self.send_body("PUT", key, "", len, &extra, body, check).await?;
        if resp.status != 200 {
            return Err(self.status_error(resp.status, &rbody).into());
        }
        Ok(resp.etag)
    }

    /// Sends a request whose body is exactly `len` bytes of `body`, streamed and checked by the
    /// backend as `check` says, and returns the response with its (small) body.
    #[allow(clippy::too_many_arguments)]
    async fn send_body<B: BodySource>(
        &self,
        method: &str,
        key: &str,
        query: &str,
        len: u64,
        extra: &[(&str, &str)],
        body: &mut B,
        check: BackendCheck,
    ) -> Result<(Response, Vec<u8>), ProxyError> {
        let len_s = decimal(len);
        let mut framer = match check {
            BackendCheck::Trailer(forward) => Some(aws_chunked::Framer::new(len, forward)),
            _ => None,
        };
        let wire_len = match &framer {
            Some(f) => decimal(aws_chunked::encoded_len(len, f.algorithm())),
            None => len_s.clone(),
        };
        let trailer_name = framer.as_ref().map(|f| aws_chunked::trailer_name(f.algorithm()));
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(extra.len() + 4);
        headers.push(("content-length", &wire_len));
        if let Some(name) = &trailer_name {
            headers.push(("content-encoding", "aws-chunked"));
            headers.push(("x-amz-decoded-content-length", &len_s));
            headers.push(("x-amz-trailer", name));
        }
        headers.extend_from_slice(extra);
        let payload = match &check {
            BackendCheck::None => "UNSIGNED-PAYLOAD",
            BackendCheck::Sha256(hex) => hex.as_str(),
            BackendCheck::Trailer(_) => aws_chunked::PAYLOAD,
        };
        let head = self.head_with(method, &self.path(key), query, &headers, payload);
        // No body byte has been consumed yet: a stale pooled connection is replaced, once.
        let mut conn = self.conn(false).await?;
        let (res, head) = self.io(conn.write_all(head)).await?;
        if res.is_err() {
            conn = self.connect().await?;
            let (res, _) = self.io(conn.write_all(head)).await?;
            res.map_err(|e| self.err_connect(e))?;
        }
        // Pieces already received go out together, up to BODY_BUF per write. A batch that does not
        // reach the announced length is written while the next piece is read. The batch that
        // completes the body is held back until the whole body has been verified (`next_piece`
        // returned `None`): a body that fails verification never arrives complete at the
        // backend, which then discards the partial upload when we drop the connection.
        let mut sent = 0u64;
        let mut next = body.next_piece().await?;
        while let Some(first) = next.take() {
            let mut batch_len = first.len();
            let mut batch = vec![first];
            // writev takes at most IOV_MAX (1024) pieces; tiny chunks make many. Framing adds a
            // few: a batch (under 2 MiB) crosses at most two chunk boundaries, each adding a
            // chunk end, a header and a split piece, plus a header at its start and the trailer.
            while batch_len < BODY_BUF && batch.len() < MAX_PIECES - 16 {
                match body.next_buffered()? {
                    Some(p) => {
                        batch_len += p.len();
                        batch.push(p);
                    }
                    None => break,
                }
            }
            let end = sent + batch_len as u64;
            if end > len {
                return Err(ProxyError::Internal("body longer than announced".into()));
            }
            if let Some(f) = &mut framer {
                batch = f.frame(batch).map_err(|e| ProxyError::Internal(e.into()))?;
            }
            if end < len {
                let (written, read) = monoio::join!(self.io(conn.write_pieces(Pieces::new(batch))), body.next_piece());
                // When both fail, the client's error (a failed check, a timeout) is the answer.
                next = read?;
                written?.map_err(|e| self.err_connect(e))?;
            } else {
                if body.next_piece().await?.is_some() {
                    return Err(ProxyError::Internal("body longer than announced".into()));
                }
                // Verified: the trailer (with the client's value, when forwarded) ends the body.
                if let Some(f) = &framer {
                    let end = f.finish(body.trailer_value().as_deref());
                    batch.push(end.map_err(|e| ProxyError::Internal(e.into()))?);
                }
                self.io(conn.write_pieces(Pieces::new(batch)))
                    .await?
                    .map_err(|e| self.err_connect(e))?;
            }
            sent = end;
        }
        if sent != len {
            return Err(s3o_sigv4::SigError::IncompleteBody.into());
        }
        if let Some(f) = framer.filter(|_| len == 0) {
            // An empty body is only its end and trailer (its checks ran in `next_piece`).
            let end = f
                .finish(body.trailer_value().as_deref())
                .map_err(|e| ProxyError::Internal(e.into()))?;
            self.io(conn.write_all(end.to_vec()))
                .await?
                .0
                .map_err(|e| self.err_connect(e))?;
        }
        self.io(conn.flush()).await?.map_err(|e| self.err_connect(e))?;
        let resp = self.read_response(&mut conn).await?;
        let rbody = self.finish(conn, &resp).await?;
        Ok((resp, rbody))
    }

    /// Starts a GET of the key (a range of it), returning the body stream.
    pub async fn get(&self, key: &str, range: Option<ByteRange>, size: u64) -> Result<GetStream, ProxyError> {
        let range_h = range.map(|r| format!("bytes={}-{}", r.start, r.end));
        let mut extra: Vec<(&str, &str)> = Vec::new();
        match &range_h {
            Some(r) => extra.push(("range", r)),
            // A whole object comes with the checksum the backend stored (ours or the client's),
            // checked as the bytes stream (`GetStream`).
            None => extra.push(("x-amz-checksum-mode", "ENABLED")),
        }
        let (conn, resp) = self.simple("GET", key, "", &extra).await?;
        match resp.status {
            200 | 206 => {}
            404 => {
                drop(self.finish(conn, &resp).await);
                return Err(BackendError::NotFound {
                    backend: self.name.clone(),
                }
                .into());
            }
            s => {
                let body = self.finish(conn, &resp).await.unwrap_or_default();
                return Err(self.status_error(s, &body).into());
            }
        }
        let len = resp
            .content_length
            .ok_or_else(|| self.err_protocol("GET response without Content-Length"))?;
        match range {
            Some(r) if len != r.len() || resp.status != 206 => {
                return Err(self.err_protocol("backend ignored the Range header").into());
            }
            // The physical object must be exactly what was committed: a truncated or replaced
            // object is a backend failure (and another copy may be tried), never a short body.
            None if len != size => {
                return Err(self
                    .err_protocol(format!("object is {len} bytes on the backend, {size} expected"))
                    .into());
            }
            _ => {}
        }
        let leftover = resp.leftover;
        if leftover.len() as u64 > len {
            return Err(self.err_protocol("more body than Content-Length").into());
        }
        let stream = GetStream::http(
            self.name.clone(),
            conn,
            self.pool.clone(),
            leftover,
            len,
            !resp.close,
            self.io_timeout,
        );
        Ok(match resp.crc {
            Some((alg, expected)) if range.is_none() => stream.verified(alg, expected),
            _ => stream,
        })
    }

    /// Deletes the key (S3 answers 204 whether or not it existed).
    pub async fn delete(&self, key: &str) -> Result<(), BackendError> {
        let (conn, resp) = self.simple("DELETE", key, "", &[]).await?;
        let body = self.finish(conn, &resp).await?;
        match resp.status {
            200 | 204 | 404 => Ok(()),
            s => Err(self.status_error(s, &body)),
        }
    }
}
