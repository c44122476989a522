//! In-process tests of the index rebuild and the offline import, over `fs` backends: everything
//! S3 clients see (listings, versions, bodies and headers, tags, retention, legal holds, bucket
//! settings) comes back after the metadata directory is deleted and `rebuild_index` runs; objects
//! without records come back from their labels; `sync` takes a prefix and a dry run; an `fs`
//! backend whose filesystem cannot keep user xattrs is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use common::{data, xml_all, xml_one, Client, TempDir, TestServer};
use s3o_proxy::admin_port::import::SyncOptions;
use s3o_proxy::config::Config;
use s3o_proxy::rebuild::{rebuild_index, RebuildOptions};

/// The test config: both backends roomy, and a bucket replicated on both.
fn config(dir: &std::path::Path) -> String {
    let extra = "\n[[buckets]]\nname = \"repl\"\nbackends = [\"a\", \"b\"]\nreplication = 2\n";
    common::config_text(dir, extra).replace("quota_bytes = 1048576", "quota_bytes = 1073741824")
}

/// Stops `srv` and waits until nothing of it holds the store; its directory.
fn stop(mut srv: TestServer) -> TempDir {
    srv.stop();
    let t0 = std::time::Instant::now();
    while Arc::strong_count(&srv.shared) > 1 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the server still holds its state"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = std::mem::replace(&mut srv.dir, TempDir::new("rebuild-placeholder"));
    drop(srv);
    dir
}

