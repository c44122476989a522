//! Multipart uploads: the `InitiateMultipartUploadResult`, `CompleteMultipartUploadResult`,
//! `ListPartsResult` and `ListMultipartUploadsResult` documents, the `CompleteMultipartUpload`
//! request body, and [`checksum_element`], the one mapping from a checksum algorithm to the element
//! S3 carries it in (shared with CopyObject and GetObjectAttributes).
//!
//! Element order is S3's wire order as in the AWS examples (Initiator and Owner before
//! StorageClass and the markers in ListParts), not the reference's "Response Syntax". The parser
//! checks shape and counts only; part order and duplicates are the handler's (InvalidPartOrder).

use super::listing::{Owner, STORAGE_CLASS};
use super::reader::{malformed, trim_xml_space, BodyReader, Node};
use super::writer::{element, escape_into, number_element, text_into, url_element, write_iso8601_millis, write_u64};
use super::{open_namespaced_root, XmlBody, XmlError};

/// Most parts one multipart upload may have; S3 answers MalformedXML for a longer part list.
pub const MAX_PARTS: usize = 10_000;

/// Largest CompleteMultipartUpload body read: 10,000 parts at ~800 bytes each (quoted ETag, all
/// five checksums, prefixed names, indentation), four times the ~200 bytes a typical part takes.
pub const MAX_COMPLETE_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Checksum algorithms as the proxy names them (lowercase), with their elements, in S3's order.
const CHECKSUM_ELEMENTS: [(&str, &str); 5] = [
    ("crc32", "ChecksumCRC32"),
    ("crc32c", "ChecksumCRC32C"),
    ("crc64nvme", "ChecksumCRC64NVME"),
    ("sha1", "ChecksumSHA1"),
    ("sha256", "ChecksumSHA256"),
];

/// The element carrying a checksum of `alg` (`crc32c`, any case), e.g. `ChecksumCRC32C`.
pub fn checksum_element(alg: &str) -> Option<&'static str> {
    CHECKSUM_ELEMENTS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(alg))
        .map(|&(_, element)| element)
}

/// The algorithm (lowercase) whose checksum element is named `local_name`.
fn checksum_alg(local_name: &[u8]) -> Option<&'static str> {
    CHECKSUM_ELEMENTS
        .iter()
        .find(|(_, element)| element.as_bytes() == local_name)
        .map(|&(name, _)| name)
}

/// Appends `<ChecksumXXX>value</ChecksumXXX>` per (algorithm, value), in S3's order (CRC32,
/// CRC32C, CRC64NVME, SHA1, SHA256) whatever the order given; unknown algorithms are skipped.
pub(crate) fn checksums_into(out: &mut Vec<u8>, checksums: &[(String, String)]) {
    for (name, element_name) in CHECKSUM_ELEMENTS {
        for (alg, value) in checksums {
            if alg.eq_ignore_ascii_case(name) {
                element(out, element_name, value);
            }
        }
    }
}

/// An upper bound on what [`checksums_into`] appends.
pub(crate) fn checksums_size_hint(checksums: &[(String, String)]) -> usize {
    checksums.iter().map(|(_, value)| 40 + value.len() * 6).sum()
}

/// Appends `<tag><ID/><DisplayName/></tag>` (Initiator or Owner).
fn person_into(out: &mut Vec<u8>, tag: &str, owner: Owner<'_>) {
    out.push(b'<');
    out.extend_from_slice(tag.as_bytes());
    out.push(b'>');
    element(out, "ID", owner.id);
    element(out, "DisplayName", owner.display_name);
    out.extend_from_slice(b"</");
    out.extend_from_slice(tag.as_bytes());
    out.push(b'>');
}

/// Appends `<IsTruncated>true|false</IsTruncated>`.
fn truncated_into(out: &mut Vec<u8>, is_truncated: bool) {
    out.extend_from_slice(if is_truncated {
        b"<IsTruncated>true</IsTruncated>"
    } else {
        b"<IsTruncated>false</IsTruncated>"
    });
}

