//! `net:<connect,listen>:<host>:<port>[?proto=tcp|udp&private=allow]`
//!
//! host: a DNS name (RFC 1123, ASCII, lowercased), `*.domain`, `*`, an IPv4
//! address, `[IPv6]`, an IPv4 CIDR or `[IPv6/len]`. port: `n`, `n-m` or `*`.
//! Private and special destinations are classified with real CIDR math.

use super::{write_refinements, Parts};
use crate::diag::{Code, Diagnostic};
use crate::manifest::Grammar;
use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A net action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NetAction {
    /// Outbound connections.
    Connect,
    /// Listening sockets.
    Listen,
}

impl NetAction {
    /// The action word.
    pub fn as_str(self) -> &'static str {
        match self {
            NetAction::Connect => "connect",
            NetAction::Listen => "listen",
        }
    }
}

/// Transport protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    /// TCP (default).
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// `tcp` / `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// A destination host.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Host {
    /// `*`: any public address.
    Any,
    /// `*.suffix`: any name strictly below `suffix`.
    Wildcard(String),
    /// A DNS name.
    Name(String),
    /// An IP address.
    Ip(IpAddr),
    /// A CIDR block (network address, prefix length).
    Cidr(IpAddr, u8),
}

impl Host {
    /// True for DNS names, wildcards and `*`: rules that are subject to the
    /// private-range denial unless `?private=allow`.
    pub fn is_name_based(&self) -> bool {
        matches!(self, Host::Any | Host::Wildcard(_) | Host::Name(_))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Any => f.write_str("*"),
            Host::Wildcard(s) => write!(f, "*.{s}"),
            Host::Name(s) => f.write_str(s),
            Host::Ip(IpAddr::V4(a)) => write!(f, "{a}"),
            Host::Ip(IpAddr::V6(a)) => write!(f, "[{}]", v6(a)),
            Host::Cidr(IpAddr::V4(a), l) => write!(f, "{a}/{l}"),
            Host::Cidr(IpAddr::V6(a), l) => write!(f, "[{}/{l}]", v6(a)),
        }
    }
}

/// A port range; `1-65535` is `*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    /// First port.
    pub lo: u16,
    /// Last port (inclusive).
    pub hi: u16,
}

impl PortRange {
    /// All ports.
    pub const ANY: PortRange = PortRange { lo: 1, hi: 65535 };
    /// True for `*`.
    pub fn is_any(self) -> bool {
        self == PortRange::ANY
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            f.write_str("*")
        } else if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// A network grant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NetGrant {
    /// Actions.
    pub actions: BTreeSet<NetAction>,
    /// Destination host.
    pub host: Host,
    /// Ports.
    pub ports: PortRange,
    /// Protocol.
    pub proto: Proto,
    /// `?private=allow`: name-based rules may reach private ranges.
    pub private: bool,
}

impl fmt::Display for NetGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let actions: Vec<&str> = self.actions.iter().map(|a| a.as_str()).collect();
        write!(f, "net:{}:{}:{}", actions.join(","), self.host, self.ports)?;
        let mut r = Vec::new();
        if self.private {
            r.push(("private", "allow"));
        }
        if self.proto == Proto::Udp {
            r.push(("proto", "udp"));
        }
        write_refinements(f, &r)
    }
}

