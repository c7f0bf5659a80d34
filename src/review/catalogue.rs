//! The built-in catalogue of review findings (`CGR001`…) and the checks
//! that raise them. Finding ids are their own namespace, separate from the
//! diagnostic codes (`CG0xxx`): a diagnostic says a manifest is malformed or
//! deserves a lint, a finding is a governance judgement a team may raise,
//! lower or waive in a review policy file. Where a compile lint
//! (`src/policy/lint.rs`) already detects the problem, the finding wraps it
//! and names it (`lint`), so the two never disagree.

use super::Level;
use crate::capability::{path, Capability, EnvAction, Host, IpcEndpoint, NetAction};
use crate::diag::{Code, Diagnostics};
use crate::policy::{Grant, Policy};
use crate::target::{self, Target};
use std::collections::BTreeMap;

/// One catalogue entry.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    /// Stable id, `CGR001`…; never reused for another meaning.
    pub id: &'static str,
    /// Short kebab-case name (SARIF `name`).
    pub name: &'static str,
    /// Default severity.
    pub severity: Level,
    /// One-line title.
    pub title: &'static str,
    /// Why it matters.
    pub rationale: &'static str,
    /// How to fix it.
    pub fix: &'static str,
    /// The compile lint this finding wraps, if any.
    pub lint: Option<Code>,
}

macro_rules! rules {
    ($($id:literal $name:literal $sev:ident $lint:expr, $title:literal, $why:literal, $fix:literal;)*) => {
        /// Every rule, in id order.
        pub const CATALOGUE: &[Rule] = &[$(Rule {
            id: $id, name: $name, severity: Level::$sev, title: $title, rationale: $why, fix: $fix, lint: $lint,
        },)*];
    };
}

