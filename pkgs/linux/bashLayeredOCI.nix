# bash as an OCI image over a declared layer: bash's libraries come from
# bashLibsLayer (the same mkLayer value bashLayered uses; mkOCI takes its
# `oci`, an image layout of one layer, built once and linked in as is), bash
# itself gets a layer of its own, the merged /bin the top-level layer.
{ mkOCI, pkgs, mkLayer, ... }@args:
mkOCI {
  packages = [ pkgs.bash ];
  exec = [ "/bin/bash" ];
  env.PATH = "/bin";
  layers = [ (import ./bashLibsLayer.nix args) ];
}
