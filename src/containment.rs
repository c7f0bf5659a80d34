//! An independent containment checker: proves that compiled artifacts grant
//! nothing outside the manifest's declared grants.
//!
//! [`check`] re-reads the ARTIFACTS (the bwrap argv and `args0`, the docker
//! flags, `squid.conf`, `nftables.nft`, `hosts`, and `oci/config.json` when
//! present) with its own small parsers and compares every mount, flag, env
//! variable and allow rule with the grants in the [`Policy`]. It shares no
//! code with the lowering in [`crate::target`]: a bug there shows up here as
//! a [`Violation`] instead of being repeated.
//!
//! What counts as declared (DESIGN §13): the grants themselves, the profile's
//! baseline (listed in `policy.json`), the mounts a grant implies (`ipc`
//! sockets, `clock:read:tzdata`), and capgate's fixed environment (`HOME`,
//! `LANG`, `PATH`, and the proxy variables when egress is granted). Bind
//! mounts are executable, so every `fs` grant without `exec` and every
//! `exec:spawn` grant must be listed under `unenforced` by bwrap and docker.
//!
//! ```
//! let m = br#"{"grammar":"1","name":"d","version":"1","command":["/usr/bin/true"],
//!             "capabilities":["fs:read:/srv/data/**"]}"#;
//! let out = capgate::compile(m, &capgate::Options::default()).unwrap();
//! assert!(capgate::containment::check(&out.policy, &out.artifacts).is_empty());
//! ```

use crate::artifact::Artifact;
use crate::capability::{Capability, ClockSource, EnvAction, FsAction, Host, IpcEndpoint, NetAction, NetGrant, Proto};
use crate::json::{self, Kind, Value};
use crate::manifest::Profile;
use crate::policy::Policy;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// Something an artifact grants that the manifest does not declare.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    /// `bwrap`, `docker`, `egress`, `oci` or `policy`.
    pub target: String,
    /// The offending item (a flag, a mount, a config line).
    pub item: String,
    /// Why it is outside the declared grants.
    pub reason: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: `{}`: {}", self.target, self.item, self.reason)
    }
}

/// Check every artifact against the policy's declared grants. Empty means
/// contained. Artifacts that are absent (a target not compiled) are skipped.
pub fn check(policy: &Policy, artifacts: &[Artifact]) -> Vec<Violation> {
    let mut c = Checker {
        d: Declared::new(policy, artifacts, true),
        p: policy,
        out: Vec::new(),
    };
    let get = |path: &str| artifacts.iter().find(|a| a.path == path);
    c.policy_json(get("policy.json"));
    match (get("bwrap/argv.json"), get("bwrap/args0")) {
        (Some(argv), Some(args0)) => c.bwrap(argv, args0),
        (None, None) => {}
        _ => c.v("bwrap", "bwrap/", "argv.json and args0 must be written together"),
    }
    if let Some(a) = get("docker/argv.json") {
        // With an image the container's base view is the image's, not the
        // profile's host baseline.
        if policy.image.is_some() {
            let d = std::mem::replace(&mut c.d, Declared::new(policy, artifacts, false));
            c.docker(a);
            c.d = d;
        } else {
            c.docker(a);
        }
    }
    if let Some(a) = get("egress/squid.conf") {
        c.squid(&text(a));
    }
    if let Some(a) = get("egress/nftables.nft") {
        c.nft(&text(a));
    }
    if let Some(a) = get("egress/hosts") {
        c.hosts(&text(a));
    }
    if let Some(a) = get("oci/config.json") {
        c.oci(a);
    }
    c.out.sort();
    c.out.dedup();
    c.out
}

fn text(a: &Artifact) -> String {
    String::from_utf8_lossy(&a.bytes).into_owned()
}

// ---------------------------------------------------------------------------
// What the manifest declares

/// A path the sandbox may see, and whether it may write there.
#[derive(Clone, Debug)]
struct PathGrant {
    path: String,
    write: bool,
    /// A mount a grant implies (ipc socket, tzdata): it adds read access
    /// where no fs grant reaches and takes the mode of one that does.
    implicit: bool,
}

struct Declared {
    paths: Vec<PathGrant>,
    /// Every connect grant (tcp and udp).
    net: Vec<NetGrant>,
    /// Variables passed from the launcher (read/inject).
    passed: BTreeMap<String, EnvAction>,
    /// `env:set` values.
    set: BTreeMap<String, String>,
    egress: bool,
    nested: bool,
    fs_without_exec: Vec<String>,
    exec: Vec<String>,
}

/// capgate's fixed environment.
const BASE_ENV: &[(&str, &str)] = &[("HOME", "/tmp"), ("LANG", "C.UTF-8"), ("PATH", "/usr/bin:/bin")];
const PROXY_ENV: &[&str] = &["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"];
const PROXY_URL: &str = "http://127.0.0.1:3128";