pub(super) fn parse(p: &Parts<'_>, grammar: Grammar) -> Result<NetGrant, Diagnostic> {
    let actions = p
        .actions(&["connect", "listen"])?
        .into_iter()
        .map(|a| {
            if a == "connect" {
                NetAction::Connect
            } else {
                NetAction::Listen
            }
        })
        .collect();
    p.refinement_keys(&["proto", "private"])?;
    let proto = match p.refinement("proto", &["tcp", "udp"])?.as_deref() {
        Some("udp") => Proto::Udp,
        _ => Proto::Tcp,
    };
    let private = p.refinement("private", &["allow"])?.is_some();
    let scope = p.scope;
    if let Some(i) = scope.find("://") {
        return Err(
            Diagnostic::error(Code::BadHost, "the destination is a URL, not host:port")
                .at(p.span_in_scope(0, i + 3))
                .hint("write the host and port: net:connect:api.github.com:443"),
        );
    }

    // Split host and port.
    let (host_text, host_at, port_text) = if let Some(rest) = scope.strip_prefix('[') {
        let Some(close) = rest.find(']') else {
            return Err(Diagnostic::error(Code::BadHost, "`[` without a closing `]`")
                .at(p.span_scope())
                .hint("IPv6 literals are written [2001:db8::1]:443"));
        };
        let after = &rest[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port),
            None if after.is_empty() => None,
            None => {
                return Err(Diagnostic::error(Code::BadPort, "expected `:port` after `]`")
                    .at(p.span_in_scope(close + 2, scope.len()))
                    .hint("write [2001:db8::1]:443"))
            }
        };
        (&scope[..close + 2], 0, port)
    } else {
        match scope.rfind(':') {
            Some(i) => {
                let host = &scope[..i];
                if host.contains(':') {
                    return Err(Diagnostic::error(Code::BadHost, "an IPv6 address must be in brackets")
                        .at(p.span_scope())
                        .hint("write [2001:db8::1]:443"));
                }
                (host, 0, Some(&scope[i + 1..]))
            }
            None => (scope, 0, None),
        }
    };
    let port_at = host_text.len() + 1;
    let ports = match port_text {
        Some(t) => parse_ports(t).ok_or_else(|| {
            Diagnostic::error(Code::BadPort, format!("`{}` is not a port", crate::json::printable(t)))
                .at(p.span_in_scope(port_at, scope.len().max(port_at + 1)))
                .hint("ports are n (1-65535), n-m with n <= m, or *")
        })?,
        None if grammar == Grammar::Compat => PortRange::ANY,
        None => {
            return Err(Diagnostic::error(Code::BadPort, "the destination has no port")
                .at(p.span_scope())
                .hint(format!("write {}:443, or {}:* for every port", host_text, host_text)))
        }
    };
    let host = parse_host(host_text).map_err(|(code, msg, hint)| {
        Diagnostic::error(code, msg)
            .at(p.span_in_scope(host_at, host_at + host_text.len().max(1)))
            .hint(hint)
    })?;
    Ok(NetGrant {
        actions,
        host,
        ports,
        proto,
        private,
    })
}

fn parse_ports(t: &str) -> Option<PortRange> {
    if t == "*" {
        return Some(PortRange::ANY);
    }
    let one = |s: &str| -> Option<u16> {
        let ok = !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0');
        ok.then(|| s.parse::<u32>().ok())
            .flatten()
            .filter(|n| (1..=65535).contains(n))
            .map(|n| n as u16)
    };
    match t.split_once('-') {
        None => one(t).map(|n| PortRange { lo: n, hi: n }),
        Some((a, b)) => {
            let (lo, hi) = (one(a)?, one(b)?);
            (lo <= hi).then_some(PortRange { lo, hi })
        }
    }
}

type HostError = (Code, String, String);

/// Parse and normalize a host.
pub fn parse_host(t: &str) -> Result<Host, HostError> {
    let pr = crate::json::Printable(t);
    if t.is_empty() {
        return Err((
            Code::BadHost,
            "the host is empty".into(),
            "write a DNS name, *.domain, *, an IP or a CIDR".into(),
        ));
    }
    if !t.is_ascii() {
        return Err((
            Code::NonAsciiHost,
            format!("host `{pr}` has non-ASCII characters"),
            "write internationalized names in punycode (xn--...); look-alike letters from other scripts are rejected"
                .into(),
        ));
    }
    if t == "*" {
        return Ok(Host::Any);
    }
    if let Some(inner) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let (addr, len) = match inner.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (inner, None),
        };
        let ip: Ipv6Addr = addr.parse().map_err(|_| {
            (
                Code::BadHost,
                format!("`{pr}` is not an IPv6 address"),
                "write [2001:db8::1] (no zone ids)".to_string(),
            )
        })?;
        return match len {
            None => Ok(Host::Ip(IpAddr::V6(ip))),
            Some(l) => cidr(IpAddr::V6(ip), l, 128, &pr),
        };
    }
    if let Some((addr, len)) = t.split_once('/') {
        let ip = parse_ipv4(addr).ok_or_else(|| {
            (
                Code::BadCidr,
                format!("`{pr}` is not a CIDR block"),
                "write 10.0.0.0/8, or [2001:db8::/32] for IPv6".to_string(),
            )
        })?;
        return cidr(IpAddr::V4(ip), len, 32, &pr);
    }
    let lower = t.to_ascii_lowercase();
    if let Some(suffix) = lower.strip_prefix("*.") {
        check_name(suffix).map_err(|m| {
            (
                Code::BadHost,
                format!("`{pr}`: {m}"),
                "a wildcard is `*.` followed by a DNS name".to_string(),
            )
        })?;
        if !suffix.contains('.') {
            return Err((
                Code::BadHost,
                format!("`{pr}` covers a whole top-level domain"),
                "name at least a registrable domain: *.example.com".into(),
            ));
        }
        return Ok(Host::Wildcard(suffix.to_string()));
    }
    if t.contains('*') {
        return Err((
            Code::BadHost,
            format!("`{pr}` has a `*` in the wrong place"),
            "only a leading `*.` or a lone `*` is allowed".into(),
        ));
    }
    let last = lower.rsplit('.').next().unwrap_or("");
    // A last label that is a number (decimal, or `0x` hex as URL parsers
    // and inet_aton read it: `0x7f000001` is 127.0.0.1) makes the host an
    // IPv4 spelling, never a DNS name.
    let hex = last
        .strip_prefix("0x")
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    if !last.is_empty()
        && (hex || (last.bytes().all(|b| b.is_ascii_digit() || b == b'x') && last.bytes().any(|b| b.is_ascii_digit())))
    {
        // Looks numeric: must be a strict dotted-quad IPv4 address.
        return parse_ipv4(&lower).map(|ip| Host::Ip(IpAddr::V4(ip))).ok_or_else(|| {
            (
                Code::BadHost,
                format!("`{pr}` is not a valid IPv4 address"),
                "write four decimal octets without leading zeros (127.0.0.1); short, octal and integer forms are rejected".into(),
            )
        });
    }
    check_name(&lower).map_err(|m| {
        (
            Code::BadHost,
            format!("`{pr}`: {m}"),
            "hosts are DNS names (RFC 1123): letters, digits, `-` and `.`".to_string(),
        )
    })?;
    Ok(Host::Name(lower))
}

