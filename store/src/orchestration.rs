//! What the proxy's orchestration workers (replicator, drain, rebalancer, over-replication
//! cleanup, backend removal) need of the store, in its model: the replication queue's tasks,
//! positions in and pages of the scan of every stored version, how a relocation disposes of
//! the copies it drops, and the rules both engines apply the same way (how much one scan call
//! examines, how a relocation compares and splits locations).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::model::{Location, ObjectMeta};
use crate::versions::VersionRef;

/// Most records one [`scan_versions`](crate::Engine::scan_versions) call examines, whatever its
/// limit asks (unless the limit is larger): a call filtered by a backend that holds little must
/// still answer in bounded time, a few milliseconds of reads.
pub const SCAN_EXAMINE_MAX: usize = 4096;

/// Records examined per version asked for: a filtered page may be short, but rarely empty when
/// the backend holds one version in eight.
const SCAN_EXAMINE_PER_VERSION: usize = 8;

/// A version waiting for more copies: the replicator copies it until it has
/// [`ObjectMeta::copies_wanted`] locations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationTask {
    /// The bucket.
    pub bucket: String,
    /// The object key.
    pub key: String,
    /// The version number ([`ObjectMeta::version`]).
    pub version: u64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not to be tried before this time, milliseconds since the Unix epoch.
    pub not_before_ms: u64,
}

/// A position in the scan of stored versions: the version numbered `version` of `bucket`/`key`
/// (persist it to resume a scan after a restart).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VersionAt {
    /// The bucket.
    pub bucket: String,
    /// The object key.
    pub key: String,
    /// The version number.
    pub version: u64,
}

/// One stored version, as the scan finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    /// The bucket.
    pub bucket: String,
    /// The object key.
    pub key: String,
    /// The version.
    pub meta: ObjectMeta,
    /// Whether it is the key's current version (else a noncurrent one).
    pub current: bool,
}

/// One page of the scan of stored versions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanPage {
    /// The versions found, in scan order.
    pub versions: Vec<StoredVersion>,
    /// Where to resume (the last record examined); `None` once the scan reached the end.
    pub next: Option<VersionAt>,
}

/// What a relocation does with the copies it drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Queues each dropped copy for deletion (its bytes stay in the backend's usage until the
    /// cleanup completes).
    Cleanup,
    /// Forgets each dropped copy at once, its bytes leaving the backend's usage (the backend is
    /// being removed: nothing there will ever be deleted).
    Forget,
}

/// How many records one scan call for `limit` versions examines.
pub(crate) fn scan_budget(limit: usize) -> usize {
    let limit = limit.max(1);
    limit
        .saturating_mul(SCAN_EXAMINE_PER_VERSION)
        .min(SCAN_EXAMINE_MAX)
        .max(limit)
}

/// A scan in progress: the page so far and what the call may still examine. Both engines feed
/// it their records in scan order, so they page alike.
pub(crate) struct Scanning<'a> {
    page: ScanPage,
    backend: Option<&'a str>,
    limit: usize,
    budget: usize,
    last: Option<VersionAt>,
}

impl<'a> Scanning<'a> {
    /// A scan for up to `limit` versions, only those with a location on `backend` if given.
    pub(crate) fn new(backend: Option<&'a str>, limit: usize) -> Self {
        Self {
            page: ScanPage::default(),
            backend,
            limit: limit.max(1),
            budget: scan_budget(limit),
            last: None,
        }
    }

    /// Examines one record; whether the call must stop now (the page is full, or the budget
    /// spent).
    pub(crate) fn visit(&mut self, bucket: &str, key: &str, meta: ObjectMeta, current: bool) -> bool {
        self.budget = self.budget.saturating_sub(1);
        self.last = Some(VersionAt {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version: meta.version,
        });
        let wanted = self
            .backend
            .is_none_or(|b| meta.locations.iter().any(|l| l.backend == b));
        if !meta.delete_marker && wanted {
            self.page.versions.push(StoredVersion {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                meta,
                current,
            });
        }
        self.page.versions.len() >= self.limit || self.budget == 0
    }

