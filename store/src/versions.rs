//! Versioning and object lock in the store's model: a bucket's versioning state and lock
//! configuration, how a call names one version of a key, what deleting did, the ListObjectVersions
//! query and page, and the rule that decides whether a version's lock forbids removing it.
//!
//! Every version already has its own physical key; versioning only decides whether the version a
//! write replaces is kept (as a noncurrent version) or queued for cleanup. A bucket that never had
//! versioning enabled keeps no noncurrent versions: it behaves exactly as before. Its objects, and
//! those written while versioning is suspended, are the key's `null` version.

use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::model::{ObjectMeta, DEFAULT_MAX_KEYS};

/// How a bucket keeps the versions of its objects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Versioning {
    /// Never enabled: a write replaces the current version, a delete removes it.
    #[default]
    Unversioned,
    /// Every write makes a new version with its own id; a delete adds a delete marker.
    Enabled,
    /// Writes and deletes replace the key's `null` version; the other versions stay.
    Suspended,
}

/// The two object lock retention modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RetentionMode {
    /// Removable early by a caller allowed to bypass governance retention.
    Governance,
    /// Removable by no one until it expires; it may only be extended.
    Compliance,
}

/// A version's retention: it cannot be deleted before `until_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// The mode.
    pub mode: RetentionMode,
    /// Retain-until date, milliseconds since the Unix epoch.
    pub until_ms: u64,
}

/// The retention a bucket gives new versions that ask for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    /// The mode.
    pub mode: RetentionMode,
    /// The period in days (exclusive with `years`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// The period in years.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub years: Option<u32>,
}

/// A bucket's object lock configuration (its presence means object lock is enabled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLock {
    /// The default retention of new versions, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_retention: Option<DefaultRetention>,
}

/// A change to a bucket's configuration, checked and applied atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketChange {
    /// Enables or suspends versioning (`InvalidBucketState` when suspending a bucket with object
    /// lock, or setting `Unversioned`).
    Versioning(Versioning),
    /// Enables object lock, or replaces its configuration (`InvalidBucketState` unless versioning
    /// is enabled).
    ObjectLock(ObjectLock),
    /// Replaces its ACL's grants (`None`: the default, the owner's full control).
    Grants(Option<Vec<crate::acl::Grant>>),
    /// Sets or removes its object ownership controls.
    Ownership(Option<crate::acl::Ownership>),
    /// Sets or removes its public access block.
    PublicAccessBlock(Option<crate::acl::PublicAccessBlock>),
    /// Sets or removes its CORS rules.
    Cors(Option<Vec<crate::cors::CorsRule>>),
    /// Sets or removes its bucket policy.
    Policy(Option<crate::policy::BucketPolicy>),
    /// Sets or removes its lifecycle rules.
    Lifecycle(Option<Vec<crate::lifecycle::LifecycleRule>>),
    /// Sets or removes its tags.
    Tags(Option<Vec<(String, String)>>),
    /// Sets or removes its byte quota.
    Quota(Option<crate::model::BucketQuota>),
    /// Sets whether its size is shown.
    SizeTracking(Option<crate::model::SizeTracking>),
    /// Replaces all its settings, as an index rebuild restores them from the bucket's record
    /// (`InvalidBucketState` when they remove versioning, or keep object lock without it).
    Settings(Box<crate::model::BucketSettings>),
}

impl Versioning {
    /// Whether a bucket with this versioning keeps `old` as a noncurrent version when a newer
    /// version or a delete marker replaces it: always with versioning enabled; with it
    /// suspended, unless it is the `null` version (which the newer one replaces).
    pub fn keeps(self, old: &ObjectMeta) -> bool {
        match self {
            Versioning::Unversioned => false,
            Versioning::Enabled => true,
            Versioning::Suspended => old.versioned,
        }
    }
}

