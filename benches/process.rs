//! Whole-process cost: `capgate compile` of the 20-capability fixture vs a
//! trivial Rust binary that only exits, measured side by side (interleaved)
//! in one run. Goal: ratio <= 1.5x.
//!
//! Run: `cargo bench --bench process` (builds the release capgate first).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 300;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let status = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().expect("spawn");
    let d = t.elapsed();
    assert!(status.success(), "{cmd:?} failed");
    d
}

fn build_noop(dir: &Path) -> PathBuf {
    let src = dir.join("noop.rs");
    std::fs::write(&src, "fn main() {}\n").unwrap();
    let bin = dir.join("noop");
    let ok = Command::new("rustc")
        .args(["-C", "opt-level=3", "-o"])
        .arg(&bin)
        .arg(&src)
        .status()
        .expect("rustc");
    assert!(ok.success());
    bin
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ok = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "--bin", "capgate"])
        .current_dir(root)
        .status()
        .unwrap();
    assert!(ok.success(), "release build failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let capgate = target.join("release/capgate");
    let scratch = tempfile::tempdir().unwrap();
    let noop = build_noop(scratch.path());
    let manifest = root.join("benches/fixtures/twenty.json");
    let out = scratch.path().join("out");

    let compile = || {
        let mut c = Command::new(&capgate);
        c.arg("compile")
            .arg(&manifest)
            .arg("--param")
            .arg("PKG=/opt/mcp/bench-server")
            .arg("--out-dir")
            .arg(&out);
        time(&mut c)
    };
    // Warm up caches, then interleave so both see the same machine state.
    for _ in 0..10 {
        compile();
        time(&mut Command::new(&noop));
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        a.push(compile());
        b.push(time(&mut Command::new(&noop)));
    }
    let (ma, mb) = (median(a), median(b));
    println!("process startup, median of {RUNS} interleaved runs");
    println!(
        "  capgate compile (20 caps, all targets, out-dir replaced): {:>8.3} ms",
        ma.as_secs_f64() * 1e3
    );
    println!(
        "  trivial Rust binary (fn main() {{}}):                      {:>8.3} ms",
        mb.as_secs_f64() * 1e3
    );
    println!("  ratio: {:.2}x (goal <= 1.50x)", ma.as_secs_f64() / mb.as_secs_f64());
}
