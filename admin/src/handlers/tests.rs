//! Handler tests over the fake `Control`: the checks every route shares (401 without auth, 405
//! for another method, 413 for an oversized body, 404 for unknown paths), then the admin API,
//! health, readiness, metrics and the OpenAPI document, each asserted field by field against
//! seed 000's examples.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use serde_json::{json, Value};

use super::fake::Fake;
use super::*;
use crate::auth::tests::{login_req, peer, session_from, test_auth, with_session, with_token};
use crate::error::Error;
use crate::level::LogLevel;
use crate::route::{AuthClass, ROUTES};

/// Runs a future that never waits (the fake answers at once).
pub(super) fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

pub(super) fn call(req: &Request, ctl: &Fake) -> Response {
    block_on(handle(req, &test_auth(), ctl, None))
}

pub(super) fn body(resp: &Response) -> Value {
    serde_json::from_slice(&resp.body).unwrap()
}

/// A request with a JSON body.
pub(super) fn with_json(mut r: Request, v: Value) -> Request {
    r.headers.push(("content-type".into(), "application/json".into()));
    r.body = Bytes::from(v.to_string());
    r
}

/// Sends `req` with a fresh session from the same `Auth` that handles it.
pub(super) fn call_ui(req: Request, ctl: &Fake) -> Response {
    let auth = test_auth();
    let session = session_from(&auth.login(&login_req("admin", "correct horse battery staple", 7)));
    block_on(handle(&with_session(req, &session), &auth, ctl, None))
}

fn admin_req(method: &str, target: &str) -> Request {
    with_token(Request::new(method, target, peer(1)))
}

fn concrete(tpl: &str) -> String {
    tpl.replace("{ui}", "/ui")
}

#[test]
fn every_protected_route_refuses_without_auth() {
    let fake = Fake::default();
    for &(route, method, tpl) in ROUTES {
        let req = Request::new(method, &concrete(tpl), peer(1));
        let resp = call(&req, &fake);
        match route.auth_class() {
            AuthClass::Public => assert_ne!(resp.status, 401, "{tpl}"),
            AuthClass::AdminToken | AuthClass::Session => {
                assert_eq!(resp.status, 401, "{tpl}");
                assert!(body(&resp)["error"].is_string(), "{tpl}");
            }
        }
    }
    assert!(
        fake.calls.borrow().is_empty(),
        "nothing reached the control: {:?}",
        fake.calls
    );
}

#[test]
fn every_route_answers_405_to_another_method() {
    for &(_, method, tpl) in ROUTES {
        let other = "PATCH";
        let resp = call(&admin_req(other, &concrete(tpl)), &Fake::default());
        assert_eq!(resp.status, 405, "{tpl}");
        assert!(resp.header("allow").unwrap().contains(method), "{tpl}");
        assert_eq!(body(&resp), json!({"error": "method not allowed"}));
    }
}

#[test]
fn oversized_bodies_are_413_before_anything_else() {
    for &(route, method, tpl) in ROUTES.iter().filter(|(r, _, _)| r.takes_body()) {
        let mut req = Request::new(method, &concrete(tpl), peer(1));
        req.body = Bytes::from(vec![b'{'; MAX_JSON_BODY + 1]);
        let resp = call(&req, &Fake::default());
        assert_eq!(resp.status, 413, "{route:?}");
        assert!(body(&resp)["error"].is_string());
    }
}

#[test]
fn unknown_paths_are_404() {
    for p in [
        "/admin/api/encrypt-existing/x",
        "/admin/api/scrubs",
        "/ui/api/scrub",
        "/nope",
    ] {
        let resp = call(&admin_req("POST", p), &Fake::default());
        assert_eq!(resp.status, 404, "{p}");
        assert_eq!(body(&resp), json!({"error": "not found"}));
    }
}

