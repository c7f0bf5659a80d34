//! Audits: `lock` records the key and artifact hashes of every manifest in a
//! tree, `verify --lock` recomputes them and reports drift, and `attest`
//! emits an in-toto Statement with a SLSA Provenance v1 predicate.

use crate::args::{Format, LockArgs};
use crate::commands::{params_beside, read_manifest, Input};
use crate::report;
use capgate::json::{self, Json, Kind};
use capgate::Options;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const LOCK_FORMAT: &str = "capgate.lock/1";
/// Directory names a walk never enters.
const SKIP_DIRS: &[&str] = &[".git", "target", "node_modules"];
/// Relative paths a walk never enters (hostile and failing test inputs).
const SKIP_PATHS: &[&str] = &["tests/ui", "tests/hostile", "tests/import"];

/// Every `capgate.json` under `root`, as byte-sorted relative paths.
/// Symlinks are never followed.
pub fn walk(root: &Path) -> std::io::Result<Vec<String>> {
    Ok(walk_manifests(root)?.into_iter().map(|(rel, _)| rel).collect())
}

/// [`walk`], with whether a `capgate.params.json` entry (a file or a
/// symlink) sits beside each manifest, so a batch need not look for it.
pub fn walk_manifests(root: &Path) -> std::io::Result<Vec<(String, bool)>> {
    let mut out = Vec::new();
    walk_sorted(root, &mut |rel, params| out.push((rel, params)))?;
    debug_assert!(out.windows(2).all(|w| w[0].0.as_bytes() < w[1].0.as_bytes()));
    Ok(out)
}

/// Visit every `capgate.json` under `root` (relative path, params beside)
/// already in byte order of the relative paths, so a batch can start on
/// the first manifest while the walk goes on. A depth-first walk gives that
/// order when siblings are sorted by their name plus `/` for a directory
/// (plain name for a file): two paths first differ inside their first
/// differing component, or where one component ends (at its `/`).
/// Symlinks are never followed.
pub fn walk_sorted(root: &Path, visit: &mut dyn FnMut(String, bool)) -> std::io::Result<()> {
    fn dir(path: &Path, rel: &str, visit: &mut dyn FnMut(String, bool)) -> std::io::Result<()> {
        let join = |name: &str| {
            if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            }
        };
        // (sort key, name, is a directory)
        let mut children: Vec<(String, String, bool)> = Vec::new();
        let (mut manifest, mut params) = (false, false);
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let ft = entry.file_type()?;
            if ft.is_dir() {
                let skip = SKIP_DIRS.contains(&name.as_str())
                    || name.starts_with("bazel-")
                    || SKIP_PATHS.contains(&join(&name).as_str());
                if !skip {
                    children.push((format!("{name}/"), name, true));
                }
            } else if ft.is_file() && name == "capgate.json" {
                manifest = true;
            } else if name == "capgate.params.json" {
                params = true;
            }
        }
        if manifest {
            children.push(("capgate.json".to_string(), "capgate.json".to_string(), false));
        }
        children.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        for (_, name, is_dir) in children {
            if is_dir {
                dir(&path.join(&name), &join(&name), visit)?;
            } else {
                visit(join(&name), params);
            }
        }
        Ok(())
    }
    dir(root, "", visit)
}

/// What the lock records for one manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Locked {
    params: BTreeMap<String, String>,
    key: String,
    /// Artifact path -> sha256.
    files: BTreeMap<String, String>,
}

/// Locked records by manifest path (relative to the walked directory).
type Lock = BTreeMap<String, Locked>;

/// Compile one manifest of the tree: its record, or its rendered diagnostics.
fn lock_entry(root: &Path, rel: &str) -> Result<Result<Locked, String>, String> {
    let path = root.join(rel);
    let file = path.display().to_string();
    let params = params_beside(&path)?;
    let render = |ds: &capgate::Diagnostics, source: &[u8]| {
        let text = String::from_utf8_lossy(source);
        ds.iter()
            .map(|d| capgate::diag::render_human(d, &text, &file))
            .collect::<String>()
    };
    let source = match read_manifest(&path)? {
        Input::Bytes(b) => b,
        Input::TooLarge(ds) => return Ok(Err(render(&ds, b""))),
    };
    let opts = Options {
        params: params.clone(),
        ..Default::default()
    };
    Ok(match capgate::compile(&source, &opts) {
        Ok(c) => Ok(Locked {
            params,
            key: c.key,
            files: c.artifacts.iter().map(|a| (a.path.clone(), a.sha256())).collect(),
        }),
        Err(ds) => Err(render(&ds, &source)),
    })
}

