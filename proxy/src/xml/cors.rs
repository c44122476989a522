//! `CORSConfiguration` (Get/PutBucketCors): rules of allowed origins, methods and headers,
//! exposed headers and a max age, written and read. The reader checks the shape (MalformedXML)
//! and S3's rules for a rule: at least one method, each one S3 knows, at least one origin, at most
//! one `*` in an origin or header, at most [`MAX_RULES`] rules.

use s3o_store::cors::{CorsRule, MAX_RULES};

use super::reader::{malformed, trim_xml_space, BodyReader, Node};
use super::writer::{element, number_element};
use super::{open_namespaced_root, XmlBody, XmlError};

/// Largest CORSConfiguration body read: 100 rules of a few origins and headers each.
pub const MAX_CORS_BODY_BYTES: usize = 64 * 1024;

/// The GetBucketCors response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorsConfiguration<'a> {
    /// The rules.
    pub rules: &'a [CorsRule],
}

impl XmlBody for CorsConfiguration<'_> {
    fn write_into(&self, out: &mut Vec<u8>) {
        open_namespaced_root(out, "CORSConfiguration");
        for r in self.rules {
            out.extend_from_slice(b"<CORSRule>");
            if let Some(id) = &r.id {
                element(out, "ID", id);
            }
            for (name, values) in [
                ("AllowedHeader", &r.allowed_headers),
                ("AllowedMethod", &r.allowed_methods),
                ("AllowedOrigin", &r.allowed_origins),
                ("ExposeHeader", &r.expose_headers),
            ] {
                for v in values {
                    element(out, name, v);
                }
            }
            if let Some(secs) = r.max_age_secs {
                number_element(out, "MaxAgeSeconds", u64::from(secs));
            }
            out.extend_from_slice(b"</CORSRule>");
        }
        out.extend_from_slice(b"</CORSConfiguration>");
    }

    fn size_hint(&self) -> usize {
        200 + self.rules.len() * 300
    }
}

/// Why a CORS configuration is refused: its XML (MalformedXML) or a rule S3 refuses
/// (InvalidRequest, with S3's message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsError {
    /// Not a well-formed CORSConfiguration.
    Malformed(XmlError),
    /// A rule S3 refuses.
    Invalid(&'static str),
}

/// Reads a PutBucketCors body.
pub fn parse_cors(body: &[u8]) -> Result<Vec<CorsRule>, CorsError> {
    if body.len() > MAX_CORS_BODY_BYTES {
        return Err(CorsError::Malformed(malformed("CORSConfiguration body too large")));
    }
    let mut reader = BodyReader::new(body);
    reader.open_root(b"CORSConfiguration").map_err(CorsError::Malformed)?;
    let mut rules = Vec::new();
    loop {
        match reader.next().map_err(CorsError::Malformed)? {
            Node::Start(start) if start.local_name().as_ref() == b"CORSRule" => {
                if rules.len() >= MAX_RULES {
                    return Err(CorsError::Invalid("A CORS configuration holds at most 100 rules"));
                }
                rules.push(read_rule(&mut reader)?);
            }
            Node::Start(start) => reader.skip(&start).map_err(CorsError::Malformed)?,
            Node::End => break,
            Node::Eof => return Err(CorsError::Malformed(malformed("unclosed CORSConfiguration"))),
        }
    }
    reader.finish().map_err(CorsError::Malformed)?;
    if rules.is_empty() {
        return Err(CorsError::Malformed(malformed("no CORSRule")));
    }
    Ok(rules)
}

fn read_rule(reader: &mut BodyReader<'_>) -> Result<CorsRule, CorsError> {
    let mut rule = CorsRule::default();
    loop {
        match reader.next().map_err(CorsError::Malformed)? {
            Node::Start(start) => {
                let name = start.local_name().as_ref().to_vec();
                const KNOWN: [&[u8]; 6] = [
                    b"ID",
                    b"AllowedMethod",
                    b"AllowedOrigin",
                    b"AllowedHeader",
                    b"ExposeHeader",
                    b"MaxAgeSeconds",
                ];
                if !KNOWN.contains(&name.as_slice()) {
                    reader.skip(&start).map_err(CorsError::Malformed)?;
                    continue;
                }
                let text = reader.text().map_err(CorsError::Malformed)?;
                let text = trim_xml_space(&text).to_owned();
                match name.as_slice() {
                    b"ID" => rule.id = Some(text),
                    b"AllowedMethod" => rule.allowed_methods.push(text),
                    b"AllowedOrigin" => rule.allowed_origins.push(text),
                    b"AllowedHeader" => rule.allowed_headers.push(text),
                    b"ExposeHeader" => rule.expose_headers.push(text),
                    b"MaxAgeSeconds" => {
                        rule.max_age_secs = Some(
                            text.parse()
                                .map_err(|_| CorsError::Malformed(malformed("MaxAgeSeconds is not a number")))?,
                        )
                    }
                    _ => {}
                }
            }
            Node::End => break,
            Node::Eof => return Err(CorsError::Malformed(malformed("unclosed CORSRule"))),
        }
    }
    if rule.allowed_methods.is_empty() || rule.allowed_origins.is_empty() {
        return Err(CorsError::Malformed(malformed(
            "a CORSRule needs an AllowedMethod and an AllowedOrigin",
        )));
    }
    match rule.problem() {
        Some(why) => Err(CorsError::Invalid(why)),
        None => Ok(rule),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back_rules() {
        let rules = vec![CorsRule {
            id: Some("r&1".into()),
            allowed_methods: vec!["GET".into(), "PUT".into()],
            allowed_origins: vec!["*.get".into()],
            allowed_headers: vec!["x-amz-*".into()],
            expose_headers: vec!["ETag".into()],
            max_age_secs: Some(3000),
        }];
        let text = CorsConfiguration { rules: &rules }.to_vec();
        let s = String::from_utf8(text.clone()).unwrap();
        assert!(
            s.contains("<ID>r&amp;1</ID><AllowedHeader>x-amz-*</AllowedHeader><AllowedMethod>GET</AllowedMethod>"),
            "{s}"
        );
        assert!(s.contains("<MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule>"), "{s}");
        assert_eq!(parse_cors(&text).unwrap(), rules);
    }

    #[test]
    fn refuses_what_s3_refuses() {
        let wrap = |r: &str| format!("<CORSConfiguration>{r}</CORSConfiguration>");
        for (body, invalid) in [
            (wrap("<CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule>"), false),
            (wrap("<CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>"), false),
            (wrap(""), false),
            (wrap("<CORSRule><AllowedMethod>PATCH</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule>"), true),
                        (wrap("<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*a*</AllowedOrigin></CORSRule>"), true),
            (wrap("<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin><ExposeHeader>ETag&#13;&#10;Set-Cookie: x</ExposeHeader></CORSRule>"), true),
            (wrap("<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>a b</AllowedOrigin></CORSRule>"), true),
            (wrap("<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin><MaxAgeSeconds>x</MaxAgeSeconds></CORSRule>"), false),
        ] {
            match parse_cors(body.as_bytes()) {
                Err(CorsError::Invalid(_)) => assert!(invalid, "{body}"),
                Err(CorsError::Malformed(_)) => assert!(!invalid, "{body}"),
                Ok(r) => panic!("{body} accepted: {r:?}"),
            }
        }
        let many = wrap(
            &"<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule>".repeat(101),
        );
        assert!(matches!(parse_cors(many.as_bytes()), Err(CorsError::Invalid(_))));
    }
}
