//! Access control lists as S3 defines them, stored with buckets and object versions: an owner
//! (a canonical id) and grants of a permission to a grantee (a canonical user, a group, or an
//! email address), the canned ACLs that expand to grants, and the question the proxy asks on
//! every request ([`Acl::allows`]). Pure data and rules; the XML lives in the proxy.

use serde::{Deserialize, Serialize};

/// The `AllUsers` group: anyone, signed or not.
pub const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
/// The `AuthenticatedUsers` group: any signed request.
pub const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
/// The `LogDelivery` group.
pub const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";
/// Most grants one ACL holds (S3's limit).
pub const MAX_GRANTS: usize = 100;

/// What a grant allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    /// Everything below.
    #[serde(rename = "FULL_CONTROL")]
    FullControl,
    /// List a bucket / read an object.
    #[serde(rename = "READ")]
    Read,
    /// Write objects into a bucket.
    #[serde(rename = "WRITE")]
    Write,
    /// Read the ACL.
    #[serde(rename = "READ_ACP")]
    ReadAcp,
    /// Change the ACL.
    #[serde(rename = "WRITE_ACP")]
    WriteAcp,
}

impl Permission {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::FullControl => "FULL_CONTROL",
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
        }
    }

    /// The permission named `s`.
    pub fn parse(s: &str) -> Option<Permission> {
        [
            Permission::FullControl,
            Permission::Read,
            Permission::Write,
            Permission::ReadAcp,
            Permission::WriteAcp,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }

    /// Whether holding `self` grants `wanted`.
    pub fn covers(self, wanted: Permission) -> bool {
        self == Permission::FullControl || self == wanted
    }
}

/// Who a grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Grantee {
    /// A user by canonical id.
    CanonicalUser {
        /// The canonical id.
        id: String,
    },
    /// A predefined group by URI.
    Group {
        /// The group's URI.
        uri: String,
    },
    /// A user by email address (kept as given).
    Email {
        /// The address.
        address: String,
    },
}

/// One grant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    /// Who.
    pub grantee: Grantee,
    /// What.
    pub permission: Permission,
}

impl Grant {
    /// A grant to the canonical user `id`.
    pub fn user(id: &str, permission: Permission) -> Grant {
        Grant {
            grantee: Grantee::CanonicalUser { id: id.to_owned() },
            permission,
        }
    }

    /// A grant to the group `uri`.
    pub fn group(uri: &str, permission: Permission) -> Grant {
        Grant {
            grantee: Grantee::Group { uri: uri.to_owned() },
            permission,
        }
    }
}

/// An access control list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    /// The owner's canonical id (who always has full control).
    pub owner: String,
    /// The grants, in order.
    pub grants: Vec<Grant>,
}

/// A canned ACL (`x-amz-acl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canned {
    /// Owner full control only.
    Private,
    /// And everyone may read.
    PublicRead,
    /// And everyone may read and write.
    PublicReadWrite,
    /// And every signed request may read.
    AuthenticatedRead,
    /// Object only: and the bucket owner may read.
    BucketOwnerRead,
    /// Object only: and the bucket owner has full control.
    BucketOwnerFullControl,
    /// Bucket only: the log delivery group may write and read the ACL.
    LogDeliveryWrite,
}

impl Canned {
    /// The canned ACL named `s` (`private`, `public-read`, …).
    pub fn parse(s: &str) -> Option<Canned> {
        Some(match s {
            "private" => Canned::Private,
            "public-read" => Canned::PublicRead,
            "public-read-write" => Canned::PublicReadWrite,
            "authenticated-read" => Canned::AuthenticatedRead,
            "bucket-owner-read" => Canned::BucketOwnerRead,
            "bucket-owner-full-control" => Canned::BucketOwnerFullControl,
            "log-delivery-write" => Canned::LogDeliveryWrite,
            _ => return None,
        })
    }

