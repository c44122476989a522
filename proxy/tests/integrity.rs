//! In-process tests of content hashes and scrubbing over `fs` backends: a copy changed behind
//! our back is found by the scrubber and repaired from its replica (the backends then hold two
//! good copies), a copy without a good replica is marked damaged and never served again,
//! versions written without a hash get one, and a master key rotation re-wraps data keys so a
//! restart with only the new key (and the old one among the previous keys, then without it)
//! reads every sealed object.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{data, TempDir, TestServer};
use s3o_proxy::integrity::scrub;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const NEW_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

/// Two fs backends with room, bucket `rep` keeping two copies (one on each), scrubbing only
/// on demand.
fn config(dir: &std::path::Path, extra: &str) -> String {
    let extra = format!("[[buckets]]\nname = \"rep\"\nbackends = [\"a\", \"b\"]\nreplication = 2\n\n[integrity]\nscrub_interval_secs = 0\n{extra}");
    common::config_text(dir, &extra).replace("quota_bytes = 1048576", "quota_bytes = 1073741824")
}

fn meta_of(srv: &TestServer, bucket: &str, key: &str) -> s3o_store::ObjectMeta {
    s3o_store::block_on(srv.shared.store.get_object(bucket, key))
        .unwrap()
        .unwrap()
}

fn file(srv: &TestServer, backend: &str, physical: &str) -> std::path::PathBuf {
    srv.dir.0.join(backend).join("objects").join(physical)
}

fn scrub_now(srv: &TestServer, batch: usize) -> scrub::Scrubbed {
    srv.on_worker(|shared, _| async move {
        let core = s3o_proxy::state::Core::new(shared, usize::MAX - 7).unwrap();
        scrub::run_cycle(&core, batch).await.unwrap()
    })
}

#[test]
fn the_scrubber_repairs_a_changed_copy_from_its_replica_and_marks_one_without_a_replica_damaged() {
    let dir = TempDir::new("scrub");
    let text = config(&dir.0, "");
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    let body = data(300_000, 1);
    assert_eq!(c.put("/rep/x", &body).status, 200);
    let m = meta_of(&srv, "rep", "x");
    assert_eq!(m.locations.len(), 2);
    // Clean copies: verified, nothing to do.
    let s = scrub_now(&srv, 100);
    assert_eq!((s.checked, s.mismatches, s.errors), (2, 0, 0));
    // A byte changes on backend b behind our back.
    let bad = m.locations.iter().find(|l| l.backend == "b").unwrap().clone();
    let p = file(&srv, "b", &bad.physical_key);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[1000] ^= 0x20;
    std::fs::write(&p, &bytes).unwrap();
    let s = scrub_now(&srv, 100);
    assert_eq!((s.mismatches, s.repaired, s.damaged), (1, 1, 0), "{s:?}");
    let after = meta_of(&srv, "rep", "x");
    assert_eq!(after.locations.len(), 2);
    assert!(!after.locations.contains(&bad), "the bad copy is no longer a location");
    for l in &after.locations {
        assert!(std::fs::read(file(&srv, &l.backend, &l.physical_key)).unwrap() == body);
    }
    let s = scrub_now(&srv, 100);
    assert_eq!((s.checked, s.mismatches), (2, 0));
    assert!(c.get("/rep/x").body == body);

    // One copy only (bucket `data` keeps one): a changed copy cannot be repaired.
    let one = data(100_000, 2);
    assert_eq!(c.put("/data/one", &one).status, 200);
    let m = meta_of(&srv, "data", "one");
    let p = file(&srv, &m.locations[0].backend, &m.locations[0].physical_key);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[5] ^= 1;
    std::fs::write(&p, &bytes).unwrap();
    let s = scrub_now(&srv, 100);
    assert_eq!((s.mismatches, s.repaired, s.damaged), (1, 0, 1), "{s:?}");
    assert_eq!(
        meta_of(&srv, "data", "one").damaged,
        vec![m.locations[0].backend.clone()]
    );
    // Never served again: an error, not the changed bytes.
    assert_eq!(c.get("/data/one").status, 500);
}

