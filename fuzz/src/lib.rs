//! Shared code of the capgate fuzz targets: input decoding, a structured
//! manifest generator, and the invariants every target checks.
//!
//! The invariants are asserted with `panic!`, so libFuzzer records any
//! violation as a crash with the input that caused it.

use arbitrary::{Result as AResult, Unstructured};
use capgate::diag::{Diagnostic, Span};
use capgate::{Compiled, Diagnostics, Options, Target};
use std::collections::{BTreeMap, BTreeSet};

/// Separates a raw manifest from its options trailer (0xFF never occurs in
/// UTF-8, so the manifest part stays valid text).
pub const TRAILER: u8 = 0xFF;

/// Default value of a declared param the input gives no value for.
pub const DEFAULT_PARAM: &str = "/opt/mcp/pkg";

/// Every target the library knows, `oci` included once it exists.
pub fn every_target() -> Vec<Target> {
    ["bwrap", "docker", "egress", "oci"]
        .iter()
        .filter_map(|n| Target::parse(n))
        .collect()
}

/// Options from a flags byte: bit 0 strict, bit 1 deny_warnings, bits 2..
/// a target mask over [`every_target`] (0 = the default targets).
pub fn options_from_flags(flags: u8) -> Options {
    let all = every_target();
    let mask = flags >> 2;
    let targets: BTreeSet<Target> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, t)| *t)
        .collect();
    Options {
        targets,
        params: BTreeMap::new(),
        strict: flags & 1 != 0,
        deny_warnings: flags & 2 != 0,
    }
}

/// A compile input: the manifest bytes and the options to compile it with.
pub struct CompileInput {
    /// Manifest text.
    pub manifest: Vec<u8>,
    /// Options (params filled in for every declared param).
    pub options: Options,
}

/// Decode a fuzz input for the compile target.
///
/// * Starting with `{`: a raw manifest, optionally followed by `0xFF`, a
///   flags byte ([`options_from_flags`]) and `NAME=VALUE` lines for params.
///   The seed corpus (tests/cases, examples) is in this form.
/// * Anything else: bytes that drive [`gen_manifest`], a generator that
///   writes well-formed manifests from tables of kinds, actions, scopes and
///   refinements, so most inputs reach normalization and lowering.
pub fn decode_compile_input(data: &[u8]) -> Option<CompileInput> {
    if data.first() == Some(&b'{') {
        let (manifest, trailer) = match data.iter().position(|b| *b == TRAILER) {
            Some(i) => (&data[..i], &data[i + 1..]),
            None => (data, &[][..]),
        };
        let flags = trailer.first().copied().unwrap_or(0);
        let mut options = options_from_flags(flags);
        let given: BTreeMap<String, String> = trailer
            .get(1..)
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        options.params = param_values(manifest, &given);
        Some(CompileInput {
            manifest: manifest.to_vec(),
            options,
        })
    } else {
        let mut u = Unstructured::new(data);
        let (manifest, mut options) = gen_manifest(&mut u).ok()?;
        let given = options.params.clone();
        options.params = param_values(manifest.as_bytes(), &given);
        Some(CompileInput {
            manifest: manifest.into_bytes(),
            options,
        })
    }
}

