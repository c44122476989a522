//! Building signed request heads: path-style URLs for one bucket, SigV4 `Authorization` headers
//! from the sigv4 crate's [`Signer`], and the aws-chunked headers when the body is aws-chunked.
//! The request head is the only thing allocated per request (besides signing's own strings).

use std::cell::Cell;

use s3o_sigv4::encode::uri_encode_into;
use s3o_sigv4::{AmzDate, Signer};

use super::payload::RequestBody;

/// Builds the heads of one thread's requests.
#[derive(Debug)]
pub struct RequestBuilder {
    signer: Signer,
    host: String,
    bucket_path: String,
    date: Cell<Option<(u64, AmzDate)>>,
}

/// A request ready to write: the head and the body pieces that follow it.
#[derive(Debug)]
pub struct Outgoing {
    /// The method (so the response of a HEAD is read without a body).
    pub method: &'static str,
    /// Request line and headers, ending with the blank line.
    pub head: Vec<u8>,
    /// The body pieces.
    pub body: Vec<bytes::Bytes>,
}

impl RequestBuilder {
    /// A builder for `bucket` at `host` (the `Host` header value, e.g. `127.0.0.1:9000`).
    pub fn new(signer: Signer, host: &str, bucket: &str) -> RequestBuilder {
        let mut bucket_path = String::from("/");
        uri_encode_into(&mut bucket_path, bucket.as_bytes(), false);
        RequestBuilder {
            signer,
            host: host.to_string(),
            bucket_path,
            date: Cell::new(None),
        }
    }

    /// The current time as an `x-amz-date`, formatted once per second.
    fn now(&self) -> AmzDate {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match self.date.get() {
            Some((s, d)) if s == secs => d,
            _ => {
                let d = AmzDate::from_unix(secs as i64);
                self.date.set(Some((secs, d)));
                d
            }
        }
    }

    /// A signed request for `key` in the bucket (`None`: the bucket itself) with the raw,
    /// already-encoded `query` and `body`.
    pub fn build(&self, method: &'static str, key: Option<&str>, query: &str, body: RequestBody) -> Outgoing {
        self.build_with(method, key, query, body, &[])
    }

    /// [`Self::build`] with `extra` headers (lower-case names), signed like the others.
    pub fn build_with(
        &self,
        method: &'static str,
        key: Option<&str>,
        query: &str,
        body: RequestBody,
        extra: &[(&str, &str)],
    ) -> Outgoing {
        let mut path = String::with_capacity(self.bucket_path.len() + key.map_or(0, |k| k.len() + 8));
        path.push_str(&self.bucket_path);
        if let Some(k) = key {
            path.push('/');
            uri_encode_into(&mut path, k.as_bytes(), true);
        }
        let date = self.now();
        let sha = &*body.content_sha256;
        let decoded = body.decoded_len.map(|n| n.to_string());
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(6 + extra.len());
        headers.push(("host", &self.host));
        headers.push(("x-amz-content-sha256", sha));
        headers.push(("x-amz-date", date.as_str()));
        if let Some(d) = &decoded {
            headers.push(("content-encoding", "aws-chunked"));
            headers.push(("x-amz-decoded-content-length", d));
            headers.push(("x-amz-trailer", "x-amz-checksum-crc32c"));
        }
        headers.extend_from_slice(extra);
        let wire_len = body.wire_len();
        let content_length = wire_len.to_string();
        let unsigned: &[(&str, &str)] = if wire_len > 0 || matches!(method, "PUT" | "POST") {
            &[("content-length", content_length.as_str())]
        } else {
            &[]
        };
        let head = self
            .signer
            .request_head(method, &path, query, &headers, unsigned, sha, &date);
        Outgoing {
            method,
            head,
            body: body.parts,
        }
    }
}

