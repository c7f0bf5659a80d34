//! The review policy file (`review-policy.json`): a team's decisions about
//! findings, each with a mandatory reason.
//!
//! ```json
//! {
//!   "format": "capgate.review-policy/1",
//!   "overrides": [
//!     { "id": "CGR015", "severity": "high", "reason": "production servers must set limits" },
//!     { "id": "CGR006", "tool": "run_script", "capability": "exec:spawn:python3",
//!       "waive": true, "reason": "sandboxed notebook runner, reviewed in SEC-142" }
//!   ]
//! }
//! ```
//!
//! Strict JSON (the manifest's parser: no comments, no duplicate keys);
//! unknown fields are errors. Each override names a catalogue `id`, one
//! action (`severity` to raise or lower, or `"waive": true`) and a
//! non-empty `reason`; `tool` and `capability` narrow it to findings about
//! that tool or that grant (the capability is compared in canonical form).
//! Two overrides with the same id and scope are an error.

use super::catalogue::{self, CATALOGUE};
use super::{Finding, Level};
use crate::capability::{self, Src};
use crate::diag::{Code, Diagnostic, Diagnostics, Span};
use crate::json::{self, Kind, Value};
use crate::manifest::Grammar;

/// The `format` value.
pub const FORMAT: &str = "capgate.review-policy/1";

/// What an override does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Set the severity (raise or lower).
    Severity(Level),
    /// Keep the finding, marked suppressed.
    Waive,
}

/// One override.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// Catalogue id.
    pub id: &'static str,
    /// What to do.
    pub action: Action,
    /// Why (mandatory).
    pub reason: String,
    /// Only findings whose grant a tool of this name declares.
    pub tool: Option<String>,
    /// Only findings about this grant (canonical form).
    pub capability: Option<String>,
    /// Where the override is in the policy file.
    pub span: Span,
}

impl Override {
    /// True if it applies to `f`.
    pub fn matches(&self, f: &Finding) -> bool {
        self.id == f.rule.id
            && self.tool.as_ref().map_or(true, |t| f.tools.contains(t))
            && self.capability.as_ref().map_or(true, |c| f.grant.as_ref() == Some(c))
    }

    /// capability and tool (3) > capability (2) > tool (1) > id only (0).
    pub fn specificity(&self) -> u8 {
        (self.capability.is_some() as u8) * 2 + self.tool.is_some() as u8
    }

    /// `CGR006 (tool run, capability exec:spawn:sh)`, for messages.
    pub fn describe(&self) -> String {
        let mut scope = Vec::new();
        if let Some(t) = &self.tool {
            scope.push(format!("tool `{t}`"));
        }
        if let Some(c) = &self.capability {
            scope.push(format!("capability `{c}`"));
        }
        if scope.is_empty() {
            self.id.to_string()
        } else {
            format!("{} ({})", self.id, scope.join(", "))
        }
    }
}

/// A parsed review policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReviewPolicy {
    /// Overrides in file order.
    pub overrides: Vec<Override>,
}

fn shape(msg: impl Into<String>, span: Span) -> Diagnostic {
    Diagnostic::error(Code::ReviewPolicyShape, msg).at(span)
}

