//! Bucket lifecycle rules and bucket tags on the S3 port in process: rules are kept and read
//! back as set (legacy prefix or filter), what S3 refuses is refused, `x-amz-expiration` tells
//! when an object expires, and passes of the lifecycle worker (run at a chosen time, and the
//! real worker with a shortened day) expire current versions, remove noncurrent versions and
//! lone delete markers, and abort forgotten multipart uploads — never beyond a rule's filter.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::{xml_all, Client, TestServer};

const DAY_MS: u64 = 86_400_000;

fn put_rules(c: &mut Client, bucket: &str, rules: &str) -> common::Response {
    let body = format!("<LifecycleConfiguration>{rules}</LifecycleConfiguration>");
    c.send("PUT", &format!("/{bucket}"), "lifecycle", &[], body.as_bytes())
}

/// One pass of the lifecycle worker as if it were `now_ms`.
fn pass_at(s: &TestServer, now_ms: u64) -> s3o_proxy::lifecycle::Applied {
    s.on_worker(|shared, _| async move {
        let core = s3o_proxy::state::Core::new(shared, s3o_proxy::orchestrator::replicator::WORKER_CORE).unwrap();
        s3o_proxy::lifecycle::run_pass(&core, now_ms).await.unwrap()
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn rules_and_tags_are_kept_and_checked() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(c.put("/logs", b"").status, 200);
    let r = c.send("GET", "/logs", "lifecycle", &[], b"");
    assert_eq!((r.status, r.code()), (404, "NoSuchLifecycleConfiguration".to_string()));
    let rules =
        "<Rule><ID>tmp</ID><Prefix>tmp/</Prefix><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>\
                 <Rule><Filter><And><Prefix>a/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter>\
                 <Status>Disabled</Status><Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration></Rule>";
    let r = put_rules(&mut c, "logs", rules);
    assert_eq!(r.status, 200, "{}", r.text());
    let got = c.send("GET", "/logs", "lifecycle", &[], b"").text();
    assert!(
        got.contains("<Rule><ID>tmp</ID><Prefix>tmp/</Prefix><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"),
        "{got}"
    );
    assert!(got.contains("<ID>rule-1</ID><Filter><And><Prefix>a/</Prefix>"), "{got}");
    for (rules, code) in [
        ("<Rule><ID>x</ID><Prefix/><Status>enabled</Status><Expiration><Days>1</Days></Expiration></Rule>", "MalformedXML"),
        ("<Rule><ID>x</ID><Prefix/><Status>Enabled</Status><Expiration><Days>0</Days></Expiration></Rule>", "InvalidArgument"),
        (
            "<Rule><ID>x</ID><Prefix/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>\
             <Rule><ID>x</ID><Prefix/><Status>Enabled</Status><Expiration><Days>2</Days></Expiration></Rule>",
            "InvalidArgument",
        ),
        (
            "<Rule><ID>x</ID><Prefix/><Status>Enabled</Status><Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition></Rule>",
            "NotImplemented",
        ),
    ] {
        assert_eq!(put_rules(&mut c, "logs", rules).code(), code, "{rules}");
    }
    assert_eq!(c.send("DELETE", "/logs", "lifecycle", &[], b"").status, 204);
    assert_eq!(c.send("DELETE", "/logs", "lifecycle", &[], b"").status, 204);
    assert_eq!(
        c.send("GET", "/logs", "lifecycle", &[], b"").code(),
        "NoSuchLifecycleConfiguration"
    );

    // Bucket tags.
    assert_eq!(c.send("GET", "/logs", "tagging", &[], b"").code(), "NoSuchTagSet");
    let tags = "<Tagging><TagSet><Tag><Key>team</Key><Value>ops</Value></Tag></TagSet></Tagging>";
    assert_eq!(c.send("PUT", "/logs", "tagging", &[], tags.as_bytes()).status, 204);
    let got = c.send("GET", "/logs", "tagging", &[], b"").text();
    assert_eq!(xml_all(&got, "Key"), vec!["team"]);
    let bad = "<Tagging><TagSet><Tag><Key>aws:x</Key><Value>1</Value></Tag></TagSet></Tagging>";
    assert_eq!(
        c.send("PUT", "/logs", "tagging", &[], bad.as_bytes()).code(),
        "InvalidTag"
    );
    assert_eq!(c.send("DELETE", "/logs", "tagging", &[], b"").status, 204);
    assert_eq!(c.send("GET", "/logs", "tagging", &[], b"").code(), "NoSuchTagSet");
}

#[test]
fn passes_expire_what_the_rules_cover_and_nothing_else() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(c.put("/plain", b"").status, 200);
    let rules = "<Rule><ID>tmp</ID><Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>2</Days></Expiration>\
                 <AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>\
                 <Rule><ID>off</ID><Prefix>keep/</Prefix><Status>Disabled</Status><Expiration><Days>1</Days></Expiration></Rule>";
    assert_eq!(put_rules(&mut c, "plain", rules).status, 200);
    let put = c.put("/plain/tmp/a", b"a");
    let header = put.header("x-amz-expiration").unwrap_or_default().to_string();
    assert!(
        header.starts_with("expiry-date=\"") && header.ends_with("rule-id=\"tmp\""),
        "{header}"
    );
    assert!(c.put("/plain/keep/b", b"b").header("x-amz-expiration").is_none());
    assert_eq!(c.put("/plain/tmpfile", b"c").status, 200);
    let head = c.send("HEAD", "/plain/tmp/a", "", &[], b"");
    assert_eq!(head.header("x-amz-expiration"), Some(header.as_str()));
    let up = c.send("POST", "/plain/tmp/big", "uploads", &[], b"");
    assert_eq!(up.status, 200);

    // Just short of two days on (days end at midnight UTC): nothing due yet but the upload.
    let applied = pass_at(&s, now_ms() + 2 * DAY_MS - 1_000);
    assert_eq!((applied.expired, applied.aborted), (0, 1));
    assert_eq!(c.get("/plain/tmp/a").text(), "a");
    // Three days on: tmp/a goes; keep/b (rule disabled) and tmpfile (outside the prefix) stay.
    let applied = pass_at(&s, now_ms() + 3 * DAY_MS);
    assert_eq!(applied.expired, 1);
    assert_eq!(c.get("/plain/tmp/a").code(), "NoSuchKey");
    assert_eq!(c.get("/plain/keep/b").text(), "b");
    assert_eq!(c.get("/plain/tmpfile").text(), "c");
}

#[test]
fn versioned_buckets_keep_history_as_the_rules_say() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(c.put("/hist", b"").status, 200);
    let on = "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
    assert_eq!(c.send("PUT", "/hist", "versioning", &[], on.as_bytes()).status, 200);
    let rules = "<Rule><ID>cur</ID><Prefix>cur/</Prefix><Status>Enabled</Status><Expiration><Days>5</Days></Expiration></Rule>\
                 <Rule><ID>old</ID><Prefix>old/</Prefix><Status>Enabled</Status>\
                 <NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>1</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule>\
                 <Rule><ID>markers</ID><Prefix>gone/</Prefix><Status>Enabled</Status>\
                 <Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>";
    assert_eq!(put_rules(&mut c, "hist", rules).status, 200);
    for body in ["1", "2", "3"] {
        assert_eq!(c.put("/hist/old/f", body.as_bytes()).status, 200);
    }
    assert_eq!(c.put("/hist/cur/f", b"x").status, 200);
    assert_eq!(c.put("/hist/gone/f", b"y").status, 200);
    // gone/f: its only version removed for good, then deleted: a lone marker is left.
    let versions = c.send("GET", "/hist", "versions&prefix=gone/", &[], b"").text();
    let id = xml_all(&versions, "VersionId")[0].clone();
    let q = format!("versionId={id}");
    assert_eq!(c.send("DELETE", "/hist/gone/f", &q, &[], b"").status, 204);
    assert_eq!(c.send("DELETE", "/hist/gone/f", "", &[], b"").status, 204);

    let applied = pass_at(&s, now_ms() + 2 * DAY_MS);
    // old/f: of its two noncurrent versions the newer is kept, the older removed.
    let old = c.send("GET", "/hist", "versions&prefix=old/", &[], b"").text();
    assert_eq!(xml_all(&old, "VersionId").len(), 2, "{old}");
    assert_eq!(c.get("/hist/old/f").text(), "3");
    // The lone marker is gone; cur/f (5 days) untouched.
    let gone = c.send("GET", "/hist", "versions&prefix=gone/", &[], b"").text();
    assert!(xml_all(&gone, "VersionId").is_empty(), "{gone}");
    assert_eq!(c.get("/hist/cur/f").text(), "x");
    assert_eq!((applied.removed, applied.expired), (2, 0));
    // Six days on, cur/f expires behind a delete marker; its bytes stay as a noncurrent version.
    let applied = pass_at(&s, now_ms() + 6 * DAY_MS);
    assert_eq!(applied.expired, 1);
    assert_eq!(c.get("/hist/cur/f").code(), "NoSuchKey");
    let cur = c.send("GET", "/hist", "versions&prefix=cur/", &[], b"").text();
    assert_eq!(
        xml_all(&cur, "DeleteMarker").len() + xml_all(&cur, "Version").len(),
        2,
        "{cur}"
    );
}

#[test]
fn the_worker_applies_rules_with_a_shortened_day() {
    let s = TestServer::start_with("\n[lifecycle]\ninterval_secs = 1\nday_secs = 1\n");
    let mut c = s.client();
    assert_eq!(c.put("/fast", b"").status, 200);
    let rules =
        "<Rule><ID>r</ID><Prefix>x/</Prefix><Status>Enabled</Status><Expiration><Days>2</Days></Expiration></Rule>";
    assert_eq!(put_rules(&mut c, "fast", rules).status, 200);
    assert_eq!(c.put("/fast/x/1", b"1").status, 200);
    assert_eq!(c.put("/fast/y/1", b"1").status, 200);
    let deadline = Instant::now() + Duration::from_secs(15);
    while c.get("/fast/x/1").status == 200 {
        assert!(Instant::now() < deadline, "x/1 never expired");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(c.get("/fast/y/1").text(), "1");
}
