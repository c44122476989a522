//! Access enforcement on the S3 port, after the credential's own limits ([`check_access`]:
//! scope, read-only, bucket management) have passed: who the caller is to the bucket, and
//! whether the bucket's policy and the bucket's and the object's grants allow the operation.
//!
//! A caller stands to a bucket in one of three ways. The **operator's** keys — those whose
//! scope the operator set (the config file's, admin-minted store keys, anonymous bindings)
//! when it names the bucket, or, for signed ones, when the bucket is declared in the config file
//! (owned by [`CONFIG_OWNER`]) — do what their scope and permission say; ACLs do not restrict
//! them. A user's self-minted key only narrows what the user's account may do. The **owner** (the canonical id of the creating key's
//! account) may do anything with its bucket, and with the objects it owns. **Anyone else**,
//! signed or not, gets what the grants give: READ on the bucket lists it, WRITE writes and
//! deletes objects in it, READ_ACP / WRITE_ACP read and change its ACL; READ on an object reads
//! it; only the bucket owner changes the bucket's settings. Ownership controls set to
//! `BucketOwnerEnforced` turn ACLs off (the bucket owner owns every object, grants count for
//! nothing); a public access block's `IgnorePublicAcls` drops grants to AllUsers and
//! AuthenticatedUsers and `RestrictPublicBuckets` refuses every unsigned request, anonymous
//! bindings included.
//!
//! A bucket policy is judged first, for the operation's S3 action on its resource
//! ([`policy::action`]): an explicit deny refuses everyone — the operator and the owner
//! included, except for the owner's (and the operator's) own Get/Put/DeleteBucketPolicy, so
//! that nobody is locked out — and an allow grants what the ACL does not. Conditions on an
//! existing object's tags wait for the object ([`Permit::object`]); keys a request names only
//! in its body (DeleteObjects, a POST upload) are judged one by one ([`Permit::entry`]).
//!
//! Bucket records are read through a per-core cache ([`view`]), so a request costs no store
//! read.
//!
//! [`check_access`]: super::check_access

use std::rc::Rc;
use std::sync::Arc;

use s3o_store::acl::{Ownership, Permission, Requester};
use s3o_store::policy::{Outcome, Request, Verdict};
use s3o_store::{BucketMeta, ObjectMeta};

use crate::access::DenyReason;
use crate::config::{CredentialConfig, CONFIG_OWNER};
use crate::endpoint::Endpoint;
use crate::error::ProxyError;
use crate::http::RequestHead;
use crate::s3::policy::{self, RequestFacts};
use crate::state::Core;

pub use super::view::{bucket_changed, view, ViewCache};

/// What an operation needs on its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BucketNeed {
    /// Nothing beyond what the object needs.
    Nothing,
    /// A permission of the bucket's ACL.
    Grant(Permission),
    /// To be the bucket's owner.
    Owner,
}

/// What an operation needs on the object it reads or changes (checked once its version is
/// known, by [`Permit::object`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjectNeed {
    /// Nothing.
    Nothing,
    /// A permission of the object's ACL.
    Grant(Permission),
    /// To own the object or its bucket.
    Owner,
}

