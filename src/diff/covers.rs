//! The "covers" relation per capability kind: does one grant (or a set of
//! grants) allow at least everything another allows? Judged on meaning,
//! never on text, reusing the path and CIDR helpers of [`crate::capability`].
//!
//! Grants are split into atoms (one action each) and every atom of the
//! candidate must be allowed by some grant of the set; net ports may be
//! covered by the union of several ranges. Anything the relation cannot
//! prove is "not covered", so an undecidable change is reported as a
//! widening, never hidden.

use crate::capability::net::{is_special, network, Host, NetGrant, PortRange, SPECIAL_V4, SPECIAL_V6};
use crate::capability::path::{ancestors, is_under};
use crate::capability::{Capability, EnvAction, FsGrant, Glob};
use std::net::IpAddr;

/// True if `wide` alone allows everything `narrow` allows.
pub fn covers(wide: &Capability, narrow: &Capability) -> bool {
    covered_by(narrow, std::iter::once(wide))
}

/// True if the grants of `set` together allow everything `cap` allows.
/// Limits and assertions are constraints, not permissions: a limit covers
/// another of the same name when its value is at least as high, an
/// assertion only an identical one.
pub fn covered_by<'a>(cap: &Capability, set: impl IntoIterator<Item = &'a Capability> + Clone) -> bool {
    match cap {
        Capability::Fs(n) => n.actions.iter().all(|a| {
            set.clone().into_iter().any(|o| match o {
                Capability::Fs(o) => o.actions.contains(a) && fs_scope_covers(o, n),
                _ => false,
            })
        }),
        Capability::Net(n) => n.actions.iter().all(|a| {
            let ranges: Vec<PortRange> = set
                .clone()
                .into_iter()
                .filter_map(|o| match o {
                    Capability::Net(o) if o.actions.contains(a) && o.proto == n.proto && host_covers(o, n) => {
                        Some(o.ports)
                    }
                    _ => None,
                })
                .collect();
            ports_cover(&ranges, n.ports)
        }),
        Capability::Env(n) => set.into_iter().any(|o| match o {
            Capability::Env(o) if o.name == n.name => match (o.action, n.action) {
                (EnvAction::Set, EnvAction::Set) => o.value == n.value,
                (EnvAction::Set, _) => false,
                // A value passed from the launcher can be anything, a fixed one
                // included. read and inject give the sandbox the same access
                // (capgate exec passes both from its own environment, never in
                // argv or a file); inject only declares the value a secret.
                (EnvAction::Read | EnvAction::Inject, _) => true,
            },
            _ => false,
        }),
        Capability::Exec(n) => set.into_iter().any(|o| match o {
            Capability::Exec(o) => o.program == n.program && (o.nested_sandbox || !n.nested_sandbox),
            _ => false,
        }),
        Capability::Ipc(n) => set.into_iter().any(|o| match o {
            Capability::Ipc(o) => o.endpoint == n.endpoint,
            _ => false,
        }),
        Capability::Clock(n) => set.into_iter().any(|o| matches!(o, Capability::Clock(c) if c == n)),
        Capability::Limit(n) => set.into_iter().any(|o| match o {
            Capability::Limit(o) => o.name() == n.name() && o.value() >= n.value(),
            _ => false,
        }),
        Capability::Assert(n) => set.into_iter().any(|o| matches!(o, Capability::Assert(a) if a == n)),
    }
}

/// Whether two grants are about the same thing (so a change between them
/// is shown as one widened/narrowed/changed entry, not a grant and a
/// revocation): overlapping paths, overlapping destinations, the same
/// variable, program, endpoint, clock source, limit or assertion id.
pub fn related(a: &Capability, b: &Capability) -> bool {
    match (a, b) {
        (Capability::Fs(a), Capability::Fs(b)) => is_under(&a.path, &b.path) || is_under(&b.path, &a.path),
        (Capability::Net(a), Capability::Net(b)) => {
            let overlap = a.ports.lo <= b.ports.hi && b.ports.lo <= a.ports.hi;
            overlap
                && (host_set_covers(&a.host, true, &b.host, false) || host_set_covers(&b.host, true, &a.host, false))
        }
        (Capability::Env(a), Capability::Env(b)) => a.name == b.name,
        (Capability::Exec(a), Capability::Exec(b)) => a.program == b.program,
        (Capability::Ipc(a), Capability::Ipc(b)) => a.endpoint == b.endpoint,
        (Capability::Clock(a), Capability::Clock(b)) => a == b,
        (Capability::Limit(a), Capability::Limit(b)) => a.name() == b.name(),
        (Capability::Assert(a), Capability::Assert(b)) => a.id == b.id,
        _ => false,
    }
}

