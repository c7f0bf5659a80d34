//! `capgate doctor`: what this host can run, per target, and how to fix
//! what it cannot. Read-only: it looks at files under /proc and /sys, asks
//! tools for their version, starts one throwaway bwrap sandbox (as uid
//! 65534 when run as root, as `capgate exec` would) and, as root, one
//! child in a fresh network namespace that exits at once. It changes
//! nothing on the host.
//!
//! Exit status: 0 when the default launch works (`capgate exec` with
//! bwrap, and the squid egress proxy for `net` grants), 1 otherwise, 2 on
//! a usage error. The other targets are reported, not required.

use crate::args::{DoctorArgs, Format};
use crate::exec::process;
use capgate::json::Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The uid:gid `capgate exec` runs a sandbox as when started as root.
const SANDBOX_IDS: (u32, u32) = (65534, 65534);
/// How long a probe may run.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Ok,
    /// Works, with a caveat.
    Warn,
    /// Not installed.
    Missing,
    /// Installed or present, but does not work.
    Failed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warning",
            Status::Missing => "missing",
            Status::Failed => "failed",
        }
    }
    fn usable(self) -> bool {
        matches!(self, Status::Ok | Status::Warn)
    }
}

/// One probe's result.
struct Check {
    status: Status,
    detail: String,
    fix: Option<String>,
    path: Option<PathBuf>,
    version: Option<String>,
    extra: BTreeMap<String, Json>,
}

impl Check {
    fn new(status: Status, detail: impl Into<String>) -> Check {
        Check {
            status,
            detail: detail.into(),
            fix: None,
            path: None,
            version: None,
            extra: BTreeMap::new(),
        }
    }
    fn fix(mut self, f: impl Into<String>) -> Check {
        self.fix = Some(f.into());
        self
    }
    fn to_json(&self) -> Json {
        let mut o = BTreeMap::new();
        o.insert("status".to_string(), Json::str(self.status.as_str()));
        o.insert("ok".to_string(), Json::Bool(self.status.usable()));
        o.insert("detail".to_string(), Json::str(&self.detail));
        o.insert(
            "fix".to_string(),
            self.fix.as_ref().map(Json::str).unwrap_or(Json::Null),
        );
        o.insert(
            "path".to_string(),
            self.path
                .as_ref()
                .map(|p| Json::str(p.display().to_string()))
                .unwrap_or(Json::Null),
        );
        o.insert(
            "version".to_string(),
            self.version.as_ref().map(Json::str).unwrap_or(Json::Null),
        );
        o.extend(self.extra.clone());
        Json::Object(o)
    }
}

/// Run a probe with a time limit: (exit success, stdout + stderr).
fn probe(mut cmd: Command) -> Result<(bool, String), String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > PROBE_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(e.to_string()),
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success(), text.trim().to_string()))
}

