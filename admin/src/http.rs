//! The request and response the admin port exchanges with the proxy, and the small parsers over
//! them: query strings and URL-encoded forms (percent-decoding, `+` as space), cookies, and JSON
//! bodies capped at [`MAX_JSON_BODY`]. The proxy fills a [`Request`] from its own HTTP head parser
//! and writes a [`Response`] back; nothing here touches a socket.

use std::net::IpAddr;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Error;

/// Largest JSON or form body any admin or UI endpoint accepts (seed 000: "limited to 1 MB"); the
/// proxy stops reading at this size and answers [`Response::too_large`].
pub const MAX_JSON_BODY: usize = 1 << 20;

/// Largest upload `POST {ui}/api/upload` accepts (seed 000: "Maximum upload size is 512 MiB");
/// enforced by the proxy, which streams the upload.
pub const MAX_UPLOAD_BODY: u64 = 512 << 20;

/// One request on the admin port, as the proxy parsed it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method, upper case as sent (`GET`, `POST`, …).
    pub method: String,
    /// The path without the query string, still percent-encoded as sent.
    pub path: String,
    /// The raw query string after `?` (empty when there is none).
    pub query: String,
    /// Header names lower-cased, values as sent, in arrival order (repeats kept).
    pub headers: Vec<(String, String)>,
    /// The peer's address (the lockout key).
    pub peer_ip: IpAddr,
    /// Whether the connection is TLS (adds `Secure` to the session cookie).
    pub tls: bool,
    /// The body, at most [`MAX_JSON_BODY`] bytes for buffered routes; empty for streamed ones.
    pub body: Bytes,
}

impl Request {
    /// A body-less request, handy for the proxy's streamed routes and for tests.
    pub fn new(method: &str, target: &str, peer_ip: IpAddr) -> Self {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers: Vec::new(),
            peer_ip,
            tls: false,
            body: Bytes::new(),
        }
    }

    /// The first value of a header, by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The value of a cookie, searching every `Cookie` header.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim_matches('"'))
    }

    /// The decoded query parameters; a parameter with bad percent-encoding is a 400.
    pub fn query_params(&self) -> Result<Vec<(String, String)>, Error> {
        parse_urlencoded(&self.query)
    }

    /// The last value of one query parameter (`None` when absent).
    pub fn query_param(&self, name: &str) -> Result<Option<String>, Error> {
        Ok(self
            .query_params()?
            .into_iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v))
    }

    /// Parses the body as JSON into `T`; a body over the cap is 413, malformed JSON 400.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Response> {
        if self.body.len() > MAX_JSON_BODY {
            return Err(Response::too_large());
        }
        serde_json::from_slice(&self.body).map_err(|e| Response::error(400, &format!("invalid JSON body: {e}")))
    }

    /// Whether the client prefers an HTML answer (a browser submitting a form).
    pub fn wants_html(&self) -> bool {
        self.header("accept").is_some_and(|a| {
            let html = a.find("text/html");
            let json = a.find("application/json");
            matches!((html, json), (Some(h), j) if j.is_none_or(|j| h < j))
        })
    }
}

/// One response on the admin port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// Headers to send besides `Content-Length`, which the proxy computes from `body`.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl Response {
    /// A JSON response of `value` with `Cache-Control: no-store` (admin data is never cached).
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Response {
                status,
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("cache-control".into(), "no-store".into()),
                ],
                body: Bytes::from(body),
            },
            Err(e) => Response::error(500, &format!("cannot encode response: {e}")),
        }
    }

    /// The seed's error shape `{"error": msg}`.
    pub fn error(status: u16, msg: &str) -> Self {
        let body = serde_json::json!({ "error": msg }).to_string();
        Response {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("cache-control".into(), "no-store".into()),
            ],
            body: Bytes::from(body),
        }
    }

    /// The response for an [`Error`]: its status and its message.
    pub fn from_error(e: &Error) -> Self {
        Response::error(e.status(), &e.to_string())
    }

    /// 404 for a path no route knows.
    pub fn not_found() -> Self {
        Response::error(404, "not found")
    }

    /// 405 with the `Allow` header listing the methods the path does accept.
    pub fn method_not_allowed(allow: &str) -> Self {
        Response::error(405, "method not allowed").with_header("allow", allow)
    }

    /// 413 for a JSON or form body over [`MAX_JSON_BODY`].
    pub fn too_large() -> Self {
        Response::error(413, "request body too large (limit 1 MiB)")
    }

    /// A plain-text response (used by `/metrics`).
    pub fn text(status: u16, content_type: &str, body: String) -> Self {
        Response {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: Bytes::from(body),
        }
    }

    /// Adds one header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The first value of a header, by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Decodes `a=1&b=x%20y` (query strings and `application/x-www-form-urlencoded` bodies): `+` is a
