//! Access control policies: the `AccessControlPolicy` document GetBucketAcl / GetObjectAcl
//! answer and PutBucketAcl / PutObjectAcl send (an owner and grants, each grantee typed by
//! `xsi:type`: CanonicalUser by ID, Group by URI, AmazonCustomerByEmail by address). A canonical
//! user's display name is its id here.

use s3o_store::acl::{Acl, Grant, Grantee, Permission, MAX_GRANTS};

use super::reader::{malformed, trim_xml_space, BodyReader, Node};
use super::writer::{element, escape_into};
use super::{open_namespaced_root, XmlBody, XmlError};

/// Largest AccessControlPolicy body read: 100 grants of long ids and URIs come to ~40 KB.
pub const MAX_ACL_BODY_BYTES: usize = 64 * 1024;

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// The Get*Acl response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessControlPolicy<'a> {
    /// The ACL.
    pub acl: &'a Acl,
}

/// Appends one `<Grantee>`.
fn write_grantee(out: &mut Vec<u8>, grantee: &Grantee) {
    let (kind, name, value) = match grantee {
        Grantee::CanonicalUser { id } => ("CanonicalUser", "ID", id),
        Grantee::Group { uri } => ("Group", "URI", uri),
        Grantee::Email { address } => ("AmazonCustomerByEmail", "EmailAddress", address),
    };
    out.extend_from_slice(format!("<Grantee xmlns:xsi=\"{XSI}\" xsi:type=\"{kind}\">").as_bytes());
    element(out, name, value);
    if let Grantee::CanonicalUser { id } = grantee {
        element(out, "DisplayName", id);
    }
    out.extend_from_slice(b"</Grantee>");
}

impl XmlBody for AccessControlPolicy<'_> {
    fn write_into(&self, out: &mut Vec<u8>) {
        open_namespaced_root(out, "AccessControlPolicy");
        out.extend_from_slice(b"<Owner>");
        element(out, "ID", &self.acl.owner);
        element(out, "DisplayName", &self.acl.owner);
        out.extend_from_slice(b"</Owner><AccessControlList>");
        // An ACL is a set: grants to groups are listed first, then users, then addresses (the
        // order S3 servers answer with), each kind in the order given.
        let kind = |g: &&Grant| match g.grantee {
            Grantee::Group { .. } => 0,
            Grantee::CanonicalUser { .. } => 1,
            Grantee::Email { .. } => 2,
        };
        let mut grants: Vec<&Grant> = self.acl.grants.iter().collect();
        grants.sort_by_key(kind);
        for g in grants {
            out.extend_from_slice(b"<Grant>");
            write_grantee(out, &g.grantee);
            out.extend_from_slice(b"<Permission>");
            escape_into(out, g.permission.as_str());
            out.extend_from_slice(b"</Permission></Grant>");
        }
        out.extend_from_slice(b"</AccessControlList></AccessControlPolicy>");
    }

    fn size_hint(&self) -> usize {
        300 + self.acl.owner.len() * 2 + self.acl.grants.len() * 260
    }
}

/// What a PutBucketAcl / PutObjectAcl body says: the owner id it names (if any) and the grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclRequest {
    /// `Owner/ID`, which must be the resource's owner.
    pub owner: Option<String>,
    /// The grants, in order.
    pub grants: Vec<Grant>,
}

/// Reads an AccessControlPolicy body. MalformedXML for a body that is not well-formed, a grant
/// without exactly one grantee and one permission, an unknown permission or grantee type, a
/// grantee without its identifying element, more than [`MAX_GRANTS`] grants, or more than
/// [`MAX_ACL_BODY_BYTES`].
pub fn parse_access_control_policy(body: &[u8]) -> Result<AclRequest, XmlError> {
    if body.len() > MAX_ACL_BODY_BYTES {
        return Err(malformed("AccessControlPolicy body too large"));
    }
    let mut reader = BodyReader::new(body);
    reader.open_root(b"AccessControlPolicy")?;
    let mut out = AclRequest {
        owner: None,
        grants: Vec::new(),
    };
    loop {
        match reader.next()? {
            Node::Start(start) => match start.local_name().as_ref() {
                b"Owner" => out.owner = read_owner(&mut reader)?,
                b"AccessControlList" => read_grants(&mut reader, &mut out.grants)?,
                _ => reader.skip(&start)?,
            },
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed AccessControlPolicy")),
        }
    }
    reader.finish()?;
    Ok(out)
}

fn read_owner(reader: &mut BodyReader<'_>) -> Result<Option<String>, XmlError> {
    let mut id = None;
    loop {
        match reader.next()? {
            Node::Start(start) if start.local_name().as_ref() == b"ID" => {
                id = Some(trim_xml_space(&reader.text()?).to_owned())
            }
            Node::Start(start) => reader.skip(&start)?,
            Node::End => return Ok(id),
            Node::Eof => return Err(malformed("unclosed Owner")),
        }
    }
}

fn read_grants(reader: &mut BodyReader<'_>, grants: &mut Vec<Grant>) -> Result<(), XmlError> {
    loop {
        match reader.next()? {
            Node::Start(start) if start.local_name().as_ref() == b"Grant" => {
                if grants.len() >= MAX_GRANTS {
                    return Err(malformed("too many grants"));
                }
                grants.push(read_grant(reader)?);
            }
            Node::Start(start) => reader.skip(&start)?,
            Node::End => return Ok(()),
            Node::Eof => return Err(malformed("unclosed AccessControlList")),
        }
    }
}

