# The docker daemon (nixpkgs only). Needs a privileged pod.
{ mkACI, pkgs, ... }:
mkACI {
  packages = [ pkgs.docker pkgs.iptables pkgs.coreutils ];
  exec = [ "/bin/dockerd" "--host=unix:///var/run/docker.sock" ];
  env.PATH = "/bin:/sbin";
  mounts = { docker-lib = "/var/lib/docker"; docker-run = "/var/run"; };
}
