//! The router against the request lines of the AWS S3 API reference.

use super::path::valid_bucket_name;
use super::*;
use proptest::prelude::*;

const NO_HEADERS: &[(&str, &str)] = &[];

/// Routes a request line such as `GET /bucket?list-type=2` with `headers`.
fn route_with(line: &str, headers: &[(&str, &str)]) -> Result<Endpoint, EndpointError> {
    let (method, target) = line.split_once(' ').unwrap();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Endpoint::from_request(method, path, query, headers)
}

fn route(line: &str) -> Result<Endpoint, EndpointError> {
    route_with(line, NO_HEADERS)
}

/// The non-empty, trimmed lines of a table.
fn rows(table: &str) -> impl Iterator<Item = &str> {
    table.lines().map(str::trim).filter(|l| !l.is_empty())
}

/// Routes each `METHOD target Operation [key]` row of `table` and checks the outcome.
fn check_table(table: &str, headers: &[(&str, &str)]) {
    for row in rows(table) {
        let cols: Vec<&str> = row.split_whitespace().collect();
        let e = route_with(&format!("{} {}", cols[0], cols[1]), headers).unwrap_or_else(|e| panic!("{row}: {e}"));
        let local = !matches!(e, Endpoint::ListBuckets | Endpoint::NotImplemented { .. });
        let want = (cols[2], local.then_some("bkt"), cols.get(3).copied());
        assert_eq!((e.name(), e.bucket(), e.key()), want, "{row}");
    }
}

/// Routes each `METHOD target` row of `table` and checks the error code and status.
fn check_errors(table: &str, code: &str, status: u16) {
    for row in rows(table) {
        let e = route(row).unwrap_err();
        assert_eq!((e.code(), e.status()), (code, status), "{row}: {e}");
    }
}

/// The request lines of the S3 API reference for what we implement, in path style.
const IMPLEMENTED: &str = "
    GET    /                                                   ListBuckets
    GET    /?x-id=ListBuckets                                  ListBuckets
    PUT    /bkt                                                CreateBucket
    DELETE /bkt                                                DeleteBucket
    HEAD   /bkt                                                HeadBucket
    GET    /bkt?location                                       GetBucketLocation
    GET    /bkt                                                ListObjects
    GET    /bkt/?x-id=ListObjects                              ListObjects
    GET    /bkt?delimiter=%2F&encoding-type=url&marker=m&max-keys=100&prefix=photos%2F   ListObjects
    GET    /bkt?list-type=2&prefix=photos%2F                   ListObjectsV2
    GET    /bkt?list-type=2&continuation-token=1ueGcxLPRx1Tr%2FXYE&delimiter=%2F&fetch-owner=true  ListObjectsV2
    PUT    /bkt/my-image.jpg                                   PutObject     my-image.jpg
    GET    /bkt/photos/a.jpg?partNumber=1&response-cache-control=no-cache&versionId=3  GetObject  photos/a.jpg
    HEAD   /bkt/my-image.jpg?partNumber=2&versionId=3HL4       HeadObject    my-image.jpg
    DELETE /bkt/my-image.jpg?versionId=UIORUnfndfiufdisojhr39  DeleteObject  my-image.jpg
    DELETE /bkt/k?x-id=DeleteObject                            DeleteObject  k
    POST   /bkt?delete                                         DeleteObjects
    POST   /bkt?delete=                                        DeleteObjects
    POST   /bkt/example-object?uploads                         CreateMultipartUpload  example-object
    PUT    /bkt/obj?partNumber=1&uploadId=VCVsb2FkIElE         UploadPart    obj
    POST   /bkt/obj?uploadId=AAAsb2FkIElE                      CompleteMultipartUpload  obj
    DELETE /bkt/obj?uploadId=VXBsb2FkIElE                      AbortMultipartUpload  obj
    GET    /bkt/obj?max-parts=2&part-number-marker=1&uploadId=X  ListParts   obj
    GET    /bkt?uploads&delimiter=%2F&max-uploads=3&prefix=p   ListMultipartUploads
    GET    /bkt/obj?tagging                                    GetObjectTagging  obj
    PUT    /bkt/obj?tagging                                    PutObjectTagging  obj
    DELETE /bkt/obj?tagging&versionId=1                        DeleteObjectTagging  obj
    GET    /bkt/obj?attributes                                 GetObjectAttributes  obj
    GET    /bkt?versions&key-marker=a&prefix=photos            ListObjectVersions
    GET    /bkt/obj?retention&versionId=3                      GetObjectRetention  obj
    PUT    /bkt/obj?retention                                  PutObjectRetention  obj
    GET    /bkt/obj?legal-hold                                 GetObjectLegalHold  obj
    PUT    /bkt/obj?legal-hold&versionId=3                     PutObjectLegalHold  obj
    GET    /bkt?versioning                                     GetBucketVersioning
    PUT    /bkt?versioning                                     PutBucketVersioning
    GET    /bkt?cors                                           GetBucketCors
    PUT    /bkt?cors                                           PutBucketCors
    DELETE /bkt?cors                                           DeleteBucketCors
    GET     /bkt?lifecycle                                        GetBucketLifecycleConfiguration
    PUT     /bkt?lifecycle                                        PutBucketLifecycleConfiguration
    DELETE  /bkt?lifecycle                                        DeleteBucketLifecycle
    GET     /bkt?tagging                                          GetBucketTagging
    PUT     /bkt?tagging                                          PutBucketTagging
    DELETE  /bkt?tagging                                          DeleteBucketTagging
    GET     /bkt?policy                                           GetBucketPolicy
    PUT     /bkt?policy                                           PutBucketPolicy
    DELETE  /bkt?policy                                           DeleteBucketPolicy
    GET     /bkt?policyStatus                                     GetBucketPolicyStatus
    GET    /bkt/my-image.jpg?acl&versionId=1                   GetObjectAcl  my-image.jpg
    PUT    /bkt/my-image.jpg?acl                               PutObjectAcl  my-image.jpg
    GET    /bkt?acl                                            GetBucketAcl
    PUT    /bkt?acl                                            PutBucketAcl
    GET    /bkt?publicAccessBlock                              GetPublicAccessBlock
    PUT    /bkt?publicAccessBlock                              PutPublicAccessBlock
    DELETE /bkt?publicAccessBlock                              DeletePublicAccessBlock
    GET    /bkt?ownershipControls                              GetBucketOwnershipControls
    PUT    /bkt?ownershipControls                              PutBucketOwnershipControls
    DELETE /bkt?ownershipControls                              DeleteBucketOwnershipControls
    GET    /bkt?object-lock                                    GetObjectLockConfiguration
    PUT    /bkt?object-lock                                    PutObjectLockConfiguration
