"""bzlmod extension for capgate: the same repositories as WORKSPACE's capgate_register_toolchains().

    capgate = use_extension("@capgate//rules:extensions.bzl", "capgate")
    capgate.toolchain(version = "0.1.0")   # optional
    use_repo(capgate, "capgate_toolchains")
    register_toolchains("@capgate_toolchains//:all")

capgate's own MODULE.bazel already does this, so a user's MODULE.bazel needs only
`bazel_dep(name = "capgate", version = ...)`. Not testable on Bazel 4.2.3 (no bzlmod); see
docs/bazel.md.
"""

load("//rules/private:versions.bzl", "DEFAULT_VERSION")
load(":repositories.bzl", "capgate_register_toolchains")

_DEFAULT_NAME = "capgate_toolchains"

_toolchain = tag_class(attrs = {
    "name": attr.string(doc = "Base name of the repositories (root module only).", default = _DEFAULT_NAME),
    "version": attr.string(doc = "capgate release to download (CAPGATE_BIN overrides it).", default = DEFAULT_VERSION),
})

def _capgate_extension_impl(module_ctx):
    versions = {}  # name -> version; modules are visited root first, so the root module wins
    for mod in module_ctx.modules:
        for toolchain in mod.tags.toolchain:
            if toolchain.name != _DEFAULT_NAME and not mod.is_root:
                fail("only the root module may set capgate.toolchain(name = ...)")
            if toolchain.name not in versions:
                versions[toolchain.name] = toolchain.version
    for name, version in versions.items():
        capgate_register_toolchains(name = name, version = version, register = False)

capgate = module_extension(
    implementation = _capgate_extension_impl,
    tag_classes = {"toolchain": _toolchain},
)
