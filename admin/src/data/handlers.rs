//! The buffered handlers of the data API: backends, buckets, the settings kept with a bucket
//! (versioning, CORS, policy, lifecycle), objects one by one and in bulk, tags, metadata,
//! versions and search. Parameters and bodies are checked here in the seed's order and words;
//! the work is [`DataApi`]'s. Every change is audited.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use s3o_store::lifecycle::{Expiration, LifecycleRule, NoncurrentExpiration, RuleFilter};
use s3o_store::policy::BucketPolicy;
use s3o_store::{BucketChange, Versioning};

use super::{settings, Bkt, DataApi, DataError, DataRoute, ListArgs};
use crate::access::Access;
use crate::api::{api_error, audit::event, Caller};
use crate::http::{Request, Response};

/// Records an audit event: action, bucket, key, detail.
type Audit<'a> = dyn Fn(&str, Option<&Bkt>, &str, Value) + 'a;

/// Most keys one bulk delete names (the cap; S3's DeleteObjects takes as many).
pub const MAX_BULK_DELETE: usize = 1000;

pub(super) async fn handle(
    route: DataRoute,
    req: &Request,
    access: &Access,
    caller: &Caller,
    data: &dyn DataApi,
) -> Response {
    match run(route, req, access, caller, data).await {
        Ok(r) | Err(r) => r,
    }
}

