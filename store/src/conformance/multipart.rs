//! Multipart uploads: parts count in their backend's usage as they arrive; completing makes the
//! object current and moves the parts' usage to it; aborting queues the backend's upload for
//! deletion; listings follow key then upload-id order; a part racing a completion is never lost
//! track of; a completed upload is remembered for a repeated Complete.

use super::{ok, queue_depth, with_bucket, ExpectSome, Want};
use crate::model::{Accounting, CleanupReason, Location, ObjectMeta, Part, Upload, WriteCondition};
use crate::rules::{now_ms, physical_key_for};
use crate::{block_on, Store, StoreError};

/// Runs every multipart check.
pub async fn run(fresh: &dyn Fn() -> Store) {
    parts_count_in_usage_and_complete_moves_them_to_the_object(fresh).await;
    abort_queues_the_backend_upload_and_releases_usage_when_done(fresh).await;
    completion_checks_the_condition_and_can_queue_separate_parts(fresh).await;
    listing_follows_key_then_upload_order_with_markers_prefix_and_limit(fresh).await;
    unknown_uploads_and_missing_buckets_are_refused(fresh).await;
    parts_racing_a_completion_are_never_lost_track_of(fresh).await;
}

/// Records a new upload of `bkt`/`key` on backend `b1`.
async fn upload(store: &Store, key: &str) -> Upload {
    let version = ok(store.next_version(), "next_version").await;
    let u = Upload {
        upload_id: format!("{version:016x}"),
        bucket: "bkt".into(),
        key: key.into(),
        backend: "b1".into(),
        physical_key: physical_key_for("bkt", key, version),
        version,
        backend_upload_id: format!("native-{version}"),
        initiated_ms: now_ms(),
        owner: "AK".into(),
        ..Upload::default()
    };
    ok(store.create_upload(&u), "create upload").await;
    u
}

/// Part `number` of `size` bytes.
fn part(number: u32, size: u64) -> Part {
    Part {
        number,
        size,
        etag: format!("\"{number:032x}\""),
        last_modified_ms: now_ms(),
        ..Part::default()
    }
}

/// The object an upload completes into.
fn object_of(u: &Upload, size: u64) -> ObjectMeta {
    ObjectMeta {
        size,
        etag: "\"x-2\"".into(),
        version: u.version,
        locations: vec![Location {
            backend: u.backend.clone(),
            physical_key: u.physical_key.clone(),
        }],
        ..ObjectMeta::default()
    }
}

/// Parts replace by number, page by number, and count in usage; a completion with some of them
/// makes the object current, removes the upload and its parts, leaves a completion record, and
/// counts only the object's bytes.
pub async fn parts_count_in_usage_and_complete_moves_them_to_the_object(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let u = upload(&store, "k").await;
    assert_eq!(ok(store.upload(&u.upload_id), "get upload").await.as_ref(), Some(&u));
    let r = ok(store.reserve("b1", 100, Some(1000)), "reserve").await;
    ok(store.put_part(&u.upload_id, &part(1, 100), Some(r)), "part 1").await;
    assert_eq!(
        ok(store.reserved("b1"), "reserved").await,
        0,
        "put_part consumes its reservation"
    );
    ok(store.put_part(&u.upload_id, &part(2, 50), None), "part 2").await;
    // Replacing part 2 counts only the new bytes.
    ok(store.put_part(&u.upload_id, &part(2, 70), None), "part 2 again").await;
    ok(store.put_part(&u.upload_id, &part(3, 5), None), "part 3").await;
    assert_eq!(ok(store.usage("b1"), "usage").await, 175);
    let parts = ok(store.parts(&u.upload_id, 0, 100), "parts").await;
    let sizes: Vec<_> = parts.iter().map(|p| (p.number, p.size)).collect();
    assert_eq!(sizes, [(1, 100), (2, 70), (3, 5)]);
    assert_eq!(parts[0], part(1, 100).with_time(parts[0].last_modified_ms));
    assert_eq!(ok(store.parts(&u.upload_id, 1, 1), "parts after 1").await[0].number, 2);
    assert!(ok(store.parts(&u.upload_id, 3, 10), "parts after 3").await.is_empty());
    // Complete with parts 1 and 2 only: part 3's bytes leave usage with the upload.
    let none = WriteCondition::None;
    ok(
        store.complete_upload(&u.upload_id, &object_of(&u, 170), &none, false),
        "complete",
    )
    .await;
    assert_eq!(ok(store.usage("b1"), "usage").await, 170);
    assert!(ok(store.upload(&u.upload_id), "get upload").await.is_none());
    assert!(ok(store.parts(&u.upload_id, 0, 100), "parts").await.is_empty());
    let object = ok(store.get_object("bkt", "k"), "get").await.expect_some("k");
    assert_eq!(object, object_of(&u, 170));
    assert_eq!(queue_depth(&store).await, 0);
    let b = ok(store.bucket("bkt"), "bucket").await.expect_some("bkt");
    assert_eq!((b.object_count, b.logical_bytes), (1, 170));
    let done = ok(store.completed_upload(&u.upload_id), "completed")
        .await
        .expect_some("record");
    assert_eq!(
        (done.bucket.as_str(), done.key.as_str(), done.etag.as_str()),
        ("bkt", "k", "\"x-2\"")
    );
    assert_eq!(ok(store.forget_completed_before(0), "forget none").await, 0);
    assert_eq!(ok(store.forget_completed_before(u64::MAX), "forget all").await, 1);
    assert!(ok(store.completed_upload(&u.upload_id), "completed").await.is_none());
    let again = store
        .complete_upload(&u.upload_id, &object_of(&u, 1), &none, false)
        .await;
    assert!(matches!(again, Err(StoreError::NoSuchUpload(_))), "{again:?}");
    let late = store.put_part(&u.upload_id, &part(1, 1), None).await;
    assert!(matches!(late, Err(StoreError::NoSuchUpload(_))), "{late:?}");
}

