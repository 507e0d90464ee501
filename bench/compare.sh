#!/usr/bin/env bash
# Side by side: chatd, ngircd and InspIRCd under the same load on this machine.
#
# Installs ngircd and InspIRCd from Debian's packages if they are missing (without
# starting the distribution's services), builds chatd and chatd-bench in release mode,
# then runs each scenario against each server in turn (chatd, ngircd, InspIRCd, chatd,
# ngircd, ...), ROUNDS rounds, and prints the medians per server and the ratio
# chatd/peer per scenario. The same table, every run and the machine's details go to
# a markdown report (REPORT, default bench/results/compare-DATE.md).
#
# Scenarios (SCENARIOS picks a subset, e.g. SCENARIOS="1 4"):
#   1  one channel of 100 members, 10 senders, max rate        -> deliveries/s
#   2  one channel of 1,000 members, 1 sender, max rate        -> deliveries/s
#   3  500 pairs exchanging private messages, max rate          -> deliveries/s
#      (chatd also with history logging off: rows "..., chatd logging off")
#   4  10,000 idle registered connections                      -> server RSS bytes/connection
#   5  one channel of 100, 10 senders, 2,000 msg/s in total     -> latency p50/p99/p99.9
#   6  scenario 1 against chatd with history logging on and off -> deliveries/s
#   7  500 pairs exchanging private messages, 20,000 msg/s in total
#                                                               -> latency, server CPU
#
# For scenarios 3 and 7, chatd's row "disk bytes per message" is what it wrote to
# storage during the run (/proc/PID/io write_bytes: history, WAL and checkpoints)
# over the messages sent; the peers log nothing.
#
# Every server gets a fresh process for every run, listening on 127.0.0.1 on a free
# port. chatd is started by chatd-bench (--spawn), with its default configuration
# (history logging on) plus the generator's relaxation of its limits. The peers are
# started here, in the foreground of a background job, with a config written to a
# temporary directory, and stopped after the run (and on exit).
#
# Peers do not all support IRCv3 echo-message, so every server, chatd included, runs
# with `--ack receiver`: a message is acknowledged when one chosen receiver got it.
#
# What is relaxed, per server (every client comes from 127.0.0.1 and the generator
# has no flood control of its own, so default limits would measure throttling):
#
#   chatd     chatd-bench --spawn sets limits.max_clients, conns_per_ip,
#             connects_per_ip_per_minute, members_per_channel, flood_burst and
#             flood_rate to 10,000,000 (chatd's maximum) and auto_join to []. SendQ
#             stays at its default, 1 MiB per client.
#   InspIRCd  one <connect> class for 127.0.0.1 with threshold="10000000" (command
#             penalty allowed before a flood quit, in commands) and
#             commandrate="1000000000" (penalty decay, in millicommands per second:
#             one million commands per second), fakelag="no"; localmax, globalmax and
#             limit at 10,000,000 with maxconnwarn="no"; hardsendq and softsendq at
#             1 MiB like chatd (softsendq also pauses reading a client's commands while
#             its own SendQ is over it), recvq 1 MiB; resolvehostnames="no".
#             <performance> somaxconn="4096" (listen backlog), softlimit = the open-file
#             limit, netbuffersize="65536", clonesonconnect="no". <limits maxnick="30">.
#             No <module> tag at all: only the core modules load, so none of the
#             throttling modules (connflood, connectban, messageflood, joinflood,
#             repeat, ...) and no echo-message.
#   ngircd    [Limits] MaxConnections = 0 and MaxConnectionsIP = 0 (no limit),
#             MaxJoins = 0, MaxNickLength = 30 (the default 9 is too short for
#             bench10000), MaxPenaltyTime = 0 (no penalty delays at all),
#             [Options] DNS = no, Ident = no, PAM = no, and DefaultUserModes = F:
#             user mode +F ("relaxed flood protection", normally for IRC operators)
#             on every client, so ngircd never throttles them for bytes or commands
#             per second. What cannot be changed without rebuilding ngircd: it handles
#             at most 10 commands of a +F client per pass of its main loop (3 without
#             +F), its read buffer is 2 KB per client and its write buffer 32 KB per
#             client (a client beyond either is disconnected), and it listens with a
#             backlog of 10.
#
# Connection setup is not measured, but it must not fail: chatd-bench keeps at most
# --max-pending connections between connect and 001. ngircd gets 8, because of its
# listen backlog of 10 (more overflows the accept queue and connections are reset).
# InspIRCd gets 2,000, because it completes registrations once a second. chatd keeps
# the default of 256.
#
# The generator shares the 2-core machine with the server (see docs/performance.md).
# Before each run the script waits up to QUIET_WAIT s for idle CPUs, and a run during
# which other processes used more than MAX_OTHER cores on average is marked busy and
# repeated (up to RETRIES times while the script is under BUDGET s).
#
# Usage:   bench/compare.sh
# Env:     ROUNDS (default 3), DURATION seconds of sending (default 10),
#          SCENARIOS (default "1 2 3 4 5 6 7"), SERVERS (default "chatd ngircd inspircd"),
#          REPORT path of the markdown report, WINDOW (default 64), IDLE_CLIENTS
#          (default 10000), RATE_TOTAL msg/s for scenario 5 (default 2000),
#          RATE_PAIRS msg/s in total for scenario 7 (default 20000),
#          CHATD=path/to/chatd to use a prebuilt binary, QUIET_WAIT (default 5),
#          MAX_OTHER (default 0.25), RETRIES (default 1), BUDGET (default 900: no
#          waiting and no repeating after that many seconds).
# Exit:    0 measured; 1 a chatd run failed or lost messages (peers' failures are
#          reported in the table); 2 a usage error.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${ROUNDS:-3}
duration=${DURATION:-10}
scenarios=${SCENARIOS:-1 2 3 4 5 6 7}
servers=${SERVERS:-chatd ngircd inspircd}
window=${WINDOW:-64}
idle_clients=${IDLE_CLIENTS:-10000}
rate_total=${RATE_TOTAL:-2000}
rate_pairs=${RATE_PAIRS:-20000}
max_other=${MAX_OTHER:-0.25}
retries=${RETRIES:-1}
budget=${BUDGET:-900}
report=${REPORT:-bench/results/compare-$(date -u +%Y%m%d-%H%M).md}

