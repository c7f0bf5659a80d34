"""Escape attempts, run inside a capgate sandbox by tools/escape-suite.py.

Usage (inside the sandbox): python3 probes.py ATTEMPT [ARGS...]
Prints one line "RESULT escaped|blocked DETAIL". Every probe is harmless
where it succeeds: a file it manages to create is deleted at once, sysctl
and /sys files are opened without writing, nothing is sent anywhere but the
test's own loopback listeners (and, through the proxy, addresses the proxy
must refuse before connecting).
"""
import ctypes
import ctypes.util
import errno
import os
import resource
import socket
import sys

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
ARGS = sys.argv[2:]


def result(escaped, detail):
    print("RESULT", "escaped" if escaped else "blocked", str(detail).replace("\n", " ")[:200], flush=True)
    sys.exit(0)


def err(e):
    return f"{type(e).__name__}: {e}"


def try_read(path):
    try:
        with open(path, "rb") as f:
            data = f.read(64)
        result(True, f"read {path}: {data!r}")
    except OSError as e:
        result(False, err(e))


def try_create(path):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        result(False, err(e))
    os.close(fd)
    os.unlink(path)
    result(True, f"created (and deleted) {path}")


def try_open_for_write(path):
    # O_WRONLY without O_TRUNC, closed without writing: nothing changes.
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as e:
        result(False, err(e))
    os.close(fd)
    result(True, f"opened {path} for writing")


def try_tcp(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect((host, int(port)))
        result(True, f"connected to {host}:{port}")
    except OSError as e:
        result(False, err(e))


def proxy_get(url, method="GET", target=None):
    """Send one request to the sandbox's HTTP proxy; 200 means escaped."""
    proxy = os.environ.get("HTTP_PROXY", "")
    if not proxy:
        result(False, "no proxy configured")
    hostport = proxy.split("//", 1)[1].rstrip("/")
    host, port = hostport.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    line = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n" if method == "CONNECT" else f"GET {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    s.sendall(line.encode())
    reply = s.recv(200).decode("latin-1")
    status = reply.split(" ", 2)[1] if reply.startswith("HTTP/") else "none"
    # 403 is the allowlist's refusal; anything else means the proxy let it through.
    result(status != "403", f"proxy answered {status} for {method} {url or target}")


def nested_userns():
    CLONE_NEWUSER = 0x10000000
    rc = libc.unshare(CLONE_NEWUSER)
    result(rc == 0, "unshare(CLONE_NEWUSER) " + ("succeeded" if rc == 0 else os.strerror(ctypes.get_errno())))


def ptrace_host(pid):
    PTRACE_ATTACH = 16
    rc = libc.ptrace(PTRACE_ATTACH, int(pid), None, None)
    if rc == 0:
        libc.ptrace(17, int(pid), None, None)  # PTRACE_DETACH
        result(True, f"attached to host pid {pid}")
    try:
        os.kill(int(pid), 0)
        result(True, f"host pid {pid} is signalable")
    except OSError as e:
        result(False, f"ptrace: {os.strerror(ctypes.get_errno())}; kill: {err(e)}")


def see_host_processes(pid):
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    if os.path.exists(f"/proc/{pid}") and pid in pids and int(pid) > 10:
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
            if b"escape-suite" in cmd or b"python" in cmd:
                result(True, f"sees host pid {pid}")
        except OSError:
            pass
    result(len(pids) > 20, f"{len(pids)} pids visible")


def tiocsti():
    import fcntl
    import termios
    for target in ["/dev/tty", 0, 1, 2]:
        try:
            fd = os.open(target, os.O_RDWR) if isinstance(target, str) else target
            fcntl.ioctl(fd, termios.TIOCSTI, b"#")
            result(True, f"TIOCSTI on {target}")
        except OSError:
            continue
    result(False, "no terminal accepts TIOCSTI")


def mount_tmpfs():
    rc = libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)
    result(rc == 0, "mount " + ("succeeded" if rc == 0 else os.strerror(ctypes.get_errno())))


def load_module():
    SYS_finit_module = 313
    fd = os.open("/dev/null", os.O_RDONLY)
    rc = libc.syscall(SYS_finit_module, fd, b"", 0)
    result(rc == 0, "finit_module " + ("succeeded" if rc == 0 else os.strerror(ctypes.get_errno())))


def set_hostname():
    rc = libc.sethostname(b"capgate-pwned", 13)
    result(rc == 0, "sethostname " + ("succeeded" if rc == 0 else os.strerror(ctypes.get_errno())))


def raise_rlimit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard + 1, hard + 1))
        result(True, f"raised NOFILE hard limit above {hard}")
    except (ValueError, OSError) as e:
        result(False, err(e))


def env_canary(name):
    if name in os.environ:
        result(True, f"{name} is visible")
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if name.encode() in open(f"/proc/{p}/environ", "rb").read():
                    result(True, f"{name} in /proc/{p}/environ")
            except OSError:
                pass
    result(False, f"{name} not visible")


