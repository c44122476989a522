//! Lifecycle rules as S3 keeps them with a bucket (`PutBucketLifecycleConfiguration`): which
//! objects a rule covers (a prefix, tags, size bounds) and what it does to them — expire current
//! versions after some days or on a date, remove noncurrent versions some days after they were
//! replaced (keeping the newest few), remove delete markers left alone, abort multipart uploads
//! left incomplete. Pure data and the arithmetic of when; the lifecycle worker in the proxy acts
//! on it and the XML lives there too. Transitions between storage classes have no meaning for an
//! orchestrator of plain backends and are refused when a configuration is set.

use serde::{Deserialize, Serialize};

/// Most rules one configuration holds (S3's limit).
pub const MAX_RULES: usize = 1000;
/// Longest rule id.
pub const MAX_ID_LEN: usize = 255;
/// A lifecycle day, in seconds, unless the configuration shortens it (for tests).
pub const DAY_SECS: u64 = 86_400;

/// Which objects a rule covers: all of these must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleFilter {
    /// Keys starting with this.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// Tags the object must carry, each with this value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// Objects larger than this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_greater_than: Option<u64>,
    /// Objects smaller than this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_less_than: Option<u64>,
}

impl RuleFilter {
    /// Whether an object with `key`, `size` and `tags` is covered.
    pub fn covers(&self, key: &str, size: u64, tags: &[(String, String)]) -> bool {
        key.starts_with(&self.prefix)
            && self.tags.iter().all(|t| tags.contains(t))
            && self.size_greater_than.is_none_or(|n| size > n)
            && self.size_less_than.is_none_or(|n| size < n)
    }

    /// How many conditions it has (S3 writes more than one inside `<And>`).
    pub fn conditions(&self) -> usize {
        usize::from(!self.prefix.is_empty())
            + self.tags.len()
            + usize::from(self.size_greater_than.is_some())
            + usize::from(self.size_less_than.is_some())
    }
}

/// When current versions expire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiration {
    /// This many days after the version was written.
    Days(u32),
    /// At this time (seconds since the epoch, a midnight UTC), written back as `date`.
    Date {
        /// The date as the configuration gave it.
        text: String,
        /// The same, in seconds since the epoch.
        secs: i64,
    },
    /// Removes a delete marker that is a key's only version (versioned buckets).
    ExpiredObjectDeleteMarker,
}

/// When noncurrent versions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentExpiration {
    /// Days after a version became noncurrent (was replaced).
    pub days: u32,
    /// The newest this many noncurrent versions are kept whatever their age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer_versions: Option<u32>,
}

/// One rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    /// Its id (made up when the configuration gave none).
    pub id: String,
    /// `Status`: Enabled.
    pub enabled: bool,
    /// Whether the prefix was given as the rule's own `Prefix` (the older form, written back
    /// so) rather than in a `Filter`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legacy_prefix: bool,
    /// Which objects it covers.
    #[serde(default)]
    pub filter: RuleFilter,
    /// When current versions expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Expiration>,
    /// When noncurrent versions go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent: Option<NoncurrentExpiration>,
    /// Days after initiation when an incomplete multipart upload is aborted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_multipart_days: Option<u32>,
}

