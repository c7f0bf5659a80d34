//! Property tests over the library API (`capgate::compile`):
//!
//! (a) neutral rewrites (object key order, tool order, capability order,
//!     duplicates, equivalent spellings, whitespace, string escapes) give
//!     identical artifacts and key;
//! (b) changing one grant or param changes the key;
//! (c) arbitrary capability strings never panic, and every diagnostic has a span;
//! (d) arbitrary bytes never panic;
//! (e) invariants of accepted manifests: every bind source is declared, and
//!     squid never allows everything unless `*:*?private=allow` is granted.
//!
//! Case counts are modest so the file runs quickly in debug builds.

use capgate::json::{self, Json};
use capgate::{Compiled, Options};
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::collections::{BTreeMap, BTreeSet};

const PKG_VALUE: &str = "/opt/mcp/pkg";

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

fn opts() -> Options {
    Options {
        params: BTreeMap::from([("PKG".to_string(), PKG_VALUE.to_string())]),
        ..Options::default()
    }
}

// ---------------------------------------------------------------------------
// A tiny deterministic PRNG for the rewrites (seeded by proptest)

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

// ---------------------------------------------------------------------------
// A JSON tree we serialize ourselves (canonically, or with random layout)

#[derive(Clone, Debug)]
enum J {
    O(Vec<(String, J)>),
    A(Vec<J>),
    S(String),
    N(&'static str),
}

fn s(x: &str) -> J {
    J::S(x.to_string())
}

fn ws(rng: &mut Option<&mut Rng>, out: &mut String) {
    if let Some(r) = rng {
        for _ in 0..r.below(3) {
            out.push_str([" ", "\t", "\n", "\r\n", "  "][r.below(5)]);
        }
    }
}

fn write_str(text: &str, rng: &mut Option<&mut Rng>, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        let escape_anyway = match rng {
            Some(r) => r.chance(10),
            None => false,
        };
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            '/' if escape_anyway => out.push_str("\\/"),
            c if escape_anyway => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{:04X}", unit));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write(j: &J, rng: &mut Option<&mut Rng>, out: &mut String) {
    match j {
        J::S(t) => write_str(t, rng, out),
        J::N(n) => out.push_str(n),
        J::A(items) => {
            out.push('[');
            ws(rng, out);
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    ws(rng, out);
                }
                write(v, rng, out);
                ws(rng, out);
            }
            out.push(']');
        }
        J::O(members) => {
            let mut order: Vec<usize> = (0..members.len()).collect();
            if let Some(r) = rng {
                r.shuffle(&mut order);
            }
            out.push('{');
            ws(rng, out);
            for (n, i) in order.into_iter().enumerate() {
                if n > 0 {
                    out.push(',');
                    ws(rng, out);
                }
                let (k, v) = &members[i];
                write_str(k, rng, out);
                ws(rng, out);
                out.push(':');
                ws(rng, out);
                write(v, rng, out);
                ws(rng, out);
            }
            out.push('}');
        }
    }
}

fn serialize(j: &J, rng: Option<&mut Rng>) -> String {
    let mut rng = rng;
    let mut out = String::new();
    ws(&mut rng, &mut out);
    write(j, &mut rng, &mut out);
    ws(&mut rng, &mut out);
    out
}

// ---------------------------------------------------------------------------
// The manifest model and its generator

/// What a generated capability grants, for the invariant checks.
#[derive(Clone, Debug, PartialEq)]
enum Meta {
    Fs {
        path: String,
        writable: bool,
    },
    Net {
        any_host: bool,
        any_port: bool,
        private: bool,
        connect: bool,
    },
    Unix(String),
    X11,
    DbusSystem,
    Tzdata,
    Other,
}

#[derive(Clone, Debug)]
struct Cap {
    text: String,
    why: Option<String>,
    meta: Meta,
}

#[derive(Clone, Debug)]
struct Tool {
    name: String,
    description: Option<String>,
    schema: bool,
    caps: Vec<Cap>,
}

#[derive(Clone, Debug)]
struct Model {
    profile: Option<&'static str>,
    image: Option<&'static str>,
    command: bool,
    extras: bool,
    server: Vec<Cap>,
    tools: Vec<Tool>,
}

impl Model {
    fn all_caps(&self) -> impl Iterator<Item = &Cap> {
        self.server.iter().chain(self.tools.iter().flat_map(|t| t.caps.iter()))
    }
    fn profile(&self) -> &str {
        self.profile.unwrap_or("debian")
    }
}

const FS_PATHS: &[&str] = &[
    "/srv/mcp/data",
    "/srv/mcp/data/sub",
    "/srv/mcp/data/sub/deeper",
    "/srv/mcp/data-b",
    "/srv/mcp/données",
    "/workspace",
    "/workspace/proj",
    "/workspace/proj/.git",
    "/var/lib/app/state.db",
    "/data/app.db",
    "/tmp/mcp-demo",
    "/tmp",
    "/usr/share/zoneinfo",
    "/tmp/.X11-unix",
    "/srv/mcp/app.sock",
    "/usr/local/share/app",
    "/nix/store/abc-node",
    "${PKG}",
    "${PKG}/cache",
];