";

/// Valid S3 requests for operations we do not implement, with the operation name.
const NOT_IMPLEMENTED: &str = "
    GET     /bkt/obj?torrent                                      GetObjectTorrent
    POST    /bkt/obj?restore&versionId=1                          RestoreObject
    POST    /bkt/obj?select&select-type=2                         SelectObjectContent
    GET     /bkt?cors                                             GetBucketCors
    PUT     /bkt?cors                                             PutBucketCors
    DELETE  /bkt?cors                                             DeleteBucketCors
    GET     /bkt?website                                          GetBucketWebsite
    PUT     /bkt?website                                          PutBucketWebsite
    DELETE  /bkt?website                                          DeleteBucketWebsite
    GET     /bkt?encryption                                       GetBucketEncryption
    GET     /bkt?notification                                     GetBucketNotificationConfiguration
    GET     /bkt?replication                                      GetBucketReplication
    GET     /bkt?requestPayment                                   GetBucketRequestPayment
    GET     /bkt?accelerate                                       GetBucketAccelerateConfiguration
    GET     /bkt?logging                                          GetBucketLogging
    GET     /bkt?session                                          CreateSession
    GET     /bkt?analytics&id=report1                             GetBucketAnalyticsConfiguration
    GET     /bkt?analytics                                        ListBucketAnalyticsConfigurations
    GET     /bkt?inventory&continuation-token=t                   ListBucketInventoryConfigurations
    GET     /bkt?metrics&id=EntireBucket                          GetBucketMetricsConfiguration
    GET     /bkt?intelligent-tiering                              ListBucketIntelligentTieringConfigurations
    PUT     /bkt?metrics&id=EntireBucket                          PutBucketMetricsConfiguration
    DELETE  /bkt?inventory&id=list1                               DeleteBucketInventoryConfiguration
";

#[test]
fn implemented_operations_from_the_aws_docs() {
    check_table(IMPLEMENTED, NO_HEADERS);
    let e = route("PUT /bkt/a%20b").unwrap();
    assert_eq!(
        e,
        Endpoint::PutObject {
            bucket: "bkt".into(),
            key: "a b".into()
        }
    );
}