for s in $scenarios; do
    case $s in
    [1-7]) ;;
    *)
        echo "SCENARIOS holds numbers 1 to 7, not '$s'" >&2
        exit 2
        ;;
    esac
done
for srv in $servers; do
    case $srv in
    chatd | ngircd | inspircd) ;;
    *)
        echo "SERVERS holds chatd, ngircd and inspircd, not '$srv'" >&2
        exit 2
        ;;
    esac
done
case " $servers " in
*" chatd "*) ;;
*)
    echo "SERVERS must include chatd: the ratios are chatd/peer" >&2
    exit 2
    ;;
esac

tmp=$(mktemp -d)
peer_pid=""
peer_port=""
policy_rc=""
sudo=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    [ -z "$peer_pid" ] || stop_peer
    if [ -n "$policy_rc" ]; then
        $sudo rm -f "$policy_rc"
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- install the peers ---------------------------------------------------------------
binary() { command -v "$1" 2>/dev/null || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; } || true; }
missing=()
for srv in $servers; do
    if [ "$srv" != chatd ] && [ -z "$(binary "$srv")" ]; then
        missing+=("$srv")
    fi
done
if ((${#missing[@]})); then
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    # Debian starts a package's service when it is installed; policy-rc.d answering
    # 101 ("action forbidden") stops that. Only if there is none already, and only for
    # the time of the install.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy_rc=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy_rc" >/dev/null
        $sudo chmod 755 "$policy_rc"
    fi
    echo "installing ${missing[*]} from Debian's packages"
    if ! { $sudo env DEBIAN_FRONTEND=noninteractive apt-get -q -y update &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get -q -y install --no-install-recommends "${missing[@]}"; } \
        >"$tmp/apt.log" 2>&1; then
        cat "$tmp/apt.log" >&2
        echo "apt-get could not install ${missing[*]}" >&2
        exit 1
    fi
    if [ -n "$policy_rc" ]; then
        $sudo rm -f "$policy_rc"
        policy_rc=""
    fi
fi
NGIRCD=$(binary ngircd)
INSPIRCD=$(binary inspircd)

# --- build ------------------------------------------------------------------------------
if [ -n "${CHATD:-}" ]; then
    cargo build --release -q -p chatd-bench
else
    cargo build --release -q -p chatd -p chatd-bench
    CHATD=target/release/chatd
fi
# Run copies: the tree may be shared, and a rebuild during the runs must not change
# the binaries half way.
mkdir -p "$tmp/bin"
cp "$CHATD" "$tmp/bin/chatd"
cp target/release/chatd-bench "$tmp/bin/chatd-bench"
chatd_built=$(date -u -r "$CHATD" '+%Y-%m-%d %H:%M UTC')
chatd_sum=$(sha256sum "$tmp/bin/chatd" | cut -c1-12)
chatd_path=$CHATD
CHATD=$tmp/bin/chatd
bench=$tmp/bin/chatd-bench

# --- open files: 10,000 clients on the generator's side and on the server's ----------
want=$((idle_clients + 1024))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
    ulimit -Hn "$want" 2>/dev/null || {
        echo "need $want open files (ulimit -Hn is $hard): raise the hard limit or lower IDLE_CLIENTS" >&2
        exit 1
    }
fi
ulimit -Sn "$want"
nofile=$(ulimit -Sn)

# --- peers ------------------------------------------------------------------------------
# free_port: a loopback port below the ephemeral range that nothing listens on.
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    echo "no free port found" >&2
    return 1
}

# wait_port PORT NAME LOG: until the peer accepts connections (it must stay alive).
wait_port() {
    for _ in $(seq 1 150); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$peer_pid" 2>/dev/null; then
            echo "$2 exited at startup; its log:" >&2
            tail -n 20 "$3" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "$2 did not accept connections on port $1 within 15 s; its log:" >&2
    tail -n 20 "$3" >&2
    return 1
}

start_ngircd() {
    local port
    port=$(free_port)
    cat >"$tmp/ngircd.conf" <<EOF
[Global]
	Name = bench.ngircd.local
	Info = chatd-bench peer
	AdminInfo1 = bench
	AdminInfo2 = bench
	AdminEMail = bench@localhost
	Listen = 127.0.0.1
	Ports = $port
	MotdPhrase = "chatd-bench"
[Limits]
	MaxConnections = 0
	MaxConnectionsIP = 0
	MaxJoins = 0
	MaxNickLength = 30
	MaxPenaltyTime = 0
	PingTimeout = 120
	PongTimeout = 60
[Options]
	DNS = no
	Ident = no
	PAM = no
	DefaultUserModes = F
EOF
    # -n: stay in the foreground (of this background job), log to stderr. Started as
    # root, ngircd switches to "nobody" by itself.
    "$NGIRCD" -n -f "$tmp/ngircd.conf" >"$tmp/ngircd.log" 2>&1 &
    peer_pid=$!
    peer_port=$port
    wait_port "$port" ngircd "$tmp/ngircd.log"
}

start_inspircd() {
    local port root=()
    port=$(free_port)
    mkdir -p "$tmp/inspircd"
    cat >"$tmp/inspircd/inspircd.conf" <<EOF
<server name="bench.inspircd.local" description="chatd-bench peer" network="bench">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="127.0.0.1" port="$port" type="clients">
<connect name="bench" allow="127.0.0.1" timeout="60" pingfreq="120"
         hardsendq="1048576" softsendq="1048576" recvq="1048576"
         threshold="10000000" commandrate="1000000000" fakelag="no"
         localmax="10000000" globalmax="10000000" maxconnwarn="no" limit="10000000"
         maxchans="20" resolvehostnames="no" useident="no">
<performance netbuffersize="65536" somaxconn="4096" softlimit="$nofile"
             clonesonconnect="no" quietbursts="yes">
<limits maxnick="30">
<path configdir="$tmp/inspircd" datadir="$tmp/inspircd" logdir="$tmp/inspircd" runtimedir="$tmp/inspircd">
<pid file="$tmp/inspircd/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="$tmp/inspircd/ircd.log">
EOF
    if [ "$(id -u)" -eq 0 ]; then root=(--runasroot); fi
    "$INSPIRCD" --config "$tmp/inspircd/inspircd.conf" --nofork "${root[@]}" >"$tmp/inspircd.log" 2>&1 &
    peer_pid=$!
    peer_port=$port
    wait_port "$port" inspircd "$tmp/inspircd.log"
}

# stop_peer: SIGTERM, then SIGKILL after 10 s.
stop_peer() {
    [ -n "$peer_pid" ] || return 0
    kill -TERM "$peer_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$peer_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$peer_pid" 2>/dev/null || true
    wait "$peer_pid" 2>/dev/null || true
    peer_pid=""
}

# --- measuring ----------------------------------------------------------------------------
# shellcheck source=bench/lib.sh
. bench/lib.sh  # the script runs from the repository root
SECONDS=0

scenario_name() {
    case $1 in
    1) echo "one channel of 100, 10 senders, max rate" ;;
    2) echo "one channel of 1,000, 1 sender, max rate" ;;
    3) echo "500 pairs, private messages, max rate" ;;
    4) echo "$(commas "$idle_clients") idle connections" ;;
    5) echo "one channel of 100, 10 senders, $(commas "$rate_total") msg/s in total" ;;
    6) echo "scenario 1, chatd history logging on / off" ;;
    7) echo "500 pairs, private messages, $(commas "$rate_pairs") msg/s in total" ;;
    esac
}

