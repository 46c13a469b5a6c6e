#!/bin/bash
# scripts/check-layers: the tree passes, and each kind of import against the
# layering, planted into a copy of src/, is reported with its file and line.
set -eu
. "$(dirname "$0")/lib.sh"

check=$repo/scripts/check-layers
"$check" "$repo/src" >/dev/null || fail "the tree breaks the layering: $("$check" "$repo/src" 2>&1)"

# plant FILE LINE EXPECTED: a copy of src/ with LINE appended to FILE must be
# refused, naming FILE and EXPECTED.
plant() {
    rm -rf "$work/src"
    cp -r "$repo/src" "$work/src"
    printf '%s\n' "$2" >>"$work/src/$1"
    if "$check" "$work/src" >"$work/out" 2>&1; then
        fail "check-layers accepted $1 with: $2"
    fi
    grep -q "^check-layers: $1:[0-9]*: .*$3" "$work/out" || fail "check-layers on $1 said: $(cat "$work/out")"
}

plant formats/aci/app.rs 'use crate::formats::oci::types::ImageIndex;' "the format aci imports the format oci"
plant formats/oci/layout.rs 'use crate::formats::aci::write_image;' "the format oci imports the format aci"
plant formats/aci/app.rs 'use super::layered::pin;' "imports the kind formats::aci::layered"
plant formats/oci/config.rs 'use super::image::build;' "imports the kind formats::oci::image"
plant image/spec.rs 'use crate::archive::write_aci;' "image/ imports archive::write_aci, a later wing"
plant nix/attrs.rs 'use crate::image::manifest::ImageManifest;' "a later wing (image/)"
plant result/index.rs 'use crate::formats::oci::types::Platform;' "a later wing (formats/)"
plant formats/aci/mod.rs 'use crate::build::format_of;' "a later wing (build/)"
plant formats/oci/image.rs 'use crate::publish::sign::Gpg;' "a later wing (publish/)"
plant publish/site.rs 'use crate::check::verify::check_present;' "a later wing (check/)"
# A comment is not an import; code after it in the same file is.
plant image/plan/mod.rs '// see crate::publish::postprocess
fn f() { crate::check::inspect::read_image; }' "image/ imports check::inspect::read_image"
# super:: inside a test module counts from the module.
plant archive/digest.rs '#[cfg(test)]
mod more_tests {
    use super::super::super::publish::sign::Gpg;
}' "a later wing (publish/)"
say "ok: the tree passes; 12 planted imports refused"
