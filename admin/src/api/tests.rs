//! The seed-003 API against a real (sled) store: per route, no session → 401, wrong role →
//! 403, missing or wrong CSRF → 403 `csrf_invalid`, bad input → 400, conflicts → 409, and the
//! happy paths with their JSON checked field by field; plus the security properties (session
//! fixation, lockout, rate limits, secrets shown once and never stored in the clear).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use super::{api_route, handle};
use crate::access::audit::AuditQueue;
use crate::access::records::Role;
use crate::access::seal::SealKey;
use crate::access::{Access, AccessConfig};
use crate::http::{Request, Response};
use s3o_store::{block_on, Store};

pub(super) const ADMIN_PW: &str = "admin-password-1";

pub(super) struct Env {
    pub(super) access: Access,
    pub(super) dir: PathBuf,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(super) fn scratch() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("s3o-api-{}-{n}", std::process::id()))
}

pub(super) fn env_with(cfg: AccessConfig) -> Env {
    let dir = scratch();
    let store = Store::open(&dir).unwrap();
    let seal = Some(Arc::new(SealKey::parse(&"42".repeat(32)).unwrap()));
    let access = Access::new(cfg, store, seal, AuditQueue::disabled());
    block_on(super::create_local_user(&access, "admin", ADMIN_PW, Role::Admin, false))
        .unwrap()
        .unwrap();
    Env { access, dir }
}

pub(super) fn env() -> Env {
    env_with(AccessConfig::default())
}

pub(super) fn peer(n: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, n])
}

/// A signed-in session: its cookies.
#[derive(Clone)]
pub(super) struct Sess {
    pub(super) token: String,
    pub(super) csrf: String,
}

pub(super) fn request(method: &str, path: &str, body: Option<Value>, sess: Option<&Sess>) -> Request {
    let mut r = Request::new(method, path, peer(1));
    if let Some(b) = body {
        r.body = serde_json::to_vec(&b).unwrap().into();
        r.headers.push(("content-type".into(), "application/json".into()));
    }
    if let Some(s) = sess {
        r.headers.push((
            "cookie".into(),
            format!("stowage_session={}; stowage_csrf={}", s.token, s.csrf),
        ));
        r.headers.push(("x-csrf-token".into(), s.csrf.clone()));
    }
    r
}

pub(super) fn call(e: &Env, req: &Request) -> Response {
    match api_route(&req.method, &req.path).expect("an API path") {
        Ok(route) => block_on(handle(route, req, &e.access, None)),
        Err(resp) => resp,
    }
}

