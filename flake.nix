{
  description = "nix2aci: App Container Images (appc ACIs) built by Nix, with mkaci as the builder";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: builtins.listToAttrs (map (system: { name = system; value = f system; }) systems);
      isDerivation = v: builtins.isAttrs v && (v.type or null) == "derivation";
      nix2aci = system: import ./. { pkgs = nixpkgs.legacyPackages.${system}; inherit system; };
    in
    {
      # mkACI, given a mkaci package:
      #   image = nix2aci.lib.mkACI { mkaci = nix2aci.packages.${system}.mkaci; } { packages = [ ... ]; };
      lib.mkACI = { mkaci }: import ./nix/mkACI.nix { inherit mkaci; };

      # Adds `mkaci` and `mkACI` to a nixpkgs package set.
      overlays.default = final: prev: {
        mkaci = final.callPackage ./nix/mkaci.nix { };
        mkACI = import ./nix/mkACI.nix { mkaci = final.mkaci; };
      };

      # mkaci and the example images (busybox, busyboxThin, busyboxStatic, bash, ...).
      packages = forAllSystems (system:
        let all = nix2aci system; in
        builtins.removeAttrs all (builtins.filter (n: !isDerivation all.${n}) (builtins.attrNames all))
        // { default = all.mkaci; });
    };
}
