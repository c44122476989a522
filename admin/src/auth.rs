//! Authentication of the admin port. `/admin/api/*` takes the `X-Admin-Token` header, compared in
//! constant time (an HMAC-SHA256 verify under a random per-process key, so neither the content nor
//! the length of the token leaks through timing). `{ui}/api/*` takes the session cookie that
//! `POST {ui}/login` sets after checking the form's `admin_key` and `admin_secret` against the
//! configured key and argon2 PHC hash (the hash is always computed, whatever the key, so timing
//! does not tell whether the key was right). Repeated failures lock the address out
//! ([`crate::lockout`]). `/health`, `/health/ready`, `/metrics`, login and logout need no auth.
//!
//! Login answers 200 `{"ok": true}` with `Set-Cookie`, or, when the `Accept` header prefers HTML
//! (a browser posting the form), 303 to `{ui}/` with the same cookie. Failures are always JSON:
//! 401 `{"error": "invalid credentials"}`, 429 with `Retry-After` while locked out.

use std::time::{SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use parking_lot::Mutex;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::Error;
use crate::http::{parse_urlencoded, Request, Response, MAX_JSON_BODY};
use crate::lockout::{Lockout, LockoutPolicy};
use crate::route::{normalize_ui_path, AuthClass, Route, DEFAULT_UI_PATH};
use crate::session::{SessionKey, SESSION_COOKIE, SESSION_TTL_SECS};

/// The `[ui]` settings authentication needs, as configured. Its `Debug` shows no secret.
#[derive(Clone)]
pub struct AuthConfig {
    /// Where the UI is mounted (`ui.path`, default `/ui`).
    pub ui_path: String,
    /// `ui.admin_token`: the `X-Admin-Token` value; when unset, `admin_key` is the token.
    pub admin_token: Option<String>,
    /// `ui.admin_key`: the login name.
    pub admin_key: Option<String>,
    /// `ui.admin_secret`: the login password as an argon2 PHC string (see [`hash_password`]).
    pub admin_secret: Option<String>,
    /// Session signing key; `None` draws a random one per process.
    pub session_key: Option<Vec<u8>>,
    /// Login lockout policy.
    pub lockout: LockoutPolicy,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            ui_path: DEFAULT_UI_PATH.to_owned(),
            admin_token: None,
            admin_key: None,
            admin_secret: None,
            session_key: None,
            lockout: LockoutPolicy::default(),
        }
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("ui_path", &self.ui_path)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<redacted>"))
            .field("admin_key", &self.admin_key)
            .field("admin_secret", &self.admin_secret.as_ref().map(|_| "<redacted>"))
            .field("session_key", &self.session_key.as_ref().map(|_| "<redacted>"))
            .field("lockout", &self.lockout)
            .finish()
    }
}

/// Who a request was authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A public route: nobody in particular.
    Anonymous,
    /// The admin token holder.
    AdminToken,
    /// A UI session of this user.
    Session(String),
}

/// Authentication state for the life of the admin listener: keys, the hash, the lockout table.
/// Its `Debug` shows no secret.
pub struct Auth {
    ui_path: String,
    token_key: hmac::Key,
    token_tag: Option<hmac::Tag>,
    admin_key: Option<String>,
    secret_hash: Option<String>,
    sessions: SessionKey,
    lockout: Mutex<Lockout>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("ui_path", &self.ui_path)
            .field("admin_token_set", &self.token_tag.is_some())
            .field("admin_key", &self.admin_key)
            .field("admin_secret_set", &self.secret_hash.is_some())
            .field("locked_out_records", &self.lockout.lock().len())
            .finish()
    }
}

/// Milliseconds since the epoch, now.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref().filter(|s| !s.is_empty()).map(str::to_owned)
}

impl Auth {
    /// Builds the state from configuration; a secret that is not an argon2 PHC string is an error
    /// (so `validate` can report it). An unset token or key disables that way in: every attempt
    /// gets 401.
    pub fn new(cfg: &AuthConfig) -> Result<Self, Error> {
        let mut token_secret = [0u8; 32];
        SystemRandom::new().fill(&mut token_secret).map_err(|_| Error::Random)?;
        let token_key = hmac::Key::new(hmac::HMAC_SHA256, &token_secret);
        let token = non_empty(&cfg.admin_token).or_else(|| non_empty(&cfg.admin_key));
        let secret_hash = non_empty(&cfg.admin_secret);
        if let Some(h) = &secret_hash {
            let parsed = PasswordHash::new(h).map_err(|e| Error::PasswordHash(e.to_string()))?;
            if !parsed.algorithm.as_str().starts_with("argon2") {
                return Err(Error::PasswordHash(format!(
                    "algorithm {} is not argon2",
                    parsed.algorithm
                )));
            }
        }
        let sessions = match &cfg.session_key {
            Some(k) if !k.is_empty() => SessionKey::from_secret(k),
            _ => SessionKey::random()?,
        };
        Ok(Auth {
            ui_path: normalize_ui_path(&cfg.ui_path),
            token_tag: token.map(|t| hmac::sign(&token_key, t.as_bytes())),
            token_key,
            admin_key: non_empty(&cfg.admin_key),
            secret_hash,
            sessions,
            lockout: Mutex::new(Lockout::new(cfg.lockout)),
        })
    }

    /// The normalized UI mount path (`/ui`, or `""` at the root), for [`crate::route()`].
    pub fn ui_path(&self) -> &str {
        &self.ui_path
    }

    /// Checks that `req` may call `route`: `Ok` with who it is, or the ready 401 response.
    /// The proxy calls this itself before streaming an upload or download.
    pub fn authenticate(&self, req: &Request, route: Route) -> Result<Principal, Response> {
        self.authenticate_at(req, route, now_ms() / 1000)
    }

