//! `capgate compile --store` over many manifests: input order whatever the
//! number of threads, directory walks (skips, no symlinks, byte order,
//! params beside a manifest), `--manifests-from`, failures that do not stop
//! the batch, and a warm run that touches nothing.

use assert_cmd::Command;
use capgate::json::{self, Json};
use predicates::prelude::*;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

fn manifest(name: &str) -> String {
    format!(
        r#"{{
  "grammar": "1",
  "name": "{name}",
  "version": "1.0.0",
  "command": ["/usr/bin/node", "/opt/mcp/{name}/index.js"],
  "capabilities": ["fs:read:/opt/mcp/{name}/**"],
  "tools": [{{ "name": "fetch", "capabilities": ["net:connect:api.example.com:443"] }}]
}}
"#
    )
}

/// A manifest that needs a PKG param.
fn with_param(name: &str) -> String {
    format!(
        r#"{{
  "grammar": "1",
  "name": "{name}",
  "version": "1.0.0",
  "command": ["/usr/bin/node", "${{PKG}}/index.js"],
  "params": {{ "PKG": {{ "description": "package dir" }} }},
  "capabilities": ["fs:read:${{PKG}}/**"],
  "tools": []
}}
"#
    )
}

const BAD: &str = r#"{
  "grammar": "1",
  "name": "bad-server",
  "version": "0.1.0",
  "capabilities": ["fs:read,write:/workspace/.."],
  "tools": []
}
"#;

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
    fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
    }
    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_capgate"));
        c.current_dir(self.dir.path());
        c
    }
    /// `capgate key` of a manifest.
    fn key(&self, rel: &str, extra: &[&str]) -> String {
        let out = self.cmd().arg("key").arg(rel).args(extra).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim_end().to_string()
    }
    /// Run a batch: (exit code, stdout, stderr).
    fn batch(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd().arg("compile").args(args).output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }
    /// The store's entries (key names, not the `.inputs` memo), sorted.
    fn entries(&self, store: &str) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.path(store))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".inputs")
            .collect();
        v.sort();
        v
    }
}

