"""WORKSPACE macros for capgate's Bazel rules.

    load("@capgate//rules:repositories.bzl", "capgate_dependencies", "capgate_register_toolchains")
    capgate_dependencies()
    capgate_register_toolchains()

bzlmod users get the same repositories from //rules:extensions.bzl.
"""

load("@bazel_tools//tools/build_defs/repo:http.bzl", "http_archive")
load("@bazel_tools//tools/build_defs/repo:utils.bzl", "maybe")
load("//rules/private:toolchains_repo.bzl", "PLATFORMS", "capgate_platform_repo", "capgate_toolchains_repo")
load("//rules/private:versions.bzl", "DEFAULT_VERSION")

def capgate_dependencies():
    """Declares what capgate's rules need that Bazel does not ship.

    At run time nothing: the rules use only @bazel_tools and @platforms. bazel_skylib is declared
    (lazily, with `maybe`) for capgate's own analysis tests; an existing declaration wins.
    """
    maybe(
        http_archive,
        name = "bazel_skylib",
        sha256 = "1c531376ac7e5a180e0237938a2536de0c54d93f5c278634818e0efc952dd56c",
        urls = [
            "https://mirror.bazel.build/github.com/bazelbuild/bazel-skylib/releases/download/1.0.3/bazel-skylib-1.0.3.tar.gz",
            "https://github.com/bazelbuild/bazel-skylib/releases/download/1.0.3/bazel-skylib-1.0.3.tar.gz",
        ],
    )

def capgate_register_toolchains(name = "capgate_toolchains", version = DEFAULT_VERSION, register = True):
    """Creates the capgate toolchain repositories and registers them.

    Creates `@<name>_<platform>` for each platform (the binary: a pinned release download, or a
    symlink to the binary named by the CAPGATE_BIN repository environment variable, e.g.
    `--repo_env=CAPGATE_BIN=/abs/capgate`) and `@<name>` with the `toolchain()` targets.

    Args:
      name: base name of the repositories.
      version: the capgate release to download (ignored when CAPGATE_BIN is set).
      register: call register_toolchains("@<name>//:all"); the bzlmod extension passes False
        and MODULE.bazel registers instead.
    """
    for platform in PLATFORMS.keys():
        capgate_platform_repo(
            name = "%s_%s" % (name, platform),
            platform = platform,
            version = version,
        )
    capgate_toolchains_repo(
        name = name,
        user_repository_name = name,
    )
    if register:
        native.register_toolchains("@%s//:all" % name)
