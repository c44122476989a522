//! Signing in and out, and the caller's own account: `POST /auth/login/local`, `POST
//! /auth/logout`, `GET /api/auth/config`, `GET /api/me`, `POST /api/me/password`.
//!
//! A login is rate-limited per client address first (429 `rate_limited` with `Retry-After`).
//! Unknown users are checked against a dummy hash so timing does not tell names apart. Wrong
//! passwords count on the account; at `lockout_attempts` it is locked for `lockout_ms` (429
//! `account_locked`, before the password is even checked). Every attempt is audited
//! (`auth.login`, status `ok` or `denied` with the reason).

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use serde::Deserialize;
use serde_json::json;

use super::audit::event;
use super::session::{self, clearing_cookies, with_cookies, Caller};
use super::{api_error, body, from_error};
use crate::access::records::{self, encode, get, User, USERNAMES, USERS};
use crate::access::Access;
use crate::auth::hash_password;
use crate::http::{Request, Response};
use s3o_store::DocWrite;

/// A hash no password matches, verified for unknown users so they cost what known ones do.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let random = crate::access::ids::new_token().unwrap_or_else(|_| "dummy".into());
        hash_password(&random).unwrap_or_default()
    })
}

/// Whether `password` matches the PHC `hash`.
pub fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// The password policy: `weak_password` with the reason.
pub fn check_policy(access: &Access, password: &str) -> Result<(), Response> {
    let min = access.cfg.min_password_len;
    if password.len() < min {
        return Err(api_error(
            400,
            "weak_password",
            &format!("password must be at least {min} characters"),
        ));
    }
    Ok(())
}

/// The login rate limit for this client: `Some(429)` when exhausted.
pub fn login_limited(req: &Request, access: &Access) -> Option<Response> {
    let ip = access.cfg.trusted_proxies.client_ip(req);
    access.login_limiter.check(&ip, access.now()).err().map(|wait| {
        api_error(429, "rate_limited", "too many attempts; try again later")
            .with_header("retry-after", &wait.to_string())
    })
}

#[derive(Deserialize)]
struct Login {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `POST /auth/login/local`.
pub async fn login(req: &Request, access: &Access) -> Response {
    if let Some(r) = login_limited(req, access) {
        return r;
    }
    if !access.cfg.local_login {
        return api_error(400, "mode_disabled", "local auth is not enabled");
    }
    let form: Login = match body(req) {
        Ok(f) => f,
        Err(r) => return r,
    };
    match try_login(req, access, &form).await {
        Ok(r) => r,
        Err(e) => from_error(&e),
    }
}

async fn try_login(req: &Request, access: &Access, form: &Login) -> Result<Response, crate::error::Error> {
    let denied = |user_id: &str, reason: &str| {
        let mut e = event(req, access, user_id, "auth.login");
        e.status = "denied".into();
        e.detail = json!({ "source": "local", "reason": reason, "username": form.username }).to_string();
        access.audit.record(e);
    };
    let invalid = || api_error(401, "invalid_credentials", "invalid credentials");
    if form.username.is_empty() || form.password.is_empty() {
        denied("", "empty");
        return Ok(invalid());
    }
    let found = match get::<String>(&access.store, USERNAMES, &form.username.to_lowercase()).await? {
        Some((id, _)) => get::<User>(&access.store, USERS, &id).await?,
        None => None,
    };
    let Some((mut user, revision)) = found else {
        verify(&form.password, dummy_hash());
        denied("", "unknown user");
        return Ok(invalid());
    };
    let now = access.now();
    if user.locked_until_ms.is_some_and(|t| t > now) {
        denied(&user.id, "locked");
        return Ok(api_error(429, "account_locked", "account temporarily locked"));
    }
    let local = user.identity_source == "local" && user.enabled;
    let hash = user.password_hash.clone().unwrap_or_else(|| dummy_hash().to_owned());
    if !verify(&form.password, &hash) || !local {
        if local {
            user.failed_attempts = user.failed_attempts.saturating_add(1);
            if user.failed_attempts >= access.cfg.lockout_attempts {
                user.locked_until_ms = Some(now.saturating_add(access.cfg.lockout_ms));
                user.failed_attempts = 0;
            }
            // Lost to a concurrent change: that attempt is not counted, which errs on access.
            records::apply(
                &access.store,
                vec![DocWrite::replace(USERS, &user.id, revision, encode(&user)?)],
            )
            .await?;
        }
        denied(
            &user.id,
            if local {
                "wrong password"
            } else {
                "not a local, enabled user"
            },
        );
        return Ok(invalid());
    }
    user.failed_attempts = 0;
    user.locked_until_ms = None;
    user.last_login_ms = Some(now);
    records::apply(
        &access.store,
        vec![DocWrite::replace(USERS, &user.id, revision, encode(&user)?)],
    )
    .await?;
    let cookies = session::start(req, access, &user).await?;
    let mut e = event(req, access, &user.id, "auth.login");
    e.detail = json!({ "source": "local" }).to_string();
    access.audit.record(e);
    let body = json!({ "must_change_pw": user.must_change_pw, "source": "local", "status": "ok" });
    Ok(with_cookies(Response::json(200, &body), cookies))
}

/// `POST /auth/logout`: ends the session if there is one; always 200 and clears the cookies.
pub async fn logout(req: &Request, access: &Access) -> Response {
    match session::resolve(req, access).await {
        Ok(Some(caller)) => {
            if let Err(e) = session::end(access, &caller.user.id, &caller.digest).await {
                return from_error(&e);
            }
            access.audit.record(event(req, access, &caller.user.id, "auth.logout"));
        }
        Ok(None) => {}
        Err(e) => return from_error(&e),
    }
    with_cookies(
        Response::json(200, &json!({ "status": "ok" })),
        clearing_cookies(req, access),
    )
}

/// `GET /api/auth/config`: the enabled sign-in modes.
pub fn config(access: &Access) -> Response {
    let modes: Vec<&str> = [(access.cfg.local_login, "local"), (access.oidc.is_some(), "oidc")]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, m)| *m)
        .collect();
    Response::json(200, &json!({ "allow_self_registration": false, "modes": modes }))
}

