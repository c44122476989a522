//! CORS on the S3 port: Get/Put/DeleteBucketCors (the rules kept with the bucket, the bucket
//! owner's to change), the browser's preflight `OPTIONS` (answered before any signature is
//! looked at, from the rules alone: 400 without `Origin` or `Access-Control-Request-Method`, 403
//! when no rule admits it, 200 with the `Access-Control-*` headers when one does), and the CORS
//! headers every response to an admitted browser request carries, errors included (the rule is
//! picked by `Access-Control-Request-Method` when sent, else by the request's own method).

use s3o_store::cors::{find, CorsRule};
use s3o_store::BucketChange;

use crate::client::{ClientIo, RequestBody};
use crate::error::ProxyError;
use crate::http::{RequestHead, ResponseHead};
use crate::s3::acl::change_bucket;
use crate::s3::reply::{base_head, send_xml};
use crate::s3::{read_small_body, require_bucket, Ctx};
use crate::state::Core;
use crate::xml::{self, CorsError};

/// GetBucketCors (404 NoSuchCORSConfiguration without rules).
pub async fn get_bucket_cors(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    let rules = require_bucket(ctx, bucket)
        .await?
        .settings
        .cors
        .ok_or(ProxyError::NoSuchCorsConfiguration)?;
    send_xml(ctx, io, &xml::CorsConfiguration { rules: &rules }).await
}

/// PutBucketCors.
pub async fn put_bucket_cors(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    body: &mut RequestBody,
    bucket: &str,
) -> Result<(), ProxyError> {
    let doc = read_small_body(io, body, xml::MAX_CORS_BODY_BYTES).await?;
    let rules = xml::parse_cors(&doc).map_err(|e| match e {
        CorsError::Malformed(_) => ProxyError::MalformedXml,
        CorsError::Invalid(why) => ProxyError::InvalidRequest(why.into()),
    })?;
    change_bucket(ctx, io, bucket, BucketChange::Cors(Some(rules)), 200).await
}

/// DeleteBucketCors.
pub async fn delete_bucket_cors(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    change_bucket(ctx, io, bucket, BucketChange::Cors(None), 204).await
}

/// Most distinct header names a preflight may ask for (browsers send a handful).
const MAX_REQUESTED_HEADERS: usize = 64;

/// The request headers a preflight names in `Access-Control-Request-Headers`, lower-cased,
/// sorted and without repeats; `None` for more than [`MAX_REQUESTED_HEADERS`].
fn requested_headers(head: &RequestHead) -> Option<Vec<String>> {
    let mut names: Vec<String> = head
        .header("access-control-request-headers")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.dedup();
    (names.len() <= MAX_REQUESTED_HEADERS).then_some(names)
}

/// Appends `name: value\r\n`, dropping control characters from `value` (rules come from the
/// store, where a rebuild may have put anything, and never get to shape the head).
fn line(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend(value.bytes().filter(|b| *b >= 0x20 && *b != 0x7f));
    out.extend_from_slice(b"\r\n");
}

/// The `Access-Control-*` lines `rule` gives `origin`.
fn allow_lines(rule: &CorsRule, origin: &str, out: &mut Vec<u8>) {
    if rule.any_origin(origin) {
        line(out, "Access-Control-Allow-Origin", "*");
    } else {
        line(out, "Access-Control-Allow-Origin", origin);
        // An origin named by the rule may send credentials (cookies, HTTP auth), as S3 allows.
        line(out, "Access-Control-Allow-Credentials", "true");
    }
    line(out, "Access-Control-Allow-Methods", &rule.allowed_methods.join(", "));
    if !rule.expose_headers.is_empty() {
        line(out, "Access-Control-Expose-Headers", &rule.expose_headers.join(", "));
    }
    if let Some(secs) = rule.max_age_secs {
        line(out, "Access-Control-Max-Age", &secs.to_string());
    }
    line(
        out,
        "Vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    );
}

/// The CORS lines for a browser's (non-preflight) request to `bucket`, when it sends `Origin`
/// and one of the bucket's rules admits it; empty otherwise. Reads the bucket through the core's
/// cache.
pub async fn actual_lines(core: &Core, head: &RequestHead, bucket: &str) -> Result<Vec<u8>, ProxyError> {
    let mut out = Vec::new();
    let Some(origin) = head.header("origin") else {
        return Ok(out);
    };
    let Some(meta) = crate::s3::permit::view(core, bucket, true).await? else {
        return Ok(out);
    };
    let method = head
        .header("access-control-request-method")
        .unwrap_or(head.method.as_str());
    if let Some(rule) = meta
        .settings
        .cors
        .as_deref()
        .and_then(|rules| find(rules, origin, method, &[]))
    {
        allow_lines(rule, origin, &mut out);
    }
    Ok(out)
}

/// Answers a preflight `OPTIONS` to `bucket` (its key does not matter: rules are per bucket).
pub async fn preflight(
    core: &Core,
    io: &mut ClientIo,
    head: &RequestHead,
    rid: &str,
    bucket: &str,
) -> Result<(), ProxyError> {
    let (Some(origin), Some(method)) = (head.header("origin"), head.header("access-control-request-method")) else {
        return Err(ProxyError::InvalidRequest(
            "Insufficient information. Origin request header needed.".into(),
        ));
    };
    let meta = crate::s3::permit::view(core, bucket, true)
        .await?
        .ok_or(ProxyError::NoSuchBucket)?;
    let headers = requested_headers(head).ok_or(ProxyError::CorsForbidden)?;
    let names: Vec<&str> = headers.iter().map(String::as_str).collect();
    let rule = meta
        .settings
        .cors
        .as_deref()
        .and_then(|rules| find(rules, origin, method.trim(), &names))
        .ok_or(ProxyError::CorsForbidden)?;
    let mut lines = Vec::new();
    allow_lines(rule, origin, &mut lines);
    if !headers.is_empty() {
        line(&mut lines, "Access-Control-Allow-Headers", &headers.join(", "));
    }
    io.cors = lines;
    let reply: ResponseHead = base_head(200, rid).content_length(0);
    io.respond(&reply, &[]).await
}
