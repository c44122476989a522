//! In-process tests of multipart uploads as S3 clients see them: Create, UploadPart, ListParts,
//! ListMultipartUploads, Complete (ETag, part reads), Abort and the cleanup of the parts, every
//! error path with its status and code, aws-chunked and Content-MD5 parts, conditional
//! completion, and an upload that outlives a restart. Parts are 5 MiB (S3's minimum) except the
//! last, over `fs` backends.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{complete_body, data, md5_b64, md5_hex, multipart_etag, xml_all, xml_one, TempDir, TestServer};
use s3o_sigv4::StreamingMode;

const MIB: usize = 1024 * 1024;
const PART: usize = 5 * MIB;

/// The default test config with room on both backends (the default gives `a` only 1 MiB).
fn roomy_config(dir: &std::path::Path, extra: &str) -> String {
    common::config_text(dir, extra).replace("quota_bytes = 1048576", "quota_bytes = 1073741824")
}

fn start() -> TestServer {
    let dir = TempDir::new("mpu");
    let text = roomy_config(&dir.0, "");
    TestServer::start_config(dir, &text)
}

fn quoted_md5(b: &[u8]) -> String {
    format!("\"{}\"", md5_hex(b))
}

/// Bytes counted against backend `b` (committed usage and reservations in flight).
fn usage(srv: &TestServer, b: &str) -> u64 {
    s3o_store::block_on(srv.shared.store.usage(b)).unwrap() + s3o_store::block_on(srv.shared.store.reserved(b)).unwrap()
}

fn now_ms() -> u64 {
    s3o_proxy::clock::unix_ms()
}

