//! The string to sign (SigV4 "Task 2: Create a string to sign"):
//!
//! ```text
//! StringToSign = Algorithm + '\n' + RequestDateTime + '\n' + CredentialScope + '\n'
//!              + HexEncode(Hash(CanonicalRequest))
//! ```
//!
//! and its two streaming relatives: the chunk string to sign
//! (`AWS4-HMAC-SHA256-PAYLOAD`, previous signature, hash of "", hash of the chunk) and the
//! trailer string to sign (`AWS4-HMAC-SHA256-TRAILER`, previous signature, hash of the trailer).

use ring::digest;

use crate::encode::{hex_into, hex_into_bytes};

/// The algorithm name of SigV4 with HMAC-SHA256.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The algorithm line of a chunk's string to sign.
pub const CHUNK_ALGORITHM: &str = "AWS4-HMAC-SHA256-PAYLOAD";
/// The algorithm line of a trailer's string to sign.
pub const TRAILER_ALGORITHM: &str = "AWS4-HMAC-SHA256-TRAILER";
/// Hex SHA-256 of the empty string.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    let mut s = String::with_capacity(64);
    hex_into(&mut s, digest::digest(&digest::SHA256, data).as_ref());
    s
}

/// Builds the request string to sign into `out` (cleared first).
pub fn string_to_sign(out: &mut Vec<u8>, amz_date: &str, scope: &str, canonical_request: &[u8]) {
    out.clear();
    out.extend_from_slice(ALGORITHM.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(amz_date.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(scope.as_bytes());
    out.push(b'\n');
    hex_into_bytes(out, digest::digest(&digest::SHA256, canonical_request).as_ref());
}

/// Builds a chunk's string to sign, given the previous signature (hex) and the chunk's SHA-256.
pub fn chunk_string_to_sign(out: &mut Vec<u8>, amz_date: &str, scope: &str, previous: &[u8; 32], chunk_sha256: &[u8]) {
    out.clear();
    out.extend_from_slice(CHUNK_ALGORITHM.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(amz_date.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(scope.as_bytes());
    out.push(b'\n');
    hex_into_bytes(out, previous);
    out.push(b'\n');
    out.extend_from_slice(EMPTY_SHA256.as_bytes());
    out.push(b'\n');
    hex_into_bytes(out, chunk_sha256);
}

/// Builds the trailer's string to sign, given the last chunk's signature and the SHA-256 of the
/// canonical trailer (`name:value\n` per trailing header).
pub fn trailer_string_to_sign(
    out: &mut Vec<u8>,
    amz_date: &str,
    scope: &str,
    previous: &[u8; 32],
    trailer_sha256: &[u8],
) {
    out.clear();
    out.extend_from_slice(TRAILER_ALGORITHM.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(amz_date.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(scope.as_bytes());
    out.push(b'\n');
    hex_into_bytes(out, previous);
    out.push(b'\n');
    hex_into_bytes(out, trailer_sha256);
}