/// The path scope of `wide` contains that of `narrow`. A grant of the path
/// itself means a file, or a directory with its contents, so it covers the
/// subtree like `/**`; `/*` covers only itself and the direct children.
fn fs_scope_covers(wide: &FsGrant, narrow: &FsGrant) -> bool {
    match wide.glob {
        Glob::Exact | Glob::Subtree => is_under(&narrow.path, &wide.path),
        Glob::Children => {
            (narrow.path == wide.path && narrow.glob == Glob::Children)
                || (narrow.glob == Glob::Exact
                    && narrow.path != wide.path
                    && ancestors(&narrow.path).next() == Some(wide.path.as_str()))
        }
    }
}

/// The union of `ranges` contains `want`.
fn ports_cover(ranges: &[PortRange], want: PortRange) -> bool {
    let mut sorted = ranges.to_vec();
    sorted.sort();
    let mut next = u32::from(want.lo);
    for r in sorted {
        if u32::from(r.lo) <= next && u32::from(r.hi) >= next {
            next = u32::from(r.hi) + 1;
        }
        if next > u32::from(want.hi) {
            return true;
        }
    }
    next > u32::from(want.hi)
}

/// The destinations of `wide` contain those of `narrow` (hosts only).
fn host_covers(wide: &NetGrant, narrow: &NetGrant) -> bool {
    host_set_covers(&wide.host, wide.private, &narrow.host, narrow.private)
}

/// Host containment. Name-based rules (`*`, `*.domain`, names) reach
/// private and special addresses only with `?private=allow`, so a rule
/// without it never covers one with it. IP and CIDR rules allow exactly
/// what they name.
fn host_set_covers(wide: &Host, wide_private: bool, narrow: &Host, narrow_private: bool) -> bool {
    let private_ok = wide_private || !narrow_private;
    match (wide, narrow) {
        (Host::Any, n) if n.is_name_based() => private_ok,
        (Host::Any, Host::Ip(ip)) => wide_private || !is_special(*ip),
        (Host::Any, Host::Cidr(ip, len)) => wide_private || cidr_is_public(*ip, *len),
        (Host::Wildcard(s), Host::Wildcard(t)) => private_ok && (t == s || is_subdomain(t, s)),
        (Host::Wildcard(s), Host::Name(n)) => private_ok && is_subdomain(n, s),
        (Host::Name(a), Host::Name(b)) => private_ok && a == b,
        (Host::Ip(a), Host::Ip(b)) => a == b,
        (Host::Ip(a), Host::Cidr(b, len)) => a == b && *len == full_len(*b),
        (Host::Cidr(a, len), Host::Ip(b)) => same_family(*a, *b) && network(*b, *len) == *a,
        (Host::Cidr(a, la), Host::Cidr(b, lb)) => same_family(*a, *b) && lb >= la && network(*b, *la) == *a,
        _ => false,
    }
}

