//! `admin/openapi-api.json` against the routers of the seed-003 API ([`api_route`] and
//! [`crate::data::route`]): every documented operation routes to the variant it documents, and
//! every route is documented. The table below is one exhaustive `match` over [`ApiRoute`] (and
//! the [`DataRoute`]s inside it), so a new route does not compile until it is listed here, and
//! this test fails until the document describes it.

use std::collections::BTreeSet;

use serde_json::Value;

use super::tests::{call, env, request};
use super::{api_route, ApiRoute, OPENAPI_API_JSON};
use crate::data::{DataRoute as D, Setting as St, Verb as V};

/// Declares `templates_of` (the (method, path template) pairs each route answers) and `ALL`
/// (every pair) from one table whose patterns must cover every route.
macro_rules! route_table {
    ($($pat:pat => [$(($m:literal, $t:literal)),* $(,)?]),* $(,)?) => {
        fn templates_of(r: &ApiRoute) -> &'static [(&'static str, &'static str)] {
            match r {
                $($pat => &[$(($m, $t)),*],)*
            }
        }
        const ALL: &[(&str, &str)] = &[$($(($m, $t),)*)*];
    };
}

route_table! {
    ApiRoute::Healthz => [("GET", "/healthz")],
    ApiRoute::OpenApi => [("GET", "/api/openapi.json")],
    ApiRoute::LoginLocal => [("POST", "/auth/login/local")],
    ApiRoute::Logout => [("POST", "/auth/logout")],
    ApiRoute::LoginOidc => [("GET", "/auth/login/oidc")],
    ApiRoute::Callback => [("GET", "/auth/callback")],
    ApiRoute::AuthConfig => [("GET", "/api/auth/config")],
    ApiRoute::Me => [("GET", "/api/me")],
    ApiRoute::MePassword => [("POST", "/api/me/password")],
    ApiRoute::MeCreds => [("GET", "/api/me/s3-credentials")],
    ApiRoute::MeCredsCreate => [("POST", "/api/me/s3-credentials")],
    ApiRoute::MeCredsPatch(_) => [("PATCH", "/api/me/s3-credentials/{akid}")],
    ApiRoute::MeCredsDelete(_) => [("DELETE", "/api/me/s3-credentials/{akid}")],
    ApiRoute::Users => [("GET", "/api/admin/users")],
    ApiRoute::UserCreate => [("POST", "/api/admin/users")],
    ApiRoute::User(_) => [("GET", "/api/admin/users/{id}")],
    ApiRoute::UserPatch(_) => [("PATCH", "/api/admin/users/{id}")],
    ApiRoute::UserDelete(_) => [("DELETE", "/api/admin/users/{id}")],
    ApiRoute::UserReset(_) => [("POST", "/api/admin/users/{id}/reset-password")],
    ApiRoute::UserUnlock(_) => [("POST", "/api/admin/users/{id}/unlock")],
    ApiRoute::Creds => [("GET", "/api/admin/s3-credentials")],
    ApiRoute::CredsCreate => [("POST", "/api/admin/s3-credentials")],
    ApiRoute::CredsPatch(_) => [("PATCH", "/api/admin/s3-credentials/{akid}")],
    ApiRoute::CredsDelete(_) => [("DELETE", "/api/admin/s3-credentials/{akid}")],
    ApiRoute::Anon => [("GET", "/api/admin/s3-anonymous")],
    ApiRoute::AnonUpsert => [("POST", "/api/admin/s3-anonymous")],
    ApiRoute::AnonDelete(..) => [("DELETE", "/api/admin/s3-anonymous/{bid}/{bucket}")],
    ApiRoute::ProxyCreds => [("GET", "/api/admin/s3-proxy/credentials")],
    ApiRoute::ProxyAnon => [("GET", "/api/admin/s3-proxy/anonymous")],
    ApiRoute::Audit => [("GET", "/api/admin/audit")],
    ApiRoute::AuditCsv => [("GET", "/api/admin/audit.csv")],
    ApiRoute::Data(D::Backends) => [("GET", "/api/backends")],
    ApiRoute::Data(D::Backend(_)) => [("GET", "/api/backends/{bid}")],
    ApiRoute::Data(D::BackendHealth(_)) => [("GET", "/api/backends/{bid}/health")],
    ApiRoute::Data(D::Buckets(_)) => [("GET", "/api/backends/{bid}/buckets")],
    ApiRoute::Data(D::CreateBucket(_)) => [("POST", "/api/backends/{bid}/buckets")],
    ApiRoute::Data(D::DeleteBucket(_)) => [("DELETE", "/api/backends/{bid}/buckets/{bucket}")],
    ApiRoute::Data(D::Setting(_, St::Versioning, V::Get)) =>
        [("GET", "/api/backends/{bid}/buckets/{bucket}/versioning")],
    ApiRoute::Data(D::Setting(_, St::Versioning, V::Put)) =>
        [("PUT", "/api/backends/{bid}/buckets/{bucket}/versioning")],
    ApiRoute::Data(D::Setting(_, St::Cors, V::Get)) => [("GET", "/api/backends/{bid}/buckets/{bucket}/cors")],
    ApiRoute::Data(D::Setting(_, St::Cors, V::Put)) => [("PUT", "/api/backends/{bid}/buckets/{bucket}/cors")],
    ApiRoute::Data(D::Setting(_, St::Policy, V::Get)) => [("GET", "/api/backends/{bid}/buckets/{bucket}/policy")],
    ApiRoute::Data(D::Setting(_, St::Policy, V::Put)) => [("PUT", "/api/backends/{bid}/buckets/{bucket}/policy")],
    ApiRoute::Data(D::Setting(_, St::Policy, V::Delete)) =>
        [("DELETE", "/api/backends/{bid}/buckets/{bucket}/policy")],
    ApiRoute::Data(D::Setting(_, St::Lifecycle, V::Get)) =>
        [("GET", "/api/backends/{bid}/buckets/{bucket}/lifecycle")],
    ApiRoute::Data(D::Setting(_, St::Lifecycle, V::Put)) =>
        [("PUT", "/api/backends/{bid}/buckets/{bucket}/lifecycle")],
    ApiRoute::Data(D::Setting(_, St::Quota, V::Get)) => [("GET", "/api/backends/{bid}/buckets/{bucket}/quota")],
    ApiRoute::Data(D::Setting(_, St::Quota, V::Put)) => [("PUT", "/api/backends/{bid}/buckets/{bucket}/quota")],
    ApiRoute::Data(D::Setting(_, St::Quota, V::Delete)) =>
        [("DELETE", "/api/backends/{bid}/buckets/{bucket}/quota")],
    ApiRoute::Data(D::Setting(_, St::SizeTracking, V::Get)) =>
        [("GET", "/api/backends/{bid}/buckets/{bucket}/size-tracking")],
    ApiRoute::Data(D::Setting(_, St::SizeTracking, V::Put)) =>
        [("PUT", "/api/backends/{bid}/buckets/{bucket}/size-tracking")],
    // Settings without a DELETE: never routed (405).
    ApiRoute::Data(D::Setting(_, St::Versioning | St::Cors | St::Lifecycle | St::SizeTracking, V::Delete)) => [],
    ApiRoute::Data(D::RecomputeQuota(_)) => [("POST", "/api/backends/{bid}/buckets/{bucket}/quota/recompute")],
    ApiRoute::Data(D::PrefixSize(_)) => [("GET", "/api/backends/{bid}/buckets/{bucket}/prefix-size")],
    ApiRoute::Data(D::Objects(_)) => [("GET", "/api/backends/{bid}/buckets/{bucket}/objects")],
    ApiRoute::Data(D::DeleteObjects(_)) => [("POST", "/api/backends/{bid}/buckets/{bucket}/objects/delete")],
    ApiRoute::Data(D::DeletePrefix(_)) => [("POST", "/api/backends/{bid}/buckets/{bucket}/objects/delete-prefix")],
    ApiRoute::Data(D::Folder(_)) => [("POST", "/api/backends/{bid}/buckets/{bucket}/objects/folder")],
    ApiRoute::Data(D::CopyPrefix(_)) => [("POST", "/api/backends/{bid}/buckets/{bucket}/objects/copy-prefix")],
    ApiRoute::Data(D::Zip(_)) => [("GET", "/api/backends/{bid}/buckets/{bucket}/objects/zip")],
    ApiRoute::Data(D::Download(_)) => [("GET", "/api/backends/{bid}/buckets/{bucket}/object")],
    ApiRoute::Data(D::ObjectInfo(_)) => [
        ("HEAD", "/api/backends/{bid}/buckets/{bucket}/object"),
        ("GET", "/api/backends/{bid}/buckets/{bucket}/object/info"),
    ],
    ApiRoute::Data(D::Upload(_)) => [("POST", "/api/backends/{bid}/buckets/{bucket}/object")],
    ApiRoute::Data(D::DeleteObject(_)) => [("DELETE", "/api/backends/{bid}/buckets/{bucket}/object")],
    ApiRoute::Data(D::CopyObject(_)) => [("POST", "/api/backends/{bid}/buckets/{bucket}/object/copy")],
    ApiRoute::Data(D::Tags(_)) => [("GET", "/api/backends/{bid}/buckets/{bucket}/object/tags")],
    ApiRoute::Data(D::SetTags(_)) => [("PUT", "/api/backends/{bid}/buckets/{bucket}/object/tags")],
    ApiRoute::Data(D::SetMetadata(_)) => [("PUT", "/api/backends/{bid}/buckets/{bucket}/object/metadata")],
    ApiRoute::Data(D::Versions(_)) => [("GET", "/api/backends/{bid}/buckets/{bucket}/object/versions")],
    ApiRoute::Data(D::Uploads(_)) => [("GET", "/api/backends/{bid}/buckets/{bucket}/multipart")],
    ApiRoute::Data(D::Initiate(_)) => [("POST", "/api/backends/{bid}/buckets/{bucket}/multipart")],
    ApiRoute::Data(D::Abort(_)) => [("DELETE", "/api/backends/{bid}/buckets/{bucket}/multipart")],
    ApiRoute::Data(D::Complete(_)) => [("POST", "/api/backends/{bid}/buckets/{bucket}/multipart/complete")],
    ApiRoute::Data(D::Part(..)) => [("PUT", "/api/backends/{bid}/buckets/{bucket}/multipart/parts/{part}")],
    ApiRoute::Data(D::Shares) => [("GET", "/api/shares")],
    ApiRoute::Data(D::CreateShare) => [("POST", "/api/shares")],
    ApiRoute::Data(D::RevokeShare(_)) => [("DELETE", "/api/shares/{id}")],
    ApiRoute::Data(D::Pins) => [("GET", "/api/me/pins")],
    ApiRoute::Data(D::Pin) => [("POST", "/api/me/pins")],
    ApiRoute::Data(D::Unpin(_)) => [("DELETE", "/api/me/pins/{bid}/{bucket}")],
    ApiRoute::Data(D::Search) => [("GET", "/api/search")],
    ApiRoute::Data(D::Dashboard) => [("GET", "/api/admin/dashboard")],
    ApiRoute::Data(D::BackendsHealth) => [("GET", "/api/admin/backends/health")],
    ApiRoute::Data(D::AdminBackends) => [("GET", "/api/admin/backends")],
    ApiRoute::Data(D::AdminBackendCreate) => [("POST", "/api/admin/backends")],
    ApiRoute::Data(D::AdminBackendTest) => [("POST", "/api/admin/backends/test")],
    ApiRoute::Data(D::AdminBackend(_, V::Get)) => [("GET", "/api/admin/backends/{bid}")],
    ApiRoute::Data(D::AdminBackend(_, V::Put)) => [("PATCH", "/api/admin/backends/{bid}")],
    ApiRoute::Data(D::AdminBackend(_, V::Delete)) => [("DELETE", "/api/admin/backends/{bid}")],
    ApiRoute::Data(D::ShareInfo(_)) => [("GET", "/s/{code}/info")],
    ApiRoute::Data(D::ShareUnlock(_)) => [("POST", "/s/{code}/unlock")],
    ApiRoute::Data(D::ShareRaw(_)) => [("GET", "/s/{code}/raw")],
}

