#!/usr/bin/env python3
"""capgate escape suite: tries to break out of the sandboxes capgate exec runs.

Usage: python3 tools/escape-suite.py [--capgate PATH] [--runtime bwrap|docker|oci]...

Compiles two probe manifests, runs every attempt in tools/escape/probes.py under
`capgate exec` for each runtime (bwrap, docker=podman and oci=runc by default), adds the
checks only the host can make (secrets in any process's argv or in artifacts,
processes that outlive a killed launcher, traffic reaching the test's own
loopback listeners), prints a table and ends with "N passed, M failed", where a
pass is a blocked attempt. Exit status 1 if any attempt escaped or could not run.

All traffic stays on loopback; every probe is harmless where it succeeds.
Run it as root to test the real deployment (the sandbox then runs as 65534).
"""
import argparse
import http.server
import json
import os
import stat
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SECRET = "capgate-escape-secret-" + os.urandom(6).hex()
CANARY = "capgate-escape-canary-" + os.urandom(6).hex()


class Listener:
    """Loopback listeners that record whether anything reached them."""

    def __init__(self):
        self.tcp_hits = []
        self.udp_hits = []
        self.abstract_hits = []
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(16)
        self.tcp_port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp_port = self.udp.getsockname()[1]
        self.abstract_name = "capgate-escape-" + os.urandom(4).hex()
        self.abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.abstract.bind("\0" + self.abstract_name)
        self.abstract.listen(4)
        for target in (self._tcp, self._udp, self._abstract):
            threading.Thread(target=target, daemon=True).start()
        handler = type("H", (http.server.BaseHTTPRequestHandler,), {
            "do_GET": lambda h: (h.send_response(200), h.end_headers(), h.wfile.write(b"allowed page")),
            "log_message": lambda *a: None,
        })
        self.page = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.page_port = self.page.server_address[1]
        threading.Thread(target=self.page.serve_forever, daemon=True).start()

    def _tcp(self):
        while True:
            c, a = self.tcp.accept()
            self.tcp_hits.append(a)
            c.close()

    def _udp(self):
        while True:
            data, a = self.udp.recvfrom(100)
            self.udp_hits.append((a, data))

    def _abstract(self):
        while True:
            c, _ = self.abstract.accept()
            self.abstract_hits.append(1)
            c.close()


def run(cmd, env=None, timeout=120):
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def setup(capgate, scratch, listener):
    os.chmod(scratch, 0o755)
    for d in ("data", "rw", "outside", "probes"):
        os.makedirs(os.path.join(scratch, d))
    with open(os.path.join(scratch, "outside/secret.txt"), "w") as f:
        f.write("outside the binds\n")
    with open(os.path.join(scratch, "data/readme.txt"), "w") as f:
        f.write("read-only data\n")
    os.symlink("../outside/secret.txt", os.path.join(scratch, "data/link-out"))
    shutil.copy(os.path.join(HERE, "escape/probes.py"), os.path.join(scratch, "probes/probes.py"))
    for p in ("probes", "probes/probes.py", "data", "data/readme.txt", "outside", "outside/secret.txt"):
        os.chmod(os.path.join(scratch, p), 0o755 if not p.endswith((".py", ".txt")) else 0o644)
    if os.geteuid() == 0:
        os.chown(os.path.join(scratch, "rw"), 65534, 65534)
    params = {"DATA": f"{scratch}/data", "RW": f"{scratch}/rw", "PROBES": f"{scratch}/probes", "PORT": str(listener.page_port)}
    base = {
        "grammar": "1", "name": "escape-suite", "version": "1",
        "params": {k: {} for k in params},
        "command": ["/usr/bin/python3", "${PROBES}/probes.py"],
    }
    caps = ["fs:read:${DATA}/**", "fs:read,write,create,delete:${RW}/**", "fs:read:${PROBES}/**", "env:inject:CAPGATE_ESCAPE_SECRET"]
    outs = {}
    for name, net in (("named", "net:connect:localhost:${PORT}?private=allow"), ("star", "net:connect:*:80")):
        m = dict(base, capabilities=caps + [net])
        path = os.path.join(scratch, f"{name}.json")
        with open(path, "w") as f:
            json.dump(m, f)
        out = os.path.join(scratch, f"out-{name}")
        args = [capgate, "compile", path, "--out-dir", out]
        for t in ("bwrap", "docker", "egress", "oci"):
            args += ["--target", t]
        for k, v in params.items():
            args += ["--param", f"{k}={v}"]
        r = run(args)
        if r.returncode != 0:
            sys.exit(f"cannot compile the probe manifest:\n{r.stderr}")
        outs[name] = out
    return outs


