//! `limit:set:<name>=<value>`: memory and tmpfs in bytes (B, KiB, MiB, GiB),
//! pids and nofile as counts, cpu in millicores (`500m`) or cores (`2`).

use super::Parts;
use crate::diag::{Code, Diagnostic};
use std::fmt;

/// The open-file limit `capgate exec` applies on docker/podman when the
/// manifest sets no `limit:set:nofile` (`--ulimit nofile=1024:1024`), so
/// adding a `nofile` above it raises the limit (see `capgate diff`).
pub const LAUNCHER_DEFAULT_NOFILE: u64 = 1024;

/// A resource limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Limit {
    /// Memory in bytes.
    Memory(u64),
    /// Max processes/threads.
    Pids(u64),
    /// CPU in millicores.
    Cpu(u64),
    /// Max open files.
    Nofile(u64),
    /// Size of the /tmp tmpfs in bytes.
    Tmpfs(u64),
}

impl Limit {
    /// The limit's name.
    pub fn name(self) -> &'static str {
        match self {
            Limit::Memory(_) => "memory",
            Limit::Pids(_) => "pids",
            Limit::Cpu(_) => "cpu",
            Limit::Nofile(_) => "nofile",
            Limit::Tmpfs(_) => "tmpfs",
        }
    }
    /// The value in the limit's unit.
    pub fn value(self) -> u64 {
        match self {
            Limit::Memory(v) | Limit::Pids(v) | Limit::Cpu(v) | Limit::Nofile(v) | Limit::Tmpfs(v) => v,
        }
    }
    /// The value as written canonically.
    pub fn value_str(self) -> String {
        match self {
            Limit::Memory(b) | Limit::Tmpfs(b) => bytes(b),
            Limit::Cpu(m) if m % 1000 == 0 => format!("{}", m / 1000),
            Limit::Cpu(m) => format!("{m}m"),
            Limit::Pids(n) | Limit::Nofile(n) => n.to_string(),
        }
    }
}

/// Canonical byte size: the largest binary unit that divides it.
pub fn bytes(b: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if b % size == 0 {
            return format!("{}{unit}", b / size);
        }
    }
    format!("{b}B")
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "limit:set:{}={}", self.name(), self.value_str())
    }
}

/// The smallest memory limit: docker refuses less than 6 MB, and runc's own
/// start-up needs a few MiB inside the cgroup.
const MIN_MEMORY: u64 = 8 << 20;

/// The smallest cpu limit in millicores: 1 ms of CPU per 100 ms period, the
/// kernel's smallest CFS quota (docker's `--cpus` uses that period).
const MIN_CPU: u64 = 10;

fn number(s: &str) -> Option<u64> {
    let ok =
        !s.is_empty() && s.len() <= 16 && s.bytes().all(|b| b.is_ascii_digit()) && !(s.len() > 1 && s.starts_with('0'));
    ok.then(|| s.parse().ok()).flatten().filter(|n| *n > 0)
}

fn parse_bytes(s: &str) -> Option<u64> {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1)] {
        if let Some(n) = s.strip_suffix(unit) {
            return number(n)?.checked_mul(size).filter(|b| *b <= 1 << 50);
        }
    }
    None
}

pub(super) fn parse(p: &Parts<'_>) -> Result<Limit, Diagnostic> {
    p.actions(&["set"])?;
    p.refinement_keys(&[])?;
    let Some((name, value)) = p.scope.split_once('=') else {
        return Err(Diagnostic::error(Code::BadLimit, "a limit is written name=value")
            .at(p.span_scope())
            .hint("limits: memory=512MiB, pids=256, cpu=500m, nofile=1024, tmpfs=64MiB"));
    };
    let bad = |hint: &str| {
        Diagnostic::error(
            Code::BadLimit,
            format!("`{}` is not a valid {name} limit", crate::json::printable(value)),
        )
        .at(p.span_in_scope(name.len() + 1, p.scope.len()))
        .hint(hint.to_string())
    };
    let limit = match name {
        "memory" => Limit::Memory(
            parse_bytes(value)
                .filter(|b| *b >= MIN_MEMORY)
                .ok_or_else(|| bad("write a size from 8MiB (below that no runtime can start a process) to 1048576GiB, with a unit: 512MiB, 2GiB"))?,
        ),
        "tmpfs" => Limit::Tmpfs(
            parse_bytes(value).ok_or_else(|| bad("write a size up to 1048576GiB with a unit: 64MiB"))?,
        ),
        "pids" => Limit::Pids(
            number(value)
                .filter(|n| *n <= 4_194_304)
                .ok_or_else(|| bad("write a count from 1 to 4194304: 256"))?,
        ),
        "nofile" => Limit::Nofile(
            number(value)
                .filter(|n| *n <= 1 << 20)
                .ok_or_else(|| bad("write a count from 1 to 1048576: 1024"))?,
        ),
        "cpu" => {
            let m = match value.strip_suffix('m') {
                Some(n) => number(n),
                None => number(value).and_then(|c| c.checked_mul(1000)),
            };
            Limit::Cpu(
                m.filter(|m| (MIN_CPU..=1_024_000).contains(m))
                    .ok_or_else(|| bad("write millicores from 10m (1 ms of CPU per 100 ms, the kernel's smallest quota) to 1024000m, or whole cores: 500m, 2"))?,
            )
        }
        other => {
            return Err(Diagnostic::error(
                Code::BadLimit,
                format!("unknown limit `{}`", crate::json::printable(other)),
            )
            .at(p.span_in_scope(0, name.len().max(1)))
            .hint("limits: memory, pids, cpu, nofile, tmpfs"))
        }
    };
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse_str;
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(
            parse_str("limit:set:cpu=1500m").unwrap().to_string(),
            "limit:set:cpu=1500m"
        );
        assert_eq!(parse_str("limit:set:cpu=2").unwrap().to_string(), "limit:set:cpu=2");
        // The bounds themselves are accepted (2^50 bytes is the largest size).
        for ok in [
            "memory=8MiB",
            "cpu=10m",
            "memory=1125899906842624B",
            "memory=1048576GiB",
        ] {
            assert!(parse_str(&format!("limit:set:{ok}")).is_ok(), "{ok}");
        }
        assert_eq!(
            parse_str("limit:set:tmpfs=1536KiB").unwrap().to_string(),
            "limit:set:tmpfs=1536KiB"
        );
        for bad in [
            "memory=512",
            "memory=0MiB",
            "memory=1KiB",
            "pids=-1",
            "pids=0",
            "cpu=0.5",
            "nofile=1e3",
            "swap=1",
            "memory=99999999999GiB",
            "memory=7MiB",
            "cpu=9m",
            "cpu=0m",
            "nofile=1048577",
            "pids=4194305",
            "memory=1125899906842625B",
        ] {
            assert_eq!(
                parse_str(&format!("limit:set:{bad}")).unwrap_err().code,
                Code::BadLimit,
                "{bad}"
            );
        }
    }
}