rules! {
    "CGR001" "any-host-egress" High Some(Code::BroadHost),
        "egress to any host",
        "`net:connect:*` lets the server reach every public host: a prompt-injected server can send whatever it reads anywhere.",
        "Name the hosts the server talks to (net:connect:api.example.com:443).";
    "CGR002" "broad-destination" Medium Some(Code::BroadHost),
        "a wildcard or address block that covers many unrelated parties",
        "A wildcard on a top-level or public suffix (`*.com`, `*.co.uk`) or on a shared hosting domain (`*.amazonaws.com`, `*.github.io`, …), or an IP block shorter than /8 (IPv6 /16), admits hosts anyone can register or rent: an exfiltration channel that looks allowlisted.",
        "Name the exact hosts, or a wildcard under a domain your organisation or the vendor controls.";
    "CGR003" "writable-package-or-home-dir" High Some(Code::WritablePackageDir),
        "installed software or a home directory is writable",
        "A server that can rewrite its own code (/opt, /nix/store, node_modules, site-packages, virtualenvs) keeps an attacker's changes across restarts; a writable home directory holds shell start-up files, credentials and other programs' configuration.",
        "Keep code read-only and map state to a dedicated data directory (fs:read,write,create:/srv/mcp/<server>/**).";
    "CGR004" "writable-system-dir" Critical Some(Code::WritablePackageDir),
        "a system directory is writable",
        "Writing /, /usr, /bin, /lib, /etc, /boot, /var or the kernel interfaces changes what every later program on the host runs or trusts; with the host's own binds this is a host compromise.",
        "Grant write access only to a dedicated data directory; never to system paths.";
    "CGR005" "secret-as-env-read" Medium Some(Code::SecretAsRead),
        "a secret-looking variable is passed with env:read",
        "`env:read` values are treated as ordinary configuration: launchers may log them and reviewers do not see that a credential enters the sandbox; `env:inject` marks the value a secret that is redacted everywhere and never put in argv.",
        "Use env:inject:<NAME> for tokens, keys and passwords.";
    "CGR006" "shell-or-interpreter-spawn" High None,
        "a shell or a general-purpose interpreter may be spawned",
        "`exec:spawn` of sh, bash, python, node, perl, … lets the server run arbitrary code the manifest never names; targets cannot restrict which programs run inside the sandbox, so this grant is a statement of intent reviewers rely on.",
        "Spawn the specific tool the server needs (exec:spawn:git), or do the work in-process.";
    "CGR007" "nested-sandbox" Medium Some(Code::NestedSandbox),
        "nested sandboxing is granted",
        "`?nestedSandbox=true` lets the program create user namespaces, which exposes much more of the kernel to the sandboxed code; docker cannot honour it at all.",
        "Run the browser with its own sandbox off inside capgate's and drop the refinement.";
    "CGR008" "sensitive-override" High None,
        "a sensitive path, socket or variable is granted with ?sensitive=allow",
        "`?sensitive=allow` overrides capgate's refusal of credential stores (.ssh, .aws, …), system roots (/etc, /home, /run, …) and loader or interpreter hooks (LD_*, NODE_OPTIONS, …); each use needs a named reason.",
        "Grant a narrower path or variable that is not sensitive, or keep the override and waive the finding in the review policy with the reason.";
    "CGR009" "private-range-egress" High None,
        "egress to private or special address ranges is allowed",
        "`?private=allow`, or an IP or CIDR rule inside RFC 1918, loopback, link-local (cloud metadata at 169.254.169.254), CGNAT or ULA ranges, lets the server reach internal services that trust the network they are on.",
        "Name the one internal host and port the server needs, or drop ?private=allow.";
    "CGR010" "desktop-or-system-ipc" High Some(Code::DangerousIpc),
        "a desktop-session or system-bus IPC endpoint is granted",
        "x11 and wayland allow keystroke injection and screen capture; the D-Bus session and system buses reach privileged services (systemd, NetworkManager, secret stores, polkit).",
        "Drop the endpoint, or grant it only to a server you trust with the desktop session.";
    "CGR011" "container-runtime-socket" Critical None,
        "a container runtime socket is granted",
        "docker.sock, podman.sock, containerd.sock and crio.sock are root on the host: whoever talks to them can start a privileged container that mounts /. An fs grant of the socket, or of a directory that holds one (/run/**, /var/run/*), hands it over too: a read-only bind does not stop connect().",
        "Never hand a runtime socket to an MCP server; run the work it needs as a separate, reviewed service.";
    "CGR012" "unenforced-grant" Low None,
        "a grant that a compiled target does not enforce",
        "Every target lists in `unenforced` what it cannot restrict (bind mounts are executable, no exec filter, UDP through the proxy, per-login sockets); the sandbox is wider than the manifest reads for those grants.",
        "Declare what the target really allows (fs:read,exec:… for binds that hold programs), drop the grant, or accept the gap by waiving the finding with a reason.";
    "CGR013" "unattributed-grant" Low None,
        "a server-level grant that no tool declares",
        "When a manifest lists tools, a server-level net, env:read/env:inject, exec, ipc or writable fs grant that no tool declares cannot be traced to the tool that needs it, so per-tool review (and `capgate diff`'s per-tool view) cannot judge it.",
        "Move the grant into the tools that use it (a grant may be listed by several tools).";
    "CGR014" "assertion-without-owner" Low None,
        "an assertion names no owner",
        "An `assert:require:` grant is an obligation nothing enforces; it needs an accountable owner who checks it. capgate reads the owner from an `owner=<name>` word in the assertion text.",
        "Add an owner to the text: assert:require:db.read_only:queries run in a read-only transaction owner=@team-data.";
    "CGR015" "no-limits" Low None,
        "no resource limit is set",
        "Without `limit:set:` grants a runaway or hostile server can exhaust the host's memory, processes or file descriptors.",
        "Set at least memory and pids (limit:set:memory=512MiB, limit:set:pids=128).";
    "CGR016" "loader-env-set" Critical None,
        "a loader or interpreter hook variable is set to a fixed value",
        "`env:set` of LD_PRELOAD, NODE_OPTIONS, PYTHONPATH, BASH_ENV and friends with ?sensitive=allow makes every program in the sandbox load code named in the manifest: a supply-chain hook that is easy to miss in review.",
        "Remove the variable; configure the program through its own options.";
    "CGR017" "host-tmp" Medium Some(Code::HostTmp),
        "the host's shared temporary directory is granted",
        "The host /tmp and /var/tmp hold other programs' sockets (X11, agents) and files.",
        "Grant a server-specific subdirectory (/tmp/<server>/**) instead.";
    "CGR018" "non-ascii-path" Low Some(Code::NonAsciiPath),
        "a path has non-ASCII characters",
        "Look-alike letters from other scripts can make a grant read as a different path than it binds.",
        "Check the path byte for byte; rename it to ASCII if you can.";
}

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    CATALOGUE.iter().find(|r| r.id == id)
}