fn needs(endpoint: &Endpoint) -> (BucketNeed, ObjectNeed) {
    use BucketNeed as B;
    use ObjectNeed as O;
    match endpoint {
        Endpoint::ListBuckets | Endpoint::CreateBucket { .. } | Endpoint::NotImplemented { .. } => {
            (B::Nothing, O::Nothing)
        }
        Endpoint::HeadBucket { .. }
        | Endpoint::ListObjects { .. }
        | Endpoint::ListObjectsV2 { .. }
        | Endpoint::ListObjectVersions { .. }
        | Endpoint::ListMultipartUploads { .. } => (B::Grant(Permission::Read), O::Nothing),
        // Removing a version for good is the owner's (DeleteObjects checks each entry).
        Endpoint::DeleteObject { version: Some(_), .. } => (B::Owner, O::Nothing),
        Endpoint::PutObject { .. }
        | Endpoint::PostObject { .. }
        | Endpoint::DeleteObject { .. }
        | Endpoint::DeleteObjects { .. }
        | Endpoint::CreateMultipartUpload { .. }
        | Endpoint::UploadPart { .. }
        | Endpoint::CompleteMultipartUpload { .. }
        | Endpoint::AbortMultipartUpload { .. }
        | Endpoint::ListParts { .. } => (B::Grant(Permission::Write), O::Nothing),
        // The copy's source is read through `resolve`, which checks READ on it.
        Endpoint::CopyObject { .. } | Endpoint::UploadPartCopy { .. } => {
            (B::Grant(Permission::Write), O::Grant(Permission::Read))
        }
        Endpoint::GetObject { .. }
        | Endpoint::HeadObject { .. }
        | Endpoint::GetObjectAttributes { .. }
        | Endpoint::GetObjectTagging { .. }
        | Endpoint::GetObjectRetention { .. }
        | Endpoint::GetObjectLegalHold { .. } => (B::Nothing, O::Grant(Permission::Read)),
        Endpoint::GetObjectAcl { .. } => (B::Nothing, O::Grant(Permission::ReadAcp)),
        Endpoint::PutObjectAcl { .. } => (B::Nothing, O::Grant(Permission::WriteAcp)),
        Endpoint::PutObjectTagging { .. } | Endpoint::DeleteObjectTagging { .. } => (B::Nothing, O::Owner),
        // Locks outlive everyone's rights to remove them: the bucket owner's alone.
        Endpoint::PutObjectRetention { .. } | Endpoint::PutObjectLegalHold { .. } => (B::Owner, O::Nothing),
        Endpoint::GetBucketAcl { .. } => (B::Grant(Permission::ReadAcp), O::Nothing),
        Endpoint::PutBucketAcl { .. } => (B::Grant(Permission::WriteAcp), O::Nothing),
        Endpoint::DeleteBucket { .. }
        | Endpoint::GetBucketLocation { .. }
        | Endpoint::GetBucketVersioning { .. }
        | Endpoint::PutBucketVersioning { .. }
        | Endpoint::GetObjectLockConfiguration { .. }
        | Endpoint::PutObjectLockConfiguration { .. }
        | Endpoint::GetBucketOwnershipControls { .. }
        | Endpoint::PutBucketOwnershipControls { .. }
        | Endpoint::DeleteBucketOwnershipControls { .. }
        | Endpoint::GetPublicAccessBlock { .. }
        | Endpoint::PutPublicAccessBlock { .. }
        | Endpoint::DeletePublicAccessBlock { .. }
        | Endpoint::GetBucketCors { .. }
        | Endpoint::PutBucketCors { .. }
        | Endpoint::DeleteBucketCors { .. }
        | Endpoint::GetBucketPolicyStatus { .. }
        | Endpoint::GetBucketLifecycleConfiguration { .. }
        | Endpoint::PutBucketLifecycleConfiguration { .. }
        | Endpoint::DeleteBucketLifecycle { .. }
        | Endpoint::GetBucketTagging { .. }
        | Endpoint::PutBucketTagging { .. }
        | Endpoint::DeleteBucketTagging { .. } => (B::Owner, O::Nothing),
        // The owner's alone, whatever a policy says (and a policy never locks the owner out).
        Endpoint::GetBucketPolicy { .. } | Endpoint::PutBucketPolicy { .. } | Endpoint::DeleteBucketPolicy { .. } => {
            (B::Owner, O::Nothing)
        }
        // Answered before any signature is looked at, from the bucket's CORS rules alone.
        Endpoint::PreflightRequest { .. } => (B::Nothing, O::Nothing),
    }
}

/// Who the caller is to one bucket.
#[derive(Debug, Clone)]
pub struct BucketStanding {
    /// The bucket as last read.
    pub meta: Rc<BucketMeta>,
    /// Whether the caller is the operator there (ACLs do not restrict it).
    pub operator: bool,
}

