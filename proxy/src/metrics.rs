//! Counting what the proxy does, at no measurable cost to the S3 path: every core and every
//! backend client counts into memory only it writes (relaxed atomics on cache lines no other
//! core touches; no lock on the request path), and readers (the `/metrics` scrape, the status
//! endpoints, the usage flusher) merge the counts when they ask.
//!
//! - [`CoreMetrics`]: requests by S3 operation and status, latency histograms, open connections.
//! - [`BackendCounters`]: per backend client (so per core), API requests, egress and ingress
//!   bytes and errors; the monthly usage counters and the byte metrics come from these.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

/// Upper bounds of the request latency histogram, in seconds: from a cached small GET to a
/// multi-gigabyte upload.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 300.0,
];

/// Most distinct operation names counted; later ones are counted under [`OTHER_OPERATION`].
pub const MAX_OPERATIONS: usize = 128;
/// The name the operations past [`MAX_OPERATIONS`] are counted under.
pub const OTHER_OPERATION: &str = "Other";
/// Statuses counted one by one; any other status is counted under `other`.
pub const STATUSES: [u16; 24] = [
    200, 204, 206, 304, 400, 403, 404, 405, 408, 409, 411, 412, 413, 414, 416, 431, 499, 500, 501, 502, 503, 504, 505,
    507,
];

/// One operation's counts, merged over cores.
#[derive(Debug, Clone, Default)]
pub struct OpStats {
    /// Responses by HTTP status (`None`: a status outside [`STATUSES`]).
    pub by_status: BTreeMap<Option<u16>, u64>,
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
}

/// One operation's counters on one core (written by that core only).
#[derive(Debug, Default)]
struct OpCounters {
    by_status: [AtomicU64; STATUSES.len() + 1],
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_ns: AtomicU64,
}

impl OpCounters {
    fn add_to(&self, out: &mut OpStats) {
        for (i, n) in self.by_status.iter().enumerate() {
            let n = n.load(Ordering::Relaxed);
            if n > 0 {
                *out.by_status.entry(STATUSES.get(i).copied()).or_default() += n;
            }
        }
        for (a, b) in out.buckets.iter_mut().zip(self.buckets.iter()) {
            *a += b.load(Ordering::Relaxed);
        }
        out.sum_secs += self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
    }
}

/// What one core counts: requests by operation slot (see [`Metrics::slot`]), open connections.
#[derive(Debug)]
pub struct CoreMetrics {
    ops: Box<[OpCounters]>,
    /// Client connections open on this core.
    connections: AtomicI64,
}

impl Default for CoreMetrics {
    fn default() -> Self {
        CoreMetrics {
            ops: (0..MAX_OPERATIONS).map(|_| OpCounters::default()).collect(),
            connections: AtomicI64::new(0),
        }
    }
}

impl CoreMetrics {
    /// Counts one finished request of the operation in `slot` (from [`Metrics::slot`]).
    pub fn record(&self, slot: usize, status: u16, took: Duration) {
        let Some(op) = self.ops.get(slot) else { return };
        let secs = took.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        let status = STATUSES.iter().position(|s| *s == status).unwrap_or(STATUSES.len());
        op.by_status[status].fetch_add(1, Ordering::Relaxed);
        op.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        op.sum_ns
            .fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// A connection opened (`+1`) or closed (`-1`).
    pub fn connection(&self, delta: i64) {
        self.connections.fetch_add(delta, Ordering::Relaxed);
    }
}

/// A core's own map from operation names to their slots, so counting a request takes no lock
/// (only an operation the core meets for the first time asks [`Metrics::slot`]).
#[derive(Debug, Default)]
pub struct OpSlots {
    known: Vec<(&'static str, usize)>,
}

impl OpSlots {
    /// The slot of `operation`.
    pub fn slot(&mut self, metrics: &Metrics, operation: &'static str) -> usize {
        // Names are `&'static str` constants: pointer equality finds them first.
        let hit = self
            .known
            .iter()
            .find(|(n, _)| std::ptr::eq(*n, operation) || *n == operation);
        if let Some((_, slot)) = hit {
            return *slot;
        }
        let slot = metrics.slot(operation);
        self.known.push((operation, slot));
        slot
    }
}

/// What a backend's clients count: one set per backend name, shared by its client on every core
/// and every worker thread, so a backend's totals are a few atomic loads (the usage limits read
/// them on every request).
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
    /// What these counters hold now.
    pub fn totals(&self) -> BackendTotals {
        BackendTotals {
            api_requests: self.api_requests.load(Ordering::Relaxed),
            egress_bytes: self.egress_bytes.load(Ordering::Relaxed),
            ingress_bytes: self.ingress_bytes.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }

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
    /// Operation names by slot, the same on every core.
    slots: Mutex<Vec<&'static str>>,
    /// Content hash failures, scrubbing, and the object cache.
    pub integrity: crate::integrity::IntegrityCounters,
}

impl Metrics {
    /// Counters for a new core.
    pub fn core(&self) -> Arc<CoreMetrics> {
        let c = Arc::new(CoreMetrics::default());
        self.cores.lock().push(c.clone());
        c
    }