fn is_subdomain(name: &str, domain: &str) -> bool {
    name.len() > domain.len() + 1 && name.ends_with(domain) && name.as_bytes()[name.len() - domain.len() - 1] == b'.'
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

fn full_len(a: IpAddr) -> u8 {
    if a.is_ipv4() {
        32
    } else {
        128
    }
}

/// No address of `ip/len` lies in a special range (two CIDR blocks
/// intersect exactly when one contains the other).
fn cidr_is_public(ip: IpAddr, len: u8) -> bool {
    let meets = |n: IpAddr, l: u8| {
        let m = l.min(len);
        network(ip, m) == network(n, m)
    };
    match ip {
        IpAddr::V4(_) => !SPECIAL_V4.iter().any(|(n, l)| meets(IpAddr::V4(*n), *l)),
        IpAddr::V6(_) => !SPECIAL_V6.iter().any(|(n, l)| meets(IpAddr::V6(*n), *l)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::{parse, Src};
    use crate::diag::Span;
    use crate::manifest::Grammar;

    fn cap(s: &str) -> Capability {
        let f = |a: usize, b: usize| Span::new(a, b);
        parse(&Src { text: s, span_of: &f }, Grammar::V1).unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    /// `wide` covers `narrow` and not the reverse: a strict widening.
    fn strictly(wide: &str, narrow: &str) {
        assert!(covers(&cap(wide), &cap(narrow)), "{wide} should cover {narrow}");
        assert!(!covers(&cap(narrow), &cap(wide)), "{narrow} should not cover {wide}");
        assert!(
            related(&cap(wide), &cap(narrow)),
            "{wide} and {narrow} should be related"
        );
    }

    fn same(a: &str, b: &str) {
        assert!(covers(&cap(a), &cap(b)) && covers(&cap(b), &cap(a)), "{a} == {b}");
    }

    fn unrelated(a: &str, b: &str) {
        assert!(!covers(&cap(a), &cap(b)) && !covers(&cap(b), &cap(a)), "{a} vs {b}");
    }

    #[test]
    fn fs_paths() {
        strictly("fs:read:/**?sensitive=allow", "fs:read:/data/**");
        strictly("fs:read:/data/**", "fs:read:/data/*");
        strictly("fs:read:/data/*", "fs:read:/data/x");
        strictly("fs:read:/data/**", "fs:read:/data/x/y/z");
        same("fs:read:/data", "fs:read:/data/**");
        same("fs:read:/data?optional=true", "fs:read:/data");
        assert!(!covers(&cap("fs:read:/data/*"), &cap("fs:read:/data/x/y")));
        assert!(!covers(&cap("fs:read:/data/*"), &cap("fs:read:/data/x/**")));
        assert!(!covers(&cap("fs:read:/data/*"), &cap("fs:read:/data")));
        unrelated("fs:read:/data/**", "fs:read:/database/**");
        assert!(!related(&cap("fs:read:/data/**"), &cap("fs:read:/database/**")));
    }

    #[test]
    fn fs_actions() {
        strictly("fs:read,write:/data/**", "fs:read:/data/**");
        strictly("fs:read,write,create,delete:/data/**", "fs:write,create:/data/x");
        // A changed action on the same path: neither covers the other, but related.
        unrelated("fs:read:/data/**", "fs:write:/data/**");
        assert!(related(&cap("fs:read:/data/**"), &cap("fs:write:/data/**")));
        // Two grants together cover a merged one.
        let set = [cap("fs:read:/data/**"), cap("fs:write:/data/**")];
        assert!(covered_by(&cap("fs:read,write:/data/**"), set.iter()));
        assert!(!covered_by(&cap("fs:read,write,delete:/data/**"), set.iter()));
    }

    #[test]
    fn net_hosts_and_ports() {
        strictly("net:connect:*.x.com:443", "net:connect:api.x.com:443");
        strictly("net:connect:*.x.com:443", "net:connect:*.api.x.com:443");
        assert!(!covers(&cap("net:connect:*.x.com:443"), &cap("net:connect:x.com:443")));
        strictly("net:connect:api.x.com:*", "net:connect:api.x.com:443");
        strictly("net:connect:api.x.com:1-1024", "net:connect:api.x.com:80-443");
        strictly("net:connect:*:443", "net:connect:api.x.com:443");
        strictly("net:connect,listen:api.x.com:443", "net:connect:api.x.com:443");
        strictly("net:connect:api.x.com:443?private=allow", "net:connect:api.x.com:443");
        strictly("net:connect:*:443?private=allow", "net:connect:10.0.0.1:443");
        // `*` reaches public addresses only.
        strictly("net:connect:*:443", "net:connect:8.8.8.8:443");
        assert!(!covers(&cap("net:connect:*:443"), &cap("net:connect:10.0.0.1:443")));
        assert!(!covers(
            &cap("net:connect:*:443"),
            &cap("net:connect:169.254.169.254:443")
        ));
        assert!(!covers(&cap("net:connect:*:443"), &cap("net:connect:0.0.0.0/4:443")));
        strictly("net:connect:*:443", "net:connect:8.8.8.0/24:443");
        strictly("net:connect:10.0.0.0/8:443", "net:connect:10.1.0.0/16:443");
        strictly("net:connect:10.0.0.0/8:443", "net:connect:10.1.2.3:443");
        strictly("net:connect:[2001:db8::/32]:443", "net:connect:[2001:db8::1]:443");
        unrelated("net:connect:10.0.0.0/8:443", "net:connect:11.0.0.0/8:443");
        unrelated("net:connect:api.x.com:443", "net:connect:api.x.com:443?proto=udp");
        unrelated("net:connect:a.x.com:443", "net:connect:b.x.com:443");
        assert!(!related(
            &cap("net:connect:a.x.com:443"),
            &cap("net:connect:b.x.com:443")
        ));
        assert!(!related(
            &cap("net:connect:a.x.com:443"),
            &cap("net:connect:a.x.com:80")
        ));
        // Port union.
        let set = [cap("net:connect:a.x.com:1-100"), cap("net:connect:a.x.com:101-200")];
        assert!(covered_by(&cap("net:connect:a.x.com:50-150"), set.iter()));
        assert!(!covered_by(&cap("net:connect:a.x.com:50-201"), set.iter()));
    }

    #[test]
    fn env_exec_ipc_limits() {
        // read and inject: the same access (inject declares a secret).
        same("env:read:TOKEN", "env:inject:TOKEN");
        strictly("env:read:MODE", "env:set:MODE=fast");
        strictly("env:inject:MODE", "env:set:MODE=fast");
        unrelated("env:set:MODE=fast", "env:set:MODE=slow");
        unrelated("env:read:A", "env:read:B");
        strictly("exec:spawn:chromium?nestedSandbox=true", "exec:spawn:chromium");
        unrelated("exec:spawn:git", "exec:spawn:/usr/bin/git");
        same("ipc:connect:x11", "ipc:connect:x11?optional=true");
        unrelated("ipc:connect:x11", "ipc:connect:wayland");
        strictly("limit:set:memory=1GiB", "limit:set:memory=512MiB");
        unrelated("limit:set:memory=1GiB", "limit:set:pids=64");
        unrelated("assert:require:a:one", "assert:require:a:two");
        same("clock:read:tzdata", "clock:read:tzdata");
        unrelated("clock:read:tzdata", "clock:read:system");
    }
}
