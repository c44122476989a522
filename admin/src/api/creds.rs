//! Virtual S3 credentials and anonymous bindings: self-service `…/api/me/s3-credentials`,
//! admin `…/api/admin/s3-credentials` and `…/api/admin/s3-anonymous`, and the read-only merged
//! views `…/api/admin/s3-proxy/{credentials,anonymous}` (store-managed and config-managed, each
//! tagged with its `source`).
//!
//! A new credential's secret is shown once, in the 201 answer, and stored only sealed. Every
//! change also rewrites the `s3` guard in the same batch, which is how every proxy learns to
//! reload; this instance is told at once through [`Access::on_s3_change`].

use serde::{Deserialize, Serialize};
use serde_json::json;

use s3o_store::{DocWrite, Expect};

use super::audit::event;
use super::session::Caller;
use super::{api_error, body, from_error, ApiRoute};
use crate::access::ids::{new_access_key, new_secret};
use crate::access::records::{
    self, all, bump_s3, encode, get, Binding, Credential, Permission, Role, ANON, CREDS, CREDS_BY_USER,
};
use crate::access::Access;
use crate::error::Error;
use crate::http::{Request, Response};
use crate::time::{parse_rfc3339_ms as parse_rfc3339, Timestamp};

/// Most buckets in one credential's scope.
const MAX_SCOPE: usize = 256;
/// Longest description.
const MAX_DESCRIPTION: usize = 1024;

/// A credential as the API shows it (`secret_key` only when just created).
#[derive(Serialize)]
struct CredView<'a> {
    access_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_key: Option<&'a str>,
    backend_id: &'a str,
    buckets: &'a [String],
    permission: Permission,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_by: Option<&'a str>,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'static str>,
}

fn ts(ms: u64) -> String {
    Timestamp(ms - ms % 1000).to_rfc3339()
}

fn cred_view<'a>(c: &'a Credential, secret: Option<&'a str>, source: Option<&'static str>) -> CredView<'a> {
    CredView {
        access_key: &c.access_key,
        secret_key: secret,
        backend_id: &c.backend_id,
        buckets: &c.buckets,
        permission: c.permission,
        user_id: c.user_id.as_deref(),
        description: c.description.as_deref(),
        enabled: c.enabled,
        expires_at: c.expires_ms.map(ts),
        created_at: ts(c.created_ms),
        created_by: c.created_by.as_deref(),
        updated_at: ts(c.updated_ms),
        updated_by: c.updated_by.as_deref(),
        source,
    }
}

fn invalid(msg: &str) -> Response {
    api_error(400, "invalid_request", msg)
}

fn cred_not_found() -> Response {
    api_error(404, "not_found", "credential not found")
}

/// 409 `yaml_managed` for a credential of the configuration file, which only it changes.
fn config_managed(access: &Access, akid: &str) -> Option<Response> {
    access.config_credentials.iter().any(|c| c.access_key == akid).then(|| {
        api_error(
            409,
            "yaml_managed",
            "this credential is defined in the configuration file; change it there",
        )
    })
}

/// 409 for a record that changed between its read and its write.
fn changed_meanwhile() -> Response {
    api_error(409, "conflict", "the credential changed meanwhile; try again")
}

/// After a committed credential or binding change: this instance reloads at once (the others
/// see the guard move), and `action` on `(backend, bucket)` is audited with `detail`, marked
/// `"self": true` for a self-service change.
fn changed(
    req: &Request,
    access: &Access,
    caller: &Caller,
    (action, backend, bucket): (&str, &str, &str),
    detail: Option<serde_json::Value>,
    own: bool,
) {
    (access.on_s3_change)();
    let mut e = event(req, access, &caller.user.id, action);
    e.backend = backend.to_owned();
    e.bucket = bucket.to_owned();
    if let Some(mut d) = detail {
        if own {
            d["self"] = json!(true);
        }
        e.detail = d.to_string();
    }
    access.audit.record(e);
}

fn no_content() -> Response {
    Response {
        status: 204,
        headers: Vec::new(),
        body: Default::default(),
    }
}

