//! Real MCP servers under `capgate exec`: the six servers of the lab
//! (server-filesystem, -everything, -memory from npm; mcp-server-time,
//! -fetch, -git from PyPI) on bwrap and on podman, each through initialize,
//! tools/list and one real tools/call, as a non-root uid; and egress end to
//! end through the squid allowlist.
//!
//! Needs bwrap, podman, squid and the lab (`bash tools/runtime-setup.sh`,
//! which prints its path; set CAPGATE_LAB to it, default /tmp/capgate-lab).
//! Without them the tests skip loudly; with CI set they fail instead.

#[path = "runtime/mcp.rs"]
mod mcp;

use capgate::json::Json;
use mcp::{obj, Client};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

const RUNTIMES: [&str; 3] = ["bwrap", "docker", "oci"];

fn lab() -> Option<PathBuf> {
    let lab = PathBuf::from(std::env::var_os("CAPGATE_LAB").unwrap_or_else(|| "/tmp/capgate-lab".into()));
    let tools = ["bwrap", "podman", "squid", "runc"];
    let missing: Vec<&str> = tools.iter().copied().filter(|t| which(t).is_none()).collect();
    let ready = lab.join("npm/.done").exists() && lab.join("venv/.done").exists();
    if missing.is_empty() && ready {
        return Some(lab);
    }
    let why = if !missing.is_empty() {
        format!("missing {}", missing.join(", "))
    } else {
        format!("no lab at {} (run bash tools/runtime-setup.sh)", lab.display())
    };
    if std::env::var_os("CI").is_some() {
        panic!("runtime tests cannot run in CI: {why}");
    }
    eprintln!("\n*** SKIPPED runtime tests: {why} ***\n");
    None
}

fn which(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

fn capgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_capgate"))
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// `capgate exec <manifest> --target T --param ...` as an MCP client's command.
fn exec(manifest: &Path, target: &str, params: &[(&str, String)], extra: &[&str]) -> Command {
    let mut c = capgate();
    c.arg("exec").arg(manifest).arg("--target").arg(target);
    for (k, v) in params {
        c.arg("--param").arg(format!("{k}={v}"));
    }
    if !extra.is_empty() {
        c.arg("--").args(extra);
    }
    c.env("CAPGATE_TEST_CANARY", "host-canary-value");
    c
}

/// Every host process that runs `needle` (its program or first argument ends
/// with it; launchers that merely mention it are not matched):
/// (pid, real uid, effective uid).
fn host_processes(needle: &str) -> Vec<(u32, u32, u32)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline);
        if !text.split('\0').take(2).any(|a| a.ends_with(needle)) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        if let Some(line) = status.lines().find(|l| l.starts_with("Uid:")) {
            let ids: Vec<u32> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
            out.push((pid, ids[0], ids[1]));
        }
    }
    out
}

/// Run one server on one runtime: initialize, tools/list (must include
/// `tool`), tools/call `tool` with `args` (the text must contain `expect`),
/// and check the server process runs as a non-root host uid.
fn check_server(
    manifest: &Path,
    target: &str,
    params: &[(&str, String)],
    tool: &str,
    args: Json,
    expect: &str,
    marker: &str,
) {
    let mut client = Client::spawn(exec(manifest, target, params, &[]));
    let init = client.initialize().unwrap_or_else(|e| panic!("{target}: {e}"));
    assert!(
        mcp::get(&init, "serverInfo").is_some(),
        "{target}: initialize answer {init:?}"
    );
    let tools = client.tool_names().unwrap_or_else(|e| panic!("{target}: {e}"));
    assert!(tools.iter().any(|t| t == tool), "{target}: {tool} not in {tools:?}");
    let procs = host_processes(marker);
    assert!(!procs.is_empty(), "{target}: no host process runs {marker}");
    for (pid, ruid, euid) in &procs {
        assert!(
            *ruid != 0 && *euid != 0,
            "{target}: process {pid} ({marker}) runs as host root"
        );
    }
    let (is_error, text) = client.call(tool, args).unwrap_or_else(|e| panic!("{target}: {e}"));
    assert!(
        !is_error && text.contains(expect),
        "{target}: {tool} gave error={is_error}: {text}"
    );
    client.finish();
}

fn npm(lab: &Path, pkg: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "PKG",
            lab.join("npm/node_modules/@modelcontextprotocol")
                .join(pkg)
                .display()
                .to_string(),
        ),
        ("NODE_MODULES", lab.join("npm/node_modules").display().to_string()),
    ]
}

