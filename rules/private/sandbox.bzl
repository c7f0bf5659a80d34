"""capgate_sandbox: one CapgateCompile action per manifest, plus golden-file helpers."""

load(":golden.bzl", "capgate_golden_test", "capgate_update")
load(":providers.bzl", "CapgateSandboxInfo")
load(":toolchain.bzl", "TOOLCHAIN_TYPE", "TOOLCHAIN_TYPE_STR")

# The fixed file set of `capgate compile --out-dir` (DESIGN §13). Adding a target = one entry.
COMMON_FILES = ["index.json", "policy.json"]
TARGET_FILES = {
    "bwrap": ["bwrap/argv.json", "bwrap/args0"],
    "docker": ["docker/argv.json"],
    "egress": ["egress/hosts", "egress/nftables.nft", "egress/squid.conf"],
    "oci": ["oci/config.json"],
}
DEFAULT_TARGETS = ["bwrap", "docker", "egress"]

# What the action sees: nothing from the host environment (use_default_shell_env = False).
ACTION_ENV = {"LC_ALL": "C", "TZ": "UTC"}

# ctx.actions.run(toolchain = ...) exists from Bazel 6.0 (and 5.4); 4.2.3 rejects the keyword.
# config_common.toolchain_type appeared together with it, so it is the feature test.
_TOOLCHAIN_KWARGS = {"toolchain": TOOLCHAIN_TYPE} if hasattr(config_common, "toolchain_type") else {}

def _parent_dir(file):
    return file.dirname

def _targets(ctx):
    seen = {}
    for t in ctx.attr.targets:
        if t not in TARGET_FILES:
            fail("capgate_sandbox %s: unknown target %r; known targets: %s" % (
                ctx.label,
                t,
                ", ".join(sorted(TARGET_FILES.keys())),
            ))
        seen[t] = True
    if not seen:
        fail("capgate_sandbox %s: `targets` must name at least one of %s" % (
            ctx.label,
            ", ".join(sorted(TARGET_FILES.keys())),
        ))
    return sorted(seen.keys())

def _sandbox_impl(ctx):
    targets = _targets(ctx)
    for key in ctx.attr.params.keys():
        if not key or "=" in key:
            fail("capgate_sandbox %s: bad param name %r" % (ctx.label, key))

    relpaths = list(COMMON_FILES)
    for t in targets:
        relpaths.extend(TARGET_FILES[t])
    relpaths = sorted(relpaths)
    outs = {rel: ctx.actions.declare_file("%s/%s" % (ctx.label.name, rel)) for rel in relpaths}
    index = outs["index.json"]

    capgate = ctx.toolchains[TOOLCHAIN_TYPE].capgate

    args = ctx.actions.args()
    args.add("compile")
    args.add(ctx.file.manifest)

    # No "written ..." line per action in the build log.
    args.add("--quiet")

    # The out-dir is the directory of the declared files; capgate replaces it atomically.
    args.add("--out-dir")
    args.add_all([index], map_each = _parent_dir, expand_directories = False)
    for t in targets:
        args.add("--target", t)
    for key in sorted(ctx.attr.params.keys()):
        args.add("--param", "%s=%s" % (key, ctx.attr.params[key]))
    inputs = [ctx.file.manifest]
    if ctx.file.params_file:
        args.add("--params-file", ctx.file.params_file)
        inputs.append(ctx.file.params_file)
    if ctx.attr.strict:
        args.add("--strict")
    if ctx.attr.deny_warnings:
        args.add("--deny-warnings")

    outputs = [outs[rel] for rel in relpaths]
    ctx.actions.run(
        executable = capgate.files_to_run,
        arguments = [args],
        inputs = inputs,
        outputs = outputs,
        mnemonic = "CapgateCompile",
        # `%{label}` is printed literally by Bazel 4.2.3, hence plain % formatting.
        progress_message = "Compiling capgate sandbox %s" % ctx.label,
        env = ACTION_ENV,
        use_default_shell_env = False,
        execution_requirements = {
            "block-network": "1",
            "supports-path-mapping": "1",
        },
        **_TOOLCHAIN_KWARGS
    )

    files = depset(outputs)
    groups = {t: depset([outs[rel] for rel in TARGET_FILES[t]]) for t in targets}
    groups["index"] = depset([index])
    groups["policy"] = depset([outs["policy.json"]])

    return [
        DefaultInfo(files = files, runfiles = ctx.runfiles(files = outputs)),
        OutputGroupInfo(**groups),
        CapgateSandboxInfo(
            manifest = ctx.file.manifest,
            params_file = ctx.file.params_file,
            params = dict(ctx.attr.params),
            targets = targets,
            index = index,
            policy = outs["policy.json"],
            bwrap = struct(argv = outs.get("bwrap/argv.json"), args0 = outs.get("bwrap/args0")) if "bwrap" in targets else None,
            docker = struct(argv = outs.get("docker/argv.json")) if "docker" in targets else None,
            egress = struct(
                hosts = outs.get("egress/hosts"),
                nftables = outs.get("egress/nftables.nft"),
                squid = outs.get("egress/squid.conf"),
            ) if "egress" in targets else None,
            oci = struct(config = outs.get("oci/config.json")) if "oci" in targets else None,
            files = outs,
            version = capgate.version,
        ),
    ]

