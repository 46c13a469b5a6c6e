#!/bin/bash
# The nixpkgs code paths, tested offline with a stand-in for nixpkgs
# (tests/e2e/nixpkgs-standin: the offline packages behind nixpkgs' interface):
# <nixpkgs> on NIX_PATH switches default.nix to nixpkgs mode, and flake.nix
# gives lib.mkACI, overlays.default and packages with --override-input.
. "$(dirname "$0")/lib.sh"

standin=$repo/tests/e2e/nixpkgs-standin
export NIX2ACI_REPO=$repo

# default.nix: offline exactly when <nixpkgs> is not found.
[ "$(nix-instantiate --eval "$repo" -A offline)" = true ] || fail "default.nix is not offline without <nixpkgs>"
[ "$(NIX_PATH=nixpkgs=$standin nix-instantiate --eval "$repo" -A offline)" = false ] \
    || fail "default.nix stays offline although <nixpkgs> is on NIX_PATH"
[ "$(NIX_PATH=nixpkgs=$standin nix-instantiate --eval "$repo" -A offline --arg offline true)" = true ] \
    || fail "offline = true is ignored"
# nix/mkaci.nix is called through callPackage; the stand-in's buildRustPackage
# asserts on the lock file and the filtered sources.
NIX_PATH=nixpkgs=$standin nix-build "$repo" -A busybox -o "$work/result-nixpkgs" >/dev/null \
    || fail "nix-build -A busybox with <nixpkgs> failed"
validate "$(image "$work/result-nixpkgs")"
say "default.nix: <nixpkgs> found -> nixpkgs mode; busybox builds through nix/mkaci.nix"

# The filtered source nix/mkaci.nix hands to buildRustPackage is a complete
# crate whose Cargo.lock is current (what cargoLock.lockFile needs).
src=$(NIX_PATH=nixpkgs=$standin nix-instantiate --read-write-mode --eval "$repo" -A mkaci.src | jq -r .)
cargo=$(command -v cargo || echo "$HOME/.cargo/bin/cargo")
"$cargo" fetch --offline --locked --target "$(uname -m)-unknown-linux-gnu" --manifest-path "$src/Cargo.toml" >/dev/null 2>"$work/fetch.log" \
    || { cat "$work/fetch.log" >&2; fail "nix/mkaci.nix's source $src is not a buildable crate"; }
say "nix/mkaci.nix: the filtered source is a complete crate with a current Cargo.lock"

# flake.nix, with the stand-in as nixpkgs.
flake=git+file://$repo
fl=(--impure --no-write-lock-file --override-input nixpkgs "path:$standin")
attrs=$(nix eval "${fl[@]}" "$flake#packages.x86_64-linux" --apply builtins.attrNames --json 2>/dev/null) \
    || fail "nix eval $flake#packages.x86_64-linux failed"
for a in mkaci busybox busyboxThin busyboxStatic bash default; do
    printf '%s' "$attrs" | jq -e --arg a "$a" 'index($a) != null' >/dev/null || fail "flake packages lack $a: $attrs"
done
nix build "${fl[@]}" "$flake#busybox" -o "$work/result-flake" 2>/dev/null || fail "nix build $flake#busybox failed"
validate "$(image "$work/result-flake")"
[ "$(readlink -f "$work/result-flake")" = "$(readlink -f "$work/result-nixpkgs")" ] \
    || fail "the flake's busybox differs from default.nix's with the same nixpkgs"
say "flake.nix: packages.x86_64-linux = $attrs; #busybox builds"

name=$(nix eval --raw "${fl[@]}" "$flake#lib.mkACI" 2>/dev/null --apply \
    'mkACI: (mkACI { mkaci = "/nix/store/00000000000000000000000000000000-mkaci"; }
             { packages = [ "/nix/store/11111111111111111111111111111111-hello-2.12" ]; exec = "/bin/hello"; }).imageFileName') \
    || fail "lib.mkACI cannot be called"
[ "$name" = hello-2.12-linux-amd64.aci ] || fail "lib.mkACI gave $name"
name=$(nix eval --raw "${fl[@]}" "$flake#overlays.default" 2>/dev/null --apply \
    "overlay: let prev = import $standin { }; final = prev // overlay final prev; in
       (final.mkACI { packages = [ final.bash ]; exec = \"/bin/bash\"; }).imageFileName") || fail "overlays.default cannot be applied"
case $name in bash-*-linux-amd64.aci) ;; *) fail "overlays.default's mkACI gave $name" ;; esac
say "flake.nix: lib.mkACI and overlays.default work"