def secret_in_cmdline(secret):
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if secret.encode() in open(f"/proc/{p}/cmdline", "rb").read():
                    result(True, f"secret in /proc/{p}/cmdline")
            except OSError:
                pass
    result(False, "no argv holds the secret")


def abstract_socket(name):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect("\0" + name)
        result(True, "connected to the host's abstract socket")
    except OSError as e:
        result(False, err(e))


def unix_socket(*paths):
    for p in paths:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(p)
            result(True, f"connected to {p}")
        except OSError:
            pass
    result(False, "no container-runtime socket reachable")


def setuid_root():
    try:
        os.setuid(0)
        result(os.getuid() == 0, f"uid now {os.getuid()}")
    except OSError as e:
        result(False, err(e))


def chroot():
    try:
        os.chroot("/tmp")
        result(True, "chroot succeeded")
    except OSError as e:
        result(False, err(e))


def raw_disk():
    for d in ["/dev/mem", "/dev/kmem", "/dev/port", "/dev/sda", "/dev/vda", "/dev/nvme0n1"]:
        try:
            fd = os.open(d, os.O_RDONLY)
            os.close(fd)
            result(True, f"opened {d}")
        except OSError:
            pass
    result(False, "no raw device can be opened")


def udp_send(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(b"capgate-escape-udp", (host, int(port)))
        # The harness decides from its listener; report what the kernel said.
        result(False, "sent (the harness checks whether it arrived)")
    except OSError as e:
        result(False, err(e))


def dns():
    try:
        infos = socket.getaddrinfo("example.com", 80)
        result(True, f"resolved example.com: {infos[0][4]}")
    except OSError as e:
        result(False, err(e))


def wait_forever(marker):
    print("READY", marker, flush=True)
    import time
    time.sleep(60)
    result(True, "still running after 60 s")


PROBES = {
    "read-outside": lambda: try_read(ARGS[0]),
    "read-symlink": lambda: try_read(ARGS[0]),
    "read-proc1-root": lambda: try_read("/proc/1/root" + ARGS[0]),
    "read-shadow": lambda: try_read("/etc/shadow"),
    "read-host-environ": lambda: try_read(f"/proc/{ARGS[0]}/environ"),
    "write-ro-bind": lambda: try_create(ARGS[0]),
    "write-usr": lambda: try_create("/usr/capgate-escape-probe"),
    "create-outside": lambda: try_create(ARGS[0]),
    "write-sys": lambda: try_open_for_write("/sys/kernel/uevent_helper"),
    "write-proc-sys": lambda: try_open_for_write("/proc/sys/kernel/core_pattern"),
    "tcp-host-loopback": lambda: try_tcp("127.0.0.1", ARGS[0]),
    "tcp-ipv6-loopback": lambda: try_tcp("::1", ARGS[0]),
    "tcp-public": lambda: try_tcp("192.0.2.1", 80),
    "udp-host-loopback": lambda: udp_send("127.0.0.1", ARGS[0]),
    "dns": dns,
    "proxy-ip-literal": lambda: proxy_get(f"http://127.0.0.1:{ARGS[0]}/"),
    "proxy-wrong-port": lambda: proxy_get(f"http://localhost:{ARGS[0]}/"),
    "proxy-wrong-host": lambda: proxy_get(f"http://denied.invalid:{ARGS[0]}/"),
    "proxy-connect-other-port": lambda: proxy_get(None, "CONNECT", f"localhost:{ARGS[0]}"),
    "proxy-metadata": lambda: proxy_get("http://169.254.169.254/latest/meta-data/"),
    "proxy-rfc1918": lambda: proxy_get("http://10.0.0.1/"),
    "proxy-cgnat": lambda: proxy_get("http://100.64.0.1/"),
    "proxy-loopback-via-star": lambda: proxy_get("http://127.0.0.1/"),
    "env-canary": lambda: env_canary(ARGS[0]),
    # The harness passes the secret reversed, so this probe's own argv does not hold it.
    "secret-in-argv": lambda: secret_in_cmdline(ARGS[0][::-1]),
    "nested-userns": nested_userns,
    "ptrace-host": lambda: ptrace_host(ARGS[0]),
    "see-host-processes": lambda: see_host_processes(ARGS[0]),
    "tiocsti": tiocsti,
    "mount": mount_tmpfs,
    "load-module": load_module,
    "set-hostname": set_hostname,
    "raise-rlimit": raise_rlimit,
    "abstract-socket": lambda: abstract_socket(ARGS[0]),
    "runtime-sockets": lambda: unix_socket("/var/run/docker.sock", "/run/docker.sock", "/run/podman/podman.sock", "/run/containerd/containerd.sock"),
    "setuid-root": setuid_root,
    "chroot": chroot,
    "raw-devices": raw_disk,
    "wait": lambda: wait_forever(ARGS[0]),
}

if __name__ == "__main__":
    PROBES[sys.argv[1]]()
