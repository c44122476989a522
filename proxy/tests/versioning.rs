//! In-process tests of versioning and object lock as S3 clients see them, over `fs` backends:
//! bucket versioning states, version ids, delete markers, ListObjectVersions, reads, copies,
//! tags and deletes by version, DeleteObjects with versions, and object lock (bucket default
//! retention, retention and legal holds, governance bypass for a permitted caller only).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{xml_all, xml_one, Client, Response, TempDir, TestServer};

/// A second read-write key that may create buckets but not bypass governance retention.
const PLAIN_AK: &str = "AKIAPLAINWRITER00001";
const PLAIN_SK: &str = "plain-writer-secret-key-000000000000000";

fn start() -> TestServer {
    let dir = TempDir::new("versioning");
    let extra =
        format!("\n[[credentials]]\naccess_key = \"{PLAIN_AK}\"\nsecret_key = \"{PLAIN_SK}\"\ncreate_buckets = true\n");
    let text = common::config_text(&dir.0, &extra)
        .replace("quota_bytes = 1048576", "quota_bytes = 1073741824")
        .replacen(
            "create_buckets = true",
            "create_buckets = true\nbypass_governance = true",
            1,
        );
    TestServer::start_config(dir, &text)
}

fn status(r: &Response) -> (u16, String) {
    (r.status, r.code())
}

fn set_versioning(c: &mut Client, bucket: &str, state: &str) -> Response {
    let body = format!("<VersioningConfiguration><Status>{state}</Status></VersioningConfiguration>");
    c.send("PUT", &format!("/{bucket}"), "versioning", &[], body.as_bytes())
}

fn put(c: &mut Client, path: &str, body: &[u8]) -> String {
    let r = c.put(path, body);
    assert_eq!(r.status, 200, "{}", r.text());
    r.header("x-amz-version-id").unwrap_or("").to_owned()
}

