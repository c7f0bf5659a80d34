//! `capgate diff OLD NEW`: read each side (manifest, out-dir or
//! git:REV:PATH) into a policy, compare them with `capgate::diff`, print
//! the delta and apply `--fail-on`.

use crate::args::{DiffArgs, DiffFailOn, DiffFormat, Format};
use crate::report;
use capgate::diff::{self, OutDir};
use capgate::policy::Policy;
use capgate::{Options, Target};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// One side, read.
struct Side {
    policy: Policy,
    targets: BTreeSet<Target>,
}

/// Why a side could not be read: an I/O or usage problem (exit 2), or a
/// rejected manifest (exit 1, diagnostics already printed).
enum Failure {
    Io(String),
    Rejected,
}

pub fn run(a: DiffArgs) -> u8 {
    let diag_fmt = match a.format {
        DiffFormat::Json => Format::Json,
        _ => Format::Human,
    };
    let flags = match flag_params(&a) {
        Ok(p) => p,
        Err(e) => return report::failure(&e, diag_fmt),
    };
    let mut used = BTreeSet::new();
    let mut sides = Vec::new();
    for spec in [&a.old, &a.new] {
        match read_side(spec, &flags, &mut used, diag_fmt) {
            Ok(s) => sides.push(s),
            Err(Failure::Io(e)) => return report::failure(&e, diag_fmt),
            Err(Failure::Rejected) => return 1,
        }
    }
    if let Some(unused) = flags.keys().find(|k| !used.contains(*k)) {
        return report::failure(
            &format!("--param `{unused}`: neither side declares this param (or neither side is a manifest)"),
            diag_fmt,
        );
    }
    let (old, new) = (&sides[0], &sides[1]);
    let targets: BTreeSet<Target> = old.targets.intersection(&new.targets).copied().collect();
    let delta = diff::diff_targets(&old.policy, &new.policy, &targets);
    let text = match a.format {
        DiffFormat::Human => diff::render_human(&delta),
        DiffFormat::Markdown => diff::render_markdown(&delta),
        DiffFormat::Json => diff::render_json(&delta),
    };
    print!("{text}");
    let hit = match a.fail_on {
        None => false,
        Some(DiffFailOn::Widen) => delta.widens(),
        Some(DiffFailOn::Any) => !delta.is_empty(),
    };
    if hit {
        let what = match a.fail_on {
            Some(DiffFailOn::Widen) => "the new side widens the sandbox",
            _ => "the sides differ",
        };
        eprintln!(
            "capgate diff: --fail-on {}: {what}",
            if a.fail_on == Some(DiffFailOn::Widen) {
                "widen"
            } else {
                "any"
            }
        );
        return 1;
    }
    0
}

/// `--params-file` then `--param`, for both sides.
fn flag_params(a: &DiffArgs) -> Result<BTreeMap<String, String>, String> {
    crate::commands::flag_params(BTreeMap::new(), a.params_file.as_deref(), &a.params)
}

fn read_side(
    spec: &str,
    flags: &BTreeMap<String, String>,
    used: &mut BTreeSet<String>,
    fmt: Format,
) -> Result<Side, Failure> {
    if let Some(rest) = spec.strip_prefix("git:") {
        let Some((rev, path)) = rest.split_once(':') else {
            return Err(Failure::Io(format!("`{spec}` is not git:REV:PATH")));
        };
        if rev.is_empty() || path.is_empty() {
            return Err(Failure::Io(format!("`{spec}` is not git:REV:PATH")));
        }
        let source = git_show(rev, path)?
            .ok_or_else(|| Failure::Io(format!("{spec}: `{path}` does not exist at revision {rev}")))?;
        let beside = match path.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/capgate.params.json"),
            None => "capgate.params.json".to_string(),
        };
        let base = match git_show(rev, &beside)? {
            Some(bytes) => params_from_bytes(&bytes, &format!("git:{rev}:{beside}"))?,
            None => BTreeMap::new(),
        };
        return manifest_side(&source, spec, base, flags, used, fmt);
    }
    let path = Path::new(spec);
    if path.is_dir() {
        let read = |name: &str| {
            std::fs::read_to_string(path.join(name)).map_err(|e| {
                Failure::Io(format!(
                    "{spec} is a directory but not an out-dir of capgate compile: cannot read {name}: {e}"
                ))
            })
        };
        let (policy_json, index_json) = (read("policy.json")?, read("index.json")?);
        let out = OutDir::from_json(&policy_json, &index_json).map_err(|e| Failure::Io(format!("{spec}: {e}")))?;
        return Ok(Side {
            policy: out.policy,
            targets: out.targets,
        });
    }
    let source = match crate::commands::read_manifest(path) {
        Ok(crate::commands::Input::Bytes(b)) => b,
        Ok(crate::commands::Input::TooLarge(ds)) => {
            report::diagnostics(&ds, b"", spec, fmt);
            return Err(Failure::Rejected);
        }
        Err(e) => return Err(Failure::Io(e)),
    };
    let base = crate::commands::params_beside(path).map_err(Failure::Io)?;
    manifest_side(&source, spec, base, flags, used, fmt)
}

fn params_from_bytes(bytes: &[u8], what: &str) -> Result<BTreeMap<String, String>, Failure> {
    crate::commands::parse_params(bytes, what).map_err(Failure::Io)
}

/// Compile a manifest in memory: the beside-file params, then the flag
/// params this manifest declares.
fn manifest_side(
    source: &[u8],
    label: &str,
    mut params: BTreeMap<String, String>,
    flags: &BTreeMap<String, String>,
    used: &mut BTreeSet<String>,
    fmt: Format,
) -> Result<Side, Failure> {
    if let Ok((m, _)) = capgate::manifest::parse_partial(source) {
        for (k, v) in flags {
            if m.params.contains_key(k) {
                params.insert(k.clone(), v.clone());
                used.insert(k.clone());
            }
        }
    }
    let opts = Options {
        params,
        ..Options::default()
    };
    match capgate::compile(source, &opts) {
        Ok(c) => Ok(Side {
            policy: c.policy,
            targets: opts.effective_targets(),
        }),
        Err(ds) => {
            report::diagnostics(&ds, source, label, fmt);
            Err(Failure::Rejected)
        }
    }
}

/// `git show REV:PATH`: the blob, `None` when git says the path does not
/// exist at that revision, an error (with git's message) for anything else
/// (an unknown revision, not a repository, no git).
fn git_show(rev: &str, path: &str) -> Result<Option<Vec<u8>>, Failure> {
    let out = Command::new("git")
        .args(["show", &format!("{rev}:{path}")])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Failure::Io(format!("cannot run git: {e}")))?;
    if out.status.success() {
        return Ok(Some(out.stdout));
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let err = err.trim().trim_start_matches("fatal: ");
    if err.contains("does not exist in") || err.contains("exists on disk, but not in") {
        return Ok(None);
    }
    Err(Failure::Io(format!("git show {rev}:{path} failed: {err}")))
}
