//! The shipped examples compile (see `examples/README.md`):
//!
//! - every `examples/<server>/capgate.json` (grammar 1) with the
//!   `capgate.params.json` beside it, with exactly the warnings its README row
//!   documents, and under `--deny-warnings` when it documents none;
//! - every `examples/compat/*.json` (the TypeScript capgate's manifests,
//!   grammar 0.0) unchanged, except those listed in [`REJECTED_COMPAT`];
//! - every compile twice, with identical bytes.
//!
//! Only std and the capgate library: no process, no network, no machine paths.

use capgate::json::{self, Json, Kind, Value};
use capgate::{compile, Code, Diagnostics, Options};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The ten servers of the TypeScript tool's inventory that `examples/` must cover.
const SERVERS: &[&str] = &[
    "everything",
    "fetch",
    "filesystem",
    "git",
    "github",
    "memory",
    "postgres",
    "puppeteer",
    "slack",
    "time",
];

/// Grammar-1 examples whose warnings `examples/README.md` documents. Every
/// other example must compile with `deny_warnings: true`.
const EXPECTED_WARNINGS: &[(&str, &[Code])] = &[
    // net:connect:*:443 and *:80: fetch reads any public URL.
    ("fetch", &[Code::BroadHost]),
    // any public URL, the host's X11 display (headful browser), Chrome's own sandbox.
    ("puppeteer", &[Code::BroadHost, Code::DangerousIpc, Code::NestedSandbox]),
];

/// Compat manifests capgate deliberately rejects, with the error it must
/// give (documented in `examples/compat/README.md`). Today none is rejected.
const REJECTED_COMPAT: &[(&str, Code)] = &[];

/// The TypeScript capgate's provenance hash of its `fetch` golden, which
/// `examples/compat/fetch.json` reproduces (capgate-ts.md §5.3).
const TS_FETCH_MANIFEST_HASH: &str = "4640312ccf5624e8705172f1ba19683a5d4094d9246b4b9f0d3193dbca554622";

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn parse(path: &Path, bytes: &[u8]) -> Value {
    let text = std::str::from_utf8(bytes).unwrap_or_else(|_| panic!("{} is not UTF-8", path.display()));
    json::parse(text).unwrap_or_else(|d| panic!("{} is not valid JSON: {}", path.display(), d[0].message))
}

fn member<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    match &v.kind {
        Kind::Object(members) => members.iter().find(|(k, _)| k.text == key).map(|(_, v)| v),
        _ => None,
    }
}

/// A `capgate.params.json`: a JSON object of strings.
fn read_params(path: &Path) -> BTreeMap<String, String> {
    let v = parse(path, &read(path));
    let Kind::Object(members) = &v.kind else {
        panic!("{} must hold a JSON object", path.display())
    };
    members
        .iter()
        .map(|(k, v)| {
            let s = v
                .as_str()
                .unwrap_or_else(|| panic!("{}: `{}` must be a string", path.display(), k.text));
            (k.text.clone(), s.to_string())
        })
        .collect()
}

fn render(d: &Diagnostics, source: &[u8], path: &Path) -> String {
    let text = String::from_utf8_lossy(source);
    d.iter()
        .map(|x| capgate::diag::render_human(x, &text, &path.display().to_string()))
        .collect()
}

fn codes(d: &Diagnostics) -> BTreeSet<Code> {
    d.iter().map(|x| x.code).collect()
}

/// Compile twice with the same options; both runs must succeed with the
/// same key, artifacts and warnings.
fn compile_twice(path: &Path, source: &[u8], opts: &Options) -> Result<capgate::Compiled, Diagnostics> {
    let first = compile(source, opts);
    let second = compile(source, opts);
    match (&first, &second) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.key, b.key, "{}: the key differs between two compiles", path.display());
            assert_eq!(
                a.artifacts,
                b.artifacts,
                "{}: the artifacts differ between two compiles",
                path.display()
            );
            assert_eq!(a.warnings, b.warnings, "{}: the warnings differ", path.display());
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "{}: the errors differ between two compiles", path.display()),
        _ => panic!("{}: one compile succeeded and the other failed", path.display()),
    }
    first
}

/// `examples/<dir>/capgate.json` for every directory that has one, byte-sorted.
fn grammar1_examples() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for entry in fs::read_dir(examples_dir()).expect("examples/ exists") {
        let entry = entry.unwrap();
        let manifest = entry.path().join("capgate.json");
        if entry.file_type().unwrap().is_dir() && manifest.is_file() {
            out.push((entry.file_name().to_string_lossy().into_owned(), manifest));
        }
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out
}

fn compat_examples() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for entry in fs::read_dir(examples_dir().join("compat")).expect("examples/compat/ exists") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            out.push((stem, path));
        }
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out
}

fn expected_warnings(name: &str) -> BTreeSet<Code> {
    EXPECTED_WARNINGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| c.iter().copied().collect())
        .unwrap_or_default()
}

#[test]
fn the_ten_inventory_servers_are_covered() {
    let found: BTreeSet<String> = grammar1_examples().into_iter().map(|(n, _)| n).collect();
    for s in SERVERS {
        assert!(found.contains(*s), "examples/{s}/capgate.json is missing");
        let params = examples_dir().join(s).join("capgate.params.json");
        assert!(params.is_file(), "{} is missing", params.display());
    }
    for (name, _) in EXPECTED_WARNINGS {
        assert!(
            found.contains(*name),
            "EXPECTED_WARNINGS names examples/{name}, which does not exist"
        );
    }
}