def attempts(scratch, listener):
    me = str(os.getpid())
    return [
        # (name, manifest, probe args)
        ("read a host file outside the binds", "named", ["read-outside", f"{scratch}/outside/secret.txt"]),
        ("read outside via a symlink in a bind", "named", ["read-symlink", f"{scratch}/data/link-out"]),
        ("read the host through /proc/1/root", "named", ["read-proc1-root", f"{scratch}/outside/secret.txt"]),
        ("read /etc/shadow", "named", ["read-shadow"]),
        ("read a host process's environ", "named", ["read-host-environ", me]),
        ("write into a read-only bind", "named", ["write-ro-bind", f"{scratch}/data/pwned"]),
        ("write into /usr", "named", ["write-usr"]),
        ("create a file outside writable binds", "named", ["create-outside", f"{scratch}/outside/pwned"]),
        ("open /sys for writing", "named", ["write-sys"]),
        ("open /proc/sys/kernel/core_pattern for writing", "named", ["write-proc-sys"]),
        ("TCP to the host's loopback", "named", ["tcp-host-loopback", str(listener.tcp_port)]),
        ("TCP to the host's IPv6 loopback", "named", ["tcp-ipv6-loopback", str(listener.tcp_port)]),
        ("TCP to a public address without the proxy", "named", ["tcp-public"]),
        ("UDP to the host's loopback", "named", ["udp-host-loopback", str(listener.udp_port)]),
        ("DNS lookup", "named", ["dns"]),
        ("proxy: IP literal of the allowed name", "named", ["proxy-ip-literal", str(listener.page_port)]),
        ("proxy: allowed name, wrong port", "named", ["proxy-wrong-port", str(listener.tcp_port)]),
        ("proxy: another host name", "named", ["proxy-wrong-host", str(listener.page_port)]),
        ("proxy: CONNECT to another port", "named", ["proxy-connect-other-port", str(listener.tcp_port)]),
        ("proxy with *: 169.254.169.254 metadata", "star", ["proxy-metadata"]),
        ("proxy with *: RFC 1918 10.0.0.1", "star", ["proxy-rfc1918"]),
        ("proxy with *: CGNAT 100.64.0.1", "star", ["proxy-cgnat"]),
        ("proxy with *: loopback 127.0.0.1", "star", ["proxy-loopback-via-star"]),
        ("see a host env canary", "named", ["env-canary", "CAPGATE_ESCAPE_CANARY"]),
        ("find the secret in an argv inside", "named", ["secret-in-argv", SECRET[::-1]]),
        ("create a nested user namespace", "named", ["nested-userns"]),
        ("ptrace or signal a host process", "named", ["ptrace-host", me]),
        ("see host processes", "named", ["see-host-processes", me]),
        ("TIOCSTI into the terminal", "named", ["tiocsti"]),
        ("mount a filesystem", "named", ["mount"]),
        ("load a kernel module", "named", ["load-module"]),
        ("change the hostname", "named", ["set-hostname"]),
        ("raise the open-files hard limit", "named", ["raise-rlimit"]),
        ("reach the host's abstract unix socket", "named", ["abstract-socket", listener.abstract_name]),
        ("reach a container-runtime socket", "named", ["runtime-sockets"]),
        ("become uid 0", "named", ["setuid-root"]),
        ("chroot", "named", ["chroot"]),
        ("open raw memory or disk devices", "named", ["raw-devices"]),
    ]


def exec_cmd(capgate, out, runtime, probe):
    return [capgate, "exec", out, "--target", runtime, "--"] + probe


def probe_env():
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CAPGATE_ESCAPE_SECRET": SECRET,
        "CAPGATE_ESCAPE_CANARY": CANARY,
    }


def host_cmdlines():
    out = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                out[int(p)] = open(f"/proc/{p}/cmdline", "rb").read()
            except OSError:
                pass
    return out



def files_holding_secret(roots):
    """Regular files under roots (small ones) that contain SECRET. Only regular
    files are opened: a container's storage holds FIFOs (podman's userdata/ctl),
    and opening one would block until a writer appears."""
    found = []
    for root in roots:
        for dirpath, _, files in os.walk(root):
            for f in files:
                path = os.path.join(dirpath, f)
                try:
                    st = os.lstat(path)
                    if not stat.S_ISREG(st.st_mode) or st.st_size >= 4 << 20:
                        continue
                    with open(path, "rb") as fh:
                        if SECRET.encode() in fh.read():
                            found.append(path)
                except OSError:
                    pass
    return found

