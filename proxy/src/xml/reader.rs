//! The event reader the request-body parsers share: a quick-xml pull reader over the whole body
//! that hands out only element starts and ends, skips whitespace, comments, processing
//! instructions and unknown subtrees, ignores namespaces (names are compared by local part), and
//! turns anything not well-formed or not shaped like an S3 request body into
//! [`XmlError::MalformedXML`]. It holds no state beyond quick-xml's own.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::XmlError;

/// What the parsers see of a body.
pub(crate) enum Node<'a> {
    /// An element opened (`<a>`, or `<a/>` which is followed by its [`Node::End`]).
    Start(BytesStart<'a>),
    /// The innermost open element closed.
    End,
    /// The body ended.
    Eof,
}

/// A pull reader over one request body.
pub(crate) struct BodyReader<'a> {
    reader: Reader<&'a [u8]>,
}

/// Shorthand for the one error a body can cause.
pub(crate) fn malformed(reason: &'static str) -> XmlError {
    XmlError::MalformedXML(reason)
}

/// XML's whitespace: space, TAB, LF, CR.
pub(crate) fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// `text` without leading and trailing XML whitespace.
pub(crate) fn trim_xml_space(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_ascii() && is_xml_space(c as u8))
}

impl<'a> BodyReader<'a> {
    /// A reader over `body` that checks end-tag names and reports `<a/>` as a start and an end.
    pub(crate) fn new(body: &'a [u8]) -> Self {
        let mut reader = Reader::from_reader(body);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = true;
        Self { reader }
    }

    /// The next start, end or end of body; text between elements must be whitespace.
    pub(crate) fn next(&mut self) -> Result<Node<'a>, XmlError> {
        loop {
            match self.reader.read_event() {
                Ok(Event::Start(start)) => return Ok(Node::Start(start)),
                Ok(Event::End(_)) => return Ok(Node::End),
                Ok(Event::Eof) => return Ok(Node::Eof),
                Ok(Event::Text(text)) if text.iter().all(|&b| is_xml_space(b)) => {}
                Ok(Event::Text(_) | Event::CData(_)) => return Err(malformed("text where an element belongs")),
                Ok(Event::Comment(_) | Event::PI(_) | Event::Decl(_)) => {}
                // A DTD could declare entities; S3 bodies never carry one.
                Ok(Event::DocType(_)) => return Err(malformed("DOCTYPE is not allowed")),
                // Not produced with `expand_empty_elements`.
                Ok(Event::Empty(_)) => return Err(malformed("unexpected empty element")),
                Err(_) => return Err(malformed("not well-formed")),
            }
        }
    }

    /// Reads past the document element named `root` (any namespace prefix) to its first child.
    pub(crate) fn open_root(&mut self, root: &[u8]) -> Result<(), XmlError> {
        match self.next()? {
            Node::Start(start) if start.local_name().as_ref() == root => Ok(()),
            Node::Start(_) => Err(malformed("unexpected document element")),
            Node::End => Err(malformed("not well-formed")),
            Node::Eof => Err(malformed("no document element")),
        }
    }

    /// After the document element closed: only whitespace, comments and PIs may follow.
    pub(crate) fn finish(&mut self) -> Result<(), XmlError> {
        match self.next()? {
            Node::Eof => Ok(()),
            _ => Err(malformed("content after the document element")),
        }
    }

    /// The text of the element just started, up to its end: entities and character references
    /// resolved, CDATA taken verbatim, line ends normalised to LF as XML 1.0 §2.11 requires.
    /// Child elements make it malformed. Whitespace is kept (keys may start or end with it).
    pub(crate) fn text(&mut self) -> Result<String, XmlError> {
        let mut value = String::new();
        loop {
            match self.reader.read_event() {
                Ok(Event::Text(text)) => {
                    let raw = std::str::from_utf8(&text).map_err(|_| malformed("text is not UTF-8"))?;
                    let raw = normalize_line_ends(raw);
                    let unescaped =
                        quick_xml::escape::unescape(&raw).map_err(|_| malformed("unknown entity or bad reference"))?;
                    value.push_str(&unescaped);
                }
                Ok(Event::CData(cdata)) => {
                    let raw = std::str::from_utf8(&cdata).map_err(|_| malformed("CDATA is not UTF-8"))?;
                    value.push_str(&normalize_line_ends(raw));
                }
                Ok(Event::End(_)) => return Ok(value),
                Ok(Event::Comment(_) | Event::PI(_)) => {}
                Ok(Event::Start(_) | Event::Empty(_)) => return Err(malformed("element inside a value")),
                Ok(Event::Eof) => return Err(malformed("unclosed element")),
                Ok(Event::Decl(_) | Event::DocType(_)) | Err(_) => return Err(malformed("not well-formed")),
            }
        }
    }

    /// Skips the rest of the element `start` just returned by [`next`](Self::next), children and
    /// text included: for elements S3 defines but we do not use.
    pub(crate) fn skip(&mut self, start: &BytesStart<'a>) -> Result<(), XmlError> {
        self.reader
            .read_to_end(start.name())
            .map(|_| ())
            .map_err(|_| malformed("unclosed element"))
    }
}

/// `raw` with CRLF and lone CR turned into LF; borrowed when there is no CR.
fn normalize_line_ends(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\r') {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n"))
}