scenario_args() {
    case $1 in
    1 | 6) echo "fanout --clients 100 --senders 10 --channel-size 100 --rate max" ;;
    2) echo "fanout --clients 1000 --senders 1 --channel-size 1000 --rate max" ;;
    3) echo "pairs --pairs 500 --rate max" ;;
    4) echo "idle --clients $idle_clients" ;;
    5) echo "fanout --clients 100 --senders 10 --channel-size 100 --rate $(awk -v t="$rate_total" 'BEGIN { print t / 10 }')" ;;
    7) echo "pairs --pairs 500 --rate $(awk -v t="$rate_pairs" 'BEGIN { print t / 1000 }')" ;;
    esac
}

printf '[history]\nlog_messages = false\n' >"$tmp/nolog.toml"
results="$tmp/results.tsv"
: >"$results"
chatd_failed=0
notes=()

# measure SCENARIO ROUND SERVER: one run (repeated while other processes were busy),
# one line in $results:
# scenario round server status dps per_cpu p50 p99 p999 bytes_per_conn server_cpu bench_cpu other_cpu lost reordered failures disk_per_msg
measure() {
    local s=$1 round=$2 srv=$3 tries=0 rc json args traffic target note status
    local dur=$duration dps per_cpu p50 p99 p999 bpc other
    read -ra args <<<"$(scenario_args "$s")"
    traffic=(--ack receiver --window "$window")
    if [ "$s" = 4 ]; then
        traffic=()
        dur=2
    fi
    while :; do
        wait_quiet
        target=()
        rc=0
        case $srv in
        chatd) target=(--spawn "$CHATD") ;;
        chatd-nolog) target=(--spawn "$CHATD" --config "$tmp/nolog.toml") ;;
        ngircd)
            start_ngircd 2>"$tmp/bench.err" || rc=1
            target=(--addr "127.0.0.1:$peer_port" --server-pid "$peer_pid" --max-pending 8)
            ;;
        inspircd)
            start_inspircd 2>"$tmp/bench.err" || rc=1
            target=(--addr "127.0.0.1:$peer_port" --server-pid "$peer_pid" --max-pending 2000)
            ;;
        esac
        json=""
        if [ "$rc" -eq 0 ]; then
            json=$("$bench" "${args[@]}" "${traffic[@]}" --duration "$dur" --json "${target[@]}" \
                2>"$tmp/bench.err") || rc=$?
        fi
        stop_peer
        status=ok
        if [ "$rc" -eq 3 ]; then
            status=loss
        elif [ "$rc" -ne 0 ] || [ -z "$json" ]; then
            status=failed
        fi
        other=$(field "$json" other_cpu_s)
        note=""
        if [ "$status" = ok ] && awk -v o="${other:-0}" -v d="$dur" -v m="$max_other" 'BEGIN { exit !(o / d > m) }'; then
            note="busy"
            if [ "$tries" -lt "$retries" ] && [ "$SECONDS" -lt "$budget" ]; then
                note="busy, repeated"
            fi
        fi
        dps=$(field "$json" deliveries_per_s)
        per_cpu=$(awk -v d="$(field "$json" deliveries_in_window)" -v c="$(field "$json" server_cpu_s)" \
            'BEGIN { print (c > 0) ? d / c : 0 }')
        p50=$(field "$json" p50)
        p99=$(field "$json" p99)
        p999=$(field "$json" p999)
        bpc=$(field "$json" bytes_per_conn)
        printf '%-8s %-5s %-12s %-7s %12s %12s %9s %9s %9s %8s %7s %7s %7s  %s\n' "$s" "$round" "$srv" \
            "$status" "$(fmt0 "$dps")" "$(fmt0 "$per_cpu")" "$(ms "$p50")" "$(ms "$p99")" "$(ms "$p999")" \
            "$(fmt0 "$bpc")" "$(fmt2 "$(field "$json" server_cpu_s)")" "$(fmt2 "$(field "$json" bench_cpu_s)")" \
            "$(fmt2 "$other")" "$note"
        [ "$note" = "busy, repeated" ] || break
        tries=$((tries + 1))
    done
    if [ "$status" != ok ]; then
        notes+=("scenario $s, round $round, $srv: $status (chatd-bench exit $rc)$(failure_text "$json")")
        if [ "$status" = failed ]; then
            echo "  chatd-bench said:" >&2
            tail -n 5 "$tmp/bench.err" | sed 's/^/    /' >&2
        fi
        case $srv in chatd*) chatd_failed=1 ;; esac
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$round" "$srv" "$status" \
        "${dps:-}" "${per_cpu:-}" "${p50:-}" "${p99:-}" "${p999:-}" "${bpc:-}" \
        "$(field "$json" server_cpu_s)" "$(field "$json" bench_cpu_s)" "${other:-}" \
        "$(field "$json" lost)" "$(field "$json" reordered)" "$(field "$json" failures)" \
        "$(field "$json" disk_bytes_per_message)" >>"$results"
}

