#!/bin/bash
# The closure SBOM, <base>.closure.json, of real nix-builds:
# - busybox and bash (fat): its paths, narHash, narSize and references are what
#   nix-store --query says of the packages' closure, name and version what
#   builtins.parseDrvName says, every placement "contents", and the manifest
#   annotation nix2aci.org/closure-sha256 is sha256- and the file's SHA-256;
# - postprocess.sh links it into ACIs/; mkaci inspect --sbom prints it and
#   mkaci verify accepts it; a changed or missing SBOM is refused (naming the
#   file and both hashes) until postprocess.sh runs again;
# - busyboxThin: each path is a thin-mount named as in <base>.mounts;
# - busyboxOCI: the config label of the same name pins it; inspect --sbom
#   of the published layout prints it.
. "$(dirname "$0")/lib.sh"
need jq gpg gpgconf sha256sum nix-store

cd "$work"
# A signing key of the test's own, so that postprocess.sh signs (and
# verify checks) whatever the user's keyring holds.
export GNUPGHOME="$work/gnupg"
trap 'gpgconf --kill gpg-agent >/dev/null 2>&1; cleanup' EXIT
"$repo/scripts/ensure-signing-key" >/dev/null 2>&1 || fail "scripts/ensure-signing-key could not make a key"

# pin_of MANIFEST: the value of the annotation nix2aci.org/closure-sha256.
pin_of() { jq -r '.annotations[] | select(.name == "nix2aci.org/closure-sha256") | .value' "$1"; }

# check_paths ATTR SBOM: the SBOM's paths are the packages' closure, as Nix knows it.
check_paths() {
    local attr=$1 sbom=$2 p want got
    # The packages the SBOM names are the image's.
    want=$(nix-instantiate --eval --strict --json "$repo" -A "$attr.aciSpec.packages" | jq -c 'sort')
    [ "$(jq -c .packages "$sbom")" = "$want" ] || fail "$attr: SBOM packages $(jq -c .packages "$sbom") are not $want"
    want=$(nix-store --query --requisites $(jq -r '.packages[]' "$sbom") | sort)
    got=$(jq -r '.paths[].path' "$sbom")
    [ "$got" = "$want" ] || fail "$attr: the SBOM lists $(echo "$got" | wc -l) paths, the closure has $(echo "$want" | wc -l): $got"
    for p in $got; do
        jq -e --arg p "$p" --arg h "$(nix-store --query --hash "$p")" --argjson s "$(nix-store --query --size "$p")" \
            --argjson r "$(nix-store --query --references "$p" | sort | jq -R . | jq -sc .)" \
            '.paths[] | select(.path == $p) | .narHash == $h and .narSize == $s and .references == $r' "$sbom" >/dev/null \
            || fail "$attr: $p: the SBOM says $(jq -c --arg p "$p" '.paths[] | select(.path == $p)' "$sbom"), nix-store says hash $(nix-store -q --hash "$p"), size $(nix-store -q --size "$p")"
    done
    # Names and versions as builtins.parseDrvName splits the store path names.
    want=$(jq -c '[.paths[].path | sub("^.*/[0-9a-z]{32}-"; "")]' "$sbom")
    want=$(nix-instantiate --eval --strict --json -E "map (n: let d = builtins.parseDrvName n; in { name = d.name; version = if d.version == \"\" then null else d.version; }) (builtins.fromJSON ''$want'')")
    [ "$(jq -c '[.paths[] | {name, version}]' "$sbom")" = "$(jq -c . <<<"$want")" ] \
        || fail "$attr: names and versions $(jq -c '[.paths[] | {name, version}]' "$sbom") are not parseDrvName's $want"
    say "$attr: the SBOM's $(echo "$got" | wc -l) paths, hashes, sizes, references, names and versions are Nix's"
}