/// Programs that run arbitrary code (matched on the base name, with a
/// trailing version such as `python3.12` or `node18` removed).
pub const SHELLS_AND_INTERPRETERS: &[&str] = &[
    "sh",
    "bash",
    "dash",
    "zsh",
    "ksh",
    "mksh",
    "fish",
    "csh",
    "tcsh",
    "ash",
    "busybox",
    "env",
    "python",
    "pypy",
    "node",
    "nodejs",
    "deno",
    "bun",
    "perl",
    "ruby",
    "php",
    "lua",
    "luajit",
    "tclsh",
    "wish",
    "rscript",
    "pwsh",
    "powershell",
    "osascript",
    "java",
    "jshell",
    "irb",
    "awk",
    "gawk",
    "mawk",
    "nawk",
    "expect",
    "xargs",
    "npx",
    "uvx",
    "pipx",
];

/// Shared hosting and cloud domains where anyone can obtain a subdomain.
pub const SHARED_DOMAINS: &[&str] = &[
    "amazonaws.com",
    "cloudfront.net",
    "azurewebsites.net",
    "blob.core.windows.net",
    "cloudapp.net",
    "appspot.com",
    "googleusercontent.com",
    "web.app",
    "firebaseapp.com",
    "github.io",
    "githubusercontent.com",
    "gitlab.io",
    "herokuapp.com",
    "netlify.app",
    "vercel.app",
    "pages.dev",
    "workers.dev",
    "ngrok.io",
    "ngrok-free.app",
    "fly.dev",
    "onrender.com",
    "glitch.me",
    "repl.co",
    "trycloudflare.com",
    "r2.dev",
];

/// Second-level labels that make `*.<label>.<tld>` a public suffix (`*.co.uk`).
const SECOND_LEVEL: &[&str] = &["co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go"];

/// Writable paths that are system directories (a grant of one of their
/// ancestors, e.g. `/var`, counts too).
pub const SYSTEM_DIRS: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/etc",
    "/boot",
    "/dev",
    "/proc",
    "/sys",
    "/run",
    "/var/run",
    "/var/log",
    "/var/lib/docker",
    "/var/lib/containers",
];

/// Home directories.
pub const HOME_DIRS: &[&str] = &["/home", "/root"];

/// Container runtime socket names.
pub const RUNTIME_SOCKETS: &[&str] = &["docker.sock", "podman.sock", "containerd.sock", "crio.sock"];

/// Where container runtime sockets live: the sensitive roots of
/// [`path::SENSITIVE_ROOTS`] whose last component is a runtime socket.
pub fn runtime_socket_paths() -> impl Iterator<Item = &'static str> {
    path::SENSITIVE_ROOTS
        .iter()
        .copied()
        .filter(|p| p.rsplit('/').next().is_some_and(|b| RUNTIME_SOCKETS.contains(&b)))
}

/// The per-user runtime directories (rootless podman and docker put their
/// sockets in `<dir>/<uid>/podman/podman.sock` and `<dir>/<uid>/docker.sock`).
const USER_RUNTIME_DIRS: &[&str] = &["/run/user", "/var/run/user"];

/// The runtime socket an `fs` grant of `p` reaches, if any: `p` names a
/// runtime socket itself, or `p` is a directory that contains one (a bind
/// of a directory carries the sockets under it, and a read-only bind does
/// not stop `connect()`).
pub fn fs_runtime_socket(p: &str) -> Option<String> {
    if let Some(s) = path::components(p).find(|c| RUNTIME_SOCKETS.contains(c)) {
        return Some(s.to_string());
    }
    if let Some(s) = runtime_socket_paths().find(|s| path::is_under(s, p)) {
        return Some(s.to_string());
    }
    for d in USER_RUNTIME_DIRS {
        if path::is_under(d, p) {
            return Some(format!("{d}/<uid>/podman/podman.sock"));
        }
        if let Some(rest) = p.strip_prefix(d).filter(|r| r.starts_with('/')) {
            let c: Vec<&str> = path::components(rest).collect();
            if c.len() == 1 || (c.len() == 2 && c[1] == "podman") {
                return Some(format!("{d}/<uid>/podman/podman.sock"));
            }
        }
    }
    None
}

