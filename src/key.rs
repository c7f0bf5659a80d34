//! The content key: sha256 over the RFC 8785 (JCS) bytes of
//! `{capgate, grammar, targets, options, params, manifest}`, where
//! `manifest` is the normalized manifest ([`normalized_manifest`]).
//! Whitespace, key order, tool order, duplicate grants, descriptions and
//! `inputSchema` never change it; any change of a grant, a param, a target,
//! an option or the capgate version does.

use crate::artifact::sha256_hex;
use crate::json::Json;
use crate::manifest::{Grammar, Profile};
use crate::target::Target;
use crate::VERSION;
use std::collections::{BTreeMap, BTreeSet};

/// A capability in the normalized manifest. It borrows the canonical
/// string and the reason from the parsed grant (`'a`), so building the
/// records copies no text; `&str` orders like `String` (by bytes).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CapRecord<'a> {
    /// Canonical string.
    pub cap: &'a str,
    /// Author's reason.
    pub why: Option<&'a str>,
}

/// What the normalized manifest is built from.
pub struct ManifestRecord<'a> {
    /// Grammar.
    pub grammar: Grammar,
    /// Name.
    pub name: &'a str,
    /// Version.
    pub version: &'a str,
    /// Profile.
    pub profile: Profile,
    /// Image.
    pub image: Option<&'a str>,
    /// Command after substitution.
    pub command: Option<&'a [String]>,
    /// Server-level capabilities.
    pub capabilities: BTreeSet<CapRecord<'a>>,
    /// Tools by name.
    pub tools: BTreeMap<&'a str, BTreeSet<CapRecord<'a>>>,
}

fn caps_json(caps: &BTreeSet<CapRecord<'_>>) -> Json {
    Json::Array(
        caps.iter()
            .map(|c| {
                let mut o = BTreeMap::new();
                o.insert("cap".to_string(), Json::str(c.cap));
                if let Some(w) = c.why {
                    o.insert("why".to_string(), Json::str(w));
                }
                Json::Object(o)
            })
            .collect(),
    )
}

/// The normalized manifest N: defaults filled in, tools sorted by name,
/// capabilities canonical, sorted and deduplicated; `$schema`, `x-*`, tool
/// descriptions and schemas dropped.
pub fn normalized_manifest(m: &ManifestRecord) -> Json {
    let mut o = BTreeMap::new();
    o.insert("grammar".to_string(), Json::str(m.grammar.as_str()));
    o.insert("name".to_string(), Json::str(m.name));
    o.insert("version".to_string(), Json::str(m.version));
    o.insert("profile".to_string(), Json::str(m.profile.as_str()));
    o.insert("image".to_string(), m.image.map(Json::str).unwrap_or(Json::Null));
    o.insert("command".to_string(), m.command.map(Json::strs).unwrap_or(Json::Null));
    o.insert("capabilities".to_string(), caps_json(&m.capabilities));
    o.insert(
        "tools".to_string(),
        Json::Array(
            m.tools
                .iter()
                .map(|(name, caps)| {
                    let mut t = BTreeMap::new();
                    t.insert("name".to_string(), Json::str(name));
                    t.insert("capabilities".to_string(), caps_json(caps));
                    Json::Object(t)
                })
                .collect(),
        ),
    );
    Json::Object(o)
}

/// The JCS text of [`normalized_manifest`], written directly (no tree):
/// keys in JCS order (`capabilities`, `command`, `grammar`, `image`, `name`,
/// `profile`, `tools`, `version`; `cap`, `why`; `capabilities`, `name`).
pub fn normalized_manifest_jcs(m: &ManifestRecord) -> String {
    use crate::json::escape_str;
    fn caps(out: &mut String, caps: &BTreeSet<CapRecord<'_>>) {
        out.push('[');
        for (i, c) in caps.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"cap\":");
            escape_str(c.cap, out);
            if let Some(w) = c.why {
                out.push_str(",\"why\":");
                escape_str(w, out);
            }
            out.push('}');
        }
        out.push(']');
    }
    let mut out = String::with_capacity(1024);
    out.push_str("{\"capabilities\":");
    caps(&mut out, &m.capabilities);
    out.push_str(",\"command\":");
    match m.command {
        Some(cmd) => {
            out.push('[');
            for (i, a) in cmd.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                escape_str(a, &mut out);
            }
            out.push(']');
        }
        None => out.push_str("null"),
    }
    out.push_str(",\"grammar\":");
    escape_str(m.grammar.as_str(), &mut out);
    out.push_str(",\"image\":");
    match m.image {
        Some(i) => escape_str(i, &mut out),
        None => out.push_str("null"),
    }
    out.push_str(",\"name\":");
    escape_str(m.name, &mut out);
    out.push_str(",\"profile\":");
    escape_str(m.profile.as_str(), &mut out);
    out.push_str(",\"tools\":[");
    for (i, (name, c)) in m.tools.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"capabilities\":");
        caps(&mut out, c);
        out.push_str(",\"name\":");
        escape_str(name, &mut out);
        out.push('}');
    }
    out.push_str("],\"version\":");
    escape_str(m.version, &mut out);
    out.push('}');
    out
}

