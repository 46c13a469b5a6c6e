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

# docs/architecture.md's table of the tree names every module of every wing.
python3 - "$repo" <<'PY' || fail "docs/architecture.md's module table does not match src/"
import pathlib, re, sys
repo = pathlib.Path(sys.argv[1])
doc = (repo / "docs/architecture.md").read_text()
rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)/` \| (.*?) \|", doc, re.M)}
missing = []
for wing in ["nix", "image", "archive", "result", "formats", "publish", "check"]:
    row = rows.get(wing)
    if row is None:
        missing.append(f"no row for {wing}/")
        continue
    for p in sorted((repo / "src" / wing).iterdir()):
        name = p.stem if p.suffix == ".rs" else p.name
        if name in ("mod", "testdata"):
            continue
        if f"`{name}`" not in row and f"`{name}/`" not in row:
            missing.append(f"{wing}/{name}")
    if wing == "formats":
        for fam in ["aci", "oci"]:
            for p in sorted((repo / "src/formats" / fam).glob("*.rs")):
                if p.stem != "mod" and f"`{p.stem}`" not in row:
                    missing.append(f"formats/{fam}/{p.stem}")
if missing:
    print("not in docs/architecture.md's table: " + ", ".join(missing), file=sys.stderr)
    sys.exit(1)
PY
say "ok: docs/architecture.md's table names every module"
