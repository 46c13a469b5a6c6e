#!/bin/bash
# The example images are the same bytes under Nix 2.35 as under the system's
# Nix 2.8: scripts/image-ids prints the same .drv paths and the same image IDs
# (imageId of each ACI, manifest digest of each OCI layout) under both, and
# every example's result directory has the same store path and NAR hash.
# Nix 2.35 runs through scripts/nix235, in a /nix of its own; where it is not
# found the test is skipped with the reason (docs/nix-versions.md).
. "$(dirname "$0")/lib.sh"
need jq nix-build nix-store
[ "${NIX2ACI_NIX235_ACTIVE:-}" != 1 ] || fail "run this test under the system's Nix: it starts Nix 2.35 itself (scripts/nix235)"

rc=0
"$repo/scripts/nix235" --probe >"$work/probe.log" 2>&1 || rc=$?
case $rc in
    0) ;;
    3) say "skipped: $(cat "$work/probe.log")"; exit 0 ;;
    *) cat "$work/probe.log" >&2; fail "scripts/nix235 finds Nix 2.35 but cannot run it" ;;
esac
# Two different Nixes, or the comparison proves nothing.
v_sys=$(nix-build --version) || fail "nix-build --version failed"
v_235=$("$repo/scripts/nix235" nix-build --version) || fail "nix-build --version failed under scripts/nix235"
case $v_235 in *" 2.35."*) ;; *) fail "scripts/nix235 runs '$v_235', not Nix 2.35" ;; esac
[ "$v_sys" != "$v_235" ] || fail "the system's Nix is $v_sys too: nothing to compare"

# ids FILE: image-ids, then each example's result path and NAR hash, into FILE.
cat >"$work/ids.sh" <<'EOF'
set -eu
repo=$1
ids=$("$repo/scripts/image-ids")
printf '%s\n' "$ids"
for a in $(printf '%s\n' "$ids" | sed -n 's/^\([^ ]*\) .*/\1/p'); do
    out=$(nix-build "$repo/default.nix" --arg offline true -A "$a" --no-out-link 2>/dev/null)
    printf '%s %s %s\n' "$a" "$out" "$(nix-store -q --hash "$out")"
done
EOF
bash "$work/ids.sh" "$repo" >"$work/ids-system" || fail "scripts/image-ids failed under $v_sys"
"$repo/scripts/nix235" bash "$work/ids.sh" "$repo" >"$work/ids-2.35" || fail "scripts/image-ids failed under $v_235"
n=$(grep -Ec '^  [a-z-]+ .* (sha512-[0-9a-f]{128}|sha256:[0-9a-f]{64})$' "$work/ids-system") || true
[ "$n" -ge 10 ] || fail "scripts/image-ids printed $n image IDs, expected one for each example at least: $(cat "$work/ids-system")"
diff -u --label "$v_sys" --label "$v_235" "$work/ids-system" "$work/ids-2.35" >&2 \
    || fail "the example images differ between $v_sys and $v_235 (diff above)"
say "$n image IDs, the .drv paths, result paths and NAR hashes of $(grep -c '^[^ ]* /nix/store/.*\.drv$' "$work/ids-system") examples are the same under $v_sys and $v_235"
