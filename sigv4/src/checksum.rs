//! Body checksums: the `x-amz-checksum-*` algorithms S3 supports (CRC32, CRC32C, CRC64NVME,
//! SHA-1, SHA-256), `Content-MD5`, and the hex `x-amz-content-sha256`, all computed
//! incrementally over a streamed body and compared only at the end.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use md5::{Digest as _, Md5};
use ring::digest;

use crate::canonical::Headers;
use crate::SigError;

/// A checksum algorithm of the `x-amz-checksum-*` family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (ISO-HDLC, as zlib), 4 bytes.
    Crc32,
    /// CRC-32C (Castagnoli, iSCSI), 4 bytes.
    Crc32c,
    /// CRC-64/NVME, 8 bytes.
    Crc64Nvme,
    /// SHA-1, 20 bytes.
    Sha1,
    /// SHA-256, 32 bytes.
    Sha256,
}

impl ChecksumAlgorithm {
    /// Every algorithm, in the order S3 documents them.
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// The lower-case name used in header names: `crc32`, `crc32c`, `crc64nvme`, `sha1`, `sha256`.
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "crc32",
            ChecksumAlgorithm::Crc32c => "crc32c",
            ChecksumAlgorithm::Crc64Nvme => "crc64nvme",
            ChecksumAlgorithm::Sha1 => "sha1",
            ChecksumAlgorithm::Sha256 => "sha256",
        }
    }

    /// The header carrying this checksum: `x-amz-checksum-<name>`.
    pub fn header_name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The name S3 uses in messages and `x-amz-checksum-algorithm`: `CRC32`, `CRC32C`, ...
    pub fn upper_name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// Parses an algorithm name (`crc32c`, `CRC32C`) case-insensitively.
    pub fn from_name(s: &str) -> Option<ChecksumAlgorithm> {
        ChecksumAlgorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
    }

    /// Parses a header name (`x-amz-checksum-crc32c`) case-insensitively.
    pub fn from_header_name(s: &str) -> Option<ChecksumAlgorithm> {
        let prefix = s.get(..15)?;
        if !prefix.eq_ignore_ascii_case("x-amz-checksum-") {
            return None;
        }
        ChecksumAlgorithm::from_name(s.get(15..)?)
    }

    /// Length of the raw digest in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    /// Decodes a base64 header value into a digest, checking its length.
    pub fn decode_value(self, value: &[u8]) -> Result<Vec<u8>, SigError> {
        let v = trim(value);
        match B64.decode(v) {
            Ok(d) if d.len() == self.digest_len() => Ok(d),
            _ => Err(SigError::InvalidChecksum(self.name())),
        }
    }
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end]
}

/// Checks that `x-amz-sdk-checksum-algorithm`, when sent, names the algorithm of the checksum
/// that comes with the request: the `x-amz-checksum-<alg>` header, or the trailer announced in
/// `x-amz-trailer`. S3 refuses a disagreement (or an unknown name) with InvalidRequest. Requests
/// with several checksums, or none, are left to the checks that refuse those in S3's words.
pub fn check_sdk_algorithm<H: Headers + ?Sized>(headers: &H) -> Result<(), SigError> {
    let Some(named) = headers.header("x-amz-sdk-checksum-algorithm") else {
        return Ok(());
    };
    let mut in_headers = None;
    let mut count = 0;
    headers.each(|n, _| {
        if let Some(a) = ChecksumAlgorithm::from_header_name(n) {
            in_headers = Some(a);
            count += 1;
        }
    });
    let in_trailer = headers
        .header("x-amz-trailer")
        .and_then(|t| std::str::from_utf8(trim(t)).ok())
        .and_then(ChecksumAlgorithm::from_header_name);
    let sent = match (in_headers, in_trailer) {
        (Some(a), None) if count == 1 => a,
        (None, Some(a)) => a,
        _ => return Ok(()),
    };
    let named = std::str::from_utf8(trim(named))
        .ok()
        .and_then(ChecksumAlgorithm::from_name);
    if named == Some(sent) {
        Ok(())
    } else {
        Err(SigError::InvalidSdkChecksumAlgorithm)
    }
}

