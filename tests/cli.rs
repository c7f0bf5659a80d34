//! The `capgate` command-line contract: exit codes, atomic out-dirs, targets,
//! diagnostic formats, `key`, `--store`, `verify`, `explain`, `schema`, and
//! the promise that `compile` never reads the environment.
//!
//! Exit codes: 0 ok (warnings allowed), 1 manifest rejected or verify
//! mismatch, 2 usage or I/O error.

use assert_cmd::Command;
use capgate::json::{self, Json};
use predicates::prelude::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------
// Fixtures and helpers

/// A valid manifest without lints (so `--deny-warnings` accepts it).
const BASE: &str = r#"{
  "grammar": "1",
  "name": "demo-server",
  "version": "1.2.3",
  "command": ["/usr/bin/node", "${PKG}/dist/index.js", "/srv/mcp/data"],
  "params": { "PKG": { "description": "package dir" } },
  "capabilities": ["fs:read:${PKG}/**", "clock:read:tzdata"],
  "tools": [
    {
      "name": "read_file",
      "description": "reads a file",
      "inputSchema": { "type": "object", "properties": { "path": { "type": "string" } } },
      "capabilities": [{ "cap": "fs:read:/srv/mcp/data/**", "why": "serves files from the data root" }]
    },
    {
      "name": "fetch",
      "capabilities": ["net:connect:api.example.com:443", "env:inject:API_TOKEN"]
    }
  ]
}
"#;

/// `BASE` with other whitespace, key order, tool order and capability order.
const BASE_REFORMATTED: &str = "{\"tools\":[{\"capabilities\":[\"env:inject:API_TOKEN\",\t\"net:connect:api.example.com:443\"],\"name\":\"fetch\"},\r\n\
{\"inputSchema\":{\"properties\":{\"path\":{\"type\":\"string\"}},\"type\":\"object\"},\"capabilities\":[{\"why\":\"serves files from the data root\",\"cap\":\"fs:read:/srv/mcp/data/**\"}],\
\"description\":\"reads a file\",\"name\":\"read_file\"}],\n\n   \"capabilities\" : [ \"clock:read:tzdata\" , \"fs:read:${PKG}/**\" ],\
\"params\":{\"PKG\":{\"description\":\"package dir\"}},\"command\":[\"/usr/bin/node\",\"${PKG}/dist/index.js\",\"/srv/mcp/data\"],\
\"version\":\"1.2.3\",\"name\":\"demo-server\",\"grammar\":\"1\"}";

/// A valid manifest with a lint (egress to any host).
const WARN: &str = r#"{
  "grammar": "1",
  "name": "warn-server",
  "version": "0.1.0",
  "command": ["/usr/bin/python3", "-m", "server"],
  "tools": [{ "name": "fetch", "capabilities": ["net:connect:*:443"] }]
}
"#;

/// A manifest with several grammar errors.
const BAD: &str = r#"{
  "grammar": "1",
  "name": "bad-server",
  "version": "0.1.0",
  "capabilities": [
    "fs:read,write:/workspace/..",
    "net:connect:example.com:443abc"
  ],
  "tools": []
}
"#;

const PKG: &str = "PKG=/opt/mcp/demo";

/// Every file a compile for all default targets writes.
const ALL_FILES: &[&str] = &[
    "bwrap/args0",
    "bwrap/argv.json",
    "docker/argv.json",
    "egress/hosts",
    "egress/nftables.nft",
    "egress/squid.conf",
    "index.json",
    "policy.json",
];

fn capgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_capgate"))
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&p, text).unwrap();
        p
    }
    fn cmd(&self) -> Command {
        let mut c = capgate();
        c.current_dir(self.dir.path());
        c
    }
}

/// Every file under `dir` (relative path → bytes); directories are listed
/// with a trailing `/` so a stray empty directory is noticed too.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                walk(root, &e.path(), out);
            } else {
                out.insert(rel, fs::read(e.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Just the files of a tree.
fn files(dir: &Path) -> Vec<String> {
    tree(dir).into_keys().filter(|k| !k.ends_with('/')).collect()
}

/// Temp dirs capgate left beside `dir` (`.<name>.capgate-*`).
fn leftovers(dir: &Path) -> Vec<String> {
    let parent = dir.parent().unwrap();
    fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n.contains(".capgate-"))
        .collect()
}

fn parse(bytes: &[u8]) -> Json {
    let text = std::str::from_utf8(bytes).expect("utf-8");
    json::parse(text)
        .unwrap_or_else(|d| panic!("not JSON: {d:?}\n{text}"))
        .to_json()
}

fn get<'a>(j: &'a Json, key: &str) -> &'a Json {
    match j {
        Json::Object(m) => m.get(key).unwrap_or_else(|| panic!("no `{key}` in {j:?}")),
        _ => panic!("not an object: {j:?}"),
    }
}

fn key_of(f: &Fixture, manifest: &str, extra: &[&str]) -> String {
    let out = f.cmd().arg("key").arg(manifest).args(extra).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "key failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8(out.stdout).unwrap();
    assert_eq!(s.len(), 65, "{s:?}");
    s.trim_end().to_string()
}

// ---------------------------------------------------------------------------
// Help and version

#[test]
fn help_for_every_subcommand_exits_0() {
    capgate()
        .arg("--help")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("compile").and(predicate::str::contains("verify")));
    for sub in ["compile", "key", "verify", "explain", "schema"] {
        capgate()
            .args([sub, "--help"])
            .assert()
            .code(0)
            .stdout(predicate::str::contains("Usage"));
    }
}

#[test]
fn version_prints_exactly_the_crate_version() {
    let expected = format!("{}\n", env!("CARGO_PKG_VERSION"));
    capgate()
        .arg("--version")
        .assert()
        .code(0)
        .stdout(expected.clone())
        .stderr("");
    capgate().arg("-V").assert().code(0).stdout(expected);
}

// ---------------------------------------------------------------------------
// Exit codes

#[test]
fn exit_0_on_success() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "out", "--param", PKG])
        .assert()
        .code(0)
        .stderr("");
}

#[test]
fn exit_0_with_warnings() {
    let f = Fixture::new();
    f.write("capgate.json", WARN);
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "out"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("warning[CG0350]"));
    assert_eq!(files(&f.path("out")), ALL_FILES);
}

#[test]
fn exit_1_with_deny_warnings_on_a_lint() {
    let f = Fixture::new();
    f.write("capgate.json", WARN);
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "out", "--deny-warnings"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("CG0350"));
    assert!(!f.path("out").exists());
}

