# Shared by the end-to-end tests that drive the real rkt (1.30, fly stage1);
# sourced after lib.sh. Finds rkt (NIX2ACI_RKT, NIX2ACI_RKT_STAGE1, default
# ../shared/tools/rkt/ beside the repository; skipped where absent), keeps
# all of rkt's state and a fresh gpg home with an RSA test key under $work,
# and cleans rkt's leftover mounts on exit. Gives rk/rk_ok/rk_refuses,
# publish, fetch_checked and expect_output.
# skip REASON: skipped (exit 0), or a failure when the tools are required.
skip() {
    [ "${NIX2ACI_REQUIRE_TOOLS:-}" = 1 ] && fail "$1 (NIX2ACI_REQUIRE_TOOLS=1)"
    say "skipped: $1"
    exit 0
}
# tool PATH: PATH made absolute if it is an executable file, or a command on $PATH.
tool() {
    case $1 in
        */*) [ -f "$1" ] && realpath "$1" ;;
        *) command -v "$1" ;;
    esac
}
# rkt is archived and no distribution ships it, so scripts/setup cannot
# install it: where it is not beside the repository, the test is skipped even
# under NIX2ACI_REQUIRE_TOOLS=1. A path given in NIX2ACI_RKT or
# NIX2ACI_RKT_STAGE1 that does not work is a failure.
absent() {
    [ -n "${2:-}" ] && fail "$1 ($2 is set)"
    say "skipped: $1"
    exit 0
}
RKT=$(tool "${NIX2ACI_RKT:-$repo/../shared/tools/rkt/rkt}") && [ -x "$RKT" ] ||
    absent "rkt not found (set NIX2ACI_RKT to a rkt 1.30 binary)" "${NIX2ACI_RKT:+NIX2ACI_RKT}"
STAGE1=$(tool "${NIX2ACI_RKT_STAGE1:-$repo/../shared/tools/rkt/stage1-fly.aci}") ||
    absent "rkt's stage1-fly.aci not found (set NIX2ACI_RKT_STAGE1)" "${NIX2ACI_RKT_STAGE1:+NIX2ACI_RKT_STAGE1}"
[ "$(id -u)" = 0 ] || skip "rkt needs root"
for t in gpg gpgconf jq findmnt timeout; do
    command -v "$t" >/dev/null || fail "$t is not installed (./scripts/setup installs it)"
done

# Everything lives in $work: the gpg home, ACIs/, and rkt's state in
# $work/rkt-* (one directory per rkt "machine": data, configs, trusted keys).
work=$(realpath "$work")
export GNUPGHOME="$work/gnupg"
ACIS="$work/ACIs"
state="$work/rkt-main"

# The fly stage1 leaves /dev, /proc, /sys (rbinds of the host's) and the
# volumes mounted until rkt gc. Those mounts share propagation with the
# host's: a plain umount of a leftover (say .../rootfs/dev/shm) would also
# unmount the host's mount at the same place, so make them private first.
# rm -rf over a live /dev bind would delete the host's /dev: if anything is
# still mounted, leave $work in place and say so.
mounts_under() { findmnt -rno TARGET | awk -v p="$1/" 'index($0, p) == 1'; }
# A test that sources this may define rkt_extra_cleanup (stop a server, ...),
# run first on exit.
rkt_cleanup() {
    local status=$? d left
    set +e
    if declare -F rkt_extra_cleanup >/dev/null; then rkt_extra_cleanup; fi
    for d in "$work"/rkt-*; do
        [ -d "$d/data" ] || continue
        rkt_in "$d" gc --grace-period=0s >/dev/null 2>&1
        rkt_in "$d" gc --grace-period=0s >/dev/null 2>&1
    done
    left=$(mounts_under "$work")
    if [ -n "$left" ]; then
        say "rkt gc left $(printf '%s\n' "$left" | wc -l) mounts under $work; unmounting them" >&2
        printf '%s\n' "$left" | sort -u | while read -r m; do mount --make-rprivate "$m" 2>/dev/null; done
        printf '%s\n' "$left" | sort -r | xargs -r umount -l 2>/dev/null
    fi
    gpgconf --kill gpg-agent >/dev/null 2>&1
    left=$(mounts_under "$work")
    if [ -n "$left" ]; then
        printf '%s: still mounted, not removing %s:\n%s\n' "$test_name" "$work" "$left" >&2
        exit 1
    fi
    cleanup
    exit "$status"
}
trap rkt_cleanup EXIT
trap 'exit 130' INT TERM HUP

# rkt_in STATE ARGS...: rkt with all its state in STATE. Its stdout and stderr
# go to $work/out and $work/err; its exit status is returned.
rkt_in() {
    local dir=$1; shift
    timeout 120 "$RKT" --dir="$dir/data" --local-config="$dir/cfg" --system-config="$dir/sys" \
        --user-config="$dir/user" "$@" </dev/null >"$work/out" 2>"$work/err"
}
rk() { rkt_in "$state" "$@"; }
# said: what rkt printed last (for failure messages).
said() {
    printf '\n--- rkt stdout (tail):\n%s\n--- rkt stderr (tail):\n%s' \
        "$(tail -n 5 "$work/out")" "$(grep -v 'group "rkt" not found' "$work/err" | tail -n 8)"
    if grep -q 'RSA verification failure' "$work/err"; then short_signatures; fi
}

# rkt 1.30 (its vendored x/crypto/openpgp, built with Go >= 1.16, whose
# rsa.VerifyPKCS1v15 wants exactly as many bytes as the modulus) rejects an
# RSA signature whose value has a leading zero byte, which gpg writes one byte
# short: "openpgp: invalid signature: RSA verification failure". About 1
# signature in 128 to 256 is like that, and gpg --verify accepts it.
# sig_short ASC: the signature in ASC is shorter than the signing key.
sig_short() {
    local bits keybits
    bits=$(gpg --list-packets "$1" 2>/dev/null | sed -n 's/.*data: \[\([0-9]*\) bits\].*/\1/p' | head -n 1)
    keybits=$(gpg --with-colons --list-keys 2>/dev/null | awk -F: '$1 == "pub" { print $3; exit }')
    [ -n "$bits" ] && [ -n "$keybits" ] && [ $(((bits + 7) / 8)) -lt $(((keybits + 7) / 8)) ]
}
# short_signatures: names the signatures rkt rejects for the reason above.
short_signatures() {
    local asc
    for asc in "$ACIS"/*.asc "$work"/*.asc; do
        [ -f "$asc" ] && sig_short "$asc" || continue
        printf '\n%s: its RSA signature has a leading zero byte, which rkt 1.30 rejects (gpg --verify accepts it)' "$asc"
    done
}
# rk_ok WHAT ARGS...: rk ARGS must succeed.
rk_ok() {
    local what=$1; shift
    rk "$@" || fail "$what: rkt $* exited $?$(said)"
}
# rk_refuses WHAT EXPECTED STATE ARGS...: rkt ARGS in STATE must fail with EXPECTED on stderr.
rk_refuses() {
    local what=$1 expected=$2 dir=$3; shift 3
    if rkt_in "$dir" "$@"; then fail "$what: rkt $* succeeded$(said)"; fi
    grep -qF -- "$expected" "$work/err" || fail "$what: rkt $* failed, but not with '$expected'$(said)"
    say "$what: refused ($expected)"
}
# rkt run's options for the tests: the unsigned stage1, so no verification.
run_opts=(--stage1-path="$STAGE1" --insecure-options=image)

# publish ATTR: builds ATTR, runs its postprocess.sh into $ACIS (signs with
# the test key), trusts the key for the image's name; sets out, aci, name.
publish() {
    out=$(build "$1")
    aci=$ACIS/$(basename "$(image "$out")")
    name=$(jq -r .name "$out"/*.manifest) || fail "$1: cannot read .name from $out/*.manifest"
    (cd "$work" && "$out/postprocess.sh" "$ACIS") >"$work/pp.log" 2>&1 ||
        fail "$1: postprocess.sh failed: $(tail -n 5 "$work/pp.log")"
    [ -f "$aci" ] && [ -f "$aci.asc" ] && [ -f "$ACIS/pubkeys.gpg" ] ||
        fail "$1: postprocess.sh did not leave $aci, its .asc and pubkeys.gpg: $(ls -la "$ACIS")"
    rk_ok "$1: trust" trust --prefix="$name" --skip-fingerprint-review "$ACIS/pubkeys.gpg"
}

# fetch_checked ATTR: rkt fetch verifies $aci.asc; its image ID is a prefix of
# the result's .id and its manifest is the result's .manifest. Sets id.
fetch_checked() {
    rk_ok "$1: fetch of the signed image" fetch "$aci"
    grep -q 'signature verified' "$work/err" || fail "$1: rkt fetch did not say it verified the signature$(said)"
    id=$(tail -n 1 "$work/out")
    [[ $id =~ ^sha512-[0-9a-f]{32,128}$ ]] || fail "$1: rkt fetch printed no image ID$(said)"
    local full
    full=$(cat "$out"/*.id)
    case $full in "$id"*) ;; *) fail "$1: rkt's image ID $id is not a prefix of the result's .id $full" ;; esac
    rk_ok "$1: cat-manifest" image cat-manifest "$id"
    jq -S . "$work/out" >"$work/rkt.manifest" || fail "$1: rkt's manifest is not JSON$(said)"
    jq -S . "$out"/*.manifest >"$work/our.manifest" || fail "$1: the result's .manifest is not JSON"
    diff -u "$work/our.manifest" "$work/rkt.manifest" >"$work/diff" ||
        fail "$1: rkt image cat-manifest $id differs from the result's .manifest:
$(head -n 40 "$work/diff")"
    say "$1: rkt fetch verified $(basename "$aci").asc; image $id matches the .id and .manifest"
}

# expect_output WHAT EXPECTED ARGS...: rk run ARGS succeeds and prints EXPECTED (its last line).
expect_output() {
    local what=$1 expected=$2 got; shift 2
    rk_ok "$what" run "${run_opts[@]}" "$@"
    got=$(tail -n 1 "$work/out")
    [ "$got" = "$expected" ] || fail "$what: printed '$got', expected '$expected'$(said)"
    say "$what: printed $expected"
}

mkdir -p -m 700 "$GNUPGHOME"
# rkt cannot verify Ed25519 signatures: an RSA key, without a passphrase.
gpg --batch --passphrase '' --pinentry-mode loopback \
    --quick-gen-key 'nix2aci test <test@example.com>' rsa2048 sign never >"$work/gpg.log" 2>&1 ||
    fail "gpg cannot create the test key: $(tail -n 5 "$work/gpg.log")"

