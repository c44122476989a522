//! UI-managed backends (`/api/admin/backends`): S3 endpoints an admin adds, changes, tests and
//! removes through the API. Their records live in the store's `endpoints` collection with the
//! secret key sealed under the deployment's key and the endpoint's id; every change bumps the
//! guard the proxies poll, so an enabled endpoint is served (listed, probed, its buckets reached
//! directly) by every instance within a second. Backends of the configuration file are shown
//! read-only (`source: "config"`) and refused with 409 `yaml_managed`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use s3o_store::{DocWrite, Expect};

use super::dto::{rfc3339, Backend};
use super::handlers::{body, no_content};
use super::{DataApi, DataRoute, Verb};
use crate::access::records::{all, apply, bump_s3, encode, get, Endpoint, ENDPOINTS};
use crate::access::Access;
use crate::api::{api_error, audit::event, Caller};
use crate::http::{Request, Response};

/// Largest body of these routes (the seed's).
const MAX_BODY: usize = 8192;

/// An endpoint to reach: what `POST /api/admin/backends/test` probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSpec {
    /// `http(s)://host[:port]`.
    pub endpoint: String,
    /// Region to sign for (`""`: `us-east-1`).
    pub region: String,
    /// Path-style addressing.
    pub path_style: bool,
    /// Access key id.
    pub access_key: String,
    /// Secret key.
    pub secret_key: String,
}

/// A backend as the admin views show it (the seed's order; the secret is never shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdminBackend {
    id: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    endpoint: String,
    region: String,
    path_style: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key: Option<String>,
    secret_set: bool,
    enabled: bool,
    source: &'static str,
    healthy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_probe_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<String>,
}

/// The admin view of a stored endpoint, with the registry's health when it is served.
fn view(row: &Endpoint, live: Option<&Backend>) -> AdminBackend {
    AdminBackend {
        id: row.id.clone(),
        name: row.name.clone(),
        kind: row.kind.clone(),
        endpoint: row.endpoint.clone(),
        region: row.region.clone(),
        path_style: row.path_style,
        access_key: Some(row.access_key.clone()).filter(|k| !k.is_empty()),
        secret_set: row.secret_sealed.is_some(),
        enabled: row.enabled,
        source: "db",
        healthy: live.is_some_and(|b| b.healthy),
        last_error: live.and_then(|b| b.last_error.clone()),
        last_probe_at: live.and_then(|b| b.last_probe_at.clone()),
        created_at: Some(rfc3339(row.created_ms)),
        updated_at: Some(rfc3339(row.updated_ms)),
    }
}

/// The admin view of a backend of the configuration file (or the orchestrated store).
fn config_view(b: &Backend) -> AdminBackend {
    AdminBackend {
        id: b.id.clone(),
        name: b.name.clone(),
        kind: String::new(),
        endpoint: String::new(),
        region: String::new(),
        path_style: false,
        access_key: None,
        secret_set: false,
        enabled: true,
        source: "config",
        healthy: b.healthy,
        last_error: b.last_error.clone(),
        last_probe_at: b.last_probe_at.clone(),
        created_at: None,
        updated_at: None,
    }
}

/// Checks an endpoint URL as the seed does; the message names what is wrong.
pub fn check_endpoint(url: &str) -> Result<String, &'static str> {
    let url = url.trim();
    if url.is_empty() {
        return Err("endpoint is required");
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("endpoint must be a valid URL");
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err("endpoint scheme must be http or https");
    }
    if rest.contains(['?', '#']) {
        return Err("endpoint must not include a query string or fragment");
    }
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    if !path.is_empty() {
        return Err("endpoint must not include a path");
    }
    if authority.contains('@') {
        return Err("endpoint must not include credentials; use access_key/secret_key");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return Err("endpoint must be a valid URL");
        };
        if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return Err("endpoint must be a valid URL");
        }
        match after {
            "" => (addr, None),
            p => match p.strip_prefix(':') {
                Some(p) => (addr, Some(p)),
                None => return Err("endpoint must be a valid URL"),
            },
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let host_ok = authority.starts_with('[')
        || host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    if host.is_empty() || !host_ok {
        return Err("endpoint must be a valid URL");
    }
    if let Some(p) = port {
        if !p.parse::<u16>().is_ok_and(|n| n >= 1) {
            return Err("endpoint port must be a number between 1 and 65535");
        }
    }
    Ok(format!("{}://{authority}", scheme.to_ascii_lowercase()))
}

