//! User management for admins: `GET|POST /api/admin/users`, `GET|PATCH|DELETE
//! /api/admin/users/{id}`, `POST …/{id}/reset-password`, `POST …/{id}/unlock`.
//!
//! Names and emails are unique case-insensitively through their own documents, created in the
//! same batch as the user. Every change to who is an enabled admin also rewrites the `admins`
//! guard at the revision it read, so two admins demoting each other at once cannot both succeed
//! and leave none (409 `last_admin` for the one that would).

use serde::{Deserialize, Serialize};
use serde_json::json;

use s3o_store::{DocWrite, Expect};

use super::audit::event;
use super::auth::check_policy;
use super::session::{self, Caller};
use super::{api_error, body, from_error, ApiRoute};
use crate::access::ids::new_user_id;
use crate::access::records::{self, all, encode, get, Role, User, ADMINS_GUARD, EMAILS, GUARDS, USERNAMES, USERS};
use crate::access::Access;
use crate::auth::hash_password;
use crate::error::Error;
use crate::http::{Request, Response};
use crate::time::Timestamp;

/// A user as the API shows it.
#[derive(Serialize)]
pub struct UserView<'a> {
    id: &'a str,
    username: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    role: &'static str,
    identity_source: &'a str,
    enabled: bool,
    must_change_pw: bool,
    failed_attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    locked_until: Option<String>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_login_at: Option<String>,
}

/// `u` as the API shows it.
pub fn view(u: &User) -> UserView<'_> {
    let ts = |ms: u64| Timestamp(ms - ms % 1000).to_rfc3339();
    UserView {
        id: &u.id,
        username: &u.username,
        email: u.email.as_deref(),
        role: u.role.as_str(),
        identity_source: &u.identity_source,
        enabled: u.enabled,
        must_change_pw: u.must_change_pw,
        failed_attempts: u.failed_attempts,
        locked_until: u.locked_until_ms.map(ts),
        created_at: ts(u.created_ms),
        last_login_at: u.last_login_ms.map(ts),
    }
}

/// Answers one user-management route.
pub async fn handle(route: ApiRoute, req: &Request, access: &Access, caller: &Caller) -> Response {
    let result = match route {
        ApiRoute::Users => list(req, access).await,
        ApiRoute::UserCreate => create(req, access, caller).await,
        ApiRoute::User(id) => match get::<User>(&access.store, USERS, &id).await {
            Ok(Some((u, _))) => Ok(Response::json(200, &view(&u))),
            Ok(None) => Ok(user_not_found()),
            Err(e) => Err(e),
        },
        ApiRoute::UserPatch(id) => patch(req, access, caller, &id).await,
        ApiRoute::UserDelete(id) => delete(req, access, caller, &id).await,
        ApiRoute::UserReset(id) => reset(req, access, caller, &id).await,
        ApiRoute::UserUnlock(id) => unlock(req, access, caller, &id).await,
        _ => Ok(api_error(500, "internal", "not a user route")),
    };
    result.unwrap_or_else(|e| from_error(&e))
}

fn user_not_found() -> Response {
    api_error(404, "not_found", "user not found")
}

async fn list(req: &Request, access: &Access) -> Result<Response, Error> {
    let params = req.query_params()?;
    let param = |k: &str| {
        params
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let query = param("query").map(str::to_lowercase);
    let limit = param("limit")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| (1..=500).contains(n))
        .unwrap_or(100);
    let offset = param("offset").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    let mut users: Vec<User> = all::<User>(&access.store, USERS, "")
        .await?
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    users.retain(|u| {
        query.as_deref().is_none_or(|q| {
            u.username.to_lowercase().contains(q) || u.email.as_deref().is_some_and(|e| e.to_lowercase().contains(q))
        }) && param("role").is_none_or(|r| u.role.as_str() == r)
            && param("source").is_none_or(|s| u.identity_source == s)
            && param("enabled").is_none_or(|e| u.enabled == (e == "true"))
    });
    users.sort_by_key(|u| u.username.to_lowercase());
    let page: Vec<UserView<'_>> = users.iter().skip(offset).take(limit).map(view).collect();
    Ok(Response::json(200, &json!({ "users": page })))
}

