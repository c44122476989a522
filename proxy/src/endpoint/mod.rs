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

mod host;
mod path;
mod tables;

use crate::http::RequestHead;
use path::{parse_copy_source, split_path, split_virtual};
use tables::{
    not_implemented, sub_resource, DELETE_BUCKET, DELETE_OBJECT, GET_BUCKET, GET_BUCKET_CONFIGS, GET_OBJECT,
    POST_OBJECT, PUT_BUCKET, PUT_OBJECT,
};

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
    },
    /// `HEAD /bucket/key`.
    HeadObject {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
        /// `?partNumber=`: describe only this part.
        part_number: Option<u32>,
    },
    /// `GET /bucket/key?attributes`.
    GetObjectAttributes {
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
    },
    /// `PUT /bucket/key?tagging`.
    PutObjectTagging {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
    },
    /// `DELETE /bucket/key?tagging`.
    DeleteObjectTagging {
        /// The bucket name.
        bucket: String,
        /// The decoded object key.
        key: String,
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
            }),
            ("PUT", None) => route_put_bucket(bucket, &q),
            ("PUT", Some(key)) => route_put_object(bucket, key, &q, copy),
            ("POST", None) if q.has("delete") => Ok(Endpoint::DeleteObjects { bucket }),
            // Browser-based upload with an HTML form.
            ("POST", None) => route_post_bucket(bucket, &q, headers.header("content-type")),
            ("POST", Some(key)) => route_post_object(bucket, key, &q),
            ("DELETE", None) => {
                Ok(sub_resource(&q, DELETE_BUCKET, "DELETE")?.unwrap_or(Endpoint::DeleteBucket { bucket }))
            }
            ("DELETE", Some(key)) => route_delete_object(bucket, key, &q),
            ("OPTIONS", _) => Ok(not_implemented("PreflightRequest")),
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
            Endpoint::ListMultipartUploads { .. } => "ListMultipartUploads",
            Endpoint::PutObject { .. } => "PutObject",
            Endpoint::CopyObject { .. } => "CopyObject",
            Endpoint::GetObject { .. } => "GetObject",
            Endpoint::HeadObject { .. } => "HeadObject",
            Endpoint::GetObjectAttributes { .. } => "GetObjectAttributes",
            Endpoint::DeleteObject { .. } => "DeleteObject",
            Endpoint::DeleteObjects { .. } => "DeleteObjects",
            Endpoint::PostObject { .. } => "PostObject",
            Endpoint::GetObjectTagging { .. } => "GetObjectTagging",
            Endpoint::PutObjectTagging { .. } => "PutObjectTagging",
            Endpoint::DeleteObjectTagging { .. } => "DeleteObjectTagging",
            Endpoint::CreateMultipartUpload { .. } => "CreateMultipartUpload",
            Endpoint::UploadPart { .. } => "UploadPart",
            Endpoint::UploadPartCopy { .. } => "UploadPartCopy",
            Endpoint::CompleteMultipartUpload { .. } => "CompleteMultipartUpload",
            Endpoint::AbortMultipartUpload { .. } => "AbortMultipartUpload",
            Endpoint::ListParts { .. } => "ListParts",
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
            | Endpoint::ListMultipartUploads { bucket }
            | Endpoint::DeleteObjects { bucket }
            | Endpoint::PostObject { bucket }
            | Endpoint::PutObject { bucket, .. }
            | Endpoint::CopyObject { bucket, .. }
            | Endpoint::GetObject { bucket, .. }
            | Endpoint::HeadObject { bucket, .. }
            | Endpoint::GetObjectAttributes { bucket, .. }
            | Endpoint::DeleteObject { bucket, .. }
            | Endpoint::GetObjectTagging { bucket, .. }
            | Endpoint::PutObjectTagging { bucket, .. }
            | Endpoint::DeleteObjectTagging { bucket, .. }
            | Endpoint::CreateMultipartUpload { bucket, .. }
            | Endpoint::UploadPart { bucket, .. }
            | Endpoint::UploadPartCopy { bucket, .. }
            | Endpoint::CompleteMultipartUpload { bucket, .. }
            | Endpoint::AbortMultipartUpload { bucket, .. }
            | Endpoint::ListParts { bucket, .. } => Some(bucket),
        }
    }

    /// The decoded object key the operation addresses, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            Endpoint::PutObject { key, .. }
            | Endpoint::CopyObject { key, .. }
            | Endpoint::GetObject { key, .. }
            | Endpoint::HeadObject { key, .. }
            | Endpoint::GetObjectAttributes { key, .. }
            | Endpoint::DeleteObject { key, .. }
            | Endpoint::GetObjectTagging { key, .. }
            | Endpoint::PutObjectTagging { key, .. }
            | Endpoint::DeleteObjectTagging { key, .. }
            | Endpoint::CreateMultipartUpload { key, .. }
            | Endpoint::UploadPart { key, .. }
            | Endpoint::UploadPartCopy { key, .. }
            | Endpoint::CompleteMultipartUpload { key, .. }
            | Endpoint::AbortMultipartUpload { key, .. }
            | Endpoint::ListParts { key, .. } => Some(key),
            _ => None,
        }
    }

    /// The copy source of CopyObject and UploadPartCopy (the caller must be able to read it).
    pub fn copy_source(&self) -> Option<&CopySource> {
        match self {
            Endpoint::CopyObject { source, .. } | Endpoint::UploadPartCopy { source, .. } => Some(source),
            _ => None,
        }
    }

    /// What the caller must be allowed to do on [`Endpoint::bucket`].
    pub fn access(&self) -> Access {
        match self {
            Endpoint::ListBuckets | Endpoint::NotImplemented { .. } => Access::Any,
            Endpoint::CreateBucket { .. } | Endpoint::DeleteBucket { .. } => Access::Manage,
            Endpoint::HeadBucket { .. }
            | Endpoint::GetBucketLocation { .. }
            | Endpoint::ListObjects { .. }
            | Endpoint::ListObjectsV2 { .. }
            | Endpoint::ListMultipartUploads { .. }
            | Endpoint::GetObject { .. }
            | Endpoint::HeadObject { .. }
            | Endpoint::GetObjectAttributes { .. }
            | Endpoint::GetObjectTagging { .. }
            | Endpoint::ListParts { .. } => Access::Read,
            Endpoint::PutObject { .. }
            | Endpoint::CopyObject { .. }
            | Endpoint::DeleteObject { .. }
            | Endpoint::DeleteObjects { .. }
            | Endpoint::PostObject { .. }
            | Endpoint::PutObjectTagging { .. }
            | Endpoint::DeleteObjectTagging { .. }
            | Endpoint::CreateMultipartUpload { .. }
            | Endpoint::UploadPart { .. }
            | Endpoint::UploadPartCopy { .. }
            | Endpoint::CompleteMultipartUpload { .. }
            | Endpoint::AbortMultipartUpload { .. } => Access::Write,
        }
    }

    /// Whether the operation reads a request body (others read and ignore a small one).
    pub fn takes_body(&self) -> bool {
        matches!(
            self,
            Endpoint::PutObject { .. }
                | Endpoint::CreateBucket { .. }
                | Endpoint::DeleteObjects { .. }
                | Endpoint::PostObject { .. }
                | Endpoint::PutObjectTagging { .. }
                | Endpoint::UploadPart { .. }
                | Endpoint::CompleteMultipartUpload { .. }
        )
    }
}