fn fs_cap() -> impl Strategy<Value = Cap> {
    (
        prop::sample::select(FS_PATHS),
        prop::sample::select(vec!["", "/**", "/*"]),
        prop::sample::subsequence(vec!["read", "write", "create", "delete", "exec"], 1..=5),
        any::<bool>(),
        0u8..8,
    )
        .prop_map(|(path, glob, actions, optional, sens)| {
            // A sensitive path that needs ?sensitive=allow, now and then.
            let (path, sensitive) = if sens == 0 {
                ("/etc/ssl/certs", true)
            } else {
                (path, false)
            };
            let mut refs = Vec::new();
            if optional {
                refs.push("optional=true");
            }
            if sensitive {
                refs.push("sensitive=allow");
            }
            let mut text = format!("fs:{}:{path}{glob}", actions.join(","));
            if !refs.is_empty() {
                text.push('?');
                text.push_str(&refs.join("&"));
            }
            let writable = actions.iter().any(|a| matches!(*a, "write" | "create" | "delete"));
            Cap {
                text,
                why: None,
                meta: Meta::Fs {
                    path: path.replace("${PKG}", PKG_VALUE),
                    writable,
                },
            }
        })
}

const HOSTS: &[&str] = &[
    "api.example.com",
    "API.Example.org",
    "*.example.org",
    "*",
    "10.0.0.5",
    "93.184.216.34",
    "192.168.1.0/24",
    "[2001:db8::1]",
    "[fd00::/8]",
    "localhost",
    "10.example.com",
];
const PORTS: &[&str] = &["443", "80", "8000-9000", "*", "5432"];

fn net_cap() -> impl Strategy<Value = Cap> {
    (
        prop::sample::subsequence(vec!["connect", "listen"], 1..=2),
        prop::sample::select(HOSTS),
        prop::sample::select(PORTS),
        any::<bool>(),
        0u8..4,
    )
        .prop_map(|(actions, host, port, private, proto)| {
            let udp = proto == 0;
            let mut refs = Vec::new();
            if private {
                refs.push("private=allow");
            }
            if udp {
                refs.push("proto=udp");
            }
            let mut text = format!("net:{}:{host}:{port}", actions.join(","));
            if !refs.is_empty() {
                text.push('?');
                text.push_str(&refs.join("&"));
            }
            Cap {
                text,
                why: None,
                meta: Meta::Net {
                    any_host: host == "*",
                    any_port: port == "*",
                    private,
                    connect: actions.contains(&"connect"),
                },
            }
        })
}

const OTHER_CAPS: &[(&str, u8)] = &[
    ("env:read:LOG_LEVEL", 0),
    ("env:read:GITHUB_TOKEN", 0),
    ("env:inject:GITHUB_TOKEN", 0),
    ("env:inject:API_KEY", 0),
    ("env:read:A_B", 0),
    ("env:read:A1", 0),
    ("env:inject:AA", 0),
    ("env:read:AB", 0),
    ("env:set:MODE=prod", 0),
    ("env:set:HOME=/srv/mcp/home", 0),
    ("env:set:NODE_OPTIONS=--max-old-space-size=256?sensitive=allow", 0),
    ("env:read:LD_PRELOAD?sensitive=allow", 0),
    ("exec:spawn:git", 0),
    ("exec:spawn:/usr/bin/python3", 0),
    ("exec:spawn:chromium?nestedSandbox=true", 0),
    ("exec:spawn:rg", 0),
    ("ipc:connect:x11", 2),
    ("ipc:connect:wayland", 0),
    ("ipc:connect:dbus:session", 0),
    ("ipc:connect:dbus:system", 3),
    ("ipc:connect:unix:/srv/mcp/app.sock", 1),
    ("ipc:connect:unix:/srv/mcp/run/app.sock?optional=true", 1),
    ("clock:read:system", 0),
    ("clock:read:tzdata", 4),
    ("limit:set:memory=512MiB", 0),
    ("limit:set:pids=256", 0),
    ("limit:set:cpu=500m", 0),
    ("limit:set:nofile=1024", 0),
    ("limit:set:tmpfs=64MiB", 0),
    ("assert:require:pg.read_only", 0),
    ("assert:require:net.tls:all requests use TLS 1.2+? yes: always", 0),
];

fn other_cap() -> impl Strategy<Value = Cap> {
    prop::sample::select(OTHER_CAPS).prop_map(|(text, m)| {
        let meta = match m {
            1 => Meta::Unix(
                text.split("unix:")
                    .nth(1)
                    .unwrap()
                    .split('?')
                    .next()
                    .unwrap()
                    .to_string(),
            ),
            2 => Meta::X11,
            3 => Meta::DbusSystem,
            4 => Meta::Tzdata,
            _ => Meta::Other,
        };
        Cap {
            text: text.to_string(),
            why: None,
            meta,
        }
    })
}

fn cap() -> impl Strategy<Value = Cap> {
    (
        prop_oneof![3 => fs_cap(), 3 => net_cap(), 4 => other_cap()],
        prop::option::weighted(0.4, "[a-zA-Z0-9 .,;:'\"\\\\/?&=é漢-]{1,16}"),
    )
        .prop_map(|(mut c, why)| {
            c.why = why;
            c
        })
}

/// A capability list without exact duplicates (duplicates are added by the rewrites).
fn cap_list(max: usize) -> impl Strategy<Value = Vec<Cap>> {
    prop::collection::vec(cap(), 0..max).prop_map(|v| {
        let mut seen = BTreeSet::new();
        v.into_iter()
            .filter(|c| seen.insert((c.text.clone(), c.why.clone())))
            .collect()
    })
}

const TOOL_NAMES: &[&str] = &["read_file", "write_file", "fetch", "search", "list_dir", "run"];

fn model() -> impl Strategy<Value = Model> {
    (
        prop::sample::select(vec![None, Some("debian"), Some("nix"), Some("none")]),
        prop::option::weighted(0.3, Just("registry.example/team/server@sha256:0123abcd")),
        any::<bool>(),
        any::<bool>(),
        cap_list(6),
        prop::sample::subsequence(TOOL_NAMES, 0..=4),
        prop::collection::vec((cap_list(6), any::<bool>(), any::<bool>()), 4),
    )
        .prop_map(|(profile, image, command, extras, server, names, tool_caps)| Model {
            profile,
            image,
            command,
            extras,
            server,
            tools: names
                .into_iter()
                .zip(tool_caps)
                .map(|(name, (caps, d, schema))| Tool {
                    name: name.to_string(),
                    description: d.then(|| format!("the {name} tool")),
                    schema,
                    caps,
                })
                .collect(),
        })
}

