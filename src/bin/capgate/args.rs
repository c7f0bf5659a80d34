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
  capgate compile servers/ --store store/ --jobs 2                # every capgate.json under servers/
  git ls-files '*capgate.json' | capgate compile --manifests-from - --store store/ --format json

An existing --out-dir is replaced atomically, and only if it holds nothing but
capgate's own files. In --store mode a capgate.params.json beside each manifest
supplies its params (--param and --params-file apply on top); a directory is
walked like `capgate lock` walks (no symlinks followed; .git, target,
node_modules, bazel-*, tests/ui and tests/hostile skipped; byte-sorted). A key
already in the store is not compiled again. stdout gets one `KEY  PATH` line
per manifest in input order (a JSON object per line with --format json), the
same for any --jobs; a rejected manifest's diagnostics go to stderr and the
batch goes on (exit 1 at the end; 2 if a file could not be read or written).")]
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
    /// Run an MCP server under its compiled sandbox (bwrap or podman), no daemon.
    #[command(after_help = "\
Examples:
  capgate exec out/ -- --extra-server-arg            # an out-dir from capgate compile
  capgate exec examples/time/capgate.json --params-file examples/time/capgate.params.json
  capgate exec out/ --target docker                  # podman with the docker flags
  capgate exec out/ --dry-run                        # print what would run (secrets redacted)

Use it as the server command of any MCP client: stdin, stdout and stderr pass
through. env:read/env:inject values come from capgate's own environment and
reach the server through `bwrap --args FD` or podman's `--env NAME`, never argv.
Started as root, the sandbox runs as --user (default 65534:65534). With egress
granted, squid runs as a child with the compiled allowlist.
Exit status: the server's, 128+signal, 125 for capgate's own failure, 127 when
bwrap, podman or squid is missing.")]
    Exec(ExecArgs),
    /// Check what this host can run (bwrap, user namespaces, podman, runc, squid, nft, cgroups).
    #[command(after_help = "\
Examples:
  capgate doctor                 # per target: ready or not, and how to fix it
  capgate doctor --format json   # the same as one JSON object (format capgate.doctor/1)

Read-only: it reads /proc and /sys, asks each tool for its version, starts one
throwaway bwrap sandbox (as uid 65534 when run as root, as capgate exec does)
and, as root, one child in a new network namespace. It changes nothing.
Exit status: 0 when the default launch works (capgate exec with bwrap, and
squid for egress), 1 when it does not; docker, nftables and limits are
reported but not required.")]
    Doctor(DoctorArgs),
    /// (internal) Removes a podman container once the launcher that started it is gone.
    #[command(hide = true)]
    Reap {
        /// Container name.
        #[arg(long)]
        name: String,
        /// Global podman options.
        #[arg(last = true)]
        globals: Vec<String>,
    },
    /// (internal) The in-sandbox proxy bridge that capgate exec runs in front of a server.
    #[command(hide = true)]
    Bridge {
        /// Loopback address to listen on.
        #[arg(long)]
        listen: String,
        /// Unix socket to forward to.
        #[arg(long)]
        connect: String,
        /// The server command.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
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
    /// Manifest files (one with --out-dir); with --store any number of
    /// manifests and directories (walked for capgate.json).
    #[arg(required_unless_present = "manifests_from", value_name = "MANIFEST|DIR")]
    pub manifests: Vec<PathBuf>,
    /// With --store: read more manifest paths (or directories) from FILE, one per line; `-` is stdin.
    #[arg(long, value_name = "FILE")]
    pub manifests_from: Option<PathBuf>,
    /// With --store: compile this many manifests at a time (default: the number of CPUs).
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<std::num::NonZeroUsize>,
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
    /// Print nothing on success (diagnostics still go to stderr); for build systems.
    #[arg(long, short)]
    pub quiet: bool,
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
pub struct DoctorArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct AttestArgs {
    /// A directory written by `capgate compile --out-dir`.
    #[arg(value_name = "OUT_DIR")]
    pub out_dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// An out-dir written by `capgate compile`, or a manifest to compile in memory.
    #[arg(value_name = "OUT_DIR|MANIFEST")]
    pub input: PathBuf,
    /// Which runtime to use.
    #[arg(long, value_enum, default_value_t = ExecTarget::Bwrap)]
    pub target: ExecTarget,
    /// Numeric UID:GID for the sandbox when started as root (default 65534:65534).
    #[arg(long, value_name = "UID:GID")]
    pub user: Option<String>,
    /// Container image for --target docker (default: the manifest's image, else localhost/capgate-base:1).
    #[arg(long)]
    pub image: Option<String>,
    /// A global podman option (repeatable; default: --runtime runc --cgroup-manager cgroupfs when runc exists).
    #[arg(long = "podman-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub podman_arg: Vec<String>,
    /// Print what would run (secret values redacted) and exit.
    #[arg(long)]
    pub dry_run: bool,
    /// Run in this prepared network namespace (e.g. /run/netns/NAME) with the
    /// compiled nftables ruleset instead of the proxy (bwrap only, root only).
    #[arg(long, value_name = "PATH")]
    pub netns: Option<PathBuf>,
    /// A param value, NAME=VALUE (repeatable; when given a manifest).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// A JSON object of param values (when given a manifest).
    #[arg(long = "params-file", value_name = "FILE")]
    pub params_file: Option<PathBuf>,
    /// Extra arguments appended to the server command.
    #[arg(last = true)]
    pub extra: Vec<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecTarget {
    Bwrap,
    Docker,
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
