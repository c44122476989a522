//! DeleteObjects: the `Delete` request body, read into the keys (and versions) to delete, and
//! the `DeleteResult` answered for them.

use super::reader::{malformed, trim_xml_space, BodyReader, Node};
use super::writer::{element, escape_into};
use super::{open_namespaced_root, XmlBody, XmlError};

/// Most keys one DeleteObjects request may name; S3 answers MalformedXML beyond it.
pub const MAX_DELETE_OBJECTS: usize = 1000;

/// Largest Delete body read: 1000 keys of S3's 1024-byte maximum, each byte escaped as a
/// six-byte reference, plus markup, with room to spare. Callers buffer no more than this.
pub const MAX_DELETE_BODY_BYTES: usize = 8 * 1024 * 1024;

/// A parsed `Delete` body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteRequest {
    /// `<Quiet>true</Quiet>`: answer only the failures.
    pub quiet: bool,
    /// The objects, in request order (duplicates kept).
    pub objects: Vec<DeleteTarget>,
}

/// One `Object` of a `Delete` body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteTarget {
    /// The key.
    pub key: String,
    /// The version to remove; `None`: delete as a DELETE without a version id does.
    pub version_id: Option<String>,
}

/// Reads a DeleteObjects body:
/// `<Delete><Quiet>true</Quiet><Object><Key>k</Key><VersionId>v</VersionId></Object>...</Delete>`.
///
/// Whitespace between elements, namespaces (default or prefixed) and element order do not matter;
/// unknown elements (`VersionId`, `ETag`, ...) are skipped. Key text is taken exactly, whitespace
/// and all. MalformedXML for bodies that are not well-formed, have no `Object`, more than
/// [`MAX_DELETE_OBJECTS`], an `Object` without exactly one `Key`, a `Quiet` that is not a boolean,
/// or more than [`MAX_DELETE_BODY_BYTES`].
pub fn parse_delete(body: &[u8]) -> Result<DeleteRequest, XmlError> {
    if body.len() > MAX_DELETE_BODY_BYTES {
        return Err(malformed("Delete body too large"));
    }
    let mut reader = BodyReader::new(body);
    reader.open_root(b"Delete")?;
    let mut request = DeleteRequest::default();
    loop {
        match reader.next()? {
            Node::Start(start) => match start.local_name().as_ref() {
                b"Object" => {
                    if request.objects.len() == MAX_DELETE_OBJECTS {
                        return Err(malformed("more than 1000 objects"));
                    }
                    request.objects.push(read_object(&mut reader)?);
                }
                b"Quiet" => request.quiet = parse_bool(&reader.text()?)?,
                _ => reader.skip(&start)?,
            },
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed Delete")),
        }
    }
    reader.finish()?;
    if request.objects.is_empty() {
        return Err(malformed("no objects"));
    }
    Ok(request)
}

/// The key and version of the `Object` element just started.
fn read_object(reader: &mut BodyReader<'_>) -> Result<DeleteTarget, XmlError> {
    let (mut key, mut version_id) = (None, None);
    loop {
        match reader.next()? {
            Node::Start(start) => match start.local_name().as_ref() {
                b"Key" if key.is_some() => return Err(malformed("more than one Key in an Object")),
                b"Key" => key = Some(reader.text()?),
                b"VersionId" if version_id.is_some() => return Err(malformed("more than one VersionId")),
                b"VersionId" => version_id = Some(reader.text()?),
                _ => reader.skip(&start)?,
            },
            Node::End => {
                return Ok(DeleteTarget {
                    key: key.ok_or(malformed("Object without Key"))?,
                    version_id,
                })
            }
            Node::Eof => return Err(malformed("unclosed Object")),
        }
    }
}

/// An `xs:boolean`: `true`, `false`, `1` or `0`, any case, surrounding whitespace ignored.
fn parse_bool(text: &str) -> Result<bool, XmlError> {
    let text = trim_xml_space(text);
    if text.eq_ignore_ascii_case("true") || text == "1" {
        Ok(true)
    } else if text.eq_ignore_ascii_case("false") || text == "0" {
        Ok(false)
    } else {
        Err(malformed("Quiet is not a boolean"))
    }
}