/// (key, version id, is latest, delete marker) of every entry of ListObjectVersions.
fn versions(c: &mut Client, bucket: &str, query: &str) -> Vec<(String, String, bool, bool)> {
    let q = if query.is_empty() {
        "versions".to_owned()
    } else {
        format!("versions&{query}")
    };
    let r = c.send("GET", &format!("/{bucket}"), &q, &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let mut out = Vec::new();
    // Entries in document order: split on either tag.
    let mut rest = text.as_str();
    while let Some(i) = rest
        .find("<Version>")
        .into_iter()
        .chain(rest.find("<DeleteMarker>"))
        .min()
    {
        let marker = rest[i..].starts_with("<DeleteMarker>");
        let close = if marker { "</DeleteMarker>" } else { "</Version>" };
        let end = rest[i..].find(close).unwrap() + i;
        let entry = &rest[i..end];
        out.push((
            xml_one(entry, "Key").unwrap(),
            xml_one(entry, "VersionId").unwrap(),
            xml_one(entry, "IsLatest").unwrap() == "true",
            marker,
        ));
        rest = &rest[end..];
    }
    out
}

#[test]
fn versions_are_kept_read_listed_and_deleted_one_by_one() {
    let srv = start();
    let mut c = srv.client();
    assert_eq!(c.send("PUT", "/ver", "", &[], b"").status, 200);
    let r = c.send("GET", "/ver", "versioning", &[], b"");
    assert_eq!(xml_one(&r.text(), "Status"), None, "never enabled: no Status");
    let v0 = put(&mut c, "/ver/k", b"zero");
    assert_eq!(v0, "", "no version id before versioning");
    assert_eq!(
        status(&set_versioning(&mut c, "ver", "Bogus")),
        (400, "MalformedXML".into())
    );
    assert_eq!(set_versioning(&mut c, "ver", "Enabled").status, 200);
    let r = c.send("GET", "/ver", "versioning", &[], b"");
    assert_eq!(xml_one(&r.text(), "Status").as_deref(), Some("Enabled"));
    let v1 = put(&mut c, "/ver/k", b"one");
    let v2 = put(&mut c, "/ver/k", b"two");
    assert!(!v1.is_empty() && v1 != v2 && v1 != "null");
    assert_eq!(c.get("/ver/k").text(), "two");
    let r = c.send("GET", "/ver/k", &format!("versionId={v1}"), &[], b"");
    assert_eq!(
        (r.status, r.text(), r.header("x-amz-version-id")),
        (200, "one".into(), Some(v1.as_str()))
    );
    let r = c.send("GET", "/ver/k", "versionId=null", &[], b"");
    assert_eq!(
        (r.status, r.text()),
        (200, "zero".into()),
        "the object from before versioning"
    );
    let r = c.send("GET", "/ver/k", "versionId=ffffffffffffffff", &[], b"");
    assert_eq!(status(&r), (404, "NoSuchVersion".into()));
    let r = c.send("GET", "/ver/k", "versionId=not-ours", &[], b"");
    assert_eq!(status(&r), (400, "InvalidArgument".into()));

    // A delete adds a marker; the key reads as gone, the marker by id as 405.
    let r = c.send("DELETE", "/ver/k", "", &[], b"");
    assert_eq!((r.status, r.header("x-amz-delete-marker")), (204, Some("true")));
    let marker = r.header("x-amz-version-id").unwrap().to_owned();
    let r = c.get("/ver/k");
    assert_eq!(status(&r), (404, "NoSuchKey".into()));
    assert_eq!(r.header("x-amz-delete-marker"), Some("true"));
    let r = c.send("HEAD", "/ver/k", &format!("versionId={marker}"), &[], b"");
    assert_eq!(r.status, 405);
    let listed = versions(&mut c, "ver", "");
    let want = [(&marker, true, true), (&v2, false, false), (&v1, false, false)];
    assert_eq!(listed.len(), 4, "{listed:?}");
    for ((key, id, latest, is_marker), (want_id, want_latest, want_marker)) in listed.iter().zip(want) {
        assert_eq!(
            (key.as_str(), id, *latest, *is_marker),
            ("k", want_id, want_latest, want_marker)
        );
    }
    assert_eq!(listed[3].1, "null");
    assert_eq!(
        status(&c.send("DELETE", "/ver", "", &[], b"")),
        (409, "BucketNotEmpty".into())
    );

    // Removing the marker brings v2 back; removing versions one by one empties the bucket.
    let r = c.send("DELETE", "/ver/k", &format!("versionId={marker}"), &[], b"");
    assert_eq!((r.status, r.header("x-amz-delete-marker")), (204, Some("true")));
    assert_eq!(c.get("/ver/k").text(), "two");
    for id in [&v2, &v1, &"null".to_owned()] {
        let r = c.send("DELETE", "/ver/k", &format!("versionId={id}"), &[], b"");
        assert_eq!((r.status, r.header("x-amz-version-id")), (204, Some(id.as_str())));
    }
    assert!(versions(&mut c, "ver", "").is_empty());
    assert_eq!(c.send("DELETE", "/ver", "", &[], b"").status, 204);
}

#[test]
fn suspended_versioning_replaces_the_null_version_only() {
    let srv = start();
    let mut c = srv.client();
    assert_eq!(c.send("PUT", "/sus", "", &[], b"").status, 200);
    set_versioning(&mut c, "sus", "Enabled");
    let v1 = put(&mut c, "/sus/k", b"one");
    assert_eq!(set_versioning(&mut c, "sus", "Suspended").status, 200);
    assert_eq!(
        put(&mut c, "/sus/k", b"null-a"),
        "",
        "S3 names no version of a suspended bucket"
    );
    assert_eq!(put(&mut c, "/sus/k", b"null-b"), "");
    let listed = versions(&mut c, "sus", "");
    let ids: Vec<&str> = listed.iter().map(|(_, id, _, _)| id.as_str()).collect();
    assert_eq!(ids, ["null", v1.as_str()], "one null version, the enabled one kept");
    assert_eq!(c.send("GET", "/sus/k", "versionId=null", &[], b"").text(), "null-b");
    let r = c.send("DELETE", "/sus/k", "", &[], b"");
    assert_eq!(
        (r.header("x-amz-delete-marker"), r.header("x-amz-version-id")),
        (Some("true"), Some("null"))
    );
    let listed = versions(&mut c, "sus", "");
    assert_eq!(listed.len(), 2, "the null marker replaced the null version: {listed:?}");
    assert!(listed[0].3 && listed[0].1 == "null");
}

#[test]
fn listing_pages_with_markers_tags_copies_and_multi_delete_by_version() {
    let srv = start();
    let mut c = srv.client();
    assert_eq!(c.send("PUT", "/pgs", "", &[], b"").status, 200);
    set_versioning(&mut c, "pgs", "Enabled");
    let mut ids = Vec::new();
    for key in ["a", "b", "c"] {
        for i in 0..3 {
            ids.push((
                key.to_owned(),
                put(&mut c, &format!("/pgs/{key}"), format!("{key}{i}").as_bytes()),
            ));
        }
    }
    let all = versions(&mut c, "pgs", "");
    assert_eq!(all.len(), 9);
    let mut paged = Vec::new();
    let mut query = "max-keys=2".to_owned();
    for _ in 0..10 {
        let r = c.send("GET", "/pgs", &format!("versions&{query}"), &[], b"");
        let text = r.text();
        paged.extend(xml_all(&text, "VersionId"));
        if xml_one(&text, "IsTruncated").as_deref() != Some("true") {
            break;
        }
        let (k, v) = (
            xml_one(&text, "NextKeyMarker").unwrap(),
            xml_one(&text, "NextVersionIdMarker").unwrap(),
        );
        query = format!("max-keys=2&key-marker={k}&version-id-marker={v}");
    }
    let want: Vec<String> = all.iter().map(|(_, id, _, _)| id.clone()).collect();
    assert_eq!(paged, want, "pages of 2 walk every version once, in order");
    let r = c.send("GET", "/pgs", "versions&version-id-marker=x", &[], b"");
    assert_eq!(status(&r), (400, "InvalidArgument".into()));

    // Tags by version; a copy from an old version; that version's bytes copied, not the latest's.
    let old = &ids[0].1;
    let tags = b"<Tagging><TagSet><Tag><Key>t</Key><Value>old</Value></Tag></TagSet></Tagging>";
    let r = c.send("PUT", "/pgs/a", &format!("tagging&versionId={old}"), &[], tags);
    assert_eq!((r.status, r.header("x-amz-version-id")), (200, Some(old.as_str())));
    let r = c.send("GET", "/pgs/a", &format!("tagging&versionId={old}"), &[], b"");
    assert!(r.text().contains("<Value>old</Value>"));
    assert!(
        !c.send("GET", "/pgs/a", "tagging", &[], b"").text().contains("old"),
        "the latest keeps its tags"
    );
    let src = format!("/pgs/a?versionId={old}");
    let r = c.send("PUT", "/pgs/copy", "", &[("x-amz-copy-source", src.as_str())], b"");
    assert_eq!(
        (r.status, r.header("x-amz-copy-source-version-id")),
        (200, Some(old.as_str()))
    );
    assert!(r.header("x-amz-version-id").is_some());
    assert_eq!(c.get("/pgs/copy").text(), "a0");

    // DeleteObjects: one version by id, one key without (a marker).
    let (b0, c_key) = (&ids[3].1, "c");
    let body = format!(
        "<Delete><Object><Key>b</Key><VersionId>{b0}</VersionId></Object><Object><Key>{c_key}</Key></Object></Delete>"
    );
    let md5 = common::md5_b64(body.as_bytes());
    let r = c.send(
        "POST",
        "/pgs",
        "delete",
        &[("content-md5", md5.as_str())],
        body.as_bytes(),
    );
    let text = r.text();
    assert_eq!(r.status, 200, "{text}");
    let deleted = xml_all(&text, "Deleted");
    assert_eq!(deleted.len(), 2, "{text}");
    assert_eq!(xml_one(&deleted[0], "VersionId").as_deref(), Some(b0.as_str()));
    assert_eq!(xml_one(&deleted[1], "DeleteMarker").as_deref(), Some("true"));
    assert!(xml_one(&deleted[1], "DeleteMarkerVersionId").is_some());
    let b_versions = versions(&mut c, "pgs", "prefix=b");
    assert!(b_versions.iter().all(|(_, id, _, _)| id != b0), "{b_versions:?}");
    assert_eq!(status(&c.get("/pgs/c")), (404, "NoSuchKey".into()));
}

#[test]
fn object_lock_keeps_versions_until_their_retention_and_holds_end() {
    let srv = start();
    let mut c = srv.client();
    let mut plain = Client::new(srv.addr, PLAIN_AK, PLAIN_SK);
    // Lock needs versioning; a bucket made with lock has both.
    assert_eq!(c.send("PUT", "/nolock", "", &[], b"").status, 200);
    let retain =
        b"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2099-01-01T00:00:00Z</RetainUntilDate></Retention>";
    put(&mut c, "/nolock/k", b"x");
    assert_eq!(
        status(&c.send("PUT", "/nolock/k", "retention", &[], retain)),
        (400, "InvalidRequest".into())
    );
    let lock = b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>";
    assert_eq!(
        status(&c.send("PUT", "/nolock", "object-lock", &[], lock)),
        (409, "InvalidBucketState".into())
    );
    let r = c.send(
        "PUT",
        "/locked",
        "",
        &[("x-amz-bucket-object-lock-enabled", "true")],
        b"",
    );
    assert_eq!(r.status, 200);
    let r = c.send("GET", "/locked", "versioning", &[], b"");
    assert_eq!(xml_one(&r.text(), "Status").as_deref(), Some("Enabled"));
    assert_eq!(
        status(&set_versioning(&mut c, "locked", "Suspended")),
        (409, "InvalidBucketState".into())
    );
    let zero = b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention>\
                 <Mode>GOVERNANCE</Mode><Days>0</Days></DefaultRetention></Rule></ObjectLockConfiguration>";
    assert_eq!(
        status(&c.send("PUT", "/locked", "object-lock", &[], zero)),
        (400, "InvalidRetentionPeriod".into())
    );

    // Governance retention: refused without bypass, and with bypass from a caller not allowed it.
    let id = put(&mut c, "/locked/gov", b"g");
    let q = format!("retention&versionId={id}");
    assert_eq!(c.send("PUT", "/locked/gov", &q, &[], retain).status, 200);
    let r = c.send("GET", "/locked/gov", &q, &[], b"");
    assert_eq!(xml_one(&r.text(), "Mode").as_deref(), Some("GOVERNANCE"));
    let head = c.send("HEAD", "/locked/gov", "", &[], b"");
    assert_eq!(head.header("x-amz-object-lock-mode"), Some("GOVERNANCE"));
    let by_id = format!("versionId={id}");
    let bypass = [("x-amz-bypass-governance-retention", "true")];
    assert_eq!(
        status(&c.send("DELETE", "/locked/gov", &by_id, &[], b"")),
        (403, "AccessDenied".into())
    );
    assert_eq!(
        status(&plain.send("DELETE", "/locked/gov", &by_id, &bypass, b"")),
        (403, "AccessDenied".into())
    );
    assert_eq!(c.send("DELETE", "/locked/gov", &by_id, &bypass, b"").status, 204);

    // Compliance retention (from the object's headers): no one removes it, bypass or not.
    let until = [
        ("x-amz-object-lock-mode", "COMPLIANCE"),
        ("x-amz-object-lock-retain-until-date", "2099-01-01T00:00:00Z"),
    ];
    let r = c.send("PUT", "/locked/comp", "", &until, b"c");
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.header("x-amz-version-id").unwrap().to_owned();
    let by_id = format!("versionId={id}");
    assert_eq!(c.send("DELETE", "/locked/comp", &by_id, &bypass, b"").status, 403);
    let shorter =
        b"<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>2098-01-01T00:00:00Z</RetainUntilDate></Retention>";
    let q = format!("retention&{by_id}");
    assert_eq!(c.send("PUT", "/locked/comp", &q, &bypass, shorter).status, 403);
    // A delete without a version id only adds a marker: the locked version stays readable.
    assert_eq!(c.send("DELETE", "/locked/comp", "", &[], b"").status, 204);
    assert_eq!(c.send("GET", "/locked/comp", &by_id, &[], b"").text(), "c");

    // A legal hold blocks even the permitted bypass until it is lifted.
    let id = put(&mut c, "/locked/held", b"h");
    let by_id = format!("versionId={id}");
    let on = b"<LegalHold><Status>ON</Status></LegalHold>";
    let off = b"<LegalHold><Status>OFF</Status></LegalHold>";
    assert_eq!(
        c.send("PUT", "/locked/held", &format!("legal-hold&{by_id}"), &[], on)
            .status,
        200
    );
    let r = c.send("GET", "/locked/held", &format!("legal-hold&{by_id}"), &[], b"");
    assert_eq!(xml_one(&r.text(), "Status").as_deref(), Some("ON"));
    assert_eq!(c.send("DELETE", "/locked/held", &by_id, &bypass, b"").status, 403);
    assert_eq!(
        c.send("PUT", "/locked/held", &format!("legal-hold&{by_id}"), &[], off)
            .status,
        200
    );
    assert_eq!(c.send("DELETE", "/locked/held", &by_id, &[], b"").status, 204);

    // A bucket default retention applies to new versions that ask for none.
    let days = b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention>\
                 <Mode>GOVERNANCE</Mode><Days>1</Days></DefaultRetention></Rule></ObjectLockConfiguration>";
    assert_eq!(c.send("PUT", "/locked", "object-lock", &[], days).status, 200);
    let r = c.send("GET", "/locked", "object-lock", &[], b"");
    assert_eq!(xml_one(&r.text(), "Days").as_deref(), Some("1"));
    let id = put(&mut c, "/locked/default", b"d");
    let r = c.send("GET", "/locked/default", &format!("retention&versionId={id}"), &[], b"");
    assert_eq!(
        xml_one(&r.text(), "Mode").as_deref(),
        Some("GOVERNANCE"),
        "{}",
        r.text()
    );
    assert_eq!(
        c.send("DELETE", "/locked/default", &format!("versionId={id}"), &[], b"")
            .status,
        403
    );
}

#[test]
fn lock_requests_need_a_locked_bucket_and_well_formed_documents() {
    let srv = start();
    let mut c = srv.client();
    assert_eq!(c.send("PUT", "/plain", "", &[], b"").status, 200);
    let r = c.send("GET", "/plain", "object-lock", &[], b"");
    assert_eq!(status(&r), (404, "ObjectLockConfigurationNotFoundError".into()));
    let headers = [("x-amz-object-lock-legal-hold", "ON")];
    assert_eq!(
        status(&c.send("PUT", "/plain/k", "", &headers, b"x")),
        (400, "InvalidRequest".into())
    );
    assert_eq!(
        c.send("PUT", "/lck", "", &[("x-amz-bucket-object-lock-enabled", "true")], b"")
            .status,
        200
    );
    let half = [("x-amz-object-lock-mode", "GOVERNANCE")];
    assert_eq!(
        status(&c.send("PUT", "/lck/k", "", &half, b"x")),
        (400, "InvalidArgument".into())
    );
    let past = [
        ("x-amz-object-lock-mode", "GOVERNANCE"),
        ("x-amz-object-lock-retain-until-date", "2000-01-01T00:00:00Z"),
    ];
    assert_eq!(
        status(&c.send("PUT", "/lck/k", "", &past, b"x")),
        (400, "InvalidArgument".into())
    );
    put(&mut c, "/lck/k", b"x");
    let bad = b"<Retention><Mode>governance</Mode><RetainUntilDate>2099-01-01T00:00:00Z</RetainUntilDate></Retention>";
    assert_eq!(
        status(&c.send("PUT", "/lck/k", "retention", &[], bad)),
        (400, "MalformedXML".into())
    );
    let bad = b"<LegalHold><Status>maybe</Status></LegalHold>";
    assert_eq!(
        status(&c.send("PUT", "/lck/k", "legal-hold", &[], bad)),
        (400, "MalformedXML".into())
    );
    let r = c.send("GET", "/lck/k", "retention", &[], b"");
    assert_eq!(r.status, 404, "no retention yet: {}", r.text());
    // The read-only key may read lock settings but not change them.
    let mut ro = Client::new(srv.addr, common::RO_AK, common::RO_SK);
    assert_eq!(ro.send("PUT", "/lck", "versioning", &[], b"").status, 403);
}

#[test]
fn no_worker_removes_the_bytes_of_a_kept_or_locked_version() {
    let srv = start();
    let mut c = srv.client();
    assert_eq!(
        c.send("PUT", "/safe", "", &[("x-amz-bucket-object-lock-enabled", "true")], b"")
            .status,
        200
    );
    let until = [
        ("x-amz-object-lock-mode", "COMPLIANCE"),
        ("x-amz-object-lock-retain-until-date", "2099-01-01T00:00:00Z"),
    ];
    let r = c.send("PUT", "/safe/k", "", &until, b"locked bytes");
    let locked = r.header("x-amz-version-id").unwrap().to_owned();
    // Overwrites and deletes: every earlier version stays, under delete markers.
    let kept = put(&mut c, "/safe/k", b"kept bytes");
    for _ in 0..3 {
        assert_eq!(c.send("DELETE", "/safe/k", "", &[], b"").status, 204);
        put(&mut c, "/safe/k", b"newer");
    }
    let before = srv.backend_files("a").len() + srv.backend_files("b").len();
    // The cleanup queue, run as if years had passed, finds nothing of these versions to delete.
    srv.run_cleanup_at(u64::MAX / 4);
    let after = srv.backend_files("a").len() + srv.backend_files("b").len();
    assert_eq!(after, before, "no version's bytes were deleted");
    for (id, want) in [(&locked, "locked bytes"), (&kept, "kept bytes")] {
        let r = c.send("GET", "/safe/k", &format!("versionId={id}"), &[], b"");
        assert_eq!((r.status, r.text()), (200, want.to_owned()));
    }
    // Removing a version deletes its bytes once the cleanup runs; a locked one cannot be removed.
    assert_eq!(
        c.send("DELETE", "/safe/k", &format!("versionId={kept}"), &[], b"")
            .status,
        204
    );
    assert_eq!(
        c.send("DELETE", "/safe/k", &format!("versionId={locked}"), &[], b"")
            .status,
        403
    );
    srv.run_cleanup_at(u64::MAX / 4);
    let last = srv.backend_files("a").len() + srv.backend_files("b").len();
    assert_eq!(last, after - 1, "exactly the removed version's bytes went");
    let r = c.send("GET", "/safe/k", &format!("versionId={locked}"), &[], b"");
    assert_eq!((r.status, r.text()), (200, "locked bytes".to_owned()));
}
