//! Response heads: [`ResponseHead`] writes `HTTP/1.1 <code> <reason>\r\n`, the header fields and
//! the blank line into an output buffer; [`reason_phrase`] knows the statuses S3 answers with; and
//! [`http_date`] / [`parse_http_date`] convert between Unix seconds and HTTP dates (RFC 9110
//! §5.6.7) without a date crate, for `Date`, `Last-Modified` and the conditional headers.

use s3o_sigv4::date::{civil_from_days, days_from_civil, days_in_month};

/// The interim response sent before reading a body announced with `Expect: 100-continue`.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The reason phrase for `status` (RFC 9110 §15), or `""` for one we do not know (allowed).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "",
    }
}

/// A response status line and header fields, written by [`ResponseHead::write_to`]. Fields are
/// serialized as they are added (one buffer, no allocation per field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code (100..=999).
    pub status: u16,
    /// The header fields so far, as `name: value\r\n` lines.
    fields: Vec<u8>,
}

impl ResponseHead {
    /// A head with `status` and no header fields.
    pub fn new(status: u16) -> ResponseHead {
        ResponseHead {
            status,
            fields: Vec::with_capacity(256),
        }
    }

    /// Adds a header field (builder style).
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> ResponseHead {
        self.push(name, value);
        self
    }

    /// Adds a header field. CR, LF and NUL in the name or value are written as spaces, so a
    /// stored value can never split the head.
    pub fn push(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        put_sanitized(&mut self.fields, name.as_ref());
        self.fields.extend_from_slice(b": ");
        put_sanitized(&mut self.fields, value.as_ref());
        self.fields.extend_from_slice(b"\r\n");
    }

    /// Adds `Content-Length: n`.
    pub fn content_length(mut self, n: u64) -> ResponseHead {
        self.fields.extend_from_slice(b"Content-Length: ");
        crate::xml::write_u64(&mut self.fields, n);
        self.fields.extend_from_slice(b"\r\n");
        self
    }

    /// Adds `Date` for `unix_secs`, as an IMF-fixdate.
    pub fn date(self, unix_secs: i64) -> ResponseHead {
        self.header("Date", http_date(unix_secs))
    }

    /// Appends the status line, the header fields and the blank line to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        self.write_to_with(out, &[]);
    }

    /// [`write_to`](Self::write_to), with `extra` (whole `name: value\r\n` lines) after the
    /// fields.
    pub fn write_to_with(&self, out: &mut Vec<u8>, extra: &[u8]) {
        // A status outside 100..=999 cannot be written as three digits: answer 500 instead.
        let s = if (100..=999).contains(&self.status) {
            self.status
        } else {
            500
        };
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(&[
            b'0' + (s / 100) as u8,
            b'0' + (s / 10 % 10) as u8,
            b'0' + (s % 10) as u8,
        ]);
        out.push(b' ');
        out.extend_from_slice(reason_phrase(s).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.fields);
        out.extend_from_slice(extra);
        out.extend_from_slice(b"\r\n");
    }
}

/// The field that keeps an HTTP/1.0 connection open: without it an HTTP/1.0 client closes after
/// the response, whatever it asked for (RFC 9112 §9.3, RFC 2068 §19.7.1).
const KEEP_ALIVE_FIELD: &[u8] = b"Connection: keep-alive\r\n";

/// `response` (a serialized head, possibly followed by body bytes) with `Connection: keep-alive`
/// added after the status line, for an HTTP/1.0 client that asked to keep the connection.
/// `None` when nothing must change: an interim (1xx) response, a head that already has a
/// `Connection` field (an error answer says `close` or `keep-alive` itself), or bytes that do
/// not start with a complete response head.
pub fn with_keep_alive(response: &[u8]) -> Option<Vec<u8>> {
    let rest = response.strip_prefix(b"HTTP/1.1 ")?;
    if rest.first().is_none_or(|&d| d == b'1') {
        return None;
    }
    let status_end = find(response, b"\r\n")? + 2;
    let head_end = status_end + find(&response[status_end - 2..], b"\r\n\r\n")? + 2;
    let has_connection = response[status_end..head_end]
        .split(|&b| b == b'\n')
        .any(|line| line.get(..11).is_some_and(|n| n.eq_ignore_ascii_case(b"connection:")));
    if has_connection {
        return None;
    }
    let mut out = Vec::with_capacity(response.len() + KEEP_ALIVE_FIELD.len());
    out.extend_from_slice(&response[..status_end]);
    out.extend_from_slice(KEEP_ALIVE_FIELD);
    out.extend_from_slice(&response[status_end..]);
    Some(out)
}

/// Position of the first `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `n` in decimal, without the formatting machinery.
pub fn decimal(n: u64) -> String {
    let mut digits = Vec::with_capacity(20);
    crate::xml::write_u64(&mut digits, n);
    digits.into_iter().map(char::from).collect()
}

