//! The `Authorization` header of SigV4, parsed strictly:
//!
//! ```text
//! Authorization: AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/region/service/aws4_request,
//!                SignedHeaders=h1;h2, Signature=<64 hex>
//! ```
//!
//! and the credential string it shares with presigned URLs.

use crate::encode::unhex;
use crate::string_to_sign::ALGORITHM;
use crate::SigError;

/// Longest `Authorization` header we parse; longer is malformed (no client sends more).
pub const MAX_AUTHORIZATION_LEN: usize = 8 * 1024;

/// `AKID/YYYYMMDD/region/service/aws4_request`, split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential<'a> {
    /// The whole credential string.
    pub full: &'a str,
    /// The access key id.
    pub access_key: &'a str,
    /// `YYYYMMDD/region/service/aws4_request`: the credential scope.
    pub scope: &'a str,
    /// The `YYYYMMDD` day.
    pub date: &'a str,
    /// The region.
    pub region: &'a str,
    /// The service.
    pub service: &'a str,
}

impl<'a> Credential<'a> {
    /// Parses a credential string; `None` if it does not have the five parts SigV4 requires.
    pub fn parse(full: &'a str) -> Option<Credential<'a>> {
        let slash = full.find('/')?;
        let access_key = &full[..slash];
        let scope = &full[slash + 1..];
        let mut parts = scope.split('/');
        let date = parts.next()?;
        let region = parts.next()?;
        let service = parts.next()?;
        let term = parts.next()?;
        if parts.next().is_some()
            || access_key.is_empty()
            || date.len() != 8
            || !date.bytes().all(|b| b.is_ascii_digit())
            || region.is_empty()
            || service.is_empty()
            || term != "aws4_request"
        {
            return None;
        }
        Some(Credential {
            full,
            access_key,
            scope,
            date,
            region,
            service,
        })
    }
}

/// A parsed `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authorization<'a> {
    /// The credential.
    pub credential: Credential<'a>,
    /// `SignedHeaders`, `;`-separated lower-case names.
    pub signed_headers: &'a str,
    /// The signature.
    pub signature: [u8; 32],
}

/// Whether `signed_headers` is a well-formed `SignedHeaders` value: non-empty lower-case tokens.
pub fn valid_signed_headers(s: &str) -> bool {
    !s.is_empty()
        && s.split(';').all(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.!#$%&'*+^`|~".contains(&b))
        })
}

impl<'a> Authorization<'a> {
    /// Parses the header value. Components may be separated by `,` with optional spaces and
    /// appear in any order, each exactly once.
    pub fn parse(value: &'a str) -> Result<Authorization<'a>, SigError> {
        use SigError::AuthorizationHeaderMalformed as Malformed;
        if value.len() > MAX_AUTHORIZATION_LEN {
            return Err(Malformed("the header is too long"));
        }
        let (alg, rest) = value.split_once(' ').ok_or(Malformed("missing the algorithm"))?;
        if alg != ALGORITHM {
            return Err(match alg {
                "AWS4-ECDSA-P256-SHA256" => SigError::UnsupportedAlgorithm("AWS4-ECDSA-P256-SHA256 (SigV4a)".into()),
                // `Verifier::verify` hands these to `sigv2::V2Authorization` before this parser.
                "AWS" => Malformed("a Signature Version 2 header is not a SigV4 header"),
                _ => Malformed("unknown algorithm"),
            });
        }
        let (mut cred, mut signed, mut sig) = (None, None, None);
        for part in rest.split(',') {
            let part = part.trim_matches(' ');
            let (k, v) = part.split_once('=').ok_or(Malformed("a component has no '='"))?;
            let slot = match k {
                "Credential" => &mut cred,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut sig,
                _ => return Err(Malformed("unknown component")),
            };
            if slot.replace(v).is_some() {
                return Err(Malformed("a component appears twice"));
            }
        }
        let cred = cred.ok_or(Malformed("missing Credential"))?;
        let credential =
            Credential::parse(cred).ok_or(Malformed("the Credential is not AKID/date/region/service/aws4_request"))?;
        let signed_headers = signed.ok_or(Malformed("missing SignedHeaders"))?;
        if !valid_signed_headers(signed_headers) {
            return Err(Malformed("SignedHeaders is malformed"));
        }
        let signature = sig
            .and_then(|s| unhex::<32>(s.as_bytes()))
            .ok_or(Malformed("Signature must be 64 hex digits"))?;
        Ok(Authorization {
            credential,
            signed_headers,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

    #[test]
    fn parses_the_documented_header() {
        let a = Authorization::parse(GOOD).unwrap();
        assert_eq!(a.credential.access_key, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(a.credential.scope, "20130524/us-east-1/s3/aws4_request");
        assert_eq!(a.credential.region, "us-east-1");
        assert_eq!(a.signed_headers, "host;range;x-amz-content-sha256;x-amz-date");
        assert_eq!(a.signature[0], 0xf0);
        // No spaces after commas, components reordered.
        let v = "AWS4-HMAC-SHA256 Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41,SignedHeaders=host,Credential=AK/20130524/us-east-1/s3/aws4_request";
        assert!(Authorization::parse(v).is_ok());
    }

    #[test]
    fn rejects_malformed() {
        let sig = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
        let cases = [
            String::new(),
            "AWS4-HMAC-SHA256".into(),
            format!("AWS4-HMAC-SHA1 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3, SignedHeaders=host, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential=AK/2013052/us-east-1/s3/aws4_request, SignedHeaders=host, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=Host, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;;x, Signature={sig}"),
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=abc".into(),
            format!("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature={sig}, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature={sig}, Extra=1"),
            format!("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 {}", "x".repeat(MAX_AUTHORIZATION_LEN)),
            // Signature Version 2 is verified by `sigv2`, never parsed as SigV4.
            "AWS AKIAIOSFODNN7EXAMPLE:qgk2+6Sv9/oM7G3qLEjTH1a1l1g=".into(),
        ];
        for c in &cases {
            let e = Authorization::parse(c).unwrap_err();
            assert_eq!(e.s3_code(), "AuthorizationHeaderMalformed", "{c}: {e:?}");
        }
        let e = Authorization::parse("AWS4-ECDSA-P256-SHA256 Credential=x").unwrap_err();
        assert_eq!(e.s3_code(), "NotImplemented");
    }
}
