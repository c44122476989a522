//! Replies: the headers every response carries, XML documents and empty answers, and S3 error
//! responses (the code and status of each error are mapped in `crate::error`). Handlers and the
//! connection loop write through here; nothing here knows an operation.

use tracing::warn;

use crate::client::ClientIo;
use crate::error::{ProxyError, Source};
use crate::http::ResponseHead;
use crate::s3::Ctx;
use crate::xml::{ErrorDocument, XmlBody};

/// Sends an XML document with status 200.
pub async fn send_xml(ctx: &Ctx<'_>, io: &mut ClientIo, doc: &impl XmlBody) -> Result<(), ProxyError> {
    send_xml_with(ctx, io, doc, &[]).await
}

/// Sends an XML document with status 200 and the `extra` headers.
pub async fn send_xml_with(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    doc: &impl XmlBody,
    extra: &[(&str, String)],
) -> Result<(), ProxyError> {
    let body = doc.to_vec();
    let mut head = base_head(200, ctx.rid)
        .header("content-type", "application/xml")
        .content_length(body.len() as u64);
    for (name, value) in extra {
        head.push(name, value);
    }
    io.respond(&head, &body).await
}

/// Sends an empty response with `status`.
pub async fn send_empty(ctx: &Ctx<'_>, io: &mut ClientIo, status: u16) -> Result<(), ProxyError> {
    io.respond(&base_head(status, ctx.rid).content_length(0), &[]).await
}

/// The headers every response carries.
pub fn base_head(status: u16, rid: &str) -> ResponseHead {
    ResponseHead::new(status)
        .header("x-amz-request-id", rid)
        .header("server", "s3-orchestrator")
        .date(crate::clock::unix_now())
}

/// The response head and XML body of error `e`.
pub fn error_response(e: &ProxyError, resource: &str, rid: &str, keep_alive: bool) -> (ResponseHead, Vec<u8>) {
    // Backend and internal failures are logged in detail; the client gets S3's generic words.
    let message = match e.source_kind() {
        Source::Client => e.to_string(),
        Source::Backend => {
            warn!(request = rid, error = %e, "backend failure");
            "Service is unable to handle request.".to_string()
        }
        Source::Internal => {
            warn!(request = rid, error = %e, "internal failure");
            "We encountered an internal error. Please try again.".to_string()
        }
    };
    let body = ErrorDocument {
        code: e.code(),
        message: &message,
        resource,
        request_id: rid,
        extra: &[],
    }
    .to_vec();
    let mut head = base_head(e.status(), rid)
        .header("content-type", "application/xml")
        .content_length(body.len() as u64)
        .header("connection", if keep_alive { "keep-alive" } else { "close" });
    if let Some(secs) = e.retry_after_secs() {
        head.push("retry-after", secs.to_string());
    }
    if let ProxyError::DeleteMarker { version_id, .. } = e {
        head.push("x-amz-delete-marker", "true");
        head.push("x-amz-version-id", version_id);
    }
    // A response to HEAD carries the headers of the error but never its body.
    (head, body)
}

/// Writes `e` as an S3 XML error response (headers only for HEAD).
pub async fn write_error(
    io: &mut ClientIo,
    e: &ProxyError,
    resource: &str,
    rid: &str,
    keep_alive: bool,
    head_request: bool,
) -> Result<(), ProxyError> {
    let (head, body) = error_response(e, resource, rid, keep_alive);
    io.respond(&head, if head_request { &[] } else { &body }).await
}