#[test]
fn exit_1_on_a_rejected_manifest() {
    let f = Fixture::new();
    f.write("capgate.json", BAD);
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "out"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("CG0211").and(predicate::str::contains("CG0222")));
    assert!(
        !f.path("out").exists(),
        "a rejected manifest must not produce an out-dir"
    );
    assert!(leftovers(&f.path("out")).is_empty());
    f.cmd().args(["key", "capgate.json"]).assert().code(1).stdout("");
}

#[test]
fn exit_1_on_invalid_json() {
    let f = Fixture::new();
    f.write("capgate.json", "{\"name\": ");
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "out"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("CG0001"));
}

#[test]
fn exit_2_on_usage_errors() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    f.write("b/capgate.json", BASE);
    let cases: &[&[&str]] = &[
        // unknown flag
        &["compile", "capgate.json", "--out-dir", "out", "--param", PKG, "--bogus"],
        &["key", "capgate.json", "--param", PKG, "--outdir", "x"],
        // unknown subcommand
        &["compil", "capgate.json"],
        // neither --out-dir nor --store
        &["compile", "capgate.json", "--param", PKG],
        // both
        &[
            "compile",
            "capgate.json",
            "--out-dir",
            "out",
            "--store",
            "store",
            "--param",
            PKG,
        ],
        // --out-dir with two manifests
        &[
            "compile",
            "capgate.json",
            "b/capgate.json",
            "--out-dir",
            "out",
            "--param",
            PKG,
        ],
        // --param without `=`
        &["compile", "capgate.json", "--out-dir", "out", "--param", "PKG"],
        &["key", "capgate.json", "--param", "PKG"],
        // --param with an empty name
        &[
            "compile",
            "capgate.json",
            "--out-dir",
            "out",
            "--param",
            "=/opt/mcp/demo",
        ],
        // unknown --target value
        &[
            "compile",
            "capgate.json",
            "--out-dir",
            "out",
            "--param",
            PKG,
            "--target",
            "oci-runtime",
        ],
        &[
            "compile",
            "capgate.json",
            "--out-dir",
            "out",
            "--param",
            PKG,
            "--target",
            "Bwrap2",
        ],
        &["key", "capgate.json", "--param", PKG, "--target", "nope"],
        // unknown --format
        &[
            "compile",
            "capgate.json",
            "--out-dir",
            "out",
            "--param",
            PKG,
            "--format",
            "yaml",
        ],
        // verify without --golden-dir
        &["verify", "capgate.json", "--param", PKG],
        // no subcommand
        &[],
    ];
    for args in cases {
        f.cmd()
            .args(*args)
            .assert()
            .code(2)
            .stdout(predicate::str::contains("written").not());
        assert!(!f.path("out").exists(), "{args:?} wrote an out-dir");
        assert!(!f.path("store").exists(), "{args:?} wrote a store");
    }
}

#[test]
fn exit_2_on_io_errors() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    fs::create_dir(f.path("adir")).unwrap();
    let cases: &[&[&str]] = &[
        // missing manifest
        &["compile", "missing.json", "--out-dir", "out", "--param", PKG],
        &["key", "missing.json", "--param", PKG],
        &["verify", "missing.json", "--golden-dir", "adir", "--param", PKG],
        // manifest path is a directory
        &["compile", "adir", "--out-dir", "out", "--param", PKG],
        &["key", "adir"],
        // unreadable params file: missing, or a directory
        &[
            "compile",
            "capgate.json",
            "--out-dir",
            "out",
            "--params-file",
            "nope.json",
        ],
        &["compile", "capgate.json", "--out-dir", "out", "--params-file", "adir"],
        &["key", "capgate.json", "--params-file", "nope.json"],
        // out-dir whose parent does not exist
        &[
            "compile",
            "capgate.json",
            "--out-dir",
            "no/such/parent/out",
            "--param",
            PKG,
        ],
        // golden dir that does not exist
        &["verify", "capgate.json", "--golden-dir", "no-such-dir", "--param", PKG],
    ];
    for args in cases {
        f.cmd()
            .args(*args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("error"));
    }
    assert!(!f.path("out").exists());
    assert!(!f.path("no").exists());
    assert!(leftovers(&f.path("out")).is_empty());
}

#[test]
fn exit_2_on_a_params_file_that_is_not_a_json_object_of_strings() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    f.write("p1.json", "[\"PKG\"]");
    f.write("p2.json", "{\"PKG\": 1}");
    f.write("p3.json", "{\"PKG\": ");
    for p in ["p1.json", "p2.json", "p3.json"] {
        f.cmd()
            .args(["compile", "capgate.json", "--out-dir", "out", "--params-file", p])
            .assert()
            .code(2);
    }
    f.write("ok.json", "{\"PKG\": \"/opt/mcp/demo\"}");
    f.cmd()
        .args([
            "compile",
            "capgate.json",
            "--out-dir",
            "out",
            "--params-file",
            "ok.json",
        ])
        .assert()
        .code(0);
}

#[test]
fn params_file_and_param_flag_give_the_same_artifacts() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    f.write("params.json", "{\"PKG\": \"/opt/mcp/demo\"}");
    f.cmd()
        .args([
            "compile",
            "capgate.json",
            "--out-dir",
            "a",
            "--params-file",
            "params.json",
        ])
        .assert()
        .code(0);
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "b", "--param", PKG])
        .assert()
        .code(0);
    assert_eq!(tree(&f.path("a")), tree(&f.path("b")));
}

#[test]
fn missing_or_undeclared_params_are_rejected_with_exit_1() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "out"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("CG0120"));
    f.cmd()
        .args([
            "compile",
            "capgate.json",
            "--out-dir",
            "out",
            "--param",
            PKG,
            "--param",
            "OTHER=/x",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("CG0121"));
    assert!(!f.path("out").exists());
}

// ---------------------------------------------------------------------------
// Atomic out-dir

