//! The S3 operation router: [`Endpoint::from_request`] maps a request (method, raw path, raw
//! query, headers) onto one [`Endpoint`] variant carrying its parameters, with one readable
//! `match` per method (after Garage's `api/s3/router.rs`). Query sub-resources (`?acl`,
//! `?uploads`, ...) decide the operation; the ones we do not implement route to
//! [`Endpoint::NotImplemented`] with the S3 operation name, and a known sub-resource that makes no
//! sense for the method is refused, so `DELETE /bucket?versioning` can never delete the bucket.
//!
//! Path-style addressing only for now: `/bucket` and `/bucket/key...`. The key is everything after
//! the first `/` following the bucket, percent-decoded (`+` stays `+`).

use crate::http::query::percent_decode;
use crate::http::RequestHead;

pub use crate::http::query::{parse_query, Query};

/// Longest object key in bytes once decoded: S3's limit (longer is `KeyTooLongError`).
pub const MAX_KEY_BYTES: usize = 1024;

/// One S3 operation and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /`.
    ListBuckets,
    /// `PUT /bucket`.
    CreateBucket {
        /// The bucket name (validated).
        bucket: String,
    },
    /// `DELETE /bucket`.
    DeleteBucket {
        /// The bucket name.
        bucket: String,
    },
    /// `HEAD /bucket`.
    HeadBucket {
        /// The bucket name.
        bucket: String,
    },
    /// `GET /bucket?location`.
    GetBucketLocation {
        /// The bucket name.
        bucket: String,
    },
    /// `GET /bucket` (version 1 listing; parameters stay in the query).
    ListObjects {
        /// The bucket name.
        bucket: String,
    },
    /// `GET /bucket?list-type=2` (parameters stay in the query).
    ListObjectsV2 {
        /// The bucket name.
        bucket: String,
    },
    /// `PUT /bucket/key` without `x-amz-copy-source`.
    PutObject {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
    },
    /// `GET /bucket/key`.
    GetObject {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
    },
    /// `HEAD /bucket/key`.
    HeadObject {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
    },
    /// `DELETE /bucket/key`.
    DeleteObject {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
    },
    /// `POST /bucket?delete`.
    DeleteObjects {
        /// The bucket name.
        bucket: String,
    },
    /// A valid S3 operation we do not implement (answered 501 `NotImplemented`).
    NotImplemented {
        /// The S3 operation name, e.g. `CopyObject`.
        operation: &'static str,
    },
}

/// Why a request maps onto no operation; each variant knows its S3 code and status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The path is malformed (bad percent-encoding, not UTF-8 once decoded).
    #[error("invalid URI: {0}")]
    InvalidUri(&'static str),
    /// The bucket name breaks the naming rules (on CreateBucket).
    #[error("invalid bucket name: {0}")]
    InvalidBucketName(String),
    /// The method does not apply to this resource.
    #[error("the method {0} is not allowed against this resource")]
    MethodNotAllowed(String),
    /// The request is contradictory.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// A query parameter has an invalid value.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The key is longer than [`MAX_KEY_BYTES`].
    #[error("object key longer than {MAX_KEY_BYTES} bytes")]
    KeyTooLong,
}

impl EndpointError {
    /// The S3 error code.
    pub fn code(&self) -> &'static str {
        match self {
            EndpointError::InvalidUri(_) => "InvalidURI",
            EndpointError::InvalidBucketName(_) => "InvalidBucketName",
            EndpointError::MethodNotAllowed(_) => "MethodNotAllowed",
            EndpointError::InvalidRequest(_) => "InvalidRequest",
            EndpointError::InvalidArgument(_) => "InvalidArgument",
            EndpointError::KeyTooLong => "KeyTooLongError",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            EndpointError::MethodNotAllowed(_) => 405,
            _ => 400,
        }
    }
}

/// Case-insensitive header lookup, so the router takes a parsed head or a plain list.
pub trait HeaderLookup {
    /// The first value of header `name` (case-insensitive).
    fn header(&self, name: &str) -> Option<&str>;
}

impl HeaderLookup for RequestHead {
    fn header(&self, name: &str) -> Option<&str> {
        RequestHead::header(self, name)
    }
}

impl HeaderLookup for [(String, String)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl HeaderLookup for [(&str, &str)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    }
}

