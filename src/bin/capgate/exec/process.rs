//! Process plumbing for the launcher: privilege drop, signal forwarding,
//! waiting, and finding programs on the host.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

/// The child that signals are forwarded to.
static CHILD: AtomicI32 = AtomicI32::new(0);
/// Set once a terminating signal arrived.
static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
    SIGNALLED.store(true, Ordering::SeqCst);
}

/// Forward SIGTERM, SIGINT and SIGHUP to `child`; if it is still alive
/// `grace` after the first one, SIGKILL it.
pub fn forward_signals(child: &Child, grace: Duration) {
    CHILD.store(child.id() as i32, Ordering::SeqCst);
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: installing a handler that only calls async-signal-safe functions.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = forward as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
    let pid = child.id() as i32;
    std::thread::spawn(move || loop {
        if SIGNALLED.load(Ordering::SeqCst) {
            std::thread::sleep(grace);
            if CHILD.load(Ordering::SeqCst) == pid {
                // SAFETY: plain kill of our own child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    });
}

/// Wait for the child; returns its exit code, or 128 + signal.
pub fn wait(child: &mut Child) -> io::Result<u8> {
    wait_status(child).map(exit_code)
}

/// Wait for the child; returns its wait status.
pub fn wait_status(child: &mut Child) -> io::Result<ExitStatus> {
    let status = child.wait()?;
    CHILD.store(0, Ordering::SeqCst);
    Ok(status)
}

/// Exit code of a status: the code, or 128 + signal.
pub fn exit_code(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => c as u8,
        (None, Some(s)) => (128 + s) as u8,
        _ => 125,
    }
}

/// True when running as host root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Make `cmd` drop to `uid:gid` (no supplementary groups, no NSS lookups)
/// before exec, when running as root, and die with the launcher.
pub fn unprivileged(cmd: &mut Command, ids: Option<(u32, u32)>) {
    in_netns(cmd, ids, None)
}

/// Like [`unprivileged`], first entering the network namespace open at `netns`.
pub fn in_netns(cmd: &mut Command, ids: Option<(u32, u32)>, netns: Option<i32>) {
    // SAFETY: the closure only calls async-signal-safe libc functions.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            if let Some(fd) = netns {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if let Some((uid, gid)) = ids {
                if libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::setuid(0) == 0 {
                    return Err(io::Error::new(io::ErrorKind::PermissionDenied, "could not drop root"));
                }
            }
            Ok(())
        });
    }
}

/// Find a program in the launcher's PATH (and the sbin directories, where
/// Debian puts squid and nft).
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    for extra in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        dirs.push(PathBuf::from(extra));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
