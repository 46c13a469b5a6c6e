# busybox for arm64 as an OCI image (linux/arm64), packed on this machine;
# see busyboxArm64.nix.
{ mkOCI, pkgs, ... }:
mkOCI {
  packages = [ pkgs.busyboxAarch64 ];
  name = "busybox";
  targetSystem = "aarch64-linux";
  exec = [ "/bin/busybox" "sh" ];
}
