#!/usr/bin/env bash
# How the cost of a private message grows with the number of conversations and with
# the history already in the database.
#
# For each count of pairs N in PAIRS (default "100 500 5000 20000"):
#   1. prefill: chatd-bench pairs --pairs N --rate max against a chatd whose data
#      directory is kept (chatd-bench --data-dir), run after run, until the database
#      holds PREFILL messages (default 10,000,000: 100,000 per conversation for 100
#      pairs, fewer per conversation for more pairs; the same total for every N);
#   2. measure, ROUNDS times, on a copy of that database: the N pairs at RATE_TOTAL
#      messages per second in total (default 20,000), DURATION seconds each, with
#      chatd's default configuration (history logging on).
# The table shows medians: server CPU per message (microseconds, all threads),
# disk bytes written per message (/proc/PID/io, checkpoints included), latency p99
# and peak RSS. Flat rows mean the cost does not grow with the number of
# conversations or the size of the history.
#
# Usage:   bench/pairs_sweep.sh
# Env:     PAIRS, PREFILL, RATE_TOTAL, ROUNDS (default 3), DURATION (default 10),
#          CHATD=path/to/chatd to use a prebuilt binary, KEEP=dir to keep the
#          prefilled databases there (and reuse them on the next run).
# Exit:    0 measured; 1 a run failed or lost messages.
set -euo pipefail
cd "$(dirname "$0")/.."

pairs_list=${PAIRS:-100 500 5000 20000}
prefill=${PREFILL:-10000000}
rate_total=${RATE_TOTAL:-20000}
rounds=${ROUNDS:-3}
duration=${DURATION:-10}
# shellcheck disable=SC2034 # read by wait_quiet in bench/lib.sh
budget=${BUDGET:-7200}
if [ -n "${CHATD:-}" ]; then
    cargo build --release -q -p chatd-bench
else
    cargo build --release -q -p chatd -p chatd-bench
    CHATD=target/release/chatd
fi
# shellcheck source=bench/lib.sh
. bench/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
keep=${KEEP:-$tmp/prefilled}
mkdir -p "$keep"
built=$(date -u -r "$CHATD" '+%Y-%m-%d %H:%M UTC')
shown=$CHATD
cp "$CHATD" "$tmp/chatd"
cp target/release/chatd-bench "$tmp/chatd-bench"
CHATD=$tmp/chatd
bench=$tmp/chatd-bench

most=0
for n in $pairs_list; do [ "$n" -le "$most" ] || most=$n; done
# Each of the generator and the server holds two sockets per pair.
want=$((2 * most + 1024))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want" ]; then
    ulimit -Hn "$want" 2>/dev/null || {
        echo "need $want open files per process (ulimit -Hn is $(ulimit -Hn)); lower PAIRS" >&2
        exit 1
    }
fi
ulimit -Sn "$(ulimit -Hn)"

fmt0() { if [ -n "${1:-}" ]; then awk -v v="$1" 'BEGIN { printf "%.0f", v }'; else echo "-"; fi; }
ms() { if [ -n "${1:-}" ]; then awk -v v="$1" 'BEGIN { printf "%.2f", v / 1000 }'; else echo "-"; fi; }
# messages DIR: the messages in the database of data directory DIR.
messages() { sqlite3 "file:$1/chatd.db?mode=ro" 'SELECT count(*) FROM messages' 2>/dev/null || echo 0; }

failed=0
results=$tmp/results.tsv
: >"$results"
echo "chatd $shown (built $built, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
echo "$(nproc) cores, kernel $(uname -r); prefill $(commas "$prefill") messages; $(commas "$rate_total") msg/s in total; $rounds rounds of $duration s"
printf '%-7s %-5s %12s %12s %10s %10s %9s %s\n' pairs round messages "cpu us/msg" "disk B/msg" "p99 ms" "RSS MiB" status
for n in $pairs_list; do
    dir=$keep/pairs-$n
    have=$(messages "$dir")
    while [ "$have" -lt "$prefill" ]; do
        # Each filling run sends at the maximum rate; its length is a guess from the
        # last one, so the total overshoots by at most one run.
        if ! "$bench" pairs --pairs "$n" --rate max --duration 20 --connect-rate 5000 --setup-timeout 300 \
            --spawn "$CHATD" --data-dir "$dir" --json >"$tmp/fill.json" 2>"$tmp/fill.err"; then
            echo "prefill of $n pairs failed:" >&2
            tail -n 5 "$tmp/fill.err" >&2
            exit 1
        fi
        have=$(messages "$dir")
        echo "  prefill $n pairs: $(commas "$have") messages" >&2
    done
    rate=$(awk -v t="$rate_total" -v n="$n" 'BEGIN { print t / (2 * n) }')
    for round in $(seq 1 "$rounds"); do
        rm -rf "$tmp/run"
        cp -a "$dir" "$tmp/run"
        wait_quiet
        status=ok
        rc=0
        json=$("$bench" pairs --pairs "$n" --rate "$rate" --duration "$duration" --connect-rate 5000 --setup-timeout 300 \
            --spawn "$CHATD" --data-dir "$tmp/run" --json 2>"$tmp/run.err") || rc=$?
        if [ "$rc" -eq 3 ]; then status=loss; elif [ "$rc" -ne 0 ] || [ -z "$json" ]; then status=failed; fi
        [ "$status" = ok ] || failed=1
        sent=$(field "$json" messages_sent)
        cpu=$(field "$json" server_cpu_s)
        us=$(awk -v c="${cpu:-0}" -v m="${sent:-0}" 'BEGIN { if (m > 0) printf "%.2f", c * 1e6 / m }')
        disk=$(field "$json" disk_bytes_per_message)
        p99=$(field "$json" p99)
        rss=$(awk -v k="$(field "$json" server_rss_peak_kb)" 'BEGIN { printf "%.1f", k / 1024 }')
        printf '%-7s %-5s %12s %12s %10s %10s %9s %s\n' "$n" "$round" "$(commas "${sent:-0}")" "$us" \
            "$(fmt0 "$disk")" "$(ms "$p99")" "$rss" "$status"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$status" "$us" "${disk:-}" "${p99:-}" "$rss" \
            "$(messages "$dir")" >>"$results"
        if [ "$status" != ok ]; then tail -n 5 "$tmp/run.err" >&2; fi
    done
done
rm -rf "$tmp/run"

med() { awk -F '\t' -v n="$1" -v c="$2" '$1 == n && $2 == "ok" && $c != "" { print $c }' "$results" | median; }
echo
echo "| pairs | history in the database | server CPU per message, µs | disk bytes per message | latency p99, ms | peak RSS, MiB |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
for n in $pairs_list; do
    hist=$(awk -F '\t' -v n="$n" '$1 == n { print $7; exit }' "$results")
    echo "| $(commas "$n") | $(commas "${hist:-0}") messages | $(med "$n" 3) | $(fmt0 "$(med "$n" 4)") | $(ms "$(med "$n" 5)") | $(med "$n" 6) |"
done
exit "$failed"