# Fat busybox.
nix-build "$repo" -A busybox >/dev/null || fail "nix-build -A busybox failed"
file=$(nix-instantiate --eval --json "$repo" -A busybox.imageFileName | jq -r .)
base=${file%.aci}
sbom=result/$base.closure.json
[ -f "$sbom" ] || fail "no $sbom in the result: $(ls result)"
jq -e --arg s "$base.closure.json" '.artifacts[0].files.sbom == $s' result/nix2aci.json >/dev/null \
    || fail "nix2aci.json does not list $base.closure.json: $(jq -c .artifacts[0].files result/nix2aci.json)"
jq -e '.nix2aciClosure == 1 and .image.kind == "aci" and .image.name == "busybox" and .image.os == "linux"
    and .image.arch == "amd64" and ([.paths[].placement.kind] | unique) == ["contents"]' "$sbom" >/dev/null \
    || fail "unexpected SBOM: $(jq -c '{nix2aciClosure, image}' "$sbom")"
check_paths busybox "$sbom"
pin="sha256-$(sha256sum <"$sbom" | cut -d' ' -f1)"
[ "$(pin_of "result/$base.manifest")" = "$pin" ] || fail "the manifest pins '$(pin_of "result/$base.manifest")', the SBOM is $pin"
extract "result/$file" "$work/x"
[ "$(pin_of "$work/x/manifest")" = "$pin" ] || fail "the manifest inside the image does not pin $pin"
say "busybox: the manifest inside the image pins the SBOM ($pin)"

# bash: a closure of several store paths that refer to each other.
nix-build "$repo" -A bash -o result-bash >/dev/null || fail "nix-build -A bash failed"
set -- result-bash/*.closure.json
[ "$(jq '.paths | length' "$1")" -gt 1 ] || fail "bash: the SBOM has one path only"
check_paths bash "$1"

# Published, printed and verified.
./result/postprocess.sh >"$work/pp.out" || fail "./result/postprocess.sh failed: $(cat "$work/pp.out")"
[ -L "ACIs/$base.closure.json" ] && [ "$(readlink -f "ACIs/$base.closure.json")" = "$(readlink -f "$sbom")" ] \
    || fail "ACIs/$base.closure.json is not a link to the result's SBOM: $(ls -la ACIs)"
mkaci=$(sed -n "s/^exec \([^ ]*\) postprocess.*/\1/p" result/postprocess.sh)
"$mkaci" inspect --sbom "ACIs/$file" >"$work/printed.json" 2>"$work/inspect.err" || fail "inspect --sbom failed: $(cat "$work/inspect.err")"
cmp -s "$work/printed.json" "$sbom" || fail "inspect --sbom does not print the SBOM"
"$mkaci" verify "ACIs/$file" >"$work/verify.out" 2>&1 || fail "mkaci verify failed: $(cat "$work/verify.out")"
grep -qF "closure:   ACIs/$base.closure.json matches the pinned $pin" "$work/verify.out" \
    || fail "verify does not report the SBOM: $(cat "$work/verify.out")"
say "postprocess.sh publishes ACIs/$base.closure.json; inspect --sbom prints it and verify accepts it"

# A changed SBOM, then a missing one, are refused by verify and inspect --sbom.
rm "ACIs/$base.closure.json"
jq '.paths[0].version = "6.6.6"' "$sbom" >"ACIs/$base.closure.json"
actual="sha256-$(sha256sum <"ACIs/$base.closure.json" | cut -d' ' -f1)"
for cmd in verify "inspect --sbom"; do
    if "$mkaci" $cmd "ACIs/$file" >"$work/out" 2>"$work/err"; then fail "mkaci $cmd accepts a changed SBOM"; fi
    for needle in "ACIs/$base.closure.json" "$pin" "$actual" "postprocess.sh"; do
        grep -qF -- "$needle" "$work/err" || fail "mkaci $cmd on a changed SBOM does not say $needle: $(cat "$work/err")"
    done
    [ ! -s "$work/out" ] || [ "$cmd" = verify ] || fail "inspect --sbom printed a refused SBOM"