/// Opens the sled store of `dir`, waiting for a previous handle's threads to let it go.
fn open_store(dir: &TempDir) -> s3o_store::Store {
    let t0 = std::time::Instant::now();
    loop {
        match s3o_store::Store::open(dir.0.join("meta")) {
            Ok(s) => return s,
            Err(e) if t0.elapsed() < Duration::from_secs(20) => {
                eprintln!("store not open yet: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("store: {e}"),
        }
    }
}

/// Runs the rebuild on `dir`'s backends into its (empty) store.
fn rebuild(dir: &TempDir, text: &str, options: RebuildOptions) -> s3o_proxy::rebuild::RebuildSummary {
    let summary = rebuild_index(Config::parse(text).unwrap(), open_store(dir), &options).unwrap();
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    summary
}

fn sha256_b64(body: &[u8]) -> String {
    let hex = s3o_sigv4::string_to_sign::sha256_hex(body);
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// What a client sees of one request: status, body and the headers that describe the object.
type Seen = (u16, Vec<u8>, Vec<(String, String)>);

/// [`Seen`] of one request.
fn seen(c: &mut Client, method: &str, path: &str, query: &str) -> Seen {
    let r = c.send(method, path, query, &[("x-amz-checksum-mode", "ENABLED")], b"");
    let keep = [
        "etag",
        "content-type",
        "content-length",
        "last-modified",
        "x-amz-version-id",
        "x-amz-delete-marker",
        "x-amz-meta-colour",
        "x-amz-tagging-count",
        "x-amz-checksum-sha256",
        "x-amz-mp-parts-count",
        "x-amz-object-lock-mode",
        "x-amz-object-lock-retain-until-date",
        "x-amz-object-lock-legal-hold",
    ];
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(n, _)| keep.contains(&n.to_ascii_lowercase().as_str()))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    headers.sort();
    // Request ids differ between runs; everything else must not.
    let mut body = r.body;
    if let Some(id) = xml_one(&String::from_utf8_lossy(&body), "RequestId") {
        body = String::from_utf8_lossy(&body).replace(&id, "").into_bytes();
    }
    (r.status, body, headers)
}

/// Everything the test compares before and after the rebuild.
fn capture(c: &mut Client) -> Vec<(String, Seen)> {
    let mut out = Vec::new();
    let mut look = |c: &mut Client, method: &str, path: &str, query: &str| {
        out.push((format!("{method} {path}?{query}"), seen(c, method, path, query)));
    };
    for bucket in ["data", "repl", "ver", "lck"] {
        look(c, "GET", &format!("/{bucket}"), "list-type=2");
        look(c, "GET", &format!("/{bucket}"), "versions");
        look(c, "GET", &format!("/{bucket}"), "versioning");
    }
    look(c, "GET", "/lck", "object-lock");
    for path in [
        "/data/plain",
        "/data/mp",
        "/repl/twice",
        "/ver/k",
        "/ver/gone",
        "/lck/held",
    ] {
        look(c, "GET", path, "");
        look(c, "HEAD", path, "");
        look(c, "GET", path, "tagging");
    }
    look(c, "GET", "/data/mp", "partNumber=2");
    look(c, "GET", "/lck/held", "retention");
    look(c, "GET", "/lck/held", "legal-hold");
    // Every version of the versioned bucket, by id.
    let listing = c.send("GET", "/ver", "versions", &[], b"").text();
    for id in xml_all(&listing, "VersionId") {
        look(c, "GET", "/ver/k", &format!("versionId={id}"));
        look(c, "GET", "/ver/k", &format!("tagging&versionId={id}"));
    }
    out
}

fn ok(r: common::Response) -> common::Response {
    assert!(r.status == 200 || r.status == 204, "{} {}", r.status, r.text());
    r
}

#[test]
fn everything_comes_back_after_the_store_is_lost() {
    let dir = TempDir::new("rebuild");
    let text = config(&dir.0);
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    // A plain object with everything a PUT can carry, its tags changed afterwards.
    let plain = data(10_000, 1);
    let sum = sha256_b64(&plain);
    ok(c.send(
        "PUT",
        "/data/plain",
        "",
        &[
            ("content-type", "text/x-test"),
            ("x-amz-meta-colour", "blue"),
            ("x-amz-tagging", "t1=v1"),
            ("x-amz-checksum-sha256", &sum),
        ],
        &plain,
    ));
    let tags = b"<Tagging><TagSet><Tag><Key>t2</Key><Value>v2</Value></Tag></TagSet></Tagging>";
    ok(c.send("PUT", "/data/plain", "tagging", &[], tags));
    // A multipart object.
    let id = c.create_upload("/data/mp", &[("x-amz-meta-colour", "green")]);
    let (p1, p2) = (data(5 * 1024 * 1024, 2), data(1_000, 3));
    let e1 = ok(c.upload_part("/data/mp", &id, 1, &p1))
        .header("etag")
        .unwrap()
        .to_owned();
    let e2 = ok(c.upload_part("/data/mp", &id, 2, &p2))
        .header("etag")
        .unwrap()
        .to_owned();
    ok(c.complete_upload("/data/mp", &id, &[(1, &e1), (2, &e2)], &[]));
    // A replicated object: a copy and a record on each backend.
    ok(c.put("/repl/twice", &data(3_000, 4)));
    // A versioned bucket with versions, tags on an old one, and delete markers.
    ok(c.send("PUT", "/ver", "", &[], b""));
    let enable = b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
    ok(c.send("PUT", "/ver", "versioning", &[], enable));
    let v1 = ok(c.put("/ver/k", b"one"))
        .header("x-amz-version-id")
        .unwrap()
        .to_owned();
    ok(c.put("/ver/k", b"two"));
    ok(c.send("DELETE", "/ver/k", "", &[], b""));
    ok(c.put("/ver/k", b"three"));
    ok(c.send("PUT", "/ver/k", &format!("tagging&versionId={v1}"), &[], tags));
    ok(c.put("/ver/gone", b"soon gone"));
    ok(c.send("DELETE", "/ver/gone", "", &[], b""));
    // A marker removed for good leaves no record behind.
    ok(c.put("/ver/back", b"back"));
    let marker = ok(c.send("DELETE", "/ver/back", "", &[], b""))
        .header("x-amz-version-id")
        .unwrap()
        .to_owned();
    ok(c.send("DELETE", "/ver/back", &format!("versionId={marker}"), &[], b""));
    // Its record goes through the cleanup queue (due at once).
    srv.run_cleanup_at(s3o_proxy::clock::unix_ms());
    let marker_record = format!(
        "{}.meta",
        s3o_store::physical_key_for("ver", "back", u64::from_str_radix(&marker, 16).unwrap())
    );
    let records: Vec<_> = ["a", "b"].iter().flat_map(|b| srv.record_files(b)).collect();
    assert!(!records.iter().any(|f| f.ends_with(&marker_record)), "{records:?}");
    // Object lock: retention and a legal hold.
    ok(c.send("PUT", "/lck", "", &[("x-amz-bucket-object-lock-enabled", "true")], b""));
    ok(c.put("/lck/held", b"keep me"));
    let retain =
        b"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2099-01-01T00:00:00Z</RetainUntilDate></Retention>";
    ok(c.send("PUT", "/lck/held", "retention", &[], retain));
    let hold = b"<LegalHold><Status>ON</Status></LegalHold>";
    ok(c.send("PUT", "/lck/held", "legal-hold", &[], hold));
    assert!(!srv.record_files("a").is_empty() && !srv.record_files("b").is_empty());
    let before = capture(&mut c);
    drop(c);

    let dir = stop(srv);
    // A store that holds anything is refused (unless forced).
    let refused = rebuild_index(
        Config::parse(&text).unwrap(),
        open_store(&dir),
        &RebuildOptions::default(),
    );
    assert!(refused.unwrap_err().to_string().contains("not empty"));
    std::fs::remove_dir_all(dir.0.join("meta")).unwrap();
    // A dry run finds everything and keeps nothing.
    let dry = rebuild(
        &dir,
        &text,
        RebuildOptions {
            dry_run: true,
            force: false,
        },
    );
    assert!(s3o_store::block_on(open_store(&dir).list_buckets()).unwrap().is_empty());
    let summary = rebuild(&dir, &text, RebuildOptions::default());
    assert_eq!(dry, summary);
    // data: plain, mp; repl: twice (two copies); ver: k ×3, gone, back; lck: held.
    assert_eq!(
        (
            summary.buckets,
            summary.versions,
            summary.delete_markers,
            summary.copies
        ),
        (4, 9, 2, 10),
        "{summary}"
    );
    assert_eq!((summary.from_labels, summary.skipped), (0, 0), "{summary}");

    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    let after = capture(&mut c);
    assert_eq!(before.len(), after.len());
    for ((what, b), (_, a)) in before.iter().zip(&after) {
        assert_eq!(
            (b.0, &b.2),
            (a.0, &a.2),
            "{what}: status and headers differ\n{}\n{}",
            String::from_utf8_lossy(&b.1),
            String::from_utf8_lossy(&a.1)
        );
        assert!(
            b.1 == a.1,
            "{what}: bodies differ\n{}\n{}",
            String::from_utf8_lossy(&b.1),
            String::from_utf8_lossy(&a.1)
        );
    }
    // The lock holds as it did: the held version cannot be deleted.
    let listing = c.send("GET", "/lck", "versions", &[], b"").text();
    let held = xml_one(&listing, "VersionId").unwrap();
    let r = c.send("DELETE", "/lck/held", &format!("versionId={held}"), &[], b"");
    assert_eq!(r.status, 403, "{}", r.text());
    // New versions come after every restored one.
    let v4 = ok(c.put("/ver/k", b"four"))
        .header("x-amz-version-id")
        .unwrap()
        .to_owned();
    let listing = c.send("GET", "/ver", "versions&prefix=k", &[], b"").text();
    assert_eq!(xml_one(&listing, "VersionId"), Some(v4));
    assert_eq!(c.get("/ver/k").body, b"four");
    // Usage counts every stored copy again.
    let usage = s3o_store::block_on(srv.shared.store.usage("a")).unwrap()
        + s3o_store::block_on(srv.shared.store.usage("b")).unwrap();
    let expected = 10_000 + (5 * 1024 * 1024 + 1_000) + 2 * 3_000 + 3 + 3 + 5 + 9 + 4 + 7 + 4;
    assert_eq!(usage, expected as u64);
}

#[test]
fn objects_without_records_come_back_from_their_labels() {
    let dir = TempDir::new("labels");
    let text = config(&dir.0);
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    let body = data(20_000, 5);
    ok(c.send("PUT", "/data/old", "", &[("content-type", "image/x-old")], &body));
    ok(c.put("/data/old", b"overwritten"));
    ok(c.put("/repl/old", b"replicated"));
    let before = c.send("HEAD", "/data/old", "", &[], b"");
    let list_before = c.send("GET", "/data", "list-type=2", &[], b"").text();
    drop(c);
    let records: Vec<_> = ["a", "b"].iter().flat_map(|b| srv.record_files(b)).collect();
    let dir = stop(srv);
    // As if written before records existed.
    for f in records {
        std::fs::remove_file(f).unwrap();
    }
    std::fs::remove_dir_all(dir.0.join("meta")).unwrap();
    let summary = rebuild(&dir, &text, RebuildOptions::default());
    // The replaced version's bytes were still there (not yet cleaned up): it stays out.
    assert_eq!(
        (summary.versions, summary.from_labels, summary.copies),
        (2, 3, 3),
        "{summary}"
    );
    assert_eq!(summary.skipped, 1, "{summary}");
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    let got = c.get("/data/old");
    assert_eq!(got.body, b"overwritten");
    assert_eq!(got.header("etag"), before.header("etag"));
    assert_eq!(c.get("/repl/old").body, b"replicated");
    let list_after = c.send("GET", "/data", "list-type=2", &[], b"").text();
    assert_eq!(xml_all(&list_after, "Key"), xml_all(&list_before, "Key"));
    assert_eq!(xml_all(&list_after, "ETag"), xml_all(&list_before, "ETag"));
}

#[test]
fn sync_imports_under_a_prefix_and_a_dry_run_changes_nothing() {
    let dir = TempDir::new("sync");
    std::fs::create_dir_all(dir.0.join("b/objects/legacy/deep")).unwrap();
    std::fs::create_dir_all(dir.0.join("b/objects/other")).unwrap();
    std::fs::write(dir.0.join("b/objects/legacy/deep/x.txt"), b"old x").unwrap();
    std::fs::write(dir.0.join("b/objects/other/y.txt"), b"old y").unwrap();
    let text = config(&dir.0);
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    // The proxy's own object and its record on b are never imported.
    ok(c.put("/repl/own", b"ours"));
    drop(c);
    let dir = stop(srv);
    let sync = |prefix: &str, dry_run: bool| {
        let options = SyncOptions {
            prefix: prefix.to_owned(),
            dry_run,
        };
        let cfg = Config::parse(&text).unwrap();
        s3o_proxy::offline::sync(cfg, open_store(&dir), "b", "data", &options).unwrap()
    };
    assert_eq!(sync("legacy/", true), (1, 0));
    assert_eq!(sync("legacy/", true), (1, 0), "a dry run imports nothing");
    assert_eq!(sync("legacy/", false), (1, 0));
    assert_eq!(sync("", false), (1, 1));
    assert_eq!(sync("", true), (0, 2));
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    assert_eq!(c.get("/data/legacy/deep/x.txt").body, b"old x");
    assert_eq!(c.get("/data/other/y.txt").body, b"old y");
    let keys = xml_all(&c.send("GET", "/data", "list-type=2", &[], b"").text(), "Key");
    assert_eq!(keys, ["legacy/deep/x.txt", "other/y.txt"]);
}

#[test]
fn an_fs_backend_without_user_xattrs_is_refused() {
    let dir = TempDir::new("noxattr");
    let mnt = dir.0.join("ramfs");
    std::fs::create_dir_all(&mnt).unwrap();
    // ramfs keeps no user xattrs; mounting it needs privileges the test may not have.
    let mounted = std::process::Command::new("mount")
        .args(["-t", "ramfs", "none"])
        .arg(&mnt)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a ramfs (a filesystem without user xattrs) here");
        return;
    }
    let text = common::config_text(&dir.0, "").replace(&format!("{}/a", dir.0.display()), &mnt.display().to_string());
    let cfg = Config::parse(&text).unwrap();
    let refused = s3o_proxy::reload::check_fs_backends(&cfg.backends.iter().collect::<Vec<_>>());
    let _ = std::process::Command::new("umount").arg(&mnt).status();
    let e = refused.unwrap_err();
    assert!(
        e.contains("backend 'a'") && e.contains(&mnt.display().to_string()),
        "{e}"
    );
    assert!(e.contains("extended attributes"), "{e}");
    // The other backend, on an ordinary filesystem, passes.
    let ok_b: Vec<_> = cfg.backends.iter().filter(|b| b.name == "b").collect();
    s3o_proxy::reload::check_fs_backends(&ok_b).unwrap();
}

#[test]
fn sealed_and_rewritten_objects_come_back_and_sealed_bytes_are_never_taken_for_plaintext() {
    let dir = TempDir::new("rebuild-sealed");
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let extra = format!(
        "\n[[buckets]]\nname = \"repl\"\nbackends = [\"a\", \"b\"]\nreplication = 2\n\n[[buckets]]\nname = \"sec\"\nbackends = [\"a\", \"b\"]\nencrypt = true\n\n[encryption]\nkey = \"{key}\"\n"
    );
    let text = common::config_text(&dir.0, &extra).replace("quota_bytes = 1048576", "quota_bytes = 1073741824");
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    let sealed = data(150_000, 1);
    let plain = data(90_000, 2);
    let replicated = data(30_000, 3);
    ok(c.put("/sec/s", &sealed));
    ok(c.put("/data/p", &plain));
    ok(c.put("/repl/r", &replicated));
    // `p` and `r` are sealed afterwards: their copies move to fresh keys, the old ones stay
    // until the cleanup queue's grace period ends (the rebuild must leave them out).
    let (done, failed, _) = srv.on_worker(|shared, _| async move {
        let core = s3o_proxy::state::Core::new(shared, usize::MAX - 7).unwrap();
        s3o_proxy::seal::existing::run(&core, s3o_proxy::seal::existing::Direction::Seal)
            .await
            .unwrap()
    });
    assert_eq!((done, failed), (2, 0));
    drop(c);
    let dir = stop(srv);
    std::fs::remove_dir_all(dir.0.join("meta")).unwrap();
    let summary = rebuild(&dir, &text, RebuildOptions::default());
    assert_eq!(summary.versions, 3, "{summary}");
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    assert!(c.get("/sec/s").body == sealed);
    assert!(c.get("/data/p").body == plain);
    assert!(c.get("/repl/r").body == replicated);
    for (bucket, key) in [("sec", "s"), ("data", "p"), ("repl", "r")] {
        let m = s3o_store::block_on(srv.shared.store.get_object(bucket, key))
            .unwrap()
            .unwrap();
        assert!(m.sealed.is_some(), "{bucket}/{key}");
    }
    assert_eq!(
        s3o_store::block_on(srv.shared.store.get_object("repl", "r"))
            .unwrap()
            .unwrap()
            .locations
            .len(),
        2
    );
    // Without any record, sealed bytes are skipped, never imported as plaintext.
    let records: Vec<_> = ["a", "b"].iter().flat_map(|b| srv.record_files(b)).collect();
    drop(c);
    let dir = stop(srv);
    for f in records {
        std::fs::remove_file(f).unwrap();
    }
    std::fs::remove_dir_all(dir.0.join("meta")).unwrap();
    let summary = rebuild_index(
        Config::parse(&text).unwrap(),
        open_store(&dir),
        &RebuildOptions::default(),
    )
    .unwrap();
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    for path in ["/sec/s", "/data/p", "/repl/r"] {
        let r = c.get(path);
        assert!(
            r.status == 404 || r.body != sealed && r.body.len() != 150_016,
            "{path}: {summary}"
        );
        if r.status == 200 {
            // Only an old plaintext copy (pending cleanup) can come back from its labels.
            assert!(r.body == plain || r.body == replicated, "{path} served other bytes");
        }
    }
}
