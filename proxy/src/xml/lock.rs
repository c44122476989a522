//! Object lock documents: `ObjectLockConfiguration` (Get/PutObjectLockConfiguration),
//! `Retention` (Get/PutObjectRetention) and `LegalHold` (Get/PutObjectLegalHold), written and
//! read. Readers check the shape (MalformedXML); whether a period is positive or a date in the
//! future is the handler's to check, as S3 answers those with their own codes.

use super::reader::{malformed, BodyReader, Node};
use super::versioning::MAX_CONFIG_BODY_BYTES;
use super::writer::{element, number_element, write_iso8601_millis};
use super::{open_namespaced_root, XmlBody, XmlError};

/// A retention mode as S3 spells it.
pub fn mode_name(mode: s3o_store::RetentionMode) -> &'static str {
    match mode {
        s3o_store::RetentionMode::Governance => "GOVERNANCE",
        s3o_store::RetentionMode::Compliance => "COMPLIANCE",
    }
}

/// The mode S3 spells `name` (exactly, upper case), if any.
pub fn mode_of(name: &str) -> Option<s3o_store::RetentionMode> {
    match name {
        "GOVERNANCE" => Some(s3o_store::RetentionMode::Governance),
        "COMPLIANCE" => Some(s3o_store::RetentionMode::Compliance),
        _ => None,
    }
}

/// The GetObjectLockConfiguration response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectLockConfiguration {
    /// The default retention, if the bucket has one.
    pub default_retention: Option<s3o_store::DefaultRetention>,
}

impl XmlBody for ObjectLockConfiguration {
    fn write_into(&self, out: &mut Vec<u8>) {
        open_namespaced_root(out, "ObjectLockConfiguration");
        element(out, "ObjectLockEnabled", "Enabled");
        if let Some(d) = self.default_retention {
            out.extend_from_slice(b"<Rule><DefaultRetention>");
            element(out, "Mode", mode_name(d.mode));
            if let Some(days) = d.days {
                number_element(out, "Days", u64::from(days));
            }
            if let Some(years) = d.years {
                number_element(out, "Years", u64::from(years));
            }
            out.extend_from_slice(b"</DefaultRetention></Rule>");
        }
        out.extend_from_slice(b"</ObjectLockConfiguration>");
    }
}

/// A default retention as sent: the period not yet checked to be positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultRetentionRequest {
    /// The mode.
    pub mode: s3o_store::RetentionMode,
    /// Days, exclusive with `years`.
    pub days: Option<i64>,
    /// Years.
    pub years: Option<i64>,
}

/// Reads a PutObjectLockConfiguration body: `ObjectLockEnabled` must say `Enabled`; a `Rule`
/// holds one `DefaultRetention` with a mode and either `Days` or `Years`.
pub fn parse_object_lock(body: &[u8]) -> Result<Option<DefaultRetentionRequest>, XmlError> {
    if body.len() > MAX_CONFIG_BODY_BYTES {
        return Err(malformed("ObjectLockConfiguration body too large"));
    }
    let mut reader = BodyReader::new(body);
    reader.open_root(b"ObjectLockConfiguration")?;
    let (mut enabled, mut rule) = (None, None);
    loop {
        match reader.next()? {
            Node::Start(start) => match start.local_name().as_ref() {
                b"ObjectLockEnabled" => enabled = Some(reader.text()?),
                b"Rule" => rule = Some(read_rule(&mut reader)?),
                _ => reader.skip(&start)?,
            },
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed ObjectLockConfiguration")),
        }
    }
    reader.finish()?;
    if enabled.as_deref() != Some("Enabled") {
        return Err(malformed("ObjectLockEnabled is not Enabled"));
    }
    Ok(rule)
}

/// The `DefaultRetention` of the `Rule` element just started.
fn read_rule(reader: &mut BodyReader<'_>) -> Result<DefaultRetentionRequest, XmlError> {
    let mut retention = None;
    loop {
        match reader.next()? {
            Node::Start(start) if start.local_name().as_ref() == b"DefaultRetention" => {
                retention = Some(read_default_retention(reader)?);
            }
            Node::Start(start) => reader.skip(&start)?,
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed Rule")),
        }
    }
    retention.ok_or(malformed("Rule without DefaultRetention"))
}

