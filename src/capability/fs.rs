//! `fs:<read,write,create,delete,exec>:<absolute path>[/**|/*][?sensitive=allow&optional=true]`

use super::path::{check_absolute, sensitive_reason};
use super::{write_path_refinements, Parts};
use crate::diag::{Code, Diagnostic};
use std::collections::BTreeSet;
use std::fmt;

/// An fs action, in canonical order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FsAction {
    /// Read files and list directories.
    Read,
    /// Modify existing files.
    Write,
    /// Create new files.
    Create,
    /// Remove files.
    Delete,
    /// Execute files.
    Exec,
}

impl FsAction {
    /// The action word.
    pub fn as_str(self) -> &'static str {
        match self {
            FsAction::Read => "read",
            FsAction::Write => "write",
            FsAction::Create => "create",
            FsAction::Delete => "delete",
            FsAction::Exec => "exec",
        }
    }
    /// True for actions that need a writable bind.
    pub fn needs_write(self) -> bool {
        matches!(self, FsAction::Write | FsAction::Create | FsAction::Delete)
    }
}

const ACTIONS: &[&str] = &["read", "write", "create", "delete", "exec"];

/// How much below the path is granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Glob {
    /// The path itself (a file, or a directory with its contents).
    Exact,
    /// `/*`: the directory's direct children.
    Children,
    /// `/**`: the whole subtree.
    Subtree,
}

/// A filesystem grant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FsGrant {
    /// Normalized absolute path, without the glob suffix.
    pub path: String,
    /// Glob suffix.
    pub glob: Glob,
    /// Granted actions.
    pub actions: BTreeSet<FsAction>,
    /// `?optional=true`: the path may be absent at launch.
    pub optional: bool,
    /// `?sensitive=allow` was given.
    pub sensitive: bool,
}

impl FsGrant {
    /// True if any action needs a writable bind.
    pub fn writable(&self) -> bool {
        self.actions.iter().any(|a| a.needs_write())
    }
}

impl fmt::Display for FsGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let actions: Vec<&str> = self.actions.iter().map(|a| a.as_str()).collect();
        let suffix = match (self.glob, self.path.as_str()) {
            (Glob::Exact, _) => "",
            (Glob::Children, "/") => "*",
            (Glob::Subtree, "/") => "**",
            (Glob::Children, _) => "/*",
            (Glob::Subtree, _) => "/**",
        };
        write!(f, "fs:{}:{}{}", actions.join(","), self.path, suffix)?;
        write_path_refinements(f, self.optional, self.sensitive)
    }
}

pub(super) fn parse(p: &Parts<'_>) -> Result<FsGrant, Diagnostic> {
    let actions = p
        .actions(ACTIONS)?
        .into_iter()
        .map(|a| match a {
            "read" => FsAction::Read,
            "write" => FsAction::Write,
            "create" => FsAction::Create,
            "delete" => FsAction::Delete,
            _ => FsAction::Exec,
        })
        .collect();
    p.refinement_keys(&["optional", "sensitive"])?;
    let optional = p.optional()?;
    let sensitive = p.sensitive_allowed()?;

    let scope = p.scope;
    let (path, glob) = if scope == "/**" {
        ("/", Glob::Subtree)
    } else if scope == "/*" {
        ("/", Glob::Children)
    } else if let Some(s) = scope.strip_suffix("/**") {
        (s, Glob::Subtree)
    } else if let Some(s) = scope.strip_suffix("/*") {
        (s, Glob::Children)
    } else {
        (scope, Glob::Exact)
    };
    check_absolute(path, &|a, b| p.span_in_scope(a, b))?;
    if let Some(i) = path.find(['*', '[', ']', '{', '}']) {
        return Err(Diagnostic::error(
            Code::BadGlob,
            "only a trailing `/**` (subtree) or `/*` (children) glob is supported",
        )
        .at(p.span_in_scope(i, i + 1))
        .hint("bind mounts cannot express mid-path or character-class globs; name each directory"));
    }
    if !sensitive {
        if let Some(why) = sensitive_reason(path) {
            return Err(
                Diagnostic::error(Code::SensitivePath, format!("`{path}` is sensitive: {why}"))
                    .at(p.span_scope())
                    .hint("grant a narrower path, or add ?sensitive=allow if the server truly needs it"),
            );
        }
    }
    Ok(FsGrant {
        path: path.to_string(),
        glob,
        actions,
        optional,
        sensitive,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse_str;
    use super::super::Capability;
    use super::*;

    #[test]
    fn globs() {
        let Capability::Fs(g) = parse_str("fs:read:/data/**").unwrap() else {
            panic!()
        };
        assert_eq!((g.path.as_str(), g.glob), ("/data", Glob::Subtree));
        let Capability::Fs(g) = parse_str("fs:read:/data/*").unwrap() else {
            panic!()
        };
        assert_eq!(g.glob, Glob::Children);
        assert_eq!(parse_str("fs:read:/**").unwrap_err().code, Code::SensitivePath);
        assert_eq!(
            parse_str("fs:read:/**?sensitive=allow").unwrap().to_string(),
            "fs:read:/**?sensitive=allow"
        );
        assert_eq!(parse_str("fs:read:/home/*/proj").unwrap_err().code, Code::BadGlob);
        assert_eq!(parse_str("fs:read:/data/[ab]").unwrap_err().code, Code::BadGlob);
        assert_eq!(
            parse_str("fs:read:/data/a:b").unwrap_err().code,
            Code::UnsupportedPathCharacter
        );
        assert_eq!(
            parse_str("fs:read:/srv/me/.ssh/**").unwrap_err().code,
            Code::SensitivePath
        );
        assert_eq!(
            parse_str("fs:read:/var/run/docker.sock").unwrap_err().code,
            Code::SensitivePath
        );
        assert_eq!(parse_str("fs:read:/proc/1/root").unwrap_err().code, Code::SensitivePath);
    }
}
