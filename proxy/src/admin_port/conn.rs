//! One admin-port connection: the same head decoder and body framing as the S3 port
//! ([`crate::http`]), then [`s3o_admin::route`], the body read up to its cap, and the admin
//! crate's handler (or, for uploads and downloads, the streaming code in [`super::transfer`]).
//! Keep-alive like the S3 port; any framing doubt closes the connection.

use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use s3o_admin::{Request, Response, Route, MAX_JSON_BODY};

use super::stream::{AdminStream, IoFailure};
use super::AdminService;
use crate::http::{BodyKind, ChunkedBody, HeadDecoder, RequestHead, ResponseHead};

/// How long an idle keep-alive connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a whole request head may take once it began.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for progress of a body or of a response write.
pub(super) const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Read size.
const READ_BUF: usize = 64 * 1024;

/// A connection's socket and the bytes read but not yet used.
pub(super) struct Conn {
    /// The socket.
    pub stream: AdminStream,
    /// Received, unconsumed bytes.
    pub buf: Vec<u8>,
    /// The peer's address.
    pub peer: IpAddr,
    /// The status of the last response head written (0: none yet), for the API's counts.
    pub status: u16,
}

impl Conn {
    /// Reads more bytes into `buf` within `limit`; `Ok(0)` when the peer closed.
    pub async fn fill(&mut self, limit: Duration) -> Result<usize, IoFailure> {
        let mut buf = std::mem::take(&mut self.buf);
        if buf.capacity() - buf.len() < READ_BUF / 4 {
            buf.reserve(READ_BUF);
        }
        let (r, buf) = self.stream.read(buf, limit).await;
        self.buf = buf;
        r
    }

    /// Writes a whole response (head and body).
    pub async fn respond(&mut self, resp: &Response, keep_alive: bool, head_only: bool) -> Result<(), IoFailure> {
        self.status = resp.status;
        let mut head = ResponseHead::new(resp.status);
        for (n, v) in &resp.headers {
            head.push(n, v);
        }
        let head = head
            .content_length(resp.body.len() as u64)
            .header("connection", if keep_alive { "keep-alive" } else { "close" });
        let mut out = Vec::with_capacity(512 + resp.body.len());
        head.write_to(&mut out);
        if !head_only {
            out.extend_from_slice(&resp.body);
        }
        self.stream.write_all(out, IO_TIMEOUT).await.map(drop)
    }
}

/// Serves requests on one admin connection until it closes.
pub(super) async fn serve(svc: Rc<AdminService>, stream: AdminStream, peer: IpAddr) {
    let mut conn = Conn {
        status: 0,
        stream,
        buf: Vec::with_capacity(READ_BUF),
        peer,
    };
    let mut decoder = HeadDecoder::new();
    loop {
        let head = match read_head(&mut conn, &mut decoder).await {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(resp) => {
                let _ = conn.respond(&resp, false, false).await;
                return;
            }
        };
        let keep = head.keep_alive() && !svc.shared.stopping();
        match serve_one(&svc, &mut conn, &head, keep).await {
            Ok(true) if keep => continue,
            _ => {
                conn.stream.shutdown().await;
                return;
            }
        }
    }
}

