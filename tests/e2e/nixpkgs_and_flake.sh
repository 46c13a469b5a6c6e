#!/bin/bash
# The nixpkgs code paths, tested offline with a stand-in for nixpkgs
# (tests/e2e/nixpkgs-standin: the offline packages behind nixpkgs' interface):
# <nixpkgs> on NIX_PATH switches default.nix to nixpkgs mode, and flake.nix
# gives lib.mkACI, overlays.default and packages with --override-input, in
# pure evaluation, against a self-contained copy of the stand-in (make_standin).
. "$(dirname "$0")/lib.sh"
need jq actool

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

# flake.nix in pure evaluation (no --impure), with a self-contained copy of
# the stand-in as nixpkgs: it carries copies of the host files it reads.
make_standin "$work/standin"
flake=git+file://$repo
fl=(--no-write-lock-file --override-input nixpkgs "path:$work/standin")
attrs=$(nix eval "${fl[@]}" "$flake#packages.x86_64-linux" --apply builtins.attrNames --json 2>"$work/eval.log") \
    || { cat "$work/eval.log" >&2; fail "nix eval $flake#packages.x86_64-linux failed in pure mode"; }
for a in mkaci busybox busyboxThin busyboxStatic bash default; do
    printf '%s' "$attrs" | jq -e --arg a "$a" 'index($a) != null' >/dev/null || fail "flake packages lack $a: $attrs"
done
nix build "${fl[@]}" "$flake#busybox" -o "$work/result-flake" 2>"$work/build.log" \
    || { cat "$work/build.log" >&2; fail "nix build $flake#busybox failed in pure mode"; }
validate "$(image "$work/result-flake")"
# The copies give the very same store paths as the host's files.
[ "$(readlink -f "$work/result-flake")" = "$(readlink -f "$work/result-nixpkgs")" ] \
    || fail "the pure flake's busybox $(readlink -f "$work/result-flake") differs from default.nix's with <nixpkgs> $(readlink -f "$work/result-nixpkgs")"
nix-build "$repo" -A busybox -o "$work/result-offline" >/dev/null || fail "nix-build -A busybox (offline) failed"
[ "$(readlink -f "$work/result-flake")" = "$(readlink -f "$work/result-offline")" ] \
    || fail "the pure flake's busybox differs from default.nix's offline one"
nix build "${fl[@]}" "$flake#packages.x86_64-linux.bash" -o "$work/result-flake-bash" 2>"$work/build.log" \
    || { cat "$work/build.log" >&2; fail "nix build $flake#packages.x86_64-linux.bash failed in pure mode"; }
validate "$(image "$work/result-flake-bash")"
say "flake.nix, pure: packages.x86_64-linux = $attrs; #busybox (the same store path as default.nix's) and #packages.x86_64-linux.bash build"

# flake.lock pins nixpkgs, and its original matches flake.nix's input (else
# Nix would lock again, which needs the network); an overridden input is not fetched.
jq -e '.version == 7 and .nodes.nixpkgs.locked.type == "github" and (.nodes.nixpkgs.locked.rev | test("^[0-9a-f]{40}$"))
       and (.nodes.nixpkgs.locked.narHash | startswith("sha256-"))' "$repo/flake.lock" >/dev/null \
    || fail "flake.lock does not pin nixpkgs to a GitHub revision with a narHash"
nix flake metadata --json --no-write-lock-file "$flake" 2>"$work/meta.log" >"$work/meta.json" \
    || { cat "$work/meta.log" >&2; fail "nix flake metadata fails offline: flake.lock does not match flake.nix"; }
jq -e --slurpfile lock "$repo/flake.lock" '.locks.nodes.nixpkgs.locked == $lock[0].nodes.nixpkgs.locked' "$work/meta.json" >/dev/null \
    || fail "Nix does not use flake.lock's nixpkgs as it is: $(cat "$work/meta.json")"
# The README's offline recipes, as written, run from the repository: a
# nixpkgs by path, and the nixpkgs of NIX_PATH (here both the stand-in).
recipes=$(grep -- '^nix build .#busybox --no-write-lock-file --override-input nixpkgs ' "$repo/README.md")
[ "$(printf '%s\n' "$recipes" | wc -l)" = 2 ] || fail "README.md lacks the two offline flake recipes: $recipes"
i=0
while IFS= read -r recipe; do
    i=$((i + 1))
    (cd "$repo" && NIX_PATH=nixpkgs=$work/standin eval "${recipe//\/path\/to\/nixpkgs/$work/standin}" -o "$work/result-recipe-$i") \
        >"$work/recipe.log" 2>&1 || { cat "$work/recipe.log" >&2; fail "the README's recipe fails offline: $recipe"; }
    [ "$(readlink -f "$work/result-recipe-$i")" = "$(readlink -f "$work/result-flake")" ] \
        || fail "the README's recipe built another busybox: $recipe"