/// (number, ETag, Size) of each part of a ListParts answer.
fn listed_parts(text: &str) -> Vec<(u32, String, u64)> {
    xml_all(text, "Part")
        .iter()
        .map(|p| {
            (
                xml_one(p, "PartNumber").unwrap().parse().unwrap(),
                xml_one(p, "ETag").unwrap().replace("&quot;", "\""),
                xml_one(p, "Size").unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// (key, upload id) of each upload, and the common prefixes, of a ListMultipartUploads answer.
fn listed_uploads(text: &str) -> (Vec<(String, String)>, Vec<String>) {
    let uploads = xml_all(text, "Upload")
        .iter()
        .map(|u| (xml_one(u, "Key").unwrap(), xml_one(u, "UploadId").unwrap()))
        .collect();
    let prefixes = xml_all(text, "CommonPrefixes")
        .iter()
        .map(|p| xml_one(p, "Prefix").unwrap())
        .collect();
    (uploads, prefixes)
}

#[test]
fn upload_list_complete_and_read_parts() {
    let srv = start();
    let mut c = srv.client();
    let path = "/data/big/obj.bin";
    let id = c.create_upload(path, &[("content-type", "video/test"), ("x-amz-meta-color", "red")]);
    let (p1, p2, p3) = (data(PART, 1), data(PART, 2), data(100_000, 3));
    let mut etags = Vec::new();
    for (n, p) in [(1, &p1), (2, &p2), (3, &p3)] {
        let r = c.upload_part(path, &id, n, p);
        assert_eq!(r.status, 200, "part {n}: {}", r.text());
        assert_eq!(r.header("etag").unwrap(), quoted_md5(p), "part {n}");
        etags.push(r.header("etag").unwrap().to_string());
    }

    // ListParts: all, then one page at a time.
    let q = format!("uploadId={id}");
    let r = c.send("GET", path, &q, &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.text();
    assert_eq!(
        listed_parts(&t),
        vec![
            (1, etags[0].clone(), PART as u64),
            (2, etags[1].clone(), PART as u64),
            (3, etags[2].clone(), 100_000),
        ]
    );
    assert_eq!(xml_one(&t, "IsTruncated").as_deref(), Some("false"));
    assert_eq!(xml_one(&t, "UploadId").as_deref(), Some(id.as_str()));
    assert_eq!(xml_one(&t, "Key").as_deref(), Some("big/obj.bin"));
    let mut marker = 0;
    for want in 1..=3u32 {
        let r = c.send(
            "GET",
            path,
            &format!("max-parts=1&part-number-marker={marker}&uploadId={id}"),
            &[],
            b"",
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let t = r.text();
        let parts = listed_parts(&t);
        assert_eq!(parts.len(), 1, "{t}");
        assert_eq!(parts[0].0, want);
        assert_eq!(xml_one(&t, "MaxParts").as_deref(), Some("1"));
        assert_eq!(xml_one(&t, "PartNumberMarker"), Some(marker.to_string()));
        if want < 3 {
            assert_eq!(xml_one(&t, "IsTruncated").as_deref(), Some("true"), "{t}");
            assert_eq!(xml_one(&t, "NextPartNumberMarker"), Some(want.to_string()), "{t}");
        } else {
            assert_eq!(xml_one(&t, "IsTruncated").as_deref(), Some("false"), "{t}");
        }
        marker = want;
    }

    // The upload is listed; then complete it.
    let r = c.send("GET", "/data", "uploads", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(
        listed_uploads(&r.text()).0,
        vec![("big/obj.bin".to_string(), id.clone())]
    );
    let parts: Vec<(u32, &str)> = vec![(1, &etags[0]), (2, &etags[1]), (3, &etags[2])];
    let r = c.complete_upload(path, &id, &parts, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let want_etag = multipart_etag(&[&p1, &p2, &p3]);
    let t = r.text();
    assert_eq!(xml_one(&t, "ETag").unwrap().replace("&quot;", "\""), want_etag, "{t}");
    assert_eq!(xml_one(&t, "Bucket").as_deref(), Some("data"));
    assert_eq!(xml_one(&t, "Key").as_deref(), Some("big/obj.bin"));
    let r = c.send("GET", "/data", "uploads", &[], b"");
    assert!(listed_uploads(&r.text()).0.is_empty(), "{}", r.text());

    let whole: Vec<u8> = [&p1[..], &p2[..], &p3[..]].concat();
    let total = whole.len();
    let g = c.get(path);
    assert_eq!(g.status, 200);
    assert!(g.body == whole, "the object is the parts in order");
    assert_eq!(g.header("etag"), Some(want_etag.as_str()));
    assert_eq!(g.header("content-type"), Some("video/test"));
    assert_eq!(g.header("x-amz-meta-color"), Some("red"));
    assert_eq!(g.header("x-amz-mp-parts-count"), None);
    let h = c.send("HEAD", path, "", &[], b"");
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-length"), Some(total.to_string().as_str()));
    assert_eq!(h.header("etag"), Some(want_etag.as_str()));

    // GET and HEAD of one part.
    let range2 = format!("bytes {}-{}/{total}", PART, 2 * PART - 1);
    let g = c.send("GET", path, "partNumber=2", &[], b"");
    assert_eq!(g.status, 206, "{}", g.text());
    assert!(g.body == p2, "part 2's bytes");
    assert_eq!(g.header("content-range"), Some(range2.as_str()));
    assert_eq!(g.header("x-amz-mp-parts-count"), Some("3"));
    assert_eq!(g.header("etag"), Some(want_etag.as_str()));
    let h = c.send("HEAD", path, "partNumber=2", &[], b"");
    assert_eq!(h.status, 206);
    assert_eq!(h.header("content-length"), Some(PART.to_string().as_str()));
    assert_eq!(h.header("content-range"), Some(range2.as_str()));
    assert_eq!(h.header("x-amz-mp-parts-count"), Some("3"));
    let g = c.send("GET", path, "partNumber=3", &[], b"");
    assert_eq!(g.status, 206);
    assert!(g.body == p3);
    assert_eq!(
        g.header("content-range"),
        Some(format!("bytes {}-{}/{total}", 2 * PART, total - 1).as_str())
    );
    for q in ["partNumber=4", "partNumber=10000"] {
        let g = c.send("GET", path, q, &[], b"");
        assert_eq!((g.status, g.code().as_str()), (400, "InvalidPart"), "{q}");
        let h = c.send("HEAD", path, q, &[], b"");
        assert_eq!(h.status, 400, "HEAD {q}");
    }
    let g = c.send("GET", path, "partNumber=2", &[("range", "bytes=0-1")], b"");
    assert_eq!((g.status, g.code().as_str()), (400, "InvalidRequest"));

    // The upload is gone once completed.
    let r = c.upload_part(path, &id, 4, b"late");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchUpload"));
    let r = c.send("GET", path, &q, &[], b"");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchUpload"));
    let r = c.send("DELETE", path, &q, &[], b"");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchUpload"));

    // Its part files go through the cleanup queue (due at once after a completion).
    srv.run_cleanup_at(now_ms() + 1000);
    assert!(srv.upload_files("a").is_empty(), "{:?}", srv.upload_files("a"));
    assert!(srv.upload_files("b").is_empty(), "{:?}", srv.upload_files("b"));
    // And the object still reads whole afterwards (it does not depend on the part files).
    assert!(c.get(path).body == whole);
}

#[test]
fn list_multipart_uploads_prefix_delimiter_markers() {
    let srv = start();
    let mut c = srv.client();
    let mut ids = Vec::new();
    for key in ["a/1", "a/2", "b/x/1", "c", "c", "d"] {
        ids.push((key.to_string(), c.create_upload(&format!("/data/{key}"), &[])));
    }
    // Upload ids sort by creation, so the two uploads of "c" list in creation order.
    let list = |c: &mut common::Client, q: &str| {
        let r = c.send("GET", "/data", &format!("uploads&{q}"), &[], b"");
        assert_eq!(r.status, 200, "{q}: {}", r.text());
        r.text()
    };
    let t = list(&mut c, "");
    assert_eq!(listed_uploads(&t).0, ids);
    assert_eq!(xml_one(&t, "IsTruncated").as_deref(), Some("false"));
    assert_eq!(xml_one(&t, "MaxUploads").as_deref(), Some("1000"));

    // Prefix.
    let t = list(&mut c, "prefix=a%2F");
    assert_eq!(listed_uploads(&t).0, ids[..2].to_vec());
    // Delimiter: a/ and b/ roll up.
    let t = list(&mut c, "delimiter=%2F");
    let (ups, prefixes) = listed_uploads(&t);
    assert_eq!(ups, ids[3..].to_vec());
    assert_eq!(prefixes, vec!["a/".to_string(), "b/".to_string()]);
    // Prefix and delimiter.
    let t = list(&mut c, "delimiter=%2F&prefix=b%2F");
    let (ups, prefixes) = listed_uploads(&t);
    assert!(ups.is_empty());
    assert_eq!(prefixes, vec!["b/x/".to_string()]);

    // key-marker alone: uploads of later keys only.
    let t = list(&mut c, "key-marker=c");
    assert_eq!(listed_uploads(&t).0, ids[5..].to_vec());
    // key-marker and upload-id-marker: the later uploads of that key, then later keys.
    let t = list(&mut c, &format!("key-marker=c&upload-id-marker={}", ids[3].1));
    assert_eq!(listed_uploads(&t).0, ids[4..].to_vec());

    // max-uploads pages through everything exactly once.
    let mut seen = Vec::new();
    let (mut km, mut um) = (String::new(), String::new());
    for _ in 0..10 {
        let t = list(&mut c, &format!("max-uploads=2&key-marker={km}&upload-id-marker={um}"));
        assert_eq!(xml_one(&t, "MaxUploads").as_deref(), Some("2"));
        let (ups, _) = listed_uploads(&t);
        assert!(ups.len() <= 2);
        seen.extend(ups);
        if xml_one(&t, "IsTruncated").as_deref() == Some("false") {
            break;
        }
        km = xml_one(&t, "NextKeyMarker").expect("NextKeyMarker when truncated");
        um = xml_one(&t, "NextUploadIdMarker").expect("NextUploadIdMarker when truncated");
    }
    assert_eq!(seen, ids);

    // With a delimiter, a page may end on a common prefix: the next page must go on after it.
    let mut seen_ups = Vec::new();
    let mut seen_prefixes = Vec::new();
    let (mut km, mut um) = (String::new(), String::new());
    for _ in 0..10 {
        let mut q = format!("delimiter=%2F&max-uploads=1&key-marker={km}");
        if !um.is_empty() {
            q.push_str(&format!("&upload-id-marker={um}"));
        }
        let t = list(&mut c, &q);
        let (ups, prefixes) = listed_uploads(&t);
        assert_eq!(ups.len() + prefixes.len(), 1, "{t}");
        seen_ups.extend(ups);
        seen_prefixes.extend(prefixes);
        if xml_one(&t, "IsTruncated").as_deref() == Some("false") {
            break;
        }
        km = xml_one(&t, "NextKeyMarker").unwrap_or_else(|| panic!("NextKeyMarker when truncated: {t}"));
        um = xml_one(&t, "NextUploadIdMarker").unwrap_or_default();
    }
    assert_eq!(seen_prefixes, vec!["a/".to_string(), "b/".to_string()]);
    assert_eq!(seen_ups, ids[3..].to_vec());

    // Abort one: no longer listed.
    let r = c.send("DELETE", "/data/d", &format!("uploadId={}", ids[5].1), &[], b"");
    assert_eq!(r.status, 204);
    let t = list(&mut c, "");
    assert_eq!(listed_uploads(&t).0, ids[..5].to_vec());
    // A missing bucket.
    let r = c.send("GET", "/nosuchbucket", "uploads", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchBucket"));
}

#[test]
fn error_paths_have_s3_status_and_code() {
    let srv = start();
    let mut c = srv.client();
    let path = "/data/err";
    let id = c.create_upload(path, &[]);
    let p1 = data(PART, 11);
    let p2 = data(1000, 12);
    let e1 = c.upload_part(path, &id, 1, &p1).header("etag").unwrap().to_string();
    let e2 = c.upload_part(path, &id, 2, &p2).header("etag").unwrap().to_string();

    // NoSuchUpload: an unknown id, on every operation.
    let bogus = "00000000000000000000000000000000";
    let r = c.upload_part(path, bogus, 1, b"x");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchUpload"));
    let r = c.send("GET", path, &format!("uploadId={bogus}"), &[], b"");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchUpload"));
    let r = c.complete_upload(path, bogus, &[(1, &e1)], &[]);
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchUpload"));
    let r = c.send("DELETE", path, &format!("uploadId={bogus}"), &[], b"");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchUpload"));
    // The upload id of another key (or bucket) is no upload there.
    let r = c.upload_part("/data/other", &id, 1, b"x");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchUpload"));
    let r = c.complete_upload("/data/other", &id, &[(1, &e1)], &[]);
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchUpload"));
    let r = c.send("DELETE", "/data/other", &format!("uploadId={id}"), &[], b"");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchUpload"));
    assert_eq!(c.send("PUT", "/other", "", &[], b"").status, 200);
    let r = c.upload_part("/other/err", &id, 1, b"x");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchUpload"));
    // A missing bucket is NoSuchBucket.
    let r = c.send("POST", "/nosuchbucket/k", "uploads", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchBucket"));
    let r = c.upload_part("/nosuchbucket/k", &id, 1, b"x");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchBucket"));

    // InvalidArgument: part numbers out of 1..=10000.
    for n in ["0", "10001", "-1", "abc"] {
        let r = c.send("PUT", path, &format!("partNumber={n}&uploadId={id}"), &[], b"x");
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidArgument"),
            "partNumber={n}"
        );
    }
    let r = c.send("PUT", path, "partNumber=10000&uploadId=", &[], b"x");
    assert_eq!(r.status, 400, "empty upload id");

    // InvalidPart: a wrong ETag, a part never uploaded.
    let wrong = format!("\"{}\"", md5_hex(b"something else"));
    let r = c.complete_upload(path, &id, &[(1, &e1), (2, &wrong)], &[]);
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidPart"), "{}", r.text());
    let r = c.complete_upload(path, &id, &[(1, &e1), (3, &e2)], &[]);
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidPart"), "{}", r.text());
    // InvalidPartOrder: descending, repeated.
    let r = c.complete_upload(path, &id, &[(2, &e2), (1, &e1)], &[]);
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidPartOrder"), "{}", r.text());
    let r = c.complete_upload(path, &id, &[(1, &e1), (1, &e1)], &[]);
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidPartOrder"), "{}", r.text());
    // MalformedXML: garbage, an empty part list, a part without its ETag.
    for body in [
        "this is not xml".to_string(),
        "<CompleteMultipartUpload></CompleteMultipartUpload>".to_string(),
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>".to_string(),
    ] {
        let r = c.send("POST", path, &format!("uploadId={id}"), &[], body.as_bytes());
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "MalformedXML"),
            "{body:?}: {}",
            r.text()
        );
    }
    // ETags are accepted with or without their quotes.
    let bare1 = e1.trim_matches('"').to_string();

    // EntityTooSmall: a first part under 5 MiB that is not the last.
    let small = "/data/small";
    let sid = c.create_upload(small, &[]);
    let s1 = data(MIB, 13);
    let s2 = data(10, 14);
    let se1 = c.upload_part(small, &sid, 1, &s1).header("etag").unwrap().to_string();
    let se2 = c.upload_part(small, &sid, 2, &s2).header("etag").unwrap().to_string();
    let r = c.complete_upload(small, &sid, &[(1, &se1), (2, &se2)], &[]);
    assert_eq!((r.status, r.code().as_str()), (400, "EntityTooSmall"), "{}", r.text());
    // ... but alone it is the last part, and fine.
    let r = c.complete_upload(small, &sid, &[(1, &se1)], &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(c.get(small).body == s1);

    // After all those errors the upload is intact and completes.
    let r = c.complete_upload(path, &id, &[(1, &bare1), (2, &e2)], &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(c.get(path).body == [&p1[..], &p2[..]].concat());
    // Completing it again (a client retrying after a lost answer) gets the same answer, and
    // changes nothing; under another key the id does not exist.
    let first = r.text();
    let r = c.complete_upload(path, &id, &[(1, &bare1), (2, &e2)], &[]);
    assert_eq!((r.status, r.text()), (200, first));
    assert!(c.get(path).body == [&p1[..], &p2[..]].concat());
    let r = c.complete_upload("/data/elsewhere", &id, &[(1, &bare1), (2, &e2)], &[]);
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchUpload"));

    // The read-only credential can list but not write.
    let mut ro = common::Client::new(srv.addr, common::RO_AK, common::RO_SK);
    let r = ro.send("POST", "/data/ro", "uploads", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"));
    assert_eq!(ro.send("GET", "/data", "uploads", &[], b"").status, 200);
}

#[test]
fn reuploaded_part_replaces_and_subset_completes() {
    let srv = start();
    let mut c = srv.client();
    let path = "/data/replace";
    let id = c.create_upload(path, &[]);
    let p1 = data(PART, 21);
    let p2_old = data(PART, 22);
    let p2_new = data(PART, 23);
    let p3 = data(5000, 24);
    let e1 = c.upload_part(path, &id, 1, &p1).header("etag").unwrap().to_string();
    let e2_old = c.upload_part(path, &id, 2, &p2_old).header("etag").unwrap().to_string();
    let e3 = c.upload_part(path, &id, 3, &p3).header("etag").unwrap().to_string();
    let r = c.upload_part(path, &id, 2, &p2_new);
    assert_eq!(r.status, 200);
    let e2_new = r.header("etag").unwrap().to_string();
    assert_ne!(e2_old, e2_new);
    let t = c.send("GET", path, &format!("uploadId={id}"), &[], b"").text();
    let parts = listed_parts(&t);
    assert_eq!(parts.len(), 3, "{t}");
    assert_eq!(parts[1], (2, e2_new.clone(), PART as u64));
    // The replaced part's ETag no longer completes.
    let r = c.complete_upload(path, &id, &[(1, &e1), (2, &e2_old), (3, &e3)], &[]);
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidPart"));
    // A subset of the parts: 1 and 3 (part 2 is left out).
    let r = c.complete_upload(path, &id, &[(1, &e1), (3, &e3)], &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let g = c.get(path);
    assert!(g.body == [&p1[..], &p3[..]].concat());
    assert_eq!(g.header("etag"), Some(multipart_etag(&[&p1, &p3]).as_str()));
    let h = c.send("HEAD", path, "partNumber=1", &[], b"");
    assert_eq!((h.status, h.header("x-amz-mp-parts-count")), (206, Some("2")));

    // Another upload, completed with the replaced part: the new bytes are used.
    let path2 = "/data/replace2";
    let id2 = c.create_upload(path2, &[]);
    c.upload_part(path2, &id2, 1, &p1);
    c.upload_part(path2, &id2, 2, &p2_old);
    c.upload_part(path2, &id2, 2, &p2_new);
    let r = c.complete_upload(path2, &id2, &[(1, &e1), (2, &e2_new)], &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let g = c.get(path2);
    assert!(
        g.body == [&p1[..], &p2_new[..]].concat(),
        "the re-uploaded part's bytes"
    );
    assert_eq!(g.header("etag"), Some(multipart_etag(&[&p1, &p2_new]).as_str()));

    // Usage counts the objects' bytes, not the parts left out or replaced.
    let objects = (PART + p3.len()) as u64 + 2 * PART as u64;
    assert_eq!(usage(&srv, "a") + usage(&srv, "b"), objects);
    // Every part file (the left-out part and the replaced one included) is cleaned up.
    srv.run_cleanup_at(now_ms() + 1000);
    assert_eq!(usage(&srv, "a") + usage(&srv, "b"), objects);
    assert!(srv.upload_files("a").is_empty(), "{:?}", srv.upload_files("a"));
    assert!(srv.upload_files("b").is_empty(), "{:?}", srv.upload_files("b"));
    assert!(c.get(path).body == [&p1[..], &p3[..]].concat());
}

#[test]
fn abort_and_expiry_remove_every_part() {
    let srv = start();
    let mut c = srv.client();
    let path = "/data/aborted";
    let id = c.create_upload(path, &[]);
    assert_eq!(c.upload_part(path, &id, 1, &data(PART, 31)).status, 200);
    assert_eq!(c.upload_part(path, &id, 2, &data(10, 32)).status, 200);
    let files: Vec<_> = ["a", "b"].iter().flat_map(|b| srv.upload_files(b)).collect();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().all(|f| f.to_string_lossy().contains(&id)), "{files:?}");

    assert_eq!(
        usage(&srv, "a") + usage(&srv, "b"),
        PART as u64 + 10,
        "parts count in usage"
    );
    let q = format!("uploadId={id}");
    let r = c.send("DELETE", path, &q, &[], b"");
    assert_eq!(r.status, 204, "{}", r.text());
    let r = c.send("GET", "/data", "uploads", &[], b"");
    assert!(listed_uploads(&r.text()).0.is_empty(), "{}", r.text());
    for r in [
        c.send("DELETE", path, &q, &[], b""),
        c.send("GET", path, &q, &[], b""),
        c.upload_part(path, &id, 3, b"x"),
        c.complete_upload(path, &id, &[(1, "\"x\"")], &[]),
    ] {
        assert_eq!((r.status, r.code().as_str()), (404, "NoSuchUpload"));
    }
    assert_eq!(c.get(path).status, 404, "an aborted upload makes no object");
    // The parts wait out the cleanup grace (a part in flight may still land), then go.
    srv.run_cleanup_at(now_ms() + 1000);
    assert_eq!(["a", "b"].iter().flat_map(|b| srv.upload_files(b)).count(), 2);
    srv.run_cleanup_at(now_ms() + s3o_store::CLEANUP_GRACE_MS + 5000);
    let left: Vec<_> = ["a", "b"].iter().flat_map(|b| srv.upload_files(b)).collect();
    assert!(left.is_empty(), "{left:?}");
    for b in ["a", "b"] {
        assert!(!srv.dir.0.join(b).join("uploads").join(&id).exists());
    }
    assert_eq!(usage(&srv, "a") + usage(&srv, "b"), 0, "the aborted parts leave usage");

    // The reaper aborts an upload older than multipart_expiry_secs the same way.
    let path = "/data/expired";
    let id = c.create_upload(path, &[]);
    assert_eq!(c.upload_part(path, &id, 1, &data(1000, 33)).status, 200);
    let expiry_ms = srv.shared.cfg.limits.multipart_expiry_secs * 1000;
    assert_eq!(
        s3o_store::block_on(s3o_proxy::cleanup::reap_uploads(&srv.shared, now_ms())),
        0,
        "not expired yet"
    );
    assert_eq!(
        s3o_store::block_on(s3o_proxy::cleanup::reap_uploads(
            &srv.shared,
            now_ms() + expiry_ms + 1000
        )),
        1
    );
    let r = c.upload_part(path, &id, 2, b"x");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchUpload"));
    let r = c.send("GET", "/data", "uploads", &[], b"");
    assert!(listed_uploads(&r.text()).0.is_empty(), "{}", r.text());
    srv.run_cleanup_at(now_ms() + s3o_store::CLEANUP_GRACE_MS + 5000);
    let left: Vec<_> = ["a", "b"].iter().flat_map(|b| srv.upload_files(b)).collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(usage(&srv, "a") + usage(&srv, "b"), 0);
}

#[test]
fn chunked_and_content_md5_parts() {
    let srv = start();
    let mut c = srv.client();
    let path = "/data/chunky";
    let id = c.create_upload(path, &[]);
    let p1 = data(PART, 41);
    let r = c.chunked_send(
        "PUT",
        path,
        &format!("partNumber=1&uploadId={id}"),
        &[],
        &p1,
        StreamingMode::Signed,
        64 * 1024,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("etag").unwrap(), quoted_md5(&p1));
    let e1 = r.header("etag").unwrap().to_string();

    // A part whose Content-MD5 does not match: BadDigest, and it is not recorded.
    let p2 = data(3000, 42);
    let bad_md5 = md5_b64(b"not this body");
    let r = c.send(
        "PUT",
        path,
        &format!("partNumber=2&uploadId={id}"),
        &[("content-md5", &bad_md5)],
        &p2,
    );
    assert_eq!((r.status, r.code().as_str()), (400, "BadDigest"), "{}", r.text());
    let t = c.send("GET", path, &format!("uploadId={id}"), &[], b"").text();
    assert_eq!(listed_parts(&t), vec![(1, e1.clone(), PART as u64)], "{t}");
    // With the right Content-MD5 it is taken.
    let good_md5 = md5_b64(&p2);
    let r = c.send(
        "PUT",
        path,
        &format!("partNumber=2&uploadId={id}"),
        &[("content-md5", &good_md5)],
        &p2,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let e2 = r.header("etag").unwrap().to_string();
    // A signed trailer mode part replaces part 2.
    let p2b = data(4000, 43);
    let r = c.chunked_send(
        "PUT",
        path,
        &format!("partNumber=2&uploadId={id}"),
        &[],
        &p2b,
        StreamingMode::SignedTrailer,
        1024,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let e2b = r.header("etag").unwrap().to_string();
    assert_eq!(e2b, quoted_md5(&p2b));
    let r = c.complete_upload(path, &id, &[(1, &e1), (2, &e2)], &[]);
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidPart"));
    let r = c.complete_upload(path, &id, &[(1, &e1), (2, &e2b)], &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(c.get(path).body == [&p1[..], &p2b[..]].concat());
}

#[test]
fn conditional_complete() {
    let srv = start();
    let mut c = srv.client();
    let path = "/data/cond";
    let v1 = data(1000, 51);
    let r = c.put(path, &v1);
    assert_eq!(r.status, 200);
    let v1_etag = r.header("etag").unwrap().to_string();
    let id = c.create_upload(path, &[]);
    let p1 = data(2000, 52);
    let e1 = c.upload_part(path, &id, 1, &p1).header("etag").unwrap().to_string();

    // If-None-Match: * on an existing key: 412, the old object untouched, the upload still there.
    let r = c.complete_upload(path, &id, &[(1, &e1)], &[("if-none-match", "*")]);
    assert_eq!(
        (r.status, r.code().as_str()),
        (412, "PreconditionFailed"),
        "{}",
        r.text()
    );
    let g = c.get(path);
    assert!(g.body == v1);
    assert_eq!(g.header("etag"), Some(v1_etag.as_str()));
    // If-Match with another ETag: 412 too.
    let other = quoted_md5(b"other");
    let r = c.complete_upload(path, &id, &[(1, &e1)], &[("if-match", &other)]);
    assert_eq!((r.status, r.code().as_str()), (412, "PreconditionFailed"));
    assert!(c.get(path).body == v1);
    let t = c.send("GET", path, &format!("uploadId={id}"), &[], b"").text();
    assert_eq!(listed_parts(&t).len(), 1, "the upload survives a failed condition: {t}");
    // If-Match with the current ETag: replaced.
    let r = c.complete_upload(path, &id, &[(1, &e1)], &[("if-match", &v1_etag)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(c.get(path).body == p1);

    // If-None-Match: * on a fresh key: created.
    let fresh = "/data/cond-fresh";
    let id = c.create_upload(fresh, &[]);
    let e1 = c.upload_part(fresh, &id, 1, &p1).header("etag").unwrap().to_string();
    let r = c.complete_upload(fresh, &id, &[(1, &e1)], &[("if-none-match", "*")]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(c.get(fresh).body == p1);
    // If-Match on a missing key: NoSuchKey, as in S3.
    let missing = "/data/cond-missing";
    let id = c.create_upload(missing, &[]);
    let e1 = c.upload_part(missing, &id, 1, &p1).header("etag").unwrap().to_string();
    let r = c.complete_upload(missing, &id, &[(1, &e1)], &[("if-match", &other)]);
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchKey"));
}

#[test]
fn upload_in_progress_survives_a_restart() {
    let dir = TempDir::new("mpu-restart");
    let text = roomy_config(&dir.0, "");
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    let path = "/data/restart";
    let id = c.create_upload(path, &[("content-type", "text/x-restart")]);
    let p1 = data(PART, 61);
    let e1 = c.upload_part(path, &id, 1, &p1).header("etag").unwrap().to_string();
    drop(c);

    let srv = srv.restart(&text);
    let mut c = srv.client();
    let t = c.send("GET", path, &format!("uploadId={id}"), &[], b"").text();
    assert_eq!(listed_parts(&t), vec![(1, e1.clone(), PART as u64)], "{t}");
    let r = c.send("GET", "/data", "uploads", &[], b"");
    assert_eq!(listed_uploads(&r.text()).0, vec![("restart".to_string(), id.clone())]);
    let p2 = data(777, 62);
    let e2 = c.upload_part(path, &id, 2, &p2).header("etag").unwrap().to_string();
    let r = c.complete_upload(path, &id, &[(1, &e1), (2, &e2)], &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let g = c.get(path);
    assert!(g.body == [&p1[..], &p2[..]].concat());
    assert_eq!(g.header("content-type"), Some("text/x-restart"));
    assert_eq!(g.header("etag"), Some(multipart_etag(&[&p1, &p2]).as_str()));
}

#[test]
fn multipart_goes_where_a_part_fits() {
    // The default config: bucket `data` packs onto `a` (1 MiB quota) first, then `b`. A 5 MiB
    // PUT goes to `b`; so must the 5 MiB parts of an upload.
    let srv = TestServer::start();
    let mut c = srv.client();
    let path = "/data/packed";
    let id = c.create_upload(path, &[]);
    let p1 = data(PART, 71);
    let p2 = data(100, 72);
    let r = c.upload_part(path, &id, 1, &p1);
    assert_eq!(r.status, 200, "{}", r.text());
    let e1 = r.header("etag").unwrap().to_string();
    let e2 = c.upload_part(path, &id, 2, &p2).header("etag").unwrap().to_string();
    let r = c.complete_upload(path, &id, &[(1, &e1), (2, &e2)], &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(c.get(path).body == [&p1[..], &p2[..]].concat());
    // A small object still packs onto `a`.
    assert_eq!(c.put("/data/tiny", b"tiny").status, 200);
    assert_eq!(srv.backend_files("a").len(), 1);
}

#[test]
fn complete_body_is_read_whole_and_the_connection_stays_usable() {
    let srv = start();
    let mut c = srv.client();
    let path = "/data/keepalive";
    let id = c.create_upload(path, &[]);
    let e1 = c.upload_part(path, &id, 1, b"only").header("etag").unwrap().to_string();
    // A body with whitespace, namespaces and unknown elements is fine.
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n  <Part>\n    <ETag>{e1}</ETag>\n    <PartNumber>1</PartNumber>\n    <Unknown>x</Unknown>\n  </Part>\n</CompleteMultipartUpload>"
    );
    let r = c.send("POST", path, &format!("uploadId={id}"), &[], body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    // The next request on the same connection is answered normally.
    let t0 = std::time::Instant::now();
    assert!(c.get(path).body == b"only");
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[test]
fn concurrent_completes_of_one_upload_keep_the_object() {
    // A client that times out on a long Complete and retries it sends a second Complete while
    // the first is still assembling. Whatever each answers, the object must end up intact: the
    // loser of the race must not queue the winner's bytes for deletion. The second Complete is
    // sent later and later across the rounds, so that in some round it arrives after the first
    // has assembled the object but before it has committed it.
    let srv = start();
    let mut c = srv.client();
    let p1 = data(PART, 81);
    let p2 = data(1000, 82);
    let whole = [&p1[..], &p2[..]].concat();
    // How long one Complete takes here.
    let id = c.create_upload("/data/twice-alone", &[]);
    let e1 = c
        .upload_part("/data/twice-alone", &id, 1, &p1)
        .header("etag")
        .unwrap()
        .to_string();
    let t0 = std::time::Instant::now();
    assert_eq!(
        c.complete_upload("/data/twice-alone", &id, &[(1, &e1)], &[]).status,
        200
    );
    let alone = t0.elapsed();
    const ROUNDS: u32 = 24;
    for round in 0..ROUNDS {
        let path = format!("/data/twice-{round}");
        let id = c.create_upload(&path, &[]);
        let e1 = c.upload_part(&path, &id, 1, &p1).header("etag").unwrap().to_string();
        let e2 = c.upload_part(&path, &id, 2, &p2).header("etag").unwrap().to_string();
        let delay = alone * (round + 4) / (ROUNDS + 4);
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let handles: Vec<_> = [Duration::ZERO, delay]
            .into_iter()
            .map(|wait| {
                let (barrier, addr) = (barrier.clone(), srv.addr);
                let (path, id, e1, e2) = (path.clone(), id.clone(), e1.clone(), e2.clone());
                std::thread::spawn(move || {
                    let mut c = common::Client::new(addr, common::AK, common::SK);
                    let body = complete_body(&[(1, &e1), (2, &e2)]);
                    let hash = s3o_sigv4::string_to_sign::sha256_hex(body.as_bytes());
                    let q = format!("uploadId={id}");
                    let mut h = c.signed_headers("POST", &path, &q, &[], &hash);
                    h.push(("content-length".into(), body.len().to_string()));
                    c.conn();
                    barrier.wait();
                    std::thread::sleep(wait);
                    c.raw("POST", &path, &q, &h, body.as_bytes()).status
                })
            })
            .collect();
        let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(statuses.contains(&200), "round {round}: {statuses:?}");
        srv.run_cleanup_at(now_ms() + s3o_store::CLEANUP_GRACE_MS + 5000);
        let g = c.get(&path);
        assert_eq!(g.status, 200, "round {round} ({statuses:?}): {}", g.text());
        assert!(g.body == whole, "round {round}: the object is intact");
    }
}
