//! The input memo of a `--store` directory: `DIR/.inputs/<input digest>`
//! holds the key (64 hex + LF) that those exact inputs compiled to.
//!
//! Compiling is a pure function of the manifest's bytes, the params, the
//! options, the targets and the capgate version (it reads no environment), so
//! a digest over exactly those inputs names its result as well as the key
//! does. A warm batch then costs a read and a sha256 per manifest instead of
//! a parse: the memo is only a shortcut to `DIR/<key>/`, which is still the
//! one place artifacts live, and it is trusted only when it holds a
//! well-formed key whose entry exists. A memo file is written without a
//! rename: concurrent writers write the same bytes, and a torn or foreign
//! file is not a well-formed key, so it reads as a miss.

use crate::artifact::sha256_hex;
use crate::compile::Options;
use crate::json::Json;
use crate::key::digest;
use crate::VERSION;
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The directory of input memos inside a store.
pub const INPUTS_DIR: &str = ".inputs";

/// The digest of everything a compile depends on: sha256 of the JCS form of
/// `{capgate, options, params, source_sha256, targets}`.
pub fn input_digest(source: &[u8], opts: &Options) -> String {
    let mut o = BTreeMap::new();
    o.insert("capgate".to_string(), Json::str(VERSION));
    let mut flags = BTreeMap::new();
    flags.insert("deny_warnings".to_string(), Json::Bool(opts.deny_warnings));
    flags.insert("strict".to_string(), Json::Bool(opts.strict));
    o.insert("options".to_string(), Json::Object(flags));
    o.insert(
        "params".to_string(),
        Json::Object(opts.params.iter().map(|(k, v)| (k.clone(), Json::str(v))).collect()),
    );
    o.insert("source_sha256".to_string(), Json::str(sha256_hex(source)));
    o.insert(
        "targets".to_string(),
        Json::strs(opts.effective_targets().iter().map(|t| t.as_str())),
    );
    digest(&Json::Object(o))
}

fn memo_path(store: &Path, input: &str) -> PathBuf {
    store.join(INPUTS_DIR).join(input)
}

/// The key these inputs compiled to, if the memo holds a well-formed key and
/// `DIR/<key>/index.json` exists (entries are renamed into place whole, so
/// an entry with its index is complete); `None` means "compile".
pub fn recall(store: &Path, input: &str) -> Option<String> {
    let mut text = String::new();
    fs::File::open(memo_path(store, input))
        .ok()?
        .take(66)
        .read_to_string(&mut text)
        .ok()?;
    let key = text.strip_suffix('\n')?;
    let well_formed = key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (well_formed && store.join(key).join("index.json").is_file()).then(|| key.to_string())
}

/// Records that these inputs compiled to `key` (whose entry is in the store).
pub fn remember(store: &Path, input: &str, key: &str) -> io::Result<()> {
    let path = memo_path(store, input);
    match fs::write(&path, format!("{key}\n")) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(store.join(INPUTS_DIR))?;
            fs::write(&path, format!("{key}\n"))
        }
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options::default()
    }

    #[test]
    fn every_input_changes_the_digest() {
        let base = input_digest(b"{}", &opts());
        assert_eq!(base, input_digest(b"{}", &opts()), "deterministic");
        assert_ne!(base, input_digest(b"{ }", &opts()), "source bytes");
        let mut o = opts();
        o.params.insert("A".into(), "1".into());
        assert_ne!(base, input_digest(b"{}", &o), "params");
        let mut o = opts();
        o.strict = true;
        assert_ne!(base, input_digest(b"{}", &o), "strict");
        let mut o = opts();
        o.deny_warnings = true;
        assert_ne!(base, input_digest(b"{}", &o), "deny_warnings");
        let mut o = opts();
        o.targets.insert(crate::Target::Oci);
        assert_ne!(base, input_digest(b"{}", &o), "targets");
        // Naming the default targets is the same as naming none.
        let mut o = opts();
        o.targets = crate::Target::DEFAULT.into_iter().collect();
        assert_eq!(base, input_digest(b"{}", &o));
    }

    #[test]
    fn recall_trusts_only_a_well_formed_key_with_an_entry() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path();
        let key = "ab".repeat(32);
        assert_eq!(recall(store, "x"), None, "no memo");
        remember(store, "x", &key).unwrap();
        assert_eq!(recall(store, "x"), None, "memo without its entry");
        fs::create_dir(store.join(&key)).unwrap();
        assert_eq!(recall(store, "x"), None, "an entry without its index.json");
        fs::write(store.join(&key).join("index.json"), "{}").unwrap();
        assert_eq!(recall(store, "x"), Some(key.clone()));
        for torn in [&key[..10], &key[..], "../../etc\n", &format!("{}\n", "AB".repeat(32))] {
            fs::write(memo_path(store, "x"), torn).unwrap();
            assert_eq!(recall(store, "x"), None, "{torn:?}");
        }
    }
}
