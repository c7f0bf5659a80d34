//! The manifest parser (strict JSON + manifest shape). Invariants: every
//! error has a code and a span inside the input and renders without
//! panicking; an accepted manifest's texts point at their own string
//! literals; the JSON parser's canonical form is a fixed point.
#![no_main]

use capgate::manifest::{self, Text};
use capgate_fuzz::check_spans;
use libfuzzer_sys::fuzz_target;

fn check_text(src: &str, t: &Text) {
    let (s, e) = (t.span.start, t.span.end);
    assert!(s < e && e <= src.len(), "text span {s}..{e} outside input");
    let lit = src
        .get(s..e)
        .unwrap_or_else(|| panic!("text span {s}..{e} not on char boundaries"));
    assert!(
        lit.len() >= 2 && lit.starts_with('"') && lit.ends_with('"'),
        "span is not a string literal: {lit:?}"
    );
    if !t.escaped {
        assert_eq!(
            &lit[1..lit.len() - 1],
            t.text,
            "unescaped literal differs from its text"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    match manifest::parse(data) {
        Err(diags) => {
            assert!(!diags.is_empty(), "rejected without a diagnostic");
            check_spans("manifest error", &diags, data.len(), data);
            if let Ok(src) = std::str::from_utf8(data) {
                for d in diags.iter() {
                    let _ = capgate::diag::render_human(d, src, "capgate.json");
                    let _ = capgate::diag::render_json(d, src, "capgate.json");
                }
            }
        }
        Ok(m) => {
            let src = std::str::from_utf8(data).expect("accepted input is UTF-8");
            check_text(src, &m.name);
            check_text(src, &m.version);
            for t in m.image.iter().chain(m.command.iter().flatten()) {
                check_text(src, t);
            }
            for c in &m.capabilities {
                check_text(src, &c.cap);
            }
            for tool in &m.tools {
                check_text(src, &tool.name);
                for c in &tool.capabilities {
                    check_text(src, &c.cap);
                }
            }
            assert!(m.span.end <= src.len());
        }
    }
    // Strict JSON: canonical (JCS) output parses back to the same value.
    if let Ok(src) = std::str::from_utf8(data) {
        if let Ok(v) = capgate::json::parse(src) {
            let compact = v.to_json().to_compact();
            let again = capgate::json::parse(&compact)
                .unwrap_or_else(|e| panic!("canonical JSON does not parse: {e:?}\n{compact}"));
            assert_eq!(again.to_json().to_compact(), compact, "JCS form is not a fixed point");
            let pretty = v.to_json().to_pretty();
            let p = capgate::json::parse(&pretty).unwrap_or_else(|e| panic!("pretty JSON does not parse: {e:?}"));
            assert_eq!(p.to_json().to_compact(), compact, "pretty and compact forms differ");
        }
    }
});
