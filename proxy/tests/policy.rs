//! Bucket policies on the S3 port in process: two accounts and unsigned callers; the owner
//! sets, reads (byte for byte) and removes a policy; what cannot be enforced is refused; allows
//! open what the ACL keeps closed, denies close what ownership and ACLs open (the owner
//! included, but never out of its own policy), conditions read the request (source address,
//! headers, prefixes, existing tags), and public access blocks hold against public policies.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{Client, TestServer};

const BOB_AK: &str = "AKIATESTBOB000000001";
const BOB_SK: &str = "test-bob-secret-key-0000000000000000000";

fn server() -> TestServer {
    TestServer::start_with(&format!(
        "\n[[credentials]]\naccess_key = \"{BOB_AK}\"\nsecret_key = \"{BOB_SK}\"\ncreate_buckets = true\n"
    ))
}

/// An unsigned request.
fn anonymous(c: &mut Client, method: &str, path: &str) -> common::Response {
    let headers = vec![
        ("host".to_string(), "127.0.0.1".to_string()),
        ("content-length".to_string(), "0".to_string()),
    ];
    c.raw(method, path, "", &headers, b"")
}

fn statement(effect: &str, principal: &str, action: &str, resource: &str, condition: &str) -> String {
    let condition = if condition.is_empty() {
        String::new()
    } else {
        format!(", \"Condition\": {condition}")
    };
    format!(
        "{{\"Effect\": \"{effect}\", \"Principal\": {principal}, \"Action\": \"{action}\", \"Resource\": \"{resource}\"{condition}}}"
    )
}

fn policy(statements: &[String]) -> String {
    format!(
        "{{\"Version\": \"2012-10-17\", \"Statement\": [{}]}}",
        statements.join(", ")
    )
}

fn put_policy(c: &mut Client, bucket: &str, doc: &str) -> common::Response {
    c.send("PUT", &format!("/{bucket}"), "policy", &[], doc.as_bytes())
}

#[test]
fn the_owner_keeps_policies_and_what_cannot_be_enforced_is_refused() {
    let s = server();
    let mut alice = s.client();
    let mut bob = Client::new(s.addr, BOB_AK, BOB_SK);
    assert_eq!(alice.put("/pics", b"").status, 200);
    let r = alice.send("GET", "/pics", "policy", &[], b"");
    assert_eq!((r.status, r.code()), (404, "NoSuchBucketPolicy".to_string()));
    let status = alice.send("GET", "/pics", "policyStatus", &[], b"").text();
    assert!(status.contains("<IsPublic>false</IsPublic>"), "{status}");

    // Kept byte for byte, spacing included.
    let doc = format!(
        "{{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{}]\n}}",
        statement("Allow", "{\"AWS\": \"*\"}", "s3:ListBucket", "arn:aws:s3:::pics", "")
    );
    assert_eq!(put_policy(&mut alice, "pics", &doc).status, 204);
    let got = alice.send("GET", "/pics", "policy", &[], b"");
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(got.text(), doc);
    let status = alice.send("GET", "/pics", "policyStatus", &[], b"").text();
    assert!(status.contains("<IsPublic>true</IsPublic>"), "{status}");

    // Only the owner reads, sets or removes it, whatever the policy allows.
    let all = policy(&[statement("Allow", "\"*\"", "s3:*", "arn:aws:s3:::pics", "")]);
    assert_eq!(put_policy(&mut alice, "pics", &all).status, 204);
    assert_eq!(bob.send("GET", "/pics", "policy", &[], b"").code(), "AccessDenied");
    assert_eq!(put_policy(&mut bob, "pics", &doc).code(), "AccessDenied");
    assert_eq!(bob.send("DELETE", "/pics", "policy", &[], b"").code(), "AccessDenied");

    for bad in [
        "not json".to_string(),
        policy(&[statement("Allow", "\"*\"", "s3:Teleport", "arn:aws:s3:::pics", "")]),
        policy(&[statement(
            "Allow",
            "{\"Service\": \"x\"}",
            "s3:GetObject",
            "arn:aws:s3:::pics/*",
            "",
        )]),
        policy(&[statement("Allow", "\"*\"", "s3:GetObject", "arn:aws:s3:::other/*", "")]),
        policy(&[statement(
            "Allow",
            "\"*\"",
            "s3:GetObject",
            "arn:aws:s3:::pics/*",
            "{\"StringEquals\": {\"aws:SourceVpc\": \"vpc-1\"}}",
        )]),
    ] {
        let r = put_policy(&mut alice, "pics", &bad);
        assert_eq!((r.status, r.code()), (400, "MalformedPolicy".to_string()), "{bad}");
    }
    assert_eq!(alice.send("DELETE", "/pics", "policy", &[], b"").status, 204);
    assert_eq!(
        alice.send("GET", "/pics", "policy", &[], b"").code(),
        "NoSuchBucketPolicy"
    );
    assert_eq!(put_policy(&mut alice, "nope", &doc).code(), "NoSuchBucket");
}

