//! The access layer end to end in process: an admin from `[access.bootstrap_admin]` signs in on
//! the admin port, mints store-managed S3 credentials, and the S3 port enforces them (scope on
//! both sides of a copy, ListBuckets answered from the scope, read-only keys, a disabled key
//! refused within a second); anonymous bindings serve unsigned reads of one bucket only; S3
//! mutations reach the audit log and denials the metrics.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::admin::send;
use common::session::Session;
use common::{data, xml_all, Client, TestServer, AK, SK};
use serde_json::json;

const BOSS_PW: &str = "boss-password-123";

fn server() -> TestServer {
    let extra = format!(
        "\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[access]\nsecret_key = \"{}\"\nanonymous_enabled = true\n\n[access.bootstrap_admin]\nusername = \"boss\"\npassword = \"{BOSS_PW}\"\n",
        "ab".repeat(32)
    );
    TestServer::start_with(&extra)
}

/// The bootstrap admin, password changed as the first login demands.
fn admin_session(addr: SocketAddr) -> Session {
    Session::first_admin(addr, "boss", BOSS_PW, "boss-password-456")
}

fn mint(s: &Session, buckets: &[&str], permission: &str) -> (String, String) {
    let body = json!({"backend_id": "orchestrator", "buckets": buckets, "permission": permission});
    let r = s.call("POST", "/api/me/s3-credentials", Some(body));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    (
        v["access_key"].as_str().unwrap().to_owned(),
        v["secret_key"].as_str().unwrap().to_owned(),
    )
}