/// Rewrite a capability into an equivalent spelling: permute the action
/// list and the refinements.
fn respell(text: &str, rng: &mut Rng) -> String {
    if text.starts_with("assert:") {
        return text.to_string();
    }
    let (body, refs) = match text.find('?') {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let mut parts = body.splitn(3, ':');
    let (kind, actions, rest) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let mut acts: Vec<&str> = actions.split(',').collect();
    rng.shuffle(&mut acts);
    let mut out = format!("{kind}:{}:{rest}", acts.join(","));
    if let Some(r) = refs {
        let mut pairs: Vec<&str> = r.split('&').collect();
        rng.shuffle(&mut pairs);
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

fn cap_json(c: &Cap, text: String, rng: Option<&mut Rng>) -> J {
    let as_object = match rng {
        Some(r) => r.chance(50),
        None => false,
    };
    match &c.why {
        Some(w) => J::O(vec![("cap".into(), J::S(text)), ("why".into(), s(w))]),
        None if as_object => J::O(vec![("cap".into(), J::S(text))]),
        None => J::S(text),
    }
}

fn caps_json(caps: &[Cap], rng: Option<&mut Rng>) -> J {
    match rng {
        None => J::A(caps.iter().map(|c| cap_json(c, c.text.clone(), None)).collect()),
        Some(r) => {
            let mut items: Vec<&Cap> = caps.iter().collect();
            // Duplicates, some of them respelled.
            for c in caps {
                if r.chance(30) {
                    items.push(c);
                }
            }
            r.shuffle(&mut items);
            J::A(
                items
                    .into_iter()
                    .map(|c| {
                        let text = if r.chance(50) {
                            respell(&c.text, r)
                        } else {
                            c.text.clone()
                        };
                        cap_json(c, text, Some(&mut *r))
                    })
                    .collect(),
            )
        }
    }
}

/// The manifest as JSON; with `rng`, tool order and capability lists are
/// rewritten neutrally (key order and layout are the serializer's job).
fn to_json(m: &Model, mut rng: Option<&mut Rng>) -> J {
    let mut o = vec![
        ("grammar".to_string(), s("1")),
        ("name".to_string(), s("prop-server")),
        ("version".to_string(), s("1.0.0")),
        (
            "params".to_string(),
            J::O(vec![(
                "PKG".into(),
                J::O(vec![("description".into(), s("package dir"))]),
            )]),
        ),
    ];
    if let Some(p) = m.profile {
        o.push(("profile".into(), s(p)));
    }
    if let Some(i) = m.image {
        o.push(("image".into(), s(i)));
    }
    if m.command {
        o.push((
            "command".into(),
            J::A(vec![s("/usr/bin/node"), s("${PKG}/dist/index.js"), s("--stdio")]),
        ));
    }
    if m.extras {
        o.push(("$schema".into(), s("https://example.invalid/capgate.schema.json")));
        o.push((
            "x-owner".into(),
            J::O(vec![("team".into(), s("platform")), ("n".into(), J::N("3"))]),
        ));
    }
    o.push(("capabilities".into(), caps_json(&m.server, rng.as_deref_mut())));
    let mut tools: Vec<J> = m
        .tools
        .iter()
        .map(|t| {
            let mut to = vec![("name".to_string(), s(&t.name))];
            if let Some(d) = &t.description {
                to.push(("description".into(), s(d)));
            }
            if t.schema {
                to.push((
                    "inputSchema".into(),
                    J::O(vec![
                        ("type".into(), s("object")),
                        (
                            "properties".into(),
                            J::O(vec![(
                                "q".into(),
                                J::O(vec![
                                    ("type".into(), s("number")),
                                    ("minimum".into(), J::N("0.5")),
                                    ("maximum".into(), J::N("1e3")),
                                ]),
                            )]),
                        ),
                        ("required".into(), J::A(vec![s("q")])),
                    ]),
                ));
            }
            to.push(("capabilities".into(), caps_json(&t.caps, rng.as_deref_mut())));
            J::O(to)
        })
        .collect();
    if let Some(r) = rng {
        r.shuffle(&mut tools);
    }
    o.push(("tools".into(), J::A(tools)));
    J::O(o)
}

fn canonical_text(m: &Model) -> String {
    serialize(&to_json(m, None), None)
}

fn rewritten_text(m: &Model, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let j = to_json(m, Some(&mut rng));
    let mut rng2 = Rng::new(seed.rotate_left(17));
    serialize(&j, Some(&mut rng2))
}

fn must_compile(text: &str) -> Compiled {
    match capgate::compile(text.as_bytes(), &opts()) {
        Ok(c) => c,
        Err(d) => panic!("generated manifest rejected:\n{d}\n{text}"),
    }
}

// ---------------------------------------------------------------------------
// Helpers over artifacts

fn parse_json(bytes: &[u8]) -> Json {
    json::parse(std::str::from_utf8(bytes).unwrap()).unwrap().to_json()
}

fn field<'a>(j: &'a Json, k: &str) -> &'a Json {
    match j {
        Json::Object(m) => m.get(k).unwrap_or_else(|| panic!("no `{k}`")),
        _ => panic!("not an object"),
    }
}

fn strings(j: &Json) -> Vec<String> {
    match j {
        Json::Array(a) => a
            .iter()
            .map(|x| match x {
                Json::Str(s) => s.clone(),
                other => panic!("not a string: {other:?}"),
            })
            .collect(),
        _ => panic!("not an array"),
    }
}

fn is_under(p: &str, parent: &str) -> bool {
    parent == "/" || p == parent || p.starts_with(&format!("{parent}/"))
}

/// bwrap options and how many values each takes.
fn bwrap_arity(opt: &str) -> Option<usize> {
    Some(match opt {
        "--unshare-all"
        | "--unshare-user"
        | "--unshare-user-try"
        | "--unshare-ipc"
        | "--unshare-pid"
        | "--unshare-net"
        | "--unshare-uts"
        | "--unshare-cgroup"
        | "--unshare-cgroup-try"
        | "--share-net"
        | "--disable-userns"
        | "--assert-userns-disabled"
        | "--die-with-parent"
        | "--new-session"
        | "--clearenv"
        | "--as-pid-1" => 0,
        "--cap-drop" | "--cap-add" | "--hostname" | "--proc" | "--dev" | "--tmpfs" | "--mqueue" | "--dir"
        | "--remount-ro" | "--chdir" | "--unsetenv" | "--uid" | "--gid" | "--size" | "--perms" | "--seccomp"
        | "--add-seccomp-fd" | "--userns" | "--userns2" | "--pidns" | "--info-fd" | "--json-status-fd"
        | "--sync-fd" | "--block-fd" | "--userns-block-fd" | "--lock-file" | "--exec-label" | "--file-label"
        | "--argv0" => 1,
        "--bind" | "--bind-try" | "--ro-bind" | "--ro-bind-try" | "--dev-bind" | "--dev-bind-try" | "--symlink"
        | "--setenv" | "--file" | "--bind-data" | "--ro-bind-data" | "--chmod" => 2,
        _ => return None,
    })
}

/// (flag, source, destination) of every bind in a bwrap argv (options only).
fn bwrap_binds(argv: &[String]) -> Vec<(String, String, String)> {
    assert_eq!(argv[0], "bwrap");
    let mut out = Vec::new();
    let mut i = 1;
    while i < argv.len() {
        let opt = &argv[i];
        if opt == "--" {
            break;
        }
        let n = bwrap_arity(opt).unwrap_or_else(|| panic!("unexpected bwrap option `{opt}` in {argv:?}"));
        assert!(i + n < argv.len(), "{opt} lacks its values");
        if opt.contains("bind") {
            out.push((opt.clone(), argv[i + 1].clone(), argv[i + 2].clone()));
        }
        i += 1 + n;
    }
    assert!(i < argv.len(), "no `--` in the bwrap argv");
    out
}

/// Why a bind source is allowed, or None.
fn allowed_source(m: &Model, src: &str, rw: bool) -> bool {
    let caps: Vec<&Cap> = m.all_caps().collect();
    let has = |meta: &Meta| caps.iter().any(|c| &c.meta == meta);
    let fs_ok = caps.iter().any(|c| match &c.meta {
        Meta::Fs { path, writable } => is_under(src, path) && (!rw || *writable),
        _ => false,
    });
    if fs_ok {
        return true;
    }
    if rw {
        return false;
    }
    let baseline = match m.profile() {
        "debian" => src == "/usr",
        "nix" => src == "/nix/store",
        _ => false,
    };
    baseline
        || caps.iter().any(|c| matches!(&c.meta, Meta::Unix(p) if p == src))
        || (src == "/tmp/.X11-unix" && has(&Meta::X11))
        || (src == "/run/dbus/system_bus_socket" && has(&Meta::DbusSystem))
        || ((src == "/etc/localtime" || src == "/usr/share/zoneinfo") && has(&Meta::Tzdata))
}

// ---------------------------------------------------------------------------
// (a) neutral rewrites change nothing

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn neutral_rewrites_give_identical_artifacts_and_key(m in model(), seed in any::<u64>()) {
        let a = canonical_text(&m);
        let b = rewritten_text(&m, seed);
        let ca = must_compile(&a);
        let cb = match capgate::compile(b.as_bytes(), &opts()) {
            Ok(c) => c,
            Err(d) => panic!("rewritten manifest rejected:\n{d}\ncanonical:\n{a}\nrewritten:\n{b}"),
        };
        prop_assert_eq!(&ca.key, &cb.key, "\n{}\n{}", a, b);
        for (x, y) in ca.artifacts.iter().zip(cb.artifacts.iter()) {
            prop_assert_eq!(&x.path, &y.path);
            prop_assert!(x.bytes == y.bytes, "{} differs\n{}\n---\n{}", x.path,
                String::from_utf8_lossy(&x.bytes), String::from_utf8_lossy(&y.bytes));
        }
        prop_assert_eq!(ca.artifacts.len(), cb.artifacts.len());
        prop_assert_eq!(capgate::key(b.as_bytes(), &opts()).unwrap(), ca.key.clone());
        // Compiling twice is deterministic.
        prop_assert_eq!(must_compile(&a).artifacts, ca.artifacts);
    }
}