/// The CRC of a concatenation from the CRCs of its pieces, as (CRC bytes, piece length) in
/// order: S3's full-object checksum of a multipart upload. `None` for SHA algorithms (which do
/// not combine), an empty list, or a CRC of the wrong length.
pub fn combine_crcs(alg: ChecksumAlgorithm, pieces: &[(Vec<u8>, u64)]) -> Option<Vec<u8>> {
    let (crc, width) = match alg {
        ChecksumAlgorithm::Crc32 => (CrcAlgorithm::Crc32IsoHdlc, 4),
        ChecksumAlgorithm::Crc32c => (CrcAlgorithm::Crc32Iscsi, 4),
        ChecksumAlgorithm::Crc64Nvme => (CrcAlgorithm::Crc64Nvme, 8),
        ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => return None,
    };
    let value = |b: &[u8]| -> Option<u64> {
        (b.len() == width).then(|| b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    };
    let (first, rest) = pieces.split_first()?;
    let mut acc = value(&first.0)?;
    for (bytes, len) in rest {
        acc = crc_fast::checksum_combine(crc, acc, value(bytes)?, *len);
    }
    Some(acc.to_be_bytes()[8 - width..].to_vec())
}

/// An incremental hasher for one [`ChecksumAlgorithm`].
#[derive(Clone)]
pub enum Checksummer {
    /// CRC-32, CRC-32C or CRC-64/NVME (SIMD-accelerated).
    Crc(ChecksumAlgorithm, CrcDigest),
    /// SHA-1 or SHA-256.
    Sha(ChecksumAlgorithm, digest::Context),
}

impl Checksummer {
    /// A fresh hasher for `alg`.
    pub fn new(alg: ChecksumAlgorithm) -> Checksummer {
        match alg {
            ChecksumAlgorithm::Crc32 => Checksummer::Crc(alg, CrcDigest::new(CrcAlgorithm::Crc32IsoHdlc)),
            ChecksumAlgorithm::Crc32c => Checksummer::Crc(alg, CrcDigest::new(CrcAlgorithm::Crc32Iscsi)),
            ChecksumAlgorithm::Crc64Nvme => Checksummer::Crc(alg, CrcDigest::new(CrcAlgorithm::Crc64Nvme)),
            ChecksumAlgorithm::Sha1 => Checksummer::Sha(alg, digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY)),
            ChecksumAlgorithm::Sha256 => Checksummer::Sha(alg, digest::Context::new(&digest::SHA256)),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        match self {
            Checksummer::Crc(a, _) | Checksummer::Sha(a, _) => *a,
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Checksummer::Crc(_, d) => d.update(data),
            Checksummer::Sha(_, c) => c.update(data),
        }
    }

    /// The raw digest, big-endian for the CRCs as S3 transmits them.
    pub fn finish(&self) -> Vec<u8> {
        match self {
            Checksummer::Crc(ChecksumAlgorithm::Crc64Nvme, d) => d.finalize().to_be_bytes().to_vec(),
            Checksummer::Crc(_, d) => (d.finalize() as u32).to_be_bytes().to_vec(),
            Checksummer::Sha(_, c) => c.clone().finish().as_ref().to_vec(),
        }
    }

    /// The digest as base64, the form of `x-amz-checksum-*` values.
    pub fn finish_base64(&self) -> String {
        B64.encode(self.finish())
    }
}

impl std::fmt::Debug for Checksummer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Checksummer({})", self.algorithm().name())
    }
}

/// Base64 of `bytes` (standard alphabet, padded).
pub fn base64_encode(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// One computed checksum of a verified body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputedChecksum {
    /// The algorithm.
    pub algorithm: ChecksumAlgorithm,
    /// Base64 of the digest.
    pub value: String,
}

/// Verifies a whole body incrementally against everything the request claims about it: the
/// signed hex `x-amz-content-sha256`, `Content-MD5`, and at most one `x-amz-checksum-*` value
/// (from a header, or from a trailer once the stream ends). Feed it payload bytes in order.
#[derive(Default)]
pub struct BodyCheck {
    sha256: Option<(digest::Context, [u8; 32])>,
    md5: Option<(Md5, [u8; 16])>,
    checksum: Option<(Checksummer, Vec<u8>)>,
    etag_md5: Option<Md5>,
}

impl std::fmt::Debug for BodyCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyCheck")
            .field("sha256", &self.sha256.is_some())
            .field("md5", &self.md5.is_some())
            .field("checksum", &self.checksum.as_ref().map(|(c, _)| c.algorithm()))
            .finish()
    }
}

impl BodyCheck {
    /// A check with nothing to verify yet.
    pub fn new() -> BodyCheck {
        BodyCheck::default()
    }

    /// Requires the body's SHA-256 to equal `expected` (from a hex `x-amz-content-sha256`).
    pub fn expect_sha256(&mut self, expected: [u8; 32]) {
        self.sha256 = Some((digest::Context::new(&digest::SHA256), expected));
    }

