//! Bucket policies on the S3 port: Get/Put/DeleteBucketPolicy and GetBucketPolicyStatus, the
//! S3 action each operation is to a policy, and the request's values a policy's conditions read
//! ([`RequestFacts`]). The judging itself is [`Permit`](super::permit::Permit)'s, beside the
//! ACLs; the documents and their rules are `s3o_store::policy`'s.

use std::cell::RefCell;
use std::net::IpAddr;

use s3o_store::policy::{condition, BucketPolicy, Facts, Found, Key};
use s3o_store::BucketChange;

use crate::client::{ClientIo, RequestBody};
use crate::endpoint::Endpoint;
use crate::error::ProxyError;
use crate::http::query::parse_query;
use crate::http::RequestHead;
use crate::s3::acl::change_bucket;
use crate::s3::reply::{base_head, send_xml};
use crate::s3::{read_small_body, require_bucket, Ctx};
use crate::xml::PolicyStatus;

/// The S3 action `endpoint` is to a bucket policy, and whether its resource is an object (`None`
/// for what no bucket policy governs: listing or creating buckets).
pub fn action(endpoint: &Endpoint) -> Option<(&'static str, bool)> {
    use Endpoint as E;
    let versioned = |v: &Option<String>, plain, with| if v.is_some() { with } else { plain };
    Some(match endpoint {
        E::ListBuckets | E::CreateBucket { .. } | E::NotImplemented { .. } | E::PreflightRequest { .. } => return None,
        E::HeadBucket { .. } | E::ListObjects { .. } | E::ListObjectsV2 { .. } => ("s3:ListBucket", false),
        E::ListObjectVersions { .. } => ("s3:ListBucketVersions", false),
        E::ListMultipartUploads { .. } => ("s3:ListBucketMultipartUploads", false),
        E::DeleteBucket { .. } => ("s3:DeleteBucket", false),
        E::GetBucketLocation { .. } => ("s3:GetBucketLocation", false),
        E::GetBucketVersioning { .. } => ("s3:GetBucketVersioning", false),
        E::PutBucketVersioning { .. } => ("s3:PutBucketVersioning", false),
        E::GetObjectLockConfiguration { .. } => ("s3:GetBucketObjectLockConfiguration", false),
        E::PutObjectLockConfiguration { .. } => ("s3:PutBucketObjectLockConfiguration", false),
        E::GetBucketAcl { .. } => ("s3:GetBucketAcl", false),
        E::PutBucketAcl { .. } => ("s3:PutBucketAcl", false),
        E::GetBucketOwnershipControls { .. } => ("s3:GetBucketOwnershipControls", false),
        E::PutBucketOwnershipControls { .. } | E::DeleteBucketOwnershipControls { .. } => {
            ("s3:PutBucketOwnershipControls", false)
        }
        E::GetPublicAccessBlock { .. } => ("s3:GetBucketPublicAccessBlock", false),
        E::PutPublicAccessBlock { .. } | E::DeletePublicAccessBlock { .. } => ("s3:PutBucketPublicAccessBlock", false),
        E::GetBucketCors { .. } => ("s3:GetBucketCORS", false),
        E::PutBucketCors { .. } | E::DeleteBucketCors { .. } => ("s3:PutBucketCORS", false),
        E::GetBucketPolicy { .. } => ("s3:GetBucketPolicy", false),
        E::PutBucketPolicy { .. } => ("s3:PutBucketPolicy", false),
        E::DeleteBucketPolicy { .. } => ("s3:DeleteBucketPolicy", false),
        E::GetBucketPolicyStatus { .. } => ("s3:GetBucketPolicyStatus", false),
        E::GetBucketLifecycleConfiguration { .. } => ("s3:GetLifecycleConfiguration", false),
        E::PutBucketLifecycleConfiguration { .. } | E::DeleteBucketLifecycle { .. } => {
            ("s3:PutLifecycleConfiguration", false)
        }
        E::GetBucketTagging { .. } => ("s3:GetBucketTagging", false),
        E::PutBucketTagging { .. } | E::DeleteBucketTagging { .. } => ("s3:PutBucketTagging", false),
        E::PutObject { .. }
        | E::PostObject { .. }
        | E::CopyObject { .. }
        | E::CreateMultipartUpload { .. }
        | E::UploadPart { .. }
        | E::UploadPartCopy { .. }
        | E::CompleteMultipartUpload { .. } => ("s3:PutObject", true),
        E::AbortMultipartUpload { .. } => ("s3:AbortMultipartUpload", true),
        E::ListParts { .. } => ("s3:ListMultipartUploadParts", true),
        E::DeleteObjects { .. } => ("s3:DeleteObject", true),
        E::DeleteObject { version, .. } => (versioned(version, "s3:DeleteObject", "s3:DeleteObjectVersion"), true),
        E::GetObject { version, .. } | E::HeadObject { version, .. } => {
            (versioned(version, "s3:GetObject", "s3:GetObjectVersion"), true)
        }
        E::GetObjectAttributes { version, .. } => (
            versioned(version, "s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"),
            true,
        ),
        E::GetObjectTagging { version, .. } => (
            versioned(version, "s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
            true,
        ),
        E::PutObjectTagging { version, .. } => (
            versioned(version, "s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
            true,
        ),
        E::DeleteObjectTagging { version, .. } => (
            versioned(version, "s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
            true,
        ),
        E::GetObjectAcl { version, .. } => (versioned(version, "s3:GetObjectAcl", "s3:GetObjectVersionAcl"), true),
        E::PutObjectAcl { version, .. } => (versioned(version, "s3:PutObjectAcl", "s3:PutObjectVersionAcl"), true),
        E::GetObjectRetention { .. } => ("s3:GetObjectRetention", true),
        E::PutObjectRetention { .. } => ("s3:PutObjectRetention", true),
        E::GetObjectLegalHold { .. } => ("s3:GetObjectLegalHold", true),
        E::PutObjectLegalHold { .. } => ("s3:PutObjectLegalHold", true),
    })
}

/// Whether `action` reads or changes an object that exists, so that `s3:ExistingObjectTag`
/// applies to it (judged once the object is read); for other actions the key is absent.
pub fn reads_existing(action: &str) -> bool {
    action.starts_with("s3:GetObject")
        || matches!(
            action,
            "s3:PutObjectAcl"
                | "s3:PutObjectVersionAcl"
                | "s3:PutObjectTagging"
                | "s3:PutObjectVersionTagging"
                | "s3:DeleteObjectTagging"
                | "s3:DeleteObjectVersionTagging"
                | "s3:PutObjectRetention"
                | "s3:PutObjectLegalHold"
        )
}

/// What a request carries that a policy's conditions may read, copied once per request that
/// meets a bucket with a policy.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    headers: Vec<(&'static str, String)>,
    query: Vec<(String, String)>,
    /// The tags the request sets (`x-amz-tagging`, a form's `tagging`, or PutObjectTagging's
    /// body once read: see [`set_request_tags`](Self::set_request_tags)).
    request_tags: RefCell<Option<Vec<(String, String)>>>,
    source_ip: IpAddr,
    secure: bool,
    /// The request's time, ISO 8601 (`aws:CurrentTime`).
    now: String,
    caller: Option<String>,
    signature: Option<&'static str>,
    auth_type: Option<&'static str>,
}

impl RequestFacts {
    /// The facts of a request with `head`, from `source_ip`, by `caller` (`None`: unsigned);
    /// `form` holds a POST upload's fields, which stand for the `x-amz-*` headers (`acl` for
    /// `x-amz-acl`, `tagging` for the tags), as they are what the upload stores.
    pub fn new(
        head: &RequestHead,
        form: Option<&[(String, String)]>,
        source_ip: IpAddr,
        secure: bool,
        caller: Option<&str>,
    ) -> Self {
        let field = |name: &str| {
            form.and_then(|f| f.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)))
                .map(|(_, v)| v.as_str())
        };
        let value = |name: &str| match form {
            Some(_) if name == "x-amz-acl" => field("acl"),
            Some(_) if name.starts_with("x-amz-") && name != "x-amz-content-sha256" => field(name),
            _ => head.header(name),
        };
        let headers = condition::header_names()
            .filter_map(|h| {
                let v = value(h)?;
                Some((
                    h,
                    if h == "x-amz-copy-source" {
                        copy_source(v)
                    } else {
                        v.to_owned()
                    },
                ))
            })
            .collect();
        // Tags the request cannot state well are judged as none: the upload refuses them anyway.
        let request_tags = match form {
            Some(_) => field("tagging").map(|t| crate::xml::parse_tagging(t.as_bytes()).unwrap_or_default()),
            None => head
                .header("x-amz-tagging")
                .map(|t| crate::xml::parse_tagging_query(t).unwrap_or_default()),
        };
        let query = parse_query(&head.query);
        let presigned = query.iter().any(|(k, _)| k == "X-Amz-Algorithm" || k == "Signature");
        let (signature, auth_type) = match (caller, head.header("authorization"), form) {
            (None, _, _) => (None, None),
            (Some(_), _, Some(f)) => {
                let v4 = f.iter().any(|(k, _)| k.eq_ignore_ascii_case("x-amz-algorithm"));
                (Some(if v4 { "AWS4-HMAC-SHA256" } else { "AWS" }), Some("POST"))
            }
            (Some(_), Some(a), None) if !presigned => {
                let v4 = a.starts_with("AWS4-HMAC-SHA256");
                (Some(if v4 { "AWS4-HMAC-SHA256" } else { "AWS" }), Some("REST-HEADER"))
            }
            (Some(_), _, None) => {
                let v4 = query.iter().any(|(k, _)| k == "X-Amz-Algorithm");
                (
                    Some(if v4 { "AWS4-HMAC-SHA256" } else { "AWS" }),
                    Some("REST-QUERY-STRING"),
                )
            }
        };
        RequestFacts {
            headers,
            request_tags: RefCell::new(request_tags),
            query,
            source_ip,
            secure,
            now: crate::xml::iso8601_millis(crate::clock::unix_ms()),
            caller: caller.map(str::to_owned),
            signature,
            auth_type,
        }
    }

    /// Whether the request sets an ACL (`x-amz-acl`, `x-amz-grant-*`), which a policy judges as
    /// `s3:PutObjectAcl` too.
    pub fn sets_acl(&self) -> bool {
        self.headers
            .iter()
            .any(|(h, _)| *h == "x-amz-acl" || h.starts_with("x-amz-grant-"))
    }

    /// Whether the request sets tags, which a policy judges as `s3:PutObjectTagging` too.
    pub fn sets_tags(&self) -> bool {
        self.request_tags.borrow().is_some()
    }

    /// The tags the request sets, once read from its body (PutObjectTagging).
    pub fn set_request_tags(&self, tags: &[(String, String)]) {
        *self.request_tags.borrow_mut() = Some(tags.to_vec());
    }

    /// These facts with `existing`, the tags of the object the request reads (`None`: not
    /// known yet, or `Some(None)`: the action reads no existing object), and the key as
    /// `s3:prefix` when `prefix` is set (whether a caller may learn that a key is absent).
    pub fn with<'a>(&'a self, existing: Option<Option<&'a [(String, String)]>>, prefix: Option<&'a str>) -> Judged<'a> {
        Judged {
            facts: self,
            existing,
            prefix,
        }
    }
}

