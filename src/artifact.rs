//! Stage 5 (data side): artifacts and `index.json`. Writing them to disk is
//! the CLI's job (`capgate::write`), so the compiler stays free of I/O.

use crate::json::Json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

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

/// The index entry list for a set of artifacts, sorted by path.
pub fn files_json(artifacts: &[Artifact]) -> Json {
    let mut sorted: Vec<&Artifact> = artifacts.iter().collect();
    sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Json::Array(
        sorted
            .into_iter()
            .map(|a| {
                let mut o = BTreeMap::new();
                o.insert("path".to_string(), Json::str(&a.path));
                o.insert("sha256".to_string(), Json::str(a.sha256()));
                o.insert("size".to_string(), Json::Int(a.bytes.len() as i64));
                o.insert("media_type".to_string(), Json::str(a.media_type));
                Json::Object(o)
            })
            .collect(),
    )
}
