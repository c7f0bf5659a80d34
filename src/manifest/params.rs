//! `${NAME}` placeholders: declared in `params`, given at compile time
//! (`--param NAME=VALUE`), substituted in `command` and in capability scopes.
//!
//! Nothing is read from the environment. A placeholder may only stand in a
//! capability's scope, before any `?`, and a value may not contain `?`, so a
//! param can never add actions or refinements (such as `?sensitive=allow`).
//! Substituted text is validated like literal text by stage 2.

use super::{is_forbidden_char, Manifest, Text};
use crate::diag::{Code, Diagnostic, Diagnostics};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// Longest param value accepted.
pub const MAX_VALUE_LEN: usize = 4096;

/// Letters, digits and `_`, not starting with a digit, at most 64 bytes.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.as_bytes()[0].is_ascii_digit()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Check given values against the declarations: every used param has a
/// value (an unused one gets the CG0126 warning instead), no undeclared one
/// is given, and values are single-line text.
pub fn check_values(m: &Manifest, values: &BTreeMap<String, String>, used: &BTreeSet<String>, diags: &mut Diagnostics) {
    for (name, decl) in &m.params {
        if !values.contains_key(name) && used.contains(name) {
            diags.push(
                Diagnostic::error(Code::MissingParam, format!("param `{name}` has no value"))
                    .at(decl.span)
                    .hint(format!("pass --param {name}=VALUE (or a --params-file)")),
            );
        }
    }
    for (name, value) in values {
        if !m.params.contains_key(name) {
            let mut d = Diagnostic::error(
                Code::UndeclaredParam,
                format!(
                    "a value was given for param `{}`, which the manifest does not declare",
                    crate::json::printable(name)
                ),
            );
            d = match super::closest(name, &m.params.keys().map(String::as_str).collect::<Vec<_>>()) {
                Some(best) => d.hint(format!("did you mean `{best}`?")),
                None => d.hint(format!(
                    "declare it under \"params\": {{ \"{name}\": {{ \"description\": \"...\" }} }} or drop the --param"
                )),
            };
            diags.push(d);
            continue;
        }
        if let Some(c) = value.chars().find(|c| is_forbidden_char(*c)) {
            diags.push(
                Diagnostic::error(
                    Code::BadParamValue,
                    format!("the value of param `{name}` contains the character U+{:04X}", c as u32),
                )
                .at(m.params[name].span)
                .hint("param values are single-line text without control or format characters"),
            );
        } else if value.contains("${") {
            diags.push(
                Diagnostic::error(
                    Code::BadParamValue,
                    format!("the value of param `{name}` contains `${{`"),
                )
                .at(m.params[name].span)
                .hint("params are not substituted recursively, and artifacts never hold a placeholder; give the final value"),
            );
        } else if value.len() > MAX_VALUE_LEN {
            diags.push(
                Diagnostic::error(
                    Code::BadParamValue,
                    format!("the value of param `{name}` is longer than {MAX_VALUE_LEN} bytes"),
                )
                .at(m.params[name].span),
            );
        }
    }
}

/// Where a placeholder may stand.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Anywhere (command arguments).
    Anywhere,
    /// Only in a capability's scope: after `kind:actions:` and before `?`.
    CapabilityScope,
}

/// Substitute placeholders in `t`. Returns the new text, or `None` after
/// reporting problems. Records the params it used in `used`.
pub fn substitute<'t>(
    t: &'t Text,
    place: Place,
    decls: &BTreeMap<String, super::ParamDecl>,
    values: &BTreeMap<String, String>,
    used: &mut BTreeSet<String>,
    diags: &mut Diagnostics,
) -> Option<Cow<'t, str>> {
    let s = &t.text;
    if !s.contains("${") {
        return Some(Cow::Borrowed(s));
    }
    // Bounds for CapabilityScope: after the second colon, before the first `?`.
    let scope_start = s.match_indices(':').nth(1).map(|(i, _)| i + 1);
    let scope_end = s.find('?').unwrap_or(s.len());
    let mut out = String::new();
    let mut rest = 0;
    let mut ok = true;
    while let Some(rel) = s[rest..].find("${") {
        let start = rest + rel;
        out.push_str(&s[rest..start]);
        let Some(close_rel) = s[start..].find('}') else {
            diags.push(
                Diagnostic::error(Code::BadPlaceholder, "`${` without a closing `}`")
                    .at(t.sub_span(start, s.len()))
                    .hint("write ${NAME}"),
            );
            return None;
        };
        let end = start + close_rel + 1;
        let name = &s[start + 2..end - 1];
        let span = t.sub_span(start, end);
        rest = end;
        if !valid_name(name) {
            diags.push(
                Diagnostic::error(
                    Code::BadPlaceholder,
                    format!(
                        "`{}` is not a valid placeholder",
                        crate::json::printable(&s[start..end])
                    ),
                )
                .at(span)
                .hint("write ${NAME} with a declared param name"),
            );
            ok = false;
            continue;
        }
        used.insert(name.to_string());
        if place == Place::CapabilityScope {
            let in_scope = scope_start.is_some_and(|b| start >= b) && end <= scope_end;
            if !in_scope {
                diags.push(
                    Diagnostic::error(
                        Code::BadPlaceholder,
                        format!("placeholder `${{{name}}}` stands outside the capability's scope"),
                    )
                    .at(span)
                    .hint("params may only fill the scope (the part after `kind:actions:` and before `?`)"),
                );
                ok = false;
                continue;
            }
        }
        if !decls.contains_key(name) {
            diags.push(
                Diagnostic::error(
                    Code::UnknownPlaceholder,
                    format!("placeholder `${{{name}}}` names no declared param"),
                )
                .at(span)
                .hint(format!(
                    "declare it: \"params\": {{ \"{name}\": {{ \"description\": \"...\" }} }}"
                )),
            );
            ok = false;
            continue;
        }
        used.insert(name.to_string());
        let Some(value) = values.get(name) else {
            // Missing values are reported once by check_values.
            ok = false;
            continue;
        };
        // A param chooses where a grant points; the manifest alone says what
        // the grant allows (refinements) and how wide it is (globs).
        let forbidden = [
            ('?', "a param value cannot add refinements to a capability"),
            (
                '*',
                "a param chooses where a grant points, not how wide it is: write the glob in the manifest (`${NAME}/**`)",
            ),
        ];
        if let Some((c, hint)) = forbidden
            .iter()
            .find(|(c, _)| place == Place::CapabilityScope && value.contains(*c))
        {
            diags.push(
                Diagnostic::error(
                    Code::BadParamValue,
                    format!("the value of param `{name}` contains `{c}`"),
                )
                .at(span)
                .hint(*hint),
            );
            ok = false;
            continue;
        }
        out.push_str(value);
    }
    out.push_str(&s[rest..]);
    ok.then_some(Cow::Owned(out))
}
