//! `capgate review`: the catalogue, the review policy file, --fail-on and
//! the golden reports.
//!
//! - `tests/review/<ID>/bad.json` triggers finding `<ID>`; `bad.expected`
//!   lists the `<ID>` findings it must give (`ID grant`, one a line), and
//!   `good.json` (the fixed manifest) must give none of them.
//! - `tests/review/golden/<case>.{human,json,sarif}` (`git-policy.json` is the git case's policy): exact reports of the
//!   commands in `golden_cases()`, run from the repository root.
//!
//! `CAPGATE_UPDATE_REVIEW=1 cargo test --test review` rewrites
//! `bad.expected` and the golden reports (review the diff).

use capgate::review::{self, catalogue::CATALOGUE, policy_file, Level, Review};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn review_dir() -> PathBuf {
    root().join("tests").join("review")
}

fn updating() -> bool {
    std::env::var_os("CAPGATE_UPDATE_REVIEW").is_some_and(|v| v == "1")
}

fn run(path: &Path, policy: &str) -> Review {
    let src = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let pol = policy_file::parse(policy.as_bytes()).unwrap_or_else(|d| panic!("policy: {d}"));
    review::review(&src, &capgate::Options::default(), &pol).unwrap_or_else(|d| panic!("{}: {d}", path.display()))
}

fn lines_of(r: &Review, id: &str) -> String {
    r.findings
        .iter()
        .filter(|f| f.rule.id == id)
        .map(|f| format!("{} {}\n", id, f.grant.as_deref().unwrap_or("-")))
        .collect()
}

