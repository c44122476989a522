//! The data API of seed 003 in process, over the orchestrated store: backends and buckets,
//! bucket settings shared with the S3 port (versioning, CORS, policy, lifecycle), objects
//! (listing, info, folders, tags, metadata, versions, deletes one by one and in bulk), pins
//! and search, each with its roles, errors and audit events; a filesystem backend's buckets
//! answer 501 (uploads, downloads and shares: `data_transfers.rs`; UI-managed backends and
//! direct operations on their buckets: `data_endpoints.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::data_api::{assert_audited, code, ok, server, sessions, WEB};
use common::session::Session;
use common::xml_all;
use serde_json::{json, Value};

#[test]
fn backends_buckets_and_settings() {
    let s = server();
    let (admin, others) = sessions(&s, &["user", "readonly"]);
    let (user, readonly) = (&others[0], &others[1]);
    let backends = ok(&readonly.call("GET", "/api/backends", None), 200);
    let ids: Vec<&str> = backends["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["orchestrator", "a", "b"]);
    assert_eq!(backends["backends"][0]["capabilities"]["versioning"], true);
    assert_eq!(backends["backends"][0]["healthy"], true);
    let one = ok(&readonly.call("GET", "/api/backends/a", None), 200);
    assert_eq!(
        (one["id"].as_str(), one["capabilities"]["cors"].as_bool()),
        (Some("a"), Some(false))
    );
    assert_eq!(
        code(&readonly.call("GET", "/api/backends/zz", None)),
        (404, "not_found".into())
    );
    // (The in-process server makes an fs backend's directory at its first write.)
    assert_eq!(s.client().put("/data/x", b"x").status, 200);
    let probe = ok(&readonly.call("GET", "/api/backends/a/health", None), 200);
    assert_eq!(
        (probe["healthy"].as_bool(), probe["last_error"].as_str()),
        (Some(true), Some(""))
    );

    // Buckets: admin only to create and delete.
    let create = |who: &Session, name: &str| {
        who.call(
            "POST",
            "/api/backends/orchestrator/buckets",
            Some(json!({"name": name})),
        )
    };
    assert_eq!(
        code(&user.call(
            "POST",
            "/api/backends/orchestrator/buckets",
            Some(json!({"name": "web"}))
        )),
        (403, "forbidden".into())
    );
    assert_eq!(code(&create(&admin, "No_Such")), (400, "invalid_bucket_name".into()));
    assert_eq!(ok(&create(&admin, "made-here"), 201), json!({"name": "made-here"}));
    assert_eq!(code(&create(&admin, "made-here")), (409, "bucket_exists".into()));
    assert_eq!(code(&create(&admin, "elsewhere")), (201, String::new()));
    let real = admin.call("POST", "/api/backends/a/buckets", Some(json!({"name": "x1x"})));
    assert_eq!(code(&real), (501, "not_supported".into()));
    let buckets = ok(&readonly.call("GET", "/api/backends/orchestrator/buckets", None), 200);
    let made = buckets["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "made-here")
        .unwrap()
        .clone();
    assert_eq!(
        (made["size_tracked"].as_bool(), made["object_count"].as_u64()),
        (Some(true), Some(0))
    );

    // Settings are the bucket's own, as the S3 port sees them (a bucket of a config key's
    // account, which the data API acts on as the operator).
    let mut c = s.client();
    assert_eq!(c.put("/web", b"").status, 200);
    assert_eq!(
        ok(&admin.call("GET", &format!("{WEB}/versioning"), None), 200),
        json!({"enabled": false})
    );
    assert_eq!(
        code(&user.call("GET", &format!("{WEB}/versioning"), None)),
        (403, "forbidden".into())
    );
    assert_eq!(
        ok(
            &admin.call("PUT", &format!("{WEB}/versioning"), Some(json!({"enabled": true}))),
            200
        ),
        json!({"enabled": true})
    );
    assert!(c
        .send("GET", "/web", "versioning", &[], b"")
        .text()
        .contains("<Status>Enabled</Status>"));
    let rules = json!({"rules": [{"allowed_origins": ["https://app.example"], "allowed_methods": ["GET"], "max_age_seconds": 60}]});
    ok(&admin.call("PUT", &format!("{WEB}/cors"), Some(rules.clone())), 204);
    assert_eq!(ok(&admin.call("GET", &format!("{WEB}/cors"), None), 200), rules);
    assert!(c
        .send("GET", "/web", "cors", &[], b"")
        .text()
        .contains("<AllowedOrigin>https://app.example</AllowedOrigin>"));
    let bad = json!({"rules": [{"allowed_origins": ["*"], "allowed_methods": ["PATCH"]}]});
    let r = admin.call("PUT", &format!("{WEB}/cors"), Some(bad));
    assert_eq!(code(&r), (400, "invalid_cors".into()));
    assert_eq!(
        r.json()["error"]["message"],
        "rule 0: method PATCH is not allowed by S3"
    );
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::web/*"}]}"#;
    assert_eq!(
        ok(&admin.call("GET", &format!("{WEB}/policy"), None), 200),
        json!({"policy": ""})
    );
    ok(
        &admin.call("PUT", &format!("{WEB}/policy"), Some(json!({"policy": doc}))),
        204,
    );
    assert_eq!(c.send("GET", "/web", "policy", &[], b"").text(), doc);
    assert_eq!(
        ok(&admin.call("GET", &format!("{WEB}/policy"), None), 200),
        json!({"policy": doc})
    );
    assert_eq!(
        code(&admin.call("PUT", &format!("{WEB}/policy"), Some(json!({"policy": ""})))),
        (400, "bad_request".into())
    );
    assert_eq!(
        code(&admin.call("PUT", &format!("{WEB}/policy"), Some(json!({"policy": "{nope"})))),
        (400, "invalid_policy".into())
    );
    ok(&admin.call("DELETE", &format!("{WEB}/policy"), None), 204);
    assert_eq!(c.send("GET", "/web", "policy", &[], b"").code(), "NoSuchBucketPolicy");
    let lc = json!({"rules": [{"id": "tmp", "prefix": "tmp/", "enabled": true, "expiration_days": 7, "abort_incomplete_days": 2}]});
    ok(&admin.call("PUT", &format!("{WEB}/lifecycle"), Some(lc.clone())), 204);
    assert_eq!(ok(&admin.call("GET", &format!("{WEB}/lifecycle"), None), 200), lc);
    assert!(c
        .send("GET", "/web", "lifecycle", &[], b"")
        .text()
        .contains("<ID>tmp</ID>"));
    let none = json!({"rules": [{"id": "x", "enabled": true}]});
    assert_eq!(
        code(&admin.call("PUT", &format!("{WEB}/lifecycle"), Some(none))),
        (400, "invalid_lifecycle".into())
    );
    // What the JSON cannot say of a rule set through the S3 port stays when the rule is saved.
    let dated =
        "<LifecycleConfiguration><Rule><ID>d</ID><Filter><Prefix>old/</Prefix></Filter><Status>Enabled</Status>\
                 <Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration></Rule></LifecycleConfiguration>";
    assert_eq!(c.send("PUT", "/web", "lifecycle", &[], dated.as_bytes()).status, 200);
    let shown = ok(&admin.call("GET", &format!("{WEB}/lifecycle"), None), 200);
    assert_eq!(
        shown,
        json!({"rules": [{"id": "d", "prefix": "old/", "enabled": true}]})
    );
    let off = json!({"rules": [{"id": "d", "prefix": "old/", "enabled": false}]});
    ok(&admin.call("PUT", &format!("{WEB}/lifecycle"), Some(off)), 204);
    let xml = c.send("GET", "/web", "lifecycle", &[], b"").text();
    assert!(
        xml.contains("<Date>2030-01-01T00:00:00Z</Date>") && xml.contains("<Status>Disabled</Status>"),
        "{xml}"
    );
    // Mutations need the CSRF token.
    let no_csrf = common::admin::send(
        s.admin_addr(),
        "PUT",
        &format!("{WEB}/versioning"),
        &[("cookie", admin.cookie.as_str()), ("content-type", "application/json")],
        br#"{"enabled": false}"#,
    );
    assert_eq!(code(&no_csrf), (403, "csrf_invalid".into()));
    assert_eq!(
        code(&admin.call("GET", "/api/backends/orchestrator/buckets/nope/versioning", None)),
        (404, "not_found".into())
    );

    // The changes are audited.
    assert_audited(
        &admin,
        &[
            "bucket.create",
            "bucket.versioning.set",
            "bucket.cors.set",
            "bucket.policy.set",
            "bucket.policy.delete",
            "bucket.lifecycle.set",
        ],
    );
    assert_eq!(
        code(&admin.call("DELETE", "/api/backends/orchestrator/buckets/elsewhere", None)),
        (204, String::new())
    );
    assert_eq!(
        code(&admin.call("DELETE", "/api/backends/orchestrator/buckets/elsewhere", None)),
        (404, "not_found".into())
    );
}

#[test]
fn objects_pins_and_search() {
    let s = server();
    let (admin, others) = sessions(&s, &["user", "readonly"]);
    let (user, readonly) = (&others[0], &others[1]);
    // A bucket of a config key's account; the data API acts on every bucket.
    let mut c = s.client();
    assert_eq!(c.put("/web", b"").status, 200);
    ok(
        &admin.call("PUT", &format!("{WEB}/versioning"), Some(json!({"enabled": true}))),
        200,
    );
    for (k, body) in [
        ("web/a/1", "one"),
        ("web/a/2", "two"),
        ("web/b", "bee"),
        ("web/b", "bee2"),
    ] {
        assert_eq!(c.put(&format!("/{k}"), body.as_bytes()).status, 200);
    }
    // Listing: `/` by default, flat with an empty delimiter, paged by token.
    let page = ok(&readonly.call("GET", &format!("{WEB}/objects"), None), 200);
    assert_eq!(page["common_prefixes"], json!(["a/"]));
    assert_eq!(page["objects"][0]["key"], "b");
    assert_eq!(page["objects"][0]["size"], 4);
    assert_eq!(page["next_continuation_token"], "");
    let flat = ok(
        &readonly.call("GET", &format!("{WEB}/objects?delimiter=&max_keys=2"), None),
        200,
    );
    assert_eq!(
        (
            flat["objects"].as_array().unwrap().len(),
            flat["is_truncated"].as_bool()
        ),
        (2, Some(true))
    );
    let token = flat["next_continuation_token"].as_str().unwrap().to_owned();
    let rest = ok(
        &readonly.call("GET", &format!("{WEB}/objects?delimiter=&token={token}"), None),
        200,
    );
    assert_eq!(rest["objects"][0]["key"], "b");

    // Info, versions, tags, metadata.
    let info = readonly.call("GET", &format!("{WEB}/object/info?key=b"), None);
    let v = ok(&info, 200);
    assert_eq!(
        (v["size"].as_u64(), v["storage_class"].as_str()),
        (Some(4), Some("STANDARD"))
    );
    assert_eq!(
        info.headers.iter().find(|(n, _)| n == "etag").map(|(_, e)| e.as_str()),
        v["etag"].as_str()
    );
    assert_eq!(
        code(&readonly.call("GET", &format!("{WEB}/object/info"), None)),
        (400, "bad_request".into())
    );
    assert_eq!(
        code(&readonly.call("GET", &format!("{WEB}/object/info?key=zz"), None)),
        (404, "not_found".into())
    );
    let versions = ok(
        &readonly.call("GET", &format!("{WEB}/object/versions?key=b"), None),
        200,
    );
    assert_eq!(versions["versions"].as_array().unwrap().len(), 2);
    assert_eq!(versions["versions"][0]["is_latest"], true);
    assert_eq!(
        code(&readonly.call(
            "PUT",
            &format!("{WEB}/object/tags?key=b"),
            Some(json!({"tags": {"k": "v"}}))
        )),
        (403, "forbidden".into())
    );
    ok(
        &user.call(
            "PUT",
            &format!("{WEB}/object/tags?key=b"),
            Some(json!({"tags": {"k": "v", "team": "web"}})),
        ),
        204,
    );
    assert_eq!(
        ok(&readonly.call("GET", &format!("{WEB}/object/tags?key=b"), None), 200),
        json!({"tags": {"k": "v", "team": "web"}})
    );
    assert_eq!(
        xml_all(&c.send("GET", "/web/b", "tagging", &[], b"").text(), "Key"),
        ["k", "team"]
    );
    let eleven: serde_json::Map<String, Value> = (0..11).map(|i| (format!("k{i}"), json!("v"))).collect();
    assert_eq!(
        code(&user.call(
            "PUT",
            &format!("{WEB}/object/tags?key=b"),
            Some(json!({"tags": eleven}))
        )),
        (400, "too_many_tags".into())
    );
    let m = ok(
        &user.call(
            "PUT",
            &format!("{WEB}/object/metadata?key=b"),
            Some(json!({"metadata": {"Owner": "web team"}})),
        ),
        200,
    );
    assert_eq!(m["metadata"], json!({"owner": "web team"}));
    assert_eq!(
        c.send("HEAD", "/web/b", "", &[], b"").header("x-amz-meta-owner"),
        Some("web team")
    );
    for bad in [
        json!({"A": "1", "a": "2"}),
        json!({"two words": "x"}),
        json!({"k": "x".repeat(3000)}),
    ] {
        let r = user.call(
            "PUT",
            &format!("{WEB}/object/metadata?key=b"),
            Some(json!({"metadata": bad})),
        );
        assert_eq!(code(&r), (400, "invalid_metadata".into()));
    }
    assert_eq!(
        code(&user.call(
            "PUT",
            &format!("{WEB}/object/metadata?key=b"),
            Some(json!({"metadata": {"a": "x\ny"}}))
        )),
        (400, "invalid_metadata".into())
    );

    // Folders, deletes.
    let folder = ok(
        &user.call("POST", &format!("{WEB}/objects/folder"), Some(json!({"key": "docs"}))),
        201,
    );
    assert_eq!(
        (folder["key"].as_str(), folder["size"].as_u64()),
        (Some("docs/"), Some(0))
    );
    assert_eq!(c.get("/web/docs/").status, 200);
    assert_eq!(
        code(&user.call("POST", &format!("{WEB}/objects/folder"), Some(json!({"key": "x/../y"})))),
        (400, "invalid_key".into())
    );
    let bulk = ok(
        &user.call(
            "POST",
            &format!("{WEB}/objects/delete"),
            Some(json!({"keys": [{"key": "a/1"}, {"key": "a/2"}]})),
        ),
        200,
    );
    assert_eq!(
        (bulk["deleted"].as_array().unwrap().len(), bulk["errors"].clone()),
        (2, Value::Null)
    );
    assert_eq!(
        code(&user.call("POST", &format!("{WEB}/objects/delete"), Some(json!({"keys": []})))),
        (400, "bad_request".into())
    );
    ok(&user.call("DELETE", &format!("{WEB}/object?key=docs/"), None), 204);
    assert_eq!(c.get("/web/docs/").status, 404);
    assert_eq!(
        code(&admin.call("DELETE", "/api/backends/orchestrator/buckets/web", None)),
        (409, "bucket_not_empty".into())
    );

    // A filesystem backend has no buckets of its own.
    assert_eq!(
        code(&readonly.call("GET", "/api/backends/a/buckets/x/objects", None)),
        (501, "not_supported".into())
    );
    assert_eq!(
        code(&readonly.call("GET", "/api/backends/zz/buckets/x/objects", None)),
        (404, "not_found".into())
    );

    // Pins: per user, idempotent.
    assert_eq!(
        code(&readonly.call(
            "POST",
            "/api/me/pins",
            Some(json!({"backend_id": "orchestrator", "bucket": "web"}))
        )),
        (403, "forbidden".into())
    );
    ok(
        &user.call(
            "POST",
            "/api/me/pins",
            Some(json!({"backend_id": "orchestrator", "bucket": "web"})),
        ),
        201,
    );
    ok(
        &user.call(
            "POST",
            "/api/me/pins",
            Some(json!({"backend_id": "orchestrator", "bucket": "web"})),
        ),
        201,
    );
    let pins = ok(&user.call("GET", "/api/me/pins", None), 200);
    assert_eq!(pins["pins"].as_array().unwrap().len(), 1);
    assert_eq!(ok(&admin.call("GET", "/api/me/pins", None), 200), json!({"pins": []}));
    ok(&user.call("DELETE", "/api/me/pins/orchestrator/web", None), 204);
    assert_eq!(ok(&user.call("GET", "/api/me/pins", None), 200), json!({"pins": []}));

    // Search: bucket names by substring, keys by prefix.
    let found = ok(&readonly.call("GET", "/api/search?q=we", None), 200);
    assert_eq!(
        found["buckets"],
        json!([{"backend_id": "orchestrator", "bucket": "web"}])
    );
    for k in ["report-1", "report-2"] {
        assert_eq!(c.put(&format!("/web/{k}"), b"r").status, 200);
    }
    let keys = ok(&readonly.call("GET", "/api/search?q=rep&limit=1", None), 200);
    assert_eq!(
        (keys["objects"][0]["key"].as_str(), keys["truncated"].as_bool()),
        (Some("report-1"), Some(true))
    );
    assert_eq!(
        ok(&readonly.call("GET", "/api/search?q=r", None), 200)["objects"],
        json!([])
    );
    assert_eq!(
        ok(&readonly.call("GET", "/api/search?q=x", None), 200)["objects"],
        json!([])
    );

    assert_audited(
        &admin,
        &[
            "object.tags.set",
            "object.metadata.set",
            "object.folder",
            "object.bulk_delete",
            "object.delete",
        ],
    );
}

#[test]
fn quotas_sizes_and_their_enforcement() {
    let s = server();
    let (admin, others) = sessions(&s, &["user"]);
    let user = &others[0];
    let mut c = s.client();
    assert_eq!(c.put("/web", b"").status, 200);
    assert_eq!(c.put("/web/docs/a", &[1u8; 600]).status, 200);
    assert_eq!(c.put("/web/docs/b", &[2u8; 300]).status, 200);
    assert_eq!(c.put("/web/other", &[3u8; 50]).status, 200);
    let q = format!("{WEB}/quota");
    let got = ok(&admin.call("GET", &q, None), 200);
    assert!(got["computed_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{got}");
    assert_eq!(
        got,
        json!({"configured": false, "usage_bytes": 950, "object_count": 3,
        "computed_at": got["computed_at"], "has_usage": true})
    );
    assert_eq!(
        code(&user.call("PUT", &q, Some(json!({"hard_bytes": 1000})))),
        (403, "forbidden".into())
    );
    for (body, msg) in [
        (
            json!({"soft_bytes": -1, "hard_bytes": 5}),
            "byte values must be non-negative",
        ),
        (
            json!({}),
            "set at least one of soft_bytes or hard_bytes; DELETE the resource to clear",
        ),
        (
            json!({"soft_bytes": 9, "hard_bytes": 5}),
            "soft_bytes must be less than or equal to hard_bytes",
        ),
    ] {
        let r = admin.call("PUT", &q, Some(body));
        assert_eq!(
            (code(&r), r.json()["error"]["message"].as_str().map(str::to_owned)),
            ((400, "invalid_quota".into()), Some(msg.to_owned()))
        );
    }
    let set = ok(
        &admin.call("PUT", &q, Some(json!({"soft_bytes": 900, "hard_bytes": 1000}))),
        200,
    );
    assert_eq!(
        (
            set["configured"].as_bool(),
            set["hard_bytes"].as_u64(),
            set["soft_bytes"].as_u64()
        ),
        (Some(true), Some(1000), Some(900))
    );
    // Enforced on the S3 port and the data API alike (the cache shows the quota within a second).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = c.put("/web/big", &[0u8; 100]);
    assert_eq!((r.status, r.code()), (507, "QuotaExceeded".to_string()));
    assert_eq!(c.put("/web/small", &[0u8; 40]).status, 200);
    let folder = admin.call("POST", &format!("{WEB}/objects/folder"), Some(json!({"key": "f"})));
    assert_eq!(folder.status, 201, "an empty object fits");
    let recomputed = ok(&admin.call("POST", &format!("{WEB}/quota/recompute"), None), 200);
    assert_eq!(
        (recomputed["usage_bytes"].as_u64(), recomputed["object_count"].as_u64()),
        (Some(990), Some(5))
    );
    ok(&admin.call("DELETE", &q, None), 204);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(c.put("/web/big", &[0u8; 100]).status, 200);

    // Sizes: any role reads them; tracking off hides them.
    let size = ok(&user.call("GET", &format!("{WEB}/prefix-size?prefix=docs/"), None), 200);
    assert_eq!(
        (size["bytes"].as_u64(), size["count"].as_u64(), size["prefix"].as_str()),
        (Some(900), Some(2), Some("docs/"))
    );
    assert_eq!(
        code(&user.call("GET", &format!("{WEB}/prefix-size?prefix=../"), None)),
        (400, "invalid_prefix".into())
    );
    assert_eq!(
        ok(&user.call("GET", &format!("{WEB}/size-tracking"), None), 200),
        json!({"enabled": true})
    );
    let off = ok(
        &admin.call("PUT", &format!("{WEB}/size-tracking"), Some(json!({"enabled": false}))),
        200,
    );
    assert_eq!(off["enabled"], false);
    assert_eq!(
        code(&user.call("GET", &format!("{WEB}/prefix-size"), None)),
        (409, "size_tracking_disabled".into())
    );
    let buckets = ok(&user.call("GET", "/api/backends/orchestrator/buckets", None), 200);
    let web = buckets["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "web")
        .unwrap()
        .clone();
    assert_eq!(
        (web["size_tracked"].as_bool(), web.get("size_bytes").is_none()),
        (Some(false), true)
    );
    assert_audited(&admin, &["quota.set", "quota.delete", "bucket.size_tracking.set"]);
}

#[test]
fn the_admin_dashboard_and_backend_health() {
    let s = server();
    let (admin, others) = sessions(&s, &["user"]);
    let user = &others[0];
    let mut c = s.client();
    assert_eq!(c.put("/web", b"").status, 200);
    assert_eq!(c.put("/web/a", &[7u8; 1000]).status, 200);
    assert_eq!(c.put("/data/x", b"xyz").status, 200);
    for _ in 0..3 {
        ok(&user.call("GET", &format!("{WEB}/objects"), None), 200);
    }
    // A streamed route counts as the buffered ones do.
    assert_eq!(user.call("GET", &format!("{WEB}/object?key=a"), None).status, 200);
    assert_eq!(
        code(&user.call("GET", "/api/admin/dashboard", None)),
        (403, "forbidden".into())
    );
    // A body the port cannot read is refused in this API's own error shape.
    let bad = admin.raw(
        "POST",
        "/api/admin/users",
        &[("transfer-encoding", "chunked"), ("content-type", "application/json")],
        b"zz\r\n{}\r\n0\r\n\r\n",
    );
    assert_eq!(code(&bad), (400, "bad_request".into()));
    let d = ok(&admin.call("GET", "/api/admin/dashboard", None), 200);
    let keys: Vec<&str> = d["requests"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 5);
    assert_eq!(d["requests"]["hourly"].as_array().unwrap().len(), 24);
    assert!(d["requests"]["total_24h"].as_u64().unwrap() >= 4);
    assert_eq!(d["requests"]["by_backend"]["orchestrator"].as_u64(), Some(4));
    let storage = &d["storage"]["by_backend"];
    assert_eq!(storage[0]["backend_id"], "orchestrator");
    assert_eq!(
        (storage[0]["bytes"].as_u64(), storage[0]["objects"].as_u64()),
        (Some(1003), Some(2))
    );
    assert_eq!(
        d["storage"]["top_buckets"][0],
        json!({"backend_id": "orchestrator", "bucket": "web", "bytes": 1000, "objects": 1})
    );
    // Probe history: the health probe runs at start and every interval.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let h = ok(&admin.call("GET", "/api/admin/backends/health", None), 200);
        let a = h["backends"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["id"] == "a")
            .unwrap()
            .clone();
        if !a["history"].as_array().unwrap().is_empty() {
            assert!(a["history"][0].get("at").is_some() && a["history"][0].get("latency_ms").is_some());
            assert_eq!(h["backends"][0]["id"], "orchestrator");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no probe recorded: {h}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}
