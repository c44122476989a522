//! ListObjects (v1 and v2) answered from the sled engine's `objects` tree, with S3's semantics: keys in UTF-8 byte
//! order; with a delimiter, keys that contain it after the prefix roll up into one common prefix;
//! keys and common prefixes together count toward `max_keys`; every entry returned sorts after
//! `start_after`.
//!
//! The last entry of a page (key or common prefix) is the `start_after` of the next one. A common
//! prefix that `start_after` equals or lies inside sorts at or before it and is never repeated.
//! After emitting a common prefix the scan seeks past every key under it, so a prefix holding
//! millions of keys costs one seek, not millions of steps.

use std::ops::Bound;

use super::layout::{bucket_prefix, decode, object_key, successor, utf8, OBJECTS};
use super::SledEngine;
use crate::error::{Result, StoreError};
use crate::model::{ListPage, ListQuery, ObjectMeta};
use crate::rules::rollup_end;

/// Where the scan of a page begins.
fn start_bound(bucket: &str, query: &ListQuery, delimiter: Option<&str>) -> Option<Bound<Vec<u8>>> {
    let full_prefix = object_key(bucket, &query.prefix);
    let Some(after) = &query.start_after else {
        return Some(Bound::Included(full_prefix));
    };
    let after_key = object_key(bucket, after);
    if after_key < full_prefix {
        return Some(Bound::Included(full_prefix));
    }
    // start_after inside a common prefix: skip the whole prefix, it sorts before start_after.
    if let Some(end) = delimiter.and_then(|d| rollup_end(after, &query.prefix, d)) {
        let rolled = after.get(..end).unwrap_or(after);
        return successor(&object_key(bucket, rolled)).map(Bound::Included);
    }
    Some(Bound::Excluded(after_key))
}

impl SledEngine {
    /// One page of the keys of `bucket` matching `query`; `NoSuchBucket` if it does not exist.
    pub(crate) fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<ListPage> {
        self.list_counting(bucket, query).map(|(page, _)| page)
    }