/// `x-amz-copy-source` as policies name it: `bucket/key`, decoded, without a leading `/` (the
/// version id is left on, as sent).
fn copy_source(v: &str) -> String {
    let v = v.trim().trim_start_matches('/');
    let decoded = s3o_sigv4::encode::percent_decode(v.as_bytes());
    String::from_utf8(decoded).unwrap_or_else(|_| v.to_owned())
}

/// [`RequestFacts`] with what the moment of judging adds.
#[derive(Debug, Clone, Copy)]
pub struct Judged<'a> {
    facts: &'a RequestFacts,
    existing: Option<Option<&'a [(String, String)]>>,
    prefix: Option<&'a str>,
}

fn one(v: impl Into<String>) -> Found {
    Found::Values(vec![v.into()])
}

fn found(v: Option<&str>) -> Found {
    v.map_or(Found::Absent, one)
}

impl Facts for Judged<'_> {
    fn found(&self, key: &Key) -> Found {
        let f = self.facts;
        match key {
            Key::SourceIp => one(f.source_ip.to_string()),
            Key::SecureTransport => one(if f.secure { "true" } else { "false" }),
            Key::CurrentTime => one(f.now.clone()),
            Key::UserId => found(f.caller.as_deref()),
            Key::Header(h) => found(f.headers.iter().find(|(n, _)| n == h).map(|(_, v)| v.as_str())),
            Key::Query("prefix") if self.prefix.is_some() => found(self.prefix),
            Key::Query(q) => found(f.query.iter().find(|(n, _)| n == q).map(|(_, v)| v.as_str())),
            Key::ExistingObjectTag(t) => match self.existing {
                None => Found::Unknown,
                Some(tags) => found(
                    tags.and_then(|tags| tags.iter().find(|(k, _)| k == t))
                        .map(|(_, v)| v.as_str()),
                ),
            },
            Key::RequestObjectTag(t) => found(
                f.request_tags
                    .borrow()
                    .as_ref()
                    .and_then(|tags| tags.iter().find(|(k, _)| k == t))
                    .map(|(_, v)| v.as_str()),
            ),
            Key::RequestObjectTagKeys => match &*f.request_tags.borrow() {
                Some(tags) if !tags.is_empty() => Found::Values(tags.iter().map(|(k, _)| k.clone()).collect()),
                _ => Found::Absent,
            },
            Key::SignatureVersion => found(f.signature),
            Key::AuthType => found(f.auth_type),
        }
    }
}

