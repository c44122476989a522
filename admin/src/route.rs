//! The admin port's router: one pure function from (method, path) to a [`Route`], with the UI
//! mounted at a configurable path (default `/ui`). Every route, its method, its path template and
//! its authentication class live in one table, [`ROUTES`], which the OpenAPI test also checks
//! against `admin/openapi.json`. A template segment `{name}` matches one non-empty path segment
//! (a backend's name). A known path with the wrong method is a 405 carrying `Allow`; an unknown
//! path is a 404.

use crate::http::Response;

/// The default mount path of the web UI and its API.
pub const DEFAULT_UI_PATH: &str = "/ui";

/// One endpoint of the admin port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `GET /admin/api/status`: per-backend usage and store health.
    AdminStatus,
    /// `GET /admin/api/workers`: background workers' last-tick health.
    AdminWorkers,
    /// `GET /admin/api/object-locations?key=`: every copy of one object.
    AdminObjectLocations,
    /// `GET /admin/api/cleanup-queue`: queue depth and up to 50 items.
    AdminCleanupQueue,
    /// `POST /admin/api/usage-flush`: flush usage counters now.
    AdminUsageFlush,
    /// `GET /admin/api/log-level`: the runtime log level.
    AdminLogLevelGet,
    /// `PUT /admin/api/log-level`: change the runtime log level.
    AdminLogLevelPut,
    /// `GET /admin/api/openapi.json`: this API's OpenAPI 3.1 document.
    AdminOpenApi,
    /// `POST {ui}/login`: form login, sets the session cookie.
    UiLogin,
    /// `POST {ui}/logout`: clears the session cookie.
    UiLogout,
    /// `GET {ui}/api/dashboard`: the dashboard snapshot.
    UiDashboard,
    /// `GET {ui}/api/tree`: one page of a directory listing.
    UiTree,
    /// `GET {ui}/api/logs`: buffered log entries.
    UiLogs,
    /// `POST {ui}/api/delete`: delete one object.
    UiDelete,
    /// `POST {ui}/api/delete-prefix`: delete every object under a prefix.
    UiDeletePrefix,
    /// `POST {ui}/api/upload`: multipart upload, streamed by the proxy.
    UiUpload,
    /// `GET {ui}/api/download?key=`: object download, streamed by the proxy.
    UiDownload,
    /// `POST {ui}/api/sync`: import a backend bucket's existing objects.
    UiSync,
    /// `POST /admin/api/replicate`: one replication cycle.
    AdminReplicate,
    /// `POST /admin/api/scrub`: one integrity scrub cycle.
    AdminScrub,
    /// `POST /admin/api/hash-existing`: content hashes for versions without one.
    AdminHashExisting,
    /// `POST /admin/api/encrypt-existing`: seal every unencrypted object.
    AdminEncryptExisting,
    /// `POST /admin/api/decrypt-existing`: store every sealed object as plaintext.
    AdminDecryptExisting,
    /// `POST /admin/api/rotate-encryption-key`: re-wrap data keys under the current master key.
    AdminRotateKey,
    /// `GET /admin/api/over-replication`: the factor and the over-replicated versions.
    AdminOverReplicationGet,
    /// `POST /admin/api/over-replication`: one over-replication cleanup pass.
    AdminOverReplicationPost,
    /// `POST /admin/api/backends/{name}/drain`: start draining a backend.
    AdminDrainStart,
    /// `GET /admin/api/backends/{name}/drain`: a drain's progress.
    AdminDrainStatus,
    /// `DELETE /admin/api/backends/{name}/drain`: cancel a drain.
    AdminDrainCancel,
    /// `DELETE /admin/api/backends/{name}`: forget (and with `purge=true` delete) a backend's objects.
    AdminBackendRemove,
    /// `POST {ui}/api/rebalance`: start a rebalance in the background.
    UiRebalance,
    /// `GET {ui}/api/rebalance/status`: the last rebalance's outcome.
    UiRebalanceStatus,
    /// `POST {ui}/api/clean-excess`: start an over-replication cleanup in the background.
    UiCleanExcess,
    /// `GET {ui}/api/clean-excess/status`: the last cleanup's outcome.
    UiCleanExcessStatus,
    /// `GET /health`: liveness.
    Health,
    /// `GET /health/ready`: readiness (store writable, a backend reachable).
    HealthReady,
    /// `GET /metrics`: Prometheus text exposition.
    Metrics,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthClass {
    /// Anyone: health, readiness, metrics, login and logout.
    Public,
    /// `X-Admin-Token` must match the configured token (`/admin/api/*`).
    AdminToken,
    /// A valid session cookie from `POST {ui}/login` (`{ui}/api/*`).
    Session,
}

