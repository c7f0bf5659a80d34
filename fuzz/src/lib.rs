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

// ---------------------------------------------------------------------------
// A structured manifest generator

const NAMES: &[&str] = &["demo", "@scope/server-x", "x", "mcp-server-time", "a b", "ü", ""];
const VERSIONS: &[&str] = &["1.0.0", "2026.8.31", "0", "", "1.0.0-rc.1+b"];
const IMAGES: &[&str] = &[
    "docker.io/library/node:22@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "node:22",
    "ghcr.io/x/y:1",
    "bad image",
    "",
    "registry:5000/a/b",
];
const COMMAND_PARTS: &[&str] = &[
    "/usr/bin/node",
    "${PKG}/dist/index.js",
    "/usr/bin/python3",
    "-m",
    "mcp_server_time",
    "--root=${DATA}",
    "${DATA}",
    "node",
    "",
    "${NOPE}",
    "$${PKG}",
    "${",
    "--flag",
];
const PARAM_NAMES: &[&str] = &["PKG", "DATA", "HOST", "MODE", "lower", "1BAD", ""];
const PARAM_VALUES: &[&str] = &[
    "/opt/mcp/pkg",
    "/data",
    "/srv/data",
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
];
const PATH_COMPONENTS: &[&str] = &[
    "opt",
    "mcp",
    "pkg",
    "data",
    "srv",
    "usr",
    "lib",
    "bin",
    "etc",
    "home",
    "root",
    "proc",
    "sys",
    "dev",
    "run",
    "tmp",
    "var",
    "nix",
    "store",
    ".ssh",
    ".aws",
    ".config",
    "docker.sock",
    "..",
    ".",
    "",
    "a b",
    "é",
    "x?y",
    "${PKG}",
    "${DATA}",
    "*",
    "**",
    "run",
    "user",
    "1000",
    "bus",
    "\u{202e}",
    "~",
];
const GLOBS: &[&str] = &["", "/**", "/*", "/**/x", "*", "/***"];
const HOSTS: &[&str] = &[
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
    "[::]/0",
    "::/0",
    "[fd00::]/8",
    "[fe80::1]",
    "exаmple.com",
    "a..b",
    "-a.com",
    "${HOST}",
    "256.1.1.1",
    "1.2.3",
    "[::ffff:10.0.0.1]",
];
const PORTS: &[&str] = &[
    "443",
    "80",
    "*",
    "1-65535",
    "8000-8080",
    "0",
    "65536",
    "10-5",
    "",
    "443abc",
];
const ENV_NAMES: &[&str] = &[
    "GITHUB_TOKEN",
    "API_KEY",
    "HOME",
    "PATH",
    "LANG",
    "LD_PRELOAD",
    "NODE_OPTIONS",
    "PYTHONPATH",
    "HTTP_PROXY",
    "DISPLAY",
    "TZ",
    "1BAD",
    "A-B",
    "",
    "SECRET_PASSWORD",
];
const ENV_VALUES: &[&str] = &["1", "", "a b", "x=y", "${PKG}", "/opt/mcp/pkg"];
const EXECS: &[&str] = &[
    "git",
    "/usr/bin/git",
    "chromium",
    "sh",
    "../x",
    "/usr/bin/../../bin/sh",
    "a b",
    "${PKG}/bin/x",
];
const IPCS: &[&str] = &[
    "x11",
    "wayland",
    "dbus:session",
    "dbus:system",
    "unix:/run/x.sock",
    "unix:/var/run/docker.sock",
    "unix:/tmp/a.sock",
    "unix:relative",
    "unix:${DATA}/s.sock",
    "dbus",
];
const CLOCKS: &[&str] = &["system", "tzdata", "monotonic"];
const LIMITS: &[&str] = &[
    "memory=512MiB",
    "memory=1GiB",
    "memory=1024MiB",
    "pids=256",
    "cpu=500m",
    "cpu=2",
    "nofile=1024",
    "tmpfs=64MiB",
    "memory=0MiB",
    "swap=1",
    "pids=0",
    "cpu=0.5",
    "memory=99999999999GiB",
];
const ASSERTS: &[&str] = &[
    "pg.read_only",
    "x:some text: here?",
    "id:\"quoted\"",
    "",
    "bad id:x",
    "a.b-c_d:ü",
];
const REFINEMENTS: &[&str] = &[
    "sensitive=allow",
    "optional=true",
    "optional=false",
    "proto=udp",
    "proto=tcp",
    "private=allow",
    "nestedSandbox=true",
    "nestedSandbox=1",
    "bogus=1",
    "sensitive=deny",
    "",
    "novalue",
];
const WHYS: &[&str] = &["serves files", "", "line\nbreak", "ü"];
const TOOL_NAMES: &[&str] = &["read", "write", "fetch", "search", "read", "", "a b", "x.y-z_1"];