async fn run(
    route: DataRoute,
    req: &Request,
    access: &Access,
    caller: &Caller,
    data: &dyn DataApi,
) -> Result<Response, Response> {
    use DataRoute as R;
    let fail = |e: DataError| e.response();
    let audit = |action: &str, b: Option<&Bkt>, key: &str, detail: Value| {
        let mut e = event(req, access, &caller.user.id, action);
        if let Some(b) = b {
            e.backend.clone_from(&b.bid);
            e.bucket.clone_from(&b.bucket);
        }
        e.key = key.to_owned();
        if !detail.is_null() {
            e.detail = detail.to_string();
        }
        access.audit.record(e);
    };
    Ok(match route {
        R::Backends => Response::json(200, &json!({ "backends": data.backends().await })),
        R::Backend(bid) => {
            let found = data.backends().await.into_iter().find(|b| b.id == bid);
            Response::json(200, &found.ok_or_else(|| backend_missing().response())?)
        }
        R::BackendHealth(bid) => Response::json(200, &data.probe(&bid).await.map_err(fail)?),
        R::Buckets(bid) => Response::json(200, &json!({ "buckets": data.buckets(&bid).await.map_err(fail)? })),
        R::CreateBucket(bid) => {
            #[derive(Deserialize)]
            struct Body {
                #[serde(default)]
                name: String,
            }
            let b: Body = body(req, 4096)?;
            if !bucket_name_ok(&b.name) {
                return Err(api_error(400, "invalid_bucket_name", "bucket name is invalid"));
            }
            data.create_bucket(&bid, &b.name, &caller.user.id).await.map_err(fail)?;
            let bkt = Bkt { bid, bucket: b.name };
            audit("bucket.create", Some(&bkt), "", Value::Null);
            Response::json(201, &json!({ "name": bkt.bucket }))
        }
        R::DeleteBucket(b) => {
            data.delete_bucket(&b).await.map_err(fail)?;
            audit("bucket.delete", Some(&b), "", Value::Null);
            no_content()
        }
        R::Setting(b, s, verb) => {
            let (resp, action, detail) = settings::handle(req, data, &b, s, verb, &caller.user.id).await?;
            if let Some(action) = action {
                audit(action, Some(&b), "", detail);
            }
            resp
        }
        R::Objects(b) => {
            let args = list_args(req)?;
            Response::json(200, &data.list(&b, &args).await.map_err(fail)?)
        }
        R::ObjectInfo(b) => {
            let key = required_key(req)?;
            let version = query(req, "version_id")?;
            let info = data.info(&b, &key, version.as_deref()).await.map_err(fail)?;
            let etag = info.etag.clone().unwrap_or_default();
            Response::json(200, &info).with_header("etag", &etag)
        }
        R::DeleteObject(b) => {
            let key = required_key(req)?;
            let version = query(req, "version_id")?;
            data.delete(&b, &key, version.as_deref()).await.map_err(fail)?;
            audit("object.delete", Some(&b), &key, Value::Null);
            no_content()
        }
        R::DeleteObjects(b) => bulk_delete(req, data, &b, &audit).await?,
        R::Folder(b) => {
            #[derive(Deserialize)]
            struct Body {
                #[serde(default)]
                key: String,
            }
            let f: Body = body(req, 4096)?;
            if f.key.is_empty() {
                return Err(api_error(400, "bad_request", "key is required"));
            }
            let key = if f.key.ends_with('/') {
                f.key
            } else {
                format!("{}/", f.key)
            };
            if !key_ok(&key) {
                return Err(api_error(400, "invalid_key", "folder key is invalid"));
            }
            let made = data.put_empty(&b, &key, &caller.user.id).await.map_err(fail)?;
            audit("object.folder", Some(&b), &key, Value::Null);
            Response::json(201, &made)
        }
        R::Tags(b) => {
            let key = valid_key_param(req)?;
            let version = query(req, "version_id")?;
            let info = data.tags_of(&b, &key, version.as_deref()).await.map_err(fail)?;
            let tags: BTreeMap<String, String> = info.into_iter().collect();
            Response::json(200, &json!({ "tags": tags }))
        }
        R::SetTags(b) => {
            let key = valid_key_param(req)?;
            let version = query(req, "version_id")?;
            #[derive(Deserialize)]
            struct Body {
                #[serde(default)]
                tags: Option<BTreeMap<String, String>>,
            }
            let t: Body = body(req, 16 * 1024)?;
            let tags: Vec<(String, String)> = t.tags.unwrap_or_default().into_iter().collect();
            if tags.len() > 10 {
                return Err(api_error(400, "too_many_tags", "at most 10 tags per object"));
            }
            let bad =
                |(k, v): &(String, String)| k.is_empty() || k.len() > 128 || v.len() > 256 || k.starts_with("aws:");
            if tags.iter().any(bad) {
                return Err(api_error(
                    400,
                    "invalid_tag",
                    "tag keys must be 1–128 chars and values ≤ 256 chars",
                ));
            }
            let count = tags.len();
            data.set_tags(&b, &key, version.as_deref(), tags).await.map_err(fail)?;
            audit("object.tags.set", Some(&b), &key, json!({ "tags": count }));
            no_content()
        }
        R::SetMetadata(b) => {
            let key = valid_key_param(req)?;
            #[derive(Deserialize)]
            struct Body {
                #[serde(default)]
                metadata: Option<BTreeMap<String, String>>,
            }
            let m: Body = body(req, 16 * 1024)?;
            let metadata = metadata_of(m.metadata.unwrap_or_default())?;
            let count = metadata.len();
            let info = data.set_metadata(&b, &key, metadata).await.map_err(fail)?;
            audit("object.metadata.set", Some(&b), &key, json!({ "metadata": count }));
            Response::json(200, &info)
        }
        R::Versions(b) => {
            let key = valid_key_param(req)?;
            Response::json(
                200,
                &json!({ "versions": data.versions(&b, &key).await.map_err(fail)? }),
            )
        }
        R::CopyObject(b) => copy_object(req, data, &b, &audit).await?,
        R::RecomputeQuota(b) => super::quota::recompute(data, &b).await?,
        R::Uploads(ref b) | R::Initiate(ref b) | R::Abort(ref b) | R::Complete(ref b) => {
            let b = b.clone();
            let (resp, change) = super::multipart::handle(route, req, data).await?;
            if let Some((action, key, detail)) = change {
                audit(action, Some(&b), &key, detail);
            }
            resp
        }
        R::PrefixSize(b) => super::quota::prefix_size(req, data, &b).await?,
        R::Search => super::search::search(req, data).await,
        R::Dashboard => {
            let (by_backend, top_buckets) = data.storage().await.map_err(fail)?;
            #[derive(serde::Serialize)]
            struct Storage {
                by_backend: Vec<super::dto::BackendStorage>,
                top_buckets: Vec<super::dto::BucketStorage>,
                cache_note: &'static str,
            }
            #[derive(serde::Serialize)]
            struct Dashboard {
                requests: super::stats::RequestsView,
                storage: Storage,
            }
            let body = Dashboard {
                requests: access.api_stats.view(access.now()),
                storage: Storage {
                    by_backend,
                    top_buckets,
                    cache_note: "Storage figures are exact: the metadata store counts every commit.",
                },
            };
            Response::json(200, &body)
        }
        R::BackendsHealth => Response::json(200, &json!({ "backends": data.health().await })),
        other => return Err(not_yet(&other)),
    })
}

