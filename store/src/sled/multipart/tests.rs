//! Tests of multipart uploads in the store: usage accounting, listing order and markers,
//! completion and abort, conditions, and races with parts arriving.

use super::*;
use crate::model::Location;

fn store() -> Store {
    let store = Store::temporary().unwrap();
    store.create_bucket("bkt", "AK").unwrap().wait().unwrap();
    store
}

fn upload(store: &Store, key: &str) -> Upload {
    let version = store.next_version().unwrap();
    let u = Upload {
        upload_id: format!("{version:016x}"),
        bucket: "bkt".into(),
        key: key.into(),
        backend: "b1".into(),
        physical_key: crate::physical_key_for("bkt", key, version),
        version,
        backend_upload_id: format!("native-{version}"),
        initiated_ms: now_ms(),
        owner: "AK".into(),
        ..Upload::default()
    };
    store.create_upload(&u).unwrap().wait().unwrap();
    u
}

fn part(number: u32, size: u64) -> Part {
    Part {
        number,
        size,
        etag: format!("\"{number:032x}\""),
        last_modified_ms: now_ms(),
        ..Part::default()
    }
}

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

#[test]
fn parts_count_in_usage_and_complete_moves_them_to_the_object() {
    let store = store();
    let u = upload(&store, "k");
    assert_eq!(store.upload(&u.upload_id).unwrap().as_ref(), Some(&u));
    store
        .put_part(&u.upload_id, &part(1, 100), None)
        .unwrap()
        .wait()
        .unwrap();
    store
        .put_part(&u.upload_id, &part(2, 50), None)
        .unwrap()
        .wait()
        .unwrap();
    // Replacing part 2 counts only the new bytes.
    store
        .put_part(&u.upload_id, &part(2, 70), None)
        .unwrap()
        .wait()
        .unwrap();
    store.put_part(&u.upload_id, &part(3, 5), None).unwrap().wait().unwrap();
    assert_eq!(store.usage("b1").unwrap(), 175);
    let parts = store.parts(&u.upload_id, 0, 100).unwrap();
    assert_eq!(
        parts.iter().map(|p| (p.number, p.size)).collect::<Vec<_>>(),
        [(1, 100), (2, 70), (3, 5)]
    );
    assert_eq!(store.parts(&u.upload_id, 1, 1).unwrap()[0].number, 2);
    assert!(store.parts(&u.upload_id, 3, 10).unwrap().is_empty());
    // Complete with parts 1 and 2 only: part 3's bytes leave usage with the upload.
    store
        .complete_upload(&u.upload_id, &object_of(&u, 170), &WriteCondition::None, false)
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(store.usage("b1").unwrap(), 170);
    assert!(store.upload(&u.upload_id).unwrap().is_none());
    assert!(store.parts(&u.upload_id, 0, 100).unwrap().is_empty());
    assert_eq!(store.get_object("bkt", "k").unwrap().unwrap().size, 170);
    assert_eq!(store.cleanup_len(), 0);
    let done = store.completed_upload(&u.upload_id).unwrap().unwrap();
    assert_eq!(
        (done.bucket.as_str(), done.key.as_str(), done.etag.as_str()),
        ("bkt", "k", "\"x-2\"")
    );
    assert_eq!(store.forget_completed_before(0).unwrap(), 0);
    assert_eq!(store.forget_completed_before(u64::MAX).unwrap(), 1);
    assert!(store.completed_upload(&u.upload_id).unwrap().is_none());
    assert!(matches!(
        store.complete_upload(&u.upload_id, &object_of(&u, 1), &WriteCondition::None, false),
        Err(StoreError::NoSuchUpload(_))
    ));
    assert!(matches!(
        store.put_part(&u.upload_id, &part(1, 1), None),
        Err(StoreError::NoSuchUpload(_))
    ));
}

#[test]
fn abort_queues_the_backend_upload_and_releases_usage_when_done() {
    let store = store();
    let u = upload(&store, "k");
    store
        .put_part(&u.upload_id, &part(1, 10), None)
        .unwrap()
        .wait()
        .unwrap();
    let (gone, t) = store.abort_upload(&u.upload_id).unwrap();
    t.wait().unwrap();
    assert_eq!(gone.upload_id, u.upload_id);
    assert!(store.upload(&u.upload_id).unwrap().is_none());
    let tasks = store.due_cleanup(u64::MAX, 10).unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].upload_id.as_deref(), Some(u.backend_upload_id.as_str()));
    assert_eq!((tasks[0].size, tasks[0].accounting), (10, Accounting::Committed));
    assert_eq!(store.usage("b1").unwrap(), 10);
    store.complete_cleanup(tasks[0].id).unwrap().wait().unwrap();
    assert_eq!(store.usage("b1").unwrap(), 0);
    assert!(matches!(
        store.abort_upload(&u.upload_id),
        Err(StoreError::NoSuchUpload(_))
    ));
}

