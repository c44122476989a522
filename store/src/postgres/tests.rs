//! The PostgreSQL engine against the conformance suite and against itself from several
//! instances at once, on a throwaway cluster (or the server `S3O_TEST_PG_URL` names). Without
//! PostgreSQL's binaries the tests say so and pass, unless `S3O_REQUIRE_POSTGRES=1` (CI) makes
//! that a failure.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::cluster::TempCluster;
use super::{PgConfig, PgEngine};
use crate::conformance;
use crate::{block_on, Store, StoreError, WriteCondition};

/// Where the tests' stores live.
struct Target {
    _cluster: Option<TempCluster>,
    url: String,
}

impl Target {
    /// The server of `S3O_TEST_PG_URL`, else a new throwaway cluster; `None` (and a note) when
    /// neither is possible and PostgreSQL is not required.
    fn get() -> Option<Self> {
        if let Ok(url) = std::env::var("S3O_TEST_PG_URL") {
            return Some(Self { _cluster: None, url });
        }
        match TempCluster::start() {
            Ok(c) => Some(Self {
                url: c.url(),
                _cluster: Some(c),
            }),
            Err(e) if std::env::var("S3O_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") => {
                panic!("PostgreSQL required (S3O_REQUIRE_POSTGRES=1): {e}")
            }
            Err(e) => {
                eprintln!("SKIPPED: no PostgreSQL for the postgres engine's tests: {e}");
                None
            }
        }
    }

    /// A config for a schema of its own.
    fn fresh(&self) -> PgConfig {
        static N: AtomicU64 = AtomicU64::new(0);
        let mut c = PgConfig::new(self.url.clone());
        c.schema = Some(format!("t{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        c.pool_size = 4;
        c
    }
}

/// A store on `config`.
fn open(config: &PgConfig) -> Store {
    Store::from_engine(Arc::new(PgEngine::open(config).unwrap()))
}

#[test]
fn postgres_conforms() {
    let Some(target) = Target::get() else { return };
    let fresh = || open(&target.fresh());
    block_on(conformance::run_all(&fresh));
    let same = target.fresh();
    block_on(conformance::survives_reopen(&|| open(&same)));
}

#[test]
fn instances_sharing_a_database_see_each_other_and_race_safely() {
    let Some(target) = Target::get() else { return };
    let config = target.fresh();
    let stores: Vec<Store> = (0..3).map(|_| open(&config)).collect();
    block_on(stores[0].create_bucket("b", "AK")).unwrap();
    // A write through one instance is read, listed and deleted through the others at once.
    let v = block_on(stores[1].next_version()).unwrap();
    let meta = crate::ObjectMeta {
        size: 5,
        version: v,
        etag: "\"e1\"".into(),
        ..crate::ObjectMeta::default()
    };
    block_on(stores[1].put_object("b", "k", &meta, &WriteCondition::None, Vec::new())).unwrap();
    assert_eq!(
        block_on(stores[2].get_object("b", "k")).unwrap().map(|m| m.size),
        Some(5)
    );
    let page = block_on(stores[0].list_objects("b", &crate::ListQuery::default())).unwrap();
    assert_eq!(page.objects.len(), 1);
    assert!(block_on(stores[2].delete_object("b", "k")).unwrap().previous.is_some());
    assert!(block_on(stores[0].get_object("b", "k")).unwrap().is_none());

    // 8 writers on 3 instances, If-None-Match: * on one key: exactly one wins.
    let wins: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let store = stores[i % 3].clone();
                s.spawn(move || {
                    let meta = crate::ObjectMeta {
                        version: block_on(store.next_version()).unwrap(),
                        ..crate::ObjectMeta::default()
                    };
                    match block_on(store.put_object("b", "race", &meta, &WriteCondition::IfAbsent, Vec::new())) {
                        Ok(_) => 1,
                        Err(StoreError::PreconditionFailed { .. }) => 0,
                        Err(e) => panic!("unexpected: {e}"),
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(wins, 1);

    // 32 reservers on 3 instances never exceed a quota together.
    let granted = AtomicU64::new(0);
    std::thread::scope(|s| {
        for i in 0..32 {
            let store = stores[i % 3].clone();
            let granted = &granted;
            s.spawn(move || {
                if let Ok(r) = block_on(store.reserve("q", 10, Some(100))) {
                    granted.fetch_add(1, Ordering::Relaxed);
                    std::mem::forget(r);
                }
            });
        }
    });
    assert_eq!(granted.load(Ordering::Relaxed), 10);
    assert_eq!(block_on(stores[1].reserved("q")).unwrap(), 100);
}

#[test]
fn a_lost_database_fails_calls_fast_and_they_succeed_again_once_it_is_back() {
    // Needs a cluster of its own to stop and start.
    if std::env::var("S3O_TEST_PG_URL").is_ok() {
        return;
    }
    let Some(target) = Target::get() else { return };
    let Some(cluster) = &target._cluster else { return };
    let store = open(&target.fresh());
    block_on(store.create_bucket("b", "AK")).unwrap();
    cluster.stop_server().unwrap();
    let t0 = std::time::Instant::now();
    let r = block_on(store.get_object("b", "k"));
    assert!(matches!(&r, Err(e) if e.is_unavailable()), "{r:?}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(10), "{:?}", t0.elapsed());
    assert!(store.health().problem.is_some());
    assert!(block_on(store.check_writable()).is_err());
    cluster.start_server().unwrap();
    assert!(
        block_on(store.bucket("b")).unwrap().is_some(),
        "committed before the loss"
    );
    block_on(store.check_writable()).unwrap();
    assert!(store.health().problem.is_none());
}

#[test]
fn a_lock_set_through_one_instance_holds_on_the_others_at_once() {
    use crate::{BucketChange, ObjectLock, Retention, RetentionMode, VersionChange, VersionRef, Versioning};
    let Some(target) = Target::get() else { return };
    let config = target.fresh();
    let (a, b) = (open(&config), open(&config));
    block_on(a.create_bucket("locked", "AK")).unwrap();
    block_on(a.update_bucket("locked", BucketChange::Versioning(Versioning::Enabled))).unwrap();
    block_on(a.update_bucket("locked", BucketChange::ObjectLock(ObjectLock::default()))).unwrap();
    // B sees the bucket's state A set: suspending is refused through B.
    let r = block_on(b.update_bucket("locked", BucketChange::Versioning(Versioning::Suspended)));
    assert!(matches!(r, Err(StoreError::InvalidBucketState { .. })), "{r:?}");
    let meta = crate::ObjectMeta {
        version: block_on(a.next_version()).unwrap(),
        ..crate::ObjectMeta::default()
    };
    block_on(a.put_object("locked", "k", &meta, &WriteCondition::None, Vec::new())).unwrap();
    let id = VersionRef::Id(meta.version);
    let hold = VersionChange::Retention {
        retention: Some(Retention {
            mode: RetentionMode::Compliance,
            until_ms: crate::rules::now_ms() + 3_600_000,
        }),
        bypass_governance: false,
    };
    block_on(a.update_version("locked", "k", id, hold)).unwrap();
    let r = block_on(b.delete_version("locked", "k", id, true));
    assert!(matches!(r, Err(StoreError::Locked { .. })), "{r:?}");
    assert!(block_on(b.get_version("locked", "k", id)).unwrap().is_some());
}