/// What judging a request by bucket policies needs, kept when a bucket it touches has one.
#[derive(Debug, Clone)]
struct PolicyCtx {
    facts: RequestFacts,
    /// The request's action and whether its resource is an object.
    action: Option<(&'static str, bool)>,
    /// The action the object checked by [`Permit::object`] is read with (a copy's source: read).
    object_action: &'static str,
    /// The request's key.
    key: Option<String>,
}

/// The caller's standing for one request: checked at the bucket on the way in, and at the
/// object once its version is read.
#[derive(Debug, Clone)]
pub struct Permit {
    /// The caller.
    who: Arc<CredentialConfig>,
    object_need: ObjectNeed,
    /// The buckets the request touches (its own, then a copy's source of another bucket).
    buckets: [Option<BucketStanding>; 2],
    /// Set when one of them has a bucket policy.
    policy: Option<Box<PolicyCtx>>,
    /// Whether DeleteObjects goes on to judge each key by the policy (the ACL refused the
    /// request as a whole).
    per_entry: bool,
}

/// Where a request came from, for the conditions of bucket policies.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// Its head.
    pub head: &'a RequestHead,
    /// A POST upload's form fields.
    pub form: Option<&'a [(String, String)]>,
    /// The client's address.
    pub peer: std::net::IpAddr,
    /// Whether it came over TLS.
    pub secure: bool,
}

impl Permit {
    /// The caller's canonical id; `None` for an unsigned request.
    fn me(&self) -> Option<&str> {
        (!self.who.unsigned).then(|| self.who.owner())
    }

