"""A stand-in for a deployment rule that consumes capgate artifacts by role (CapgateSandboxInfo)."""

load("@capgate//rules:defs.bzl", "CapgateSandboxInfo")

def _deploy_bundle_impl(ctx):
    info = ctx.attr.sandbox[CapgateSandboxInfo]
    lines = [
        "targets=" + ",".join(info.targets),
        "manifest=" + info.manifest.short_path,
        "key_file=" + info.index.short_path,
        "policy=" + info.policy.short_path,
    ]
    if info.bwrap:
        lines.append("bwrap.args0=" + info.bwrap.args0.short_path)
        lines.append("bwrap.argv=" + info.bwrap.argv.short_path)
    if info.docker:
        lines.append("docker.argv=" + info.docker.argv.short_path)
    if info.egress:
        lines.append("egress.squid=" + info.egress.squid.short_path)
        lines.append("egress.nftables=" + info.egress.nftables.short_path)
        lines.append("egress.hosts=" + info.egress.hosts.short_path)
    for f in ctx.files.extra:
        lines.append("extra=" + f.short_path)
    out = ctx.actions.declare_file(ctx.label.name + ".txt")
    ctx.actions.write(out, "\n".join(lines) + "\n")
    return [DefaultInfo(files = depset([out]))]

deploy_bundle = rule(
    implementation = _deploy_bundle_impl,
    attrs = {
        "sandbox": attr.label(mandatory = True, providers = [CapgateSandboxInfo]),
        "extra": attr.label_list(allow_files = True),
    },
)

def _same_file_test_impl(ctx):
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(script, """#!/usr/bin/env bash
diff -u --label expected --label actual '{expected}' '{actual}' && echo "bundle listing matches"
""".format(expected = ctx.file.expected.short_path, actual = ctx.file.actual.short_path), is_executable = True)
    return [DefaultInfo(executable = script, runfiles = ctx.runfiles(files = [ctx.file.expected, ctx.file.actual]))]

same_file_test = rule(
    implementation = _same_file_test_impl,
    attrs = {
        "expected": attr.label(allow_single_file = True, mandatory = True),
        "actual": attr.label(allow_single_file = True, mandatory = True),
    },
    test = True,
)
