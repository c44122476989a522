//! Outbound signing, for the proxy's own requests to backends (and for the load generator and
//! tests): `Authorization` headers, presigned URLs, and aws-chunked framing with chunk and
//! trailer signatures.

use std::cell::RefCell;

use ring::digest;

use crate::canonical::{canonical_request, RequestParts, UriMode};
use crate::checksum::Checksummer;
use crate::chunked::{ChainKey, StreamingMode};
use crate::date::AmzDate;
use crate::encode::hex;
use crate::presign::push_query_param;
use crate::signing_key::SigningKey;
use crate::string_to_sign::{chunk_string_to_sign, string_to_sign, trailer_string_to_sign, ALGORITHM};

/// Signs requests with one access key for one region and service. Caches the day's signing key;
/// not `Sync` (one per thread).
#[derive(Debug)]
pub struct Signer {
    access_key: String,
    secret: String,
    region: String,
    service: String,
    uri_mode: UriMode,
    security_token: Option<String>,
    key: RefCell<Option<(String, SigningKey)>>,
    scratch: RefCell<(Vec<u8>, Vec<u8>)>,
}

/// The result of signing a request with the `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderSignature {
    /// The `Authorization` header value.
    pub authorization: String,
    /// The raw signature (the seed of an aws-chunked body).
    pub signature: [u8; 32],
    /// The credential scope used.
    pub scope: String,
}

impl Signer {
    /// A signer for `service` (normally `s3`) in `region`.
    pub fn new(access_key: &str, secret: &str, region: &str, service: &str) -> Signer {
        Signer {
            access_key: access_key.into(),
            secret: secret.into(),
            region: region.into(),
            service: service.into(),
            uri_mode: UriMode::S3,
            security_token: None,
            key: RefCell::new(None),
            scratch: RefCell::default(),
        }
    }

    /// Uses `mode` for the canonical URI (S3, the default, never normalises).
    pub fn with_uri_mode(mut self, mode: UriMode) -> Signer {
        self.uri_mode = mode;
        self
    }

    /// Adds `X-Amz-Security-Token` to presigned URLs (temporary credentials).
    pub fn with_security_token(mut self, token: Option<&str>) -> Signer {
        self.security_token = token.map(str::to_string);
        self
    }

    /// The signing key for the day of `date`.
    pub fn signing_key(&self, date: &AmzDate) -> SigningKey {
        let mut k = self.key.borrow_mut();
        match &*k {
            Some((d, key)) if d == date.date() => *key,
            _ => {
                let key = SigningKey::derive(&self.secret, date.date(), &self.region, &self.service);
                *k = Some((date.date().to_string(), key));
                key
            }
        }
    }

    /// `YYYYMMDD/region/service/aws4_request` for `date`.
    pub fn scope(&self, date: &AmzDate) -> String {
        format!("{}/{}/{}/aws4_request", date.date(), self.region, self.service)
    }