capgate_sandbox_rule = rule(
    implementation = _sandbox_impl,
    doc = "Compiles one capgate.json with `capgate compile --out-dir <name>/` (see capgate_sandbox).",
    attrs = {
        "manifest": attr.label(
            doc = "The capgate.json to compile.",
            mandatory = True,
            allow_single_file = [".json"],
        ),
        "params": attr.string_dict(
            doc = "Values for the manifest's ${NAME} placeholders, passed as --param NAME=VALUE.",
        ),
        "params_file": attr.label(
            doc = "A JSON object of param values, passed as --params-file (e.g. capgate.params.json).",
            allow_single_file = [".json"],
        ),
        "targets": attr.string_list(
            doc = "Targets to compile: any of bwrap, docker, egress (default all).",
            default = DEFAULT_TARGETS,
        ),
        "strict": attr.bool(
            doc = "Pass --strict: fail when a target cannot enforce a grant.",
            default = False,
        ),
        "deny_warnings": attr.bool(
            doc = "Pass --deny-warnings: treat lints as errors.",
            default = False,
        ),
    },
    provides = [CapgateSandboxInfo],
    toolchains = [TOOLCHAIN_TYPE_STR],
)

def _golden_dir(name, golden_dir):
    d = golden_dir
    for _ in range(len(d)):
        if not d.endswith("/"):
            break
        d = d[:-1]
    if d.startswith("./"):
        d = d[2:]
    parts = d.split("/")
    if not d or d.startswith("/") or "." in parts or ".." in parts or "" in parts:
        fail("capgate_sandbox %s: golden_dir must be a subdirectory of the package, like \"golden\"; got %r" % (name, golden_dir))
    return d

# Tags that make sense on helper targets too (as rules_oci and bazel-lib do).
_PROPAGATED_TAGS = ["no-remote", "no-remote-exec", "no-sandbox", "no-cache", "local", "requires-network"]

def capgate_sandbox(
        name,
        manifest,
        params = None,
        params_file = None,
        targets = None,
        golden_dir = None,
        strict = False,
        deny_warnings = False,
        **kwargs):
    """Compiles a capgate manifest into sandbox artifacts, as a build output.

    Creates `:<name>`, whose outputs are `<name>/index.json`, `<name>/policy.json` and the files
    of each target (`<name>/bwrap/argv.json`, `<name>/bwrap/args0`, `<name>/docker/argv.json`,
    `<name>/egress/{hosts,nftables.nft,squid.conf}`): exactly what
    `capgate compile <manifest> --out-dir <dir>` writes, byte for byte.

    With `golden_dir`, also creates `:<name>.update` (`bazel run` copies the artifacts into
    `<package>/<golden_dir>/`) and `:<name>_golden_test` (fails with a unified diff and the
    update command when the committed files differ or are missing).

    Args:
      name: target name; also the output directory's name.
      manifest: the capgate.json (label).
      params: dict of param values (`--param K=V`).
      params_file: a JSON params file (`--params-file`), e.g. "capgate.params.json".
      targets: list of targets, any of "bwrap", "docker", "egress", "oci" (default: the first
        three; oci is opt-in).
      golden_dir: directory in this package holding the committed artifacts.
      strict: pass --strict.
      deny_warnings: pass --deny-warnings.
      **kwargs: common attributes (visibility, tags, testonly, ...) for `:<name>`.
    """
    rule_kwargs = dict(kwargs)
    if targets != None:
        rule_kwargs["targets"] = targets
    capgate_sandbox_rule(
        name = name,
        manifest = manifest,
        params = params or {},
        params_file = params_file,
        strict = strict,
        deny_warnings = deny_warnings,
        **rule_kwargs
    )
    if golden_dir == None:
        return

    gd = _golden_dir(name, golden_dir)
    tags = kwargs.get("tags", [])
    helper_tags = [t for t in tags if t in _PROPAGATED_TAGS]
    visibility = kwargs.get("visibility")
    testonly = kwargs.get("testonly")
    capgate_update(
        name = name + ".update",
        sandbox = ":" + name,
        golden_dir = gd,
        tags = helper_tags + ["manual"],
        visibility = visibility,
        testonly = testonly,
    )
    capgate_golden_test(
        name = name + "_golden_test",
        sandbox = ":" + name,
        golden_dir = gd,
        # A glob, not labels the user writes: a missing file is a test failure with the update
        # hint, not an analysis error, and a new package works on the first `bazel run`.
        golden = native.glob([gd + "/**"], allow_empty = True),
        update_target = name + ".update",
        tags = tags,
        visibility = visibility,
        size = "small",
    )
