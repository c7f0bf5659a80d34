//! The TypeScript capgate's manifest (grammar `0.0`) → grammar 1, exactly.
//!
//! Every key is kept; `serverCapabilities` becomes `capabilities` and every
//! capability is rewritten to the grammar-1 spelling of what compatibility
//! mode reads (docs/manifest.md §6): quoted scopes unquoted, `net:connect:h`
//! → `h:*`, `assert:x:"t"` → `assert:require:x:t`, `nestedSandbox=1` →
//! `true`, `clock:tzdata` → `clock:read:tzdata`. Literal capabilities are
//! parsed in compatibility mode and written canonically, so compiling the
//! import gives the same policy as compiling the original.

use super::source::Node;
use super::{Format, Imported, Report};
use crate::capability::{dequote_compat, parse, Src};
use crate::diag::{Diagnostic, Span};
use crate::json::{Json, Kind};
use crate::manifest::Grammar;
use std::collections::BTreeMap;

pub fn import(root: Node<'_>) -> Result<Imported, Diagnostic> {
    let members = root.members()?;
    let text_of = |k: &str| -> String {
        members
            .iter()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.value().as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let mut report = Report::new(Format::CapgateTs, &text_of("name"), &text_of("version"));
    if let Some((_, g)) = members.iter().find(|(k, _)| k == "grammar") {
        if g.value().as_str() != Some("0.0") {
            return Err(g
                .error(format!("the manifest's grammar is {}, not \"0.0\"", g.show()))
                .hint("capgate-ts imports TypeScript capgate manifests (grammar \"0.0\" or none); a grammar-1 manifest needs no import"));
        }
    }
    let has = |k: &str| members.iter().any(|(n, _)| n == k);
    if has("serverCapabilities") && has("capabilities") {
        return Err(root
            .error("the manifest has both `serverCapabilities` and `capabilities`")
            .hint("it does not compile in grammar 0.0 either (CG0107): keep one"));
    }
    let mut out = BTreeMap::new();
    for (k, v) in &members {
        match k.as_str() {
            "grammar" => {}
            "serverCapabilities" | "capabilities" => {
                if k == "serverCapabilities" {
                    report
                        .notes
                        .push("serverCapabilities is written as capabilities".to_string());
                }
                out.insert("capabilities".to_string(), cap_list(v, &mut report)?);
            }
            "tools" if v.is_array() => {
                let mut tools = Vec::new();
                for t in v.items()? {
                    if !t.is_object() {
                        tools.push(t.value().to_json());
                        continue;
                    }
                    let mut o = BTreeMap::new();
                    for (tk, tv) in t.members()? {
                        if tk == "capabilities" {
                            o.insert(tk, cap_list(&tv, &mut report)?);
                        } else {
                            o.insert(tk, tv.value().to_json());
                        }
                    }
                    tools.push(Json::Object(o));
                }
                out.insert("tools".to_string(), Json::Array(tools));
            }
            _ => {
                out.insert(k.clone(), v.value().to_json());
            }
        }
    }
    out.insert("grammar".to_string(), Json::str("1"));
    if !has("command") {
        report.notes.push(
            "no command, as in grammar 0.0: the artifacts' argv ends at `--` and capgate exec needs `-- <command>`"
                .to_string(),
        );
    }
    Ok(Imported {
        manifest: Json::Object(out),
        report,
    })
}

fn cap_list(v: &Node<'_>, report: &mut Report) -> Result<Json, Diagnostic> {
    if !v.is_array() {
        return Ok(v.value().to_json());
    }
    let mut out = Vec::new();
    for item in v.items()? {
        match &item.value().kind {
            Kind::String { text, .. } => out.push(Json::str(convert(text, item.path(), report))),
            Kind::Object(_) => {
                let mut o = BTreeMap::new();
                for (k, val) in item.members()? {
                    match (k.as_str(), val.value().as_str()) {
                        ("cap", Some(t)) => {
                            o.insert(k, Json::str(convert(t, val.path(), report)));
                        }
                        _ => {
                            o.insert(k, val.value().to_json());
                        }
                    }
                }
                out.push(Json::Object(o));
            }
            _ => out.push(item.value().to_json()),
        }
    }
    Ok(Json::Array(out))
}

fn placeholders(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s
        .match_indices("${")
        .map(|(i, _)| &s[i..s[i..].find('}').map_or(s.len(), |e| i + e + 1)])
        .collect();
    v.sort();
    v
}

/// One capability's grammar-1 text.
fn convert(text: &str, field: &str, report: &mut Report) -> String {
    let d = dequote_compat(text);
    let f = |a: usize, b: usize| Span::new(a, b);
    let parsed = parse(&Src { text: &d, span_of: &f }, Grammar::Compat);
    let out = match parsed {
        Ok(c) if placeholders(&c.to_string()) == placeholders(text) => c.to_string(),
        Ok(_) | Err(_) if text.contains("${") => rewrite(&d, field, report),
        Ok(_) => text.to_string(),
        Err(e) => {
            report.lossy.push(super::Loss {
                field: field.to_string(),
                said: text.to_string(),
                reason: format!(
                    "does not compile in grammar 0.0 either ({}: {}); kept as written",
                    e.code, e.message
                ),
            });
            text.to_string()
        }
    };
    if out != text {
        report.notes.push(format!("{field}: `{text}` -> `{out}`"));
    }
    out
}

/// Textual rewrites for a capability with placeholders (validated by
/// compile after substitution).
fn rewrite(d: &str, field: &str, report: &mut Report) -> String {
    let mut s = d.to_string();
    if s.starts_with("exec:") {
        s = s
            .replace("nestedSandbox=1", "nestedSandbox=true")
            .replace("nestedSandbox=0", "nestedSandbox=false");
    }
    if let Some(rest) = s.strip_prefix("net:") {
        let scope = rest
            .split_once(':')
            .map(|(_, sc)| sc.split('?').next().unwrap_or(sc))
            .unwrap_or("");
        if scope.ends_with('}') && !scope.contains("}:") {
            report.lossy.push(super::Loss {
                field: field.to_string(),
                said: d.to_string(),
                reason: "grammar 0.0 reads a port-less host as port `*`, which depends on the param's value; kept as written: if the value has no port, compile says CG0222 and you add `:*`".to_string(),
            });
        }
    }
    s
}