/// A tool's version: the first line of `tool ARGS`.
fn version(path: &Path, args: &[&str]) -> Option<String> {
    let mut c = Command::new(path);
    c.args(args).env("LC_ALL", "C");
    let (_, text) = probe(c).ok()?;
    text.lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

/// A tool found the way `capgate exec` finds it (PATH, then the sbin and
/// bin directories), or a `missing` check with the package to install.
fn tool(name: &str, package: &str, version_args: &[&str], used_for: &str) -> Check {
    let Some(path) = process::which(name) else {
        return Check::new(
            Status::Missing,
            format!("`{name}` is not installed (needed for {used_for})"),
        )
        .fix(format!("apt-get install {package}   (Fedora: dnf install {package})"));
    };
    let mut c = Check::new(Status::Ok, format!("{}", path.display()));
    c.version = version(&path, version_args);
    if let Some(v) = &c.version {
        c.detail = format!("{} ({v})", path.display());
    }
    c.path = Some(path);
    c
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// Unprivileged user namespaces, which a non-setuid bwrap needs.
fn userns() -> Check {
    let mut problems = Vec::new();
    let mut facts = Vec::new();
    let mut fixes = Vec::new();
    if let Some(v) = read_trim("/proc/sys/kernel/unprivileged_userns_clone") {
        facts.push(format!("kernel.unprivileged_userns_clone={v}"));
        if v == "0" {
            problems.push("unprivileged user namespaces are off");
            fixes.push("sysctl -w kernel.unprivileged_userns_clone=1");
        }
    }
    match read_trim("/proc/sys/user/max_user_namespaces") {
        Some(v) => {
            facts.push(format!("user.max_user_namespaces={v}"));
            if v == "0" {
                problems.push("user.max_user_namespaces is 0");
                fixes.push("sysctl -w user.max_user_namespaces=15000");
            }
        }
        None => problems.push("this kernel has no user namespaces (/proc/sys/user/max_user_namespaces is absent)"),
    }
    if let Some(v) = read_trim("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") {
        facts.push(format!("kernel.apparmor_restrict_unprivileged_userns={v}"));
        if v == "1" {
            problems.push("AppArmor restricts unprivileged user namespaces");
            fixes.push("install an AppArmor profile for bwrap that allows `userns`, or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0");
        }
    }
    let mut c = if problems.is_empty() {
        Check::new(Status::Ok, facts.join(", "))
    } else {
        Check::new(
            Status::Failed,
            format!("{} ({})", problems.join("; "), facts.join(", ")),
        )
    };
    if !fixes.is_empty() {
        c = c.fix(format!("{} (persist it in /etc/sysctl.d/)", fixes.join("; ")));
    }
    c
}

/// bwrap present and able to start the sandbox shape capgate compiles.
fn bwrap(userns_ok: bool) -> Check {
    let mut c = tool("bwrap", "bubblewrap", &["--version"], "the bwrap target");
    let Some(path) = c.path.clone() else { return c };
    let mut cmd = Command::new(&path);
    cmd.env_clear().env("PATH", "/usr/bin:/bin").current_dir("/").args([
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--ro-bind",
        "/",
        "/",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--",
        "true",
    ]);
    let root = process::is_root();
    // capgate never runs bwrap as root: probe as the uid exec would use.
    process::unprivileged(&mut cmd, root.then_some(SANDBOX_IDS));
    let as_whom = if root {
        format!("as uid {}", SANDBOX_IDS.0)
    } else {
        "as the current user".to_string()
    };
    match probe(cmd) {
        Ok((true, _)) => {
            c.detail = format!("{}; a sandbox {as_whom} ran `true`", c.detail);
        }
        Ok((false, out)) | Err(out) => {
            c.status = Status::Failed;
            c.detail = format!("{}; a sandbox {as_whom} failed: {}", c.detail, first_line(&out));
            c.fix = Some(if out.contains("--disable-userns") || out.contains("Unknown option") {
                "bubblewrap 0.8 or newer is needed (--disable-userns): apt-get install bubblewrap from a current release".into()
            } else if !userns_ok {
                "enable unprivileged user namespaces (see userns)".into()
            } else {
                "run `bwrap --unshare-all --ro-bind / / true` as a non-root user to see why; inside a container, allow user namespaces (e.g. docker --security-opt seccomp=unconfined, or a privileged runner)".into()
            });
        }
    }
    c
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("(no output)").trim().to_string()
}

/// Can a fresh network namespace be made? (A child makes one and exits.)
fn netns() -> Check {
    if !process::is_root() {
        return Check::new(
            Status::Missing,
            "not root: `capgate exec --netns` needs root to enter a namespace and load nftables",
        )
        .fix("run capgate exec --netns as root (or use the squid proxy, which needs no root)");
    }
    let Ok(me) = std::env::current_exe() else {
        return Check::new(Status::Failed, "cannot find the capgate binary to probe with");
    };
    let mut cmd = Command::new(me);
    cmd.arg("--version");
    // SAFETY: unshare is async-signal-safe; the namespace dies with the child.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    match probe(cmd) {
        Ok((true, _)) => Check::new(Status::Ok, "a child process created a network namespace"),
        Ok((false, out)) | Err(out) => Check::new(
            Status::Failed,
            format!("cannot create a network namespace: {}", first_line(&out)),
        )
        .fix("inside a container, run it with CAP_SYS_ADMIN (e.g. --privileged) or use the squid proxy"),
    }
}

/// cgroup version and the controllers that `limit:set` grants use.
fn cgroup() -> Check {
    const CGROUP2: i64 = 0x6367_7270;
    let fs_type = |p: &str| -> Option<i64> {
        let c = std::ffi::CString::new(p).ok()?;
        // SAFETY: an all-zero statfs is valid; statfs fills it.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: c is a valid NUL-terminated path, st a valid buffer.
        (unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0).then_some(st.f_type as i64)
    };
    let (version, controllers): (&str, Vec<String>) = match fs_type("/sys/fs/cgroup") {
        Some(CGROUP2) => (
            "v2",
            read_trim("/sys/fs/cgroup/cgroup.controllers")
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect(),
        ),
        Some(_) => {
            let v1: Vec<String> = read_trim("/proc/cgroups")
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    (f.len() >= 4 && f[3] == "1").then(|| f[0].to_string())
                })
                .collect();
            let hybrid = fs_type("/sys/fs/cgroup/unified") == Some(CGROUP2);
            (if hybrid { "v1 (hybrid, with a v2 mount)" } else { "v1" }, v1)
        }
        None => ("none", Vec::new()),
    };
    let wanted = ["memory", "pids", "cpu"];
    let absent: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|w| !controllers.iter().any(|c| c == w))
        .collect();
    let mut c = if version == "none" {
        Check::new(Status::Failed, "no cgroup filesystem at /sys/fs/cgroup")
            .fix("mount cgroup2 on /sys/fs/cgroup (systemd does); without it limit:set grants are not enforced")
    } else if absent.is_empty() {
        Check::new(
            Status::Ok,
            format!("cgroup {version}; controllers {}", controllers.join(" ")),
        )
    } else {
        Check::new(
            Status::Warn,
            format!(
                "cgroup {version}; missing controllers: {} (limit:set grants that need them are not enforced)",
                absent.join(", ")
            ),
        )
        .fix("enable the controllers (cgroup v2: add them to cgroup.subtree_control of the parent cgroup)")
    };
    c.extra.insert("cgroup".to_string(), Json::str(version));
    c.extra.insert("controllers".to_string(), Json::strs(&controllers));
    if version.starts_with("v1") {
        c.detail.push_str("; podman needs --runtime runc --cgroup-manager cgroupfs here (capgate exec passes them when runc is installed)");
    }
    c
}

