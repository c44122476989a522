//! Tests of the request head decoder: byte fixtures, every split offset, each limit exceeded,
//! framing rules, and property tests that no input panics.

use super::*;
use proptest::prelude::*;

const GET: &[u8] = b"GET /bucket/photos/a%20b+c.jpg?versionId=3&x HTTP/1.1\r\nHost: s3.local:9000\r\n\
User-Agent: aws-cli/2\r\nx-amz-date: 20240101T000000Z\r\n\r\n";
const PUT: &[u8] = b"PUT /bucket/key HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello";
const CHUNKED: &[u8] = b"PUT /b/k HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";

fn ok(buf: &[u8]) -> (RequestHead, usize) {
    decode_head(buf).unwrap().unwrap()
}

fn err(buf: &[u8]) -> HttpError {
    decode_head(buf).unwrap_err()
}

/// A request with `Host: h` plus the given header lines.
fn req(lines: &str) -> Vec<u8> {
    format!("PUT /b/k HTTP/1.1\r\nHost: h\r\n{lines}\r\n").into_bytes()
}

fn head_len(buf: &[u8]) -> usize {
    buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4
}

#[test]
fn get_fields() {
    let (h, n) = ok(GET);
    assert_eq!(n, GET.len());
    assert_eq!(h.method, Method::GET);
    assert_eq!(h.path, "/bucket/photos/a%20b+c.jpg");
    assert_eq!(h.query, "versionId=3&x");
    assert_eq!(h.version, Version::HTTP_11);
    assert_eq!(h.headers.len(), 3);
    assert_eq!(h.headers[1], ("User-Agent".to_string(), "aws-cli/2".to_string()));
    assert_eq!(h.header("user-agent"), Some("aws-cli/2"));
    assert_eq!(h.header("X-AMZ-DATE"), Some("20240101T000000Z"));
    assert_eq!(h.header("missing"), None);
    assert_eq!(h.host(), Some("s3.local:9000"));
    assert!(h.keep_alive());
    assert!(!h.expect_continue());
    assert_eq!(h.content_length(), Ok(None));
    assert_eq!(h.is_chunked(), Ok(false));
    assert_eq!(BodyKind::from_head(&h), Ok(BodyKind::Empty));
}

#[test]
fn put_with_body_after_head() {
    let (h, n) = ok(PUT);
    assert_eq!(n, PUT.len() - 5);
    assert_eq!(&PUT[n..], b"hello");
    assert_eq!(h.content_length(), Ok(Some(5)));
    assert!(h.expect_continue());
    assert_eq!(BodyKind::from_head(&h), Ok(BodyKind::Length(5)));
    let (h, _) = ok(CHUNKED);
    assert_eq!(h.is_chunked(), Ok(true));
    assert_eq!(BodyKind::from_head(&h), Ok(BodyKind::Chunked));
}

#[test]
fn every_split_offset() {
    for fixture in [GET, PUT, CHUNKED] {
        let end = head_len(fixture);
        let whole = ok(fixture);
        for i in 0..end {
            assert_eq!(decode_head(&fixture[..i]), Ok(None), "prefix {i}");
        }
        for i in end..=fixture.len() {
            assert_eq!(ok(&fixture[..i]), whole, "prefix {i}");
        }
        // The incremental decoder, fed a growing buffer one byte at a time.
        let mut d = HeadDecoder::new();
        for i in 0..end {
            assert_eq!(d.decode(&fixture[..i]), Ok(None), "incremental prefix {i}");
        }
        assert_eq!(d.decode(&fixture[..end]).unwrap().unwrap(), whole);
        // And in two pieces split at every offset.
        for i in 0..=end {
            let mut d = HeadDecoder::new();
            let first = d.decode(&fixture[..i]).unwrap();
            let got = first.or_else(|| d.decode(fixture).unwrap()).unwrap();
            assert_eq!(got, whole, "split {i}");
        }
    }
}

