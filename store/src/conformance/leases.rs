//! Worker leases: one holder at a time, renewed by its holder, taken over once expired, given up
//! by its holder only; the shared configuration, by generation.

use super::{ok, ExpectSome};
use crate::Store;

/// Runs every lease check.
pub async fn run(fresh: &dyn Fn() -> Store) {
    one_holder_until_expiry_or_release(fresh()).await;
    the_shared_config_moves_by_generation(fresh()).await;
}

/// The shared configuration: none at first, then each publication a higher generation.
pub async fn the_shared_config_moves_by_generation(store: Store) {
    assert!(ok(store.config_after(0), "nothing published").await.is_none());
    let g1 = ok(store.publish_config("A", "doc 1"), "publish").await;
    let got = ok(store.config_after(0), "read")
        .await
        .expect_some("the published config");
    assert_eq!(
        (got.generation, got.origin.as_str(), got.document.as_str()),
        (g1, "A", "doc 1")
    );
    assert!(ok(store.config_after(g1), "nothing newer").await.is_none());
    let g2 = ok(store.publish_config("B", "doc 2"), "publish again").await;
    assert!(g2 > g1);
    let got = ok(store.config_after(g1), "read newer")
        .await
        .expect_some("the newer config");
    assert_eq!((got.origin.as_str(), got.document.as_str()), ("B", "doc 2"));
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