#[test]
fn out_dir_fresh_compile_writes_exactly_the_fixed_files() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "out", "--param", PKG])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("written"));
    assert_eq!(files(&f.path("out")), ALL_FILES);
    assert!(leftovers(&f.path("out")).is_empty());
    // index.json lists every other file with its digest and size.
    let index = parse(&fs::read(f.path("out/index.json")).unwrap());
    let listed: Vec<String> = match get(&index, "files") {
        Json::Array(items) => items
            .iter()
            .map(|i| match get(i, "path") {
                Json::Str(s) => s.clone(),
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    };
    let expected: Vec<String> = ALL_FILES
        .iter()
        .filter(|f| **f != "index.json")
        .map(|s| s.to_string())
        .collect();
    assert_eq!(listed, expected);
}

#[test]
fn out_dir_recompile_replaces_it() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "out", "--param", PKG])
        .assert()
        .code(0);
    let first = tree(&f.path("out"));
    // Same input: same bytes.
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "out", "--param", PKG])
        .assert()
        .code(0);
    assert_eq!(tree(&f.path("out")), first);
    // Other input (bwrap only): the dir is replaced, never merged.
    f.cmd()
        .args([
            "compile",
            "capgate.json",
            "--out-dir",
            "out",
            "--param",
            "PKG=/opt/mcp/other",
            "--target",
            "bwrap",
        ])
        .assert()
        .code(0);
    assert_eq!(
        files(&f.path("out")),
        ["bwrap/args0", "bwrap/argv.json", "index.json", "policy.json"]
    );
    // And back to all targets: exactly the fixed files again.
    f.cmd()
        .args([
            "compile",
            "capgate.json",
            "--out-dir",
            "out",
            "--param",
            "PKG=/opt/mcp/other",
        ])
        .assert()
        .code(0);
    assert_eq!(files(&f.path("out")), ALL_FILES);
    assert_ne!(tree(&f.path("out")), first);
    let argv = fs::read_to_string(f.path("out/bwrap/argv.json")).unwrap();
    assert!(argv.contains("/opt/mcp/other") && !argv.contains("/opt/mcp/demo"));
    assert!(leftovers(&f.path("out")).is_empty());
}

#[test]
fn out_dir_pre_created_empty_dirs_are_accepted() {
    // Bazel pre-creates the out-dir and its sub-directories.
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    for d in ["out/bwrap", "out/docker", "out/egress"] {
        fs::create_dir_all(f.path(d)).unwrap();
    }
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "out", "--param", PKG])
        .assert()
        .code(0);
    assert_eq!(files(&f.path("out")), ALL_FILES);
}

#[test]
fn out_dir_failing_compile_leaves_it_unchanged() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    f.write("bad.json", BAD);
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "out", "--param", PKG])
        .assert()
        .code(0);
    let before = tree(&f.path("out"));
    // Rejected manifest (exit 1).
    f.cmd()
        .args(["compile", "bad.json", "--out-dir", "out"])
        .assert()
        .code(1);
    assert_eq!(tree(&f.path("out")), before);
    // Missing param (exit 1).
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "out"])
        .assert()
        .code(1);
    assert_eq!(tree(&f.path("out")), before);
    // Usage error (exit 2).
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "out", "--param", "PKG"])
        .assert()
        .code(2);
    assert_eq!(tree(&f.path("out")), before);
    // Strict mode rejecting an unenforced grant (exit 1).
    f.cmd()
        .args([
            "compile",
            "capgate.json",
            "--out-dir",
            "out",
            "--param",
            PKG,
            "--strict",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("CG0401"));
    assert_eq!(tree(&f.path("out")), before);
    assert!(leftovers(&f.path("out")).is_empty());
}

#[test]
fn out_dir_with_a_foreign_file_is_refused_and_unchanged() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "out", "--param", PKG])
        .assert()
        .code(0);
    f.write("out/notes.txt", "my notes\n");
    let before = tree(&f.path("out"));
    f.cmd()
        .args([
            "compile",
            "capgate.json",
            "--out-dir",
            "out",
            "--param",
            "PKG=/opt/mcp/other",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("notes.txt"));
    assert_eq!(tree(&f.path("out")), before);
    assert!(leftovers(&f.path("out")).is_empty());

    // A foreign file nested in a known sub-directory, and a foreign dir.
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    f.write("out/bwrap/extra.json", "{}\n");
    f.write("out/cache/x", "x");
    let before = tree(&f.path("out"));
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "out", "--param", PKG])
        .assert()
        .code(2);
    assert_eq!(tree(&f.path("out")), before);
    assert!(leftovers(&f.path("out")).is_empty());
}

#[test]
fn out_dir_that_is_a_symlink_or_holds_one_is_refused() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    fs::create_dir(f.path("real")).unwrap();
    f.write("real/keep.txt", "keep\n");
    std::os::unix::fs::symlink("real", f.path("out")).unwrap();
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "out", "--param", PKG])
        .assert()
        .code(2);
    assert_eq!(fs::read_to_string(f.path("real/keep.txt")).unwrap(), "keep\n");
    assert_eq!(files(&f.path("real")), ["keep.txt"]);

    let f = Fixture::new();
    f.write("capgate.json", BASE);
    f.write("elsewhere.txt", "x");
    fs::create_dir(f.path("out")).unwrap();
    std::os::unix::fs::symlink("../elsewhere.txt", f.path("out/index.json")).unwrap();
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "out", "--param", PKG])
        .assert()
        .code(2);
    assert_eq!(fs::read_to_string(f.path("elsewhere.txt")).unwrap(), "x");
    assert!(fs::symlink_metadata(f.path("out/index.json"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn out_dir_that_is_a_regular_file_is_refused_and_unchanged() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    f.write("out", "not a directory\n");
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "out", "--param", PKG])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("error"));
    assert_eq!(fs::read(f.path("out")).unwrap(), b"not a directory\n");
    assert!(leftovers(&f.path("out")).is_empty());
}

#[test]
fn out_dir_leaves_no_temp_dirs() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    f.write("bad.json", BAD);
    fs::create_dir(f.path("sub")).unwrap();
    let runs: &[(&[&str], i32)] = &[
        (&["compile", "capgate.json", "--out-dir", "sub/out", "--param", PKG], 0),
        (&["compile", "capgate.json", "--out-dir", "sub/out", "--param", PKG], 0),
        (
            &[
                "compile",
                "capgate.json",
                "--out-dir",
                "sub/out",
                "--param",
                "PKG=/opt/mcp/x",
                "--target",
                "docker",
            ],
            0,
        ),
        (&["compile", "bad.json", "--out-dir", "sub/out"], 1),
        (&["compile", "capgate.json", "--out-dir", "sub/out"], 1),
    ];
    for (args, code) in runs {
        f.cmd().args(*args).assert().code(*code);
        assert!(leftovers(&f.path("sub/out")).is_empty(), "{args:?}");
    }
    // The only entry of sub/ is out/.
    let names: Vec<String> = fs::read_dir(f.path("sub"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["out"]);
    // A refused out-dir (foreign file) leaves nothing behind either.
    f.write("sub/out/foreign", "x");
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "sub/out", "--param", PKG])
        .assert()
        .code(2);
    assert!(leftovers(&f.path("sub/out")).is_empty());
}

// ---------------------------------------------------------------------------
// Targets

