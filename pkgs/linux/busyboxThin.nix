# busybox, thin: no store contents in the image, one read-only host mount per
# store path of the closure. The exec path is the store path, because rkt
# resolves it before the volumes are mounted.
# Run: rkt run --interactive $(cat result/*.mounts) result/busybox-*-thin-*.aci
{ mkACI, pkgs, ... }:
mkACI {
  packages = [ pkgs.busybox ];
  versionAddon = "-thin";
  thin = true;
  exec = [ "${pkgs.busybox}/bin/busybox" "sh" ];
}