/// One raw finding: the rule, its message and the grant it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// Rule id.
    pub rule: &'static Rule,
    /// The grant (canonical capability), if the finding is about one.
    pub grant: Option<String>,
    /// What was found.
    pub message: String,
}

fn hit(id: &str, grant: Option<&Grant>, message: String) -> Hit {
    Hit {
        rule: rule(id).expect("catalogue id"),
        grant: grant.map(|g| g.canonical.clone()),
        message,
    }
}

/// Run every check. `lints` are the compile warnings of the same policy.
pub fn check(p: &Policy, lints: &Diagnostics, has_tools: bool) -> Vec<Hit> {
    let mut out = Vec::new();
    wrap_lints(p, lints, &mut out);
    for g in p.grants.values() {
        grant_checks(g, has_tools, &mut out);
    }
    unenforced(p, &mut out);
    if p.limits.is_empty() {
        out.push(hit(
            "CGR015",
            None,
            "the manifest sets no limit:set: grant (memory, pids, cpu, nofile, tmpfs)".into(),
        ));
    }
    // One finding per rule and grant (a lint and a direct check may agree).
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|h| seen.insert((h.rule.id, h.grant.clone())));
    out
}

/// Findings that wrap the compile lints: the lint decides, the finding
/// classifies.
fn wrap_lints(p: &Policy, lints: &Diagnostics, out: &mut Vec<Hit>) {
    for d in lints.iter() {
        let Some(g) = p.grants.values().find(|g| Some(g.span) == d.span) else {
            continue;
        };
        let id = match (&d.code, &g.cap) {
            (Code::BroadHost, Capability::Net(n)) if n.host == Host::Any => "CGR001",
            (Code::BroadHost, _) => "CGR002",
            (Code::WritablePackageDir, Capability::Fs(f)) if is_system_dir(&f.path) => "CGR004",
            (Code::WritablePackageDir, _) => "CGR003",
            (Code::SecretAsRead, _) => "CGR005",
            (Code::DangerousIpc, _) => "CGR010",
            (Code::HostTmp, _) => "CGR017",
            (Code::NonAsciiPath, _) => "CGR018",
            (Code::NestedSandbox, _) => "CGR007",
            _ => continue,
        };
        out.push(hit(id, Some(g), d.message.clone()));
    }
}

fn is_system_dir(p: &str) -> bool {
    p == "/" || SYSTEM_DIRS.iter().any(|d| path::is_under(p, d) || path::is_under(d, p))
}

fn is_home_dir(p: &str) -> bool {
    HOME_DIRS.iter().any(|d| path::is_under(p, d) || path::is_under(d, p))
}

/// Base name with a trailing version removed, lower-cased.
pub fn program_family(program: &str) -> String {
    let base = program.rsplit('/').next().unwrap_or(program).to_ascii_lowercase();
    base.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-')
        .to_string()
}

/// True if `*.<suffix>` covers parties the author does not control.
pub fn broad_wildcard(suffix: &str) -> bool {
    let labels: Vec<&str> = suffix.split('.').collect();
    labels.len() == 1
        || (labels.len() == 2 && labels[1].len() == 2 && SECOND_LEVEL.contains(&labels[0]))
        || SHARED_DOMAINS
            .iter()
            .any(|d| suffix == *d || suffix.ends_with(&format!(".{d}")))
}

/// True if an IP or CIDR rule reaches a private or special range.
fn reaches_special(h: &Host) -> bool {
    use crate::capability::net::{is_special, network, SPECIAL_V4, SPECIAL_V6};
    use std::net::IpAddr;
    match h {
        Host::Ip(ip) => is_special(*ip),
        Host::Cidr(ip, len) => {
            // Overlap: one block contains the other's network address.
            let overlaps = |n: IpAddr, l: u8| network(n, (*len).min(l)) == network(*ip, (*len).min(l));
            match ip {
                IpAddr::V4(_) => SPECIAL_V4.iter().any(|(n, l)| overlaps(IpAddr::V4(*n), *l)),
                IpAddr::V6(_) => SPECIAL_V6.iter().any(|(n, l)| overlaps(IpAddr::V6(*n), *l)),
            }
        }
        _ => false,
    }
}

