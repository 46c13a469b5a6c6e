#!/bin/bash
# Declared layers for OCI images: bashLayeredOCI lists bashLibsLayer, the
# same mkLayer value the layered ACI bashLayered uses.
# - The layer's `oci` is an image layout of one layer that lists its store
#   paths; the image's bottom layer is that blob (a link to it, the same
#   digest and diff_id), and its store paths are in no other layer.
# - oci-image-tool validates the image, umoci unpacks it and bash runs from
#   the bundle under bwrap; postprocess publishes it and mkaci verify checks
#   every digest; podman loads it.
# - A one-line change rebuilds the image only, never the layer.
# - Evaluation refuses what is not a layer, a layer compressed with xz and a
#   maxLayers with no room beside the declared layers.
. "$(dirname "$0")/lib.sh"
need jq skopeo umoci oci-image-tool podman bwrap nix-store

mkaci=$repo/target/x86_64-unknown-linux-gnu/release/mkaci

# The layer for OCI.
layer=$(nix-build "$repo" -A bashLibsLayer.oci -o "$work/layer" 2>/dev/null) || fail "nix-build -A bashLibsLayer.oci failed"
jq -e '.artifacts | length == 1 and .[0].kind == "oci-layout" and .[0].layers == 1 and (.[0].storePaths | length) >= 2' \
    "$layer/nix2aci.json" >/dev/null || fail "the OCI layer's index is not one layout of one layer with its store paths: $(cat "$layer/nix2aci.json")"
llay=$layer/$(jq -r '.artifacts[0].files.layout' "$layer/nix2aci.json")
ltag=$(jq -r '.artifacts[0].tag' "$layer/nix2aci.json")
oci-image-tool validate --type image --ref "name=$ltag" "$llay" >/dev/null 2>&1 || fail "oci-image-tool rejects the layer's layout"
lman=$(skopeo inspect --raw "oci:$llay:$ltag") || fail "skopeo cannot read the layer's layout"
lblob=$(jq -r '.layers[0].digest' <<<"$lman")
lcfg=$(skopeo inspect --config --raw "oci:$llay:$ltag")
ldiff=$(jq -r '.rootfs.diff_ids[0]' <<<"$lcfg")
say "bashLibsLayer.oci: one layer $lblob, $(jq -r '.artifacts[0].storePaths | length' "$layer/nix2aci.json") store paths"

