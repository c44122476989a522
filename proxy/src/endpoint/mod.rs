//! The S3 operation router: [`Endpoint::from_request`] maps a request (method, raw path, raw
//! query, headers) onto one [`Endpoint`] variant carrying its parameters, with one readable
//! `match` per method (after Garage's `api/s3/router.rs`). Query sub-resources (`?acl`,
//! `?uploads`, ...) decide the operation; the ones we do not implement route to
//! [`Endpoint::NotImplemented`] with the S3 operation name, and a known sub-resource that makes no
//! sense for the method is refused, so `DELETE /bucket?versioning` can never delete the bucket.
//!
//! Path-style `/bucket` and `/bucket/key...`, where the key is everything after the first `/`
//! following the bucket, percent-decoded (`+` stays `+`); and virtual-hosted style, where the
//! `Host` names the bucket ([`host_bucket`]) and the whole path after its first `/` is the key. Each variant carries its
//! parsed parameters (upload id, part number, copy source) and knows its [`Access`] class and
//! whether it takes a body, so a new operation is one variant, one handler and one XML type.

mod facts;
mod host;
mod path;
mod route;
mod tables;

use crate::http::RequestHead;
use path::{split_path, split_virtual};
use route::{
    object_part_number, route_delete_object, route_get_bucket, route_get_object, route_post_bucket, route_post_object,
    route_put_bucket, route_put_object, version_id,
};
use tables::{sub_resource, DELETE_BUCKET};

pub use host::host_bucket;
pub use path::valid_bucket_name;

pub use crate::http::query::{parse_query, Query};

/// Longest object key in bytes once decoded: S3's limit (longer is `KeyTooLongError`).
pub const MAX_KEY_BYTES: usize = 1024;

/// A `x-amz-copy-source`: the object a copy reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    /// Source bucket.
    pub bucket: String,
    /// Source key (decoded).
    pub key: String,
    /// `?versionId=` of the source, if given.
    pub version_id: Option<String>,
}