// ---------------------------------------------------------------------------
// (b) changing one grant changes the key

#[derive(Clone, Copy, Debug)]
enum Mutation {
    AddCapability,
    FlipReadToWrite,
    ChangePort,
    ChangeHost,
    ChangeParam,
    InjectToRead,
    ChangeSocket,
    AddAction,
    AddRefinement,
}

const MUTATIONS: &[Mutation] = &[
    Mutation::AddCapability,
    Mutation::FlipReadToWrite,
    Mutation::ChangePort,
    Mutation::ChangeHost,
    Mutation::ChangeParam,
    Mutation::InjectToRead,
    Mutation::ChangeSocket,
    Mutation::AddAction,
    Mutation::AddRefinement,
];

/// The target grants every mutation test carries, before and after.
fn targets(mutation: Mutation) -> (Vec<&'static str>, Vec<&'static str>) {
    let base = vec![
        "fs:read:/srv/mcp/target/**",
        "net:connect:target.example.net:443",
        "env:inject:TARGET_SECRET",
        "ipc:connect:unix:/srv/mcp/target.sock",
    ];
    let mut after = base.clone();
    match mutation {
        Mutation::AddCapability => after.push("fs:read:/srv/mcp/fresh"),
        Mutation::FlipReadToWrite => after[0] = "fs:write:/srv/mcp/target/**",
        Mutation::ChangePort => after[1] = "net:connect:target.example.net:8443",
        Mutation::ChangeHost => after[1] = "net:connect:target2.example.net:443",
        Mutation::ChangeParam => {}
        Mutation::InjectToRead => after[2] = "env:read:TARGET_SECRET",
        Mutation::ChangeSocket => after[3] = "ipc:connect:unix:/srv/mcp/target2.sock",
        Mutation::AddAction => after[0] = "fs:read,exec:/srv/mcp/target/**",
        Mutation::AddRefinement => after[1] = "net:connect:target.example.net:443?private=allow",
    }
    (base, after)
}

