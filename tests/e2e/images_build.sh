#!/bin/bash
# nix-build -A busybox, busyboxThin, busyboxStatic and bash build in the
# sandbox; actool validates each image; the result has the documented layout.
. "$(dirname "$0")/lib.sh"
need jq actool

for attr in busybox busyboxThin busyboxStatic bash; do
    out=$(build "$attr")
    aci=$(image "$out")
    base=$(basename "$aci" .aci)
    expected=$(nix-instantiate --eval --json "$repo" -A "$attr.imageFileName" | jq -r .)
    [ "$base.aci" = "$expected" ] || fail "$attr: image is $base.aci, mkACI said $expected"
    validate "$aci"
    [ -f "$out/$base.manifest" ] || fail "$attr: no $base.manifest"
    grep -Eqx 'sha512-[0-9a-f]{128}' "$out/$base.id" || fail "$attr: $base.id is not an image ID"
    [ -x "$out/postprocess.sh" ] || fail "$attr: postprocess.sh missing or not executable"
    jq -e --arg f "$base.aci" '.nix2aci == 1 and .images[0].file == $f' "$out/nix2aci.json" >/dev/null \
        || fail "$attr: nix2aci.json does not describe $base.aci"
    # The ID is the SHA-512 of the uncompressed tar.
    id=$(gzip -dc <"$aci" | sha512sum | cut -d' ' -f1)
    [ "sha512-$id" = "$(cat "$out/$base.id")" ] || fail "$attr: $base.id does not match the image"
    thin=$(nix-instantiate --eval --json "$repo" -A "$attr.thin")
    if [ "$thin" = true ]; then
        [ -s "$out/$base.mounts" ] || fail "$attr: thin image without $base.mounts"
    else
        [ ! -e "$out/$base.mounts" ] || fail "$attr: fat image with $base.mounts"
    fi
    say "$attr: $base.aci valid ($(stat -c %s "$aci") bytes)"
done
