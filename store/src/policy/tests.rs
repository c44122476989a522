//! Bucket policy parsing, checks and evaluation.

use serde_json::json;

use super::*;

/// Facts from a fixed list (absent otherwise; `Unknown` for existing tags when `tags` is None).
struct Fixed<'a> {
    values: &'a [(Key, &'a str)],
    tags: Option<&'a [(&'a str, &'a str)]>,
}

impl Facts for Fixed<'_> {
    fn found(&self, key: &Key) -> Found {
        if let Key::ExistingObjectTag(k) = key {
            return match self.tags {
                None => Found::Unknown,
                Some(tags) => match tags.iter().find(|(t, _)| t == k) {
                    Some((_, v)) => Found::Values(vec![v.to_string()]),
                    None => Found::Absent,
                },
            };
        }
        match self.values.iter().find(|(k, _)| k == key) {
            Some((_, v)) => Found::Values(vec![v.to_string()]),
            None => Found::Absent,
        }
    }
}

const NONE: Fixed<'static> = Fixed {
    values: &[],
    tags: Some(&[]),
};

fn policy(statements: serde_json::Value) -> BucketPolicy {
    BucketPolicy::parse(&json!({"Version": "2012-10-17", "Statement": statements}).to_string()).unwrap()
}

fn req<'a>(caller: Option<&'a str>, action: &'a str, key: Option<&'a str>) -> Request<'a> {
    Request {
        caller,
        action,
        bucket: "photos",
        key,
    }
}

fn verdict(p: &BucketPolicy, r: Request<'_>, f: &Fixed<'_>) -> Verdict {
    p.evaluate(&r, f).verdict
}

#[test]
fn allow_and_deny_by_principal_action_and_resource() {
    let p = policy(json!([
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::photos"},
        {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::alice:root"]}, "Action": "s3:Get*",
         "Resource": ["arn:aws:s3:::photos/public/*"]},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/public/secret*"}
    ]));
    assert_eq!(verdict(&p, req(None, "s3:ListBucket", None), &NONE), Verdict::Allow);
    assert_eq!(
        verdict(&p, req(Some("bob"), "s3:ListBucket", None), &NONE),
        Verdict::Allow
    );
    assert_eq!(
        verdict(&p, req(Some("alice"), "s3:GetObject", Some("public/a.jpg")), &NONE),
        Verdict::Allow
    );
    assert_eq!(
        verdict(&p, req(Some("alice"), "s3:GETOBJECTTAGGING", Some("public/a")), &NONE),
        Verdict::Allow
    );
    assert_eq!(
        verdict(&p, req(Some("bob"), "s3:GetObject", Some("public/a.jpg")), &NONE),
        Verdict::Neutral
    );
    assert_eq!(
        verdict(&p, req(Some("alice"), "s3:GetObject", Some("private/a")), &NONE),
        Verdict::Neutral
    );
    assert_eq!(
        verdict(&p, req(Some("alice"), "s3:PutObject", Some("public/a")), &NONE),
        Verdict::Neutral
    );
    // An explicit deny wins over any allow.
    assert_eq!(
        verdict(&p, req(Some("alice"), "s3:GetObject", Some("public/secret.txt")), &NONE),
        Verdict::Deny
    );
    // A bucket action does not match an object resource, nor the other way round.
    assert_eq!(
        verdict(&p, req(Some("alice"), "s3:GetObject", None), &NONE),
        Verdict::Neutral
    );
}

