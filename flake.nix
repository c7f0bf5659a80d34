{
  description = "capgate: deterministic, content-addressed sandbox configs for MCP servers";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    # A directory that may hold a prebuilt static `capgate` for x86_64-linux. The default holds
    # none, so capgate is built from source with nixpkgs. CI and offline builds pass one:
    #   --override-input capgate-bin path:<dir with the static binary>
    capgate-bin = {
      url = "path:./nix/capgate-bin";
      flake = false;
    };
  };

  outputs = { self, nixpkgs, capgate-bin }:
    let
      inherit (builtins) listToAttrs mapAttrs pathExists;

      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAllSystems = nixpkgs.lib.genAttrs systems;
      renameAttrs = f: set: listToAttrs (map (n: { name = f n; value = set.${n}; }) (builtins.attrNames set));

      # examples/<name>/ and tests/cases/<name>/: { manifest; params; golden; }
      repo = import ./nix/repo.nix { root = ./.; };

      # The builder for `system`: the prebuilt static binary when capgate-bin has one (x86_64-linux),
      # otherwise capgate built from source with nixpkgs.
      staticBin = "${capgate-bin}/capgate";
      capgateFor = system:
        if system == "x86_64-linux" && pathExists staticBin then staticBin
        else self.packages.${system}.capgate;
      libFor = system: import ./nix/lib.nix { capgate = capgateFor system; };

      exampleSandboxes = system:
        renameAttrs (n: "${n}-sandbox")
          ((libFor system).mkSandboxConfigs {
            manifests = mapAttrs (_: e: e.manifest) repo.examples;
            inherit system;
          });

      # Golden check: `capgate verify` against the committed out/ directory. Examples without
      # one are verified against the config Nix built (a second process must agree byte for byte).
      goldenChecks = system: prefix: entries: fallback:
        renameAttrs (n: "${prefix}-${n}")
          (mapAttrs
            (n: e: (libFor system).checkGolden {
              inherit (e) manifest params;
              targets = e.targets or null;
              inherit system;
              name = "${prefix}-${n}-golden";
              golden = if e.golden != null then e.golden else fallback n;
            })
            entries);
    in
    {
      # capgate.lib { capgate = <static binary | derivation>; } -> { mkSandboxConfig, ... }
      # (nix/lib.nix), or capgate.lib.mkSandboxConfig { ... } etc. directly with this flake's
      # own capgate for the given `system` (capgate-bin when it holds a binary, else
      # packages.<system>.capgate).
      lib = {
        __functor = _: import ./nix/lib.nix;
        mkSandboxConfig = args: (libFor args.system).mkSandboxConfig args;
        mkSandboxConfigs = args: (libFor args.system).mkSandboxConfigs args;
        checkGolden = args: (libFor args.system).checkGolden args;
        inherit ((import ./nix/lib.nix { capgate = throw "manifestKey runs no capgate"; })) manifestKey;
      };

      # The library with capgate built from your nixpkgs (crane style): (capgate.mkLib pkgs).mkSandboxConfig
      mkLib = pkgs: import ./nix/lib.nix { capgate = pkgs.callPackage ./nix/package.nix { }; };

      packages = forAllSystems (system:
        let capgate = nixpkgs.legacyPackages.${system}.callPackage ./nix/package.nix { };
        in { inherit capgate; default = capgate; } // exampleSandboxes system);

      checks = forAllSystems (system:
        goldenChecks system "case" repo.cases (n: throw "tests/cases/${n} has no out/ directory")
        // goldenChecks system "example" repo.examples (n: self.packages.${system}."${n}-sandbox"));

      overlays.default = final: prev: {
        capgate = final.callPackage ./nix/package.nix { };
      };
    };
}
