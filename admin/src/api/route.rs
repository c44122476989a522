//! The router of the seed-003 API: one pure function from (method, path) to an [`ApiRoute`]
//! carrying its path parameters (percent-decoded), or a JSON 404 / 405 for a path under this
//! API's prefixes; `None` for every other path (seed 000's router takes those).

use super::{api_error, Need};
use crate::http::{percent_decode, Response};

/// One endpoint of the seed-003 API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiRoute {
    /// `GET /healthz`.
    Healthz,
    /// `GET /api/openapi.json`: this API's OpenAPI document (public).
    OpenApi,
    /// `POST /auth/login/local`.
    LoginLocal,
    /// `POST /auth/logout`.
    Logout,
    /// `GET /auth/login/oidc`.
    LoginOidc,
    /// `GET /auth/callback`.
    Callback,
    /// `GET /api/auth/config`.
    AuthConfig,
    /// `GET /api/me`.
    Me,
    /// `POST /api/me/password`.
    MePassword,
    /// `GET /api/me/s3-credentials`.
    MeCreds,
    /// `POST /api/me/s3-credentials`.
    MeCredsCreate,
    /// `PATCH /api/me/s3-credentials/{akid}`.
    MeCredsPatch(String),
    /// `DELETE /api/me/s3-credentials/{akid}`.
    MeCredsDelete(String),
    /// `GET /api/admin/users`.
    Users,
    /// `POST /api/admin/users`.
    UserCreate,
    /// `GET /api/admin/users/{id}`.
    User(String),
    /// `PATCH /api/admin/users/{id}`.
    UserPatch(String),
    /// `DELETE /api/admin/users/{id}`.
    UserDelete(String),
    /// `POST /api/admin/users/{id}/reset-password`.
    UserReset(String),
    /// `POST /api/admin/users/{id}/unlock`.
    UserUnlock(String),
    /// `GET /api/admin/s3-credentials`.
    Creds,
    /// `POST /api/admin/s3-credentials`.
    CredsCreate,
    /// `PATCH /api/admin/s3-credentials/{akid}`.
    CredsPatch(String),
    /// `DELETE /api/admin/s3-credentials/{akid}`.
    CredsDelete(String),
    /// `GET /api/admin/s3-anonymous`.
    Anon,
    /// `POST /api/admin/s3-anonymous`.
    AnonUpsert,
    /// `DELETE /api/admin/s3-anonymous/{bid}/{bucket}`.
    AnonDelete(String, String),
    /// `GET /api/admin/s3-proxy/credentials`.
    ProxyCreds,
    /// `GET /api/admin/s3-proxy/anonymous`.
    ProxyAnon,
    /// `GET /api/admin/audit`.
    Audit,
    /// `GET /api/admin/audit.csv`.
    AuditCsv,
    /// A route of the data API (backends, buckets, objects, shares, pins, search, `/s/*`).
    Data(crate::data::DataRoute),
}

impl ApiRoute {
    /// The role the route needs once signed in.
    pub fn need(&self) -> Need {
        use ApiRoute as R;
        match self {
            R::Data(d) => d.need(),
            R::MeCredsCreate | R::MeCredsPatch(_) | R::MeCredsDelete(_) => Need::Writer,
            R::Users
            | R::UserCreate
            | R::User(_)
            | R::UserPatch(_)
            | R::UserDelete(_)
            | R::UserReset(_)
            | R::UserUnlock(_)
            | R::Creds
            | R::CredsCreate
            | R::CredsPatch(_)
            | R::CredsDelete(_)
            | R::Anon
            | R::AnonUpsert
            | R::AnonDelete(..)
            | R::ProxyCreds
            | R::ProxyAnon
            | R::Audit
            | R::AuditCsv => Need::Admin,
            _ => Need::Any,
        }
    }

