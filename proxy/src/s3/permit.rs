//! ACL enforcement on the S3 port, after the credential's own limits ([`check_access`]: scope,
//! read-only, bucket management) have passed: who the caller is to the bucket, and whether the
//! bucket's and the object's grants allow the operation.
//!
//! A caller stands to a bucket in one of three ways. The **operator's** keys — those naming the
//! bucket in their scope, and every signed key on a bucket declared in the config file (owned
//! by [`CONFIG_OWNER`]) — do what their scope and permission say; ACLs do not restrict them (an
//! anonymous binding is such a grant too). The **owner** (the canonical id of the creating key's
//! account) may do anything with its bucket, and with the objects it owns. **Anyone else**,
//! signed or not, gets what the grants give: READ on the bucket lists it, WRITE writes and
//! deletes objects in it, READ_ACP / WRITE_ACP read and change its ACL; READ on an object reads
//! it; only the bucket owner changes the bucket's settings. Ownership controls set to
//! `BucketOwnerEnforced` turn ACLs off (the bucket owner owns every object, grants count for
//! nothing); a public access block's `IgnorePublicAcls` drops grants to AllUsers and
//! AuthenticatedUsers and `RestrictPublicBuckets` refuses every unsigned request, anonymous
//! bindings included.
//!
//! Bucket records are read through a per-core cache (one second at most, dropped at once when
//! this instance changes a bucket's owner or ACL settings), so a request costs no store read.
//!
//! [`check_access`]: super::check_access

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use s3o_store::acl::{Ownership, Permission, Requester};
use s3o_store::{BucketMeta, ObjectMeta};

use crate::access::DenyReason;
use crate::config::{CredentialConfig, CONFIG_OWNER};
use crate::endpoint::Endpoint;
use crate::error::ProxyError;
use crate::state::Core;

/// How long a core trusts a bucket record it read (another instance's change shows within it).
const VIEW_TTL: Duration = Duration::from_secs(1);
/// Most bucket records one core keeps.
const VIEW_CACHE_MAX: usize = 4096;

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
        Endpoint::PutObjectTagging { .. }
        | Endpoint::DeleteObjectTagging { .. }
        | Endpoint::PutObjectRetention { .. }
        | Endpoint::PutObjectLegalHold { .. } => (B::Nothing, O::Owner),
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
        | Endpoint::DeletePublicAccessBlock { .. } => (B::Owner, O::Nothing),
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

/// The caller's standing for one request: checked at the bucket on the way in, and at the
/// object once its version is read.
#[derive(Debug, Clone)]
pub struct Permit {
    /// The caller's canonical id; `None` for an unsigned request.
    requester: Option<String>,
    object_need: ObjectNeed,
    /// The buckets the request touches (its own and a copy's source), when they exist.
    buckets: Vec<BucketStanding>,
}