    /// Requires the body's MD5 to equal the base64 `Content-MD5` header value.
    pub fn expect_content_md5(&mut self, header: &[u8]) -> Result<(), SigError> {
        match B64.decode(trim(header)) {
            Ok(d) if d.len() == 16 => {
                let mut e = [0u8; 16];
                e.copy_from_slice(&d);
                self.md5 = Some((Md5::new(), e));
                Ok(())
            }
            _ => Err(SigError::InvalidDigest),
        }
    }

    /// Requires the body's `alg` digest to equal `expected` (raw, from an `x-amz-checksum-*`
    /// header; trailers are checked by the aws-chunked decoder).
    pub fn expect_checksum(&mut self, alg: ChecksumAlgorithm, expected: Vec<u8>) {
        self.checksum = Some((Checksummer::new(alg), expected));
    }

    /// Also computes the body's MD5 for use as an ETag (when the client sent no Content-MD5).
    pub fn compute_md5(&mut self) {
        if self.md5.is_none() {
            self.etag_md5 = Some(Md5::new());
        }
    }

    /// Feeds payload bytes.
    pub fn update(&mut self, data: &[u8]) {
        if let Some((c, _)) = &mut self.sha256 {
            c.update(data);
        }
        if let Some((m, _)) = &mut self.md5 {
            m.update(data);
        }
        if let Some(m) = &mut self.etag_md5 {
            m.update(data);
        }
        if let Some((c, _)) = &mut self.checksum {
            c.update(data);
        }
    }

    /// Compares everything; on success returns the body's MD5 (if computed) and the checksum.
    pub fn finish(self) -> Result<BodyDigests, SigError> {
        if let Some((c, expected)) = self.sha256 {
            if !crate::ct_eq(c.finish().as_ref(), &expected) {
                return Err(SigError::XAmzContentSHA256Mismatch);
            }
        }
        let mut md5 = None;
        if let Some((m, expected)) = self.md5 {
            let got: [u8; 16] = m.finalize().into();
            if got != expected {
                return Err(SigError::BadDigest);
            }
            md5 = Some(got);
        } else if let Some(m) = self.etag_md5 {
            md5 = Some(m.finalize().into());
        }
        let mut checksum = None;
        if let Some((c, expected)) = self.checksum {
            let got = c.finish();
            if got != expected {
                return Err(SigError::BadChecksum(c.algorithm().upper_name()));
            }
            checksum = Some(ComputedChecksum {
                algorithm: c.algorithm(),
                value: B64.encode(got),
            });
        }
        Ok(BodyDigests { md5, checksum })
    }
}

