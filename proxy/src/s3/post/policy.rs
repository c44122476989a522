//! The POST policy document (S3 "Creating a POST policy", sigv4-HTTPPOSTConstructPolicy): a
//! base64 JSON object with an `expiration` and a list of `conditions` every form field must
//! satisfy. [`Policy::parse`] refuses a malformed document (400 `InvalidPolicyDocument`);
//! [`Policy::check`] applies the expiration, each condition in turn, and the rule that every
//! form field is named by some condition, answering S3's `AccessDenied` messages.
//!
//! ```text
//! { "expiration": "2007-12-01T12:00:00.000Z",
//!   "conditions": [ {"bucket": "b"},                      exact match
//!                   ["eq", "$key", "user/a.txt"],         exact match
//!                   ["starts-with", "$key", "user/"],     prefix ("" matches anything)
//!                   ["content-length-range", 1, 1048576] ] }
//! ```

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::Value;

use crate::error::ProxyError;

/// Largest decoded policy document: the policy field itself is bounded by the form decoder.
const MAX_POLICY_BYTES: usize = 20 * 1024;

/// One condition of a policy; field names are lowercase, without the `$`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The field equals the value exactly.
    Eq(String, String),
    /// The field starts with the prefix.
    StartsWith(String, String),
    /// The file is `min..=max` bytes long.
    LengthRange(u64, u64),
}

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// When it stops being valid, Unix seconds.
    pub expiration: i64,
    /// Its conditions in order.
    pub conditions: Vec<Condition>,
}

fn invalid(why: impl Into<String>) -> ProxyError {
    ProxyError::InvalidPolicyDocument(why.into())
}

fn denied(why: impl std::fmt::Display) -> ProxyError {
    ProxyError::PolicyDenied(format!("Invalid according to Policy: {why}"))
}

/// Form fields that no condition needs to name: the signature and policy themselves, the file,
/// `x-ignore-*`, and a checksum of the file (it constrains nothing but the bytes).
pub fn exempt(field: &str) -> bool {
    matches!(
        field,
        "policy" | "signature" | "x-amz-signature" | "awsaccesskeyid" | "file"
    ) || field.starts_with("x-ignore-")
        || field.starts_with("x-amz-checksum-")
}

/// Parses an ISO 8601 UTC time `YYYY-MM-DDTHH:MM:SS[.fff]Z` into Unix seconds.
fn parse_expiration(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let rest = &s[19..];
    let frac = rest.strip_suffix('Z')?;
    if !(frac.is_empty() || (frac.len() > 1 && frac.starts_with('.') && frac[1..].bytes().all(|c| c.is_ascii_digit())))
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = s.get(r)?;
        d.bytes().all(|c| c.is_ascii_digit()).then(|| d.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > s3o_sigv4::date::days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    Some(s3o_sigv4::date::days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec)
}

/// A field reference `$name` as a lowercase name.
fn field_ref(v: &Value) -> Result<String, ProxyError> {
    v.as_str()
        .and_then(|s| s.strip_prefix('$'))
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| invalid("a condition must name a form field as \"$name\""))
}

fn length(v: &Value) -> Result<u64, ProxyError> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| invalid("content-length-range needs two non-negative integers"))
}

