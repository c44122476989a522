//! The admin port in process, over real sockets: every endpoint of this version with its auth
//! (401), bad input (400), wrong method (405), oversized body (413) and the happy path with the
//! seed's JSON fields, against the proxy's own store, workers and counters; UI uploads and
//! downloads (including malformed forms that must store nothing) and importing a backend's
//! pre-existing files.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use common::admin::{parse, send};
use common::{data, TempDir, TestServer};

const TOKEN: &str = "test-admin-token-0123456789";
const KEY: &str = "operator";
const PASSWORD: &str = "a long enough password";

/// The argon2 hash of [`PASSWORD`] (computed once: it is slow on purpose).
fn secret_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| s3o_admin::hash_password(PASSWORD).unwrap())
}

fn admin_server() -> TestServer {
    let extra = format!(
        "\n[admin]\nlisten = \"127.0.0.1:0\"\nusage_flush_secs = 1\n\n[ui]\nadmin_key = \"{KEY}\"\nadmin_secret = \"{}\"\nadmin_token = \"{TOKEN}\"\n",
        secret_hash()
    );
    TestServer::start_with(&extra)
}

fn token() -> (&'static str, &'static str) {
    ("x-admin-token", TOKEN)
}

/// A session cookie from the form login.
fn login(addr: SocketAddr) -> String {
    let form = format!("admin_key={KEY}&admin_secret={}", PASSWORD.replace(' ', "+"));
    let r = send(
        addr,
        "POST",
        "/ui/login",
        &[("content-type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let cookie = r.header("set-cookie").unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "no Secure without TLS: {cookie}");
    cookie.split(';').next().unwrap().to_owned()
}

#[test]
fn operator_endpoints_need_the_token_and_answer_the_seed_shapes() {
    let srv = admin_server();
    let a = srv.admin_addr();
    let mut c = srv.client();
    assert_eq!(c.put("/data/docs/one.txt", &data(5000, 1)).status, 200);
    for path in [
        "/admin/api/status",
        "/admin/api/workers",
        "/admin/api/cleanup-queue",
        "/admin/api/log-level",
        "/admin/api/openapi.json",
    ] {
        assert_eq!(send(a, "GET", path, &[], b"").status, 401, "{path}");
        let wrong = send(a, "GET", path, &[("x-admin-token", "nope")], b"");
        assert_eq!((wrong.status, wrong.json()["error"].is_string()), (401, true), "{path}");
    }
    let r = send(a, "GET", "/admin/api/status", &[token()], b"");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["db_healthy"], true);
    assert_eq!(v["usage_period"].as_str().unwrap().len(), 7);
    let a_row = &v["backends"][0];
    assert_eq!(a_row["name"], "a");
    assert_eq!(a_row["bytes_limit"], 1_048_576);
    assert_eq!(a_row["bytes_used"], 5000);
    assert_eq!(a_row["object_count"], 1);
    for field in ["orphan_bytes", "api_requests", "egress_bytes", "ingress_bytes"] {
        assert!(a_row[field].is_u64(), "{field}");
    }
    assert_eq!(v["backends"][1]["bytes_limit"], 0, "unlimited is 0");

    let workers = send(a, "GET", "/admin/api/workers", &[token()], b"").json();
    let names: Vec<&str> = workers["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, common::WORKERS);
    // The queue's workers run on one instance: they hold a lease, here this instance's.
    let cleanup = &workers["workers"][0];
    assert_eq!(cleanup["active_here"], true, "{cleanup}");
    assert!(cleanup["lease_holder"].is_string() && cleanup["lease_expires"].is_string());
    assert!(workers["workers"][2].get("lease_holder").is_none());

    let loc = send(
        a,
        "GET",
        "/admin/api/object-locations?key=data/docs/one.txt",
        &[token()],
        b"",
    );
    assert_eq!(loc.status, 200);
    let loc = loc.json();
    assert_eq!(loc["key"], "data/docs/one.txt");
    let l = &loc["locations"][0];
    assert_eq!(
        (l["BackendName"].as_str(), l["SizeBytes"].as_u64()),
        (Some("a"), Some(5000))
    );
    assert!(l["ObjectKey"].as_str().unwrap().starts_with("data/"));
    assert!(l["CreatedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        send(a, "GET", "/admin/api/object-locations", &[token()], b"").status,
        400
    );
    assert_eq!(
        send(a, "GET", "/admin/api/object-locations?key=nobucketkey", &[token()], b"").status,
        400
    );
    assert_eq!(
        send(
            a,
            "GET",
            "/admin/api/object-locations?key=data/missing",
            &[token()],
            b""
        )
        .status,
        404
    );

    // Overwriting queues the old copy: the queue shows it.
    assert_eq!(c.put("/data/docs/one.txt", &data(7000, 2)).status, 200);
    let q = send(a, "GET", "/admin/api/cleanup-queue", &[token()], b"").json();
    assert!(q["depth"].as_u64().unwrap() >= 1, "{q}");
    let item = &q["items"][0];
    for field in ["ID", "BackendName", "ObjectKey", "Reason", "Attempts", "SizeBytes"] {
        assert!(!item[field].is_null(), "{field} in {item}");
    }
    assert_eq!(item["SizeBytes"], 5000);

    let flushed = send(a, "POST", "/admin/api/usage-flush", &[token()], b"");
    assert_eq!(
        (flushed.status, flushed.json()),
        (200, serde_json::json!({"status": "flushed"}))
    );
    assert_eq!(send(a, "GET", "/admin/api/usage-flush", &[token()], b"").status, 405);
    assert_eq!(send(a, "DELETE", "/admin/api/status", &[token()], b"").status, 405);
    assert_eq!(send(a, "GET", "/admin/api/nothing-here", &[token()], b"").status, 404);

    // This process has no log level control (the test harness owns the subscriber).
    assert_eq!(
        send(a, "GET", "/admin/api/log-level", &[token()], b"").json()["level"],
        "info"
    );
    let bad = send(a, "PUT", "/admin/api/log-level", &[token()], br#"{"level":"loud"}"#);
    assert_eq!(bad.status, 400);
    assert_eq!(
        send(a, "PUT", "/admin/api/log-level", &[token()], b"{not json").status,
        400
    );
    let big = vec![b' '; (1 << 20) + 1];
    assert_eq!(send(a, "PUT", "/admin/api/log-level", &[token()], &big).status, 413);

    let doc = send(a, "GET", "/admin/api/openapi.json", &[token()], b"").json();
    assert_eq!(doc["openapi"], "3.1.0");
}

#[test]
fn a_request_split_across_many_writes_is_read_whole() {
    let srv = admin_server();
    let mut s = TcpStream::connect(srv.admin_addr()).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = br#"{"key":"data/none"}"#;
    let req = format!(
        "POST /ui/api/delete HTTP/1.1\r\nhost: a\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let mut all = req.into_bytes();
    all.extend_from_slice(body);
    for piece in all.chunks(7) {
        s.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    // Read whole: the session check answers, not the request-line parser.
    assert_eq!(parse(&raw).status, 401, "{}", String::from_utf8_lossy(&raw));
}

#[test]
fn health_readiness_and_metrics_are_public() {
    let srv = admin_server();
    let a = srv.admin_addr();
    let mut c = srv.client();
    assert_eq!(c.put("/data/m", b"metrics").status, 200);
    assert_eq!(c.get("/data/m").status, 200);
    assert_eq!(c.get("/data/none").status, 404);
    let h = send(a, "GET", "/health", &[], b"");
    assert_eq!((h.status, h.json()["status"].as_str()), (200, Some("ok")));
    let r = send(a, "GET", "/health/ready", &[], b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // The object's metadata record went to the backend beside its 7 bytes.
    let record: u64 = srv
        .record_files("a")
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert!(record > 0);
    let ingress = format!("s3o_backend_ingress_bytes_total{{backend=\"a\"}} {}", 7 + record);
    let wanted = [
        "s3o_requests_total{operation=\"PutObject\",status=\"200\"} 1",
        "s3o_requests_total{operation=\"GetObject\",status=\"404\"} 1",
        "s3o_request_duration_seconds_count{operation=\"GetObject\"} 2",
        ingress.as_str(),
        "s3o_backend_egress_bytes_total{backend=\"a\"} 7",
        "s3o_backend_quota_limit_bytes{backend=\"a\"} 1048576",
        "s3o_backend_quota_used_bytes{backend=\"a\"} 7",
        "s3o_store_writable 1",
    ];
    // A core counts a request once its answer is sent: the last one may lag the client a little.
    let t0 = std::time::Instant::now();
    let text = loop {
        let m = send(a, "GET", "/metrics", &[], b"");
        assert_eq!(m.status, 200);
        let text = String::from_utf8(m.body).unwrap();
        if wanted.iter().all(|l| text.contains(l)) || t0.elapsed() > std::time::Duration::from_secs(5) {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    for line in wanted {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    for family in [
        "s3o_open_connections",
        "s3o_worker_ticks_total{worker=\"cleanup_queue\"}",
        "s3o_worker_consecutive_failures{worker=\"usage_flush\"} 0",
        "s3o_usage_api_requests{backend=\"a\"",
    ] {
        assert!(text.contains(family), "missing {family:?} in\n{text}");
    }
}

#[test]
fn ui_sessions_dashboard_tree_and_deletes() {
    let srv = admin_server();
    let a = srv.admin_addr();
    let mut c = srv.client();
    for k in ["photos/2024/a.jpg", "photos/2024/b.jpg", "photos/c.jpg", "top.txt"] {
        assert_eq!(c.put(&format!("/data/{k}"), &data(1000, 3)).status, 200);
    }
    assert_eq!(send(a, "GET", "/ui/api/dashboard", &[], b"").status, 401);
    let forged = send(
        a,
        "GET",
        "/ui/api/dashboard",
        &[("cookie", "s3o_session=b3BlcmF0b3I.99999999999.AAAA")],
        b"",
    );
    assert_eq!(forged.status, 401);
    let bad_login = send(
        a,
        "POST",
        "/ui/login",
        &[("content-type", "application/x-www-form-urlencoded")],
        b"admin_key=operator&admin_secret=wrong",
    );
    assert_eq!(bad_login.status, 401);
    let cookie = login(a);
    let ck = ("cookie", cookie.as_str());
    let d = send(a, "GET", "/ui/api/dashboard", &[ck], b"").json();
    assert_eq!(d["BackendOrder"], serde_json::json!(["a", "b"]));
    assert_eq!(d["QuotaStats"]["a"]["BackendName"], "a");
    assert_eq!(d["QuotaStats"]["a"]["BytesUsed"], 4000);
    assert_eq!(d["ObjectCounts"]["a"], 4);
    assert_eq!(d["ActiveMultipartCounts"]["a"], 0);
    assert!(d["UsageStats"]["a"]["APIRequests"].is_u64());
    let top = &d["TopLevelEntries"];
    assert_eq!(
        top["entries"][0],
        serde_json::json!({"name": "data/", "isDir": true, "size": 4000, "count": 4})
    );
    assert_eq!(
        (top["hasMore"].as_bool(), top["nextCursor"].as_str()),
        (Some(false), Some(""))
    );

    let t = send(a, "GET", "/ui/api/tree?prefix=data/photos/", &[ck], b"").json();
    assert_eq!(
        t["entries"],
        serde_json::json!([
            {"name": "data/photos/2024/", "isDir": true, "size": 2000, "count": 2},
            {"name": "data/photos/c.jpg", "isDir": false, "size": 1000, "count": 0},
        ])
    );
    let p1 = send(a, "GET", "/ui/api/tree?prefix=data/&maxKeys=1", &[ck], b"").json();
    assert_eq!(
        (p1["hasMore"].as_bool(), p1["nextCursor"].as_str()),
        (Some(true), Some("data/photos/"))
    );
    let p2 = send(
        a,
        "GET",
        "/ui/api/tree?prefix=data/&maxKeys=1&startAfter=data/photos/",
        &[ck],
        b"",
    )
    .json();
    assert_eq!(p2["entries"][0]["name"], "data/top.txt");
    assert_eq!(send(a, "GET", "/ui/api/tree?maxKeys=0", &[ck], b"").status, 400);
    assert_eq!(send(a, "GET", "/ui/api/tree?maxKeys=201", &[ck], b"").status, 400);

    let del = send(a, "POST", "/ui/api/delete", &[ck], br#"{"key":"data/top.txt"}"#);
    assert_eq!((del.status, del.json()), (200, serde_json::json!({"ok": true})));
    assert_eq!(c.get("/data/top.txt").status, 404);
    assert_eq!(
        send(a, "POST", "/ui/api/delete", &[ck], br#"{"key":"nosuch/x"}"#).status,
        400
    );
    assert_eq!(send(a, "POST", "/ui/api/delete", &[ck], br#"{"nokey":1}"#).status, 400);
    let dp = send(
        a,
        "POST",
        "/ui/api/delete-prefix",
        &[ck],
        br#"{"prefix":"data/photos/"}"#,
    );
    assert_eq!(
        (dp.status, dp.json()),
        (200, serde_json::json!({"ok": true, "deleted": 3}))
    );
    assert_eq!(c.get("/data/photos/c.jpg").status, 404);

    let out = send(a, "POST", "/ui/logout", &[ck], b"");
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
}

/// A multipart form body: the fields in order, then a file part.
fn form(boundary: &str, fields: &[(&str, &str)], file: &[u8], closing: &str) -> Vec<u8> {
    let mut b = Vec::new();
    for (n, v) in fields {
        b.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{n}\"\r\n\r\n{v}\r\n").as_bytes(),
        );
    }
    b.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.bin\"\r\nContent-Type: application/x-test\r\n\r\n"
        )
        .as_bytes(),
    );
    b.extend_from_slice(file);
    b.extend_from_slice(closing.as_bytes());
    b
}

#[test]
fn ui_upload_streams_a_form_into_an_object_and_download_streams_it_back() {
    let srv = admin_server();
    let a = srv.admin_addr();
    let cookie = login(a);
    let ck = ("cookie", cookie.as_str());
    let bd = "----s3oTestBoundary7";
    let ct = format!("multipart/form-data; boundary={bd}");
    let body = data(1_500_000, 9);
    let f = form(bd, &[("key", "data/up/file.bin")], &body, &format!("\r\n--{bd}--\r\n"));
    let r = send(a, "POST", "/ui/api/upload", &[ck, ("content-type", &ct)], &f);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let etag = r.json()["etag"].as_str().unwrap().to_owned();
    let mut c = srv.client();
    let got = c.get("/data/up/file.bin");
    assert_eq!(got.body, body);
    assert_eq!(got.header("etag"), Some(etag.as_str()));
    assert_eq!(got.header("content-type"), Some("application/x-test"));

    let d = send(a, "GET", "/ui/api/download?key=data/up/file.bin", &[ck], b"");
    assert_eq!(d.status, 200);
    assert_eq!(d.body, body);
    assert!(d
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment; filename=\"file.bin\""));
    assert_eq!(d.header("content-length"), Some("1500000"));
    assert_eq!(send(a, "GET", "/ui/api/download?key=data/nope", &[ck], b"").status, 404);
    assert_eq!(
        send(a, "GET", "/ui/api/download?key=data/up/file.bin", &[], b"").status,
        401
    );

    // Malformed forms store nothing, and what reached a backend is queued for deletion.
    let files_before = srv.backend_files("a").len() + srv.backend_files("b").len();
    let cases: Vec<(Vec<u8>, u16)> = vec![
        // The file is not the last part.
        (
            form(
                bd,
                &[("key", "data/up/bad1")],
                &body[..1000],
                &format!("\r\n--{bd}\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\ny\r\n--{bd}--\r\n"),
            ),
            400,
        ),
        // No key before the file.
        (form(bd, &[], &body[..1000], &format!("\r\n--{bd}--\r\n")), 400),
        // No file part at all (answered at once, not after a timeout).
        (
            format!("--{bd}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\ndata/x\r\n--{bd}--\r\n")
                .into_bytes(),
            400,
        ),
        // A key without a bucket.
        (
            form(bd, &[("key", "justakey")], &body[..10], &format!("\r\n--{bd}--\r\n")),
            400,
        ),
        // An unknown bucket.
        (
            form(bd, &[("key", "nosuch/k")], &body[..10], &format!("\r\n--{bd}--\r\n")),
            400,
        ),
    ];
    for (i, (f, want)) in cases.into_iter().enumerate() {
        let r = send(a, "POST", "/ui/api/upload", &[ck, ("content-type", &ct)], &f);
        assert_eq!(r.status, want, "case {i}: {}", String::from_utf8_lossy(&r.body));
    }
    assert_eq!(c.get("/data/up/bad1").status, 404);
    srv.run_cleanup_at(s3o_proxy::clock::unix_ms() + 3_600_000);
    assert_eq!(
        srv.backend_files("a").len() + srv.backend_files("b").len(),
        files_before
    );
    // No boundary, no length, too large.
    let r = send(
        a,
        "POST",
        "/ui/api/upload",
        &[ck, ("content-type", "text/plain")],
        b"abc",
    );
    assert_eq!(r.status, 400);
    let r = send(
        a,
        "POST",
        "/ui/api/upload",
        &[ck, ("content-type", &ct), ("transfer-encoding", "chunked")],
        b"0\r\n\r\n",
    );
    assert_eq!(r.status, 411);
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST /ui/api/upload HTTP/1.1\r\nhost: a\r\ncookie: {cookie}\r\ncontent-type: {ct}\r\ncontent-length: {}\r\n\r\n",
        (600u64 << 20)
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    assert_eq!(parse(&raw).status, 413);
}

#[test]
fn sync_imports_a_backends_preexisting_files_once() {
    let dir = TempDir::new("sync");
    std::fs::create_dir_all(dir.0.join("b/objects/legacy/deep")).unwrap();
    std::fs::write(dir.0.join("b/objects/legacy/deep/old.txt"), b"from before").unwrap();
    std::fs::write(dir.0.join("b/objects/readme.md"), b"# hi").unwrap();
    let extra = format!(
        "\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[ui]\nadmin_key = \"{KEY}\"\nadmin_secret = \"{}\"\nadmin_token = \"{TOKEN}\"\n",
        secret_hash()
    );
    let text = common::config_text(&dir.0, &extra);
    let srv = TestServer::start_config(dir, &text);
    let a = srv.admin_addr();
    let mut c = srv.client();
    // One object of the proxy's own on b: never imported.
    assert_eq!(c.put("/data/own", &data(2_000_000, 4)).status, 200);
    let cookie = login(a);
    let ck = ("cookie", cookie.as_str());
    let r = send(a, "POST", "/ui/api/sync", &[ck], br#"{"backend":"b","bucket":"data"}"#);
    assert_eq!(
        (r.status, r.json()),
        (200, serde_json::json!({"ok": true, "imported": 2, "skipped": 0}))
    );
    let got = c.get("/data/legacy/deep/old.txt");
    assert_eq!((got.status, got.body.as_slice()), (200, &b"from before"[..]));
    assert_eq!(got.header("etag"), Some("\"42e458e87d182e429816cef8d936fe87\""));
    assert_eq!(c.get("/data/readme.md").body, b"# hi");
    let again = send(a, "POST", "/ui/api/sync", &[ck], br#"{"backend":"b","bucket":"data"}"#);
    assert_eq!(
        again.json(),
        serde_json::json!({"ok": true, "imported": 0, "skipped": 2})
    );
    let status = send(a, "GET", "/admin/api/status", &[token()], b"").json();
    assert_eq!(status["backends"][1]["bytes_used"], 2_000_000 + 11 + 4);
    assert_eq!(
        send(a, "POST", "/ui/api/sync", &[ck], br#"{"backend":"zz","bucket":"data"}"#).status,
        400
    );
    assert_eq!(
        send(a, "POST", "/ui/api/sync", &[ck], br#"{"backend":"b"}"#).status,
        400
    );
}
