# mkaci built from this repository with nixpkgs' rustPlatform.
#
#   pkgs.callPackage ./nix/mkaci.nix { }
#
# Only the crate's sources (Cargo.toml, Cargo.lock, src/, benches/) go into the build,
# so editing Nix files or docs does not rebuild mkaci. The dependencies are
# fetched from crates.io by the hashes in Cargo.lock.
{ rustPlatform }:
let
  cargoToml = builtins.fromTOML (builtins.readFile ../Cargo.toml);
  root = toString ../.;
  # Keeps Cargo.toml, Cargo.lock, build.rs and everything under src/ and
  # benches/ (Cargo refuses a manifest whose declared [[bench]] is missing).
  dirs = [ "src" "benches" ];
  keep = path: type:
    let rel = builtins.substring (builtins.stringLength root + 1) (-1) (toString path); in
    builtins.elem rel ([ "Cargo.toml" "Cargo.lock" "build.rs" ] ++ dirs)
    || builtins.any (d: builtins.substring 0 (builtins.stringLength d + 1) rel == "${d}/") dirs;
in
rustPlatform.buildRustPackage {
  pname = cargoToml.package.name;
  version = cargoToml.package.version;
  src = builtins.path { name = "mkaci-source"; path = ../.; filter = keep; };
  cargoLock.lockFile = ../Cargo.lock;
  # The unit tests; the end-to-end tests drive nix-build, actool and bwrap
  # and run from ./scripts/test instead.
  cargoTestFlags = [ "--lib" ];
  # mkaci is the builder of image derivations: static linking keeps its
  # closure to itself where the platform allows it (see nix/offline.nix).
  meta = {
    description = cargoToml.package.description;
    mainProgram = "mkaci";
  };
}
