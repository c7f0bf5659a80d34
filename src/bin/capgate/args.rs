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
  capgate diff git:origin/main:capgate.json capgate.json --fail-on widen
  capgate review capgate.json --fail-on high --format sarif
  capgate explain CG0212
  capgate import mcpb manifest.json -o capgate.json";

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
    #[command(after_help = "Examples:
  capgate key capgate.json --param PKG=/opt/mcp/pkg
  capgate key capgate.json --target bwrap --target oci   # the same --target flags as the compile

The key covers the targets and options, so it matches index.json only for the same flags.")]
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
tests/ui, tests/hostile and tests/import. A capgate.params.json beside a manifest gives its params.
Check a tree against the lock with `capgate verify --lock capgate.lock`.")]
    Lock(LockArgs),
    /// Print an in-toto Statement (SLSA Provenance v1) for a compiled out-dir.
    #[command(after_help = "\
Example:
  capgate attest out/ > out.intoto.json
  cosign attest-blob --predicate ... / minisign -S -m out.intoto.json   # signing is external

The subjects are index.json and every file it lists; the out-dir must match index.json.")]
    Attest(AttestArgs),
    /// Governance report: check a manifest against the review catalogue (CGR001…).
    #[command(after_help = "\
Examples:
  capgate review capgate.json
  capgate review capgate.json --fail-on high                  # exit 1 on a high or critical finding
  capgate review capgate.json --policy review-policy.json --format sarif > review.sarif
  capgate review examples/github/capgate.json --params-file examples/github/capgate.params.json --format json

Findings and their ids, severities and fixes: docs/review.md. A review policy
(--policy) raises, lowers or waives findings by id, optionally for one tool or
one capability, each with a reason; waived findings stay in the report as
suppressed. The report goes to stdout; diagnostics (a manifest that does not
compile, a bad policy file) go to stderr.
Exit status: 0 reviewed (and below --fail-on), 1 a finding at or above
--fail-on remains or the manifest or policy is rejected, 2 usage or I/O error.")]
    Review(ReviewArgs),
    /// Print the documentation of a diagnostic code.
    #[command(after_help = "Example:\n  capgate explain CG0212")]
    Explain {
        /// A code such as CG0212.
        code: String,
    },
    /// Print the manifest's JSON Schema.
    #[command(
        after_help = "Example:\n  capgate schema > capgate.schema.json   # the same as schemas/capgate.schema.json"
    )]
    Schema,
    /// Run an MCP server under its compiled sandbox (bwrap, podman or runc), no daemon.
    #[command(after_help = "\
Examples:
  capgate exec out/ -- --extra-server-arg            # an out-dir from capgate compile
  capgate exec examples/time/capgate.json --params-file examples/time/capgate.params.json
  capgate exec out/ --target docker                  # podman with the docker flags
  capgate exec out/ --dry-run                        # print what would run (secrets redacted)
  capgate exec capgate.json --target oci             # runc, bundle built in a private dir (root)
  capgate exec out/ --launch-log /var/log/capgate/launches.jsonl   # one JSON line per launch

