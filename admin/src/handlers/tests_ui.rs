//! Handler tests of the `{ui}` routes over the fake `Control`: login through a session to each
//! UI endpoint, its bad inputs (400) and its happy path, asserted field by field against seed
//! 000's examples.

use bytes::Bytes;
use serde_json::json;
use tracing::Level;

use super::fake::Fake;
use super::tests::{block_on, body, call, call_ui, with_json};
use super::*;
use crate::auth::tests::{login_req, peer, session_from, test_auth, with_session};
use crate::control::DeleteOutcome;
use crate::error::Error;
use crate::logbuf::LogEntry;
use crate::time::Timestamp;

#[test]
fn login_then_logout() {
    let auth = test_auth();
    let fake = Fake::default();
    let resp = block_on(handle(
        &login_req("admin", "correct horse battery staple", 3),
        &auth,
        &fake,
        None,
    ));
    assert_eq!((resp.status, body(&resp)), (200, json!({"ok": true})));
    let session = session_from(&resp);
    let dash = with_session(Request::new("GET", "/ui/api/dashboard", peer(3)), &session);
    assert_eq!(block_on(handle(&dash, &auth, &fake, None)).status, 200);
    let out = block_on(handle(&Request::new("POST", "/ui/logout", peer(3)), &auth, &fake, None));
    assert_eq!((out.status, body(&out)), (200, json!({"ok": true})));
    assert!(out
        .header("set-cookie")
        .unwrap()
        .starts_with("s3o_session=; Max-Age=0;"));
    let bad = block_on(handle(&login_req("admin", "guess", 3), &auth, &fake, None));
    assert_eq!((bad.status, body(&bad)), (401, json!({"error": "invalid credentials"})));
}

#[test]
fn dashboard() {
    let fake = Fake::default();
    let resp = call_ui(Request::new("GET", "/ui/api/dashboard", peer(7)), &fake);
    assert_eq!(resp.status, 200);
    let b = body(&resp);
    assert_eq!(b["BackendOrder"], json!(["oci", "r2"]));
    assert_eq!(
        b["QuotaStats"]["oci"],
        json!({"BackendName": "oci", "BytesUsed": 5242880, "BytesLimit": 10737418240u64, "UpdatedAt": "2026-03-02T14:30:00Z"})
    );
    assert_eq!(b["QuotaStats"]["r2"]["BytesUsed"], 1048576);
    assert_eq!(b["ObjectCounts"], json!({"oci": 42, "r2": 15}));
    assert_eq!(b["ActiveMultipartCounts"], json!({"oci": 0, "r2": 0}));
    assert_eq!(
        b["UsageStats"],
        json!({"oci": {"APIRequests": 1234, "EgressBytes": 5242880, "IngressBytes": 10485760}})
    );
    assert_eq!(
        b["UsageLimits"],
        json!({"oci": {"APIRequestLimit": 50000, "EgressByteLimit": 10737418240u64, "IngressByteLimit": 0}})
    );
    assert_eq!(b["UsagePeriod"], "2026-03");
    assert_eq!(
        b["TopLevelEntries"],
        json!({"entries": [{"name": "my-bucket/", "isDir": true, "size": 6291456, "count": 57}],
               "hasMore": false, "nextCursor": ""})
    );
    assert_eq!(b.as_object().unwrap().len(), 8, "no other fields");
    assert_eq!(fake.calls.borrow().as_slice(), ["dashboard", "tree \"\" \"\" 200"]);
}

