//! Monthly usage limits per backend (`api_request_limit`, `egress_byte_limit`,
//! `ingress_byte_limit`), checked before a request goes to a backend. A write that would pass a
//! limit goes to another eligible backend or is refused (507); a read goes to another copy or
//! is refused (503 SlowDown); deletes are never limited.
//!
//! A backend's usage this month is estimated as the store's totals for the month, read at the
//! last refresh (every usage flush, so at most one flush interval stale for what other proxies
//! counted), plus everything this process counted since what the store held of it then, plus
//! the requests admitted and not yet counted. Admission and counting happen under one small
//! lock per backend, so concurrent requests on several cores never pass a limit together. Every
//! race errs toward counting a request twice, never toward missing one.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::Deserialize;

use crate::metrics::{BackendCounters, BackendTotals, Metrics};

/// A backend's monthly limits; `None` (or 0 in the config) = no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct MonthlyLimits {
    /// API requests per month.
    pub api_requests: Option<u64>,
    /// Bytes read from the backend per month.
    pub egress_bytes: Option<u64>,
    /// Bytes written to the backend per month.
    pub ingress_bytes: Option<u64>,
}

impl MonthlyLimits {
    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        self.api_requests.is_some() || self.egress_bytes.is_some() || self.ingress_bytes.is_some()
    }
}

/// What one request costs against the limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// API requests.
    pub requests: u64,
    /// Bytes read.
    pub egress: u64,
    /// Bytes written.
    pub ingress: u64,
}

impl Cost {
    /// A write of `bytes`.
    pub fn write(bytes: u64) -> Cost {
        Cost {
            requests: 1,
            egress: 0,
            ingress: bytes,
        }
    }

    /// A read of `bytes`.
    pub fn read(bytes: u64) -> Cost {
        Cost {
            requests: 1,
            egress: bytes,
            ingress: 0,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// The store's totals for the month at the last refresh (every proxy's flushed counts).
    base: BackendTotals,
    /// What the store held of this process's counts at that refresh.
    mark: BackendTotals,
    /// Admitted and not yet counted.
    inflight: Cost,
}

#[derive(Debug)]
struct Entry {
    counters: Arc<BackendCounters>,
    state: Mutex<State>,
}

impl Entry {
    fn estimate(&self, st: &State) -> BackendTotals {
        let now = self.counters.totals().since(&st.mark);
        BackendTotals {
            api_requests: st.base.api_requests + now.api_requests + st.inflight.requests,
            egress_bytes: st.base.egress_bytes + now.egress_bytes + st.inflight.egress,
            ingress_bytes: st.base.ingress_bytes + now.ingress_bytes + st.inflight.ingress,
            errors: 0,
        }
    }
}

/// Every backend's usage estimate, shared by the cores.
#[derive(Debug, Default)]
pub struct UsageGate {
    entries: RwLock<HashMap<String, Arc<Entry>>>,
}

/// A request admitted under a backend's limits: counted as in flight until dropped (drop it once
/// the backend client has counted the request).
#[derive(Debug)]
pub struct Permit {
    entry: Option<(Arc<Entry>, Cost)>,
}

impl Permit {
    /// A permit for a backend without limits.
    pub fn unlimited() -> Permit {
        Permit { entry: None }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some((e, c)) = self.entry.take() {
            let mut st = e.state.lock();
            st.inflight.requests -= c.requests.min(st.inflight.requests);
            st.inflight.egress -= c.egress.min(st.inflight.egress);
            st.inflight.ingress -= c.ingress.min(st.inflight.ingress);
        }
    }
}

fn over(used: u64, cost: u64, limit: Option<u64>) -> bool {
    cost > 0 && limit.is_some_and(|l| used.saturating_add(cost) > l)
}

impl UsageGate {
    fn entry(&self, name: &str, metrics: &Metrics) -> Arc<Entry> {
        if let Some(e) = self.entries.read().get(name) {
            return e.clone();
        }
        let mut entries = self.entries.write();
        entries
            .entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(Entry {
                    counters: metrics.backend(name),
                    state: Mutex::default(),
                })
            })
            .clone()
    }