/// How to reach an endpoint, as the create and test bodies give it.
#[derive(Deserialize)]
struct Reach {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    path_style: Option<bool>,
    #[serde(default)]
    access_key: String,
    #[serde(default)]
    secret_key: String,
}

impl Reach {
    /// Its driver and the endpoint it names, checked as the seed checks them (path style by
    /// default).
    fn checked(self) -> Result<(String, EndpointSpec), Response> {
        let endpoint = check_endpoint(&self.endpoint).map_err(bad)?;
        if self.access_key.is_empty() || self.secret_key.is_empty() {
            return Err(bad("access_key and secret_key are required"));
        }
        check_credentials(self.region.as_deref().unwrap_or(""), &self.access_key)?;
        let kind = self.kind.filter(|k| !k.is_empty()).unwrap_or_else(|| "s3v4".into());
        if kind != "s3v4" {
            return Err(bad(&format!("unknown backend type {kind:?}")));
        }
        let spec = EndpointSpec {
            endpoint,
            region: self.region.unwrap_or_default(),
            path_style: self.path_style.unwrap_or(true),
            access_key: self.access_key,
            secret_key: self.secret_key,
        };
        Ok((kind, spec))
    }
}

/// The region and access key go into every signed request: a region of `a-z 0-9 -`, an access
/// key of visible ASCII (at most 128 bytes).
fn check_credentials(region: &str, access_key: &str) -> Result<(), Response> {
    let region_ok = region.len() <= 64 && region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !region_ok {
        return Err(bad("region must be letters, digits and '-'"));
    }
    if access_key.len() > 128 || !access_key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("access_key must be visible ASCII characters"));
    }
    Ok(())
}

/// Whether `id` is an endpoint id: 1-64 of `a-z 0-9 _ -`, starting alphanumeric.
fn id_ok(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

fn store_fail(what: &str) -> Response {
    api_error(500, "internal", what)
}

fn not_found() -> Response {
    api_error(404, "not_found", "backend not found")
}

fn bad(m: &str) -> Response {
    api_error(400, "bad_request", m)
}

/// Answers `/api/admin/backends*` (admin only; the gate ran).
pub(super) async fn handle(
    route: DataRoute,
    req: &Request,
    access: &Access,
    caller: &Caller,
    data: &dyn DataApi,
) -> Response {
    let run = async {
        match route {
            DataRoute::AdminBackends => list(access, data).await,
            DataRoute::AdminBackendCreate => create(req, access, caller, data).await,
            DataRoute::AdminBackendTest => test(req, access, caller, data).await,
            DataRoute::AdminBackend(bid, Verb::Get) => one(&bid, access, data).await,
            DataRoute::AdminBackend(bid, Verb::Put) => patch(&bid, req, access, caller, data).await,
            DataRoute::AdminBackend(bid, Verb::Delete) => remove(&bid, req, access, caller, data).await,
            _ => Err(api_error(404, "not_found", "not found")),
        }
    };
    match run.await {
        Ok(r) | Err(r) => r,
    }
}

/// The stored endpoints.
async fn rows(access: &Access) -> Result<Vec<(Endpoint, u64)>, Response> {
    all::<Endpoint>(&access.store, ENDPOINTS, "")
        .await
        .map_err(|_| store_fail("could not list endpoints"))
}

async fn list(access: &Access, data: &dyn DataApi) -> Result<Response, Response> {
    let rows = rows(access).await?;
    let mut registry = data.backends().await;
    registry.sort_by(|a, b| a.id.cmp(&b.id));
    let mut out: Vec<AdminBackend> = registry
        .iter()
        .map(|b| match rows.iter().find(|(r, _)| r.id == b.id) {
            Some((row, _)) => view(row, Some(b)),
            None => config_view(b),
        })
        .collect();
    for (row, _) in &rows {
        if !registry.iter().any(|b| b.id == row.id) {
            out.push(view(row, None));
        }
    }
    Ok(Response::json(200, &json!({ "backends": out })))
}

async fn one(bid: &str, access: &Access, data: &dyn DataApi) -> Result<Response, Response> {
    let row = get::<Endpoint>(&access.store, ENDPOINTS, bid)
        .await
        .map_err(|_| store_fail("could not load endpoint"))?;
    let live = data.backends().await.into_iter().find(|b| b.id == bid);
    let shown = match (row, &live) {
        (Some((row, _)), live) => view(&row, live.as_ref()),
        (None, Some(b)) => config_view(b),
        (None, None) => return Err(not_found()),
    };
    Ok(Response::json(200, &shown))
}

/// 503 `secret_key_unset` when secrets cannot be sealed.
fn need_seal(access: &Access) -> Result<&crate::access::seal::SealKey, Response> {
    access.seal.as_deref().ok_or_else(|| {
        api_error(
            503,
            "secret_key_unset",
            "set the access secret_key to manage endpoints from the UI",
        )
    })
}

fn audit(req: &Request, access: &Access, caller: &Caller, action: &str, bid: &str, detail: Value) {
    let mut e = event(req, access, &caller.user.id, action);
    e.backend = bid.to_owned();
    e.detail = detail.to_string();
    access.audit.record(e);
}

async fn create(req: &Request, access: &Access, caller: &Caller, data: &dyn DataApi) -> Result<Response, Response> {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        id: String,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        enabled: Option<bool>,
        #[serde(flatten)]
        reach: Reach,
    }
    let seal = need_seal(access)?;
    let b: Body = body(req, MAX_BODY)?;
    let id = b.id.trim().to_ascii_lowercase();
    if !id_ok(&id) {
        return Err(bad(
            "id must be 1-64 chars of lowercase letters, digits, '-' or '_' starting alnum",
        ));
    }
    let (kind, spec) = b.reach.checked()?;
    if data.config_ids().contains(&id) {
        return Err(api_error(
            409,
            "yaml_managed",
            "an endpoint with this id is defined in the configuration file; choose a different id",
        ));
    }
    let sealed = seal
        .seal(&id, spec.secret_key.as_bytes())
        .map_err(|_| store_fail("could not seal secret"))?;
    let now = access.now();
    let row = Endpoint {
        name: b.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| id.clone()),
        id: id.clone(),
        kind,
        endpoint: spec.endpoint,
        region: spec.region,
        path_style: spec.path_style,
        access_key: spec.access_key,
        secret_sealed: Some(sealed),
        enabled: b.enabled.unwrap_or(true),
        created_ms: now,
        created_by: Some(caller.user.id.clone()),
        updated_ms: now,
        updated_by: Some(caller.user.id.clone()),
    };
    let value = encode(&row).map_err(|_| store_fail("could not save backend"))?;
    let written = apply(&access.store, vec![DocWrite::create(ENDPOINTS, &id, value), bump_s3()])
        .await
        .map_err(|_| store_fail("could not save backend"))?;
    if !written {
        return Err(api_error(409, "id_taken", "an endpoint with this id already exists"));
    }
    (access.on_s3_change)();
    let detail = json!({ "endpoint": row.endpoint, "region": row.region, "type": row.kind });
    audit(req, access, caller, "backend.create", &id, detail);
    Ok(Response::json(201, &view(&row, None)))
}