impl Declared {
    /// `baseline`: count the profile's baseline (false for a container
    /// image, which brings its own base view instead).
    fn new(p: &Policy, artifacts: &[Artifact], with_baseline: bool) -> Declared {
        let mut d = Declared {
            paths: Vec::new(),
            net: Vec::new(),
            passed: BTreeMap::new(),
            set: BTreeMap::new(),
            egress: false,
            nested: false,
            fs_without_exec: Vec::new(),
            exec: Vec::new(),
        };
        let base = if with_baseline {
            baseline(p, artifacts)
        } else {
            Vec::new()
        };
        for b in base {
            d.paths.push(PathGrant {
                path: b,
                write: false,
                implicit: false,
            });
        }
        let mut x11 = false;
        for g in p.grants.values() {
            match &g.cap {
                Capability::Fs(f) => {
                    d.paths.push(PathGrant {
                        implicit: false,
                        path: f.path.clone(),
                        write: f
                            .actions
                            .iter()
                            .any(|a| matches!(a, FsAction::Write | FsAction::Create | FsAction::Delete)),
                    });
                    if !f.actions.contains(&FsAction::Exec) {
                        d.fs_without_exec.push(g.canonical.clone());
                    }
                }
                Capability::Net(n) if n.actions.contains(&NetAction::Connect) => {
                    d.egress |= n.proto == Proto::Tcp;
                    d.net.push(n.clone());
                }
                Capability::Env(e) => match e.action {
                    EnvAction::Set => {
                        d.set.insert(e.name.clone(), e.value.clone().unwrap_or_default());
                    }
                    a => {
                        let cur = d.passed.entry(e.name.clone()).or_insert(a);
                        if a == EnvAction::Inject {
                            *cur = a;
                        }
                    }
                },
                Capability::Exec(e) => {
                    d.nested |= e.nested_sandbox;
                    d.exec.push(g.canonical.clone());
                }
                Capability::Ipc(i) => {
                    let path = match &i.endpoint {
                        IpcEndpoint::X11 => {
                            x11 = true;
                            Some("/tmp/.X11-unix".to_string())
                        }
                        IpcEndpoint::DbusSystem => Some("/run/dbus/system_bus_socket".to_string()),
                        IpcEndpoint::Unix(s) => Some(s.clone()),
                        IpcEndpoint::Wayland | IpcEndpoint::DbusSession => None,
                    };
                    if let Some(path) = path {
                        d.paths.push(PathGrant {
                            path,
                            write: false,
                            implicit: true,
                        });
                    }
                }
                Capability::Clock(ClockSource::Tzdata) => {
                    for path in ["/etc/localtime", "/usr/share/zoneinfo"] {
                        d.paths.push(PathGrant {
                            path: path.into(),
                            write: false,
                            implicit: true,
                        });
                    }
                }
                _ => {}
            }
        }
        // x11 passes the launcher's DISPLAY, unless the manifest has an env
        // grant for it (an `env:set:DISPLAY=…` value stands).
        if x11 && !d.set.contains_key("DISPLAY") {
            d.passed.entry("DISPLAY".into()).or_insert(EnvAction::Read);
        }
        d
    }

    /// The mode the declared grants give `path`: the deepest declared path
    /// at or above it decides (writable if any grant at that depth writes).
    /// `None` when nothing declares it.
    fn mode(&self, path: &str) -> Option<bool> {
        self.mode_of(path, false).or_else(|| self.mode_of(path, true))
    }

    fn mode_of(&self, path: &str, implicit: bool) -> Option<bool> {
        let mut best: Option<(usize, bool)> = None;
        for g in self
            .paths
            .iter()
            .filter(|g| g.implicit == implicit && under(path, &g.path))
        {
            let depth = depth(&g.path);
            best = match best {
                Some((d, w)) if d > depth => Some((d, w)),
                Some((d, w)) if d == depth => Some((d, w || g.write)),
                _ => Some((depth, g.write)),
            };
        }
        best.map(|(_, w)| w)
    }

    /// Declared read-only paths strictly under `parent`.
    fn ro_under<'a>(&'a self, parent: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.paths
            .iter()
            .filter(move |g| g.path != parent && under(&g.path, parent) && self.mode(&g.path) == Some(false))
            .map(|g| g.path.as_str())
    }
}

/// The baseline: from `policy.json` when it is there (what a reviewer sees),
/// else the profile's table.
fn baseline(p: &Policy, artifacts: &[Artifact]) -> Vec<String> {
    let table: &[&str] = match p.profile {
        Profile::Debian => &["/usr"],
        Profile::Nix => &["/nix/store"],
        Profile::None => &[],
    };
    let listed = artifacts
        .iter()
        .find(|a| a.path == "policy.json")
        .and_then(|a| json::parse(&text(a)).ok())
        .and_then(|v| member(&v, "baseline").and_then(|b| member(b, "ro_binds")).map(strings));
    match listed {
        // Only what both the profile and policy.json name counts.
        Some(l) => l.into_iter().filter(|x| table.contains(&x.as_str())).collect(),
        None => table.iter().map(|s| s.to_string()).collect(),
    }
}

// ---------------------------------------------------------------------------
// Paths

/// A clean absolute path: `/`, or `/`-separated components that are not
/// empty, `.` or `..`, without control characters.
fn clean(p: &str) -> bool {
    if p == "/" {
        return true;
    }
    p.starts_with('/')
        && !p.chars().any(char::is_control)
        && p[1..].split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

fn depth(p: &str) -> usize {
    p.split('/').filter(|c| !c.is_empty()).count()
}

/// `child` is `parent` or below it, component-wise (both clean).
fn under(child: &str, parent: &str) -> bool {
    let mut c = child.split('/').filter(|x| !x.is_empty());
    parent.split('/').filter(|x| !x.is_empty()).all(|p| c.next() == Some(p))
}

// ---------------------------------------------------------------------------
// JSON helpers

fn member<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    match &v.kind {
        Kind::Object(m) => m.iter().find(|(k, _)| k.text == key).map(|(_, v)| v),
        _ => None,
    }
}

