//! ListObjects with S3's semantics, checked against a model computed from a plain sorted key set:
//! UTF-8 byte order; with a delimiter, keys that contain it after the prefix roll up into one
//! common prefix; keys and common prefixes together count toward `max_keys`; every entry sorts
//! after `start_after`; the last entry of a page is the `start_after` of the next, and walking
//! pages of any size yields the one full listing.

use super::{ok, with_bucket, Want};
use crate::model::{ListPage, ListQuery, ObjectMeta, WriteCondition};
use crate::{Store, StoreError};

/// Runs every listing check.
pub async fn run(fresh: &dyn Fn() -> Store) {
    rollup_and_order_match_the_model(fresh).await;
    a_common_prefix_is_returned_once_and_not_after_continuation(fresh).await;
    max_keys_zero_returns_nothing_but_tells_whether_more_exists(fresh).await;
    listing_needs_the_bucket(fresh()).await;
}

/// One entry of a listing, in the order S3 returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// An object key.
    Key(String),
    /// A common prefix.
    Prefix(String),
}

/// The name an entry sorts by.
fn name(e: &Entry) -> &str {
    match e {
        Entry::Key(k) | Entry::Prefix(k) => k,
    }
}

/// A page's keys and common prefixes, merged in order.
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

/// If `key` (which starts with `prefix`) rolls up under `delimiter`, the length of its common
/// prefix: up to and including the first delimiter after the prefix.
fn rollup_end(key: &str, prefix: &str, delimiter: &str) -> Option<usize> {
    let rest = key.strip_prefix(prefix)?;
    rest.find(delimiter).map(|pos| prefix.len() + pos + delimiter.len())
}

/// The reference: every entry S3 would list, from a plain sorted key set.
pub(crate) fn model(keys: &[String], prefix: &str, delimiter: Option<&str>, after: Option<&str>) -> Vec<Entry> {
    let mut sorted: Vec<&String> = keys.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut out: Vec<Entry> = Vec::new();
    for k in sorted.into_iter().filter(|k| k.starts_with(prefix)) {
        let e = match delimiter
            .filter(|d| !d.is_empty())
            .and_then(|d| rollup_end(k, prefix, d))
        {
            Some(end) => Entry::Prefix(k.get(..end).unwrap_or(k).to_owned()),
            None => Entry::Key(k.clone()),
        };
        if after.is_some_and(|a| name(&e) <= a) || out.last() == Some(&e) {
            continue;
        }
        out.push(e);
    }
    out
}

/// Walks every page of size `page_size` of `bucket` and returns all entries in order, checking
/// each page's shape (full when truncated, its marker its last entry).
pub(crate) async fn walk(store: &Store, bucket: &str, base: &ListQuery, page_size: usize) -> Vec<Entry> {
    let mut query = ListQuery {
        max_keys: page_size,
        ..base.clone()
    };
    let mut all = Vec::new();
    for _ in 0..10_000 {
        let page = store.list_objects(bucket, &query).await.want("list");
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
        query.start_after.clone_from(&page.next_marker);
    }
    panic!("pagination did not end");
}

/// Keys with every awkward neighbour: delimiters at the start, twice in a row, keys equal to a
/// prefix, characters sorting before and after `/`, multi-byte UTF-8.
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

/// A store whose bucket `bkt` holds `keys` (sizes by position), and a neighbour bucket `bkt2`
/// whose key must never leak into listings of `bkt`.
async fn store_with(fresh: &dyn Fn() -> Store, keys: &[&str]) -> Store {
    let store = with_bucket(fresh).await;
    ok(store.create_bucket("bkt2", "AK"), "create bkt2").await;
    for (i, k) in keys.iter().enumerate() {
        let meta = ObjectMeta {
            size: u64::try_from(i).unwrap_or(u64::MAX),
            etag: format!("\"{i:032x}\""),
            last_modified_ms: 1000 + i as u64,
            version: 1 + i as u64,
            ..ObjectMeta::default()
        };
        ok(
            store.put_object("bkt", k, &meta, &WriteCondition::None, Vec::new()),
            "put",
        )
        .await;
    }
    let meta = ObjectMeta::default();
    ok(
        store.put_object("bkt2", "a", &meta, &WriteCondition::None, Vec::new()),
        "put bkt2",
    )
    .await;
    store
}