fn grant_checks(g: &Grant, has_tools: bool, out: &mut Vec<Hit>) {
    let c = &g.canonical;
    match &g.cap {
        Capability::Fs(f) => {
            if f.writable() && is_system_dir(&f.path) {
                out.push(hit(
                    "CGR004",
                    Some(g),
                    format!("`{c}` makes the system directory {} writable", f.path),
                ));
            } else if f.writable() && is_home_dir(&f.path) {
                out.push(hit("CGR003", Some(g), format!("`{c}` makes a home directory writable")));
            }
            if let Some(sock) = fs_runtime_socket(&f.path) {
                out.push(hit(
                    "CGR011",
                    Some(g),
                    format!("`{c}` hands the server a container runtime socket ({sock}); a read-only bind does not stop connect()"),
                ));
            }
            if f.sensitive {
                let why = path::sensitive_reason(&f.path).unwrap_or_else(|| "it is marked sensitive".into());
                out.push(hit(
                    "CGR008",
                    Some(g),
                    format!("`{c}` overrides the sensitive-path check: {why}"),
                ));
            }
        }
        Capability::Net(n) => {
            if let Host::Wildcard(s) = &n.host {
                if broad_wildcard(s) {
                    out.push(hit(
                        "CGR002",
                        Some(g),
                        format!("`{c}` allows every host under `{s}`, which anyone can register or rent"),
                    ));
                }
            }
            if n.actions.contains(&NetAction::Connect) {
                if n.private && n.host.is_name_based() {
                    out.push(hit(
                        "CGR009",
                        Some(g),
                        format!("`{c}` may reach private and special ranges (?private=allow)"),
                    ));
                } else if reaches_special(&n.host) {
                    out.push(hit(
                        "CGR009",
                        Some(g),
                        format!("`{c}` names a private or special address range"),
                    ));
                }
            }
        }
        Capability::Env(e) => {
            let loader = crate::capability::is_sensitive_env_name(&e.name);
            if e.action == EnvAction::Set && e.sensitive && loader {
                out.push(hit(
                    "CGR016",
                    Some(g),
                    format!("`{c}` sets the loader or interpreter hook {}", e.name),
                ));
            } else if e.sensitive {
                out.push(hit(
                    "CGR008",
                    Some(g),
                    format!(
                        "`{c}` passes the loader or interpreter hook {} into the sandbox",
                        e.name
                    ),
                ));
            }
        }
        Capability::Exec(x) => {
            let fam = program_family(&x.program);
            if SHELLS_AND_INTERPRETERS.contains(&fam.as_str()) {
                out.push(hit(
                    "CGR006",
                    Some(g),
                    format!("`{c}` lets the server run a shell or interpreter ({fam})"),
                ));
            }
        }
        Capability::Ipc(i) => {
            if let IpcEndpoint::Unix(p) = &i.endpoint {
                if path::components(p).any(|comp| RUNTIME_SOCKETS.contains(&comp)) {
                    out.push(hit(
                        "CGR011",
                        Some(g),
                        format!("`{c}` hands the server a container runtime socket"),
                    ));
                }
            }
            if i.sensitive {
                out.push(hit(
                    "CGR008",
                    Some(g),
                    format!("`{c}` overrides the sensitive-socket check"),
                ));
            }
        }
        Capability::Assert(a) => {
            if !has_owner(a.text.as_deref().unwrap_or("")) {
                out.push(hit(
                    "CGR014",
                    Some(g),
                    format!("assertion `{}` names no owner (owner=<name> in its text)", a.id),
                ));
            }
        }
        Capability::Clock(_) | Capability::Limit(_) => {}
    }
    let risky = match &g.cap {
        Capability::Net(_) | Capability::Exec(_) | Capability::Ipc(_) => true,
        Capability::Env(e) => e.action != EnvAction::Set,
        Capability::Fs(f) => f.writable(),
        _ => false,
    };
    if has_tools && risky && g.tools.is_empty() {
        out.push(hit(
            "CGR013",
            Some(g),
            format!("`{c}` is granted to the whole server but no tool declares it"),
        ));
    }
}

/// `owner=<name>` as a word of the text, with a non-empty name.
pub fn has_owner(text: &str) -> bool {
    text.split_whitespace().any(|w| {
        w.strip_prefix("owner=")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"@._-/+".contains(&b)))
    })
}