/// Served on the admin port beside the two routers (seed 003 names them): `/readyz` by the
/// handlers themselves, `/metrics` by seed 000's router.
const BESIDE: &[(&str, &str)] = &[("GET", "/readyz"), ("GET", "/metrics")];

/// The routes that answer without a session (the public share pages are data routes).
fn is_public(r: &ApiRoute) -> bool {
    match r {
        ApiRoute::Healthz
        | ApiRoute::OpenApi
        | ApiRoute::LoginLocal
        | ApiRoute::Logout
        | ApiRoute::LoginOidc
        | ApiRoute::Callback
        | ApiRoute::AuthConfig => true,
        ApiRoute::Data(d) => d.is_public(),
        _ => false,
    }
}

/// A template with concrete parameter values (percent-encoded where it matters).
fn concrete(template: &str) -> String {
    template
        .replace("{bid}", "orchestrator")
        .replace("{bucket}", "my%20bucket")
        .replace("{akid}", "AKIAAAAAAAAAAAAAAAAA")
        .replace("{id}", "01HZZZZZZZZZZZZZZZZZZZZZZZ")
        .replace("{code}", "q1w2e3r4t5y6u7")
        .replace("{part}", "3")
}

fn doc() -> Value {
    serde_json::from_str(OPENAPI_API_JSON).expect("admin/openapi-api.json is JSON")
}

