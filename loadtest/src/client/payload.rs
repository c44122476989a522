//! Request bodies, generated once and reused. One buffer of deterministic pseudo-random bytes
//! (stream 0 of [`crate::pattern`], as large as the largest object, or part) is shared by all
//! threads; a body of `n` bytes is the
//! zero-copy slice `data[..n]`. For aws-chunked uploads the framed form of every whole 64 KiB
//! chunk of that buffer is also built once, so a chunked body is a slice of it plus a few small
//! pieces (the last partial chunk's header and the trailer). The SHA-256 (`signed`) and CRC32C
//! (`chunked-crc32c`) of each size are cached per thread, so a fixed-size run hashes once.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use s3o_sigv4::string_to_sign::sha256_hex;
use s3o_sigv4::{ChecksumAlgorithm, Checksummer};

/// Bytes of payload per aws-chunked chunk.
pub const CHUNK: usize = 64 * 1024;
/// A whole chunk framed: `10000\r\n` + data + `\r\n`.
const FRAMED_CHUNK: usize = 7 + CHUNK + 2;
/// Most sizes whose digests one thread remembers (size ranges would otherwise grow it forever).
const MAX_CACHED_SIZES: usize = 4096;
/// `x-amz-content-sha256` of an unsigned payload.
pub const UNSIGNED: &str = "UNSIGNED-PAYLOAD";
/// `x-amz-content-sha256` of an aws-chunked body with unsigned chunks and a trailer.
pub const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/// How PUT and UploadPart bodies are sent and signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PayloadMode {
    /// `x-amz-content-sha256: UNSIGNED-PAYLOAD`.
    Unsigned,
    /// The hex SHA-256 of the body.
    Signed,
    /// aws-chunked, `STREAMING-UNSIGNED-PAYLOAD-TRAILER`, with an `x-amz-checksum-crc32c` trailer.
    #[value(name = "chunked-crc32c")]
    ChunkedCrc32c,
}

/// The shared, immutable payload bytes.
#[derive(Debug)]
pub struct PayloadData {
    data: Bytes,
    framed: Bytes,
}

impl PayloadData {
    /// The first `len` bytes of pattern stream 0, and their framed chunks when `mode` is chunked.
    pub fn new(len: usize, mode: PayloadMode) -> PayloadData {
        let data = Bytes::from(crate::pattern::bytes(0, 0, len));
        let framed = if mode == PayloadMode::ChunkedCrc32c {
            let mut f = Vec::with_capacity(len / CHUNK * FRAMED_CHUNK);
            for c in data.chunks_exact(CHUNK) {
                f.extend_from_slice(b"10000\r\n");
                f.extend_from_slice(c);
                f.extend_from_slice(b"\r\n");
            }
            Bytes::from(f)
        } else {
            Bytes::new()
        };
        PayloadData { data, framed }
    }

    /// The buffer size: the largest body that can be made.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// A request body ready to send: its `x-amz-content-sha256`, its decoded length when it is
/// aws-chunked, and the pieces written after the head.
#[derive(Debug, Clone)]
pub struct RequestBody {
    /// The `x-amz-content-sha256` value.
    pub content_sha256: Rc<str>,
    /// `Some(decoded length)` for aws-chunked bodies.
    pub decoded_len: Option<u64>,
    /// The bytes on the wire, in order.
    pub parts: Vec<Bytes>,
}

impl RequestBody {
    /// No body (GET, HEAD, DELETE, LIST and bodiless POSTs), `UNSIGNED-PAYLOAD`.
    pub fn empty(unsigned: &Rc<str>) -> RequestBody {
        RequestBody {
            content_sha256: unsigned.clone(),
            decoded_len: None,
            parts: Vec::new(),
        }
    }

    /// A small body signed with its SHA-256 (the CompleteMultipartUpload XML).
    pub fn signed_bytes(body: Vec<u8>) -> RequestBody {
        RequestBody {
            content_sha256: sha256_hex(&body).into(),
            decoded_len: None,
            parts: vec![Bytes::from(body)],
        }
    }

