#!/bin/bash
# The README's main command: nix-build -A busybox && ./result/postprocess.sh
# links the image into ./ACIs/ (and signs it, verified with gpg, once signing
# is set up by scripts/ensure-signing-key).
. "$(dirname "$0")/lib.sh"
need jq gpg

cd "$work"
nix-build "$repo" -A busybox >/dev/null || fail "nix-build -A busybox failed"
./result/postprocess.sh >"$work/pp.out" || fail "./result/postprocess.sh failed"
cat "$work/pp.out"
file=$(nix-instantiate --eval --json "$repo" -A busybox.imageFileName | jq -r .)
[ -L "ACIs/$file" ] || fail "ACIs/$file is not a symlink: $(ls -la ACIs 2>&1)"
[ "$(readlink -f "ACIs/$file")" = "$(readlink -f "result/$file")" ] || fail "ACIs/$file does not point at the result's image"
say "postprocess.sh linked ACIs/$file"
if [ -e "$repo/scripts/ensure-signing-key" ]; then
    [ -f "ACIs/$file.asc" ] || fail "no signature ACIs/$file.asc although sign = true"
    gpg --batch --verify "ACIs/$file.asc" "ACIs/$file" 2>/dev/null || fail "gpg cannot verify ACIs/$file.asc"
    say "postprocess.sh signed it: gpg --verify accepts ACIs/$file.asc"
fi
# The printed verify line names the mkaci postprocess.sh ran by its full path,
# and works as printed, from anywhere, without mkaci on PATH.
mkaci=$(sed -n "s/^exec \([^ ]*\) postprocess.*/\1/p" result/postprocess.sh)
line=$(grep -F "  $mkaci verify ACIs/$file" "$work/pp.out") || fail "no '$mkaci verify ACIs/$file' among the printed lines: $(cat "$work/pp.out")"
(cd / && PATH=/usr/bin:/bin eval "cd $work && $line") >"$work/verify.log" 2>&1 \
    || fail "the printed '$line' fails: $(cat "$work/verify.log")"
grep -q -- "--skip-fingerprint-review" "$work/pp.out" || fail "the printed lines do not mention --skip-fingerprint-review"
say "postprocess.sh prints '${line#  }', which works"

# The README's "Checking an image" commands, as written, work here; the
# README names both subcommands.
readme=$repo/README.md
grep -q '^### Checking an image' "$readme" || fail "README.md has no \"Checking an image\" section"
block=$(awk '/^### Checking an image/ { on = 1; next } on && /^```sh/ { code = 1; next } on && code && /^```/ { exit } code' "$readme")
for cmd in verify inspect; do
    printf '%s\n' "$block" | grep -q "^\$mkaci $cmd " || fail "README.md's \"Checking an image\" does not show mkaci $cmd: $block"
done
bash -euc "$block" >"$work/check.log" 2>&1 || fail "the README's \"Checking an image\" commands fail: $(cat "$work/check.log")"
say "README.md's \"Checking an image\" shows mkaci verify and inspect, and they work"

# Running it again changes nothing and succeeds.
./result/postprocess.sh >/dev/null || fail "./result/postprocess.sh fails the second time"
[ -L "ACIs/$file" ] || fail "ACIs/$file vanished on the second run"
say "postprocess.sh is repeatable"
