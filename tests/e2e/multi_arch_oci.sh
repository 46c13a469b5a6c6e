#!/bin/bash
# mkMultiArch of mkOCI images: busyboxOCIMultiArch is one image layout,
# busybox-1.35.0.oci, whose index.json tags an image index of busybox for
# linux/amd64 and linux/arm64, checked with the real tools:
# - its blobs are links to the two images' own results, each once;
# - skopeo inspect --raw shows the index with both platforms (printed);
# - oci-image-tool validates the layout, both indexes, each manifest and
#   config;
# - skopeo copy --override-arch arm64 selects the arm64 image, umoci unpacks
#   it, and its busybox runs under qemu-aarch64-static; amd64 selects the
#   other one;
# - mkaci verify and inspect accept it, and refuse a copy whose index lies
#   about a platform or lacks a blob;
# - postprocess publishes it (a link, or with --copy only what the index
#   reaches) and one docker-archive per platform, which podman loads;
# - --push sends the whole index to docker-registry on 127.0.0.1, and
#   podman pull --arch arm64 gets the arm64 image;
# - each refusal of mkMultiArch, at evaluation and again in mkaci;
# - nix-build --check reproduces the result.
. "$(dirname "$0")/lib.sh"
need jq skopeo umoci oci-image-tool podman docker-registry curl qemu-aarch64-static nix-store
[ -x "$repo/target/foreign/aarch64-linux/bin/busybox" ] \
    || { [ -n "${NIX2ACI_REQUIRE_TOOLS:-}" ] && fail "the arm64 busybox-static is missing; run ./scripts/setup as root"; say "SKIP: no arm64 busybox-static (run ./scripts/setup as root)"; exit 0; }
. "$(dirname "$0")/registry_lib.sh"
mkaci=$repo/target/x86_64-unknown-linux-gnu/release/mkaci

out=$(build busyboxOCIMultiArch)
amd=$(build busyboxOCI)
arm=$(build busyboxArm64OCI)
name=$(nix-instantiate --eval --json -E "(import $repo { offline = true; }).busyboxOCIMultiArch.ociLayoutName" | jq -r .)
[ "$name" = busybox-1.35.0.oci ] || fail "ociLayoutName is $name"
lay=$out/$name
[ -f "$lay/index.json" ] || fail "the result has no $name: $(ls "$out")"
jq -e '[.artifacts[] | .kind] == ["oci-index"] and .artifacts[0].files.layout == "busybox-1.35.0.oci"
       and .artifacts[0].tag == "1.35.0"
       and ([.artifacts[0].platforms[] | "\(.os)/\(.arch)"] == ["linux/amd64", "linux/arm64"])' "$out/nix2aci.json" >/dev/null \
    || fail "the result's index: $(jq -c . "$out/nix2aci.json")"
tag=1.35.0
index_digest=$(jq -r '.artifacts[0].digests.index' "$out/nix2aci.json")
[ "$(jq -r '.manifests | length' "$lay/index.json")" = 1 ] \
    && [ "$(jq -r '.manifests[0].mediaType' "$lay/index.json")" = application/vnd.oci.image.index.v1+json ] \
    && [ "$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' "$lay/index.json")" = "$tag" ] \
    && [ "$(jq -r '.manifests[0].digest' "$lay/index.json")" = "$index_digest" ] \
    || fail "index.json does not tag the image index $index_digest as $tag: $(cat "$lay/index.json")"
# Every blob of each image is linked to that image's own result, and each
# digest is there once.
want=$(for r in "$amd" "$arm"; do ls "$r"/*.oci/blobs/sha256; done | sort -u)
have=$(ls "$lay/blobs/sha256" | grep -vx "${index_digest#sha256:}" | sort)
[ "$want" = "$have" ] || fail "the layout's blobs are not the two images' blobs, once each: $have"
for r in "$amd" "$arm"; do
    for b in "$r"/*.oci/blobs/sha256/*; do
        [ "$(readlink "$lay/blobs/sha256/${b##*/}")" = "$(readlink -f "$b")" ] || fail "blob ${b##*/} is not a link to $b"
    done