# failure_text JSON: lost/reordered counts and the first failure sample, for the notes.
failure_text() {
    local sample
    [ -n "$1" ] || {
        echo ": $(tail -n 1 "$tmp/bench.err")"
        return
    }
    sample=$(sed -n 's/.*"failure_samples":\["\([^"]*\)".*/\1/p' <<<"$1")
    printf ': lost %s, reordered %s, failures %s%s' "$(field "$1" lost)" "$(field "$1" reordered)" \
        "$(field "$1" failures)" "${sample:+ (first: $sample)}"
}

fmt0() { if [ -n "${1:-}" ]; then awk -v v="$1" 'BEGIN { printf "%.0f", v }'; else echo "-"; fi; }
fmt2() { if [ -n "${1:-}" ]; then awk -v v="$1" 'BEGIN { printf "%.2f", v }'; else echo "-"; fi; }
ms() { if [ -n "${1:-}" ]; then awk -v v="$1" 'BEGIN { printf "%.2f", v / 1000 }'; else echo "-"; fi; }

servers_of() {
    if [ "$1" = 6 ]; then
        echo "chatd chatd-nolog"
    elif [ "$1" = 3 ] && [[ " $servers " == *" chatd "* ]]; then
        # Scenario 3 also runs chatd with history logging off: its row
        # "deliveries/s, chatd logging off" compares that with the same peers' runs.
        echo "$servers chatd-nolog"
    else
        echo "$servers"
    fi
}

