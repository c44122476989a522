//! Listings: `ListAllMyBucketsResult` (ListBuckets) and `ListBucketResult` for ListObjects v1 and
//! v2.
//!
//! Element order is S3's wire order — what S3 actually sends, as in the AWS examples and real
//! responses — not the API reference's "Response Syntax", which is the model's alphabetical-ish
//! member order (IsTruncated, Contents, Name, ...). Every SDK parser matches elements by name, so
//! either order parses; the wire order keeps byte-for-byte comparisons with S3 meaningful.
//! With `encoding_type_url`, the fields S3 encodes (Prefix (v2 only), Marker, NextMarker, StartAfter,
//! Delimiter, Key and CommonPrefixes' Prefix) are percent-encoded here, from the raw strings.

use s3o_store::ObjectMeta;

use super::writer::{element, escape_into, number_element, text_into, url_element, write_iso8601_millis, write_u64};
use super::{open_namespaced_root, XmlBody};

/// The storage class every listed object reports.
pub const STORAGE_CLASS: &str = "STANDARD";

/// An owner as S3 writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner<'a> {
    /// The canonical user id.
    pub id: &'a str,
    /// The display name.
    pub display_name: &'a str,
}

impl Owner<'_> {
    /// Appends `<Owner><ID/><DisplayName/></Owner>`.
    pub(super) fn write_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"<Owner><ID>");
        escape_into(out, self.id);
        out.extend_from_slice(b"</ID><DisplayName>");
        escape_into(out, self.display_name);
        out.extend_from_slice(b"</DisplayName></Owner>");
    }
}

/// One bucket of a ListBuckets answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketEntry<'a> {
    /// The bucket name.
    pub name: &'a str,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: u64,
}

/// The ListBuckets response: the owner, then every bucket with its creation date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListAllMyBucketsResult<'a> {
    /// The requester.
    pub owner: Owner<'a>,
    /// The buckets, in the order to list them (S3 sorts by name).
    pub buckets: &'a [BucketEntry<'a>],
    /// The token of the next page, when the listing is truncated.
    pub continuation_token: Option<&'a str>,
    /// The `prefix` the listing was filtered by, if any.
    pub prefix: Option<&'a str>,
}

impl XmlBody for ListAllMyBucketsResult<'_> {
    fn write_into(&self, out: &mut Vec<u8>) {
        open_namespaced_root(out, "ListAllMyBucketsResult");
        self.owner.write_into(out);
        out.extend_from_slice(b"<Buckets>");
        for bucket in self.buckets {
            out.extend_from_slice(b"<Bucket><Name>");
            escape_into(out, bucket.name);
            out.extend_from_slice(b"</Name><CreationDate>");
            write_iso8601_millis(out, bucket.created_ms);
            out.extend_from_slice(b"</CreationDate></Bucket>");
        }
        out.extend_from_slice(b"</Buckets>");
        if let Some(token) = self.continuation_token {
            out.extend_from_slice(b"<ContinuationToken>");
            escape_into(out, token);
            out.extend_from_slice(b"</ContinuationToken>");
        }
        if let Some(prefix) = self.prefix {
            out.extend_from_slice(b"<Prefix>");
            escape_into(out, prefix);
            out.extend_from_slice(b"</Prefix>");
        }
        out.extend_from_slice(b"</ListAllMyBucketsResult>");
    }

    fn size_hint(&self) -> usize {
        let names: usize = self.buckets.iter().map(|b| b.name.len()).sum();
        let extra = self.continuation_token.map_or(0, str::len) + self.prefix.map_or(0, str::len);
        300 + self.owner.id.len() + self.owner.display_name.len() + self.buckets.len() * 80 + names + extra
    }
}