fn strings(v: &Value) -> Vec<String> {
    match &v.kind {
        Kind::Array(items) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

fn is_string_array(v: &Value) -> bool {
    matches!(&v.kind, Kind::Array(items) if items.iter().all(|i| i.as_str().is_some()))
}

/// `{grant, reason}` lists → the grants.
fn note_grants(v: Option<&Value>) -> Vec<String> {
    match v.map(|v| &v.kind) {
        Some(Kind::Array(items)) => items
            .iter()
            .filter_map(|i| member(i, "grant").and_then(Value::as_str).map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------
// The checks

struct Checker<'a> {
    d: Declared,
    p: &'a Policy,
    out: Vec<Violation>,
}

/// One mount as an artifact states it.
struct Mount {
    src: String,
    dest: String,
    write: bool,
}

impl Checker<'_> {
    fn v(&mut self, target: &str, item: impl Into<String>, reason: impl Into<String>) {
        self.out.push(Violation {
            target: target.into(),
            item: item.into(),
            reason: reason.into(),
        });
    }

    fn placeholder(&mut self, target: &str, s: &str) {
        if s.contains("${") {
            self.v(target, s, "unsubstituted placeholder");
        }
    }

    fn policy_json(&mut self, a: Option<&Artifact>) {
        let Some(a) = a else { return };
        let Ok(v) = json::parse(&text(a)) else {
            return self.v("policy", "policy.json", "not valid JSON");
        };
        let listed = member(&v, "baseline").and_then(|b| member(b, "ro_binds")).map(strings);
        let table: &[&str] = match self.p.profile {
            Profile::Debian => &["/usr"],
            Profile::Nix => &["/nix/store"],
            Profile::None => &[],
        };
        for b in listed.unwrap_or_default() {
            if !table.contains(&b.as_str()) {
                self.v(
                    "policy",
                    b,
                    "policy.json lists a baseline path the profile does not have",
                );
            }
        }
    }

    /// One bind: a clean source equal to its destination, declared, and
    /// writable only where a grant writes.
    fn mount(&mut self, target: &str, m: &Mount) {
        let item = format!("{} -> {}", m.src, m.dest);
        if !clean(&m.src) || !clean(&m.dest) {
            return self.v(target, item, "mount path is not a clean absolute path");
        }
        if m.src != m.dest {
            self.v(target, &item, "mount destination differs from its source");
        }
        match self.d.mode(&m.src) {
            None => self.v(
                target,
                item,
                "source is neither a declared grant nor the profile baseline",
            ),
            Some(false) if m.write => self.v(target, item, "writable, but no grant writes here"),
            _ => {}
        }
    }

    /// A read-only declared path under a writable mount must be re-mounted
    /// read-only by a later (bwrap) or deeper (docker, which sorts) mount.
    fn ro_children(&mut self, target: &str, mounts: &[Mount], ordered: bool) {
        for (i, m) in mounts.iter().enumerate().filter(|(_, m)| m.write && clean(&m.dest)) {
            let ro: Vec<String> = self.d.ro_under(&m.dest).map(str::to_string).collect();
            for r in ro {
                let later = mounts.iter().enumerate().any(|(k, x)| {
                    (!ordered || k > i) && !x.write && x.dest != m.dest && under(&x.dest, &m.dest) && under(&r, &x.dest)
                });
                if !later {
                    self.v(
                        target,
                        format!("{} -> {}", m.src, m.dest),
                        format!("makes the read-only grant {r} writable (no read-only mount over it)"),
                    );
                }
            }
        }
    }

    /// A fixed variable: `NAME=VALUE` compiled into the artifact.
    fn setenv(&mut self, target: &str, name: &str, value: &str) {
        let item = format!("{name}={value}");
        self.placeholder(target, value);
        if self.d.passed.contains_key(name) {
            return self.v(
                target,
                item,
                "a launcher-supplied (env:read/env:inject) variable must not have a value in the artifact",
            );
        }
        let ok = match self.d.set.get(name) {
            Some(v) => v == value,
            None => {
                BASE_ENV.iter().any(|(k, v)| *k == name && *v == value)
                    || (self.d.egress && PROXY_ENV.contains(&name) && value == PROXY_URL)
            }
        };
        if !ok {
            self.v(
                target,
                item,
                "variable not declared with env:set (nor capgate's fixed environment)",
            );
        }
    }

    /// A variable passed by name from the launcher.
    fn passenv(&mut self, target: &str, name: &str) {
        if !self.d.passed.contains_key(name) {
            self.v(
                target,
                name,
                "passes a host variable no env:read/env:inject grant names",
            );
        }
    }

    fn command(&mut self, target: &str, cmd: &[String]) {
        for c in cmd {
            self.placeholder(target, c);
        }
        let declared: &[String] = self.p.command.as_deref().unwrap_or_default();
        if cmd != declared {
            self.v(target, cmd.join(" "), "command differs from the manifest's");
        }
    }

    /// Bind mounts are executable: every fs grant without `exec` and every
    /// `exec:spawn` must be listed under `unenforced`.
    fn exec_gaps(&mut self, target: &str, envelope: &Value) {
        let listed = note_grants(member(envelope, "unenforced"));
        let missing: Vec<String> = self
            .d
            .fs_without_exec
            .iter()
            .chain(&self.d.exec)
            .filter(|g| !listed.contains(g))
            .cloned()
            .collect();
        for g in missing {
            self.v(
                target,
                g,
                "bind mounts are executable, but the grant is not listed under unenforced",
            );
        }
    }

    // -- bwrap ---------------------------------------------------------------

    fn bwrap(&mut self, argv_json: &Artifact, args0: &Artifact) {
        const T: &str = "bwrap";
        let Ok(env) = json::parse(&text(argv_json)) else {
            return self.v(T, "bwrap/argv.json", "not valid JSON");
        };
        let argv = match member(&env, "argv") {
            Some(a) if is_string_array(a) => strings(a),
            _ => return self.v(T, "argv", "missing or not an array of strings"),
        };
        if argv.first().map(String::as_str) != Some("bwrap") {
            self.v(
                T,
                argv.first().cloned().unwrap_or_default(),
                "argv must start with bwrap",
            );
        }
        // What bwrap reads: args0, NUL-terminated options.
        let bytes = &args0.bytes;
        if !bytes.is_empty() && bytes.last() != Some(&0) {
            self.v(T, "bwrap/args0", "options are not NUL-terminated");
        }
        let opts: Vec<String> = if bytes.is_empty() {
            Vec::new()
        } else {
            bytes[..bytes.len() - 1]
                .split(|b| *b == 0)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        };
        let n = opts.len();
        if argv.len() < n + 2 || argv[1..=n] != opts[..] || argv[n + 1] != "--" {
            self.v(T, "bwrap/args0", "args0 differs from the options in argv.json");
        }
        if argv.len() >= n + 2 && argv[n + 1] == "--" {
            self.command(T, &argv[n + 2..]);
        }

        let mut mounts = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut i = 0;
        while i < opts.len() {
            let o = opts[i].as_str();
            let arity = match o {
                "--unshare-all"
                | "--unshare-user"
                | "--unshare-user-try"
                | "--unshare-ipc"
                | "--unshare-pid"
                | "--unshare-net"
                | "--unshare-uts"
                | "--unshare-cgroup"
                | "--unshare-cgroup-try"
                | "--disable-userns"
                | "--assert-userns-disabled"
                | "--die-with-parent"
                | "--new-session"
                | "--clearenv"
                | "--as-pid-1"
                | "--share-net" => 0,
                "--hostname" | "--chdir" | "--cap-drop" | "--proc" | "--dev" | "--tmpfs" | "--dir" | "--unsetenv"
                | "--remount-ro" | "--mqueue" => 1,
                "--setenv" | "--symlink" | "--bind" | "--bind-try" | "--ro-bind" | "--ro-bind-try" => 2,
                "--dev-bind" | "--dev-bind-try" => {
                    self.v(T, o, "--dev-bind exposes host devices");
                    2
                }
                "--cap-add" => {
                    self.v(T, o, "adds a capability");
                    1
                }
                _ if !o.starts_with("--") => {
                    self.v(T, o, "not an option: bwrap would stop reading args0 here");
                    break;
                }
                _ => {
                    self.v(T, o, "unknown or forbidden bwrap option");
                    i += 1;
                    continue;
                }
            };
            if arity > 0 && i + arity >= opts.len() {
                self.v(T, o, "option is missing its arguments");
                break;
            }
            let args = &opts[i + 1..=i + arity];
            if o != "--cap-drop" || args[0] == "ALL" {
                seen.insert(o.to_string());
            }
            match o {
                "--share-net" if !self.d.egress => self.v(T, o, "shares the host network, but no egress is granted"),
                "--setenv" => self.setenv(T, &args[0].clone(), &args[1].clone()),
                "--bind" | "--bind-try" | "--ro-bind" | "--ro-bind-try" | "--dev-bind" | "--dev-bind-try" => mounts
                    .push(Mount {
                        src: args[0].clone(),
                        dest: args[1].clone(),
                        write: !o.starts_with("--ro-"),
                    }),
                _ => {}
            }
            for a in args {
                self.placeholder(T, a);
            }
            i += 1 + arity;
        }
        let mut required = vec![
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
            "--cap-drop",
        ];
        if !self.d.nested {
            required.push("--disable-userns");
        }
        for r in required {
            if !seen.contains(r) {
                let what = if r == "--cap-drop" { "--cap-drop ALL" } else { r };
                self.v(T, what, "required isolation option is missing");
            }
        }
        for m in &mounts {
            self.mount(T, m);
        }
        self.ro_children(T, &mounts, true);
        self.exec_gaps(T, &env);
    }

    // -- docker --------------------------------------------------------------

    fn docker(&mut self, a: &Artifact) {
        const T: &str = "docker";
        let Ok(env) = json::parse(&text(a)) else {
            return self.v(T, "docker/argv.json", "not valid JSON");
        };
        let flags = match member(&env, "flags") {
            Some(f) if is_string_array(f) => strings(f),
            _ => return self.v(T, "flags", "missing or not an array of strings"),
        };
        let podman = member(&env, "podman_flags").map(strings).unwrap_or_default();
        for f in &podman {
            if f != "--read-only-tmpfs=false" {
                self.v(T, f, "podman flag outside the allowed set (--read-only-tmpfs=false)");
            }
        }
        match member(&env, "command") {
            Some(c) if is_string_array(c) => self.command(T, &strings(c)),
            Some(Value { kind: Kind::Null, .. }) | None => self.command(T, &[]),
            Some(_) => self.v(T, "command", "not an array of strings"),
        }

        let mut mounts = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut i = 0;
        while i < flags.len() {
            let raw = flags[i].as_str();
            let (name, inline) = match raw.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
                _ => (raw, None),
            };
            let takes = match name {
                "--rm" | "--read-only" | "--init" => false,
                "--cap-drop" | "--security-opt" | "--user" | "-u" | "--network" | "--net" | "--hostname"
                | "--workdir" | "-w" | "--tmpfs" | "--memory" | "-m" | "--memory-swap" | "--pids-limit" | "--cpus"
                | "--ulimit" | "-v" | "--volume" | "--env" | "-e" => true,
                _ => {
                    self.v(T, raw, "unknown or forbidden docker flag");
                    i += 1;
                    continue;
                }
            };
            let value = if takes {
                match inline {
                    Some(v) => Some(v),
                    None => {
                        i += 1;
                        match flags.get(i) {
                            Some(v) => Some(v.clone()),
                            None => {
                                self.v(T, raw, "flag is missing its value");
                                break;
                            }
                        }
                    }
                }
            } else {
                if inline.is_some() && name != "--read-only" {
                    self.v(T, raw, "unexpected value");
                }
                if name == "--read-only" && inline.as_deref().is_some_and(|v| v != "true") {
                    self.v(T, raw, "the root filesystem must be read-only");
                    i += 1;
                    continue;
                }
                None
            };
            i += 1;
            let v = value.unwrap_or_default();
            self.placeholder(T, &v);
            match name {
                "--cap-drop" if v.eq_ignore_ascii_case("ALL") => {
                    seen.insert("--cap-drop ALL");
                }
                "--security-opt" => {
                    let ok = matches!(
                        v.as_str(),
                        "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true"
                    );
                    let seccomp = v
                        .strip_prefix("seccomp=")
                        .or_else(|| v.strip_prefix("seccomp:"))
                        .is_some_and(|p| p != "unconfined" && !p.is_empty());
                    if ok {
                        seen.insert("--security-opt no-new-privileges");
                    } else if !seccomp {
                        self.v(T, format!("--security-opt {v}"), "weakens the container's confinement");
                    }
                }
                "--user" | "-u" => {
                    seen.insert("--user");
                    let user = v.split(':').next().unwrap_or_default();
                    if user.is_empty() || user == "0" || user == "root" {
                        self.v(T, format!("--user {v}"), "runs as root");
                    }
                }
                "--network" | "--net" => {
                    seen.insert("--network");
                    let bad = matches!(
                        v.as_str(),
                        "host" | "bridge" | "default" | "private" | "slirp4netns" | "pasta"
                    ) || v.starts_with("container:")
                        || v.starts_with("ns:")
                        || v.starts_with("slirp4netns:")
                        || v.starts_with("pasta:");
                    if v != "none" && (bad || !self.d.egress) {
                        self.v(
                            T,
                            format!("--network {v}"),
                            "network other than none without a matching egress grant",
                        );
                    }
                }
                "--read-only" => {
                    seen.insert("--read-only");
                }
                "-v" | "--volume" => {
                    let parts: Vec<&str> = v.split(':').collect();
                    let (src, dest, opts) = match parts.as_slice() {
                        [s, d] => (*s, *d, ""),
                        [s, d, o] => (*s, *d, *o),
                        _ => {
                            self.v(T, format!("-v {v}"), "volume is not src:dst[:ro|rw]");
                            continue;
                        }
                    };
                    let mut write = true;
                    for o in opts.split(',').filter(|o| !o.is_empty()) {
                        match o {
                            "ro" => write = false,
                            "rw" => {}
                            _ => self.v(T, format!("-v {v}"), format!("volume option `{o}` is not allowed")),
                        }
                    }
                    mounts.push(Mount {
                        src: src.into(),
                        dest: dest.into(),
                        write,
                    });
                }
                "--env" | "-e" => match v.split_once('=') {
                    Some((k, val)) => self.setenv(T, k, val),
                    None => self.passenv(T, &v),
                },
                _ => {}
            }
        }
        for r in [
            "--read-only",
            "--cap-drop ALL",
            "--security-opt no-new-privileges",
            "--user",
            "--network",
        ] {
            if !seen.contains(r) {
                self.v(T, r, "required isolation flag is missing");
            }
        }
        for m in &mounts {
            self.mount(T, m);
        }
        self.ro_children(T, &mounts, false);
        self.exec_gaps(T, &env);
    }

    // -- egress --------------------------------------------------------------

    fn squid(&mut self, conf: &str) {
        const T: &str = "egress";
        // name -> (type, values)
        let mut acls: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
        let mut allows: Vec<Vec<String>> = Vec::new();
        let mut denied_all = false;
        for line in conf.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            self.placeholder(T, l);
            let words: Vec<&str> = l.split_whitespace().collect();
            match words.as_slice() {
                ["acl", name, kind, rest @ ..] => {
                    let mut values = rest.iter().copied().skip_while(|w| w.starts_with('-')).peekable();
                    let flags_ok = rest
                        .iter()
                        .take_while(|w| w.starts_with('-'))
                        .all(|f| *f == "-n" || *f == "-i");
                    if !matches!(*kind, "dst" | "dstdomain" | "dstdom_regex" | "port") || !flags_ok {
                        self.v(T, l, "acl type or flag outside dst, dstdomain, dstdom_regex, port");
                        continue;
                    }
                    if values.peek().is_none() {
                        self.v(T, l, "acl without values");
                    }
                    let e = acls.entry(name.to_string()).or_insert((kind.to_string(), Vec::new()));
                    if e.0 != *kind {
                        self.v(T, l, "acl redefined with another type");
                    }
                    e.1.extend(values.map(str::to_string));
                }
                ["http_access", "deny", "all"] => denied_all = true,
                ["http_access", "deny", ..] => {}
                ["http_access", "allow", conds @ ..] if !conds.is_empty() => {
                    if denied_all {
                        continue; // unreachable after `deny all`
                    }
                    allows.push(conds.iter().map(|s| s.to_string()).collect());
                }
                _ => self.v(T, l, "squid.conf may hold only acl and http_access lines"),
            }
        }
        if !denied_all {
            self.v(T, "http_access deny all", "squid.conf does not end in deny all");
        }
        // The special-range acl must cover every must-have range.
        let special: Vec<Cidr> = acls
            .get("capgate_special")
            .filter(|(k, _)| k == "dst")
            .map(|(_, v)| v.iter().filter_map(|x| Cidr::parse(x)).collect())
            .unwrap_or_default();
        for need in MUST_V4.iter().chain(MUST_V6_SQUID) {
            let n = Cidr::parse(need).expect("table");
            if !special.iter().any(|s| s.contains(&n)) {
                self.v(
                    T,
                    "acl capgate_special",
                    format!("does not cover the special range {need}"),
                );
            }
        }
        for conds in allows {
            let line = format!("http_access allow {}", conds.join(" "));
            let mut dsts = Vec::new();
            let mut ports = Vec::new();
            let mut excludes_special = false;
            let mut bad = false;
            for c in &conds {
                if c == "all" {
                    continue;
                }
                if let Some(neg) = c.strip_prefix('!') {
                    excludes_special |= neg == "capgate_special";
                    if !acls.contains_key(neg) {
                        bad = true;
                    }
                    continue;
                }
                if c == "capgate_special" {
                    self.v(T, &line, "allows the special-purpose ranges as such");
                    bad = true;
                    continue;
                }
                match acls.get(c) {
                    Some((k, v)) if k == "port" => ports.push(v.clone()),
                    Some((k, v)) => dsts.push((k.clone(), v.clone())),
                    None => bad = true,
                }
            }
            if bad {
                self.v(T, &line, "refers to an undefined acl");
                continue;
            }
            let port_ok = |g: &NetGrant| -> bool {
                if ports.is_empty() {
                    return g.ports.is_any();
                }
                ports.iter().any(|list| list.iter().all(|p| port_in(p, g)))
            };
            let special_ok = |g: &NetGrant| !g.host.is_name_based() || g.private || excludes_special;
            let tcp: Vec<&NetGrant> = self.d.net.iter().filter(|g| g.proto == Proto::Tcp).collect();
            let ok = if dsts.is_empty() {
                tcp.iter().any(|g| g.host == Host::Any && port_ok(g) && special_ok(g))
            } else {
                dsts.iter().any(|(kind, values)| {
                    values.iter().all(|v| {
                        tcp.iter()
                            .any(|g| port_ok(g) && special_ok(g) && squid_host_covered(kind, v, &g.host))
                    })
                })
            };
            if !ok {
                self.v(
                    T,
                    line,
                    "no declared net:connect grant allows this destination and port",
                );
            }
        }
    }

    fn nft(&mut self, conf: &str) {
        const T: &str = "egress";
        let mut pins: BTreeMap<String, String> = BTreeMap::new();
        let mut sets: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut stack: Vec<String> = Vec::new();
        let mut policy_drop = false;
        let mut special_seen = (false, false);
        let mut tables = 0;
        for line in conf.lines() {
            let l = line.trim();
            if l.is_empty() {
                continue;
            }
            if let Some(c) = l.strip_prefix('#') {
                if let Some(rest) = c.trim().strip_prefix("pin ") {
                    if let Some((set, host)) = rest.split_once(' ') {
                        pins.insert(set.to_string(), host.to_string());
                    }
                }
                continue;
            }
            self.placeholder(T, l);
            if l.contains(';') && !l.starts_with("type ") {
                self.v(T, l, "one statement per line (`;` starts another)");
                continue;
            }
            let ctx = stack.last().cloned().unwrap_or_default();
            if l == "}" {
                if stack.pop().is_none() {
                    self.v(T, l, "unbalanced brace");
                }
                continue;
            }
            match ctx.as_str() {
                "" => match l {
                    "add table inet capgate" | "delete table inet capgate" => {}
                    "table inet capgate {" => {
                        tables += 1;
                        stack.push("table".into());
                    }
                    _ => self.v(T, l, "only the capgate table may be declared"),
                },
                "table" => {
                    if let Some(name) = l.strip_prefix("set ").and_then(|r| r.strip_suffix(" {")) {
                        stack.push(format!("set {name}"));
                        sets.insert(name.to_string(), Vec::new());
                    } else if l == "chain output {" {
                        stack.push("chain".into());
                    } else {
                        self.v(T, l, "only sets and the output chain may be declared");
                    }
                }
                s if s.starts_with("set ") => {
                    let name = &s[4..];
                    if let Some(el) = l.strip_prefix("elements = {").and_then(|r| r.strip_suffix('}')) {
                        let el: Vec<String> = el.split(',').map(|x| x.trim().to_string()).collect();
                        if let Some(bad) = el.iter().find(|x| Cidr::parse(x).is_none()) {
                            self.v(T, l, format!("set element `{bad}` is not an address or CIDR block"));
                        }
                        if name.starts_with("name_") {
                            self.v(T, l, "name sets are filled at launch, never compiled in");
                        }
                        sets.insert(name.to_string(), el);
                    } else if !matches!(l, "type ipv4_addr" | "type ipv6_addr" | "flags interval") {
                        self.v(T, l, "unexpected set statement");
                    }
                }
                "chain" => {
                    if l.starts_with("type ") {
                        policy_drop = l == "type filter hook output priority 0; policy drop;";
                        if !policy_drop {
                            self.v(T, l, "the output chain must default to drop");
                        }
                        continue;
                    }
                    match l {
                        "oifname \"lo\" accept"
                        | "ct state established,related accept"
                        | "reject"
                        | "meta l4proto tcp reject with tcp reset"
                        | "drop" => {}
                        "ip daddr @special_v4 reject" => special_seen.0 = true,
                        "ip6 daddr @special_v6 reject" => special_seen.1 = true,
                        _ if (l.ends_with(" reject") || l.ends_with(" drop"))
                            && !l.split_whitespace().any(|w| NFT_VERDICTS.contains(&w)) => {}
                        _ => self.nft_accept(l, &pins, special_seen),
                    }
                }
                _ => self.v(T, l, "unexpected line"),
            }
        }
        if tables != 1 || !policy_drop {
            self.v(
                T,
                "nftables.nft",
                "needs exactly one capgate table with a default-drop output chain",
            );
        }
        if !special_seen.0 || !special_seen.1 {
            self.v(T, "nftables.nft", "special ranges are never rejected");
        }
        for (set, must) in [("special_v4", MUST_V4), ("special_v6", MUST_V6_NFT)] {
            let have: Vec<Cidr> = sets
                .get(set)
                .map(|v| v.iter().filter_map(|x| Cidr::parse(x)).collect())
                .unwrap_or_default();
            for need in must {
                let n = Cidr::parse(need).expect("table");
                if !have.iter().any(|h| h.contains(&n)) {
                    self.v(
                        T,
                        format!("set {set}"),
                        format!("does not cover the special range {need}"),
                    );
                }
            }
        }
    }

    fn nft_accept(&mut self, l: &str, pins: &BTreeMap<String, String>, special: (bool, bool)) {
        const T: &str = "egress";
        let w: Vec<&str> = l.split_whitespace().collect();
        let (dst, rest) = match w.as_slice() {
            [fam @ ("ip" | "ip6"), "daddr", x, rest @ ..] => (Some((*fam, *x)), rest),
            rest => (None, rest),
        };
        let (proto, ports) = match rest {
            [p @ ("tcp" | "udp"), "dport", ports, "accept"] => (*p, Some(*ports)),
            ["meta", "l4proto", p @ ("tcp" | "udp"), "accept"] => (*p, None),
            _ => return self.v(T, l, "unrecognized rule (only daddr/dport accept rules are allowed)"),
        };
        let proto = if proto == "tcp" { Proto::Tcp } else { Proto::Udp };
        let port_ok = |g: &NetGrant| match ports {
            None => g.ports.is_any(),
            Some(p) => port_in(p, g),
        };
        let fam_special = match dst {
            Some(("ip6", _)) => special.1,
            Some(_) => special.0,
            None => special.0 && special.1,
        };
        let special_ok = |g: &NetGrant| !g.host.is_name_based() || g.private || fam_special;
        let ok = self.d.net.iter().filter(|g| g.proto == proto).any(|g| {
            port_ok(g)
                && special_ok(g)
                && match dst {
                    None => g.host == Host::Any,
                    Some((fam, x)) => match x.strip_prefix('@') {
                        Some(set) => {
                            let base = set.strip_suffix(if fam == "ip" { "_v4" } else { "_v6" });
                            base.and_then(|b| pins.get(b))
                                .is_some_and(|h| matches!(&g.host, Host::Name(n) if n.eq_ignore_ascii_case(h)))
                        }
                        None => Cidr::parse(x).is_some_and(|c| (fam == "ip") == c.v4 && ip_host_covered(&c, &g.host)),
                    },
                }
        });
        if !ok {
            self.v(T, l, "no declared net:connect grant allows this destination and port");
        }
    }

    fn hosts(&mut self, conf: &str) {
        for line in conf.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            self.placeholder("egress", l);
            let declared = self
                .d
                .net
                .iter()
                .any(|g| matches!(&g.host, Host::Name(n) if n.eq_ignore_ascii_case(l)));
            if !declared || l.contains(char::is_whitespace) {
                self.v("egress", l, "hosts names a host no net:connect grant declares");
            }
        }
    }

    // -- oci -----------------------------------------------------------------

    fn oci(&mut self, a: &Artifact) {
        const T: &str = "oci";
        let Ok(cfg) = json::parse(&text(a)) else {
            return self.v(T, "oci/config.json", "not valid JSON");
        };
        let mut mounts = Vec::new();
        if let Some(Kind::Array(list)) = member(&cfg, "mounts").map(|m| &m.kind) {
            for m in list {
                let dest = member(m, "destination").and_then(Value::as_str).unwrap_or_default();
                let src = member(m, "source").and_then(Value::as_str).unwrap_or_default();
                let kind = member(m, "type").and_then(Value::as_str).unwrap_or_default();
                let opts = member(m, "options").map(strings).unwrap_or_default();
                let is_bind = kind == "bind" || opts.iter().any(|o| o == "bind" || o == "rbind");
                let ro = opts.iter().any(|o| o == "ro");
                if is_bind {
                    mounts.push(Mount {
                        src: src.into(),
                        dest: dest.into(),
                        write: !ro,
                    });
                } else {
                    match kind {
                        "proc" | "tmpfs" | "devpts" | "mqueue" => {}
                        "sysfs" | "cgroup" | "cgroup2" if ro => {}
                        _ => self.v(
                            T,
                            format!("{kind} {dest}"),
                            "mount type not allowed (sysfs/cgroup only read-only)",
                        ),
                    }
                }
            }
        }
        let process = member(&cfg, "process");
        if let Some(caps) = process.and_then(|p| member(p, "capabilities")) {
            if let Kind::Object(sets) = &caps.kind {
                for (k, v) in sets {
                    for c in strings(v) {
                        self.v(T, format!("{} {c}", k.text), "grants a capability");
                    }
                }
            }
        }
        if !matches!(
            process.and_then(|p| member(p, "noNewPrivileges")).map(|v| &v.kind),
            Some(Kind::Bool(true))
        ) {
            self.v(T, "process.noNewPrivileges", "must be true");
        }
        if let Some(Value {
            kind: Kind::Number { raw, .. },
            ..
        }) = process.and_then(|p| member(p, "user")).and_then(|u| member(u, "uid"))
        {
            if raw == "0" {
                self.v(T, "process.user.uid 0", "runs as root");
            }
        }
        for e in process.and_then(|p| member(p, "env")).map(strings).unwrap_or_default() {
            match e.split_once('=') {
                Some((k, v)) => self.setenv(T, k, v),
                None => self.v(T, e, "env entry without a value"),
            }
        }
        if let Some(args) = process.and_then(|p| member(p, "args")) {
            self.command(T, &strings(args));
        }
        let linux = member(&cfg, "linux");
        let mut ns = Vec::new();
        if let Some(Kind::Array(list)) = linux.and_then(|l| member(l, "namespaces")).map(|v| &v.kind) {
            for n in list {
                let t = member(n, "type")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if member(n, "path").is_some() {
                    self.v(T, format!("namespace {t}"), "joins an existing namespace");
                } else {
                    ns.push(t);
                }
            }
        }
        let mut need = vec!["mount", "pid", "ipc", "uts"];
        if !self.d.egress {
            need.push("network");
        }
        for n in need {
            if !ns.iter().any(|x| x == n) {
                self.v(T, format!("namespace {n}"), "required namespace is not unshared");
            }
        }
        if let Some(Kind::Array(devs)) = linux.and_then(|l| member(l, "devices")).map(|v| &v.kind) {
            for d in devs {
                let p = member(d, "path").and_then(Value::as_str).unwrap_or_default();
                if !matches!(
                    p,
                    "/dev/null" | "/dev/zero" | "/dev/full" | "/dev/random" | "/dev/urandom" | "/dev/tty"
                ) {
                    self.v(T, format!("device {p}"), "exposes a host device");
                }
            }
        }
        for m in &mounts {
            self.mount(T, m);
        }
        self.ro_children(T, &mounts, true);
    }
}