/// Sub-resources we do not implement, as (query parameter, S3 operation), per method and target.
const GET_BUCKET: &[(&str, &str)] = &[
    ("accelerate", "GetBucketAccelerateConfiguration"),
    ("acl", "GetBucketAcl"),
    ("cors", "GetBucketCors"),
    ("encryption", "GetBucketEncryption"),
    ("lifecycle", "GetBucketLifecycleConfiguration"),
    ("logging", "GetBucketLogging"),
    ("notification", "GetBucketNotificationConfiguration"),
    ("object-lock", "GetObjectLockConfiguration"),
    ("ownershipControls", "GetBucketOwnershipControls"),
    ("policy", "GetBucketPolicy"),
    ("policyStatus", "GetBucketPolicyStatus"),
    ("publicAccessBlock", "GetPublicAccessBlock"),
    ("replication", "GetBucketReplication"),
    ("requestPayment", "GetBucketRequestPayment"),
    ("session", "CreateSession"),
    ("tagging", "GetBucketTagging"),
    ("uploads", "ListMultipartUploads"),
    ("versioning", "GetBucketVersioning"),
    ("versions", "ListObjectVersions"),
    ("website", "GetBucketWebsite"),
];
/// Bucket configurations read by id, or listed without one: (parameter, Get..., List...).
const GET_BUCKET_CONFIGS: &[(&str, &str, &str)] = &[
    (
        "analytics",
        "GetBucketAnalyticsConfiguration",
        "ListBucketAnalyticsConfigurations",
    ),
    (
        "intelligent-tiering",
        "GetBucketIntelligentTieringConfiguration",
        "ListBucketIntelligentTieringConfigurations",
    ),
    (
        "inventory",
        "GetBucketInventoryConfiguration",
        "ListBucketInventoryConfigurations",
    ),
    (
        "metrics",
        "GetBucketMetricsConfiguration",
        "ListBucketMetricsConfigurations",
    ),
];
const PUT_BUCKET: &[(&str, &str)] = &[
    ("accelerate", "PutBucketAccelerateConfiguration"),
    ("acl", "PutBucketAcl"),
    ("analytics", "PutBucketAnalyticsConfiguration"),
    ("cors", "PutBucketCors"),
    ("encryption", "PutBucketEncryption"),
    ("intelligent-tiering", "PutBucketIntelligentTieringConfiguration"),
    ("inventory", "PutBucketInventoryConfiguration"),
    ("lifecycle", "PutBucketLifecycleConfiguration"),
    ("logging", "PutBucketLogging"),
    ("metrics", "PutBucketMetricsConfiguration"),
    ("notification", "PutBucketNotificationConfiguration"),
    ("object-lock", "PutObjectLockConfiguration"),
    ("ownershipControls", "PutBucketOwnershipControls"),
    ("policy", "PutBucketPolicy"),
    ("publicAccessBlock", "PutPublicAccessBlock"),
    ("replication", "PutBucketReplication"),
    ("requestPayment", "PutBucketRequestPayment"),
    ("tagging", "PutBucketTagging"),
    ("versioning", "PutBucketVersioning"),
    ("website", "PutBucketWebsite"),
];
const DELETE_BUCKET: &[(&str, &str)] = &[
    ("analytics", "DeleteBucketAnalyticsConfiguration"),
    ("cors", "DeleteBucketCors"),
    ("encryption", "DeleteBucketEncryption"),
    ("intelligent-tiering", "DeleteBucketIntelligentTieringConfiguration"),
    ("inventory", "DeleteBucketInventoryConfiguration"),
    ("lifecycle", "DeleteBucketLifecycle"),
    ("metrics", "DeleteBucketMetricsConfiguration"),
    ("ownershipControls", "DeleteBucketOwnershipControls"),
    ("policy", "DeleteBucketPolicy"),
    ("publicAccessBlock", "DeletePublicAccessBlock"),
    ("replication", "DeleteBucketReplication"),
    ("tagging", "DeleteBucketTagging"),
    ("website", "DeleteBucketWebsite"),
];
const GET_OBJECT: &[(&str, &str)] = &[
    ("acl", "GetObjectAcl"),
    ("attributes", "GetObjectAttributes"),
    ("legal-hold", "GetObjectLegalHold"),
    ("retention", "GetObjectRetention"),
    ("tagging", "GetObjectTagging"),
    ("torrent", "GetObjectTorrent"),
    ("uploadId", "ListParts"),
];
const PUT_OBJECT: &[(&str, &str)] = &[
    ("acl", "PutObjectAcl"),
    ("legal-hold", "PutObjectLegalHold"),
    ("retention", "PutObjectRetention"),
    ("tagging", "PutObjectTagging"),
];
const POST_OBJECT: &[(&str, &str)] = &[
    ("restore", "RestoreObject"),
    ("select", "SelectObjectContent"),
    ("uploadId", "CompleteMultipartUpload"),
    ("uploads", "CreateMultipartUpload"),
];
const DELETE_OBJECT: &[(&str, &str)] = &[("tagging", "DeleteObjectTagging"), ("uploadId", "AbortMultipartUpload")];
/// Sub-resources that are implemented (the rest are the keys of the tables above).
const IMPLEMENTED_SUB_RESOURCES: &[&str] = &["delete", "location"];

