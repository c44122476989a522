//! The orchestration sections of the config: `[replication]` (copies per object and how they are
//! written), `[health]` (circuit breakers and probes), `[rebalance]`, `[drain]` and `[cleanup]`
//! (the workers that move and delete bytes), and the placement policy a virtual bucket states
//! over its backends' labels.

use serde::Deserialize;

/// How the copies of a new object beyond the first are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ReplicationMode {
    /// The body streams to every copy at once; the PUT answers once `write_quorum` copies hold
    /// it (the missing ones are queued for the replicator).
    #[default]
    Sync,
    /// The PUT writes one copy; the replicator makes the others from the durable queue.
    Async,
}

/// `[replication]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationConfig {
    /// Copies of each object, for buckets that do not state their own.
    pub factor: u32,
    /// How the copies of a new object are written.
    pub mode: ReplicationMode,
    /// Synchronous mode: copies that must succeed for a PUT to succeed; 0 = all of them.
    pub write_quorum: u32,
    /// Seconds between replicator ticks (each works the pending-replication queue).
    pub interval_secs: u64,
    /// Versions the replicator copies per tick.
    pub batch_size: usize,
    /// Copies on a backend that stays down this long are re-created elsewhere.
    pub lost_copy_secs: u64,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            factor: 1,
            mode: ReplicationMode::Sync,
            write_quorum: 0,
            interval_secs: 30,
            batch_size: 100,
            lost_copy_secs: 3600,
        }
    }
}

/// `[health]`: per-backend circuit breakers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Seconds between probes of every backend.
    pub probe_interval_secs: u64,
    /// Consecutive failed requests or probes that open a backend's breaker.
    pub failure_threshold: u32,
    /// Seconds an open breaker keeps requests away; then the next outcome closes or reopens it.
    pub open_secs: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            probe_interval_secs: 10,
            failure_threshold: 3,
            open_secs: 30,
        }
    }
}

/// What a rebalance evens out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RebalanceStrategy {
    /// Every backend of a bucket at the same used fraction of its quota.
    #[default]
    Spread,
    /// Backends filled in their listed order: bytes move toward the first ones with room.
    Pack,
}

/// `[rebalance]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RebalanceConfig {
    /// Whether a rebalance also runs every `interval_secs` (it always runs on demand).
    pub enabled: bool,
    /// Seconds between periodic rebalances.
    pub interval_secs: u64,
    /// What to even out.
    pub strategy: RebalanceStrategy,
    /// Spread: backends whose used fractions differ by at most this much are balanced.
    pub threshold: f64,
    /// Most objects moved per run.
    pub batch_size: usize,
    /// Moves in flight at once.
    pub concurrency: usize,
}

impl Default for RebalanceConfig {
    fn default() -> Self {
        RebalanceConfig {
            enabled: false,
            interval_secs: 3600,
            strategy: RebalanceStrategy::Spread,
            threshold: 0.1,
            batch_size: 1000,
            concurrency: 4,
        }
    }
}

/// `[drain]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrainConfig {
    /// Moves in flight at once.
    pub concurrency: usize,
}

impl Default for DrainConfig {
    fn default() -> Self {
        DrainConfig { concurrency: 4 }
    }
}

/// `[lifecycle]`: the worker that applies buckets' lifecycle rules.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// Seconds between passes over the buckets with rules; 0 = rules are kept but not applied.
    pub interval_secs: u64,
    /// The length of a lifecycle day in seconds: 86400, or shorter to watch rules act in a test
    /// (a shortened day is counted from the moment itself, not rounded to midnight).
    pub day_secs: u64,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            interval_secs: 3600,
            day_secs: s3o_store::lifecycle::DAY_SECS,
        }
    }
}

impl LifecycleConfig {
    /// Checks the values; the error names the key.
    pub fn problem(&self) -> Option<String> {
        (self.day_secs == 0 || self.day_secs > s3o_store::lifecycle::DAY_SECS)
            .then(|| "lifecycle: day_secs must be above 0 and at most 86400".into())
    }
}

/// `[cleanup]`: the cleanup queue and the orphan sweep.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CleanupConfig {
    /// Failed deletions of a task before it is given up (logged; the orphan sweep finds the
    /// bytes again later).
    pub max_attempts: u32,
    /// Seconds between orphan sweeps of every backend; 0 = no sweep.
    pub orphan_sweep_secs: u64,
    /// A physical object no metadata references is deleted only once it is this old.
    pub orphan_grace_secs: u64,
    /// Most objects a sweep lists per second per backend.
    pub orphan_sweep_rate: u64,
}

impl Default for CleanupConfig {
    fn default() -> Self {
        CleanupConfig {
            max_attempts: 20,
            orphan_sweep_secs: 86_400,
            orphan_grace_secs: 86_400,
            orphan_sweep_rate: 1000,
        }
    }
}

impl ReplicationConfig {
    /// Checks the values; the error names the key.
    pub fn problem(&self) -> Option<String> {
        if self.factor == 0 {
            return Some("replication: factor must be at least 1".into());
        }
        if self.write_quorum > self.factor {
            return Some("replication: write_quorum must be at most factor".into());
        }
        if self.interval_secs == 0 || self.batch_size == 0 {
            return Some("replication: interval_secs and batch_size must be above 0".into());
        }
        None
    }
}

impl HealthConfig {
    /// Checks the values; the error names the key.
    pub fn problem(&self) -> Option<String> {
        (self.probe_interval_secs == 0 || self.failure_threshold == 0)
            .then(|| "health: probe_interval_secs and failure_threshold must be above 0".into())
    }
}

impl RebalanceConfig {
    /// Checks the values; the error names the key.
    pub fn problem(&self) -> Option<String> {
        if !(0.0..1.0).contains(&self.threshold) {
            return Some("rebalance: threshold must be at least 0 and below 1".into());
        }
        (self.interval_secs == 0 || self.batch_size == 0 || self.concurrency == 0)
            .then(|| "rebalance: interval_secs, batch_size and concurrency must be above 0".into())
    }
}