/// What a caller must be allowed to do for an operation (checked before any backend is touched).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone authenticated (ListBuckets, and operations answered NotImplemented).
    Any,
    /// Read the bucket.
    Read,
    /// Write to the bucket.
    Write,
    /// Create or delete the bucket itself.
    Manage,
}

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
    /// `GET /bucket?uploads` (parameters stay in the query).
    ListMultipartUploads {
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
    /// `PUT /bucket/key` with `x-amz-copy-source`.
    CopyObject {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
        /// What to copy.
        source: CopySource,
    },
    /// `GET /bucket/key`.
    GetObject {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
        /// `?partNumber=`: read only this part.
        part_number: Option<u32>,
        /// `?versionId=`: this version rather than the latest.
        version: Option<String>,
    },
    /// `HEAD /bucket/key`.
    HeadObject {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
        /// `?partNumber=`: describe only this part.
        part_number: Option<u32>,
        /// `?versionId=`: this version rather than the latest.
        version: Option<String>,
    },
    /// `GET /bucket/key?attributes`.
    GetObjectAttributes {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
        /// `?versionId=`: this version rather than the latest.
        version: Option<String>,
    },
    /// `DELETE /bucket/key`.
    DeleteObject {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
        /// `?versionId=`: this version rather than the latest.
        version: Option<String>,
    },
    /// `POST /bucket` with a `multipart/form-data` body: a browser form upload, authenticated by
    /// the form's signed policy rather than the request head. Only the bucket is needed (the
    /// key is a form field), so a virtual-hosted `POST /` maps here too.
    PostObject {
        /// The bucket name.
        bucket: String,
    },
    /// `POST /bucket?delete`.
    DeleteObjects {
        /// The bucket name.
        bucket: String,
    },
    /// `GET /bucket/key?tagging`.
    GetObjectTagging {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
        /// `?versionId=`: this version rather than the latest.
        version: Option<String>,
    },
    /// `PUT /bucket/key?tagging`.
    PutObjectTagging {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
        /// `?versionId=`: this version rather than the latest.
        version: Option<String>,
    },
    /// `DELETE /bucket/key?tagging`.
    DeleteObjectTagging {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
        /// `?versionId=`: this version rather than the latest.
        version: Option<String>,
    },
    /// `POST /bucket/key?uploads`.
    CreateMultipartUpload {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
    },
    /// `PUT /bucket/key?partNumber=N&uploadId=U`.
    UploadPart {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
        /// The upload.
        upload_id: String,
        /// 1 to 10,000.
        part_number: u32,
    },
    /// `PUT /bucket/key?partNumber=N&uploadId=U` with `x-amz-copy-source`.
    UploadPartCopy {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
        /// The upload.
        upload_id: String,
        /// 1 to 10,000.
        part_number: u32,
        /// What to copy.
        source: CopySource,
    },
    /// `POST /bucket/key?uploadId=U`.
    CompleteMultipartUpload {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
        /// The upload.
        upload_id: String,
    },
    /// `DELETE /bucket/key?uploadId=U`.
    AbortMultipartUpload {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
        /// The upload.
        upload_id: String,
    },
    /// `GET /bucket/key?uploadId=U` (markers stay in the query).
    ListParts {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
        /// The upload.
        upload_id: String,
    },
    /// `GET /bucket?versioning`.
    GetBucketVersioning {
        /// The bucket name.
        bucket: String,
    },
    /// `PUT /bucket?versioning`.
    PutBucketVersioning {
        /// The bucket name.
        bucket: String,
    },
    /// `GET /bucket?versions` (parameters stay in the query).
    ListObjectVersions {
        /// The bucket name.
        bucket: String,
    },
    /// `GET /bucket?object-lock`.
    GetObjectLockConfiguration {
        /// The bucket name.
        bucket: String,
    },
    /// `PUT /bucket?object-lock`.
    PutObjectLockConfiguration {
        /// The bucket name.
        bucket: String,
    },
    /// `GET /bucket/key?retention`.
    GetObjectRetention {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
        /// `?versionId=`: this version rather than the latest.
        version: Option<String>,
    },
    /// `PUT /bucket/key?retention`.
    PutObjectRetention {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
        /// `?versionId=`: this version rather than the latest.
        version: Option<String>,
    },
    /// `GET /bucket/key?legal-hold`.
    GetObjectLegalHold {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
        /// `?versionId=`: this version rather than the latest.
        version: Option<String>,
    },
    /// `PUT /bucket/key?legal-hold`.
    PutObjectLegalHold {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
        /// `?versionId=`: this version rather than the latest.
        version: Option<String>,
    },
    /// `GET /bucket?acl`.
    GetBucketAcl {
        /// The bucket name.
        bucket: String,
    },
    /// `PUT /bucket?acl`.
    PutBucketAcl {
        /// The bucket name.
        bucket: String,
    },
    /// `GET /bucket/key?acl`.
    GetObjectAcl {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
        /// `?versionId=`: this version rather than the latest.
        version: Option<String>,
    },
    /// `PUT /bucket/key?acl`.
    PutObjectAcl {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
        /// `?versionId=`: this version rather than the latest.
        version: Option<String>,
    },
    /// `GET /bucket?ownershipControls`.
    GetBucketOwnershipControls {
        /// The bucket name.
        bucket: String,
    },
    /// `PUT /bucket?ownershipControls`.
    PutBucketOwnershipControls {
        /// The bucket name.
        bucket: String,
    },
    /// `DELETE /bucket?ownershipControls`.
    DeleteBucketOwnershipControls {
        /// The bucket name.
        bucket: String,
    },
    /// `GET /bucket?publicAccessBlock`.
    GetPublicAccessBlock {
        /// The bucket name.
        bucket: String,
    },
    /// `PUT /bucket?publicAccessBlock`.
    PutPublicAccessBlock {
        /// The bucket name.
        bucket: String,
    },
    /// `DELETE /bucket?publicAccessBlock`.
    DeletePublicAccessBlock {
        /// The bucket name.
        bucket: String,
    },
    /// `GET /bucket?cors`.
    GetBucketCors {
        /// The bucket name.
        bucket: String,
    },
    /// `PUT /bucket?cors`.
    PutBucketCors {
        /// The bucket name.
        bucket: String,
    },
    /// `DELETE /bucket?cors`.
    DeleteBucketCors {
        /// The bucket name.
        bucket: String,
    },
    /// `GET /bucket?policy`.
    GetBucketPolicy {
        /// The bucket name.
        bucket: String,
    },
    /// `PUT /bucket?policy`.
    PutBucketPolicy {
        /// The bucket name.
        bucket: String,
    },
    /// `DELETE /bucket?policy`.
    DeleteBucketPolicy {
        /// The bucket name.
        bucket: String,
    },
    /// `GET /bucket?policyStatus`.
    GetBucketPolicyStatus {
        /// The bucket name.
        bucket: String,
    },
    /// `GET /bucket?lifecycle`.
    GetBucketLifecycleConfiguration {
        /// The bucket name.
        bucket: String,
    },
    /// `PUT /bucket?lifecycle`.
    PutBucketLifecycleConfiguration {
        /// The bucket name.
        bucket: String,
    },
    /// `DELETE /bucket?lifecycle`.
    DeleteBucketLifecycle {
        /// The bucket name.
        bucket: String,
    },
    /// `GET /bucket?tagging`.
    GetBucketTagging {
        /// The bucket name.
        bucket: String,
    },
    /// `PUT /bucket?tagging`.
    PutBucketTagging {
        /// The bucket name.
        bucket: String,
    },
    /// `DELETE /bucket?tagging`.
    DeleteBucketTagging {
        /// The bucket name.
        bucket: String,
    },
    /// `OPTIONS /bucket[/key]`: a browser's CORS preflight (never signed).
    PreflightRequest {
        /// The bucket name.
        bucket: String,
        /// The decoded object key, if any.
        key: Option<String>,
    },
    /// A valid S3 operation we do not implement (answered 501 `NotImplemented`).
    NotImplemented {
        /// The S3 operation name, e.g. `PutBucketAcl`.
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

impl Endpoint {
    /// Maps a request onto its operation. `path` and `query` are raw, exactly as sent.
    pub fn from_request<H: HeaderLookup + ?Sized>(
        method: &str,
        path: &str,
        query: &str,
        headers: &H,
    ) -> Result<Endpoint, EndpointError> {
        Self::from_request_in(method, None, path, query, headers)
    }

    /// [`Endpoint::from_request`] for a request whose `Host` named `host_bucket`
    /// (virtual-hosted style: the path is only the key); `None` = path-style.
    pub fn from_request_in<H: HeaderLookup + ?Sized>(
        method: &str,
        host_bucket: Option<String>,
        path: &str,
        query: &str,
        headers: &H,
    ) -> Result<Endpoint, EndpointError> {
        let q = Query::parse(query);
        let target = match host_bucket {
            Some(bucket) => Some(split_virtual(bucket, path)?),
            None => split_path(path)?,
        };
        let (bucket, key) = match target {
            None => {
                return match method {
                    "GET" => Ok(Endpoint::ListBuckets),
                    _ => Err(EndpointError::MethodNotAllowed(method.to_string())),
                }
            }
            Some(bk) => bk,
        };
        let copy = headers.header("x-amz-copy-source");
        match (method, key) {
            ("GET", None) => route_get_bucket(bucket, &q),
            ("GET", Some(key)) => route_get_object(bucket, key, &q),
            ("HEAD", None) => Ok(Endpoint::HeadBucket { bucket }),
            ("HEAD", Some(key)) => Ok(Endpoint::HeadObject {
                bucket,
                key,
                part_number: object_part_number(&q)?,
                version: version_id(&q)?,
            }),
            ("PUT", None) => route_put_bucket(bucket, &q),
            ("PUT", Some(key)) => route_put_object(bucket, key, &q, copy),
            ("POST", None) if q.has("delete") => Ok(Endpoint::DeleteObjects { bucket }),
            // Browser-based upload with an HTML form.
            ("POST", None) => route_post_bucket(bucket, &q, headers.header("content-type")),
            ("POST", Some(key)) => route_post_object(bucket, key, &q),
            ("DELETE", None) if q.has("ownershipControls") => Ok(Endpoint::DeleteBucketOwnershipControls { bucket }),
            ("DELETE", None) if q.has("publicAccessBlock") => Ok(Endpoint::DeletePublicAccessBlock { bucket }),
            ("DELETE", None) if q.has("cors") => Ok(Endpoint::DeleteBucketCors { bucket }),
            ("DELETE", None) if q.has("tagging") => Ok(Endpoint::DeleteBucketTagging { bucket }),
            ("DELETE", None) if q.has("lifecycle") => Ok(Endpoint::DeleteBucketLifecycle { bucket }),
            ("DELETE", None) if q.has("policy") => Ok(Endpoint::DeleteBucketPolicy { bucket }),
            ("DELETE", None) => {
                Ok(sub_resource(&q, DELETE_BUCKET, "DELETE")?.unwrap_or(Endpoint::DeleteBucket { bucket }))
            }
            ("DELETE", Some(key)) => route_delete_object(bucket, key, &q),
            ("OPTIONS", key) => Ok(Endpoint::PreflightRequest { bucket, key }),
            _ => Err(EndpointError::MethodNotAllowed(method.to_string())),
        }
    }
}

#[cfg(test)]
mod tests;
