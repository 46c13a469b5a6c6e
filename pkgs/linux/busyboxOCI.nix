# busybox as an OCI image: the busybox image's arguments, built by mkOCI
# into an OCI image layout (one layer per store path and a top-level layer).
# Load it: ./result/postprocess.sh && podman load -i OCI/busybox-*.docker.tar
{ mkOCI, pkgs, ... }:
mkOCI {
  packages = [ pkgs.busybox ];
  exec = [ "/bin/busybox" "sh" ];
}