/// The `DefaultRetention` element just started.
fn read_default_retention(reader: &mut BodyReader<'_>) -> Result<DefaultRetentionRequest, XmlError> {
    let (mut mode, mut days, mut years) = (None, None, None);
    let number = |text: String| {
        text.trim()
            .parse::<i64>()
            .map_err(|_| malformed("period is not a number"))
    };
    loop {
        match reader.next()? {
            Node::Start(start) => match start.local_name().as_ref() {
                b"Mode" => mode = Some(mode_of(&reader.text()?).ok_or(malformed("unknown retention mode"))?),
                b"Days" => days = Some(number(reader.text()?)?),
                b"Years" => years = Some(number(reader.text()?)?),
                _ => reader.skip(&start)?,
            },
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed DefaultRetention")),
        }
    }
    if days.is_some() == years.is_some() {
        return Err(malformed("DefaultRetention needs Days or Years, not both"));
    }
    Ok(DefaultRetentionRequest {
        mode: mode.ok_or(malformed("DefaultRetention without Mode"))?,
        days,
        years,
    })
}

/// The GetObjectRetention response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionDocument {
    /// The version's retention.
    pub retention: s3o_store::Retention,
}

impl XmlBody for RetentionDocument {
    fn write_into(&self, out: &mut Vec<u8>) {
        open_namespaced_root(out, "Retention");
        element(out, "Mode", mode_name(self.retention.mode));
        out.extend_from_slice(b"<RetainUntilDate>");
        write_iso8601_millis(out, self.retention.until_ms);
        out.extend_from_slice(b"</RetainUntilDate></Retention>");
    }
}

/// A PutObjectRetention body: mode and retain-until date (`None` for an empty `Retention`, which
/// removes it), the date as sent.
pub fn parse_retention(body: &[u8]) -> Result<Option<(s3o_store::RetentionMode, String)>, XmlError> {
    if body.len() > MAX_CONFIG_BODY_BYTES {
        return Err(malformed("Retention body too large"));
    }
    let mut reader = BodyReader::new(body);
    reader.open_root(b"Retention")?;
    let (mut mode, mut until) = (None, None);
    loop {
        match reader.next()? {
            Node::Start(start) => match start.local_name().as_ref() {
                b"Mode" => mode = Some(mode_of(&reader.text()?).ok_or(malformed("unknown retention mode"))?),
                b"RetainUntilDate" => until = Some(reader.text()?),
                _ => reader.skip(&start)?,
            },
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed Retention")),
        }
    }
    reader.finish()?;
    match (mode, until) {
        (Some(mode), Some(until)) => Ok(Some((mode, until))),
        (None, None) => Ok(None),
        _ => Err(malformed("Retention needs both Mode and RetainUntilDate")),
    }
}

/// The GetObjectLegalHold response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegalHoldDocument {
    /// Whether the hold is on.
    pub on: bool,
}

impl XmlBody for LegalHoldDocument {
    fn write_into(&self, out: &mut Vec<u8>) {
        open_namespaced_root(out, "LegalHold");
        element(out, "Status", if self.on { "ON" } else { "OFF" });
        out.extend_from_slice(b"</LegalHold>");
    }
}

/// A PutObjectLegalHold body: whether `Status` is `ON` (or `OFF`; anything else is malformed).
pub fn parse_legal_hold(body: &[u8]) -> Result<bool, XmlError> {
    if body.len() > MAX_CONFIG_BODY_BYTES {
        return Err(malformed("LegalHold body too large"));
    }
    let mut reader = BodyReader::new(body);
    reader.open_root(b"LegalHold")?;
    let mut status = None;
    loop {
        match reader.next()? {
            Node::Start(start) if start.local_name().as_ref() == b"Status" => status = Some(reader.text()?),
            Node::Start(start) => reader.skip(&start)?,
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed LegalHold")),
        }
    }
    reader.finish()?;
    match status.as_deref() {
        Some("ON") => Ok(true),
        Some("OFF") => Ok(false),
        _ => Err(malformed("LegalHold Status is neither ON nor OFF")),
    }
}

