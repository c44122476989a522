//! Signature Version 2 presigned URLs (`?AWSAccessKeyId=..&Expires=..&Signature=..`), still
//! what boto3 produces by default for `generate_presigned_url` against a custom endpoint:
//!
//! ```text
//! StringToSign = HTTP-Verb + "\n" + Content-MD5 + "\n" + Content-Type + "\n" + Expires + "\n"
//!              + CanonicalizedAmzHeaders + CanonicalizedResource
//! Signature    = Base64(HMAC-SHA1(SecretAccessKey, UTF-8-Encoding-Of(StringToSign)))
//! ```
//!
//! Only query-string (presigned) authentication is accepted; header-signed SigV2 is refused.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::hmac;

use crate::canonical::Headers;
use crate::encode::percent_decode;
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

/// The SigV2 string to sign of a presigned request.
pub fn string_to_sign<H: Headers + ?Sized>(
    method: &str,
    raw_path: &[u8],
    raw_query: &[u8],
    headers: &H,
    expires: i64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + raw_path.len());
    out.extend_from_slice(method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(headers.header("content-md5").unwrap_or(b""));
    out.push(b'\n');
    out.extend_from_slice(headers.header("content-type").unwrap_or(b""));
    out.push(b'\n');
    out.extend_from_slice(expires.to_string().as_bytes());
    out.push(b'\n');
    let mut amz: Vec<(String, Vec<u8>)> = Vec::new();
    headers.each(|n, v| {
        let n = n.to_ascii_lowercase();
        if n.starts_with("x-amz-") {
            match amz.iter_mut().find(|(k, _)| *k == n) {
                Some((_, existing)) => {
                    existing.push(b',');
                    existing.extend_from_slice(v.trim_ascii());
                }
                None => amz.push((n, v.trim_ascii().to_vec())),
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
    out
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