impl BucketChange {
    /// Applies the change to `bucket`, or says why its state refuses it.
    pub(crate) fn apply(&self, bucket: &mut crate::model::BucketMeta) -> Result<()> {
        let refuse = |why| {
            Err(StoreError::InvalidBucketState {
                bucket: bucket.name.clone(),
                why,
            })
        };
        match self {
            BucketChange::Versioning(Versioning::Unversioned) => {
                return refuse("versioning can be enabled or suspended, not removed");
            }
            BucketChange::Versioning(Versioning::Suspended) if bucket.settings.object_lock.is_some() => {
                return refuse("versioning cannot be suspended on a bucket with object lock");
            }
            BucketChange::Versioning(v) => bucket.settings.versioning = *v,
            BucketChange::ObjectLock(_) if bucket.settings.versioning != Versioning::Enabled => {
                return refuse("object lock needs versioning enabled");
            }
            BucketChange::ObjectLock(lock) => bucket.settings.object_lock = Some(*lock),
            BucketChange::Grants(grants) => bucket.settings.grants.clone_from(grants),
            BucketChange::Ownership(o) => bucket.settings.ownership = *o,
            BucketChange::PublicAccessBlock(b) => bucket.settings.public_access_block = *b,
            BucketChange::Cors(rules) => bucket.settings.cors.clone_from(rules),
            BucketChange::Policy(p) => bucket.settings.policy.clone_from(p),
            BucketChange::Lifecycle(rules) => bucket.settings.lifecycle.clone_from(rules),
            BucketChange::Tags(tags) => bucket.settings.tags.clone_from(tags),
            BucketChange::Quota(q) => bucket.settings.quota.clone_from(q),
            BucketChange::SizeTracking(t) => bucket.settings.size_tracking.clone_from(t),
            BucketChange::Settings(s)
                if bucket.settings.versioning != Versioning::Unversioned && s.versioning == Versioning::Unversioned =>
            {
                return refuse("versioning can be enabled or suspended, not removed");
            }
            BucketChange::Settings(s) if s.object_lock.is_some() && s.versioning != Versioning::Enabled => {
                return refuse("object lock needs versioning enabled");
            }
            BucketChange::Settings(s) => bucket.settings = (**s).clone(),
        }
        Ok(())
    }
}

/// Which version of a key a call means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRef {
    /// The newest version, which may be a delete marker.
    Latest,
    /// The `null` version.
    Null,
    /// The version with this id.
    Id(u64),
}

/// Characters of a version id this store issues: the version number in hex, zero-padded so ids
/// sort like their versions.
const VERSION_ID_LEN: usize = 16;

impl VersionRef {
    /// The version a client's `versionId` names: `null`, or an id this store issued; `None` when
    /// it is neither (S3 answers such an id with InvalidArgument).
    pub fn parse(id: &str) -> Option<Self> {
        if id == "null" {
            return Some(VersionRef::Null);
        }
        if id.len() != VERSION_ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return None;
        }
        u64::from_str_radix(id, 16).ok().map(VersionRef::Id)
    }

    /// Whether `meta` is the version this names (`Latest` names whichever is newest: true).
    pub fn names(&self, meta: &ObjectMeta) -> bool {
        match self {
            VersionRef::Latest => true,
            VersionRef::Null => !meta.versioned,
            VersionRef::Id(v) => meta.versioned && meta.version == *v,
        }
    }

    /// The version id this names as S3 shows it (`""` for `Latest`).
    pub fn shown(&self) -> String {
        match self {
            VersionRef::Latest => String::new(),
            VersionRef::Null => "null".to_owned(),
            VersionRef::Id(v) => format!("{v:0width$x}", width = VERSION_ID_LEN),
        }
    }
}

impl ObjectMeta {
    /// The version id S3 shows for this version: `null`, or its version number in hex.
    pub fn version_id(&self) -> String {
        self.version_ref().shown()
    }

    /// How the store names this version: its id, or the key's `null` version.
    pub fn version_ref(&self) -> VersionRef {
        if self.versioned {
            VersionRef::Id(self.version)
        } else {
            VersionRef::Null
        }
    }

    /// Why the object lock forbids removing this version at `now_ms`, if it does: a legal hold,
    /// compliance retention, or governance retention without `bypass_governance`.
    pub fn lock_forbids_removal(&self, now_ms: u64, bypass_governance: bool) -> Option<&'static str> {
        if self.legal_hold {
            return Some("the version is under legal hold");
        }
        match self.retention {
            Some(r) if r.until_ms > now_ms => match r.mode {
                RetentionMode::Compliance => Some("the version is under compliance retention"),
                RetentionMode::Governance if !bypass_governance => Some("the version is under governance retention"),
                RetentionMode::Governance => None,
            },
            _ => None,
        }
    }

    /// Why replacing this version's retention by `new` is refused at `now_ms`, if it is:
    /// compliance retention may only be extended; governance retention may be shortened or
    /// removed only with `bypass_governance`.
    pub fn retention_change_refused(
        &self,
        new: Option<&Retention>,
        now_ms: u64,
        bypass_governance: bool,
    ) -> Option<&'static str> {
        let old = self.retention.filter(|r| r.until_ms > now_ms)?;
        let extends = new.is_some_and(|n| n.mode == old.mode && n.until_ms >= old.until_ms);
        match old.mode {
            RetentionMode::Compliance if !extends => Some("compliance retention can only be extended"),
            RetentionMode::Governance if !extends && !bypass_governance => {
                Some("governance retention can only be shortened or removed with bypass")
            }
            _ => None,
        }
    }
}

