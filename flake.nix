{
  description = "nix2aci: App Container Images (appc ACIs) built by Nix, with mkaci as the builder";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixpkgs-unstable";

  # Every output evaluates in pure mode: the system is always passed
  # explicitly, and nothing reads builtins.currentSystem, the environment or
  # host paths.
  outputs = { self, nixpkgs }:
    let
      # The systems this flake has packages for: those of ours nixpkgs has.
      systems = builtins.filter (s: nixpkgs.legacyPackages ? ${s}) [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: builtins.listToAttrs (map (system: { name = system; value = f system; }) systems);
      nix2aci = system: import ./. { pkgs = nixpkgs.legacyPackages.${system}; inherit system; };
    in
    {
      # mkACI, given a mkaci package (and the system, default mkaci's):
      #   mkACI = nix2aci.lib.mkACI { mkaci = nix2aci.packages.${system}.mkaci; };
      #   image = mkACI { packages = [ ... ]; exec = [ ... ]; };
      lib.mkACI = { mkaci, system ? mkaci.system }: import ./nix/mkACI.nix { inherit mkaci system; };
      # mkOCI, the same way: OCI image layouts from mkACI's arguments.
      lib.mkOCI = { mkaci, system ? mkaci.system }: import ./nix/mkOCI.nix { inherit mkaci system; };
      # mkLayer, the same way: declared layers for mkACI's `layers`.
      lib.mkLayer = { mkaci, system ? mkaci.system }: import ./nix/mkLayer.nix { inherit mkaci system; };
      # mkMultiArch, the same way: one result from images of several platforms.
      lib.mkMultiArch = { mkaci, system ? mkaci.system }: import ./nix/mkMultiArch.nix { inherit mkaci system; };

      # Adds `mkaci`, `mkACI`, `mkOCI`, `mkLayer` and `mkMultiArch` to a nixpkgs package set.
      overlays.default = final: prev: {
        mkaci = final.callPackage ./nix/mkaci.nix { };
        mkACI = import ./nix/mkACI.nix { mkaci = final.mkaci; system = final.stdenv.hostPlatform.system; };
        mkOCI = import ./nix/mkOCI.nix { mkaci = final.mkaci; system = final.stdenv.hostPlatform.system; };
        mkLayer = import ./nix/mkLayer.nix { mkaci = final.mkaci; system = final.stdenv.hostPlatform.system; };
        mkMultiArch = import ./nix/mkMultiArch.nix { mkaci = final.mkaci; system = final.stdenv.hostPlatform.system; };
      };

      # mkaci and the example images (busybox, busyboxThin, busyboxStatic, bash, ...):
      # everything default.nix gives but its non-packages.
      packages = forAllSystems (system:
        let all = nix2aci system; in
        builtins.removeAttrs all [ "mkACI" "mkOCI" "mkLayer" "mkMultiArch" "pkgs" "offline" ] // { default = all.mkaci; });
    };
}
