//! The contract for the two streamed UI routes, which [`crate::handle`] does not serve because
//! their bodies must never be buffered whole:
//!
//! 1. The proxy routes the head with [`crate::route()`]; [`crate::Route::is_streamed`] is true for
//!    `POST {ui}/api/upload` and `GET {ui}/api/download`.
//! 2. It calls [`crate::Auth::authenticate`] with a body-less [`crate::Request`] and sends the
//!    error response if there is one (401), before reading any body.
//! 3. Download: [`download_key`] gives the `bucket/key` (or the 400); the proxy looks the object
//!    up (404 `{"error": "object not found"}` when absent), then answers 200 with
//!    [`download_headers`] and streams the body.
//! 4. Upload: the proxy refuses a `Content-Length` over [`crate::MAX_UPLOAD_BODY`] (or a stream
//!    that grows past it) with [`upload_too_large`], reads the `multipart/form-data` boundary
//!    with [`multipart_boundary`] (400 without one), takes the `key` field (which must come
//!    before `file`) through [`crate::ObjectKey::parse`] (400), streams the `file` part into the
//!    object like a PutObject, and answers [`upload_ok`] with the new ETag.

use crate::http::{Request, Response};
use crate::keys::ObjectKey;

/// The `key` query parameter of `GET {ui}/api/download`, or the 400 to send.
pub fn download_key(req: &Request) -> Result<ObjectKey, Response> {
    match req.query_param("key") {
        Ok(Some(k)) if !k.is_empty() => ObjectKey::parse(&k).map_err(|e| Response::from_error(&e)),
        Ok(_) => Err(Response::error(400, "key is required")),
        Err(e) => Err(Response::from_error(&e)),
    }
}

/// The headers of a download answer besides the body: `Content-Type`, `Content-Length` and a
/// `Content-Disposition: attachment` naming the key's last segment (RFC 6266: an ASCII
/// `filename` fallback plus a UTF-8 `filename*`).
pub fn download_headers(key: &ObjectKey, size: u64, content_type: &str) -> Vec<(String, String)> {
    let name = key.key.rsplit('/').find(|s| !s.is_empty()).unwrap_or("download");
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let content_type = if content_type.is_empty() {
        "application/octet-stream"
    } else {
        content_type
    };
    vec![
        ("content-type".into(), content_type.into()),
        ("content-length".into(), size.to_string()),
        (
            "content-disposition".into(),
            format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"),
        ),
        ("cache-control".into(), "no-store".into()),
    ]
}

/// The boundary of a `multipart/form-data` `Content-Type`, unquoted; `None` for anything else.
pub fn multipart_boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    if !parts.next()?.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    parts
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 70)
}

/// 200 `{"ok": true, "etag": "\"…\""}` after an upload; `etag` is quoted if it is not already.
pub fn upload_ok(etag: &str) -> Response {
    let etag = if etag.starts_with('"') {
        etag.to_owned()
    } else {
        format!("\"{etag}\"")
    };
    Response::json(200, &serde_json::json!({ "ok": true, "etag": etag }))
}

/// 413 for an upload over [`crate::MAX_UPLOAD_BODY`].
pub fn upload_too_large() -> Response {
    Response::error(413, "upload too large (limit 512 MiB)")
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    #[test]
    fn download_keys() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let ok = Request::new("GET", "/ui/api/download?key=my-bucket%2Fpath%2Fto%2Ffile.txt", ip);
        assert_eq!(download_key(&ok).unwrap().to_string(), "my-bucket/path/to/file.txt");
        for bad in ["", "?key=", "?key=bucket", "?key=%2Fkey", "?key=b%2F", "?key=%zz"] {
            let r = Request::new("GET", &format!("/ui/api/download{bad}"), ip);
            assert_eq!(download_key(&r).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn download_header_values() {
        let k = ObjectKey::parse("b/photos/été \"1\".jpg").unwrap();
        let h = download_headers(&k, 51200, "image/jpeg");
        assert_eq!(h[0], ("content-type".into(), "image/jpeg".into()));
        assert_eq!(h[1], ("content-length".into(), "51200".into()));
        assert_eq!(
            h[2].1,
            "attachment; filename=\"_t_ _1_.jpg\"; filename*=UTF-8''%C3%A9t%C3%A9%20%221%22.jpg"
        );
        let dir = ObjectKey::parse("b/dir/").unwrap();
        assert!(download_headers(&dir, 0, "")
            .iter()
            .any(|(_, v)| v == "application/octet-stream"));
        assert!(download_headers(&dir, 0, "")[2].1.contains("filename=\"dir\""));
    }

    #[test]
    fn boundaries_and_upload_answers() {
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=----x123").as_deref(),
            Some("----x123")
        );
        assert_eq!(
            multipart_boundary("Multipart/Form-Data;boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(multipart_boundary("multipart/form-data"), None);
        assert_eq!(multipart_boundary("application/json; boundary=x"), None);
        assert_eq!(&upload_ok("abc123").body[..], br#"{"etag":"\"abc123\"","ok":true}"#);
        assert_eq!(&upload_ok("\"abc\"").body[..], br#"{"etag":"\"abc\"","ok":true}"#);
        assert_eq!(upload_too_large().status, 413);
    }
}