/// Every path under `dir` with its inode, mtime and ctime.
fn stamps(dir: &Path) -> BTreeMap<PathBuf, (u64, i64, i64, i64, i64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = fs::symlink_metadata(e.path()).unwrap();
            out.insert(
                e.path(),
                (m.ino(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec()),
            );
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    let m = fs::metadata(dir).unwrap();
    out.insert(
        dir.to_path_buf(),
        (m.ino(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec()),
    );
    out
}

#[test]
fn output_is_in_input_order_and_the_same_for_any_jobs() {
    let f = Fixture::new();
    // Names whose keys sort differently from the input order.
    let names: Vec<String> = (0..40).map(|i| format!("server-{:02}", (i * 17) % 40)).collect();
    for n in &names {
        f.write(&format!("{n}/capgate.json"), &manifest(n));
    }
    f.write("bad/capgate.json", BAD);
    let mut args: Vec<String> = names.iter().map(|n| format!("{n}/capgate.json")).collect();
    args.insert(7, "bad/capgate.json".into());
    let expected: String = names
        .iter()
        .map(|n| format!("{}  {n}/capgate.json\n", f.key(&format!("{n}/capgate.json"), &[])))
        .collect();
    let mut runs = Vec::new();
    for (jobs, store) in [("1", "s1"), ("2", "s2"), ("8", "s8")] {
        let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
        a.extend(["--store", store, "--jobs", jobs]);
        let (code, stdout, stderr) = f.batch(&a);
        assert_eq!(code, 1, "one manifest is rejected: {stderr}");
        assert_eq!(stdout, expected, "--jobs {jobs}");
        runs.push((stdout, stderr.replace(store, "STORE")));
    }
    assert!(
        runs.windows(2).all(|w| w[0] == w[1]),
        "--jobs 1, 2 and 8 print the same"
    );
    assert_eq!(f.entries("s1"), f.entries("s2"));
    // JSON lines: one per input, in input order, rejected one included.
    let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
    a.extend(["--store", "s2", "--jobs", "2", "--format", "json"]);
    let (code, stdout, _) = f.batch(&a);
    assert_eq!(code, 1);
    let lines: Vec<Json> = stdout.lines().map(|l| json::parse(l).unwrap().to_json()).collect();
    assert_eq!(lines.len(), args.len());
    for (line, arg) in lines.iter().zip(&args) {
        let Json::Object(o) = line else { panic!("{line:?}") };
        assert_eq!(o.get("manifest"), Some(&Json::str(arg)));
        let want = if arg.starts_with("bad/") { "rejected" } else { "present" };
        assert_eq!(o.get("status"), Some(&Json::str(want)), "{arg}");
    }
}

#[test]
fn a_walk_skips_what_lock_skips_never_follows_symlinks_and_byte_sorts() {
    let f = Fixture::new();
    // `a-b` < `a/…` < `a0` in byte order ('-' < '/' < '0'): a plain
    // depth-first walk would put `a/…` first.
    for rel in ["B", "a", "a/deeper", "a-b", "a0", "tests/good", "bazel"] {
        f.write(&format!("tree/{rel}/capgate.json"), &manifest(&rel.replace('/', "-")));
    }
    // Never walked.
    for rel in [
        ".git",
        "target",
        "node_modules",
        "bazel-out",
        "tests/ui",
        "tests/hostile",
    ] {
        f.write(&format!("tree/{rel}/capgate.json"), BAD);
    }
    // A symlinked directory and a symlinked manifest are not followed.
    f.write("outside/capgate.json", BAD);
    std::os::unix::fs::symlink(f.path("outside"), f.path("tree/linked-dir")).unwrap();
    fs::create_dir_all(f.path("tree/B/other")).unwrap();
    std::os::unix::fs::symlink(f.path("outside/capgate.json"), f.path("tree/B/other/capgate.json")).unwrap();
    let (code, stdout, stderr) = f.batch(&["tree", "--store", "store"]);
    assert_eq!(code, 0, "{stderr}");
    let paths: Vec<&str> = stdout.lines().map(|l| l.split_once("  ").unwrap().1).collect();
    assert_eq!(
        paths,
        [
            "tree/B/capgate.json",
            "tree/a-b/capgate.json",
            "tree/a/capgate.json",
            "tree/a/deeper/capgate.json",
            "tree/a0/capgate.json",
            "tree/bazel/capgate.json",
            "tree/tests/good/capgate.json",
        ]
    );
    assert_eq!(f.entries("store").len(), 7);
    // `capgate lock` walks the same tree to the same manifests.
    f.cmd().args(["lock", "tree"]).assert().code(0);
    let lock = json::parse(&fs::read_to_string(f.path("tree/capgate.lock")).unwrap())
        .unwrap()
        .to_json();
    let Json::Object(top) = lock else { panic!() };
    let Some(Json::Array(items)) = top.get("manifests") else {
        panic!()
    };
    let locked: Vec<String> = items
        .iter()
        .map(|i| match i {
            Json::Object(o) => match o.get("path") {
                Some(Json::Str(p)) => format!("tree/{p}"),
                _ => panic!(),
            },
            _ => panic!(),
        })
        .collect();
    assert_eq!(locked, paths);
}

#[test]
fn a_params_file_beside_each_manifest_gives_its_params() {
    let f = Fixture::new();
    f.write("tree/x/capgate.json", &with_param("x"));
    f.write("tree/x/capgate.params.json", r#"{"PKG": "/opt/mcp/x"}"#);
    f.write("tree/y/capgate.json", &with_param("y"));
    f.write("tree/y/capgate.params.json", r#"{"PKG": "/opt/mcp/y"}"#);
    f.write("tree/z/capgate.json", &with_param("z")); // no params: rejected (CG0120)
    let (code, stdout, stderr) = f.batch(&["tree", "--store", "store"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("CG0120") && stderr.contains("tree/z/capgate.json"),
        "{stderr}"
    );
    let kx = f.key("tree/x/capgate.json", &["--param", "PKG=/opt/mcp/x"]);
    let ky = f.key("tree/y/capgate.json", &["--param", "PKG=/opt/mcp/y"]);
    assert_eq!(
        stdout,
        format!("{kx}  tree/x/capgate.json\n{ky}  tree/y/capgate.json\n")
    );
    let index = fs::read_to_string(f.path(&format!("store/{ky}/index.json"))).unwrap();
    assert!(index.contains("\"PKG\": \"/opt/mcp/y\""), "{index}");
}

#[test]
fn a_failing_manifest_is_reported_and_the_batch_goes_on() {
    let f = Fixture::new();
    f.write("a/capgate.json", &manifest("a"));
    f.write("bad/capgate.json", BAD);
    f.write("c/capgate.json", &manifest("c"));
    let (code, stdout, stderr) = f.batch(&[
        "a/capgate.json",
        "bad/capgate.json",
        "missing/capgate.json",
        "c/capgate.json",
        "--store",
        "store",
    ]);
    // Rejected (1) and unreadable (2): the worst wins, after every manifest ran.
    assert_eq!(code, 2, "{stderr}");
    let (ka, kc) = (f.key("a/capgate.json", &[]), f.key("c/capgate.json", &[]));
    assert_eq!(stdout, format!("{ka}  a/capgate.json\n{kc}  c/capgate.json\n"));
    assert_eq!(f.entries("store"), {
        let mut v = vec![ka, kc];
        v.sort();
        v
    });
    assert!(stderr.contains("CG0201") || stderr.contains("error["), "{stderr}");
    assert!(stderr.contains("bad/capgate.json"), "{stderr}");
    assert!(stderr.contains("cannot read missing/capgate.json"), "{stderr}");
    assert!(stderr.contains("2 of 4 manifest(s) failed"), "{stderr}");
    // Only rejections: exit 1.
    let (code, _, _) = f.batch(&["a/capgate.json", "bad/capgate.json", "--store", "store"]);
    assert_eq!(code, 1);
}

#[test]
fn a_warm_run_writes_nothing_and_reports_present() {
    let f = Fixture::new();
    for n in ["a", "b"] {
        f.write(&format!("tree/{n}/capgate.json"), &manifest(n));
    }
    // One with a lint (egress to any host).
    f.write(
        "tree/c/capgate.json",
        &manifest("c").replace("api.example.com:443", "*:443"),
    );
    let (code, cold, cold_err) = f.batch(&["tree", "--store", "store"]);
    assert_eq!(code, 0);
    assert!(cold_err.contains("warning[CG0350]"), "{cold_err}");
    let before = stamps(&f.path("store"));
    std::thread::sleep(std::time::Duration::from_millis(20));
    let (code, warm, warm_err) = f.batch(&["tree", "--store", "store", "--jobs", "2"]);
    assert_eq!(code, 0);
    assert_eq!(warm, cold, "the same lines, cold or warm");
    // A present key is not normalized again, so its lints are not replayed.
    assert_eq!(warm_err, "");
    assert_eq!(stamps(&f.path("store")), before, "no inode, mtime or ctime changed");
    let (_, json_out, _) = f.batch(&["tree", "--store", "store", "--format", "json"]);
    assert_eq!(json_out.matches("\"status\":\"present\"").count(), 3, "{json_out}");
    assert_eq!(stamps(&f.path("store")), before);
}

/// The input memo (`.inputs/`) answers a warm run, but only for the very
/// same inputs and only while the entry it names exists.
#[test]
fn the_input_memo_is_a_shortcut_never_a_source_of_truth() {
    let f = Fixture::new();
    f.write("a/capgate.json", &manifest("a"));
    let (code, cold, _) = f.batch(&["a/capgate.json", "--store", "store"]);
    assert_eq!(code, 0);
    let key = f.key("a/capgate.json", &[]);
    assert_eq!(cold, format!("{key}  a/capgate.json\n"));
    let memos: Vec<_> = fs::read_dir(f.path("store/.inputs")).unwrap().collect();
    assert_eq!(memos.len(), 1, "one memo per distinct input");
    let memo = memos[0].as_ref().unwrap().path();
    assert_eq!(fs::read_to_string(&memo).unwrap(), format!("{key}\n"));

    // Whitespace changes the bytes, not the key: a new memo, the same entry.
    f.write("a/capgate.json", &manifest("a").replace("\n", "\n  "));
    let (_, out, _) = f.batch(&["a/capgate.json", "--store", "store", "--format", "json"]);
    assert!(out.contains("\"status\":\"present\""), "{out}");
    assert_eq!(fs::read_dir(f.path("store/.inputs")).unwrap().count(), 2);

    // An entry removed by hand is written again, whatever the memo says.
    fs::remove_dir_all(f.path("store").join(&key)).unwrap();
    let (_, out, _) = f.batch(&["a/capgate.json", "--store", "store", "--format", "json"]);
    assert!(out.contains("\"status\":\"written\""), "{out}");
    assert!(f.path("store").join(&key).join("index.json").is_file());

    // A torn or foreign memo reads as a miss and is rewritten.
    fs::write(&memo, "not a key").unwrap();
    f.write("a/capgate.json", &manifest("a"));
    let (code, out, _) = f.batch(&["a/capgate.json", "--store", "store"]);
    assert_eq!((code, out), (0, cold));
    assert_eq!(fs::read_to_string(&memo).unwrap(), format!("{key}\n"));

    // A changed param is another input: compiled, not recalled.
    f.write("p/capgate.json", &with_param("p"));
    let (_, one, _) = f.batch(&["p/capgate.json", "--store", "store", "--param", "PKG=/opt/mcp/one"]);
    let (_, two, _) = f.batch(&["p/capgate.json", "--store", "store", "--param", "PKG=/opt/mcp/two"]);
    assert_ne!(one.split_whitespace().next(), two.split_whitespace().next());
}

#[test]
fn manifests_from_a_file_and_stdin() {
    let f = Fixture::new();
    for n in ["a", "b"] {
        f.write(&format!("{n}/capgate.json"), &manifest(n));
    }
    f.write("more/c/capgate.json", &manifest("c"));
    f.write("list", "b/capgate.json\n\nmore\n");
    let (ka, kb, kc) = (
        f.key("a/capgate.json", &[]),
        f.key("b/capgate.json", &[]),
        f.key("more/c/capgate.json", &[]),
    );
    // Arguments first, then the list; a directory in the list is walked.
    let (code, stdout, stderr) = f.batch(&["a/capgate.json", "--manifests-from", "list", "--store", "store"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        format!("{ka}  a/capgate.json\n{kb}  b/capgate.json\n{kc}  more/c/capgate.json\n")
    );
    f.cmd()
        .args(["compile", "--manifests-from", "-", "--store", "store2"])
        .write_stdin("b/capgate.json\na/capgate.json\n")
        .assert()
        .code(0)
        .stdout(format!("{kb}  b/capgate.json\n{ka}  a/capgate.json\n"));
    f.cmd()
        .args(["compile", "--manifests-from", "nope", "--store", "store3"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read --manifests-from nope"));
}

#[test]
fn usage_errors_are_clear() {
    let f = Fixture::new();
    for n in ["a", "b"] {
        f.write(&format!("{n}/capgate.json"), &manifest(n));
    }
    f.cmd()
        .args(["compile", "a/capgate.json", "b/capgate.json", "--out-dir", "out"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--out-dir takes exactly one manifest; use --store DIR",
        ));
    f.cmd()
        .args(["compile", "a", "--out-dir", "out"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("a is a directory").and(predicate::str::contains("--store DIR")));
    f.cmd()
        .args(["compile", "--manifests-from", "-", "--out-dir", "out"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--manifests-from"));
    f.cmd()
        .args(["compile", "a/capgate.json", "--out-dir", "out", "--jobs", "2"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--jobs"));
    f.cmd()
        .args(["compile", "a/capgate.json", "--store", "s", "--jobs", "0"])
        .assert()
        .code(2);
    assert!(!f.path("out").exists() && !f.path("s").exists());
}

/// Edge cases a user hits: an absurd --jobs, a CRLF list, a walk that finds
/// nothing, and an empty entry directory left behind by hand.
#[test]
fn odd_inputs_are_handled() {
    let f = Fixture::new();
    f.write("a/capgate.json", &manifest("a"));
    let key = f.key("a/capgate.json", &[]);
    // --jobs far beyond what the system allows is capped, not a crash.
    let (code, out, err) = f.batch(&["a", "--store", "s1", "--jobs", "100000"]);
    assert_eq!((code, out.clone()), (0, format!("{key}  a/capgate.json\n")), "{err}");
    // A CRLF list works like an LF one.
    f.write("list.txt", "a/capgate.json\r\n");
    let (code, crlf, err) = f.batch(&["--manifests-from", "list.txt", "--store", "s2"]);
    assert_eq!((code, crlf), (0, out), "{err}");
    // A directory with no manifest is said, not silently a success.
    fs::create_dir_all(f.path("empty")).unwrap();
    let (code, none, err) = f.batch(&["empty", "--store", "s3"]);
    assert_eq!((code, none.as_str()), (0, ""));
    assert!(err.contains("no manifests found"), "{err}");
    // An empty directory where the entry should be is not "present": the
    // entry is written into it.
    fs::create_dir_all(f.path("s4").join(&key)).unwrap();
    let (code, json, err) = f.batch(&["a/capgate.json", "--store", "s4", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(json.contains("\"status\":\"written\""), "{json}");
    assert!(f.path("s4").join(&key).join("index.json").is_file());
}
