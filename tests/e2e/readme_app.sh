#!/bin/bash
# The README's "your own app" example, as written: the offline set's
# writeShellScriptBin makes a package, and both images of it run. The ACI
# runs from its rootfs under bwrap; the OCI layout is unpacked by umoci and
# runs from the bundle under bwrap.
. "$(dirname "$0")/lib.sh"
need jq actool bwrap umoci

readme=$repo/README.md
awk '/<!-- example-app:begin -->/ { on = 1; next } /<!-- example-app:end -->/ { on = 0 } on && !/^```/' "$readme" \
    | sed "s|/path/to/nix2aci|$repo|" >"$work/app.nix"
grep -q writeShellScriptBin "$work/app.nix" || fail "no app example found in README.md"

# The ACI.
nix-build "$work/app.nix" -A aci -o "$work/aci" >/dev/null || fail "the app example's ACI does not build"
aci=$(image "$work/aci")
validate "$aci"
extract "$aci" "$work/x"
got=$(run_app "$work/x") || fail "the app example's ACI does not run"
[ "$got" = "hello, world, from Linux" ] || fail "the app example's ACI printed '$got'"
say "ACI: $(basename "$aci") runs and prints '$got'"

# The OCI image.
nix-build "$work/app.nix" -A oci -o "$work/oci" >/dev/null || fail "the app example's OCI image does not build"
lay=$(readlink -f "$work/oci")/greet-1.0.0-linux-amd64.oci
[ -d "$lay" ] || fail "the app example's OCI result lacks greet-1.0.0-linux-amd64.oci: $(ls "$work/oci")"
umoci unpack --rootless --image "$lay:1.0.0" "$work/bundle" >"$work/umoci.log" 2>&1 \
    || { cat "$work/umoci.log" >&2; fail "umoci cannot unpack the app example's OCI image"; }
mapfile -t cmd < <(jq -r '.process.args[]' "$work/bundle/config.json")
mapfile -t envs < <(jq -r '.process.env[]' "$work/bundle/config.json")
env_args=()
for e in "${envs[@]}"; do env_args+=(--setenv "${e%%=*}" "${e#*=}"); done
got=$(bwrap --bind "$work/bundle/rootfs" / --proc /proc --dev /dev --unshare-all --die-with-parent --clearenv \
    "${env_args[@]}" -- "${cmd[@]}") || fail "the app example's OCI image does not run"
[ "$got" = "hello, world, from Linux" ] || fail "the app example's OCI image printed '$got'"
say "OCI: umoci unpacks it and it prints '$got'"
