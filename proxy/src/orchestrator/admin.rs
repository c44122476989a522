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

/// An internal error that keeps what went wrong.
fn detail(e: ProxyError) -> Error {
    Error::Internal(crate::server::startup_cause(&e))
}

/// Answers one orchestration request on the admin thread's core.
pub async fn handle(core: &Core, op: &Orchestration) -> Result<(u16, serde_json::Value), Error> {
    let shared = &core.shared;
    match op {
        Orchestration::Scrub(batch) => {
            let batch = batch.unwrap_or(shared.cfg.integrity.scrub_batch);
            let s = crate::integrity::scrub::run_cycle(core, batch).await.map_err(detail)?;
            Ok((200, crate::integrity::scrub::answer(&s)))
        }
        Orchestration::HashExisting => {
            let (hashed, failed, total) = crate::integrity::hash_existing::hash_existing(core)
                .await
                .map_err(detail)?;
            Ok((
                200,
                json!({"status": "complete", "hashed": hashed, "failed": failed, "total": total}),
            ))
        }
        Orchestration::RotateKey(old) => {
            if let Some(why) = crate::seal::rotate::refused(core, old) {
                return Ok((400, json!({ "error": why })));
            }
            let (rotated, failed, total) = crate::seal::rotate::rotate(core, old).await.map_err(detail)?;
            Ok((
                200,
                json!({"status": "complete", "rotated": rotated, "failed": failed, "total": total}),
            ))
        }
        Orchestration::EncryptExisting | Orchestration::DecryptExisting => {
            use crate::seal::existing::{self, Direction};
            if let Some(why) = existing::refused(core) {
                return Ok((400, json!({ "error": why })));
            }
            let (dir, word) = match op {
                Orchestration::EncryptExisting => (Direction::Seal, "encrypted"),
                _ => (Direction::Open, "decrypted"),
            };
            let (done, failed, total) = existing::run(core, dir).await.map_err(detail)?;
            Ok((
                200,
                json!({"status": "complete", word: done, "failed": failed, "total": total}),
            ))
        }
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