/// Every route with its method and path template; `{ui}` stands for the UI mount path.
pub const ROUTES: &[(Route, &str, &str)] = &[
    (Route::AdminStatus, "GET", "/admin/api/status"),
    (Route::AdminWorkers, "GET", "/admin/api/workers"),
    (Route::AdminObjectLocations, "GET", "/admin/api/object-locations"),
    (Route::AdminCleanupQueue, "GET", "/admin/api/cleanup-queue"),
    (Route::AdminUsageFlush, "POST", "/admin/api/usage-flush"),
    (Route::AdminLogLevelGet, "GET", "/admin/api/log-level"),
    (Route::AdminLogLevelPut, "PUT", "/admin/api/log-level"),
    (Route::AdminOpenApi, "GET", "/admin/api/openapi.json"),
    (Route::UiLogin, "POST", "{ui}/login"),
    (Route::UiLogout, "POST", "{ui}/logout"),
    (Route::UiDashboard, "GET", "{ui}/api/dashboard"),
    (Route::UiTree, "GET", "{ui}/api/tree"),
    (Route::UiLogs, "GET", "{ui}/api/logs"),
    (Route::UiDelete, "POST", "{ui}/api/delete"),
    (Route::UiDeletePrefix, "POST", "{ui}/api/delete-prefix"),
    (Route::UiUpload, "POST", "{ui}/api/upload"),
    (Route::UiDownload, "GET", "{ui}/api/download"),
    (Route::UiSync, "POST", "{ui}/api/sync"),
    (Route::AdminReplicate, "POST", "/admin/api/replicate"),
    (Route::AdminScrub, "POST", "/admin/api/scrub"),
    (Route::AdminHashExisting, "POST", "/admin/api/hash-existing"),
    (Route::AdminEncryptExisting, "POST", "/admin/api/encrypt-existing"),
    (Route::AdminDecryptExisting, "POST", "/admin/api/decrypt-existing"),
    (Route::AdminRotateKey, "POST", "/admin/api/rotate-encryption-key"),
    (Route::AdminOverReplicationGet, "GET", "/admin/api/over-replication"),
    (Route::AdminOverReplicationPost, "POST", "/admin/api/over-replication"),
    (Route::AdminDrainStart, "POST", "/admin/api/backends/{name}/drain"),
    (Route::AdminDrainStatus, "GET", "/admin/api/backends/{name}/drain"),
    (Route::AdminDrainCancel, "DELETE", "/admin/api/backends/{name}/drain"),
    (Route::AdminBackendRemove, "DELETE", "/admin/api/backends/{name}"),
    (Route::UiRebalance, "POST", "{ui}/api/rebalance"),
    (Route::UiRebalanceStatus, "GET", "{ui}/api/rebalance/status"),
    (Route::UiCleanExcess, "POST", "{ui}/api/clean-excess"),
    (Route::UiCleanExcessStatus, "GET", "{ui}/api/clean-excess/status"),
    (Route::Health, "GET", "/health"),
    (Route::HealthReady, "GET", "/health/ready"),
    (Route::Metrics, "GET", "/metrics"),
];

impl Route {
    /// Who may call this route.
    pub fn auth_class(self) -> AuthClass {
        match self {
            Route::Health | Route::HealthReady | Route::Metrics | Route::UiLogin | Route::UiLogout => AuthClass::Public,
            Route::AdminStatus
            | Route::AdminWorkers
            | Route::AdminObjectLocations
            | Route::AdminCleanupQueue
            | Route::AdminUsageFlush
            | Route::AdminLogLevelGet
            | Route::AdminLogLevelPut
            | Route::AdminOpenApi
            | Route::AdminReplicate
            | Route::AdminScrub
            | Route::AdminHashExisting
            | Route::AdminEncryptExisting
            | Route::AdminDecryptExisting
            | Route::AdminRotateKey
            | Route::AdminOverReplicationGet
            | Route::AdminOverReplicationPost
            | Route::AdminDrainStart
            | Route::AdminDrainStatus
            | Route::AdminDrainCancel
            | Route::AdminBackendRemove => AuthClass::AdminToken,
            Route::UiDashboard
            | Route::UiTree
            | Route::UiLogs
            | Route::UiDelete
            | Route::UiDeletePrefix
            | Route::UiUpload
            | Route::UiDownload
            | Route::UiSync
            | Route::UiRebalance
            | Route::UiRebalanceStatus
            | Route::UiCleanExcess
            | Route::UiCleanExcessStatus => AuthClass::Session,
        }
    }