#[derive(Deserialize)]
struct NewUser {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    must_change_pw: Option<bool>,
}

/// Longest username accepted.
const MAX_USERNAME: usize = 128;
/// Longest email accepted (RFC 5321's limit on a forward path).
const MAX_EMAIL: usize = 254;

/// Whether `email` may be stored: bounded, and no control characters (a NUL cannot even be
/// kept by every metadata engine: PostgreSQL's text refuses it).
fn email_ok(email: &str) -> bool {
    email.len() <= MAX_EMAIL && !email.chars().any(char::is_control)
}

/// The writes that create `user` with its unique name (and email): `username_taken` /
/// `email_taken` are told apart by checking the name first.
pub async fn create_user(access: &Access, user: &User) -> Result<Result<(), Response>, Error> {
    let name = user.username.to_lowercase();
    let mut writes = vec![
        DocWrite::create(USERNAMES, &name, encode(&user.id)?),
        DocWrite::create(USERS, &user.id, encode(user)?),
    ];
    if let Some(email) = &user.email {
        writes.push(DocWrite::create(EMAILS, &email.to_lowercase(), encode(&user.id)?));
    }
    if user.is_enabled_admin() {
        writes.push(DocWrite::put(GUARDS, ADMINS_GUARD, Vec::new()));
    }
    if records::apply(&access.store, writes).await? {
        return Ok(Ok(()));
    }
    if access
        .store
        .doc(USERNAMES, &name)
        .await
        .map_err(records::store_err)?
        .is_some()
    {
        Ok(Err(api_error(409, "username_taken", "username already taken")))
    } else {
        Ok(Err(api_error(409, "email_taken", "email already taken")))
    }
}

/// Creates a local user (the CLI and the configured first admin use this too): the user, or the
/// code of the conflict (`username_taken`, `email_taken`). The password policy is the caller's
/// to check.
pub async fn create_local_user(
    access: &Access,
    username: &str,
    password: &str,
    role: Role,
    must_change_pw: bool,
) -> Result<Result<User, &'static str>, Error> {
    let now = access.now();
    let user = User {
        id: new_user_id(now)?,
        username: username.to_owned(),
        email: None,
        role,
        identity_source: "local".into(),
        oidc_subject: None,
        password_hash: Some(hash_password(password)?),
        enabled: true,
        must_change_pw,
        failed_attempts: 0,
        locked_until_ms: None,
        created_ms: now,
        created_by: None,
        last_login_ms: None,
    };
    Ok(match create_user(access, &user).await? {
        Ok(()) => Ok(user),
        Err(r) if r.status == 409 && String::from_utf8_lossy(&r.body).contains("email_taken") => Err("email_taken"),
        Err(_) => Err("username_taken"),
    })
}

async fn create(req: &Request, access: &Access, caller: &Caller) -> Result<Response, Error> {
    let form: NewUser = match body(req) {
        Ok(f) => f,
        Err(r) => return Ok(r),
    };
    if form.username.is_empty() || form.password.is_empty() || form.role.is_empty() {
        return Ok(api_error(
            400,
            "bad_request",
            "username, password, and role are required",
        ));
    }
    let Some(role) = Role::parse(&form.role) else {
        return Ok(api_error(400, "bad_request", "invalid role"));
    };
    if form.username.len() > MAX_USERNAME || form.username.chars().any(char::is_control) {
        return Ok(api_error(400, "bad_request", "invalid username"));
    }
    if form.email.as_deref().is_some_and(|e| !email_ok(e)) {
        return Ok(api_error(400, "bad_request", "invalid email"));
    }
    if let Err(r) = check_policy(access, &form.password) {
        return Ok(r);
    }
    let now = access.now();
    let user = User {
        id: new_user_id(now)?,
        username: form.username.clone(),
        email: form.email.filter(|e| !e.is_empty()),
        role,
        identity_source: "local".into(),
        oidc_subject: None,
        password_hash: Some(hash_password(&form.password)?),
        enabled: true,
        must_change_pw: form.must_change_pw.unwrap_or(true),
        failed_attempts: 0,
        locked_until_ms: None,
        created_ms: now,
        created_by: Some(caller.user.id.clone()),
        last_login_ms: None,
    };
    if let Err(r) = create_user(access, &user).await? {
        return Ok(r);
    }
    let mut e = event(req, access, &caller.user.id, "user.create");
    e.detail = json!({ "target": user.id, "username": user.username, "role": role.as_str() }).to_string();
    access.audit.record(e);
    Ok(Response::json(201, &view(&user)))
}