/// Test helper: a part with its time set.
trait WithTime {
    /// The part with `last_modified_ms` set.
    fn with_time(self, ms: u64) -> Self;
}

impl WithTime for Part {
    fn with_time(self, ms: u64) -> Self {
        Part {
            last_modified_ms: ms,
            ..self
        }
    }
}

/// Aborting removes the upload and queues one task that aborts it on the backend, holding the
/// parts' bytes in usage until it completes.
pub async fn abort_queues_the_backend_upload_and_releases_usage_when_done(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let u = upload(&store, "k").await;
    ok(store.put_part(&u.upload_id, &part(1, 10), None), "part").await;
    let gone = ok(store.abort_upload(&u.upload_id), "abort").await;
    assert_eq!(gone.upload_id, u.upload_id);
    assert_eq!(gone.part_bytes, 10);
    assert!(ok(store.upload(&u.upload_id), "get upload").await.is_none());
    assert!(ok(store.parts(&u.upload_id, 0, 10), "parts").await.is_empty());
    let tasks = ok(store.due_cleanup(u64::MAX, 10), "due").await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].upload_id.as_deref(), Some(u.backend_upload_id.as_str()));
    assert_eq!(tasks[0].physical_key, u.physical_key);
    assert_eq!(
        (tasks[0].size, tasks[0].accounting, tasks[0].reason),
        (10, Accounting::Committed, CleanupReason::UploadAborted)
    );
    assert_eq!(ok(store.usage("b1"), "usage").await, 10);
    ok(store.complete_cleanup(tasks[0].id), "complete cleanup").await;
    assert_eq!(ok(store.usage("b1"), "usage").await, 0);
    let again = store.abort_upload(&u.upload_id).await;
    assert!(matches!(again, Err(StoreError::NoSuchUpload(_))), "{again:?}");
    assert!(ok(store.completed_upload(&u.upload_id), "completed").await.is_none());
}

/// A completion's condition is checked like a put's; a refused completion leaves the upload in
/// place. `cleanup_parts` queues the backend's parts, due at once and not counted in usage.
pub async fn completion_checks_the_condition_and_can_queue_separate_parts(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let first = upload(&store, "k").await;
    let absent = WriteCondition::IfAbsent;
    let done = store.complete_upload(&first.upload_id, &object_of(&first, 0), &absent, true);
    ok(done, "complete first").await;
    let tasks = ok(store.due_cleanup(now_ms(), 10), "due now").await;
    assert_eq!(tasks.len(), 1, "the parts' cleanup is due at once");
    assert_eq!(
        (tasks[0].accounting, tasks[0].reason),
        (Accounting::Uncommitted, CleanupReason::UploadParts)
    );
    assert_eq!(tasks[0].upload_id.as_deref(), Some(first.backend_upload_id.as_str()));
    let second = upload(&store, "k").await;
    let refused = store
        .complete_upload(&second.upload_id, &object_of(&second, 0), &absent, false)
        .await;
    assert!(
        matches!(refused, Err(StoreError::PreconditionFailed { .. })),
        "{refused:?}"
    );
    assert!(ok(store.upload(&second.upload_id), "get upload").await.is_some());
    let current = ok(store.get_object("bkt", "k"), "get").await.expect_some("k");
    assert_eq!(current.version, first.version, "a refused completion changes nothing");
    let matching = WriteCondition::IfMatch("\"x-2\"".into());
    let done = store.complete_upload(&second.upload_id, &object_of(&second, 0), &matching, false);
    ok(done, "complete second").await;
    let current = ok(store.get_object("bkt", "k"), "get").await.expect_some("k");
    assert_eq!(current.version, second.version);
}