/// The CreateMultipartUpload response: `<Bucket/><Key/><UploadId/>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitiateMultipartUploadResult<'a> {
    /// The bucket name.
    pub bucket: &'a str,
    /// The object key.
    pub key: &'a str,
    /// The new upload's id.
    pub upload_id: &'a str,
}

impl XmlBody for InitiateMultipartUploadResult<'_> {
    fn write_into(&self, out: &mut Vec<u8>) {
        open_namespaced_root(out, "InitiateMultipartUploadResult");
        element(out, "Bucket", self.bucket);
        element(out, "Key", self.key);
        element(out, "UploadId", self.upload_id);
        out.extend_from_slice(b"</InitiateMultipartUploadResult>");
    }

    fn size_hint(&self) -> usize {
        256 + (self.bucket.len() + self.key.len() + self.upload_id.len()) * 6
    }
}

/// The CompleteMultipartUpload response: `<Location/><Bucket/><Key/><ETag/>` and the checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompleteMultipartUploadResult<'a> {
    /// The object's URL.
    pub location: &'a str,
    /// The bucket name.
    pub bucket: &'a str,
    /// The object key.
    pub key: &'a str,
    /// The quoted multipart ETag, e.g. `"…-3"`.
    pub etag: &'a str,
    /// (algorithm, base64 value) pairs, e.g. `("crc32c", "yZRlqg==")`.
    pub checksums: &'a [(String, String)],
}

impl XmlBody for CompleteMultipartUploadResult<'_> {
    fn write_into(&self, out: &mut Vec<u8>) {
        open_namespaced_root(out, "CompleteMultipartUploadResult");
        element(out, "Location", self.location);
        element(out, "Bucket", self.bucket);
        element(out, "Key", self.key);
        element(out, "ETag", self.etag);
        checksums_into(out, self.checksums);
        out.extend_from_slice(b"</CompleteMultipartUploadResult>");
    }

    fn size_hint(&self) -> usize {
        let strings = self.location.len() + self.bucket.len() + self.key.len() + self.etag.len();
        256 + strings * 6 + checksums_size_hint(self.checksums)
    }
}

/// One `Part` of a CompleteMultipartUpload body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompletedPart {
    /// The part number as given (range and order are not checked here).
    pub part_number: u32,
    /// The ETag as given, trimmed, quotes kept.
    pub etag: String,
    /// (lowercase algorithm, value) per checksum element, e.g. `("crc32c", "yZRlqg==")`.
    pub checksums: Vec<(String, String)>,
}

/// Reads a CompleteMultipartUpload body:
/// `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"…"</ETag></Part>…`.
///
/// Whitespace, namespaces and element order do not matter; unknown elements are skipped. The
/// parts come back in body order. MalformedXML for bodies that are not well-formed, have no `Part`
/// or more than [`MAX_PARTS`], a `Part` without exactly one `ETag` and one `PartNumber` that is a
/// u32, or more than [`MAX_COMPLETE_BODY_BYTES`].
pub fn parse_complete_multipart_upload(body: &[u8]) -> Result<Vec<CompletedPart>, XmlError> {
    if body.len() > MAX_COMPLETE_BODY_BYTES {
        return Err(malformed("CompleteMultipartUpload body too large"));
    }
    let mut reader = BodyReader::new(body);
    reader.open_root(b"CompleteMultipartUpload")?;
    let mut parts = Vec::new();
    loop {
        match reader.next()? {
            Node::Start(start) if start.local_name().as_ref() == b"Part" => {
                if parts.len() == MAX_PARTS {
                    return Err(malformed("more than 10000 parts"));
                }
                parts.push(read_part(&mut reader)?);
            }
            Node::Start(start) => reader.skip(&start)?,
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed CompleteMultipartUpload")),
        }
    }
    reader.finish()?;
    if parts.is_empty() {
        return Err(malformed("no parts"));
    }
    Ok(parts)
}

