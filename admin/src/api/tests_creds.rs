//! The seed-003 API's credentials, anonymous bindings and audit log against a real (sled)
//! store: minting and scoping, secrets shown once and never stored in the clear, config-managed
//! keys, bindings, audit queries and the paged CSV export.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};

use super::tests::{call, code_of, env, json_of, login, request, scratch, user, Env, Sess, ADMIN_PW};
use crate::access::audit::AuditQueue;
use crate::access::records::Role;
use crate::access::seal::SealKey;
use crate::access::{Access, AccessConfig};
use s3o_store::{block_on, Store};

#[test]
fn credentials_are_minted_scoped_and_never_shown_again() {
    let e = env();
    let admin = login(&e, "admin", ADMIN_PW);
    let (uid, alice) = user(&e, &admin, "alice", "user");
    let mint = |body: Value, s: &Sess| call(&e, &request("POST", "/api/me/s3-credentials", Some(body), Some(s)));
    let r = mint(
        json!({"backend_id": "orchestrator", "buckets": ["photos"], "permission": "read-only", "description": "ci", "expires_at": "2099-01-01T00:00:00Z"}),
        &alice,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let c = json_of(&r);
    let akid = c["access_key"].as_str().unwrap().to_owned();
    let secret = c["secret_key"].as_str().unwrap().to_owned();
    assert!(crate::access::ids::is_access_key(&akid));
    assert_eq!(secret.len(), 40);
    assert_eq!(c["backend_id"], "orchestrator");
    assert_eq!(c["buckets"], json!(["photos"]));
    assert_eq!(c["permission"], "read-only");
    assert_eq!(c["user_id"], uid.as_str());
    assert_eq!(c["description"], "ci");
    assert_eq!(c["enabled"], true);
    assert_eq!(c["expires_at"], "2099-01-01T00:00:00Z");
    assert_eq!(c["created_by"], uid.as_str());
    // Refusals.
    assert_eq!(
        code_of(&mint(json!({"buckets": ["photos"]}), &alice)),
        (400, "invalid_request".into())
    );
    assert_eq!(
        code_of(&mint(json!({"backend_id": "seaweed", "buckets": ["photos"]}), &alice)),
        (400, "invalid_request".into())
    );
    assert_eq!(
        code_of(&mint(json!({"backend_id": "orchestrator", "buckets": []}), &alice)),
        (400, "invalid_request".into())
    );
    assert_eq!(
        code_of(&mint(
            json!({"backend_id": "orchestrator", "buckets": ["Bad_Name"]}),
            &alice
        )),
        (400, "invalid_request".into())
    );
    assert_eq!(
        code_of(&mint(
            json!({"backend_id": "orchestrator", "buckets": ["bk1"], "expires_at": "tomorrow"}),
            &alice
        )),
        (400, "invalid_request".into())
    );
    // Listed, patched, visible to the admin, never with the secret.
    let mine = call(&e, &request("GET", "/api/me/s3-credentials", None, Some(&alice)));
    assert_eq!(json_of(&mine)["credentials"].as_array().unwrap().len(), 1);
    let path = format!("/api/me/s3-credentials/{akid}");
    let p = call(
        &e,
        &request(
            "PATCH",
            &path,
            Some(json!({"enabled": false, "buckets": ["photos", "videos"]})),
            Some(&alice),
        ),
    );
    assert_eq!(json_of(&p)["enabled"], false);
    assert_eq!(json_of(&p)["buckets"], json!(["photos", "videos"]));
    let (_, bob) = user(&e, &admin, "bob", "user");
    assert_eq!(
        code_of(&call(
            &e,
            &request("PATCH", &path, Some(json!({"enabled": true})), Some(&bob))
        )),
        (404, "not_found".into())
    );
    assert_eq!(
        code_of(&call(&e, &request("DELETE", &path, None, Some(&bob)))),
        (404, "not_found".into())
    );
    for (p, s) in [
        ("/api/me/s3-credentials", &alice),
        ("/api/admin/s3-credentials", &admin),
        ("/api/admin/s3-proxy/credentials", &admin),
    ] {
        let body = call(&e, &request("GET", p, None, Some(s))).body;
        assert!(
            !String::from_utf8_lossy(&body).contains(&secret),
            "{p} shows the secret"
        );
        assert!(String::from_utf8_lossy(&body).contains(&akid), "{p} lists the key");
    }
    // The store holds it sealed, and opens it with the key.
    let stored = block_on(crate::access::s3view::credential(&e.access.store, &akid))
        .unwrap()
        .unwrap();
    assert!(!stored.secret_sealed.contains(&secret));
    let view = block_on(crate::access::s3view::load(
        &e.access.store,
        e.access.seal.as_deref(),
        "orchestrator",
    ))
    .unwrap();
    assert!(view.credentials.is_empty(), "a disabled key is not loaded");
    call(
        &e,
        &request("PATCH", &path, Some(json!({"enabled": true})), Some(&alice)),
    );
    let view = block_on(crate::access::s3view::load(
        &e.access.store,
        e.access.seal.as_deref(),
        "orchestrator",
    ))
    .unwrap();
    assert_eq!(view.credentials[0].secret, secret);
    drop(view);
    // No secret in the store's files either.
    block_on(e.access.store.sync()).unwrap();
    for entry in walk(&e.dir) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{} holds the secret",
            entry.display()
        );
    }
    assert_eq!(call(&e, &request("DELETE", &path, None, Some(&alice))).status, 204);
    assert_eq!(
        code_of(&call(&e, &request("DELETE", &path, None, Some(&alice)))),
        (404, "not_found".into())
    );
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn secret_key_unset_and_config_managed_keys() {
    let dir = scratch();
    let store = Store::open(&dir).unwrap();
    let mut access = Access::new(AccessConfig::default(), store, None, AuditQueue::disabled());
    access.config_credentials = vec![crate::access::s3view::ConfigCredential {
        access_key: "AKIACONFIGKEY0000001".into(),
        buckets: vec!["*".into()],
        permission: crate::access::records::Permission::ReadWrite,
    }];
    block_on(super::create_local_user(&access, "admin", ADMIN_PW, Role::Admin, false))
        .unwrap()
        .unwrap();
    let e = Env { access, dir };
    let admin = login(&e, "admin", ADMIN_PW);
    let mint = json!({"backend_id": "orchestrator", "buckets": ["bk1"]});
    assert_eq!(
        code_of(&call(
            &e,
            &request("POST", "/api/admin/s3-credentials", Some(mint), Some(&admin))
        )),
        (503, "secret_key_unset".into())
    );
    let path = "/api/admin/s3-credentials/AKIACONFIGKEY0000001";
    assert_eq!(
        code_of(&call(&e, &request("DELETE", path, None, Some(&admin)))),
        (409, "yaml_managed".into())
    );
    let merged = json_of(&call(
        &e,
        &request("GET", "/api/admin/s3-proxy/credentials", None, Some(&admin)),
    ));
    assert_eq!(merged["credentials"][0]["source"], "config");
    assert_eq!(merged["credentials"][0]["access_key"], "AKIACONFIGKEY0000001");
}

