//! One test per security hole of the TypeScript capgate
//! (`reference/capgate-ts.md` §11 and the issue's list). Each doc comment
//! quotes the hole; each test asserts capgate's safe behaviour through the
//! library API (the artifacts' JSON, or the specific diagnostic code).

use assert_cmd::Command;
use capgate::json::{self, Json};
use capgate::{Compiled, Diagnostics, Options};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------
// Helpers

/// A grammar-1 manifest with these server-level capabilities.
fn manifest(caps: &[&str]) -> String {
    let list: Vec<String> = caps.iter().map(|c| quote(c)).collect();
    format!(
        "{{\"grammar\": \"1\", \"name\": \"hole\", \"version\": \"1.0.0\", \"command\": [\"/usr/bin/server\"], \
         \"capabilities\": [{}], \"tools\": []}}",
        list.join(", ")
    )
}

/// A grammar-0.0 (TypeScript capgate) manifest with these server capabilities.
fn compat(caps: &[&str]) -> String {
    let list: Vec<String> = caps.iter().map(|c| quote(c)).collect();
    format!(
        "{{\"name\": \"hole\", \"version\": \"0.0.4\", \"serverCapabilities\": [{}], \"tools\": []}}",
        list.join(", ")
    )
}

/// A JSON string literal.
fn quote(s: &str) -> String {
    Json::str(s).to_compact()
}

fn opts() -> Options {
    Options::default()
}

fn compile_ok(text: &str) -> Compiled {
    capgate::compile(text.as_bytes(), &opts()).unwrap_or_else(|d| panic!("rejected:\n{d}\n{text}"))
}

fn compile_err(text: &str) -> Diagnostics {
    match capgate::compile(text.as_bytes(), &opts()) {
        Ok(_) => panic!("accepted, expected a rejection:\n{text}"),
        Err(d) => d,
    }
}

fn codes(d: &Diagnostics) -> Vec<&'static str> {
    d.iter().map(|x| x.code.as_str()).collect()
}

/// The manifest is rejected with `code` (an error with a span).
fn assert_rejected(text: &str, code: &str) {
    let d = compile_err(text);
    assert!(
        d.iter()
            .any(|x| x.code.as_str() == code && x.is_error() && x.span.is_some()),
        "expected {code}, got {:?}\n{text}",
        codes(&d)
    );
}

fn rejected_v1(cap: &str, code: &str) {
    assert_rejected(&manifest(&[cap]), code);
}

fn rejected_compat(cap: &str, code: &str) {
    assert_rejected(&compat(&[cap]), code);
}

fn artifact<'a>(c: &'a Compiled, path: &str) -> &'a [u8] {
    &c.artifact(path).unwrap_or_else(|| panic!("no {path}")).bytes
}

fn text(c: &Compiled, path: &str) -> String {
    String::from_utf8(artifact(c, path).to_vec()).unwrap()
}

fn parsed(c: &Compiled, path: &str) -> Json {
    json::parse(&text(c, path)).unwrap().to_json()
}

fn field<'a>(j: &'a Json, k: &str) -> &'a Json {
    match j {
        Json::Object(m) => m.get(k).unwrap_or_else(|| panic!("no `{k}` in {j:?}")),
        _ => panic!("not an object: {j:?}"),
    }
}

