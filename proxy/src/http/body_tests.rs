//! Tests of the chunked body decoder: fixtures split at every offset, hostile sizes, each limit
//! exceeded, truncation, what follows the body, and round-trip property tests.

use super::*;
use crate::http::head::decode_head;
use proptest::prelude::*;

const BODY: &[u8] = b"5\r\nhello\r\n6;name=value\r\n world\r\n0\r\n\r\n";
const TRAILERS: &[u8] = b"3\r\nabc\r\nA ; a ; b=\"q\"\r\n0123456789\r\n000;last\r\n\
x-amz-checksum-crc32: AAAAAA==\r\nX-Other:v \r\n\r\n";

/// Feeds `input` in the given pieces; returns (payload, bytes consumed in total, decoder).
fn run(pieces: &[&[u8]]) -> Result<(Vec<u8>, usize, ChunkedBody), HttpError> {
    let mut d = ChunkedBody::new();
    let mut out = Vec::new();
    let mut total = 0;
    let mut pending = Vec::new();
    for p in pieces {
        pending.extend_from_slice(p);
        loop {
            let r = d.decode(&pending)?;
            assert!(r.payload.end == r.consumed && r.payload.start <= r.payload.end);
            out.extend_from_slice(&pending[r.payload.clone()]);
            pending.drain(..r.consumed);
            total += r.consumed;
            if r.consumed == 0 || pending.is_empty() {
                break;
            }
        }
    }
    Ok((out, total, d))
}

fn whole(input: &[u8]) -> Result<(Vec<u8>, usize, ChunkedBody), HttpError> {
    run(&[input])
}

fn err(input: &[u8]) -> HttpError {
    whole(input).unwrap_err()
}

#[test]
fn decodes_fixtures() {
    let (out, n, d) = whole(BODY).unwrap();
    assert_eq!((out.as_slice(), n), (&b"hello world"[..], BODY.len()));
    assert!(d.is_done() && d.finish().is_ok());
    assert_eq!(d.decoded_len(), 11);
    assert!(d.trailers().is_empty());

    let (out, n, d) = whole(TRAILERS).unwrap();
    assert_eq!((out.as_slice(), n), (&b"abc0123456789"[..], TRAILERS.len()));
    assert_eq!(
        d.trailers(),
        &[
            ("x-amz-checksum-crc32".to_string(), "AAAAAA==".to_string()),
            ("X-Other".to_string(), "v".to_string())
        ]
    );

    let (out, _, d) = whole(b"0\r\n\r\n").unwrap();
    assert!(out.is_empty() && d.is_done());
    let (out, _, _) = whole(b"0005\r\nhello\r\n0\r\n\r\n").unwrap();
    assert_eq!(out, b"hello");
}

#[test]
fn payload_is_a_range_of_the_input() {
    let mut d = ChunkedBody::new();
    let r = d.decode(BODY).unwrap();
    assert_eq!(
        r,
        Decoded {
            consumed: 8,
            payload: 3..8
        }
    );
    assert_eq!(&BODY[r.payload], b"hello");
}

#[test]
fn every_split_offset() {
    for fixture in [BODY, TRAILERS] {
        let (want, _, want_d) = whole(fixture).unwrap();
        for i in 0..=fixture.len() {
            let (out, n, d) = run(&[&fixture[..i], &fixture[i..]]).unwrap();
            assert_eq!((out.as_slice(), n), (want.as_slice(), fixture.len()), "split {i}");
            assert!(d.is_done());
            assert_eq!(d.trailers(), want_d.trailers());
        }
        for i in 0..fixture.len() {
            for j in i..=fixture.len() {
                let (out, _, _) = run(&[&fixture[..i], &fixture[i..j], &fixture[j..]]).unwrap();
                assert_eq!(out, want, "splits {i} {j}");
            }
        }
        let bytes: Vec<&[u8]> = fixture.chunks(1).collect();
        assert_eq!(run(&bytes).unwrap().0, want);
    }
}

#[test]
fn truncated_at_every_offset() {
    for fixture in [BODY, TRAILERS] {
        for i in 0..fixture.len() {
            let (_, n, d) = whole(&fixture[..i]).unwrap();
            assert_eq!(n, i, "a prefix is consumed whole");
            assert!(!d.is_done());
            assert_eq!(d.finish(), Err(HttpError::BadChunk("truncated chunked body")));
        }
    }
}