fn pick<'a>(u: &mut Unstructured<'_>, table: &[&'a str]) -> AResult<&'a str> {
    Ok(table[u.choose_index(table.len())?])
}

/// A short string: mostly from `table`, sometimes the fuzzer's own bytes.
fn text(u: &mut Unstructured<'_>, table: &[&str]) -> AResult<String> {
    if u.ratio(1, 16)? {
        let s: &str = u.arbitrary()?;
        Ok(s.chars().take(24).collect())
    } else {
        Ok(pick(u, table)?.to_string())
    }
}

fn gen_path(u: &mut Unstructured<'_>) -> AResult<String> {
    let mut p = String::new();
    let n = u.int_in_range(0..=4)?;
    for _ in 0..n {
        p.push('/');
        p.push_str(&text(u, PATH_COMPONENTS)?);
    }
    if p.is_empty() || u.ratio(1, 20)? {
        p = text(u, PATH_COMPONENTS)? + &p;
    }
    Ok(p)
}

fn gen_actions(u: &mut Unstructured<'_>, actions: &[&str]) -> AResult<String> {
    let mut out: Vec<String> = Vec::new();
    let n = u.int_in_range(1..=actions.len().min(4))?;
    for _ in 0..n {
        if u.ratio(1, 24)? {
            out.push(text(u, &["bogus", "", "READ", "spawn"])?);
        } else {
            out.push(pick(u, actions)?.to_string());
        }
    }
    Ok(out.join(","))
}

/// One capability string: kind, actions and scope from tables, so most are
/// well formed, with refinements and occasional raw bytes.
pub fn gen_cap(u: &mut Unstructured<'_>) -> AResult<String> {
    let kind = u.int_in_range(0..=9)?;
    let mut cap = match kind {
        0 | 1 => {
            let path = gen_path(u)?;
            format!(
                "fs:{}:{}{}",
                gen_actions(u, &["read", "write", "create", "delete", "exec"])?,
                path,
                pick(u, GLOBS)?
            )
        }
        2 | 3 => format!(
            "net:{}:{}:{}",
            gen_actions(u, &["connect", "listen"])?,
            text(u, HOSTS)?,
            text(u, PORTS)?
        ),
        4 => {
            let action = pick(u, &["read", "inject", "set", "read,inject"])?;
            let mut s = format!("env:{action}:{}", text(u, ENV_NAMES)?);
            if action == "set" || u.ratio(1, 10)? {
                s.push('=');
                s.push_str(&text(u, ENV_VALUES)?);
            }
            s
        }
        5 => format!("exec:spawn:{}", text(u, EXECS)?),
        6 => format!("ipc:connect:{}", text(u, IPCS)?),
        7 => {
            if u.ratio(1, 4)? {
                format!("clock:{}", pick(u, CLOCKS)?)
            } else {
                format!("clock:read:{}", pick(u, CLOCKS)?)
            }
        }
        8 => format!("limit:set:{}", text(u, LIMITS)?),
        _ => {
            if u.ratio(1, 8)? {
                let s: &str = u.arbitrary()?;
                return Ok(s.chars().take(64).collect());
            }
            format!("assert:require:{}", text(u, ASSERTS)?)
        }
    };
    let n = if u.ratio(1, 3)? { u.int_in_range(1..=2)? } else { 0 };
    for i in 0..n {
        cap.push(if i == 0 { '?' } else { '&' });
        cap.push_str(pick(u, REFINEMENTS)?);
    }
    Ok(cap)
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

fn gen_cap_list(u: &mut Unstructured<'_>, max: usize) -> AResult<String> {
    let n = u.int_in_range(0..=max)?;
    let mut items = Vec::new();
    for _ in 0..n {
        let cap = gen_cap(u)?;
        if u.ratio(1, 4)? {
            items.push(format!(
                "{{\"cap\": {}, \"why\": {}}}",
                json_str(&cap),
                json_str(pick(u, WHYS)?)
            ));
        } else {
            items.push(json_str(&cap));
        }
    }
    Ok(format!("[{}]", items.join(", ")))
}

/// A whole manifest (text) and options with the fuzzer's param values.
pub fn gen_manifest(u: &mut Unstructured<'_>) -> AResult<(String, Options)> {
    let flags: u8 = u.arbitrary()?;
    let mut opts = options_from_flags(flags);
    let mut fields: Vec<String> = Vec::new();
    let grammar = u.int_in_range(0..=3)?;
    match grammar {
        0 | 1 => fields.push("\"grammar\": \"1\"".into()),
        2 => fields.push("\"grammar\": \"0.0\"".into()),
        _ => {}
    }
    fields.push(format!("\"name\": {}", json_str(&text(u, NAMES)?)));
    fields.push(format!("\"version\": {}", json_str(&text(u, VERSIONS)?)));
    if u.ratio(1, 2)? {
        fields.push(format!(
            "\"profile\": {}",
            json_str(pick(u, &["debian", "nix", "none", "arch"])?)
        ));
    }
    if u.ratio(1, 4)? {
        fields.push(format!("\"image\": {}", json_str(&text(u, IMAGES)?)));
    }
    if u.ratio(3, 4)? {
        let n = u.int_in_range(1..=4)?;
        let mut parts = Vec::new();
        for _ in 0..n {
            parts.push(json_str(&text(u, COMMAND_PARTS)?));
        }
        fields.push(format!("\"command\": [{}]", parts.join(", ")));
    }
    if u.ratio(1, 2)? {
        let mut names = BTreeSet::new();
        for _ in 0..u.int_in_range(1..=3)? {
            names.insert(text(u, PARAM_NAMES)?);
        }
        let decls: Vec<String> = names
            .iter()
            .map(|n| format!("{}: {{\"description\": \"d\"}}", json_str(n)))
            .collect();
        fields.push(format!("\"params\": {{{}}}", decls.join(", ")));
        for n in names {
            if u.ratio(3, 4)? {
                opts.params.insert(n, text(u, PARAM_VALUES)?);
            }
        }
    }
    let caps_key = if grammar == 2 && u.ratio(1, 4)? {
        "serverCapabilities"
    } else {
        "capabilities"
    };
    fields.push(format!("\"{caps_key}\": {}", gen_cap_list(u, 8)?));
    if u.ratio(2, 3)? {
        let mut tools = Vec::new();
        for _ in 0..u.int_in_range(0..=3)? {
            tools.push(format!(
                "{{\"name\": {}, \"description\": \"t\", \"inputSchema\": {{\"type\": \"object\"}}, \"capabilities\": {}}}",
                json_str(&text(u, TOOL_NAMES)?),
                gen_cap_list(u, 5)?
            ));
        }
        fields.push(format!("\"tools\": [{}]", tools.join(", ")));
    }
    if u.ratio(1, 32)? {
        fields.push("\"x-extra\": {\"a\": [1, 2.5, null, true]}".into());
    }
    // The fuzzer picks the field order (it must not matter).
    for i in (1..fields.len()).rev() {
        let j = u.int_in_range(0..=i)?;
        fields.swap(i, j);
    }
    Ok((format!("{{\n  {}\n}}\n", fields.join(",\n  ")), opts))
}
