//! `capgate diff`: golden cases, `--fail-on` exit codes, out-dir and
//! git-revision inputs, params, errors, and the semantic delta through the
//! library.
//!
//! Each `tests/diff/<case>/` holds `old.json`, `new.json`, a `README` line
//! saying what the case is for, and the expected output of
//! `capgate diff old.json new.json` (run in the case directory) as
//! `expected.txt` (human), `expected.md` (`--format markdown`) and
//! `expected.json` (`--format json`).
//! `CAPGATE_UPDATE_GOLDEN=1 cargo test --test diff` rewrites the expected
//! files (review the diff before committing).

use capgate::diff::{self, ChangeKind};
use capgate::json::{self, Kind, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("diff")
}

fn updating() -> bool {
    std::env::var_os("CAPGATE_UPDATE_GOLDEN").is_some_and(|v| v == "1")
}

fn case_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(cases_dir())
        .expect("tests/diff exists")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .filter(|n| cases_dir().join(n).is_dir())
        .collect();
    names.sort();
    names
}

fn capgate(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capgate"))
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run capgate")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 stdout")
}

fn get<'a>(v: &'a Value, key: &str) -> &'a Value {
    match &v.kind {
        Kind::Object(m) => m
            .iter()
            .find(|(k, _)| k.text == key)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no `{key}`")),
        _ => panic!("not an object looking for `{key}`"),
    }
}

fn parse(text: &str) -> Value {
    json::parse(text).unwrap_or_else(|d| panic!("not JSON: {}\n{text}", d[0].message))
}

