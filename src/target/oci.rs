//! OCI: `oci/config.json`, an OCI runtime-spec 1.0 config for runc (and
//! crun) with capgate's envelope under the top-level `capgate` key.
//!
//! The runtime-spec requires runtimes to ignore unknown properties, so the
//! file is at once a valid bundle config and capgate's reviewable envelope
//! (see docs/targets/oci.md for the choice).
//!
//! Deny by default: pid, network (empty: loopback only), ipc, uts, mount and
//! cgroup namespaces; a read-only root (`rootfs`, relative: the bundle
//! provides it); no capabilities in any of the five sets; no new privileges;
//! the unprivileged user 65534:65534; runc's masked and read-only /proc
//! paths; a seccomp deny-list (EPERM) over the kernel interfaces a server
//! never needs (nested user namespaces, mount, keyctl, ptrace, bpf, …);
//! every device denied but runc's defaults. Mounts are sorted
//! parent-then-child over the baseline and the grants together, so a
//! read-only child inside a writable parent stays read-only (and the
//! reverse). Limits become `linux.resources` (cgroups) and `RLIMIT_NOFILE`.

use super::{common_gaps, fixed_env, write_env_entries, Envelope, Lowered, SANDBOX_USER};
use crate::artifact::Artifact;
use crate::capability::{path, Capability, ClockSource, EnvAction, IpcEndpoint, Limit};
use crate::diag::Diagnostic;
use crate::json::Writer;
use crate::manifest::Profile;
use crate::policy::{self, Mode, Policy};

/// The runtime-spec version written (runc 1.1 implements 1.0.2).
pub const OCI_VERSION: &str = "1.0.2";

/// The bundle-relative root filesystem.
pub const ROOTFS: &str = "rootfs";

/// Namespaces the container gets (a fresh, empty one of each).
const NAMESPACES: [&str; 6] = ["cgroup", "ipc", "mount", "network", "pid", "uts"];

/// runc's default masked paths (`runc spec`).
const MASKED_PATHS: [&str; 10] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/firmware",
];

/// runc's default read-only paths (`runc spec`).
const READONLY_PATHS: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Architectures the seccomp filter covers (a syscall from any other ABI is
/// killed by libseccomp's bad-arch action, so 32-bit entry points cannot
/// bypass the list).
const SECCOMP_ARCHES: [&str; 5] = [
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
];

/// Syscalls denied with EPERM: kernel administration, mounts, keyrings,
/// tracing, namespaces, BPF and io_uring (which bypasses the filter).
/// Names libseccomp does not know on an architecture are skipped by runc.
pub const SECCOMP_DENY: [&str; 57] = [
    "_sysctl",
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "init_module",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mount",
    "mount_setattr",
    "move_mount",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "query_module",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "setns",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "sysfs",
    "syslog",
    "umount",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
];

/// Left out of the deny-list when an exec grant asks for a nested sandbox.
const NESTED_SANDBOX_ALLOWED: [&str; 1] = ["unshare"];

const CLONE_NEWUSER: i64 = 0x1000_0000;
const EPERM: i64 = 1;
const ENOSYS: i64 = 38;

/// One entry of `mounts`.
struct Mount {
    dest: String,
    kind: &'static str,
    source: String,
    options: Vec<String>,
    /// A bind (merged with another bind of the same destination).
    bind: bool,
    /// Absent sources are skipped by the launcher.
    optional: bool,
}

fn bind(path: &str, mode: Mode, optional: bool) -> Mount {
    Mount {
        dest: path.into(),
        kind: "bind",
        source: path.into(),
        options: bind_options(mode),
        bind: true,
        optional,
    }
}

/// Non-recursive bind (host submounts are not carried in, so a read-only
/// bind cannot expose a writable submount), no setuid, no devices.
fn bind_options(mode: Mode) -> Vec<String> {
    ["bind", mode.as_str(), "nosuid", "nodev"].map(String::from).to_vec()
}

fn special(dest: &str, kind: &'static str, options: &[&'static str]) -> Mount {
    Mount {
        dest: dest.into(),
        kind,
        source: kind.into(),
        options: options.iter().map(|o| o.to_string()).collect(),
        bind: false,
        optional: false,
    }
}

