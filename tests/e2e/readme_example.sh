#!/bin/bash
# The README's copy-paste example of importing mkACI builds, validates and
# runs, and the README leads with exactly the two documented commands.
. "$(dirname "$0")/lib.sh"
need jq actool bwrap

readme=$repo/README.md
# The first code block is exactly the two commands.
first=$(awk '/^```/ { n++; next } n == 1' "$readme")
expected='./scripts/setup && nix-build -A busybox && ./result/postprocess.sh
./scripts/test'
[ "$first" = "$expected" ] || fail "README.md does not lead with the two commands; got: $first"

# The example, with the path changed to this repository, as a user would.
awk '/<!-- example:begin -->/ { on = 1; next } /<!-- example:end -->/ { on = 0 } on && !/^```/' "$readme" \
    | sed "s|/path/to/nix2aci|$repo|" >"$work/hello.nix"
grep -q mkACI "$work/hello.nix" || fail "no example found in README.md"
nix-build "$work/hello.nix" -o "$work/result" >/dev/null || fail "the README example does not build"
aci=$(image "$work/result")
[ "$(basename "$aci")" = hello-1.0.0-linux-amd64.aci ] || fail "the example built $(basename "$aci")"
validate "$aci"
extract "$aci" "$work/x"
jq -e '.name == "example.com/hello" and (.app.ports[0].port == 8080)
       and ([.app.mountPoints[] | select(.name == "data" and .path == "/var/lib/hello")] | length == 1)' \
    "$work/x/manifest" >/dev/null || fail "the example's manifest lacks its name, port or mount: $(cat "$work/x/manifest")"
got=$(run_app "$work/x") || fail "the example image does not run"
[ "$got" = "hello from nix2aci" ] || fail "the example printed '$got'"
say "README example builds, validates and prints '$got'"
