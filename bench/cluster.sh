#!/usr/bin/env bash
# One chatd node against two cluster nodes on one Redis, with the same CPU.
#
# Every server process is pinned to CPU 0 (taskset), so one node alone and two
# nodes together get the same single core; Redis and the generator run on CPU 1.
# Each run is chatd-bench fanout at the maximum rate (channels of 100, 10 senders)
# for DURATION seconds:
#
#   one node    every client on a node with no [cluster] section
#   two nodes   node_id 1 and 2 on one redis-server, odd-numbered clients on node 2
#               (chatd-bench --also), so half of every channel is on the other node
#
# and a fixed-rate run (RATE messages per second per sender) of each for latency.
# The table shows deliveries per second, p50/p99, and the CPU seconds of the nodes
# and of Redis during the run (from /proc).
#
# Usage:   bench/cluster.sh
# Env:     ROUNDS (default 3), DURATION (default 8), RATE (default 100),
#          CHATD=path/to/chatd to use a prebuilt binary.
# Needs:   redis-server, taskset, a machine with at least 2 CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${ROUNDS:-3}
duration=${DURATION:-8}
rate=${RATE:-100}
# shellcheck disable=SC2034 # read by wait_quiet in bench/lib.sh
budget=${BUDGET:-3600}
command -v redis-server >/dev/null || { echo "bench/cluster.sh needs redis-server" >&2; exit 1; }
command -v taskset >/dev/null || { echo "bench/cluster.sh needs taskset (util-linux)" >&2; exit 1; }
if [ -n "${CHATD:-}" ]; then
    cargo build --release -q -p chatd-bench
else
    cargo build --release -q -p chatd -p chatd-bench
    CHATD=target/release/chatd
fi
# shellcheck source=bench/lib.sh
. bench/lib.sh
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
cp "$CHATD" "$tmp/chatd"
cp target/release/chatd-bench "$tmp/chatd-bench"
bench=$tmp/chatd-bench

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# cpu PID: user + system seconds of a process so far.
cpu() { awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$1/stat"; }

relaxed='[server]
auto_join = []
[limits]
max_clients = 10000000
conns_per_ip = 10000000
connects_per_ip_per_minute = 10000000
members_per_channel = 10000000
flood_burst = 10000000
flood_rate = 10000000'

# node NAME PORT [ID REDIS_URL]: starts a chatd on CPU 0; its pid in $started.
node() {
    local dir=$tmp/$1
    mkdir -p "$dir"
    printf '%s\n' "$relaxed" >"$dir/chatd.toml"
    if [ -n "${3:-}" ]; then
        printf '[cluster]\nnode_id = %s\nredis = "%s"\n' "$3" "$4" >>"$dir/chatd.toml"
    fi
    taskset -c 0 "$tmp/chatd" --listen "127.0.0.1:$2" --data-dir "$dir/data" \
        --config "$dir/chatd.toml" >"$dir/log" 2>&1 &
    started=$!
    pids+=("$started")
}

wait_port() {
    local until=$((SECONDS + 20))
    while ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        [ "$SECONDS" -lt "$until" ] || { echo "nothing listens on $1" >&2; exit 1; }
        sleep 0.1
    done
}

stop_all() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}
started=

printf '%-10s %-6s %-5s %12s %9s %9s %9s %9s\n' setup load round deliveries/s "p50 ms" "p99 ms" "nodes s" "redis s"
results=$tmp/results.tsv
: >"$results"
for round in $(seq 1 "$rounds"); do
    for setup in one two; do
        for load in max fixed; do
            rm -rf "$tmp/n1" "$tmp/n2" "$tmp/redis"
            mkdir -p "$tmp/redis"
            p1=$(free_port)
            redis_pid=""
            if [ "$setup" = two ]; then
                rport=$(free_port)
                taskset -c 1 redis-server --port "$rport" --bind 127.0.0.1 --save "" \
                    --appendonly no --dir "$tmp/redis" >"$tmp/redis/log" 2>&1 &
                redis_pid=$!
                pids+=("$redis_pid")
                wait_port "$rport"
                p2=$(free_port)
                node n1 "$p1" 1 "redis://127.0.0.1:$rport/"
                n1=$started
                node n2 "$p2" 2 "redis://127.0.0.1:$rport/"
                n2=$started
                wait_port "$p1"
                wait_port "$p2"
                sleep 1 # the nodes see each other's heartbeat
                also=(--also "127.0.0.1:$p2")
                nodes=("$n1" "$n2")
            else
                node n1 "$p1"
                n1=$started
                wait_port "$p1"
                also=()
                nodes=("$n1")
            fi
            traffic=(--rate max)
            [ "$load" = max ] || traffic=(--rate "$rate")
            wait_quiet
            before=0
            for p in "${nodes[@]}"; do before=$(awk -v a="$before" -v b="$(cpu "$p")" 'BEGIN { print a + b }'); done
            rbefore=0
            [ -z "$redis_pid" ] || rbefore=$(cpu "$redis_pid")
            json=$(taskset -c 1 "$bench" fanout --addr "127.0.0.1:$p1" "${also[@]}" --clients 200 \
                --senders 10 --channel-size 100 "${traffic[@]}" --duration "$duration" --drain 3 \
                --server-pid "$n1" --json 2>"$tmp/bench.err") || true
            after=0
            for p in "${nodes[@]}"; do after=$(awk -v a="$after" -v b="$(cpu "$p")" 'BEGIN { print a + b }'); done
            rafter=0
            [ -z "$redis_pid" ] || rafter=$(cpu "$redis_pid")
            stop_all
            dps=$(field "$json" deliveries_per_s)
            p50=$(field "$json" p50)
            p99=$(field "$json" p99)
            nodes_s=$(awk -v a="$before" -v b="$after" 'BEGIN { printf "%.2f", b - a }')
            redis_s=$(awk -v a="$rbefore" -v b="$rafter" 'BEGIN { printf "%.2f", b - a }')
            printf '%-10s %-6s %-5s %12s %9s %9s %9s %9s\n' "$setup" "$load" "$round" "${dps:-failed}" \
                "$(awk -v v="${p50:-0}" 'BEGIN { printf "%.2f", v / 1000 }')" \
                "$(awk -v v="${p99:-0}" 'BEGIN { printf "%.2f", v / 1000 }')" "$nodes_s" "$redis_s"
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$setup" "$load" "${dps:-}" "${p50:-}" "${p99:-}" \
                "$nodes_s" "$redis_s" >>"$results"
        done
    done
done

med() { awk -F '\t' -v s="$1" -v l="$2" -v c="$3" '$1 == s && $2 == l && $c != "" { print $c }' "$results" | median; }
echo
echo "| setup (servers on one core) | max rate: deliveries/s | max rate: node CPU s / Redis CPU s | $rate msg/s per sender: p50 ms | p99 ms |"
echo "| --- | ---: | ---: | ---: | ---: |"
for setup in one two; do
    label="one node"
    [ "$setup" = one ] || label="two nodes, one Redis"
    echo "| $label | $(commas "$(med "$setup" max 3)") | $(med "$setup" max 6) / $(med "$setup" max 7) | $(awk -v v="$(med "$setup" fixed 4)" 'BEGIN { printf "%.2f", v / 1000 }') | $(awk -v v="$(med "$setup" fixed 5)" 'BEGIN { printf "%.2f", v / 1000 }') |"
done
