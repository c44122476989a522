//! In-process tests of CopyObject, UploadPartCopy, object tagging, GetObjectAttributes and
//! conditional writes as S3 clients see them, over `fs` backends.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::{Arc, Barrier};

use common::{data, md5_hex, multipart_etag, xml_all, xml_one, Client, Response, TempDir, TestServer};
use s3o_proxy::http::{http_date, parse_http_date};

const MIB: usize = 1024 * 1024;
const PART: usize = 5 * MIB;

/// The default test config with room on both backends (the default gives `a` only 1 MiB).
fn start() -> TestServer {
    let dir = TempDir::new("copytag");
    let text = common::config_text(&dir.0, "").replace("quota_bytes = 1048576", "quota_bytes = 1073741824");
    TestServer::start_config(dir, &text)
}

fn quoted_md5(b: &[u8]) -> String {
    format!("\"{}\"", md5_hex(b))
}

/// The `ETag` of a CopyObjectResult / CopyPartResult, unescaped.
fn result_etag(text: &str) -> String {
    xml_one(text, "ETag").expect("ETag").replace("&quot;", "\"")
}

/// (key, value) pairs of a Tagging document.
fn tags_of(text: &str) -> Vec<(String, String)> {
    xml_all(text, "Tag")
        .iter()
        .map(|t| (xml_one(t, "Key").unwrap(), xml_one(t, "Value").unwrap_or_default()))
        .collect()
}

/// The tags of `path` (GetObjectTagging).
fn tags_at(c: &mut Client, path: &str) -> Vec<(String, String)> {
    tags_of(&c.send("GET", path, "tagging", &[], b"").text())
}

