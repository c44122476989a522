//! The routes of seed 003's data API (backends, buckets, their settings, objects, multipart,
//! shares, pins, search, the admin dashboard and backends, and the public `/s/{code}` share
//! pages): one pure function from the path's segments and the method to a [`DataRoute`] with
//! its parameters, and the role each needs.

use crate::api::Need;

/// A bucket of a backend, as a path names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bkt {
    /// The backend id.
    pub bid: String,
    /// The bucket name.
    pub bucket: String,
}

/// One endpoint of the data API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataRoute {
    /// `GET /api/backends`.
    Backends,
    /// `GET /api/backends/{bid}`.
    Backend(String),
    /// `GET /api/backends/{bid}/health`.
    BackendHealth(String),
    /// `GET /api/backends/{bid}/buckets`.
    Buckets(String),
    /// `POST /api/backends/{bid}/buckets`.
    CreateBucket(String),
    /// `DELETE /api/backends/{bid}/buckets/{bucket}`.
    DeleteBucket(Bkt),
    /// A bucket setting: `GET|PUT|DELETE .../{versioning|cors|policy|lifecycle|quota|size-tracking}`.
    Setting(Bkt, Setting, Verb),
    /// `POST .../quota/recompute`.
    RecomputeQuota(Bkt),
    /// `GET .../prefix-size`.
    PrefixSize(Bkt),
    /// `GET .../objects`.
    Objects(Bkt),
    /// `POST .../objects/delete`.
    DeleteObjects(Bkt),
    /// `POST .../objects/delete-prefix` (NDJSON).
    DeletePrefix(Bkt),
    /// `POST .../objects/folder`.
    Folder(Bkt),
    /// `POST .../objects/copy-prefix` (NDJSON).
    CopyPrefix(Bkt),
    /// `GET .../objects/zip` (streamed).
    Zip(Bkt),
    /// `GET .../object` (streamed).
    Download(Bkt),
    /// `HEAD .../object` or `GET .../object/info`.
    ObjectInfo(Bkt),
    /// `POST .../object` (streamed upload).
    Upload(Bkt),
    /// `DELETE .../object`.
    DeleteObject(Bkt),
    /// `POST .../object/copy`.
    CopyObject(Bkt),
    /// `GET .../object/tags`.
    Tags(Bkt),
    /// `PUT .../object/tags`.
    SetTags(Bkt),
    /// `PUT .../object/metadata`.
    SetMetadata(Bkt),
    /// `GET .../object/versions`.
    Versions(Bkt),
    /// `GET .../multipart`.
    Uploads(Bkt),
    /// `POST .../multipart`.
    Initiate(Bkt),
    /// `DELETE .../multipart`.
    Abort(Bkt),
    /// `POST .../multipart/complete`.
    Complete(Bkt),
    /// `PUT .../multipart/parts/{part}` (streamed), the part as written.
    Part(Bkt, String),
    /// `GET /api/shares`.
    Shares,
    /// `POST /api/shares`.
    CreateShare,
    /// `DELETE /api/shares/{id}`.
    RevokeShare(String),
    /// `GET /api/me/pins`.
    Pins,
    /// `POST /api/me/pins`.
    Pin,
    /// `DELETE /api/me/pins/{bid}/{bucket}`.
    Unpin(Bkt),
    /// `GET /api/search`.
    Search,
    /// `GET /api/admin/dashboard`.
    Dashboard,
    /// `GET /api/admin/backends/health`.
    BackendsHealth,
    /// `GET /api/admin/backends`.
    AdminBackends,
    /// `POST /api/admin/backends`.
    AdminBackendCreate,
    /// `POST /api/admin/backends/test`.
    AdminBackendTest,
    /// `GET|PATCH|DELETE /api/admin/backends/{bid}`.
    AdminBackend(String, Verb),
    /// `GET /s/{code}/info` (public).
    ShareInfo(String),
    /// `POST /s/{code}/unlock` (public).
    ShareUnlock(String),
    /// `GET /s/{code}/raw` (public, streamed).
    ShareRaw(String),
}

