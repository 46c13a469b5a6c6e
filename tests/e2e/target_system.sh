#!/bin/bash
# Images for another platform, packed on this machine (targetSystem):
# - busyboxArm64 (an ACI) and busyboxArm64OCI hold Debian's arm64
#   busybox-static, are labelled linux/aarch64 (OCI: linux/arm64) while the
#   builder ran here, validate, and their program runs under
#   qemu-aarch64-static from the image's own files;
# - an exec built for another machine than the image's is refused at build
#   time, naming the program, both machines and the fix; so is a script whose
#   interpreter is;
# - os or arch given with targetSystem must agree with it (evaluation time).
. "$(dirname "$0")/lib.sh"
need jq actool umoci skopeo oci-image-tool qemu-aarch64-static

[ -x "$repo/target/foreign/aarch64-linux/bin/busybox" ] \
    || { [ -n "${NIX2ACI_REQUIRE_TOOLS:-}" ] && fail "the arm64 busybox-static is missing; run ./scripts/setup as root"; say "SKIP: no arm64 busybox-static (run ./scripts/setup as root)"; exit 0; }

# The ACI.
out=$(build busyboxArm64)
aci=$(image "$out")
[ "$(basename "$aci")" = busybox-1.35.0-linux-aarch64.aci ] || fail "busyboxArm64 is $(basename "$aci")"
validate "$aci"
extract "$aci" "$work/aci"
jq -e '[.labels[] | select(.name == "os" or .name == "arch") | .value] == ["linux", "aarch64"]' "$work/aci/manifest" >/dev/null \
    || fail "busyboxArm64's labels are $(jq -c .labels "$work/aci/manifest")"
[ "$(nix-instantiate --eval --json "$repo" -A busyboxArm64.system | jq -r .)" = "$(nix-instantiate --eval --json -E builtins.currentSystem | jq -r .)" ] \
    || fail "busyboxArm64's derivation is not for the build machine's system"
got=$(qemu-aarch64-static "$work/aci/rootfs/bin/busybox" sh -c 'echo $((6 * 7)) $(uname -m)') || fail "the arm64 busybox does not run under qemu"
[ "$got" = "42 aarch64" ] || fail "the arm64 busybox printed '$got'"
say "busyboxArm64: linux/aarch64, built here, runs under qemu-aarch64-static ($got)"

# The OCI image.
out=$(build busyboxArm64OCI)
lay=$out/busybox-1.35.0-linux-arm64.oci
[ -d "$lay" ] || fail "busyboxArm64OCI has no busybox-1.35.0-linux-arm64.oci: $(ls "$out")"
cfg=$(skopeo inspect --config --raw "oci:$lay:1.35.0") || fail "skopeo cannot read busyboxArm64OCI"
jq -e '.os == "linux" and .architecture == "arm64"' <<<"$cfg" >/dev/null || fail "busyboxArm64OCI's config: $(jq -c '{os, architecture}' <<<"$cfg")"
jq -e '.manifests[0].platform == {"architecture": "arm64", "os": "linux"}' "$lay/index.json" >/dev/null \
    || fail "index.json's platform: $(jq -c '.manifests[0].platform' "$lay/index.json")"
oci-image-tool validate --type image --ref "name=1.35.0" "$lay" >/dev/null 2>&1 || fail "oci-image-tool rejects busyboxArm64OCI"
umoci unpack --rootless --image "$lay:1.35.0" "$work/bundle" >"$work/umoci.log" 2>&1 || { cat "$work/umoci.log" >&2; fail "umoci cannot unpack busyboxArm64OCI"; }
got=$(qemu-aarch64-static "$work/bundle/rootfs/bin/busybox" echo arm64-oci) || fail "the OCI image's busybox does not run under qemu"
[ "$got" = arm64-oci ] || fail "the OCI image's busybox printed '$got'"
say "busyboxArm64OCI: linux/arm64 in the config and index.json, runs under qemu-aarch64-static"

# build_refuses EXPR NEEDLE: building EXPR fails, mkaci's error holding NEEDLE.
build_refuses() {
    local err
    if err=$(nix-build -E "let n = import $repo { offline = true; }; in $1" --no-out-link 2>&1); then
        fail "built: $1"
    fi
    case $err in *"$2"*) ;; *) fail "$1: the error lacks '$2': $(grep 'mkaci: error' <<<"$err" || tail -n3 <<<"$err")" ;; esac
}
build_refuses 'n.mkACI { packages = [ n.pkgs.busyboxAarch64 ]; name = "x"; exec = [ "/bin/sh" ]; }' \
    'exec[0] = "/bin/sh" resolves to '
