//! `exec:spawn:<absolute path | bare name>[?nestedSandbox=true]`

use super::path::check_absolute;
use super::{write_refinements, Parts};
use crate::diag::{Code, Diagnostic};
use crate::manifest::Grammar;
use std::fmt;

/// A program the server may spawn.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExecGrant {
    /// Absolute path, or a bare name resolved against the profile's PATH.
    pub program: String,
    /// The program builds its own sandbox (browsers).
    pub nested_sandbox: bool,
}

impl fmt::Display for ExecGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exec:spawn:{}", self.program)?;
        write_refinements(
            f,
            if self.nested_sandbox {
                &[("nestedSandbox", "true")]
            } else {
                &[]
            },
        )
    }
}

pub(super) fn parse(p: &Parts<'_>, grammar: Grammar) -> Result<ExecGrant, Diagnostic> {
    p.actions(&["spawn"])?;
    p.refinement_keys(&["nestedSandbox"])?;
    let allowed: &[&str] = match grammar {
        Grammar::V1 => &["true", "false"],
        Grammar::Compat => &["true", "false", "1", "0"],
    };
    let nested = matches!(p.refinement("nestedSandbox", allowed)?.as_deref(), Some("true" | "1"));
    let prog = p.scope;
    if prog.starts_with('/') {
        check_absolute(prog, &|a, b| p.span_in_scope(a, b))?;
    } else {
        let ok = prog.len() <= 255
            && prog != "."
            && prog != ".."
            && !prog.starts_with('-')
            && prog.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
        if !ok {
            return Err(Diagnostic::error(
                Code::BadExec,
                format!(
                    "`{}` is not a program name or absolute path",
                    crate::json::printable(prog)
                ),
            )
            .at(p.span_scope())
            .hint("write a bare name (git) or an absolute path (/usr/bin/git)"));
        }
    }
    if prog.contains('*') {
        return Err(
            Diagnostic::error(Code::BadExec, "exec grants name one program; globs are not allowed").at(p.span_scope()),
        );
    }
    Ok(ExecGrant {
        program: prog.to_string(),
        nested_sandbox: nested,
    })
}