    /// The page of a call that stopped before the end: it resumes after the last record seen.
    pub(crate) fn stopped(mut self) -> ScanPage {
        self.page.next = self.last;
        self.page
    }

    /// The page of a call that reached the end.
    pub(crate) fn ended(self) -> ScanPage {
        self.page
    }
}

/// Whether `meta` holds bytes and has fewer locations than it wants copies: committing it
/// queues it for replication.
pub(crate) fn wants_copies(meta: &ObjectMeta) -> bool {
    !meta.delete_marker && meta.copies_wanted as usize > meta.locations.len()
}

/// How a relocation changes a version's locations: the copies it adds and those it drops
/// (each once).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Moves {
    pub(crate) added: Vec<Location>,
    pub(crate) dropped: Vec<Location>,
}

/// Checks that `current` (the version's locations) are `expected` as sets, else
/// `PreconditionFailed`; then the copies `new` adds and drops.
pub(crate) fn moves(
    bucket: &str,
    key: &str,
    current: &[Location],
    expected: &[Location],
    new: &[Location],
) -> Result<Moves, StoreError> {
    let have: HashSet<&Location> = current.iter().collect();
    let want: HashSet<&Location> = expected.iter().collect();
    if have != want {
        return Err(StoreError::PreconditionFailed {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        });
    }
    let next: HashSet<&Location> = new.iter().collect();
    let mut moves = Moves::default();
    let mut seen = HashSet::new();
    for loc in new {
        if !want.contains(loc) && seen.insert(loc) {
            moves.added.push(loc.clone());
        }
    }
    for loc in expected {
        if !next.contains(loc) && seen.insert(loc) {
            moves.dropped.push(loc.clone());
        }
    }
    Ok(moves)
}

/// The error for version `version` of `bucket`/`key` that is missing or a delete marker.
pub(crate) fn no_such_version(bucket: &str, key: &str, version: u64) -> StoreError {
    StoreError::NoSuchVersion {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version: VersionRef::Id(version).shown(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(b: &str, k: &str) -> Location {
        Location {
            backend: b.into(),
            physical_key: k.into(),
        }
    }

    #[test]
    fn budgets_are_bounded_but_never_below_the_limit() {
        assert_eq!(scan_budget(0), SCAN_EXAMINE_PER_VERSION);
        assert_eq!(scan_budget(10), 80);
        assert_eq!(scan_budget(1000), SCAN_EXAMINE_MAX);
        assert_eq!(scan_budget(10_000), 10_000);
    }

    #[test]
    fn moves_compare_as_sets_and_split_once() {
        let (a, b, c) = (loc("b1", "x"), loc("b2", "x"), loc("b3", "x"));
        let m = moves(
            "bkt",
            "k",
            &[a.clone(), b.clone()],
            &[b.clone(), a.clone()],
            &[a.clone(), c.clone(), c.clone()],
        )
        .unwrap();
        assert_eq!(m.added, [c]);
        assert_eq!(m.dropped, std::slice::from_ref(&b));
        let r = moves(
            "bkt",
            "k",
            std::slice::from_ref(&a),
            &[a.clone(), b],
            std::slice::from_ref(&a),
        );
        assert!(matches!(r, Err(StoreError::PreconditionFailed { .. })));
    }

    #[test]
    fn only_versions_with_bytes_and_too_few_copies_want_more() {
        let mut m = ObjectMeta {
            copies_wanted: 2,
            locations: vec![loc("b1", "x")],
            ..ObjectMeta::default()
        };
        assert!(wants_copies(&m));
        m.locations.push(loc("b2", "x"));
        assert!(!wants_copies(&m));
        m.locations.clear();
        m.delete_marker = true;
        assert!(!wants_copies(&m));
    }

    #[test]
    fn positions_round_trip_through_json() {
        let at = VersionAt {
            bucket: "b".into(),
            key: "k\u{0}é".into(),
            version: 7,
        };
        let back: VersionAt = serde_json::from_str(&serde_json::to_string(&at).unwrap()).unwrap();
        assert_eq!(back, at);
    }
}
