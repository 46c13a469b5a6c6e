#!/bin/bash
# Fat images run from their rootfs alone: bubblewrap binds the extracted
# rootfs as / and nothing else from the host.
. "$(dirname "$0")/lib.sh"
need jq bwrap nix-store

# run_rootfs ROOTFS CMD...: runs CMD with ROOTFS as the only filesystem.
run_rootfs() {
    local root=$1; shift
    bwrap --bind "$root" / --proc /proc --dev /dev --unshare-all --clearenv --setenv PATH /bin -- "$@"
}

# busybox: the manifest's exec[0] (/bin/busybox) echoes.
out=$(build busybox)
extract "$(image "$out")" "$work/busybox"
exec0=$(exec_of "$work/busybox/manifest" | head -n1)
[ "$exec0" = /bin/busybox ] || fail "busybox exec[0] is $exec0, expected /bin/busybox"
got=$(run_rootfs "$work/busybox/rootfs" "$exec0" echo hello-from-fat-busybox) \
    || fail "busybox did not run from its rootfs"
[ "$got" = hello-from-fat-busybox ] || fail "busybox printed '$got'"
say "busybox: $exec0 echo ran from the rootfs alone"

# busyboxStatic likewise.
out=$(build busyboxStatic)
extract "$(image "$out")" "$work/static"
exec0=$(exec_of "$work/static/manifest" | head -n1)
got=$(run_rootfs "$work/static/rootfs" "$exec0" echo static-ok) || fail "busyboxStatic did not run"
[ "$got" = static-ok ] || fail "busyboxStatic printed '$got'"
say "busyboxStatic: $exec0 echo ran from the rootfs alone"

# bash: a dynamically linked program with its libraries as separate store paths.
out=$(build bash)
# The image's package, realised: an image built earlier (or kept alive by a GC
# root) does not keep its inputs in the store.
pkg=$(nix-build "$repo" -A bash.packages --no-out-link | head -n1) || fail "cannot realise bash's package"
[ "$pkg" = "$(nix-instantiate --eval --json "$repo" -A bash.aciSpec.packages | jq -r '.[0]')" ] || fail "bash.packages is not the image's package"
closure=$(nix-store -qR "$pkg")
n=$(printf '%s\n' "$closure" | wc -l)
[ "$n" -ge 3 ] || fail "bash's closure has $n store paths, expected at least 3: $closure"
extract "$(image "$out")" "$work/bash"
exec0=$(exec_of "$work/bash/manifest" | head -n1)
got=$(run_rootfs "$work/bash/rootfs" "$exec0" -c 'echo "bash $((6 * 7))"') || fail "bash did not run from its rootfs"
[ "$got" = "bash 42" ] || fail "bash printed '$got'"
say "bash: $exec0 -c ran from the rootfs alone (closure of $n store paths)"

# ... and only because every store path of its closure is in the image.
for p in $closure; do
    [ -d "$work/bash/rootfs$p" ] || fail "$p is not in the bash image"
    mv "$work/bash/rootfs$p" "$work/bash/held"
    if run_rootfs "$work/bash/rootfs" "$exec0" -c 'echo ran' >/dev/null 2>&1; then
        fail "bash ran although $p was removed from its rootfs"
    fi
    mv "$work/bash/held" "$work/bash/rootfs$p"
    say "bash: fails without $(basename "$p"), as it should"
done
