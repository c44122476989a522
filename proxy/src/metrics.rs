//! Counting what the proxy does, at no measurable cost to the S3 path: every core and every
//! backend client counts into memory only it writes (relaxed atomics on cache lines no other
//! core touches, one uncontended lock per request), and readers (the `/metrics` scrape, the
//! status endpoints, the usage flusher) merge the counts when they ask.
//!
//! - [`CoreMetrics`]: requests by S3 operation and status, latency histograms, open connections.
//! - [`BackendCounters`]: per backend client (so per core), API requests, egress and ingress
//!   bytes and errors; the monthly usage counters and the byte metrics come from these.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

/// Upper bounds of the request latency histogram, in seconds: from a cached small GET to a
/// multi-gigabyte upload.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 300.0,
];

/// One operation's counts on one core.
#[derive(Debug, Clone, Default)]
pub struct OpStats {
    /// Responses by HTTP status.
    pub by_status: BTreeMap<u16, u64>,
    /// Requests per latency bucket (not cumulative; index `LATENCY_BUCKETS.len()` is +Inf).
    pub buckets: [u64; LATENCY_BUCKETS.len() + 1],
    /// Sum of latencies in seconds.
    pub sum_secs: f64,
}

impl OpStats {
    /// Requests counted.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    fn merge(&mut self, other: &OpStats) {
        for (s, n) in &other.by_status {
            *self.by_status.entry(*s).or_default() += n;
        }
        for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *a += b;
        }
        self.sum_secs += other.sum_secs;
    }
}

/// What one core counts.
#[derive(Debug, Default)]
pub struct CoreMetrics {
    /// Operation name → counts. Only this core locks it, except a reader merging.
    ops: Mutex<HashMap<&'static str, OpStats>>,
    /// Client connections open on this core.
    connections: AtomicI64,
}

impl CoreMetrics {
    /// Counts one finished request.
    pub fn record(&self, operation: &'static str, status: u16, took: Duration) {
        let secs = took.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        let mut ops = self.ops.lock();
        let op = ops.entry(operation).or_default();
        *op.by_status.entry(status).or_default() += 1;
        op.buckets[bucket] += 1;
        op.sum_secs += secs;
    }

    /// A connection opened (`+1`) or closed (`-1`).
    pub fn connection(&self, delta: i64) {
        self.connections.fetch_add(delta, Ordering::Relaxed);
    }
}

/// What one backend client counts (one per backend per core, and per worker thread).
#[derive(Debug, Default)]
pub struct BackendCounters {
    /// Requests sent to the backend.
    pub api_requests: AtomicU64,
    /// Bytes read from the backend.
    pub egress_bytes: AtomicU64,
    /// Bytes written to the backend.
    pub ingress_bytes: AtomicU64,
    /// Requests that failed (a missing key on delete or abort is not a failure).
    pub errors: AtomicU64,
}

impl BackendCounters {
    /// Counts one request that moves `ingress` bytes to the backend.
    pub fn request(&self, ingress: u64) {
        self.api_requests.fetch_add(1, Ordering::Relaxed);
        if ingress > 0 {
            self.ingress_bytes.fetch_add(ingress, Ordering::Relaxed);
        }
    }

    /// Counts `n` bytes read from the backend.
    pub fn egress(&self, n: u64) {
        self.egress_bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a failed request.
    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// Totals of one backend over every client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackendTotals {
    /// Requests sent.
    pub api_requests: u64,
    /// Bytes read from it.
    pub egress_bytes: u64,
    /// Bytes written to it.
    pub ingress_bytes: u64,
    /// Failed requests.
    pub errors: u64,
}

impl BackendTotals {
    /// `self - earlier`, per field (saturating).
    pub fn since(&self, earlier: &BackendTotals) -> BackendTotals {
        BackendTotals {
            api_requests: self.api_requests.saturating_sub(earlier.api_requests),
            egress_bytes: self.egress_bytes.saturating_sub(earlier.egress_bytes),
            ingress_bytes: self.ingress_bytes.saturating_sub(earlier.ingress_bytes),
            errors: self.errors.saturating_sub(earlier.errors),
        }
    }
}

/// Every core's and backend client's counters, for merging.
#[derive(Debug, Default)]
pub struct Metrics {
    cores: Mutex<Vec<Arc<CoreMetrics>>>,
    backends: Mutex<Vec<(String, Arc<BackendCounters>)>>,
}

impl Metrics {
    /// Counters for a new core.
    pub fn core(&self) -> Arc<CoreMetrics> {
        let c = Arc::new(CoreMetrics::default());
        self.cores.lock().push(c.clone());
        c
    }

    /// Counters for a new client of backend `name`. Counters of clients dropped later (after a
    /// reload) are kept, so totals never go down.
    pub fn backend(&self, name: &str) -> Arc<BackendCounters> {
        let c = Arc::new(BackendCounters::default());
        self.backends.lock().push((name.to_owned(), c.clone()));
        c
    }

    /// Operation → counts, merged over every core.
    pub fn operations(&self) -> BTreeMap<&'static str, OpStats> {
        let mut out: BTreeMap<&'static str, OpStats> = BTreeMap::new();
        for core in self.cores.lock().iter() {
            for (op, stats) in core.ops.lock().iter() {
                out.entry(op).or_default().merge(stats);
            }
        }
        out
    }

    /// Client connections open over every core.
    pub fn open_connections(&self) -> i64 {
        self.cores
            .lock()
            .iter()
            .map(|c| c.connections.load(Ordering::Relaxed))
            .sum()
    }

    /// Backend name → totals since the process started.
    pub fn backend_totals(&self) -> BTreeMap<String, BackendTotals> {
        let mut out: BTreeMap<String, BackendTotals> = BTreeMap::new();
        for (name, c) in self.backends.lock().iter() {
            let t = out.entry(name.clone()).or_default();
            t.api_requests += c.api_requests.load(Ordering::Relaxed);
            t.egress_bytes += c.egress_bytes.load(Ordering::Relaxed);
            t.ingress_bytes += c.ingress_bytes.load(Ordering::Relaxed);
            t.errors += c.errors.load(Ordering::Relaxed);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_merge_over_cores_and_clients() {
        let m = Metrics::default();
        let (c1, c2) = (m.core(), m.core());
        c1.record("GetObject", 200, Duration::from_micros(300));
        c2.record("GetObject", 200, Duration::from_millis(3));
        c2.record("GetObject", 404, Duration::from_secs(1000));
        c1.connection(1);
        c2.connection(2);
        c2.connection(-1);
        let ops = m.operations();
        let get = &ops["GetObject"];
        assert_eq!(get.count(), 3);
        assert_eq!(get.by_status.get(&200), Some(&2));
        assert_eq!(get.by_status.get(&404), Some(&1));
        assert_eq!(get.buckets[0], 1);
        assert_eq!(get.buckets[3], 1);
        assert_eq!(get.buckets[LATENCY_BUCKETS.len()], 1);
        assert!((get.sum_secs - 1000.0033).abs() < 1e-6);
        assert_eq!(m.open_connections(), 2);

        let (a1, a2) = (m.backend("a"), m.backend("a"));
        a1.request(10);
        a2.request(0);
        a2.egress(7);
        a2.error();
        let t = m.backend_totals()["a"];
        assert_eq!(
            t,
            BackendTotals {
                api_requests: 2,
                egress_bytes: 7,
                ingress_bytes: 10,
                errors: 1
            }
        );
        assert_eq!(t.since(&t), BackendTotals::default());
    }
}