/// A value for every param the manifest declares (given, else the
/// default); values for undeclared names are dropped, so the only
/// param diagnostics are about the manifest.
fn param_values(manifest: &[u8], given: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let Ok((m, _)) = capgate::manifest::parse_partial(manifest) else {
        return BTreeMap::new();
    };
    m.params
        .keys()
        .map(|k| {
            let v = given.get(k).cloned().unwrap_or_else(|| DEFAULT_PARAM.to_string());
            (k.clone(), v)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Invariants

/// Every diagnostic has a span inside the input: `start <= end <= len`.
pub fn check_spans(what: &str, diags: &Diagnostics, len: usize, input: &[u8]) {
    for d in diags.iter() {
        check_span(what, d, len, input);
    }
}

/// One diagnostic's span is inside the input.
pub fn check_span(what: &str, d: &Diagnostic, len: usize, input: &[u8]) {
    let Some(Span { start, end }) = d.span else {
        panic!(
            "{what}: diagnostic without a span: {d:?}\ninput: {:?}",
            String::from_utf8_lossy(input)
        );
    };
    assert!(
        start <= end && end <= len,
        "{what}: span {start}..{end} outside the input (len {len}): {d:?}\ninput: {:?}",
        String::from_utf8_lossy(input)
    );
}

/// Two compiles of the same input are identical: key, every artifact's
/// path, media type and bytes, warnings and policy; or the same errors.
pub fn check_deterministic(a: &Result<Compiled, Diagnostics>, b: &Result<Compiled, Diagnostics>, input: &[u8]) {
    match (a, b) {
        (Ok(x), Ok(y)) => {
            assert_eq!(x.key, y.key, "key differs between two compiles");
            assert_eq!(x.artifacts.len(), y.artifacts.len(), "artifact count differs");
            for (p, q) in x.artifacts.iter().zip(&y.artifacts) {
                assert!(
                    p == q,
                    "artifact {} differs between two compiles\ninput: {:?}",
                    p.path,
                    String::from_utf8_lossy(input)
                );
            }
            assert_eq!(x.warnings, y.warnings, "warnings differ");
            assert_eq!(x.policy, y.policy, "policy differs");
        }
        (Err(x), Err(y)) => assert_eq!(x, y, "diagnostics differ between two compiles"),
        _ => panic!(
            "one compile succeeded and the other failed\ninput: {:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

/// The artifacts of a successful compile are exactly the fixed files of its
/// targets, `index.json` lists each one's sha256, and every JSON artifact
/// is strict JSON.
pub fn check_outputs(c: &Compiled, opts: &Options) {
    let mut want = capgate::output_files(&opts.effective_targets());
    want.sort_unstable();
    let mut got: Vec<&str> = c.artifacts.iter().map(|a| a.path.as_str()).collect();
    got.sort_unstable();
    assert_eq!(got, want, "artifact files are not the targets' fixed files");
    assert_eq!(c.key.len(), 64, "key is not 64 hex");
    let index = c.artifact("index.json").expect("index.json");
    let index_text = std::str::from_utf8(&index.bytes).expect("index.json is UTF-8");
    assert!(index_text.contains(&c.key), "index.json does not hold the key");
    for a in &c.artifacts {
        if a.path == "index.json" {
            continue;
        }
        assert!(
            index_text.contains(&a.sha256()),
            "index.json does not list the sha256 of {}",
            a.path
        );
        if a.path.ends_with(".json") {
            let text = std::str::from_utf8(&a.bytes).expect("JSON artifact is UTF-8");
            if let Err(e) = capgate::json::parse(text) {
                panic!("{} is not strict JSON: {e:?}", a.path);
            }
        }
    }
}

/// The artifacts grant nothing outside the declared grants, as judged by
/// the independent checker in `capgate::containment`.
pub fn check_contained(c: &Compiled, input: &[u8]) {
    let violations = capgate::containment::check(&c.policy, &c.artifacts);
    if !violations.is_empty() {
        let list: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
        panic!(
            "artifacts grant more than declared:\n  {}\ninput: {:?}",
            list.join("\n  "),
            String::from_utf8_lossy(input)
        );
    }
}

/// A neutral rewrite (the manifest parsed and printed again in canonical
/// JSON: other whitespace, key order and escapes) compiles to the same key
/// and artifacts.
pub fn check_rewrite(c: &Compiled, input: &[u8], opts: &Options) {
    let text = std::str::from_utf8(input).expect("accepted manifest is UTF-8");
    let value = capgate::json::parse(text).expect("accepted manifest is JSON");
    let canonical = value.to_json().to_compact();
    match capgate::compile(canonical.as_bytes(), opts) {
        Ok(again) => {
            assert_eq!(
                again.key, c.key,
                "canonical JSON of the manifest changes the key\n{canonical}"
            );
            assert!(
                again.artifacts == c.artifacts,
                "canonical JSON of the manifest changes the artifacts\n{canonical}"
            );
        }
        Err(d) => panic!("canonical JSON of an accepted manifest is rejected: {d:?}\n{canonical}"),
    }
}

// ---------------------------------------------------------------------------
// A structured manifest generator
//
// Each table has good entries (valid in some manifest) and bad ones (each
// should be rejected). A manifest is either clean (good entries only, so
// it usually compiles and reaches normalization, lowering and the
// containment check) or hostile (bad entries mixed in, and now and then the
// fuzzer's own bytes), chosen per manifest.

type Table = (&'static [&'static str], &'static [&'static str]);

const NAMES: Table = (&["demo", "@scope/server-x", "mcp-server-time", "ü"], &["", "a\nb"]);
const VERSIONS: Table = (&["1.0.0", "2026.8.31", "0", "1.0.0-rc.1+b"], &[""]);
const IMAGES: Table = (
    &[
        "docker.io/library/node:22@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "node:22",
        "ghcr.io/x/y:1",
        "registry:5000/a/b",
    ],
    &["bad image", "", "-x", "a@sha256:12"],
);
const COMMAND_PARTS: Table = (
    &[
        "/usr/bin/node",
        "${PKG}/dist/index.js",
        "/usr/bin/python3",
        "-m",
        "mcp_server_time",
        "--root=${DATA}",
        "${DATA}",
        "node",
        "$${PKG}",
        "--flag",
    ],
    &["", "${NOPE}", "${", "${PKG", "${pkg}"],
);
const PARAM_NAMES: Table = (&["PKG", "DATA", "HOST", "MODE"], &["lower", "1BAD", "", "A-B"]);
const PARAM_VALUES: Table = (
    &["/opt/mcp/pkg", "/data", "/srv/data", "/opt/mcp/other", "/srv/a/b/c"],
    &[
        "/",
        "/opt/../etc",
        "/etc",
        "api.example.com",
        "10.0.0.0/8",
        "relative",
        "",
        "/a b",
        "/x?sensitive=allow",
        "/x\ny",
        "/home/u/.ssh",
        "*",
        "/opt/mcp/pkg/**",
        "/x/",
    ],
);
/// First components of a path (`usr`, `nix` and `var` need a second one:
/// they contain sensitive paths).
const PATH_FIRST: &[&str] = &[
    "opt", "srv", "data", "tmp", "mnt", "usr", "nix", "var", "${PKG}", "${DATA}",
];
const PATH_COMPONENTS: Table = (
    &[
        "mcp", "pkg", "a", "b", "cache", "share", "x.txt", "local", "é", "store", "bin", "lib", "y",
    ],
    &[
        "etc",
        "home",
        "root",
        "proc",
        "sys",
        "dev",
        "run",
        ".ssh",
        ".aws",
        ".config",
        "docker.sock",
        "..",
        ".",
        "",
        "a b",
        "x?y",
        "*",
        "**",
        "\u{202e}",
        "~",
        "run/user/1000/bus",
    ],
);
const GLOBS: Table = (&["", "/**", "/*"], &["/**/x", "*", "/***", "/"]);
const HOSTS: Table = (
    &[
        "api.example.com",
        "API.GitHub.com",
        "*.example.com",
        "*",
        "localhost",
        "127.0.0.1",
        "10.0.0.1",
        "10.0.0.0/8",
        "0.0.0.0/0",
        "169.254.169.254",
        "100.64.0.0/10",
        "192.168.1.0/24",
        "8.8.8.8",
        "1.2.3.4/32",
        "[::1]",
        "[2001:db8::1]",
        "[::/0]",
        "[fd00::/8]",
        "[2001:db8:abcd::/48]",
        "[fe80::1]",
        "[::ffff:10.0.0.1]",
        "${HOST}",
        "x--y.example",
        "a.b.c.d.example.org",
    ],
    &[
        "exаmple.com",
        "a..b",
        "-a.com",
        "256.1.1.1",
        "1.2.3",
        "::/0",
        "[::1",
        "a_b.com",
        "10.0.0.0/33",
        "",
    ],
);
const PORTS: Table = (
    &["443", "80", "*", "1-65535", "8000-8080", "65535", "1"],
    &["0", "65536", "10-5", "", "443abc", "-1"],
);
const ENV_NAMES: Table = (
    &[
        "GITHUB_TOKEN",
        "API_KEY",
        "HOME",
        "PATH",
        "LANG",
        "HTTP_PROXY",
        "DISPLAY",
        "TZ",
        "SECRET_PASSWORD",
        "x",
    ],
    &[
        "LD_PRELOAD",
        "NODE_OPTIONS",
        "PYTHONPATH",
        "1BAD",
        "A-B",
        "",
        "BASH_FUNC_x%%",
    ],
);
const ENV_VALUES: Table = (
    &["1", "x=y", "/opt/mcp/pkg", "${PKG}", "C.UTF-8"],
    &["", "a b", "\u{200b}"],
);
const EXECS: Table = (
    &["git", "/usr/bin/git", "chromium", "sh", "${PKG}/bin/x", "python3"],
    &["../x", "/usr/bin/../../bin/sh", "a b", "", "./x", "a/b"],
);
const IPCS: Table = (
    &[
        "x11",
        "wayland",
        "dbus:session",
        "dbus:system",
        "unix:/srv/x.sock",
        "unix:/tmp/a.sock",
        "unix:${DATA}/s.sock",
        "unix:/usr/share/x.sock",
    ],
    &[
        "unix:/var/run/docker.sock",
        "unix:relative",
        "dbus",
        "unix:",
        "unix:/run/x.sock",
    ],
);
const CLOCKS: Table = (&["system", "tzdata"], &["monotonic", ""]);
const LIMITS: Table = (
    &[
        "memory=512MiB",
        "memory=1GiB",
        "memory=1024MiB",
        "pids=256",
        "cpu=500m",
        "cpu=2",
        "nofile=1024",
        "tmpfs=64MiB",
    ],
    &[
        "memory=1KiB",
        "memory=0MiB",
        "swap=1",
        "pids=0",
        "cpu=0.5",
        "memory=99999999999GiB",
        "memory=",
        "nofile=1e3",
    ],
);
const ASSERTS: Table = (
    &["pg.read_only", "x:some text: here?", "a.b-c_d:ü", "id:\"quoted\""],
    &["", "bad id:x", ".x", "x\ty"],
);
const FS_REFINEMENTS: Table = (
    &["optional=true", "optional=false", "sensitive=allow"],
    &["bogus=1", "sensitive=deny"],
);
const NET_REFINEMENTS: Table = (
    &["proto=udp", "proto=tcp", "private=allow"],
    &["proto=icmp", "sensitive=allow"],
);
const EXEC_REFINEMENTS: Table = (
    &["nestedSandbox=true", "nestedSandbox=false"],
    &["nestedSandbox=1", "", "novalue", "a=b=c", "optional=true"],
);
const WHYS: Table = (&["serves files", "ü", "x"], &["", "line\nbreak"]);
const TOOL_NAMES: Table = (&["read", "write", "fetch", "search", "x.y-z_1"], &["", "a b", "read"]);

struct Gen<'a, 'b> {
    u: &'a mut Unstructured<'b>,
    /// Bad entries (and the fuzzer's raw bytes) may appear.
    hostile: bool,
    /// Param names the generated texts refer to (`${NAME}`).
    used: BTreeSet<String>,
}

impl Gen<'_, '_> {
    fn pick<'t>(&mut self, table: &[&'t str]) -> AResult<&'t str> {
        Ok(table[self.u.choose_index(table.len())?])
    }

    /// A string from a table: good, or in a hostile manifest sometimes bad
    /// or the fuzzer's own bytes.
    fn text(&mut self, (good, bad): Table) -> AResult<String> {
        if self.hostile && self.u.ratio(1, 6)? {
            if self.u.ratio(1, 4)? {
                let s: &str = self.u.arbitrary()?;
                return Ok(s.chars().take(24).collect());
            }
            return Ok(self.pick(bad)?.to_string());
        }
        let t = self.pick(good)?;
        for name in ["PKG", "DATA", "HOST"] {
            if t.contains(&format!("${{{name}}}")) && !t.contains("$${") {
                self.used.insert(name.to_string());
            }
        }
        Ok(t.to_string())
    }

    fn path(&mut self) -> AResult<String> {
        let first = self.pick(PATH_FIRST)?;
        let mut p = if first.starts_with("${") {
            self.used.insert(first[2..first.len() - 1].to_string());
            first.to_string()
        } else {
            format!("/{first}")
        };
        let min = u8::from(matches!(first, "usr" | "nix" | "var"));
        let n = self.u.int_in_range(min..=3)?;
        for _ in 0..n {
            let c = self.text(PATH_COMPONENTS)?;
            if c.starts_with("${") {
                // A param value is an absolute path: it starts the scope.
                p = c;
            } else {
                p.push('/');
                p.push_str(&c);
            }
        }
        if self.hostile && self.u.ratio(1, 20)? {
            p = self.text(PATH_COMPONENTS)? + &p;
        }
        Ok(p)
    }

    fn actions(&mut self, actions: &[&str]) -> AResult<String> {
        let mut out: Vec<String> = Vec::new();
        let n = self.u.int_in_range(1..=actions.len().min(4))?;
        for _ in 0..n {
            if self.hostile && self.u.ratio(1, 24)? {
                out.push(self.pick(&["bogus", "", "READ", "spawn"])?.to_string());
            } else {
                out.push(self.pick(actions)?.to_string());
            }
        }
        Ok(out.join(","))
    }

    fn refinements(&mut self, cap: &mut String, table: Table) -> AResult<()> {
        let n = if self.u.ratio(1, 3)? {
            self.u.int_in_range(1..=2)?
        } else {
            0
        };
        let mut keys = BTreeSet::new();
        for _ in 0..n {
            let r = self.text(table)?;
            let key = r.split('=').next().unwrap_or("").to_string();
            if !self.hostile && !keys.insert(key) {
                continue;
            }
            cap.push(if cap.contains('?') { '&' } else { '?' });
            cap.push_str(&r);
        }
        Ok(())
    }

    fn cap(&mut self) -> AResult<String> {
        let mut cap;
        match self.u.int_in_range(0..=9)? {
            0..=2 => {
                let acts = self.actions(&["read", "write", "create", "delete", "exec"])?;
                cap = format!("fs:{acts}:{}{}", self.path()?, self.text(GLOBS)?);
                self.refinements(&mut cap, FS_REFINEMENTS)?;
            }
            3 | 4 => {
                let acts = self.actions(&["connect", "listen"])?;
                cap = format!("net:{acts}:{}:{}", self.text(HOSTS)?, self.text(PORTS)?);
                self.refinements(&mut cap, NET_REFINEMENTS)?;
            }
            5 => {
                let action = self.pick(&["read", "inject", "set", "read,inject"])?;
                cap = format!("env:{action}:{}", self.text(ENV_NAMES)?);
                if action == "set" {
                    cap.push('=');
                    cap.push_str(&self.text(ENV_VALUES)?);
                }
                if self.u.ratio(1, 8)? {
                    cap.push_str("?sensitive=allow");
                }
            }
            6 => {
                cap = format!("exec:spawn:{}", self.text(EXECS)?);
                self.refinements(&mut cap, EXEC_REFINEMENTS)?;
            }
            7 => {
                cap = format!("ipc:connect:{}", self.text(IPCS)?);
                self.refinements(&mut cap, FS_REFINEMENTS)?;
            }
            8 => {
                cap = if self.u.ratio(1, 2)? {
                    format!("limit:set:{}", self.text(LIMITS)?)
                } else {
                    format!("clock:read:{}", self.text(CLOCKS)?)
                };
            }
            _ => {
                if self.hostile && self.u.ratio(1, 4)? {
                    let s: &str = self.u.arbitrary()?;
                    return Ok(s.chars().take(64).collect());
                }
                cap = format!("assert:require:{}", self.text(ASSERTS)?);
            }
        }
        Ok(cap)
    }

    fn cap_list(&mut self, max: usize) -> AResult<String> {
        let n = self.u.int_in_range(0..=max)?;
        let mut items = Vec::new();
        for _ in 0..n {
            let cap = self.cap()?;
            if self.u.ratio(1, 4)? {
                let why = self.text(WHYS)?;
                items.push(format!("{{\"cap\": {}, \"why\": {}}}", json_str(&cap), json_str(&why)));
            } else {
                items.push(json_str(&cap));
            }
        }
        Ok(format!("[{}]", items.join(", ")))
    }
}

/// One capability string: kind, actions and scope from tables (with bad
/// entries mixed in), with refinements.
pub fn gen_cap(u: &mut Unstructured<'_>) -> AResult<String> {
    Gen {
        u,
        hostile: true,
        used: BTreeSet::new(),
    }
    .cap()
}

/// JSON string literal (the harness's own escaper, independent of capgate's).
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A good value for each param the tables use.
fn good_param_value(name: &str) -> &'static str {
    match name {
        "PKG" => "/opt/mcp/pkg",
        "DATA" => "/srv/data",
        "HOST" => "api.example.com",
        _ => "x",
    }
}

