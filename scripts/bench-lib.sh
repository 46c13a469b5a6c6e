# Helpers shared by the benchmark scripts (scripts/bench, bench-layers,
# bench-scale, bench-cores); sourced, not run.

# now: seconds since the epoch, to the nanosecond.
now() { date +%s.%N; }
# since T0: seconds from T0 (a `now`) to now, to the millisecond.
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
# median: the median of the numbers on stdin, one per line ("-" if none).
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# stats_field NAME LOG: NAME=... of the last `mkaci: stats` line in LOG ("-"
# if none, or from an mkaci that did not report NAME).
stats_field() {
    local v
    v=$(grep -o 'mkaci: stats .*' "$2" | tail -1 | tr ' ' '\n' | sed -n "s/^$1=//p")
    printf '%s\n' "${v:--}"
}
