//! The admin port's orchestration endpoints on this proxy: each [`Orchestration`] request goes
//! to the module that owns it (replicator, over-replication, drain, removal, rebalance and
//! clean-excess jobs), answered in seed 000's shapes.

use s3o_admin::{Error, Orchestration};
use serde_json::json;

use crate::error::ProxyError;
use crate::orchestrator::{drain, excess, jobs, removal, replicator};
use crate::state::Core;

fn internal(e: ProxyError) -> Error {
    Error::Internal(e.to_string())
}

/// Answers one orchestration request on the admin thread's core.
pub async fn handle(core: &Core, op: &Orchestration) -> Result<(u16, serde_json::Value), Error> {
    let shared = &core.shared;
    match op {
        Orchestration::Replicate => {
            if !excess::replication_configured(&core.snapshot()) {
                let reason = "replication not configured or factor <= 1";
                return Ok((200, json!({"status": "skipped", "copies_created": 0, "reason": reason})));
            }
            let created = replicator::run_cycle(core).await.map_err(internal)?;
            Ok((200, json!({"status": "ok", "copies_created": created})))
        }
        Orchestration::OverReplication => excess::report(shared).await.map_err(internal),
        Orchestration::CleanOverReplication(batch) => excess::run_now(core, *batch).await.map_err(internal),
        Orchestration::DrainStart(name) => drain::start(shared, name).await,
        Orchestration::DrainStatus(name) => drain::status(shared, name).await,
        Orchestration::DrainCancel(name) => drain::cancel(shared, name).await,
        Orchestration::RemoveBackend { name, purge } => removal::remove(core, name, *purge).await,
        Orchestration::Rebalance => jobs::REBALANCE.request(shared).await.map_err(internal),
        Orchestration::RebalanceStatus => jobs::REBALANCE.status(shared).await.map_err(internal),
        Orchestration::CleanExcess => jobs::CLEAN_EXCESS.request(shared).await.map_err(internal),
        Orchestration::CleanExcessStatus => jobs::CLEAN_EXCESS.status(shared).await.map_err(internal),
    }
}
