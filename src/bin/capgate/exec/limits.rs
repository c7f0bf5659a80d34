//! Resource limits that `capgate exec` enforces itself under bwrap (the
//! envelope's `launcher[]` lists them): bubblewrap has no cgroup support and
//! 0.8 cannot size a tmpfs.
//!
//! - `nofile`: `RLIMIT_NOFILE`, set before bwrap starts and inherited.
//! - `memory`, `pids`, `cpu`: a cgroup around bwrap. With systemd running,
//!   `systemd-run --scope` (`--user` when not root) with `MemoryMax=`,
//!   `MemorySwapMax=0`, `TasksMax=`, `CPUQuota=`; without systemd and as
//!   root, a cgroup the launcher creates under its own (cgroup v2, or the v1
//!   `memory`, `pids` and `cpu` hierarchies of a hybrid host) and joins
//!   between fork and exec, so no process of the sandbox starts outside it.
//!   `RLIMIT_AS` is not used for memory: it bounds address space, not memory
//!   (node reserves gigabytes it never touches), so it would break servers
//!   that are far below the limit and not bound page cache or tmpfs pages.
//! - `tmpfs`: as root, a tmpfs of that size mounted in a private mount
//!   namespace of the launcher's child and bound at /tmp instead of bwrap's
//!   unsized `--tmpfs /tmp`; otherwise bubblewrap's own `--size` (0.10+).
//!
//! When a limit cannot be enforced on this host, exec refuses to start
//! (exit 125) unless `--allow-unenforced-limits` is given; what enforced
//! each limit is reported in the launch log.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};

/// The limits the envelope leaves to the launcher.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub memory: Option<u64>,
    pub pids: Option<u64>,
    /// Millicores.
    pub cpu: Option<u64>,
    pub nofile: Option<u64>,
    pub tmpfs: Option<u64>,
    /// The grants as written, by limit name.
    pub grants: BTreeMap<&'static str, String>,
}

impl Wanted {
    /// True if a cgroup is needed.
    pub fn needs_cgroup(&self) -> bool {
        self.memory.is_some() || self.pids.is_some() || self.cpu.is_some()
    }
}

fn size(v: &str) -> Option<u64> {
    for (unit, mul) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1)] {
        if let Some(n) = v.strip_suffix(unit) {
            return n.parse::<u64>().ok()?.checked_mul(mul);
        }
    }
    None
}

/// Parse the canonical `limit:set:NAME=VALUE` strings of `launcher[]`.
pub fn wanted<'a>(grants: impl IntoIterator<Item = &'a str>) -> Wanted {
    let mut w = Wanted::default();
    for g in grants {
        let Some((name, value)) = g.strip_prefix("limit:set:").and_then(|s| s.split_once('=')) else {
            continue;
        };
        let parsed = match name {
            "memory" | "tmpfs" => size(value),
            "pids" | "nofile" => value.parse().ok(),
            "cpu" => match value.strip_suffix('m') {
                Some(m) => m.parse().ok(),
                None => value.parse::<u64>().ok().and_then(|c| c.checked_mul(1000)),
            },
            _ => continue,
        };
        let (key, slot) = match name {
            "memory" => ("memory", &mut w.memory),
            "tmpfs" => ("tmpfs", &mut w.tmpfs),
            "pids" => ("pids", &mut w.pids),
            "nofile" => ("nofile", &mut w.nofile),
            _ => ("cpu", &mut w.cpu),
        };
        *slot = parsed;
        if parsed.is_some() {
            w.grants.insert(key, g.to_string());
        }
    }
    w
}

/// `systemd-run --scope` wrapping the runtime, when systemd manages this host.
pub fn systemd_run_prefix(w: &Wanted, systemd_run: &Path, root_ids: Option<(u32, u32)>) -> Vec<String> {
    let mut p = vec![
        systemd_run.display().to_string(),
        "--scope".into(),
        "--quiet".into(),
        "--collect".into(),
    ];
    match root_ids {
        Some((u, g)) => p.extend([format!("--uid={u}"), format!("--gid={g}")]),
        None => p.push("--user".into()),
    }
    if let Some(b) = w.memory {
        p.extend([
            "-p".into(),
            format!("MemoryMax={b}"),
            "-p".into(),
            "MemorySwapMax=0".into(),
        ]);
    }
    if let Some(n) = w.pids {
        p.extend(["-p".into(), format!("TasksMax={n}")]);
    }
    if let Some(m) = w.cpu {
        // CPUQuota takes percent of one CPU; round up so 1m is not 0%.
        p.extend(["-p".into(), format!("CPUQuota={}%", m.div_ceil(10))]);
    }
    p.push("--".into());
    p
}

