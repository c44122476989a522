//! Bucket lifecycle and bucket tags on the S3 port: Get/Put/DeleteBucketLifecycleConfiguration
//! and Get/Put/DeleteBucketTagging, kept with the bucket's settings (the lifecycle worker,
//! [`crate::lifecycle`], acts on the rules), and the `x-amz-expiration` header that tells a
//! client when the object it wrote or reads will expire.

use s3o_store::lifecycle::LifecycleRule;
use s3o_store::{BucketChange, BucketMeta, ObjectMeta};

use crate::client::{ClientIo, RequestBody};
use crate::error::ProxyError;
use crate::s3::acl::{change_bucket, permitted_bucket};
use crate::s3::tagging::{validate_tag_set, MAX_BUCKET_TAGS};
use crate::s3::{read_small_body, Ctx};
use crate::xml::{self, LifecycleConfiguration, LifecycleError, Tagging};

/// GetBucketLifecycleConfiguration.
pub async fn get_lifecycle(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    let rules = permitted_bucket(ctx, bucket)?
        .settings
        .lifecycle
        .as_deref()
        .ok_or(ProxyError::NoSuchLifecycleConfiguration)?;
    crate::s3::reply::send_xml(ctx, io, &LifecycleConfiguration { rules }).await
}

/// PutBucketLifecycleConfiguration: MalformedXML, InvalidArgument or InvalidRequest as S3
/// answers; NotImplemented for transitions between storage classes.
pub async fn put_lifecycle(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    body: &mut RequestBody,
    bucket: &str,
) -> Result<(), ProxyError> {
    let doc = read_small_body(io, body, xml::MAX_LIFECYCLE_BODY_BYTES).await?;
    let rules = xml::parse_lifecycle(&doc).map_err(|e| match e {
        LifecycleError::Malformed(_) => ProxyError::MalformedXml,
        LifecycleError::Invalid(s3o_store::lifecycle::RuleError::InvalidArgument(m)) => {
            ProxyError::InvalidArgument(m.into())
        }
        LifecycleError::Invalid(s3o_store::lifecycle::RuleError::InvalidRequest(m)) => {
            ProxyError::InvalidRequest(m.into())
        }
        LifecycleError::Transition => ProxyError::NotImplemented("LifecycleTransition"),
    })?;
    change_bucket(ctx, io, bucket, BucketChange::Lifecycle(Some(rules)), 200).await
}

/// DeleteBucketLifecycle (204 whether or not there were rules).
pub async fn delete_lifecycle(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    change_bucket(ctx, io, bucket, BucketChange::Lifecycle(None), 204).await
}

/// GetBucketTagging.
pub async fn get_bucket_tagging(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    let tags = permitted_bucket(ctx, bucket)?
        .settings
        .tags
        .as_deref()
        .ok_or(ProxyError::NoSuchTagSet)?;
    crate::s3::reply::send_xml(ctx, io, &Tagging { tags }).await
}

/// PutBucketTagging: at most 50 tags, each as object tags are.
pub async fn put_bucket_tagging(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    body: &mut RequestBody,
    bucket: &str,
) -> Result<(), ProxyError> {
    let doc = read_small_body(io, body, xml::MAX_TAGGING_BODY_BYTES * 5).await?;
    let tags = xml::parse_tagging(&doc).map_err(|_| ProxyError::MalformedXml)?;
    if tags.len() > MAX_BUCKET_TAGS {
        return Err(ProxyError::InvalidTag("Bucket tags cannot be greater than 50".into()));
    }
    validate_tag_set(&tags)?;
    change_bucket(ctx, io, bucket, BucketChange::Tags(Some(tags)), 204).await
}

/// DeleteBucketTagging.
pub async fn delete_bucket_tagging(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    change_bucket(ctx, io, bucket, BucketChange::Tags(None), 204).await
}

/// The `x-amz-expiration` value for the current version `meta` of `key` in `bucket`: when the
/// first enabled rule covering it expires it (`expiry-date="<HTTP date>", rule-id="<id>"`).
pub fn expiration_header(bucket: &BucketMeta, key: &str, meta: &ObjectMeta, day_secs: u64) -> Option<String> {
    let rules = bucket.settings.lifecycle.as_deref()?;
    let (rule, due) = rules
        .iter()
        .filter(|r| r.enabled && covers(r, key, meta))
        .filter_map(|r| Some((r, r.current_due_ms(meta.last_modified_ms, day_secs)?)))
        .min_by_key(|(_, due)| *due)?;
    let date = crate::http::response::http_date(i64::try_from(due / 1000).unwrap_or(i64::MAX));
    Some(format!(
        "expiry-date=\"{date}\", rule-id=\"{}\"",
        rule.id.replace('"', "")
    ))
}

/// Whether `rule` covers the version `meta` of `key` (a delete marker is covered by no filter:
/// only ExpiredObjectDeleteMarker acts on markers).
pub fn covers(rule: &LifecycleRule, key: &str, meta: &ObjectMeta) -> bool {
    !meta.delete_marker && rule.filter.covers(key, meta.size, &meta.tags)
}
