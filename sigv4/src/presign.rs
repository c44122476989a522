//! Presigned URLs: the `X-Amz-*` query parameters that carry a SigV4 signature instead of the
//! `Authorization` header, parsed strictly, and built for outbound presigned requests.
//!
//! ```text
//! ?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F<scope>&X-Amz-Date=<ts>
//!  &X-Amz-Expires=<0..604800>&X-Amz-SignedHeaders=host[;...]&X-Amz-Signature=<64 hex>
//!  [&X-Amz-Security-Token=...]
//! ```

use crate::authorization::valid_signed_headers;
use crate::encode::{percent_decode, unhex, uri_encode_into};
use crate::string_to_sign::ALGORITHM;
use crate::SigError;

/// Longest presigned validity S3 accepts: seven days.
pub const MAX_PRESIGN_EXPIRES: u64 = 604_800;

/// The SigV4 parameters of a presigned URL, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignParams {
    /// `X-Amz-Credential`, decoded (`AKID/YYYYMMDD/region/service/aws4_request`).
    pub credential: String,
    /// `X-Amz-Date`.
    pub amz_date: String,
    /// `X-Amz-Expires` in seconds.
    pub expires: u64,
    /// `X-Amz-SignedHeaders`.
    pub signed_headers: String,
    /// `X-Amz-Signature`.
    pub signature: [u8; 32],
    /// `X-Amz-Security-Token`, passed through when present.
    pub security_token: Option<String>,
}

/// Whether the raw query carries presigned-URL authentication (`X-Amz-Algorithm` or
/// `X-Amz-Signature` or `X-Amz-Credential`).
pub fn is_presigned(raw_query: &[u8]) -> bool {
    raw_query.split(|&b| b == b'&').any(|p| {
        p.starts_with(b"X-Amz-Algorithm=") || p.starts_with(b"X-Amz-Signature=") || p.starts_with(b"X-Amz-Credential=")
    })
}

impl PresignParams {
    /// Parses the presign parameters out of a raw query string.
    pub fn parse(raw_query: &[u8]) -> Result<PresignParams, SigError> {
        use SigError::AuthorizationQueryParametersError as Bad;
        let (mut alg, mut cred, mut date, mut exp, mut sh, mut sig, mut tok) =
            (None, None, None, None, None, None, None);
        for part in raw_query.split(|&b| b == b'&') {
            let (k, v) = match part.iter().position(|&b| b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &b""[..]),
            };
            let slot = match k {
                b"X-Amz-Algorithm" => &mut alg,
                b"X-Amz-Credential" => &mut cred,
                b"X-Amz-Date" => &mut date,
                b"X-Amz-Expires" => &mut exp,
                b"X-Amz-SignedHeaders" => &mut sh,
                b"X-Amz-Signature" => &mut sig,
                b"X-Amz-Security-Token" => &mut tok,
                _ => continue,
            };
            let decoded = String::from_utf8(percent_decode(v)).map_err(|_| Bad("X-Amz-* parameters must be UTF-8"))?;
            if slot.replace(decoded).is_some() {
                return Err(Bad("an X-Amz-* parameter appears twice"));
            }
        }
        let alg = alg.ok_or(Bad(
            "Query-string authentication requires the X-Amz-Algorithm parameter",
        ))?;
        if alg != ALGORITHM {
            return Err(if alg == "AWS4-ECDSA-P256-SHA256" {
                SigError::UnsupportedAlgorithm("AWS4-ECDSA-P256-SHA256 (SigV4a)".into())
            } else {
                Bad("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
            });
        }
        let credential = cred.ok_or(Bad(
            "Query-string authentication requires the X-Amz-Credential parameter",
        ))?;
        let amz_date = date.ok_or(Bad("Query-string authentication requires the X-Amz-Date parameter"))?;
        let expires = exp.ok_or(Bad("Query-string authentication requires the X-Amz-Expires parameter"))?;
        let expires = parse_expires(&expires)?;
        let signed_headers = sh.ok_or(Bad(
            "Query-string authentication requires the X-Amz-SignedHeaders parameter",
        ))?;
        if !valid_signed_headers(&signed_headers) {
            return Err(Bad("X-Amz-SignedHeaders is malformed"));
        }
        let signature = sig
            .ok_or(Bad(
                "Query-string authentication requires the X-Amz-Signature parameter",
            ))
            .and_then(|s| unhex::<32>(s.as_bytes()).ok_or(Bad("X-Amz-Signature must be 64 hex digits")))?;
        Ok(PresignParams {
            credential,
            amz_date,
            expires,
            signed_headers,
            signature,
            security_token: tok,
        })
    }
}

