//! Per-backend circuit breakers, shared by every core. Fed by the outcome of every backend request
//! (a connection failure, a timeout, a 5xx or a garbled answer counts against the backend; a 404
//! or any other answer counts for it) and by the `health_probe` worker. After
//! `failure_threshold` failures in a row a breaker opens: placement uses the backend only when
//! the healthy ones cannot take the copies, and reads try its other copies first. After `open_secs` it is half-open: requests and probes go to the
//! backend again, and the first outcome closes the breaker (an answer) or opens it again at once
//! (a failure).
//!
//! A breaker also remembers since when its backend has been failing, so the replicator can
//! re-create the copies of a backend that stays down longer than `lost_copy_secs`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::error::{BackendError, ProxyError};

/// What a request's outcome says about its backend's health.
pub trait Outcome {
    /// `Some(true)`: the backend answered; `Some(false)`: it failed in a way that says it is
    /// unhealthy; `None`: the outcome says nothing about it (the client's body failed).
    fn health(&self) -> Option<bool>;
}

impl Outcome for BackendError {
    fn health(&self) -> Option<bool> {
        Some(match self {
            BackendError::Connect { .. }
            | BackendError::Timeout { .. }
            | BackendError::Protocol { .. }
            | BackendError::Io { .. } => false,
            BackendError::Status { status, .. } => *status < 500,
            BackendError::NotFound { .. } => true,
        })
    }
}

impl Outcome for ProxyError {
    fn health(&self) -> Option<bool> {
        match self {
            ProxyError::Backend(e) => e.health(),
            _ => None,
        }
    }
}

/// One backend's breaker.
#[derive(Debug)]
pub struct Breaker {
    /// Failures in a row that open it.
    threshold: u32,
    /// How long it stays open, in ms.
    open_ms: u64,
    /// Failures in a row.
    failures: AtomicU32,
    /// While open: when a request may test the backend again (unix ms); 0 = closed.
    open_until_ms: AtomicU64,
    /// Since when the backend has been failing (unix ms of the first failure of the current
    /// run); 0 = healthy.
    failing_since_ms: AtomicU64,
}

/// The state a breaker shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow.
    Closed,
    /// Requests are kept away until the given time (unix ms).
    Open,
    /// The open time passed: the next request tests the backend.
    HalfOpen,
}

impl BreakerState {
    /// The name the admin port shows.
    pub fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }
}

impl Breaker {
    /// A closed breaker that opens after `threshold` failures in a row, for `open_ms`.
    pub fn new(threshold: u32, open_ms: u64) -> Breaker {
        Breaker {
            threshold,
            open_ms,
            failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
            failing_since_ms: AtomicU64::new(0),
        }
    }

    /// The breaker's state at `now_ms`.
    pub fn state(&self, now_ms: u64) -> BreakerState {
        match self.open_until_ms.load(Ordering::Relaxed) {
            0 => BreakerState::Closed,
            t if now_ms < t => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }

    /// Whether requests should go to the backend at `now_ms` (closed or half-open).
    pub fn allows(&self, now_ms: u64) -> bool {
        self.state(now_ms) != BreakerState::Open
    }

    /// Since when the backend has been failing without a success; `None` while it is healthy.
    pub fn failing_since(&self) -> Option<u64> {
        match self.failing_since_ms.load(Ordering::Relaxed) {
            0 => None,
            t => Some(t),
        }
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Records a success: the breaker closes.
    pub fn success(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 || self.open_until_ms.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
            self.open_until_ms.store(0, Ordering::Relaxed);
            self.failing_since_ms.store(0, Ordering::Relaxed);
        }
    }

    /// Records a failure at `now_ms`; opens the breaker once enough failures came in a row
    /// (again at once when a test request of a half-open breaker fails).
    pub fn failure(&self, now_ms: u64) {
        let (threshold, open_ms) = (self.threshold, self.open_ms);
        let _ = self
            .failing_since_ms
            .compare_exchange(0, now_ms.max(1), Ordering::Relaxed, Ordering::Relaxed);
        let n = self.failures.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        if n >= threshold || self.open_until_ms.load(Ordering::Relaxed) != 0 {
            self.open_until_ms
                .store(now_ms.saturating_add(open_ms).max(1), Ordering::Relaxed);
        }
    }

    /// Records the outcome of a request.
    pub fn record(&self, outcome: Option<bool>) {
        match outcome {
            Some(true) => self.success(),
            Some(false) => self.failure(crate::clock::unix_ms()),
            None => {}
        }
    }
}

/// Every backend's breaker, by name; a backend gets one the first time it is asked for. Also
/// the last [`PROBE_HISTORY`] health probes of each backend.
#[derive(Debug)]
pub struct Breakers {
    map: RwLock<HashMap<String, Arc<Breaker>>>,
    threshold: u32,
    open_ms: u64,
    probes: parking_lot::Mutex<HashMap<String, std::collections::VecDeque<ProbeRecord>>>,
}

/// Probes kept per backend.
pub const PROBE_HISTORY: usize = 20;

/// One health probe of a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRecord {
    /// When, ms.
    pub at_ms: u64,
    /// Whether it answered.
    pub healthy: bool,
    /// How long it took, ms.
    pub latency_ms: u64,
    /// Its error.
    pub error: Option<String>,
}