/// Parse a review policy file; every problem is reported with a span.
pub fn parse(bytes: &[u8]) -> Result<ReviewPolicy, Diagnostics> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        Diagnostics(vec![Diagnostic::error(
            Code::Encoding,
            "the review policy is not UTF-8",
        )
        .at(Span::new(at, at + 1))
        .hint("save the file as UTF-8")])
    })?;
    let root = json::parse(text).map_err(Diagnostics)?;
    let mut diags = Diagnostics::default();
    let Kind::Object(members) = &root.kind else {
        return Err(Diagnostics(vec![shape(
            format!("the review policy must be an object, not {}", root.type_name()),
            root.span,
        )
        .hint(r#"write {"format": "capgate.review-policy/1", "overrides": [...]}"#)]));
    };
    let mut overrides = None;
    for (k, v) in members {
        match k.text.as_str() {
            "$schema" => {}
            "format" => {
                if v.as_str() != Some(FORMAT) {
                    diags.push(shape(format!("`format` must be \"{FORMAT}\""), v.span));
                }
            }
            "overrides" => match &v.kind {
                Kind::Array(items) => overrides = Some(items),
                _ => diags.push(shape(
                    format!("`overrides` must be an array, not {}", v.type_name()),
                    v.span,
                )),
            },
            other => diags.push(
                shape(format!("unknown field `{}`", json::printable(other)), k.span)
                    .hint("fields: format, overrides ($schema is ignored)"),
            ),
        }
    }
    let mut out = ReviewPolicy::default();
    match overrides {
        None if !diags.has_errors() => diags.push(
            shape("the review policy has no `overrides` array", root.span)
                .hint(r#"add "overrides": [] (each: {"id", "severity" or "waive", "reason"})"#),
        ),
        None => {}
        Some(items) => {
            for item in items {
                if let Some(o) = override_of(item, &mut diags) {
                    let dup = out
                        .overrides
                        .iter()
                        .find(|x| x.id == o.id && x.tool == o.tool && x.capability == o.capability);
                    if let Some(first) = dup {
                        let at = crate::diag::line_col(text, first.span.start).0;
                        diags.push(
                            Diagnostic::error(
                                Code::ReviewPolicyDuplicate,
                                format!("{} is overridden twice with the same scope", o.describe()),
                            )
                            .at(o.span)
                            .hint(format!("keep one; the first is on line {at}")),
                        );
                    } else {
                        out.overrides.push(o);
                    }
                }
            }
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(out)
}

fn string_field<'v>(v: &'v Value, name: &str, diags: &mut Diagnostics) -> Option<&'v str> {
    match v.as_str() {
        Some(s) => Some(s),
        None => {
            diags.push(shape(
                format!("`{name}` must be a string, not {}", v.type_name()),
                v.span,
            ));
            None
        }
    }
}

fn override_of(item: &Value, diags: &mut Diagnostics) -> Option<Override> {
    let Kind::Object(members) = &item.kind else {
        diags.push(shape(
            format!("an override must be an object, not {}", item.type_name()),
            item.span,
        ));
        return None;
    };
    let before = diags.len();
    let (mut id, mut severity, mut waive, mut reason, mut tool, mut capability) = (None, None, None, None, None, None);
    for (k, v) in members {
        match k.text.as_str() {
            "id" => {
                if let Some(s) = string_field(v, "id", diags) {
                    match catalogue::rule(s) {
                        Some(r) => id = Some(r.id),
                        None => {
                            let ids: Vec<&str> = CATALOGUE.iter().map(|r| r.id).collect();
                            let named = CATALOGUE.iter().find(|r| r.name == s);
                            let hint = match named {
                                Some(r) => format!("`{s}` is the name of {}; overrides use the id", r.id),
                                None => format!("finding ids: {} (docs/review.md)", ids.join(", ")),
                            };
                            diags.push(
                                Diagnostic::error(
                                    Code::ReviewPolicyUnknownFinding,
                                    format!("`{}` is not a finding id of the review catalogue", json::printable(s)),
                                )
                                .at(v.span)
                                .hint(hint),
                            );
                        }
                    }
                }
            }
            "severity" => {
                if let Some(s) = string_field(v, "severity", diags) {
                    match Level::parse(s) {
                        Some(l) => severity = Some((l, v.span)),
                        None => diags.push(
                            Diagnostic::error(
                                Code::ReviewPolicyBadAction,
                                format!("`{}` is not a severity", json::printable(s)),
                            )
                            .at(v.span)
                            .hint("severities: low, medium, high, critical"),
                        ),
                    }
                }
            }
            "waive" => match v.kind {
                Kind::Bool(true) => waive = Some(v.span),
                _ => diags.push(
                    Diagnostic::error(Code::ReviewPolicyBadAction, "`waive` can only be true")
                        .at(v.span)
                        .hint("leave `waive` out to keep the finding; use `severity` to lower it"),
                ),
            },
            "reason" => {
                if let Some(s) = string_field(v, "reason", diags) {
                    if s.trim().is_empty() {
                        diags.push(
                            Diagnostic::error(Code::ReviewPolicyNoReason, "the override's `reason` is empty")
                                .at(v.span)
                                .hint("say why the team accepts this: a ticket, a review, a constraint"),
                        );
                    } else if s.chars().any(|c| c.is_control() || crate::diag::is_format_char(c)) {
                        diags.push(
                            Diagnostic::error(
                                Code::ReviewPolicyShape,
                                "the `reason` holds a control or invisible format character",
                            )
                            .at(v.span),
                        );
                    } else {
                        reason = Some(s.to_string());
                    }
                }
            }
            "tool" => {
                if let Some(s) = string_field(v, "tool", diags) {
                    tool = Some(s.to_string());
                }
            }
            "capability" => {
                if let Some(s) = string_field(v, "capability", diags) {
                    let span_of = |a: usize, b: usize| v.sub_span(a, b);
                    match capability::parse(
                        &Src {
                            text: s,
                            span_of: &span_of,
                        },
                        Grammar::V1,
                    ) {
                        Ok(c) => capability = Some(c.to_string()),
                        Err(d) => diags.push(
                            Diagnostic::error(
                                Code::ReviewPolicyBadCapability,
                                format!("the override's capability does not parse: {}", d.message),
                            )
                            .at(d.span.unwrap_or(v.span))
                            .hint("write the grant as in the manifest (grammar 1), e.g. exec:spawn:python3"),
                        ),
                    }
                }
            }
            other => diags.push(
                shape(format!("unknown override field `{}`", json::printable(other)), k.span)
                    .hint("fields: id, severity, waive, reason, tool, capability"),
            ),
        }
    }
    if id.is_none() && diags.len() == before {
        diags.push(shape("an override needs an `id` (CGR001…)", item.span));
    }
    match (severity, waive) {
        (Some(_), Some(w)) => diags.push(
            Diagnostic::error(
                Code::ReviewPolicyBadAction,
                "an override either sets a severity or waives, not both",
            )
            .at(w)
            .hint("to keep the finding visible at another level, drop `waive`"),
        ),
        (None, None) if diags.len() == before => diags.push(
            Diagnostic::error(
                Code::ReviewPolicyBadAction,
                "an override needs `severity` or `\"waive\": true`",
            )
            .at(item.span)
            .hint("severity: low, medium, high or critical; or \"waive\": true to suppress"),
        ),
        _ => {}
    }
    if reason.is_none() && !members.iter().any(|(k, _)| k.text == "reason") {
        diags.push(
            Diagnostic::error(Code::ReviewPolicyNoReason, "the override has no `reason`")
                .at(item.span)
                .hint("every override needs a reason: reviewers and auditors read it in the report"),
        );
    }
    if diags.len() != before {
        return None;
    }
    Some(Override {
        id: id?,
        action: match (severity, waive) {
            (Some((l, _)), None) => Action::Severity(l),
            _ => Action::Waive,
        },
        reason: reason?,
        tool,
        capability,
        span: item.span,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str) -> Vec<Code> {
        parse(text.as_bytes()).unwrap_err().0.iter().map(|d| d.code).collect()
    }

    #[test]
    fn parses_overrides() {
        let p = parse(
            br#"{"format": "capgate.review-policy/1", "overrides": [
              {"id": "CGR015", "severity": "high", "reason": "r1"},
              {"id": "CGR006", "waive": true, "reason": "r2", "tool": "t", "capability": "exec:spawn:sh"}]}"#,
        )
        .unwrap();
        assert_eq!(p.overrides.len(), 2);
        assert_eq!(p.overrides[0].action, Action::Severity(Level::High));
        assert_eq!(p.overrides[1].action, Action::Waive);
        assert_eq!(p.overrides[1].capability.as_deref(), Some("exec:spawn:sh"));
        assert_eq!(p.overrides[1].specificity(), 3);
    }

    #[test]
    fn capability_is_canonicalized() {
        let p = parse(br#"{"overrides": [{"id": "CGR001", "capability": "net:connect:*:*?proto=tcp", "waive": true, "reason": "x"}]}"#)
            .unwrap();
        assert_eq!(p.overrides[0].capability.as_deref(), Some("net:connect:*:*"));
    }

    #[test]
    fn errors_have_codes() {
        assert_eq!(codes("[]"), [Code::ReviewPolicyShape]);
        assert_eq!(codes("{}"), [Code::ReviewPolicyShape]);
        assert_eq!(codes(r#"{"overrides": [], "x": 1}"#), [Code::ReviewPolicyShape]);
        assert_eq!(
            codes(r#"{"overrides": [{"id": "CGR999", "waive": true, "reason": "x"}]}"#),
            [Code::ReviewPolicyUnknownFinding]
        );
        assert_eq!(
            codes(r#"{"overrides": [{"id": "CGR001", "waive": true}]}"#),
            [Code::ReviewPolicyNoReason]
        );
        assert_eq!(
            codes(r#"{"overrides": [{"id": "CGR001", "waive": true, "reason": " "}]}"#),
            [Code::ReviewPolicyNoReason]
        );
        assert_eq!(
            codes(r#"{"overrides": [{"id": "CGR001", "reason": "x"}]}"#),
            [Code::ReviewPolicyBadAction]
        );
        assert_eq!(
            codes(r#"{"overrides": [{"id": "CGR001", "severity": "urgent", "reason": "x"}]}"#),
            [Code::ReviewPolicyBadAction]
        );
        assert_eq!(
            codes(r#"{"overrides": [{"id": "CGR001", "severity": "low", "waive": true, "reason": "x"}]}"#),
            [Code::ReviewPolicyBadAction]
        );
        assert_eq!(
            codes(r#"{"overrides": [{"id": "CGR001", "waive": false, "reason": "x"}]}"#),
            [Code::ReviewPolicyBadAction]
        );
        assert_eq!(
            codes(r#"{"overrides": [{"id": "CGR001", "capability": "net:connect", "waive": true, "reason": "x"}]}"#),
            [Code::ReviewPolicyBadCapability]
        );
        assert_eq!(
            codes(
                r#"{"overrides": [{"id": "CGR001", "waive": true, "reason": "x"}, {"id": "CGR001", "severity": "low", "reason": "y"}]}"#
            ),
            [Code::ReviewPolicyDuplicate]
        );
        assert_eq!(
            codes(r#"{"overrides": [{"id": "CGR001", "waive": true, "reason": "x", "id": "CGR002"}]}"#),
            [Code::DuplicateKey]
        );
        assert_eq!(codes("{\"overrides\": [] // c\n}"), [Code::JsonSyntax]);
    }
}
