//! ACLs on the S3 port end to end in process: two accounts (two config keys with `buckets =
//! ["*"]`), a bucket one of them creates, and what the other and unsigned requests may do as
//! its ACL, its objects' ACLs, its ownership controls and its public access block change; the
//! buckets of the config file stay shared by every key with them in scope.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{xml_all, Client, TestServer, AK};

const BOB_AK: &str = "AKIATESTBOB000000001";
const BOB_SK: &str = "test-bob-secret-key-0000000000000000000";
const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";

fn server() -> TestServer {
    TestServer::start_with(&format!(
        "\n[[credentials]]\naccess_key = \"{BOB_AK}\"\nsecret_key = \"{BOB_SK}\"\ncreate_buckets = true\n"
    ))
}

/// An unsigned request.
fn anonymous(c: &mut Client, method: &str, path: &str, query: &str, body: &[u8]) -> common::Response {
    let headers = vec![
        ("host".to_string(), "127.0.0.1".to_string()),
        ("content-length".to_string(), body.len().to_string()),
    ];
    c.raw(method, path, query, &headers, body)
}

fn acl_body(owner: &str, grants: &[(&str, &str, &str)]) -> String {
    let mut out = format!(
        "<AccessControlPolicy xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>{owner}</ID></Owner><AccessControlList>"
    );
    for (kind, value, permission) in grants {
        let element = match *kind {
            "CanonicalUser" => "ID",
            "Group" => "URI",
            _ => "EmailAddress",
        };
        out.push_str(&format!(
            "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"{kind}\">\
             <{element}>{value}</{element}></Grantee><Permission>{permission}</Permission></Grant>"
        ));
    }
    out.push_str("</AccessControlList></AccessControlPolicy>");
    out
}

