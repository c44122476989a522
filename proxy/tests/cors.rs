//! CORS on the S3 port in process: the bucket owner sets, reads and removes rules; a browser's
//! preflight is answered from them without a signature (400 without Origin or method, 403 when
//! no rule admits it, 200 with the allowed origin, methods and headers); the responses to
//! admitted browser requests carry the CORS headers, errors included.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{Client, Response, TestServer};

const RULES: &str = "<CORSConfiguration>\
    <CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>https://*.example</AllowedOrigin>\
    <AllowedHeader>x-amz-*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule>\
    <CORSRule><AllowedMethod>PUT</AllowedMethod><AllowedMethod>DELETE</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule>\
    </CORSConfiguration>";

/// An unsigned request with these headers.
fn plain(c: &mut Client, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut all = vec![
        ("host".to_string(), "127.0.0.1".to_string()),
        ("content-length".to_string(), "0".to_string()),
    ];
    all.extend(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    c.raw(method, path, "", &all, b"")
}

#[test]
fn rules_are_kept_and_answer_preflights_and_requests() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(c.put("/web", b"").status, 200);
    assert_eq!(c.put("/web/page.html", b"<p>hi</p>").status, 200);
    let r = c.send("GET", "/web", "cors", &[], b"");
    assert_eq!((r.status, r.code()), (404, "NoSuchCORSConfiguration".to_string()));
    let bad = "<CORSConfiguration><CORSRule><AllowedMethod>PATCH</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>";
    assert_eq!(
        c.send("PUT", "/web", "cors", &[], bad.as_bytes()).code(),
        "InvalidRequest"
    );
    assert_eq!(
        c.send("PUT", "/web", "cors", &[], b"<CORSConfiguration/>").code(),
        "MalformedXML"
    );
    let r = c.send("PUT", "/web", "cors", &[], RULES.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let got = c.send("GET", "/web", "cors", &[], b"").text();
    assert!(
        got.contains("<AllowedOrigin>https://*.example</AllowedOrigin>")
            && got.contains("<MaxAgeSeconds>600</MaxAgeSeconds>"),
        "{got}"
    );

    // Preflights: unsigned, from the rules alone.
    let origin = ("origin", "https://app.example");
    assert_eq!(plain(&mut c, "OPTIONS", "/web/page.html", &[]).status, 400);
    assert_eq!(plain(&mut c, "OPTIONS", "/web/page.html", &[origin]).status, 400);
    let ok = plain(
        &mut c,
        "OPTIONS",
        "/web/page.html",
        &[
            origin,
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "x-amz-date, X-Amz-Meta-A"),
        ],
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.header("access-control-allow-origin"), Some("https://app.example"));
    assert_eq!(ok.header("access-control-allow-methods"), Some("GET"));
    assert_eq!(
        ok.header("access-control-allow-headers"),
        Some("x-amz-date, x-amz-meta-a")
    );
    assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(ok.header("access-control-max-age"), Some("600"));
    for refused in [
        plain(
            &mut c,
            "OPTIONS",
            "/web/x",
            &[origin, ("access-control-request-method", "POST")],
        ),
        plain(
            &mut c,
            "OPTIONS",
            "/web/x",
            &[
                origin,
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "content-type"),
            ],
        ),
        plain(
            &mut c,
            "OPTIONS",
            "/web/x",
            &[
                ("origin", "https://evil.test"),
                ("access-control-request-method", "GET"),
            ],
        ),
    ] {
        assert_eq!(
            (refused.status, refused.code()),
            (403, "AccessForbidden".to_string()),
            "{}",
            refused.text()
        );
    }
    let any = plain(
        &mut c,
        "OPTIONS",
        "/web",
        &[
            ("origin", "https://evil.test"),
            ("access-control-request-method", "DELETE"),
        ],
    );
    assert_eq!(
        (any.status, any.header("access-control-allow-origin")),
        (200, Some("*"))
    );
    assert_eq!(
        any.header("access-control-allow-credentials"),
        None,
        "not for any origin"
    );
    let many: Vec<String> = (0..65).map(|i| format!("x-amz-h{i}")).collect();
    let many = many.join(",");
    let r = plain(
        &mut c,
        "OPTIONS",
        "/web",
        &[
            origin,
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", many.as_str()),
        ],
    );
    assert_eq!(r.status, 403, "at most 64 header names");
    assert_eq!(
        plain(
            &mut c,
            "OPTIONS",
            "/nowhere/x",
            &[origin, ("access-control-request-method", "GET")]
        )
        .status,
        404
    );

    // Requests: signed or not, admitted ones carry the headers, errors included.
    let r = c.send("GET", "/web/page.html", "", &[origin], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example"));
    assert_eq!(r.header("access-control-expose-headers"), Some("ETag"));
    let denied = plain(&mut c, "GET", "/web/page.html", &[origin]);
    assert_eq!(denied.status, 403, "the bucket is private");
    assert_eq!(
        denied.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        c.send("GET", "/web/page.html", "", &[("origin", "https://evil.test")], b"")
            .header("access-control-allow-origin"),
        None
    );
    assert_eq!(
        c.send("GET", "/web/page.html", "", &[], b"")
            .header("access-control-allow-origin"),
        None
    );

    // Only the owner changes them; deleted, preflights are refused again.
    let mut other = Client::new(s.addr, common::RO_AK, common::RO_SK);
    assert_eq!(other.send("DELETE", "/web", "cors", &[], b"").status, 403);
    assert_eq!(c.send("DELETE", "/web", "cors", &[], b"").status, 204);
    assert_eq!(c.send("GET", "/web", "cors", &[], b"").status, 404);
    assert_eq!(
        plain(
            &mut c,
            "OPTIONS",
            "/web/page.html",
            &[origin, ("access-control-request-method", "GET")]
        )
        .status,
        403
    );
}
