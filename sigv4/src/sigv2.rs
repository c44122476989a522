//! Signature Version 2: the `Authorization: AWS AKID:signature` header that s3cmd and older SDKs
//! still send, and the presigned URLs (`?AWSAccessKeyId=..&Expires=..&Signature=..`) boto3 still
//! makes by default for `generate_presigned_url` against a custom endpoint. From the S3
//! documentation, "Signing and authenticating REST requests":
//!
//! ```text
//! Authorization = "AWS" + " " + AWSAccessKeyId + ":" + Signature
//! Signature     = Base64(HMAC-SHA1(SecretAccessKey, UTF-8-Encoding-Of(StringToSign)))
//! StringToSign  = HTTP-Verb + "\n" + Content-MD5 + "\n" + Content-Type + "\n" + Date + "\n"
//!               + CanonicalizedAmzHeaders + CanonicalizedResource
//! ```
//!
//! A presigned URL puts `Expires` where the header form puts `Date`. "When an `x-amz-date` header
//! is present in a request, the system will ignore any `Date` header when computing the request
//! signature": the Date line is then empty and `x-amz-date` is signed among the amz headers.
//! V2 signs no body; a `Content-MD5` is in the string to sign and checked by the body reader.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::hmac;

use crate::authorization::MAX_AUTHORIZATION_LEN;
use crate::canonical::Headers;
use crate::date::AmzDate;
use crate::encode::percent_decode;
use crate::http_date::parse_http_date;
use crate::SigError;

/// Sub-resources that are part of the canonical resource (the S3 SigV2 documentation's list).
const SUBRESOURCES: &[&str] = &[
    "acl",
    "cors",
    "delete",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// The parameters of a SigV2 presigned URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Params {
    /// `AWSAccessKeyId`.
    pub access_key: String,
    /// `Expires`, Unix seconds.
    pub expires: i64,
    /// `Signature`, decoded from base64.
    pub signature: Vec<u8>,
}

/// Whether the raw query carries SigV2 presigned parameters.
pub fn is_v2_presigned(raw_query: &[u8]) -> bool {
    raw_query
        .split(|&b| b == b'&')
        .any(|p| p.starts_with(b"AWSAccessKeyId="))
}

fn pairs(raw_query: &[u8]) -> Vec<(String, String)> {
    raw_query
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = match p.iter().position(|&b| b == b'=') {
                Some(i) => (&p[..i], Some(&p[i + 1..])),
                None => (p, None),
            };
            let k = String::from_utf8_lossy(&percent_decode(k)).into_owned();
            let v = v.map(|v| String::from_utf8_lossy(&percent_decode(v)).into_owned());
            (k, v.unwrap_or_else(|| "\u{0}".into()))
        })
        .collect()
}

impl V2Params {
    /// Parses `AWSAccessKeyId`, `Expires` and `Signature`.
    pub fn parse(raw_query: &[u8]) -> Result<V2Params, SigError> {
        use SigError::AuthorizationQueryParametersError as Bad;
        let p = pairs(raw_query);
        let get = |n: &str| p.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        let access_key = get("AWSAccessKeyId")
            .filter(|v| !v.is_empty())
            .ok_or(Bad("AWSAccessKeyId is missing"))?;
        let expires = get("Expires")
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or(Bad("Expires must be a number"))?;
        let signature = get("Signature")
            .and_then(|s| B64.decode(s.as_bytes()).ok())
            .filter(|s| s.len() == 20)
            .ok_or(Bad("Signature must be base64 of an HMAC-SHA1"))?;
        Ok(V2Params {
            access_key: access_key.to_string(),
            expires,
            signature,
        })
    }
}

/// A parsed SigV2 `Authorization` header, `AWS AKID:signature`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V2Authorization<'a> {
    /// The access key id.
    pub access_key: &'a str,
    /// The signature decoded from base64; `None` when it is not base64 of an HMAC-SHA1, so that
    /// it matches nothing (an unknown key is still reported as such first, as S3 does).
    pub signature: Option<[u8; 20]>,
}