#[derive(Deserialize)]
struct Patch {
    role: Option<String>,
    enabled: Option<bool>,
    email: Option<String>,
}

/// Whether taking `target` out of the enabled admins would leave none.
pub(crate) async fn last_admin(access: &Access, target: &User) -> Result<bool, Error> {
    if !target.is_enabled_admin() {
        return Ok(false);
    }
    let admins = all::<User>(&access.store, USERS, "").await?;
    Ok(admins.iter().filter(|(u, _)| u.is_enabled_admin()).count() <= 1)
}

/// The `admins` guard's revision (0 when absent).
pub(crate) async fn admins_revision(access: &Access) -> Result<u64, Error> {
    Ok(access
        .store
        .doc(GUARDS, ADMINS_GUARD)
        .await
        .map_err(records::store_err)?
        .map_or(0, |d| d.revision))
}

/// The write that moves the `admins` guard on from `revision` (or creates it).
pub(crate) fn guard_write(revision: u64) -> DocWrite {
    let expect = if revision == 0 {
        Expect::Absent
    } else {
        Expect::Revision(revision)
    };
    DocWrite {
        collection: GUARDS.into(),
        id: ADMINS_GUARD.into(),
        expect,
        op: s3o_store::DocOp::Put(Vec::new()),
    }
}

async fn patch(req: &Request, access: &Access, caller: &Caller, id: &str) -> Result<Response, Error> {
    let form: Patch = match body(req) {
        Ok(f) => f,
        Err(r) => return Ok(r),
    };
    let role = match form.role.as_deref().map(|r| (r, Role::parse(r))) {
        Some((_, Some(r))) => Some(r),
        Some((_, None)) => return Ok(api_error(400, "bad_request", "invalid role")),
        None => None,
    };
    let guard = admins_revision(access).await?;
    let Some((mut user, revision)) = get::<User>(&access.store, USERS, id).await? else {
        return Ok(user_not_found());
    };
    let was_admin = user.is_enabled_admin();
    let demoted = role.is_some_and(|r| r != Role::Admin) || form.enabled == Some(false);
    if demoted && last_admin(access, &user).await? {
        return Ok(api_error(
            409,
            "last_admin",
            "refusing to demote or disable the only enabled admin",
        ));
    }
    if id == caller.user.id && role.is_some_and(|r| r != user.role) {
        return Ok(api_error(
            403,
            "self_role_change",
            "cannot change your own role; ask another admin",
        ));
    }
    let mut writes = Vec::new();
    if form.email.as_deref().is_some_and(|e| !email_ok(e)) {
        return Ok(api_error(400, "bad_request", "invalid email"));
    }
    if let Some(email) = &form.email {
        if let Some(old) = &user.email {
            writes.push(DocWrite::delete(EMAILS, &old.to_lowercase(), Expect::Any));
        }
        user.email = (!email.is_empty()).then(|| email.clone());
        if let Some(new) = &user.email {
            writes.push(DocWrite::create(EMAILS, &new.to_lowercase(), encode(&user.id)?));
        }
    }
    user.role = role.unwrap_or(user.role);
    user.enabled = form.enabled.unwrap_or(user.enabled);
    writes.push(DocWrite::replace(USERS, id, revision, encode(&user)?));
    if was_admin != user.is_enabled_admin() {
        writes.push(guard_write(guard));
    }
    if !records::apply(&access.store, writes).await? {
        let taken = user.email.as_ref().map(|e| e.to_lowercase());
        if let Some(e) = taken {
            if access
                .store
                .doc(EMAILS, &e)
                .await
                .map_err(records::store_err)?
                .is_some_and(|d| d.value != encode(&user.id).unwrap_or_default())
            {
                return Ok(api_error(409, "email_taken", "email already taken"));
            }
        }
        return Ok(api_error(
            409,
            "conflict",
            "the user or the admins changed meanwhile; try again",
        ));
    }
    if !user.enabled {
        session::end_all(access, id, None).await?;
    }
    let mut e = event(req, access, &caller.user.id, "user.update");
    e.detail = json!({ "target": id, "role": user.role.as_str(), "enabled": user.enabled }).to_string();
    access.audit.record(e);
    Ok(Response::json(200, &view(&user)))
}