/// 501 for a route this instance does not serve yet.
fn not_yet(route: &DataRoute) -> Response {
    tracing::debug!(?route, "data API route not served yet");
    api_error(501, "not_supported", "this endpoint is not implemented yet")
}

/// `POST .../object/copy`: one object to another key, bucket or backend.
async fn copy_object(req: &Request, data: &dyn DataApi, b: &Bkt, audit: &Audit<'_>) -> Result<Response, Response> {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        src_key: String,
        #[serde(default)]
        dst_key: String,
        #[serde(default)]
        dst_bucket: String,
        #[serde(default)]
        dst_backend: String,
        #[serde(default)]
        version_id: String,
        #[serde(default)]
        metadata: Option<BTreeMap<String, String>>,
    }
    if !data.backends().await.iter().any(|x| x.id == b.bid) {
        return Err(backend_missing().response());
    }
    let c: Body = body(req, 16 * 1024)?;
    if c.src_key.is_empty() || c.dst_key.is_empty() {
        return Err(api_error(400, "bad_request", "src_key and dst_key are required"));
    }
    if !key_ok(&c.src_key) || !key_ok(&c.dst_key) {
        return Err(api_error(400, "invalid_key", "object key is invalid"));
    }
    let dst = Bkt {
        bid: if c.dst_backend.is_empty() {
            b.bid.clone()
        } else {
            c.dst_backend
        },
        bucket: if c.dst_bucket.is_empty() {
            b.bucket.clone()
        } else {
            c.dst_bucket
        },
    };
    if !bucket_name_ok(&dst.bucket) {
        return Err(api_error(400, "invalid_bucket", "destination bucket name is invalid"));
    }
    if dst == *b && c.dst_key == c.src_key {
        return Err(api_error(400, "bad_request", "source and destination are identical"));
    }
    // `{}` keeps the source's metadata, as the seed does; entries replace it.
    let metadata = match c.metadata.filter(|m| !m.is_empty()) {
        Some(m) => Some(metadata_of(m)?),
        None => None,
    };
    let version = Some(c.version_id.as_str()).filter(|v| !v.is_empty());
    let object = data
        .copy((b, &c.src_key, version), (&dst, &c.dst_key), metadata)
        .await
        .map_err(|e| e.response())?;
    let detail = json!({ "dst_bucket": dst.bucket, "dst_key": c.dst_key });
    audit("object.copy", Some(b), &c.src_key, detail);
    Ok(Response::json(200, &json!({ "bucket": dst.bucket, "object": object })))
}

/// A key a bulk delete could not remove (the seed's field order).
#[derive(serde::Serialize)]
struct BulkError {
    key: String,
    code: &'static str,
    message: String,
}

/// `POST .../objects/delete`.
async fn bulk_delete(req: &Request, data: &dyn DataApi, b: &Bkt, audit: &Audit<'_>) -> Result<Response, Response> {
    #[derive(Deserialize)]
    struct Item {
        key: String,
        #[serde(default)]
        version_id: Option<String>,
    }
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        keys: Vec<Item>,
    }
    // The backend and the bucket answer for the whole request (404, 403, 501).
    let probe = ListArgs {
        max_keys: Some(1),
        ..ListArgs::default()
    };
    data.list(b, &probe).await.map_err(|e| e.response())?;
    let d: Body = body(req, 1 << 20)?;
    if d.keys.is_empty() {
        return Err(api_error(400, "bad_request", "keys is required"));
    }
    if d.keys.len() > MAX_BULK_DELETE {
        return Err(api_error(400, "too_many_keys", "at most 1000 keys per bulk delete"));
    }
    let (mut deleted, mut errors) = (Vec::new(), Vec::new());
    for item in &d.keys {
        let version = item.version_id.as_deref().filter(|v| !v.is_empty());
        match data.delete(b, &item.key, version).await {
            Ok(()) => {
                let mut one = json!({ "key": item.key });
                if let Some(v) = version {
                    one["version_id"] = json!(v);
                }
                deleted.push(one);
            }
            Err(e @ (DataError::Unavailable(_) | DataError::Internal(_))) => return Err(e.response()),
            Err(e) => {
                let (code, message) = match &e {
                    DataError::NotFound(m) => ("NoSuchKey", m.clone()),
                    DataError::BadRequest(_, m) => ("InvalidArgument", m.clone()),
                    DataError::Conflict(_, m) => ("AccessDenied", m.clone()),
                    _ => ("InternalError", "delete failed".to_owned()),
                };
                errors.push(BulkError {
                    key: item.key.clone(),
                    code,
                    message,
                });
            }
        }
    }
    let detail = json!({ "deleted": deleted.len(), "errors": errors.len(), "requested": d.keys.len() });
    audit("object.bulk_delete", Some(b), "", detail);
    let errors_json = serde_json::to_value(&errors).map_err(|_| api_error(500, "internal", "internal error"))?;
    let or_null = |v: Value| {
        if v.as_array().is_some_and(Vec::is_empty) {
            Value::Null
        } else {
            v
        }
    };
    Ok(Response::json(
        200,
        &json!({ "deleted": or_null(Value::Array(deleted)), "errors": or_null(errors_json) }),
    ))
}