#[test]
fn anonymous_bindings() {
    let e = env();
    let admin = login(&e, "admin", ADMIN_PW);
    let post = |body: Value| {
        call(
            &e,
            &request("POST", "/api/admin/s3-anonymous", Some(body), Some(&admin)),
        )
    };
    let r = post(json!({"backend_id": "orchestrator", "bucket": "public"}));
    assert_eq!(r.status, 200);
    let b = json_of(&r);
    assert_eq!(
        (b["backend_id"].as_str(), b["bucket"].as_str(), b["mode"].as_str()),
        (Some("orchestrator"), Some("public"), Some("ReadOnly"))
    );
    assert_eq!(b["per_source_ip_rps"], 20);
    assert_eq!(
        post(json!({"backend_id": "orchestrator", "bucket": "public", "per_source_ip_rps": 5})).status,
        200
    );
    assert_eq!(
        code_of(&post(
            json!({"backend_id": "orchestrator", "bucket": "public", "mode": "ReadWrite"})
        )),
        (400, "invalid_request".into())
    );
    assert_eq!(
        code_of(&post(
            json!({"backend_id": "orchestrator", "bucket": "public", "per_source_ip_rps": -1})
        )),
        (400, "invalid_request".into())
    );
    assert_eq!(
        code_of(&post(json!({"bucket": "public"}))),
        (400, "invalid_request".into())
    );
    let list = json_of(&call(
        &e,
        &request("GET", "/api/admin/s3-anonymous", None, Some(&admin)),
    ));
    assert_eq!(list["bindings"].as_array().unwrap().len(), 1);
    assert_eq!(list["bindings"][0]["per_source_ip_rps"], 5);
    let merged = json_of(&call(
        &e,
        &request("GET", "/api/admin/s3-proxy/anonymous", None, Some(&admin)),
    ));
    assert_eq!(merged["bindings"][0]["source"], "store");
    let view = block_on(crate::access::s3view::load(&e.access.store, None, "orchestrator")).unwrap();
    assert_eq!(view.bindings.len(), 1);
    assert!(view.revision >= 2, "every change moves the guard");
    let del = "/api/admin/s3-anonymous/orchestrator/public";
    assert_eq!(call(&e, &request("DELETE", del, None, Some(&admin))).status, 204);
    assert_eq!(
        code_of(&call(&e, &request("DELETE", del, None, Some(&admin)))),
        (404, "not_found".into())
    );
}

