//! `clock:read:<system | tzdata>` (grammar 0.0's `clock:tzdata` is accepted).

use super::{Capability, Parts, Src};
use crate::diag::{Code, Diagnostic};

/// A clock source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClockSource {
    /// The system clock (always readable; recorded for reviewers).
    System,
    /// Time zone data (`/usr/share/zoneinfo`, `/etc/localtime`).
    Tzdata,
}

impl ClockSource {
    /// `system` / `tzdata`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClockSource::System => "system",
            ClockSource::Tzdata => "tzdata",
        }
    }
}

fn source(s: &str) -> Option<ClockSource> {
    match s {
        "system" => Some(ClockSource::System),
        "tzdata" => Some(ClockSource::Tzdata),
        _ => None,
    }
}

fn unknown(s: &str) -> Diagnostic {
    Diagnostic::error(
        Code::BadClock,
        format!("unknown clock source `{}`", crate::json::printable(s)),
    )
    .hint("sources: system, tzdata")
}

pub(super) fn parse(p: &Parts<'_>) -> Result<ClockSource, Diagnostic> {
    p.actions(&["read"])?;
    p.refinement_keys(&[])?;
    source(p.scope).ok_or_else(|| unknown(p.scope).at(p.span_scope()))
}

/// `clock:<source>` without an action.
pub(super) fn parse_compat(src: &Src<'_>, at: usize) -> Result<Capability, Diagnostic> {
    let s = &src.text[at..];
    source(s)
        .map(Capability::Clock)
        .ok_or_else(|| unknown(s).at(src.span(at, src.text.len().max(at + 1))))
}
