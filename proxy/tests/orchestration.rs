//! The orchestration workers and endpoints in process, over `fs` backends: the replicator
//! (asynchronous replication, multipart objects, a raised factor), drain (moves everything off,
//! seed shapes and errors), rebalance through the UI job, over-replication cleanup and backend
//! removal.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::admin::{send, Reply};
use common::{data, TempDir, TestServer, AK, SK};
use serde_json::json;

const TOKEN: &str = "orchestration-test-token-0123";
const UI_KEY: &str = "operator";
const UI_PASSWORD: &str = "a long enough password";

/// The argon2 hash of [`UI_PASSWORD`] (computed once: it is slow on purpose).
fn secret_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| s3o_admin::hash_password(UI_PASSWORD).unwrap())
}

fn config(dir: &std::path::Path, backends: &[(&str, &str)], rest: &str) -> String {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nthreads = 2\ndata_dir = \"{d}/meta\"\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n[ui]\nadmin_token = \"{TOKEN}\"\nadmin_key = \"{UI_KEY}\"\n\
         admin_secret = \"{hash}\"\n",
        d = dir.display(),
        hash = secret_hash()
    );
    for (name, extra) in backends {
        text.push_str(&format!(
            "[[backends]]\nname = \"{name}\"\nkind = \"fs\"\npath = \"{d}/{name}\"\n{extra}\n",
            d = dir.display()
        ));
    }
    text.push_str(rest);
    text.push_str(&format!(
        "[[credentials]]\naccess_key = \"{AK}\"\nsecret_key = \"{SK}\"\n"
    ));
    text
}

fn start(tag: &str, backends: &[(&str, &str)], rest: &str) -> TestServer {
    let dir = TempDir::new(tag);
    let text = config(&dir.0, backends, rest);
    TestServer::start_config(dir, &text)
}

fn admin(srv: &TestServer, method: &str, path: &str) -> Reply {
    send(srv.admin_addr(), method, path, &[("x-admin-token", TOKEN)], b"")
}

fn locations(srv: &TestServer, bucket: &str, key: &str) -> Vec<String> {
    let meta = s3o_store::block_on(srv.shared.store.get_object(bucket, key))
        .unwrap()
        .unwrap();
    meta.locations.into_iter().map(|l| l.backend).collect()
}

/// Waits (bounded) until `cond` holds.
fn eventually(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < Duration::from_secs(secs), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn objects_on(srv: &TestServer, backend: &str) -> u64 {
    let stats = s3o_store::block_on(srv.shared.store.backend_stats()).unwrap();
    stats
        .into_iter()
        .find(|s| s.backend == backend)
        .map_or(0, |s| s.objects)
}

#[test]
fn the_replicator_completes_async_writes_and_multipart_objects() {
    let srv = start(
        "replicator",
        &[("r1", ""), ("r2", ""), ("r3", "")],
        "[replication]\nmode = \"async\"\ninterval_secs = 1\n\
         [[buckets]]\nname = \"rep\"\nbackends = [\"r1\", \"r2\", \"r3\"]\nreplication = 2\n",
    );
    let mut c = srv.client();
    let bodies: Vec<Vec<u8>> = (0..6).map(|i| data(2000 + i * 300, i as u32)).collect();
    for (i, b) in bodies.iter().enumerate() {
        assert_eq!(c.put(&format!("/rep/k{i}"), b).status, 200);
    }
    // A multipart object gets its first copy at completion and the second from the queue.
    let id = c.create_upload("/rep/multi", &[]);
    let part = data(5 * 1024 * 1024, 9);
    let etag = c
        .upload_part("/rep/multi", &id, 1, &part)
        .header("etag")
        .unwrap()
        .to_string();
    assert_eq!(c.complete_upload("/rep/multi", &id, &[(1, &etag)], &[]).status, 200);
    eventually("every object at two copies", 20, || {
        (0..6).all(|i| locations(&srv, "rep", &format!("k{i}")).len() == 2)
            && locations(&srv, "rep", "multi").len() == 2
    });
    // The task of the last copy is finished just after the copy is swapped in.
    eventually("an empty replication queue", 10, || {
        s3o_store::block_on(srv.shared.store.replication_depth()).unwrap() == 0
    });
    for (i, b) in bodies.iter().enumerate() {
        let mut locs = locations(&srv, "rep", &format!("k{i}"));
        locs.dedup();
        assert_eq!(locs.len(), 2, "two distinct backends");
        assert!(c.get(&format!("/rep/k{i}")).body == *b);
    }
    // Every copy holds the same bytes: 7 objects × 2 copies on the backends.
    let files: usize = ["r1", "r2", "r3"].iter().map(|b| srv.backend_files(b).len()).sum();
    assert_eq!(files, 14);
    assert_eq!(s3o_proxy::records::failures(), 0, "records not written");
    // Each copy the replicator made got the version's record beside it, as written copies do.
    for b in ["r1", "r2", "r3"] {
        assert_eq!(srv.record_files(b).len(), srv.backend_files(b).len(), "{b}");
    }
    let r = admin(&srv, "POST", "/admin/api/replicate");
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"status": "ok", "copies_created": 0}))
    );
}

