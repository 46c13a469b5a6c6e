#!/bin/bash
# README.md's "mkACI arguments" table names exactly the arguments mkACI
# takes: the backticked names in its first column are builtins.functionArgs
# of the function nix/mkACI.nix gives; and its rows for env, labels and
# annotations say how integers are converted. The same for the mkOCI table
# and nix/mkOCI.nix.
. "$(dirname "$0")/lib.sh"
need jq

readme=$repo/README.md

# table HEADING: the rows of the table in the README section whose heading
# starts with HEADING.
table() { awk -v h="## $1" 'index($0, h) == 1 { on = 1; next } on && /^## / { exit } on && /^\| `/' "$readme"; }

# check_table HEADING FUNCTION FILE: the table under HEADING names exactly
# the arguments of FUNCTION, the function nix/FILE gives.
check_table() {
    local rows documented actual
    rows=$(table "$1")
    [ -n "$rows" ] || fail "README.md has no \"$1\" table"
    documented=$(printf '%s\n' "$rows" | cut -d'|' -f2 | grep -o '`[^`]*`' | tr -d '`' | sort)
    actual=$(nix-instantiate --eval --strict --json -E "builtins.attrNames (builtins.functionArgs
        (import $repo/nix/$3 { mkaci = \"/nix/store/00000000000000000000000000000000-mkaci\"; system = \"x86_64-linux\"; }))" \
        | jq -r '.[]' | sort)
    [ -n "$actual" ] || fail "cannot read $2's arguments"
    if [ "$documented" != "$actual" ]; then
        fail "README.md's \"$1\" table and $2 differ (< README only, > $2 only):
$(diff <(printf '%s\n' "$documented") <(printf '%s\n' "$actual") | grep '^[<>]')"
    fi
    say "README.md documents exactly $2's $(printf '%s\n' "$actual" | wc -l) arguments"
}

check_table "mkACI arguments" mkACI mkACI.nix
check_table "mkOCI" mkOCI mkOCI.nix

# env, labels and annotations convert integers (and paths, derivations) to
# strings alike; the table says so (eval_errors checks that they do).
rows=$(table "mkACI arguments")
for arg in env labels annotations; do
    row=$(printf '%s\n' "$rows" | grep "^| \`$arg\`") || fail "no row for $arg"
    case $row in *converted*) ;; *) fail "README.md's row for $arg does not say integers are converted: $row" ;; esac
done
case $rows in *'`env.PORT = 8080` gives `"8080"`'*) ;; *) fail "README.md's env row lacks the env.PORT = 8080 example" ;; esac
say "README.md's table says that env, labels and annotations convert integers"
