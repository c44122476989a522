//! Integrity: a BLAKE3 hash of every copy's stored bytes, computed while an upload streams
//! (`seal::source::StoredSource`) and recorded with the version; whole-object reads checked
//! against it (`backend::stream::GetStream::hashed`), a copy that fails queued here as a
//! *suspect* for the scrubber, which verifies copies at a bounded rate and repairs a bad one from
//! a good replica, or marks it damaged so it is never served again.

pub mod digest;
pub mod hash_existing;
pub mod scrub;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::Deserialize;

/// Most suspects kept waiting for the scrubber: beyond it the oldest are dropped (the periodic
/// scrub finds them anyway).
pub const MAX_SUSPECTS: usize = 10_000;

/// `[integrity]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntegrityConfig {
    /// Whether new objects get a content hash (BLAKE3 of the stored bytes).
    pub hash: bool,
    /// Whether reads of a whole object are checked against its hash.
    pub verify_reads: bool,
    /// Seconds between scrub cycles (0: only on demand, `POST /admin/api/scrub`).
    pub scrub_interval_secs: u64,
    /// Versions verified per scrub cycle.
    pub scrub_batch: usize,
    /// Most bytes per second the scrubber reads, so it never starves client traffic.
    pub scrub_bytes_per_sec: u64,
}

impl Default for IntegrityConfig {
    fn default() -> Self {
        IntegrityConfig {
            hash: true,
            verify_reads: true,
            scrub_interval_secs: 3600,
            scrub_batch: 500,
            scrub_bytes_per_sec: 16 * 1024 * 1024,
        }
    }
}

impl IntegrityConfig {
    /// What is wrong with these settings, if anything.
    pub fn problem(&self) -> Option<String> {
        if self.scrub_batch == 0 {
            return Some("[integrity] scrub_batch must be at least 1".into());
        }
        if self.scrub_bytes_per_sec < 64 * 1024 {
            return Some("[integrity] scrub_bytes_per_sec must be at least 65536".into());
        }
        None
    }
}

/// A copy whose bytes failed their hash on a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspect {
    /// Logical bucket.
    pub bucket: String,
    /// Logical key.
    pub key: String,
    /// Version number.
    pub version: u64,
    /// The backend whose copy failed.
    pub backend: String,
}

/// Copies that failed a read's hash check, waiting for the scrubber.
#[derive(Debug, Default)]
pub struct Suspects(Mutex<VecDeque<Suspect>>);

impl Suspects {
    /// Queues `s` (once; the oldest dropped past [`MAX_SUSPECTS`]).
    pub fn push(&self, s: Suspect) {
        let mut q = self.0.lock();
        if q.contains(&s) {
            return;
        }
        if q.len() >= MAX_SUSPECTS {
            q.pop_front();
        }
        q.push_back(s);
    }

    /// Takes up to `n` suspects.
    pub fn take(&self, n: usize) -> Vec<Suspect> {
        let mut q = self.0.lock();
        let n = n.min(q.len());
        q.drain(..n).collect()
    }

    /// How many are waiting.
    pub fn len(&self) -> usize {
        self.0.lock().len()
    }

    /// Whether none are waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the integrity machinery counted since the process started (exported in the metrics).
#[derive(Debug, Default)]
pub struct IntegrityCounters {
    /// Reads cut short because a copy's bytes failed their hash.
    pub read_failures: AtomicU64,
    /// Copies the scrubber verified.
    pub scrub_checked: AtomicU64,
    /// Copies the scrubber found not matching their hash.
    pub scrub_mismatches: AtomicU64,
    /// Bad copies repaired from a good replica.
    pub scrub_repaired: AtomicU64,
    /// Bad copies that could not be repaired (no good replica) and were marked damaged.
    pub scrub_damaged: AtomicU64,
    /// Copies the scrubber could not read.
    pub scrub_errors: AtomicU64,
    /// Object cache hits.
    pub cache_hits: AtomicU64,
    /// Object cache misses (reads of cacheable objects that went to a backend).
    pub cache_misses: AtomicU64,
    /// Versions sealed or opened by `encrypt-existing` / `decrypt-existing`.
    pub rewritten: AtomicU64,
    /// Versions those runs failed to rewrite.
    pub rewrite_failures: AtomicU64,
    /// Data keys re-wrapped by key rotations.
    pub rewrapped: AtomicU64,
}

impl IntegrityCounters {
    /// Adds one to `c`.
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters as (metric name, help, value).
    pub fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            (
                "s3o_integrity_read_failures_total",
                "Reads cut short because a copy failed its content hash",
                g(&self.read_failures),
            ),
            (
                "s3o_scrub_checked_total",
                "Copies verified by the scrubber",
                g(&self.scrub_checked),
            ),
            (
                "s3o_scrub_mismatches_total",
                "Copies the scrubber found not matching their hash",
                g(&self.scrub_mismatches),
            ),
            (
                "s3o_scrub_repaired_total",
                "Bad copies repaired from a good replica",
                g(&self.scrub_repaired),
            ),
            (
                "s3o_scrub_damaged_total",
                "Bad copies without a good replica, marked damaged",
                g(&self.scrub_damaged),
            ),
            (
                "s3o_scrub_errors_total",
                "Copies the scrubber could not read",
                g(&self.scrub_errors),
            ),
            ("s3o_cache_hits_total", "Object cache hits", g(&self.cache_hits)),
            ("s3o_cache_misses_total", "Object cache misses", g(&self.cache_misses)),
            (
                "s3o_rewritten_versions_total",
                "Versions sealed or opened by encrypt-existing / decrypt-existing",
                g(&self.rewritten),
            ),
            (
                "s3o_rewrite_failures_total",
                "Versions encrypt-existing / decrypt-existing failed to rewrite",
                g(&self.rewrite_failures),
            ),
            (
                "s3o_rewrapped_keys_total",
                "Data keys re-wrapped by master key rotations",
                g(&self.rewrapped),
            ),
        ]
    }
}
