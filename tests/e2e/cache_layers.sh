#!/bin/bash
# cacheLayers = true: each store path's layer is its own derivation, found at
# evaluation time (a layer plan read back: import-from-derivation).
# - mkOCI and a layered mkACI of a small app on bash give the very same image
#   (manifest digest, image IDs, index) as without cacheLayers, with each
#   layer linked from a derivation of its own; oci-image-tool, skopeo and
#   umoci read the OCI image and bash runs from it; actool accepts every ACI
#   and mkaci verify checks the published layered app.
# - A one-line change of the app rebuilds only the app, the layer plan, the
#   app's own layer and the image; another image holding bash uses the very
#   same layer derivations.
# - It works in pure flake evaluation; a non-layered mkACI and a cacheLayers
#   that is not a boolean are refused with the fix; --check reproduces.
. "$(dirname "$0")/lib.sh"
need jq skopeo umoci oci-image-tool actool bwrap gpg nix-store

mkaci=$repo/target/x86_64-unknown-linux-gnu/release/mkaci

cat >"$work/cl.nix" <<NIX
{ generation ? "1" }:
let
  n = import $repo { offline = true; };
  inherit (n.pkgs) busybox bash;
  # A small app: a bash script whose text names the generation.
  app = derivation {
    name = "cl-app";
    system = builtins.currentSystem;
    builder = "\${busybox}/bin/busybox";
    args = [ "sh" "-euc" "mkdir -p \$out/bin; printf '%s' \"\$script\" > \$out/bin/app; chmod 0555 \$out/bin/app" ];
    script = "#!\${bash}/bin/bash\necho generation \${generation}\n";
  };
  common = { name = "localhost/cl/app"; version = "1"; packages = [ app ]; exec = [ "/bin/app" ]; };
