# One name for two platforms: the busybox image for the build machine
# (linux/amd64 here) and busyboxArm64 (linux/aarch64), in one result that
# postprocess.sh publishes whole; a discovery site serves each runtime its
# own platform's image under the name busybox.
{ mkMultiArch, ... }@args:
mkMultiArch {
  images = [ (import ./busybox.nix args) (import ./busyboxArm64.nix args) ];
}
