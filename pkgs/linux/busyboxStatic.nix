# busybox linked statically: a closure of one store path.
# Offline, Debian's busybox-static is static already; with nixpkgs it is
# busybox built with enableStatic.
{ mkACI, pkgs, ... }:
mkACI {
  packages = [ (pkgs.busyboxStatic or (pkgs.busybox.override { enableStatic = true; })) ];
  versionAddon = "-static";
  static = true;
  exec = [ "/bin/busybox" "sh" ];
}
