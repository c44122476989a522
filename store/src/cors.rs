//! Cross-origin resource sharing rules as S3 keeps them with a bucket (`PutBucketCors`), and the
//! question the proxy asks of a browser's request: which rule, if any, lets this origin use this
//! method with these headers. Pure data and rules; the XML and the response headers live in the
//! proxy.

use serde::{Deserialize, Serialize};

/// Most rules one configuration holds (S3's limit).
pub const MAX_RULES: usize = 100;

/// The methods a rule may allow.
pub const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

/// One rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    /// Its optional id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Methods allowed (of [`METHODS`]).
    pub allowed_methods: Vec<String>,
    /// Origins allowed, each with at most one `*` standing for any run of characters.
    pub allowed_origins: Vec<String>,
    /// Request headers allowed in a preflight (case-insensitive, at most one `*` each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_headers: Vec<String>,
    /// Response headers a browser may show the page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// How long a browser may keep a preflight's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_secs: Option<u32>,
}

/// Whether `value` matches `pattern`, which has at most one `*` (any run of characters).
pub fn wildcard_matches(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let eq = |a: &str, b: &str| if ignore_case { a.eq_ignore_ascii_case(b) } else { a == b };
    match pattern.split_once('*') {
        None => eq(pattern, value),
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len()
                && value.get(..head.len()).is_some_and(|h| eq(h, head))
                && value.get(value.len() - tail.len()..).is_some_and(|t| eq(t, tail))
        }
    }
}

impl CorsRule {
    /// Why S3 would refuse this rule (it has its methods and origins): a method S3 does not
    /// know, two wildcards in an origin or header, a header name that is no token or an origin
    /// that is not visible ASCII (both end up in response heads).
    pub fn problem(&self) -> Option<&'static str> {
        if self.allowed_methods.iter().any(|m| !METHODS.contains(&m.as_str())) {
            return Some("Found unsupported HTTP method in CORS config.");
        }
        let two_stars = |v: &String| v.matches('*').count() > 1;
        if self.allowed_origins.iter().any(two_stars) || self.allowed_headers.iter().any(two_stars) {
            return Some("An origin or header may hold at most one wildcard");
        }
        let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        let token = |v: &String| !v.is_empty() && v.chars().all(tchar);
        if !self.allowed_headers.iter().all(token) || !self.expose_headers.iter().all(token) {
            return Some("A header name holds a character headers cannot");
        }
        let visible = |o: &String| !o.is_empty() && o.bytes().all(|b| (0x21..0x7f).contains(&b));
        if !self.allowed_origins.iter().all(visible) {
            return Some("An origin holds a character origins cannot");
        }
        None
    }

    /// Whether this rule lets `origin` use `method` sending `headers` (lower- or mixed-case names).
    pub fn allows(&self, origin: &str, method: &str, headers: &[&str]) -> bool {
        self.allowed_origins.iter().any(|o| wildcard_matches(o, origin, false))
            && self.allowed_methods.iter().any(|m| m == method)
            && headers
                .iter()
                .all(|h| self.allowed_headers.iter().any(|a| wildcard_matches(a, h, true)))
    }

    /// Whether the origin pattern that admits `origin` is the bare `*` (answered with `*`).
    pub fn any_origin(&self, origin: &str) -> bool {
        !self
            .allowed_origins
            .iter()
            .any(|o| o != "*" && wildcard_matches(o, origin, false))
            && self.allowed_origins.iter().any(|o| o == "*")
    }
}

/// The first of `rules` that lets `origin` use `method` sending `headers`.
pub fn find<'a>(rules: &'a [CorsRule], origin: &str, method: &str, headers: &[&str]) -> Option<&'a CorsRule> {
    rules.iter().find(|r| r.allows(origin, method, headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(methods: &[&str], origins: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            ..CorsRule::default()
        }
    }

    #[test]
    fn origins_match_with_one_wildcard() {
        for (pattern, origin, want) in [
            ("*suffix", "foo.suffix", true),
            ("*suffix", "foo.suffix.get", false),
            ("start*end", "startend", true),
            ("start*end", "start12end", true),
            ("start*end", "0start12end", false),
            ("start*end", "startnd", false),
            ("prefix*", "prefix", true),
            ("prefix*", "bla.prefix", false),
            ("*", "anything", true),
            ("https://a.example", "https://a.example", true),
            ("https://a.example", "https://A.example", false),
        ] {
            assert_eq!(wildcard_matches(pattern, origin, false), want, "{pattern} ~ {origin}");
        }
        assert!(wildcard_matches("X-Amz-*", "x-amz-meta-a", true));
    }

    #[test]
    fn a_rule_needs_origin_method_and_every_header() {
        let rules = [
            rule(&["GET"], &["*.get"], &[]),
            rule(&["PUT", "GET"], &["*"], &["x-amz-*"]),
        ];
        assert_eq!(find(&rules, "a.get", "GET", &[]), Some(&rules[0]));
        assert_eq!(find(&rules, "a.get", "GET", &["x-amz-date"]), Some(&rules[1]));
        assert_eq!(find(&rules, "a.put", "PUT", &["content-type"]), None);
        assert_eq!(find(&rules, "a.put", "DELETE", &[]), None);
        assert!(rules[1].any_origin("x") && !rules[0].any_origin("a.get"));
    }
}
