//! The egress proxy for one server: squid with the compiled allowlist on a
//! private loopback port, and a unix socket (bound into the sandbox) that
//! the launcher forwards to it. Both live exactly as long as the launcher.

use super::bridge::splice;
use super::process;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running proxy.
pub struct Proxy {
    squid: Child,
    /// The unix socket to bind into the sandbox.
    pub socket: PathBuf,
    dir: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let pid = self.squid.id() as i32;
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.squid.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.squid.kill();
        let _ = self.squid.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Connect to squid, retrying for up to 10 s while it starts.
fn connect_when_up(port: u16) -> Option<TcpStream> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return Some(s),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                eprintln!("capgate exec: the egress proxy did not start: {e}");
                return None;
            }
        }
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A private directory for the run (mode 0711: the sandbox uid may reach the socket only).
pub fn runtime_dir() -> std::io::Result<PathBuf> {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    for n in 0..100u32 {
        let dir = base.join(format!("capgate-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free runtime directory name"))
}

/// Start squid with `policy` (the compiled egress/squid.conf) and the socket
/// forwarder. `owner` is the sandbox's uid:gid (the socket is made theirs).
pub fn start(squid: &Path, policy: &[u8], owner: Option<(u32, u32)>) -> Result<Proxy, String> {
    let dir = runtime_dir().map_err(|e| format!("cannot create a runtime directory: {e}"))?;
    let cleanup = |e: String| {
        let _ = std::fs::remove_dir_all(&dir);
        e
    };
    let port = free_port().map_err(|e| cleanup(format!("no free loopback port: {e}")))?;
    std::fs::write(dir.join("allowlist.conf"), policy).map_err(|e| cleanup(e.to_string()))?;
    let conf = format!(
        "# capgate exec runtime config (private to one run)\n\
         http_port 127.0.0.1:{port}\n\
         pid_filename none\n\
         cache deny all\n\
         cache_mem 0 MB\n\
         access_log none\n\
         cache_log /dev/null\n\
         logfile_rotate 0\n\
         coredump_dir none\n\
         shutdown_lifetime 0 seconds\n\
         forwarded_for delete\n\
         via off\n\
         include {}\n",
        dir.join("allowlist.conf").display()
    );
    let conf_path = dir.join("squid.conf");
    std::fs::write(&conf_path, conf).map_err(|e| cleanup(e.to_string()))?;
    for f in ["squid.conf", "allowlist.conf"] {
        let _ = std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644));
    }
    let mut cmd = Command::new(squid);
    cmd.arg("-N")
        .arg("-f")
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    process::unprivileged(&mut cmd, None);
    let child = cmd.spawn().map_err(|e| cleanup(format!("cannot start squid: {e}")))?;

    let socket = dir.join("proxy.sock");
    let listener = UnixListener::bind(&socket).map_err(|e| cleanup(format!("cannot create the proxy socket: {e}")))?;
    if let Some((uid, gid)) = owner {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let c = CString::new(socket.as_os_str().as_bytes()).expect("no NUL in a temp path");
        // SAFETY: chown of our own freshly created socket.
        unsafe { libc::chown(c.as_ptr(), uid, gid) };
    }
    let _ = std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600));
    let proxy = Proxy {
        squid: child,
        socket,
        dir,
    };

    // No wait for squid here: it starts while the sandbox starts, and the
    // forwarder retries (bounded) until squid listens.
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                if let Some(up) = connect_when_up(port) {
                    splice(conn, up);
                }
            });
        }
    });
    Ok(proxy)
}
