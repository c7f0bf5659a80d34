# An offline stand-in for nixpkgs, for `nix flake check` without network:
#   --override-input nixpkgs path:./nix/tests/fake-nixpkgs --no-write-lock-file
# It has just what capgate's flake and examples/nix-deployment evaluate. Its derivations
# evaluate (name, drvPath, outPath) but cannot be built: their builder does not exist. The
# capgate builds in the checks do not need it: they use the static binary from `capgate-bin`.
{
  description = "Offline stub of nixpkgs for capgate's Nix tests (evaluation only)";

  outputs = { self }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];

      lib = {
        genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
        licenses.asl20 = { spdxId = "Apache-2.0"; shortName = "asl20"; };
        platforms.unix = systems;
      };

      unbuildable = system: name: attrs: derivation ({
        inherit name system;
        builder = "/fake-nixpkgs/cannot-build-offline";
      } // attrs);

      pkgsFor = system:
        let
          pkgs = {
            inherit lib system;
            stdenv.hostPlatform.system = system;
            callPackage = fn: args:
              let f = if builtins.isFunction fn then fn else import fn;
              in f (builtins.intersectAttrs (builtins.functionArgs f) pkgs // args);
            rustPlatform.buildRustPackage = attrs:
              unbuildable system "${attrs.pname}-${attrs.version}" {
                inherit (attrs) src;
                cargoLock = attrs.cargoLock.lockFile;
              } // { inherit (attrs) pname version src meta; };
            writeShellScriptBin = name: text:
              unbuildable system name { inherit text; } // { inherit text; };
            # For examples/nix-deployment: a server package as a bare store path (no derivation
            # behind it), so its launcher, service and client config evaluate offline.
            mcp-server-time = {
              name = "mcp-server-time-2026.10.19";
              outPath = "/nix/store/00000000000000000000000000000000-mcp-server-time-2026.10.19";
            };
          };
        in
        pkgs;
    in
    {
      inherit lib;
      legacyPackages = lib.genAttrs systems pkgsFor;
    };
}
