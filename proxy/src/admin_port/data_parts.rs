//! `PUT .../multipart/parts/{part}?key=&upload_id=`: one part of a data API multipart upload,
//! its raw body (with a `Content-Length`) streamed straight to the upload's backend as an S3
//! UploadPart's is — the bucket's quota, the backend's monthly limits and quota checked first,
//! the bytes hashed on the way — and recorded; a real bucket's part goes straight to its
//! backend's upload. A part is never held whole.

use s3o_admin::data::Bkt;
use s3o_admin::{Request, Response};
use s3o_store::Part;
use serde_json::json;

use super::conn::Conn;
use super::data_direct::Target;
use super::stream::IoFailure;
use super::transfer::FileSource;
use super::AdminService;
use crate::error::ProxyError;
use crate::http::BodyKind;
use crate::s3::object::MAX_PUT_SIZE;

fn api_error(status: u16, code: &str, message: &str) -> Response {
    s3o_admin::api::api_error(status, code, message)
}

/// Stores the part; the answer to send, and whether the connection can go on (not after a
/// refusal that left the body unread).
pub(super) async fn serve(
    svc: &AdminService,
    conn: &mut Conn,
    req: &Request,
    b: &Bkt,
    part: &str,
    kind: BodyKind,
) -> Result<(Response, bool), IoFailure> {
    let checked = async {
        let (key, upload_id, number, len) = check(req, part, kind)?;
        match svc.control.target_key(b, &key).map_err(|e| e.response())? {
            Target::Virtual(_) => {
                let upload = svc
                    .control
                    .upload_of(b, &key, &upload_id)
                    .await
                    .map_err(|e| e.response())?;
                Ok((Ok(upload), number, len))
            }
            Target::Direct(client) => Ok((Err((client, key, upload_id)), number, len)),
        }
    };
    let (upload, number, len) = match checked.await {
        Ok(c) => c,
        Err(resp) => return Ok((resp, kind == BodyKind::Empty)),
    };
    let upload = match upload {
        Ok(u) => u,
        // A real bucket's upload: the part goes straight to its backend.
        Err((client, key, upload_id)) => {
            let mut src = FileSource::raw(conn, len);
            let put = client.upload_part(&key, &upload_id, number, len, &[], &mut src).await;
            return Ok(match put {
                Ok(etag) => {
                    let etag = etag.unwrap_or_default();
                    (part_answer(number, &etag, len), true)
                }
                Err(ProxyError::Backend(e)) => (super::data_direct::from_backend(e).response(), false),
                Err(e) => {
                    tracing::warn!(component = "admin", bucket = %b.bucket, error = %e, "data API part not stored");
                    (api_error(502, "backend_error", "backend operation failed"), false)
                }
            });
        }
    };
    let core = svc.control.core();
    let shared = &core.shared;
    let stored = async {
        crate::s3::placement::within_quota(core, b.bucket.as_str(), len).await?;
        let snap = core.snapshot();
        let limits = snap.backend(&upload.backend).map(|x| x.limits).unwrap_or_default();
        let stored_len = crate::seal::write::part_stored_len(&upload, len);
        let permit = shared
            .gate
            .admit(
                &upload.backend,
                &limits,
                crate::orchestrator::limits::Cost::write(stored_len),
                &shared.metrics,
            )
            .ok_or(ProxyError::InsufficientStorage)?;
        let reservation = shared
            .store
            .reserve(&upload.backend, stored_len, snap.quota(&upload.backend))
            .await?;
        let backend = core.backend(&upload.backend)?;
        let unique = shared.store.next_version().await?;
        let mut src = FileSource::raw(conn, len);
        let put = crate::seal::write::put_part(core, &upload, &backend, number, unique, len, &[], &mut src).await;
        drop(permit);
        let mut part = Part {
            number,
            size: len,
            etag: format!("\"{}\"", src.md5_hex()),
            last_modified_ms: crate::clock::unix_ms(),
            ..Part::default()
        };
        let put = put?.fill(&mut part);
        part.backend_etag = put.etag;
        part.backend_ref = put.backend_ref;
        shared
            .store
            .put_part(&upload.upload_id, &part, Some(reservation))
            .await?;
        Ok::<_, ProxyError>(part)
    }
    .await;
    Ok(match stored {
        Ok(p) => (part_answer(p.number, &p.etag, p.size), true),
        Err(ProxyError::QuotaExceeded) => (
            api_error(
                507,
                "quota_exceeded",
                "bucket hard quota exceeded — delete objects or raise the quota",
            ),
            false,
        ),
        Err(ProxyError::InsufficientStorage) => (api_error(507, "insufficient_storage", "no room for the part"), false),
        Err(e) => {
            tracing::warn!(component = "admin", bucket = %b.bucket, error = %e, "data API part not stored");
            (api_error(502, "backend_error", "backend operation failed"), false)
        }
    })
}

/// The answer to a stored part.
fn part_answer(number: u32, etag: &str, size: u64) -> Response {
    Response::json(200, &json!({ "part_number": number, "etag": etag, "size": size }))
}

/// The key, the upload id, the part number and its length, or the refusal to send.
fn check(req: &Request, part: &str, kind: BodyKind) -> Result<(String, String, u32, u64), Response> {
    let param = |n: &str| req.query_param(n).ok().flatten().filter(|v| !v.is_empty());
    let (Some(key), Some(upload_id)) = (param("key"), param("upload_id")) else {
        return Err(api_error(
            400,
            "bad_request",
            "key and upload_id query params are required",
        ));
    };
    let number = part
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| api_error(400, "bad_request", "part must be an integer between 1 and 10000"))?;
    let len = match kind {
        BodyKind::Length(n) if n > 0 => n,
        _ => {
            return Err(api_error(
                411,
                "length_required",
                "Content-Length is required for part uploads",
            ))
        }
    };
    if len > MAX_PUT_SIZE {
        return Err(api_error(413, "too_large", "part exceeds 5 GiB ceiling"));
    }
    Ok((key, upload_id, number, len))
}
