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