#[test]
fn target_bwrap_writes_only_its_files() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    f.cmd()
        .args([
            "compile",
            "capgate.json",
            "--out-dir",
            "out",
            "--param",
            PKG,
            "--target",
            "bwrap",
        ])
        .assert()
        .code(0);
    assert_eq!(
        files(&f.path("out")),
        ["bwrap/args0", "bwrap/argv.json", "index.json", "policy.json"]
    );
    let index = parse(&fs::read(f.path("out/index.json")).unwrap());
    assert_eq!(get(&index, "targets"), &Json::strs(["bwrap"]));
}

#[test]
fn each_target_writes_its_fixed_files() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    let cases: &[(&str, &[&str])] = &[
        ("docker", &["docker/argv.json", "index.json", "policy.json"]),
        (
            "egress",
            &[
                "egress/hosts",
                "egress/nftables.nft",
                "egress/squid.conf",
                "index.json",
                "policy.json",
            ],
        ),
    ];
    for (t, expected) in cases {
        let out = format!("out-{t}");
        f.cmd()
            .args([
                "compile",
                "capgate.json",
                "--out-dir",
                &out,
                "--param",
                PKG,
                "--target",
                t,
            ])
            .assert()
            .code(0);
        assert_eq!(files(&f.path(&out)), *expected, "{t}");
    }
    // Repeated --target flags combine; the order does not matter.
    f.cmd()
        .args([
            "compile",
            "capgate.json",
            "--out-dir",
            "bd",
            "--param",
            PKG,
            "--target",
            "docker",
            "--target",
            "bwrap",
        ])
        .assert()
        .code(0);
    f.cmd()
        .args([
            "compile",
            "capgate.json",
            "--out-dir",
            "db",
            "--param",
            PKG,
            "--target",
            "bwrap",
            "--target",
            "docker",
        ])
        .assert()
        .code(0);
    assert_eq!(tree(&f.path("bd")), tree(&f.path("db")));
    assert_eq!(
        files(&f.path("bd")),
        [
            "bwrap/args0",
            "bwrap/argv.json",
            "docker/argv.json",
            "index.json",
            "policy.json"
        ]
    );
    // All three named explicitly = the default.
    f.cmd()
        .args([
            "compile",
            "capgate.json",
            "--out-dir",
            "all",
            "--param",
            PKG,
            "--target",
            "egress",
            "--target",
            "docker",
            "--target",
            "bwrap",
        ])
        .assert()
        .code(0);
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "default", "--param", PKG])
        .assert()
        .code(0);
    assert_eq!(tree(&f.path("all")), tree(&f.path("default")));
}

#[test]
fn different_targets_give_different_keys() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    let all = key_of(&f, "capgate.json", &["--param", PKG]);
    let bwrap = key_of(&f, "capgate.json", &["--param", PKG, "--target", "bwrap"]);
    let docker = key_of(&f, "capgate.json", &["--param", PKG, "--target", "docker"]);
    let egress = key_of(&f, "capgate.json", &["--param", PKG, "--target", "egress"]);
    let bd = key_of(
        &f,
        "capgate.json",
        &["--param", PKG, "--target", "bwrap", "--target", "docker"],
    );
    let keys = [&all, &bwrap, &docker, &egress, &bd];
    for (i, a) in keys.iter().enumerate() {
        for b in &keys[i + 1..] {
            assert_ne!(a, b);
        }
    }
    // The key in index.json is the one `key` prints.
    f.cmd()
        .args([
            "compile",
            "capgate.json",
            "--out-dir",
            "out",
            "--param",
            PKG,
            "--target",
            "bwrap",
        ])
        .assert()
        .code(0);
    let index = parse(&fs::read(f.path("out/index.json")).unwrap());
    assert_eq!(get(&index, "key"), &Json::str(&bwrap));
}

// ---------------------------------------------------------------------------
// Diagnostic formats

#[test]
fn format_json_every_stderr_line_is_a_diagnostic_object() {
    let f = Fixture::new();
    f.write("bad.json", BAD);
    f.write("warn.json", WARN);
    let runs: &[(&[&str], i32)] = &[
        (&["compile", "bad.json", "--out-dir", "out", "--format", "json"], 1),
        (&["key", "bad.json", "--format", "json"], 1),
        (&["compile", "warn.json", "--out-dir", "out", "--format", "json"], 0),
        (
            &[
                "compile",
                "warn.json",
                "--out-dir",
                "out2",
                "--format",
                "json",
                "--deny-warnings",
            ],
            1,
        ),
    ];
    for (args, code) in runs {
        let out = f.cmd().args(*args).output().unwrap();
        assert_eq!(out.status.code(), Some(*code), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!stderr.is_empty(), "{args:?}: no diagnostics");
        assert!(stderr.ends_with('\n'));
        let mut codes = Vec::new();
        for line in stderr.lines() {
            let d = parse(line.as_bytes());
            let Json::Object(m) = &d else { panic!("{line}") };
            for k in ["code", "severity", "message", "span", "hints"] {
                assert!(m.contains_key(k), "{k} missing in {line}");
            }
            let Json::Str(code) = get(&d, "code") else {
                panic!("code is not a string: {line}")
            };
            assert!(code.len() == 6 && code.starts_with("CG"), "{line}");
            codes.push(code.clone());
            assert!(matches!(get(&d, "severity"), Json::Str(s) if s == "error" || s == "warning"));
            assert!(matches!(get(&d, "message"), Json::Str(s) if !s.is_empty()));
            assert!(matches!(get(&d, "hints"), Json::Array(_)));
            let span = get(&d, "span");
            for k in ["line", "column", "start", "end"] {
                assert!(matches!(get(span, k), Json::Int(n) if *n >= 0), "span.{k} in {line}");
            }
            let (Json::Int(start), Json::Int(end)) = (get(span, "start"), get(span, "end")) else {
                unreachable!()
            };
            assert!(start <= end, "{line}");
            assert!(matches!(get(span, "line"), Json::Int(n) if *n >= 1));
            assert!(matches!(get(span, "column"), Json::Int(n) if *n >= 1));
        }
        if *code == 1 && args.contains(&"bad.json") {
            assert!(codes.contains(&"CG0211".to_string()), "{codes:?}");
            assert!(codes.contains(&"CG0222".to_string()), "{codes:?}");
        }
    }
}