pub(super) fn json_of(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

pub(super) fn code_of(r: &Response) -> (u16, String) {
    (
        r.status,
        json_of(r)["error"]["code"].as_str().unwrap_or_default().to_owned(),
    )
}

pub(super) fn cookie(r: &Response, name: &str) -> Option<String> {
    r.headers.iter().filter(|(n, _)| n == "set-cookie").find_map(|(_, v)| {
        v.strip_prefix(&format!("{name}="))
            .map(|rest| rest.split(';').next().unwrap_or("").to_owned())
    })
}

pub(super) fn login(e: &Env, user: &str, pw: &str) -> Sess {
    let r = call(
        e,
        &request(
            "POST",
            "/auth/login/local",
            Some(json!({"username": user, "password": pw})),
            None,
        ),
    );
    assert_eq!(r.status, 200, "login {user}: {}", String::from_utf8_lossy(&r.body));
    Sess {
        token: cookie(&r, "stowage_session").unwrap(),
        csrf: cookie(&r, "stowage_csrf").unwrap(),
    }
}

/// Creates a user through the API as `admin` and signs in as it (password changed first).
pub(super) fn user(e: &Env, admin: &Sess, name: &str, role: &str) -> (String, Sess) {
    let pw = format!("{name}-initial-pw");
    let r = call(
        e,
        &request(
            "POST",
            "/api/admin/users",
            Some(json!({"username": name, "password": pw, "role": role})),
            Some(admin),
        ),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = json_of(&r)["id"].as_str().unwrap().to_owned();
    let s = login(e, name, &pw);
    let new_pw = format!("{name}-second-password");
    let body = json!({"current_password": pw, "new_password": new_pw});
    assert_eq!(
        call(e, &request("POST", "/api/me/password", Some(body), Some(&s))).status,
        200
    );
    (id, s)
}

#[test]
fn login_me_and_logout() {
    let e = env();
    let r = call(
        &e,
        &request(
            "POST",
            "/auth/login/local",
            Some(json!({"username": "ADMIN", "password": ADMIN_PW})),
            None,
        ),
    );
    assert_eq!(
        json_of(&r),
        json!({"must_change_pw": false, "source": "local", "status": "ok"})
    );
    let session_cookie = r
        .headers
        .iter()
        .find(|(n, v)| n == "set-cookie" && v.starts_with("stowage_session="))
        .unwrap();
    assert!(session_cookie.1.contains("HttpOnly") && session_cookie.1.contains("SameSite=Lax"));
    assert!(!session_cookie.1.contains("Secure"), "no Secure over plain HTTP");
    let csrf_cookie = r
        .headers
        .iter()
        .find(|(n, v)| n == "set-cookie" && v.starts_with("stowage_csrf="))
        .unwrap();
    assert!(!csrf_cookie.1.contains("HttpOnly"));
    let s = Sess {
        token: cookie(&r, "stowage_session").unwrap(),
        csrf: cookie(&r, "stowage_csrf").unwrap(),
    };
    let me = json_of(&call(&e, &request("GET", "/api/me", None, Some(&s))));
    assert_eq!(me["username"], "admin");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["identity_source"], "local");
    assert_eq!(me["must_change_pw"], false);
    assert_eq!(me["id"].as_str().unwrap().len(), 26);
    let out = call(&e, &request("POST", "/auth/logout", None, Some(&s)));
    assert_eq!((out.status, json_of(&out)), (200, json!({"status": "ok"})));
    assert_eq!(cookie(&out, "stowage_session").as_deref(), Some(""));
    assert_eq!(
        code_of(&call(&e, &request("GET", "/api/me", None, Some(&s)))),
        (401, "unauthorized".into())
    );
    let cfg = json_of(&call(&e, &request("GET", "/api/auth/config", None, None)));
    assert_eq!(cfg, json!({"allow_self_registration": false, "modes": ["local"]}));
    let h = call(&e, &request("GET", "/healthz", None, None));
    assert_eq!((h.status, json_of(&h)), (200, json!({"status": "ok"})));
    assert_eq!(h.header("x-frame-options"), Some("DENY"));
}

#[test]
fn bad_logins_lock_the_account_and_the_address_is_rate_limited() {
    let e = env();
    let bad = |pw: &str, ip: u8| {
        let mut r = request(
            "POST",
            "/auth/login/local",
            Some(json!({"username": "admin", "password": pw})),
            None,
        );
        r.peer_ip = peer(ip);
        call(&e, &r)
    };
    for i in 0..4 {
        assert_eq!(
            code_of(&bad("wrong-password", 10 + i)),
            (401, "invalid_credentials".into())
        );
    }
    assert_eq!(code_of(&bad("wrong-password", 20)), (401, "invalid_credentials".into()));
    // Locked now: even the right password is refused.
    assert_eq!(code_of(&bad(ADMIN_PW, 21)), (429, "account_locked".into()));
    assert_eq!(code_of(&bad("", 22)), (401, "invalid_credentials".into()));
    assert_eq!(
        code_of(&call(&e, &request("POST", "/auth/login/local", None, None))),
        (400, "bad_request".into())
    );
    // Ten attempts per address per 15 minutes.
    let mut codes = Vec::new();
    for _ in 0..11 {
        codes.push(code_of(&bad("x", 99)));
    }
    assert_eq!(codes[10], (429, "rate_limited".into()));
    let r = bad("x", 99);
    assert!(r.header("retry-after").is_some());
}

#[test]
fn session_fixation_csrf_and_roles() {
    let e = env();
    let admin = login(&e, "admin", ADMIN_PW);
    // A session id planted before login is ended by the login.
    let planted = admin.clone();
    let mut r = request(
        "POST",
        "/auth/login/local",
        Some(json!({"username": "admin", "password": ADMIN_PW})),
        Some(&planted),
    );
    r.headers.retain(|(n, _)| n != "x-csrf-token");
    let fresh = call(&e, &r);
    assert_ne!(cookie(&fresh, "stowage_session").unwrap(), planted.token);
    assert_eq!(call(&e, &request("GET", "/api/me", None, Some(&planted))).status, 401);
    let admin = Sess {
        token: cookie(&fresh, "stowage_session").unwrap(),
        csrf: cookie(&fresh, "stowage_csrf").unwrap(),
    };
    // CSRF: missing, wrong, or header not matching the cookie.
    let body = json!({"username": "u1", "password": "long-enough-pw", "role": "user"});
    let mut missing = request("POST", "/api/admin/users", Some(body.clone()), Some(&admin));
    missing.headers.retain(|(n, _)| n != "x-csrf-token");
    assert_eq!(code_of(&call(&e, &missing)), (403, "csrf_invalid".into()));
    let mut wrong = request("POST", "/api/admin/users", Some(body.clone()), Some(&admin));
    wrong.headers.retain(|(n, _)| n != "x-csrf-token");
    wrong.headers.push(("x-csrf-token".into(), "forged".into()));
    assert_eq!(code_of(&call(&e, &wrong)), (403, "csrf_invalid".into()));
    // A forged session cookie is no session.
    let forged = Sess {
        token: "AAAA".into(),
        csrf: admin.csrf.clone(),
    };
    assert_eq!(
        code_of(&call(&e, &request("GET", "/api/admin/users", None, Some(&forged)))),
        (401, "unauthorized".into())
    );
    // Roles.
    let (_, reader) = user(&e, &admin, "reader", "readonly");
    let (_, writer) = user(&e, &admin, "writer", "user");
    let mint = json!({"backend_id": "orchestrator", "buckets": ["bk1"]});
    assert_eq!(
        code_of(&call(
            &e,
            &request("POST", "/api/me/s3-credentials", Some(mint.clone()), Some(&reader))
        )),
        (403, "forbidden".into())
    );
    assert_eq!(
        call(&e, &request("GET", "/api/me/s3-credentials", None, Some(&reader))).status,
        200
    );
    for path in [
        "/api/admin/users",
        "/api/admin/s3-credentials",
        "/api/admin/s3-anonymous",
        "/api/admin/audit",
        "/api/admin/s3-proxy/credentials",
    ] {
        assert_eq!(
            code_of(&call(&e, &request("GET", path, None, Some(&writer)))),
            (403, "forbidden".into()),
            "{path}"
        );
        assert_eq!(
            code_of(&call(&e, &request("GET", path, None, None))),
            (401, "unauthorized".into()),
            "{path}"
        );
        assert_eq!(
            call(&e, &request("GET", path, None, Some(&admin))).status,
            200,
            "{path}"
        );
    }
    assert_eq!(
        call(
            &e,
            &request("POST", "/api/me/s3-credentials", Some(mint), Some(&writer))
        )
        .status,
        201
    );
}

#[test]
fn users_are_managed_with_their_rules() {
    let e = env();
    let admin = login(&e, "admin", ADMIN_PW);
    let post = |body: Value| call(&e, &request("POST", "/api/admin/users", Some(body), Some(&admin)));
    // An email with a control character (a NUL no engine stores) or past 254 bytes is refused.
    for email in ["a\u{0}b@x.io".to_string(), format!("{}@x.io", "a".repeat(260))] {
        let r = post(json!({"username": "Eve", "email": email, "password": "eve-password-1", "role": "user"}));
        assert_eq!(code_of(&r), (400, "bad_request".into()));
    }
    let r = post(json!({"username": "Alice", "email": "a@x.io", "password": "alice-password", "role": "user"}));
    assert_eq!(r.status, 201);
    let alice = json_of(&r);
    let keys: Vec<&str> = alice.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 9, "{alice}");
    assert_eq!(alice["username"], "Alice");
    assert_eq!(alice["email"], "a@x.io");
    assert_eq!(alice["role"], "user");
    assert_eq!(alice["identity_source"], "local");
    assert_eq!(alice["enabled"], true);
    assert_eq!(alice["must_change_pw"], true);
    assert_eq!(alice["failed_attempts"], 0);
    assert!(alice["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(alice.get("password_hash").is_none());
    let id = alice["id"].as_str().unwrap().to_owned();
    assert_eq!(
        code_of(&post(
            json!({"username": "alice", "password": "another-password", "role": "user"})
        )),
        (409, "username_taken".into())
    );
    assert_eq!(
        code_of(&post(
            json!({"username": "bob", "email": "A@X.IO", "password": "another-password", "role": "user"})
        )),
        (409, "email_taken".into())
    );
    assert_eq!(
        code_of(&post(json!({"username": "bob", "password": "short", "role": "user"}))),
        (400, "weak_password".into())
    );
    assert_eq!(
        code_of(&post(
            json!({"username": "bob", "password": "another-password", "role": "root"})
        )),
        (400, "bad_request".into())
    );
    assert_eq!(code_of(&post(json!({"username": "bob"}))), (400, "bad_request".into()));
    // Forced password change: only /api/me and /api/me/password until done.
    let s = login(&e, "alice", "alice-password");
    assert_eq!(
        json_of(&call(&e, &request("GET", "/api/me", None, Some(&s))))["must_change_pw"],
        true
    );
    assert_eq!(
        code_of(&call(&e, &request("GET", "/api/me/s3-credentials", None, Some(&s)))),
        (403, "password_change_required".into())
    );
    let change = |cur: &str, new: &str| {
        call(
            &e,
            &request(
                "POST",
                "/api/me/password",
                Some(json!({"current_password": cur, "new_password": new})),
                Some(&s),
            ),
        )
    };
    assert_eq!(
        code_of(&change("wrong-password", "alice-new-password")),
        (401, "invalid_credentials".into())
    );
    assert_eq!(
        code_of(&change("alice-password", "alice-password")),
        (400, "weak_password".into())
    );
    assert_eq!(change("alice-password", "alice-new-password").status, 200);
    assert_eq!(
        call(&e, &request("GET", "/api/me/s3-credentials", None, Some(&s))).status,
        200
    );
    // List, get, patch, unlock, reset, delete.
    let list = json_of(&call(
        &e,
        &request("GET", "/api/admin/users?role=user", None, Some(&admin)),
    ));
    assert_eq!(list["users"].as_array().unwrap().len(), 1);
    assert_eq!(
        call(
            &e,
            &request("GET", &format!("/api/admin/users/{id}"), None, Some(&admin))
        )
        .status,
        200
    );
    assert_eq!(
        code_of(&call(
            &e,
            &request("GET", "/api/admin/users/nobody", None, Some(&admin))
        )),
        (404, "not_found".into())
    );
    let patched = call(
        &e,
        &request(
            "PATCH",
            &format!("/api/admin/users/{id}"),
            Some(json!({"role": "readonly"})),
            Some(&admin),
        ),
    );
    assert_eq!(json_of(&patched)["role"], "readonly");
    assert_eq!(
        call(
            &e,
            &request("POST", &format!("/api/admin/users/{id}/unlock"), None, Some(&admin))
        )
        .status,
        200
    );
    let reset = call(
        &e,
        &request(
            "POST",
            &format!("/api/admin/users/{id}/reset-password"),
            Some(json!({"new_password": "reset-password-1"})),
            Some(&admin),
        ),
    );
    assert_eq!(json_of(&reset), json!({"status": "ok"}));
    assert_eq!(
        call(&e, &request("GET", "/api/me", None, Some(&s))).status,
        401,
        "a reset ends the user's sessions"
    );
    // The last admin can be neither demoted, disabled nor deleted; nobody deletes themself.
    let admin_id = json_of(&call(&e, &request("GET", "/api/me", None, Some(&admin))))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let me_path = format!("/api/admin/users/{admin_id}");
    assert_eq!(
        code_of(&call(
            &e,
            &request("PATCH", &me_path, Some(json!({"role": "user"})), Some(&admin))
        )),
        (409, "last_admin".into())
    );
    assert_eq!(
        code_of(&call(
            &e,
            &request("PATCH", &me_path, Some(json!({"enabled": false})), Some(&admin))
        )),
        (409, "last_admin".into())
    );
    assert_eq!(
        code_of(&call(&e, &request("DELETE", &me_path, None, Some(&admin)))),
        (400, "self_delete".into())
    );
    let (second, second_s) = user(&e, &admin, "second", "admin");
    assert_eq!(
        code_of(&call(
            &e,
            &request("PATCH", &me_path, Some(json!({"role": "user"})), Some(&admin))
        )),
        (403, "self_role_change".into())
    );
    assert_eq!(
        call(
            &e,
            &request("DELETE", &format!("/api/admin/users/{second}"), None, Some(&admin))
        )
        .status,
        204
    );
    assert_eq!(
        call(&e, &request("GET", "/api/me", None, Some(&second_s))).status,
        401,
        "a deleted user's session ends"
    );
    assert_eq!(
        call(
            &e,
            &request("DELETE", &format!("/api/admin/users/{id}"), None, Some(&admin))
        )
        .status,
        204
    );
    assert_eq!(
        code_of(&call(
            &e,
            &request("DELETE", &format!("/api/admin/users/{id}"), None, Some(&admin))
        )),
        (404, "not_found".into())
    );
}
