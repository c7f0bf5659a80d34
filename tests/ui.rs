//! UI tests: every diagnostic code has a failing manifest in `tests/ui/` and
//! the exact text capgate prints for it.
//!
//! For each `tests/ui/<case>.json` the real binary runs, with the current
//! directory set to `tests/ui` (so diagnostics name the file `<case>.json`):
//!
//! ```text
//! capgate compile <case>.json --out-dir <fresh temp dir> [flags from <case>.args]
//! ```
//!
//! - `<case>.stderr`: the exact expected stderr (stdout is not checked).
//! - `<case>.args`: optional extra flags, one per line.
//! - `<case>.exit`: optional expected exit code (default 1).
//!
//! `CAPGATE_UPDATE_UI=1 cargo test --test ui` rewrites the `.stderr` files
//! from the current output (review the diff before committing). Exit codes
//! are never updated automatically: they state what a case is for.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("ui")
}

fn updating() -> bool {
    std::env::var_os("CAPGATE_UPDATE_UI").is_some_and(|v| v == "1")
}

/// Every case name (`<case>.json` without the extension), byte-sorted.
fn case_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(ui_dir())
        .expect("tests/ui exists")
        .map(|e| {
            e.expect("readable dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Read `<case>.<ext>` if it exists.
fn side_file(case: &str, ext: &str) -> Option<Vec<u8>> {
    let p = ui_dir().join(format!("{case}.{ext}"));
    match fs::read(&p) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("cannot read {}: {e}", p.display()),
    }
}

fn extra_args(case: &str) -> Vec<String> {
    match side_file(case, "args") {
        None => Vec::new(),
        Some(bytes) => String::from_utf8(bytes)
            .unwrap_or_else(|_| panic!("{case}.args is not UTF-8"))
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

fn expected_exit(case: &str) -> i32 {
    match side_file(case, "exit") {
        None => 1,
        Some(bytes) => String::from_utf8_lossy(&bytes)
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{case}.exit must hold an integer")),
    }
}

/// Run `capgate compile <case>.json --out-dir <tmp> <args…>` in tests/ui,
/// or, when `<case>.cmd` exists, `capgate <its lines> <args…>` (one
/// argument a line), for cases of other commands (e.g. `review --policy`).
fn run_case(case: &str) -> Output {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out_dir = tmp.path().join("out");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_capgate"));
    cmd.current_dir(ui_dir());
    match side_file(case, "cmd") {
        Some(bytes) => {
            let text = String::from_utf8(bytes).unwrap_or_else(|_| panic!("{case}.cmd is not UTF-8"));
            cmd.args(text.lines().filter(|l| !l.is_empty()));
        }
        None => {
            cmd.arg("compile")
                .arg(format!("{case}.json"))
                .arg("--out-dir")
                .arg(&out_dir);
        }
    }
    cmd.args(extra_args(case)).output().expect("run capgate")
}

/// A unified diff of expected vs actual text.
fn diff(expected: &[u8], actual: &[u8], name: &str) -> String {
    let (e, a) = (String::from_utf8_lossy(expected), String::from_utf8_lossy(actual));
    similar::TextDiff::from_lines(e.as_ref(), a.as_ref())
        .unified_diff()
        .context_radius(3)
        .header(&format!("expected/{name}"), &format!("actual/{name}"))
        .to_string()
}

#[test]
fn ui_cases() {
    let cases = case_names();
    assert!(!cases.is_empty(), "no cases in tests/ui");
    let update = updating();
    let mut failures = Vec::new();
    let mut updated = Vec::new();

    for case in &cases {
        let out = run_case(case);
        let want_exit = expected_exit(case);
        let got_exit = out.status.code();
        if got_exit != Some(want_exit) {
            failures.push(format!(
                "{case}: exit code {got_exit:?}, expected {want_exit}\n--- stderr ---\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let stderr_name = format!("{case}.stderr");
        let path = ui_dir().join(&stderr_name);
        match side_file(case, "stderr") {
            Some(want) if want == out.stderr => {}
            Some(want) if !update => {
                failures.push(format!(
                    "{case}: stderr differs\n{}",
                    diff(&want, &out.stderr, &stderr_name)
                ));
            }
            None if !update => failures.push(format!(
                "{case}: {stderr_name} is missing; run CAPGATE_UPDATE_UI=1 cargo test --test ui\n--- actual stderr ---\n{}",
                String::from_utf8_lossy(&out.stderr)
            )),
            _ => {
                fs::write(&path, &out.stderr).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
                updated.push(stderr_name);
            }
        }
    }

    if !updated.is_empty() {
        eprintln!("updated {} file(s): {}", updated.len(), updated.join(", "));
    }
    if !failures.is_empty() {
        panic!(
            "{} of {} UI case(s) failed (CAPGATE_UPDATE_UI=1 rewrites the .stderr files):\n\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n\n")
        );
    }
}

/// Side files must belong to a case, so a renamed case cannot leave a stale
/// expectation behind that nothing checks.
#[test]
fn no_orphan_side_files() {
    let cases: BTreeSet<String> = case_names().into_iter().collect();
    let mut orphans = Vec::new();
    for e in fs::read_dir(ui_dir()).expect("tests/ui exists") {
        let name = e.expect("dir entry").file_name().to_string_lossy().into_owned();
        if name == ".gitattributes" {
            continue;
        }
        let Some((stem, ext)) = name.rsplit_once('.') else {
            orphans.push(name);
            continue;
        };
        match ext {
            "json" => {}
            "stderr" | "args" | "exit" | "cmd" if cases.contains(stem) => {}
            _ => orphans.push(name),
        }
    }
    assert!(
        orphans.is_empty(),
        "files in tests/ui that belong to no case: {orphans:?}"
    );
}

/// Every code has a real doc page and at least one UI case that prints it.
#[test]
fn every_code_has_doc_and_ui_case() {
    let mut all_stderr = String::new();
    for case in case_names() {
        if let Some(bytes) = side_file(&case, "stderr") {
            all_stderr.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    // Codes only `capgate import` reports have their cases in tests/import/errors.
    let import_errors = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/import/errors");
    for e in fs::read_dir(import_errors).expect("tests/import/errors exists") {
        let p = e.expect("dir entry").path();
        if p.extension().is_some_and(|x| x == "stderr") {
            all_stderr.push_str(&fs::read_to_string(&p).expect("readable"));
        }
    }
    let mut problems = Vec::new();
    for code in capgate::diag::ALL_CODES {
        let c = code.as_str();
        let doc = code.doc();
        if !doc.starts_with(&format!("# {c}:")) {
            problems.push(format!("{c}: docs/errors/{c}.md does not start with `# {c}:`"));
        }
        if doc.len() <= 300 {
            problems.push(format!(
                "{c}: docs/errors/{c}.md is only {} bytes (needs more than 300)",
                doc.len()
            ));
        }
        for section in ["## Example", "## How to fix"] {
            if !doc.contains(section) {
                problems.push(format!("{c}: docs/errors/{c}.md has no `{section}` section"));
            }
        }
        if !all_stderr.contains(&format!("[{c}]")) {
            problems.push(format!("{c}: no tests/ui/*.stderr prints `[{c}]`; add a case"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// CG0003 for a file over the 4 MiB limit. The file is made at run time
/// (too big to commit).
#[test]
fn oversized_manifest_is_rejected() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let limit = capgate::manifest::MAX_MANIFEST_BYTES;
    let head = "{\n  \"grammar\": \"1\",\n  \"name\": \"@ui/huge\",\n  \"version\": \"1.0.0\",\n  \"x-padding\": \"";
    let tail = "\"\n}\n";
    let mut text = String::with_capacity(limit + 2048);
    text.push_str(head);
    text.push_str(&"p".repeat(limit + 1024 - head.len() - tail.len()));
    text.push_str(tail);
    assert_eq!(text.len(), limit + 1024);
    fs::write(tmp.path().join("huge.json"), &text).expect("write huge.json");

    let out = Command::new(env!("CARGO_BIN_EXE_capgate"))
        .current_dir(tmp.path())
        .args(["compile", "huge.json", "--out-dir"])
        .arg(tmp.path().join("out"))
        .output()
        .expect("run capgate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(stderr.contains("error[CG0003]"), "stderr:\n{stderr}");
    assert!(stderr.contains(" --> huge.json"), "stderr:\n{stderr}");
    assert!(
        !tmp.path().join("out").exists(),
        "nothing may be written for a rejected manifest"
    );
}
