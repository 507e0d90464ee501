#!/usr/bin/env bash
# How chatd's cost grows: one channel of 10, 100 and 1,000 members (10 senders at
# full speed, acknowledged by their own echo), and 1,000, 5,000 and 10,000 idle
# registered connections. Each point runs against a freshly spawned chatd (default
# configuration, history logging on, limits relaxed by chatd-bench --spawn), ROUNDS
# times, and the table shows medians:
#
#   fan-out  deliveries/s, messages/s, server CPU (cores), server CPU per message and
#            per delivery, latency p99 (at full speed this is queueing, see
#            docs/performance.md)
#   idle     server RSS with all connected, bytes per connection, setup time
#
# Usage:   bench/sweep.sh
# Env:     ROUNDS (default 3), DURATION seconds of sending (default 5),
#          SIZES (default "10 100 1000"), IDLE (default "1000 5000 10000"),
#          CHATD=path/to/chatd to use a prebuilt binary.
# Exit:    0 measured; 1 a run failed or lost messages.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${ROUNDS:-3}
duration=${DURATION:-5}
sizes=${SIZES:-10 100 1000}
idle=${IDLE:-1000 5000 10000}
if [ -n "${CHATD:-}" ]; then
    cargo build --release -q -p chatd-bench
else
    cargo build --release -q -p chatd -p chatd-bench
    CHATD=target/release/chatd
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Run copies: the tree may be shared, and a rebuild during the runs must not change
# the binaries half way.
built=$(date -u -r "$CHATD" '+%Y-%m-%d %H:%M UTC')
shown=$CHATD
cp "$CHATD" "$tmp/chatd"
cp target/release/chatd-bench "$tmp/chatd-bench"
CHATD=$tmp/chatd
bench=$tmp/chatd-bench

most=0
for n in $idle; do [ "$n" -le "$most" ] || most=$n; done
want=$((most + 1024))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want" ]; then
    ulimit -Hn "$want" 2>/dev/null || {
        echo "need $want open files (ulimit -Hn is $(ulimit -Hn)); lower IDLE" >&2
        exit 1
    }
fi
ulimit -Sn "$want"

# shellcheck source=bench/lib.sh
. bench/lib.sh  # the script runs from the repository root

failed=0
# run NAME ARGS...: one chatd-bench run; appends "key value" lines to $tmp/NAME.
run() {
    local name=$1 rc=0 json
    shift
    json=$("$bench" "$@" --spawn "$CHATD" --json 2>"$tmp/err") || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "$name: chatd-bench exit $rc: $(tail -n 3 "$tmp/err")" >&2
        failed=1
        return 0
    fi
    {
        for key in deliveries_per_s messages_per_s server_cpu_s deliveries_in_window messages_sent \
            p99 bytes_per_conn rss_after_kb setup_s other_cpu_s; do
            echo "$key $(field "$json" "$key")"
        done
    } >>"$tmp/$name"
}
# med NAME KEY: median of KEY over NAME's runs.
med() { awk -v k="$2" '$1 == k && $2 != "" { print $2 }' "$tmp/$1" | median; }

printf 'chatd %s (built %s, sha256 %s; tree at commit %s), %s cores, kernel %s, %s; %s rounds\n' \
    "$shown" "$built" "$(sha256sum "$CHATD" | cut -c1-12)" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    "$(nproc)" "$(uname -r)" "$(date -u '+%Y-%m-%d %H:%M UTC')" "$rounds"
for round in $(seq 1 "$rounds"); do
    for n in $sizes; do
        echo "round $round: one channel of $n, 10 senders, $duration s" >&2
        run "fanout$n" fanout --clients "$n" --senders 10 --channel-size "$n" --duration "$duration"
    done
    for n in $idle; do
        echo "round $round: $n idle connections" >&2
        run "idle$n" idle --clients "$n" --duration 2
    done
done

echo
echo "| members | deliveries/s | messages/s | server CPU, cores | server CPU per message, µs | per delivery, ns | p99 ms | other CPU, cores |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for n in $sizes; do
    [ -s "$tmp/fanout$n" ] || continue
    cpu=$(med "fanout$n" server_cpu_s)
    awk -v n="$(commas "$n")" -v d="$(med "fanout$n" deliveries_per_s)" -v m="$(med "fanout$n" messages_per_s)" \
        -v c="$cpu" -v t="$duration" -v p="$(med "fanout$n" p99)" -v o="$(med "fanout$n" other_cpu_s)" '
        function commas(v,  s, r) { s = sprintf("%.0f", v); r = ""
            while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
            return s r }
        BEGIN { printf "| %s | %s | %s | %.2f | %.2f | %.0f | %.1f | %.2f |\n", n, commas(d), commas(m), c / t,
            c * 1e6 / (m * t), c * 1e9 / (d * t), p / 1000, o / t }'
done
echo
echo "| idle connections | server RSS, MiB | bytes per connection | setup s | other CPU, cores |"
echo "| ---: | ---: | ---: | ---: | ---: |"
for n in $idle; do
    [ -s "$tmp/idle$n" ] || continue
    awk -v n="$(commas "$n")" -v r="$(med "idle$n" rss_after_kb)" -v b="$(med "idle$n" bytes_per_conn)" \
        -v s="$(med "idle$n" setup_s)" -v o="$(med "idle$n" other_cpu_s)" \
        'BEGIN { printf "| %s | %.1f | %.0f | %.2f | %.2f |\n", n, r / 1024, b, s, o / 2 }'
done
exit "$failed"
