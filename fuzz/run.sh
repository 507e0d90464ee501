#!/usr/bin/env bash
# Runs one fuzz target for a bounded time with a memory limit:
#   fuzz/run.sh TARGET SECONDS        (TARGET: parse, lines or commands)
# Exits non-zero when the target crashed, and prints where the crashing input is
# and how to reproduce and minimise it.
#
# Environment:
#   FUZZ_RSS_MB   memory limit of the fuzzing process in MiB (default 2048); going
#                 over it counts as a crash (an "oom-" artifact)
#   FUZZ_ARGS     more libFuzzer flags, e.g. "-jobs=2 -workers=2" or "-seed=1"
#
# cargo fuzz needs nightly compiler features (sanitizers, coverage instrumentation);
# RUSTC_BOOTSTRAP=1 unlocks them on a stable toolchain.
set -euo pipefail

if [ $# -ne 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 TARGET SECONDS" >&2
    exit 2
fi
target="$1"
seconds="$2"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "$0: cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
fi
if [ ! -f "fuzz_targets/$target.rs" ]; then
    echo "$0: no target $target (have: $(cargo fuzz list | tr '\n' ' '))" >&2
    exit 2
fi

# Per-target libFuzzer flags.
flags=()
case "$target" in
    parse) flags+=(-max_len=9000) ;;
    lines) flags+=(-max_len=4096) ;;
    commands)
        # One server serves the whole run and keeps its state on purpose, so the
        # per-input leak check would only report that state (and cost most of the time).
        flags+=(-max_len=9000 -dict="$here/commands.dict" -detect_leaks=0 -timeout=30)
        ;;
esac

seeds="$here/corpus/$target"          # committed seeds, only read
work="$here/target/work-corpus/$target" # what this machine found, kept between runs
artifacts="$here/artifacts/$target"
logs="$here/target/fuzz-logs"
mkdir -p "$work" "$artifacts" "$logs"
log="$logs/$target.log"
marker="$(mktemp)"
trap 'rm -f "$marker"' EXIT

echo "== fuzz $target for ${seconds}s (rss limit ${FUZZ_RSS_MB:-2048} MiB; log $log)"
status=0
# shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
cargo fuzz run "$target" "$work" "$seeds" -- \
    -max_total_time="$seconds" \
    -rss_limit_mb="${FUZZ_RSS_MB:-2048}" \
    -artifact_prefix="$artifacts/" \
    -print_final_stats=1 \
    "${flags[@]}" ${FUZZ_ARGS:-} >"$log" 2>&1 || status=$?

# The last status line says how far it got: executions, coverage, corpus size.
grep -E '^#[0-9]+' "$log" | tail -n 1 || true
grep -E '^(Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true

new=()
while IFS= read -r -d '' f; do new+=("$f"); done \
    < <(find "$artifacts" -type f -newer "$marker" -print0 2>/dev/null)
if [ "$status" -ne 0 ] || ((${#new[@]})); then
    echo "== fuzz $target FAILED (exit $status); what went wrong:"
    grep -E -A 4 'panicked at|==[0-9]+==ERROR|^SUMMARY:' "$log" | head -n 40 || true
    echo "== the end of its log ($log):"
    grep -v -E '^#[0-9]+' "$log" | tail -n 25
    echo "== crash artifacts of $target are in $artifacts/"
    for f in "${new[@]}"; do
        echo "   $f ($(wc -c <"$f") bytes)"
        if [ "$(wc -c <"$f")" -le 4096 ]; then
            echo "   base64: $(base64 -w0 "$f")"
        fi
        echo "   reproduce: (cd $here && RUSTC_BOOTSTRAP=1 cargo fuzz run $target $f)"
        echo "   minimise:  (cd $here && RUSTC_BOOTSTRAP=1 cargo fuzz tmin $target $f)"
    done
    [ "$status" -ne 0 ] || status=1
    exit "$status"
fi
echo "== fuzz $target: no crash in ${seconds}s"