done
[ "$(jq -r '.artifacts[0].platforms[0].digests.manifest' "$out/nix2aci.json")" = "$(jq -r '.artifacts[0].digests.manifest' "$amd/nix2aci.json")" ] \
    && [ "$(jq -r '.artifacts[0].platforms[1].digests.manifest' "$out/nix2aci.json")" = "$(jq -r '.artifacts[0].digests.manifest' "$arm/nix2aci.json")" ] \
    || fail "the index lists other manifests than busyboxOCI's and busyboxArm64OCI's"
say "busyboxOCIMultiArch: one layout $name, its blobs linked once each to the images' own results"

skopeo inspect --raw "oci:$lay:$tag" >"$work/raw.json" || fail "skopeo inspect --raw of the layout failed"
say "skopeo inspect --raw oci:result/$name:$tag prints:"
cat "$work/raw.json"; echo
jq -e '.mediaType == "application/vnd.oci.image.index.v1+json"
       and ([.manifests[] | "\(.platform.os)/\(.platform.architecture)"] == ["linux/amd64", "linux/arm64"])' "$work/raw.json" >/dev/null \
    || fail "skopeo does not show an index of linux/amd64 and linux/arm64"
[ "sha256:$(sha256sum <"$work/raw.json" | cut -d' ' -f1)" = "$index_digest" ] || fail "skopeo shows other bytes than the index blob"

# This oci-image-tool (1.0.0-rc1) follows a layout's ref to a manifest but
# not into a nested index (it warns of the media type), so the index blob,
# each manifest and each config are validated one by one too.
oci-image-tool validate --type image --ref "name=$tag" "$lay" >"$work/validate.log" 2>&1 \
    && oci-image-tool validate --type imageIndex "$lay/index.json" >>"$work/validate.log" 2>&1 \
    && oci-image-tool validate --type imageIndex "$lay/blobs/sha256/${index_digest#sha256:}" >>"$work/validate.log" 2>&1 \
    || { cat "$work/validate.log" >&2; fail "oci-image-tool rejects the layout or its indexes"; }
for m in $(jq -r '.manifests[].digest | ltrimstr("sha256:")' "$work/raw.json"); do
    c=$(jq -r '.config.digest | ltrimstr("sha256:")' "$lay/blobs/sha256/$m")
    oci-image-tool validate --type manifest "$lay/blobs/sha256/$m" >"$work/validate.log" 2>&1 \
        && oci-image-tool validate --type config "$lay/blobs/sha256/$c" >>"$work/validate.log" 2>&1 \
        || { cat "$work/validate.log" >&2; fail "oci-image-tool rejects manifest $m or its config"; }
done
say "oci-image-tool validates the layout, both indexes, each manifest and config"

# skopeo picks a platform's image out of the index.
for arch in arm64 amd64; do
    skopeo copy -q --override-arch "$arch" "oci:$lay:$tag" "oci:$work/$arch:$tag" >/dev/null 2>"$work/copy.log" \
        || { cat "$work/copy.log" >&2; fail "skopeo copy --override-arch $arch failed"; }
    skopeo inspect "oci:$work/$arch:$tag" | jq -e --arg a "$arch" '.Architecture == $a and .Os == "linux"' >/dev/null \
        || fail "skopeo copy --override-arch $arch selected another image"
    oci-image-tool validate --type image --ref "name=$tag" "$work/$arch" >"$work/validate.log" 2>&1 \
        || { cat "$work/validate.log" >&2; fail "oci-image-tool rejects the $arch image copied out of the index"; }
done
umoci unpack --rootless --image "$work/arm64:$tag" "$work/bundle" >"$work/umoci.log" 2>&1 \
    || { cat "$work/umoci.log" >&2; fail "umoci cannot unpack the arm64 image"; }