/// Uploads list by key then upload id, from either marker, under a prefix, up to a limit; a
/// finished upload leaves the listing; `uploads_initiated_before` finds old ones.
pub async fn listing_follows_key_then_upload_order_with_markers_prefix_and_limit(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let a1 = upload(&store, "a").await;
    let a2 = upload(&store, "a").await;
    let ab = upload(&store, "a/b").await;
    let b = upload(&store, "b").await;
    let list = |bucket: &'static str, prefix: &'static str, key: &'static str, id: String, limit: usize| {
        let store = store.clone();
        async move {
            let got = store
                .list_uploads(bucket, prefix, key, &id, limit)
                .await
                .want("list uploads");
            got.into_iter().map(|u| u.upload_id).collect::<Vec<_>>()
        }
    };
    let ids = |us: &[&Upload]| us.iter().map(|u| u.upload_id.clone()).collect::<Vec<_>>();
    assert_eq!(list("bkt", "", "", String::new(), 100).await, ids(&[&a1, &a2, &ab, &b]));
    assert_eq!(list("bkt", "", "", String::new(), 2).await, ids(&[&a1, &a2]));
    assert!(list("bkt", "", "", String::new(), 0).await.is_empty());
    assert_eq!(list("bkt", "", "a", String::new(), 100).await, ids(&[&ab, &b]));
    let after_a1 = list("bkt", "", "a", a1.upload_id.clone(), 100).await;
    assert_eq!(after_a1, ids(&[&a2, &ab, &b]));
    assert_eq!(list("bkt", "a/", "", String::new(), 100).await, ids(&[&ab]));
    // Paging with the last upload's key and id as markers walks everything once.
    let mut walked = Vec::new();
    let (mut key, mut id) = (String::new(), String::new());
    loop {
        let page = ok(store.list_uploads("bkt", "", &key, &id, 1), "page").await;
        let Some(last) = page.last() else { break };
        (key, id) = (last.key.clone(), last.upload_id.clone());
        walked.extend(page.into_iter().map(|u| u.upload_id));
    }
    assert_eq!(walked, ids(&[&a1, &a2, &ab, &b]));
    ok(store.abort_upload(&a2.upload_id), "abort a2").await;
    assert_eq!(list("bkt", "a", "", String::new(), 100).await, ids(&[&a1, &ab]));
    assert!(list("other", "", "", String::new(), 100).await.is_empty());
    let old = ok(store.uploads_initiated_before(now_ms() + 1, 10), "old uploads").await;
    assert_eq!(old.len(), 3);
    assert_eq!(
        ok(store.uploads_initiated_before(now_ms() + 1, 2), "old uploads")
            .await
            .len(),
        2
    );
    assert!(ok(store.uploads_initiated_before(0, 10), "none").await.is_empty());
}

/// An upload needs its bucket; calls on an unknown upload id are `NoSuchUpload` (reads answer
/// nothing).
pub async fn unknown_uploads_and_missing_buckets_are_refused(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let mut u = upload(&store, "k").await;
    u.bucket = "missing".into();
    u.upload_id = "other".into();
    let r = store.create_upload(&u).await;
    assert!(matches!(r, Err(StoreError::NoSuchBucket(_))), "{r:?}");
    assert!(ok(store.upload("nope"), "get unknown").await.is_none());
    assert!(ok(store.parts("nope", 0, 10), "parts of unknown").await.is_empty());
    assert!(ok(store.completed_upload("nope"), "completed unknown").await.is_none());
    let none = WriteCondition::None;
    let r = store.put_part("nope", &part(1, 1), None).await;
    assert!(matches!(r, Err(StoreError::NoSuchUpload(_))), "{r:?}");
    let r = store
        .complete_upload("nope", &ObjectMeta::default(), &none, false)
        .await;
    assert!(matches!(r, Err(StoreError::NoSuchUpload(_))), "{r:?}");
    let r = store.abort_upload("nope").await;
    assert!(matches!(r, Err(StoreError::NoSuchUpload(_))), "{r:?}");
}

/// Parts recorded while a completion runs are either part of it or refused with
/// `NoSuchUpload`: none survives the upload, and usage holds only what cleanup still owes.
pub async fn parts_racing_a_completion_are_never_lost_track_of(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    for _ in 0..20 {
        let u = upload(&store, "race").await;
        std::thread::scope(|s| {
            let writer = s.spawn(|| {
                for n in 1..=50 {
                    match block_on(store.put_part(&u.upload_id, &part(n, 1), None)) {
                        Ok(()) => {}
                        Err(StoreError::NoSuchUpload(_)) => break,
                        Err(e) => panic!("racing part: {e}"),
                    }
                }
            });
            let none = WriteCondition::None;
            let done = loop {
                match block_on(store.complete_upload(&u.upload_id, &object_of(&u, 0), &none, false)) {
                    Err(StoreError::UploadChanged(_)) => continue,
                    other => break other,
                }
            };
            done.want("complete while parts arrive");
            writer.join().unwrap_or_else(|_| panic!("the part writer panicked"));
        });
        // Every part recorded before the completion was removed with it.
        assert!(ok(store.parts(&u.upload_id, 0, 100), "parts").await.is_empty());
        let o = ok(store.get_object("bkt", "race"), "get").await.expect_some("race");
        assert_eq!(o.version, u.version);
        // Usage: the object's 0 bytes plus old versions waiting for cleanup only.
        let pending: u64 = ok(store.due_cleanup(u64::MAX, 1000), "due")
            .await
            .iter()
            .map(|t| t.size)
            .sum();
        assert_eq!(ok(store.usage("b1"), "usage").await, pending);
    }
}