    /// Admits a request of `cost` to backend `name` if it stays within `limits`; `None` when it
    /// would pass one.
    pub fn admit(&self, name: &str, limits: &MonthlyLimits, cost: Cost, metrics: &Metrics) -> Option<Permit> {
        if !limits.any() {
            return Some(Permit::unlimited());
        }
        let e = self.entry(name, metrics);
        let mut st = e.state.lock();
        let used = e.estimate(&st);
        if over(used.api_requests, cost.requests, limits.api_requests)
            || over(used.egress_bytes, cost.egress, limits.egress_bytes)
            || over(used.ingress_bytes, cost.ingress, limits.ingress_bytes)
        {
            return None;
        }
        st.inflight.requests += cost.requests;
        st.inflight.egress += cost.egress;
        st.inflight.ingress += cost.ingress;
        drop(st);
        Some(Permit { entry: Some((e, cost)) })
    }

    /// Takes the store's totals for the current month (`store_totals`, by backend) as the new
    /// base, with `flushed` saying what of this process's counts they hold. Call right after a
    /// flush, and once at startup.
    pub fn refresh(
        &self,
        store_totals: &HashMap<String, BackendTotals>,
        flushed: impl Fn(&str) -> BackendTotals,
        names: &[String],
        metrics: &Metrics,
    ) {
        for name in names {
            let e = self.entry(name, metrics);
            let mut st = e.state.lock();
            st.base = store_totals.get(name).copied().unwrap_or_default();
            st.mark = flushed(name);
        }
    }

    /// The estimate of backend `name`'s usage this month.
    pub fn usage(&self, name: &str, metrics: &Metrics) -> BackendTotals {
        let e = self.entry(name, metrics);
        let st = e.state.lock();
        e.estimate(&st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_counts_in_flight_requests_and_the_base() {
        let m = Metrics::default();
        let gate = UsageGate::default();
        let limits = MonthlyLimits {
            api_requests: Some(10),
            egress_bytes: None,
            ingress_bytes: Some(100),
        };
        let base: HashMap<String, BackendTotals> = [(
            "a".to_string(),
            BackendTotals {
                api_requests: 5,
                ingress_bytes: 40,
                ..BackendTotals::default()
            },
        )]
        .into();
        gate.refresh(&base, |_| BackendTotals::default(), &["a".into()], &m);
        let p1 = gate.admit("a", &limits, Cost::write(50), &m).unwrap();
        // 40 stored + 50 in flight: another 20 would pass 100.
        assert!(gate.admit("a", &limits, Cost::write(20), &m).is_none());
        // The client counts the request, then the permit goes: still 90 in all.
        m.backend("a").request(50);
        drop(p1);
        assert_eq!(gate.usage("a", &m).ingress_bytes, 90);
        assert!(gate.admit("a", &limits, Cost::write(11), &m).is_none());
        let _ok = gate.admit("a", &limits, Cost::write(10), &m).unwrap();
        // Reads cost no ingress; the request limit still counts them (5 + 1 + 1 in flight).
        assert!(gate.admit("a", &limits, Cost::read(1 << 30), &m).is_some());
        // After a flush the store holds this process's 50 bytes; no double count.
        let flushed = BackendTotals {
            api_requests: 1,
            ingress_bytes: 50,
            ..BackendTotals::default()
        };
        let base: HashMap<String, BackendTotals> = [(
            "a".to_string(),
            BackendTotals {
                api_requests: 6,
                ingress_bytes: 90,
                ..BackendTotals::default()
            },
        )]
        .into();
        gate.refresh(&base, |_| flushed, &["a".into()], &m);
        assert_eq!(gate.usage("a", &m).ingress_bytes, 100, "90 stored + 10 in flight");
    }

    #[test]
    fn unlimited_backends_are_not_tracked() {
        let m = Metrics::default();
        let gate = UsageGate::default();
        assert!(gate
            .admit("b", &MonthlyLimits::default(), Cost::write(u64::MAX), &m)
            .is_some());
        assert!(gate.entries.read().is_empty());
    }
}