/// space, `%XX` a byte, and the decoded bytes must be UTF-8. Empty pieces are skipped.
pub fn parse_urlencoded(s: &str) -> Result<Vec<(String, String)>, Error> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

/// Percent-decodes one URL-encoded component, `+` meaning space.
pub fn percent_decode(s: &str) -> Result<String, Error> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (b.get(i + 1).and_then(|&c| hex(c)), b.get(i + 2).and_then(|&c| hex(c))) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => return Err(Error::bad_request("invalid percent-encoding")),
                }
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| Error::bad_request("parameter is not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip() -> IpAddr {
        IpAddr::from([127, 0, 0, 1])
    }

    #[test]
    fn urlencoded_decoding() {
        let got = parse_urlencoded("admin_key=me&admin_secret=p%40ss+w%C3%B6rd&&flag").unwrap();
        assert_eq!(
            got,
            vec![
                ("admin_key".into(), "me".into()),
                ("admin_secret".into(), "p@ss wörd".into()),
                ("flag".into(), String::new()),
            ]
        );
        assert!(parse_urlencoded("a=%4").is_err());
        assert!(parse_urlencoded("a=%zz").is_err());
        assert!(parse_urlencoded("a=%FF").is_err());
    }

    #[test]
    fn query_and_cookies() {
        let mut r = Request::new("GET", "/ui/api/tree?prefix=b%2Fx%2F&maxKeys=5&maxKeys=7", ip());
        assert_eq!(r.path, "/ui/api/tree");
        assert_eq!(r.query_param("prefix").unwrap().as_deref(), Some("b/x/"));
        assert_eq!(r.query_param("maxKeys").unwrap().as_deref(), Some("7"));
        assert_eq!(r.query_param("none").unwrap(), None);
        r.headers.push(("cookie".into(), "a=1; s3o_session=abc.def".into()));
        r.headers.push(("cookie".into(), "other=2".into()));
        assert_eq!(r.cookie("s3o_session"), Some("abc.def"));
        assert_eq!(r.cookie("other"), Some("2"));
        assert_eq!(r.cookie("missing"), None);
    }

    #[test]
    fn json_body_limits() {
        let mut r = Request::new("PUT", "/admin/api/log-level", ip());
        r.body = Bytes::from(vec![b' '; MAX_JSON_BODY + 1]);
        assert_eq!(r.json::<serde_json::Value>().unwrap_err().status, 413);
        r.body = Bytes::from_static(b"{not json");
        assert_eq!(r.json::<serde_json::Value>().unwrap_err().status, 400);
        r.body = Bytes::from_static(b"{\"level\":\"debug\"}");
        assert_eq!(r.json::<serde_json::Value>().unwrap()["level"], "debug");
    }

    #[test]
    fn error_shape_and_accept() {
        let resp = Response::method_not_allowed("GET, PUT");
        assert_eq!(resp.status, 405);
        assert_eq!(resp.header("allow"), Some("GET, PUT"));
        assert_eq!(&resp.body[..], br#"{"error":"method not allowed"}"#);
        let mut r = Request::new("POST", "/ui/login", ip());
        assert!(!r.wants_html());
        r.headers
            .push(("accept".into(), "text/html,application/xhtml+xml,*/*;q=0.8".into()));
        assert!(r.wants_html());
        r.headers[0].1 = "application/json, text/html".into();
        assert!(!r.wants_html());
    }
}