fn with_targets(m: &Model, caps: &[&str], slot: usize) -> Model {
    let mut m = m.clone();
    let extra: Vec<Cap> = caps
        .iter()
        .map(|t| Cap {
            text: t.to_string(),
            why: None,
            meta: Meta::Other,
        })
        .collect();
    if m.tools.is_empty() || slot % (m.tools.len() + 1) == 0 {
        m.server.extend(extra);
    } else {
        let i = slot % (m.tools.len() + 1) - 1;
        m.tools[i].caps.extend(extra);
    }
    m
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn changing_one_grant_changes_the_key(
        m in model(),
        mutation in prop::sample::select(MUTATIONS),
        slot in 0usize..8,
        seed in any::<u64>(),
    ) {
        let (before, after) = targets(mutation);
        let a = canonical_text(&with_targets(&m, &before, slot));
        // The changed manifest is also neutrally rewritten: only the grant counts.
        let b = rewritten_text(&with_targets(&m, &after, slot), seed);
        let mut opts_b = opts();
        if let Mutation::ChangeParam = mutation {
            opts_b.params.insert("PKG".into(), "/opt/mcp/pkg2".into());
        }
        let ca = must_compile(&a);
        let cb = match capgate::compile(b.as_bytes(), &opts_b) {
            Ok(c) => c,
            Err(d) => panic!("mutated manifest rejected:\n{d}\n{b}"),
        };
        prop_assert_ne!(&ca.key, &cb.key, "{:?} did not change the key\n{}\n{}", mutation, a, b);
        prop_assert_eq!(capgate::key(b.as_bytes(), &opts_b).unwrap(), cb.key.clone());
        // policy.json records the change too.
        prop_assert_ne!(
            &ca.artifact("policy.json").unwrap().bytes,
            &cb.artifact("policy.json").unwrap().bytes
        );
        if let Mutation::FlipReadToWrite = mutation {
            let argv = parse_json(&cb.artifact("bwrap/argv.json").unwrap().bytes);
            let binds = bwrap_binds(&strings(field(&argv, "argv")));
            prop_assert!(
                binds.iter().any(|(f, s, _)| f.starts_with("--bind") && s == "/srv/mcp/target"),
                "{:?}", binds
            );
        }
    }
}

// ---------------------------------------------------------------------------
// (c) arbitrary capability strings

const SCOPE_TOKENS: &[&str] = &[
    "/",
    "..",
    ".",
    ":",
    "?",
    "&",
    "=",
    "[",
    "]",
    "*",
    "**",
    "a",
    "srv",
    "mcp",
    "data",
    "${PKG}",
    "${X}",
    "${",
    "}",
    "\n",
    "\r",
    "\t",
    "\u{0}",
    "\u{7f}",
    "\u{202e}",
    "\u{200b}",
    "\u{2028}",
    "\u{feff}",
    "é",
    "漢",
    "а",
    " ",
    "localhost",
    "443",
    "65536",
    "-",
    "%2e",
    "\\",
    "\"",
    "sensitive=allow",
    "optional=true",
    "nestedSandbox=true",
    "private=allow",
    "proto=udp",
    "unix:",
    "x11",
    "dbus:system",
    "dbus:",
    "require:",
    "memory=",
    "512MiB",
    "0",
    "1",
    "::1",
    "[::1]",
    "127.0.0.1",
    "0x7f.1",
    "10.0.0.0/8",
    "/**",
    "/*",
    "~",
    "$HOME",
    "etc",
    "proc",
    ".ssh",
    "docker.sock",
    "run",
];
const KIND_TOKENS: &[&str] = &[
    "fs", "net", "env", "exec", "ipc", "clock", "limit", "assert", "", "FS", "bogus", "fs ", "n\u{0}et",
];
const ACTION_TOKENS: &[&str] = &[
    "read",
    "write",
    "create",
    "delete",
    "exec",
    "connect",
    "listen",
    "inject",
    "set",
    "spawn",
    "require",
    "",
    "read,write",
    "read,,write",
    "set,read",
    "READ",
    " read",
    "read,read",
    "tzdata",
];

