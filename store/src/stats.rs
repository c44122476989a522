//! What the admin port reads from the store: per-backend totals, the state of the cleanup queue,
//! and monthly usage counters.

use serde::{Deserialize, Serialize};

use crate::model::CleanupTask;

/// One backend's totals, from the metadata alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendStats {
    /// The backend's name.
    pub backend: String,
    /// Stored object versions (current and noncurrent) with a location on this backend (a
    /// replicated object counts on each of its backends).
    pub objects: u64,
    /// Sum of the sizes of those versions.
    pub bytes: u64,
    /// Multipart uploads in progress on this backend.
    pub uploads: u64,
    /// Committed bytes: current versions, recorded parts and replaced versions not yet cleaned
    /// up (what quotas count, see [`Engine::usage`](crate::Engine::usage)).
    pub committed_bytes: u64,
    /// Bytes reserved in flight by uploads not yet committed.
    pub reserved_bytes: u64,
}

/// The cleanup queue as the admin port shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupQueue {
    /// Tasks queued, due or not.
    pub depth: u64,
    /// The first tasks by due time (equal times in id order).
    pub first: Vec<CleanupTask>,
}

/// One backend's usage counters for one period (a calendar month), or deltas to add to them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageCounters {
    /// The backend's name.
    pub backend: String,
    /// API requests sent to the backend.
    pub api_requests: u64,
    /// Bytes read from the backend.
    pub egress_bytes: u64,
    /// Bytes written to the backend.
    pub ingress_bytes: u64,
}

impl UsageCounters {
    /// Adds `other`'s counts to these (saturating; the backend name is kept).
    pub fn add(&mut self, other: &UsageCounters) {
        self.api_requests = self.api_requests.saturating_add(other.api_requests);
        self.egress_bytes = self.egress_bytes.saturating_add(other.egress_bytes);
        self.ingress_bytes = self.ingress_bytes.saturating_add(other.ingress_bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_saturating_and_keep_the_name() {
        let mut a = UsageCounters {
            backend: "b1".into(),
            api_requests: 1,
            egress_bytes: u64::MAX - 1,
            ingress_bytes: 3,
        };
        a.add(&UsageCounters {
            backend: "other".into(),
            api_requests: 2,
            egress_bytes: 5,
            ingress_bytes: 4,
        });
        assert_eq!(
            (a.backend.as_str(), a.api_requests, a.egress_bytes, a.ingress_bytes),
            ("b1", 3, u64::MAX, 7)
        );
    }
}
