//! Writing artifacts: the only filesystem I/O of the compiler side.
//!
//! An out-dir is built as a sibling temp dir and renamed into place. An
//! existing out-dir is replaced only if it holds nothing but capgate's fixed
//! files (Bazel pre-creates directories); it is swapped atomically with
//! `renameat2(RENAME_EXCHANGE)` and the old tree removed. On any error the
//! previous out-dir is left exactly as it was and the temp dir is removed.

use crate::artifact::Artifact;
use crate::target::Target;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Paths (files and their directories) capgate may find in an out-dir.
fn known_entry(rel: &str) -> bool {
    if rel == "index.json" || rel == "policy.json" {
        return true;
    }
    Target::ALL
        .iter()
        .any(|t| t.files().iter().any(|f| *f == rel || f.split('/').next() == Some(rel)))
}

/// Every entry under `dir` (relative path, type), never following symlinks,
/// byte-sorted.
pub fn tree(dir: &Path) -> io::Result<Vec<(String, fs::FileType)>> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let ft = entry.file_type()?;
            if ft.is_dir() {
                stack.push((entry.path(), rel.clone()));
            }
            out.push((rel, ft));
        }
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(out)
}

/// Check that an existing `dir` holds only capgate's fixed files.
fn check_replaceable(dir: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a directory", dir.display()),
        ));
    }
    for (rel, ft) in tree(dir)? {
        if !known_entry(&rel) || ft.is_symlink() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} holds `{rel}`, which capgate did not write; refusing to replace it (remove it or pick another --out-dir)",
                    dir.display()
                ),
            ));
        }
    }
    Ok(())
}

fn temp_sibling(dir: &Path, tag: &str) -> io::Result<PathBuf> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dir
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the output path has no name"))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Ok(parent.join(format!(
        ".{}.capgate-{tag}-{}-{n}",
        name.to_string_lossy(),
        std::process::id()
    )))
}

fn write_tree(root: &Path, artifacts: &[Artifact]) -> io::Result<()> {
    fs::create_dir(root)?;
    for a in artifacts {
        let path = root.join(&a.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        // No fsync: like compilers and build tools, capgate relies on the
        // rename for atomicity towards readers, not for crash durability.
        let mut f = fs::File::create(&path)?;
        f.write_all(&a.bytes)?;
    }
    Ok(())
}

/// Swap two paths atomically (Linux `renameat2(RENAME_EXCHANGE)`).
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both pointers are valid NUL-terminated paths for the call's duration.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Write `artifacts` to `dir` atomically (see the module docs).
pub fn write_out_dir(dir: &Path, artifacts: &[Artifact]) -> io::Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("the parent directory {} does not exist", parent.display()),
            ));
        }
    }
    let exists = match fs::symlink_metadata(dir) {
        Ok(_) => {
            check_replaceable(dir)?;
            true
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    };
    let tmp = temp_sibling(dir, "new")?;
    let result = (|| {
        write_tree(&tmp, artifacts)?;
        if !exists {
            return fs::rename(&tmp, dir);
        }
        match exchange(&tmp, dir) {
            Ok(()) => fs::remove_dir_all(&tmp),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) => {
                // No RENAME_EXCHANGE on this filesystem: move the old tree aside first.
                let old = temp_sibling(dir, "old")?;
                fs::rename(dir, &old)?;
                if let Err(e) = fs::rename(&tmp, dir) {
                    let _ = fs::rename(&old, dir);
                    return Err(e);
                }
                fs::remove_dir_all(&old)
            }
            Err(e) => Err(e),
        }
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

/// Outcome of a store write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// Written now.
    Written,
    /// Already present (a no-op).
    Present,
}

/// Write to `store/<key>/` unless it exists.
pub fn write_store(store: &Path, key: &str, artifacts: &[Artifact]) -> io::Result<Stored> {
    let dir = store.join(key);
    if dir.is_dir() {
        return Ok(Stored::Present);
    }
    fs::create_dir_all(store)?;
    let tmp = temp_sibling(&dir, "new")?;
    let result = write_tree(&tmp, artifacts).and_then(|_| fs::rename(&tmp, &dir));
    match result {
        Ok(()) => Ok(Stored::Written),
        Err(_) if dir.is_dir() => {
            // Another writer won the race with the same content.
            let _ = fs::remove_dir_all(&tmp);
            Ok(Stored::Present)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}