#[test]
fn leading_empty_lines_and_bare_lf() {
    let buf = b"\r\n\nGET / HTTP/1.1\nHost: h\n\n";
    let (h, n) = ok(buf);
    assert_eq!((h.path.as_str(), n), ("/", buf.len()));
    let mut d = HeadDecoder::new();
    assert_eq!(d.decode(b"\r\n\r\n\r\n"), Ok(None));
    assert!(d
        .decode(b"\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap()
        .is_some());
}

#[test]
fn values_are_trimmed_and_may_be_empty() {
    let (h, _) = ok(&req("X-A:   spaced \t \r\nX-B:\r\nX-C: caf\u{e9}\r\n"));
    assert_eq!(h.header("x-a"), Some("spaced"));
    assert_eq!(h.header("x-b"), Some(""));
    assert_eq!(h.header("x-c"), Some("caf\u{e9}"));
}

#[test]
fn head_too_large() {
    // No end of head within MAX_HEAD_BYTES.
    let mut buf = req("").to_vec();
    buf.truncate(buf.len() - 2);
    while buf.len() < MAX_HEAD_BYTES {
        buf.extend_from_slice(format!("X-Pad: {}\r\n", "v".repeat(1000)).as_bytes());
    }
    assert_eq!(err(&buf), HttpError::HeadTooLarge("request head too large"));
    assert_eq!(err(&buf).status(), 431);
    assert_eq!(
        HeadDecoder::new().decode(&buf),
        Err(HttpError::HeadTooLarge("request head too large"))
    );
    // One long field: complete head, but over the limit.
    let big = req(&format!("X-Big: {}\r\n", "v".repeat(MAX_HEAD_BYTES)));
    assert_eq!(err(&big).status(), 431);
    // Just under the limit is fine.
    let base = req("X-Big: \r\n").len();
    let fits = req(&format!("X-Big: {}\r\n", "v".repeat(MAX_HEAD_BYTES - base)));
    assert_eq!(fits.len(), MAX_HEAD_BYTES);
    assert_eq!(ok(&fits).1, MAX_HEAD_BYTES);
}

#[test]
fn uri_too_long() {
    let at_limit = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(MAX_URI_BYTES - 1));
    assert_eq!(ok(at_limit.as_bytes()).0.path.len(), MAX_URI_BYTES);
    let over = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(MAX_URI_BYTES));
    assert_eq!(err(over.as_bytes()), HttpError::UriTooLong);
    assert_eq!(err(over.as_bytes()).status(), 414);
    // Known as soon as the target is complete, before the headers arrive.
    let early = format!("GET /{} HTTP/1.1\r\nHost:", "a".repeat(MAX_URI_BYTES));
    assert_eq!(err(early.as_bytes()), HttpError::UriTooLong);
    // A request line that never ends within the head limit.
    let endless = format!("GET /{}", "a".repeat(MAX_HEAD_BYTES));
    assert_eq!(err(endless.as_bytes()), HttpError::UriTooLong);
    assert_eq!(
        HeadDecoder::new().decode(endless.as_bytes()),
        Err(HttpError::UriTooLong)
    );
}

#[test]
fn too_many_headers() {
    let lines = |n: usize| (0..n).map(|i| format!("X-{i}: v\r\n")).collect::<String>();
    let max = req(&lines(MAX_HEADERS - 1));
    assert_eq!(ok(&max).0.headers.len(), MAX_HEADERS);
    let over = req(&lines(MAX_HEADERS));
    assert_eq!(err(&over), HttpError::HeadTooLarge("too many header fields"));
    assert_eq!(err(&over).status(), 431);
}

#[test]
fn content_length_rules() {
    let cl = |v: &str| ok(&req(&format!("Content-Length: {v}\r\n"))).0.content_length();
    assert_eq!(cl("0"), Ok(Some(0)));
    assert_eq!(cl("18446744073709551615"), Ok(Some(u64::MAX)));
    assert_eq!(cl("7, 7"), Ok(Some(7)));
    assert_eq!(
        ok(&req("Content-Length: 3\r\ncontent-length: 3\r\n"))
            .0
            .content_length(),
        Ok(Some(3))
    );
    for bad in ["+5", "-1", "5a", "0x10", "1 2", "18446744073709551616", "5,6", "5,"] {
        let e = err(&req(&format!("Content-Length: {bad}\r\n")));
        assert_eq!(e.status(), 400, "{bad}");
    }
    assert_eq!(err(&req("Content-Length:\r\n")).status(), 400);
    assert_eq!(
        err(&req("Content-Length: 3\r\nContent-Length: 4\r\n")),
        HttpError::BadRequest("conflicting Content-Length")
    );
}