#[test]
fn allows_open_and_denies_close() {
    let s = server();
    let mut alice = s.client();
    let mut bob = Client::new(s.addr, BOB_AK, BOB_SK);
    let mut anon = Client::new(s.addr, "unused", "unused");
    assert_eq!(alice.put("/pics", b"").status, 200);
    assert_eq!(alice.put("/pics/public/a.jpg", b"a").status, 200);
    assert_eq!(alice.put("/pics/private/b.jpg", b"b").status, 200);
    assert_eq!(bob.get("/pics/public/a.jpg").code(), "AccessDenied");

    let doc = policy(&[
        statement("Allow", "\"*\"", "s3:GetObject", "arn:aws:s3:::pics/public/*", ""),
        statement(
            "Allow",
            &format!("{{\"AWS\": \"arn:aws:iam::{BOB_AK}:root\"}}"),
            "s3:PutObject",
            "arn:aws:s3:::pics/inbox/*",
            "{\"StringEquals\": {\"s3:x-amz-acl\": \"bucket-owner-full-control\"}}",
        ),
        statement(
            "Allow",
            "\"*\"",
            "s3:ListBucket",
            "arn:aws:s3:::pics",
            "{\"StringLike\": {\"s3:prefix\": \"public/*\"}}",
        ),
        statement("Deny", "\"*\"", "s3:DeleteObject", "arn:aws:s3:::pics/public/*", ""),
    ]);
    let r = put_policy(&mut alice, "pics", &doc);
    assert_eq!(r.status, 204, "{}", r.text());

    // Allowed to everyone, unsigned callers included; not beyond the resource.
    assert_eq!(bob.get("/pics/public/a.jpg").text(), "a");
    assert_eq!(anonymous(&mut anon, "GET", "/pics/public/a.jpg").text(), "a");
    assert_eq!(bob.get("/pics/private/b.jpg").code(), "AccessDenied");
    // A missing key: NoSuchKey where the policy lets the caller list that prefix.
    assert_eq!(bob.get("/pics/public/none").code(), "NoSuchKey");
    assert_eq!(bob.get("/pics/private/none").code(), "AccessDenied");
    let listed = bob.send("GET", "/pics", "prefix=public/", &[], b"");
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert_eq!(
        bob.send("GET", "/pics", "prefix=private/", &[], b"").code(),
        "AccessDenied"
    );

    // Conditions on headers.
    let plain = bob.send("PUT", "/pics/inbox/x", "", &[], b"x");
    assert_eq!(plain.code(), "AccessDenied");
    let acl = [("x-amz-acl", "bucket-owner-full-control")];
    assert_eq!(bob.send("PUT", "/pics/inbox/x", "", &acl, b"x").status, 200);
    assert_eq!(alice.get("/pics/inbox/x").text(), "x");

    // An explicit deny binds the owner too (not in its own policy).
    assert_eq!(
        alice.send("DELETE", "/pics/public/a.jpg", "", &[], b"").code(),
        "AccessDenied"
    );
    let del = "<Delete><Object><Key>public/a.jpg</Key></Object><Object><Key>private/b.jpg</Key></Object></Delete>";
    let r = alice.send("POST", "/pics", "delete", &[], del.as_bytes());
    assert_eq!(r.status, 200);
    let t = r.text();
    assert!(
        t.contains("<Key>public/a.jpg</Key><Code>AccessDenied</Code>")
            && t.contains("<Deleted><Key>private/b.jpg</Key>"),
        "{t}"
    );
    assert_eq!(alice.get("/pics/public/a.jpg").text(), "a");
    assert_eq!(alice.send("DELETE", "/pics", "policy", &[], b"").status, 204);
    assert_eq!(alice.send("DELETE", "/pics/public/a.jpg", "", &[], b"").status, 204);
    // Bob's allow went with the policy; what he wrote stays his.
    assert_eq!(bob.send("PUT", "/pics/inbox/y", "", &acl, b"y").code(), "AccessDenied");
    assert_eq!(bob.get("/pics/inbox/x").text(), "x");
}