#[test]
fn tree() {
    let fake = Fake::default();
    let resp = call_ui(
        Request::new(
            "GET",
            "/ui/api/tree?prefix=my-bucket%2Fphotos%2F&startAfter=my-bucket%2Fphotos%2Fa&maxKeys=2",
            peer(7),
        ),
        &fake,
    );
    assert_eq!(resp.status, 200);
    assert_eq!(
        body(&resp),
        json!({"entries": [
            {"name": "my-bucket/photos/2024/", "isDir": true, "size": 1048576, "count": 10},
            {"name": "my-bucket/photos/avatar.jpg", "isDir": false, "size": 51200, "count": 0}
        ], "hasMore": true, "nextCursor": "my-bucket/photos/avatar.jpg"})
    );
    assert_eq!(
        fake.calls.borrow().as_slice(),
        ["tree \"my-bucket/photos/\" \"my-bucket/photos/a\" 2"]
    );
    for ok in ["maxKeys=200", "maxKeys=1", "maxKeys="] {
        let resp = call_ui(Request::new("GET", &format!("/ui/api/tree?{ok}"), peer(7)), &fake);
        assert_eq!(resp.status, 200, "{ok}");
    }
    assert!(fake.calls.borrow().ends_with(&["tree \"\" \"\" 200".to_owned()]));
    for bad in [
        "maxKeys=0",
        "maxKeys=201",
        "maxKeys=-1",
        "maxKeys=ten",
        "maxKeys=1.5",
        "prefix=%ZZ",
    ] {
        let resp = call_ui(Request::new("GET", &format!("/ui/api/tree?{bad}"), peer(7)), &fake);
        assert_eq!(resp.status, 400, "{bad}");
        assert!(body(&resp)["error"].is_string());
    }
}

#[test]
fn logs() {
    let fake = Fake::default();
    let entry = |ms: u64, level: Level, msg: &str, component: &str| {
        let mut attrs = serde_json::Map::new();
        attrs.insert("host".into(), json!("db.example.com"));
        attrs.insert("port".into(), json!(5432));
        attrs.insert("component".into(), json!(component));
        LogEntry {
            time: Timestamp(ms),
            level,
            message: msg.into(),
            attrs,
        }
    };
    fake.logs
        .push(entry(1_772_461_799_000, Level::DEBUG, "probe", "workers"));
    fake.logs
        .push(entry(1_772_461_800_000, Level::INFO, "Connected to PostgreSQL", "main"));
    fake.logs
        .push(entry(1_772_461_801_000, Level::ERROR, "boom", "workers"));
    let resp = call_ui(
        Request::new("GET", "/ui/api/logs?level=info&component=main", peer(7)),
        &fake,
    );
    assert_eq!(resp.status, 200);
    assert_eq!(
        body(&resp),
        json!([{"time": "2026-03-02T14:30:00Z", "level": "INFO", "message": "Connected to PostgreSQL",
                "attrs": {"host": "db.example.com", "port": 5432, "component": "main"}}])
    );
    let all = body(&call_ui(Request::new("GET", "/ui/api/logs", peer(7)), &fake));
    assert_eq!(all.as_array().unwrap().len(), 3);
    let last = body(&call_ui(Request::new("GET", "/ui/api/logs?limit=1", peer(7)), &fake));
    assert_eq!(last[0]["message"], "boom");
    let since = "/ui/api/logs?since=2026-03-02T14%3A30%3A00Z";
    assert_eq!(
        body(&call_ui(Request::new("GET", since, peer(7)), &fake))[0]["message"],
        "boom"
    );
    for bad in ["level=LOUD", "since=noon", "limit=0", "limit=x"] {
        let resp = call_ui(Request::new("GET", &format!("/ui/api/logs?{bad}"), peer(7)), &fake);
        assert_eq!(resp.status, 400, "{bad}");
    }
}

#[test]
fn delete() {
    let fake = Fake::default();
    let req = with_json(
        Request::new("POST", "/ui/api/delete", peer(7)),
        json!({"key": "my-bucket/path/to/file.txt"}),
    );
    let resp = call_ui(req, &fake);
    assert_eq!((resp.status, body(&resp)), (200, json!({"ok": true})));
    assert_eq!(fake.calls.borrow().as_slice(), ["delete my-bucket/path/to/file.txt"]);
    for bad in [
        json!({}),
        json!({"key": ""}),
        json!({"key": "bucket"}),
        json!({"key": "/k"}),
        json!({"key": "b/"}),
        json!({"key": 1}),
    ] {
        let resp = call_ui(
            with_json(Request::new("POST", "/ui/api/delete", peer(7)), bad.clone()),
            &fake,
        );
        assert_eq!(resp.status, 400, "{bad}");
    }
    let mut garbage = Request::new("POST", "/ui/api/delete", peer(7));
    garbage.body = Bytes::from_static(b"key=b/k");
    assert_eq!(call_ui(garbage, &fake).status, 400);
    assert_eq!(fake.calls.borrow().len(), 1, "no bad request reached the control");
    let failing = Fake {
        fail: Some(|| Error::internal("failed to delete object: backend down")),
        ..Fake::default()
    };
    let req = with_json(Request::new("POST", "/ui/api/delete", peer(7)), json!({"key": "b/k"}));
    let resp = call_ui(req, &failing);
    assert_eq!(
        (resp.status, body(&resp)),
        (500, json!({"error": "failed to delete object: backend down"}))
    );
}

