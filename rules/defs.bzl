"""Public API of capgate's Bazel rules.

    load("@capgate//rules:defs.bzl", "capgate_sandbox")

    capgate_sandbox(
        name = "sandbox",
        manifest = "capgate.json",
        params = {"PKG": "/opt/foo"},             # optional
        targets = ["bwrap", "docker", "egress"],  # optional, default these three; "oci" is opt-in
        golden_dir = "golden",                    # optional: :sandbox.update, :sandbox_golden_test
    )

Everything here is re-exported from //rules/private, which may change without notice.
See docs/bazel.md.
"""

load("//rules/private:providers.bzl", _CapgateSandboxInfo = "CapgateSandboxInfo")
load("//rules/private:sandbox.bzl", _capgate_sandbox = "capgate_sandbox")
load(
    "//rules/private:toolchain.bzl",
    _CapgateInfo = "CapgateInfo",
    _capgate_toolchain = "capgate_toolchain",
)

capgate_sandbox = _capgate_sandbox
capgate_toolchain = _capgate_toolchain
CapgateSandboxInfo = _CapgateSandboxInfo
CapgateInfo = _CapgateInfo