/// The listing arguments of `GET .../objects` (an absent `delimiter` is `/`).
fn list_args(req: &Request) -> Result<ListArgs, Response> {
    let max_keys = query(req, "max_keys")?
        .and_then(|m| m.parse::<usize>().ok())
        .filter(|m| *m > 0);
    Ok(ListArgs {
        prefix: query(req, "prefix")?.unwrap_or_default(),
        delimiter: query(req, "delimiter")?.unwrap_or_else(|| "/".into()),
        token: query(req, "token")?.filter(|t| !t.is_empty()),
        max_keys,
    })
}

/// A query parameter (400 for a malformed query).
pub(super) fn query(req: &Request, name: &str) -> Result<Option<String>, Response> {
    let value = req
        .query_param(name)
        .map_err(|_| api_error(400, "bad_request", "malformed query string"))?;
    // An empty `version_id=` names no version.
    Ok(value.filter(|v| !(name == "version_id" && v.is_empty())))
}

/// User metadata as S3 keeps it: names that are header tokens (lower-cased, each once),
/// values without control characters, at most 2 KiB in all.
pub(super) fn metadata_of(given: BTreeMap<String, String>) -> Result<Vec<(String, String)>, Response> {
    let bad = |m: &str| api_error(400, "invalid_metadata", m);
    let mut out: Vec<(String, String)> = Vec::with_capacity(given.len());
    let mut total = 0;
    for (k, v) in given {
        if k.is_empty() {
            return Err(bad("metadata keys must be non-empty"));
        }
        let control = |s: &str| s.chars().any(|c| c < ' ' || c == '\u{7f}');
        if control(&k) || control(&v) {
            return Err(bad("metadata contains control characters"));
        }
        let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if !k.chars().all(tchar) {
            return Err(bad(
                "metadata keys must be header names (letters, digits and !#$%&'*+-.^_`|~)",
            ));
        }
        let k = k.to_ascii_lowercase();
        if out.iter().any(|(o, _)| *o == k) {
            return Err(bad("metadata keys must be unique regardless of case"));
        }
        total += k.len() + v.len();
        out.push((k, v));
    }
    if total > 2048 {
        return Err(bad("metadata exceeds 2 KB"));
    }
    Ok(out)
}

/// The `key` parameter, present and not empty.
fn required_key(req: &Request) -> Result<String, Response> {
    query(req, "key")?
        .filter(|k| !k.is_empty())
        .ok_or_else(|| api_error(400, "bad_request", "key query param is required"))
}

/// The `key` parameter, present and a valid key.
fn valid_key_param(req: &Request) -> Result<String, Response> {
    query(req, "key")?
        .filter(|k| key_ok(k))
        .ok_or_else(|| api_error(400, "invalid_key", "key query param is required and must be valid"))
}

/// The seed's object key rule: 1–1024 bytes, no NUL, C0 control (but TAB) or DEL, no
/// bidirectional override, no `..` segment.
pub fn key_ok(key: &str) -> bool {
    (1..=1024).contains(&key.len())
        && !key.chars().any(|c| {
            (c < ' ' && c != '\t')
                || c == '\u{7f}'
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
        })
        && !key.split('/').any(|s| s == "..")
}

/// S3's bucket names, as the seed checks them: 3–63 of `a-z 0-9 - .`, not starting or ending
/// with `-` or `.`.
pub fn bucket_name_ok(name: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && edge(name.chars().next())
        && edge(name.chars().last())
}

/// The JSON body as `T`, at most `limit` bytes (400 `bad_request` "invalid JSON body").
pub(super) fn body<T: DeserializeOwned>(req: &Request, limit: usize) -> Result<T, Response> {
    if req.body.len() > limit {
        return Err(api_error(400, "bad_request", "invalid JSON body"));
    }
    serde_json::from_slice(&req.body).map_err(|_| api_error(400, "bad_request", "invalid JSON body"))
}

