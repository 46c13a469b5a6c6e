# bash as an OCI image: bash, glibc and bash's other libraries each in a
# layer of their own, the merged /bin in the top-level layer.
{ mkOCI, pkgs, ... }:
mkOCI {
  packages = [ pkgs.bash ];
  exec = [ "/bin/bash" ];
  env.PATH = "/bin";
}