fn arbitrary_cap() -> impl Strategy<Value = String> {
    let structured = (
        prop::sample::select(KIND_TOKENS),
        prop::sample::select(ACTION_TOKENS),
        prop::collection::vec(prop::sample::select(SCOPE_TOKENS), 0..10),
        0u8..4,
    )
        .prop_map(|(k, a, scope, shape)| match shape {
            0 => format!("{k}:{a}:{}", scope.concat()),
            1 => format!("{k}:{}", scope.concat()),
            2 => format!("{k}:{a}:{}?{}", scope.concat(), scope.join("&")),
            _ => scope.concat(),
        });
    prop_oneof![
        3 => structured,
        1 => any::<String>(),
        1 => "[ -~]{0,40}",
        1 => "(fs|net|env|exec|ipc|clock|limit|assert):[a-z,]{0,12}:[/a-z.:?&=\\[\\]*0-9-]{0,30}",
    ]
}

fn manifest_with_cap(cap: &str, compat: bool, object: bool, server: bool) -> String {
    let mut c = String::new();
    let cap_json = if object {
        let mut t = String::from("{\"cap\": ");
        write_str(cap, &mut None, &mut t);
        t.push_str(", \"why\": \"testing\"}");
        t
    } else {
        let mut t = String::new();
        write_str(cap, &mut None, &mut t);
        t
    };
    c.push('{');
    if !compat {
        c.push_str("\"grammar\": \"1\", ");
    }
    c.push_str("\"name\": \"fuzz\", \"version\": \"1\", \"params\": {\"PKG\": {\"description\": \"p\"}}, ");
    c.push_str("\"command\": [\"/usr/bin/node\", \"${PKG}/index.js\"], ");
    let list = format!("[\"fs:read:${{PKG}}/**\", {cap_json}]");
    let key = if compat { "serverCapabilities" } else { "capabilities" };
    if server {
        c.push_str(&format!("\"{key}\": {list}, \"tools\": []}}"));
    } else {
        c.push_str(&format!("\"tools\": [{{\"name\": \"t\", \"capabilities\": {list}}}]}}"));
    }
    c
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_capabilities_never_panic_and_diagnostics_have_spans(
        cap in arbitrary_cap(),
        compat in any::<bool>(),
        object in any::<bool>(),
        server in any::<bool>(),
    ) {
        let text = manifest_with_cap(&cap, compat, object, server);
        for strict in [false, true] {
            let o = Options { strict, ..opts() };
            match capgate::compile(text.as_bytes(), &o) {
                Ok(c) => {
                    prop_assert!(!c.artifacts.is_empty());
                    prop_assert_eq!(c.artifacts.last().unwrap().path.as_str(), "index.json");
                    for w in c.warnings.iter() {
                        prop_assert!(w.span.is_some(), "warning without span: {:?} for {:?}", w, cap);
                    }
                }
                Err(ds) => {
                    prop_assert!(!ds.is_empty());
                    prop_assert!(ds.has_errors(), "rejected without an error: {ds:?}");
                    for d in ds.iter() {
                        prop_assert!(d.span.is_some(), "diagnostic without span: {:?} for {:?}", d, cap);
                        let sp = d.span.unwrap();
                        prop_assert!(sp.start <= sp.end && sp.end <= text.len(), "span out of range: {:?} for {:?}", d, cap);
                        // Rendering never panics either.
                        let _ = capgate::diag::render_human(d, &text, "capgate.json");
                        let _ = capgate::diag::render_json(d, &text, "capgate.json");
                    }
                }
            }
            let _ = capgate::key(text.as_bytes(), &o);
        }
    }
}

// ---------------------------------------------------------------------------
// (d) arbitrary bytes

fn mutated_manifest() -> impl Strategy<Value = Vec<u8>> {
    let base = canonical_text(&Model {
        profile: Some("nix"),
        image: None,
        command: true,
        extras: true,
        server: vec![Cap {
            text: "fs:read:${PKG}/**".into(),
            why: Some("code".into()),
            meta: Meta::Other,
        }],
        tools: vec![Tool {
            name: "fetch".into(),
            description: Some("d".into()),
            schema: true,
            caps: vec![
                Cap {
                    text: "net:connect:api.example.com:443".into(),
                    why: None,
                    meta: Meta::Other,
                },
                Cap {
                    text: "ipc:connect:unix:/srv/mcp/app.sock".into(),
                    why: None,
                    meta: Meta::Other,
                },
            ],
        }],
    })
    .into_bytes();
    prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..8).prop_map(move |edits| {
        let mut b = base.clone();
        for (at, op, byte) in edits {
            if b.is_empty() {
                b.push(byte);
                continue;
            }
            let i = at.index(b.len());
            match op {
                0 => b[i] = byte,
                1 => {
                    b.remove(i);
                }
                _ => b.insert(i, byte),
            }
        }
        b
    })
}

fn json_ish() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        "-?[0-9]{1,3}(\\.[0-9])?".prop_map(|s| s),
        "[a-z:/*.?${}]{0,12}".prop_map(|s| format!("\"{s}\"")),
    ];
    let value = leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(
                (
                    prop::sample::select(
                        &[
                            "grammar",
                            "name",
                            "version",
                            "profile",
                            "image",
                            "command",
                            "params",
                            "capabilities",
                            "serverCapabilities",
                            "tools",
                            "cap",
                            "why",
                            "description",
                            "inputSchema",
                            "x-a",
                            "$schema",
                            "PKG",
                            "bogus",
                        ][..]
                    ),
                    inner
                ),
                0..6
            )
            .prop_map(|v| format!(
                "{{{}}}",
                v.iter()
                    .map(|(k, x)| format!("\"{k}\":{x}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
        ]
    });
    value
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..512),
        3 => mutated_manifest(),
        3 => json_ish().prop_map(String::into_bytes),
    ]) {
        let o = opts();
        let _ = capgate::compile(&bytes, &o);
        let _ = capgate::key(&bytes, &o);
        let _ = capgate::compile(&bytes, &Options::default());
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = json::parse(text);
        }
    }
}

