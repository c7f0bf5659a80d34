//! `capgate exec --launch-log`: a real MCP server (server-everything from the
//! lab) run with an `env:inject` secret on bwrap and on podman writes one
//! `capgate.launch/1` line per launch that parses, matches
//! schemas/capgate.launch.schema.json, names the compiled key and artifact
//! digests, and never holds the secret's value (which the server did get).
//!
//! Needs bwrap, podman and the lab (CAPGATE_LAB, default /tmp/capgate-lab).

#[path = "runtime/mcp.rs"]
mod mcp;

use capgate::json::{self, Json};
use mcp::{get, obj, Client};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const SECRET: &str = "s3cr3t-launch-log-value-7f1c";

fn lab() -> Option<PathBuf> {
    let lab = PathBuf::from(std::env::var_os("CAPGATE_LAB").unwrap_or_else(|| "/tmp/capgate-lab".into()));
    let missing: Vec<&str> = ["bwrap", "podman"]
        .into_iter()
        .filter(|t| !Path::new("/usr/bin").join(t).exists())
        .collect();
    let why = if !missing.is_empty() {
        format!("missing {}", missing.join(", "))
    } else if !lab.join("npm/.done").exists() {
        format!("no lab at {} (run bash tools/runtime-setup.sh)", lab.display())
    } else {
        return Some(lab);
    };
    if std::env::var_os("CI").is_some() {
        panic!("launch-log tests cannot run in CI: {why}");
    }
    eprintln!("\n*** SKIPPED launch-log tests: {why} ***\n");
    None
}

fn capgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_capgate"))
}

fn object(v: &Json) -> &BTreeMap<String, Json> {
    match v {
        Json::Object(o) => o,
        other => panic!("not an object: {other:?}"),
    }
}

fn schema() -> BTreeMap<String, Json> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/capgate.launch.schema.json");
    let v = json::parse(&std::fs::read_to_string(path).unwrap()).unwrap().to_json();
    object(&v).clone()
}

fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

