#!/bin/bash
# Every `sh` block of README.md says whether it runs here: the line before it
# is `<!-- readme-run:PATH -->` or `<!-- readme-skip: why -->`. The blocks of
# the ACI quick path and of the OCI quick path then run as written, in order,
# one shell per path, in a copy of the repository (after the lead line's
# `nix-build -A busybox && ./result/postprocess.sh`, as the README says).
. "$(dirname "$0")/lib.sh"
need jq podman skopeo gpg

readme=$repo/README.md

# Each block's marker, or a failure naming the block's line.
awk '
    /^```sh/ {
        if (prev !~ /^<!-- readme-(run:[a-z]+|skip: .+) -->$/) { print NR; bad = 1 }
    }
    { prev = $0 }
    END { exit bad }
' "$readme" >"$work/unmarked" || fail "README.md sh blocks without a readme-run or readme-skip marker at lines: $(tr '\n' ' ' <"$work/unmarked")"

# blocks PATH: the blocks marked readme-run:PATH, in order.
blocks() {
    awk -v want="<!-- readme-run:$1 -->" '
        /^```sh/ && prev == want { on = 1; prev = $0; next }
        on && /^```/ { on = 0 }
        on { print }
        { prev = $0 }
    ' "$readme"
}

# A copy of the repository, with this checkout's build of mkaci.
copy=$work/nix2aci
mkdir "$copy"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$copy") \
    || fail "cannot copy the repository"
ln -s "$repo/target" "$copy/target"

run_path() {
    local path=$1 script
    script=$(blocks "$path")
    [ -n "$script" ] || fail "README.md has no block marked readme-run:$path"
    say "running the $path quick path:"
    printf '%s\n' "$script" | sed 's/^/    /'
    (cd "$copy" && bash -euo pipefail -c "$script") >"$work/$path.out" 2>&1 \
        || { cat "$work/$path.out" >&2; fail "the README's $path blocks fail as written"; }
}

(cd "$copy" && nix-build -A busybox >/dev/null 2>&1 && ./result/postprocess.sh >/dev/null 2>&1) \
    || fail "the lead line's nix-build -A busybox && ./result/postprocess.sh fails"
run_path aci
grep -q "ok" "$work/aci.out" || fail "the ACI blocks' verify printed no ok: $(cat "$work/aci.out")"
grep -qx "busybox 1.35.0" "$work/aci.out" || fail "the SBOM block did not list busybox: $(cat "$work/aci.out")"

podman rmi -f localhost/busybox:1.35.0 >/dev/null 2>&1 || true
run_path oci
tail -n1 "$work/oci.out" | grep -qx "amd64 \[/bin/busybox\]" \
    || fail "the OCI blocks' podman image inspect printed: $(tail -n3 "$work/oci.out")"
podman rmi -f localhost/busybox:1.35.0 >/dev/null 2>&1 || true
say "ok: every sh block is marked; the ACI and OCI quick paths run as written"
