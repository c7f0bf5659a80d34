//! `capgate exec`: the daemonless launcher. It runs a server under its
//! compiled artifact with bwrap or podman, passes `env:read`/`env:inject`
//! values from its own environment (never in argv, never in a file), starts
//! the egress proxy when egress is granted, forwards stdio and signals, and
//! returns the server's exit status (128+signal when killed; 125 for its own
//! failures; 127 when the runtime is missing). It never runs the sandbox as
//! host root.

mod artifacts;
pub mod bridge;
mod egress;
mod launch_log;
mod limits;
mod netns;
mod oci;
mod preflight;
pub(crate) mod process;

use crate::args::{ExecArgs, ExecTarget};
use artifacts::Loaded;
use capgate::json::Json;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// In-sandbox path of the bound capgate binary (the bridge).
const BRIDGE_BIN: &str = "/run/capgate/capgate";
/// Seconds between the forwarded SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// Removes a directory when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An error of the launcher itself: message and exit code.
struct Fail(String, u8);

fn fail(msg: impl Into<String>) -> Fail {
    Fail(msg.into(), 125)
}

/// Run `capgate exec`; returns the exit code.
pub fn run(a: ExecArgs) -> u8 {
    match launch(a) {
        Ok(code) => code,
        Err(Fail(msg, code)) => {
            eprintln!("capgate exec: {msg}");
            code
        }
    }
}

fn load(a: &ExecArgs) -> Result<Loaded, Fail> {
    if a.input.is_dir() {
        if !a.params.is_empty() || a.params_file.is_some() {
            return Err(Fail(
                "--param applies when exec is given a manifest, not an out-dir".into(),
                2,
            ));
        }
        return artifacts::from_out_dir(&a.input).map_err(fail);
    }
    let source = std::fs::read(&a.input).map_err(|e| Fail(format!("cannot read {}: {e}", a.input.display()), 2))?;
    // oci is opt-in: compile it (and egress, for the proxy) when asked for.
    let targets = match a.target {
        ExecTarget::Oci => vec![crate::args::TargetArg::Oci, crate::args::TargetArg::Egress],
        _ => Vec::new(),
    };
    let common = crate::args::CommonArgs {
        targets,
        params: a.params.clone(),
        params_file: a.params_file.clone(),
        strict: false,
        deny_warnings: false,
        format: crate::args::Format::Human,
    };
    let opts = crate::commands::options(&common, BTreeMap::new()).map_err(|e| Fail(e, 2))?;
    match capgate::compile(&source, &opts) {
        Ok(c) => Ok(artifacts::from_compiled(c)),
        Err(ds) => {
            crate::report::diagnostics(&ds, &source, &a.input.display().to_string(), common.format);
            Err(Fail("the manifest was rejected".into(), 1))
        }
    }
}

/// The uid:gid the sandbox runs as (only changed when we are root).
fn sandbox_ids(a: &ExecArgs) -> Result<(u32, u32), Fail> {
    let spec = a.user.as_deref().unwrap_or("65534:65534");
    let parse = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| Fail(format!("--user {spec}: expected numeric UID:GID"), 2))
    };
    let (u, g) = spec
        .split_once(':')
        .ok_or_else(|| Fail(format!("--user {spec}: expected numeric UID:GID"), 2))?;
    let ids = (parse(u)?, parse(g)?);
    if ids.0 == 0 {
        return Err(Fail("--user 0 would run the sandbox as host root; refusing".into(), 2));
    }
    Ok(ids)
}

/// Refuses flags the chosen runtime would otherwise ignore without a word.
fn check_target_flags(a: &ExecArgs) -> Result<(), Fail> {
    let (bwrap, docker) = (a.target == ExecTarget::Bwrap, a.target == ExecTarget::Docker);
    for (given, flag, applies, only) in [
        (a.netns.is_some(), "--netns", bwrap, "bwrap"),
        (a.image.is_some(), "--image", docker, "docker"),
        (!a.podman_arg.is_empty(), "--podman-arg", docker, "docker"),
    ] {
        if given && !applies {
            let target = format!("{:?}", a.target).to_ascii_lowercase();
            return Err(Fail(
                format!("{flag} applies only to --target {only}, not --target {target}"),
                2,
            ));
        }
    }
    Ok(())
}

