//! Two [`crate::workers`]: the cleanup worker deletes superseded, deleted and aborted physical
//! objects from the backends through the store's durable queue, retrying with backoff. It deletes
//! by physical key only, so it can never remove a newer object of the same name. The multipart
//! reaper aborts uploads older than `limits.multipart_expiry_secs` through the same queue.
//!
//! While the metadata store cannot commit, the cleanup worker deletes nothing: a task it could
//! read then might exist only in the store's memory, never to be durable (the commit that queued
//! it failed, and the version it would delete is current again once the store has recovered).
//! Once the store commits again, each round first moves the orphans kept in memory meanwhile into
//! the queue ([`crate::orphans::requeue`]).

use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, warn};

use crate::live::BackendSet;
use crate::state::Shared;
use crate::workers::{Tick, Worker};

/// How often the queue is polled when idle.
const POLL: Duration = Duration::from_millis(500);
/// Tasks taken per round.
const BATCH: usize = 64;

/// The cleanup queue as a [`Worker`]: each tick processes the tasks due (busy while a full batch
/// was due); it fails when the queue is unreadable or a deletion failed (that task is retried
/// with backoff).
pub struct CleanupWorker {
    shared: Arc<Shared>,
    backends: BackendSet,
}

impl CleanupWorker {
    /// The worker, with its own clients of the backends (following the live state).
    pub fn new(shared: Arc<Shared>) -> CleanupWorker {
        let backends = BackendSet::empty(shared.metrics.clone(), shared.breakers.clone());
        CleanupWorker { shared, backends }
    }
}

impl Worker for CleanupWorker {
    fn name(&self) -> &'static str {
        "cleanup_queue"
    }

    fn exclusive(&self) -> bool {
        true
    }

    fn interval(&self) -> Duration {
        POLL
    }

    async fn tick(&mut self) -> Result<Tick, String> {
        let snap = self.shared.live.snapshot();
        if let Err(e) = self.backends.sync(&snap, &self.shared.cfg.limits) {
            warn!(error = %e, "cleanup worker cannot build a backend client");
        }
        let round = run_round_at(&self.shared, &self.backends, crate::clock::unix_ms()).await?;
        match round.last_error {
            Some(e) => Err(format!(
                "{} of {} deletions failed (retried later); last: {e}",
                round.failed, round.attempted
            )),
            None if round.attempted == BATCH => Ok(Tick::Busy),
            None => Ok(Tick::Idle),
        }
    }
}

/// The multipart reaper as a [`Worker`] (see [`reap_uploads`]).
pub struct ReaperWorker(pub Arc<Shared>);

impl Worker for ReaperWorker {
    fn name(&self) -> &'static str {
        "multipart_reaper"
    }

    fn exclusive(&self) -> bool {
        true
    }

    fn interval(&self) -> Duration {
        REAP_EVERY
    }

    async fn tick(&mut self) -> Result<Tick, String> {
        match reap_uploads_checked(&self.0, crate::clock::unix_ms()).await {
            (_, None) => Ok(Tick::Idle),
            (_, Some(e)) => Err(e),
        }
    }
}

/// How often expired multipart uploads are looked for.
const REAP_EVERY: Duration = Duration::from_secs(60);

/// Aborts the multipart uploads begun more than `multipart_expiry_secs` before `now_ms`; their
/// parts go through the cleanup queue. Returns how many were aborted (each durably).
pub async fn reap_uploads(shared: &Shared, now_ms: u64) -> usize {
    reap_uploads_checked(shared, now_ms).await.0
}

/// [`reap_uploads`], also returning the last error met (each is logged too).
async fn reap_uploads_checked(shared: &Shared, now_ms: u64) -> (usize, Option<String>) {
    let age_ms = shared.cfg.limits.multipart_expiry_secs.saturating_mul(1000);
    let mut failed = None;
    let mut fail = |what: String| {
        warn!(error = %what, "multipart reaper");
        failed = Some(what);
    };
    // Records of completed uploads (kept for repeated Completes) go after the same time.
    if let Err(e) = shared
        .store
        .forget_completed_before(now_ms.saturating_sub(age_ms))
        .await
    {
        fail(format!("completed-upload records not pruned: {e}"));
    }
    let expired = match shared
        .store
        .uploads_initiated_before(now_ms.saturating_sub(age_ms), BATCH)
        .await
    {
        Ok(u) => u,
        Err(e) => {
            fail(format!("multipart uploads unreadable: {e}"));
            return (0, failed);
        }
    };
    let mut aborted = 0;
    for u in expired {
        match shared.store.abort_upload(&u.upload_id).await {
            Ok(_) => {
                aborted += 1;
                tracing::info!(bucket = %u.bucket, key = %u.key, upload = %u.upload_id, "expired multipart upload aborted");
            }
            Err(e) => fail(format!("expired multipart upload {} not aborted: {e}", u.upload_id)),
        }
    }
    (aborted, failed)
}

