# bash, layered: its libraries come from the declared layer bashLibsLayer,
# the rest of the closure (bash itself) is a per-path dependency ACI.
{ mkACI, pkgs, mkLayer, ... }@args:
mkACI {
  packages = [ pkgs.bash ];
  exec = [ "/bin/bash" ];
  env.PATH = "/bin";
  layered = true;
  layers = [ (import ./bashLibsLayer.nix args) ];
}
