//! The data API's walks over a prefix, answered as NDJSON while they run (one JSON object per
//! line, sent as it happens, the connection closed at the end): `POST .../objects/delete-prefix`
//! removes every key under a prefix (delete markers in a versioned bucket), and
//! `POST .../objects/copy-prefix` copies every key under one prefix to another (another
//! bucket of the store too). An empty prefix is refused: a walk never covers a whole bucket by
//! accident. A client that goes away stops the walk.

use s3o_admin::data::{key_ok, Bkt, DataApi, DataRoute, ListArgs};
use s3o_admin::{Request, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::conn::{read_or_refuse, Conn, IO_TIMEOUT};
use super::stream::IoFailure;
use super::AdminService;
use crate::http::{BodyKind, ResponseHead};

fn api_error(status: u16, code: &str, message: &str) -> Response {
    s3o_admin::api::api_error(status, code, message)
}

/// A walk's lines as they go out.
struct Lines<'c> {
    conn: &'c mut Conn,
}

impl Lines<'_> {
    /// Starts the answer: 200, NDJSON, no length (the close ends it).
    async fn start(conn: &mut Conn, first: Value) -> Result<Lines<'_>, IoFailure> {
        conn.status = 200;
        let head = ResponseHead::new(200)
            .header("content-type", "application/x-ndjson")
            .header("x-accel-buffering", "no")
            .header("cache-control", "no-store")
            .header("connection", "close");
        let mut out = Vec::with_capacity(256);
        head.write_to(&mut out);
        let mut lines = Lines { conn };
        lines.conn.stream.write_all(out, IO_TIMEOUT).await?;
        lines.send(first).await?;
        Ok(lines)
    }

    /// Sends one line (keys in alphabetical order, as the seed writes them).
    async fn send(&mut self, line: Value) -> Result<(), IoFailure> {
        let mut bytes = line.to_string().into_bytes();
        bytes.push(b'\n');
        self.conn.stream.write_all(bytes, IO_TIMEOUT).await.map(drop)
    }
}

/// A prefix a walk may cover: not empty, ending with `/`, a valid key otherwise.
fn prefix_ok(p: &str) -> bool {
    p.ends_with('/') && key_ok(p)
}

/// Serves `delete-prefix` or `copy-prefix` (the gate passed); `Ok(false)`: the connection
/// closes.
pub(super) async fn serve(
    svc: &AdminService,
    conn: &mut Conn,
    req: &Request,
    route: DataRoute,
    kind: BodyKind,
    who: &str,
    keep: bool,
) -> Result<bool, IoFailure> {
    let Some(body) = read_or_refuse(conn, kind, false, true).await? else {
        return Ok(false);
    };
    let outcome = match &route {
        DataRoute::DeletePrefix(b) => delete_prefix(svc, conn, req, b, &body, who).await,
        DataRoute::CopyPrefix(b) => copy_prefix(svc, conn, req, b, &body, who).await,
        _ => Ok(Err(api_error(
            501,
            "not_supported",
            "this endpoint is not implemented yet",
        ))),
    };
    match outcome? {
        Ok(()) => Ok(false),
        Err(resp) => {
            let resp = match svc.access.as_deref() {
                Some(a) => s3o_admin::api::secured(resp, req, a),
                None => resp,
            };
            conn.respond(&resp, keep, false).await?;
            Ok(keep)
        }
    }
}

/// Records an audit event of a walk.
fn audit(svc: &AdminService, req: &Request, who: &str, action: &str, b: &Bkt, detail: Value) {
    if let Some(access) = svc.access.as_deref() {
        let mut e = s3o_admin::api::audit::event(req, access, who, action);
        (e.backend, e.bucket) = (b.bid.clone(), b.bucket.clone());
        e.detail = detail.to_string();
        access.audit.record(e);
    }
}

/// Whether bucket `b` can be walked: its backend and the bucket answer for the whole request
/// (404, 403, 501) before any line goes out.
async fn reachable(svc: &AdminService, b: &Bkt) -> Result<(), s3o_admin::data::DataError> {
    let probe = ListArgs {
        max_keys: Some(1),
        ..ListArgs::default()
    };
    DataApi::list(&svc.control, b, &probe).await.map(drop)
}

/// One page of `b`'s keys under `prefix` after `token`.
async fn page(
    svc: &AdminService,
    b: &Bkt,
    prefix: &str,
    token: Option<String>,
) -> Result<s3o_admin::data::dto::ObjectPage, s3o_admin::data::DataError> {
    let args = ListArgs {
        prefix: prefix.to_owned(),
        delimiter: String::new(),
        token,
        max_keys: Some(1000),
    };
    DataApi::list(&svc.control, b, &args).await
}