#[test]
fn a_form_post_to_a_bucket_is_post_object_and_nothing_else_is() {
    let form = [("Content-Type", "multipart/form-data; boundary=xyz")];
    assert_eq!(
        route_with("POST /bkt", &form).unwrap(),
        Endpoint::PostObject { bucket: "bkt".into() }
    );
    let e = route_with("POST /bkt", &form).unwrap();
    assert_eq!(
        (e.name(), e.access(), e.takes_body()),
        ("PostObject", Access::Write, true)
    );
    assert_eq!(e.bucket(), Some("bkt"));
    assert_eq!(route("POST /bkt").unwrap_err().code(), "InvalidRequest");
    let urlencoded = [("Content-Type", "application/x-www-form-urlencoded")];
    assert_eq!(
        route_with("POST /bkt", &urlencoded).unwrap_err().code(),
        "InvalidRequest"
    );
    // A sub-resource POST does not handle is still refused, never taken for an upload.
    assert_eq!(
        route_with("POST /bkt?versioning", &form).unwrap_err().code(),
        "MethodNotAllowed"
    );
    assert_eq!(
        route_with("POST /bkt?delete", &form).unwrap(),
        Endpoint::DeleteObjects { bucket: "bkt".into() }
    );
}

#[test]
fn not_implemented_operations() {
    check_table(NOT_IMPLEMENTED, NO_HEADERS);
}

#[test]
fn copies_carry_their_parsed_source() {
    let copy = [("X-Amz-Copy-Source", "/src-bucket/src%20key?versionId=1")];
    check_table(
        "PUT /bkt/dst CopyObject dst \n PUT /bkt/obj?partNumber=2&uploadId=u UploadPartCopy obj",
        &copy,
    );
    let e = route_with("PUT /bkt/obj?partNumber=2&uploadId=u", &copy).unwrap();
    assert_eq!(
        e,
        Endpoint::UploadPartCopy {
            bucket: "bkt".into(),
            key: "obj".into(),
            upload_id: "u".into(),
            part_number: 2,
            source: CopySource {
                bucket: "src-bucket".into(),
                key: "src key".into(),
                version_id: Some("1".into()),
            },
        }
    );
    for bad in ["", "/", "bucket", "/bucket/", "/%ZZ/k"] {
        let e = route_with("PUT /bkt/k", &[("x-amz-copy-source", bad)]).unwrap_err();
        assert_eq!(e.code(), "InvalidArgument", "{bad:?}");
    }
    let plain = route_with("PUT /bkt/k", &[("x-amz-copy-source", "b/a/b")]).unwrap();
    assert_eq!(plain.copy_source().map(|s| s.key.as_str()), Some("a/b"));
    assert_eq!(plain.access(), Access::Write);
}

#[test]
fn part_numbers_are_checked() {
    for bad in ["0", "10001", "-1", "x", ""] {
        let e = route(&format!("PUT /bkt/k?partNumber={bad}&uploadId=u")).unwrap_err();
        assert_eq!(e.code(), "InvalidArgument", "{bad}");
        let e = route(&format!("GET /bkt/k?partNumber={bad}")).unwrap_err();
        assert_eq!(e.code(), "InvalidArgument", "{bad}");
    }
    assert_eq!(
        route("HEAD /bkt/k?partNumber=10000").unwrap(),
        Endpoint::HeadObject {
            bucket: "bkt".into(),
            key: "k".into(),
            part_number: Some(10000),
            version: None
        }
    );
    assert_eq!(route("POST /bkt/k?uploadId=").unwrap_err().code(), "InvalidArgument");
    assert_eq!(route("GET /bkt/k?versionId=").unwrap_err().code(), "InvalidArgument");
    assert_eq!(route("GET /bkt/k?versionId=null").unwrap().version(), Some("null"));
    assert_eq!(route("DELETE /bkt?versioning").unwrap_err().code(), "MethodNotAllowed");
}

