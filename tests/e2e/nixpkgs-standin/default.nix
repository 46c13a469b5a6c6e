# A stand-in for nixpkgs, for testing the nixpkgs code paths of default.nix
# and flake.nix on a machine without nixpkgs. Its packages are those of the
# offline package set; `callPackage` and `rustPlatform.buildRustPackage` check
# what nix/mkaci.nix passes them (lock file, sources) and return the static
# mkaci. It is not used outside the tests.
{ system ? builtins.currentSystem, ... }:
let
  repo = let r = builtins.getEnv "NIX2ACI_REPO"; in if r != "" then /. + r else ../../..;
  offline = import (repo + "/nix/offline.nix") { inherit system; };
  self = offline // {
    standIn = true;
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