def host_side(capgate, outs, runtime):
    """Checks only the host can make: (name, escaped, detail)."""
    rows = []
    # Secrets in any argv on the host, while the sandbox runs.
    marker = "capgate-escape-wait-" + os.urandom(4).hex()
    p = subprocess.Popen(exec_cmd(capgate, outs["named"], runtime, ["wait", marker]), env=probe_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ready = p.stdout.readline().startswith("READY")
    leaked = [pid for pid, c in host_cmdlines().items() if SECRET.encode() in c]
    rows.append(("find the secret in any host argv", bool(leaked) or not ready,
                 f"in pids {leaked}" if leaked else ("not found" if ready else "sandbox did not start")))
    # Processes that outlive a SIGKILLed launcher.
    p.send_signal(signal.SIGKILL)
    p.wait()
    survivors = []
    for _ in range(100):  # up to 10 s: podman's reaper needs a moment
        survivors = [pid for pid, c in host_cmdlines().items() if marker.encode() in c]
        if not survivors:
            break
        time.sleep(0.1)
    rows.append(("keep running after the launcher dies", bool(survivors), f"survivors {survivors}" if survivors else "none left"))
    # Podman's container configuration holds --env values while the container
    # runs (a documented residual risk); once the launcher is gone they must be too.
    if runtime == "docker":
        leftovers = files_holding_secret(["/var/lib/containers/storage/overlay-containers",
                                          "/run/containers/storage/overlay-containers"])
        rows.append(("find the secret in podman's storage after exit", bool(leftovers),
                     f"in {leftovers[:3]}" if leftovers else "gone"))
    # runc's bundle holds --env values while the container runs (the same
    # residual risk); once the launcher is gone, the reaper removes it.
    if runtime == "oci":
        leftovers = []
        base = "/tmp"  # capgate exec's runtime dirs: the probes run without XDG_RUNTIME_DIR or TMPDIR
        for _ in range(100):  # up to 10 s: the reaper needs a moment
            dirs = [d for d in os.listdir(base) if d.startswith("capgate-") and d[8:].replace("-", "").isdigit()]
            leftovers = files_holding_secret([os.path.join(base, d) for d in dirs] + ["/run/runc"])
            if not leftovers:
                break
            time.sleep(0.1)
        rows.append(("find the secret in runc's bundle or state after exit", bool(leftovers),
                     f"in {leftovers[:3]}" if leftovers else "gone"))
    # Secrets in artifacts.
    found = [os.path.basename(p) for p in files_holding_secret(list(outs.values()))]
    rows.append(("find the secret in an artifact", bool(found), f"in {found}" if found else "not found"))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--capgate", default=shutil.which("capgate") or os.path.join(ROOT, "target/release/capgate"))
    ap.add_argument("--runtime", action="append", choices=["bwrap", "docker", "oci"])
    a = ap.parse_args()
    runtimes = a.runtime or ["bwrap", "docker", "oci"]
    if not os.path.exists(a.capgate):
        sys.exit(f"capgate not found at {a.capgate}; pass --capgate")
    listener = Listener()
    scratch = tempfile.mkdtemp(prefix="capgate-escape-")
    hostname = socket.gethostname()
    rows = []
    try:
        outs = setup(a.capgate, scratch, listener)
        for runtime in runtimes:
            for name, manifest, probe in attempts(scratch, listener):
                before_tcp, before_udp = len(listener.tcp_hits), len(listener.udp_hits)
                r = run(exec_cmd(a.capgate, outs[manifest], runtime, probe), env=probe_env())
                line = next((l for l in r.stdout.splitlines() if l.startswith("RESULT ")), None)
                if line is None:
                    rows.append((name, runtime, "ERROR", f"no result (exit {r.returncode}): {r.stderr.strip()[-160:]}"))
                    continue
                _, verdict, detail = line.split(" ", 2)
                if len(listener.tcp_hits) > before_tcp or len(listener.udp_hits) > before_udp:
                    verdict, detail = "escaped", "traffic reached a host loopback listener"
                if os.path.exists(f"{scratch}/outside/pwned") or socket.gethostname() != hostname:
                    verdict, detail = "escaped", "the host changed"
                rows.append((name, runtime, verdict.upper(), detail))
            for name, escaped, detail in host_side(a.capgate, outs, runtime):
                rows.append((name, runtime, "ESCAPED" if escaped else "BLOCKED", detail))
        if listener.abstract_hits:
            rows.append(("abstract socket listener", "all", "ESCAPED", "a connection arrived"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"{'attempt':<{width}}  {'runtime':<7}  outcome  detail")
    for name, runtime, outcome, detail in rows:
        print(f"{name:<{width}}  {runtime:<7}  {outcome:<7}  {detail}")
    passed = sum(1 for r in rows if r[2] == "BLOCKED")
    failed = len(rows) - passed
    for runtime in runtimes:
        n = sum(1 for r in rows if r[1] == runtime)
        e = sum(1 for r in rows if r[1] == runtime and r[2] != "BLOCKED")
        print(f"{runtime}: {n} attempts, {e} not blocked")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
