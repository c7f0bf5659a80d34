//! Sandbox start-up: time from spawn to the MCP `tools/list` answer for the
//! six lab servers, unsandboxed (same three-variable environment the
//! sandboxes give) vs `capgate exec` with bwrap vs with podman, medians side
//! by side in one run; and the launcher's fixed overhead (a no-op under the
//! artifact vs bare bwrap with the same options, both as uid 65534).
//! Goals: bwrap <= 1.10x unsandboxed, podman <= unsandboxed + 200 ms,
//! launcher overhead <= 10 ms.
//!
//! Run: `CAPGATE_LAB=$(bash tools/runtime-setup.sh | tail -1) cargo bench --bench runtime`

#[path = "../tests/runtime/mcp.rs"]
#[allow(dead_code)]
mod mcp;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 7;

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

fn spawn_to_list(cmd: Command) -> Duration {
    let t = Instant::now();
    let mut c = mcp::Client::spawn(cmd);
    c.initialize().expect("initialize");
    c.tool_names().expect("tools/list");
    let d = t.elapsed();
    c.finish();
    d
}

struct Server {
    name: &'static str,
    example: &'static str,
    params: Vec<(&'static str, String)>,
    /// The unsandboxed command (after params).
    bare: Vec<String>,
    env: Vec<(&'static str, String)>,
}

fn servers(lab: &Path) -> Vec<Server> {
    let l = |p: &str| lab.join(p).display().to_string();
    let npm = |pkg: &str| l(&format!("npm/node_modules/@modelcontextprotocol/{pkg}"));
    let node = |pkg: &'static str, example: &'static str, extra: &[(&'static str, String)], args: &[String]| {
        let mut params = vec![("PKG", npm(pkg)), ("NODE_MODULES", l("npm/node_modules"))];
        params.extend(extra.iter().cloned());
        let mut bare = vec!["/usr/bin/node".to_string(), format!("{}/dist/index.js", npm(pkg))];
        bare.extend(args.iter().cloned());
        Server {
            name: pkg,
            example,
            params,
            bare,
            env: vec![],
        }
    };
    vec![
        node(
            "server-filesystem",
            "filesystem",
            &[("DATA", l("data/fsroot"))],
            &[l("data/fsroot")],
        ),
        node("server-everything", "everything", &[], &["stdio".to_string()]),
        Server {
            env: vec![("MEMORY_FILE_PATH", l("data/memdir/memory.jsonl"))],
            ..node("server-memory", "memory", &[("STATE", l("data/memdir"))], &[])
        },
        Server {
            name: "mcp-server-time",
            example: "time",
            params: vec![("VENV", l("venv"))],
            bare: vec![l("venv/bin/mcp-server-time")],
            env: vec![],
        },
        Server {
            name: "mcp-server-fetch",
            example: "fetch",
            params: vec![("VENV", l("venv"))],
            bare: vec![l("venv/bin/mcp-server-fetch")],
            env: vec![],
        },
        Server {
            name: "mcp-server-git",
            example: "git",
            params: vec![
                ("VENV", l("venv")),
                ("REPO", l("data/repo")),
                ("AUTHOR_NAME", "b".into()),
                ("AUTHOR_EMAIL", "b@example.com".into()),
            ],
            bare: vec![l("venv/bin/mcp-server-git"), "--repository".into(), l("data/repo")],
            env: vec![],
        },
    ]
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lab = PathBuf::from(std::env::var_os("CAPGATE_LAB").expect("set CAPGATE_LAB (bash tools/runtime-setup.sh)"));
    let ok = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "--bin", "capgate"])
        .current_dir(root)
        .status()
        .unwrap();
    assert!(ok.success());
    let capgate = root.join("target/release/capgate");
    let scratch = tempfile::tempdir().unwrap();

    println!("spawn -> tools/list, median of {RUNS} (ms)");
    println!(
        "{:<20} {:>10} {:>10} {:>8} {:>10} {:>10}",
        "server", "unsandbox", "bwrap", "ratio", "podman", "delta"
    );
    for s in servers(&lab) {
        let out = scratch.path().join(s.example);
        let mut c = Command::new(&capgate);
        c.arg("compile")
            .arg(root.join("examples").join(s.example).join("capgate.json"))
            .arg("--out-dir")
            .arg(&out);
        for (k, v) in &s.params {
            c.arg("--param").arg(format!("{k}={v}"));
        }
        assert!(c.stderr(Stdio::null()).status().unwrap().success());
        let bare = || {
            let mut c = Command::new(&s.bare[0]);
            c.args(&s.bare[1..])
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env("HOME", "/tmp")
                .env("LANG", "C.UTF-8");
            for (k, v) in &s.env {
                c.env(k, v);
            }
            c.stderr(Stdio::null());
            c
        };
        let exec = |target: &str| {
            let mut c = Command::new(&capgate);
            c.arg("exec")
                .arg(&out)
                .arg("--target")
                .arg(target)
                .stderr(Stdio::null());
            c
        };
        let (mut a, mut b, mut p) = (vec![], vec![], vec![]);
        spawn_to_list(bare());
        spawn_to_list(exec("bwrap"));
        spawn_to_list(exec("docker"));
        for _ in 0..RUNS {
            a.push(spawn_to_list(bare()));
            b.push(spawn_to_list(exec("bwrap")));
            p.push(spawn_to_list(exec("docker")));
        }
        let (ma, mb, mp) = (median(a), median(b), median(p));
        println!(
            "{:<20} {:>10.0} {:>10.0} {:>7.2}x {:>10.0} {:>+9.0}",
            s.name,
            ma,
            mb,
            mb / ma,
            mp,
            mp - ma
        );
    }

    // Launcher overhead: a no-op under the artifact vs bare bwrap, same options, same uid.
    let m = scratch.path().join("noop.json");
    std::fs::write(&m, r#"{"grammar":"1","name":"noop","version":"1"}"#).unwrap();
    let out = scratch.path().join("noop");
    assert!(Command::new(&capgate)
        .arg("compile")
        .arg(&m)
        .arg("--out-dir")
        .arg(&out)
        .status()
        .unwrap()
        .success());
    let opts: Vec<String> = String::from_utf8(std::fs::read(out.join("bwrap/args0")).unwrap())
        .unwrap()
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let time = |mut c: Command| {
        let t = Instant::now();
        assert!(c
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success());
        t.elapsed()
    };
    let launcher = || {
        let mut c = Command::new(&capgate);
        c.arg("exec").arg(&out).args(["--", "/bin/true"]);
        c
    };
    let bwrap = || {
        let mut c = Command::new("setpriv");
        c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups", "bwrap"])
            .args(&opts)
            .args(["--", "/bin/true"]);
        c
    };
    let (mut x, mut y) = (vec![], vec![]);
    for _ in 0..5 {
        time(launcher());
        time(bwrap());
    }
    for _ in 0..100 {
        x.push(time(launcher()));
        y.push(time(bwrap()));
    }
    let (mx, my) = (median(x), median(y));
    println!(
        "no-op: capgate exec {mx:.1} ms, bare bwrap {my:.1} ms, launcher overhead {:+.1} ms (goal <= 10 ms)",
        mx - my
    );
}
