//! The primitives every document is written with: text escaping (XML 1.0 rules, plus S3's
//! character references for what XML 1.0 cannot carry), S3's `encoding-type=url` percent-encoding,
//! decimal numbers and ISO 8601 timestamps. All of them append to a `Vec<u8>` and allocate nothing
//! beyond the buffer's own growth.

/// Bytes `escape_into` must look at: markup characters, C0 controls other than TAB and LF, and
/// 0xEF, the lead byte of U+FFFE and U+FFFF (the two non-characters XML 1.0 excludes).
static NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b != 0x09 && b != 0x0A;
        b += 1;
    }
    table[b'&' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'"' as usize] = true;
    table[b'\'' as usize] = true;
    table[0xEF] = true;
    table
};

/// Bytes `url_encode_into` passes through: RFC 3986 unreserved characters and `/`.
static URL_PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'/');
        b += 1;
    }
    table
};

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Appends `text` as XML character data, escaped the way S3 escapes it.
///
/// `& < > " '` become the predefined entities (so an ETag's quotes read `&quot;`). CR becomes
/// `&#xd;` so that it survives a parser's line-end normalisation. Characters XML 1.0 cannot carry at
/// all — C0 controls other than TAB, LF and CR, and U+FFFE/U+FFFF — become character references
/// such as `&#x1b;`, exactly as S3 writes them: lenient parsers recover the key, strict ones (expat,
/// Xerces, Go) reject the document, which is why S3 offers `encoding-type=url`.
pub fn escape_into(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    let mut run_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !NEEDS_ESCAPE[usize::from(b)] {
            i += 1;
            continue;
        }
        let (replacement, consumed): (&[u8], usize) = match b {
            b'&' => (b"&amp;", 1),
            b'<' => (b"&lt;", 1),
            b'>' => (b"&gt;", 1),
            b'"' => (b"&quot;", 1),
            b'\'' => (b"&apos;", 1),
            0xEF => match bytes.get(i + 1..i + 3) {
                Some([0xBF, 0xBE]) => (b"&#xfffe;", 3),
                Some([0xBF, 0xBF]) => (b"&#xffff;", 3),
                _ => {
                    i += 1;
                    continue;
                }
            },
            _ => {
                // A C0 control: `&#x` + lowercase hex without leading zeros + `;`, as S3 writes it.
                out.extend_from_slice(&bytes[run_start..i]);
                out.extend_from_slice(b"&#x");
                if b >= 0x10 {
                    out.push(HEX_LOWER[usize::from(b >> 4)]);
                }
                out.push(HEX_LOWER[usize::from(b & 0xF)]);
                out.push(b';');
                i += 1;
                run_start = i;
                continue;
            }
        };
        out.extend_from_slice(&bytes[run_start..i]);
        out.extend_from_slice(replacement);
        i += consumed;
        run_start = i;
    }
    out.extend_from_slice(&bytes[run_start..]);
}

/// Appends `text` percent-encoded for `encoding-type=url`: every byte of its UTF-8 except the RFC
/// 3986 unreserved characters and `/` becomes `%XX`, so a space is `%20` and `+` is `%2B`.
///
/// S3 itself writes a space as `+`; clients decode with `unquote_plus` (botocore),
/// `url.QueryUnescape` (Go) or `URLDecoder` (Java), which all read `%20` and `%2B` correctly, so
/// never emitting a bare `+` is the encoding every decoder agrees on. The output is plain ASCII with
/// nothing to XML-escape.
pub fn url_encode_into(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if URL_PLAIN[usize::from(b)] {
            continue;
        }
        out.extend_from_slice(&bytes[run_start..i]);
        out.extend_from_slice(&[b'%', HEX_UPPER[usize::from(b >> 4)], HEX_UPPER[usize::from(b & 0xF)]]);
        run_start = i + 1;
    }
    out.extend_from_slice(&bytes[run_start..]);
}

