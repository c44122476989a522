//! criterion benches of the metadata store: a point lookup (`get_object` of an existing key among
//! 100k), one 1000-key `list_objects` page from the middle of the bucket, and the latency of a
//! durable commit (`put_object`, its future waited on with `block_on`) of a small object, alone and with 8 threads
//! committing at once (group commit, reported as commits/s). Commits are measured both in a
//! `Store::temporary()` (sled puts it in /dev/shm, so the fsync is nearly free and what is left is
//! the transaction, sled's flush and the flusher hand-off) and in a store on the disk under the
//! temp directory; `1_thread_apply_no_wait` times the transaction alone, without the wait (the
//! sled engine commits during the call; the future, dropped, only waited for durability). Every
//! call goes through the engine interface, boxed future included, as the proxy's do.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use s3o_store::{block_on, physical_key_for, ListQuery, Location, ObjectMeta, Store, StoreFuture};

#[global_allocator]
static GLOBAL: common::Counting = common::Counting;

/// Keys in the lookup and listing store: 100 day-prefixes of 1000 keys each.
const KEYS: u64 = 100_000;
const BUCKET: &str = "photos";

fn key_of(i: u64) -> String {
    format!("2024/{:03}/IMG_{i:06}.jpg", i / 1000)
}

/// The metadata of a freshly uploaded small object, as the PUT handler commits it.
fn meta_of(key: &str, version: u64) -> ObjectMeta {
    let h = version.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ObjectMeta {
        size: 1024 + h % 4_000_000,
        etag: format!("\"{h:016x}{:016x}\"", h.rotate_left(29)),
        content_type: Some("image/jpeg".into()),
        checksums: vec![("crc32".into(), "yZRlqg==".into())],
        last_modified_ms: 1_717_000_000_000 + version,
        version,
        locations: vec![Location {
            backend: "local-1".into(),
            physical_key: physical_key_for(BUCKET, key, version),
        }],
        ..ObjectMeta::default()
    }
}

/// A temporary store holding [`KEYS`] objects, committed without waiting on each one's future
/// (sled commits during the call).
fn populated() -> Store {
    let store = Store::temporary().unwrap();
    block_on(store.create_bucket(BUCKET, "AKIAIOSFODNN7EXAMPLE")).unwrap();
    let t0 = Instant::now();
    let mut last = None;
    for i in 0..KEYS {
        let key = key_of(i);
        let meta = meta_of(&key, block_on(store.next_version()).unwrap());
        last = Some(store.put_object(BUCKET, &key, &meta, &s3o_store::WriteCondition::None, Vec::new()));
    }
    block_on(last.unwrap()).unwrap();
    eprintln!(
        "setup   {KEYS} objects committed in {:.1} s ({} flushes)",
        t0.elapsed().as_secs_f64(),
        store.health().flushes
    );
    store
}

fn lookup_and_list(c: &mut Criterion) {
    let store = populated();

    // Lookups hop around the keyspace (a fixed pseudo-random walk) rather than hitting one key.
    let probes: Vec<String> = (0..4096u64)
        .map(|i| key_of(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % KEYS))
        .collect();
    let found = block_on(store.get_object(BUCKET, &key_of(12_345))).unwrap().unwrap();
    assert_eq!(found, meta_of(&key_of(12_345), found.version));
    for key in &probes {
        assert!(block_on(store.get_object(BUCKET, key)).unwrap().is_some(), "{key}");
    }
    assert_eq!(block_on(store.get_object(BUCKET, "2024/000/nope.jpg")).unwrap(), None);
    common::report_allocs("store/get_object_100k", || {
        block_on(store.get_object(BUCKET, &probes[0])).unwrap()
    });
    let mut g = c.benchmark_group("store");
    let mut n = 0usize;
    g.bench_function("get_object_100k", |b| {
        b.iter(|| {
            n = (n + 1) % probes.len();
            block_on(store.get_object(BUCKET, black_box(&probes[n])))
                .unwrap()
                .unwrap()
        });
    });

    // A page from the middle of a big listing: 1000 keys after start-after, more to follow.
    let query = ListQuery {
        prefix: "2024/".into(),
        delimiter: None,
        start_after: Some(key_of(49_999)),
        max_keys: 1000,
    };
    let page = block_on(store.list_objects(BUCKET, &query)).unwrap();
    assert_eq!(page.objects.len(), 1000);
    assert!(page.is_truncated);
    assert_eq!(page.objects[0].0, key_of(50_000));
    assert_eq!(page.objects[999].0, key_of(50_999));
    assert_eq!(page.next_marker.as_deref(), Some(key_of(50_999).as_str()));
    common::report_allocs("store/list_objects_1000_of_100k", || {
        block_on(store.list_objects(BUCKET, &query)).unwrap()
    });
    g.throughput(Throughput::Elements(1000));
    g.bench_function("list_objects_1000_of_100k", |b| {
        b.iter(|| block_on(store.list_objects(BUCKET, black_box(&query))).unwrap());
    });
    g.finish();
}