/// Every (METHOD, template) the document lists.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "put", "post", "delete", "patch", "head", "options", "trace"].contains(&method.as_str()) {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn every_route_is_documented_and_every_documented_operation_routes() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented = documented(&doc);
    let table: BTreeSet<(String, String)> = ALL
        .iter()
        .chain(BESIDE)
        .map(|&(m, t)| (m.to_owned(), t.to_owned()))
        .collect();
    assert_eq!(
        ALL.len(),
        table.len() - BESIDE.len(),
        "a (method, template) listed twice"
    );
    let missing: Vec<_> = table.difference(&documented).collect();
    assert!(missing.is_empty(), "routes not in admin/openapi-api.json: {missing:?}");
    let extra: Vec<_> = documented.difference(&table).collect();
    assert!(extra.is_empty(), "documented operations no router answers: {extra:?}");
    // Each listed pair, with concrete parameters, routes to the variant it is listed under.
    for &(m, t) in ALL {
        let path = concrete(t);
        match api_route(m, &path) {
            Some(Ok(r)) => assert!(templates_of(&r).contains(&(m, t)), "{m} {path} routed to {r:?}"),
            Some(Err(resp)) => panic!("{m} {path} answered {}", resp.status),
            None => panic!("{m} {path} is not a path of the seed-003 API"),
        }
    }
    // The routes beside the routers.
    assert!(api_route("GET", "/readyz").is_none() && api_route("GET", "/metrics").is_none());
    assert_eq!(
        crate::route::route(crate::route::DEFAULT_UI_PATH, "GET", "/metrics").ok(),
        Some(crate::route::Route::Metrics)
    );
    // The trailing-slash spellings the seed's SPA uses route as the documented paths do.
    for (alias, canonical) in [
        ("/api/shares/", "/api/shares"),
        (
            "/api/backends/o/buckets/b/multipart/",
            "/api/backends/o/buckets/b/multipart",
        ),
    ] {
        for m in ["GET", "POST"] {
            let (a, c) = (api_route(m, alias), api_route(m, canonical));
            assert!(matches!(&a, Some(Ok(_))), "{m} {alias}");
            assert_eq!(a.map(|r| r.ok()), c.map(|r| r.ok()), "{m} {alias}");
        }
    }
}

