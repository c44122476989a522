//! Orchestration: what makes many backends act as one store. The placement policy over backend
//! labels ([`policy`]), monthly usage limits ([`limits`]), per-backend circuit breakers
//! ([`health`]) and the sections of the config that set them ([`config`]).

pub mod admin;
pub mod config;
pub mod copier;
pub mod drain;
pub mod excess;
pub mod health;
pub mod jobs;
pub mod limits;
pub mod policy;
pub mod probe;
pub mod rebalance;
pub mod removal;
pub mod replicator;
pub mod sweep;

/// Starts the orchestration workers that move copies (each with its own core on the worker
/// thread); one whose core cannot be built is logged and left out.
pub fn spawn_workers(s: &crate::workers::Spawner, shared: &std::sync::Arc<crate::state::Shared>) {
    let fail =
        |name: &str, e: crate::error::ProxyError| tracing::error!(error = %e, "the {name} worker could not start");
    match replicator::Replicator::new(shared.clone()) {
        Ok(w) => s.spawn(w),
        Err(e) => fail("replicator", e),
    }
    match drain::DrainWorker::new(shared.clone()) {
        Ok(w) => s.spawn(w),
        Err(e) => fail("drain", e),
    }
    match rebalance::RebalanceWorker::new(shared.clone()) {
        Ok(w) => s.spawn(w),
        Err(e) => fail("rebalancer", e),
    }
    s.spawn(sweep::SweepWorker::new(shared.clone()));
    match excess::ExcessWorker::new(shared.clone()) {
        Ok(w) => s.spawn(w),
        Err(e) => fail("over_replication_cleanup", e),
    }
    if shared.cfg.integrity.scrub_interval_secs > 0 {
        match crate::integrity::scrub::Scrubber::new(shared.clone()) {
            Ok(w) => s.spawn(w),
            Err(e) => fail("scrubber", e),
        }
    }
    if shared.cfg.lifecycle.interval_secs > 0 {
        match crate::lifecycle::LifecycleWorker::new(shared.clone()) {
            Ok(w) => s.spawn(w),
            Err(e) => fail("lifecycle", e),
        }
    }
}