// ---------------------------------------------------------------------------
// Addresses and ports (own parsers, no shared code with the lowering)

/// nftables words that pass a packet on or elsewhere (never in a reject rule).
const NFT_VERDICTS: &[&str] = &[
    "accept",
    "jump",
    "goto",
    "queue",
    "continue",
    "return",
    "dup",
    "fwd",
    "snat",
    "dnat",
    "masquerade",
    "redirect",
    "tproxy",
    "notrack",
];

/// Special ranges every artifact must deny to name-based rules.
const MUST_V4: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
];
/// squid keeps IPv4 as v4-mapped IPv6, so the IPv4 list covers mapped forms.
const MUST_V6_SQUID: &[&str] = &["::1/128", "::/128", "fc00::/7", "fe80::/10", "ff00::/8"];
const MUST_V6_NFT: &[&str] = &[
    "::1/128",
    "::/128",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
    "::ffff:0:0/96",
];

#[derive(Clone, Copy, Debug)]
struct Cidr {
    v4: bool,
    addr: u128,
    len: u8,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let s = s.trim_start_matches('[').trim_end_matches(']');
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let a = a.trim_end_matches(']').trim_start_matches('[');
        let ip: IpAddr = a.parse().ok()?;
        Some(Cidr::of(ip, l))
    }
    fn of(ip: IpAddr, len: Option<u8>) -> Cidr {
        match ip {
            IpAddr::V4(a) => Cidr {
                v4: true,
                addr: u32::from(a) as u128,
                len: len.unwrap_or(32).min(32),
            },
            IpAddr::V6(a) => Cidr {
                v4: false,
                addr: u128::from(a),
                len: len.unwrap_or(128).min(128),
            },
        }
    }
    fn bits(&self) -> u8 {
        if self.v4 {
            32
        } else {
            128
        }
    }
    fn net(&self, len: u8) -> u128 {
        let shift = self.bits() - len;
        if shift >= 128 {
            0
        } else {
            self.addr >> shift
        }
    }
    /// `other` lies inside `self`.
    fn contains(&self, other: &Cidr) -> bool {
        self.v4 == other.v4 && self.len <= other.len && self.net(self.len) == other.net(self.len)
    }
}

