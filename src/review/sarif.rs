//! SARIF 2.1.0 output of a review (OASIS Static Analysis Results
//! Interchange Format, errata 01 schema). One run; `tool.driver.rules` is
//! the whole catalogue in id order; each finding is a result with its
//! rule, level, message and a region computed from its byte span
//! (1-based lines, columns in UTF-16 code units as `columnKind` says,
//! `endColumn` one past the last character) and a stable fingerprint
//! (`capgate/v1` = sha256 of rule id, NUL, grant: it survives edits that
//! move the grant to another line). Waived findings carry an
//! `external` suppression with the policy's reason. No timestamps, no
//! invocation, no absolute paths: the artifact URI is the path as given,
//! percent-encoded.

use super::catalogue::CATALOGUE;
use super::{Level, Review};
use crate::diag::Span;
use crate::json::Json;
use std::collections::BTreeMap;

/// The schema URI written in `$schema`.
pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// A SARIF region (1-based, end column exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Line of the first character.
    pub start_line: usize,
    /// Column of the first character (UTF-16 code units, 1-based).
    pub start_column: usize,
    /// Line of the last character.
    pub end_line: usize,
    /// Column after the last character.
    pub end_column: usize,
}

/// Line and UTF-16 column (both 1-based) of a byte offset.
fn position(source: &str, offset: usize) -> (usize, usize) {
    let (line, before) = crate::diag::line_prefix(source, offset);
    (line, before.encode_utf16().count() + 1)
}

/// The region of a byte span. An empty span covers one character.
pub fn region(source: &str, span: Span) -> Region {
    let (start_line, start_column) = position(source, span.start);
    let end = span.end.max(span.start + 1);
    let (end_line, end_column) = position(source, end);
    Region {
        start_line,
        start_column,
        end_line,
        end_column: if (end_line, end_column) == (start_line, start_column) {
            start_column + 1
        } else {
            end_column
        },
    }
}