/// One CGR012 finding per grant, listing every target that leaves it unenforced.
fn unenforced(p: &Policy, out: &mut Vec<Hit>) {
    let mut by_grant: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut gaps = Vec::new();
    for t in Target::ALL {
        if let Ok(l) = target::lower(t, p) {
            for gap in l.envelope.unenforced {
                gaps.push((t, gap));
            }
        }
    }
    for (t, gap) in &gaps {
        if p.grants.contains_key(&gap.grant) {
            by_grant
                .entry(gap.grant.as_str())
                .or_default()
                .push(format!("{}: {}", t.as_str(), gap.reason));
        }
    }
    for (grant, reasons) in by_grant {
        let g = &p.grants[grant];
        out.push(hit(
            "CGR012",
            Some(g),
            format!("`{grant}` is not enforced by {}", reasons.join("; ")),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_families() {
        for (p, f) in [
            ("/usr/bin/python3.11", "python"),
            ("python3", "python"),
            ("node18", "node"),
            ("/bin/sh", "sh"),
            ("Rscript", "rscript"),
            ("git", "git"),
            ("/usr/lib/git-core/git-upload-pack", "git-upload-pack"),
        ] {
            assert_eq!(program_family(p), f, "{p}");
        }
        assert!(!SHELLS_AND_INTERPRETERS.contains(&program_family("/usr/bin/git").as_str()));
    }

    #[test]
    fn broad_wildcards() {
        for s in [
            "io",
            "co.uk",
            "com.au",
            "s3.amazonaws.com",
            "github.io",
            "x.workers.dev",
        ] {
            assert!(broad_wildcard(s), "{s}");
        }
        for s in [
            "example.com",
            "github.com",
            "example.co",
            "corp.example.io",
            "notgithub.io.example.com",
        ] {
            assert!(!broad_wildcard(s), "{s}");
        }
    }

    #[test]
    fn fs_runtime_sockets() {
        for p in [
            "/var/run/docker.sock",
            "/run/podman/podman.sock",
            "/run/containerd/containerd.sock",
            "/var/run/crio/crio.sock",
            "/var/run",
            "/run",
            "/run/podman",
            "/var",
            "/",
            "/run/user/1000",
            "/run/user/1000/podman",
            "/run/user",
            "/srv/x/docker.sock",
        ] {
            assert!(fs_runtime_socket(p).is_some(), "{p}");
        }
        for p in [
            "/srv/app",
            "/var/lib/app",
            "/run/secrets",
            "/opt/mcp/x",
            "/var/runx",
            "/run/user/1000/app",
            "/run/user/1000/podman/x",
        ] {
            assert!(fs_runtime_socket(p).is_none(), "{p}");
        }
    }

    #[test]
    fn owners() {
        assert!(has_owner("read-only owner=@team-data"));
        assert!(has_owner("owner=alice@example.com checks it"));
        assert!(!has_owner("read-only"));
        assert!(!has_owner("owner= x"));
        assert!(!has_owner("coowner=bob"));
        assert!(!has_owner("owner=a;b"));
    }

    #[test]
    fn system_and_home_dirs() {
        for p in ["/", "/usr/local", "/var", "/etc/app", "/run/x"] {
            assert!(is_system_dir(p), "{p}");
        }
        for p in ["/srv/app", "/var/lib/app", "/opt/mcp/x", "/variable", "/usrdata"] {
            assert!(!is_system_dir(p), "{p}");
        }
        assert!(is_home_dir("/home/alice/x") && is_home_dir("/root") && !is_home_dir("/homes"));
    }

    #[test]
    fn special_ranges_overlap() {
        use std::net::IpAddr;
        let cidr = |s: &str, l: u8| Host::Cidr(s.parse::<IpAddr>().unwrap(), l);
        assert!(reaches_special(&cidr("10.1.0.0", 16)));
        assert!(reaches_special(&cidr("8.0.0.0", 6)), "8.0.0.0/6 contains 10/8");
        assert!(!reaches_special(&cidr("8.8.8.0", 24)));
        assert!(reaches_special(&Host::Ip("169.254.169.254".parse().unwrap())));
        assert!(reaches_special(&Host::Ip("::ffff:10.0.0.1".parse().unwrap())));
        assert!(!reaches_special(&Host::Name("example.com".into())));
    }
}