/// Serves one request; `Ok(true)` when the connection may carry another.
async fn serve_one(svc: &AdminService, conn: &mut Conn, head: &RequestHead, keep: bool) -> Result<bool, IoFailure> {
    let head_only = head.method == http::Method::HEAD;
    let mut req = Request {
        method: head.method.as_str().to_owned(),
        path: head.path.clone(),
        query: head.query.clone(),
        headers: head
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect(),
        peer_ip: conn.peer,
        tls: conn.stream.is_tls(),
        body: Bytes::new(),
    };
    let api = s3o_admin::api::api_route(&req.method, &req.path);
    let seed3 = req.path == "/readyz" || api.is_some();
    let kind = match BodyKind::from_head(head) {
        Ok(k) => k,
        Err(e) => {
            conn.respond(&bad_body(seed3, 400, &e.to_string()), false, head_only)
                .await?;
            return Ok(false);
        }
    };
    if let Some(Ok(s3o_admin::api::ApiRoute::Data(d))) = &api {
        if d.is_streamed() {
            let route = d.clone();
            return super::data_stream::serve(svc, conn, head, &req, route, kind, keep, head_only).await;
        }
    }
    if seed3 {
        // The seed-003 API: buffered JSON bodies only.
        let Some(body) = read_or_refuse(conn, kind, head_only, true).await? else {
            return Ok(false);
        };
        req.body = body;
        let csv = matches!(api, Some(Ok(s3o_admin::api::ApiRoute::AuditCsv)));
        if let (true, Some(access)) = (csv, svc.access.as_deref()) {
            return stream_audit_csv(conn, &req, access, keep).await;
        }
        let resp = s3o_admin::handle(&req, &svc.auth, &svc.control, svc.access.as_deref()).await;
        if resp.status >= 500 {
            tracing::warn!(method = %req.method, path = %req.path, status = resp.status, "access API request failed");
        } else {
            tracing::debug!(method = %req.method, path = %req.path, status = resp.status, "access API request");
        }
        conn.respond(&resp, keep, head_only).await?;
        return Ok(true);
    }
    let route = match s3o_admin::route(svc.auth.ui_path(), &req.method, &req.path) {
        Ok(r) => r,
        Err(resp) => {
            let reusable = kind == BodyKind::Empty && keep;
            conn.respond(&resp, reusable, head_only).await?;
            return Ok(reusable);
        }
    };
    if route.is_streamed() {
        return super::transfer::serve(svc, conn, head, &req, route, kind, keep).await;
    }
    let Some(body) = read_or_refuse(conn, kind, head_only, false).await? else {
        return Ok(false);
    };
    req.body = body;
    if !route.takes_body() {
        req.body = Bytes::new();
    }
    let resp = s3o_admin::handle(&req, &svc.auth, &svc.control, svc.access.as_deref()).await;
    log_request(&req, route, resp.status);
    conn.respond(&resp, keep, head_only).await?;
    Ok(true)
}

/// Logs one answered admin request at debug level (errors at warn).
fn log_request(req: &Request, route: Route, status: u16) {
    if status >= 500 {
        tracing::warn!(component = "admin", method = %req.method, path = %req.path, ?route, status, "admin request failed");
    } else {
        tracing::debug!(component = "admin", method = %req.method, path = %req.path, ?route, status, "admin request");
    }
}

/// A request body read whole (JSON and forms are small).
/// `GET /api/admin/audit.csv`, streamed: the CSV goes out in chunks (one store page each) as it
/// is read, so an export of any size costs one page of memory. A failure once rows have gone out
/// cuts the connection (the only honest signal left).
async fn stream_audit_csv(
    conn: &mut Conn,
    req: &Request,
    access: &s3o_admin::access::Access,
    keep: bool,
) -> Result<bool, IoFailure> {
    let (headers, mut export) = match s3o_admin::api::open_audit_csv(req, access).await {
        Ok(x) => x,
        Err(resp) => {
            conn.respond(&resp, keep, false).await?;
            return Ok(true);
        }
    };
    let mut head = ResponseHead::new(200);
    for (n, v) in &headers {
        head.push(n, v);
    }
    let head = head
        .header("transfer-encoding", "chunked")
        .header("connection", if keep { "keep-alive" } else { "close" });
    let mut out = Vec::with_capacity(512);
    head.write_to(&mut out);
    let mut spare = conn.stream.write_all(out, IO_TIMEOUT).await?;
    loop {
        spare.clear();
        match export.next_chunk().await {
            Ok(Some(chunk)) => {
                spare.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                spare.extend_from_slice(chunk.as_bytes());
                spare.extend_from_slice(b"\r\n");
                spare = conn.stream.write_all(spare, IO_TIMEOUT).await?;
            }
            Ok(None) => {
                spare.extend_from_slice(b"0\r\n\r\n");
                conn.stream.write_all(spare, IO_TIMEOUT).await?;
                return Ok(true);
            }
            Err(e) => {
                tracing::warn!(error = %e, "audit.csv export failed part way; closing the connection");
                return Ok(false);
            }
        }
    }
}