/// What became of one key of a DeleteObjects request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome<'a> {
    /// Deleted, or already absent (S3 reports both as deleted).
    Deleted {
        /// The key as the request named it.
        key: &'a str,
        /// The version removed, as the request named it.
        version_id: Option<&'a str>,
        /// Whether a delete marker was made, or was the version removed.
        delete_marker: bool,
        /// That delete marker's version id.
        marker_version_id: Option<&'a str>,
    },
    /// Not deleted.
    Failed {
        /// The key as the request named it.
        key: &'a str,
        /// The version the request named.
        version_id: Option<&'a str>,
        /// The S3 error code, e.g. `AccessDenied`.
        code: &'a str,
        /// The human-readable message.
        message: &'a str,
    },
}

/// The DeleteObjects response:
/// `<DeleteResult><Deleted><Key/></Deleted><Error><Key/><Code/><Message/></Error></DeleteResult>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteResult<'a> {
    /// Quiet mode: `Deleted` entries are left out.
    pub quiet: bool,
    /// One outcome per key, written in this order.
    pub outcomes: &'a [DeleteOutcome<'a>],
}

impl XmlBody for DeleteResult<'_> {
    fn write_into(&self, out: &mut Vec<u8>) {
        open_namespaced_root(out, "DeleteResult");
        for outcome in self.outcomes {
            match *outcome {
                DeleteOutcome::Deleted {
                    key,
                    version_id,
                    delete_marker,
                    marker_version_id,
                } => {
                    if self.quiet {
                        continue;
                    }
                    out.extend_from_slice(b"<Deleted><Key>");
                    escape_into(out, key);
                    out.extend_from_slice(b"</Key>");
                    if let Some(v) = version_id {
                        element(out, "VersionId", v);
                    }
                    if delete_marker {
                        out.extend_from_slice(b"<DeleteMarker>true</DeleteMarker>");
                    }
                    if let Some(v) = marker_version_id {
                        element(out, "DeleteMarkerVersionId", v);
                    }
                    out.extend_from_slice(b"</Deleted>");
                }
                DeleteOutcome::Failed {
                    key,
                    version_id,
                    code,
                    message,
                } => {
                    out.extend_from_slice(b"<Error><Key>");
                    escape_into(out, key);
                    out.extend_from_slice(b"</Key>");
                    if let Some(v) = version_id {
                        element(out, "VersionId", v);
                    }
                    out.extend_from_slice(b"<Code>");
                    escape_into(out, code);
                    out.extend_from_slice(b"</Code><Message>");
                    escape_into(out, message);
                    out.extend_from_slice(b"</Message></Error>");
                }
            }
        }
        out.extend_from_slice(b"</DeleteResult>");
    }

    fn size_hint(&self) -> usize {
        let entries: usize = self
            .outcomes
            .iter()
            .map(|outcome| match outcome {
                DeleteOutcome::Deleted { key, .. } => 160 + key.len(),
                DeleteOutcome::Failed { key, code, message, .. } => 96 + key.len() + code.len() + message.len(),
            })
            .sum();
        128 + entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(body: &str) -> Result<DeleteRequest, XmlError> {
        parse_delete(body.as_bytes())
    }

    fn request(quiet: bool, keys: &[&str]) -> Result<DeleteRequest, XmlError> {
        Ok(DeleteRequest {
            quiet,
            objects: keys
                .iter()
                .map(|k| DeleteTarget {
                    key: (*k).to_owned(),
                    version_id: None,
                })
                .collect(),
        })
    }

    /// `request` with version ids.
    fn versioned(quiet: bool, objects: &[(&str, Option<&str>)]) -> Result<DeleteRequest, XmlError> {
        Ok(DeleteRequest {
            quiet,
            objects: objects
                .iter()
                .map(|(k, v)| DeleteTarget {
                    key: (*k).to_owned(),
                    version_id: v.map(str::to_owned),
                })
                .collect(),
        })
    }

    #[test]
    fn reads_the_aws_example() {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
            <Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n\
              <Quiet>true</Quiet>\n\
              <Object>\n    <Key>sample1.txt</Key>\n  </Object>\n\
              <Object>\n    <Key>sample2.txt</Key>\n    <VersionId>OYcLXagmS.WaD..oyH4KRguB95_YhLs7</VersionId>\n  </Object>\n\
            </Delete>\n";
        assert_eq!(
            parse(body),
            versioned(
                true,
                &[
                    ("sample1.txt", None),
                    ("sample2.txt", Some("OYcLXagmS.WaD..oyH4KRguB95_YhLs7"))
                ]
            )
        );
    }

    #[test]
    fn ignores_namespaces_order_and_unknown_elements() {
        assert_eq!(
            parse("<Delete><Object><Key>a</Key></Object></Delete>"),
            request(false, &["a"])
        );
        assert_eq!(
            parse(
                "<s3:Delete xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\"><s3:Object><s3:VersionId>v</s3:VersionId>\
                 <s3:ETag>\"x\"</s3:ETag><s3:Key>a</s3:Key></s3:Object><s3:Quiet>True</s3:Quiet></s3:Delete>"
            ),
            versioned(true, &[("a", Some("v"))])
        );
        assert_eq!(
            parse("<Delete><!-- c --><Object><Key>a</Key><Size>1</Size></Object><Extra><x>y</x></Extra><Quiet> 0 </Quiet></Delete>"),
            request(false, &["a"])
        );
    }

    #[test]
    fn reads_keys_exactly() {
        assert_eq!(
            parse(
                "<Delete><Object><Key> a&amp;b&lt;c&gt;&quot;&apos; </Key></Object>\
                 <Object><Key>&#x1b;&#13;&#xd;x</Key></Object>\
                 <Object><Key><![CDATA[<raw & text>]]>!</Key></Object>\
                 <Object><Key>line\r\nend\rcr\n</Key></Object>\
                 <Object><Key>タイトル/本文</Key></Object>\
                 <Object><Key/></Object></Delete>"
            ),
            request(
                false,
                &[
                    " a&b<c>\"' ",
                    "\u{1b}\r\rx",
                    "<raw & text>!",
                    "line\nend\ncr\n",
                    "タイトル/本文",
                    ""
                ]
            )
        );
    }

    #[test]
    fn accepts_a_byte_order_mark() {
        assert_eq!(
            parse_delete(b"\xEF\xBB\xBF<Delete><Object><Key>a</Key></Object></Delete>"),
            request(false, &["a"])
        );
    }

    #[test]
    fn rejects_malformed_bodies() {
        for body in [
            "",
            "   ",
            "garbage",
            "<Delete>",
            "<Delete><Object><Key>a</Key></Object>",
            "<Delete><Object><Key>a</Key></Delete>",
            "<Delete><Object><Key>a</Object></Key></Delete>",
            "<Delete></Delete>",
            "<Delete/>",
            "<Delete><Quiet>true</Quiet></Delete>",
            "<Delete><Object></Object></Delete>",
            "<Delete><Object><VersionId>v</VersionId></Object></Delete>",
            "<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>",
            "<Delete><Object><Key>a<b/></Key></Object></Delete>",
            "<Delete><Object><Key>a&bogus;</Key></Object></Delete>",
            "<Delete><Object><Key>&#0;</Key></Object></Delete>",
            "<Delete><Object><Key>a &amp b</Key></Object></Delete>",
            "<Delete><Quiet>yes</Quiet><Object><Key>a</Key></Object></Delete>",
            "<Delete>text<Object><Key>a</Key></Object></Delete>",
            "<Delete><Object>text<Key>a</Key></Object></Delete>",
            "<Delete><Object><Key>a</Key></Object></Delete><Delete/>",
            "<Delete><Object><Key>a</Key></Object></Delete>trailing",
            "<Deletes><Object><Key>a</Key></Object></Deletes>",
            "<Object><Key>a</Key></Object>",
            "<!DOCTYPE d [<!ENTITY e \"x\">]><Delete><Object><Key>&e;</Key></Object></Delete>",
            "<Delete><Object><Key>a</Key></Object><Unknown><Open></Unknown></Delete>",
        ] {
            assert!(matches!(parse(body), Err(XmlError::MalformedXML(_))), "{body:?}");
        }
        assert!(matches!(
            parse_delete(b"<Delete><Object><Key>\xFF</Key></Object></Delete>"),
            Err(XmlError::MalformedXML(_))
        ));
    }

    fn body_with(objects: usize) -> String {
        let mut body = String::from("<Delete>");
        for i in 0..objects {
            body.push_str(&format!("<Object><Key>k{i}</Key></Object>"));
        }
        body.push_str("</Delete>");
        body
    }

    #[test]
    fn accepts_1000_objects_and_rejects_1001() {
        let parsed = parse(&body_with(MAX_DELETE_OBJECTS)).unwrap();
        assert_eq!(parsed.objects.len(), MAX_DELETE_OBJECTS);
        assert_eq!(parsed.objects[999].key, "k999");
        assert_eq!(
            parse(&body_with(MAX_DELETE_OBJECTS + 1)),
            Err(XmlError::MalformedXML("more than 1000 objects"))
        );
    }

    #[test]
    fn rejects_a_body_over_the_limit() {
        let key = "k".repeat(MAX_DELETE_BODY_BYTES);
        let body = format!("<Delete><Object><Key>{key}</Key></Object></Delete>");
        assert_eq!(parse(&body), Err(XmlError::MalformedXML("Delete body too large")));
    }

    fn xml(doc: &DeleteResult) -> String {
        String::from_utf8(doc.to_vec()).unwrap()
    }

    const OUTCOMES: &[DeleteOutcome] = &[
        DeleteOutcome::Deleted {
            key: "sample1.txt",
            version_id: None,
            delete_marker: false,
            marker_version_id: None,
        },
        DeleteOutcome::Failed {
            key: "a&b<\"c\">",
            version_id: None,
            code: "AccessDenied",
            message: "Access Denied",
        },
        DeleteOutcome::Deleted {
            key: "x\u{1}y",
            version_id: Some("v1"),
            delete_marker: true,
            marker_version_id: Some("m1"),
        },
    ];

    #[test]
    fn writes_deleted_and_error_entries_in_order() {
        assert_eq!(
            xml(&DeleteResult {
                quiet: false,
                outcomes: OUTCOMES
            }),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Deleted><Key>sample1.txt</Key></Deleted>\
             <Error><Key>a&amp;b&lt;&quot;c&quot;&gt;</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>\
             <Deleted><Key>x&#x1;y</Key><VersionId>v1</VersionId><DeleteMarker>true</DeleteMarker>\
             <DeleteMarkerVersionId>m1</DeleteMarkerVersionId></Deleted>\
             </DeleteResult>"
        );
    }

    #[test]
    fn quiet_mode_writes_only_errors() {
        assert_eq!(
            xml(&DeleteResult {
                quiet: true,
                outcomes: OUTCOMES
            }),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Error><Key>a&amp;b&lt;&quot;c&quot;&gt;</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>\
             </DeleteResult>"
        );
        assert_eq!(
            xml(&DeleteResult {
                quiet: true,
                outcomes: &[]
            }),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></DeleteResult>"
        );
    }

    proptest! {
        #[test]
        fn any_key_survives_our_escaping_and_parsing(
            keys in prop::collection::vec(any::<String>().prop_filter("no NUL", |k| !k.contains('\0')), 1..8),
            quiet in any::<bool>(),
        ) {
            let mut body = format!("<Delete><Quiet>{quiet}</Quiet>").into_bytes();
            for key in &keys {
                body.extend_from_slice(b"<Object><Key>");
                escape_into(&mut body, key);
                body.extend_from_slice(b"</Key></Object>");
            }
            body.extend_from_slice(b"</Delete>");
            let objects = keys.into_iter().map(|key| DeleteTarget { key, version_id: None }).collect();
            prop_assert_eq!(parse_delete(&body), Ok(DeleteRequest { quiet, objects }));
        }
    }
}
