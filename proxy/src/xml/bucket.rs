//! Bucket-level documents: the `LocationConstraint` GetBucketLocation answers and the
//! `CreateBucketConfiguration` body CreateBucket may carry.

use super::reader::{is_xml_space, malformed, trim_xml_space, BodyReader, Node};
use super::writer::escape_into;
use super::{open_namespaced_root, XmlBody, XmlError, S3_XMLNS, XML_DECLARATION};

/// Largest CreateBucketConfiguration body read: the real one is a few hundred bytes, so anything
/// near this is not one.
pub const MAX_CREATE_BUCKET_BODY_BYTES: usize = 64 * 1024;

/// The GetBucketLocation response: `<LocationConstraint xmlns="...">region</LocationConstraint>`,
/// or the empty element S3 answers for us-east-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocationConstraint<'a> {
    /// The bucket's region; `us-east-1` and `""` are written as the empty element.
    pub region: &'a str,
}

impl XmlBody for LocationConstraint<'_> {
    fn write_into(&self, out: &mut Vec<u8>) {
        if self.region.is_empty() || self.region == "us-east-1" {
            out.extend_from_slice(XML_DECLARATION.as_bytes());
            out.extend_from_slice(b"<LocationConstraint xmlns=\"");
            out.extend_from_slice(S3_XMLNS.as_bytes());
            out.extend_from_slice(b"\"/>");
            return;
        }
        open_namespaced_root(out, "LocationConstraint");
        escape_into(out, self.region);
        out.extend_from_slice(b"</LocationConstraint>");
    }

    fn size_hint(&self) -> usize {
        160 + self.region.len()
    }
}

/// Reads a CreateBucket body: the `LocationConstraint` it names, or `None` for an empty body, a
/// configuration without one, or an empty one (all meaning us-east-1). Other children (S3's
/// `Location`, `Bucket`, `Tags`) are skipped. The region is returned trimmed and unvalidated.
pub fn parse_create_bucket_configuration(body: &[u8]) -> Result<Option<String>, XmlError> {
    if body.len() > MAX_CREATE_BUCKET_BODY_BYTES {
        return Err(malformed("CreateBucketConfiguration body too large"));
    }
    if body.iter().all(|&b| is_xml_space(b)) {
        return Ok(None);
    }
    let mut reader = BodyReader::new(body);
    reader.open_root(b"CreateBucketConfiguration")?;
    let mut region = None;
    loop {
        match reader.next()? {
            Node::Start(start) if start.local_name().as_ref() == b"LocationConstraint" => {
                if region.is_some() {
                    return Err(malformed("more than one LocationConstraint"));
                }
                region = Some(reader.text()?);
            }
            Node::Start(start) => reader.skip(&start)?,
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed CreateBucketConfiguration")),
        }
    }
    reader.finish()?;
    Ok(region.map(|r| trim_xml_space(&r).to_owned()).filter(|r| !r.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_region() {
        let xml = String::from_utf8(LocationConstraint { region: "eu-west-1" }.to_vec()).unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">eu-west-1</LocationConstraint>"
        );
    }

    #[test]
    fn writes_us_east_1_as_the_empty_element() {
        let expected = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                        <LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>";
        for region in ["us-east-1", ""] {
            assert_eq!(
                String::from_utf8(LocationConstraint { region }.to_vec()).unwrap(),
                expected
            );
        }
    }

    #[test]
    fn escapes_the_region() {
        let xml = String::from_utf8(LocationConstraint { region: "a<b" }.to_vec()).unwrap();
        assert!(xml.ends_with(">a&lt;b</LocationConstraint>"), "{xml}");
    }

    fn parse(body: &str) -> Result<Option<String>, XmlError> {
        parse_create_bucket_configuration(body.as_bytes())
    }

    #[test]
    fn reads_the_location_constraint() {
        let some = Ok(Some("eu-west-1".to_owned()));
        assert_eq!(
            parse("<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"),
            some
        );
        assert_eq!(
            parse(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                 <CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n  \
                 <LocationConstraint> eu-west-1\n</LocationConstraint>\n</CreateBucketConfiguration>\n"
            ),
            some
        );
        assert_eq!(
            parse(
                "<s3:CreateBucketConfiguration xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <s3:Bucket><s3:Type>Directory</s3:Type></s3:Bucket>\
                 <s3:LocationConstraint>eu-west-1</s3:LocationConstraint></s3:CreateBucketConfiguration>"
            ),
            some
        );
    }

    #[test]
    fn reads_no_region_from_empty_bodies_and_configurations() {
        for body in [
            "",
            " \r\n\t",
            "<CreateBucketConfiguration/>",
            "<CreateBucketConfiguration></CreateBucketConfiguration>",
            "<CreateBucketConfiguration><LocationConstraint/></CreateBucketConfiguration>",
            "<CreateBucketConfiguration><LocationConstraint> </LocationConstraint></CreateBucketConfiguration>",
        ] {
            assert_eq!(parse(body), Ok(None), "{body:?}");
        }
    }

    #[test]
    fn rejects_malformed_bodies() {
        for body in [
            "eu-west-1",
            "<CreateBucketConfiguration>",
            "<CreateBucketConfiguration><LocationConstraint>eu-west-1</CreateBucketConfiguration>",
            "<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint>",
            "<Delete><LocationConstraint>eu-west-1</LocationConstraint></Delete>",
            "<CreateBucketConfiguration>eu-west-1</CreateBucketConfiguration>",
            "<CreateBucketConfiguration><LocationConstraint><a/></LocationConstraint></CreateBucketConfiguration>",
            "<CreateBucketConfiguration><LocationConstraint>a</LocationConstraint>\
             <LocationConstraint>b</LocationConstraint></CreateBucketConfiguration>",
            "<CreateBucketConfiguration/><CreateBucketConfiguration/>",
            "<?xml version=\"1.0\"?>",
        ] {
            assert!(matches!(parse(body), Err(XmlError::MalformedXML(_))), "{body:?}");
        }
    }

    #[test]
    fn rejects_a_body_over_the_limit() {
        let padding = " ".repeat(MAX_CREATE_BUCKET_BODY_BYTES);
        let body = format!("<CreateBucketConfiguration/>{padding}");
        assert!(matches!(parse(&body), Err(XmlError::MalformedXML(_))));
        let body = format!("<CreateBucketConfiguration/>{}", &padding[28..]);
        assert_eq!(body.len(), MAX_CREATE_BUCKET_BODY_BYTES);
        assert_eq!(parse(&body), Ok(None));
    }
}
