//! The `PostResponse` document a browser POST upload answers with `success_action_status=201`.

use super::writer::element;
use super::{XmlBody, XML_DECLARATION};

/// `<PostResponse><Location/><Bucket/><Key/><ETag/></PostResponse>` (S3 sends it without a
/// namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostResponse<'a> {
    /// The object's URL.
    pub location: &'a str,
    /// The bucket name.
    pub bucket: &'a str,
    /// The object key.
    pub key: &'a str,
    /// The quoted ETag.
    pub etag: &'a str,
}

impl XmlBody for PostResponse<'_> {
    fn write_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(XML_DECLARATION.as_bytes());
        out.extend_from_slice(b"<PostResponse>");
        element(out, "Location", self.location);
        element(out, "Bucket", self.bucket);
        element(out, "Key", self.key);
        element(out, "ETag", self.etag);
        out.extend_from_slice(b"</PostResponse>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_response_exact_bytes() {
        let doc = PostResponse {
            location: "http://h/b/a%26b",
            bucket: "b",
            key: "a&b",
            etag: "\"e\"",
        };
        assert_eq!(
            String::from_utf8(doc.to_vec()).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Location>http://h/b/a%26b</Location>\
             <Bucket>b</Bucket><Key>a&amp;b</Key><ETag>&quot;e&quot;</ETag></PostResponse>"
        );
    }
}
