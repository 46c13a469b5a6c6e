{
  description = "stand-in for nixpkgs in nix2aci's flake test (see default.nix)";
  outputs = { self }: {
    legacyPackages.x86_64-linux = import ./. { system = "x86_64-linux"; };
  };
}
