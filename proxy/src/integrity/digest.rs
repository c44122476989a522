//! Digests of a copy's stored bytes, segment by segment, as the scrubber and `hash-existing`
//! read them; and the throttle that keeps the scrubber under its byte rate.

use std::time::{Duration, Instant};

use md5::{Digest, Md5};

use crate::backend::stream::GetStream;
use crate::error::ProxyError;

/// Reads at most `rate` bytes a second on average.
pub struct Throttle {
    rate: u64,
    since: Instant,
    bytes: u64,
}

impl Throttle {
    /// A throttle of `rate` bytes a second.
    pub fn new(rate: u64) -> Throttle {
        Throttle {
            rate: rate.max(1),
            since: Instant::now(),
            bytes: 0,
        }
    }

    /// Counts `n` bytes read, waiting as long as the rate asks.
    pub async fn spent(&mut self, n: u64) {
        self.bytes += n;
        let due = Duration::from_secs_f64(self.bytes as f64 / self.rate as f64);
        if let Some(wait) = due.checked_sub(self.since.elapsed()) {
            monoio::time::sleep(wait).await;
        }
    }
}

/// The digests of one copy: BLAKE3 (hex) and, when asked, MD5 of each segment.
pub struct Digests {
    /// BLAKE3 of each segment, lowercase hex.
    pub blake3: Vec<String>,
    /// MD5 of each segment (empty unless asked).
    pub md5: Vec<[u8; 16]>,
}

struct Running {
    blake3: blake3::Hasher,
    md5: Option<Md5>,
}

impl Running {
    fn new(md5: bool) -> Running {
        Running {
            blake3: blake3::Hasher::new(),
            md5: md5.then(Md5::new),
        }
    }

    fn update(&mut self, b: &[u8]) {
        self.blake3.update(b);
        if let Some(m) = &mut self.md5 {
            m.update(b);
        }
    }

    fn close(&mut self, out: &mut Digests, md5: bool) {
        let done = std::mem::replace(self, Running::new(md5));
        out.blake3.push(done.blake3.finalize().to_hex().to_string());
        if let Some(m) = done.md5 {
            out.md5.push(m.finalize().into());
        }
    }
}

/// Reads `stream` to its end, digesting segments of `sizes` bytes; `None` when it holds more or
/// fewer bytes than they add up to. With `throttle`, reads no faster than it allows.
pub async fn digest_stream(
    stream: &mut GetStream,
    sizes: &[u64],
    md5: bool,
    mut throttle: Option<&mut Throttle>,
) -> Result<Option<Digests>, ProxyError> {
    let mut out = Digests {
        blake3: Vec::with_capacity(sizes.len()),
        md5: Vec::new(),
    };
    let mut running = Running::new(md5);
    let (mut seg, mut done) = (0usize, 0u64);
    let mut buf = Vec::with_capacity(crate::backend::BODY_BUF);
    loop {
        while seg < sizes.len() && done == sizes[seg] {
            running.close(&mut out, md5);
            seg += 1;
            done = 0;
        }
        let (res, b) = stream.read(buf).await;
        res?;
        if b.is_empty() {
            break;
        }
        if let Some(t) = throttle.as_deref_mut() {
            t.spent(b.len() as u64).await;
        }
        let mut rest = &b[..];
        while !rest.is_empty() {
            let Some(&len) = sizes.get(seg) else { return Ok(None) };
            let n = usize::try_from(len - done).unwrap_or(usize::MAX).min(rest.len());
            running.update(&rest[..n]);
            done += n as u64;
            rest = &rest[n..];
            while seg < sizes.len() && done == sizes[seg] {
                running.close(&mut out, md5);
                seg += 1;
                done = 0;
            }
        }
        buf = b;
    }
    Ok((seg == sizes.len()).then_some(out))
}
