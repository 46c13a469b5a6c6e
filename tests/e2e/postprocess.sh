#!/bin/bash
# The README's main command: nix-build -A busybox && ./result/postprocess.sh
# links the image into ./ACIs/ (and signs it, verified with gpg, once signing
# is set up by scripts/ensure-signing-key).
. "$(dirname "$0")/lib.sh"
need jq gpg

cd "$work"
nix-build "$repo" -A busybox >/dev/null || fail "nix-build -A busybox failed"
./result/postprocess.sh || fail "./result/postprocess.sh failed"
file=$(nix-instantiate --eval --json "$repo" -A busybox.imageFileName | jq -r .)
[ -L "ACIs/$file" ] || fail "ACIs/$file is not a symlink: $(ls -la ACIs 2>&1)"
[ "$(readlink -f "ACIs/$file")" = "$(readlink -f "result/$file")" ] || fail "ACIs/$file does not point at the result's image"
say "postprocess.sh linked ACIs/$file"
if [ -e "$repo/scripts/ensure-signing-key" ]; then
    [ -f "ACIs/$file.asc" ] || fail "no signature ACIs/$file.asc although sign = true"
    gpg --batch --verify "ACIs/$file.asc" "ACIs/$file" 2>/dev/null || fail "gpg cannot verify ACIs/$file.asc"
    say "postprocess.sh signed it: gpg --verify accepts ACIs/$file.asc"
fi
# Running it again changes nothing and succeeds.
./result/postprocess.sh >/dev/null || fail "./result/postprocess.sh fails the second time"
[ -L "ACIs/$file" ] || fail "ACIs/$file vanished on the second run"
say "postprocess.sh is repeatable"
