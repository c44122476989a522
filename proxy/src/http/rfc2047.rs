//! MIME encoded-words (RFC 2047) in header values, as S3 uses them for user metadata: a value
//! sent as encoded-words (`=?UTF-8?B?...?=`) is stored decoded, and a stored value that is not
//! US-ASCII is returned as one `=?UTF-8?B?...?=` word, so every client reads back the same
//! characters whatever charset its HTTP library assumes for header bytes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// `value` as it goes into a response header: unchanged when printable US-ASCII, else one UTF-8
/// `B` word (so control characters decoded from a word come back intact too).
pub fn encode(value: &str) -> std::borrow::Cow<'_, str> {
    if value.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)) {
        return value.into();
    }
    format!("=?UTF-8?B?{}?=", STANDARD.encode(value)).into()
}

/// `value` with its encoded-words decoded; `None` when it is not made of encoded-words only
/// (separated by white space, which is dropped between words as RFC 2047 §6.2 says) or one of
/// them is malformed or in a charset other than UTF-8, US-ASCII or ISO-8859-1: then the value is
/// kept as sent.
pub fn decode(value: &str) -> Option<String> {
    let v = value.trim();
    if !(v.starts_with("=?") && v.ends_with("?=")) {
        return None;
    }
    let mut out = String::new();
    for word in v.split_ascii_whitespace() {
        out.push_str(&decode_word(word)?);
    }
    Some(out)
}

/// One `=?charset?encoding?text?=` word.
fn decode_word(word: &str) -> Option<String> {
    let inner = word.strip_prefix("=?")?.strip_suffix("?=")?;
    let mut parts = inner.splitn(3, '?');
    let (charset, encoding, text) = (parts.next()?, parts.next()?, parts.next()?);
    // RFC 2231 allows a language after '*' in the charset: `UTF-8*en`.
    let charset = charset.split('*').next().unwrap_or(charset);
    let bytes = if encoding.eq_ignore_ascii_case("b") {
        STANDARD.decode(text).ok()?
    } else if encoding.eq_ignore_ascii_case("q") {
        decode_q(text)?
    } else {
        return None;
    };
    if charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("us-ascii") {
        String::from_utf8(bytes).ok()
    } else if charset.eq_ignore_ascii_case("iso-8859-1") {
        Some(bytes.iter().map(|&b| char::from(b)).collect())
    } else {
        None
    }
}

/// The `Q` encoding: `_` is a space, `=XX` a byte in hex, other printable ASCII as is.
fn decode_q(text: &str) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = b.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            c if c.is_ascii_graphic() => out.push(c),
            _ => return None,
        }
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_passes_and_the_rest_is_one_utf8_word() {
        assert_eq!(encode("plain value"), "plain value");
        assert_eq!(encode("Hello World\u{e9}"), "=?UTF-8?B?SGVsbG8gV29ybGTDqQ==?=");
        assert_eq!(decode(&encode("ключ ✓")).as_deref(), Some("ключ ✓"));
        // Control characters (decoded from a word) leave encoded, not mangled.
        assert_eq!(encode("a\r\nb"), "=?UTF-8?B?YQ0KYg==?=");
        assert_eq!(decode("=?UTF-8?B?YQ0KYg==?=").as_deref(), Some("a\r\nb"));
    }

    #[test]
    fn words_are_decoded_in_b_and_q_and_three_charsets() {
        assert_eq!(
            decode("=?UTF-8?B?SGVsbG8gV29ybGTDqQ==?=").as_deref(),
            Some("Hello World\u{e9}")
        );
        assert_eq!(
            decode("=?utf-8?q?caf=C3=A9_au_lait?=").as_deref(),
            Some("caf\u{e9} au lait")
        );
        assert_eq!(decode("=?ISO-8859-1?Q?caf=E9?=").as_deref(), Some("caf\u{e9}"));
        assert_eq!(decode("=?US-ASCII*en?B?aGk=?=").as_deref(), Some("hi"));
        // White space between words goes.
        assert_eq!(decode("=?UTF-8?B?YWI=?= =?UTF-8?B?Y2Q=?=").as_deref(), Some("abcd"));
    }

    #[test]
    fn anything_else_is_kept_as_sent() {
        for v in [
            "plain",
            "=?UTF-8?B?not base64!?=",
            "=?KOI8-R?B?aGk=?=",
            "=?UTF-8?X?hi?=",
            "=?UTF-8?B?aGk=?= trailing",
            "=?UTF-8?Q?bad=Z1?=",
            "=?UTF-8?Q?cut=A?=",
            "=?UTF-8?Q?sign=+F?=",
            "=?UTF-8?B?/w==?=",
            "=??=",
        ] {
            assert_eq!(decode(v), None, "{v}");
        }
    }
}
