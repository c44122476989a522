//! Versioning and object lock: what a bucket keeps as it moves from unversioned to enabled to
//! suspended, delete markers, deleting one version, the `null` version, retention and legal
//! holds, and ListObjectVersions pages that never skip or repeat a version.

use super::{ok, queue_depth, version, with_bucket, ExpectSome};
use crate::model::{ObjectMeta, WriteCondition};
use crate::rules::now_ms;
use crate::versions::{
    BucketChange, ObjectLock, Retention, RetentionMode, VersionChange, VersionQuery, VersionRef, Versioning,
};
use crate::{Store, StoreError};

/// Runs every versioning check.
pub async fn run(fresh: &dyn Fn() -> Store) {
    a_bucket_keeps_versions_as_its_versioning_says(fresh).await;
    deleting_versions_promotes_the_next_newest(fresh).await;
    object_lock_protects_versions(fresh).await;
    version_listing_pages_never_skip_or_repeat(fresh).await;
    completing_an_upload_makes_a_version(fresh).await;
    access_settings_are_kept_with_buckets_and_versions(fresh).await;
}

/// A bucket's grants, ownership controls, public access block and CORS rules, and a version's owner and
/// grants, are kept as set (removable again), in every answer that carries them.
pub async fn access_settings_are_kept_with_buckets_and_versions(fresh: &dyn Fn() -> Store) {
    use crate::acl::{Canned, Ownership, Permission, PublicAccessBlock, Requester};
    let store = with_bucket(fresh).await;
    let bucket = ok(store.bucket("bkt"), "bucket").await.expect_some("bucket");
    assert_eq!(
        bucket.acl(),
        crate::acl::Acl::private(&bucket.owner),
        "private by default"
    );
    let public = Canned::PublicRead.expand(&bucket.owner, &bucket.owner).stored_grants();
    let changed = ok(
        store.update_bucket("bkt", BucketChange::Grants(public.clone())),
        "grants",
    )
    .await;
    assert_eq!(changed.settings.grants, public);
    let block = PublicAccessBlock {
        ignore_public_acls: true,
        ..PublicAccessBlock::default()
    };
    ok(
        store.update_bucket("bkt", BucketChange::PublicAccessBlock(Some(block))),
        "block",
    )
    .await;
    ok(
        store.update_bucket("bkt", BucketChange::Ownership(Some(Ownership::ObjectWriter))),
        "ownership",
    )
    .await;
    let read = ok(store.bucket("bkt"), "bucket").await.expect_some("bucket");
    assert_eq!(
        (
            &read.settings.grants,
            read.settings.ownership,
            read.settings.public_access_block
        ),
        (&public, Some(Ownership::ObjectWriter), Some(block))
    );
    assert!(read.acl().allows(Requester::Anonymous, Permission::Read, false));
    let listed = ok(store.list_buckets(), "list").await;
    assert_eq!(
        listed.iter().find(|b| b.name == "bkt").map(|b| &b.settings.grants),
        Some(&public)
    );
    ok(
        store.update_bucket("bkt", BucketChange::Ownership(None)),
        "no ownership",
    )
    .await;
    ok(
        store.update_bucket("bkt", BucketChange::PublicAccessBlock(None)),
        "no block",
    )
    .await;
    ok(store.update_bucket("bkt", BucketChange::Grants(None)), "no grants").await;
    let cors = Some(vec![crate::cors::CorsRule {
        allowed_methods: vec!["GET".into()],
        allowed_origins: vec!["https://*.example".into()],
        max_age_secs: Some(60),
        ..Default::default()
    }]);
    let changed = ok(store.update_bucket("bkt", BucketChange::Cors(cors.clone())), "cors").await;
    assert_eq!(changed.settings.cors, cors);
    assert_eq!(
        ok(store.bucket("bkt"), "bucket")
            .await
            .expect_some("bucket")
            .settings
            .cors,
        cors
    );
    ok(store.update_bucket("bkt", BucketChange::Cors(None)), "no cors").await;
    let text = r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bkt/*"}}"#;
    let policy = crate::policy::BucketPolicy::parse(text).ok().expect_some("policy");
    ok(store.update_bucket("bkt", BucketChange::Policy(Some(policy))), "policy").await;
    let read = ok(store.bucket("bkt"), "bucket").await.expect_some("bucket");
    assert_eq!(
        read.settings.policy.as_ref().map(|p| p.text()),
        Some(text),
        "a policy is kept as sent"
    );
    ok(store.update_bucket("bkt", BucketChange::Policy(None)), "no policy").await;
    let read = ok(store.bucket("bkt"), "bucket").await.expect_some("bucket");
    assert_eq!(
        (
            read.settings.grants,
            read.settings.ownership,
            read.settings.public_access_block
        ),
        (None, None, None)
    );

    let mut v = version(&store, "bkt", "k", 3, &["b1"]).await;
    v.owner = Some("writer".into());
    ok(
        store.put_object("bkt", "k", &v, &WriteCondition::None, Vec::new()),
        "put",
    )
    .await;
    let got = ok(store.get_object("bkt", "k"), "get").await.expect_some("object");
    assert_eq!(got.owner_or(&bucket.owner), "writer");
    let page = ok(store.list_objects("bkt", &crate::model::ListQuery::default()), "list").await;
    assert_eq!(
        page.objects.first().and_then(|(_, m)| m.owner.as_deref()),
        Some("writer"),
        "listings show owners"
    );
    let grants = Canned::AuthenticatedRead
        .expand("writer", &bucket.owner)
        .stored_grants();
    let changed = ok(
        store.update_version("bkt", "k", VersionRef::Latest, VersionChange::Grants(grants.clone())),
        "object grants",
    )
    .await;
    assert_eq!(changed.grants, grants);
    let got = ok(store.get_object("bkt", "k"), "get").await.expect_some("object");
    assert_eq!((got.grants, got.owner.as_deref()), (grants, Some("writer")));
}

/// Puts a new version of `key` of `size` bytes on `b1`; the version and its id.
async fn put(store: &Store, key: &str, size: u64) -> (ObjectMeta, Option<String>) {
    let v = version(store, "bkt", key, size, &["b1"]).await;
    let id = ok(
        store.put_object("bkt", key, &v, &WriteCondition::None, Vec::new()),
        "put",
    )
    .await;
    (v, id)
}

/// The versions of `key` as (version number, delete marker, latest), as listed.
async fn listed(store: &Store, key: &str) -> Vec<(u64, bool, bool)> {
    let q = VersionQuery {
        prefix: key.to_owned(),
        ..VersionQuery::default()
    };
    let page = ok(store.list_versions("bkt", &q), "list versions").await;
    page.versions
        .iter()
        .filter(|e| e.key == key)
        .map(|e| (e.meta.version, e.meta.delete_marker, e.is_latest))
        .collect()
}

async fn set_versioning(store: &Store, v: Versioning) {
    ok(
        store.update_bucket("bkt", BucketChange::Versioning(v)),
        "set versioning",
    )
    .await;
}

/// Unversioned: one version, replaced; enabled: every version kept, deletes add markers;
/// suspended: the `null` version replaced, the others kept.
pub async fn a_bucket_keeps_versions_as_its_versioning_says(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let (v0, id) = put(&store, "k", 10).await;
    assert_eq!(id, None, "no version id without versioning");
    let null = ok(store.get_version("bkt", "k", VersionRef::Null), "get null").await;
    assert_eq!(
        null.map(|m| m.version),
        Some(v0.version),
        "an unversioned object is the null version"
    );
    let r = store
        .update_bucket("bkt", BucketChange::Versioning(Versioning::Unversioned))
        .await;
    assert!(matches!(r, Err(StoreError::InvalidBucketState { .. })), "{r:?}");

    set_versioning(&store, Versioning::Enabled).await;
    let bucket = ok(store.bucket("bkt"), "bucket").await.expect_some("bkt");
    assert_eq!(bucket.settings.versioning, Versioning::Enabled);
    let (v1, id1) = put(&store, "k", 20).await;
    let id1 = id1.expect_some("a version id");
    assert_ne!(id1, "null");
    assert_eq!(VersionRef::parse(&id1), Some(VersionRef::Id(v1.version)));
    let (v2, _) = put(&store, "k", 30).await;
    assert_eq!(queue_depth(&store).await, 0, "kept versions are not cleaned up");
    assert_eq!(ok(store.usage("b1"), "usage").await, 60, "every version's bytes count");
    let current = ok(store.get_object("bkt", "k"), "get").await.expect_some("k");
    assert!(current.versioned && current.version == v2.version);
    let older = ok(store.get_version("bkt", "k", VersionRef::Id(v1.version)), "get v1").await;
    assert_eq!(older.expect_some("v1").size, 20);
    assert_eq!(
        listed(&store, "k").await,
        [
            (v2.version, false, true),
            (v1.version, false, false),
            (v0.version, false, false)
        ]
    );

    let deleted = ok(store.delete_object("bkt", "k"), "delete").await;
    let marker = deleted.marker.expect_some("a delete marker");
    assert!(marker.delete_marker && marker.versioned);
    assert_eq!(deleted.previous.map(|m| m.version), Some(v2.version));
    assert!(
        ok(store.get_object("bkt", "k"), "get").await.is_none(),
        "hidden by the marker"
    );
    let latest = ok(store.get_version("bkt", "k", VersionRef::Latest), "latest").await;
    assert!(latest.expect_some("latest").delete_marker);
    assert_eq!(queue_depth(&store).await, 0, "a delete marker deletes no bytes");
    let bucket = ok(store.bucket("bkt"), "bucket").await.expect_some("bkt");
    assert_eq!((bucket.object_count, bucket.version_count), (0, 4));
    let r = store.delete_bucket("bkt").await;
    assert!(
        matches!(r, Err(StoreError::BucketNotEmpty(_))),
        "versions keep a bucket: {r:?}"
    );

    set_versioning(&store, Versioning::Suspended).await;
    let (v3, id3) = put(&store, "k", 40).await;
    assert_eq!(id3, None, "a null version is not named (S3 answers no version id)");
    assert_eq!(queue_depth(&store).await, 1, "the old null version's bytes are queued");
    let null = ok(store.get_version("bkt", "k", VersionRef::Null), "get null").await;
    assert_eq!(null.map(|m| m.version), Some(v3.version));
    let deleted = ok(store.delete_object("bkt", "k"), "delete").await;
    let marker2 = deleted.marker.expect_some("a null delete marker");
    assert!(marker2.delete_marker && !marker2.versioned);
    assert_eq!(queue_depth(&store).await, 2, "the null version it replaced is queued");
    assert_eq!(
        listed(&store, "k").await,
        [
            (marker2.version, true, true),
            (marker.version, true, false),
            (v2.version, false, false),
            (v1.version, false, false)
        ]
    );
}

/// Deleting one version removes it for good; when it was the latest, the next newest becomes
/// current (unless it is a delete marker).
pub async fn deleting_versions_promotes_the_next_newest(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    set_versioning(&store, Versioning::Enabled).await;
    let (v1, _) = put(&store, "k", 1).await;
    let (v2, _) = put(&store, "k", 2).await;
    let marker = ok(store.delete_object("bkt", "k"), "delete")
        .await
        .marker
        .expect_some("marker");
    let gone = ok(
        store.delete_version("bkt", "k", VersionRef::Id(marker.version), false),
        "rm marker",
    )
    .await;
    assert!(gone.expect_some("the marker").delete_marker);
    let current = ok(store.get_object("bkt", "k"), "get")
        .await
        .expect_some("v2 current again");
    assert_eq!(current.version, v2.version);
    let gone = ok(
        store.delete_version("bkt", "k", VersionRef::Id(v2.version), false),
        "rm v2",
    )
    .await;
    assert_eq!(gone.map(|m| m.version), Some(v2.version));
    assert_eq!(queue_depth(&store).await, 1, "its bytes are queued");
    let current = ok(store.get_object("bkt", "k"), "get").await.expect_some("v1 current");
    assert_eq!(current.version, v1.version);
    let none = ok(
        store.delete_version("bkt", "k", VersionRef::Id(v2.version), false),
        "again",
    )
    .await;
    assert!(none.is_none(), "a version removed twice is not there the second time");
    let r = store
        .update_version("bkt", "k", VersionRef::Id(v2.version), VersionChange::Tags(Vec::new()))
        .await;
    assert!(matches!(r, Err(StoreError::NoSuchVersion { .. })), "{r:?}");
    ok(
        store.delete_version("bkt", "k", VersionRef::Id(v1.version), false),
        "rm v1",
    )
    .await;
    assert!(ok(store.get_version("bkt", "k", VersionRef::Latest), "latest")
        .await
        .is_none());
    let bucket = ok(store.bucket("bkt"), "bucket").await.expect_some("bkt");
    assert_eq!(
        (bucket.object_count, bucket.version_count, bucket.logical_bytes),
        (0, 0, 0)
    );
    ok(store.delete_bucket("bkt"), "an empty versioned bucket deletes").await;
}

/// Retention and legal holds forbid removing a version; governance yields to a bypass,
/// compliance to no one; lock settings need versioning and object lock.
pub async fn object_lock_protects_versions(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let lock = BucketChange::ObjectLock(ObjectLock::default());
    let r = store.update_bucket("bkt", lock.clone()).await;
    assert!(
        matches!(r, Err(StoreError::InvalidBucketState { .. })),
        "lock needs versioning: {r:?}"
    );
    set_versioning(&store, Versioning::Enabled).await;
    let (v1, _) = put(&store, "k", 1).await;
    let hold = VersionChange::LegalHold(true);
    let r = store.update_version("bkt", "k", VersionRef::Latest, hold.clone()).await;
    assert!(matches!(r, Err(StoreError::NoObjectLock(_))), "{r:?}");
    let bucket = ok(store.update_bucket("bkt", lock), "enable lock").await;
    assert!(bucket.settings.object_lock.is_some());
    let r = store
        .update_bucket("bkt", BucketChange::Versioning(Versioning::Suspended))
        .await;
    assert!(matches!(r, Err(StoreError::InvalidBucketState { .. })), "{r:?}");

    let id = VersionRef::Id(v1.version);
    let until_ms = now_ms() + 3_600_000;
    let governance = |until_ms| VersionChange::Retention {
        retention: Some(Retention {
            mode: RetentionMode::Governance,
            until_ms,
        }),
        bypass_governance: false,
    };
    let set = ok(store.update_version("bkt", "k", id, governance(until_ms)), "retain").await;
    assert_eq!(set.retention.map(|r| r.until_ms), Some(until_ms));
    let r = store.delete_version("bkt", "k", id, false).await;
    assert!(matches!(r, Err(StoreError::Locked { .. })), "{r:?}");
    let r = store.update_version("bkt", "k", id, governance(until_ms - 1)).await;
    assert!(
        matches!(r, Err(StoreError::Locked { .. })),
        "shortening needs bypass: {r:?}"
    );
    // A delete without a version id only adds a marker: allowed.
    ok(store.delete_object("bkt", "k"), "delete adds a marker").await;
    let latest = ok(store.get_version("bkt", "k", VersionRef::Latest), "latest").await;
    let marker = latest.expect_some("marker");
    let r = store
        .update_version("bkt", "k", VersionRef::Id(marker.version), hold.clone())
        .await;
    assert!(matches!(r, Err(StoreError::DeleteMarker { .. })), "{r:?}");

    let compliance = VersionChange::Retention {
        retention: Some(Retention {
            mode: RetentionMode::Compliance,
            until_ms: until_ms + 1,
        }),
        bypass_governance: true,
    };
    ok(
        store.update_version("bkt", "k", id, compliance),
        "governance to compliance with bypass",
    )
    .await;
    let r = store.delete_version("bkt", "k", id, true).await;
    assert!(
        matches!(r, Err(StoreError::Locked { .. })),
        "compliance ignores bypass: {r:?}"
    );

    let (v2, _) = put(&store, "k", 2).await;
    let id2 = VersionRef::Id(v2.version);
    ok(store.update_version("bkt", "k", id2, hold), "hold").await;
    let r = store.delete_version("bkt", "k", id2, true).await;
    assert!(
        matches!(r, Err(StoreError::Locked { .. })),
        "a legal hold ignores bypass: {r:?}"
    );
    ok(
        store.update_version("bkt", "k", id2, VersionChange::LegalHold(false)),
        "release",
    )
    .await;
    ok(store.delete_version("bkt", "k", id2, false), "deletable once released").await;
    assert_eq!(queue_depth(&store).await, 1);
}

/// Pages of every size walk every version of every key once, in order; with a delimiter, each
/// common prefix comes once.
pub async fn version_listing_pages_never_skip_or_repeat(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let (_, _) = put(&store, "a", 1).await;
    set_versioning(&store, Versioning::Enabled).await;
    for key in ["a", "b", "d/1", "d/2", "e"] {
        for _ in 0..3 {
            put(&store, key, 1).await;
        }
    }
    ok(store.delete_object("bkt", "b"), "marker on b").await;
    ok(store.delete_object("bkt", "c"), "marker on c, which never existed").await;
    for delimiter in [None, Some("/".to_owned())] {
        let full = VersionQuery {
            delimiter: delimiter.clone(),
            ..VersionQuery::default()
        };
        let all = ok(store.list_versions("bkt", &full), "list all").await;
        assert!(!all.is_truncated);
        let want: Vec<(String, u64)> = all.versions.iter().map(|e| (e.key.clone(), e.meta.version)).collect();
        let mut keys: Vec<&str> = want.iter().map(|(k, _)| k.as_str()).collect();
        keys.dedup();
        let latest: Vec<&str> = all
            .versions
            .iter()
            .filter(|e| e.is_latest)
            .map(|e| e.key.as_str())
            .collect();
        assert_eq!(keys, latest, "one latest version per key");
        match &delimiter {
            None => assert_eq!(want.len(), 4 + 4 + 1 + 3 + 3 + 3),
            Some(_) => {
                assert_eq!(all.common_prefixes, ["d/"]);
                assert_eq!(want.len(), 4 + 4 + 1 + 3);
            }
        }
        for size in 1..=5 {
            let (mut got, mut prefixes) = (Vec::new(), Vec::new());
            let mut q = VersionQuery {
                max_keys: size,
                ..full.clone()
            };
            for _ in 0..100 {
                let page = ok(store.list_versions("bkt", &q), "page").await;
                assert!(page.versions.len() + page.common_prefixes.len() <= size);
                got.extend(page.versions.iter().map(|e| (e.key.clone(), e.meta.version)));
                prefixes.extend(page.common_prefixes.iter().cloned());
                if !page.is_truncated {
                    break;
                }
                q.key_marker = page.next_key_marker.clone();
                q.version_marker = page.next_version_marker.as_deref().and_then(VersionRef::parse);
            }
            assert_eq!(got, want, "pages of {size}, delimiter {delimiter:?}");
            assert_eq!(prefixes, all.common_prefixes, "pages of {size}");
        }
    }
}

/// A completed multipart upload is a new version like a PUT, with its id remembered.
pub async fn completing_an_upload_makes_a_version(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    set_versioning(&store, Versioning::Enabled).await;
    let (v1, _) = put(&store, "k", 5).await;
    let meta = version(&store, "bkt", "k", 0, &["b1"]).await;
    let upload = crate::Upload {
        upload_id: "u1".into(),
        bucket: "bkt".into(),
        key: "k".into(),
        backend: "b1".into(),
        physical_key: meta.locations[0].physical_key.clone(),
        version: meta.version,
        ..crate::Upload::default()
    };
    ok(store.create_upload(&upload), "create upload").await;
    let id = ok(
        store.complete_upload("u1", &meta, &WriteCondition::None, false),
        "complete",
    )
    .await;
    assert_eq!(
        id.as_deref().and_then(VersionRef::parse),
        Some(VersionRef::Id(meta.version))
    );
    let done = ok(store.completed_upload("u1"), "completed").await.expect_some("u1");
    assert_eq!(done.version_id, id);
    let older = ok(store.get_version("bkt", "k", VersionRef::Id(v1.version)), "v1").await;
    assert!(older.is_some(), "the replaced version is kept");
}
