//! Handlers of `/admin/api/*` (token-authenticated): status, workers, object locations, the
//! cleanup queue, usage flush and the runtime log level. Each answers seed 000's JSON exactly.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::control::{CleanupQueue, Control, ObjectLocation};
use crate::http::{Request, Response};
use crate::keys::ObjectKey;
use crate::level::LogLevel;

/// Items `/admin/api/cleanup-queue` lists at most (seed 000: "up to 50").
pub(crate) const CLEANUP_QUEUE_ITEMS: usize = 50;

pub(super) async fn status(ctl: &dyn Control) -> Response {
    match ctl.status().await {
        Ok(s) => Response::json(200, &s),
        Err(e) => Response::from_error(&e),
    }
}

pub(super) async fn workers(ctl: &dyn Control) -> Response {
    match ctl.workers().await {
        Some(w) => Response::json(200, &json!({ "workers": w })),
        None => Response::error(503, "no worker pool"),
    }
}

#[derive(Serialize)]
struct Locations<'a> {
    key: String,
    locations: &'a [ObjectLocation],
}

pub(super) async fn object_locations(req: &Request, ctl: &dyn Control) -> Response {
    let key = match req.query_param("key") {
        Ok(Some(k)) if !k.is_empty() => k,
        Ok(_) => return Response::error(400, "key is required"),
        Err(e) => return Response::from_error(&e),
    };
    let key = match ObjectKey::parse(&key) {
        Ok(k) => k,
        Err(e) => return Response::from_error(&e),
    };
    match ctl.object_locations(&key).await {
        Ok(locations) => Response::json(
            200,
            &Locations {
                key: key.to_string(),
                locations: &locations,
            },
        ),
        Err(e) => Response::from_error(&e),
    }
}

pub(super) async fn cleanup_queue(ctl: &dyn Control) -> Response {
    match ctl.cleanup_queue(CLEANUP_QUEUE_ITEMS).await {
        Ok(mut q) => {
            q.items.truncate(CLEANUP_QUEUE_ITEMS);
            Response::json(
                200,
                &CleanupQueue {
                    depth: q.depth,
                    items: q.items,
                },
            )
        }
        Err(e) => Response::from_error(&e),
    }
}

pub(super) async fn usage_flush(ctl: &dyn Control) -> Response {
    match ctl.flush_usage().await {
        Ok(()) => {
            tracing::info!(component = "admin", "usage counters flushed on request");
            Response::json(200, &json!({ "status": "flushed" }))
        }
        Err(e) => Response::from_error(&e),
    }
}

pub(super) async fn log_level(ctl: &dyn Control) -> Response {
    Response::json(200, &json!({ "level": ctl.log_level().await }))
}

#[derive(Deserialize)]
struct LevelBody {
    level: Option<String>,
}

pub(super) async fn set_log_level(req: &Request, ctl: &dyn Control) -> Response {
    let body: LevelBody = match req.json() {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let Some(level) = body.level else {
        return Response::error(400, "level is required");
    };
    let level: LogLevel = match level.parse() {
        Ok(l) => l,
        Err(e) => return Response::from_error(&e),
    };
    match ctl.set_log_level(level).await {
        Ok(()) => {
            tracing::info!(component = "admin", level = level.as_str(), "log level changed");
            Response::json(200, &json!({ "level": level }))
        }
        Err(e) => Response::from_error(&e),
    }
}