#[test]
fn every_operation_has_an_id_security_and_its_error_responses() {
    let doc = doc();
    let paths = doc["paths"].as_object().unwrap();
    let mut ids = BTreeSet::new();
    for &(m, t) in ALL.iter().chain(BESIDE) {
        let op = &paths[t][m.to_lowercase()];
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{m} {t}: operationId"));
        assert!(ids.insert(id.to_owned()), "{m} {t}: operationId {id} twice");
        let security = op["security"].as_array().unwrap_or_else(|| panic!("{m} {t}: security"));
        let responses = op["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{m} {t}: responses"));
        assert!(
            responses.keys().any(|c| c.starts_with('2') || c.starts_with('3')),
            "{m} {t}: success"
        );
        let public = match api_route(m, &concrete(t)) {
            Some(Ok(r)) => is_public(&r),
            _ => true, // /readyz, /metrics
        };
        if public {
            assert!(security.is_empty(), "{m} {t}: public, yet security {security:?}");
            continue;
        }
        // A session on every gated route, the CSRF header on every mutation.
        let want: Value = if matches!(m, "GET" | "HEAD") {
            serde_json::json!([{ "session": [] }])
        } else {
            serde_json::json!([{ "session": [], "csrf": [] }])
        };
        assert_eq!(op["security"], want, "{m} {t}");
        for code in ["401", "403", "429", "500", "503"] {
            assert!(responses.contains_key(code), "{m} {t}: no {code}");
        }
        // 501 `not_supported`: what a backend's bucket may not serve (a filesystem backend, a
        // real bucket's settings, versions, multipart...).
        if t.starts_with("/api/backends/{bid}/buckets") {
            assert!(responses.contains_key("501"), "{m} {t}: no 501");
        }
        if op.get("requestBody").is_some() {
            assert!(responses.contains_key("400"), "{m} {t}: a body but no 400");
        }
    }
}

#[test]
fn every_ref_resolves() {
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
    let doc = doc();
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 100);
    for r in all {
        let ptr = r.strip_prefix('#').unwrap_or_else(|| panic!("external $ref {r}"));
        assert!(doc.pointer(ptr).is_some(), "dangling {r}");
    }
    // Every documented path parameter is declared by its operation.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let declared: BTreeSet<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| match p.get("$ref").and_then(Value::as_str) {
                    Some(r) => doc.pointer(r.trim_start_matches('#')).cloned().unwrap_or_default(),
                    None => p.clone(),
                })
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap_or_default().to_owned())
                .collect();
            let named: BTreeSet<String> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(str::to_owned)
                .collect();
            assert_eq!(declared, named, "{method} {path}");
        }
    }
}

#[test]
fn the_document_is_served_without_a_session() {
    let e = env();
    let resp = call(&e, &request("GET", "/api/openapi.json", None, None));
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let served: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(served, doc());
    let resp = call(&e, &request("POST", "/api/openapi.json", None, None));
    assert_eq!(resp.status, 405);
}
