#!/bin/bash
# Thin images run with exactly their .mounts sources bound read-only at their
# mount points, and fail when any one bind is left out.
. "$(dirname "$0")/lib.sh"
need jq bwrap

# binds DIR RESULT: prints "SOURCE PATH" per volume of the result's .mounts,
# with PATH the manifest's mountPoint of the same name.
binds() {
    local manifest=$1/manifest mounts
    set -- "$2"/*.mounts
    [ -f "$1" ] || fail "no .mounts file in $2"
    for arg in $(cat "$1"); do
        case $arg in --volume=*) ;; *) fail "unexpected word in .mounts: $arg" ;; esac
        local name=${arg#--volume=}; name=${name%%,*}
        local source=${arg#*,source=}; source=${source%%,*}
        case $arg in *,kind=host,*) ;; *) fail "volume $name is not kind=host: $arg" ;; esac
        case $arg in *,readOnly=true*) ;; *) fail "volume $name is not read-only: $arg" ;; esac
        local path
        path=$(jq -r --arg n "$name" '.app.mountPoints[] | select(.name == $n) | .path' "$manifest")
        [ -n "$path" ] || fail "volume $name has no mountPoint in the manifest"
        printf '%s %s\n' "$source" "$path"
    done
}

# run_thin DIR SKIP CMD...: runs CMD in DIR/rootfs with every bind but the SKIPth (0: none).
run_thin() {
    local dir=$1 skip=$2 i=0; shift 2
    local args=(--bind "$dir/rootfs" / --proc /proc --dev /dev --unshare-all --clearenv)
    while read -r source path; do
        i=$((i + 1))
        [ "$i" = "$skip" ] || args+=(--ro-bind "$source" "$path")
    done <"$dir/binds"
    bwrap "${args[@]}" -- "$@"
}

check_thin() {  # ATTR-or-result DIR EXPECTED-WORD CMD...
    local out=$1 dir=$2 word=$3; shift 3
    extract "$(image "$out")" "$dir"
    binds "$dir" "$out" >"$dir/binds"
    local n mountpoints
    n=$(wc -l <"$dir/binds")
    mountpoints=$(jq '[.app.mountPoints[] | select(.name | startswith("nix-"))] | length' "$dir/manifest")
    [ "$n" = "$mountpoints" ] || fail "$n volumes in .mounts but $mountpoints nix- mount points in the manifest"
    if find "$dir/rootfs/nix/store" -type f 2>/dev/null | grep -q .; then
        fail "thin image contains store files: $(find "$dir/rootfs/nix/store" -type f | head -3)"
    fi
    local exec0 got
    exec0=$(exec_of "$dir/manifest" | head -n1)
    got=$(run_thin "$dir" 0 "$exec0" "$@") || fail "$exec0 did not run with all $n binds"
    [ "$got" = "$word" ] || fail "$exec0 printed '$got', expected '$word'"
    say "$(basename "$out"): $exec0 ran with its $n read-only binds"
    for skip in $(seq 1 "$n"); do
        if run_thin "$dir" "$skip" "$exec0" "$@" >/dev/null 2>&1; then
            fail "$exec0 ran although bind $skip ($(sed -n "${skip}p" "$dir/binds")) was left out"
        fi
    done
    say "$(basename "$out"): fails with any one of its $n binds left out"
}

out=$(build busyboxThin)
check_thin "$out" "$work/busybox" thin-busybox echo thin-busybox

# bash has a closure of several store paths: every one must be bound.
nix-build -o "$work/result-bash-thin" --arg repo "$repo" -E '
  { repo }: let n = import repo { }; in
  n.mkACI { packages = n.bash.packages; thin = true; versionAddon = "-thin";
            exec = [ "${builtins.head n.bash.packages}/bin/bash" ]; }' >/dev/null \
    || fail "nix-build of a thin bash image failed"
check_thin "$(readlink -f "$work/result-bash-thin")" "$work/bash" "bash 42" -c 'echo "bash $((6 * 7))"'