/// A whole manifest (text) and options with the fuzzer's param values.
pub fn gen_manifest(u: &mut Unstructured<'_>) -> AResult<(String, Options)> {
    let targets: u8 = u.arbitrary()?;
    let hostile = u.ratio(1, 3)?;
    // --strict and --deny-warnings reject most inputs: 1 time in 8 each.
    let flags = (targets & 0b1111) << 2 | u8::from(u.ratio(1, 8)?) | u8::from(u.ratio(1, 8)?) << 1;
    let mut opts = options_from_flags(flags);
    let mut g = Gen {
        u,
        hostile,
        used: BTreeSet::new(),
    };
    let mut fields: Vec<String> = Vec::new();
    let grammar = g.u.int_in_range(0..=3)?;
    match grammar {
        0 | 1 => fields.push("\"grammar\": \"1\"".into()),
        2 => fields.push("\"grammar\": \"0.0\"".into()),
        _ => {}
    }
    fields.push(format!("\"name\": {}", json_str(&g.text(NAMES)?)));
    fields.push(format!("\"version\": {}", json_str(&g.text(VERSIONS)?)));
    if g.u.ratio(1, 2)? {
        let profiles: Table = (&["debian", "nix", "none"], &["arch", ""]);
        fields.push(format!("\"profile\": {}", json_str(&g.text(profiles)?)));
    }
    if g.u.ratio(1, 4)? {
        fields.push(format!("\"image\": {}", json_str(&g.text(IMAGES)?)));
    }
    if g.u.ratio(3, 4)? {
        let programs: Table = (
            &["/usr/bin/node", "/usr/bin/python3", "node", "${PKG}/bin/server"],
            &["", "--flag", "${NOPE}"],
        );
        let mut parts = vec![json_str(&g.text(programs)?)];
        let n = g.u.int_in_range(0..=3)?;
        for _ in 0..n {
            parts.push(json_str(&g.text(COMMAND_PARTS)?));
        }
        fields.push(format!("\"command\": [{}]", parts.join(", ")));
    }
    let caps_key = if grammar == 2 && g.u.ratio(1, 4)? {
        "serverCapabilities"
    } else {
        "capabilities"
    };
    fields.push(format!("\"{caps_key}\": {}", g.cap_list(8)?));
    if g.u.ratio(2, 3)? {
        let mut tools = Vec::new();
        let mut seen = BTreeSet::new();
        for _ in 0..g.u.int_in_range(0..=3)? {
            let name = g.text(TOOL_NAMES)?;
            if !g.hostile && !seen.insert(name.clone()) {
                continue;
            }
            tools.push(format!(
                "{{\"name\": {}, \"description\": \"t\", \"inputSchema\": {{\"type\": \"object\"}}, \"capabilities\": {}}}",
                json_str(&name),
                g.cap_list(5)?
            ));
        }
        fields.push(format!("\"tools\": [{}]", tools.join(", ")));
    }
    // Params: exactly the used ones with good values, or in a hostile
    // manifest extra names and any value.
    let mut names = g.used.clone();
    if g.hostile {
        for _ in 0..g.u.int_in_range(0..=2)? {
            names.insert(g.text(PARAM_NAMES)?);
        }
    }
    if !names.is_empty() {
        let decls: Vec<String> = names
            .iter()
            .map(|n| format!("{}: {{\"description\": \"d\"}}", json_str(n)))
            .collect();
        fields.push(format!("\"params\": {{{}}}", decls.join(", ")));
        for n in &names {
            let v = if g.hostile {
                g.text(PARAM_VALUES)?
            } else {
                good_param_value(n).to_string()
            };
            opts.params.insert(n.clone(), v);
        }
    }
    if g.u.ratio(1, 32)? {
        fields.push("\"x-extra\": {\"a\": [1, -2, null, true, \"s\"]}".into());
    }
    // The fuzzer picks the field order (it must not matter).
    for i in (1..fields.len()).rev() {
        let j = g.u.int_in_range(0..=i)?;
        fields.swap(i, j);
    }
    Ok((format!("{{\n  {}\n}}\n", fields.join(",\n  ")), opts))
}