/// The `Part` element just started.
fn read_part(reader: &mut BodyReader<'_>) -> Result<CompletedPart, XmlError> {
    let mut part_number = None;
    let mut etag = None;
    let mut checksums = Vec::new();
    loop {
        match reader.next()? {
            Node::Start(start) => match start.local_name().as_ref() {
                b"PartNumber" => {
                    if part_number.is_some() {
                        return Err(malformed("more than one PartNumber in a Part"));
                    }
                    let text = reader.text()?;
                    let number = trim_xml_space(&text).parse::<u32>();
                    part_number = Some(number.map_err(|_| malformed("PartNumber is not a number"))?);
                }
                b"ETag" => {
                    if etag.is_some() {
                        return Err(malformed("more than one ETag in a Part"));
                    }
                    etag = Some(trim_xml_space(&reader.text()?).to_owned());
                }
                name => match checksum_alg(name) {
                    Some(alg) => checksums.push((alg.to_owned(), trim_xml_space(&reader.text()?).to_owned())),
                    None => reader.skip(&start)?,
                },
            },
            Node::End => break,
            Node::Eof => return Err(malformed("unclosed Part")),
        }
    }
    Ok(CompletedPart {
        part_number: part_number.ok_or(malformed("Part without PartNumber"))?,
        etag: etag.ok_or(malformed("Part without ETag"))?,
        checksums,
    })
}

/// One part of a ListParts answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartEntry<'a> {
    /// The part number.
    pub part_number: u32,
    /// When the part was uploaded, milliseconds since the Unix epoch.
    pub last_modified_ms: u64,
    /// The part's quoted ETag.
    pub etag: &'a str,
    /// Size in bytes.
    pub size: u64,
    /// (algorithm, value) pairs, as in [`CompleteMultipartUploadResult::checksums`].
    pub checksums: &'a [(String, String)],
}

/// The ListParts response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListPartsResult<'a> {
    /// The bucket name.
    pub bucket: &'a str,
    /// The object key.
    pub key: &'a str,
    /// The upload id.
    pub upload_id: &'a str,
    /// The `part-number-marker` parameter, 0 when absent.
    pub part_number_marker: u32,
    /// Where the next page starts, when truncated.
    pub next_part_number_marker: Option<u32>,
    /// The `max-parts` in effect.
    pub max_parts: u32,
    /// Whether more parts follow.
    pub is_truncated: bool,
    /// The parts, in part-number order.
    pub parts: &'a [PartEntry<'a>],
    /// Written as both Initiator and Owner.
    pub owner: Owner<'a>,
    /// The upload's storage class, e.g. `STANDARD`.
    pub storage_class: &'a str,
    /// The upload's checksum algorithm (`crc32c` or `CRC32C`), written uppercase.
    pub checksum_algorithm: Option<&'a str>,
}

impl XmlBody for ListPartsResult<'_> {
    fn write_into(&self, out: &mut Vec<u8>) {
        open_namespaced_root(out, "ListPartsResult");
        element(out, "Bucket", self.bucket);
        element(out, "Key", self.key);
        element(out, "UploadId", self.upload_id);
        person_into(out, "Initiator", self.owner);
        person_into(out, "Owner", self.owner);
        element(out, "StorageClass", self.storage_class);
        number_element(out, "PartNumberMarker", u64::from(self.part_number_marker));
        if let Some(next) = self.next_part_number_marker {
            number_element(out, "NextPartNumberMarker", u64::from(next));
        }
        number_element(out, "MaxParts", u64::from(self.max_parts));
        truncated_into(out, self.is_truncated);
        for part in self.parts {
            out.extend_from_slice(b"<Part><PartNumber>");
            write_u64(out, u64::from(part.part_number));
            out.extend_from_slice(b"</PartNumber><LastModified>");
            write_iso8601_millis(out, part.last_modified_ms);
            out.extend_from_slice(b"</LastModified><ETag>");
            escape_into(out, part.etag);
            out.extend_from_slice(b"</ETag><Size>");
            write_u64(out, part.size);
            out.extend_from_slice(b"</Size>");
            checksums_into(out, part.checksums);
            out.extend_from_slice(b"</Part>");
        }
        if let Some(alg) = self.checksum_algorithm {
            // "ChecksumCRC32C" without "Checksum" is the uppercase name S3 writes.
            let upper = checksum_element(alg).map_or(alg, |name| &name["Checksum".len()..]);
            element(out, "ChecksumAlgorithm", upper);
        }
        out.extend_from_slice(b"</ListPartsResult>");
    }

    fn size_hint(&self) -> usize {
        let strings = self.bucket.len()
            + self.key.len()
            + self.upload_id.len()
            + (self.owner.id.len() + self.owner.display_name.len()) * 2
            + self.storage_class.len()
            + self.checksum_algorithm.map_or(0, str::len);
        let parts: usize = self
            .parts
            .iter()
            .map(|p| 160 + p.etag.len() * 6 + checksums_size_hint(p.checksums))
            .sum();
        512 + strings * 6 + parts
    }
}