/// Deletes `physical_key` and then, for a version's bytes, its record beside them
/// ([`crate::records`]; a missing one is success): the record goes with the data, never before.
async fn delete_with_record(
    backend: &crate::backend::Backend,
    physical_key: &str,
) -> Result<(), crate::error::BackendError> {
    backend.delete(physical_key).await?;
    if crate::records::is_physical_key(physical_key) {
        backend.delete(&crate::records::record_key(physical_key)).await?;
    }
    Ok(())
}

/// What one round of the cleanup queue did.
#[derive(Debug, Default)]
pub struct Round {
    /// Tasks attempted.
    pub attempted: usize,
    /// Of those, failed (rescheduled).
    pub failed: usize,
    /// The last failure's error.
    pub last_error: Option<String>,
}

/// Processes the tasks due at `now` (milliseconds since the epoch); returns how many were
/// attempted (0 when the queue is unreadable or the store cannot commit, which is logged).
pub async fn run_once_at(shared: &Shared, backends: &BackendSet, now: u64) -> usize {
    match run_round_at(shared, backends, now).await {
        Ok(r) => r.attempted,
        Err(e) => {
            warn!(error = %e, "cleanup round failed");
            0
        }
    }
}

/// Why the cleanup queue must wait: the store cannot commit (see the module notes).
fn store_problem(shared: &Shared) -> Option<String> {
    let why = shared.store.health().problem?;
    Some(format!("the metadata store cannot commit, cleanup waits: {why}"))
}

/// Queues the orphans kept in memory, then processes the tasks due at `now`; fails when the store
/// cannot commit or the queue cannot be read (nothing is deleted then).
pub async fn run_round_at(shared: &Shared, backends: &BackendSet, now: u64) -> Result<Round, String> {
    if let Some(why) = store_problem(shared) {
        return Err(why);
    }
    if !shared.pending_orphans.is_empty() {
        crate::orphans::requeue(shared)
            .await
            .map_err(|e| format!("orphans kept in memory not queued yet: {e}"))?;
    }
    let tasks = shared
        .store
        .due_cleanup(now, BATCH)
        .await
        .map_err(|e| format!("cleanup queue unreadable: {e}"))?;
    let mut round = Round::default();
    for t in tasks {
        if let Some(why) = store_problem(shared) {
            round.last_error = Some(why);
            break;
        }
        round.attempted += 1;
        let result = match backends.get(&t.backend).ok() {
            Some(b) => match &t.upload_id {
                Some(upload_id) => b.abort_upload(&t.physical_key, upload_id).await,
                None => delete_with_record(&b, &t.physical_key).await,
            }
            .map_err(|e| e.to_string()),
            None => Err(format!("backend {} is no longer configured", t.backend)),
        };
        match result {
            Ok(()) => {
                debug!(backend = %t.backend, key = %t.physical_key, "cleaned up");
                if let Err(e) = shared.store.complete_cleanup(t.id).await {
                    round.failed += 1;
                    round.last_error = Some(format!("deleted, but not recorded: {e}"));
                }
            }
            Err(e) if t.attempts.saturating_add(1) >= shared.cfg.cleanup.max_attempts => {
                // Given up: the task leaves the queue (and its bytes the usage); the bytes may
                // still be on the backend, where the orphan sweep finds them again.
                tracing::error!(backend = %t.backend, key = %t.physical_key, attempts = t.attempts + 1, error = %e,
                    "cleanup given up after the maximum of attempts; the orphan sweep will find the bytes if they remain");
                let dropped = shared.store.complete_cleanup(t.id).await;
                round.failed += 1;
                round.last_error = Some(match dropped {
                    Ok(()) => format!("given up: {e}"),
                    Err(r) => format!("{e} (and not given up: {r})"),
                });
            }
            Err(e) => {
                warn!(backend = %t.backend, key = %t.physical_key, attempts = t.attempts, error = %e, "cleanup failed; will retry");
                let rescheduled = shared.store.retry_cleanup(t.id, now).await;
                round.failed += 1;
                round.last_error = Some(match rescheduled {
                    Ok(_) => e,
                    Err(r) => format!("{e} (and not rescheduled: {r})"),
                });
            }
        }
    }
    Ok(round)
}