done
say "a changed SBOM is refused, naming the file, $pin and $actual"
rm "ACIs/$base.closure.json"
if "$mkaci" verify "ACIs/$file" >/dev/null 2>"$work/err"; then fail "mkaci verify accepts a missing SBOM"; fi
grep -qF "ACIs/$base.closure.json" "$work/err" && grep -qF "$pin" "$work/err" \
    || fail "verify on a missing SBOM does not name it and the pin: $(cat "$work/err")"
./result/postprocess.sh >/dev/null || fail "./result/postprocess.sh fails again"
"$mkaci" verify "ACIs/$file" >/dev/null 2>&1 || fail "verify fails after postprocess.sh published the SBOM again"
say "a missing SBOM is refused; postprocess.sh puts it back"

# Thin: every path a thin-mount, named as in .mounts.
nix-build "$repo" -A busyboxThin -o result-thin >/dev/null || fail "nix-build -A busyboxThin failed"
set -- result-thin/*.closure.json
tsbom=$1
check_paths busyboxThin "$tsbom"
want=$(tr ' ' '\n' <result-thin/*.mounts | sed -n 's/^--volume=\([^,]*\),kind=host,source=\([^,]*\),.*/\2 \1/p' | sort)
got=$(jq -r '.paths[] | "\(.path) \(.placement.mount)"' "$tsbom")
[ "$got" = "$want" ] && [ "$(jq -r '[.paths[].placement.kind] | unique | join(",")' "$tsbom")" = thin-mount ] \
    || fail "busyboxThin: the placements $got are not the mounts $want"
[ "$(pin_of result-thin/*.manifest)" = "sha256-$(sha256sum <"$tsbom" | cut -d' ' -f1)" ] || fail "busyboxThin: the manifest does not pin its SBOM"
say "busyboxThin: every path is a thin-mount named as in .mounts, and pinned"

# OCI: the config label pins it.
nix-build "$repo" -A busyboxOCI -o result-oci >/dev/null || fail "nix-build -A busyboxOCI failed"
set -- result-oci/*.closure.json
osbom=$1
lay=$(jq -r '.artifacts[0].files.layout' result-oci/nix2aci.json)
[ "$(jq -r '.artifacts[0].files.sbom' result-oci/nix2aci.json)" = "$(basename "$osbom")" ] || fail "busyboxOCI: the index does not list $osbom"
check_paths busyboxOCI "$osbom"
m=result-oci/$lay/blobs/sha256/$(jq -r '.manifests[0].digest | ltrimstr("sha256:")' "result-oci/$lay/index.json")
c=result-oci/$lay/blobs/sha256/$(jq -r '.config.digest | ltrimstr("sha256:")' "$m")
[ "$(jq -r '.config.Labels["nix2aci.org/closure-sha256"]' "$c")" = "sha256-$(sha256sum <"$osbom" | cut -d' ' -f1)" ] \
    || fail "busyboxOCI: the config label does not pin the SBOM: $(jq -c .config.Labels "$c")"
jq -e '.image.kind == "oci-layout" and ([.paths[].placement.kind] | unique) == ["contents"]' "$osbom" >/dev/null \
    || fail "busyboxOCI: unexpected SBOM $(jq -c .image "$osbom")"
./result-oci/postprocess.sh >/dev/null || fail "busyboxOCI: postprocess.sh failed"
[ "$(readlink -f "OCI/$(basename "$osbom")")" = "$(readlink -f "$osbom")" ] || fail "busyboxOCI: postprocess.sh did not link the SBOM into OCI/"
"$mkaci" inspect --sbom "OCI/$lay" >"$work/oci-printed.json" 2>"$work/err" || fail "busyboxOCI: inspect --sbom OCI/$lay failed: $(cat "$work/err")"
cmp -s "$work/oci-printed.json" "$osbom" || fail "busyboxOCI: inspect --sbom OCI/$lay does not print the SBOM"
say "busyboxOCI: the config label pins the SBOM, published into OCI/; inspect --sbom OCI/$lay prints it"