impl Permit {
    /// The caller as ACLs see it.
    pub fn requester(&self) -> Requester<'_> {
        self.requester.as_deref().map_or(Requester::Anonymous, Requester::User)
    }

    /// The standing in `bucket`, if the request touches it and it existed.
    pub fn bucket(&self, bucket: &str) -> Option<&BucketStanding> {
        self.buckets.iter().find(|b| b.meta.name == bucket)
    }

    /// Whether the caller may list `bucket` (so may learn that a key is not there: S3 answers
    /// AccessDenied rather than NoSuchKey to anyone else). Unknown buckets: yes.
    pub fn may_list(&self, bucket: &str) -> bool {
        self.bucket(bucket)
            .is_none_or(|b| self.bucket_allows(b, BucketNeed::Grant(Permission::Read)))
    }

    /// Whether the caller's standing in `b` meets `need`.
    fn bucket_allows(&self, b: &BucketStanding, need: BucketNeed) -> bool {
        b.operator
            || self.requester.as_deref() == Some(b.meta.owner.as_str())
            || match need {
                BucketNeed::Nothing => true,
                BucketNeed::Owner => false,
                BucketNeed::Grant(_) if b.meta.ownership == Some(Ownership::BucketOwnerEnforced) => false,
                BucketNeed::Grant(p) => b.meta.acl().allows(self.requester(), p, ignore_public(&b.meta)),
            }
    }

    /// Whether the request may go on with `meta`, a version of an object in `bucket` it reads
    /// or changes (AccessDenied otherwise).
    pub fn object(&self, core: &Core, bucket: &str, meta: &ObjectMeta) -> Result<(), ProxyError> {
        let Some(standing) = self.bucket(bucket) else {
            return Ok(());
        };
        if standing.operator {
            return Ok(());
        }
        let b = &standing.meta;
        let me = self.requester.as_deref();
        let enforced = b.ownership == Some(Ownership::BucketOwnerEnforced);
        let allowed = match self.object_need {
            ObjectNeed::Nothing => true,
            _ if me == Some(b.owner.as_str()) && enforced => true,
            ObjectNeed::Owner => me.is_some_and(|me| me == b.owner || me == meta.owner_or(&b.owner)),
            _ if enforced => false,
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

    /// What a denial is counted as: `anonymous` for an unsigned request, else `acl`.
    fn reason(&self) -> DenyReason {
        if self.requester.is_none() {
            DenyReason::Anonymous
        } else {
            DenyReason::Acl
        }
    }
}

fn ignore_public(b: &BucketMeta) -> bool {
    b.public_access_block.is_some_and(|p| p.ignore_public_acls)
}

/// Whether `who` is the operator in `bucket`.
pub fn is_operator(who: &CredentialConfig, bucket: &BucketMeta) -> bool {
    who.buckets.iter().any(|b| b == &bucket.name)
        || (!who.unsigned && bucket.owner == CONFIG_OWNER && who.may_use(&bucket.name))
}

/// Checks `endpoint`'s bucket-level needs for `who` and returns the permit its handler checks
/// objects with. AccessDenied (counted) when the bucket's ACL, ownership or public access block
/// refuses, or when the bucket's owner is not `expected_owner` (`x-amz-expected-bucket-owner`).
pub async fn permit(
    core: &Core,
    who: &CredentialConfig,
    endpoint: &Endpoint,
    expected_owner: Option<&str>,
) -> Result<Permit, ProxyError> {
    let (bucket_need, object_need) = needs(endpoint);
    let requester = (!who.unsigned).then(|| who.owner().to_owned());
    let mut permit = Permit {
        requester,
        object_need,
        buckets: Vec::with_capacity(2),
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
    for name in own.into_iter().chain(source) {
        if permit.bucket(name).is_some() {
            continue;
        }
        let Some(meta) = view(core, name).await? else {
            continue;
        };
        if who.unsigned && meta.public_access_block.is_some_and(|p| p.restrict_public_buckets) {
            return denied();
        }
        permit.buckets.push(BucketStanding {
            operator: is_operator(who, &meta),
            meta,
        });
    }
    if let Some(name) = own {
        if let Some(b) = permit.bucket(name) {
            if expected_owner.is_some_and(|o| o != b.meta.owner) || !permit.bucket_allows(b, bucket_need) {
                return denied();
            }
        }
    }
    Ok(permit)
}

/// One bucket record a core keeps: the instance's change count and the time when read.
type CachedView = (u64, Instant, Rc<BucketMeta>);

/// Bucket records each core keeps, by bucket name.
#[derive(Debug, Default)]
pub struct ViewCache(RefCell<HashMap<String, CachedView>>);

/// The record of `bucket` (from this core's cache when fresh), `None` when it does not exist.
pub async fn view(core: &Core, bucket: &str) -> Result<Option<Rc<BucketMeta>>, ProxyError> {
    let generation = core.shared.bucket_changes.load(Ordering::Acquire);
    let now = Instant::now();
    if let Some((g, at, meta)) = core.views.0.borrow().get(bucket) {
        if *g == generation && now.duration_since(*at) < VIEW_TTL {
            return Ok(Some(meta.clone()));
        }
    }
    let Some(meta) = core.shared.store.bucket(bucket).await? else {
        core.views.0.borrow_mut().remove(bucket);
        return Ok(None);
    };
    let meta = Rc::new(meta);
    let mut cache = core.views.0.borrow_mut();
    if cache.len() >= VIEW_CACHE_MAX {
        cache.clear();
    }
    cache.insert(bucket.to_owned(), (generation, now, meta.clone()));
    Ok(Some(meta))
}

/// Tells every core of this instance that a bucket's owner or access settings changed.
pub fn bucket_changed(core: &Core) {
    core.shared.bucket_changes.fetch_add(1, Ordering::AcqRel);
}
