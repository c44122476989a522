//! S3 XML: the documents the proxy sends (Error, ListAllMyBucketsResult, ListBucketResult for
//! ListObjects v1 and v2, LocationConstraint, DeleteResult, InitiateMultipartUploadResult,
//! CompleteMultipartUploadResult, ListPartsResult, ListMultipartUploadsResult, CopyObjectResult,
//! CopyPartResult, Tagging, GetObjectAttributesResponse, PostResponse, VersioningConfiguration,
//! ListVersionsResult, ObjectLockConfiguration, Retention, LegalHold) and the request bodies and
//! headers it reads (Delete, CreateBucketConfiguration, CompleteMultipartUpload, Tagging,
//! `x-amz-tagging`, VersioningConfiguration, ObjectLockConfiguration, Retention, LegalHold).
//!
//! Writers are hand-written rather than serde-derived: each document is one borrowed struct whose
//! [`XmlBody::write_into`] appends the exact bytes S3 sends — declaration first, S3 namespace on
//! the root where S3 puts it, elements in S3's wire order — to a caller's buffer, escaping as it
//! goes and allocating nothing per field (ListObjectsV2 of 1000 keys is a benchmarked hot path).
//! Readers are bounded quick-xml pull loops, indifferent to whitespace, namespaces and element
//! order, that answer [`XmlError::MalformedXML`] for anything S3 would refuse.

mod acl;
mod attributes;
mod bucket;
mod bucket_access;
mod copy;
mod cors;
mod delete;
mod error_document;
mod lifecycle;
mod listing;
mod lock;
mod multipart;
mod post;
mod reader;
mod tagging;
mod versioning;
mod writer;

pub use acl::{parse_access_control_policy, AccessControlPolicy, AclRequest, MAX_ACL_BODY_BYTES};
pub use attributes::{AttributePart, GetObjectAttributesResponse, ObjectParts};
pub use bucket::{parse_create_bucket_configuration, LocationConstraint, MAX_CREATE_BUCKET_BODY_BYTES};
pub use bucket_access::{
    parse_ownership_controls, parse_public_access_block, OwnershipControls, PolicyStatus,
    PublicAccessBlockConfiguration,
};
pub use copy::{CopyObjectResult, CopyPartResult};
pub use cors::{parse_cors, CorsConfiguration, CorsError, MAX_CORS_BODY_BYTES};
pub use delete::{
    parse_delete, DeleteOutcome, DeleteRequest, DeleteResult, DeleteTarget, MAX_DELETE_BODY_BYTES, MAX_DELETE_OBJECTS,
};
pub use error_document::ErrorDocument;
pub use lifecycle::{parse_lifecycle, LifecycleConfiguration, LifecycleError, MAX_LIFECYCLE_BODY_BYTES};
pub use listing::{
    BucketEntry, ListAllMyBucketsResult, ListBucketResult, ListBucketResultV2, ListedObject, ObjectEntry, Owner,
    STORAGE_CLASS,
};
pub use lock::{
    mode_name, mode_of, parse_legal_hold, parse_object_lock, parse_retention, DefaultRetentionRequest,
    LegalHoldDocument, ObjectLockConfiguration, RetentionDocument,
};
pub use multipart::{
    checksum_element, parse_complete_multipart_upload, CompleteMultipartUploadResult, CompletedPart,
    InitiateMultipartUploadResult, ListMultipartUploadsResult, ListPartsResult, PartEntry, UploadEntry,
    MAX_COMPLETE_BODY_BYTES, MAX_PARTS,
};
pub use post::PostResponse;
pub use tagging::{parse_tagging, parse_tagging_query, Tagging, MAX_TAGGING_BODY_BYTES};
pub use versioning::{
    parse_versioning, ListVersionsResult, VersioningConfiguration, VersioningRequest, MAX_CONFIG_BODY_BYTES,
};
pub use writer::{escape_into, iso8601_millis, url_encode_into, url_encode_key, write_iso8601_millis, write_u64};

/// The S3 namespace, on the root of every document S3 namespaces (all but `Error`).
pub const S3_XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The declaration every document starts with, followed by a newline as S3 sends it.
pub const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// A request body that could not be read. Every variant is S3's `MalformedXML` ("The XML you
/// provided was not well-formed or did not validate against our published schema").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed, not shaped like the expected document, or over a limit; the reason is for
    /// logs, never for the client.
    #[error("malformed XML: {0}")]
    MalformedXML(&'static str),
}

/// An XML document the proxy sends as a response body.
pub trait XmlBody {
    /// Appends the whole document, declaration first, to `out`.
    fn write_into(&self, out: &mut Vec<u8>);

    /// About how many bytes [`write_into`](Self::write_into) appends, to size a buffer once.
    fn size_hint(&self) -> usize {
        256
    }

    /// The whole document in a new buffer.
    fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size_hint());
        self.write_into(&mut out);
        out
    }
}

/// Appends the declaration and `<root xmlns="...">`.
fn open_namespaced_root(out: &mut Vec<u8>, root: &str) {
    out.extend_from_slice(XML_DECLARATION.as_bytes());
    out.push(b'<');
    out.extend_from_slice(root.as_bytes());
    out.extend_from_slice(b" xmlns=\"");
    out.extend_from_slice(S3_XMLNS.as_bytes());
    out.extend_from_slice(b"\">");
}