/// What a verified body hashed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyDigests {
    /// The MD5, when computed or checked.
    pub md5: Option<[u8; 16]>,
    /// The `x-amz-checksum-*` value, when one was verified.
    pub checksum: Option<ComputedChecksum>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crcs_of_pieces_combine_into_the_crc_of_the_whole() {
        let data = b"The quick brown fox jumps over the lazy dog, twice over the lazy dog.";
        for alg in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            let crc = |b: &[u8]| {
                let mut c = Checksummer::new(alg);
                c.update(b);
                c.finish()
            };
            let pieces: Vec<(Vec<u8>, u64)> = data.chunks(17).map(|p| (crc(p), p.len() as u64)).collect();
            assert_eq!(combine_crcs(alg, &pieces), Some(crc(data)), "{alg:?}");
        }
        assert_eq!(combine_crcs(ChecksumAlgorithm::Sha256, &[(vec![0; 32], 1)]), None);
        assert_eq!(combine_crcs(ChecksumAlgorithm::Crc32, &[]), None);
        assert_eq!(combine_crcs(ChecksumAlgorithm::Crc32, &[(vec![0; 3], 1)]), None);
    }

    fn b64_of(alg: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut c = Checksummer::new(alg);
        c.update(data);
        c.finish_base64()
    }

    #[test]
    fn known_values() {
        // "123456789" check values of each CRC, big-endian, base64.
        let d = b"123456789";
        assert_eq!(
            b64_of(ChecksumAlgorithm::Crc32, d),
            B64.encode(0xCBF4_3926u32.to_be_bytes())
        );
        assert_eq!(
            b64_of(ChecksumAlgorithm::Crc32c, d),
            B64.encode(0xE306_9283u32.to_be_bytes())
        );
        assert_eq!(
            b64_of(ChecksumAlgorithm::Crc64Nvme, d),
            B64.encode(0xAE8B_1486_0A79_9888u64.to_be_bytes())
        );
        assert_eq!(
            b64_of(ChecksumAlgorithm::Sha256, b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(b64_of(ChecksumAlgorithm::Sha1, b""), "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
    }

    #[test]
    fn body_check_detects_mismatch() {
        let mut ok = BodyCheck::new();
        ok.expect_content_md5(b"XrY7u+Ae7tCTyyK7j1rNww==").unwrap(); // md5("hello world")
        ok.update(b"hello ");
        ok.update(b"world");
        assert!(ok.finish().is_ok());

        let mut bad = BodyCheck::new();
        bad.expect_content_md5(b"XrY7u+Ae7tCTyyK7j1rNww==").unwrap();
        bad.update(b"hello world!");
        assert_eq!(bad.finish(), Err(SigError::BadDigest));

        assert_eq!(
            BodyCheck::new().expect_content_md5(b"not base64!"),
            Err(SigError::InvalidDigest)
        );

        let mut c = BodyCheck::new();
        let v = ChecksumAlgorithm::Crc32c
            .decode_value(b64_of(ChecksumAlgorithm::Crc32c, b"x").as_bytes())
            .unwrap();
        c.expect_checksum(ChecksumAlgorithm::Crc32c, v);
        c.update(b"y");
        assert_eq!(c.finish(), Err(SigError::BadChecksum("CRC32C")));
    }

    #[test]
    fn sdk_algorithm_must_name_the_checksum_sent() {
        let check = |h: &[(&str, &str)]| check_sdk_algorithm(h);
        let sdk = "x-amz-sdk-checksum-algorithm";
        let bad = Err(SigError::InvalidSdkChecksumAlgorithm);
        // Agreeing, in any case, with a header or a trailer; or nothing named at all.
        assert_eq!(check(&[(sdk, "CRC32C"), ("x-amz-checksum-crc32c", "v")]), Ok(()));
        assert_eq!(check(&[(sdk, "crc32c"), ("X-Amz-Checksum-CRC32C", "v")]), Ok(()));
        assert_eq!(
            check(&[(sdk, " SHA256 "), ("x-amz-trailer", "x-amz-checksum-sha256")]),
            Ok(())
        );
        assert_eq!(check(&[("x-amz-checksum-crc32c", "v")]), Ok(()));
        // Disagreeing, or naming what is no algorithm.
        assert_eq!(check(&[(sdk, "CRC32"), ("x-amz-checksum-crc32c", "v")]), bad);
        assert_eq!(
            check(&[(sdk, "SHA256"), ("x-amz-trailer", "x-amz-checksum-crc32c")]),
            bad
        );
        assert_eq!(check(&[(sdk, "MD5"), ("x-amz-checksum-sha1", "v")]), bad);
        assert_eq!(check(&[(sdk, "\u{ff}"), ("x-amz-checksum-sha1", "v")]), bad);
        // Several checksums or none: refused elsewhere, in S3's words for those.
        let two = [
            (sdk, "SHA256"),
            ("x-amz-checksum-crc32", "v"),
            ("x-amz-checksum-crc32c", "v"),
        ];
        assert_eq!(check(&two), Ok(()));
        let both = [
            (sdk, "SHA1"),
            ("x-amz-checksum-crc32", "v"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ];
        assert_eq!(check(&both), Ok(()));
        assert_eq!(check(&[(sdk, "CRC32")]), Ok(()));
        // x-amz-checksum-algorithm / -type / -mode are not checksums.
        assert_eq!(check(&[(sdk, "CRC32"), ("x-amz-checksum-algorithm", "SHA1")]), Ok(()));
        assert_eq!(
            SigError::InvalidSdkChecksumAlgorithm.to_string(),
            "Value for x-amz-sdk-checksum-algorithm header is invalid."
        );
        assert_eq!(SigError::InvalidSdkChecksumAlgorithm.s3_code(), "InvalidRequest");
    }

    #[test]
    fn names_round_trip() {
        for a in ChecksumAlgorithm::ALL {
            assert_eq!(ChecksumAlgorithm::from_header_name(a.header_name()), Some(a));
            assert_eq!(ChecksumAlgorithm::from_name(a.upper_name()), Some(a));
        }
        assert_eq!(ChecksumAlgorithm::from_header_name("x-amz-checksum-md5"), None);
        assert_eq!(ChecksumAlgorithm::from_header_name("x"), None);
    }
}
