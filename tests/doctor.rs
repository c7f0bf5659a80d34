//! `capgate doctor`: the JSON shape, the real probes on this host, a bwrap
//! that cannot start a sandbox, and a host without any of the tools.
//!
//! In CI (CI=true) bwrap and squid are installed by .ci/run and the tests
//! run as root, so nothing skips there; elsewhere a test whose condition
//! is missing says SKIPPED and why.

use assert_cmd::Command;
use capgate::json::{self, Json};
use std::collections::BTreeMap;
use std::path::Path;

const CHECKS: &[&str] = &[
    "bwrap",
    "cgroup",
    "netns",
    "nft",
    "podman",
    "runc",
    "squid",
    "systemd-run",
    "userns",
];
const TARGETS: &[&str] = &["bwrap", "docker", "egress-nftables", "egress-proxy", "limits", "oci"];

fn ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| v == "true")
}

fn skip(why: &str) {
    assert!(!ci(), "in CI this must not skip: {why}");
    eprintln!("SKIPPED: {why}");
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn object(j: &Json) -> &BTreeMap<String, Json> {
    match j {
        Json::Object(o) => o,
        other => panic!("not an object: {other:?}"),
    }
}

fn get<'a>(j: &'a Json, k: &str) -> &'a Json {
    object(j).get(k).unwrap_or_else(|| panic!("no `{k}` in {j:?}"))
}

fn string(j: &Json) -> &str {
    match j {
        Json::Str(s) => s,
        other => panic!("not a string: {other:?}"),
    }
}

/// Run `capgate doctor --format json` with `cmd`'s setup: (exit code, report).
fn doctor(mut cmd: Command) -> (i32, Json) {
    let out = cmd.args(["doctor", "--format", "json"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let j = json::parse(&text)
        .unwrap_or_else(|_| panic!("not JSON: {text}\n{}", String::from_utf8_lossy(&out.stderr)))
        .to_json();
    (out.status.code().unwrap(), j)
}

fn capgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_capgate"))
}

#[test]
fn json_report_has_every_check_and_target() {
    let (code, j) = doctor(capgate());
    assert_eq!(string(get(&j, "format")), "capgate.doctor/1");
    assert_eq!(string(get(&j, "capgate")), capgate::VERSION);
    assert_eq!(get(&j, "root"), &Json::Bool(is_root()));
    let checks = object(get(&j, "checks"));
    assert_eq!(checks.keys().map(String::as_str).collect::<Vec<_>>(), CHECKS);
    for (name, c) in checks {
        let status = string(get(c, "status"));
        assert!(
            ["ok", "warning", "missing", "failed"].contains(&status),
            "{name}: {status}"
        );
        assert_eq!(get(c, "ok"), &Json::Bool(matches!(status, "ok" | "warning")), "{name}");
        assert!(!string(get(c, "detail")).is_empty(), "{name}");
        // Whatever does not work says how to fix it.
        if matches!(status, "missing" | "failed") {
            assert!(!string(get(c, "fix")).is_empty(), "{name} has no fix");
        }
        for k in ["path", "version"] {
            assert!(matches!(get(c, k), Json::Str(_) | Json::Null), "{name}.{k}");
        }
    }
    let targets = object(get(&j, "targets"));
    assert_eq!(targets.keys().map(String::as_str).collect::<Vec<_>>(), TARGETS);
    let mut defaults_ready = true;
    for (name, t) in targets {
        let Json::Bool(ready) = get(t, "ready") else {
            panic!("{name}")
        };
        let Json::Array(blocking) = get(t, "blocking") else {
            panic!("{name}")
        };
        assert_eq!(*ready, blocking.is_empty(), "{name}: ready iff nothing blocks");
        for b in blocking {
            assert_eq!(
                get(&checks[string(b)], "ok"),
                &Json::Bool(false),
                "{name} blocked by {b:?}"
            );
        }
        if get(t, "default") == &Json::Bool(true) {
            defaults_ready &= *ready;
        }
    }
    assert_eq!(get(&j, "ok"), &Json::Bool(defaults_ready));
    assert_eq!(code, if defaults_ready { 0 } else { 1 });
}

#[test]
fn real_probes_on_this_host() {
    if !Path::new("/usr/bin/bwrap").exists() {
        return skip("bwrap is not installed (apt-get install bubblewrap)");
    }
    let (code, j) = doctor(capgate());
    let bwrap = get(get(&j, "checks"), "bwrap");
    assert_eq!(string(get(bwrap, "status")), "ok", "{bwrap:?}");
    assert!(string(get(bwrap, "version")).starts_with("bubblewrap "), "{bwrap:?}");
    let detail = string(get(bwrap, "detail"));
    assert!(detail.contains("ran `true`"), "{detail}");
    if is_root() {
        assert!(
            detail.contains("as uid 65534"),
            "as root the probe runs unprivileged: {detail}"
        );
    }
    let userns = get(get(&j, "checks"), "userns");
    assert!(string(get(userns, "detail")).contains("user.max_user_namespaces="));
    let cgroup = get(get(&j, "checks"), "cgroup");
    assert!(string(get(cgroup, "cgroup")).starts_with('v'), "{cgroup:?}");
    assert_eq!(get(get(get(&j, "targets"), "bwrap"), "ready"), &Json::Bool(true));
    if Path::new("/usr/sbin/squid").exists() {
        assert_eq!(code, 0);
        // The human form says the same.
        let out = capgate().arg("doctor").output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("bwrap            ready (default)"), "{text}");
        assert!(text.contains("the default launch works"), "{text}");
    } else {
        skip("squid is not installed (apt-get install squid): only the bwrap half checked");
    }
}

