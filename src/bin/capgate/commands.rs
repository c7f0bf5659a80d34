//! The subcommands.

use crate::args::{Cli, Command, CommonArgs, CompileArgs, Format, KeyArgs, TargetArg, VerifyArgs};
use crate::report;
use capgate::emit;
use capgate::{Artifact, Options, Target};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

/// Run a command; returns the exit code.
pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Compile(a) => compile(a),
        Command::Key(a) => key(a),
        Command::Verify(a) => match a.lock.clone() {
            Some(lock) => crate::audit::verify_lock(&lock, a.common.format),
            None => verify(a),
        },
        Command::Lock(a) => crate::audit::lock(&a),
        Command::Exec(a) => crate::exec::run(a),
        Command::Reap {
            name,
            globals,
            runc,
            remove,
        } => crate::exec::reap(&name, &globals, runc, remove.as_deref()),
        Command::Doctor(a) => crate::doctor::run(&a),
        Command::Bridge {
            listen,
            connect,
            command,
        } => crate::exec::bridge::run(&listen, &connect, &command),
        Command::Diff(a) => crate::diff::run(a),
        Command::Attest(a) => crate::audit::attest(&a.out_dir),
        Command::Review(a) => crate::review::run(a),
        Command::Explain { code } => explain(&code),
        Command::Import(a) => crate::import::run(&a),
        Command::Schema => {
            print!("{}", capgate::MANIFEST_SCHEMA);
            0
        }
    }
}

/// The targets a golden dir's index.json records (`None` when it has none).
fn golden_targets(dir: &Path) -> Option<Vec<String>> {
    let text = fs::read_to_string(dir.join("index.json")).ok()?;
    match capgate::json::parse(&text).ok()?.to_json() {
        capgate::json::Json::Object(o) => match o.get("targets")? {
            capgate::json::Json::Array(a) => a
                .iter()
                .map(|t| match t {
                    capgate::json::Json::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            _ => None,
        },
        _ => None,
    }
}

/// Write a whole file so that a reader never sees half of it: a sibling temp
/// file renamed over `path`. A destination that exists and is not a regular
/// file or a symlink (`/dev/null`, `/dev/stdout`, a FIFO) is written in
/// place instead: renaming over it would replace the device with a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = fs::symlink_metadata(path) {
        let t = meta.file_type();
        if t.is_char_device() || t.is_fifo() || t.is_socket() || t.is_block_device() {
            return fs::OpenOptions::new().write(true).open(path)?.write_all(bytes);
        }
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.capgate-new-{}", std::process::id()));
    fs::write(&tmp, bytes)?;
    let renamed = fs::rename(&tmp, path);
    if renamed.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    renamed
}

/// Param values from a JSON object file.
pub fn read_params_file(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read params file {}: {e}", path.display()))?;
    parse_params(&bytes, &path.display().to_string())
}

/// Param values from the bytes of a params file (`what` names it in errors).
pub fn parse_params(bytes: &[u8], what: &str) -> Result<BTreeMap<String, String>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| format!("params file {what} is not UTF-8"))?;
    let v =
        capgate::json::parse(text).map_err(|d| format!("params file {what} is not valid JSON: {}", d[0].message))?;
    let capgate::json::Kind::Object(members) = &v.kind else {
        return Err(format!("params file {what} must hold a JSON object of strings"));
    };
    let mut out = BTreeMap::new();
    for (k, val) in members {
        let s = val
            .as_str()
            .ok_or_else(|| format!("params file {what}: the value of `{}` must be a string", k.text))?;
        out.insert(k.text.clone(), s.to_string());
    }
    Ok(out)
}

/// The params of a `capgate.params.json` beside `manifest` (tree walks and
/// `--store` batches), or none when there is no such file.
pub fn params_beside(manifest: &Path) -> Result<BTreeMap<String, String>, String> {
    let beside = manifest.parent().unwrap_or(Path::new(".")).join("capgate.params.json");
    if beside.is_file() {
        read_params_file(&beside)
    } else {
        Ok(BTreeMap::new())
    }
}