/// One upload of a ListMultipartUploads answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadEntry<'a> {
    /// The object key.
    pub key: &'a str,
    /// The upload id.
    pub upload_id: &'a str,
    /// When the upload was created, milliseconds since the Unix epoch.
    pub initiated_ms: u64,
}

/// The ListMultipartUploads response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListMultipartUploadsResult<'a> {
    /// The bucket name.
    pub bucket: &'a str,
    /// The `key-marker` parameter, `""` when absent.
    pub key_marker: &'a str,
    /// The `upload-id-marker` parameter, `""` when absent.
    pub upload_id_marker: &'a str,
    /// Where the next page starts (key), when truncated.
    pub next_key_marker: Option<&'a str>,
    /// Where the next page starts (upload id), when truncated.
    pub next_upload_id_marker: Option<&'a str>,
    /// The `prefix` parameter, `""` when absent.
    pub prefix: &'a str,
    /// The `delimiter` parameter, when given.
    pub delimiter: Option<&'a str>,
    /// The `max-uploads` in effect.
    pub max_uploads: u32,
    /// Whether more uploads or prefixes follow.
    pub is_truncated: bool,
    /// The uploads, in (key, initiation) order.
    pub uploads: &'a [UploadEntry<'a>],
    /// The common prefixes, in order, each ending with the delimiter.
    pub common_prefixes: &'a [String],
    /// `encoding-type=url` was asked for.
    pub encoding_type_url: bool,
    /// Written as Initiator and Owner of every upload.
    pub owner: Owner<'a>,
}

