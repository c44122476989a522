//! A tiny in-memory S3 backend on std threads for tests: PUT (plain, checked against a signed
//! payload hash, or aws-chunked with an unsigned trailer whose checksum it verifies and keeps,
//! as S3 does), GET (with Range; the
//! stored checksum with `x-amz-checksum-mode: ENABLED`), HEAD, DELETE on path-style keys, no
//! signature checks, and a fault switch that makes it die in the middle of the next PUT body
//! after storing the partial bytes (the worst case for orphans).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct FakeState {
    pub objects: Mutex<BTreeMap<String, Vec<u8>>>,
    /// Key -> the checksum stored with it (header name, base64 value).
    pub checksums: Mutex<BTreeMap<String, (String, String)>>,
    /// When set, the next PUT reads this many body bytes, stores them, and drops the connection.
    pub die_after: Mutex<Option<usize>>,
    pub puts: AtomicUsize,
    /// PUTs whose body has been read to the end or abandoned (a closed connection).
    pub puts_ended: AtomicUsize,
    pub stop: AtomicBool,
}

pub struct FakeS3 {
    pub addr: SocketAddr,
    pub state: Arc<FakeState>,
}

impl FakeS3 {
    pub fn start() -> FakeS3 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let state = Arc::new(FakeState::default());
        let st = state.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(s) = s else { continue };
                let st = st.clone();
                std::thread::spawn(move || serve(s, st));
            }
        });
        FakeS3 { addr, state }
    }

    /// Waits (at most 10 s) until `n` PUTs have begun and each has been stored or abandoned;
    /// fails if fewer than `n` began.
    pub fn settle_puts(&self, n: usize) {
        let t0 = std::time::Instant::now();
        let (puts, ended) = (&self.state.puts, &self.state.puts_ended);
        while (puts.load(Ordering::SeqCst) < n || ended.load(Ordering::SeqCst) < puts.load(Ordering::SeqCst))
            && t0.elapsed() < std::time::Duration::from_secs(10)
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(puts.load(Ordering::SeqCst), n, "PUTs that reached the backend");
        assert_eq!(ended.load(Ordering::SeqCst), n, "PUTs still reading their body");
    }

    /// The keys of the objects' bytes (not the metadata records beside them).
    pub fn keys(&self) -> Vec<String> {
        self.all_keys().into_iter().filter(|k| !is_record_path(k)).collect()
    }

    /// Every key stored, metadata records included.
    pub fn all_keys(&self) -> Vec<String> {
        self.state.objects.lock().unwrap().keys().cloned().collect()
    }
}

/// Whether a request path names a metadata record (`*.meta`, `.s3o/…`), not an object's bytes.
fn is_record_path(path: &str) -> bool {
    path.ends_with(".meta") || path.contains("/.s3o/")
}