#[test]
fn a_drain_moves_every_copy_off_and_answers_the_seed_shapes() {
    let mut srv = start(
        "drain",
        &[("d1", ""), ("d2", ""), ("d3", "")],
        "[[buckets]]\nname = \"pool\"\nbackends = [\"d1\", \"d2\", \"d3\"]\nplacement = \"spread\"\n",
    );
    let mut c = srv.client();
    let bodies: Vec<Vec<u8>> = (0..24).map(|i| data(1000 + i * 37, i as u32)).collect();
    for (i, b) in bodies.iter().enumerate() {
        assert_eq!(c.put(&format!("/pool/k{i}"), b).status, 200);
    }
    let before = objects_on(&srv, "d1");
    assert!(before > 0);
    let r = admin(&srv, "GET", "/admin/api/backends/d1/drain");
    assert_eq!(
        r.json(),
        json!({"active": false, "objects_remaining": 0, "bytes_remaining": 0, "objects_moved": 0})
    );
    let r = admin(&srv, "POST", "/admin/api/backends/d1/drain");
    assert_eq!(
        (r.status, r.json()),
        (202, json!({"status": "drain started", "backend": "d1"}))
    );
    // Excluded from new writes at once.
    assert_eq!(c.put("/pool/new", b"after the drain began").status, 200);
    assert!(!locations(&srv, "pool", "new").contains(&"d1".to_string()));
    eventually("the drain to finish", 30, || {
        admin(&srv, "GET", "/admin/api/backends/d1/drain").json()["active"] == false
    });
    // Drained, it stays out of placement (until its drain is cleared or it is removed).
    assert_eq!(c.put("/pool/after-drain", b"elsewhere").status, 200);
    assert!(!locations(&srv, "pool", "after-drain").contains(&"d1".to_string()));
    let st = admin(&srv, "GET", "/admin/api/backends/d1/drain").json();
    assert_eq!(st["objects_moved"], before, "{st}");
    assert_eq!((st["objects_remaining"].clone(), st.get("error")), (json!(0), None));
    assert_eq!(objects_on(&srv, "d1"), 0);
    for (i, b) in bodies.iter().enumerate() {
        assert!(c.get(&format!("/pool/k{i}")).body == *b, "k{i}");
    }
    // The old copies go through the cleanup queue, after its grace period.
    srv.run_cleanup_at(s3o_proxy::clock::unix_ms() + 120_000);
    assert!(srv.backend_files("d1").is_empty());
    // Errors in the seed's shape.
    let r = admin(&srv, "POST", "/admin/api/backends/nope/drain");
    assert_eq!(
        (r.status, r.json()),
        (404, json!({"error": "backend \"nope\" not found"}))
    );
    let r = admin(&srv, "DELETE", "/admin/api/backends/d2/drain");
    assert_eq!(
        (r.status, r.json()),
        (409, json!({"error": "backend \"d2\" is not draining"}))
    );
    // A drain of d2 is persisted: cancelled across a restart, it stays cancelled.
    assert_eq!(admin(&srv, "POST", "/admin/api/backends/d2/drain").status, 202);
    // Unless the first drain already finished (a 202 again then), a second start is refused.
    let r = admin(&srv, "POST", "/admin/api/backends/d2/drain");
    match r.status {
        409 => assert_eq!(r.json(), json!({"error": "backend \"d2\" is already draining"})),
        202 => {}
        s => panic!("second drain start answered {s}"),
    }
    let r = admin(&srv, "DELETE", "/admin/api/backends/d2/drain");
    match r.status {
        200 => assert_eq!(r.json(), json!({"status": "drain cancelled", "backend": "d2"})),
        409 => assert_eq!(r.json(), json!({"error": "backend \"d2\" is not draining"})),
        s => panic!("drain cancel answered {s}"),
    }
    let text = config(
        &srv.dir.0,
        &[("d1", ""), ("d2", ""), ("d3", "")],
        "[[buckets]]\nname = \"pool\"\nbackends = [\"d1\", \"d2\", \"d3\"]\n",
    );
    srv = srv.restart(&text);
    let st = admin(&srv, "GET", "/admin/api/backends/d2/drain").json();
    assert_eq!(st["active"], false);
    // d1, drained to the end, stays out of placement across the restart until its drain is
    // cleared; d2's cancelled drain left it in.
    assert_eq!(*srv.shared.draining.read(), ["d1".to_string()].into());
    let mut c = srv.client();
    assert_eq!(c.put("/pool/after-restart", b"not on d1").status, 200);
    assert!(!locations(&srv, "pool", "after-restart").contains(&"d1".to_string()));
    let r = admin(&srv, "DELETE", "/admin/api/backends/d1/drain");
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"status": "drain cancelled", "backend": "d1"}))
    );
    assert!(srv.shared.draining.read().is_empty());
}

