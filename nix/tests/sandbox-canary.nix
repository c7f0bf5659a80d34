# A derivation that must FAIL to build: its builder reads the manifest at a host path outside
# the store (`hostManifest`, a plain string), which only a build without the sandbox can see.
# tools/nix-test.sh builds it to prove that `--option sandbox true` is in force.
{ capgate, hostManifest, system ? "x86_64-linux" }:
derivation {
  name = "capgate-sandbox-canary";
  inherit system;
  builder = "${builtins.path { path = capgate; name = "capgate"; }}";
  args = [ "compile" hostManifest "--out-dir" (builtins.placeholder "out") ];
}