/// GetBucketPolicy: the document as it was set.
pub async fn get_bucket_policy(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    let meta = require_bucket(ctx, bucket).await?;
    let policy = meta.settings.policy.as_ref().ok_or(ProxyError::NoSuchBucketPolicy)?;
    let body = policy.text().as_bytes();
    let head = base_head(200, ctx.rid)
        .header("content-type", "application/json")
        .content_length(body.len() as u64);
    io.respond(&head, body).await
}

/// PutBucketPolicy: MalformedPolicy for a document that cannot be enforced; AccessDenied for a
/// public one under a public access block's BlockPublicPolicy.
pub async fn put_bucket_policy(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    body: &mut RequestBody,
    bucket: &str,
) -> Result<(), ProxyError> {
    let doc = read_small_body(io, body, s3o_store::policy::MAX_POLICY_BYTES)
        .await
        .map_err(|e| match e {
            ProxyError::InvalidArgument(_) => ProxyError::MalformedPolicy("Policies must be at most 20 KB".into()),
            e => e,
        })?;
    let text = std::str::from_utf8(&doc).map_err(|_| {
        ProxyError::MalformedPolicy("Policies must be valid JSON and the first byte must be '{'".into())
    })?;
    let policy = BucketPolicy::parse(text).map_err(|e| ProxyError::MalformedPolicy(e.to_string()))?;
    policy
        .check_bucket(bucket)
        .map_err(|e| ProxyError::MalformedPolicy(e.to_string()))?;
    let meta = require_bucket(ctx, bucket).await?;
    if policy.is_public() && meta.settings.public_access_block.is_some_and(|b| b.block_public_policy) {
        return Err(ctx.permit.deny(ctx.core));
    }
    change_bucket(ctx, io, bucket, BucketChange::Policy(Some(policy)), 204).await
}

/// DeleteBucketPolicy.
pub async fn delete_bucket_policy(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    change_bucket(ctx, io, bucket, BucketChange::Policy(None), 204).await
}

/// GetBucketPolicyStatus: whether the policy makes the bucket public — or its ACL, as the
/// conformance suite (ceph's reading) expects; AWS's answer speaks of the policy alone.
pub async fn get_bucket_policy_status(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    let meta = require_bucket(ctx, bucket).await?;
    let is_public = meta.settings.policy.as_ref().is_some_and(BucketPolicy::is_public) || meta.acl().is_public();
    send_xml(ctx, io, &PolicyStatus { is_public }).await
}