#[test]
fn server_filesystem() {
    let Some(lab) = lab() else { return };
    let mut params = npm(&lab, "server-filesystem");
    let data = lab.join("data/fsroot");
    params.push(("DATA", data.display().to_string()));
    for t in RUNTIMES {
        let args = obj(&[("path", Json::str(data.join("hello.txt").display().to_string()))]);
        check_server(
            &repo("examples/filesystem/capgate.json"),
            t,
            &params,
            "read_text_file",
            args,
            "hello from fsroot",
            "server-filesystem/dist/index.js",
        );
    }
}

#[test]
fn server_everything() {
    let Some(lab) = lab() else { return };
    let params = npm(&lab, "server-everything");
    for t in RUNTIMES {
        let args = obj(&[("message", Json::str("sandboxed hello"))]);
        check_server(
            &repo("examples/everything/capgate.json"),
            t,
            &params,
            "echo",
            args,
            "sandboxed hello",
            "server-everything/dist/index.js",
        );
    }
}

#[test]
fn server_memory() {
    let Some(lab) = lab() else { return };
    let mut params = npm(&lab, "server-memory");
    params.push(("STATE", lab.join("data/memdir").display().to_string()));
    let _ = std::fs::remove_file(lab.join("data/memdir/memory.jsonl"));
    for t in RUNTIMES {
        let entity = obj(&[
            ("name", Json::str(format!("capgate-{t}"))),
            ("entityType", Json::str("tool")),
            ("observations", Json::strs(["runs sandboxed"])),
        ]);
        let args = obj(&[("entities", Json::Array(vec![entity]))]);
        check_server(
            &repo("examples/memory/capgate.json"),
            t,
            &params,
            "create_entities",
            args,
            &format!("capgate-{t}"),
            "server-memory/dist/index.js",
        );
    }
    let state = std::fs::read_to_string(lab.join("data/memdir/memory.jsonl")).expect("the server wrote its state file");
    assert!(state.contains("capgate-bwrap") && state.contains("capgate-docker") && state.contains("capgate-oci"));
}

#[test]
fn server_time() {
    let Some(lab) = lab() else { return };
    let params = vec![("VENV", lab.join("venv").display().to_string())];
    for t in RUNTIMES {
        let args = obj(&[("timezone", Json::str("Europe/Paris"))]);
        check_server(
            &repo("examples/time/capgate.json"),
            t,
            &params,
            "get_current_time",
            args,
            "Europe/Paris",
            "bin/mcp-server-time",
        );
    }
}

#[test]
fn server_git() {
    let Some(lab) = lab() else { return };
    let repo_dir = lab.join("data/repo");
    let params = vec![
        ("VENV", lab.join("venv").display().to_string()),
        ("REPO", repo_dir.display().to_string()),
        ("AUTHOR_NAME", "mcp-git".to_string()),
        ("AUTHOR_EMAIL", "mcp-git@example.com".to_string()),
    ];
    for t in RUNTIMES {
        let args = obj(&[("repo_path", Json::str(repo_dir.display().to_string()))]);
        check_server(
            &repo("examples/git/capgate.json"),
            t,
            &params,
            "git_status",
            args,
            "On branch",
            "bin/mcp-server-git",
        );
    }
}

/// A loopback page server for the egress tests; answers every request with
/// `body` and records the request lines it saw. Stops with the test process.
fn page_server(body: &'static str) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten().take(200) {
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n])
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            log.lock().unwrap().push(req);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, seen)
}

