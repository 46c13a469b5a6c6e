# Shared helpers for the end-to-end tests; sourced by tests/e2e/*.sh.
# Each test builds with the real nix-build (sandbox on, no substituters) and
# checks the result with real tools (actool, bwrap, tar, jq).
set -eu

repo=$(cd "$(dirname "$0")/../.." && pwd)
test_name=$(basename "$0" .sh)
# Sandbox on, nothing downloaded, whatever /etc/nix/nix.conf says.
export NIX_CONFIG='sandbox = true
substituters =
experimental-features = nix-command flakes'
# The offline package set, unless a test asks for nixpkgs itself.
export NIX_PATH=
work=$(mktemp -d "${TMPDIR:-/tmp}/nix2aci-$test_name.XXXXXX")
cleanup() { chmod -R u+w "$work" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

say() { printf '%s: %s\n' "$test_name" "$*"; }
fail() { printf '%s: FAIL: %s\n' "$test_name" "$*" >&2; exit 1; }

# need TOOL...: the test needs these host programs. When one is not on PATH
# the test is skipped (exit 0), or fails when NIX2ACI_REQUIRE_TOOLS=1 (what
# ./scripts/test sets, so that a missing tool cannot pass unnoticed).
need() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 && continue
        [ "${NIX2ACI_REQUIRE_TOOLS:-}" != 1 ] || fail "$t not found (NIX2ACI_REQUIRE_TOOLS=1: a missing tool fails the test)"
        printf '%s: skipped: %s not found\n' "$test_name" "$t"
        exit 0
    done
}

# build ATTR: nix-build -A ATTR of the repository into $work/result-ATTR; prints the result path.
build() {
    nix-build "$repo" -A "$1" -o "$work/result-$1" >/dev/null || fail "nix-build -A $1 failed"
    readlink -f "$work/result-$1"
}