/// The error for a version of `bucket`/`key` that is not there: `NoSuchKey` when the caller
/// named none, `NoSuchVersion` otherwise.
pub(crate) fn missing_version(bucket: &str, key: &str, version: VersionRef) -> StoreError {
    let (bucket, key) = (bucket.to_owned(), key.to_owned());
    match version {
        VersionRef::Latest => StoreError::NoSuchKey { bucket, key },
        named => StoreError::NoSuchVersion {
            bucket,
            key,
            version: named.shown(),
        },
    }
}

/// Applies `change` to `meta`, a version of `bucket`/`key`, at `now_ms` (in a bucket with object
/// lock if `lock_enabled`), or says why it is refused.
pub(crate) fn change_version(
    meta: &mut ObjectMeta,
    change: &VersionChange,
    lock_enabled: bool,
    now_ms: u64,
    bucket: &str,
    key: &str,
) -> Result<()> {
    if meta.delete_marker {
        return Err(StoreError::DeleteMarker {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version: meta.version_id(),
        });
    }
    match change {
        VersionChange::Expecting { version, change } => {
            if meta.version != *version {
                return Err(StoreError::VersionChanged {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                });
            }
            return change_version(meta, change, lock_enabled, now_ms, bucket, key);
        }
        VersionChange::Tags(tags) => meta.tags = tags.clone(),
        VersionChange::UserMeta(m) => meta.user_meta = m.clone(),
        VersionChange::Retention { .. } | VersionChange::LegalHold(_) if !lock_enabled => {
            return Err(StoreError::NoObjectLock(bucket.to_owned()));
        }
        VersionChange::Retention {
            retention,
            bypass_governance,
        } => {
            if let Some(why) = meta.retention_change_refused(retention.as_ref(), now_ms, *bypass_governance) {
                return Err(StoreError::Locked {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    version: meta.version_id(),
                    why,
                });
            }
            meta.retention = *retention;
        }
        VersionChange::LegalHold(on) => meta.legal_hold = *on,
        VersionChange::Grants(grants) => meta.grants.clone_from(grants),
        VersionChange::Hash { locations, .. } | VersionChange::Damaged { locations, .. }
            if meta.locations != *locations =>
        {
            return Err(StoreError::VersionChanged {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            })
        }
        VersionChange::Hash { hash, .. } => meta.hash = Some(hash.clone()),
        VersionChange::Damaged { backends, .. } => meta.damaged.clone_from(backends),
        VersionChange::Rewrap {
            expected_dek,
            key_id,
            dek,
        } => match &mut meta.sealed {
            Some(s) if s.dek == *expected_dek => {
                s.key_id.clone_from(key_id);
                s.dek.clone_from(dek);
            }
            _ => {
                return Err(StoreError::VersionChanged {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                })
            }
        },
    }
    Ok(())
}

/// A change to one version, checked and applied atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionChange {
    /// Replaces its tags.
    Tags(Vec<(String, String)>),
    /// Replaces its user metadata (`x-amz-meta-*`), in place.
    UserMeta(Vec<(String, String)>),
    /// Sets (or with `None`, removes) its retention, as
    /// [`retention_change_refused`](ObjectMeta::retention_change_refused) allows; the bucket must
    /// have object lock.
    Retention {
        /// The new retention.
        retention: Option<Retention>,
        /// Whether the caller may bypass governance retention.
        bypass_governance: bool,
    },
    /// Sets or clears its legal hold; the bucket must have object lock.
    LegalHold(bool),
    /// Replaces its ACL's grants (`None`: the default, the owner's full control).
    Grants(Option<Vec<crate::acl::Grant>>),
    /// Records the digests of its stored bytes (integrity), only while its copies are still
    /// `locations` (the ones hashed); VersionChanged otherwise.
    Hash {
        /// The digests.
        hash: crate::sealed::ContentHash,
        /// The copies as read.
        locations: Vec<crate::model::Location>,
    },
    /// Replaces the list of backends whose copy failed its hash and could not be repaired, only
    /// while its copies are still `locations`; VersionChanged otherwise.
    Damaged {
        /// The backends.
        backends: Vec<String>,
        /// The copies as read.
        locations: Vec<crate::model::Location>,
    },
    /// Replaces its wrapped data key (a master key rotation: the bytes stay as they are), only
    /// while it is still `expected_dek`; VersionChanged otherwise.
    Rewrap {
        /// The wrapped key the caller read.
        expected_dek: String,
        /// The id of the master key that wrapped `dek`.
        key_id: String,
        /// The data key wrapped anew.
        dek: String,
    },
    /// `change`, only while the reference still names the version numbered `version` (the one
    /// the caller read and checked its rights on); VersionChanged otherwise.
    Expecting {
        /// The version number expected.
        version: u64,
        /// The change.
        change: Box<VersionChange>,
    },
}