#[test]
fn server_fetch_and_egress_end_to_end() {
    let Some(lab) = lab() else { return };
    let (port, seen) = page_server("hello from the allowed page");
    let (other_port, other_seen) = page_server("must never be served");
    let params = vec![
        ("VENV", lab.join("venv").display().to_string()),
        ("PORT", port.to_string()),
    ];
    let manifest = repo("tests/runtime/fetch-local.json");
    for t in RUNTIMES {
        let mut client = Client::spawn(exec(&manifest, t, &params, &[]));
        client.initialize().unwrap();
        assert_eq!(client.tool_names().unwrap(), ["fetch"]);
        let fetch = |c: &mut Client, url: String| {
            c.call("fetch", obj(&[("url", Json::Str(url)), ("raw", Json::Bool(true))]))
                .unwrap()
        };
        // The allowed host and port.
        let (err, text) = fetch(&mut client, format!("http://localhost:{port}/"));
        assert!(
            !err && text.contains("hello from the allowed page"),
            "{t}: allowed page: {text}"
        );
        // Denied: wrong port, IP literal of the allowed name, another name,
        // private and metadata ranges, and the proxy itself via CONNECT-style URL.
        for url in [
            format!("http://localhost:{other_port}/"),
            format!("http://127.0.0.1:{port}/"),
            format!("http://denied.invalid:{port}/"),
            "http://169.254.169.254/latest/meta-data/".to_string(),
            "http://10.0.0.1/".to_string(),
            "http://100.64.0.1/".to_string(),
            format!("https://localhost:{other_port}/"),
        ] {
            let (err, text) = fetch(&mut client, url.clone());
            assert!(err, "{t}: {url} was fetched: {text}");
        }
        client.finish();
    }
    assert!(other_seen.lock().unwrap().is_empty(), "a denied port received traffic");
    assert!(
        seen.lock().unwrap().len() >= 2,
        "the allowed page was fetched on every runtime"
    );
}

#[test]
fn exec_refuses_a_tampered_out_dir_and_reports_missing_secrets() {
    let Some(lab) = lab() else { return };
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("o");
    let st = capgate()
        .args(["compile"])
        .arg(repo("examples/time/capgate.json"))
        .arg("--param")
        .arg(format!("VENV={}", lab.join("venv").display()))
        .arg("--out-dir")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(st.success());
    let argv = dir.join("bwrap/args0");
    let mut bytes = std::fs::read(&argv).unwrap();
    bytes.extend_from_slice(b"--bind\0/\0/\0");
    std::fs::write(&argv, bytes).unwrap();
    let o = capgate().arg("exec").arg(&dir).output().unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not match index.json"));

    let m = out.path().join("secret.json");
    std::fs::write(&m, r#"{"grammar":"1","name":"s","version":"1","command":["/usr/bin/true"],"capabilities":["env:inject:CAPGATE_TEST_SECRET"]}"#).unwrap();
    let o = capgate()
        .arg("exec")
        .arg(&m)
        .env_remove("CAPGATE_TEST_SECRET")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("CAPGATE_TEST_SECRET"));
}

#[test]
fn exit_status_and_stdio_pass_through() {
    let Some(_lab) = lab() else { return };
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("m.json");
    std::fs::write(&m, r#"{"grammar":"1","name":"s","version":"1"}"#).unwrap();
    for target in RUNTIMES {
        let o = capgate()
            .arg("exec")
            .arg(&m)
            .args([
                "--target",
                target,
                "--",
                "/bin/sh",
                "-c",
                "read x; echo \"got $x\"; exit 7",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().unwrap().write_all(b"ping\n")?;
                c.wait_with_output()
            })
            .unwrap();
        assert_eq!(o.status.code(), Some(7), "{target}");
        assert_eq!(String::from_utf8_lossy(&o.stdout), "got ping\n", "{target}");
    }
}

/// Network namespaces the test creates (and always deletes).
struct TestNetns {
    names: Vec<String>,
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("ip");
    assert!(st.success(), "ip {}", args.join(" "));
}

/// Listen on `addr` inside the namespace at `ns` (a thread of its own enters
/// it); every accepted connection is answered and counted.
fn listen_in_netns(ns: &str, addr: &'static str) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    let path = format!("/run/netns/{ns}");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open(&path).unwrap();
        // SAFETY: setns on this thread only (network namespaces are per thread).
        assert_eq!(unsafe { libc_setns(f.as_raw_fd(), 0x4000_0000) }, 0, "setns");
        let l = TcpListener::bind(addr).unwrap();
        tx.send(()).unwrap();
        for mut s in l.incoming().flatten().take(50) {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = s.write_all(b"ok");
        }
    });
    rx.recv().unwrap();
    hits
}

