//! Handlers of `{ui}/api/*` (session-authenticated): the dashboard, the tree browser, the log
//! view, deletes and sync. Upload and download are streamed by the proxy ([`crate::stream`]).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::control::{Control, Dashboard, TreePage, TreeQuery};
use crate::error::Error;
use crate::http::{Request, Response};
use crate::keys::{ObjectKey, ObjectPrefix};
use crate::logbuf::LogQuery;

/// Largest page `{ui}/api/tree` returns, and its default (seed 000: "1-200, default: 200").
pub(crate) const TREE_MAX_KEYS: usize = 200;

#[derive(Serialize)]
struct DashboardBody<'a> {
    #[serde(flatten)]
    data: &'a Dashboard,
    #[serde(rename = "TopLevelEntries")]
    top_level_entries: &'a TreePage,
}

pub(super) async fn dashboard(ctl: &dyn Control) -> Response {
    let data = match ctl.dashboard().await {
        Ok(d) => d,
        Err(e) => return Response::from_error(&e),
    };
    let top = TreeQuery {
        prefix: String::new(),
        start_after: String::new(),
        max_keys: TREE_MAX_KEYS,
    };
    match ctl.tree(&top).await {
        Ok(page) => Response::json(
            200,
            &DashboardBody {
                data: &data,
                top_level_entries: &page,
            },
        ),
        Err(e) => Response::from_error(&e),
    }
}

/// Reads `prefix`, `startAfter` and `maxKeys` (1–200, default 200; empty means the default, as
/// every empty parameter of the UI API means unset).
fn tree_query(req: &Request) -> Result<TreeQuery, Error> {
    let mut q = TreeQuery {
        prefix: String::new(),
        start_after: String::new(),
        max_keys: TREE_MAX_KEYS,
    };
    for (k, v) in req.query_params()? {
        match k.as_str() {
            "prefix" => q.prefix = v,
            "startAfter" => q.start_after = v,
            "maxKeys" if v.is_empty() => {}
            "maxKeys" => {
                q.max_keys = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=TREE_MAX_KEYS).contains(n))
                    .ok_or_else(|| Error::bad_request("maxKeys must be an integer from 1 to 200"))?;
            }
            _ => {}
        }
    }
    Ok(q)
}

pub(super) async fn tree(req: &Request, ctl: &dyn Control) -> Response {
    let q = match tree_query(req) {
        Ok(q) => q,
        Err(e) => return Response::from_error(&e),
    };
    match ctl.tree(&q).await {
        Ok(page) => Response::json(200, &page),
        Err(e) => Response::from_error(&e),
    }
}

pub(super) fn logs(req: &Request, ctl: &dyn Control) -> Response {
    let q = match req.query_params().and_then(|p| LogQuery::from_params(&p)) {
        Ok(q) => q,
        Err(e) => return Response::from_error(&e),
    };
    let entries = ctl.logs().query(&q);
    let view: Vec<&crate::logbuf::LogEntry> = entries.iter().map(|e| &**e).collect();
    Response::json(200, &view)
}

#[derive(Deserialize)]
struct KeyBody {
    key: Option<String>,
}

pub(super) async fn delete(req: &Request, ctl: &dyn Control) -> Response {
    let body: KeyBody = match req.json() {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let key = match body.key.as_deref().map(ObjectKey::parse) {
        Some(Ok(k)) => k,
        Some(Err(e)) => return Response::from_error(&e),
        None => return Response::error(400, "key is required"),
    };
    match ctl.delete_object(&key).await {
        Ok(()) => {
            tracing::info!(component = "admin", key = %key, "object deleted from the UI");
            Response::json(200, &json!({ "ok": true }))
        }
        Err(e) => Response::from_error(&e),
    }
}

#[derive(Deserialize)]
struct PrefixBody {
    prefix: Option<String>,
}

pub(super) async fn delete_prefix(req: &Request, ctl: &dyn Control) -> Response {
    let body: PrefixBody = match req.json() {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let prefix = match body.prefix.as_deref().map(ObjectPrefix::parse) {
        Some(Ok(p)) => p,
        Some(Err(e)) => return Response::from_error(&e),
        None => return Response::error(400, "prefix is required"),
    };
    match ctl.delete_prefix(&prefix).await {
        Ok(o) => {
            tracing::info!(
                component = "admin",
                prefix = %prefix,
                deleted = o.deleted,
                failed = o.failed,
                "prefix deleted from the UI"
            );
            if o.failed == 0 {
                Response::json(200, &json!({ "ok": true, "deleted": o.deleted }))
            } else {
                let total = o.deleted + o.failed;
                let msg = format!("{} of {total} deletes failed", o.failed);
                Response::json(500, &json!({ "error": msg, "deleted": o.deleted }))
            }
        }
        Err(e) => Response::from_error(&e),
    }
}

#[derive(Deserialize)]
struct SyncBody {
    backend: Option<String>,
    bucket: Option<String>,
    /// Only the backend's keys starting with this (beyond the seed; absent: all).
    #[serde(default)]
    prefix: Option<String>,
    /// Count what would be imported, changing nothing (beyond the seed).
    #[serde(default)]
    dry_run: Option<bool>,
}

pub(super) async fn sync(req: &Request, ctl: &dyn Control) -> Response {
    let body: SyncBody = match req.json() {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let (Some(backend), Some(bucket)) = (
        body.backend.filter(|s| !s.is_empty()),
        body.bucket.filter(|s| !s.is_empty()),
    ) else {
        return Response::error(400, "backend and bucket are required");
    };
    let prefix = body.prefix.unwrap_or_default();
    match ctl
        .sync(&backend, &bucket, &prefix, body.dry_run.unwrap_or(false))
        .await
    {
        Ok(o) => {
            tracing::info!(
                component = "admin",
                backend = %backend,
                bucket = %bucket,
                imported = o.imported,
                skipped = o.skipped,
                "backend synced from the UI"
            );
            Response::json(
                200,
                &json!({ "ok": true, "imported": o.imported, "skipped": o.skipped }),
            )
        }
        Err(e) => Response::from_error(&e),
    }
}
