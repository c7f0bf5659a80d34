//! Hostile manifests (`tests/hostile/`): what an attacker or a careless
//! author might write, and what capgate must do with it.
//!
//! `tests/hostile/expect.json` lists every case: `"expect": "CGxxxx"` means
//! rejected with that code as the first error, with a span that overlaps
//! the first occurrence of `at` in the manifest; `"expect": "compiled"`
//! means it compiles with exactly `warnings`, the independent checker
//! ([`capgate::containment`]) finds nothing outside the declared grants, and
//! every listed property holds (squid and nftables are evaluated on sample
//! destinations, binds and argv are read back from the artifacts).
//! Cases too large to commit are generated here. The catalogue with the
//! reasons is `docs/security.md`.

use capgate::json::{self, Kind, Value};
use capgate::{containment, Code, Compiled, Diagnostics, Options};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile")
}

fn member<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    match &v.kind {
        Kind::Object(m) => m.iter().find(|(k, _)| k.text == key).map(|(_, v)| v),
        _ => None,
    }
}

fn strs(v: Option<&Value>) -> Vec<String> {
    match v.map(|v| &v.kind) {
        Some(Kind::Array(a)) => a.iter().map(|x| x.as_str().expect("string").to_string()).collect(),
        _ => Vec::new(),
    }
}

fn params(path: &Path) -> BTreeMap<String, String> {
    let Ok(text) = fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    let v = json::parse(&text).expect("params JSON");
    let Kind::Object(m) = v.kind else {
        panic!("params object")
    };
    m.into_iter()
        .map(|(k, v)| (k.text, v.as_str().expect("string").to_string()))
        .collect()
}

struct Case {
    name: String,
    tries: String,
    expect: String,
    at: Option<String>,
    warnings: Vec<String>,
    props: Vec<String>,
}

fn cases() -> Vec<Case> {
    let text = fs::read_to_string(dir().join("expect.json")).unwrap();
    let v = json::parse(&text).unwrap_or_else(|d| panic!("expect.json: {}", d[0].message));
    assert_eq!(member(&v, "format").and_then(Value::as_str), Some("capgate.hostile/1"));
    let Some(Kind::Object(cases)) = member(&v, "cases").map(|c| &c.kind) else {
        panic!("expect.json: cases")
    };
    cases
        .iter()
        .map(|(k, c)| Case {
            name: k.text.clone(),
            tries: member(c, "tries").and_then(Value::as_str).expect("tries").to_string(),
            expect: member(c, "expect").and_then(Value::as_str).expect("expect").to_string(),
            at: member(c, "at").and_then(Value::as_str).map(str::to_string),
            warnings: strs(member(c, "warnings")),
            props: strs(member(c, "props")),
        })
        .collect()
}

fn codes(d: &Diagnostics) -> Vec<String> {
    d.iter().map(|x| x.code.as_str().to_string()).collect()
}