async fn test(req: &Request, access: &Access, caller: &Caller, data: &dyn DataApi) -> Result<Response, Response> {
    let reach: Reach = body(req, MAX_BODY)?;
    let (_, spec) = reach.checked()?;
    let (error, latency_ms) = data.test_endpoint(&spec).await;
    let healthy = error.is_none();
    audit(
        req,
        access,
        caller,
        "backend.test",
        "",
        json!({ "endpoint": spec.endpoint, "healthy": healthy }),
    );
    let mut out = json!({ "healthy": healthy, "latency_ms": latency_ms });
    if let Some(e) = error {
        out["error"] = json!(e);
    }
    Ok(Response::json(200, &out))
}

/// 409 `yaml_managed` for a backend of the configuration file.
fn refuse_config(bid: &str, data: &dyn DataApi, what: &str) -> Result<(), Response> {
    if data.config_ids().iter().any(|c| c == bid) {
        return Err(api_error(
            409,
            "yaml_managed",
            &format!("this endpoint is defined in the configuration file; {what}"),
        ));
    }
    Ok(())
}

async fn patch(
    bid: &str,
    req: &Request,
    access: &Access,
    caller: &Caller,
    data: &dyn DataApi,
) -> Result<Response, Response> {
    #[derive(Deserialize)]
    struct Body {
        name: Option<String>,
        endpoint: Option<String>,
        region: Option<String>,
        path_style: Option<bool>,
        access_key: Option<String>,
        secret_key: Option<String>,
        enabled: Option<bool>,
    }
    let seal = need_seal(access)?;
    refuse_config(bid, data, "edit the file and restart")?;
    let b: Body = body(req, MAX_BODY)?;
    let Some((mut row, revision)) = get::<Endpoint>(&access.store, ENDPOINTS, bid)
        .await
        .map_err(|_| store_fail("could not load backend"))?
    else {
        return Err(not_found());
    };
    let mut fields = Vec::new();
    if let Some(name) = b.name {
        row.name = if name.trim().is_empty() { row.id.clone() } else { name };
        fields.push("name");
    }
    if let Some(endpoint) = b.endpoint {
        row.endpoint = check_endpoint(&endpoint).map_err(bad)?;
        fields.push("endpoint");
    }
    if let Some(region) = b.region {
        row.region = region;
        fields.push("region");
    }
    if let Some(p) = b.path_style {
        row.path_style = p;
        fields.push("path_style");
    }
    if let Some(k) = b.access_key {
        row.access_key = k;
        fields.push("access_key");
    }
    let secret = match b.secret_key {
        Some(s) => {
            fields.push("secret_key");
            s
        }
        None => {
            let opened = row.secret_sealed.as_deref().and_then(|s| seal.open(&row.id, s));
            match opened.and_then(|s| String::from_utf8(s).ok()) {
                Some(s) => s,
                None => return Err(store_fail("stored secret could not be unsealed; rotate the secret_key")),
            }
        }
    };
    if let Some(e) = b.enabled {
        row.enabled = e;
        fields.push("enabled");
    }
    row.secret_sealed = Some(
        seal.seal(&row.id, secret.as_bytes())
            .map_err(|_| store_fail("could not seal secret"))?,
    );
    if row.access_key.is_empty() || secret.is_empty() {
        return Err(bad("s3v4: access and secret keys are required"));
    }
    check_credentials(&row.region, &row.access_key)?;
    row.updated_ms = access.now();
    row.updated_by = Some(caller.user.id.clone());
    let value = encode(&row).map_err(|_| store_fail("could not save backend"))?;
    let written = apply(
        &access.store,
        vec![DocWrite::replace(ENDPOINTS, bid, revision, value), bump_s3()],
    )
    .await
    .map_err(|_| store_fail("could not save backend"))?;
    if !written {
        return Err(api_error(409, "conflict", "the backend changed meanwhile; retry"));
    }
    (access.on_s3_change)();
    audit(req, access, caller, "backend.update", bid, json!({ "fields": fields }));
    Ok(Response::json(200, &view(&row, None)))
}