/// `base`, then the `--params-file` object, then each `--param NAME=VALUE`
/// (later ones win).
pub fn flag_params(
    base: BTreeMap<String, String>,
    params_file: Option<&Path>,
    params: &[String],
) -> Result<BTreeMap<String, String>, String> {
    let mut out = base;
    if let Some(f) = params_file {
        out.extend(read_params_file(f)?);
    }
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            return Err(format!("--param `{p}` is not NAME=VALUE"));
        };
        if k.is_empty() {
            return Err(format!("--param `{p}` has an empty name"));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// Build library options from the common flags; `base` holds params that
/// the flags override (a `capgate.params.json` in --store mode).
pub fn options(c: &CommonArgs, base: BTreeMap<String, String>) -> Result<Options, String> {
    let params = flag_params(base, c.params_file.as_deref(), &c.params)?;
    let targets = c
        .targets
        .iter()
        .map(|t| match t {
            TargetArg::Bwrap => Target::Bwrap,
            TargetArg::Docker => Target::Docker,
            TargetArg::Egress => Target::Egress,
            TargetArg::Oci => Target::Oci,
        })
        .collect();
    Ok(Options {
        targets,
        params,
        strict: c.strict,
        deny_warnings: c.deny_warnings,
    })
}

/// A manifest's bytes, or (for a file over the size limit) the library's
/// CG0003 diagnostic without reading the file.
pub enum Input {
    Bytes(Vec<u8>),
    TooLarge(capgate::Diagnostics),
}

pub fn read_manifest(path: &Path) -> Result<Input, String> {
    use std::io::Read;
    // One open and an fstat: batches read thousands of manifests.
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let mut file = fs::File::open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if meta.is_dir() {
        return Err(format!(
            "{} is a directory; pass the manifest file (capgate.json)",
            path.display()
        ));
    }
    if meta.len() > capgate::manifest::MAX_MANIFEST_BYTES as u64 {
        return Ok(Input::TooLarge(capgate::Diagnostics(vec![
            capgate::manifest::too_large(meta.len()),
        ])));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize + 1);
    file.read_to_end(&mut bytes).map_err(cannot)?;
    Ok(Input::Bytes(bytes))
}

/// Read and compile one manifest. Rejections are reported here (exit 1),
/// as are I/O errors (exit 2); `Err` carries the exit code.
fn compile_file(path: &Path, opts: &Options, fmt: Format) -> Result<(Vec<u8>, capgate::Compiled), u8> {
    let file = display(path);
    let source = match read_manifest(path) {
        Ok(Input::Bytes(s)) => s,
        Ok(Input::TooLarge(ds)) => {
            report::diagnostics(&ds, b"", &file, fmt);
            return Err(1);
        }
        Err(e) => return Err(report::failure(&e, fmt)),
    };
    match capgate::compile(&source, opts) {
        Ok(c) => Ok((source, c)),
        Err(ds) => {
            report::diagnostics(&ds, &source, &file, fmt);
            Err(1)
        }
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

fn compile(a: CompileArgs) -> u8 {
    let fmt = a.common.format;
    if let Some(store) = a.store.clone() {
        return crate::batch::run(&a, &store);
    }
    let Some(out_dir) = &a.out_dir else {
        return report::failure("compile needs --out-dir DIR (one manifest) or --store DIR", fmt);
    };
    if a.manifests_from.is_some() || a.jobs.is_some() {
        return report::failure("--manifests-from and --jobs need --store DIR (a batch)", fmt);
    }
    let [manifest] = a.manifests.as_slice() else {
        return report::failure(
            "--out-dir takes exactly one manifest; use --store DIR to compile several (each to DIR/<key>/)",
            fmt,
        );
    };
    if manifest.is_dir() {
        return report::failure(
            &format!(
                "{} is a directory; pass its capgate.json, or use --store DIR to compile every manifest under it",
                manifest.display()
            ),
            fmt,
        );
    }
    let opts = match options(&a.common, BTreeMap::new()) {
        Ok(o) => o,
        Err(e) => return report::failure(&e, fmt),
    };
    let file = display(manifest);
    let (source, compiled) = match compile_file(manifest, &opts, fmt) {
        Ok(x) => x,
        Err(code) => return code,
    };
    report::diagnostics(&compiled.warnings, &source, &file, fmt);
    if let Err(e) = emit::write_out_dir(out_dir, &compiled.artifacts) {
        return report::failure(&format!("cannot write {}: {e}", out_dir.display()), fmt);
    }
    if !a.quiet {
        summary(fmt, &file, &compiled, out_dir, "written");
    }
    0
}

fn summary(fmt: Format, file: &str, c: &capgate::Compiled, dest: &Path, status: &str) {
    let mut out = std::io::stdout().lock();
    match fmt {
        Format::Human => {
            let _ = writeln!(
                out,
                "{status} {} {} from {file} -> {} (key {}, {} files)",
                c.policy.name,
                c.policy.version,
                dest.display(),
                c.key,
                c.artifacts.len()
            );
        }
        Format::Json => {
            use capgate::json::Json;
            let mut o = BTreeMap::new();
            o.insert("manifest".to_string(), Json::str(file));
            o.insert("key".to_string(), Json::str(&c.key));
            o.insert("out_dir".to_string(), Json::str(dest.display().to_string()));
            o.insert("status".to_string(), Json::str(status));
            o.insert(
                "files".to_string(),
                Json::strs(c.artifacts.iter().map(|a| a.path.as_str())),
            );
            let _ = writeln!(out, "{}", Json::Object(o).to_compact());
        }
    }
}

fn key(a: KeyArgs) -> u8 {
    let fmt = a.common.format;
    let opts = match options(&a.common, BTreeMap::new()) {
        Ok(o) => o,
        Err(e) => return report::failure(&e, fmt),
    };
    // The key of a successful compile, so it fails exactly when compile fails.
    match compile_file(&a.manifest, &opts, fmt) {
        Ok((_, c)) => {
            println!("{}", c.key);
            0
        }
        Err(code) => code,
    }
}

/// Every file under `dir` (not directories), as sorted relative paths.
pub fn list_files(dir: &Path) -> std::io::Result<Vec<String>> {
    Ok(capgate::emit::tree(dir)?
        .into_iter()
        .filter(|(_, ft)| !ft.is_dir())
        .map(|(rel, _)| rel)
        .collect())
}

/// Text for diffing: NUL-separated argv becomes one argument per line.
fn diffable(path: &str, bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if path.ends_with("args0") {
        text.split('\0').collect::<Vec<_>>().join("\n")
    } else {
        text.into_owned()
    }
}

fn verify(a: VerifyArgs) -> u8 {
    let fmt = a.common.format;
    let (Some(manifest), Some(golden_dir)) = (a.manifest.clone(), a.golden_dir.clone()) else {
        return report::failure("verify needs MANIFEST --golden-dir DIR, or --lock FILE", fmt);
    };
    let opts = match options(&a.common, BTreeMap::new()) {
        Ok(o) => o,
        Err(e) => return report::failure(&e, fmt),
    };
    let file = display(&manifest);
    let compiled = match compile_file(&manifest, &opts, fmt) {
        Ok((_, c)) => c,
        Err(code) => return code,
    };
    let golden = match list_files(&golden_dir) {
        Ok(g) => g,
        Err(e) => return report::failure(&format!("cannot read golden dir {}: {e}", golden_dir.display()), fmt),
    };
    let expected: BTreeMap<&str, &Artifact> = compiled.artifacts.iter().map(|x| (x.path.as_str(), x)).collect();
    let mut problems = Vec::new();
    let mut out = String::new();
    for (path, art) in &expected {
        let gp = golden_dir.join(path);
        match fs::read(&gp) {
            Ok(bytes) if bytes == art.bytes => {}
            Ok(bytes) => {
                problems.push(format!("{path}: differs"));
                let old = diffable(path, &bytes);
                let new = diffable(path, &art.bytes);
                let diff = similar::TextDiff::from_lines(&old, &new);
                out.push_str(
                    &diff
                        .unified_diff()
                        .context_radius(3)
                        .header(&format!("golden/{path}"), &format!("compiled/{path}"))
                        .to_string(),
                );
            }
            Err(_) => {
                problems.push(format!("{path}: missing from the golden dir"));
                out.push_str(&format!(
                    "--- /dev/null\n+++ compiled/{path}\n(missing file, {} bytes)\n",
                    art.bytes.len()
                ));
            }
        }
    }
    for g in &golden {
        if !expected.contains_key(g.as_str()) {
            problems.push(format!("{g}: in the golden dir but not compiled"));
        }
    }
    if problems.is_empty() {
        if let Some(stamp) = &a.stamp {
            if let Err(e) = write_atomic(stamp, format!("{}\n", compiled.key).as_bytes()) {
                return report::failure(&format!("cannot write {}: {e}", stamp.display()), fmt);
            }
        }
        println!(
            "ok: {} matches {} ({} files, key {})",
            file,
            golden_dir.display(),
            expected.len(),
            compiled.key
        );
        return 0;
    }
    print!("{out}");
    eprintln!("error: {} does not match {}:", golden_dir.display(), file);
    for p in &problems {
        eprintln!("  {p}");
    }
    // A golden dir compiled for other targets is not "new artifacts": say so
    // instead of suggesting a compile that would replace it.
    let ours: Vec<&str> = opts.effective_targets().iter().map(|t| t.as_str()).collect();
    if let Some(theirs) = golden_targets(&golden_dir) {
        if theirs != ours {
            eprintln!(
                "note: {} was compiled for --target {}, this verify for --target {}: pass the same --target flags",
                golden_dir.display(),
                theirs.join(","),
                ours.join(",")
            );
            return 1;
        }
    }
    let mut update = format!("capgate compile {} --out-dir {}", file, golden_dir.display());
    for t in &a.common.targets {
        update.push_str(&format!(" --target {}", format!("{t:?}").to_lowercase()));
    }
    for p in &a.common.params {
        update.push_str(&format!(" --param {p}"));
    }
    eprintln!("to accept the new artifacts, run: {update}");
    1
}

fn explain(code: &str) -> u8 {
    match capgate::Code::parse(code) {
        Some(c) => {
            print!("{}", c.doc());
            0
        }
        None => {
            eprintln!("error: `{code}` is not a capgate diagnostic code");
            eprintln!(
                "known codes: {}",
                capgate::diag::ALL_CODES
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            2
        }
    }
}
