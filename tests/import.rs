//! `capgate import`: golden manifests and reports per sample, and the round
//! trip every imported manifest must survive.
//!
//! Each `tests/import/<format>/<sample>/` holds `input.json` or
//! `input.yaml` (written from the format's public spec) and the goldens
//! `capgate.json`, `report.txt`, `report.json`. `resolve.json` is what a
//! person decides: `{"todos": {"todo:decide:…": [grants…]}, "params": {…}}`.
//!
//! For every sample:
//! 1. import gives exactly the goldens (`CAPGATE_UPDATE_GOLDEN=1 cargo test
//!    --test import` rewrites them; review the diff);
//! 2. the imported manifest does not compile while it has TODOs, and the
//!    only error is CG0510 (with the params given, so nothing else hides it);
//! 3. with each TODO replaced as `resolve.json` says, it compiles;
//! 4. `capgate-ts` samples (and every manifest in `examples/compat/`) give
//!    the same policy and artifacts as compiling the original in
//!    compatibility mode, `grammar` aside.

use capgate::import::{self, Format};
use capgate::json::{self, Json, Kind, Value};
use capgate::{Code, Options};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const UPDATE_VAR: &str = "CAPGATE_UPDATE_GOLDEN";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("import")
}

fn updating() -> bool {
    std::env::var_os(UPDATE_VAR).is_some_and(|v| v == "1")
}

/// Every sample dir with its format, byte-sorted.
fn samples() -> Vec<(Format, PathBuf)> {
    let mut out = Vec::new();
    for f in Format::ALL {
        let dir = root().join(f.as_str());
        let mut names: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        names.sort();
        assert!(names.len() >= 3, "{}: fewer than 3 samples", f.as_str());
        out.extend(names.into_iter().map(|p| (*f, p)));
    }
    out
}

fn input_of(dir: &Path) -> PathBuf {
    for n in ["input.json", "input.yaml"] {
        if dir.join(n).exists() {
            return dir.join(n);
        }
    }
    panic!("{}: no input.json or input.yaml", dir.display())
}

fn check_golden(path: &Path, actual: &str, problems: &mut Vec<String>) {
    if updating() {
        fs::write(path, actual).unwrap();
        return;
    }
    match fs::read_to_string(path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => {
            let diff = similar::TextDiff::from_lines(expected.as_str(), actual)
                .unified_diff()
                .header("golden", "actual")
                .to_string();
            problems.push(format!("{} differs:\n{diff}", path.display()));
        }
        Err(e) => problems.push(format!("{}: {e} (run with {UPDATE_VAR}=1)", path.display())),
    }
}

