//! Seed 003's data API (part 2 of the multi-user API): backends, buckets and their settings,
//! objects, multipart uploads, shares, pins and search, under the same gate, error shape and
//! audit log as the access layer ([`crate::api`]). The handlers here are pure: they check
//! parameters and bodies, answer in the seed's shapes ([`dto`]) and reach the data through the
//! [`DataApi`] trait, which the proxy implements over its store and backends (the orchestrated
//! store is one backend whose buckets are the virtual buckets; every real backend appears as
//! itself). Pins live in the store's document collections, handled here.
//!
//! Routes the proxy must stream (downloads, uploads, parts, zips, NDJSON walks, a share's raw
//! file) are routed here ([`DataRoute::is_streamed`]) and served by the proxy after the same
//! gate; until a route is served it answers 501 `not_supported`, never a stand-in.

pub mod dto;
pub mod endpoints;
mod handlers;
mod multipart;
mod pins;

mod quota;

pub mod route;
mod search;
mod settings;
pub mod shares;
pub mod stats;

use s3o_store::{BucketChange, BucketSettings};

pub use handlers::{bucket_name_ok, key_ok};
pub use route::{route, Bkt, DataRoute, Setting, Verb};

use crate::api::{api_error, Caller};
use crate::control::BoxFuture;
use crate::http::{Request, Response};

/// Why a data operation failed, answered in the seed's codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataError {
    /// 404 `not_found` with this message ("backend not found", "resource not found", ...).
    NotFound(String),
    /// 400 with this code and message.
    BadRequest(&'static str, String),
    /// 409 with this code and message.
    Conflict(&'static str, String),
    /// 501 `not_supported`: the backend cannot do it.
    NotSupported(String),
    /// 403 `forbidden` with this message.
    Forbidden(String),
    /// 502 `backend_error` "backend operation failed" (the cause is logged).
    Backend(String),
    /// 503 `store_unavailable`.
    Unavailable(String),
    /// 507 `insufficient_storage`: no backend has room.
    InsufficientStorage(String),
    /// 507 `quota_exceeded`: the bucket's hard quota would be passed.
    QuotaExceeded,
    /// 412 with this code and message.
    Precondition(&'static str, String),
    /// 500 `internal` (the cause is logged).
    Internal(String),
}

impl DataError {
    /// The response.
    pub fn response(&self) -> Response {
        match self {
            DataError::NotFound(m) => api_error(404, "not_found", m),
            DataError::BadRequest(code, m) => api_error(400, code, m),
            DataError::Conflict(code, m) => api_error(409, code, m),
            DataError::NotSupported(m) => api_error(501, "not_supported", m),
            DataError::Forbidden(m) => api_error(403, "forbidden", m),
            DataError::Backend(why) => {
                tracing::warn!(error = %why, "data API: backend operation failed");
                api_error(502, "backend_error", "backend operation failed")
            }
            DataError::Unavailable(m) => api_error(503, "store_unavailable", m),
            DataError::InsufficientStorage(m) => api_error(507, "insufficient_storage", m),
            DataError::Precondition(code, m) => api_error(412, code, m),
            DataError::QuotaExceeded => api_error(
                507,
                "quota_exceeded",
                "bucket hard quota exceeded — delete objects or raise the quota",
            ),
            DataError::Internal(why) => {
                tracing::warn!(error = %why, "data API request failed");
                api_error(500, "internal", "internal error")
            }
        }
    }
}

/// A data operation's result.
pub type DataResult<T> = Result<T, DataError>;

/// A page of a listing as asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListArgs {
    /// Keys starting with this.
    pub prefix: String,
    /// Roll keys up to this after the prefix (`""`: a flat listing).
    pub delimiter: String,
    /// Where the previous page ended.
    pub token: Option<String>,
    /// Most keys and prefixes (`None`: 1000).
    pub max_keys: Option<usize>,
}

/// What the data API asks of the running proxy. Calls run on the admin thread; `who` is the
/// caller's user id (the owner of what it creates).
pub trait DataApi {
    /// Every backend: the orchestrated store first, then each configured one.
    fn backends(&self) -> BoxFuture<'_, Vec<dto::Backend>>;
    /// Probes backend `bid` now.
    fn probe<'a>(&'a self, bid: &'a str) -> BoxFuture<'a, DataResult<dto::Probe>>;
    /// The buckets of backend `bid`.
    fn buckets<'a>(&'a self, bid: &'a str) -> BoxFuture<'a, DataResult<Vec<dto::Bucket>>>;
    /// Creates bucket `name` on `bid`, owned by `who`.
    fn create_bucket<'a>(&'a self, bid: &'a str, name: &'a str, who: &'a str) -> BoxFuture<'a, DataResult<()>>;
    /// Deletes an empty bucket.
    fn delete_bucket<'a>(&'a self, b: &'a Bkt) -> BoxFuture<'a, DataResult<()>>;
    /// A bucket's settings (NotSupported for a backend that keeps none of ours).
    fn settings<'a>(&'a self, b: &'a Bkt) -> BoxFuture<'a, DataResult<BucketSettings>>;
    /// Changes a bucket's settings.
    fn change<'a>(&'a self, b: &'a Bkt, change: BucketChange) -> BoxFuture<'a, DataResult<()>>;
    /// One page of a bucket's keys.
    fn list<'a>(&'a self, b: &'a Bkt, args: &'a ListArgs) -> BoxFuture<'a, DataResult<dto::ObjectPage>>;
    /// One version of a key (the latest without `version`).
    fn info<'a>(&'a self, b: &'a Bkt, key: &'a str, version: Option<&'a str>)
        -> BoxFuture<'a, DataResult<dto::Object>>;
    /// Deletes a key (a version of it, for good, with `version`).
    fn delete<'a>(&'a self, b: &'a Bkt, key: &'a str, version: Option<&'a str>) -> BoxFuture<'a, DataResult<()>>;
    /// Writes an empty object (a folder's placeholder) for `who`, as the operator (the bucket's
    /// owner owns it).
    fn put_empty<'a>(&'a self, b: &'a Bkt, key: &'a str, who: &'a str) -> BoxFuture<'a, DataResult<dto::Object>>;
    /// A version's tags (the latest without `version`).
    fn tags_of<'a>(
        &'a self,
        b: &'a Bkt,
        key: &'a str,
        version: Option<&'a str>,
    ) -> BoxFuture<'a, DataResult<Vec<(String, String)>>>;
    /// Replaces a version's tags.
    fn set_tags<'a>(
        &'a self,
        b: &'a Bkt,
        key: &'a str,
        version: Option<&'a str>,
        tags: Vec<(String, String)>,
    ) -> BoxFuture<'a, DataResult<()>>;
    /// Replaces the latest version's user metadata.
    fn set_metadata<'a>(
        &'a self,
        b: &'a Bkt,
        key: &'a str,
        metadata: Vec<(String, String)>,
    ) -> BoxFuture<'a, DataResult<dto::Object>>;
    /// Copies a version of a key (the latest without one) to another key of the same backend,
    /// with `metadata` in place of the source's user metadata when given.
    fn copy<'a>(
        &'a self,
        src: (&'a Bkt, &'a str, Option<&'a str>),
        dst: (&'a Bkt, &'a str),
        metadata: Option<Vec<(String, String)>>,
    ) -> BoxFuture<'a, DataResult<dto::Object>>;
    /// The multipart uploads in progress under `prefix` (the first 1000).
    fn uploads<'a>(&'a self, b: &'a Bkt, prefix: &'a str) -> BoxFuture<'a, DataResult<Vec<dto::UploadInfo>>>;
    /// Starts a multipart upload of `key` whose object will have `content_type` and `metadata`
    /// (`if_absent`: refused while the key has a current version); its id.
    fn initiate<'a>(
        &'a self,
        b: &'a Bkt,
        key: &'a str,
        content_type: Option<String>,
        metadata: Vec<(String, String)>,
        if_absent: bool,
    ) -> BoxFuture<'a, DataResult<String>>;
    /// Abandons an upload of `key`.
    fn abort<'a>(&'a self, b: &'a Bkt, key: &'a str, upload_id: &'a str) -> BoxFuture<'a, DataResult<()>>;
    /// Completes an upload of `key` with these (part number, ETag), in order.
    fn complete<'a>(
        &'a self,
        b: &'a Bkt,
        key: &'a str,
        upload_id: &'a str,
        parts: Vec<(u32, String)>,
    ) -> BoxFuture<'a, DataResult<dto::Object>>;
    /// What each backend stores, and the largest buckets.
    fn storage(&self) -> BoxFuture<'_, DataResult<(Vec<dto::BackendStorage>, Vec<dto::BucketStorage>)>>;
    /// Every backend with its recent health probes.
    fn health(&self) -> BoxFuture<'_, Vec<dto::BackendHealth>>;
    /// A bucket's current objects: (bytes, count), exact (the store keeps them per commit).
    fn usage<'a>(&'a self, b: &'a Bkt) -> BoxFuture<'a, DataResult<(u64, u64)>>;
    /// The keys under `prefix`: (bytes, count).
    fn prefix_size<'a>(&'a self, b: &'a Bkt, prefix: &'a str) -> BoxFuture<'a, DataResult<(u64, u64)>>;
    /// Every version of `key`, newest first.
    fn versions<'a>(&'a self, b: &'a Bkt, key: &'a str) -> BoxFuture<'a, DataResult<Vec<dto::Version>>>;
    /// The ids of the backends the configuration defines (the orchestrated store's included):
    /// read-only here.
    fn config_ids(&self) -> Vec<String>;
    /// Probes an endpoint (ListBuckets, 5 s): the error if it failed, and how long it took, ms.
    fn test_endpoint<'a>(&'a self, spec: &'a endpoints::EndpointSpec) -> BoxFuture<'a, (Option<String>, u64)>;
}

