# The manifests this repository ships, found at evaluation time (pure Nix):
#   examples   examples/<name>/capgate.json
#   cases      tests/cases/<name>/capgate.json, with the golden artifacts in out/
# each as { manifest; params; golden; targets; }: params from the capgate.params.json beside the
# manifest (or {}), golden the committed out/ directory (or null).
# Used by flake.nix and nix/tests/build.nix, so both build exactly the same set.
{ root ? ../. }:
let
  inherit (builtins) attrNames filter fromJSON listToAttrs pathExists readDir readFile;

  entry = dir: {
    manifest = dir + "/capgate.json";
    params = if pathExists (dir + "/capgate.params.json") then fromJSON (readFile (dir + "/capgate.params.json")) else { };
    golden = if pathExists (dir + "/out") then dir + "/out" else null;
    # capgate.targets.json opts a case in to non-default targets (oci); null = the defaults.
    targets = if pathExists (dir + "/capgate.targets.json") then fromJSON (readFile (dir + "/capgate.targets.json")) else null;
  };

  scan = base:
    let
      entries = if pathExists base then readDir base else { };
      names = filter (n: entries.${n} == "directory" && pathExists (base + "/${n}/capgate.json")) (attrNames entries);
    in
    listToAttrs (map (n: { name = n; value = entry (base + "/${n}"); }) names);
in
{
  examples = scan (root + "/examples");
  cases = scan (root + "/tests/cases");
}
