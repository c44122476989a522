//! HTTP dates as SigV2 clients write them in `Date` and `x-amz-date`: the three formats HTTP
//! recipients must accept (RFC 9110 §5.6.7), plus the numeric zones of RFC 2822 that the S3
//! documentation's own examples (`Tue, 27 Mar 2007 19:36:42 +0000`) and s3cmd use.
//!
//! ```text
//! IMF-fixdate / RFC 2822   Sun, 06 Nov 1994 08:49:37 GMT     (or +0000, -0700, UT, UTC, Z;
//!                                                             weekday optional, day 1-2 digits)
//! RFC 850                  Sunday, 06-Nov-94 08:49:37 GMT    (years 70..=99 are 19xx)
//! asctime                  Sun Nov  6 08:49:37 1994
//! ```
//!
//! Month and weekday names are matched case-insensitively; the weekday is not cross-checked
//! against the date (S3 does not either). The proxy has its own strict IMF-fixdate parser for
//! conditional requests; this crate may not depend on it.

use crate::date::{days_from_civil, days_in_month};

/// Most whitespace-separated tokens any accepted format has.
const MAX_TOKENS: usize = 6;

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const WEEKDAYS_LONG: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Unix seconds of an HTTP date in any of the formats above; `None` when malformed or not a real
/// date (31 November, 25:00, a zone offset past ±23:59).
pub fn parse_http_date(s: &str) -> Option<i64> {
    let mut t = [""; MAX_TOKENS];
    let mut n = 0;
    for tok in s.split_ascii_whitespace() {
        *t.get_mut(n)? = tok;
        n += 1;
    }
    match t[..n] {
        // Sun, 06 Nov 1994 08:49:37 GMT
        [wd, d, mon, y, time, zone] => {
            weekday(wd.strip_suffix(',')?)?;
            imf(d, mon, y, time, zone)
        }
        // Sunday, 06-Nov-94 08:49:37 GMT
        [wd, dmy, time, zone] => {
            weekday(wd.strip_suffix(',')?)?;
            let mut parts = dmy.split('-');
            let (d, mon, yy) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() || d.len() != 2 || yy.len() != 2 {
                return None;
            }
            let yy = digits(yy)?;
            let y = if yy < 70 { 2000 + yy } else { 1900 + yy };
            at(y, month(mon)?, digits(d)?, time, zone_offset(zone)?)
        }
        // 06 Nov 1994 08:49:37 +0000 (RFC 2822 without the optional weekday)
        [d, mon, y, time, zone] if d.bytes().all(|b| b.is_ascii_digit()) => imf(d, mon, y, time, zone),
        // Sun Nov  6 08:49:37 1994
        [wd, mon, d, time, y] => {
            weekday(wd)?;
            if d.is_empty() || d.len() > 2 || y.len() != 4 {
                return None;
            }
            at(digits(y)?, month(mon)?, digits(d)?, time, 0)
        }
        _ => None,
    }
}

/// `06 Nov 1994 08:49:37 GMT`, the part after the weekday.
fn imf(d: &str, mon: &str, y: &str, time: &str, zone: &str) -> Option<i64> {
    if d.is_empty() || d.len() > 2 || y.len() != 4 {
        return None;
    }
    at(digits(y)?, month(mon)?, digits(d)?, time, zone_offset(zone)?)
}

/// Unix seconds of local date and `HH:MM:SS` time `offset` seconds east of UTC.
fn at(y: i64, m: i64, d: i64, time: &str, offset: i64) -> Option<i64> {
    let b = time.as_bytes();
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (hh, mm, ss) = (digits(&time[..2])?, digits(&time[3..5])?, digits(&time[6..])?);
    // Seconds may be 60 (a leap second); it counts as the next second, as Unix time does.
    if d < 1 || d > days_in_month(y, m) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss - offset)
}