/// What a delete without a version id did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// The version that was current: removed (its bytes queued for cleanup) in an unversioned
    /// bucket or when it was the `null` version of a suspended one, kept as a noncurrent version
    /// otherwise.
    pub previous: Option<ObjectMeta>,
    /// The delete marker made the latest version, in a bucket with versioning enabled or
    /// suspended.
    pub marker: Option<ObjectMeta>,
}

/// A ListObjectVersions request as the store answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionQuery {
    /// Only keys starting with this.
    pub prefix: String,
    /// Roll keys up to the first occurrence of this after the prefix; `None` or `""` for none.
    pub delimiter: Option<String>,
    /// Begin after this key: after all its versions, or with `version_marker`, after that one.
    pub key_marker: Option<String>,
    /// With `key_marker`: begin after this version of that key.
    pub version_marker: Option<VersionRef>,
    /// Most versions plus common prefixes to return.
    pub max_keys: usize,
}

impl Default for VersionQuery {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            delimiter: None,
            key_marker: None,
            version_marker: None,
            max_keys: DEFAULT_MAX_KEYS,
        }
    }
}

/// One version in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionEntry {
    /// The key.
    pub key: String,
    /// The version (a delete marker when `meta.delete_marker`), with every field.
    pub meta: ObjectMeta,
    /// Whether it is the key's latest version.
    pub is_latest: bool,
}

/// One page of ListObjectVersions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionPage {
    /// Versions by key, newest first within a key.
    pub versions: Vec<VersionEntry>,
    /// Common prefixes in order, each ending with the delimiter.
    pub common_prefixes: Vec<String>,
    /// Whether more versions or prefixes follow.
    pub is_truncated: bool,
    /// Where the next page begins, when truncated: the last key (or common prefix) returned...
    pub next_key_marker: Option<String>,
    /// ...and the id of the last version returned (none after a common prefix).
    pub next_version_marker: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versioned(version: u64) -> ObjectMeta {
        ObjectMeta {
            version,
            versioned: true,
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn version_ids_round_trip_and_strangers_are_refused() {
        let m = versioned(0x1234);
        assert_eq!(m.version_id(), "0000000000001234");
        assert_eq!(VersionRef::parse(&m.version_id()), Some(VersionRef::Id(0x1234)));
        assert!(VersionRef::parse(&m.version_id()).unwrap().names(&m));
        assert_eq!(ObjectMeta::default().version_id(), "null");
        assert_eq!(VersionRef::parse("null"), Some(VersionRef::Null));
        assert!(VersionRef::Null.names(&ObjectMeta::default()) && !VersionRef::Null.names(&m));
        for bad in [
            "",
            "NULL",
            "123",
            "000000000000123G",
            "000000000000ABCD",
            "00000000000000001",
        ] {
            assert_eq!(VersionRef::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn locks_forbid_removal_as_their_mode_says() {
        let now = 1_000;
        let mut m = versioned(1);
        assert_eq!(m.lock_forbids_removal(now, false), None);
        m.retention = Some(Retention {
            mode: RetentionMode::Governance,
            until_ms: now + 1,
        });
        assert!(m.lock_forbids_removal(now, false).is_some());
        assert_eq!(m.lock_forbids_removal(now, true), None);
        assert_eq!(m.lock_forbids_removal(now + 1, false), None, "expired");
        m.retention = Some(Retention {
            mode: RetentionMode::Compliance,
            until_ms: now + 1,
        });
        assert!(m.lock_forbids_removal(now, true).is_some());
        m.retention = None;
        m.legal_hold = true;
        assert!(m.lock_forbids_removal(now, true).is_some());
    }

    #[test]
    fn retention_changes_follow_the_mode() {
        let now = 1_000;
        let gov = |until_ms| Retention {
            mode: RetentionMode::Governance,
            until_ms,
        };
        let comp = |until_ms| Retention {
            mode: RetentionMode::Compliance,
            until_ms,
        };
        let mut m = versioned(1);
        m.retention = Some(comp(5_000));
        assert_eq!(m.retention_change_refused(Some(&comp(6_000)), now, false), None);
        assert!(m.retention_change_refused(Some(&comp(4_000)), now, true).is_some());
        assert!(m.retention_change_refused(Some(&gov(9_000)), now, true).is_some());
        assert!(m.retention_change_refused(None, now, true).is_some());
        assert_eq!(m.retention_change_refused(None, 5_000, false), None, "expired");
        m.retention = Some(gov(5_000));
        assert_eq!(m.retention_change_refused(Some(&gov(6_000)), now, false), None);
        assert!(m.retention_change_refused(Some(&gov(4_000)), now, false).is_some());
        assert_eq!(m.retention_change_refused(Some(&gov(4_000)), now, true), None);
        assert_eq!(m.retention_change_refused(Some(&comp(9_000)), now, true), None);
        assert!(m.retention_change_refused(None, now, false).is_some());
    }
}
