//! Virtual-hosted-style requests (`Host: <bucket>.<domain>:<port>`, `[server] domains`) for
//! every kind of operation, signed over the Host and path as sent (header signatures and
//! presigned URLs); path-style beside them on the same port, with a Host equal to a domain or
//! matching none; bucket names with dots; over TLS too.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::tls::fixture;
use common::*;

const DOMAIN: &str = "s3.localhost";

/// A server with `domains = ["s3.localhost", "example.test"]` (and `extra_server` keys).
fn vhost_server(extra_server: &str) -> TestServer {
    let dir = TempDir::new("vhost");
    let keys = format!("shutdown_grace_secs = 5\ndomains = [\"{DOMAIN}\", \"example.test\"]\n{extra_server}");
    let text = config_text(&dir.0, "").replace("shutdown_grace_secs = 5\n", &keys);
    TestServer::start_config(dir, &text)
}

/// A client addressing `bucket` by its Host.
fn vclient(srv: &TestServer, bucket: &str) -> Client {
    let mut c = srv.client();
    c.host = format!("{bucket}.{DOMAIN}:{}", srv.addr.port());
    c
}

/// Every kind of operation on `bucket`, virtual-hosted style through `c`.
fn exercise_bucket(c: &mut Client, bucket: &str) {
    assert_eq!(c.send("PUT", "/", "", &[], b"").status, 200, "CreateBucket {bucket}");
    assert_eq!(c.send("HEAD", "/", "", &[], b"").status, 200, "HeadBucket");
    let r = c.send("GET", "/", "location", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    // Objects; a key that looks like a bucket path stays a key.
    let body = data(300_000, 3);
    assert_eq!(c.put("/dir/one.bin", &body).status, 200);
    assert_eq!(c.put("/data/two", b"two").status, 200);
    assert_eq!(c.put("/a%20b+c", b"three").status, 200);
    assert_eq!(c.get("/dir/one.bin").body, body);
    let r = c.send("HEAD", "/dir/one.bin", "", &[], b"");
    assert_eq!((r.status, r.header("content-length")), (200, Some("300000")));
    assert_eq!(c.get("/data/two").body, b"two");
    assert_eq!(c.get("/a%20b+c").body, b"three");
    // Listings, both versions, with a delimiter.
    let r = c.send("GET", "/", "list-type=2", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(xml_all(&r.text(), "Key"), ["a b+c", "data/two", "dir/one.bin"]);
    let r = c.send("GET", "/", "delimiter=%2F", &[], b"");
    assert_eq!(xml_all(&r.text(), "Prefix").iter().filter(|p| !p.is_empty()).count(), 2);
    assert_eq!(xml_one(&r.text(), "Name").as_deref(), Some(bucket));
    // Copy, tagging.
    let src = format!("/{bucket}/data/two");
    let r = c.send("PUT", "/copy", "", &[("x-amz-copy-source", &src)], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(c.get("/copy").body, b"two");
    let tags = "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>";
    assert_eq!(c.send("PUT", "/copy", "tagging", &[], tags.as_bytes()).status, 200);
    assert!(c
        .send("GET", "/copy", "tagging", &[], b"")
        .text()
        .contains("<Value>v</Value>"));
    // Multipart: create, upload, list uploads and parts, complete; another aborted.
    let id = c.create_upload("/mp/obj", &[]);
    let p1 = data(5 * 1024 * 1024, 4);
    let e1 = c.upload_part("/mp/obj", &id, 1, &p1).header("etag").unwrap().to_owned();
    let e2 = c
        .upload_part("/mp/obj", &id, 2, b"tail")
        .header("etag")
        .unwrap()
        .to_owned();
    let r = c.send("GET", "/", "uploads", &[], b"");
    assert_eq!(
        xml_one(&r.text(), "UploadId").as_deref(),
        Some(id.as_str()),
        "{}",
        r.text()
    );
    let r = c.send("GET", "/mp/obj", &format!("uploadId={id}"), &[], b"");
    assert_eq!(xml_all(&r.text(), "PartNumber"), ["1", "2"]);
    let r = c.complete_upload("/mp/obj", &id, &[(1, &e1), (2, &e2)], &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let location = xml_one(&r.text(), "Location").unwrap();
    assert_eq!(location, format!("http://{}/mp/obj", c.host));
    assert_eq!(c.get("/mp/obj").body.len(), p1.len() + 4);
    let gone = c.create_upload("/mp/aborted", &[]);
    assert_eq!(
        c.send("DELETE", "/mp/aborted", &format!("uploadId={gone}"), &[], b"")
            .status,
        204
    );
    // Deletes: one, then the rest in one DeleteObjects, then the bucket.
    assert_eq!(c.send("DELETE", "/copy", "", &[], b"").status, 204);
    let keys = ["dir/one.bin", "data/two", "a b+c", "mp/obj"];
    let doc: String = keys
        .iter()
        .map(|k| format!("<Object><Key>{k}</Key></Object>"))
        .collect();
    let doc = format!("<Delete>{doc}</Delete>");
    let md5 = md5_b64(doc.as_bytes());
    let r = c.send("POST", "/", "delete", &[("content-md5", &md5)], doc.as_bytes());
    assert_eq!(xml_all(&r.text(), "Deleted").len(), 4, "{}", r.text());
    assert_eq!(c.send("DELETE", "/", "", &[], b"").status, 204, "DeleteBucket");
    assert_eq!(c.send("HEAD", "/", "", &[], b"").status, 404);
}

#[test]
fn every_operation_in_virtual_host_style() {
    let srv = vhost_server("");
    exercise_bucket(&mut vclient(&srv, "vbucket"), "vbucket");
    // A bucket name with dots.
    exercise_bucket(&mut vclient(&srv, "my.dotted.bucket"), "my.dotted.bucket");
    // The Host's case does not matter (the signature covers it as sent).
    let mut c = srv.client();
    c.host = format!("DATA.S3.LocalHost:{}", srv.addr.port());
    assert_eq!(c.put("/upper", b"u").status, 200);
    assert_eq!(srv.client().get("/data/upper").body, b"u");
}

#[test]
fn path_style_beside_virtual_hosts() {
    let srv = vhost_server("");
    let mut v = vclient(&srv, "data");
    assert_eq!(v.put("/shared", b"one object").status, 200);
    // Host = a configured domain: path-style.
    let mut d = srv.client();
    d.host = format!("{DOMAIN}:{}", srv.addr.port());
    assert_eq!(d.get("/data/shared").body, b"one object");
    let r = d.get("/");
    assert!(r.text().contains("<Name>data</Name>"), "ListBuckets: {}", r.text());
    // Host matching no domain (an address, another name): path-style.
    assert_eq!(srv.client().get("/data/shared").body, b"one object");
    let mut o = srv.client();
    o.host = format!("data.elsewhere.org:{}", srv.addr.port());
    assert_eq!(o.get("/data/shared").body, b"one object");
    // The second domain, without a port.
    let mut e = srv.client();
    e.host = "data.example.test".into();
    assert_eq!(e.get("/shared").body, b"one object");
    // Virtual-host style to a missing bucket, and the path as a key of another bucket.
    assert_eq!(vclient(&srv, "nosuch").get("/data/shared").code(), "NoSuchBucket");
    assert_eq!(v.get("/data/shared").code(), "NoSuchKey");
    // Access rules follow the bucket the Host names: the read-only key may read `data` only.
    let mut ro = Client::new(srv.addr, RO_AK, RO_SK);
    ro.host = v.host.clone();
    assert_eq!(ro.get("/shared").body, b"one object");
    assert_eq!(ro.put("/nope", b"x").status, 403);
    let mut ro_other = Client::new(srv.addr, RO_AK, RO_SK);
    ro_other.host = format!("other.{DOMAIN}:{}", srv.addr.port());
    assert_eq!(ro_other.get("/shared").status, 403);
}

#[test]
fn signatures_cover_the_host_and_path_as_sent() {
    let srv = vhost_server("");
    let mut v = vclient(&srv, "data");
    assert_eq!(v.put("/signed", b"s").status, 200);
    // A signature made for the path-style form of the same request does not verify.
    let headers = v.signed_headers(
        "GET",
        "/data/signed",
        "",
        &[],
        &s3o_sigv4::string_to_sign::sha256_hex(b""),
    );
    let r = v.raw("GET", "/signed", "", &headers, b"");
    assert_eq!(r.code(), "SignatureDoesNotMatch");
    // A presigned URL for the virtual host works, and only for that Host.
    let date = s3o_sigv4::AmzDate::from_unix(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    );
    let q = v.signer.presign("GET", "/signed", "", &v.host, 300, &date);
    let good = [("host".to_owned(), v.host.clone())];
    let r = v.raw("GET", "/signed", &q, &good, b"");
    assert_eq!((r.status, r.body.as_slice()), (200, b"s".as_slice()), "{}", r.text());
    let other = [("host".to_owned(), format!("other.{DOMAIN}:{}", srv.addr.port()))];
    assert_eq!(v.raw("GET", "/signed", &q, &other, b"").status, 403);
}

#[test]
fn virtual_hosts_over_tls() {
    let dir = TempDir::new("vhost-tls");
    std::fs::copy(fixture("a.pem"), dir.0.join("cert.pem")).unwrap();
    std::fs::copy(fixture("a.key"), dir.0.join("key.pem")).unwrap();
    let keys = format!(
        "shutdown_grace_secs = 5\ndomains = [\"{DOMAIN}\"]\ntls_listen = \"127.0.0.1:0\"\ntls_cert_file = \"{d}/cert.pem\"\ntls_key_file = \"{d}/key.pem\"\n",
        d = dir.0.display()
    );
    let text = config_text(&dir.0, "").replace("shutdown_grace_secs = 5\n", &keys);
    let srv = TestServer::start_config(dir, &text);
    let addr = srv.tls_addr().unwrap();
    // The certificate names *.s3.localhost: the client checks the bucket's own host name.
    let mut c = Client::new_tls(addr, AK, SK, &fixture("ca.pem"), "tlsbucket.s3.localhost");
    c.host = format!("tlsbucket.{DOMAIN}:{}", addr.port());
    assert_eq!(c.send("PUT", "/", "", &[], b"").status, 200);
    assert_eq!(c.put("/k", b"over tls").status, 200);
    assert_eq!(c.get("/k").body, b"over tls");
    let id = c.create_upload("/mp", &[]);
    let e = c.upload_part("/mp", &id, 1, b"p").header("etag").unwrap().to_owned();
    let r = c.complete_upload("/mp", &id, &[(1, &e)], &[]);
    assert_eq!(
        xml_one(&r.text(), "Location").unwrap(),
        format!("https://{}/mp", c.host)
    );
    assert_eq!(srv.client().get("/tlsbucket/k").body, b"over tls");
}