#[test]
fn rebalance_evens_the_fill_through_the_ui_job() {
    let srv = start(
        "rebalance",
        &[("q1", "quota_bytes = 1000000"), ("q2", "quota_bytes = 1000000")],
        "[rebalance]\nthreshold = 0.1\n\
         [[buckets]]\nname = \"fill\"\nbackends = [\"q1\", \"q2\"]\nplacement = \"pack\"\n",
    );
    let mut c = srv.client();
    let bodies: Vec<Vec<u8>> = (0..9).map(|i| data(100_000, i)).collect();
    for (i, b) in bodies.iter().enumerate() {
        assert_eq!(c.put(&format!("/fill/k{i}"), b).status, 200);
    }
    assert_eq!((objects_on(&srv, "q1"), objects_on(&srv, "q2")), (9, 0));
    let r = admin(&srv, "GET", "/ui/api/rebalance/status");
    assert_eq!(r.status, 401, "the UI API needs a session");
    let cookie = ui_session(&srv);
    let ui = |m: &str, p: &str| send(srv.admin_addr(), m, p, &[("cookie", &cookie)], b"");
    assert_eq!(ui("GET", "/ui/api/rebalance/status").json(), json!({"status": "idle"}));
    let r = ui("POST", "/ui/api/rebalance");
    assert_eq!((r.status, r.json()), (202, json!({"status": "started"})));
    eventually("the rebalance to finish", 30, || {
        ui("GET", "/ui/api/rebalance/status").json()["status"] == "done"
    });
    let st = ui("GET", "/ui/api/rebalance/status").json();
    let moved = st["moved"].as_u64().unwrap();
    assert_eq!(st["ok"], true);
    let (a, b) = (objects_on(&srv, "q1"), objects_on(&srv, "q2"));
    assert_eq!((a + b, moved), (9, b));
    assert!(a.abs_diff(b) <= 1, "{a} / {b}");
    for (i, body) in bodies.iter().enumerate() {
        assert!(c.get(&format!("/fill/k{i}")).body == *body);
    }
}

/// A UI session cookie (`name=value`) from the form login.
fn ui_session(srv: &TestServer) -> String {
    let form = format!("admin_key={UI_KEY}&admin_secret={}", UI_PASSWORD.replace(' ', "+"));
    let ct = [("content-type", "application/x-www-form-urlencoded")];
    let r = send(srv.admin_addr(), "POST", "/ui/login", &ct, form.as_bytes());
    assert_eq!(r.status, 200);
    r.header("set-cookie").unwrap().split(';').next().unwrap().to_string()
}