# --- the runs ---------------------------------------------------------------------------
started=$(date -u '+%Y-%m-%d %H:%M UTC')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
# What chatd is built from: uncommitted changes there are part of the binary.
dirty=$(git status --porcelain -- daemon proto Cargo.lock 2>/dev/null | wc -l)
dirty_note=""
if [ "$dirty" -gt 0 ]; then dirty_note=" plus $dirty uncommitted files in daemon/ and proto/"; fi
ngircd_version=""
inspircd_version=""
if [ -n "$NGIRCD" ]; then ngircd_version=$("$NGIRCD" --version 2>/dev/null | head -n 1 | awk '{ sub(/-.*/, "", $2); print $1, $2 }'); fi
if [ -n "$INSPIRCD" ]; then inspircd_version=$("$INSPIRCD" --version 2>/dev/null | head -n 1); fi
printf 'chatd %s (built %s, sha256 %s; tree at commit %s%s), %s, %s\n' "$chatd_path" "$chatd_built" \
    "$chatd_sum" "$commit" "$dirty_note" \
    "${ngircd_version:-no ngircd}" "${inspircd_version:-no InspIRCd}"
printf '%s cores (%s), kernel %s, %s; %s rounds of %s s, window %s, ack by receiver\n' "$(nproc)" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" "$(uname -r)" "$started" \
    "$rounds" "$duration" "$window"