build_refuses 'n.mkACI { packages = [ n.pkgs.busyboxAarch64 ]; name = "x"; exec = [ "/bin/sh" ]; }' \
    'a program for AArch64 (ELF machine 183), but the image is for linux/amd64, whose programs are x86-64 (ELF machine 62): it can never run there. Build the image for the program'"'"'s platform with targetSystem (e.g. targetSystem = "aarch64-linux")'
build_refuses 'n.mkOCI { packages = [ n.pkgs.busybox ]; name = "x"; targetSystem = "aarch64-linux"; exec = [ "/bin/sh" ]; }' \
    'but the image is for linux/aarch64, whose programs are AArch64 (ELF machine 183)'
build_refuses 'let s = n.pkgs.writeScriptBin "s" "#!${n.pkgs.busyboxAarch64}/bin/sh\necho hi\n"; in n.mkACI { packages = [ s ]; name = "x"; exec = [ "/bin/s" ]; }' \
    'exec[0] = "/bin/s" runs with the interpreter /nix/store/'
say "an exec (or its interpreter) for another machine is refused, naming both machines and targetSystem"

# Other ELF files for another machine: one warning line with the count and
# an example, and the image builds (toolchains carry such files).
fw="n.pkgs.runCommand \"fw-$(date +%s%N)\" { } \"mkdir -p \$out/share; cp \${n.pkgs.busyboxAarch64}/bin/busybox \$out/share/arm-blob\""
nix-build -E "let n = import $repo { offline = true; }; in n.mkACI { packages = [ n.pkgs.busybox ($fw) ]; name = \"x\"; exec = [ \"/bin/sh\" ]; }" \
    --no-out-link >"$work/fw.log" 2>&1 || { cat "$work/fw.log" >&2; fail "an image with a foreign ELF file beside its exec does not build"; }
grep -q '^mkaci: warning: the image holds 1 ELF file(s) for another machine than its own, e.g. /nix/store/[0-9a-z]\{32\}-fw-[0-9]*/share/arm-blob (AArch64 (ELF machine 183))' "$work/fw.log" \
    || fail "no warning about the foreign ELF file: $(grep mkaci: "$work/fw.log")"
! grep -q "mkaci: warning" "$(nix-store -l "$(nix-instantiate "$repo" -A busyboxArm64 2>/dev/null)" 2>/dev/null || echo /dev/null)" \
    || fail "busyboxArm64 (all aarch64) warned about foreign ELF files"
say "a foreign ELF file beside the exec gets one warning line: $(grep -o 'holds 1 ELF.*' "$work/fw.log" | cut -c1-60)..."

refuses() {
    local err
    if err=$(nix-instantiate -E "let n = import $repo { offline = true; }; in $1" 2>&1); then fail "accepted: $1"; fi
    case $err in *"$2"*) ;; *) fail "$1: error lacks '$2': $err" ;; esac
}
refuses 'n.mkACI { packages = [ n.pkgs.busybox ]; targetSystem = "aarch64-linux"; arch = "amd64"; }' \
    '`arch` ("amd64") contradicts targetSystem "aarch64-linux", whose arch is "aarch64"'
refuses 'n.mkACI { packages = [ n.pkgs.busybox ]; targetSystem = "aarch64-linux"; os = "freebsd"; }' \
    '`os` ("freebsd") contradicts targetSystem "aarch64-linux"'
refuses 'n.mkACI { packages = [ n.pkgs.busybox ]; targetSystem = 64; }' '`targetSystem` must be a Nix system string'
refuses 'n.mkACI { packages = [ n.pkgs.busybox ]; targetSystem = "mips64-linux"; exec = [ "/bin/sh" ]; }' 'no appc os and arch known for targetSystem "mips64-linux"'
# Agreeing os/arch are fine; so is arch's other spelling.
nix-instantiate -E "let n = import $repo { offline = true; }; in n.mkACI { packages = [ n.pkgs.busybox ]; exec = [ \"/bin/sh\" ]; targetSystem = \"aarch64-linux\"; arch = \"arm64\"; }" >/dev/null 2>&1 \
    || fail "arch = \"arm64\" with targetSystem aarch64-linux was refused"
say "os and arch must agree with targetSystem"
