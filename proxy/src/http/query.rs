//! URL query strings and percent-decoding: [`parse_query`] / [`Query`] decode a raw query into
//! (name, value) pairs for routing and handlers, and [`percent_decode`] is shared with the router
//! for paths. `+` is kept literally: S3 clients encode a space as `%20`, and a `+` in a key or
//! prefix means `+`.

use std::borrow::Cow;

/// Percent-decodes `s`; a `%` not followed by two hex digits is `None` when `strict`, else kept
/// as is. Borrows when there is nothing to decode.
pub fn percent_decode(s: &str, strict: bool) -> Option<Cow<'_, [u8]>> {
    s3o_sigv4::encode::percent_decode_cow(s.as_bytes(), strict)
}

/// A raw query string decoded into (name, value) pairs: `%XX` decoded, `+` kept literally (S3
/// clients encode spaces as `%20`), a malformed `%` kept as is, invalid UTF-8 replaced by U+FFFD.
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    let decode = |s: &str| match percent_decode(s, false) {
        Some(b) => String::from_utf8_lossy(&b).into_owned(),
        None => s.to_string(),
    };
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// A decoded query string (see [`parse_query`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes a raw query string (without the `?`).
    pub fn parse(raw: &str) -> Query {
        Query {
            pairs: parse_query(raw),
        }
    }

    /// The first value of parameter `name` (exact, case-sensitive; `""` for `?name`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Whether parameter `name` is present, with or without a value.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// All pairs in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pairs(raw: &str) -> Vec<(String, String)> {
        parse_query(raw)
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn decodes_pairs() {
        assert_eq!(
            pairs("list-type=2&prefix=photos%2F2024%2F&delimiter=%2F"),
            [p("list-type", "2"), p("prefix", "photos/2024/"), p("delimiter", "/")]
        );
        assert_eq!(pairs("uploads&prefix="), [p("uploads", ""), p("prefix", "")]);
        assert_eq!(pairs("a=1=2&&b"), [p("a", "1=2"), p("b", "")]);
        assert_eq!(pairs(""), []);
        assert_eq!(pairs("&&"), []);
    }

    #[test]
    fn plus_is_literal_and_bad_escapes_are_kept() {
        assert_eq!(pairs("prefix=a+b%20c%2B"), [p("prefix", "a+b c+")]);
        assert_eq!(
            pairs("x=100%&y=%zz&z=%4"),
            [p("x", "100%"), p("y", "%zz"), p("z", "%4")]
        );
        assert_eq!(
            pairs("k=caf%C3%A9&u=%E2%82%AC"),
            [p("k", "caf\u{e9}"), p("u", "\u{20ac}")]
        );
        assert_eq!(pairs("bad=%FF"), [p("bad", "\u{fffd}")]);
        assert_eq!(pairs("%61cl"), [p("acl", "")]);
    }

    #[test]
    fn query_lookup() {
        let q = Query::parse("versionId=3&acl&versionId=4");
        assert_eq!(q.get("versionId"), Some("3"));
        assert_eq!(q.get("acl"), Some(""));
        assert!(q.has("acl") && !q.has("ACL") && !q.has("tagging"));
        assert_eq!(q.pairs().len(), 3);
        assert_eq!(Query::parse(""), Query::default());
    }

    #[test]
    fn strict_decoding() {
        assert_eq!(percent_decode("a%2Fb", true).as_deref(), Some(&b"a/b"[..]));
        assert_eq!(percent_decode("a%2fb%", true), None);
        assert_eq!(percent_decode("%g0", true), None);
        assert_eq!(percent_decode("%", true), None);
        assert!(matches!(
            percent_decode("plain+key", true),
            Some(Cow::Borrowed(b"plain+key"))
        ));
    }

    proptest! {
        #[test]
        fn any_input_decodes(raw in "\\PC{0,60}") {
            let _ = parse_query(&raw);
            let _ = percent_decode(&raw, true);
        }

        #[test]
        fn encoded_bytes_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let enc: String = bytes.iter().map(|b| format!("%{b:02X}")).collect();
            prop_assert_eq!(percent_decode(&enc, true).unwrap().into_owned(), bytes);
        }
    }
}
