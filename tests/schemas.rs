//! The JSON Schemas in `schemas/` against what capgate really accepts and
//! writes. No schema crate: a small structural check (object keys against
//! `properties`/`required`/`additionalProperties: false`, `type`, `const`,
//! string `enum`, local `$ref`, array `items`) that is honest about what it
//! covers and is not a full JSON Schema validator.

use capgate::json::{self, Kind, Value};
use capgate::{compile, Options};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const DRAFT: &str = "https://json-schema.org/draft/2020-12/schema";

/// Every schema that ships, and the JSON output it describes (None: the manifest,
/// an output checked by its own test below, or a runtime record such as the
/// launch log, checked in tests/launch_log.rs).
const SCHEMAS: &[(&str, Option<&str>)] = &[
    ("capgate.schema.json", None),
    ("capgate.import-report.schema.json", None),
    ("capgate.index.schema.json", Some("index.json")),
    ("capgate.policy.schema.json", Some("policy.json")),
    ("capgate.bwrap.schema.json", Some("bwrap/argv.json")),
    ("capgate.docker.schema.json", Some("docker/argv.json")),
    ("capgate.diff.schema.json", Some(DIFF_OUTPUT)),
    ("capgate.oci.schema.json", Some("oci/config.json")),
    ("capgate.launch.schema.json", None),
];

/// Not a compiled file: what `capgate diff --format json` prints.
const DIFF_OUTPUT: &str = "capgate diff --format json";

/// The keys the manifest parser accepts (besides `x-*`).
use capgate::manifest::{TOOL_KEYS, TOP_KEYS};

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

fn parse(text: &str, what: &str) -> Value {
    json::parse(text).unwrap_or_else(|d| panic!("{what} is not valid JSON: {}", d[0].message))
}

fn load(file: &str) -> Value {
    let path = schema_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read schemas/{file}: {e}"));
    parse(&text, &format!("schemas/{file}"))
}

fn members(v: &Value) -> &[(json::Key, Value)] {
    match &v.kind {
        Kind::Object(m) => m,
        _ => &[],
    }
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    members(v).iter().find(|(k, _)| k.text == key).map(|(_, v)| v)
}

fn keys(v: &Value) -> BTreeSet<String> {
    members(v).iter().map(|(k, _)| k.text.clone()).collect()
}

fn strings(v: Option<&Value>) -> BTreeSet<String> {
    match v.map(|v| &v.kind) {
        Some(Kind::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
        _ => BTreeSet::new(),
    }
}

/// Follow a local `$ref` (`#/$defs/NAME`), repeatedly.
fn resolve<'a>(root: &'a Value, mut s: &'a Value) -> &'a Value {
    while let Some(r) = get(s, "$ref").and_then(Value::as_str) {
        let name = r
            .strip_prefix("#/$defs/")
            .unwrap_or_else(|| panic!("only local #/$defs refs are used, found {r}"));
        s = get(root, "$defs")
            .and_then(|d| get(d, name))
            .unwrap_or_else(|| panic!("$ref {r} points nowhere"));
    }
    s
}

fn type_name(v: &Value) -> &'static str {
    match &v.kind {
        Kind::Null => "null",
        Kind::Bool(_) => "boolean",
        Kind::Number { integer: true, .. } => "integer",
        Kind::Number { .. } => "number",
        Kind::String { .. } => "string",
        Kind::Array(_) => "array",
        Kind::Object(_) => "object",
    }
}

/// True if a `patternProperties` entry of `s` matches `key`. Only literal
/// prefix patterns (`^x-`) are supported; anything else fails the test.
fn pattern_allows(s: &Value, key: &str) -> bool {
    let Some(patterns) = get(s, "patternProperties") else {
        return false;
    };
    members(patterns).iter().any(|(p, _)| {
        let prefix = p
            .text
            .strip_prefix('^')
            .filter(|rest| !rest.contains(|c: char| "\\.*+?()[]{}|^$".contains(c)))
            .unwrap_or_else(|| panic!("pattern {:?} is not a literal prefix", p.text));
        key.starts_with(prefix)
    })
}

