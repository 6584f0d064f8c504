//! `ip("...")` matching: a single address, a range `a-b` or a CIDR `a/n`, IPv4 or IPv6.

use std::net::IpAddr;

/// A compiled `ip()` argument.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum IpMatcher {
    Single(IpAddr),
    Range(IpAddr, IpAddr),
    Cidr(IpAddr, u8),
}

fn to_u128(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(v) => (true, u32::from(v) as u128),
        IpAddr::V6(v) => (false, u128::from(v)),
    }
}

impl IpMatcher {
    /// Parses the argument of `ip()`.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad =
            || format!("invalid ip pattern {s:?}: expecting an address, a range a-b or a CIDR");
        if let Some((a, n)) = s.split_once('/') {
            let ip: IpAddr = a.trim().parse().map_err(|_| bad())?;
            let bits: u8 = n.trim().parse().map_err(|_| bad())?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if bits > max {
                return Err(bad());
            }
            return Ok(IpMatcher::Cidr(ip, bits));
        }
        if let Some((a, b)) = s.split_once('-') {
            let a: IpAddr = a.trim().parse().map_err(|_| bad())?;
            let b: IpAddr = b.trim().parse().map_err(|_| bad())?;
            if a.is_ipv4() != b.is_ipv4() || to_u128(a).1 > to_u128(b).1 {
                return Err(bad());
            }
            return Ok(IpMatcher::Range(a, b));
        }
        Ok(IpMatcher::Single(s.parse().map_err(|_| bad())?))
    }

    /// Whether `ip` is covered.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let (v4, x) = to_u128(ip);
        match self {
            IpMatcher::Single(a) => *a == ip,
            IpMatcher::Range(a, b) => {
                let (av4, a) = to_u128(*a);
                av4 == v4 && a <= x && x <= to_u128(*b).1
            }
            IpMatcher::Cidr(net, bits) => {
                let (nv4, n) = to_u128(*net);
                if nv4 != v4 {
                    return false;
                }
                let width = if v4 { 32 } else { 128 };
                let shift = width - u32::from(*bits);
                if shift >= 128 {
                    return true;
                }
                (n >> shift) == (x >> shift)
            }
        }
    }

    /// Whether `value` is an address this covers.
    pub(crate) fn matches_value(&self, value: &str) -> bool {
        value.trim().parse().is_ok_and(|ip| self.contains(ip))
    }

    /// Whether any address written in `line` is covered.
    pub(crate) fn matches_line(&self, line: &str) -> bool {
        line.split(|c: char| !(c.is_ascii_hexdigit() || c == '.' || c == ':'))
            .filter(|t| t.len() >= 2 && (t.contains('.') || t.contains(':')))
            .any(|t| {
                let ok = |x: &str| x.parse::<IpAddr>().is_ok_and(|ip| self.contains(ip));
                ok(t) || ok(t.trim_matches('.')) || ok(t.trim_end_matches(':'))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let cidr = IpMatcher::parse("192.168.0.0/16").unwrap();
        assert!(cidr.matches_value("192.168.4.5"));
        assert!(!cidr.matches_value("10.0.0.1"));
        let range = IpMatcher::parse("10.0.0.1-10.0.0.9").unwrap();
        assert!(range.matches_line("from 10.0.0.5: ok"));
        assert!(!range.matches_line("from 10.0.0.10: ok"));
        let v6 = IpMatcher::parse("::1").unwrap();
        assert!(v6.matches_line("client=::1 ok"));
        assert!(IpMatcher::parse("nope").is_err());
        assert!(IpMatcher::parse("10.0.0.0/33").is_err());
    }
}
