//! ListObjects (v1 and v2) answered from the store, with S3's semantics: keys in UTF-8 byte
//! order; with a delimiter, keys that contain it after the prefix roll up into one common prefix;
//! keys and common prefixes together count toward `max_keys`; every entry returned sorts after
//! `start_after`.
//!
//! The last entry of a page (key or common prefix) is the `start_after` of the next one. A common
//! prefix that `start_after` equals or lies inside sorts at or before it and is never repeated.
//! After emitting a common prefix the scan seeks past every key under it, so a prefix holding
//! millions of keys costs one seek, not millions of steps.

use std::ops::Bound;

use crate::error::{Result, StoreError};
use crate::sled_engine::layout::{bucket_prefix, decode, object_key, successor, utf8, OBJECTS};
use crate::model::{ListPage, ListQuery};
use crate::Store;

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

/// If `key` (which starts with `prefix`) rolls up under `delimiter`, the length of its common
/// prefix: up to and including the first delimiter after the prefix.
fn rollup_end(key: &str, prefix: &str, delimiter: &str) -> Option<usize> {
    let rest = key.strip_prefix(prefix)?;
    rest.find(delimiter).map(|pos| prefix.len() + pos + delimiter.len())
}

impl Store {
    /// One page of the keys of `bucket` matching `query`; `NoSuchBucket` if it does not exist.
    pub fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<ListPage> {
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
        let mut iter = self.inner.objects.range((start, Bound::Unbounded));
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
                        Some(next) => iter = self.inner.objects.range(next..),
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
}

impl ListView {
    /// An [`ObjectMeta`](crate::ObjectMeta) carrying only what listings need.
    fn into_meta(self) -> crate::ObjectMeta {
        crate::ObjectMeta {
            size: self.size,
            etag: self.etag,
            last_modified_ms: self.last_modified_ms,
            version: self.version,
            ..crate::ObjectMeta::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ObjectMeta;
    use proptest::prelude::*;

    /// One entry of a listing, in the order S3 returns them.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Entry {
        Key(String),
        Prefix(String),
    }

    fn store_with(keys: &[&str]) -> Store {
        let store = Store::temporary().unwrap();
        store.create_bucket("bkt", "AK").unwrap().wait().unwrap();
        store.create_bucket("bkt2", "AK").unwrap().wait().unwrap();
        for (i, k) in keys.iter().enumerate() {
            let meta = ObjectMeta {
                size: u64::try_from(i).unwrap(),
                ..ObjectMeta::default()
            };
            drop(
                store
                    .put_object("bkt", k, &meta, &crate::WriteCondition::None, Vec::new())
                    .unwrap(),
            );
        }
        // A neighbour bucket whose keys must never leak into listings of `bkt`.
        store
            .put_object(
                "bkt2",
                "a",
                &ObjectMeta::default(),
                &crate::WriteCondition::None,
                Vec::new(),
            )
            .unwrap()
            .wait()
            .unwrap();
        store
    }

    fn entries(page: &ListPage) -> Vec<Entry> {
        let mut out: Vec<Entry> = page
            .objects
            .iter()
            .map(|(k, _)| Entry::Key(k.clone()))
            .chain(page.common_prefixes.iter().cloned().map(Entry::Prefix))
            .collect();
        out.sort_by(|a, b| name(a).cmp(name(b)));
        out
    }

    fn name(e: &Entry) -> &str {
        match e {
            Entry::Key(k) | Entry::Prefix(k) => k,
        }
    }

    /// The reference: every entry S3 would list, from a plain sorted key set.
    fn model(keys: &[String], prefix: &str, delimiter: Option<&str>, after: Option<&str>) -> Vec<Entry> {
        let mut sorted: Vec<&String> = keys.iter().collect();
        sorted.sort();
        sorted.dedup();
        let mut out: Vec<Entry> = Vec::new();
        for k in sorted.into_iter().filter(|k| k.starts_with(prefix)) {
            let e = match delimiter
                .filter(|d| !d.is_empty())
                .and_then(|d| rollup_end(k, prefix, d))
            {
                Some(end) => Entry::Prefix(k[..end].to_owned()),
                None => Entry::Key(k.clone()),
            };
            if after.is_some_and(|a| name(&e) <= a) || out.last() == Some(&e) {
                continue;
            }
            out.push(e);
        }
        out
    }

    /// Walks every page of size `page_size` and returns all entries in order.
    fn walk(store: &Store, base: &ListQuery, page_size: usize) -> Vec<Entry> {
        let mut query = ListQuery {
            max_keys: page_size,
            ..base.clone()
        };
        let mut all = Vec::new();
        for _ in 0..10_000 {
            let page = store.list_objects("bkt", &query).unwrap();
            let got = entries(&page);
            assert!(got.len() <= page_size);
            if page.is_truncated {
                assert_eq!(got.len(), page_size, "a truncated page is full");
            }
            if let Some(last) = got.last() {
                assert_eq!(page.next_marker.as_deref(), Some(name(last)));
            }
            all.extend(got);
            if !page.is_truncated {
                return all;
            }
            query.start_after = page.next_marker.clone();
        }
        panic!("pagination did not end");
    }

    const KEYS: &[&str] = &[
        "a",
        "a/",
        "a/b",
        "a/b/c",
        "a/c",
        "a//d",
        "a-b",
        "a-b/c",
        "b",
        "b/x-y",
        "b/x/y",
        "c-/d",
        "dir/",
        "dir/sub/1",
        "dir/sub/2",
        "dir/z",
        "é/1",
        "é/2",
        "z",
    ];

    #[test]
    fn rollup_and_order_match_the_model() {
        let store = store_with(KEYS);
        let owned: Vec<String> = KEYS.iter().map(|k| (*k).to_owned()).collect();
        for prefix in ["", "a", "a/", "dir/", "dir/sub/", "é", "nope", "a/b/c"] {
            for delimiter in [None, Some(""), Some("/"), Some("-"), Some("/s"), Some("é")] {
                for after in [
                    None,
                    Some(""),
                    Some("a"),
                    Some("a/"),
                    Some("a/b"),
                    Some("dir/"),
                    Some("zz"),
                ] {
                    let q = ListQuery {
                        prefix: prefix.to_owned(),
                        delimiter: delimiter.map(str::to_owned),
                        start_after: after.map(str::to_owned),
                        max_keys: 1000,
                    };
                    let want = model(&owned, prefix, delimiter, after);
                    let page = store.list_objects("bkt", &q).unwrap();
                    assert_eq!(entries(&page), want, "{q:?}");
                    assert!(!page.is_truncated);
                    for n in 1..=want.len() + 1 {
                        assert_eq!(walk(&store, &q, n), want, "page size {n}, {q:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_common_prefix_is_returned_once_and_not_after_continuation() {
        let store = store_with(KEYS);
        let q = ListQuery {
            delimiter: Some("/".into()),
            max_keys: 2,
            ..ListQuery::default()
        };
        let p1 = store.list_objects("bkt", &q).unwrap();
        // '-' sorts before '/', so "a-b" comes before the prefix "a/".
        assert_eq!(entries(&p1), [Entry::Key("a".into()), Entry::Key("a-b".into())]);
        assert!(p1.is_truncated);
        assert_eq!(p1.objects[0].1.size, 0, "objects carry their metadata");
        let next = |marker: Option<String>| {
            store
                .list_objects(
                    "bkt",
                    &ListQuery {
                        start_after: marker,
                        ..q.clone()
                    },
                )
                .unwrap()
        };
        let p2 = next(p1.next_marker);
        assert_eq!(entries(&p2), [Entry::Prefix("a-b/".into()), Entry::Prefix("a/".into())]);
        assert_eq!(p2.next_marker.as_deref(), Some("a/"));
        let p3 = next(p2.next_marker);
        assert_eq!(entries(&p3), [Entry::Key("b".into()), Entry::Prefix("b/".into())]);
    }

    #[test]
    fn max_keys_zero_returns_nothing_but_tells_whether_more_exists() {
        let store = store_with(KEYS);
        let q = |prefix: &str| ListQuery {
            prefix: prefix.into(),
            max_keys: 0,
            ..ListQuery::default()
        };
        let page = store.list_objects("bkt", &q("a")).unwrap();
        assert!(page.objects.is_empty() && page.common_prefixes.is_empty());
        assert!(page.is_truncated);
        assert!(page.next_marker.is_none());
        assert!(!store.list_objects("bkt", &q("nope")).unwrap().is_truncated);
    }

    #[test]
    fn a_huge_common_prefix_costs_one_seek() {
        let keys: Vec<String> = (0..3000).map(|i| format!("big/{i:05}")).collect();
        let mut all: Vec<&str> = keys.iter().map(String::as_str).collect();
        all.extend(["a", "zzz"]);
        let store = store_with(&all);
        let q = ListQuery {
            delimiter: Some("/".into()),
            ..ListQuery::default()
        };
        let (page, visited) = store.list_counting("bkt", &q).unwrap();
        assert_eq!(page.common_prefixes, ["big/"]);
        assert_eq!(page.objects.len(), 2);
        assert!(visited <= 5, "visited {visited} keys");
        // Continuing from inside the prefix skips it too.
        let inside = ListQuery {
            start_after: Some("big/00007".into()),
            ..q
        };
        let (page, visited) = store.list_counting("bkt", &inside).unwrap();
        assert_eq!(entries(&page), [Entry::Key("zzz".into())]);
        assert!(visited <= 3, "visited {visited} keys");
    }

    #[test]
    fn every_error_path() {
        let store = store_with(&["k"]);
        assert!(matches!(
            store.list_objects("nobkt", &ListQuery::default()),
            Err(StoreError::NoSuchBucket(b)) if b == "nobkt"
        ));
        store
            .inner
            .objects
            .insert(object_key("bkt", "m"), &b"garbage"[..])
            .unwrap();
        assert!(matches!(
            store.list_objects("bkt", &ListQuery::default()),
            Err(StoreError::Corrupt { .. })
        ));
        let mut raw = bucket_prefix("bkt");
        raw.extend_from_slice(b"\xff\xfe");
        store.inner.objects.insert(raw, &b"{}"[..]).unwrap();
        let q = ListQuery {
            start_after: Some("m".into()),
            ..ListQuery::default()
        };
        assert!(matches!(store.list_objects("bkt", &q), Err(StoreError::Corrupt { .. })));
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

        #[test]
        fn every_page_size_walks_the_same_listing(
            keys in proptest::collection::vec("[ab/-]{0,5}", 1..24),
            prefix in "[ab/]{0,2}",
            delimiter in proptest::option::of(prop_oneof![Just("/".to_owned()), Just("-".to_owned()), Just("b/".to_owned())]),
            after in proptest::option::of("[ab/-]{0,3}"),
        ) {
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            let store = store_with(&refs);
            let want = model(&keys, &prefix, delimiter.as_deref(), after.as_deref());
            let base = ListQuery { prefix, delimiter, start_after: after, max_keys: usize::MAX };
            prop_assert_eq!(&walk(&store, &base, usize::MAX), &want);
            for n in 1..=want.len() + 1 {
                prop_assert_eq!(&walk(&store, &base, n), &want);
            }
        }
    }
}
