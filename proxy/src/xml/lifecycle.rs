//! `LifecycleConfiguration` (Get/PutBucketLifecycleConfiguration): rules with an id, a status, a
//! filter (the rule's own `Prefix` of the older form, or `Filter` with a prefix, tags, size
//! bounds, several under `And`) and their actions, written and read. The reader checks the shape
//! (MalformedXML: unknown status, two filters, an action twice, numbers that are not numbers)
//! and leaves S3's rules on values to `s3o_store::lifecycle::validate`. Transitions are read far
//! enough to refuse a malformed date, then refused as not implemented.

use s3o_store::lifecycle::{Expiration, LifecycleRule, NoncurrentExpiration, RuleError, RuleFilter};
use s3o_store::policy::condition::parse_time;

use super::reader::{malformed, trim_xml_space, BodyReader, Node};
use super::writer::{element, number_element};
use super::{open_namespaced_root, XmlBody, XmlError};

/// Largest LifecycleConfiguration body read (S3 allows 1000 rules of a few hundred bytes).
pub const MAX_LIFECYCLE_BODY_BYTES: usize = 512 * 1024;

/// The GetBucketLifecycleConfiguration response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleConfiguration<'a> {
    /// The rules.
    pub rules: &'a [LifecycleRule],
}

fn write_filter(out: &mut Vec<u8>, f: &RuleFilter) {
    let and = f.conditions() > 1;
    out.extend_from_slice(if and { b"<Filter><And>" } else { b"<Filter>" });
    if !f.prefix.is_empty() {
        element(out, "Prefix", &f.prefix);
    }
    for (k, v) in &f.tags {
        out.extend_from_slice(b"<Tag>");
        element(out, "Key", k);
        element(out, "Value", v);
        out.extend_from_slice(b"</Tag>");
    }
    if let Some(n) = f.size_greater_than {
        number_element(out, "ObjectSizeGreaterThan", n);
    }
    if let Some(n) = f.size_less_than {
        number_element(out, "ObjectSizeLessThan", n);
    }
    out.extend_from_slice(if and { b"</And></Filter>" } else { b"</Filter>" });
}

impl XmlBody for LifecycleConfiguration<'_> {
    fn write_into(&self, out: &mut Vec<u8>) {
        open_namespaced_root(out, "LifecycleConfiguration");
        for r in self.rules {
            out.extend_from_slice(b"<Rule>");
            element(out, "ID", &r.id);
            if r.legacy_prefix {
                element(out, "Prefix", &r.filter.prefix);
            } else {
                write_filter(out, &r.filter);
            }
            element(out, "Status", if r.enabled { "Enabled" } else { "Disabled" });
            match &r.expiration {
                Some(Expiration::Days(d)) => {
                    out.extend_from_slice(b"<Expiration>");
                    number_element(out, "Days", u64::from(*d));
                    out.extend_from_slice(b"</Expiration>");
                }
                Some(Expiration::Date { text, .. }) => {
                    out.extend_from_slice(b"<Expiration>");
                    element(out, "Date", text);
                    out.extend_from_slice(b"</Expiration>");
                }
                Some(Expiration::ExpiredObjectDeleteMarker) => out.extend_from_slice(
                    b"<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>",
                ),
                None => {}
            }
            if let Some(n) = &r.noncurrent {
                out.extend_from_slice(b"<NoncurrentVersionExpiration>");
                number_element(out, "NoncurrentDays", u64::from(n.days));
                if let Some(k) = n.newer_versions {
                    number_element(out, "NewerNoncurrentVersions", u64::from(k));
                }
                out.extend_from_slice(b"</NoncurrentVersionExpiration>");
            }
            if let Some(d) = r.abort_multipart_days {
                out.extend_from_slice(b"<AbortIncompleteMultipartUpload>");
                number_element(out, "DaysAfterInitiation", u64::from(d));
                out.extend_from_slice(b"</AbortIncompleteMultipartUpload>");
            }
            out.extend_from_slice(b"</Rule>");
        }
        out.extend_from_slice(b"</LifecycleConfiguration>");
    }

    fn size_hint(&self) -> usize {
        200 + self.rules.len() * 300
    }
}

/// Why a lifecycle configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleError {
    /// Not a well-formed LifecycleConfiguration (MalformedXML).
    Malformed(XmlError),
    /// A value S3 refuses.
    Invalid(RuleError),
    /// A transition (storage classes mean nothing here): NotImplemented.
    Transition,
}

impl From<XmlError> for LifecycleError {
    fn from(e: XmlError) -> Self {
        LifecycleError::Malformed(e)
    }
}

