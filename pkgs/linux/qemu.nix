# qemu for x86_64 guests (nixpkgs only).
{ mkACI, pkgs, ... }:
mkACI {
  packages = [ pkgs.qemu ];
  exec = [ "/bin/qemu-system-x86_64" "-nographic" ];
  mounts.images = "/images";
}