fn strs(j: &Json) -> Vec<String> {
    match j {
        Json::Array(a) => a
            .iter()
            .map(|x| match x {
                Json::Str(s) => s.clone(),
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

fn bwrap_argv(c: &Compiled) -> Vec<String> {
    strs(field(&parsed(c, "bwrap/argv.json"), "argv"))
}

fn docker_flags(c: &Compiled) -> Vec<String> {
    strs(field(&parsed(c, "docker/argv.json"), "flags"))
}

/// `(flag, source, dest)` of every bind in a bwrap argv, in order.
fn binds(argv: &[String]) -> Vec<(String, String, String)> {
    let end = argv.iter().position(|a| a == "--").unwrap_or(argv.len());
    let mut out = Vec::new();
    let mut i = 0;
    while i < end {
        if argv[i].starts_with("--") && argv[i].contains("bind") && !argv[i].contains("data") {
            out.push((argv[i].clone(), argv[i + 1].clone(), argv[i + 2].clone()));
            i += 3;
        } else {
            i += 1;
        }
    }
    out
}

/// The position of the option sequence `seq` in `argv`.
fn position(argv: &[String], seq: &[&str]) -> Option<usize> {
    argv.windows(seq.len())
        .position(|w| w.iter().zip(seq).all(|(a, b)| a == b))
}

/// Docker `-v` values.
fn volumes(flags: &[String]) -> Vec<String> {
    flags
        .windows(2)
        .filter(|w| w[0] == "-v" || w[0] == "--volume")
        .map(|w| w[1].clone())
        .collect()
}

/// `(grant, reason)` pairs of an envelope list (`unenforced`, `launcher`, `widened`).
fn gaps(c: &Compiled, path: &str, list: &str) -> Vec<(String, String)> {
    match field(&parsed(c, path), list) {
        Json::Array(items) => items
            .iter()
            .map(|i| match (field(i, "grant"), field(i, "reason")) {
                (Json::Str(g), Json::Str(r)) => (g.clone(), r.clone()),
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------
// A1. fs paths are never normalized or constrained

/// §11.A1 "traversal": "`fs:read,write:/workspace/..` passes the grammar (it
/// starts with `/`). `dirForBind` returns it unchanged because the segment
/// starts with `.`, so bwrap gets `--bind /workspace/.. /workspace/..`, which
/// is host `/` read-write."
#[test]
fn traversal_dotdot_is_rejected() {
    for cap in [
        "fs:read,write:/workspace/..",
        "fs:read:/workspace/../etc",
        "fs:read:/workspace/../../**",
        "fs:read:/a/./b",
        "fs:read:/a/.",
        "fs:read://a",
        "fs:read:/a//b",
        "fs:read:/a/",
        "exec:spawn:/usr/bin/../../bin/sh",
        "ipc:connect:unix:/srv/mcp/../../run/docker.sock",
    ] {
        rejected_v1(cap, "CG0211");
    }
    // The TypeScript manifest form is rejected too.
    rejected_compat("fs:read,write:/workspace/..", "CG0211");
    // Relative and home paths are not guessed at.
    rejected_v1("fs:read:workspace", "CG0210");
    rejected_v1("fs:read:~/.ssh", "CG0210");
    rejected_v1("fs:read:$HOME/x", "CG0210");
}

/// §11.A1: "`fs:read,write:/` and `fs:write:/**` map to `/`. There is no
/// denylist for `/`, `/proc`, `/sys`, `/dev`, `/etc`, `/root`, `/home`,
/// `/var/run/docker.sock`, or `~/.ssh`."
#[test]
fn root_and_system_paths_need_sensitive_allow() {
    for cap in [
        "fs:read,write:/",
        "fs:write:/**",
        "fs:read:/*",
        "fs:read:/etc",
        "fs:read:/etc/ssl/**",
        "fs:read:/proc",
        "fs:read:/proc/1/root",
        "fs:read:/sys/**",
        "fs:read:/dev",
        "fs:read:/root",
        "fs:read:/home",
        "fs:read:/home/user/**",
        "fs:read:/var",
        "fs:read:/var/run/docker.sock",
        "fs:read:/run/user/1000",
        "fs:read:/srv/user/.ssh/**",
        "fs:read:/srv/user/.aws",
        "fs:read:/srv/user/.kube/config",
        "fs:read:/srv/user/.gnupg",
    ] {
        rejected_v1(cap, "CG0212");
    }
    // An explicit opt-in is possible, and is visible in the canonical grant.
    let c = compile_ok(&manifest(&["fs:read:/etc/ssl/certs?sensitive=allow"]));
    assert!(text(&c, "policy.json").contains("fs:read:/etc/ssl/certs?sensitive=allow"));
}

/// §11.A1: "User binds are emitted **after** `--proc /proc` and `--tmpfs
/// /tmp`, so a broad bind shadows them."
#[test]
fn broad_binds_never_shadow_proc_dev_or_tmp() {
    let c = compile_ok(&manifest(&[
        "fs:read:/**?sensitive=allow",
        "fs:read,write:/srv/mcp/data/**",
    ]));
    let argv = bwrap_argv(&c);
    let root = position(&argv, &["--ro-bind", "/", "/"]).expect("root bind");
    for later in [
        &["--proc", "/proc"][..],
        &["--dev", "/dev"][..],
        &["--tmpfs", "/tmp"][..],
        &["--ro-bind", "/usr", "/usr"][..],
        &["--bind", "/srv/mcp/data", "/srv/mcp/data"][..],
    ] {
        let at = position(&argv, later).unwrap_or_else(|| panic!("{later:?} missing in {argv:?}"));
        assert!(root < at, "{later:?} comes before the / bind and is shadowed: {argv:?}");
    }
}

// ---------------------------------------------------------------------------
// A2. dotted names

/// §11.A2 "dotted names": "A last segment containing a `.` is treated as a
/// file, and the parent is bound with the same write flag:
/// `/var/lib/memory.json` gives `/var/lib` read-write, `/data/app.db` gives
/// `/data`, `/opt/app.d` gives `/opt`, `/srv/site.example.com/**` gives
/// `/srv`. **No note is emitted** for non-glob paths."
#[test]
fn dotted_names_bind_the_path_itself_not_its_parent() {
    let c = compile_ok(&manifest(&[
        "fs:read,write:/var/lib/memory.json",
        "fs:read,write:/data/app.db",
        "fs:read:/opt/app.d",
        "fs:read:/srv/site.example.com/**",
    ]));
    let argv = bwrap_argv(&c);
    let b = binds(&argv);
    let sources: Vec<&str> = b.iter().map(|(_, s, _)| s.as_str()).collect();
    for (flag, path) in [
        ("--bind", "/var/lib/memory.json"),
        ("--bind", "/data/app.db"),
        ("--ro-bind", "/opt/app.d"),
        ("--ro-bind", "/srv/site.example.com"),
    ] {
        assert!(
            b.iter().any(|(f, s, d)| f == flag && s == path && d == path),
            "{flag} {path} missing: {b:?}"
        );
    }
    for parent in ["/var/lib", "/var", "/data", "/opt", "/srv"] {
        assert!(!sources.contains(&parent), "parent {parent} is bound: {b:?}");
    }
    let v = volumes(&docker_flags(&c));
    assert!(
        v.contains(&"/var/lib/memory.json:/var/lib/memory.json:rw".to_string()),
        "{v:?}"
    );
    assert!(v.contains(&"/opt/app.d:/opt/app.d:ro".to_string()), "{v:?}");
    for parent in ["/var/lib:", "/data:", "/opt:", "/srv:"] {
        assert!(!v.iter().any(|x| x.starts_with(parent)), "{v:?}");
    }
    // No widening to another path; what a rw bind adds (create, delete) is reported.
    let widened = gaps(&c, "bwrap/argv.json", "widened");
    assert!(!widened.iter().any(|(g, _)| g.starts_with("fs:read:")), "{widened:?}");
    assert!(
        widened
            .iter()
            .any(|(g, r)| g == "fs:read,write:/var/lib/memory.json" && r.contains("create")),
        "{widened:?}"
    );
}

// ---------------------------------------------------------------------------
// A3. parent widening

/// §11.A3 "parent widening": "`fs:read:/workspace/**` plus
/// `fs:write:/workspace/secret/**` gives **`/workspace/**` with read and
/// write**. The write on a subdirectory widens the whole parent." Also
/// "`fs:read:/workspace/*` plus `fs:write:/workspace/a/b/c` gives
/// `/workspace/*` with read and write".
#[test]
fn child_write_never_widens_the_parent() {
    let c = compile_ok(&manifest(&[
        "fs:read:/workspace/**",
        "fs:read,write:/workspace/secret/**",
    ]));
    let argv = bwrap_argv(&c);
    let parent = position(&argv, &["--ro-bind", "/workspace", "/workspace"]).expect("parent stays read-only");
    let child = position(&argv, &["--bind", "/workspace/secret", "/workspace/secret"]).expect("child rw");
    assert!(parent < child, "parent-then-child order");
    assert!(position(&argv, &["--bind", "/workspace", "/workspace"]).is_none());
    let v = volumes(&docker_flags(&c));
    assert!(v.contains(&"/workspace:/workspace:ro".to_string()), "{v:?}");
    assert!(
        v.contains(&"/workspace/secret:/workspace/secret:rw".to_string()),
        "{v:?}"
    );

    let c = compile_ok(&manifest(&["fs:read:/workspace/*", "fs:write:/workspace/a/b/c"]));
    let argv = bwrap_argv(&c);
    assert!(
        position(&argv, &["--ro-bind", "/workspace", "/workspace"]).is_some(),
        "{argv:?}"
    );
    assert!(
        position(&argv, &["--bind", "/workspace/a/b/c", "/workspace/a/b/c"]).is_some(),
        "{argv:?}"
    );
    assert!(
        position(&argv, &["--bind", "/workspace", "/workspace"]).is_none(),
        "{argv:?}"
    );
    // `/*` must be bound as the directory: that widening is reported.
    let widened = gaps(&c, "bwrap/argv.json", "widened");
    assert!(widened.iter().any(|(g, _)| g == "fs:read:/workspace/*"), "{widened:?}");

    // The reverse: a read-only child inside a writable parent stays read-only.
    let c = compile_ok(&manifest(&[
        "fs:read,write:/workspace/**",
        "fs:read:/workspace/.git/**",
    ]));
    let argv = bwrap_argv(&c);
    let parent = position(&argv, &["--bind", "/workspace", "/workspace"]).unwrap();
    let child = position(&argv, &["--ro-bind", "/workspace/.git", "/workspace/.git"]).unwrap();
    assert!(parent < child);
}

// ---------------------------------------------------------------------------
// A4. docker bridge

/// §11.A4 "docker bridge": "It emits no `--network`, so Docker uses the
/// default bridge, which reaches the internet, RFC1918 and
/// `169.254.169.254`. `egress[]` is advisory only."
#[test]
fn docker_with_egress_keeps_network_none() {
    for caps in [
        &["net:connect:api.github.com:443"][..],
        &["net:connect:*:*?private=allow"][..],
        &["net:connect:10.0.0.0/8:*", "net:listen:*:8080"][..],
        &[][..],
    ] {
        let c = compile_ok(&manifest(caps));
        let flags = docker_flags(&c);
        let networks: Vec<&String> = flags
            .windows(2)
            .filter(|w| w[0] == "--network")
            .map(|w| &w[1])
            .collect();
        assert_eq!(networks, ["none"], "{caps:?}: {flags:?}");
        assert!(!flags
            .iter()
            .any(|f| f.starts_with("--network=") || f == "--net" || f.starts_with("--net=")));
        assert!(!flags.iter().any(|f| f == "host" || f == "bridge"), "{flags:?}");
        let podman = strs(field(&parsed(&c, "docker/argv.json"), "podman_flags"));
        assert!(!podman.iter().any(|f| f.contains("network")), "{podman:?}");
        // bwrap never shares the host network either.
        assert!(!bwrap_argv(&c).iter().any(|a| a == "--share-net"));
    }
    // With egress, the grant is the launcher's job (proxy socket), and the
    // proxy is wired in through the environment.
    let c = compile_ok(&manifest(&["net:connect:api.github.com:443"]));
    let launcher = gaps(&c, "docker/argv.json", "launcher");
    assert!(
        launcher.iter().any(|(g, _)| g == "net:connect:api.github.com:443"),
        "{launcher:?}"
    );
    assert!(docker_flags(&c).iter().any(|f| f.starts_with("HTTPS_PROXY=")));
}

// ---------------------------------------------------------------------------
// A5. nestedSandbox scope

/// §11.A5 "nestedSandbox scope": "`nestedSandbox` can be set from any
/// capability. For example `fs:read:/workspace?nestedSandbox=1` works. In
/// bwrap the flag removes `--unshare-user-try --unshare-pid --unshare-ipc`
/// for the whole server and adds `--dev /dev`." And §11.B: "`nestedSandbox=yes`
/// silently becomes `false`."
#[test]
fn nested_sandbox_only_on_exec_and_keeps_every_namespace() {
    for cap in [
        "fs:read:/workspace?nestedSandbox=1",
        "fs:read:/workspace?nestedSandbox=true",
        "net:connect:api.example.com:443?nestedSandbox=true",
        "env:read:LOG_LEVEL?nestedSandbox=true",
        "ipc:connect:x11?nestedSandbox=true",
        "clock:read:system?nestedSandbox=true",
        "exec:spawn:chromium?nestedSandbox=yes",
        "exec:spawn:chromium?nestedSandbox=1",
    ] {
        rejected_v1(cap, "CG0205");
    }
    rejected_compat("fs:read:/workspace?nestedSandbox=1", "CG0205");
    rejected_compat("exec:spawn:chromium?nestedSandbox=yes", "CG0205");

    let plain = compile_ok(&manifest(&["exec:spawn:chromium"]));
    let nested = compile_ok(&manifest(&["exec:spawn:chromium?nestedSandbox=true"]));
    let (a, b) = (bwrap_argv(&plain), bwrap_argv(&nested));
    // Every namespace stays unshared; only --disable-userns is left out.
    for must in [
        "--unshare-all",
        "--unshare-user",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
    ] {
        assert!(b.iter().any(|x| x == must), "{must} missing with nestedSandbox: {b:?}");
    }
    assert!(a.iter().any(|x| x == "--disable-userns"));
    assert!(!b.iter().any(|x| x == "--disable-userns"));
    let diff: Vec<&String> = a.iter().filter(|x| !b.contains(x)).collect();
    assert_eq!(
        diff,
        ["--disable-userns"],
        "nestedSandbox relaxes more than user namespaces"
    );
    assert_eq!(a.len(), b.len() + 1);
    // It is flagged, and docker says it cannot honour it.
    assert!(nested.warnings.iter().any(|w| w.code.as_str() == "CG0356"));
    let unenforced = gaps(&nested, "docker/argv.json", "unenforced");
    assert!(unenforced
        .iter()
        .any(|(g, r)| g == "exec:spawn:chromium?nestedSandbox=true" && r.contains("nested")));
}

// ---------------------------------------------------------------------------
// A6. no --cap-drop ALL

/// §11.A6 "no --cap-drop ALL": "bwrap argv has no `--cap-drop ALL`,
/// `--uid` or `--gid` ... When bwrap runs as root, the child keeps its
/// capabilities: `CapEff=000001fffeffffff`."
#[test]
fn bwrap_and_docker_drop_all_capabilities() {
    for caps in [
        &[][..],
        &["exec:spawn:chromium?nestedSandbox=true", "ipc:connect:x11"][..],
    ] {
        let c = compile_ok(&manifest(caps));
        let argv = bwrap_argv(&c);
        assert!(position(&argv, &["--cap-drop", "ALL"]).is_some(), "{argv:?}");
        assert!(!argv.iter().any(|a| a == "--cap-add"), "{argv:?}");
        assert!(position(&argv, &["--unshare-all"]).is_some());
        assert!(position(&argv, &["--unshare-user"]).is_some());
        // args0 (what `bwrap --args FD` reads) says the same.
        let args0 = artifact(&c, "bwrap/args0");
        assert!(
            args0.windows(14).any(|w| w == b"--cap-drop\0ALL"),
            "args0 lacks --cap-drop ALL"
        );
        let flags = docker_flags(&c);
        assert!(position(&flags, &["--cap-drop", "ALL"]).is_some(), "{flags:?}");
        assert!(position(&flags, &["--security-opt", "no-new-privileges"]).is_some());
        assert!(position(&flags, &["--user", "65534:65534"]).is_some());
        assert!(!flags.iter().any(|f| f == "--cap-add" || f == "--privileged"));
    }
}

// ---------------------------------------------------------------------------
// A7. dangerous endpoints

/// §11.A7 "docker socket via ipc": "`ipc:connect:\"unix:/var/run/docker.sock\"`
/// (quoted) lowers to `--bind-try` / `--volume` of the Docker socket with no
/// note. That is root on the host."
#[test]
fn docker_socket_via_ipc_is_refused() {
    for cap in [
        "ipc:connect:unix:/var/run/docker.sock",
        "ipc:connect:unix:/run/docker.sock",
        "ipc:connect:unix:/run/podman/podman.sock",
        "ipc:connect:unix:/run/containerd/containerd.sock",
        "ipc:connect:unix:/srv/mcp/docker.sock",
        "fs:read,write:/var/run/docker.sock",
        "fs:read:/run/docker.sock",
    ] {
        rejected_v1(cap, "CG0212");
    }
    rejected_compat("ipc:connect:unix:/var/run/docker.sock", "CG0212");
    // The TypeScript quoting trick is not an escape hatch: quotes are not syntax.
    let d = compile_err(&compat(&["ipc:connect:\"unix:/var/run/docker.sock\""]));
    assert!(d.has_errors());
    // A socket of the server's own is fine, and bound read-only (a unix socket
    // needs no write permission on the bind to connect).
    let c = compile_ok(&manifest(&["ipc:connect:unix:/srv/mcp/app.sock"]));
    assert!(position(
        &bwrap_argv(&c),
        &["--ro-bind", "/srv/mcp/app.sock", "/srv/mcp/app.sock"]
    )
    .is_some());
}

/// §11.A7 "/tmp binding note": "Binding host `/tmp` (the puppeteer fixture)
/// exposes tmux server sockets, ssh-agent sockets and other users' files.
/// The note mentions only \"tmpfiles\", but a tmux or ssh-agent socket is a
/// direct escape."
#[test]
fn host_tmp_binding_is_flagged() {
    for cap in [
        "fs:read,write:/tmp/**",
        "fs:read:/tmp",
        "fs:write:/tmp",
        "fs:read,write:/var/tmp/**",
    ] {
        let c = compile_ok(&manifest(&[cap]));
        assert!(
            c.warnings
                .iter()
                .any(|w| w.code.as_str() == "CG0354" && w.span.is_some()),
            "{cap}: {:?}",
            c.warnings
        );
        // --deny-warnings turns it into an error.
        let o = Options {
            deny_warnings: true,
            ..opts()
        };
        let d = capgate::compile(manifest(&[cap]).as_bytes(), &o).unwrap_err();
        assert!(d.iter().any(|x| x.code.as_str() == "CG0354" && x.is_error()));
    }
    // A scoped subdirectory is the recommended form and is not flagged.
    let c = compile_ok(&manifest(&["fs:read,write:/tmp/hole-server/**"]));
    assert!(!c.warnings.iter().any(|w| w.code.as_str() == "CG0354"));
    // The private /tmp is always there.
    assert!(position(&bwrap_argv(&c), &["--tmpfs", "/tmp"]).is_some());
}

/// §11.A7: "`ipc:connect:x11` is itself an escape-class grant (X11 keystroke
/// injection and snooping) and is bound read-write in bwrap."
#[test]
fn x11_is_flagged_and_bound_read_only() {
    let c = compile_ok(&manifest(&["ipc:connect:x11"]));
    assert!(c.warnings.iter().any(|w| w.code.as_str() == "CG0353"));
    let b = binds(&bwrap_argv(&c));
    assert!(
        b.iter()
            .any(|(f, s, _)| f.starts_with("--ro-bind") && s == "/tmp/.X11-unix"),
        "{b:?}"
    );
    assert!(
        !b.iter()
            .any(|(f, s, _)| f.starts_with("--bind") && s == "/tmp/.X11-unix"),
        "{b:?}"
    );
    let v = volumes(&docker_flags(&c));
    assert!(v.contains(&"/tmp/.X11-unix:/tmp/.X11-unix:ro".to_string()), "{v:?}");
}

// ---------------------------------------------------------------------------
// A8. private ranges by prefix

/// §11.A8 "private ranges by prefix": "The parse-time regex is a prefix match
/// on the host **string**: `10.example.com` and `127.evil.com` get
/// `blockPrivate=false` ... `169.254.169.254`, `0.0.0.0`, `100.64.0.1`,
/// `fd00::1`, `2130706433` and `metadata.google.internal` are all classed
/// public ... `localhost.` (trailing dot) is classed public." And "a declared
/// private target (for example postgres at `10.0.0.5:5432`) becomes
/// **unreachable** as soon as any other rule has `blockPrivate=true`".
#[test]
fn private_ranges_are_classified_by_cidr_math_not_prefixes() {
    // Odd spellings of addresses are rejected instead of guessed at.
    for cap in [
        "net:connect:2130706433:443",
        "net:connect:127.1:443",
        "net:connect:0x7f.0.0.1:443",
        "net:connect:0177.0.0.1:443",
        "net:connect:localhost.:443",
        "net:connect:[fd00::1%eth0]:443",
    ] {
        rejected_v1(cap, "CG0220");
    }

    let c = compile_ok(&manifest(&[
        "net:connect:10.example.com:443",
        "net:connect:127.evil.com:443",
        "net:connect:metadata.google.internal:80",
        "net:connect:*:443",
        "net:connect:10.0.0.5:5432",
    ]));
    let squid = text(&c, "egress/squid.conf");
    let lines: Vec<&str> = squid.lines().collect();
    // The special-range ACL covers what the TypeScript lists missed.
    let special: String = lines
        .iter()
        .filter(|l| l.starts_with("acl capgate_special "))
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    for range in [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    ] {
        assert!(special.split(' ').any(|x| x == range), "{range} missing from {special}");
    }
    // Every name-based rule (names that merely look private included) is
    // kept away from special ranges.
    let rule_allow = |canonical: &str| -> (usize, String) {
        let at = lines
            .iter()
            .position(|l| l.ends_with(&format!("] {canonical}")))
            .unwrap_or_else(|| panic!("no rule for {canonical}:\n{squid}"));
        let (i, l) = lines[at..]
            .iter()
            .enumerate()
            .find(|(_, l)| l.starts_with("http_access allow"))
            .unwrap();
        (at + i, l.to_string())
    };
    let deny_special = lines.iter().position(|l| *l == "http_access deny capgate_special");
    for name in [
        "net:connect:10.example.com:443",
        "net:connect:127.evil.com:443",
        "net:connect:metadata.google.internal:80",
        "net:connect:*:443",
    ] {
        let (at, allow) = rule_allow(name);
        let guarded = allow.contains("!capgate_special") || deny_special.is_some_and(|d| d < at);
        assert!(guarded, "{name} may reach private ranges:\n{squid}");
    }
    // The explicitly named private IP stays reachable despite the `*` rule.
    let (at, allow) = rule_allow("net:connect:10.0.0.5:5432");
    assert!(!allow.contains("!capgate_special"), "{allow}");
    assert!(
        deny_special.map_or(true, |d| at < d),
        "the private IP rule comes after the denial"
    );

    let nft = text(&c, "egress/nftables.nft");
    let nl: Vec<&str> = nft.lines().map(str::trim).collect();
    let reject4 = nl
        .iter()
        .position(|l| *l == "ip daddr @special_v4 reject")
        .expect("v4 special reject");
    let reject6 = nl
        .iter()
        .position(|l| *l == "ip6 daddr @special_v6 reject")
        .expect("v6 special reject");
    let ip_rule = nl.iter().position(|l| l.starts_with("ip daddr 10.0.0.5 ")).unwrap();
    let any_rule = nl.iter().position(|l| *l == "tcp dport 443 accept").unwrap();
    assert!(ip_rule < reject4, "{nft}");
    assert!(reject4 < any_rule && reject6 < any_rule, "{nft}");
    for range in [
        "100.64.0.0/10",
        "169.254.0.0/16",
        "0.0.0.0/8",
        "::ffff:0:0/96",
        "fc00::/7",
    ] {
        assert!(nft.contains(range), "{range} missing from nftables");
    }
}

// ---------------------------------------------------------------------------
// A9. the squid path is bypassable and incomplete

/// §11.A9: "Nothing routes traffic into the proxy: no `HTTP(S)_PROXY` ...
/// Non-HTTP protocols ... should appear in `unenforceable[]`; for squid that
/// list is **always empty**. `dstdomain` is an exact match, and
/// `*.github.com` is passed through verbatim, which is not squid syntax."
#[test]
fn egress_is_wired_through_the_proxy_and_gaps_are_reported() {
    let c = compile_ok(&manifest(&[
        "net:connect:*.github.com:443",
        "net:connect:8.8.8.8:53?proto=udp",
    ]));
    let argv = bwrap_argv(&c);
    for var in ["HTTP_PROXY", "HTTPS_PROXY"] {
        let at = argv
            .iter()
            .position(|a| a == var)
            .unwrap_or_else(|| panic!("{var} not set: {argv:?}"));
        assert_eq!(argv[at - 1], "--setenv");
        assert!(argv[at + 1].starts_with("http://127.0.0.1:"), "{argv:?}");
    }
    assert!(docker_flags(&c)
        .iter()
        .any(|f| f.starts_with("HTTP_PROXY=http://127.0.0.1:")));
    // UDP cannot go through the proxy: reported, never silently dropped.
    let unenforced = gaps(&c, "bwrap/argv.json", "unenforced");
    assert!(
        unenforced.iter().any(|(g, _)| g == "net:connect:8.8.8.8:53?proto=udp"),
        "{unenforced:?}"
    );
    let squid = text(&c, "egress/squid.conf");
    // A strict-subdomain wildcard, never the literal `*.github.com`.
    assert!(
        !squid.lines().any(|l| !l.starts_with('#') && l.contains("*.github.com")),
        "{squid}"
    );
    assert!(squid.contains("dstdom_regex"), "{squid}");
    assert!(squid.contains("\\.github\\.com$"), "{squid}");
    assert!(!squid
        .lines()
        .any(|l| l.starts_with("acl") && l.contains("dstdomain") && l.contains(".github.com")));
    assert_eq!(squid.lines().last(), Some("http_access deny all"));
}

// ---------------------------------------------------------------------------
// A10. nftables scope hazard

/// §11.A10: "`table inet capgate` hooks **`output` for the entire network
/// namespace it is loaded into** ... it drops loopback ... Only `tcp dport`
/// can be expressed: no UDP or QUIC. There is no `flush table` or `destroy`,
/// so reloading is not idempotent."
#[test]
fn nftables_is_idempotent_keeps_loopback_and_expresses_udp() {
    let c = compile_ok(&manifest(&[
        "net:connect:8.8.8.8:53?proto=udp",
        "net:connect:1.1.1.1:443",
    ]));
    let nft = text(&c, "egress/nftables.nft");
    let lines: Vec<&str> = nft.lines().map(str::trim).collect();
    let add = lines
        .iter()
        .position(|l| *l == "add table inet capgate")
        .expect("add table");
    let delete = lines
        .iter()
        .position(|l| *l == "delete table inet capgate")
        .expect("delete table");
    let table = lines.iter().position(|l| *l == "table inet capgate {").unwrap();
    assert!(add < delete && delete < table, "reload is not idempotent:\n{nft}");
    let lo = lines
        .iter()
        .position(|l| *l == "oifname \"lo\" accept")
        .expect("loopback accepted");
    let first_reject = lines.iter().position(|l| l.contains("reject")).unwrap();
    assert!(lo < first_reject);
    assert!(nft.contains("ip daddr 8.8.8.8 udp dport 53 accept"), "{nft}");
    assert!(nft.contains("never on the host"), "{nft}");
}

// ---------------------------------------------------------------------------
// A11. config injection

/// §11.A11 "squid newline": "`\"net:connect:api.github.com\\nhttp_access allow
/// all\\nacl x dstdomain y:443\"` passes the grammar and writes an
/// `http_access allow all` line **before** the terminator."
#[test]
fn squid_newline_injection_is_rejected() {
    for cap in [
        "net:connect:api.github.com\nhttp_access allow all\nacl x dstdomain y:443",
        "net:connect:api.github.com\rhttp_access allow all:443",
        "net:connect:api.github.com:443\nhttp_access allow all",
        "net:connect:api.github.com\u{2028}http_access allow all:443",
        "net:connect:api.github.com\u{85}http_access:443",
        "net:connect:api.github.com http_access allow all:443",
    ] {
        rejected_v1(cap, "CG0204");
        rejected_compat(cap, "CG0204");
    }
    // Free text reaches config files only as comments, and cannot break out.
    let m = r#"{"grammar": "1", "name": "hole", "version": "1", "tools": [
        {"name": "t", "capabilities": [{"cap": "net:connect:api.github.com:443",
          "why": "reason\nhttp_access allow all"}]}]}"#;
    assert_rejected(m, "CG0204");
    let m = r#"{"grammar": "1", "name": "hole", "version": "1", "tools": [
        {"name": "t", "capabilities": [{"cap": "net:connect:api.github.com:443",
          "why": "reason; http_access allow all"}]}]}"#;
    let c = compile_ok(m);
    for line in text(&c, "egress/squid.conf").lines() {
        assert!(!line.starts_with("http_access allow all"), "{line}");
    }
    // Names are not allowed to carry `assert` free text into configs either.
    let c = compile_ok(&manifest(&["assert:require:net.ok:http_access allow all"]));
    for line in text(&c, "egress/squid.conf").lines() {
        assert!(!line.starts_with("http_access allow all"), "{line}");
    }
}

/// §11.A11 "nft quote": "A quoted host containing `:` is classified as IPv6
/// and pasted raw into nftables. `net:connect:\"::/0 accept\\n    ip daddr
/// 0.0.0.0/0\":443` yields `ip6 daddr ::/0 accept` and an any-IPv4 accept on
/// 443, and `nft -c` accepts the result."
#[test]
fn nft_quote_injection_is_rejected() {
    rejected_v1("net:connect:\"::/0 accept\n    ip daddr 0.0.0.0/0\":443", "CG0204");
    rejected_compat("net:connect:\"::/0 accept\n    ip daddr 0.0.0.0/0\":443", "CG0204");
    // Without the newline: quotes are not syntax, so this is not a host.
    for cap in [
        "net:connect:\"::/0\":443",
        "net:connect:\"[::]\":443",
        "net:connect:\"api.github.com\":443",
        "net:connect:api.github.com;accept:443",
        "net:connect:{api.github.com}:443",
    ] {
        rejected_v1(cap, "CG0220");
    }
    // IPv6 is written in brackets and emitted in canonical form only.
    let c = compile_ok(&manifest(&["net:connect:[2001:DB8:0:0::1]:443"]));
    let nft = text(&c, "egress/nftables.nft");
    assert!(nft.contains("ip6 daddr 2001:db8::1 tcp dport 443 accept"), "{nft}");
    for line in nft.lines().filter(|l| l.contains('"')) {
        assert_eq!(line.trim(), "oifname \"lo\" accept", "a quoted token in nftables");
    }
}

// ---------------------------------------------------------------------------
// A12. secrets in argv

/// §11.A12 "secrets in argv": "The adapter expects the caller to append
/// `--setenv NAME VALUE` for injections, which puts secret values into the
/// host's `/proc/<pid>/cmdline`, visible to `ps`."
#[test]
fn secrets_are_never_in_argv() {
    let c = compile_ok(&manifest(&[
        "env:inject:GITHUB_TOKEN",
        "env:read:LOG_LEVEL",
        "env:set:MODE=prod",
    ]));
    let argv = bwrap_argv(&c);
    // Passed-through names never appear as --setenv (the launcher streams
    // them over `--args FD`); only the fixed value is set.
    for (i, a) in argv.iter().enumerate() {
        if a == "--setenv" {
            assert!(argv[i + 1] != "GITHUB_TOKEN" && argv[i + 1] != "LOG_LEVEL", "{argv:?}");
        }
    }
    assert!(position(&argv, &["--setenv", "MODE", "prod"]).is_some());
    let launcher = gaps(&c, "bwrap/argv.json", "launcher");
    let (_, why) = launcher
        .iter()
        .find(|(g, _)| g == "env:inject:GITHUB_TOKEN")
        .expect("launcher entry");
    assert!(why.contains("--args"), "{why}");
    // docker copies the value from the launcher's environment: `--env NAME`.
    let flags = docker_flags(&c);
    let envs: Vec<&String> = flags
        .windows(2)
        .filter(|w| w[0] == "--env" || w[0] == "-e")
        .map(|w| &w[1])
        .collect();
    assert!(envs.iter().any(|e| *e == "GITHUB_TOKEN"), "{envs:?}");
    assert!(!envs.iter().any(|e| e.starts_with("GITHUB_TOKEN=")), "{envs:?}");
    // An inject grant cannot carry a value at all.
    rejected_v1("env:inject:GITHUB_TOKEN=ghp_secret", "CG0232");
}

// ---------------------------------------------------------------------------
// B. fail-open parsing

/// §11.B "? truncation": "The `?` split ignores quotes:
/// `fs:read:/data/file?.txt` becomes the path `/data/file` plus a junk
/// refinement `{\".txt\": true}`, and `assert:x:\"is it read-only? yes\"` loses
/// part of its description. Unknown refinement keys are never rejected."
#[test]
fn question_mark_never_truncates() {
    rejected_v1("fs:read:/data/file?.txt", "CG0205");
    rejected_v1("fs:read:/data/file?x=1", "CG0205");
    rejected_v1("net:connect:api.example.com:443?timeout=5", "CG0205");
    rejected_compat("fs:read:/data/file?.txt", "CG0205");

    let c = compile_ok(&manifest(&["assert:require:pg.ro:is it read-only? yes & always"]));
    let assertions = field(&parsed(&c, "bwrap/argv.json"), "assertions").clone();
    let Json::Array(items) = assertions else { panic!() };
    assert_eq!(field(&items[0], "text"), &Json::str("is it read-only? yes & always"));

    let c = compile_ok(&compat(&["assert:pg.ro:\"is it read-only? yes\""]));
    let Json::Array(items) = field(&parsed(&c, "policy.json"), "assertions").clone() else {
        panic!()
    };
    assert_eq!(field(&items[0], "id"), &Json::str("pg.ro"));
    assert_eq!(field(&items[0], "text"), &Json::str("is it read-only? yes"));
}

/// §11.B "`443abc`": "Port parsing uses `parseInt`: `443abc` and `443.9` give
/// 443, ` 443` gives 443, and `1e3` gives **1**."
#[test]
fn port_443abc_is_rejected() {
    for port in [
        "443abc", "443.9", "1e3", "+443", "0443", "0", "65536", "99999", "10-5", "1-", "-1", "0x1bb",
    ] {
        rejected_v1(&format!("net:connect:example.com:{port}"), "CG0222");
        rejected_compat(&format!("net:connect:example.com:{port}"), "CG0222");
    }
    rejected_v1("net:connect:example.com: 443", "CG0204");
    // Grammar 1 needs a port; the TypeScript form without one means `*`.
    rejected_v1("net:connect:example.com", "CG0222");
    let c = compile_ok(&compat(&["net:connect:example.com"]));
    assert!(text(&c, "policy.json").contains("net:connect:example.com:*"));
    let c = compile_ok(&manifest(&[
        "net:connect:example.com:443",
        "net:connect:example.com:8000-8080",
    ]));
    let squid = text(&c, "egress/squid.conf");
    assert!(
        squid.contains("port 443\n") && squid.contains("port 8000-8080\n"),
        "{squid}"
    );
}

/// §11.B: "Empty or odd scopes are accepted: the empty host in
/// `net:connect::443` (which then emits an invalid `dstdomain` line), the
/// empty binary in `exec:spawn:`, the empty assert id in `assert:`, and hosts
/// such as `*.foo` or CIDRs."
#[test]
fn empty_and_odd_scopes_are_rejected() {
    rejected_v1("net:connect::443", "CG0220");
    rejected_v1("exec:spawn:", "CG0201");
    rejected_v1("assert:require:", "CG0280");
    rejected_v1("assert:", "CG0203");
    rejected_compat("assert:", "CG0280");
    rejected_v1("net:connect:*.foo:443", "CG0220");
    rejected_v1("net:connect:foo.*:443", "CG0220");
    rejected_v1("net:connect:10.0.0.1/8:443", "CG0223");
    rejected_v1("env:read:", "CG0201");
    rejected_v1("env:read:1ABC", "CG0230");
    rejected_v1("ipc:connect:dbus:user", "CG0250");
}

/// §11.B: "The documented IPC forms `unix:/path`, `dbus:session` and
/// `dbus:system`, and all IPv6 literals, **fail** with `CAP_*_SHAPE` unless
/// quoted, because the colons split."
#[test]
fn ipc_and_ipv6_need_no_quoting() {
    let c = compile_ok(&manifest(&[
        "ipc:connect:unix:/srv/mcp/app.sock",
        "ipc:connect:dbus:system",
        "net:connect:[2001:db8::1]:443",
        "net:connect:[2001:db8::/32]:*",
    ]));
    let policy = text(&c, "policy.json");
    for g in [
        "ipc:connect:unix:/srv/mcp/app.sock",
        "ipc:connect:dbus:system",
        "net:connect:[2001:db8::1]:443",
        "net:connect:[2001:db8::/32]:*",
    ] {
        assert!(policy.contains(g), "{g} missing:\n{policy}");
    }
    let b = binds(&bwrap_argv(&c));
    assert!(b.iter().any(|(_, s, _)| s == "/run/dbus/system_bus_socket"), "{b:?}");
    assert!(b.iter().any(|(_, s, _)| s == "/srv/mcp/app.sock"), "{b:?}");
}

/// §11.B: "Unknown manifest keys are ignored and duplicate tool names are
/// allowed." (§2: "a typo such as `serverCapabilites` is silently ignored")
#[test]
fn unknown_keys_and_duplicate_tools_are_rejected() {
    assert_rejected(
        r#"{"name": "x", "version": "1", "serverCapabilites": ["fs:read:/srv/mcp/x"], "tools": []}"#,
        "CG0101",
    );
    assert_rejected(
        r#"{"grammar": "1", "name": "x", "version": "1", "tools": [{"name": "t", "capabilites": []}]}"#,
        "CG0101",
    );
    assert_rejected(
        r#"{"grammar": "1", "name": "x", "version": "1", "tools": [{"name": "t"}, {"name": "t"}]}"#,
        "CG0104",
    );
    assert_rejected(
        r#"{"grammar": "1", "name": "x", "name": "y", "version": "1"}"#,
        "CG0002",
    );
}

// ---------------------------------------------------------------------------
// C. correctness

/// §11.C "double binds": "`/workspace` read-write plus `/workspace/**`
/// read-only leaves two fs entries. bwrap then emits `--bind /workspace …`
/// followed by `--ro-bind /workspace …`; the last one wins, so the declared
/// write is silently lost. Docker emits two `--volume` flags for the same
/// target, which Docker rejects as a duplicate mount point."
#[test]
fn double_binds_are_merged_and_keep_the_write() {
    let c = compile_ok(&manifest(&["fs:read,write:/workspace", "fs:read:/workspace/**"]));
    let b = binds(&bwrap_argv(&c));
    let ws: Vec<&(String, String, String)> = b.iter().filter(|(_, _, d)| d == "/workspace").collect();
    assert_eq!(ws.len(), 1, "{b:?}");
    assert_eq!(ws[0].0, "--bind", "the write was lost: {b:?}");
    let v = volumes(&docker_flags(&c));
    let ws: Vec<&String> = v.iter().filter(|x| x.starts_with("/workspace:")).collect();
    assert_eq!(ws, ["/workspace:/workspace:rw"], "{v:?}");
    // No destination is mounted twice anywhere.
    let mut dests: Vec<&String> = b.iter().map(|(_, _, d)| d).collect();
    let n = dests.len();
    dests.sort();
    dests.dedup();
    assert_eq!(n, dests.len(), "{b:?}");
}

/// §11.C "double binds", through an implicit mount: "bwrap then emits
/// `--bind /workspace …` followed by `--ro-bind /workspace …`; the last one
/// wins, so the declared write is silently lost." The same happens when a
/// writable fs grant names a path that another grant mounts read-only
/// (tzdata's zoneinfo outside the debian profile, the X11 socket dir, a unix
/// socket).
#[test]
fn implicit_mounts_never_hide_a_declared_write() {
    for (profile, caps) in [
        ("nix", &["fs:read,write:/usr/share/zoneinfo", "clock:read:tzdata"][..]),
        ("debian", &["fs:read,write:/tmp/.X11-unix", "ipc:connect:x11"][..]),
        (
            "debian",
            &["fs:read,write:/srv/mcp/app.sock", "ipc:connect:unix:/srv/mcp/app.sock"][..],
        ),
        // The grant has no bind of its own (a writable ancestor covers it).
        (
            "debian",
            &["fs:delete:/tmp/.X11-unix", "fs:create:/tmp", "ipc:connect:x11"][..],
        ),
        (
            "nix",
            &[
                "fs:write:/usr/share/zoneinfo",
                "fs:read,write:/usr/share/**",
                "clock:read:tzdata",
            ][..],
        ),
    ] {
        let m = manifest(caps).replace(
            "\"grammar\": \"1\",",
            &format!("\"grammar\": \"1\", \"profile\": \"{profile}\","),
        );
        let c = compile_ok(&m);
        let path = caps[0].rsplit(':').next().unwrap();
        let b = binds(&bwrap_argv(&c));
        let last = b.iter().rev().find(|(_, _, d)| d == path).unwrap();
        assert!(
            last.0.starts_with("--bind"),
            "{caps:?}: the write is lost, the last mount is {last:?}: {b:?}"
        );
    }
}

/// §11.C "double binds": "Docker emits two `--volume` flags for the same
/// target, which Docker rejects as a duplicate mount point." That includes
/// the `--tmpfs /tmp` capgate always adds.
#[test]
fn docker_never_mounts_a_destination_twice() {
    for caps in [
        &["fs:read,write:/tmp/**"][..],
        &["fs:read:/tmp"][..],
        &["fs:read,write:/workspace", "fs:read:/workspace/**"][..],
        &["fs:read,write:/srv/mcp/app.sock", "ipc:connect:unix:/srv/mcp/app.sock"][..],
    ] {
        let flags = docker_flags(&compile_ok(&manifest(caps)));
        let mut dests: Vec<String> = flags
            .windows(2)
            .filter_map(|w| match w[0].as_str() {
                "-v" | "--volume" => Some(w[1].split(':').nth(1).unwrap().to_string()),
                "--tmpfs" => Some(w[1].split(':').next().unwrap().to_string()),
                _ => None,
            })
            .collect();
        let n = dests.len();
        dests.sort();
        dests.dedup();
        assert_eq!(n, dests.len(), "{caps:?}: a destination is mounted twice: {flags:?}");
    }
}

/// §11.C: "`DISPLAY` is duplicated when it is declared as env and x11 is
/// also declared, giving `--env DISPLAY` twice."
#[test]
fn display_is_not_duplicated() {
    let c = compile_ok(&manifest(&["env:read:DISPLAY", "ipc:connect:x11"]));
    let flags = docker_flags(&c);
    let n = flags
        .windows(2)
        .filter(|w| w[0] == "--env" && w[1] == "DISPLAY")
        .count();
    assert_eq!(n, 1, "{flags:?}");
}

/// §11.C: "Mid-path globs (`/home/*/proj`) and bracket globs produce literal
/// binds that fail at run time (bwrap `--bind` is not `-try`)."
#[test]
fn mid_path_and_bracket_globs_are_rejected() {
    for cap in [
        "fs:read:/srv/*/proj",
        "fs:read:/srv/mcp/[ab]",
        "fs:read:/srv/mcp/{a,b}",
        "fs:read:/srv/**/x",
    ] {
        rejected_v1(cap, "CG0213");
    }
}

/// §11.C: "The default bwrap profile has **no `/dev`**: `/dev/null` does not
/// exist" and "When any fs root lies under `/tmp`, no tmpfs is mounted".
#[test]
fn bwrap_always_has_dev_proc_and_a_private_tmp() {
    for caps in [&[][..], &["fs:read,write:/tmp/hole/**"][..]] {
        let argv = bwrap_argv(&compile_ok(&manifest(caps)));
        for seq in [
            &["--dev", "/dev"][..],
            &["--proc", "/proc"][..],
            &["--tmpfs", "/tmp"][..],
        ] {
            assert!(position(&argv, seq).is_some(), "{seq:?} missing: {argv:?}");
        }
        let tmpfs = position(&argv, &["--tmpfs", "/tmp"]).unwrap();
        if let Some(b) = position(&argv, &["--bind", "/tmp/hole", "/tmp/hole"]) {
            assert!(tmpfs < b, "the /tmp tmpfs would hide the bind");
        }
    }
}

// ---------------------------------------------------------------------------
// D. determinism

const LOCALE_MANIFEST: &str = r#"{
  "grammar": "1",
  "name": "locale", "version": "1.0.0",
  "command": ["/usr/bin/server"],
  "capabilities": [
    "env:read:AB", "env:read:AA", "env:inject:A_B", "env:read:A1", "env:read:a_lower", "env:read:Z",
    "fs:read:/srv/mcp/z", "fs:read:/srv/mcp/aa", "fs:read:/srv/mcp/Z", "fs:read:/srv/mcp/å",
    "fs:read:/srv/mcp/a-b", "fs:read:/srv/mcp/a_b",
    "net:connect:ab.example.com:443", "net:connect:aa.example.com:443", "net:connect:a-b.example.com:443",
    "net:connect:a1.example.com:443", "net:connect:Z.example.com:443"
  ],
  "tools": [
    {"name": "zeta", "capabilities": ["clock:read:system"]},
    {"name": "alpha", "capabilities": ["clock:read:system"]},
    {"name": "a_b", "capabilities": ["clock:read:system"]},
    {"name": "Alpha", "capabilities": ["clock:read:system"]},
    {"name": "a-b", "capabilities": ["clock:read:system"]},
    {"name": "A1", "capabilities": ["clock:read:system"]}
  ]
}"#;

fn byte_sorted(v: &[String]) -> bool {
    v.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes())
}

/// §11.D "locale order": "Every sort uses `localeCompare()` with the default
/// locale ... in `da_DK`, `\"AA\" > \"AB\"` (AA collates as Å) and `\"/aa\" >
/// \"/z\"`; in every ICU locale, `\"A_B\" < \"A1\" < \"AA\"`, whereas code-unit
/// order gives `\"A1\" < \"AA\" < \"A_B\"`; hosts sort case-insensitively."
#[test]
fn locale_order_is_byte_order() {
    let c = compile_ok(LOCALE_MANIFEST);

    // docker --env NAME (passed-through variables), in byte order.
    let flags = docker_flags(&c);
    let passed: Vec<String> = flags
        .windows(2)
        .filter(|w| w[0] == "--env" && !w[1].contains('='))
        .map(|w| w[1].clone())
        .collect();
    assert_eq!(passed, ["A1", "AA", "AB", "A_B", "Z", "a_lower"]);

    // The env policy in every envelope.
    for path in ["bwrap/argv.json", "docker/argv.json"] {
        let Json::Array(env) = field(&parsed(&c, path), "env").clone() else {
            panic!()
        };
        let names: Vec<String> = env
            .iter()
            .map(|e| match field(e, "name") {
                Json::Str(s) => s.clone(),
                _ => panic!(),
            })
            .collect();
        assert_eq!(names, ["A1", "AA", "AB", "A_B", "Z", "a_lower"], "{path}");
    }

    // policy.json's env object: keys in byte order in the file itself.
    let policy = text(&c, "policy.json");
    let at = |needle: &str| policy.find(needle).unwrap_or_else(|| panic!("{needle} missing"));
    let order = [
        "\"A1\": {",
        "\"AA\": {",
        "\"AB\": {",
        "\"A_B\": {",
        "\"Z\": {",
        "\"a_lower\": {",
    ];
    for w in order.windows(2) {
        assert!(at(w[0]) < at(w[1]), "{} after {}", w[0], w[1]);
    }

    // Binds: /srv/mcp/Z < a-b < a_b < aa < z < å (bytes), not ICU's a… < å < z or Danish aa = å.
    let b: Vec<String> = binds(&bwrap_argv(&c))
        .into_iter()
        .map(|(_, s, _)| s)
        .filter(|s| s.starts_with("/srv/mcp/"))
        .collect();
    assert_eq!(
        b,
        [
            "/srv/mcp/Z",
            "/srv/mcp/a-b",
            "/srv/mcp/a_b",
            "/srv/mcp/aa",
            "/srv/mcp/z",
            "/srv/mcp/å"
        ]
    );
    let v: Vec<String> = volumes(&docker_flags(&c))
        .into_iter()
        .filter(|x| x.starts_with("/srv/mcp/"))
        .collect();
    assert!(byte_sorted(&v), "{v:?}");

    // Hosts: lowercased, then byte order (`-` < digits < letters).
    let hosts: Vec<String> = text(&c, "egress/hosts")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    assert_eq!(
        hosts,
        [
            "a-b.example.com",
            "a1.example.com",
            "aa.example.com",
            "ab.example.com",
            "z.example.com"
        ]
    );
    // squid rules are numbered in byte order of their canonical grants.
    let rules: Vec<String> = text(&c, "egress/squid.conf")
        .lines()
        .filter(|l| l.starts_with("# ["))
        .map(|l| l.split("] ").nth(1).unwrap().to_string())
        .collect();
    assert!(byte_sorted(&rules), "{rules:?}");
    assert_eq!(rules.len(), 5);

    // Grants and tools in policy.json.
    let Json::Array(grants) = field(&parsed(&c, "policy.json"), "grants").clone() else {
        panic!()
    };
    let caps: Vec<String> = grants
        .iter()
        .map(|g| match field(g, "cap") {
            Json::Str(s) => s.clone(),
            _ => panic!(),
        })
        .collect();
    assert!(byte_sorted(&caps), "{caps:?}");
    let Json::Array(grants) = field(&parsed(&c, "policy.json"), "grants").clone() else {
        panic!()
    };
    let clock = grants
        .iter()
        .find(|g| field(g, "cap") == &Json::str("clock:read:system"))
        .unwrap();
    assert_eq!(
        strs(field(clock, "tools")),
        ["A1", "Alpha", "a-b", "a_b", "alpha", "zeta"]
    );
}

/// §11.D "locale order", at the process level: "the goldens are reproducible
/// only under a fixed ICU/locale." capgate's bytes are the same under any
/// locale.
#[test]
fn locale_environment_does_not_change_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("capgate.json"), LOCALE_MANIFEST).unwrap();
    let run = |out: &str, envs: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_capgate"));
        c.current_dir(dir.path()).env_clear();
        for (k, v) in envs {
            c.env(k, v);
        }
        c.args(["compile", "capgate.json", "--out-dir", out]).assert().code(0);
        let mut files = BTreeMap::new();
        for f in capgate::output_files(&capgate::Target::DEFAULT.into_iter().collect()) {
            files.insert(f.to_string(), std::fs::read(dir.path().join(out).join(f)).unwrap());
        }
        files
    };
    let c_locale = run("c", &[("LANG", "C"), ("LC_ALL", "C")]);
    let danish = run(
        "da",
        &[
            ("LANG", "da_DK.UTF-8"),
            ("LC_ALL", "da_DK.UTF-8"),
            ("LC_COLLATE", "da_DK.UTF-8"),
        ],
    );
    let turkish = run("tr", &[("LANG", "tr_TR.UTF-8"), ("LC_ALL", "tr_TR.UTF-8")]);
    assert_eq!(c_locale, danish);
    assert_eq!(c_locale, turkish);
    // And the library gives the same bytes as the CLI.
    let lib = compile_ok(LOCALE_MANIFEST);
    for a in &lib.artifacts {
        assert_eq!(&c_locale[&a.path], &a.bytes, "{}", a.path);
    }
}