    /// The ACL this canned name gives a resource owned by `owner` in a bucket owned by
    /// `bucket_owner` (the same for a bucket).
    ///
    /// The grants to groups and the bucket owner come first and the owner's full control last,
    /// the order S3 servers list them in.
    pub fn expand(self, owner: &str, bucket_owner: &str) -> Acl {
        let mut grants = Vec::with_capacity(3);
        match self {
            Canned::Private => {}
            Canned::PublicRead => grants.push(Grant::group(ALL_USERS, Permission::Read)),
            Canned::PublicReadWrite => {
                grants.push(Grant::group(ALL_USERS, Permission::Read));
                grants.push(Grant::group(ALL_USERS, Permission::Write));
            }
            Canned::AuthenticatedRead => grants.push(Grant::group(AUTHENTICATED_USERS, Permission::Read)),
            Canned::BucketOwnerRead if bucket_owner != owner => {
                grants.push(Grant::user(bucket_owner, Permission::Read))
            }
            Canned::BucketOwnerFullControl if bucket_owner != owner => {
                grants.push(Grant::user(bucket_owner, Permission::FullControl))
            }
            Canned::BucketOwnerRead | Canned::BucketOwnerFullControl => {}
            Canned::LogDeliveryWrite => {
                grants.push(Grant::group(LOG_DELIVERY, Permission::Write));
                grants.push(Grant::group(LOG_DELIVERY, Permission::ReadAcp));
            }
        }
        grants.push(Grant::user(owner, Permission::FullControl));
        Acl {
            owner: owner.to_owned(),
            grants,
        }
    }
}

/// Who is asking, as ACLs see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester<'a> {
    /// An unsigned request.
    Anonymous,
    /// A signed request by this canonical id.
    User(&'a str),
}

impl Acl {
    /// The default ACL of a new resource: its owner has full control.
    pub fn private(owner: &str) -> Acl {
        Canned::Private.expand(owner, owner)
    }

    /// Whether `who` holds `wanted` (the owner always does; `ignore_public` drops the grants to
    /// AllUsers and AuthenticatedUsers, as a public access block's IgnorePublicAcls does).
    pub fn allows(&self, who: Requester<'_>, wanted: Permission, ignore_public: bool) -> bool {
        if let Requester::User(id) = who {
            if id == self.owner {
                return true;
            }
        }
        self.grants.iter().any(|g| {
            g.permission.covers(wanted)
                && match (&g.grantee, who) {
                    (Grantee::CanonicalUser { id }, Requester::User(me)) => id == me,
                    (Grantee::Group { uri }, _) if uri == ALL_USERS => !ignore_public,
                    (Grantee::Group { uri }, Requester::User(_)) if uri == AUTHENTICATED_USERS => !ignore_public,
                    _ => false,
                }
        })
    }

    /// The grants to store for this ACL: `None` when they are the default (the owner's full
    /// control and nothing else), which is what a resource without stored grants has.
    pub fn stored_grants(&self) -> Option<Vec<Grant>> {
        let default = [Grant::user(&self.owner, Permission::FullControl)];
        (self.grants != default).then(|| self.grants.clone())
    }

    /// The ACL of a resource owned by `owner` with `grants` stored (`None`: the default).
    pub fn of(owner: &str, grants: Option<&[Grant]>) -> Acl {
        match grants {
            Some(g) => Acl {
                owner: owner.to_owned(),
                grants: g.to_vec(),
            },
            None => Acl::private(owner),
        }
    }

    /// Whether any grant makes the resource public (to AllUsers or AuthenticatedUsers), what a
    /// public access block's BlockPublicAcls refuses to set.
    pub fn is_public(&self) -> bool {
        self.grants
            .iter()
            .any(|g| matches!(&g.grantee, Grantee::Group { uri } if uri == ALL_USERS || uri == AUTHENTICATED_USERS))
    }
}

/// A bucket's object ownership setting (`PutBucketOwnershipControls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ownership {
    /// ACLs are disabled: the bucket owner owns every object and only the bucket's settings
    /// decide who may do what.
    BucketOwnerEnforced,
    /// The bucket owner owns objects written with `bucket-owner-full-control`.
    BucketOwnerPreferred,
    /// The writer owns each object (what a bucket without ownership controls does).
    ObjectWriter,
}

