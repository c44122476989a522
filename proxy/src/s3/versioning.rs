//! Versioning: Get/PutBucketVersioning, ListObjectVersions, the version a request names
//! ([`resolve`], for GET, HEAD, tagging, attributes and copy sources), and DeleteObject with and
//! without a version id. Everything is answered from the metadata store; a version's bytes live
//! under its own physical key, so reading an old version is reading another key.

use std::future::Future;
use std::pin::Pin;

use s3o_store::{BucketChange, ObjectMeta, VersionQuery, VersionRef, Versioning};

use crate::client::{ClientIo, RequestBody};
use crate::endpoint::parse_query;
use crate::error::ProxyError;
use crate::http::ResponseHead;
use crate::s3::list::{parse_encoding_url, parse_max_keys};
use crate::s3::reply::{base_head, send_xml};
use crate::s3::{read_small_body, require_bucket, Ctx};
use crate::xml::{self, ListVersionsResult, Owner, VersioningConfiguration};

/// The version a client's `versionId` names; InvalidArgument when it is no id of ours.
pub fn parse_version(id: &str) -> Result<VersionRef, ProxyError> {
    VersionRef::parse(id).ok_or_else(|| ProxyError::InvalidArgument("Invalid version id specified".into()))
}

/// The version of `bucket`/`key` a request names (`None`: the latest), with S3's errors: a
/// latest that is a delete marker is NoSuchKey (404) naming the marker; a named version that is
/// a delete marker is MethodNotAllowed (405); a named version that is not there, NoSuchVersion —
/// each AccessDenied instead to a caller who may not list the bucket — and AccessDenied when the
/// request's [`Permit`](crate::s3::permit::Permit) refuses the version.
pub async fn resolve(ctx: &Ctx<'_>, bucket: &str, key: &str, version: Option<&str>) -> Result<ObjectMeta, ProxyError> {
    let meta = match find(ctx, bucket, key, version).await {
        Err(ProxyError::NoSuchKey | ProxyError::NoSuchVersion | ProxyError::DeleteMarker { .. })
            if !ctx.permit.may_list(bucket, key) =>
        {
            return Err(ctx.permit.deny(ctx.core));
        }
        found => found?,
    };
    ctx.permit.object(ctx.core, bucket, key, &meta)?;
    Ok(meta)
}

/// [`resolve`] before the ACL check.
async fn find(ctx: &Ctx<'_>, bucket: &str, key: &str, version: Option<&str>) -> Result<ObjectMeta, ProxyError> {
    let store = &ctx.core.shared.store;
    let Some(id) = version else {
        if let Some(meta) = store.get_object(bucket, key).await? {
            return Ok(meta);
        }
        // Only a bucket that had versioning can hide a key behind a delete marker.
        if require_bucket(ctx, bucket).await?.settings.versioning == Versioning::Unversioned {
            return Err(ProxyError::NoSuchKey);
        }
        return match store.get_version(bucket, key, VersionRef::Latest).await? {
            Some(marker) if marker.delete_marker => Err(ProxyError::DeleteMarker {
                version_id: marker.version_id(),
                named: false,
            }),
            _ => Err(ProxyError::NoSuchKey),
        };
    };
    let named = parse_version(id)?;
    match store.get_version(bucket, key, named).await? {
        Some(meta) if meta.delete_marker => Err(ProxyError::DeleteMarker {
            version_id: meta.version_id(),
            named: true,
        }),
        Some(meta) => Ok(meta),
        None => {
            require_bucket(ctx, bucket).await?;
            Err(ProxyError::NoSuchVersion)
        }
    }
}

/// The `x-amz-version-id` header of a version that has an id, or that the request named.
pub fn version_id_header(meta: &ObjectMeta, named: bool) -> Option<(&'static str, String)> {
    (meta.versioned || named).then(|| ("x-amz-version-id", meta.version_id()))
}

/// Adds [`version_id_header`] to `head`.
pub fn version_header(head: &mut ResponseHead, meta: &ObjectMeta, named: bool) {
    if let Some((name, value)) = version_id_header(meta, named) {
        head.push(name, value);
    }
}

/// Applies `change` to the version of `bucket`/`key` the request named (the latest without a
/// version id), provided it is still `checked`, and answers `status` with its version id.
pub async fn change_version(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    (bucket, key, version): (&str, &str, Option<&str>),
    checked: &ObjectMeta,
    change: s3o_store::VersionChange,
    status: u16,
) -> Result<(), ProxyError> {
    let named = version.map(parse_version).transpose()?.unwrap_or(VersionRef::Latest);
    // Only to the version the caller's rights were checked on (a newer one may have replaced it
    // while the request body arrived): 409 ConditionalRequestConflict otherwise.
    let change = s3o_store::VersionChange::Expecting {
        version: checked.version,
        change: Box::new(change),
    };
    let changed = ctx.core.shared.store.update_version(bucket, key, named, change).await?;
    crate::records::write_version(ctx.core, bucket, key, &changed).await;
    let mut head = base_head(status, ctx.rid).content_length(0);
    version_header(&mut head, &changed, version.is_some());
    io.respond(&head, &[]).await
}