#[test]
fn status() {
    let resp = call(&admin_req("GET", "/admin/api/status"), &Fake::default());
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let b = body(&resp);
    assert_eq!(b["db_healthy"], true);
    assert_eq!(b["usage_period"], "2026-03");
    assert_eq!(
        b["backends"],
        json!([{
            "name": "oci", "bytes_used": 5242880u64, "bytes_limit": 10737418240u64,
            "orphan_bytes": 0, "object_count": 42, "api_requests": 1234,
            "egress_bytes": 5242880u64, "ingress_bytes": 10485760u64,
            "api_request_limit": 50000, "egress_byte_limit": 10737418240u64, "ingress_byte_limit": 0,
            "healthy": true, "circuit": "closed", "draining": false
        }])
    );
    let failing = Fake {
        fail: Some(|| Error::internal("store unavailable")),
        ..Fake::default()
    };
    let resp = call(&admin_req("GET", "/admin/api/status"), &failing);
    assert_eq!((resp.status, body(&resp)), (500, json!({"error": "store unavailable"})));
}

#[test]
fn workers() {
    let resp = call(&admin_req("GET", "/admin/api/workers"), &Fake::default());
    assert_eq!(resp.status, 200);
    assert_eq!(
        body(&resp),
        json!({"workers": [
            {"name": "cleanup_queue", "last_success": "2026-05-12T18:42:01Z", "consecutive_failures": 0},
            {"name": "replicator", "last_success": "2026-05-12T18:30:14Z",
             "last_failure": "2026-05-12T18:45:14Z", "last_error": "connection refused",
             "consecutive_failures": 3}
        ]})
    );
    let none = Fake {
        workers: None,
        ..Fake::default()
    };
    let resp = call(&admin_req("GET", "/admin/api/workers"), &none);
    assert_eq!((resp.status, body(&resp)), (503, json!({"error": "no worker pool"})));
}

#[test]
fn object_locations() {
    let fake = Fake::default();
    let resp = call(
        &admin_req("GET", "/admin/api/object-locations?key=my-bucket/path/to/file.txt"),
        &fake,
    );
    assert_eq!(resp.status, 200);
    assert_eq!(
        body(&resp),
        json!({"key": "my-bucket/path/to/file.txt", "locations": [
            {"ObjectKey": "my-bucket/path/to/file.txt", "BackendName": "oci", "SizeBytes": 51200, "CreatedAt": "2026-01-15T10:30:00Z"},
            {"ObjectKey": "my-bucket/path/to/file.txt", "BackendName": "r2", "SizeBytes": 51200, "CreatedAt": "2026-01-15T10:35:00Z"}
        ]})
    );
    for bad in [
        "",
        "?key=",
        "?key=bucket-only",
        "?key=%2Fno-bucket",
        "?key=b%2F",
        "?key=%G0",
    ] {
        let resp = call(&admin_req("GET", &format!("/admin/api/object-locations{bad}")), &fake);
        assert_eq!(resp.status, 400, "{bad}");
        assert!(body(&resp)["error"].is_string());
    }
    let missing = Fake {
        fail: Some(|| Error::NotFound("no such object".into())),
        ..Fake::default()
    };
    let resp = call(&admin_req("GET", "/admin/api/object-locations?key=b/k"), &missing);
    assert_eq!((resp.status, body(&resp)), (404, json!({"error": "no such object"})));
}

#[test]
fn cleanup_queue() {
    let fake = Fake::default();
    let resp = call(&admin_req("GET", "/admin/api/cleanup-queue"), &fake);
    assert_eq!(resp.status, 200);
    assert_eq!(
        body(&resp),
        json!({"depth": 3, "items": [
            {"ID": 1, "BackendName": "oci", "ObjectKey": "my-bucket/old-file.txt", "Reason": "delete_failed", "Attempts": 2, "SizeBytes": 51200}
        ]})
    );
    assert_eq!(fake.calls.borrow().as_slice(), ["cleanup-queue 50"]);
    let long = Fake {
        queue_len: 80,
        ..Fake::default()
    };
    let b = body(&call(&admin_req("GET", "/admin/api/cleanup-queue"), &long));
    assert_eq!(
        (b["depth"].as_u64(), b["items"].as_array().unwrap().len()),
        (Some(80), 50)
    );
}

