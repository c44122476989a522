//! The buffered handlers: [`handle`] routes a request, checks its body size and its
//! authentication, and answers it from the [`Control`]. It serves every route except upload and
//! download, which the proxy streams itself (see [`crate::stream`]). Also here: `/health`,
//! `/health/ready`, `/metrics` and the OpenAPI document.

mod admin;
mod orchestration;
mod ui;

use serde_json::json;

use crate::access::Access;
use crate::api::{api_error, api_route, ApiRoute};
use crate::auth::Auth;
use crate::control::Control;
use crate::http::{Request, Response, MAX_JSON_BODY};
use crate::metrics::{write_worker_metrics, MetricsWriter, CONTENT_TYPE};
use crate::route::{route, Route};

/// The OpenAPI 3.1 description of the admin port, served at `GET /admin/api/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// Answers one buffered request: route (404/405), body cap (413), authentication (401), then the
/// route's handler. The body must already be read, up to [`MAX_JSON_BODY`]; streamed routes
/// (upload, download) are answered 500 here, since the proxy must serve them itself.
///
/// Paths of the seed-003 API (`/healthz`, `/readyz`, `/auth/*`, `/api/*`) go to [`crate::api`]
/// over `access`; without an access layer they answer 404 in that API's error shape (but
/// `/healthz` and `/readyz`, which need none).
pub async fn handle(req: &Request, auth: &Auth, ctl: &dyn Control, access: Option<&Access>) -> Response {
    if req.path == "/readyz" {
        return readyz(req, ctl).await;
    }
    if let Some(found) = api_route(&req.method, &req.path) {
        return match (found, access) {
            (Err(resp), _) => resp,
            (Ok(ApiRoute::Healthz), _) => Response::json(200, &json!({ "status": "ok" })),
            (Ok(r), Some(access)) => crate::api::handle(r, req, access, ctl.data()).await,
            (Ok(_), None) => api_error(
                404,
                "not_found",
                "the multi-user API is not enabled (see [access] in the configuration)",
            ),
        };
    }
    let route = match route(auth.ui_path(), &req.method, &req.path) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if route.takes_body() && req.body.len() > MAX_JSON_BODY {
        return Response::too_large();
    }
    if let Err(resp) = auth.authenticate(req, route) {
        return resp;
    }
    dispatch(route, req, auth, ctl).await
}

async fn dispatch(route: Route, req: &Request, auth: &Auth, ctl: &dyn Control) -> Response {
    match route {
        Route::AdminStatus => admin::status(ctl).await,
        Route::AdminWorkers => admin::workers(ctl).await,
        Route::AdminObjectLocations => admin::object_locations(req, ctl).await,
        Route::AdminCleanupQueue => admin::cleanup_queue(ctl).await,
        Route::AdminUsageFlush => admin::usage_flush(ctl).await,
        Route::AdminLogLevelGet => admin::log_level(ctl).await,
        Route::AdminLogLevelPut => admin::set_log_level(req, ctl).await,
        Route::AdminOpenApi => Response::text(200, "application/json", OPENAPI_JSON.to_owned()),
        Route::UiLogin => auth.login(req),
        Route::UiLogout => auth.logout(req),
        Route::UiDashboard => ui::dashboard(ctl).await,
        Route::UiTree => ui::tree(req, ctl).await,
        Route::UiLogs => ui::logs(req, ctl),
        Route::UiDelete => ui::delete(req, ctl).await,
        Route::UiDeletePrefix => ui::delete_prefix(req, ctl).await,
        Route::UiSync => ui::sync(req, ctl).await,
        Route::AdminReplicate
        | Route::AdminScrub
        | Route::AdminHashExisting
        | Route::AdminEncryptExisting
        | Route::AdminDecryptExisting
        | Route::AdminRotateKey
        | Route::AdminOverReplicationGet
        | Route::AdminOverReplicationPost
        | Route::AdminDrainStart
        | Route::AdminDrainStatus
        | Route::AdminDrainCancel
        | Route::AdminBackendRemove
        | Route::UiRebalance
        | Route::UiRebalanceStatus
        | Route::UiCleanExcess
        | Route::UiCleanExcessStatus => orchestration::handle(route, req, ctl).await,
        Route::UiUpload | Route::UiDownload => {
            Response::error(500, "this route is streamed by the proxy, not handled here")
        }
        Route::Health => Response::json(200, &json!({ "status": "ok" })),
        Route::HealthReady => ready(ctl).await,
        Route::Metrics => metrics(ctl).await,
    }
}

/// `GET /health/ready`: 200 when the store takes writes and at least one backend answers, else
/// 503; `reasons` lists every failed check either way.
async fn ready(ctl: &dyn Control) -> Response {
    let r = ctl.readiness().await;
    let mut reasons = Vec::new();
    if let Err(e) = &r.store {
        reasons.push(format!("store not writable: {e}"));
    }
    let mut reachable = 0usize;
    for (name, res) in &r.backends {
        match res {
            Ok(()) => reachable += 1,
            Err(e) => reasons.push(format!("backend {name} unreachable: {e}")),
        }
    }
    if reachable == 0 {
        reasons.push("no backend reachable".to_owned());
    }
    let ok = r.store.is_ok() && reachable > 0;
    let body = json!({
        "status": if ok { "ready" } else { "not ready" },
        "store_writable": r.store.is_ok(),
        "backends_reachable": reachable,
        "backends_total": r.backends.len(),
        "reasons": reasons,
    });
    Response::json(if ok { 200 } else { 503 }, &body)
}

/// `GET /readyz` (seed 003): the checks of `/health/ready`, answered `{"status": "ready"}` or 503
/// `{"status": "not ready", "reasons": [...]}`.
async fn readyz(req: &Request, ctl: &dyn Control) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return api_error(405, "method_not_allowed", "method not allowed").with_header("allow", "GET");
    }
    let full = ready(ctl).await;
    let reasons = serde_json::from_slice::<serde_json::Value>(&full.body)
        .ok()
        .and_then(|v| v.get("reasons").cloned())
        .unwrap_or_else(|| json!([]));
    if full.status == 200 {
        Response::json(200, &json!({ "status": "ready" }))
    } else {
        Response::json(503, &json!({ "status": "not ready", "reasons": reasons }))
    }
}

/// `GET /metrics`: the proxy's families, then the worker families.
async fn metrics(ctl: &dyn Control) -> Response {
    let mut w = MetricsWriter::new();
    ctl.write_metrics(&mut w).await;
    if let Some(workers) = ctl.workers().await {
        write_worker_metrics(&mut w, &workers);
    }
    Response::text(200, CONTENT_TYPE, w.finish())
}

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_ui;