/// Why S3 refuses a configuration: `InvalidArgument` or `InvalidRequest` with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleError {
    /// S3's InvalidArgument.
    InvalidArgument(&'static str),
    /// S3's InvalidRequest.
    InvalidRequest(&'static str),
}

/// Checks a configuration as S3 does.
pub fn validate(rules: &[LifecycleRule]) -> Result<(), RuleError> {
    use RuleError::{InvalidArgument, InvalidRequest};
    if rules.len() > MAX_RULES {
        return Err(InvalidArgument("A lifecycle configuration holds at most 1000 rules"));
    }
    for (i, r) in rules.iter().enumerate() {
        if r.id.len() > MAX_ID_LEN {
            return Err(InvalidArgument("ID length should not exceed allowed limit of 255"));
        }
        if rules[..i].iter().any(|o| o.id == r.id) {
            return Err(InvalidArgument(
                "Rule ID must be unique. Found same ID for more than one rule",
            ));
        }
        if r.expiration.is_none() && r.noncurrent.is_none() && r.abort_multipart_days.is_none() {
            return Err(InvalidRequest("At least one action needs to be specified in a rule"));
        }
        if matches!(r.expiration, Some(Expiration::Days(0))) {
            return Err(InvalidArgument(
                "'Days' for Expiration action must be a positive integer",
            ));
        }
        if r.noncurrent.is_some_and(|n| n.days == 0) {
            return Err(InvalidArgument(
                "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
            ));
        }
        if r.abort_multipart_days == Some(0) {
            return Err(InvalidArgument(
                "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer",
            ));
        }
        if let Some(Expiration::Date { secs, .. }) = &r.expiration {
            if secs.rem_euclid(86_400) != 0 {
                return Err(InvalidArgument("'Date' must be at midnight GMT"));
            }
        }
        let tagged = !r.filter.tags.is_empty();
        if tagged && r.expiration == Some(Expiration::ExpiredObjectDeleteMarker) {
            return Err(InvalidRequest(
                "ExpiredObjectDeleteMarker cannot be specified with tags",
            ));
        }
        if tagged && r.abort_multipart_days.is_some() {
            return Err(InvalidRequest(
                "AbortIncompleteMultipartUpload cannot be specified with tags",
            ));
        }
        if let (Some(gt), Some(lt)) = (r.filter.size_greater_than, r.filter.size_less_than) {
            if gt >= lt {
                return Err(InvalidArgument(
                    "ObjectSizeGreaterThan must be less than ObjectSizeLessThan",
                ));
            }
        }
    }
    Ok(())
}

/// When something `days` lifecycle days after `from_ms` falls due (ms since the epoch). With
/// real days, S3's rule: the time is rounded up to the next midnight UTC; a shortened day
/// (`day_secs` below [`DAY_SECS`], for tests) counts from the moment itself.
pub fn due_ms(from_ms: u64, days: u32, day_secs: u64) -> u64 {
    let span = u64::from(days).saturating_mul(day_secs).saturating_mul(1000);
    let at = from_ms.saturating_add(span);
    if day_secs < DAY_SECS {
        return at;
    }
    let day_ms = DAY_SECS * 1000;
    at.div_ceil(day_ms).saturating_mul(day_ms)
}

impl LifecycleRule {
    /// When the current version written at `written_ms` expires under this rule, if it does
    /// (Days or Date; `None` for a rule that expires no current version).
    pub fn current_due_ms(&self, written_ms: u64, day_secs: u64) -> Option<u64> {
        match &self.expiration {
            Some(Expiration::Days(d)) => Some(due_ms(written_ms, *d, day_secs)),
            Some(Expiration::Date { secs, .. }) => Some(u64::try_from(*secs).unwrap_or(0).saturating_mul(1000)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str) -> LifecycleRule {
        LifecycleRule {
            id: id.into(),
            enabled: true,
            expiration: Some(Expiration::Days(1)),
            ..LifecycleRule::default()
        }
    }

    #[test]
    fn filters_cover_what_they_name() {
        let f = RuleFilter {
            prefix: "logs/".into(),
            tags: vec![("k".into(), "v".into())],
            size_greater_than: Some(10),
            size_less_than: Some(100),
        };
        let tags = vec![("a".into(), "b".into()), ("k".into(), "v".into())];
        assert!(f.covers("logs/x", 50, &tags));
        assert!(!f.covers("img/x", 50, &tags));
        assert!(!f.covers("logs/x", 10, &tags));
        assert!(!f.covers("logs/x", 100, &tags));
        assert!(!f.covers("logs/x", 50, &tags[..1]));
        assert!(RuleFilter::default().covers("anything", 0, &[]));
        assert_eq!(f.conditions(), 4);
    }

    #[test]
    fn days_round_up_to_midnight_unless_shortened() {
        let day = 86_400_000;
        // Written at 10:00 on day 3: one day later is 10:00 on day 4, due at midnight of day 5.
        assert_eq!(due_ms(3 * day + 36_000_000, 1, DAY_SECS), 5 * day);
        assert_eq!(due_ms(3 * day, 1, DAY_SECS), 4 * day);
        assert_eq!(due_ms(5_000, 2, 10), 25_000);
        assert_eq!(due_ms(u64::MAX - 1, u32::MAX, DAY_SECS), u64::MAX, "saturates: never");
    }

    #[test]
    fn s3s_refusals() {
        let ok = vec![rule("a"), rule("b")];
        assert_eq!(validate(&ok), Ok(()));
        let mut long = rule("a");
        long.id = "x".repeat(256);
        let mut dup = ok.clone();
        dup[1].id = "a".into();
        let mut none = rule("a");
        none.expiration = None;
        let mut zero = rule("a");
        zero.expiration = Some(Expiration::Days(0));
        let mut noon = rule("a");
        noon.expiration = Some(Expiration::Date {
            text: "x".into(),
            secs: 43_200,
        });
        let mut tagged_marker = rule("a");
        tagged_marker.expiration = Some(Expiration::ExpiredObjectDeleteMarker);
        tagged_marker.filter.tags = vec![("k".into(), "v".into())];
        for bad in [vec![long], dup, vec![none], vec![zero], vec![noon], vec![tagged_marker]] {
            assert!(validate(&bad).is_err(), "{bad:?}");
        }
    }
}
