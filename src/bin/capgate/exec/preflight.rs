//! Checks before launch: every bind source exists (unless optional), has no
//! symlink component (bwrap and docker follow them: a `/data -> /` link
//! would bind the host's root), and is readable by the sandbox's uid.
//! capgate never chowns anything.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A host path to be bound into the sandbox.
pub struct Source {
    /// Host path.
    pub path: PathBuf,
    /// Bound writable.
    pub writable: bool,
    /// May be absent.
    pub optional: bool,
}

/// Sources that capgate itself binds and that are symlinks on most hosts;
/// they are resolved (and must stay under the given prefix) instead of refused.
const RESOLVED: &[(&str, &str)] = &[("/etc/localtime", "/usr/share/zoneinfo/")];

/// The resolved source for a capgate-owned symlinked path, if any.
pub fn resolved(path: &Path) -> Option<PathBuf> {
    let (p, prefix) = RESOLVED.iter().find(|(p, _)| Path::new(p) == path)?;
    let real = std::fs::canonicalize(p).ok()?;
    real.starts_with(prefix).then_some(real)
}

/// Check every source; returns one message per problem. Warnings (a
/// writable bind the uid cannot write) come back in the second list.
pub fn check(sources: &[Source], ids: (u32, u32)) -> (Vec<String>, Vec<String>) {
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    for s in sources {
        if resolved(&s.path).is_some() {
            continue;
        }
        let meta = match std::fs::symlink_metadata(&s.path) {
            Ok(m) => m,
            Err(_) if s.optional => continue,
            Err(e) => {
                errors.push(format!(
                    "bind source {} does not exist ({e}); create it or mark the grant ?optional=true",
                    s.path.display()
                ));
                continue;
            }
        };
        if let Some(link) = symlink_component(&s.path) {
            errors.push(format!(
                "bind source {} has a symlink component {} (it would bind whatever the link points to); grant the real path",
                s.path.display(),
                link.display()
            ));
            continue;
        }
        let need_x = meta.is_dir();
        if !allowed(&meta, ids, 4) || (need_x && !allowed(&meta, ids, 1)) {
            errors.push(format!(
                "bind source {} is not readable by the sandbox user {}:{} (owner {}:{}, mode {:o}); capgate never chowns: grant read access or run with --user",
                s.path.display(),
                ids.0,
                ids.1,
                meta.uid(),
                meta.gid(),
                meta.mode() & 0o7777
            ));
        } else if s.writable && !allowed(&meta, ids, 2) {
            warnings.push(format!(
                "{} is bound writable but uid {} cannot write it; writes will fail with EACCES",
                s.path.display(),
                ids.0
            ));
        }
        // Every parent must be traversable too.
        for parent in s.path.ancestors().skip(1) {
            if let Ok(m) = std::fs::metadata(parent) {
                if !allowed(&m, ids, 1) {
                    errors.push(format!(
                        "bind source {} is not reachable by uid {}: {} is not searchable",
                        s.path.display(),
                        ids.0,
                        parent.display()
                    ));
                    break;
                }
            }
        }
    }
    (errors, warnings)
}

/// The first component of `path` (itself included) that is a symlink.
pub fn symlink_component(path: &Path) -> Option<PathBuf> {
    let mut cur = PathBuf::from("/");
    for c in path.components().skip(1) {
        cur.push(c);
        if std::fs::symlink_metadata(&cur)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false)
        {
            return Some(cur);
        }
    }
    None
}

/// Unix permission check for `bit` (4 read, 2 write, 1 execute/search).
fn allowed(meta: &std::fs::Metadata, (uid, gid): (u32, u32), bit: u32) -> bool {
    let mode = meta.mode();
    if uid == 0 {
        return true;
    }
    let shift = if meta.uid() == uid {
        6
    } else if meta.gid() == gid {
        3
    } else {
        0
    };
    mode >> shift & bit != 0
}