#[cfg(test)]
mod tests {
    use s3o_store::{DefaultRetention, Retention, RetentionMode};

    use super::*;

    const NS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

    #[test]
    fn object_lock_configuration_round_trips_and_refuses_bad_shapes() {
        let doc = ObjectLockConfiguration {
            default_retention: Some(DefaultRetention {
                mode: RetentionMode::Governance,
                days: Some(1),
                years: None,
            }),
        };
        assert_eq!(
            String::from_utf8(doc.to_vec()).unwrap(),
            format!(
                "{NS}<ObjectLockConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode>\
                 <Days>1</Days></DefaultRetention></Rule></ObjectLockConfiguration>"
            )
        );
        let body = b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>\
                     <DefaultRetention><Mode>COMPLIANCE</Mode><Years>2</Years></DefaultRetention></Rule>\
                     </ObjectLockConfiguration>";
        let got = parse_object_lock(body).unwrap().unwrap();
        assert_eq!(
            (got.mode, got.days, got.years),
            (RetentionMode::Compliance, None, Some(2))
        );
        let plain =
            b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>";
        assert_eq!(parse_object_lock(plain).unwrap(), None);
        let rule = |inner: &str| {
            format!(
                "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>\
                 <DefaultRetention>{inner}</DefaultRetention></Rule></ObjectLockConfiguration>"
            )
        };
        for bad in [
            rule("<Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years>"),
            rule("<Mode>governance</Mode><Days>1</Days>"),
            rule("<Mode>GOVERNANCE</Mode>"),
            rule("<Days>1</Days>"),
            rule("<Mode>GOVERNANCE</Mode><Days>x</Days>"),
            "<ObjectLockConfiguration><ObjectLockEnabled>Disabled</ObjectLockEnabled></ObjectLockConfiguration>".into(),
        ] {
            assert!(parse_object_lock(bad.as_bytes()).is_err(), "{bad}");
        }
        let zero = rule("<Mode>GOVERNANCE</Mode><Days>0</Days>");
        assert_eq!(
            parse_object_lock(zero.as_bytes()).unwrap().unwrap().days,
            Some(0),
            "the handler judges it"
        );
    }

    #[test]
    fn retention_and_legal_hold_round_trip() {
        let doc = RetentionDocument {
            retention: Retention {
                mode: RetentionMode::Compliance,
                until_ms: 1_000,
            },
        };
        assert_eq!(
            String::from_utf8(doc.to_vec()).unwrap(),
            format!(
                "{NS}<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>COMPLIANCE</Mode>\
                 <RetainUntilDate>1970-01-01T00:00:01.000Z</RetainUntilDate></Retention>"
            )
        );
        let body =
            b"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate></Retention>";
        let (mode, until) = parse_retention(body).unwrap().unwrap();
        assert_eq!(
            (mode, until.as_str()),
            (RetentionMode::Governance, "2030-01-01T00:00:00Z")
        );
        assert_eq!(parse_retention(b"<Retention/>").unwrap(), None);
        assert!(
            parse_retention(b"<Retention><Mode>abc</Mode><RetainUntilDate>x</RetainUntilDate></Retention>").is_err()
        );
        assert!(parse_retention(b"<Retention><Mode>GOVERNANCE</Mode></Retention>").is_err());
        let on = LegalHoldDocument { on: true }.to_vec();
        assert_eq!(
            String::from_utf8(on).unwrap(),
            format!("{NS}<LegalHold xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>ON</Status></LegalHold>")
        );
        assert!(parse_legal_hold(b"<LegalHold><Status>ON</Status></LegalHold>").unwrap());
        assert!(!parse_legal_hold(b"<LegalHold><Status>OFF</Status></LegalHold>").unwrap());
        assert!(parse_legal_hold(b"<LegalHold><Status>on</Status></LegalHold>").is_err());
    }
}
