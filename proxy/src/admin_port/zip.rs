//! The ZIP format as a stream is written (APPNOTE 6.3): entries are stored (no compression,
//! so no byte is held back), each with its CRC-32 and sizes in a data descriptor after its
//! bytes, since they are known only once the bytes went out; the central directory follows
//! the last entry. ZIP64 records are used where a size or an offset passes 32 bits (or the
//! entries 65535), so an archive of any size opens. Pure byte layouts: the streaming is
//! [`super::data_zip`]'s.

/// One entry written, as the central directory lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name in the archive.
    pub name: String,
    /// CRC-32 of the bytes.
    pub crc: u32,
    /// Bytes (stored: compressed = uncompressed).
    pub size: u64,
    /// Offset of its local header.
    pub offset: u64,
    /// MS-DOS time and date of its last change.
    pub dos: (u16, u16),
}

/// Bit 3: sizes and CRC in a data descriptor; bit 11: the name is UTF-8.
const FLAGS: u16 = (1 << 3) | (1 << 11);
/// Version needed: 4.5 (ZIP64).
const VERSION: u16 = 45;
const MAX32: u64 = 0xFFFF_FFFF;

fn u16le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u32le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u64le(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn low32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The MS-DOS (time, date) of `unix_secs` (UTC), clamped to 1980..=2107.
pub fn dos_time(unix_secs: u64) -> (u16, u16) {
    let days = i64::try_from(unix_secs / 86_400).unwrap_or(i64::MAX);
    let rem = unix_secs % 86_400;
    // Civil date from days since the epoch (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    if y < 1980 {
        return (0, (1 << 5) | 1);
    }
    let y = y.min(2107);
    let time = ((rem / 3600) << 11) | ((rem % 3600 / 60) << 5) | (rem % 60 / 2);
    let date = ((y - 1980) << 9) | (m << 5) | d;
    (u16::try_from(time).unwrap_or(0), u16::try_from(date).unwrap_or(0))
}

/// The local header of an entry named `name` (sizes follow the bytes, in its descriptor).
pub fn local_header(name: &str, dos: (u16, u16)) -> Vec<u8> {
    let mut out = Vec::with_capacity(30 + name.len() + 20);
    u32le(&mut out, 0x0403_4b50);
    u16le(&mut out, VERSION);
    u16le(&mut out, FLAGS);
    u16le(&mut out, 0); // stored
    u16le(&mut out, dos.0);
    u16le(&mut out, dos.1);
    u32le(&mut out, 0); // CRC, sizes: in the descriptor
    u32le(&mut out, 0);
    u32le(&mut out, 0);
    u16le(&mut out, u16::try_from(name.len()).unwrap_or(u16::MAX));
    // A ZIP64 extra with zero sizes, so that readers expect 8-byte sizes in the descriptor.
    u16le(&mut out, 20);
    out.extend_from_slice(name.as_bytes());
    u16le(&mut out, 0x0001);
    u16le(&mut out, 16);
    u64le(&mut out, 0);
    u64le(&mut out, 0);
    out
}

/// The data descriptor after an entry's bytes (ZIP64: 8-byte sizes).
pub fn descriptor(crc: u32, size: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    u32le(&mut out, 0x0807_4b50);
    u32le(&mut out, crc);
    u64le(&mut out, size);
    u64le(&mut out, size);
    out
}

/// The central directory and its end records, for entries written before `cd_offset`.
pub fn central_directory(entries: &[Entry], cd_offset: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut extra = Vec::new();
        let big = e.size >= MAX32 || e.offset >= MAX32;
        if big {
            u16le(&mut extra, 0x0001);
            u16le(&mut extra, 24);
            u64le(&mut extra, e.size);
            u64le(&mut extra, e.size);
            u64le(&mut extra, e.offset);
        }
        u32le(&mut out, 0x0201_4b50);
        u16le(&mut out, (3 << 8) | VERSION); // made by: Unix
        u16le(&mut out, VERSION);
        u16le(&mut out, FLAGS);
        u16le(&mut out, 0);
        u16le(&mut out, e.dos.0);
        u16le(&mut out, e.dos.1);
        u32le(&mut out, e.crc);
        let (size, offset) = if big { (MAX32, MAX32) } else { (e.size, e.offset) };
        u32le(&mut out, low32(size));
        u32le(&mut out, low32(size));
        u16le(&mut out, u16::try_from(e.name.len()).unwrap_or(u16::MAX));
        u16le(&mut out, u16::try_from(extra.len()).unwrap_or(0));
        u16le(&mut out, 0); // comment
        u16le(&mut out, 0); // disk
        u16le(&mut out, 0); // internal attributes
        u32le(&mut out, 0o100_644 << 16); // external: a regular file, rw-r--r--
        u32le(&mut out, low32(offset));
        out.extend_from_slice(e.name.as_bytes());
        out.extend_from_slice(&extra);
    }
    let cd_size = out.len() as u64;
    let count = entries.len() as u64;
    let end64_offset = cd_offset + cd_size;
    // ZIP64 end of central directory and its locator: always written, readers use them when
    // the classic record's fields are saturated.
    u32le(&mut out, 0x0606_4b50);
    u64le(&mut out, 44);
    u16le(&mut out, (3 << 8) | VERSION);
    u16le(&mut out, VERSION);
    u32le(&mut out, 0);
    u32le(&mut out, 0);
    u64le(&mut out, count);
    u64le(&mut out, count);
    u64le(&mut out, cd_size);
    u64le(&mut out, cd_offset);
    u32le(&mut out, 0x0706_4b50);
    u32le(&mut out, 0);
    u64le(&mut out, end64_offset);
    u32le(&mut out, 1);
    u32le(&mut out, 0x0605_4b50);
    u16le(&mut out, 0);
    u16le(&mut out, 0);
    let count16 = u16::try_from(count).unwrap_or(u16::MAX);
    u16le(&mut out, count16);
    u16le(&mut out, count16);
    u32le(&mut out, low32(cd_size));
    u32le(&mut out, low32(cd_offset));
    u16le(&mut out, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_times() {
        // 2026-12-06 10:20:30 UTC.
        let (t, d) = dos_time(1_796_552_430);
        assert_eq!((t >> 11, (t >> 5) & 63, (t & 31) * 2), (10, 20, 30));
        assert_eq!(((d >> 9) + 1980, (d >> 5) & 15, d & 31), (2026, 12, 6));
        assert_eq!(dos_time(0), (0, (1 << 5) | 1));
    }

    #[test]
    fn a_small_archive_has_the_records_in_order() {
        let mut out = local_header("a.txt", (0, 33));
        out.extend_from_slice(b"hi");
        out.extend_from_slice(&descriptor(0xd8932aac, 2));
        let cd_offset = out.len() as u64;
        let entries = [Entry {
            name: "a.txt".into(),
            crc: 0xd8932aac,
            size: 2,
            offset: 0,
            dos: (0, 33),
        }];
        let cd = central_directory(&entries, cd_offset);
        assert_eq!(&cd[..4], &[0x50, 0x4b, 0x01, 0x02]);
        let end = &cd[cd.len() - 22..];
        assert_eq!(&end[..4], &[0x50, 0x4b, 0x05, 0x06]);
        assert_eq!(u16::from_le_bytes([end[10], end[11]]), 1);
        assert_eq!(
            u32::from_le_bytes([end[16], end[17], end[18], end[19]]),
            low32(cd_offset)
        );
    }
}