/// `name=value` with the value URI-encoded, appended to a query string.
pub fn push_param(query: &mut String, name: &str, value: &str) {
    if !query.is_empty() {
        query.push('&');
    }
    query.push_str(name);
    if !value.is_empty() {
        query.push('=');
        uri_encode_into(query, value.as_bytes(), false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::payload::{BodyMaker, PayloadData, PayloadMode};
    use s3o_sigv4::{Verifier, VerifierConfig};
    use std::rc::Rc;
    use std::sync::Arc;

    #[test]
    fn heads_have_the_expected_shape() {
        let b = RequestBuilder::new(Signer::new("AK", "SK", "us-east-1", "s3"), "127.0.0.1:9", "bkt");
        let mut q = String::new();
        push_param(&mut q, "list-type", "2");
        push_param(&mut q, "prefix", "a b/");
        assert_eq!(q, "list-type=2&prefix=a%20b%2F");
        let unsigned: Rc<str> = "UNSIGNED-PAYLOAD".into();
        let out = b.build("GET", None, &q, RequestBody::empty(&unsigned));
        let text = String::from_utf8(out.head).unwrap();
        assert!(text.starts_with("GET /bkt?list-type=2&prefix=a%20b%2F HTTP/1.1\r\nhost: 127.0.0.1:9\r\n"));
        assert!(text.contains("x-amz-content-sha256: UNSIGNED-PAYLOAD\r\n"));
        assert!(text.contains("Credential=AK/"));
        assert!(text.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date,"));
        assert!(!text.contains("content-length"));
        assert!(text.ends_with("\r\n\r\n"));

        let data = Arc::new(PayloadData::new(100_000, PayloadMode::ChunkedCrc32c));
        let mut maker = BodyMaker::new(data, PayloadMode::ChunkedCrc32c);
        let body = maker.body(70_000);
        let wire = body.wire_len();
        let out = b.build("PUT", Some("dir/k 1"), "", body);
        let text = String::from_utf8(out.head).unwrap();
        assert!(text.starts_with("PUT /bkt/dir/k%201 HTTP/1.1\r\n"));
        assert!(text.contains("x-amz-decoded-content-length: 70000\r\n"));
        assert!(text.contains(&format!("content-length: {wire}\r\n")));
        assert!(text.contains(
            "SignedHeaders=content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;\
             x-amz-trailer,"
        ));
    }

    struct Creds;
    impl s3o_sigv4::CredentialProvider for Creds {
        type Identity = ();
        fn lookup(&self, access_key: &str) -> Option<(&str, ())> {
            (access_key == "AK").then_some(("SK", ()))
        }
    }

    /// The sigv4 crate's own verifier accepts what the builder signs, in every payload mode.
    #[test]
    fn signatures_verify() {
        let b = RequestBuilder::new(Signer::new("AK", "SK", "us-east-1", "s3"), "127.0.0.1:9", "bkt");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        for mode in [PayloadMode::Unsigned, PayloadMode::Signed, PayloadMode::ChunkedCrc32c] {
            let mut maker = BodyMaker::new(Arc::new(PayloadData::new(1000, mode)), mode);
            let out = b.build("PUT", Some("k/1"), "partNumber=1&uploadId=u%2B1", maker.body(1000));
            let mut hs = [httparse::EMPTY_HEADER; 16];
            let mut req = httparse::Request::new(&mut hs);
            assert!(req.parse(&out.head).unwrap().is_complete());
            let headers: Vec<(String, Vec<u8>)> = req
                .headers
                .iter()
                .map(|h| (h.name.to_string(), h.value.to_vec()))
                .collect();
            let (path, query) = req.path.unwrap().split_once('?').unwrap();
            let parts = s3o_sigv4::RequestParts {
                method: "PUT",
                path: path.as_bytes(),
                query: query.as_bytes(),
                headers: &headers,
                path_style: true,
            };
            let v = Verifier::new(VerifierConfig::default());
            let ok = v.verify(&parts, &Creds, now).unwrap().unwrap();
            assert_eq!(ok.access_key, "AK", "{mode:?}");
        }
    }
}