#[test]
fn every_catalogue_entry_has_a_bad_and_a_good_manifest() {
    let dirs: BTreeSet<String> = fs::read_dir(review_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("CGR"))
        .collect();
    let ids: BTreeSet<String> = CATALOGUE.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(dirs, ids, "tests/review/<ID>/ must exist for exactly the catalogue ids");
    let mut failures = Vec::new();
    for rule in CATALOGUE {
        let dir = review_dir().join(rule.id);
        let bad = run(&dir.join("bad.json"), r#"{"overrides": []}"#);
        let got = lines_of(&bad, rule.id);
        let exp_path = dir.join("bad.expected");
        if got.is_empty() {
            failures.push(format!("{}: bad.json gives no {} finding", rule.id, rule.id));
        }
        if updating() {
            fs::write(&exp_path, &got).unwrap();
        } else {
            let want = fs::read_to_string(&exp_path).unwrap_or_default();
            if want != got {
                failures.push(format!(
                    "{}: bad.json findings\n--- expected\n{want}--- actual\n{got}",
                    rule.id
                ));
            }
        }
        let good = run(&dir.join("good.json"), r#"{"overrides": []}"#);
        let g = lines_of(&good, rule.id);
        if !g.is_empty() {
            failures.push(format!("{}: good.json still gives\n{g}", rule.id));
        }
        // The default severity is the catalogue's, with no policy.
        assert!(bad
            .findings
            .iter()
            .all(|f| f.severity == f.rule.severity && f.suppressed.is_none()));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn catalogue_is_well_formed() {
    let mut seen = BTreeSet::new();
    for (i, r) in CATALOGUE.iter().enumerate() {
        assert_eq!(r.id, format!("CGR{:03}", i + 1), "ids are dense and ordered");
        assert!(seen.insert(r.name), "duplicate name {}", r.name);
        assert!(
            r.title.len() > 10 && r.rationale.len() > 40 && r.fix.len() > 20,
            "{}",
            r.id
        );
    }
    // docs/review.md documents every entry with its severity.
    let doc = fs::read_to_string(root().join("docs/review.md")).unwrap();
    for r in CATALOGUE {
        let row = format!("| {} | {} | {} |", r.id, r.name, r.severity.as_str());
        assert!(doc.contains(&row), "docs/review.md lacks the row `{row}`");
    }
}

// ---------------------------------------------------------------------------
// The review policy file

const POLICY_CASE: &str = "tests/review/policy/manifest.json";

fn ids(r: &Review) -> Vec<(String, String, String, bool)> {
    r.findings
        .iter()
        .map(|f| {
            (
                f.rule.id.to_string(),
                f.grant.clone().unwrap_or_default(),
                f.severity.as_str().to_string(),
                f.suppressed.is_some(),
            )
        })
        .collect()
}

fn find<'r>(r: &'r Review, id: &str, grant: &str) -> &'r review::Finding {
    r.findings
        .iter()
        .find(|f| f.rule.id == id && f.grant.as_deref() == Some(grant))
        .unwrap_or_else(|| panic!("no {id} {grant} in {:?}", ids(r)))
}

#[test]
fn policy_raises_a_finding() {
    let path = root().join(POLICY_CASE);
    let r = run(
        &path,
        r#"{"overrides": [{"id": "CGR015", "severity": "critical", "reason": "production needs limits"}]}"#,
    );
    let f = r.findings.iter().find(|f| f.rule.id == "CGR015").unwrap();
    assert_eq!(f.severity, Level::Critical);
    let a = f.adjusted.as_ref().unwrap();
    assert_eq!((a.from, a.reason.as_str()), (Level::Low, "production needs limits"));
    assert!(r.fails(Level::Critical));
    assert!(r.policy_warnings.is_empty());
}

#[test]
fn policy_lowers_a_finding() {
    let path = root().join(POLICY_CASE);
    let before = run(&path, r#"{"overrides": []}"#);
    assert!(before.fails(Level::High));
    let r = run(
        &path,
        r#"{"overrides": [{"id": "CGR006", "severity": "low", "reason": "git hooks are disabled"},
                          {"id": "CGR001", "severity": "medium", "reason": "fetch tool by design"}]}"#,
    );
    assert_eq!(find(&r, "CGR006", "exec:spawn:bash").severity, Level::Low);
    assert_eq!(find(&r, "CGR001", "net:connect:*:443").severity, Level::Medium);
    assert!(!r.fails(Level::High));
    assert!(r.fails(Level::Medium));
}

#[test]
fn policy_waives_by_tool_and_by_capability() {
    let path = root().join(POLICY_CASE);
    // Waive CGR006 only for the `shell` tool: the bash grant (shell) is
    // suppressed, python3 (declared by `notebook`) is not.
    let r = run(
        &path,
        r#"{"overrides": [{"id": "CGR006", "tool": "shell", "waive": true, "reason": "SEC-1 reviewed"}]}"#,
    );
    let bash = find(&r, "CGR006", "exec:spawn:bash");
    assert_eq!(bash.suppressed.as_deref(), Some("SEC-1 reviewed"));
    assert_eq!(bash.severity, Level::High, "a waiver keeps the severity");
    assert!(find(&r, "CGR006", "exec:spawn:python3").suppressed.is_none());
    assert!(r.fails(Level::High), "python3 still fails");

    // By capability (given in a non-canonical form, compared canonically).
    let r = run(
        &path,
        r#"{"overrides": [{"id": "CGR006", "capability": "exec:spawn:python3?nestedSandbox=false", "waive": true, "reason": "SEC-2"},
                          {"id": "CGR006", "tool": "shell", "waive": true, "reason": "SEC-1"},
                          {"id": "CGR001", "waive": true, "reason": "SEC-3"}]}"#,
    );
    assert!(r.policy_warnings.is_empty(), "{:?}", r.policy_warnings);
    assert_eq!(
        find(&r, "CGR006", "exec:spawn:python3").suppressed.as_deref(),
        Some("SEC-2")
    );
    assert!(!r.fails(Level::High), "{:?}", ids(&r));
    let (_, suppressed) = r.counts();
    assert_eq!(suppressed, 3);
}

#[test]
fn most_specific_override_wins() {
    let path = root().join(POLICY_CASE);
    // id-only waive, but a capability-scoped raise for bash: bash is raised, not waived.
    let r = run(
        &path,
        r#"{"overrides": [{"id": "CGR006", "waive": true, "reason": "all interpreters are fine"},
                          {"id": "CGR006", "capability": "exec:spawn:bash", "severity": "critical", "reason": "but never a shell"}]}"#,
    );
    let bash = find(&r, "CGR006", "exec:spawn:bash");
    assert!(bash.suppressed.is_none());
    assert_eq!(bash.severity, Level::Critical);
    assert!(find(&r, "CGR006", "exec:spawn:python3").suppressed.is_some());
}

#[test]
fn unused_override_is_a_warning() {
    let path = root().join(POLICY_CASE);
    let r = run(
        &path,
        r#"{"overrides": [{"id": "CGR011", "waive": true, "reason": "old"}, {"id": "CGR006", "tool": "nope", "waive": true, "reason": "x"}]}"#,
    );
    let codes: Vec<&str> = r.policy_warnings.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["CG0536", "CG0536"]);
    assert!(r.findings.iter().all(|f| f.suppressed.is_none()));
}

