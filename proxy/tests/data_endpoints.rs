//! UI-managed backends (`/api/admin/backends`, seed 003) in one process: an endpoint pointing at
//! this very proxy's S3 port is validated, tested, created (its secret sealed in the store),
//! served through the live state (listed, probed, its buckets and objects reached directly),
//! changed, disabled and removed, with every change audited; the configuration's backends stay
//! read-only (409 `yaml_managed`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::data_api::{assert_audited, code, ok, sessions, BOSS_PW};
use common::{AK, SK};
use serde_json::{json, Value};

fn within(limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `s` percent-encoded for a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn ids(list: &Value) -> Vec<String> {
    list["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn endpoints_are_managed_served_and_refused_as_the_seed_says() {
    // Probed every second, for their health history.
    let s = common::TestServer::start_with(&format!(
        "\n[health]\nprobe_interval_secs = 1\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[access]\nsecret_key = \"{}\"\n\n[access.bootstrap_admin]\nusername = \"boss\"\npassword = \"{BOSS_PW}\"\n",
        "cd".repeat(32)
    ));
    let (admin, others) = sessions(&s, &["user"]);
    let user = &others[0];
    let mut c = s.client();
    assert_eq!(c.put("/web", b"").status, 200);
    assert_eq!(c.put("/web/hello.txt", b"hello").status, 200);
    let url = format!("http://{}", s.addr);

    assert_eq!(
        code(&user.call("GET", "/api/admin/backends", None)),
        (403, "forbidden".into())
    );
    let list = ok(&admin.call("GET", "/api/admin/backends", None), 200);
    assert_eq!(ids(&list), ["a", "b", "orchestrator"]);
    assert_eq!(
        list["backends"][0],
        json!({"id": "a", "name": "a", "type": "", "endpoint": "", "region": "", "path_style": false,
               "secret_set": false, "enabled": true, "source": "config", "healthy": true})
    );

    // Refusals, in the seed's order and words.
    let create = |body: Value| admin.call("POST", "/api/admin/backends", Some(body));
    let base = json!({"id": "self-1", "endpoint": format!("{url}/"), "access_key": AK, "secret_key": SK});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    assert_eq!(code(&create(with("id", json!("-x")))), (400, "bad_request".into()));
    let r = create(with("endpoint", json!("http://h/path")));
    assert_eq!(r.json()["error"]["message"], "endpoint must not include a path");
    assert_eq!(
        code(&create(with("secret_key", json!("")))),
        (400, "bad_request".into())
    );
    assert_eq!(code(&create(with("id", json!("a")))), (409, "yaml_managed".into()));
    assert_eq!(code(&create(with("type", json!("gcs")))), (400, "bad_request".into()));

    // A test probe reaches the endpoint (or says why not); nothing is kept.
    let test = |secret: &str| {
        let body = json!({"endpoint": url, "access_key": AK, "secret_key": secret});
        ok(&admin.call("POST", "/api/admin/backends/test", Some(body)), 200)
    };
    let good = test(SK);
    assert_eq!(good["healthy"], true);
    assert!(good["latency_ms"].is_u64() && good.get("error").is_none());
    let bad = test("wrong-secret");
    assert_eq!(bad["healthy"], false);
    assert!(bad["error"].as_str().unwrap().contains("403"), "{bad}");

    // Created: shown from its record, the secret only as a flag (and sealed in the store).
    let made = ok(&create(with("id", json!("Self-1"))), 201);
    let created_at = made["created_at"].clone();
    assert!(created_at.is_string());
    assert_eq!(
        made,
        json!({"id": "self-1", "name": "self-1", "type": "s3v4", "endpoint": url, "region": "",
               "path_style": true, "access_key": AK, "secret_set": true, "enabled": true,
               "source": "db", "healthy": false, "created_at": created_at,
               "updated_at": made["updated_at"].clone()})
    );
    assert_eq!(code(&create(base.clone())), (409, "id_taken".into()));
    let stored = s3o_store::block_on(s.shared.store.doc("endpoints", "self-1"))
        .unwrap()
        .unwrap();
    assert!(!String::from_utf8_lossy(&stored.value).contains(SK));

    // Served at once: listed, probed, its own buckets and objects reached directly.
    within(Duration::from_secs(5), || {
        ids(&ok(&user.call("GET", "/api/backends", None), 200)).contains(&"self-1".to_owned())
    });
    let probe = ok(&user.call("GET", "/api/backends/self-1/health", None), 200);
    assert_eq!(
        (probe["healthy"].as_bool(), probe["last_error"].as_str()),
        (Some(true), Some(""))
    );
    let one = ok(&user.call("GET", "/api/backends/self-1", None), 200);
    assert_eq!(
        (one["healthy"].as_bool(), one["capabilities"]["versioning"].as_bool()),
        (Some(true), Some(false))
    );
    let buckets = ok(&user.call("GET", "/api/backends/self-1/buckets", None), 200);
    let names: Vec<&str> = buckets["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"web") && names.contains(&"data"), "{names:?}");
    let page = ok(&user.call("GET", "/api/backends/self-1/buckets/web/objects", None), 200);
    assert_eq!(page["objects"][0]["key"], "hello.txt");
    let got = user.call("GET", "/api/backends/self-1/buckets/web/object?key=hello.txt", None);
    assert_eq!((got.status, got.body.as_slice()), (200, &b"hello"[..]));
    ok(
        &admin.call(
            "POST",
            "/api/backends/self-1/buckets/web/objects/folder",
            Some(json!({"key": "made-direct"})),
        ),
        201,
    );
    assert_eq!(c.get("/web/made-direct/").status, 200);
    // Metadata in place, multipart, prefix walks and zips reach the endpoint too.
    let real = "/api/backends/self-1/buckets/web";
    let meta = ok(
        &admin.call(
            "PUT",
            &format!("{real}/object/metadata?key=hello.txt"),
            Some(json!({"metadata": {"team": "blue"}})),
        ),
        200,
    );
    assert_eq!(
        (meta["metadata"]["team"].as_str(), meta["size"].as_u64()),
        (Some("blue"), Some(5))
    );
    let head = c.send("HEAD", "/web/hello.txt", "", &[], b"");
    assert_eq!(head.header("x-amz-meta-team"), Some("blue"));
    assert_eq!(c.get("/web/hello.txt").body, b"hello");
    let mp = format!("{real}/multipart");
    let started = ok(&admin.call("POST", &format!("{mp}?key=parts/big.bin"), None), 201);
    let id = started["upload_id"].as_str().unwrap().to_owned();
    let listed = ok(&user.call("GET", &mp, None), 200);
    assert_eq!(listed["uploads"][0]["upload_id"], id.as_str());
    let q = format!("key=parts/big.bin&upload_id={}", encode(&id));
    let one: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 239) as u8).collect();
    let put = |n: u32, data: &[u8]| admin.raw("PUT", &format!("{mp}/parts/{n}?{q}"), &[], data);
    let p1 = ok(&put(1, &one), 200);
    let p2 = ok(&put(2, b"tail"), 200);
    let parts = json!({"parts": [{"PartNumber": 1, "ETag": p1["etag"]}, {"PartNumber": 2, "ETag": p2["etag"]}]});
    let done = ok(&admin.call("POST", &format!("{mp}/complete?{q}"), Some(parts)), 200);
    assert_eq!(done["size"].as_u64(), Some(one.len() as u64 + 4));
    let mut all = one.clone();
    all.extend_from_slice(b"tail");
    assert_eq!(c.get("/web/parts/big.bin").body, all);
    let zip = user.call("GET", &format!("{real}/objects/zip?key=parts/"), None);
    assert_eq!((zip.status, zip.header("content-type")), (200, Some("application/zip")));
    assert!(zip.body.starts_with(b"PK\x03\x04") && zip.body.len() > all.len());
    let walk = admin.call(
        "POST",
        &format!("{real}/objects/copy-prefix"),
        Some(json!({"src_prefix": "parts/", "dst_prefix": "copied/", "dst_backend": "orchestrator"})),
    );
    assert_eq!(walk.status, 200, "{}", String::from_utf8_lossy(&walk.body));
    assert!(String::from_utf8_lossy(&walk.body).contains("\"copied\":1"));
    assert_eq!(c.get("/web/copied/big.bin").body, all);
    let walk = admin.call(
        "POST",
        &format!("{real}/objects/delete-prefix"),
        Some(json!({"prefix": "parts/"})),
    );
    assert!(String::from_utf8_lossy(&walk.body).contains("\"deleted\":1"));
    assert_eq!(c.get("/web/parts/big.bin").status, 404);
    within(Duration::from_secs(5), || {
        let health = ok(&admin.call("GET", "/api/admin/backends/health", None), 200);
        let mine = health["backends"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["id"] == "self-1")
            .cloned();
        mine.is_some_and(|b| b["history"].as_array().is_some_and(|h| !h.is_empty()) && b["healthy"] == true)
    });

    // Changed: a wrong secret is refused by the endpoint from then on.
    let patched = ok(
        &admin.call(
            "PATCH",
            "/api/admin/backends/self-1",
            Some(json!({"secret_key": "wrong-secret", "name": "Myself"})),
        ),
        200,
    );
    assert_eq!(
        (patched["name"].as_str(), patched["source"].as_str()),
        (Some("Myself"), Some("db"))
    );
    within(Duration::from_secs(5), || {
        user.call("GET", "/api/backends/self-1/buckets", None).status == 502
    });
    assert_eq!(
        code(&admin.call("PATCH", "/api/admin/backends/a", Some(json!({"name": "x"})))),
        (409, "yaml_managed".into())
    );
    assert_eq!(
        code(&admin.call("PATCH", "/api/admin/backends/nope", Some(json!({"name": "x"})))),
        (404, "not_found".into())
    );

    // Disabled: no longer served, still listed for the admin (after the registry).
    ok(
        &admin.call("PATCH", "/api/admin/backends/self-1", Some(json!({"enabled": false}))),
        200,
    );
    within(Duration::from_secs(5), || {
        !ids(&ok(&user.call("GET", "/api/backends", None), 200)).contains(&"self-1".to_owned())
    });
    assert_eq!(
        code(&user.call("GET", "/api/backends/self-1/buckets", None)),
        (404, "not_found".into())
    );
    let list = ok(&admin.call("GET", "/api/admin/backends", None), 200);
    assert_eq!(ids(&list), ["a", "b", "orchestrator", "self-1"]);
    assert_eq!(list["backends"][3]["enabled"], false);
    let one = ok(&admin.call("GET", "/api/admin/backends/self-1", None), 200);
    assert_eq!(
        (one["name"].as_str(), one["healthy"].as_bool()),
        (Some("Myself"), Some(false))
    );

    // Removed.
    assert_eq!(
        code(&admin.call("DELETE", "/api/admin/backends/b", None)),
        (409, "yaml_managed".into())
    );
    assert_eq!(admin.call("DELETE", "/api/admin/backends/self-1", None).status, 204);
    assert_eq!(
        code(&admin.call("DELETE", "/api/admin/backends/self-1", None)),
        (404, "not_found".into())
    );
    assert_eq!(
        code(&admin.call("GET", "/api/admin/backends/self-1", None)),
        (404, "not_found".into())
    );
    assert_audited(
        &admin,
        &["backend.create", "backend.test", "backend.update", "backend.delete"],
    );
}
