//! Policy documents: parsing, each condition kind one by one, expiration and field coverage.

use super::*;

/// 2030-01-01T00:00:00Z.
const LATER: &str = "2030-01-01T00:00:00.000Z";
const NOW: i64 = 1_800_000_000;

fn policy(json: &str) -> Result<Policy, ProxyError> {
    Policy::parse(&B64.encode(json))
}

fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

fn message(e: ProxyError) -> (u16, &'static str, String) {
    (e.status(), e.code(), e.to_string())
}

fn with(conditions: &str) -> Policy {
    policy(&format!(
        "{{\"expiration\": \"{LATER}\", \"conditions\": [{conditions}]}}"
    ))
    .unwrap()
}

#[test]
fn expiration_is_read_and_enforced() {
    let p = with("");
    assert_eq!(p.expiration, 1_893_456_000);
    assert!(p.check(&[], "b", NOW).is_ok());
    assert_eq!(
        message(p.check(&[], "b", 1_893_456_001).unwrap_err()),
        (
            403,
            "AccessDenied",
            "Invalid according to Policy: Policy expired.".into()
        )
    );
    assert_eq!(
        policy(r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": []}"#)
            .unwrap()
            .expiration,
        1_893_456_000
    );
}

#[test]
fn exact_match_in_both_spellings() {
    for c in [
        r#"{"key": "a.txt"}"#,
        r#"["eq", "$key", "a.txt"]"#,
        r#"{"KeY": "a.txt"}"#,
        r#"["EQ", "$KEY", "a.txt"]"#,
    ] {
        let p = with(c);
        assert!(p.check(&fields(&[("key", "a.txt")]), "b", NOW).is_ok(), "{c}");
        let e = p.check(&fields(&[("key", "a.txtx")]), "b", NOW).unwrap_err();
        assert_eq!(
            message(e),
            (
                403,
                "AccessDenied",
                "Invalid according to Policy: Policy Condition failed: [\"eq\", \"$key\", \"a.txt\"]".into()
            ),
            "{c}"
        );
    }
}

#[test]
fn starts_with_including_the_empty_prefix() {
    let p = with(r#"["starts-with", "$key", "user/"]"#);
    assert!(p.check(&fields(&[("key", "user/a")]), "b", NOW).is_ok());
    assert!(p.check(&fields(&[("key", "other/a")]), "b", NOW).is_err());
    let any = with(r#"["starts-with", "$x-amz-meta-tag", ""]"#);
    assert!(any.check(&fields(&[("x-amz-meta-tag", "whatever")]), "b", NOW).is_ok());
    assert!(any.check(&[], "b", NOW).is_ok(), "an absent field is the empty string");
    let ct = with(r#"["starts-with", "$Content-Type", "image/"]"#);
    assert!(ct
        .check(&fields(&[("content-type", "image/png, image/gif")]), "b", NOW)
        .is_ok());
    assert!(ct
        .check(&fields(&[("content-type", "image/png, text/html")]), "b", NOW)
        .is_err());
}

#[test]
fn a_missing_field_fails_its_condition() {
    let p = with(r#"["starts-with", "$x-amz-meta-foo", "bar"]"#);
    assert!(p.check(&[], "b", NOW).is_err());
}

#[test]
fn the_bucket_condition_is_checked_against_the_addressed_bucket() {
    let p = with(r#"{"bucket": "mine"}"#);
    assert!(p.check(&fields(&[("bucket", "mine")]), "mine", NOW).is_ok());
    assert!(p.check(&fields(&[("bucket", "mine")]), "theirs", NOW).is_err());
}

#[test]
fn content_length_range_is_returned_not_checked_here() {
    let p = with(r#"["content-length-range", 10, 100]"#);
    assert_eq!(p.length_range(), Some((10, 100)));
    assert!(p.check(&[], "b", NOW).is_ok());
    assert_eq!(
        with(r#"["content-length-range", "1", "2"]"#).length_range(),
        Some((1, 2))
    );
    assert_eq!(with("").length_range(), None);
}

#[test]
fn every_field_must_be_named_by_a_condition_except_the_exempt_ones() {
    let p = with(r#"{"key": "k"}"#);
    let e = p
        .check(&fields(&[("key", "k"), ("x-amz-meta-extra", "v")]), "b", NOW)
        .unwrap_err();
    assert_eq!(
        message(e),
        (
            403,
            "AccessDenied",
            "Invalid according to Policy: Extra input fields: x-amz-meta-extra".into()
        )
    );
    let exempt_fields = fields(&[
        ("key", "k"),
        ("policy", "p"),
        ("signature", "s"),
        ("x-amz-signature", "s"),
        ("awsaccesskeyid", "a"),
        ("x-ignore-anything", "i"),
        ("x-amz-checksum-sha256", "c"),
    ]);
    assert!(p.check(&exempt_fields, "b", NOW).is_ok());
}

#[test]
fn malformed_documents_are_invalid_policy_documents() {
    let cases = [
        r#"{"conditions": []}"#,
        r#"{"expiration": "2030-01-01T00:00:00.000Z"}"#,
        r#"{"EXPIRATION": "2030-01-01T00:00:00.000Z", "conditions": []}"#,
        r#"{"expiration": "2030-01-01T00:00:00.000Z", "CONDITIONS": []}"#,
        r#"{"expiration": "2030-01-01 00:00:00+00:00", "conditions": []}"#,
        r#"{"expiration": "2030-02-30T00:00:00Z", "conditions": []}"#,
        r#"{"expiration": 5, "conditions": []}"#,
        r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [{}]}"#,
        r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", 0]]}"#,
        r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", -1, 0]]}"#,
        r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "key", "x"]]}"#,
        r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["ends-with", "$key", "x"]]}"#,
        r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"key": 5}]}"#,
        r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": ["key"]}"#,
        "[]",
        "not json",
    ];
    for c in cases {
        let e = policy(c).unwrap_err();
        assert_eq!((e.status(), e.code()), (400, "InvalidPolicyDocument"), "{c}");
    }
    assert!(Policy::parse("!!!").is_err());
}
