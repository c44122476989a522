//! Object lock: Get/PutObjectLockConfiguration, Get/PutObjectRetention,
//! Get/PutObjectLegalHold, the lock a new version gets (its `x-amz-object-lock-*` headers, or the
//! bucket's default retention), and the lock headers GET and HEAD answer. The rules that forbid
//! removing a locked version live in the store, where every deletion passes.

use s3o_store::{BucketMeta, DefaultRetention, ObjectLock, ObjectMeta, Retention, VersionChange};

use crate::client::{ClientIo, RequestBody};
use crate::error::ProxyError;
use crate::http::ResponseHead;
use crate::s3::reply::{base_head, send_xml};
use crate::s3::versioning::{bypass_governance, change_version, resolve};
use crate::s3::{read_small_body, require_bucket, Ctx};
use crate::xml::{self, iso8601_millis, LegalHoldDocument, ObjectLockConfiguration, RetentionDocument};

/// Milliseconds in a day, and in S3's lock year (365 days).
const DAY_MS: u64 = 86_400_000;
const YEAR_MS: u64 = 365 * DAY_MS;

/// The refusal of a lock request on a bucket without object lock.
fn no_lock() -> ProxyError {
    ProxyError::InvalidRequest("Bucket is missing Object Lock Configuration".into())
}

/// A retain-until date: ISO 8601, in the future.
fn until_ms(date: &str) -> Result<u64, ProxyError> {
    let ms = crate::clock::parse_iso8601_ms(date)
        .ok_or_else(|| ProxyError::InvalidArgument("The retain until date is not a valid ISO 8601 date".into()))?;
    if ms <= crate::clock::unix_ms() {
        return Err(ProxyError::InvalidArgument(
            "The retain until date must be in the future!".into(),
        ));
    }
    Ok(ms)
}

/// The retention a new version of `bucket` gets from the bucket's default, from now.
pub fn default_retention(bucket: &BucketMeta) -> Option<Retention> {
    bucket
        .settings
        .object_lock
        .and_then(|l| l.default_retention)
        .map(|d| Retention {
            mode: d.mode,
            until_ms: crate::clock::unix_ms().saturating_add(period_ms(&d)),
        })
}

/// The retention and legal hold a new version of `key` in `bucket` gets: its
/// `x-amz-object-lock-*` headers (the bucket owner's or the operator's, or whom the bucket's
/// policy allows `s3:PutObjectRetention` / `s3:PutObjectLegalHold`: AccessDenied for anyone
/// else), or else the bucket's default retention.
pub fn for_new_version(ctx: &Ctx<'_>, bucket: &BucketMeta, key: &str) -> Result<(Option<Retention>, bool), ProxyError> {
    let mode = ctx.head.header("x-amz-object-lock-mode");
    let until = ctx.head.header("x-amz-object-lock-retain-until-date");
    let hold = ctx.head.header("x-amz-object-lock-legal-hold");
    let asked = mode.is_some() || until.is_some() || hold.is_some();
    if asked && bucket.settings.object_lock.is_none() {
        return Err(no_lock());
    }
    let may = |action| ctx.permit.controls(&bucket.name, action, Some(key));
    let refused = ((mode.is_some() || until.is_some()) && !may("s3:PutObjectRetention"))
        || (hold.is_some() && !may("s3:PutObjectLegalHold"));
    if refused {
        // Locks outlive everyone's rights to remove them: only the bucket's owner (or the
        // operator) sets them, whatever the ACL's WRITE grants.
        return Err(ctx.permit.deny(ctx.core));
    }
    let legal_hold = match hold {
        None | Some("OFF") => false,
        Some("ON") => true,
        Some(_) => {
            return Err(ProxyError::InvalidArgument(
                "Legal Hold must be either of 'ON' or 'OFF'".into(),
            ))
        }
    };
    let retention = match (mode, until) {
        (Some(mode), Some(until)) => Some(Retention {
            mode: xml::mode_of(mode)
                .ok_or_else(|| ProxyError::InvalidArgument("Unknown wormMode directive.".into()))?,
            until_ms: until_ms(until)?,
        }),
        (None, None) => default_retention(bucket),
        _ => {
            return Err(ProxyError::InvalidArgument(
                "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied".into(),
            ))
        }
    };
    Ok((retention, legal_hold))
}

/// How long a default retention lasts.
fn period_ms(d: &DefaultRetention) -> u64 {
    u64::from(d.days.unwrap_or(0))
        .saturating_mul(DAY_MS)
        .saturating_add(u64::from(d.years.unwrap_or(0)).saturating_mul(YEAR_MS))
}