#[test]
fn a_read_that_fails_its_hash_queues_the_copy_and_the_next_scrub_repairs_it() {
    let dir = TempDir::new("suspect");
    let text = config(&dir.0, "");
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    let body = data(2_000_000, 3);
    assert_eq!(c.put("/rep/y", &body).status, 200);
    let m = meta_of(&srv, "rep", "y");
    // Change the copy reads go to first.
    let first = m.locations[0].clone();
    let p = file(&srv, &first.backend, &first.physical_key);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[1_999_000] ^= 4;
    std::fs::write(&p, &bytes).unwrap();
    let (status, len, got) = common::get_to_eof(&mut c, srv.addr, "/rep/y");
    assert!(status != 200 || got < len, "a changed copy was served whole");
    assert_eq!(srv.shared.suspects.len(), 1);
    // A batch of 0 versions from the scan: only the suspect is verified.
    let s = scrub_now(&srv, 1);
    assert!(s.repaired >= 1, "{s:?}");
    assert!(srv.shared.suspects.is_empty());
    assert!(c.get("/rep/y").body == body);
}

#[test]
fn hash_existing_hashes_what_was_written_without_one() {
    let dir = TempDir::new("hash-existing");
    let text = config(&dir.0, "hash = false\n");
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    let body = data(70_000, 4);
    assert_eq!(c.put("/data/h", &body).status, 200);
    assert!(meta_of(&srv, "data", "h").hash.is_none());
    let (hashed, failed, total) = srv.on_worker(|shared, _| async move {
        let core = s3o_proxy::state::Core::new(shared, usize::MAX - 7).unwrap();
        s3o_proxy::integrity::hash_existing::hash_existing(&core).await.unwrap()
    });
    assert_eq!((hashed, failed, total), (1, 0, 1));
    let h = meta_of(&srv, "data", "h").hash.unwrap();
    assert_eq!(h.parts, vec![blake3::hash(&body).to_hex().to_string()]);
    // A copy rotten before it was ever hashed (its MD5 no longer its ETag) gets no hash: the
    // scrubber must never take rotten bytes for the truth.
    assert_eq!(c.put("/data/rotten", &body).status, 200);
    let m = meta_of(&srv, "data", "rotten");
    let p = file(&srv, &m.locations[0].backend, &m.locations[0].physical_key);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[7] ^= 1;
    std::fs::write(&p, &bytes).unwrap();
    let (hashed, failed, total) = srv.on_worker(|shared, _| async move {
        let core = s3o_proxy::state::Core::new(shared, usize::MAX - 7).unwrap();
        s3o_proxy::integrity::hash_existing::hash_existing(&core).await.unwrap()
    });
    assert_eq!((hashed, failed, total), (0, 1, 1));
    assert!(meta_of(&srv, "data", "rotten").hash.is_none());
}

#[test]
fn a_rotated_key_leaves_every_sealed_object_readable_with_the_new_key_alone() {
    let dir = TempDir::new("rotate");
    let old = format!("[encryption]\nenabled = true\nkey_id = \"old\"\nkey = \"{KEY}\"\n");
    let text = config(&dir.0, &old);
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    let bodies: Vec<Vec<u8>> = (0..5).map(|i| data(10_000 + i * 3000, i as u32)).collect();
    for (i, b) in bodies.iter().enumerate() {
        assert_eq!(c.put(&format!("/data/k{i}"), b).status, 200);
    }
    // The new key current, the old one kept to unwrap.
    let both = config(
        &srv.dir.0,
        &format!("[encryption]\nenabled = true\nkey_id = \"new\"\nkey = \"{NEW_KEY}\"\n[[encryption.previous_keys]]\nid = \"old\"\nkey = \"{KEY}\"\n"),
    );
    let srv = srv.restart(&both);
    let refused = srv.on_worker(|shared, _| async move {
        let core = s3o_proxy::state::Core::new(shared, usize::MAX - 7).unwrap();
        s3o_proxy::seal::rotate::refused(&core, "new")
    });
    assert!(refused.unwrap().contains("current"));
    let (rotated, failed, total) = srv.on_worker(|shared, _| async move {
        let core = s3o_proxy::state::Core::new(shared, usize::MAX - 7).unwrap();
        s3o_proxy::seal::rotate::rotate(&core, "old").await.unwrap()
    });
    assert_eq!((rotated, failed, total), (5, 0, 5));
    assert_eq!(meta_of(&srv, "data", "k0").sealed.unwrap().key_id, "new");
    // Restarted with the new key only.
    let only_new = config(
        &srv.dir.0,
        &format!("[encryption]\nenabled = true\nkey_id = \"new\"\nkey = \"{NEW_KEY}\"\n"),
    );
    let srv = srv.restart(&only_new);
    let mut c = srv.client();
    for (i, b) in bodies.iter().enumerate() {
        assert!(c.get(&format!("/data/k{i}")).body == *b, "k{i}");
    }
}

