//! The data API's streamed routes, which the admin crate routes and gates but never buffers:
//! `GET .../object` (a download, one range at most, from the backend straight to the client)
//! and `POST .../object` (a `multipart/form-data` upload whose file part streams into a new
//! object as a PutObject's body does: placed and reserved first, committed once the form's
//! closing delimiter checked out, never held whole). Routes not served here answer 501.

use s3o_admin::api::{gate_streamed, secured};
use s3o_admin::data::{Bkt, DataRoute};
use s3o_admin::{Request, Response};
use s3o_store::{ObjectMeta, WriteCondition};
use serde_json::json;

use super::conn::{Conn, IO_TIMEOUT};
use super::data_direct::{self, Source, Target};
use super::stream::IoFailure;
use super::transfer::{read_tail, read_to_file, store_file, FileSource, FormProblem};
use super::AdminService;
use crate::backend::s3::S3Backend;
use crate::backend::BODY_BUF;
use crate::error::ProxyError;
use crate::http::{BodyKind, RequestHead, ResponseHead};

/// What serving a streamed route ended with.
type Served = Result<bool, IoFailure>;

fn api_error(status: u16, code: &str, message: &str) -> Response {
    s3o_admin::api::api_error(status, code, message)
}

/// Serves a streamed data route; `Ok(true)` when the connection may carry another request.
#[allow(clippy::too_many_arguments)]
pub(super) async fn serve(
    svc: &AdminService,
    conn: &mut Conn,
    head: &RequestHead,
    req: &Request,
    route: DataRoute,
    kind: BodyKind,
    keep: bool,
    head_only: bool,
) -> Served {
    let reusable = keep && kind == BodyKind::Empty;
    let Some(access) = svc.access.as_deref() else {
        let resp = api_error(404, "not_found", "the multi-user API is not enabled");
        conn.respond(&resp, reusable, head_only).await?;
        return Ok(reusable);
    };
    if let DataRoute::ShareRaw(code) = &route {
        return share_raw(svc, conn, req, code, reusable, head_only).await;
    }
    conn.status = 0;
    let backend = route.backend().map(str::to_owned);
    let mut user_id = None;
    let served = serve_gated(svc, conn, (head, req), route, kind, (keep, head_only), &mut user_id).await;
    // Counted for the dashboard as the buffered routes are.
    if conn.status != 0 {
        let who = (user_id.as_deref(), backend.as_deref());
        access
            .api_stats
            .record(access.now(), (&req.method, &req.path), conn.status, who);
    }
    served
}

/// [`serve`] for a route of the session API: its gate, then the route.
async fn serve_gated(
    svc: &AdminService,
    conn: &mut Conn,
    (head, req): (&RequestHead, &Request),
    route: DataRoute,
    kind: BodyKind,
    (keep, head_only): (bool, bool),
    user_id: &mut Option<String>,
) -> Served {
    let reusable = keep && kind == BodyKind::Empty;
    let Some(access) = svc.access.as_deref() else {
        return Ok(false);
    };
    let caller = match gate_streamed(&route, req, access).await {
        Ok(c) => c,
        Err(resp) => {
            conn.respond(&resp, reusable, head_only).await?;
            return Ok(reusable);
        }
    };
    *user_id = Some(caller.user.id.clone());
    match route {
        DataRoute::DeletePrefix(_) | DataRoute::CopyPrefix(_) => {
            super::data_walks::serve(svc, conn, req, route, kind, &caller.user.id, keep).await
        }
        DataRoute::Download(b) => download(svc, conn, req, &b, reusable, head_only).await,
        DataRoute::Zip(b) => super::data_zip::serve(svc, conn, req, &b, reusable).await,
        DataRoute::Part(b, part) => {
            let (resp, reusable) = super::data_parts::serve(svc, conn, req, &b, &part, kind).await?;
            // Parts are steps: the upload's initiation and completion are audited.
            let reusable = reusable && keep;
            conn.respond(&secured(resp, req, access), reusable, head_only).await?;
            Ok(reusable)
        }
        DataRoute::Upload(b) => {
            let outcome = upload(svc, conn, head, req, &b, kind).await;
            let (resp, reusable) = match outcome {
                Ok(Ok((key, meta))) => {
                    let mut e = s3o_admin::api::audit::event(req, access, &caller.user.id, "object.upload");
                    (e.backend, e.bucket, e.key) = (b.bid.clone(), b.bucket.clone(), key.clone());
                    e.detail = json!({ "content_type": meta.content_type, "size": meta.size }).to_string();
                    access.audit.record(e);
                    (Response::json(201, &uploaded(&key, &meta)), keep)
                }
                Ok(Err(resp)) => (resp, false),
                Err(IoFailure::TimedOut) => (api_error(408, "timeout", "upload body timed out"), false),
                Err(e) => return Err(e),
            };
            conn.respond(&secured(resp, req, access), reusable, head_only).await?;
            Ok(reusable)
        }
        _ => {
            let resp = secured(
                api_error(501, "not_supported", "this endpoint is not implemented yet"),
                req,
                access,
            );
            conn.respond(&resp, reusable, head_only).await?;
            Ok(reusable)
        }
    }
}