fn serve(mut s: TcpStream, st: Arc<FakeState>) {
    s.set_read_timeout(Some(std::time::Duration::from_secs(30))).ok();
    let mut buf: Vec<u8> = Vec::new();
    let mut tmp = vec![0u8; 65536];
    loop {
        // Read a head.
        let (method, path, headers, n) = loop {
            let mut hs = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut hs);
            if let Ok(httparse::Status::Complete(n)) = req.parse(&buf) {
                let headers: Vec<(String, String)> = req
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                break (
                    req.method.unwrap().to_string(),
                    req.path.unwrap().to_string(),
                    headers,
                    n,
                );
            }
            match s.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(k) => buf.extend_from_slice(&tmp[..k]),
            }
        };
        buf.drain(..n);
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let key = path.split('?').next().unwrap().to_string();
        let len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        match method.as_str() {
            // Only the PUTs of objects' bytes count (records go to the backend beside them).
            "PUT" if is_record_path(&key) => {
                let mut body = Vec::new();
                while buf.len() < len {
                    match s.read(&mut tmp) {
                        Ok(0) | Err(_) => return,
                        Ok(k) => buf.extend_from_slice(&tmp[..k]),
                    }
                }
                body.extend(buf.drain(..len));
                let stored = match header("content-encoding").as_deref() {
                    Some("aws-chunked") => decode_aws_chunked(&body, &header),
                    _ => signed_sha256(body, &headers),
                };
                if let Some((body, _)) = stored {
                    st.objects.lock().unwrap().insert(key, body);
                }
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nETag: \"x\"\r\nContent-Length: 0\r\n\r\n");
            }
            "PUT" => {
                st.puts.fetch_add(1, Ordering::SeqCst);
                let die = st.die_after.lock().unwrap().take();
                let want = die.map_or(len, |d| d.min(len));
                while buf.len() < want {
                    match s.read(&mut tmp) {
                        Ok(0) | Err(_) => {
                            st.puts_ended.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                        Ok(k) => buf.extend_from_slice(&tmp[..k]),
                    }
                }
                let body: Vec<u8> = buf.drain(..want).collect();
                if die.is_some() {
                    st.objects.lock().unwrap().insert(key, body);
                    st.puts_ended.fetch_add(1, Ordering::SeqCst);
                    let _ = s.shutdown(std::net::Shutdown::Both);
                    return;
                }
                let stored = match header("content-encoding").as_deref() {
                    Some("aws-chunked") => decode_aws_chunked(&body, &header),
                    _ => signed_sha256(body, &headers),
                };
                st.puts_ended.fetch_add(1, Ordering::SeqCst);
                let Some((body, checksum)) = stored else {
                    let e = b"<Error><Code>BadDigest</Code></Error>";
                    let _ = s.write_all(
                        format!("HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\n\r\n", e.len()).as_bytes(),
                    );
                    let _ = s.write_all(e);
                    continue;
                };
                st.objects.lock().unwrap().insert(key.clone(), body);
                match checksum {
                    Some(c) => st.checksums.lock().unwrap().insert(key, c),
                    None => st.checksums.lock().unwrap().remove(&key),
                };
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nETag: \"x\"\r\nContent-Length: 0\r\n\r\n");
            }
            "GET" | "HEAD" => {
                let obj = st.objects.lock().unwrap().get(&key).cloned();
                match obj {
                    None => {
                        let body = b"<Error><Code>NoSuchKey</Code></Error>";
                        let _ = s.write_all(
                            format!("HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
                        );
                        if method == "GET" {
                            let _ = s.write_all(body);
                        }
                    }
                    Some(o) => {
                        let (status, part) = match header("range").and_then(|r| parse_range(&r, o.len())) {
                            Some((a, b)) => ("206 Partial Content", o[a..=b].to_vec()),
                            None => ("200 OK", o),
                        };
                        let mut extra = String::new();
                        let mode = header("x-amz-checksum-mode").is_some_and(|v| v.eq_ignore_ascii_case("enabled"));
                        if let Some((n, v)) = st
                            .checksums
                            .lock()
                            .unwrap()
                            .get(&key)
                            .filter(|_| mode && status == "200 OK")
                        {
                            extra = format!("{n}: {v}\r\n");
                        }
                        let _ = s.write_all(
                            format!("HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\n\r\n", part.len()).as_bytes(),
                        );
                        if method == "GET" {
                            let _ = s.write_all(&part);
                        }
                    }
                }
            }
            "DELETE" => {
                st.objects.lock().unwrap().remove(&key);
                st.checksums.lock().unwrap().remove(&key);
                let _ = s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n");
            }
            _ => {
                let _ = s.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
            }
        }
    }
}

fn parse_range(v: &str, len: usize) -> Option<(usize, usize)> {
    let (a, b) = v.strip_prefix("bytes=")?.split_once('-')?;
    let a: usize = a.parse().ok()?;
    let b: usize = if b.is_empty() { len - 1 } else { b.parse().ok()? };
    Some((a, b.min(len - 1)))
}

/// A checksum header: name, base64 value.
type Checksum = (String, String);

/// A plain body, checked against a signed `x-amz-content-sha256` as S3 does (kept as the
/// body's checksum then), or with its checksum header; `None` when the hash differs.
fn signed_sha256(body: Vec<u8>, headers: &[(String, String)]) -> Option<(Vec<u8>, Option<Checksum>)> {
    let sha = headers
        .iter()
        .find(|(n, _)| n == "x-amz-content-sha256")
        .map(|(_, v)| v.clone());
    match sha.filter(|v| v.len() == 64) {
        Some(hex) if hex != s3o_sigv4::string_to_sign::sha256_hex(&body) => None,
        Some(hex) => Some((body, Some(("x-amz-content-sha256".into(), hex)))),
        None => Some((body, checksum_header(headers))),
    }
}

/// The first `x-amz-checksum-<alg>` header of a request.
fn checksum_header(headers: &[(String, String)]) -> Option<(String, String)> {
    headers
        .iter()
        .find(|(n, _)| s3o_sigv4::ChecksumAlgorithm::from_header_name(n).is_some())
        .cloned()
}

/// An unsigned aws-chunked body decoded, its trailer checksum verified: the payload and the
/// checksum; `None` when it does not decode or the checksum differs (S3: BadDigest).
fn decode_aws_chunked(wire: &[u8], header: &dyn Fn(&str) -> Option<String>) -> Option<(Vec<u8>, Option<Checksum>)> {
    let len: u64 = header("x-amz-decoded-content-length")?.parse().ok()?;
    let trailer = header("x-amz-trailer")?;
    let alg = s3o_sigv4::ChecksumAlgorithm::from_header_name(&trailer)?;
    let mut dec = s3o_sigv4::ChunkedDecoder::new(s3o_sigv4::StreamingAuth {
        mode: s3o_sigv4::StreamingMode::UnsignedTrailer,
        chain: None,
        decoded_length: len,
        trailer: Some(alg),
    })
    .ok()?;
    let body = dec.decode_all(wire).ok()?;
    let sum = dec.finish().ok()??;
    Some((body, Some((trailer, sum.value))))
}