#[test]
fn stops_at_the_end_of_the_body() {
    let mut input = BODY.to_vec();
    input.extend_from_slice(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let (out, n, mut d) = whole(&input).unwrap();
    assert_eq!((out.as_slice(), n), (&b"hello world"[..], BODY.len()));
    assert!(decode_head(&input[n..]).unwrap().is_some());
    assert_eq!(
        d.decode(b"more"),
        Ok(Decoded {
            consumed: 0,
            payload: 0..0
        })
    );
}

#[test]
fn hostile_sizes() {
    assert_eq!(
        err(b"10000000000000000\r\n"),
        HttpError::BadChunk("chunk size too large")
    );
    assert_eq!(
        err(b"00000000000000000000005\r\nhello\r\n"),
        HttpError::BadChunk("chunk size too large")
    );
    // 16 digits is the u64 maximum: accepted, nothing allocated for it, streamed as it comes.
    let mut d = ChunkedBody::new();
    let input = b"FFFFFFFFFFFFFFFF\r\n0123456789";
    let r = d.decode(input).unwrap();
    assert_eq!(&input[r.payload], b"0123456789");
    assert!(d.line.capacity() <= MAX_CHUNK_LINE_BYTES);
    assert!(d.finish().is_err());
    // A second chunk that would overflow the running total.
    assert_eq!(
        err(b"1\r\na\r\nFFFFFFFFFFFFFFFF\r\n"),
        HttpError::BadChunk("body length overflows")
    );
}

#[test]
fn chunk_line_limit() {
    let line = |ext_len: usize| {
        let mut v = b"5;".to_vec();
        v.resize(2 + ext_len, b'x');
        v.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        v
    };
    assert_eq!(whole(&line(MAX_CHUNK_LINE_BYTES - 4)).unwrap().0, b"hello");
    let e = HttpError::BadChunk("chunk-size line too long");
    assert_eq!(err(&line(MAX_CHUNK_LINE_BYTES - 3)), e);
    // Refused while still streaming, without waiting for a line end.
    let mut d = ChunkedBody::new();
    assert!(d.decode(&vec![b'x'; MAX_CHUNK_LINE_BYTES]).is_ok());
    assert_eq!(d.decode(b"x"), Err(e));
}

#[test]
fn trailer_limits() {
    let with = |fields: &str| format!("0\r\n{fields}\r\n").into_bytes();
    let n_fields = |n: usize| (0..n).map(|i| format!("x-{i}: v\r\n")).collect::<String>();
    assert_eq!(
        whole(&with(&n_fields(MAX_TRAILER_FIELDS))).unwrap().2.trailers().len(),
        MAX_TRAILER_FIELDS
    );
    assert_eq!(
        err(&with(&n_fields(MAX_TRAILER_FIELDS + 1))),
        HttpError::BadChunk("too many trailer fields")
    );
    // Bytes: the section including the final CRLF must fit.
    let value = |len: usize| format!("x: {}\r\n", "v".repeat(len));
    let fits = with(&value(MAX_TRAILER_BYTES - 7));
    assert!(whole(&fits).unwrap().2.is_done());
    assert_eq!(
        err(&with(&value(MAX_TRAILER_BYTES - 6))),
        HttpError::BadChunk("trailer section too large")
    );
    assert_eq!(
        err(&with(&value(MAX_TRAILER_BYTES))),
        HttpError::BadChunk("trailer section too large")
    );
}

#[test]
fn malformed_framing() {
    let cases: &[&[u8]] = &[
        b"\r\n",
        b";ext\r\n",
        b"x\r\n",
        b"-5\r\nhello\r\n",
        b"+5\r\nhello\r\n",
        b"0x5\r\nhello\r\n",
        b"5 5\r\nhello\r\n",
        b"5\nhello\r\n0\r\n\r\n",
        b"5\r\r\nhello\r\n",
        b"5;a\rb\r\nhello\r\n",
        b"5;a\x00\r\nhello\r\n",
        b"5\r\nhelloX\r\n",
        b"5\r\nhello\n0\r\n\r\n",
        b"5\r\nhello\r\r\n",
        b"0\r\n\n",
        b"0\r\nx: v\n\r\n",
        b"0\r\n x: v\r\n\r\n",
        b"0\r\nx: v\r\n folded\r\n\r\n",
        b"0\r\nno colon\r\n\r\n",
        b"0\r\nBad Name: v\r\n\r\n",
        b"0\r\n: v\r\n\r\n",
        b"0\r\nx: \x01\r\n\r\n",
        b"0\r\nx: \xff\r\n\r\n",
    ];
    for c in cases {
        let e = err(c);
        assert_eq!(e.status(), 400, "{}", String::from_utf8_lossy(c));
        // Split at every offset, the same input fails the same way.
        for i in 0..=c.len() {
            assert_eq!(
                run(&[&c[..i], &c[i..]]).unwrap_err(),
                e,
                "{} split {i}",
                String::from_utf8_lossy(c)
            );
        }
    }
    // Whitespace before an extension is allowed (BWS).
    assert_eq!(whole(b"5 \t;a=b\r\nhello\r\n0\r\n\r\n").unwrap().0, b"hello");
    assert_eq!(whole(b"5 \r\nhello\r\n0\r\n\r\n").unwrap().0, b"hello");
}

fn head(lines: &str) -> RequestHead {
    decode_head(format!("PUT /b/k HTTP/1.1\r\nHost: h\r\n{lines}\r\n").as_bytes())
        .unwrap()
        .unwrap()
        .0
}

#[test]
fn body_kind() {
    assert_eq!(BodyKind::from_head(&head("")), Ok(BodyKind::Empty));
    assert_eq!(BodyKind::from_head(&head("Content-Length: 0\r\n")), Ok(BodyKind::Empty));
    assert_eq!(
        BodyKind::from_head(&head("Content-Length: 42\r\n")),
        Ok(BodyKind::Length(42))
    );
    assert_eq!(
        BodyKind::from_head(&head("Transfer-Encoding: chunked\r\n")),
        Ok(BodyKind::Chunked)
    );
    // from_head re-checks heads built by hand too.
    let mut h = head("Content-Length: 1\r\n");
    h.headers.push(("Transfer-Encoding".into(), "chunked".into()));
    assert_eq!(BodyKind::from_head(&h).unwrap_err().status(), 400);
    h.headers.remove(1);
    h.headers[1].1 = "gzip".into();
    assert_eq!(BodyKind::from_head(&h).unwrap_err().status(), 501);
}

/// Encodes `payload` in chunks of the given sizes (cycled), with extensions and trailers.
fn encode(payload: &[u8], sizes: &[usize], ext: bool, trailers: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = payload;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        i += 1;
        out.extend_from_slice(format!("{n:x}").as_bytes());
        if ext {
            out.extend_from_slice(b";k=v");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
    out.extend_from_slice(b"0\r\n");
    for t in 0..trailers {
        out.extend_from_slice(format!("t-{t}: {t}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

proptest! {
    #[test]
    fn round_trip_any_split(
        payload in proptest::collection::vec(any::<u8>(), 0..600),
        sizes in proptest::collection::vec(1usize..300, 1..5),
        ext in any::<bool>(),
        trailers in 0usize..4,
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let input = encode(&payload, &sizes, ext, trailers);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut at = 0;
        for c in cuts {
            pieces.push(&input[at..c]);
            at = c;
        }
        pieces.push(&input[at..]);
        let (out, n, d) = run(&pieces).unwrap();
        prop_assert_eq!(out, payload);
        prop_assert_eq!(n, input.len());
        prop_assert!(d.is_done());
        prop_assert_eq!(d.trailers().len(), trailers);
    }

    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut d = ChunkedBody::new();
        let mut rest = input.as_slice();
        while let Ok(r) = d.decode(rest) {
            prop_assert!(r.consumed <= rest.len() && r.payload.end == r.consumed);
            if r.consumed == 0 {
                break;
            }
            rest = &rest[r.consumed..];
        }
    }

    #[test]
    fn mutated_bodies_never_panic(
        edits in proptest::collection::vec((any::<usize>(), prop::sample::select(b"0f;\r\n :\x00".to_vec())), 1..6),
    ) {
        let mut input = TRAILERS.to_vec();
        for (at, b) in edits {
            let at = at % input.len();
            input[at] = b;
        }
        let _ = whole(&input);
    }
}
