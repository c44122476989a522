//! Bucket quotas and sizes (`.../quota`, `.../quota/recompute`, `.../size-tracking`,
//! `.../prefix-size`). A bucket's usage needs no scan here: the store keeps each bucket's
//! bytes and objects exact with every commit, so `recompute` reads them and every answer has
//! its usage. The hard quota is enforced on every write of both APIs (507); the soft one is
//! shown only.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use s3o_store::{BucketChange, BucketQuota, SizeTracking};

use super::dto::rfc3339;
use super::handlers::{body, key_ok, no_content, query};
use super::{Bkt, DataApi, DataError, Setting, Verb};
use crate::api::api_error;
use crate::http::{Request, Response};

/// The seed's quota DTO (its field order; zero usage omitted as the seed does).
#[derive(Serialize)]
struct QuotaView {
    configured: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    soft_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hard_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    object_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    computed_at: Option<String>,
    has_usage: bool,
}

/// What a quota route answered, and the audit action (with detail) of a change.
type Outcome = (Response, Option<&'static str>, Value);

async fn view(data: &dyn DataApi, b: &Bkt, quota: Option<&BucketQuota>) -> Result<QuotaView, DataError> {
    let (bytes, count) = data.usage(b).await?;
    let level = |v: u64| (v > 0).then_some(v);
    Ok(QuotaView {
        configured: quota.is_some(),
        soft_bytes: quota.and_then(|q| level(q.soft_bytes)),
        hard_bytes: quota.and_then(|q| level(q.hard_bytes)),
        updated_at: quota.map(|q| rfc3339(q.updated_ms)),
        updated_by: quota.map(|q| q.updated_by.clone()).filter(|u| !u.is_empty()),
        usage_bytes: level(bytes),
        object_count: level(count),
        computed_at: Some(rfc3339(crate::time::now_ms())),
        has_usage: true,
    })
}

/// Answers a quota or size-tracking setting route for user `who`.
pub(super) async fn setting(
    req: &Request,
    data: &dyn DataApi,
    b: &Bkt,
    s: Setting,
    verb: Verb,
    who: &str,
) -> Result<Outcome, Response> {
    let fail = |e: DataError| e.response();
    let settings = data.settings(b).await.map_err(fail)?;
    Ok(match (s, verb) {
        (Setting::Quota, Verb::Get) => {
            let v = view(data, b, settings.quota.as_ref()).await.map_err(fail)?;
            (Response::json(200, &v), None, Value::Null)
        }
        (Setting::Quota, Verb::Put) => {
            #[derive(Deserialize)]
            struct Body {
                #[serde(default)]
                soft_bytes: i64,
                #[serde(default)]
                hard_bytes: i64,
            }
            let q: Body = body(req, 1024)?;
            let invalid = |m: &str| api_error(400, "invalid_quota", m);
            if q.soft_bytes < 0 || q.hard_bytes < 0 {
                return Err(invalid("byte values must be non-negative"));
            }
            if q.soft_bytes == 0 && q.hard_bytes == 0 {
                return Err(invalid(
                    "set at least one of soft_bytes or hard_bytes; DELETE the resource to clear",
                ));
            }
            if q.soft_bytes > 0 && q.hard_bytes > 0 && q.soft_bytes > q.hard_bytes {
                return Err(invalid("soft_bytes must be less than or equal to hard_bytes"));
            }
            let quota = BucketQuota {
                soft_bytes: q.soft_bytes.unsigned_abs(),
                hard_bytes: q.hard_bytes.unsigned_abs(),
                updated_ms: crate::time::now_ms(),
                updated_by: who.to_owned(),
            };
            data.change(b, BucketChange::Quota(Some(quota.clone())))
                .await
                .map_err(fail)?;
            let v = view(data, b, Some(&quota)).await.map_err(fail)?;
            let detail = json!({ "hard_bytes": quota.hard_bytes, "soft_bytes": quota.soft_bytes });
            (Response::json(200, &v), Some("quota.set"), detail)
        }
        (Setting::Quota, _) => {
            data.change(b, BucketChange::Quota(None)).await.map_err(fail)?;
            (no_content(), Some("quota.delete"), Value::Null)
        }
        (_, Verb::Get) => {
            let on = settings.size_tracking.is_none_or(|t| t.enabled);
            (Response::json(200, &json!({ "enabled": on })), None, Value::Null)
        }
        (_, _) => {
            #[derive(Deserialize)]
            struct Body {
                #[serde(default)]
                enabled: bool,
            }
            let t: Body = body(req, 1024)?;
            let tracking = SizeTracking {
                enabled: t.enabled,
                updated_ms: crate::time::now_ms(),
                updated_by: who.to_owned(),
            };
            data.change(b, BucketChange::SizeTracking(Some(tracking.clone())))
                .await
                .map_err(fail)?;
            let mut v = json!({ "enabled": tracking.enabled, "updated_at": rfc3339(tracking.updated_ms) });
            if !who.is_empty() {
                v["updated_by"] = json!(who);
            }
            (
                Response::json(200, &v),
                Some("bucket.size_tracking.set"),
                json!({ "enabled": t.enabled }),
            )
        }
    })
}

/// `POST .../quota/recompute`: the usage as the store counts it.
pub(super) async fn recompute(data: &dyn DataApi, b: &Bkt) -> Result<Response, Response> {
    let fail = |e: DataError| e.response();
    let settings = data.settings(b).await.map_err(fail)?;
    Ok(Response::json(
        200,
        &view(data, b, settings.quota.as_ref()).await.map_err(fail)?,
    ))
}

/// `GET .../prefix-size?prefix=`.
pub(super) async fn prefix_size(req: &Request, data: &dyn DataApi, b: &Bkt) -> Result<Response, Response> {
    let prefix = query(req, "prefix")?.unwrap_or_default();
    if !prefix.is_empty() && !key_ok(&format!("{}/x", prefix.trim_matches('/'))) {
        return Err(api_error(400, "invalid_prefix", "prefix is invalid"));
    }
    let settings = data.settings(b).await.map_err(|e| e.response())?;
    if settings.size_tracking.is_some_and(|t| !t.enabled) {
        return Err(api_error(
            409,
            "size_tracking_disabled",
            "size tracking is disabled for this bucket",
        ));
    }
    let (bytes, count) = data.prefix_size(b, &prefix).await.map_err(|e| e.response())?;
    #[derive(Serialize)]
    struct Size {
        bytes: u64,
        count: u64,
        prefix: String,
        computed_at: String,
    }
    let size = Size {
        bytes,
        count,
        prefix,
        computed_at: rfc3339(crate::time::now_ms()),
    };
    Ok(Response::json(200, &size))
}