    /// Whether the route reads a JSON body.
    pub fn takes_body(&self) -> bool {
        use ApiRoute as R;
        if let R::Data(d) = self {
            return d.takes_body();
        }
        matches!(
            self,
            R::LoginLocal
                | R::MePassword
                | R::MeCredsCreate
                | R::MeCredsPatch(_)
                | R::UserCreate
                | R::UserPatch(_)
                | R::UserReset(_)
                | R::CredsCreate
                | R::CredsPatch(_)
                | R::AnonUpsert
        )
    }

    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        use ApiRoute as R;
        match self {
            R::Data(_) => "data",
            R::Healthz => "healthz",
            R::OpenApi => "openapi",
            R::LoginLocal => "login_local",
            R::Logout => "logout",
            R::LoginOidc => "login_oidc",
            R::Callback => "oidc_callback",
            R::AuthConfig => "auth_config",
            R::Me => "me",
            R::MePassword => "me_password",
            R::MeCreds | R::MeCredsCreate | R::MeCredsPatch(_) | R::MeCredsDelete(_) => "me_s3_credentials",
            R::Users | R::UserCreate | R::User(_) | R::UserPatch(_) | R::UserDelete(_) => "admin_users",
            R::UserReset(_) | R::UserUnlock(_) => "admin_users_action",
            R::Creds | R::CredsCreate | R::CredsPatch(_) | R::CredsDelete(_) => "admin_s3_credentials",
            R::Anon | R::AnonUpsert | R::AnonDelete(..) => "admin_s3_anonymous",
            R::ProxyCreds | R::ProxyAnon => "admin_s3_proxy",
            R::Audit | R::AuditCsv => "admin_audit",
        }
    }
}

/// Routes `method path` if the path is this API's (`/healthz`, `/readyz` is seed 000's ready
/// check, `/auth/…`, `/api/…`): the route, or a 404 / 405 in this API's error shape. `None`
/// for any other path.
pub fn api_route(method: &str, path: &str) -> Option<Result<ApiRoute, Response>> {
    let is_api = path == "/healthz"
        || path.starts_with("/auth/")
        || path == "/api"
        || path.starts_with("/api/")
        || path.starts_with("/s/");
    if !is_api {
        return None;
    }
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let decode = |s: &str| percent_decode(s).ok().filter(|d| !d.is_empty());
    use ApiRoute as R;
    let one = |allow: &'static str, r: Option<ApiRoute>| (allow, r);
    let (allow, found): (&str, Option<ApiRoute>) = match segs.as_slice() {
        ["healthz"] => one("GET", (method == "GET").then_some(R::Healthz)),
        ["auth", "login", "local"] => one("POST", (method == "POST").then_some(R::LoginLocal)),
        ["auth", "logout"] => one("POST", (method == "POST").then_some(R::Logout)),
        ["auth", "login", "oidc"] => one("GET", (method == "GET").then_some(R::LoginOidc)),
        ["auth", "callback"] => one("GET", (method == "GET").then_some(R::Callback)),
        ["api", "auth", "config"] => one("GET", (method == "GET").then_some(R::AuthConfig)),
        ["api", "openapi.json"] => one("GET", (method == "GET").then_some(R::OpenApi)),
        ["api", "me"] => one("GET", (method == "GET").then_some(R::Me)),
        ["api", "me", "password"] => one("POST", (method == "POST").then_some(R::MePassword)),
        ["api", "me", "s3-credentials"] => one(
            "GET, POST",
            match method {
                "GET" => Some(R::MeCreds),
                "POST" => Some(R::MeCredsCreate),
                _ => None,
            },
        ),
        ["api", "me", "s3-credentials", akid] => match decode(akid) {
            None => return Some(Err(not_found())),
            Some(a) => one(
                "PATCH, DELETE",
                match method {
                    "PATCH" => Some(R::MeCredsPatch(a)),
                    "DELETE" => Some(R::MeCredsDelete(a)),
                    _ => None,
                },
            ),
        },
        ["api", "admin", "users"] => one(
            "GET, POST",
            match method {
                "GET" => Some(R::Users),
                "POST" => Some(R::UserCreate),
                _ => None,
            },
        ),
        ["api", "admin", "users", id] => match decode(id) {
            None => return Some(Err(not_found())),
            Some(id) => one(
                "GET, PATCH, DELETE",
                match method {
                    "GET" => Some(R::User(id)),
                    "PATCH" => Some(R::UserPatch(id)),
                    "DELETE" => Some(R::UserDelete(id)),
                    _ => None,
                },
            ),
        },
        ["api", "admin", "users", id, action @ ("reset-password" | "unlock")] => match decode(id) {
            None => return Some(Err(not_found())),
            Some(id) => one(
                "POST",
                (method == "POST").then(|| {
                    if *action == "unlock" {
                        R::UserUnlock(id)
                    } else {
                        R::UserReset(id)
                    }
                }),
            ),
        },
        ["api", "admin", "s3-credentials"] => one(
            "GET, POST",
            match method {
                "GET" => Some(R::Creds),
                "POST" => Some(R::CredsCreate),
                _ => None,
            },
        ),
        ["api", "admin", "s3-credentials", akid] => match decode(akid) {
            None => return Some(Err(not_found())),
            Some(a) => one(
                "PATCH, DELETE",
                match method {
                    "PATCH" => Some(R::CredsPatch(a)),
                    "DELETE" => Some(R::CredsDelete(a)),
                    _ => None,
                },
            ),
        },
        ["api", "admin", "s3-anonymous"] => one(
            "GET, POST",
            match method {
                "GET" => Some(R::Anon),
                "POST" => Some(R::AnonUpsert),
                _ => None,
            },
        ),
        ["api", "admin", "s3-anonymous", bid, bucket] => match (decode(bid), decode(bucket)) {
            (Some(b), Some(k)) => one("DELETE", (method == "DELETE").then_some(R::AnonDelete(b, k))),
            _ => return Some(Err(not_found())),
        },
        ["api", "admin", "s3-proxy", "credentials"] => one("GET", (method == "GET").then_some(R::ProxyCreds)),
        ["api", "admin", "s3-proxy", "anonymous"] => one("GET", (method == "GET").then_some(R::ProxyAnon)),
        ["api", "admin", "audit"] => one("GET", (method == "GET").then_some(R::Audit)),
        ["api", "admin", "audit.csv"] => one("GET", (method == "GET").then_some(R::AuditCsv)),
        other => match crate::data::route(method, other, &decode) {
            Some((allow, found)) => (allow, found.map(R::Data)),
            None => return Some(Err(not_found())),
        },
    };
    Some(found.ok_or_else(|| api_error(405, "method_not_allowed", "method not allowed").with_header("allow", allow)))
}

