//! The signature of a browser POST upload (S3 "Browser-Based Uploads Using POST"): the form
//! carries a base64 policy document and a signature of exactly those base64 bytes, made with
//! the caller's secret. Only the signature is checked here; the policy's expiration and
//! conditions are the caller's (they need the form and the bucket).
//!
//! ```text
//! SigV4 (sigv4-authentication-HTTPPOST):
//!   StringToSign = the base64 policy, as sent in the `policy` field
//!   Signature    = Hex(HMAC-SHA256(SigningKey, StringToSign))   -- field `x-amz-signature`
//!   SigningKey   from `x-amz-credential` = AKID/YYYYMMDD/region/s3/aws4_request, whose date
//!                  must be the date of `x-amz-date` (yyyyMMdd'T'HHmmss'Z')
//! SigV2 (RESTObjectPOST, "Upload examples"):
//!   Signature    = Base64(HMAC-SHA1(SecretAccessKey, base64 policy))   -- field `signature`
//!   with the key id in `AWSAccessKeyId`
//! ```

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::authorization::Credential;
use crate::date::AmzDate;
use crate::encode::unhex;
use crate::verify::{CredentialProvider, Verifier};
use crate::{ct_eq, sigv2, SigError};

/// The one algorithm a SigV4 POST may name in `x-amz-algorithm`.
pub const POST_V4_ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The authentication fields of a POST form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostCredentials<'a> {
    /// SigV4: `x-amz-algorithm`, `x-amz-credential`, `x-amz-date`, `x-amz-signature`.
    V4 {
        /// `x-amz-algorithm`.
        algorithm: &'a str,
        /// `x-amz-credential`.
        credential: &'a str,
        /// `x-amz-date`.
        date: &'a str,
        /// `x-amz-signature` (hex).
        signature: &'a str,
    },
    /// SigV2: `AWSAccessKeyId` and `signature` (base64).
    V2 {
        /// `AWSAccessKeyId`.
        access_key: &'a str,
        /// `signature`.
        signature: &'a str,
    },
}

/// The hex SigV4 signature of a base64 policy under `key`.
pub fn v4_signature(key: &crate::SigningKey, policy_b64: &str) -> String {
    crate::encode::hex(&key.sign(policy_b64.as_bytes()))
}

/// The base64 SigV2 signature of a base64 policy with `secret`.
pub fn v2_signature(secret: &str, policy_b64: &str) -> String {
    B64.encode(sigv2::sign(secret, policy_b64.as_bytes()))
}