/// What a listing shows of one object.
pub trait ListedObject {
    /// The object key, raw (not yet escaped or encoded).
    fn key(&self) -> &str;
    /// Last-Modified, milliseconds since the Unix epoch.
    fn last_modified_ms(&self) -> u64;
    /// The ETag with its quotes, e.g. `"9b2cf535f27731c974343645a3985328"`.
    fn etag(&self) -> &str;
    /// Size in bytes.
    fn size(&self) -> u64;
    /// Its own owner, when not the listing's (the bucket owner's) one.
    fn owner(&self) -> Option<&str> {
        None
    }
}

/// One listed object, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectEntry<'a> {
    /// The object key.
    pub key: &'a str,
    /// Last-Modified, milliseconds since the Unix epoch.
    pub last_modified_ms: u64,
    /// The quoted ETag.
    pub etag: &'a str,
    /// Size in bytes.
    pub size: u64,
}

impl ListedObject for ObjectEntry<'_> {
    fn key(&self) -> &str {
        self.key
    }
    fn last_modified_ms(&self) -> u64 {
        self.last_modified_ms
    }
    fn etag(&self) -> &str {
        self.etag
    }
    fn size(&self) -> u64 {
        self.size
    }
}

/// The store's listing entries, as [`s3o_store::ListPage::objects`] holds them.
impl ListedObject for (String, ObjectMeta) {
    fn key(&self) -> &str {
        &self.0
    }
    fn last_modified_ms(&self) -> u64 {
        self.1.last_modified_ms
    }
    fn etag(&self) -> &str {
        &self.1.etag
    }
    fn size(&self) -> u64 {
        self.1.size
    }
    fn owner(&self) -> Option<&str> {
        self.1.owner.as_deref()
    }
}

/// ListObjects (v1) response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListBucketResult<'a, O = ObjectEntry<'a>, P = &'a str> {
    /// The bucket name.
    pub name: &'a str,
    /// The `prefix` parameter, `""` when absent.
    pub prefix: &'a str,
    /// The `marker` parameter, `""` when absent.
    pub marker: &'a str,
    /// The `max-keys` in effect.
    pub max_keys: usize,
    /// The `delimiter` parameter, when given.
    pub delimiter: Option<&'a str>,
    /// Whether more keys or prefixes follow.
    pub is_truncated: bool,
    /// Where the next page starts; written only when a delimiter was given and the page is
    /// truncated, as S3 does (without a delimiter clients continue from the last key).
    pub next_marker: Option<&'a str>,
    /// `encoding-type=url` was asked for.
    pub encoding_type_url: bool,
    /// Written in every `Contents` whose object has no owner of its own (v1 always shows it).
    pub owner: Option<Owner<'a>>,
    /// The objects, in key order.
    pub contents: &'a [O],
    /// The common prefixes, in order, each ending with the delimiter.
    pub common_prefixes: &'a [P],
}

impl<O: ListedObject, P: AsRef<str>> XmlBody for ListBucketResult<'_, O, P> {
    fn write_into(&self, out: &mut Vec<u8>) {
        let url = self.encoding_type_url;
        open_namespaced_root(out, "ListBucketResult");
        element(out, "Name", self.name);
        // Version 1 leaves its own Prefix unencoded (SDKs decode Marker, NextMarker, Delimiter,
        // keys and common prefixes only, and S3 encodes exactly those).
        url_element(out, "Prefix", self.prefix, false);
        url_element(out, "Marker", self.marker, url);
        if let (Some(next_marker), Some(_), true) = (self.next_marker, self.delimiter, self.is_truncated) {
            url_element(out, "NextMarker", next_marker, url);
        }
        number_element(out, "MaxKeys", self.max_keys as u64);
        if let Some(delimiter) = self.delimiter {
            url_element(out, "Delimiter", delimiter, url);
        }
        tail_into(
            out,
            url,
            self.is_truncated,
            self.owner,
            self.contents,
            self.common_prefixes,
        );
    }

    fn size_hint(&self) -> usize {
        listing_size_hint(self.encoding_type_url, self.owner, self.contents, self.common_prefixes)
    }
}