    /// Whether the proxy streams this route's body itself (upload, download) instead of buffering
    /// it and calling [`crate::handle`].
    pub fn is_streamed(self) -> bool {
        matches!(self, Route::UiUpload | Route::UiDownload)
    }

    /// Whether the route reads a buffered JSON or form body (capped at [`crate::MAX_JSON_BODY`]).
    pub fn takes_body(self) -> bool {
        matches!(
            self,
            Route::AdminLogLevelPut
                | Route::AdminScrub
                | Route::AdminRotateKey
                | Route::UiLogin
                | Route::UiDelete
                | Route::UiDeletePrefix
                | Route::UiSync
        )
    }
}

/// Normalizes a configured UI mount path: a leading `/`, no trailing `/` (`"/"` and `""` mount the
/// UI at the root).
pub fn normalize_ui_path(p: &str) -> String {
    let trimmed = p.trim().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

/// Whether `path` matches the template `tpl` with `{ui}` standing for `ui` (normalized) and
/// `{name}` for one non-empty segment.
fn matches(tpl: &str, ui: &str, path: &str) -> bool {
    let (tpl, path) = match tpl.strip_prefix("{ui}") {
        Some(rest) => match path.strip_prefix(ui) {
            Some(p) => (rest, p),
            None => return false,
        },
        None => (tpl, path),
    };
    if !tpl.contains("{name}") {
        return path == tpl;
    }
    let (t, p): (Vec<&str>, Vec<&str>) = (tpl.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| if *t == "{name}" { !p.is_empty() } else { t == p })
}

/// The `{name}` segment of `path` under `tpl` (a template of [`ROUTES`]), percent-decoded.
pub fn path_name(tpl: &str, path: &str) -> Option<String> {
    let i = tpl.split('/').position(|s| s == "{name}")?;
    let raw = path.split('/').nth(i)?;
    crate::http::percent_decode(raw).ok()
}

/// The template of `route` in [`ROUTES`].
pub fn template(route: Route) -> &'static str {
    ROUTES.iter().find(|(r, _, _)| *r == route).map_or("", |(_, _, t)| t)
}