/// All mounts, parent-then-child; one mount per destination (a bind
/// replaces a special mount; binds merge: writable if any is, optional only
/// if all are).
fn order_mounts(mut mounts: Vec<Mount>) -> Vec<Mount> {
    // A grant of exactly /dev, /proc or /tmp replaces capgate's own mount there.
    let bound: std::collections::BTreeSet<String> = mounts.iter().filter(|m| m.bind).map(|m| m.dest.clone()).collect();
    mounts.retain(|m| m.bind || !bound.contains(&m.dest));
    mounts.sort_by(|a, b| path::cmp_tree(&a.dest, &b.dest));
    mounts.dedup_by(|later, kept| {
        if later.dest != kept.dest || !later.bind || !kept.bind {
            return false;
        }
        if later.options.iter().any(|o| o == "rw") {
            kept.options = bind_options(Mode::Rw);
        }
        kept.optional &= later.optional;
        true
    });
    mounts
}

pub(super) fn lower(p: &Policy) -> Result<Lowered, Diagnostic> {
    let mut env = Envelope::new(p);

    let mut mounts = vec![
        special("/proc", "proc", &["nosuid", "noexec", "nodev"]),
        special("/dev", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
        special(
            "/dev/shm",
            "tmpfs",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
    ];
    // A grant of the host's /tmp replaces the private tmpfs.
    if !p.binds_host_tmp() {
        let mut m = special("/tmp", "tmpfs", &["nosuid", "nodev", "mode=1777"]);
        if let Some(Limit::Tmpfs(b)) = p.limits.get("tmpfs") {
            m.options.push(format!("size={b}"));
        }
        mounts.push(m);
    }
    match p.profile {
        Profile::Debian => mounts.push(bind("/usr", Mode::Ro, false)),
        Profile::Nix => mounts.push(bind("/nix/store", Mode::Ro, false)),
        Profile::None => {}
    }
    for b in p.effective_binds() {
        mounts.push(bind(&b.path, b.mode, b.optional));
    }
    // Mounts capgate adds itself never hide a declared write.
    for m in p.implicit_mounts(p.profile == Profile::Debian) {
        mounts.push(bind(m.path, m.mode, m.optional));
    }
    let mounts = order_mounts(mounts);

    // Honesty fields.
    common_gaps(p, &mut env, "oci");
    if let Some(l @ Limit::Tmpfs(_)) = p.limits.get("tmpfs") {
        if p.binds_host_tmp() {
            env.unenforced(
                &l.to_string(),
                "a grant binds the host's /tmp, so there is no private tmpfs to size",
            );
        }
    }
    let nested = p.nested_sandbox();
    for g in p.grants.values() {
        match &g.cap {
            Capability::Env(e) if e.action != EnvAction::Set => env.launcher(
                &g.canonical,
                "runc has no pass-through: the launcher adds NAME=value to process.env of its private copy of the bundle (the compiled file holds the name only)",
            ),
            Capability::Ipc(i)
                if i.endpoint == IpcEndpoint::X11
                    && p.env.get("DISPLAY").is_some_and(|e| e.action == EnvAction::Read) =>
            {
                env.launcher(&g.canonical, "the launcher adds DISPLAY to process.env of its bundle copy")
            }
            _ => {}
        }
    }
    for m in mounts.iter().filter(|m| m.optional) {
        for b in p.effective_binds().filter(|b| b.path == m.dest) {
            for g in &b.grants {
                env.launcher(
                    g,
                    "runc fails on an absent bind source: the launcher drops optional mounts whose source is absent",
                );
            }
        }
    }
    for i in p.ipc.iter().filter(|i| i.optional) {
        env.launcher(
            &i.to_string(),
            "runc fails on an absent bind source: the launcher drops optional mounts whose source is absent",
        );
    }
    if p.clock.contains(&ClockSource::Tzdata) {
        env.notes
            .push("clock:read:tzdata binds /etc/localtime (optional: the launcher drops it when absent)".into());
    }
    match p.profile {
        Profile::Debian => env.notes.push(
            "profile debian: the bundle's rootfs must hold the merged-/usr symlinks (bin, lib, lib64, sbin -> usr/...); /usr is bound read-only over it".into(),
        ),
        Profile::Nix => env.notes.push("profile nix: /nix/store is bound read-only over the bundle's rootfs".into()),
        Profile::None => {}
    }
    if p.image.is_some() {
        env.notes.push(
            "image: unpack it as the bundle's rootfs (the image's own config is not used; this file is the whole runtime config)".into(),
        );
    }
    if p.has_egress() {
        env.notes.push(format!(
            "egress: the launcher binds the proxy socket at {} and a static capgate at a path of its choice, and prefixes process.args with `capgate bridge` (DESIGN §13); the network namespace stays empty",
            super::PROXY_SOCKET
        ));
    }
    if nested {
        env.notes.push(
            "nestedSandbox: the seccomp profile leaves unshare, CLONE_NEWUSER and clone3 allowed; whether uid 65534 without capabilities may create a user namespace is up to the host kernel".into(),
        );
    }
    if p.command.is_none() {
        env.notes
            .push("the manifest has no command: process.args is empty; the launcher fills it in".into());
    }
    env.notes
        .push("limits the manifest does not set are inherited from the process that starts runc".into());
    env.finish();

    let mut w = Writer::new();
    w.begin_object();
    w.key("capgate").begin_object();
    w.key("assertions");
    policy::write_assertions(&mut w, &p.assertions);
    w.key("env");
    write_env_entries(&mut w, p);
    w.key("format").str("capgate.oci/1");
    w.key("launcher");
    policy::write_grant_notes(&mut w, &env.launcher);
    w.key("notes").strs(&env.notes);
    w.key("optional_mounts")
        .strs(mounts.iter().filter(|m| m.optional).map(|m| m.dest.as_str()));
    w.key("unenforced");
    policy::write_grant_notes(&mut w, &env.unenforced);
    w.key("widened");
    policy::write_grant_notes(&mut w, &env.widened);
    w.end();
    w.key("hostname").str("mcp");
    write_linux(&mut w, p, nested);
    w.key("mounts").begin_array();
    for m in &mounts {
        w.begin_object();
        w.key("destination").str(&m.dest);
        w.key("options").strs(&m.options);
        w.key("source").str(&m.source);
        w.key("type").str(m.kind);
        w.end();
    }
    w.end();
    w.key("ociVersion").str(OCI_VERSION);
    write_process(&mut w, p);
    w.key("root").begin_object();
    w.key("path").str(ROOTFS);
    w.key("readonly").bool(true);
    w.end();
    w.end();

    Ok(Lowered {
        artifacts: vec![Artifact::text("oci/config.json", "application/json", w.finish())],
        envelope: env,
    })
}

fn write_process(w: &mut Writer, p: &Policy) {
    let (uid, gid) = SANDBOX_USER.split_once(':').unwrap_or_default();
    w.key("process").begin_object();
    w.key("args").strs(p.command.as_deref().unwrap_or_default());
    w.key("capabilities").begin_object();
    for set in ["ambient", "bounding", "effective", "inheritable", "permitted"] {
        w.key(set).begin_array().end();
    }
    w.end();
    w.key("cwd").str("/");
    w.key("env").strs(fixed_env(p).iter().map(|(k, v)| format!("{k}={v}")));
    w.key("noNewPrivileges").bool(true);
    w.key("rlimits").begin_array();
    if let Some(Limit::Nofile(n)) = p.limits.get("nofile") {
        w.begin_object();
        w.key("hard").int(*n as i64);
        w.key("soft").int(*n as i64);
        w.key("type").str("RLIMIT_NOFILE");
        w.end();
    }
    w.end();
    w.key("terminal").bool(false);
    w.key("user").begin_object();
    w.key("gid").int(gid.parse().unwrap_or(65534));
    w.key("uid").int(uid.parse().unwrap_or(65534));
    w.end();
    w.end();
}

/// CFS period and quota for millicores: 100 ms periods, like docker's `--cpus`.
pub fn cpu_quota(millicores: u64) -> (i64, i64) {
    // The grammar's minimum (10m) keeps the quota at or above the kernel's 1 ms.
    (100_000, millicores as i64 * 100)
}

fn write_linux(w: &mut Writer, p: &Policy, nested: bool) {
    w.key("linux").begin_object();
    w.key("maskedPaths").strs(MASKED_PATHS);
    w.key("namespaces").begin_array();
    for ns in NAMESPACES {
        w.begin_object();
        w.key("type").str(ns);
        w.end();
    }
    w.end();
    w.key("readonlyPaths").strs(READONLY_PATHS);

    w.key("resources").begin_object();
    if let Some(Limit::Cpu(m)) = p.limits.get("cpu") {
        let (period, quota) = cpu_quota(*m);
        w.key("cpu").begin_object();
        w.key("period").int(period);
        w.key("quota").int(quota);
        w.end();
    }
    w.key("devices").begin_array();
    w.begin_object();
    w.key("access").str("rwm");
    w.key("allow").bool(false);
    w.end();
    w.end();
    if let Some(Limit::Memory(b)) = p.limits.get("memory") {
        // swap = limit: memory plus swap may not exceed the grant (no swap on top).
        w.key("memory").begin_object();
        w.key("limit").int(*b as i64);
        w.key("swap").int(*b as i64);
        w.end();
    }
    if let Some(Limit::Pids(n)) = p.limits.get("pids") {
        w.key("pids").begin_object();
        w.key("limit").int(*n as i64);
        w.end();
    }
    w.end();

    w.key("seccomp").begin_object();
    w.key("architectures").strs(SECCOMP_ARCHES);
    w.key("defaultAction").str("SCMP_ACT_ALLOW");
    w.key("syscalls").begin_array();
    let mut deny: Vec<&str> = SECCOMP_DENY
        .iter()
        .copied()
        .filter(|s| !(nested && NESTED_SANDBOX_ALLOWED.contains(s)))
        .collect();
    deny.sort_unstable();
    syscall_rule(w, &deny, EPERM, None);
    if !nested {
        // clone(CLONE_NEWUSER): arg 0 holds the flags on every listed ABI.
        syscall_rule(w, &["clone"], EPERM, Some((0, CLONE_NEWUSER)));
        // clone3 passes its flags in memory a filter cannot read: ENOSYS
        // makes libc fall back to clone, which the rule above checks.
        syscall_rule(w, &["clone3"], ENOSYS, None);
    }
    w.end();
    w.end();
    w.end();
}

fn syscall_rule(w: &mut Writer, names: &[&str], errno: i64, masked_arg: Option<(i64, i64)>) {
    w.begin_object();
    w.key("action").str("SCMP_ACT_ERRNO");
    if let Some((index, mask)) = masked_arg {
        w.key("args").begin_array();
        w.begin_object();
        w.key("index").int(index);
        w.key("op").str("SCMP_CMP_MASKED_EQ");
        w.key("value").int(mask);
        w.key("valueTwo").int(mask);
        w.end();
        w.end();
    }
    w.key("errnoRet").int(errno);
    w.key("names").strs(names);
    w.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quota_respects_the_kernel_minimum() {
        assert_eq!(cpu_quota(500), (100_000, 50_000));
        assert_eq!(cpu_quota(1500), (100_000, 150_000));
        assert_eq!(cpu_quota(10), (100_000, 1000));
    }

    #[test]
    fn deny_list_is_sorted_unique_and_complete() {
        let mut v = SECCOMP_DENY.to_vec();
        v.sort_unstable();
        v.dedup();
        assert_eq!(v, SECCOMP_DENY.to_vec());
        for required in [
            "unshare",
            "keyctl",
            "ptrace",
            "mount",
            "bpf",
            "perf_event_open",
            "add_key",
            "kexec_load",
            "open_by_handle_at",
        ] {
            assert!(v.contains(&required), "{required}");
        }
    }
}