#[test]
fn deep_nesting_and_huge_inputs_do_not_crash() {
    for text in [
        "[".repeat(200_000),
        "{\"a\":".repeat(100_000),
        format!("{{\"x-a\": {}1{}}}", "[".repeat(70), "]".repeat(70)),
        format!("{{\"name\": \"{}\"}}", "a".repeat(5 * 1024 * 1024)),
        "\"\\ud800\"".to_string(),
        "{\"name\": \"\\ud800\", \"version\": \"\\udc00\\ud800\"}".to_string(),
        "\u{feff}{}".to_string(),
        String::new(),
    ] {
        let r = capgate::compile(text.as_bytes(), &opts());
        assert!(r.is_err());
    }
}

// ---------------------------------------------------------------------------
// (e) invariants of accepted manifests

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn every_bind_source_is_declared(m in model()) {
        let text = canonical_text(&m);
        let c = must_compile(&text);
        let argv = parse_json(&c.artifact("bwrap/argv.json").unwrap().bytes);
        let argv = strings(field(&argv, "argv"));
        for (flag, src, dst) in bwrap_binds(&argv) {
            prop_assert!(!flag.starts_with("--dev-bind"), "{} in {:?}", flag, argv);
            prop_assert_eq!(&src, &dst, "a bind maps {} to another path", src);
            let rw = flag == "--bind" || flag == "--bind-try";
            prop_assert!(
                allowed_source(&m, &src, rw),
                "bwrap {} {} is not declared by the manifest\n{}", flag, src, text
            );
        }
        prop_assert!(!argv.iter().any(|a| a == "--share-net"), "bwrap shares the host network");

        // The docker volumes obey the same rule.
        let docker = parse_json(&c.artifact("docker/argv.json").unwrap().bytes);
        let flags = strings(field(&docker, "flags"));
        for w in flags.windows(2) {
            if w[0] == "-v" || w[0] == "--volume" || w[0] == "--mount" {
                let parts: Vec<&str> = w[1].split(':').collect();
                prop_assert_eq!(parts.len(), 3, "{}", w[1]);
                prop_assert_eq!(parts[0], parts[1]);
                let rw = parts[2] == "rw";
                prop_assert!(allowed_source(&m, parts[0], rw), "docker -v {} is not declared\n{}", w[1], text);
            }
        }
        let networks: Vec<&String> = flags.windows(2).filter(|w| w[0] == "--network").map(|w| &w[1]).collect();
        prop_assert_eq!(networks, vec!["none"]);
    }

    /// bwrap applies mounts in order (the last one wins), so a declared
    /// write must not be lost under a later read-only mount of the same path
    /// (the TypeScript "double binds" hole).
    #[test]
    fn no_declared_write_is_lost_in_bwrap(m in model()) {
        let text = canonical_text(&m);
        let c = must_compile(&text);
        let argv = parse_json(&c.artifact("bwrap/argv.json").unwrap().bytes);
        let b = bwrap_binds(&strings(field(&argv, "argv")));
        for cap in m.all_caps() {
            let Meta::Fs { path, writable: true } = &cap.meta else { continue };
            match b.iter().rev().find(|(_, _, d)| d == path) {
                Some((flag, _, _)) => prop_assert!(
                    flag.starts_with("--bind"),
                    "the write of `{}` is lost: the last mount of {} is {}\n{:?}\n{}", cap.text, path, flag, b, text
                ),
                None => prop_assert!(
                    b.iter().any(|(f, _, d)| f.starts_with("--bind") && is_under(path, d)),
                    "`{}` has no writable mount\n{:?}", cap.text, b
                ),
            }
        }
    }

    /// docker and podman reject two mounts at one destination (`-v` or
    /// `--tmpfs`), so the flags must name each destination once.
    #[test]
    fn docker_never_mounts_a_destination_twice(m in model()) {
        let text = canonical_text(&m);
        let c = must_compile(&text);
        let docker = parse_json(&c.artifact("docker/argv.json").unwrap().bytes);
        let flags = strings(field(&docker, "flags"));
        let mut dests: Vec<String> = flags
            .windows(2)
            .filter_map(|w| match w[0].as_str() {
                "-v" | "--volume" => Some(w[1].split(':').nth(1).unwrap().to_string()),
                "--tmpfs" => Some(w[1].split(':').next().unwrap().to_string()),
                _ => None,
            })
            .collect();
        let n = dests.len();
        dests.sort();
        dests.dedup();
        prop_assert_eq!(n, dests.len(), "docker mounts a destination twice: {:?}\n{}", flags, text);
    }

    #[test]
    fn args0_is_the_argv_options(m in model()) {
        let c = must_compile(&canonical_text(&m));
        let argv = parse_json(&c.artifact("bwrap/argv.json").unwrap().bytes);
        let argv = strings(field(&argv, "argv"));
        let end = argv.iter().position(|a| a == "--").unwrap();
        let mut expected = Vec::new();
        for a in &argv[1..end] {
            expected.extend_from_slice(a.as_bytes());
            expected.push(0);
        }
        prop_assert_eq!(&c.artifact("bwrap/args0").unwrap().bytes, &expected);
    }

    #[test]
    fn squid_never_allows_all_without_a_private_star_grant(m in model()) {
        let text = canonical_text(&m);
        let c = must_compile(&text);
        let squid = String::from_utf8(c.artifact("egress/squid.conf").unwrap().bytes.clone()).unwrap();
        let justified = m.all_caps().any(|c| matches!(
            c.meta,
            Meta::Net { any_host: true, any_port: true, private: true, .. }
        ));
        if !justified {
            for line in squid.lines() {
                prop_assert!(
                    !line.starts_with("http_access allow all"),
                    "squid.conf allows all without net:*:*?private=allow:\n{}\n--- manifest:\n{}", squid, text
                );
            }
        }
        prop_assert_eq!(squid.lines().last(), Some("http_access deny all"));
        prop_assert!(squid.ends_with('\n'));
    }

    #[test]
    fn squid_name_rules_never_reach_special_ranges(m in model()) {
        let text = canonical_text(&m);
        let c = must_compile(&text);
        let squid = String::from_utf8(c.artifact("egress/squid.conf").unwrap().bytes.clone()).unwrap();
        let mut current: Option<String> = None;
        let mut denied_special = false;
        for line in squid.lines() {
            if line == "http_access deny capgate_special" {
                denied_special = true;
            }
            if let Some(rest) = line.strip_prefix("# [") {
                current = rest.split_once("] ").map(|(_, c)| c.to_string());
            }
            if !line.starts_with("http_access allow") {
                continue;
            }
            let canonical = current.take().unwrap_or_else(|| panic!("allow line without a rule comment:\n{squid}"));
            prop_assert!(canonical.starts_with("net:"), "{}", canonical);
            let host = canonical.splitn(3, ':').nth(2).unwrap();
            let name_based = !host.starts_with('[') && host.split(':').next().unwrap().bytes().any(|b| b == b'*' || b.is_ascii_alphabetic());
            let private = canonical.contains("private=allow");
            if name_based && !private {
                prop_assert!(
                    line.contains("!capgate_special") || denied_special,
                    "`{}` may reach special ranges:\n{}\n--- manifest:\n{}", canonical, squid, text
                );
            }
            prop_assert!(!canonical.contains("proto=udp"), "squid allows a UDP grant: {}", canonical);
        }
    }
}

