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
    /// `COMPOSITE` or `FULL_OBJECT` when the object has a checksum.
    pub checksum_type: Option<&'a str>,
}

impl XmlBody for CompleteMultipartUploadResult<'_> {
    fn write_into(&self, out: &mut Vec<u8>) {
        open_namespaced_root(out, "CompleteMultipartUploadResult");
        element(out, "Location", self.location);
        element(out, "Bucket", self.bucket);
        element(out, "Key", self.key);
        element(out, "ETag", self.etag);
        checksums_into(out, self.checksums);
        if let Some(t) = self.checksum_type {
            element(out, "ChecksumType", t);
        }
        out.extend_from_slice(b"</CompleteMultipartUploadResult>");
    }

    fn size_hint(&self) -> usize {
        let strings = self.location.len() + self.bucket.len() + self.key.len() + self.etag.len();
        256 + strings * 6 + checksums_size_hint(self.checksums) + self.checksum_type.map_or(0, |t| 40 + t.len())
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
    /// Its initiator and owner (a canonical id).
    pub owner: &'a str,
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
        for upload in self.uploads {
            let person = Owner {
                id: upload.owner,
                display_name: upload.owner,
            };
            out.extend_from_slice(b"<Upload><Key>");
            text_into(out, upload.key, url);
            out.extend_from_slice(b"</Key><UploadId>");
            escape_into(out, upload.upload_id);
            out.extend_from_slice(b"</UploadId>");
            person_into(out, "Initiator", person);
            person_into(out, "Owner", person);
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
        let per_upload = 200 + self.uploads.first().map_or(0, |u| u.owner.len()) * 12;
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
mod tests;
