//! What the admin port reads, in the sled engine: per-backend totals kept as counters in the
//! `backend_stats` tree by every transaction that changes them (built once by a scan when a store
//! written before they existed is opened), the cleanup queue's depth as an in-memory counter,
//! monthly usage counters, directory summaries (a scan), and the writability probe.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use sled::transaction::TransactionalTree;

use super::commit::CommitTicket;
use super::error::TxError;
use super::layout::{
    decode, decode_counters, encode_counters, encode_u64, object_key, usage_counters_key, utf8, BACKEND_STATS, OBJECTS,
    PROBE_KEY, STATS_VERSION, STATS_VERSION_KEY, UPLOADS, USAGE_COUNTERS, VERSIONS,
};
use super::SledEngine;
use crate::error::{Result, StoreError};
use crate::model::{Location, ObjectMeta, Upload};
use crate::rules::{check_period, now_ms};
use crate::stats::{BackendStats, CleanupQueue, UsageCounters};

/// Changes one transaction makes to `backend_stats`: objects, bytes and uploads by backend.
#[derive(Debug, Default)]
pub(crate) struct StatsDelta(BTreeMap<String, [i128; 3]>);

impl StatsDelta {
    /// Counts `meta` (`sign` 1) or stops counting it (`sign` -1) on each of its backends, once
    /// per backend however many locations it has there.
    pub(crate) fn version(&mut self, meta: &ObjectMeta, sign: i128) {
        let mut seen: Vec<&str> = Vec::with_capacity(meta.locations.len());
        for Location { backend, .. } in &meta.locations {
            if seen.contains(&backend.as_str()) {
                continue;
            }
            seen.push(backend);
            let d = self.0.entry(backend.clone()).or_default();
            d[0] += sign;
            d[1] += sign * i128::from(meta.stored_size());
        }
    }

    /// Counts an upload in progress on `backend` (`sign` 1) or stops counting it (-1).
    pub(crate) fn upload(&mut self, backend: &str, sign: i128) {
        self.0.entry(backend.to_owned()).or_default()[2] += sign;
    }

    /// Applies the changes inside a transaction; a counter never goes below zero, and a backend
    /// whose counters are all zero has no record.
    pub(crate) fn apply_in(&self, stats: &TransactionalTree) -> std::result::Result<(), TxError> {
        for (backend, delta) in &self.0 {
            if delta.iter().all(|d| *d == 0) {
                continue;
            }
            let mut counts = match stats.get(backend.as_bytes())? {
                Some(v) => decode_counters(BACKEND_STATS, &v)?,
                None => [0; 3],
            };
            for (count, d) in counts.iter_mut().zip(delta) {
                *count = u64::try_from((i128::from(*count) + d).max(0)).unwrap_or(u64::MAX);
            }
            if counts == [0; 3] {
                stats.remove(backend.as_bytes())?;
            } else {
                stats.insert(backend.as_bytes(), &encode_counters(&counts))?;
            }
        }
        Ok(())
    }
}

/// What building the totals needs of an object record.
#[derive(serde::Deserialize)]
struct StatsView {
    size: u64,
    #[serde(default)]
    stored: Option<u64>,
    locations: Vec<Location>,
}

/// The size of an object record, decoded without the rest.
#[derive(serde::Deserialize)]
struct SizeView {
    size: u64,
}

impl SledEngine {
    /// Builds `backend_stats` by one scan of the objects and uploads when the store was written
    /// before it existed (or by an unknown version); a no-op afterwards.
    pub(crate) fn ensure_backend_stats(&self) -> Result<()> {
        let version = self.meta.get(STATS_VERSION_KEY)?;
        if version.as_deref() == Some(&encode_u64(STATS_VERSION)[..]) {
            return Ok(());
        }
        let mut delta = StatsDelta::default();
        // Every stored version counts: current ones, and the noncurrent ones a versioned bucket
        // keeps (delete markers have no locations, so they add nothing).
        let versions = self.versions.iter().values().map(|v| (VERSIONS, v));
        for (tree, v) in self.objects.iter().values().map(|v| (OBJECTS, v)).chain(versions) {
            let view: StatsView = decode(tree, &v?)?;
            let meta = ObjectMeta {
                size: view.size,
                stored: view.stored,
                locations: view.locations,
                ..ObjectMeta::default()
            };
            delta.version(&meta, 1);
        }
        for v in self.uploads.iter().values() {
            let upload: Upload = decode(UPLOADS, &v?)?;
            delta.upload(&upload.backend, 1);
        }
        self.backend_stats.clear()?;
        let built: std::result::Result<(), sled::transaction::TransactionError<StoreError>> =
            self.backend_stats.transaction(|stats| delta.apply_in(stats));
        built?;
        self.meta.insert(STATS_VERSION_KEY, &encode_u64(STATS_VERSION))?;
        self.db.flush()?;
        tracing::info!(backends = delta.0.len(), "metadata store: per-backend totals built");
        Ok(())
    }