/// Whether `name` can be a bucket name (S3's rules, loosely: 3–63 of `a-z0-9.-`).
fn bucket_name_ok(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

#[derive(Deserialize)]
struct NewCred {
    #[serde(default)]
    backend_id: String,
    #[serde(default)]
    buckets: Vec<String>,
    #[serde(default)]
    permission: Option<Permission>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
}

/// Checks a scope: every name a bucket name, at most [`MAX_SCOPE`].
fn check_scope(buckets: &[String]) -> Result<(), Response> {
    if buckets.len() > MAX_SCOPE {
        return Err(invalid(&format!("at most {MAX_SCOPE} buckets per credential")));
    }
    match buckets.iter().find(|b| !bucket_name_ok(b)) {
        Some(b) => Err(invalid(&format!("{b:?} is not a bucket name"))),
        None => Ok(()),
    }
}

/// Mints a credential for `owner` (self-service when `own`).
async fn create(req: &Request, access: &Access, caller: &Caller, own: bool) -> Result<Response, Error> {
    let Some(seal) = &access.seal else {
        return Ok(api_error(
            503,
            "secret_key_unset",
            "no secret key is configured to seal credentials",
        ));
    };
    let form: NewCred = match body(req) {
        Ok(f) => f,
        Err(r) => return Ok(r),
    };
    if form.backend_id.is_empty() {
        return Ok(invalid("backend_id is required"));
    }
    if form.backend_id != access.cfg.backend_id {
        return Ok(invalid(&format!(
            "backend_id must be {:?}: the S3 port serves the orchestrated store",
            access.cfg.backend_id
        )));
    }
    if form.buckets.is_empty() {
        return Ok(invalid("buckets must list at least one bucket"));
    }
    if let Err(r) = check_scope(&form.buckets) {
        return Ok(r);
    }
    let expires_ms = match form.expires_at.as_deref().filter(|s| !s.is_empty()) {
        Some(t) => match parse_rfc3339(t) {
            Some(ms) => Some(ms),
            None => return Ok(invalid("expires_at must be RFC3339")),
        },
        None => None,
    };
    let description = form.description.filter(|d| !d.is_empty());
    if description.as_ref().is_some_and(|d| d.len() > MAX_DESCRIPTION) {
        return Ok(invalid("description too long"));
    }
    let owner = if own {
        Some(caller.user.id.clone())
    } else {
        form.user_id.filter(|u| !u.is_empty())
    };
    let now = access.now();
    let access_key = new_access_key()?;
    let secret = new_secret()?;
    let cred = Credential {
        secret_sealed: seal.seal(&access_key, secret.as_bytes())?,
        access_key: access_key.clone(),
        backend_id: form.backend_id,
        buckets: form.buckets,
        permission: form.permission.unwrap_or_default(),
        user_id: owner.clone(),
        scope_granted: caller.user.role == Role::Admin,
        description,
        enabled: true,
        expires_ms,
        created_ms: now,
        created_by: Some(caller.user.id.clone()),
        updated_ms: now,
        updated_by: Some(caller.user.id.clone()),
    };
    let mut writes = vec![DocWrite::create(CREDS, &access_key, encode(&cred)?), bump_s3()];
    if let Some(o) = &owner {
        writes.push(DocWrite::put(CREDS_BY_USER, &format!("{o}/{access_key}"), Vec::new()));
    }
    if !records::apply(&access.store, writes).await? {
        return Ok(api_error(409, "conflict", "access key collision; try again"));
    }
    let detail = json!({ "access_key": access_key, "buckets": cred.buckets, "description": cred.description });
    changed(
        req,
        access,
        caller,
        ("s3_credential.create", &cred.backend_id, ""),
        Some(detail),
        own,
    );
    Ok(Response::json(201, &cred_view(&cred, Some(&secret), None)))
}

#[derive(Deserialize)]
struct CredPatch {
    buckets: Option<Vec<String>>,
    permission: Option<Permission>,
    description: Option<String>,
    enabled: Option<bool>,
    expires_at: Option<String>,
}

/// Changes a credential (self-service: only the caller's own; others look missing).
async fn patch(req: &Request, access: &Access, caller: &Caller, akid: &str, own: bool) -> Result<Response, Error> {
    if let Some(r) = config_managed(access, akid) {
        return Ok(r);
    }
    let form: CredPatch = match body(req) {
        Ok(f) => f,
        Err(r) => return Ok(r),
    };
    let Some((mut cred, revision)) = get::<Credential>(&access.store, CREDS, akid).await? else {
        return Ok(cred_not_found());
    };
    if own && cred.user_id.as_deref() != Some(caller.user.id.as_str()) {
        return Ok(cred_not_found());
    }
    if let Some(b) = form.buckets {
        if let Err(r) = check_scope(&b) {
            return Ok(r);
        }
        cred.buckets = b;
        cred.scope_granted = caller.user.role == Role::Admin;
    }
    if let Some(t) = form.expires_at {
        cred.expires_ms = match t.as_str() {
            "" => None,
            t => match parse_rfc3339(t) {
                Some(ms) => Some(ms),
                None => return Ok(invalid("expires_at must be RFC3339 or empty string")),
            },
        };
    }
    if let Some(d) = form.description {
        if d.len() > MAX_DESCRIPTION {
            return Ok(invalid("description too long"));
        }
        cred.description = (!d.is_empty()).then_some(d);
    }
    cred.permission = form.permission.unwrap_or(cred.permission);
    cred.enabled = form.enabled.unwrap_or(cred.enabled);
    cred.updated_ms = access.now();
    cred.updated_by = Some(caller.user.id.clone());
    let writes = vec![DocWrite::replace(CREDS, akid, revision, encode(&cred)?), bump_s3()];
    if !records::apply(&access.store, writes).await? {
        return Ok(changed_meanwhile());
    }
    let detail = json!({ "access_key": akid, "enabled": cred.enabled });
    changed(
        req,
        access,
        caller,
        ("s3_credential.update", &cred.backend_id, ""),
        Some(detail),
        own,
    );
    Ok(Response::json(200, &cred_view(&cred, None, None)))
}

/// Revokes a credential.
async fn delete(req: &Request, access: &Access, caller: &Caller, akid: &str, own: bool) -> Result<Response, Error> {
    if let Some(r) = config_managed(access, akid) {
        return Ok(r);
    }
    let Some((cred, revision)) = get::<Credential>(&access.store, CREDS, akid).await? else {
        return Ok(cred_not_found());
    };
    if own && cred.user_id.as_deref() != Some(caller.user.id.as_str()) {
        return Ok(cred_not_found());
    }
    let mut writes = vec![DocWrite::delete(CREDS, akid, Expect::Revision(revision)), bump_s3()];
    if let Some(o) = &cred.user_id {
        writes.push(DocWrite::delete(CREDS_BY_USER, &format!("{o}/{akid}"), Expect::Any));
    }
    if !records::apply(&access.store, writes).await? {
        return Ok(changed_meanwhile());
    }
    let detail = json!({ "access_key": akid });
    changed(
        req,
        access,
        caller,
        ("s3_credential.delete", &cred.backend_id, ""),
        Some(detail),
        own,
    );
    Ok(no_content())
}

/// The caller's credentials, by access key.
async fn list_own(access: &Access, caller: &Caller) -> Result<Response, Error> {
    let prefix = format!("{}/", caller.user.id);
    let mut creds = Vec::new();
    for id in records::ids(&access.store, CREDS_BY_USER, &prefix).await? {
        let akid = id.strip_prefix(&prefix).unwrap_or_default();
        if let Some((c, _)) = get::<Credential>(&access.store, CREDS, akid).await? {
            creds.push(c);
        }
    }
    let views: Vec<CredView<'_>> = creds.iter().map(|c| cred_view(c, None, None)).collect();
    Ok(Response::json(200, &json!({ "credentials": views })))
}

/// `…/api/me/s3-credentials…`.
pub async fn mine(route: ApiRoute, req: &Request, access: &Access, caller: &Caller) -> Response {
    let r = match route {
        ApiRoute::MeCreds => list_own(access, caller).await,
        ApiRoute::MeCredsCreate => create(req, access, caller, true).await,
        ApiRoute::MeCredsPatch(a) => patch(req, access, caller, &a, true).await,
        ApiRoute::MeCredsDelete(a) => delete(req, access, caller, &a, true).await,
        _ => Ok(api_error(500, "internal", "not a credential route")),
    };
    r.unwrap_or_else(|e| from_error(&e))
}

/// `…/api/admin/s3-credentials…`.
pub async fn admin(route: ApiRoute, req: &Request, access: &Access, caller: &Caller) -> Response {
    let r = match route {
        ApiRoute::Creds => all::<Credential>(&access.store, CREDS, "").await.map(|creds| {
            let views: Vec<CredView<'_>> = creds.iter().map(|(c, _)| cred_view(c, None, None)).collect();
            Response::json(200, &json!({ "credentials": views }))
        }),
        ApiRoute::CredsCreate => create(req, access, caller, false).await,
        ApiRoute::CredsPatch(a) => patch(req, access, caller, &a, false).await,
        ApiRoute::CredsDelete(a) => delete(req, access, caller, &a, false).await,
        _ => Ok(api_error(500, "internal", "not a credential route")),
    };
    r.unwrap_or_else(|e| from_error(&e))
}

/// A binding as the API shows it.
#[derive(Serialize)]
struct BindingView<'a> {
    backend_id: &'a str,
    bucket: &'a str,
    mode: &'a str,
    per_source_ip_rps: u32,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'static str>,
}

