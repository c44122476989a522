//! The scan of every stored version in the sled engine. A key's current version is in
//! `objects` and its noncurrent ones in `versions` (newest first), so the scan walks the keys of
//! both trees in step: the next key is the smaller of the first key after the current one in
//! each tree (one range seek each), and a key's versions are its current one merged into its
//! noncurrent ones read backwards (oldest first), from just after the version to resume from.
//! Each key is read under its lock, so a version moving between the trees is seen once.

use std::ops::Bound;

use super::layout::{
    decode, object_key, split_object_key, split_version_key, successor, version_key, versions_of, OBJECTS, VERSIONS,
};
use super::SledEngine;
use crate::error::Result;
use crate::model::ObjectMeta;
use crate::orchestration::{ScanPage, Scanning, VersionAt};

impl SledEngine {
    /// One page of the scan of stored versions (see
    /// [`Engine::scan_versions`](crate::Engine::scan_versions)).
    pub(crate) fn scan_versions(
        &self,
        after: Option<&VersionAt>,
        backend: Option<&str>,
        limit: usize,
    ) -> Result<ScanPage> {
        let mut scan = Scanning::new(backend, limit);
        let mut next = match after {
            Some(at) => {
                if self.scan_key(&mut scan, &at.bucket, &at.key, Some(at.version))? {
                    return Ok(scan.stopped());
                }
                self.key_after(Some((&at.bucket, &at.key)))?
            }
            None => self.key_after(None)?,
        };
        while let Some((bucket, key)) = next {
            if self.scan_key(&mut scan, &bucket, &key, None)? {
                return Ok(scan.stopped());
            }
            next = self.key_after(Some((&bucket, &key)))?;
        }
        Ok(scan.ended())
    }

    /// The first key with a current or noncurrent version after `bucket`/`key` (from the
    /// start when `None`), as (bucket, key).
    fn key_after(&self, at: Option<(&str, &str)>) -> Result<Option<(String, String)>> {
        let (in_objects, in_versions) = match at {
            None => (Bound::Unbounded, Bound::Unbounded),
            Some((bucket, key)) => (
                Bound::Excluded(object_key(bucket, key)),
                match successor(&versions_of(bucket, key)) {
                    Some(s) => Bound::Included(s),
                    None => Bound::Unbounded,
                },
            ),
        };
        let current = match self.objects.range((in_objects, Bound::Unbounded)).keys().next() {
            Some(k) => Some(split_object_key(&k?)?),
            None => None,
        };
        let older = match self.versions.range((in_versions, Bound::Unbounded)).keys().next() {
            Some(k) => Some(split_version_key(&k?)?),
            None => None,
        };
        Ok(match (current, older) {
            (Some(a), Some(b)) => Some(
                if (a.0.as_bytes(), a.1.as_bytes()) <= (b.0.as_bytes(), b.1.as_bytes()) {
                    a
                } else {
                    b
                },
            ),
            (a, b) => a.or(b),
        })
    }

    /// Feeds the versions of `bucket`/`key` numbered above `after` (all when `None`) to
    /// `scan`, oldest first; whether the call must stop.
    fn scan_key(&self, scan: &mut Scanning<'_>, bucket: &str, key: &str, after: Option<u64>) -> Result<bool> {
        let _key_lock = self.key_locks.lock(bucket, key);
        let mut current = match self.objects.get(object_key(bucket, key))? {
            Some(v) => Some(decode::<ObjectMeta>(OBJECTS, &v)?),
            None => None,
        }
        .filter(|m| after.is_none_or(|v| m.version > v));
        let from = versions_of(bucket, key);
        // Newest first in the tree: the versions above `after` sort before its key.
        let to = match after {
            Some(v) => Bound::Excluded(version_key(bucket, key, v)),
            None => match successor(&from) {
                Some(s) => Bound::Excluded(s),
                None => Bound::Unbounded,
            },
        };
        for v in self.versions.range((Bound::Included(from), to)).values().rev() {
            let older: ObjectMeta = decode(VERSIONS, &v?)?;
            if let Some(c) = current.take_if(|c| c.version < older.version) {
                if scan.visit(bucket, key, c, true) {
                    return Ok(true);
                }
            }
            if current.as_ref().is_some_and(|c| c.version == older.version) {
                continue;
            }
            if scan.visit(bucket, key, older, false) {
                return Ok(true);
            }
        }
        Ok(match current {
            Some(c) => scan.visit(bucket, key, c, true),
            None => false,
        })
    }
}
