//! The nftables wiring: the server shares a network namespace that the
//! operator prepared (a veth to the outside), the compiled ruleset is loaded
//! into it, the names of egress/hosts are resolved once and pinned (in the
//! ruleset's name sets and in the sandbox's /etc/hosts), and the sandbox has
//! no resolver. No proxy runs.

use super::process;
use std::net::{IpAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::process::Command;

/// A prepared namespace, open for `setns`.
pub struct Netns {
    pub fd: OwnedFd,
}

/// Open `path` (a netns file such as /run/netns/NAME).
pub fn open(path: &Path) -> Result<Netns, String> {
    let f =
        std::fs::File::open(path).map_err(|e| format!("cannot open the network namespace {}: {e}", path.display()))?;
    Ok(Netns { fd: f.into() })
}

fn nft(nft: &Path, ns: &Netns, args: &[&str], stdin: Option<&Path>) -> Result<(), String> {
    let mut c = Command::new(nft);
    c.args(args);
    if let Some(f) = stdin {
        c.arg("-f").arg(f);
    }
    process::in_netns(&mut c, None, Some(ns.fd.as_raw_fd()));
    let out = c.output().map_err(|e| format!("cannot run nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The `# pin name_N HOST` lines of the compiled ruleset.
fn pins(ruleset: &str) -> Vec<(String, String)> {
    ruleset
        .lines()
        .filter_map(|l| {
            let mut w = l.trim().strip_prefix("# pin ")?.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect()
}

/// Load the ruleset into the namespace, pin every name, and return the
/// /etc/hosts text for the sandbox.
pub fn prepare(nft_bin: &Path, ns: &Netns, ruleset: &[u8], rundir: &Path) -> Result<String, String> {
    let file = rundir.join("nftables.nft");
    std::fs::write(&file, ruleset).map_err(|e| e.to_string())?;
    nft(nft_bin, ns, &[], Some(&file))?;
    let mut hosts = String::from("127.0.0.1 localhost\n::1 localhost\n");
    for (set, name) in pins(&String::from_utf8_lossy(ruleset)) {
        let addrs: Vec<IpAddr> = (name.as_str(), 0)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {name} to pin it: {e}"))?
            .map(|a| a.ip())
            .collect();
        for family in ["v4", "v6"] {
            let elems: Vec<String> = addrs
                .iter()
                .filter(|a| a.is_ipv4() == (family == "v4"))
                .map(capgate::capability::net::ip)
                .collect();
            if !elems.is_empty() {
                let set_name = format!("{set}_{family}");
                let list = format!("{{ {} }}", elems.join(", "));
                nft(
                    nft_bin,
                    ns,
                    &["add", "element", "inet", "capgate", &set_name, &list],
                    None,
                )?;
            }
        }
        for a in addrs {
            hosts.push_str(&format!("{} {name}\n", capgate::capability::net::ip(&a)));
        }
    }
    Ok(hosts)
}
