//! The query sub-resources of S3 (`?acl`, `?uploads`, ...) per method and target: which we do not
//! implement (answered `NotImplemented` with the operation's name), and the rule that a known
//! sub-resource the method does not handle is refused, never ignored.

use super::{Endpoint, EndpointError, Query};

/// Sub-resources we do not implement, as (query parameter, S3 operation), per method and target.
pub(super) const GET_BUCKET: &[(&str, &str)] = &[
    ("accelerate", "GetBucketAccelerateConfiguration"),
    ("encryption", "GetBucketEncryption"),
    ("logging", "GetBucketLogging"),
    ("notification", "GetBucketNotificationConfiguration"),
    ("replication", "GetBucketReplication"),
    ("requestPayment", "GetBucketRequestPayment"),
    ("session", "CreateSession"),
    ("website", "GetBucketWebsite"),
];
/// Bucket configurations read by id, or listed without one: (parameter, Get..., List...).
pub(super) const GET_BUCKET_CONFIGS: &[(&str, &str, &str)] = &[
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
pub(super) const PUT_BUCKET: &[(&str, &str)] = &[
    ("accelerate", "PutBucketAccelerateConfiguration"),
    ("analytics", "PutBucketAnalyticsConfiguration"),
    ("encryption", "PutBucketEncryption"),
    ("intelligent-tiering", "PutBucketIntelligentTieringConfiguration"),
    ("inventory", "PutBucketInventoryConfiguration"),
    ("logging", "PutBucketLogging"),
    ("metrics", "PutBucketMetricsConfiguration"),
    ("notification", "PutBucketNotificationConfiguration"),
    ("replication", "PutBucketReplication"),
    ("requestPayment", "PutBucketRequestPayment"),
    ("website", "PutBucketWebsite"),
];
pub(super) const DELETE_BUCKET: &[(&str, &str)] = &[
    ("analytics", "DeleteBucketAnalyticsConfiguration"),
    ("encryption", "DeleteBucketEncryption"),
    ("intelligent-tiering", "DeleteBucketIntelligentTieringConfiguration"),
    ("inventory", "DeleteBucketInventoryConfiguration"),
    ("metrics", "DeleteBucketMetricsConfiguration"),
    ("replication", "DeleteBucketReplication"),
    ("website", "DeleteBucketWebsite"),
];
pub(super) const GET_OBJECT: &[(&str, &str)] = &[("torrent", "GetObjectTorrent")];
pub(super) const PUT_OBJECT: &[(&str, &str)] = &[];
pub(super) const POST_OBJECT: &[(&str, &str)] = &[("restore", "RestoreObject"), ("select", "SelectObjectContent")];
pub(super) const DELETE_OBJECT: &[(&str, &str)] = &[];
/// Sub-resources that are implemented (the rest are the keys of the tables above).
const IMPLEMENTED_SUB_RESOURCES: &[&str] = &[
    "acl",
    "attributes",
    "cors",
    "policy",
    "policyStatus",
    "lifecycle",
    "delete",
    "legal-hold",
    "location",
    "object-lock",
    "ownershipControls",
    "publicAccessBlock",
    "retention",
    "tagging",
    "uploadId",
    "uploads",
    "versioning",
    "versions",
];

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
pub(super) fn sub_resource(
    q: &Query,
    table: &[(&str, &'static str)],
    method: &str,
) -> Result<Option<Endpoint>, EndpointError> {
    if let Some(&(_, operation)) = table.iter().find(|(p, _)| q.has(p)) {
        return Ok(Some(Endpoint::NotImplemented { operation }));
    }
    if q.pairs().iter().any(|(k, _)| is_sub_resource(k)) {
        return Err(EndpointError::MethodNotAllowed(method.to_string()));
    }
    Ok(None)
}

pub(super) fn not_implemented(operation: &'static str) -> Endpoint {
    Endpoint::NotImplemented { operation }
}
