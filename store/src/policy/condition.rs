//! A bucket policy's `Condition` block: the condition keys the proxy can answer from a request
//! (anything else is refused when the policy is set), the operators over them, and how one
//! condition is judged against the request's values.
//!
//! AWS's rules, kept: several values for one key match when any does; several keys under one
//! operator, and several operators, must all hold; a key the request does not carry makes a
//! positive operator false and a negated one (`StringNotEquals`, `NotIpAddress`, ...) true;
//! `...IfExists` holds when the key is absent; `Null` tests presence. A value the proxy cannot
//! know yet (an existing object's tags before the object is read) leaves the condition
//! undecided, to be judged again once it is known.

use std::net::IpAddr;

use serde_json::Value;

use super::{glob, PolicyError};

/// A condition key, as the proxy answers it for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// `aws:SourceIp`: the client's address.
    SourceIp,
    /// `aws:SecureTransport`: `true` over TLS.
    SecureTransport,
    /// `aws:CurrentTime` (ISO 8601) and `aws:EpochTime` (seconds), both the request's time.
    CurrentTime,
    /// `aws:userid`, `aws:username`: the caller's canonical id (absent when unsigned).
    UserId,
    /// A request header: `aws:Referer`, `aws:UserAgent`, `s3:x-amz-acl`, `s3:x-amz-grant-*`,
    /// `s3:x-amz-copy-source`, `s3:x-amz-metadata-directive`, `s3:x-amz-server-side-encryption*`,
    /// `s3:x-amz-storage-class`, `s3:x-amz-content-sha256`, `s3:object-lock-*`.
    Header(&'static str),
    /// A query parameter: `s3:prefix`, `s3:delimiter`, `s3:max-keys`, `s3:VersionId`.
    Query(&'static str),
    /// `s3:ExistingObjectTag/<key>`: a tag of the object the request reads or changes.
    ExistingObjectTag(String),
    /// `s3:RequestObjectTag/<key>`: a tag the request sets (`x-amz-tagging`).
    RequestObjectTag(String),
    /// `s3:RequestObjectTagKeys`: the keys of the tags the request sets.
    RequestObjectTagKeys,
    /// `s3:signatureversion`: `AWS` (V2) or `AWS4-HMAC-SHA256`.
    SignatureVersion,
    /// `s3:authType`: `REST-HEADER`, `REST-QUERY-STRING` or `POST`.
    AuthType,
}

/// Header-valued keys, by their lower-case policy names.
const HEADER_KEYS: [(&str, &str); 16] = [
    ("aws:referer", "referer"),
    ("aws:useragent", "user-agent"),
    ("s3:x-amz-acl", "x-amz-acl"),
    ("s3:x-amz-grant-read", "x-amz-grant-read"),
    ("s3:x-amz-grant-write", "x-amz-grant-write"),
    ("s3:x-amz-grant-read-acp", "x-amz-grant-read-acp"),
    ("s3:x-amz-grant-write-acp", "x-amz-grant-write-acp"),
    ("s3:x-amz-grant-full-control", "x-amz-grant-full-control"),
    ("s3:x-amz-copy-source", "x-amz-copy-source"),
    ("s3:x-amz-metadata-directive", "x-amz-metadata-directive"),
    ("s3:x-amz-server-side-encryption", "x-amz-server-side-encryption"),
    (
        "s3:x-amz-server-side-encryption-customer-algorithm",
        "x-amz-server-side-encryption-customer-algorithm",
    ),
    ("s3:x-amz-storage-class", "x-amz-storage-class"),
    ("s3:x-amz-content-sha256", "x-amz-content-sha256"),
    ("s3:object-lock-mode", "x-amz-object-lock-mode"),
    ("s3:object-lock-legal-hold", "x-amz-object-lock-legal-hold"),
];

/// The request headers some condition key reads (lower case).
pub fn header_names() -> impl Iterator<Item = &'static str> {
    HEADER_KEYS
        .iter()
        .map(|(_, h)| *h)
        .chain(["x-amz-object-lock-retain-until-date"])
}

