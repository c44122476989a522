//! OpenID Connect sign-in: `GET /auth/login/oidc` sends the browser to the provider with a fresh
//! state, nonce and PKCE verifier kept in short-lived HttpOnly cookies; `GET /auth/callback`
//! checks the state, exchanges the code (with the verifier), verifies the ID token, finds or
//! creates the user (by issuer and subject; the role from the configured claim at every login)
//! and starts a session. Any failure is 401 `oidc_failed`, with the reason in the audit log.

use serde_json::json;

use s3o_store::DocWrite;

use super::audit::event;
use super::session::{self, with_cookies};
use super::{api_error, auth::login_limited, from_error};
use crate::access::ids::{new_token, new_user_id};
use crate::access::oidc::Oidc;
use crate::access::records::{self, encode, get, User, GUARDS, USERNAMES, USERS};
use crate::access::Access;
use crate::error::Error;
use crate::http::{Request, Response};

/// Subjects of OIDC users: `{identity source}|{sub}` → user id.
const SUBJECTS: &str = "oidc-subjects";
/// How long a login may take at the provider, seconds.
const FLOW_SECS: u64 = 600;
const STATE_COOKIE: &str = "stowage_oidc_state";
const VERIFIER_COOKIE: &str = "stowage_oidc_verifier";
const NONCE_COOKIE: &str = "stowage_oidc_nonce";

fn flow_cookies(req: &Request, access: &Access, values: [&str; 3], max_age: u64) -> Vec<String> {
    let secure = if access.cfg.trusted_proxies.is_https(req) {
        "; Secure"
    } else {
        ""
    };
    [STATE_COOKIE, VERIFIER_COOKIE, NONCE_COOKIE]
        .iter()
        .zip(values)
        .map(|(name, v)| format!("{name}={v}; Path=/auth; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"))
        .collect()
}

fn redirect(location: &str) -> Response {
    Response {
        status: 302,
        headers: vec![
            ("location".into(), location.into()),
            ("cache-control".into(), "no-store".into()),
        ],
        body: Default::default(),
    }
}

/// `GET /auth/login/oidc`.
pub async fn start(req: &Request, access: &Access) -> Response {
    if let Some(r) = login_limited(req, access) {
        return r;
    }
    let Some(oidc) = &access.oidc else {
        return api_error(400, "mode_disabled", "OIDC is not configured");
    };
    let (state, nonce, verifier) = match (new_token(), new_token(), new_token()) {
        (Ok(s), Ok(n), Ok(v)) => (s, n, v),
        _ => return from_error(&Error::Random),
    };
    match oidc.provider(false).await {
        Ok((d, _)) => {
            let url = oidc.authorization_url(&d, &state, &nonce, &verifier);
            with_cookies(
                redirect(&url),
                flow_cookies(req, access, [&state, &verifier, &nonce], FLOW_SECS),
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "the OpenID provider could not be reached");
            api_error(502, "oidc_failed", "the identity provider is unreachable")
        }
    }
}

/// `GET /auth/callback`.
pub async fn callback(req: &Request, access: &Access) -> Response {
    if let Some(r) = login_limited(req, access) {
        return r;
    }
    let Some(oidc) = &access.oidc else {
        return api_error(400, "mode_disabled", "OIDC is not configured");
    };
    let clear = flow_cookies(req, access, ["", "", ""], 0);
    let resp = match finish(req, access, oidc).await {
        Ok(cookies) => with_cookies(redirect("/"), cookies),
        Err(Failure::Denied(reason)) => {
            let mut e = event(req, access, "", "auth.login");
            e.status = "denied".into();
            e.detail = json!({ "source": "oidc", "reason": reason }).to_string();
            access.audit.record(e);
            api_error(401, "oidc_failed", "sign-in failed")
        }
        Err(Failure::Internal(e)) => from_error(&e),
    };
    with_cookies(resp, clear)
}

enum Failure {
    Denied(String),
    Internal(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Internal(e)
    }
}

async fn finish(req: &Request, access: &Access, oidc: &Oidc) -> Result<Vec<String>, Failure> {
    let params = req.query_params().map_err(|_| Failure::Denied("bad query".into()))?;
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if let Some(e) = param("error") {
        return Err(Failure::Denied(format!("the provider answered {e}")));
    }
    let cookie = |n: &str| req.cookie(n).filter(|v| !v.is_empty()).map(str::to_owned);
    let (Some(want_state), Some(verifier), Some(nonce)) =
        (cookie(STATE_COOKIE), cookie(VERIFIER_COOKIE), cookie(NONCE_COOKIE))
    else {
        return Err(Failure::Denied("no login in progress (cookies missing)".into()));
    };
    let state = param("state").unwrap_or_default();
    if !session::constant_time_eq(state.as_bytes(), want_state.as_bytes()) {
        return Err(Failure::Denied("state mismatch".into()));
    }
    let code = param("code")
        .filter(|c| !c.is_empty())
        .ok_or(Failure::Denied("no code".into()))?;
    let now_s = i64::try_from(access.now() / 1000).unwrap_or(i64::MAX);
    let claims = oidc
        .finish(&code, &verifier, &nonce, now_s)
        .await
        .map_err(Failure::Denied)?;
    let user = upsert(access, oidc, &claims).await?;
    if !user.enabled {
        return Err(Failure::Denied("the user is disabled".into()));
    }
    let cookies = session::start(req, access, &user).await?;
    let mut e = event(req, access, &user.id, "auth.login");
    e.detail = json!({ "source": "oidc" }).to_string();
    access.audit.record(e);
    Ok(cookies)
}

