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

. "$(dirname "$0")/rkt_lib.sh"

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