async fn delete_prefix(
    svc: &AdminService,
    conn: &mut Conn,
    req: &Request,
    b: &Bkt,
    body: &[u8],
    who: &str,
) -> Result<Result<(), Response>, IoFailure> {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        prefix: String,
    }
    let Ok(d) = serde_json::from_slice::<Body>(body) else {
        return Ok(Err(api_error(400, "bad_request", "invalid JSON body")));
    };
    if !prefix_ok(&d.prefix) {
        return Ok(Err(api_error(
            400,
            "invalid_prefix",
            "prefix is required and must end with '/'",
        )));
    }
    if let Err(e) = reachable(svc, b).await {
        return Ok(Err(e.response()));
    }
    let mut lines = Lines::start(conn, json!({ "event": "start", "prefix": d.prefix })).await?;
    let (mut deleted, mut failed, mut token) = (0u64, 0u64, None);
    loop {
        let listed = match page(svc, b, &d.prefix, token).await {
            Ok(p) => p,
            Err(_) => {
                let line = json!({"code": "list_failed", "event": "error", "message": "listing prefix failed"});
                lines.send(line).await?;
                break;
            }
        };
        for o in &listed.objects {
            match DataApi::delete(&svc.control, b, &o.key, None).await {
                Ok(()) => {
                    deleted += 1;
                    lines.send(json!({ "event": "object", "key": o.key })).await?;
                }
                Err(e) => {
                    failed += 1;
                    let shown: Value = serde_json::from_slice(&e.response().body).unwrap_or(Value::Null);
                    let (code, message) = (&shown["error"]["code"], &shown["error"]["message"]);
                    let line = json!({"code": code, "event": "error", "key": o.key, "message": message});
                    lines.send(line).await?;
                }
            }
        }
        if !listed.is_truncated {
            break;
        }
        token = Some(listed.next_continuation_token);
    }
    lines
        .send(json!({ "deleted": deleted, "event": "done", "failed": failed }))
        .await?;
    let detail = json!({ "deleted": deleted, "failed": failed, "prefix": d.prefix });
    audit(svc, req, who, "object.delete_prefix", b, detail);
    Ok(Ok(()))
}

async fn copy_prefix(
    svc: &AdminService,
    conn: &mut Conn,
    req: &Request,
    b: &Bkt,
    body: &[u8],
    who: &str,
) -> Result<Result<(), Response>, IoFailure> {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        src_prefix: String,
        #[serde(default)]
        dst_prefix: String,
        #[serde(default)]
        dst_bucket: String,
        #[serde(default)]
        dst_backend: String,
        #[serde(default)]
        metadata: Option<std::collections::BTreeMap<String, String>>,
    }
    let Ok(c) = serde_json::from_slice::<Body>(body) else {
        return Ok(Err(api_error(400, "bad_request", "invalid JSON body")));
    };
    if !prefix_ok(&c.src_prefix) || !(c.dst_prefix.is_empty() || prefix_ok(&c.dst_prefix)) {
        return Ok(Err(api_error(
            400,
            "invalid_prefix",
            "src_prefix must end with '/' and dst_prefix be empty or end with '/'",
        )));
    }
    let dst = Bkt {
        bid: if c.dst_backend.is_empty() {
            b.bid.clone()
        } else {
            c.dst_backend.clone()
        },
        bucket: if c.dst_bucket.is_empty() {
            b.bucket.clone()
        } else {
            c.dst_bucket.clone()
        },
    };
    if !s3o_admin::data::bucket_name_ok(&dst.bucket) {
        return Ok(Err(api_error(
            400,
            "invalid_bucket",
            "destination bucket name is invalid",
        )));
    }
    if dst == *b && c.dst_prefix.starts_with(&c.src_prefix) {
        return Ok(Err(api_error(
            400,
            "bad_request",
            "destination prefix must be outside the source prefix on the same bucket",
        )));
    }
    for bucket in [b, &dst] {
        if let Err(e) = reachable(svc, bucket).await {
            return Ok(Err(e.response()));
        }
    }
    // `{}` keeps each source's metadata; entries replace it (header names, 2 KiB, as S3's).
    let metadata: Option<Vec<(String, String)>> = c
        .metadata
        .as_ref()
        .filter(|m| !m.is_empty())
        .map(|m| m.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect());
    let token = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(ch))
    };
    let fits = metadata.as_ref().is_none_or(|m| {
        m.iter().all(|(k, v)| token(k) && !v.chars().any(char::is_control))
            && m.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() <= 2048
    });
    if !fits {
        return Ok(Err(api_error(
            400,
            "invalid_metadata",
            "metadata must be header names and values within 2 KB",
        )));
    }
    let first = json!({ "dst_prefix": c.dst_prefix, "event": "start", "src_prefix": c.src_prefix });
    let mut lines = Lines::start(conn, first).await?;
    let (mut copied, mut failed, mut bytes, mut next) = (0u64, 0u64, 0u64, None);
    let mut listed_all = true;
    loop {
        let listed = match page(svc, b, &c.src_prefix, next).await {
            Ok(p) => p,
            Err(_) => {
                let line = json!({"code": "list_failed", "event": "error", "message": "listing source prefix failed"});
                lines.send(line).await?;
                listed_all = false;
                break;
            }
        };
        for o in &listed.objects {
            let rest = o.key.strip_prefix(&c.src_prefix).unwrap_or(&o.key);
            let dst_key = format!("{}{rest}", c.dst_prefix);
            if dst_key.is_empty() {
                continue;
            }
            match DataApi::copy(&svc.control, (b, &o.key, None), (&dst, &dst_key), metadata.clone()).await {
                Ok(done) => {
                    copied += 1;
                    bytes += done.size;
                    let line = json!({"dst": dst_key, "event": "object", "size": done.size, "src": o.key});
                    lines.send(line).await?;
                }
                Err(_) => {
                    failed += 1;
                    let line = json!({"code": "copy_failed", "dst": dst_key, "event": "error", "message": "copy failed", "src": o.key});
                    lines.send(line).await?;
                }
            }
        }
        if !listed.is_truncated {
            break;
        }
        next = Some(listed.next_continuation_token);
    }
    lines
        .send(json!({ "bytes": bytes, "copied": copied, "event": "done", "failed": failed }))
        .await?;
    if !listed_all {
        // As the seed: a walk cut short by its listing is not audited.
        return Ok(Ok(()));
    }
    let detail = json!({"bytes": bytes, "copied": copied, "dst_backend": dst.bid, "dst_bucket": dst.bucket,
        "dst_prefix": c.dst_prefix, "failed": failed, "src_prefix": c.src_prefix});
    audit(svc, req, who, "object.copy_prefix", b, detail);
    Ok(Ok(()))
}