fn cidr(ip: IpAddr, len: &str, max: u8, pr: &crate::json::Printable) -> Result<Host, HostError> {
    let bad = || {
        (
            Code::BadCidr,
            format!("`{pr}` is not a CIDR block"),
            format!("the prefix length is 0-{max} without leading zeros"),
        )
    };
    if len.is_empty()
        || len.len() > 3
        || !len.bytes().all(|b| b.is_ascii_digit())
        || (len.len() > 1 && len.starts_with('0'))
    {
        return Err(bad());
    }
    let l: u8 = len.parse().map_err(|_| bad())?;
    if l > max {
        return Err(bad());
    }
    let net = network(ip, l);
    if net != ip {
        let shown = match net {
            IpAddr::V4(a) => format!("{a}/{l}"),
            IpAddr::V6(a) => format!("[{}/{l}]", v6(&a)),
        };
        return Err((
            Code::BadCidr,
            format!("`{pr}` has host bits set"),
            format!("did you mean {shown}?"),
        ));
    }
    Ok(Host::Cidr(ip, l))
}

/// An IPv6 address in RFC 5952 form, always in hex groups (never with an
/// embedded dotted IPv4 part, which squid misreads).
pub fn v6(a: &Ipv6Addr) -> String {
    let g = a.segments();
    // Longest run of zero groups (at least two), leftmost on ties.
    let (mut best, mut best_len, mut i) = (0, 0, 0);
    while i < 8 {
        if g[i] == 0 {
            let start = i;
            while i < 8 && g[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    let hex = |s: &[u16]| s.iter().map(|x| format!("{x:x}")).collect::<Vec<_>>().join(":");
    if best_len < 2 {
        return hex(&g);
    }
    format!("{}::{}", hex(&g[..best]), hex(&g[best + best_len..]))
}

/// Any IP address, IPv6 in [`v6`] form.
pub fn ip(a: &IpAddr) -> String {
    match a {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => v6(a),
    }
}

/// Network address of `ip/len`.
pub fn network(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len as u32) };
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - len as u32) };
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

fn parse_ipv4(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        let ok = !p.is_empty()
            && p.len() <= 3
            && p.bytes().all(|b| b.is_ascii_digit())
            && !(p.len() > 1 && p.starts_with('0'));
        if !ok {
            return None;
        }
        octets[i] = p.parse().ok()?;
    }
    Some(Ipv4Addr::from(octets))
}

