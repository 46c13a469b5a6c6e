#!/bin/bash
# The images that need nixpkgs (dnsmasq, docker, etcd2, iperf, qemu, tcpdump,
# gnupg) are valid mkACI calls: built against the nixpkgs stand-in, with
# stand-in packages that have the right bin/ names (links to busybox), mkaci
# accepts their mount points, ports and isolators and actool validates them.
# What runs inside is nixpkgs' business and is not tested here.
. "$(dirname "$0")/lib.sh"
need actool

export NIX2ACI_REPO=$repo
nix-build -o "$work/result" --arg repo "$repo" -E '
{ repo }:
let
  standin = import (repo + "/tests/e2e/nixpkgs-standin") { };
  bb = standin.busybox;
  # A package called pname-version whose bin/ holds the given programs.
  fake = pname: version: programs: derivation {
    name = "${pname}-${version}";
    system = builtins.currentSystem;
    builder = "${bb}/bin/sh";
    PATH = "${bb}/bin";
    args = [ "-euc" "mkdir -p $out/bin; for p in ${toString programs}; do ln -s ${bb}/bin/busybox $out/bin/$p; done" ];
  } // { inherit pname version; };
  pkgs = standin // {
    dnsmasq = fake "dnsmasq" "2.90" [ "dnsmasq" ];
    docker = fake "docker" "24.0.5" [ "docker" "dockerd" ];
    iptables = fake "iptables" "1.8.10" [ "iptables" ];
    coreutils = fake "coreutils" "9.4" [ "ls" ];
    etcd = fake "etcd" "3.5.10" [ "etcd" ];
    iperf3 = fake "iperf" "3.16" [ "iperf3" ];
    qemu = fake "qemu" "8.2.0" [ "qemu-system-x86_64" ];
    tcpdump = fake "tcpdump" "4.99.4" [ "tcpdump" ];
    gnupg = fake "gnupg" "2.4.4" [ "gpg" ];
  };
  n = import repo { inherit pkgs; };
in
assert !n.offline;
map (a: n.${a}) [ "dnsmasq" "docker" "etcd2" "iperf" "qemu" "tcpdump" "gnupg" ]' >/dev/null 2>"$work/log" \
    || { cat "$work/log" >&2; fail "the nixpkgs-only images do not build"; }

n=0
for r in "$work"/result*; do
    aci=$(image "$r")
    validate "$aci"
    n=$((n + 1))
    say "$(basename "$aci") is valid"
done
[ "$n" = 7 ] || fail "expected 7 images, got $n"
