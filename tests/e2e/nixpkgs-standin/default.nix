# A stand-in for nixpkgs, for testing the nixpkgs code paths of default.nix
# and flake.nix on a machine without nixpkgs. Its packages are those of the
# offline package set; `callPackage` and `rustPlatform.buildRustPackage` check
# what nix/mkaci.nix passes them (lock file, sources) and return the static
# mkaci. It is not used outside the tests.
#
# Two forms:
# - this directory, on NIX_PATH as <nixpkgs>: impure, it reads the host's
#   files through nix/offline.nix of the repository ($NIX2ACI_REPO, else the
#   one this file is in);
# - a copy made by `make_standin` (tests/e2e/lib.sh) that also holds nix/offline.nix,
#   Cargo.toml, the mkaci binary and copies of the host files offline.nix
#   reads (under host/): a flake that works in pure evaluation, with the same
#   store paths as the first form.
{ system ? builtins.currentSystem, ... }:
let
  selfContained = builtins.pathExists ./host;
  repo = let r = builtins.getEnv "NIX2ACI_REPO"; in if r != "" then /. + r else ../../..;
  offline =
    if selfContained then
      import ./nix/offline.nix {
        inherit system;
        hostRoot = ./host;
        mkaciBinary = ./mkaci;
        mkaciVersion = (builtins.fromTOML (builtins.readFile ./Cargo.toml)).package.version;
      }
    else import (repo + "/nix/offline.nix") { inherit system; };
  self = offline // {
    standIn = true;
    stdenv.hostPlatform.system = system;
    callPackage = fn: args:
      let f = if builtins.isFunction fn then fn else import fn; in
      f (builtins.intersectAttrs (builtins.functionArgs f) self // args);
    rustPlatform.buildRustPackage = a:
      assert builtins.pathExists a.cargoLock.lockFile;
      assert builtins.pathExists (a.src + "/Cargo.toml");
      assert builtins.pathExists (a.src + "/src/main.rs");
      assert !builtins.pathExists (a.src + "/target");
      assert a.pname == "mkaci";
      offline.mkaci // { inherit (a) src cargoLock; };
  };
in
self