/// GetBucketVersioning.
pub async fn get_bucket_versioning(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    let meta = require_bucket(ctx, bucket).await?;
    let status = match meta.settings.versioning {
        Versioning::Unversioned => None,
        Versioning::Enabled => Some("Enabled"),
        Versioning::Suspended => Some("Suspended"),
    };
    send_xml(ctx, io, &VersioningConfiguration { status }).await
}

/// PutBucketVersioning: `Enabled` or `Suspended` (not on a bucket with object lock).
pub async fn put_bucket_versioning(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    body: &mut RequestBody,
    bucket: &str,
) -> Result<(), ProxyError> {
    require_bucket(ctx, bucket).await?;
    let doc = read_small_body(io, body, xml::MAX_CONFIG_BODY_BYTES).await?;
    let req = xml::parse_versioning(&doc).map_err(|_| ProxyError::MalformedXml)?;
    if req.mfa_delete.as_deref() == Some("Enabled") {
        return Err(ProxyError::NotImplemented("PutBucketVersioning with MfaDelete"));
    }
    let state = match req.status.as_deref() {
        Some("Enabled") => Versioning::Enabled,
        Some("Suspended") => Versioning::Suspended,
        _ => return Err(ProxyError::MalformedXml),
    };
    let changed = ctx
        .core
        .shared
        .store
        .update_bucket(bucket, BucketChange::Versioning(state))
        .await?;
    crate::records::write_bucket(ctx.core, &changed).await;
    io.respond(&base_head(200, ctx.rid).content_length(0), &[]).await
}

/// ListObjectVersions: prefix, delimiter, key-marker / version-id-marker, max-keys,
/// encoding-type=url.
pub async fn list_object_versions(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    let q = parse_query(&ctx.head.query);
    let get = |name: &str| q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let url = parse_encoding_url(get("encoding-type"))?;
    let max_keys = parse_max_keys(get("max-keys"))?;
    let prefix = get("prefix").unwrap_or("");
    let delimiter = get("delimiter").filter(|d| !d.is_empty());
    let key_marker = get("key-marker").filter(|m| !m.is_empty());
    let version_marker = get("version-id-marker").filter(|m| !m.is_empty());
    if version_marker.is_some() && key_marker.is_none() {
        return Err(ProxyError::InvalidArgument(
            "A version-id marker cannot be specified without a key marker.".into(),
        ));
    }
    let version_ref = version_marker.map(parse_version).transpose()?;
    let owner_id = require_bucket(ctx, bucket).await?.owner;
    let query = VersionQuery {
        prefix: prefix.to_owned(),
        delimiter: delimiter.map(str::to_owned),
        key_marker: key_marker.map(str::to_owned),
        version_marker: version_ref,
        max_keys,
    };
    let mut page = ctx.core.shared.store.list_versions(bucket, &query).await?;
    if max_keys == 0 {
        page = s3o_store::VersionPage::default();
    }
    let doc = ListVersionsResult {
        name: bucket,
        prefix,
        key_marker: key_marker.unwrap_or(""),
        version_id_marker: version_marker.unwrap_or(""),
        next_key_marker: page.next_key_marker.as_deref(),
        next_version_id_marker: page.next_version_marker.as_deref(),
        max_keys,
        delimiter,
        is_truncated: page.is_truncated,
        encoding_type_url: url,
        owner: Owner {
            id: &owner_id,
            display_name: &owner_id,
        },
        versions: &page.versions,
        common_prefixes: &page.common_prefixes,
    };
    send_xml(ctx, io, &doc).await
}

/// Whether the request asks to bypass governance retention and the caller may, for `key`.
pub fn bypass_governance(ctx: &Ctx<'_>, bucket: &str, key: &str) -> bool {
    ctx.head
        .header("x-amz-bypass-governance-retention")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        && ctx.who.bypass_governance
        && ctx.permit.controls(bucket, "s3:BypassGovernanceRetention", Some(key))
}