fn not_found() -> Response {
    api_error(404, "not_found", "no such endpoint")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_params() {
        let r = |m: &str, p: &str| api_route(m, p).map(|r| r.map_err(|e| e.status));
        assert_eq!(r("GET", "/ui/api/dashboard"), None);
        assert_eq!(r("GET", "/metrics"), None);
        assert_eq!(r("GET", "/healthz"), Some(Ok(ApiRoute::Healthz)));
        assert_eq!(r("GET", "/api/openapi.json"), Some(Ok(ApiRoute::OpenApi)));
        assert_eq!(r("POST", "/api/openapi.json"), Some(Err(405)));
        assert_eq!(r("POST", "/auth/login/local"), Some(Ok(ApiRoute::LoginLocal)));
        assert_eq!(r("GET", "/auth/login/local"), Some(Err(405)));
        assert_eq!(
            r("DELETE", "/api/admin/s3-anonymous/orchestrator/my%20bucket"),
            Some(Ok(ApiRoute::AnonDelete("orchestrator".into(), "my bucket".into())))
        );
        assert_eq!(
            r("POST", "/api/admin/users/01H/unlock"),
            Some(Ok(ApiRoute::UserUnlock("01H".into())))
        );
        assert_eq!(r("PUT", "/api/admin/users/01H"), Some(Err(405)));
        assert_eq!(r("GET", "/api/nothing"), Some(Err(404)));
        assert_eq!(r("PATCH", "/api/me/s3-credentials/%zz"), Some(Err(404)));
        let e = api_route("PUT", "/api/me").unwrap().unwrap_err();
        assert_eq!(e.header("allow"), Some("GET"));
        assert_eq!(ApiRoute::Audit.need(), Need::Admin);
        assert_eq!(ApiRoute::MeCredsCreate.need(), Need::Writer);
        assert_eq!(ApiRoute::MeCreds.need(), Need::Any);
    }
}
