#!/bin/bash
# mkOCI refuses, at evaluation time and with a message naming the argument,
# every mkACI argument that has no OCI meaning, and its own arguments'
# mistakes; good arguments give the expected structured attrs.
. "$(dirname "$0")/lib.sh"
need jq

# mkOCI is evaluated with a stand-in mkaci path: nothing is built here.
expr() { stand_in_expr mkOCI "$1"; }
# refuses ARGS MESSAGE: mkOCI ARGS must fail with MESSAGE in the error.
refuses() { eval_refuses mkOCI "$1" "$2"; }
# One per mkACI argument with no OCI meaning; each names the argument, shows
# the value and says to remove it.
refuses '{ packages = [ bb ]; thin = true; }' 'mkOCI: `thin` (true) has no meaning in an OCI image'
refuses '{ packages = [ bb ]; isolators."os/linux/no-new-privileges" = true; }' '`isolators` ({"os/linux/no-new-privileges":true}) has no meaning in an OCI image'
refuses '{ packages = [ bb ]; eventHandlers.pre-start = [ "/bin/true" ]; }' '`eventHandlers` ({"pre-start":["/bin/true"]}) has no meaning'
refuses '{ packages = [ bb ]; supplementaryGIDs = [ 10 ]; }' '`supplementaryGIDs` ([10]) has no meaning'
refuses '{ packages = [ bb ]; os = "linux"; }' '`os` ("linux") has no meaning in an OCI image: the OCI os comes from `targetSystem` (default: `system`)'
refuses '{ packages = [ bb ]; arch = "arm64"; }' '`arch` ("arm64") has no meaning in an OCI image: the OCI architecture comes from `targetSystem` (default: `system`)'
refuses '{ packages = [ bb ]; sign = true; }' '`sign` (true) has no meaning in an OCI image: OCI images are not signed'
refuses '{ packages = [ bb ]; ports.http = { protocol = "tcp"; port = 80; socketActivated = true; }; }' 'socketActivated has no OCI equivalent'
refuses '{ packages = [ bb ]; layered = true; }' '`layered` (true) has no meaning in an OCI image: an OCI image already has one layer per store path'
refuses '{ packages = [ bb ]; layerPrefix = "example.com/deps"; }' '`layerPrefix` ("example.com/deps") has no meaning in an OCI image'
refuses '{ packages = [ bb ]; thin = true; }' 'remove `thin`, or build an ACI with mkACI'
# mkOCI's own arguments, and a compression OCI layers do not have.
refuses '{ packages = [ bb ]; compression = "xz"; }' '`compression` ("xz") is not an OCI layer compression; use "gzip"'
refuses '{ packages = [ bb ]; maxLayers = 1; }' '`maxLayers` must be an integer of at least 2'
refuses '{ packages = [ bb ]; maxLayers = "9"; }' '`maxLayers` must be an integer of at least 2'
refuses '{ packages = [ bb ]; tag = "1.0+git"; }' '`tag` ("1.0+git") is not a valid OCI tag'
refuses '{ packages = [ bb ]; version = "1.0+git"; }' 'the version "1.0+git" is not a valid OCI tag'
refuses '{ packages = [ bb ]; tag = 3; }' '`tag` must be a string'
refuses '{ packages = [ bb ]; system = "mips64-linux"; }' 'no appc os and arch known for system'
# mkACI's checks apply, under mkOCI's name.
refuses '{ packages = [ ]; }' 'mkOCI: `packages` is empty'
refuses '{ packages = [ bb ]; mounts.data = "var/lib"; }' 'mkOCI: `mounts.data` must be an absolute path'
# Every mkACI argument is an mkOCI argument too (mapped, or refused above by
# name), so none gets Nix's own "unexpected argument".
missing=$(nix-instantiate --eval --strict --json -E "let f = p: builtins.attrNames (builtins.functionArgs (import $repo/nix/\${p}.nix { mkaci = \"/x\"; system = \"x86_64-linux\"; })); o = f \"mkOCI\"; in builtins.filter (a: !(builtins.elem a o)) (f \"mkACI\")")
[ "$missing" = "[]" ] || fail "mkACI arguments that mkOCI neither maps nor refuses by name: $missing"
say "arguments without OCI meaning and bad mkOCI arguments fail at evaluation time, named"

# accepts ARGS JQ: the attrs of mkOCI ARGS ({ aci, oci, ... }) satisfy the jq filter.
accepts() {
    local json
    json=$(nix-instantiate --eval --strict --json -E "$(expr "let i = mkOCI $1; in { inherit (i) ociLayoutName tag platform; aci = i.aciSpec; oci = i.ociSpec; }")") \
        || fail "mkOCI $1 was refused"
    printf '%s' "$json" | jq -e "$2" >/dev/null || fail "mkOCI $1: $json does not satisfy $2"
}
accepts '{ packages = [ bb ]; }' '.tag == "1.35.0" and .oci.maxLayers == 100 and .ociLayoutName == "busybox-1.35.0-linux-amd64.oci"
    and .oci.dirName == .ociLayoutName and (.aci | has("sign") | not) and .platform == {os: "linux", architecture: "amd64"}'
accepts '{ packages = [ bb ]; system = "aarch64-linux"; version = ""; maxLayers = 5; }' \
    '.tag == "latest" and .ociLayoutName == "busybox-latest-linux-arm64.oci" and .oci.maxLayers == 5'
accepts '{ packages = [ bb ]; tag = "stable"; thin = false; sign = false; isolators = null; supplementaryGIDs = [ ]; compression = "none"; }' \
    '.tag == "stable" and .aci.compression == "none" and (.aci.thin | not)'
say "good arguments give the expected attrs (tag from the version, OCI platform from system)"

drv=$(nix-instantiate "$repo" -A busyboxOCI 2>/dev/null) || fail "cannot instantiate busyboxOCI"
drv_json "$drv" >"$work/drv.json"
jq -e '.structuredAttrs | .format == "oci" and .oci.tag == "1.35.0"
    and .exportReferencesGraph.closure == .aci.packages and (.mkaci | endswith("/bin/mkaci"))' "$work/drv.json" >/dev/null \
    || fail "busyboxOCI's derivation lacks the structured attrs mkaci reads: $(jq -c .structuredAttrs "$work/drv.json")"
say "the derivation is mkaci build with format = \"oci\""