/// Whether `name` is a sub-resource of any method: one not handled for the method at hand is
/// refused, never ignored.
fn is_sub_resource(name: &str) -> bool {
    let tables = [
        GET_BUCKET,
        PUT_BUCKET,
        DELETE_BUCKET,
        GET_OBJECT,
        PUT_OBJECT,
        POST_OBJECT,
        DELETE_OBJECT,
    ];
    IMPLEMENTED_SUB_RESOURCES.contains(&name)
        || GET_BUCKET_CONFIGS.iter().any(|(p, _, _)| *p == name)
        || tables.iter().any(|t| t.iter().any(|(p, _)| *p == name))
}

/// The not-implemented operation named by the first sub-resource of `table` in the query; any
/// other sub-resource is refused for `method`; `Ok(None)` when there is none.
fn sub_resource(q: &Query, table: &[(&str, &'static str)], method: &str) -> Result<Option<Endpoint>, EndpointError> {
    if let Some(&(_, operation)) = table.iter().find(|(p, _)| q.has(p)) {
        return Ok(Some(Endpoint::NotImplemented { operation }));
    }
    if q.pairs().iter().any(|(k, _)| is_sub_resource(k)) {
        return Err(EndpointError::MethodNotAllowed(method.to_string()));
    }
    Ok(None)
}

fn not_implemented(operation: &'static str) -> Endpoint {
    Endpoint::NotImplemented { operation }
}

impl Endpoint {
    /// Maps a request onto its operation. `path` and `query` are raw, exactly as sent.
    pub fn from_request<H: HeaderLookup + ?Sized>(
        method: &str,
        path: &str,
        query: &str,
        headers: &H,
    ) -> Result<Endpoint, EndpointError> {
        let q = Query::parse(query);
        let (bucket, key) = match split_path(path)? {
            None => {
                return match method {
                    "GET" => Ok(Endpoint::ListBuckets),
                    _ => Err(EndpointError::MethodNotAllowed(method.to_string())),
                }
            }
            Some(bk) => bk,
        };
        match method {
            "GET" => route_get(bucket, key, &q),
            "HEAD" => Ok(match key {
                None => Endpoint::HeadBucket { bucket },
                Some(key) => Endpoint::HeadObject { bucket, key },
            }),
            "PUT" => route_put(bucket, key, &q, headers.header("x-amz-copy-source").is_some()),
            "POST" => route_post(bucket, key, &q),
            "DELETE" => route_delete(bucket, key, &q),
            "OPTIONS" => Ok(not_implemented("PreflightRequest")),
            _ => Err(EndpointError::MethodNotAllowed(method.to_string())),
        }
    }

    /// The S3 operation name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Endpoint::ListBuckets => "ListBuckets",
            Endpoint::CreateBucket { .. } => "CreateBucket",
            Endpoint::DeleteBucket { .. } => "DeleteBucket",
            Endpoint::HeadBucket { .. } => "HeadBucket",
            Endpoint::GetBucketLocation { .. } => "GetBucketLocation",
            Endpoint::ListObjects { .. } => "ListObjects",
            Endpoint::ListObjectsV2 { .. } => "ListObjectsV2",
            Endpoint::PutObject { .. } => "PutObject",
            Endpoint::GetObject { .. } => "GetObject",
            Endpoint::HeadObject { .. } => "HeadObject",
            Endpoint::DeleteObject { .. } => "DeleteObject",
            Endpoint::DeleteObjects { .. } => "DeleteObjects",
            Endpoint::NotImplemented { operation } => operation,
        }
    }

    /// The bucket the operation addresses, if any.
    pub fn bucket(&self) -> Option<&str> {
        match self {
            Endpoint::ListBuckets | Endpoint::NotImplemented { .. } => None,
            Endpoint::CreateBucket { bucket }
            | Endpoint::DeleteBucket { bucket }
            | Endpoint::HeadBucket { bucket }
            | Endpoint::GetBucketLocation { bucket }
            | Endpoint::ListObjects { bucket }
            | Endpoint::ListObjectsV2 { bucket }
            | Endpoint::DeleteObjects { bucket }
            | Endpoint::PutObject { bucket, .. }
            | Endpoint::GetObject { bucket, .. }
            | Endpoint::HeadObject { bucket, .. }
            | Endpoint::DeleteObject { bucket, .. } => Some(bucket),
        }
    }

    /// The decoded object key the operation addresses, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            Endpoint::PutObject { key, .. }
            | Endpoint::GetObject { key, .. }
            | Endpoint::HeadObject { key, .. }
            | Endpoint::DeleteObject { key, .. } => Some(key),
            _ => None,
        }
    }
}