#[test]
fn usage_flush() {
    let fake = Fake::default();
    let resp = call(&admin_req("POST", "/admin/api/usage-flush"), &fake);
    assert_eq!((resp.status, body(&resp)), (200, json!({"status": "flushed"})));
    assert_eq!(fake.calls.borrow().as_slice(), ["flush"]);
}

#[test]
fn log_level_get_and_put() {
    let fake = Fake::default();
    let resp = call(&admin_req("GET", "/admin/api/log-level"), &fake);
    assert_eq!((resp.status, body(&resp)), (200, json!({"level": "info"})));
    let put = with_json(admin_req("PUT", "/admin/api/log-level"), json!({"level": "debug"}));
    let resp = call(&put, &fake);
    assert_eq!((resp.status, body(&resp)), (200, json!({"level": "debug"})));
    assert_eq!(*fake.level.borrow(), LogLevel::Debug);
    let resp = call(&admin_req("GET", "/admin/api/log-level"), &fake);
    assert_eq!(body(&resp), json!({"level": "debug"}));
    for bad in [
        json!({"level": "verbose"}),
        json!({"level": "trace"}),
        json!({}),
        json!({"level": 3}),
        json!([]),
    ] {
        let resp = call(&with_json(admin_req("PUT", "/admin/api/log-level"), bad.clone()), &fake);
        assert_eq!(resp.status, 400, "{bad}");
        assert!(body(&resp)["error"].is_string());
    }
    let mut garbage = admin_req("PUT", "/admin/api/log-level");
    garbage.body = Bytes::from_static(b"{\"level\":");
    assert_eq!(call(&garbage, &fake).status, 400);
    assert_eq!(*fake.level.borrow(), LogLevel::Debug, "bad requests changed nothing");
}

#[test]
fn health_ready_and_metrics_are_public() {
    let fake = Fake::default();
    let resp = call(&Request::new("GET", "/health", peer(1)), &fake);
    assert_eq!((resp.status, body(&resp)), (200, json!({"status": "ok"})));

    let resp = call(&Request::new("GET", "/health/ready", peer(1)), &fake);
    assert_eq!(resp.status, 200);
    assert_eq!(
        body(&resp),
        json!({"status": "ready", "store_writable": true, "backends_reachable": 1,
               "backends_total": 2, "reasons": ["backend r2 unreachable: timeout"]})
    );

    let resp = call(&Request::new("GET", "/metrics", peer(1)), &fake);
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = std::str::from_utf8(&resp.body).unwrap();
    assert!(
        text.starts_with("# HELP s3o_requests_total Requests served.\n"),
        "{text}"
    );
    assert!(text.contains("s3o_requests_total{op=\"GetObject\"} 5\n"));
    assert!(text.contains("s3o_worker_last_success_timestamp_seconds{worker=\"cleanup_queue\"} 1778611321\n"));
    assert!(text.contains("s3o_worker_consecutive_failures{worker=\"replicator\"} 3\n"));
    assert!(text.contains("s3o_worker_ticks_total{worker=\"replicator\"} 7\n"));
    let none = Fake {
        workers: None,
        ..Fake::default()
    };
    let text = String::from_utf8(call(&Request::new("GET", "/metrics", peer(1)), &none).body.to_vec()).unwrap();
    assert!(!text.contains("s3o_worker_"), "{text}");
}

#[test]
fn not_ready() {
    use crate::control::Readiness;
    let down = Fake {
        readiness: Readiness {
            store: Err("read-only file system".into()),
            backends: vec![("oci".into(), Err("connection refused".into()))],
        },
        ..Fake::default()
    };
    let resp = call(&Request::new("GET", "/health/ready", peer(1)), &down);
    assert_eq!(resp.status, 503);
    assert_eq!(
        body(&resp),
        json!({"status": "not ready", "store_writable": false, "backends_reachable": 0,
               "backends_total": 1, "reasons": [
                   "store not writable: read-only file system",
                   "backend oci unreachable: connection refused",
                   "no backend reachable"]})
    );
    let no_backends = Fake {
        readiness: Readiness {
            store: Ok(()),
            backends: vec![],
        },
        ..Fake::default()
    };
    assert_eq!(
        call(&Request::new("GET", "/health/ready", peer(1)), &no_backends).status,
        503
    );
}