fn check_name(s: &str) -> Result<(), String> {
    if s.len() > 253 {
        return Err("a DNS name is at most 253 characters".into());
    }
    if s.ends_with('.') {
        return Err("a trailing dot is not allowed".into());
    }
    for label in s.split('.') {
        if label.is_empty() {
            return Err("a DNS name has an empty label".into());
        }
        if label.len() > 63 {
            return Err("a DNS label is at most 63 characters".into());
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err("a DNS label holds only letters, digits and `-`".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a DNS label cannot start or end with `-`".into());
        }
    }
    Ok(())
}

/// Special-purpose IPv4 ranges that `*` and names never reach unless named:
/// this host, private, shared (CGNAT), loopback, link-local (cloud metadata),
/// protocol assignments, documentation, benchmarking, multicast, reserved.
pub const SPECIAL_V4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 0, 0, 0), 24),
    (Ipv4Addr::new(192, 0, 2, 0), 24),
    (Ipv4Addr::new(192, 88, 99, 0), 24),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    (Ipv4Addr::new(198, 18, 0, 0), 15),
    (Ipv4Addr::new(198, 51, 100, 0), 24),
    (Ipv4Addr::new(203, 0, 113, 0), 24),
    (Ipv4Addr::new(224, 0, 0, 0), 4),
    (Ipv4Addr::new(240, 0, 0, 0), 4),
];

/// Special-purpose IPv6 ranges (loopback, unspecified, v4-mapped and
/// translated forms that embed IPv4, documentation, 6to4, ULA, link-local,
/// site-local, multicast).
pub const SPECIAL_V6: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 128),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1), 128),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96),
    (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96),
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48),
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64),
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),
];

/// True if `ip` lies in a special range (v4-mapped IPv6 is judged by its IPv4).
pub fn is_special(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => SPECIAL_V4
            .iter()
            .any(|(n, l)| network(IpAddr::V4(a), *l) == IpAddr::V4(*n)),
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return is_special(IpAddr::V4(v4));
            }
            SPECIAL_V6
                .iter()
                .any(|(n, l)| network(IpAddr::V6(a), *l) == IpAddr::V6(*n))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{parse_compat, parse_str};
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            parse_host("API.Example.COM").unwrap(),
            Host::Name("api.example.com".into())
        );
        assert_eq!(
            parse_host("*.example.com").unwrap(),
            Host::Wildcard("example.com".into())
        );
        for bad in [
            "127.1",
            "2130706433",
            "0x7f.0.0.1",
            "0177.0.0.1",
            "1.2.3.256",
            "a..b",
            "-a.com",
            "a_b.com",
            "*.com",
            "a.*.com",
            "example.com.",
            "foo.123",
        ] {
            assert!(parse_host(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_host("10.0.0.0/8").unwrap(),
            Host::Cidr("10.0.0.0".parse().unwrap(), 8)
        );
        assert_eq!(parse_host("10.0.0.1/8").unwrap_err().0, Code::BadCidr);
        assert_eq!(
            parse_host("[fd00::/8]").unwrap(),
            Host::Cidr("fd00::".parse().unwrap(), 8)
        );
        assert_eq!(parse_host("[fe80::1%eth0]").unwrap_err().0, Code::BadHost);
    }

    #[test]
    fn v6_form() {
        for (a, want) in [
            ("::", "::"),
            ("::1", "::1"),
            ("::ffff:0:0", "::ffff:0:0"),
            ("2001:db8::1", "2001:db8::1"),
            ("1:0:0:1:0:0:0:1", "1:0:0:1::1"),
            ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
            ("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"),
            ("fe80::", "fe80::"),
        ] {
            assert_eq!(v6(&a.parse().unwrap()), want);
        }
    }

    #[test]
    fn special_ranges_use_cidr_math() {
        for ip in [
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "10.1.2.3",
            "172.31.255.255",
            "127.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            assert!(is_special(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1", "11.0.0.1"] {
            assert!(!is_special(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn grants() {
        assert_eq!(
            parse_str("net:connect:10.example.com:443").unwrap().to_string(),
            "net:connect:10.example.com:443"
        );
        assert_eq!(
            parse_str("net:connect:example.com:8000-8080?proto=udp&private=allow")
                .unwrap()
                .to_string(),
            "net:connect:example.com:8000-8080?private=allow&proto=udp"
        );
        assert_eq!(parse_str("net:connect:example.com").unwrap_err().code, Code::BadPort);
        assert_eq!(
            parse_str("net:connect:2001:db8::1:443").unwrap_err().code,
            Code::BadHost
        );
        assert_eq!(parse_str("net:connect:[::1]").unwrap_err().code, Code::BadPort);
        assert_eq!(
            parse_compat("net:connect:[::1]").unwrap().to_string(),
            "net:connect:[::1]:*"
        );
        assert_eq!(
            parse_str("net:connect:example.com:443?proto=icmp").unwrap_err().code,
            Code::BadRefinement
        );
    }
}