    /// The counters of backend `name`, made the first time it is asked for; every client of
    /// the backend counts into them, also after a reload rebuilt it, so totals never go down.
    pub fn backend(&self, name: &str) -> Arc<BackendCounters> {
        let mut backends = self.backends.lock();
        if let Some((_, c)) = backends.iter().find(|(n, _)| n == name) {
            return c.clone();
        }
        let c = Arc::new(BackendCounters::default());
        backends.push((name.to_owned(), c.clone()));
        c
    }

    /// The slot every core counts `operation` in (the last slot, [`OTHER_OPERATION`], once
    /// [`MAX_OPERATIONS`] names are taken).
    pub fn slot(&self, operation: &'static str) -> usize {
        let mut slots = self.slots.lock();
        if let Some(i) = slots.iter().position(|n| *n == operation) {
            return i;
        }
        if slots.len() + 1 < MAX_OPERATIONS {
            slots.push(operation);
            return slots.len() - 1;
        }
        MAX_OPERATIONS - 1
    }

    /// Operation → counts, merged over every core.
    pub fn operations(&self) -> BTreeMap<&'static str, OpStats> {
        let names = self.slots.lock().clone();
        let mut out: BTreeMap<&'static str, OpStats> = BTreeMap::new();
        for core in self.cores.lock().iter() {
            for (slot, counters) in core.ops.iter().enumerate() {
                let name = names.get(slot).copied().unwrap_or(OTHER_OPERATION);
                counters.add_to(out.entry(name).or_default());
            }
        }
        out.retain(|_, stats| stats.count() > 0);
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
        let (mut s1, mut s2) = (OpSlots::default(), OpSlots::default());
        c1.record(s1.slot(&m, "GetObject"), 200, Duration::from_micros(300));
        c2.record(s2.slot(&m, "PutObject"), 200, Duration::from_millis(3));
        c2.record(s2.slot(&m, "GetObject"), 200, Duration::from_millis(3));
        c2.record(s2.slot(&m, "GetObject"), 404, Duration::from_secs(1000));
        c2.record(s2.slot(&m, "GetObject"), 299, Duration::from_secs(1));
        assert_eq!(s1.slot(&m, "PutObject"), s2.slot(&m, "PutObject"));
        c1.connection(1);
        c2.connection(2);
        c2.connection(-1);
        let ops = m.operations();
        let get = &ops["GetObject"];
        assert_eq!(get.count(), 4);
        assert_eq!(ops["PutObject"].count(), 1);
        assert_eq!(get.by_status.get(&Some(200)), Some(&2));
        assert_eq!(get.by_status.get(&Some(404)), Some(&1));
        assert_eq!(get.by_status.get(&None), Some(&1));
        assert_eq!(get.buckets[0], 1);
        assert_eq!(get.buckets[3], 1);
        assert_eq!(get.buckets[LATENCY_BUCKETS.len()], 1);
        assert!((get.sum_secs - 1001.0033).abs() < 1e-6);
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

#[cfg(test)]
mod slot_tests {
    use super::*;

    #[test]
    fn operations_past_the_limit_share_the_other_slot() {
        let m = Metrics::default();
        let names: Vec<&'static str> = (0..MAX_OPERATIONS + 5)
            .map(|i| &*Box::leak(format!("Op{i}").into_boxed_str()))
            .collect();
        let slots: Vec<usize> = names.iter().map(|n| m.slot(n)).collect();
        assert_eq!(slots[0], 0);
        assert_eq!(slots[MAX_OPERATIONS - 2], MAX_OPERATIONS - 2);
        assert!(slots[MAX_OPERATIONS - 1..].iter().all(|s| *s == MAX_OPERATIONS - 1));
        let c = m.core();
        c.record(slots[MAX_OPERATIONS + 2], 200, Duration::ZERO);
        assert_eq!(m.operations()[OTHER_OPERATION].count(), 1);
    }
}