/// Maps a request line onto its route. `ui` is the normalized UI mount path
/// ([`normalize_ui_path`]). Errors are ready-made responses: 405 with `Allow` for a known path with
/// another method, 404 for an unknown path.
pub fn route(ui: &str, method: &str, path: &str) -> Result<Route, Response> {
    let mut allow: Vec<&str> = Vec::new();
    for &(r, m, tpl) in ROUTES {
        if matches(tpl, ui, path) {
            if m == method {
                return Ok(r);
            }
            allow.push(m);
        }
    }
    if allow.is_empty() {
        Err(Response::not_found())
    } else {
        Err(Response::method_not_allowed(&allow.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_under_default_and_custom_mounts() {
        let cases: &[(&str, &str, Route)] = &[
            ("GET", "/admin/api/status", Route::AdminStatus),
            ("GET", "/admin/api/workers", Route::AdminWorkers),
            ("GET", "/admin/api/object-locations", Route::AdminObjectLocations),
            ("GET", "/admin/api/cleanup-queue", Route::AdminCleanupQueue),
            ("POST", "/admin/api/usage-flush", Route::AdminUsageFlush),
            ("GET", "/admin/api/log-level", Route::AdminLogLevelGet),
            ("PUT", "/admin/api/log-level", Route::AdminLogLevelPut),
            ("GET", "/admin/api/openapi.json", Route::AdminOpenApi),
            ("POST", "/ui/login", Route::UiLogin),
            ("POST", "/ui/logout", Route::UiLogout),
            ("GET", "/ui/api/dashboard", Route::UiDashboard),
            ("GET", "/ui/api/tree", Route::UiTree),
            ("GET", "/ui/api/logs", Route::UiLogs),
            ("POST", "/ui/api/delete", Route::UiDelete),
            ("POST", "/ui/api/delete-prefix", Route::UiDeletePrefix),
            ("POST", "/ui/api/upload", Route::UiUpload),
            ("GET", "/ui/api/download", Route::UiDownload),
            ("POST", "/ui/api/sync", Route::UiSync),
            ("POST", "/admin/api/replicate", Route::AdminReplicate),
            ("POST", "/admin/api/scrub", Route::AdminScrub),
            ("POST", "/admin/api/hash-existing", Route::AdminHashExisting),
            ("POST", "/admin/api/encrypt-existing", Route::AdminEncryptExisting),
            ("POST", "/admin/api/decrypt-existing", Route::AdminDecryptExisting),
            ("POST", "/admin/api/rotate-encryption-key", Route::AdminRotateKey),
            ("GET", "/admin/api/over-replication", Route::AdminOverReplicationGet),
            ("POST", "/admin/api/over-replication", Route::AdminOverReplicationPost),
            ("POST", "/admin/api/backends/oci/drain", Route::AdminDrainStart),
            ("GET", "/admin/api/backends/oci/drain", Route::AdminDrainStatus),
            ("DELETE", "/admin/api/backends/oci/drain", Route::AdminDrainCancel),
            ("DELETE", "/admin/api/backends/oci", Route::AdminBackendRemove),
            ("POST", "/ui/api/rebalance", Route::UiRebalance),
            ("GET", "/ui/api/rebalance/status", Route::UiRebalanceStatus),
            ("POST", "/ui/api/clean-excess", Route::UiCleanExcess),
            ("GET", "/ui/api/clean-excess/status", Route::UiCleanExcessStatus),
            ("GET", "/health", Route::Health),
            ("GET", "/health/ready", Route::HealthReady),
            ("GET", "/metrics", Route::Metrics),
        ];
        assert_eq!(cases.len(), ROUTES.len());
        for &(m, p, want) in cases {
            assert_eq!(route("/ui", m, p), Ok(want), "{m} {p}");
            let custom = p.replacen("/ui/", "/console/", 1);
            assert_eq!(route("/console", m, &custom), Ok(want), "{m} {custom}");
            let root = p.replacen("/ui/", "/", 1);
            if p.starts_with("/ui/") {
                assert_eq!(route("", m, &root), Ok(want), "{m} {root}");
                assert!(route("/console", m, p).is_err(), "old mount still routes {p}");
            }
        }
    }

    #[test]
    fn wrong_method_is_405_with_allow() {
        let cases: &[(&str, &str, &str)] = &[
            ("POST", "/admin/api/status", "GET"),
            ("DELETE", "/admin/api/log-level", "GET, PUT"),
            ("POST", "/admin/api/log-level", "GET, PUT"),
            ("GET", "/admin/api/usage-flush", "POST"),
            ("GET", "/ui/login", "POST"),
            ("GET", "/ui/api/delete", "POST"),
            ("PUT", "/ui/api/upload", "POST"),
            ("POST", "/ui/api/download", "GET"),
            ("HEAD", "/health", "GET"),
            ("POST", "/metrics", "GET"),
        ];
        for &(m, p, allow) in cases {
            let resp = route("/ui", m, p).unwrap_err();
            assert_eq!(resp.status, 405, "{m} {p}");
            assert_eq!(resp.header("allow"), Some(allow), "{m} {p}");
        }
    }

    #[test]
    fn unknown_paths_are_404() {
        for p in [
            "/",
            "/admin/api",
            "/admin/api/",
            "/admin/api/status/",
            "/admin/api/backends//drain",
            "/admin/api/backends/oci/drain/x",
            "/admin/api/backends",
            "/admin/api/scrubs",
            "/ui/api",
            "/uiapi/dashboard",
            "/ui/api/dashboard/x",
            "/healthz",
        ] {
            assert_eq!(route("/ui", "GET", p).unwrap_err().status, 404, "{p}");
            assert_eq!(route("/ui", "POST", p).unwrap_err().status, 404, "{p}");
        }
    }

    #[test]
    fn auth_classes_follow_the_path() {
        for &(r, _, tpl) in ROUTES {
            let want = if tpl.starts_with("/admin/api/") {
                AuthClass::AdminToken
            } else if tpl.starts_with("{ui}/api/") {
                AuthClass::Session
            } else {
                AuthClass::Public
            };
            assert_eq!(r.auth_class(), want, "{tpl}");
        }
    }

    #[test]
    fn backend_names_come_from_the_path() {
        let tpl = template(Route::AdminDrainStart);
        assert_eq!(path_name(tpl, "/admin/api/backends/oci/drain").as_deref(), Some("oci"));
        assert_eq!(
            path_name(tpl, "/admin/api/backends/a%20b/drain").as_deref(),
            Some("a b")
        );
        assert_eq!(route("/ui", "PUT", "/admin/api/backends/x").unwrap_err().status, 405);
    }

    #[test]
    fn mount_normalization() {
        assert_eq!(normalize_ui_path("/ui"), "/ui");
        assert_eq!(normalize_ui_path("ui/"), "/ui");
        assert_eq!(normalize_ui_path("/"), "");
        assert_eq!(normalize_ui_path(""), "");
        assert_eq!(normalize_ui_path("/a/b/"), "/a/b");
    }
}
