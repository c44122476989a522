//! Object tagging: the `Tagging` document GetObjectTagging answers and PutObjectTagging sends,
//! and the `x-amz-tagging` header PutObject, CopyObject and CreateMultipartUpload may carry
//! (`k1=v1&k2=v2`, URL query encoding). Both readers return the pairs in order, duplicates
//! included; S3's tag limits (count, lengths, characters, unique keys) are the handler's to check.

use super::reader::{malformed, BodyReader, Node};
use super::writer::escape_into;
use super::{open_namespaced_root, XmlBody, XmlError};

/// Largest Tagging body read: S3's 10 tags of 128-character keys and 256-character values, every
/// character written as a 9-byte reference, come to ~35 KB; anything bigger is not a tag set.
pub const MAX_TAGGING_BODY_BYTES: usize = 64 * 1024;

/// The GetObjectTagging response: `<Tagging><TagSet><Tag><Key/><Value/></Tag>…</TagSet></Tagging>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tagging<'a> {
    /// (key, value) pairs, written in this order.
    pub tags: &'a [(String, String)],
}

impl XmlBody for Tagging<'_> {
    fn write_into(&self, out: &mut Vec<u8>) {
        open_namespaced_root(out, "Tagging");
        out.extend_from_slice(b"<TagSet>");
        for (key, value) in self.tags {
            out.extend_from_slice(b"<Tag><Key>");
            escape_into(out, key);
            out.extend_from_slice(b"</Key><Value>");
            escape_into(out, value);
            out.extend_from_slice(b"</Value></Tag>");
        }
        out.extend_from_slice(b"</TagSet></Tagging>");
    }

    fn size_hint(&self) -> usize {
        let tags: usize = self.tags.iter().map(|(k, v)| 40 + (k.len() + v.len()) * 6).sum();
        160 + tags
    }
}

/// Reads a PutObjectTagging body: `<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag>…`.
///
/// Whitespace between elements, namespaces and element order do not matter; unknown elements are
/// skipped. Keys and values are taken exactly, whitespace and all; a missing or empty `Value` is
/// `""`. An empty `TagSet` is no tags. MalformedXML for bodies that are not well-formed, have not
/// exactly one `TagSet`, a `Tag` without exactly one `Key` or with more than one `Value`, or more
/// than [`MAX_TAGGING_BODY_BYTES`].
pub fn parse_tagging(body: &[u8]) -> Result<Vec<(String, String)>, XmlError> {
    if body.len() > MAX_TAGGING_BODY_BYTES {
        return Err(malformed("Tagging body too large"));
    }
    let mut reader = BodyReader::new(body);
    reader.open_root(b"Tagging")?;
    let mut tags = None;
    loop {
        match reader.next()? {
            Node::Start(start) if start.local_name().as_ref() == b"TagSet" => {
                if tags.is_some() {
                    return Err(malformed("more than one TagSet"));
                }
                tags = Some(read_tag_set(&mut reader)?);
            }
            Node::Start(start) => reader.skip(&start)?,
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed Tagging")),
        }
    }
    reader.finish()?;
    tags.ok_or(malformed("Tagging without TagSet"))
}

/// The tags of the `TagSet` element just started.
fn read_tag_set(reader: &mut BodyReader<'_>) -> Result<Vec<(String, String)>, XmlError> {
    let mut tags = Vec::new();
    loop {
        match reader.next()? {
            Node::Start(start) if start.local_name().as_ref() == b"Tag" => tags.push(read_tag(reader)?),
            Node::Start(start) => reader.skip(&start)?,
            Node::End => return Ok(tags),
            Node::Eof => return Err(malformed("unclosed TagSet")),
        }
    }
}

/// The (key, value) of the `Tag` element just started.
fn read_tag(reader: &mut BodyReader<'_>) -> Result<(String, String), XmlError> {
    let mut key = None;
    let mut value = None;
    loop {
        match reader.next()? {
            Node::Start(start) => match start.local_name().as_ref() {
                b"Key" if key.is_some() => return Err(malformed("more than one Key in a Tag")),
                b"Key" => key = Some(reader.text()?),
                b"Value" if value.is_some() => return Err(malformed("more than one Value in a Tag")),
                b"Value" => value = Some(reader.text()?),
                _ => reader.skip(&start)?,
            },
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed Tag")),
        }
    }
    let key = key.ok_or(malformed("Tag without Key"))?;
    Ok((key, value.unwrap_or_default()))
}

/// Reads an `x-amz-tagging` header, `k1=v1&k2=v2`, in URL query encoding: `%XX` decoded, `+` a
/// space. An empty header is no tags, empty `&&` segments are skipped, and a pair without `=` is a
/// key with an empty value. MalformedXML for a `%` not followed by two hex digits or a pair that
/// does not decode to UTF-8.
pub fn parse_tagging_query(header: &str) -> Result<Vec<(String, String)>, XmlError> {
    header
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((form_decode(key)?, form_decode(value)?))
        })
        .collect()
}

