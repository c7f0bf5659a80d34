//! The egress artifacts are accepted by the real tools: `squid -k parse`
//! for every squid.conf (as included by a runtime config) and `nft -c` for
//! every nftables.nft, over all golden cases and examples.
//!
//! Needs squid and nftables (and root for `nft -c`). Without them the tests
//! skip loudly; with `CI` set they fail instead, so CI never skips.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tool(name: &str) -> Option<PathBuf> {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return Some(p);
        }
    }
    None
}

/// The tool, or `None` after a loud skip message (a panic under CI).
fn require(name: &str, why: &str) -> Option<PathBuf> {
    match tool(name) {
        Some(p) => Some(p),
        None if std::env::var_os("CI").is_some() => panic!("{name} is required in CI ({why}); .ci/run installs it"),
        None => {
            eprintln!("\n*** SKIPPED: {name} is not installed ({why}); install it: apt-get install {name} ***\n");
            None
        }
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc_geteuid() == 0 }
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

fn read_params(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let p = dir.join("capgate.params.json");
    if let Ok(text) = std::fs::read_to_string(p) {
        let v = capgate::json::parse(&text).expect("params file is JSON");
        if let capgate::json::Kind::Object(m) = v.kind {
            for (k, val) in m {
                out.insert(k.text, val.as_str().expect("string param").to_string());
            }
        }
    }
    out
}

/// (name, squid.conf, nftables.nft) for every case and example that compiles.
fn egress_outputs() -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut manifests = Vec::new();
    for base in ["tests/cases", "examples"] {
        let Ok(entries) = std::fs::read_dir(root.join(base)) else {
            continue;
        };
        for e in entries.flatten() {
            let m = e.path().join("capgate.json");
            if m.is_file() {
                manifests.push(m);
            }
        }
    }
    manifests.sort();
    assert!(!manifests.is_empty(), "no manifests found");
    let mut out = Vec::new();
    for m in manifests {
        let dir = m.parent().unwrap();
        let opts = capgate::Options {
            params: read_params(dir),
            ..Default::default()
        };
        let Ok(c) = capgate::compile(&std::fs::read(&m).unwrap(), &opts) else {
            continue;
        };
        let get = |p: &str| c.artifact(p).unwrap().bytes.clone();
        out.push((
            m.display().to_string(),
            get("egress/squid.conf"),
            get("egress/nftables.nft"),
        ));
    }
    out
}

#[test]
fn squid_parses_every_allowlist_without_warnings() {
    let Some(squid) = require("squid", "to parse generated squid.conf") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (i, (name, conf, _)) in egress_outputs().iter().enumerate() {
        let inc = tmp.path().join(format!("allow-{i}.conf"));
        std::fs::write(&inc, conf).unwrap();
        let main = tmp.path().join(format!("squid-{i}.conf"));
        std::fs::write(&main, format!("http_port 127.0.0.1:39128\ninclude {}\n", inc.display())).unwrap();
        let out = Command::new(&squid)
            .arg("-k")
            .arg("parse")
            .arg("-f")
            .arg(&main)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
        let bad: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("WARNING") || l.contains("ERROR") || l.contains("FATAL"))
            .collect();
        if !out.status.success() || !bad.is_empty() {
            failures.push(format!("{name}: squid -k parse: {}\n{}", out.status, bad.join("\n")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn nft_accepts_every_ruleset() {
    let Some(nft) = require("nft", "to check generated nftables rulesets") else {
        return;
    };
    if !is_root() {
        if std::env::var_os("CI").is_some() {
            panic!("nft -c needs root; CI runs as root");
        }
        eprintln!("\n*** SKIPPED: nft -c needs root (CAP_NET_ADMIN) ***\n");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (i, (name, _, rules)) in egress_outputs().iter().enumerate() {
        let f = tmp.path().join(format!("rules-{i}.nft"));
        std::fs::write(&f, rules).unwrap();
        let out = Command::new(&nft).arg("-c").arg("-f").arg(&f).output().unwrap();
        if !out.status.success() {
            failures.push(format!("{name}: nft -c: {}", String::from_utf8_lossy(&out.stderr)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