/// §11.D: "Hosts are not case-folded or trailing-dot normalized, so the same
/// host appears twice." And "The provenance hash ... changes on neutral
/// edits: tool order ..., capability order, duplicates ..., and whitespace in
/// `read, write`; it does **not** change when ... adapter options" change.
#[test]
fn hosts_are_case_folded_and_the_key_is_a_policy_key() {
    let c = compile_ok(&manifest(&[
        "net:connect:API.GitHub.com:443",
        "net:connect:api.github.com:443",
    ]));
    let hosts: Vec<String> = text(&c, "egress/hosts")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    assert_eq!(hosts, ["api.github.com"]);
    let policy = parsed(&c, "policy.json");
    assert_eq!(strs(field(&policy, "net")), ["net:connect:api.github.com:443"]);
    rejected_v1("net:connect:api.github.com.:443", "CG0220");
    // `read, write` with a space is not a neutral edit but an error.
    rejected_v1("fs:read, write:/srv/mcp/x", "CG0204");

    let a = manifest(&["fs:read,write:/srv/mcp/x", "net:connect:api.github.com:443"]);
    let b = manifest(&[
        "net:connect:api.github.com:443",
        "fs:write,read:/srv/mcp/x",
        "fs:read,write:/srv/mcp/x",
    ]);
    assert_eq!(compile_ok(&a).key, compile_ok(&b).key);
    // Options (targets, strict) are part of the key.
    // (--strict with the egress target only: fs grants are unenforced on bwrap
    // and docker, and the key fails exactly where compile fails.)
    let egress_only = Options {
        targets: [capgate::Target::Egress].into_iter().collect(),
        ..opts()
    };
    let strict = Options {
        strict: true,
        ..egress_only.clone()
    };
    assert!(capgate::key(a.as_bytes(), &Options { strict: true, ..opts() }).is_err());
    assert_ne!(
        capgate::key(a.as_bytes(), &strict).unwrap(),
        capgate::key(a.as_bytes(), &egress_only).unwrap()
    );
    let bwrap_only = Options {
        targets: [capgate::Target::Bwrap].into_iter().collect(),
        ..opts()
    };
    let k = compile_ok(&a).key;
    assert_ne!(capgate::key(a.as_bytes(), &strict).unwrap(), k);
    assert_ne!(capgate::key(a.as_bytes(), &bwrap_only).unwrap(), k);
    // index.json records the capgate version (the TypeScript hash did not).
    let index = parsed(&compile_ok(&a), "index.json");
    assert_eq!(field(&index, "capgate"), &Json::str(capgate::VERSION));
}

