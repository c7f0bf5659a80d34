"""Analysis tests for capgate_sandbox: the action's shape, hermeticity and providers."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("//rules:defs.bzl", "CapgateSandboxInfo", "capgate_sandbox")

_ALL_FILES = [
    "bwrap/args0",
    "bwrap/argv.json",
    "docker/argv.json",
    "egress/hosts",
    "egress/nftables.nft",
    "egress/squid.conf",
    "index.json",
    "policy.json",
]

def _rel(target, f):
    # "<package>/<name>/<rel>" -> "<rel>"
    prefix = "%s/%s/" % (target.label.package, target.label.name)
    i = f.short_path.find(prefix)
    return f.short_path[i + len(prefix):] if i >= 0 else f.short_path

def _compile_actions(env):
    return [a for a in analysistest.target_actions(env) if a.mnemonic == "CapgateCompile"]

def _flag_values(argv, flag):
    return [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == flag]

def _check_common(env, target, expected_files, expected_targets):
    actions = _compile_actions(env)
    asserts.equals(env, 1, len(actions), "exactly one CapgateCompile action")
    if len(actions) != 1:
        return None
    action = actions[0]

    # Hermetic environment: exactly LC_ALL=C and TZ=UTC, in particular no PATH.
    asserts.equals(env, {"LC_ALL": "C", "TZ": "UTC"}, action.env)
    asserts.false(env, "PATH" in action.env, "PATH must not reach the action")

    # Declared outputs: the fixed file set under <name>/, nothing else.
    outs = sorted([_rel(target, f) for f in action.outputs.to_list()])
    asserts.equals(env, expected_files, outs)
    default = sorted([_rel(target, f) for f in target[DefaultInfo].files.to_list()])
    asserts.equals(env, expected_files, default)

    # argv: compile <manifest> --out-dir <dir of the outputs> --target ...
    argv = action.argv
    asserts.equals(env, "compile", argv[1])
    asserts.true(env, argv[2].endswith("/capgate.json"), "manifest is argv[2]: %s" % argv[2])
    asserts.true(env, "--quiet" in argv, "actions run quietly: %s" % argv)
    out_dirs = _flag_values(argv, "--out-dir")
    asserts.equals(env, 1, len(out_dirs))
    index = [f for f in action.outputs.to_list() if f.basename == "index.json"][0]
    asserts.equals(env, index.dirname, out_dirs[0] if out_dirs else None)
    asserts.equals(env, expected_targets, _flag_values(argv, "--target"))

    # Inputs: the manifest and the toolchain's binary.
    inputs = [f.basename for f in action.inputs.to_list()]
    asserts.true(env, "capgate.json" in inputs, "manifest is an input: %s" % inputs)
    asserts.true(env, "capgate" in inputs, "the toolchain binary is an input: %s" % inputs)

    # Providers.
    info = target[CapgateSandboxInfo]
    asserts.equals(env, expected_targets, info.targets)
    asserts.equals(env, "capgate.json", info.manifest.basename)
    asserts.equals(env, "index.json", _rel(target, info.index))
    asserts.equals(env, "policy.json", _rel(target, info.policy))
    asserts.equals(env, expected_files, sorted(info.files.keys()))
    groups = target[OutputGroupInfo]
    for t in ["bwrap", "docker", "egress", "oci"]:
        asserts.equals(env, t in expected_targets, hasattr(groups, t), "output group %s" % t)
    asserts.equals(env, ["index.json"], [_rel(target, f) for f in groups.index.to_list()])
    return action

def _default_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    action = _check_common(env, target, _ALL_FILES, ["bwrap", "docker", "egress"])
    if action:
        asserts.equals(env, ["DATA=/srv/mcp/data", "PKG=/opt/mcp/subject"], _flag_values(action.argv, "--param"))
        asserts.equals(env, [], _flag_values(action.argv, "--params-file"))
        asserts.false(env, "--strict" in action.argv)
    info = target[CapgateSandboxInfo]
    asserts.equals(env, "bwrap/argv.json", _rel(target, info.bwrap.argv))
    asserts.equals(env, "bwrap/args0", _rel(target, info.bwrap.args0))
    asserts.equals(env, "docker/argv.json", _rel(target, info.docker.argv))
    asserts.equals(env, "egress/hosts", _rel(target, info.egress.hosts))
    asserts.equals(env, "egress/nftables.nft", _rel(target, info.egress.nftables))
    asserts.equals(env, "egress/squid.conf", _rel(target, info.egress.squid))
    asserts.equals(env, {"DATA": "/srv/mcp/data", "PKG": "/opt/mcp/subject"}, info.params)
    groups = target[OutputGroupInfo]
    asserts.equals(env, ["bwrap/args0", "bwrap/argv.json"], sorted([_rel(target, f) for f in groups.bwrap.to_list()]))
    asserts.equals(env, ["egress/hosts", "egress/nftables.nft", "egress/squid.conf"], sorted([_rel(target, f) for f in groups.egress.to_list()]))
    return analysistest.end(env)

default_test = analysistest.make(_default_test_impl)

def _subset_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    action = _check_common(
        env,
        target,
        ["bwrap/args0", "bwrap/argv.json", "egress/hosts", "egress/nftables.nft", "egress/squid.conf", "index.json", "policy.json"],
        ["bwrap", "egress"],
    )
    if action:
        params_files = _flag_values(action.argv, "--params-file")
        asserts.equals(env, 1, len(params_files))
        asserts.true(env, params_files[0].endswith("/capgate.params.json") if params_files else False)
        asserts.true(env, "capgate.params.json" in [f.basename for f in action.inputs.to_list()], "params file is an input")
        asserts.false(env, "--strict" in action.argv)
        asserts.true(env, "--deny-warnings" in action.argv)
    info = target[CapgateSandboxInfo]
    asserts.equals(env, None, info.docker)
    asserts.true(env, info.params_file != None, "params_file in the provider")
    return analysistest.end(env)

subset_test = analysistest.make(_subset_test_impl)

def _bad_target_test_impl(ctx):
    env = analysistest.begin(ctx)
    asserts.expect_failure(env, "unknown target \"systemd\"")
    return analysistest.end(env)

bad_target_test = analysistest.make(_bad_target_test_impl, expect_failure = True)

def _empty_targets_test_impl(ctx):
    env = analysistest.begin(ctx)
    asserts.expect_failure(env, "targets` must name at least one")
    return analysistest.end(env)

empty_targets_test = analysistest.make(_empty_targets_test_impl, expect_failure = True)

def _golden_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)

    # The golden test runs a generated script: building it runs no tool.
    asserts.equals(env, [], [a.mnemonic for a in analysistest.target_actions(env) if a.mnemonic == "CapgateCompile"])
    runfiles = [f.short_path for f in target[DefaultInfo].default_runfiles.files.to_list()]
    for rel in _ALL_FILES:
        asserts.true(env, "rules/tests/subject/" + rel in runfiles, "built %s in runfiles" % rel)
        asserts.true(env, "rules/tests/testdata/golden/" + rel in runfiles, "golden %s in runfiles" % rel)
    return analysistest.end(env)

golden_test_shape_test = analysistest.make(_golden_test_impl)

def sandbox_test_suite(name):
    """Declares the subjects and the analysis tests.

    Args:
      name: name of the test_suite; the tests are named <name>_<case>.
    """
    capgate_sandbox(
        name = "subject",
        manifest = "testdata/capgate.json",
        params = {"PKG": "/opt/mcp/subject", "DATA": "/srv/mcp/data"},
        golden_dir = "testdata/golden",
    )
    capgate_sandbox(
        name = "subject_subset",
        manifest = "testdata/capgate.json",
        params_file = "testdata/capgate.params.json",
        targets = ["egress", "bwrap", "egress"],
        deny_warnings = True,
    )
    capgate_sandbox(
        name = "subject_bad_target",
        manifest = "testdata/capgate.json",
        targets = ["bwrap", "systemd"],
        tags = ["manual"],
    )
    capgate_sandbox(
        name = "subject_no_targets",
        manifest = "testdata/capgate.json",
        targets = [],
        tags = ["manual"],
    )

    default_test(name = name + "_default", target_under_test = ":subject", size = "small")
    subset_test(name = name + "_subset", target_under_test = ":subject_subset", size = "small")
    bad_target_test(name = name + "_bad_target", target_under_test = ":subject_bad_target", size = "small")
    empty_targets_test(name = name + "_no_targets", target_under_test = ":subject_no_targets", size = "small")
    golden_test_shape_test(name = name + "_golden_shape", target_under_test = ":subject_golden_test", size = "small")
    native.test_suite(
        name = name,
        tests = [
            name + "_default",
            name + "_subset",
            name + "_bad_target",
            name + "_no_targets",
            name + "_golden_shape",
        ],
    )