/// Adds the `x-amz-object-lock-*` headers of a locked version.
pub fn lock_headers(head: &mut ResponseHead, meta: &ObjectMeta) {
    if let Some(r) = meta.retention {
        head.push("x-amz-object-lock-mode", xml::mode_name(r.mode));
        head.push("x-amz-object-lock-retain-until-date", iso8601_millis(r.until_ms));
    }
    if meta.legal_hold {
        head.push("x-amz-object-lock-legal-hold", "ON");
    }
}

/// GetObjectLockConfiguration.
pub async fn get_configuration(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    let meta = require_bucket(ctx, bucket).await?;
    let lock = meta
        .settings
        .object_lock
        .ok_or(ProxyError::NoSuchObjectLockConfiguration)?;
    send_xml(
        ctx,
        io,
        &ObjectLockConfiguration {
            default_retention: lock.default_retention,
        },
    )
    .await
}

/// PutObjectLockConfiguration: enables object lock (versioning must be enabled) or replaces its
/// default retention.
pub async fn put_configuration(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    body: &mut RequestBody,
    bucket: &str,
) -> Result<(), ProxyError> {
    require_bucket(ctx, bucket).await?;
    let doc = read_small_body(io, body, xml::MAX_CONFIG_BODY_BYTES).await?;
    let rule = xml::parse_object_lock(&doc).map_err(|_| ProxyError::MalformedXml)?;
    let positive = |n: Option<i64>| -> Result<Option<u32>, ProxyError> {
        n.map(|n| {
            u32::try_from(n)
                .ok()
                .filter(|n| *n > 0)
                .ok_or(ProxyError::InvalidRetentionPeriod)
        })
        .transpose()
    };
    let default_retention = match rule {
        None => None,
        Some(r) => Some(DefaultRetention {
            mode: r.mode,
            days: positive(r.days)?,
            years: positive(r.years)?,
        }),
    };
    let change = s3o_store::BucketChange::ObjectLock(ObjectLock { default_retention });
    let changed = ctx.core.shared.store.update_bucket(bucket, change).await?;
    crate::records::write_bucket(ctx.core, &changed).await;
    io.respond(&base_head(200, ctx.rid).content_length(0), &[]).await
}

/// The version a lock request names, in a bucket that has object lock.
async fn locked_version(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<ObjectMeta, ProxyError> {
    let meta = require_bucket(ctx, bucket).await?;
    if meta.settings.object_lock.is_none() {
        return Err(no_lock());
    }
    resolve(ctx, bucket, key, version).await
}

/// GetObjectRetention.
pub async fn get_retention(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<(), ProxyError> {
    let meta = locked_version(ctx, bucket, key, version).await?;
    let retention = meta.retention.ok_or(ProxyError::NoSuchObjectLockConfiguration)?;
    send_xml(ctx, io, &RetentionDocument { retention }).await
}

/// PutObjectRetention: sets, extends or (with a permitted bypass of governance) shortens or
/// removes a version's retention.
pub async fn put_retention(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    body: &mut RequestBody,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<(), ProxyError> {
    let checked = locked_version(ctx, bucket, key, version).await?;
    let doc = read_small_body(io, body, xml::MAX_CONFIG_BODY_BYTES).await?;
    let retention = match xml::parse_retention(&doc).map_err(|_| ProxyError::MalformedXml)? {
        Some((mode, date)) => Some(Retention {
            mode,
            until_ms: until_ms(&date)?,
        }),
        None => None,
    };
    let change = VersionChange::Retention {
        retention,
        bypass_governance: bypass_governance(ctx, bucket, key),
    };
    change_version(ctx, io, (bucket, key, version), &checked, change, 200).await
}

/// GetObjectLegalHold.
pub async fn get_legal_hold(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<(), ProxyError> {
    let meta = locked_version(ctx, bucket, key, version).await?;
    send_xml(ctx, io, &LegalHoldDocument { on: meta.legal_hold }).await
}

/// PutObjectLegalHold.
pub async fn put_legal_hold(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    body: &mut RequestBody,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<(), ProxyError> {
    let checked = locked_version(ctx, bucket, key, version).await?;
    let doc = read_small_body(io, body, xml::MAX_CONFIG_BODY_BYTES).await?;
    let on = xml::parse_legal_hold(&doc).map_err(|_| ProxyError::MalformedXml)?;
    change_version(
        ctx,
        io,
        (bucket, key, version),
        &checked,
        VersionChange::LegalHold(on),
        200,
    )
    .await
}