/// Seconds east of UTC of `GMT`, `UT`, `UTC`, `Z` or `±HHMM`.
fn zone_offset(z: &str) -> Option<i64> {
    if ["GMT", "UT", "UTC", "Z"].iter().any(|n| n.eq_ignore_ascii_case(z)) {
        return Some(0);
    }
    let (sign, hhmm) = match z.as_bytes().first()? {
        b'+' => (1, &z[1..]),
        b'-' => (-1, &z[1..]),
        _ => return None,
    };
    if hhmm.len() != 4 || !hhmm.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hh, mm) = (digits(&hhmm[..2])?, digits(&hhmm[2..])?);
    if hh > 23 || mm > 59 {
        return None;
    }
    Some(sign * (hh * 3600 + mm * 60))
}

/// The value of a non-empty run of ASCII digits (callers bound the length to at most 4).
fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0, |acc, b| acc * 10 + i64::from(b - b'0')))
}

fn month(s: &str) -> Option<i64> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(s))
        .map(|i| i as i64 + 1)
}

fn weekday(s: &str) -> Option<()> {
    WEEKDAYS
        .iter()
        .chain(&WEEKDAYS_LONG)
        .any(|n| n.eq_ignore_ascii_case(s))
        .then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9110 §5.6.7's example instant.
    const T: i64 = 784_111_777;

    #[test]
    fn parses_the_three_http_formats() {
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(T));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(T));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(T));
        assert_eq!(parse_http_date("Wed Nov 16 08:49:37 1994"), Some(T + 10 * 86_400));
        assert_eq!(parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT\t"), Some(T));
        assert_eq!(parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT"), Some(946_684_800));
        assert_eq!(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT"), Some(951_782_400));
        // A leap second counts as the next second.
        assert_eq!(parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT"), Some(1_483_228_800));
    }

    #[test]
    fn parses_what_sigv2_clients_send() {
        // The S3 SigV2 documentation's examples, and s3cmd: a numeric zone.
        assert_eq!(parse_http_date("Tue, 27 Mar 2007 19:36:42 +0000"), Some(1_175_024_202));
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 +0000"), Some(T));
        // Offsets east and west of UTC.
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 10:49:37 +0200"), Some(T));
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 01:19:37 -0730"), Some(T));
        // Other names for UTC, no weekday, a one-digit day, any case.
        for s in [
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37 UT",
            "Sun, 06 Nov 1994 08:49:37 Z",
            "06 Nov 1994 08:49:37 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "sun, 06 nov 1994 08:49:37 gmt",
            "Sunday, 06 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(s), Some(T), "{s}");
        }
    }

    #[test]
    fn rejects_malformed_dates() {
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 06 Nov 1994 08:49:37 +000",
            "Sun, 06 Nov 1994 08:49:37 +2400",
            "Sun, 06 Nov 1994 08:49:37 +0060",
            "Sun, 06 Nov 1994 08:49:37 0000",
            "Sun 06 Nov 1994 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 08:49:61 GMT",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 006 Nov 1994 08:49:37 GMT",
            "Mon, 29 Feb 1900 00:00:00 GMT",
            "Mon, 29 Feb 2100 00:00:00 GMT",
            "Sun, 06 Nov 19x4 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:3\u{e9} GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sunday, 06-Nov-94-1 08:49:37 GMT",
            "Sunday 06-Nov-94 08:49:37 GMT",
            "Sun Nov 6 08:49:37 94",
            "Sun Nov 006 08:49:37 1994",
            "1994-11-06T08:49:37Z",
            "19941106T084937Z",
            "\u{e9}\u{e9}\u{e9}, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 \u{e9}\u{e9}:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn never_panics_on_near_dates() {
        // Every byte of a valid date replaced by characters that could confuse the slicing.
        let good = "Sun, 06 Nov 1994 08:49:37 +0000";
        for at in 0..good.len() {
            for c in ['0', '9', ' ', ',', ':', '-', '+', '\u{e9}', 'G', 'x'] {
                let mut s: Vec<char> = good.chars().collect();
                s[at] = c;
                let s: String = s.into_iter().collect();
                let _ = parse_http_date(&s);
            }
        }
    }
}
