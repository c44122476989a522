//! Document collections: revisions, conditional atomic batches (a failed entry writes nothing,
//! later entries see earlier ones), deletes and checks, pages by prefix and cursor both ways,
//! collections kept apart, the limits refused, and racing creators of one name (one wins).

use super::{ok, ExpectSome};
use crate::docs::{DocQuery, DocWrite, Expect, MAX_DOC_BYTES};
use crate::{block_on, Store, StoreError};

/// Runs every document check.
pub async fn run(fresh: &dyn Fn() -> Store) {
    revisions_and_conditions(fresh()).await;
    a_batch_is_all_or_nothing(fresh()).await;
    pages_by_prefix_and_cursor(fresh()).await;
    limits_are_refused(fresh()).await;
    racing_creators_one_wins(fresh());
}

fn is_conflict(e: &StoreError, collection: &str, id: &str) -> bool {
    matches!(e, StoreError::DocConflict { collection: c, id: i } if c == collection && i == id)
}

/// Create, read, replace by revision, stale revisions refused, delete, check.
pub async fn revisions_and_conditions(store: Store) {
    assert_eq!(ok(store.doc("users", "u1"), "get missing").await, None);
    let r = ok(
        store.apply_docs(vec![DocWrite::create("users", "u1", b"one".to_vec())]),
        "create",
    )
    .await;
    assert_eq!(r, vec![1]);
    let d = ok(store.doc("users", "u1"), "get").await.expect_some("u1");
    assert_eq!((d.id.as_str(), d.revision, d.value.as_slice()), ("u1", 1, &b"one"[..]));
    let e = store
        .apply_docs(vec![DocWrite::create("users", "u1", b"again".to_vec())])
        .await
        .expect_err("creating an existing document must fail");
    assert!(is_conflict(&e, "users", "u1"), "create over an existing one: {e}");
    let r = ok(
        store.apply_docs(vec![DocWrite::replace("users", "u1", 1, b"two".to_vec())]),
        "replace",
    )
    .await;
    assert_eq!(r, vec![2]);
    let e = store
        .apply_docs(vec![DocWrite::replace("users", "u1", 1, b"stale".to_vec())])
        .await
        .expect_err("a stale revision must fail");
    assert!(is_conflict(&e, "users", "u1"), "stale replace: {e}");
    assert_eq!(
        ok(store.doc("users", "u1"), "get").await.expect_some("u1").value,
        b"two"
    );
    let r = ok(
        store.apply_docs(vec![DocWrite::put("users", "u1", b"three".to_vec())]),
        "put",
    )
    .await;
    assert_eq!(r, vec![3]);
    let r = ok(
        store.apply_docs(vec![DocWrite::check("users", "u1", Expect::Present)]),
        "check",
    )
    .await;
    assert_eq!(r, vec![3], "a check answers the current revision");
    let e = store
        .apply_docs(vec![DocWrite::delete("users", "u1", Expect::Revision(2))])
        .await
        .expect_err("a delete at a stale revision must fail");
    assert!(is_conflict(&e, "users", "u1"));
    ok(
        store.apply_docs(vec![DocWrite::delete("users", "u1", Expect::Revision(3))]),
        "delete",
    )
    .await;
    assert_eq!(ok(store.doc("users", "u1"), "get deleted").await, None);
    ok(
        store.apply_docs(vec![DocWrite::delete("users", "u1", Expect::Any)]),
        "delete missing",
    )
    .await;
    let e = store
        .apply_docs(vec![DocWrite::delete("users", "u1", Expect::Present)])
        .await
        .expect_err("deleting a missing document that must exist fails");
    assert!(is_conflict(&e, "users", "u1"));
    // Created again, it starts over at revision 1.
    let r = ok(
        store.apply_docs(vec![DocWrite::put("users", "u1", b"new".to_vec())]),
        "recreate",
    )
    .await;
    assert_eq!(r, vec![1]);
}

/// A batch whose last entry fails leaves no trace of the others; within a batch, entries see
/// the writes before them.
pub async fn a_batch_is_all_or_nothing(store: Store) {
    ok(
        store.apply_docs(vec![DocWrite::create("names", "alice", b"u1".to_vec())]),
        "seed",
    )
    .await;
    let e = store
        .apply_docs(vec![
            DocWrite::create("users", "u2", b"bob".to_vec()),
            DocWrite::put("meta", "guard", b"x".to_vec()),
            DocWrite::create("names", "alice", b"u2".to_vec()),
        ])
        .await
        .expect_err("the batch must fail on its third entry");
    assert!(is_conflict(&e, "names", "alice"), "{e}");
    assert_eq!(
        ok(store.doc("users", "u2"), "get").await,
        None,
        "the first entry was rolled back"
    );
    assert_eq!(
        ok(store.doc("meta", "guard"), "get").await,
        None,
        "the second entry was rolled back"
    );
    assert_eq!(
        ok(store.doc("names", "alice"), "get").await.expect_some("alice").value,
        b"u1"
    );
    let r = ok(
        store.apply_docs(vec![
            DocWrite::create("users", "u2", b"bob".to_vec()),
            DocWrite::replace("users", "u2", 1, b"bob2".to_vec()),
            DocWrite::check("users", "u2", Expect::Revision(2)),
            DocWrite::delete("names", "alice", Expect::Present),
            DocWrite::create("names", "alice", b"u2".to_vec()),
        ]),
        "a batch building on itself",
    )
    .await;
    assert_eq!(r, vec![1, 2, 2, 0, 1]);
    assert_eq!(
        ok(store.doc("users", "u2"), "get").await.expect_some("u2").value,
        b"bob2"
    );
    assert_eq!(
        ok(store.doc("names", "alice"), "get").await.expect_some("alice").value,
        b"u2"
    );
}

