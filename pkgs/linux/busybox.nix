# busybox, fat: the busybox package and its closure inside the image.
# Run: rkt run --interactive result/busybox-*.aci
{ mkACI, pkgs, ... }:
mkACI {
  packages = [ pkgs.busybox ];
  exec = [ "/bin/busybox" "sh" ];
}