/// A refused body in the shape of the API it was sent to (`seed3`: `/api`, `/auth`, `/s`).
fn bad_body(seed3: bool, status: u16, why: &str) -> Response {
    match (seed3, status) {
        (true, 413) => s3o_admin::api::api_error(413, "too_large", why),
        (true, _) => s3o_admin::api::api_error(status, "bad_request", why),
        (false, 413) => Response::too_large(),
        (false, _) => Response::error(status, why),
    }
}

/// The request body, or `None` once a 413 or 400 went out for it (the connection then closes);
/// `seed3` answers in the seed-003 API's error shape.
pub(super) async fn read_or_refuse(
    conn: &mut Conn,
    kind: BodyKind,
    head_only: bool,
    seed3: bool,
) -> Result<Option<Bytes>, IoFailure> {
    match read_body(conn, kind).await? {
        Body::Read(body) => Ok(Some(body)),
        Body::TooLarge => {
            let why = format!("request body too large (limit {} MiB)", MAX_JSON_BODY >> 20);
            conn.respond(&bad_body(seed3, 413, &why), false, head_only).await?;
            Ok(None)
        }
        Body::Bad(why) => {
            conn.respond(&bad_body(seed3, 400, &why), false, head_only).await?;
            Ok(None)
        }
    }
}

enum Body {
    /// All of it.
    Read(Bytes),
    /// It is longer than [`MAX_JSON_BODY`].
    TooLarge,
    /// Its framing is broken.
    Bad(String),
}

/// Reads a body of at most [`MAX_JSON_BODY`] bytes.
async fn read_body(conn: &mut Conn, kind: BodyKind) -> Result<Body, IoFailure> {
    match kind {
        BodyKind::Empty => Ok(Body::Read(Bytes::new())),
        BodyKind::Length(n) if n > MAX_JSON_BODY as u64 => Ok(Body::TooLarge),
        BodyKind::Length(n) => {
            let n = n as usize;
            while conn.buf.len() < n {
                if conn.fill(IO_TIMEOUT).await? == 0 {
                    return Ok(Body::Bad("body shorter than its Content-Length".into()));
                }
            }
            let rest = conn.buf.split_off(n);
            let body = std::mem::replace(&mut conn.buf, rest);
            Ok(Body::Read(Bytes::from(body)))
        }
        BodyKind::Chunked => {
            let mut decoder = ChunkedBody::new();
            let mut body = Vec::new();
            loop {
                if !conn.buf.is_empty() {
                    let d = match decoder.decode(&conn.buf) {
                        Ok(d) => d,
                        Err(e) => return Ok(Body::Bad(e.to_string())),
                    };
                    body.extend_from_slice(&conn.buf[d.payload]);
                    conn.buf.drain(..d.consumed);
                    if body.len() > MAX_JSON_BODY {
                        return Ok(Body::TooLarge);
                    }
                    if decoder.is_done() {
                        return Ok(Body::Read(Bytes::from(body)));
                    }
                    if d.consumed > 0 {
                        continue;
                    }
                }
                if conn.fill(IO_TIMEOUT).await? == 0 {
                    return Ok(Body::Bad("truncated chunked body".into()));
                }
            }
        }
    }
}

/// Reads the next request head; `Ok(None)` when the client closed or idled out between requests.
async fn read_head(conn: &mut Conn, decoder: &mut HeadDecoder) -> Result<Option<RequestHead>, Response> {
    decoder.reset();
    let mut deadline: Option<Instant> = None;
    loop {
        if !conn.buf.is_empty() {
            match decoder.decode(&conn.buf) {
                Ok(Some((head, n))) => {
                    conn.buf.drain(..n);
                    return Ok(Some(head));
                }
                Ok(None) => {}
                Err(e) => return Err(Response::error(400, &e.to_string())),
            }
        }
        let limit = if conn.buf.is_empty() {
            IDLE_TIMEOUT
        } else {
            let d = *deadline.get_or_insert_with(|| Instant::now() + HEAD_TIMEOUT);
            d.saturating_duration_since(Instant::now())
        };
        match conn.fill(limit).await {
            Ok(0) | Err(IoFailure::Io) => return Ok(None),
            Ok(_) => {}
            Err(IoFailure::TimedOut) if conn.buf.is_empty() => return Ok(None),
            Err(IoFailure::TimedOut) => return Err(Response::error(408, "request head timed out")),
        }
    }
}
