//! Known answers and tamper cases of the sealed chunk format.

use super::*;

const KEY: [u8; 32] = [0x11; 32];
const NONCE: [u8; 12] = [0x22; 12];
const ID: Identity<'static> = Identity {
    bucket: "bkt",
    key: "a/key",
    version: 7,
};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Seals `plain` as segment `number` in chunks of `chunk` bytes.
fn seal_all(key: &DataKey, id: Identity<'_>, number: u32, chunk: usize, plain: &[u8]) -> Vec<u8> {
    let mut c = SegmentCipher::new(key, id, number, NONCE);
    let pieces: Vec<&[u8]> = if plain.is_empty() {
        vec![&[][..]]
    } else {
        plain.chunks(chunk).collect()
    };
    let mut out = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        let mut b = p.to_vec();
        let tag = c.seal(i as u64, i + 1 == pieces.len(), &mut b).unwrap();
        out.extend_from_slice(&b);
        out.extend_from_slice(&tag);
    }
    out
}

/// Opens every chunk of one segment sealed in chunks of `chunk` bytes.
fn open_all(key: &DataKey, id: Identity<'_>, number: u32, chunk: usize, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    let mut c = SegmentCipher::new(key, id, number, NONCE);
    let pieces: Vec<&[u8]> = sealed.chunks(chunk + TAG).collect();
    let mut out = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        let mut b = p.to_vec();
        let n = c.open(i as u64, i + 1 == pieces.len(), &mut b)?;
        out.extend_from_slice(&b[..n]);
    }
    Ok(out)
}

#[test]
fn known_answers_match_an_independent_implementation_of_the_documented_format() {
    // Computed with Python's `cryptography` (AESGCM) from the module documentation: nonce = base
    // with its last 8 bytes XORed with the big-endian index, AAD = label, length-prefixed bucket
    // and key, version, segment number, index, last flag.
    let key = DataKey::new(&KEY);
    let sealed = seal_all(&key, ID, 0, 16, b"hello sealed world!");
    assert_eq!(
        sealed,
        unhex("7f926b25afefec3a8453bb5868d186a76df42a1f45914f85ba5e57ef06ee8c1a5568486f85970ffd2086e5fb9eff960ca34360")
    );
    assert_eq!(
        seal_all(&key, ID, 3, 16, b""),
        unhex("ea69473e18e4e436d3a082c14cd2465a")
    );
    assert_eq!(open_all(&key, ID, 0, 16, &sealed).unwrap(), b"hello sealed world!");
}

#[test]
fn a_flipped_byte_is_detected_wherever_it_is() {
    let key = DataKey::new(&KEY);
    let plain: Vec<u8> = (0..100u8).collect();
    let sealed = seal_all(&key, ID, 0, 32, &plain);
    for i in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[i] ^= 0x01;
        assert!(
            matches!(open_all(&key, ID, 0, 32, &bad), Err(SealError::Tampered)),
            "byte {i}"
        );
    }
}

#[test]
fn swapped_truncated_and_moved_chunks_are_detected() {
    let key = DataKey::new(&KEY);
    let plain = vec![7u8; 96];
    let sealed = seal_all(&key, ID, 0, 32, &plain);
    let per = 32 + TAG;
    // Two chunks swapped.
    let mut swapped = sealed.clone();
    swapped[..per].copy_from_slice(&sealed[per..2 * per]);
    swapped[per..2 * per].copy_from_slice(&sealed[..per]);
    assert!(open_all(&key, ID, 0, 32, &swapped).is_err());
    // The last chunk dropped: the new last one was not sealed as last.
    assert!(open_all(&key, ID, 0, 32, &sealed[..2 * per]).is_err());
    // Cut inside a chunk.
    assert!(open_all(&key, ID, 0, 32, &sealed[..sealed.len() - 1]).is_err());
    // The same bytes read as another object, version or segment.
    let other = Identity { key: "b/key", ..ID };
    assert!(open_all(&key, other, 0, 32, &sealed).is_err());
    let newer = Identity { version: 8, ..ID };
    assert!(open_all(&key, newer, 0, 32, &sealed).is_err());
    assert!(open_all(&key, ID, 1, 32, &sealed).is_err());
    // Another data key.
    assert!(open_all(&DataKey::new(&[0x12; 32]), ID, 0, 32, &sealed).is_err());
    assert_eq!(open_all(&key, ID, 0, 32, &sealed).unwrap(), plain);
}

#[test]
fn layouts_locate_chunks_across_segments() {
    // Segments of 40, 0 and 20 bytes in chunks of 16: 3 + 1 + 2 chunks.
    let l = Layout::new(16, vec![40, 0, 20]);
    assert_eq!((l.chunks(0), l.chunks(1), l.chunks(2)), (3, 1, 2));
    assert_eq!(l.stored_len(0), 40 + 48);
    assert_eq!(l.stored_len(1), 16);
    assert_eq!(l.total_stored(), 88 + 16 + 52);
    assert_eq!(l.plain_len(0, 2), 8);
    let at = l.locate(33);
    assert_eq!((at.segment, at.index, at.plain, at.stored), (0, 2, 32, 64));
    // Byte 40 is the first of segment 2 (the empty one holds none).
    let at = l.locate(40);
    assert_eq!((at.segment, at.index, at.plain, at.stored), (2, 0, 40, 104));
    // Walking chunk by chunk visits the empty segment and ends past the body.
    let mut at = l.first();
    let mut seen = Vec::new();
    while at.segment < 3 {
        seen.push((at.segment, at.index, at.stored));
        at = l.next(at);
    }
    assert_eq!(
        seen,
        vec![(0, 0, 0), (0, 1, 32), (0, 2, 64), (1, 0, 88), (2, 0, 104), (2, 1, 136)]
    );
    assert_eq!(at.stored, l.total_stored());
    // Range 15..=41 needs chunks from (0,0) to (2,0).
    let (first, start, end) = l.stored_range(15, 41);
    assert_eq!((first.segment, first.index, start, end), (0, 0, 0, 104 + 16 + 16 - 1));
    assert_eq!(s3o_store::Sealed::sealed_len(16, 40), l.stored_len(0));
}
