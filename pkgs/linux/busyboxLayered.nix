# busybox, layered: each store path of the closure is its own dependency ACI
# (named under busybox/nix/store/), and the image holds only the top-level
# tree. Publish with ./result/postprocess.sh, which signs every image.
{ mkACI, pkgs, ... }:
mkACI {
  packages = [ pkgs.busybox ];
  exec = [ "/bin/busybox" "sh" ];
  layered = true;
}