# image RESULT: the one .aci in a result directory.
image() {
    set -- "$1"/*.aci
    [ "$#" = 1 ] && [ -f "$1" ] || fail "expected exactly one .aci in the result, got: $*"
    printf '%s\n' "$1"
}

# extract ACI DIR: unpacks an image (manifest and rootfs/) into DIR.
extract() {
    mkdir -p "$2"
    tar -xf "$1" -C "$2" || fail "tar cannot extract $1"
    [ -f "$2/manifest" ] && [ -d "$2/rootfs" ] || fail "$1 lacks manifest or rootfs/"
}

# exec_of MANIFEST: the app's exec, one word per line.
exec_of() { jq -r '.app.exec[]' "$1"; }

# run_app DIR: runs the app of an extracted image (DIR/manifest, DIR/rootfs)
# as its manifest says (exec and environment), with the rootfs alone as /
# under bwrap; prints what it prints.
run_app() {
    local env_args=() cmd k v
    while IFS=$'\t' read -r k v; do env_args+=(--setenv "$k" "$v"); done \
        < <(jq -r '(.app.environment // [])[] | [.name, .value] | @tsv' "$1/manifest")
    mapfile -t cmd < <(exec_of "$1/manifest")
    bwrap --bind "$1/rootfs" / --proc /proc --dev /dev --unshare-all --clearenv "${env_args[@]}" -- "${cmd[@]}"
}

# validate ACI: actool accepts the image.
validate() { actool validate "$1" >/dev/null || fail "actool validate rejects $1"; }

# make_standin DIR: a self-contained copy of the nixpkgs stand-in
# (tests/e2e/nixpkgs-standin) in DIR, usable as a flake in pure evaluation:
# nix/offline.nix, Cargo.toml, the static mkaci and copies of exactly the host
# files the offline package set reads, under DIR/host.
make_standin() {
    local dir=$1 triple lib f
    triple=$(uname -m)-linux-gnu
    lib=/usr/lib/$triple
    mkdir -p "$dir/nix" "$dir/host/usr/bin" "$dir/host$lib" "$dir/host/var/lib/dpkg"
    cp "$repo/tests/e2e/nixpkgs-standin/default.nix" "$repo/tests/e2e/nixpkgs-standin/flake.nix" "$dir/"
    cp "$repo/nix/offline.nix" "$dir/nix/"
    cp "$repo/Cargo.toml" "$dir/"
    cp -p "$repo/target/$(uname -m)-unknown-linux-gnu/release/mkaci" "$dir/mkaci"
    cp -p /usr/bin/busybox /usr/bin/bash /usr/bin/patchelf "$dir/host/usr/bin/"
    # Symlinks stay symlinks (libtinfo.so.6 -> libtinfo.so.6.4), as offline.nix imports them.
    for f in "$lib"/ld-linux-*.so.* "$lib"/libc.so.6 "$lib"/libm.so.6 "$lib"/libtinfo.so.6* \
        "$lib"/libgcc_s.so.1 "$lib"/libstdc++.so.6*; do
        case $f in *.py) continue ;; esac
        cp -P -p "$f" "$dir/host$lib/"
    done
    cp /var/lib/dpkg/status "$dir/host/var/lib/dpkg/status"
}

# Evaluation-time refusals of mkACI and mkOCI, evaluated with a stand-in
# mkaci path (nothing is built). stand_in_expr FN EXPR: EXPR where FN
# (mkACI or mkOCI, exec defaulting to /bin/busybox so that each case tests
# the argument it names) and bb (the offline busybox) are bound.
stand_in_expr() {
    printf 'let %s0 = import %s/nix/%s.nix { mkaci = "/nix/store/00000000000000000000000000000000-mkaci"; system = "x86_64-linux"; };
  %s = args: %s0 ({ exec = "/bin/busybox"; } // args);
  bb = (import %s/nix/offline.nix { }).busybox; in %s' "$1" "$repo" "$1" "$1" "$1" "$repo" "$2"
}
# eval_refuses FN ARGS MESSAGE: FN ARGS must fail to evaluate, with MESSAGE
# in the error.
eval_refuses() {
    local err
    if err=$(nix-instantiate --eval --strict -E "$(stand_in_expr "$1" "($1 $2).drvPath")" 2>&1); then
        fail "$1 $2 was accepted"
    fi
    case $err in *"$3"*) ;; *) fail "$1 $2: error lacks '$3': $err" ;; esac
}

# drv_json DRV: the derivation DRV as one JSON object with `builder`, `args`
# and its structured attrs as the object `structuredAttrs`, under any Nix the
# suite runs (docs/nix-versions.md). Nix 2.8 has `nix show-derivation`: an
# object keyed by the .drv path, the structured attrs a string in `env.__json`.
# Nix 2.35 has `nix derivation show` (`show-derivation` a deprecated alias):
# `{"derivations": {"<hash>-<name>.drv": ...}, "version": 4}`, the structured
# attrs an object in `structuredAttrs` and no `__json`.
drv_json() {
    local cmd=show-derivation
    nix derivation show --help >/dev/null 2>&1 && cmd="derivation show"
    # shellcheck disable=SC2086 # two words
    nix $cmd "$1" | jq -e 'if has("derivations") then .derivations[] else .[] end
        | if has("structuredAttrs") then . else .structuredAttrs = (.env.__json // null | fromjson?) end
        | select(.structuredAttrs != null)' \
        || fail "nix $cmd $1 gives no derivation with structured attrs"
}

# gc_root_links: the links Nix counts as GC roots, one a line, under any Nix
# the suite runs: `nix-store --gc --print-roots` prints `LINK -> STORE-PATH`
# under 2.8 and `"LINK" -> STORE-PATH` (the link quoted) under 2.35.
gc_root_links() {
    nix-store --gc --print-roots 2>/dev/null | sed -n 's/^"\(.*\)" -> .*$/\1/p; t; s/^\(.*\) -> .*$/\1/p'
}
