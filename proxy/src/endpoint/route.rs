//! The routing of each method and target: which sub-resource or parameter picks which
//! [`Endpoint`], and the parameters each variant carries (part numbers, upload ids, version ids,
//! copy sources), checked here so a handler receives them valid.

use super::path::parse_copy_source;
use super::tables::{
    not_implemented, sub_resource, DELETE_OBJECT, GET_BUCKET, GET_BUCKET_CONFIGS, GET_OBJECT, POST_OBJECT, PUT_BUCKET,
    PUT_OBJECT,
};
use super::{valid_bucket_name, Endpoint, EndpointError, Query};

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
pub(super) fn object_part_number(q: &Query) -> Result<Option<u32>, EndpointError> {
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

/// The `versionId` of a request on an object, which must not be empty.
pub(super) fn version_id(q: &Query) -> Result<Option<String>, EndpointError> {
    match q.get("versionId") {
        None => Ok(None),
        Some("") => Err(EndpointError::InvalidArgument("Version id cannot be the empty string")),
        Some(id) => Ok(Some(id.to_string())),
    }
}

pub(super) fn route_get_bucket(bucket: String, q: &Query) -> Result<Endpoint, EndpointError> {
    if q.has("location") {
        return Ok(Endpoint::GetBucketLocation { bucket });
    }
    if q.has("versioning") {
        return Ok(Endpoint::GetBucketVersioning { bucket });
    }
    if q.has("versions") {
        return Ok(Endpoint::ListObjectVersions { bucket });
    }
    if q.has("object-lock") {
        return Ok(Endpoint::GetObjectLockConfiguration { bucket });
    }
    if q.has("uploads") {
        return Ok(Endpoint::ListMultipartUploads { bucket });
    }
    if q.has("acl") {
        return Ok(Endpoint::GetBucketAcl { bucket });
    }
    if q.has("cors") {
        return Ok(Endpoint::GetBucketCors { bucket });
    }
    if q.has("tagging") {
        return Ok(Endpoint::GetBucketTagging { bucket });
    }
    if q.has("lifecycle") {
        return Ok(Endpoint::GetBucketLifecycleConfiguration { bucket });
    }
    if q.has("policyStatus") {
        return Ok(Endpoint::GetBucketPolicyStatus { bucket });
    }
    if q.has("policy") {
        return Ok(Endpoint::GetBucketPolicy { bucket });
    }
    if q.has("ownershipControls") {
        return Ok(Endpoint::GetBucketOwnershipControls { bucket });
    }
    if q.has("publicAccessBlock") {
        return Ok(Endpoint::GetPublicAccessBlock { bucket });
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

pub(super) fn route_get_object(bucket: String, key: String, q: &Query) -> Result<Endpoint, EndpointError> {
    if let Some(upload_id) = upload_id(q)? {
        return Ok(Endpoint::ListParts { bucket, key, upload_id });
    }
    let version = version_id(q)?;
    if q.has("attributes") {
        return Ok(Endpoint::GetObjectAttributes { bucket, key, version });
    }
    if q.has("tagging") {
        return Ok(Endpoint::GetObjectTagging { bucket, key, version });
    }
    if q.has("retention") {
        return Ok(Endpoint::GetObjectRetention { bucket, key, version });
    }
    if q.has("legal-hold") {
        return Ok(Endpoint::GetObjectLegalHold { bucket, key, version });
    }
    if q.has("acl") {
        return Ok(Endpoint::GetObjectAcl { bucket, key, version });
    }
    if let Some(e) = sub_resource(q, GET_OBJECT, "GET")? {
        return Ok(e);
    }
    Ok(Endpoint::GetObject {
        bucket,
        key,
        part_number: object_part_number(q)?,
        version,
    })
}

pub(super) fn route_put_bucket(bucket: String, q: &Query) -> Result<Endpoint, EndpointError> {
    if q.has("versioning") {
        return Ok(Endpoint::PutBucketVersioning { bucket });
    }
    if q.has("object-lock") {
        return Ok(Endpoint::PutObjectLockConfiguration { bucket });
    }
    if q.has("acl") {
        return Ok(Endpoint::PutBucketAcl { bucket });
    }
    if q.has("cors") {
        return Ok(Endpoint::PutBucketCors { bucket });
    }
    if q.has("tagging") {
        return Ok(Endpoint::PutBucketTagging { bucket });
    }
    if q.has("lifecycle") {
        return Ok(Endpoint::PutBucketLifecycleConfiguration { bucket });
    }
    if q.has("policy") {
        return Ok(Endpoint::PutBucketPolicy { bucket });
    }
    if q.has("ownershipControls") {
        return Ok(Endpoint::PutBucketOwnershipControls { bucket });
    }
    if q.has("publicAccessBlock") {
        return Ok(Endpoint::PutPublicAccessBlock { bucket });
    }
    if let Some(e) = sub_resource(q, PUT_BUCKET, "PUT")? {
        return Ok(e);
    }
    if !valid_bucket_name(&bucket) {
        return Err(EndpointError::InvalidBucketName(bucket));
    }
    Ok(Endpoint::CreateBucket { bucket })
}

pub(super) fn route_put_object(
    bucket: String,
    key: String,
    q: &Query,
    copy: Option<&str>,
) -> Result<Endpoint, EndpointError> {
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
    let version = version_id(q)?;
    if q.has("tagging") {
        return Ok(Endpoint::PutObjectTagging { bucket, key, version });
    }
    if q.has("retention") {
        return Ok(Endpoint::PutObjectRetention { bucket, key, version });
    }
    if q.has("legal-hold") {
        return Ok(Endpoint::PutObjectLegalHold { bucket, key, version });
    }
    if q.has("acl") {
        return Ok(Endpoint::PutObjectAcl { bucket, key, version });
    }
    Ok(match (sub_resource(q, PUT_OBJECT, "PUT")?, source) {
        (Some(e), _) => e,
        (None, Some(source)) => Endpoint::CopyObject { bucket, key, source },
        (None, None) => Endpoint::PutObject { bucket, key },
    })
}

/// `POST /bucket`: a form upload when the body is `multipart/form-data` (S3 answers anything
/// else with a 412 we report as InvalidRequest); sub-resources other than `?delete` are refused.
pub(super) fn route_post_bucket(
    bucket: String,
    q: &Query,
    content_type: Option<&str>,
) -> Result<Endpoint, EndpointError> {
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

pub(super) fn route_post_object(bucket: String, key: String, q: &Query) -> Result<Endpoint, EndpointError> {
    if q.has("uploads") && !q.has("uploadId") {
        return Ok(Endpoint::CreateMultipartUpload { bucket, key });
    }
    if let Some(upload_id) = upload_id(q)? {
        return Ok(Endpoint::CompleteMultipartUpload { bucket, key, upload_id });
    }
    sub_resource(q, POST_OBJECT, "POST")?.ok_or_else(|| EndpointError::MethodNotAllowed("POST".into()))
}

pub(super) fn route_delete_object(bucket: String, key: String, q: &Query) -> Result<Endpoint, EndpointError> {
    if let Some(upload_id) = upload_id(q)? {
        return Ok(Endpoint::AbortMultipartUpload { bucket, key, upload_id });
    }
    let version = version_id(q)?;
    if q.has("tagging") {
        return Ok(Endpoint::DeleteObjectTagging { bucket, key, version });
    }
    Ok(sub_resource(q, DELETE_OBJECT, "DELETE")?.unwrap_or(Endpoint::DeleteObject { bucket, key, version }))
}