# The image over it.
nix-build "$repo" -A bashLayeredOCI -o "$work/img" >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "nix-build -A bashLayeredOCI failed"; }
out=$(readlink -f "$work/img")
lay=$out/$(jq -r '.artifacts[0].files.layout' "$out/nix2aci.json")
tag=$(jq -r '.artifacts[0].tag' "$out/nix2aci.json")
man=$(skopeo inspect --raw "oci:$lay:$tag")
cfg=$(skopeo inspect --config --raw "oci:$lay:$tag")
[ "$(jq -r '.layers[0].digest' <<<"$man")" = "$lblob" ] || fail "the image's bottom layer is not the declared layer's blob: $(jq -c '.layers' <<<"$man")"
[ "$(jq -r '.rootfs.diff_ids[0]' <<<"$cfg")" = "$ldiff" ] || fail "the image's first diff_id is not the declared layer's"
# Linked, not copied: the image's blob is a link to the layer's, and the
# image's result references the layer's output (so Nix keeps it).
[ "$(readlink "$lay/blobs/sha256/${lblob#sha256:}")" = "$llay/blobs/sha256/${lblob#sha256:}" ] \
    || fail "the image's blob $lblob is not a link to the layer's: $(ls -l "$lay/blobs/sha256/${lblob#sha256:}")"
nix-store -q --references "$out" | grep -qx "$layer" || fail "the image's result does not reference the layer's output"
cmp -s "$llay/blobs/sha256/${lblob#sha256:}" "$lay/blobs/sha256/${lblob#sha256:}" || fail "the linked blob differs from the layer's"
jq -e '.history[0].created_by | startswith("mkaci: declared layer bash/layers/libs")' <<<"$cfg" >/dev/null \
    || fail "the history does not name the declared layer: $(jq -c '.history' <<<"$cfg")"
n=$(jq '.layers | length' <<<"$man")
[ "$n" = 3 ] || fail "bashLayeredOCI has $n layers, expected 3 (the declared layer, bash, the top-level tree)"
# The declared layer's paths are in no other layer.
for d in $(jq -r '.layers[1:][].digest' <<<"$man"); do
    listing=$(tar -tzf "$lay/blobs/sha256/${d#sha256:}")
    for p in $(jq -r '.artifacts[0].storePaths[]' "$layer/nix2aci.json"); do
        ! grep -q "^${p#/}/" <<<"$listing" || fail "the layer $d holds $p, which the declared layer holds"
    done
done
say "bashLayeredOCI: its bottom layer is the declared layer's blob, linked ($lblob); 3 layers"

oci-image-tool validate --type image --ref "name=$tag" "$lay" >/dev/null 2>&1 || fail "oci-image-tool rejects the image"
umoci unpack --rootless --image "$lay:$tag" "$work/bundle" >"$work/umoci.log" 2>&1 \
    || { cat "$work/umoci.log" >&2; fail "umoci cannot unpack bashLayeredOCI"; }
got=$(bwrap --bind "$work/bundle/rootfs" / --proc /proc --dev /dev --unshare-all --die-with-parent --clearenv \
    --setenv PATH /bin -- /bin/bash -c 'echo $((6 * 7))') || fail "bash does not run from the bundle"
[ "$got" = 42 ] || fail "bash printed '$got'"
say "umoci unpacks it; bash runs from the bundle and prints $got"

"$out/postprocess.sh" "$work/OCI" >"$work/pp.log" 2>&1 || { cat "$work/pp.log" >&2; fail "postprocess.sh failed"; }
# --copy copies the blob itself, not the link into the store.
"$out/postprocess.sh" "$work/OCI-copy" --copy >"$work/ppc.log" 2>&1 || { cat "$work/ppc.log" >&2; fail "postprocess.sh --copy failed"; }
[ -f "$work/OCI-copy/$(basename "$lay")/blobs/sha256/${lblob#sha256:}" ] && [ ! -L "$work/OCI-copy/$(basename "$lay")/blobs/sha256/${lblob#sha256:}" ] \
    || fail "postprocess --copy left the declared layer's blob a link"
base=$(basename "$lay" .oci)
for f in "$base.oci" "$base.docker.tar"; do
    "$mkaci" verify "$work/OCI/$f" >"$work/verify.log" 2>&1 || { cat "$work/verify.log" >&2; fail "mkaci verify OCI/$f failed"; }
done
podman load -i "$work/OCI/$base.docker.tar" >/dev/null 2>&1 || fail "podman cannot load the docker-archive"
podman rmi -f "localhost/bash:$tag" >/dev/null 2>&1 || true
say "postprocess publishes it, mkaci verify checks every digest, podman loads it"

# A one-line change: the image is rebuilt, the layer is not.
cat >"$work/changed.nix" <<NIX
let n = import $repo { offline = true; }; in
n.mkOCI { packages = [ n.pkgs.bash ]; exec = [ "/bin/bash" ]; env.PATH = "/bin"; env.CHANGED = "$(date +%s%N)";
  layers = [ n.bashLibsLayer ]; }
NIX
nix-build "$work/changed.nix" --no-out-link >"$work/changed.log" 2>&1 || { cat "$work/changed.log" >&2; fail "the changed image does not build"; }
! grep -q "oci-layer" "$work/changed.log" || fail "the one-line change rebuilt the layer: $(grep building "$work/changed.log")"
grep -q "building.*bash-oci" "$work/changed.log" || fail "the changed image was not built: $(cat "$work/changed.log")"
say "a one-line change rebuilds the image only"

# Refusals at evaluation time.
refuses() {
    local err
    if err=$(nix-instantiate --eval --strict -E "let n = import $repo { offline = true; }; in ($1).drvPath" 2>&1); then
        fail "accepted: $1"
    fi
    case $err in *"$2"*) ;; *) fail "$1: error lacks '$2': $err" ;; esac
}
refuses 'n.mkOCI { packages = [ n.pkgs.bash ]; exec = [ "/bin/bash" ]; layers = [ n.pkgs.busybox ]; }' '`layers`[0] is not a nix2aci.mkLayer result'
refuses 'n.mkOCI { packages = [ n.pkgs.bash ]; exec = [ "/bin/bash" ]; layers = [ n.bashLibsLayer ]; maxLayers = 2; }' 'raise it to at least 3'
refuses 'n.mkOCI { packages = [ n.pkgs.bash ]; exec = [ "/bin/bash" ]; layers = [ (n.mkLayer { packages = [ n.pkgs.glibc ]; compression = "xz"; }) ]; }' 'is not an OCI layer compression'
say "evaluation refuses a non-layer, an xz layer and maxLayers without room"