/// `GET /api/me`.
pub fn me(caller: &Caller) -> Response {
    let u = &caller.user;
    let mut body = json!({
        "id": u.id,
        "identity_source": u.identity_source,
        "must_change_pw": caller.session.must_change_pw,
        "role": u.role.as_str(),
        "username": u.username,
    });
    if let (Some(email), Some(map)) = (&u.email, body.as_object_mut()) {
        map.insert("email".into(), json!(email));
    }
    Response::json(200, &body)
}

#[derive(Deserialize)]
struct PasswordChange {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

/// `POST /api/me/password`: checks the current password, applies the policy, stores the new
/// hash, clears the forced change and ends the caller's other sessions.
pub async fn change_password(req: &Request, access: &Access, caller: &Caller) -> Response {
    if caller.user.identity_source != "local" {
        return api_error(400, "not_local", "only local accounts can change passwords here");
    }
    let form: PasswordChange = match body(req) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let current_ok = caller
        .user
        .password_hash
        .as_deref()
        .is_some_and(|h| verify(&form.current_password, h));
    if form.current_password.is_empty() || !current_ok {
        return api_error(401, "invalid_credentials", "current password is incorrect");
    }
    if let Err(r) = check_policy(access, &form.new_password) {
        return r;
    }
    if form.new_password == form.current_password {
        return api_error(400, "weak_password", "new password must differ from current password");
    }
    match set_password(req, access, caller, &form.new_password).await {
        Ok(()) => Response::json(200, &json!({ "status": "ok" })),
        Err(e) => from_error(&e),
    }
}

async fn set_password(
    req: &Request,
    access: &Access,
    caller: &Caller,
    password: &str,
) -> Result<(), crate::error::Error> {
    let mut user = caller.user.clone();
    user.password_hash = Some(hash_password(password)?);
    user.must_change_pw = false;
    user.failed_attempts = 0;
    user.locked_until_ms = None;
    let mut session = caller.session.clone();
    session.must_change_pw = false;
    let writes = vec![
        DocWrite::replace(USERS, &user.id, caller.user_revision, encode(&user)?),
        DocWrite::put(records::SESSIONS, &caller.digest, encode(&session)?),
    ];
    if !records::apply(&access.store, writes).await? {
        return Err(crate::error::Error::Conflict(
            "the account changed meanwhile; try again".into(),
        ));
    }
    session::end_all(access, &user.id, Some(&caller.digest)).await?;
    access
        .audit
        .record(event(req, access, &user.id, "user.password_change"));
    Ok(())
}
