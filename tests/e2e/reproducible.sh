#!/bin/bash
# Every image is bit-reproducible: nix-build --check builds each again and
# compares the outputs byte for byte.
. "$(dirname "$0")/lib.sh"

for attr in busybox busyboxThin busyboxStatic bash busyboxHttpd; do
    build "$attr" >/dev/null
    nix-build "$repo" -A "$attr" --check --no-out-link >/dev/null 2>"$work/check.log" \
        || { cat "$work/check.log" >&2; fail "$attr is not reproducible (nix-build --check)"; }
    say "$attr: nix-build --check rebuilt it bit for bit"
done