in {
  inherit app;
  oci = n.mkOCI (common // { cacheLayers = true; });
  ociPlain = n.mkOCI common;
  aci = n.mkACI (common // { layered = true; cacheLayers = true; });
  aciPlain = n.mkACI (common // { layered = true; });
  # maxLayers = 3: one store layer of its own (glibc, the most popular), the
  # rest shared; and a declared layer (bash's libraries) beside the cache.
  ociSmall = n.mkOCI (common // { maxLayers = 3; cacheLayers = true; });
  ociSmallPlain = n.mkOCI (common // { maxLayers = 3; });
  ociDeclared = n.mkOCI (common // { layers = [ n.bashLibsLayer ]; cacheLayers = true; });
  ociDeclaredPlain = n.mkOCI (common // { layers = [ n.bashLibsLayer ]; });
  aciDeclared = n.mkACI (common // { layered = true; layers = [ n.bashLibsLayer ]; cacheLayers = true; });
  aciDeclaredPlain = n.mkACI (common // { layered = true; layers = [ n.bashLibsLayer ]; });
  # Another image that holds bash: it shares bash's layers.
  other = n.mkOCI { name = "localhost/cl/other"; packages = [ bash ]; exec = [ "/bin/bash" ]; cacheLayers = true; };
  otherAci = n.mkACI { name = "localhost/cl/other"; packages = [ bash ]; exec = [ "/bin/bash" ]; layered = true; cacheLayers = true; };
}
NIX

# built LOG: the derivations a nix-build log says it built, one per line.
built() { grep -o "^building '[^']*\.drv'" "$1" | sed "s/^building '//; s/'\$//" | sort; }
# layer_outs RESULT KIND: the cached layer outputs (aci-layer or oci-layer) a result references.
layer_outs() { nix-store -q --references "$1" | grep -- "-$2-layer\$" | sort || true; }

# 1. OCI: the same image as without cacheLayers, every store layer linked.
nix-build "$work/cl.nix" -A oci -o "$work/oci" >"$work/oci.log" 2>&1 || { cat "$work/oci.log" >&2; fail "the cacheLayers OCI image does not build"; }
nix-build "$work/cl.nix" -A ociPlain -o "$work/oci-plain" >/dev/null 2>&1 || fail "the plain OCI image does not build"
out=$(readlink -f "$work/oci")
for k in manifest config; do
    a=$(jq -r ".artifacts[0].digests.$k" "$out/nix2aci.json")
    b=$(jq -r ".artifacts[0].digests.$k" "$work/oci-plain/nix2aci.json")
    [ "$a" = "$b" ] || fail "the $k digest with cacheLayers ($a) differs from the one without ($b)"
done
lay=$out/$(jq -r '.artifacts[0].files.layout' "$out/nix2aci.json")
tag=$(jq -r '.artifacts[0].tag' "$out/nix2aci.json")
man=$(skopeo inspect --raw "oci:$lay:$tag") || fail "skopeo cannot read the image"
n=$(jq '.layers | length' <<<"$man")
cached=$(layer_outs "$out" oci)
[ "$(printf '%s\n' "$cached" | grep -c .)" = $((n - 1)) ] || fail "$((n - 1)) store layers but these cached layers: $cached"
# Each store layer's blob is a link into a cached layer's output.
for d in $(jq -r '.layers[:-1][].digest' <<<"$man"); do
    target=$(readlink "$lay/blobs/sha256/${d#sha256:}") || fail "the store layer $d is not a link"
    printf '%s\n' "$cached" | grep -qx "$(printf '%s' "$target" | cut -d/ -f1-4)" || fail "the store layer $d links to $target, not a cached layer"
done
oci-image-tool validate --type image --ref "name=$tag" "$lay" >/dev/null 2>&1 || fail "oci-image-tool rejects the image"
umoci unpack --rootless --image "$lay:$tag" "$work/bundle" >"$work/umoci.log" 2>&1 || { cat "$work/umoci.log" >&2; fail "umoci cannot unpack the image"; }
got=$(bwrap --bind "$work/bundle/rootfs" / --proc /proc --dev /dev --unshare-all --die-with-parent --clearenv -- /bin/app) \
    || fail "the app does not run from the bundle"
[ "$got" = "generation 1" ] || fail "the app printed '$got'"
say "OCI: the same manifest as without cacheLayers; $((n - 1)) store layers, each a link to its own derivation; valid, and the app runs"

# maxLayers and declared layers: the same images again; cached layers only
# for the paths that get a layer of their own.
same_oci() {  # ATTR PLAIN-ATTR WANT-CACHED
    local o p
    o=$(nix-build "$work/cl.nix" -A "$1" --no-out-link 2>"$work/$1.log") || { cat "$work/$1.log" >&2; fail "$1 does not build"; }
    p=$(nix-build "$work/cl.nix" -A "$2" --no-out-link 2>/dev/null) || fail "$2 does not build"
    [ "$(jq -c '.artifacts[0].digests' "$o/nix2aci.json")" = "$(jq -c '.artifacts[0].digests' "$p/nix2aci.json")" ] \
        || fail "$1 differs from $2: $(jq -c '.artifacts[0].digests' "$o/nix2aci.json" "$p/nix2aci.json")"
    [ "$(layer_outs "$o" oci | grep -c .)" = "$3" ] || fail "$1 links $(layer_outs "$o" oci | grep -c .) cached layers, expected $3"
}
same_oci ociSmall ociSmallPlain 1
same_oci ociDeclared ociDeclaredPlain 2
o=$(nix-build "$work/cl.nix" -A aciDeclared --no-out-link 2>"$work/aciDeclared.log") || { cat "$work/aciDeclared.log" >&2; fail "aciDeclared does not build"; }
p=$(nix-build "$work/cl.nix" -A aciDeclaredPlain --no-out-link 2>/dev/null) || fail "aciDeclaredPlain does not build"
cmp -s "$o/nix2aci.json" "$p/nix2aci.json" || fail "the layered ACI over a declared layer differs with cacheLayers"
[ "$(layer_outs "$o" aci | grep -c .)" = 2 ] || fail "the layered ACI over a declared layer links $(layer_outs "$o" aci | grep -c .) cached layers, expected 2 (app, bash)"
say "maxLayers = 3 gives one cached layer (glibc) and the same image; beside a declared layer only the app and bash are cached, the same images"

# 2. Layered ACI: the same images and index as without cacheLayers.
nix-build "$work/cl.nix" -A aci -o "$work/aci" >"$work/aci.log" 2>&1 || { cat "$work/aci.log" >&2; fail "the cacheLayers ACI does not build"; }
nix-build "$work/cl.nix" -A aciPlain -o "$work/aci-plain" >/dev/null 2>&1 || fail "the plain layered ACI does not build"
aout=$(readlink -f "$work/aci")
cmp -s "$aout/nix2aci.json" "$work/aci-plain/nix2aci.json" || fail "the index with cacheLayers differs: $(diff "$aout/nix2aci.json" "$work/aci-plain/nix2aci.json")"
ndeps=0
for f in $(jq -r '.artifacts[].files.image' "$aout/nix2aci.json"); do
    cmp -s "$aout/$f" "$work/aci-plain/$f" || fail "$f with cacheLayers differs from the one without"
    actool validate "$aout/$f" >/dev/null 2>&1 || fail "actool rejects $f"
    if [ -L "$aout/$f" ]; then ndeps=$((ndeps + 1)); fi
done
acached=$(layer_outs "$aout" aci)
[ "$ndeps" -ge 3 ] && [ "$(printf '%s\n' "$acached" | grep -c .)" = "$ndeps" ] \
    || fail "$ndeps linked dependency images, but these cached layers: $acached"
# A signing key of the test's own.
export GNUPGHOME="$work/gnupg"
trap 'gpgconf --kill gpg-agent >/dev/null 2>&1; cleanup' EXIT
"$repo/scripts/ensure-signing-key" >/dev/null 2>&1 || fail "scripts/ensure-signing-key could not make a key"
(cd "$work" && "$aout/postprocess.sh" "$work/ACIs") >"$work/pp.log" 2>&1 || { cat "$work/pp.log" >&2; fail "postprocess.sh of the layered app failed"; }
app_aci=$(jq -r '.artifacts[0].files.image' "$aout/nix2aci.json")
"$mkaci" verify "$work/ACIs/$app_aci" >"$work/verify.log" 2>&1 || { cat "$work/verify.log" >&2; fail "mkaci verify of the layered app failed"; }
grep -q "dependencies: $ndeps pinned" "$work/verify.log" || fail "mkaci verify did not check the $ndeps dependencies: $(cat "$work/verify.log")"
say "layered ACI: the same $((ndeps + 1)) images and index as without cacheLayers, $ndeps dependencies linked from their own derivations; actool and mkaci verify accept them"

# 3. Another image holding bash uses the very same layer derivations.
nix-build "$work/cl.nix" -A other -o "$work/other" >/dev/null 2>&1 || fail "the other OCI image does not build"
nix-build "$work/cl.nix" -A otherAci -o "$work/other-aci" >/dev/null 2>&1 || fail "the other layered ACI does not build"
shared=$(comm -12 <(printf '%s\n' "$cached") <(layer_outs "$(readlink -f "$work/other")" oci))
[ "$(printf '%s\n' "$shared" | grep -c .)" = $((n - 2)) ] || fail "the two OCI images share these layers: $shared; expected every one but the app's"
ashared=$(comm -12 <(printf '%s\n' "$acached") <(layer_outs "$(readlink -f "$work/other-aci")" aci))
[ "$(printf '%s\n' "$ashared" | grep -c .)" = $((ndeps - 1)) ] || fail "the two ACIs share these layers: $ashared; expected every one but the app's"
say "another image holding bash shares $((n - 2)) OCI layers and $((ndeps - 1)) dependency ACIs with the app's"

# 4. A one-line change rebuilds the app, the layer plan, the app's layer and the image only.
# A generation no earlier run built.
gen=$(date +%s%N)
for k in oci aci; do
    nix-build "$work/cl.nix" -A "$k" --argstr generation "$gen" --no-out-link >"$work/$k-2.log" 2>&1 \
        || { cat "$work/$k-2.log" >&2; fail "the changed $k image does not build"; }
    names=$(built "$work/$k-2.log" | sed 's|^/nix/store/[a-z0-9]*-||; s|\.drv$||' | sort | tr '\n' ' ')
    case $k in
        oci) want="app-layer-plan-1 app-oci-1 cl-app cl-app-oci-layer " ;;
        aci) want="app-aci-1 app-layer-plan-1 cl-app-aci-layer " ;;
    esac
    [ "$names" = "$want" ] || fail "the one-line change built: $names; expected: $want"
done
say "a one-line change of the app builds only the app, the layer plan, the app's layer and the image"

# 5. Pure flake evaluation: a flake of its own that takes nix2aci as an
# input and builds both kinds with cacheLayers (the stand-in as nixpkgs).
make_standin "$work/standin"
mkdir -p "$work/userflake"
cat >"$work/userflake/flake.nix" <<NIX
{
  inputs.nix2aci.url = "git+file://$repo";
  outputs = { self, nix2aci }:
    let
      mkaci = nix2aci.packages.x86_64-linux.mkaci;
      common = { packages = [ mkaci ]; exec = [ "/bin/mkaci" ]; cacheLayers = true; };
    in {
      packages.x86_64-linux.oci = nix2aci.lib.mkOCI { inherit mkaci; } common;
      packages.x86_64-linux.aci = nix2aci.lib.mkACI { inherit mkaci; } (common // { layered = true; });
    };
}
NIX
fl=(--no-write-lock-file --override-input nix2aci/nixpkgs "path:$work/standin")
for k in oci aci; do
    nix build "${fl[@]}" "path:$work/userflake#$k" -o "$work/flake-$k" >"$work/flake.log" 2>&1 \
        || { cat "$work/flake.log" >&2; fail "a flake's $k image with cacheLayers does not build in pure evaluation"; }
    [ -n "$(layer_outs "$(readlink -f "$work/flake-$k")" "$k")" ] || fail "the flake's $k image links no cached layer"
done
say "pure flake evaluation: a flake using lib.mkOCI and lib.mkACI with cacheLayers builds both"

# 6. Refusals.
refuses() {
    local err
    if err=$(nix-instantiate --eval --strict -E "let n = import $repo { offline = true; }; in ($1).drvPath" 2>&1); then
        fail "accepted: $1"
    fi
    case $err in *"$2"*) ;; *) fail "$1: error lacks '$2': $err" ;; esac
}
refuses 'n.mkACI { packages = [ n.pkgs.bash ]; exec = [ "/bin/bash" ]; cacheLayers = true; }' \
    'mkACI: `cacheLayers = true` caches the per-path dependency images of a layered image, and this image is not layered; set layered = true'
refuses 'n.mkOCI { packages = [ n.pkgs.bash ]; exec = [ "/bin/bash" ]; cacheLayers = "yes"; }' \
    'mkOCI: `cacheLayers` must be true or false, got "yes"'
refuses 'n.mkACI { packages = [ n.pkgs.bash ]; exec = [ "/bin/bash" ]; layered = true; cacheLayers = 1; }' \
    '`cacheLayers` must be true or false, got 1'
say "a non-layered mkACI and a cacheLayers that is not a boolean are refused with the fix"

# 7. Reproducible: the image and a cached layer of each kind, again with --check.
for k in oci aci; do
    nix-build "$work/cl.nix" -A "$k" --check --no-out-link >"$work/check.log" 2>&1 || { cat "$work/check.log" >&2; fail "nix-build --check of the $k image failed"; }
done
for l in "$(printf '%s\n' "$cached" | head -1)" "$(printf '%s\n' "$acached" | head -1)"; do
    nix-build "$(nix-store -q --deriver "$l")" --check --no-out-link >"$work/check.log" 2>&1 \
        || { cat "$work/check.log" >&2; fail "nix-build --check of the layer $l failed"; }
done
say "nix-build --check reproduces both images and a cached layer of each kind"
