# An MCP server deployment with capgate: the server's sandbox config is a flake output, built
# from mcp-server-time/capgate.json, and everything that starts the server runs
#   capgate exec <sandbox config> -- <server>/bin/mcp-server-time
# Outputs: packages.<system>.{mcp-server-time-sandbox, mcp-server-time (launcher), default},
# apps.<system>.default, nixosModules.default (a socket-activated systemd service),
# mcpServers.<system> (an MCP client's "mcpServers" entry) and checks.<system>.sandbox.
# See docs/nix.md.
{
  description = "Example: an MCP server deployment whose sandbox config comes from capgate";

  inputs = {
    # In your own flake: capgate.url = "github:<owner>/capgate" (any flake reference works).
    # Here it is the repository this example lives in. Nix 2.8 resolves this relative path
    # only when the example is taken from the repository, as in
    #   nix build '.?dir=examples/nix-deployment'      (at the root of a git checkout)
    # tools/nix-test.sh passes --override-input capgate path:<repository copy> instead.
    capgate.url = "path:../..";
    nixpkgs.follows = "capgate/nixpkgs";
  };

  outputs = { self, capgate, nixpkgs }:
    let
      inherit (builtins) concatStringsSep head tail;
      name = "mcp-server-time";
      systems = [ "x86_64-linux" "aarch64-linux" ]; # bubblewrap is Linux only
      forAllSystems = nixpkgs.lib.genAttrs systems;

      deployment = system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
          # The server's own package, here nixpkgs' mcp-server-time: put yours here (any
          # derivation with the program the argv below names).
          server = pkgs.mcp-server-time;
          # The sandbox config: exactly the files of `capgate compile`, built in the Nix sandbox
          # by the capgate binary itself (no stdenv, no shell). Its store path changes when the
          # manifest or capgate changes, and only then.
          sandbox = capgate.lib.mkSandboxConfig {
            manifest = ./mcp-server-time/capgate.json;
            inherit system;
            name = "${name}-sandbox";
          };
          # The command line that starts the server. The manifest has no `command`, so the
          # command comes from Nix, pinned to the server's store path. Every element is a store
          # path or a plain word, so it needs no shell quoting.
          argv = [
            "${capgate.packages.${system}.capgate}/bin/capgate"
            "exec"
            "${sandbox}"
            "--"
            "${server}/bin/mcp-server-time"
          ];
          launcher = pkgs.writeShellScriptBin name ''
            exec ${concatStringsSep " " argv} "$@"
          '';
        in
        { inherit sandbox argv launcher; };
    in
    {
      packages = forAllSystems (system:
        let d = deployment system; in
        {
          "${name}-sandbox" = d.sandbox;
          ${name} = d.launcher;
          default = d.launcher;
        });

      # `nix run`: speaks MCP on stdin/stdout, like the server itself.
      apps = forAllSystems (system: {
        default = { type = "app"; program = "${(deployment system).launcher}/bin/${name}"; };
      });

      # For an MCP client's configuration (`nix eval --json .#mcpServers.x86_64-linux`; build
      # `.#default` first so that the paths exist).
      mcpServers = forAllSystems (system:
        let d = deployment system; in
        { ${name} = { command = head d.argv; args = tail d.argv; }; });

      # NixOS: one sandboxed server per connection on /run/mcp/mcp-server-time.sock. The socket
      # is the server's stdin and stdout. capgate exec starts as root only to set up the
      # sandbox: the server runs as uid 65534 inside bubblewrap.
      nixosModules.default = { pkgs, ... }:
        let d = deployment pkgs.stdenv.hostPlatform.system; in
        {
          users.groups.mcp = { };
          systemd.sockets.${name} = {
            description = "MCP server ${name} (capgate sandbox)";
            wantedBy = [ "sockets.target" ];
            listenStreams = [ "/run/mcp/${name}.sock" ];
            socketConfig = {
              Accept = true;
              SocketMode = "0660";
              SocketGroup = "mcp";
            };
          };
          systemd.services."${name}@" = {
            description = "MCP server ${name} for one client, under capgate exec";
            serviceConfig = {
              ExecStart = concatStringsSep " " d.argv;
              StandardInput = "socket";
              StandardOutput = "socket";
              StandardError = "journal";
            };
          };
        };

      checks = forAllSystems (system: { sandbox = (deployment system).sandbox; });
    };
}