#[test]
fn delete_prefix() {
    let fake = Fake::default();
    let req = || {
        with_json(
            Request::new("POST", "/ui/api/delete-prefix", peer(7)),
            json!({"prefix": "my-bucket/photos/vacation/"}),
        )
    };
    let resp = call_ui(req(), &fake);
    assert_eq!((resp.status, body(&resp)), (200, json!({"ok": true, "deleted": 42})));
    assert_eq!(
        fake.calls.borrow().as_slice(),
        ["delete-prefix my-bucket/photos/vacation/"]
    );
    let partial = Fake {
        delete_outcome: DeleteOutcome { deleted: 42, failed: 5 },
        ..Fake::default()
    };
    let resp = call_ui(req(), &partial);
    assert_eq!(
        (resp.status, body(&resp)),
        (500, json!({"error": "5 of 47 deletes failed", "deleted": 42}))
    );
    for bad in [
        json!({}),
        json!({"prefix": ""}),
        json!({"prefix": "no-slash"}),
        json!({"prefix": "/x"}),
    ] {
        let r = with_json(Request::new("POST", "/ui/api/delete-prefix", peer(7)), bad.clone());
        assert_eq!(call_ui(r, &fake).status, 400, "{bad}");
    }
}

#[test]
fn sync() {
    let fake = Fake::default();
    let req = with_json(
        Request::new("POST", "/ui/api/sync", peer(7)),
        json!({"backend": "oci", "bucket": "my-bucket"}),
    );
    let resp = call_ui(req, &fake);
    assert_eq!(
        (resp.status, body(&resp)),
        (200, json!({"ok": true, "imported": 150, "skipped": 42}))
    );
    assert_eq!(fake.calls.borrow().as_slice(), ["sync oci my-bucket"]);
    // A prefix and a dry run, beyond the seed, reach the control.
    let req = with_json(
        Request::new("POST", "/ui/api/sync", peer(7)),
        json!({"backend": "oci", "bucket": "my-bucket", "prefix": "2024/", "dry_run": true}),
    );
    assert_eq!(call_ui(req, &fake).status, 200);
    assert_eq!(
        fake.calls.borrow().last().map(String::as_str),
        Some("sync oci my-bucket prefix=2024/ dry_run=true")
    );
    for bad in [
        json!({}),
        json!({"backend": "oci"}),
        json!({"bucket": "b"}),
        json!({"backend": "", "bucket": "b"}),
    ] {
        let r = with_json(Request::new("POST", "/ui/api/sync", peer(7)), bad.clone());
        let resp = call_ui(r, &fake);
        assert_eq!(
            (resp.status, body(&resp)),
            (400, json!({"error": "backend and bucket are required"})),
            "{bad}"
        );
    }
    let unknown = Fake {
        fail: Some(|| Error::bad_request("unknown backend \"x\"")),
        ..Fake::default()
    };
    let r = with_json(
        Request::new("POST", "/ui/api/sync", peer(7)),
        json!({"backend": "x", "bucket": "b"}),
    );
    assert_eq!(call_ui(r, &unknown).status, 400);
}

#[test]
fn ui_session_does_not_leak_across_mounts() {
    let fake = Fake::default();
    let resp = call(&Request::new("GET", "/ui/api/dashboard", peer(7)), &fake);
    assert_eq!((resp.status, body(&resp)), (401, json!({"error": "not logged in"})));
}