impl Policy {
    /// Decodes and parses the base64 `policy` field.
    pub fn parse(b64: &str) -> Result<Policy, ProxyError> {
        let json = B64
            .decode(b64.trim())
            .map_err(|_| invalid("the policy is not base64"))?;
        if json.len() > MAX_POLICY_BYTES {
            return Err(invalid("the policy document is too large"));
        }
        let doc: Value = serde_json::from_slice(&json).map_err(|_| invalid("the policy is not JSON"))?;
        let doc = doc
            .as_object()
            .ok_or_else(|| invalid("the policy is not a JSON object"))?;
        let expiration = doc
            .get("expiration")
            .ok_or_else(|| invalid("Policy missing expiration"))?
            .as_str()
            .and_then(parse_expiration)
            .ok_or_else(|| invalid("Invalid Policy: Invalid 'expiration' value"))?;
        let list = doc
            .get("conditions")
            .ok_or_else(|| invalid("Policy missing conditions"))?
            .as_array()
            .ok_or_else(|| invalid("Invalid Policy: 'conditions' must be a list"))?;
        let mut conditions = Vec::with_capacity(list.len());
        for c in list {
            match c {
                Value::Object(map) => {
                    if map.is_empty() {
                        return Err(invalid("Invalid Policy: an empty condition"));
                    }
                    for (k, v) in map {
                        let v = v
                            .as_str()
                            .ok_or_else(|| invalid("Invalid Policy: a condition value must be a string"))?;
                        conditions.push(Condition::Eq(k.to_ascii_lowercase(), v.to_string()));
                    }
                }
                Value::Array(a) => {
                    let op = a.first().and_then(Value::as_str).map(str::to_ascii_lowercase);
                    let c = match (op.as_deref(), a.len()) {
                        (Some("content-length-range"), 3) => Condition::LengthRange(length(&a[1])?, length(&a[2])?),
                        (Some("content-length-range"), _) => {
                            return Err(invalid("content-length-range needs a minimum and a maximum"))
                        }
                        (Some(op @ ("eq" | "starts-with")), 3) => {
                            let field = field_ref(&a[1])?;
                            let v = a[2]
                                .as_str()
                                .ok_or_else(|| invalid("a condition value must be a string"))?
                                .to_string();
                            if op == "eq" {
                                Condition::Eq(field, v)
                            } else {
                                Condition::StartsWith(field, v)
                            }
                        }
                        _ => return Err(invalid("Invalid Policy: unknown condition")),
                    };
                    conditions.push(c);
                }
                _ => return Err(invalid("Invalid Policy: a condition must be an object or a list")),
            }
        }
        Ok(Policy { expiration, conditions })
    }

    /// The allowed size of the file, from the last `content-length-range`.
    pub fn length_range(&self) -> Option<(u64, u64)> {
        self.conditions.iter().rev().find_map(|c| match c {
            Condition::LengthRange(a, b) => Some((*a, *b)),
            _ => None,
        })
    }

    /// Checks the policy at `now` against the form: `fields` are (lowercase name, value) with
    /// `key` already substituted, `bucket` the bucket the request addresses.
    pub fn check(&self, fields: &[(String, String)], bucket: &str, now: i64) -> Result<(), ProxyError> {
        if now > self.expiration {
            return Err(denied("Policy expired."));
        }
        let value = |name: &str| -> &str {
            if name == "bucket" {
                return bucket;
            }
            fields.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
        };
        for c in &self.conditions {
            let ok = match c {
                Condition::Eq(f, v) => value(f) == v,
                Condition::StartsWith(f, p) if f == "content-type" => {
                    // S3 checks each comma-separated Content-Type against the prefix.
                    value(f).split(',').all(|t| t.trim().starts_with(p.as_str()))
                }
                Condition::StartsWith(f, p) => value(f).starts_with(p.as_str()),
                Condition::LengthRange(..) => true,
            };
            if !ok {
                return Err(denied(format_args!("Policy Condition failed: {}", show(c))));
            }
        }
        for (name, _) in fields {
            let named = self.conditions.iter().any(|c| match c {
                Condition::Eq(f, _) | Condition::StartsWith(f, _) => f == name,
                Condition::LengthRange(..) => false,
            });
            if !named && !exempt(name) {
                return Err(denied(format_args!("Extra input fields: {name}")));
            }
        }
        Ok(())
    }
}

/// A condition as S3 quotes it in its error message.
fn show(c: &Condition) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    match c {
        Condition::Eq(f, v) => format!("[\"eq\", {}, {}]", q(&format!("${f}")), q(v)),
        Condition::StartsWith(f, v) => format!("[\"starts-with\", {}, {}]", q(&format!("${f}")), q(v)),
        Condition::LengthRange(a, b) => format!("[\"content-length-range\", {a}, {b}]"),
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