    /// [`list_objects`](Self::list_objects), also returning how many stored keys were visited.
    fn list_counting(&self, bucket: &str, query: &ListQuery) -> Result<(ListPage, usize)> {
        if self.bucket(bucket)?.is_none() {
            return Err(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        let delimiter = query.delimiter.as_deref().filter(|d| !d.is_empty());
        let base_len = bucket_prefix(bucket).len();
        let full_prefix = object_key(bucket, &query.prefix);
        let mut page = ListPage::default();
        let mut visited = 0;
        let Some(start) = start_bound(bucket, query, delimiter) else {
            return Ok((page, visited));
        };
        let mut iter = self.objects.range((start, Bound::Unbounded));
        let mut returned = 0;
        while let Some(kv) = iter.next() {
            let (k, v) = kv?;
            visited += 1;
            if !k.starts_with(&full_prefix) {
                break;
            }
            if returned == query.max_keys {
                page.is_truncated = true;
                break;
            }
            returned += 1;
            let key = utf8(OBJECTS, k.get(base_len..).unwrap_or_default())?;
            match delimiter.and_then(|d| rollup_end(&key, &query.prefix, d)) {
                Some(end) => {
                    let rolled = key.get(..end).unwrap_or(&key).to_owned();
                    let next = successor(&object_key(bucket, &rolled));
                    page.next_marker = Some(rolled.clone());
                    page.common_prefixes.push(rolled);
                    match next {
                        Some(next) => iter = self.objects.range(next..),
                        None => break,
                    }
                }
                None => {
                    page.objects
                        .push((key.clone(), decode::<ListView>(OBJECTS, &v)?.into_meta()));
                    page.next_marker = Some(key);
                }
            }
        }
        Ok((page, visited))
    }
}

/// The fields a listing shows, decoded without the rest of the record (locations, metadata,
/// checksums): listing a page then costs a fraction of decoding whole records.
#[derive(serde::Deserialize)]
struct ListView {
    size: u64,
    etag: String,
    last_modified_ms: u64,
    version: u64,
    #[serde(default)]
    owner: Option<String>,
}

impl ListView {
    /// An [`ObjectMeta`] carrying only what listings need.
    fn into_meta(self) -> ObjectMeta {
        ObjectMeta {
            size: self.size,
            etag: self.etag,
            last_modified_ms: self.last_modified_ms,
            version: self.version,
            owner: self.owner,
            ..ObjectMeta::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_on;
    use crate::conformance::listing::{model, walk, Entry};
    use crate::sled_engine::testing::{ok, temporary};
    use crate::{Store, WriteCondition};
    use proptest::prelude::*;

    /// A store whose bucket `bkt` holds `keys`.
    fn store_with(keys: &[&str]) -> (Store, std::sync::Arc<SledEngine>) {
        let (store, engine) = temporary();
        ok(store.create_bucket("bkt", "AK"));
        for k in keys {
            ok(store.put_object("bkt", k, &ObjectMeta::default(), &WriteCondition::None, Vec::new()));
        }
        (store, engine)
    }

    #[test]
    fn a_huge_common_prefix_costs_one_seek() {
        let keys: Vec<String> = (0..3000).map(|i| format!("big/{i:05}")).collect();
        let mut all: Vec<&str> = keys.iter().map(String::as_str).collect();
        all.extend(["a", "zzz"]);
        let (_store, engine) = store_with(&all);
        let q = ListQuery {
            delimiter: Some("/".into()),
            ..ListQuery::default()
        };
        let (page, visited) = engine.list_counting("bkt", &q).unwrap();
        assert_eq!(page.common_prefixes, ["big/"]);
        assert_eq!(page.objects.len(), 2);
        assert!(visited <= 5, "visited {visited} keys");
        // Continuing from inside the prefix skips it too.
        let inside = ListQuery {
            start_after: Some("big/00007".into()),
            ..q
        };
        let (page, visited) = engine.list_counting("bkt", &inside).unwrap();
        let keys: Vec<&str> = page.objects.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["zzz"]);
        assert!(page.common_prefixes.is_empty());
        assert!(visited <= 3, "visited {visited} keys");
    }

    #[test]
    fn corrupt_records_are_reported() {
        let (store, engine) = store_with(&["k"]);
        engine.objects.insert(object_key("bkt", "m"), &b"garbage"[..]).unwrap();
        let all = ListQuery::default();
        assert!(matches!(
            block_on(store.list_objects("bkt", &all)),
            Err(StoreError::Corrupt { .. })
        ));
        let mut raw = bucket_prefix("bkt");
        raw.extend_from_slice(b"\xff\xfe");
        engine.objects.insert(raw, &b"{}"[..]).unwrap();
        let q = ListQuery {
            start_after: Some("m".into()),
            ..ListQuery::default()
        };
        assert!(matches!(
            block_on(store.list_objects("bkt", &q)),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn start_after_before_the_prefix_and_no_successor() {
        assert_eq!(
            start_bound(
                "b",
                &ListQuery {
                    prefix: "m".into(),
                    start_after: Some("a".into()),
                    ..ListQuery::default()
                },
                None
            ),
            Some(Bound::Included(object_key("b", "m")))
        );
        assert_eq!(rollup_end("a/b/c", "a/", "/"), Some(4));
        assert_eq!(rollup_end("x", "a/", "/"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Random key sets against the conformance suite's model of S3 listing.
        #[test]
        fn every_page_size_walks_the_same_listing(
            keys in proptest::collection::vec("[ab/-]{0,5}", 1..24),
            prefix in "[ab/]{0,2}",
            delimiter in proptest::option::of(prop_oneof![Just("/".to_owned()), Just("-".to_owned()), Just("b/".to_owned())]),
            after in proptest::option::of("[ab/-]{0,3}"),
        ) {
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            let (store, _engine) = store_with(&refs);
            let want: Vec<Entry> = model(&keys, &prefix, delimiter.as_deref(), after.as_deref());
            let base = ListQuery { prefix, delimiter, start_after: after, max_keys: usize::MAX };
            prop_assert_eq!(&block_on(walk(&store, "bkt", &base, usize::MAX)), &want);
            for n in 1..=want.len() + 1 {
                prop_assert_eq!(&block_on(walk(&store, "bkt", &base, n)), &want);
            }
        }
    }
}