    /// The caller as ACLs see it.
    pub fn requester(&self) -> Requester<'_> {
        self.me().map_or(Requester::Anonymous, Requester::User)
    }

    /// The standing in `bucket`, if the request touches it and it existed.
    pub fn bucket(&self, bucket: &str) -> Option<&BucketStanding> {
        self.buckets.iter().flatten().find(|b| b.meta.name == bucket)
    }

    /// Whether the caller may do `action` on `key` in `bucket` beyond what WRITE grants —
    /// removing versions for good, setting locks, bypassing governance: the bucket's owner and
    /// the operator may, and whoever its policy allows; a policy's deny refuses anyone (a
    /// bucket the request did not address: no).
    pub fn controls(&self, bucket: &str, action: &str, key: Option<&str>) -> bool {
        self.bucket(bucket)
            .is_some_and(|b| match self.judge(b, action, key, Some(None), None).verdict {
                Verdict::Deny => false,
                Verdict::Allow => true,
                Verdict::Neutral => self.bucket_allows(b, BucketNeed::Owner),
            })
    }

    /// Whether the caller may go on with a multipart upload in `bucket` that `initiator`
    /// started: its initiator, the bucket's owner or the operator may, and whoever the bucket's
    /// policy allows the request's action (AccessDenied otherwise).
    pub fn upload(&self, core: &Core, bucket: &str, initiator: &str) -> Result<(), ProxyError> {
        let action = self.policy.as_ref().and_then(|p| p.action).map_or("", |(a, _)| a);
        let allowed =
            (self.me() == Some(initiator) && !self.denies(bucket, action)) || self.controls(bucket, action, self.key());
        if allowed {
            Ok(())
        } else {
            Err(self.deny(core))
        }
    }

    /// Whether the caller may list `bucket` and so learn that `key` is not there (S3 answers
    /// AccessDenied rather than NoSuchKey to anyone else): by the ACL's READ, or by a policy
    /// allowing `s3:ListBucket` with the key as `s3:prefix`.
    pub fn may_list(&self, bucket: &str, key: &str) -> bool {
        self.bucket(bucket).is_some_and(
            |b| match self.judge(b, "s3:ListBucket", None, Some(None), Some(key)).verdict {
                Verdict::Deny => false,
                Verdict::Allow => true,
                Verdict::Neutral => self.bucket_allows(b, BucketNeed::Grant(Permission::Read)),
            },
        )
    }

    /// Whether the caller may do `action` on `key` in `bucket`, for the keys a request names
    /// only in its body (DeleteObjects' entries, a POST upload's key): a policy's deny refuses,
    /// its allow admits, else what the ACL said of the request (`beyond_write`: what
    /// [`controls`](Self::controls) says, for removing a version for good). A write that sets
    /// an ACL or tags is also refused where the policy denies setting them.
    pub fn entry(
        &self,
        core: &Core,
        bucket: &str,
        key: &str,
        action: &str,
        beyond_write: bool,
    ) -> Result<(), ProxyError> {
        let Some(b) = self.bucket(bucket) else {
            return Err(self.deny(core));
        };
        let allowed = !(action == "s3:PutObject" && self.denies_settings(b, Some(key)))
            && match self.judge(b, action, Some(key), Some(None), None).verdict {
                Verdict::Deny => false,
                Verdict::Allow => true,
                Verdict::Neutral if beyond_write => self.bucket_allows(b, BucketNeed::Owner),
                Verdict::Neutral => !self.per_entry,
            };
        if allowed {
            Ok(())
        } else {
            Err(self.deny(core))
        }
    }

    /// Tells the permit the key of a request that names it only in its body (a POST upload).
    pub fn set_key(&mut self, key: &str) {
        if let Some(p) = self.policy.as_mut() {
            p.key = Some(key.to_owned());
        }
    }

    /// Tells the permit the tags a request sets in its body (PutObjectTagging), before the
    /// object is judged.
    pub fn set_request_tags(&self, tags: &[(String, String)]) {
        if let Some(p) = &self.policy {
            p.facts.set_request_tags(tags);
        }
    }

    /// Whether `b`'s policy denies what a write sets beside its bytes: an ACL
    /// (`s3:PutObjectAcl`) or tags (`s3:PutObjectTagging`).
    fn denies_settings(&self, b: &BucketStanding, key: Option<&str>) -> bool {
        let Some(ctx) = &self.policy else {
            return false;
        };
        let denied = |action| self.judge(b, action, key, Some(None), None).verdict == Verdict::Deny;
        (ctx.facts.sets_acl() && denied("s3:PutObjectAcl")) || (ctx.facts.sets_tags() && denied("s3:PutObjectTagging"))
    }

    /// The request's key, as bucket policies see it.
    fn key(&self) -> Option<&str> {
        self.policy.as_ref().and_then(|p| p.key.as_deref())
    }

    /// Whether `bucket`'s policy denies the caller `action` on the request's key.
    fn denies(&self, bucket: &str, action: &str) -> bool {
        self.bucket(bucket)
            .is_some_and(|b| self.judge(b, action, self.key(), Some(None), None).verdict == Verdict::Deny)
    }

    /// What `b`'s policy says of the caller doing `action` on `key` (`existing`: the tags of the
    /// object it reads, `None` when not read yet; `prefix`: an `s3:prefix` to judge with). Under
    /// a public access block's RestrictPublicBuckets a public policy allows nobody but the
    /// bucket's owner and the operator.
    fn judge(
        &self,
        b: &BucketStanding,
        action: &str,
        key: Option<&str>,
        existing: Option<Option<&[(String, String)]>>,
        prefix: Option<&str>,
    ) -> Outcome {
        let neutral = Outcome {
            verdict: Verdict::Neutral,
            undecided: false,
        };
        let (Some(p), Some(ctx)) = (&b.meta.settings.policy, &self.policy) else {
            return neutral;
        };
        let req = Request {
            caller: self.me(),
            action,
            bucket: &b.meta.name,
            key,
        };
        let mut out = p.evaluate(&req, &ctx.facts.with(existing, prefix));
        let restricted = b
            .meta
            .settings
            .public_access_block
            .is_some_and(|p| p.restrict_public_buckets);
        if out.verdict == Verdict::Allow && restricted && !self.bucket_allows(b, BucketNeed::Owner) && p.is_public() {
            out.verdict = Verdict::Neutral;
        }
        out
    }

    /// Whether the caller's standing in `b` meets `need`.
    fn bucket_allows(&self, b: &BucketStanding, need: BucketNeed) -> bool {
        b.operator
            || self.me() == Some(b.meta.owner.as_str())
            || match need {
                BucketNeed::Nothing => true,
                BucketNeed::Owner => false,
                BucketNeed::Grant(_) if b.meta.settings.ownership == Some(Ownership::BucketOwnerEnforced) => false,
                BucketNeed::Grant(p) => b.meta.acl().allows(self.requester(), p, ignore_public(&b.meta)),
            }
    }

    /// Whether the request may go on with `meta`, the version of `key` in `bucket` it reads
    /// or changes (AccessDenied otherwise): the bucket's policy first (an object's tags are
    /// known now), then the ACLs.
    pub fn object(&self, core: &Core, bucket: &str, key: &str, meta: &ObjectMeta) -> Result<(), ProxyError> {
        let Some(standing) = self.bucket(bucket) else {
            return Err(self.deny(core));
        };
        if let Some(ctx) = &self.policy {
            let tags = Some(Some(meta.tags.as_slice()));
            match self.judge(standing, ctx.object_action, Some(key), tags, None).verdict {
                Verdict::Deny => return Err(self.deny(core)),
                Verdict::Allow => return Ok(()),
                Verdict::Neutral => {}
            }
        }
        if standing.operator {
            return Ok(());
        }
        let b = &standing.meta;
        let me = self.me();
        let enforced = b.settings.ownership == Some(Ownership::BucketOwnerEnforced);
        let allowed = match self.object_need {
            ObjectNeed::Nothing => true,
            // ACLs off: the bucket owner owns every object.
            _ if enforced => me == Some(b.owner.as_str()),
            ObjectNeed::Owner => me.is_some_and(|me| me == b.owner || me == meta.owner_or(&b.owner)),
            ObjectNeed::Grant(p) => meta.acl(&b.owner).allows(self.requester(), p, ignore_public(b)),
        };
        if allowed {
            Ok(())
        } else {
            Err(self.deny(core))
        }
    }

    /// AccessDenied, counted by [`reason`](Self::reason).
    pub fn deny(&self, core: &Core) -> ProxyError {
        core.shared.denials.count(self.reason());
        ProxyError::AccessDenied
    }

    /// What a denial is counted as: `anonymous` for an unsigned request, else `acl` (bucket
    /// policies included).
    fn reason(&self) -> DenyReason {
        if self.who.unsigned {
            DenyReason::Anonymous
        } else {
            DenyReason::Acl
        }
    }
}