impl Key {
    /// The key a policy names (case-insensitive, as AWS reads them).
    pub fn parse(name: &str) -> Result<Key, PolicyError> {
        let lower = name.to_ascii_lowercase();
        if let Some((_, header)) = HEADER_KEYS.iter().find(|(k, _)| *k == lower) {
            return Ok(Key::Header(header));
        }
        let tag = |prefix: &str| {
            name.get(..prefix.len())
                .filter(|p| p.eq_ignore_ascii_case(prefix))
                .map(|_| name[prefix.len()..].to_owned())
                .filter(|t| !t.is_empty())
        };
        if let Some(t) = tag("s3:ExistingObjectTag/") {
            return Ok(Key::ExistingObjectTag(t));
        }
        if let Some(t) = tag("s3:RequestObjectTag/") {
            return Ok(Key::RequestObjectTag(t));
        }
        Ok(match lower.as_str() {
            "aws:sourceip" => Key::SourceIp,
            "aws:securetransport" => Key::SecureTransport,
            "aws:currenttime" | "aws:epochtime" => Key::CurrentTime,
            "aws:userid" | "aws:username" => Key::UserId,
            "s3:prefix" => Key::Query("prefix"),
            "s3:delimiter" => Key::Query("delimiter"),
            "s3:max-keys" => Key::Query("max-keys"),
            "s3:versionid" => Key::Query("versionId"),
            "s3:requestobjecttagkeys" => Key::RequestObjectTagKeys,
            "s3:signatureversion" => Key::SignatureVersion,
            "s3:authtype" => Key::AuthType,
            "s3:object-lock-retain-until-date" => Key::Header("x-amz-object-lock-retain-until-date"),
            _ => return Err(PolicyError::new(format!("Policy has an invalid condition key: {name}"))),
        })
    }
}

/// What a request holds for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The request has no value for it.
    Absent,
    /// Not known yet (an existing object's tag before the object is read).
    Unknown,
    /// Its values (one for most keys; tag keys may have several).
    Values(Vec<String>),
}

/// The comparisons a condition makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    StringEquals {
        ignore_case: bool,
    },
    StringLike,
    Numeric(Ordering3),
    Date(Ordering3),
    Bool,
    IpAddress,
    /// `Null`: `true` means the key is absent.
    Null,
}

/// A numeric or date comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ordering3 {
    Equals,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
}

/// How several request values combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetMode {
    /// No qualifier: a key with several values matches when any does.
    Single,
    /// `ForAnyValue:`: any value matches (false when the key is absent).
    Any,
    /// `ForAllValues:`: every value matches (true when the key is absent).
    All,
}

/// One operator over one key with its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    test: Test,
    negated: bool,
    if_exists: bool,
    set: SetMode,
    pub(super) key: Key,
    values: Vec<String>,
}

impl Condition {
    /// The conditions of a statement's `Condition` object.
    pub fn parse_block(block: &Value) -> Result<Vec<Condition>, PolicyError> {
        let Value::Object(ops) = block else {
            return Err(PolicyError::new("Condition must be an object"));
        };
        let mut out = Vec::new();
        for (op, keys) in ops {
            let Value::Object(keys) = keys else {
                return Err(PolicyError::new(format!("Invalid Condition block under {op}")));
            };
            for (key, values) in keys {
                out.push(Condition::parse(op, key, values)?);
            }
        }
        Ok(out)
    }