fn binding_view<'a>(b: &'a Binding, source: Option<&'static str>) -> BindingView<'a> {
    BindingView {
        backend_id: &b.backend_id,
        bucket: &b.bucket,
        mode: &b.mode,
        per_source_ip_rps: b.per_source_ip_rps,
        created_at: ts(b.created_ms),
        created_by: b.created_by.as_deref(),
        source,
    }
}

#[derive(Deserialize)]
struct NewBinding {
    #[serde(default)]
    backend_id: String,
    #[serde(default)]
    bucket: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    per_source_ip_rps: Option<i64>,
}

async fn upsert(req: &Request, access: &Access, caller: &Caller) -> Result<Response, Error> {
    let form: NewBinding = match body(req) {
        Ok(f) => f,
        Err(r) => return Ok(r),
    };
    if form.backend_id.is_empty() || form.bucket.is_empty() {
        return Ok(invalid("backend_id and bucket are required"));
    }
    if form.backend_id != access.cfg.backend_id {
        return Ok(invalid(&format!(
            "backend_id must be {:?}: the S3 port serves the orchestrated store",
            access.cfg.backend_id
        )));
    }
    if !bucket_name_ok(&form.bucket) {
        return Ok(invalid("bucket is not a bucket name"));
    }
    let mode = form.mode.unwrap_or_else(|| "ReadOnly".into());
    if mode != "ReadOnly" {
        return Ok(invalid("only ReadOnly is supported in v1"));
    }
    let rps = match form.per_source_ip_rps {
        None => 20,
        Some(n) if n < 0 => return Ok(invalid("per_source_ip_rps must be non-negative")),
        Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
    };
    // A bucket whose public access block refuses public policies takes no new binding.
    let blocked = access
        .store
        .bucket(&form.bucket)
        .await
        .map_err(records::store_err)?
        .and_then(|b| b.settings.public_access_block)
        .is_some_and(|p| p.block_public_policy);
    if blocked {
        return Ok(api_error(
            409,
            "public_access_blocked",
            "the bucket's public access block refuses public access (BlockPublicPolicy)",
        ));
    }
    let id = format!("{}/{}", form.backend_id, form.bucket);
    let binding = match get::<Binding>(&access.store, ANON, &id).await? {
        Some((mut old, _)) => {
            old.mode = mode;
            old.per_source_ip_rps = rps;
            old
        }
        None => Binding {
            backend_id: form.backend_id,
            bucket: form.bucket,
            mode,
            per_source_ip_rps: rps,
            created_ms: access.now(),
            created_by: Some(caller.user.id.clone()),
        },
    };
    records::apply(
        &access.store,
        vec![DocWrite::put(ANON, &id, encode(&binding)?), bump_s3()],
    )
    .await?;
    let detail = json!({ "mode": binding.mode, "per_source_ip_rps": rps });
    let target = (
        "s3_anonymous.upsert",
        binding.backend_id.as_str(),
        binding.bucket.as_str(),
    );
    changed(req, access, caller, target, Some(detail), false);
    Ok(Response::json(200, &binding_view(&binding, None)))
}

