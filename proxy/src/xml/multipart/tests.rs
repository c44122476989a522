//! Exact output of the multipart documents and the CompleteMultipartUpload parser on good and bad bodies.

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

/// An upload's initiator and owner: its canonical id as both ID and DisplayName.
const UPLOAD_PEOPLE: &str = "<Initiator><ID>web&amp;co</ID><DisplayName>web&amp;co</DisplayName></Initiator>\
    <Owner><ID>web&amp;co</ID><DisplayName>web&amp;co</DisplayName></Owner>";

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
        checksum_type: Some("COMPOSITE"),
    };
    assert_eq!(
        xml(&doc),
        format!(
            "{DECL}<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Location>http://example-bucket.s3.localhost/a%20b</Location><Bucket>example-bucket</Bucket>\
             <Key>a b</Key><ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag>\
             <ChecksumCRC32C>abc=</ChecksumCRC32C><ChecksumSHA256>s+/=</ChecksumSHA256>\
             <ChecksumType>COMPOSITE</ChecksumType></CompleteMultipartUploadResult>"
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
    }
}

#[test]
fn writes_list_multipart_uploads_result() {
    let uploads = [UploadEntry {
        key: "p &<x>\u{1b}",
        upload_id: "u&1",
        initiated_ms: 1_289_422_113_000,
        owner: "web&co",
    }];
    let prefixes = ["p &/".to_owned()];
    let root = format!("{DECL}<ListMultipartUploadsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    let upload_tail = format!(
        "</Key><UploadId>u&amp;1</UploadId>{UPLOAD_PEOPLE}<StorageClass>STANDARD</StorageClass>\
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
