//! `capgate bridge`: runs inside the sandbox in front of the server. It
//! listens on the sandbox's own loopback (where `HTTP(S)_PROXY` points) and
//! forwards each connection to the proxy's unix socket that the launcher
//! bound in, then runs the server as its child and exits with its status.
//! As the sandbox's pid 1 it also reaps orphans.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

/// Copy both directions between two streams until either side closes.
pub fn splice<A, B>(a: A, b: B)
where
    A: io::Read + io::Write + TryCloneStream + Send + 'static,
    B: io::Read + io::Write + TryCloneStream + Send + 'static,
{
    let (Ok(mut a2), Ok(mut b2)) = (a.try_clone_stream(), b.try_clone_stream()) else {
        return;
    };
    let (mut a, mut b) = (a, b);
    let t = std::thread::spawn(move || {
        let _ = io::copy(&mut a2, &mut b);
        b.shutdown_write();
    });
    let _ = io::copy(&mut b2, &mut a);
    a.shutdown_write();
    let _ = t.join();
}

/// Streams that can be cloned and half-closed.
pub trait TryCloneStream: Sized {
    /// Another handle to the same stream.
    fn try_clone_stream(&self) -> io::Result<Self>;
    /// Shut down the write half.
    fn shutdown_write(&self);
}

impl TryCloneStream for TcpStream {
    fn try_clone_stream(&self) -> io::Result<Self> {
        self.try_clone()
    }
    fn shutdown_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

impl TryCloneStream for UnixStream {
    fn try_clone_stream(&self) -> io::Result<Self> {
        self.try_clone()
    }
    fn shutdown_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

/// Run the bridge; returns the exit code.
pub fn run(listen: &str, connect: &str, command: &[String]) -> u8 {
    let listener = match TcpListener::bind(listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("capgate bridge: cannot listen on {listen}: {e}");
            return 125;
        }
    };
    let target = connect.to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let target = target.clone();
            std::thread::spawn(move || {
                if let Ok(up) = UnixStream::connect(&target) {
                    splice(conn, up);
                }
            });
        }
    });
    let Some((prog, args)) = command.split_first() else {
        eprintln!("capgate bridge: no command");
        return 125;
    };
    let mut child = match Command::new(prog).args(args).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("capgate bridge: cannot run {prog}: {e}");
            return 127;
        }
    };
    super::process::forward_signals(&child, Duration::from_secs(5));
    let main = child.id() as i32;
    // Reap every child (we may be pid 1); return when the server exits.
    loop {
        let mut status = 0;
        // SAFETY: waitpid on any child with a valid out pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid == main {
            return if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status) as u8
            } else if libc::WIFSIGNALED(status) {
                (128 + libc::WTERMSIG(status)) as u8
            } else {
                125
            };
        }
        if pid < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return super::process::wait(&mut child).unwrap_or(125);
        }
    }
}
