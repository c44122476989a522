//! The multi-user API of seed 003 on the admin port: `/healthz`, `/readyz`, `/auth/*` and
//! `/api/*`, over the access layer ([`crate::access`]). Its errors keep the seed's shape
//! `{"error": {"code", "message", "detail"}}` ([`api_error`]), apart from seed 000's.
//!
//! Every `/api/*` route but `GET /api/auth/config` runs the same gate, in the seed's order
//! ([`gate`]): a live session (401 `unauthorized`), the CSRF token on mutations (403
//! `csrf_invalid`), the forced password change (403 `password_change_required`), the
//! per-session rate limit (429 `rate_limited`), then the route's role (403 `forbidden`).

pub mod audit;
mod auth;
mod creds;
mod oidc;
mod route;
pub(crate) mod session;
mod users;

use serde::de::DeserializeOwned;
use serde_json::json;

pub use auth::verify as auth_verify;
pub use route::{api_route, ApiRoute};
pub use session::Caller;
pub use users::create_local_user;

use crate::access::records::Role;
use crate::access::Access;
use crate::error::Error;
use crate::http::{Request, Response};

/// The OpenAPI 3.1 description of this API (`/api/*`, `/auth/*`, `/s/*`, `/healthz`, `/readyz`,
/// `/metrics`), served at `GET /api/openapi.json` without a session.
pub const OPENAPI_API_JSON: &str = include_str!("../../openapi-api.json");

/// `GET /api/openapi.json`: [`OPENAPI_API_JSON`].
pub fn openapi() -> Response {
    Response::text(200, "application/json", OPENAPI_API_JSON.to_owned())
}

/// Largest JSON body of these routes (the seed reads at most 64 KiB).
pub const MAX_API_BODY: usize = 64 * 1024;

/// The seed-003 error response.
pub fn api_error(status: u16, code: &str, message: &str) -> Response {
    let mut r = Response::json(
        status,
        &json!({ "error": { "code": code, "message": message, "detail": "" } }),
    );
    if status == 401 {
        r.headers.push(("www-authenticate".into(), "Session".into()));
    }
    r
}

/// A crate error as a seed-003 error (`internal` / `store_unavailable` for our failures).
pub fn from_error(e: &Error) -> Response {
    match e {
        Error::BadRequest(m) => api_error(400, "bad_request", m),
        Error::NotFound(m) => api_error(404, "not_found", m),
        Error::Conflict(m) => api_error(409, "conflict", m),
        Error::Unavailable(m) => api_error(503, "store_unavailable", m),
        other => {
            tracing::warn!(error = %other, "access API request failed");
            api_error(500, "internal", "internal error")
        }
    }
}

/// The JSON body as `T`; 400 `bad_request` "invalid JSON body" otherwise.
pub fn body<T: DeserializeOwned>(req: &Request) -> Result<T, Response> {
    if req.body.len() > MAX_API_BODY {
        return Err(api_error(413, "too_large", "request body too large"));
    }
    serde_json::from_slice(&req.body).map_err(|_| api_error(400, "bad_request", "invalid JSON body"))
}

/// Adds the security headers every response of this API carries (and HSTS under HTTPS).
fn secure(mut r: Response, https: bool) -> Response {
    for (n, v) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        (
            "content-security-policy",
            "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
        ),
    ] {
        if r.header(n).is_none() {
            r.headers.push((n.into(), v.into()));
        }
    }
    if https {
        r.headers.push((
            "strict-transport-security".into(),
            "max-age=31536000; includeSubDomains".into(),
        ));
    }
    r
}

/// Which role a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any signed-in user.
    Any,
    /// `admin` or `user`.
    Writer,
    /// `admin`.
    Admin,
}

impl Need {
    fn allows(self, role: Role) -> bool {
        match self {
            Need::Any => true,
            Need::Writer => role.writes(),
            Need::Admin => role == Role::Admin,
        }
    }
}

/// Answers one request of this API. `readiness` answers `/readyz`.
pub async fn handle(
    route: ApiRoute,
    req: &Request,
    access: &Access,
    data: Option<&dyn crate::data::DataApi>,
) -> Response {
    let https = access.cfg.trusted_proxies.is_https(req);
    let backend = match &route {
        ApiRoute::Data(d) => d.backend().map(str::to_owned),
        _ => None,
    };
    let (resp, user_id) = dispatch(route, req, access, data).await;
    if req.path.starts_with("/api/") {
        let who = (user_id.as_deref(), backend.as_deref());
        access
            .api_stats
            .record(access.now(), (&req.method, &req.path), resp.status, who);
    }
    secure(resp, https)
}