/// The object an upload made, as the seed answers it (no time, no class).
fn uploaded(key: &str, meta: &ObjectMeta) -> serde_json::Value {
    let mut v = json!({ "key": key, "size": meta.size, "etag": meta.etag });
    if let Some(ct) = &meta.content_type {
        v["content_type"] = json!(ct);
    }
    if meta.versioned {
        v["version_id"] = json!(meta.version_id());
    }
    v
}

/// A key's last segment, safe in a quoted `filename` (`download` when nothing is left).
pub fn filename(key: &str) -> String {
    let base = key.rsplit('/').find(|s| !s.is_empty()).unwrap_or("");
    let clean: String = base
        .chars()
        .filter(|c| {
            !matches!(c, '"' | '\\')
                && !c.is_control()
                && !matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect();
    if clean.is_empty() {
        "download".into()
    } else {
        clean
    }
}

/// `GET .../object?key=&version_id=&disposition=`.
async fn download(svc: &AdminService, conn: &mut Conn, req: &Request, b: &Bkt, keep: bool, head_only: bool) -> Served {
    let access = svc.access.as_deref();
    let refuse = |resp: Response| match access {
        Some(a) => secured(resp, req, a),
        None => resp,
    };
    let prepared = prepare_download(svc, req, b).await;
    let (source, range, disposition, key) = match prepared {
        Ok(p) => p,
        Err(resp) => {
            conn.respond(&refuse(resp), keep, head_only).await?;
            return Ok(keep);
        }
    };
    // The API's own origin must never run what a user stored: active content is always an
    // attachment, and nothing downloaded may run scripts or load anything.
    let disposition = if active_content(source.describe().1, &key) {
        "attachment".to_owned()
    } else {
        disposition
    };
    let mut headers: Vec<(String, String)> = refuse(Response {
        status: 200,
        headers: Vec::new(),
        body: Default::default(),
    })
    .headers
    .into_iter()
    .filter(|(n, _)| n != "content-security-policy")
    .collect();
    headers.push((
        "content-disposition".into(),
        format!("{disposition}; filename=\"{}\"", filename(&key)),
    ));
    headers.push((
        "content-security-policy".into(),
        "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:".into(),
    ));
    let out = Outgoing {
        source: &source,
        range,
        headers,
        keep,
        head_only,
    };
    let failed = refuse(api_error(502, "backend_error", "backend operation failed"));
    send_object(svc, conn, out, &failed).await
}

/// An object about to be sent: its version, the range asked for, the headers beside the
/// object's own, and how the connection goes on.
struct Outgoing<'a> {
    source: &'a Source,
    range: Option<crate::backend::ByteRange>,
    headers: Vec<(String, String)>,
    keep: bool,
    head_only: bool,
}

/// Streams `out.source`'s bytes (its range) from its backend with its type, ETag, length and
/// `out.headers`; answers `failed` when it cannot be opened.
async fn send_object(svc: &AdminService, conn: &mut Conn, out: Outgoing<'_>, failed: &Response) -> Served {
    let (source, range, keep) = (out.source, out.range, out.keep);
    let (size, content_type) = source.describe();
    let mut body = match svc.control.open_range(source, range).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(component = "admin", error = %e, "object not opened for the data API");
            conn.respond(failed, keep, out.head_only).await?;
            return Ok(keep);
        }
    };
    let len = range.map_or(size, |r| r.len());
    conn.status = if range.is_some() { 206 } else { 200 };
    let mut head = ResponseHead::new(conn.status);
    for (n, v) in &out.headers {
        head.push(n, v);
    }
    head.push("content-type", content_type.unwrap_or("application/octet-stream"));
    if let Some(etag) = source.etag() {
        head.push("etag", etag);
    }
    head.push("accept-ranges", "bytes");
    if let Some(r) = range {
        head.push("content-range", format!("bytes {}-{}/{size}", r.start, r.end));
    }
    let head = head
        .content_length(len)
        .header("connection", if keep { "keep-alive" } else { "close" });
    let mut bytes = Vec::with_capacity(1024);
    head.write_to(&mut bytes);
    conn.stream.write_all(bytes, IO_TIMEOUT).await?;
    if out.head_only {
        return Ok(keep);
    }
    let mut buf = Vec::with_capacity(BODY_BUF.min(usize::try_from(len).unwrap_or(BODY_BUF)).max(1));
    while body.remaining() > 0 {
        let (r, filled) = body.read(buf).await;
        if let Err(e) = r {
            // Headers went out: cutting the connection is the only honest signal left.
            tracing::warn!(component = "admin", error = %e, "data API download cut short");
            return Ok(false);
        }
        if filled.is_empty() {
            return Ok(false);
        }
        buf = conn.stream.write_all(filled, IO_TIMEOUT).await?;
    }
    Ok(keep)
}