/// True when systemd is the service manager (sd_booted's test).
pub fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// A cgroup the launcher created (one directory per v1 hierarchy, or one v2
/// directory), removed on drop once it is empty.
pub struct Cgroup {
    dirs: Vec<PathBuf>,
    /// `cgroup.procs` of each directory, written with "0" by the child.
    procs: Vec<CString>,
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // The sandbox's last processes may take a moment to be reaped.
        for d in self.dirs.iter().rev() {
            for _ in 0..100 {
                if std::fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

impl Cgroup {
    /// Paths of `cgroup.procs` the child joins (for [`join_in_child`]).
    pub fn procs(&self) -> Vec<CString> {
        self.procs.clone()
    }
}

/// Join the cgroups: called between fork and exec (async-signal-safe:
/// open, write, close only).
pub fn join_in_child(procs: &[CString]) -> std::io::Result<()> {
    for p in procs {
        // SAFETY: p is a valid C string; the buffer is static.
        unsafe {
            let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let n = libc::write(fd, b"0".as_ptr().cast(), 1);
            libc::close(fd);
            if n != 1 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

fn is_cgroup2(p: &Path) -> bool {
    let Ok(c) = CString::new(p.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs fills a zeroed struct from a valid path.
    unsafe {
        let mut s: libc::statfs = std::mem::zeroed();
        libc::statfs(c.as_ptr(), &mut s) == 0 && s.f_type == libc::CGROUP2_SUPER_MAGIC
    }
}

/// The launcher's own cgroup path in the hierarchy holding `controller`
/// ("" for the v2 hierarchy), from /proc/self/cgroup.
fn own_path(controller: &str) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        let hit = if controller.is_empty() {
            ctrls.is_empty()
        } else {
            ctrls.split(',').any(|c| c == controller)
        };
        hit.then(|| path.trim_start_matches('/').to_string())
    })
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), String> {
    std::fs::write(dir.join(file), value).map_err(|e| format!("{}/{file}: {e}", dir.display()))
}

/// Create and configure a cgroup named `name` under the launcher's own
/// (root only). Errors say why the host cannot do it.
pub fn create(w: &Wanted, name: &str) -> Result<Cgroup, String> {
    let root = Path::new(CGROUP_ROOT);
    let mut cg = Cgroup {
        dirs: Vec::new(),
        procs: Vec::new(),
    };
    let add = |cg: &mut Cgroup, dir: PathBuf| -> Result<(), String> {
        std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let procs = dir.join("cgroup.procs");
        cg.procs
            .push(CString::new(procs.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?);
        cg.dirs.push(dir);
        Ok(())
    };
    if is_cgroup2(root) {
        let own = root.join(own_path("").ok_or("no cgroup v2 entry in /proc/self/cgroup")?);
        let want: Vec<&str> = [w.memory.map(|_| "memory"), w.pids.map(|_| "pids"), w.cpu.map(|_| "cpu")]
            .into_iter()
            .flatten()
            .collect();
        let enable: Vec<String> = want.iter().map(|c| format!("+{c}")).collect();
        // Fails (EBUSY) when the launcher's cgroup holds processes and is
        // not the root: then only systemd (a delegated scope) can help.
        write(&own, "cgroup.subtree_control", &enable.join(" "))
            .map_err(|e| format!("cannot enable {} for a child cgroup: {e}", want.join(", ")))?;
        let dir = own.join(name);
        add(&mut cg, dir.clone())?;
        if let Some(b) = w.memory {
            write(&dir, "memory.max", &b.to_string())?;
            if dir.join("memory.swap.max").exists() {
                write(&dir, "memory.swap.max", "0")?;
            }
        }
        if let Some(n) = w.pids {
            write(&dir, "pids.max", &n.to_string())?;
        }
        if let Some(m) = w.cpu {
            write(&dir, "cpu.max", &format!("{} 100000", m * 100))?;
        }
        return Ok(cg);
    }
    // cgroup v1 (or hybrid): one directory per hierarchy.
    for (ctrl, needed) in [
        ("memory", w.memory.is_some()),
        ("pids", w.pids.is_some()),
        ("cpu", w.cpu.is_some()),
    ] {
        if !needed {
            continue;
        }
        let mount = root.join(ctrl);
        if !mount.join("cgroup.procs").exists() {
            return Err(format!("no cgroup v1 {ctrl} hierarchy at {}", mount.display()));
        }
        let own = own_path(ctrl).ok_or_else(|| format!("no {ctrl} entry in /proc/self/cgroup"))?;
        let dir = mount.join(own).join(name);
        add(&mut cg, dir.clone())?;
        match ctrl {
            "memory" => {
                let b = w.memory.unwrap_or_default().to_string();
                write(&dir, "memory.limit_in_bytes", &b)?;
                // Without swap accounting (swapaccount=0) the kernel has no
                // memsw files; then swap is not bounded (docs/exec.md).
                if dir.join("memory.memsw.limit_in_bytes").exists() {
                    write(&dir, "memory.memsw.limit_in_bytes", &b)?;
                }
            }
            "pids" => write(&dir, "pids.max", &w.pids.unwrap_or_default().to_string())?,
            _ => {
                write(&dir, "cpu.cfs_period_us", "100000")?;
                write(&dir, "cpu.cfs_quota_us", &(w.cpu.unwrap_or_default() * 100).to_string())?;
            }
        }
    }
    Ok(cg)
}

/// The bubblewrap version (major, minor), from `bwrap --version`.
pub fn bwrap_version(bwrap: &Path) -> Option<(u32, u32)> {
    let out = std::process::Command::new(bwrap).arg("--version").output().ok()?;
    parse_version(&String::from_utf8_lossy(&out.stdout))
}

fn parse_version(s: &str) -> Option<(u32, u32)> {
    let v = s.split_whitespace().nth(1)?;
    let mut it = v.split('.');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Mount a tmpfs of `bytes` at `dir` in a new private mount namespace of the
/// calling process (between fork and exec; root only).
pub fn private_tmpfs_in_child(dir: &CString, opts: &CString) -> std::io::Result<()> {
    // SAFETY: unshare and mount with valid C strings.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let cstr = |b: &'static [u8]| b.as_ptr().cast::<libc::c_char>();
        if libc::mount(
            cstr(b"none\0"),
            cstr(b"/\0"),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        if libc::mount(
            cstr(b"tmpfs\0"),
            dir.as_ptr(),
            cstr(b"tmpfs\0"),
            libc::MS_NOSUID | libc::MS_NODEV,
            opts.as_ptr().cast(),
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_launcher_grants() {
        let w = wanted([
            "limit:set:memory=512MiB",
            "limit:set:cpu=1500m",
            "limit:set:pids=64",
            "limit:set:nofile=77",
            "limit:set:tmpfs=8MiB",
            "env:inject:X",
        ]);
        assert_eq!(w.memory, Some(512 << 20));
        assert_eq!(w.cpu, Some(1500));
        assert_eq!(w.pids, Some(64));
        assert_eq!(w.nofile, Some(77));
        assert_eq!(w.tmpfs, Some(8 << 20));
        assert_eq!(w.grants.len(), 5);
        assert_eq!(wanted(["limit:set:cpu=2"]).cpu, Some(2000));
        assert!(!wanted(["limit:set:nofile=77"]).needs_cgroup());
    }

    #[test]
    fn systemd_run_properties() {
        let w = wanted(["limit:set:memory=64MiB", "limit:set:cpu=1m", "limit:set:pids=16"]);
        let p = systemd_run_prefix(&w, Path::new("/usr/bin/systemd-run"), None);
        assert_eq!(
            p.join(" "),
            "/usr/bin/systemd-run --scope --quiet --collect --user -p MemoryMax=67108864 -p MemorySwapMax=0 -p TasksMax=16 -p CPUQuota=1% --"
        );
        let p = systemd_run_prefix(&wanted(["limit:set:cpu=2"]), Path::new("/s"), Some((65534, 65534)));
        assert_eq!(
            p.join(" "),
            "/s --scope --quiet --collect --uid=65534 --gid=65534 -p CPUQuota=200% --"
        );
    }

    #[test]
    fn bwrap_versions() {
        assert_eq!(parse_version("bubblewrap 0.8.0\n"), Some((0, 8)));
        assert_eq!(parse_version("bubblewrap 0.11.0"), Some((0, 11)));
        assert_eq!(parse_version("nonsense"), None);
    }
}
