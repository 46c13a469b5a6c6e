#!/bin/bash
# mkOCI with compression = "zstd": an image whose layers (its own and a
# declared mkLayer layer with ociCompression = "zstd") are tar+zstd blobs
# that real tools read:
# - every layer has the media type application/vnd.oci.image.layer.v1.tar+zstd
#   and is zstd (`zstd -t`), one frame per 2 MiB of tar;
# - oci-image-tool validates the index, manifest and config (its 1.0.0-rc1
#   layout check predates tar+zstd: that must be its only complaint);
# - skopeo inspects it and copies it into podman's storage
#   (containers-storage:), where podman image inspect sees it;
# - podman unpacks the layers (podman image mount) and bash runs from them
#   under bwrap; umoci too where it reads zstd (0.4.7 refuses the media
#   type, and the test checks that this is its only complaint);
# - postprocess.sh writes a docker-archive (<hex>.tar.zst layers) that
#   podman load accepts, and mkaci verify checks the layout and the archive;
# - nix-build --check rebuilds it bit for bit;
# - a bad level, zstd for an ACI or for an ACI layer, fail at evaluation time
#   naming the argument, and the level ranges of nix/compression.nix are
#   mkaci's.
. "$(dirname "$0")/lib.sh"
need jq zstd skopeo umoci oci-image-tool podman bwrap nix-store

# Evaluation errors first: nothing is built for them.
refuses_oci() { eval_refuses mkOCI "$1" "$2"; }
refuses_aci() { eval_refuses mkACI "$1" "$2"; }
refuses_oci '{ packages = [ bb ]; compression = "zstd"; compressionLevel = 23; }' \
    'mkOCI: `compressionLevel` (23) is outside 1..22 for zstd; pick a level in that range'
refuses_oci '{ packages = [ bb ]; compression = "zstd"; compressionLevel = 0; }' '`compressionLevel` (0) is outside 1..22 for zstd'
refuses_oci '{ packages = [ bb ]; compressionLevel = 13; }' '`compressionLevel` (13) is outside 1..12 for gzip'
refuses_oci '{ packages = [ bb ]; compression = "none"; compressionLevel = 3; }' '`compressionLevel` (3) was given with compression = "none"'
refuses_oci '{ packages = [ bb ]; compression = "xz"; }' '`compression` ("xz") is not an OCI layer compression; use "gzip" (the default), "zstd" or "none"'
refuses_aci '{ packages = [ bb ]; compression = "zstd"; }' 'mkACI: `compression` ("zstd") is not an ACI compression: appc allows gzip, bzip2, xz or none'
refuses_aci '{ packages = [ bb ]; compression = "xz"; compressionLevel = 10; }' '`compressionLevel` (10) is outside 0..9 for xz'
# mkLayer: zstd is for its OCI form only.
layer_refuses() {
    local err
    if err=$(nix-instantiate --eval --strict -E "let n = import $repo/nix/mkLayer.nix { mkaci = \"/nix/store/00000000000000000000000000000000-mkaci\"; system = \"x86_64-linux\"; };
        bb = (import $repo/nix/offline.nix { }).busybox; in ($1)" 2>&1); then
        fail "mkLayer $1 was accepted"
    fi
    case $err in *"$2"*) ;; *) fail "mkLayer $1: error lacks '$2': $err" ;; esac
}
layer_refuses '(n { packages = [ bb ]; compression = "zstd"; }).drvPath' 'ociCompression = "zstd" for the layer'"'"'s OCI form'
layer_refuses '(n { packages = [ bb ]; ociCompression = "xz"; }).oci.drvPath' '`ociCompression` ("xz") is not an OCI layer compression'
layer_refuses '(n { packages = [ bb ]; ociCompression = "zstd"; ociCompressionLevel = 30; }).oci.drvPath' \
    'mkLayer: `ociCompressionLevel` (30) is outside 1..22 for zstd'
# The ranges nix/compression.nix checks are the archive's own.
ranges=$(nix-instantiate --eval --strict --json -E "(import $repo/nix/compression.nix).levels")
for c in gzip:Gzip xz:Xz zstd:Zstd; do
    rust=$(grep -A8 "^impl ${c#*:}Level" "$repo/src/image/compression.rs" | sed -n 's/.*RANGE: .* = \([0-9]*\)\.\.=\([0-9]*\);/[\1,\2]/p')
    [ -n "$rust" ] && [ "$rust" = "$(jq -c ".${c%%:*}" <<<"$ranges")" ] \
        || fail "${c%%:*}: nix/compression.nix has levels $(jq -c ".${c%%:*}" <<<"$ranges"), src/image/compression.rs ${rust:-none}"
done
say "bad levels and zstd for ACIs fail at evaluation time, naming the argument; the level ranges agree with mkaci's"