    fn parse(op: &str, key: &str, values: &Value) -> Result<Condition, PolicyError> {
        let invalid = || PolicyError::new(format!("Invalid Condition type: {op}"));
        let (set, rest) = if let Some(r) = op.strip_prefix("ForAnyValue:") {
            (SetMode::Any, r)
        } else if let Some(r) = op.strip_prefix("ForAllValues:") {
            (SetMode::All, r)
        } else {
            (SetMode::Single, op)
        };
        let (rest, if_exists) = match rest.strip_suffix("IfExists") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let cmp = |name: &str| {
            Some(match name {
                "Equals" => Ordering3::Equals,
                "LessThan" => Ordering3::LessThan,
                "LessThanEquals" => Ordering3::LessThanEquals,
                "GreaterThan" => Ordering3::GreaterThan,
                "GreaterThanEquals" => Ordering3::GreaterThanEquals,
                _ => return None,
            })
        };
        let (test, negated) = match rest {
            "StringEquals" => (Test::StringEquals { ignore_case: false }, false),
            "StringNotEquals" => (Test::StringEquals { ignore_case: false }, true),
            "StringEqualsIgnoreCase" => (Test::StringEquals { ignore_case: true }, false),
            "StringNotEqualsIgnoreCase" => (Test::StringEquals { ignore_case: true }, true),
            "StringLike" => (Test::StringLike, false),
            "StringNotLike" => (Test::StringLike, true),
            "Bool" => (Test::Bool, false),
            "IpAddress" => (Test::IpAddress, false),
            "NotIpAddress" => (Test::IpAddress, true),
            "Null" if !if_exists => (Test::Null, false),
            "NumericNotEquals" => (Test::Numeric(Ordering3::Equals), true),
            "DateNotEquals" => (Test::Date(Ordering3::Equals), true),
            other => match (other.strip_prefix("Numeric"), other.strip_prefix("Date")) {
                (Some(n), _) => (Test::Numeric(cmp(n).ok_or_else(invalid)?), false),
                (_, Some(d)) => (Test::Date(cmp(d).ok_or_else(invalid)?), false),
                _ => return Err(invalid()),
            },
        };
        let key = Key::parse(key)?;
        let values = match values {
            Value::Array(items) => items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?,
            one => vec![scalar(one)?],
        };
        if values.is_empty() {
            return Err(PolicyError::new(format!("Condition {op} on {key:?} has no values")));
        }
        for v in &values {
            if v.contains("${") {
                return Err(PolicyError::new("Policy variables are not supported"));
            }
            let valid = match test {
                Test::Numeric(_) => v.parse::<f64>().is_ok_and(f64::is_finite),
                Test::Date(_) => parse_time(v).is_some(),
                Test::Bool | Test::Null => v == "true" || v == "false",
                Test::IpAddress => parse_cidr(v).is_some(),
                _ => true,
            };
            if !valid {
                return Err(PolicyError::new(format!("Invalid value {v:?} for condition {op}")));
            }
        }
        Ok(Condition {
            test,
            negated,
            if_exists,
            set,
            key,
            values,
        })
    }

    /// Whether the condition holds for what the request has for its key (`None`: undecided).
    pub fn holds(&self, found: &Found) -> Option<bool> {
        let values = match found {
            Found::Unknown => return None,
            Found::Absent => {
                return Some(match (self.test, self.set) {
                    (Test::Null, _) => self.values.iter().any(|v| v == "true"),
                    (_, SetMode::All) => true,
                    (_, SetMode::Any) => false,
                    (_, SetMode::Single) => self.if_exists || self.negated,
                })
            }
            Found::Values(v) => v,
        };
        if self.test == Test::Null {
            return Some(self.values.iter().any(|v| v == "false"));
        }
        let one = |value: &str| {
            let any = self.values.iter().any(|want| self.matches(want, value));
            any != self.negated
        };
        Some(match self.set {
            SetMode::Single | SetMode::Any => values.iter().any(|v| one(v)),
            SetMode::All => values.iter().all(|v| one(v)),
        })
    }

    /// Whether the request's `value` matches the policy's `want`.
    fn matches(&self, want: &str, value: &str) -> bool {
        match self.test {
            Test::StringEquals { ignore_case: false } => want == value,
            Test::StringEquals { ignore_case: true } => want.eq_ignore_ascii_case(value),
            Test::StringLike => glob(want, value, false),
            Test::Bool => want.eq_ignore_ascii_case(value),
            Test::Numeric(o) => match (want.parse::<f64>(), value.parse::<f64>()) {
                (Ok(w), Ok(v)) => compare(o, v.partial_cmp(&w)),
                _ => false,
            },
            Test::Date(o) => match (parse_time(want), parse_time(value)) {
                (Some(w), Some(v)) => compare(o, Some(v.cmp(&w))),
                _ => false,
            },
            Test::IpAddress => match (parse_cidr(want), value.parse::<IpAddr>()) {
                (Some(net), Ok(ip)) => in_network(net, ip),
                _ => false,
            },
            Test::Null => false,
        }
    }

