//! Virtual-hosted-style addressing: a `Host` of `<bucket>.<domain>` (with or without a port),
//! where `<domain>` is one of `[server] domains`, names the bucket, and the whole path is the
//! key. Any other `Host` (a configured domain itself, an IP address, an unknown name) is
//! path-style. Host names compare case-insensitively and a trailing dot is ignored; when domains
//! nest (`example.com`, `s3.example.com`) the longest one that matches wins.

/// The bucket a virtual-hosted-style `host` names under one of `domains`; `None` = path-style.
pub fn host_bucket(host: &str, domains: &[String]) -> Option<String> {
    if domains.is_empty() || host.starts_with('[') {
        return None;
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|c| c.is_ascii_digit()) => name,
        Some(_) => return None,
        None => host,
    };
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    if domains.contains(&name) {
        return None;
    }
    domains
        .iter()
        .filter_map(|d| {
            let prefix = name.strip_suffix(d.as_str())?.strip_suffix('.')?;
            (!prefix.is_empty()).then_some((d.len(), prefix))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, bucket)| bucket.to_owned())
}

#[cfg(test)]
mod tests {
    use super::host_bucket;

    #[test]
    fn buckets_come_from_hosts_under_a_domain() {
        let d = vec![
            "s3.example.com".to_owned(),
            "example.com".to_owned(),
            "localhost".to_owned(),
        ];
        let cases: &[(&str, Option<&str>)] = &[
            ("bkt.s3.example.com", Some("bkt")),
            ("bkt.s3.example.com:9443", Some("bkt")),
            ("BKT.S3.Example.COM.", Some("bkt")),
            ("my.dotted.bucket.s3.example.com:80", Some("my.dotted.bucket")),
            // Nested domains: a configured domain is path-style even under another one.
            ("s3.example.com", None),
            ("other.example.com", Some("other")),
            ("b.localhost:9000", Some("b")),
            // Path-style: a domain itself, an address, an unknown name, a suffix that is not a label.
            ("example.com", None),
            ("localhost:9000", None),
            ("127.0.0.1:9000", None),
            ("[::1]:9000", None),
            ("bkt.elsewhere.org", None),
            ("bktexample.com", None),
            (".example.com", None),
            ("bkt.example.com:port", None),
        ];
        for (host, want) in cases {
            assert_eq!(host_bucket(host, &d).as_deref(), *want, "{host}");
        }
        assert_eq!(host_bucket("bkt.s3.example.com", &[]), None);
    }
}
