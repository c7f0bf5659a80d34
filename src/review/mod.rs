//! `capgate review`: a governance report over a manifest.
//!
//! The manifest is compiled with the default targets (so lints and the key
//! are exactly what `compile` reports) and lowered for every target, oci
//! included (for the `unenforced` gaps), then checked against the
//! built-in [`catalogue`] of findings (`CGR001`…). A team's review policy
//! ([`policy_file`]) raises, lowers or waives findings by id, optionally
//! scoped to a tool or a capability, each with a mandatory reason; waived
//! findings stay in the report as suppressed. Three renderings: human,
//! JSON (`capgate.review/1`) and SARIF 2.1.0 ([`sarif`]). Deterministic:
//! no time, no environment, no absolute paths beyond what the caller passes.

pub mod catalogue;
pub mod policy_file;
pub mod sarif;

use crate::diag::{self, Code, Diagnostics, Span};
use crate::json::Json;
use crate::{compile, Options};
use catalogue::Rule;
use policy_file::{Action, ReviewPolicy};
use std::collections::BTreeMap;

/// Finding severity, ordered low < medium < high < critical.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Worth a look.
    Low,
    /// Needs a reason.
    Medium,
    /// Needs a strong reason.
    High,
    /// Should not ship.
    Critical,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 4] = [Level::Low, Level::Medium, Level::High, Level::Critical];

    /// `low`, `medium`, `high`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    /// Parse a level name.
    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// SARIF `level`: critical and high are `error`, medium `warning`, low `note`.
    pub fn sarif_level(self) -> &'static str {
        match self {
            Level::Critical | Level::High => "error",
            Level::Medium => "warning",
            Level::Low => "note",
        }
    }

    /// GitHub code scanning's `security-severity` (0.1–10.0; ≥9 critical, ≥7 high, ≥4 medium).
    pub fn security_severity(self) -> &'static str {
        match self {
            Level::Critical => "9.5",
            Level::High => "8.0",
            Level::Medium => "5.0",
            Level::Low => "2.0",
        }
    }
}

/// A severity changed by the review policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adjusted {
    /// The catalogue's severity.
    pub from: Level,
    /// The policy's reason.
    pub reason: String,
}

/// One finding of a review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The catalogue rule.
    pub rule: &'static Rule,
    /// Effective severity (after the review policy).
    pub severity: Level,
    /// What was found.
    pub message: String,
    /// The grant (canonical capability) it is about.
    pub grant: Option<String>,
    /// Tools that declare the grant.
    pub tools: Vec<String>,
    /// The manifest author's `why` texts for the grant.
    pub why: Vec<String>,
    /// Where the grant is declared in the manifest.
    pub span: Option<Span>,
    /// Raised or lowered by the policy.
    pub adjusted: Option<Adjusted>,
    /// Waived by the policy, with its reason.
    pub suppressed: Option<String>,
}

impl Finding {
    /// Not waived and at or above `threshold`.
    pub fn fails(&self, threshold: Level) -> bool {
        self.suppressed.is_none() && self.severity >= threshold
    }
}

/// A review of one manifest.
#[derive(Clone, Debug)]
pub struct Review {
    /// Server name.
    pub name: String,
    /// Server version.
    pub version: String,
    /// The content key of the reviewed manifest (default targets and
    /// options, the caller's params): what `capgate key` prints for it.
    pub key: String,
    /// Findings, by position in the manifest, then id, then grant.
    pub findings: Vec<Finding>,
    /// Warnings about the review policy (overrides that matched nothing),
    /// with spans into the policy file.
    pub policy_warnings: Diagnostics,
}

impl Review {
    /// True if a finding that is not waived is at or above `threshold`.
    pub fn fails(&self, threshold: Level) -> bool {
        self.findings.iter().any(|f| f.fails(threshold))
    }

    /// Counts of active findings per level, and of suppressed ones.
    pub fn counts(&self) -> (BTreeMap<Level, usize>, usize) {
        let mut by = BTreeMap::new();
        let mut suppressed = 0;
        for f in &self.findings {
            if f.suppressed.is_some() {
                suppressed += 1;
            } else {
                *by.entry(f.severity).or_insert(0) += 1;
            }
        }
        (by, suppressed)
    }
}

