//! The canonical request (AWS SigV4 "Task 1: Create a canonical request"):
//!
//! ```text
//! CanonicalRequest = HTTPMethod + '\n' + CanonicalURI + '\n' + CanonicalQueryString + '\n'
//!                  + CanonicalHeaders + '\n' + SignedHeaders + '\n' + HashedPayload
//! ```
//!
//! Built into a caller's reusable byte buffer from the request exactly as it came off the wire.

use crate::encode::{percent_decode, uri_encode_into};

/// A request's headers as the verifier and signer see them: names case-insensitive, values raw
/// bytes, repeated names allowed and kept in order.
pub trait Headers {
    /// Calls `f` for every header in wire order.
    fn each(&self, f: impl FnMut(&str, &[u8]));

    /// The first value of header `name` (ASCII case-insensitive).
    fn header(&self, name: &str) -> Option<&[u8]>;
}

impl<N: AsRef<str>, V: AsRef<[u8]>> Headers for [(N, V)] {
    fn each(&self, mut f: impl FnMut(&str, &[u8])) {
        for (n, v) in self {
            f(n.as_ref(), v.as_ref());
        }
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(n, _)| n.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> Headers for Vec<(N, V)> {
    fn each(&self, f: impl FnMut(&str, &[u8])) {
        self.as_slice().each(f)
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        self.as_slice().header(name)
    }
}

/// How the path becomes the CanonicalURI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UriMode {
    /// S3: the path as sent, each segment decoded once and URI-encoded once; no `.`/`..`
    /// removal, no slash merging ("Do not normalize URI paths for requests to Amazon S3").
    #[default]
    S3,
    /// Other services: additionally remove `.` and `..` segments and merge repeated slashes
    /// (RFC 3986 normalisation, as the generic SigV4 test suite's `normalize: true` cases expect).
    Normalized,
}

/// Appends the CanonicalURI of the raw request path.
///
/// "URI-encode each path segment"; the raw path is decoded first so that a client that encoded
/// more or fewer characters than SigV4 does still yields the one canonical form.
pub fn canonical_uri(out: &mut Vec<u8>, raw_path: &[u8], mode: UriMode) {
    let path: &[u8] = if raw_path.is_empty() { b"/" } else { raw_path };
    let mut s = String::with_capacity(path.len() + 16);
    match mode {
        UriMode::S3 => {
            // Split on the literal '/' first so that an encoded slash (`%2F`) stays encoded.
            for (i, seg) in path.split(|&b| b == b'/').enumerate() {
                if i > 0 {
                    s.push('/');
                }
                if seg.contains(&b'%') {
                    uri_encode_into(&mut s, &percent_decode(seg), false);
                } else {
                    uri_encode_into(&mut s, seg, false);
                }
            }
        }
        UriMode::Normalized => {
            let mut segments: Vec<Vec<u8>> = Vec::new();
            let raw_segments: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
            for seg in &raw_segments {
                match *seg {
                    b"" | b"." => {}
                    b".." => {
                        segments.pop();
                    }
                    s => segments.push(percent_decode(s)),
                }
            }
            let trailing = matches!(raw_segments.last(), Some(&(b"" | b"." | b"..")));
            s.push('/');
            for (i, seg) in segments.iter().enumerate() {
                if i > 0 {
                    s.push('/');
                }
                uri_encode_into(&mut s, seg, false);
            }
            if trailing && !segments.is_empty() {
                s.push('/');
            }
        }
    }
    out.extend_from_slice(s.as_bytes());
}

/// Appends the CanonicalQueryString of the raw query (without `?`).
///
/// "Sort the parameter names by character code point in ascending order. URI-encode each
/// parameter name and value"; a parameter without `=` gets an empty value. With
/// `skip_signature`, `X-Amz-Signature` is left out (presigned URLs).
pub fn canonical_query(out: &mut Vec<u8>, raw_query: &[u8], skip_signature: bool) {
    if raw_query.is_empty() {
        return;
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in raw_query.split(|&b| b == b'&') {
        if part.is_empty() {
            continue;
        }
        let (k, v) = match part.iter().position(|&b| b == b'=') {
            Some(i) => (&part[..i], &part[i + 1..]),
            None => (part, &b""[..]),
        };
        if skip_signature && k == b"X-Amz-Signature" {
            continue;
        }
        let mut ek = String::with_capacity(k.len());
        uri_encode_into(&mut ek, &percent_decode(k), false);
        let mut ev = String::with_capacity(v.len());
        uri_encode_into(&mut ev, &percent_decode(v), false);
        pairs.push((ek, ev));
    }
    pairs.sort_unstable();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v.as_bytes());
    }
}