async fn delete(req: &Request, access: &Access, caller: &Caller, id: &str) -> Result<Response, Error> {
    if id == caller.user.id {
        return Ok(api_error(400, "self_delete", "cannot delete your own account"));
    }
    let guard = admins_revision(access).await?;
    let Some((user, revision)) = get::<User>(&access.store, USERS, id).await? else {
        return Ok(user_not_found());
    };
    if last_admin(access, &user).await? {
        return Ok(api_error(
            409,
            "last_admin",
            "refusing to delete the only enabled admin",
        ));
    }
    let mut writes = vec![
        DocWrite::delete(USERS, id, Expect::Revision(revision)),
        DocWrite::delete(USERNAMES, &user.username.to_lowercase(), Expect::Any),
    ];
    if let Some(email) = &user.email {
        writes.push(DocWrite::delete(EMAILS, &email.to_lowercase(), Expect::Any));
    }
    if user.is_enabled_admin() {
        writes.push(guard_write(guard));
    }
    if !records::apply(&access.store, writes).await? {
        return Ok(api_error(
            409,
            "conflict",
            "the user or the admins changed meanwhile; try again",
        ));
    }
    session::end_all(access, id, None).await?;
    let mut e = event(req, access, &caller.user.id, "user.delete");
    e.detail = json!({ "target": id, "username": user.username }).to_string();
    access.audit.record(e);
    Ok(Response {
        status: 204,
        headers: Vec::new(),
        body: Default::default(),
    })
}

#[derive(Deserialize)]
struct Reset {
    #[serde(default)]
    new_password: String,
}

/// Applies `change` to user `id` if it is still at the revision read, then audits `action`;
/// the refusal to send instead: 404 for a missing user, 409 when it changed meanwhile.
async fn change_user(
    req: &Request,
    access: &Access,
    caller: &Caller,
    (id, action): (&str, &str),
    change: impl FnOnce(&mut User) -> Result<(), Error>,
) -> Result<Result<(), Response>, Error> {
    let Some((mut user, revision)) = get::<User>(&access.store, USERS, id).await? else {
        return Ok(Err(user_not_found()));
    };
    change(&mut user)?;
    let write = DocWrite::replace(USERS, id, revision, encode(&user)?);
    if !records::apply(&access.store, vec![write]).await? {
        return Ok(Err(api_error(409, "conflict", "the user changed meanwhile; try again")));
    }
    let mut e = event(req, access, &caller.user.id, action);
    e.detail = json!({ "target": id }).to_string();
    access.audit.record(e);
    Ok(Ok(()))
}

async fn reset(req: &Request, access: &Access, caller: &Caller, id: &str) -> Result<Response, Error> {
    let form: Reset = match body(req) {
        Ok(f) => f,
        Err(r) => return Ok(r),
    };
    if let Err(r) = check_policy(access, &form.new_password) {
        return Ok(r);
    }
    let own = id == caller.user.id;
    let changed = change_user(req, access, caller, (id, "user.reset_password"), |user| {
        user.password_hash = Some(hash_password(&form.new_password)?);
        user.must_change_pw = !own;
        user.failed_attempts = 0;
        user.locked_until_ms = None;
        Ok(())
    })
    .await?;
    if let Err(r) = changed {
        return Ok(r);
    }
    session::end_all(access, id, own.then_some(caller.digest.as_str())).await?;
    Ok(Response::json(200, &json!({ "status": "ok" })))
}

async fn unlock(req: &Request, access: &Access, caller: &Caller, id: &str) -> Result<Response, Error> {
    let changed = change_user(req, access, caller, (id, "user.unlock"), |user| {
        user.failed_attempts = 0;
        user.locked_until_ms = None;
        Ok(())
    })
    .await?;
    Ok(changed.map_or_else(|r| r, |()| Response::json(200, &json!({ "status": "ok" }))))
}