fn route_get(bucket: String, key: Option<String>, q: &Query) -> Result<Endpoint, EndpointError> {
    let Some(key) = key else {
        if q.has("location") {
            return Ok(Endpoint::GetBucketLocation { bucket });
        }
        if let Some(&(_, get, list)) = GET_BUCKET_CONFIGS.iter().find(|(p, _, _)| q.has(p)) {
            return Ok(not_implemented(if q.has("id") { get } else { list }));
        }
        if let Some(e) = sub_resource(q, GET_BUCKET, "GET")? {
            return Ok(e);
        }
        return match q.get("list-type") {
            None => Ok(Endpoint::ListObjects { bucket }),
            Some("2") => Ok(Endpoint::ListObjectsV2 { bucket }),
            Some(_) => Err(EndpointError::InvalidArgument("list-type must be 2")),
        };
    };
    Ok(sub_resource(q, GET_OBJECT, "GET")?.unwrap_or(Endpoint::GetObject { bucket, key }))
}

fn route_put(bucket: String, key: Option<String>, q: &Query, copy: bool) -> Result<Endpoint, EndpointError> {
    let Some(key) = key else {
        if let Some(e) = sub_resource(q, PUT_BUCKET, "PUT")? {
            return Ok(e);
        }
        if !valid_bucket_name(&bucket) {
            return Err(EndpointError::InvalidBucketName(bucket));
        }
        return Ok(Endpoint::CreateBucket { bucket });
    };
    match (q.has("partNumber"), q.has("uploadId"), copy) {
        (true, true, false) => return Ok(not_implemented("UploadPart")),
        (true, true, true) => return Ok(not_implemented("UploadPartCopy")),
        (true, false, _) | (false, true, _) => {
            return Err(EndpointError::InvalidArgument("partNumber and uploadId go together"))
        }
        (false, false, _) => {}
    }
    Ok(match (sub_resource(q, PUT_OBJECT, "PUT")?, copy) {
        (Some(e), _) => e,
        (None, true) => not_implemented("CopyObject"),
        (None, false) => Endpoint::PutObject { bucket, key },
    })
}

fn route_post(bucket: String, key: Option<String>, q: &Query) -> Result<Endpoint, EndpointError> {
    match key {
        None if q.has("delete") => Ok(Endpoint::DeleteObjects { bucket }),
        // Browser-based upload with an HTML form.
        None => Ok(sub_resource(q, &[], "POST")?.unwrap_or(not_implemented("PostObject"))),
        Some(_) => sub_resource(q, POST_OBJECT, "POST")?.ok_or_else(|| EndpointError::MethodNotAllowed("POST".into())),
    }
}

