//! The multipart ETag and the part-list checks of CompleteMultipartUpload.

use super::*;

#[test]
fn the_multipart_etag_is_the_md5_of_the_part_md5s() {
    // Two parts whose MD5s are those of "a" and "b".
    let a = "\"0cc175b9c0f1b6a831c399e269772661\"";
    let b = "92eb5ffee6ae2fec3ad71c777531578f";
    let mut md5 = Md5::new();
    md5.update([
        0x0c, 0xc1, 0x75, 0xb9, 0xc0, 0xf1, 0xb6, 0xa8, 0x31, 0xc3, 0x99, 0xe2, 0x69, 0x77, 0x26, 0x61,
    ]);
    md5.update([
        0x92, 0xeb, 0x5f, 0xfe, 0xe6, 0xae, 0x2f, 0xec, 0x3a, 0xd7, 0x1c, 0x77, 0x75, 0x31, 0x57, 0x8f,
    ]);
    let want = format!("\"{}-2\"", s3o_sigv4::encode::hex(&md5.finalize()));
    assert_eq!(multipart_etag([a, b].into_iter()), want);
}

fn part(number: u32, size: u64) -> Part {
    Part {
        number,
        size,
        etag: format!("\"{number:032x}\""),
        ..Part::default()
    }
}

fn req(number: u32) -> xml::CompletedPart {
    xml::CompletedPart {
        part_number: number,
        etag: format!("{number:032x}"),
        checksums: vec![],
    }
}

#[test]
fn part_lists_are_checked_like_s3() {
    let recorded: HashMap<u32, Part> = [part(1, MIN_PART_SIZE), part(2, 1), part(3, 1)]
        .into_iter()
        .map(|p| (p.number, p))
        .collect();
    assert_eq!(used_parts(&[req(1), req(2)], &recorded).unwrap().len(), 2);
    assert!(matches!(
        used_parts(&[req(2), req(1)], &recorded),
        Err(ProxyError::InvalidPartOrder)
    ));
    assert!(matches!(
        used_parts(&[req(1), req(1)], &recorded),
        Err(ProxyError::InvalidPartOrder)
    ));
    assert!(matches!(
        used_parts(&[req(1), req(4)], &recorded),
        Err(ProxyError::InvalidPart)
    ));
    assert!(matches!(
        used_parts(&[req(2), req(3)], &recorded),
        Err(ProxyError::EntityTooSmall)
    ));
    let mut wrong = req(1);
    wrong.etag = "\"ffffffffffffffffffffffffffffffff\"".into();
    assert!(matches!(used_parts(&[wrong], &recorded), Err(ProxyError::InvalidPart)));
}
