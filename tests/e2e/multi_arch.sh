#!/bin/bash
# mkMultiArch: busyboxMultiArch is one result holding busybox for linux/amd64
# and linux/aarch64 (links to the two images' own results, listed in its
# nix2aci.json with their IDs), which postprocess publishes and mkaci verify
# accepts whole; and each refusal names the images.
. "$(dirname "$0")/lib.sh"
need jq actool gpg
[ -x "$repo/target/foreign/aarch64-linux/bin/busybox" ] \
    || { [ -n "${NIX2ACI_REQUIRE_TOOLS:-}" ] && fail "the arm64 busybox-static is missing; run ./scripts/setup as root"; say "SKIP: no arm64 busybox-static (run ./scripts/setup as root)"; exit 0; }

out=$(build busyboxMultiArch)
jq -e '[.artifacts[] | "\(.kind) \(.name) \(.version) \(.os)/\(.arch)"] == ["aci busybox 1.35.0 linux/amd64", "aci busybox 1.35.0 linux/aarch64"]' \
    "$out/nix2aci.json" >/dev/null || fail "busyboxMultiArch's index: $(jq -c '[.artifacts[] | {name, os, arch}]' "$out/nix2aci.json")"
amd=$(build busybox)
arm=$(build busyboxArm64)
for pair in "amd64:$amd" "aarch64:$arm"; do
    a=${pair%%:*} r=${pair#*:}
    f=busybox-1.35.0-linux-$a.aci
    [ "$(readlink "$out/$f")" = "$r/$f" ] || fail "$f is not a link to the $a image's own result: $(readlink "$out/$f")"
    [ "$(jq -r --arg f "$f" '.artifacts[] | select(.files.image == $f) | .digests.imageId' "$out/nix2aci.json")" = "$(cat "$r"/*.id)" ] \
        || fail "the index's ID of $f is not the $a image's"
    validate "$out/$f"
done
say "busyboxMultiArch links both platforms' images, listed with their IDs"

"$out/postprocess.sh" "$work/ACIs" >"$work/pp.log" 2>&1 || { cat "$work/pp.log" >&2; fail "postprocess.sh failed"; }
mkaci=$repo/target/x86_64-unknown-linux-gnu/release/mkaci
for a in amd64 aarch64; do
    "$mkaci" verify "$work/ACIs/busybox-1.35.0-linux-$a.aci" >"$work/v.log" 2>&1 || { cat "$work/v.log" >&2; fail "mkaci verify of the $a image failed"; }
done
say "postprocess publishes both, signed; mkaci verify accepts both"

refuses() {
    local err
    if err=$(nix-instantiate -E "let n = import $repo { offline = true; }; in ($1).drvPath" --eval 2>&1); then fail "accepted: $1"; fi
    case $err in *"$2"*) ;; *) fail "$1: error lacks '$2': $err" ;; esac
}
refuses 'n.mkMultiArch { images = [ ]; }' 'mkMultiArch: `images` is empty'
refuses 'n.mkMultiArch { images = [ n.busybox n.busyboxArm64OCI ]; }' 'images[1] (busybox-1.35.0-linux-arm64.oci) is an mkOCI image, images[0] (busybox-1.35.0-linux-amd64.aci) an mkACI image; one result holds ACIs or OCI images, not both'
refuses 'n.mkMultiArch { images = [ n.busybox n.pkgs.busybox ]; }' 'images[1] is not an mkACI or mkOCI result'
refuses 'n.mkMultiArch { images = [ n.busybox n.bash ]; }' 'images[1] (bash-5.2.15-linux-amd64.aci) is named "bash", images[0] "busybox"'
refuses 'n.mkMultiArch { images = [ n.busybox (n.mkACI { packages = [ n.pkgs.busyboxAarch64 ]; name = "busybox"; version = "2"; targetSystem = "aarch64-linux"; exec = [ "/bin/sh" ]; }) ]; }' \
    'has version "2", images[0] "1.35.0"'
refuses 'n.mkMultiArch { images = [ n.busybox n.busyboxArm64 (n.mkACI { packages = [ n.pkgs.busybox ]; name = "busybox"; exec = [ "/bin/sh" ]; }) ]; }' \
    'images[0] and images[2] are both busybox-1.35.0-linux-amd64.aci: the same platform twice'
say "mkMultiArch refuses an empty list, a mix of ACI and OCI images, non-images, other names or versions, and one platform twice"