#[test]
fn transfer_encoding_rules() {
    let te = |v: &str| decode_head(&req(&format!("Transfer-Encoding: {v}\r\n")));
    assert_eq!(te("chunked").unwrap().unwrap().0.is_chunked(), Ok(true));
    assert_eq!(te("Chunked ,").unwrap().unwrap().0.is_chunked(), Ok(true));
    assert_eq!(te("gzip").unwrap_err().status(), 501);
    assert_eq!(te("gzip, chunked").unwrap_err().status(), 501);
    assert_eq!(te("identity").unwrap_err().status(), 501);
    assert_eq!(te("chunked, gzip").unwrap_err().status(), 400);
    assert_eq!(te("chunked, chunked").unwrap_err().status(), 400);
    assert_eq!(te("").unwrap_err().status(), 400);
    assert_eq!(
        decode_head(&req("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"))
            .unwrap_err()
            .status(),
        501
    );
    // Smuggling vectors: both framings, or chunked in HTTP/1.0.
    assert_eq!(
        err(&req("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")),
        HttpError::BadRequest("both Content-Length and Transfer-Encoding")
    );
    assert_eq!(
        err(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        HttpError::BadRequest("Transfer-Encoding in HTTP/1.0")
    );
}

#[test]
fn bad_syntax_is_400() {
    let cases: &[&[u8]] = &[
        b"PUT /b/k HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n",
        b"PUT /b/k HTTP/1.1\r\nHost: h\r\n X-Lead: a\r\n\r\n",
        b"PUT /b/k HTTP/1.1\r\nHost: h\r\nBad Name: a\r\n\r\n",
        b"PUT /b/k HTTP/1.1\r\nHost: h\r\nBad\x01: a\r\n\r\n",
        b"PUT /b/k HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n",
        b"PUT /b/k HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n",
        b"PUT /b/k HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",
        b"PUT /b/k HTTP/1.1\r\nHost: h\r\nX: \xff\xfe\r\n\r\n",
        b"PUT /b/k HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n",
        b"PUT /b/k  HTTP/1.1\r\nHost: h\r\n\r\n",
        b"PUT /b/\xff HTTP/1.1\r\nHost: h\r\n\r\n",
        b"PUT /b/k\x01 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"PUT /b/k#frag HTTP/1.1\r\nHost: h\r\n\r\n",
        b"P(T /b/k HTTP/1.1\r\nHost: h\r\n\r\n",
        b"PUT /b/k HTTP/1.1\r\r\nHost: h\r\n\r\n",
        b"PUT /b/k HTTP/1.1\r\n\r\n",
        b"PUT /b/k HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    ];
    for c in cases {
        assert_eq!(err(c).status(), 400, "{}", String::from_utf8_lossy(c));
    }
    // Raw UTF-8 in the target is passed through as sent.
    assert_eq!(
        ok("GET /b/caf\u{e9} HTTP/1.1\r\nHost: h\r\n\r\n".as_bytes()).0.path,
        "/b/caf\u{e9}"
    );
}

#[test]
fn versions() {
    let (h, _) = ok(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(h.version, Version::HTTP_10);
    for v in ["HTTP/2.0", "HTTP/1.2", "HTTP/0.9"] {
        let e = err(format!("GET / {v}\r\nHost: h\r\n\r\n").as_bytes());
        assert_eq!(e.status(), 505, "{v}");
    }
    assert_eq!(err(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").status(), 505);
    assert_eq!(err(b"GET / FTP/1.1\r\n\r\n").status(), 400);
    assert_eq!(err(b"GET /  HTTP/1.1\r\n\r\n").status(), 400);
}

#[test]
fn a_space_in_the_target_is_400_not_505() {
    for line in [
        "GET /a b HTTP/1.1",
        "GET /a b c HTTP/1.1",
        "GET /a HTTP/1.1 x",
        "GET /a\tb HTTP/1.1",
        " GET /a HTTP/1.1",
    ] {
        let raw = format!("{line}\r\nHost: h\r\n\r\n");
        assert_eq!(err(raw.as_bytes()).status(), 400, "{line}");
        let mut d = HeadDecoder::new();
        assert_eq!(d.decode(raw.as_bytes()).unwrap_err().status(), 400, "{line}");
    }
    assert_eq!(
        err(b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n"),
        HttpError::BadRequest("invalid request line")
    );
    // Only a well-formed line naming another version is 505.
    assert_eq!(
        err(b"GET /a HTTP/1.2\r\nHost: h\r\n\r\n"),
        HttpError::UnsupportedVersion
    );
    assert_eq!(
        err(b"\r\nGET /a HTTP/3.0\r\nHost: h\r\n\r\n"),
        HttpError::UnsupportedVersion
    );
}

/// The first bytes of a TLS 1.2 ClientHello record: no line end anywhere near.
const CLIENT_HELLO: &[u8] = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x8a\x1f";

#[test]
fn a_tls_handshake_is_refused_at_its_first_byte() {
    let tls = HttpError::BadRequest("TLS handshake on the plain HTTP port");
    for n in 1..=CLIENT_HELLO.len() {
        assert_eq!(decode_head(&CLIENT_HELLO[..n]), Err(tls.clone()), "{n} bytes");
        assert_eq!(
            HeadDecoder::new().decode(&CLIENT_HELLO[..n]),
            Err(tls.clone()),
            "{n} bytes"
        );
    }
    // After the empty lines that may precede a request line, too.
    assert_eq!(HeadDecoder::new().decode(b"\r\n\x16\x03"), Err(tls.clone()));
    // Any byte that cannot start a method is as hopeless; a partial method is not.
    for first in [0u8, b' ', b'(', b'{', 0x7f, 0x80, 0xff] {
        let e = HeadDecoder::new().decode(&[first, b'x']).unwrap_err();
        assert_eq!(e, HttpError::BadRequest("invalid request line"), "{first:#x}");
    }
    assert_eq!(HeadDecoder::new().decode(b"GE"), Ok(None));
    assert_eq!(HeadDecoder::new().decode(b"\r\n"), Ok(None));
    assert_eq!(HeadDecoder::new().decode(b""), Ok(None));
}

#[test]
fn declares_body_length() {
    let (h, _) = ok(b"PUT /b/k HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(!h.declares_body_length());
    for framing in ["Content-Length: 0", "content-length: 5", "Transfer-Encoding: chunked"] {
        let (h, _) = ok(&req(&format!("{framing}\r\n")));
        assert!(h.declares_body_length(), "{framing}");
    }
}

#[test]
fn target_forms() {
    let target = |t: &str| decode_head(format!("GET {t} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
    let pq = |t: &str| {
        let h = target(t).unwrap().unwrap().0;
        (h.path, h.query)
    };
    assert_eq!(pq("/"), ("/".into(), "".into()));
    assert_eq!(pq("/b?"), ("/b".into(), "".into()));
    assert_eq!(
        pq("/b?list-type=2&prefix=photos%2F"),
        ("/b".into(), "list-type=2&prefix=photos%2F".into())
    );
    assert_eq!(pq("/b/k?a?b"), ("/b/k".into(), "a?b".into()));
    assert_eq!(pq("//b//k//"), ("//b//k//".into(), "".into()));
    assert_eq!(pq("http://s3.local/b/k%20x?acl"), ("/b/k%20x".into(), "acl".into()));
    assert_eq!(pq("HTTPS://s3.local:443"), ("/".into(), "".into()));
    assert_eq!(pq("http://s3.local?location"), ("/".into(), "location".into()));
    for bad in ["*", "s3.local:443", "b/k", "ftp://h/b", "http:///b", "http://"] {
        assert_eq!(target(bad).unwrap_err().status(), 400, "{bad}");
    }
}

#[test]
fn host_rules() {
    assert_eq!(err(b"GET / HTTP/1.1\r\n\r\n"), HttpError::BadRequest("missing Host"));
    assert_eq!(ok(b"GET / HTTP/1.0\r\n\r\n").0.host(), None);
    assert_eq!(ok(b"GET / HTTP/1.0\r\nHOST: b.s3\r\n\r\n").0.host(), Some("b.s3"));
    assert_eq!(err(b"GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n").status(), 400);
}

#[test]
fn keep_alive_and_expect() {
    let head = |v: &str, lines: &str| ok(format!("GET / HTTP/{v}\r\nHost: h\r\n{lines}\r\n").as_bytes()).0;
    assert!(head("1.1", "").keep_alive());
    assert!(!head("1.1", "Connection: close\r\n").keep_alive());
    assert!(!head("1.1", "Connection: keep-alive, Close\r\n").keep_alive());
    assert!(!head("1.1", "Connection: x\r\nConnection: close\r\n").keep_alive());
    assert!(head("1.1", "Connection: closed\r\n").keep_alive());
    assert!(!head("1.0", "").keep_alive());
    assert!(head("1.0", "Connection: Keep-Alive\r\n").keep_alive());
    assert!(!head("1.0", "Connection: keep-alive, close\r\n").keep_alive());
    assert!(head("1.1", "Expect: 100-Continue\r\n").expect_continue());
    assert!(!head("1.1", "Expect: 200-ok\r\n").expect_continue());
    assert!(!head("1.0", "Expect: 100-continue\r\n").expect_continue());
}

#[test]
fn methods() {
    for (m, want) in [
        ("GET", Method::GET),
        ("HEAD", Method::HEAD),
        ("PUT", Method::PUT),
        ("POST", Method::POST),
        ("DELETE", Method::DELETE),
        ("OPTIONS", Method::OPTIONS),
    ] {
        assert_eq!(
            ok(format!("{m} / HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes()).0.method,
            want
        );
    }
    // Extension methods parse; routing refuses them.
    assert_eq!(
        ok(b"PROPFIND / HTTP/1.1\r\nHost: h\r\n\r\n").0.method.as_str(),
        "PROPFIND"
    );
}

#[test]
fn decoder_resets_after_a_head() {
    let mut d = HeadDecoder::new();
    assert_eq!(d.decode(&GET[..20]), Ok(None));
    let (_, n) = d.decode(GET).unwrap().unwrap();
    assert_eq!(n, GET.len());
    // A fresh, shorter buffer for the next request works without reset().
    assert_eq!(d.decode(&PUT[..10]), Ok(None));
    assert!(d.decode(PUT).unwrap().is_some());
    d.reset();
    assert!(d.decode(CHUNKED).unwrap().is_some());
}

fn mutate(base: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut v = base.to_vec();
    for &(at, byte, op) in edits {
        let at = at % (v.len() + 1);
        match op % 3 {
            0 if at < v.len() => v[at] = byte,
            1 => v.insert(at, byte),
            _ if at < v.len() => {
                v.remove(at);
            }
            _ => {}
        }
    }
    v
}

fn check_invariants(buf: &[u8]) {
    if let Ok(Some((h, n))) = decode_head(buf) {
        assert!(n <= buf.len() && n <= MAX_HEAD_BYTES);
        assert!(h.path.starts_with('/'));
        assert!(h.path.len() + h.query.len() <= MAX_URI_BYTES);
        assert!(h.headers.len() <= MAX_HEADERS);
        let _ = (h.keep_alive(), h.expect_continue(), h.host());
        assert!(BodyKind::from_head(&h).is_ok());
    }
    // The incremental decoder agrees whenever it answers.
    let mut d = HeadDecoder::new();
    for cut in [buf.len() / 3, buf.len() / 2, buf.len()] {
        match d.decode(&buf[..cut]) {
            Ok(None) => {}
            r => {
                assert_eq!(r, decode_head(&buf[..cut]));
                break;
            }
        }
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_invariants(&buf);
    }

    #[test]
    fn mutated_heads_never_panic(
        which in 0usize..3,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8),
    ) {
        let base = [GET, PUT, CHUNKED][which];
        check_invariants(&mutate(base, &edits));
    }

    #[test]
    fn mutated_heads_with_framing_bytes(
        which in 0usize..3,
        edits in proptest::collection::vec(
            (any::<usize>(), prop::sample::select(b"\r\n :,;\t\x00\x7f\xff/?#%".to_vec()), any::<u8>()),
            1..8,
        ),
    ) {
        let base = [GET, PUT, CHUNKED][which];
        check_invariants(&mutate(base, &edits));
    }
}
