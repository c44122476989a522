//! Worker leases: one holder at a time, renewed by its holder, taken over once expired, given up
//! by its holder only.

use super::ok;
use crate::Store;

/// Runs every lease check.
pub async fn run(fresh: &dyn Fn() -> Store) {
    one_holder_until_expiry_or_release(fresh()).await;
}

/// A lease has one holder; another gets it only after it expired or was given up.
pub async fn one_holder_until_expiry_or_release(store: Store) {
    let a = ok(store.acquire_lease("w", "A", 60_000), "A takes w").await;
    assert_eq!((a.name.as_str(), a.holder.as_str()), ("w", "A"));
    let b = ok(store.acquire_lease("w", "B", 60_000), "B tries w").await;
    assert_eq!(b.holder, "A", "a held lease stays with its holder");
    let renewed = ok(store.acquire_lease("w", "A", 120_000), "A renews w").await;
    assert!(renewed.holder == "A" && renewed.expires_ms > a.expires_ms);
    ok(store.release_lease("w", "B"), "B gives up what it does not hold").await;
    assert_eq!(ok(store.acquire_lease("w", "B", 1), "B tries again").await.holder, "A");
    ok(store.release_lease("w", "A"), "A gives w up").await;
    assert_eq!(ok(store.acquire_lease("w", "B", 1), "B takes w").await.holder, "B");
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(
        ok(store.acquire_lease("w", "A", 60_000), "A takes the expired w")
            .await
            .holder,
        "A"
    );
    ok(store.acquire_lease("v", "B", 60_000), "B takes v").await;
    let all = ok(store.leases(), "leases").await;
    let names: Vec<(&str, &str)> = all.iter().map(|l| (l.name.as_str(), l.holder.as_str())).collect();
    assert_eq!(names, [("v", "B"), ("w", "A")]);
    assert!(!store.instance().is_empty());
}
