//! The bucket access documents beside ACLs: `OwnershipControls` (Get/PutBucketOwnershipControls:
//! one rule naming the object ownership) and `PublicAccessBlockConfiguration`
//! (Get/PutPublicAccessBlock: four flags), written and read, and `PolicyStatus`
//! (GetBucketPolicyStatus). Readers check the shape and answer
//! MalformedXML for anything else.

use s3o_store::acl::{Ownership, PublicAccessBlock};

use super::reader::{malformed, trim_xml_space, BodyReader, Node};
use super::versioning::MAX_CONFIG_BODY_BYTES;
use super::writer::element;
use super::{open_namespaced_root, XmlBody, XmlError};

/// The GetBucketOwnershipControls response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnershipControls {
    /// The bucket's setting.
    pub ownership: Ownership,
}

impl XmlBody for OwnershipControls {
    fn write_into(&self, out: &mut Vec<u8>) {
        open_namespaced_root(out, "OwnershipControls");
        out.extend_from_slice(b"<Rule>");
        element(out, "ObjectOwnership", self.ownership.as_str());
        out.extend_from_slice(b"</Rule></OwnershipControls>");
    }
}

/// Reads a PutBucketOwnershipControls body: exactly one `Rule` with one known
/// `ObjectOwnership`.
pub fn parse_ownership_controls(body: &[u8]) -> Result<Ownership, XmlError> {
    if body.len() > MAX_CONFIG_BODY_BYTES {
        return Err(malformed("OwnershipControls body too large"));
    }
    let mut reader = BodyReader::new(body);
    reader.open_root(b"OwnershipControls")?;
    let mut found = None;
    loop {
        match reader.next()? {
            Node::Start(start) if start.local_name().as_ref() == b"Rule" => {
                if found.is_some() {
                    return Err(malformed("more than one ownership rule"));
                }
                found = Some(read_rule(&mut reader)?);
            }
            Node::Start(start) => reader.skip(&start)?,
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed OwnershipControls")),
        }
    }
    reader.finish()?;
    found.ok_or_else(|| malformed("no ownership rule"))
}

fn read_rule(reader: &mut BodyReader<'_>) -> Result<Ownership, XmlError> {
    let mut ownership = None;
    loop {
        match reader.next()? {
            Node::Start(start) if start.local_name().as_ref() == b"ObjectOwnership" => {
                let text = reader.text()?;
                ownership =
                    Some(Ownership::parse(trim_xml_space(&text)).ok_or_else(|| malformed("unknown ObjectOwnership"))?);
            }
            Node::Start(start) => reader.skip(&start)?,
            Node::End => return ownership.ok_or_else(|| malformed("a rule without ObjectOwnership")),
            Node::Eof => return Err(malformed("unclosed Rule")),
        }
    }
}

/// The GetBucketPolicyStatus response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyStatus {
    /// Whether the bucket's policy or ACL makes it public.
    pub is_public: bool,
}

impl XmlBody for PolicyStatus {
    fn write_into(&self, out: &mut Vec<u8>) {
        open_namespaced_root(out, "PolicyStatus");
        element(out, "IsPublic", if self.is_public { "true" } else { "false" });
        out.extend_from_slice(b"</PolicyStatus>");
    }
}

/// The GetPublicAccessBlock response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicAccessBlockConfiguration {
    /// The bucket's block.
    pub block: PublicAccessBlock,
}

impl XmlBody for PublicAccessBlockConfiguration {
    fn write_into(&self, out: &mut Vec<u8>) {
        let flag = |b: bool| if b { "true" } else { "false" };
        open_namespaced_root(out, "PublicAccessBlockConfiguration");
        element(out, "BlockPublicAcls", flag(self.block.block_public_acls));
        element(out, "IgnorePublicAcls", flag(self.block.ignore_public_acls));
        element(out, "BlockPublicPolicy", flag(self.block.block_public_policy));
        element(out, "RestrictPublicBuckets", flag(self.block.restrict_public_buckets));
        out.extend_from_slice(b"</PublicAccessBlockConfiguration>");
    }
}

/// Reads a PutPublicAccessBlock body: each flag `true` or `false` (absent: false).
pub fn parse_public_access_block(body: &[u8]) -> Result<PublicAccessBlock, XmlError> {
    if body.len() > MAX_CONFIG_BODY_BYTES {
        return Err(malformed("PublicAccessBlockConfiguration body too large"));
    }
    let mut reader = BodyReader::new(body);
    reader.open_root(b"PublicAccessBlockConfiguration")?;
    let mut block = PublicAccessBlock::default();
    loop {
        match reader.next()? {
            Node::Start(start) => {
                let slot = match start.local_name().as_ref() {
                    b"BlockPublicAcls" => &mut block.block_public_acls,
                    b"IgnorePublicAcls" => &mut block.ignore_public_acls,
                    b"BlockPublicPolicy" => &mut block.block_public_policy,
                    b"RestrictPublicBuckets" => &mut block.restrict_public_buckets,
                    _ => {
                        reader.skip(&start)?;
                        continue;
                    }
                };
                *slot = match trim_xml_space(&reader.text()?) {
                    "true" | "TRUE" | "True" => true,
                    "false" | "FALSE" | "False" => false,
                    _ => return Err(malformed("a public access block flag must be true or false")),
                };
            }
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed PublicAccessBlockConfiguration")),
        }
    }
    reader.finish()?;
    Ok(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";

    #[test]
    fn ownership_controls_round_trip() {
        let text = OwnershipControls {
            ownership: Ownership::BucketOwnerEnforced,
        }
        .to_vec();
        assert_eq!(parse_ownership_controls(&text).unwrap(), Ownership::BucketOwnerEnforced);
        let two = format!(
            "<OwnershipControls {NS}><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule>\
             <Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule></OwnershipControls>"
        );
        for bad in [
            two.as_str(),
            "<OwnershipControls/>",
            "<OwnershipControls><Rule><ObjectOwnership>Mine</ObjectOwnership></Rule></OwnershipControls>",
            "<OwnershipControls><Rule></Rule></OwnershipControls>",
            "<Other/>",
        ] {
            assert!(parse_ownership_controls(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn public_access_blocks_round_trip() {
        let block = PublicAccessBlock {
            block_public_acls: true,
            ignore_public_acls: false,
            block_public_policy: true,
            restrict_public_buckets: true,
        };
        let text = PublicAccessBlockConfiguration { block }.to_vec();
        assert_eq!(parse_public_access_block(&text).unwrap(), block);
        let partial = format!("<PublicAccessBlockConfiguration {NS}><IgnorePublicAcls>true</IgnorePublicAcls></PublicAccessBlockConfiguration>");
        assert_eq!(
            parse_public_access_block(partial.as_bytes()).unwrap(),
            PublicAccessBlock {
                ignore_public_acls: true,
                ..PublicAccessBlock::default()
            }
        );
        let bad =
            "<PublicAccessBlockConfiguration><BlockPublicAcls>yes</BlockPublicAcls></PublicAccessBlockConfiguration>";
        assert!(parse_public_access_block(bad.as_bytes()).is_err());
    }
}