/// The key preimage (a JSON object; hash its JCS form).
pub fn preimage(
    grammar: Grammar,
    targets: &BTreeSet<Target>,
    strict: bool,
    deny_warnings: bool,
    params: &BTreeMap<String, String>,
    manifest: &Json,
) -> Json {
    let mut o = BTreeMap::new();
    o.insert("capgate".to_string(), Json::str(VERSION));
    o.insert("grammar".to_string(), Json::str(grammar.as_str()));
    o.insert("targets".to_string(), Json::strs(targets.iter().map(|t| t.as_str())));
    let mut opts = BTreeMap::new();
    opts.insert("strict".to_string(), Json::Bool(strict));
    opts.insert("deny_warnings".to_string(), Json::Bool(deny_warnings));
    o.insert("options".to_string(), Json::Object(opts));
    o.insert(
        "params".to_string(),
        Json::Object(params.iter().map(|(k, v)| (k.clone(), Json::str(v))).collect()),
    );
    o.insert("manifest".to_string(), manifest.clone());
    Json::Object(o)
}

/// The key: sha256 of the JCS form of [`preimage`], written without
/// building (and cloning) the preimage tree. `manifest_jcs` is the JCS form
/// of the normalized manifest.
pub fn compute(
    grammar: Grammar,
    targets: &BTreeSet<Target>,
    strict: bool,
    deny_warnings: bool,
    params: &BTreeMap<String, String>,
    manifest_jcs: &str,
) -> String {
    // JCS order of the top-level keys: capgate, grammar, manifest, options, params, targets.
    use crate::json::escape_str;
    let mut text = String::with_capacity(manifest_jcs.len() + 256);
    text.push_str("{\"capgate\":");
    escape_str(VERSION, &mut text);
    text.push_str(",\"grammar\":");
    escape_str(grammar.as_str(), &mut text);
    text.push_str(",\"manifest\":");
    text.push_str(manifest_jcs);
    text.push_str(",\"options\":{\"deny_warnings\":");
    text.push_str(if deny_warnings { "true" } else { "false" });
    text.push_str(",\"strict\":");
    text.push_str(if strict { "true" } else { "false" });
    text.push_str("},\"params\":{");
    let mut pairs: Vec<(&String, &String)> = params.iter().collect();
    // Byte order is JCS (UTF-16) order unless a key has a character at or
    // above U+E000.
    if pairs.iter().any(|(k, _)| k.bytes().any(|b| b >= 0xEE)) {
        pairs.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    }
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        escape_str(k, &mut text);
        text.push(':');
        escape_str(v, &mut text);
    }
    text.push_str("},\"targets\":[");
    for (i, t) in targets.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        escape_str(t.as_str(), &mut text);
    }
    text.push_str("]}");
    sha256_hex(text.as_bytes())
}

/// sha256 hex of the JCS form of a value.
pub fn digest(v: &Json) -> String {
    sha256_hex(v.to_compact().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_manifest_jcs_equals_the_tree_form() {
        let caps: BTreeSet<CapRecord> = [
            CapRecord {
                cap: "fs:read:/opt/x/**",
                why: Some("needs \"quotes\" and \u{e9}\n"),
            },
            CapRecord {
                cap: "net:connect:a.example:443",
                why: None,
            },
        ]
        .into();
        let command = vec!["/usr/bin/node".to_string(), "a\tb".to_string()];
        let mut tools = BTreeMap::new();
        tools.insert("b_tool", caps.clone());
        tools.insert("a_tool", BTreeSet::new());
        for (image, command) in [(None, None), (Some("repo@sha256:00"), Some(command.as_slice()))] {
            let m = ManifestRecord {
                grammar: Grammar::V1,
                name: "@scope/name",
                version: "1.0.0",
                profile: Profile::Debian,
                image,
                command,
                capabilities: caps.clone(),
                tools: tools.clone(),
            };
            assert_eq!(normalized_manifest_jcs(&m), normalized_manifest(&m).to_compact());
        }
    }

    #[test]
    fn compute_equals_digest_of_preimage() {
        let mut manifest = BTreeMap::new();
        manifest.insert("name".to_string(), Json::str("x"));
        manifest.insert("tools".to_string(), Json::Array(vec![]));
        let manifest = Json::Object(manifest);
        let targets: BTreeSet<Target> = Target::ALL.into_iter().collect();
        let mut params = BTreeMap::new();
        params.insert("PKG".to_string(), "/opt/x".to_string());
        // Byte order and UTF-16 order of these two keys differ.
        let mut odd = params.clone();
        odd.insert("\u{E000}".to_string(), "a\"b\n".to_string());
        odd.insert("\u{10000}".to_string(), "\u{e9}".to_string());
        let one: BTreeSet<Target> = [Target::Bwrap].into_iter().collect();
        for (strict, deny) in [(false, false), (true, false), (false, true)] {
            for p in [&params, &odd, &BTreeMap::new()] {
                for t in [&targets, &one] {
                    let want = digest(&preimage(Grammar::V1, t, strict, deny, p, &manifest));
                    let got = compute(Grammar::V1, t, strict, deny, p, &manifest.to_compact());
                    assert_eq!(got, want);
                }
            }
        }
    }
}