done <<<"$recipes"
git -C "$repo" diff --quiet -- flake.lock || fail "a recipe changed flake.lock"
say "flake.lock pins nixpkgs; the README's offline recipes build #busybox with nothing fetched"

# Every output evaluates in pure mode.
nix flake show "${fl[@]}" "$flake" >"$work/show.log" 2>&1 || { cat "$work/show.log" >&2; fail "nix flake show fails in pure mode"; }
for p in $(printf '%s' "$attrs" | jq -r '.[]'); do
    nix eval "${fl[@]}" --raw "$flake#packages.x86_64-linux.$p.drvPath" >/dev/null 2>"$work/eval.log" \
        || { cat "$work/eval.log" >&2; fail "packages.x86_64-linux.$p does not evaluate in pure mode"; }
done
fake_mkaci=/nix/store/00000000000000000000000000000000-mkaci
hello=/nix/store/11111111111111111111111111111111-hello-2.12
name=$(nix eval --raw "${fl[@]}" "$flake#lib.mkACI" 2>"$work/eval.log" --apply \
    "mkACI: (mkACI { mkaci = \"$fake_mkaci\"; system = \"aarch64-linux\"; }
             { packages = [ \"$hello\" ]; exec = \"/bin/hello\"; }).imageFileName") \
    || { cat "$work/eval.log" >&2; fail "lib.mkACI cannot be called in pure mode"; }
[ "$name" = hello-2.12-linux-aarch64.aci ] || fail "lib.mkACI { system = \"aarch64-linux\"; } gave $name"
# system defaults to mkaci's.
name=$(nix eval --raw "${fl[@]}" "$flake#lib.mkACI" 2>"$work/eval.log" --apply \
    "mkACI: (mkACI { mkaci = { outPath = \"$fake_mkaci\"; system = \"i686-linux\"; }; }
             { packages = [ \"$hello\" ]; exec = \"/bin/hello\"; }).imageFileName") \
    || { cat "$work/eval.log" >&2; fail "lib.mkACI without system cannot be called in pure mode"; }
[ "$name" = hello-2.12-linux-i386.aci ] || fail "lib.mkACI without system gave $name, not mkaci.system's"
# The overlay takes mkaci from callPackage and the system from stdenv.hostPlatform.
name=$(nix eval --raw "${fl[@]}" "$flake#overlays.default" 2>"$work/eval.log" --apply \
    "overlay: let
       prev = { stdenv.hostPlatform.system = \"aarch64-linux\";
                callPackage = fn: args: { outPath = \"$fake_mkaci\"; system = \"x86_64-linux\"; }; };
       final = prev // overlay final prev; in
       (final.mkACI { packages = [ \"$hello\" ]; exec = \"/bin/hello\"; }).imageFileName") \
    || { cat "$work/eval.log" >&2; fail "overlays.default cannot be applied in pure mode"; }
[ "$name" = hello-2.12-linux-aarch64.aci ] || fail "overlays.default's mkACI gave $name, not for stdenv.hostPlatform.system"
say "flake.nix, pure: nix flake show, every package, lib.mkACI and overlays.default evaluate"
# The overlay on the stand-in itself (callPackage runs nix/mkaci.nix), through flake.nix's outputs.
name=$(nix-instantiate --eval --json -E "
    let o = (import $repo/flake.nix).outputs { self = o; nixpkgs.legacyPackages = { }; };
        prev = import $repo/tests/e2e/nixpkgs-standin { system = \"x86_64-linux\"; };
        final = prev // o.overlays.default final prev; in
    (final.mkACI { packages = [ final.bash ]; exec = \"/bin/bash\"; }).imageFileName" | jq -r .) \
    || fail "overlays.default cannot be applied to the stand-in"
case $name in bash-*-linux-amd64.aci) ;; *) fail "overlays.default's mkACI on the stand-in gave $name" ;; esac
say "flake.nix: overlays.default on the stand-in gives $name"