/// `key` percent-encoded as [`url_encode_into`] does it, for `encoding-type=url`.
pub fn url_encode_key(key: &str) -> String {
    let mut out = Vec::with_capacity(key.len() + key.len() / 2);
    url_encode_into(&mut out, key);
    // Only ASCII was written, so this never falls back.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends `text` escaped for XML, or percent-encoded when `url` (an `encoding-type=url` field).
pub(crate) fn text_into(out: &mut Vec<u8>, text: &str, url: bool) {
    if url {
        url_encode_into(out, text);
    } else {
        escape_into(out, text);
    }
}

/// Appends `<name>text</name>`, the text escaped. `name` is a literal of ours, written as is.
pub(crate) fn element(out: &mut Vec<u8>, name: &str, text: &str) {
    url_element(out, name, text, false);
}

/// Appends `<name>text</name>`, the text escaped or, with `url`, percent-encoded.
pub(crate) fn url_element(out: &mut Vec<u8>, name: &str, text: &str, url: bool) {
    out.push(b'<');
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
    text_into(out, text, url);
    out.extend_from_slice(b"</");
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
}

/// Appends `<name>n</name>`.
pub(crate) fn number_element(out: &mut Vec<u8>, name: &str, n: u64) {
    out.push(b'<');
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
    write_u64(out, n);
    out.extend_from_slice(b"</");
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
}

/// Appends `n` in decimal.
pub fn write_u64(out: &mut Vec<u8>, n: u64) {
    write_padded(out, n, 1);
}

/// Appends `n` in decimal, zero-padded to at least `width` digits (at most 20).
fn write_padded(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let start = start.min(digits.len().saturating_sub(width));
    out.extend_from_slice(&digits[start..]);
}

const MS_PER_DAY: u64 = 86_400_000;

/// Appends `unix_ms` as S3's ISO 8601 UTC timestamp with milliseconds: `2009-10-12T17:50:30.000Z`.
pub fn write_iso8601_millis(out: &mut Vec<u8>, unix_ms: u64) {
    let (year, month, day) = civil_from_days(unix_ms / MS_PER_DAY);
    let ms_of_day = unix_ms % MS_PER_DAY;
    write_padded(out, year, 4);
    out.push(b'-');
    write_padded(out, month, 2);
    out.push(b'-');
    write_padded(out, day, 2);
    out.push(b'T');
    write_padded(out, ms_of_day / 3_600_000, 2);
    out.push(b':');
    write_padded(out, ms_of_day / 60_000 % 60, 2);
    out.push(b':');
    write_padded(out, ms_of_day / 1000 % 60, 2);
    out.push(b'.');
    write_padded(out, ms_of_day % 1000, 3);
    out.push(b'Z');
}

/// `unix_ms` (milliseconds since 1970-01-01T00:00:00Z) as `2009-10-12T17:50:30.000Z`.
pub fn iso8601_millis(unix_ms: u64) -> String {
    let mut out = Vec::with_capacity(24);
    write_iso8601_millis(&mut out, unix_ms);
    // Only ASCII digits and separators were written.
    String::from_utf8(out).unwrap_or_default()
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (days are >= 0 here).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let (y, m, d) = s3o_sigv4::date::civil_from_days(i64::try_from(days).unwrap_or(i64::MAX));
    (y.unsigned_abs(), m.unsigned_abs(), d.unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn escaped(text: &str) -> String {
        let mut out = Vec::new();
        escape_into(&mut out, text);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(escaped("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
        assert_eq!(
            escaped("\"9b2cf535f27731c974343645a3985328\""),
            "&quot;9b2cf535f27731c974343645a3985328&quot;"
        );
        assert_eq!(escaped("plain/key.txt"), "plain/key.txt");
        assert_eq!(escaped(""), "");
    }

    #[test]
    fn keeps_tab_lf_and_unicode_but_references_cr() {
        assert_eq!(escaped("a\tb\nc\rd"), "a\tb\nc&#xd;d");
        assert_eq!(
            escaped("タイトル ü 😀 \u{FFFD} \u{EFFF}"),
            "タイトル ü 😀 \u{FFFD} \u{EFFF}"
        );
    }

    #[test]
    fn references_what_xml_1_0_cannot_carry_as_s3_does() {
        assert_eq!(escaped("LA\u{1b}"), "LA&#x1b;");
        assert_eq!(
            escaped("\u{0}\u{1}\u{8}\u{b}\u{c}\u{e}\u{1f}"),
            "&#x0;&#x1;&#x8;&#xb;&#xc;&#xe;&#x1f;"
        );
        assert_eq!(escaped("x\u{FFFE}y\u{FFFF}z"), "x&#xfffe;y&#xffff;z");
        // DEL and C1 controls are legal XML 1.0 characters.
        assert_eq!(escaped("\u{7f}\u{85}"), "\u{7f}\u{85}");
    }

    #[test]
    fn url_encodes_everything_but_unreserved_and_slash() {
        assert_eq!(url_encode_key("photos/2006/a b+c.jpg"), "photos/2006/a%20b%2Bc.jpg");
        assert_eq!(url_encode_key("AZaz09-._~/"), "AZaz09-._~/");
        assert_eq!(
            url_encode_key("&<>\"'%?#=*!\u{1}\t\n"),
            "%26%3C%3E%22%27%25%3F%23%3D%2A%21%01%09%0A"
        );
        assert_eq!(url_encode_key("腾讯云"), "%E8%85%BE%E8%AE%AF%E4%BA%91");
        assert_eq!(url_encode_key(""), "");
    }

    #[test]
    fn writes_numbers() {
        for n in [0, 7, 10, 1000, 434_234, u64::MAX] {
            let mut out = Vec::new();
            write_u64(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
        }
    }

    #[test]
    fn formats_known_timestamps() {
        assert_eq!(iso8601_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_millis(1_255_369_830_000), "2009-10-12T17:50:30.000Z");
        assert_eq!(iso8601_millis(1_416_598_805_123), "2014-11-21T19:40:05.123Z");
        assert_eq!(iso8601_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601_millis(951_868_799_999), "2000-02-29T23:59:59.999Z");
        assert_eq!(iso8601_millis(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
        assert_eq!(iso8601_millis(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        assert_eq!(iso8601_millis(253_402_300_800_000), "10000-01-01T00:00:00.000Z");
        assert_eq!(iso8601_millis(u64::MAX), "584556019-04-03T14:25:51.615Z");
    }

    #[test]
    fn dates_agree_with_counting_days_one_by_one() {
        let mut date = (1970u64, 1u64, 1u64);
        for days in 0..(200 * 366) {
            assert_eq!(civil_from_days(days), date, "day {days}");
            let (y, m, d) = date;
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
            let month_len = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            date = match (d == month_len, m == 12) {
                (false, _) => (y, m, d + 1),
                (true, false) => (y, m + 1, 1),
                (true, true) => (y + 1, 1, 1),
            };
        }
    }

    /// Reverses `url_encode_into`.
    fn percent_decode(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    proptest! {
        #[test]
        fn url_encoding_round_trips(key in any::<String>()) {
            let encoded = url_encode_key(&key);
            prop_assert!(encoded.bytes().all(|b| URL_PLAIN[usize::from(b)] || b == b'%'));
            prop_assert_eq!(percent_decode(&encoded), key);
        }

        #[test]
        fn escaped_text_reads_back_through_an_xml_parser(key in any::<String>().prop_filter("no NUL", |k| !k.contains('\0'))) {
            let mut doc = b"<k>".to_vec();
            escape_into(&mut doc, &key);
            doc.extend_from_slice(b"</k>");
            let mut reader = quick_xml::Reader::from_reader(doc.as_slice());
            let mut text = String::new();
            loop {
                match reader.read_event().unwrap() {
                    quick_xml::events::Event::Text(t) => text.push_str(&t.unescape().unwrap()),
                    quick_xml::events::Event::Eof => break,
                    _ => {}
                }
            }
            prop_assert_eq!(text, key);
        }
    }
}
