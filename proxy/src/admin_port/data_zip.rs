//! `GET .../objects/zip?key=…&key=…`: up to 1000 keys (a key ending in `/` stands for every key
//! under it) streamed as one ZIP archive ([`super::zip`]) while they are read from their
//! backends, one object at a time through one buffer: an archive of any size costs the same
//! memory. An object that cannot be opened is left out; one cut off midway ends its entry
//! where it stopped (its descriptor tells the truth), so the archive stays well-formed.

use s3o_admin::data::{key_ok, Bkt, DataApi, ListArgs};
use s3o_admin::{Request, Response};
use s3o_sigv4::checksum::{ChecksumAlgorithm, Checksummer};

use super::conn::{Conn, IO_TIMEOUT};
use super::stream::IoFailure;
use super::zip::{central_directory, descriptor, dos_time, local_header, Entry};
use super::AdminService;
use crate::backend::BODY_BUF;
use crate::http::ResponseHead;

/// Most keys one request names.
pub const MAX_ZIP_KEYS: usize = 1000;
/// Most entries one archive holds (folders expand).
pub const MAX_ZIP_ENTRIES: usize = 100_000;

fn api_error(status: u16, code: &str, message: &str) -> Response {
    s3o_admin::api::api_error(status, code, message)
}

/// The keys asked for, or the answer to send.
fn keys_of(req: &Request) -> Result<Vec<String>, Response> {
    let keys: Vec<String> = req
        .query_params()
        .map_err(|_| api_error(400, "bad_request", "malformed query string"))?
        .into_iter()
        .filter(|(n, _)| n == "key")
        .map(|(_, v)| v)
        .collect();
    if keys.is_empty() {
        return Err(api_error(
            400,
            "bad_request",
            "at least one key query param is required",
        ));
    }
    if keys.len() > MAX_ZIP_KEYS {
        return Err(api_error(413, "too_many_keys", "at most 1000 keys per zip request"));
    }
    if !keys.iter().all(|k| key_ok(k)) {
        return Err(api_error(400, "invalid_key", "one or more keys are invalid"));
    }
    Ok(keys)
}

/// A key as an archive entry's name that cannot reach outside the folder it is extracted to:
/// no leading `/`, no `.` or `..` segments, no empty segments.
fn entry_name(key: &str) -> String {
    let parts: Vec<&str> = key
        .split('/')
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        .collect();
    let mut name = parts.join("/");
    if key.ends_with('/') && !name.is_empty() {
        name.push('/');
    }
    if name.is_empty() {
        "unnamed".into()
    } else {
        name
    }
}

/// Every key the request stands for, in order (folders expanded).
async fn expand(svc: &AdminService, b: &Bkt, keys: Vec<String>) -> Result<Vec<String>, Response> {
    let mut out = Vec::new();
    let too_many = || api_error(413, "too_many_keys", "the selection holds more than 100000 objects");
    for k in keys {
        if out.len() >= MAX_ZIP_ENTRIES {
            return Err(too_many());
        }
        if !k.ends_with('/') {
            out.push(k);
            continue;
        }
        let mut token = None;
        loop {
            if out.len() >= MAX_ZIP_ENTRIES {
                return Err(too_many());
            }
            let args = ListArgs {
                prefix: k.clone(),
                delimiter: String::new(),
                token,
                max_keys: Some(1000),
            };
            let page = DataApi::list(&svc.control, b, &args).await.map_err(|e| e.response())?;
            out.extend(page.objects.into_iter().map(|o| o.key));
            if !page.is_truncated {
                break;
            }
            token = Some(page.next_continuation_token);
        }
    }
    if out.len() > MAX_ZIP_ENTRIES {
        return Err(too_many());
    }
    Ok(out)
}

