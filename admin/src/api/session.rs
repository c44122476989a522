//! Server-side sessions: an opaque 256-bit id in the HttpOnly `stowage_session` cookie (stored
//! only as its SHA-256), a CSRF token in the `stowage_csrf` cookie and in the session record,
//! a hard expiry (`session_lifetime`) and an idle one (`session_idle`). A session ends when
//! either passes, when its user is deleted or disabled, at logout, and (for the user's other
//! sessions) when the password changes. Both cookies are `Path=/; SameSite=Lax`, `Secure` under
//! HTTPS.

use s3o_store::{DocWrite, Expect};

use crate::access::ids::{new_token, token_digest};
use crate::access::records::{self, encode, get, Session, User, SESSIONS, USERS, USER_SESSIONS};
use crate::access::{Access, CSRF_COOKIE, SESSION_COOKIE};
use crate::error::Error;
use crate::http::{Request, Response};

/// How stale `last_seen_ms` may get before a request writes it again (bounds writes per session
/// to one a minute; the idle expiry is that much coarse).
const TOUCH_EVERY_MS: u64 = 60_000;

/// The signed-in caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: User,
    /// The user record's revision.
    pub user_revision: u64,
    /// The session.
    pub session: Session,
    /// The session's stored id (the digest of the cookie).
    pub digest: String,
}

/// The session the request's cookie names, if it is alive and its user enabled; an expired or
/// orphaned session is removed on the way.
pub async fn resolve(req: &Request, access: &Access) -> Result<Option<Caller>, Error> {
    let Some(token) = req.cookie(SESSION_COOKIE).filter(|t| !t.is_empty() && t.len() <= 128) else {
        return Ok(None);
    };
    let digest = token_digest(token);
    let Some((mut session, revision)) = get::<Session>(&access.store, SESSIONS, &digest).await? else {
        return Ok(None);
    };
    let now = access.now();
    let expired = now >= session.expires_ms || now.saturating_sub(session.last_seen_ms) >= access.cfg.session_idle_ms;
    let user = if expired {
        None
    } else {
        get::<User>(&access.store, USERS, &session.user_id)
            .await?
            .filter(|(u, _)| u.enabled)
    };
    let Some((user, user_revision)) = user else {
        end(access, &session.user_id, &digest).await?;
        return Ok(None);
    };
    if now.saturating_sub(session.last_seen_ms) >= TOUCH_EVERY_MS {
        session.last_seen_ms = now;
        // A concurrent request may have touched it first; either write will do.
        let touch = DocWrite::replace(SESSIONS, &digest, revision, encode(&session)?);
        records::apply(&access.store, vec![touch]).await?;
    }
    Ok(Some(Caller {
        user,
        user_revision,
        session,
        digest,
    }))
}

/// Whether the request carries the session's CSRF token in `X-CSRF-Token`, matching the
/// `stowage_csrf` cookie too; both compared in constant time.
pub fn csrf_ok(req: &Request, caller: &Caller) -> bool {
    let Some(header) = req.header("x-csrf-token").filter(|h| !h.is_empty()) else {
        return false;
    };
    let want = caller.session.csrf.as_bytes();
    let cookie_ok = req
        .cookie(CSRF_COOKIE)
        .is_some_and(|c| constant_time_eq(c.as_bytes(), want));
    constant_time_eq(header.as_bytes(), want) && cookie_ok
}

/// Whether `a == b`, in time that depends only on their lengths (tokens have a fixed length).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Starts a session for `user` and returns the cookies to set. A session the request already
/// carried is ended first, so a fixated id never becomes a signed-in one.
pub async fn start(req: &Request, access: &Access, user: &User) -> Result<Vec<String>, Error> {
    if let Some(old) = req.cookie(SESSION_COOKIE).filter(|t| !t.is_empty() && t.len() <= 128) {
        let digest = token_digest(old);
        if let Some((s, _)) = get::<Session>(&access.store, SESSIONS, &digest).await? {
            end(access, &s.user_id, &digest).await?;
        }
    }
    let now = access.now();
    let token = new_token()?;
    let session = Session {
        user_id: user.id.clone(),
        csrf: new_token()?,
        identity_source: user.identity_source.clone(),
        must_change_pw: user.must_change_pw,
        created_ms: now,
        last_seen_ms: now,
        expires_ms: now.saturating_add(access.cfg.session_lifetime_ms),
        ip: access.cfg.trusted_proxies.client_ip(req).to_string(),
        user_agent: req.header("user-agent").unwrap_or_default().chars().take(256).collect(),
    };
    let digest = token_digest(&token);
    let writes = vec![
        DocWrite::create(SESSIONS, &digest, encode(&session)?),
        DocWrite::put(USER_SESSIONS, &format!("{}/{digest}", user.id), Vec::new()),
    ];
    if !records::apply(&access.store, writes).await? {
        return Err(Error::internal("session id collision"));
    }
    let max_age = access.cfg.session_lifetime_ms / 1000;
    Ok(cookies(req, access, &token, &session.csrf, max_age))
}

/// The `Set-Cookie` values for a session (`max_age` 0 clears them).
fn cookies(req: &Request, access: &Access, token: &str, csrf: &str, max_age: u64) -> Vec<String> {
    let secure = if access.cfg.trusted_proxies.is_https(req) {
        "; Secure"
    } else {
        ""
    };
    vec![
        format!("{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"),
        format!("{CSRF_COOKIE}={csrf}; Path=/; Max-Age={max_age}; SameSite=Lax{secure}"),
    ]
}

/// The cookies that clear a session.
pub fn clearing_cookies(req: &Request, access: &Access) -> Vec<String> {
    cookies(req, access, "", "", 0)
}

/// Sets `cookies` on `resp`.
pub fn with_cookies(mut resp: Response, cookies: Vec<String>) -> Response {
    resp.headers
        .extend(cookies.into_iter().map(|c| ("set-cookie".to_owned(), c)));
    resp
}

/// Ends one session.
pub async fn end(access: &Access, user_id: &str, digest: &str) -> Result<(), Error> {
    let writes = vec![
        DocWrite::delete(SESSIONS, digest, Expect::Any),
        DocWrite::delete(USER_SESSIONS, &format!("{user_id}/{digest}"), Expect::Any),
    ];
    records::apply(&access.store, writes).await.map(drop)
}

/// Ends every session of `user_id` but `keep` (a digest).
pub async fn end_all(access: &Access, user_id: &str, keep: Option<&str>) -> Result<(), Error> {
    let prefix = format!("{user_id}/");
    for id in records::ids(&access.store, USER_SESSIONS, &prefix).await? {
        let digest = id.strip_prefix(&prefix).unwrap_or_default();
        if Some(digest) != keep {
            end(access, user_id, digest).await?;
        }
    }
    Ok(())
}