#[test]
fn excess_copies_are_removed_and_a_backend_can_be_forgotten() {
    let dir = TempDir::new("excess");
    let backends = [("e1", ""), ("e2", ""), ("e3", "")];
    let three = "[[buckets]]\nname = \"excess\"\nbackends = [\"e1\", \"e2\", \"e3\"]\nreplication = 3\n";
    let text = config(&dir.0, &backends, three);
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    let bodies: Vec<Vec<u8>> = (0..5).map(|i| data(500 + i * 10, i as u32)).collect();
    for (i, b) in bodies.iter().enumerate() {
        assert_eq!(c.put(&format!("/excess/k{i}"), b).status, 200);
    }
    let r = admin(&srv, "GET", "/admin/api/over-replication");
    assert_eq!(r.json(), json!({"factor": 1, "pending": 0}));
    // The factor is lowered to two: every object has one copy too many.
    let text = config(
        &srv.dir.0,
        &backends,
        &three.replace("replication = 3", "replication = 2"),
    );
    let mut srv = srv.restart(&text);
    let r = admin(&srv, "GET", "/admin/api/over-replication");
    assert_eq!(r.json(), json!({"factor": 1, "pending": 5}));
    let r = admin(&srv, "POST", "/admin/api/over-replication?batch_size=2");
    assert_eq!(r.json(), json!({"status": "ok", "copies_removed": 2}));
    let r = admin(&srv, "POST", "/admin/api/over-replication");
    assert_eq!(r.json(), json!({"status": "ok", "copies_removed": 3}));
    assert_eq!(admin(&srv, "GET", "/admin/api/over-replication").json()["pending"], 0);
    let mut c = srv.client();
    for i in 0..5 {
        assert_eq!(locations(&srv, "excess", &format!("k{i}")).len(), 2);
    }
    // Forgetting e3: versions with a copy elsewhere keep it; nothing is left on e3's records.
    let r = admin(&srv, "DELETE", "/admin/api/backends/e3");
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"status": "backend removed", "backend": "e3"}))
    );
    assert_eq!(objects_on(&srv, "e3"), 0);
    for (i, b) in bodies.iter().enumerate() {
        assert!(!locations(&srv, "excess", &format!("k{i}")).contains(&"e3".to_string()));
        assert!(c.get(&format!("/excess/k{i}")).body == *b);
    }
    // Purging e2: its files go, and versions whose only copy it held are gone.
    let only_e2: Vec<usize> = (0..5)
        .filter(|i| locations(&srv, "excess", &format!("k{i}")) == ["e2"])
        .collect();
    let r = admin(&srv, "DELETE", "/admin/api/backends/e2?purge=true");
    assert_eq!(r.status, 200);
    assert!(srv.backend_files("e2").is_empty());
    for i in 0..5 {
        let status = c.get(&format!("/excess/k{i}")).status;
        assert_eq!(status, if only_e2.contains(&i) { 404 } else { 200 }, "k{i}");
    }
    // A draining backend cannot be removed; an unknown one is 404.
    assert_eq!(admin(&srv, "POST", "/admin/api/backends/e1/drain").status, 202);
    let r = admin(&srv, "DELETE", "/admin/api/backends/e1");
    assert_eq!(
        (r.status, r.json()),
        (
            409,
            json!({"error": "backend \"e1\" is currently draining, cancel the drain first"})
        )
    );
    assert_eq!(admin(&srv, "DELETE", "/admin/api/backends/e1/drain").status, 200);
    assert_eq!(admin(&srv, "DELETE", "/admin/api/backends/zz").status, 404);
    srv.stop();
}

#[test]
fn the_orphan_sweep_queues_only_unreferenced_physical_objects() {
    let srv = start(
        "sweep",
        &[("s1", "")],
        "[cleanup]\norphan_grace_secs = 0\norphan_sweep_secs = 0\n[[buckets]]\nname = \"swept\"\nbackends = [\"s1\"]\n",
    );
    let mut c = srv.client();
    assert_eq!(c.put("/swept/live", b"referenced").status, 200);
    let root = srv.dir.0.join("s1").join("objects");
    // A body a crash left behind (our key shape, no version), and somebody else's file.
    let orphan = s3o_store::physical_key_for("swept", "lost", 999_999);
    std::fs::create_dir_all(root.join(&orphan).parent().unwrap()).unwrap();
    std::fs::write(root.join(&orphan), b"left by a crash").unwrap();
    std::fs::write(root.join("not-ours.txt"), b"foreign").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let queued = srv.run_orphan_sweep();
    assert_eq!(queued, 1);
    let queue = s3o_store::block_on(srv.shared.store.cleanup_queue(10)).unwrap();
    assert_eq!(queue.first.len(), 1);
    assert_eq!(queue.first[0].physical_key, orphan);
    assert_eq!(queue.first[0].reason, s3o_store::CleanupReason::Orphan);
    srv.run_cleanup_at(s3o_proxy::clock::unix_ms() + 1000);
    assert!(!root.join(&orphan).exists());
    assert!(root.join("not-ours.txt").exists());
    assert_eq!(c.get("/swept/live").body, b"referenced");
}
