//! GetObjectAttributes: the `GetObjectAttributesResponse` document, holding only the attributes
//! the request's `x-amz-object-attributes` asked for, in S3's order (ETag, Checksum, ObjectParts,
//! StorageClass, ObjectSize). Unlike everywhere else S3 writes the ETag here without its quotes,
//! and the total part count under `ObjectParts` as `PartsCount` (the model's `TotalPartsCount`
//! member is serialised under that name; SDKs read `PartsCount`).

use super::multipart::{checksums_into, checksums_size_hint};
use super::writer::{element, number_element};
use super::{open_namespaced_root, XmlBody};

/// One part of an object as GetObjectAttributes lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributePart<'a> {
    /// Part number.
    pub part_number: u32,
    /// Size in bytes.
    pub size: u64,
    /// The part's checksums as (algorithm, base64 value).
    pub checksums: &'a [(String, String)],
}

/// `ObjectParts` of a multipart object: the count, the page of parts and its markers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectParts<'a> {
    /// How many parts the object has.
    pub total_parts_count: u32,
    /// The `part-number-marker` the page starts after.
    pub part_number_marker: u32,
    /// Where the next page starts, when truncated.
    pub next_part_number_marker: Option<u32>,
    /// The page size asked for.
    pub max_parts: u32,
    /// Whether more parts follow.
    pub is_truncated: bool,
    /// The parts of this page.
    pub parts: &'a [AttributePart<'a>],
}

/// The GetObjectAttributes response; `None` fields are not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetObjectAttributesResponse<'a> {
    /// The ETag, with or without quotes; written without them.
    pub etag: Option<&'a str>,
    /// (algorithm, base64 value) pairs, written inside `<Checksum>`; unknown algorithms skipped.
    pub checksum: Option<&'a [(String, String)]>,
    /// `COMPOSITE` or `FULL_OBJECT`, written inside `Checksum`.
    pub checksum_type: Option<&'a str>,
    /// Part information, for multipart objects.
    pub object_parts: Option<ObjectParts<'a>>,
    /// The storage class, e.g. `STANDARD`.
    pub storage_class: Option<&'a str>,
    /// The object's size in bytes.
    pub object_size: Option<u64>,
}

impl XmlBody for GetObjectAttributesResponse<'_> {
    fn write_into(&self, out: &mut Vec<u8>) {
        open_namespaced_root(out, "GetObjectAttributesResponse");
        if let Some(etag) = self.etag {
            element(out, "ETag", unquoted(etag));
        }
        if let Some(checksums) = self.checksum {
            out.extend_from_slice(b"<Checksum>");
            checksums_into(out, checksums);
            if let Some(t) = self.checksum_type {
                element(out, "ChecksumType", t);
            }
            out.extend_from_slice(b"</Checksum>");
        }
        if let Some(parts) = self.object_parts {
            out.extend_from_slice(b"<ObjectParts>");
            number_element(out, "PartsCount", u64::from(parts.total_parts_count));
            number_element(out, "PartNumberMarker", u64::from(parts.part_number_marker));
            if let Some(next) = parts.next_part_number_marker {
                number_element(out, "NextPartNumberMarker", u64::from(next));
            }
            number_element(out, "MaxParts", u64::from(parts.max_parts));
            element(out, "IsTruncated", if parts.is_truncated { "true" } else { "false" });
            for p in parts.parts {
                out.extend_from_slice(b"<Part>");
                number_element(out, "PartNumber", u64::from(p.part_number));
                number_element(out, "Size", p.size);
                checksums_into(out, p.checksums);
                out.extend_from_slice(b"</Part>");
            }
            out.extend_from_slice(b"</ObjectParts>");
        }
        if let Some(storage_class) = self.storage_class {
            element(out, "StorageClass", storage_class);
        }
        if let Some(size) = self.object_size {
            number_element(out, "ObjectSize", size);
        }
        out.extend_from_slice(b"</GetObjectAttributesResponse>");
    }

    fn size_hint(&self) -> usize {
        let strings = self.etag.map_or(0, str::len) + self.storage_class.map_or(0, str::len);
        let parts = self.object_parts.map_or(0, |p| {
            200 + p
                .parts
                .iter()
                .map(|x| 100 + checksums_size_hint(x.checksums))
                .sum::<usize>()
        });
        let checksum_type = self.checksum_type.map_or(0, |t| 40 + t.len());
        320 + strings * 6 + self.checksum.map_or(0, checksums_size_hint) + parts + checksum_type
    }
}

