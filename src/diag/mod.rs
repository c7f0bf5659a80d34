//! Diagnostics as data: every problem capgate finds is a [`Diagnostic`] with a
//! stable [`Code`], a byte span into the manifest, a message and hints.
//!
//! Stages collect diagnostics instead of stopping at the first one; the CLI
//! renders them ([`render_human`], [`render_json`]) and never the library.

mod codes;
mod render;

pub use codes::{Code, ALL_CODES};
pub use render::{is_format_char, line_col, line_prefix, render_human, render_json, snippet};

/// A half-open byte range `[start, end)` into the manifest text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The manifest is rejected.
    Error,
    /// A lint: compile succeeds unless `--deny-warnings`.
    Warning,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One finding: code, severity, message, where, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable code (`CG0203`).
    pub code: Code,
    /// Error or warning.
    pub severity: Severity,
    /// One-line description of this occurrence.
    pub message: String,
    /// Where in the manifest, when the problem has a place.
    pub span: Option<Span>,
    /// Suggestions, each one line.
    pub hints: Vec<String>,
}

impl Diagnostic {
    /// An error with the code's default severity overridden to error.
    pub fn error(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            span: None,
            hints: Vec::new(),
        }
    }

    /// A warning (lint).
    pub fn warning(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Warning,
            message: message.into(),
            span: None,
            hints: Vec::new(),
        }
    }

    /// Attach a span.
    pub fn at(mut self, span: Span) -> Diagnostic {
        self.span = Some(span);
        self
    }

    /// Attach an optional span.
    pub fn at_opt(mut self, span: Option<Span>) -> Diagnostic {
        self.span = span;
        self
    }

    /// Add a hint line.
    pub fn hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hints.push(hint.into());
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// All diagnostics of one run, in the order they were found (then sorted by
/// span for rendering).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Add one.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    /// True if any is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }
    /// Iterate.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }
    /// Number of diagnostics.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Stable order: by span start, then code; span-less ones last.
    pub fn sorted(mut self) -> Diagnostics {
        self.0.sort_by(|a, b| {
            let ka = (a.span.is_none(), a.span.map(|s| s.start), a.code);
            let kb = (b.span.is_none(), b.span.map(|s| s.start), b.code);
            ka.cmp(&kb)
        });
        self
    }
}

impl std::fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for d in &self.0 {
            writeln!(f, "{}[{}]: {}", d.severity.as_str(), d.code, d.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
