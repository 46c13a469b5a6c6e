#!/bin/bash
# The docs never call a feature missing that exists: for every function and
# package nix2aci exports (default.nix and its package set), no sentence in
# README.md or docs/ says "no X", "has no X" or "X ... not yet" of it. And the
# check finds such a sentence when one is planted.
. "$(dirname "$0")/lib.sh"
need nix-instantiate jq

names=$(nix-instantiate --eval --json --strict -E "
  let n = import $repo { offline = true; }; in
  builtins.filter (a: builtins.match \"[a-zA-Z]+\" a != null)
    (builtins.attrNames n ++ builtins.attrNames n.pkgs)" | jq -r '.[]' | sort -u)
echo "$names" | grep -qx mkLayer || fail "default.nix exports no mkLayer; the list is: $names"

# claims FILE...: the lines that call an exported name missing.
claims() {
    local n
    for n in $names; do
        grep -HnE "(no|without) \`?$n\`?([^A-Za-z]|$)|\`?$n\`? (is )?(not|does not exist) (yet|available)|not have \`?$n\`?([^A-Za-z]|$)" "$@" \
            | grep -vE "(no|without) \`?$n\`? (argument|attribute|package|image|layer)s? " || true
    done
}

found=$(claims "$repo/README.md" "$repo"/docs/*.md)
[ -z "$found" ] || fail "the docs call these missing, but nix2aci has them:
$found"

printf 'nix2aci has no `mkLayer` yet, so layers are rebuilt.\n' >"$work/planted.md"
[ -n "$(claims "$work/planted.md")" ] || fail "the check does not find a planted 'no mkLayer'"
say "ok: no doc calls any of $(echo "$names" | wc -l) exported names missing; a planted claim is found"