#[test]
fn keys_are_decoded_and_kept_whole() {
    let table = "
        my%20photo%20(1).jpg             my photo (1).jpg
        a+b                              a+b
        a%2Bb                            a+b
        dir%2Ffile                       dir/file
        dir/                             dir/
        /                                /
        a//b///                          a//b///
        caf%C3%A9/%E2%82%AC%F0%9F%98%80  caf\u{e9}/\u{20ac}\u{1f600}
        caf\u{e9}                        caf\u{e9}
        100%25%3F%23%26                  100%?#&
        %2e%2E/..                        ../..
    ";
    for row in rows(table) {
        let (raw, want) = row.split_once(' ').unwrap();
        let got = route(&format!("GET /bkt/{raw}")).unwrap();
        assert_eq!(got.key(), Some(want.trim()), "{row}");
    }
    assert_eq!(route("GET /bkt/").unwrap().key(), None, "/bkt/ is the bucket");
    let max = "k".repeat(MAX_KEY_BYTES);
    assert_eq!(route(&format!("GET /bkt/{max}")).unwrap().key(), Some(max.as_str()));
    assert_eq!(route(&format!("GET /bkt/{max}k")), Err(EndpointError::KeyTooLong));
    // The limit counts decoded bytes: 342 euro signs are 1026 bytes.
    let euros = "%E2%82%AC".repeat(342);
    assert_eq!(route(&format!("PUT /bkt/{euros}")), Err(EndpointError::KeyTooLong));
}

#[test]
fn bad_paths() {
    let table = "GET /bkt/a%zz \n GET /bkt/a% \n GET /bkt/a%2 \n GET /bkt/%FF \n GET /bkt/%C3
        GET //key \n GET /a%2Fb/k \n GET bkt/k";
    check_errors(table, "InvalidURI", 400);
    assert_eq!(route("GET /my%2Dbucket").unwrap().bucket(), Some("my-bucket"));
    assert_eq!(
        Endpoint::from_request("GET", "", "", NO_HEADERS),
        Ok(Endpoint::ListBuckets)
    );
}

#[test]
fn methods_not_allowed() {
    // Unknown methods, the root, and sub-resources that make no sense for the method: never
    // ignored, so e.g. DELETE /bkt?versioning cannot delete the bucket.
    let table = "
        PUT /             \n DELETE /          \n HEAD /              \n POST /
        PATCH /bkt/k      \n get /bkt/k        \n POST /bkt/k         \n POST /bkt?uploads
        DELETE /bkt?acl   \n DELETE /bkt/k?acl \n DELETE /bkt?versioning
        PUT /bkt?uploads  \n PUT /bkt?location \n PUT /bkt/k?uploads  \n PUT /bkt/k?restore
        GET /bkt?delete   \n GET /bkt?restore  \n GET /bkt/k?location \n POST /bkt/k?delete
        DELETE /bkt/k?uploads
    ";
    check_errors(table, "MethodNotAllowed", 405);
}

#[test]
fn invalid_arguments() {
    let table = "GET /bkt?list-type=1 \n GET /bkt?list-type= \n PUT /bkt/k?partNumber=1 \n PUT /bkt/k?uploadId=u";
    check_errors(table, "InvalidArgument", 400);
    assert_eq!(EndpointError::InvalidRequest("x").code(), "InvalidRequest");
    assert_eq!(EndpointError::KeyTooLong.code(), "KeyTooLongError");
}

#[test]
fn create_bucket_validates_the_name() {
    for bad in "My-Bucket 192.168.5.4 ab a..b -abc abc- xn--abc my_bucket".split(' ') {
        let e = route(&format!("PUT /{bad}")).unwrap_err();
        assert_eq!(e, EndpointError::InvalidBucketName(bad.to_string()));
        assert_eq!((e.code(), e.status()), ("InvalidBucketName", 400));
    }
    // Other operations leave unknown names to the handler (NoSuchBucket).
    assert_eq!(route("GET /My_Bucket").unwrap().bucket(), Some("My_Bucket"));
}

#[test]
fn bucket_names() {
    let (long, too_long) = ("a".repeat(63), "a".repeat(64));
    for ok in "abc my-bucket my.bucket.v2 1bucket 192.168.5 1.2.3.4.5"
        .split(' ')
        .chain([long.as_str()])
    {
        assert!(valid_bucket_name(ok), "{ok}");
    }
    let bad = "ab Abc a_b .abc abc. -abc abc- a..b 10.0.0.1 caf\u{e9} xn--bucket sthree-bucket \
               amzn-s3-demo-bucket b-s3alias b--ol-s3 b.mrap b--x-s3 b--table-s3";
    for bad in bad.split_whitespace().chain(["", "a b", too_long.as_str()]) {
        assert!(!valid_bucket_name(bad), "{bad}");
    }
    // A dot next to a hyphen (labels start and end with a letter or digit).
    for bad in ["a.-b", "a-.b", "my-.bucket", "my.-bucket", "a.b-.c"] {
        assert!(!valid_bucket_name(bad), "{bad}");
    }
    assert!(valid_bucket_name("a-b.c-d"));
}