#[test]
fn completion_checks_the_condition_and_can_queue_separate_parts() {
    let store = store();
    let first = upload(&store, "k");
    store
        .complete_upload(&first.upload_id, &object_of(&first, 0), &WriteCondition::IfAbsent, true)
        .unwrap()
        .wait()
        .unwrap();
    let tasks = store.due_cleanup(u64::MAX, 10).unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].accounting, Accounting::Uncommitted);
    let second = upload(&store, "k");
    assert!(matches!(
        store.complete_upload(
            &second.upload_id,
            &object_of(&second, 0),
            &WriteCondition::IfAbsent,
            false
        ),
        Err(StoreError::PreconditionFailed { .. })
    ));
    // A failed condition leaves the upload in place, to be retried or aborted.
    assert!(store.upload(&second.upload_id).unwrap().is_some());
    store
        .complete_upload(
            &second.upload_id,
            &object_of(&second, 0),
            &WriteCondition::IfMatch("\"x-2\"".into()),
            false,
        )
        .unwrap()
        .wait()
        .unwrap();
}

#[test]
fn listing_follows_key_then_upload_order_with_markers_and_prefix() {
    let store = store();
    let a1 = upload(&store, "a");
    let a2 = upload(&store, "a");
    let ab = upload(&store, "a/b");
    let b = upload(&store, "b");
    let ids = |it: UploadListing| it.map(|u| u.unwrap().upload_id).collect::<Vec<_>>();
    let all = ids(store.list_uploads("bkt", "", "", "").unwrap());
    assert_eq!(
        all,
        [
            a1.upload_id.clone(),
            a2.upload_id.clone(),
            ab.upload_id.clone(),
            b.upload_id.clone()
        ]
    );
    let after_a = ids(store.list_uploads("bkt", "", "a", "").unwrap());
    assert_eq!(after_a, [ab.upload_id.clone(), b.upload_id.clone()]);
    let after_a1 = ids(store.list_uploads("bkt", "", "a", &a1.upload_id).unwrap());
    assert_eq!(
        after_a1,
        [a2.upload_id.clone(), ab.upload_id.clone(), b.upload_id.clone()]
    );
    let prefixed = ids(store.list_uploads("bkt", "a/", "", "").unwrap());
    assert_eq!(prefixed, std::slice::from_ref(&ab.upload_id));
    store.abort_upload(&a2.upload_id).unwrap().1.wait().unwrap();
    assert_eq!(ids(store.list_uploads("bkt", "a", "", "").unwrap()).len(), 2);
    assert!(ids(store.list_uploads("other", "", "", "").unwrap()).is_empty());
    let old = store.uploads_initiated_before(now_ms() + 1, 10).unwrap();
    assert_eq!(old.len(), 3);
    assert!(store.uploads_initiated_before(0, 10).unwrap().is_empty());
}

#[test]
fn uploads_need_their_bucket() {
    let store = store();
    let mut u = upload(&store, "k");
    u.bucket = "missing".into();
    u.upload_id = "other".into();
    assert!(matches!(store.create_upload(&u), Err(StoreError::NoSuchBucket(_))));
}

#[test]
fn parts_racing_a_completion_are_never_lost_track_of() {
    let store = store();
    for _ in 0..20 {
        let u = upload(&store, "race");
        let writer = {
            let store = store.clone();
            let id = u.upload_id.clone();
            std::thread::spawn(move || {
                let mut recorded = 0u64;
                for n in 1..=50 {
                    match store.put_part(&id, &part(n, 1), None) {
                        Ok(t) => {
                            t.wait().unwrap();
                            recorded += 1;
                        }
                        Err(StoreError::NoSuchUpload(_)) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
                recorded
            })
        };
        store
            .complete_upload(&u.upload_id, &object_of(&u, 0), &WriteCondition::None, false)
            .unwrap()
            .wait()
            .unwrap();
        writer.join().unwrap();
        // Every part recorded before the completion was removed with it.
        assert!(store.parts(&u.upload_id, 0, 100).unwrap().is_empty());
        let o = store.get_object("bkt", "race").unwrap().unwrap();
        assert_eq!(o.version, u.version);
        // Usage: the object's 0 bytes plus old versions waiting for cleanup only.
        let pending: u64 = store.due_cleanup(u64::MAX, 1000).unwrap().iter().map(|t| t.size).sum();
        assert_eq!(store.usage("b1").unwrap(), pending);
    }
}

#[test]
fn tags_replace_on_the_current_version_only() {
    let store = store();
    assert!(matches!(
        store.set_tags("bkt", "k", vec![]),
        Err(StoreError::NoSuchKey { .. })
    ));
    let u = upload(&store, "k");
    store
        .complete_upload(&u.upload_id, &object_of(&u, 0), &WriteCondition::None, false)
        .unwrap()
        .wait()
        .unwrap();
    store
        .set_tags("bkt", "k", vec![("a".into(), "1".into())])
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(
        store.get_object("bkt", "k").unwrap().unwrap().tags,
        [("a".to_string(), "1".to_string())]
    );
}
