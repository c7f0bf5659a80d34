"""The capgate toolchain: the rule that wraps one capgate binary, and its provider."""

# The one toolchain type. A Label (not a string), so it resolves to capgate's own repository
# whatever name the user gave it, in WORKSPACE and in bzlmod.
TOOLCHAIN_TYPE = Label("//rules:toolchain_type")

# The same as a string, for rule(toolchains = [...]): Bazel 4.2.3 accepts only strings there.
# str() of a Label is "//rules:toolchain_type" in the main repository on Bazel < 7, hence "@".
TOOLCHAIN_TYPE_STR = str(TOOLCHAIN_TYPE) if str(TOOLCHAIN_TYPE).startswith("@") else "@" + str(TOOLCHAIN_TYPE)

CapgateInfo = provider(
    doc = "The capgate binary a toolchain supplies.",
    fields = {
        "binary": "File: the capgate executable.",
        "files_to_run": "FilesToRunProvider: pass as `executable` to ctx.actions.run.",
        "version": "string: what `capgate --version` printed (or the pinned release version).",
    },
)

def _capgate_toolchain_impl(ctx):
    binary = ctx.executable.capgate
    default = DefaultInfo(
        files = depset([binary]),
        runfiles = ctx.runfiles(files = [binary]),
    )
    template_variables = platform_common.TemplateVariableInfo({
        "CAPGATE_BIN": binary.path,
    })
    capgate = CapgateInfo(
        binary = binary,
        files_to_run = ctx.attr.capgate[DefaultInfo].files_to_run,
        version = ctx.attr.version,
    )
    toolchain = platform_common.ToolchainInfo(
        capgate = capgate,
        default = default,
        template_variables = template_variables,
    )
    return [default, toolchain, template_variables]

capgate_toolchain = rule(
    implementation = _capgate_toolchain_impl,
    doc = """Defines a capgate toolchain from one capgate binary.

Used by the repositories that `capgate_register_toolchains()` creates; declare your own only to
bring a binary from elsewhere, then `register_toolchains()` a `toolchain()` target that points
at it with `toolchain_type = "@capgate//rules:toolchain_type"`.
""",
    attrs = {
        "capgate": attr.label(
            doc = "The capgate executable (a static binary is best: it runs in any sandbox).",
            mandatory = True,
            executable = True,
            allow_single_file = True,
            cfg = "exec",
        ),
        "version": attr.string(
            doc = "The binary's version, for providers and messages.",
            default = "unknown",
        ),
    },
)

def _resolved_toolchain_impl(ctx):
    toolchain = ctx.toolchains[TOOLCHAIN_TYPE]
    return [toolchain, toolchain.default, toolchain.template_variables]

# Re-exports whichever capgate toolchain resolution selected, so that genrules and tests can use
# "the" capgate binary as `$(CAPGATE_BIN)` (workaround for bazelbuild/bazel#14009).
resolved_toolchain = rule(
    implementation = _resolved_toolchain_impl,
    doc = "Exposes the resolved capgate toolchain (DefaultInfo, TemplateVariableInfo `CAPGATE_BIN`).",
    toolchains = [TOOLCHAIN_TYPE_STR],
)
