//! Embedding capgate as a library: compile a manifest and print the
//! artifacts' paths, sizes and digests, plus any warnings.
//!
//! `cargo run --example compile -- examples/quickstart/capgate.json [NAME=VALUE]...`

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: compile <capgate.json> [NAME=VALUE]...");
        return ExitCode::from(2);
    };
    let mut options = capgate::Options::default();
    for kv in args {
        let Some((k, v)) = kv.split_once('=') else {
            eprintln!("params are NAME=VALUE, got {kv}");
            return ExitCode::from(2);
        };
        options.params.insert(k.to_string(), v.to_string());
    }
    let source = match std::fs::read(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    match capgate::compile(&source, &options) {
        Ok(out) => {
            println!("key {}", out.key);
            for a in &out.artifacts {
                println!("{:<22} {:>6} bytes  sha256:{}", a.path, a.bytes.len(), a.sha256());
            }
            let text = String::from_utf8_lossy(&source);
            for w in out.warnings.iter() {
                eprint!("{}", capgate::diag::render_human(w, &text, &path));
            }
            ExitCode::SUCCESS
        }
        Err(diags) => {
            let text = String::from_utf8_lossy(&source);
            for d in diags.iter() {
                eprint!("{}", capgate::diag::render_human(d, &text, &path));
            }
            ExitCode::from(1)
        }
    }
}
