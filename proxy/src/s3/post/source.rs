//! The I/O side of a form upload: [`FormReader`] feeds the request body into the sans-IO
//! [`FormDecoder`]; [`FileSource`] hands the file part's bytes to a backend as a
//! [`BodySource`] like a PUT body, enforcing `content-length-range` and the announced length
//! while it streams and holding back its last piece until the file's end was seen and every
//! check passed; [`WholeFile`] reads a small file into memory first.

use bytes::{Bytes, BytesMut};
use s3o_sigv4::{BodyCheck, BodyDigests};

use super::form::{Decoded, Event, FormDecoder};
use crate::backend::BodySource;
use crate::client::{ClientIo, RequestBody};
use crate::error::ProxyError;

/// The form decoder and the body bytes it has not used yet.
pub(super) struct FormReader {
    /// The decoder.
    pub decoder: FormDecoder,
    /// Received, not yet decoded.
    pub buf: BytesMut,
}

impl FormReader {
    /// The next event, reading the body as needed; a body that ends first is malformed.
    pub async fn next_event(&mut self, io: &mut ClientIo, body: &mut RequestBody) -> Result<Event, ProxyError> {
        loop {
            if let Decoded::Item(e) = self.decoder.decode(&mut self.buf)? {
                return Ok(e);
            }
            match body.next_verified(io).await? {
                Some(piece) => self.buf.extend_from_slice(&piece),
                None => {
                    return Err(ProxyError::MalformedPostRequest(
                        "the body ended before the form's closing boundary",
                    ))
                }
            }
        }
    }

    /// Reads the rest of the form after the file (ignored parts, the closing delimiter; at most
    /// `limit` bytes) and the body to its end; an error when the form does not close.
    pub async fn finish(&mut self, io: &mut ClientIo, body: &mut RequestBody, limit: u64) -> Result<(), ProxyError> {
        let start = self.decoder.consumed();
        while !self.decoder.is_complete() {
            match self.next_event(io, body).await? {
                Event::End => break,
                Event::Field { .. } | Event::File { .. } | Event::Data(_) | Event::FileEnd => {}
            }
            if self.decoder.consumed() - start > limit {
                return Err(ProxyError::MalformedPostRequest("too much data after the file"));
            }
        }
        // The epilogue, if any, is dropped.
        while let Some(piece) = body.next_verified(io).await? {
            if piece.len() as u64 > limit {
                return Err(ProxyError::MalformedPostRequest("too much data after the form"));
            }
        }
        self.buf.clear();
        Ok(())
    }
}

/// The file part as a [`BodySource`] of a known length.
pub(super) struct FileSource<'a> {
    reader: &'a mut FormReader,
    io: &'a mut ClientIo,
    body: &'a mut RequestBody,
    check: Option<BodyCheck>,
    digests: Option<BodyDigests>,
    /// File bytes seen so far.
    seen: u64,
    /// The length announced to the backend.
    len: u64,
    /// `content-length-range`.
    range: (u64, u64),
    /// The last piece, released once the end was seen and checked.
    held: Option<Bytes>,
}

impl<'a> FileSource<'a> {
    /// A source of the file's `len` bytes, checked by `check` and against `range`.
    pub fn new(
        reader: &'a mut FormReader,
        io: &'a mut ClientIo,
        body: &'a mut RequestBody,
        check: BodyCheck,
        len: u64,
        range: (u64, u64),
    ) -> FileSource<'a> {
        FileSource {
            reader,
            io,
            body,
            check: Some(check),
            digests: None,
            seen: 0,
            len,
            range,
            held: None,
        }
    }

    /// Reads the file to its end if the backend stopped before it; the verified digests.
    pub async fn finish(mut self) -> Result<BodyDigests, ProxyError> {
        while self.digests.is_none() {
            self.next_piece().await?;
        }
        self.digests
            .ok_or_else(|| ProxyError::Internal("file digests missing".into()))
    }
}

/// What a file whose bytes ended at `seen` must satisfy: the range, then the digests.
fn ended(seen: u64, range: (u64, u64), check: Option<BodyCheck>) -> Result<BodyDigests, ProxyError> {
    if seen < range.0 {
        return Err(ProxyError::EntityTooSmall);
    }
    Ok(check.unwrap_or_default().finish()?)
}

impl BodySource for FileSource<'_> {
    async fn next_piece(&mut self) -> Result<Option<Bytes>, ProxyError> {
        if self.digests.is_some() {
            return Ok(self.held.take());
        }
        loop {
            match self.reader.next_event(self.io, self.body).await? {
                Event::Data(piece) => {
                    self.seen += piece.len() as u64;
                    if self.seen > self.range.1 {
                        return Err(ProxyError::EntityTooLarge);
                    }
                    if self.seen > self.len {
                        return Err(ProxyError::MalformedPostRequest(
                            "a large file must be the last part of the form, which ends with CRLF",
                        ));
                    }
                    if let Some(c) = &mut self.check {
                        c.update(&piece);
                    }
                    if let Some(prev) = self.held.replace(piece) {
                        return Ok(Some(prev));
                    }
                }
                Event::FileEnd => {
                    if self.seen != self.len {
                        return Err(ProxyError::MalformedPostRequest(
                            "a large file must be the last part of the form, which ends with CRLF",
                        ));
                    }
                    self.digests = Some(ended(self.seen, self.range, self.check.take())?);
                    return Ok(self.held.take());
                }
                Event::Field { .. } | Event::File { .. } | Event::End => {
                    return Err(ProxyError::Internal("form event outside the file".into()))
                }
            }
        }
    }
}

/// A small file read whole (bounded) and verified.
pub(super) struct WholeFile {
    bytes: Bytes,
    digests: BodyDigests,
}

impl WholeFile {
    /// Reads the file part to its end: at most `limit` bytes (a body without a length is the
    /// only way here with more), never more than the range allows.
    pub async fn read(
        reader: &mut FormReader,
        io: &mut ClientIo,
        body: &mut RequestBody,
        mut check: BodyCheck,
        range: (u64, u64),
        limit: u64,
    ) -> Result<WholeFile, ProxyError> {
        let mut out = BytesMut::new();
        loop {
            match reader.next_event(io, body).await? {
                Event::Data(piece) => {
                    let n = out.len() as u64 + piece.len() as u64;
                    if n > range.1 {
                        return Err(ProxyError::EntityTooLarge);
                    }
                    if n > limit {
                        return Err(ProxyError::UnsizedBodyTooLarge(limit));
                    }
                    check.update(&piece);
                    out.extend_from_slice(&piece);
                }
                Event::FileEnd => {
                    let digests = ended(out.len() as u64, range, Some(check))?;
                    return Ok(WholeFile {
                        bytes: out.freeze(),
                        digests,
                    });
                }
                Event::Field { .. } | Event::File { .. } | Event::End => {
                    return Err(ProxyError::Internal("form event outside the file".into()))
                }
            }
        }
    }

    /// The file's length.
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The bytes as a source, and their digests.
    pub fn into_source(self) -> (Whole, BodyDigests) {
        (Whole(Some(self.bytes).filter(|b| !b.is_empty())), self.digests)
    }
}

/// A body source of bytes in memory.
pub(super) struct Whole(Option<Bytes>);

impl BodySource for Whole {
    async fn next_piece(&mut self) -> Result<Option<Bytes>, ProxyError> {
        Ok(self.0.take())
    }

    fn next_buffered(&mut self) -> Result<Option<Bytes>, ProxyError> {
        Ok(self.0.take())
    }
}
