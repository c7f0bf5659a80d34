# checkGolden must fail, showing a unified diff, when the golden differs from what capgate
# compiles: the manifest and params of tests/cases/params against the golden of
# tests/cases/deny-all. tools/nix-test.sh expects this build to fail.
{ capgate, system ? "x86_64-linux" }:
let
  lib = import ../lib.nix { inherit capgate; };
  repo = import ../repo.nix { };
in
lib.checkGolden {
  inherit (repo.cases.params) manifest params;
  golden = repo.cases.deny-all.golden;
  inherit system;
  name = "golden-mismatch";
}