#[test]
fn conditions_on_addresses_and_tags_and_public_access_blocks() {
    let s = server();
    let mut alice = s.client();
    let mut bob = Client::new(s.addr, BOB_AK, BOB_SK);
    let mut anon = Client::new(s.addr, "unused", "unused");
    assert_eq!(alice.put("/docs", b"").status, 200);
    assert_eq!(alice.put("/docs/open", b"o").status, 200);
    assert_eq!(alice.put("/docs/closed", b"c").status, 200);
    let tags = "<Tagging><TagSet><Tag><Key>security</Key><Value>public</Value></Tag></TagSet></Tagging>";
    assert_eq!(
        alice.send("PUT", "/docs/open", "tagging", &[], tags.as_bytes()).status,
        200
    );

    // Readable when tagged public; from loopback only.
    let doc = policy(&[statement(
        "Allow",
        "{\"AWS\": \"*\"}",
        "s3:GetObject",
        "arn:aws:s3:::docs/*",
        "{\"StringEquals\": {\"s3:ExistingObjectTag/security\": \"public\"}, \"IpAddress\": {\"aws:SourceIp\": \"127.0.0.0/8\"}}",
    )]);
    assert_eq!(put_policy(&mut alice, "docs", &doc).status, 204);
    let status = alice.send("GET", "/docs", "policyStatus", &[], b"").text();
    assert!(
        status.contains("<IsPublic>false</IsPublic>"),
        "narrowed to addresses: {status}"
    );
    assert_eq!(bob.get("/docs/open").text(), "o");
    assert_eq!(bob.get("/docs/closed").code(), "AccessDenied");
    let elsewhere = policy(&[statement(
        "Allow",
        "{\"AWS\": \"*\"}",
        "s3:GetObject",
        "arn:aws:s3:::docs/*",
        "{\"IpAddress\": {\"aws:SourceIp\": \"10.9.0.0/16\"}}",
    )]);
    assert_eq!(put_policy(&mut alice, "docs", &elsewhere).status, 204);
    assert_eq!(bob.get("/docs/open").code(), "AccessDenied");

    // BlockPublicPolicy refuses a public policy; RestrictPublicBuckets silences one.
    let public = policy(&[statement("Allow", "\"*\"", "s3:GetObject", "arn:aws:s3:::docs/*", "")]);
    assert_eq!(put_policy(&mut alice, "docs", &public).status, 204);
    assert_eq!(anonymous(&mut anon, "GET", "/docs/closed").text(), "c");
    let block = |policy: bool, restrict: bool| {
        format!(
            "<PublicAccessBlockConfiguration><BlockPublicPolicy>{policy}</BlockPublicPolicy>\
             <RestrictPublicBuckets>{restrict}</RestrictPublicBuckets></PublicAccessBlockConfiguration>"
        )
    };
    let r = alice.send("PUT", "/docs", "publicAccessBlock", &[], block(false, true).as_bytes());
    assert_eq!(r.status, 200);
    assert_eq!(anonymous(&mut anon, "GET", "/docs/closed").code(), "AccessDenied");
    assert_eq!(bob.get("/docs/closed").code(), "AccessDenied");
    assert_eq!(alice.get("/docs/closed").text(), "c");
    let r = alice.send("PUT", "/docs", "publicAccessBlock", &[], block(true, false).as_bytes());
    assert_eq!(r.status, 200);
    assert_eq!(put_policy(&mut alice, "docs", &public).code(), "AccessDenied");
    let named = policy(&[statement(
        "Allow",
        &format!("{{\"CanonicalUser\": \"{BOB_AK}\"}}"),
        "s3:GetObject",
        "arn:aws:s3:::docs/*",
        "",
    )]);
    assert_eq!(put_policy(&mut alice, "docs", &named).status, 204);
    assert_eq!(bob.get("/docs/closed").text(), "c");
}

#[test]
fn what_a_write_sets_beside_its_bytes_is_judged_too() {
    let s = server();
    let mut alice = s.client();
    assert_eq!(alice.put("/box", b"").status, 200);
    assert_eq!(alice.put("/box/a", b"a").status, 200);
    let doc = policy(&[
        statement("Deny", "\"*\"", "s3:PutObjectAcl", "arn:aws:s3:::box/*", ""),
        statement(
            "Deny",
            "\"*\"",
            "s3:PutObjectTagging",
            "arn:aws:s3:::box/*",
            "{\"StringEquals\": {\"s3:RequestObjectTag/class\": \"secret\"}}",
        ),
    ]);
    assert_eq!(put_policy(&mut alice, "box", &doc).status, 204);
    // An ACL set with the object is judged as PutObjectAcl; tags as PutObjectTagging.
    let acl = [("x-amz-acl", "public-read")];
    assert_eq!(alice.send("PUT", "/box/b", "", &acl, b"b").code(), "AccessDenied");
    assert_eq!(alice.send("PUT", "/box/a", "acl", &acl, b"").code(), "AccessDenied");
    let secret = [("x-amz-tagging", "class=secret")];
    assert_eq!(alice.send("PUT", "/box/c", "", &secret, b"c").code(), "AccessDenied");
    assert_eq!(
        alice
            .send("PUT", "/box/c", "", &[("x-amz-tagging", "class=open")], b"c")
            .status,
        200
    );
    // PutObjectTagging's tags are in its body.
    let tags = |v: &str| format!("<Tagging><TagSet><Tag><Key>class</Key><Value>{v}</Value></Tag></TagSet></Tagging>");
    assert_eq!(
        alice
            .send("PUT", "/box/a", "tagging", &[], tags("secret").as_bytes())
            .code(),
        "AccessDenied"
    );
    assert_eq!(
        alice
            .send("PUT", "/box/a", "tagging", &[], tags("open").as_bytes())
            .status,
        200
    );
}