#[test]
fn format_json_span_points_at_the_capability() {
    let f = Fixture::new();
    f.write("bad.json", BAD);
    let out = f.cmd().args(["key", "bad.json", "--format", "json"]).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    for line in stderr.lines() {
        let d = parse(line.as_bytes());
        let span = get(&d, "span");
        let (Json::Int(start), Json::Int(end), Json::Int(l)) =
            (get(span, "start"), get(span, "end"), get(span, "line"))
        else {
            panic!()
        };
        let text = &BAD[*start as usize..*end as usize];
        match get(&d, "code") {
            Json::Str(c) if c == "CG0211" => {
                assert!(text.contains(".."), "{text:?}");
                assert_eq!(*l, 6);
            }
            Json::Str(c) if c == "CG0222" => {
                assert!(text.contains("443abc"), "{text:?}");
                assert_eq!(*l, 7);
            }
            _ => {}
        }
    }
}

#[test]
fn format_human_shows_code_and_location() {
    let f = Fixture::new();
    f.write("bad.json", BAD);
    f.cmd()
        .args(["compile", "bad.json", "--out-dir", "out"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::is_match(r"error\[CG\d{4}\]")
                .unwrap()
                .and(predicate::str::contains("--> bad.json:6:"))
                .and(predicate::str::contains("error[CG0211]"))
                .and(predicate::str::contains("capgate explain CG0211")),
        );
}

#[test]
fn format_json_on_usage_failures_is_still_json() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    f.write("out/foreign", "x");
    let out = f
        .cmd()
        .args([
            "compile",
            "capgate.json",
            "--out-dir",
            "out",
            "--param",
            PKG,
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    for line in stderr.lines() {
        let d = parse(line.as_bytes());
        assert!(matches!(get(&d, "severity"), Json::Str(s) if s == "error"));
        assert!(matches!(get(&d, "message"), Json::Str(s) if s.contains("foreign")));
    }
}

// ---------------------------------------------------------------------------
// key

#[test]
fn key_prints_64_lowercase_hex_and_a_newline_only() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    let out = f.cmd().args(["key", "capgate.json", "--param", PKG]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8(out.stdout).unwrap();
    assert_eq!(s.len(), 65);
    assert!(s.ends_with('\n'));
    assert!(
        s[..64]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{s:?}"
    );
    // Stable across runs.
    assert_eq!(key_of(&f, "capgate.json", &["--param", PKG]), s.trim_end());
}

#[test]
fn key_ignores_whitespace_key_order_and_list_order() {
    let f = Fixture::new();
    f.write("a.json", BASE);
    f.write("b.json", BASE_REFORMATTED);
    assert_eq!(
        key_of(&f, "a.json", &["--param", PKG]),
        key_of(&f, "b.json", &["--param", PKG])
    );
    // And the artifacts are identical too.
    f.cmd()
        .args(["compile", "a.json", "--out-dir", "oa", "--param", PKG])
        .assert()
        .code(0);
    f.cmd()
        .args(["compile", "b.json", "--out-dir", "ob", "--param", PKG])
        .assert()
        .code(0);
    assert_eq!(tree(&f.path("oa")), tree(&f.path("ob")));
}

#[test]
fn key_changes_with_params_options_and_targets() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    let base = key_of(&f, "capgate.json", &["--param", PKG]);
    let egress = ["--param", PKG, "--target", "egress"];
    let variants = [
        key_of(&f, "capgate.json", &["--param", "PKG=/opt/mcp/demo2"]),
        key_of(&f, "capgate.json", &["--param", PKG, "--deny-warnings"]),
        key_of(&f, "capgate.json", &["--param", PKG, "--target", "bwrap"]),
        // --strict: with the egress target only, which leaves nothing unenforced.
        key_of(&f, "capgate.json", &egress),
        key_of(&f, "capgate.json", &[&egress[..], &["--strict"]].concat()),
        key_of(
            &f,
            "capgate.json",
            &[&egress[..], &["--strict", "--deny-warnings"]].concat(),
        ),
    ];
    for (i, v) in variants.iter().enumerate() {
        assert_ne!(&base, v, "variant {i}");
        for w in &variants[i + 1..] {
            assert_ne!(v, w);
        }
    }
    // --format never enters the key.
    assert_eq!(key_of(&f, "capgate.json", &["--param", PKG, "--format", "json"]), base);
    // key fails exactly where compile fails: --strict with bwrap's unenforced grants.
    f.cmd()
        .args(["key", "capgate.json", "--param", PKG, "--strict"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("[CG0401]"));
}

#[test]
fn key_matches_compile_and_changes_with_a_grant() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    f.write(
        "more.json",
        &BASE.replace("\"clock:read:tzdata\"", "\"clock:read:tzdata\", \"exec:spawn:git\""),
    );
    let k = key_of(&f, "capgate.json", &["--param", PKG]);
    assert_ne!(k, key_of(&f, "more.json", &["--param", PKG]));
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "out", "--param", PKG])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(k.as_str()));
    let index = parse(&fs::read(f.path("out/index.json")).unwrap());
    assert_eq!(get(&index, "key"), &Json::str(&k));
}

// ---------------------------------------------------------------------------
// --store

fn store_manifest(name: &str) -> String {
    BASE.replace("demo-server", name)
}