/// A bucket setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// `versioning`.
    Versioning,
    /// `cors`.
    Cors,
    /// `policy`.
    Policy,
    /// `lifecycle`.
    Lifecycle,
    /// `quota`.
    Quota,
    /// `size-tracking`.
    SizeTracking,
}

/// What a request does to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `GET`.
    Get,
    /// `PUT` (or `PATCH`).
    Put,
    /// `DELETE`.
    Delete,
}

impl DataRoute {
    /// The role the route needs once signed in (the public share routes need none).
    pub fn need(&self) -> Need {
        use DataRoute as R;
        match self {
            R::Backends
            | R::Backend(_)
            | R::BackendHealth(_)
            | R::Buckets(_)
            | R::PrefixSize(_)
            | R::Objects(_)
            | R::Zip(_)
            | R::Download(_)
            | R::ObjectInfo(_)
            | R::Tags(_)
            | R::Versions(_)
            | R::Uploads(_)
            | R::Shares
            | R::Pins
            | R::Search
            | R::Setting(_, Setting::SizeTracking, Verb::Get)
            | R::ShareInfo(_)
            | R::ShareUnlock(_)
            | R::ShareRaw(_) => Need::Any,
            R::DeleteObjects(_)
            | R::DeletePrefix(_)
            | R::Folder(_)
            | R::CopyPrefix(_)
            | R::Upload(_)
            | R::DeleteObject(_)
            | R::CopyObject(_)
            | R::SetTags(_)
            | R::SetMetadata(_)
            | R::Initiate(_)
            | R::Abort(_)
            | R::Complete(_)
            | R::Part(..)
            | R::CreateShare
            | R::RevokeShare(_)
            | R::Pin
            | R::Unpin(_) => Need::Writer,
            R::CreateBucket(_)
            | R::DeleteBucket(_)
            | R::Setting(..)
            | R::RecomputeQuota(_)
            | R::Dashboard
            | R::BackendsHealth
            | R::AdminBackends
            | R::AdminBackendCreate
            | R::AdminBackendTest
            | R::AdminBackend(..) => Need::Admin,
        }
    }

    /// The backend the path names, if it names one.
    pub fn backend(&self) -> Option<&str> {
        use DataRoute as R;
        match self {
            R::Backend(b) | R::BackendHealth(b) | R::Buckets(b) | R::CreateBucket(b) | R::AdminBackend(b, _) => Some(b),
            R::DeleteBucket(b)
            | R::Setting(b, ..)
            | R::RecomputeQuota(b)
            | R::PrefixSize(b)
            | R::Objects(b)
            | R::DeleteObjects(b)
            | R::DeletePrefix(b)
            | R::Folder(b)
            | R::CopyPrefix(b)
            | R::Zip(b)
            | R::Download(b)
            | R::ObjectInfo(b)
            | R::Upload(b)
            | R::DeleteObject(b)
            | R::CopyObject(b)
            | R::Tags(b)
            | R::SetTags(b)
            | R::SetMetadata(b)
            | R::Versions(b)
            | R::Uploads(b)
            | R::Initiate(b)
            | R::Abort(b)
            | R::Complete(b)
            | R::Part(b, _)
            | R::Unpin(b) => Some(&b.bid),
            _ => None,
        }
    }

    /// Whether the route reads a JSON body (buffered).
    pub fn takes_body(&self) -> bool {
        use DataRoute as R;
        matches!(
            self,
            R::CreateBucket(_)
                | R::Setting(_, _, Verb::Put)
                | R::DeleteObjects(_)
                | R::Folder(_)
                | R::CopyObject(_)
                | R::SetTags(_)
                | R::SetMetadata(_)
                | R::Initiate(_)
                | R::Complete(_)
                | R::CreateShare
                | R::Pin
                | R::AdminBackendCreate
                | R::AdminBackendTest
                | R::AdminBackend(_, Verb::Put)
                | R::ShareUnlock(_)
        )
    }