/// Text of S3's error for a part number out of range.
const PART_NUMBER_RANGE: &str = "Part number must be an integer between 1 and 10000, inclusive";

/// Parses a part number: 1 to 10,000.
fn part_number(v: &str) -> Result<u32, EndpointError> {
    v.parse::<u32>()
        .ok()
        .filter(|n| (1..=s3o_store::MAX_PARTS).contains(n))
        .ok_or(EndpointError::InvalidArgument(PART_NUMBER_RANGE))
}

/// The `partNumber` of a GET or HEAD, if any.
fn object_part_number(q: &Query) -> Result<Option<u32>, EndpointError> {
    q.get("partNumber").map(part_number).transpose()
}

/// The upload id of a request, which must not be empty.
fn upload_id(q: &Query) -> Result<Option<String>, EndpointError> {
    match q.get("uploadId") {
        None => Ok(None),
        Some("") => Err(EndpointError::InvalidArgument("uploadId must not be empty")),
        Some(id) => Ok(Some(id.to_string())),
    }
}

fn route_get_bucket(bucket: String, q: &Query) -> Result<Endpoint, EndpointError> {
    if q.has("location") {
        return Ok(Endpoint::GetBucketLocation { bucket });
    }
    if q.has("uploads") {
        return Ok(Endpoint::ListMultipartUploads { bucket });
    }
    if let Some(&(_, get, list)) = GET_BUCKET_CONFIGS.iter().find(|(p, _, _)| q.has(p)) {
        return Ok(not_implemented(if q.has("id") { get } else { list }));
    }
    if let Some(e) = sub_resource(q, GET_BUCKET, "GET")? {
        return Ok(e);
    }
    match q.get("list-type") {
        None => Ok(Endpoint::ListObjects { bucket }),
        Some("2") => Ok(Endpoint::ListObjectsV2 { bucket }),
        Some(_) => Err(EndpointError::InvalidArgument("list-type must be 2")),
    }
}

