# capgate's Nix library. Pure Nix: no nixpkgs, no stdenv, no shell.
#
#   import ./lib.nix { capgate = <path to a static capgate binary | derivation with bin/capgate>; }
#
# Every derivation here runs the capgate binary itself as the builder, with the output path
# passed through `builtins.placeholder "out"`, so it builds in the Nix sandbox
# (`--option sandbox true`) with nothing but the binary and its inputs. A binary from outside
# the store must be statically linked: the sandbox has no /lib64/ld-linux. A capgate from
# nixpkgs (`mkLib pkgs` in flake.nix) needs not be, its closure comes along.
#
# See docs/nix.md for the API, examples and tests.
{ capgate }:
let
  inherit (builtins)
    attrNames concatMap dirOf filter fromJSON hasAttr hasContext hashString isAttrs isList
    isPath isString mapAttrs pathExists placeholder readFile typeOf;

  jcs = import ./jcs.nix;

  # A path, or a string naming one, as a store path string the builder can see. Derivations
  # and strings that already carry store context (`"${drv}/x"`, flake inputs) are used as
  # they are; a path literal or a plain string is copied into the store under `name`.
  toStore = what: name: x:
    if isAttrs x && x ? outPath then "${x}"
    else if isString x && hasContext x then x
    else if isPath x || isString x then "${builtins.path { path = x; inherit name; }}"
    else throw "capgate: `${what}` must be a path, a string or a derivation, not a ${typeOf x}";

  exe =
    if isAttrs capgate && capgate ? outPath then "${capgate}/bin/capgate"
    else if isPath capgate || isString capgate then toStore "capgate" "capgate" capgate
    else throw "capgate: `capgate` must be a path to a static capgate binary or a derivation with bin/capgate, not a ${typeOf capgate}";

  baseName = x: if isPath x then baseNameOf x else baseNameOf (toString x);

  # { NAME = value; } -> [ "--param" "NAME=value" ... ] in byte order of the names. A value
  # is a string, or anything with an outPath (a derivation: its store path, with its context,
  # so the config depends on it).
  paramArgs = params:
    if !isAttrs params then throw "capgate: `params` must be an attribute set of strings, not a ${typeOf params}"
    else concatMap
      (k:
        let v = params.${k}; in
        if isString v || (isAttrs v && v ? outPath) then [ "--param" "${k}=${v}" ]
        else throw "capgate: param ${k} must be a string or a derivation, not a ${typeOf v}")
      (attrNames params);

  targetArgs = targets:
    if targets == null then [ ]
    else if isList targets && targets != [ ] then concatMap (t: [ "--target" t ]) targets
    else throw "capgate: `targets` must be null (all default targets) or a non-empty list such as [ \"bwrap\" \"egress\" ]";

  # The params in a capgate.params.json (a JSON object of strings).
  readParamsFile = file:
    let v = fromJSON (readFile file); in
    if isAttrs v then v else throw "capgate: ${toString file} must hold a JSON object of strings";

  mkSandboxConfig = { manifest, system, name ? "capgate-sandbox", params ? { }, targets ? null }:
    derivation {
      inherit name system;
      builder = exe;
      args = [ "compile" (toStore "manifest" (baseName manifest) manifest) "--out-dir" (placeholder "out") ]
        ++ targetArgs targets ++ paramArgs params;
      preferLocalBuild = true;
      allowSubstitutes = false;
    };

  mkSandboxConfigs = { manifests, system, params ? { } }:
    let
      unknown = filter (n: !hasAttr n manifests) (attrNames params);
      beside = m: let f = dirOf m + "/capgate.params.json"; in
        if isPath m && pathExists f then readParamsFile f else { };
    in
    if !isAttrs manifests then throw "capgate: `manifests` must be an attribute set name -> manifest path"
    else if unknown != [ ] then throw "capgate: `params` names ${toString unknown}, which `manifests` does not"
    else mapAttrs
      (n: m: mkSandboxConfig {
        manifest = m;
        inherit system;
        name = "${n}-sandbox";
        params = beside m // (params.${n} or { });
      })
      manifests;

  checkGolden = { manifest, golden, system, name ? "capgate-golden", params ? { }, targets ? null }:
    derivation {
      inherit name system;
      builder = exe;
      args = [
        "verify"
        (toStore "manifest" (baseName manifest) manifest)
        "--golden-dir"
        (toStore "golden" (baseName golden) golden)
        "--stamp"
        (placeholder "out")
      ] ++ targetArgs targets ++ paramArgs params;
      preferLocalBuild = true;
      allowSubstitutes = false;
    };

  # sha256 (hex) of the RFC 8785 (JCS) form of the manifest file as written: evaluated
  # without building anything. Not `capgate key`: that hashes the *normalized* manifest
  # together with the capgate version, targets, options and params (docs/key.md). Limits of
  # the pure-Nix JCS are in jcs.nix (non-integer numbers that 6 digits cannot represent and
  # U+0000 make it throw).
  manifestKey = manifest: hashString "sha256" (jcs.ofText (readFile manifest));
in
{
  inherit mkSandboxConfig mkSandboxConfigs checkGolden manifestKey;
}