/// Answers a public share page (`/s/{code}/info`, `/unlock`), which no session gates.
pub async fn public(
    route: DataRoute,
    req: &Request,
    access: &crate::access::Access,
    data: Option<&dyn DataApi>,
) -> Response {
    shares::public(route, req, access, data).await
}

/// Answers a data route for `caller` after the API's gate (buffered routes; a streamed one
/// reaching here answers 501).
pub async fn handle(
    route: DataRoute,
    req: &Request,
    access: &crate::access::Access,
    caller: &Caller,
    data: Option<&dyn DataApi>,
) -> Response {
    if let DataRoute::Pins | DataRoute::Pin | DataRoute::Unpin(_) = route {
        return pins::handle(route, req, access, caller).await;
    }
    let Some(data) = data else {
        return api_error(503, "store_unavailable", "the data API is not served by this instance");
    };
    if let DataRoute::Shares | DataRoute::CreateShare | DataRoute::RevokeShare(_) = route {
        return shares::handle(route, req, access, caller, data).await;
    }
    if let DataRoute::AdminBackends
    | DataRoute::AdminBackendCreate
    | DataRoute::AdminBackendTest
    | DataRoute::AdminBackend(..) = route
    {
        return endpoints::handle(route, req, access, caller, data).await;
    }
    handlers::handle(route, req, access, caller, data).await
}