/// Polls `ok` for up to `limit`; the time it took.
fn within(limit: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

#[test]
fn store_credentials_are_enforced_on_the_s3_port() {
    let srv = server();
    let a = srv.admin_addr();
    let admin = admin_session(a);
    let mut root = Client::new(srv.addr, AK, SK);
    for b in ["shared", "other"] {
        assert_eq!(root.put(&format!("/{b}"), b"").status, 200);
        assert_eq!(root.put(&format!("/{b}/doc.txt"), &data(3000, 7)).status, 200);
    }
    let (ro_ak, ro_sk) = mint(&admin, &["shared"], "read-only");
    let mut ro = Client::new(srv.addr, &ro_ak, &ro_sk);
    // Reachable within a second of minting (this instance reloads at once).
    within(Duration::from_secs(1), || ro.get("/shared/doc.txt").status == 200);
    assert_eq!(ro.get("/shared/doc.txt").body, data(3000, 7));
    assert_eq!(ro.put("/shared/new.txt", b"x").code(), "AccessDenied");
    assert_eq!(ro.get("/other/doc.txt").code(), "AccessDenied");
    assert_eq!(
        ro.send("DELETE", "/shared/doc.txt", "", &[], b"").code(),
        "AccessDenied"
    );
    let listed = ro.get("/");
    assert_eq!(listed.status, 200);
    assert_eq!(
        xml_all(&listed.text(), "Name"),
        ["shared"],
        "ListBuckets shows the scope only"
    );

    let (rw_ak, rw_sk) = mint(&admin, &["shared"], "read-write");
    let mut rw = Client::new(srv.addr, &rw_ak, &rw_sk);
    within(Duration::from_secs(1), || {
        rw.put("/shared/new.txt", b"hello").status == 200
    });
    let copy_in = rw.send(
        "PUT",
        "/shared/copy.txt",
        "",
        &[("x-amz-copy-source", "/shared/new.txt")],
        b"",
    );
    assert_eq!(copy_in.status, 200, "{}", copy_in.text());
    let copy_out = rw.send(
        "PUT",
        "/shared/stolen.txt",
        "",
        &[("x-amz-copy-source", "/other/doc.txt")],
        b"",
    );
    assert_eq!(
        copy_out.code(),
        "AccessDenied",
        "the source side of a copy is in scope too"
    );
    assert_eq!(rw.put("/other/x.txt", b"x").code(), "AccessDenied");
    // Buckets belong to the user behind the key: another key of the same user owns them too.
    assert_eq!(rw.put("/shared", b"").code(), "BucketAlreadyExists", "root's bucket");
    let (k1, s1) = mint(&admin, &["fresh-bucket"], "read-write");
    let (k2, s2) = mint(&admin, &["fresh-bucket"], "read-write");
    let (mut c1, mut c2) = (Client::new(srv.addr, &k1, &s1), Client::new(srv.addr, &k2, &s2));
    within(Duration::from_secs(1), || c2.get("/").status == 200);
    assert_eq!(c1.put("/fresh-bucket", b"").status, 200);
    assert_eq!(
        c2.put("/fresh-bucket", b"").status,
        200,
        "the same owner: us-east-1 answers 200"
    );
    assert_eq!(root.put("/fresh-bucket", b"").code(), "BucketAlreadyExists");
    let me = admin.call("GET", "/api/me", None).json();
    let listed = c2.get("/").text();
    assert_eq!(common::xml_one(&listed, "ID").as_deref(), me["id"].as_str(), "{listed}");

    // Disabled: refused within a second.
    let path = format!("/api/me/s3-credentials/{rw_ak}");
    assert_eq!(admin.call("PATCH", &path, Some(json!({"enabled": false}))).status, 200);
    let took = within(Duration::from_secs(1), || rw.get("/shared/new.txt").status == 403);
    eprintln!("disabled key refused after {took:?}");
    // Deleted: refused too.
    assert_eq!(
        admin
            .call("DELETE", &format!("/api/me/s3-credentials/{ro_ak}"), None)
            .status,
        204
    );
    within(Duration::from_secs(1), || ro.get("/shared/doc.txt").status == 403);

    // The metrics count denials by reason; the audit log has the S3 writes.
    let metrics = String::from_utf8(send(a, "GET", "/metrics", &[], b"").body).unwrap();
    let scope_line = metrics
        .lines()
        .find(|l| l.starts_with("s3o_access_denied_total{reason=\"scope\"}"))
        .unwrap();
    assert_ne!(scope_line.rsplit(' ').next(), Some("0"), "{scope_line}");
    assert!(metrics.contains("s3o_access_denied_total{reason=\"read_only\"}"));
    within(Duration::from_secs(5), || {
        let r = admin.call("GET", "/api/admin/audit?action=s3.putobject", None);
        r.json()["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["user_id"] == rw_ak.as_str() && e["key"] == "new.txt" && e["status"] == "ok")
    });
    let denied = admin
        .call("GET", "/api/admin/audit?status=denied&action=s3.", None)
        .json();
    assert!(denied["total"].as_u64().unwrap() >= 2, "{denied}");
    // The CSV export is streamed (chunked), the header row first.
    let csv = admin.call("GET", "/api/admin/audit.csv?action=s3.", None);
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("transfer-encoding"), Some("chunked"));
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = String::from_utf8_lossy(&csv.body);
    assert!(text.contains("id,timestamp,user_id,action,backend,bucket,key,request_id,ip,user_agent,status,detail"));
    assert!(text.contains("s3.putobject"), "{text}");
}

#[test]
fn anonymous_bindings_serve_unsigned_reads_of_one_bucket() {
    let srv = server();
    let admin = admin_session(srv.admin_addr());
    let mut root = Client::new(srv.addr, AK, SK);
    for b in ["public", "private"] {
        assert_eq!(root.put(&format!("/{b}"), b"").status, 200);
        assert_eq!(root.put(&format!("/{b}/page.html"), b"<h1>hi</h1>").status, 200);
    }
    let mut anon = srv.client();
    let unsigned = |c: &mut Client, method: &str, path: &str, query: &str| {
        c.raw(method, path, query, &[("host".to_owned(), "localhost".to_owned())], b"")
    };
    assert_eq!(
        unsigned(&mut anon, "GET", "/public/page.html", "").code(),
        "AccessDenied"
    );
    let body = json!({"backend_id": "orchestrator", "bucket": "public", "per_source_ip_rps": 1000});
    assert_eq!(admin.call("POST", "/api/admin/s3-anonymous", Some(body)).status, 200);
    within(Duration::from_secs(1), || {
        unsigned(&mut anon, "GET", "/public/page.html", "").status == 200
    });
    assert_eq!(unsigned(&mut anon, "GET", "/public/page.html", "").body, b"<h1>hi</h1>");
    assert_eq!(unsigned(&mut anon, "HEAD", "/public/page.html", "").status, 200);
    assert_eq!(unsigned(&mut anon, "GET", "/public", "list-type=2").status, 200);
    for (m, p, q) in [
        ("PUT", "/public/evil.html", ""),
        ("DELETE", "/public/page.html", ""),
        ("GET", "/public/page.html", "tagging"),
        ("GET", "/public", "versions"),
        ("GET", "/public", "uploads"),
        ("GET", "/private/page.html", ""),
        ("GET", "/", ""),
    ] {
        let r = unsigned(&mut anon, m, p, q);
        assert_eq!(r.status, 403, "{m} {p}?{q}: {}", r.text());
    }
    assert_eq!(root.get("/public/page.html").body, b"<h1>hi</h1>", "nothing changed");
    assert_eq!(
        admin
            .call("DELETE", "/api/admin/s3-anonymous/orchestrator/public", None)
            .status,
        204
    );
    within(Duration::from_secs(1), || {
        unsigned(&mut anon, "GET", "/public/page.html", "").status == 403
    });
}

#[test]
fn anonymous_reads_are_rate_limited_per_address() {
    let srv = server();
    let admin = admin_session(srv.admin_addr());
    let mut root = Client::new(srv.addr, AK, SK);
    assert_eq!(root.put("/slow", b"").status, 200);
    assert_eq!(root.put("/slow/a", b"a").status, 200);
    let body = json!({"backend_id": "orchestrator", "bucket": "slow", "per_source_ip_rps": 1});
    assert_eq!(admin.call("POST", "/api/admin/s3-anonymous", Some(body)).status, 200);
    let mut anon = srv.client();
    let mut get = || {
        anon.raw(
            "GET",
            "/slow/a",
            "",
            &[("host".to_owned(), "localhost".to_owned())],
            b"",
        )
    };
    within(Duration::from_secs(1), || get().status == 200);
    // A burst of 3 (twice the rate plus one), then SlowDown.
    let codes: Vec<u16> = (0..6).map(|_| get().status).collect();
    assert!(codes.contains(&503), "{codes:?}");
}

/// A user's own key narrows what the user's account may do; it grants no bucket of another
/// account (only an admin's scope does): ACLs decide there, by the user's id or email address.
#[test]
fn a_users_own_key_reaches_other_accounts_buckets_only_through_their_acls() {
    let srv = server();
    let a = srv.admin_addr();
    let admin = admin_session(a);
    let mut root = Client::new(srv.addr, AK, SK);
    assert_eq!(root.put("/alices", b"").status, 200);
    assert_eq!(root.put("/alices/doc.txt", b"private").status, 200);
    let new = json!({"username": "mallory", "email": "mallory@example.org", "password": "mallory-password-1",
                     "role": "user", "must_change_pw": false});
    let r = admin.call("POST", "/api/admin/users", Some(new));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let mallory_id = r.json()["id"].as_str().unwrap().to_owned();
    let (mallory, _) = Session::login(a, "mallory", "mallory-password-1");
    let (k, s) = mint(&mallory, &["alices"], "read-write");
    let mut m = Client::new(srv.addr, &k, &s);
    within(Duration::from_secs(1), || m.get("/").status == 200);
    for r in [
        m.get("/alices/doc.txt"),
        m.get("/alices"),
        m.put("/alices/x", b"x"),
        m.send("PUT", "/alices", "acl", &[("x-amz-acl", "public-read-write")], b""),
        m.send("DELETE", "/alices/doc.txt", "", &[], b""),
    ] {
        assert_eq!(r.code(), "AccessDenied", "{}", r.text());
    }
    assert!(!m.get("/").text().contains("alices"), "not hers to list");
    // The owner grants READ to her by email address: it is resolved to her id.
    let grant = "emailAddress=\"Mallory@example.org\"";
    let r = root.send("PUT", "/alices", "acl", &[("x-amz-grant-read", grant)], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let acl = root.send("GET", "/alices", "acl", &[], b"").text();
    assert!(acl.contains(&format!("<ID>{mallory_id}</ID>")), "{acl}");
    assert_eq!(m.get("/alices").status, 200);
    assert_eq!(
        m.get("/alices/doc.txt").code(),
        "AccessDenied",
        "the object's ACL is its own"
    );
    assert_eq!(m.put("/alices/x", b"x").code(), "AccessDenied");
}
