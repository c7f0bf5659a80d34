//! Absolute-path validation shared by `fs`, `exec` and `ipc:unix:`, and the
//! sensitive-path rules.

use crate::diag::{Code, Diagnostic, Span};

/// Longest path accepted.
pub const MAX_PATH: usize = 4096;

/// Roots that are sensitive together with everything under them and every
/// directory above them (a grant of `/var` contains `/var/run`).
pub const SENSITIVE_ROOTS: &[&str] = &[
    "/",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/proc",
    "/root",
    "/run",
    "/sys",
    "/var/run",
    "/var/lib/docker",
    "/var/lib/containers",
    "/var/lib/kubelet",
    "/var/log",
    "/var/spool",
    "/lib/modules",
    "/usr/lib/modules",
    "/nix/var",
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/podman/podman.sock",
    "/run/containerd/containerd.sock",
    "/var/run/crio/crio.sock",
];

/// Path components that mark credentials wherever they appear.
pub const SENSITIVE_COMPONENTS: &[&str] = &[
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".kube",
    ".docker",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    ".password-store",
    ".vault-token",
    ".config",
    ".local",
    ".bash_history",
    ".pgpass",
    ".terraform.d",
    "gcloud",
    "docker.sock",
    "podman.sock",
    "containerd.sock",
];

/// Check that `p` is a normalized absolute path. `span` maps byte offsets
/// of `p` to manifest spans.
pub fn check_absolute(p: &str, span: &dyn Fn(usize, usize) -> Span) -> Result<(), Diagnostic> {
    if p.starts_with('~') || p.starts_with('$') {
        return Err(Diagnostic::error(
            Code::RelativePath,
            format!("`{}` is not an absolute path", crate::json::printable(p)),
        )
        .at(span(0, 1))
        .hint("capgate never expands `~` or environment variables; declare a param and use ${NAME}"));
    }
    if !p.starts_with('/') {
        return Err(Diagnostic::error(
            Code::RelativePath,
            format!("`{}` is not an absolute path", crate::json::printable(p)),
        )
        .at(span(0, p.len()))
        .hint("paths start with `/`"));
    }
    if p.len() > MAX_PATH {
        return Err(
            Diagnostic::error(Code::UnnormalizedPath, format!("path is longer than {MAX_PATH} bytes"))
                .at(span(0, p.len())),
        );
    }
    if p == "/" {
        return Ok(());
    }
    let mut at: usize = 1;
    for comp in p[1..].split('/') {
        let bad = match comp {
            "" => Some("an empty component (`//` or a trailing `/`)"),
            "." => Some("a `.` component"),
            ".." => Some("a `..` component"),
            _ => None,
        };
        if let Some(what) = bad {
            return Err(Diagnostic::error(
                Code::UnnormalizedPath,
                format!("path `{}` has {what}", crate::json::printable(p)),
            )
            .at(span(at.saturating_sub(1), at + comp.len().max(1)))
            .hint("write the normalized absolute path; capgate never resolves `..` or `.`"));
        }
        at += comp.len() + 1;
    }
    if let Some(i) = p.find(':') {
        return Err(Diagnostic::error(Code::UnsupportedPathCharacter, "path contains `:`")
            .at(span(i, i + 1))
            .hint("container volume flags (`-v src:dst:ro`) cannot express a path with `:`; rename or bind a parent"));
    }
    Ok(())
}

/// Components of an absolute path (none for `/`).
pub fn components(p: &str) -> impl Iterator<Item = &str> + Clone {
    p.split('/').filter(|c| !c.is_empty())
}

/// Number of components.
pub fn depth(p: &str) -> usize {
    components(p).count()
}

/// Parent-then-child order: component-wise byte order, so a directory sorts
/// right before everything under it.
pub fn cmp_tree(a: &str, b: &str) -> std::cmp::Ordering {
    components(a).cmp(components(b))
}

/// The strict ancestors of a normalized absolute path, nearest first
/// (`/a/b/c` gives `/a/b`, `/a`, `/`; the baseline path itself is excluded).
pub fn ancestors(p: &str) -> impl Iterator<Item = &str> {
    let mut cur = Some(p);
    std::iter::from_fn(move || {
        let c = cur?;
        let next = match c.rfind('/') {
            Some(0) if c.len() > 1 => Some("/"),
            Some(0) | None => None,
            Some(i) => Some(&c[..i]),
        };
        cur = next;
        next
    })
}

/// True if `child` is `parent` or lies under it (component-wise). Both are
/// normalized absolute paths (no `//`, `.`, `..` or trailing `/`), so a
/// string prefix ending at a `/` is exactly a component prefix.
pub fn is_under(child: &str, parent: &str) -> bool {
    if parent == "/" {
        return child.starts_with('/');
    }
    child.starts_with(parent) && (child.len() == parent.len() || child.as_bytes()[parent.len()] == b'/')
}

/// Why a path is sensitive, if it is.
pub fn sensitive_reason(p: &str) -> Option<String> {
    if p == "/" {
        return Some("it grants the host's root directory".to_string());
    }
    for root in SENSITIVE_ROOTS.iter().filter(|r| **r != "/") {
        if is_under(p, root) {
            return Some(format!("it lies under {root}"));
        }
        if is_under(root, p) {
            return Some(format!("it contains {root}"));
        }
    }
    components(p)
        .find(|c| SENSITIVE_COMPONENTS.contains(c))
        .map(|c| format!("it has a `{c}` component (credentials or sockets)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitivity() {
        for p in [
            "/",
            "/etc",
            "/etc/ssl",
            "/var",
            "/run/user/1000",
            "/srv/u/.ssh/id",
            "/var/run/docker.sock",
            "/home/x",
        ] {
            assert!(sensitive_reason(p).is_some(), "{p}");
        }
        for p in [
            "/data",
            "/workspace/proj",
            "/opt/mcp/pkg",
            "/usr/share/zoneinfo",
            "/tmp/x",
            "/variable",
            "/etcetera",
        ] {
            assert!(sensitive_reason(p).is_none(), "{p}");
        }
    }

    #[test]
    fn ancestor_walk() {
        assert_eq!(ancestors("/a/b/c").collect::<Vec<_>>(), ["/a/b", "/a", "/"]);
        assert_eq!(ancestors("/a").collect::<Vec<_>>(), ["/"]);
        assert_eq!(ancestors("/").count(), 0);
    }

    #[test]
    fn under() {
        assert!(is_under("/a/b", "/a"));
        assert!(is_under("/a", "/a"));
        assert!(!is_under("/ab", "/a"));
        assert!(is_under("/a", "/"));
    }
}