#[test]
fn store_writes_each_manifest_under_its_key_and_skips_present_ones() {
    let f = Fixture::new();
    f.write("a/capgate.json", &store_manifest("server-a"));
    f.write("b/capgate.json", &store_manifest("server-b"));
    let ka = key_of(&f, "a/capgate.json", &["--param", PKG]);
    let kb = key_of(&f, "b/capgate.json", &["--param", PKG]);
    assert_ne!(ka, kb);

    let out = f
        .cmd()
        .args([
            "compile",
            "a/capgate.json",
            "b/capgate.json",
            "--store",
            "store",
            "--param",
            PKG,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout, format!("{ka}  a/capgate.json\n{kb}  b/capgate.json\n"));
    let mut names: Vec<String> = fs::read_dir(f.path("store"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected = vec![ka.clone(), kb.clone(), ".inputs".to_string()];
    expected.sort();
    assert_eq!(
        names, expected,
        "the store holds exactly the two keys, the input memo and no temp dirs"
    );
    assert_eq!(
        fs::read_dir(f.path("store/.inputs")).unwrap().count(),
        2,
        "one memo per manifest"
    );
    for k in [&ka, &kb] {
        assert_eq!(files(&f.path(&format!("store/{k}"))), ALL_FILES);
    }

    // The store entry equals an --out-dir compile.
    f.cmd()
        .args(["compile", "a/capgate.json", "--out-dir", "oa", "--param", PKG])
        .assert()
        .code(0);
    assert_eq!(tree(&f.path(&format!("store/{ka}"))), tree(&f.path("oa")));

    // Second run: reported present, nothing rewritten.
    use std::os::unix::fs::MetadataExt;
    let probe = f.path(&format!("store/{ka}/index.json"));
    let before = fs::metadata(&probe).unwrap();
    let dir_before = fs::metadata(f.path(&format!("store/{ka}"))).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = f
        .cmd()
        .args([
            "compile",
            "a/capgate.json",
            "b/capgate.json",
            "--store",
            "store",
            "--param",
            PKG,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout, format!("{ka}  a/capgate.json\n{kb}  b/capgate.json\n"));
    let after = fs::metadata(&probe).unwrap();
    assert_eq!(before.ino(), after.ino());
    assert_eq!(before.mtime(), after.mtime());
    assert_eq!(before.mtime_nsec(), after.mtime_nsec());
    assert_eq!(
        dir_before.ino(),
        fs::metadata(f.path(&format!("store/{ka}"))).unwrap().ino()
    );
}

#[test]
fn store_json_summary_reports_status() {
    let f = Fixture::new();
    f.write("a/capgate.json", &store_manifest("server-a"));
    let k = key_of(&f, "a/capgate.json", &["--param", PKG]);
    for status in ["written", "present"] {
        let out = f
            .cmd()
            .args([
                "compile",
                "a/capgate.json",
                "--store",
                "store",
                "--param",
                PKG,
                "--format",
                "json",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let line = String::from_utf8(out.stdout).unwrap();
        let j = parse(line.trim_end().as_bytes());
        assert_eq!(get(&j, "status"), &Json::str(status));
        assert_eq!(get(&j, "key"), &Json::str(&k));
    }
}

#[test]
fn store_uses_params_file_beside_the_manifest() {
    let f = Fixture::new();
    f.write("a/capgate.json", &store_manifest("server-a"));
    f.write("a/capgate.params.json", "{\"PKG\": \"/opt/mcp/server-a\"}");
    f.write("b/capgate.json", &store_manifest("server-b"));
    f.write("b/capgate.params.json", "{\"PKG\": \"/opt/mcp/server-b\"}");
    let out = f
        .cmd()
        .args(["compile", "a/capgate.json", "b/capgate.json", "--store", "store"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for (m, pkg) in [("a", "/opt/mcp/server-a"), ("b", "/opt/mcp/server-b")] {
        let k = key_of(&f, &format!("{m}/capgate.json"), &["--param", &format!("PKG={pkg}")]);
        let index = parse(&fs::read(f.path(&format!("store/{k}/index.json"))).unwrap());
        assert_eq!(get(get(&index, "params"), "PKG"), &Json::str(pkg));
    }
    // --param applies on top of the file.
    let out = f
        .cmd()
        .args([
            "compile",
            "a/capgate.json",
            "--store",
            "store",
            "--param",
            "PKG=/opt/mcp/override",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let k = key_of(&f, "a/capgate.json", &["--param", "PKG=/opt/mcp/override"]);
    assert!(f.path(&format!("store/{k}/index.json")).is_file());
    // Outside --store mode the file beside the manifest is not read.
    f.cmd()
        .args(["compile", "a/capgate.json", "--out-dir", "out"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("CG0120"));
}

#[test]
fn store_with_one_bad_manifest_exits_1_and_writes_the_good_one() {
    let f = Fixture::new();
    f.write("a/capgate.json", &store_manifest("server-a"));
    f.write("bad/capgate.json", BAD);
    f.cmd()
        .args([
            "compile",
            "bad/capgate.json",
            "a/capgate.json",
            "--store",
            "store",
            "--param",
            PKG,
        ])
        .assert()
        .code(1);
    let k = key_of(&f, "a/capgate.json", &["--param", PKG]);
    assert_eq!(files(&f.path(&format!("store/{k}"))), ALL_FILES);
}

// ---------------------------------------------------------------------------
// verify

fn golden(f: &Fixture) {
    f.write("capgate.json", BASE);
    f.cmd()
        .args(["compile", "capgate.json", "--out-dir", "golden", "--param", PKG])
        .assert()
        .code(0);
}

#[test]
fn verify_matches_a_fresh_compile_and_writes_the_stamp() {
    let f = Fixture::new();
    golden(&f);
    let k = key_of(&f, "capgate.json", &["--param", PKG]);
    f.cmd()
        .args([
            "verify",
            "capgate.json",
            "--golden-dir",
            "golden",
            "--param",
            PKG,
            "--stamp",
            "stamp",
        ])
        .assert()
        .code(0);
    assert_eq!(fs::read_to_string(f.path("stamp")).unwrap(), format!("{k}\n"));
    // Whitespace/key order of the manifest do not matter.
    f.write("capgate.json", BASE_REFORMATTED);
    f.cmd()
        .args(["verify", "capgate.json", "--golden-dir", "golden", "--param", PKG])
        .assert()
        .code(0);
}

#[test]
fn verify_reports_a_changed_byte() {
    let f = Fixture::new();
    golden(&f);
    let p = f.path("golden/bwrap/argv.json");
    let text = fs::read_to_string(&p).unwrap();
    fs::write(&p, text.replacen("/opt/mcp/demo", "/opt/mcp/dema", 1)).unwrap();
    f.cmd()
        .args([
            "verify",
            "capgate.json",
            "--golden-dir",
            "golden",
            "--param",
            PKG,
            "--stamp",
            "stamp",
        ])
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("--- golden/bwrap/argv.json")
                .and(predicate::str::contains("+++ compiled/bwrap/argv.json"))
                .and(predicate::str::contains("@@"))
                .and(predicate::str::contains("-    \"/opt/mcp/dema"))
                .and(predicate::str::contains("+    \"/opt/mcp/demo")),
        )
        .stderr(
            predicate::str::contains("bwrap/argv.json")
                .and(predicate::str::contains(
                    "capgate compile capgate.json --out-dir golden",
                ))
                .and(predicate::str::contains("--param PKG=/opt/mcp/demo")),
        );
    assert!(!f.path("stamp").exists(), "stamp written on mismatch");
}

#[test]
fn verify_reports_a_changed_byte_in_args0() {
    let f = Fixture::new();
    golden(&f);
    let p = f.path("golden/bwrap/args0");
    let mut bytes = fs::read(&p).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x01;
    fs::write(&p, bytes).unwrap();
    f.cmd()
        .args([
            "verify",
            "capgate.json",
            "--golden-dir",
            "golden",
            "--param",
            PKG,
            "--stamp",
            "stamp",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("golden/bwrap/args0"));
    assert!(!f.path("stamp").exists());
}

#[test]
fn verify_reports_a_missing_file() {
    let f = Fixture::new();
    golden(&f);
    fs::remove_file(f.path("golden/egress/hosts")).unwrap();
    f.cmd()
        .args([
            "verify",
            "capgate.json",
            "--golden-dir",
            "golden",
            "--param",
            PKG,
            "--stamp",
            "stamp",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("egress/hosts"))
        .stderr(predicate::str::contains("egress/hosts").and(predicate::str::contains(
            "capgate compile capgate.json --out-dir golden",
        )));
    assert!(!f.path("stamp").exists());
}

#[test]
fn verify_reports_an_extra_file() {
    let f = Fixture::new();
    golden(&f);
    f.write("golden/egress/extra.conf", "acl x dst 0.0.0.0/0\n");
    f.cmd()
        .args([
            "verify",
            "capgate.json",
            "--golden-dir",
            "golden",
            "--param",
            PKG,
            "--stamp",
            "stamp",
        ])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("egress/extra.conf").and(predicate::str::contains(
                "capgate compile capgate.json --out-dir golden",
            )),
        );
    assert!(!f.path("stamp").exists());
}

#[test]
fn verify_with_other_options_than_the_golden_mismatches() {
    let f = Fixture::new();
    golden(&f);
    // Golden was compiled for all targets; verifying for bwrap only must fail
    // (index.json differs and docker/egress files are extra).
    f.cmd()
        .args([
            "verify",
            "capgate.json",
            "--golden-dir",
            "golden",
            "--param",
            PKG,
            "--target",
            "bwrap",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--target bwrap"));
    // Another param value.
    f.cmd()
        .args([
            "verify",
            "capgate.json",
            "--golden-dir",
            "golden",
            "--param",
            "PKG=/opt/mcp/x",
        ])
        .assert()
        .code(1);
    // A rejected manifest: exit 1.
    f.write("bad.json", BAD);
    f.cmd()
        .args(["verify", "bad.json", "--golden-dir", "golden"])
        .assert()
        .code(1);
}

// ---------------------------------------------------------------------------
// explain, schema

#[test]
fn explain_prints_the_doc_of_a_code() {
    let out = capgate().args(["explain", "CG0212"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc = String::from_utf8(out.stdout).unwrap();
    assert!(doc.starts_with("# CG0212"), "{doc}");
    assert_eq!(doc, capgate::Code::parse("CG0212").unwrap().doc());
}

#[test]
fn explain_every_code() {
    for code in capgate::diag::ALL_CODES {
        let out = capgate().args(["explain", code.as_str()]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{code}");
        let doc = String::from_utf8(out.stdout).unwrap();
        assert!(doc.starts_with(&format!("# {}", code.as_str())), "{code}: {doc}");
    }
}

#[test]
fn explain_unknown_code_exits_2() {
    capgate()
        .args(["explain", "CG9999"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("CG9999"));
    capgate().args(["explain", "fs:read:/x"]).assert().code(2);
    capgate().arg("explain").assert().code(2);
}

#[test]
fn schema_prints_valid_json() {
    let out = capgate().arg("schema").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let v = json::parse(&text).unwrap_or_else(|d| panic!("schema is not JSON: {d:?}"));
    assert!(matches!(v.kind, json::Kind::Object(_)));
    assert_eq!(text, capgate::MANIFEST_SCHEMA);
}

// ---------------------------------------------------------------------------
// compile never reads the environment

fn polluted(c: &mut Command) -> &mut Command {
    c.env("HOME", "/nonexistent/home/evil")
        .env("PKG", "/evil/pkg")
        .env("SOURCE_DATE_EPOCH", "1")
        .env("LANG", "da_DK.UTF-8")
        .env("LC_ALL", "tr_TR.UTF-8")
        .env("LC_COLLATE", "da_DK.UTF-8")
        .env("LANGUAGE", "da:tr")
        .env("TZ", "Pacific/Chatham")
        .env("USER", "mallory")
        .env("PATH", "/evil/bin")
        .env("TMPDIR", "/evil/tmp")
        .env("CAPGATE_PARAMS", "{\"PKG\":\"/evil\"}")
        .env("CAPGATE_TARGET", "docker")
        .env("API_TOKEN", "s3cr3t-value-never-in-artifacts")
}

#[test]
fn compile_never_reads_the_environment() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    let args = |out: &str| {
        ["compile", "capgate.json", "--out-dir", out, "--param", PKG]
            .map(String::from)
            .to_vec()
    };
    f.cmd().env_clear().args(args("clean")).assert().code(0);
    polluted(&mut f.cmd()).args(args("dirty")).assert().code(0);
    let mut odd = f.cmd();
    odd.env_clear()
        .env("TZ", "XXX-14:45")
        .env("LC_ALL", "C")
        .env("LANG", "tr_TR.ISO-8859-9")
        .env("SOURCE_DATE_EPOCH", "4102444800")
        .args(args("odd"))
        .assert()
        .code(0);
    let clean = tree(&f.path("clean"));
    assert_eq!(clean, tree(&f.path("dirty")));
    assert_eq!(clean, tree(&f.path("odd")));
    for bytes in clean.values() {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains("s3cr3t"),
            "a secret from the environment reached an artifact"
        );
        assert!(!text.contains("/evil"), "an environment value reached an artifact");
        assert!(!text.contains("mallory"));
    }

    // key too.
    let clean_key = f
        .cmd()
        .env_clear()
        .args(["key", "capgate.json", "--param", PKG])
        .output()
        .unwrap();
    let dirty_key = polluted(&mut f.cmd())
        .args(["key", "capgate.json", "--param", PKG])
        .output()
        .unwrap();
    assert_eq!(clean_key.stdout, dirty_key.stdout);
    assert_eq!(clean_key.status.code(), Some(0));

    // A param is never taken from the environment.
    polluted(&mut f.cmd())
        .args(["compile", "capgate.json", "--out-dir", "noparam"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("CG0120"));
    assert!(!f.path("noparam").exists());
}

#[test]
fn diagnostics_do_not_depend_on_the_environment() {
    let f = Fixture::new();
    f.write("bad.json", BAD);
    let clean = f
        .cmd()
        .env_clear()
        .args(["key", "bad.json", "--format", "json"])
        .output()
        .unwrap();
    let dirty = polluted(&mut f.cmd())
        .args(["key", "bad.json", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(clean.status.code(), Some(1));
    assert_eq!(clean.status.code(), dirty.status.code());
    assert_eq!(clean.stderr, dirty.stderr);
}

#[test]
fn quiet_compile_prints_nothing_on_success_but_still_reports_problems() {
    let f = Fixture::new();
    f.write("capgate.json", BASE);
    f.cmd()
        .args(["compile", "--quiet", "capgate.json", "--out-dir", "out", "--param", PKG])
        .assert()
        .success()
        .stdout("");
    assert!(f.path("out/index.json").exists());
    f.write(
        "bad.json",
        r#"{"grammar":"1","name":"b","version":"1","capabilities":["fs:read:/a/.."]}"#,
    );
    f.cmd()
        .args(["compile", "-q", "bad.json", "--out-dir", "out2"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("[CG0211]"));
}

/// A runtime flag the chosen target would ignore is refused (exit 2) before
/// anything runs, instead of being dropped without a word.
#[test]
fn exec_refuses_flags_of_another_runtime() {
    let f = Fixture::new();
    f.write(
        "m.json",
        r#"{"grammar":"1","name":"t","version":"1","command":["/bin/true"]}"#,
    );
    for (args, msg) in [
        (
            &["--target", "docker", "--netns", "/run/netns/x"][..],
            "--netns applies only to --target bwrap",
        ),
        (
            &["--target", "oci", "--netns", "/run/netns/x"][..],
            "--netns applies only to --target bwrap",
        ),
        (
            &["--image", "localhost/x:1"][..],
            "--image applies only to --target docker",
        ),
        (
            &["--target", "oci", "--podman-arg", "--log-level=debug"][..],
            "--podman-arg applies only to --target docker",
        ),
    ] {
        f.cmd()
            .args(["exec", "m.json", "--dry-run"])
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(msg));
    }
    // The flags still work with their own runtime.
    f.cmd()
        .args([
            "exec",
            "m.json",
            "--dry-run",
            "--target",
            "docker",
            "--image",
            "localhost/x:1",
        ])
        .assert()
        .success();
}

/// An out-dir widened by hand and re-indexed (so every sha256 matches) is
/// refused by exec: its artifacts grant more than its policy.json.
#[test]
fn exec_refuses_artifacts_wider_than_their_policy() {
    let f = Fixture::new();
    f.write(
        "m.json",
        r#"{"grammar":"1","name":"t","version":"1","command":["/bin/true"]}"#,
    );
    f.cmd()
        .args(["compile", "m.json", "--out-dir", "out"])
        .assert()
        .success();
    f.cmd()
        .args(["exec", "out", "--target", "docker", "--dry-run"])
        .assert()
        .success();

    let argv_path = f.path("out/docker/argv.json");
    let widened = fs::read_to_string(&argv_path).unwrap().replacen(
        "\"--read-only\",",
        "\"--read-only\",\n    \"--privileged\",",
        1,
    );
    assert!(widened.contains("--privileged"));
    fs::write(&argv_path, &widened).unwrap();
    // Re-index: the tampering is invisible to the sha256 check.
    let mut index = parse(&fs::read(f.path("out/index.json")).unwrap());
    if let Json::Object(o) = &mut index {
        if let Some(Json::Array(files)) = o.get_mut("files") {
            for file in files {
                if let Json::Object(e) = file {
                    if e.get("path") == Some(&Json::str("docker/argv.json")) {
                        e.insert(
                            "sha256".into(),
                            Json::str(capgate::artifact::sha256_hex(widened.as_bytes())),
                        );
                        e.insert("size".into(), Json::Int(widened.len() as i64));
                    }
                }
            }
        }
    }
    fs::write(f.path("out/index.json"), index.to_pretty()).unwrap();

    f.cmd()
        .args(["exec", "out", "--target", "docker", "--dry-run"])
        .assert()
        .code(125)
        .stderr(predicate::str::contains("grant more than their policy.json"))
        .stderr(predicate::str::contains("--privileged"));
}

/// Writing a single file (lock --output, import -o, verify --stamp) to a
/// FIFO or a device writes into it; it never replaces it with a regular
/// file (a rename over /dev/null would break the host).
#[test]
fn single_file_outputs_write_into_fifos_and_devices() {
    use std::os::unix::fs::FileTypeExt;
    let f = Fixture::new();
    f.write(
        "tree/a/capgate.json",
        r#"{"grammar":"1","name":"a","version":"1","command":["/bin/true"]}"#,
    );
    let fifo = f.path("out.fifo");
    let still_fifo = || fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo();
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader = {
        let fifo = fifo.clone();
        // Reads until every writer has closed the FIFO; bounded by the three writes below.
        std::thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..3 {
                got.push(fs::read_to_string(&fifo).unwrap());
            }
            got
        })
    };
    f.cmd().args(["lock", "tree", "--output"]).arg(&fifo).assert().success();
    assert!(still_fifo(), "lock --output replaced the FIFO");
    f.cmd()
        .args(["compile", "tree/a/capgate.json", "--out-dir", "golden"])
        .assert()
        .success();
    f.cmd()
        .args(["verify", "tree/a/capgate.json", "--golden-dir", "golden", "--stamp"])
        .arg(&fifo)
        .assert()
        .success();
    assert!(still_fifo(), "verify --stamp replaced the FIFO");
    let registry = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/import/mcpb/file-manager-node/input.json");
    f.cmd()
        .args(["import", "mcpb"])
        .arg(&registry)
        .arg("-o")
        .arg(&fifo)
        .arg("--force")
        .assert()
        .success();
    assert!(still_fifo(), "import -o replaced the FIFO");
    let got = reader.join().unwrap();
    assert!(got[0].contains("\"manifests\""), "{got:?}");
    assert_eq!(got[1].len(), 65, "the key and a newline: {got:?}");
    assert!(got[2].contains("\"grammar\": \"1\""), "{got:?}");
    assert!(
        fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(),
        "still a FIFO"
    );
}

/// verify against a golden dir compiled for other targets says so, and does
/// not suggest a compile that would replace the golden dir.
#[test]
fn verify_with_other_targets_names_them_instead_of_suggesting_an_overwrite() {
    let f = Fixture::new();
    f.write(
        "m.json",
        r#"{"grammar":"1","name":"t","version":"1","command":["/bin/true"]}"#,
    );
    f.cmd()
        .args(["compile", "m.json", "--out-dir", "golden", "--target", "oci"])
        .assert()
        .success();
    f.cmd()
        .args(["verify", "m.json", "--golden-dir", "golden"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "was compiled for --target oci, this verify for --target bwrap,docker,egress",
        ))
        .stderr(predicate::str::contains("to accept the new artifacts").not());
    f.cmd()
        .args(["verify", "m.json", "--golden-dir", "golden", "--target", "oci"])
        .assert()
        .success();
}
