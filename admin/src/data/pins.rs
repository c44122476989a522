//! Pinned buckets (`/api/me/pins`): per user, kept in the store's document collection `pins`
//! under `{user id}/{backend id}/{bucket}` (so one user's pins are one prefix), newest first.
//! Neither the backend nor the bucket need exist (a stale pin is shown as it is).

use serde::{Deserialize, Serialize};
use serde_json::json;

use s3o_store::{DocWrite, Expect};

use super::handlers::{body, no_content};
use super::{Bkt, DataRoute};
use crate::access::records::{all, apply, encode};
use crate::access::Access;
use crate::api::{api_error, Caller};
use crate::http::{Request, Response};

/// The collection.
pub const PINS: &str = "pins";

/// A stored pin.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pin {
    backend_id: String,
    bucket: String,
    created_ms: u64,
}

fn id(user: &str, bid: &str, bucket: &str) -> String {
    format!("{user}/{bid}/{bucket}")
}

fn view(backend_id: &str, bucket: &str, created_ms: u64) -> serde_json::Value {
    json!({
        "backend_id": backend_id,
        "bucket": bucket,
        "created_at": super::dto::rfc3339(created_ms),
    })
}

/// Answers `GET|POST /api/me/pins` and `DELETE /api/me/pins/{bid}/{bucket}`.
pub(super) async fn handle(route: DataRoute, req: &Request, access: &Access, caller: &Caller) -> Response {
    let user = &caller.user.id;
    match route {
        DataRoute::Pins => match all::<Pin>(&access.store, PINS, &format!("{user}/")).await {
            Ok(mut pins) => {
                pins.sort_by_key(|p| std::cmp::Reverse(p.0.created_ms));
                let pins: Vec<_> = pins
                    .iter()
                    .map(|(p, _)| view(&p.backend_id, &p.bucket, p.created_ms))
                    .collect();
                Response::json(200, &json!({ "pins": pins }))
            }
            Err(_) => api_error(500, "internal", "list pins failed"),
        },
        DataRoute::Pin => {
            #[derive(Deserialize)]
            struct Body {
                #[serde(default)]
                backend_id: String,
                #[serde(default)]
                bucket: String,
            }
            let b: Body = match body(req, 4096) {
                Ok(b) => b,
                Err(r) => return r,
            };
            if b.backend_id.is_empty() || b.bucket.is_empty() {
                return api_error(400, "bad_request", "backend_id and bucket are required");
            }
            // One pin's id is `{user}/{backend}/{bucket}`: neither part may hold a `/`.
            let fits = |s: &str| s.len() <= 255 && !s.contains(['/', '\0']);
            if !fits(&b.backend_id) || !fits(&b.bucket) {
                return api_error(400, "bad_request", "backend_id and bucket must be names");
            }
            let now = access.now();
            let pin = Pin {
                backend_id: b.backend_id,
                bucket: b.bucket,
                created_ms: now,
            };
            let Ok(value) = encode(&pin) else {
                return api_error(500, "internal", "create pin failed");
            };
            // Pinning twice keeps the first pin.
            let write = DocWrite::create(PINS, &id(user, &pin.backend_id, &pin.bucket), value);
            match apply(&access.store, vec![write]).await {
                Ok(_) => Response::json(201, &view(&pin.backend_id, &pin.bucket, now)),
                Err(_) => api_error(500, "internal", "create pin failed"),
            }
        }
        DataRoute::Unpin(Bkt { bid, bucket }) => {
            let write = DocWrite::delete(PINS, &id(user, &bid, &bucket), Expect::Any);
            match apply(&access.store, vec![write]).await {
                Ok(_) => no_content(),
                Err(_) => api_error(500, "internal", "delete pin failed"),
            }
        }
        _ => api_error(500, "internal", "route reached the pins handler"),
    }
}
