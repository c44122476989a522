//! The SigV4 timestamp: `x-amz-date` / `X-Amz-Date` in ISO 8601 basic form, `YYYYMMDD'T'HHMMSS'Z'`,
//! always UTC. Converted to and from Unix seconds without a date library.

/// A parsed `x-amz-date`: the 16 bytes as sent and the same instant in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmzDate {
    text: [u8; 16],
    unix: i64,
}

impl AmzDate {
    /// Parses `20130524T000000Z`. Anything else is `None`.
    pub fn parse(s: &str) -> Option<AmzDate> {
        let b = s.as_bytes();
        if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let mut v = 0i64;
            for &c in &b[r] {
                if !c.is_ascii_digit() {
                    return None;
                }
                v = v * 10 + i64::from(c - b'0');
            }
            Some(v)
        };
        let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
        let (h, mi, sec) = (num(9..11)?, num(11..13)?, num(13..15)?);
        if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        let unix = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec;
        let mut text = [0u8; 16];
        text.copy_from_slice(b);
        Some(AmzDate { text, unix })
    }

    /// The instant `unix` seconds after the epoch.
    /// Times outside the years 0000..=9999, which the format cannot show, are clamped.
    pub fn from_unix(unix: i64) -> AmzDate {
        // 0000-01-01T00:00:00Z ..= 9999-12-31T23:59:59Z.
        let unix = unix.clamp(-62_167_219_200, 253_402_300_799);
        let days = unix.div_euclid(86_400);
        let secs = unix.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        // Written by hand: this runs for every backend request.
        let mut text = *b"19700101T000000Z";
        for (at, v) in [
            (0, y / 100),
            (2, y % 100),
            (4, m),
            (6, d),
            (9, secs / 3600),
            (11, secs / 60 % 60),
            (13, secs % 60),
        ] {
            text[at] = b'0' + (v / 10 % 10) as u8;
            text[at + 1] = b'0' + (v % 10) as u8;
        }
        AmzDate { text, unix }
    }

    /// The timestamp as sent, `YYYYMMDDTHHMMSSZ`.
    pub fn as_str(&self) -> &str {
        // The bytes were checked to be ASCII digits, 'T' and 'Z' (or written as such).
        std::str::from_utf8(&self.text).unwrap_or("")
    }

    /// The `YYYYMMDD` day used in the credential scope.
    pub fn date(&self) -> &str {
        &self.as_str()[..8]
    }

    /// Unix seconds.
    pub fn unix(&self) -> i64 {
        self.unix
    }
}

/// Whether `y` is a leap year of the proleptic Gregorian calendar.
pub fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in month `m` (1..=12) of year `y`.
pub fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month 1..=12, day 1..=31) of a day count since 1970-01-01: the inverse of
/// [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        let d = AmzDate::parse("20130524T000000Z").unwrap();
        assert_eq!(d.unix(), 1_369_353_600);
        assert_eq!(d.date(), "20130524");
        assert_eq!(AmzDate::from_unix(d.unix()), d);
        let d = AmzDate::parse("20240229T235959Z").unwrap();
        assert_eq!(AmzDate::from_unix(d.unix()).as_str(), "20240229T235959Z");
        for t in [0i64, 951_782_400, 1_700_000_000, 4_102_444_800, -1, -30_000_000_000] {
            assert_eq!(AmzDate::parse(AmzDate::from_unix(t).as_str()).unwrap().unix(), t);
        }
        // Outside the years a four-digit year can show: clamped, text and time agreeing.
        let late = AmzDate::from_unix(i64::MAX);
        assert_eq!(late.as_str(), "99991231T235959Z");
        assert_eq!(AmzDate::parse(late.as_str()).unwrap(), late);
        let early = AmzDate::from_unix(i64::MIN);
        assert_eq!(early.as_str(), "00000101T000000Z");
        assert_eq!(AmzDate::parse(early.as_str()).unwrap(), early);
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "20130524T000000",
            "20130524 000000Z",
            "2013052AT000000Z",
            "20131324T000000Z",
            "20130230T000000Z",
            "20130524T240000Z",
            "20130524T000000Z0",
            "２0130524T00000Z",
        ] {
            assert!(AmzDate::parse(s).is_none(), "{s}");
        }
    }
}