/// The records of every manifest under `root`, and the rejected ones' diagnostics.
fn compute(root: &Path) -> Result<(Lock, Vec<String>), String> {
    let manifests = walk(root).map_err(|e| format!("cannot walk {}: {e}", root.display()))?;
    let mut lock = Lock::new();
    let mut rejected = Vec::new();
    for rel in manifests {
        match lock_entry(root, &rel)? {
            Ok(entry) => {
                lock.insert(rel, entry);
            }
            Err(msg) => rejected.push(msg),
        }
    }
    Ok((lock, rejected))
}

fn lock_json(lock: &Lock) -> Json {
    let strings =
        |m: &BTreeMap<String, String>| Json::Object(m.iter().map(|(k, v)| (k.clone(), Json::str(v))).collect());
    let manifests = lock
        .iter()
        .map(|(path, e)| {
            let mut o = BTreeMap::new();
            o.insert("path".to_string(), Json::str(path));
            o.insert("params".to_string(), strings(&e.params));
            o.insert("key".to_string(), Json::str(&e.key));
            o.insert("files".to_string(), strings(&e.files));
            Json::Object(o)
        })
        .collect();
    let mut o = BTreeMap::new();
    o.insert("format".to_string(), Json::str(LOCK_FORMAT));
    o.insert("capgate".to_string(), Json::str(capgate::VERSION));
    o.insert("manifests".to_string(), Json::Array(manifests));
    Json::Object(o)
}

/// `capgate lock [DIR] [--output F]`.
pub fn lock(a: &LockArgs) -> u8 {
    let (lock, rejected) = match compute(&a.dir) {
        Ok(x) => x,
        Err(e) => return report::failure(&e, a.format),
    };
    if !rejected.is_empty() {
        for r in &rejected {
            eprint!("{r}");
        }
        eprintln!("error: {} manifest(s) rejected; no lock written", rejected.len());
        return 1;
    }
    let out = a.output.clone().unwrap_or_else(|| a.dir.join("capgate.lock"));
    let n = lock.len();
    if let Err(e) = crate::commands::write_atomic(&out, lock_json(&lock).to_pretty().as_bytes()) {
        return report::failure(&format!("cannot write {}: {e}", out.display()), a.format);
    }
    println!("locked {n} manifest(s) in {}", out.display());
    0
}

fn read_lock(path: &Path) -> Result<Lock, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let bad = || format!("{} is not a capgate lock file ({LOCK_FORMAT})", path.display());
    let v = json::parse(&text).map_err(|_| bad())?.to_json();
    let Json::Object(top) = v else { return Err(bad()) };
    if top.get("format") != Some(&Json::str(LOCK_FORMAT)) {
        return Err(bad());
    }
    let Some(Json::Array(items)) = top.get("manifests") else {
        return Err(bad());
    };
    let strings = |v: Option<&Json>| match v {
        Some(Json::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Json::Str(s) => Ok((k.clone(), s.clone())),
                _ => Err(bad()),
            })
            .collect::<Result<BTreeMap<_, _>, _>>(),
        _ => Err(bad()),
    };
    let mut lock = Lock::new();
    for item in items {
        let Json::Object(o) = item else { return Err(bad()) };
        let (Some(Json::Str(p)), Some(Json::Str(key))) = (o.get("path"), o.get("key")) else {
            return Err(bad());
        };
        let entry = Locked {
            params: strings(o.get("params"))?,
            key: key.clone(),
            files: strings(o.get("files"))?,
        };
        lock.insert(p.clone(), entry);
    }
    Ok(lock)
}

/// `capgate verify --lock F`: the tree beside F against F.
pub fn verify_lock(lock_path: &Path, fmt: Format) -> u8 {
    let locked = match read_lock(lock_path) {
        Ok(l) => l,
        Err(e) => return report::failure(&e, fmt),
    };
    let root = match lock_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (current, rejected) = match compute(&root) {
        Ok(x) => x,
        Err(e) => return report::failure(&e, fmt),
    };
    let mut drift = Vec::new();
    for (path, old) in &locked {
        let Some(new) = current.get(path) else {
            drift.push(format!("{path}: in the lock, but missing or rejected now"));
            continue;
        };
        if old.params != new.params {
            drift.push(format!("{path}: params changed"));
        }
        if old.key != new.key {
            drift.push(format!("{path}: key {} -> {}", old.key, new.key));
        }
        for (f, h) in &old.files {
            match new.files.get(f) {
                Some(nh) if nh == h => {}
                Some(nh) => drift.push(format!("{path}: {f} sha256 {h} -> {nh}")),
                None => drift.push(format!("{path}: {f} is no longer produced")),
            }
        }
        for f in new.files.keys().filter(|f| !old.files.contains_key(*f)) {
            drift.push(format!("{path}: {f} is new"));
        }
    }
    for path in current.keys().filter(|p| !locked.contains_key(*p)) {
        drift.push(format!("{path}: new manifest, not in the lock"));
    }
    for r in &rejected {
        eprint!("{r}");
    }
    if drift.is_empty() && rejected.is_empty() {
        println!("ok: {} manifest(s) match {}", locked.len(), lock_path.display());
        return 0;
    }
    eprintln!("error: the tree does not match {}:", lock_path.display());
    for d in &drift {
        eprintln!("  {d}");
    }
    eprintln!(
        "to accept the changes, run: capgate lock {} --output {}",
        root.display(),
        lock_path.display()
    );
    1
}