/// systemd-run, for running a launcher in a scope with limits.
fn systemd_run() -> Check {
    let mut c = tool(
        "systemd-run",
        "systemd",
        &["--version"],
        "running capgate exec in a systemd scope",
    );
    if c.path.is_none() {
        c.status = Status::Warn;
        return c;
    }
    if !Path::new("/run/systemd/system").is_dir() {
        c.status = Status::Warn;
        c.detail = format!(
            "{}; but systemd is not the init system here, so `systemd-run --scope` cannot work",
            c.detail
        );
        c.fix = Some(
            "none needed as root: capgate exec then makes the bwrap cgroup itself; not root, it refuses bwrap limits it cannot enforce"
                .into(),
        );
    }
    c
}

/// A target and what it needs.
struct Target {
    name: &'static str,
    how: &'static str,
    needs: Vec<&'static str>,
    optional: Vec<&'static str>,
    default: bool,
}

fn targets() -> Vec<Target> {
    vec![
        Target {
            name: "bwrap",
            how: "capgate exec OUT (the default)",
            needs: vec!["bwrap", "userns"],
            optional: vec![],
            default: true,
        },
        Target {
            name: "egress-proxy",
            how: "net:connect grants under bwrap or docker (squid allowlist proxy)",
            needs: vec!["squid"],
            optional: vec![],
            default: true,
        },
        Target {
            name: "docker",
            how: "capgate exec OUT --target docker (podman)",
            needs: vec!["podman"],
            optional: vec!["runc", "cgroup"],
            default: false,
        },
        Target {
            name: "egress-nftables",
            how: "capgate exec OUT --netns /run/netns/NAME (root)",
            needs: vec!["nft", "netns"],
            optional: vec![],
            default: false,
        },
        Target {
            name: "oci",
            how: "capgate exec OUT --target oci (rootful runc, bundle in a private dir)",
            needs: vec!["runc"],
            optional: vec!["cgroup"],
            default: false,
        },
        Target {
            name: "limits",
            how: "limit:set grants (docker, oci and bwrap through cgroups; capgate exec refuses to start what it cannot enforce)",
            needs: vec!["cgroup"],
            optional: vec!["systemd-run"],
            default: false,
        },
    ]
}

