//! Copies: the `CopyObjectResult` CopyObject answers and the `CopyPartResult` UploadPartCopy
//! answers. Both are written as S3 sends them — `LastModified` before `ETag`, as in the AWS
//! examples and S3's own responses (the reference's "Response Syntax" lists ETag first, which every
//! SDK parses as well) — followed by the checksum elements.

use super::multipart::{checksums_into, checksums_size_hint};
use super::writer::{escape_into, write_iso8601_millis};
use super::{open_namespaced_root, XmlBody};

/// The CopyObject response: `<LastModified/><ETag/>` and the checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyObjectResult<'a> {
    /// The new object's quoted ETag.
    pub etag: &'a str,
    /// The new object's Last-Modified, milliseconds since the Unix epoch.
    pub last_modified_ms: u64,
    /// (algorithm, base64 value) pairs, e.g. `("crc32c", "yZRlqg==")`; unknown algorithms skipped.
    pub checksums: &'a [(String, String)],
}

impl XmlBody for CopyObjectResult<'_> {
    fn write_into(&self, out: &mut Vec<u8>) {
        copy_result_into(
            out,
            "CopyObjectResult",
            self.etag,
            self.last_modified_ms,
            self.checksums,
        );
    }

    fn size_hint(&self) -> usize {
        192 + self.etag.len() * 6 + checksums_size_hint(self.checksums)
    }
}

/// The UploadPartCopy response: `<LastModified/><ETag/>` and the checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyPartResult<'a> {
    /// The new part's quoted ETag.
    pub etag: &'a str,
    /// When the part was written, milliseconds since the Unix epoch.
    pub last_modified_ms: u64,
    /// (algorithm, base64 value) pairs, e.g. `("crc32c", "yZRlqg==")`; unknown algorithms skipped.
    pub checksums: &'a [(String, String)],
}

impl XmlBody for CopyPartResult<'_> {
    fn write_into(&self, out: &mut Vec<u8>) {
        copy_result_into(out, "CopyPartResult", self.etag, self.last_modified_ms, self.checksums);
    }

    fn size_hint(&self) -> usize {
        192 + self.etag.len() * 6 + checksums_size_hint(self.checksums)
    }
}

/// The shape both documents share, under `root`.
fn copy_result_into(out: &mut Vec<u8>, root: &str, etag: &str, last_modified_ms: u64, checksums: &[(String, String)]) {
    open_namespaced_root(out, root);
    out.extend_from_slice(b"<LastModified>");
    write_iso8601_millis(out, last_modified_ms);
    out.extend_from_slice(b"</LastModified><ETag>");
    escape_into(out, etag);
    out.extend_from_slice(b"</ETag>");
    checksums_into(out, checksums);
    out.extend_from_slice(b"</");
    out.extend_from_slice(root.as_bytes());
    out.push(b'>');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(doc: &impl XmlBody) -> String {
        let bytes = doc.to_vec();
        assert!(doc.size_hint() >= bytes.len(), "{} < {}", doc.size_hint(), bytes.len());
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn writes_copy_object_result_as_s3_does() {
        let doc = CopyObjectResult {
            etag: "\"9b2cf535f27731c974343645a3985328\"",
            last_modified_ms: 1_256_769_120_000,
            checksums: &[],
        };
        assert_eq!(
            xml(&doc),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <CopyObjectResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <LastModified>2009-10-28T22:32:00.000Z</LastModified>\
             <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag></CopyObjectResult>"
        );
    }

    #[test]
    fn writes_copy_part_result_with_checksums() {
        let checksums = [
            ("sha1".to_owned(), "a<b".to_owned()),
            ("unknown".to_owned(), "x".to_owned()),
            ("crc32".to_owned(), "AAAAAA==".to_owned()),
        ];
        let doc = CopyPartResult {
            etag: "\"b&\"",
            last_modified_ms: 1_416_598_805_123,
            checksums: &checksums,
        };
        assert_eq!(
            xml(&doc),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <CopyPartResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <LastModified>2014-11-21T19:40:05.123Z</LastModified><ETag>&quot;b&amp;&quot;</ETag>\
             <ChecksumCRC32>AAAAAA==</ChecksumCRC32><ChecksumSHA1>a&lt;b</ChecksumSHA1></CopyPartResult>"
        );
    }
}
