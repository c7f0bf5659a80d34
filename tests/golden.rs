//! Golden cases: `tests/cases/<case>/capgate.json` (+ `capgate.params.json`)
//! compiled with the default targets must match `tests/cases/<case>/out/`
//! byte for byte, with no file missing and none extra.
//!
//! The same plain files feed the Bazel golden tests and the Nix checks, so a
//! case is only a manifest, an optional params file (a JSON object of
//! strings) and the out-dir that `capgate compile <manifest> --params-file
//! <params> --out-dir out` writes.
//!
//! Update the goldens after an intended change, then review the diff:
//!
//! ```text
//! tools/update-goldens.sh            # or: CAPGATE_UPDATE_GOLDEN=1 cargo test --test golden
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const UPDATE_VAR: &str = "CAPGATE_UPDATE_GOLDEN";
/// Longest diff printed per file, in lines.
const MAX_DIFF_LINES: usize = 200;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("cases")
}

fn update_mode() -> bool {
    std::env::var_os(UPDATE_VAR).is_some_and(|v| v == "1")
}

/// Every case directory, then every example with a manifest (examples keep
/// their goldens in examples/<name>/out too, for Bazel and Nix), each sorted.
fn case_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    for base in [cases_dir(), root.join("examples")] {
        let mut dirs: Vec<PathBuf> = fs::read_dir(&base)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", base.display()))
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.is_dir() && p.join("capgate.json").is_file())
            .collect();
        dirs.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        all.extend(dirs);
    }
    all
}

/// A params file: a JSON object whose values are strings.
fn read_params(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let mut params = BTreeMap::new();
    if !path.exists() {
        return Ok(params);
    }
    let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| format!("{} is not UTF-8", path.display()))?;
    let value =
        capgate::json::parse(text).map_err(|d| format!("{} is not valid JSON: {}", path.display(), d[0].message))?;
    let capgate::json::Kind::Object(members) = &value.kind else {
        return Err(format!("{} must hold a JSON object of strings", path.display()));
    };
    for (k, v) in members {
        let s = v
            .as_str()
            .ok_or_else(|| format!("{}: the value of `{}` must be a string", path.display(), k.text))?;
        params.insert(k.text.clone(), s.to_string());
    }
    Ok(params)
}

/// A case opts in to non-default targets with `capgate.targets.json`, which
/// must list every target (Bazel's tests/cases/BUILD.bazel cannot read the
/// file and passes all of them when it exists; Nix reads it).
fn read_targets(path: &Path) -> Result<BTreeSet<capgate::Target>, String> {
    if !path.exists() {
        return Ok(BTreeSet::new());
    }
    let text = fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value =
        capgate::json::parse(&text).map_err(|d| format!("{} is not valid JSON: {}", path.display(), d[0].message))?;
    let capgate::json::Kind::Array(items) = &value.kind else {
        return Err(format!("{} must hold a JSON array of target names", path.display()));
    };
    let mut targets = BTreeSet::new();
    for i in items {
        let t = i
            .as_str()
            .and_then(capgate::Target::parse)
            .ok_or_else(|| format!("{}: {:?} is not a target", path.display(), i.as_str()))?;
        targets.insert(t);
    }
    let all: BTreeSet<capgate::Target> = capgate::Target::ALL.into_iter().collect();
    if targets != all {
        return Err(format!(
            "{} must list every target ({}), as tests/cases/BUILD.bazel assumes",
            path.display(),
            capgate::Target::ALL.map(|t| t.as_str()).join(", ")
        ));
    }
    Ok(targets)
}

/// Relative paths (with `/`) of every file under `dir`, byte-sorted.
fn list_files(dir: &Path) -> BTreeSet<String> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for entry in entries {
            let entry = entry.expect("directory entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let ft = entry.file_type().expect("file type");
            if ft.is_dir() {
                walk(&entry.path(), &rel, out);
            } else {
                out.insert(rel);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, "", &mut out);
    out
}

/// Bytes as text a line diff can show: NUL-separated files (`bwrap/args0`)
/// get one option per line with a visible `\0`.
fn diffable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.contains('\0') {
        text.replace('\0', "\\0\n")
    } else {
        text.into_owned()
    }
}

fn diff(case: &str, path: &str, old: &[u8], new: &[u8]) -> String {
    let (old, new) = (diffable(old), diffable(new));
    let text = similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("golden/{case}/out/{path}"),
            &format!("compiled/{case}/out/{path}"),
        )
        .to_string();
    let mut lines: Vec<&str> = text.lines().collect();
    let total = lines.len();
    let mut out = String::new();
    if total > MAX_DIFF_LINES {
        lines.truncate(MAX_DIFF_LINES);
    }
    for l in lines {
        out.push_str("    ");
        out.push_str(l);
        out.push('\n');
    }
    if total > MAX_DIFF_LINES {
        out.push_str(&format!("    ... ({} more diff lines)\n", total - MAX_DIFF_LINES));
    }
    if !old.ends_with('\n') || !new.ends_with('\n') {
        out.push_str("    (a side has no trailing newline)\n");
    }
    out
}