// ---------------------------------------------------------------------------
// The OCI target (opt-in): the same bind invariants as bwrap and docker

fn oci_config(text: &str) -> Json {
    let opts = Options {
        targets: [capgate::Target::Oci].into(),
        ..opts()
    };
    let c = capgate::compile(text.as_bytes(), &opts).unwrap_or_else(|d| panic!("rejected with oci:\n{d}\n{text}"));
    parse_json(&c.artifact("oci/config.json").unwrap().bytes)
}

/// (destination, type, source, options) of every mount, in order.
fn oci_mounts(config: &Json) -> Vec<(String, String, String, Vec<String>)> {
    let Json::Array(items) = field(config, "mounts") else {
        panic!("mounts is not an array")
    };
    items
        .iter()
        .map(|m| {
            let s = |k: &str| match field(m, k) {
                Json::Str(x) => x.clone(),
                other => panic!("{k}: {other:?}"),
            };
            (s("destination"), s("type"), s("source"), strings(field(m, "options")))
        })
        .collect()
}

proptest! {
    #![proptest_config(config(128))]

    /// Every bind is declared (same path, rw only when granted), no
    /// destination is mounted twice, parents come before children, no
    /// declared write is lost, and the baseline (empty network namespace,
    /// no capabilities, no new privileges, read-only root) always holds.
    #[test]
    fn oci_mounts_are_declared_ordered_and_keep_writes(m in model()) {
        let text = canonical_text(&m);
        let config = oci_config(&text);
        let mounts = oci_mounts(&config);
        for (dest, kind, src, options) in &mounts {
            if kind != "bind" {
                prop_assert!(["/dev", "/dev/shm", "/proc", "/tmp"].contains(&dest.as_str()), "{} {}", kind, dest);
                continue;
            }
            prop_assert_eq!(src, dest, "a bind maps {} to another path", src);
            prop_assert!(options.contains(&"nosuid".to_string()) && options.contains(&"nodev".to_string()));
            let rw = options.contains(&"rw".to_string());
            prop_assert!(rw != options.contains(&"ro".to_string()), "{:?}", options);
            prop_assert!(allowed_source(&m, src, rw), "oci bind {} ({:?}) is not declared\n{}", src, options, text);
        }
        for (i, a) in mounts.iter().enumerate() {
            for b in &mounts[i + 1..] {
                prop_assert!(a.0 != b.0, "{} is mounted twice\n{}", a.0, text);
                prop_assert!(!is_under(&a.0, &b.0), "{} comes before its parent {}\n{}", a.0, b.0, text);
            }
        }
        for cap in m.all_caps() {
            let Meta::Fs { path, writable: true } = &cap.meta else { continue };
            match mounts.iter().find(|x| &x.0 == path) {
                Some(x) => prop_assert!(x.3.contains(&"rw".to_string()), "the write of `{}` is lost: {:?}", cap.text, x),
                None => prop_assert!(
                    mounts.iter().any(|x| x.3.contains(&"rw".to_string()) && is_under(path, &x.0)),
                    "`{}` has no writable mount\n{:?}", cap.text, mounts
                ),
            }
        }
        let linux = field(&config, "linux");
        let Json::Array(ns) = field(linux, "namespaces") else { panic!("namespaces") };
        prop_assert!(ns.iter().any(|n| field(n, "type") == &Json::str("network")));
        prop_assert!(!ns.iter().any(|n| matches!(n, Json::Object(o) if o.contains_key("path"))), "joins a namespace");
        let process = field(&config, "process");
        for set in ["ambient", "bounding", "effective", "inheritable", "permitted"] {
            prop_assert_eq!(field(field(process, "capabilities"), set), &Json::Array(vec![]));
        }
        prop_assert_eq!(field(process, "noNewPrivileges"), &Json::Bool(true));
        prop_assert_eq!(field(field(&config, "root"), "readonly"), &Json::Bool(true));
    }
}