fn route_delete(bucket: String, key: Option<String>, q: &Query) -> Result<Endpoint, EndpointError> {
    Ok(match key {
        None => sub_resource(q, DELETE_BUCKET, "DELETE")?.unwrap_or(Endpoint::DeleteBucket { bucket }),
        Some(key) => sub_resource(q, DELETE_OBJECT, "DELETE")?.unwrap_or(Endpoint::DeleteObject { bucket, key }),
    })
}

/// Splits a path-style path into the bucket and the key (both decoded); `None` for `/`.
fn split_path(path: &str) -> Result<Option<(String, Option<String>)>, EndpointError> {
    let rest = match path.strip_prefix('/') {
        Some(rest) => rest,
        None if path.is_empty() => "",
        None => return Err(EndpointError::InvalidUri("the path must start with '/'")),
    };
    if rest.is_empty() {
        return Ok(None);
    }
    let (bucket, key) = match rest.split_once('/') {
        Some((b, k)) => (b, Some(k)),
        None => (rest, None),
    };
    let bucket = decode_path(bucket)?;
    if bucket.is_empty() || bucket.contains('/') {
        return Err(EndpointError::InvalidUri("bad bucket in path"));
    }
    let key = match key {
        Some(k) if !k.is_empty() => Some(decode_path(k)?),
        _ => None,
    };
    if key.as_ref().is_some_and(|k| k.len() > MAX_KEY_BYTES) {
        return Err(EndpointError::KeyTooLong);
    }
    Ok(Some((bucket, key)))
}

fn decode_path(s: &str) -> Result<String, EndpointError> {
    let bytes = percent_decode(s, true).ok_or(EndpointError::InvalidUri("bad percent-encoding in path"))?;
    String::from_utf8(bytes.into_owned()).map_err(|_| EndpointError::InvalidUri("path is not UTF-8 once decoded"))
}