fn ip_host_covered(c: &Cidr, host: &Host) -> bool {
    match host {
        Host::Any => true,
        Host::Ip(ip) => Cidr::of(*ip, None).contains(c),
        Host::Cidr(ip, l) => Cidr::of(*ip, Some(*l)).contains(c),
        _ => false,
    }
}

fn squid_host_covered(kind: &str, value: &str, host: &Host) -> bool {
    match kind {
        "dst" => Cidr::parse(value).is_some_and(|c| ip_host_covered(&c, host)),
        "dstdomain" => {
            let v = value.to_ascii_lowercase();
            match host {
                Host::Any => true,
                Host::Name(n) => v == *n,
                // `.example.com` also matches example.com: a bare wildcard does not cover it.
                Host::Wildcard(s) => !v.starts_with('.') && v.ends_with(&format!(".{s}")),
                _ => false,
            }
        }
        "dstdom_regex" => match host {
            Host::Any => true,
            Host::Wildcard(s) => value == format!("\\.{}$", s.replace('.', "\\.")),
            _ => false,
        },
        _ => false,
    }
}

/// A squid/nft port value (`443` or `1000-2000`) inside the grant's ports.
fn port_in(p: &str, g: &NetGrant) -> bool {
    let (lo, hi) = match p.split_once('-') {
        Some((a, b)) => (a.parse::<u16>(), b.parse::<u16>()),
        None => (p.parse::<u16>(), p.parse::<u16>()),
    };
    match (lo, hi) {
        (Ok(lo), Ok(hi)) => lo <= hi && lo >= g.ports.lo && hi <= g.ports.hi,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