    pub(crate) fn authenticate_at(&self, req: &Request, route: Route, now_secs: u64) -> Result<Principal, Response> {
        match route.auth_class() {
            AuthClass::Public => Ok(Principal::Anonymous),
            AuthClass::AdminToken => {
                let Some(tag) = &self.token_tag else {
                    return Err(Response::error(401, "admin API disabled: no admin token configured"));
                };
                let Some(given) = req.header("x-admin-token") else {
                    return Err(Response::error(401, "missing X-Admin-Token header"));
                };
                hmac::verify(&self.token_key, given.as_bytes(), tag.as_ref())
                    .map(|()| Principal::AdminToken)
                    .map_err(|_| Response::error(401, "invalid admin token"))
            }
            AuthClass::Session => {
                let Some(cookie) = req.cookie(SESSION_COOKIE) else {
                    return Err(Response::error(401, "not logged in"));
                };
                match self.sessions.verify(cookie, now_secs) {
                    Some(user) if self.admin_key.as_deref() == Some(user.as_str()) => Ok(Principal::Session(user)),
                    _ => Err(Response::error(401, "invalid or expired session")),
                }
            }
        }
    }

    /// A session cookie value for `user` expiring at `expires` (Unix seconds); tests use it to
    /// make expired cookies.
    #[cfg(test)]
    pub(crate) fn issue_session(&self, user: &str, expires: u64) -> String {
        self.sessions.issue(user, expires)
    }

    fn cookie_attrs(&self, req: &Request) -> String {
        let path = if self.ui_path.is_empty() { "/" } else { &self.ui_path };
        let secure = if req.tls { "; Secure" } else { "" };
        format!("Path={path}; HttpOnly; SameSite=Strict{secure}")
    }

    fn success_response(&self, req: &Request, set_cookie: String) -> Response {
        if req.wants_html() {
            Response::json(303, &serde_json::json!({ "ok": true }))
                .with_header("location", &format!("{}/", self.ui_path))
                .with_header("set-cookie", &set_cookie)
        } else {
            Response::json(200, &serde_json::json!({ "ok": true })).with_header("set-cookie", &set_cookie)
        }
    }

    /// `POST {ui}/login`: checks the form against the configuration, applying the lockout.
    pub fn login(&self, req: &Request) -> Response {
        self.login_at(req, now_ms())
    }

    pub(crate) fn login_at(&self, req: &Request, now: u64) -> Response {
        if let Some(wait) = self.lockout.lock().locked(req.peer_ip, now) {
            let secs = wait.div_ceil(1000).to_string();
            return Response::error(429, "too many failed logins, try again later").with_header("retry-after", &secs);
        }
        if req.body.len() > MAX_JSON_BODY {
            return Response::too_large();
        }
        let form_type = req.header("content-type").is_none_or(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
        });
        if !form_type {
            return Response::error(400, "expected an application/x-www-form-urlencoded form");
        }
        let form = match std::str::from_utf8(&req.body)
            .map_err(|_| Error::bad_request("form is not valid UTF-8"))
            .and_then(parse_urlencoded)
        {
            Ok(f) => f,
            Err(e) => return Response::from_error(&e),
        };
        let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let (Some(key), Some(secret)) = (field("admin_key"), field("admin_secret")) else {
            return Response::error(400, "admin_key and admin_secret are required");
        };
        if self.check_credentials(key, secret) {
            self.lockout.lock().success(req.peer_ip);
            let value = self.sessions.issue(key, now / 1000 + SESSION_TTL_SECS);
            let cookie = format!(
                "{SESSION_COOKIE}={value}; Max-Age={SESSION_TTL_SECS}; {}",
                self.cookie_attrs(req)
            );
            self.success_response(req, cookie)
        } else {
            if self.lockout.lock().failure(req.peer_ip, now) {
                tracing::warn!(peer = %req.peer_ip, "admin UI login locked after repeated failures");
            }
            Response::error(401, "invalid credentials")
        }
    }

    /// Whether the key and secret match the configuration. The argon2 hash runs whatever the key.
    fn check_credentials(&self, key: &str, secret: &str) -> bool {
        let (Some(want_key), Some(hash)) = (&self.admin_key, &self.secret_hash) else {
            return false;
        };
        let secret_ok =
            PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(secret.as_bytes(), &h).is_ok());
        let tag = hmac::sign(&self.token_key, want_key.as_bytes());
        let key_ok = hmac::verify(&self.token_key, key.as_bytes(), tag.as_ref()).is_ok();
        secret_ok && key_ok
    }

    /// `POST {ui}/logout`: clears the session cookie (200 `{"ok": true}`, or 303 to `{ui}/` for a
    /// browser). The cookie is stateless, so a copy of it stays valid until it expires.
    pub fn logout(&self, req: &Request) -> Response {
        let cookie = format!("{SESSION_COOKIE}=; Max-Age=0; {}", self.cookie_attrs(req));
        self.success_response(req, cookie)
    }
}

/// Hashes a password into the argon2id PHC string `ui.admin_secret` expects (for the CLI's
/// `hash-password` command), with a fresh random salt and argon2's default cost
/// (19 MiB, 2 passes).
pub fn hash_password(plain: &str) -> Result<String, Error> {
    hash_password_with(plain, &Argon2::default())
}

pub(crate) fn hash_password_with(plain: &str, argon: &Argon2<'_>) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    SystemRandom::new().fill(&mut salt).map_err(|_| Error::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::PasswordHash(e.to_string()))?;
    argon
        .hash_password(plain.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::PasswordHash(e.to_string()))
}

#[cfg(test)]
pub(crate) mod tests;