/// 204 without a body.
pub(super) fn no_content() -> Response {
    Response {
        status: 204,
        headers: Vec::new(),
        body: Default::default(),
    }
}

fn backend_missing() -> DataError {
    DataError::NotFound("backend not found".into())
}

/// The lifecycle rules of the seed's JSON shape, and back.
pub(super) mod lifecycle_json {
    use super::*;

    /// One rule as the seed shows it.
    #[derive(Debug, Default, Deserialize, serde::Serialize)]
    pub struct Rule {
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub id: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub prefix: String,
        #[serde(default)]
        pub enabled: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub expiration_days: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub noncurrent_expire_days: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub abort_incomplete_days: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub transition_days: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub transition_storage_class: Option<String>,
    }

    /// The seed's view of a stored rule.
    pub fn of(r: &LifecycleRule) -> Rule {
        Rule {
            id: r.id.clone(),
            prefix: r.filter.prefix.clone(),
            enabled: r.enabled,
            expiration_days: match r.expiration {
                Some(Expiration::Days(d)) => Some(i64::from(d)),
                _ => None,
            },
            noncurrent_expire_days: r.noncurrent.map(|n| i64::from(n.days)),
            abort_incomplete_days: r.abort_multipart_days.map(i64::from),
            ..Rule::default()
        }
    }

    /// The stored rule of a seed rule (`i`: its index, for messages and made-up ids), over
    /// `was`, the stored rule of the same id: what the seed's shape cannot say (a date
    /// expiration, removing lone delete markers, tag and size filters, the newer noncurrent
    /// versions kept) stays as it was, so a read-modify-write through this API loses nothing.
    pub fn to_rule(i: usize, r: Rule, was: Option<&LifecycleRule>) -> Result<LifecycleRule, Response> {
        let invalid = |m: String| api_error(400, "invalid_lifecycle", &m);
        let days = |d: Option<i64>| d.filter(|d| *d > 0).map(|d| u32::try_from(d).unwrap_or(u32::MAX));
        if r.transition_days.is_some_and(|d| d > 0) {
            return Err(invalid(format!(
                "rule {i}: transitions between storage classes are not supported"
            )));
        }
        let (exp, nc, abort) = (
            days(r.expiration_days),
            days(r.noncurrent_expire_days),
            days(r.abort_incomplete_days),
        );
        let kept_expiration = was
            .and_then(|w| w.expiration.clone())
            .filter(|e| !matches!(e, Expiration::Days(_)));
        if exp.is_none() && nc.is_none() && abort.is_none() && kept_expiration.is_none() {
            return Err(invalid(format!(
                "rule {i}: at least one of expiration_days, noncurrent_expire_days, abort_incomplete_days, or transition_days is required"
            )));
        }
        let base = was.cloned().unwrap_or_default();
        Ok(LifecycleRule {
            id: if r.id.is_empty() {
                format!("rule-{}", i + 1)
            } else {
                r.id
            },
            enabled: r.enabled,
            legacy_prefix: base.legacy_prefix,
            filter: RuleFilter {
                prefix: r.prefix,
                ..base.filter
            },
            expiration: exp.map(Expiration::Days).or(kept_expiration),
            noncurrent: nc.map(|days| NoncurrentExpiration {
                days,
                newer_versions: base.noncurrent.and_then(|n| n.newer_versions),
            }),
            abort_multipart_days: abort,
        })
    }
}

/// A version setting from the seed's `enabled`.
pub(super) fn versioning_of(enabled: bool) -> BucketChange {
    BucketChange::Versioning(if enabled {
        Versioning::Enabled
    } else {
        Versioning::Suspended
    })
}

/// A policy body checked as S3 would: the seed's errors for an empty or unparsable one.
pub(super) fn policy_of(text: &str, bucket: &str) -> Result<BucketPolicy, Response> {
    if text.is_empty() {
        return Err(api_error(
            400,
            "bad_request",
            "policy is empty — DELETE the resource to remove the policy",
        ));
    }
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        return Err(api_error(
            400,
            "invalid_policy",
            &format!("policy is not valid JSON: {e}"),
        ));
    }
    let policy =
        BucketPolicy::parse(text).map_err(|e| api_error(400, "invalid_policy", &format!("policy is invalid: {e}")))?;
    policy
        .check_bucket(bucket)
        .map_err(|e| api_error(400, "invalid_policy", &format!("policy is invalid: {e}")))?;
    Ok(policy)
}
