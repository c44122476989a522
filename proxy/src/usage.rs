//! Monthly usage per backend (API requests, egress and ingress bytes): counted per backend client
//! by [`crate::metrics`] without locks, and flushed by the `usage_flush` worker to the store as
//! deltas added to the month (UTC) they were flushed in. Readers see the store's totals for the
//! month plus what is not flushed yet, so the counts are exact across cores. A restart loses at
//! most one flush interval; counts made in the last interval of a month go to the next month.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use s3o_store::{Store, StoreError, UsageCounters};

use crate::metrics::{BackendTotals, Metrics};
use crate::state::Shared;
use crate::workers::{Tick, Worker};

/// The usage period (`YYYY-MM`, UTC) of a time in unix milliseconds.
pub fn period_of(unix_ms: u64) -> String {
    s3o_admin::Timestamp(unix_ms).year_month()
}

/// Counts since process start that have been written to the store already.
#[derive(Debug, Default)]
pub struct UsageLedger {
    flushed: Mutex<BTreeMap<String, BackendTotals>>,
}

impl UsageLedger {
    /// What the counters hold beyond what was flushed, per backend; marks it flushed.
    fn take_unflushed(&self, metrics: &Metrics) -> Vec<(String, BackendTotals)> {
        let totals = metrics.backend_totals();
        let mut flushed = self.flushed.lock();
        let mut deltas = Vec::new();
        for (name, t) in totals {
            let before = flushed.entry(name.clone()).or_default();
            let d = t.since(before);
            if d.api_requests + d.egress_bytes + d.ingress_bytes > 0 {
                deltas.push((name, d));
            }
            *before = t;
        }
        deltas
    }

    /// What of backend `name`'s counts reached the store.
    pub fn flushed(&self, name: &str) -> BackendTotals {
        self.flushed.lock().get(name).copied().unwrap_or_default()
    }

    /// Gives back deltas whose write failed, so the next flush carries them.
    fn restore(&self, deltas: &[(String, BackendTotals)]) {
        let mut flushed = self.flushed.lock();
        for (name, d) in deltas {
            if let Some(t) = flushed.get_mut(name) {
                t.api_requests -= d.api_requests.min(t.api_requests);
                t.egress_bytes -= d.egress_bytes.min(t.egress_bytes);
                t.ingress_bytes -= d.ingress_bytes.min(t.ingress_bytes);
            }
        }
    }

    /// Adds what was counted since the last flush to the month of `now_ms` in the store.
    pub async fn flush(&self, store: &Store, metrics: &Metrics, now_ms: u64) -> Result<(), StoreError> {
        let deltas = self.take_unflushed(metrics);
        if deltas.is_empty() {
            return Ok(());
        }
        let rows: Vec<UsageCounters> = deltas
            .iter()
            .map(|(name, d)| UsageCounters {
                backend: name.clone(),
                api_requests: d.api_requests,
                egress_bytes: d.egress_bytes,
                ingress_bytes: d.ingress_bytes,
            })
            .collect();
        let written = store.add_usage(&period_of(now_ms), rows).await;
        if written.is_err() {
            self.restore(&deltas);
        }
        written
    }

    /// The usage of `period` per backend: the store's totals plus what is not flushed yet.
    pub async fn period_totals(
        &self,
        store: &Store,
        metrics: &Metrics,
        period: &str,
    ) -> Result<BTreeMap<String, BackendTotals>, StoreError> {
        let mut out: BTreeMap<String, BackendTotals> = BTreeMap::new();
        for c in store.usage_counters(period).await? {
            let t = out.entry(c.backend).or_default();
            t.api_requests += c.api_requests;
            t.egress_bytes += c.egress_bytes;
            t.ingress_bytes += c.ingress_bytes;
        }
        let flushed = self.flushed.lock().clone();
        for (name, total) in metrics.backend_totals() {
            let d = total.since(flushed.get(&name).unwrap_or(&BackendTotals::default()));
            let t = out.entry(name).or_default();
            t.api_requests += d.api_requests;
            t.egress_bytes += d.egress_bytes;
            t.ingress_bytes += d.ingress_bytes;
        }
        Ok(out)
    }
}

/// Takes the store's totals of the current month as the base of the usage limits
/// ([`crate::orchestrator::limits`]); after every flush, and once at startup.
pub async fn refresh_gate(shared: &Shared) -> Result<(), StoreError> {
    let period = period_of(crate::clock::unix_ms());
    let totals: std::collections::HashMap<String, BackendTotals> = shared
        .store
        .usage_counters(&period)
        .await?
        .into_iter()
        .map(|c| {
            let t = BackendTotals {
                api_requests: c.api_requests,
                egress_bytes: c.egress_bytes,
                ingress_bytes: c.ingress_bytes,
                errors: 0,
            };
            (c.backend, t)
        })
        .collect();
    let snap = shared.live.snapshot();
    let names: Vec<String> = snap
        .backends
        .iter()
        .filter(|b| b.limits.any())
        .map(|b| b.name.clone())
        .collect();
    shared
        .gate
        .refresh(&totals, |n| shared.usage.flushed(n), &names, &shared.metrics);
    Ok(())
}

/// The `usage_flush` worker.
pub struct UsageWorker {
    /// The proxy's shared state.
    pub shared: Arc<Shared>,
    /// Time between flushes.
    pub every: Duration,
}

impl Worker for UsageWorker {
    fn name(&self) -> &'static str {
        "usage_flush"
    }

    fn interval(&self) -> Duration {
        self.every
    }

    async fn tick(&mut self) -> Result<Tick, String> {
        let s = &self.shared;
        s.usage
            .flush(&s.store, &s.metrics, crate::clock::unix_ms())
            .await
            .map_err(|e| format!("usage counters not flushed: {e}"))?;
        refresh_gate(s)
            .await
            .map(|()| Tick::Idle)
            .map_err(|e| format!("usage counters not read back: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_utc_months() {
        assert_eq!(period_of(0), "1970-01");
        // 2026-03-31T23:59:59.999Z and one millisecond later.
        assert_eq!(period_of(1_775_001_599_999), "2026-03");
        assert_eq!(period_of(1_775_001_600_000), "2026-04");
    }

    #[test]
    fn unflushed_counts_are_taken_once_and_restored_on_failure() {
        let m = Metrics::default();
        let c = m.backend("a");
        c.request(100);
        let ledger = UsageLedger::default();
        let d = ledger.take_unflushed(&m);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].1.api_requests, d[0].1.ingress_bytes), (1, 100));
        assert!(ledger.take_unflushed(&m).is_empty());
        ledger.restore(&d);
        c.egress(5);
        let d = ledger.take_unflushed(&m);
        assert_eq!(
            (d[0].1.api_requests, d[0].1.ingress_bytes, d[0].1.egress_bytes),
            (1, 100, 5)
        );
    }
}