// ---------------------------------------------------------------------------
// The command: exit codes and golden reports

fn capgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capgate"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("run capgate")
}

#[test]
fn fail_on_sets_the_exit_code() {
    // The policy case's worst finding is high (CGR001, CGR006).
    let m = POLICY_CASE;
    for (level, code) in [("low", 1), ("medium", 1), ("high", 1), ("critical", 0)] {
        let out = capgate(&["review", m, "--fail-on", level]);
        assert_eq!(
            out.status.code(),
            Some(code),
            "--fail-on {level}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        capgate(&["review", m]).status.code(),
        Some(0),
        "no --fail-on never fails"
    );
    // Waiving every high finding passes --fail-on high; the low ones still fail --fail-on low.
    let out = capgate(&[
        "review",
        m,
        "--fail-on",
        "high",
        "--policy",
        "tests/review/policy/waive-high.json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = capgate(&[
        "review",
        m,
        "--fail-on",
        "low",
        "--policy",
        "tests/review/policy/waive-high.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    // A clean manifest: only one unenforced gap remains (low: files under a
    // read-only bind can be run), and with it waived it passes even --fail-on low.
    let clean = "tests/review/policy/clean.json";
    assert_eq!(capgate(&["review", clean, "--fail-on", "low"]).status.code(), Some(1));
    assert_eq!(
        capgate(&["review", clean, "--fail-on", "medium"]).status.code(),
        Some(0)
    );
    let out = capgate(&[
        "review",
        clean,
        "--fail-on",
        "low",
        "--policy",
        "tests/review/policy/clean-policy.json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("0 findings (0 critical, 0 high, 0 medium, 0 low), 1 suppressed; passes --fail-on low"),
        "{text}"
    );
}

#[test]
fn rejected_inputs_exit_1_or_2() {
    let out = capgate(&["review", "tests/ui/bad_actions.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[CG0203]"));
    assert!(out.stdout.is_empty());
    let out = capgate(&["review", POLICY_CASE, "--policy", "tests/review/policy/bad-policy.json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error[CG0531]") && err.contains("bad-policy.json:"),
        "{err}"
    );
    assert_eq!(capgate(&["review", "tests/review/nope.json"]).status.code(), Some(2));
    assert_eq!(
        capgate(&["review", POLICY_CASE, "--policy", "tests/review/nope.json"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        capgate(&["review", POLICY_CASE, "--fail-on", "severe"]).status.code(),
        Some(2)
    );
}

fn golden_cases() -> Vec<(&'static str, Vec<&'static str>)> {
    let fetch = vec![
        "review",
        "examples/fetch/capgate.json",
        "--params-file",
        "examples/fetch/capgate.params.json",
    ];
    let git = vec![
        "review",
        "examples/git/capgate.json",
        "--params-file",
        "examples/git/capgate.params.json",
        "--policy",
        "tests/review/golden/git-policy.json",
        "--fail-on",
        "high",
    ];
    let mut out = Vec::new();
    for (name, base) in [("fetch", fetch), ("git", git)] {
        for fmt in ["human", "json", "sarif"] {
            let mut args = base.clone();
            args.extend(["--format", fmt]);
            out.push((Box::leak(format!("{name}.{fmt}").into_boxed_str()) as &str, args));
        }
    }
    out
}

#[test]
fn golden_reports() {
    let mut failures = Vec::new();
    for (name, args) in golden_cases() {
        let out = capgate(&args);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = review_dir().join("golden").join(name);
        if updating() {
            fs::write(&path, &out.stdout).unwrap();
            continue;
        }
        let want = fs::read(&path).unwrap_or_default();
        if want != out.stdout {
            let diff = similar::TextDiff::from_lines(
                String::from_utf8_lossy(&want).as_ref(),
                String::from_utf8_lossy(&out.stdout).as_ref(),
            )
            .unified_diff()
            .header(&format!("expected/{name}"), &format!("actual/{name}"))
            .to_string();
            failures.push(diff);
        }
        // Same input, same bytes.
        assert_eq!(capgate(&args).stdout, out.stdout, "{name} is not deterministic");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn git_policy_golden_exit_and_suppressions() {
    // The git example's three GIT_CONFIG_* sets are critical (CGR016) until
    // the policy waives them by capability.
    let base = [
        "review",
        "examples/git/capgate.json",
        "--params-file",
        "examples/git/capgate.params.json",
    ];
    let out = capgate(&[&base[..], &["--fail-on", "critical"]].concat());
    assert_eq!(out.status.code(), Some(1));
    let out = capgate(
        &[
            &base[..],
            &[
                "--fail-on",
                "critical",
                "--policy",
                "tests/review/golden/git-policy.json",
            ],
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let out = capgate(
        &[
            &base[..],
            &["--format", "sarif", "--policy", "tests/review/golden/git-policy.json"],
        ]
        .concat(),
    );
    let v = capgate::json::parse(&String::from_utf8(out.stdout).unwrap())
        .unwrap()
        .to_json();
    let text = v.to_compact();
    assert_eq!(text.matches("\"kind\":\"external\"").count(), 3, "{text}");
    assert!(!text.contains(env!("CARGO_MANIFEST_DIR")), "no absolute paths");
}

#[test]
fn sarif_regions_point_at_the_grant() {
    let out = capgate(&["review", "tests/review/CGR001/bad.json", "--format", "sarif"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let src = fs::read_to_string(root().join("tests/review/CGR001/bad.json")).unwrap();
    let line = src.lines().position(|l| l.contains("net:connect:*:443")).unwrap() + 1;
    let col = src.lines().nth(line - 1).unwrap().find('"').unwrap() + 1;
    let end = col + "\"net:connect:*:443\"".len();
    let compact: String = text.split_whitespace().collect();
    let want = format!("\"endColumn\":{end},\"endLine\":{line},\"startColumn\":{col},\"startLine\":{line}");
    assert!(compact.contains(&want), "{want}\n{text}");
    assert!(compact.contains("\"uri\":\"tests/review/CGR001/bad.json\""), "{text}");
}

#[test]
fn help_has_examples() {
    let out = capgate(&["review", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in ["Examples:", "--fail-on", "--policy", "sarif", "docs/review.md"] {
        assert!(text.contains(want), "review --help lacks {want}:\n{text}");
    }
}

#[test]
fn policy_file_that_is_not_utf8_is_rejected_with_a_span() {
    let d = policy_file::parse(b"{\"overrides\": [\xff]}").unwrap_err();
    assert_eq!(d.0[0].code, capgate::Code::Encoding);
    assert_eq!(d.0[0].span.map(|s| s.start), Some(15));
}

#[test]
fn oversized_policy_file_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let big = tmp.path().join("big.json");
    let mut text = String::from("{\"overrides\": [], \"x-pad\": \"");
    text.push_str(&"p".repeat(capgate::manifest::MAX_MANIFEST_BYTES));
    text.push_str("\"}");
    fs::write(&big, text).unwrap();
    let out = capgate(&["review", POLICY_CASE, "--policy", big.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[CG0003]"));
}

/// The JSON and SARIF reports carry the policy key, equal to what
/// `capgate key` prints for the same manifest and params (docs/lanes.md).
#[test]
fn reports_carry_the_key_of_capgate_key() {
    let cap = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_capgate"))
            .current_dir(root())
            .args(args)
            .output()
            .expect("run capgate");
        String::from_utf8(o.stdout).expect("UTF-8")
    };
    let m = [
        "examples/fetch/capgate.json",
        "--params-file",
        "examples/fetch/capgate.params.json",
    ];
    let key = cap(&["key", m[0], m[1], m[2]]).trim().to_string();
    assert_eq!(key.len(), 64, "{key}");
    let json = cap(&["review", m[0], m[1], m[2], "--format", "json"]);
    assert!(json.contains(&format!("\n  \"key\": \"{key}\",\n")), "{json}");
    let sarif = cap(&["review", m[0], m[1], m[2], "--format", "sarif"]);
    assert!(
        sarif.contains(&format!("\"capgate\": {{\n          \"key\": \"{key}\"")),
        "runs[0].properties.capgate.key\n{sarif}"
    );
}

/// Review lowers every target, the opt-in oci included (docs/review.md):
/// CGR012 names each target that leaves the grant unenforced.
#[test]
fn cgr012_names_every_target_oci_included() {
    let r = run(&review_dir().join("CGR012").join("bad.json"), r#"{"overrides": []}"#);
    let f = r
        .findings
        .iter()
        .find(|f| f.rule.id == "CGR012" && f.grant.as_deref() == Some("fs:read:/opt/mcp/review-case/**"))
        .expect("CGR012 on the fs grant");
    for t in ["bwrap: ", "docker: ", "oci: "] {
        assert!(f.message.contains(t), "{t} in {}", f.message);
    }
}