fn put_sanitized(out: &mut Vec<u8>, s: &str) {
    let bad = |b: u8| matches!(b, b'\r' | b'\n' | 0);
    if s.bytes().any(bad) {
        out.extend(s.bytes().map(|b| if bad(b) { b' ' } else { b }));
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

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
/// 0000-01-01T00:00:00Z: the earliest time a four-digit year can show.
const MIN_SECS: i64 = -62_167_219_200;
/// 9999-12-31T23:59:59Z: the latest time a four-digit year can show.
const MAX_SECS: i64 = 253_402_300_799;

/// `unix_secs` as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`; clamped to the years
/// 0000..=9999 that the format can show.
pub fn http_date(unix_secs: i64) -> String {
    let t = unix_secs.clamp(MIN_SECS, MAX_SECS);
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    // 1970-01-01 was a Thursday (index 3 from Monday).
    let wd = WEEKDAYS[(days + 3).rem_euclid(7) as usize];
    let mon = MONTHS[(m - 1) as usize];
    // Written by hand: this runs for every response (Date, Last-Modified), and `format!` was a
    // visible share of a small GET's user-space time.
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[..3].copy_from_slice(wd.as_bytes());
    two_digits(&mut out[5..7], d);
    out[8..11].copy_from_slice(mon.as_bytes());
    two_digits(&mut out[12..14], y / 100);
    two_digits(&mut out[14..16], y % 100);
    two_digits(&mut out[17..19], secs / 3600);
    two_digits(&mut out[20..22], secs / 60 % 60);
    two_digits(&mut out[23..25], secs % 60);
    out.iter().map(|&b| char::from(b)).collect()
}

/// Writes `v` (0..=99) as two ASCII digits.
fn two_digits(out: &mut [u8], v: i64) {
    out[0] = b'0' + (v / 10 % 10) as u8;
    out[1] = b'0' + (v % 10) as u8;
}

/// Unix seconds of an HTTP date in any of the three formats recipients must accept (RFC 9110
/// §5.6.7): IMF-fixdate, obsolete RFC 850 (two-digit years 70..=99 are 19xx, 00..=69 are 20xx)
/// and asctime. `None` when malformed or not a real date; the weekday name is not cross-checked.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let s = s.trim_matches([' ', '\t']).as_bytes();
    let (y, m, d, time) = if s.len() == 29 && s.get(3) == Some(&b',') {
        // Sun, 06 Nov 1994 08:49:37 GMT
        weekday(&s[..3], &WEEKDAYS)?;
        expect(s, 3, b", ")?;
        expect(s, 7, b" ")?;
        expect(s, 11, b" ")?;
        expect(s, 16, b" ")?;
        expect(s, 25, b" GMT")?;
        (digits(&s[12..16])?, month(&s[8..11])?, digits(&s[5..7])?, &s[17..25])
    } else if s.len() == 24 && s.get(3) == Some(&b' ') {
        // Sun Nov  6 08:49:37 1994
        weekday(&s[..3], &WEEKDAYS)?;
        expect(s, 7, b" ")?;
        expect(s, 10, b" ")?;
        expect(s, 19, b" ")?;
        let day = if s[8] == b' ' { &s[9..10] } else { &s[8..10] };
        (digits(&s[20..24])?, month(&s[4..7])?, digits(day)?, &s[11..19])
    } else {
        // Sunday, 06-Nov-94 08:49:37 GMT
        let comma = s.iter().position(|&b| b == b',')?;
        weekday(&s[..comma], &WEEKDAYS_LONG)?;
        let r = &s[comma..];
        if r.len() != 24 {
            return None;
        }
        expect(r, 0, b", ")?;
        expect(r, 4, b"-")?;
        expect(r, 8, b"-")?;
        expect(r, 11, b" ")?;
        expect(r, 20, b" GMT")?;
        let yy = digits(&r[9..11])?;
        let y = if yy < 70 { 2000 + yy } else { 1900 + yy };
        (y, month(&r[5..8])?, digits(&r[2..4])?, &r[12..20])
    };
    expect(time, 2, b":")?;
    expect(time, 5, b":")?;
    let (hh, mm, ss) = (digits(&time[..2])?, digits(&time[3..5])?, digits(&time[6..8])?);
    // Seconds may be 60 (a leap second); it counts as the next second, as Unix time does.
    if d < 1 || d > days_in_month(y, m) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

fn expect(s: &[u8], at: usize, what: &[u8]) -> Option<()> {
    (s.get(at..at + what.len())? == what).then_some(())
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0, |acc, &b| acc * 10 + i64::from(b - b'0')))
}

fn month(s: &[u8]) -> Option<i64> {
    MONTHS.iter().position(|m| m.as_bytes() == s).map(|i| i as i64 + 1)
}

fn weekday(s: &[u8], names: &[&str; 7]) -> Option<()> {
    names.iter().any(|n| n.as_bytes() == s).then_some(())
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
