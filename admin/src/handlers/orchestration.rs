//! Handlers of the orchestration endpoints of seed 000: `POST /admin/api/replicate`,
//! `GET|POST /admin/api/over-replication`, `POST|GET|DELETE /admin/api/backends/{name}/drain`,
//! `DELETE /admin/api/backends/{name}`, and the UI's rebalance and clean-excess jobs. Each turns
//! the request into an [`Orchestration`] and answers what the [`Control`] says.

use crate::control::{Control, Orchestration};
use crate::http::{Request, Response};
use crate::route::{path_name, template, Route};

/// The orchestration request `route` names, or the error response for a bad one.
fn op(route: Route, req: &Request) -> Result<Orchestration, Response> {
    let name = || {
        path_name(template(route), &req.path)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Response::error(400, "backend name is required"))
    };
    Ok(match route {
        Route::AdminReplicate => Orchestration::Replicate,
        Route::AdminScrub => {
            #[derive(serde::Deserialize)]
            struct Body {
                batch_size: Option<usize>,
            }
            let batch = if req.body.iter().all(u8::is_ascii_whitespace) {
                None
            } else {
                req.json::<Body>()?.batch_size
            };
            if batch == Some(0) {
                return Err(Response::error(400, "batch_size must be a positive integer"));
            }
            Orchestration::Scrub(batch)
        }
        Route::AdminHashExisting => Orchestration::HashExisting,
        Route::AdminEncryptExisting => Orchestration::EncryptExisting,
        Route::AdminDecryptExisting => Orchestration::DecryptExisting,
        Route::AdminRotateKey => {
            #[derive(serde::Deserialize)]
            struct Body {
                old_key_id: Option<String>,
            }
            match req.json::<Body>()?.old_key_id {
                Some(id) if !id.trim().is_empty() => Orchestration::RotateKey(id),
                _ => return Err(Response::error(400, "old_key_id is required")),
            }
        }
        Route::AdminOverReplicationGet => Orchestration::OverReplication,
        Route::AdminOverReplicationPost => {
            let batch = match req.query_param("batch_size") {
                Ok(None) => None,
                Ok(Some(v)) => match v.parse::<usize>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => return Err(Response::error(400, "batch_size must be a positive integer")),
                },
                Err(e) => return Err(Response::from_error(&e)),
            };
            Orchestration::CleanOverReplication(batch)
        }
        Route::AdminDrainStart => Orchestration::DrainStart(name()?),
        Route::AdminDrainStatus => Orchestration::DrainStatus(name()?),
        Route::AdminDrainCancel => Orchestration::DrainCancel(name()?),
        Route::AdminBackendRemove => {
            let purge = match req.query_param("purge") {
                Ok(v) => v.is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1"),
                Err(e) => return Err(Response::from_error(&e)),
            };
            Orchestration::RemoveBackend { name: name()?, purge }
        }
        Route::UiRebalance => Orchestration::Rebalance,
        Route::UiRebalanceStatus => Orchestration::RebalanceStatus,
        Route::UiCleanExcess => Orchestration::CleanExcess,
        Route::UiCleanExcessStatus => Orchestration::CleanExcessStatus,
        _ => return Err(Response::not_found()),
    })
}

/// Answers one orchestration route.
pub(super) async fn handle(route: Route, req: &Request, ctl: &dyn Control) -> Response {
    let op = match op(route, req) {
        Ok(op) => op,
        Err(resp) => return resp,
    };
    match ctl.orchestrate(&op).await {
        Ok((status, body)) => Response::json(status, &body),
        Err(e) => Response::from_error(&e),
    }
}
