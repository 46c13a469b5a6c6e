#!/bin/bash
# Layered ACIs end to end, with the real tools:
# - busyboxLayered: one dependency ACI per store path; actool accepts every
#   image; the app pins each dependency's image ID and size; the rootfs
#   rendered from the dependencies and the app runs under bwrap;
#   nix-build --check reproduces it.
# - another image with the same store path and prefix gives the same
#   dependency bytes (same image ID).
# - a declared layer (bashLibsLayer) is built once: images that list it
#   build nothing for it, and link to its output.
# - postprocess.sh signs and publishes every image (and the declared layer's
#   own SBOM); mkaci verify checks the pinned dependencies, and names one
#   that is missing, and the layer's SBOM.
# - the real rkt fetches every image from the files (signatures verified)
#   and runs the apps; two images sharing a store path leave one dependency
#   image in rkt's store.
. "$(dirname "$0")/lib.sh"
need actool bwrap jq gpg sha256sum
. "$(dirname "$0")/rkt_lib.sh"

# acis RESULT: every .aci in a result, the app (kind aci) first.
acis() { jq -r '.artifacts | sort_by(.kind != "aci") | .[].files.image' "$1/nix2aci.json" | sed "s|^|$1/|"; }

# 1. busyboxLayered.
out=$(build busyboxLayered)
n=$(acis "$out" | wc -l)
[ "$n" -ge 2 ] || fail "busyboxLayered: expected the app and at least one dependency image, got $n"
for a in $(acis "$out"); do validate "$a"; done
app=$(acis "$out" | head -n 1)
extract "$app" "$work/app"
deps=$(jq -c '.dependencies' "$work/app/manifest")
[ "$(jq length <<<"$deps")" = "$((n - 1))" ] || fail "the app pins $(jq length <<<"$deps") dependencies, the result has $((n - 1)): $deps"
[ -z "$(find "$work/app/rootfs/nix/store" -mindepth 1 -maxdepth 1)" ] || fail "the layered app image holds store paths itself"
for i in $(seq 0 $((n - 2))); do
    d=$(jq -c ".[$i]" <<<"$deps")
    name=$(jq -r .imageName <<<"$d")
    f=$(jq -r --arg n "$name" '.artifacts[] | select(.name == $n) | .files.image' "$out/nix2aci.json")
    [ -n "$f" ] || fail "dependency $name is not in the result's index"
    [ "$(jq -r .imageID <<<"$d")" = "$(cat "$out/${f%.aci}.id")" ] || fail "$name: pinned image ID differs from its .id"
    [ "$(jq -r .size <<<"$d")" = "$(stat -c %s "$out/$f")" ] || fail "$name: pinned size differs from the file's"
    [ "$(jq -r '[.labels[].name] | sort | join(",")' <<<"$d")" = "arch,os" ] || fail "$name: labels are not os and arch: $d"
    case $name in busybox/nix/store/*) ;; *) fail "dependency name $name is not under the default prefix busybox/nix/store" ;; esac
    # Render: dependencies first, in manifest order, then the app.
    tar -xf "$out/$f" -C "$work/app" rootfs || fail "cannot extract $f"
done
tar -xf "$app" -C "$work/app" rootfs
say "busyboxLayered: $((n - 1)) dependency image(s), pinned by ID and size, all accepted by actool"
got=$(bwrap --bind "$work/app/rootfs" / --proc /proc --dev /dev /bin/busybox echo layered-ok) ||
    fail "the rendered layered rootfs does not run under bwrap"
[ "$got" = layered-ok ] || fail "bwrap printed '$got'"
say "busyboxLayered: the rendered rootfs runs under bwrap"
nix-build "$repo" -A busyboxLayered --check >/dev/null 2>"$work/check.log" ||
    fail "nix-build --check does not reproduce busyboxLayered: $(tail -n 5 "$work/check.log")"
say "busyboxLayered: nix-build --check reproduces every image"

# 2. The same store path with the same prefix: the same dependency bytes.
cat >"$work/two.nix" <<EOF
let n = import $repo { }; in
n.mkACI { packages = [ n.pkgs.busybox ]; name = "busybox-two"; exec = [ "/bin/busybox" "echo" "two" ];
  layered = true; layerPrefix = "busybox/nix/store"; }
EOF
two=$(nix-build "$work/two.nix" -o "$work/result-two") || fail "cannot build the second layered image"
two=$(readlink -f "$two")
for f in $(jq -r '.artifacts[] | select(.kind == "dependency-aci") | .files.image' "$two/nix2aci.json"); do
    [ -f "$out/$f" ] || fail "busybox-two's dependency $f is not one of busyboxLayered's"
    [ "$(sha256sum <"$two/$f")" = "$(sha256sum <"$out/$f")" ] || fail "$f differs between the two images"
done
say "busybox-two shares busyboxLayered's dependency images byte for byte"

# 3. A declared layer is built once.
layer=$(build bashLibsLayer)
jq -e '.artifacts | length == 1 and .[0].kind == "dependency-aci" and (.[0].storePaths | length) >= 1' \
    "$layer/nix2aci.json" >/dev/null || fail "bashLibsLayer's index is not one dependency ACI with its store paths"
validate "$layer"/*.aci
nix-build "$repo" -A bashLayered -o "$work/result-bashLayered" >/dev/null 2>"$work/bash.log" ||
    fail "nix-build -A bashLayered failed: $(tail -n 5 "$work/bash.log")"
bash_out=$(readlink -f "$work/result-bashLayered")
grep -q 'layer.*\.drv' "$work/bash.log" && fail "building bashLayered rebuilt the layer: $(grep layer "$work/bash.log")"
lf=$(jq -r '.artifacts[0].files.image' "$layer/nix2aci.json")
[ "$(readlink -f "$bash_out/$lf")" = "$layer/$lf" ] || fail "bashLayered does not link to the layer's image"
extract "$(acis "$bash_out" | head -n 1)" "$work/bash"
[ "$(jq -r '.dependencies[0].imageName' "$work/bash/manifest")" = bash/layers/libs ] ||
    fail "bashLayered's first dependency is not the declared layer: $(jq -c .dependencies "$work/bash/manifest")"
for s in $(jq -r '.artifacts[0].storePaths[]' "$layer/nix2aci.json"); do
    jq -e --arg s "$s" '[.artifacts[] | select(.kind == "dependency-aci" and (.storePaths | index($s)))] | length == 1' \
        "$bash_out/nix2aci.json" >/dev/null || fail "$s is in a per-path dependency as well as in the layer"
done
say "bashLayered links to the already built layer (not rebuilt) and leaves its store paths out"

# The README's layered example builds: the layer first, then bash.
awk '/<!-- layered-example:begin -->/ { on = 1; next } /<!-- layered-example:end -->/ { on = 0 } on && !/^```/' \
    "$repo/README.md" | sed "s|import \./\. |import $repo |" >"$work/readme.nix"
grep -q mkLayer "$work/readme.nix" || fail "README.md has no layered example between its markers"
readme_out=$(nix-build "$work/readme.nix" -o "$work/result-readme" 2>"$work/readme.log") ||
    fail "the README's layered example does not build: $(tail -n 5 "$work/readme.log")"
jq -e '[.artifacts[] | select(.kind == "dependency-aci")] | length >= 2' "$readme_out/nix2aci.json" >/dev/null ||
    fail "the README's layered example has no layer and per-path dependencies"
say "the README's layered example builds"

# 4. Publish and verify.
for r in "$out" "$bash_out" "$two"; do
    (cd "$work" && "$r/postprocess.sh" "$ACIS") >"$work/pp.log" 2>&1 || fail "postprocess.sh of $r failed: $(tail -n 5 "$work/pp.log")"
done
for r in "$out" "$bash_out" "$two"; do
    for f in $(jq -r '.artifacts[].files.image' "$r/nix2aci.json"); do
        [ -f "$ACIS/$f" ] && [ -f "$ACIS/$f.asc" ] || fail "postprocess.sh did not publish and sign $f"
    done
done
# Two results sharing a dependency image, in one run: published once.
"$repo/target/x86_64-unknown-linux-gnu/release/mkaci" postprocess --copy -- "$work/ACIs-one-run" "$out" "$two" \
    >"$work/pp.log" 2>&1 || fail "postprocess of two results sharing a dependency failed: $(tail -n 5 "$work/pp.log")"
[ "$(find "$work/ACIs-one-run" -name '*.aci' | wc -l)" = 3 ] ||
    fail "two apps sharing one dependency should publish 3 images in one run: $(ls "$work/ACIs-one-run")"
gpg --import "$ACIS/pubkeys.gpg" 2>/dev/null
app_pub=$ACIS/$(basename "$app")
"$repo/target/x86_64-unknown-linux-gnu/release/mkaci" verify "$app_pub" >"$work/verify.log" 2>&1 ||
    fail "mkaci verify of the layered app failed: $(cat "$work/verify.log")"
grep -q 'dependencies: 1 pinned' "$work/verify.log" || fail "mkaci verify did not check the dependency: $(cat "$work/verify.log")"
dep_pub=$ACIS/$(jq -r '.artifacts[] | select(.kind == "dependency-aci") | .files.image' "$out/nix2aci.json" | head -n 1)
mv "$dep_pub" "$work/moved.aci"
if "$repo/target/x86_64-unknown-linux-gnu/release/mkaci" verify "$app_pub" >"$work/verify.log" 2>&1; then
    fail "mkaci verify passed with a dependency missing"
fi
grep -q 'depends on busybox/nix/store/' "$work/verify.log" || fail "mkaci verify's message does not name the dependency: $(cat "$work/verify.log")"
mv "$work/moved.aci" "$dep_pub"
say "mkaci verify checks the pinned dependencies and names a missing one"
# The declared layer has its own SBOM, published beside it and checked by verify.
layer_pub=$ACIS/$lf
layer_sbom=$(jq -r '.artifacts[0].files.sbom' "$layer/nix2aci.json")
[ -f "$ACIS/$layer_sbom" ] || fail "postprocess.sh did not publish the layer's SBOM $layer_sbom"
"$repo/target/x86_64-unknown-linux-gnu/release/mkaci" verify "$layer_pub" >"$work/verify.log" 2>&1 ||
    fail "mkaci verify of the layer failed: $(cat "$work/verify.log")"
grep -q "closure:   $ACIS/$layer_sbom matches the pinned sha256-" "$work/verify.log" ||
    fail "mkaci verify did not check the layer's SBOM: $(cat "$work/verify.log")"
for s in $(jq -r '.artifacts[0].storePaths[]' "$layer/nix2aci.json"); do
    jq -e --arg s "$s" '[.paths[] | select(.path == $s and .placement.kind == "contents")] | length == 1' \
        "$ACIS/$layer_sbom" >/dev/null || fail "the layer's SBOM does not list $s inside it"
done
say "the declared layer's own SBOM lists its store paths, is published beside it, and verify checks it"

# 5. rkt: fetch every image from the files (the dependencies first: rkt
# looks an app's dependencies up in its store, else by discovery), run the apps.
rk_ok "trust busybox" trust --prefix=busybox --skip-fingerprint-review "$ACIS/pubkeys.gpg"
rk_ok "trust bash" trust --prefix=bash --skip-fingerprint-review "$ACIS/pubkeys.gpg"
rk_ok "trust busybox-two" trust --prefix=busybox-two --skip-fingerprint-review "$ACIS/pubkeys.gpg"
for r in "$out" "$bash_out" "$two"; do
    for f in $(acis "$r" | tac); do
        f=$(basename "$f")
        rk_ok "fetch $f" fetch --pull-policy=new "$ACIS/$f"
        grep -q 'signature verified' "$work/err" || fail "rkt fetch $f did not verify its signature$(said)"
    done
done
say "rkt fetched every image of the three results, verifying each signature"
expect_output "rkt run busyboxLayered" rkt-layered "$app_pub" --exec /bin/busybox -- echo rkt-layered
expect_output "rkt run busybox-two" two "$ACIS/$(basename "$(acis "$two" | head -n 1)")"
expect_output "rkt run bashLayered" bash-layered "$ACIS/$(basename "$(acis "$bash_out" | head -n 1)")" \
    --exec /bin/bash -- -c 'echo bash-layered'
rk_ok "image list" image list --no-legend --fields=name
shared=$(grep -c '^busybox/nix/store/' "$work/out")
[ "$shared" = 1 ] || fail "rkt's store holds $shared busybox/nix/store/ images for two images sharing one store path$(said)"
say "two images sharing a store path left one dependency image in rkt's store"