#[test]
fn existing_objects_are_sealed_then_opened_again_with_their_bytes_and_etags_unchanged() {
    let dir = TempDir::new("existing");
    let keyed = format!("[encryption]\nenabled = false\nkey = \"{KEY}\"\n");
    let text = config(&dir.0, &keyed);
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    let mut objects: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..20 {
        let (bucket, n) = if i % 2 == 0 {
            ("data", 1000 * i + 1)
        } else {
            ("rep", 70_000 + i)
        };
        objects.push((format!("/{bucket}/o{i}"), data(n, i as u32)));
    }
    for (path, body) in &objects {
        assert_eq!(c.put(path, body).status, 200);
    }
    // A multipart object too.
    let r = c.send("POST", "/data/mp", "uploads", &[], b"");
    let id = common::xml_one(&r.text(), "UploadId").unwrap();
    let (p1, p2) = (data(5 * 1024 * 1024, 50), data(3000, 51));
    let e1 = c
        .send("PUT", "/data/mp", &format!("partNumber=1&uploadId={id}"), &[], &p1)
        .header("etag")
        .unwrap()
        .to_string();
    let e2 = c
        .send("PUT", "/data/mp", &format!("partNumber=2&uploadId={id}"), &[], &p2)
        .header("etag")
        .unwrap()
        .to_string();
    let done = c.send(
        "POST",
        "/data/mp",
        &format!("uploadId={id}"),
        &[],
        common::complete_body(&[(1, &e1), (2, &e2)]).as_bytes(),
    );
    assert_eq!(done.status, 200);
    objects.push(("/data/mp".into(), [p1, p2.clone()].concat()));
    let etags: Vec<String> = objects
        .iter()
        .map(|(p, _)| c.send("HEAD", p, "", &[], b"").header("etag").unwrap().to_string())
        .collect();
    let run = |dir: s3o_proxy::seal::existing::Direction| {
        srv.on_worker(|shared, _| async move {
            let core = s3o_proxy::state::Core::new(shared, usize::MAX - 7).unwrap();
            s3o_proxy::seal::existing::run(&core, dir).await.unwrap()
        })
    };
    let check = |c: &mut common::Client, sealed: bool| {
        for ((path, body), etag) in objects.iter().zip(&etags) {
            let (bucket, key) = path[1..].split_once('/').unwrap();
            let m = meta_of(&srv, bucket, key);
            assert_eq!(m.sealed.is_some(), sealed, "{path}");
            let g = c.get(path);
            assert!(g.body == *body, "{path}");
            assert_eq!(g.header("etag").unwrap(), etag, "{path}");
        }
        let r = c.send("GET", "/data/mp", "partNumber=2", &[], b"");
        assert!(r.status == 206 && r.body == p2);
    };
    assert_eq!(run(s3o_proxy::seal::existing::Direction::Seal), (21, 0, 21));
    check(&mut c, true);
    // Nothing left to seal; what the scrubber reads matches the new hashes.
    assert_eq!(run(s3o_proxy::seal::existing::Direction::Seal), (0, 0, 0));
    let s = scrub_now(&srv, 1000);
    assert_eq!((s.mismatches, s.errors), (0, 0), "{s:?}");
    assert_eq!(run(s3o_proxy::seal::existing::Direction::Open), (21, 0, 21));
    check(&mut c, false);
    let s = scrub_now(&srv, 1000);
    assert_eq!((s.mismatches, s.errors), (0, 0), "{s:?}");
    // The replaced copies leave through the cleanup queue; afterwards the backends hold exactly
    // the current copies.
    srv.run_cleanup_at(s3o_proxy::clock::unix_ms() + 10 * 86_400_000);
    let copies: usize = objects
        .iter()
        .map(|(p, _)| {
            let (bucket, key) = p[1..].split_once('/').unwrap();
            meta_of(&srv, bucket, key).locations.len()
        })
        .sum();
    assert_eq!(srv.backend_files("a").len() + srv.backend_files("b").len(), copies);
}