    /// The totals of every backend that has any, in name order.
    pub(crate) fn backend_stats(&self) -> Result<Vec<BackendStats>> {
        /// The entry of backend `name`, made on first use.
        fn entry(by_name: &mut BTreeMap<String, BackendStats>, name: String) -> &mut BackendStats {
            by_name.entry(name.clone()).or_insert_with(|| BackendStats {
                backend: name,
                ..BackendStats::default()
            })
        }
        let mut by_name = BTreeMap::new();
        for kv in self.backend_stats.iter() {
            let (k, v) = kv?;
            let [objects, bytes, uploads] = decode_counters(BACKEND_STATS, &v)?;
            let e = entry(&mut by_name, utf8(BACKEND_STATS, &k)?);
            (e.objects, e.bytes, e.uploads) = (objects, bytes, uploads);
        }
        for (name, committed) in self.all_usage()? {
            entry(&mut by_name, name).committed_bytes = committed;
        }
        for (name, reserved) in self.all_reserved() {
            entry(&mut by_name, name).reserved_bytes = reserved;
        }
        Ok(by_name.into_values().collect())
    }

    /// How many tasks are queued, and the first `limit` by due time.
    pub(crate) fn cleanup_queue(&self, limit: usize) -> Result<CleanupQueue> {
        Ok(CleanupQueue {
            depth: self.cleanup_depth.load(Ordering::Relaxed),
            first: self.due_cleanup(u64::MAX, limit)?,
        })
    }

    /// Adds `deltas` to the counters of `period` in one transaction.
    pub(crate) fn add_usage(&self, period: &str, deltas: &[UsageCounters]) -> Result<CommitTicket> {
        check_period(period)?;
        self.commits.check()?;
        let mut summed: BTreeMap<&str, UsageCounters> = BTreeMap::new();
        for d in deltas {
            summed.entry(&d.backend).or_default().add(d);
        }
        if summed.is_empty() {
            return Ok(CommitTicket::ready());
        }
        self.usage_counters.transaction(|tree| {
            for (backend, d) in &summed {
                let key = usage_counters_key(period, backend);
                let mut counts = match tree.get(key.as_slice())? {
                    Some(v) => decode_counters(USAGE_COUNTERS, &v)?,
                    None => [0; 3],
                };
                for (count, add) in counts.iter_mut().zip([d.api_requests, d.egress_bytes, d.ingress_bytes]) {
                    *count = count.saturating_add(add);
                }
                tree.insert(key.as_slice(), &encode_counters(&counts))?;
            }
            Ok(())
        })?;
        Ok(self.commits.ticket())
    }

    /// The counters of `period`, by backend name.
    pub(crate) fn usage_counters(&self, period: &str) -> Result<Vec<UsageCounters>> {
        check_period(period)?;
        let prefix = usage_counters_key(period, "");
        self.usage_counters
            .scan_prefix(&prefix)
            .map(|kv| {
                let (k, v) = kv?;
                let [api_requests, egress_bytes, ingress_bytes] = decode_counters(USAGE_COUNTERS, &v)?;
                Ok(UsageCounters {
                    backend: utf8(USAGE_COUNTERS, k.get(prefix.len()..).unwrap_or_default())?,
                    api_requests,
                    egress_bytes,
                    ingress_bytes,
                })
            })
            .collect()
    }

