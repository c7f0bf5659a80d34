//! One capability string, every kind, both grammars. Invariants: an error
//! points inside the string; an accepted capability's canonical string
//! parses (grammar 1) back to the same capability and prints identically,
//! so the canonical form (what the key records) loses nothing.
#![no_main]

use capgate::capability::{self, Capability, Src};
use capgate::diag::{Diagnostic, Span};
use capgate::manifest::Grammar;
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

fn parse(text: &str, grammar: Grammar) -> (Result<Capability, Diagnostic>, Vec<(usize, usize)>) {
    let asked = RefCell::new(Vec::new());
    let span_of = |a: usize, b: usize| {
        asked.borrow_mut().push((a, b));
        Span::new(a, b)
    };
    let r = capability::parse(
        &Src {
            text,
            span_of: &span_of,
        },
        grammar,
    );
    (r, asked.into_inner())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for grammar in [Grammar::V1, Grammar::Compat] {
        // What compile does before parsing a 0.0 capability.
        let owned;
        let text = match grammar {
            Grammar::Compat => {
                owned = capability::dequote_compat(text);
                owned.as_str()
            }
            Grammar::V1 => text,
        };
        let (r, asked) = parse(text, grammar);
        for &(a, b) in &asked {
            // One past the end is allowed: it points at the closing quote
            // of the literal (an empty scope is reported there).
            assert!(
                a <= b && b <= text.len() + 1,
                "span {a}..{b} asked for outside {text:?} (len {})",
                text.len()
            );
        }
        match r {
            Err(d) => {
                let span = d
                    .span
                    .unwrap_or_else(|| panic!("error without a span for {text:?}: {d:?}"));
                assert!(asked.contains(&(span.start, span.end)), "span not from the source map");
            }
            Ok(cap) => {
                let canonical = cap.to_string();
                let (again, _) = parse(&canonical, Grammar::V1);
                match again {
                    Ok(c2) => {
                        assert_eq!(
                            c2, cap,
                            "canonical {canonical:?} of {text:?} ({grammar:?}) parses to another capability"
                        );
                        assert_eq!(c2.to_string(), canonical, "canonical form is not a fixed point");
                    }
                    Err(d) => panic!("canonical {canonical:?} of {text:?} ({grammar:?}) does not parse: {d:?}"),
                }
            }
        }
    }
});