bb=$(readlink "$work/bundle/rootfs/bin/busybox")
case $bb in /nix/store/*) bb=$work/bundle/rootfs$bb ;; *) bb=$work/bundle/rootfs/bin/busybox ;; esac
[ -f "$bb" ] || fail "the arm64 image has no busybox at $bb"
od -An -tx1 -j18 -N2 "$bb" | grep -q 'b7 00' || fail "the arm64 image's busybox is not an aarch64 ELF"
got=$(qemu-aarch64-static "$bb" echo hello from arm64) || fail "the arm64 busybox does not run under qemu-aarch64-static"
[ "$got" = "hello from arm64" ] || fail "the arm64 busybox printed: $got"
say "skopeo copy --override-arch selects each platform's image; umoci unpacks the arm64 one and its busybox runs under qemu-aarch64-static"

"$mkaci" verify "$lay" >"$work/verify.log" 2>&1 || { cat "$work/verify.log" >&2; fail "mkaci verify rejects the index layout"; }
grep -q "index:     ok (tag $tag, image index $index_digest, 2 platforms)" "$work/verify.log" \
    && grep -q '^  linux/arm64: manifest .* ok' "$work/verify.log" || { cat "$work/verify.log" >&2; fail "mkaci verify did not check both platforms"; }
"$mkaci" inspect "$lay" >"$work/inspect.log" 2>&1 || { cat "$work/inspect.log" >&2; fail "mkaci inspect rejects the index layout"; }
grep -q '^platform:    linux/arm64' "$work/inspect.log" || { cat "$work/inspect.log" >&2; fail "mkaci inspect does not list linux/arm64"; }
say "mkaci verify and inspect check the index and every image in it"

# Tampered copies: an index that swaps the platforms (consistent digests,
# lying platforms), and one with a layer blob missing.
tamper() {
    rm -rf "$work/bad"; mkdir -p "$work/bad"
    cp -rL "$lay" "$work/bad/$name"; chmod -R u+w "$work/bad"
    cp "$out"/*.closure.json "$work/bad/"
}
tamper
b=$work/bad/$name/blobs/sha256
jq -c '.manifests |= (map(.platform.architecture |= (if . == "amd64" then "arm64" else "amd64" end)))' "$b/${index_digest#sha256:}" | tr -d '\n' >"$work/swapped"
new=$(sha256sum <"$work/swapped" | cut -d' ' -f1)
mv "$work/swapped" "$b/$new"; rm "$b/${index_digest#sha256:}"
jq -c --arg d "sha256:$new" --argjson s "$(stat -c %s "$b/$new")" '.manifests[0].digest = $d | .manifests[0].size = $s' \
    "$work/bad/$name/index.json" >"$work/i.json" && mv "$work/i.json" "$work/bad/$name/index.json"
if "$mkaci" verify "$work/bad/$name" >"$work/bad.log" 2>&1; then fail "mkaci verify accepted an index that swaps the platforms"; fi
grep -q 'is for linux/amd64, but the image index lists its manifest .* as linux/arm64' "$work/bad.log" \
    || { cat "$work/bad.log" >&2; fail "the refusal of a swapped platform does not say so"; }
tamper
layer=$(jq -r '.layers[0].digest | ltrimstr("sha256:")' "$work/bad/$name/blobs/sha256/$(jq -r '.manifests[1].digest | ltrimstr("sha256:")' "$work/raw.json")")
rm "$work/bad/$name/blobs/sha256/$layer"
if "$mkaci" verify "$work/bad/$name" >"$work/bad.log" 2>&1; then fail "mkaci verify accepted an index layout with a missing blob"; fi
grep -q "$layer" "$work/bad.log" || { cat "$work/bad.log" >&2; fail "the refusal of a missing blob does not name it"; }
if "$mkaci" inspect "$work/bad/$name" >/dev/null 2>&1; then fail "mkaci inspect accepted an index layout with a missing blob"; fi
say "mkaci verify refuses an index whose platforms lie and one missing a blob, naming them"

# postprocess: the layout, one docker-archive per platform, the SBOMs.
"$out/postprocess.sh" "$work/OCI" >"$work/pp.log" 2>&1 || { cat "$work/pp.log" >&2; fail "postprocess.sh failed"; }
[ "$(readlink "$work/OCI/$name")" = "$lay" ] || fail "DIR/$name is not a link to the result's layout"
podman=(podman --root "$work/podman/root" --runroot "$work/podman/run" --storage-driver vfs --cgroup-manager cgroupfs --events-backend none)
for a in amd64 arm64; do
    t=$work/OCI/busybox-1.35.0-linux-$a.docker.tar
    [ -f "$t" ] && [ -f "$work/OCI/busybox-1.35.0-linux-$a.closure.json" ] || fail "postprocess wrote no $t or SBOM"
    "$mkaci" verify "$t" >"$work/v.log" 2>&1 || { cat "$work/v.log" >&2; fail "mkaci verify rejects $t"; }
    "${podman[@]}" load -q -i "$t" >/dev/null 2>"$work/load.log" || { cat "$work/load.log" >&2; fail "podman load -i $t failed"; }
    "${podman[@]}" image inspect busybox:1.35.0 | jq -e --arg a "$a" '.[0].Architecture == $a' >/dev/null \
        || fail "podman loaded another platform from $t"
    "${podman[@]}" rmi -af >/dev/null 2>&1 || true
done
"$mkaci" verify "$work/OCI/$name" >/dev/null 2>&1 || fail "mkaci verify rejects the published layout"
"$out/postprocess.sh" "$work/OCI-copy" --copy >"$work/ppc.log" 2>&1 || { cat "$work/ppc.log" >&2; fail "postprocess.sh --copy failed"; }
[ -d "$work/OCI-copy/$name" ] && [ ! -L "$work/OCI-copy/$name" ] || fail "--copy did not copy the layout"
[ "$(ls "$work/OCI-copy/$name/blobs/sha256" | sort)" = "$(ls "$lay/blobs/sha256" | sort)" ] || fail "--copy copied other blobs than the index reaches"
"$mkaci" verify "$work/OCI-copy/$name" >/dev/null 2>&1 || fail "mkaci verify rejects the copied layout"
say "postprocess publishes the layout (linked, or copied) and one docker-archive per platform; podman loads each as its platform"

# --push: the whole index to a real registry.
port=$(free_port)
start_registry reg "$port"
registry=127.0.0.1:$port
"$out/postprocess.sh" "$work/OCI" --push "docker://$registry/nix2aci/busybox" --tls-verify=false >"$work/push.log" 2>&1 \
    || { cat "$work/push.log" >&2; fail "postprocess.sh --push failed"; }
grep -q "^Pushed busybox:$tag (the image index, every platform) to docker://$registry/nix2aci/busybox:$tag" "$work/push.log" \
    || { cat "$work/push.log" >&2; fail "the push report does not name the index"; }
skopeo inspect --raw --tls-verify=false "docker://$registry/nix2aci/busybox:$tag" >"$work/reg.json" || fail "the registry has no busybox:$tag"
cmp -s "$work/reg.json" "$work/raw.json" || fail "the registry serves another index: $(cat "$work/reg.json")"
"${podman[@]}" pull -q --tls-verify=false --arch arm64 "$registry/nix2aci/busybox:$tag" >"$work/pull.log" 2>&1 \
    || { cat "$work/pull.log" >&2; fail "podman pull --arch arm64 failed"; }
arm_config=$(jq -r '.artifacts[0].platforms[1].digests.config' "$out/nix2aci.json")
"${podman[@]}" image inspect "$registry/nix2aci/busybox:$tag" \
    | jq -e --arg id "${arm_config#sha256:}" '.[0].Architecture == "arm64" and .[0].Id == $id' >/dev/null \
    || fail "podman pull --arch arm64 got another image"
"${podman[@]}" rmi -af >/dev/null 2>&1 || true
say "--push sends the whole index (the registry serves the same bytes); podman pull --arch arm64 gets the arm64 image, ID $arm_config"

# Refusals at evaluation time, naming the images.
refuses() {
    local err
    if err=$(nix-instantiate -E "let n = import $repo { offline = true; }; in ($1).drvPath" --eval 2>&1); then fail "accepted: $1"; fi
    case $err in *"$2"*) ;; *) fail "$1: error lacks '$2': $err" ;; esac
}
refuses 'n.mkMultiArch { images = [ n.busyboxOCI n.busyboxArm64 ]; }' \
    'images[1] (busybox-1.35.0-linux-aarch64.aci) is an mkACI image, images[0] (busybox-1.35.0-linux-amd64.oci) an mkOCI image'
refuses 'n.mkMultiArch { images = [ n.busyboxOCI n.busyboxArm64OCI n.busyboxOCI ]; }' \
    'images[0] and images[2] are both linux/amd64: the same platform twice'
refuses 'n.mkMultiArch { images = [ n.busyboxOCI n.bashOCI ]; }' 'is named "bash", images[0] "busybox"'
refuses 'n.mkMultiArch { images = [ n.busyboxOCI (n.mkOCI { packages = [ n.pkgs.busyboxAarch64 ]; name = "busybox"; version = "2"; targetSystem = "aarch64-linux"; exec = [ "/bin/sh" ]; }) ]; }' \
    'has version "2", images[0] "1.35.0"'
refuses 'n.mkMultiArch { images = [ n.busyboxOCI (n.mkOCI { packages = [ n.pkgs.busyboxAarch64 ]; name = "busybox"; tag = "edge"; targetSystem = "aarch64-linux"; exec = [ "/bin/sh" ]; }) ]; }' \
    'is tagged "edge", images[0] "1.35.0"'
say "mkMultiArch refuses a mix of OCI and ACI images, one platform twice, other names, versions or tags"

# The same refusals in mkaci, which reads the images' results (attrs made
# here, past the evaluation's checks).
mkaci_refuses() {
    local packages=$1 want=$2
    jq -n --argjson p "$packages" '{outputs: {out: "x"}, system: "x86_64-linux", closure: [$p | unique | .[] | {path: .}], format: "oci-multi-arch",
        aci: {packages: $p, defaultName: "multi-arch"}}' >"$work/attrs.json"
    rm -rf "$work/built"
    if "$mkaci" build --attrs "$work/attrs.json" --out "$work/built" >"$work/b.log" 2>&1; then fail "mkaci built an index of $packages"; fi
    grep -qF "$want" "$work/b.log" || { cat "$work/b.log" >&2; fail "mkaci's refusal of $packages lacks '$want'"; }
    [ ! -e "$work/built" ] || fail "a refused build left $work/built behind"
}
aci=$(build busybox)
bash_oci=$(build bashOCI)
mkaci_refuses "[\"$amd\", \"$aci\"]" 'images[1] = "'"$aci"'" holds 1 ACI(s); an OCI image index gathers mkOCI results'
# Another amd64 busybox image (another exec): a second result of one platform.
nix-build -E "let n = import $repo { offline = true; }; in n.mkOCI { packages = [ n.pkgs.busybox ]; exec = [ \"/bin/busybox\" \"true\" ]; }" \
    -o "$work/result-amd2" >/dev/null 2>&1 || fail "cannot build a second amd64 busybox image"
amd2=$(readlink -f "$work/result-amd2")
mkaci_refuses "[\"$amd\", \"$arm\", \"$amd2\"]" 'images[0] and images[2] are both for linux/amd64'
mkaci_refuses "[\"$amd\", \"$bash_oci\"]" 'images[0] is busybox 1.35.0; one name and version serve every platform'
nix-build -E "let n = import $repo { offline = true; }; in n.mkOCI { packages = [ n.pkgs.busyboxAarch64 ]; name = \"busybox\"; tag = \"edge\"; targetSystem = \"aarch64-linux\"; exec = [ \"/bin/sh\" ]; }" \
    -o "$work/result-edge" >/dev/null 2>&1 || fail "cannot build an arm64 busybox image tagged edge"
mkaci_refuses "[\"$amd\", \"$(readlink -f "$work/result-edge")\"]" 'images[1] is tagged "edge", images[0] "1.35.0"'
say "mkaci refuses the same: a mix with ACIs, one platform twice, another name, another tag"

nix-build "$repo" -A busyboxOCIMultiArch --check >/dev/null 2>"$work/check.log" || { cat "$work/check.log" >&2; fail "nix-build --check does not reproduce busyboxOCIMultiArch"; }
say "nix-build --check reproduces busyboxOCIMultiArch"