    /// Whether this condition narrows who may use a statement to fixed callers (source
    /// addresses within a /8 of IPv4 or a /32 of IPv6 at the widest, or named canonical ids;
    /// never when it also holds for a request without the key), so that an Allow with
    /// `Principal: *` under it is not public.
    pub fn fixes_caller(&self) -> bool {
        !self.negated
            && !self.if_exists
            && self.set != SetMode::All
            && match (&self.key, self.test) {
                (Key::SourceIp, Test::IpAddress) => self
                    .values
                    .iter()
                    .all(|v| parse_cidr(v).is_some_and(|(ip, bits)| bits >= if ip.is_ipv4() { 8 } else { 32 })),
                (Key::UserId, Test::StringEquals { .. }) => true,
                _ => false,
            }
    }
}

fn compare(o: Ordering3, got: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match (o, got) {
        (_, None) => false,
        (Ordering3::Equals, Some(c)) => c == Equal,
        (Ordering3::LessThan, Some(c)) => c == Less,
        (Ordering3::LessThanEquals, Some(c)) => c != Greater,
        (Ordering3::GreaterThan, Some(c)) => c == Greater,
        (Ordering3::GreaterThanEquals, Some(c)) => c != Less,
    }
}

/// A condition value as text (strings, numbers and booleans are all written as JSON allows).
fn scalar(v: &Value) -> Result<String, PolicyError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(PolicyError::new(
            "Condition values must be strings, numbers or booleans",
        )),
    }
}

/// `a.b.c.d/n`, `a:b::/n` or a bare address (all bits).
pub fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match text.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let ip: IpAddr = addr.trim().parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((ip, bits))
}