printf '%-8s %-5s %-12s %-7s %12s %12s %9s %9s %9s %8s %7s %7s %7s\n' scenario round server status \
    deliveries/s "per cpu-s" "p50 ms" "p99 ms" "p99.9 ms" "B/conn" "srv s" "bench s" "other s"
for s in $scenarios; do
    for round in $(seq 1 "$rounds"); do
        for srv in $(servers_of "$s"); do
            measure "$s" "$round" "$srv"
        done
    done
done
elapsed=$SECONDS

# --- the table ----------------------------------------------------------------------------
# med SCENARIO SERVER COLUMN: median over the runs that delivered everything.
med() { awk -F '\t' -v s="$1" -v v="$2" -v c="$3" '$1 == s && $3 == v && $4 == "ok" && $c != "" { print $c }' "$results" | median; }
# bad SCENARIO SERVER: runs that failed or lost messages.
bad() { awk -F '\t' -v s="$1" -v v="$2" '$1 == s && $3 == v && $4 != "ok"' "$results" | wc -l; }
# other SCENARIO: median and max CPU of other processes during the scenario's runs, in cores.
other_cores() {
    local d=$duration
    [ "$1" = 4 ] && d=2
    awk -F '\t' -v s="$1" -v d="$d" '$1 == s && $13 != "" { print $13 / d }' "$results" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) printf "%.2f / %.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[NR]; else print "-" }'
}
cell() { # cell VALUE KIND BAD: a table cell
    if [ -z "$1" ]; then
        if [ "$3" -gt 0 ]; then echo "failed"; else echo "-"; fi
        return
    fi
    case $2 in
    count) commas "$1" ;;
    ms) ms "$1" ;;
    cores) awk -v v="$1" -v d="$duration" 'BEGIN { printf "%.2f", v / d }' ;;
    esac
}
ratio() { if [ -n "$1" ] && [ -n "$2" ]; then awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; else echo "-"; fi; }

peers=()
for srv in $servers; do [ "$srv" = chatd ] || peers+=("$srv"); done
label() {
    case $1 in
    chatd) echo chatd ;;
    chatd-nolog) echo "chatd, logging off" ;;
    ngircd) echo ngircd ;;
    inspircd) echo InspIRCd ;;
    esac
}

