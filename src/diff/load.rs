//! A [`Policy`] back from a compiled out-dir's `policy.json` and
//! `index.json`: every grant's canonical string is parsed again and the
//! policy normalized again, so an out-dir compares exactly like the
//! manifest it was compiled from (by this capgate version).

use crate::capability::{self, Src};
use crate::diag::Span;
use crate::json::{self, Kind, Value};
use crate::manifest::{Grammar, Profile};
use crate::policy::{self, Parsed, ParsedGrant, Policy};
use crate::target::Target;
use std::collections::{BTreeMap, BTreeSet};

/// What `capgate diff` reads from an out-dir.
#[derive(Clone, Debug)]
pub struct OutDir {
    /// The policy, normalized again from `policy.json`.
    pub policy: Policy,
    /// The targets `index.json` records.
    pub targets: BTreeSet<Target>,
}

fn members(v: &Value) -> Option<&[(json::Key, Value)]> {
    match &v.kind {
        Kind::Object(m) => Some(m),
        _ => None,
    }
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    members(v)?.iter().find(|(k, _)| k.text == key).map(|(_, v)| v)
}

fn string(v: &Value, key: &str) -> Result<String, String> {
    get(v, key)
        .and_then(|x| x.as_str())
        .map(str::to_string)
        .ok_or_else(|| format!("`{key}` is missing or not a string"))
}

fn strings(v: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match v.map(|v| &v.kind) {
        Some(Kind::Array(items)) => items
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("`{what}` holds a non-string"))
            })
            .collect(),
        _ => Err(format!("`{what}` is missing or not an array")),
    }
}

fn format_of(v: &Value, want: &str) -> Result<(), String> {
    match get(v, "format").and_then(|f| f.as_str()) {
        Some(f) if f == want => Ok(()),
        Some(f) => Err(format!("its format is `{f}`, not `{want}`")),
        None => Err(format!("it has no `format` (expected `{want}`)")),
    }
}

/// A policy from the text of `policy.json` (`capgate.policy/1`).
pub fn policy_from_json(text: &str) -> Result<Policy, String> {
    let root = json::parse(text).map_err(|d| format!("not valid JSON: {}", d[0].message))?;
    format_of(&root, "capgate.policy/1")?;
    let grammar = match string(&root, "grammar")?.as_str() {
        "1" => Grammar::V1,
        "0.0" => Grammar::Compat,
        g => return Err(format!("unknown grammar `{g}`")),
    };
    let profile = match string(&root, "profile")?.as_str() {
        "debian" => Profile::Debian,
        "nix" => Profile::Nix,
        "none" => Profile::None,
        p => return Err(format!("unknown profile `{p}`")),
    };
    let image = match get(&root, "image").map(|v| &v.kind) {
        None | Some(Kind::Null) => None,
        Some(Kind::String { text, .. }) => Some(text.clone()),
        _ => return Err("`image` is not a string or null".into()),
    };
    let command = match get(&root, "command").map(|v| &v.kind) {
        None | Some(Kind::Null) => None,
        _ => Some(strings(get(&root, "command"), "command")?),
    };
    let mut params = BTreeMap::new();
    if let Some(p) = get(&root, "params") {
        for (k, v) in members(p).ok_or("`params` is not an object")? {
            let v = v
                .as_str()
                .ok_or_else(|| format!("param `{}` is not a string", k.text))?;
            params.insert(k.text.clone(), v.to_string());
        }
    }
    let Some(Kind::Array(list)) = get(&root, "grants").map(|v| &v.kind) else {
        return Err("`grants` is missing or not an array".into());
    };
    let mut grants = Vec::new();
    for g in list {
        let cap_text = string(g, "cap")?;
        let span_of = |_: usize, _: usize| Span::default();
        // Canonical strings are grammar-1 text whatever the manifest's grammar.
        let cap = capability::parse(
            &Src {
                text: &cap_text,
                span_of: &span_of,
            },
            Grammar::V1,
        )
        .map_err(|d| format!("grant `{}`: [{}] {}", json::printable(&cap_text), d.code, d.message))?;
        let canonical = cap.to_string();
        let server = matches!(get(g, "server").map(|v| &v.kind), Some(Kind::Bool(true)));
        let tools = strings(get(g, "tools"), "tools")?;
        let whys = strings(get(g, "why"), "why")?;
        let why = |i: usize| whys.get(i).cloned();
        let mut n = 0;
        let mut push = |tool: Option<String>| {
            grants.push(ParsedGrant {
                cap: cap.clone(),
                canonical: canonical.clone(),
                why: why(n),
                tool,
                span: Span::default(),
            });
            n += 1;
        };
        if server {
            push(None);
        }
        for t in tools {
            push(Some(t));
        }
    }
    let parsed = Parsed {
        name: string(&root, "name")?,
        version: string(&root, "version")?,
        grammar,
        profile,
        image,
        command,
        params,
        grants,
    };
    policy::normalize(parsed).map(|(p, _)| p).map_err(|d| {
        format!(
            "the grants do not normalize: {}",
            d.iter().map(|d| d.message.clone()).collect::<Vec<_>>().join("; ")
        )
    })
}

impl OutDir {
    /// From the texts of `policy.json` and `index.json`.
    pub fn from_json(policy_json: &str, index_json: &str) -> Result<OutDir, String> {
        let policy = policy_from_json(policy_json).map_err(|e| format!("policy.json: {e}"))?;
        let index = json::parse(index_json).map_err(|d| format!("index.json: not valid JSON: {}", d[0].message))?;
        format_of(&index, "capgate.index/1").map_err(|e| format!("index.json: {e}"))?;
        let mut targets = BTreeSet::new();
        for t in strings(get(&index, "targets"), "targets").map_err(|e| format!("index.json: {e}"))? {
            targets.insert(Target::parse(&t).ok_or_else(|| format!("index.json: unknown target `{t}`"))?);
        }
        Ok(OutDir { policy, targets })
    }
}
