//! Resource limits (`limit:set:`) enforced for real under `capgate exec`, on
//! podman (the docker target's flags) and on bwrap (what the launcher
//! enforces: cgroups, RLIMIT_NOFILE, a sized /tmp). Each test runs a process
//! that hits the limit, with a control that shows the same work succeeds
//! below it. All loops are bounded; nothing outlives the sandbox.
//!
//! Needs bwrap, podman with the base image (tools/podman-base-image.sh) and
//! the lab (CAPGATE_LAB, default /tmp/capgate-lab). The bwrap cases need root
//! or systemd (for the cgroup) like `capgate exec` itself. Without them the
//! tests skip loudly; with CI set they fail instead.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const RUNTIMES: [&str; 2] = ["bwrap", "docker"];

fn ready() -> bool {
    let lab = PathBuf::from(std::env::var_os("CAPGATE_LAB").unwrap_or_else(|| "/tmp/capgate-lab".into()));
    let missing: Vec<&str> = ["bwrap", "podman", "python3"]
        .into_iter()
        .filter(|t| {
            !["/usr/bin", "/usr/sbin", "/bin"]
                .iter()
                .any(|d| Path::new(d).join(t).exists())
        })
        .collect();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc_geteuid() } == 0;
    let why = if !missing.is_empty() {
        format!("missing {}", missing.join(", "))
    } else if !lab.join("npm/.done").exists() {
        format!("no lab at {} (run bash tools/runtime-setup.sh)", lab.display())
    } else if !root && !Path::new("/run/systemd/system").is_dir() {
        "not root and no systemd: capgate exec cannot create a cgroup for bwrap".to_string()
    } else {
        return true;
    };
    if std::env::var_os("CI").is_some() {
        panic!("limit tests cannot run in CI: {why}");
    }
    eprintln!("\n*** SKIPPED limit tests: {why} ***\n");
    false
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// A manifest with these capabilities and no command, in a temp dir.
fn manifest(caps: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("capgate.json");
    let caps: Vec<String> = caps.iter().map(|c| format!("\"{c}\"")).collect();
    std::fs::write(
        &m,
        format!(
            r#"{{"grammar":"1","name":"limits","version":"1","capabilities":[{}]}}"#,
            caps.join(",")
        ),
    )
    .unwrap();
    (t, m)
}

