//! Lifecycle configurations read and written.

use super::*;

fn wrap(rules: &str) -> String {
    format!(
        "<LifecycleConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{rules}</LifecycleConfiguration>"
    )
}

#[test]
fn both_prefix_forms_and_every_action_round_trip() {
    let body = wrap(
        "<Rule><ID>logs</ID><Prefix>logs/</Prefix><Status>Enabled</Status><Expiration><Days>30</Days></Expiration></Rule>\
         <Rule><Filter><And><Prefix>tmp/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag>\
         <ObjectSizeGreaterThan>10</ObjectSizeGreaterThan></And></Filter><Status>Disabled</Status>\
         <NoncurrentVersionExpiration><NoncurrentDays>2</NoncurrentDays><NewerNoncurrentVersions>3</NewerNoncurrentVersions>\
         </NoncurrentVersionExpiration></Rule>\
         <Rule><ID>m</ID><Filter/><Status>Enabled</Status>\
         <Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>\
         <AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>\
         <Rule><ID>d</ID><Filter><Prefix>old/</Prefix></Filter><Status>Enabled</Status>\
         <Expiration><Date>2027-01-01T00:00:00.000Z</Date></Expiration></Rule>",
    );
    let rules = parse_lifecycle(body.as_bytes()).unwrap();
    assert_eq!(rules.len(), 4);
    assert_eq!(
        (rules[0].id.as_str(), rules[0].legacy_prefix, rules[0].enabled),
        ("logs", true, true)
    );
    assert_eq!(rules[1].id, "rule-1", "an id is made up");
    assert_eq!(rules[1].filter.tags, vec![("k".to_string(), "v".to_string())]);
    assert_eq!(rules[1].filter.size_greater_than, Some(10));
    assert_eq!(
        rules[1].noncurrent,
        Some(NoncurrentExpiration {
            days: 2,
            newer_versions: Some(3)
        })
    );
    assert_eq!(rules[2].expiration, Some(Expiration::ExpiredObjectDeleteMarker));
    assert_eq!(rules[2].abort_multipart_days, Some(7));
    assert!(matches!(&rules[3].expiration, Some(Expiration::Date { secs, .. }) if *secs == 1_798_761_600));
    let text = String::from_utf8(LifecycleConfiguration { rules: &rules }.to_vec()).unwrap();
    assert!(
        text.contains("<Rule><ID>logs</ID><Prefix>logs/</Prefix><Status>Enabled</Status><Expiration><Days>30</Days>"),
        "{text}"
    );
    assert!(text.contains("<Filter><And><Prefix>tmp/</Prefix><Tag>"), "{text}");
    assert!(text.contains("<Filter><Prefix>old/</Prefix></Filter>"), "{text}");
    assert!(text.contains("<Date>2027-01-01T00:00:00.000Z</Date>"), "{text}");
    assert_eq!(parse_lifecycle(text.as_bytes()).unwrap(), rules);
}

#[test]
fn refusals() {
    let rule = |inner: &str| wrap(&format!("<Rule><ID>a</ID><Prefix>p</Prefix>{inner}</Rule>"));
    let days = "<Expiration><Days>1</Days></Expiration>";
    let malformed = [
        wrap(""),
        rule(&format!("<Status>enabled</Status>{days}")),
        rule(days),
        rule("<Status>Enabled</Status><Expiration><Days>x</Days></Expiration>"),
        rule("<Status>Enabled</Status><Expiration><Days>1</Days><Date>2027-01-01</Date></Expiration>"),
        rule(&format!("<Status>Enabled</Status>{days}{days}")),
        rule(&format!(
            "<Status>Enabled</Status><Filter><Prefix>q</Prefix></Filter>{days}"
        )),
        wrap(&format!(
            "<Rule><Filter><Prefix>a</Prefix><Prefix>b</Prefix></Filter><Status>Enabled</Status>{days}</Rule>"
        )),
        "<LifecycleConfiguration><Rule>".to_string(),
    ];
    for body in malformed {
        assert!(
            matches!(parse_lifecycle(body.as_bytes()), Err(LifecycleError::Malformed(_))),
            "{body}"
        );
    }
    let invalid = [
        wrap(&format!(
            "<Rule><ID>a</ID><Prefix/><Status>Enabled</Status>{days}</Rule><Rule><ID>a</ID><Prefix/><Status>Enabled</Status>{days}</Rule>"
        )),
        wrap(&format!("<Rule><ID>{}</ID><Prefix/><Status>Enabled</Status>{days}</Rule>", "a".repeat(256))),
        rule("<Status>Enabled</Status><Expiration><Date>20200101</Date></Expiration>"),
        rule("<Status>Enabled</Status><Expiration><Date>2020-01-01T12:00:00Z</Date></Expiration>"),
        rule("<Status>Enabled</Status><Expiration><Days>0</Days></Expiration>"),
        rule("<Status>Enabled</Status>"),
        rule("<Status>Enabled</Status><Transition><Date>20220927</Date><StorageClass>GLACIER</StorageClass></Transition>"),
    ];
    for body in invalid {
        assert!(
            matches!(parse_lifecycle(body.as_bytes()), Err(LifecycleError::Invalid(_))),
            "{body}"
        );
    }
    let transition =
        rule("<Status>Enabled</Status><Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition>");
    assert_eq!(parse_lifecycle(transition.as_bytes()), Err(LifecycleError::Transition));
}
