//! Orchestrated placement end to end on `fs` backends: synchronous replication (every copy
//! written at once, reads failing over to another copy), placement policies over backend labels,
//! monthly usage limits, and the write quorum when a backend is down.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{data, xml_one, TempDir, TestServer, AK, SK};

fn server(tag: &str, backends: &[(&str, &str)], rest: &str) -> TestServer {
    let dir = TempDir::new(tag);
    let mut text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
threads = 2
data_dir = "{d}/meta"
[limits]
body_timeout_secs = 5
backend_connect_timeout_secs = 1
"#,
        d = dir.0.display()
    );
    for (name, extra) in backends {
        text.push_str(&format!(
            "[[backends]]\nname = \"{name}\"\nkind = \"fs\"\npath = \"{d}/{name}\"\n{extra}\n",
            d = dir.0.display()
        ));
    }
    text.push_str(rest);
    text.push_str(&format!(
        "[[credentials]]\naccess_key = \"{AK}\"\nsecret_key = \"{SK}\"\ncreate_buckets = true\n"
    ));
    TestServer::start_config(dir, &text)
}

fn locations(srv: &TestServer, bucket: &str, key: &str) -> Vec<String> {
    let meta = s3o_store::block_on(srv.shared.store.get_object(bucket, key))
        .unwrap()
        .unwrap();
    meta.locations.into_iter().map(|l| l.backend).collect()
}

#[test]
fn copies_are_written_at_once_and_reads_fail_over() {
    let srv = server(
        "rep",
        &[("r1", ""), ("r2", ""), ("r3", "")],
        "[[buckets]]\nname = \"rep\"\nbackends = [\"r1\", \"r2\", \"r3\"]\nreplication = 2\n",
    );
    let mut c = srv.client();
    // Several pieces of the body pass through the tee (pieces are up to 1 MiB).
    let body = data(3 * 1024 * 1024 + 17, 7);
    assert_eq!(c.put("/rep/big", &body).status, 200);
    assert_eq!(locations(&srv, "rep", "big"), ["r1", "r2"]);
    assert_eq!((srv.backend_files("r1").len(), srv.backend_files("r2").len()), (1, 1));
    assert!(srv.backend_files("r3").is_empty());
    for f in srv.backend_files("r1").iter().chain(&srv.backend_files("r2")) {
        assert!(std::fs::read(f).unwrap() == body, "{}", f.display());
    }
    // An empty body replicates too.
    assert_eq!(c.put("/rep/empty", b"").status, 200);
    assert_eq!(locations(&srv, "rep", "empty").len(), 2);
    let big_file = |b: &str| {
        srv.backend_files(b)
            .into_iter()
            .find(|f| std::fs::metadata(f).unwrap().len() == body.len() as u64)
            .unwrap()
    };
    // The first copy's file is lost: the read is served from the second.
    std::fs::remove_file(big_file("r1")).unwrap();
    let r = c.get("/rep/big");
    assert_eq!(r.status, 200);
    assert!(r.body == body, "served whole from the other copy");
    let r = c.send("GET", "/rep/big", "", &[("range", "bytes=100-199")], b"");
    assert_eq!((r.status, &r.body[..]), (206, &body[100..200]));
    // Both lost: a clean error, never a body from nowhere.
    std::fs::remove_file(big_file("r2")).unwrap();
    let r = c.get("/rep/big");
    assert_eq!((r.status, r.code()), (503, "InternalError".to_string()));
}