/// The range a request asks of an object of `size` bytes: `Ok(None)` for the whole object, or
/// the 416 to send.
fn range_of(req: &Request, size: u64) -> Result<Option<crate::backend::ByteRange>, Response> {
    match req.header("range").map(|r| crate::s3::object::parse_range(r, size)) {
        None | Some(Ok(None)) => Ok(None),
        Some(Ok(Some(r))) => Ok(Some(r)),
        Some(Err(_)) => Err(api_error(416, "bad_range", "range not satisfiable")
            .with_header("content-range", &format!("bytes */{size}"))),
    }
}

/// Whether a browser would run the file (scripts in SVG, HTML, XML): always an attachment.
fn active_content(content_type: Option<&str>, key: &str) -> bool {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let ct = ct.split(';').next().unwrap_or("").trim().to_owned();
    let ext = key
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    matches!(
        ct.as_str(),
        "image/svg+xml" | "text/html" | "application/xhtml+xml" | "application/xml" | "text/xml"
    ) || matches!(ext.as_str(), "svg" | "html" | "htm" | "xhtml" | "xml")
}

/// `GET /s/{code}/raw[?inline=1]`: the share's gates, its range (416 before anything counts),
/// one download counted atomically, then the file.
async fn share_raw(
    svc: &AdminService,
    conn: &mut Conn,
    req: &Request,
    code: &str,
    keep: bool,
    head_only: bool,
) -> Served {
    let Some(access) = svc.access.as_deref() else {
        return Ok(false);
    };
    let prepared = async {
        let (share, _) = s3o_admin::data::shares::gate(access, req, code, false).await?;
        let unreadable = || api_error(502, "backend_error", "could not fetch the shared file");
        let source = match svc.control.source_of(&share.bkt(), &share.key, None).await {
            Ok(s) => s,
            Err(_) => return Err(unreadable()),
        };
        let range = range_of(req, source.describe().0)?;
        s3o_admin::data::shares::count_download(access, &share).await?;
        Ok((share, source, range))
    }
    .await;
    let (share, source, range) = match prepared {
        Ok(p) => p,
        Err(resp) => {
            let resp = secured(resp, req, access).with_header("cache-control", "no-store");
            conn.respond(&resp, keep, head_only).await?;
            return Ok(keep);
        }
    };
    let inline = req.query_param("inline").ok().flatten().as_deref() == Some("1");
    let disposition = if active_content(source.describe().1, &share.key) {
        "attachment"
    } else if inline {
        "inline"
    } else {
        share.disposition.as_str()
    };
    let headers = vec![
        (
            "content-disposition".to_owned(),
            format!("{disposition}; filename=\"{}\"", filename(&share.key)),
        ),
        ("cache-control".to_owned(), "no-store".to_owned()),
        ("x-content-type-options".to_owned(), "nosniff".to_owned()),
        (
            "content-security-policy".to_owned(),
            "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:".to_owned(),
        ),
    ];
    let mut e = s3o_admin::api::audit::event(req, access, "", "share.access");
    (e.backend, e.bucket, e.key) = (share.backend_id.clone(), share.bucket.clone(), share.key.clone());
    e.detail = json!({ "code": share.code, "share_id": share.id }).to_string();
    access.audit.record(e);
    let failed = api_error(502, "backend_error", "could not fetch the shared file");
    let out = Outgoing {
        source: &source,
        range,
        headers,
        keep,
        head_only,
    };
    send_object(svc, conn, out, &failed).await
}

