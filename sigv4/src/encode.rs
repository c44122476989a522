//! URI and hex encoding as SigV4 defines them: "URI-encode every byte except the unreserved
//! characters 'A'-'Z', 'a'-'z', '0'-'9', '-', '.', '_', and '~'", with `%XY` in upper-case hex.

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// Whether SigV4 leaves this byte as it is.
#[inline]
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Appends `input` URI-encoded to `out`; `/` is kept when `keep_slash` (paths), encoded otherwise.
pub fn uri_encode_into(out: &mut String, input: &[u8], keep_slash: bool) {
    for &b in input {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX_UPPER[usize::from(b >> 4)] as char);
            out.push(HEX_UPPER[usize::from(b & 15)] as char);
        }
    }
}

/// `input` URI-encoded, `/` included.
pub fn uri_encode(input: &[u8], keep_slash: bool) -> String {
    let mut s = String::with_capacity(input.len() + 8);
    uri_encode_into(&mut s, input, keep_slash);
    s
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `input` into bytes. A `%` not followed by two hex digits is kept literally;
/// `+` is kept as `+` (SigV4 clients encode a space as `%20`).
pub fn percent_decode(input: &[u8]) -> Vec<u8> {
    percent_decode_cow(input, false).map_or_else(|| input.to_vec(), std::borrow::Cow::into_owned)
}

/// Percent-decodes `input`, borrowing it when it holds no `%`. A `%` not followed by two hex
/// digits makes it `None` when `strict`, and is kept literally otherwise (never `None`).
pub fn percent_decode_cow(input: &[u8], strict: bool) -> Option<std::borrow::Cow<'_, [u8]>> {
    if !input.contains(&b'%') {
        return Some(std::borrow::Cow::Borrowed(input));
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b == b'%' {
            let digit = |at: usize| input.get(at).and_then(|&c| hex_val(c));
            if let (Some(h), Some(l)) = (digit(i + 1), digit(i + 2)) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
            if strict {
                return None;
            }
        }
        out.push(b);
        i += 1;
    }
    Some(std::borrow::Cow::Owned(out))
}

/// Appends the lower-case hex of `bytes` to `out`.
pub fn hex_into(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        out.push(HEX_LOWER[usize::from(b >> 4)] as char);
        out.push(HEX_LOWER[usize::from(b & 15)] as char);
    }
}

/// Appends the lower-case hex of `bytes` to a byte buffer.
pub fn hex_into_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(HEX_LOWER[usize::from(b >> 4)]);
        out.push(HEX_LOWER[usize::from(b & 15)]);
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    hex_into(&mut s, bytes);
    s
}

/// Decodes exactly `N` bytes of hex (either case); `None` on any other input.
pub fn unhex<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    if s.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = hex_val(s[2 * i])? << 4 | hex_val(s[2 * i + 1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_sigv4() {
        assert_eq!(uri_encode(b"a b/c~d+e", true), "a%20b/c~d%2Be");
        assert_eq!(uri_encode(b"a b/c", false), "a%20b%2Fc");
        assert_eq!(uri_encode("ሴ".as_bytes(), true), "%E1%88%B4");
        assert_eq!(uri_encode(b"AZaz09-._~", false), "AZaz09-._~");
    }

    #[test]
    fn decodes_and_keeps_bad_escapes() {
        assert_eq!(percent_decode(b"a%20b%2fc"), b"a b/c");
        assert_eq!(percent_decode(b"100%"), b"100%");
        assert_eq!(percent_decode(b"%4"), b"%4");
        assert_eq!(percent_decode(b"%zz%41"), b"%zzA");
        assert_eq!(percent_decode(b"a+b"), b"a+b");
    }

    #[test]
    fn hex_round_trip() {
        let h = hex(&[0, 1, 0xab, 0xff]);
        assert_eq!(h, "0001abff");
        assert_eq!(unhex::<4>(h.as_bytes()), Some([0, 1, 0xab, 0xff]));
        assert_eq!(unhex::<4>(b"0001ABFF"), Some([0, 1, 0xab, 0xff]));
        assert_eq!(unhex::<4>(b"0001abf"), None);
        assert_eq!(unhex::<2>(b"0g01"), None);
    }
}