extern "C" {
    #[link_name = "setns"]
    fn libc_setns(fd: i32, nstype: i32) -> i32;
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

#[test]
fn egress_with_nftables_in_a_test_network_namespace() {
    let Some(_lab) = lab() else { return };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 || which("ip").is_none() || which("nft").is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("the netns test needs root, iproute2 and nftables in CI");
        }
        eprintln!("\n*** SKIPPED netns egress test: needs root, ip and nft ***\n");
        return;
    }
    let id = std::process::id() % 200 + 20;
    let (sbx, svc) = (format!("capgate-t{id}-sbx"), format!("capgate-t{id}-svc"));
    let _guard = TestNetns {
        names: vec![sbx.clone(), svc.clone()],
    };
    for n in [&sbx, &svc] {
        let _ = Command::new("ip").args(["netns", "del", n]).status();
        ip(&["netns", "add", n]);
        ip(&["-n", n, "link", "set", "lo", "up"]);
    }
    let (a, b) = (format!("cg{id}a"), format!("cg{id}b"));
    ip(&[
        "-n", &sbx, "link", "add", &a, "type", "veth", "peer", "name", &b, "netns", &svc,
    ]);
    ip(&["-n", &sbx, "addr", "add", &format!("10.231.{id}.2/24"), "dev", &a]);
    ip(&["-n", &svc, "addr", "add", &format!("10.231.{id}.1/24"), "dev", &b]);
    ip(&["-n", &svc, "addr", "add", &format!("10.231.{id}.3/24"), "dev", &b]);
    ip(&["-n", &sbx, "link", "set", &a, "up"]);
    ip(&["-n", &svc, "link", "set", &b, "up"]);
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let allowed = listen_in_netns(&svc, leak(format!("10.231.{id}.1:18081")));
    let wrong_port = listen_in_netns(&svc, leak(format!("10.231.{id}.1:18082")));
    let wrong_host = listen_in_netns(&svc, leak(format!("10.231.{id}.3:18081")));

    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("m.json");
    std::fs::write(
        &m,
        format!(r#"{{"grammar":"1","name":"netns","version":"1","capabilities":["net:connect:10.231.{id}.1:18081"]}}"#),
    )
    .unwrap();
    let probe = format!(
        r#"
import socket
def tcp(h, p):
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((h, p)); return "connected"
    except OSError as e:
        return type(e).__name__
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(b"x", ("10.231.{id}.1", 53)); return "sent"
    except OSError as e:
        return type(e).__name__
print("allowed", tcp("10.231.{id}.1", 18081))
print("wrong-port", tcp("10.231.{id}.1", 18082))
print("wrong-host", tcp("10.231.{id}.3", 18081))
print("udp-53", udp())
"#
    );
    let o = capgate()
        .arg("exec")
        .arg(&m)
        .arg("--netns")
        .arg(format!("/run/netns/{sbx}"))
        .args(["--", "/usr/bin/python3", "-c", &probe])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "exec failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("allowed connected"), "{out}");
    assert!(
        !out.contains("wrong-port connected") && !out.contains("wrong-host connected"),
        "{out}"
    );
    assert!(!out.contains("udp-53 sent"), "{out}");
    use std::sync::atomic::Ordering::SeqCst;
    // The listener thread counts after accept(); give it a bounded moment.
    for _ in 0..100 {
        if allowed.load(SeqCst) > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(allowed.load(SeqCst), 1);
    assert_eq!(
        wrong_port.load(SeqCst) + wrong_host.load(SeqCst),
        0,
        "a denied listener was reached"
    );
}

#[test]
fn sigterm_reaches_the_server_and_the_status_propagates() {
    let Some(_lab) = lab() else { return };
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("m.json");
    std::fs::write(&m, r#"{"grammar":"1","name":"s","version":"1"}"#).unwrap();
    for target in RUNTIMES {
        let mut child = capgate()
            .arg("exec")
            .arg(&m)
            .args(["--target", target, "--", "/bin/sh", "-c", "echo up; exec sleep 30"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        assert_eq!(line, "up\n", "{target}");
        let started = std::time::Instant::now();
        // SAFETY: signalling our own child.
        unsafe { libc_kill(child.id() as i32, 15) };
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(128 + 15), "{target}: the server's SIGTERM status");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(4),
            "{target}: SIGTERM took {:?}",
            started.elapsed()
        );
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn nofile_limit_applies_on_both_runtimes() {
    let Some(_lab) = lab() else { return };
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("m.json");
    std::fs::write(
        &m,
        r#"{"grammar":"1","name":"s","version":"1","capabilities":["limit:set:nofile=77"]}"#,
    )
    .unwrap();
    for target in RUNTIMES {
        let o = capgate()
            .arg("exec")
            .arg(&m)
            .args(["--target", target, "--", "/bin/sh", "-c", "ulimit -n; ulimit -Hn"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{target}: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stdout), "77\n77\n", "{target}");
    }
}