/// Serves the archive (the gate passed): `Ok(false)` once sent (the close ends it), `Ok(true)`
/// after a refusal.
pub(super) async fn serve(
    svc: &AdminService,
    conn: &mut Conn,
    req: &Request,
    b: &Bkt,
    reusable: bool,
) -> Result<bool, IoFailure> {
    let prepared = async {
        let keys = keys_of(req)?;
        // The bucket answers for the whole request (404, 403, 501).
        let probe = ListArgs {
            max_keys: Some(1),
            ..ListArgs::default()
        };
        DataApi::list(&svc.control, b, &probe).await.map_err(|e| e.response())?;
        expand(svc, b, keys).await
    }
    .await;
    let keys = match prepared {
        Ok(k) => k,
        Err(resp) => {
            let resp = match svc.access.as_deref() {
                Some(a) => s3o_admin::api::secured(resp, req, a),
                None => resp,
            };
            conn.respond(&resp, reusable, false).await?;
            return Ok(reusable);
        }
    };
    let stamp = s3o_admin::data::dto::rfc3339(crate::clock::unix_ms());
    let stamp: String = stamp.chars().filter(char::is_ascii_digit).take(14).collect();
    let name = format!(
        "{}-{}-{}.zip",
        b.bucket,
        &stamp[..8.min(stamp.len())],
        &stamp[8.min(stamp.len())..]
    );
    conn.status = 200;
    let head = ResponseHead::new(200)
        .header("content-type", "application/zip")
        .header("content-disposition", format!("attachment; filename=\"{name}\""))
        .header("x-accel-buffering", "no")
        .header("cache-control", "no-store")
        .header("connection", "close");
    let mut out = Vec::with_capacity(256);
    head.write_to(&mut out);
    conn.stream.write_all(out, IO_TIMEOUT).await?;
    let bucket = b.bucket.as_str();
    let (mut entries, mut offset): (Vec<Entry>, u64) = (Vec::with_capacity(keys.len()), 0);
    let mut buf = Vec::with_capacity(BODY_BUF);
    for key in keys {
        // An object of the orchestrated store or of a real bucket, read directly.
        let source = match svc.control.source_of(b, &key, None).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(component = "admin", bucket, key = %key, error = ?e, "zip: entry left out (no such object)");
                continue;
            }
        };
        let mut body = match svc.control.open_range(&source, None).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(component = "admin", bucket, key = %key, error = %e, "zip: entry left out");
                continue;
            }
        };
        let dos = dos_time(source.last_modified_ms().unwrap_or_else(crate::clock::unix_ms) / 1000);
        let name = entry_name(&key);
        let header = local_header(&name, dos);
        let start = offset;
        offset += header.len() as u64;
        conn.stream.write_all(header, IO_TIMEOUT).await?;
        let (mut crc, mut written) = (Checksummer::new(ChecksumAlgorithm::Crc32), 0u64);
        while body.remaining() > 0 {
            let (r, filled) = body.read(buf).await;
            if let Err(e) = r {
                tracing::warn!(component = "admin", bucket, key = %key, error = %e, "zip: entry cut short");
                buf = filled;
                break;
            }
            if filled.is_empty() {
                buf = filled;
                break;
            }
            crc.update(&filled);
            written += filled.len() as u64;
            buf = conn.stream.write_all(filled, IO_TIMEOUT).await?;
            buf.clear();
        }
        let digest = crc.finish();
        let crc = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        let desc = descriptor(crc, written);
        offset += written + desc.len() as u64;
        conn.stream.write_all(desc, IO_TIMEOUT).await?;
        entries.push(Entry {
            name,
            crc,
            size: written,
            offset: start,
            dos,
        });
    }
    conn.stream
        .write_all(central_directory(&entries, offset), IO_TIMEOUT)
        .await?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::entry_name;

    #[test]
    fn entry_names_stay_inside_the_folder() {
        assert_eq!(entry_name("docs/a.txt"), "docs/a.txt");
        assert_eq!(entry_name("/etc/passwd"), "etc/passwd");
        assert_eq!(entry_name("a/../../b"), "a/b");
        assert_eq!(entry_name("./x//y/"), "x/y/");
        assert_eq!(entry_name(".."), "unnamed");
    }
}
