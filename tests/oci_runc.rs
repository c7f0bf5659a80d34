//! The compiled `oci/config.json`, byte for byte as capgate writes it, run
//! by real runc: a bundle is built in a temp dir (an empty rootfs with the
//! merged-/usr symlinks; /usr and the grants come from the config's
//! mounts), then `runc run` starts a real MCP server from the lab
//! (server-filesystem) that must answer initialize, tools/list and a
//! tools/call; and probes check the baseline (uid, capabilities, seccomp,
//! namespaces, read-only root and binds, masked /proc) and the lowered
//! limits (memory, pids, nofile, tmpfs size).
//!
//! Needs root, runc and the lab (`bash tools/runtime-setup.sh`;
//! CAPGATE_LAB, default /tmp/capgate-lab). Without them the tests skip
//! loudly; with CI set they fail instead.

#[path = "runtime/mcp.rs"]
mod mcp;

use capgate::json::Json;
use mcp::{obj, Client};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static N: AtomicU32 = AtomicU32::new(0);

fn ready() -> Option<(PathBuf, PathBuf)> {
    let lab = PathBuf::from(std::env::var_os("CAPGATE_LAB").unwrap_or_else(|| "/tmp/capgate-lab".into()));
    let runc = ["/usr/sbin/runc", "/usr/bin/runc", "/sbin/runc"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let why = match (&runc, root, lab.join("npm/.done").exists()) {
        (None, _, _) => "runc is not installed (apt-get install runc)".to_string(),
        (_, false, _) => "rootful runc needs root".to_string(),
        (_, _, false) => format!("no lab at {} (run bash tools/runtime-setup.sh)", lab.display()),
        (Some(r), true, true) => return Some((lab, r.clone())),
    };
    if std::env::var_os("CI").is_some() {
        panic!("the oci runtime tests cannot run in CI: {why}");
    }
    eprintln!("\n*** SKIPPED oci runtime tests: {why} ***\n");
    None
}

/// Compile `manifest` for the oci target only and return config.json's bytes.
fn compile(manifest: &str, params: &[(&str, String)]) -> Vec<u8> {
    let opts = capgate::Options {
        targets: [capgate::Target::Oci].into(),
        params: params.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        ..Default::default()
    };
    let c = capgate::compile(manifest.as_bytes(), &opts).unwrap_or_else(|d| panic!("does not compile: {d:?}"));
    let a = c
        .artifacts
        .iter()
        .find(|a| a.path == "oci/config.json")
        .expect("oci/config.json");
    a.bytes.clone()
}

/// A bundle: `config` unchanged, an empty rootfs with the merged-/usr symlinks.
struct Bundle {
    dir: tempfile::TempDir,
    name: String,
    runc: PathBuf,
}

impl Bundle {
    fn new(config: &[u8], runc: &Path) -> Bundle {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir(&rootfs).unwrap();
        std::fs::set_permissions(&rootfs, std::fs::Permissions::from_mode(0o755)).unwrap();
        for l in ["bin", "lib", "lib64", "sbin"] {
            std::os::unix::fs::symlink(format!("usr/{l}"), rootfs.join(l)).unwrap();
        }
        std::fs::write(dir.path().join("config.json"), config).unwrap();
        let name = format!(
            "capgate-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        Bundle {
            dir,
            name,
            runc: runc.to_path_buf(),
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.runc);
        c.args(["run", "--bundle"]).arg(self.dir.path()).arg(&self.name);
        c
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = Command::new(&self.runc)
            .args(["delete", "--force", &self.name])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// A scratch dir the sandbox user may use: `ro/` (a file), `rw/` (owned by
/// 65534), `outside/` (never bound).
fn scratch() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for d in ["ro", "rw", "outside"] {
        std::fs::create_dir(t.path().join(d)).unwrap();
        std::fs::set_permissions(t.path().join(d), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(t.path().join("ro/file.txt"), "read-only data\n").unwrap();
    std::fs::write(t.path().join("outside/secret.txt"), "outside\n").unwrap();
    std::os::unix::fs::chown(t.path().join("rw"), Some(65534), Some(65534)).unwrap();
    t
}

#[test]
fn runc_runs_a_real_mcp_server_from_the_compiled_config() {
    let Some((lab, runc)) = ready() else { return };
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/filesystem/capgate.json"))
            .unwrap();
    let data = lab.join("data/fsroot");
    let params = [
        (
            "PKG",
            lab.join("npm/node_modules/@modelcontextprotocol/server-filesystem")
                .display()
                .to_string(),
        ),
        ("NODE_MODULES", lab.join("npm/node_modules").display().to_string()),
        ("DATA", data.display().to_string()),
    ];
    let config = compile(&manifest, &params);
    // The file runc reads is capgate's artifact itself, envelope included.
    assert!(String::from_utf8_lossy(&config).contains("\"capgate\": {"));
    let b = Bundle::new(&config, &runc);
    let mut client = Client::spawn(b.command());
    let init = client.initialize().expect("initialize");
    assert!(mcp::get(&init, "serverInfo").is_some(), "{init:?}");
    let tools = client.tool_names().expect("tools/list");
    assert!(tools.iter().any(|t| t == "read_text_file"), "{tools:?}");
    let (err, text) = client
        .call(
            "read_text_file",
            obj(&[("path", Json::str(data.join("hello.txt").display().to_string()))]),
        )
        .expect("tools/call");
    assert!(!err && text.contains("hello from fsroot"), "{text}");
    // Outside the granted directory: the server refuses, and the sandbox has
    // no such path anyway.
    let (err, text) = client
        .call("read_text_file", obj(&[("path", Json::str("/etc/hostname"))]))
        .expect("tools/call");
    assert!(err, "read /etc/hostname: {text}");
    client.finish();
}

const PROBE: &str = r#"
import ctypes, json, os, resource, socket, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
out = {}
def errno_of(f):
    try:
        f(); return 0
    except OSError as e:
        return e.errno
def sys_errno(r):
    return ctypes.get_errno() if r != 0 else 0
status = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
out["uid"] = os.getuid(); out["gid"] = os.getgid()
out["CapEff"] = status["CapEff"].strip(); out["CapBnd"] = status["CapBnd"].strip()
out["NoNewPrivs"] = status["NoNewPrivs"].strip(); out["Seccomp"] = status["Seccomp"].strip()
out["hostname"] = socket.gethostname()
out["nofile"] = list(resource.getrlimit(resource.RLIMIT_NOFILE))
out["pids_visible"] = len([p for p in os.listdir("/proc") if p.isdigit()])
out["unshare_user"] = sys_errno(libc.unshare(0x10000000))
out["ptrace"] = sys_errno(libc.ptrace(16, 1, 0, 0))
out["keyctl"] = sys_errno(libc.syscall(250, 0, 0, 0, 0))
out["mount"] = sys_errno(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
out["write_root"] = errno_of(lambda: open("/pwned", "w"))
out["write_usr"] = errno_of(lambda: open("/usr/pwned", "w"))
out["write_ro_bind"] = errno_of(lambda: open(sys.argv[1] + "/ro/pwned", "w"))
out["read_ro_bind"] = open(sys.argv[1] + "/ro/file.txt").read()
def rw():
    p = sys.argv[1] + "/rw/ok"
    open(p, "w").write("x"); os.unlink(p)
out["write_rw_bind"] = errno_of(rw)
out["read_outside"] = errno_of(lambda: open(sys.argv[1] + "/outside/secret.txt"))
def tcp():
    s = socket.socket(); s.settimeout(2); s.connect(("1.1.1.1", 80))
out["tcp_public"] = errno_of(tcp)
out["ifaces"] = sorted(n for _, n in socket.if_nameindex())
def kcore():
    d = open("/proc/kcore", "rb").read(16)
    if d: raise OSError(0, "read")
out["kcore"] = errno_of(kcore)
def big_tmp():
    with open("/tmp/big", "wb") as f:
        for _ in range(40): f.write(b"\0" * (1 << 20))
out["tmpfs_40MiB"] = errno_of(big_tmp)
ts = []
def spawn():
    for _ in range(200):
        t = threading.Thread(target=threading.Event().wait, args=(5,), daemon=True); t.start(); ts.append(t)
try:
    spawn(); out["threads"] = len(ts)
except RuntimeError:
    out["threads"] = len(ts)
print(json.dumps(out), flush=True)
os._exit(0)
"#;

fn probe_manifest(dir: &Path, limits: &[&str]) -> String {
    let d = dir.display();
    let mut caps = vec![
        format!("\"fs:read:{d}/ro/**\""),
        format!("\"fs:read,write,create,delete:{d}/rw/**\""),
    ];
    caps.extend(limits.iter().map(|l| format!("\"{l}\"")));
    std::fs::write(dir.join("ro/probe.py"), PROBE).unwrap();
    let script = format!("{d}/ro/probe.py");
    let cmd = Json::strs(["/usr/bin/python3", &script, &d.to_string()]).to_compact();
    format!(
        r#"{{"grammar":"1","name":"probe","version":"1","command":{cmd},"capabilities":[{}]}}"#,
        caps.join(",")
    )
}

fn run_to_end(b: &Bundle) -> (Option<i32>, String, String) {
    let out = b
        .command()
        .stdin(std::process::Stdio::null())
        .output()
        .expect("runc run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn parse(stdout: &str) -> BTreeMap<String, Json> {
    let line = stdout.lines().last().unwrap_or_default();
    match capgate::json::parse(line).map(|v| v.to_json()) {
        Ok(Json::Object(o)) => o,
        _ => panic!("no probe output: {stdout}"),
    }
}

#[test]
fn runc_enforces_the_baseline_and_the_lowered_limits() {
    let Some((_lab, runc)) = ready() else { return };
    let t = scratch();
    let limits = [
        "limit:set:pids=32",
        "limit:set:nofile=256",
        "limit:set:tmpfs=16MiB",
        "limit:set:memory=256MiB",
        "limit:set:cpu=500m",
    ];
    let config = compile(&probe_manifest(t.path(), &limits), &[]);
    let b = Bundle::new(&config, &runc);
    let (code, stdout, stderr) = run_to_end(&b);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    eprintln!("probe under limits: {stdout}");
    let o = parse(&stdout);
    let int = |k: &str| match o.get(k) {
        Some(Json::Int(i)) => *i,
        other => panic!("{k}: {other:?}"),
    };
    let s = |k: &str| match o.get(k) {
        Some(Json::Str(x)) => x.clone(),
        other => panic!("{k}: {other:?}"),
    };
    assert_eq!((int("uid"), int("gid")), (65534, 65534));
    assert_eq!(s("CapEff"), "0000000000000000");
    assert_eq!(s("CapBnd"), "0000000000000000");
    assert_eq!(s("NoNewPrivs"), "1");
    assert_eq!(s("Seccomp"), "2");
    assert_eq!(s("hostname"), "mcp");
    assert_eq!(
        o.get("nofile"),
        Some(&Json::Array(vec![Json::Int(256), Json::Int(256)]))
    );
    assert!(int("pids_visible") < 5, "pid namespace: {} pids", int("pids_visible"));
    const EPERM: i64 = 1;
    const ENOENT: i64 = 2;
    const EROFS: i64 = 30;
    const ENOSPC: i64 = 28;
    const ENETUNREACH: i64 = 101;
    for k in ["unshare_user", "ptrace", "keyctl", "mount"] {
        assert_eq!(int(k), EPERM, "{k} must fail with EPERM");
    }
    assert_eq!(int("write_root"), EROFS);
    assert_eq!(int("write_usr"), EROFS);
    assert_eq!(int("write_ro_bind"), EROFS);
    assert_eq!(s("read_ro_bind"), "read-only data\n");
    assert_eq!(int("write_rw_bind"), 0);
    assert_eq!(int("read_outside"), ENOENT);
    assert_eq!(int("tcp_public"), ENETUNREACH);
    assert_eq!(o.get("ifaces"), Some(&Json::strs(["lo"])));
    assert_ne!(int("kcore"), 0, "/proc/kcore must be masked");
    assert_eq!(int("tmpfs_40MiB"), ENOSPC, "limit:set:tmpfs=16MiB");
    assert!(
        int("threads") < 32,
        "limit:set:pids=32 let {} threads start",
        int("threads")
    );

    // Without limits the same probe gets more threads and a bigger /tmp.
    let config = compile(&probe_manifest(t.path(), &[]), &[]);
    let b = Bundle::new(&config, &runc);
    let (code, stdout, stderr) = run_to_end(&b);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let o = parse(&stdout);
    assert_eq!(o.get("threads"), Some(&Json::Int(200)));
    assert_eq!(o.get("tmpfs_40MiB"), Some(&Json::Int(0)));
}

#[test]
fn runc_applies_the_memory_limit() {
    let Some((_lab, runc)) = ready() else { return };
    let alloc = |limit: &str| {
        let cmd = Json::strs([
            "/usr/bin/python3",
            "-c",
            "b = bytearray(200 << 20); b[::4096] = b'1' * len(b[::4096]); print('allocated', flush=True)",
        ])
        .to_compact();
        let caps = if limit.is_empty() {
            String::new()
        } else {
            format!("\"{limit}\"")
        };
        let m = format!(r#"{{"grammar":"1","name":"mem","version":"1","command":{cmd},"capabilities":[{caps}]}}"#);
        let b = Bundle::new(&compile(&m, &[]), &runc);
        run_to_end(&b)
    };
    let (code, stdout, stderr) = alloc("limit:set:memory=64MiB");
    assert!(
        !stdout.contains("allocated") && code == Some(137),
        "200 MiB under memory=64MiB: exit {code:?}, {stdout} {stderr}"
    );
    let (code, stdout, stderr) = alloc("");
    assert!(
        stdout.contains("allocated") && code == Some(0),
        "{code:?} {stdout} {stderr}"
    );
}

/// `capgate exec --target oci`: inject/read values reach the server through
/// the launcher's private bundle copy only, other host variables do not, and
/// the bundle is gone after the run.
#[test]
fn exec_passes_secrets_only_through_its_private_bundle() {
    let Some(_) = ready() else { return };
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("m.json");
    let script = "import os; print('|'.join(os.environ.get(k, '-') for k in ['CAPGATE_OCI_SECRET', 'CAPGATE_OCI_READ', 'CAPGATE_OCI_CANARY', 'MODE']), flush=True)";
    let cmd = Json::strs(["/usr/bin/python3", "-c", script]).to_compact();
    std::fs::write(
        &m,
        format!(
            r#"{{"grammar":"1","name":"s","version":"1","command":{cmd},"capabilities":["env:inject:CAPGATE_OCI_SECRET","env:read:CAPGATE_OCI_READ","env:set:MODE=fixed"]}}"#
        ),
    )
    .unwrap();
    let secret = format!("oci-secret-{}", std::process::id());
    let out = Command::new(env!("CARGO_BIN_EXE_capgate"))
        .arg("exec")
        .arg(&m)
        .args(["--target", "oci"])
        .env("CAPGATE_OCI_SECRET", &secret)
        .env("CAPGATE_OCI_READ", "read-value")
        .env("CAPGATE_OCI_CANARY", "must-not-pass")
        .env("MODE", "host-mode")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim(),
        format!("{secret}|read-value|-|fixed"),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));
    // The launcher's runtime dir (and with it the bundle) is removed.
    let me = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            // capgate exec's runtime dirs: capgate-<pid>-<n>
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_prefix("capgate-")
                .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
        })
        .filter(|e| walk_contains(&e.path(), secret.as_bytes()))
        .map(|e| e.path())
        .collect::<Vec<_>>();
    assert!(me.is_empty(), "the secret is left in {me:?}");
    assert!(!walk_contains(Path::new("/run/runc"), secret.as_bytes()));

    // A missing inject value is refused before anything runs.
    let out = Command::new(env!("CARGO_BIN_EXE_capgate"))
        .arg("exec")
        .arg(&m)
        .args(["--target", "oci"])
        .env_remove("CAPGATE_OCI_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CAPGATE_OCI_SECRET"));
}

/// Whether any regular file under `dir` (not following symlinks, small
/// files only) contains `needle`.
fn walk_contains(dir: &Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    for e in entries.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            if walk_contains(&e.path(), needle) {
                return true;
            }
        } else if ft.is_file() && e.metadata().map(|m| m.len() < 1 << 20).unwrap_or(false) {
            if let Ok(b) = std::fs::read(e.path()) {
                if b.windows(needle.len()).any(|w| w == needle) {
                    return true;
                }
            }
        }
    }
    false
}
