# Pure tests of nix/lib.nix, nix/jcs.nix, nix/repo.nix and the flake's outputs: no build,
# no nixpkgs, no network.
#
#   nix-instantiate --eval --strict --json nix/tests/eval.nix
#   -> {"failed":[],"passed":N}     (each failure: {"actual":…,"expected":…,"name":…})
#
# The expected JCS digests of nix/tests/jcs/*.json were computed with an independent JCS
# (JavaScript: keys sorted with Array.prototype.sort, i.e. by UTF-16 code units, and
# JSON.stringify for strings and numbers, which is what RFC 8785 prescribes), then sha256sum.
let
  inherit (builtins) attrNames deepSeq elemAt filter hashString length placeholder readFile sort tryEval;

  fakeStore = "/nix/store/00000000000000000000000000000000";
  capgateDrv = { outPath = "${fakeStore}-capgate-0.1.0"; };
  lib = import ../lib.nix { capgate = capgateDrv; };
  libPath = import ../lib.nix { capgate = ./fixtures/fake-capgate; };
  jcs = import ../jcs.nix;
  repo = import ../repo.nix { };

  # The store path `nix-build` gives a path literal: what the derivations must name.
  store = p: "${p}";
  manifest = ./fixtures/with-params/server.json;
  out = placeholder "out";

  eq = name: actual: expected: { inherit name actual expected; ok = actual == expected; };
  throws = name: expr:
    let r = tryEval (deepSeq expr expr); in
    { inherit name; ok = !r.success; actual = if r.success then expr else "an error"; expected = "an error"; };

  basic = lib.mkSandboxConfig { inherit manifest; system = "x86_64-linux"; };
  full = lib.mkSandboxConfig {
    inherit manifest;
    system = "aarch64-linux";
    name = "full-sandbox";
    targets = [ "bwrap" "egress" ];
    params = { DATA = "/srv/mcp/data"; A_FIRST = "x=y z"; SERVER = capgateDrv; };
  };
  configs = lib.mkSandboxConfigs {
    manifests = { fx = manifest; bare = ./jcs/manifest-a.json; over = manifest; };
    system = "x86_64-linux";
    params = { over = { DATA = "/srv/mcp/other"; }; };
  };
  golden = lib.checkGolden {
    inherit manifest;
    golden = ./fixtures/with-params;
    system = "x86_64-linux";
    params = { DATA = "/srv/mcp/data"; };
  };
  goldenDrv = lib.checkGolden { inherit manifest; golden = basic; system = "x86_64-linux"; name = "g"; };

  # The flake's outputs, called with the stub nixpkgs and a capgate-bin with no binary.
  fakeNixpkgs = (import ./fake-nixpkgs/flake.nix).outputs { self = fakeNixpkgs; };
  flake = (import ../../flake.nix).outputs {
    self = flake;
    nixpkgs = fakeNixpkgs;
    capgate-bin = { outPath = toString ../capgate-bin; };
  };
  stubPkgs = fakeNixpkgs.legacyPackages.x86_64-linux;

  key = f: lib.manifestKey f;

  results = [
    # mkSandboxConfig: the builder is capgate itself, $out through the placeholder, no shell.
    (eq "mkSandboxConfig: builder is bin/capgate of a derivation" basic.builder "${fakeStore}-capgate-0.1.0/bin/capgate")
    (eq "mkSandboxConfig: args" basic.args [ "compile" (store manifest) "--out-dir" out ])
    (eq "mkSandboxConfig: default name" basic.name "capgate-sandbox")
    (eq "mkSandboxConfig: system" basic.system "x86_64-linux")
    (eq "mkSandboxConfig: is a derivation" basic.type "derivation")
    (eq "mkSandboxConfig: no substitution" [ basic.preferLocalBuild basic.allowSubstitutes ] [ true false ])
    (eq "mkSandboxConfig: drvPath evaluates" (builtins.isString basic.drvPath) true)
    (eq "mkSandboxConfig: only capgate's own attributes"
      (attrNames (removeAttrs basic [ "all" "drvAttrs" "drvPath" "out" "outPath" "outputName" "type" ]))
      [ "allowSubstitutes" "args" "builder" "name" "preferLocalBuild" "system" ])
    (eq "mkSandboxConfig: targets and params (byte order, derivations as store paths)" full.args [
      "compile" (store manifest) "--out-dir" out
      "--target" "bwrap" "--target" "egress"
      "--param" "A_FIRST=x=y z" "--param" "DATA=/srv/mcp/data" "--param" "SERVER=${fakeStore}-capgate-0.1.0"
    ])
    (eq "mkSandboxConfig: name and system" [ full.name full.system ] [ "full-sandbox" "aarch64-linux" ])
    (eq "mkSandboxConfig: a path as capgate is copied into the store as `capgate`"
      (builtins.match "/nix/store/[0-9a-z]{32}-capgate" (libPath.mkSandboxConfig { inherit manifest; system = "x86_64-linux"; }).builder) [ ])
    (eq "mkSandboxConfig: a string manifest with store context is used as it is"
      (elemAt (lib.mkSandboxConfig { manifest = "${basic}/policy.json"; system = "x86_64-linux"; }).args 1) "${basic}/policy.json")
    (throws "mkSandboxConfig: targets = [] is an error" (lib.mkSandboxConfig { inherit manifest; system = "x86_64-linux"; targets = [ ]; }).args)
    (throws "mkSandboxConfig: targets must be a list" (lib.mkSandboxConfig { inherit manifest; system = "x86_64-linux"; targets = "bwrap"; }).args)
    (throws "mkSandboxConfig: a param must be a string" (lib.mkSandboxConfig { inherit manifest; system = "x86_64-linux"; params.N = 1; }).args)
    (throws "mkSandboxConfig: params must be an attrset" (lib.mkSandboxConfig { inherit manifest; system = "x86_64-linux"; params = [ ]; }).args)
    (throws "mkSandboxConfig: manifest must be a path" (lib.mkSandboxConfig { manifest = 1; system = "x86_64-linux"; }).args)
    (throws "lib: capgate must be a path or a derivation"
      ((import ../lib.nix { capgate = 1; }).mkSandboxConfig { inherit manifest; system = "x86_64-linux"; }).builder)

    # mkSandboxConfigs: one derivation per name; params from capgate.params.json beside the
    # manifest (like `capgate compile --store`), then params.<name> on top.
    (eq "mkSandboxConfigs: names" (attrNames configs) [ "bare" "fx" "over" ])
    (eq "mkSandboxConfigs: derivation names" (map (n: configs.${n}.name) (attrNames configs)) [ "bare-sandbox" "fx-sandbox" "over-sandbox" ])
    (eq "mkSandboxConfigs: params from capgate.params.json beside the manifest" configs.fx.args
      [ "compile" (store manifest) "--out-dir" out "--param" "DATA=/srv/mcp/key-fixture" ])
    (eq "mkSandboxConfigs: no params file, no params" configs.bare.args
      [ "compile" (store ./jcs/manifest-a.json) "--out-dir" out ])
    (eq "mkSandboxConfigs: params.<name> wins over the file" configs.over.args
      [ "compile" (store manifest) "--out-dir" out "--param" "DATA=/srv/mcp/other" ])
    (throws "mkSandboxConfigs: params for an unknown name is an error"
      (lib.mkSandboxConfigs { manifests = { a = manifest; }; system = "x86_64-linux"; params.b = { }; }))

    # checkGolden: `capgate verify` writes the key to $out (--stamp) or fails with a diff.
    (eq "checkGolden: args" golden.args [
      "verify" (store manifest) "--golden-dir" (store ./fixtures/with-params) "--stamp" out
      "--param" "DATA=/srv/mcp/data"
    ])
    (eq "checkGolden: default name" golden.name "capgate-golden")
    (eq "checkGolden: builder" golden.builder basic.builder)
    (eq "checkGolden: a derivation as golden" (elemAt goldenDrv.args 3) basic.outPath)
    (eq "checkGolden: drvPath evaluates" (builtins.isString golden.drvPath) true)

    # manifestKey = sha256(JCS(manifest as written)), checked against an independent JCS.
    (eq "manifestKey: key order and whitespace do not matter" (key ./jcs/manifest-a.json) (key ./jcs/manifest-b.json))
    (eq "manifestKey: known answer (manifest)" (key ./jcs/manifest-a.json) "474efe718c3be1741b6364278335d2d9ea2b81fa991e19c114533e8c29969b70")
    (eq "manifestKey: known answer (examples/quickstart)" (key ../../examples/quickstart/capgate.json) "d800a4b7960e6b97a4792ccc1c02c5b693fba5a72a9f706112efb32488727cb1")
    (eq "manifestKey: strings, escapes, UTF-16 key order" (key ./jcs/strings.json) "891d1aadf9cf15933258f3eb6142774acd665cf35f6afce772d55a39f19fb477")
    (eq "manifestKey: numbers" (key ./jcs/numbers.json) "e526fa8659aa3435873e84dd90c03d786008b247dd6cc193a215e4d1e9f06a82")
    (eq "manifestKey: is sha256 of the JCS text" (key ./jcs/numbers.json) (hashString "sha256" (jcs.ofText (readFile ./jcs/numbers.json))))
    (eq "jcs: numbers" (jcs.ofText (readFile ./jcs/numbers.json))
      ''{"numbers":[0,0,1,-1,9007199254740992,-9007199254740992,1e+30,4.5,0.002,1e-27,1e-7,0.000001,1e+21,100000000000000000000,100,0.1,-0.000025,123456,1.5,1.23456e+22,5e-7]}'')
    (eq "jcs: \\b and \\f short escapes, / and U+2028 literal" (jcs.ofText ''"\b\f\/\u2028\u001f\"\\"'') "\"\\b\\f/${builtins.fromJSON ''"\u2028"''}\\u001f\\\"\\\\\"")
    (eq "jcs: keys by UTF-16 code units" (jcs.ofText ''{"\uffff":1,"\ud83d\ude00":2,"\ud7ff":3,"\ue000":4,"z":5}'')
      (builtins.fromJSON ''"{\"z\":5,\"\ud7ff\":3,\"\ud83d\ude00\":2,\"\ue000\":4,\"\uffff\":1}"''))
    (eq "jcs: literals and nesting" (jcs.ofText ''[null,true,false,{"b":[],"a":{}},-0,-0.0]'') ''[null,true,false,{"a":{},"b":[]},0,0]'')
    (throws "manifestKey: a float 6 digits cannot represent is an error" (key ./jcs/float-inexact.json))
    (throws "manifestKey: an integer above 2^53 that is not a double is an error" (key ./jcs/int-above-2pow53.json))
    (throws "manifestKey: U+0000 is an error" (key ./jcs/nul.json))
    (eq "manifestKey: an escaped backslash before u0000 is not U+0000" (jcs.ofText ''"a\\u0000b"'') ''"a\\u0000b"'')

    # repo.nix: what the flake and nix/tests/build.nix build.
    (eq "repo: examples/quickstart has no params and its golden out/" repo.examples.quickstart
      { manifest = ../../examples/quickstart/capgate.json; params = { }; golden = ../../examples/quickstart/out; targets = null; })
    (eq "repo: tests/cases/oci-binds opts in to every target" repo.cases.oci-binds.targets [ "bwrap" "docker" "egress" "oci" ])
    (eq "repo: every example has a golden" (filter (n: repo.examples.${n}.golden == null) (attrNames repo.examples)) [ ])
    (eq "repo: tests/cases/params reads capgate.params.json" repo.cases.params.params.PKG "/opt/mcp/server-demo")
    (eq "repo: tests/cases/params has its golden out/" repo.cases.params.golden ../../tests/cases/params/out)
    (eq "repo: every case has a golden" (filter (n: repo.cases.${n}.golden == null) (attrNames repo.cases)) [ ])
    (eq "repo: examples/compat and examples/nix-deployment are not examples"
      [ (repo.examples ? compat) (repo.examples ? nix-deployment) ] [ false false ])

    # flake.nix outputs (called directly, stub nixpkgs, capgate-bin without a binary).
    (eq "flake: lib is the function of nix/lib.nix"
      ((flake.lib { capgate = capgateDrv; }).mkSandboxConfig { inherit manifest; system = "x86_64-linux"; }).drvPath basic.drvPath)
    (eq "flake: lib.mkSandboxConfig uses packages.<system>.capgate without capgate-bin"
      (flake.lib.mkSandboxConfig { inherit manifest; system = "x86_64-linux"; }).builder "${flake.packages.x86_64-linux.capgate}/bin/capgate")
    (eq "flake: lib.manifestKey" (flake.lib.manifestKey ./jcs/manifest-b.json) (key ./jcs/manifest-a.json))
    (eq "flake: mkLib pkgs builds with pkgs' capgate"
      ((flake.mkLib stubPkgs).mkSandboxConfig { inherit manifest; system = "x86_64-linux"; }).builder
      "${flake.packages.x86_64-linux.capgate}/bin/capgate")
    (eq "flake: packages.<system>.capgate is capgate-<version>" flake.packages.x86_64-linux.capgate.name "capgate-0.1.0")
    (eq "flake: packages.capgate's source holds only what cargo reads"
      (sort builtins.lessThan (attrNames (builtins.readDir flake.packages.x86_64-linux.capgate.src)))
      [ "Cargo.lock" "Cargo.toml" "benches" "docs" "schemas" "src" ])
    (eq "flake: packages.capgate's docs/ holds only errors/" (attrNames (builtins.readDir "${flake.packages.x86_64-linux.capgate.src}/docs")) [ "errors" ])
    (eq "flake: a <example>-sandbox package per example"
      (filter (n: !(flake.packages.x86_64-linux ? "${n}-sandbox")) (attrNames repo.examples)) [ ])
    (eq "flake: example sandboxes take the params beside the manifest"
      (flake.packages.x86_64-linux.time-sandbox.args == (lib.mkSandboxConfig {
        manifest = ../../examples/time/capgate.json; system = "x86_64-linux"; params = repo.examples.time.params;
      }).args) true)
    (eq "flake: a golden check per case and per example"
      (length (attrNames flake.checks.x86_64-linux)) (length (attrNames repo.cases) + length (attrNames repo.examples)))
    (eq "flake: case checks verify against out/" (elemAt flake.checks.x86_64-linux.case-params.args 3) (store ../../tests/cases/params/out))
    (eq "flake: checks for every system" (attrNames flake.checks) [ "aarch64-darwin" "aarch64-linux" "x86_64-darwin" "x86_64-linux" ])
    (eq "flake: overlays.default adds capgate" ((flake.overlays.default stubPkgs stubPkgs).capgate.name) "capgate-0.1.0")
  ];
in
{
  passed = length (filter (r: r.ok) results);
  failed = map (r: { inherit (r) name actual expected; }) (filter (r: !r.ok) results);
}