/// Check `value` against the structural parts of `schema`; push problems to `errs`.
fn check(root: &Value, schema: &Value, value: &Value, at: &str, errs: &mut Vec<String>) {
    let s = resolve(root, schema);
    if let Some(all) = get(s, "allOf") {
        if let Kind::Array(parts) = &all.kind {
            for p in parts {
                check(root, p, value, at, errs);
            }
        }
    }
    if let Some(t) = get(s, "type") {
        let allowed: BTreeSet<String> = match t.as_str() {
            Some(one) => [one.to_string()].into(),
            None => strings(Some(t)),
        };
        let actual = type_name(value);
        let ok = allowed.contains(actual) || (actual == "integer" && allowed.contains("number"));
        if !ok {
            errs.push(format!("{at}: is {actual}, schema says {allowed:?}"));
            return;
        }
    }
    if let Some(c) = get(s, "const").and_then(Value::as_str) {
        if value.as_str() != Some(c) {
            errs.push(format!("{at}: expected the constant {c:?}"));
        }
    }
    if let (Some(e), Some(v)) = (get(s, "enum"), value.as_str()) {
        let options = strings(Some(e));
        if !options.is_empty() && !options.contains(v) {
            errs.push(format!("{at}: {v:?} is not one of {options:?}"));
        }
    }
    match &value.kind {
        Kind::Object(fields) => {
            let props = get(s, "properties");
            let declared = props.map(keys).unwrap_or_default();
            for r in strings(get(s, "required")) {
                if !fields.iter().any(|(k, _)| k.text == r) {
                    errs.push(format!("{at}: required key `{r}` is missing"));
                }
            }
            let extra = get(s, "additionalProperties");
            for (k, v) in fields {
                let here = format!("{at}.{}", k.text);
                if let Some(p) = props.and_then(|p| get(p, &k.text)) {
                    check(root, p, v, &here, errs);
                } else if pattern_allows(s, &k.text) {
                    // patternProperties: only literal prefixes (`^x-`) are used.
                } else if let Some(x) = extra {
                    if matches!(x.kind, Kind::Bool(false)) {
                        errs.push(format!(
                            "{at}: key `{}` is not in the schema's properties {declared:?}",
                            k.text
                        ));
                    } else if matches!(x.kind, Kind::Object(_)) {
                        check(root, x, v, &here, errs);
                    }
                }
            }
        }
        Kind::Array(items) => {
            let prefix: Vec<&Value> = match get(s, "prefixItems").map(|p| &p.kind) {
                Some(Kind::Array(p)) => p.iter().collect(),
                _ => Vec::new(),
            };
            for (i, item) in items.iter().enumerate() {
                let here = format!("{at}[{i}]");
                match prefix.get(i) {
                    Some(p) => check(root, p, item, &here, errs),
                    None => {
                        if let Some(it) = get(s, "items") {
                            check(root, it, item, &here, errs);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// Manifests that exercise every output key, including optional ones
/// (env `value`, limits, assertions, covered binds, optional paths).
fn manifests() -> Vec<(&'static str, &'static str, BTreeMap<String, String>)> {
    let pkg = |p: &str| [("PKG".to_string(), p.to_string())].into_iter().collect();
    vec![
        (
            "filesystem",
            r#"{
              "$schema": "https://capgate.dev/schemas/capgate.schema.json",
              "grammar": "1",
              "name": "@modelcontextprotocol/server-filesystem",
              "version": "2026.8.31",
              "command": ["/usr/bin/node", "${PKG}/dist/index.js", "/srv/mcp/data"],
              "params": { "PKG": { "description": "package dir" } },
              "capabilities": ["fs:read:${PKG}/**", "clock:read:tzdata"],
              "tools": [
                { "name": "read_text_file", "description": "read", "inputSchema": { "type": "object" },
                  "capabilities": [ { "cap": "fs:read:/srv/mcp/data/**", "why": "serves files from the data root" } ] },
                { "name": "write_file",
                  "capabilities": [ "fs:read,write,create:/srv/mcp/data/**", "fs:read:/srv/mcp/data/ro/**" ] }
              ],
              "x-owner": "team"
            }"#,
            pkg("/opt/mcp/server-filesystem"),
        ),
        (
            "fetch",
            r#"{
              "grammar": "1",
              "name": "fetch", "version": "1.0.0",
              "profile": "nix",
              "image": "registry.example/team/fetch@sha256:0000000000000000000000000000000000000000000000000000000000000000",
              "command": ["${PKG}/bin/mcp-server-fetch"],
              "params": { "PKG": { "description": "venv" } },
              "capabilities": [
                "fs:read:${PKG}/**", "fs:read:/nix/store/abc", "fs:read:/srv/mcp/cache/*?optional=true",
                "env:inject:GITHUB_TOKEN", "env:read:TZ", "env:set:MODE=fast",
                "limit:set:memory=512MiB", "limit:set:pids=256", "limit:set:cpu=500m",
                "limit:set:nofile=1024", "limit:set:tmpfs=64MiB",
                "assert:require:fetch.robots:obeys robots.txt", "assert:require:fetch.ssrf",
                "ipc:connect:unix:/srv/mcp/app.sock?optional=true", "exec:spawn:git"
              ],
              "tools": [
                { "name": "fetch", "capabilities": [
                  { "cap": "net:connect:api.github.com:443", "why": "GitHub API" },
                  "net:connect:*.example.com:443", "net:connect:10.0.0.0/8:5432",
                  "net:connect:[2001:db8::1]:8000-8080", "net:connect:dns.example.net:53?proto=udp",
                  "net:listen:127.0.0.1:8080"
                ] },
                { "name": "noop" }
              ]
            }"#,
            pkg("/opt/mcp/fetch"),
        ),
        (
            "compat",
            r#"{
              "name": "puppeteer", "version": "0.6.2",
              "serverCapabilities": ["clock:tzdata", "assert:pup.untrusted:\"scripts: untrusted\""],
              "tools": [ { "name": "navigate", "capabilities": [
                "exec:spawn:chromium?nestedSandbox=1", "net:connect:*", "ipc:connect:x11",
                "fs:read,write:/srv/mcp/puppeteer/**"
              ] } ]
            }"#,
            BTreeMap::new(),
        ),
    ]
}

#[test]
fn every_schema_parses_and_names_itself() {
    let mut on_disk: Vec<String> = std::fs::read_dir(schema_dir())
        .expect("schemas/ exists")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut expected: Vec<String> = SCHEMAS.iter().map(|(f, _)| f.to_string()).collect();
    expected.sort();
    assert_eq!(on_disk, expected, "schemas/ holds exactly the schemas this test knows");

    for (file, _) in SCHEMAS {
        let s = load(file);
        assert_eq!(
            get(&s, "$schema").and_then(Value::as_str),
            Some(DRAFT),
            "{file}: $schema"
        );
        let id = format!("https://capgate.dev/schemas/{file}");
        assert_eq!(get(&s, "$id").and_then(Value::as_str), Some(id.as_str()), "{file}: $id");
        assert_eq!(get(&s, "type").and_then(Value::as_str), Some("object"), "{file}: type");
        assert!(get(&s, "properties").is_some(), "{file}: has properties");
        // Every local $ref resolves.
        fn walk(root: &Value, v: &Value) {
            match &v.kind {
                Kind::Object(m) => {
                    resolve(root, v);
                    for (_, x) in m {
                        walk(root, x);
                    }
                }
                Kind::Array(items) => items.iter().for_each(|x| walk(root, x)),
                _ => {}
            }
        }
        walk(&s, &s);
    }
}

#[test]
fn the_cli_prints_the_manifest_schema_file() {
    let on_disk = std::fs::read_to_string(schema_dir().join("capgate.schema.json")).unwrap();
    assert_eq!(capgate::MANIFEST_SCHEMA, on_disk);
}

#[test]
fn manifest_schema_keys_equal_the_parsers_keys() {
    let s = load("capgate.schema.json");
    let props = keys(get(&s, "properties").unwrap());
    let top: BTreeSet<String> = TOP_KEYS.iter().map(|k| k.to_string()).collect();
    assert_eq!(props, top, "top-level properties vs TOP_KEYS in src/manifest/mod.rs");
    assert_eq!(
        strings(get(&s, "required")),
        ["name", "version"].iter().map(|k| k.to_string()).collect()
    );
    assert!(matches!(
        get(&s, "additionalProperties").map(|v| &v.kind),
        Some(Kind::Bool(false))
    ));
    assert_eq!(keys(get(&s, "patternProperties").unwrap()), ["^x-".to_string()].into());

    let defs = get(&s, "$defs").unwrap();
    let tool = get(defs, "tool").unwrap();
    let tool_keys: BTreeSet<String> = TOOL_KEYS.iter().map(|k| k.to_string()).collect();
    assert_eq!(
        keys(get(tool, "properties").unwrap()),
        tool_keys,
        "tool properties vs TOOL_KEYS"
    );
    assert_eq!(strings(get(tool, "required")), ["name".to_string()].into());

    // The manifests this test compiles are valid under the schema's structure.
    for (name, text, _) in manifests() {
        let mut errs = Vec::new();
        check(&s, &s, &parse(text, name), name, &mut errs);
        assert!(errs.is_empty(), "{name}: {errs:#?}");
    }
    // And the structural check does catch an unknown key.
    let mut errs = Vec::new();
    check(
        &s,
        &s,
        &parse(r#"{"name":"a","version":"1","serverCapabilites":[]}"#, "typo"),
        "typo",
        &mut errs,
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
}

#[test]
fn output_files_match_their_schemas() {
    let mut seen = BTreeSet::new();
    for (name, text, params) in manifests() {
        let opts = Options {
            params,
            targets: capgate::Target::ALL.into_iter().collect(),
            ..Options::default()
        };
        let out = compile(text.as_bytes(), &opts).unwrap_or_else(|d| panic!("{name} does not compile: {d:?}"));
        for a in out.artifacts.iter().filter(|a| a.media_type == "application/json") {
            let (file, _) = SCHEMAS
                .iter()
                .find(|(_, out)| *out == Some(a.path.as_str()))
                .unwrap_or_else(|| panic!("{} has no schema in schemas/", a.path));
            let schema = load(file);
            let doc = parse(std::str::from_utf8(&a.bytes).unwrap(), &a.path);
            let at = format!("{name}:{}", a.path);

            let top = keys(&doc);
            let props = keys(get(&schema, "properties").unwrap());
            assert_eq!(top, props, "{at}: top-level keys vs {file} properties");
            assert_eq!(
                strings(get(&schema, "required")),
                top,
                "{at}: top-level keys vs {file} required"
            );

            let mut errs = Vec::new();
            check(&schema, &schema, &doc, &at, &mut errs);
            assert!(errs.is_empty(), "{at} vs {file}: {errs:#?}");
            seen.insert(a.path.clone());
        }
    }
    let expected: BTreeSet<String> = SCHEMAS
        .iter()
        .filter_map(|(_, o)| o.filter(|o| *o != DIFF_OUTPUT).map(str::to_string))
        .collect();
    assert_eq!(seen, expected, "every output schema was exercised");
}

/// The golden `capgate diff --format json` outputs (tests/diff checks they
/// are what the binary prints) match schemas/capgate.diff.schema.json.
#[test]
fn diff_json_matches_its_schema() {
    let file = "capgate.diff.schema.json";
    let schema = load(file);
    let cases = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("diff");
    let mut n = 0;
    let mut kinds = BTreeSet::new();
    for e in std::fs::read_dir(&cases).expect("tests/diff exists") {
        let path = e.expect("dir entry").path().join("expected.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let doc = parse(&text, &path.display().to_string());
        assert_eq!(
            keys(&doc),
            keys(get(&schema, "properties").unwrap()),
            "{}",
            path.display()
        );
        let mut errs = Vec::new();
        check(&schema, &schema, &doc, &path.display().to_string(), &mut errs);
        assert!(errs.is_empty(), "{} vs {file}: {errs:#?}", path.display());
        if let Some(Kind::Array(items)) = get(&doc, "effective").map(|v| &v.kind) {
            kinds.extend(
                items
                    .iter()
                    .filter_map(|i| get(i, "type").and_then(Value::as_str).map(str::to_string)),
            );
        }
        n += 1;
    }
    assert!(n >= 10, "only {n} golden diff outputs");
    assert_eq!(kinds.len(), 5, "every change type is exercised: {kinds:?}");
    // The structural check catches a wrong change type.
    let bad = r#"{"format":"capgate.diff/1","old":{"name":"a","version":"1"},"new":{"name":"a","version":"1"},
      "widens":false,"summary":{"granted":0,"revoked":0,"widened":0,"narrowed":0,"changed":0},"fields":[],
      "effective":[{"type":"grew","change":"granted","kind":"fs","old":[],"new":[],"widens":true,"narrows":false}],
      "limits":[],"env_secrets_added":[],"server":{"added":false,"removed":false,"changes":[]},"tools":{},"targets":{}}"#;
    let mut errs = Vec::new();
    check(&schema, &schema, &parse(bad, "bad"), "bad", &mut errs);
    assert_eq!(errs.len(), 1, "{errs:?}");
}

/// Every golden `capgate import --format json` report matches its schema.
#[test]
fn import_reports_match_their_schema() {
    let schema = load("capgate.import-report.schema.json");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("import");
    let mut n = 0;
    for format in std::fs::read_dir(&root).unwrap() {
        let format = format.unwrap().path();
        if !format.is_dir() {
            continue;
        }
        for sample in std::fs::read_dir(&format).unwrap() {
            let report = sample.unwrap().path().join("report.json");
            let Ok(text) = std::fs::read_to_string(&report) else {
                continue;
            };
            let doc = parse(&text, &report.display().to_string());
            assert_eq!(
                keys(&doc),
                keys(get(&schema, "properties").unwrap()),
                "{}",
                report.display()
            );
            let mut errs = Vec::new();
            check(&schema, &schema, &doc, &report.display().to_string(), &mut errs);
            assert!(errs.is_empty(), "{errs:#?}");
            n += 1;
        }
    }
    assert!(n >= 15, "only {n} import reports checked");
}
