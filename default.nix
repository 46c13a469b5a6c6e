# nix2aci: App Container Images (appc ACIs) built by Nix.
#
#   nix-build -A busybox && ./result/postprocess.sh
#
# With nixpkgs on NIX_PATH (or given as `pkgs`), mkaci is built from this
# repository with rustPlatform and the images use nixpkgs packages. Without
# it, everything comes from the offline package set (nix/offline.nix): the
# static release build of mkaci and programs installed on the host.
{
  # A nixpkgs package set. Default: import <nixpkgs> { } when <nixpkgs> is
  # found, else the offline package set.
  pkgs ? null,
  # The Nix system to build for. default.nix is the impure entry point, so it
  # may default to the current system; the flake always passes one.
  system ? builtins.currentSystem,
  # true: use the offline package set even when nixpkgs is found;
  # false: require nixpkgs. Default: offline exactly when nixpkgs is missing.
  offline ? null,
  # The mkaci package to build images with. Default: built with nixpkgs'
  # rustPlatform (nix/mkaci.nix), or offline the static release build.
  mkaci ? null,
}:
let
  nixpkgsFound = (builtins.tryEval <nixpkgs>).success;
  useOffline =
    if offline != null then offline
    else pkgs == null && !nixpkgsFound;

  pkgs' =
    if useOffline then import ./nix/offline.nix { inherit system; }
    else if pkgs != null then pkgs
    else if nixpkgsFound then import <nixpkgs> { inherit system; }
    else throw "nix2aci: offline = false, but <nixpkgs> is not on NIX_PATH; pass pkgs or -I nixpkgs=...";

  mkaci' =
    if mkaci != null then mkaci
    else if useOffline then pkgs'.mkaci
    else pkgs'.callPackage ./nix/mkaci.nix { };

  mkACI = import ./nix/mkACI.nix { mkaci = mkaci'; inherit system; };
  mkOCI = import ./nix/mkOCI.nix { mkaci = mkaci'; inherit system; };
  mkLayer = import ./nix/mkLayer.nix { mkaci = mkaci'; inherit system; };
  mkMultiArch = import ./nix/mkMultiArch.nix { mkaci = mkaci'; inherit system; };

  # What every image file under pkgs/ is called with.
  stdArgs = { inherit mkACI mkOCI mkLayer mkMultiArch; pkgs = pkgs'; };
  generic = import ./pkgs/linux/generic.nix stdArgs;

  # Images that need a nixpkgs package; present when the package set has it.
  ifHas = attr: image: if !useOffline && pkgs' ? ${attr} then image else { };
in
{
  inherit mkACI mkOCI mkLayer mkMultiArch;
  mkaci = mkaci';
  # The package set the images take their packages from: nixpkgs, or the
  # offline package set (mkaci, busybox, busyboxStatic, glibc, ncurses, bash).
  pkgs = pkgs';
  # Whether the offline package set is in use.
  offline = useOffline;

  busybox = import ./pkgs/linux/busybox.nix stdArgs;
  busyboxThin = import ./pkgs/linux/busyboxThin.nix stdArgs;
  busyboxStatic = import ./pkgs/linux/busyboxStatic.nix stdArgs;
  bash = import ./pkgs/linux/bash.nix stdArgs;
  busyboxHttpd = import ./pkgs/linux/busyboxHttpd.nix stdArgs;
  # Layered ACIs (docs/layers.md): one dependency ACI per store path, and a
  # declared layer (bash's libraries) that images share.
  busyboxLayered = import ./pkgs/linux/busyboxLayered.nix stdArgs;
  bashLibsLayer = import ./pkgs/linux/bashLibsLayer.nix stdArgs;
  bashLayered = import ./pkgs/linux/bashLayered.nix stdArgs;
  # OCI images of the same arguments (nix/mkOCI.nix).
  busyboxOCI = import ./pkgs/linux/busyboxOCI.nix stdArgs;
  bashOCI = import ./pkgs/linux/bashOCI.nix stdArgs;
  # An OCI image over the declared layer bashLibsLayer (its `oci`).
  bashLayeredOCI = import ./pkgs/linux/bashLayeredOCI.nix stdArgs;
}
# Images for arm64, packed here (targetSystem): where the offline set has the
# arm64 busybox-static (./scripts/setup downloads it on x86_64).
// (if useOffline && system == "x86_64-linux" then {
  busyboxArm64 = import ./pkgs/linux/busyboxArm64.nix stdArgs;
  busyboxArm64OCI = import ./pkgs/linux/busyboxArm64OCI.nix stdArgs;
  # One name, two platforms: busybox and busyboxArm64 in one result.
  busyboxMultiArch = import ./pkgs/linux/busyboxMultiArch.nix stdArgs;
  # The same as OCI: one image layout whose index lists both platforms.
  busyboxOCIMultiArch = import ./pkgs/linux/busyboxOCIMultiArch.nix stdArgs;
} else { })
// ifHas "dnsmasq" { dnsmasq = import ./pkgs/linux/dnsmasq.nix stdArgs; }
// ifHas "docker" { docker = import ./pkgs/linux/docker.nix stdArgs; }
// ifHas "etcd" { etcd2 = import ./pkgs/linux/etcd2.nix stdArgs; }
// ifHas "iperf3" { iperf = import ./pkgs/linux/iperf.nix stdArgs; }
// ifHas "qemu" { qemu = import ./pkgs/linux/qemu.nix stdArgs; }
// ifHas "tcpdump" { tcpdump = generic { package = pkgs'.tcpdump; }; }
// ifHas "gnupg" { gnupg = generic { package = pkgs'.gnupg; program = "gpg"; }; }