impl Verifier {
    /// Checks that `policy_b64` was signed by a known credential; its identity and access key.
    /// The policy's expiration stands in for a request time, so no clock skew applies.
    pub fn verify_post<P: CredentialProvider>(
        &self,
        policy_b64: &str,
        auth: PostCredentials<'_>,
        creds: &P,
    ) -> Result<(P::Identity, String), SigError> {
        match auth {
            PostCredentials::V4 {
                algorithm,
                credential,
                date,
                signature,
            } => {
                use SigError::AuthorizationQueryParametersError as Bad;
                if algorithm != POST_V4_ALGORITHM {
                    return Err(SigError::UnsupportedAlgorithm(algorithm.to_string()));
                }
                let c = Credential::parse(credential)
                    .ok_or(Bad("x-amz-credential is not AKID/date/region/service/aws4_request"))?;
                self.check_scope(&c, Bad)?;
                let date = AmzDate::parse(date).ok_or(Bad("x-amz-date must be in the ISO8601 basic format"))?;
                if date.date() != c.date {
                    return Err(Bad("the credential date does not match x-amz-date"));
                }
                let (secret, identity) = creds.lookup(c.access_key).ok_or(SigError::InvalidAccessKeyId)?;
                let key = self.key_cache().get(c.full, secret, c.date, c.region, c.service);
                let given = unhex::<32>(signature.trim().as_bytes()).ok_or(SigError::SignatureDoesNotMatch)?;
                if !ct_eq(&key.sign(policy_b64.as_bytes()), &given) {
                    return Err(SigError::SignatureDoesNotMatch);
                }
                Ok((identity, c.access_key.to_string()))
            }
            PostCredentials::V2 { access_key, signature } => {
                let (secret, identity) = creds.lookup(access_key).ok_or(SigError::InvalidAccessKeyId)?;
                let given = B64
                    .decode(signature.trim())
                    .map_err(|_| SigError::SignatureDoesNotMatch)?;
                if !ct_eq(&sigv2::sign(secret, policy_b64.as_bytes()), &given) {
                    return Err(SigError::SignatureDoesNotMatch);
                }
                Ok((identity, access_key.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SigningKey, VerifierConfig};

    struct One;
    impl CredentialProvider for One {
        type Identity = &'static str;
        fn lookup(&self, access_key: &str) -> Option<(&str, &'static str)> {
            (access_key == "AKIAIOSFODNN7EXAMPLE").then_some(("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "me"))
        }
    }

    /// The policy and signature of the AWS example "Example: Browser-based upload using HTTP
    /// POST (using AWS signature version 4)" (sigv4-post-example).
    const AWS_POLICY: &str = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
    const AWS_SIGNATURE: &str = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e";

    fn v4(signature: &str) -> PostCredentials<'_> {
        PostCredentials::V4 {
            algorithm: POST_V4_ALGORITHM,
            credential: "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request",
            date: "20151229T000000Z",
            signature,
        }
    }

    #[test]
    fn the_aws_sigv4_post_example_verifies() {
        let key = SigningKey::derive(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20151229",
            "us-east-1",
            "s3",
        );
        assert_eq!(v4_signature(&key, AWS_POLICY), AWS_SIGNATURE);
        let v = Verifier::new(VerifierConfig::default());
        let (who, ak) = v.verify_post(AWS_POLICY, v4(AWS_SIGNATURE), &One).unwrap();
        assert_eq!((who, ak.as_str()), ("me", "AKIAIOSFODNN7EXAMPLE"));
    }

    #[test]
    fn a_bad_v4_signature_key_scope_or_algorithm_is_refused() {
        let v = Verifier::new(VerifierConfig::default());
        let bad = AWS_SIGNATURE.replace('8', "9");
        assert_eq!(
            v.verify_post(AWS_POLICY, v4(&bad), &One).err(),
            Some(SigError::SignatureDoesNotMatch)
        );
        assert_eq!(
            v.verify_post(AWS_POLICY, v4("zz"), &One).err(),
            Some(SigError::SignatureDoesNotMatch)
        );
        // Another policy under the same signature.
        assert_eq!(
            v.verify_post("e30=", v4(AWS_SIGNATURE), &One).err(),
            Some(SigError::SignatureDoesNotMatch)
        );
        let unknown = PostCredentials::V4 {
            algorithm: POST_V4_ALGORITHM,
            credential: "NOPE/20151229/us-east-1/s3/aws4_request",
            date: "20151229T000000Z",
            signature: AWS_SIGNATURE,
        };
        assert_eq!(
            v.verify_post(AWS_POLICY, unknown, &One).err(),
            Some(SigError::InvalidAccessKeyId)
        );
        let other_day = PostCredentials::V4 {
            algorithm: POST_V4_ALGORITHM,
            credential: "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request",
            date: "20151230T000000Z",
            signature: AWS_SIGNATURE,
        };
        assert!(matches!(
            v.verify_post(AWS_POLICY, other_day, &One),
            Err(SigError::AuthorizationQueryParametersError(_))
        ));
        let sha1 = PostCredentials::V4 {
            algorithm: "AWS4-HMAC-SHA1",
            credential: "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request",
            date: "20151229T000000Z",
            signature: AWS_SIGNATURE,
        };
        assert!(matches!(
            v.verify_post(AWS_POLICY, sha1, &One),
            Err(SigError::UnsupportedAlgorithm(_))
        ));
        let region = Verifier::new(VerifierConfig {
            region: Some("eu-west-1".into()),
            ..VerifierConfig::default()
        });
        assert!(region.verify_post(AWS_POLICY, v4(AWS_SIGNATURE), &One).is_err());
    }

    #[test]
    fn sigv2_policies_verify_and_bad_ones_are_refused() {
        let v = Verifier::new(VerifierConfig::default());
        let policy = "eyJleHBpcmF0aW9uIjogIjIwMzAtMDEtMDFUMDA6MDA6MDBaIiwgImNvbmRpdGlvbnMiOiBbXX0=";
        let sig = v2_signature("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", policy);
        let ok = PostCredentials::V2 {
            access_key: "AKIAIOSFODNN7EXAMPLE",
            signature: &sig,
        };
        assert_eq!(v.verify_post(policy, ok, &One).unwrap().0, "me");
        let wrong = v2_signature("another secret", policy);
        for signature in [wrong.as_str(), "not base64!", ""] {
            let bad = PostCredentials::V2 {
                access_key: "AKIAIOSFODNN7EXAMPLE",
                signature,
            };
            assert_eq!(
                v.verify_post(policy, bad, &One).err(),
                Some(SigError::SignatureDoesNotMatch)
            );
        }
        let unknown = PostCredentials::V2 {
            access_key: "ELPMAXE",
            signature: &sig,
        };
        assert_eq!(
            v.verify_post(policy, unknown, &One).err(),
            Some(SigError::InvalidAccessKeyId)
        );
    }
}
