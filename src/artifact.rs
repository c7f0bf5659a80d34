//! Stage 5 (data side): artifacts and `index.json`. Writing them to disk is
//! the CLI's job (`capgate::write`), so the compiler stays free of I/O.

use crate::json::{Json, Writer};
use sha2::{Digest, Sha256};

/// One output file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// Relative path inside the out-dir (`bwrap/argv.json`).
    pub path: String,
    /// Media type for the index.
    pub media_type: &'static str,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl Artifact {
    /// A JSON artifact in the pretty canonical form.
    pub fn json(path: &str, value: &Json) -> Artifact {
        Artifact {
            path: path.into(),
            media_type: "application/json",
            bytes: value.to_pretty().into_bytes(),
        }
    }
    /// A text artifact.
    pub fn text(path: &str, media_type: &'static str, text: String) -> Artifact {
        Artifact {
            path: path.into(),
            media_type,
            bytes: text.into_bytes(),
        }
    }
    /// Lowercase hex sha256 of the bytes.
    pub fn sha256(&self) -> String {
        sha256_hex(&self.bytes)
    }
}

/// Lowercase hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let d = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in d {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// The index entry list for a set of artifacts, sorted by path:
/// `[{media_type, path, sha256, size}]`.
pub fn write_files(w: &mut Writer, artifacts: &[Artifact]) {
    let mut sorted: Vec<&Artifact> = artifacts.iter().collect();
    sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    w.begin_array();
    for a in sorted {
        w.begin_object();
        w.key("media_type").str(a.media_type);
        w.key("path").str(&a.path);
        w.key("sha256").str(&a.sha256());
        w.key("size").int(a.bytes.len() as i64);
        w.end();
    }
    w.end();
}
