//! AWS Signature Version 4 as S3 speaks it: verification of header-signed and presigned requests,
//! the aws-chunked body decoder (signed chunks, signed and unsigned trailers) with checksum
//! verification, body checksums, and outbound signing. Pure: no I/O, no async runtime.
//!
//! One file per artefact of the spec: [`date`], [`authorization`], [`canonical`],
//! [`string_to_sign`], [`signing_key`], [`presign`], [`chunked`], plus [`checksum`], [`verify`]
//! (the entry point for incoming requests) and [`sign`] (outgoing); [`sigv2`] accepts the
//! Signature Version 2 presigned URLs boto3 still makes by default and the V2 `Authorization`
//! header s3cmd and older SDKs send, with [`http_date`] for their `Date` headers; [`post`] checks
//! the signature of a browser POST upload's policy document (SigV4 and SigV2).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod authorization;
pub mod canonical;
pub mod checksum;
pub mod chunked;
pub mod date;
pub mod encode;
mod error;
pub mod http_date;
pub mod post;
pub mod presign;
pub mod sign;
pub mod signing_key;
pub mod sigv2;
pub mod string_to_sign;
pub mod verify;

pub use authorization::{Authorization, Credential};
pub use canonical::{Headers, RequestParts, UriMode};
pub use checksum::{combine_crcs, BodyCheck, BodyDigests, ChecksumAlgorithm, Checksummer, ComputedChecksum};
pub use chunked::{ChainKey, ChunkedDecoder, Decoded, StreamingAuth, StreamingMode};
pub use date::AmzDate;
pub use error::SigError;
pub use post::PostCredentials;
pub use sign::{ChunkedEncoder, HeaderSignature, Signer};
pub use signing_key::{KeyCache, SigningKey};
pub use verify::{CredentialProvider, Payload, Verified, Verifier, VerifierConfig};

/// Constant-time equality of two byte strings (the time depends only on the lengths).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}