Use it as the server command of any MCP client: stdin, stdout and stderr pass
through. env:read/env:inject values come from capgate's own environment and
reach the server through `bwrap --args FD` or podman's `--env NAME`, never argv.
Started as root, the sandbox runs as --user (default 65534:65534). With egress
granted, squid runs as a child with the compiled allowlist. Under bwrap, limit:set
grants are enforced by capgate exec (RLIMIT_NOFILE; a cgroup via systemd-run --scope,
or one it creates as root; a sized /tmp); it refuses to start when it cannot
(--allow-unenforced-limits overrides). --launch-log appends one JSON line per launch.
Exit status: the server's, 128+signal, 125 for capgate's own failure, 127 when
bwrap, podman, runc or squid is missing.")]
    Exec(ExecArgs),
    /// Print the permission delta between two manifests, out-dirs or git revisions.
    #[command(after_help = DIFF_HELP)]
    Diff(DiffArgs),
    /// Import another tool's server description as a capgate.json, with a lossiness report.
    #[command(after_help = crate::import::HELP)]
    Import(crate::import::ImportArgs),
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
        /// The container is runc's (`runc delete --force`), not podman's.
        #[arg(long)]
        runc: bool,
        /// A directory to remove afterwards (runc's bundle, which holds passed env values).
        #[arg(long, value_name = "DIR")]
        remove: Option<PathBuf>,
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
    /// Compile only these targets (repeatable; default: bwrap, docker, egress; oci is opt-in).
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
pub struct ReviewArgs {
    /// Manifest file.
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,
    /// A review policy file (JSON) that raises, lowers or waives findings.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Report format (on stdout).
    #[arg(long, value_enum, default_value_t = ReviewFormat::Human)]
    pub format: ReviewFormat,
    /// Exit 1 when a finding at or above this severity remains (not waived).
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<FailOn>,
    /// A param value, NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// A JSON object of param values.
    #[arg(long = "params-file", value_name = "FILE")]
    pub params_file: Option<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReviewFormat {
    Human,
    Json,
    Sarif,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOn {
    Low,
    Medium,
    High,
    Critical,
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
    /// Append one JSON line (capgate.launch/1) per launch to FILE, or write it
    /// to descriptor N with `fd:N`: key, artifact digests, argv, start, end,
    /// exit status; names of passed variables, never their values.
    #[arg(long, value_name = "FILE|fd:N")]
    pub launch_log: Option<String>,
    /// Start even when a resource limit the launcher must enforce (bwrap:
    /// memory, pids, cpu, tmpfs) cannot be enforced on this host.
    #[arg(long)]
    pub allow_unenforced_limits: bool,
    /// Extra arguments appended to the server command.
    #[arg(last = true)]
    pub extra: Vec<String>,
}

const DIFF_HELP: &str = "\
Each side is a manifest file, an out-dir of `capgate compile` (its policy.json
and index.json), or git:REV:PATH (the manifest as committed at REV, read with
`git show REV:PATH` in the current directory; a capgate.params.json beside it
at that revision supplies its params).

Examples:
  capgate diff old/capgate.json capgate.json
  capgate diff git:origin/main:capgate.json capgate.json --format markdown > comment.md
  capgate diff git:HEAD~1:servers/fs/capgate.json git:HEAD:servers/fs/capgate.json --fail-on widen
  capgate diff golden/ out/ --format json

Widening is judged on meaning: /data/** -> /** and api.x.com:443 -> *.x.com:443
are widened, a reordered or merged capability list is no change.
--param and --params-file apply to both sides (each side takes the params it
declares; a capgate.params.json beside a manifest is read first).
Exit status: 0, or 1 when --fail-on is hit or a manifest is rejected, 2 for
usage and I/O errors. See docs/diff.md.";

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The old side: MANIFEST, OUT_DIR or git:REV:PATH.
    #[arg(value_name = "OLD")]
    pub old: String,
    /// The new side: MANIFEST, OUT_DIR or git:REV:PATH.
    #[arg(value_name = "NEW")]
    pub new: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    pub format: DiffFormat,
    /// Exit 1 when the delta widens the sandbox (widen) or changes anything (any).
    #[arg(long, value_enum, value_name = "WHAT")]
    pub fail_on: Option<DiffFailOn>,
    /// A param value, NAME=VALUE, for both sides (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// A JSON object of param values for both sides.
    #[arg(long = "params-file", value_name = "FILE")]
    pub params_file: Option<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffFormat {
    Human,
    Markdown,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffFailOn {
    /// Anything the sandbox may do now that it could not before.
    Widen,
    /// Any difference at all.
    Any,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecTarget {
    Bwrap,
    Docker,
    /// rootful runc with a bundle built from oci/config.json
    Oci,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetArg {
    Bwrap,
    Docker,
    Egress,
    /// OCI runtime-spec config.json for runc (opt-in: not a default target)
    Oci,
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