fn ignore_public(b: &BucketMeta) -> bool {
    b.settings.public_access_block.is_some_and(|p| p.ignore_public_acls)
}

/// Whether `who` is the operator in `bucket`.
pub fn is_operator(who: &CredentialConfig, bucket: &BucketMeta) -> bool {
    who.scope_granted
        && (who.buckets.iter().any(|b| b == &bucket.name)
            || (!who.unsigned && bucket.owner == CONFIG_OWNER && who.may_use(&bucket.name)))
}

/// The owners a request expects its buckets to have (`x-amz-expected-bucket-owner`,
/// `x-amz-source-expected-bucket-owner`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ExpectedOwners<'a> {
    /// Of the bucket the request addresses.
    pub own: Option<&'a str>,
    /// Of a copy's source bucket.
    pub source: Option<&'a str>,
}

/// Checks `endpoint`'s bucket-level needs for `who` and returns the permit its handler checks
/// objects with. NoSuchBucket when a bucket it addresses (or copies from) does not exist;
/// AccessDenied (counted) when the bucket's policy, ACL, ownership or public access block
/// refuses, or when a bucket's owner is not the one `expected`.
pub async fn permit(
    core: &Core,
    who: &Arc<CredentialConfig>,
    endpoint: &Endpoint,
    expected: ExpectedOwners<'_>,
    origin: Origin<'_>,
) -> Result<Permit, ProxyError> {
    let (mut bucket_need, object_need) = needs(endpoint);
    if who.unsigned && matches!(endpoint, Endpoint::CreateMultipartUpload { .. }) {
        // Parts are tied to their upload's initiator, which an unsigned caller cannot prove to
        // be: multipart uploads take signed requests (or the operator's), unless a bucket
        // policy allows `s3:PutObject` to everyone (who may then go on with any upload).
        bucket_need = BucketNeed::Owner;
    }
    let mut permit = Permit {
        who: Arc::clone(who),
        object_need,
        buckets: [None, None],
        policy: None,
        per_entry: false,
    };
    let reason = permit.reason();
    let denied = || {
        core.shared.denials.count(reason);
        Err(ProxyError::AccessDenied)
    };
    if who.unsigned && matches!(endpoint, Endpoint::ListBuckets) {
        return denied();
    }
    let own = endpoint
        .bucket()
        .filter(|_| !matches!(endpoint, Endpoint::CreateBucket { .. }));
    let source = endpoint.copy_source().map(|s| s.bucket.as_str());
    let addressed = own.map(|o| (o, expected.own));
    let wanted = addressed.into_iter().chain(source.map(|s| (s, expected.source)));
    for (slot, (name, expected)) in wanted.enumerate() {
        let meta = match permit.bucket(name) {
            Some(b) => b.meta.clone(),
            None => {
                // Every check below needs the bucket; one that does not exist is NoSuchBucket,
                // as S3 answers everyone.
                let meta = view(core, name, who.unsigned).await?.ok_or(ProxyError::NoSuchBucket)?;
                if who.unsigned
                    && meta
                        .settings
                        .public_access_block
                        .is_some_and(|p| p.restrict_public_buckets)
                {
                    return denied();
                }
                permit.buckets[slot.min(1)] = Some(BucketStanding {
                    operator: is_operator(who, &meta),
                    meta: meta.clone(),
                });
                meta
            }
        };
        if expected.is_some_and(|o| o != meta.owner) {
            return denied();
        }
    }
    if permit
        .buckets
        .iter()
        .flatten()
        .any(|b| b.meta.settings.policy.is_some())
    {
        permit.policy = Some(Box::new(policy_ctx(endpoint, &permit, origin)));
    }
    if let Some(b) = own.and_then(|name| permit.bucket(name)) {
        let owner_only = matches!(
            endpoint,
            Endpoint::GetBucketPolicy { .. } | Endpoint::PutBucketPolicy { .. } | Endpoint::DeleteBucketPolicy { .. }
        );
        let verdict = match permit.policy.as_ref().and_then(|p| p.action) {
            Some(_) if owner_only => Verdict::Neutral,
            Some((action, object)) => {
                let key = permit.key().filter(|_| object);
                // An existing object's tags are judged once it is read.
                let existing = if object && policy::reads_existing(action) {
                    None
                } else {
                    Some(None)
                };
                permit.judge(b, action, key, existing, None).verdict
            }
            None => Verdict::Neutral,
        };
        let writes = matches!(
            endpoint,
            Endpoint::PutObject { .. } | Endpoint::CopyObject { .. } | Endpoint::CreateMultipartUpload { .. }
        );
        let allowed = match verdict {
            _ if writes && permit.denies_settings(b, permit.key()) => false,
            Verdict::Deny => false,
            Verdict::Allow => true,
            Verdict::Neutral => permit.bucket_allows(b, bucket_need),
        };
        let by_key = matches!(endpoint, Endpoint::DeleteObjects { .. } | Endpoint::PostObject { .. });
        if !allowed && by_key && b.meta.settings.policy.is_some() {
            // The keys are in the body: each is judged by the policy ([`Permit::entry`]), and
            // refused unless it allows them.
            permit.per_entry = true;
        } else if !allowed {
            return denied();
        }
    }
    Ok(permit)
}

/// What judging `endpoint` by bucket policies needs.
fn policy_ctx(endpoint: &Endpoint, permit: &Permit, origin: Origin<'_>) -> PolicyCtx {
    let action = policy::action(endpoint);
    let object_action = match endpoint.copy_source() {
        Some(s) if s.version_id.is_some() => "s3:GetObjectVersion",
        Some(_) => "s3:GetObject",
        None => action.map_or("", |(a, _)| a),
    };
    PolicyCtx {
        facts: RequestFacts::new(origin.head, origin.form, origin.peer, origin.secure, permit.me()),
        action,
        object_action,
        key: endpoint.key().map(str::to_owned),
    }
}