/// Remove empty directories under `dir` (not `dir` itself).
fn prune_empty_dirs(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let p = entry.path();
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            prune_empty_dirs(&p);
            let _ = fs::remove_dir(&p); // fails unless empty
        }
    }
}

/// Compile one case. Returns its problems (empty when it matches) and, in
/// update mode, the files it rewrote.
fn check_case(dir: &Path, update: bool) -> (Vec<String>, Vec<String>) {
    let case = dir.file_name().unwrap().to_string_lossy().into_owned();
    let mut problems = Vec::new();
    let mut updated = Vec::new();

    let manifest_path = dir.join("capgate.json");
    let source = match fs::read(&manifest_path) {
        Ok(s) => s,
        Err(e) => {
            problems.push(format!("cannot read {}: {e}", manifest_path.display()));
            return (problems, updated);
        }
    };
    let params = match read_params(&dir.join("capgate.params.json")) {
        Ok(p) => p,
        Err(e) => {
            problems.push(e);
            return (problems, updated);
        }
    };
    let targets = match read_targets(&dir.join("capgate.targets.json")) {
        Ok(t) => t,
        Err(e) => {
            problems.push(e);
            return (problems, updated);
        }
    };
    let opts = capgate::Options {
        params,
        targets,
        ..Default::default()
    };
    let compiled = match capgate::compile(&source, &opts) {
        Ok(c) => c,
        Err(diags) => {
            let mut msg = String::from("does not compile:\n");
            for d in diags.iter() {
                msg.push_str(&format!(
                    "    {} {}: {}\n",
                    d.severity.as_str(),
                    d.code.as_str(),
                    d.message
                ));
            }
            problems.push(msg);
            return (problems, updated);
        }
    };

    let out_dir = dir.join("out");
    let expected: BTreeMap<&str, &[u8]> = compiled
        .artifacts
        .iter()
        .map(|a| (a.path.as_str(), a.bytes.as_slice()))
        .collect();
    let present = list_files(&out_dir);

    for (path, bytes) in &expected {
        let file = out_dir.join(path);
        let current = fs::read(&file).ok();
        if current.as_deref() == Some(*bytes) {
            continue;
        }
        if update {
            fs::create_dir_all(file.parent().unwrap()).expect("create out dir");
            fs::write(&file, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
            updated.push(format!("{case}/out/{path}"));
            continue;
        }
        match current {
            None => problems.push(format!("out/{path}: missing (compiled {} bytes)", bytes.len())),
            Some(old) => problems.push(format!(
                "out/{path}: differs\n{}",
                diff(&case, path, &old, bytes).trim_end()
            )),
        }
    }
    for path in present.iter().filter(|p| !expected.contains_key(p.as_str())) {
        if update {
            let file = out_dir.join(path);
            fs::remove_file(&file).unwrap_or_else(|e| panic!("cannot remove {}: {e}", file.display()));
            updated.push(format!("{case}/out/{path} (removed)"));
        } else {
            problems.push(format!("out/{path}: extra file (the compiler does not write it)"));
        }
    }
    if update {
        prune_empty_dirs(&out_dir);
    }
    (problems, updated)
}

#[test]
fn golden_cases() {
    let update = update_mode();
    let dirs = case_dirs();
    assert!(!dirs.is_empty(), "no cases under {}", cases_dir().display());

    let mut failures: Vec<(String, Vec<String>)> = Vec::new();
    let mut updated = Vec::new();
    for dir in &dirs {
        let case = dir
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(dir)
            .display()
            .to_string();
        let (problems, up) = check_case(dir, update);
        updated.extend(up);
        if !problems.is_empty() {
            failures.push((case, problems));
        }
    }

    if update {
        for u in &updated {
            eprintln!("updated {u}");
        }
        eprintln!(
            "{UPDATE_VAR}=1: {} file(s) rewritten in {} case(s)",
            updated.len(),
            dirs.len()
        );
    }
    if failures.is_empty() {
        return;
    }
    let mut report = String::new();
    for (case, problems) in &failures {
        report.push_str(&format!("\n=== case {case} ({} problem(s))\n", problems.len()));
        for p in problems {
            report.push_str(&format!("  {p}\n"));
        }
    }
    report.push_str(&format!(
        "\n{} of {} golden case(s) failed. If the change is intended, run tools/update-goldens.sh \
         (or {UPDATE_VAR}=1 cargo test --test golden) and review `git diff tests/cases examples`.\n",
        failures.len(),
        dirs.len()
    ));
    panic!("{report}");
}