#[test]
fn copies_keep_the_bucket_policy_over_labels() {
    let srv = server(
        "labels",
        &[
            ("one-a", "labels = { provider = \"one\" }"),
            ("one-b", "labels = { provider = \"one\" }"),
            ("two-a", "labels = { provider = \"two\" }"),
            ("two-b", "labels = { provider = \"two\", site = \"local\" }"),
        ],
        r#"
[[buckets]]
name = "distinct"
backends = ["one-a", "one-b", "two-a", "two-b"]
placement = "spread"
replication = 2
distinct = ["provider"]
[[buckets]]
name = "local"
backends = ["one-a", "one-b", "two-a", "two-b"]
replication = 2
require_one = { site = "local" }
[[buckets]]
name = "three"
backends = ["one-a", "one-b", "two-a", "two-b"]
replication = 3
distinct = ["provider"]
"#,
    );
    let mut c = srv.client();
    for i in 0..12 {
        let key = format!("/distinct/k{i}");
        assert_eq!(c.put(&key, &data(1000 + i * 100, i as u32)).status, 200);
        let locs = locations(&srv, "distinct", &format!("k{i}"));
        assert_eq!(locs.len(), 2);
        let providers: Vec<&str> = locs.iter().map(|l| &l[..3]).collect();
        assert_ne!(providers[0], providers[1], "{locs:?}");
    }
    // Spread used every backend.
    for b in ["one-a", "one-b", "two-a", "two-b"] {
        assert!(!srv.backend_files(b).is_empty(), "{b}");
    }
    for i in 0..4 {
        assert_eq!(c.put(&format!("/local/k{i}"), b"x").status, 200);
        assert!(locations(&srv, "local", &format!("k{i}")).contains(&"two-b".to_string()));
    }
    // Three copies on two providers cannot be placed: refused, nothing stored.
    let before: usize = ["one-a", "one-b", "two-a", "two-b"]
        .iter()
        .map(|b| srv.backend_files(b).len())
        .sum();
    let r = c.put("/three/k", b"never placed wrongly");
    assert_eq!((r.status, r.code()), (507, "InsufficientStorage".to_string()));
    let after: usize = ["one-a", "one-b", "two-a", "two-b"]
        .iter()
        .map(|b| srv.backend_files(b).len())
        .sum();
    assert_eq!(before, after);
}

#[test]
fn monthly_limits_send_writes_elsewhere_and_refuse_reads_past_them() {
    let srv = server(
        "limits",
        &[
            // Each write also sends its metadata record (a few hundred bytes) to the backend.
            ("l1", "ingress_byte_limit = 1300\negress_byte_limit = 1500"),
            ("l2", ""),
        ],
        "[[buckets]]\nname = \"only\"\nbackends = [\"l1\"]\n[[buckets]]\nname = \"both\"\nbackends = [\"l1\", \"l2\"]\n",
    );
    let mut c = srv.client();
    let six = data(600, 1);
    assert_eq!(c.put("/only/a", &six).status, 200);
    let r = c.put("/only/b", &six);
    assert_eq!((r.status, r.code()), (507, "InsufficientStorage".to_string()));
    // Another eligible backend takes what the limited one cannot.
    assert_eq!(c.put("/both/c", &data(300, 2)).status, 200);
    assert_eq!(locations(&srv, "both", "c"), ["l1"]);
    assert_eq!(c.put("/both/d", &data(300, 3)).status, 200);
    assert_eq!(locations(&srv, "both", "d"), ["l2"]);
    // Egress: 600 + 600 fit in 1500, a third read does not.
    assert_eq!(c.get("/only/a").body, six);
    assert_eq!(c.get("/only/a").status, 200);
    let r = c.get("/only/a");
    assert_eq!((r.status, r.code()), (503, "SlowDown".to_string()));
    // A smaller range still fits; HEAD reads no bytes; deletes are never limited.
    let r = c.send("GET", "/only/a", "", &[("range", "bytes=0-99")], b"");
    assert_eq!(r.status, 206);
    assert_eq!(c.send("HEAD", "/only/a", "", &[], b"").status, 200);
    assert_eq!(c.send("DELETE", "/only/a", "", &[], b"").status, 204);
    // The status shows the limits beside the usage.
    let usage = srv.shared.gate.usage("l1", &srv.shared.metrics);
    // Records follow their data without a check of their own: ingress may pass the limit by them.
    assert!(usage.ingress_bytes > 900 && usage.egress_bytes <= 1500, "{usage:?}");
}

#[test]
fn a_write_quorum_lets_writes_continue_while_a_copy_is_down() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let srv = server(
        "quorum",
        &[("up", "")],
        &format!(
            r#"
[[backends]]
name = "down"
kind = "s3"
endpoint = "http://{dead}"
bucket = "real"
access_key = "x"
secret_key = "y"
[replication]
factor = 2
write_quorum = 1
[[buckets]]
name = "quorum"
backends = ["down", "up"]
"#
        ),
    );
    let mut c = srv.client();
    for i in 0..5 {
        let r = c.put(&format!("/quorum/k{i}"), b"still written");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(locations(&srv, "quorum", &format!("k{i}")), ["up"]);
    }
    // The failures opened the breaker of the dead backend.
    assert!(!srv.shared.breakers.allows("down"));
    assert_eq!(c.get("/quorum/k0").body, b"still written");
    let listing = c.send("GET", "/quorum", "list-type=2", &[], b"").text();
    assert_eq!(xml_one(&listing, "KeyCount").as_deref(), Some("5"));
}