    /// The bytes on the wire (the `Content-Length`).
    pub fn wire_len(&self) -> u64 {
        self.parts.iter().map(|p| p.len() as u64).sum()
    }
}

/// Makes bodies for one thread, caching digests by size.
#[derive(Debug)]
pub struct BodyMaker {
    data: Arc<PayloadData>,
    mode: PayloadMode,
    unsigned: Rc<str>,
    streaming: Rc<str>,
    sha: HashMap<usize, Rc<str>>,
    crc: HashMap<usize, Rc<str>>,
}

impl BodyMaker {
    /// A maker over the shared `data`.
    pub fn new(data: Arc<PayloadData>, mode: PayloadMode) -> BodyMaker {
        BodyMaker {
            data,
            mode,
            unsigned: UNSIGNED.into(),
            streaming: STREAMING_UNSIGNED_TRAILER.into(),
            sha: HashMap::new(),
            crc: HashMap::new(),
        }
    }

    /// The shared `UNSIGNED-PAYLOAD` value.
    pub fn unsigned(&self) -> &Rc<str> {
        &self.unsigned
    }

    /// The largest body this maker can produce.
    pub fn max_len(&self) -> usize {
        self.data.len()
    }

    /// A body of `len` bytes (at most [`Self::max_len`]) in the configured payload mode.
    pub fn body(&mut self, len: usize) -> RequestBody {
        let len = len.min(self.data.len());
        let slice = self.data.data.slice(..len);
        match self.mode {
            PayloadMode::Unsigned => RequestBody {
                content_sha256: self.unsigned.clone(),
                decoded_len: None,
                parts: vec![slice],
            },
            PayloadMode::Signed => {
                let sha = cached(&mut self.sha, len, || sha256_hex(&slice));
                RequestBody {
                    content_sha256: sha,
                    decoded_len: None,
                    parts: vec![slice],
                }
            }
            PayloadMode::ChunkedCrc32c => {
                let crc = cached(&mut self.crc, len, || {
                    let mut c = Checksummer::new(ChecksumAlgorithm::Crc32c);
                    c.update(&slice);
                    c.finish_base64()
                });
                let (full, rem) = (len / CHUNK, len % CHUNK);
                let mut parts = Vec::with_capacity(4);
                if full > 0 {
                    parts.push(self.data.framed.slice(..full * FRAMED_CHUNK));
                }
                let mut tail = String::with_capacity(64);
                if rem > 0 {
                    parts.push(Bytes::from(format!("{rem:x}\r\n")));
                    parts.push(slice.slice(full * CHUNK..));
                    tail.push_str("\r\n");
                }
                tail.push_str("0\r\nx-amz-checksum-crc32c:");
                tail.push_str(&crc);
                tail.push_str("\r\n\r\n");
                parts.push(Bytes::from(tail));
                RequestBody {
                    content_sha256: self.streaming.clone(),
                    decoded_len: Some(len as u64),
                    parts,
                }
            }
        }
    }
}

impl BodyMaker {
    /// A body of other bytes (not the shared buffer) in the configured payload mode: framed by
    /// copying when aws-chunked; digests are computed, not cached.
    pub fn body_of(&self, data: Bytes) -> RequestBody {
        match self.mode {
            PayloadMode::Unsigned => RequestBody {
                content_sha256: self.unsigned.clone(),
                decoded_len: None,
                parts: vec![data],
            },
            PayloadMode::Signed => RequestBody {
                content_sha256: sha256_hex(&data).into(),
                decoded_len: None,
                parts: vec![data],
            },
            PayloadMode::ChunkedCrc32c => {
                let mut c = Checksummer::new(ChecksumAlgorithm::Crc32c);
                c.update(&data);
                let crc = c.finish_base64();
                let mut framed = Vec::with_capacity(data.len() + data.len() / CHUNK * 9 + 128);
                for chunk in data.chunks(CHUNK) {
                    framed.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    framed.extend_from_slice(chunk);
                    framed.extend_from_slice(b"\r\n");
                }
                framed.extend_from_slice(format!("0\r\nx-amz-checksum-crc32c:{crc}\r\n\r\n").as_bytes());
                RequestBody {
                    content_sha256: self.streaming.clone(),
                    decoded_len: Some(data.len() as u64),
                    parts: vec![Bytes::from(framed)],
                }
            }
        }
    }
}

fn cached(map: &mut HashMap<usize, Rc<str>>, len: usize, f: impl FnOnce() -> String) -> Rc<str> {
    if let Some(v) = map.get(&len) {
        return v.clone();
    }
    let v: Rc<str> = f().into();
    if map.len() < MAX_CACHED_SIZES {
        map.insert(len, v.clone());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3o_sigv4::{ChunkedEncoder, StreamingMode};

    fn concat(b: &RequestBody) -> Vec<u8> {
        b.parts.iter().flat_map(|p| p.iter().copied()).collect()
    }

    #[test]
    fn chunked_framing_matches_the_sigv4_encoder() {
        let data = Arc::new(PayloadData::new(3 * CHUNK + 1000, PayloadMode::ChunkedCrc32c));
        let mut maker = BodyMaker::new(data.clone(), PayloadMode::ChunkedCrc32c);
        for len in [0, 1, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 1000] {
            let body = maker.body(len);
            let enc = ChunkedEncoder::new(
                StreamingMode::UnsignedTrailer,
                None,
                Some(Checksummer::new(ChecksumAlgorithm::Crc32c)),
            );
            let want = enc.encode_all(&data.data[..len], CHUNK);
            assert_eq!(concat(&body), want, "len {len}");
            assert_eq!(body.wire_len(), want.len() as u64);
            assert_eq!(body.decoded_len, Some(len as u64));
            assert_eq!(&*body.content_sha256, STREAMING_UNSIGNED_TRAILER);
        }
    }

    #[test]
    fn plain_bodies_are_slices_with_their_digest() {
        let data = Arc::new(PayloadData::new(10_000, PayloadMode::Signed));
        let mut maker = BodyMaker::new(data.clone(), PayloadMode::Signed);
        let b = maker.body(5000);
        assert_eq!(concat(&b), &data.data[..5000]);
        assert_eq!(&*b.content_sha256, sha256_hex(&data.data[..5000]).as_str());
        assert!(
            Rc::ptr_eq(&b.content_sha256, &maker.body(5000).content_sha256),
            "cached"
        );
        let mut maker = BodyMaker::new(data, PayloadMode::Unsigned);
        assert_eq!(&*maker.body(20_000).content_sha256, UNSIGNED);
        assert_eq!(maker.body(20_000).wire_len(), 10_000, "clamped to the buffer");
    }

    #[test]
    fn bodies_of_other_bytes() {
        let data = Bytes::from(crate::pattern::bytes(5, 0, 3 * CHUNK + 10));
        let shared = Arc::new(PayloadData::new(16, PayloadMode::Unsigned));
        for mode in [PayloadMode::Unsigned, PayloadMode::Signed, PayloadMode::ChunkedCrc32c] {
            let maker = BodyMaker::new(shared.clone(), mode);
            let body = maker.body_of(data.clone());
            let enc = ChunkedEncoder::new(
                StreamingMode::UnsignedTrailer,
                None,
                Some(Checksummer::new(ChecksumAlgorithm::Crc32c)),
            );
            match mode {
                PayloadMode::ChunkedCrc32c => {
                    assert_eq!(concat(&body), enc.encode_all(&data, CHUNK));
                    assert_eq!(body.decoded_len, Some(data.len() as u64));
                }
                PayloadMode::Signed => {
                    assert_eq!(concat(&body), &data[..]);
                    assert_eq!(&*body.content_sha256, sha256_hex(&data).as_str());
                }
                PayloadMode::Unsigned => assert_eq!(concat(&body), &data[..]),
            }
        }
        assert_eq!(&shared.data[..], &crate::pattern::bytes(0, 0, 16)[..]);
    }
}