{
    head="| scenario | measure | chatd |"
    rule="| --- | --- | ---: |"
    for p in "${peers[@]}"; do
        head+=" $(label "$p") |"
        rule+=" ---: |"
    done
    for p in "${peers[@]}"; do
        head+=" chatd / $(label "$p") |"
        rule+=" ---: |"
    done
    head+=" other CPU, cores (median / max) |"
    rule+=" ---: |"
    main=0
    for s in $scenarios; do
        [ "$s" != 6 ] || continue
        if [ "$main" = 0 ]; then
            echo "$head"
            echo "$rule"
            main=1
        fi
        case $s in
        1 | 2) rows=("deliveries/s:5:count" "deliveries per server CPU-s:6:count") ;;
        3) rows=("deliveries/s:5:count" "deliveries per server CPU-s:6:count"
            "disk bytes per message (lower is better):17:count"
            "deliveries/s, chatd logging off:5:count:nolog"
            "deliveries per server CPU-s, chatd logging off:6:count:nolog") ;;
        4) rows=("server RSS bytes per connection (lower is better):10:count") ;;
        5) rows=("latency p50, ms (lower is better):7:ms" "latency p99, ms:8:ms" "latency p99.9, ms:9:ms"
            "server CPU, cores (lower is better):11:cores") ;;
        7) rows=("latency p50, ms (lower is better):7:ms" "latency p99, ms:8:ms" "latency p99.9, ms:9:ms"
            "server CPU, cores (lower is better):11:cores"
            "disk bytes per message (lower is better):17:count") ;;
        esac
        first=1
        for row in "${rows[@]}"; do
            IFS=: read -r what col kind which <<<"$row"
            title=""
            busy=""
            me=chatd
            [ "${which:-}" != nolog ] || me=chatd-nolog
            if [ "$first" = 1 ]; then
                title="$s. $(scenario_name "$s")"
                busy=$(other_cores "$s")
            fi
            line="| $title | $what |"
            c=$(med "$s" "$me" "$col")
            line+=" $(cell "$c" "$kind" "$(bad "$s" "$me")") |"
            for p in "${peers[@]}"; do
                line+=" $(cell "$(med "$s" "$p" "$col")" "$kind" "$(bad "$s" "$p")") |"
            done
            for p in "${peers[@]}"; do
                line+=" $(ratio "$c" "$(med "$s" "$p" "$col")") |"
            done
            line+=" $busy |"
            first=0
            echo "$line"
        done
    done
    case " $scenarios " in
    *" 6 "*)
        [ "$main" = 0 ] || echo
        echo "| 6. $(scenario_name 6) | logging on | logging off | on / off | other CPU, cores (median / max) |"
        echo "| --- | ---: | ---: | ---: | ---: |"
        first=1
        for row in "deliveries/s:5" "deliveries per server CPU-s:6"; do
            IFS=: read -r what col <<<"$row"
            on=$(med 6 chatd "$col")
            off=$(med 6 chatd-nolog "$col")
            busy=""
            if [ "$first" = 1 ]; then busy=$(other_cores 6); fi
            echo "| $what | $(cell "$on" count "$(bad 6 chatd)") | $(cell "$off" count "$(bad 6 chatd-nolog)") | $(ratio "$on" "$off") | $busy |"
            first=0
        done
        ;;
    esac
} >"$tmp/table.md"

echo
cat "$tmp/table.md"
if ((${#notes[@]})); then
    echo
    printf '%s\n' "${notes[@]}"
fi
printf '\nthe runs took %d s\n' "$elapsed"

# --- the report ---------------------------------------------------------------------------
mkdir -p "$(dirname "$report")"
{
    echo "# chatd, ngircd and InspIRCd side by side"
    echo
    echo "Made by \`bench/compare.sh\` on $started; the runs took $elapsed s."
    echo
    echo "- machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(free -g | awk '/^Mem:/ { print $2 }') GiB, Linux $(uname -r)"
    echo "- chatd: \`$chatd_path\` built $chatd_built (sha256 $chatd_sum), tree at commit $commit$dirty_note"
    echo "- ngircd: ${ngircd_version:-not run}; InspIRCd: ${inspircd_version:-not run}"
    echo "- $rounds rounds of $duration s (idle: 2 s), window $window, ack by receiver, servers in turn: $servers"
    echo "- medians over the runs that delivered everything; \"other CPU\" is the CPU time that processes other than the server and the generator used during the runs, in cores (0 = idle machine; the machine has $(nproc))"
    echo
    cat "$tmp/table.md"
    if ((${#notes[@]})); then
        echo
        echo "Runs that failed or lost messages:"
        echo
        printf -- '- %s\n' "${notes[@]}"
    fi
    echo
    echo "## Every run"
    echo
    echo "| scenario | round | server | status | deliveries/s | per server CPU-s | p50 ms | p99 ms | p99.9 ms | bytes/conn | server CPU s | bench CPU s | other CPU s |"
    echo "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    awk -F '\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, \
        ($5 == "" ? "-" : sprintf("%.0f", $5)), ($6 == "" ? "-" : sprintf("%.0f", $6)), \
        ($7 == "" ? "-" : sprintf("%.2f", $7 / 1000)), ($8 == "" ? "-" : sprintf("%.2f", $8 / 1000)), \
        ($9 == "" ? "-" : sprintf("%.2f", $9 / 1000)), ($10 == "" ? "-" : sprintf("%.0f", $10)), \
        ($11 == "" ? "-" : sprintf("%.2f", $11)), ($12 == "" ? "-" : sprintf("%.2f", $12)), \
        ($13 == "" ? "-" : sprintf("%.2f", $13)) }' "$results"
} >"$report"
echo "report: $report"
exit "$chatd_failed"
