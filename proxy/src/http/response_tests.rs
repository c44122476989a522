//! Tests of response heads, reason phrases and HTTP dates against known values.

use super::*;
use proptest::prelude::*;

fn written(h: &ResponseHead) -> String {
    let mut out = Vec::new();
    h.write_to(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn writes_status_line_headers_and_blank_line() {
    let h = ResponseHead::new(200)
        .header("ETag", "\"d41d8cd98f00b204e9800998ecf8427e\"")
        .header(String::from("x-amz-meta-owner"), "me")
        .content_length(5);
    assert_eq!(
        written(&h),
        "HTTP/1.1 200 OK\r\nETag: \"d41d8cd98f00b204e9800998ecf8427e\"\r\nx-amz-meta-owner: me\r\n\
         Content-Length: 5\r\n\r\n"
    );
    assert_eq!(written(&ResponseHead::new(204)), "HTTP/1.1 204 No Content\r\n\r\n");
    let mut h = ResponseHead::new(404);
    h.push("Content-Type", "application/xml");
    assert_eq!(
        written(&h),
        "HTTP/1.1 404 Not Found\r\nContent-Type: application/xml\r\n\r\n"
    );
}

#[test]
fn appends_to_existing_output() {
    let mut out = b"prefix".to_vec();
    ResponseHead::new(100).write_to(&mut out);
    assert_eq!(&out[6..], CONTINUE_100);
}

#[test]
fn date_header() {
    let h = ResponseHead::new(200).date(784_111_777);
    assert_eq!(
        written(&h),
        "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
    );
}

#[test]
fn unknown_and_invalid_statuses() {
    assert_eq!(written(&ResponseHead::new(599)), "HTTP/1.1 599 \r\n\r\n");
    assert_eq!(
        written(&ResponseHead::new(42)),
        "HTTP/1.1 500 Internal Server Error\r\n\r\n"
    );
    assert_eq!(
        written(&ResponseHead::new(1000)),
        "HTTP/1.1 500 Internal Server Error\r\n\r\n"
    );
}

#[test]
fn values_cannot_split_the_head() {
    let h = ResponseHead::new(200).header("x-amz-meta-a\r\n", "v\r\nSet-Cookie: x\0");
    assert_eq!(
        written(&h),
        "HTTP/1.1 200 OK\r\nx-amz-meta-a  : v  Set-Cookie: x \r\n\r\n"
    );
}

#[test]
fn reason_phrases() {
    for (code, reason) in [
        (100, "Continue"),
        (200, "OK"),
        (204, "No Content"),
        (206, "Partial Content"),
        (304, "Not Modified"),
        (400, "Bad Request"),
        (403, "Forbidden"),
        (404, "Not Found"),
        (405, "Method Not Allowed"),
        (409, "Conflict"),
        (411, "Length Required"),
        (412, "Precondition Failed"),
        (413, "Content Too Large"),
        (414, "URI Too Long"),
        (416, "Range Not Satisfiable"),
        (431, "Request Header Fields Too Large"),
        (500, "Internal Server Error"),
        (501, "Not Implemented"),
        (503, "Service Unavailable"),
        (505, "HTTP Version Not Supported"),
        (507, "Insufficient Storage"),
    ] {
        assert_eq!(reason_phrase(code), reason);
    }
    assert_eq!(reason_phrase(299), "");
}

const KNOWN: &[(i64, &str)] = &[
    (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
    (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
    (-1, "Wed, 31 Dec 1969 23:59:59 GMT"),
    (946_684_800, "Sat, 01 Jan 2000 00:00:00 GMT"),
    (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
    (1_700_000_000, "Tue, 14 Nov 2023 22:13:20 GMT"),
    (2_147_483_647, "Tue, 19 Jan 2038 03:14:07 GMT"),
    (4_102_444_800, "Fri, 01 Jan 2100 00:00:00 GMT"),
    (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT"),
    (-62_167_219_200, "Sat, 01 Jan 0000 00:00:00 GMT"),
];

#[test]
fn http_date_known_values() {
    for &(t, s) in KNOWN {
        assert_eq!(http_date(t), s);
        assert_eq!(parse_http_date(s), Some(t), "{s}");
    }
    // Clamped to what four digits of year can show.
    assert_eq!(http_date(i64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
    assert_eq!(http_date(i64::MIN), "Sat, 01 Jan 0000 00:00:00 GMT");
}

#[test]
fn parses_the_three_formats() {
    // RFC 9110 §5.6.7's example in each format.
    assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
    assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(784_111_777));
    assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(784_111_777));
    assert_eq!(
        parse_http_date("Wed Nov 16 08:49:37 1994"),
        Some(784_111_777 + 10 * 86_400)
    );
    assert_eq!(parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT\t"), Some(784_111_777));
    assert_eq!(parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT"), Some(946_684_800));
    assert_eq!(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT"), Some(0));
    // A leap second counts as the next second.
    assert_eq!(parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT"), Some(1_483_228_800));
}

#[test]
fn rejects_malformed_dates() {
    for bad in [
        "",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Mon, 29 Feb 1900 00:00:00 GMT",
        "Mon, 29 Feb 2100 00:00:00 GMT",
        "Sun, 06 Nov 19x4 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:3\u{e9}GMT",
        "Sun, 06-Nov-94 08:49:37 GMT",
        "Sunday, 06 Nov 1994 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",
        "Sun Nov  6 08:49:37 94",
        "1994-11-06T08:49:37Z",
    ] {
        assert_eq!(parse_http_date(bad), None, "{bad}");
    }
    assert_eq!(parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT"), Some(951_782_400));
}

proptest! {
    #[test]
    fn round_trip(t in -62_167_219_200i64..=253_402_300_799) {
        let s = http_date(t);
        prop_assert_eq!(s.len(), 29);
        prop_assert_eq!(parse_http_date(&s), Some(t));
    }

    #[test]
    fn never_panics(s in "\\PC{0,40}") {
        let _ = parse_http_date(&s);
    }

    #[test]
    fn never_panics_on_near_dates(
        at in 0usize..29,
        c in prop::sample::select(vec!['0', '9', ' ', ',', ':', '-', 'é', 'G', 'x']),
    ) {
        let mut s: Vec<char> = "Sun, 06 Nov 1994 08:49:37 GMT".chars().collect();
        s[at] = c;
        let s: String = s.into_iter().collect();
        let _ = parse_http_date(&s);
    }
}

#[test]
fn decimal_matches_display() {
    for n in [0, 1, 9, 10, 99, 100, 4096, 1 << 32, u64::MAX - 1, u64::MAX] {
        assert_eq!(decimal(n), n.to_string());
    }
}

#[test]
fn keep_alive_is_added_once_after_the_status_line() {
    let h = ResponseHead::new(200).header("ETag", "\"e\"").content_length(3);
    let mut out = Vec::new();
    h.write_to(&mut out);
    out.extend_from_slice(b"abc");
    let got = with_keep_alive(&out).unwrap();
    assert_eq!(
        String::from_utf8(got).unwrap(),
        "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nETag: \"e\"\r\nContent-Length: 3\r\n\r\nabc"
    );
    // No fields at all; a body that looks like a head is left alone.
    let got = with_keep_alive(b"HTTP/1.1 204 No Content\r\n\r\nconnection: close\r\n\r\n").unwrap();
    assert_eq!(
        got,
        b"HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\nconnection: close\r\n\r\n"
    );
    // Already decided by the head itself, in any case.
    for c in ["Connection: close", "connection: keep-alive", "CONNECTION:close"] {
        let raw = format!("HTTP/1.1 404 Not Found\r\nx-amz-request-id: r\r\n{c}\r\n\r\n");
        assert_eq!(with_keep_alive(raw.as_bytes()), None, "{c}");
    }
    // Interim responses, body pieces and incomplete heads are not touched.
    for raw in [
        CONTINUE_100,
        b"HTTP/1.1 ",
        b"body bytes",
        b"HTTP/1.1 200 OK\r\nETag: x\r\n",
        b"",
    ] {
        assert_eq!(with_keep_alive(raw), None, "{}", String::from_utf8_lossy(raw));
    }
}