impl XmlBody for ListMultipartUploadsResult<'_> {
    fn write_into(&self, out: &mut Vec<u8>) {
        let url = self.encoding_type_url;
        open_namespaced_root(out, "ListMultipartUploadsResult");
        element(out, "Bucket", self.bucket);
        url_element(out, "KeyMarker", self.key_marker, url);
        element(out, "UploadIdMarker", self.upload_id_marker);
        if let Some(next) = self.next_key_marker {
            url_element(out, "NextKeyMarker", next, url);
        }
        if let Some(next) = self.next_upload_id_marker {
            element(out, "NextUploadIdMarker", next);
        }
        if let Some(delimiter) = self.delimiter {
            url_element(out, "Delimiter", delimiter, url);
        }
        url_element(out, "Prefix", self.prefix, url);
        number_element(out, "MaxUploads", u64::from(self.max_uploads));
        if url {
            out.extend_from_slice(b"<EncodingType>url</EncodingType>");
        }
        truncated_into(out, self.is_truncated);
        // The initiator and owner are the same in every entry: escape them once.
        let mut people = Vec::with_capacity(128 + 2 * (self.owner.id.len() + self.owner.display_name.len()));
        person_into(&mut people, "Initiator", self.owner);
        person_into(&mut people, "Owner", self.owner);
        for upload in self.uploads {
            out.extend_from_slice(b"<Upload><Key>");
            text_into(out, upload.key, url);
            out.extend_from_slice(b"</Key><UploadId>");
            escape_into(out, upload.upload_id);
            out.extend_from_slice(b"</UploadId>");
            out.extend_from_slice(&people);
            out.extend_from_slice(b"<StorageClass>");
            out.extend_from_slice(STORAGE_CLASS.as_bytes());
            out.extend_from_slice(b"</StorageClass><Initiated>");
            write_iso8601_millis(out, upload.initiated_ms);
            out.extend_from_slice(b"</Initiated></Upload>");
        }
        for prefix in self.common_prefixes {
            out.extend_from_slice(b"<CommonPrefixes><Prefix>");
            text_into(out, prefix, url);
            out.extend_from_slice(b"</Prefix></CommonPrefixes>");
        }
        out.extend_from_slice(b"</ListMultipartUploadsResult>");
    }

    fn size_hint(&self) -> usize {
        let strings = self.bucket.len()
            + self.key_marker.len()
            + self.upload_id_marker.len()
            + self.next_key_marker.map_or(0, str::len)
            + self.next_upload_id_marker.map_or(0, str::len)
            + self.prefix.len()
            + self.delimiter.map_or(0, str::len);
        let per_upload = 200 + (self.owner.id.len() + self.owner.display_name.len()) * 12;
        let uploads: usize = self
            .uploads
            .iter()
            .map(|u| per_upload + (u.key.len() + u.upload_id.len()) * 6)
            .sum();
        let prefixes: usize = self.common_prefixes.iter().map(|p| 50 + p.len() * 6).sum();
        512 + strings * 6 + uploads + prefixes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    const OWNER: Owner = Owner {
        id: "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a",
        display_name: "web&co",
    };
    const PEOPLE: &str = "<Initiator><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>\
        <DisplayName>web&amp;co</DisplayName></Initiator>\
        <Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>\
        <DisplayName>web&amp;co</DisplayName></Owner>";

    fn xml(doc: &impl XmlBody) -> String {
        let bytes = doc.to_vec();
        assert!(doc.size_hint() >= bytes.len(), "{} < {}", doc.size_hint(), bytes.len());
        String::from_utf8(bytes).unwrap()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|&(a, v)| (a.to_owned(), v.to_owned())).collect()
    }

    #[test]
    fn maps_checksum_algorithms_to_elements() {
        assert_eq!(checksum_element("crc32"), Some("ChecksumCRC32"));
        assert_eq!(checksum_element("crc32c"), Some("ChecksumCRC32C"));
        assert_eq!(checksum_element("CRC64NVME"), Some("ChecksumCRC64NVME"));
        assert_eq!(checksum_element("sha1"), Some("ChecksumSHA1"));
        assert_eq!(checksum_element("sha256"), Some("ChecksumSHA256"));
        assert_eq!(checksum_element("md5"), None);
        assert_eq!(checksum_element(""), None);
    }

    #[test]
    fn writes_initiate_multipart_upload_result() {
        let doc = InitiateMultipartUploadResult {
            bucket: "example-bucket",
            key: "a&b<c>\u{1}.txt",
            upload_id: "VXBsb2FkIElE",
        };
        assert_eq!(
            xml(&doc),
            format!(
                "{DECL}<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <Bucket>example-bucket</Bucket><Key>a&amp;b&lt;c&gt;&#x1;.txt</Key>\
                 <UploadId>VXBsb2FkIElE</UploadId></InitiateMultipartUploadResult>"
            )
        );
    }

    #[test]
    fn writes_complete_multipart_upload_result_with_checksums_in_s3_order() {
        let checksums = pairs(&[("sha256", "s+/="), ("md5", "skipped"), ("crc32c", "abc=")]);
        let doc = CompleteMultipartUploadResult {
            location: "http://example-bucket.s3.localhost/a%20b",
            bucket: "example-bucket",
            key: "a b",
            etag: "\"3858f62230ac3c915f300c664312c11f-9\"",
            checksums: &checksums,
        };
        assert_eq!(
            xml(&doc),
            format!(
                "{DECL}<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <Location>http://example-bucket.s3.localhost/a%20b</Location><Bucket>example-bucket</Bucket>\
                 <Key>a b</Key><ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag>\
                 <ChecksumCRC32C>abc=</ChecksumCRC32C><ChecksumSHA256>s+/=</ChecksumSHA256>\
                 </CompleteMultipartUploadResult>"
            )
        );
    }

    fn list_parts<'a>(parts: &'a [PartEntry<'a>], truncated: bool) -> ListPartsResult<'a> {
        ListPartsResult {
            bucket: "example-bucket",
            key: "a<b",
            upload_id: "up&1",
            part_number_marker: 1,
            next_part_number_marker: truncated.then_some(3),
            max_parts: 2,
            is_truncated: truncated,
            parts,
            owner: OWNER,
            storage_class: "STANDARD",
            checksum_algorithm: truncated.then_some("crc32c"),
        }
    }

    #[test]
    fn writes_list_parts_result_in_wire_order() {
        let checksums = pairs(&[("crc32c", "yZRlqg==")]);
        let parts = [
            PartEntry {
                part_number: 2,
                last_modified_ms: 1_289_422_114_000,
                etag: "\"7778aef83f66abc1fa1e8477f296d394\"",
                size: 10_485_760,
                checksums: &checksums,
            },
            PartEntry {
                part_number: 3,
                last_modified_ms: 1_289_422_115_123,
                etag: "\"aaaa18db4cc2f85cedef654fccc4a4x8\"",
                size: 10,
                checksums: &[],
            },
        ];
        let head = format!(
            "{DECL}<ListPartsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Bucket>example-bucket</Bucket><Key>a&lt;b</Key><UploadId>up&amp;1</UploadId>{PEOPLE}\
             <StorageClass>STANDARD</StorageClass><PartNumberMarker>1</PartNumberMarker>"
        );
        assert_eq!(
            xml(&list_parts(&parts, true)),
            format!(
                "{head}<NextPartNumberMarker>3</NextPartNumberMarker><MaxParts>2</MaxParts>\
                 <IsTruncated>true</IsTruncated>\
                 <Part><PartNumber>2</PartNumber><LastModified>2010-11-10T20:48:34.000Z</LastModified>\
                 <ETag>&quot;7778aef83f66abc1fa1e8477f296d394&quot;</ETag><Size>10485760</Size>\
                 <ChecksumCRC32C>yZRlqg==</ChecksumCRC32C></Part>\
                 <Part><PartNumber>3</PartNumber><LastModified>2010-11-10T20:48:35.123Z</LastModified>\
                 <ETag>&quot;aaaa18db4cc2f85cedef654fccc4a4x8&quot;</ETag><Size>10</Size></Part>\
                 <ChecksumAlgorithm>CRC32C</ChecksumAlgorithm></ListPartsResult>"
            )
        );
        assert_eq!(
            xml(&list_parts(&[], false)),
            format!("{head}<MaxParts>2</MaxParts><IsTruncated>false</IsTruncated></ListPartsResult>")
        );
    }

    fn uploads_result<'a>(
        uploads: &'a [UploadEntry<'a>],
        prefixes: &'a [String],
        url: bool,
    ) -> ListMultipartUploadsResult<'a> {
        ListMultipartUploadsResult {
            bucket: "example-bucket",
            key_marker: "m k",
            upload_id_marker: "u&0",
            next_key_marker: Some("n k+"),
            next_upload_id_marker: Some("u&2"),
            prefix: "p &",
            delimiter: Some("/"),
            max_uploads: 2,
            is_truncated: true,
            uploads,
            common_prefixes: prefixes,
            encoding_type_url: url,
            owner: OWNER,
        }
    }

    #[test]
    fn writes_list_multipart_uploads_result() {
        let uploads = [UploadEntry {
            key: "p &<x>\u{1b}",
            upload_id: "u&1",
            initiated_ms: 1_289_422_113_000,
        }];
        let prefixes = ["p &/".to_owned()];
        let root = format!("{DECL}<ListMultipartUploadsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
        let upload_tail = format!(
            "</Key><UploadId>u&amp;1</UploadId>{PEOPLE}<StorageClass>STANDARD</StorageClass>\
             <Initiated>2010-11-10T20:48:33.000Z</Initiated></Upload>"
        );
        assert_eq!(
            xml(&uploads_result(&uploads, &prefixes, false)),
            format!(
                "{root}<Bucket>example-bucket</Bucket><KeyMarker>m k</KeyMarker><UploadIdMarker>u&amp;0</UploadIdMarker>\
                 <NextKeyMarker>n k+</NextKeyMarker><NextUploadIdMarker>u&amp;2</NextUploadIdMarker>\
                 <Delimiter>/</Delimiter><Prefix>p &amp;</Prefix><MaxUploads>2</MaxUploads>\
                 <IsTruncated>true</IsTruncated><Upload><Key>p &amp;&lt;x&gt;&#x1b;{upload_tail}\
                 <CommonPrefixes><Prefix>p &amp;/</Prefix></CommonPrefixes></ListMultipartUploadsResult>"
            )
        );
        assert_eq!(
            xml(&uploads_result(&uploads, &prefixes, true)),
            format!(
                "{root}<Bucket>example-bucket</Bucket><KeyMarker>m%20k</KeyMarker><UploadIdMarker>u&amp;0</UploadIdMarker>\
                 <NextKeyMarker>n%20k%2B</NextKeyMarker><NextUploadIdMarker>u&amp;2</NextUploadIdMarker>\
                 <Delimiter>/</Delimiter><Prefix>p%20%26</Prefix><MaxUploads>2</MaxUploads>\
                 <EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>\
                 <Upload><Key>p%20%26%3Cx%3E%1B{upload_tail}\
                 <CommonPrefixes><Prefix>p%20%26/</Prefix></CommonPrefixes></ListMultipartUploadsResult>"
            )
        );
        let empty = ListMultipartUploadsResult {
            next_key_marker: None,
            next_upload_id_marker: None,
            delimiter: None,
            is_truncated: false,
            ..uploads_result(&[], &[], false)
        };
        assert_eq!(
            xml(&empty),
            format!(
                "{root}<Bucket>example-bucket</Bucket><KeyMarker>m k</KeyMarker><UploadIdMarker>u&amp;0</UploadIdMarker>\
                 <Prefix>p &amp;</Prefix><MaxUploads>2</MaxUploads><IsTruncated>false</IsTruncated>\
                 </ListMultipartUploadsResult>"
            )
        );
    }

    fn parse(body: &str) -> Result<Vec<CompletedPart>, XmlError> {
        parse_complete_multipart_upload(body.as_bytes())
    }

    fn part(part_number: u32, etag: &str, checksums: &[(&str, &str)]) -> CompletedPart {
        CompletedPart {
            part_number,
            etag: etag.to_owned(),
            checksums: pairs(checksums),
        }
    }

    #[test]
    fn reads_the_aws_example() {
        let body = "<CompleteMultipartUpload>\n\
              <Part>\n    <PartNumber>1</PartNumber>\n    <ETag>\"a54357aff0632cce46d942af68356b38\"</ETag>\n  </Part>\n\
              <Part>\n    <PartNumber> 2 </PartNumber>\n    <ETag>\n\"0c78aef83f66abc1fa1e8477f296d394\"\n</ETag>\n  </Part>\n\
            </CompleteMultipartUpload>";
        assert_eq!(
            parse(body),
            Ok(vec![
                part(1, "\"a54357aff0632cce46d942af68356b38\"", &[]),
                part(2, "\"0c78aef83f66abc1fa1e8477f296d394\"", &[]),
            ])
        );
    }

    #[test]
    fn reads_namespaces_checksums_and_skips_unknown_elements() {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
            <s3:CompleteMultipartUpload xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
            <s3:Part><s3:ChecksumCRC32C> yZRlqg== </s3:ChecksumCRC32C><s3:ETag>&quot;x&quot;</s3:ETag>\
            <s3:Size>5</s3:Size><s3:PartNumber>3</s3:PartNumber><s3:ChecksumSHA256>s=</s3:ChecksumSHA256></s3:Part>\
            <s3:Extra><a>b</a></s3:Extra>\
            <s3:Part><s3:PartNumber>1</s3:PartNumber><s3:ETag>e</s3:ETag><s3:ChecksumCRC32>c</s3:ChecksumCRC32>\
            <s3:ChecksumCRC64NVME>n</s3:ChecksumCRC64NVME><s3:ChecksumSHA1>h</s3:ChecksumSHA1></s3:Part>\
            </s3:CompleteMultipartUpload>\n";
        assert_eq!(
            parse(body),
            Ok(vec![
                part(3, "\"x\"", &[("crc32c", "yZRlqg=="), ("sha256", "s=")]),
                part(1, "e", &[("crc32", "c"), ("crc64nvme", "n"), ("sha1", "h")]),
            ])
        );
        let namespaced = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
            <Part><ETag>e</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>";
        assert_eq!(parse(namespaced), Ok(vec![part(2, "e", &[])]));
    }

    #[test]
    fn leaves_order_and_duplicates_to_the_handler() {
        let body = "<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>b</ETag></Part>\
            <Part><PartNumber>2</PartNumber><ETag>b</ETag></Part><Part><PartNumber>0</PartNumber><ETag/></Part>\
            </CompleteMultipartUpload>";
        assert_eq!(
            parse(body),
            Ok(vec![part(2, "b", &[]), part(2, "b", &[]), part(0, "", &[])])
        );
    }

    #[test]
    fn rejects_malformed_bodies() {
        for body in [
            "",
            "<CompleteMultipartUpload/>",
            "<CompleteMultipartUpload></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Other/></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Part><ETag>e</ETag></Part></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Part><PartNumber></PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Part><PartNumber>-1</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Part><PartNumber>4294967296</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Part><PartNumber>1.5</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><PartNumber>2</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag><ETag>f</ETag></Part></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e<x/></ETag></Part></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part>",
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag></CompleteMultipartUpload>",
            "<CompleteMultipartUpload>text<Part><PartNumber>1</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
            "<CompleteMultipartUploads><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part></CompleteMultipartUploads>",
            "<Part><PartNumber>1</PartNumber><ETag>e</ETag></Part>",
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload><x/>",
        ] {
            assert!(matches!(parse(body), Err(XmlError::MalformedXML(_))), "{body:?}");
        }
    }

    fn body_with(parts: usize) -> String {
        let mut body = String::from("<CompleteMultipartUpload>");
        for i in 1..=parts {
            body.push_str(&format!(
                "<Part><PartNumber>{i}</PartNumber><ETag>\"e{i}\"</ETag></Part>"
            ));
        }
        body.push_str("</CompleteMultipartUpload>");
        body
    }

    #[test]
    fn accepts_10000_parts_and_rejects_10001() {
        let parsed = parse(&body_with(MAX_PARTS)).unwrap();
        assert_eq!(parsed.len(), MAX_PARTS);
        assert_eq!(parsed[9999], part(10_000, "\"e10000\"", &[]));
        assert_eq!(
            parse(&body_with(MAX_PARTS + 1)),
            Err(XmlError::MalformedXML("more than 10000 parts"))
        );
    }

    #[test]
    fn rejects_a_body_over_the_limit() {
        let padding = " ".repeat(MAX_COMPLETE_BODY_BYTES);
        let body = format!("{}{padding}", body_with(1));
        assert_eq!(
            parse(&body),
            Err(XmlError::MalformedXML("CompleteMultipartUpload body too large"))
        );
        let body = format!("{}{}", body_with(1), &padding[body_with(1).len()..]);
        assert_eq!(body.len(), MAX_COMPLETE_BODY_BYTES);
        assert_eq!(parse(&body), Ok(vec![part(1, "\"e1\"", &[])]));
    }
}