// ---------------------------------------------------------------------------
// E. declared but not enforced

/// §11.E "exec without enforcement": "`exec:spawn:X` | note only; all of
/// `/usr`, `/bin` and `/sbin` are executable | note only; the image decides".
/// capgate reports it as unenforced, and `--strict` rejects it.
#[test]
fn exec_is_reported_unenforced() {
    let c = compile_ok(&manifest(&["exec:spawn:git", "exec:spawn:/usr/bin/python3"]));
    for path in ["bwrap/argv.json", "docker/argv.json"] {
        let un = gaps(&c, path, "unenforced");
        for g in ["exec:spawn:git", "exec:spawn:/usr/bin/python3"] {
            assert!(
                un.iter().any(|(x, r)| x == g && !r.is_empty()),
                "{path}: {g} not reported: {un:?}"
            );
        }
    }
    let strict = Options { strict: true, ..opts() };
    let d = capgate::compile(manifest(&["exec:spawn:git"]).as_bytes(), &strict).unwrap_err();
    assert!(
        d.iter()
            .any(|x| x.code.as_str() == "CG0401" && x.message.contains("exec:spawn:git") && x.span.is_some()),
        "{d}"
    );
}

/// §11.E: "Permissive egress silently drops non-net kinds with **no notes**"
/// and the table's rows for `ipc:dbus:session`, `clock:system`, limits:
/// no grant is ever dropped silently. Every grant is enforced by the target,
/// listed under `launcher` or `unenforced`, or visibly lowered.
#[test]
fn no_grant_is_dropped_silently() {
    let c = compile_ok(&manifest(&[
        "ipc:connect:dbus:session",
        "ipc:connect:wayland",
        "limit:set:memory=512MiB",
        "limit:set:tmpfs=64MiB",
        "net:listen:*:8080",
        "net:connect:9.9.9.9:853?proto=udp",
    ]));
    let mut reported: Vec<String> = Vec::new();
    for list in ["unenforced", "launcher"] {
        reported.extend(gaps(&c, "bwrap/argv.json", list).into_iter().map(|(g, _)| g));
    }
    for g in [
        "ipc:connect:dbus:session",
        "ipc:connect:wayland",
        "limit:set:memory=512MiB",
        "limit:set:tmpfs=64MiB",
        "net:listen:*:8080",
        "net:connect:9.9.9.9:853?proto=udp",
    ] {
        assert!(
            reported.iter().any(|r| r == g),
            "bwrap drops {g} silently: {reported:?}"
        );
    }
    // docker enforces memory itself and reports the rest.
    let flags = docker_flags(&c);
    assert!(position(&flags, &["--memory", "536870912b"]).is_some(), "{flags:?}");
    let mut reported: Vec<String> = Vec::new();
    for list in ["unenforced", "launcher"] {
        reported.extend(gaps(&c, "docker/argv.json", list).into_iter().map(|(g, _)| g));
    }
    for g in ["ipc:connect:dbus:session", "ipc:connect:wayland", "net:listen:*:8080"] {
        assert!(
            reported.iter().any(|r| r == g),
            "docker drops {g} silently: {reported:?}"
        );
    }
}