/// Whether `name` follows the S3 bucket naming rules for new buckets: 3–63 characters of
/// lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit, no `..`,
/// not an IPv4 address, and none of the prefixes and suffixes AWS reserves.
pub fn valid_bucket_name(name: &str) -> bool {
    const RESERVED_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
    const RESERVED_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    let b = name.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    let ip_like = name.split('.').count() == 4
        && name
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && !name.contains("..")
        && !ip_like
        && !RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
        && !RESERVED_SUFFIXES.iter().any(|s| name.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NO_HEADERS: &[(&str, &str)] = &[];

    /// Routes a request line such as `GET /bucket?list-type=2` with `headers`.
    fn route_with(line: &str, headers: &[(&str, &str)]) -> Result<Endpoint, EndpointError> {
        let (method, target) = line.split_once(' ').unwrap();
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Endpoint::from_request(method, path, query, headers)
    }

    fn route(line: &str) -> Result<Endpoint, EndpointError> {
        route_with(line, NO_HEADERS)
    }

    /// The non-empty, trimmed lines of a table.
    fn rows(table: &str) -> impl Iterator<Item = &str> {
        table.lines().map(str::trim).filter(|l| !l.is_empty())
    }

    /// Routes each `METHOD target Operation [key]` row of `table` and checks the outcome.
    fn check_table(table: &str, headers: &[(&str, &str)]) {
        for row in rows(table) {
            let cols: Vec<&str> = row.split_whitespace().collect();
            let e = route_with(&format!("{} {}", cols[0], cols[1]), headers).unwrap_or_else(|e| panic!("{row}: {e}"));
            let local = !matches!(e, Endpoint::ListBuckets | Endpoint::NotImplemented { .. });
            let want = (cols[2], local.then_some("bkt"), cols.get(3).copied());
            assert_eq!((e.name(), e.bucket(), e.key()), want, "{row}");
        }
    }

    /// Routes each `METHOD target` row of `table` and checks the error code and status.
    fn check_errors(table: &str, code: &str, status: u16) {
        for row in rows(table) {
            let e = route(row).unwrap_err();
            assert_eq!((e.code(), e.status()), (code, status), "{row}: {e}");
        }
    }

    /// The request lines of the S3 API reference for what we implement, in path style.
    const IMPLEMENTED: &str = "
        GET    /                                                   ListBuckets
        GET    /?x-id=ListBuckets                                  ListBuckets
        PUT    /bkt                                                CreateBucket
        DELETE /bkt                                                DeleteBucket
        HEAD   /bkt                                                HeadBucket
        GET    /bkt?location                                       GetBucketLocation
        GET    /bkt                                                ListObjects
        GET    /bkt/?x-id=ListObjects                              ListObjects
        GET    /bkt?delimiter=%2F&encoding-type=url&marker=m&max-keys=100&prefix=photos%2F   ListObjects
        GET    /bkt?list-type=2&prefix=photos%2F                   ListObjectsV2
        GET    /bkt?list-type=2&continuation-token=1ueGcxLPRx1Tr%2FXYE&delimiter=%2F&fetch-owner=true  ListObjectsV2
        PUT    /bkt/my-image.jpg                                   PutObject     my-image.jpg
        GET    /bkt/photos/a.jpg?partNumber=1&response-cache-control=no-cache&versionId=3  GetObject  photos/a.jpg
        HEAD   /bkt/my-image.jpg?partNumber=2&versionId=3HL4       HeadObject    my-image.jpg
        DELETE /bkt/my-image.jpg?versionId=UIORUnfndfiufdisojhr39  DeleteObject  my-image.jpg
        DELETE /bkt/k?x-id=DeleteObject                            DeleteObject  k
        POST   /bkt?delete                                         DeleteObjects
        POST   /bkt?delete=                                        DeleteObjects
    ";

    /// Valid S3 requests for operations we do not implement, with the operation name.
    const NOT_IMPLEMENTED: &str = "
        POST    /bkt/example-object?uploads                           CreateMultipartUpload
        PUT     /bkt/obj?partNumber=1&uploadId=VCVsb2FkIElE           UploadPart
        POST    /bkt/obj?uploadId=AAAsb2FkIElE                        CompleteMultipartUpload
        DELETE  /bkt/obj?uploadId=VXBsb2FkIElE                        AbortMultipartUpload
        GET     /bkt/obj?max-parts=2&part-number-marker=1&uploadId=X  ListParts
        GET     /bkt?uploads&delimiter=%2F&max-uploads=3&prefix=p     ListMultipartUploads
        GET     /bkt?versions&key-marker=a&prefix=photos              ListObjectVersions
        GET     /bkt/my-image.jpg?acl&versionId=1                     GetObjectAcl
        PUT     /bkt/my-image.jpg?acl                                 PutObjectAcl
        GET     /bkt/obj?tagging                                      GetObjectTagging
        PUT     /bkt/obj?tagging                                      PutObjectTagging
        DELETE  /bkt/obj?tagging&versionId=1                          DeleteObjectTagging
        GET     /bkt/obj?attributes                                   GetObjectAttributes
        GET     /bkt/obj?torrent                                      GetObjectTorrent
        GET     /bkt/obj?retention                                    GetObjectRetention
        PUT     /bkt/obj?retention                                    PutObjectRetention
        GET     /bkt/obj?legal-hold                                   GetObjectLegalHold
        PUT     /bkt/obj?legal-hold                                   PutObjectLegalHold
        POST    /bkt/obj?restore&versionId=1                          RestoreObject
        POST    /bkt/obj?select&select-type=2                         SelectObjectContent
        GET     /bkt?acl                                              GetBucketAcl
        PUT     /bkt?acl                                              PutBucketAcl
        GET     /bkt?versioning                                       GetBucketVersioning
        PUT     /bkt?versioning                                       PutBucketVersioning
        GET     /bkt?policy                                           GetBucketPolicy
        PUT     /bkt?policy                                           PutBucketPolicy
        DELETE  /bkt?policy                                           DeleteBucketPolicy
        GET     /bkt?policyStatus                                     GetBucketPolicyStatus
        GET     /bkt?cors                                             GetBucketCors
        PUT     /bkt?cors                                             PutBucketCors
        DELETE  /bkt?cors                                             DeleteBucketCors
        GET     /bkt?lifecycle                                        GetBucketLifecycleConfiguration
        PUT     /bkt?lifecycle                                        PutBucketLifecycleConfiguration
        DELETE  /bkt?lifecycle                                        DeleteBucketLifecycle
        GET     /bkt?tagging                                          GetBucketTagging
        PUT     /bkt?tagging                                          PutBucketTagging
        DELETE  /bkt?tagging                                          DeleteBucketTagging
        GET     /bkt?website                                          GetBucketWebsite
        PUT     /bkt?website                                          PutBucketWebsite
        DELETE  /bkt?website                                          DeleteBucketWebsite
        GET     /bkt?encryption                                       GetBucketEncryption
        GET     /bkt?object-lock                                      GetObjectLockConfiguration
        PUT     /bkt?object-lock                                      PutObjectLockConfiguration
        GET     /bkt?publicAccessBlock                                GetPublicAccessBlock
        DELETE  /bkt?publicAccessBlock                                DeletePublicAccessBlock
        GET     /bkt?ownershipControls                                GetBucketOwnershipControls
        GET     /bkt?notification                                     GetBucketNotificationConfiguration
        GET     /bkt?replication                                      GetBucketReplication
        GET     /bkt?requestPayment                                   GetBucketRequestPayment
        GET     /bkt?accelerate                                       GetBucketAccelerateConfiguration
        GET     /bkt?logging                                          GetBucketLogging
        GET     /bkt?session                                          CreateSession
        GET     /bkt?analytics&id=report1                             GetBucketAnalyticsConfiguration
        GET     /bkt?analytics                                        ListBucketAnalyticsConfigurations
        GET     /bkt?inventory&continuation-token=t                   ListBucketInventoryConfigurations
        GET     /bkt?metrics&id=EntireBucket                          GetBucketMetricsConfiguration
        GET     /bkt?intelligent-tiering                              ListBucketIntelligentTieringConfigurations
        PUT     /bkt?metrics&id=EntireBucket                          PutBucketMetricsConfiguration
        DELETE  /bkt?inventory&id=list1                               DeleteBucketInventoryConfiguration
        POST    /bkt                                                  PostObject
        OPTIONS /bkt/obj                                              PreflightRequest
    ";

    #[test]
    fn implemented_operations_from_the_aws_docs() {
        check_table(IMPLEMENTED, NO_HEADERS);
        let e = route("PUT /bkt/a%20b").unwrap();
        assert_eq!(
            e,
            Endpoint::PutObject {
                bucket: "bkt".into(),
                key: "a b".into()
            }
        );
    }

    #[test]
    fn not_implemented_operations() {
        check_table(NOT_IMPLEMENTED, NO_HEADERS);
        let copy = [("X-Amz-Copy-Source", "/src-bucket/src%20key?versionId=1")];
        check_table(
            "PUT /bkt/dst CopyObject \n PUT /bkt/obj?partNumber=2&uploadId=u UploadPartCopy",
            &copy,
        );
    }

    #[test]
    fn keys_are_decoded_and_kept_whole() {
        let table = "
            my%20photo%20(1).jpg             my photo (1).jpg
            a+b                              a+b
            a%2Bb                            a+b
            dir%2Ffile                       dir/file
            dir/                             dir/
            /                                /
            a//b///                          a//b///
            caf%C3%A9/%E2%82%AC%F0%9F%98%80  caf\u{e9}/\u{20ac}\u{1f600}
            caf\u{e9}                        caf\u{e9}
            100%25%3F%23%26                  100%?#&
            %2e%2E/..                        ../..
        ";
        for row in rows(table) {
            let (raw, want) = row.split_once(' ').unwrap();
            let got = route(&format!("GET /bkt/{raw}")).unwrap();
            assert_eq!(got.key(), Some(want.trim()), "{row}");
        }
        assert_eq!(route("GET /bkt/").unwrap().key(), None, "/bkt/ is the bucket");
        let max = "k".repeat(MAX_KEY_BYTES);
        assert_eq!(route(&format!("GET /bkt/{max}")).unwrap().key(), Some(max.as_str()));
        assert_eq!(route(&format!("GET /bkt/{max}k")), Err(EndpointError::KeyTooLong));
        // The limit counts decoded bytes: 342 euro signs are 1026 bytes.
        let euros = "%E2%82%AC".repeat(342);
        assert_eq!(route(&format!("PUT /bkt/{euros}")), Err(EndpointError::KeyTooLong));
    }

    #[test]
    fn bad_paths() {
        let table = "GET /bkt/a%zz \n GET /bkt/a% \n GET /bkt/a%2 \n GET /bkt/%FF \n GET /bkt/%C3
            GET //key \n GET /a%2Fb/k \n GET bkt/k";
        check_errors(table, "InvalidURI", 400);
        assert_eq!(route("GET /my%2Dbucket").unwrap().bucket(), Some("my-bucket"));
        assert_eq!(
            Endpoint::from_request("GET", "", "", NO_HEADERS),
            Ok(Endpoint::ListBuckets)
        );
    }

    #[test]
    fn methods_not_allowed() {
        // Unknown methods, the root, and sub-resources that make no sense for the method: never
        // ignored, so e.g. DELETE /bkt?versioning cannot delete the bucket.
        let table = "
            PUT /             \n DELETE /          \n HEAD /              \n POST /
            PATCH /bkt/k      \n get /bkt/k        \n POST /bkt/k         \n POST /bkt?uploads
            DELETE /bkt?acl   \n DELETE /bkt/k?acl \n DELETE /bkt?versioning
            PUT /bkt?uploads  \n PUT /bkt?location \n PUT /bkt/k?uploads  \n PUT /bkt/k?restore
            GET /bkt?delete   \n GET /bkt?restore  \n GET /bkt/k?location \n POST /bkt/k?delete
            DELETE /bkt/k?uploads
        ";
        check_errors(table, "MethodNotAllowed", 405);
    }

    #[test]
    fn invalid_arguments() {
        let table = "GET /bkt?list-type=1 \n GET /bkt?list-type= \n PUT /bkt/k?partNumber=1 \n PUT /bkt/k?uploadId=u";
        check_errors(table, "InvalidArgument", 400);
        assert_eq!(EndpointError::InvalidRequest("x").code(), "InvalidRequest");
        assert_eq!(EndpointError::KeyTooLong.code(), "KeyTooLongError");
    }

    #[test]
    fn create_bucket_validates_the_name() {
        for bad in "My-Bucket 192.168.5.4 ab a..b -abc abc- xn--abc my_bucket".split(' ') {
            let e = route(&format!("PUT /{bad}")).unwrap_err();
            assert_eq!(e, EndpointError::InvalidBucketName(bad.to_string()));
            assert_eq!((e.code(), e.status()), ("InvalidBucketName", 400));
        }
        // Other operations leave unknown names to the handler (NoSuchBucket).
        assert_eq!(route("GET /My_Bucket").unwrap().bucket(), Some("My_Bucket"));
    }

    #[test]
    fn bucket_names() {
        let (long, too_long) = ("a".repeat(63), "a".repeat(64));
        for ok in "abc my-bucket my.bucket.v2 1bucket 192.168.5 1.2.3.4.5"
            .split(' ')
            .chain([long.as_str()])
        {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        let bad = "ab Abc a_b .abc abc. -abc abc- a..b 10.0.0.1 caf\u{e9} xn--bucket sthree-bucket \
                   amzn-s3-demo-bucket b-s3alias b--ol-s3 b.mrap b--x-s3 b--table-s3";
        for bad in bad.split_whitespace().chain(["", "a b", too_long.as_str()]) {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn headers_from_a_parsed_head() {
        let raw = b"PUT /dst-bucket/new%20key HTTP/1.1\r\nHost: h\r\nx-amz-copy-source: src/key\r\n\r\n";
        let (head, _) = crate::http::decode_head(raw).unwrap().unwrap();
        let e = Endpoint::from_request(head.method.as_str(), &head.path, &head.query, &head).unwrap();
        assert_eq!(e.name(), "CopyObject");
        let owned = vec![("X-AMZ-COPY-SOURCE".to_string(), "a/b".to_string())];
        let e = Endpoint::from_request("PUT", "/b1b/k", "", owned.as_slice()).unwrap();
        assert_eq!(e.name(), "CopyObject");
    }

    proptest! {
        #[test]
        fn any_key_round_trips(key in "\\PC{1,60}") {
            let enc: String = key.bytes().map(|c| format!("%{c:02X}")).collect();
            let e = Endpoint::from_request("GET", &format!("/bkt/{enc}"), "", NO_HEADERS).unwrap();
            prop_assert_eq!(e, Endpoint::GetObject { bucket: "bkt".into(), key });
        }

        #[test]
        fn any_request_never_panics(method in "[A-Z]{0,7}", path in "\\PC{0,40}", query in "\\PC{0,40}") {
            let _ = Endpoint::from_request(&method, &path, &query, NO_HEADERS);
        }
    }
}
