# bash, fat: a dynamically linked program whose closure (bash, glibc, and its
# other libraries) is copied into the image.
{ mkACI, pkgs, ... }:
mkACI {
  packages = [ pkgs.bash ];
  exec = [ "/bin/bash" ];
  env.PATH = "/bin";
}
