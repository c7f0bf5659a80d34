"""Providers of capgate_sandbox."""

CapgateSandboxInfo = provider(
    doc = """The artifacts of one capgate_sandbox, by role.

Consume it from other rules (an OCI image layer, a deployment bundle) with
`attr.label(providers = [CapgateSandboxInfo])`. Per-target fields are None when that target
was not compiled.""",
    fields = {
        "manifest": "File: the capgate.json that was compiled.",
        "params_file": "File or None: the params file passed with --params-file.",
        "params": "dict[string, string]: the params passed with --param.",
        "targets": "list[string]: the compiled targets, sorted (a subset of bwrap, docker, egress, oci).",
        "index": "File: index.json, the key file (capgate version, key, manifest sha256, every file's sha256).",
        "policy": "File: policy.json, the normalized policy.",
        "bwrap": "struct(argv, args0) or None: bwrap/argv.json and bwrap/args0.",
        "docker": "struct(argv) or None: docker/argv.json.",
        "egress": "struct(hosts, nftables, squid) or None: egress/hosts, egress/nftables.nft, egress/squid.conf.",
        "oci": "struct(config) or None: oci/config.json (opt-in target).",
        "files": "dict[string, File]: every artifact by its path in the out-dir (`bwrap/args0`, ...).",
        "version": "string: the version of the capgate binary that compiled it.",
    },
)
