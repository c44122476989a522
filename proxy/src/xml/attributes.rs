//! GetObjectAttributes: the `GetObjectAttributesResponse` document, holding only the attributes
//! the request's `x-amz-object-attributes` asked for, in S3's order (ETag, Checksum, ObjectParts,
//! StorageClass, ObjectSize). Unlike everywhere else S3 writes the ETag here without its quotes,
//! and the total part count under `ObjectParts` as `PartsCount` (the model's `TotalPartsCount`
//! member is serialised under that name; SDKs read `PartsCount`).

use super::multipart::{checksums_into, checksums_size_hint};
use super::writer::{element, number_element};
use super::{open_namespaced_root, XmlBody};

/// What `ObjectParts` reports of a multipart object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectParts {
    /// How many parts the object was completed from.
    pub total_parts_count: u32,
}

/// The GetObjectAttributes response; `None` fields are not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetObjectAttributesResponse<'a> {
    /// The ETag, with or without quotes; written without them.
    pub etag: Option<&'a str>,
    /// (algorithm, base64 value) pairs, written inside `<Checksum>`; unknown algorithms skipped.
    pub checksum: Option<&'a [(String, String)]>,
    /// Part information, for multipart objects.
    pub object_parts: Option<ObjectParts>,
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
            out.extend_from_slice(b"</Checksum>");
        }
        if let Some(parts) = self.object_parts {
            out.extend_from_slice(b"<ObjectParts>");
            number_element(out, "PartsCount", u64::from(parts.total_parts_count));
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
        320 + strings * 6 + self.checksum.map_or(0, checksums_size_hint)
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
        let doc = GetObjectAttributesResponse {
            etag: Some("\"b8785a1b2e2fa28fc4a6b1a3eb6ecc68-4\""),
            checksum: Some(&checksums),
            object_parts: Some(ObjectParts { total_parts_count: 4 }),
            storage_class: Some("STANDARD"),
            object_size: Some(167_772_160),
        };
        assert_eq!(
            xml(&doc),
            format!(
                "{ROOT}<ETag>b8785a1b2e2fa28fc4a6b1a3eb6ecc68-4</ETag>\
                 <Checksum><ChecksumCRC64NVME>Mt/sLbVfRxo=</ChecksumCRC64NVME><ChecksumSHA256>s=</ChecksumSHA256></Checksum>\
                 <ObjectParts><PartsCount>4</PartsCount></ObjectParts><StorageClass>STANDARD</StorageClass>\
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
