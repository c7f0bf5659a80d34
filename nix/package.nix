# capgate built from source with nixpkgs' rustPlatform (flake: packages.<system>.capgate,
# overlays.default, mkLib). Needs nixpkgs and crates.io, so it is not built in the offline
# tests; they evaluate it against nix/tests/fake-nixpkgs. `pkgsStatic.capgate` (through the
# overlay) gives a static binary.
{ lib, rustPlatform }:
let
  cargo = (builtins.fromTOML (builtins.readFile ../Cargo.toml)).package;
  root = toString ../.;
  # What `cargo build` reads: the manifest, the lock file, the sources, the files they
  # include_str! (docs/errors, schemas) and the declared benches. Nothing else, so editing
  # docs, tests, examples or Nix files does not rebuild capgate.
  keep = [ "Cargo.toml" "Cargo.lock" "src" "docs" "docs/errors" "schemas" "benches" ];
  src = builtins.path {
    name = "capgate-source";
    path = ../.;
    filter = path: _type:
      let
        rel = builtins.substring (builtins.stringLength root + 1) (-1) path;
        under = k: builtins.substring 0 (builtins.stringLength k + 1) rel == k + "/";
      in
      builtins.any (k: rel == k || (k != "docs" && under k)) keep;
  };
in
rustPlatform.buildRustPackage {
  pname = cargo.name;
  inherit (cargo) version;
  inherit src;
  cargoLock.lockFile = ../Cargo.lock;
  # The test suites run in CI with cargo (some need bubblewrap, squid and nft); the flake's
  # checks verify every golden with this binary.
  doCheck = false;
  meta = {
    inherit (cargo) description;
    license = lib.licenses.asl20;
    mainProgram = "capgate";
    platforms = lib.platforms.unix;
  };
}
