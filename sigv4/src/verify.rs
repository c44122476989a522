//! The verifier: decides how a request is authenticated (SigV4 header or presigned URL, SigV2
//! header or presigned URL, or anonymous), checks its signature, time and scope, and says how its
//! body must be checked.

use std::cell::RefCell;

use crate::authorization::{Authorization, Credential};
use crate::canonical::{canonical_request, Headers, RequestParts, UriMode};
use crate::checksum::{check_sdk_algorithm, ChecksumAlgorithm};
use crate::chunked::{ChainKey, StreamingAuth, StreamingMode};
use crate::date::AmzDate;
use crate::encode::unhex;
use crate::presign::{is_presigned, PresignParams};
use crate::signing_key::{KeyCache, SigningKey};
use crate::sigv2::{self, V2Authorization};
use crate::string_to_sign::string_to_sign;
use crate::{ct_eq, SigError};

/// How far `x-amz-date` may be from the server clock for header auth (S3: 15 minutes).
pub const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;
/// Longest `x-amz-decoded-content-length` accepted: 5 TiB, the largest S3 object.
pub const MAX_DECODED_LENGTH: u64 = 5 * 1024 * 1024 * 1024 * 1024;

/// Looks up the secret of an access key.
pub trait CredentialProvider {
    /// What the caller learns about an authenticated principal (user, scopes, ...).
    type Identity;

    /// The secret key and identity of `access_key`, or `None` if unknown.
    fn lookup(&self, access_key: &str) -> Option<(&str, Self::Identity)>;
}

/// How the body of an authenticated request is protected.
#[derive(Debug, Clone)]
pub enum Payload {
    /// `UNSIGNED-PAYLOAD` (or a presigned URL): nothing signed about the body.
    Unsigned,
    /// A signed SHA-256 the whole body must hash to.
    Sha256([u8; 32]),
    /// aws-chunked: decode with [`crate::ChunkedDecoder`].
    Streaming(StreamingAuth),
}

/// An authenticated request.
#[derive(Debug, Clone)]
pub struct Verified<I> {
    /// The identity the credential provider returned.
    pub identity: I,
    /// The access key used.
    pub access_key: String,
    /// Whether a presigned URL (rather than the `Authorization` header) was used.
    pub presigned: bool,
    /// The region the client signed for.
    pub region: String,
    /// How the body must be checked.
    pub payload: Payload,
}

/// Verifier settings.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// When set, the only region accepted in the credential scope.
    pub region: Option<String>,
    /// The service name expected in the scope (`s3`).
    pub service: String,
    /// Allowed clock skew for header auth, seconds.
    pub max_skew_secs: i64,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        VerifierConfig {
            region: None,
            service: "s3".into(),
            max_skew_secs: MAX_CLOCK_SKEW_SECS,
        }
    }
}

/// Verifies SigV4 requests. Keeps a signing-key cache and scratch buffers, so keep one per
/// thread (it is not `Sync`).
#[derive(Debug, Default)]
pub struct Verifier {
    cfg: VerifierConfig,
    keys: KeyCache,
    scratch: RefCell<(Vec<u8>, Vec<u8>)>,
}

fn header_str<'h, H: Headers + ?Sized>(h: &'h H, name: &str) -> Option<&'h str> {
    h.header(name).and_then(|v| std::str::from_utf8(v).ok()).map(str::trim)
}

/// Parses `x-amz-content-sha256`.
enum ContentSha {
    Unsigned,
    Hex([u8; 32]),
    Streaming(StreamingMode),
}

fn parse_content_sha(v: &str) -> Result<ContentSha, SigError> {
    Ok(match v {
        "UNSIGNED-PAYLOAD" => ContentSha::Unsigned,
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => ContentSha::Streaming(StreamingMode::Signed),
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => ContentSha::Streaming(StreamingMode::SignedTrailer),
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => ContentSha::Streaming(StreamingMode::UnsignedTrailer),
        v if v.starts_with("STREAMING-AWS4-ECDSA") => return Err(SigError::UnsupportedAlgorithm(v.to_string())),
        v => ContentSha::Hex(unhex::<32>(v.as_bytes()).ok_or(SigError::InvalidContentSha256)?),
    })
}

