//! Versioning documents: `VersioningConfiguration` (GetBucketVersioning answers it,
//! PutBucketVersioning sends it) and `ListVersionsResult` (ListObjectVersions), whose `Version`
//! and `DeleteMarker` entries come in the store's order (by key, newest first within a key).

use s3o_store::VersionEntry;

use super::listing::{Owner, STORAGE_CLASS};
use super::reader::{malformed, BodyReader, Node};
use super::writer::{element, escape_into, number_element, text_into, url_element, write_iso8601_millis, write_u64};
use super::{open_namespaced_root, XmlBody, XmlError};

/// Largest configuration body read (versioning, object lock, retention, legal hold): each is a
/// few elements; anything bigger is not one.
pub const MAX_CONFIG_BODY_BYTES: usize = 16 * 1024;

/// The GetBucketVersioning response: `Status` only once versioning was ever enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersioningConfiguration {
    /// `Enabled` or `Suspended`; `None` for a bucket that never had versioning.
    pub status: Option<&'static str>,
}

impl XmlBody for VersioningConfiguration {
    fn write_into(&self, out: &mut Vec<u8>) {
        open_namespaced_root(out, "VersioningConfiguration");
        if let Some(status) = self.status {
            element(out, "Status", status);
        }
        out.extend_from_slice(b"</VersioningConfiguration>");
    }
}

/// What a PutBucketVersioning body asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersioningRequest {
    /// `Enabled` or `Suspended` (anything else is MalformedXML); `None` when absent.
    pub status: Option<String>,
    /// `Enabled` or `Disabled`, when given.
    pub mfa_delete: Option<String>,
}

/// Reads a PutBucketVersioning body: `<VersioningConfiguration><Status>Enabled</Status>…`.
pub fn parse_versioning(body: &[u8]) -> Result<VersioningRequest, XmlError> {
    if body.len() > MAX_CONFIG_BODY_BYTES {
        return Err(malformed("VersioningConfiguration body too large"));
    }
    let mut reader = BodyReader::new(body);
    reader.open_root(b"VersioningConfiguration")?;
    let mut request = VersioningRequest {
        status: None,
        mfa_delete: None,
    };
    loop {
        match reader.next()? {
            Node::Start(start) => match start.local_name().as_ref() {
                b"Status" => request.status = Some(reader.text()?),
                b"MfaDelete" => request.mfa_delete = Some(reader.text()?),
                _ => reader.skip(&start)?,
            },
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed VersioningConfiguration")),
        }
    }
    reader.finish()?;
    match request.status.as_deref() {
        None | Some("Enabled" | "Suspended") => {}
        Some(_) => return Err(malformed("Status is neither Enabled nor Suspended")),
    }
    match request.mfa_delete.as_deref() {
        None | Some("Enabled" | "Disabled") => Ok(request),
        Some(_) => Err(malformed("MfaDelete is neither Enabled nor Disabled")),
    }
}

/// The ListObjectVersions response.
#[derive(Debug, Clone, Copy)]
pub struct ListVersionsResult<'a> {
    /// The bucket name.
    pub name: &'a str,
    /// The `prefix` parameter, `""` when absent.
    pub prefix: &'a str,
    /// The `key-marker` parameter, `""` when absent.
    pub key_marker: &'a str,
    /// The `version-id-marker` parameter, `""` when absent.
    pub version_id_marker: &'a str,
    /// Where the next page starts, when truncated.
    pub next_key_marker: Option<&'a str>,
    /// The version of `next_key_marker` the next page starts after, when truncated.
    pub next_version_id_marker: Option<&'a str>,
    /// The `max-keys` in effect.
    pub max_keys: usize,
    /// The `delimiter` parameter, when given.
    pub delimiter: Option<&'a str>,
    /// Whether more versions or prefixes follow.
    pub is_truncated: bool,
    /// `encoding-type=url` was asked for.
    pub encoding_type_url: bool,
    /// The owner shown in every entry that has none of its own (the bucket's owner).
    pub owner: Owner<'a>,
    /// The versions and delete markers, in order.
    pub versions: &'a [VersionEntry],
    /// The common prefixes, in order.
    pub common_prefixes: &'a [String],
}