impl<'a> V2Authorization<'a> {
    /// Parses the header value; `None` if it does not start with `AWS ` (not SigV2 at all).
    pub fn parse(value: &'a str) -> Option<Result<V2Authorization<'a>, SigError>> {
        use SigError::AuthorizationHeaderMalformed as Malformed;
        let rest = value.strip_prefix("AWS ")?;
        if value.len() > MAX_AUTHORIZATION_LEN {
            return Some(Err(Malformed("the header is too long")));
        }
        // Authorization = "AWS" + " " + AWSAccessKeyId + ":" + Signature
        let Some((access_key, signature)) = rest.trim_start_matches(' ').split_once(':') else {
            return Some(Err(Malformed(
                "a Signature Version 2 header must be AWS AccessKeyId:Signature",
            )));
        };
        if access_key.is_empty() || signature.is_empty() {
            return Some(Err(Malformed("the access key id or the signature is empty")));
        }
        let signature = B64
            .decode(signature.trim_end().as_bytes())
            .ok()
            .and_then(|s| <[u8; 20]>::try_from(s).ok());
        Some(Ok(V2Authorization { access_key, signature }))
    }
}

/// The time a header-signed request was made, Unix seconds: `x-amz-date` if present (it
/// "takes precedence over the Date header"), else `Date`. Either may be an HTTP date (RFC 1123
/// with `GMT` or a numeric zone, RFC 850, asctime) or the ISO 8601 form of SigV4. `None` when
/// both are missing or the one that counts does not parse.
pub fn request_time<H: Headers + ?Sized>(headers: &H) -> Option<i64> {
    let v = headers.header("x-amz-date").or_else(|| headers.header("date"))?;
    let v = std::str::from_utf8(v).ok()?.trim();
    parse_http_date(v).or_else(|| AmzDate::parse(v).map(|d| d.unix()))
}

/// The SigV2 string to sign of a presigned request: `Expires` in the Date position.
pub fn string_to_sign<H: Headers + ?Sized>(
    method: &str,
    raw_path: &[u8],
    raw_query: &[u8],
    headers: &H,
    expires: i64,
) -> Vec<u8> {
    build_string_to_sign(method, raw_path, raw_query, headers, expires.to_string().as_bytes())
}

/// The SigV2 string to sign of a header-signed request: the `Date` header in the Date position,
/// or nothing there when `x-amz-date` is sent (which is then signed as an amz header).
pub fn header_string_to_sign<H: Headers + ?Sized>(
    method: &str,
    raw_path: &[u8],
    raw_query: &[u8],
    headers: &H,
) -> Vec<u8> {
    let date = match headers.header("x-amz-date") {
        Some(_) => &b""[..],
        None => headers.header("date").unwrap_or(b"").trim_ascii(),
    };
    build_string_to_sign(method, raw_path, raw_query, headers, date)
}

fn build_string_to_sign<H: Headers + ?Sized>(
    method: &str,
    raw_path: &[u8],
    raw_query: &[u8],
    headers: &H,
    date: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + raw_path.len());
    // HTTP-Verb + "\n" + Content-MD5 + "\n" + Content-Type + "\n" + Date + "\n"
    for line in [
        method.as_bytes(),
        headers.header("content-md5").unwrap_or(b""),
        headers.header("content-type").unwrap_or(b""),
        date,
    ] {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    canonical_amz_headers(&mut out, headers);
    canonical_resource(&mut out, raw_path, raw_query);
    out
}

/// Appends CanonicalizedAmzHeaders: every `x-amz-*` header, names lower-cased and sorted,
/// "Combine header fields with the same name into one header-name:comma-separated-value-list
/// pair ... without any whitespace between values", folding whitespace replaced by one space,
/// spaces around the colon trimmed, each followed by a newline.
fn canonical_amz_headers<H: Headers + ?Sized>(out: &mut Vec<u8>, headers: &H) {
    let mut amz: Vec<(String, Vec<u8>)> = Vec::new();
    headers.each(|n, v| {
        let n = n.to_ascii_lowercase();
        if n.starts_with("x-amz-") {
            match amz.iter_mut().find(|(k, _)| *k == n) {
                Some((_, existing)) => {
                    existing.push(b',');
                    push_unfolded(existing, v);
                }
                None => {
                    let mut value = Vec::with_capacity(v.len());
                    push_unfolded(&mut value, v);
                    amz.push((n, value));
                }
            }
        }
    });
    amz.sort();
    for (n, v) in amz {
        out.extend_from_slice(n.as_bytes());
        out.push(b':');
        out.extend_from_slice(&v);
        out.push(b'\n');
    }
}

/// Appends `v` trimmed, with each run of whitespace that spans a line break (an obsolete line
/// fold) replaced by a single space.
fn push_unfolded(out: &mut Vec<u8>, v: &[u8]) {
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let mut rest = v.trim_ascii();
    while let Some(start) = rest.iter().position(is_ws) {
        out.extend_from_slice(&rest[..start]);
        let len = rest[start..].iter().take_while(|b| is_ws(b)).count();
        let run = &rest[start..start + len];
        if run.iter().any(|&b| b == b'\r' || b == b'\n') {
            out.push(b' ');
        } else {
            out.extend_from_slice(run);
        }
        rest = &rest[start + len..];
    }
    out.extend_from_slice(rest);
}

/// Appends CanonicalizedResource: the path "signed literally as [it appears] in the HTTP
/// request, including URL-Encoding meta characters", then the signed sub-resources sorted by
/// name, `?` before the first and `&` between, values decoded ("When signing, you do not encode
/// these values").
fn canonical_resource(out: &mut Vec<u8>, raw_path: &[u8], raw_query: &[u8]) {
    out.extend_from_slice(raw_path);
    let mut subs: Vec<(String, String)> = pairs(raw_query)
        .into_iter()
        .filter(|(k, _)| SUBRESOURCES.contains(&k.as_str()))
        .collect();
    subs.sort();
    for (i, (k, v)) in subs.iter().enumerate() {
        out.push(if i == 0 { b'?' } else { b'&' });
        out.extend_from_slice(k.as_bytes());
        if v != "\u{0}" {
            out.push(b'=');
            out.extend_from_slice(v.as_bytes());
        }
    }
}

/// The paths a SigV2 signature over `raw_path` may name: the path itself and, for a path-style
/// (`path_style`) bucket root (`/bucket`), `/bucket/` too, which botocore and other SDKs sign for it (S3's
/// canonical resource of a bucket) while sending the path without the slash.
pub fn signed_paths(raw_path: &[u8], path_style: bool) -> impl Iterator<Item = std::borrow::Cow<'_, [u8]>> {
    let root = path_style && raw_path.len() > 1 && raw_path.first() == Some(&b'/') && !raw_path[1..].contains(&b'/');
    let alias = root.then(|| {
        let mut p = raw_path.to_vec();
        p.push(b'/');
        std::borrow::Cow::Owned(p)
    });
    std::iter::once(std::borrow::Cow::Borrowed(raw_path)).chain(alias)
}