#[test]
fn another_account_gets_what_the_acl_grants() {
    let s = server();
    let mut alice = s.client();
    let mut bob = Client::new(s.addr, BOB_AK, BOB_SK);
    assert_eq!(alice.put("/shared", b"").status, 200);
    assert_eq!(alice.put("/shared/a.txt", b"alice's").status, 200);

    // Private by default: bob can neither list, read, write nor see the bucket.
    for r in [
        bob.get("/shared"),
        bob.get("/shared/a.txt"),
        bob.put("/shared/b.txt", b"x"),
        bob.send("GET", "/shared", "acl", &[], b""),
        bob.send("PUT", "/shared", "acl", &[("x-amz-acl", "public-read")], b""),
        bob.send("GET", "/shared", "versioning", &[], b""),
    ] {
        assert_eq!((r.status, r.code()), (403, "AccessDenied".to_string()), "{}", r.text());
    }
    assert_eq!(
        bob.get("/shared/missing").status,
        403,
        "no listing right: no telling what is missing"
    );
    assert_eq!(alice.get("/shared/missing").status, 404);
    assert!(
        !bob.get("/").text().contains("<Name>shared</Name>"),
        "ListBuckets shows own buckets"
    );
    assert!(alice.get("/").text().contains("<Name>shared</Name>"));
    let acl = alice.send("GET", "/shared", "acl", &[], b"").text();
    assert_eq!(xml_all(&acl, "ID"), vec![AK.to_string(), AK.to_string()], "{acl}");
    assert_eq!(xml_all(&acl, "Permission"), vec!["FULL_CONTROL".to_string()]);

    // public-read-write: bob and anyone list and write; objects stay their writers'.
    let r = alice.send("PUT", "/shared", "acl", &[("x-amz-acl", "public-read-write")], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(bob.get("/shared").status, 200);
    assert_eq!(bob.put("/shared/b.txt", b"bob's").status, 200);
    assert_eq!(bob.get("/shared/a.txt").status, 403, "alice's object is private");
    assert_eq!(alice.get("/shared/b.txt").status, 403, "bob's object is bob's");
    let listing = alice.get("/shared").text();
    assert!(
        listing.contains("<Key>b.txt</Key>") && listing.contains(BOB_AK),
        "{listing}"
    );
    let r = bob.send(
        "PUT",
        "/shared/b.txt",
        "acl",
        &[("x-amz-acl", "bucket-owner-read")],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(alice.get("/shared/b.txt").text(), "bob's");
    assert_eq!(anonymous(&mut bob, "GET", "/shared", "", b"").status, 200);
    assert_eq!(anonymous(&mut bob, "PUT", "/shared/anon.txt", "", b"hi").status, 200);
    assert_eq!(anonymous(&mut bob, "GET", "/shared/anon.txt", "", b"").status, 403);
    assert_eq!(
        alice.get("/shared/anon.txt").text(),
        "hi",
        "an unsigned write belongs to the bucket owner"
    );

    // Explicit grants: READ to bob only; unknown ids and addresses are refused.
    let body = acl_body(
        AK,
        &[("CanonicalUser", BOB_AK, "READ"), ("CanonicalUser", AK, "FULL_CONTROL")],
    );
    assert_eq!(alice.send("PUT", "/shared", "acl", &[], body.as_bytes()).status, 200);
    assert_eq!(bob.get("/shared").status, 200);
    assert_eq!(bob.put("/shared/c.txt", b"x").status, 403);
    assert_eq!(anonymous(&mut bob, "GET", "/shared", "", b"").status, 403);
    let unknown = acl_body(AK, &[("CanonicalUser", "nobody", "READ")]);
    let r = alice.send("PUT", "/shared", "acl", &[], unknown.as_bytes());
    assert_eq!((r.status, r.code()), (400, "InvalidArgument".to_string()));
    let email = acl_body(AK, &[("AmazonCustomerByEmail", "who@example.org", "READ")]);
    let r = alice.send("PUT", "/shared", "acl", &[], email.as_bytes());
    assert_eq!(
        (r.status, r.code()),
        (400, "UnresolvableGrantByEmailAddress".to_string())
    );
    let r = alice.send("PUT", "/shared", "acl", &[("x-amz-acl", "public-ready")], b"");
    assert_eq!((r.status, r.code()), (400, "InvalidArgument".to_string()));
    let header = format!("id=\"{BOB_AK}\"");
    let r = alice.send("PUT", "/shared", "acl", &[("x-amz-grant-write", header.as_str())], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(bob.put("/shared/c.txt", b"x").status, 200);
    assert_eq!(bob.get("/shared").status, 403, "WRITE does not list");

    // The config file's buckets are the operator's: every key with them in scope uses them.
    assert_eq!(bob.put("/data/k", b"v").status, 200);
    assert_eq!(alice.get("/data/k").text(), "v");
}

#[test]
fn public_objects_ownership_controls_and_public_access_blocks() {
    let s = server();
    let mut alice = s.client();
    let mut anon = s.client();
    assert_eq!(alice.put("/pub", b"").status, 200);
    let r = alice.send("PUT", "/pub/open.txt", "", &[("x-amz-acl", "public-read")], b"open");
    assert_eq!(r.status, 200);
    assert_eq!(alice.put("/pub/closed.txt", b"closed").status, 200);
    assert_eq!(anonymous(&mut anon, "GET", "/pub/open.txt", "", b"").text(), "open");
    assert_eq!(anonymous(&mut anon, "GET", "/pub/closed.txt", "", b"").status, 403);
    assert_eq!(
        anonymous(&mut anon, "GET", "/pub", "", b"").status,
        403,
        "the bucket is private"
    );
    assert_eq!(anonymous(&mut anon, "GET", "/", "", b"").status, 403);
    let acl = alice.send("GET", "/pub/open.txt", "acl", &[], b"").text();
    assert!(acl.contains(ALL_USERS), "{acl}");
    assert!(acl.find(ALL_USERS) < acl.find("FULL_CONTROL"), "groups first: {acl}");

    // IgnorePublicAcls, then BlockPublicAcls; RestrictPublicBuckets refuses every unsigned call.
    let r = alice.send("GET", "/pub", "publicAccessBlock", &[], b"");
    assert_eq!(
        (r.status, r.code()),
        (404, "NoSuchPublicAccessBlockConfiguration".to_string())
    );
    let block = |ignore: bool, block: bool| {
        format!(
            "<PublicAccessBlockConfiguration><BlockPublicAcls>{block}</BlockPublicAcls><IgnorePublicAcls>{ignore}</IgnorePublicAcls></PublicAccessBlockConfiguration>"
        )
    };
    let r = alice.send("PUT", "/pub", "publicAccessBlock", &[], block(true, false).as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(anonymous(&mut anon, "GET", "/pub/open.txt", "", b"").status, 403);
    let got = alice.send("GET", "/pub", "publicAccessBlock", &[], b"").text();
    assert!(
        got.contains("<IgnorePublicAcls>true</IgnorePublicAcls>")
            && got.contains("<BlockPublicAcls>false</BlockPublicAcls>")
    );
    let r = alice.send("PUT", "/pub", "publicAccessBlock", &[], block(false, true).as_bytes());
    assert_eq!(r.status, 200);
    assert_eq!(anonymous(&mut anon, "GET", "/pub/open.txt", "", b"").text(), "open");
    let r = alice.send("PUT", "/pub/more.txt", "", &[("x-amz-acl", "public-read")], b"x");
    assert_eq!(r.status, 403, "BlockPublicAcls refuses public ACLs");
    assert_eq!(
        alice
            .send("PUT", "/pub/more.txt", "", &[("x-amz-acl", "private")], b"x")
            .status,
        200
    );
    let restrict = "<PublicAccessBlockConfiguration><RestrictPublicBuckets>true</RestrictPublicBuckets></PublicAccessBlockConfiguration>";
    assert_eq!(
        alice
            .send("PUT", "/pub", "publicAccessBlock", &[], restrict.as_bytes())
            .status,
        200
    );
    assert_eq!(anonymous(&mut anon, "GET", "/pub/open.txt", "", b"").status, 403);
    assert_eq!(alice.send("DELETE", "/pub", "publicAccessBlock", &[], b"").status, 204);
    assert_eq!(anonymous(&mut anon, "GET", "/pub/open.txt", "", b"").text(), "open");

    // Ownership controls: BucketOwnerEnforced needs a private bucket ACL and turns ACLs off.
    let enforced =
        "<OwnershipControls><Rule><ObjectOwnership>BucketOwnerEnforced</ObjectOwnership></Rule></OwnershipControls>";
    let r = alice.send("GET", "/pub", "ownershipControls", &[], b"");
    assert_eq!(
        (r.status, r.code()),
        (404, "OwnershipControlsNotFoundError".to_string())
    );
    assert_eq!(
        alice
            .send("PUT", "/pub", "acl", &[("x-amz-acl", "public-read")], b"")
            .status,
        200
    );
    let r = alice.send("PUT", "/pub", "ownershipControls", &[], enforced.as_bytes());
    assert_eq!(
        (r.status, r.code()),
        (400, "InvalidBucketAclWithObjectOwnership".to_string())
    );
    assert_eq!(
        alice
            .send("PUT", "/pub", "acl", &[("x-amz-acl", "private")], b"")
            .status,
        200
    );
    let r = alice.send("PUT", "/pub", "ownershipControls", &[], enforced.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(alice
        .send("GET", "/pub", "ownershipControls", &[], b"")
        .text()
        .contains("BucketOwnerEnforced"));
    assert_eq!(
        anonymous(&mut anon, "GET", "/pub/open.txt", "", b"").status,
        403,
        "ACLs are off"
    );
    let r = alice.send("PUT", "/pub/x.txt", "", &[("x-amz-acl", "public-read")], b"x");
    assert_eq!((r.status, r.code()), (400, "AccessControlListNotSupported".to_string()));
    let r = alice.send(
        "PUT",
        "/pub/x.txt",
        "",
        &[("x-amz-acl", "bucket-owner-full-control")],
        b"x",
    );
    assert_eq!(r.status, 200);
    assert_eq!(alice.send("DELETE", "/pub", "ownershipControls", &[], b"").status, 204);
    assert_eq!(anonymous(&mut anon, "GET", "/pub/open.txt", "", b"").text(), "open");

    // The expected owner header.
    let r = alice.send(
        "GET",
        "/pub",
        "",
        &[("x-amz-expected-bucket-owner", "someone-else")],
        b"",
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        alice
            .send("GET", "/pub", "", &[("x-amz-expected-bucket-owner", AK)], b"")
            .status,
        200
    );
}

/// What WRITE on someone else's bucket does not give: removing versions for good, another
/// account's multipart upload, object locks; and unsigned bodies that claim a signed form.
#[test]
fn write_grants_stop_short_of_versions_uploads_and_locks() {
    let s = server();
    let mut alice = s.client();
    let mut bob = Client::new(s.addr, BOB_AK, BOB_SK);
    let r = alice.send(
        "PUT",
        "/vault",
        "",
        &[("x-amz-bucket-object-lock-enabled", "true")],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = alice.send("PUT", "/vault", "acl", &[("x-amz-acl", "public-read-write")], b"");
    assert_eq!(r.status, 200);
    let put = alice.put("/vault/k", b"v1");
    let version = put.header("x-amz-version-id").unwrap().to_owned();
    assert_eq!(bob.put("/vault/k", b"bob's").status, 200, "WRITE writes");
    let r = bob.send("DELETE", "/vault/k", &format!("versionId={version}"), &[], b"");
    assert_eq!((r.status, r.code()), (403, "AccessDenied".to_string()));
    let body = format!("<Delete><Object><Key>k</Key><VersionId>{version}</VersionId></Object></Delete>");
    let md5 = common::md5_b64(body.as_bytes());
    let r = bob.send(
        "POST",
        "/vault",
        "delete",
        &[("content-md5", md5.as_str())],
        body.as_bytes(),
    );
    assert!(r.text().contains("<Code>AccessDenied</Code>"), "{}", r.text());
    assert_eq!(
        alice
            .send("GET", "/vault/k", &format!("versionId={version}"), &[], b"")
            .status,
        200
    );
    let until = "2099-01-01T00:00:00Z";
    let lock = [
        ("x-amz-object-lock-mode", "COMPLIANCE"),
        ("x-amz-object-lock-retain-until-date", until),
    ];
    assert_eq!(bob.send("PUT", "/vault/locked", "", &lock, b"x").status, 403);
    let hold = "<LegalHold><Status>ON</Status></LegalHold>";
    assert_eq!(
        bob.send("PUT", "/vault/k", "legal-hold", &[], hold.as_bytes()).status,
        403
    );

    // Alice's multipart upload is hers (and the bucket owner's): bob can neither add a part,
    // complete, list nor abort it.
    let id = alice.create_upload("/vault/big", &[]);
    assert_eq!(bob.upload_part("/vault/big", &id, 1, b"evil").status, 403);
    assert_eq!(
        bob.send("GET", "/vault/big", &format!("uploadId={id}"), &[], b"")
            .status,
        403
    );
    assert_eq!(
        bob.send("DELETE", "/vault/big", &format!("uploadId={id}"), &[], b"")
            .status,
        403
    );
    assert_eq!(
        alice
            .send("DELETE", "/vault/big", &format!("uploadId={id}"), &[], b"")
            .status,
        204
    );

    // Unsigned writers send plain bodies and start no multipart uploads.
    let headers = vec![
        ("host".to_string(), "127.0.0.1".to_string()),
        ("content-length".to_string(), "2".to_string()),
        ("content-encoding".to_string(), "aws-chunked".to_string()),
    ];
    let r = bob.raw("PUT", "/vault/anon", "", &headers, b"hi");
    assert_eq!(
        (r.status, r.code()),
        (400, "InvalidRequest".to_string()),
        "{}",
        r.text()
    );
    assert_eq!(anonymous(&mut bob, "POST", "/vault/anon", "uploads", b"").status, 403);
    assert_eq!(anonymous(&mut bob, "PUT", "/vault/anon", "", b"hi").status, 200);

    // Expected owners, of the bucket and of a copy's source (k is bob's now: alice's own object
    // is the source; bob's is not hers to read).
    assert_eq!(
        alice
            .send("PUT", "/vault/c", "", &[("x-amz-copy-source", "/vault/k")], b"")
            .status,
        403
    );
    assert_eq!(alice.put("/vault/mine", b"m").status, 200);
    let wrong = [
        ("x-amz-copy-source", "/vault/mine"),
        ("x-amz-source-expected-bucket-owner", "nobody"),
    ];
    assert_eq!(alice.send("PUT", "/vault/copy", "", &wrong, b"").status, 403);
    let right = [
        ("x-amz-copy-source", "/vault/mine"),
        ("x-amz-source-expected-bucket-owner", AK),
    ];
    assert_eq!(alice.send("PUT", "/vault/copy", "", &right, b"").status, 200);
    assert_eq!(
        anonymous(&mut bob, "GET", "/no-such-bucket/k", "", b"").code(),
        "NoSuchBucket"
    );
}