    /// Counts the current objects under `prefix` of `bucket`: one scan of their records.
    pub(crate) fn prefix_summary(&self, bucket: &str, prefix: &str) -> Result<(u64, u64)> {
        if self.bucket(bucket)?.is_none() {
            return Err(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        let (mut objects, mut bytes) = (0u64, 0u64);
        for v in self.objects.scan_prefix(object_key(bucket, prefix)).values() {
            let view: SizeView = decode(OBJECTS, &v?)?;
            objects += 1;
            bytes = bytes.saturating_add(view.size);
        }
        Ok((objects, bytes))
    }

    /// Writes the time into the `meta` tree, to be made durable like any commit.
    pub(crate) fn check_writable(&self) -> Result<CommitTicket> {
        self.commits.check()?;
        self.meta.insert(PROBE_KEY, &encode_u64(now_ms()))?;
        Ok(self.commits.ticket())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_on;
    use crate::model::{Accounting, CleanupReason, WriteCondition};
    use crate::sled_engine::testing::ok;
    use crate::Store;

    fn meta(size: u64, backends: &[&str]) -> ObjectMeta {
        ObjectMeta {
            size,
            locations: backends
                .iter()
                .map(|b| Location {
                    backend: (*b).to_owned(),
                    physical_key: format!("p-{b}-{size}"),
                })
                .collect(),
            ..ObjectMeta::default()
        }
    }

    /// `open()`, tried again (bounded) while the directory is still locked: sled lets go of its
    /// lock when the background threads of a dropped handle end, a moment after the drop.
    fn when_unlocked<T, E: std::fmt::Display>(open: impl Fn() -> std::result::Result<T, E>) -> T {
        let t0 = std::time::Instant::now();
        loop {
            match open() {
                Ok(opened) => return opened,
                Err(e) if t0.elapsed() < std::time::Duration::from_secs(10) => {
                    eprintln!("reopen: {e}; trying again");
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => panic!("reopen: {e}"),
            }
        }
    }

    #[test]
    fn a_store_written_before_the_totals_gets_them_built_when_opened() {
        let dir = crate::scratch_path("stats");
        let want;
        {
            let store = Store::open(&dir).unwrap();
            ok(store.create_bucket("bkt", "AK"));
            let none = WriteCondition::None;
            ok(store.put_object("bkt", "a", &meta(10, &["b1", "b2"]), &none, Vec::new()));
            ok(store.put_object("bkt", "b", &meta(5, &["b1", "b1"]), &none, Vec::new()));
            // A versioned bucket's noncurrent version and delete marker count as stored too.
            ok(store.create_bucket("ver", "AK"));
            let on = crate::BucketChange::Versioning(crate::Versioning::Enabled);
            ok(store.update_bucket("ver", on));
            let mut older = meta(7, &["b2"]);
            older.version = ok(store.next_version());
            ok(store.put_object("ver", "k", &older, &none, Vec::new()));
            let mut newer = meta(3, &["b2"]);
            newer.version = ok(store.next_version());
            ok(store.put_object("ver", "k", &newer, &none, Vec::new()));
            ok(store.delete_object("ver", "k"));
            let upload = Upload {
                upload_id: "u1".into(),
                bucket: "bkt".into(),
                key: "mp".into(),
                backend: "b3".into(),
                ..Upload::default()
            };
            ok(store.create_upload(&upload));
            ok(store.enqueue_cleanup("b1", "x", 0, Accounting::Uncommitted, CleanupReason::Orphan));
            want = ok(store.backend_stats());
        }
        {
            // Forget the totals, as a store from before them would have none.
            let db = when_unlocked(|| sled::open(&dir));
            db.open_tree(crate::sled_engine::layout::BACKEND_STATS)
                .unwrap()
                .clear()
                .unwrap();
            db.open_tree(crate::sled_engine::layout::META).unwrap().clear().unwrap();
            db.flush().unwrap();
        }
        let store = when_unlocked(|| Store::open(&dir));
        let got = ok(store.backend_stats());
        assert_eq!(got, want);
        let counts: Vec<_> = got
            .iter()
            .map(|s| (s.backend.as_str(), s.objects, s.bytes, s.uploads))
            .collect();
        assert_eq!(counts, [("b1", 2, 15, 0), ("b2", 3, 20, 0), ("b3", 0, 0, 1)]);
        assert_eq!(ok(store.cleanup_queue(0)).depth, 1);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_counters_are_reported_and_a_poisoned_store_is_not_writable() {
        let (store, engine) = crate::sled_engine::testing::temporary();
        engine
            .usage_counters
            .insert(usage_counters_key("2024-01", "b1"), &b"bad"[..])
            .unwrap();
        assert!(matches!(
            block_on(store.usage_counters("2024-01")),
            Err(StoreError::Corrupt { .. })
        ));
        engine.backend_stats.insert("b1", &b"bad"[..]).unwrap();
        assert!(matches!(
            block_on(store.backend_stats()),
            Err(StoreError::Corrupt { .. })
        ));
        engine.commits.poison("test");
        assert!(matches!(block_on(store.check_writable()), Err(StoreError::Flush(_))));
        assert!(matches!(
            block_on(store.add_usage("2024-01", vec![UsageCounters::default()])),
            Err(StoreError::Flush(_))
        ));
        assert!(matches!(block_on(store.sync()), Err(StoreError::Flush(_))));
    }
}
