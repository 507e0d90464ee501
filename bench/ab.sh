#!/usr/bin/env bash
# Two chatd builds side by side: `bench/ab.sh OLD_CHATD NEW_CHATD`.
#
# Runs scenario 1 (one channel of 100 members, 10 senders, max rate) and scenario 3
# (500 pairs of private messages, max rate) of bench/compare.sh against each build in
# turn (old, new, old, new...), ROUNDS rounds of DURATION seconds each, every run a
# fresh process with chatd's default configuration (history logging on), and prints
# the medians and the ratio new/old, both of deliveries per second and of deliveries
# per server CPU-second (the second is the steadier on a shared machine: it does not
# depend on how much CPU the server was given).
#
# Alternating the builds in one run puts both under the same machine conditions; a
# change is a slowdown only if the ratio stays below 1 beyond the spread of the
# rounds, which the report shows.
#
#   ROUNDS=5 DURATION=5 bench/ab.sh target/old/chatd target/release/chatd
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 OLD_CHATD NEW_CHATD" >&2
    exit 2
fi
OLD=$(realpath "$1")
NEW=$(realpath "$2")
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
cd "$(dirname "$0")/.."
cargo build --release -q -p chatd-bench
BENCH=target/release/chatd-bench
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

run() { # build-label binary scenario-args...
    local label=$1 bin=$2
    shift 2
    "$BENCH" "$@" --ack receiver --window 64 --duration "$DURATION" --json --spawn "$bin" |
        python3 -c '
import json, sys
d = json.load(sys.stdin)
cpu = d["server_cpu_s"] or float("nan")
print(sys.argv[1], d["scenario"], d["deliveries_per_s"], d["deliveries_received"] / cpu,
      d["lost"], d["other_cpu_s"])' "$label" >>"$OUT"
}

for round in $(seq "$ROUNDS"); do
    for label in old new; do
        bin=$OLD
        [ "$label" = new ] && bin=$NEW
        run "$label" "$bin" fanout --clients 100 --senders 10 --channel-size 100 --rate max
        run "$label" "$bin" pairs --pairs 500 --rate max
    done
    echo "round $round of $ROUNDS done" >&2
done

python3 - "$OUT" "$OLD" "$NEW" "$ROUNDS" "$DURATION" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
old, new, rounds, duration = sys.argv[2:]
print(f"old: {old}\nnew: {new}\n{rounds} rounds of {duration} s, alternating\n")
print("| scenario | deliveries/s, old → new (median) | ratio | per server CPU-second, old → new | ratio | lost | other CPU-s per run (median) |")
print("|---|---|---|---|---|---|---|")
names = {"fanout": "1: one channel of 100", "pairs": "3: 500 pairs"}
for scen in ("fanout", "pairs"):
    def col(label, i):
        return [float(r[i]) for r in rows if r[0] == label and r[1] == scen]
    o, n = statistics.median(col("old", 2)), statistics.median(col("new", 2))
    oc, nc = statistics.median(col("old", 3)), statistics.median(col("new", 3))
    lost = sum(int(float(r[4])) for r in rows if r[1] == scen)
    other = statistics.median([float(r[5]) for r in rows if r[1] == scen])
    print(f"| {names[scen]} | {o:,.0f} → {n:,.0f} | {n/o:.2f} | {oc:,.0f} → {nc:,.0f} | {nc/oc:.2f} | {lost} | {other:.1f} |")
print("\nEvery run (build, scenario, deliveries/s, per CPU-second, lost, other CPU-s):")
for r in rows:
    print("    " + " ".join(r))
EOF