/// Every prefix, delimiter and start-after against the model, whole and walked page by page.
pub async fn rollup_and_order_match_the_model(fresh: &dyn Fn() -> Store) {
    let store = store_with(fresh, KEYS).await;
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
                let page = store.list_objects("bkt", &q).await.want("list");
                assert_eq!(entries(&page), want, "{q:?}");
                assert!(!page.is_truncated);
                for n in 1..=want.len() + 1 {
                    assert_eq!(walk(&store, "bkt", &q, n).await, want, "page size {n}, {q:?}");
                }
            }
        }
    }
}

/// A common prefix counts as one entry, is returned once, and a continuation from it skips every
/// key under it. Objects carry what a listing shows (size, ETag, last-modified, version).
pub async fn a_common_prefix_is_returned_once_and_not_after_continuation(fresh: &dyn Fn() -> Store) {
    let store = store_with(fresh, KEYS).await;
    let q = ListQuery {
        delimiter: Some("/".into()),
        max_keys: 2,
        ..ListQuery::default()
    };
    let p1 = store.list_objects("bkt", &q).await.want("list");
    // '-' sorts before '/', so "a-b" comes before the prefix "a/".
    assert_eq!(entries(&p1), [Entry::Key("a".into()), Entry::Key("a-b".into())]);
    assert!(p1.is_truncated);
    let (_, first) = &p1.objects[0];
    assert_eq!(
        (first.size, first.etag.as_str(), first.last_modified_ms, first.version),
        (0, "\"00000000000000000000000000000000\"", 1000, 1),
        "objects carry their listing fields"
    );
    let next = |marker: Option<String>| {
        let store = store.clone();
        let q = ListQuery {
            start_after: marker,
            ..q.clone()
        };
        async move { store.list_objects("bkt", &q).await.want("list") }
    };
    let p2 = next(p1.next_marker).await;
    assert_eq!(entries(&p2), [Entry::Prefix("a-b/".into()), Entry::Prefix("a/".into())]);
    assert_eq!(p2.next_marker.as_deref(), Some("a/"));
    let p3 = next(p2.next_marker).await;
    assert_eq!(entries(&p3), [Entry::Key("b".into()), Entry::Prefix("b/".into())]);
}

/// `max_keys: 0` returns nothing, and `is_truncated` says whether anything matched.
pub async fn max_keys_zero_returns_nothing_but_tells_whether_more_exists(fresh: &dyn Fn() -> Store) {
    let store = store_with(fresh, KEYS).await;
    let q = |prefix: &str| ListQuery {
        prefix: prefix.into(),
        max_keys: 0,
        ..ListQuery::default()
    };
    let page = store.list_objects("bkt", &q("a")).await.want("list");
    assert!(page.objects.is_empty() && page.common_prefixes.is_empty());
    assert!(page.is_truncated);
    assert!(page.next_marker.is_none());
    assert!(!store.list_objects("bkt", &q("nope")).await.want("list").is_truncated);
}

/// Listing a missing bucket is `NoSuchBucket`; an empty bucket lists nothing.
pub async fn listing_needs_the_bucket(store: Store) {
    let r = store.list_objects("nobkt", &ListQuery::default()).await;
    assert!(matches!(&r, Err(StoreError::NoSuchBucket(b)) if b == "nobkt"), "{r:?}");
    ok(store.create_bucket("empty", "AK"), "create").await;
    let page = ok(store.list_objects("empty", &ListQuery::default()), "list empty").await;
    assert_eq!(page, ListPage::default());
}
