//! Who the client is: the peer address, or, when the peer is a configured trusted proxy, the
//! leftmost `X-Forwarded-For` address (else `X-Real-IP`), and whether the client used HTTPS (TLS,
//! or `X-Forwarded-Proto: https` from a trusted proxy). Headers from any other peer are ignored,
//! so a client cannot pick its own rate-limit key or audit address.

use std::net::IpAddr;

use crate::http::Request;

/// One `address/prefix` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `x::y/n` or a bare address (a /32 or /128).
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, p) = s.trim().split_once('/').unwrap_or((s.trim(), ""));
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if p.is_empty() {
            max
        } else {
            p.parse::<u8>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0..={max}"))?
        };
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` is inside the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The peers whose forwarding headers are believed (none by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<Cidr>);

impl TrustedProxies {
    /// From configured strings; the first bad one is the error.
    pub fn parse(list: &[String]) -> Result<TrustedProxies, String> {
        list.iter()
            .map(|s| Cidr::parse(s))
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    /// Whether `peer` is a trusted proxy.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(peer))
    }

    /// The client's address for `req`.
    pub fn client_ip(&self, req: &Request) -> IpAddr {
        if !self.trusts(req.peer_ip) {
            return req.peer_ip;
        }
        let forwarded = req
            .header("x-forwarded-for")
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok());
        forwarded
            .or_else(|| req.header("x-real-ip").and_then(|v| v.trim().parse().ok()))
            .unwrap_or(req.peer_ip)
    }

    /// Whether the client used HTTPS.
    pub fn is_https(&self, req: &Request) -> bool {
        req.tls
            || (self.trusts(req.peer_ip)
                && req
                    .header("x-forwarded-proto")
                    .is_some_and(|p| p.trim().eq_ignore_ascii_case("https")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(peer: &str, headers: &[(&str, &str)]) -> Request {
        let mut r = Request::new("GET", "/api/me", peer.parse().unwrap());
        r.headers = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        r
    }

    #[test]
    fn blocks() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()) && !c.contains("11.0.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("127.0.0.1").unwrap().contains("127.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("fd00::/8").unwrap().contains("fd12::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err() && Cidr::parse("host").is_err());
    }

    #[test]
    fn forwarding_headers_only_from_trusted_peers() {
        let t = TrustedProxies::parse(&["127.0.0.1".into()]).unwrap();
        let hdrs = [
            ("x-forwarded-for", "203.0.113.7, 10.0.0.1"),
            ("x-forwarded-proto", "https"),
        ];
        let from_proxy = req("127.0.0.1", &hdrs);
        assert_eq!(t.client_ip(&from_proxy), "203.0.113.7".parse::<IpAddr>().unwrap());
        assert!(t.is_https(&from_proxy));
        let from_client = req("198.51.100.1", &hdrs);
        assert_eq!(t.client_ip(&from_client), "198.51.100.1".parse::<IpAddr>().unwrap());
        assert!(!t.is_https(&from_client));
        let real_ip = req("127.0.0.1", &[("x-real-ip", "203.0.113.9")]);
        assert_eq!(t.client_ip(&real_ip), "203.0.113.9".parse::<IpAddr>().unwrap());
        let junk = req("127.0.0.1", &[("x-forwarded-for", "junk")]);
        assert_eq!(t.client_ip(&junk), "127.0.0.1".parse::<IpAddr>().unwrap());
        assert!(!TrustedProxies::default().trusts("127.0.0.1".parse().unwrap()));
    }
}