#[test]
fn audit_records_and_queries() {
    let dir = scratch();
    let store = Store::open(&dir).unwrap();
    let (audit, writer) = AuditQueue::start(store.clone()).unwrap();
    let seal = Some(Arc::new(SealKey::parse(&"42".repeat(32)).unwrap()));
    let access = Access::new(AccessConfig::default(), store, seal, audit);
    block_on(super::create_local_user(&access, "admin", ADMIN_PW, Role::Admin, false))
        .unwrap()
        .unwrap();
    let e = Env { access, dir };
    let mut bad = request(
        "POST",
        "/auth/login/local",
        Some(json!({"username": "admin", "password": "nope"})),
        None,
    );
    bad.headers.push(("user-agent".into(), "curl/8".into()));
    call(&e, &bad);
    let admin = login(&e, "admin", ADMIN_PW);
    call(
        &e,
        &request(
            "POST",
            "/api/me/s3-credentials",
            Some(json!({"backend_id": "orchestrator", "buckets": ["bk1"]})),
            Some(&admin),
        ),
    );
    let wanted = 3;
    let mut events = Value::Null;
    for _ in 0..200 {
        events = json_of(&call(&e, &request("GET", "/api/admin/audit", None, Some(&admin))));
        if events["total"].as_u64() >= Some(wanted) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(events["total"], wanted, "{events}");
    let list = events["events"].as_array().unwrap();
    assert_eq!(list[0]["action"], "s3_credential.create", "newest first");
    assert_eq!(list[1]["action"], "auth.login");
    assert_eq!(list[2]["status"], "denied");
    assert_eq!(list[2]["user_agent"], "curl/8");
    assert!(list[2]["detail"].as_str().unwrap().contains("wrong password"));
    let only = json_of(&call(
        &e,
        &request("GET", "/api/admin/audit?action=s3_&limit=5", None, Some(&admin)),
    ));
    assert_eq!(only["total"], 1);
    let csv = call(
        &e,
        &request("GET", "/api/admin/audit.csv?status=denied", None, Some(&admin)),
    );
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = String::from_utf8_lossy(&csv.body).to_string();
    assert!(text.starts_with("id,timestamp,user_id,action,"));
    assert_eq!(text.lines().count(), 2, "{text}");
    drop(e);
    let _ = writer;
}

#[test]
fn audit_csv_exports_page_by_page() {
    let e = env();
    let store = &e.access.store;
    let events: Vec<crate::access::records::AuditEvent> = (0..2500u64)
        .map(|i| crate::access::records::AuditEvent {
            id: 1_000_000 + i,
            ts_ms: 1_700_000_000_000 + i,
            action: if i % 2 == 0 { "s3.putobject" } else { "auth.login" }.into(),
            status: "ok".into(),
            ..Default::default()
        })
        .collect();
    for chunk in events.chunks(64) {
        let writes = chunk
            .iter()
            .map(|ev| {
                s3o_store::DocWrite::create(
                    crate::access::records::AUDIT,
                    &crate::access::audit::doc_id(ev.id),
                    crate::access::records::encode(ev).unwrap(),
                )
            })
            .collect();
        block_on(store.apply_docs(writes)).unwrap();
    }
    let admin = login(&e, "admin", ADMIN_PW);
    let collect = |query: &str| {
        let req = request("GET", &format!("/api/admin/audit.csv{query}"), None, Some(&admin));
        let (_, mut export) = block_on(super::open_audit_csv(&req, &e.access))
            .map_err(|r| r.status)
            .unwrap();
        let mut chunks = Vec::new();
        while let Some(c) = block_on(export.next_chunk()).unwrap() {
            chunks.push(c);
        }
        chunks
    };
    let all = collect("");
    assert!(all.len() >= 3, "header and several pages: {}", all.len());
    let text: String = all.concat();
    assert_eq!(text.lines().count(), 2501);
    assert!(text.lines().nth(1).unwrap().starts_with("1002499,"), "newest first");
    let puts: String = collect("?action=s3.").concat();
    assert_eq!(puts.lines().count(), 1251);
    let some: String = collect("?limit=10&offset=5").concat();
    assert_eq!(some.lines().count(), 11);
    assert!(some.lines().nth(1).unwrap().starts_with("1002494,"));
    // Without a session the export never starts.
    let anon = request("GET", "/api/admin/audit.csv", None, None);
    assert_eq!(
        block_on(super::open_audit_csv(&anon, &e.access))
            .err()
            .map(|r| r.status),
        Some(401)
    );
}
