//! Lints: grants that compile but deserve a reviewer's eye. They are
//! warnings; `--deny-warnings` turns them into errors.

use super::Policy;
use crate::capability::{path, Capability, EnvAction, Host, IpcEndpoint, NetAction};
use crate::diag::{Code, Diagnostic, Diagnostics};

/// `_`-separated words that mark a variable as a secret.
const SECRET_WORDS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASS",
    "PAT",
    "KEY",
    "APIKEY",
    "CREDENTIAL",
    "CREDENTIALS",
    "AUTH",
    "COOKIE",
    "SESSION",
    "PRIVATE",
];

/// Directories that hold installed software.
const PACKAGE_DIRS: &[&str] = &["/usr", "/opt", "/nix/store", "/bin", "/sbin", "/lib", "/lib64"];
const PACKAGE_COMPONENTS: &[&str] = &["node_modules", "site-packages", "dist-packages", ".venv", "venv"];

/// Directories of display sockets: a raw path there is `ipc:connect:x11` in disguise.
const DISPLAY_SOCKET_DIRS: &[&str] = &["/tmp/.X11-unix", "/tmp/.ICE-unix"];

pub(super) fn run(p: &Policy, diags: &mut Diagnostics) {
    for g in p.grants.values() {
        let raw_path = match &g.cap {
            Capability::Fs(f) => Some(f.path.as_str()),
            Capability::Ipc(i) => match &i.endpoint {
                IpcEndpoint::Unix(s) => Some(s.as_str()),
                _ => None,
            },
            _ => None,
        };
        if raw_path.is_some_and(|x| DISPLAY_SOCKET_DIRS.iter().any(|d| path::is_under(x, d))) {
            diags.push(
                Diagnostic::warning(
                    Code::DangerousIpc,
                    format!("`{}` reaches the host's display sockets", g.canonical),
                )
                .at(g.span)
                .hint("display sockets allow keystroke injection and screen capture; write ipc:connect:x11 so reviewers see it, and grant it only to trusted servers"),
            );
        }
        match &g.cap {
            Capability::Net(n) if n.host == Host::Any && n.actions.contains(&NetAction::Connect) => diags.push(
                Diagnostic::warning(Code::BroadHost, format!("`{}` allows egress to any public host", g.canonical))
                    .at(g.span)
                    .hint("name the hosts the server talks to; `*` lets a prompt-injected server exfiltrate anywhere"),
            ),
            Capability::Net(n) if broad_block(&n.host) && n.actions.contains(&NetAction::Connect) => diags.push(
                Diagnostic::warning(Code::BroadHost, format!("`{}` allows egress to a very large address block", g.canonical))
                    .at(g.span)
                    .hint("an IP block reaches every address it names, loopback, private ranges and cloud metadata included; name the hosts instead"),
            ),
            Capability::Env(e) if e.action == EnvAction::Read && looks_secret(&e.name) => diags.push(
                Diagnostic::warning(Code::SecretAsRead, format!("`{}` looks like a secret but is passed with `read`", e.name))
                    .at(g.span)
                    .hint(format!("use env:inject:{} so launchers treat the value as a secret", e.name)),
            ),
            Capability::Fs(f) if f.writable() => {
                let comps = path::components(&f.path);
                let pkg = PACKAGE_DIRS.iter().any(|d| path::is_under(&f.path, d))
                    || comps.clone().any(|c| PACKAGE_COMPONENTS.contains(&c));
                if pkg {
                    diags.push(
                        Diagnostic::warning(Code::WritablePackageDir, format!("`{}` makes installed software writable", g.canonical))
                            .at(g.span)
                            .hint("a server that can rewrite its own code keeps an attacker's changes; map state to a separate data dir"),
                    );
                }
                if f.path == "/tmp" || f.path == "/var/tmp" {
                    diags.push(
                        Diagnostic::warning(Code::HostTmp, format!("`{}` shares the host's {}", g.canonical, f.path))
                            .at(g.span)
                            .hint(format!("the host {} holds other programs' sockets (X11, agents); grant {}/<server-name>/** instead", f.path, f.path)),
                    );
                }
            }
            Capability::Fs(f) if f.path == "/tmp" || f.path == "/var/tmp" => diags.push(
                Diagnostic::warning(Code::HostTmp, format!("`{}` shares the host's {}", g.canonical, f.path))
                    .at(g.span)
                    .hint(format!("grant {}/<server-name>/** instead", f.path)),
            ),
            Capability::Ipc(i) if !matches!(i.endpoint, IpcEndpoint::Unix(_)) => diags.push(
                Diagnostic::warning(Code::DangerousIpc, format!("`{}` lets the server talk to the desktop session or system services", g.canonical))
                    .at(g.span)
                    .hint("display sockets allow keystroke injection and screen capture, bus sockets reach privileged services; grant them only to trusted servers"),
            ),
            Capability::Exec(e) if e.nested_sandbox => diags.push(
                Diagnostic::warning(Code::NestedSandbox, format!("`{}` lets the program create user namespaces", g.canonical))
                    .at(g.span)
                    .hint("nested sandboxing exposes more of the kernel; prefer running the browser with its own sandbox off inside capgate's"),
            ),
            _ => {}
        }
        if let Capability::Fs(f) = &g.cap {
            if !f.path.is_ascii() {
                diags.push(
                    Diagnostic::warning(Code::NonAsciiPath, format!("path `{}` has non-ASCII characters", f.path))
                        .at(g.span)
                        .hint("check for look-alike letters from other scripts; the bind must match the host path byte for byte"),
                );
            }
        }
    }
}

fn looks_secret(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    up.split('_').any(|w| SECRET_WORDS.contains(&w))
}

/// An IP block broad enough to be "anywhere": IPv4 shorter than /8, IPv6 shorter than /16.
fn broad_block(h: &Host) -> bool {
    match h {
        Host::Cidr(std::net::IpAddr::V4(_), l) => *l < 8,
        Host::Cidr(std::net::IpAddr::V6(a), l) => {
            if *l < 16 {
                return true;
            }
            // squid reads v4-mapped IPv6 (::ffff:0:0/96) as IPv4: a block that
            // holds all of it reaches every IPv4 address, and a mapped block
            // is as broad as the IPv4 block it maps.
            let mapped = u128::from(std::net::Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0));
            let a = u128::from(*a);
            let prefix = |x: u128, len: u8| x >> (128 - u32::from(len));
            (*l <= 96 && prefix(a, *l) == prefix(mapped, *l))
                || (*l >= 96 && prefix(a, 96) == prefix(mapped, 96) && *l - 96 < 8)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn secret_words() {
        for n in [
            "GITHUB_TOKEN",
            "GITHUB_PERSONAL_ACCESS_TOKEN",
            "API_KEY",
            "OPENAI_APIKEY",
            "DB_PASSWORD",
            "GH_PAT",
        ] {
            assert!(super::looks_secret(n), "{n}");
        }
        for n in [
            "MEMORY_FILE_PATH",
            "AUTHOR_NAME",
            "LD_LIBRARY_PATH",
            "KEYBOARD",
            "HOME",
            "PATHS",
        ] {
            assert!(!super::looks_secret(n), "{n}");
        }
    }
}
