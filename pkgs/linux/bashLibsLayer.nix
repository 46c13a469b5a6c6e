# A declared layer: bash's libraries (glibc and ncurses with their closure)
# as one dependency ACI of its own derivation. Every image that lists it in
# `layers` links to the same output, so it is built once.
{ mkLayer, pkgs, ... }:
mkLayer {
  packages = [ pkgs.glibc pkgs.ncurses ];
  name = "bash/layers/libs";
}
