#!/bin/bash
# mkOCI: busyboxOCI and bashOCI build into OCI image layouts that real tools
# accept and run, and rebuild bit for bit:
# - the result's index lists the layout (kind oci-layout) with the digests
#   index.json has;
# - oci-image-tool validates the layout (and its index, manifest, config);
# - skopeo inspects it (platform, layers, config) and copies it to a
#   docker-archive (checking every digest);
# - umoci unpacks it rootless, and the app runs under bwrap from the bundle's
#   rootfs;
# - one layer per store path plus the top-level layer, and maxLayers groups
#   the least popular paths;
# - postprocess.sh writes a docker-archive that podman loads, and a GC-rooted
#   link to the layout; mkaci verify checks both; podman run is tried where
#   it works;
# - nix-build --check reproduces each image.
. "$(dirname "$0")/lib.sh"
need jq skopeo umoci oci-image-tool podman bwrap nix-store

# layout RESULT: the one .oci directory of a result.
layout() {
    set -- "$1"/*.oci
    [ "$#" = 1 ] && [ -d "$1" ] || fail "expected exactly one .oci directory in the result, got: $*"
    printf '%s\n' "$1"
}

# run_bundle BUNDLE CMD...: runs CMD with the bundle's rootfs as / under bwrap.
run_bundle() {
    local rootfs=$1/rootfs
    shift
    bwrap --bind "$rootfs" / --proc /proc --dev /dev --unshare-all --die-with-parent --clearenv \
        --setenv PATH /bin "$@"
}

check_image() {
    local attr=$1 want_cmd=$2 out lay tag closure_n layers
    out=$(build "$attr")
    lay=$(layout "$out")
    [ "$(jq -r '.artifacts | length' "$out/nix2aci.json")" = 1 ] || fail "$attr: the index lists more than one artifact"
    jq -e --arg l "$(basename "$lay")" '.nix2aci == 2 and .artifacts[0].kind == "oci-layout" and .artifacts[0].files.layout == $l
        and .artifacts[0].os == "linux" and .artifacts[0].arch == "amd64"' "$out/nix2aci.json" >/dev/null \
        || fail "$attr: nix2aci.json does not describe the layout: $(cat "$out/nix2aci.json")"
    tag=$(jq -r '.artifacts[0].tag' "$out/nix2aci.json")
    [ "$tag" = "$(nix-instantiate --eval --json "$repo" -A "$attr.imageVersion" | jq -r .)" ] || fail "$attr: the tag is not the version"
    [ "$(jq -r '.imageLayoutVersion' "$lay/oci-layout")" = 1.0.0 ] || fail "$attr: bad oci-layout file"
    jq -e --arg t "$tag" --arg m "$(jq -r '.artifacts[0].digests.manifest' "$out/nix2aci.json")" \
        '.manifests | length == 1 and .[0].digest == $m and .[0].annotations["org.opencontainers.image.ref.name"] == $t' \
        "$lay/index.json" >/dev/null || fail "$attr: index.json does not tag the manifest the result's index names"
    [ -x "$out/postprocess.sh" ] && grep -q 'dir="${1:-OCI}"' "$out/postprocess.sh" || fail "$attr: postprocess.sh does not default to OCI/"

    # This oci-image-tool (1.0.0-rc1) calls an image layout "image"; it
    # follows the ref to the manifest, the config and the layers.
    oci-image-tool validate --type image --ref "name=$tag" "$lay" >"$work/validate.log" 2>&1 \
        && grep -q 'autodetected image file type is: imageLayout' "$work/validate.log" \
        || { cat "$work/validate.log" >&2; fail "$attr: oci-image-tool validate rejects the image layout"; }
    local m c
    m=$lay/blobs/sha256/$(jq -r '.manifests[0].digest | ltrimstr("sha256:")' "$lay/index.json")
    c=$lay/blobs/sha256/$(jq -r '.config.digest | ltrimstr("sha256:")' "$m")
    oci-image-tool validate --type imageIndex "$lay/index.json" >"$work/validate.log" 2>&1 \
        && oci-image-tool validate --type manifest "$m" >>"$work/validate.log" 2>&1 \
        && oci-image-tool validate --type config "$c" >>"$work/validate.log" 2>&1 \
        || { cat "$work/validate.log" >&2; fail "$attr: oci-image-tool validate rejects index.json, the manifest or the config"; }
    say "$attr: oci-image-tool validates the image layout, its index, manifest and config"

    skopeo inspect "oci:$lay:$tag" >"$work/inspect.json" || fail "$attr: skopeo inspect oci:...:$tag failed"
    # The packages are built (the image is), so their closure is known.
    closure_n=$(nix-store -qR $(nix-instantiate --eval --strict --json "$repo" -A "$attr.aciSpec.packages" | jq -r '.[]') | wc -l)
    layers=$(jq '.Layers | length' "$work/inspect.json")
    jq -e '.Os == "linux" and .Architecture == "amd64"' "$work/inspect.json" >/dev/null \
        || fail "$attr: skopeo sees another platform: $(jq -c '{Os, Architecture}' "$work/inspect.json")"
    [ "$layers" = $((closure_n + 1)) ] || fail "$attr: $layers layers for a closure of $closure_n store paths (expected one each and the top-level layer)"
    skopeo inspect --config "oci:$lay:$tag" >"$work/config.json" || fail "$attr: skopeo inspect --config failed"
    jq -e --argjson cmd "$want_cmd" '.config.Entrypoint == [$cmd[0]] and .config.Cmd == ($cmd[1:] | if . == [] then null else . end)
        and .config.User == "0:0" and .created == "1970-01-01T00:00:01Z" and (.rootfs.diff_ids | length) == '"$layers" \
        "$work/config.json" >/dev/null || fail "$attr: unexpected config: $(jq -c .config "$work/config.json")"
    skopeo copy -q "oci:$lay:$tag" "docker-archive:$work/copy.tar:nix2aci-test/copy:$tag" >/dev/null \
        || fail "$attr: skopeo copy oci: -> docker-archive: failed"
    rm -f "$work/copy.tar"
    say "$attr: skopeo inspects it ($layers layers for $closure_n store paths, linux/amd64) and copies it"

    rm -rf "$work/bundle"
    umoci unpack --rootless --image "$lay:$tag" "$work/bundle" >"$work/umoci.log" 2>&1 \
        || { cat "$work/umoci.log" >&2; fail "$attr: umoci unpack --rootless failed"; }
    [ -f "$work/bundle/config.json" ] || fail "$attr: umoci made no runtime config"
    # The runtime config umoci made runs the image's Entrypoint and Cmd.
    jq -e --argjson cmd "$want_cmd" '.process.args == $cmd' "$work/bundle/config.json" >/dev/null \
        || fail "$attr: umoci's runtime config runs $(jq -c .process.args "$work/bundle/config.json"), not $want_cmd"
    chmod -R u+w "$work/bundle"
}

# busybox: the image's command runs; a shell command through it too.
check_image busyboxOCI '["/bin/busybox","sh"]'
got=$(run_bundle "$work/bundle" /bin/busybox sh -c 'echo hello from $(busybox basename /bin/busybox)') \
    || fail "busyboxOCI: busybox does not run from the unpacked bundle"
[ "$got" = "hello from busybox" ] || fail "busyboxOCI: got '$got'"
[ "$(stat -c %a "$work/bundle/rootfs/tmp")" = 1777 ] || fail "busyboxOCI: /tmp is not 1777 after unpacking"
grep -q localhost "$work/bundle/rootfs/etc/hosts" || fail "busyboxOCI: /etc/hosts (dnsquirks) is missing"
say "busyboxOCI: umoci unpacks it and busybox runs from the bundle under bwrap"

check_image bashOCI '["/bin/bash"]'
got=$(run_bundle "$work/bundle" /bin/bash -c 'echo "bash $BASH_VERSION"') || fail "bashOCI: bash does not run from the unpacked bundle"
case $got in "bash 5."*) ;; *) fail "bashOCI: got '$got'" ;; esac
say "bashOCI: umoci unpacks it and bash (with its libraries from their own layers) runs under bwrap"

# maxLayers: past it the least popular paths share a layer; the image still runs.
cat >"$work/grouped.nix" <<NIX
let n = import $repo { }; in
n.mkOCI { packages = [ n.pkgs.bash ]; exec = [ "/bin/bash" ]; maxLayers = 2; tag = "grouped"; }
NIX
nix-build "$work/grouped.nix" -o "$work/result-grouped" >/dev/null || fail "mkOCI with maxLayers = 2 does not build"
lay=$(layout "$work/result-grouped")
[ "$(skopeo inspect "oci:$lay:grouped" | jq '.Layers | length')" = 2 ] || fail "maxLayers = 2 did not give 2 layers"
rm -rf "$work/bundle"
umoci unpack --rootless --image "$lay:grouped" "$work/bundle" >/dev/null 2>&1 || fail "umoci cannot unpack the grouped image"
run_bundle "$work/bundle" /bin/bash -c true || fail "bash does not run from the grouped image"
chmod -R u+w "$work/bundle"
say "maxLayers = 2: one store layer and the top-level layer, and bash still runs"

# postprocess.sh: a docker-archive podman loads, and a GC-rooted link to the layout.
out=$(build busyboxOCI)
lay=$(layout "$out")
base=$(basename "$lay" .oci)
config=$(jq -r '.artifacts[0].digests.config' "$out/nix2aci.json")
"$work/result-busyboxOCI/postprocess.sh" "$work/OCI" >"$work/pp.log" 2>&1 || { cat "$work/pp.log" >&2; fail "postprocess.sh failed"; }
[ "$(readlink "$work/OCI/$base.oci")" = "$lay" ] || fail "OCI/$base.oci does not link to the layout"
gc_root_links | grep -qxF "$work/OCI/$base.oci" || fail "OCI/$base.oci is not a GC root"
[ -f "$work/OCI/$base.docker.tar" ] || fail "postprocess.sh wrote no docker-archive"
grep -q "not signed" "$work/pp.log" || fail "postprocess.sh does not say OCI images are not signed"
[ ! -e "$work/OCI/$base.oci.asc" ] && [ ! -e "$work/OCI/pubkeys.gpg" ] || fail "postprocess.sh signed an OCI image"
tar -xOf "$work/OCI/$base.docker.tar" manifest.json | jq -e --arg c "${config#sha256:}.json" \
    '.[0].Config == $c and .[0].RepoTags == ["busybox:1.35.0"]' >/dev/null \
    || fail "the docker-archive's manifest.json is not as expected"
skopeo inspect "docker-archive:$work/OCI/$base.docker.tar" >/dev/null || fail "skopeo cannot read the docker-archive"
say "postprocess.sh: OCI/$base.oci is a GC root, OCI/$base.docker.tar is a docker-archive"
mkaci=$repo/target/x86_64-unknown-linux-gnu/release/mkaci
for f in "$base.oci" "$base.docker.tar"; do
    "$mkaci" verify "$work/OCI/$f" >"$work/verify.log" 2>&1 || { cat "$work/verify.log" >&2; fail "mkaci verify OCI/$f failed"; }
    grep -q "image ID:  $config" "$work/verify.log" || { cat "$work/verify.log" >&2; fail "mkaci verify OCI/$f names another image ID than $config"; }
done
say "mkaci verify checks every digest of OCI/$base.oci and OCI/$base.docker.tar (image ID $config)"

podman=(podman --root "$work/podman/root" --runroot "$work/podman/run" --storage-driver vfs --cgroup-manager cgroupfs --events-backend none)
"${podman[@]}" load -i "$work/OCI/$base.docker.tar" >"$work/load.log" 2>&1 || { cat "$work/load.log" >&2; fail "podman load rejects the docker-archive"; }
"${podman[@]}" image inspect "${config#sha256:}" >"$work/pinspect.json" || fail "podman does not know the loaded image by its ID"
jq -e '.[0].Config.Entrypoint == ["/bin/busybox"] and .[0].Config.Cmd == ["sh"] and .[0].Os == "linux" and .[0].Architecture == "amd64"
    and (.[0].RepoTags | any(endswith("busybox:1.35.0")))' "$work/pinspect.json" >/dev/null \
    || fail "podman image inspect shows another image: $(jq -c '.[0] | {RepoTags, Config}' "$work/pinspect.json")"
say "podman load accepts the docker-archive; podman image inspect shows its config and tag"
# podman run works on some machines only (not where runc cannot set rlimits).
if got=$("${podman[@]}" run --rm --network none "${config#sha256:}" -c 'echo run by podman' 2>"$work/run.log"); then
    [ "$got" = "run by podman" ] || fail "podman run printed '$got'"
    say "podman run runs the image"
else
    say "podman run does not work here ($(tail -n 1 "$work/run.log")); the run under bwrap above stands in for it"
fi
"${podman[@]}" rmi -af >/dev/null 2>&1 || true
chmod -R u+w "$work/podman" 2>/dev/null || true

for attr in busyboxOCI bashOCI; do
    nix-build "$repo" -A "$attr" --check --no-out-link >/dev/null 2>"$work/check.log" \
        || { cat "$work/check.log" >&2; fail "$attr is not reproducible (nix-build --check)"; }
    say "$attr: nix-build --check rebuilt it bit for bit"
done