async fn remove(req: &Request, access: &Access, caller: &Caller, bid: &str, bucket: &str) -> Result<Response, Error> {
    let id = format!("{bid}/{bucket}");
    let writes = vec![DocWrite::delete(ANON, &id, Expect::Present), bump_s3()];
    if !records::apply(&access.store, writes).await? {
        return Ok(api_error(404, "not_found", "binding not found"));
    }
    changed(req, access, caller, ("s3_anonymous.delete", bid, bucket), None, false);
    Ok(no_content())
}

/// The merged read-only view of every credential: the store's, then the configuration's.
async fn merged_credentials(access: &Access) -> Result<Response, Error> {
    let stored = all::<Credential>(&access.store, CREDS, "").await?;
    let mut views: Vec<serde_json::Value> = Vec::new();
    for c in &access.config_credentials {
        views.push(json!({
            "access_key": c.access_key,
            "backend_id": access.cfg.backend_id,
            "buckets": c.buckets,
            "permission": c.permission,
            "enabled": true,
            "source": "config",
        }));
    }
    for (c, _) in &stored {
        views.push(serde_json::to_value(cred_view(c, None, Some("store"))).unwrap_or_default());
    }
    Ok(Response::json(200, &json!({ "credentials": views })))
}

/// `…/api/admin/s3-anonymous…` and `…/api/admin/s3-proxy/…`.
pub async fn bindings(route: ApiRoute, req: &Request, access: &Access, caller: &Caller) -> Response {
    let r = match route {
        ApiRoute::Anon | ApiRoute::ProxyAnon => {
            let source = (route == ApiRoute::ProxyAnon).then_some("store");
            all::<Binding>(&access.store, ANON, "").await.map(|list| {
                let views: Vec<BindingView<'_>> = list.iter().map(|(b, _)| binding_view(b, source)).collect();
                Response::json(200, &json!({ "bindings": views }))
            })
        }
        ApiRoute::AnonUpsert => upsert(req, access, caller).await,
        ApiRoute::AnonDelete(b, k) => remove(req, access, caller, &b, &k).await,
        ApiRoute::ProxyCreds => merged_credentials(access).await,
        _ => Ok(api_error(500, "internal", "not a binding route")),
    };
    r.unwrap_or_else(|e| from_error(&e))
}