/// Keys of committed objects, unique across every store and sample of the run.
static NEXT_KEY: AtomicU64 = AtomicU64::new(0);

/// Applies the commit of a new small object and returns its future, not yet waited on.
fn apply_one(store: &Store) -> StoreFuture<Option<String>> {
    let n = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
    let key = format!("uploads/{:03}/obj-{n:010}.bin", n % 997);
    let meta = meta_of(&key, block_on(store.next_version()).unwrap());
    store.put_object(BUCKET, &key, &meta, &s3o_store::WriteCondition::None, Vec::new())
}

/// One durable commit of a new small object.
fn commit_one(store: &Store) {
    block_on(apply_one(store)).unwrap();
}

/// `iters` commits spread over `threads` threads, timed from a common start to the last one.
fn commit_concurrently(store: &Store, threads: u64, iters: u64) -> Duration {
    let start = Barrier::new(threads as usize + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let share = iters / threads + u64::from(t < iters % threads);
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    for _ in 0..share {
                        commit_one(store);
                    }
                })
            })
            .collect();
        start.wait();
        let t0 = Instant::now();
        for h in handles {
            h.join().unwrap();
        }
        t0.elapsed()
    })
}

/// A fresh directory for an on-disk store, under the system temp directory.
fn disk_dir() -> PathBuf {
    std::env::temp_dir().join(format!("s3o-bench-store-{}", std::process::id()))
}

fn commits(c: &mut Criterion) {
    let dir = disk_dir();
    let _ = std::fs::remove_dir_all(&dir);
    for (medium, store) in [
        ("tmpfs", Store::temporary().unwrap()),
        ("disk", Store::open(&dir).unwrap()),
    ] {
        block_on(store.create_bucket(BUCKET, "AKIAIOSFODNN7EXAMPLE")).unwrap();
        // Check the path once: a commit is visible and durable, and concurrent commits share
        // flushes.
        let n = NEXT_KEY.load(Ordering::Relaxed);
        commit_one(&store);
        let key = format!("uploads/{:03}/obj-{n:010}.bin", n % 997);
        let got = block_on(store.get_object(BUCKET, &key)).unwrap().unwrap();
        assert_eq!(got, meta_of(&key, got.version));
        let flushes = store.health().flushes;
        let took = commit_concurrently(&store, 8, 400);
        let flushes = store.health().flushes - flushes;
        eprintln!(
            "check   {medium}: 400 commits on 8 threads in {:.1} ms, {flushes} flushes ({:.1} commits/flush)",
            took.as_secs_f64() * 1e3,
            400.0 / flushes as f64
        );
        assert!(flushes < 400, "group commit shares flushes");

        let mut g = c.benchmark_group(format!("store_commit_{medium}"));
        g.throughput(Throughput::Elements(1));
        if medium == "disk" {
            g.sample_size(10);
        }
        common::report_allocs(&format!("store_commit_{medium}/1_thread"), || commit_one(&store));
        g.bench_function("1_thread", |b| b.iter(|| commit_one(&store)));
        // The transaction alone: the future is dropped, so the flusher keeps flushing on the
        // other core meanwhile; the difference to 1_thread is the wait for durability.
        g.bench_function("1_thread_apply_no_wait", |b| b.iter(|| drop(apply_one(&store))));
        block_on(store.sync()).unwrap();
        g.bench_function("8_threads", |b| {
            b.iter_custom(|iters| commit_concurrently(&store, 8, iters))
        });
        g.finish();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, lookup_and_list, commits);
criterion_main!(benches);