/// `capgate attest OUT_DIR`: an in-toto Statement v1 with a SLSA
/// Provenance v1 predicate, JCS-serialized, with no time fields.
pub fn attest(out_dir: &Path) -> u8 {
    let fmt = Format::Human;
    let index_path = out_dir.join("index.json");
    let index_bytes = match fs::read(&index_path) {
        Ok(b) => b,
        Err(e) => return report::failure(&format!("cannot read {}: {e}", index_path.display()), fmt),
    };
    let text = String::from_utf8_lossy(&index_bytes);
    let bad = |why: &str| report::failure(&format!("{} is not a capgate index: {why}", index_path.display()), fmt);
    let Ok(v) = json::parse(&text) else {
        return bad("not JSON");
    };
    let Kind::Object(_) = v.kind else {
        return bad("not an object");
    };
    let Json::Object(index) = v.to_json() else {
        return bad("not an object");
    };
    if index.get("format") != Some(&Json::str("capgate.index/1")) {
        return bad("no format capgate.index/1");
    }
    let Some(Json::Array(files)) = index.get("files") else {
        return bad("no files");
    };

    let mut subjects = BTreeMap::new();
    subjects.insert("index.json".to_string(), capgate::artifact::sha256_hex(&index_bytes));
    for f in files {
        let Json::Object(f) = f else {
            return bad("bad file entry");
        };
        let (Some(Json::Str(path)), Some(Json::Str(want))) = (f.get("path"), f.get("sha256")) else {
            return bad("bad file entry");
        };
        if path.contains("..") || path.starts_with('/') {
            return bad("a file path leaves the out-dir");
        }
        let got = match fs::read(out_dir.join(path)) {
            Ok(b) => capgate::artifact::sha256_hex(&b),
            Err(e) => return report::failure(&format!("cannot read {}: {e}", out_dir.join(path).display()), fmt),
        };
        if &got != want {
            eprintln!("error: {path} does not match index.json (sha256 {got}, index says {want}); refusing to attest");
            return 1;
        }
        subjects.insert(path.clone(), got);
    }

    let obj = |pairs: Vec<(&str, Json)>| Json::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
    let digest = |h: &str| obj(vec![("sha256", Json::str(h))]);
    let subject = Json::Array(
        subjects
            .iter()
            .map(|(n, h)| obj(vec![("name", Json::str(n)), ("digest", digest(h))]))
            .collect(),
    );
    let get = |k: &str| index.get(k).cloned().unwrap_or(Json::Null);
    let manifest = match index.get("manifest") {
        Some(Json::Object(m)) => m.clone(),
        _ => return bad("no manifest"),
    };
    let Some(Json::Str(manifest_sha)) = manifest.get("sha256") else {
        return bad("no manifest digest");
    };
    let version = match index.get("capgate") {
        Some(Json::Str(v)) => v.clone(),
        _ => return bad("no capgate version"),
    };
    let predicate = obj(vec![
        (
            "buildDefinition",
            obj(vec![
                ("buildType", Json::str("https://capgate.dev/attestation/compile/v1")),
                (
                    "externalParameters",
                    obj(vec![
                        (
                            "manifest",
                            obj(vec![
                                ("name", manifest.get("name").cloned().unwrap_or(Json::Null)),
                                ("version", manifest.get("version").cloned().unwrap_or(Json::Null)),
                            ]),
                        ),
                        ("params", get("params")),
                        ("targets", get("targets")),
                        ("options", get("options")),
                    ]),
                ),
                (
                    "internalParameters",
                    obj(vec![("grammar", get("grammar")), ("key", get("key"))]),
                ),
                (
                    "resolvedDependencies",
                    Json::Array(vec![obj(vec![
                        ("name", Json::str("capgate.json (normalized, RFC 8785)")),
                        ("digest", digest(manifest_sha)),
                    ])]),
                ),
            ]),
        ),
        (
            "runDetails",
            obj(vec![
                (
                    "builder",
                    obj(vec![
                        (
                            "id",
                            Json::str(format!("https://capgate.dev/builder/capgate@{version}")),
                        ),
                        ("version", obj(vec![("capgate", Json::str(&version))])),
                    ]),
                ),
                ("metadata", obj(vec![("invocationId", get("key"))])),
            ]),
        ),
    ]);
    let statement = obj(vec![
        ("_type", Json::str("https://in-toto.io/Statement/v1")),
        ("subject", subject),
        ("predicateType", Json::str("https://slsa.dev/provenance/v1")),
        ("predicate", predicate),
    ]);
    println!("{}", statement.to_compact());
    0
}