#[test]
fn grammar1_examples_compile_deterministically() {
    let examples = grammar1_examples();
    assert!(examples.len() >= SERVERS.len());
    for (name, path) in examples {
        let source = read(&path);
        let manifest = parse(&path, &source);
        assert_eq!(
            member(&manifest, "grammar").and_then(Value::as_str),
            Some("1"),
            "{}: examples are written in grammar \"1\"",
            path.display()
        );
        let params_path = path.with_file_name("capgate.params.json");
        let params = if params_path.is_file() {
            read_params(&params_path)
        } else {
            BTreeMap::new()
        };
        let opts = Options {
            params,
            ..Default::default()
        };
        let out = compile_twice(&path, &source, &opts)
            .unwrap_or_else(|d| panic!("{name} does not compile:\n{}", render(&d, &source, &path)));
        assert_eq!(out.key.len(), 64);
        assert!(out.artifact("index.json").is_some() && out.artifact("bwrap/argv.json").is_some());

        // Exactly the warnings the README documents, no more, no fewer.
        let expected = expected_warnings(&name);
        assert_eq!(
            codes(&out.warnings),
            expected,
            "{name}: warnings differ from the ones examples/README.md documents:\n{}",
            render(&out.warnings, &source, &path)
        );

        // --deny-warnings: passes exactly when no warning is expected.
        let strict_opts = Options {
            deny_warnings: true,
            ..opts.clone()
        };
        match compile_twice(&path, &source, &strict_opts) {
            Ok(_) => assert!(
                expected.is_empty(),
                "{name}: compiled with deny_warnings although warnings {expected:?} are expected"
            ),
            Err(d) => {
                assert!(
                    !expected.is_empty(),
                    "{name} fails with deny_warnings:\n{}",
                    render(&d, &source, &path)
                );
                assert_eq!(
                    codes(&d),
                    expected,
                    "{name}: deny_warnings fails with other codes than the documented warnings:\n{}",
                    render(&d, &source, &path)
                );
            }
        }
    }
}

#[test]
fn params_files_use_fake_prefixes_only() {
    for (name, path) in grammar1_examples() {
        let params_path = path.with_file_name("capgate.params.json");
        if !params_path.is_file() {
            continue;
        }
        for (k, v) in read_params(&params_path) {
            if v.starts_with('/') {
                assert!(
                    v.starts_with("/opt/mcp/") || v.starts_with("/srv/mcp/"),
                    "{name}: param {k}={v} must use a fixed fake prefix (/opt/mcp/<pkg> or /srv/mcp/<server>/...)"
                );
            }
        }
    }
}

#[test]
fn compat_examples_compile_unchanged() {
    let examples = compat_examples();
    assert!(!examples.is_empty(), "examples/compat/ holds no manifests");
    for (name, _) in REJECTED_COMPAT {
        assert!(
            examples.iter().any(|(n, _)| n == name),
            "REJECTED_COMPAT names examples/compat/{name}.json, which does not exist"
        );
    }
    for (name, path) in examples {
        let source = read(&path);
        let manifest = parse(&path, &source);
        let grammar = member(&manifest, "grammar").and_then(Value::as_str);
        assert!(
            grammar.is_none() || grammar == Some("0.0"),
            "{}: compat manifests have no grammar or \"0.0\"",
            path.display()
        );
        let result = compile_twice(&path, &source, &Options::default());
        match REJECTED_COMPAT.iter().find(|(n, _)| *n == name) {
            None => {
                let out = result
                    .unwrap_or_else(|d| panic!("compat/{name} does not compile:\n{}", render(&d, &source, &path)));
                assert!(out.artifact("index.json").is_some());
            }
            Some((_, code)) => {
                let d = match result {
                    Ok(_) => {
                        panic!("compat/{name} compiles, but examples/compat/README.md says it is rejected with {code}")
                    }
                    Err(d) => d,
                };
                assert!(
                    codes(&d).contains(code),
                    "compat/{name} is rejected, but not with {code}:\n{}",
                    render(&d, &source, &path)
                );
            }
        }
    }
}

/// The TypeScript tool's provenance: sha256 over the JCS form of
/// `{name, version, serverCapabilities, tools: [{name, capabilities}]}`,
/// capability strings raw.
fn ts_manifest_hash(manifest: &Value) -> String {
    let raw = manifest.to_json();
    let Json::Object(top) = raw else {
        panic!("not an object")
    };
    let mut o = BTreeMap::new();
    for key in ["name", "version"] {
        o.insert(key.to_string(), top[key].clone());
    }
    o.insert(
        "serverCapabilities".to_string(),
        top.get("serverCapabilities")
            .cloned()
            .unwrap_or(Json::Array(Vec::new())),
    );
    let Json::Array(tools) = &top["tools"] else {
        panic!("tools")
    };
    let tools = tools
        .iter()
        .map(|t| {
            let Json::Object(t) = t else { panic!("tool") };
            let mut p = BTreeMap::new();
            p.insert("name".to_string(), t["name"].clone());
            p.insert("capabilities".to_string(), t["capabilities"].clone());
            Json::Object(p)
        })
        .collect();
    o.insert("tools".to_string(), Json::Array(tools));
    capgate::artifact::sha256_hex(Json::Object(o).to_compact().as_bytes())
}

#[test]
fn compat_fetch_is_the_ts_golden_manifest() {
    // Known answer from capgate-ts.md §6, to check the projection itself.
    let known = br#"{"name":"srv","version":"1.0.0","tools":[{"name":"t","capabilities":["fs:read:/x"]}]}"#;
    let v = parse(Path::new("known-answer"), known);
    assert_eq!(
        ts_manifest_hash(&v),
        "ed84115385089df118983e03900f9b6c473327cb48a663ca6d824a8cd3a5f807"
    );
    let path = examples_dir().join("compat").join("fetch.json");
    let v = parse(&path, &read(&path));
    assert_eq!(ts_manifest_hash(&v), TS_FETCH_MANIFEST_HASH);
}