/// Reads a PutBucketLifecycleConfiguration body (rules without an id get `rule-N`).
pub fn parse_lifecycle(body: &[u8]) -> Result<Vec<LifecycleRule>, LifecycleError> {
    if body.len() > MAX_LIFECYCLE_BODY_BYTES {
        return Err(malformed("LifecycleConfiguration body too large").into());
    }
    let mut reader = BodyReader::new(body);
    reader.open_root(b"LifecycleConfiguration")?;
    let mut rules = Vec::new();
    let mut transition = false;
    loop {
        match reader.next()? {
            Node::Start(start) if start.local_name().as_ref() == b"Rule" => {
                let (rule, t) = read_rule(&mut reader)?;
                transition |= t;
                rules.push(rule);
            }
            Node::Start(start) => reader.skip(&start)?,
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed LifecycleConfiguration").into()),
        }
    }
    reader.finish()?;
    if rules.is_empty() {
        return Err(malformed("no Rule").into());
    }
    let mut n = 0;
    for i in 0..rules.len() {
        if rules[i].id.is_empty() {
            rules[i].id = loop {
                n += 1;
                let id = format!("rule-{n}");
                if !rules.iter().any(|r| r.id == id) {
                    break id;
                }
            };
        }
    }
    if transition {
        return Err(LifecycleError::Transition);
    }
    s3o_store::lifecycle::validate(&rules).map_err(LifecycleError::Invalid)?;
    Ok(rules)
}

/// The text of the element just started, trimmed.
fn text(reader: &mut BodyReader<'_>) -> Result<String, XmlError> {
    Ok(trim_xml_space(&reader.text()?).to_owned())
}

fn number<T: std::str::FromStr>(reader: &mut BodyReader<'_>, what: &'static str) -> Result<T, XmlError> {
    text(reader)?.parse().map_err(|_| malformed(what))
}

/// An ISO 8601 date at which S3 acts: `2026-12-06` or `2026-12-06T00:00:00[.000]Z`.
fn date(text: &str) -> Result<i64, LifecycleError> {
    let iso = text.len() >= 10 && text.as_bytes().get(4) == Some(&b'-') && text.as_bytes().get(7) == Some(&b'-');
    match parse_time(text) {
        Some(secs) if iso => Ok(secs),
        _ => Err(LifecycleError::Invalid(RuleError::InvalidArgument(
            "Invalid date: the date must be in ISO 8601 format",
        ))),
    }
}

/// One `Rule`, and whether it has a transition.
fn read_rule(reader: &mut BodyReader<'_>) -> Result<(LifecycleRule, bool), LifecycleError> {
    let mut rule = LifecycleRule::default();
    let (mut status, mut filter_seen, mut transition) = (None, false, false);
    let twice = |seen: bool, what| if seen { Err(malformed(what)) } else { Ok(()) };
    loop {
        match reader.next()? {
            Node::Start(start) => match start.local_name().as_ref() {
                b"ID" => rule.id = text(reader)?,
                b"Status" => status = Some(text(reader)?),
                b"Prefix" => {
                    twice(filter_seen, "a rule with more than one filter")?;
                    filter_seen = true;
                    rule.legacy_prefix = true;
                    rule.filter.prefix = text(reader)?;
                }
                b"Filter" => {
                    twice(filter_seen, "a rule with more than one filter")?;
                    filter_seen = true;
                    rule.filter = read_filter(reader, false)?;
                }
                b"Expiration" => {
                    twice(rule.expiration.is_some(), "more than one Expiration")?;
                    rule.expiration = Some(read_expiration(reader)?);
                }
                b"NoncurrentVersionExpiration" => {
                    twice(rule.noncurrent.is_some(), "more than one NoncurrentVersionExpiration")?;
                    rule.noncurrent = Some(read_noncurrent(reader)?);
                }
                b"AbortIncompleteMultipartUpload" => {
                    twice(
                        rule.abort_multipart_days.is_some(),
                        "more than one AbortIncompleteMultipartUpload",
                    )?;
                    rule.abort_multipart_days = Some(read_abort(reader)?);
                }
                b"Transition" | b"NoncurrentVersionTransition" => {
                    read_transition(reader)?;
                    transition = true;
                }
                _ => reader.skip(&start)?,
            },
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed Rule").into()),
        }
    }
    rule.enabled = match status.as_deref() {
        Some("Enabled") => true,
        Some("Disabled") => false,
        _ => return Err(malformed("Status must be Enabled or Disabled").into()),
    };
    Ok((rule, transition))
}