/// `capgate doctor`.
pub fn run(a: &DoctorArgs) -> u8 {
    let root = process::is_root();
    let mut checks: BTreeMap<&str, Check> = BTreeMap::new();
    let ns = userns();
    let ns_ok = ns.status.usable();
    checks.insert("userns", ns);
    checks.insert("bwrap", bwrap(ns_ok));
    checks.insert("podman", tool("podman", "podman", &["--version"], "the docker target"));
    checks.insert(
        "runc",
        tool(
            "runc",
            "runc",
            &["--version"],
            "--target oci, and the docker target on cgroup v1 hosts",
        ),
    );
    checks.insert(
        "squid",
        tool("squid", "squid", &["-v"], "the egress allowlist proxy (net grants)"),
    );
    checks.insert(
        "nft",
        tool("nft", "nftables", &["--version"], "the nftables egress mode"),
    );
    checks.insert("netns", netns());
    checks.insert("cgroup", cgroup());
    checks.insert("systemd-run", systemd_run());

    let mut ready_default = true;
    let mut target_json = BTreeMap::new();
    let mut target_lines = Vec::new();
    for t in targets() {
        let blocking: Vec<&str> = t.needs.iter().copied().filter(|n| !checks[n].status.usable()).collect();
        let ready = blocking.is_empty();
        if t.default && !ready {
            ready_default = false;
        }
        let warnings: Vec<&str> = t
            .needs
            .iter()
            .chain(&t.optional)
            .copied()
            .filter(|n| checks[n].status != Status::Ok && !blocking.contains(n))
            .collect();
        let mut o = BTreeMap::new();
        o.insert("ready".to_string(), Json::Bool(ready));
        o.insert("default".to_string(), Json::Bool(t.default));
        o.insert("how".to_string(), Json::str(t.how));
        o.insert("needs".to_string(), Json::strs(&t.needs));
        o.insert("optional".to_string(), Json::strs(&t.optional));
        o.insert("blocking".to_string(), Json::strs(&blocking));
        o.insert("warnings".to_string(), Json::strs(&warnings));
        target_json.insert(t.name.to_string(), Json::Object(o));
        target_lines.push((t, ready, blocking, warnings));
    }

    match a.format {
        Format::Json => {
            let mut o = BTreeMap::new();
            o.insert("format".to_string(), Json::str("capgate.doctor/1"));
            o.insert("capgate".to_string(), Json::str(capgate::VERSION));
            o.insert("root".to_string(), Json::Bool(root));
            o.insert("ok".to_string(), Json::Bool(ready_default));
            o.insert(
                "checks".to_string(),
                Json::Object(checks.iter().map(|(k, c)| (k.to_string(), c.to_json())).collect()),
            );
            o.insert("targets".to_string(), Json::Object(target_json));
            print!("{}", Json::Object(o).to_pretty());
        }
        Format::Human => {
            let mut out = format!(
                "capgate doctor (capgate {}, {})\n\nchecks:\n",
                capgate::VERSION,
                if root { "running as root" } else { "not root" }
            );
            for (name, c) in &checks {
                out.push_str(&format!("  {name:<12} {:<8} {}\n", c.status.as_str(), c.detail));
                if let Some(f) = &c.fix {
                    out.push_str(&format!("  {:<12} {:<8} fix: {f}\n", "", ""));
                }
            }
            out.push_str("\ntargets:\n");
            for (t, ready, blocking, warnings) in &target_lines {
                let state = if *ready { "ready" } else { "NOT READY" };
                out.push_str(&format!(
                    "  {:<16} {state}{}   {}\n",
                    t.name,
                    if t.default { " (default)" } else { "" },
                    t.how
                ));
                for b in blocking {
                    out.push_str(&format!("      needs {b}: {}\n", checks[b].detail));
                    if let Some(f) = &checks[b].fix {
                        out.push_str(&format!("      fix: {f}\n"));
                    }
                }
                for w in warnings {
                    out.push_str(&format!("      note ({w}): {}\n", checks[w].detail));
                }
            }
            out.push_str(if ready_default {
                "\nthe default launch works: capgate exec with bwrap, egress through squid\n"
            } else {
                "\nthe default launch does NOT work here; see the fixes above\n"
            });
            print!("{out}");
        }
    }
    if ready_default {
        0
    } else {
        1
    }
}
