#!/bin/bash
# mkACI's default-name mapping (nix/mkACI.nix) agrees with mkaci's: for Nix
# names that are not AC Identifiers, the file name Nix computes is the one
# mkaci writes (mkaci refuses to build when they differ).
. "$(dirname "$0")/lib.sh"
need jq

# expect PKG-NAME-EXPR FILE NAME
expect() {
    nix-build -o "$work/result" --arg repo "$repo" --arg p "$1" -E '
      { repo, p }: let n = import repo { }; in
      n.mkACI { packages = [ n.pkgs.busybox ]; pkg = p; exec = "/bin/busybox"; }' >/dev/null 2>"$work/log" \
        || { cat "$work/log" >&2; fail "pkg = $1 does not build"; }
    [ -f "$work/result/$2" ] || fail "pkg = $1: expected $2, got $(ls "$work/result")"
    jq -e --arg n "$3" '.name == $n' "$work/result/${2%.aci}.manifest" >/dev/null \
        || fail "pkg = $1: image name is not $3"
    say "$1 -> $3 ($2)"
}
expect '{ name = "_GNU+Linux  Tool!-1.0"; }' gnupluslinux-tool-1.0-linux-amd64.aci gnupluslinux-tool
expect '{ pname = "Py._Lib"; version = "3"; }' py.lib-3-linux-amd64.aci py.lib
expect '{ name = "gtk+3-3.24"; }' gtkplus3-3.24-linux-amd64.aci gtkplus3
expect '{ pname = "X~~Y//z--"; version = ""; }' z-latest-linux-amd64.aci 'x~y/z'
# A non-ASCII character is one character, replaced once (as mkaci's per-char mapping does).
expect '{ pname = "Café Ünïcode"; version = "1"; }' caf-n-code-1-linux-amd64.aci caf-n-code