/// ListObjectsV2 response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListBucketResultV2<'a, O = ObjectEntry<'a>, P = &'a str> {
    /// The bucket name.
    pub name: &'a str,
    /// The `prefix` parameter, `""` when absent.
    pub prefix: &'a str,
    /// The `start-after` parameter, when given.
    pub start_after: Option<&'a str>,
    /// The `continuation-token` parameter, when given (opaque, never url-encoded).
    pub continuation_token: Option<&'a str>,
    /// The token for the next page, when truncated.
    pub next_continuation_token: Option<&'a str>,
    /// The `max-keys` in effect.
    pub max_keys: usize,
    /// The `delimiter` parameter, when given.
    pub delimiter: Option<&'a str>,
    /// `encoding-type=url` was asked for.
    pub encoding_type_url: bool,
    /// Whether more keys or prefixes follow.
    pub is_truncated: bool,
    /// Written in every `Contents` whose object has no owner of its own; `Some` only for
    /// `fetch-owner=true`.
    pub owner: Option<Owner<'a>>,
    /// The objects, in key order.
    pub contents: &'a [O],
    /// The common prefixes, in order, each ending with the delimiter.
    pub common_prefixes: &'a [P],
}

impl<O: ListedObject, P: AsRef<str>> XmlBody for ListBucketResultV2<'_, O, P> {
    fn write_into(&self, out: &mut Vec<u8>) {
        let url = self.encoding_type_url;
        open_namespaced_root(out, "ListBucketResult");
        element(out, "Name", self.name);
        url_element(out, "Prefix", self.prefix, url);
        if let Some(start_after) = self.start_after {
            url_element(out, "StartAfter", start_after, url);
        }
        if let Some(token) = self.continuation_token {
            element(out, "ContinuationToken", token);
        }
        if let Some(token) = self.next_continuation_token {
            element(out, "NextContinuationToken", token);
        }
        number_element(
            out,
            "KeyCount",
            (self.contents.len() + self.common_prefixes.len()) as u64,
        );
        number_element(out, "MaxKeys", self.max_keys as u64);
        if let Some(delimiter) = self.delimiter {
            url_element(out, "Delimiter", delimiter, url);
        }
        tail_into(
            out,
            url,
            self.is_truncated,
            self.owner,
            self.contents,
            self.common_prefixes,
        );
    }

    fn size_hint(&self) -> usize {
        listing_size_hint(self.encoding_type_url, self.owner, self.contents, self.common_prefixes)
    }
}

/// What both list versions end with: EncodingType, IsTruncated, the Contents, the CommonPrefixes
/// and the closing tag.
fn tail_into<O: ListedObject, P: AsRef<str>>(
    out: &mut Vec<u8>,
    url: bool,
    is_truncated: bool,
    owner: Option<Owner<'_>>,
    contents: &[O],
    common_prefixes: &[P],
) {
    if url {
        out.extend_from_slice(b"<EncodingType>url</EncodingType>");
    }
    out.extend_from_slice(if is_truncated {
        b"<IsTruncated>true</IsTruncated>"
    } else {
        b"<IsTruncated>false</IsTruncated>"
    });
    // The owner is the same in every entry: escape it once.
    let owner_xml = owner.map(|owner| {
        let mut xml = Vec::with_capacity(64 + owner.id.len() + owner.display_name.len());
        owner.write_into(&mut xml);
        xml
    });
    for object in contents {
        out.extend_from_slice(b"<Contents><Key>");
        text_into(out, object.key(), url);
        out.extend_from_slice(b"</Key><LastModified>");
        write_iso8601_millis(out, object.last_modified_ms());
        out.extend_from_slice(b"</LastModified><ETag>");
        escape_into(out, object.etag());
        out.extend_from_slice(b"</ETag><Size>");
        write_u64(out, object.size());
        out.extend_from_slice(b"</Size>");
        match (&owner_xml, object.owner()) {
            (Some(_), Some(own)) => Owner {
                id: own,
                display_name: own,
            }
            .write_into(out),
            (Some(owner_xml), None) => out.extend_from_slice(owner_xml),
            (None, _) => {}
        }
        out.extend_from_slice(b"<StorageClass>");
        out.extend_from_slice(STORAGE_CLASS.as_bytes());
        out.extend_from_slice(b"</StorageClass></Contents>");
    }
    for prefix in common_prefixes {
        out.extend_from_slice(b"<CommonPrefixes><Prefix>");
        text_into(out, prefix.as_ref(), url);
        out.extend_from_slice(b"</Prefix></CommonPrefixes>");
    }
    out.extend_from_slice(b"</ListBucketResult>");
}