    /// Whether the route is one of the public share pages (no session, no CSRF: their own
    /// per-address limit).
    pub fn is_public(&self) -> bool {
        matches!(
            self,
            DataRoute::ShareInfo(_) | DataRoute::ShareUnlock(_) | DataRoute::ShareRaw(_)
        )
    }

    /// Whether the proxy streams the route itself (a body too large to buffer, or a response
    /// written as it is produced) rather than answering through [`crate::handle`].
    pub fn is_streamed(&self) -> bool {
        matches!(
            self,
            DataRoute::Zip(_)
                | DataRoute::Download(_)
                | DataRoute::Upload(_)
                | DataRoute::Part(..)
                | DataRoute::DeletePrefix(_)
                | DataRoute::CopyPrefix(_)
                | DataRoute::ShareRaw(_)
        )
    }
}

/// Routes a data API path (segments without the leading `/`, each percent-decoded by
/// `decode`): `None` when the path is not one of this API's, else the `Allow` list and the
/// route for `method` (`None`: 405).
pub fn route(
    method: &str,
    segs: &[&str],
    decode: &dyn Fn(&str) -> Option<String>,
) -> Option<(&'static str, Option<DataRoute>)> {
    use DataRoute as R;
    let m = method;
    let get = |r: DataRoute| ("GET", (m == "GET").then_some(r));
    let post = |r: DataRoute| ("POST", (m == "POST").then_some(r));
    match segs {
        ["api", "backends"] => Some(get(R::Backends)),
        ["api", "backends", bid] => Some(get(R::Backend(decode(bid)?))),
        ["api", "backends", bid, "health"] => Some(get(R::BackendHealth(decode(bid)?))),
        ["api", "backends", bid, "buckets"] => {
            let bid = decode(bid)?;
            Some((
                "GET, POST",
                match m {
                    "GET" => Some(R::Buckets(bid)),
                    "POST" => Some(R::CreateBucket(bid)),
                    _ => None,
                },
            ))
        }
        ["api", "backends", bid, "buckets", bucket, rest @ ..] => {
            let b = Bkt {
                bid: decode(bid)?,
                bucket: decode(bucket)?,
            };
            bucket_route(m, b, rest, decode)
        }
        ["api", "shares"] | ["api", "shares", ""] => Some((
            "GET, POST",
            match m {
                "GET" => Some(R::Shares),
                "POST" => Some(R::CreateShare),
                _ => None,
            },
        )),
        ["api", "shares", id] => {
            let id = decode(id)?;
            Some(("DELETE", (m == "DELETE").then_some(R::RevokeShare(id))))
        }
        ["api", "me", "pins"] => Some((
            "GET, POST",
            match m {
                "GET" => Some(R::Pins),
                "POST" => Some(R::Pin),
                _ => None,
            },
        )),
        ["api", "me", "pins", bid, bucket] => {
            let b = Bkt {
                bid: decode(bid)?,
                bucket: decode(bucket)?,
            };
            Some(("DELETE", (m == "DELETE").then_some(R::Unpin(b))))
        }
        ["api", "search"] => Some(get(R::Search)),
        ["api", "admin", "dashboard"] => Some(get(R::Dashboard)),
        ["api", "admin", "backends", "health"] => Some(get(R::BackendsHealth)),
        ["api", "admin", "backends", "test"] => Some(post(R::AdminBackendTest)),
        ["api", "admin", "backends"] => Some((
            "GET, POST",
            match m {
                "GET" => Some(R::AdminBackends),
                "POST" => Some(R::AdminBackendCreate),
                _ => None,
            },
        )),
        ["api", "admin", "backends", bid] => {
            let bid = decode(bid)?;
            let verb = match m {
                "GET" => Some(Verb::Get),
                "PATCH" => Some(Verb::Put),
                "DELETE" => Some(Verb::Delete),
                _ => None,
            };
            Some(("GET, PATCH, DELETE", verb.map(|v| R::AdminBackend(bid, v))))
        }
        ["s", code, "info"] => Some(get(R::ShareInfo(decode(code)?))),
        ["s", code, "unlock"] => Some(post(R::ShareUnlock(decode(code)?))),
        ["s", code, "raw"] => Some(get(R::ShareRaw(decode(code)?))),
        _ => None,
    }
}