/// `HMAC-SHA1(secret, string_to_sign)`.
pub fn sign(secret: &str, string_to_sign: &[u8]) -> Vec<u8> {
    let k = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    hmac::sign(&k, string_to_sign).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_root_may_be_signed_with_its_slash() {
        let paths = |p: &'static [u8]| signed_paths(p, true).map(|c| c.into_owned()).collect::<Vec<_>>();
        assert_eq!(paths(b"/bkt"), vec![b"/bkt".to_vec(), b"/bkt/".to_vec()]);
        assert_eq!(paths(b"/bkt/"), vec![b"/bkt/".to_vec()]);
        assert_eq!(paths(b"/bkt/key"), vec![b"/bkt/key".to_vec()]);
        assert_eq!(paths(b"/"), vec![b"/".to_vec()]);
        let virtual_host: Vec<_> = signed_paths(b"/report", false).collect();
        assert_eq!(
            virtual_host,
            vec![std::borrow::Cow::Borrowed(&b"/report"[..])],
            "an object of a virtual host"
        );
    }

    #[test]
    fn documented_example() {
        // AWS S3 SigV2 documentation, "Query string request authentication" example.
        let h: Vec<(&str, &str)> = vec![("host", "johnsmith.s3.amazonaws.com")];
        let sts = string_to_sign(
            "GET",
            b"/johnsmith/photos/puppy.jpg",
            b"AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=x&Expires=1175139620",
            &h[..],
            1_175_139_620,
        );
        assert_eq!(
            String::from_utf8(sts.clone()).unwrap(),
            "GET\n\n\n1175139620\n/johnsmith/photos/puppy.jpg"
        );
        let sig = sign("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &sts);
        assert_eq!(B64.encode(sig), "NpgCjnDzrM+WFzoENXmpNDUsSn8=");
    }

    /// The S3 SigV2 documentation's credentials.
    const DOC_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn sts(method: &str, path: &str, query: &str, headers: &[(&str, &str)]) -> String {
        String::from_utf8(header_string_to_sign(
            method,
            path.as_bytes(),
            query.as_bytes(),
            headers,
        ))
        .unwrap()
    }

    fn b64_sig(sts: &str) -> String {
        B64.encode(sign(DOC_SECRET, sts.as_bytes()))
    }

    #[test]
    fn x_amz_date_empties_the_date_line() {
        // The documentation's Delete example (path-style, `x-amz-date` because "our client
        // library prevented us from setting the date"). Its table puts the x-amz-date value in
        // the Date position, and its signature is of that string:
        let table = "DELETE\n\n\nTue, 27 Mar 2007 21:20:26 +0000\n/awsexamplebucket1/photos/puppy.jpg";
        assert_eq!(b64_sig(table), "XbyTlbQdu9Xw5o8P4iMwPktxQd8=");
        // but its own rule ("if you include the x-amz-date header, use the empty string for the
        // Date when constructing the StringToSign"), which boto, s3cmd and Ceph follow, signs
        // x-amz-date as an amz header instead. We follow the rule.
        let h = [
            ("User-Agent", "dotnet"),
            ("Host", "s3.us-west-1.amazonaws.com"),
            ("Date", "Tue, 27 Mar 2007 21:20:27 +0000"),
            ("x-amz-date", "Tue, 27 Mar 2007 21:20:26 +0000"),
        ];
        assert_eq!(
            sts("DELETE", "/awsexamplebucket1/photos/puppy.jpg", "", &h),
            "DELETE\n\n\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\n/awsexamplebucket1/photos/puppy.jpg"
        );
        // Without x-amz-date the Date header is in its place.
        assert_eq!(
            sts("DELETE", "/awsexamplebucket1/photos/puppy.jpg", "", &h[..3]),
            "DELETE\n\n\nTue, 27 Mar 2007 21:20:27 +0000\n/awsexamplebucket1/photos/puppy.jpg"
        );
    }

    #[test]
    fn amz_headers_are_unfolded_and_joined() {
        let h = [
            ("X-Amz-Meta-A", "  one  \r\n\t two  "),
            ("x-amz-meta-a", "three   four"),
            ("x-amz-meta-b", ""),
            ("date", "Tue, 27 Mar 2007 21:20:27 +0000"),
        ];
        assert_eq!(
            sts("GET", "/b/k", "", &h),
            "GET\n\n\nTue, 27 Mar 2007 21:20:27 +0000\nx-amz-meta-a:one two,three   four\nx-amz-meta-b:\n/b/k"
        );
    }

    #[test]
    fn parses_the_authorization_header() {
        let a = V2Authorization::parse("AWS AKIAIOSFODNN7EXAMPLE:qgk2+6Sv9/oM7G3qLEjTH1a1l1g=")
            .unwrap()
            .unwrap();
        assert_eq!(a.access_key, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(
            a.signature.map(|s| B64.encode(s)).as_deref(),
            Some("qgk2+6Sv9/oM7G3qLEjTH1a1l1g=")
        );
        // Not SigV2 at all: left to the SigV4 parser.
        assert!(V2Authorization::parse("AWS4-HMAC-SHA256 Credential=x").is_none());
        assert!(V2Authorization::parse("AWS").is_none());
        // A signature that is not base64 of 20 bytes parses, and matches nothing.
        for sig in ["%%%", "qgk2+6Sv9/oM7G3qLEjTH1a1l1g", "AAAA"] {
            let v = format!("AWS AK:{sig}");
            let a = V2Authorization::parse(&v).unwrap().unwrap();
            assert_eq!(a.signature, None, "{sig}");
        }
        for bad in ["AWS AKIAIOSFODNN7EXAMPLE", "AWS :sig", "AWS AK:", "AWS "] {
            let e = V2Authorization::parse(bad).unwrap().unwrap_err();
            assert_eq!(e.s3_code(), "AuthorizationHeaderMalformed", "{bad}");
        }
        let long = format!("AWS AK:{}", "A".repeat(MAX_AUTHORIZATION_LEN));
        let e = V2Authorization::parse(&long).unwrap().unwrap_err();
        assert_eq!(e.s3_code(), "AuthorizationHeaderMalformed");
    }

    #[test]
    fn request_time_prefers_x_amz_date() {
        let date = ("Date", "Tue, 27 Mar 2007 19:36:42 +0000");
        assert_eq!(request_time(&[date][..]), Some(1_175_024_202));
        let h = [date, ("X-Amz-Date", "Tue, 27 Mar 2007 19:36:43 GMT")];
        assert_eq!(request_time(&h[..]), Some(1_175_024_203));
        // The SigV4 form is understood too.
        assert_eq!(
            request_time(&[("x-amz-date", "20070327T193644Z")][..]),
            Some(1_175_024_204)
        );
        // An unreadable x-amz-date is not replaced by Date.
        assert_eq!(request_time(&[date, ("x-amz-date", "yesterday")][..]), None);
        assert_eq!(request_time(&[("host", "h")][..]), None);
    }

    #[test]
    fn subresources_sorted_and_others_ignored() {
        let h: Vec<(&str, &str)> = vec![];
        let sts = string_to_sign(
            "GET",
            b"/b/k",
            b"versionId=3&Expires=1&response-content-type=text%2Fplain&x=y&acl",
            &h[..],
            1,
        );
        assert!(String::from_utf8(sts)
            .unwrap()
            .ends_with("/b/k?acl&response-content-type=text/plain&versionId=3"));
    }
}