/// A download's source, range, disposition and key, or the answer to send instead.
#[allow(clippy::type_complexity)]
async fn prepare_download(
    svc: &AdminService,
    req: &Request,
    b: &Bkt,
) -> Result<(Source, Option<crate::backend::ByteRange>, String, String), Response> {
    let param = |n: &str| {
        req.query_param(n)
            .map_err(|_| api_error(400, "bad_request", "malformed query string"))
    };
    let key = param("key")?
        .filter(|k| !k.is_empty())
        .ok_or_else(|| api_error(400, "bad_request", "key query param is required"))?;
    let version = param("version_id")?.filter(|v| !v.is_empty());
    let disposition = match param("disposition")?.as_deref() {
        Some("inline") => "inline",
        _ => "attachment",
    };
    let source = svc
        .control
        .source_of(b, &key, version.as_deref())
        .await
        .map_err(|e| e.response())?;
    let range = range_of(req, source.describe().0)?;
    Ok((source, range, disposition.to_owned(), key))
}

/// `POST .../object`: the key and the version made, or the answer to send (after which the
/// connection closes: the rest of the body may be unread).
async fn upload(
    svc: &AdminService,
    conn: &mut Conn,
    head: &RequestHead,
    req: &Request,
    b: &Bkt,
    kind: BodyKind,
) -> Result<Result<(String, ObjectMeta), Response>, IoFailure> {
    let target = match svc.control.target(b) {
        Ok(t) => t,
        Err(e) => return Ok(Err(e.response())),
    };
    let bucket = match &target {
        Target::Virtual(bucket) => bucket.to_string(),
        Target::Direct(_) => String::new(),
    };
    if let Target::Virtual(_) = target {
        match svc.control.core().shared.store.bucket(&bucket).await {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(Err(api_error(404, "not_found", "resource not found"))),
            Err(e) => return Ok(Err(api_error(503, "store_unavailable", &e.to_string()))),
        }
    }
    let total = match kind {
        BodyKind::Length(n) => n,
        BodyKind::Chunked => return Ok(Err(api_error(411, "length_required", "Content-Length is required"))),
        BodyKind::Empty => return Ok(Err(api_error(400, "bad_request", "missing file field"))),
    };
    let (file, file_len, closing) = match read_to_file(conn, head, total).await? {
        Ok(f) => f,
        Err(FormProblem::NotAForm) => {
            return Ok(Err(api_error(
                400,
                "bad_request",
                "the body must be multipart/form-data",
            )))
        }
        Err(FormProblem::NoFile(_)) => return Ok(Err(api_error(400, "bad_request", "missing file field"))),
        Err(FormProblem::Malformed) => return Ok(Err(api_error(400, "bad_request", "malformed multipart body"))),
    };
    if file_len > crate::s3::object::MAX_PUT_SIZE {
        return Ok(Err(api_error(
            413,
            "too_large",
            "file exceeds the largest single upload (5 GiB)",
        )));
    }
    let key = file
        .key
        .clone()
        .filter(|k| !k.is_empty())
        .or(file.filename.clone())
        .unwrap_or_default();
    if key.is_empty() {
        return Ok(Err(api_error(400, "bad_request", "key field or filename is required")));
    }
    if !s3o_admin::data::key_ok(&key) {
        return Ok(Err(api_error(400, "invalid_key", "object key is invalid")));
    }
    let content_type = file
        .fields
        .iter()
        .find(|(n, _)| n == "content_type")
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
        .or(file.content_type);
    if content_type.as_deref().is_some_and(|c| c.chars().any(char::is_control)) {
        return Ok(Err(api_error(
            400,
            "bad_request",
            "content_type holds control characters",
        )));
    }
    let condition = match req.header("if-none-match").map(str::trim) {
        Some("*") => WriteCondition::IfAbsent,
        _ => WriteCondition::None,
    };
    if let Target::Direct(client) = target {
        if let Err(e) = data_direct::direct_key_ok(&b.bucket, &key) {
            return Ok(Err(e.response()));
        }
        let if_absent = condition == WriteCondition::IfAbsent;
        return upload_direct(&client, conn, (key, content_type, if_absent), file_len, &closing).await;
    }
    // Refused before the file is read, when the key is taken already (the commit checks again).
    if condition == WriteCondition::IfAbsent {
        if let Ok(Some(_)) = svc.control.core().shared.store.get_object(&bucket, &key).await {
            return Ok(Err(api_error(
                412,
                "object_exists",
                "an object already exists at this key",
            )));
        }
    }
    let stored = store_file(svc, conn, (&bucket, &key), file_len, content_type, &closing, &condition).await;
    Ok(match stored {
        Ok(meta) => Ok((key, meta)),
        Err(ProxyError::PreconditionFailed) => {
            Err(api_error(412, "object_exists", "an object already exists at this key"))
        }
        Err(ProxyError::InsufficientStorage) => Err(api_error(
            507,
            "insufficient_storage",
            "no backend has room for the upload",
        )),
        Err(ProxyError::NoSuchBucket) => Err(api_error(404, "not_found", "resource not found")),
        Err(ProxyError::InvalidRequest(why)) => Err(api_error(400, "bad_request", &why)),
        Err(e) => {
            tracing::warn!(component = "admin", bucket = %bucket, key = %key, error = %e, "upload failed");
            Err(api_error(502, "backend_error", "backend operation failed"))
        }
    })
}