/// `(key, value)` pairs, owned, to compare with [`tags_of`].
fn owned(tags: &[(&str, &str)]) -> Vec<(String, String)> {
    tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The `x-amz-tagging-count` of a GET of `path`.
fn tag_count(c: &mut Client, path: &str) -> Option<String> {
    c.get(path).header("x-amz-tagging-count").map(str::to_string)
}

/// A copy of `src` to `target`: CopyObject to a path, or UploadPartCopy to `path?partNumber=..`;
/// `extra` headers after `x-amz-copy-source`.
fn copy_to(c: &mut Client, target: &str, src: &str, extra: &[(&str, &str)]) -> Response {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut h = vec![("x-amz-copy-source", src)];
    h.extend_from_slice(extra);
    c.send("PUT", path, query, &h, b"")
}

/// The `x-amz-copy-source-range` header of an UploadPartCopy.
fn range(bytes: &str) -> [(&str, &str); 1] {
    [("x-amz-copy-source-range", bytes)]
}

/// GetObjectAttributes of `path` with these request headers.
fn attributes(c: &mut Client, path: &str, headers: &[(&str, &str)]) -> Response {
    c.send("GET", path, "attributes", headers, b"")
}

/// GETs `path`, asserts its bytes and these headers (`None`: absent), and returns the response.
#[track_caller]
fn assert_object(c: &mut Client, path: &str, body: &[u8], headers: &[(&str, Option<&str>)]) -> Response {
    let g = c.get(path);
    assert!(g.body == body, "{path}");
    for (name, want) in headers {
        assert_eq!(g.header(name), *want, "{path}: {name}");
    }
    g
}

/// Asserts an S3 error response.
#[track_caller]
fn assert_error(r: &Response, status: u16, code: &str) {
    assert_eq!((r.status, r.code().as_str()), (status, code), "{}", r.text());
}

fn tagging_body(tags: &[(&str, &str)]) -> String {
    let mut s = String::from("<Tagging><TagSet>");
    for (k, v) in tags {
        s.push_str(&format!("<Tag><Key>{k}</Key><Value>{v}</Value></Tag>"));
    }
    s.push_str("</TagSet></Tagging>");
    s
}

/// A completed multipart object of `parts`; returns its ETag.
fn multipart_object(c: &mut Client, path: &str, parts: &[&[u8]], extra: &[(&str, &str)]) -> String {
    let id = c.create_upload(path, extra);
    let mut etags = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let r = c.upload_part(path, &id, i as u32 + 1, p);
        assert_eq!(r.status, 200, "{}", r.text());
        etags.push(r.header("etag").unwrap().to_string());
    }
    let list: Vec<(u32, &str)> = etags
        .iter()
        .enumerate()
        .map(|(i, e)| (i as u32 + 1, e.as_str()))
        .collect();
    let r = c.complete_upload(path, &id, &list, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    result_etag(&r.text())
}

#[test]
fn copy_object_bytes_etag_and_metadata() {
    let srv = start();
    let mut c = srv.client();
    let body = data(300_000, 1);
    let src = "/data/src/a%20b.bin";
    let r = c.send(
        "PUT",
        src,
        "",
        &[
            ("content-type", "text/x-source"),
            ("x-amz-meta-color", "blue"),
            ("cache-control", "max-age=7"),
        ],
        &body,
    );
    assert_eq!(r.status, 200);
    let src_etag = r.header("etag").unwrap().to_string();

    // Same bucket, metadata copied (the default directive).
    let r = copy_to(&mut c, "/data/dst1", src, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(result_etag(&r.text()), src_etag);
    assert!(xml_one(&r.text(), "LastModified").is_some());
    let etag = Some(src_etag.as_str());
    let copied = [
        ("etag", etag),
        ("content-type", Some("text/x-source")),
        ("x-amz-meta-color", Some("blue")),
    ];
    let g = assert_object(&mut c, "/data/dst1", &body, &copied);
    assert_eq!(g.header("cache-control"), Some("max-age=7"));

    // Another bucket, explicit COPY, source without its leading slash; headers on a COPY are not
    // taken.
    assert_eq!(c.send("PUT", "/other", "", &[], b"").status, 200);
    let r = copy_to(
        &mut c,
        "/other/dst2",
        "data/src/a%20b.bin",
        &[
            ("x-amz-metadata-directive", "COPY"),
            ("content-type", "text/ignored"),
            ("x-amz-meta-ignored", "yes"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let g = assert_object(&mut c, "/other/dst2", &body, &copied);
    assert_eq!(g.header("x-amz-meta-ignored"), None);

    // REPLACE takes the request's metadata, and only it.
    let r = copy_to(
        &mut c,
        "/data/dst3",
        src,
        &[
            ("x-amz-metadata-directive", "REPLACE"),
            ("content-type", "text/x-new"),
            ("x-amz-meta-shape", "round"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let replaced = [
        ("content-type", Some("text/x-new")),
        ("x-amz-meta-shape", Some("round")),
        ("x-amz-meta-color", None),
        ("cache-control", None),
    ];
    assert_object(&mut c, "/data/dst3", &body, &replaced);
    let r = copy_to(&mut c, "/data/dst3", src, &[("x-amz-metadata-directive", "SOMETIMES")]);
    assert_error(&r, 400, "InvalidArgument");

    // Onto itself: refused without REPLACE, allowed with it (the bytes stay).
    let r = copy_to(&mut c, src, src, &[]);
    assert_error(&r, 400, "InvalidRequest");
    let r = copy_to(
        &mut c,
        src,
        src,
        &[("x-amz-metadata-directive", "REPLACE"), ("content-type", "text/x-self")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let own = [
        ("etag", etag),
        ("content-type", Some("text/x-self")),
        ("x-amz-meta-color", None),
    ];
    assert_object(&mut c, src, &body, &own);

    // Missing sources.
    for (dst, from, status, code) in [
        ("/data/x", "/data/nope", 404, "NoSuchKey"),
        ("/data/x", "/nobucket/nope", 404, "NoSuchBucket"),
        ("/nobucket/x", "/data/dst1", 404, "NoSuchBucket"),
        ("/data/x", "nokey", 400, "InvalidArgument"),
    ] {
        assert_error(&copy_to(&mut c, dst, from, &[]), status, code);
    }
    assert_eq!(c.get("/data/x").status, 404);

    // A copy is independent of its source.
    assert_eq!(c.send("DELETE", src, "", &[], b"").status, 204);
    assert!(c.get("/data/dst1").body == body);
    // The read-only credential may not copy into its bucket.
    let mut ro = Client::new(srv.addr, common::RO_AK, common::RO_SK);
    assert_error(&copy_to(&mut ro, "/data/ro", "/data/dst1", &[]), 403, "AccessDenied");
}

#[test]
fn copy_of_a_multipart_object() {
    let srv = start();
    let mut c = srv.client();
    let (p1, p2) = (data(PART, 11), data(1234, 12));
    let whole = [&p1[..], &p2[..]].concat();
    let src_etag = multipart_object(&mut c, "/data/mp", &[&p1, &p2], &[("content-type", "x/mp")]);
    assert_eq!(src_etag, multipart_etag(&[&p1, &p2]));
    let r = copy_to(&mut c, "/data/mp-copy", "/data/mp", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let copy_etag = result_etag(&r.text());
    let headers = [("etag", Some(copy_etag.as_str())), ("content-type", Some("x/mp"))];
    assert_object(&mut c, "/data/mp-copy", &whole, &headers);
    // One CopyObject makes a single-part object: its ETag is the MD5 of its bytes.
    assert_eq!(copy_etag, quoted_md5(&whole));
    let h = c.send("HEAD", "/data/mp-copy", "partNumber=1", &[], b"");
    assert_eq!(h.status, 200, "part 1 of a single-part object is all of it");
    assert_eq!(h.header("x-amz-mp-parts-count"), None);
    let h = c.send("HEAD", "/data/mp-copy", "partNumber=2", &[], b"");
    assert_eq!(h.status, 400);
}

#[test]
fn copy_source_conditions() {
    let srv = start();
    let mut c = srv.client();
    let body = data(5000, 21);
    let etag = c.put("/data/cond-src", &body).header("etag").unwrap().to_string();
    let lm_text = c
        .send("HEAD", "/data/cond-src", "", &[], b"")
        .header("last-modified")
        .unwrap()
        .to_string();
    let lm = parse_http_date(&lm_text).unwrap();
    let before = http_date(lm - 86_400);
    let other = quoted_md5(b"other");
    // (headers, copied?)
    let cases: Vec<(Vec<(&str, &str)>, bool)> = vec![
        (vec![("x-amz-copy-source-if-match", &etag)], true),
        (vec![("x-amz-copy-source-if-match", etag.trim_matches('"'))], true),
        (vec![("x-amz-copy-source-if-match", &other)], false),
        (vec![("x-amz-copy-source-if-none-match", &etag)], false),
        (vec![("x-amz-copy-source-if-none-match", &other)], true),
        (vec![("x-amz-copy-source-if-modified-since", &before)], true),
        (vec![("x-amz-copy-source-if-modified-since", &lm_text)], false),
        (vec![("x-amz-copy-source-if-unmodified-since", &lm_text)], true),
        (vec![("x-amz-copy-source-if-unmodified-since", &before)], false),
        // S3: If-Match true and If-Unmodified-Since false → copied.
        (
            vec![
                ("x-amz-copy-source-if-match", &etag),
                ("x-amz-copy-source-if-unmodified-since", &before),
            ],
            true,
        ),
        // S3: If-None-Match false and If-Modified-Since true → 412.
        (
            vec![
                ("x-amz-copy-source-if-none-match", &etag),
                ("x-amz-copy-source-if-modified-since", &before),
            ],
            false,
        ),
    ];
    for (headers, copied) in cases {
        assert_eq!(c.send("DELETE", "/data/cond-dst", "", &[], b"").status, 204);
        let r = copy_to(&mut c, "/data/cond-dst", "/data/cond-src", &headers);
        if copied {
            assert_eq!(r.status, 200, "{headers:?}: {}", r.text());
            assert!(c.get("/data/cond-dst").body == body, "{headers:?}");
        } else {
            assert_eq!(
                (r.status, r.code().as_str()),
                (412, "PreconditionFailed"),
                "{headers:?}: {}",
                r.text()
            );
            assert_eq!(c.get("/data/cond-dst").status, 404, "{headers:?}");
        }
    }
}

#[test]
fn upload_part_copy_ranges() {
    let srv = start();
    let mut c = srv.client();
    let src = data(6 * MIB, 31);
    assert_eq!(c.put("/data/pc-src", &src).status, 200);
    let path = "/data/pc-dst";
    let id = c.create_upload(path, &[]);
    let part = |n: u32| format!("{path}?partNumber={n}&uploadId={id}");
    let range1 = format!("bytes=0-{}", PART - 1);
    let r = copy_to(&mut c, &part(1), "/data/pc-src", &range(&range1));
    assert_eq!(r.status, 200, "{}", r.text());
    let e1 = result_etag(&r.text());
    assert_eq!(e1, quoted_md5(&src[..PART]));
    assert!(xml_one(&r.text(), "LastModified").is_some());
    let range2 = format!("bytes={}-{}", PART, src.len() - 1);
    let r = copy_to(&mut c, &part(2), "data/pc-src", &range(&range2));
    assert_eq!(r.status, 200, "{}", r.text());
    let e2 = result_etag(&r.text());
    assert_eq!(e2, quoted_md5(&src[PART..]));
    // Without a range: the whole source.
    let r = copy_to(&mut c, &part(3), "/data/pc-src", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(result_etag(&r.text()), quoted_md5(&src));

    // Bad range syntax: InvalidArgument; past the end: InvalidRange.
    for bad in [
        "bytes=abc",
        "0-10",
        "bytes=10-5",
        "bytes=0-",
        "bytes=-5",
        "bytes=0-1,3-4",
    ] {
        let r = copy_to(&mut c, &part(4), "/data/pc-src", &range(bad));
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidArgument"),
            "{bad}: {}",
            r.text()
        );
    }
    let past = format!("bytes=0-{}", src.len());
    let r = copy_to(&mut c, &part(4), "/data/pc-src", &range(&past));
    assert_error(&r, 416, "InvalidRange");
    // A missing source, an unknown upload, a failed source condition.
    assert_error(&copy_to(&mut c, &part(4), "/data/none", &[]), 404, "NoSuchKey");
    let no_upload = format!("{path}?partNumber=4&uploadId=00000000000000000000000000000000");
    assert_error(&copy_to(&mut c, &no_upload, "/data/pc-src", &[]), 404, "NoSuchUpload");
    let if_match = [("x-amz-copy-source-if-match", "\"00000000000000000000000000000000\"")];
    let r = copy_to(&mut c, &part(4), "/data/pc-src", &if_match);
    assert_error(&r, 412, "PreconditionFailed");
    // None of the failures recorded a part.
    let t = c.send("GET", path, &format!("uploadId={id}"), &[], b"").text();
    let numbers: Vec<String> = xml_all(&t, "PartNumber");
    assert_eq!(numbers, vec!["1", "2", "3"], "{t}");

    // Complete with parts 1 and 2: the source again.
    let r = c.complete_upload(path, &id, &[(1, &e1), (2, &e2)], &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let etag = multipart_etag(&[&src[..PART], &src[PART..]]);
    assert_object(&mut c, path, &src, &[("etag", Some(etag.as_str()))]);

    // A range of a multipart source that spans its parts.
    let path2 = "/data/pc-dst2";
    let id2 = c.create_upload(path2, &[]);
    let span = format!("bytes={}-{}", PART - 10, PART + 9);
    let part2 = format!("{path2}?partNumber=1&uploadId={id2}");
    let r = copy_to(&mut c, &part2, "/data/pc-dst", &range(&span));
    assert_eq!(r.status, 200, "{}", r.text());
    let e = result_etag(&r.text());
    let r = c.complete_upload(path2, &id2, &[(1, &e)], &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(c.get(path2).body == src[PART - 10..PART + 10]);
}

#[test]
fn tagging_round_trip_limits_and_directives() {
    let srv = start();
    let mut c = srv.client();
    let path = "/data/tagged";
    assert_eq!(c.put(path, b"hello").status, 200);
    let r = c.send("GET", path, "tagging", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(tags_of(&r.text()).is_empty());
    assert_eq!(tag_count(&mut c, path), None);

    let body = tagging_body(&[("project", "blue"), ("team", "a&amp;b")]);
    let r = c.send("PUT", path, "tagging", &[], body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        tags_at(&mut c, path),
        owned(&[("project", "blue"), ("team", "a&amp;b")])
    );
    assert_eq!(tag_count(&mut c, path).as_deref(), Some("2"));
    assert_eq!(
        c.send("HEAD", path, "", &[], b"").header("x-amz-tagging-count"),
        Some("2")
    );
    assert!(c.get(path).body == b"hello", "tagging leaves the bytes alone");
    let r = c.send("DELETE", path, "tagging", &[], b"");
    assert_eq!(r.status, 204);
    assert!(tags_at(&mut c, path).is_empty());
    assert_eq!(tag_count(&mut c, path), None);

    // x-amz-tagging on PUT (URL-encoded), and an overwrite without it drops the tags.
    let r = c.send("PUT", path, "", &[("x-amz-tagging", "a=1&b=two%20words&c=")], b"v2");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        tags_at(&mut c, path),
        owned(&[("a", "1"), ("b", "two words"), ("c", "")])
    );
    assert_eq!(tag_count(&mut c, path).as_deref(), Some("3"));

    // x-amz-tagging-directive on CopyObject: COPY (default) keeps, REPLACE takes the header.
    let dst = "/data/tag-copy";
    let r = copy_to(&mut c, dst, path, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(tag_count(&mut c, dst).as_deref(), Some("3"));
    let directive = |d| ("x-amz-tagging-directive", d);
    let r = copy_to(&mut c, dst, path, &[directive("COPY"), ("x-amz-tagging", "ignored=1")]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(tag_count(&mut c, dst).as_deref(), Some("3"));
    let r = copy_to(
        &mut c,
        dst,
        path,
        &[directive("REPLACE"), ("x-amz-tagging", "only=this")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(tags_at(&mut c, dst), owned(&[("only", "this")]));
    let r = copy_to(&mut c, dst, path, &[directive("REPLACE")]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(tag_count(&mut c, dst), None);

    assert_eq!(c.put(path, b"v3").status, 200);
    assert_eq!(tag_count(&mut c, path), None);

    // x-amz-tagging on CreateMultipartUpload: the completed object has the tags.
    let mp = "/data/tagged-mp";
    let id = c.create_upload(mp, &[("x-amz-tagging", "stage=upload")]);
    let e1 = c.upload_part(mp, &id, 1, b"part").header("etag").unwrap().to_string();
    assert_eq!(c.complete_upload(mp, &id, &[(1, &e1)], &[]).status, 200);
    assert_eq!(tags_at(&mut c, mp), owned(&[("stage", "upload")]));
    assert_eq!(tag_count(&mut c, mp).as_deref(), Some("1"));

    // S3's limits: InvalidTag.
    let eleven: Vec<(String, String)> = (0..11).map(|i| (format!("k{i}"), "v".to_string())).collect();
    let eleven_ref: Vec<(&str, &str)> = eleven.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(257);
    for (what, body) in [
        ("11 tags", tagging_body(&eleven_ref)),
        ("129-char key", tagging_body(&[(&long_key, "v")])),
        ("257-char value", tagging_body(&[("k", &long_value)])),
        ("duplicate keys", tagging_body(&[("dup", "1"), ("dup", "2")])),
        ("aws: prefix", tagging_body(&[("aws:x", "1")])),
    ] {
        let r = c.send("PUT", path, "tagging", &[], body.as_bytes());
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidTag"),
            "{what}: {}",
            r.text()
        );
    }
    let ten: Vec<(&str, &str)> = eleven_ref[..10].to_vec();
    let r = c.send("PUT", path, "tagging", &[], tagging_body(&ten).as_bytes());
    assert_eq!(r.status, 200, "ten tags are fine: {}", r.text());
    let max_key = "k".repeat(128);
    let r = c.send("PUT", path, "tagging", &[], tagging_body(&[(&max_key, "v")]).as_bytes());
    assert_eq!(r.status, 200, "a 128-char key is fine: {}", r.text());
    let header: String = (0..11).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join("&");
    let r = c.send("PUT", "/data/tag-hdr", "", &[("x-amz-tagging", &header)], b"x");
    assert_error(&r, 400, "InvalidTag");
    assert_eq!(c.get("/data/tag-hdr").status, 404, "a refused PUT stores nothing");
    let r = c.send("PUT", path, "tagging", &[], b"<Tagging><TagSet><Tag>");
    assert_error(&r, 400, "MalformedXML");

    // Tagging a missing key.
    for m in ["GET", "PUT", "DELETE"] {
        let body = if m == "PUT" {
            tagging_body(&[("a", "b")])
        } else {
            String::new()
        };
        let r = c.send(m, "/data/missing", "tagging", &[], body.as_bytes());
        assert_eq!((r.status, r.code().as_str()), (404, "NoSuchKey"), "{m}");
    }
    // Read-only: may read tags, not write them.
    let mut ro = Client::new(srv.addr, common::RO_AK, common::RO_SK);
    assert_eq!(ro.send("GET", path, "tagging", &[], b"").status, 200);
    let r = ro.send("PUT", path, "tagging", &[], tagging_body(&[("a", "b")]).as_bytes());
    assert_error(&r, 403, "AccessDenied");
}

#[test]
fn get_object_attributes() {
    let srv = start();
    let mut c = srv.client();
    let (p1, p2, p3) = (data(PART, 41), data(PART, 42), data(999, 43));
    let etag = multipart_object(&mut c, "/data/attrs", &[&p1, &p2, &p3], &[]);
    let size = 2 * PART + 999;
    let r = attributes(
        &mut c,
        "/data/attrs",
        &[("x-amz-object-attributes", "ETag,ObjectSize,ObjectParts")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let want = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GetObjectAttributesResponse xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <ETag>{}</ETag><ObjectParts><PartsCount>3</PartsCount><PartNumberMarker>0</PartNumberMarker>\
         <MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated>\
         <Part><PartNumber>1</PartNumber><Size>5242880</Size></Part>\
         <Part><PartNumber>2</PartNumber><Size>5242880</Size></Part>\
         <Part><PartNumber>3</PartNumber><Size>{}</Size></Part></ObjectParts><ObjectSize>{size}</ObjectSize>\
         </GetObjectAttributesResponse>",
        etag.trim_matches('"'),
        size - 2 * 5242880
    );
    assert_eq!(r.text(), want);
    // A page of one part after part 1.
    let r = attributes(
        &mut c,
        "/data/attrs",
        &[
            ("x-amz-object-attributes", "ObjectParts"),
            ("x-amz-max-parts", "1"),
            ("x-amz-part-number-marker", "1"),
        ],
    );
    assert!(
        r.text().contains(
            "<PartNumberMarker>1</PartNumberMarker><NextPartNumberMarker>2</NextPartNumberMarker>\
             <MaxParts>1</MaxParts><IsTruncated>true</IsTruncated><Part><PartNumber>2</PartNumber>"
        ),
        "{}",
        r.text()
    );
    assert!(etag.ends_with("-3\""));
    assert_eq!(r.header("content-type"), Some("application/xml"));
    assert!(r.header("last-modified").unwrap().ends_with("GMT"));

    // A single-PUT object has no parts; attributes come in S3's order whatever was asked.
    let body = data(10, 44);
    c.put("/data/single", &body);
    let asked = [("x-amz-object-attributes", "ObjectSize, StorageClass,ObjectParts,ETag")];
    let r = attributes(&mut c, "/data/single", &asked);
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.text();
    assert!(
        t.ends_with(&format!(
            "<ETag>{}</ETag><StorageClass>STANDARD</StorageClass><ObjectSize>10</ObjectSize></GetObjectAttributesResponse>",
            md5_hex(&body)
        )),
        "{t}"
    );
    assert!(!t.contains("ObjectParts"), "{t}");

    // Errors.
    let r = attributes(&mut c, "/data/single", &[("x-amz-object-attributes", "ETag,Colour")]);
    assert_error(&r, 400, "InvalidArgument");
    assert_error(&attributes(&mut c, "/data/single", &[]), 400, "InvalidArgument");
    let r = attributes(&mut c, "/data/nothing", &[("x-amz-object-attributes", "ETag")]);
    assert_error(&r, 404, "NoSuchKey");
}

#[test]
fn conditional_put() {
    let srv = start();
    let mut c = srv.client();
    let path = "/data/cput";
    let r = c.send("PUT", path, "", &[("if-none-match", "*")], b"v1");
    assert_eq!(r.status, 200, "{}", r.text());
    let v1 = r.header("etag").unwrap().to_string();
    let r = c.send("PUT", path, "", &[("if-none-match", "*")], b"v2");
    assert_error(&r, 412, "PreconditionFailed");
    assert_eq!(c.get(path).body, b"v1");
    let r = c.send("PUT", path, "", &[("if-match", &quoted_md5(b"other"))], b"v2");
    assert_error(&r, 412, "PreconditionFailed");
    assert_eq!(c.get(path).body, b"v1");
    let r = c.send("PUT", path, "", &[("if-match", &v1)], b"v2");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(c.get(path).body, b"v2");
    let r = c.send("PUT", "/data/cput-missing", "", &[("if-match", &v1)], b"v2");
    assert_error(&r, 404, "NoSuchKey");
    // Conditional CopyObject onto an existing key.
    let r = copy_to(
        &mut c,
        path,
        "/data/cput",
        &[("x-amz-metadata-directive", "REPLACE"), ("if-none-match", "*")],
    );
    assert_error(&r, 412, "PreconditionFailed");
}

#[test]
fn conditional_put_race_has_one_winner() {
    let srv = TestServer::start();
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let barrier = barrier.clone();
            let addr = srv.addr;
            std::thread::spawn(move || {
                let mut c = Client::new(addr, common::AK, common::SK);
                let body = data(200_000, 100 + i as u32);
                // Connect and sign first, so the requests really arrive together.
                let hash = s3o_sigv4::string_to_sign::sha256_hex(&body);
                let mut headers = c.signed_headers("PUT", "/data/race", "", &[("if-none-match", "*")], &hash);
                headers.push(("content-length".into(), body.len().to_string()));
                c.conn();
                barrier.wait();
                let r = c.raw("PUT", "/data/race", "", &headers, &body);
                (r, body)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners: Vec<_> = results.iter().filter(|(r, _)| r.status == 200).collect();
    assert_eq!(
        winners.len(),
        1,
        "{:?}",
        results.iter().map(|(r, _)| r.status).collect::<Vec<_>>()
    );
    for (r, _) in &results {
        assert!(
            r.status == 200 || (r.status == 412 && r.code() == "PreconditionFailed"),
            "{} {}",
            r.status,
            r.text()
        );
    }
    let (wr, wbody) = winners[0];
    let mut c = srv.client();
    let g = c.get("/data/race");
    assert!(g.body == *wbody, "the winner's body");
    assert_eq!(g.header("etag"), wr.header("etag"));
    // The losers' bytes (if any reached a backend) are cleaned up: one file remains.
    srv.run_cleanup_at(s3o_proxy::clock::unix_ms() + 1000);
    let files = srv.backend_files("a").len() + srv.backend_files("b").len();
    assert_eq!(files, 1);
}
