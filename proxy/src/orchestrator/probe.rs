//! The `health_probe` worker: probes every backend every `[health] probe_interval_secs`, on every
//! instance (breakers are per process), so a breaker opened by failed requests closes again once
//! its backend answers, and a backend nobody sends requests to is still known to be down (a
//! write skips it at once instead of failing on it first). UI-managed backends (S3 endpoints of
//! the data API) are probed too, for their health history; they take no traffic of ours, so
//! their failures are logged, not the worker's.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::live::BackendSet;
use crate::state::Shared;
use crate::workers::{Tick, Worker};

/// The `health_probe` worker.
pub struct ProbeWorker {
    shared: Arc<Shared>,
    backends: BackendSet,
    /// Which backends the last round found down, to log changes only.
    down: std::collections::BTreeSet<String>,
}

impl ProbeWorker {
    /// The worker, with its own clients of the backends.
    pub fn new(shared: Arc<Shared>) -> ProbeWorker {
        let backends = BackendSet::empty(shared.metrics.clone(), shared.breakers.clone());
        ProbeWorker {
            shared,
            backends,
            down: Default::default(),
        }
    }
}

impl Worker for ProbeWorker {
    fn name(&self) -> &'static str {
        "health_probe"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(self.shared.cfg.health.probe_interval_secs)
    }

    async fn tick(&mut self) -> Result<Tick, String> {
        let snap = self.shared.live.snapshot();
        if let Err(e) = self.backends.sync(&snap, &self.shared.cfg.limits) {
            warn!(error = %e, "health probe cannot build a backend client");
        }
        let mut failed = Vec::new();
        for b in &snap.backends {
            let Ok(client) = self.backends.get(&b.name) else {
                continue;
            };
            // The outcome reaches the backend's breaker through its client.
            let started = std::time::Instant::now();
            let outcome = client.probe().await;
            self.shared.breakers.record_probe(
                &b.name,
                crate::orchestrator::health::ProbeRecord {
                    at_ms: crate::clock::unix_ms(),
                    healthy: outcome.is_ok(),
                    latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    error: outcome.as_ref().err().map(ToString::to_string),
                },
            );
            match outcome {
                Ok(()) => {
                    if self.down.remove(&b.name) {
                        info!(backend = %b.name, "backend answers again");
                    }
                }
                Err(e) => {
                    if self.down.insert(b.name.clone()) {
                        warn!(backend = %b.name, error = %e, "backend probe failed");
                    }
                    failed.push(b.name.clone());
                }
            }
        }
        // All at once: an endpoint that does not answer costs the round its 5 s, not 5 s each.
        let probes: Vec<_> = snap
            .access
            .endpoints
            .iter()
            .map(|e| {
                let (cfg, shared) = (e.cfg.clone(), self.shared.clone());
                monoio::spawn(async move { crate::backend::s3::probe_service(&cfg, &shared.cfg.limits).await })
            })
            .collect();
        for (e, probe) in snap.access.endpoints.iter().zip(probes) {
            let (error, latency_ms) = probe.await;
            let name = &e.cfg.name;
            match &error {
                None if self.down.remove(name) => info!(endpoint = %name, "endpoint answers again"),
                Some(why) if self.down.insert(name.clone()) => {
                    warn!(endpoint = %name, error = %why, "endpoint probe failed");
                }
                _ => {}
            }
            let record = crate::orchestrator::health::ProbeRecord {
                at_ms: crate::clock::unix_ms(),
                healthy: error.is_none(),
                latency_ms,
                error,
            };
            self.shared.breakers.record_probe(name, record);
        }
        if failed.is_empty() {
            Ok(Tick::Idle)
        } else {
            Err(format!("backends not answering: {}", failed.join(", ")))
        }
    }
}