#[test]
fn golden_cases() {
    let names = case_names();
    assert!(names.len() >= 12, "expected the golden cases, found {names:?}");
    let mut problems = Vec::new();
    for case in &names {
        let dir = cases_dir().join(case);
        assert!(dir.join("README").is_file(), "{case}: no README saying what it tests");
        for (format, file) in [
            ("human", "expected.txt"),
            ("markdown", "expected.md"),
            ("json", "expected.json"),
        ] {
            let out = capgate(&dir, &["diff", "old.json", "new.json", "--format", format]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{case} {format}: stderr {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.stderr.is_empty(),
                "{case}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let got = stdout(&out);
            let path = dir.join(file);
            if updating() {
                fs::write(&path, &got).unwrap();
                continue;
            }
            let want = fs::read_to_string(&path).unwrap_or_else(|_| panic!("{case}: missing {file}"));
            if got != want {
                problems.push(format!("{case}/{file} differs:\n--- want\n{want}\n--- got\n{got}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `--fail-on widen` exits 1 exactly when the JSON says `widens`, `--fail-on
/// any` exactly when anything changed; without it diff exits 0.
#[test]
fn fail_on_exit_codes() {
    let mut widening = 0;
    for case in case_names() {
        let dir = cases_dir().join(case.as_str());
        let out = capgate(&dir, &["diff", "old.json", "new.json", "--format", "json"]);
        let v = parse(&stdout(&out));
        let widens = matches!(get(&v, "widens").kind, Kind::Bool(true));
        let empty = stdout(&capgate(&dir, &["diff", "old.json", "new.json"])).contains("no permission change");
        widening += usize::from(widens);
        let code = |flag: &str| {
            capgate(&dir, &["diff", "old.json", "new.json", "--fail-on", flag])
                .status
                .code()
        };
        assert_eq!(code("widen"), Some(i32::from(widens)), "{case}: --fail-on widen");
        assert_eq!(code("any"), Some(i32::from(!empty)), "{case}: --fail-on any");
        // The reverse direction of a pure widening narrows and passes --fail-on widen.
        if case == "fs-root" || case == "net-listen-udp" {
            assert!(widens);
        }
    }
    assert!(widening >= 8, "most cases widen something");
    let noop = cases_dir().join("noop-reorder");
    assert_eq!(
        capgate(&noop, &["diff", "old.json", "new.json", "--fail-on", "any"])
            .status
            .code(),
        Some(0)
    );
    // A pure widening reversed: nothing widens.
    let root = cases_dir().join("fs-root");
    let back = capgate(&root, &["diff", "new.json", "old.json", "--fail-on", "widen"]);
    assert_eq!(back.status.code(), Some(0), "{}", stdout(&back));
    assert!(stdout(&back).contains("narrowed  fs"), "{}", stdout(&back));
    let fwd = capgate(&root, &["diff", "old.json", "new.json", "--fail-on", "widen"]);
    assert!(String::from_utf8_lossy(&fwd.stderr).contains("--fail-on widen"));
}

/// An out-dir compares exactly like the manifest it was compiled from.
#[test]
fn out_dirs_compare_like_their_manifests() {
    let tmp = tempfile::tempdir().unwrap();
    for case in case_names() {
        let dir = cases_dir().join(case.as_str());
        let mut outs = Vec::new();
        for side in ["old", "new"] {
            let out = tmp.path().join(format!("{case}-{side}"));
            let o = capgate(
                &dir,
                &[
                    "compile",
                    &format!("{side}.json"),
                    "--out-dir",
                    out.to_str().unwrap(),
                    "--quiet",
                ],
            );
            assert_eq!(
                o.status.code(),
                Some(0),
                "{case}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            outs.push(out);
        }
        let want = fs::read_to_string(dir.join("expected.json")).unwrap();
        let (o, n) = (outs[0].to_str().unwrap(), outs[1].to_str().unwrap());
        let got = capgate(&dir, &["diff", o, n, "--format", "json"]);
        assert_eq!(
            got.status.code(),
            Some(0),
            "{case}: {}",
            String::from_utf8_lossy(&got.stderr)
        );
        assert_eq!(stdout(&got), want, "{case}: out-dir vs manifest");
        // Mixed: an out-dir on one side, a manifest on the other.
        let mixed = capgate(&dir, &["diff", o, "new.json", "--format", "json"]);
        assert_eq!(stdout(&mixed), want, "{case}: out-dir vs manifest (mixed)");
    }
}

/// An out-dir compiled for fewer targets compares only the targets both sides have.
#[test]
fn out_dir_targets_are_intersected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = cases_dir().join("unenforced-newly");
    let out = tmp.path().join("old");
    let o = capgate(
        &dir,
        &[
            "compile",
            "old.json",
            "--out-dir",
            out.to_str().unwrap(),
            "--target",
            "egress",
            "--quiet",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    let got = stdout(&capgate(&dir, &["diff", out.to_str().unwrap(), "new.json"]));
    assert!(!got.contains("target bwrap"), "{got}");
    let full = stdout(&capgate(&dir, &["diff", "old.json", "new.json"]));
    assert!(full.contains("target bwrap"), "{full}");
    assert!(full.contains("newly unenforced: ipc:connect:wayland"), "{full}");
}

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .expect("git runs (CI installs it)");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `git:REV:PATH` reads the manifest committed at REV (and the
/// capgate.params.json beside it at that revision).
#[test]
fn git_revisions() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path();
    git(repo, &["init", "-q"]);
    fs::create_dir(repo.join("srv")).unwrap();
    let case = cases_dir().join("fs-kinds");
    fs::copy(case.join("old.json"), repo.join("srv/capgate.json")).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", "old"]);
    fs::copy(case.join("new.json"), repo.join("srv/capgate.json")).unwrap();
    git(repo, &["commit", "-q", "-am", "new"]);

    let want = fs::read_to_string(case.join("expected.txt")).unwrap();
    let out = capgate(
        repo,
        &["diff", "git:HEAD~1:srv/capgate.json", "git:HEAD:srv/capgate.json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout(&out), want);
    // A revision against the work tree.
    let out = capgate(repo, &["diff", "git:HEAD~1:srv/capgate.json", "srv/capgate.json"]);
    assert_eq!(stdout(&out), want);
    assert_eq!(
        capgate(
            repo,
            &[
                "diff",
                "git:HEAD~1:srv/capgate.json",
                "git:HEAD:srv/capgate.json",
                "--fail-on",
                "widen"
            ]
        )
        .status
        .code(),
        Some(1)
    );
    // Same revision: no change.
    let same = capgate(
        repo,
        &[
            "diff",
            "git:HEAD:srv/capgate.json",
            "srv/capgate.json",
            "--fail-on",
            "any",
        ],
    );
    assert_eq!(same.status.code(), Some(0));

    // Params beside the manifest at each revision.
    let manifest = r#"{"grammar":"1","name":"p","version":"1","command":["${PKG}/bin/server"],
      "params":{"PKG":{"description":"package dir"}},
      "capabilities":["fs:read:${PKG}/**"]}"#;
    fs::write(repo.join("srv/capgate.json"), manifest).unwrap();
    fs::write(repo.join("srv/capgate.params.json"), r#"{"PKG":"/opt/mcp/a"}"#).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", "params a"]);
    fs::write(repo.join("srv/capgate.params.json"), r#"{"PKG":"/opt/mcp/b"}"#).unwrap();
    git(repo, &["commit", "-q", "-am", "params b"]);
    let out = capgate(
        repo,
        &["diff", "git:HEAD~1:srv/capgate.json", "git:HEAD:srv/capgate.json"],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("granted   fs     fs:read:/opt/mcp/b/**"), "{text}");
    assert!(text.contains("revoked   fs     fs:read:/opt/mcp/a/**"), "{text}");
    // --param overrides the beside-file on both sides: no change.
    let out = capgate(
        repo,
        &[
            "diff",
            "git:HEAD~1:srv/capgate.json",
            "git:HEAD:srv/capgate.json",
            "--param",
            "PKG=/opt/mcp/c",
            "--fail-on",
            "any",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // Errors: a path or revision git does not have, a malformed spec.
    for bad in [
        "git:HEAD:nope.json",
        "git:no-such-rev:srv/capgate.json",
        "git:HEAD",
        "git::x",
    ] {
        let out = capgate(repo, &["diff", bad, "srv/capgate.json"]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "), "{bad}");
    }
    let err =
        |spec: &str| String::from_utf8_lossy(&capgate(repo, &["diff", spec, "srv/capgate.json"]).stderr).into_owned();
    assert!(err("git:HEAD:nope.json").contains("`nope.json` does not exist at revision HEAD"));
    assert!(err("git:no-such-rev:srv/capgate.json").contains("no-such-rev"));
    // Outside a repository: git's own message, exit 2.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = capgate(
        elsewhere.path(),
        &["diff", "git:HEAD:capgate.json", "git:HEAD:capgate.json"],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn params_apply_to_both_sides() {
    let tmp = tempfile::tempdir().unwrap();
    let m = |extra: &str| {
        format!(
            r#"{{"grammar":"1","name":"p","version":"1","command":["${{PKG}}/bin/server"],
            "params":{{"PKG":{{"description":"package dir"}}}},
            "capabilities":["fs:read:${{PKG}}/**"{extra}]}}"#
        )
    };
    fs::write(tmp.path().join("old.json"), m("")).unwrap();
    fs::write(tmp.path().join("new.json"), m(r#","net:connect:api.x.com:443""#)).unwrap();
    let out = capgate(
        tmp.path(),
        &["diff", "old.json", "new.json", "--param", "PKG=/opt/mcp/p"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    assert!(text.contains("granted   net    net:connect:api.x.com:443"), "{text}");
    assert!(!text.contains("fs:read"), "{text}");
    // Without the param, the manifests are rejected (exit 1, diagnostics on stderr).
    let out = capgate(tmp.path(), &["diff", "old.json", "new.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[CG0120]"));
    // A param neither side declares is a usage error.
    let out = capgate(
        tmp.path(),
        &[
            "diff",
            "old.json",
            "new.json",
            "--param",
            "PKG=/opt/mcp/p",
            "--param",
            "NOPE=1",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NOPE"));
}

#[test]
fn input_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let case = cases_dir().join("fs-root");
    let old = case.join("old.json");
    let old = old.to_str().unwrap();
    // Missing file, a directory that is not an out-dir: exit 2.
    for bad in ["missing.json", "."] {
        let out = capgate(tmp.path(), &["diff", bad, old]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));
    }
    // A broken policy.json in an out-dir: exit 2, with the reason.
    let out_dir = tmp.path().join("out");
    assert_eq!(
        capgate(
            &case,
            &["compile", "old.json", "--out-dir", out_dir.to_str().unwrap(), "--quiet"]
        )
        .status
        .code(),
        Some(0)
    );
    let p = out_dir.join("policy.json");
    let text = fs::read_to_string(&p).unwrap();
    fs::write(&p, text.replace("fs:read:/data/**", "fs:read:/data/../etc")).unwrap();
    let out = capgate(tmp.path(), &["diff", "out", old]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("policy.json") && err.contains("CG0211"), "{err}");
    // A rejected manifest: exit 1, its diagnostics name the side.
    fs::write(
        tmp.path().join("bad.json"),
        r#"{"grammar":"1","name":"x","version":"1","capabilities":["fs:raed:/x"]}"#,
    )
    .unwrap();
    let out = capgate(tmp.path(), &["diff", "bad.json", old]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.json") && err.contains("[CG0203]"), "{err}");
    // JSON diagnostics with --format json.
    let out = capgate(tmp.path(), &["diff", "missing.json", old, "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("{"));
    // Unknown --fail-on value: usage error.
    assert_eq!(
        capgate(tmp.path(), &["diff", old, old, "--fail-on", "narrow"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn help_has_examples() {
    let out = capgate(Path::new("."), &["diff", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    for want in ["git:REV:PATH", "--fail-on", "--format", "Examples:", "docs/diff.md"] {
        assert!(help.contains(want), "missing {want}:\n{help}");
    }
}

// ---------------------------------------------------------------------------
// The library: semantic comparison without the command line.

fn policy(caps: &[&str], tools: &[(&str, &[&str])]) -> capgate::policy::Policy {
    let q = |l: &[&str]| l.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(",");
    let tools: Vec<String> = tools
        .iter()
        .map(|(n, c)| format!(r#"{{"name":"{n}","capabilities":[{}]}}"#, q(c)))
        .collect();
    let m = format!(
        r#"{{"grammar":"1","name":"d","version":"1","command":["/usr/bin/node"],"capabilities":[{}],"tools":[{}]}}"#,
        q(caps),
        tools.join(",")
    );
    capgate::compile(m.as_bytes(), &Default::default())
        .unwrap_or_else(|e| panic!("{caps:?}: {e:?}"))
        .policy
}

/// The single effective change from `old` to `new`.
fn one(old: &[&str], new: &[&str]) -> (ChangeKind, bool) {
    let d = diff::diff(&policy(old, &[]), &policy(new, &[]));
    assert_eq!(d.effective.len(), 1, "{old:?} -> {new:?}: {:#?}", d.effective);
    (d.effective[0].kind, d.widens())
}

#[test]
fn semantic_widening() {
    use ChangeKind::*;
    let w = (Widened, true);
    assert_eq!(one(&["fs:read:/data/**"], &["fs:read:/**?sensitive=allow"]), w);
    assert_eq!(one(&["fs:read:/data/*"], &["fs:read:/data/**"]), w);
    assert_eq!(one(&["fs:read:/data/**"], &["fs:read,write:/data/**"]), w);
    assert_eq!(one(&["net:connect:api.x.com:443"], &["net:connect:*.x.com:443"]), w);
    assert_eq!(
        one(&["net:connect:api.x.com:443"], &["net:connect:api.x.com:1-65535"]),
        w
    );
    assert_eq!(
        one(
            &["net:connect:api.x.com:443"],
            &["net:connect:api.x.com:443?private=allow"]
        ),
        w
    );
    // read <-> inject: the same access, a different meaning.
    assert_eq!(one(&["env:inject:T"], &["env:read:T"]), (Changed, false));
    assert_eq!(one(&["env:read:T"], &["env:inject:T"]), (Changed, false));
    assert_eq!(one(&["env:set:T=1"], &["env:read:T"]), w);
    // The reverse of each is a narrowing and widens nothing.
    assert_eq!(
        one(&["fs:read:/**?sensitive=allow"], &["fs:read:/data/**"]),
        (Narrowed, false)
    );
    assert_eq!(
        one(&["net:connect:*.x.com:443"], &["net:connect:api.x.com:443"]),
        (Narrowed, false)
    );
    assert_eq!(one(&["env:read:T"], &["env:set:T=1"]), (Narrowed, false));
    // Neither covers the other: changed (widens too).
    assert_eq!(one(&["fs:read:/data/**"], &["fs:write:/data/**"]), (Changed, true));
    // Unrelated: granted and revoked.
    let d = diff::diff(&policy(&["fs:read:/a/**"], &[]), &policy(&["fs:read:/b/**"], &[]));
    let kinds: Vec<ChangeKind> = d.effective.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [Revoked, Granted]);
}

#[test]
fn no_change_at_all() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["fs:read:/a/**", "net:connect:x.com:443"],
            &["net:connect:x.com:443", "fs:read:/a/**"],
        ),
        (&["fs:read:/a/**"], &["fs:read:/a/**", "fs:read:/a/**"]),
        (&["fs:write,read:/a/**"], &["fs:read,write:/a/**"]),
        (&["fs:read:/a/**", "fs:write:/a/**"], &["fs:read,write:/a/**"]),
        (&["fs:read:/a"], &["fs:read:/a/**"]),
        (&["net:connect:X.com:443"], &["net:connect:x.com:443?proto=tcp"]),
        (
            &["net:connect:x.com:1-100", "net:connect:x.com:101-200"],
            &["net:connect:x.com:1-200"],
        ),
        // A grant already covered by another adds nothing.
        (&["fs:read:/a/**"], &["fs:read:/a/**", "fs:read:/a/b"]),
    ];
    for (old, new) in cases {
        let d = diff::diff(&policy(old, &[]), &policy(new, &[]));
        assert!(d.effective.is_empty(), "{old:?} -> {new:?}: {:#?}", d.effective);
        assert!(!d.widens(), "{old:?} -> {new:?}");
    }
}

#[test]
fn per_tool_view() {
    let old = policy(&["net:connect:api.x.com:443"], &[("search", &["env:inject:T"])]);
    let new = policy(
        &[],
        &[
            ("search", &["env:inject:T", "net:connect:api.x.com:443"]),
            ("fetch", &["fs:read:/srv/**"]),
        ],
    );
    let d = diff::diff(&old, &new);
    // Effective: only the new tool's grant.
    assert_eq!(d.effective.len(), 1);
    assert_eq!(d.effective[0].new, ["fs:read:/srv/**"]);
    assert_eq!(d.server.changes.len(), 1);
    assert_eq!(d.server.changes[0].kind, ChangeKind::Revoked);
    assert!(d.server.removed);
    let search = &d.tools["search"];
    assert_eq!(search.changes[0].kind, ChangeKind::Granted);
    assert_eq!(search.changes[0].new, ["net:connect:api.x.com:443"]);
    assert!(!search.added);
    assert!(d.tools["fetch"].added);
    assert_eq!(d.tools.len(), 2);
}

fn policy_text(m: &str) -> capgate::policy::Policy {
    capgate::compile(m.as_bytes(), &Default::default())
        .unwrap_or_else(|e| panic!("{m}: {e:?}"))
        .policy
}

#[test]
fn profile_changes() {
    let m = |profile: &str| {
        policy_text(&format!(
            r#"{{"grammar":"1","name":"d","version":"1","command":["/usr/bin/node"],"profile":"{profile}","capabilities":[]}}"#
        ))
    };
    let (debian, nix, none) = (m("debian"), m("nix"), m("none"));
    assert!(diff::diff(&none, &debian).widens(), "none -> debian adds /usr");
    assert!(diff::diff(&debian, &nix).widens(), "debian -> nix adds /nix/store");
    let d = diff::diff(&debian, &none);
    assert!(!d.widens(), "debian -> none only removes /usr");
    assert_eq!(d.fields[0].field, "profile");
}

/// Manifest text cannot restyle the Markdown comment: it stays in code spans.
#[test]
fn markdown_keeps_manifest_text_in_code_spans() {
    let m = |text: &str| {
        policy_text(&format!(
            r#"{{"grammar":"1","name":"d","version":"1 <b>","command":["/usr/bin/node"],"capabilities":["assert:require:x:{text}"]}}"#
        ))
    };
    let d = diff::diff(&m("one"), &m("</details> | `tick` <img src=x>"));
    let md = diff::render_markdown(&d);
    assert!(
        md.contains("`` assert:require:x:</details> \\| `tick` <img src=x> ``"),
        "{md}"
    );
    assert!(md.contains("`1 <b>`"), "{md}");
    // The only raw </details> is capgate's own, on a line of its own.
    let raw = md
        .lines()
        .filter(|l| l.contains("</details>") && !l.contains('`'))
        .count();
    assert_eq!(raw, 1, "{md}");
    assert_eq!(md.lines().last(), Some("</details>"));
}

/// docs/diff.md shows the quickstart-pr case exactly as capgate prints it
/// (rendered and as source), so the documentation cannot drift.
#[test]
fn docs_example_is_the_golden_output() {
    let doc = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/diff.md")).unwrap();
    let case = cases_dir().join("quickstart-pr");
    for file in ["expected.txt", "expected.md", "new.json"] {
        let want = fs::read_to_string(case.join(file)).unwrap();
        assert!(
            doc.contains(&want),
            "docs/diff.md does not show tests/diff/quickstart-pr/{file}:\n{want}"
        );
    }
    assert_eq!(
        doc.matches(fs::read_to_string(case.join("expected.md")).unwrap().as_str())
            .count(),
        2,
        "the Markdown example appears rendered and as source"
    );
    let old = fs::read_to_string(case.join("old.json")).unwrap();
    let quickstart =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart/capgate.json")).unwrap();
    assert_eq!(old, quickstart, "the case starts from examples/quickstart");
}

/// Every example manifest (grammar 1 and the TypeScript-era 0.0 ones)
/// compares equal to its own out-dir: policy.json reads back to the same
/// policy, whatever the grammar.
#[test]
fn every_example_equals_its_out_dir() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut manifests = Vec::new();
    for e in fs::read_dir(&root).unwrap() {
        let p = e.unwrap().path().join("capgate.json");
        if p.is_file() {
            manifests.push(p);
        }
    }
    for e in fs::read_dir(root.join("compat")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            manifests.push(p);
        }
    }
    manifests.sort();
    assert!(manifests.len() >= 20, "{manifests:?}");
    let tmp = tempfile::tempdir().unwrap();
    let mut compared = 0;
    for (i, m) in manifests.iter().enumerate() {
        let out = tmp.path().join(i.to_string());
        let mut args = vec![
            "compile".to_string(),
            m.display().to_string(),
            "--out-dir".into(),
            out.display().to_string(),
            "--quiet".into(),
        ];
        let beside = m.parent().unwrap().join("capgate.params.json");
        if m.ends_with("capgate.json") && beside.is_file() {
            args.extend(["--params-file".into(), beside.display().to_string()]);
        }
        let o = Command::new(env!("CARGO_BIN_EXE_capgate"))
            .args(&args)
            .output()
            .unwrap();
        if o.status.code() != Some(0) {
            // A compat manifest that needs params it cannot have is not this test's business.
            assert!(
                m.starts_with(root.join("compat")),
                "{}: {}",
                m.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            continue;
        }
        let d = capgate(
            tmp.path(),
            &["diff", m.to_str().unwrap(), out.to_str().unwrap(), "--fail-on", "any"],
        );
        assert_eq!(
            d.status.code(),
            Some(0),
            "{}: {}{}",
            m.display(),
            stdout(&d),
            String::from_utf8_lossy(&d.stderr)
        );
        assert!(stdout(&d).contains("no permission change"));
        compared += 1;
    }
    assert!(compared >= 20, "only {compared} examples compared");
}

// ---------------------------------------------------------------------------
// Properties over random grant sets (no limits or assertions: those are
// constraints, where adding one narrows).

const POOL: &[&str] = &[
    "fs:read:/data/**",
    "fs:read:/data/*",
    "fs:read:/data/a",
    "fs:read,write:/data/**",
    "fs:write:/data/a/**",
    "fs:read:/srv/**",
    "fs:read:/srv/x/y",
    "fs:read:/opt/mcp/p/**",
    "net:connect:api.x.com:443",
    "net:connect:*.x.com:443",
    "net:connect:*.x.com:*",
    "net:connect:api.x.com:1-1024",
    "net:connect:api.x.com:443?private=allow",
    "net:connect:10.0.0.0/8:5432",
    "net:connect:10.1.0.0/16:5432",
    "net:connect:*:443",
    "net:connect:api.x.com:53?proto=udp",
    "net:listen:api.x.com:8080",
    "env:read:A",
    "env:inject:A",
    "env:read:B",
    "exec:spawn:git",
    "exec:spawn:chromium",
    "exec:spawn:chromium?nestedSandbox=true",
    "ipc:connect:x11",
    "clock:read:tzdata",
];

fn pick(ix: &[usize]) -> Vec<&'static str> {
    ix.iter().map(|i| POOL[*i]).collect()
}

fn set_strategy() -> impl proptest::strategy::Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0..POOL.len(), 0..8)
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 96, failure_persistence: None, ..Default::default() })]

    /// Reordering and duplicating grants, and moving nothing between scopes, is no change.
    #[test]
    fn reorder_and_duplicates_are_no_change(a in set_strategy(), seed in 0usize..1000) {
        let caps = pick(&a);
        let mut shuffled = caps.clone();
        if !shuffled.is_empty() {
            let n = shuffled.len();
            shuffled.rotate_left(seed % n);
            shuffled.reverse();
            shuffled.push(caps[seed % caps.len()]);
        }
        let d = diff::diff(&policy(&caps, &[]), &policy(&shuffled, &[]));
        proptest::prop_assert!(d.is_empty(), "{:?} vs {:?}: {:#?}", caps, shuffled, d);
    }

    /// Adding grants never narrows; removing them never widens.
    #[test]
    fn adding_only_widens(a in set_strategy(), extra in set_strategy()) {
        let small = pick(&a);
        let mut big = small.clone();
        big.extend(pick(&extra));
        let up = diff::diff(&policy(&small, &[]), &policy(&big, &[]));
        proptest::prop_assert!(up.effective.iter().all(|c| !c.narrows), "{:?} -> {:?}: {:#?}", small, big, up.effective);
        let down = diff::diff(&policy(&big, &[]), &policy(&small, &[]));
        proptest::prop_assert!(down.effective.iter().all(|c| !c.widens), "{:?} -> {:?}: {:#?}", big, small, down.effective);
    }

    /// The delta of B -> A is the mirror of A -> B: granted <-> revoked,
    /// widened <-> narrowed, changed stays changed.
    #[test]
    fn reverse_is_the_mirror(a in set_strategy(), b in set_strategy()) {
        let (pa, pb) = (policy(&pick(&a), &[]), policy(&pick(&b), &[]));
        let fwd = diff::diff(&pa, &pb);
        let back = diff::diff(&pb, &pa);
        let c = |d: &diff::Delta, k: ChangeKind| d.counts()[&k];
        proptest::prop_assert_eq!(c(&fwd, ChangeKind::Granted), c(&back, ChangeKind::Revoked));
        proptest::prop_assert_eq!(c(&fwd, ChangeKind::Widened), c(&back, ChangeKind::Narrowed));
        proptest::prop_assert_eq!(c(&fwd, ChangeKind::Changed), c(&back, ChangeKind::Changed));
        proptest::prop_assert_eq!(
            fwd.effective.iter().any(|x| x.widens),
            back.effective.iter().any(|x| x.narrows)
        );
    }
}

/// A new target note counts as widening only when the old grants did not
/// already allow its effect (a `/*` bound as the whole directory the old
/// `/**` granted; exec by bind that the old `read,exec` granted).
#[test]
fn target_notes_covered_by_the_old_grants_do_not_widen() {
    for (case, widens) in [
        ("narrow-children", false),
        ("narrow-exec", false),
        ("widen-children-note", true),
    ] {
        let dir = cases_dir().join(case);
        let o = capgate(&dir, &["diff", "old.json", "new.json", "--fail-on", "widen"]);
        assert_eq!(o.status.code(), Some(i32::from(widens)), "{case}");
        let out = stdout(&o);
        assert!(out.contains("newly "), "{case}: the note is still reported\n{out}");
        assert_eq!(out.contains("does not widen)"), !widens, "{case}\n{out}");
    }
}

/// No nofile grant means capgate exec's default (1024) on docker/podman:
/// adding one above it widens, at or below it does not.
#[test]
fn nofile_added_widens_only_above_the_launcher_default() {
    assert_eq!(
        capgate::capability::LAUNCHER_DEFAULT_NOFILE,
        1024,
        "docs/diff.md and docs/exec.md say 1024"
    );
    for (case, widens) in [
        ("nofile-added-above-default", true),
        ("nofile-added-below-default", false),
    ] {
        let dir = cases_dir().join(case);
        let o = capgate(&dir, &["diff", "old.json", "new.json", "--fail-on", "widen"]);
        assert_eq!(o.status.code(), Some(i32::from(widens)), "{case}");
    }
}