/// `text` with `+` read as a space and `%XX` decoded, as UTF-8.
fn form_decode(text: &str) -> Result<String, XmlError> {
    let spaced = text.replace('+', " ");
    let decoded = s3o_sigv4::encode::percent_decode_cow(spaced.as_bytes(), true)
        .ok_or(malformed("bad percent-encoding in x-amz-tagging"))?;
    String::from_utf8(decoded.into_owned()).map_err(|_| malformed("x-amz-tagging is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect()
    }

    #[test]
    fn writes_a_tag_set() {
        let tags = pairs(&[("project", "blue"), ("a&b", "<c> \u{1}\"'"), ("empty", "")]);
        let doc = Tagging { tags: &tags };
        let bytes = doc.to_vec();
        assert!(doc.size_hint() >= bytes.len());
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet>\
             <Tag><Key>project</Key><Value>blue</Value></Tag>\
             <Tag><Key>a&amp;b</Key><Value>&lt;c&gt; &#x1;&quot;&apos;</Value></Tag>\
             <Tag><Key>empty</Key><Value></Value></Tag></TagSet></Tagging>"
        );
        assert_eq!(
            String::from_utf8(Tagging { tags: &[] }.to_vec()).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet></TagSet></Tagging>"
        );
    }

    fn parse(body: &str) -> Result<Vec<(String, String)>, XmlError> {
        parse_tagging(body.as_bytes())
    }

    #[test]
    fn reads_the_aws_example() {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
            <Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n  <TagSet>\n\
                <Tag>\n      <Key>tag1</Key>\n      <Value>val1</Value>\n    </Tag>\n\
                <Tag>\n      <Key>tag2</Key>\n      <Value>val2</Value>\n    </Tag>\n\
              </TagSet>\n</Tagging>\n";
        assert_eq!(parse(body), Ok(pairs(&[("tag1", "val1"), ("tag2", "val2")])));
    }

    #[test]
    fn reads_values_exactly_and_empty_values_as_empty() {
        let body = "<s3:Tagging xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\"><s3:TagSet>\
            <s3:Tag><s3:Value> v &amp; w </s3:Value><s3:Key> k&lt;1 </s3:Key></s3:Tag>\
            <s3:Tag><s3:Key>k2</s3:Key><s3:Value/></s3:Tag>\
            <s3:Tag><s3:Key>k3</s3:Key><s3:Extra>x</s3:Extra></s3:Tag>\
            <s3:Tag><s3:Key>k2</s3:Key><s3:Value>dup</s3:Value></s3:Tag>\
            </s3:TagSet><s3:Other/></s3:Tagging>";
        assert_eq!(
            parse(body),
            Ok(pairs(&[(" k<1 ", " v & w "), ("k2", ""), ("k3", ""), ("k2", "dup")]))
        );
        assert_eq!(parse("<Tagging><TagSet/></Tagging>"), Ok(vec![]));
    }

    #[test]
    fn rejects_malformed_bodies() {
        for body in [
            "",
            "<Tagging/>",
            "<Tagging></Tagging>",
            "<Tagging><TagSet/><TagSet/></Tagging>",
            "<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>",
            "<Tagging><TagSet><Tag/></TagSet></Tagging>",
            "<Tagging><TagSet><Tag><Key>a</Key><Key>b</Key></Tag></TagSet></Tagging>",
            "<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value><Value>2</Value></Tag></TagSet></Tagging>",
            "<Tagging><TagSet><Tag><Key>a<b/></Key></Tag></TagSet></Tagging>",
            "<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet>",
            "<Tagging><TagSet>text</TagSet></Tagging>",
            "<TagSet><Tag><Key>a</Key></Tag></TagSet>",
            "<Tags><TagSet/></Tags>",
            "<Tagging><TagSet/></Tagging><Tagging/>",
        ] {
            assert!(matches!(parse(body), Err(XmlError::MalformedXML(_))), "{body:?}");
        }
    }

    #[test]
    fn rejects_a_body_over_the_limit() {
        let head = "<Tagging><TagSet/></Tagging>";
        let body = format!("{head}{}", " ".repeat(MAX_TAGGING_BODY_BYTES - head.len()));
        assert_eq!(parse(&body), Ok(vec![]));
        let body = format!("{body} ");
        assert_eq!(parse(&body), Err(XmlError::MalformedXML("Tagging body too large")));
    }

    #[test]
    fn decodes_the_tagging_header() {
        assert_eq!(
            parse_tagging_query("a=b&c=d%20e+f"),
            Ok(pairs(&[("a", "b"), ("c", "d e f")]))
        );
        assert_eq!(parse_tagging_query("k"), Ok(pairs(&[("k", "")])));
        assert_eq!(parse_tagging_query(""), Ok(vec![]));
        assert_eq!(parse_tagging_query("k="), Ok(pairs(&[("k", "")])));
        assert_eq!(
            parse_tagging_query("k=1&&k=2&x%2By=%3D%26%2B%C3%BC&=v&"),
            Ok(pairs(&[("k", "1"), ("k", "2"), ("x+y", "=&+ü"), ("", "v")]))
        );
        assert_eq!(parse_tagging_query("a=b=c"), Ok(pairs(&[("a", "b=c")])));
        for bad in ["a=%zz", "a%2=b", "a=%FF"] {
            assert!(
                matches!(parse_tagging_query(bad), Err(XmlError::MalformedXML(_))),
                "{bad:?}"
            );
        }
    }
}