fn in_network((net, bits): (IpAddr, u8), ip: IpAddr) -> bool {
    let ip = match (net, ip) {
        (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        _ => ip,
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits))
            };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits))
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// Seconds since the epoch of an ISO 8601 UTC time (`2026-12-06T10:00:00Z`, fractions and a
/// date alone accepted) or of a plain number of seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    if let Ok(secs) = text.parse::<i64>() {
        return Some(secs);
    }
    let t = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = t.split_once('T').unwrap_or((t, "00:00:00"));
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    if !(0..=9999).contains(&y) {
        return None;
    }
    let time = time.split('.').next()?;
    let mut tp = time.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (tp.next()??, tp.next()??, tp.next().unwrap_or(Some(0))?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3_600 + min * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(op: &str, key: &str, v: Value) -> Condition {
        Condition::parse(op, key, &v).unwrap()
    }

    fn vals(v: &[&str]) -> Found {
        Found::Values(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn absent_keys_follow_aws() {
        assert_eq!(
            one("StringEquals", "s3:prefix", json!("a")).holds(&Found::Absent),
            Some(false)
        );
        assert_eq!(
            one("StringNotEquals", "s3:prefix", json!("a")).holds(&Found::Absent),
            Some(true)
        );
        assert_eq!(
            one("StringLikeIfExists", "aws:Referer", json!("x")).holds(&Found::Absent),
            Some(true)
        );
        assert_eq!(
            one("Null", "s3:x-amz-acl", json!("true")).holds(&Found::Absent),
            Some(true)
        );
        assert_eq!(
            one("Null", "s3:x-amz-acl", json!(true)).holds(&vals(&["private"])),
            Some(false)
        );
        assert_eq!(
            one("StringEquals", "s3:ExistingObjectTag/a", json!("b")).holds(&Found::Unknown),
            None
        );
    }

    #[test]
    fn operators_compare() {
        let like = one("StringLike", "aws:Referer", json!(["http://www.example.com/*"]));
        assert_eq!(like.holds(&vals(&["http://www.example.com/index.html"])), Some(true));
        assert_eq!(like.holds(&vals(&["http://example.com"])), Some(false));
        let not = one(
            "StringNotEquals",
            "s3:x-amz-acl",
            json!(["private", "bucket-owner-read"]),
        );
        assert_eq!(not.holds(&vals(&["public-read"])), Some(true));
        assert_eq!(not.holds(&vals(&["private"])), Some(false));
        let ip = one("IpAddress", "aws:SourceIp", json!("10.1.0.0/16"));
        assert_eq!(ip.holds(&vals(&["10.1.200.3"])), Some(true));
        assert_eq!(ip.holds(&vals(&["10.2.0.1"])), Some(false));
        assert_eq!(ip.holds(&vals(&["::ffff:10.1.2.3"])), Some(true));
        let n = one("NumericLessThanEquals", "s3:max-keys", json!("10"));
        assert_eq!(n.holds(&vals(&["10"])), Some(true));
        assert_eq!(n.holds(&vals(&["11"])), Some(false));
        let d = one("DateGreaterThan", "aws:CurrentTime", json!("2026-01-01T00:00:00Z"));
        assert_eq!(d.holds(&vals(&["2026-12-06T10:00:00Z"])), Some(true));
        assert_eq!(d.holds(&vals(&["2025-12-31T23:59:59Z"])), Some(false));
        let all = one(
            "ForAllValues:StringEquals",
            "s3:RequestObjectTagKeys",
            json!(["a", "b"]),
        );
        assert_eq!(all.holds(&vals(&["a", "b"])), Some(true));
        assert_eq!(all.holds(&vals(&["a", "c"])), Some(false));
        let any = one("ForAnyValue:StringEquals", "s3:RequestObjectTagKeys", json!(["c"]));
        assert_eq!(any.holds(&vals(&["a", "c"])), Some(true));
        // Without the key: ForAllValues holds, ForAnyValue does not, whatever the operator.
        let any_not = one("ForAnyValue:StringNotEquals", "s3:RequestObjectTagKeys", json!(["c"]));
        assert_eq!(any_not.holds(&Found::Absent), Some(false));
        assert_eq!(all.holds(&Found::Absent), Some(true));
    }

    #[test]
    fn unknown_keys_operators_and_values_are_refused() {
        for (op, key, v) in [
            ("StringEquals", "aws:SourceArn", json!("x")),
            ("StringEquals", "s3:nope", json!("x")),
            ("StringSortOf", "s3:prefix", json!("x")),
            ("IpAddress", "aws:SourceIp", json!("10.0.0.0/33")),
            ("NumericEquals", "s3:max-keys", json!("ten")),
            ("NumericNotEquals", "s3:max-keys", json!("NaN")),
            ("NumericLessThan", "s3:max-keys", json!("inf")),
            ("DateEquals", "aws:CurrentTime", json!("yesterday")),
            ("StringEquals", "aws:userid", json!("${aws:username}")),
            ("StringEquals", "s3:prefix", json!([])),
            ("NullIfExists", "s3:prefix", json!("true")),
        ] {
            assert!(Condition::parse(op, key, &v).is_err(), "{op} {key} {v}");
        }
    }

    #[test]
    fn times_parse() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("2000-03-01T00:00:00.123Z"), Some(951_868_800));
        assert_eq!(parse_time("2000-03-01"), Some(951_868_800));
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000));
        assert_eq!(parse_time("2000-13-01"), None);
        assert_eq!(parse_time("9999999999-01-01T00:00:00Z"), None);
        assert_eq!(parse_time("-5-01-01"), None);
    }

    #[test]
    fn fixed_callers_make_a_statement_private() {
        assert!(one("IpAddress", "aws:SourceIp", json!("10.0.0.0/32")).fixes_caller());
        assert!(!one("IpAddress", "aws:SourceIp", json!("0.0.0.0/0")).fixes_caller());
        assert!(!one("NotIpAddress", "aws:SourceIp", json!("10.0.0.0/8")).fixes_caller());
        assert!(!one("StringLike", "aws:Referer", json!("*")).fixes_caller());
        assert!(!one("StringEqualsIfExists", "aws:userid", json!("alice")).fixes_caller());
        assert!(!one("IpAddress", "aws:SourceIp", json!("0.0.0.0/1")).fixes_caller());
    }
}
