//! `capgate lock`, `capgate verify --lock` and `capgate attest`, through the
//! real binary on scratch trees.

use assert_cmd::Command;
use std::fs;
use std::path::Path;

const A: &str = r#"{"grammar": "1", "name": "a", "version": "1.0.0",
  "command": ["/usr/bin/node", "${PKG}/index.js"], "params": {"PKG": {}},
  "capabilities": ["fs:read:${PKG}/**", "net:connect:api.example.com:443"]}"#;
const B: &str = r#"{"grammar": "1", "name": "b", "version": "2.0.0",
  "tools": [{"name": "t", "capabilities": ["env:inject:TOKEN", "fs:read,write:/srv/mcp/b/**"]}]}"#;

fn capgate() -> Command {
    Command::cargo_bin("capgate").unwrap()
}

fn tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    fs::create_dir_all(r.join("servers/a")).unwrap();
    fs::create_dir_all(r.join("servers/b")).unwrap();
    fs::write(r.join("servers/a/capgate.json"), A).unwrap();
    fs::write(r.join("servers/a/capgate.params.json"), r#"{"PKG": "/opt/mcp/a"}"#).unwrap();
    fs::write(r.join("servers/b/capgate.json"), B).unwrap();
    // Never walked: hostile UI inputs, dependencies, build outputs.
    for skipped in ["tests/ui/x", "node_modules/m", "target/t", "bazel-out/o", ".git/g"] {
        fs::create_dir_all(r.join(skipped)).unwrap();
        fs::write(r.join(skipped).join("capgate.json"), "{not json").unwrap();
    }
    t
}

fn lock(root: &Path) -> String {
    capgate().arg("lock").arg(root).assert().success();
    fs::read_to_string(root.join("capgate.lock")).unwrap()
}

fn verify(root: &Path) -> assert_cmd::assert::Assert {
    capgate()
        .arg("verify")
        .arg("--lock")
        .arg(root.join("capgate.lock"))
        .assert()
}

#[test]
fn lock_lists_every_manifest_sorted_and_is_deterministic() {
    let t = tree();
    let first = lock(t.path());
    let v = capgate::json::parse(&first).unwrap().to_json();
    let capgate::json::Json::Object(top) = v else {
        panic!("lock is an object")
    };
    assert_eq!(top["format"], capgate::json::Json::str("capgate.lock/1"));
    let capgate::json::Json::Array(ms) = &top["manifests"] else {
        panic!()
    };
    let paths: Vec<String> = ms
        .iter()
        .map(|m| match m {
            capgate::json::Json::Object(o) => match &o["path"] {
                capgate::json::Json::Str(s) => s.clone(),
                _ => panic!(),
            },
            _ => panic!(),
        })
        .collect();
    assert_eq!(paths, ["servers/a/capgate.json", "servers/b/capgate.json"]);
    assert!(
        first.contains("\"PKG\": \"/opt/mcp/a\""),
        "params from capgate.params.json are recorded"
    );
    // Same bytes again, and from a copy of the tree elsewhere.
    assert_eq!(lock(t.path()), first);
    let u = tree();
    assert_eq!(lock(u.path()), first);
    verify(t.path()).success();
}

#[test]
fn verify_lock_reports_each_kind_of_drift() {
    // A changed manifest.
    let t = tree();
    lock(t.path());
    fs::write(
        t.path().join("servers/b/capgate.json"),
        B.replace("/srv/mcp/b/**", "/srv/mcp/b2/**"),
    )
    .unwrap();
    verify(t.path())
        .code(1)
        .stderr(predicates::str::contains("servers/b/capgate.json: key"));

    // A changed param.
    let t = tree();
    lock(t.path());
    fs::write(
        t.path().join("servers/a/capgate.params.json"),
        r#"{"PKG": "/opt/mcp/other"}"#,
    )
    .unwrap();
    verify(t.path())
        .code(1)
        .stderr(predicates::str::contains("servers/a/capgate.json: params changed"));

    // A new manifest.
    let t = tree();
    lock(t.path());
    fs::create_dir_all(t.path().join("servers/c")).unwrap();
    fs::write(t.path().join("servers/c/capgate.json"), B.replace("\"b\"", "\"c\"")).unwrap();
    verify(t.path())
        .code(1)
        .stderr(predicates::str::contains("servers/c/capgate.json: new manifest"));

    // A removed manifest.
    let t = tree();
    lock(t.path());
    fs::remove_file(t.path().join("servers/b/capgate.json")).unwrap();
    verify(t.path()).code(1).stderr(predicates::str::contains(
        "servers/b/capgate.json: in the lock, but missing",
    ));

    // A changed artifact hash (what an older or tampered compiler would have produced).
    let t = tree();
    let text = lock(t.path());
    let start = text.find("\"bwrap/args0\": \"").unwrap() + "\"bwrap/args0\": \"".len();
    let mut tampered = text.clone();
    tampered.replace_range(start..start + 64, &"0".repeat(64));
    fs::write(t.path().join("capgate.lock"), tampered).unwrap();
    verify(t.path())
        .code(1)
        .stderr(predicates::str::contains(
            "bwrap/args0 sha256 0000000000000000000000000000000000000000000000000000000000000000 ->",
        ))
        .stderr(predicates::str::contains("capgate lock"));
}

