//! User metadata (`x-amz-meta-*`) as S3 documents it: US-ASCII values round-trip as sent;
//! values sent as RFC 2047 encoded-words are stored decoded; values that are not US-ASCII come
//! back as one `=?UTF-8?B?...?=` word, on GET and HEAD, and across a copy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;

#[test]
fn non_ascii_values_come_back_as_encoded_words() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let sent = [
        ("x-amz-meta-plain", "just ascii"),
        ("x-amz-meta-raw", "Hello World\u{e9}"),
        ("x-amz-meta-word", "=?UTF-8?B?0LrQu9GO0Yc=?="),
        ("x-amz-meta-q", "=?ISO-8859-1?Q?caf=E9?="),
    ];
    let r = c.send("PUT", "/data/m", "", &sent, b"body");
    assert_eq!(r.status, 200, "{}", r.text());
    let want = [
        ("x-amz-meta-plain", "just ascii"),
        ("x-amz-meta-raw", "=?UTF-8?B?SGVsbG8gV29ybGTDqQ==?="),
        ("x-amz-meta-word", "=?UTF-8?B?0LrQu9GO0Yc=?="),
        ("x-amz-meta-q", "=?UTF-8?B?Y2Fmw6k=?="),
    ];
    for method in ["GET", "HEAD"] {
        let r = c.send(method, "/data/m", "", &[], b"");
        assert_eq!(r.status, 200);
        for (n, v) in want {
            assert_eq!(r.header(n), Some(v), "{method} {n}");
        }
    }
    // A copy keeps the decoded value and encodes it the same way.
    let r = c.send("PUT", "/data/m2", "", &[("x-amz-copy-source", "/data/m")], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c.send("HEAD", "/data/m2", "", &[], b"");
    assert_eq!(r.header("x-amz-meta-q"), Some("=?UTF-8?B?Y2Fmw6k=?="));
    // A value that only looks like a word is kept as sent.
    let r = c.send(
        "PUT",
        "/data/m3",
        "",
        &[("x-amz-meta-x", "=?UTF-8?B?not base64!?=")],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        c.get("/data/m3").header("x-amz-meta-x"),
        Some("=?UTF-8?B?not base64!?=")
    );
}
