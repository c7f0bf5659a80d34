# Every example and test case as a sandbox config, plus the golden check of every case,
# built with a given capgate binary and no nixpkgs:
#
#   nix-build nix/tests/build.nix --arg capgate "$PWD/target/x86_64-unknown-linux-gnu/release/capgate" \
#     --option sandbox true --option substituters '' [-A case-params] [--check]
#
# Attributes: example-<name>, case-<name> (mkSandboxConfig), golden-<case> (checkGolden
# against tests/cases/<case>/out), and narrow-quickstart-bwrap (targets = [ "bwrap" ]).
# tools/nix-test.sh compares each config's files with `capgate compile`'s, byte for byte.
{ capgate, system ? "x86_64-linux" }:
let
  inherit (builtins) attrNames listToAttrs map;
  lib = import ../lib.nix { inherit capgate; };
  repo = import ../repo.nix { };

  each = prefix: entries: f:
    listToAttrs (map (n: { name = "${prefix}-${n}"; value = f n entries.${n}; }) (attrNames entries));

  sandbox = prefix: n: e: lib.mkSandboxConfig {
    inherit (e) manifest params;
    targets = e.targets or null;
    inherit system;
    name = "${prefix}-${n}-sandbox";
  };
in
each "example" repo.examples (sandbox "example")
// each "case" repo.cases (sandbox "case")
// each "golden" repo.cases (n: e: lib.checkGolden {
  inherit (e) manifest params golden;
  targets = e.targets or null;
  inherit system;
  name = "case-${n}-golden";
})
// {
  narrow-quickstart-bwrap = lib.mkSandboxConfig {
    manifest = ../../examples/quickstart/capgate.json;
    inherit system;
    name = "quickstart-bwrap-sandbox";
    targets = [ "bwrap" ];
  };
}
