#!/usr/bin/env bash
# History logging cost: does logging every message slow live delivery?
#
# Runs the fan-out scenario (100 clients in one channel, all 100 sending as fast as a
# window of 64 unacknowledged messages allows, 10 s) against a freshly spawned chatd,
# alternately with history logging on (chatd's default) and off (a config with
# `[history] log_messages = false`), A B A B A B, and prints every run, the median
# deliveries per second of each, and the ratio on/off (the target is at least 0.80).
# Also per run: deliveries per second of server CPU (all chatd threads), and the CPU
# the generator and everything else on the machine used.
#
# The machine may be shared, and the generator already competes with chatd for its
# CPUs. So before each run the script waits (up to QUIET_WAIT s) for the CPUs to be
# idle, and a run during which other processes used more than MAX_OTHER cores on
# average is shown as "busy" and repeated (up to RETRIES times, while the whole script
# is under BUDGET s); only the last try of each run counts.
#
# Usage:   bench/logging.sh
# Env:     SCENARIO=pairs for 500 pairs exchanging private messages instead,
#          ROUNDS (default 3), DURATION seconds (default 10),
#          CHATD=path/to/chatd to use that binary instead of building one,
#          BENCH_ARGS extra chatd-bench arguments (e.g. "--threads 2"),
#          QUIET_WAIT (default 20), MAX_OTHER (default 0.25), RETRIES (default 2),
#          BUDGET (default 270).
# Exit:    0 measured (whatever the ratio); 1 a run failed or lost messages.
set -euo pipefail
cd "$(dirname "$0")/.."

case ${SCENARIO:-fanout} in
fanout) scenario=(fanout --clients 100 --senders 100 --channel-size 100) ;;
pairs) scenario=(pairs --pairs 500) ;;
*)
    echo "SCENARIO is fanout or pairs" >&2
    exit 2
    ;;
esac
rounds=${ROUNDS:-3}
duration=${DURATION:-10}
max_other=${MAX_OTHER:-0.25}
retries=${RETRIES:-2}
budget=${BUDGET:-270}
if [ -n "${CHATD:-}" ]; then
    cargo build --release -q -p chatd-bench
else
    cargo build --release -q -p chatd -p chatd-bench
    CHATD=target/release/chatd
fi
bench=target/release/chatd-bench
SECONDS=0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '[history]\nlog_messages = false\n' >"$tmp/nolog.toml"

QUIET_WAIT=${QUIET_WAIT:-20}
# shellcheck source=bench/lib.sh
. bench/lib.sh  # the script runs from the repository root
thread() { sed -n "s/.*{\"name\":\"$2\",\"cpu_s\":\([0-9.e+]*\)}.*/\1/p" <<<"$1"; }
num() { printf '%.2f' "${1:-0}"; }

failed=0
# measure ROUND MODE: one run (repeated while other processes were busy), one row.
measure() {
    local round=$1 mode=$2 config=() tries=0 rc json dps per_cpu other p99 note
    if [ "$mode" = off ]; then
        config=(--config "$tmp/nolog.toml")
    fi
    while :; do
        wait_quiet
        rc=0
        # shellcheck disable=SC2086 # BENCH_ARGS is a list of words on purpose
        json=$("$bench" "${scenario[@]}" --spawn "$CHATD" "${config[@]}" --rate max --window 64 \
            --duration "$duration" --json ${BENCH_ARGS:-}) || rc=$?
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
            echo "chatd-bench failed (exit $rc)" >&2
            exit 1
        fi
        dps=$(field "$json" deliveries_per_s)
        per_cpu=$(awk -v d="$(field "$json" deliveries_in_window)" -v c="$(field "$json" server_cpu_s)" \
            'BEGIN { print (c > 0) ? d / c : 0 }')
        other=$(field "$json" other_cpu_s)
        p99=$(sed -n 's/.*"p99":\([0-9.e+]*\).*/\1/p' <<<"$json")
        note=""
        if awk -v o="$other" -v d="$duration" -v m="$max_other" 'BEGIN { exit !(o / d > m) }'; then
            note="busy"
            if [ "$tries" -lt "$retries" ] && [ "$SECONDS" -lt "$budget" ]; then
                note="busy, repeated"
            fi
        fi
        printf '%-5s %-7s %13.0f %5s %8.1f %13.0f %8s %8s %8s %8s  %s\n' "$round" "$mode" "$dps" \
            "$(field "$json" lost)" "$(awk -v v="$p99" 'BEGIN { print v / 1000 }')" "$per_cpu" \
            "$(num "$(thread "$json" chatd)")" "$(num "$(thread "$json" chatd-store)")" \
            "$(num "$(field "$json" bench_cpu_s)")" "$(num "$other")" "$note"
        [ "$note" = "busy, repeated" ] || break
        tries=$((tries + 1))
    done
    if [ "$rc" -eq 3 ]; then
        failed=1
    fi
    echo "$dps" >>"$tmp/$mode"
    echo "$per_cpu" >>"$tmp/$mode.cpu"
}

printf 'chatd-bench %s, chatd %s, %s cores, kernel %s, %s\n' "${scenario[*]}" "$CHATD" "$(nproc)" \
    "$(uname -r)" "$(date -u '+%Y-%m-%d %H:%M UTC')"
printf '%-5s %-7s %13s %5s %8s %13s %8s %8s %8s %8s\n' round logging deliveries/s lost "p99 ms" \
    "per cpu-s" "chatd s" "store s" "bench s" "other s"
for round in $(seq 1 "$rounds"); do
    measure "$round" on
    measure "$round" off
done

on=$(median <"$tmp/on")
off=$(median <"$tmp/off")
on_cpu=$(median <"$tmp/on.cpu")
off_cpu=$(median <"$tmp/off.cpu")
echo
printf 'median deliveries/s             logging on %9.0f  off %9.0f  ratio on/off %.3f\n' \
    "$on" "$off" "$(awk -v a="$on" -v b="$off" 'BEGIN { print a / b }')"
printf 'median deliveries/server cpu-s  logging on %9.0f  off %9.0f  ratio on/off %.3f\n' \
    "$on_cpu" "$off_cpu" "$(awk -v a="$on_cpu" -v b="$off_cpu" 'BEGIN { print a / b }')"
if [ "$failed" -ne 0 ]; then
    echo "some runs lost or reordered messages (see the lost column)" >&2
    exit 1
fi