/// `X-Amz-Expires`: an integer of seconds from 0 to [`MAX_PRESIGN_EXPIRES`], refused in S3's
/// words otherwise (0 is valid here and expired on arrival; the verifier says so).
fn parse_expires(value: &str) -> Result<u64, SigError> {
    use SigError::AuthorizationQueryParametersError as Bad;
    let (negative, digits) = match value.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Bad("X-Amz-Expires should be a number"));
    }
    // A validity outside 0..=604800 can never be granted: S3 refuses it as AccessDenied (403),
    // like an expired URL (ceph/s3-tests `test_object_raw_get_x_amz_expires_out_*`).
    if negative && digits.bytes().any(|b| b != b'0') {
        return Err(SigError::AccessDenied("X-Amz-Expires must be non-negative"));
    }
    // Only digits: parsing fails on overflow alone, which is more than a week too.
    let n = digits.parse::<u64>().unwrap_or(u64::MAX);
    if n > MAX_PRESIGN_EXPIRES {
        return Err(SigError::AccessDenied(
            "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less \
             than 604800 seconds",
        ));
    }
    Ok(n)
}

/// Appends `&key=value` (or `key=value` at the start) with the value URI-encoded.
pub fn push_query_param(out: &mut String, key: &str, value: &str) {
    if !out.is_empty() {
        out.push('&');
    }
    out.push_str(key);
    out.push('=');
    uri_encode_into(out, value.as_bytes(), false);
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

    #[test]
    fn parses_the_documented_url() {
        assert!(is_presigned(Q.as_bytes()));
        let p = PresignParams::parse(Q.as_bytes()).unwrap();
        assert_eq!(p.credential, "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request");
        assert_eq!(p.expires, 86_400);
        assert_eq!(p.signed_headers, "host");
        assert!(p.security_token.is_none());
    }

    #[test]
    fn rejects_bad_parameters() {
        for (from, to) in [
            ("X-Amz-Expires=86400&", ""),
            ("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
            ("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders="),
            ("X-Amz-Signature=ae", "X-Amz-Signature=zz"),
            (
                "X-Amz-Date=20130524T000000Z",
                "X-Amz-Date=20130524T000000Z&X-Amz-Date=20130524T000000Z",
            ),
        ] {
            let q = Q.replace(from, to);
            let e = PresignParams::parse(q.as_bytes()).unwrap_err();
            assert_eq!(e.s3_code(), "AuthorizationQueryParametersError", "{q}");
        }
        assert!(!is_presigned(b"list-type=2&prefix=a"));
    }

    #[test]
    fn expires_is_checked_in_s3_words() {
        const WEEK: &str = "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires \
                            must be less than 604800 seconds";
        const NEGATIVE: &str = "X-Amz-Expires must be non-negative";
        const NAN: &str = "X-Amz-Expires should be a number";
        let parse = |v: &str| {
            PresignParams::parse(
                Q.replace("X-Amz-Expires=86400", &format!("X-Amz-Expires={v}"))
                    .as_bytes(),
            )
        };
        for (v, n) in [
            ("0", 0),
            ("-0", 0),
            ("1", 1),
            ("+60", 60),
            ("604800", MAX_PRESIGN_EXPIRES),
        ] {
            assert_eq!(parse(v).map(|p| p.expires), Ok(n), "{v}");
        }
        for (v, msg) in [
            ("-1", NEGATIVE),
            ("-604801", NEGATIVE),
            ("-99999999999999999999999", NEGATIVE),
            ("604801", WEEK),
            ("18446744073709551616", WEEK),
            ("99999999999999999999999", WEEK),
        ] {
            assert_eq!(parse(v), Err(SigError::AccessDenied(msg)), "{v}");
            assert_eq!(parse(v).unwrap_err().http_status(), 403);
        }
        for (v, msg) in [("", NAN), ("-", NAN), ("1e3", NAN), ("%2060", NAN), ("--1", NAN)] {
            assert_eq!(parse(v), Err(SigError::AuthorizationQueryParametersError(msg)), "{v}");
            assert_eq!(parse(v).unwrap_err().http_status(), 400);
        }
    }
}
