//! capgate: a deterministic, content-addressed compiler for MCP server
//! sandboxes.
//!
//! A server author lists what each tool of an MCP server may touch, as
//! capability strings in `capgate.json`. capgate compiles that manifest into
//! reviewable sandbox artifacts (a bubblewrap argv, docker/podman flags,
//! squid and nftables egress allowlists) keyed by a hash of everything that
//! determines them.
//!
//! ```text
//! capgate.json --parse--> Manifest --grammar--> [Capability] --normalize--> Policy --lower(target)--> artifacts
//!   (text, spans)          (manifest)             (capability)                (policy)      (target)       (+ index.json)
//! ```
//!
//! Every stage collects all diagnostics, returns a stricter type and never
//! prints. [`compile`] does no I/O and reads no environment; [`emit`] is the
//! only module that touches the filesystem.
//!
//! ```
//! let manifest = br#"{
//!   "grammar": "1",
//!   "name": "demo", "version": "1.0.0",
//!   "command": ["/usr/bin/node", "/opt/demo/index.js"],
//!   "capabilities": ["fs:read:/opt/demo/**"],
//!   "tools": [{ "name": "fetch", "capabilities": ["net:connect:api.example.com:443"] }]
//! }"#;
//! let out = capgate::compile(manifest, &capgate::Options::default())?;
//! assert_eq!(out.key.len(), 64);
//! let argv = out.artifact("bwrap/argv.json").unwrap();
//! assert!(String::from_utf8_lossy(&argv.bytes).contains("--ro-bind"));
//! // Same input, same bytes.
//! let again = capgate::compile(manifest, &capgate::Options::default())?;
//! assert_eq!(out.artifacts, again.artifacts);
//! # Ok::<(), capgate::Diagnostics>(())
//! ```
#![deny(missing_docs)]

pub mod artifact;
pub mod capability;
mod compile;
pub mod containment;
pub mod diag;
pub mod diff;
pub mod emit;
pub mod import;
pub mod json;
pub mod key;
pub mod manifest;
pub mod policy;
pub mod review;
pub mod target;

pub use artifact::Artifact;
pub use compile::{compile, is_fatal, key, output_files, Compiled, Options};
pub use diag::{Code, Diagnostic, Diagnostics, Severity, Span};
pub use target::Target;

/// The capgate version, part of every key (`capgate --version` prints it).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The manifest's JSON Schema (`capgate schema`).
pub const MANIFEST_SCHEMA: &str = include_str!("../schemas/capgate.schema.json");
