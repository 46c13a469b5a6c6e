#!/bin/bash
# scripts/bench-cores, the many-core benchmark, works end to end on a small
# corpus: its own NAR hash of the corpus agrees with nix-hash (mkaci verifies
# it while packing, so a wrong one would fail every build), the table has a
# row per thread count, the image is byte-identical across thread counts,
# the copy of the corpus is removed unless --keep is given,
# and bad arguments get a clear error.
. "$(dirname "$0")/lib.sh"
need python3 tar pigz openssl nix-hash

corpus=$work/corpus
mkdir -p "$corpus/bin" "$corpus/share/doc/deep/er" "$corpus/empty"
cp /bin/busybox "$corpus/bin/"
chmod 555 "$corpus/bin/busybox"
ln -s busybox "$corpus/bin/sh"
ln -s /nowhere "$corpus/share/dangling"
: > "$corpus/share/empty-file"
printf 'x%.0s' $(seq 1 5000) > "$corpus/share/doc/deep/er/five-thousand"
cp -r /usr/share/doc/bash "$corpus/share/doc/" 2>/dev/null || true
mkfifo "$corpus/share/a-fifo"

"$repo/scripts/bench-cores" --corpus "$corpus" --threads "1 2" --reps 1 --work "$work/cores" --keep \
    > "$work/out.md" 2> "$work/err" || { cat "$work/err" >&2; fail "scripts/bench-cores failed"; }

path=$(find "$work/cores/nix/store" -mindepth 1 -maxdepth 1 -name '*-corpus')
[ ! -e "$path/share/a-fifo" ] || fail "the fifo was copied into the fake store path (a NAR cannot hold it)"
ours=$(jq -r '.closure[0].narHash' "$work/cores/attrs-gzip.json")
nix=$(nix-hash --type sha256 "$path")
[ "$ours" = "sha256:$nix" ] || fail "bench-cores' NAR hash $ours differs from nix-hash's sha256:$nix"
say "its NAR hash of the corpus is nix-hash's: $ours"

for n in 1 2; do
    grep -q "^| $n | [0-9.]* | [0-9]* | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]*x |" "$work/out.md" \
        || { cat "$work/out.md" >&2; fail "no complete row for $n threads"; }
done
grep -q 'byte-identical for every thread count and run: yes' "$work/out.md" \
    || { cat "$work/out.md" >&2; fail "the image differed between thread counts"; }
grep -q 'openssl dgst -sha512.* | [0-9.]* |$' "$work/out.md" || fail "no SHA-512 floor in the report"
say "a row for 1 and 2 threads, the floor, and the same image for both"

# Without --keep, the work directory (the copy of the corpus) is removed.
"$repo/scripts/bench-cores" --corpus "$corpus" --threads 1 --reps 1 --work "$work/gone" >/dev/null 2>"$work/err" ||
    { cat "$work/err" >&2; fail "scripts/bench-cores without --keep failed"; }
[ ! -e "$work/gone" ] || fail "scripts/bench-cores left its work directory without --keep: $(ls "$work/gone")"
say "without --keep nothing of the corpus copy stays behind"

refuses() {
    local want=$1; shift
    if "$repo/scripts/bench-cores" "$@" --work "$work/cores" > /dev/null 2> "$work/err"; then
        fail "bench-cores $* succeeded"
    fi
    grep -qF -- "$want" "$work/err" || { cat "$work/err" >&2; fail "bench-cores $*: the error does not say '$want'"; }
}
refuses "--threads '1 0' holds '0'" --corpus "$corpus" --threads "1 0"
refuses "corpus '$work/none' is not a directory" --corpus "$work/none"
refuses "--reps 'x' is not a positive number" --reps x
say "bad arguments are refused with the argument and the fix"