fn run(m: &Path, target: &str, cmd: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capgate"))
        .arg("exec")
        .arg(m)
        .args(["--target", target, "--"])
        .args(cmd)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn memory_limit_kills_an_allocation_beyond_it() {
    if !ready() {
        return;
    }
    // Writing the bytes (b"x" * n) charges the pages; python needs ~10 MiB.
    let script = r#"python3 -c 'b=b"x"*(16<<20)'; echo small=$?; python3 -c 'b=b"x"*(200<<20)'; echo big=$?"#;
    let (_t, limited) = manifest(&["limit:set:memory=64MiB"]);
    let (_u, free) = manifest(&[]);
    for target in RUNTIMES {
        let o = run(&limited, target, &["/bin/sh", "-c", script]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{target}: {err}");
        assert!(
            out.contains("small=0\n"),
            "{target}: 16 MiB under a 64 MiB limit: {out}{err}"
        );
        // The kernel's OOM killer (SIGKILL, 128+9) or, where the runtime
        // maps it so, MemoryError (1): either way the allocation failed.
        assert!(
            out.contains("big=137\n") || out.contains("big=1\n"),
            "{target}: 200 MiB under a 64 MiB limit: {out}{err}"
        );
        // Control: the same allocation succeeds without the limit.
        let o = run(&free, target, &["/bin/sh", "-c", script]);
        let (out, err) = text(&o);
        assert!(out.contains("big=0\n"), "{target}: control without a limit: {out}{err}");
    }
}

/// Forks up to 48 children that wait on a pipe (bounded, harmless), then
/// releases them; prints how many forks worked and the errno that stopped it.
const FORKS: &str = r#"
import os
r, w = os.pipe()
n, err = 0, 0
for i in range(48):
    try:
        pid = os.fork()
    except OSError as e:
        err = e.errno
        break
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        os._exit(0)
    n += 1
os.close(w)
for i in range(n):
    os.wait()
print("forked", n, "errno", err)
"#;

#[test]
fn pids_limit_bounds_a_fork_loop() {
    if !ready() {
        return;
    }
    let (_t, limited) = manifest(&["limit:set:pids=16"]);
    let (_u, free) = manifest(&[]);
    for target in RUNTIMES {
        let o = run(&limited, target, &["/usr/bin/python3", "-c", FORKS]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{target}: {err}");
        let words: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(words.first(), Some(&"forked"), "{target}: {out}{err}");
        let n: u32 = words[1].parse().unwrap();
        assert!(n < 16, "{target}: {n} forks under pids=16");
        assert_eq!(words[3], "11", "{target}: fork fails with EAGAIN: {out}");
        let o = run(&free, target, &["/usr/bin/python3", "-c", FORKS]);
        let (out, err) = text(&o);
        assert_eq!(out, "forked 48 errno 0\n", "{target}: control without a limit: {err}");
    }
}

const OPENS: &str = r#"
import os
fds, err = [], 0
for i in range(200):
    try:
        fds.append(os.open("/dev/null", os.O_RDONLY))
    except OSError as e:
        err = e.errno
        break
print("opened", len(fds), "errno", err)
"#;

#[test]
fn nofile_limit_makes_further_opens_fail() {
    if !ready() {
        return;
    }
    let (_t, limited) = manifest(&["limit:set:nofile=40"]);
    for target in RUNTIMES {
        let o = run(&limited, target, &["/usr/bin/python3", "-c", OPENS]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{target}: {err}");
        let words: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(words.first(), Some(&"opened"), "{target}: {out}{err}");
        let n: u32 = words[1].parse().unwrap();
        assert!(n > 20 && n < 40, "{target}: {n} opens under nofile=40");
        assert_eq!(words[3], "24", "{target}: open fails with EMFILE: {out}");
    }
}

#[test]
fn tmpfs_limit_fills_with_enospc() {
    if !ready() {
        return;
    }
    let script = "head -c 4194304 /dev/zero > /tmp/a; echo small=$?; head -c 20971520 /dev/zero > /tmp/b; echo big=$?; rm -f /tmp/a /tmp/b";
    let (_t, limited) = manifest(&["limit:set:tmpfs=8MiB"]);
    let (_u, free) = manifest(&[]);
    for target in RUNTIMES {
        let o = run(&limited, target, &["/bin/sh", "-c", script]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{target}: {err}");
        assert!(
            out.contains("small=0\n"),
            "{target}: 4 MiB into an 8 MiB /tmp: {out}{err}"
        );
        assert!(
            out.contains("big=1\n"),
            "{target}: 20 MiB into an 8 MiB /tmp: {out}{err}"
        );
        assert!(err.contains("No space left on device"), "{target}: {err}");
        let o = run(&free, target, &["/bin/sh", "-c", script]);
        let (out, err) = text(&o);
        assert!(out.contains("big=0\n"), "{target}: control without a limit: {out}{err}");
    }
}

/// Burns a bounded amount of CPU (about 0.2 s of one core unthrottled).
const BURN: &str = "x = 0\nfor i in range(3000000):\n    x += i\n";

/// `cpu.stat`'s nr_throttled and the quota, from a cgroup directory (v1
/// `cpu.cfs_quota_us`, or v2 `cpu.max`'s first field).
fn cpu_state(dir: &Path) -> (u64, String) {
    let stat = std::fs::read_to_string(dir.join("cpu.stat")).unwrap();
    let throttled = stat
        .lines()
        .find_map(|l| l.strip_prefix("nr_throttled "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    let quota = std::fs::read_to_string(dir.join("cpu.cfs_quota_us"))
        .or_else(|_| std::fs::read_to_string(dir.join("cpu.max")))
        .unwrap();
    (
        throttled,
        quota.split_whitespace().next().unwrap_or_default().to_string(),
    )
}

#[test]
fn cpu_limit_sets_the_quota_and_throttles() {
    if !ready() {
        return;
    }
    let (_t, limited) = manifest(&["limit:set:cpu=200m"]);
    // podman: the container's own cgroup is mounted at /sys/fs/cgroup.
    let inside = format!(
        "python3 -c '{BURN}'; d=/sys/fs/cgroup/cpu; [ -d $d ] || d=/sys/fs/cgroup; cat $d/cpu.cfs_quota_us $d/cpu.max 2>/dev/null; grep nr_throttled $d/cpu.stat"
    );
    let o = run(&limited, "docker", &["/bin/sh", "-c", &inside]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "docker: {err}");
    let mut lines = out.lines();
    let quota = lines.next().unwrap_or_default();
    assert!(quota == "20000" || quota.starts_with("20000 "), "docker: quota {out}");
    let throttled: u64 = lines
        .next()
        .and_then(|l| l.strip_prefix("nr_throttled "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("docker: {out}"));
    assert!(throttled > 0, "docker: never throttled: {out}");

    // bwrap: the sandbox has no /sys; read the launcher's cgroup from the
    // host while the server waits on stdin.
    let mut child = Command::new(env!("CARGO_BIN_EXE_capgate"))
        .arg("exec")
        .arg(&limited)
        .args(["--target", "bwrap", "--", "/bin/sh", "-c"])
        .arg(format!("python3 -c '{BURN}'; echo burnt; read x"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "burnt\n");
    let pid = child.id();
    let dir = launcher_cgroup(pid, "cpu").expect("the launcher created a cpu cgroup");
    let (throttled, quota) = cpu_state(&dir);
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(quota, "20000", "bwrap: quota in {}", dir.display());
    assert!(throttled > 0, "bwrap: never throttled ({})", dir.display());
    assert!(!dir.exists(), "the launcher removes its cgroup: {}", dir.display());
}

/// The cgroup `capgate exec` (pid) created for bwrap: `capgate-<key12>-<pid>`
/// under the launcher's own cgroup in the hierarchy holding `controller`
/// (or the v2 hierarchy). None when systemd-run made a scope instead.
fn launcher_cgroup(pid: u32, controller: &str) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    for l in text.lines() {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        let base = if ctrls.split(',').any(|c| c == controller) {
            Path::new("/sys/fs/cgroup").join(controller)
        } else if ctrls.is_empty() && !Path::new("/sys/fs/cgroup").join(controller).exists() {
            PathBuf::from("/sys/fs/cgroup")
        } else {
            continue;
        };
        let own = base.join(path.trim_start_matches('/'));
        let suffix = format!("-{pid}");
        for e in std::fs::read_dir(&own).ok()?.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("capgate-") && n.ends_with(&suffix) {
                return Some(e.path());
            }
        }
    }
    None
}

#[test]
fn bwrap_limits_are_refused_when_the_launcher_cannot_enforce_them() {
    if !ready() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 || Path::new("/run/systemd/system").is_dir() {
        eprintln!("SKIPPED: needs root on a host without systemd to run the launcher as another uid");
        return;
    }
    let setpriv = Path::new("/usr/bin/setpriv");
    assert!(setpriv.exists(), "setpriv (util-linux) is needed");
    let (t, m) = manifest(&["limit:set:memory=64MiB"]);
    std::fs::set_permissions(t.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let exe = Path::new(env!("CARGO_BIN_EXE_capgate"));
    // A copy of the binary any uid can run (target/ may not be).
    let bin = t.path().join("capgate");
    std::fs::copy(exe, &bin).unwrap();
    let as_nobody = |extra: &[&str]| {
        Command::new(setpriv)
            .args(["--reuid", "65534", "--regid", "65534", "--clear-groups", "--"])
            .arg(&bin)
            .arg("exec")
            .arg(&m)
            .args(extra)
            .args(["--", "/bin/true"])
            .current_dir(t.path())
            .output()
            .unwrap()
    };
    let o = as_nobody(&[]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(
        err.contains("cannot enforce limit:set:memory=64MiB") && err.contains("--allow-unenforced-limits"),
        "{err}"
    );
    let o = as_nobody(&["--allow-unenforced-limits"]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("limit:set:memory=64MiB is not enforced"), "{err}");
}
