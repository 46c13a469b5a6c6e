#!/bin/bash
# The real rkt (1.30, fly stage1) trusts the key postprocess.sh exports,
# fetches our signed images (verifying the .asc), sees the same manifest and
# image ID as the result, and runs them: fat busybox, thin busybox with its
# .mounts volumes, the dynamically linked bash, and an image with a read-only
# mount point of its own, with the --volume postprocess.sh prints for it,
# and a non-root app (user = "app" from users.app): it runs as uid 1000, and
# its home directory, which the image gives to it, is writable by it. A
# tampered image, a missing .asc and a key trusted for another prefix are
# refused.
#
# rkt is found through NIX2ACI_RKT and NIX2ACI_RKT_STAGE1 (default: rkt and
# stage1-fly.aci in ../shared/tools/rkt/ beside the repository). Without them
# the test is skipped. rkt needs root.
. "$(dirname "$0")/lib.sh"

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
rkt_cleanup() {
    local status=$? d left
    set +e
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

# 1. Fat busybox: trusted, fetched (verified), run; the exit status comes back.
publish busybox
fetch_checked busybox
expect_output "busybox: rkt run $(basename "$aci")" hello-from-rkt \
    "$aci" --exec /bin/sh -- -c 'echo hello-from-rkt'
expect_output "busybox: rkt run of the fetched image $id" hello-by-id \
    "$id" --exec /bin/sh -- -c 'echo hello-by-id'
status=0
rk run "${run_opts[@]}" "$aci" --exec /bin/sh -- -c 'exit 7' || status=$?
[ "$status" = 7 ] || fail "busybox: rkt run of 'exit 7' exited $status, expected 7$(said)"
say "busybox: rkt run passes the app's exit status 7 back"
# Without --insecure-options=image, run verifies the image too: sign a copy
# of the stage1 with the test key so that only the images' signatures matter.
# That signature is the test's own: sign again (another notation, so another
# signature) while it is one that rkt rejects (see sig_short).
cp "$STAGE1" "$work/stage1-fly.aci"
for try in 1 2 3 4 5 6 7 8; do
    gpg --batch --yes --armor --detach-sign --sig-notation "try@nix2aci.test=$try" \
        -o "$work/stage1-fly.aci.asc" "$work/stage1-fly.aci" 2>"$work/gpg.log" ||
        fail "gpg cannot sign the stage1 copy: $(tail -n 5 "$work/gpg.log")"
    sig_short "$work/stage1-fly.aci.asc" || break
done
rk_ok "trust for the stage1" trust --prefix=coreos.com/rkt/stage1-fly --skip-fingerprint-review "$ACIS/pubkeys.gpg"
rk_ok "busybox: verified rkt run" run --stage1-path="$work/stage1-fly.aci" "$aci" --exec /bin/sh -- -c 'echo verified'
[ "$(tail -n 1 "$work/out")" = verified ] || fail "busybox: verified rkt run printed the wrong thing$(said)"
say "busybox: rkt run without --insecure-options verifies the image and runs it"

# 2. Refusals: a one-byte tamper, a missing .asc, a key trusted for another prefix.
mkdir "$work/tamper" "$work/nosig"
bad=$work/tamper/$(basename "$aci")
cp -L "$aci" "$bad" && cp "$aci.asc" "$bad.asc" || fail "cannot copy $aci and its .asc"
chmod u+w "$bad"
offset=$(( $(stat -c %s "$bad") / 2 ))
byte=$(od -An -tu1 -j "$offset" -N1 "$bad" | tr -d ' ')
printf "\\$(printf %03o $(( byte ^ 0xff )))" | dd of="$bad" bs=1 seek="$offset" conv=notrunc status=none
cmp -s "$aci" "$bad" && fail "flipping byte $offset of $bad changed nothing"
rk_refuses "busybox with byte $offset flipped" "openpgp: invalid signature" "$state" fetch "$bad"
cp -L "$aci" "$work/nosig/" || fail "cannot copy $aci"
rk_refuses "busybox without its .asc" ".aci.asc: no such file" "$state" fetch "$work/nosig/$(basename "$aci")"
other=$work/rkt-other
rkt_in "$other" trust --prefix=example.com/other --skip-fingerprint-review "$ACIS/pubkeys.gpg" ||
    fail "trust for example.com/other failed$(said)"
rk_refuses "busybox, key trusted only for example.com/other" "signature made by unknown entity" "$other" fetch "$aci"

# 3. Thin busybox: runs with the .mounts volumes, not without them.
publish busyboxThin
fetch_checked busyboxThin
mounts=$(cat "$out"/*.mounts) || fail "busyboxThin: no .mounts in $out"
# shellcheck disable=SC2086 # .mounts is a list of words
expect_output "busyboxThin: rkt run with its .mounts" hello-from-thin \
    $mounts "$aci" --exec /bin/sh -- -c 'echo hello-from-thin'
rk_refuses "busyboxThin: rkt run without its volumes" 'missing volume for mountpoint "nix-' "$state" \
    run "${run_opts[@]}" "$aci" --exec /bin/sh -- -c 'echo hello-from-thin'

# 4. bash: fat, dynamically linked, three store paths.
publish bash
fetch_checked bash
expect_output "bash: rkt run" 42 "$aci" --exec /bin/bash -- -c 'echo $((6*7))'

# 5. An image with a mount point of its own (mountsRo.www): postprocess.sh
# prints a run line with a --volume placeholder for it; with a host directory
# in place of <HOST_PATH> that line's volume works, and without it rkt refuses.
cat >"$work/www.nix" <<NIX
let nix2aci = import $repo { }; in
nix2aci.mkACI {
  packages = [ nix2aci.pkgs.busybox ];
  name = "example.com/www";
  version = "1";
  exec = [ "/bin/busybox" "cat" "/var/www/index.html" ];
  mountsRo.www = "/var/www";
}
NIX
nix-build "$work/www.nix" -o "$work/result-www" >/dev/null || fail "www: nix-build failed"
out=$(readlink -f "$work/result-www")
aci=$ACIS/$(basename "$(image "$out")")
(cd "$work" && "$out/postprocess.sh" "$ACIS") >"$work/pp.log" 2>&1 ||
    fail "www: postprocess.sh failed: $(tail -n 5 "$work/pp.log")"
placeholder="--volume=www,kind=host,source=<HOST_PATH>,readOnly=true"
line=$(grep -F -- "sudo rkt run $placeholder $aci" "$work/pp.log") ||
    fail "www: postprocess.sh printed no run line with $placeholder: $(cat "$work/pp.log")"
mkdir -p "$work/www" && echo served-from-the-host >"$work/www/index.html"
# The printed line's options, the placeholder filled in.
read -r -a printed <<<"${line//<HOST_PATH>/$work/www}"
[ "${printed[0]} ${printed[1]} ${printed[2]}" = "sudo rkt run" ] && [ "${printed[-1]}" = "$aci" ] ||
    fail "www: unexpected run line: $line"
rk_ok "www: trust" trust --prefix=example.com/www --skip-fingerprint-review "$ACIS/pubkeys.gpg"
expect_output "www: rkt run as printed, <HOST_PATH> filled in" served-from-the-host "${printed[@]:3}"
rk_refuses "www: rkt run without the volume" 'missing volume for mountpoint "www"' "$state" \
    run "${run_opts[@]}" "$aci"

# 6. A non-root app: users.app writes /etc/passwd and /etc/group, user =
# "app" runs the app as uid 1000, and the home directory the image gives to
# that user is writable by it (rkt extracts the owners of the tar headers).
cat >"$work/users.nix" <<NIX
let nix2aci = import $repo { }; in
nix2aci.mkACI {
  packages = [ nix2aci.pkgs.busybox ];
  name = "example.com/users";
  version = "1";
  exec = [ "/bin/busybox" "id" "-u" ];
  user = "app";
  group = "app";
  users.app = { uid = 1000; home = "/var/lib/app"; };
  groups.app.gid = 1000;
  perms = [ { path = "/etc/hosts"; uid = 1000; } ];
}
NIX
nix-build "$work/users.nix" -o "$work/result-users" >/dev/null || fail "users: nix-build failed"
aci=$(image "$(readlink -f "$work/result-users")")
expect_output "users: rkt run of user = \"app\"" 1000 "$aci"
expect_output "users: id -un, id -gn" "app app" "$aci" --exec /bin/busybox -- sh -c 'echo $(id -un) $(id -gn)'
expect_output "users: the home directory owned by app is writable by it" writable-by-1000 \
    "$aci" --exec /bin/busybox -- sh -c 'touch /var/lib/app/ok && echo writable-by-$(stat -c %u /var/lib/app/ok)'
expect_output "users: a root-owned directory is not" not-writable \
    "$aci" --exec /bin/busybox -- sh -c 'touch /etc/x 2>/dev/null && echo writable || echo not-writable'
expect_output "users: perms gave /etc/hosts to app, which can write it" "1000 written" \
    "$aci" --exec /bin/busybox -- sh -c 'echo "::1 app" >>/etc/hosts && echo $(stat -c %u /etc/hosts) written'
# The same thin, with its .mounts volumes.
sed 's/version = "1";/version = "1"; thin = true;/' "$work/users.nix" >"$work/users-thin.nix"
nix-build "$work/users-thin.nix" -o "$work/result-users-thin" >/dev/null || fail "users, thin: nix-build failed"
out=$(readlink -f "$work/result-users-thin")
mounts=$(cat "$out"/*.mounts) || fail "users, thin: no .mounts in $out"
# shellcheck disable=SC2086 # .mounts is a list of words
expect_output "users, thin: rkt run with its .mounts as app, home writable" "1000 app writable" \
    $mounts "$(image "$out")" --exec /bin/busybox -- sh -c 'touch /var/lib/app/ok && echo $(id -u) $(id -un) writable'