impl Verifier {
    /// A verifier with these settings.
    pub fn new(cfg: VerifierConfig) -> Verifier {
        Verifier {
            cfg,
            keys: KeyCache::new(),
            scratch: RefCell::default(),
        }
    }

    /// The signing-key cache.
    pub fn key_cache(&self) -> &KeyCache {
        &self.keys
    }

    /// Authenticates `req` at time `now` (Unix seconds). `Ok(None)`: the request carries no
    /// authentication at all (anonymous); the caller decides whether that is allowed.
    pub fn verify<H: Headers + ?Sized, P: CredentialProvider>(
        &self,
        req: &RequestParts<'_, H>,
        creds: &P,
        now: i64,
    ) -> Result<Option<Verified<P::Identity>>, SigError> {
        let verified = self.authenticate(req, creds, now)?;
        // Authentication failures come first, as in S3; then what the body must be checked against.
        if verified.is_some() {
            check_sdk_algorithm(req.headers)?;
        }
        Ok(verified)
    }

    fn authenticate<H: Headers + ?Sized, P: CredentialProvider>(
        &self,
        req: &RequestParts<'_, H>,
        creds: &P,
        now: i64,
    ) -> Result<Option<Verified<P::Identity>>, SigError> {
        let auth = req.headers.header("authorization");
        let presigned = is_presigned(req.query);
        if auth.is_none() && !presigned && sigv2::is_v2_presigned(req.query) {
            return self.verify_v2_presigned(req, creds, now).map(Some);
        }
        match (auth, presigned) {
            (Some(_), true) => Err(SigError::AccessDenied("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified")),
            (Some(a), false) => {
                let a = std::str::from_utf8(a).map_err(|_| SigError::AuthorizationHeaderMalformed("not UTF-8"))?;
                let a = a.trim();
                match V2Authorization::parse(a) {
                    Some(v2) => self.verify_v2_header(req, v2?, creds, now).map(Some),
                    None => self.verify_header(req, a, creds, now).map(Some),
                }
            }
            (None, true) => self.verify_presigned(req, creds, now).map(Some),
            (None, false) => Ok(None),
        }
    }