/// Appends one header value trimmed, with runs of spaces collapsed ("Trimall").
fn push_trimmed(out: &mut Vec<u8>, v: &[u8]) {
    let mut prev_space = false;
    let start = out.len();
    for &b in v.iter() {
        let space = b == b' ' || b == b'\t' || b == b'\r' || b == b'\n';
        if space {
            prev_space = true;
            continue;
        }
        if prev_space && out.len() > start {
            out.push(b' ');
        }
        prev_space = false;
        out.push(b);
    }
}

/// Appends the CanonicalHeaders block: `name:value\n` for every name in `signed_headers`
/// (`;`-separated, lower-case), values of repeated headers joined with `,`.
pub fn canonical_headers<H: Headers + ?Sized>(out: &mut Vec<u8>, headers: &H, signed_headers: &str) {
    for name in signed_headers.split(';') {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut n = 0;
        headers.each(|hn, hv| {
            if hn.eq_ignore_ascii_case(name) {
                if n > 0 {
                    out.push(b',');
                }
                push_trimmed(out, hv);
                n += 1;
            }
        });
        out.push(b'\n');
    }
}

/// The parts of a request that the canonical request is made of.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a, H: ?Sized> {
    /// HTTP method, upper case as sent.
    pub method: &'a str,
    /// The raw path of the request target, as sent (before `?`).
    pub path: &'a [u8],
    /// The raw query string, as sent (after `?`), possibly empty.
    pub query: &'a [u8],
    /// All request headers.
    pub headers: &'a H,
    /// Whether the path names the bucket (path style) rather than the Host (virtual-hosted
    /// style): only then is a one-segment path a bucket root, which SigV2 clients sign as
    /// `/bucket/` as well as `/bucket`.
    pub path_style: bool,
}

/// Builds the whole canonical request into `out` (cleared first).
pub fn canonical_request<H: Headers + ?Sized>(
    out: &mut Vec<u8>,
    req: &RequestParts<'_, H>,
    signed_headers: &str,
    payload_hash: &str,
    mode: UriMode,
    presigned: bool,
) {
    out.clear();
    out.extend_from_slice(req.method.as_bytes());
    out.push(b'\n');
    canonical_uri(out, req.path, mode);
    out.push(b'\n');
    canonical_query(out, req.query, presigned);
    out.push(b'\n');
    canonical_headers(out, req.headers, signed_headers);
    out.push(b'\n');
    out.extend_from_slice(signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(p: &str, mode: UriMode) -> String {
        let mut v = Vec::new();
        canonical_uri(&mut v, p.as_bytes(), mode);
        String::from_utf8(v).unwrap()
    }

    fn query(q: &str) -> String {
        let mut v = Vec::new();
        canonical_query(&mut v, q.as_bytes(), true);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn s3_uri_is_not_normalised() {
        assert_eq!(uri("//example//", UriMode::S3), "//example//");
        assert_eq!(uri("/a/./b/../c", UriMode::S3), "/a/./b/../c");
        assert_eq!(uri("/b/my key+x%2Bz", UriMode::S3), "/b/my%20key%2Bx%2Bz");
        assert_eq!(uri("/b/a%2Fb", UriMode::S3), "/b/a%2Fb");
        assert_eq!(uri("", UriMode::S3), "/");
    }

    #[test]
    fn normalised_uri() {
        assert_eq!(uri("//example//", UriMode::Normalized), "/example/");
        assert_eq!(uri("/example1/example2/../..", UriMode::Normalized), "/");
        assert_eq!(uri("/./", UriMode::Normalized), "/");
        assert_eq!(uri("/example/..", UriMode::Normalized), "/");
    }

    #[test]
    fn query_sorted_encoded() {
        assert_eq!(query("b=2&a=1&a=0"), "a=0&a=1&b=2");
        assert_eq!(query("uploads&prefix=a%2Fb"), "prefix=a%2Fb&uploads=");
        assert_eq!(query("k=a b&X-Amz-Signature=ff"), "k=a%20b");
        assert_eq!(query("&&x=1&"), "x=1");
    }

    #[test]
    fn headers_trimmed_and_joined() {
        let h = vec![("Host", "h"), ("My-H", "  a   b  "), ("my-h", "c")];
        let mut v = Vec::new();
        canonical_headers(&mut v, h.as_slice(), "host;my-h");
        assert_eq!(String::from_utf8(v).unwrap(), "host:h\nmy-h:a b,c\n");
    }
}