impl Default for Breakers {
    fn default() -> Self {
        let h = crate::config::HealthConfig::default();
        Breakers::new(h.failure_threshold, h.open_secs * 1000)
    }
}

impl Breakers {
    /// Breakers that open after `threshold` failures in a row, for `open_ms`.
    pub fn new(threshold: u32, open_ms: u64) -> Breakers {
        Breakers {
            map: RwLock::default(),
            threshold,
            open_ms,
            probes: parking_lot::Mutex::default(),
        }
    }

    /// The breaker of backend `name`.
    pub fn get(&self, name: &str) -> Arc<Breaker> {
        if let Some(b) = self.map.read().get(name) {
            return b.clone();
        }
        let (threshold, open_ms) = (self.threshold, self.open_ms);
        self.map
            .write()
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(Breaker::new(threshold, open_ms)))
            .clone()
    }

    /// Whether backend `name` takes requests now.
    pub fn allows(&self, name: &str) -> bool {
        self.get(name).allows(crate::clock::unix_ms())
    }

    /// Records a probe of backend `name` (the oldest beyond [`PROBE_HISTORY`] dropped).
    pub fn record_probe(&self, name: &str, probe: ProbeRecord) {
        let mut all = self.probes.lock();
        let history = all.entry(name.to_owned()).or_default();
        if history.len() == PROBE_HISTORY {
            history.pop_front();
        }
        history.push_back(probe);
    }

    /// The probes of backend `name`, oldest first.
    pub fn probes(&self, name: &str) -> Vec<ProbeRecord> {
        self.probes
            .lock()
            .get(name)
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every breaker so far, by name.
    pub fn all(&self) -> Vec<(String, Arc<Breaker>)> {
        let mut v: Vec<_> = self.map.read().iter().map(|(n, b)| (n.clone(), b.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_half_opens_and_closes_on_success() {
        let b = Breaker::new(3, 500);
        b.failure(1_000);
        b.failure(1_001);
        assert_eq!(b.state(1_002), BreakerState::Closed);
        assert_eq!(b.failing_since(), Some(1_000));
        b.failure(1_002);
        assert_eq!(b.state(1_003), BreakerState::Open);
        assert!(!b.allows(1_400));
        assert_eq!(b.state(1_502), BreakerState::HalfOpen);
        // The test request fails: open again at once, the failing run goes on.
        b.failure(1_600);
        assert_eq!(b.state(1_700), BreakerState::Open);
        assert_eq!(b.failing_since(), Some(1_000));
        b.success();
        assert_eq!(b.state(1_700), BreakerState::Closed);
        assert_eq!((b.failures(), b.failing_since()), (0, None));
    }

    #[test]
    fn a_not_found_never_trips_a_breaker_and_client_errors_say_nothing() {
        let nf = BackendError::NotFound { backend: "a".into() };
        assert_eq!(nf.health(), Some(true));
        let s503 = BackendError::Status {
            backend: "a".into(),
            status: 503,
            detail: String::new(),
        };
        assert_eq!(s503.health(), Some(false));
        assert_eq!(ProxyError::RequestTimeout.health(), None);
    }
}