    /// Signs a request whose headers are all given (they must include `host`, `x-amz-date`
    /// equal to `date`, and `x-amz-content-sha256` equal to `payload_hash` for S3). Every given
    /// header is signed. `path` and `query` are as they will be sent (already URI-encoded).
    pub fn sign_headers(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        payload_hash: &str,
        date: &AmzDate,
    ) -> HeaderSignature {
        let mut names: Vec<String> = headers.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
        names.sort_unstable();
        names.dedup();
        let signed_headers = names.join(";");
        let scope = self.scope(date);
        let key = self.signing_key(date);
        let req = RequestParts {
            method,
            path: path.as_bytes(),
            query: query.as_bytes(),
            headers,
            path_style: true,
        };
        let mut bufs = self.scratch.borrow_mut();
        let (creq, sts) = &mut *bufs;
        canonical_request(creq, &req, &signed_headers, payload_hash, self.uri_mode, false);
        string_to_sign(sts, date.as_str(), &scope, creq);
        let signature = key.sign(sts);
        let authorization = format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={}",
            self.access_key,
            hex(&signature)
        );
        HeaderSignature {
            authorization,
            signature,
            scope,
        }
    }

    /// Signs `headers` (see [`Signer::sign_headers`]) and writes the whole HTTP/1.1 request head:
    /// the request line, `headers`, `authorization`, then `unsigned` (headers outside the
    /// signature, such as a `content-length` the caller did not sign), then the blank line.
    #[allow(clippy::too_many_arguments)]
    pub fn request_head(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        unsigned: &[(&str, &str)],
        payload_hash: &str,
        date: &AmzDate,
    ) -> Vec<u8> {
        let sig = self.sign_headers(method, path, query, headers, payload_hash, date);
        let mut out = Vec::with_capacity(512 + path.len() + query.len());
        out.extend_from_slice(method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(path.as_bytes());
        if !query.is_empty() {
            out.push(b'?');
            out.extend_from_slice(query.as_bytes());
        }
        out.extend_from_slice(b" HTTP/1.1\r\n");
        let auth = [("authorization", sig.authorization.as_str())];
        for (n, v) in headers.iter().chain(auth.iter()).chain(unsigned.iter()) {
            extend_field(&mut out, n.as_bytes());
            out.extend_from_slice(b": ");
            extend_field(&mut out, v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// A presigned query string (the existing `query` plus the `X-Amz-*` parameters) for a
    /// request signed with only `host`, valid `expires` seconds from `date`.
    pub fn presign(&self, method: &str, path: &str, query: &str, host: &str, expires: u64, date: &AmzDate) -> String {
        let scope = self.scope(date);
        let mut q = query.to_string();
        push_query_param(&mut q, "X-Amz-Algorithm", ALGORITHM);
        push_query_param(&mut q, "X-Amz-Credential", &format!("{}/{scope}", self.access_key));
        push_query_param(&mut q, "X-Amz-Date", date.as_str());
        push_query_param(&mut q, "X-Amz-Expires", &expires.to_string());
        if let Some(t) = &self.security_token {
            push_query_param(&mut q, "X-Amz-Security-Token", t);
        }
        push_query_param(&mut q, "X-Amz-SignedHeaders", "host");
        let headers = [("host", host)];
        let req = RequestParts {
            method,
            path: path.as_bytes(),
            query: q.as_bytes(),
            headers: &headers[..],
            path_style: true,
        };
        let mut bufs = self.scratch.borrow_mut();
        let (creq, sts) = &mut *bufs;
        canonical_request(creq, &req, "host", "UNSIGNED-PAYLOAD", self.uri_mode, true);
        string_to_sign(sts, date.as_str(), &scope, creq);
        let sig = self.signing_key(date).sign(sts);
        push_query_param(&mut q, "X-Amz-Signature", &hex(&sig));
        q
    }

    /// The chain needed to sign (or check) the chunks of a body whose request signature is `seed`.
    pub fn chain(&self, date: &AmzDate, seed: [u8; 32]) -> ChainKey {
        ChainKey {
            key: self.signing_key(date),
            amz_date: date.as_str().to_string(),
            scope: self.scope(date),
            seed,
        }
    }
}

/// Frames a payload as aws-chunked in the given mode: chunks signed when the mode is signed,
/// and (in the `*-TRAILER` modes) a checksum trailer, signed in the signed mode.
#[derive(Debug)]
pub struct ChunkedEncoder {
    mode: StreamingMode,
    chain: Option<ChainKey>,
    prev: [u8; 32],
    checksum: Option<Checksummer>,
    scratch: Vec<u8>,
}

impl ChunkedEncoder {
    /// An encoder; `chain` is required for (and only used by) the signed modes, `checksum`
    /// only by the trailer modes.
    pub fn new(mode: StreamingMode, chain: Option<ChainKey>, checksum: Option<Checksummer>) -> ChunkedEncoder {
        let chain = chain.filter(|_| mode.signed());
        let checksum = checksum.filter(|_| mode.has_trailer());
        let prev = chain.as_ref().map_or([0; 32], |c| c.seed);
        ChunkedEncoder {
            mode,
            chain,
            prev,
            checksum,
            scratch: Vec::new(),
        }
    }

    /// Signature of the next chunk with `data`, advancing the chain.
    fn next_sig(&mut self, data: &[u8]) -> Option<[u8; 32]> {
        let chain = self.chain.as_ref()?;
        let h = digest::digest(&digest::SHA256, data);
        chunk_string_to_sign(&mut self.scratch, &chain.amz_date, &chain.scope, &self.prev, h.as_ref());
        self.prev = chain.key.sign(&self.scratch);
        Some(self.prev)
    }

    /// Appends the header of a chunk of `data` (to be followed by `data` and [`Self::chunk_end`]).
    pub fn chunk_header(&mut self, out: &mut Vec<u8>, data: &[u8]) {
        if let Some(c) = &mut self.checksum {
            c.update(data);
        }
        out.extend_from_slice(format!("{:x}", data.len()).as_bytes());
        if let Some(sig) = self.next_sig(data) {
            out.extend_from_slice(b";chunk-signature=");
            out.extend_from_slice(hex(&sig).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The CRLF after a chunk's data.
    pub fn chunk_end(out: &mut Vec<u8>) {
        out.extend_from_slice(b"\r\n");
    }

    /// Appends a whole chunk.
    pub fn chunk(&mut self, out: &mut Vec<u8>, data: &[u8]) {
        self.chunk_header(out, data);
        out.extend_from_slice(data);
        Self::chunk_end(out);
    }

    /// Appends the final zero-size chunk and the trailer, if any.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.push(b'0');
        if let Some(sig) = self.next_sig(b"") {
            out.extend_from_slice(b";chunk-signature=");
            out.extend_from_slice(hex(&sig).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if !self.mode.has_trailer() {
            out.extend_from_slice(b"\r\n");
            return;
        }
        let mut canon = Vec::new();
        if let Some(c) = &self.checksum {
            let line = format!("{}:{}", c.algorithm().header_name(), c.finish_base64());
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
            canon.extend_from_slice(line.as_bytes());
            canon.push(b'\n');
        }
        if let Some(chain) = &self.chain {
            let h = digest::digest(&digest::SHA256, &canon);
            trailer_string_to_sign(&mut self.scratch, &chain.amz_date, &chain.scope, &self.prev, h.as_ref());
            let sig = chain.key.sign(&self.scratch);
            out.extend_from_slice(b"x-amz-trailer-signature:");
            out.extend_from_slice(hex(&sig).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }

    /// Frames a whole payload in chunks of `chunk_size`.
    pub fn encode_all(mut self, payload: &[u8], chunk_size: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(payload.len() + payload.len() / chunk_size.max(1) * 90 + 200);
        for c in payload.chunks(chunk_size.max(1)) {
            self.chunk(&mut out, c);
        }
        self.finish(&mut out);
        out
    }
}

/// Writes a header name or value; a CR, LF or NUL in it (which would end the head or smuggle
/// another request) goes out as a space, so the request fails its signature instead.
fn extend_field(out: &mut Vec<u8>, field: &[u8]) {
    if field.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        out.extend(
            field
                .iter()
                .map(|&b| if matches!(b, b'\r' | b'\n' | 0) { b' ' } else { b }),
        );
    } else {
        out.extend_from_slice(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_value_cannot_end_the_head_or_smuggle_a_request() {
        let signer = Signer::new("AK", "SK", "us-east-1", "s3");
        let date = AmzDate::from_unix(1_700_000_000);
        let evil = "text/plain\r\n\r\nGET /other HTTP/1.1\r\nx: y\0";
        let head = signer.request_head(
            "PUT",
            "/b/k",
            "",
            &[("content-type", evil)],
            &[],
            "UNSIGNED-PAYLOAD",
            &date,
        );
        let text = String::from_utf8(head).unwrap();
        // One head: its lines, then the blank line that ends it, and nothing after.
        assert_eq!(text.matches("\r\n\r\n").count(), 1);
        assert!(text.ends_with("\r\n\r\n"));
        assert!(text.contains("content-type: text/plain    GET /other HTTP/1.1  x: y \r\n"));
    }
}