/// The file of an upload form streamed to a real bucket (the closing delimiter checked before
/// the backend gets the end of it); the object as S3 described it.
async fn upload_direct(
    client: &S3Backend,
    conn: &mut Conn,
    (key, content_type, if_absent): (String, Option<String>, bool),
    file_len: u64,
    closing: &[u8],
) -> Result<Result<(String, ObjectMeta), Response>, IoFailure> {
    if if_absent {
        match client.head_object(&key).await {
            Ok(None) => {}
            Ok(Some(_)) => {
                return Ok(Err(api_error(
                    412,
                    "object_exists",
                    "an object already exists at this key",
                )))
            }
            Err(e) => return Ok(Err(data_direct::from_backend(e).response())),
        }
    }
    // An empty file's request is complete once its head is sent: its form is checked first.
    let checked_first = file_len == 0;
    let mut src = if checked_first {
        if read_tail(conn, closing).await.is_err() {
            return Ok(Err(api_error(400, "bad_request", "malformed multipart body")));
        }
        FileSource::raw(conn, 0)
    } else {
        FileSource::form_file(conn, file_len, closing)
    };
    let mut headers = Vec::new();
    if let Some(ct) = &content_type {
        headers.push(("content-type", ct.as_str()));
    }
    if if_absent {
        // Where the backend supports conditional writes, the HEAD above is not the only check.
        headers.push(("if-none-match", "*"));
    }
    match client.put_object(&key, file_len, &headers, &mut src).await {
        Ok(etag) => {
            let meta = ObjectMeta {
                size: file_len,
                etag: etag.unwrap_or_default(),
                content_type,
                ..ObjectMeta::default()
            };
            Ok(Ok((key, meta)))
        }
        Err(ProxyError::InvalidRequest(why)) => Ok(Err(api_error(400, "bad_request", &why))),
        Err(ProxyError::RequestTimeout) => Err(IoFailure::TimedOut),
        Err(ProxyError::Backend(crate::error::BackendError::Status { status: 412, .. })) => Ok(Err(api_error(
            412,
            "object_exists",
            "an object already exists at this key",
        ))),
        Err(ProxyError::Backend(e)) => Ok(Err(data_direct::from_backend(e).response())),
        Err(e) => {
            tracing::warn!(component = "admin", key = %key, error = %e, "upload to a real bucket failed");
            Ok(Err(api_error(502, "backend_error", "backend operation failed")))
        }
    }
}