impl Ownership {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Ownership::BucketOwnerEnforced => "BucketOwnerEnforced",
            Ownership::BucketOwnerPreferred => "BucketOwnerPreferred",
            Ownership::ObjectWriter => "ObjectWriter",
        }
    }

    /// The setting named `s`.
    pub fn parse(s: &str) -> Option<Ownership> {
        [
            Ownership::BucketOwnerEnforced,
            Ownership::BucketOwnerPreferred,
            Ownership::ObjectWriter,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// A bucket's public access block (`PutPublicAccessBlock`): each flag refuses or ignores one
/// way of making the bucket or its objects public.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    /// Refuse requests that set a public ACL.
    #[serde(default)]
    pub block_public_acls: bool,
    /// Ignore the public grants of every ACL in the bucket.
    #[serde(default)]
    pub ignore_public_acls: bool,
    /// Refuse public bucket policies (and new anonymous bindings).
    #[serde(default)]
    pub block_public_policy: bool,
    /// Refuse every unsigned request to the bucket, whatever allows it.
    #[serde(default)]
    pub restrict_public_buckets: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_acls_expand_as_s3_documents() {
        let a = Canned::PublicReadWrite.expand("alice", "alice");
        assert_eq!(a.grants.len(), 3);
        assert!(a.allows(Requester::Anonymous, Permission::Write, false));
        assert!(
            !a.allows(Requester::Anonymous, Permission::Write, true),
            "IgnorePublicAcls"
        );
        assert!(!a.allows(Requester::Anonymous, Permission::ReadAcp, false));
        let auth = Canned::AuthenticatedRead.expand("alice", "alice");
        assert!(auth.allows(Requester::User("bob"), Permission::Read, false));
        assert!(!auth.allows(Requester::Anonymous, Permission::Read, false));
        let bor = Canned::BucketOwnerRead.expand("bob", "alice");
        assert!(bor.allows(Requester::User("alice"), Permission::Read, false));
        assert!(!bor.allows(Requester::User("alice"), Permission::Write, false));
        assert_eq!(Canned::BucketOwnerFullControl.expand("alice", "alice").grants.len(), 1);
        assert_eq!(
            a.grants.last().map(|g| g.permission),
            Some(Permission::FullControl),
            "the owner's grant comes last"
        );
        assert_eq!(Acl::private("alice").stored_grants(), None);
        assert_eq!(a.stored_grants().as_deref(), Some(&a.grants[..]));
        assert_eq!(Acl::of("alice", Some(&[])).grants, Vec::new());
        assert_eq!(Acl::of("alice", None), Acl::private("alice"));
        assert_eq!(Ownership::parse("ObjectWriter"), Some(Ownership::ObjectWriter));
        assert_eq!(Ownership::parse("objectwriter"), None);
        let private = Acl::private("alice");
        assert!(private.allows(Requester::User("alice"), Permission::WriteAcp, true));
        assert!(!private.allows(Requester::User("bob"), Permission::Read, false));
        assert!(!private.is_public() && a.is_public() && auth.is_public());
        assert_eq!(Canned::parse("public-read"), Some(Canned::PublicRead));
        assert_eq!(Canned::parse("public"), None);
        assert_eq!(Permission::parse("WRITE_ACP"), Some(Permission::WriteAcp));
        assert!(Permission::FullControl.covers(Permission::ReadAcp));
    }

    #[test]
    fn acls_round_trip_through_json() {
        let mut a = Canned::LogDeliveryWrite.expand("alice", "alice");
        a.grants.push(Grant {
            grantee: Grantee::Email {
                address: "bob@example.org".into(),
            },
            permission: Permission::Read,
        });
        let text = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Acl>(&text).unwrap(), a);
        assert!(
            text.contains("\"FULL_CONTROL\"") && text.contains("\"type\":\"group\""),
            "{text}"
        );
    }
}
