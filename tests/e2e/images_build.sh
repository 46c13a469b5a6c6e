#!/bin/bash
# nix-build -A busybox, busyboxThin, busyboxStatic, bash and busyboxHttpd build in the
# sandbox; actool validates each image; the result has the documented layout.
. "$(dirname "$0")/lib.sh"
need jq actool

for attr in busybox busyboxThin busyboxStatic bash busyboxHttpd; do
    out=$(build "$attr")
    aci=$(image "$out")
    base=$(basename "$aci" .aci)
    expected=$(nix-instantiate --eval --json "$repo" -A "$attr.imageFileName" | jq -r .)
    [ "$base.aci" = "$expected" ] || fail "$attr: image is $base.aci, mkACI said $expected"
    validate "$aci"
    [ -f "$out/$base.manifest" ] || fail "$attr: no $base.manifest"
    [ -f "$out/$base.closure.json" ] || fail "$attr: no $base.closure.json"
    grep -Eqx 'sha512-[0-9a-f]{128}' "$out/$base.id" || fail "$attr: $base.id is not an image ID"
    [ -x "$out/postprocess.sh" ] || fail "$attr: postprocess.sh missing or not executable"
    # The ID is the SHA-512 of the uncompressed tar.
    id=$(gzip -dc <"$aci" | sha512sum | cut -d' ' -f1)
    [ "sha512-$id" = "$(cat "$out/$base.id")" ] || fail "$attr: $base.id does not match the image"
    thin=$(nix-instantiate --eval --json "$repo" -A "$attr.thin")
    # The index (version 2) describes the one artifact, its files and its digest.
    spec=$(nix-instantiate --eval --strict --json -E "let i = (import $repo { }).$attr; in
        { name = i.imageName; version = i.imageVersion; inherit (i.aciSpec) sign; }")
    jq -e --arg base "$base" --arg id "sha512-$id" --argjson thin "$thin" --argjson spec "$spec" '
        .nix2aci == 2 and (.artifacts | length) == 1 and (.artifacts[0] |
          .kind == "aci" and .name == $spec.name and .version == $spec.version
          and .os == "linux" and .arch == "amd64" and .sign == $spec.sign
          and .storeLayout == (if $thin then "thin" else "fat" end)
          and .files.image == ($base + ".aci") and .files.manifest == ($base + ".manifest")
          and .files.id == ($base + ".id") and .files.sbom == ($base + ".closure.json")
          and (if $thin then .files.mounts == ($base + ".mounts") else (.files | has("mounts") | not) end)
          and .digests.imageId == $id)' "$out/nix2aci.json" >/dev/null \
        || fail "$attr: nix2aci.json (version 2) does not describe $base.aci: $(jq -c . "$out/nix2aci.json")"
    if [ "$thin" = true ]; then
        [ -s "$out/$base.mounts" ] || fail "$attr: thin image without $base.mounts"
    else
        [ ! -e "$out/$base.mounts" ] || fail "$attr: fat image with $base.mounts"
    fi
    say "$attr: $base.aci valid ($(stat -c %s "$aci") bytes)"
done
