"""Pinned capgate release binaries: version -> platform -> SRI integrity.

The release workflow rewrites this file. Until a version is listed here with an integrity for
your exec platform, point the toolchain at a local binary with CAPGATE_BIN (see docs/bazel.md).
"""

# The version capgate_register_toolchains() uses by default (the crate version of this checkout).
DEFAULT_VERSION = "0.1.0"

# Where release binaries are downloaded from; {version} and {platform} are substituted.
URL_TEMPLATE = "https://github.com/capgate/capgate/releases/download/v{version}/capgate-{version}-{platform}"

# version -> {platform: "sha384-..."}. Empty: no release has been published yet.
TOOL_VERSIONS = {
    "0.1.0": {},
}