#[test]
fn a_bwrap_that_cannot_start_a_sandbox_is_reported_failed() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("bwrap");
    std::fs::write(
        &fake,
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'bubblewrap 0.8.0'; exit 0; fi\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = capgate();
    cmd.env("PATH", dir.path());
    let (code, j) = doctor(cmd);
    let bwrap = get(get(&j, "checks"), "bwrap");
    assert_eq!(string(get(bwrap, "status")), "failed", "{bwrap:?}");
    assert!(string(get(bwrap, "detail")).contains("No permissions to create new namespace"));
    assert!(!string(get(bwrap, "fix")).is_empty());
    assert_eq!(get(get(get(&j, "targets"), "bwrap"), "ready"), &Json::Bool(false));
    assert_eq!(code, 1, "the default target cannot run");
}

#[test]
fn missing_tools_are_reported_with_a_fix() {
    // capgate exec (and so doctor) also looks in /usr/sbin, /sbin, /usr/bin
    // and /bin, so an empty PATH is not enough: hide those directories in a
    // private mount namespace of the child (root only; never seen by the host).
    if !is_root() {
        return skip("hiding /usr/bin and /usr/sbin needs root (a private mount namespace)");
    }
    let empty = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_capgate"));
    cmd.env("PATH", empty.path());
    let hide: Vec<std::ffi::CString> = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
        .iter()
        .filter(|d| std::fs::symlink_metadata(d).is_ok_and(|m| m.is_dir()))
        .map(|d| std::ffi::CString::new(*d).unwrap())
        .collect();
    // SAFETY: only async-signal-safe syscalls in the child.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            let none = std::ptr::null();
            let root = c"/";
            let tmpfs = c"tmpfs";
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(
                    none,
                    root.as_ptr(),
                    none,
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            for d in &hide {
                if libc::mount(tmpfs.as_ptr(), d.as_ptr(), tmpfs.as_ptr(), 0, std::ptr::null()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let (code, j) = doctor(Command::from_std(cmd));
    let checks = get(&j, "checks");
    for (name, package) in [
        ("bwrap", "bubblewrap"),
        ("podman", "podman"),
        ("squid", "squid"),
        ("nft", "nftables"),
        ("runc", "runc"),
    ] {
        let c = get(checks, name);
        assert_eq!(string(get(c, "status")), "missing", "{name}: {c:?}");
        assert!(
            string(get(c, "fix")).contains(&format!("apt-get install {package}")),
            "{name}: {c:?}"
        );
    }
    let targets = get(&j, "targets");
    // runc is needed by --target oci only: docker stays blocked by podman, not by runc.
    for t in ["bwrap", "egress-proxy", "docker", "oci"] {
        assert_eq!(get(get(targets, t), "ready"), &Json::Bool(false), "{t}");
    }
    assert_eq!(code, 1);
    // The human form prints each fix under the target it blocks.
    let mut cmd2 = std::process::Command::new("unshare");
    cmd2.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs tmpfs /usr/sbin && mount -t tmpfs tmpfs /usr/bin && exec \"$0\" doctor")
        .arg(env!("CARGO_BIN_EXE_capgate"))
        .env("PATH", format!("{}:/usr/bin:/bin", empty.path().display()));
    let out = cmd2.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("bwrap            NOT READY (default)"), "{text}");
    assert!(text.contains("fix: apt-get install bubblewrap"), "{text}");
    assert!(text.contains("the default launch does NOT work here"), "{text}");
}
