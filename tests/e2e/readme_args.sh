#!/bin/bash
# README.md's "mkACI arguments" table names exactly the arguments mkACI
# takes: the backticked names in its first column are builtins.functionArgs
# of the function nix/mkACI.nix gives; and its rows for env, labels and
# annotations say how integers are converted. The same for the mkOCI table
# and nix/mkOCI.nix.
. "$(dirname "$0")/lib.sh"
need jq

readme=$repo/README.md
table=$(awk '/^## mkACI arguments/ { on = 1; next } on && /^## / { exit } on && /^\| `/' "$readme")
[ -n "$table" ] || fail "README.md has no \"mkACI arguments\" table"
documented=$(printf '%s\n' "$table" | cut -d'|' -f2 | grep -o '`[^`]*`' | tr -d '`' | sort)
actual=$(nix-instantiate --eval --strict --json -E "builtins.attrNames (builtins.functionArgs
    (import $repo/nix/mkACI.nix { mkaci = \"/nix/store/00000000000000000000000000000000-mkaci\"; system = \"x86_64-linux\"; }))" \
    | jq -r '.[]' | sort)
[ -n "$actual" ] || fail "cannot read mkACI's arguments"
if [ "$documented" != "$actual" ]; then
    fail "README.md's argument table and mkACI differ (< README only, > mkACI only):
$(diff <(printf '%s\n' "$documented") <(printf '%s\n' "$actual") | grep '^[<>]')"
fi
say "README.md documents exactly mkACI's $(printf '%s\n' "$actual" | wc -l) arguments"

# env, labels and annotations convert integers (and paths, derivations) to
# strings alike; the table says so (eval_errors checks that they do).
for arg in env labels annotations; do
    row=$(printf '%s\n' "$table" | grep "^| \`$arg\`") || fail "no row for $arg"
    case $row in *converted*) ;; *) fail "README.md's row for $arg does not say integers are converted: $row" ;; esac
done
case $table in *'`env.PORT = 8080` gives `"8080"`'*) ;; *) fail "README.md's env row lacks the env.PORT = 8080 example" ;; esac
say "README.md's table says that env, labels and annotations convert integers"

# The same for the "mkOCI: OCI images" section's table and nix/mkOCI.nix.
table=$(awk '/^## mkOCI/ { on = 1; next } on && /^## / { exit } on && /^\| `/' "$readme")
[ -n "$table" ] || fail "README.md has no mkOCI argument table"
documented=$(printf '%s\n' "$table" | cut -d'|' -f2 | grep -o '`[^`]*`' | tr -d '`' | sort)
actual=$(nix-instantiate --eval --strict --json -E "builtins.attrNames (builtins.functionArgs
    (import $repo/nix/mkOCI.nix { mkaci = \"/nix/store/00000000000000000000000000000000-mkaci\"; system = \"x86_64-linux\"; }))" \
    | jq -r '.[]' | sort)
[ -n "$actual" ] || fail "cannot read mkOCI's arguments"
if [ "$documented" != "$actual" ]; then
    fail "README.md's mkOCI table and mkOCI differ (< README only, > mkOCI only):
$(diff <(printf '%s\n' "$documented") <(printf '%s\n' "$actual") | grep '^[<>]')"
fi
say "README.md documents exactly mkOCI's $(printf '%s\n' "$actual" | wc -l) arguments"