    /// Refuses a credential scope for another service or (when one is configured) region.
    pub(crate) fn check_scope(
        &self,
        c: &Credential<'_>,
        malformed: fn(&'static str) -> SigError,
    ) -> Result<(), SigError> {
        if c.service != self.cfg.service {
            return Err(malformed("the service in the credential scope must be 's3'"));
        }
        if let Some(r) = &self.cfg.region {
            if c.region != r {
                return Err(malformed(
                    "the region in the credential scope is wrong for this endpoint",
                ));
            }
        }
        Ok(())
    }

    fn verify_header<H: Headers + ?Sized, P: CredentialProvider>(
        &self,
        req: &RequestParts<'_, H>,
        value: &str,
        creds: &P,
        now: i64,
    ) -> Result<Verified<P::Identity>, SigError> {
        let a = Authorization::parse(value)?;
        self.check_scope(&a.credential, SigError::AuthorizationHeaderMalformed)?;
        let date = header_str(req.headers, "x-amz-date")
            .and_then(AmzDate::parse)
            .ok_or(SigError::AccessDenied(
                "AWS authentication requires a valid Date or x-amz-date header",
            ))?;
        if date.date() != a.credential.date {
            return Err(SigError::AuthorizationHeaderMalformed(
                "the credential date does not match x-amz-date",
            ));
        }
        if (now - date.unix()).abs() > self.cfg.max_skew_secs {
            return Err(SigError::RequestTimeTooSkewed);
        }
        check_signed_headers(req.headers, a.signed_headers)?;
        let sha = header_str(req.headers, "x-amz-content-sha256").ok_or(SigError::MissingContentSha256)?;
        let content = parse_content_sha(sha)?;
        let (secret, identity) = creds
            .lookup(a.credential.access_key)
            .ok_or(SigError::InvalidAccessKeyId)?;
        let c = &a.credential;
        let key = self.keys.get(c.full, secret, c.date, c.region, c.service);
        self.check_signature(
            req,
            a.signed_headers,
            sha,
            date.as_str(),
            c.scope,
            &key,
            &a.signature,
            false,
        )?;
        let payload = match content {
            ContentSha::Unsigned => Payload::Unsigned,
            ContentSha::Hex(h) => Payload::Sha256(h),
            ContentSha::Streaming(mode) => {
                let chain = mode.signed().then(|| ChainKey {
                    key,
                    amz_date: date.as_str().to_string(),
                    scope: c.scope.to_string(),
                    seed: a.signature,
                });
                Payload::Streaming(streaming_auth(req.headers, mode, chain)?)
            }
        };
        Ok(Verified {
            identity,
            access_key: c.access_key.to_string(),
            presigned: false,
            region: c.region.to_string(),
            payload,
        })
    }

    fn verify_presigned<H: Headers + ?Sized, P: CredentialProvider>(
        &self,
        req: &RequestParts<'_, H>,
        creds: &P,
        now: i64,
    ) -> Result<Verified<P::Identity>, SigError> {
        use SigError::AuthorizationQueryParametersError as Bad;
        let p = PresignParams::parse(req.query)?;
        let c = Credential::parse(&p.credential)
            .ok_or(Bad("X-Amz-Credential is not AKID/date/region/service/aws4_request"))?;
        self.check_scope(&c, Bad)?;
        let date = AmzDate::parse(&p.amz_date).ok_or(Bad(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
        ))?;
        if date.date() != c.date {
            return Err(Bad("the credential date does not match X-Amz-Date"));
        }
        if date.unix() - now > self.cfg.max_skew_secs {
            return Err(SigError::RequestTimeTooSkewed);
        }
        // `expires` is at most a week, so the sum cannot overflow. A URL valid for zero seconds
        // has expired by the time it arrives (S3: "Request has expired").
        if p.expires == 0 || now > date.unix() + p.expires as i64 {
            return Err(SigError::AccessDenied("Request has expired"));
        }
        check_signed_headers(req.headers, &p.signed_headers)?;
        let signed_sha = p.signed_headers.split(';').any(|h| h == "x-amz-content-sha256");
        let sha = match header_str(req.headers, "x-amz-content-sha256") {
            Some(v) if signed_sha => v,
            _ => "UNSIGNED-PAYLOAD",
        };
        let payload = match parse_content_sha(sha)? {
            ContentSha::Unsigned => Payload::Unsigned,
            ContentSha::Hex(h) => Payload::Sha256(h),
            ContentSha::Streaming(_) => return Err(Bad("presigned requests cannot use aws-chunked payloads")),
        };
        let (secret, identity) = creds.lookup(c.access_key).ok_or(SigError::InvalidAccessKeyId)?;
        let key = self.keys.get(c.full, secret, c.date, c.region, c.service);
        self.check_signature(
            req,
            &p.signed_headers,
            sha,
            date.as_str(),
            c.scope,
            &key,
            &p.signature,
            true,
        )?;
        Ok(Verified {
            identity,
            access_key: c.access_key.to_string(),
            presigned: true,
            region: c.region.to_string(),
            payload,
        })
    }

    fn verify_v2_presigned<H: Headers + ?Sized, P: CredentialProvider>(
        &self,
        req: &RequestParts<'_, H>,
        creds: &P,
        now: i64,
    ) -> Result<Verified<P::Identity>, SigError> {
        let p = sigv2::V2Params::parse(req.query)?;
        if now > p.expires {
            return Err(SigError::AccessDenied("Request has expired"));
        }
        let (secret, identity) = creds.lookup(&p.access_key).ok_or(SigError::InvalidAccessKeyId)?;
        let matches = sigv2::signed_paths(req.path, req.path_style).any(|path| {
            let sts = sigv2::string_to_sign(req.method, &path, req.query, req.headers, p.expires);
            ct_eq(&sigv2::sign(secret, &sts), &p.signature)
        });
        if !matches {
            return Err(SigError::SignatureDoesNotMatch);
        }
        Ok(Verified {
            identity,
            access_key: p.access_key,
            presigned: true,
            region: self.v2_region(),
            payload: Payload::Unsigned,
        })
    }

    fn verify_v2_header<H: Headers + ?Sized, P: CredentialProvider>(
        &self,
        req: &RequestParts<'_, H>,
        a: V2Authorization<'_>,
        creds: &P,
        now: i64,
    ) -> Result<Verified<P::Identity>, SigError> {
        // "A valid time stamp (using either the HTTP Date header or an x-amz-date alternative) is
        // mandatory ... within 15 minutes of the Amazon S3 system time".
        let t = sigv2::request_time(req.headers).ok_or(SigError::AccessDenied(
            "AWS authentication requires a valid Date or x-amz-date header",
        ))?;
        if (now - t).abs() > self.cfg.max_skew_secs {
            return Err(SigError::RequestTimeTooSkewed);
        }
        let (secret, identity) = creds.lookup(a.access_key).ok_or(SigError::InvalidAccessKeyId)?;
        let matches = |sig: &[u8]| {
            sigv2::signed_paths(req.path, req.path_style).any(|path| {
                let sts = sigv2::header_string_to_sign(req.method, &path, req.query, req.headers);
                ct_eq(&sigv2::sign(secret, &sts), sig)
            })
        };
        if !a.signature.is_some_and(|sig| matches(&sig)) {
            return Err(SigError::SignatureDoesNotMatch);
        }
        Ok(Verified {
            identity,
            access_key: a.access_key.to_string(),
            presigned: false,
            region: self.v2_region(),
            payload: Payload::Unsigned,
        })
    }

    /// SigV2 names no region: the configured one, else `us-east-1`.
    fn v2_region(&self) -> String {
        self.cfg.region.clone().unwrap_or_else(|| "us-east-1".into())
    }

    #[allow(clippy::too_many_arguments)]
    fn check_signature<H: Headers + ?Sized>(
        &self,
        req: &RequestParts<'_, H>,
        signed_headers: &str,
        payload_hash: &str,
        amz_date: &str,
        scope: &str,
        key: &SigningKey,
        signature: &[u8; 32],
        presigned: bool,
    ) -> Result<(), SigError> {
        let mut bufs = self.scratch.borrow_mut();
        let (creq, sts) = &mut *bufs;
        canonical_request(creq, req, signed_headers, payload_hash, UriMode::S3, presigned);
        string_to_sign(sts, amz_date, scope, creq);
        if ct_eq(&key.sign(sts), signature) {
            Ok(())
        } else {
            Err(SigError::SignatureDoesNotMatch)
        }
    }
}

/// S3 requires `host` to be signed, and every `x-amz-*` header sent to be signed too.
fn check_signed_headers<H: Headers + ?Sized>(headers: &H, signed: &str) -> Result<(), SigError> {
    if !signed.split(';').any(|h| h == "host") {
        return Err(SigError::AccessDenied(
            "There were headers present in the request which were not signed: host",
        ));
    }
    let mut unsigned = false;
    headers.each(|name, _| {
        if name.len() > 6
            && name[..6].eq_ignore_ascii_case("x-amz-")
            && !signed.split(';').any(|s| s.eq_ignore_ascii_case(name))
        {
            unsigned = true;
        }
    });
    if unsigned {
        return Err(SigError::AccessDenied(
            "There were headers present in the request which were not signed",
        ));
    }
    Ok(())
}

fn streaming_auth<H: Headers + ?Sized>(
    headers: &H,
    mode: StreamingMode,
    chain: Option<ChainKey>,
) -> Result<StreamingAuth, SigError> {
    let decoded_length = header_str(headers, "x-amz-decoded-content-length")
        .ok_or(SigError::MissingContentLength)?
        .parse::<u64>()
        .ok()
        .filter(|&n| n <= MAX_DECODED_LENGTH)
        .ok_or(SigError::InvalidChunk(
            "x-amz-decoded-content-length is not a valid length",
        ))?;
    let trailer = match header_str(headers, "x-amz-trailer") {
        None | Some("") => None,
        Some(t) => {
            if !mode.has_trailer() {
                return Err(SigError::InvalidChunk("x-amz-trailer needs a *-TRAILER payload"));
            }
            Some(ChecksumAlgorithm::from_header_name(t).ok_or_else(|| SigError::UnsupportedChecksum(t.to_string()))?)
        }
    };
    Ok(StreamingAuth {
        mode,
        chain,
        decoded_length,
        trailer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::Signer;

    const AK: &str = "AKIAIOSFODNN7EXAMPLE";
    const SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const T0: i64 = 1_700_000_000;
    const HOST: &str = "localhost:9000";

    struct OneKey;

    impl CredentialProvider for OneKey {
        type Identity = ();

        fn lookup(&self, access_key: &str) -> Option<(&str, ())> {
            (access_key == AK).then_some((SK, ()))
        }
    }

    fn verify(query: &str, headers: &[(String, String)], now: i64) -> Result<bool, SigError> {
        let req = RequestParts {
            method: "PUT",
            path: b"/b/k",
            query: query.as_bytes(),
            headers,
            path_style: true,
        };
        Verifier::default().verify(&req, &OneKey, now).map(|v| v.is_some())
    }

    #[test]
    fn a_presigned_url_valid_for_zero_seconds_has_expired() {
        let s = Signer::new(AK, SK, "us-east-1", "s3");
        let h = vec![("host".to_string(), HOST.to_string())];
        let q = s.presign("PUT", "/b/k", "", HOST, 0, &AmzDate::from_unix(T0));
        assert_eq!(verify(&q, &h, T0), Err(SigError::AccessDenied("Request has expired")));
        let q = s.presign("PUT", "/b/k", "", HOST, 1, &AmzDate::from_unix(T0));
        assert_eq!(verify(&q, &h, T0 + 1), Ok(true));
        assert_eq!(
            verify(&q, &h, T0 + 2),
            Err(SigError::AccessDenied("Request has expired"))
        );
    }

    #[test]
    fn sdk_checksum_algorithm_is_checked_after_the_signature() {
        let s = Signer::new(AK, SK, "us-east-1", "s3");
        let date = AmzDate::from_unix(T0);
        let signed = |extra: &[(&str, &str)]| {
            let mut h: Vec<(&str, &str)> = vec![
                ("host", HOST),
                ("x-amz-date", date.as_str()),
                ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ];
            h.extend_from_slice(extra);
            let a = s.sign_headers("PUT", "/b/k", "", &h, "UNSIGNED-PAYLOAD", &date);
            let mut out: Vec<(String, String)> = h.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
            out.push(("authorization".into(), a.authorization));
            out
        };
        let mismatch = [
            ("x-amz-checksum-crc32", "AAAAAA=="),
            ("x-amz-sdk-checksum-algorithm", "CRC32C"),
        ];
        assert_eq!(
            verify("", &signed(&mismatch), T0),
            Err(SigError::InvalidSdkChecksumAlgorithm)
        );
        let agree = [
            ("x-amz-checksum-crc32", "AAAAAA=="),
            ("x-amz-sdk-checksum-algorithm", "CRC32"),
        ];
        assert_eq!(verify("", &signed(&agree), T0), Ok(true));
        // A bad signature is reported as such, whatever the checksum headers say.
        let mut h = signed(&mismatch);
        h.retain(|(n, _)| n != "x-amz-checksum-crc32");
        h.push(("x-amz-checksum-crc32".into(), "AAAAAQ==".into()));
        assert_eq!(verify("", &h, T0), Err(SigError::SignatureDoesNotMatch));
        // Anonymous requests are the caller's to refuse.
        let anon = vec![
            ("host".to_string(), HOST.to_string()),
            ("x-amz-sdk-checksum-algorithm".to_string(), "CRC32C".to_string()),
            ("x-amz-checksum-crc32".to_string(), "AAAAAA==".to_string()),
        ];
        assert_eq!(verify("", &anon, T0), Ok(false));
    }
}