#[test]
fn goldens() {
    let mut problems = Vec::new();
    for (format, dir) in samples() {
        let text = fs::read_to_string(input_of(&dir)).unwrap();
        let out = import::import(format, &text).unwrap_or_else(|d| panic!("{}: {d:?}", dir.display()));
        // Same input, same bytes.
        assert_eq!(import::import(format, &text).unwrap(), out);
        check_golden(&dir.join("capgate.json"), &out.manifest_text(), &mut problems);
        check_golden(&dir.join("report.txt"), &out.report.to_human(), &mut problems);
        check_golden(&dir.join("report.json"), &out.report.to_json(), &mut problems);
        json::parse(&out.report.to_json()).expect("report.json is JSON");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

struct Resolution {
    todos: BTreeMap<String, Vec<Json>>,
    params: BTreeMap<String, String>,
}

fn members(v: &Value) -> &[(json::Key, Value)] {
    match &v.kind {
        Kind::Object(m) => m,
        _ => panic!("expected an object"),
    }
}

fn resolution(dir: &Path) -> Resolution {
    let p = dir.join("resolve.json");
    let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let v = json::parse(&text).unwrap_or_else(|d| panic!("{}: {d:?}", p.display()));
    let mut r = Resolution {
        todos: BTreeMap::new(),
        params: BTreeMap::new(),
    };
    for (k, val) in members(&v) {
        match k.text.as_str() {
            "todos" => {
                for (t, grants) in members(val) {
                    let Json::Array(items) = grants.to_json() else {
                        panic!("{}: not an array", t.text)
                    };
                    r.todos.insert(t.text.clone(), items);
                }
            }
            "params" => {
                for (n, s) in members(val) {
                    r.params.insert(n.text.clone(), s.as_str().unwrap().to_string());
                }
            }
            "x-why" => {}
            other => panic!("{}: unknown key {other}", p.display()),
        }
    }
    r
}

fn cap_text(j: &Json) -> Option<&str> {
    match j {
        Json::Str(s) => Some(s),
        Json::Object(o) => match o.get("cap") {
            Some(Json::Str(s)) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// Replace every TODO entry of every capability list as decided.
fn resolve(manifest: &Json, r: &Resolution) -> (Json, BTreeSet<String>) {
    let mut seen = BTreeSet::new();
    let mut m = manifest.clone();
    let fix = |list: &mut Json, seen: &mut BTreeSet<String>| {
        let Json::Array(items) = list else { return };
        let mut out = Vec::new();
        for item in items.drain(..) {
            match cap_text(&item).filter(|c| c.starts_with("todo:")) {
                Some(c) => {
                    seen.insert(c.to_string());
                    let grants = r
                        .todos
                        .get(c)
                        .unwrap_or_else(|| panic!("resolve.json does not decide {c}"));
                    out.extend(grants.iter().cloned());
                }
                None => out.push(item),
            }
        }
        *items = out;
    };
    let Json::Object(o) = &mut m else { panic!() };
    if let Some(list) = o.get_mut("capabilities") {
        fix(list, &mut seen);
    }
    if let Some(Json::Array(tools)) = o.get_mut("tools") {
        for t in tools {
            if let Json::Object(t) = t {
                if let Some(list) = t.get_mut("capabilities") {
                    fix(list, &mut seen);
                }
            }
        }
    }
    (m, seen)
}

fn options(params: &BTreeMap<String, String>) -> Options {
    Options {
        params: params.clone(),
        ..Options::default()
    }
}

#[test]
fn imports_fail_closed_until_resolved() {
    for (format, dir) in samples() {
        let name = dir.display().to_string();
        let text = fs::read_to_string(input_of(&dir)).unwrap();
        let out = import::import(format, &text).unwrap();
        let r = resolution(&dir);
        let todos: BTreeSet<String> = out.report.todos.iter().map(|t| t.cap.clone()).collect();
        assert_eq!(
            todos,
            r.todos.keys().cloned().collect::<BTreeSet<_>>(),
            "{name}: resolve.json must decide exactly the report's TODOs"
        );
        let opts = options(&r.params);
        let bytes = out.manifest_text().into_bytes();
        let compiled = capgate::compile(&bytes, &opts);
        if todos.is_empty() {
            compiled.unwrap_or_else(|d| panic!("{name}: no TODOs, yet it does not compile: {d:?}"));
        } else {
            let errs = compiled.expect_err(&format!("{name}: compiles with TODOs"));
            let codes: BTreeSet<Code> = errs.iter().filter(|d| d.is_error()).map(|d| d.code).collect();
            assert_eq!(codes, BTreeSet::from([Code::ImportTodo]), "{name}: {errs:?}");
            let n = errs.iter().filter(|d| d.code == Code::ImportTodo).count();
            let entries = out.manifest_text().matches("\"cap\": \"todo:decide:").count();
            assert_eq!(n, entries, "{name}: one CG0510 per TODO entry");
        }
        let (resolved, seen) = resolve(&out.manifest, &r);
        assert_eq!(seen, todos, "{name}");
        let text = resolved.to_pretty();
        assert!(!text.contains("todo:"), "{name}");
        capgate::compile(text.as_bytes(), &opts)
            .unwrap_or_else(|d| panic!("{name}: the resolved manifest does not compile: {d:?}\n{text}"));
    }
}

/// policy.json without `grammar`, and every target artifact.
fn comparable(bytes: &[u8], params: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let c = capgate::compile(bytes, &options(params)).unwrap_or_else(|d| panic!("{d:?}"));
    let mut out = BTreeMap::new();
    for a in &c.artifacts {
        if a.path == "index.json" {
            continue;
        }
        let text = String::from_utf8(a.bytes.clone()).unwrap();
        let text = if a.path == "policy.json" {
            let v = json::parse(&text).unwrap().to_json();
            let Json::Object(mut o) = v else { panic!() };
            assert!(o.remove("grammar").is_some(), "policy.json has a grammar field");
            Json::Object(o).to_pretty()
        } else {
            text
        };
        out.insert(a.path.clone(), text);
    }
    out
}

fn same_policy(original: &[u8], params: &BTreeMap<String, String>, what: &str) {
    let text = std::str::from_utf8(original).unwrap();
    let out = import::import(Format::CapgateTs, text).unwrap_or_else(|d| panic!("{what}: {d:?}"));
    let imported = out.manifest_text();
    assert!(imported.contains("\"grammar\": \"1\""));
    let a = comparable(original, params);
    let b = comparable(imported.as_bytes(), params);
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "{what}");
    for (path, x) in &a {
        let y = &b[path];
        assert!(
            x == y,
            "{what}: {path} differs between grammar 0.0 and the import:\n{}",
            similar::TextDiff::from_lines(x, y).unified_diff()
        );
    }
}

#[test]
fn capgate_ts_round_trip_gives_the_same_policy() {
    for (format, dir) in samples() {
        if format != Format::CapgateTs {
            continue;
        }
        let r = resolution(&dir);
        same_policy(
            &fs::read(input_of(&dir)).unwrap(),
            &r.params,
            &dir.display().to_string(),
        );
    }
    let compat = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join("compat");
    let mut n = 0;
    for e in fs::read_dir(&compat).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            same_policy(&fs::read(&p).unwrap(), &BTreeMap::new(), &p.display().to_string());
            n += 1;
        }
    }
    assert!(n >= 10, "examples/compat has {n} manifests");
}

#[test]
fn never_wider_than_the_source() {
    // Allow-all egress sources become TODOs, never net:connect:*:*.
    let th =
        r#"{"name":"x","image":"ghcr.io/x/y:1","permissions":{"network":{"outbound":{"insecure_allow_all":true}}}}"#;
    let out = import::import(Format::Toolhive, th).unwrap();
    assert!(
        !out.manifest_text().contains("\"cap\": \"net:"),
        "{}",
        out.manifest_text()
    );
    assert!(out.report.todos.iter().any(|t| t.cap == "todo:decide:net.allow_all"));
    // A docker catalog entry that does not restrict egress: TODO, no grant.
    let dc = "name: x\nimage: mcp/x:1\n";
    let out = import::import(Format::DockerCatalog, dc).unwrap();
    assert!(!out.manifest_text().contains("\"cap\": \"net:"));
    assert!(out.report.todos.iter().any(|t| t.cap == "todo:decide:net"));
    // A sensitive path in a source becomes a TODO, not a sensitive=allow grant.
    let th = r#"{"name":"x","read":["/etc"],"write":["/home/u/.ssh"],"network":{"mode":"none"}}"#;
    let out = import::import(Format::Toolhive, th).unwrap();
    let text = out.manifest_text();
    assert!(
        !text.contains("\"cap\": \"fs:") && !text.contains("sensitive=allow"),
        "{text}"
    );
    assert_eq!(out.report.todos.len(), 2);
    // Docker runtime arguments are reported, never imported.
    let reg = fs::read_to_string(root().join("mcp-registry/oci-runtime-args/input.json")).unwrap();
    let out = import::import(Format::McpRegistry, &reg).unwrap();
    assert!(!out.manifest_text().contains("docker.sock"));
    assert!(out.report.lossy.iter().any(|l| l.said.contains("--network")));
    // Secrets never land in argv.
    let mcpb = fs::read_to_string(root().join("mcpb/notes-binary/input.json")).unwrap();
    let out = import::import(Format::Mcpb, &mcpb).unwrap();
    let Json::Object(o) = &out.manifest else { panic!() };
    let cmd = o["command"].to_compact();
    assert!(!cmd.contains("token") && !cmd.contains("TOKEN"), "{cmd}");
    // A value that uses a secret variable: env:inject, and never a param in
    // a grant or in argv.
    let reg = fs::read_to_string(root().join("mcp-registry/secret-variables/input.json")).unwrap();
    let out = import::import(Format::McpRegistry, &reg).unwrap();
    let text = out.manifest_text();
    for secret in ["${TOKEN}", "${API_TOKEN}", "--token", "user:", "Bearer"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(text.contains("\"env:inject:AUTH_HEADER\""), "{text}");
    assert!(!out.report.params.keys().any(|p| p.contains("TOKEN")));
    assert!(out.report.lossy.iter().any(|l| l.said == "--token {token}"));
    // An oci image's arguments go to its entrypoint: never a `command` bwrap
    // would run as the program.
    let reg = fs::read_to_string(root().join("mcp-registry/oci-entrypoint-args/input.json")).unwrap();
    let out = import::import(Format::McpRegistry, &reg).unwrap();
    let Json::Object(o) = &out.manifest else { panic!() };
    assert!(!o.contains_key("command"), "{}", out.manifest_text());
    assert!(out.report.lossy.iter().any(|l| l.said == "stdio"));
    // allowHosts: /udp keeps its protocol; an unknown protocol or a missing
    // port is a TODO with a well-formed example, never a grant.
    let dc = "name: x\nimage: mcp/x:1\nrun:\n  allowHosts:\n    - a.example:53/udp\n    - b.example/udp\n    - c.example:9/sctp\n";
    let out = import::import(Format::DockerCatalog, dc).unwrap();
    let text = out.manifest_text();
    assert!(text.contains("\"net:connect:a.example:53?proto=udp\""), "{text}");
    assert!(
        !text.contains("\"net:connect:b.") && !text.contains("\"net:connect:c."),
        "{text}"
    );
    let sugg: Vec<&str> = out
        .report
        .todos
        .iter()
        .flat_map(|t| t.suggest.iter().map(String::as_str))
        .collect();
    assert_eq!(
        sugg,
        ["net:connect:b.example:<port>?proto=udp"],
        "{:?}",
        out.report.todos
    );
    assert_eq!(out.report.todos.len(), 2);
    // A loader hook is a TODO whatever its value holds (a param, whitespace).
    let mcpb = fs::read_to_string(root().join("mcpb/loader-hooks/input.json")).unwrap();
    let out = import::import(Format::Mcpb, &mcpb).unwrap();
    let text = out.manifest_text();
    assert!(
        !text.contains("\"env:set:PYTHONPATH") && !text.contains("\"env:set:NODE_OPTIONS"),
        "{text}"
    );
    for hook in ["PYTHONPATH", "NODE_OPTIONS"] {
        let t = out.report.todos.iter().find(|t| t.cap.ends_with(hook)).expect(hook);
        assert!(
            t.question.contains("loader hook") && !t.question.contains("whitespace"),
            "{}",
            t.question
        );
    }
}

#[test]
fn hostile_sources_are_clear_errors() {
    let cases: &[(Format, &str, &str)] = &[
        (Format::Mcpb, "{", "key"),
        (Format::Mcpb, r#"{"name":"x","version":"1"}"#, "`server` is missing"),
        (
            Format::Mcpb,
            r#"{"name":"x","version":"1","server":{"type":"node","mcp_config":{"command":["node"]}}}"#,
            "expected a string",
        ),
        (
            Format::McpRegistry,
            r#"{"name":"x","version":"1","remotes":[{"type":"sse","url":"https://x"}]}"#,
            "no `packages`",
        ),
        (Format::DockerCatalog, "a: &a [x]\nb: *a\n", "aliases"),
        (Format::DockerCatalog, "name: x\ntype: remote\n", "remote"),
        (Format::DockerCatalog, "name: [\n", "YAML"),
        (Format::Toolhive, r#"{"servers":{"a":{},"b":{}}}"#, "2 servers"),
        (
            Format::CapgateTs,
            r#"{"grammar":"1","name":"x","version":"1"}"#,
            "not \"0.0\"",
        ),
        (Format::CapgateTs, "[]", "expected an object"),
    ];
    for (f, text, want) in cases {
        let d = import::import(*f, text).expect_err(text);
        assert!(d.iter().all(|d| d.code == Code::ImportSource), "{text}: {d:?}");
        assert!(d.iter().any(|d| d.message.contains(want)), "{text}: {d:?}");
    }
}

fn capgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_capgate"))
}

#[test]
fn cli_writes_the_manifest_and_prints_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = root().join("mcpb").join("file-manager-node");
    let out_file = tmp.path().join("capgate.json");
    let out = capgate()
        .args(["import", "dxt"])
        .arg(dir.join("input.json"))
        .arg("-o")
        .arg(&out_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let golden = fs::read_to_string(dir.join("report.txt")).unwrap();
    assert!(stdout.starts_with(&golden), "{stdout}");
    assert_eq!(
        fs::read_to_string(&out_file).unwrap(),
        fs::read_to_string(dir.join("capgate.json")).unwrap()
    );
    // An existing file is not overwritten without --force.
    let again = capgate()
        .args(["import", "mcpb"])
        .arg(dir.join("input.json"))
        .arg("-o")
        .arg(&out_file)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    // The imported manifest fails closed through the CLI too.
    let c = capgate()
        .arg("compile")
        .arg(&out_file)
        .arg("--out-dir")
        .arg(tmp.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(c.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&c.stderr).contains("error[CG0510]"));
    assert!(!tmp.path().join("out").exists());
    // --format json, manifest on stdout with -o -: the report goes to stderr.
    let j = capgate()
        .args(["import", "mcpb", "--format", "json", "-o", "-"])
        .arg(dir.join("input.json"))
        .output()
        .unwrap();
    assert_eq!(j.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(j.stdout).unwrap(),
        fs::read_to_string(dir.join("capgate.json")).unwrap()
    );
    assert_eq!(
        String::from_utf8(j.stderr).unwrap(),
        fs::read_to_string(dir.join("report.json")).unwrap()
    );
}

/// `tests/import/errors/<case>.<ext>`: the exact stderr of a rejected import
/// (`<case>.stderr`); the format is the first `-`-separated word of the case
/// name up to `--` (`toolhive--two-servers.json`).
#[test]
fn cli_errors() {
    let dir = root().join("errors");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".stderr"))
        .collect();
    names.sort();
    assert!(!names.is_empty());
    for n in names {
        let format = n.split("--").next().unwrap();
        let out = capgate()
            .current_dir(&dir)
            .args(["import", format, &n, "-o", "-"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{n}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        let golden = dir.join(format!("{}.stderr", n.rsplit_once('.').unwrap().0));
        if updating() {
            fs::write(&golden, &stderr).unwrap();
        } else {
            assert_eq!(fs::read_to_string(&golden).unwrap_or_default(), stderr, "{n}");
        }
        assert!(out.stdout.is_empty(), "{n}");
    }
}

#[test]
fn help_has_examples() {
    let out = capgate().args(["import", "--help"]).output().unwrap();
    let s = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0));
    for f in Format::ALL {
        assert!(s.contains(f.as_str()), "{s}");
    }
    assert!(s.contains("Examples:") && s.contains("CG0510"), "{s}");
}

/// Every example grant the report suggests (without a `<…>` blank to fill
/// in) is a grant that compiles.
#[test]
fn suggested_grants_compile() {
    for (format, dir) in samples() {
        let text = fs::read_to_string(input_of(&dir)).unwrap();
        let out = import::import(format, &text).unwrap();
        let mut r = resolution(&dir);
        for t in &out.report.todos {
            let grants: Vec<Json> = t.suggest.iter().filter(|s| !s.contains('<')).map(Json::str).collect();
            r.todos.insert(t.cap.clone(), grants);
        }
        let (resolved, _) = resolve(&out.manifest, &r);
        capgate::compile(resolved.to_pretty().as_bytes(), &options(&r.params))
            .unwrap_or_else(|d| panic!("{}: {d:?}", dir.display()));
    }
    // A directory the bundle never passes on the command line still gets a
    // declared param, so its suggested grant compiles.
    let m = r#"{"name":"x","version":"1","server":{"type":"node","mcp_config":{"command":"node","args":["${__dirname}/i.js"]}},
               "user_config":{"out":{"type":"directory","title":"Output"}}}"#;
    let out = import::import(Format::Mcpb, m).unwrap();
    assert!(
        out.report.params.contains_key("USER_CONFIG_OUT"),
        "{:?}",
        out.report.params
    );
}

mod no_panics {
    use super::*;
    use proptest::prelude::*;

    fn inputs() -> Vec<(Format, String)> {
        samples()
            .into_iter()
            .map(|(f, d)| (f, fs::read_to_string(input_of(&d)).unwrap()))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// A sample cut short, or with one character replaced, is imported
        /// or rejected with CG0511, never a panic; whatever is imported is
        /// still valid JSON.
        #[test]
        fn mutated_samples(pick in 0usize..64, cut in 0usize..4096, at in 0usize..4096, c in any::<char>()) {
            let all = inputs();
            let (f, text) = &all[pick % all.len()];
            let mut s: String = text.chars().take(cut % (text.chars().count() + 1)).collect();
            if at % 2 == 0 {
                s = text.clone();
                let n = s.chars().count();
                s = s.chars().enumerate().map(|(i, x)| if i == at % n.max(1) { c } else { x }).collect();
            }
            match import::import(*f, &s) {
                Ok(out) => {
                    json::parse(&out.manifest_text()).expect("manifest is JSON");
                    json::parse(&out.report.to_json()).expect("report is JSON");
                }
                Err(ds) => prop_assert!(ds.iter().all(|d| d.code == Code::ImportSource), "{ds:?}"),
            }
        }

        #[test]
        fn arbitrary_text(s in "\\PC{0,200}", f in 0usize..5) {
            let _ = import::import(Format::ALL[f], &s);
        }
    }
}