/// `etag` without one pair of surrounding double quotes, if it has them.
fn unquoted(etag: &str) -> &str {
    etag.strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                        <GetObjectAttributesResponse xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";

    fn xml(doc: &GetObjectAttributesResponse) -> String {
        let bytes = doc.to_vec();
        assert!(doc.size_hint() >= bytes.len(), "{} < {}", doc.size_hint(), bytes.len());
        String::from_utf8(bytes).unwrap()
    }

    const NONE: GetObjectAttributesResponse<'static> = GetObjectAttributesResponse {
        etag: None,
        checksum: None,
        checksum_type: None,
        object_parts: None,
        storage_class: None,
        object_size: None,
    };

    #[test]
    fn writes_every_attribute_in_s3_order() {
        let checksums = [
            ("sha256".to_owned(), "s=".to_owned()),
            ("crc64nvme".to_owned(), "Mt/sLbVfRxo=".to_owned()),
            ("md5".to_owned(), "skipped".to_owned()),
        ];
        let part_checksums = [("sha256".to_owned(), "p=".to_owned())];
        let doc = GetObjectAttributesResponse {
            etag: Some("\"b8785a1b2e2fa28fc4a6b1a3eb6ecc68-4\""),
            checksum: Some(&checksums),
            checksum_type: Some("COMPOSITE"),
            object_parts: Some(ObjectParts {
                total_parts_count: 4,
                part_number_marker: 1,
                next_part_number_marker: Some(2),
                max_parts: 1,
                is_truncated: true,
                parts: &[AttributePart {
                    part_number: 2,
                    size: 5,
                    checksums: &part_checksums,
                }],
            }),
            storage_class: Some("STANDARD"),
            object_size: Some(167_772_160),
        };
        assert_eq!(
            xml(&doc),
            format!(
                "{ROOT}<ETag>b8785a1b2e2fa28fc4a6b1a3eb6ecc68-4</ETag>\
                 <Checksum><ChecksumCRC64NVME>Mt/sLbVfRxo=</ChecksumCRC64NVME><ChecksumSHA256>s=</ChecksumSHA256>\
                 <ChecksumType>COMPOSITE</ChecksumType></Checksum>\
                 <ObjectParts><PartsCount>4</PartsCount><PartNumberMarker>1</PartNumberMarker>\
                 <NextPartNumberMarker>2</NextPartNumberMarker><MaxParts>1</MaxParts><IsTruncated>true</IsTruncated>\
                 <Part><PartNumber>2</PartNumber><Size>5</Size><ChecksumSHA256>p=</ChecksumSHA256></Part>\
                 </ObjectParts><StorageClass>STANDARD</StorageClass>\
                 <ObjectSize>167772160</ObjectSize></GetObjectAttributesResponse>"
            )
        );
    }

    #[test]
    fn writes_only_present_attributes() {
        assert_eq!(xml(&NONE), format!("{ROOT}</GetObjectAttributesResponse>"));
        let doc = GetObjectAttributesResponse {
            etag: Some("d41d8cd98f00b204e9800998ecf8427e"),
            object_size: Some(0),
            ..NONE
        };
        assert_eq!(
            xml(&doc),
            format!(
                "{ROOT}<ETag>d41d8cd98f00b204e9800998ecf8427e</ETag><ObjectSize>0</ObjectSize>\
                 </GetObjectAttributesResponse>"
            )
        );
        let doc = GetObjectAttributesResponse {
            etag: Some("\"a&b"),
            checksum: Some(&[]),
            ..NONE
        };
        assert_eq!(
            xml(&doc),
            format!("{ROOT}<ETag>&quot;a&amp;b</ETag><Checksum></Checksum></GetObjectAttributesResponse>")
        );
    }
}
