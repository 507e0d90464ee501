# shellcheck shell=bash disable=SC2154 # budget is set by the script that sources this
# Shell helpers shared by bench/compare.sh, bench/logging.sh and bench/sweep.sh.
# Source it after setting `budget` (the script's time budget in seconds, for
# wait_quiet) and, if the default of 5 s does not suit, QUIET_WAIT.

# field JSON KEY: a number from chatd-bench's one-line JSON report.
field() { sed -n "s/.*\"$2\":\([-0-9.e+]*\).*/\1/p" <<<"$1" | head -n 1; }

# median: of the numbers on stdin, one a line; empty when there are none.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# cpu_ticks: the machine's busy and total CPU ticks, from /proc/stat.
cpu_ticks() { awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9 }' /proc/stat; }

# wait_quiet: until the CPUs were less than 10% busy over one second, or QUIET_WAIT
# seconds (default 5), never past the script's budget.
wait_quiet() {
    local until=$((SECONDS + ${QUIET_WAIT:-5})) b0 t0 b1 t1
    [ "$until" -le "$budget" ] || until=$budget
    while [ "$SECONDS" -lt "$until" ]; do
        read -r b0 t0 < <(cpu_ticks)
        sleep 1
        read -r b1 t1 < <(cpu_ticks)
        if [ $(((b1 - b0) * 10)) -lt $((t1 - t0)) ]; then
            return 0
        fi
    done
    return 0
}

# commas NUMBER: rounded, with thousands separators.
commas() {
    awk -v v="$1" 'BEGIN {
        s = sprintf("%.0f", v); t = ""
        while (length(s) > 3) { t = "," substr(s, length(s) - 2) t; s = substr(s, 1, length(s) - 3) }
        print s t
    }'
}