impl XmlBody for ListVersionsResult<'_> {
    fn write_into(&self, out: &mut Vec<u8>) {
        let url = self.encoding_type_url;
        open_namespaced_root(out, "ListVersionsResult");
        element(out, "Name", self.name);
        url_element(out, "Prefix", self.prefix, url);
        url_element(out, "KeyMarker", self.key_marker, url);
        element(out, "VersionIdMarker", self.version_id_marker);
        if let Some(next) = self.next_key_marker {
            url_element(out, "NextKeyMarker", next, url);
        }
        if let Some(next) = self.next_version_id_marker {
            element(out, "NextVersionIdMarker", next);
        }
        number_element(out, "MaxKeys", self.max_keys as u64);
        if let Some(delimiter) = self.delimiter {
            url_element(out, "Delimiter", delimiter, url);
        }
        if url {
            out.extend_from_slice(b"<EncodingType>url</EncodingType>");
        }
        out.extend_from_slice(if self.is_truncated {
            b"<IsTruncated>true</IsTruncated>"
        } else {
            b"<IsTruncated>false</IsTruncated>"
        });
        let mut owner = Vec::with_capacity(64);
        self.owner.write_into(&mut owner);
        for v in self.versions {
            let tag: &[u8] = if v.meta.delete_marker {
                b"DeleteMarker"
            } else {
                b"Version"
            };
            out.push(b'<');
            out.extend_from_slice(tag);
            out.extend_from_slice(b"><Key>");
            text_into(out, &v.key, url);
            out.extend_from_slice(b"</Key><VersionId>");
            escape_into(out, &v.meta.version_id());
            out.extend_from_slice(b"</VersionId><IsLatest>");
            out.extend_from_slice(if v.is_latest { b"true" } else { b"false" });
            out.extend_from_slice(b"</IsLatest><LastModified>");
            write_iso8601_millis(out, v.meta.last_modified_ms);
            out.extend_from_slice(b"</LastModified>");
            if !v.meta.delete_marker {
                out.extend_from_slice(b"<ETag>");
                escape_into(out, &v.meta.etag);
                out.extend_from_slice(b"</ETag><Size>");
                write_u64(out, v.meta.size);
                out.extend_from_slice(b"</Size><StorageClass>");
                out.extend_from_slice(STORAGE_CLASS.as_bytes());
                out.extend_from_slice(b"</StorageClass>");
            }
            match &v.meta.owner {
                Some(own) => Owner {
                    id: own,
                    display_name: own,
                }
                .write_into(out),
                None => out.extend_from_slice(&owner),
            }
            out.extend_from_slice(b"</");
            out.extend_from_slice(tag);
            out.push(b'>');
        }
        for prefix in self.common_prefixes {
            out.extend_from_slice(b"<CommonPrefixes><Prefix>");
            text_into(out, prefix, url);
            out.extend_from_slice(b"</Prefix></CommonPrefixes>");
        }
        out.extend_from_slice(b"</ListVersionsResult>");
    }

    fn size_hint(&self) -> usize {
        let expansion = if self.encoding_type_url { 3 } else { 1 };
        let keys: usize = self.versions.iter().map(|v| v.key.len() * expansion).sum();
        let prefixes: usize = self.common_prefixes.iter().map(|p| 50 + p.len() * expansion).sum();
        512 + self.versions.len() * 400 + keys + prefixes
    }
}

#[cfg(test)]
mod tests {
    use s3o_store::ObjectMeta;

    use super::*;

    #[test]
    fn versioning_configuration_round_trips() {
        let ns = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                  <VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
        let never = VersioningConfiguration { status: None }.to_vec();
        assert_eq!(
            String::from_utf8(never).unwrap(),
            format!("{ns}</VersioningConfiguration>")
        );
        let on = VersioningConfiguration {
            status: Some("Enabled"),
        }
        .to_vec();
        assert_eq!(
            String::from_utf8(on).unwrap(),
            format!("{ns}<Status>Enabled</Status></VersioningConfiguration>")
        );
        let body = br#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
            <Status>Suspended</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>"#;
        let got = parse_versioning(body).unwrap();
        assert_eq!(got.status.as_deref(), Some("Suspended"));
        assert_eq!(got.mfa_delete.as_deref(), Some("Disabled"));
        for bad in [
            &b"<VersioningConfiguration><Status>On</Status></VersioningConfiguration>"[..],
            b"<VersioningConfiguration><Status>Enabled</Status>",
            b"<Other/>",
            b"",
        ] {
            assert!(parse_versioning(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn list_versions_result_writes_versions_and_markers_in_order() {
        let version = ObjectMeta {
            size: 3,
            etag: "\"abc\"".into(),
            last_modified_ms: 0,
            version: 0x10,
            versioned: true,
            ..ObjectMeta::default()
        };
        let marker = ObjectMeta {
            last_modified_ms: 1_000,
            version: 0x11,
            delete_marker: true,
            ..ObjectMeta::default()
        };
        let versions = [
            VersionEntry {
                key: "a b".into(),
                meta: marker,
                is_latest: true,
            },
            VersionEntry {
                key: "a b".into(),
                meta: version,
                is_latest: false,
            },
        ];
        let doc = ListVersionsResult {
            name: "bkt",
            prefix: "",
            key_marker: "",
            version_id_marker: "",
            next_key_marker: None,
            next_version_id_marker: None,
            max_keys: 1000,
            delimiter: Some("/"),
            is_truncated: false,
            encoding_type_url: false,
            owner: Owner {
                id: "o",
                display_name: "o",
            },
            versions: &versions,
            common_prefixes: &["d/".to_owned()],
        };
        let text = String::from_utf8(doc.to_vec()).unwrap();
        let owner = "<Owner><ID>o</ID><DisplayName>o</DisplayName></Owner>";
        assert_eq!(
            text,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                 <ListVersionsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>bkt</Name>\
                 <Prefix></Prefix><KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker>\
                 <MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>false</IsTruncated>\
                 <DeleteMarker><Key>a b</Key><VersionId>null</VersionId><IsLatest>true</IsLatest>\
                 <LastModified>1970-01-01T00:00:01.000Z</LastModified>{owner}</DeleteMarker>\
                 <Version><Key>a b</Key><VersionId>0000000000000010</VersionId><IsLatest>false</IsLatest>\
                 <LastModified>1970-01-01T00:00:00.000Z</LastModified><ETag>&quot;abc&quot;</ETag>\
                 <Size>3</Size><StorageClass>STANDARD</StorageClass>{owner}</Version>\
                 <CommonPrefixes><Prefix>d/</Prefix></CommonPrefixes></ListVersionsResult>"
            )
        );
    }
}
