//! The one error type of the sigv4 crate. Each variant names what went wrong and maps onto exactly
//! one S3 error code (`SigError::s3_code`); the proxy turns that into an HTTP status and XML.

use thiserror::Error;

/// Everything that can make a request fail authentication or body verification.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SigError {
    /// The computed signature differs from the one the client sent.
    #[error("The request signature we calculated does not match the signature you provided.")]
    SignatureDoesNotMatch,
    /// The access key is not known to the credential provider.
    #[error("The AWS Access Key Id you provided does not exist in our records.")]
    InvalidAccessKeyId,
    /// `x-amz-date` is too far from the server clock (header auth, or a presign from the future).
    #[error("The difference between the request time and the current time is too large.")]
    RequestTimeTooSkewed,
    /// Access denied for a reason that is not a bad signature (expired presigned URL, unsigned x-amz headers).
    #[error("{0}")]
    AccessDenied(&'static str),
    /// The `Authorization` header is not a well-formed SigV4 header.
    #[error("The authorization header is malformed; {0}")]
    AuthorizationHeaderMalformed(&'static str),
    /// The presigned-URL query parameters are missing or malformed.
    #[error("{0}")]
    AuthorizationQueryParametersError(&'static str),
    /// The body does not hash to the hex `x-amz-content-sha256` the client signed.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    XAmzContentSHA256Mismatch,
    /// Header auth without the `x-amz-content-sha256` header S3 requires.
    #[error("Missing required header for this request: x-amz-content-sha256")]
    MissingContentSha256,
    /// `x-amz-content-sha256` is neither a hex digest nor a known keyword.
    #[error("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-* or a hex SHA-256 digest.")]
    InvalidContentSha256,
    /// The body does not match its `Content-MD5`.
    #[error("The Content-MD5 you specified did not match what we received.")]
    BadDigest,
    /// `Content-MD5` is not base64 of 16 bytes.
    #[error("The Content-MD5 you specified is not valid.")]
    InvalidDigest,
    /// The body ended before the length it announced.
    #[error("You did not provide the number of bytes specified by the Content-Length HTTP header.")]
    IncompleteBody,
    /// A body of unknown length was sent where one is required.
    #[error("You must provide the Content-Length HTTP header.")]
    MissingContentLength,
    /// A streaming body is malformed: bad chunk header, size over the limit, bad framing, too long.
    #[error("Invalid chunked upload: {0}")]
    InvalidChunk(&'static str),
    /// A `x-amz-checksum-*` value does not match the payload.
    #[error("The {0} you specified did not match the calculated checksum.")]
    BadChecksum(&'static str),
    /// A `x-amz-checksum-*` value is not a valid base64 digest of the right length.
    #[error("Value for x-amz-checksum-{0} header is invalid.")]
    InvalidChecksum(&'static str),
    /// A `x-amz-checksum-*` trailer value is not a valid base64 digest of the right length.
    #[error("Value for x-amz-checksum-{0} trailing header is invalid.")]
    InvalidTrailingChecksum(&'static str),
    /// `x-amz-sdk-checksum-algorithm` names another algorithm than the checksum sent with it.
    #[error("Value for x-amz-sdk-checksum-algorithm header is invalid.")]
    InvalidSdkChecksumAlgorithm,
    /// The trailer of an aws-chunked body is not the one `x-amz-trailer` announced: missing,
    /// of another algorithm, or with other fields.
    #[error(
        "The request contained trailing data that was not well-formed or did not conform to our published schema."
    )]
    MalformedTrailer,
    /// The checksum algorithm or trailer named is not supported.
    #[error("The algorithm or trailer {0} is not supported.")]
    UnsupportedChecksum(String),
    /// The signing algorithm (for example SigV4a ECDSA) is not implemented.
    #[error("The authorization mechanism you have provided is not supported: {0}")]
    UnsupportedAlgorithm(String),
}

impl SigError {
    /// The S3 error code this error is reported as.
    pub fn s3_code(&self) -> &'static str {
        match self {
            SigError::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            SigError::InvalidAccessKeyId => "InvalidAccessKeyId",
            SigError::RequestTimeTooSkewed => "RequestTimeTooSkewed",
            SigError::AccessDenied(_) => "AccessDenied",
            SigError::AuthorizationHeaderMalformed(_) => "AuthorizationHeaderMalformed",
            SigError::AuthorizationQueryParametersError(_) => "AuthorizationQueryParametersError",
            SigError::XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
            SigError::MissingContentSha256 => "InvalidRequest",
            SigError::InvalidContentSha256 => "InvalidArgument",
            SigError::BadDigest => "BadDigest",
            SigError::InvalidDigest => "InvalidDigest",
            SigError::IncompleteBody => "IncompleteBody",
            SigError::MissingContentLength => "MissingContentLength",
            SigError::InvalidChunk(_) => "InvalidRequest",
            SigError::BadChecksum(_) => "BadDigest",
            SigError::InvalidChecksum(_) => "InvalidRequest",
            SigError::InvalidTrailingChecksum(_) => "InvalidRequest",
            SigError::InvalidSdkChecksumAlgorithm => "InvalidRequest",
            SigError::MalformedTrailer => "MalformedTrailerError",
            SigError::UnsupportedChecksum(_) => "InvalidRequest",
            SigError::UnsupportedAlgorithm(_) => "NotImplemented",
        }
    }

    /// The HTTP status S3 answers this error with.
    pub fn http_status(&self) -> u16 {
        match self {
            SigError::SignatureDoesNotMatch
            | SigError::InvalidAccessKeyId
            | SigError::RequestTimeTooSkewed
            | SigError::AccessDenied(_) => 403,
            SigError::MissingContentLength => 411,
            SigError::UnsupportedAlgorithm(_) => 501,
            _ => 400,
        }
    }
}
