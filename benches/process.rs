//! Whole-process cost: `capgate compile` of the 20-capability fixture vs a
//! trivial Rust binary that only exits, measured side by side (interleaved)
//! in one run. Goal: ratio <= 1.5x. Four variants: the static binary (what
//! Bazel and Nix run) and the dynamic one, writing to tmpfs and to disk.
//!
//! Run: `cargo bench --bench process` (builds both release binaries first).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 300;

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
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
    let cargo = env!("CARGO");
    let ok = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--bin", "capgate"])
        .current_dir(root)
        .status()
        .unwrap();
    assert!(ok.success(), "release build failed");
    let ok = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "--bin",
            "capgate",
            "--target",
            "x86_64-unknown-linux-gnu",
        ])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .current_dir(root)
        .status()
        .unwrap();
    assert!(ok.success(), "static release build failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let dynamic = target.join("release/capgate");
    let fully_static = target.join("x86_64-unknown-linux-gnu/release/capgate");
    let scratch = tempfile::tempdir().unwrap();
    let shm = Path::new("/dev/shm");
    let tmpfs = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let noop = build_noop(scratch.path());
    let manifest = root.join("benches/fixtures/twenty.json");

    let variants = [
        (
            "static binary, out-dir on tmpfs",
            &fully_static,
            tmpfs.path().join("out"),
        ),
        (
            "static binary, out-dir on disk",
            &fully_static,
            scratch.path().join("out-static"),
        ),
        (
            "dynamic binary, out-dir on tmpfs",
            &dynamic,
            tmpfs.path().join("out-dyn"),
        ),
        (
            "dynamic binary, out-dir on disk",
            &dynamic,
            scratch.path().join("out-dyn"),
        ),
    ];
    let compile = |bin: &Path, out: &Path| {
        let mut c = Command::new(bin);
        c.arg("compile")
            .arg(&manifest)
            .arg("--param")
            .arg("PKG=/opt/mcp/bench-server")
            .arg("--out-dir")
            .arg(out);
        time(&mut c)
    };
    println!("process startup, median of {RUNS} interleaved runs (the out-dir exists: each run replaces it)");
    for (label, bin, out) in &variants {
        for _ in 0..10 {
            compile(bin, out);
            time(&mut Command::new(&noop));
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            a.push(compile(bin, out));
            b.push(time(&mut Command::new(&noop)));
        }
        let (ma, mb) = (median(a), median(b));
        println!(
            "  {label:<34} {ma:>6.3} ms vs trivial binary {mb:.3} ms: {:.2}x (goal <= 1.50x)",
            ma / mb
        );
    }
}