/// A `Filter` (or the `And` inside one).
fn read_filter(reader: &mut BodyReader<'_>, in_and: bool) -> Result<RuleFilter, XmlError> {
    let mut f = RuleFilter::default();
    let mut count = 0;
    loop {
        match reader.next()? {
            Node::Start(start) => {
                count += 1;
                match start.local_name().as_ref() {
                    b"Prefix" => f.prefix = text(reader)?,
                    b"Tag" => {
                        let (mut key, mut value) = (None, String::new());
                        loop {
                            match reader.next()? {
                                Node::Start(s) if s.local_name().as_ref() == b"Key" => key = Some(reader.text()?),
                                Node::Start(s) if s.local_name().as_ref() == b"Value" => value = reader.text()?,
                                Node::Start(s) => reader.skip(&s)?,
                                Node::End => break,
                                Node::Eof => return Err(malformed("unclosed Tag")),
                            }
                        }
                        f.tags.push((key.ok_or(malformed("Tag without Key"))?, value));
                    }
                    b"ObjectSizeGreaterThan" => {
                        f.size_greater_than = Some(number(reader, "bad ObjectSizeGreaterThan")?)
                    }
                    b"ObjectSizeLessThan" => f.size_less_than = Some(number(reader, "bad ObjectSizeLessThan")?),
                    b"And" if !in_and => {
                        let inner = read_filter(reader, true)?;
                        f = inner;
                    }
                    _ => return Err(malformed("unknown element in a lifecycle Filter")),
                }
            }
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed Filter")),
        }
    }
    if !in_and && count > 1 {
        return Err(malformed("a Filter holds one condition, or several under And"));
    }
    Ok(f)
}

fn read_expiration(reader: &mut BodyReader<'_>) -> Result<Expiration, LifecycleError> {
    let mut found = Vec::new();
    loop {
        match reader.next()? {
            Node::Start(start) => match start.local_name().as_ref() {
                b"Days" => found.push(Expiration::Days(number(reader, "Days is not a number")?)),
                b"Date" => {
                    let t = text(reader)?;
                    found.push(Expiration::Date {
                        secs: date(&t)?,
                        text: t,
                    });
                }
                b"ExpiredObjectDeleteMarker" => match text(reader)?.as_str() {
                    "true" => found.push(Expiration::ExpiredObjectDeleteMarker),
                    "false" => {}
                    _ => return Err(malformed("ExpiredObjectDeleteMarker must be true or false").into()),
                },
                _ => reader.skip(&start)?,
            },
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed Expiration").into()),
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        _ => Err(malformed("an Expiration holds exactly one of Days, Date and ExpiredObjectDeleteMarker").into()),
    }
}

fn read_noncurrent(reader: &mut BodyReader<'_>) -> Result<NoncurrentExpiration, XmlError> {
    let (mut days, mut newer) = (None, None);
    loop {
        match reader.next()? {
            Node::Start(start) => match start.local_name().as_ref() {
                b"NoncurrentDays" => days = Some(number(reader, "NoncurrentDays is not a number")?),
                b"NewerNoncurrentVersions" => newer = Some(number(reader, "NewerNoncurrentVersions is not a number")?),
                _ => reader.skip(&start)?,
            },
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed NoncurrentVersionExpiration")),
        }
    }
    Ok(NoncurrentExpiration {
        days: days.ok_or(malformed("NoncurrentVersionExpiration without NoncurrentDays"))?,
        newer_versions: newer,
    })
}

fn read_abort(reader: &mut BodyReader<'_>) -> Result<u32, XmlError> {
    let mut days = None;
    loop {
        match reader.next()? {
            Node::Start(start) if start.local_name().as_ref() == b"DaysAfterInitiation" => {
                days = Some(number(reader, "DaysAfterInitiation is not a number")?);
            }
            Node::Start(start) => reader.skip(&start)?,
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed AbortIncompleteMultipartUpload")),
        }
    }
    days.ok_or(malformed("AbortIncompleteMultipartUpload without DaysAfterInitiation"))
}

/// A transition: its date or days checked, the rest skipped.
fn read_transition(reader: &mut BodyReader<'_>) -> Result<(), LifecycleError> {
    loop {
        match reader.next()? {
            Node::Start(start) => match start.local_name().as_ref() {
                b"Date" => {
                    date(&text(reader)?)?;
                }
                b"Days" | b"NoncurrentDays" => {
                    number::<u32>(reader, "transition days are not a number")?;
                }
                _ => reader.skip(&start)?,
            },
            Node::End => return Ok(()),
            Node::Eof => return Err(malformed("unclosed Transition").into()),
        }
    }
}

#[cfg(test)]
mod tests;