fn route_get_object(bucket: String, key: String, q: &Query) -> Result<Endpoint, EndpointError> {
    if let Some(upload_id) = upload_id(q)? {
        return Ok(Endpoint::ListParts { bucket, key, upload_id });
    }
    if q.has("attributes") {
        return Ok(Endpoint::GetObjectAttributes { bucket, key });
    }
    if q.has("tagging") {
        return Ok(Endpoint::GetObjectTagging { bucket, key });
    }
    if let Some(e) = sub_resource(q, GET_OBJECT, "GET")? {
        return Ok(e);
    }
    Ok(Endpoint::GetObject {
        bucket,
        key,
        part_number: object_part_number(q)?,
    })
}

fn route_put_bucket(bucket: String, q: &Query) -> Result<Endpoint, EndpointError> {
    if let Some(e) = sub_resource(q, PUT_BUCKET, "PUT")? {
        return Ok(e);
    }
    if !valid_bucket_name(&bucket) {
        return Err(EndpointError::InvalidBucketName(bucket));
    }
    Ok(Endpoint::CreateBucket { bucket })
}

fn route_put_object(bucket: String, key: String, q: &Query, copy: Option<&str>) -> Result<Endpoint, EndpointError> {
    let source = copy.map(parse_copy_source).transpose()?;
    match (q.get("partNumber"), upload_id(q)?) {
        (Some(n), Some(upload_id)) => {
            let part_number = part_number(n)?;
            return Ok(match source {
                Some(source) => Endpoint::UploadPartCopy {
                    bucket,
                    key,
                    upload_id,
                    part_number,
                    source,
                },
                None => Endpoint::UploadPart {
                    bucket,
                    key,
                    upload_id,
                    part_number,
                },
            });
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(EndpointError::InvalidArgument("partNumber and uploadId go together"))
        }
        (None, None) => {}
    }
    if q.has("tagging") {
        return Ok(Endpoint::PutObjectTagging { bucket, key });
    }
    Ok(match (sub_resource(q, PUT_OBJECT, "PUT")?, source) {
        (Some(e), _) => e,
        (None, Some(source)) => Endpoint::CopyObject { bucket, key, source },
        (None, None) => Endpoint::PutObject { bucket, key },
    })
}

/// `POST /bucket`: a form upload when the body is `multipart/form-data` (S3 answers anything
/// else with a 412 we report as InvalidRequest); sub-resources other than `?delete` are refused.
fn route_post_bucket(bucket: String, q: &Query, content_type: Option<&str>) -> Result<Endpoint, EndpointError> {
    if let Some(e) = sub_resource(q, &[], "POST")? {
        return Ok(e);
    }
    let form = content_type
        .and_then(|t| t.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("multipart/form-data"));
    if !form {
        return Err(EndpointError::InvalidRequest(
            "Bucket POST must be of the enclosure-type multipart/form-data",
        ));
    }
    Ok(Endpoint::PostObject { bucket })
}

fn route_post_object(bucket: String, key: String, q: &Query) -> Result<Endpoint, EndpointError> {
    if q.has("uploads") && !q.has("uploadId") {
        return Ok(Endpoint::CreateMultipartUpload { bucket, key });
    }
    if let Some(upload_id) = upload_id(q)? {
        return Ok(Endpoint::CompleteMultipartUpload { bucket, key, upload_id });
    }
    sub_resource(q, POST_OBJECT, "POST")?.ok_or_else(|| EndpointError::MethodNotAllowed("POST".into()))
}

fn route_delete_object(bucket: String, key: String, q: &Query) -> Result<Endpoint, EndpointError> {
    if let Some(upload_id) = upload_id(q)? {
        return Ok(Endpoint::AbortMultipartUpload { bucket, key, upload_id });
    }
    if q.has("tagging") {
        return Ok(Endpoint::DeleteObjectTagging { bucket, key });
    }
    Ok(sub_resource(q, DELETE_OBJECT, "DELETE")?.unwrap_or(Endpoint::DeleteObject { bucket, key }))
}

#[cfg(test)]
mod tests;