/// Defense in depth: the artifacts about to run must grant nothing outside
/// the `policy.json` they came with, as [`capgate::containment::check`]
/// reads them. index.json's hashes catch a changed file; this catches an
/// out-dir whose artifacts were widened by hand and re-indexed.
fn check_contained(loaded: &Loaded) -> Result<(), Fail> {
    let text = String::from_utf8_lossy(loaded.get("policy.json").map_err(fail)?).into_owned();
    let policy = capgate::diff::policy_from_json(&text).map_err(|e| fail(format!("policy.json: {e}")))?;
    let artifacts: Vec<capgate::Artifact> = loaded
        .files
        .iter()
        .map(|(path, bytes)| capgate::Artifact {
            path: path.clone(),
            media_type: "application/octet-stream",
            bytes: bytes.clone(),
        })
        .collect();
    let violations = capgate::containment::check(&policy, &artifacts);
    if violations.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = violations.iter().map(|v| format!("  {v}")).collect();
    Err(fail(format!(
        "the artifacts grant more than their policy.json; refusing to run them:\n{}",
        list.join("\n")
    )))
}

fn launch(a: ExecArgs) -> Result<u8, Fail> {
    check_target_flags(&a)?;
    let loaded = load(&a)?;
    check_contained(&loaded)?;
    let ids = sandbox_ids(&a)?;
    match a.target {
        ExecTarget::Bwrap => run_bwrap(&a, &loaded, ids),
        ExecTarget::Docker => run_podman(&a, &loaded, ids),
        ExecTarget::Oci => oci::run(&a, &loaded, ids),
    }
}