/// DeleteObject: without a version id, removes the current version (unversioned bucket) or adds
/// a delete marker; with one, removes that version for good unless its lock forbids it.
pub async fn delete_object(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<(), ProxyError> {
    let named = version.map(parse_version).transpose()?;
    require_bucket(ctx, bucket).await?;
    let store = &ctx.core.shared.store;
    ctx.core.shared.cache.forget(bucket, key);
    let mut head = base_head(204, ctx.rid).content_length(0);
    match (named, version) {
        (Some(v), Some(id)) => {
            let removed = store
                .delete_version(bucket, key, v, bypass_governance(ctx, bucket, key))
                .await?;
            head.push("x-amz-version-id", id);
            if let Some(marker) = removed.filter(|m| m.delete_marker) {
                head.push("x-amz-delete-marker", "true");
                crate::records::forget_marker(ctx.core, bucket, key, &marker).await;
            }
        }
        _ => {
            if let Some(marker) = store.delete_object(bucket, key).await?.marker {
                head.push("x-amz-delete-marker", "true");
                head.push("x-amz-version-id", marker.version_id());
                crate::records::write_version(ctx.core, bucket, key, &marker).await;
            }
        }
    }
    io.respond(&head, &[]).await
}

/// Whether the bucket's policy or ACL refuses DeleteObjects the removal of `key` (`versioned`:
/// a version of it, for good).
fn refused(ctx: &Ctx<'_>, bucket: &str, key: &str, versioned: bool) -> bool {
    let action = if versioned {
        "s3:DeleteObjectVersion"
    } else {
        "s3:DeleteObject"
    };
    ctx.permit.entry(ctx.core, bucket, key, action, versioned).is_err()
}

/// DeleteObjects: up to 1000 objects, each by key (as DeleteObject without a version id) or by
/// key and version id; quiet mode.
pub async fn delete_objects(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    body: &mut RequestBody,
    bucket: &str,
) -> Result<(), ProxyError> {
    require_bucket(ctx, bucket).await?;
    let doc = read_small_body(io, body, xml::MAX_DELETE_BODY_BYTES).await?;
    let req = xml::parse_delete(&doc).map_err(|_| ProxyError::MalformedXml)?;
    let store = &ctx.core.shared.store;
    // Every deletion starts before the first is awaited, so an engine that commits at once (sled)
    // has them all share flushes; each is durable before the answer. Each resolves to the
    // delete marker it made (`true`) or removed (`false`), if any.
    type Deletion = Pin<Box<dyn Future<Output = s3o_store::Result<Option<(ObjectMeta, bool)>>>>>;
    let pending: Vec<Result<Deletion, ProxyError>> = req
        .objects
        .iter()
        .map(|o| {
            ctx.core.shared.cache.forget(bucket, &o.key);
            match o.version_id.as_deref().map(parse_version).transpose()? {
                // Refused by the bucket's policy or ACL: removing a version for good is the bucket
                // owner's (or the operator's, or whom the policy allows), whatever WRITE grants.
                v if refused(ctx, bucket, &o.key, v.is_some()) => Err(ctx.permit.deny(ctx.core)),
                None => {
                    let deleted = store.delete_object(bucket, &o.key);
                    Ok(Box::pin(async move { Ok(deleted.await?.marker.map(|m| (m, true))) }) as Deletion)
                }
                Some(v) => {
                    let removed = store.delete_version(bucket, &o.key, v, bypass_governance(ctx, bucket, &o.key));
                    let marker = |m: ObjectMeta| m.delete_marker.then_some((m, false));
                    Ok(Box::pin(async move { Ok(removed.await?.and_then(marker)) }) as Deletion)
                }
            }
        })
        .collect();
    // Per object: the delete marker's id (made or removed) or the refusal's code and message.
    let mut done: Vec<Result<Option<String>, (&'static str, String)>> = Vec::with_capacity(pending.len());
    for (p, o) in pending.into_iter().zip(&req.objects) {
        let result = match p {
            Ok(deletion) => match deletion.await {
                // The store cannot commit: the whole request fails (503, retryable).
                Err(e) if e.is_unavailable() => return Err(e.into()),
                result => result.map_err(ProxyError::from),
            },
            Err(e) => Err(e),
        };
        let result = match result {
            Ok(Some((marker, made))) => {
                if made {
                    crate::records::write_version(ctx.core, bucket, &o.key, &marker).await;
                } else {
                    crate::records::forget_marker(ctx.core, bucket, &o.key, &marker).await;
                }
                Ok(Some(marker.version_id()))
            }
            other => other.map(|_| None),
        };
        done.push(result.map_err(|e| (e.code(), e.to_string())));
    }
    let outcomes: Vec<xml::DeleteOutcome<'_>> = req
        .objects
        .iter()
        .zip(&done)
        .map(|(o, d)| match d {
            Err((code, message)) => xml::DeleteOutcome::Failed {
                key: &o.key,
                version_id: o.version_id.as_deref(),
                code,
                message,
            },
            Ok(marker) => xml::DeleteOutcome::Deleted {
                key: &o.key,
                version_id: o.version_id.as_deref(),
                delete_marker: marker.is_some(),
                marker_version_id: marker.as_deref(),
            },
        })
        .collect();
    send_xml(
        ctx,
        io,
        &xml::DeleteResult {
            quiet: req.quiet,
            outcomes: &outcomes,
        },
    )
    .await
}