#[test]
fn streamed_routes_are_not_served_here() {
    let resp = call_ui(
        Request::new("GET", "/ui/api/download?key=b/k", peer(7)),
        &Fake::default(),
    );
    assert_eq!(resp.status, 500);
}

#[test]
fn openapi_is_served_with_the_token() {
    let resp = call(&admin_req("GET", "/admin/api/openapi.json"), &Fake::default());
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(body(&resp)["openapi"], "3.1.0");
}

/// The OpenAPI document lists exactly the routes of the router, each with its method.
#[test]
fn openapi_matches_the_router() {
    let doc: Value = serde_json::from_str(OPENAPI_JSON).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in paths {
        for (method, _) in item.as_object().unwrap() {
            if ["get", "put", "post", "delete", "patch", "head", "options", "trace"].contains(&method.as_str()) {
                documented.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    let mut routed: Vec<(String, String)> = ROUTES
        .iter()
        .map(|&(_, m, tpl)| (m.to_owned(), concrete(tpl)))
        .collect();
    documented.sort();
    routed.sort();
    assert_eq!(documented, routed);
    // Every operation documents its errors and names a security requirement (possibly none).
    for (method, path) in &routed {
        let op = &paths[path][method.to_lowercase()];
        assert!(op["operationId"].is_string(), "{method} {path}");
        assert!(op["security"].is_array(), "{method} {path}");
        let responses = op["responses"].as_object().unwrap();
        let protected = path.starts_with("/admin/api/") || path.starts_with("/ui/api/");
        if protected {
            assert!(responses.contains_key("401"), "{method} {path}");
        }
        assert!(responses.contains_key("405"), "{method} {path}");
    }
    // Every $ref resolves.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let ptr = r.strip_prefix('#').unwrap();
        assert!(doc.pointer(ptr).is_some(), "dangling {r}");
    }
}

#[test]
fn orchestration_routes_reach_the_control_with_their_parameters() {
    let cases: &[(&str, &str, &str)] = &[
        ("POST", "/admin/api/replicate", "Replicate"),
        ("GET", "/admin/api/over-replication", "OverReplication"),
        ("POST", "/admin/api/over-replication", "CleanOverReplication(None)"),
        (
            "POST",
            "/admin/api/over-replication?batch_size=7",
            "CleanOverReplication(Some(7))",
        ),
        ("POST", "/admin/api/backends/oci/drain", "DrainStart(\"oci\")"),
        ("GET", "/admin/api/backends/oci/drain", "DrainStatus(\"oci\")"),
        (
            "DELETE",
            "/admin/api/backends/my%20disk/drain",
            "DrainCancel(\"my disk\")",
        ),
        (
            "DELETE",
            "/admin/api/backends/oci",
            "RemoveBackend { name: \"oci\", purge: false }",
        ),
        (
            "DELETE",
            "/admin/api/backends/oci?purge=true",
            "RemoveBackend { name: \"oci\", purge: true }",
        ),
    ];
    for &(m, target, want) in cases {
        let fake = Fake::default();
        let resp = call(&admin_req(m, target), &fake);
        assert_eq!(
            (resp.status, body(&resp)),
            (202, json!({"status": "started"})),
            "{m} {target}"
        );
        assert_eq!(fake.calls.borrow().as_slice(), [want.to_string()], "{m} {target}");
    }
    for bad in ["0", "-1", "many"] {
        let fake = Fake::default();
        let resp = call(
            &admin_req("POST", &format!("/admin/api/over-replication?batch_size={bad}")),
            &fake,
        );
        assert_eq!(resp.status, 400, "{bad}");
        assert!(fake.calls.borrow().is_empty());
    }
    // The control's errors keep the seed's shape and status.
    let failing = Fake {
        fail: Some(|| Error::Conflict("backend \"oci\" is already draining".into())),
        ..Fake::default()
    };
    let resp = call(&admin_req("POST", "/admin/api/backends/oci/drain"), &failing);
    assert_eq!(
        (resp.status, body(&resp)),
        (409, json!({"error": "backend \"oci\" is already draining"}))
    );
}