async fn remove(
    bid: &str,
    req: &Request,
    access: &Access,
    caller: &Caller,
    data: &dyn DataApi,
) -> Result<Response, Response> {
    refuse_config(bid, data, "remove it from the file instead")?;
    let written = apply(
        &access.store,
        vec![DocWrite::delete(ENDPOINTS, bid, Expect::Present), bump_s3()],
    )
    .await
    .map_err(|_| store_fail("could not delete backend"))?;
    if !written {
        return Err(not_found());
    }
    (access.on_s3_change)();
    audit(req, access, caller, "backend.delete", bid, Value::Null);
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked_as_the_seed_does() {
        assert_eq!(
            check_endpoint(" http://127.0.0.1:9000/ "),
            Ok("http://127.0.0.1:9000".into())
        );
        assert_eq!(
            check_endpoint("HTTPS://s3.example.com"),
            Ok("https://s3.example.com".into())
        );
        assert_eq!(check_endpoint("http://[::1]:8333"), Ok("http://[::1]:8333".into()));
        for (url, why) in [
            ("", "endpoint is required"),
            ("s3.example.com", "endpoint must be a valid URL"),
            ("ftp://h", "endpoint scheme must be http or https"),
            ("http://h/bucket", "endpoint must not include a path"),
            ("http://h?x=1", "endpoint must not include a query string or fragment"),
            ("http://h#f", "endpoint must not include a query string or fragment"),
            (
                "http://u:p@h",
                "endpoint must not include credentials; use access_key/secret_key",
            ),
            ("http://h:0", "endpoint port must be a number between 1 and 65535"),
            ("http://h:70000", "endpoint port must be a number between 1 and 65535"),
            ("http://h:x", "endpoint port must be a number between 1 and 65535"),
            ("http://", "endpoint must be a valid URL"),
            ("http://h h", "endpoint must be a valid URL"),
        ] {
            assert_eq!(check_endpoint(url), Err(why), "{url}");
        }
        assert!(id_ok("minio-1") && id_ok("0a_b") && !id_ok("-a") && !id_ok("A") && !id_ok(""));
        assert!(!id_ok(&"a".repeat(65)) && id_ok(&"a".repeat(64)));
    }
}
