//! The `Error` document of every failed S3 request:
//! `<Error><Code/><Message/>(extra)*<Resource/><RequestId/></Error>`, without a namespace, as S3
//! sends it. Which code and status a failure gets is decided elsewhere; this only writes it.

use super::writer::element;
use super::{XmlBody, XML_DECLARATION};

/// An S3 error response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorDocument<'a> {
    /// The S3 error code, e.g. `NoSuchKey`.
    pub code: &'a str,
    /// The human-readable message, e.g. `The specified key does not exist.`
    pub message: &'a str,
    /// Extra elements S3 adds for some codes, written in order after `Message`, e.g.
    /// `("Key", "a.txt")`, `("BucketName", "b")`, `("Region", "eu-west-1")`. Names are our literals
    /// and must be XML names; values are escaped.
    pub extra: &'a [(&'a str, &'a str)],
    /// The bucket or object the request named, e.g. `/bucket/a.txt`.
    pub resource: &'a str,
    /// This request's id, also sent as `x-amz-request-id`.
    pub request_id: &'a str,
}

impl XmlBody for ErrorDocument<'_> {
    fn write_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(XML_DECLARATION.as_bytes());
        out.extend_from_slice(b"<Error>");
        element(out, "Code", self.code);
        element(out, "Message", self.message);
        for &(name, value) in self.extra {
            debug_assert!(is_xml_name(name), "extra element name {name:?}");
            element(out, name, value);
        }
        element(out, "Resource", self.resource);
        element(out, "RequestId", self.request_id);
        out.extend_from_slice(b"</Error>");
    }

    fn size_hint(&self) -> usize {
        let extra: usize = self.extra.iter().map(|(n, v)| 2 * n.len() + v.len() + 5).sum();
        128 + self.code.len() + self.message.len() + self.resource.len() + self.request_id.len() + extra
    }
}

/// Whether `name` is a plain ASCII XML element name (what our extra element names are).
fn is_xml_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(doc: &ErrorDocument) -> String {
        String::from_utf8(doc.to_vec()).unwrap()
    }

    #[test]
    fn writes_the_four_standard_elements() {
        let doc = ErrorDocument {
            code: "AccessDenied",
            message: "Access Denied",
            extra: &[],
            resource: "/mybucket/myfoto.jpg",
            request_id: "4442587FB7D0A2F9",
        };
        assert_eq!(
            xml(&doc),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
             <Message>Access Denied</Message><Resource>/mybucket/myfoto.jpg</Resource>\
             <RequestId>4442587FB7D0A2F9</RequestId></Error>"
        );
    }

    #[test]
    fn writes_extra_elements_after_the_message_and_escapes_everything() {
        let doc = ErrorDocument {
            code: "NoSuchKey",
            message: "The specified key does not exist.",
            extra: &[("Key", "a&b<c>\"d\"\u{1}"), ("BucketName", "bucket")],
            resource: "/bucket/a&b<c>\"d\"\u{1}",
            request_id: "req-1",
        };
        assert_eq!(
            xml(&doc),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>\
             <Message>The specified key does not exist.</Message>\
             <Key>a&amp;b&lt;c&gt;&quot;d&quot;&#x1;</Key><BucketName>bucket</BucketName>\
             <Resource>/bucket/a&amp;b&lt;c&gt;&quot;d&quot;&#x1;</Resource><RequestId>req-1</RequestId></Error>"
        );
        assert!(doc.size_hint() >= doc.to_vec().len() / 2);
    }

    #[test]
    fn recognises_xml_names() {
        assert!(is_xml_name("BucketName"));
        assert!(is_xml_name("x-amz.id_2"));
        assert!(!is_xml_name(""));
        assert!(!is_xml_name("1Key"));
        assert!(!is_xml_name("Key>"));
    }
}