/// Percent-encode a path as a relative URI reference (unreserved bytes and
/// `/` stay; a Windows `\` becomes `/`).
pub fn path_uri(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        match b {
            b'\\' => out.push('/'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn text(s: &str) -> Json {
    let mut o = BTreeMap::new();
    o.insert("text".to_string(), Json::str(s));
    Json::Object(o)
}

fn obj(pairs: Vec<(&str, Json)>) -> Json {
    Json::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn security_props(l: Level) -> Json {
    obj(vec![
        ("security-severity", Json::str(l.security_severity())),
        ("severity", Json::str(l.as_str())),
        ("tags", Json::strs(["security", "capgate-review"])),
    ])
}

/// The SARIF log, pretty, with a trailing newline.
pub fn render(r: &Review, source: &str, file: &str) -> String {
    let rules: Vec<Json> = CATALOGUE
        .iter()
        .map(|rule| {
            obj(vec![
                ("id", Json::str(rule.id)),
                ("name", Json::str(rule.name)),
                ("shortDescription", text(rule.title)),
                ("fullDescription", text(rule.rationale)),
                (
                    "help",
                    obj(vec![
                        ("text", Json::str(rule.fix)),
                        (
                            "markdown",
                            Json::str(format!(
                                "**{}** ({}, {})\n\n{}\n\n**Fix:** {}",
                                rule.title,
                                rule.id,
                                rule.severity.as_str(),
                                rule.rationale,
                                rule.fix
                            )),
                        ),
                    ]),
                ),
                (
                    "defaultConfiguration",
                    obj(vec![("level", Json::str(rule.severity.sarif_level()))]),
                ),
                ("properties", security_props(rule.severity)),
            ])
        })
        .collect();
    let uri = path_uri(file);
    let results: Vec<Json> = r
        .findings
        .iter()
        .map(|f| {
            let index = CATALOGUE.iter().position(|x| x.id == f.rule.id).unwrap_or(0);
            let mut phys = vec![("artifactLocation", obj(vec![("uri", Json::str(&uri))]))];
            if let Some(span) = f.span {
                let reg = region(source, span);
                phys.push((
                    "region",
                    obj(vec![
                        ("startLine", Json::Int(reg.start_line as i64)),
                        ("startColumn", Json::Int(reg.start_column as i64)),
                        ("endLine", Json::Int(reg.end_line as i64)),
                        ("endColumn", Json::Int(reg.end_column as i64)),
                        ("byteOffset", Json::Int(span.start as i64)),
                        ("byteLength", Json::Int(span.end.saturating_sub(span.start) as i64)),
                    ]),
                ));
            }
            let mut props = vec![
                ("security-severity", Json::str(f.severity.security_severity())),
                ("severity", Json::str(f.severity.as_str())),
                ("tools", Json::strs(&f.tools)),
                ("why", Json::strs(&f.why)),
            ];
            if let Some(g) = &f.grant {
                props.push(("grant", Json::str(g)));
            }
            if let Some(a) = &f.adjusted {
                props.push(("defaultSeverity", Json::str(a.from.as_str())));
                props.push(("adjustedReason", Json::str(&a.reason)));
            }
            let fingerprint =
                crate::artifact::sha256_hex(format!("{}\0{}", f.rule.id, f.grant.as_deref().unwrap_or("")).as_bytes());
            let mut res = vec![
                ("ruleId", Json::str(f.rule.id)),
                ("fingerprints", obj(vec![("capgate/v1", Json::str(fingerprint))])),
                ("ruleIndex", Json::Int(index as i64)),
                ("level", Json::str(f.severity.sarif_level())),
                ("message", text(&f.message)),
                (
                    "locations",
                    Json::Array(vec![obj(vec![("physicalLocation", obj(phys))])]),
                ),
                ("properties", obj(props)),
            ];
            if let Some(reason) = &f.suppressed {
                res.push((
                    "suppressions",
                    Json::Array(vec![obj(vec![
                        ("kind", Json::str("external")),
                        ("status", Json::str("accepted")),
                        ("justification", Json::str(reason)),
                    ])]),
                ));
            }
            obj(res)
        })
        .collect();
    let driver = obj(vec![
        ("name", Json::str("capgate")),
        ("semanticVersion", Json::str(crate::VERSION)),
        ("version", Json::str(crate::VERSION)),
        ("rules", Json::Array(rules)),
    ]);
    let run = obj(vec![
        ("tool", obj(vec![("driver", driver)])),
        ("columnKind", Json::str("utf16CodeUnits")),
        (
            "artifacts",
            Json::Array(vec![obj(vec![
                ("location", obj(vec![("uri", Json::str(&uri))])),
                ("roles", Json::strs(["analysisTarget"])),
            ])]),
        ),
        ("results", Json::Array(results)),
        (
            "properties",
            obj(vec![("capgate", obj(vec![("key", Json::str(&r.key))]))]),
        ),
    ]);
    obj(vec![
        ("$schema", Json::str(SCHEMA_URI)),
        ("version", Json::str("2.1.0")),
        ("runs", Json::Array(vec![run])),
    ])
    .to_pretty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_one_based_and_end_exclusive() {
        let src = "{\n  \"a\": \"fs:read:/x\"\n}";
        let start = src.find("\"fs").unwrap();
        let end = start + "\"fs:read:/x\"".len();
        let r = region(src, Span::new(start, end));
        assert_eq!(
            r,
            Region {
                start_line: 2,
                start_column: 8,
                end_line: 2,
                end_column: 20
            }
        );
    }

    #[test]
    fn columns_count_utf16_units() {
        // U+1F600 is two UTF-16 units and four bytes.
        let src = "\"\u{1F600}\" \"x\"";
        let start = src.rfind("\"x").unwrap();
        let r = region(src, Span::new(start, start + 3));
        assert_eq!((r.start_column, r.end_column), (6, 9));
    }

    #[test]
    fn spans_across_lines() {
        let src = "ab\ncd\nef";
        let r = region(src, Span::new(1, 7));
        assert_eq!((r.start_line, r.start_column, r.end_line, r.end_column), (1, 2, 3, 2));
    }

    #[test]
    fn uris_are_relative_and_encoded() {
        assert_eq!(path_uri("examples/a b/capgate.json"), "examples/a%20b/capgate.json");
        assert_eq!(path_uri("caf\u{e9}.json"), "caf%C3%A9.json");
    }
}