/// The routes under `/api/backends/{bid}/buckets/{bucket}/`.
fn bucket_route(
    m: &str,
    b: Bkt,
    rest: &[&str],
    decode: &dyn Fn(&str) -> Option<String>,
) -> Option<(&'static str, Option<DataRoute>)> {
    use DataRoute as R;
    let setting = |s: Setting, allow: &'static str, b: Bkt| {
        let verb = match m {
            "GET" => Some(Verb::Get),
            "PUT" => Some(Verb::Put),
            "DELETE" if allow.contains("DELETE") => Some(Verb::Delete),
            _ => None,
        };
        Some((allow, verb.map(|v| R::Setting(b, s, v))))
    };
    let one = |allow: &'static str, method: &str, r: DataRoute| Some((allow, (m == method).then_some(r)));
    match rest {
        [] => one("DELETE", "DELETE", R::DeleteBucket(b)),
        ["versioning"] => setting(Setting::Versioning, "GET, PUT", b),
        ["cors"] => setting(Setting::Cors, "GET, PUT", b),
        ["policy"] => setting(Setting::Policy, "GET, PUT, DELETE", b),
        ["lifecycle"] => setting(Setting::Lifecycle, "GET, PUT", b),
        ["quota"] => setting(Setting::Quota, "GET, PUT, DELETE", b),
        ["quota", "recompute"] => one("POST", "POST", R::RecomputeQuota(b)),
        ["size-tracking"] => setting(Setting::SizeTracking, "GET, PUT", b),
        ["prefix-size"] => one("GET", "GET", R::PrefixSize(b)),
        ["objects"] => one("GET", "GET", R::Objects(b)),
        ["objects", "delete"] => one("POST", "POST", R::DeleteObjects(b)),
        ["objects", "delete-prefix"] => one("POST", "POST", R::DeletePrefix(b)),
        ["objects", "folder"] => one("POST", "POST", R::Folder(b)),
        ["objects", "copy-prefix"] => one("POST", "POST", R::CopyPrefix(b)),
        ["objects", "zip"] => one("GET", "GET", R::Zip(b)),
        ["object"] => Some((
            "GET, HEAD, POST, DELETE",
            match m {
                "GET" => Some(R::Download(b)),
                "HEAD" => Some(R::ObjectInfo(b)),
                "POST" => Some(R::Upload(b)),
                "DELETE" => Some(R::DeleteObject(b)),
                _ => None,
            },
        )),
        ["object", "info"] => one("GET", "GET", R::ObjectInfo(b)),
        ["object", "copy"] => one("POST", "POST", R::CopyObject(b)),
        ["object", "tags"] => Some((
            "GET, PUT",
            match m {
                "GET" => Some(R::Tags(b)),
                "PUT" => Some(R::SetTags(b)),
                _ => None,
            },
        )),
        ["object", "metadata"] => one("PUT", "PUT", R::SetMetadata(b)),
        ["object", "versions"] => one("GET", "GET", R::Versions(b)),
        ["multipart"] | ["multipart", ""] => Some((
            "GET, POST, DELETE",
            match m {
                "GET" => Some(R::Uploads(b)),
                "POST" => Some(R::Initiate(b)),
                "DELETE" => Some(R::Abort(b)),
                _ => None,
            },
        )),
        ["multipart", "complete"] => one("POST", "POST", R::Complete(b)),
        ["multipart", "parts", part] => one("PUT", "PUT", R::Part(b, decode(part)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(method: &str, path: &str) -> Option<(&'static str, Option<DataRoute>)> {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let decode = |s: &str| crate::http::percent_decode(s).ok().filter(|d| !d.is_empty());
        route(method, &segs, &decode)
    }

    fn bkt(bid: &str, bucket: &str) -> Bkt {
        Bkt {
            bid: bid.into(),
            bucket: bucket.into(),
        }
    }

    #[test]
    fn every_endpoint_routes() {
        let b = || bkt("orchestrator", "my bucket");
        let base = "/api/backends/orchestrator/buckets/my%20bucket";
        for (method, path, want) in [
            ("GET", "/api/backends".to_string(), DataRoute::Backends),
            ("GET", "/api/backends/b1".into(), DataRoute::Backend("b1".into())),
            (
                "GET",
                "/api/backends/b1/health".into(),
                DataRoute::BackendHealth("b1".into()),
            ),
            (
                "POST",
                "/api/backends/b1/buckets".into(),
                DataRoute::CreateBucket("b1".into()),
            ),
            ("DELETE", base.into(), DataRoute::DeleteBucket(b())),
            (
                "PUT",
                format!("{base}/cors"),
                DataRoute::Setting(b(), Setting::Cors, Verb::Put),
            ),
            (
                "DELETE",
                format!("{base}/policy"),
                DataRoute::Setting(b(), Setting::Policy, Verb::Delete),
            ),
            (
                "POST",
                format!("{base}/quota/recompute"),
                DataRoute::RecomputeQuota(b()),
            ),
            ("GET", format!("{base}/objects"), DataRoute::Objects(b())),
            ("HEAD", format!("{base}/object"), DataRoute::ObjectInfo(b())),
            ("GET", format!("{base}/object/info"), DataRoute::ObjectInfo(b())),
            (
                "PUT",
                format!("{base}/multipart/parts/3"),
                DataRoute::Part(b(), "3".into()),
            ),
            ("GET", format!("{base}/multipart/"), DataRoute::Uploads(b())),
            ("GET", "/api/shares/".into(), DataRoute::Shares),
            (
                "DELETE",
                "/api/me/pins/orchestrator/my%20bucket".into(),
                DataRoute::Unpin(b()),
            ),
            (
                "PATCH",
                "/api/admin/backends/x".into(),
                DataRoute::AdminBackend("x".into(), Verb::Put),
            ),
            ("POST", "/s/abc/unlock".into(), DataRoute::ShareUnlock("abc".into())),
        ] {
            assert_eq!(r(method, &path).and_then(|(_, r)| r), Some(want), "{method} {path}");
        }
        assert_eq!(r("DELETE", &format!("{base}/cors")), Some(("GET, PUT", None)));
        assert_eq!(r("PUT", "/api/backends"), Some(("GET", None)));
        assert_eq!(r("GET", "/api/backends/b1/nope"), None);
        assert_eq!(r("GET", "/api/backends/%ZZ"), None);
    }

    #[test]
    fn roles_follow_the_seed() {
        let b = || bkt("o", "b");
        assert_eq!(DataRoute::Objects(b()).need(), Need::Any);
        assert_eq!(
            DataRoute::Setting(b(), Setting::SizeTracking, Verb::Get).need(),
            Need::Any
        );
        assert_eq!(
            DataRoute::Setting(b(), Setting::SizeTracking, Verb::Put).need(),
            Need::Admin
        );
        assert_eq!(
            DataRoute::Setting(b(), Setting::Versioning, Verb::Get).need(),
            Need::Admin
        );
        assert_eq!(DataRoute::DeleteObject(b()).need(), Need::Writer);
        assert_eq!(DataRoute::CreateBucket("o".into()).need(), Need::Admin);
        assert!(DataRoute::ShareRaw("c".into()).is_public());
        assert!(DataRoute::Upload(b()).is_streamed());
    }
}