#[test]
fn lock_refuses_a_tree_with_a_rejected_manifest() {
    let t = tree();
    fs::write(
        t.path().join("servers/b/capgate.json"),
        B.replace("/srv/mcp/b/**", "/srv/mcp/../etc/**"),
    )
    .unwrap();
    capgate()
        .arg("lock")
        .arg(t.path())
        .assert()
        .code(1)
        .stderr(predicates::str::contains("[CG0211]"));
    assert!(
        !t.path().join("capgate.lock").exists(),
        "no lock is written for a rejected tree"
    );
}

#[test]
fn lock_does_not_follow_symlinks() {
    let t = tree();
    let outside = tempfile::tempdir().unwrap();
    fs::create_dir_all(outside.path().join("evil")).unwrap();
    fs::write(outside.path().join("evil/capgate.json"), B.replace("\"b\"", "\"evil\"")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("evil"), t.path().join("servers/link")).unwrap();
    assert!(!lock(t.path()).contains("evil"));
}

fn compiled(dir: &Path) {
    let m = dir.join("m.json");
    fs::write(&m, B).unwrap();
    capgate()
        .arg("compile")
        .arg(&m)
        .arg("--out-dir")
        .arg(dir.join("out"))
        .assert()
        .success();
}

#[test]
fn attest_is_an_in_toto_statement_over_every_file() {
    let t = tempfile::tempdir().unwrap();
    compiled(t.path());
    let out = capgate()
        .arg("attest")
        .arg(t.path().join("out"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.ends_with('\n') && !text.trim_end().contains('\n'), "one JCS line");
    let v = capgate::json::parse(text.trim_end()).unwrap().to_json();
    assert_eq!(v.to_compact(), text.trim_end(), "output is in canonical (JCS) form");
    let capgate::json::Json::Object(st) = v else { panic!() };
    assert_eq!(st["_type"], capgate::json::Json::str("https://in-toto.io/Statement/v1"));
    assert_eq!(
        st["predicateType"],
        capgate::json::Json::str("https://slsa.dev/provenance/v1")
    );
    let capgate::json::Json::Array(subjects) = &st["subject"] else {
        panic!()
    };
    // index.json plus the 7 files it lists, each with the file's real digest.
    assert_eq!(subjects.len(), 8);
    for s in subjects {
        let capgate::json::Json::Object(s) = s else { panic!() };
        let capgate::json::Json::Str(name) = &s["name"] else {
            panic!()
        };
        let bytes = fs::read(t.path().join("out").join(name)).unwrap();
        let want = capgate::json::Json::Object(
            [(
                "sha256".to_string(),
                capgate::json::Json::str(capgate::artifact::sha256_hex(&bytes)),
            )]
            .into(),
        );
        assert_eq!(s["digest"], want, "{name}");
    }
    let index = capgate::json::parse(&fs::read_to_string(t.path().join("out/index.json")).unwrap())
        .unwrap()
        .to_json();
    let capgate::json::Json::Object(index) = index else {
        panic!()
    };
    let capgate::json::Json::Object(manifest) = &index["manifest"] else {
        panic!()
    };
    let capgate::json::Json::Str(manifest_sha) = &manifest["sha256"] else {
        panic!()
    };
    assert!(text.contains(&format!(
        "\"resolvedDependencies\":[{{\"digest\":{{\"sha256\":\"{manifest_sha}\"}}"
    )));
    assert!(text.contains(&format!("capgate@{}", capgate::VERSION)));
    for time_field in ["startedOn", "finishedOn", "Time", "timestamp"] {
        assert!(!text.contains(time_field), "no time fields");
    }
    // Deterministic.
    let again = capgate()
        .arg("attest")
        .arg(t.path().join("out"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(again, text.as_bytes());
}

#[test]
fn attest_refuses_an_out_dir_that_does_not_match_its_index() {
    let t = tempfile::tempdir().unwrap();
    compiled(t.path());
    fs::write(t.path().join("out/egress/hosts"), "evil.example.com\n").unwrap();
    capgate()
        .arg("attest")
        .arg(t.path().join("out"))
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicates::str::contains("egress/hosts does not match index.json"));
    capgate().arg("attest").arg(t.path().join("missing")).assert().code(2);
}
