//! Quota reservations: granted only while committed plus reserved plus requested bytes fit the
//! quota, given back when dropped, consumed by the commit they are handed to; two concurrent
//! reservations can never exceed a quota together.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;

use super::{ok, version, with_bucket, Want};
use crate::model::WriteCondition;
use crate::{block_on, Store, StoreError};

/// Runs every quota check.
pub async fn run(fresh: &dyn Fn() -> Store) {
    reservations_count_until_dropped(fresh()).await;
    committed_usage_counts_and_no_quota_means_no_limit(fresh).await;
    two_concurrent_reservations_never_both_fit(fresh()).await;
    concurrent_reservations_never_exceed_the_quota(fresh()).await;
}

/// Reservations add up against the quota until dropped; a refusal says what was asked, used and
/// allowed.
pub async fn reservations_count_until_dropped(store: Store) {
    let a = ok(store.reserve("b1", 60, Some(100)), "reserve 60").await;
    assert_eq!((a.backend(), a.bytes()), ("b1", 60));
    assert_eq!(ok(store.reserved("b1"), "reserved").await, 60);
    let err = store.reserve("b1", 41, Some(100)).await;
    assert!(
        matches!(
            &err,
            Err(StoreError::QuotaExceeded { backend, requested: 41, used: 60, quota: 100 }) if backend == "b1"
        ),
        "{err:?}"
    );
    let b = ok(store.reserve("b1", 40, Some(100)), "reserve the rest").await;
    assert_eq!(ok(store.reserved("b2"), "reserved elsewhere").await, 0);
    drop(a);
    assert_eq!(ok(store.reserved("b1"), "reserved").await, 40);
    drop(b);
    assert_eq!(ok(store.reserved("b1"), "reserved").await, 0);
    assert_eq!(ok(store.usage("b1"), "usage").await, 0, "reservations are not usage");
}

/// Committed bytes count against the quota; without a quota anything is granted (and tracked);
/// arithmetic that would overflow is a refusal.
pub async fn committed_usage_counts_and_no_quota_means_no_limit(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let r = ok(store.reserve("b1", 90, Some(100)), "reserve").await;
    let v = version(&store, "bkt", "k", 90, &["b1"]).await;
    ok(store.put_object("bkt", "k", &v, &WriteCondition::None, vec![r]), "put").await;
    assert_eq!(ok(store.usage("b1"), "usage").await, 90);
    assert!(store.reserve("b1", 11, Some(100)).await.is_err());
    drop(ok(store.reserve("b1", 10, Some(100)), "reserve the rest").await);
    let huge = ok(store.reserve("b1", u64::MAX, None), "reserve without a quota").await;
    assert_eq!(ok(store.reserved("b1"), "reserved").await, u64::MAX);
    let overflow = store.reserve("b1", 1, Some(u64::MAX)).await;
    assert!(
        matches!(overflow, Err(StoreError::QuotaExceeded { .. })),
        "{overflow:?}"
    );
    drop(huge);
    assert_eq!(ok(store.all_usage(), "all usage").await, vec![("b1".to_owned(), 90)]);
}

/// Two callers reserving 60 of a quota of 100 at the same moment: exactly one is granted.
pub async fn two_concurrent_reservations_never_both_fit(store: Store) {
    for _ in 0..20 {
        let start = Barrier::new(2);
        let granted: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let (store, start) = (store.clone(), &start);
                    s.spawn(move || {
                        start.wait();
                        let r = block_on(store.reserve("b1", 60, Some(100)));
                        let granted = match r {
                            Ok(r) => Some(r),
                            Err(StoreError::QuotaExceeded { .. }) => None,
                            Err(e) => panic!("reserve: {e}"),
                        };
                        // Hold the reservation until both have asked.
                        start.wait();
                        granted.is_some()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| panic!("a reserving thread panicked")))
                .collect()
        });
        assert_eq!(granted.iter().filter(|g| **g).count(), 1, "{granted:?}");
        assert_eq!(store.reserved("b1").await.want("reserved"), 0);
    }
}

/// Many threads reserving and releasing at random: the bytes reserved never exceed the quota.
pub async fn concurrent_reservations_never_exceed_the_quota(store: Store) {
    let quota = 1_000;
    let peak = AtomicU64::new(0);
    let granted = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let (store, peak, granted) = (store.clone(), &peak, &granted);
            s.spawn(move || {
                let mut held = Vec::new();
                for i in 0..500u64 {
                    let bytes = 1 + (i * 7 + t) % 50;
                    if let Ok(r) = block_on(store.reserve("b", bytes, Some(quota))) {
                        granted.fetch_add(1, Ordering::Relaxed);
                        let now = block_on(store.reserved("b")).unwrap_or_else(|e| panic!("reserved: {e}"));
                        peak.fetch_max(now, Ordering::Relaxed);
                        held.push(r);
                    }
                    if held.len() > 3 {
                        drop(held.remove(0));
                    }
                }
            });
        }
    });
    assert!(peak.load(Ordering::Relaxed) <= quota);
    assert!(granted.load(Ordering::Relaxed) > 0);
    assert_eq!(ok(store.reserved("b"), "reserved").await, 0);
}
