#!/bin/bash
# ./result/postprocess.sh makes the images it links into ACIs/ GC roots: with
# result/ gone and the store garbage-collected, ACIs/<file>.aci still resolves
# and `mkaci verify` accepts it. The same for an OCI layout linked into OCI/.
# With --copy it copies the image (a regular file with the same bytes)
# instead of linking it.
# Runs nix-collect-garbage, which deletes every store path nothing refers to.
. "$(dirname "$0")/lib.sh"
need jq gpg nix-collect-garbage

cd "$work"
# busybox, made unique to this run (an annotation), so that no other GC root
# (another checkout's result/) keeps its store path alive.
nonce=$(basename "$work")-$(date +%s%N)
nix-build -o "$work/result" --arg repo "$repo" --argstr nonce "$nonce" -E '{ repo, nonce }:
  let n = import repo { }; in
  n.mkACI { packages = [ n.pkgs.busybox ]; exec = [ "/bin/busybox" "sh" ]; annotations.nix2aci-test-run = nonce; }' \
    >/dev/null || fail "nix-build of busybox failed"
file=$(basename "$(image "$work/result")")
nix-build -o "$work/result-oci" --arg repo "$repo" --argstr nonce "$nonce" -E '{ repo, nonce }:
  let n = import repo { }; in
  n.mkOCI { packages = [ n.pkgs.busybox ]; exec = [ "/bin/busybox" "sh" ]; annotations.nix2aci-test-run = nonce; }' \
    >/dev/null || fail "nix-build of the busybox OCI image failed"
oci=$(cd "$work/result-oci" && echo *.oci)
[ -d "$work/result-oci/$oci" ] || fail "no OCI layout in the mkOCI result: $(ls "$work/result-oci")"
# The store copy of mkaci may be collected too: keep one outside the store.
cp "$(readlink -f "$work/result/postprocess.sh" | xargs sed -n "s|^exec '\(/nix/store/[^']*/bin/mkaci\)'.*|\1|p")" "$work/mkaci" 2>/dev/null \
    || cp "$(nix-instantiate --eval --json "$repo" -A mkaci.outPath | jq -r .)/bin/mkaci" "$work/mkaci" \
    || fail "cannot find mkaci"
chmod u+x "$work/mkaci"

./result/postprocess.sh "$work/ACIs" >"$work/pp.log" 2>&1 || { cat "$work/pp.log" >&2; fail "postprocess.sh failed"; }
[ -e "ACIs/$file" ] || fail "postprocess.sh gave no ACIs/$file: $(ls -la ACIs 2>&1)"
./result-oci/postprocess.sh "$work/OCI" >"$work/pp-oci.log" 2>&1 || { cat "$work/pp-oci.log" >&2; fail "the OCI result's postprocess.sh failed"; }
[ -L "OCI/$oci" ] || fail "postprocess.sh gave no link OCI/$oci: $(ls -la OCI 2>&1)"
# --copy, checked after the collection (so that a failure here does not hide one there).
copy_err=
if ! ./result/postprocess.sh "$work/ACIs-copy" --copy >"$work/pp-copy.log" 2>&1; then
    copy_err="postprocess.sh --copy failed: $(cat "$work/pp-copy.log")"
elif [ ! -f "ACIs-copy/$file" ] || [ -L "ACIs-copy/$file" ]; then
    copy_err="postprocess.sh --copy: ACIs-copy/$file is not a regular file: $(ls -la ACIs-copy 2>&1)"
elif ! cmp -s "ACIs-copy/$file" "result/$file"; then
    copy_err="postprocess.sh --copy: ACIs-copy/$file differs from the result's image"
fi

rm "$work/result" "$work/result-oci"
nix-collect-garbage >"$work/gc.log" 2>&1 || { cat "$work/gc.log" >&2; fail "nix-collect-garbage failed"; }
say "collected: $(tail -n1 "$work/gc.log")"
target=$(readlink -f "ACIs/$file" || readlink "ACIs/$file" || true)
[ -f "$target" ] || fail "ACIs/$file no longer resolves after garbage collection (it pointed at $target)"
"$work/mkaci" verify "ACIs/$file" >"$work/verify.log" 2>&1 || { cat "$work/verify.log" >&2; fail "mkaci verify ACIs/$file failed after garbage collection"; }
say "after result/ was removed and the store collected, ACIs/$file still resolves and mkaci verify accepts it"
[ -f "OCI/$oci/index.json" ] || fail "OCI/$oci no longer resolves after garbage collection (it pointed at $(readlink "OCI/$oci"))"
"$work/mkaci" verify "OCI/$oci" >"$work/verify.log" 2>&1 || { cat "$work/verify.log" >&2; fail "mkaci verify OCI/$oci failed after garbage collection"; }
say "after result-oci/ was removed and the store collected, OCI/$oci still resolves and mkaci verify accepts it"

[ -z "$copy_err" ] || fail "$copy_err"
"$work/mkaci" verify "ACIs-copy/$file" >"$work/verify.log" 2>&1 || { cat "$work/verify.log" >&2; fail "mkaci verify ACIs-copy/$file failed"; }
say "postprocess.sh --copy copied $file (a regular file, the same bytes, verified)"