/// A close upper guess at a listing's size: the markup of each entry at its longest plus its
/// strings (tripled when percent-encoded), so that typical pages fit one allocation.
fn listing_size_hint<O: ListedObject, P: AsRef<str>>(
    url: bool,
    owner: Option<Owner<'_>>,
    contents: &[O],
    prefixes: &[P],
) -> usize {
    let expansion = if url { 3 } else { 1 };
    let per_owner = owner.map_or(0, |o| 56 + o.id.len() + o.display_name.len());
    let strings: usize = contents
        .iter()
        .map(|o| o.key().len() * expansion + o.etag().len())
        .sum();
    let prefix_bytes: usize = prefixes.iter().map(|p| 50 + p.as_ref().len() * expansion).sum();
    512 + contents.len() * (190 + per_owner) + strings + prefix_bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS_ROOT: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                           <ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
    const OWNER: Owner = Owner {
        id: "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a",
        display_name: "web&co",
    };
    const OBJECTS: &[ObjectEntry] = &[
        ObjectEntry {
            key: "my-image.jpg",
            last_modified_ms: 1_255_369_830_000,
            etag: "\"fba9dede5f27731c9771645a39863328\"",
            size: 434_234,
        },
        ObjectEntry {
            key: "a b&<c>+d",
            last_modified_ms: 1_416_598_805_123,
            etag: "\"70ee1738b6b21e2c8a43f3a5ab0eee71-2\"",
            size: 0,
        },
    ];

    fn xml(doc: &impl XmlBody) -> String {
        let bytes = doc.to_vec();
        assert!(
            doc.size_hint() >= bytes.len(),
            "size hint {} < {}",
            doc.size_hint(),
            bytes.len()
        );
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn writes_list_all_my_buckets_result() {
        let buckets = [
            BucketEntry {
                name: "examplebucket",
                created_ms: 1_255_369_830_000,
            },
            BucketEntry {
                name: "other",
                created_ms: 1_416_598_805_123,
            },
        ];
        assert_eq!(
            xml(&ListAllMyBucketsResult {
                owner: OWNER,
                buckets: &buckets,
                continuation_token: None,
                prefix: None,
            }),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>\
             <DisplayName>web&amp;co</DisplayName></Owner><Buckets>\
             <Bucket><Name>examplebucket</Name><CreationDate>2009-10-12T17:50:30.000Z</CreationDate></Bucket>\
             <Bucket><Name>other</Name><CreationDate>2014-11-21T19:40:05.123Z</CreationDate></Bucket>\
             </Buckets></ListAllMyBucketsResult>"
        );
        assert_eq!(
            xml(&ListAllMyBucketsResult {
                owner: Owner {
                    id: "u",
                    display_name: "u"
                },
                buckets: &[],
                continuation_token: Some("ZXhhbXBsZQ"),
                prefix: Some("a&b"),
            }),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Owner><ID>u</ID><DisplayName>u</DisplayName></Owner><Buckets></Buckets>\
             <ContinuationToken>ZXhhbXBsZQ</ContinuationToken><Prefix>a&amp;b</Prefix></ListAllMyBucketsResult>"
        );
    }

    fn v1<'a>(delimiter: Option<&'a str>, is_truncated: bool, url: bool) -> ListBucketResult<'a> {
        ListBucketResult {
            name: "bucket",
            prefix: "",
            marker: "",
            max_keys: 1000,
            delimiter,
            is_truncated,
            next_marker: Some("photos/ b/"),
            encoding_type_url: url,
            owner: Some(OWNER),
            contents: &OBJECTS[..1],
            common_prefixes: &["photos/ b/"],
        }
    }

    #[test]
    fn writes_list_objects_v1() {
        let contents = "<Contents><Key>my-image.jpg</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>\
             <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>\
             <Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>\
             <DisplayName>web&amp;co</DisplayName></Owner><StorageClass>STANDARD</StorageClass></Contents>";
        assert_eq!(
            xml(&v1(Some("/"), true, false)),
            format!(
                "{NS_ROOT}<Name>bucket</Name><Prefix></Prefix><Marker></Marker><NextMarker>photos/ b/</NextMarker>\
                 <MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>{contents}\
                 <CommonPrefixes><Prefix>photos/ b/</Prefix></CommonPrefixes></ListBucketResult>"
            )
        );
        // NextMarker only with a delimiter and a truncated page.
        for (delimiter, truncated) in [(None, true), (Some("/"), false)] {
            assert!(!xml(&v1(delimiter, truncated, false)).contains("NextMarker"));
        }
        assert_eq!(
            xml(&v1(Some("/"), true, true)),
            format!(
                "{NS_ROOT}<Name>bucket</Name><Prefix></Prefix><Marker></Marker><NextMarker>photos/%20b/</NextMarker>\
                 <MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><EncodingType>url</EncodingType>\
                 <IsTruncated>true</IsTruncated>{contents}\
                 <CommonPrefixes><Prefix>photos/%20b/</Prefix></CommonPrefixes></ListBucketResult>"
            )
        );
    }

    #[test]
    fn writes_list_objects_v2_as_the_aws_example() {
        let doc: ListBucketResultV2 = ListBucketResultV2 {
            name: "bucket",
            prefix: "",
            start_after: None,
            continuation_token: None,
            next_continuation_token: None,
            max_keys: 1000,
            delimiter: None,
            encoding_type_url: false,
            is_truncated: false,
            owner: None,
            contents: &OBJECTS[..1],
            common_prefixes: &[],
        };
        assert_eq!(
            xml(&doc),
            format!(
                "{NS_ROOT}<Name>bucket</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys>\
                 <IsTruncated>false</IsTruncated><Contents><Key>my-image.jpg</Key>\
                 <LastModified>2009-10-12T17:50:30.000Z</LastModified>\
                 <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>\
                 <StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>"
            )
        );
    }

    fn v2_full(url: bool) -> ListBucketResultV2<'static> {
        ListBucketResultV2 {
            name: "bucket",
            prefix: "a b&",
            start_after: Some("a b&0"),
            continuation_token: Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="),
            next_continuation_token: Some("tok+/="),
            max_keys: 3,
            delimiter: Some("/"),
            encoding_type_url: url,
            is_truncated: true,
            owner: Some(OWNER),
            contents: &OBJECTS[1..],
            common_prefixes: &["a b&<x>/", "a b&y/"],
        }
    }

    #[test]
    fn writes_every_list_objects_v2_field_in_wire_order() {
        let owner = "<Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>\
                     <DisplayName>web&amp;co</DisplayName></Owner>";
        assert_eq!(
            xml(&v2_full(false)),
            format!(
                "{NS_ROOT}<Name>bucket</Name><Prefix>a b&amp;</Prefix><StartAfter>a b&amp;0</StartAfter>\
                 <ContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</ContinuationToken>\
                 <NextContinuationToken>tok+/=</NextContinuationToken><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>\
                 <Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>\
                 <Contents><Key>a b&amp;&lt;c&gt;+d</Key><LastModified>2014-11-21T19:40:05.123Z</LastModified>\
                 <ETag>&quot;70ee1738b6b21e2c8a43f3a5ab0eee71-2&quot;</ETag><Size>0</Size>{owner}\
                 <StorageClass>STANDARD</StorageClass></Contents>\
                 <CommonPrefixes><Prefix>a b&amp;&lt;x&gt;/</Prefix></CommonPrefixes>\
                 <CommonPrefixes><Prefix>a b&amp;y/</Prefix></CommonPrefixes></ListBucketResult>"
            )
        );
        assert_eq!(
            xml(&v2_full(true)),
            format!(
                "{NS_ROOT}<Name>bucket</Name><Prefix>a%20b%26</Prefix><StartAfter>a%20b%260</StartAfter>\
                 <ContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</ContinuationToken>\
                 <NextContinuationToken>tok+/=</NextContinuationToken><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>\
                 <Delimiter>/</Delimiter><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>\
                 <Contents><Key>a%20b%26%3Cc%3E%2Bd</Key><LastModified>2014-11-21T19:40:05.123Z</LastModified>\
                 <ETag>&quot;70ee1738b6b21e2c8a43f3a5ab0eee71-2&quot;</ETag><Size>0</Size>{owner}\
                 <StorageClass>STANDARD</StorageClass></Contents>\
                 <CommonPrefixes><Prefix>a%20b%26%3Cx%3E/</Prefix></CommonPrefixes>\
                 <CommonPrefixes><Prefix>a%20b%26y/</Prefix></CommonPrefixes></ListBucketResult>"
            )
        );
    }

    #[test]
    fn writes_a_store_page_directly() {
        let page = s3o_store::ListPage {
            objects: vec![(
                "k".to_owned(),
                ObjectMeta {
                    size: 3,
                    etag: "\"acbd18db4cc2f85cedef654fccc4a4d8\"".to_owned(),
                    last_modified_ms: 1000,
                    ..ObjectMeta::default()
                },
            )],
            common_prefixes: vec!["p/".to_owned()],
            is_truncated: false,
            next_marker: None,
        };
        let doc = ListBucketResultV2 {
            name: "b",
            prefix: "",
            start_after: None,
            continuation_token: None,
            next_continuation_token: None,
            max_keys: 2,
            delimiter: Some("/"),
            encoding_type_url: false,
            is_truncated: page.is_truncated,
            owner: None,
            contents: &page.objects,
            common_prefixes: &page.common_prefixes,
        };
        assert_eq!(
            xml(&doc),
            format!(
                "{NS_ROOT}<Name>b</Name><Prefix></Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>\
                 <Delimiter>/</Delimiter><IsTruncated>false</IsTruncated><Contents><Key>k</Key>\
                 <LastModified>1970-01-01T00:00:01.000Z</LastModified>\
                 <ETag>&quot;acbd18db4cc2f85cedef654fccc4a4d8&quot;</ETag><Size>3</Size>\
                 <StorageClass>STANDARD</StorageClass></Contents>\
                 <CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes></ListBucketResult>"
            )
        );
    }

    #[test]
    fn sizes_a_thousand_key_page_in_one_allocation() {
        let keys: Vec<String> = (0..1000).map(|i| format!("some/prefix/object-{i:06}.dat")).collect();
        let objects: Vec<ObjectEntry> = keys
            .iter()
            .map(|key| ObjectEntry {
                key,
                last_modified_ms: 1_700_000_000_000,
                etag: "\"d41d8cd98f00b204e9800998ecf8427e\"",
                size: u64::MAX,
            })
            .collect();
        for owner in [None, Some(OWNER)] {
            let doc: ListBucketResultV2 = ListBucketResultV2 {
                name: "bucket",
                prefix: "some/prefix/",
                start_after: None,
                continuation_token: None,
                next_continuation_token: Some("token"),
                max_keys: 1000,
                delimiter: None,
                encoding_type_url: false,
                is_truncated: true,
                owner,
                contents: &objects,
                common_prefixes: &[],
            };
            let out = doc.to_vec();
            assert!(out.len() <= doc.size_hint(), "{} > {}", out.len(), doc.size_hint());
            assert!(doc.size_hint() < out.len() * 2);
        }
    }
}