/// Review a manifest. Fails with the manifest's diagnostics when it does
/// not compile (review judges only manifests that compile). `opts` supplies
/// params; targets, `strict` and `deny_warnings` are ignored (review always
/// compiles the default targets leniently, and lowers every target, oci
/// included, to see every gap).
pub fn review(source: &[u8], opts: &Options, policy: &ReviewPolicy) -> Result<Review, Diagnostics> {
    let opts = Options {
        targets: Default::default(),
        params: opts.params.clone(),
        strict: false,
        deny_warnings: false,
    };
    let c = compile(source, &opts)?;
    let has_tools = c.policy.grants.values().any(|g| !g.tools.is_empty()) || manifest_has_tools(source);
    let hits = catalogue::check(&c.policy, &c.warnings, has_tools);
    let mut findings: Vec<Finding> = hits
        .into_iter()
        .map(|h| {
            let g = h.grant.as_ref().and_then(|k| c.policy.grants.get(k));
            Finding {
                rule: h.rule,
                severity: h.rule.severity,
                message: h.message,
                grant: h.grant.clone(),
                tools: g.map(|g| g.tools.iter().cloned().collect()).unwrap_or_default(),
                why: g.map(|g| g.why.iter().cloned().collect()).unwrap_or_default(),
                span: g.map(|g| g.span),
                adjusted: None,
                suppressed: None,
            }
        })
        .collect();
    let policy_warnings = apply(policy, &mut findings);
    findings.sort_by(|a, b| {
        let ka = (a.span.is_none(), a.span.map(|s| s.start), a.rule.id, &a.grant);
        let kb = (b.span.is_none(), b.span.map(|s| s.start), b.rule.id, &b.grant);
        ka.cmp(&kb)
    });
    Ok(Review {
        name: c.policy.name.clone(),
        version: c.policy.version.clone(),
        key: c.key.clone(),
        findings,
        policy_warnings,
    })
}

fn manifest_has_tools(source: &[u8]) -> bool {
    crate::manifest::parse(source)
        .map(|m| !m.tools.is_empty())
        .unwrap_or(false)
}

/// Apply the review policy: for each finding the most specific matching
/// override wins (capability and tool > capability > tool > id only).
/// Returns a warning for each override that matched no finding.
fn apply(policy: &ReviewPolicy, findings: &mut [Finding]) -> Diagnostics {
    let mut used = vec![false; policy.overrides.len()];
    for f in findings.iter_mut() {
        let best = policy
            .overrides
            .iter()
            .enumerate()
            .filter(|(_, o)| o.matches(f))
            .max_by_key(|(i, o)| (o.specificity(), std::cmp::Reverse(*i)));
        let Some((i, o)) = best else { continue };
        used[i] = true;
        match o.action {
            Action::Waive => f.suppressed = Some(o.reason.clone()),
            Action::Severity(l) => {
                if l != f.severity {
                    f.adjusted = Some(Adjusted {
                        from: f.severity,
                        reason: o.reason.clone(),
                    });
                    f.severity = l;
                }
            }
        }
    }
    let mut warnings = Diagnostics::default();
    for (o, u) in policy.overrides.iter().zip(used) {
        if !u {
            warnings.push(
                diag::Diagnostic::warning(
                    Code::ReviewPolicyUnused,
                    format!("the override of {} matches no finding of this manifest", o.describe()),
                )
                .at(o.span)
                .hint("remove it if the finding is gone for good; stale waivers hide what they were written for"),
            );
        }
    }
    warnings
}

/// The human report.
pub fn render_human(r: &Review, source: &str, file: &str, fail_on: Option<Level>) -> String {
    let mut out = format!("review of {} {} ({file})\n\n", r.name, r.version);
    for f in &r.findings {
        let tag = match &f.suppressed {
            Some(_) => format!("suppressed {}", f.severity.as_str()),
            None => f.severity.as_str().to_string(),
        };
        out.push_str(&format!("{tag}[{}]: {}\n", f.rule.id, f.message));
        let pad = match f.span {
            Some(span) => {
                let (line, col) = diag::line_col(source, span.start);
                let w = line.to_string().len();
                out.push_str(&format!("{}--> {file}:{line}:{col}\n", " ".repeat(w)));
                out.push_str(&diag::snippet(source, span, line));
                " ".repeat(w + 1)
            }
            None => {
                out.push_str(&format!(" --> {file}\n"));
                "  ".to_string()
            }
        };
        out.push_str(&format!("{pad}= rule: {} ({})\n", f.rule.title, f.rule.name));
        if !f.tools.is_empty() {
            out.push_str(&format!("{pad}= tools: {}\n", f.tools.join(", ")));
        }
        for w in &f.why {
            out.push_str(&format!("{pad}= author: {w}\n"));
        }
        if let Some(a) = &f.adjusted {
            out.push_str(&format!(
                "{pad}= policy: {} -> {}: {}\n",
                a.from.as_str(),
                f.severity.as_str(),
                a.reason
            ));
        }
        if let Some(reason) = &f.suppressed {
            out.push_str(&format!("{pad}= waived: {reason}\n"));
        }
        out.push_str(&format!("{pad}= why: {}\n", f.rule.rationale));
        out.push_str(&format!("{pad}= fix: {}\n\n", f.rule.fix));
    }
    let (by, suppressed) = r.counts();
    let active: usize = by.values().sum();
    let parts: Vec<String> = Level::ALL
        .iter()
        .rev()
        .map(|l| format!("{} {}", by.get(l).copied().unwrap_or(0), l.as_str()))
        .collect();
    out.push_str(&format!(
        "{active} finding{} ({}), {suppressed} suppressed",
        if active == 1 { "" } else { "s" },
        parts.join(", ")
    ));
    match fail_on {
        Some(t) if r.fails(t) => out.push_str(&format!("; fails --fail-on {}\n", t.as_str())),
        Some(t) => out.push_str(&format!("; passes --fail-on {}\n", t.as_str())),
        None => out.push('\n'),
    }
    out
}

