//! The cleanup worker: deletes superseded, deleted and aborted physical objects from the backends
//! through the store's durable queue, retrying with backoff. It deletes by physical key only, so
//! it can never remove a newer object of the same name. It also reaps multipart uploads older
//! than `limits.multipart_expiry_secs`, aborting them through the same queue.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, warn};

use crate::backend::Backend;
use crate::state::Shared;

/// How often the queue is polled when idle.
const POLL: Duration = Duration::from_millis(500);
/// Tasks taken per round.
const BATCH: usize = 64;

/// Starts the worker thread (its own runtime and backend clients).
pub fn spawn_worker(shared: Arc<Shared>) {
    let r = std::thread::Builder::new().name("s3o-cleanup".into()).spawn(move || {
        let rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build();
        let mut rt = match rt {
            Ok(rt) => rt,
            Err(e) => {
                warn!(error = %e, "cleanup worker: no runtime");
                return;
            }
        };
        rt.block_on(run(shared));
    });
    if let Err(e) = r {
        warn!(error = %e, "cleanup worker not started");
    }
}

async fn run(shared: Arc<Shared>) {
    let mut backends: HashMap<String, Rc<Backend>> = HashMap::new();
    for b in &shared.cfg.backends {
        match Backend::new(b, &shared.cfg.limits) {
            Ok(be) => {
                backends.insert(b.name.clone(), Rc::new(be));
            }
            Err(e) => warn!(backend = %b.name, error = %e, "cleanup worker cannot reach backend"),
        }
    }
    let mut last_reap: Option<std::time::Instant> = None;
    while !shared.stopping() {
        if last_reap.is_none_or(|t| t.elapsed() >= REAP_EVERY) {
            reap_uploads(&shared, crate::clock::unix_ms());
            last_reap = Some(std::time::Instant::now());
        }
        let done = run_once(&shared, &backends).await;
        if done == 0 {
            monoio::time::sleep(POLL).await;
        }
    }
}

/// How often expired multipart uploads are looked for.
const REAP_EVERY: Duration = Duration::from_secs(60);

/// Aborts the multipart uploads begun more than `multipart_expiry_secs` before `now_ms`; their
/// parts go through the cleanup queue. Returns how many were aborted.
pub fn reap_uploads(shared: &Shared, now_ms: u64) -> usize {
    let age_ms = shared.cfg.limits.multipart_expiry_secs.saturating_mul(1000);
    // Records of completed uploads (kept for repeated Completes) go after the same time.
    if let Err(e) = shared.store.forget_completed_before(now_ms.saturating_sub(age_ms)) {
        warn!(error = %e, "completed-upload records not pruned");
    }
    let expired = match shared
        .store
        .uploads_initiated_before(now_ms.saturating_sub(age_ms), BATCH)
    {
        Ok(u) => u,
        Err(e) => {
            warn!(error = %e, "multipart uploads unreadable");
            return 0;
        }
    };
    let mut aborted = 0;
    for u in expired {
        match shared.store.abort_upload(&u.upload_id) {
            Ok((_, ticket)) => {
                drop(ticket);
                aborted += 1;
                tracing::info!(bucket = %u.bucket, key = %u.key, upload = %u.upload_id, "expired multipart upload aborted");
            }
            Err(e) => warn!(upload = %u.upload_id, error = %e, "expired multipart upload not aborted"),
        }
    }
    aborted
}

/// Processes the tasks due now; returns how many were attempted.
pub async fn run_once(shared: &Shared, backends: &HashMap<String, Rc<Backend>>) -> usize {
    run_once_at(shared, backends, crate::clock::unix_ms()).await
}

/// Processes the tasks due at `now` (milliseconds since the epoch); returns how many were attempted.
pub async fn run_once_at(shared: &Shared, backends: &HashMap<String, Rc<Backend>>, now: u64) -> usize {
    let tasks = match shared.store.due_cleanup(now, BATCH) {
        Ok(t) => t,
        Err(e) => {
            warn!(error = %e, "cleanup queue unreadable");
            return 0;
        }
    };
    let n = tasks.len();
    for t in tasks {
        let result = match backends.get(&t.backend) {
            Some(b) => match &t.upload_id {
                Some(upload_id) => b.abort_upload(&t.physical_key, upload_id).await,
                None => b.delete(&t.physical_key).await,
            }
            .map_err(|e| e.to_string()),
            None => Err(format!("backend {} is no longer configured", t.backend)),
        };
        match result {
            Ok(()) => {
                debug!(backend = %t.backend, key = %t.physical_key, "cleaned up");
                if let Ok(ticket) = shared.store.complete_cleanup(t.id) {
                    let _ = ticket.await;
                }
            }
            Err(e) => {
                warn!(backend = %t.backend, key = %t.physical_key, attempts = t.attempts, error = %e, "cleanup failed; will retry");
                if let Ok((_, ticket)) = shared.store.retry_cleanup(t.id, now) {
                    let _ = ticket.await;
                }
            }
        }
    }
    n
}