#[test]
fn the_admin_endpoints_take_their_json_bodies_and_answer_in_the_seeds_shapes() {
    let dir = TempDir::new("admin-integrity");
    let admin = "[admin]\nlisten = \"127.0.0.1:0\"\n\n[ui]\nadmin_token = \"integrity-token-0123456789\"\n";
    let text = config(
        &dir.0,
        &format!("[encryption]\nkey_id = \"old\"\nkey = \"{KEY}\"\n{admin}"),
    );
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    assert_eq!(c.put("/rep/z", &data(10_000, 9)).status, 200);
    let a = srv.admin_addr();
    let post = |path: &str, body: &str| {
        let h = [
            ("x-admin-token", "integrity-token-0123456789"),
            ("content-type", "application/json"),
        ];
        let r = common::admin::send(a, "POST", path, &h, body.as_bytes());
        (r.status, r.json())
    };
    let (status, doc) = post("/admin/api/scrub", r#"{"batch_size": 5}"#);
    assert_eq!(status, 200, "{doc}");
    assert_eq!(
        (
            doc["status"].as_str(),
            doc["checked"].as_u64(),
            doc["mismatches"].as_u64()
        ),
        (Some("complete"), Some(2), Some(0))
    );
    assert_eq!(post("/admin/api/scrub", r#"{"batch_size": 0}"#).0, 400);
    assert_eq!(post("/admin/api/scrub", "").0, 200);
    let (status, doc) = post("/admin/api/rotate-encryption-key", r#"{"old_key_id": "old"}"#);
    assert_eq!(
        (status, doc["error"].as_str().unwrap_or("").contains("current")),
        (400, true),
        "{doc}"
    );
    assert_eq!(post("/admin/api/rotate-encryption-key", "{}").0, 400);
    let (status, doc) = post("/admin/api/rotate-encryption-key", r#"{"old_key_id": "nope"}"#);
    assert_eq!(status, 400, "{doc}");
    let (status, doc) = post("/admin/api/hash-existing", "");
    assert_eq!(
        (status, doc),
        (
            200,
            serde_json::json!({"status": "complete", "hashed": 0, "failed": 0, "total": 0})
        )
    );
    let (status, doc) = post("/admin/api/encrypt-existing", "");
    assert_eq!(
        (status, doc),
        (
            200,
            serde_json::json!({"status": "complete", "encrypted": 1, "failed": 0, "total": 1})
        )
    );
    let (status, doc) = post("/admin/api/decrypt-existing", "");
    assert_eq!(
        (status, doc),
        (
            200,
            serde_json::json!({"status": "complete", "decrypted": 1, "failed": 0, "total": 1})
        )
    );
}

#[test]
fn a_resumed_run_wraps_around_and_a_rotten_copy_never_replaces_good_bytes() {
    let dir = TempDir::new("existing-resume");
    let text = config(&dir.0, &format!("hash = false\n[encryption]\nkey = \"{KEY}\"\n"));
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    for k in ["a", "b", "c"] {
        assert_eq!(c.put(&format!("/data/{k}"), &data(20_000, 1)).status, 200);
    }
    // A copy rotten before anything hashed it: its MD5 is no longer its ETag.
    assert_eq!(c.put("/data/rotten", &data(20_000, 2)).status, 200);
    let m = meta_of(&srv, "data", "rotten");
    let p = file(&srv, &m.locations[0].backend, &m.locations[0].physical_key);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[3] ^= 1;
    std::fs::write(&p, &bytes).unwrap();
    // As if a run had been cut short after `b`: it resumes there, and wraps around to `a`.
    let b = meta_of(&srv, "data", "b");
    let at = s3o_store::VersionAt {
        bucket: "data".into(),
        key: "b".into(),
        version: b.version,
    };
    s3o_store::block_on(
        srv.shared
            .store
            .put_state("encrypt-existing.cursor", &serde_json::to_string(&at).unwrap()),
    )
    .unwrap();
    let (done, failed, total) = srv.on_worker(|shared, _| async move {
        let core = s3o_proxy::state::Core::new(shared, usize::MAX - 7).unwrap();
        s3o_proxy::seal::existing::run(&core, s3o_proxy::seal::existing::Direction::Seal)
            .await
            .unwrap()
    });
    assert_eq!((done, failed, total), (3, 1, 4));
    for k in ["a", "b", "c"] {
        assert!(meta_of(&srv, "data", k).sealed.is_some(), "{k}");
    }
    assert!(meta_of(&srv, "data", "rotten").sealed.is_none());
    assert_eq!(meta_of(&srv, "data", "rotten").locations, m.locations);
    assert!(s3o_store::block_on(srv.shared.store.state("encrypt-existing.cursor"))
        .unwrap()
        .is_none());
}
