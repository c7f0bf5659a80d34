//! Every golden case and every shipped example is contained: the
//! independent checker (`capgate::containment`) finds nothing in what
//! capgate compiles, nor in the committed `out/` files.

use capgate::json::{self, Kind};
use capgate::{containment, Artifact, Options};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn params(dir: &Path) -> BTreeMap<String, String> {
    let Ok(text) = fs::read_to_string(dir.join("capgate.params.json")) else {
        return BTreeMap::new();
    };
    let v = json::parse(&text).expect("params file is JSON");
    let Kind::Object(members) = v.kind else {
        panic!("{}: params must be an object", dir.display())
    };
    members
        .into_iter()
        .map(|(k, v)| (k.text, v.as_str().expect("string param").to_string()))
        .collect()
}

/// The files of a committed out-dir, as artifacts.
fn read_out(dir: &Path) -> Vec<Artifact> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                out.push(Artifact {
                    path: rel,
                    media_type: "application/octet-stream",
                    bytes: fs::read(&p).unwrap(),
                });
            }
        }
    }
    out
}

/// (label, manifest path, dir holding params and out/).
fn manifests() -> Vec<(String, PathBuf)> {
    let mut list = Vec::new();
    for base in ["tests/cases", "examples"] {
        for e in fs::read_dir(root().join(base)).unwrap() {
            let dir = e.unwrap().path();
            if dir.join("capgate.json").is_file() {
                list.push((
                    format!("{base}/{}", dir.file_name().unwrap().to_string_lossy()),
                    dir.join("capgate.json"),
                ));
            }
        }
    }
    for e in fs::read_dir(root().join("examples/compat")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            list.push((
                format!("examples/compat/{}", p.file_name().unwrap().to_string_lossy()),
                p,
            ));
        }
    }
    list.sort();
    list
}

#[test]
fn every_case_and_example_is_contained() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for (label, path) in manifests() {
        let dir = path.parent().unwrap();
        let opts = Options {
            params: params(dir),
            ..Default::default()
        };
        let source = fs::read(&path).unwrap();
        let compiled = match capgate::compile(&source, &opts) {
            Ok(c) => c,
            Err(d) => {
                problems.push(format!(
                    "{label}: does not compile: {:?}",
                    d.iter().next().map(|x| &x.message)
                ));
                continue;
            }
        };
        for v in containment::check(&compiled.policy, &compiled.artifacts) {
            problems.push(format!("{label}: {v}"));
        }
        checked += 1;
        // The committed goldens, read back from disk.
        let out = dir.join("out");
        if path.file_name().unwrap() == "capgate.json" && out.is_dir() {
            let files = read_out(&out);
            assert!(files.iter().any(|a| a.path == "bwrap/args0"), "{label}: out/ read");
            for v in containment::check(&compiled.policy, &files) {
                problems.push(format!("{label} (out/): {v}"));
            }
        }
    }
    assert!(checked >= 50, "only {checked} manifests found");
    assert!(problems.is_empty(), "not contained:\n{}", problems.join("\n"));
}

/// Grants chosen to stress the lowering: nested binds of both modes,
/// optional paths, implicit mounts (sockets, tzdata) inside granted trees,
/// the host's /tmp over the private one, baseline paths, egress and env.
const POOL: &[&str] = &[
    "fs:read:/srv/a/**",
    "fs:read,write:/srv/a/**",
    "fs:write:/srv/a/b",
    "fs:read:/srv/a/b/**",
    "fs:read:/srv/a/b/c.txt",
    "fs:read,write,create,delete:/srv/a/*",
    "fs:read:/srv/a?optional=true",
    "fs:read,write:/srv/a/b?optional=true",
    "fs:read,exec:/srv/bin/**",
    "fs:exec:/srv/bin/tool",
    "fs:read:/usr/local/**",
    "fs:read,write:/usr/local/lib/**",
    "fs:read:/nix/store/**",
    "fs:read:/tmp/**",
    "fs:read,write:/tmp/**",
    "fs:read,write:/tmp/.X11-unix/**",
    "fs:read,write:/etc/localtime?sensitive=allow",
    "fs:read,write:/**?sensitive=allow",
    "ipc:connect:unix:/srv/a/app.sock",
    "ipc:connect:unix:/srv/a/b/app.sock?optional=true",
    "ipc:connect:x11",
    "ipc:connect:dbus:system",
    "ipc:connect:wayland",
    "clock:read:tzdata",
    "clock:read:system",
    "net:connect:api.example.com:443",
    "net:connect:*.example.org:443",
    "net:connect:*:80",
    "net:connect:10.0.0.0/8:5432",
    "net:connect:[2001:db8::/32]:443?private=allow",
    "net:connect:db.internal:5432?private=allow",
    "net:connect:*:53?proto=udp",
    "net:listen:*:8080",
    "env:read:TZ",
    "env:inject:API_TOKEN",
    "env:set:HOME=/srv/a",
    "env:read:HOME",
    "env:set:PATH=/srv/bin:/usr/bin",
    "limit:set:tmpfs=64MiB",
    "limit:set:memory=512MiB",
    "limit:set:nofile=1024",
    "exec:spawn:git",
    "exec:spawn:/srv/bin/tool?nestedSandbox=true",
    "assert:require:no-telemetry",
    "fs:read,write:/usr/**?sensitive=allow",
    "fs:read:/usr/share/zoneinfo/**",
    "fs:read,write:/run/dbus/**?sensitive=allow",
    "ipc:connect:unix:/usr/local/app.sock",
    "fs:read,write:/srv/a/app.sock",
    "fs:read,write:/nix/**?sensitive=allow",
    "net:connect:*:*?private=allow",
    "net:connect:[::ffff:0:0/96]:443",
    "net:connect:0.0.0.0/0:443",
    "net:connect:*.example.org:*?private=allow",
    "net:connect:[::1]:9000",
];

const HEADS: &[&str] = &[
    r#""profile": "debian""#,
    r#""profile": "nix""#,
    r#""profile": "none""#,
    r#""profile": "debian", "image": "docker.io/library/node@sha256:0000000000000000000000000000000000000000000000000000000000000000""#,
];

/// Every pair of pool grants, and a deterministic sample of triples, under
/// every profile: whatever compiles is contained.
#[test]
fn combinations_of_tricky_grants_are_contained() {
    let mut problems = Vec::new();
    let mut compiled = 0;
    let mut check = |head: &str, caps: &[&str]| {
        let list: Vec<String> = caps.iter().map(|c| format!("{c:?}")).collect();
        let m = format!(
            r#"{{"grammar": "1", "name": "combo", "version": "1.0.0", {head}, "command": ["/usr/bin/node", "/srv/a/index.js"], "capabilities": [{}]}}"#,
            list.join(", ")
        );
        if let Ok(c) = capgate::compile(m.as_bytes(), &Options::default()) {
            compiled += 1;
            for v in containment::check(&c.policy, &c.artifacts) {
                problems.push(format!("{head} {caps:?}: {v}"));
            }
        }
    };
    for (h, head) in HEADS.iter().enumerate() {
        for (i, a) in POOL.iter().enumerate() {
            for (j, b) in POOL.iter().enumerate().skip(i) {
                if h == 0 || (i + j) % 3 == h % 3 {
                    check(head, &[a, b]);
                }
            }
        }
    }
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % POOL.len() as u64) as usize
    };
    for n in 0..1500 {
        let caps = [POOL[next()], POOL[next()], POOL[next()], POOL[next()]];
        check(HEADS[n % HEADS.len()], &caps);
    }
    assert!(compiled > 2000, "only {compiled} combinations compiled");
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "{} violations:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