fn ids(docs: &[crate::Doc]) -> Vec<&str> {
    docs.iter().map(|d| d.id.as_str()).collect()
}

/// Pages in id order both ways, from a cursor, under a prefix; other collections (even ones
/// whose names extend this one's) never show.
pub async fn pages_by_prefix_and_cursor(store: Store) {
    let mut writes: Vec<DocWrite> = ["a1", "a2", "a3", "b1", "b2", "é", "\u{10FFFF}x"]
        .iter()
        .map(|id| DocWrite::put("c", id, id.as_bytes().to_vec()))
        .collect();
    writes.push(DocWrite::put("c2", "a0", b"other".to_vec()));
    writes.push(DocWrite::put("cc", "a9", b"other".to_vec()));
    ok(store.apply_docs(writes), "seed").await;
    let q = |prefix: &str, after: Option<&str>, limit: usize, reverse: bool| DocQuery {
        collection: "c".into(),
        prefix: prefix.into(),
        after: after.map(str::to_owned),
        limit,
        reverse,
    };
    let all = ok(store.docs(&DocQuery::all("c")), "all").await;
    assert_eq!(ids(&all), ["a1", "a2", "a3", "b1", "b2", "é", "\u{10FFFF}x"]);
    assert_eq!(all[0].value, b"a1");
    assert_eq!(
        ids(&ok(store.docs(&q("a", None, 2, false)), "a, 2").await),
        ["a1", "a2"]
    );
    assert_eq!(
        ids(&ok(store.docs(&q("a", Some("a2"), 0, false)), "after a2").await),
        ["a3"]
    );
    assert_eq!(
        ids(&ok(store.docs(&q("", Some("a3"), 2, false)), "after a3").await),
        ["b1", "b2"]
    );
    assert_eq!(
        ids(&ok(store.docs(&q("b", Some("a"), 0, false)), "cursor before prefix").await),
        ["b1", "b2"]
    );
    assert_eq!(
        ids(&ok(store.docs(&q("a", Some("z"), 0, false)), "cursor after prefix").await),
        Vec::<&str>::new()
    );
    let down = ok(store.docs(&q("", None, 3, true)), "newest first").await;
    assert_eq!(ids(&down), ["\u{10FFFF}x", "é", "b2"]);
    assert_eq!(
        ids(&ok(store.docs(&q("", Some("b2"), 2, true)), "down from b2").await),
        ["b1", "a3"]
    );
    assert_eq!(
        ids(&ok(store.docs(&q("a", Some("z"), 0, true)), "down, prefix a").await),
        ["a3", "a2", "a1"]
    );
    assert_eq!(
        ids(&ok(store.docs(&q("b", Some("b1"), 0, true)), "down past prefix").await),
        Vec::<&str>::new()
    );
    assert_eq!(
        ids(&ok(store.docs(&q("\u{10FFFF}", None, 0, false)), "top prefix").await),
        ["\u{10FFFF}x"]
    );
    assert!(ok(store.docs(&DocQuery::all("nothing")), "empty").await.is_empty());
}

/// Bad names, oversized values and oversized batches are refused, and write nothing.
pub async fn limits_are_refused(store: Store) {
    for bad in [
        DocWrite::put("", "x", vec![]),
        DocWrite::put("bad name", "x", vec![]),
        DocWrite::put("c", "a\0b", vec![]),
        DocWrite::put("c", "big", vec![0; MAX_DOC_BYTES + 1]),
    ] {
        let e = store.apply_docs(vec![bad.clone()]).await.expect_err("must be refused");
        assert!(matches!(e, StoreError::InvalidDoc(_)), "{bad:?}: {e}");
    }
    let many = vec![DocWrite::put("c", "x", vec![]); crate::docs::MAX_DOC_BATCH + 1];
    assert!(matches!(store.apply_docs(many).await, Err(StoreError::InvalidDoc(_))));
    assert!(ok(store.docs(&DocQuery::all("c")), "nothing written").await.is_empty());
    assert!(matches!(store.doc("c", "a\0b").await, Err(StoreError::InvalidDoc(_))));
    // The largest value is stored whole.
    ok(
        store.apply_docs(vec![DocWrite::put("c", "max", vec![7; MAX_DOC_BYTES])]),
        "max",
    )
    .await;
    assert_eq!(
        ok(store.doc("c", "max"), "get max")
            .await
            .expect_some("max")
            .value
            .len(),
        MAX_DOC_BYTES
    );
}

/// Eight threads create the same name with different values at once: exactly one succeeds, the
/// others get `DocConflict`, and the stored value is the winner's.
pub fn racing_creators_one_wins(store: Store) {
    const RACERS: usize = 8;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(RACERS));
    let handles: Vec<_> = (0..RACERS)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let batch = vec![
                    DocWrite::create("names", "taken", format!("{i}").into_bytes()),
                    DocWrite::create("users", &format!("u{i}"), b"user".to_vec()),
                ];
                block_on(store.apply_docs(batch)).map(|_| i)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for h in handles {
        match h.join() {
            Ok(Ok(i)) => winners.push(i),
            Ok(Err(e)) => assert!(is_conflict(&e, "names", "taken"), "a loser must see DocConflict: {e}"),
            Err(_) => panic!("a racing thread panicked"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one creator wins: {winners:?}");
    let name = block_on(store.doc("names", "taken"))
        .ok()
        .flatten()
        .expect_some("the name");
    assert_eq!(name.value, format!("{}", winners[0]).into_bytes());
    let users = block_on(store.docs(&DocQuery::all("users"))).unwrap_or_default();
    assert_eq!(
        ids(&users),
        [format!("u{}", winners[0]).as_str()],
        "only the winner's user exists"
    );
}