#[test]
fn not_principal_not_action_and_not_resource() {
    let p = policy(json!([
        {"Effect": "Deny", "NotPrincipal": {"CanonicalUser": "owner"}, "NotAction": ["s3:Get*", "s3:List*"],
         "Resource": "arn:aws:s3:::photos/*"},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "NotResource": "arn:aws:s3:::photos/private/*"}
    ]));
    assert_eq!(
        verdict(&p, req(Some("bob"), "s3:PutObject", Some("a")), &NONE),
        Verdict::Deny
    );
    assert_eq!(
        verdict(&p, req(None, "s3:DeleteObject", Some("a")), &NONE),
        Verdict::Deny
    );
    assert_eq!(
        verdict(&p, req(Some("owner"), "s3:PutObject", Some("a")), &NONE),
        Verdict::Allow
    );
    assert_eq!(
        verdict(&p, req(Some("bob"), "s3:GetObject", Some("a")), &NONE),
        Verdict::Allow
    );
    assert_eq!(
        verdict(&p, req(Some("bob"), "s3:GetObject", Some("private/a")), &NONE),
        Verdict::Neutral
    );
}

#[test]
fn conditions_decide_and_existing_tags_wait_for_the_object() {
    let p = policy(json!([
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*",
         "Condition": {"StringEquals": {"s3:ExistingObjectTag/security": "public"}}},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::photos/*",
         "Condition": {"StringNotEquals": {"s3:x-amz-acl": "private"}, "Bool": {"aws:SecureTransport": "false"}}}
    ]));
    let unknown = Fixed {
        values: &[],
        tags: None,
    };
    let out = p.evaluate(&req(Some("bob"), "s3:GetObject", Some("a")), &unknown);
    assert_eq!(
        out,
        Outcome {
            verdict: Verdict::Neutral,
            undecided: true
        }
    );
    let public = Fixed {
        values: &[],
        tags: Some(&[("security", "public")]),
    };
    let private = Fixed {
        values: &[],
        tags: Some(&[("security", "private")]),
    };
    assert_eq!(
        verdict(&p, req(Some("bob"), "s3:GetObject", Some("a")), &public),
        Verdict::Allow
    );
    assert_eq!(
        verdict(&p, req(Some("bob"), "s3:GetObject", Some("a")), &private),
        Verdict::Neutral
    );
    let plain_public_acl = Fixed {
        values: &[
            (Key::Header("x-amz-acl"), "public-read"),
            (Key::SecureTransport, "false"),
        ],
        tags: Some(&[]),
    };
    let tls = Fixed {
        values: &[
            (Key::Header("x-amz-acl"), "public-read"),
            (Key::SecureTransport, "true"),
        ],
        tags: Some(&[]),
    };
    // No x-amz-acl at all: StringNotEquals holds for an absent key.
    let no_acl = Fixed {
        values: &[(Key::SecureTransport, "false")],
        tags: Some(&[]),
    };
    assert_eq!(
        verdict(&p, req(None, "s3:PutObject", Some("a")), &plain_public_acl),
        Verdict::Deny
    );
    assert_eq!(
        verdict(&p, req(None, "s3:PutObject", Some("a")), &tls),
        Verdict::Neutral
    );
    assert_eq!(
        verdict(&p, req(None, "s3:PutObject", Some("a")), &no_acl),
        Verdict::Deny
    );
}

#[test]
fn documents_are_kept_as_sent() {
    let text = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": {\"Effect\": \"Allow\", \"Principal\": \"*\", \
                \"Action\": \"s3:GetObject\", \"Resource\": \"arn:aws:s3:::photos/*\"}\n}";
    let p = BucketPolicy::parse(text).unwrap();
    assert_eq!(p.text(), text);
    let stored = serde_json::to_string(&p).unwrap();
    let back: BucketPolicy = serde_json::from_str(&stored).unwrap();
    assert_eq!(back.text(), text);
    assert_eq!(
        verdict(&back, req(None, "s3:GetObject", Some("x")), &NONE),
        Verdict::Allow
    );
}

#[test]
fn what_cannot_be_enforced_is_refused() {
    let stmt = |extra: serde_json::Value| {
        let mut s = json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                           "Resource": "arn:aws:s3:::photos/*"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                s.as_object_mut().unwrap().remove(k);
            } else {
                s[k] = v.clone();
            }
        }
        json!({"Version": "2012-10-17", "Statement": [s]}).to_string()
    };
    for bad in [
        "not json".to_string(),
        "[]".to_string(),
        json!({"Version": "2012-10-17"}).to_string(),
        json!({"Version": "2012-10-17", "Statement": []}).to_string(),
        json!({"Version": "2020-01-01", "Statement": []}).to_string(),
        stmt(json!({"Effect": "Maybe"})),
        stmt(json!({"Principal": null})),
        stmt(json!({"Principal": {"Service": "logging.s3.amazonaws.com"}})),
        stmt(json!({"Principal": {"AWS": "arn:aws:iam::123:role/r"}})),
        stmt(json!({"Principal": null, "NotPrincipal": {"AWS": "arn:aws:iam::x:root"}})),
        stmt(json!({"Action": "s3:FlyToTheMoon"})),
        stmt(json!({"Action": "ec2:*"})),
        stmt(json!({"Action": []})),
        stmt(json!({"Resource": "arn:aws:sqs:::q"})),
        stmt(json!({"Resource": null})),
        stmt(json!({"Condition": {"StringEquals": {"aws:SourceArn": "arn:x"}}})),
        stmt(json!({"Condition": {"StringEquals": "x"}})),
        stmt(json!({"Unexpected": 1})),
        format!("{{\"Statement\": \"{}\"}}", "x".repeat(MAX_POLICY_BYTES)),
    ] {
        assert!(BucketPolicy::parse(&bad).is_err(), "{bad}");
    }
}

#[test]
fn resources_must_name_the_bucket() {
    let of = |r: &str| policy(json!([{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": r}]));
    assert!(of("arn:aws:s3:::photos").check_bucket("photos").is_ok());
    assert!(of("arn:aws:s3:::photos/a/*").check_bucket("photos").is_ok());
    assert!(of("arn:aws:s3:::*").check_bucket("photos").is_ok());
    assert!(of("arn:aws:s3:::pho*/*").check_bucket("photos").is_ok());
    assert!(of("*").check_bucket("photos").is_ok());
    assert!(of("arn:aws:s3:::videos/*").check_bucket("photos").is_err());
}

#[test]
fn public_policies_are_told_apart() {
    let with = |principal: serde_json::Value, cond: Option<serde_json::Value>| {
        let mut s = json!({"Effect": "Allow", "Principal": principal, "Action": "s3:ListBucket",
                           "Resource": "arn:aws:s3:::photos"});
        if let Some(c) = cond {
            s["Condition"] = c;
        }
        policy(json!([s]))
    };
    assert!(with(json!({"AWS": "*"}), None).is_public());
    assert!(with(json!("*"), Some(json!({"StringLike": {"aws:Referer": "*"}}))).is_public());
    assert!(!with(json!({"AWS": "arn:aws:iam::s3tenant1:root"}), None).is_public());
    assert!(!with(
        json!({"AWS": "*"}),
        Some(json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/32"}}))
    )
    .is_public());
    let deny = policy(json!([{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}]));
    assert!(!deny.is_public());
}

#[test]
fn globs() {
    assert!(glob("a*b?d", "axxxbcd", false));
    assert!(glob("*", "", false));
    assert!(glob("s3:get*", "s3:getobject", true));
    assert!(glob("S3:GET*", "s3:getobject", true));
    assert!(!glob("a*b", "acd", false));
    assert!(!glob("A", "a", false));
    assert!(glob("*a*a*a*a*b", &format!("{}b", "a".repeat(500)), false));
    assert!(!glob("*a*a*a*a*b", &"a".repeat(500), false));
}

#[test]
fn a_stored_document_that_cannot_be_read_fails_closed() {
    let stored = serde_json::to_string("{\"Statement\": \"from a later version\"}").unwrap();
    let p: BucketPolicy = serde_json::from_str(&stored).unwrap();
    assert_eq!(p.text(), "{\"Statement\": \"from a later version\"}");
    assert_eq!(
        verdict(&p, req(Some("anyone"), "s3:GetObject", Some("k")), &NONE),
        Verdict::Deny
    );
    assert_eq!(verdict(&p, req(None, "s3:ListBucket", None), &NONE), Verdict::Deny);
}