#[test]
fn headers_from_a_parsed_head() {
    let raw = b"PUT /dst-bucket/new%20key HTTP/1.1\r\nHost: h\r\nx-amz-copy-source: src/key\r\n\r\n";
    let (head, _) = crate::http::decode_head(raw).unwrap().unwrap();
    let e = Endpoint::from_request(head.method.as_str(), &head.path, &head.query, &head).unwrap();
    assert_eq!(e.name(), "CopyObject");
    let owned = vec![("X-AMZ-COPY-SOURCE".to_string(), "a/b".to_string())];
    let e = Endpoint::from_request("PUT", "/b1b/k", "", owned.as_slice()).unwrap();
    assert_eq!(e.name(), "CopyObject");
}

proptest! {
    #[test]
    fn any_key_round_trips(key in "\\PC{1,60}") {
        let enc: String = key.bytes().map(|c| format!("%{c:02X}")).collect();
        let e = Endpoint::from_request("GET", &format!("/bkt/{enc}"), "", NO_HEADERS).unwrap();
        prop_assert_eq!(e, Endpoint::GetObject { bucket: "bkt".into(), key, part_number: None, version: None });
    }

    #[test]
    fn any_request_never_panics(method in "[A-Z]{0,7}", path in "\\PC{0,40}", query in "\\PC{0,40}") {
        let _ = Endpoint::from_request(&method, &path, &query, NO_HEADERS);
    }
}

/// Every row of `table` sent virtual-hosted style: `Host: bkt.s3.example.com` and the path
/// without `/bkt` (as the AWS docs show each operation's request in both styles).
fn check_virtual_host_table(table: &str, headers: &[(&str, &str)]) {
    let domains = ["s3.example.com".to_owned()];
    for row in rows(table) {
        let cols: Vec<&str> = row.split_whitespace().collect();
        let Some(rest) = cols[1].strip_prefix("/bkt") else {
            continue;
        };
        let target = if rest.is_empty() || rest.starts_with('?') {
            format!("/{rest}")
        } else {
            rest.to_owned()
        };
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let bucket = host_bucket("bkt.s3.example.com:9443", &domains);
        let e =
            Endpoint::from_request_in(cols[0], bucket, path, query, headers).unwrap_or_else(|e| panic!("{row}: {e}"));
        let local = !matches!(e, Endpoint::NotImplemented { .. });
        let want = (cols[2], local.then_some("bkt"), cols.get(3).copied());
        assert_eq!((e.name(), e.bucket(), e.key()), want, "virtual host: {row}");
    }
}

#[test]
fn every_operation_in_virtual_host_style() {
    check_virtual_host_table(IMPLEMENTED, NO_HEADERS);
    check_virtual_host_table(NOT_IMPLEMENTED, NO_HEADERS);
    let copy = [("x-amz-copy-source", "/src/k")];
    check_virtual_host_table("PUT /bkt/dst CopyObject dst", &copy);
    let vh = |method: &str, path: &str, query: &str| {
        Endpoint::from_request_in(method, Some("my.dotted.bucket".into()), path, query, NO_HEADERS)
    };
    // The path is all key: a first segment is not a bucket, slashes and encodings are kept.
    assert_eq!(
        vh("GET", "/photos//2024/a%20b.jpg", "").unwrap(),
        Endpoint::GetObject {
            bucket: "my.dotted.bucket".into(),
            key: "photos//2024/a b.jpg".into(),
            part_number: None,
            version: None
        }
    );
    assert_eq!(
        vh("GET", "/", "list-type=2").unwrap(),
        Endpoint::ListObjectsV2 {
            bucket: "my.dotted.bucket".into()
        }
    );
    assert_eq!(
        vh("PUT", "/", "").unwrap(),
        Endpoint::CreateBucket {
            bucket: "my.dotted.bucket".into()
        }
    );
    let long = format!("/{}", "k".repeat(MAX_KEY_BYTES + 1));
    assert_eq!(vh("GET", &long, "").unwrap_err(), EndpointError::KeyTooLong);
    assert!(vh("GET", "/%ZZ", "").is_err());
}