async fn dispatch(
    route: ApiRoute,
    req: &Request,
    access: &Access,
    data: Option<&dyn crate::data::DataApi>,
) -> (Response, Option<String>) {
    use ApiRoute as R;
    let resp = match route {
        R::Data(d) if d.is_public() => crate::data::public(d, req, access, data).await,
        R::Healthz => Response::json(200, &json!({ "status": "ok" })),
        R::OpenApi => openapi(),
        R::LoginLocal => auth::login(req, access).await,
        R::Logout => auth::logout(req, access).await,
        R::LoginOidc => oidc::start(req, access).await,
        R::Callback => oidc::callback(req, access).await,
        R::AuthConfig => auth::config(access),
        _ => {
            let caller = match gate(&route, req, access).await {
                Ok(c) => c,
                Err(r) => return (r, None),
            };
            let resp = authenticated(route, req, access, &caller, data).await;
            return (resp, Some(caller.user.id));
        }
    };
    (resp, None)
}

async fn authenticated(
    route: ApiRoute,
    req: &Request,
    access: &Access,
    caller: &Caller,
    data: Option<&dyn crate::data::DataApi>,
) -> Response {
    use ApiRoute as R;
    match route {
        R::Data(d) => crate::data::handle(d, req, access, caller, data).await,
        R::Me => auth::me(caller),
        R::MePassword => auth::change_password(req, access, caller).await,
        R::MeCreds | R::MeCredsCreate | R::MeCredsPatch(_) | R::MeCredsDelete(_) => {
            creds::mine(route, req, access, caller).await
        }
        R::Users
        | R::UserCreate
        | R::User(_)
        | R::UserPatch(_)
        | R::UserDelete(_)
        | R::UserReset(_)
        | R::UserUnlock(_) => users::handle(route, req, access, caller).await,
        R::Creds | R::CredsCreate | R::CredsPatch(_) | R::CredsDelete(_) => {
            creds::admin(route, req, access, caller).await
        }
        R::Anon | R::AnonUpsert | R::AnonDelete(..) | R::ProxyCreds | R::ProxyAnon => {
            creds::bindings(route, req, access, caller).await
        }
        R::Audit => audit::query(req, access).await,
        R::AuditCsv => audit::csv(req, access).await,
        R::Healthz | R::OpenApi | R::LoginLocal | R::Logout | R::LoginOidc | R::Callback | R::AuthConfig => {
            api_error(500, "internal", "route reached the authenticated dispatch")
        }
    }
}

/// Opens `GET /api/admin/audit.csv` for streaming after the API's gate: the response headers
/// and the export, or the refusal to send.
pub async fn open_audit_csv(
    req: &Request,
    access: &Access,
) -> Result<(Vec<(String, String)>, audit::CsvExport), Response> {
    let https = access.cfg.trusted_proxies.is_https(req);
    gate(&ApiRoute::AuditCsv, req, access)
        .await
        .map_err(|r| secure(r, https))?;
    let export = audit::export(req, access).map_err(|r| secure(r, https))?;
    let mut head = Response {
        status: 200,
        headers: audit::csv_headers(),
        body: Default::default(),
    };
    head = secure(head, https);
    Ok((head.headers, export))
}

/// The `/api/*` gate for a data route the proxy streams itself: the caller, or the refusal to
/// send (with this API's headers).
pub async fn gate_streamed(route: &crate::data::DataRoute, req: &Request, access: &Access) -> Result<Caller, Response> {
    let https = access.cfg.trusted_proxies.is_https(req);
    gate(&ApiRoute::Data(route.clone()), req, access)
        .await
        .map_err(|r| secure(r, https))
}

/// `r` with the headers every response of this API carries (for the proxy's streamed
/// answers: their heads).
pub fn secured(r: Response, req: &Request, access: &Access) -> Response {
    secure(r, access.cfg.trusted_proxies.is_https(req))
}

/// The `/api/*` gate: session, CSRF, forced password change, rate limit, role.
async fn gate(route: &ApiRoute, req: &Request, access: &Access) -> Result<Caller, Response> {
    let caller = session::resolve(req, access)
        .await
        .map_err(|e| from_error(&e))?
        .ok_or_else(|| api_error(401, "unauthorized", "authentication required"))?;
    if !matches!(req.method.as_str(), "GET" | "HEAD" | "OPTIONS") && !session::csrf_ok(req, &caller) {
        return Err(api_error(403, "csrf_invalid", "csrf token missing or invalid"));
    }
    if caller.session.must_change_pw && !matches!(route, ApiRoute::Me | ApiRoute::MePassword) {
        return Err(api_error(
            403,
            "password_change_required",
            "rotate your password before using the API",
        ));
    }
    if let Err(wait) = access.api_limiter.check(&caller.digest, access.now()) {
        return Err(api_error(
            429,
            "rate_limited",
            "too many requests on this session; slow down or wait a minute",
        )
        .with_header("retry-after", &wait.to_string()));
    }
    if !route.need().allows(caller.user.role) {
        return Err(api_error(403, "forbidden", "insufficient privileges"));
    }
    Ok(caller)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_creds;
#[cfg(test)]
mod tests_openapi;