/// Run one case; problems are returned, not panicked, so every case is reported.
fn run(case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let path = dir().join(format!("{}.json", case.name));
    let source = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let opts = Options {
        params: params(&dir().join(format!("{}.params.json", case.name))),
        ..Default::default()
    };
    let result = std::panic::catch_unwind(|| capgate::compile(&source, &opts));
    let Ok(result) = result else {
        return vec!["compile panicked".into()];
    };
    match (case.expect.as_str(), result) {
        ("compiled", Err(d)) => problems.push(format!("rejected with {:?}", codes(&d))),
        ("compiled", Ok(c)) => {
            let got: BTreeSet<String> = codes(&c.warnings).into_iter().collect();
            let want: BTreeSet<String> = case.warnings.iter().cloned().collect();
            if got != want {
                problems.push(format!("warnings {got:?}, expected {want:?}"));
            }
            for v in containment::check(&c.policy, &c.artifacts) {
                problems.push(format!("not contained: {v}"));
            }
            let a = Artifacts::new(&c);
            for p in &case.props {
                if let Err(e) = a.prop(p) {
                    problems.push(format!("property `{p}`: {e}"));
                }
            }
        }
        (code, Ok(_)) => problems.push(format!("compiled, expected rejection with {code}")),
        (code, Err(d)) => {
            assert!(Code::parse(code).is_some(), "{}: unknown code {code}", case.name);
            let first = d.iter().find(|x| x.severity == capgate::Severity::Error);
            match first {
                None => problems.push("rejected without an error".into()),
                Some(f) if f.code.as_str() != code => problems.push(format!(
                    "first error is {} ({}), expected {code}",
                    f.code.as_str(),
                    f.message
                )),
                Some(f) => {
                    if f.hints.is_empty() && f.code.doc().is_empty() {
                        problems.push("no hint and no doc page".into());
                    }
                    match (&case.at, f.span) {
                        (Some(_), None) => problems.push("the error has no span".into()),
                        (Some(at), Some(s)) => {
                            let hay = &source[..];
                            match find(hay, at.as_bytes()) {
                                None => problems.push(format!("`at` text {at:?} is not in the manifest")),
                                Some(i) if s.start < i + at.len() && i < s.end.max(s.start + 1) => {}
                                Some(i) => problems.push(format!(
                                    "span {}..{} does not overlap {at:?} at {i}..{}",
                                    s.start,
                                    s.end,
                                    i + at.len()
                                )),
                            }
                        }
                        (None, _) => {}
                    }
                }
            }
        }
    }
    problems
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn every_hostile_case_meets_its_expectation() {
    let cases = cases();
    assert!(cases.len() >= 50, "only {} cases", cases.len());
    // One file per case, one case per file.
    let mut files = BTreeSet::new();
    for e in fs::read_dir(dir()).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        if n == "expect.json" {
            continue;
        }
        if let Some(base) = n.strip_suffix(".params.json") {
            assert!(cases.iter().any(|c| c.name == base), "{n} belongs to no case");
            continue;
        }
        files.insert(
            n.strip_suffix(".json")
                .unwrap_or_else(|| panic!("stray file {n}"))
                .to_string(),
        );
    }
    let listed: BTreeSet<String> = cases.iter().map(|c| c.name.clone()).collect();
    assert_eq!(
        files, listed,
        "tests/hostile/*.json and expect.json must list the same cases"
    );

    let mut failures = Vec::new();
    let (mut rejected, mut compiled) = (0, 0);
    for c in &cases {
        assert!(!c.tries.is_empty(), "{}: say what the case tries", c.name);
        if c.expect == "compiled" {
            compiled += 1;
        } else {
            rejected += 1;
        }
        for p in run(c) {
            failures.push(format!("{}: {p}", c.name));
        }
    }
    println!(
        "{} hostile cases: {rejected} rejected, {compiled} compiled and contained",
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The docs catalogue lists every case.
#[test]
fn the_security_doc_lists_every_case() {
    let doc = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/security.md")).unwrap();
    let missing: Vec<String> = cases()
        .into_iter()
        .filter(|c| !doc.contains(&format!("`{}`", c.name)))
        .map(|c| c.name)
        .collect();
    assert!(missing.is_empty(), "docs/security.md does not list: {missing:?}");
    for g in GENERATED {
        assert!(
            doc.contains(&format!("`{g}`")),
            "docs/security.md does not list generated case {g}"
        );
    }
}

// ---------------------------------------------------------------------------
// Generated cases (too large to commit)

const GENERATED: &[&str] = &[
    "gen-huge-manifest",
    "gen-deep-nesting",
    "gen-too-many-binds",
    "gen-many-grants",
    "gen-many-tools",
    "gen-long-host",
    "gen-long-param",
];

fn manifest(caps: &[String], extra: &str) -> String {
    let caps: Vec<String> = caps.iter().map(|c| format!("{c:?}")).collect();
    format!(
        r#"{{"grammar": "1", "name": "gen", "version": "1.0.0", "command": ["/usr/bin/node", "/opt/mcp/demo/index.js"], "capabilities": [{}]{extra}}}"#,
        caps.join(", ")
    )
}

fn rejected_with(source: &str, opts: &Options, code: &str) {
    match std::panic::catch_unwind(|| capgate::compile(source.as_bytes(), opts)) {
        Err(_) => panic!("compile panicked, expected {code}"),
        Ok(Ok(_)) => panic!("compiled, expected {code}"),
        Ok(Err(d)) => assert!(codes(&d).iter().any(|c| c == code), "{:?}", codes(&d)),
    }
}

fn contained(source: &str, opts: &Options) -> Compiled {
    let c = capgate::compile(source.as_bytes(), opts).unwrap_or_else(|d| panic!("{:?}", codes(&d)));
    let v = containment::check(&c.policy, &c.artifacts);
    assert!(v.is_empty(), "{v:#?}");
    c
}

#[test]
fn gen_huge_manifest() {
    let pad = "a".repeat(4 * 1024 * 1024 + 1);
    rejected_with(
        &manifest(&[], &format!(r#", "x-pad": "{pad}""#)),
        &Options::default(),
        "CG0003",
    );
}

#[test]
fn gen_deep_nesting() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    rejected_with(
        &manifest(&[], &format!(r#", "x-deep": {deep}"#)),
        &Options::default(),
        "CG0003",
    );
}

#[test]
fn gen_too_many_binds() {
    let caps: Vec<String> = (0..3100).map(|i| format!("fs:read:/srv/mcp/d{i}")).collect();
    rejected_with(&manifest(&caps, ""), &Options::default(), "CG0402");
}

#[test]
fn gen_many_grants() {
    let mut caps: Vec<String> = (0..1500).map(|i| format!("fs:read:/srv/mcp/d{i}/**")).collect();
    caps.extend((0..500).map(|i| format!("net:connect:h{i}.example.com:443")));
    caps.extend((0..200).map(|i| format!("env:inject:TOKEN_{i}")));
    let c = contained(&manifest(&caps, ""), &Options::default());
    assert_eq!(c.policy.grants.len(), 2200);
}

#[test]
fn gen_many_tools() {
    let tools: Vec<String> = (0..5000)
        .map(|i| {
            format!(
                r#"{{"name": "t{i}", "capabilities": ["fs:read:/srv/mcp/t{}/**"]}}"#,
                i % 100
            )
        })
        .collect();
    let c = contained(
        &manifest(&[], &format!(r#", "tools": [{}]"#, tools.join(", "))),
        &Options::default(),
    );
    assert_eq!(c.policy.binds.len(), 100);
}

#[test]
fn gen_long_host() {
    let host = format!("{}.example.com", vec!["a".repeat(60); 5].join("."));
    rejected_with(
        &manifest(&[format!("net:connect:{host}:443")], ""),
        &Options::default(),
        "CG0220",
    );
}

#[test]
fn gen_long_param() {
    let opts = Options {
        params: [("PKG".to_string(), format!("/opt/{}", "p".repeat(5000)))].into(),
        ..Default::default()
    };
    rejected_with(
        &manifest(&["fs:read:${PKG}/**".into()], r#", "params": {"PKG": {}}"#),
        &opts,
        "CG0125",
    );
}

/// `capgate lock` never walks into tests/hostile (DESIGN §13): a hostile
/// manifest placed there as `capgate.json` does not break or enter the lock.
#[test]
fn lock_walk_skips_tests_hostile() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    fs::create_dir_all(r.join("servers/a")).unwrap();
    fs::write(
        r.join("servers/a/capgate.json"),
        manifest(&["fs:read:/srv/mcp/a/**".into()], ""),
    )
    .unwrap();
    for case in ["json-duplicate-key", "fs-dotdot", "json-bom"] {
        let d = r.join("tests/hostile").join(case);
        fs::create_dir_all(&d).unwrap();
        fs::copy(dir().join(format!("{case}.json")), d.join("capgate.json")).unwrap();
    }
    // The same manifests elsewhere are walked, and fail the lock.
    let out = assert_cmd::Command::cargo_bin("capgate")
        .unwrap()
        .arg("lock")
        .arg(r)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lock = fs::read_to_string(r.join("capgate.lock")).unwrap();
    assert!(lock.contains("servers/a/capgate.json"), "{lock}");
    assert!(!lock.contains("hostile"), "{lock}");
    fs::create_dir_all(r.join("other")).unwrap();
    fs::copy(dir().join("fs-dotdot.json"), r.join("other/capgate.json")).unwrap();
    let out = assert_cmd::Command::cargo_bin("capgate")
        .unwrap()
        .arg("lock")
        .arg(r)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a hostile manifest outside tests/hostile must fail the lock"
    );
}

// ---------------------------------------------------------------------------
// Reading the artifacts back

struct Artifacts {
    bwrap: Vec<String>,
    args0: Vec<u8>,
    bwrap_env: Value,
    docker: Vec<String>,
    docker_env: Value,
    policy: Value,
    squid: String,
    nft: String,
    hosts: String,
}

fn text(c: &Compiled, p: &str) -> String {
    String::from_utf8(c.artifact(p).unwrap_or_else(|| panic!("{p}")).bytes.clone()).unwrap()
}

impl Artifacts {
    fn new(c: &Compiled) -> Artifacts {
        let bwrap_env = json::parse(&text(c, "bwrap/argv.json")).unwrap();
        let docker_env = json::parse(&text(c, "docker/argv.json")).unwrap();
        Artifacts {
            bwrap: strs(member(&bwrap_env, "argv")),
            args0: c.artifact("bwrap/args0").unwrap().bytes.clone(),
            docker: strs(member(&docker_env, "flags")),
            bwrap_env,
            docker_env,
            policy: json::parse(&text(c, "policy.json")).unwrap(),
            squid: text(c, "egress/squid.conf"),
            nft: text(c, "egress/nftables.nft"),
            hosts: text(c, "egress/hosts"),
        }
    }

    /// bwrap binds as (source, "ro"/"rw"), parsed with bwrap's arities.
    fn bwrap_binds(&self) -> Vec<(String, String, &'static str)> {
        let mut out = Vec::new();
        let mut i = 1;
        while i < self.bwrap.len() && self.bwrap[i] != "--" {
            let o = self.bwrap[i].as_str();
            let arity = match o {
                "--setenv" | "--symlink" | "--bind" | "--bind-try" | "--ro-bind" | "--ro-bind-try" => 2,
                "--hostname" | "--chdir" | "--cap-drop" | "--proc" | "--dev" | "--tmpfs" => 1,
                _ => 0,
            };
            if o.contains("bind") {
                let mode = if o.starts_with("--ro") { "ro" } else { "rw" };
                out.push((self.bwrap[i + 1].clone(), self.bwrap[i + 2].clone(), mode));
            }
            i += 1 + arity;
        }
        out
    }

    /// docker volumes as (source, destination, mode).
    fn volumes(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.docker.len() {
            match self.docker[i].as_str() {
                "--rm" | "--read-only" => i += 1,
                "-v" => {
                    let parts: Vec<&str> = self.docker[i + 1].split(':').collect();
                    out.push((
                        parts[0].into(),
                        parts[1].into(),
                        parts.get(2).unwrap_or(&"rw").to_string(),
                    ));
                    i += 2;
                }
                _ => i += 2,
            }
        }
        out
    }

    fn prop(&self, p: &str) -> Result<(), String> {
        let words: Vec<&str> = p.splitn(3, ' ').collect();
        match words.as_slice() {
            ["bind", path, mode] => {
                let b = self.bwrap_binds();
                if !b.iter().any(|(s, d, m)| s == path && d == path && m == mode) {
                    return Err(format!("bwrap binds {b:?}"));
                }
                let v = self.volumes();
                if !v.iter().any(|(s, d, m)| s == path && d == path && m == mode) {
                    return Err(format!("docker volumes {v:?}"));
                }
                Ok(())
            }
            ["docker-volume", path, mode] => {
                let v = self.volumes();
                if v.iter().any(|(s, d, m)| s == path && d == path && m == mode) {
                    Ok(())
                } else {
                    Err(format!("docker volumes {v:?}"))
                }
            }
            ["no-docker-volume", path] => {
                if self.volumes().iter().any(|(s, d, _)| s == path || d == path) {
                    Err("bound".into())
                } else {
                    Ok(())
                }
            }
            ["no-bind", path] => {
                let hit = self.bwrap_binds().iter().any(|(s, d, _)| s == path || d == path)
                    || self.volumes().iter().any(|(s, d, _)| s == path || d == path);
                if hit {
                    Err("bound".into())
                } else {
                    Ok(())
                }
            }
            ["argv-lacks", t] => {
                let hit = self.bwrap.iter().chain(&self.docker).find(|a| a.contains(t));
                if let Some(h) = hit {
                    return Err(format!("found in `{h}`"));
                }
                if find(&self.args0, t.as_bytes()).is_some() {
                    return Err("found in args0".into());
                }
                Ok(())
            }
            ["setenv", name, value] => {
                let b = self
                    .bwrap
                    .windows(3)
                    .any(|w| w[0] == "--setenv" && w[1] == *name && w[2] == *value);
                let d = self
                    .docker
                    .windows(2)
                    .any(|w| w[0] == "--env" && w[1] == format!("{name}={value}"));
                if b && d {
                    Ok(())
                } else {
                    Err(format!("bwrap {b}, docker {d}"))
                }
            }
            ["docker-env", name] => {
                if self.docker.windows(2).any(|w| w[0] == "--env" && w[1] == *name) {
                    Ok(())
                } else {
                    Err("not passed by name".into())
                }
            }
            ["unenforced", grant] => {
                for env in [&self.bwrap_env, &self.docker_env] {
                    let listed = match member(env, "unenforced").map(|v| &v.kind) {
                        Some(Kind::Array(a)) => a
                            .iter()
                            .any(|x| member(x, "grant").and_then(Value::as_str) == Some(grant)),
                        _ => false,
                    };
                    if !listed {
                        return Err(format!(
                            "not under unenforced in {}",
                            member(env, "format").and_then(Value::as_str).unwrap_or("?")
                        ));
                    }
                }
                Ok(())
            }
            ["hosts", "has", name] => {
                if self.hosts.lines().any(|l| l == *name) {
                    Ok(())
                } else {
                    Err(self.hosts.clone())
                }
            }
            ["param", name, value] => {
                let got = member(&self.policy, "params")
                    .and_then(|p| member(p, name))
                    .and_then(Value::as_str);
                if got == Some(value) {
                    Ok(())
                } else {
                    Err(format!("policy.json params: {got:?}"))
                }
            }
            ["squid", verdict @ ("allows" | "denies"), dest] => {
                let (name, ip, port) = parse_dest(dest);
                let allowed = squid_allows(&self.squid, name.as_deref(), ip, port);
                if allowed == (*verdict == "allows") {
                    Ok(())
                } else {
                    Err(format!("squid {}", if allowed { "allows" } else { "denies" }))
                }
            }
            ["nft", verdict @ ("accepts" | "rejects"), dest] => {
                let (_, ip, port) = parse_dest(dest);
                let accepted = nft_accepts(&self.nft, ip.expect("nft needs an address"), port);
                if accepted == (*verdict == "accepts") {
                    Ok(())
                } else {
                    Err(format!("nft {}", if accepted { "accepts" } else { "rejects" }))
                }
            }
            _ => panic!("unknown property `{p}`"),
        }
    }
}

/// `NAME@IP:PORT`, `IP:PORT`, `[IPv6]:PORT`, `NAME:PORT`.
fn parse_dest(d: &str) -> (Option<String>, Option<IpAddr>, u16) {
    let (host, port) = d.rsplit_once(':').unwrap();
    let port = port.parse().unwrap();
    let ip_of = |s: &str| s.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok();
    match host.split_once('@') {
        Some((n, ip)) => (Some(n.to_string()), Some(ip_of(ip).expect("ip")), port),
        None => match ip_of(host) {
            Some(ip) => (None, Some(ip), port),
            None => (Some(host.to_string()), None, port),
        },
    }
}

// -- a small squid http_access evaluator ---------------------------------------

/// An address in squid's view: IPv4 as v4-mapped IPv6.
fn mapped(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => (0xffffu128 << 32) | u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

fn cidr(s: &str) -> (u128, u32) {
    let (a, l) = s.split_once('/').unwrap_or((s, ""));
    let ip: IpAddr = a.parse().unwrap_or_else(|_| panic!("address {s}"));
    let full = if ip.is_ipv4() { 32 } else { 128 };
    let l: u32 = if l.is_empty() { full } else { l.parse().unwrap() };
    (mapped(ip), if ip.is_ipv4() { 96 + l } else { l })
}

fn in_cidr(addr: u128, (net, len): (u128, u32)) -> bool {
    len == 0 || (addr >> (128 - len)) == (net >> (128 - len))
}

fn port_matches(spec: &str, port: u16) -> bool {
    match spec.split_once('-') {
        Some((a, b)) => a.parse::<u16>().unwrap() <= port && port <= b.parse::<u16>().unwrap(),
        None => spec.parse::<u16>().unwrap() == port,
    }
}

/// Whether squid's http_access rules allow a request. `name` is the URL host
/// when it is a name; `ip` the address it resolves to (or the literal).
fn squid_allows(conf: &str, name: Option<&str>, ip: Option<IpAddr>, port: u16) -> bool {
    let mut acls: BTreeMap<&str, (&str, Vec<&str>)> = BTreeMap::new();
    for l in conf.lines().filter(|l| !l.starts_with('#')) {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.first() == Some(&"acl") {
            let e = acls.entry(w[1]).or_insert((w[2], Vec::new()));
            e.1.extend(w[3..].iter().filter(|x| !x.starts_with('-')));
        }
    }
    let host = name.map(str::to_ascii_lowercase).unwrap_or_else(|| match ip {
        Some(IpAddr::V6(a)) => a.to_string(),
        Some(a) => a.to_string(),
        None => String::new(),
    });
    let matches = |acl: &str| -> bool {
        if acl == "all" {
            return true;
        }
        let (kind, values) = acls.get(acl).unwrap_or_else(|| panic!("undefined acl {acl}"));
        values.iter().any(|v| match *kind {
            "dst" => ip.is_some_and(|ip| in_cidr(mapped(ip), cidr(v))),
            "dstdomain" => match v.strip_prefix('.') {
                Some(s) => host == s || host.ends_with(&format!(".{s}")),
                None => host == *v,
            },
            "dstdom_regex" => {
                let suffix = v
                    .strip_prefix("\\.")
                    .and_then(|s| s.strip_suffix('$'))
                    .unwrap_or_else(|| panic!("regex shape {v}"))
                    .replace("\\.", ".");
                name.is_some() && host.ends_with(&format!(".{suffix}"))
            }
            "port" => port_matches(v, port),
            k => panic!("acl type {k}"),
        })
    };
    for l in conf.lines().filter(|l| l.starts_with("http_access")) {
        let w: Vec<&str> = l.split_whitespace().collect();
        let all = w[2..].iter().all(|c| match c.strip_prefix('!') {
            Some(neg) => !matches(neg),
            None => matches(c),
        });
        if all {
            return w[1] == "allow";
        }
    }
    false
}

// -- a small nftables output-chain evaluator (TCP) -----------------------------

fn nft_accepts(conf: &str, ip: IpAddr, port: u16) -> bool {
    let mut sets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut rules = Vec::new();
    let mut in_chain = false;
    for l in conf.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        if let Some(n) = l.strip_prefix("set ").and_then(|r| r.strip_suffix(" {")) {
            current = Some(n.to_string());
            sets.insert(n.to_string(), Vec::new());
        } else if let Some(el) = l.strip_prefix("elements = { ").and_then(|r| r.strip_suffix(" }")) {
            let set = current.clone().unwrap();
            sets.insert(set, el.split(", ").map(str::to_string).collect());
        } else if l == "chain output {" {
            in_chain = true;
        } else if in_chain && l == "}" {
            in_chain = false;
        } else if in_chain && !l.starts_with("type ") {
            rules.push(l.to_string());
        }
    }
    let addr = mapped(ip);
    for r in &rules {
        // The sandbox's own loopback (its network namespace), not the host's.
        if r == "oifname \"lo\" accept" || r.starts_with("ct state") {
            continue;
        }
        let w: Vec<&str> = r.split_whitespace().collect();
        let mut rest = &w[..];
        if let [fam @ ("ip" | "ip6"), "daddr", x, tail @ ..] = rest {
            if (*fam == "ip") != ip.is_ipv4() {
                continue;
            }
            let hit = match x.strip_prefix('@') {
                Some(set) => sets
                    .get(set)
                    .unwrap_or(&Vec::new())
                    .iter()
                    .any(|e| in_cidr(addr, cidr(e))),
                None => in_cidr(addr, cidr(x)),
            };
            if !hit {
                continue;
            }
            rest = tail;
        }
        match rest {
            ["tcp", "dport", p, verdict @ ..] => {
                if port_matches(p, port) {
                    return verdict[0] == "accept";
                }
            }
            ["udp", ..] | ["meta", "l4proto", "udp", ..] => {}
            ["meta", "l4proto", "tcp", verdict @ ..] | verdict => return verdict[0] == "accept",
        }
    }
    false
}