fn read_grant(reader: &mut BodyReader<'_>) -> Result<Grant, XmlError> {
    let mut grantee = None;
    let mut permission = None;
    loop {
        match reader.next()? {
            Node::Start(start) => match start.local_name().as_ref() {
                b"Grantee" if grantee.is_some() => return Err(malformed("more than one Grantee")),
                b"Grantee" => {
                    let kind = start
                        .attributes()
                        .flatten()
                        .find(|a| a.key.local_name().as_ref() == b"type")
                        .map(|a| String::from_utf8_lossy(&a.value).into_owned());
                    grantee = Some(read_grantee(reader, kind.as_deref())?);
                }
                b"Permission" if permission.is_some() => return Err(malformed("more than one Permission")),
                b"Permission" => {
                    let text = reader.text()?;
                    permission = Some(Permission::parse(trim_xml_space(&text)).ok_or(malformed("unknown Permission"))?);
                }
                _ => reader.skip(&start)?,
            },
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed Grant")),
        }
    }
    Ok(Grant {
        grantee: grantee.ok_or(malformed("Grant without Grantee"))?,
        permission: permission.ok_or(malformed("Grant without Permission"))?,
    })
}

/// The grantee of the `<Grantee>` just started, typed by its `xsi:type` (or, without one, by the
/// element it carries).
fn read_grantee(reader: &mut BodyReader<'_>, kind: Option<&str>) -> Result<Grantee, XmlError> {
    let (mut id, mut uri, mut email) = (None, None, None);
    loop {
        match reader.next()? {
            Node::Start(start) => {
                let slot = match start.local_name().as_ref() {
                    b"ID" => &mut id,
                    b"URI" => &mut uri,
                    b"EmailAddress" => &mut email,
                    _ => {
                        reader.skip(&start)?;
                        continue;
                    }
                };
                *slot = Some(trim_xml_space(&reader.text()?).to_owned());
            }
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed Grantee")),
        }
    }
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    match kind {
        Some("CanonicalUser") => nonempty(id).map(|id| Grantee::CanonicalUser { id }),
        Some("Group") => nonempty(uri).map(|uri| Grantee::Group { uri }),
        Some("AmazonCustomerByEmail") => nonempty(email).map(|address| Grantee::Email { address }),
        Some(_) => None,
        None => nonempty(id)
            .map(|id| Grantee::CanonicalUser { id })
            .or_else(|| nonempty(uri).map(|uri| Grantee::Group { uri }))
            .or_else(|| nonempty(email).map(|address| Grantee::Email { address })),
    }
    .ok_or(malformed("Grantee without a valid type and identifier"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3o_store::acl::{Canned, ALL_USERS};

    #[test]
    fn writes_and_reads_back_a_policy() {
        let mut acl = Canned::PublicRead.expand("AKIAOWNER", "AKIAOWNER");
        acl.grants.push(Grant {
            grantee: Grantee::Email {
                address: "a&b@example.org".into(),
            },
            permission: Permission::WriteAcp,
        });
        let bytes = AccessControlPolicy { acl: &acl }.to_vec();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AccessControlPolicy xmlns="));
        assert!(text.contains(
            "<Owner><ID>AKIAOWNER</ID><DisplayName>AKIAOWNER</DisplayName></Owner><AccessControlList><Grant>"
        ));
        assert!(text.contains(
            "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\">\
             <ID>AKIAOWNER</ID><DisplayName>AKIAOWNER</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant>"
        ));
        assert!(text.contains(&format!(
            "xsi:type=\"Group\"><URI>{ALL_USERS}</URI></Grantee><Permission>READ</Permission>"
        )));
        assert!(text.contains("<EmailAddress>a&amp;b@example.org</EmailAddress>"));
        let back = parse_access_control_policy(&bytes).unwrap();
        assert_eq!(back.owner.as_deref(), Some("AKIAOWNER"));
        assert_eq!(back.grants, acl.grants);
    }

    #[test]
    fn refuses_what_s3_refuses() {
        let wrap = |grants: &str| {
            format!("<AccessControlPolicy><AccessControlList>{grants}</AccessControlList></AccessControlPolicy>")
        };
        let user = "<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>u</ID></Grantee>";
        for bad in [
            wrap(&format!("<Grant>{user}<Permission>SUPERUSER</Permission></Grant>")),
            wrap(&format!("<Grant>{user}</Grant>")),
            wrap("<Grant><Permission>READ</Permission></Grant>"),
            wrap("<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"Group\"><ID>u</ID></Grantee><Permission>READ</Permission></Grant>"),
            wrap(&format!("<Grant>{user}{user}<Permission>READ</Permission></Grant>")),
            wrap(&format!("<Grant>{user}<Permission>READ</Permission></Grant>").repeat(MAX_GRANTS + 1)),
            "<AccessControlPolicy><AccessControlList>".into(),
        ] {
            assert!(parse_access_control_policy(bad.as_bytes()).is_err(), "{bad}");
        }
        let untyped = wrap("<Grant><Grantee><URI> http://acs.amazonaws.com/groups/global/AllUsers </URI></Grantee><Permission>READ</Permission></Grant>");
        let ok = parse_access_control_policy(untyped.as_bytes()).unwrap();
        assert_eq!(ok.grants[0].grantee, Grantee::Group { uri: ALL_USERS.into() });
        assert_eq!(ok.owner, None);
    }
}