cat >"$work/zstd.nix" <<NIX
let
  n = import $repo { };
  libs = n.mkLayer { packages = [ n.pkgs.glibc n.pkgs.ncurses ]; name = "zstd-test/libs"; ociCompression = "zstd"; };
in {
  libs = libs.oci;
  image = n.mkOCI {
    packages = [ n.pkgs.bash ];
    name = "zstd-test";
    exec = [ "/bin/bash" ];
    compression = "zstd";
    layers = [ libs ];
    tag = "zstd";
  };
}
NIX
nix-build "$work/zstd.nix" -A image -o "$work/result" >/dev/null || fail "the zstd mkOCI image does not build"
out=$(readlink -f "$work/result")
set -- "$out"/*.oci
lay=$1
[ -d "$lay" ] || fail "no .oci layout in $out"
m=$lay/blobs/sha256/$(jq -r '.manifests[0].digest | ltrimstr("sha256:")' "$lay/index.json")
n_layers=$(jq '.layers | length' "$m")
[ "$n_layers" -ge 3 ] || fail "expected the declared layer, store layers and the top layer, got $n_layers layers"
jq -e '.layers | all(.mediaType == "application/vnd.oci.image.layer.v1.tar+zstd")' "$m" >/dev/null \
    || fail "not every layer is tar+zstd: $(jq -c '[.layers[].mediaType]' "$m")"
for d in $(jq -r '.layers[].digest | ltrimstr("sha256:")' "$m"); do
    zstd -q -t <"$lay/blobs/sha256/$d" || fail "layer $d is not a valid zstd stream"
done
# The declared layer is the bottom one, linked in as the layer built it.
libs=$(nix-build "$work/zstd.nix" -A libs --no-out-link 2>/dev/null) || fail "the zstd layer does not build"
set -- "$libs"/*.oci
lm=$1/blobs/sha256/$(jq -r '.manifests[0].digest | ltrimstr("sha256:")' "$1/index.json")
[ "$(jq -r '.layers[0].digest' "$lm")" = "$(jq -r '.layers[0].digest' "$m")" ] \
    || fail "the bottom layer is not the declared zstd layer's blob"
say "$n_layers layers, every one tar+zstd and a valid zstd stream (zstd -t), the declared one at the bottom"

c=$lay/blobs/sha256/$(jq -r '.config.digest | ltrimstr("sha256:")' "$m")
oci-image-tool validate --type imageIndex "$lay/index.json" >"$work/validate.log" 2>&1 \
    && oci-image-tool validate --type manifest "$m" >>"$work/validate.log" 2>&1 \
    && oci-image-tool validate --type config "$c" >>"$work/validate.log" 2>&1 \
    || { cat "$work/validate.log" >&2; fail "oci-image-tool validate rejects index.json, the manifest or the config"; }
# oci-image-tool 1.0.0-rc1 (Debian 12's) predates the tar+zstd media type
# (image-spec 1.0.2): its layout check refuses that media type by name, so
# that, and only that, is allowed to fail; a newer one must pass.
if ! oci-image-tool validate --type image --ref name=zstd "$lay" >"$work/validate.log" 2>&1; then
    grep -q '1 errors detected.*layer validation failed: invalid descriptor MediaType \\"application/vnd.oci.image.layer.v1.tar+zstd\\"' "$work/validate.log" \
        || { cat "$work/validate.log" >&2; fail "oci-image-tool validate rejects the zstd image layout for more than its layers' media type"; }
    say "oci-image-tool validates index.json, the manifest and the config; its layout check ($(oci-image-tool --version)) knows no tar+zstd and finds nothing else"
else
    say "oci-image-tool validates the layout, its index, manifest and config"
fi

skopeo inspect "oci:$lay:zstd" >"$work/inspect.json" || fail "skopeo inspect oci:...:zstd failed"
jq -e --argjson n "$n_layers" '.Layers | length == $n' "$work/inspect.json" >/dev/null \
    || fail "skopeo sees other layers: $(jq -c .Layers "$work/inspect.json")"
skopeo inspect --raw "oci:$lay:zstd" | jq -e '.layers | all(.mediaType == "application/vnd.oci.image.layer.v1.tar+zstd")' >/dev/null \
    || fail "skopeo reads other media types than tar+zstd"
storage="[vfs@$work/podman/root+$work/podman/run]"
skopeo copy -q "oci:$lay:zstd" "containers-storage:${storage}localhost/zstd-test:zstd" >"$work/copy.log" 2>&1 \
    || { cat "$work/copy.log" >&2; fail "skopeo copy oci: -> containers-storage: failed"; }
podman=(podman --root "$work/podman/root" --runroot "$work/podman/run" --storage-driver vfs --cgroup-manager cgroupfs --events-backend none)
"${podman[@]}" image inspect localhost/zstd-test:zstd >"$work/pinspect.json" || fail "podman does not see the copied image"
jq -e '.[0].Config.Entrypoint == ["/bin/bash"]' "$work/pinspect.json" >/dev/null || fail "podman image inspect shows another config"
say "skopeo inspects it and copies it into podman's storage, where podman image inspect sees it"

# podman (containers/storage) applies the zstd layers itself: bash runs
# under bwrap from the image's mounted rootfs.
mnt=$("${podman[@]}" image mount localhost/zstd-test:zstd) || fail "podman image mount of the zstd image failed"
got=$(bwrap --bind "$mnt" / --proc /proc --dev /dev --unshare-all --die-with-parent --clearenv \
    --setenv PATH /bin /bin/bash -c 'echo "bash $BASH_VERSION"') || fail "bash does not run from podman's rootfs of the image"
case $got in "bash 5."*) ;; *) fail "bash printed '$got'" ;; esac
"${podman[@]}" image unmount localhost/zstd-test:zstd >/dev/null || true
say "podman unpacks the zstd layers (podman image mount) and bash runs from them under bwrap"
# umoci 0.4.7 (Debian 12's) refuses tar+zstd by name; a umoci that reads it
# must unpack a rootfs bash runs from.
if umoci unpack --rootless --image "$lay:zstd" "$work/bundle" >"$work/umoci.log" 2>&1; then
    got=$(bwrap --bind "$work/bundle/rootfs" / --proc /proc --dev /dev --unshare-all --die-with-parent --clearenv \
        --setenv PATH /bin /bin/bash -c 'echo "bash $BASH_VERSION"') || fail "bash does not run from umoci's bundle"
    case $got in "bash 5."*) ;; *) fail "bash printed '$got' from umoci's bundle" ;; esac
    chmod -R u+w "$work/bundle"
    say "umoci unpacks the zstd layers and bash runs from the bundle under bwrap"
else
    grep -q 'blob is not correct mediatype: application/vnd.oci.image.layer.v1.tar+zstd' "$work/umoci.log" \
        || { cat "$work/umoci.log" >&2; fail "umoci unpack failed for another reason than the tar+zstd media type"; }
    say "umoci $(umoci --version | awk '{print $3}') does not read tar+zstd layers (it says so by media type); podman's unpacking above stands in"
fi

"$out/postprocess.sh" "$work/OCI" >"$work/pp.log" 2>&1 || { cat "$work/pp.log" >&2; fail "postprocess.sh failed"; }
set -- "$work"/OCI/*.docker.tar
archive=$1
[ -f "$archive" ] || fail "postprocess.sh wrote no docker-archive"
tar -xOf "$archive" manifest.json | jq -e '.[0].Layers | all(endswith(".tar.zst"))' >/dev/null \
    || fail "the docker-archive's layers are not named .tar.zst: $(tar -xOf "$archive" manifest.json)"
config=$(jq -r '.artifacts[0].digests.config' "$out/nix2aci.json")
"${podman[@]}" rmi -af >/dev/null 2>&1 || true
"${podman[@]}" load -i "$archive" >"$work/load.log" 2>&1 || { cat "$work/load.log" >&2; fail "podman load rejects the docker-archive of zstd layers"; }
"${podman[@]}" image inspect "${config#sha256:}" >/dev/null || fail "podman does not know the loaded image by its ID $config"
say "postprocess.sh writes a docker-archive of .tar.zst layers that podman load accepts (image ID $config)"
mkaci=$repo/target/x86_64-unknown-linux-gnu/release/mkaci
for f in "$lay" "$archive"; do
    "$mkaci" verify "$f" >"$work/verify.log" 2>&1 || { cat "$work/verify.log" >&2; fail "mkaci verify $f failed"; }
    grep -q "image ID:  $config" "$work/verify.log" || { cat "$work/verify.log" >&2; fail "mkaci verify $f names another image ID"; }
done
"$mkaci" inspect --sbom "$lay" >"$work/sbom.json" 2>"$work/inspect.log" && jq -e .packages "$work/sbom.json" >/dev/null \
    || { cat "$work/inspect.log" >&2; fail "mkaci inspect --sbom $lay failed"; }
say "mkaci verify checks the layout and the docker-archive, mkaci inspect --sbom reads the layout's SBOM"
"${podman[@]}" rmi -af >/dev/null 2>&1 || true
chmod -R u+w "$work/podman" 2>/dev/null || true

nix-build "$work/zstd.nix" -A image --check --no-out-link >/dev/null 2>"$work/check.log" \
    || { cat "$work/check.log" >&2; fail "the zstd image is not reproducible (nix-build --check)"; }
say "nix-build --check rebuilt the zstd image bit for bit"