/// The JSON report (`capgate.review/1`), pretty, with a trailing newline.
pub fn render_json(r: &Review, source: &str, file: &str, fail_on: Option<Level>) -> String {
    let mut top = BTreeMap::new();
    top.insert("format".to_string(), Json::str("capgate.review/1"));
    top.insert("capgate".to_string(), Json::str(crate::VERSION));
    top.insert("key".to_string(), Json::str(&r.key));
    let mut m = BTreeMap::new();
    m.insert("file".to_string(), Json::str(file));
    m.insert("name".to_string(), Json::str(&r.name));
    m.insert("version".to_string(), Json::str(&r.version));
    top.insert("manifest".to_string(), Json::Object(m));
    top.insert(
        "fail_on".to_string(),
        fail_on.map(|l| Json::str(l.as_str())).unwrap_or(Json::Null),
    );
    top.insert("failed".to_string(), Json::Bool(fail_on.is_some_and(|t| r.fails(t))));
    let findings = r
        .findings
        .iter()
        .map(|f| {
            let mut o = BTreeMap::new();
            o.insert("id".to_string(), Json::str(f.rule.id));
            o.insert("name".to_string(), Json::str(f.rule.name));
            o.insert("title".to_string(), Json::str(f.rule.title));
            o.insert("severity".to_string(), Json::str(f.severity.as_str()));
            o.insert("default_severity".to_string(), Json::str(f.rule.severity.as_str()));
            o.insert("message".to_string(), Json::str(&f.message));
            o.insert("rationale".to_string(), Json::str(f.rule.rationale));
            o.insert("fix".to_string(), Json::str(f.rule.fix));
            o.insert(
                "lint".to_string(),
                f.rule.lint.map(|c| Json::str(c.as_str())).unwrap_or(Json::Null),
            );
            o.insert(
                "grant".to_string(),
                f.grant.as_ref().map(Json::str).unwrap_or(Json::Null),
            );
            o.insert("tools".to_string(), Json::strs(&f.tools));
            o.insert("why".to_string(), Json::strs(&f.why));
            o.insert(
                "location".to_string(),
                match f.span {
                    Some(s) => {
                        let reg = sarif::region(source, s);
                        let mut l = BTreeMap::new();
                        l.insert("file".to_string(), Json::str(file));
                        l.insert("start".to_string(), Json::Int(s.start as i64));
                        l.insert("end".to_string(), Json::Int(s.end as i64));
                        l.insert("line".to_string(), Json::Int(reg.start_line as i64));
                        l.insert("column".to_string(), Json::Int(reg.start_column as i64));
                        l.insert("end_line".to_string(), Json::Int(reg.end_line as i64));
                        l.insert("end_column".to_string(), Json::Int(reg.end_column as i64));
                        Json::Object(l)
                    }
                    None => Json::Null,
                },
            );
            o.insert(
                "adjusted".to_string(),
                match &f.adjusted {
                    Some(a) => {
                        let mut x = BTreeMap::new();
                        x.insert("from".to_string(), Json::str(a.from.as_str()));
                        x.insert("reason".to_string(), Json::str(&a.reason));
                        Json::Object(x)
                    }
                    None => Json::Null,
                },
            );
            o.insert(
                "suppressed".to_string(),
                match &f.suppressed {
                    Some(reason) => {
                        let mut x = BTreeMap::new();
                        x.insert("reason".to_string(), Json::str(reason));
                        Json::Object(x)
                    }
                    None => Json::Null,
                },
            );
            Json::Object(o)
        })
        .collect();
    top.insert("findings".to_string(), Json::Array(findings));
    let (by, suppressed) = r.counts();
    let mut s = BTreeMap::new();
    for l in Level::ALL {
        s.insert(
            l.as_str().to_string(),
            Json::Int(by.get(&l).copied().unwrap_or(0) as i64),
        );
    }
    s.insert("suppressed".to_string(), Json::Int(suppressed as i64));
    top.insert("summary".to_string(), Json::Object(s));
    Json::Object(top).to_pretty()
}
