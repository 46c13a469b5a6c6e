# One name for two platforms, as OCI: busyboxOCI (linux/amd64 here) and
# busyboxArm64OCI (linux/arm64) under one image index, in one layout
# result/busybox-<version>.oci whose blobs are linked to the two images'
# own results. `skopeo copy --override-arch arm64` (or a runtime on arm64)
# picks the arm64 image; postprocess.sh writes one docker-archive per
# platform.
{ mkMultiArch, ... }@args:
mkMultiArch {
  images = [ (import ./busyboxOCI.nix args) (import ./busyboxArm64OCI.nix args) ];
}
