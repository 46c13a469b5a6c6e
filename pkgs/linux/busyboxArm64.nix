# busybox for arm64, packed on this machine: the offline set's
# busyboxAarch64 (Debian's arm64 busybox-static) in an image whose
# targetSystem is aarch64-linux (labels linux/aarch64), while mkaci runs on
# the build machine's system. With nixpkgs, the package would come from
# pkgsCross.aarch64-multiplatform or a nixpkgs for aarch64-linux.
{ mkACI, pkgs, ... }:
mkACI {
  packages = [ pkgs.busyboxAarch64 ];
  name = "busybox";
  targetSystem = "aarch64-linux";
  exec = [ "/bin/busybox" "sh" ];
}
