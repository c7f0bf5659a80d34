//! Command-line arguments (clap derive). Unknown flags are rejected.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  capgate compile capgate.json --out-dir out/
  capgate compile examples/filesystem/capgate.json --param PKG=/opt/mcp/server-filesystem --out-dir out/
  capgate compile servers/*/capgate.json --store .capgate-store/
  capgate key capgate.json --param PKG=/opt/mcp/pkg
  capgate verify capgate.json --golden-dir golden/
  capgate explain CG0212";

/// capgate: compile MCP server manifests into deterministic sandbox artifacts.
#[derive(Parser, Debug)]
#[command(name = "capgate", about, after_help = EXAMPLES, disable_version_flag = true)]
pub struct Cli {
    /// Print the version.
    #[arg(short = 'V', long = "version", action = clap::ArgAction::SetTrue)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compile manifests into bwrap, docker and egress artifacts.
    #[command(after_help = "\
Examples:
  capgate compile capgate.json --out-dir out/
  capgate compile capgate.json --out-dir out/ --target bwrap --param PKG=/opt/mcp/pkg
  capgate compile a/capgate.json b/capgate.json --store store/   # writes store/<key>/, skips existing keys

An existing --out-dir is replaced atomically, and only if it holds nothing but
capgate's own files. In --store mode a capgate.params.json beside each manifest
supplies its params (--param and --params-file apply on top).")]
    Compile(CompileArgs),
    /// Print the content key (64 hex digits) of a manifest.
    #[command(after_help = "Example:\n  capgate key capgate.json --param PKG=/opt/mcp/pkg")]
    Key(KeyArgs),
    /// Recompile and compare with committed artifacts or a lock file; exit 1 on any difference.
    #[command(after_help = "Examples:
  capgate verify capgate.json --golden-dir golden/ --param PKG=/opt/mcp/pkg
  capgate verify --lock capgate.lock        # every manifest of a tree, as `capgate lock` recorded it")]
    Verify(VerifyArgs),
    /// Record the key and artifact hashes of every capgate.json under a directory.
    #[command(after_help = "\
Examples:
  capgate lock                      # walks ., writes ./capgate.lock
  capgate lock servers/ --output audit/capgate.lock

The walk does not follow symlinks and skips .git, target, node_modules, bazel-*,
tests/ui and tests/hostile. A capgate.params.json beside a manifest gives its params.
Check a tree against the lock with `capgate verify --lock capgate.lock`.")]
    Lock(LockArgs),
    /// Print an in-toto Statement (SLSA Provenance v1) for a compiled out-dir.
    #[command(after_help = "\
Example:
  capgate attest out/ > out.intoto.json
  cosign attest-blob --predicate ... / minisign -S -m out.intoto.json   # signing is external

The subjects are index.json and every file it lists; the out-dir must match index.json.")]
    Attest(AttestArgs),
    /// Print the documentation of a diagnostic code.
    #[command(after_help = "Example:\n  capgate explain CG0212")]
    Explain {
        /// A code such as CG0212.
        code: String,
    },
    /// Print the manifest's JSON Schema.
    Schema,
}

#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// Compile only these targets (repeatable; default: all).
    #[arg(long = "target", value_enum)]
    pub targets: Vec<TargetArg>,
    /// A param value, NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// A JSON object of param values.
    #[arg(long = "params-file", value_name = "FILE")]
    pub params_file: Option<PathBuf>,
    /// Fail when a target cannot enforce a grant.
    #[arg(long)]
    pub strict: bool,
    /// Treat warnings (lints) as errors.
    #[arg(long)]
    pub deny_warnings: bool,
    /// How to print diagnostics (on stderr).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct CompileArgs {
    /// Manifest files (one with --out-dir, any number with --store).
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
    /// Write the artifacts to this directory.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "store",
        required_unless_present = "store"
    )]
    pub out_dir: Option<PathBuf>,
    /// Content-addressed store: write each manifest to DIR/<key>/.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args, Debug)]
pub struct KeyArgs {
    /// Manifest file.
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Manifest file (with --golden-dir).
    #[arg(value_name = "MANIFEST", required_unless_present = "lock", requires = "golden_dir")]
    pub manifest: Option<PathBuf>,
    /// Directory with the committed artifacts.
    #[arg(long, value_name = "DIR", conflicts_with = "lock")]
    pub golden_dir: Option<PathBuf>,
    /// Recompute every manifest of a lock file (capgate lock) and report drift.
    #[arg(long, value_name = "LOCKFILE")]
    pub lock: Option<PathBuf>,
    /// On success, write the key and a newline to this file.
    #[arg(long, value_name = "FILE")]
    pub stamp: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args, Debug)]
pub struct LockArgs {
    /// Directory to walk.
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Where to write the lock (default: DIR/capgate.lock).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// How to print diagnostics (on stderr).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct AttestArgs {
    /// A directory written by `capgate compile --out-dir`.
    #[arg(value_name = "OUT_DIR")]
    pub out_dir: PathBuf,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetArg {
    Bwrap,
    Docker,
    Egress,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}