/// The grants the envelope leaves to the launcher.
fn launcher_grants(envelope: &BTreeMap<String, Json>) -> Vec<String> {
    let Some(Json::Array(items)) = envelope.get("launcher") else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|i| match i {
            Json::Object(g) => match g.get("grant") {
                Some(Json::Str(s)) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Values of the passed variables: inject must be set, read may be absent.
fn secret_values(entries: &[(String, String)]) -> Result<Vec<(String, String)>, Fail> {
    let mut out = Vec::new();
    for (name, action) in entries {
        match std::env::var(name) {
            Ok(v) => out.push((name.clone(), v)),
            Err(_) if action == "inject" => {
                return Err(fail(format!(
                    "{name} is granted with env:inject but is not set in capgate's environment"
                )))
            }
            Err(_) => {}
        }
    }
    Ok(out)
}

fn command(envelope_cmd: Vec<String>, extra: &[String]) -> Result<Vec<String>, Fail> {
    let mut cmd = envelope_cmd;
    cmd.extend(extra.iter().cloned());
    if cmd.is_empty() {
        return Err(Fail("the manifest has no command: pass it after `--`".into(), 2));
    }
    Ok(cmd)
}

fn bridge_prefix() -> Vec<String> {
    [
        BRIDGE_BIN,
        "bridge",
        "--listen",
        "127.0.0.1:3128",
        "--connect",
        capgate::target::PROXY_SOCKET,
        "--",
    ]
    .map(String::from)
    .to_vec()
}

/// Start squid with the compiled allowlist (egress/squid.conf); its socket
/// is made `owner`'s when given.
fn start_proxy(loaded: &Loaded, owner: Option<(u32, u32)>) -> Result<egress::Proxy, Fail> {
    let squid = runtime("squid", "squid")?;
    let policy = loaded
        .get("egress/squid.conf")
        .map_err(|e| fail(format!("{e} (egress is granted)")))?;
    egress::start(&squid, policy, owner).map_err(fail)
}

fn self_exe() -> Result<PathBuf, Fail> {
    std::env::current_exe().map_err(|e| fail(format!("cannot find the capgate binary for the egress bridge: {e}")))
}

/// An anonymous in-memory file holding `bytes`, inherited by the child.
fn memfd(bytes: &[u8]) -> Result<std::fs::File, Fail> {
    use std::os::fd::FromRawFd;
    let name = std::ffi::CString::new("capgate-args").expect("static name");
    // SAFETY: memfd_create with a valid name; the fd is owned by the File.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), 0) };
    if fd < 0 {
        return Err(fail(format!("memfd_create: {}", std::io::Error::last_os_error())));
    }
    // SAFETY: fd is a fresh, owned descriptor.
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    f.write_all(bytes)
        .map_err(|e| fail(format!("cannot write the bwrap options: {e}")))?;
    use std::io::Seek;
    f.rewind().map_err(|e| fail(e.to_string()))?;
    Ok(f)
}

fn runtime(name: &str, package: &str) -> Result<PathBuf, Fail> {
    process::which(name).ok_or_else(|| {
        Fail(
            format!("{name} is not installed; install it: apt-get install {package}"),
            127,
        )
    })
}

fn bind_sources(opts: &[String]) -> Vec<preflight::Source> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < opts.len() {
        let o = opts[i].as_str();
        if capgate::target::BWRAP_BIND_FLAGS.contains(&o) && i + 1 < opts.len() {
            out.push(preflight::Source {
                path: PathBuf::from(&opts[i + 1]),
                writable: o.starts_with("--bind"),
                optional: o.ends_with("-try"),
            });
        }
        i += 1;
    }
    out
}

fn report_preflight(sources: &[preflight::Source], ids: (u32, u32)) -> Result<(), Fail> {
    let (errors, warnings) = preflight::check(sources, ids);
    for w in &warnings {
        eprintln!("capgate exec: warning: {w}");
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(fail(errors.join("\ncapgate exec: ")))
    }
}

fn redacted(args: &[String], secrets: &[(String, String)]) -> String {
    args.iter()
        .map(|a| {
            if secrets.iter().any(|(_, v)| v == a && !v.is_empty()) {
                "<redacted>".to_string()
            } else {
                shell_quote(a)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@%+".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn run_bwrap(a: &ExecArgs, loaded: &Loaded, ids: (u32, u32)) -> Result<u8, Fail> {
    let envelope = loaded.object("bwrap/argv.json").map_err(fail)?;
    let argv = artifacts::strings(&envelope, "argv");
    let sep = argv
        .iter()
        .position(|x| x == "--")
        .ok_or_else(|| fail("bwrap/argv.json has no `--`"))?;
    let mut opts: Vec<String> = String::from_utf8_lossy(loaded.get("bwrap/args0").map_err(fail)?)
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if opts != argv[1..sep] {
        return Err(fail("bwrap/args0 and bwrap/argv.json disagree"));
    }
    let cmd = command(argv[sep + 1..].to_vec(), &a.extra)?;
    let root = process::is_root();
    let run_ids = if root { ids } else { current_ids() };

    // capgate-owned symlinked sources (such as /etc/localtime) are resolved.
    for i in 0..opts.len() {
        if i > 0 && opts[i - 1].starts_with("--ro-bind") {
            if let Some(real) = preflight::resolved(Path::new(&opts[i])) {
                opts[i] = real.display().to_string();
            }
        }
    }
    report_preflight(&bind_sources(&opts), run_ids)?;

    let secrets = secret_values(&artifacts::passed_env(&envelope))?;
    let mut stream = opts.clone();
    for (k, v) in &secrets {
        stream.extend(["--setenv".to_string(), k.clone(), v.clone()]);
    }
    let mut full_cmd = cmd.clone();
    let egress = artifacts::needs_proxy(&envelope);
    let bwrap = runtime("bwrap", "bubblewrap")?;
    if a.dry_run {
        let mut shown = stream.clone();
        if egress {
            shown.extend(
                [
                    "--bind",
                    "<runtime>/proxy.sock",
                    capgate::target::PROXY_SOCKET,
                    "--ro-bind",
                    "<capgate>",
                    BRIDGE_BIN,
                ]
                .map(String::from),
            );
            full_cmd = bridge_prefix().into_iter().chain(full_cmd).collect();
        }
        println!(
            "# as uid:gid {}:{}{}",
            run_ids.0,
            run_ids.1,
            if egress {
                ", with squid on a private loopback port"
            } else {
                ""
            }
        );
        let limits: Vec<String> = launcher_grants(&envelope)
            .into_iter()
            .filter(|g| g.starts_with("limit:set:"))
            .collect();
        if !limits.is_empty() {
            println!(
                "# the launcher enforces {} (cgroup, RLIMIT_NOFILE, sized /tmp) or refuses to start",
                limits.join(", ")
            );
        }
        println!(
            "{} --args <fd: {}> -- {}",
            bwrap.display(),
            redacted(&shown, &secrets),
            redacted(&full_cmd, &[])
        );
        return Ok(0);
    }
    let mut netns_fd = None;
    let _netns_dir;
    if let Some(path) = &a.netns {
        if !root {
            return Err(Fail(
                "--netns needs root (entering a namespace and loading nftables)".into(),
                2,
            ));
        }
        let nft = runtime("nft", "nftables")?;
        let ns = netns::open(path).map_err(fail)?;
        let dir = egress::runtime_dir().map_err(|e| fail(format!("cannot create a runtime directory: {e}")))?;
        let ruleset = loaded.get("egress/nftables.nft").map_err(fail)?;
        let hosts = netns::prepare(&nft, &ns, ruleset, &dir).map_err(fail)?;
        let hosts_file = dir.join("hosts");
        std::fs::write(&hosts_file, hosts).map_err(|e| fail(e.to_string()))?;
        let _ = std::fs::set_permissions(&hosts_file, std::os::unix::fs::PermissionsExt::from_mode(0o644));
        // Share the prepared namespace instead of a fresh empty one, pin
        // names, and drop the proxy variables (no proxy runs).
        let at = stream
            .iter()
            .position(|o| o == "--unshare-all")
            .map(|i| i + 1)
            .unwrap_or(0);
        stream.insert(at, "--share-net".into());
        stream.extend([
            "--ro-bind".to_string(),
            hosts_file.display().to_string(),
            "/etc/hosts".to_string(),
        ]);
        for k in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
            stream.extend(["--unsetenv".to_string(), k.to_string()]);
        }
        netns_fd = Some(ns);
        _netns_dir = RemoveOnDrop(dir);
    }
    let proxy = if egress && a.netns.is_none() {
        let p = start_proxy(loaded, root.then_some(ids))?;
        stream.extend([
            "--bind".to_string(),
            p.socket.display().to_string(),
            capgate::target::PROXY_SOCKET.to_string(),
        ]);
        stream.extend([
            "--ro-bind".to_string(),
            self_exe()?.display().to_string(),
            BRIDGE_BIN.to_string(),
        ]);
        full_cmd = bridge_prefix().into_iter().chain(full_cmd).collect();
        Some(p)
    } else {
        None
    };
    let wanted = limits::wanted(launcher_grants(&envelope).iter().map(String::as_str));
    let name = format!(
        "capgate-{}-{}",
        &loaded.key[..12.min(loaded.key.len())],
        std::process::id()
    );
    let lim = enforce_limits(a, &wanted, &bwrap, &mut stream, root, ids, &name)?;
    let mut bytes = Vec::new();
    for s in &stream {
        bytes.extend_from_slice(s.as_bytes());
        bytes.push(0);
    }
    let fd_file = memfd(&bytes)?;
    use std::os::fd::AsRawFd;
    let fd = fd_file.as_raw_fd();
    let mut runtime_argv: Vec<String> = lim.prefix.clone();
    runtime_argv.extend([
        bwrap.display().to_string(),
        "--args".into(),
        fd.to_string(),
        "--".into(),
    ]);
    runtime_argv.extend(full_cmd.iter().cloned());
    let mut c = Command::new(&runtime_argv[0]);
    c.env_clear().env("PATH", "/usr/bin:/bin").args(&runtime_argv[1..]);
    if !lim.prefix.is_empty() && !root {
        // systemd-run --user finds the user manager through it.
        let dir = std::env::var_os("XDG_RUNTIME_DIR").unwrap_or_else(|| format!("/run/user/{}", run_ids.0).into());
        c.env("XDG_RUNTIME_DIR", dir);
    }
    // Before privileges are dropped (in this order): the sized /tmp in a
    // private mount namespace, the cgroup, RLIMIT_NOFILE; all inherited by bwrap.
    let tmpfs = lim.tmpfs_mount.clone();
    let procs = lim.cgroup.as_ref().map(limits::Cgroup::procs).unwrap_or_default();
    let nofile = wanted.nofile;
    // SAFETY: the closure only calls async-signal-safe libc functions
    // (unshare, mount, open, write, close, setrlimit) on prepared buffers.
    unsafe {
        use std::os::unix::process::CommandExt;
        c.pre_exec(move || {
            if let Some((dir, opts)) = &tmpfs {
                limits::private_tmpfs_in_child(dir, opts)?;
            }
            limits::join_in_child(&procs)?;
            if let Some(n) = nofile {
                let lim = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    {
        use std::os::fd::AsRawFd;
        // systemd-run drops to the sandbox uid itself (--uid/--gid).
        let drop_to = (root && lim.prefix.is_empty()).then_some(ids);
        process::in_netns(&mut c, drop_to, netns_fd.as_ref().map(|n| n.fd.as_raw_fd()));
    }
    let log = a.launch_log.as_deref().map(launch_log::open).transpose()?;
    let start = std::time::SystemTime::now();
    let mut child = c
        .spawn()
        .map_err(|e| fail(format!("cannot start {}: {e}", runtime_argv[0])))?;
    drop(fd_file);
    let launch = launch_log::Launch {
        target: "bwrap",
        runtime_argv,
        command: full_cmd,
        env: secrets.iter().map(|(k, _)| k.clone()).collect(),
        user: run_ids,
        pid: child.id(),
        container: None,
        limits: lim.enforced.into_iter().chain(unenforced_limits(&envelope)).collect(),
        start,
    };
    process::forward_signals(&child, GRACE);
    let status = process::wait_status(&mut child).map_err(|e| fail(e.to_string()))?;
    let code = process::exit_code(status);
    drop(proxy);
    drop(lim.cgroup);
    drop(lim.tmpfs_dir);
    write_launch_log(log.as_ref(), loaded, &launch, status, code);
    Ok(code)
}

fn write_launch_log(
    log: Option<&launch_log::Sink>,
    loaded: &Loaded,
    launch: &launch_log::Launch,
    status: std::process::ExitStatus,
    code: u8,
) {
    if let Some(sink) = log {
        let end = launch_log::End { status, exit: code };
        if let Err(e) = launch_log::write(sink, &launch_log::record(loaded, launch, &end)) {
            eprintln!("capgate exec: warning: cannot write the launch log: {e}");
        }
    }
}

/// How the launcher enforces the bwrap envelope's limits on this host.
struct LimitPlan {
    /// `systemd-run --scope ... --` before bwrap, or empty.
    prefix: Vec<String>,
    cgroup: Option<limits::Cgroup>,
    /// (mount point, tmpfs options) for the child's private /tmp.
    tmpfs_mount: Option<(std::ffi::CString, std::ffi::CString)>,
    tmpfs_dir: Option<RemoveOnDrop>,
    /// grant → what enforces it (for the launch log).
    enforced: BTreeMap<String, String>,
}

#[allow(clippy::too_many_arguments)]
fn enforce_limits(
    a: &ExecArgs,
    w: &limits::Wanted,
    bwrap: &Path,
    stream: &mut Vec<String>,
    root: bool,
    ids: (u32, u32),
    name: &str,
) -> Result<LimitPlan, Fail> {
    let mut plan = LimitPlan {
        prefix: Vec::new(),
        cgroup: None,
        tmpfs_mount: None,
        tmpfs_dir: None,
        enforced: BTreeMap::new(),
    };
    let mut missing: Vec<(String, String)> = Vec::new();
    if let Some(g) = w.grants.get("nofile") {
        plan.enforced.insert(g.clone(), "setrlimit RLIMIT_NOFILE".into());
    }
    if w.needs_cgroup() {
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        let user_manager = Path::new(&format!("/run/user/{uid}/systemd")).is_dir();
        let how = match process::which("systemd-run") {
            Some(sd) if limits::systemd_running() && (root || user_manager) => {
                plan.prefix = limits::systemd_run_prefix(w, &sd, root.then_some(ids));
                Ok("systemd-run --scope".to_string())
            }
            _ if root => limits::create(w, name).map(|cg| {
                plan.cgroup = Some(cg);
                "cgroupfs".to_string()
            }),
            _ => Err("systemd is not running (or has no user manager) and capgate is not root".to_string()),
        };
        for k in ["memory", "pids", "cpu"] {
            if let Some(g) = w.grants.get(k) {
                match &how {
                    Ok(m) => plan.enforced.insert(g.clone(), m.clone()),
                    Err(e) => {
                        missing.push((g.clone(), format!("no cgroup: {e}")));
                        plan.enforced.insert(g.clone(), "none".into())
                    }
                };
            }
        }
    }
    if let (Some(bytes), Some(g)) = (w.tmpfs, w.grants.get("tmpfs")) {
        let at = stream.windows(2).position(|p| p[0] == "--tmpfs" && p[1] == "/tmp");
        let how = match at {
            None => Err("the envelope has no private /tmp".to_string()),
            Some(i) if root => {
                let dir = egress::runtime_dir().map_err(|e| fail(format!("cannot create a runtime directory: {e}")))?;
                let mnt = dir.join("tmp");
                std::fs::create_dir(&mnt).map_err(|e| fail(format!("cannot create {}: {e}", mnt.display())))?;
                let c = |s: &str| std::ffi::CString::new(s).map_err(|e| fail(e.to_string()));
                plan.tmpfs_mount = Some((c(&mnt.display().to_string())?, c(&format!("size={bytes},mode=1777"))?));
                plan.tmpfs_dir = Some(RemoveOnDrop(dir));
                stream.splice(
                    i..i + 2,
                    ["--bind".to_string(), mnt.display().to_string(), "/tmp".into()],
                );
                Ok("tmpfs mounted by the launcher")
            }
            Some(i) if limits::bwrap_version(bwrap).is_some_and(|v| v >= (0, 10)) => {
                stream.splice(i..i, ["--size".to_string(), bytes.to_string()]);
                Ok("bwrap --size")
            }
            Some(_) => Err("bubblewrap older than 0.10 cannot size a tmpfs and capgate is not root".to_string()),
        };
        match how {
            Ok(m) => plan.enforced.insert(g.clone(), m.into()),
            Err(e) => {
                missing.push((g.clone(), e));
                plan.enforced.insert(g.clone(), "none".into())
            }
        };
    }
    for (g, why) in &missing {
        if a.allow_unenforced_limits {
            eprintln!("capgate exec: warning: {g} is not enforced: {why} (--allow-unenforced-limits)");
        } else {
            return Err(fail(format!(
                "cannot enforce {g}: {why}; use --target docker, run as root or under systemd, or pass --allow-unenforced-limits"
            )));
        }
    }
    Ok(plan)
}

/// The current uid and gid.
fn current_ids() -> (u32, u32) {
    // SAFETY: getuid/getgid have no preconditions.
    unsafe { (libc::getuid(), libc::getgid()) }
}

/// Global podman options: runc with cgroupfs when runc is installed (crun
/// fails on hybrid cgroup hosts), unless the caller gives their own.
fn podman_globals(a: &ExecArgs) -> Vec<String> {
    if !a.podman_arg.is_empty() {
        return a.podman_arg.clone();
    }
    if process::which("runc").is_some() {
        return ["--runtime", "runc", "--cgroup-manager", "cgroupfs"]
            .map(String::from)
            .to_vec();
    }
    Vec::new()
}

fn run_podman(a: &ExecArgs, loaded: &Loaded, ids: (u32, u32)) -> Result<u8, Fail> {
    let envelope = loaded.object("docker/argv.json").map_err(fail)?;
    let mut flags = artifacts::strings(&envelope, "flags");
    flags.extend(artifacts::strings(&envelope, "podman_flags"));
    let envelope_cmd = match envelope.get("command") {
        Some(Json::Array(_)) => artifacts::strings(&envelope, "command"),
        _ => Vec::new(),
    };
    let cmd = command(envelope_cmd, &a.extra)?;
    let image = match (&a.image, envelope.get("image")) {
        (Some(i), _) => i.clone(),
        (None, Some(Json::Str(i))) => i.clone(),
        _ => DEFAULT_IMAGE.to_string(),
    };
    if a.user.is_some() {
        if let Some(i) = flags.iter().position(|f| f == "--user") {
            flags[i + 1] = format!("{}:{}", ids.0, ids.1);
        }
    }
    // Sources of -v flags, checked like bwrap's binds.
    let mut sources = Vec::new();
    for w in flags.windows(2) {
        if w[0] == "-v" {
            let parts: Vec<&str> = w[1].rsplitn(3, ':').collect();
            if parts.len() == 3 {
                sources.push(preflight::Source {
                    path: PathBuf::from(parts[2]),
                    writable: parts[0] == "rw",
                    optional: false,
                });
            }
        }
    }
    // capgate-owned symlinked sources are resolved.
    for f in flags.iter_mut() {
        if let Some(rest) = f.strip_prefix("/etc/localtime:") {
            if let Some(real) = preflight::resolved(Path::new("/etc/localtime")) {
                *f = format!("{}:{rest}", real.display());
            }
        }
    }
    report_preflight(&sources, ids)?;
    if !flags.iter().any(|f| f.starts_with("nofile=")) {
        let n = capgate::capability::LAUNCHER_DEFAULT_NOFILE;
        flags.extend(["--ulimit".into(), format!("nofile={n}:{n}")]);
    }
    flags.extend(["--ulimit".into(), "nproc=4096:4096".into()]);

    let secrets = secret_values(&artifacts::passed_env(&envelope))?;
    // A private dir for the seccomp profile, removed when the run ends.
    let rundir = egress::runtime_dir().map_err(|e| fail(format!("cannot create a runtime directory: {e}")))?;
    let _rundir_guard = RemoveOnDrop(rundir.clone());
    match std::fs::read_to_string(PODMAN_SECCOMP)
        .map_err(|e| e.to_string())
        .and_then(|d| seccomp_without_userns(&d))
    {
        Ok(profile) => {
            let path = rundir.join("seccomp.json");
            std::fs::write(&path, profile).map_err(|e| fail(format!("cannot write the seccomp profile: {e}")))?;
            let _ = std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644));
            flags.extend(["--security-opt".into(), format!("seccomp={}", path.display())]);
        }
        Err(e) => eprintln!(
            "capgate exec: warning: {e}; nested user namespaces stay possible under podman's built-in profile"
        ),
    }
    let name = format!(
        "capgate-{}-{}",
        &loaded.key[..12.min(loaded.key.len())],
        std::process::id()
    );
    let podman = runtime("podman", "podman")?;
    let egress = artifacts::needs_proxy(&envelope);
    let mut full_cmd = cmd.clone();
    let mut run_args: Vec<String> = podman_globals(a);
    run_args.extend(["run".into(), "-i".into(), "--name".into(), name.clone()]);
    // An init as the container's pid 1, so a forwarded SIGTERM reaches the
    // server (pid 1 ignores signals it has no handler for).
    if Path::new(PODMAN_INIT).exists() {
        run_args.push("--init".into());
    }
    run_args.extend(flags);
    if a.dry_run {
        if egress {
            run_args.extend([
                "-v".into(),
                format!("<runtime>/proxy.sock:{}", capgate::target::PROXY_SOCKET),
            ]);
            run_args.extend(["-v".into(), format!("<capgate>:{BRIDGE_BIN}:ro")]);
            full_cmd = bridge_prefix().into_iter().chain(full_cmd).collect();
        }
        run_args.push(image);
        run_args.extend(full_cmd);
        println!("{} {}", podman.display(), redacted(&run_args, &secrets));
        return Ok(0);
    }
    let proxy = if egress {
        let p = start_proxy(loaded, Some(ids))?;
        run_args.extend([
            "-v".into(),
            format!("{}:{}", p.socket.display(), capgate::target::PROXY_SOCKET),
        ]);
        run_args.extend(["-v".into(), format!("{}:{BRIDGE_BIN}:ro", self_exe()?.display())]);
        full_cmd = bridge_prefix().into_iter().chain(full_cmd).collect();
        Some(p)
    } else {
        None
    };
    run_args.push(image);
    run_args.extend(full_cmd.iter().cloned());
    // podman reads `--env NAME` values from its own environment: give it
    // exactly the passed variables (values never appear in argv).
    let scratch = std::env::temp_dir();
    let _reaper = start_reaper(&podman_globals(a), &name)?;
    let mut c = Command::new(&podman);
    c.env_clear().env(
        "PATH",
        std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
    );
    for (k, v) in &secrets {
        c.env(k, v);
    }
    c.args(&run_args).current_dir(&scratch);
    process::unprivileged(&mut c, None);
    let log = a.launch_log.as_deref().map(launch_log::open).transpose()?;
    let start = std::time::SystemTime::now();
    let mut child = c.spawn().map_err(|e| fail(format!("cannot start podman: {e}")))?;
    let launch = launch_log::Launch {
        target: "docker",
        runtime_argv: std::iter::once(podman.display().to_string())
            .chain(run_args.iter().cloned())
            .collect(),
        command: full_cmd,
        env: secrets.iter().map(|(k, _)| k.clone()).collect(),
        user: ids,
        pid: child.id(),
        container: Some(name.clone()),
        limits: podman_limits(loaded, &envelope),
        start,
    };
    process::forward_signals(&child, GRACE);
    let status = process::wait_status(&mut child).map_err(|e| fail(e.to_string()));
    let code = status
        .as_ref()
        .map(|st| process::exit_code(*st))
        .map_err(|Fail(m, c)| Fail(m.clone(), *c));
    // conmon can outlive a killed client: remove the container by name.
    let _ = Command::new(&podman)
        .args(podman_globals(a))
        .args(["rm", "-f", "-t", "0", "--ignore", &name])
        .current_dir(&scratch)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    drop(proxy);
    if let Ok(st) = &status {
        let st = *st;
        write_launch_log(log.as_ref(), loaded, &launch, st, process::exit_code(st));
    }
    code
}

/// The policy's limits, enforced by podman's flags unless the envelope
/// lists them as unenforced.
fn podman_limits(loaded: &Loaded, envelope: &BTreeMap<String, Json>) -> BTreeMap<String, String> {
    let Ok(policy) = loaded.object("policy.json") else {
        return BTreeMap::new();
    };
    let Some(Json::Object(l)) = policy.get("limits") else {
        return BTreeMap::new();
    };
    let mut out: BTreeMap<String, String> = l
        .iter()
        .filter_map(|(k, v)| match v {
            Json::Str(v) => Some((format!("limit:set:{k}={v}"), "podman".to_string())),
            _ => None,
        })
        .collect();
    out.extend(unenforced_limits(envelope));
    out
}

/// `limit:set:` grants the envelope lists under `unenforced`, as "none".
fn unenforced_limits(envelope: &BTreeMap<String, Json>) -> Vec<(String, String)> {
    let Some(Json::Array(items)) = envelope.get("unenforced") else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|i| match i {
            Json::Object(g) => match g.get("grant") {
                Some(Json::Str(s)) if s.starts_with("limit:set:") => Some((s.clone(), "none".to_string())),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Start a detached reaper that removes container `name` when this
/// launcher is gone, even if it is SIGKILLed (conmon outlives a killed
/// podman client). The returned pipe end must live as long as the launcher.
fn start_reaper(podman_globals: &[String], name: &str) -> Result<std::fs::File, Fail> {
    start_reaper_with(&[], name, podman_globals)
}

/// [`start_reaper`] with extra `reap` flags (`--runc`: the container is runc's).
fn start_reaper_with(flags: &[String], name: &str, globals: &[String]) -> Result<std::fs::File, Fail> {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills both descriptors, which we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(fail(format!("pipe: {}", std::io::Error::last_os_error())));
    }
    // SAFETY: fresh descriptors from pipe2.
    let (read_end, write_end) = unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) };
    let mut c = Command::new(self_exe()?);
    c.arg("reap")
        .args(flags)
        .arg("--name")
        .arg(name)
        .arg("--")
        .args(globals);
    c.stdin(read_end)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c.current_dir(std::env::temp_dir());
    // SAFETY: setsid is async-signal-safe; detaches the reaper from our signals.
    unsafe {
        use std::os::unix::process::CommandExt;
        c.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    c.spawn()
        .map_err(|e| fail(format!("cannot start the container reaper: {e}")))?;
    Ok(write_end)
}

/// `capgate reap`: wait for stdin to close (the launcher is gone), then
/// remove the container.
pub fn reap(name: &str, globals: &[String], runc: bool, remove: Option<&Path>) -> u8 {
    use std::io::Read;
    let mut buf = [0u8; 64];
    while matches!(std::io::stdin().read(&mut buf), Ok(n) if n > 0) {}
    if runc {
        let code = match process::which("runc") {
            Some(r) if oci::delete(&r, globals, name) => 0,
            Some(_) => 125,
            None => 127,
        };
        if let Some(dir) = remove {
            let _ = std::fs::remove_dir_all(dir);
        }
        return code;
    }
    let Some(podman) = process::which("podman") else {
        return 127;
    };
    let ok = Command::new(podman)
        .args(globals)
        .args(["rm", "-f", "-t", "0", "--ignore", name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok {
        0
    } else {
        125
    }
}

/// The init podman's `--init` runs (Debian package catatonit).
const PODMAN_INIT: &str = "/usr/libexec/podman/catatonit";

/// Podman's default seccomp profile, which the launcher tightens.
const PODMAN_SECCOMP: &str = "/usr/share/containers/seccomp.json";
const CLONE_NEWUSER: i64 = 0x1000_0000;

/// Podman's default seccomp profile minus new user namespaces: `clone` and
/// `unshare` are allowed only without CLONE_NEWUSER, and `clone3` (whose
/// flags seccomp cannot inspect) fails with ENOSYS so libc falls back to
/// `clone`. Docker's default profile does the same; podman's does not.
fn seccomp_without_userns(default: &str) -> Result<String, String> {
    let v = capgate::json::parse(default)
        .map_err(|_| format!("{PODMAN_SECCOMP} is not JSON"))?
        .to_json();
    let Json::Object(mut profile) = v else {
        return Err(format!("{PODMAN_SECCOMP} is not an object"));
    };
    let Some(Json::Array(rules)) = profile.get_mut("syscalls") else {
        return Err(format!("{PODMAN_SECCOMP} has no syscalls"));
    };
    for rule in rules.iter_mut() {
        if let Json::Object(r) = rule {
            if let Some(Json::Array(names)) = r.get_mut("names") {
                names.retain(|n| !matches!(n, Json::Str(s) if s == "clone" || s == "clone3" || s == "unshare"));
            }
        }
    }
    let masked = |name: &str| {
        let arg = Json::Object(
            [
                ("index".to_string(), Json::Int(0)),
                ("value".to_string(), Json::Int(CLONE_NEWUSER)),
                ("valueTwo".to_string(), Json::Int(0)),
                ("op".to_string(), Json::str("SCMP_CMP_MASKED_EQ")),
            ]
            .into(),
        );
        Json::Object(
            [
                ("names".to_string(), Json::strs([name])),
                ("action".to_string(), Json::str("SCMP_ACT_ALLOW")),
                ("args".to_string(), Json::Array(vec![arg])),
            ]
            .into(),
        )
    };
    rules.push(masked("clone"));
    rules.push(masked("unshare"));
    Ok(Json::Object(profile).to_compact())
}

/// The base image `tools/podman-base-image.sh` builds (no registry needed).
pub const DEFAULT_IMAGE: &str = "localhost/capgate-base:1";