/// The user of these claims: found by issuer and subject (role and email refreshed), or created.
async fn upsert(access: &Access, oidc: &Oidc, claims: &serde_json::Value) -> Result<User, Error> {
    let source = oidc.cfg.identity_source();
    let sub = claims.get("sub").and_then(|v| v.as_str()).unwrap_or_default();
    let role = oidc.cfg.role_of(claims);
    let subject_id = format!("{source}|{sub}");
    for _ in 0..3 {
        if let Some((id, _)) = get::<String>(&access.store, SUBJECTS, &subject_id).await? {
            let guard = super::users::admins_revision(access).await?;
            if let Some((mut user, revision)) = get::<User>(&access.store, USERS, &id).await? {
                let admin = crate::access::records::Role::Admin;
                // The last enabled admin keeps the role whatever the provider says now, as the
                // admin API keeps it (the guard's revision makes two such logins race safely).
                let role = if role != admin && super::users::last_admin(access, &user).await? {
                    tracing::warn!(user = %user.username, "OIDC login would demote the last admin; the admin role is kept");
                    admin
                } else {
                    role
                };
                let admin_changed = user.is_enabled_admin() != (user.enabled && role == admin);
                user.role = role;
                user.last_login_ms = Some(access.now());
                let mut writes = vec![DocWrite::replace(USERS, &id, revision, encode(&user)?)];
                if admin_changed {
                    writes.push(super::users::guard_write(guard));
                }
                if records::apply(&access.store, writes).await? {
                    return Ok(user);
                }
                continue;
            }
        }
        let wanted = ["preferred_username", "email", "sub"]
            .iter()
            .find_map(|k| claims.get(*k).and_then(|v| v.as_str()).filter(|s| !s.is_empty()))
            .unwrap_or(sub)
            .to_owned();
        let host = source.trim_start_matches("oidc:");
        let taken = access
            .store
            .doc(USERNAMES, &wanted.to_lowercase())
            .await
            .map_err(records::store_err)?
            .is_some();
        let username = if taken { format!("{wanted}@{host}") } else { wanted };
        let now = access.now();
        let user = User {
            id: new_user_id(now)?,
            username: username.clone(),
            email: None,
            role,
            identity_source: source.clone(),
            oidc_subject: Some(sub.to_owned()),
            password_hash: None,
            enabled: true,
            must_change_pw: false,
            failed_attempts: 0,
            locked_until_ms: None,
            created_ms: now,
            created_by: None,
            last_login_ms: Some(now),
        };
        let mut writes = vec![
            DocWrite::create(SUBJECTS, &subject_id, encode(&user.id)?),
            DocWrite::create(USERNAMES, &username.to_lowercase(), encode(&user.id)?),
            DocWrite::create(USERS, &user.id, encode(&user)?),
        ];
        if user.is_enabled_admin() {
            writes.push(DocWrite::put(GUARDS, records::ADMINS_GUARD, Vec::new()));
        }
        if records::apply(&access.store, writes).await? {
            return Ok(user);
        }
    }
    Err(Error::Conflict("the user changed meanwhile; sign in again".into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::access::oidc::{OidcConfig, OidcTransport};
    use crate::access::records::Role;
    use crate::control::BoxFuture;
    use s3o_store::block_on;

    /// A provider never reached: `upsert` only reads claims.
    struct Offline;

    impl OidcTransport for Offline {
        fn get(&self, _: &str) -> BoxFuture<'static, Result<(u16, Vec<u8>), String>> {
            Box::pin(async { Err("offline".to_owned()) })
        }
        fn post_form(
            &self,
            _: &str,
            _: Vec<(String, String)>,
            _: Option<(String, String)>,
        ) -> BoxFuture<'static, Result<(u16, Vec<u8>), String>> {
            Box::pin(async { Err("offline".to_owned()) })
        }
    }

    #[test]
    fn a_login_never_demotes_the_last_admin() {
        let env = super::super::tests::env();
        let access = &env.access;
        let oidc = Oidc::new(
            OidcConfig {
                issuer: "https://idp.example".into(),
                client_id: "c".into(),
                client_secret: None,
                redirect_url: "https://s3o.example/auth/callback".into(),
                scopes: Vec::new(),
                role_claim: "groups".into(),
                admin_values: vec!["admins".into()],
                user_values: Vec::new(),
                readonly_values: Vec::new(),
                default_role: Role::User,
            },
            Box::new(Offline),
        );
        let claims = |group: &str| serde_json::json!({"sub": "s-1", "preferred_username": "olga", "groups": [group]});
        assert_eq!(
            block_on(upsert(access, &oidc, &claims("admins"))).unwrap().role,
            Role::Admin
        );
        // Another admin exists (the local one): the provider may demote her.
        assert_eq!(
            block_on(upsert(access, &oidc, &claims("staff"))).unwrap().role,
            Role::User
        );
        assert_eq!(
            block_on(upsert(access, &oidc, &claims("admins"))).unwrap().role,
            Role::Admin
        );
        // The local admin demoted: she is the last one, and stays an admin.
        let (local_id, _) = block_on(get::<String>(&access.store, USERNAMES, "admin"))
            .unwrap()
            .unwrap();
        let (mut local, rev) = block_on(get::<User>(&access.store, USERS, &local_id)).unwrap().unwrap();
        local.role = Role::User;
        let demote = vec![DocWrite::replace(USERS, &local_id, rev, encode(&local).unwrap())];
        assert!(block_on(records::apply(&access.store, demote)).unwrap());
        assert_eq!(
            block_on(upsert(access, &oidc, &claims("staff"))).unwrap().role,
            Role::Admin
        );
    }
}
