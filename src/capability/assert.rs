//! `assert:require:<id>[:<free text>]`: an obligation no target enforces,
//! surfaced to reviewers in every envelope. Grammar 0.0 wrote
//! `assert:<id>[:"text"]`.

use super::{Capability, Src};
use crate::diag::{Code, Diagnostic};
use crate::manifest::Grammar;
use std::fmt;

/// An assertion.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Assertion {
    /// Identifier, e.g. `postgres.read_only_txn`.
    pub id: String,
    /// Optional text for reviewers.
    pub text: Option<String>,
}

impl fmt::Display for Assertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "assert:require:{}", self.id)?;
        if let Some(t) = &self.text {
            write!(f, ":{t}")?;
        }
        Ok(())
    }
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Parse what follows `assert:` (at byte `at`).
pub(super) fn parse(src: &Src<'_>, at: usize, grammar: Grammar) -> Result<Capability, Diagnostic> {
    let rest = &src.text[at..];
    let (body, body_at) = match (grammar, rest.strip_prefix("require:")) {
        (_, Some(b)) => (b, at + 8),
        (Grammar::Compat, None) => (rest, at),
        (Grammar::V1, None) => {
            return Err(
                Diagnostic::error(Code::BadAction, "an assertion is written assert:require:<id>[:<text>]")
                    .at(src.span(at, src.text.len().max(at + 1)))
                    .hint(format!("write assert:require:{rest}")),
            )
        }
    };
    let (id, text) = match body.split_once(':') {
        Some((id, t)) => (id, Some(t)),
        None => (body, None),
    };
    if !valid_id(id) {
        return Err(Diagnostic::error(
            Code::BadAssert,
            format!("`{}` is not a valid assertion id", crate::json::printable(id)),
        )
        .at(src.span(body_at, body_at + id.len().max(1)))
        .hint("ids are letters, digits, `.`, `_` and `-`, e.g. postgres.read_only_txn"));
    }
    if id.chars().any(char::is_whitespace) {
        return Err(Diagnostic::error(Code::BadAssert, "an assertion id has whitespace")
            .at(src.span(body_at, body_at + id.len())));
    }
    let text = match text {
        None => None,
        Some(t) => {
            let t = match grammar {
                Grammar::Compat if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') => &t[1..t.len() - 1],
                _ => t,
            };
            if t.contains('"') && grammar == Grammar::Compat {
                return Err(
                    Diagnostic::error(Code::BadAssert, "unbalanced quotes in an assertion text")
                        .at(src.span(body_at, src.text.len())),
                );
            }
            if t.trim().is_empty() || t.trim() != t || t.len() > 1024 {
                return Err(Diagnostic::error(
                    Code::BadAssert,
                    "an assertion text is empty, padded with spaces or longer than 1024 bytes",
                )
                .at(src.span(body_at + id.len(), src.text.len()))
                .hint("write assert:require:<id>:<one line of text>"));
            }
            Some(t.to_string())
        }
    };
    Ok(Capability::Assert(Assertion {
        id: id.to_string(),
        text,
    }))
}
