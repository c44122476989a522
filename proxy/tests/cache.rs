//! In-process tests of the object cache: a cached answer is the uncached one (status, headers,
//! body, ranges, conditionals), a hit needs no backend, and an object overwritten or deleted
//! through any connection (any core) is never answered with its old bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::atomic::Ordering;

use common::{data, TempDir, TestServer};

fn start() -> TestServer {
    let dir = TempDir::new("cache");
    let extra = "[cache]\nenabled = true\nmax_object_bytes = 300000\nmax_total_bytes = 33554432\nttl_secs = 60\n";
    let text = common::config_text(&dir.0, extra).replace("quota_bytes = 1048576", "quota_bytes = 1073741824");
    TestServer::start_config(dir, &text)
}

fn hits(srv: &TestServer) -> u64 {
    srv.shared.metrics.integrity.cache_hits.load(Ordering::Relaxed)
}

/// The headers of a response that may differ between two identical requests.
fn stable(r: &common::Response) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(n, _)| !["date", "x-amz-request-id", "x-amz-id-2"].contains(&n.to_ascii_lowercase().as_str()))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    h.sort();
    h
}

#[test]
fn cached_answers_are_the_uncached_ones_and_need_no_backend() {
    let srv = start();
    let mut c = srv.client();
    for (key, n) in [("small", 1000), ("large", 200_000)] {
        let body = data(n, 3);
        let path = format!("/data/{key}");
        assert_eq!(
            c.send(
                "PUT",
                &path,
                "",
                &[("content-type", "text/x-test"), ("x-amz-meta-a", "b")],
                &body
            )
            .status,
            200
        );
        let before = hits(&srv);
        let cold = c.get(&path);
        let warm = c.get(&path);
        assert_eq!(hits(&srv), before + 1, "{key}: the second read is a hit");
        assert_eq!((cold.status, stable(&cold)), (warm.status, stable(&warm)), "{key}");
        assert!(cold.body == body && warm.body == body, "{key}");
        for extra in [
            vec![("range", "bytes=10-99")],
            vec![("range", "bytes=-5")],
            vec![("if-none-match", cold.header("etag").unwrap())],
            vec![("range", format!("bytes={}-", n + 10).leak() as &str)],
        ] {
            let h0 = hits(&srv);
            let a = c.send("GET", &path, "", &extra, b"");
            let b = c.send("GET", &path, "", &extra, b"");
            assert_eq!((a.status, stable(&a)), (b.status, stable(&b)), "{key} {extra:?}");
            if a.status < 300 {
                assert!(a.body == b.body, "{key} {extra:?}");
            }
            if a.status == 206 {
                assert!(hits(&srv) > h0, "ranges are served from the entry");
            }
        }
        let r = c.send("GET", &path, "", &[("range", "bytes=10-99")], b"");
        assert!(r.status == 206 && r.body == body[10..100]);
    }
    // A hit needs no backend: the bytes are gone from the disk, the cached answer stays.
    for f in srv.backend_files("a").into_iter().chain(srv.backend_files("b")) {
        std::fs::remove_file(f).unwrap();
    }
    assert!(c.get("/data/small").body == data(1000, 3));
}

#[test]
fn an_overwrite_from_another_connection_is_never_answered_with_old_bytes() {
    let srv = start();
    let mut writer = srv.client();
    let mut readers: Vec<common::Client> = (0..4).map(|_| srv.client()).collect();
    for round in 0..60u32 {
        let body = data(500 + round as usize, round);
        assert_eq!(writer.put("/data/hot", &body).status, 200);
        for r in &mut readers {
            let got = r.get("/data/hot");
            assert_eq!(got.status, 200);
            assert!(got.body == body, "round {round}: old bytes served");
        }
    }
    assert!(hits(&srv) > 0);
    // Deleted: gone at once, whatever was cached.
    assert_eq!(writer.send("DELETE", "/data/hot", "", &[], b"").status, 204);
    for r in &mut readers {
        assert_eq!(r.get("/data/hot").status, 404);
    }
}