#[test]
fn a_real_server_writes_one_valid_line_per_launch_without_the_secret() {
    let Some(lab) = lab() else { return };
    let t = tempfile::tempdir().unwrap();
    // examples/everything plus an injected secret.
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/everything/capgate.json"))
        .unwrap();
    let text = text.replacen(
        "\"capabilities\": [",
        "\"capabilities\": [\n    \"env:inject:CAPGATE_LAUNCH_SECRET\",",
        1,
    );
    let m = t.path().join("capgate.json");
    std::fs::write(&m, text).unwrap();
    let nm = lab.join("npm/node_modules");
    let pkg = nm.join("@modelcontextprotocol/server-everything");
    let out = t.path().join("out");
    let st = capgate()
        .arg("compile")
        .arg(&m)
        .arg("--param")
        .arg(format!("PKG={}", pkg.display()))
        .arg("--param")
        .arg(format!("NODE_MODULES={}", nm.display()))
        .arg("--out-dir")
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let log = t.path().join("launches.jsonl");

    for target in ["bwrap", "docker"] {
        let mut c = capgate();
        c.arg("exec")
            .arg(&out)
            .args(["--target", target, "--launch-log"])
            .arg(&log)
            .env("CAPGATE_LAUNCH_SECRET", SECRET);
        let mut client = Client::spawn(c);
        client.initialize().unwrap_or_else(|e| panic!("{target}: {e}"));
        let tools = client.tool_names().unwrap_or_else(|e| panic!("{target}: {e}"));
        assert!(tools.iter().any(|t| t == "get-env"), "{target}: {tools:?}");
        // The server really has the secret: the log's silence about it counts.
        let (_, env) = client
            .call("get-env", obj(&[]))
            .unwrap_or_else(|e| panic!("{target}: {e}"));
        assert!(
            env.contains(SECRET),
            "{target}: the server did not get the secret: {env}"
        );
        assert_eq!(client.finish(), Some(0), "{target}: exit status");
    }

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(SECRET), "the launch log holds the secret value:\n{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "one line per launch:\n{text}");
    assert!(text.ends_with('\n'));

    let index = json::parse(&std::fs::read_to_string(out.join("index.json")).unwrap())
        .unwrap()
        .to_json();
    let index = object(&index);
    let schema = schema();
    let props = object(&schema["properties"]);
    let required: Vec<&str> = match &schema["required"] {
        Json::Array(r) => r
            .iter()
            .map(|x| match x {
                Json::Str(s) => s.as_str(),
                _ => panic!(),
            })
            .collect(),
        _ => panic!(),
    };
    for (line, target) in lines.iter().zip(["bwrap", "docker"]) {
        let v = json::parse(line)
            .unwrap_or_else(|_| panic!("not JSON: {line}"))
            .to_json();
        let o = object(&v);
        for k in o.keys() {
            assert!(props.contains_key(k), "{target}: `{k}` is not in the schema");
        }
        for k in &required {
            assert!(o.contains_key(*k), "{target}: required `{k}` missing");
        }
        assert_eq!(o["format"], Json::str("capgate.launch/1"));
        assert_eq!(o["capgate"], Json::str(capgate::VERSION));
        assert_eq!(o["key"], index["key"], "{target}: key");
        assert_eq!(o["manifest"], index["manifest"], "{target}: manifest");
        assert_eq!(o["target"], Json::str(target));
        // Every file of index.json, with its digest, plus index.json itself.
        let digests = object(&o["artifacts"]);
        let Json::Array(files) = &index["files"] else { panic!() };
        assert_eq!(digests.len(), files.len() + 1, "{target}: {digests:?}");
        for f in files {
            let f = object(f);
            let Json::Str(p) = &f["path"] else { panic!() };
            assert_eq!(digests[p], f["sha256"], "{target}: {p}");
        }
        let index_digest = capgate::artifact::sha256_hex(&std::fs::read(out.join("index.json")).unwrap());
        assert_eq!(digests["index.json"], Json::str(index_digest));
        // The command as run, the secret's name, not its value.
        let Json::Array(cmd) = &o["command"] else { panic!() };
        assert_eq!(cmd[0], Json::str("/usr/bin/node"), "{target}");
        assert_eq!(cmd.last(), Some(&Json::str("stdio")), "{target}");
        assert_eq!(o["env"], Json::strs(["CAPGATE_LAUNCH_SECRET"]), "{target}");
        let Json::Array(rt) = &o["runtime_argv"] else { panic!() };
        let runtime = match &rt[0] {
            Json::Str(s) => s.clone(),
            _ => panic!(),
        };
        assert!(
            runtime.ends_with(if target == "bwrap" { "bwrap" } else { "podman" }) || runtime.ends_with("systemd-run"),
            "{target}: {runtime}"
        );
        assert_eq!(o["status"], obj(&[("code", Json::Int(0))]), "{target}");
        assert_eq!(o["exit"], Json::Int(0), "{target}");
        assert!(matches!(o["pid"], Json::Int(p) if p > 1), "{target}");
        assert_eq!(o["user"], Json::str("65534:65534"), "{target}");
        // What enforced the manifest's limits.
        let limits = object(&o["limits"]);
        let memory = &limits["limit:set:memory=256MiB"];
        if target == "docker" {
            assert_eq!(memory, &Json::str("podman"));
            assert!(matches!(o.get("container"), Some(Json::Str(c)) if c.starts_with("capgate-")));
        } else {
            assert!(
                memory == &Json::str("cgroupfs") || memory == &Json::str("systemd-run --scope"),
                "{memory:?}"
            );
            assert!(!o.contains_key("container"));
        }
        let (Json::Str(start), Json::Str(end)) = (&o["start"], &o["end"]) else {
            panic!()
        };
        assert!(is_time(start) && is_time(end), "{target}: {start} {end}");
        assert!(start <= end, "{target}: start {start} after end {end}");
        assert!(get(&v, "format").is_some());
    }
}

#[test]
fn fd_sink_and_signal_status() {
    let Some(_lab) = lab() else { return };
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("m.json");
    std::fs::write(&m, r#"{"grammar":"1","name":"s","version":"1"}"#).unwrap();
    // fd:1 — the line goes to stdout after the server's own output.
    let o = capgate()
        .arg("exec")
        .arg(&m)
        .args(["--launch-log", "fd:1", "--", "/bin/sh", "-c", "echo server; kill -9 $$"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("server"), "{out}");
    let v = json::parse(lines.next().unwrap_or_default())
        .unwrap_or_else(|_| panic!("{out}"))
        .to_json();
    let o2 = object(&v);
    // bwrap reports a killed child as its own exit status 128+9.
    assert_eq!(o2["exit"], Json::Int(i64::from(o.status.code().unwrap())), "{out}");
    assert_eq!(o.status.code(), Some(137), "{out}");
    // A bad sink fails before anything runs.
    let o = capgate()
        .arg("exec")
        .arg(&m)
        .args(["--launch-log", "fd:999", "--", "/bin/true"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--launch-log fd:999"));
    let o = capgate()
        .arg("exec")
        .arg(&m)
        .args(["--launch-log"])
        .arg(t.path().join("no/such/dir/log"))
        .args(["--", "/bin/true"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}
