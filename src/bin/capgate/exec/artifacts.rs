//! Loading what `capgate exec` runs: an out-dir (every file checked against
//! index.json) or a manifest compiled in memory with the same bytes.

use capgate::json::{self, Json};
use std::collections::BTreeMap;
use std::path::Path;

/// The compiled files, by relative path.
pub struct Loaded {
    /// Files by path.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The content key.
    pub key: String,
}

impl Loaded {
    /// A file's bytes.
    pub fn get(&self, path: &str) -> Result<&[u8], String> {
        self.files
            .get(path)
            .map(Vec::as_slice)
            .ok_or_else(|| format!("the artifacts have no {path}; compile with that target"))
    }

    /// A JSON file as an object.
    pub fn object(&self, path: &str) -> Result<BTreeMap<String, Json>, String> {
        let text = String::from_utf8_lossy(self.get(path)?).into_owned();
        match json::parse(&text).map(|v| v.to_json()) {
            Ok(Json::Object(o)) => Ok(o),
            _ => Err(format!("{path} is not a JSON object")),
        }
    }
}

/// Read an out-dir, refusing any file that does not match index.json.
pub fn from_out_dir(dir: &Path) -> Result<Loaded, String> {
    let index_bytes = std::fs::read(dir.join("index.json"))
        .map_err(|e| format!("{} is not a capgate out-dir (index.json: {e})", dir.display()))?;
    let index = match json::parse(&String::from_utf8_lossy(&index_bytes)).map(|v| v.to_json()) {
        Ok(Json::Object(o)) => o,
        _ => return Err(format!("{}/index.json is not valid", dir.display())),
    };
    let key = match index.get("key") {
        Some(Json::Str(k)) => k.clone(),
        _ => return Err(format!("{}/index.json has no key", dir.display())),
    };
    let Some(Json::Array(entries)) = index.get("files") else {
        return Err(format!("{}/index.json lists no files", dir.display()));
    };
    let mut files = BTreeMap::new();
    for e in entries {
        let Json::Object(e) = e else {
            return Err("index.json: bad file entry".into());
        };
        let (Some(Json::Str(path)), Some(Json::Str(want))) = (e.get("path"), e.get("sha256")) else {
            return Err("index.json: bad file entry".into());
        };
        if path.starts_with('/') || path.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(format!("index.json names {path}, outside the out-dir"));
        }
        let bytes = std::fs::read(dir.join(path)).map_err(|e| format!("cannot read {path}: {e}"))?;
        let got = capgate::artifact::sha256_hex(&bytes);
        if &got != want {
            return Err(format!(
                "{}/{path} does not match index.json (sha256 {got}, index says {want}); refusing to run it",
                dir.display()
            ));
        }
        files.insert(path.clone(), bytes);
    }
    files.insert("index.json".into(), index_bytes);
    Ok(Loaded { files, key })
}

/// Compile a manifest in memory.
pub fn from_compiled(c: capgate::Compiled) -> Loaded {
    Loaded {
        key: c.key.clone(),
        files: c.artifacts.into_iter().map(|a| (a.path, a.bytes)).collect(),
    }
}

/// The strings of a JSON array field.
pub fn strings(o: &BTreeMap<String, Json>, field: &str) -> Vec<String> {
    match o.get(field) {
        Some(Json::Array(items)) => items
            .iter()
            .filter_map(|i| if let Json::Str(s) = i { Some(s.clone()) } else { None })
            .collect(),
        _ => Vec::new(),
    }
}

/// `(name, action)` of the envelope's `env` entries that the launcher passes.
pub fn passed_env(o: &BTreeMap<String, Json>) -> Vec<(String, String)> {
    let Some(Json::Array(items)) = o.get("env") else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|i| {
            let Json::Object(e) = i else { return None };
            match (e.get("name"), e.get("action")) {
                (Some(Json::Str(n)), Some(Json::Str(a))) if a == "read" || a == "inject" => {
                    Some((n.clone(), a.clone()))
                }
                _ => None,
            }
        })
        .collect()
}

/// True if the envelope says egress goes through the launcher's proxy.
pub fn needs_proxy(o: &BTreeMap<String, Json>) -> bool {
    let Some(Json::Array(items)) = o.get("launcher") else {
        return false;
    };
    items
        .iter()
        .any(|i| matches!(i, Json::Object(g) if matches!(g.get("grant"), Some(Json::Str(s)) if s.starts_with("net:"))))
}
